//! A pack's `required_context`: the JSON Schema (as OAP and APort packs carry it) that a
//! call's context must satisfy before any check reads it. Compiled once, when the pack
//! is parsed, by a real JSON Schema validator; a schema that does not compile makes the
//! pack invalid, so a typo in a pack denies rather than lets every context through.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The compiled schema and the text it came from (kept for `Serialize` and `--explain`).
#[derive(Clone)]
pub struct ContextSchema {
    source: Value,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for ContextSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextSchema")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ContextSchema {
    /// Compiles a schema. No resolver reaches a file or the network: a `$ref` must be local.
    pub fn compile(source: Value) -> Result<ContextSchema, String> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&source)
            .map_err(|e| format!("required_context is not a usable JSON Schema: {e}"))?;
        Ok(ContextSchema {
            source,
            validator: Arc::new(validator),
        })
    }

    /// `Ok` when the context satisfies the schema, else the first violation, located.
    pub fn check(&self, context: &Map<String, Value>) -> Result<(), String> {
        // The validator reads a `Value`; the context is small (bounded with the input).
        let doc = Value::Object(context.clone());
        let first = self.validator.iter_errors(&doc).next().map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        });
        first.map_or(Ok(()), Err)
    }
}

impl Serialize for ContextSchema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ContextSchema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ContextSchema::compile(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refund() -> ContextSchema {
        ContextSchema::compile(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "required": ["amount", "idempotency_key"],
            "properties": {
                "amount": {"type": "integer", "minimum": 1},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "idempotency_key": {"type": "string", "minLength": 8}
            }
        }))
        .unwrap()
    }

    fn ctx(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn violations_are_located_and_good_contexts_pass() {
        let s = refund();
        assert!(s
            .check(&ctx(json!({"amount": 5, "idempotency_key": "abcdefgh"})))
            .is_ok());
        let e = s
            .check(&ctx(json!({"amount": 0, "idempotency_key": "abcdefgh"})))
            .unwrap_err();
        assert!(e.starts_with("/amount"), "{e}");
        let e = s
            .check(&ctx(json!({"amount": 5, "idempotency_key": "k"})))
            .unwrap_err();
        assert!(e.starts_with("/idempotency_key"), "{e}");
        assert!(s
            .check(&ctx(
                json!({"amount": 5, "idempotency_key": "abcdefgh", "currency": "usd"})
            ))
            .is_err());
        assert!(s.check(&ctx(json!({"amount": 5}))).is_err(), "required");
        assert!(s
            .check(&ctx(json!({"amount": 1.5, "idempotency_key": "abcdefgh"})))
            .is_err());
    }

    #[test]
    fn a_schema_that_does_not_compile_or_reaches_outside_is_refused() {
        assert!(ContextSchema::compile(json!({"type": "no-such-type"})).is_err());
        assert!(ContextSchema::compile(json!({"pattern": "("})).is_err());
        assert!(ContextSchema::compile(json!({"$ref": "https://example.com/s.json"})).is_err());
    }
}
