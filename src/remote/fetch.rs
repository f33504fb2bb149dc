//! One bounded HTTPS GET with conditional-request validators.
//!
//! The whole request (resolve, connect, TLS, answer, body) has one deadline, so a hook
//! never waits on a slow or black-holed status host for longer than the configured
//! refresh budget. No redirects: the configured URL is the one trusted location.

use std::path::Path;
use std::time::Duration;

/// Why a fetch produced nothing usable.
/// Clone so a refresh report can keep it; the transport error is shared, not copied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error(
        "`{0}` is not an https:// URL; status, passports and org policy are fetched over TLS only"
    )]
    NotHttps(String),
    #[error("CA file {0}")]
    Certificate(String),
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: std::sync::Arc<ureq::Error>,
    },
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// 304: the cached copy is still current.
    NotModified,
    /// 404/410: the server has no such document.
    Missing,
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Validators from the last good answer, sent back as If-None-Match / If-Modified-Since.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

/// An HTTPS client with one deadline per request.
pub struct Fetcher {
    agent: ureq::Agent,
}

/// Refuses anything but https (a signed document over plain HTTP can still be withheld
/// or replayed by anyone on the path, which delays a suspension past its bound).
pub fn check_url(url: &str) -> Result<url::Url, FetchError> {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => Ok(u),
        _ => Err(FetchError::NotHttps(url.into())),
    }
}

impl Fetcher {
    pub fn new(ca_file: Option<&Path>, timeout: Duration) -> Result<Fetcher, FetchError> {
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("toolgate/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            config =
                config.tls_config(crate::net::pinned_tls(path).map_err(FetchError::Certificate)?);
        }
        Ok(Fetcher {
            agent: config.build().into(),
        })
    }

    /// GETs `url`, reading at most `max_bytes` of body.
    pub fn get(
        &self,
        url: &str,
        validators: &Validators,
        max_bytes: usize,
    ) -> Result<Fetched, FetchError> {
        check_url(url)?;
        let transport = |e: ureq::Error| FetchError::Transport {
            url: url.into(),
            source: std::sync::Arc::new(e),
        };
        let mut req = self.agent.get(url);
        if let Some(e) = validators.etag {
            req = req.header("If-None-Match", e);
        }
        if let Some(m) = validators.last_modified {
            req = req.header("If-Modified-Since", m);
        }
        let mut resp = req.call().map_err(transport)?;
        let status = resp.status().as_u16();
        match status {
            304 => return Ok(Fetched::NotModified),
            404 | 410 => return Ok(Fetched::Missing),
            200 => {}
            _ => {
                return Err(FetchError::Status {
                    url: url.into(),
                    status,
                })
            }
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, last_modified) = (header("etag"), header("last-modified"));
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(max_bytes as u64)
            .read_to_vec()
            .map_err(transport)?;
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_are_fetched() {
        for bad in [
            "http://status.example/status.json",
            "file:///etc/status.json",
            "status.json",
            "https://",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url("https://status.example/fleet/status.json").is_ok());
    }

    #[test]
    fn a_transport_failure_keeps_its_cause() {
        // Nothing listens on a port just released: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let f = Fetcher::new(None, Duration::from_secs(2)).unwrap();
        let err = f
            .get(
                &format!("https://127.0.0.1:{port}/status.json"),
                &Validators::default(),
                1024,
            )
            .unwrap_err();
        assert!(matches!(err, FetchError::Transport { .. }), "{err}");
        let cause = std::error::Error::source(&err).expect("the ureq error");
        assert!(cause
            .downcast_ref::<std::sync::Arc<ureq::Error>>()
            .is_some());
        // Clone shares the cause rather than flattening it.
        assert!(std::error::Error::source(&err.clone()).is_some());
    }
}
