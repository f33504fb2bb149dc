//! URLs: parsed by a WHATWG parser before any host is compared, so the host
//! judged is the host the tool will connect to.

use super::{string_field, string_list, CheckInput, CheckResult};
use crate::reason::ReasonCode;
use std::net::{Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Schemes accepted when the passport names none.
const DEFAULT_SCHEMES: &[&str] = &["http", "https"];
/// The limit that widens the accepted schemes.
pub const SCHEMES_LIMIT: &str = "allowed_schemes";
/// The limit that lets a bare entry (`example.org`) cover its subdomains too, as APort
/// reads every bare entry; without it a bare entry is that host only and `*.example.org`
/// names the subdomains.
pub const SUBDOMAINS_LIMIT: &str = "allow_subdomains";

/// Host names that reach the local machine or a cloud metadata service
/// whatever DNS says; only an exact (non-wildcard) entry allows them.
const SPECIAL_HOSTS: &[&str] = &[
    "localhost",
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Parses a URL and refuses forms that smuggle a different host past a reader.
pub fn parse_strict(raw: &str, schemes: &[&str]) -> Result<Url, String> {
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the URL contains whitespace or control characters".into());
    }
    if raw.contains('\\') {
        return Err("the URL contains a backslash".into());
    }
    // The scheme and `//` exactly as written: `https:/host` and `https:host` are
    // repaired by WHATWG parsers but read differently by other clients.
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err("the URL does not start with `scheme://`".into());
    };
    let scheme = scheme.to_ascii_lowercase();
    if !schemes.contains(&scheme.as_str()) {
        return Err(format!(
            "scheme `{scheme}` is not allowed (allowed: {})",
            schemes.join(", ")
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("the URL carries user information (`user@host`)".into());
    }
    if authority.contains('%') {
        return Err("the URL's host is percent-encoded".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a valid URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries user information (`user@host`)".into());
    }
    Ok(url)
}

/// One trailing dot removed (the parser has already applied IDNA and lower-cased).
fn host_name(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// Longest DNS name (RFC 1035), without the trailing dot.
const MAX_DNS_NAME: usize = 253;
/// Longest DNS label (RFC 1035).
const MAX_DNS_LABEL: usize = 63;

/// Whether a parsed host is a name a resolver would look up: letters, digits
/// and inner hyphens (RFC 952/1123, punycode after IDNA), 1..=63 bytes a label,
/// 253 in all. WHATWG parsers accept `*`, `_`, `!` and more in hosts; a
/// fetcher that then resolves or rewrites such a name is not judged by it.
pub fn dns_name(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("it is empty".into());
    }
    if host.len() > MAX_DNS_NAME {
        return Err(format!("it is longer than {MAX_DNS_NAME} bytes"));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err("it has an empty label".into());
        }
        if label.len() > MAX_DNS_LABEL {
            return Err(format!(
                "label `{label}` is longer than {MAX_DNS_LABEL} bytes"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!("label `{label}` contains `{c}`"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` starts or ends with `-`"));
        }
    }
    Ok(())
}

/// A passport domain entry in the form hosts are compared in: IDNA, lower case,
/// one trailing dot removed. `None` when it is not a domain name.
fn normalize_entry(entry: &str) -> Option<(bool, String)> {
    let (wild, base) = match entry.strip_prefix("*.") {
        Some(b) => (true, b),
        None => (false, entry),
    };
    match Host::parse(base).ok()? {
        Host::Domain(d) => Some((wild, host_name(&d).to_string())),
        Host::Ipv4(_) | Host::Ipv6(_) => None,
    }
}

/// `*.example.org` matches strict subdomains; `example.org` matches itself only.
/// Compared label by label, so `evilexample.org` never matches `*.example.org`.
pub fn domain_matches(pattern: &str, host: &str) -> bool {
    entry_matches(pattern, host, false)
}

/// [`domain_matches`], where with `subdomains` a bare entry also matches every
/// subdomain of itself (`example.org` then covers `a.example.org`, never `evilexample.org`).
fn entry_matches(pattern: &str, host: &str, subdomains: bool) -> bool {
    let Some((wild, base)) = normalize_entry(pattern) else {
        return false;
    };
    let host: Vec<&str> = host.split('.').collect();
    let base: Vec<&str> = base.split('.').collect();
    let below = host.len() > base.len() && host.ends_with(&base);
    if wild {
        below
    } else {
        host == base || (subdomains && below)
    }
}

/// Why an address is special, for the message.
fn ipv4_class(ip: Ipv4Addr) -> &'static str {
    let o = ip.octets();
    if ip.is_loopback() {
        "a loopback address"
    } else if o[0] == 169 && o[1] == 254 {
        "a link-local (cloud metadata) address"
    } else if ip.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
        "a private address"
    } else if ip.is_unspecified() || ip.is_broadcast() || o[0] == 0 {
        "an unroutable address"
    } else {
        "an IP address"
    }
}

fn ipv6_class(ip: Ipv6Addr) -> &'static str {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_class(v4);
    }
    let s = ip.segments();
    if ip.is_loopback() || ip.is_unspecified() {
        "a loopback address"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "a link-local address"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "a private (unique local) address"
    } else if s[0] == 0xfd00 && s[1] == 0x0ec2 {
        "a cloud metadata address"
    } else {
        "an IP address"
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
    let schemes = match string_list(input, SCHEMES_LIMIT) {
        Ok(Some(s)) => s,
        Ok(None) => DEFAULT_SCHEMES.to_vec(),
        Err(e) => return e,
    };
    let url = match parse_strict(raw, &schemes) {
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
    let subdomains = match super::values::bool_limit(input, SUBDOMAINS_LIMIT) {
        Ok(v) => v.unwrap_or(false),
        Err(e) => return e,
    };
    let matches = |p: &&str, host: &str| entry_matches(p, host, subdomains);
    // An IP literal (whatever its spelling: decimal, hex, octal, v4-mapped) is
    // allowed only by an entry naming that exact address.
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => Some((ip.to_string(), ipv4_class(ip))),
        Some(Host::Ipv6(ip)) => Some((format!("[{ip}]"), ipv6_class(ip))),
        Some(Host::Domain(_)) => None,
        None => return CheckResult::deny(ReasonCode::UrlInvalid, "the URL has no host"),
    };
    if let Some((text, class)) = ip {
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        let listed = |l: &[&str]| l.iter().any(|e| *e == text || *e == bare);
        return if listed(&block) {
            CheckResult::deny(
                ReasonCode::DomainNotAllowed,
                format!("{text} is a blocked address"),
            )
        } else if listed(&allow) {
            CheckResult::pass(format!("{text} is explicitly allowed"))
        } else {
            CheckResult::deny(
                ReasonCode::DomainNotAllowed,
                format!("{text} is {class}, and IP addresses need an exact entry in the allowed domains"),
            )
        };
    }
    let host = match url.host() {
        Some(Host::Domain(d)) => host_name(d).to_string(),
        _ => return CheckResult::deny(ReasonCode::UrlInvalid, "the URL has no host"),
    };
    if let Err(why) = dns_name(&host) {
        return CheckResult::deny(
            ReasonCode::UrlInvalid,
            format!("`{host}` is not a valid DNS host name: {why}"),
        );
    }
    // A block is read the fail-closed way: a bare blocked entry covers its subdomains whatever
    // `allow_subdomains` says, so `*.corp.example` allowed with `vault.corp.example` blocked
    // never lets `a.vault.corp.example` through.
    if let Some(p) = block.iter().find(|p| entry_matches(p, &host, true)) {
        if let Some(n) = blocked {
            input.hits.entry(n, p);
        }
        return CheckResult::deny(
            ReasonCode::DomainNotAllowed,
            format!("{host} matches blocked domain {p}"),
        );
    }
    let special = SPECIAL_HOSTS.contains(&host.as_str())
        || host.ends_with(".localhost")
        || host.ends_with(".internal");
    if special {
        let exact = allow
            .iter()
            .any(|p| normalize_entry(p).is_some_and(|(wild, base)| !wild && base == host));
        return if exact {
            CheckResult::pass(format!("{host} is explicitly allowed"))
        } else {
            CheckResult::deny(
                ReasonCode::DomainNotAllowed,
                format!("{host} reaches the local machine or a metadata service; only an exact entry allows it"),
            )
        };
    }
    if allowed.is_none() {
        return CheckResult::pass(format!("{host} is not blocked"));
    }
    match allow.iter().find(|p| matches(p, &host)) {
        Some(p) => {
            if let Some(n) = allowed {
                input.hits.entry(n, p);
            }
            CheckResult::pass(format!("{host} matches {p}"))
        }
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
        assert!(domain_matches("*.münchen.de", "a.xn--mnchen-3ya.de"));
        assert!(domain_matches("EXAMPLE.org", "example.org"));
    }

    #[test]
    fn with_subdomains_a_bare_entry_covers_its_subdomains_only() {
        assert!(entry_matches("example.org", "a.b.example.org", true));
        assert!(entry_matches("example.org", "example.org", true));
        assert!(!entry_matches("example.org", "evilexample.org", true));
        assert!(!entry_matches("example.org", "example.org.evil.com", true));
        assert!(!entry_matches("*.example.org", "example.org", true));
        assert!(!entry_matches("example.org", "a.example.org", false));
    }

    #[test]
    fn hosts_must_be_dns_names() {
        for ok in [
            "example.org",
            "a-b.example.org",
            "xn--mnchen-3ya.de",
            "localhost",
            "1x.io",
        ] {
            assert!(dns_name(ok).is_ok(), "{ok}");
        }
        let long = format!("{}.org", "a".repeat(64));
        for bad in [
            "*",
            "*.example.org",
            "_dmarc.example.org",
            "a..b",
            "",
            "-a.org",
            "a-.org",
            "a_b",
            &long,
        ] {
            assert!(dns_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strict_parse_refuses_smuggling() {
        let p = |u: &str| parse_strict(u, DEFAULT_SCHEMES);
        assert!(p("https://example.org@evil.com/").is_err());
        assert!(p("https://evil.com\\@example.org/").is_err());
        assert!(p("file:///etc/passwd").is_err());
        assert!(p("https://ex%61mple.org/").is_err());
        assert!(p("https:/example.org/").is_err());
        assert!(p("https://example.org/a%20b").is_ok());
        assert!(p("HTTPS://example.org/").is_ok());
    }
}
