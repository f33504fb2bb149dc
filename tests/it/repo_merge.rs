//! `code.repository.merge.v1` through the real binary: the capability the action needs, the
//! limits under `limits["code.repository.merge"]` (APort's passport layout), glob-matched
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
    let mut c = pr(v["action"].as_str().unwrap_or("pr.create"));
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

#[test]
fn the_packs_vectors_pass_in_order() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus/code.repository.merge.v1.jsonl"),
    )
    .unwrap();
    let h = home(&passport(
        &["repo.pr.create", "repo.merge"],
        json!({"code.repository.merge": limits()}),
    ));
    let (mut allowed, mut denied) = (0, 0);
    // In order: the daily caps see the calls allowed before them.
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let name = v["name"].as_str().unwrap();
        let (verdict, codes) = decide(&h, PACK, &vector_context(&v));
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
    assert!(
        allowed >= 5 && denied >= 20,
        "{allowed} allowed, {denied} denied"
    );
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
