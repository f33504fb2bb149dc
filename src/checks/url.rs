//! URLs: parsed by a WHATWG parser before any host is compared, so the host
//! judged is the host the tool will connect to.

use super::{string_field, string_list, CheckInput, CheckResult};
use crate::reason::ReasonCode;
use url::{Host, Url};

/// Parses a URL and refuses forms that smuggle a different host past a reader.
pub fn parse_strict(raw: &str) -> Result<Url, String> {
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the URL contains whitespace or control characters".into());
    }
    if raw.contains('\\') {
        return Err("the URL contains a backslash".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme `{}` is not http or https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries user information (`user@host`)".into());
    }
    // The authority as written: between "//" and the next "/", "?" or "#".
    let after = raw.split_once("//").map(|x| x.1).unwrap_or("");
    let authority = after.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('%') {
        return Err("the URL's host is percent-encoded".into());
    }
    Ok(url)
}

/// Lower-case host with one trailing dot removed (the parser has already applied IDNA).
fn host_name(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// `*.example.org` matches strict subdomains; `example.org` matches itself only.
pub fn domain_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let pattern = host_name(&pattern);
    match pattern.strip_prefix("*.") {
        Some(base) => {
            host.len() > base.len() + 1
                && host.ends_with(base)
                && host[..host.len() - base.len()].ends_with('.')
        }
        None => host == pattern,
    }
}

pub fn check(
    input: &CheckInput,
    field: &str,
    allowed: Option<&str>,
    blocked: Option<&str>,
) -> CheckResult {
    let raw = match string_field(input, field) {
        Ok(Some(r)) => r,
        Ok(None) => return CheckResult::Skip(format!("no `{field}` in the call")),
        Err(e) => return e,
    };
    let url = match parse_strict(raw) {
        Ok(u) => u,
        Err(why) => return CheckResult::deny(ReasonCode::UrlInvalid, why),
    };
    let list = |n: Option<&str>| match n.map(|n| string_list(input, n)) {
        Some(Ok(Some(l))) => Ok(l),
        Some(Err(e)) => Err(e),
        _ => Ok(vec![]),
    };
    let (allow, block) = match (list(allowed), list(blocked)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let host = match url.host() {
        Some(Host::Domain(d)) => host_name(d).to_string(),
        Some(Host::Ipv4(ip)) => {
            let text = ip.to_string();
            return if allow.contains(&text.as_str()) {
                CheckResult::pass(format!("IP {text} is explicitly allowed"))
            } else {
                CheckResult::deny(
                    ReasonCode::DomainNotAllowed,
                    format!("IP address {text} is not explicitly allowed"),
                )
            };
        }
        Some(Host::Ipv6(ip)) => {
            let text = format!("[{ip}]");
            return if allow.contains(&text.as_str()) {
                CheckResult::pass(format!("IP {text} is explicitly allowed"))
            } else {
                CheckResult::deny(
                    ReasonCode::DomainNotAllowed,
                    format!("IP address {text} is not explicitly allowed"),
                )
            };
        }
        None => return CheckResult::deny(ReasonCode::UrlInvalid, "the URL has no host"),
    };
    if let Some(p) = block.iter().find(|p| domain_matches(p, &host)) {
        return CheckResult::deny(
            ReasonCode::DomainNotAllowed,
            format!("{host} matches blocked domain {p}"),
        );
    }
    if allowed.is_none() {
        return CheckResult::pass(format!("{host} is not blocked"));
    }
    match allow.iter().find(|p| domain_matches(p, &host)) {
        Some(p) => CheckResult::pass(format!("{host} matches {p}")),
        None => CheckResult::deny(
            ReasonCode::DomainNotAllowed,
            format!("{host} is not an allowed domain"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matches_subdomains_only() {
        assert!(domain_matches("*.example.org", "a.example.org"));
        assert!(domain_matches("*.example.org", "a.b.example.org"));
        assert!(!domain_matches("*.example.org", "example.org"));
        assert!(!domain_matches("*.example.org", "evilexample.org"));
        assert!(domain_matches("Example.org.", "example.org"));
        assert!(!domain_matches("example.org", "example.org.evil.com"));
    }

    #[test]
    fn strict_parse_refuses_smuggling() {
        assert!(parse_strict("https://example.org@evil.com/").is_err());
        assert!(parse_strict("https://evil.com\\@example.org/").is_err());
        assert!(parse_strict("file:///etc/passwd").is_err());
        assert!(parse_strict("https://ex%61mple.org/").is_err());
        assert!(parse_strict("https://example.org/a%20b").is_ok());
    }
}
