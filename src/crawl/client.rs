//! The one HTTP client of a run: reqwest over rustls, with a resolver that pins hosts
//! (`--resolve`) and refuses private, loopback and link-local addresses unless allowed.
//!
//! The guard sits in the resolver, so it also covers every redirect hop: no connection can be
//! opened to an address the configuration did not open.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::{HttpVersion, embedded_v4, is_non_public, parse_resolve};

/// The resolver refused an address: the error kind the crawler looks for in error chains.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "{host} resolves to {addr}, a private/loopback/link-local address not allowed by crawl.allow_private"
    )]
    Forbidden { host: String, addr: IpAddr },
    #[error("cannot resolve {host}: {message}")]
    Lookup { host: String, message: String },
}

/// Which non-public ranges are open, and which hosts are pinned.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    pub allow: Vec<ipnet::IpNet>,
    /// host (lowercase) → address.
    pub pins: HashMap<String, IpAddr>,
}

impl AddressPolicy {
    /// From config strings (already validated by `config`; bad entries are skipped).
    pub fn from_config(allow_private: &[String], resolve: &[String]) -> Self {
        AddressPolicy {
            allow: allow_private
                .iter()
                .filter_map(|r| r.parse().ok())
                .collect(),
            pins: resolve
                .iter()
                .filter_map(|r| parse_resolve(r).ok())
                .map(|(h, _, a)| (h, a))
                .collect(),
        }
    }

    /// An address may be connected to: public, or inside an allowed range. An IPv6 address
    /// carrying an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) is judged by the IPv4
    /// it carries, so `[::ffff:169.254.169.254]` is refused like `169.254.169.254`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        if !is_non_public(ip) || self.allow.iter().any(|n| n.contains(&ip)) {
            return true;
        }
        match ip {
            IpAddr::V6(v6) => {
                let carried = embedded_v4(v6);
                !carried.is_empty() && carried.iter().all(|v4| self.permits(IpAddr::V4(*v4)))
            }
            IpAddr::V4(_) => false,
        }
    }

    /// Check a literal-IP URL host (the resolver is not consulted for those).
    pub fn check_literal(&self, host: &str) -> Result<(), ResolveError> {
        let h = host.trim_start_matches('[').trim_end_matches(']');
        match h.parse::<IpAddr>() {
            Ok(ip) if !self.permits(ip) => Err(ResolveError::Forbidden {
                host: host.to_string(),
                addr: ip,
            }),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone)]
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = if let Some(ip) = policy.pins.get(&host) {
                vec![SocketAddr::new(*ip, 0)]
            } else {
                tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .map_err(|e| ResolveError::Lookup {
                        host: host.clone(),
                        message: e.to_string(),
                    })?
                    .collect()
            };
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(match addrs.first() {
                    Some(a) => Box::new(ResolveError::Forbidden { host, addr: a.ip() })
                        as Box<dyn std::error::Error + Send + Sync>,
                    None => Box::new(ResolveError::Lookup {
                        host,
                        message: "no address".into(),
                    }),
                });
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The guarded resolver alone, for another client (the probe's HTTP checks) that must not
/// follow a redirect to a name resolving to a private address either.
pub fn guarded_resolver(policy: AddressPolicy) -> Arc<dyn Resolve> {
    Arc::new(GuardedResolver {
        policy: Arc::new(policy),
    })
}

/// Settings the client is built from.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub user_agent: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub policy: AddressPolicy,
    pub pool_per_host: usize,
    /// `crawl.http_version`.
    pub http_version: HttpVersion,
}

/// HTTP/2 receive window per stream (bytes a server may send before we read them).
pub const H2_STREAM_WINDOW: u32 = 256 * 1024;
/// HTTP/2 receive window per connection (one connection per host).
pub const H2_CONNECTION_WINDOW: u32 = 1024 * 1024;

