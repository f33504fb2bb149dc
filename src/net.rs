//! HTTPS client setup shared by every outbound request (OTLP export, fleet status).

use std::path::Path;

/// The certificates of a PEM CA file, refusing a file that holds none: a bad CA file
/// must be an error, never a silent fall-back to the public roots.
pub fn root_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}

/// A TLS configuration that trusts only the CA file's certificates.
pub fn pinned_tls(path: &Path) -> Result<ureq::tls::TlsConfig, String> {
    let certs = root_certs(path)?;
    Ok(ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .build())
}
