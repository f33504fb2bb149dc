//! Embeds every `policy-packs/**/*.json` into the binary, so adding a pack
//! file needs no Rust change; lays out a release binary's code for a short-lived process.

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

/// Release builds for Linux: the functions a hook call runs (bench/hot-text.txt, in its
/// order, glibc's and ring's C code by archive member) go first in the code, side by side, so
/// a call touches a few dense pages instead of ~7 MB spread over the whole text (each page
/// fault of a cached file maps a 64 KiB window around it). A
/// static-PIE build also packs its relative relocations (RELR): ~17,000 24-byte entries the
/// start-up code reads become a few KiB of bitmaps. The dynamic build keeps plain RELA:
/// RELR there needs glibc 2.36 where it runs. `TOOLGATE_HOT_TEXT=0` turns both off (a
/// linker that reads no linker scripts, or to measure the difference).
fn link_layout() {
    println!("cargo:rerun-if-env-changed=TOOLGATE_HOT_TEXT");
    let list = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/hot-text.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    let var = |k: &str| env::var(k).unwrap_or_default();
    if var("PROFILE") != "release"
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("TOOLGATE_HOT_TEXT") == "0"
    {
        return;
    }
    let mut script = String::from("SECTIONS {\n  .text.hot : {\n");
    for line in fs::read_to_string(&list).unwrap().lines() {
        let pattern = line.trim();
        if pattern.is_empty() || pattern.starts_with('#') {
            continue;
        }
        if pattern.contains('(') {
            // An archive member's sections (C code: glibc, ring), as written.
            script.push_str(&format!("    {pattern}\n"));
        } else {
            // Functions marked cold (a `Vec`'s growth, a `OnceLock`'s first use) are in
            // `.text.unlikely.*`, and a hook call runs many of them.
            script.push_str(&format!(
                "    *(.text.{pattern} .text.unlikely.{pattern})\n"
            ));
        }
    }
    script.push_str("  }\n}\nINSERT BEFORE .text;\n");
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("hot-text.ld");
    fs::write(&out, script).unwrap();
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", out.display());
    if var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

fn main() {
    link_layout();
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
