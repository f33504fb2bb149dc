//! The verified status index: what a refresh proved about the status document, kept so a
//! cache hit costs one file read and two HMACs instead of parsing the whole document
//! and checking its Ed25519 signature again (about 8 ms for 1,000 passports).
//!
//! One line per fact, tab-separated, the last field a tag under the machine's cache key
//! ([`crate::seal`]):
//!
//! ```text
//! <header JSON>\t<tag>                      source, signer, sequence, digest, bounds, verified_at
//! <passport id>\t<entry JSON>\t<tag>        one per listed passport
//! ```
//!
//! The header's tag covers the header; an entry's tag covers the header's tag, the id and
//! the entry, so an entry cannot be moved to another id or into another index. A hit
//! verifies the header and the one entry it reads; the issuer key named in the header
//! must still be in the trust store. docs/fleet.md has the security argument.

use super::status::{Entry, StatusSummary, VerifiedStatus};
use crate::passport::{PublicKey, TrustStore};
use crate::seal::MacKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;

const HEADER: &str = "toolgate.status-index.v1 header";
const ENTRY: &str = "toolgate.status-index.v1 entry";
/// Largest index read (the status document is at most 4 MiB; its index is smaller).
const MAX_INDEX_BYTES: u64 = 4 * 1024 * 1024;

/// Everything the decision needs of the document except its entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    /// The status URL the document was fetched from.
    source: String,
    kid: String,
    /// The issuer's public key (base64url), compared with the trust store's on every read.
    key: String,
    sequence: u64,
    digest: String,
    issued_at: String,
    expires_at: String,
    issued_unix: i64,
    expires_unix: i64,
    listed: usize,
    /// Unix time of the fetch (a verified 200 or a 304) that last confirmed the document.
    verified_at: i64,
}

/// The bytes of an index for a document that verified against `issuer` just now.
pub fn render(
    key: &MacKey,
    source: &str,
    v: &VerifiedStatus,
    issuer: &PublicKey,
    verified_at: i64,
) -> Vec<u8> {
    let d = &v.signed.document;
    let header = Header {
        source: source.into(),
        kid: v.signed.kid.clone(),
        key: URL_SAFE_NO_PAD.encode(issuer.key.as_bytes()),
        sequence: d.sequence,
        digest: v.digest.clone(),
        issued_at: d.issued_at.clone(),
        expires_at: d.expires_at.clone(),
        issued_unix: v.issued_at,
        expires_unix: v.expires_at,
        listed: d.passports.len(),
        verified_at,
    };
    let header = serde_json::to_string(&header).unwrap_or_default();
    let header_tag = key.tag(HEADER, &[header.as_bytes()]);
    let mut out = format!("{header}\t{header_tag}\n");
    for (id, entry) in &d.passports {
        let e = serde_json::to_string(entry).unwrap_or_default();
        let tag = key.tag(ENTRY, &[header_tag.as_bytes(), id.as_bytes(), e.as_bytes()]);
        out.push_str(&format!("{id}\t{e}\t{tag}\n"));
    }
    out.into_bytes()
}

/// An index whose header authenticated, from the configured source, by a still-trusted issuer.
#[derive(Debug)]
pub struct StatusIndex {
    text: String,
    header: Header,
    header_tag: String,
    key: MacKey,
}

/// Reads and authenticates an index; `Err` says why it cannot be used (the caller refetches).
pub fn read(
    path: &Path,
    key: MacKey,
    source: &str,
    trust: &TrustStore,
) -> Result<StatusIndex, String> {
    let bytes = crate::regular::read(path, MAX_INDEX_BYTES).map_err(|e| e.to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "the index is not UTF-8".to_string())?;
    let first = text.split('\n').next().unwrap_or_default();
    let (json, tag) = first
        .rsplit_once('\t')
        .ok_or_else(|| "the index has no header".to_string())?;
    if !key.verify(HEADER, &[json.as_bytes()], tag) {
        return Err("the index header does not authenticate under this machine's key".into());
    }
    let header: Header = serde_json::from_str(json).map_err(|e| format!("index header: {e}"))?;
    if header.source != source {
        return Err(format!("the index is for {}, not {source}", header.source));
    }
    let trusted = trust
        .get(&header.kid)
        .is_some_and(|k| URL_SAFE_NO_PAD.encode(k.key.as_bytes()) == header.key);
    if !trusted {
        return Err(format!(
            "the status issuer {} is no longer in the trust store",
            header.kid
        ));
    }
    let header_tag = tag.to_string();
    Ok(StatusIndex {
        text,
        header,
        header_tag,
        key,
    })
}

impl StatusIndex {
    pub fn verified_at(&self) -> i64 {
        self.header.verified_at
    }

