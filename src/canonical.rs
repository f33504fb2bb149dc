//! Strict JSON reading, RFC 8785 (JCS) canonical bytes, and the SHA-256 digests and HMACs
//! toolgate computes over bytes.
//!
//! Signed documents must mean one thing: a duplicate key lets two parsers see
//! two different documents behind one signature, and integers beyond 2^53 lose
//! precision in JavaScript verifiers. Both are refused before anything is
//! hashed or verified.

use hmac::{Hmac, Mac};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The largest integer every JSON implementation represents exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a document was refused by the strict reader.
#[derive(Debug, thiserror::Error)]
pub enum StrictJsonError {
    #[error("not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    #[error("document is not valid UTF-8")]
    NotUtf8,
}

/// HMAC-SHA256 (RFC 2104, over the same SHA-256 as every digest) of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    keyed(key, msg).finalize().into_bytes().into()
}

/// Whether `tag` is [`hmac_sha256`] of `msg` under `key`, compared in constant time.
pub fn hmac_sha256_matches(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    keyed(key, msg).verify_slice(tag).is_ok()
}

#[allow(
    clippy::expect_used,
    reason = "HMAC takes a key of any length: new_from_slice cannot fail for it"
)]
fn keyed(key: &[u8], msg: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts a key of any length");
    mac.update(msg);
    mac
}

/// Parses JSON, refusing duplicate object keys and unsafe integers.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    let text = std::str::from_utf8(bytes).map_err(|_| StrictJsonError::NotUtf8)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictSeed
        .deserialize(&mut de)
        .map_err(StrictJsonError::Syntax)?;
    de.end().map_err(StrictJsonError::Syntax)?;
    Ok(value)
}

/// JCS canonical bytes of a JSON value.
#[allow(
    clippy::expect_used,
    reason = "a serde_json::Value always canonicalises: its keys are strings and it cannot hold a non-finite number"
)]
pub fn jcs(value: &Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(value).expect("a serde_json::Value always canonicalises")
}

// toolgate's own types as JSON. They serialise infallibly: every map key is a string,
// no field holds a non-finite float, no serialiser of theirs returns an error, and
// writing into a `Vec` cannot fail. The `expect` that argument needs lives here once.

/// One of toolgate's own types as a JSON value.
#[allow(
    clippy::expect_used,
    reason = "see the note above: toolgate's types serialise infallibly"
)]
pub fn to_value<T: serde::Serialize + ?Sized>(t: &T) -> Value {
    serde_json::to_value(t).expect("toolgate's types serialise")
}

/// One of toolgate's own types as compact JSON bytes.
#[allow(
    clippy::expect_used,
    reason = "see the note above: toolgate's types serialise infallibly"
)]
pub fn to_vec<T: serde::Serialize + ?Sized>(t: &T) -> Vec<u8> {
    serde_json::to_vec(t).expect("toolgate's types serialise")
}

/// One of toolgate's own types as indented JSON text.
#[allow(
    clippy::expect_used,
    reason = "see the note above: toolgate's types serialise infallibly"
)]
pub fn to_string_pretty<T: serde::Serialize + ?Sized>(t: &T) -> String {
    serde_json::to_string_pretty(t).expect("toolgate's types serialise")
}

/// Appends one of toolgate's own types (or a string) as compact JSON.
#[allow(
    clippy::expect_used,
    reason = "see the note above: writing into a Vec cannot fail"
)]
pub fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, t: &T) {
    serde_json::to_writer(out, t).expect("writing JSON into a Vec cannot fail");
}

/// `sha256:<hex>` of the JCS bytes of a value: the OAP digest form.
pub fn digest(value: &Value) -> String {
    digest_bytes(&jcs(value))
}

/// `sha256:<hex>` of bytes that are already canonical.
pub fn digest_bytes(canonical: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(canonical)))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Both nibbles are below 16, so each is a hex digit.
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        if v.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(E::custom(format!("integer {v} is beyond 2^53")));
        }
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        if v > MAX_SAFE_INTEGER {
            return Err(E::custom(format!("integer {v} is beyond 2^53")));
        }
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        if v.is_finite() && v.fract() == 0.0 && v.abs() > MAX_SAFE_INTEGER as f64 {
            return Err(E::custom(format!("number {v} is beyond 2^53")));
        }
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let v = map.next_value_seed(StrictSeed)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// RFC 3339 in UTC with second precision.
pub fn timestamp(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Strips a UTF-8 byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicate_keys_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_strict(br#"{"x":{"b":1,"b":1}}"#).is_err());
        assert!(parse_strict(br#"[{"c":1},{"c":1}]"#).is_ok());
    }

    #[test]
    fn refuses_unsafe_integers() {
        assert!(parse_strict(b"9007199254740991").is_ok());
        assert!(parse_strict(b"9007199254740992").is_err());
        assert!(parse_strict(b"-9007199254740992").is_err());
        assert!(parse_strict(b"1e300").is_err());
        assert!(parse_strict(b"1.5").is_ok());
    }

    #[test]
    fn refuses_trailing_garbage_and_bad_utf8() {
        assert!(parse_strict(b"{} {}").is_err());
        assert!(parse_strict(b"\"\xff\"").is_err());
    }

    #[test]
    fn jcs_sorts_keys_and_is_stable() {
        let a = parse_strict(br#"{"b":1,"a":[true,null,"x"]}"#).unwrap();
        assert_eq!(jcs(&a), br#"{"a":[true,null,"x"],"b":1}"#.to_vec());
        let b = parse_strict(br#"{ "a" : [true, null, "x"], "b" : 1.0 }"#).unwrap();
        assert_eq!(digest(&a), digest(&b));
    }
}
