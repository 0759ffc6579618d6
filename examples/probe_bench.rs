//! Probe many local hosts and print hosts probed per second and the median time of one full
//! probe. Each host is its own TLS listener on 127.0.0.1 with its own certificate (rcgen),
//! reached through `resolve` pins exactly as real hosts would be.
//!
//! Run: `cargo run --release --example probe_bench -- [HOSTS] [--no-legacy] [--crl]` (default
//! 100). `--crl`: every certificate names a CRL on a local HTTP server (answering at once), so
//! each host's probe includes its revocation lookup.

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
    let with_crl = args.iter().any(|a| a == "--crl");

    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?.der().clone();
    let issuer = Issuer::new(ca_params, ca_key);
    let crl_url = if with_crl {
        Some(serve_crl(&issuer).await?)
    } else {
        None
    };

    let mut cfg = ProbeConfig {
        web_roots: WebRoots::Custom(vec![ca_cert]),
        legacy_probe: legacy,
        http_port: 1, // nothing listens: the plain-HTTP step fails fast
        ..ProbeConfig::default()
    };
    let mut hosts = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("dvc.agency{i}.bench.test");
        let port = serve(&name, &issuer, crl_url.as_deref()).await?;
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
    let revocation = results
        .iter()
        .filter(|(f, _)| !f.tls.revocation.is_empty())
        .count();
    println!(
        "hosts: {n} (legacy probe: {legacy}, CRL: {with_crl}), trusted: {trusted}, revocation checked: {revocation}"
    );
    println!("wall: {:.3} s", wall.as_secs_f64());
    println!("hosts/s: {:.1}", n as f64 / wall.as_secs_f64().max(1e-9));
    println!("median probe: {:.1} ms", median.as_secs_f64() * 1000.0);
    Ok(())
}

/// One TLS listener for `name` answering every request with an HSTS header.
async fn serve(
    name: &str,
    issuer: &Issuer<'_, KeyPair>,
    crl_url: Option<&str>,
) -> anyhow::Result<u16> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec![name.to_string()])?;
    if let Some(url) = crl_url {
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![url.to_string()],
        }];
    }
    let cert = params.signed_by(&key, issuer)?;
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

/// A plain-HTTP server answering every request with an empty CRL of `issuer`; its URL.
async fn serve_crl(issuer: &Issuer<'_, KeyPair>) -> anyhow::Result<String> {
    use tokio::io::AsyncReadExt;
    let now = time::OffsetDateTime::now_utc();
    let crl = rcgen::CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(7),
        crl_number: rcgen::SerialNumber::from(vec![1u8]),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(issuer)?;
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        crl.der().len()
    )
    .into_bytes();
    response.extend_from_slice(crl.der());
    let response = Arc::new(response);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let response = Arc::clone(&response);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp.write_all(&response).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    Ok(format!("http://127.0.0.1:{port}/ca.crl"))
}
