//! Names matched against glob lists: repositories, branches, the files a change touches.
//!
//! These are names the call reports, not paths on this machine, so nothing is resolved;
//! instead a name that could mean something other than its text (`docs/../src/x`, `/etc`,
//! `a\b`) is refused, so a glob never judges a spelling the far side reads differently.

use super::{string_list, CheckInput, CheckResult};
use crate::packs::When;
use crate::reason::ReasonCode;
use globset::{GlobBuilder, GlobMatcher};
use serde_json::Value;

/// A glob list entry that admits every name (APort: `*` means "no restriction").
fn admits_all(pattern: &str) -> bool {
    pattern == "*" || pattern == "**"
}

/// Why a name is not in the one spelling a glob may judge, if it is not.
fn non_canonical(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('/') {
        Some("it starts with `/`")
    } else if name.contains('\\') {
        Some("it contains a backslash")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        Some("it has an empty, `.` or `..` segment")
    } else {
        None
    }
}

/// The names the call gives for `field` (or, absent, `or_field`): one string, or every
/// string of an array. `Ok(None)` when neither is there.
fn names<'a>(
    input: &'a CheckInput,
    field: &'a str,
    or_field: Option<&'a str>,
) -> Result<Option<(&'a str, Vec<&'a str>)>, CheckResult> {
    let present = |f: &str| input.context.get(f).filter(|v| !v.is_null());
    let (name, value) = match (present(field), or_field) {
        (Some(v), _) => (field, v),
        (None, Some(o)) => match present(o) {
            Some(v) => (o, v),
            None => return Ok(None),
        },
        (None, None) => return Ok(None),
    };
    let bad = || {
        CheckResult::deny(
            ReasonCode::InvalidContext,
            format!("`{name}` must be a string or an array of strings"),
        )
    };
    let list = match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        _ => return Err(bad()),
    };
    Ok(Some((name, list)))
}

/// Whether the `when` condition selects this call (no condition selects every call).
pub(crate) fn selected(input: &CheckInput, when: Option<&When>) -> Result<bool, CheckResult> {
    let Some(w) = when else { return Ok(true) };
    match super::string_field(input, &w.field)? {
        Some(v) => Ok(w.one_of.iter().any(|o| o == v)),
        None => Ok(false),
    }
}

/// What a `glob` check reads, from its spec.
#[derive(Clone, Copy)]
pub struct GlobSpec<'a> {
    pub field: &'a str,
    pub or_field: Option<&'a str>,
    pub name: &'a str,
    pub when: Option<&'a When>,
    pub code: Option<ReasonCode>,
}

pub fn check(input: &CheckInput, spec: &GlobSpec) -> CheckResult {
    let GlobSpec {
        field,
        or_field,
        name,
        when,
        code,
    } = *spec;
    match selected(input, when) {
        Ok(true) => {}
        Ok(false) => {
            let f = when.map_or("", |w| w.field.as_str());
            return CheckResult::Skip(format!("`{f}` is not one of the values {name} judges"));
        }
        Err(e) => return e,
    }
    let patterns = match string_list(input, name) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return CheckResult::Skip(format!("limits.{}.{name} is not set", input.capability))
        }
        Err(e) => return e,
    };
    if let Some(p) = patterns.iter().find(|p| admits_all(p)) {
        input.hits.entry(name, p);
        return CheckResult::pass(format!("{name} admits every name (`{p}`)"));
    }
    let matchers = match compile(&patterns) {
        Ok(m) => m,
        Err(why) => {
            return CheckResult::deny(
                ReasonCode::PolicyError,
                format!("limits.{}.{name}: {why}", input.capability),
            )
        }
    };
    let (read, values) = match names(input, field, or_field) {
        Ok(Some((read, values))) if !values.is_empty() => (read, values),
        Ok(_) => {
            let what = or_field.map_or(format!("`{field}`"), |o| format!("`{field}` or `{o}`"));
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("the call names no {what}, so {name} cannot be applied to it; list them"),
            );
        }
        Err(e) => return e,
    };
    for v in &values {
        if let Some(why) = non_canonical(v) {
            return CheckResult::deny(
                ReasonCode::InvalidContext,
                format!("`{v}` in `{read}` is refused: {why}"),
            );
        }
        match matchers.iter().find(|(_, m)| m.is_match(v)) {
            Some((p, _)) => input.hits.entry(name, p),
            None => {
                return CheckResult::deny(
                    code.unwrap_or(ReasonCode::ValueNotAllowed),
                    format!("`{v}` in `{read}` matches no entry of {name}"),
                )
            }
        }
    }
    match values.as_slice() {
        [one] => CheckResult::pass(format!("`{one}` matches {name}")),
        all => CheckResult::pass(format!("all {} of `{read}` match {name}", all.len())),
    }
}

