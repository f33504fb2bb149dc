//! `code.repository.merge.v1` through the real binary: the capability the action needs, the
//! limits under `limits["code.repository.merge"]` or flat at the top of `limits` (APort's
//! passport layouts), the `integrations.github` lists, the file-count fallback, glob-matched
//! repositories and branches, the path allowlist over every changed file, the size
//! arithmetic and the daily caps. APort's wheel ships no vectors for this pack, so
//! `tests/corpus/code.repository.merge.v1.jsonl` holds our own, each deny beside a
//! legitimate neighbour that stays allowed.

use crate::aport_vectors::{decide, home_with as home};
use crate::harness::Home;
use serde_json::{json, Value};

const PACK: &str = "code.repository.merge.v1";

fn passport(caps: &[&str], limits: Value) -> Value {
    json!({
        "passport_id": "7b0c4a52-3f0e-4d7e-9a53-2f6a1c9d0e11", "kind": "template",
        "spec_version": "oap/1.0", "owner_id": "org_dev", "owner_type": "org",
        "assurance_level": "L2", "status": "active",
        "capabilities": caps.iter().map(|c| json!({"id": c})).collect::<Vec<_>>(),
        "limits": limits, "regions": ["US"],
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "version": "1.0.0"
    })
}

fn limits() -> Value {
    json!({
        "max_prs_per_day": 2, "max_merges_per_day": 1, "max_pr_size_kb": 50,
        "allowed_repos": ["acme/*", "tools/cli"],
        "allowed_base_branches": ["main", "release/**"],
        "allowed_paths": ["docs/**", "src/**", "README.md"],
        "max_files_changed": 3, "max_total_added_lines": 400
    })
}

/// A pull request onto main touching two files: allowed under `limits()`.
fn pr(action: &str) -> Value {
    json!({"repository": "acme/web", "action": action, "branch": "feat/x", "base_branch": "main",
           "files_changed": ["docs/a.md", "src/lib.rs"], "lines_added": 100, "lines_removed": 20})
}

/// `pr(action)` with `edit`'s fields set (a null removes the field; so does a null action).
fn vector_context(v: &Value) -> Value {
    vector_on(pr(v["action"].as_str().unwrap_or("pr.create")), v)
}

/// `base` with the vector's `edit` applied (a null removes the field; so does a null action).
fn vector_on(mut c: Value, v: &Value) -> Value {
    let fields = c.as_object_mut().unwrap();
    if v["action"].is_null() {
        fields.remove("action");
    }
    for (k, val) in v["edit"].as_object().into_iter().flatten() {
        if val.is_null() {
            fields.remove(k);
        } else {
            fields.insert(k.clone(), val.clone());
        }
    }
    c
}

/// `evaluate --json` of one call under the pack: the first reason's sentence of a deny.
fn denial(h: &Home, context: &Value) -> String {
    let call = json!({"policy": PACK, "context": context}).to_string();
    let out = h.run(&["evaluate", "--json"], call.as_bytes()).json();
    assert_eq!(out["verdict"], "deny", "{out}");
    out["reasons"][0]["message"].as_str().unwrap().to_string()
}

/// Runs a vector file in order against `h`, each context made by `context`; returns how
/// many were allowed and how many denied or sent to review.
fn run_vectors(h: &Home, file: &str, context: impl Fn(&Value) -> Value) -> (usize, usize) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(file),
    )
    .unwrap();
    let (mut allowed, mut denied) = (0, 0);
    // In order: the daily caps see the calls allowed before them.
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let name = v["name"].as_str().unwrap();
        let (verdict, codes) = decide(h, PACK, &context(&v));
        match v["expect"].as_str().unwrap().split_once(' ') {
            None => {
                assert_eq!(verdict, "allow", "{name}: {codes:?}");
                allowed += 1;
            }
            Some((want, code)) => {
                assert_eq!(verdict, want, "{name}: {codes:?}");
                assert!(codes.contains(code), "{name}: {codes:?}");
                denied += 1;
            }
        }
    }
    (allowed, denied)
}

