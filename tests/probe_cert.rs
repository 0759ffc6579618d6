//! Certificate and trust facts against local TLS servers with generated certificates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod probe_common;

use dvc_audit::facts::HostFacts;
use dvc_audit::probe::{AnchorSet, probe_host};
use probe_common::*;
use rcgen::KeyPair;

const HOST: &str = "dvc.test-agency.sandbox.test";

/// Serve `chain` for HOST and probe it with `root` as the web roots.
async fn probe(
    root: &Ca,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    leaf: &LeafSpec,
) -> HostFacts {
    let port = serve_tls(Serve::new(chain, leaf.private_key())).await;
    let cfg = config(std::slice::from_ref(&root.cert), &[(HOST, port)]);
    probe_host(&cfg, HOST, port).await
}

fn assert_good(f: &HostFacts) {
    assert!(f.reachable, "{f:#?}");
    assert_eq!(f.error, None);
    let c = &f.cert;
    assert!(c.trusted && c.publicly_trusted, "{c:#?}");
    assert_eq!(c.trusted_by, vec!["web".to_string()]);
    assert!(c.hostname_ok && c.chain_complete && c.has_san);
    assert!(
        !c.expired && !c.not_yet_valid && !c.self_signed && !c.weak_sig_in_chain && !c.weak_key
    );
    assert!(c.verify_errors.is_empty(), "{:?}", c.verify_errors);
    assert_eq!(f.tls.version, "TLSv1.3");
    assert_eq!(
        f.tls.versions,
        vec!["TLSv1.2".to_string(), "TLSv1.3".to_string()]
    );
    assert!(
        f.tls.cipher.starts_with("TLS_AES_") || f.tls.cipher.starts_with("TLS_CHACHA20_"),
        "IANA name: {}",
        f.tls.cipher
    );
}

#[tokio::test]
async fn good_ecdsa() {
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new(HOST);
    let f = probe(&root, vec![root.issue(&leaf)], &leaf).await;
    assert_good(&f);
    assert_eq!((f.cert.key.alg.as_str(), f.cert.key.bits), ("ec", 256));
    assert_eq!(f.cert.sig_alg, "ecdsa-with-SHA256");
    assert_eq!(f.cert.sans, vec![HOST.to_string()]);
    assert_eq!(f.chain.len(), 1);
    assert_eq!(f.chain[0].sha256.len(), 64);
    assert!(!f.tls.ocsp_stapled);
}

