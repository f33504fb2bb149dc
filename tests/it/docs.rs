//! The README documents every reason code and every built-in pack.

use toolgate::reason::ReasonCode;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn readme_lists_every_reason_code() {
    let text = readme();
    for c in ReasonCode::ALL {
        assert!(
            text.contains(&format!("`{}`", c.as_str())),
            "README does not document {c}"
        );
    }
}

#[test]
fn readme_lists_every_builtin_pack() {
    let text = readme();
    for p in toolgate::packs::Catalog::embedded().unwrap().packs() {
        assert!(
            text.contains(&format!("`{}`", p.id)),
            "README does not document pack {}",
            p.id
        );
    }
}

#[test]
fn readme_starts_with_the_demo_and_the_tests() {
    let text = readme();
    let block = text.split("```").nth(1).unwrap();
    assert!(
        block.contains("demo") && block.contains("cargo test"),
        "{block}"
    );
}