/// The same vectors under both of APort's passport layouts: the pack's own block, and
/// (with no block) the limits written flat at the top of `limits`.
#[test]
fn the_packs_vectors_pass_in_order() {
    for limits in [json!({"code.repository.merge": limits()}), limits()] {
        let h = home(&passport(&["repo.pr.create", "repo.merge"], limits.clone()));
        let (allowed, denied) = run_vectors(&h, "code.repository.merge.v1.jsonl", vector_context);
        assert!(
            allowed >= 5 && denied >= 20,
            "{limits}: {allowed} allowed, {denied} denied"
        );
    }
}

/// What `integrations.github` binds: the repository, actor, app and workflow refs a call
/// names, each against its own list, brackets literal (`my-bot[bot]`).
fn github() -> Value {
    json!({"github": {
        "allowed_repositories": ["acme/web", "tools/cli"],
        "allowed_actors": ["my-bot[bot]", "acme-ci"],
        "allowed_apps": ["acme-agent"],
        "allowed_workflow_refs": ["acme/web/.github/workflows/agent.yml@refs/heads/main",
                                  "acme/*/.github/workflows/ci.yml@refs/heads/*"]
    }})
}

#[test]
fn the_github_integration_lists_bind_what_the_call_names() {
    let mut p = passport(
        &["repo.pr.create", "repo.merge"],
        json!({"code.repository.merge": limits()}),
    );
    p["integrations"] = github();
    let h = home(&p);
    let base = |v: &Value| {
        let mut c = pr(v["action"].as_str().unwrap_or("pr.create"));
        c["github_actor"] = json!("my-bot[bot]");
        c["github_app"] = json!("acme-agent");
        c["workflow_ref"] = json!("acme/web/.github/workflows/agent.yml@refs/heads/main");
        vector_on(c, v)
    };
    let (allowed, denied) = run_vectors(&h, "code.repository.merge.v1.github.jsonl", base);
    assert!(
        allowed >= 6 && denied >= 12,
        "{allowed} allowed, {denied} denied"
    );
    // Without integrations nothing of the sort is asked for.
    let plain = home(&passport(
        &["repo.pr.create"],
        json!({"code.repository.merge": limits()}),
    ));
    assert_eq!(decide(&plain, PACK, &pr("pr.create")).0, "allow");
}

#[test]
fn a_list_set_in_the_block_and_under_integrations_differently_is_a_policy_error() {
    let mut l = limits();
    l["github_allowed_actors"] = json!(["someone-else"]);
    let mut p = passport(&["repo.pr.create"], json!({"code.repository.merge": l}));
    p["integrations"] = github();
    let h = home(&p);
    let mut c = pr("pr.create");
    c["github_actor"] = json!("my-bot[bot]");
    let (v, codes) = decide(&h, PACK, &c);
    assert_eq!(v, "deny");
    assert!(codes.contains("oap.policy_error"), "{codes:?}");
    assert!(denial(&h, &c).contains("integrations.github.allowed_actors"));
}

#[test]
fn the_pack_block_wins_over_flat_limits_and_missing_ones_say_where_they_are_looked_for() {
    let mut both = limits();
    both["code.repository.merge"] = limits();
    both["allowed_repos"] = json!(["*"]);
    let h = home(&passport(&["repo.pr.create"], both));
    let mut evil = pr("pr.create");
    evil["repository"] = json!("evil/web");
    let (v, codes) = decide(&h, PACK, &evil);
    assert_eq!(v, "deny");
    assert!(codes.contains("oap.repo_not_allowed"), "{codes:?}");
    let h = home(&passport(
        &["repo.pr.create"],
        json!({"allowed_repos": ["acme/*"]}),
    ));
    let text = denial(&h, &pr("pr.create"));
    assert!(text.contains("max_prs_per_day"), "{text}");
    assert!(text.contains("at the top of limits"), "{text}");
}

