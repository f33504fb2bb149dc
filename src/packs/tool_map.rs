//! Tool maps: per host, which pack judges which tool and where the pack's
//! context fields are found in the tool's input. Data, not code.

use crate::call::Call;
use crate::call::Request;
use crate::reason::{Reason, ReasonCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a host spells MCP tool names, e.g. `mcp__<server>__<tool>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpNaming {
    pub prefix: String,
    pub separator: String,
    pub policy: String,
}

/// One pointer, or alternatives tried in order.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Pointers {
    One(String),
    Many(Vec<String>),
}

/// Read by a visitor that takes either form as it comes: serde's untagged enums buffer
/// every value and try each variant in turn, which made this the costliest part of
/// reading a tool map in every hook call.
impl<'de> Deserialize<'de> for Pointers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pointers, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Pointers;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON pointer or a list of JSON pointers")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Pointers, E> {
                Ok(Pointers::One(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Pointers, E> {
                Ok(Pointers::One(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Pointers, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Pointers::Many)
            }
        }
        d.deserialize_any(Visit)
    }
}

impl Pointers {
    pub fn as_slice(&self) -> &[String] {
        match self {
            Pointers::One(p) => std::slice::from_ref(p),
            Pointers::Many(v) => v,
        }
    }
}

/// One tool's mapping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRule {
    pub policy: String,
    /// Context field -> JSON pointer into the tool input (or a list of
    /// pointers, first present wins); a `*` segment collects every element of an array.
    #[serde(default)]
    pub fields: BTreeMap<String, Pointers>,
    /// Context values used when the input lacks the field.
    #[serde(default)]
    pub defaults: Map<String, Value>,
}

/// A host's tool map.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolMap {
    pub host: String,
    /// Tools that only touch the agent's own state (plans, todo lists); they pass without a pack.
    #[serde(default)]
    pub harmless: Vec<String>,
    #[serde(default)]
    pub mcp: Option<McpNaming>,
    pub tools: BTreeMap<String, ToolRule>,
}

/// What a tool name resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    Request(Request),
    /// Listed as harmless: allowed without a pack (still audited).
    Harmless,
}

impl ToolMap {
    pub fn validate(&self) -> Result<(), String> {
        for (tool, rule) in &self.tools {
            for (field, ptrs) in &rule.fields {
                if let Some(ptr) = ptrs.as_slice().iter().find(|p| !p.starts_with('/')) {
                    return Err(format!(
                        "tools.{tool}.fields.{field}: `{ptr}` is not a JSON pointer"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Maps a call to a request, or says why it cannot be.
    pub fn resolve(&self, call: &Call, extra_harmless: &[String]) -> Result<Resolution, Reason> {
        if let Some(rule) = self.tools.get(&call.tool) {
            let mut context = rule.defaults.clone();
            for (field, ptrs) in &rule.fields {
                if let Some(v) = pick(&call.input, ptrs.as_slice(), &call.tool, field)? {
                    context.insert(field.clone(), v);
                }
            }
            if let Some(cwd) = &call.cwd {
                context
                    .entry("cwd")
                    .or_insert_with(|| Value::String(cwd.clone()));
            }
            // The host's session, never the tool input's: write-then-run state is kept per session.
            match &call.session_id {
                Some(s) => context.insert("session".into(), Value::String(s.clone())),
                None => context.remove("session"),
            };
            return Ok(Resolution::Request(Request {
                policy_id: rule.policy.clone(),
                context,
            }));
        }
        // Exact harmless names go before the MCP pattern, which (for Copilot's
        // `<server>-<tool>`) has no prefix to tell the two apart.
        if self.harmless.contains(&call.tool) || extra_harmless.contains(&call.tool) {
            return Ok(Resolution::Harmless);
        }
        if let Some(mcp) = &self.mcp {
            if let Some(rest) = call.tool.strip_prefix(&mcp.prefix) {
                let split = split_mcp(rest, &mcp.separator);
                let (server, tool) = match split {
                    Some(st) => st,
                    // Without a prefix, a name that does not split is simply not an MCP tool.
                    None if mcp.prefix.is_empty() => return Err(unknown(call, &self.host)),
                    None => {
                        return Err(Reason::new(
                            ReasonCode::UnknownTool,
                            format!("`{}` is not a well-formed MCP tool name", call.tool),
                        ))
                    }
                };
                let mut context = Map::new();
                context.insert("server".into(), server.into());
                context.insert("tool".into(), tool.into());
                context.insert("arguments".into(), call.input.clone());
                return Ok(Resolution::Request(Request {
                    policy_id: mcp.policy.clone(),
                    context,
                }));
            }
        }
        Err(unknown(call, &self.host))
    }
}

/// The deny for a tool no map names, with how to map it or list it as harmless.
fn unknown(call: &Call, host: &str) -> Reason {
    Reason::new(
            ReasonCode::UnknownTool,
            format!(
                "tool `{tool}` is not mapped to any policy pack for {host}; to judge it, map it under \
                 `tools.{tool}` in policy-packs/hosts/{host}.json of your --packs-dir, or, if it only \
                 touches the agent's own state, add \"{tool}\" to `harmless_tools` in toolgate's config.json",
                tool = call.tool
            ),
        )
}

/// The value behind alternative pointers. Two alternatives that are both
/// present must agree: otherwise toolgate could judge a decoy field while the
/// tool acts on the other one.
fn pick(input: &Value, ptrs: &[String], tool: &str, field: &str) -> Result<Option<Value>, Reason> {
    let mut found: Option<(&str, Value)> = None;
    for p in ptrs {
        let Some(v) = extract(input, p) else { continue };
        match &found {
            Some((first, seen)) if *seen != v => {
                return Err(Reason::new(
                    ReasonCode::InvalidInput,
                    format!("`{tool}` input gives {field} twice, differently ({first} and {p})"),
                ))
            }
            Some(_) => {}
            None => found = Some((p, v)),
        }
    }
    Ok(found.map(|(_, v)| v))
}

/// Splits `<server><sep><tool>` exactly once; empty or ambiguous parts are refused.
pub fn split_mcp<'a>(rest: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let (server, tool) = rest.split_once(sep)?;
    let ok = |s: &str| {
        !s.is_empty()
            && !s.contains(sep)
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    };
    (ok(server) && ok(tool) && !server.ends_with('_') && !tool.starts_with('_'))
        .then_some((server, tool))
}

/// Resolves a JSON pointer in which a `*` segment fans out over an array.
pub fn extract(input: &Value, pointer: &str) -> Option<Value> {
    match pointer.split_once("/*") {
        None => input.pointer(pointer).cloned(),
        Some((head, tail)) => {
            let arr = input.pointer(head)?.as_array()?;
            let items: Vec<Value> = arr
                .iter()
                .filter_map(|el| {
                    if tail.is_empty() {
                        Some(el.clone())
                    } else {
                        extract(el, tail)
                    }
                })
                .collect();
            Some(Value::Array(items))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_read_as_one_or_a_list_and_nothing_else() {
        let rule: ToolRule = serde_json::from_value(json!({
            "policy": "p", "fields": {"a": "/x", "b": ["/y", "/z"]}
        }))
        .unwrap();
        assert_eq!(rule.fields["a"].as_slice(), ["/x"]);
        assert_eq!(rule.fields["b"].as_slice(), ["/y", "/z"]);
        for bad in [json!(3), json!({"p": "/x"}), json!(null)] {
            let e =
                serde_json::from_value::<ToolRule>(json!({"policy": "p", "fields": {"a": bad}}))
                    .unwrap_err();
            assert!(e.to_string().contains("JSON pointer"), "{e}");
        }
        let e =
            serde_json::from_value::<ToolRule>(json!({"policy": "p", "fields": {"a": ["/x", 1]}}))
                .unwrap_err();
        assert!(e.to_string().contains("expected a string"), "{e}");
        // Written back in the same two shapes.
        assert_eq!(
            crate::canonical::to_value(&rule.fields["b"]),
            json!(["/y", "/z"])
        );
    }

    #[test]
    fn wildcard_pointers_collect_array_elements() {
        let v = json!({"edits": [{"new_string": "a"}, {"new_string": "bc"}]});
        assert_eq!(extract(&v, "/edits/*/new_string"), Some(json!(["a", "bc"])));
        assert_eq!(extract(&v, "/missing"), None);
    }

    #[test]
    fn alternative_pointers_must_agree() {
        let ptrs = vec!["/file_path".to_string(), "/path".to_string()];
        let same = json!({"file_path": "a", "path": "a"});
        assert_eq!(
            pick(&same, &ptrs, "Write", "path").unwrap(),
            Some(json!("a"))
        );
        let decoy = json!({"file_path": "README.md", "path": ".git/config"});
        let err = pick(&decoy, &ptrs, "Write", "path").unwrap_err();
        assert_eq!(err.code, ReasonCode::InvalidInput);
        assert_eq!(pick(&json!({}), &ptrs, "Write", "path").unwrap(), None);
    }

    #[test]
    fn mcp_names_split_exactly() {
        assert_eq!(
            split_mcp("github__create_issue", "__"),
            Some(("github", "create_issue"))
        );
        for bad in ["__x", "x__", "a__b__c", "noseparator", "a___b", "a b__c"] {
            assert_eq!(split_mcp(bad, "__"), None, "{bad}");
        }
    }
}
