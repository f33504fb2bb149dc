//! A static HTTPS file server on 127.0.0.1 with a CA made for the test, standing in for
//! the object store or web server a team publishes its status documents on. It answers
//! GET with ETag / Last-Modified and 304 on a matching If-None-Match, closes every
//! connection after one answer, and stops by itself after two minutes at most.

#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAX_LIFETIME: Duration = Duration::from_secs(120);

pub struct StaticHttps {
    pub addr: SocketAddr,
    /// The CA certificate (PEM) that signed the server's certificate.
    pub ca_pem: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A CA and a leaf certificate for 127.0.0.1 and localhost.
pub struct Pki {
    pub ca_pem: String,
    leaf_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl Pki {
    pub fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "toolgate test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf.subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            leaf_der: leaf_cert.der().to_vec(),
            key_der: leaf_key.serialize_der(),
        }
    }
}

impl StaticHttps {
    /// Serves `dir` on a free loopback port.
    pub fn start(dir: &Path, pki: &Pki) -> StaticHttps {
        Self::start_on(dir, pki, 0)
    }

    /// Serves `dir` on `port` (0 for any), e.g. to bring a stopped server back.
    pub fn start_on(dir: &Path, pki: &Pki, port: u16) -> StaticHttps {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(pki.leaf_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone())),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(vec![]));
        let (s, l, root) = (stop.clone(), log.clone(), dir.to_path_buf());
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while !s.load(Ordering::SeqCst) && started.elapsed() < MAX_LIFETIME {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let _ = tcp.set_nonblocking(false);
                        let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                        let _ = tcp.set_write_timeout(Some(Duration::from_secs(5)));
                        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                        let mut tls = rustls::StreamOwned::new(conn, tcp);
                        if let Some(line) = serve(&mut tls, &root) {
                            l.lock().unwrap().push(line);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        StaticHttps {
            addr,
            ca_pem: pki.ca_pem.clone(),
            stop,
            log,
            thread: Some(thread),
        }
    }

    pub fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/{name}", self.addr.port())
    }

    /// `GET /path STATUS` for each answered request, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Stops listening: the port refuses connections afterwards.
    pub fn stop(mut self) -> u16 {
        self.halt();
        self.addr.port()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StaticHttps {
    fn drop(&mut self) {
        self.halt();
    }
}

fn etag(body: &[u8]) -> String {
    let h = Sha256::digest(body);
    format!(
        "\"{}\"",
        h.iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn serve(tls: &mut impl ReadWrite, root: &Path) -> Option<String> {
    let mut req = Vec::new();
    let mut buf = [0u8; 2048];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf).ok()?;
        if n == 0 || req.len() > 16 * 1024 {
            return None;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&req).into_owned();
    let mut lines = text.lines();
    let first = lines.next()?;
    let path = first.split_whitespace().nth(1)?.to_string();
    let inm = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("if-none-match"))
        .map(|(_, v)| v.trim().to_string());
    let file: PathBuf = root.join(path.trim_start_matches('/'));
    let (status, body, tag) = match std::fs::read(&file) {
        Ok(b) if !path.contains("..") => {
            let t = etag(&b);
            if inm.as_deref() == Some(t.as_str()) {
                (304, vec![], Some(t))
            } else {
                (200, b, Some(t))
            }
        }
        _ => (404, b"not found".to_vec(), None),
    };
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        _ => "Not Found",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\nLast-Modified: Thu, 01 Jan 2026 00:00:00 GMT\r\n");
    if let Some(t) = tag {
        head.push_str(&format!("ETag: {t}\r\n"));
    }
    if status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).ok()?;
    tls.write_all(&body).ok()?;
    tls.flush().ok()?;
    tls.close();
    Some(format!("GET {path} {status}"))
}

/// The stream operations `serve` needs, so the TLS stream can close cleanly.
pub trait ReadWrite: Read + Write {
    fn close(&mut self);
}

impl ReadWrite for rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream> {
    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.conn.complete_io(&mut self.sock);
    }
}
