//! Redaction of secrets from tool input before it is stored or exported.

use serde_json::Value;

/// Keys whose values are always replaced.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "private_key",
    "access_key",
    "credential",
];

/// Replaces values under secret-looking keys, and secret-looking string values, with `[REDACTED]`.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let lk = k.to_ascii_lowercase();
                    if SECRET_KEYS.iter().any(|s| lk.contains(s)) {
                        (k.clone(), Value::String("[REDACTED]".into()))
                    } else {
                        (k.clone(), redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        Value::String(s) if looks_secret(s) => Value::String("[REDACTED]".into()),
        other => other.clone(),
    }
}

/// Well-known credential prefixes.
fn looks_secret(s: &str) -> bool {
    [
        "ghp_",
        "github_pat_",
        "sk-",
        "xoxb-",
        "xoxp-",
        "AKIA",
        "-----BEGIN",
    ]
    .iter()
    .any(|p| s.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_keys_and_known_prefixes() {
        let v = json!({"command": "curl -H 'Authorization: x' ", "api_key": "abc", "n": [{"GITHUB_TOKEN": "q"}, "ghp_abc"]});
        let r = redact(&v);
        assert_eq!(r["api_key"], "[REDACTED]");
        assert_eq!(r["n"][0]["GITHUB_TOKEN"], "[REDACTED]");
        assert_eq!(r["n"][1], "[REDACTED]");
        assert_eq!(r["command"], v["command"]);
    }
}
