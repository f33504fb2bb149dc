//! The verified-passport memo (docs/passports.md): a pair remembered as verified skips only
//! the signature check, only for exactly its bytes under exactly its trusted key.

use crate::harness::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const DOMAIN: &str = "toolgate-passport-verified-v1";

/// The memo key the gate computes for the passport and signature now on disk.
fn memo_key(home: &Home) -> String {
    use base64::Engine;
    let passport = std::fs::read(home.passport()).unwrap();
    let sig_path = format!("{}.sig", home.passport().display());
    let sig = std::fs::read(&sig_path).unwrap();
    let kid = serde_json::from_slice::<Value>(&sig).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let jwk: Value = serde_json::from_slice(&std::fs::read(home.pubkey()).unwrap()).unwrap();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap();
    let mut h = Sha256::new();
    for part in [
        b"toolgate-passport-memo-v1".as_slice(),
        &passport,
        &sig,
        kid.as_bytes(),
        &x,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The passport on disk with one more allowed command, not signed again.
fn edit_unsigned(home: &Home) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(home.passport()).unwrap()).unwrap();
    v["limits"]["system.command.execute"]["allowed_commands"]
        .as_array_mut()
        .unwrap()
        .push(json!("curl"));
    std::fs::write(home.passport(), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn remember(home: &Home, key: &toolgate::seal::MacKey) {
    let k = memo_key(home);
    let sig_path = format!("{}.sig", home.passport().display());
    let sig: Value = serde_json::from_slice(&std::fs::read(sig_path).unwrap()).unwrap();
    let digest = sig["passport_digest"].as_str().unwrap().to_string();
    let tag = key.tag(DOMAIN, &[k.as_bytes(), digest.as_bytes()]);
    std::fs::write(
        home.path("cache/passport.verified"),
        format!("{k} {digest} {tag}\n"),
    )
    .unwrap();
}

#[test]
fn a_remembered_pair_is_refused_again_once_its_bytes_or_its_trust_change() {
    let home = Home::new("coding-agent");
    assert_eq!(home.evaluate(&bash("git status")).status.code(), Some(0));
    assert!(home.path("cache/passport.verified").is_file());
    let original = std::fs::read(home.passport()).unwrap();
    edit_unsigned(&home);
    let o = home.evaluate(&bash("git status"));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(code(&o), "oap.signature_invalid");
    // An entry for the edited bytes tagged under any other key is no entry.
    let other = toolgate::seal::MacKey::load_or_create(&home.path("other.key")).unwrap();
    remember(&home, &other);
    assert_eq!(
        code(&home.evaluate(&bash("git status"))),
        "oap.signature_invalid"
    );
    // The signed pair is remembered again; the trust store is still read on every call.
    std::fs::write(home.passport(), &original).unwrap();
    assert_eq!(home.evaluate(&bash("git status")).status.code(), Some(0));
    for e in std::fs::read_dir(home.path("trust")).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let o = home.evaluate(&bash("git status"));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(code(&o), "oap.passport_untrusted");
}

#[test]
fn an_entry_tagged_under_the_machine_key_is_believed() {
    // Only a holder of the cache key (a toolgate process that verified) can write one;
    // this shows the gate does use the memo, and what it rests on.
    let home = Home::new("coding-agent");
    assert_eq!(home.evaluate(&bash("git status")).status.code(), Some(0));
    edit_unsigned(&home);
    let key = toolgate::seal::MacKey::load(&home.path("remote/cache.key")).unwrap();
    remember(&home, &key);
    let o = home.evaluate(&bash("curl https://example.com"));
    assert_ne!(code(&o), "oap.signature_invalid", "{}", text(&o.stdout));
}

const LIMITS_DOMAIN: &str = "toolgate-passport-limits-known-v1";

/// The memo's line saying a passport's limit keys were all known to a catalog.
fn limits_line(home: &Home) -> Option<String> {
    std::fs::read_to_string(home.path("cache/passport.verified"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("limits "))
        .map(String::from)
}

/// The signed digest of the passport now on disk.
fn passport_digest(home: &Home) -> String {
    let sig: Value = serde_json::from_slice(
        &std::fs::read(format!("{}.sig", home.passport().display())).unwrap(),
    )
    .unwrap();
    sig["passport_digest"].as_str().unwrap().to_string()
}

/// Replaces the memo's limits line by one for `passport` under `catalog`, tagged with `key`.
fn remember_limits(home: &Home, passport: &str, catalog: &str, key: &toolgate::seal::MacKey) {
    let path = home.path("cache/passport.verified");
    let text = std::fs::read_to_string(&path).unwrap();
    let pair = text.lines().next().unwrap();
    let tag = key.tag(LIMITS_DOMAIN, &[passport.as_bytes(), catalog.as_bytes()]);
    std::fs::write(
        &path,
        format!("{pair}\nlimits {passport} {catalog} {tag}\n"),
    )
    .unwrap();
}

#[test]
fn the_limit_key_check_is_skipped_only_for_the_passport_and_packs_it_passed_on() {
    let home = Home::new("coding-agent");
    assert_eq!(home.evaluate(&bash("git status")).status.code(), Some(0));
    let line = limits_line(&home).expect("a passing check is remembered");
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields[1], passport_digest(&home), "{line}");
    let catalog = fields[2].to_string();
    assert!(catalog.starts_with("sha256:"), "{line}");

    // A misspelt key makes another passport: checked again, and refused.
    home.edit_passport(|p| {
        p["limits"]["system.command.execute"]["blocked_pattern"] = json!(["rm -rf"])
    });
    let o = home.evaluate(&bash("git status"));
    assert_eq!(code(&o), "oap.passport_invalid", "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("blocked_pattern"));
    // A line for it tagged under any other key is no line.
    let typo = passport_digest(&home);
    let other = toolgate::seal::MacKey::load_or_create(&home.path("other.key")).unwrap();
    remember_limits(&home, &typo, &catalog, &other);
    assert_eq!(
        code(&home.evaluate(&bash("git status"))),
        "oap.passport_invalid"
    );
    // Under the machine's key it is believed: only a toolgate process that ran the check
    // could have written it (docs/passports.md), which this shows the gate relies on.
    let key = toolgate::seal::MacKey::load(&home.path("remote/cache.key")).unwrap();
    remember_limits(&home, &typo, &catalog, &key);
    assert_eq!(home.evaluate(&bash("git status")).status.code(), Some(0));
    // Packs layered on the built-in ones are another catalog: checked again, and refused.
    let pack = "system.command.execute.v1.json";
    let builtin = std::fs::read(format!(
        "{}/policy-packs/{pack}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    std::fs::create_dir_all(home.path("policy-packs")).unwrap();
    std::fs::write(home.path(&format!("policy-packs/{pack}")), builtin).unwrap();
    let o = home.evaluate(&bash("git status"));
    assert_eq!(code(&o), "oap.passport_invalid", "{}", text(&o.stdout));
}
