//! MCP tool names against the passport's tool lists.
//!
//! OAP tools write a tool three ways: bare (`create_issue`, on any allowed
//! server), dotted (`github.create_issue`) and as hosts spell it
//! (`mcp__github__create_issue`). All three are accepted in `allowed_tools`,
//! `allowed_tool_prefixes` and `blocked_tools`; a blocked entry wins. A bare
//! entry never contains a `.`, so `github.create_issue` cannot be read as a
//! bare tool of that name on some other server.

use super::{string_field, string_list, CheckInput, CheckResult};
use crate::reason::ReasonCode;

/// The host spelling of a qualified MCP tool name.
const HOST_PREFIX: &str = "mcp__";
const HOST_SEPARATOR: &str = "__";

/// How a list entry names a tool.
#[derive(Debug, PartialEq, Eq)]
enum Entry<'a> {
    /// A tool on any server.
    Bare(&'a str),
    /// A tool on one server.
    Qualified { server: &'a str, tool: &'a str },
}

/// Reads an entry: `mcp__server__tool`, `server.tool`, or a bare name.
/// A dotted entry may split at any of its dots (`a.b.c` is server `a.b`
/// tool `c`, or server `a` tool `b.c`); each split is tried.
fn entries(raw: &str) -> Vec<Entry<'_>> {
    if let Some(rest) = raw.strip_prefix(HOST_PREFIX) {
        return match rest.split_once(HOST_SEPARATOR) {
            Some((server, tool)) if !server.is_empty() && !tool.is_empty() => {
                vec![Entry::Qualified { server, tool }]
            }
            _ => vec![],
        };
    }
    if !raw.contains('.') {
        return vec![Entry::Bare(raw)];
    }
    raw.match_indices('.')
        .map(|(i, _)| (&raw[..i], &raw[i + 1..]))
        .filter(|(s, t)| !s.is_empty() && !t.is_empty())
        .map(|(server, tool)| Entry::Qualified { server, tool })
        .collect()
}

/// Whether `raw` names (`prefix == false`) or prefixes (`true`) the server's tool.
fn matches(raw: &str, server: &str, tool: &str, prefix: bool) -> bool {
    let hit = |want: &str| {
        if prefix {
            tool.starts_with(want)
        } else {
            tool == want
        }
    };
    entries(raw).iter().any(|e| match e {
        Entry::Bare(t) => hit(t),
        Entry::Qualified { server: s, tool: t } => *s == server && hit(t),
    })
}

pub fn check(
    input: &CheckInput,
    server_field: &str,
    tool_field: &str,
    allowed: &str,
    prefixes: &str,
    blocked: &str,
) -> CheckResult {
    let (server, tool) = match (
        string_field(input, server_field),
        string_field(input, tool_field),
    ) {
        (Ok(Some(s)), Ok(Some(t))) => (s, t),
        (Err(e), _) | (_, Err(e)) => return e,
        _ => {
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("the call lacks `{server_field}` or `{tool_field}`"),
            )
        }
    };
    let lists = (
        string_list(input, allowed),
        string_list(input, prefixes),
        string_list(input, blocked),
    );
    let (allow, pre, block) = match lists {
        (Ok(a), Ok(p), Ok(b)) => (a, p, b.unwrap_or_default()),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
    };
    if let Some(b) = block.iter().find(|b| matches(b, server, tool, false)) {
        input.hits.entry(blocked, b);
        return CheckResult::deny(
            ReasonCode::ToolNotAllowed,
            format!("MCP tool `{tool}` of server `{server}` is blocked by `{b}` ({blocked})"),
        );
    }
    if allow.is_none() && pre.is_none() {
        return CheckResult::Skip(format!(
            "limits.{}.{allowed} and {prefixes} are not set",
            input.capability
        ));
    }
    if let Some(a) = allow
        .iter()
        .flatten()
        .find(|a| matches(a, server, tool, false))
    {
        input.hits.entry(allowed, a);
        return CheckResult::pass(format!("`{server}.{tool}` matches `{a}` in {allowed}"));
    }
    if let Some(p) = pre
        .iter()
        .flatten()
        .find(|p| matches(p, server, tool, true))
    {
        input.hits.entry(prefixes, p);
        return CheckResult::pass(format!("`{server}.{tool}` starts with `{p}` ({prefixes})"));
    }
    CheckResult::deny(
        ReasonCode::ToolNotAllowed,
        format!(
            "MCP tool `{tool}` of server `{server}` is in neither {allowed} nor {prefixes} \
             (entries may be `{tool}`, `{server}.{tool}` or `mcp__{server}__{tool}`)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_spellings_name_the_same_tool() {
        for e in [
            "create_issue",
            "github.create_issue",
            "mcp__github__create_issue",
        ] {
            assert!(matches(e, "github", "create_issue", false), "{e}");
        }
        assert!(!matches(
            "gitlab.create_issue",
            "github",
            "create_issue",
            false
        ));
        assert!(!matches(
            "mcp__gitlab__create_issue",
            "github",
            "create_issue",
            false
        ));
        // A dotted entry is never bare: it cannot allow that name on another server.
        assert!(!matches(
            "github.create_issue",
            "evil",
            "github.create_issue",
            false
        ));
        assert!(matches("a.b.c", "a.b", "c", false));
        assert!(matches("a.b.c", "a", "b.c", false));
        assert!(matches("github.list_", "github", "list_issues", true));
        assert!(!matches("github.list_", "other", "list_issues", true));
        assert!(matches("get_", "any", "get_x", true));
        assert!(entries("mcp__").is_empty() && entries(".x").is_empty());
    }
}