    /// The summary with the entries of `ids` (an id the document does not list is absent).
    /// `Err` when an entry line does not authenticate.
    pub fn summary(&self, ids: &[&str]) -> Result<StatusSummary, String> {
        let h = &self.header;
        let mut entries = std::collections::BTreeMap::new();
        for id in ids {
            let needle = format!("\n{id}\t");
            let Some(at) = self.text.find(&needle) else {
                continue;
            };
            let line = self
                .text
                .get(at + 1..)
                .and_then(|rest| rest.split('\n').next())
                .unwrap_or_default();
            let (body, tag) = line.rsplit_once('\t').unwrap_or_default();
            let (got, e) = body.split_once('\t').unwrap_or_default();
            let parts: [&[u8]; 3] = [self.header_tag.as_bytes(), got.as_bytes(), e.as_bytes()];
            if got != *id || !self.key.verify(ENTRY, &parts, tag) {
                return Err(format!(
                    "the index entry for {id} does not authenticate under this machine's key"
                ));
            }
            let entry: Entry =
                serde_json::from_str(e).map_err(|err| format!("index entry {id}: {err}"))?;
            entries.insert(id.to_string(), entry);
        }
        Ok(StatusSummary {
            sequence: h.sequence,
            digest: h.digest.clone(),
            kid: h.kid.clone(),
            issued_at: h.issued_unix,
            expires_at: h.expires_unix,
            issued_text: h.issued_at.clone(),
            expires_text: h.expires_at.clone(),
            listed: h.listed,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passport::KeyPair;
    use crate::remote::status::tests::{doc, ID};
    use crate::remote::status::{sign, verify, FleetStatus};

    const SRC: &str = "https://status.example/status.json";
    const OTHER: &str = "00000000-0000-4000-8000-000000000001";

    #[test]
    fn an_index_counts_only_as_written_for_this_source_and_a_trusted_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let (kpath, ipath) = (dir.path().join("k"), dir.path().join("i"));
        let issuer = KeyPair::generate();
        let mut trust = TrustStore::default();
        trust.insert(issuer.public());
        let mut d = doc(7, FleetStatus::Suspended);
        let mut other = d.passports.get(ID).unwrap().clone();
        other.status = FleetStatus::Active;
        d.passports.insert(OTHER.into(), other);
        let v = verify(&serde_json::to_vec(&sign(d, &issuer)).unwrap(), &trust).unwrap();
        let key = || MacKey::load_or_create(&kpath).unwrap();
        let good = render(&key(), SRC, &v, &issuer.public(), 100);
        std::fs::write(&ipath, &good).unwrap();

        let i = read(&ipath, key(), SRC, &trust).unwrap();
        assert_eq!(i.verified_at(), 100);
        let s = i.summary(&[ID, "not-listed"]).unwrap();
        assert_eq!(s.sequence, 7);
        assert_eq!(s.listed, 2);
        assert_eq!(s.entry(ID).unwrap().status, FleetStatus::Suspended);
        assert!(s.entry("not-listed").is_none());
        assert_eq!(s, {
            let mut all = StatusSummary::from(&v);
            all.entries.retain(|k, _| k == ID);
            all
        });

        let text = String::from_utf8(good.clone()).unwrap();
        // The suspended entry flipped to active: its tag no longer matches.
        let flipped = text.replacen("\"suspended\"", "\"active\"", 1);
        std::fs::write(&ipath, &flipped).unwrap();
        let i = read(&ipath, key(), SRC, &trust).unwrap();
        assert!(i.summary(&[ID]).is_err());
        assert!(i.summary(&[OTHER]).is_ok());
        // The other passport's line (and tag) moved to this passport's id.
        let line = |id: &str| {
            text.lines()
                .find(|l| l.starts_with(id))
                .unwrap()
                .to_string()
        };
        let moved = text.replace(&line(ID), &line(OTHER).replacen(OTHER, ID, 1));
        std::fs::write(&ipath, &moved).unwrap();
        let i = read(&ipath, key(), SRC, &trust).unwrap();
        assert!(i.summary(&[ID]).is_err());
        // A later verified_at written into the header.
        let later = text.replacen("\"verified_at\":100", "\"verified_at\":900", 1);
        std::fs::write(&ipath, &later).unwrap();
        assert!(read(&ipath, key(), SRC, &trust).is_err());

        std::fs::write(&ipath, &good).unwrap();
        assert!(read(&ipath, key(), "https://elsewhere/status.json", &trust).is_err());
        assert!(read(&ipath, key(), SRC, &TrustStore::default()).is_err());
        // Another machine's key (or a replaced key file) authenticates nothing here.
        std::fs::remove_file(&kpath).unwrap();
        assert!(read(&ipath, key(), SRC, &trust).is_err());
    }
}
