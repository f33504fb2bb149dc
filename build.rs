//! Embeds every `policy-packs/**/*.json` into the binary, so adding a pack
//! file needs no Rust change.

// A build script stops the build with a message when a pack file is unreadable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sha2::{Digest, Sha256};
use std::path::Path;
use std::{env, fs};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("policy-packs/ is readable")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((
                rel,
                p.canonicalize().unwrap().to_string_lossy().into_owned(),
            ));
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policy-packs");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let mut code = String::from("/// (relative path, contents) of every embedded pack file.\npub const EMBEDDED: &[(&str, &str)] = &[\n");
    for (rel, abs) in &files {
        println!("cargo:rerun-if-changed={abs}");
        code.push_str(&format!("    ({rel:?}, include_str!({abs:?})),\n"));
    }
    code.push_str("];\n");
    // The catalog's identity, for memos of facts that depend on the packs (src/packs/mod.rs).
    let mut h = Sha256::new();
    for (rel, abs) in &files {
        let text = fs::read(abs).unwrap();
        for part in [rel.as_bytes(), &text] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    code.push_str(&format!(
        "/// SHA-256 over every embedded file's path and bytes.\npub const DIGEST: &str = \"sha256:{hex}\";\n"
    ));
    fs::write(
        Path::new(&env::var("OUT_DIR").unwrap()).join("embedded_packs.rs"),
        code,
    )
    .unwrap();
}
