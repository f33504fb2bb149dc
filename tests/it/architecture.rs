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

/// A function longer than this (its first line to the line that closes its body) is long.
const LONG_FN_LINES: usize = 60;

/// How many functions under src/ and tests/ are long (124 in session 21, after
/// `git::touches`, `demo::sample_calls` and `cli::audit::run` were split; 127 before).
/// Split one and lower this; never raise it: split a new long function into named steps.
const LONG_FN_CEILING: usize = 124;

/// The code bytes of `text`, each with its line number: comments, strings (raw ones
/// too) and character literals left out, so the braces in them are not counted.
fn code_bytes(text: &str) -> Vec<(usize, u8)> {
    let b = text.as_bytes();
    let (mut out, mut line, mut i) = (Vec::new(), 1, 0);
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    while i < b.len() {
        let c = at(i);
        let skip_to = |from: usize, end: &[u8]| {
            (from..b.len())
                .find(|&j| b[j..].starts_with(end))
                .map_or(b.len(), |j| j + end.len())
        };
        let next = match c {
            b'/' if at(i + 1) == b'/' => skip_to(i, b"\n") - 1,
            b'/' if at(i + 1) == b'*' => skip_to(i + 2, b"*/"),
            b'r' if (at(i + 1) == b'"' || at(i + 1) == b'#')
                && !at(i.wrapping_sub(1)).is_ascii_alphanumeric() =>
            {
                let hashes = (i + 1..b.len()).take_while(|&j| b[j] == b'#').count();
                if at(i + 1 + hashes) != b'"' {
                    i + 1
                } else {
                    let end = [b"\"".as_slice(), &vec![b'#'; hashes]].concat();
                    skip_to(i + 2 + hashes, &end)
                }
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                j + 1
            }
            b'\'' if at(i + 1) == b'\\' => skip_to(i + 2, b"'"),
            b'\'' if at(i + 2) == b'\'' => i + 3,
            _ => {
                out.push((line, c));
                i + 1
            }
        };
        line += b[i..next.min(b.len())]
            .iter()
            .filter(|&&x| x == b'\n')
            .count();
        i = next.max(i + 1);
    }
    out
}

/// The length in lines of every function with a body in `text`, with its first line.
fn fn_lengths(text: &str) -> Vec<(usize, usize)> {
    let bytes = code_bytes(text);
    let starts = text.lines().enumerate().filter_map(|(n, l)| {
        let mut w = l.trim_start();
        for q in [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "const ",
            "async ",
            "unsafe ",
        ] {
            w = w.strip_prefix(q).unwrap_or(w);
        }
        w.starts_with("fn ").then_some(n + 1)
    });
    let mut out = Vec::new();
    for first in starts {
        let (mut parens, mut braces) = (0i32, 0i32);
        for &(line, c) in bytes.iter().filter(|(l, _)| *l >= first) {
            match c {
                b'(' | b'[' => parens += 1,
                b')' | b']' => parens -= 1,
                b';' if parens == 0 && braces == 0 => break,
                b'{' => braces += 1,
                b'}' => {
                    braces -= 1;
                    if braces == 0 {
                        out.push((first, line - first + 1));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// `(lines, file:line)` of every long function under src/ and tests/.
fn long_functions() -> Vec<(usize, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("src"), root.join("tests")];
    let mut out = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                for (first, n) in fn_lengths(&text) {
                    if n > LONG_FN_LINES {
                        out.push((n, format!("{rel}:{first}")));
                    }
                }
            }
        }
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    out
}

#[test]
fn long_functions_do_not_grow_in_number() {
    let long = long_functions();
    assert!(
        long.len() <= LONG_FN_CEILING,
        "{} functions are over {LONG_FN_LINES} lines, the ceiling is {LONG_FN_CEILING}: split the new one into named steps. The longest: {:?}",
        long.len(),
        &long[..long.len().min(10)]
    );
}

#[test]
fn the_length_count_skips_braces_in_strings_and_comments() {
    let body = "    let x = 1;\n".repeat(3);
    let text = format!(
        "pub(crate) fn a(v: [u8; 2]) -> u8 {{\n{body}    let s = \"}}\"; // }}\n    let r = r#\"{{\"#;\n    let c = '}}';\n    0\n}}\nfn b();\nfn c<'a>(x: &'a str) {{\n}}\n"
    );
    assert_eq!(fn_lengths(&text), vec![(1, 9), (11, 2)]);
}
