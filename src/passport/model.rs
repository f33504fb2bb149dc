//! The OAP passport as a typed value, validated strictly on load.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Why a passport document is not a valid OAP passport. Always names the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct PassportInvalid {
    pub field: String,
    /// What is wrong with the field (a finding of validation, not an underlying error).
    pub problem: String,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> PassportInvalid {
    PassportInvalid {
        field: field.into(),
        problem: problem.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Template,
    Instance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerType {
    Org,
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Active,
    Suspended,
    Revoked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Revoked => "revoked",
        }
    }
}

/// OAP assurance levels, ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AssuranceLevel {
    L0,
    L1,
    L2,
    L3,
    L4KYC,
    L4FIN,
}

impl AssuranceLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AssuranceLevel::L0 => "L0",
            AssuranceLevel::L1 => "L1",
            AssuranceLevel::L2 => "L2",
            AssuranceLevel::L3 => "L3",
            AssuranceLevel::L4KYC => "L4KYC",
            AssuranceLevel::L4FIN => "L4FIN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
}

/// An OAP passport. Field names are the spec's; `expires_at`, `never_expires`
/// and `did` are optional fields the spec text defines beyond the JSON schema.
/// Because the schema forbids them at the top level, an expiry may also sit at
/// `metadata.expires_at` (where `passport new --expires-in` writes it); when
/// both are set, the earlier one holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passport {
    pub passport_id: String,
    pub kind: Kind,
    pub spec_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    pub owner_id: String,
    pub owner_type: OwnerType,
    pub assurance_level: AssuranceLevel,
    pub status: Status,
    pub capabilities: Vec<Capability>,
    pub limits: Map<String, Value>,
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    pub created_at: String,
    pub updated_at: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub never_expires: Option<bool>,
    /// APort's settings for the services an agent acts through, beyond the OAP schema
    /// (`integrations.github.allowed_actors`): read only by packs that name them in
    /// `integration_limits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrations: Option<Map<String, Value>>,
    /// `metadata.tripwire`, parsed once on load (it stays in `metadata` on the wire).
    #[serde(skip)]
    pub tripwire: Option<Tripwire>,
}

/// Longest tripwire window; older denies are forgotten.
pub const MAX_TRIPWIRE_WINDOW: u64 = 86_400;

/// What a tripped tripwire does to further calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripAction {
    Review,
    Deny,
}

/// `metadata.tripwire` in a passport: after `max_denies` denies within
/// `window_seconds`, the agent's further calls go to review or are denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tripwire {
    pub max_denies: u64,
    pub window_seconds: u64,
    pub action: TripAction,
}

impl Tripwire {
    /// Reads `metadata.tripwire`; a malformed one makes the passport invalid, never ignored.
    fn from_metadata(
        metadata: Option<&Map<String, Value>>,
    ) -> Result<Option<Tripwire>, PassportInvalid> {
        let Some(t) = metadata.and_then(|m| m.get("tripwire")) else {
            return Ok(None);
        };
        let bad = |why: &str| invalid("metadata.tripwire", why);
        let obj = t.as_object().ok_or_else(|| bad("must be an object"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "max_denies" | "window_seconds" | "action"))
        {
            return Err(bad(&format!("unknown field `{k}`")));
        }
        let uint = |k: &str| obj.get(k).and_then(Value::as_u64).filter(|&n| n > 0);
        let max_denies =
            uint("max_denies").ok_or_else(|| bad("max_denies must be a positive integer"))?;
        let window_seconds = uint("window_seconds")
            .filter(|&w| w <= MAX_TRIPWIRE_WINDOW)
            .ok_or_else(|| bad("window_seconds must be an integer in 1..=86400"))?;
        let action = match obj.get("action").map(|a| a.as_str()) {
            None | Some(Some("review")) => TripAction::Review,
            Some(Some("deny")) => TripAction::Deny,
            _ => return Err(bad("action must be \"review\" or \"deny\"")),
        };
        Ok(Some(Tripwire {
            max_denies,
            window_seconds,
            action,
        }))
    }
}

