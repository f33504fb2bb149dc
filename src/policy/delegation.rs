//! Per-subagent passports: delegations a passport declares for the host's agent types.
//!
//! Declared in the passport's `metadata.delegations` (the OAP schema leaves metadata
//! open, so the passport stays schema-valid), each names an `agent_type`, the
//! capabilities it keeps and the limits it tightens. A delegation inherits every limit
//! it does not set, and each one it sets is proven no wider than the parent's when the
//! passport loads; a widening refuses the passport, naming the key and what widens.

use super::roles::{self, Role};
use crate::packs::Catalog;
use crate::passport::Passport;
use crate::reason::{Reason, ReasonCode};
use serde::Deserialize;
use serde_json::{Map, Value};

/// One entry of `metadata.delegations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    agent_type: String,
    capabilities: Vec<String>,
    #[serde(default)]
    limits: Map<String, Value>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

/// A proven delegation: the passport a subagent of this type is decided under.
#[derive(Debug, Clone)]
pub struct Delegation {
    pub agent_type: String,
    pub passport: Passport,
}

fn widening(who: &str, what: String) -> Reason {
    Reason::new(
        ReasonCode::DelegationWidening,
        format!("{who} {what}; it may only narrow the passport it is decided under"),
    )
}

/// A policy document in a delegation's shape (`capabilities` left out keeps
/// all of the parent's) proven no wider than `parent`; `who` names it in reasons.
pub fn narrowed(
    parent: &Passport,
    catalog: &Catalog,
    who: &str,
    value: &Value,
) -> Result<Passport, Reason> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(default)]
        capabilities: Option<Vec<String>>,
        #[serde(default)]
        limits: Map<String, Value>,
        #[serde(default)]
        #[allow(dead_code)]
        description: Option<String>,
    }
    let doc: Doc = serde_path_to_error::deserialize(value).map_err(|e| {
        Reason::new(
            ReasonCode::PolicyError,
            format!("{who}: {}: {}", e.path(), e.inner()),
        )
    })?;
    let spec = Spec {
        agent_type: who.into(),
        capabilities: doc
            .capabilities
            .unwrap_or_else(|| parent.capabilities.iter().map(|c| c.id.clone()).collect()),
        limits: doc.limits,
        description: None,
    };
    prove(parent, catalog, spec, who).map(|d| d.passport)
}

fn invalid(why: String) -> Reason {
    Reason::new(
        ReasonCode::PassportInvalid,
        format!("metadata.delegations: {why}"),
    )
}

/// Reads and proves every delegation the passport declares (none is an empty list).
pub fn delegations(parent: &Passport, catalog: &Catalog) -> Result<Vec<Delegation>, Reason> {
    let Some(raw) = parent.metadata.as_ref().and_then(|m| m.get("delegations")) else {
        return Ok(vec![]);
    };
    let specs: Vec<Spec> = serde_path_to_error::deserialize(raw)
        .map_err(|e| invalid(format!("{}: {}", e.path(), e.inner())))?;
    let mut out: Vec<Delegation> = Vec::with_capacity(specs.len());
    for s in specs {
        if s.agent_type.trim().is_empty() {
            return Err(invalid("an agent_type is empty".into()));
        }
        if out.iter().any(|d| d.agent_type == s.agent_type) {
            return Err(invalid(format!(
                "agent type `{}` is declared twice",
                s.agent_type
            )));
        }
        let who = format!("the delegation for agent type `{}`", s.agent_type);
        out.push(prove(parent, catalog, s, &who)?);
    }
    Ok(out)
}

