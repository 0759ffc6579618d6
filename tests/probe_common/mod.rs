//! Shared fixtures for the probe integration tests: a test PKI (rcgen, plus the `openssl`
//! CLI where rcgen cannot: SHA-1 signatures and RSA keys), local TLS servers (tokio-rustls on
//! 127.0.0.1:0), plain HTTP servers, and helpers to run external legacy TLS servers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dvc_audit::probe::{ProbeConfig, WebRoots};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration as TimeDuration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A CA: its certificate and an issuer to sign with.
pub struct Ca {
    pub cert: CertificateDer<'static>,
    pub key: KeyPair,
    pub issuer: Issuer<'static, KeyPair>,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn ec_key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

impl Ca {
    pub fn root(cn: &str) -> Ca {
        let key = ec_key();
        let params = ca_params(cn);
        let cert = params.self_signed(&key).unwrap().der().clone();
        let issuer = Issuer::new(params, ec_key_clone(&key));
        Ca { cert, key, issuer }
    }

    pub fn intermediate(&self, cn: &str) -> Ca {
        let key = ec_key();
        let params = ca_params(cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap().der().clone();
        let issuer = Issuer::new(params, ec_key_clone(&key));
        Ca { cert, key, issuer }
    }

    /// Issue a leaf for `leaf.key` with `leaf`'s options.
    pub fn issue(&self, leaf: &LeafSpec) -> CertificateDer<'static> {
        leaf.params()
            .signed_by(&leaf.key, &self.issuer)
            .unwrap()
            .der()
            .clone()
    }

    pub fn pem(&self) -> String {
        pem("CERTIFICATE", &self.cert)
    }
}

fn ec_key_clone(k: &KeyPair) -> KeyPair {
    KeyPair::from_pem(&k.serialize_pem()).unwrap()
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use std::fmt::Write;
    let b64 = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        let _ = writeln!(out, "{}", String::from_utf8_lossy(chunk));
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Options of a leaf certificate.
pub struct LeafSpec {
    pub names: Vec<String>,
    pub cn: String,
    pub san: bool,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub key: KeyPair,
    /// AIA caIssuers URL (where the issuer certificate is published), if any.
    pub aia_ca_issuers: Option<String>,
    /// CRL distribution point URL, if any.
    pub crl_url: Option<String>,
    /// AIA OCSP responder URL, if any.
    pub ocsp_url: Option<String>,
}

impl LeafSpec {
    pub fn new(name: &str) -> LeafSpec {
        let now = OffsetDateTime::now_utc();
        LeafSpec {
            names: vec![name.to_string()],
            cn: name.to_string(),
            san: true,
            not_before: now - TimeDuration::days(10),
            not_after: now + TimeDuration::days(90),
            key: ec_key(),
            aia_ca_issuers: None,
            crl_url: None,
            ocsp_url: None,
        }
    }
    pub fn aia(mut self, url: &str) -> Self {
        self.aia_ca_issuers = Some(url.to_string());
        self
    }
    pub fn crl(mut self, url: &str) -> Self {
        self.crl_url = Some(url.to_string());
        self
    }
    pub fn ocsp(mut self, url: &str) -> Self {
        self.ocsp_url = Some(url.to_string());
        self
    }
    pub fn valid(mut self, from_days: i64, to_days: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_before = now + TimeDuration::days(from_days);
        self.not_after = now + TimeDuration::days(to_days);
        self
    }
    pub fn key(mut self, key: KeyPair) -> Self {
        self.key = key;
        self
    }
    pub fn no_san(mut self) -> Self {
        self.san = false;
        self
    }
    fn params(&self) -> CertificateParams {
        let names = if self.san {
            self.names.clone()
        } else {
            Vec::new()
        };
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name = dn(&self.cn);
        p.not_before = self.not_before;
        p.not_after = self.not_after;
        let mut access = Vec::new();
        if let Some(url) = &self.ocsp_url {
            access.extend(access_description(&[1, 3, 6, 1, 5, 5, 7, 48, 1], url));
        }
        if let Some(url) = &self.aia_ca_issuers {
            access.extend(access_description(&[1, 3, 6, 1, 5, 5, 7, 48, 2], url));
        }
        if !access.is_empty() {
            p.custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                    der(0x30, &access),
                ));
        }
        if let Some(url) = &self.crl_url {
            p.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
                uris: vec![url.clone()],
            }];
        }
        p
    }
    pub fn self_signed(&self) -> CertificateDer<'static> {
        self.params().self_signed(&self.key).unwrap().der().clone()
    }
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key.serialize_pem().as_bytes()).unwrap()
    }
}