impl Passport {
    /// Builds and validates a passport from a parsed JSON document.
    pub fn from_value(value: &Value) -> Result<Passport, PassportInvalid> {
        // Read without tracking paths (a passport may list thousands of entries); only a
        // document that fails is read again, tracked, to say where.
        let p: Passport = Passport::deserialize(value).or_else(|_| {
            serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                invalid(
                    if path == "." { "passport".into() } else { path },
                    e.into_inner().to_string(),
                )
            })
        })?;
        p.checked()
    }

    /// [`Passport::from_value`] for a document the caller is done with: its strings move
    /// into the passport instead of being copied and the copy freed (a passport may list
    /// thousands of entries). Only when it fails does `again` give the document once
    /// more, read with path tracking to say where.
    pub fn from_owned(
        value: Value,
        again: impl FnOnce() -> Option<Value>,
    ) -> Result<Passport, PassportInvalid> {
        match Passport::deserialize(value) {
            Ok(p) => p.checked(),
            Err(e) => match again() {
                Some(v) => Passport::from_value(&v),
                None => Err(invalid("passport", e.to_string())),
            },
        }
    }

    /// The passport in bytes a memo says were verified (and so strictly read) before: read
    /// typed, straight from the bytes. `None` when they do not read as a valid passport.
    pub fn from_verified_bytes(bytes: &[u8]) -> Option<Passport> {
        serde_json::from_slice::<Passport>(bytes)
            .ok()?
            .checked()
            .ok()
    }

    /// The rules the types alone do not express, and the tripwire read from metadata.
    fn checked(mut self) -> Result<Passport, PassportInvalid> {
        self.validate()?;
        self.tripwire = Tripwire::from_metadata(self.metadata.as_ref())?;
        Ok(self)
    }

    /// Semantic rules the types alone do not express (patterns, formats).
    fn validate(&self) -> Result<(), PassportInvalid> {
        check_uuid("passport_id", &self.passport_id)?;
        for (name, v) in [
            ("template_id", &self.template_id),
            ("parent_agent_id", &self.parent_agent_id),
        ] {
            if let Some(v) = v {
                check_uuid(name, v)?;
            }
        }
        if self.spec_version != "oap/1.0" {
            return Err(invalid(
                "spec_version",
                format!(
                    "`{}` is not supported (expected `oap/1.0`)",
                    self.spec_version
                ),
            ));
        }
        if self.owner_id.is_empty() {
            return Err(invalid("owner_id", "must not be empty"));
        }
        for (i, c) in self.capabilities.iter().enumerate() {
            if !is_dotted_id(&c.id) {
                return Err(invalid(
                    format!("capabilities[{i}].id"),
                    format!("`{}` does not match ^[a-z0-9]+(\\.[a-z0-9]+)*$", c.id),
                ));
            }
        }
        for (i, r) in self.regions.iter().enumerate() {
            let ok = matches!(r.len(), 2 | 5)
                && r.bytes().enumerate().all(|(j, b)| {
                    if j == 2 {
                        b == b'-'
                    } else {
                        b.is_ascii_uppercase()
                    }
                });
            if !ok {
                return Err(invalid(
                    format!("regions[{i}]"),
                    format!("`{r}` is not a region code like `US` or `US-CA`"),
                ));
            }
        }
        for (name, v) in [
            ("created_at", &self.created_at),
            ("updated_at", &self.updated_at),
        ] {
            parse_time(name, v)?;
        }
        if let Some(e) = &self.expires_at {
            parse_time("expires_at", e)?;
        }
        match self.metadata.as_ref().and_then(|m| m.get(META_EXPIRES_AT)) {
            None => {}
            Some(Value::String(e)) => {
                parse_time("metadata.expires_at", e)?;
            }
            Some(_) => {
                return Err(invalid(
                    "metadata.expires_at",
                    "must be an RFC 3339 date-time string",
                ))
            }
        }
        let parts: Vec<&str> = self.version.split('.').collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid(
                "version",
                format!("`{}` is not MAJOR.MINOR.PATCH", self.version),
            ));
        }
        validate_currency_limits(&self.limits)?;
        super::rollout::Rollout::of(self)?;
        Ok(())
    }

    /// Whether the passport grants a capability.
    pub fn grants(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c.id == capability)
    }

    /// The value at a dotted path under `integrations` (`github.allowed_actors`), if any.
    pub fn integration(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let first = self.integrations.as_ref()?.get(parts.next()?)?;
        parts.try_fold(first, |v, k| v.get(k))
    }

    /// The limits block for a capability, if any.
    pub fn limits_for(&self, capability: &str) -> Option<&Map<String, Value>> {
        self.limits.get(capability).and_then(Value::as_object)
    }

    /// The expiry that holds, as written: the earlier of `expires_at` and
    /// `metadata.expires_at` (both validated on load).
    pub fn expiry_text(&self) -> Option<&str> {
        let meta = self
            .metadata
            .as_ref()
            .and_then(|m| m.get(META_EXPIRES_AT))
            .and_then(Value::as_str);
        let parse = |s: &str| OffsetDateTime::parse(s, &Rfc3339).ok();
        match (self.expires_at.as_deref(), meta) {
            (Some(a), Some(b)) if parse(b) < parse(a) => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b,
        }
    }

    /// The expiry that holds, as a timestamp.
    pub fn expires(&self) -> Option<OffsetDateTime> {
        self.expiry_text()
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
    }

    /// The passport's JSON value (for digests and output).
    pub fn to_value(&self) -> Value {
        crate::canonical::to_value(self)
    }
}

