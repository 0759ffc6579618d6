//! Name resolution (with curl-style `--resolve` pins) and TCP connects, each under a timeout,
//! with failures classified into the closed set of [`AssessReason`]s.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::facts::{AssessReason, ErrorFact};

/// A failed step, already classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: AssessReason,
    pub message: String,
    /// An HTTP 403 that may be access refused to the probe (a WAF, a bot filter) rather than
    /// the site's own answer: the HTTP probe settles it against the HTTPS side.
    pub refused: bool,
    /// The TCP connect was refused (RST to the SYN, `ECONNREFUSED`): a host that answered,
    /// saying nothing listens on the port. Not a timeout, not an unreachable network.
    pub connection_refused: bool,
}

impl Failure {
    pub fn new(kind: AssessReason, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            refused: false,
            connection_refused: false,
        }
    }
    pub fn tls(message: impl Into<String>) -> Self {
        Self::new(AssessReason::TlsHandshake, message)
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(AssessReason::Timeout, message)
    }
    /// The step reached a listening peer (so the host is "reachable").
    pub fn peer_answered(&self) -> bool {
        self.kind == AssessReason::TlsHandshake
    }
}

impl From<Failure> for ErrorFact {
    fn from(f: Failure) -> Self {
        ErrorFact {
            kind: f.kind,
            message: f.message,
        }
    }
}

/// Most addresses of one host the probe tries, in the resolver's order, before it gives up.
pub const MAX_ADDRS: usize = 4;

/// Resolve `host:port` to its addresses (at most [`MAX_ADDRS`], in order): the pinned ones
/// (curl `--resolve` semantics: the pin applies to exactly that host and port), else the
/// system resolver's answer, under `timeout`.
pub async fn resolve(
    pins: &BTreeMap<String, Vec<SocketAddr>>,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, Failure> {
    if let Some(addrs) = pins.get(&pin_key(host, port)).filter(|a| !a.is_empty()) {
        return Ok(addrs.iter().copied().take(MAX_ADDRS).collect());
    }
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(Failure::timeout(format!("DNS lookup of {host} timed out"))),
        Ok(Err(e)) => Err(Failure::new(
            AssessReason::Dns,
            format!("DNS lookup of {host} failed: {e}"),
        )),
        Ok(Ok(addrs)) => {
            let mut out: Vec<SocketAddr> = Vec::new();
            for a in addrs {
                if !out.contains(&a) {
                    out.push(a);
                }
                if out.len() == MAX_ADDRS {
                    break;
                }
            }
            if out.is_empty() {
                return Err(Failure::new(
                    AssessReason::Dns,
                    format!("{host} has no address"),
                ));
            }
            Ok(out)
        }
    }
}

/// Key of the resolve map: `host:port`, host lower-cased.
pub fn pin_key(host: &str, port: u16) -> String {
    format!("{}:{port}", host.to_ascii_lowercase())
}

/// TCP connect under `timeout`; refused, reset and unreachable become `connect`.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, Failure> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(Failure::timeout(format!(
            "connect to {addr} timed out after {} ms",
            timeout.as_millis()
        ))),
        Ok(Err(e)) => Err(Failure {
            connection_refused: e.kind() == std::io::ErrorKind::ConnectionRefused,
            ..Failure::new(AssessReason::Connect, format!("connect to {addr}: {e}"))
        }),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}