/// A DER TLV (definite length).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 128 {
        out.push(n as u8);
    } else if n < 256 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// `AccessDescription ::= SEQUENCE { accessMethod OID, accessLocation [6] IA5String }`.
fn access_description(oid: &[u64], url: &str) -> Vec<u8> {
    let mut body = der(0x06, &oid_content(oid));
    body.extend(der(0x86, url.as_bytes()));
    der(0x30, &body)
}

fn oid_content(oid: &[u64]) -> Vec<u8> {
    let mut out = vec![(oid[0] * 40 + oid[1]) as u8];
    for &arc in &oid[2..] {
        let mut bytes = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            bytes.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        bytes.reverse();
        out.extend(bytes);
    }
    out
}

/// What the TLS fixture server sends.
#[derive(Clone)]
pub struct Serve {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
    pub ocsp: Vec<u8>,
    /// Extra response header lines, e.g. `Strict-Transport-Security: max-age=60`.
    pub headers: Vec<String>,
    /// Protocol versions offered (empty: rustls' defaults, TLS 1.2 and 1.3).
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
    /// Sign the handshake with this key instead of the chain's own (a server that does not
    /// hold its certificate's key); `None`: `key`.
    pub sign_with: Option<Arc<PrivateKeyDer<'static>>>,
}

/// Serves one chain and signs with one key, whether or not they belong together (rustls's
/// `with_single_cert` refuses a mismatch; a broken or impersonating server does not).
#[derive(Debug)]
struct AnyKey(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for AnyKey {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl Serve {
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Serve {
        Serve {
            chain,
            key: Arc::new(key),
            ocsp: Vec::new(),
            headers: Vec::new(),
            versions: Vec::new(),
            sign_with: None,
        }
    }
}

/// Serve TLS (1.2 and 1.3, rustls defaults) on 127.0.0.1:0; answers any request with 200.
pub async fn serve_tls(s: Serve) -> u16 {
    let cfg = tls_server_config(&s);
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    serve_tls_on(s, cfg, listener)
}

/// Serve TLS as [`serve_tls`] does on a socket bound now that starts listening only after
/// `delay` (until then a connection to its port is refused): a listener restarting.
pub async fn serve_tls_late(s: Serve, delay: Duration) -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(LOCALHOST, 0)).unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let listener = socket.listen(64).unwrap();
        let cfg = tls_server_config(&s);
        serve_tls_on(s, cfg, listener);
    });
    port
}

fn tls_server_config(s: &Serve) -> rustls::ServerConfig {
    dvc_audit::install_crypto_provider();
    let builder = if s.versions.is_empty() {
        rustls::ServerConfig::builder()
    } else {
        rustls::ServerConfig::builder_with_protocol_versions(&s.versions)
    };
    match &s.sign_with {
        None => builder
            .with_no_client_auth()
            .with_single_cert_with_ocsp(s.chain.clone(), s.key.clone_key(), s.ocsp.clone())
            .unwrap(),
        Some(key) => {
            let provider = rustls::crypto::CryptoProvider::get_default().unwrap();
            let signer = provider
                .key_provider
                .load_private_key(key.clone_key())
                .unwrap();
            let certified = rustls::sign::CertifiedKey::new(s.chain.clone(), signer);
            builder
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(AnyKey(Arc::new(certified))))
        }
    }
}

fn serve_tls_on(s: Serve, cfg: rustls::ServerConfig, listener: TcpListener) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let port = listener.local_addr().unwrap().port();
    let head = response_head("200 OK", &s.headers);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let head = head.clone();
            tokio::spawn(async move {
                let fut = async {
                    let mut tls = acceptor.accept(tcp).await.ok()?;
                    read_head(&mut tls).await?;
                    tls.write_all(head.as_bytes()).await.ok()?;
                    tls.shutdown().await.ok()
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), fut).await;
            });
        }
    });
    port
}

/// Serve plain HTTP on 127.0.0.1:0 with a fixed status and headers.
pub async fn serve_http(status: &str, headers: Vec<String>) -> u16 {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let head = response_head(status, &headers);
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let head = head.clone();
            tokio::spawn(async move {
                let fut = async {
                    read_head(&mut tcp).await?;
                    tcp.write_all(head.as_bytes()).await.ok()?;
                    tcp.shutdown().await.ok()
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), fut).await;
            });
        }
    });
    port
}

