//! OTLP/HTTP with protobuf bodies over a blocking client with hard timeouts.

use super::{ExportError, Settings};
use prost::Message;
use std::time::Duration;

/// A client for one collector. TLS is only set up if an https URL is used.
pub struct Exporter {
    agent: ureq::Agent,
    headers: Vec<(String, String)>,
}

impl Exporter {
    /// `timeout` bounds each request whole: resolve, connect, TLS, send and answer. When the
    /// caller already bounds the whole export on its own thread (`guarded`, hook mode), the
    /// name lookup runs inline: a timed lookup costs ureq a watchdog thread per request,
    /// which on a loaded machine was most of the export's cost.
    pub fn new(
        settings: &Settings,
        timeout: Duration,
        guarded: bool,
    ) -> Result<Exporter, ExportError> {
        let t = Some(timeout);
        let config = ureq::Agent::config_builder();
        let mut config = if guarded {
            config
                .timeout_connect(t)
                .timeout_send_request(t)
                .timeout_send_body(t)
                .timeout_recv_response(t)
                .timeout_recv_body(t)
        } else {
            config.timeout_global(t)
        };
        config = config
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("toolgate/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.certificate {
            config =
                config.tls_config(crate::net::pinned_tls(path).map_err(ExportError::Certificate)?);
        }
        Ok(Exporter {
            agent: config.build().into(),
            headers: settings.headers.clone(),
        })
    }

    /// POSTs one OTLP message. Any answer but 2xx is an error; nothing is retried here.
    pub fn post(&self, url: &str, msg: &impl Message) -> Result<(), ExportError> {
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/x-protobuf");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req
            .send(msg.encode_to_vec())
            .map_err(|e| ExportError::Send(e.to_string()))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(ExportError::Status(status.as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::TelemetryConfig;

    fn settings(certificate: &std::path::Path) -> Settings {
        let c = TelemetryConfig {
            enabled: Some(true),
            endpoint: Some("https://127.0.0.1:1".into()),
            protocol: Some("http/protobuf".into()),
            certificate: Some(certificate.into()),
            ..Default::default()
        };
        Settings::resolve(&c, &|_| None).unwrap().unwrap()
    }

    #[test]
    fn a_bad_ca_file_is_an_export_error_not_a_fallback_to_default_roots() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for path in [missing, empty] {
            let r = Exporter::new(&settings(&path), Duration::from_millis(5), true);
            assert!(matches!(r, Err(ExportError::Certificate(_))), "{path:?}");
        }
    }
}
