//! Where and how to export: toolgate's `telemetry` config section over the standard
//! `OTEL_*` variables. The config file wins because it is the operator's, sits on a path
//! agents cannot write, and is the only channel left where a host (Claude Code) strips
//! `OTEL_*` from a hook's environment.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How long a hook waits for the collector by default: a loopback collector answers in well
/// under a millisecond; anything slower is noted and left to `toolgate telemetry replay`.
pub const DEFAULT_BUDGET_MS: u64 = 5;
/// The OTLP default export timeout, used for bulk replay.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The OTLP/HTTP default endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// The `telemetry` section of `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// On or off. Unset: on when an endpoint is configured here or in `OTEL_*`.
    pub enabled: Option<bool>,
    /// Base URL; `/v1/traces` and `/v1/metrics` are appended (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Full traces URL, used as is (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub traces_endpoint: Option<String>,
    /// Full metrics URL, used as is (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`).
    pub metrics_endpoint: Option<String>,
    /// Only `http/protobuf` is implemented (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub protocol: Option<String>,
    /// Extra request headers, e.g. an API key (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: BTreeMap<String, String>,
    /// PEM file of CA certificates for an https collector (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub certificate: Option<PathBuf>,
    /// Bulk export timeout per request (`OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub timeout_ms: Option<u64>,
    /// The most a decision waits on export in hook mode (`TOOLGATE_OTEL_BUDGET_MS`).
    pub budget_ms: Option<u64>,
    /// `service.name` of the resource (`OTEL_SERVICE_NAME`); default `toolgate`.
    pub service_name: Option<String>,
    /// Send the decision counter and latency histogram too (off with `OTEL_METRICS_EXPORTER=none`).
    pub metrics: Option<bool>,
    /// Export the redacted tool arguments and check details. Off: only the input digest leaves.
    pub export_arguments: bool,
}

/// Resolved export settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub traces_url: String,
    /// `None` when metrics are off.
    pub metrics_url: Option<String>,
    pub headers: Vec<(String, String)>,
    pub certificate: Option<PathBuf>,
    pub timeout: Duration,
    pub budget: Duration,
    pub service_name: String,
    /// From `OTEL_RESOURCE_ATTRIBUTES`, beneath `service.name`.
    pub resource: Vec<(String, String)>,
    pub export_arguments: bool,
}

/// Why configured telemetry cannot run; noted in the audit record, never a deny.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("protocol {0} is not supported (only http/protobuf)")]
    Protocol(String),
    #[error("endpoint {0} is not an http or https URL")]
    Endpoint(String),
}