/// Serve plain HTTP on 127.0.0.1:0 answering every request with 200 and the bytes in the
/// returned slot (settable after the port is known); the counter counts requests.
pub async fn serve_body() -> (
    u16,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<std::sync::Mutex<Vec<u8>>>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, b) = (Arc::clone(&hits), Arc::clone(&body));
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let (h, b) = (Arc::clone(&h), Arc::clone(&b));
            tokio::spawn(async move {
                let fut = async {
                    read_head(&mut tcp).await?;
                    h.fetch_add(1, Ordering::SeqCst);
                    let bytes = b.lock().unwrap().clone();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        bytes.len()
                    );
                    tcp.write_all(head.as_bytes()).await.ok()?;
                    tcp.write_all(&bytes).await.ok()?;
                    tcp.shutdown().await.ok()
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), fut).await;
            });
        }
    });
    (port, hits, body)
}

/// A DER CRL from `ca` listing the hex `serials` as revoked.
pub fn crl(ca: &Ca, serials: &[String]) -> Vec<u8> {
    let now = OffsetDateTime::now_utc();
    let params = rcgen::CertificateRevocationListParams {
        this_update: now - TimeDuration::days(1),
        next_update: now + TimeDuration::days(7),
        crl_number: rcgen::SerialNumber::from(vec![1u8]),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|hex| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from(
                    (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                        .collect::<Vec<u8>>(),
                ),
                revocation_time: now - TimeDuration::hours(1),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    params.signed_by(&ca.issuer).unwrap().der().to_vec()
}

/// A TCP server that accepts and never says anything.
pub async fn serve_silent() -> u16 {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    port
}

/// A TCP server that writes `banner` as soon as a client connects, then closes.
pub async fn serve_banner(banner: &'static [u8]) -> u16 {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = tcp.write_all(banner).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    port
}

/// A port nothing listens on.
/// A loopback port free now, for a child process to listen on.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind((LOCALHOST, 0)).unwrap();
    l.local_addr().unwrap().port()
}

pub fn closed_port() -> u16 {
    // Bound and never listening, for the rest of the process: a connection is refused, and no
    // other `bind(0)` of a concurrent test is handed this port (a listener bound and dropped
    // freed it for reuse: a fixture server could then answer on the "closed" port).
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(LOCALHOST, 0)).unwrap();
    let port = s.local_addr().unwrap().port();
    std::mem::forget(s);
    port
}

fn response_head(status: &str, headers: &[String]) -> String {
    let mut h = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n");
    for line in headers {
        h.push_str(line);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h
}

async fn read_head<S: AsyncReadExt + Unpin>(s: &mut S) -> Option<()> {
    request_path(s).await.map(|_| ())
}

/// Read a request head (at most 16 KiB); its path.
pub async fn request_path<S: AsyncReadExt + Unpin>(s: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    Some(
        text.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string(),
    )
}

/// A probe config for tests: `web` is the fixture root, short timeouts, names pinned.
pub fn config(web: &[CertificateDer<'static>], pins: &[(&str, u16)]) -> ProbeConfig {
    let mut cfg = ProbeConfig {
        web_roots: WebRoots::Custom(web.to_vec()),
        connect_timeout: Duration::from_secs(3),
        handshake_timeout: Duration::from_secs(3),
        read_timeout: Duration::from_secs(3),
        legacy_probe: false,
        ..ProbeConfig::default()
    };
    for (host, port) in pins {
        cfg.pin(host, *port, LOCALHOST);
    }
    cfg
}

// ---- external tools -------------------------------------------------------------------------

/// Whether `bin` is on PATH. When it is not: skip (return false, with a printed reason) unless
/// `DVC_AUDIT_REQUIRE_LEGACY_SERVERS` is set, in which case fail (CI sets it).
pub fn have(bin: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var_os("DVC_AUDIT_REQUIRE_LEGACY_SERVERS").is_some() {
            panic!(
                "`{bin}` is required (DVC_AUDIT_REQUIRE_LEGACY_SERVERS is set) but not installed"
            );
        }
        eprintln!(
            "SKIP: `{bin}` not installed (set DVC_AUDIT_REQUIRE_LEGACY_SERVERS to fail instead)"
        );
    }
    found
}

/// Run a command to completion, panicking with its stderr on failure.
pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch directory for one test.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `openssl x509 -req` signing `csr` with the CA, with digest `md` (e.g. `sha1`) and the CSR's
/// extensions copied, plus `ext` lines (an extfile) when given.
pub fn openssl_sign(
    dir: &Path,
    ca: &Ca,
    csr: &Path,
    md: &str,
    ext: Option<&str>,
    out: &str,
) -> CertificateDer<'static> {
    let ca_pem = write(dir, "signer.pem", &ca.pem());
    let ca_key = write(dir, "signer.key", &ca.key.serialize_pem());
    let out_path = dir.join(out);
    let mut cmd = Command::new("openssl");
    cmd.args([
        "x509",
        "-req",
        "-days",
        "60",
        "-copy_extensions",
        "copy",
        &format!("-{md}"),
    ])
    .arg("-in")
    .arg(csr)
    .arg("-CA")
    .arg(&ca_pem)
    .arg("-CAkey")
    .arg(&ca_key)
    .arg("-out")
    .arg(&out_path);
    if let Some(ext) = ext {
        let ext_path = write(dir, &format!("{out}.ext"), ext);
        cmd.arg("-extfile").arg(ext_path);
    }
    run(&mut cmd);
    CertificateDer::from_pem_file(&out_path).unwrap()
}

