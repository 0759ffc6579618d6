//! Probe many local hosts and print hosts probed per second and the median time of one full
//! probe. Each host is its own TLS listener on 127.0.0.1 with its own certificate (rcgen),
//! reached through `resolve` pins exactly as real hosts would be.
//!
//! Run: `cargo run --release --example probe_bench -- [HOSTS] [--no-legacy]` (default 100).

use std::sync::Arc;
use std::time::Instant;

use dvc_audit::probe::{ProbeConfig, WebRoots, probe_hosts_timed};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    dvc_audit::install_crypto_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100);
    let legacy = !args.iter().any(|a| a == "--no-legacy");

    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?.der().clone();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut cfg = ProbeConfig {
        web_roots: WebRoots::Custom(vec![ca_cert]),
        legacy_probe: legacy,
        http_port: 1, // nothing listens: the plain-HTTP step fails fast
        ..ProbeConfig::default()
    };
    let mut hosts = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("dvc.agency{i}.bench.test");
        let port = serve(&name, &issuer).await?;
        cfg.pin(&name, port, std::net::Ipv4Addr::LOCALHOST.into());
        cfg.pin(&name, 1, std::net::Ipv4Addr::LOCALHOST.into());
        hosts.push((name, port));
    }

    let start = Instant::now();
    let results = probe_hosts_timed(&cfg, &hosts).await;
    let wall = start.elapsed();
    let mut times: Vec<_> = results.iter().map(|(_, d)| *d).collect();
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let trusted = results.iter().filter(|(f, _)| f.cert.trusted).count();
    println!("hosts: {n} (legacy probe: {legacy}), trusted: {trusted}");
    println!("wall: {:.3} s", wall.as_secs_f64());
    println!("hosts/s: {:.1}", n as f64 / wall.as_secs_f64().max(1e-9));
    println!("median probe: {:.1} ms", median.as_secs_f64() * 1000.0);
    Ok(())
}

/// One TLS listener for `name` answering every request with an HSTS header.
async fn serve(name: &str, issuer: &Issuer<'_, KeyPair>) -> anyhow::Result<u16> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = CertificateParams::new(vec![name.to_string()])?.signed_by(&key, issuer)?;
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=31536000\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    Ok(port)
}
