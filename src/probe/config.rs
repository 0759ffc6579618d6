//! What a probe needs to know: anchor sets, web roots, timeouts, address pins, bounds; and
//! the helpers that build them from files and command-line arguments.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use super::net;

/// Default days before expiry at which a certificate is "expiring soon".
pub const DEFAULT_EXPIRY_WARNING_DAYS: i64 = 30;
/// Default connections one host may have open at once.
pub const DEFAULT_MAX_CONNS_PER_HOST: usize = 4;
/// Default hosts probed at once.
pub const DEFAULT_MAX_HOSTS_IN_FLIGHT: usize = 32;

/// A named set of trust anchors (e.g. `vgca`), as certificates.
#[derive(Debug, Clone)]
pub struct AnchorSet {
    pub name: String,
    pub certs: Vec<CertificateDer<'static>>,
}

/// The "public web" roots: Mozilla's set from webpki-roots, or a custom list (tests, sandbox).
#[derive(Debug, Clone, Default)]
pub enum WebRoots {
    #[default]
    Builtin,
    Custom(Vec<CertificateDer<'static>>),
}

/// Everything a probe needs to know.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub anchors: Vec<AnchorSet>,
    pub web_roots: WebRoots,
    /// Known intermediates (besides those in the anchor files) for incomplete-chain detection.
    pub intermediates: Vec<CertificateDer<'static>>,
    pub expiry_warning_days: i64,
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    /// Bound on reading one answer (legacy flight, HTTP response headers).
    pub read_timeout: Duration,
    /// `host:port` → addresses, as curl's `--resolve` (asked in order, like a DNS answer).
    pub resolve: BTreeMap<String, Vec<SocketAddr>>,
    pub http_port: u16,
    pub legacy_probe: bool,
    pub max_conns_per_host: usize,
    pub max_hosts_in_flight: usize,
    /// The private-address guard of a run (`crawl.allow_private`): a configured host whose
    /// name resolves to a private, loopback or link-local address outside it (DNS pointing at
    /// an internal service) is not connected to. `None`: no guard (`spot` of a host the
    /// operator names on the command line).
    pub address_guard: Option<crate::crawl::client::AddressPolicy>,
    /// `host:port` → the paths citizens enter the host by besides `/` (a portal configured as
    /// `https://host/dvc/`): when `/` sends no HSTS header, these pages are asked too, since a
    /// header on any of them is the host's (at most [`MAX_ENTRY_PATHS`] per host).
    pub entry_paths: BTreeMap<String, Vec<String>>,
}

/// Most entry paths asked for HSTS per host besides `/`.
pub const MAX_ENTRY_PATHS: usize = 3;

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            anchors: Vec::new(),
            web_roots: WebRoots::Builtin,
            intermediates: Vec::new(),
            expiry_warning_days: DEFAULT_EXPIRY_WARNING_DAYS,
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(8),
            read_timeout: Duration::from_secs(8),
            resolve: BTreeMap::new(),
            http_port: 80,
            legacy_probe: true,
            max_conns_per_host: DEFAULT_MAX_CONNS_PER_HOST,
            max_hosts_in_flight: DEFAULT_MAX_HOSTS_IN_FLIGHT,
            address_guard: None,
            entry_paths: BTreeMap::new(),
        }
    }
}