fn prove(parent: &Passport, catalog: &Catalog, s: Spec, who: &str) -> Result<Delegation, Reason> {
    let t = s.agent_type.as_str();
    let mut caps = vec![];
    for id in &s.capabilities {
        match parent.capabilities.iter().find(|c| &c.id == id) {
            Some(c) => caps.push(c.clone()),
            None => {
                return Err(widening(
                    who,
                    format!("grants capability `{id}`, which the parent does not"),
                ))
            }
        }
    }
    // The blocks of kept capabilities, and every block filed under a key that is no
    // capability of the parent (a pack's own `limits_key`): what it holds binds
    // whichever kept capability the pack serves.
    let parent_cap = |k: &str| parent.capabilities.iter().any(|c| c.id == k);
    let mut limits = Map::new();
    for (key, block) in &parent.limits {
        if s.capabilities.contains(key) || !parent_cap(key) {
            limits.insert(key.clone(), block.clone());
        }
    }
    for (cap, block) in &s.limits {
        if !s.capabilities.contains(cap) && parent_cap(cap) {
            return Err(invalid(format!(
                "the delegation for `{t}` sets limits.{cap} but does not keep that capability"
            )));
        }
        let Some(block) = block.as_object() else {
            return Err(invalid(format!("limits.{cap} of `{t}` is not an object")));
        };
        let base = limits
            .entry(cap.clone())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| invalid(format!("the parent's limits.{cap} is not an object")))?;
        for (key, value) in block {
            let role = roles::role(catalog, cap, key);
            match base.get(key) {
                Some(p) => roles::narrower(role, value, p),
                // Unset in the parent: only adding a block or a requirement is provably narrower.
                None if role == Role::Block
                    || (role == Role::Require && value == &Value::Bool(true)) =>
                {
                    Ok(())
                }
                None => Err("sets a limit the parent leaves unset".into()),
            }
            .map_err(|e| widening(who, format!("limits.{cap}.{key} {e}")))?;
            base.insert(key.clone(), value.clone());
        }
    }
    let mut passport = parent.clone();
    passport.capabilities = caps;
    passport.limits = limits;
    passport.metadata = Some(
        [("delegation".to_string(), Value::String(t.into()))]
            .into_iter()
            .collect(),
    );
    Ok(Delegation {
        agent_type: s.agent_type,
        passport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parent(delegations: Value) -> Passport {
        let text = include_str!("../../passports/coding-agent.json");
        let mut v: Value = serde_json::from_str(text).unwrap();
        v["metadata"]["delegations"] = delegations;
        Passport::from_value(&v).unwrap()
    }

    fn catalog() -> Catalog {
        Catalog::embedded().unwrap()
    }

    #[test]
    fn a_narrowing_delegation_inherits_and_tightens() {
        let p = parent(json!([{
            "agent_type": "code-reviewer",
            "capabilities": ["data.file.read", "system.command.execute"],
            "limits": {"system.command.execute": {
                "allowed_commands": ["git diff", "git log", "rg"],
                "blocked_patterns": ["rm -rf", "git push --force", "sudo", "chmod 777", "curl"]
            }}
        }]));
        let d = delegations(&p, &catalog()).unwrap();
        assert_eq!(d.len(), 1);
        let dp = &d[0].passport;
        assert!(dp.grants("data.file.read") && !dp.grants("data.file.write"));
        let cmd = dp.limits_for("system.command.execute").unwrap();
        assert_eq!(
            cmd["allowed_commands"],
            json!(["git diff", "git log", "rg"])
        );
        // Inherited unchanged.
        assert_eq!(cmd["allow_substitution"], json!(true));
        assert_eq!(
            dp.limits_for("data.file.read").unwrap()["blocked_paths"],
            p.limits_for("data.file.read").unwrap()["blocked_paths"]
        );
        assert!(dp.limits_for("web.fetch").is_none());
    }

    #[test]
    fn a_packs_own_limits_block_is_inherited_and_may_only_tighten() {
        let mut v: Value =
            serde_json::from_str(include_str!("../../passports/coding-agent.json")).unwrap();
        v["capabilities"] = json!([{"id": "repo.pr.create"}, {"id": "repo.merge"}]);
        v["limits"] = json!({"code.repository.merge": {"max_prs_per_day": 10,
            "max_merges_per_day": 5, "max_pr_size_kb": 100, "allowed_repos": ["acme/*"]}});
        let with = |d: Value| {
            let mut p = v.clone();
            p["metadata"]["delegations"] = d;
            Passport::from_value(&p).unwrap()
        };
        let d = delegations(
            &with(
                json!([{"agent_type": "pr-bot", "capabilities": ["repo.pr.create"],
                "limits": {"code.repository.merge": {"max_prs_per_day": 2}}}]),
            ),
            &catalog(),
        )
        .unwrap();
        let block = d[0].passport.limits_for("code.repository.merge").unwrap();
        assert_eq!(block["max_prs_per_day"], json!(2));
        assert_eq!(block["allowed_repos"], json!(["acme/*"]));
        let err = delegations(
            &with(
                json!([{"agent_type": "pr-bot", "capabilities": ["repo.pr.create"],
                "limits": {"code.repository.merge": {"max_prs_per_day": 20}}}]),
            ),
            &catalog(),
        )
        .unwrap_err();
        assert!(err.message.contains("max_prs_per_day"), "{}", err.message);
    }

    #[test]
    fn each_widening_is_refused_and_named() {
        let cases = [
            (
                json!({"agent_type": "x", "capabilities": ["finance.payment.refund"]}),
                "finance.payment.refund",
            ),
            (
                json!({"agent_type": "x", "capabilities": ["system.command.execute"],
                "limits": {"system.command.execute": {"allowed_commands": ["git status", "curl"]}}}),
                "`curl`",
            ),
            (
                json!({"agent_type": "x", "capabilities": ["system.command.execute"],
                "limits": {"system.command.execute": {"blocked_patterns": ["sudo"]}}}),
                "rm -rf",
            ),
            (
                json!({"agent_type": "x", "capabilities": ["data.file.write"],
                "limits": {"data.file.write": {"max_file_size_bytes": 99999999}}}),
                "max_file_size_bytes",
            ),
            (
                json!({"agent_type": "x", "capabilities": ["data.file.write"],
                "limits": {"data.file.write": {"allowed_paths": ["/etc/**"]}}}),
                "/etc/**",
            ),
            (
                json!({"agent_type": "x", "capabilities": ["mcp.tool.execute"],
                "limits": {"mcp.tool.execute": {"approval_required": false}}}),
                "approval_required",
            ),
            (
                json!({"agent_type": "x", "capabilities": ["system.command.execute"],
                "limits": {"system.command.execute": {"allow_background": true}}}),
                "allow_background",
            ),
        ];
        for (spec, named) in cases {
            let e = delegations(&parent(json!([spec])), &catalog()).unwrap_err();
            assert_eq!(e.code, ReasonCode::DelegationWidening, "{e}");
            assert!(e.message.contains(named), "{named}: {e}");
        }
        let e = delegations(
            &parent(json!([{"agent_type": "x", "capabilities": [], "surprise": 1}])),
            &catalog(),
        )
        .unwrap_err();
        assert_eq!(e.code, ReasonCode::PassportInvalid);
    }
}
