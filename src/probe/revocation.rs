//! Revocation status of a leaf that the server did not staple: the CRL from the certificate's
//! CRL distribution point, fetched once per issuer and serial within a probe run.
//!
//! Result: `good | revoked | unknown(reason)`; a certificate naming no CRL gives no status at
//! all (nothing to check). Bounds: one GET per (issuer, serial) per [`RevocationCache`] (the
//! [`super::Prober`], i.e. one run), at most [`MAX_CRL_BYTES`] read, under the probe's
//! connect + read timeout, and only `http://` distribution points (as RFC 5280 §4.2.1.13
//! expects; an `https://` CRL would need trust to fetch the thing that decides trust). The
//! CRL's signature is not verified, like a stapled OCSP response's (see [`super::ocsp`]): the
//! fact says what the issuer's published list says; its issuer name must match the leaf's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::net::Failure;
use crate::facts::AssessReason;

/// Largest CRL read (bytes); a larger one leaves the status unknown (`too_large`).
pub const MAX_CRL_BYTES: usize = 4 * 1024 * 1024;

/// A revocation status learned from a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked,
    Unknown(Failure),
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Good => "good",
            Status::Revoked => "revoked",
            Status::Unknown(_) => "unknown",
        }
    }
}

/// (issuer name DER, serial) → the one lookup for that certificate.
type Cells = HashMap<(Vec<u8>, Vec<u8>), Arc<OnceCell<Status>>>;

/// Lookups shared by every host of one probe run, keyed by issuer name and serial, so a
/// certificate served by many hosts is checked once (concurrent askers wait for the first).
#[derive(Debug, Default)]
pub struct RevocationCache {
    cells: Mutex<Cells>,
    fetches: std::sync::atomic::AtomicUsize,
}

impl RevocationCache {
    /// How many CRLs were fetched (for tests and benchmarks).
    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The status of `leaf` (DER) from its CRL, or `None` when it names no `http://` CRL.
    pub async fn check(
        &self,
        client: &reqwest::Client,
        leaf: &[u8],
        timeout: Duration,
    ) -> Option<Status> {
        let (_, x) = X509Certificate::from_der(leaf).ok()?;
        let url = super::cert::crl_url(&x).filter(|u| u.starts_with("http://"))?;
        let issuer = x.issuer().as_raw().to_vec();
        let serial = x.raw_serial().to_vec();
        let cell = {
            let mut cells = match self.cells.lock() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            Arc::clone(cells.entry((issuer.clone(), serial.clone())).or_default())
        };
        let status = cell
            .get_or_init(|| async {
                self.fetches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match tokio::time::timeout(timeout, fetch(client, &url)).await {
                    Err(_) => Status::Unknown(Failure::timeout(format!(
                        "CRL {url} not read within {} ms",
                        timeout.as_millis()
                    ))),
                    Ok(Err(f)) => Status::Unknown(f),
                    Ok(Ok(der)) => status_in(&der, &issuer, &serial, &url),
                }
            })
            .await;
        Some(status.clone())
    }
}

/// GET `url`, at most [`MAX_CRL_BYTES`].
async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, Failure> {
    let mut resp = client.get(url).send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            AssessReason::Timeout
        } else {
            AssessReason::Connect
        };
        Failure::new(kind, format!("CRL {url}: {e}"))
    })?;
    if !resp.status().is_success() {
        return Err(Failure::new(
            AssessReason::HttpStatus,
            format!("CRL {url}: HTTP {}", resp.status().as_u16()),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Failure::new(AssessReason::Connect, format!("CRL {url}: {e}")))?
    {
        if body.len() + chunk.len() > MAX_CRL_BYTES {
            return Err(Failure::new(
                AssessReason::TooLarge,
                format!("CRL {url} exceeds {MAX_CRL_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether `serial` is listed in the DER (or PEM) CRL `der` issued by `issuer`.
pub fn status_in(der: &[u8], issuer: &[u8], serial: &[u8], url: &str) -> Status {
    let der = pem_body(der).unwrap_or_else(|| der.to_vec());
    let Ok((_, crl)) = x509_parser::parse_x509_crl(&der) else {
        return Status::Unknown(Failure::new(
            AssessReason::Decode,
            format!("CRL {url} is not a readable CRL"),
        ));
    };
    if crl.issuer().as_raw() != issuer {
        return Status::Unknown(Failure::new(
            AssessReason::Decode,
            format!(
                "CRL {url} is issued by {}, not the certificate's issuer",
                crl.issuer()
            ),
        ));
    }
    let listed = crl
        .iter_revoked_certificates()
        .any(|r| strip_zeros(r.raw_serial()) == strip_zeros(serial));
    if listed {
        Status::Revoked
    } else {
        Status::Good
    }
}

fn pem_body(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let start = text.find("-----BEGIN X509 CRL-----")?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(text.get(start..)?.as_bytes()).ok()?;
    Some(pem.contents)
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|x| **x == 0).count();
    b.get(n..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_unknown_not_good() {
        let s = status_in(b"not a crl", b"x", b"\x01", "http://x/");
        assert!(
            matches!(
                s,
                Status::Unknown(Failure {
                    kind: AssessReason::Decode,
                    ..
                })
            ),
            "{s:?}"
        );
        for n in 0..100u8 {
            let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(31) ^ n).collect();
            assert_ne!(status_in(&v, b"x", b"\x01", "u"), Status::Good);
        }
    }
}
