//! What each passport limit means for restriction, read from the packs that use it.
//!
//! A limit key is an allowlist, a blocklist, a maximum, a permission flag or a
//! requirement flag because of the check that reads it (`policy-packs/*.json`), so
//! combining layers and proving delegations needs no list of keys of its own. A key no
//! pack names is only ever accepted unchanged.

use crate::checks::url::domain_matches;
use crate::packs::Catalog;
use crate::packs::CheckSpec;
use serde_json::{Map, Value};

/// How entries of a list match a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Exact,
    Glob,
    Domain,
    /// Argv prefixes on word boundaries.
    Command,
}

/// What a limit key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Only what the list names passes: layers intersect, a delegation may only drop entries.
    Allow(Match),
    /// What the list names never passes: layers unite, a delegation may only add entries.
    Block,
    /// A number no call may exceed: the smaller wins.
    Max,
    /// `true` permits something: both layers must permit it.
    Permit,
    /// `true` requires something (an approval, an idempotency key): either layer requires it.
    Require,
    /// `currency_limits`: currencies intersect, every amount takes the minimum.
    Currency,
    /// Unknown to every pack: accepted only unchanged.
    Opaque,
}

/// The role of `key` in the passport's `limits[block]` (a capability, or a pack's `limits_key`).
pub fn role(catalog: &Catalog, block: &str, key: &str) -> Role {
    for pack in catalog.packs_reading(block) {
        // An alias plays its target's role.
        let key = pack.limit_aliases.get(key).map_or(key, String::as_str);
        for spec in &pack.checks {
            if let Some(r) = spec_role(spec, key) {
                return r;
            }
        }
    }
    // Keys read by program knowledge rather than a pack line (`allow_substitution`, ...).
    if key.starts_with("allow_") {
        Role::Permit
    } else {
        Role::Opaque
    }
}

fn spec_role(spec: &CheckSpec, key: &str) -> Option<Role> {
    let is = |k: &str| k == key;
    let opt = |k: &Option<String>| k.as_deref() == Some(key);
    Some(match spec {
        CheckSpec::Command {
            allowed, blocked, ..
        } if is(allowed) || opt(blocked) => {
            if is(allowed) {
                Role::Allow(Match::Command)
            } else {
                Role::Block
            }
        }
        CheckSpec::Path {
            allowed, blocked, ..
        } if opt(allowed) || opt(blocked) => {
            if opt(allowed) {
                Role::Allow(Match::Glob)
            } else {
                Role::Block
            }
        }
        CheckSpec::Domain {
            allowed, blocked, ..
        } if opt(allowed) || opt(blocked) => {
            if opt(allowed) {
                Role::Allow(Match::Domain)
            } else {
                Role::Block
            }
        }
        CheckSpec::OneOf { limit, .. } if is(limit) => Role::Allow(Match::Exact),
        CheckSpec::Glob { limit, .. } if is(limit) => Role::Allow(Match::Glob),
        CheckSpec::NoneOf { limit, .. } if is(limit) => Role::Block,
        CheckSpec::MaxBytes { limit, .. }
        | CheckSpec::MaxValue { limit, .. }
        | CheckSpec::MaxItems { limit, .. }
        | CheckSpec::Rate { limit, .. }
        | CheckSpec::Count { limit, .. }
        | CheckSpec::MaxSum { limit, .. }
            if is(limit) =>
        {
            Role::Max
        }
        CheckSpec::Flag { limit, .. } if is(limit) => Role::Permit,
        CheckSpec::Idempotency { limit, .. } | CheckSpec::Approval { limit } if is(limit) => {
            Role::Require
        }
        CheckSpec::CurrencyAmount { limit, .. } if is(limit) => Role::Currency,
        _ => return None,
    })
}

fn anchor(glob: &str) -> u8 {
    if glob.starts_with('/') {
        0
    } else if glob.starts_with("~/") {
        1
    } else {
        2
    }
}

fn has_glob_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// Whether every call `entry` allows is also allowed by `parent` (sound, not complete:
/// when it cannot be shown, the answer is no).
pub fn covers(m: Match, parent: &str, entry: &str) -> bool {
    if parent == entry {
        return true;
    }
    match m {
        Match::Exact => false,
        // Relative globs are anchored at the working directory, `~/` at home, `/` at the root:
        // a pattern covers only patterns of its own anchoring.
        Match::Glob if anchor(parent) != anchor(entry) => false,
        Match::Glob => {
            parent == "**"
                || parent
                    .strip_suffix("**")
                    .filter(|pre| pre.ends_with('/'))
                    .is_some_and(|pre| entry.starts_with(pre) && entry.len() > pre.len())
                || (!has_glob_meta(entry)
                    && globset::GlobBuilder::new(parent)
                        .literal_separator(true)
                        .build()
                        .is_ok_and(|g| g.compile_matcher().is_match(entry)))
        }
        Match::Domain => match entry.strip_prefix("*.") {
            // `*.a.example.org` is inside `*.example.org`.
            Some(base) => {
                parent.starts_with("*.") && domain_matches(parent, base)
                    || parent.strip_prefix("*.") == Some(base)
            }
            None => domain_matches(parent, entry),
        },
        // `*` admits every program, so it covers every entry (and only `*` covers `*`).
        Match::Command if parent.trim() == crate::checks::command::ANY_COMMAND => true,
        Match::Command => {
            let p: Vec<&str> = parent.split_whitespace().collect();
            let e: Vec<&str> = entry.split_whitespace().collect();
            !p.is_empty() && e.starts_with(&p)
        }
    }
}