impl ProbeConfig {
    /// Record `url` (a portal or extra host) as a way into its host: its path, when not `/`.
    pub fn add_entry(&mut self, url: &str) {
        let Ok(u) = url::Url::parse(url) else { return };
        let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
            return;
        };
        if u.scheme() != "https" || u.path() == "/" || u.path().is_empty() {
            return;
        }
        let mut path = u.path().to_string();
        if let Some(q) = u.query() {
            path.push('?');
            path.push_str(q);
        }
        // Keyed as the run names the host it probes (`host_str()`: IPv6 in brackets).
        let paths = self
            .entry_paths
            .entry(net::pin_key(host, port))
            .or_default();
        if paths.len() < MAX_ENTRY_PATHS && !paths.contains(&path) {
            paths.push(path);
        }
    }

    /// Pin `host:port` to `addr` (curl `--resolve host:port:addr`; a later pin of the same
    /// `host:port` replaces an earlier one).
    pub fn pin(&mut self, host: &str, port: u16, addr: std::net::IpAddr) {
        self.pin_all(host, port, &[addr]);
    }

    /// Pin `host:port` to several addresses, asked in this order (curl
    /// `--resolve host:port:addr1,addr2`; a name with several DNS records).
    pub fn pin_all(&mut self, host: &str, port: u16, addrs: &[std::net::IpAddr]) {
        self.resolve.insert(
            net::pin_key(host, port),
            addrs.iter().map(|a| SocketAddr::new(*a, port)).collect(),
        );
    }
}

/// Errors building probe inputs from files and arguments.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificates { path: String },
    #[error("{path}: bad PEM: {message}")]
    Pem { path: String, message: String },
    #[error("bad --resolve `{0}`: expected host:port:address")]
    Resolve(String),
}

/// Read every certificate from a PEM file.
pub fn load_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ProbeError> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ProbeError::Read {
        path: shown.clone(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProbeError::Pem {
            path: shown.clone(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ProbeError::NoCertificates { path: shown });
    }
    Ok(certs)
}

/// Parse `host:port:address` (curl `--resolve`; IPv6 addresses may be bracketed): the
/// configuration's parser, with this module's error type.
pub fn parse_resolve(spec: &str) -> Result<(String, u16, std::net::IpAddr), ProbeError> {
    crate::config::parse_resolve(spec).map_err(|why| ProbeError::Resolve(format!("{spec}: {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_specs() {
        let (h, p, a) = parse_resolve("dvc.a.sandbox.test:8443:127.0.0.1").expect("ok");
        assert_eq!(
            (h.as_str(), p, a.to_string().as_str()),
            ("dvc.a.sandbox.test", 8443, "127.0.0.1")
        );
        let (_, _, a) = parse_resolve("h:443:[::1]").expect("ok");
        assert_eq!(a.to_string(), "::1");
        for bad in ["h:443", "h:x:127.0.0.1", ":443:127.0.0.1", "h:443:nope"] {
            assert!(parse_resolve(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    #[test]
    fn portal_paths_are_entries_of_their_host() {
        let mut c = ProbeConfig::default();
        c.add_entry("https://DVC.Example.gov.vn/dvc/home?lang=vi");
        c.add_entry("https://dvc.example.gov.vn/");
        c.add_entry("http://plain.example.gov.vn/portal/");
        c.add_entry("https://dvc.example.gov.vn:8443/p/");
        for i in 0..5 {
            c.add_entry(&format!("https://many.example.gov.vn/p{i}/"));
        }
        c.add_entry("not a url");
        // Keyed as the run names a portal's host (IPv6 in brackets, lower case).
        let v6 = "https://[2001:DB8::1]/dvc/";
        c.add_entry(v6);
        let (host, port) = crate::run::pipeline::host_port(v6).expect("host");
        assert_eq!(
            c.entry_paths.get(&net::pin_key(&host, port)),
            Some(&vec!["/dvc/".to_string()])
        );
        assert_eq!(
            c.entry_paths.get("dvc.example.gov.vn:443"),
            Some(&vec!["/dvc/home?lang=vi".to_string()])
        );
        assert_eq!(
            c.entry_paths.get("dvc.example.gov.vn:8443"),
            Some(&vec!["/p/".to_string()])
        );
        assert!(!c.entry_paths.contains_key("plain.example.gov.vn:80"));
        assert_eq!(
            c.entry_paths.get("many.example.gov.vn:443").map(Vec::len),
            Some(MAX_ENTRY_PATHS)
        );
    }
}