impl Settings {
    /// `Ok(None)` when telemetry is off. `env` is injected so resolution is testable.
    pub fn resolve(
        c: &TelemetryConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Settings>, SettingsError> {
        let var = |k: &str| {
            env(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let sdk_disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let base = c
            .endpoint
            .clone()
            .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let traces = c
            .traces_endpoint
            .clone()
            .or_else(|| var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
        let configured = base.is_some() || traces.is_some();
        if !c.enabled.unwrap_or(configured && !sdk_disabled) {
            return Ok(None);
        }
        let protocol = c
            .protocol
            .clone()
            .or_else(|| var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
            .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .unwrap_or_else(|| "http/protobuf".into());
        if protocol != "http/protobuf" {
            return Err(SettingsError::Protocol(protocol));
        }
        let base = base.unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        let signal = |path: &str| format!("{}/v1/{path}", base.trim_end_matches('/'));
        let traces_url = checked(traces.unwrap_or_else(|| signal("traces")))?;
        let metrics_on = c.metrics.unwrap_or_else(|| {
            var("OTEL_METRICS_EXPORTER").is_none_or(|v| !v.eq_ignore_ascii_case("none"))
        });
        let metrics_url = if metrics_on {
            let m = c
                .metrics_endpoint
                .clone()
                .or_else(|| var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
                .unwrap_or_else(|| signal("metrics"));
            Some(checked(m)?)
        } else {
            None
        };
        let mut headers: BTreeMap<String, String> = var("OTEL_EXPORTER_OTLP_HEADERS")
            .map(|h| parse_pairs(&h).into_iter().collect())
            .unwrap_or_default();
        headers.extend(c.headers.clone());
        let ms = |cfg: Option<u64>, name: &str, default: u64| {
            cfg.or_else(|| var(name).and_then(|v| v.parse().ok()))
                .unwrap_or(default)
        };
        let timeout = Duration::from_millis(ms(
            c.timeout_ms,
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            DEFAULT_TIMEOUT_MS,
        ));
        let budget = Duration::from_millis(ms(
            c.budget_ms,
            "TOOLGATE_OTEL_BUDGET_MS",
            DEFAULT_BUDGET_MS,
        ))
        .min(timeout);
        Ok(Some(Settings {
            traces_url,
            metrics_url,
            headers: headers.into_iter().collect(),
            certificate: c
                .certificate
                .clone()
                .or_else(|| var("OTEL_EXPORTER_OTLP_CERTIFICATE").map(PathBuf::from)),
            timeout,
            budget,
            service_name: c
                .service_name
                .clone()
                .or_else(|| var("OTEL_SERVICE_NAME"))
                .unwrap_or_else(|| "toolgate".into()),
            resource: var("OTEL_RESOURCE_ATTRIBUTES")
                .map(|r| parse_pairs(&r))
                .unwrap_or_default(),
            export_arguments: c.export_arguments,
        }))
    }
}

fn checked(url: String) -> Result<String, SettingsError> {
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(url),
        _ => Err(SettingsError::Endpoint(url)),
    }
}

/// `k1=v1,k2=v2` with percent-encoded values, the W3C Baggage-like form the OTel spec uses
/// for `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`. Malformed pairs are skipped.
pub fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn off_unless_an_endpoint_or_enabled() {
        let c = TelemetryConfig::default();
        assert_eq!(Settings::resolve(&c, &env(&[])).unwrap(), None);
        let on = TelemetryConfig {
            enabled: Some(true),
            ..Default::default()
        };
        let s = Settings::resolve(&on, &env(&[])).unwrap().unwrap();
        assert_eq!(s.traces_url, "http://localhost:4318/v1/traces");
        assert_eq!(s.budget, Duration::from_millis(DEFAULT_BUDGET_MS));
        let sdk_off = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert_eq!(Settings::resolve(&c, &env(&sdk_off)).unwrap(), None);
    }

    #[test]
    fn config_file_beats_environment() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%3Db,x=1,broken"),
            ("OTEL_SERVICE_NAME", "from-env"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "3"),
        ];
        let s = Settings::resolve(&TelemetryConfig::default(), &env(&vars))
            .unwrap()
            .unwrap();
        assert_eq!(s.traces_url, "http://env:4318/v1/traces");
        assert_eq!(s.metrics_url, None);
        assert_eq!(
            s.headers,
            vec![("api-key".into(), "a=b".into()), ("x".into(), "1".into())]
        );
        assert_eq!(s.service_name, "from-env");
        assert_eq!(
            s.budget,
            Duration::from_millis(3),
            "budget never exceeds the timeout"
        );

        let mut c = TelemetryConfig {
            traces_endpoint: Some("https://file/otlp/traces".into()),
            service_name: Some("from-file".into()),
            metrics: Some(true),
            ..Default::default()
        };
        c.headers.insert("x".into(), "2".into());
        let s = Settings::resolve(&c, &env(&vars)).unwrap().unwrap();
        assert_eq!(s.traces_url, "https://file/otlp/traces");
        assert_eq!(s.metrics_url.as_deref(), Some("http://env:4318/v1/metrics"));
        assert_eq!(s.service_name, "from-file");
        assert!(s.headers.contains(&("x".into(), "2".into())));
    }

    #[test]
    fn unsupported_protocol_and_bad_endpoint_are_errors() {
        let c = TelemetryConfig {
            enabled: Some(true),
            protocol: Some("grpc".into()),
            ..Default::default()
        };
        assert_eq!(
            Settings::resolve(&c, &env(&[])),
            Err(SettingsError::Protocol("grpc".into()))
        );
        let c = TelemetryConfig {
            endpoint: Some("file:///etc/passwd".into()),
            ..Default::default()
        };
        assert!(matches!(
            Settings::resolve(&c, &env(&[])),
            Err(SettingsError::Endpoint(_))
        ));
    }
}