/// A list entry as globset reads it: only `*`, `**` and `?` are wildcards, as in APort's
/// lists; brackets and braces are themselves, so `my-bot[bot]` names that actor and
/// `app/[slug]/page.tsx` that file rather than a class or a choice of wider names.
fn literal_brackets(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '[' | ']' | '{' | '}' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

fn compile<'p>(patterns: &[&'p str]) -> Result<Vec<(&'p str, GlobMatcher)>, String> {
    patterns
        .iter()
        .map(|p| {
            GlobBuilder::new(&literal_brackets(p))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map(|g| (*p, g.compile_matcher()))
                .map_err(|e| format!("glob `{p}`: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(limits: Value, context: Value, spec: GlobSpec) -> CheckResult {
        crate::checks::run_on(limits, context, |input| check(input, &spec))
    }

    const FILES: GlobSpec = GlobSpec {
        field: "files_changed",
        or_field: None,
        name: "allowed_paths",
        when: None,
        code: None,
    };

    fn verdict(r: &CheckResult) -> &'static str {
        match r {
            CheckResult::Pass { .. } => "pass",
            CheckResult::Deny(_) => "deny",
            CheckResult::Review(_) => "review",
            CheckResult::Skip(_) => "skip",
        }
    }

    #[test]
    fn every_item_of_an_array_must_match() {
        let l = json!({"allowed_paths": ["docs/**", "README.md"]});
        for (files, want) in [
            (json!(["docs/a.md", "docs/x/y.md", "README.md"]), "pass"),
            (json!(["docs/a.md", "src/main.rs"]), "deny"),
            (json!(["src/main.rs", "docs/a.md"]), "deny"),
            (json!("docs/a.md"), "pass"),
            (json!(["docs"]), "deny"),
            (json!(["readme.md"]), "deny"),
        ] {
            assert_eq!(
                verdict(&run(l.clone(), json!({"files_changed": files}), FILES)),
                want,
                "{files}"
            );
        }
    }

    #[test]
    fn names_that_could_mean_another_file_are_refused() {
        let l = json!({"allowed_paths": ["docs/**"]});
        for bad in [
            "docs/../src/main.rs",
            "docs/./a.md",
            "docs//a.md",
            "/docs/a.md",
            "docs\\..\\src",
            "docs/a\n.md",
            "",
            "docs/",
        ] {
            let r = run(l.clone(), json!({"files_changed": [bad]}), FILES);
            assert!(
                matches!(&r, CheckResult::Deny(x) if x.code == ReasonCode::InvalidContext),
                "{bad:?}: {r:?}"
            );
        }
    }

    #[test]
    fn a_restrictive_list_refuses_a_call_that_names_nothing() {
        let l = json!({"allowed_paths": ["docs/**"]});
        for ctx in [
            json!({}),
            json!({"files_changed": []}),
            json!({"files_changed": null}),
        ] {
            let r = run(l.clone(), ctx.clone(), FILES);
            assert!(
                matches!(&r, CheckResult::Deny(x) if x.code == ReasonCode::InvalidContext),
                "{ctx}: {r:?}"
            );
        }
        // `*` restricts nothing, so nothing need be named; an unset limit is not judged.
        assert_eq!(
            verdict(&run(json!({"allowed_paths": ["*"]}), json!({}), FILES)),
            "pass"
        );
        assert_eq!(verdict(&run(json!({}), json!({}), FILES)), "skip");
        assert_eq!(
            verdict(&run(
                json!({"allowed_paths": []}),
                json!({"files_changed": ["a"]}),
                FILES
            )),
            "deny"
        );
    }

    #[test]
    fn a_star_stays_in_its_segment() {
        let spec = GlobSpec {
            field: "repository",
            name: "allowed_repos",
            code: Some(ReasonCode::PathNotAllowed),
            ..FILES
        };
        let l = json!({"allowed_repos": ["acme/*", "tools/cli"]});
        for (repo, want) in [
            ("acme/web", "pass"),
            ("tools/cli", "pass"),
            ("tools/cli2", "deny"),
            ("acme/web/extra", "deny"),
            ("ACME/web", "deny"),
            ("evil/acme", "deny"),
        ] {
            let r = run(l.clone(), json!({"repository": repo}), spec);
            assert_eq!(verdict(&r), want, "{repo}");
            if want == "deny" && !repo.contains("//") {
                if let CheckResult::Deny(x) = r {
                    assert_eq!(x.code, ReasonCode::PathNotAllowed, "{repo}");
                }
            }
        }
    }

    #[test]
    fn or_field_and_when_choose_what_is_judged() {
        let when = When {
            field: "action".into(),
            one_of: vec!["pr.create".into()],
        };
        let spec = GlobSpec {
            field: "base_branch",
            or_field: Some("branch"),
            name: "allowed_base_branches",
            when: Some(&when),
            code: None,
        };
        let l = json!({"allowed_base_branches": ["main", "release/**"]});
        for (ctx, want) in [
            (
                json!({"action": "pr.create", "branch": "feat/x", "base_branch": "main"}),
                "pass",
            ),
            (json!({"action": "pr.create", "branch": "main"}), "pass"),
            (json!({"action": "pr.create", "branch": "feat/x"}), "deny"),
            (
                json!({"action": "pr.create", "branch": "main", "base_branch": "prod"}),
                "deny",
            ),
            (
                json!({"action": "pr.create", "branch": "x", "base_branch": "release/1/2"}),
                "pass",
            ),
            (json!({"action": "repo.push", "branch": "prod"}), "skip"),
            (json!({"branch": "prod"}), "skip"),
        ] {
            assert_eq!(verdict(&run(l.clone(), ctx.clone(), spec)), want, "{ctx}");
        }
    }

    #[test]
    fn brackets_and_braces_are_literal_as_in_aports_lists() {
        let l = json!({"allowed_paths": ["app/[slug]/page.tsx", "docs/{a,b}.md", "bots/my-bot[bot]", "x/[a"]});
        for (file, want) in [
            ("app/[slug]/page.tsx", "pass"),
            ("docs/{a,b}.md", "pass"),
            ("bots/my-bot[bot]", "pass"),
            ("x/[a", "pass"),
            // What a class or an alternation would have let in.
            ("app/s/page.tsx", "deny"),
            ("docs/a.md", "deny"),
            ("bots/my-bott", "deny"),
        ] {
            let r = run(l.clone(), json!({"files_changed": [file]}), FILES);
            assert_eq!(verdict(&r), want, "{file}: {r:?}");
        }
        // The wildcards still are.
        let l = json!({"allowed_paths": ["app/*/page.tsx", "src/**", "v?.md"]});
        for file in ["app/[slug]/page.tsx", "src/[x]/y.rs", "v1.md"] {
            let r = run(l.clone(), json!({"files_changed": [file]}), FILES);
            assert_eq!(verdict(&r), "pass", "{file}: {r:?}");
        }
    }

    #[test]
    fn wrong_types_and_bad_globs_are_refused() {
        let l = json!({"allowed_paths": ["docs/**"]});
        let r = run(l, json!({"files_changed": ["docs/a", 3]}), FILES);
        assert!(matches!(&r, CheckResult::Deny(x) if x.code == ReasonCode::InvalidContext));
        let r = run(
            json!({"allowed_paths": ["docs/a\\"]}),
            json!({"files_changed": ["docs/a"]}),
            FILES,
        );
        assert!(
            matches!(&r, CheckResult::Deny(x) if x.code == ReasonCode::PolicyError),
            "{r:?}"
        );
        let r = run(
            json!({"allowed_paths": "docs/**"}),
            json!({"files_changed": ["docs/a"]}),
            FILES,
        );
        assert!(
            matches!(&r, CheckResult::Deny(x) if x.code == ReasonCode::PolicyError),
            "{r:?}"
        );
    }
}