/// An RSA key of `bits` made by `openssl genpkey` (ring cannot generate RSA keys), as PEM.
pub fn openssl_rsa_key(dir: &Path, bits: u32) -> PathBuf {
    let path = dir.join(format!("rsa{bits}.key"));
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
        .arg(format!("rsa_keygen_bits:{bits}"))
        .arg("-out")
        .arg(&path));
    path
}

/// A CSR for `key` naming `host` (CN and SAN).
pub fn openssl_csr(dir: &Path, key: &Path, host: &str, out: &str) -> PathBuf {
    let path = dir.join(out);
    run(Command::new("openssl")
        .args(["req", "-new", "-subj"])
        .arg(format!("/CN={host}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{host}"))
        .arg("-key")
        .arg(key)
        .arg("-out")
        .arg(&path));
    path
}

/// A child process killed on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until something accepts on 127.0.0.1:`port` (at most ~10 s).
pub async fn wait_listening(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect((LOCALHOST, port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on port {port}");
}

/// Start `openssl s_server` on a free loopback port with `cert`/`key` and extra `args`. It
/// serves one connection at a time; `-www` makes it answer HTTP requests and hang up, so no
/// connection holds it until a timeout.
pub async fn openssl_server(cert: &Path, key: &Path, args: &[&str]) -> (ChildGuard, u16) {
    let port = free_port();
    let child = Command::new("openssl")
        .arg("s_server")
        .arg("-accept")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .args(["-naccept", "1000", "-quiet", "-www"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(child);
    wait_listening(port).await;
    (guard, port)
}

pub fn socket(port: u16) -> SocketAddr {
    SocketAddr::new(LOCALHOST, port)
}

/// An RSA-`bits` certificate for `host` signed by `root` (SHA-256): (cert path, key path).
pub fn rsa_leaf(dir: &Path, root: &Ca, host: &str, bits: u32) -> (PathBuf, PathBuf) {
    let key = openssl_rsa_key(dir, bits);
    let csr = openssl_csr(dir, &key, host, "leaf.csr");
    let cert = openssl_sign(dir, root, &csr, "sha256", None, "leaf.pem");
    (write(dir, "served.pem", &pem("CERTIFICATE", &cert)), key)
}

/// Build `tests/legacy_server/main.go` once per test run.
pub fn go_server() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        if !have("go") {
            return None;
        }
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let out = tmp.join("legacy_server_verdicts");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/legacy_server/main.go");
        run(Command::new("go")
            .arg("build")
            .arg("-o")
            .arg(&out)
            .arg(src)
            .env("GOCACHE", tmp.join("go-cache"))
            .env("GOPATH", tmp.join("go-path"))
            .env("GO111MODULE", "off")
            .env("GOTOOLCHAIN", "local"));
        Some(out)
    })
    .as_ref()
}

/// A running Go server with an RSA-2048 leaf for `host` from `root`, and its port.
pub fn start_go(
    root: &Ca,
    dir: &Path,
    host: &str,
    min: &str,
    max: &str,
    suites: &[&str],
) -> Option<(ChildGuard, u16)> {
    if !have("openssl") {
        return None;
    }
    let bin = go_server()?;
    let (cert, key) = rsa_leaf(dir, root, host, 2048);
    let mut child = Command::new(bin)
        .arg(&cert)
        .arg(&key)
        .args([min, max])
        .args(suites)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    {
        use std::io::BufRead;
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
    }
    Some((ChildGuard(child), line.trim().parse().unwrap()))
}