#[tokio::test]
async fn good_rsa_with_intermediate() {
    if !have("openssl") {
        return;
    }
    let dir = scratch();
    let root = Ca::root("Test Web Root");
    let inter = root.intermediate("Test Issuing CA");
    let key_path = openssl_rsa_key(dir.path(), 2048);
    let key = KeyPair::from_pem(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    let leaf = LeafSpec::new(HOST).key(key);
    let f = probe(&root, vec![inter.issue(&leaf), inter.cert.clone()], &leaf).await;
    assert_good(&f);
    assert_eq!((f.cert.key.alg.as_str(), f.cert.key.bits), ("rsa", 2048));
    assert_eq!(f.cert.sig_alg, "ecdsa-with-SHA256");
    assert_eq!(f.chain.len(), 2);
    assert!(f.chain[1].is_ca);
}

#[tokio::test]
async fn expired() {
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new(HOST).valid(-100, -3);
    let f = probe(&root, vec![root.issue(&leaf)], &leaf).await;
    assert!(f.cert.expired && !f.cert.expiring_soon);
    assert!(f.cert.days_left < 0);
    assert!(!f.cert.trusted);
    assert!(
        f.cert.verify_errors.iter().any(|e| e.contains("expired")),
        "{:?}",
        f.cert.verify_errors
    );
}

#[tokio::test]
async fn not_yet_valid() {
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new(HOST).valid(5, 60);
    let f = probe(&root, vec![root.issue(&leaf)], &leaf).await;
    assert!(f.cert.not_yet_valid && !f.cert.expired);
    assert!(!f.cert.trusted);
}

#[tokio::test]
async fn expiring_soon() {
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new(HOST).valid(-30, 10);
    let f = probe(&root, vec![root.issue(&leaf)], &leaf).await;
    assert!(f.cert.expiring_soon && !f.cert.expired && f.cert.trusted);
    assert!((9..=10).contains(&f.cert.days_left), "{}", f.cert.days_left);
}

#[tokio::test]
async fn wrong_host() {
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new("other.sandbox.test");
    let f = probe(&root, vec![root.issue(&leaf)], &leaf).await;
    assert!(!f.cert.hostname_ok);
    // The chain itself is sound: trust and name are separate verdicts.
    assert!(f.cert.trusted);
}

#[tokio::test]
async fn self_signed() {
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new(HOST);
    let f = probe(&root, vec![leaf.self_signed()], &leaf).await;
    assert!(f.cert.self_signed && !f.cert.trusted && f.cert.hostname_ok);
    assert_eq!(f.chain.len(), 1);
}

#[tokio::test]
async fn untrusted_root() {
    let root = Ca::root("Test Web Root");
    let rogue = Ca::root("Rogue Root");
    let leaf = LeafSpec::new(HOST);
    let f = probe(&root, vec![rogue.issue(&leaf), rogue.cert.clone()], &leaf).await;
    assert!(!f.cert.trusted && !f.cert.self_signed && f.cert.chain_complete);
    assert!(f.cert.trusted_by.is_empty());
    assert!(f.cert.verify_errors.iter().any(|e| e.starts_with("web:")));
}

#[tokio::test]
async fn incomplete_chain_is_detected_from_anchor_file_intermediates() {
    let root = Ca::root("Test Web Root");
    let inter = root.intermediate("Test Issuing CA");
    let leaf = LeafSpec::new(HOST);
    let port = serve_tls(Serve::new(vec![inter.issue(&leaf)], leaf.private_key())).await;
    // The anchor "file" holds the root and the intermediate the server forgets to send.
    let cfg = config(&[root.cert.clone(), inter.cert.clone()], &[(HOST, port)]);
    let f = probe_host(&cfg, HOST, port).await;
    assert!(!f.cert.chain_complete, "{:#?}", f.cert);
    assert!(!f.cert.trusted);
    assert!(
        f.cert
            .verify_errors
            .iter()
            .any(|e| e.contains("incomplete chain"))
    );
}

#[tokio::test]
async fn trusted_only_by_configured_anchor() {
    let web = Ca::root("Test Web Root");
    let gov = Ca::root("Test Government Root");
    let leaf = LeafSpec::new(HOST);
    let port = serve_tls(Serve::new(vec![gov.issue(&leaf)], leaf.private_key())).await;
    let mut cfg = config(std::slice::from_ref(&web.cert), &[(HOST, port)]);
    cfg.anchors.push(AnchorSet {
        name: "vgca".into(),
        certs: vec![gov.cert.clone()],
    });
    let f = probe_host(&cfg, HOST, port).await;
    assert_eq!(f.cert.trusted_by, vec!["vgca".to_string()]);
    assert!(f.cert.trusted && !f.cert.publicly_trusted);
    assert!(f.cert.chain_complete);
}

#[tokio::test]
async fn validity_over_398_days_and_no_san() {
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new(HOST).valid(-1, 800);
    let f = probe(&root, vec![root.issue(&leaf)], &leaf).await;
    assert!(f.cert.validity_days > 398);
    assert!(f.cert.trusted);

    let leaf = LeafSpec::new(HOST).no_san();
    let f = probe(&root, vec![root.issue(&leaf)], &leaf).await;
    assert!(!f.cert.has_san && f.cert.sans.is_empty());
    assert!(!f.cert.hostname_ok, "CN-only names are not accepted");
}

#[tokio::test]
async fn sha1_leaf() {
    if !have("openssl") {
        return;
    }
    let dir = scratch();
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new(HOST);
    let key_path = write(dir.path(), "leaf.key", &leaf.key.serialize_pem());
    let csr = openssl_csr(dir.path(), &key_path, HOST, "leaf.csr");
    let cert = openssl_sign(dir.path(), &root, &csr, "sha1", None, "leaf.pem");
    let f = probe(&root, vec![cert], &leaf).await;
    assert_eq!(f.cert.sig_alg, "ecdsa-with-SHA1");
    assert!(f.cert.weak_sig_in_chain);
    assert!(!f.cert.trusted, "webpki refuses SHA-1 signatures");
    assert!(f.cert.hostname_ok);
}

#[tokio::test]
async fn sha1_intermediate() {
    if !have("openssl") {
        return;
    }
    let dir = scratch();
    let root = Ca::root("Test Web Root");
    let inter_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let inter_key_path = write(dir.path(), "inter.key", &inter_key.serialize_pem());
    let csr = openssl_csr(dir.path(), &inter_key_path, "Test SHA1 CA", "inter.csr");
    let ext = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
    let inter_cert = openssl_sign(dir.path(), &root, &csr, "sha1", Some(ext), "inter.pem");
    let issuer = rcgen::Issuer::from_ca_cert_der(&inter_cert, inter_key).unwrap();
    let leaf = LeafSpec::new(HOST);
    let params = rcgen::CertificateParams::new(vec![HOST.to_string()]).unwrap();
    let leaf_cert = params.signed_by(&leaf.key, &issuer).unwrap().der().clone();
    let f = probe(&root, vec![leaf_cert, inter_cert], &leaf).await;
    assert_eq!(f.cert.sig_alg, "ecdsa-with-SHA256");
    assert_eq!(f.chain[1].sig_alg, "ecdsa-with-SHA1");
    assert!(f.cert.weak_sig_in_chain);
}

#[tokio::test]
async fn rsa_1024_leaf() {
    // ring (rustls' provider) refuses RSA keys under 2048 bits on both sides, so the server is
    // `openssl s_server` at security level 0 and the key comes from `openssl genpkey`.
    if !have("openssl") {
        return;
    }
    let dir = scratch();
    let root = Ca::root("Test Web Root");
    let key = openssl_rsa_key(dir.path(), 1024);
    let csr = openssl_csr(dir.path(), &key, HOST, "leaf.csr");
    let cert = openssl_sign(dir.path(), &root, &csr, "sha256", None, "leaf.pem");
    let cert_path = write(dir.path(), "served.pem", &pem("CERTIFICATE", &cert));
    let (_server, port) =
        openssl_server(&cert_path, &key, &["-cipher", "DEFAULT:@SECLEVEL=0"]).await;
    let cfg = config(std::slice::from_ref(&root.cert), &[(HOST, port)]);
    let f = probe_host(&cfg, HOST, port).await;
    assert_eq!(
        (f.cert.key.alg.as_str(), f.cert.key.bits),
        ("rsa", 1024),
        "{f:#?}"
    );
    assert!(f.cert.weak_key);
    assert!(
        f.cert.trusted,
        "chain verification does not judge the leaf key"
    );
}

/// A stapled OCSP response produced by `openssl ocsp` from an index marking the leaf `status`
/// (`R` revoked, `V` valid).
fn ocsp_response(
    dir: &std::path::Path,
    root: &Ca,
    leaf: &rustls::pki_types::CertificateDer<'static>,
    status: &str,
) -> Vec<u8> {
    use std::process::Command;
    let ca_pem = write(dir, "ca.pem", &root.pem());
    let ca_key = write(dir, "ca.key", &root.key.serialize_pem());
    let leaf_pem = write(dir, "leaf.pem", &pem("CERTIFICATE", leaf));
    let serial = dvc_audit::probe::cert::cert_facts(leaf, time::OffsetDateTime::now_utc())
        .serial
        .to_uppercase();
    let revoked = if status == "R" { "250101000000Z" } else { "" };
    let index = format!("{status}\t301231000000Z\t{revoked}\t{serial}\tunknown\t/CN={HOST}\n");
    let index_path = write(dir, "index.txt", &index);
    let req = dir.join("req.der");
    let resp = dir.join("resp.der");
    run(Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(&ca_pem)
        .arg("-cert")
        .arg(&leaf_pem)
        .arg("-reqout")
        .arg(&req));
    run(Command::new("openssl")
        .args(["ocsp", "-ndays", "1", "-index"])
        .arg(&index_path)
        .arg("-rsigner")
        .arg(&ca_pem)
        .arg("-rkey")
        .arg(&ca_key)
        .arg("-CA")
        .arg(&ca_pem)
        .arg("-reqin")
        .arg(&req)
        .arg("-respout")
        .arg(&resp));
    std::fs::read(resp).unwrap()
}

#[tokio::test]
async fn stapled_ocsp_status() {
    if !have("openssl") {
        return;
    }
    for (status, expected) in [("R", "revoked"), ("V", "good")] {
        let dir = scratch();
        let root = Ca::root("Test Web Root");
        let leaf = LeafSpec::new(HOST);
        let cert = root.issue(&leaf);
        let mut serve = Serve::new(vec![cert.clone()], leaf.private_key());
        serve.ocsp = ocsp_response(dir.path(), &root, &cert, status);
        let port = serve_tls(serve).await;
        let cfg = config(std::slice::from_ref(&root.cert), &[(HOST, port)]);
        let f = probe_host(&cfg, HOST, port).await;
        assert!(f.tls.ocsp_stapled, "{:#?}", f.tls);
        assert_eq!(f.tls.ocsp_status, expected);
    }
}