/// Where a schema-valid passport records its expiry.
pub const META_EXPIRES_AT: &str = "expires_at";

fn parse_time(field: &str, s: &str) -> Result<OffsetDateTime, PassportInvalid> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| invalid(field, format!("`{s}` is not an RFC 3339 date-time")))
}

/// `^[a-z0-9]+(\.[a-z0-9]+)*$`
pub fn is_dotted_id(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn check_uuid(field: &str, s: &str) -> Result<(), PassportInvalid> {
    let ok = s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(field, format!("`{s}` is not a UUID")))
    }
}

fn validate_currency_limits(limits: &Map<String, Value>) -> Result<(), PassportInvalid> {
    for (cap, block) in limits {
        let Some(cl) = block.get("currency_limits") else {
            continue;
        };
        let field = format!("limits.{cap}.currency_limits");
        let Some(cl) = cl.as_object() else {
            return Err(invalid(field, "must be an object"));
        };
        for (ccy, v) in cl {
            if ccy.len() != 3 || !ccy.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(
                    format!("{field}.{ccy}"),
                    "currency must be an upper-case ISO 4217 code",
                ));
            }
            let Some(obj) = v.as_object() else {
                return Err(invalid(format!("{field}.{ccy}"), "must be an object"));
            };
            for (k, n) in obj {
                if n.as_u64().is_none() {
                    return Err(invalid(
                        format!("{field}.{ccy}.{k}"),
                        "must be a non-negative integer (minor units)",
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample() -> Value {
        json!({
            "passport_id": "550e8400-e29b-41d4-a716-446655440000",
            "kind": "template", "spec_version": "oap/1.0",
            "owner_id": "org_1", "owner_type": "org",
            "assurance_level": "L2", "status": "active",
            "capabilities": [{"id": "system.command.execute"}],
            "limits": {}, "regions": ["US"],
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            "version": "1.0.0"
        })
    }

    fn err_field(v: Value) -> String {
        let field = Passport::from_value(&v).unwrap_err().field;
        // The owned reading fails on the same document and, read again, names the same field.
        let again = v.clone();
        assert_eq!(
            Passport::from_owned(v, || Some(again)).unwrap_err().field,
            field
        );
        field
    }

    #[test]
    fn accepts_the_spec_examples() {
        for f in [
            "examples/passport.template.v1.json",
            "examples/passport.instance.v1.json",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/oap/conformance")
                .join(f);
            let bytes = std::fs::read(&path).expect("the vendored OAP examples are in tests/data");
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            let borrowed = Passport::from_value(&v).unwrap();
            let owned = Passport::from_owned(v, || None).unwrap();
            assert_eq!(owned, borrowed, "{f}");
        }
        Passport::from_value(&sample()).unwrap();
    }

    #[test]
    fn names_the_offending_field() {
        let mut v = sample();
        v["surprise"] = json!(1);
        assert!(Passport::from_value(&v)
            .unwrap_err()
            .problem
            .contains("surprise"));
        let mut v = sample();
        v["status"] = json!("paused");
        assert_eq!(err_field(v), "status");
        let mut v = sample();
        v["capabilities"][0]["id"] = json!(7);
        assert_eq!(err_field(v), "capabilities[0].id");
        let mut v = sample();
        v["capabilities"][0]["id"] = json!("Bad.Id");
        assert_eq!(err_field(v), "capabilities[0].id");
        let mut v = sample();
        v["passport_id"] = json!("nope");
        assert_eq!(err_field(v), "passport_id");
        let mut v = sample();
        v["version"] = json!("1.0");
        assert_eq!(err_field(v), "version");
        let mut v = sample();
        v["regions"] = json!(["usa"]);
        assert_eq!(err_field(v), "regions[0]");
        let mut v = sample();
        v["limits"] = json!({"x": {"currency_limits": {"usd": {"max_per_tx": 1}}}});
        assert_eq!(err_field(v), "limits.x.currency_limits.usd");
        let mut v = sample();
        v.as_object_mut().unwrap().remove("owner_id");
        assert!(Passport::from_value(&v)
            .unwrap_err()
            .problem
            .contains("owner_id"));
    }

    #[test]
    fn assurance_levels_are_ordered() {
        assert!(AssuranceLevel::L0 < AssuranceLevel::L2);
        assert!(AssuranceLevel::L3 < AssuranceLevel::L4KYC);
    }
}
