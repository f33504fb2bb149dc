//! Rollout modes: a new policy can watch before it blocks.
//!
//! `observe` allows and records what would have been denied, `warn` also tells the
//! agent and the user why, `enforce` blocks. The signed passport sets them, for the
//! whole passport and per pack, under `metadata.toolgate` (OAP leaves `metadata` open,
//! so the document stays schema-valid):
//!
//! ```json
//! "metadata": {"toolgate": {"mode": "observe", "pack_modes": {"data.file.write.v1": "enforce"}}}
//! ```
//!
//! `config.json` may set the same two keys, and only ever makes a mode stricter: an
//! unsigned file cannot loosen what the signed passport enforces.

use super::model::{Passport, PassportInvalid};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How a pack's denies take effect, from loosest to strictest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Allow; record the would-be verdict and reasons.
    Observe,
    /// Allow; record, and tell the agent and the user what would have been denied.
    Warn,
    /// Deny (today's behaviour, and the default).
    #[default]
    Enforce,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Observe => "observe",
            Mode::Warn => "warn",
            Mode::Enforce => "enforce",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "observe" => Some(Mode::Observe),
            "warn" => Some(Mode::Warn),
            "enforce" => Some(Mode::Enforce),
            _ => None,
        }
    }
}

/// A mode for everything and per pack id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rollout {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pack_modes: BTreeMap<String, Mode>,
}

impl Rollout {
    /// The rollout a passport sets (`metadata.toolgate`); absent is all `enforce`.
    pub fn of(p: &Passport) -> Result<Rollout, PassportInvalid> {
        let Some(v) = p.metadata.as_ref().and_then(|m| m.get("toolgate")) else {
            return Ok(Rollout::default());
        };
        Rollout::from_value(v, "metadata.toolgate")
    }

    /// Parses a rollout block, naming the field on error.
    pub fn from_value(v: &Value, field: &str) -> Result<Rollout, PassportInvalid> {
        serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            PassportInvalid {
                field: if path == "." {
                    field.to_string()
                } else {
                    format!("{field}.{path}")
                },
                problem: format!("{} (modes: observe, warn, enforce)", e.into_inner()),
            }
        })
    }

    /// The mode this rollout sets for a pack, if it sets one.
    pub fn set_for(&self, pack_id: &str) -> Option<Mode> {
        self.pack_modes.get(pack_id).copied().or(self.mode)
    }

    /// Whether nothing is set (every pack enforces).
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.pack_modes.is_empty()
    }
}

/// The mode in force for a pack: the passport's (enforce when unset), made stricter by
/// the config's floor where that is stricter. Never looser than either.
pub fn effective(passport: &Rollout, floor: &Rollout, pack_id: &str) -> Mode {
    let own = passport.set_for(pack_id).unwrap_or_default();
    match floor.set_for(pack_id) {
        Some(f) => own.max(f),
        None => own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_meta(meta: Value) -> Passport {
        let mut v = super::super::model::tests::sample();
        v["metadata"] = meta;
        Passport::from_value(&v).unwrap()
    }

    #[test]
    fn absent_is_enforce_everywhere() {
        let p = with_meta(json!({"name": "x"}));
        let r = Rollout::of(&p).unwrap();
        assert!(r.is_empty());
        assert_eq!(effective(&r, &Rollout::default(), "any.v1"), Mode::Enforce);
    }

    #[test]
    fn per_pack_beats_the_passport_default() {
        let p = with_meta(
            json!({"toolgate": {"mode": "observe", "pack_modes": {"data.file.write.v1": "enforce"}}}),
        );
        let r = Rollout::of(&p).unwrap();
        let none = Rollout::default();
        assert_eq!(
            effective(&r, &none, "system.command.execute.v1"),
            Mode::Observe
        );
        assert_eq!(effective(&r, &none, "data.file.write.v1"), Mode::Enforce);
    }

    #[test]
    fn config_only_makes_stricter() {
        let observe = Rollout {
            mode: Some(Mode::Observe),
            ..Default::default()
        };
        let warn = Rollout {
            mode: Some(Mode::Warn),
            ..Default::default()
        };
        let enforce = Rollout::default();
        // The config asks for observe on an enforcing passport: still enforce.
        assert_eq!(effective(&enforce, &observe, "p.v1"), Mode::Enforce);
        // The config tightens an observing passport to warn.
        assert_eq!(effective(&observe, &warn, "p.v1"), Mode::Warn);
        assert_eq!(effective(&warn, &observe, "p.v1"), Mode::Warn);
    }

    #[test]
    fn a_bad_mode_names_its_field() {
        let mut v = super::super::model::tests::sample();
        v["metadata"] = json!({"toolgate": {"pack_modes": {"web.fetch.v1": "quiet"}}});
        let e = Passport::from_value(&v).unwrap_err();
        assert!(e.field.starts_with("metadata.toolgate"), "{}", e.field);
        let mut v = super::super::model::tests::sample();
        v["metadata"] = json!({"toolgate": {"mdoe": "observe"}});
        assert!(Passport::from_value(&v).is_err());
    }
}