/// Build the run's client. Certificates are **not** verified here: whether a portal's content
/// complies is assessed even when its certificate is bad, and the TLS probe judges the
/// certificate on its own (`probe`). Redirects are followed by the crawler, hop by hop, so the
/// chain is recorded and bounded; decompression is done by the crawler so the decompressed size
/// can be capped.
pub fn build(settings: &ClientSettings) -> Result<reqwest::Client, reqwest::Error> {
    crate::install_crypto_provider();
    let tls = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert::new()))
        .with_no_client_auth();
    let mut tls = tls;
    tls.alpn_protocols = match settings.http_version {
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    };
    let builder = reqwest::Client::builder();
    // HTTP/2 receive windows: hyper's defaults (2 MiB per stream, 5 MiB per connection) let a
    // fast server park up to 5 MiB per portal in our memory while the walk is busy extracting
    // (issue 20: part of a first run's peak). These still cover a page of a few hundred KB per
    // round trip, which is more than the pages a portal serves.
    let builder = builder
        .http2_initial_stream_window_size(H2_STREAM_WINDOW)
        .http2_initial_connection_window_size(H2_CONNECTION_WINDOW);
    let builder = match settings.http_version {
        HttpVersion::Auto => builder,
        HttpVersion::Http1 => builder.http1_only(),
        HttpVersion::Http2 => builder.http2_prior_knowledge(),
    };
    builder
        .user_agent(settings.user_agent.clone())
        .tls_backend_preconfigured(tls)
        .dns_resolver(Arc::new(GuardedResolver {
            policy: Arc::new(settings.policy.clone()),
        }))
        .redirect(reqwest::redirect::Policy::none())
        .gzip(false)
        .brotli(false)
        .deflate(false)
        .no_proxy()
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.read_timeout)
        .pool_max_idle_per_host(settings.pool_per_host.max(1))
        .build()
}

/// Accepts any server certificate but still checks the handshake signature, so the
/// connection is a real TLS session with the key the certificate names.
#[derive(Debug)]
struct AcceptAnyCert {
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl AcceptAnyCert {
    fn new() -> Self {
        AcceptAnyCert {
            algs: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_need_an_explicit_range() {
        let none = AddressPolicy::default();
        assert!(!none.permits("127.0.0.1".parse().expect("ip")));
        assert!(!none.permits("10.1.2.3".parse().expect("ip")));
        assert!(!none.permits("169.254.1.1".parse().expect("ip")));
        assert!(!none.permits("::1".parse().expect("ip")));
        assert!(none.permits("203.113.1.1".parse().expect("ip")));
        let lo = AddressPolicy::from_config(&["127.0.0.0/8".into()], &[]);
        assert!(lo.permits("127.0.0.9".parse().expect("ip")));
        assert!(!lo.permits("10.0.0.1".parse().expect("ip")));
        assert!(lo.check_literal("10.0.0.1").is_err());
        assert!(lo.check_literal("example.gov.vn").is_ok());
    }

    #[test]
    fn ipv6_carrying_a_private_ipv4_is_refused_like_the_ipv4() {
        let only_one = AddressPolicy::from_config(&["127.0.0.1/32".into()], &[]);
        for literal in [
            "[::ffff:169.254.169.254]",
            "[::ffff:a9fe:a9fe]",
            "[::ffff:10.0.0.1]",
            "[::ffff:127.0.0.2]",
            "[::127.0.0.2]",
            "[64:ff9b::a9fe:a9fe]",
            "[64:ff9b::10.0.0.1]",
            "[2002:a9fe:a9fe::1]",
            "[2002:7f00:2::]",
            // Teredo: server 65.54.227.120, client 10.0.0.1 (XOR-obfuscated).
            "[2001:0:4136:e378:8000:63bf:f5ff:fffe]",
            "[fec0::1]",
            "0.0.0.0",
            "198.18.0.1",
        ] {
            let e = only_one.check_literal(literal);
            assert!(
                matches!(e, Err(ResolveError::Forbidden { .. })),
                "{literal} must be refused, got {e:?}"
            );
        }
        // The IPv4 the address carries decides: an allowed IPv4 is allowed in any form, a
        // public one stays public.
        assert!(only_one.check_literal("[::ffff:127.0.0.1]").is_ok());
        assert!(only_one.check_literal("[2002:cb71:101::1]").is_ok());
        assert!(only_one.check_literal("[64:ff9b::203.113.1.1]").is_ok());
        assert!(only_one.check_literal("[2001:db8::1]").is_ok());
    }

    #[tokio::test]
    async fn pinned_hosts_resolve_without_dns_and_are_still_guarded() {
        let policy = AddressPolicy::from_config(&[], &["dvc.a.test:443:127.0.0.1".into()]);
        let r = GuardedResolver {
            policy: Arc::new(policy),
        };
        let name: Name = "dvc.a.test".parse().expect("name");
        let err = match r.resolve(name).await {
            Ok(_) => panic!("loopback must be refused without allow_private"),
            Err(e) => e,
        };
        assert!(err.to_string().contains("not allowed"), "{err}");

        let policy = AddressPolicy::from_config(
            &["127.0.0.0/8".into()],
            &["dvc.a.test:443:127.0.0.1".into()],
        );
        let r = GuardedResolver {
            policy: Arc::new(policy),
        };
        let name: Name = "DVC.A.TEST".parse().expect("name");
        let addrs: Vec<_> = match r.resolve(name).await {
            Ok(a) => a.collect(),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(addrs, vec!["127.0.0.1:0".parse().expect("addr")]);
    }
}
