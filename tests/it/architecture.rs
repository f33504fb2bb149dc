//! Module dependencies run one way. Each library module has a layer; a module may
//! use only modules of lower layers. The table is the one `docs/architecture.md`
//! shows; a new module must be placed in both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Lowest first. Modules in one layer do not use each other.
const LAYERS: &[&[&str]] = &[
    &["call", "canonical", "net", "reason", "redact", "regular"],
    &["passport", "seal"],
    &["state"],
    &["packs"],
    &["checks"],
    &["decision", "gitview", "archive"],
    &["audit", "grant", "receipt"],
    &["hosts", "remote", "telemetry"],
    &["policy"],
    &["home"],
    &["gate"],
    &["ungated"],
    &["install"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The code of a file without comments and without its `#[cfg(test)]` tail.
fn code(text: &str) -> String {
    let cut = text
        .find("#[cfg(test)]")
        .or_else(|| text.find("#[cfg(all(test"))
        .unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level module -> the top-level modules it names through `crate::`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let top = top.trim_end_matches(".rs").to_string();
            // The binary's own modules and the crate roots sit above every layer.
            if ["main", "lib", "cli"].contains(&top.as_str()) {
                continue;
            }
            let text = code(&std::fs::read_to_string(&p).unwrap());
            let entry = edges.entry(top.clone()).or_default();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    entry.insert(name);
                }
            }
        }
    }
    edges
}

#[test]
fn every_module_has_a_layer() {
    let missing: Vec<_> = graph().into_keys().filter(|m| layer(m).is_none()).collect();
    assert!(
        missing.is_empty(),
        "modules with no layer in tests/it/architecture.rs (and docs/architecture.md): {missing:?}"
    );
}

#[test]
fn dependencies_run_down_the_layers() {
    let mut upward = Vec::new();
    for (from, tos) in graph() {
        let Some(lf) = layer(&from) else { continue };
        for to in tos {
            match layer(&to) {
                Some(lt) if lt < lf => {}
                _ => upward.push(format!("{from} -> {to}")),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run up or sideways: {upward:?}"
    );
}

#[test]
fn the_architecture_document_names_every_module() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let absent: Vec<_> = LAYERS
        .iter()
        .flat_map(|l| l.iter())
        .filter(|m| !doc.contains(&format!("`{m}`")))
        .collect();
    assert!(
        absent.is_empty(),
        "docs/architecture.md does not name: {absent:?}"
    );
}

#[test]
fn the_check_sees_a_planted_upward_import() {
    // The scan must notice an import: `checks` naming `decision` would be flagged.
    let text = code("use crate::decision::Environment; // crate::gate in a comment\n");
    assert!(text.contains("crate::decision"));
    assert!(!text.contains("crate::gate"));
    assert!(layer("checks") < layer("decision"));
}