/// APort's fallback: a change that reports no line counts is sized by its number of
/// changed files, against the same `max_pr_size_kb`.
#[test]
fn without_line_counts_the_file_count_is_held_to_the_size_limit() {
    let mut l = limits();
    let l_map = l.as_object_mut().unwrap();
    l_map.remove("max_files_changed");
    l_map.insert("max_pr_size_kb".into(), json!(5));
    let h = home(&passport(
        &["repo.pr.create"],
        json!({"code.repository.merge": l}),
    ));
    let files = |n: usize| json!((0..n).map(|i| format!("docs/f{i}.md")).collect::<Vec<_>>());
    let change = |edit: Value| {
        let mut c = pr("pr.create");
        let m = c.as_object_mut().unwrap();
        for k in ["lines_added", "lines_removed", "files_changed"] {
            m.remove(k);
        }
        for (k, v) in edit.as_object().unwrap() {
            m.insert(k.clone(), v.clone());
        }
        c
    };
    for (edit, want) in [
        (json!({"files_changed": files(5)}), "allow"),
        (json!({"files_changed": files(6)}), "deny"),
        (json!({"files": files(6)}), "deny"),
        (
            json!({"files_changed": files(6), "lines_added": 0, "lines_removed": 0}),
            "deny",
        ),
        // Line counts decide when there are any: 6 files, 40 lines, ceil(40 / 10) = 4 <= 5.
        (
            json!({"files_changed": files(6), "lines_added": 40}),
            "allow",
        ),
        (json!({"files_changed": files(1), "deletions": 60}), "deny"),
    ] {
        let (v, codes) = decide(&h, PACK, &change(edit.clone()));
        assert_eq!(v, want, "{edit}: {codes:?}");
        if want == "deny" {
            assert!(codes.contains("oap.limit_exceeded"), "{edit}: {codes:?}");
        }
    }
    let text = denial(&h, &change(json!({"files_changed": files(6)})));
    assert!(text.contains("item count of `files_changed` = 6"), "{text}");
}

#[test]
fn each_action_needs_its_own_capability() {
    let h = home(&passport(
        &["repo.merge"],
        json!({"code.repository.merge": limits()}),
    ));
    assert_eq!(decide(&h, PACK, &pr("pr.merge")).0, "allow");
    let text = denial(&h, &pr("pr.update"));
    assert!(text.contains("`repo.pr.create`"), "{text}");
}

#[test]
fn limits_are_read_from_the_packs_own_key_and_a_misfiled_block_is_named() {
    // Filed under the capability, as other packs' limits are: the pack finds no limits and
    // says where it looks.
    let h = home(&passport(
        &["repo.pr.create", "repo.merge"],
        json!({"repo.pr.create": limits()}),
    ));
    let text = denial(&h, &pr("pr.create"));
    assert!(text.contains("limits.code.repository.merge"), "{text}");
}

#[test]
fn a_typo_in_the_block_is_caught_with_the_key_meant() {
    let mut l = limits();
    l["allowed_repo"] = json!(["acme/*"]);
    let h = home(&passport(
        &["repo.pr.create"],
        json!({"code.repository.merge": l}),
    ));
    let text = denial(&h, &pr("pr.create"));
    assert!(text.contains("did you mean `allowed_repos`"), "{text}");
}

#[test]
fn aports_other_names_and_a_wildcard_list_work() {
    let mut l = limits();
    l.as_object_mut().unwrap().remove("allowed_paths");
    l["path_allowlist"] = json!(["docs/**"]);
    l["allowed_repos"] = json!(["*"]);
    let h = home(&passport(
        &["repo.pr.create"],
        json!({"code.repository.merge": l}),
    ));
    let mut docs = pr("pr.create");
    docs["repository"] = json!("anyone/anything");
    docs["files_changed"] = json!(["docs/x.md"]);
    assert_eq!(decide(&h, PACK, &docs).0, "allow");
    let (v, codes) = decide(&h, PACK, &pr("pr.create"));
    assert_eq!(v, "deny");
    assert!(codes.contains("oap.path_not_allowed"), "{codes:?}");
}

#[test]
fn below_l2_and_with_review_required_nothing_is_allowed_outright() {
    let mut p = passport(
        &["repo.pr.create"],
        json!({"code.repository.merge": limits()}),
    );
    p["assurance_level"] = json!("L1");
    let (v, codes) = decide(&home(&p), PACK, &pr("pr.create"));
    assert_eq!(v, "deny");
    assert!(codes.contains("oap.assurance_insufficient"), "{codes:?}");
    let mut l = limits();
    l["require_review"] = json!(true);
    let h = home(&passport(
        &["repo.pr.create"],
        json!({"code.repository.merge": l}),
    ));
    assert_eq!(decide(&h, PACK, &pr("pr.create")).0, "review");
}