fn strings(v: &Value) -> Option<Vec<&str>> {
    v.as_array()?.iter().map(Value::as_str).collect()
}

/// Proves `child` at least as restrictive as `parent` for a key of this role, or says
/// which part widens it.
pub fn narrower(role: Role, child: &Value, parent: &Value) -> Result<(), String> {
    match role {
        Role::Allow(m) => {
            let (c, p) = lists(child, parent)?;
            match c.iter().find(|e| !p.iter().any(|q| covers(m, q, e))) {
                Some(e) => Err(format!("allows `{e}`, which the parent does not")),
                None => Ok(()),
            }
        }
        Role::Block => {
            let (c, p) = lists(child, parent)?;
            match p.iter().find(|e| !c.contains(e)) {
                Some(e) => Err(format!("drops the parent's block on `{e}`")),
                None => Ok(()),
            }
        }
        Role::Max => match (child.as_f64(), parent.as_f64()) {
            (Some(c), Some(p)) if c <= p => Ok(()),
            (Some(c), Some(p)) => Err(format!("raises the limit from {p} to {c}")),
            _ => Err("is not a number like the parent's".into()),
        },
        Role::Permit => match (child.as_bool(), parent.as_bool()) {
            (Some(false), _) | (Some(true), Some(true)) => Ok(()),
            (Some(true), _) => Err("permits what the parent does not".into()),
            _ => Err("is not true or false".into()),
        },
        Role::Require => match (child.as_bool(), parent.as_bool()) {
            (Some(true), _) | (Some(false), Some(false)) => Ok(()),
            (Some(false), _) => Err("drops a requirement the parent sets".into()),
            _ => Err("is not true or false".into()),
        },
        Role::Currency => {
            let (Some(c), Some(p)) = (child.as_object(), parent.as_object()) else {
                return Err("is not an object of currencies".into());
            };
            for (ccy, amounts) in c {
                let Some(pa) = p.get(ccy).and_then(Value::as_object) else {
                    return Err(format!("adds currency {ccy}"));
                };
                for (k, pv) in pa {
                    match (amounts.get(k), pv) {
                        (Some(cv), pv) => {
                            narrower(Role::Max, cv, pv).map_err(|e| format!("{ccy}.{k} {e}"))?
                        }
                        (None, _) => return Err(format!("drops {ccy}.{k}")),
                    }
                }
            }
            Ok(())
        }
        Role::Opaque if child == parent => Ok(()),
        Role::Opaque => {
            Err("changes a limit no pack defines (only an unchanged copy is accepted)".into())
        }
    }
}

fn lists<'a>(child: &'a Value, parent: &'a Value) -> Result<(Vec<&'a str>, Vec<&'a str>), String> {
    match (strings(child), strings(parent)) {
        (Some(c), Some(p)) => Ok((c, p)),
        _ => Err("is not a list of strings like the parent's".into()),
    }
}

