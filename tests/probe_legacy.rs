//! The legacy protocol probe against real legacy-capable servers: Debian's `openssl s_server`
//! (TLS 1.0/1.1 and NULL suites at security level 0, small DHE groups) and a tiny Go
//! `crypto/tls` server (`tests/legacy_server/main.go`) for 3DES and RC4, which Debian's OpenSSL
//! no longer has. Without the binaries these tests skip, unless
//! `DVC_AUDIT_REQUIRE_LEGACY_SERVERS` is set (CI), where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod probe_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use dvc_audit::facts::HostFacts;
use dvc_audit::probe::probe_host;
use probe_common::*;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

const HOST: &str = "legacy.sandbox.test";

/// An RSA-2048 self-signed certificate for HOST: (cert path, key path).
fn rsa_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let key = openssl_rsa_key(dir, 2048);
    let cert = dir.join("cert.pem");
    run(Command::new("openssl")
        .args(["req", "-x509", "-days", "30", "-subj"])
        .arg(format!("/CN={HOST}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{HOST}"))
        .arg("-key")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    (cert, key)
}

async fn probe(cert: &Path, port: u16) -> HostFacts {
    let root = CertificateDer::from_pem_file(cert).unwrap();
    let mut cfg = config(&[root], &[(HOST, port)]);
    cfg.legacy_probe = true;
    cfg.http_port = closed_port();
    cfg.pin(HOST, cfg.http_port, LOCALHOST);
    probe_host(&cfg, HOST, port).await
}

/// Probe an `openssl s_server` started with `args`.
async fn probe_openssl(args: &[&str]) -> Option<HostFacts> {
    if !have("openssl") {
        return None;
    }
    let dir = scratch();
    let (cert, key) = rsa_cert(dir.path());
    let (_server, port) = openssl_server(&cert, &key, args).await;
    Some(probe(&cert, port).await)
}

fn versions(f: &HostFacts) -> Vec<&str> {
    f.tls.versions.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn tls10_only() {
    let Some(f) = probe_openssl(&["-tls1", "-cipher", "ALL:eNULL:@SECLEVEL=0"]).await else {
        return;
    };
    assert_eq!(versions(&f), ["TLSv1.0"], "{f:#?}");
    assert!(f.tls.legacy);
    assert_eq!(f.tls.version, "", "rustls cannot speak TLS 1.0");
    assert_eq!(f.error, None, "the host answered in TLS 1.0");
    assert_eq!(f.chain.len(), 1, "chain read from the legacy flight");
    assert!(f.cert.hostname_ok);
    assert_eq!(f.cert.subject, format!("CN={HOST}"));
}

#[tokio::test]
async fn tls11_only() {
    let Some(f) = probe_openssl(&["-tls1_1", "-cipher", "ALL:eNULL:@SECLEVEL=0"]).await else {
        return;
    };
    assert_eq!(versions(&f), ["TLSv1.1"], "{f:#?}");
    assert!(f.tls.legacy);
}

#[tokio::test]
async fn tls12_only() {
    let Some(f) = probe_openssl(&["-tls1_2"]).await else {
        return;
    };
    assert_eq!(versions(&f), ["TLSv1.2"], "{f:#?}");
    assert!(!f.tls.legacy && f.tls.weak_ciphers.is_empty());
    assert_eq!(f.tls.version, "TLSv1.2");
}

#[tokio::test]
async fn tls13_only() {
    let Some(f) = probe_openssl(&["-tls1_3"]).await else {
        return;
    };
    assert_eq!(versions(&f), ["TLSv1.3"], "{f:#?}");
    assert!(!f.tls.legacy && f.tls.weak_ciphers.is_empty());
    assert_eq!(f.tls.dhe_min_bits, 0);
}

#[tokio::test]
async fn null_suites() {
    let Some(f) = probe_openssl(&[
        "-tls1_2",
        "-cipher",
        "ECDHE-RSA-AES128-GCM-SHA256:NULL-SHA:NULL-MD5:@SECLEVEL=0",
    ])
    .await
    else {
        return;
    };
    assert_eq!(f.tls.weak_ciphers.len(), 1, "{:?}", f.tls.weak_ciphers);
    assert!(f.tls.weak_ciphers[0].contains("_NULL_"));
    assert_eq!(versions(&f), ["TLSv1.2"]);
}

#[tokio::test]
async fn dhe_1024() {
    if !have("openssl") {
        return;
    }
    let dir = scratch();
    let dh = dir.path().join("dh.pem");
    run(Command::new("openssl")
        .args(["dhparam", "-out"])
        .arg(&dh)
        .arg("1024")
        .stderr(Stdio::null()));
    let dh = dh.to_string_lossy().into_owned();
    let Some(f) = probe_openssl(&[
        "-tls1_2",
        "-dhparam",
        &dh,
        "-cipher",
        "DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0",
    ])
    .await
    else {
        return;
    };
    assert_eq!(f.tls.dhe_min_bits, 1024, "{f:#?}");
    // rustls has no DHE: TLS 1.2 acceptance comes from the hello probe.
    assert_eq!(versions(&f), ["TLSv1.2"]);
    assert_eq!(f.tls.version, "");
}

/// Build `tests/legacy_server/main.go` once per test run.
fn go_server() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        if !have("go") {
            return None;
        }
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("legacy_server");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/legacy_server/main.go");
        run(Command::new("go")
            .arg("build")
            .arg("-o")
            .arg(&out)
            .arg(src)
            .env(
                "GOCACHE",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"),
            )
            .env(
                "GOPATH",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-path"),
            )
            .env("GO111MODULE", "off")
            .env("GOTOOLCHAIN", "local"));
        Some(out)
    })
    .as_ref()
}

/// Probe the Go server with `versions` ("1.0".."1.3") and `suites`.
async fn probe_go(min: &str, max: &str, suites: &[&str]) -> Option<HostFacts> {
    if !have("openssl") {
        return None;
    }
    let bin = go_server()?;
    let dir = scratch();
    let (cert, key) = rsa_cert(dir.path());
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
    let _guard = ChildGuard(child);
    let port: u16 = line.trim().parse().unwrap();
    Some(probe(&cert, port).await)
}

#[tokio::test]
async fn triple_des() {
    let Some(f) = probe_go("1.2", "1.2", &["3des"]).await else {
        return;
    };
    assert_eq!(f.tls.weak_ciphers.len(), 1, "{f:#?}");
    assert!(f.tls.weak_ciphers[0].contains("3DES_EDE_CBC"));
    assert_eq!(versions(&f), ["TLSv1.2"]);
}

#[tokio::test]
async fn rc4() {
    let Some(f) = probe_go("1.0", "1.2", &["rc4", "ecdhe-aes-gcm"]).await else {
        return;
    };
    assert_eq!(f.tls.weak_ciphers.len(), 1, "{f:#?}");
    assert!(f.tls.weak_ciphers[0].contains("RC4_128"));
    assert_eq!(versions(&f), ["TLSv1.0", "TLSv1.1", "TLSv1.2"]);
    assert!(f.tls.legacy);
    assert_eq!(f.tls.version, "TLSv1.2");
}