/// The combination of two layers' values for one key: what both together allow.
pub fn meet(role: Role, a: &Value, b: &Value) -> Value {
    match role {
        Role::Allow(m) => match (strings(a), strings(b)) {
            (Some(x), Some(y)) => {
                let mut out: Vec<&str> = vec![];
                for (from, other) in [(&x, &y), (&y, &x)] {
                    for e in from.iter() {
                        if other.iter().any(|o| covers(m, o, e)) && !out.contains(e) {
                            out.push(e);
                        }
                    }
                }
                out.into()
            }
            _ => Value::Array(vec![]),
        },
        Role::Block => {
            let mut out: Vec<Value> = a.as_array().cloned().unwrap_or_default();
            for e in b.as_array().into_iter().flatten() {
                if !out.contains(e) {
                    out.push(e.clone());
                }
            }
            out.into()
        }
        Role::Max => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) if y < x => b.clone(),
            _ => a.clone(),
        },
        Role::Permit => (a.as_bool() == Some(true) && b.as_bool() == Some(true)).into(),
        Role::Require => (a.as_bool() == Some(true) || b.as_bool() == Some(true)).into(),
        Role::Currency => {
            let mut out = Map::new();
            if let (Some(x), Some(y)) = (a.as_object(), b.as_object()) {
                for (ccy, xa) in x {
                    let Some(ya) = y.get(ccy) else { continue };
                    let mut m = Map::new();
                    for (k, v) in xa.as_object().into_iter().flatten() {
                        let w = ya.get(k).map_or(v.clone(), |w| meet(Role::Max, v, w));
                        m.insert(k.clone(), w);
                    }
                    for (k, w) in ya.as_object().into_iter().flatten() {
                        m.entry(k.clone()).or_insert_with(|| w.clone());
                    }
                    out.insert(ccy.clone(), m.into());
                }
            }
            out.into()
        }
        Role::Opaque if a == b => a.clone(),
        Role::Opaque => serde_json::json!({"all_of": [a, b]}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_from_the_packs() {
        let c = Catalog::embedded().unwrap();
        let cmd = "system.command.execute";
        assert_eq!(
            role(&c, cmd, "allowed_commands"),
            Role::Allow(Match::Command)
        );
        assert_eq!(role(&c, cmd, "blocked_patterns"), Role::Block);
        assert_eq!(role(&c, cmd, "approval_required"), Role::Require);
        assert_eq!(role(&c, cmd, "allow_substitution"), Role::Permit);
        assert_eq!(role(&c, cmd, "surprise"), Role::Opaque);
        assert_eq!(
            role(&c, "data.file.write", "allowed_paths"),
            Role::Allow(Match::Glob)
        );
        assert_eq!(
            role(&c, "data.file.write", "max_file_size_bytes"),
            Role::Max
        );
        assert_eq!(
            role(&c, "web.fetch", "allowed_domains"),
            Role::Allow(Match::Domain)
        );
    }

    #[test]
    fn coverage_is_shown_or_refused() {
        assert!(covers(Match::Glob, "**", "src/**"));
        assert!(covers(Match::Glob, "src/**", "src/a/*.rs"));
        assert!(covers(Match::Glob, "src/*.rs", "src/main.rs"));
        assert!(!covers(Match::Glob, "src/**", "srcx/a"));
        assert!(!covers(Match::Glob, "src/*.rs", "src/*"));
        assert!(!covers(Match::Glob, "src/*.rs", "src/a/b.rs"));
        assert!(!covers(Match::Glob, "**", "/etc/**"));
        assert!(!covers(Match::Glob, "**", "~/.ssh/id_rsa"));
        assert!(covers(Match::Glob, "/tmp/**", "/tmp/x/y"));
        assert!(covers(Match::Domain, "*.github.com", "api.github.com"));
        assert!(covers(Match::Domain, "*.github.com", "*.api.github.com"));
        assert!(!covers(Match::Domain, "*.github.com", "github.com"));
        assert!(!covers(Match::Domain, "*.github.com", "*.com"));
        assert!(!covers(Match::Domain, "github.com", "*.github.com"));
        assert!(covers(Match::Command, "git", "git status"));
        assert!(!covers(Match::Command, "git status", "git"));
        assert!(!covers(Match::Command, "git st", "git status"));
        assert!(covers(Match::Command, "*", "git status"));
        assert!(!covers(Match::Command, "git", "*"));
        assert!(!covers(Match::Exact, "github", "gitlab"));
    }

    #[test]
    fn narrowing_is_proven_and_widening_named() {
        let allow = Role::Allow(Match::Command);
        assert!(narrower(allow, &json!(["git diff"]), &json!(["git"])).is_ok());
        let e = narrower(allow, &json!(["git diff", "curl"]), &json!(["git"])).unwrap_err();
        assert!(e.contains("`curl`"), "{e}");
        assert!(narrower(Role::Block, &json!(["sudo", "rm -rf"]), &json!(["sudo"])).is_ok());
        assert!(narrower(Role::Block, &json!([]), &json!(["sudo"]))
            .unwrap_err()
            .contains("sudo"));
        assert!(narrower(Role::Max, &json!(10), &json!(100)).is_ok());
        assert!(narrower(Role::Max, &json!(1000), &json!(100)).is_err());
        assert!(narrower(Role::Permit, &json!(true), &json!(false)).is_err());
        assert!(narrower(Role::Require, &json!(false), &json!(true)).is_err());
        let p = json!({"USD": {"max_per_tx": 100, "daily_cap": 1000}});
        assert!(narrower(
            Role::Currency,
            &json!({"USD": {"max_per_tx": 50, "daily_cap": 10}}),
            &p
        )
        .is_ok());
        assert!(narrower(
            Role::Currency,
            &json!({"EUR": {"max_per_tx": 5, "daily_cap": 5}}),
            &p
        )
        .is_err());
        assert!(narrower(Role::Currency, &json!({"USD": {"max_per_tx": 50}}), &p).is_err());
        assert!(narrower(Role::Opaque, &json!(1), &json!(2)).is_err());
    }

    #[test]
    fn meet_takes_the_stricter_of_each() {
        assert_eq!(
            meet(
                Role::Allow(Match::Glob),
                &json!(["**"]),
                &json!(["src/**", "docs/**"])
            ),
            json!(["src/**", "docs/**"])
        );
        assert_eq!(
            meet(Role::Block, &json!(["a"]), &json!(["b", "a"])),
            json!(["a", "b"])
        );
        assert_eq!(meet(Role::Max, &json!(10), &json!(5)), json!(5));
        assert_eq!(
            meet(Role::Require, &json!(false), &json!(true)),
            json!(true)
        );
        assert_eq!(
            meet(Role::Permit, &json!(false), &json!(true)),
            json!(false)
        );
    }
}
