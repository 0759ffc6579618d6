//! Revocation status of a leaf that the server did not staple: the OCSP responder named in the
//! certificate's AIA (when the issuer certificate is at hand, to build the request), else (or
//! when the responder gives no answer) the CRL from its CRL distribution point; looked up once
//! per issuer and serial within a probe run.
//!
//! Result: `good | revoked | unknown(reason)`; a certificate naming neither gives no status at
//! all (nothing to check), while one naming a source that cannot be asked (an OCSP responder
//! without the issuer certificate, only `ldap://` or `https://` URIs) gives `unknown`. Bounds: one lookup per (issuer, serial) and one read per CRL URL per
//! [`RevocationCache`] (the [`super::Prober`], i.e. one run), at most [`MAX_OCSP_BYTES`] / [`MAX_CRL_BYTES`] read, each
//! step under the probe's connect + read timeout, and only `http://` URLs (as RFC 5280 and
//! RFC 6960 expect; an `https://` one would need trust to fetch the thing that decides trust).
//! Signatures are not verified, like a stapled OCSP response's (see [`super::ocsp`]): the fact
//! says what the issuer's responder or list says; a CRL's issuer name must match the leaf's and
//! an OCSP answer must name the leaf's serial.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::net::Failure;
use crate::facts::AssessReason;

/// Largest CRL read (bytes); a larger one leaves the status unknown (`too_large`).
pub const MAX_CRL_BYTES: usize = 4 * 1024 * 1024;
/// Largest OCSP response read (bytes).
pub const MAX_OCSP_BYTES: usize = 64 * 1024;

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
type Cells = HashMap<(Vec<u8>, Vec<u8>), Arc<OnceCell<(Status, &'static str)>>>;

/// Lookups shared by every host of one probe run, keyed by issuer name and serial, so a
/// certificate served by many hosts is checked once (concurrent askers wait for the first).
#[derive(Debug, Default)]
pub struct RevocationCache {
    cells: Mutex<Cells>,
    /// CRLs by URL: one list serves every certificate of its issuer, so it is read once per
    /// run (at most [`MAX_CRL_BYTES`] each; distinct URLs are as few as the issuers).
    crls: Mutex<CrlCells>,
    fetches: std::sync::atomic::AtomicUsize,
}

/// CRL URL → its bytes, or why they could not be read.
type CrlCells = HashMap<String, Arc<OnceCell<Result<Arc<Vec<u8>>, Failure>>>>;

impl RevocationCache {
    /// How many lookups were made (for tests and benchmarks).
    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The status of `leaf` (DER) and where it came from (`ocsp` or `crl`), or `None` when
    /// it names no `http://` responder (usable with `issuer`, the issuer's DER) and no CRL.
    pub async fn check(
        &self,
        client: &reqwest::Client,
        leaf: &[u8],
        issuer: Option<&[u8]>,
        timeout: Duration,
    ) -> Option<(Status, &'static str)> {
        let (_, x) = X509Certificate::from_der(leaf).ok()?;
        // Every URI listed counts: an `ldap://` (or `https://`) one listed first does not hide
        // an `http://` one after it.
        let crl_urls = super::cert::crl_urls(&x);
        let ocsp_urls = super::cert::ocsp_urls(&x);
        let crl_url = first_plain_http(&crl_urls);
        let issuer_key = issuer
            .and_then(|d| X509Certificate::from_der(d).ok())
            .filter(|(_, i)| i.subject().as_raw() == x.issuer().as_raw())
            .map(|(_, i)| i.public_key().subject_public_key.data.to_vec());
        let ocsp_named = first_plain_http(&ocsp_urls);
        let ocsp_url = ocsp_named.clone().filter(|_| issuer_key.is_some());
        if crl_url.is_none() && ocsp_url.is_none() {
            return unusable_sources(&crl_urls, &ocsp_urls, ocsp_named.as_deref());
        }
        let issuer_name = x.issuer().as_raw().to_vec();
        let serial = x.raw_serial().to_vec();
        let cell = {
            let mut cells = match self.cells.lock() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            Arc::clone(
                cells
                    .entry((issuer_name.clone(), serial.clone()))
                    .or_default(),
            )
        };
        let status = cell
            .get_or_init(|| async {
                self.fetches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut ocsp_failure = None;
                if let (Some(url), Some(key)) = (&ocsp_url, &issuer_key) {
                    let req = super::ocsp::request(&issuer_name, key, &serial);
                    let asked = tokio::time::timeout(timeout, post(client, url, req)).await;
                    let status = match asked {
                        Err(_) => Status::Unknown(Failure::timeout(format!(
                            "OCSP {url} gave no answer within {} ms",
                            timeout.as_millis()
                        ))),
                        Ok(Err(f)) => Status::Unknown(f),
                        Ok(Ok(resp)) => match super::ocsp::stapled_status(&resp, &serial) {
                            "good" => Status::Good,
                            "revoked" => Status::Revoked,
                            _ => Status::Unknown(Failure::new(
                                AssessReason::Decode,
                                format!("OCSP {url} gave no status for the certificate"),
                            )),
                        },
                    };
                    match status {
                        Status::Unknown(f) => ocsp_failure = Some(f),
                        known => return (known, "ocsp"),
                    }
                }
                let Some(url) = &crl_url else {
                    return (
                        Status::Unknown(ocsp_failure.unwrap_or_else(|| {
                            Failure::new(AssessReason::NoData, "no revocation source")
                        })),
                        "ocsp",
                    );
                };
                let status = match self.crl(client, url, timeout).await {
                    Err(f) => Status::Unknown(f),
                    Ok(der) => status_in(&der, &issuer_name, &serial, url),
                };
                (status, "crl")
            })
            .await;
        Some(status.clone())
    }
}

impl RevocationCache {
    /// The CRL at `url`, read once per run.
    async fn crl(
        &self,
        client: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> Result<Arc<Vec<u8>>, Failure> {
        let cell = {
            let mut crls = match self.crls.lock() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            Arc::clone(crls.entry(url.to_string()).or_default())
        };
        cell.get_or_init(|| async {
            match tokio::time::timeout(timeout, fetch(client, url)).await {
                Err(_) => Err(Failure::timeout(format!(
                    "CRL {url} not read within {} ms",
                    timeout.as_millis()
                ))),
                Ok(r) => r.map(Arc::new),
            }
        })
        .await
        .clone()
    }
}

/// The first `http://` URI of `urls`, the only kind fetched (see the module doc).
fn first_plain_http(urls: &[String]) -> Option<String> {
    urls.iter()
        .find(|u| u.to_ascii_lowercase().starts_with("http://"))
        .cloned()
}

/// The status when no source can be asked: `None` only when the certificate names no
/// revocation source at all (nothing to check); a source it names that cannot be used (an
/// OCSP responder without the issuer certificate to build the request, or only non-`http://`
/// URIs) leaves the status unknown, never "not applicable".
fn unusable_sources(
    crl_urls: &[String],
    ocsp_urls: &[String],
    ocsp_named: Option<&str>,
) -> Option<(Status, &'static str)> {
    if crl_urls.is_empty() && ocsp_urls.is_empty() {
        return None;
    }
    let (why, source) = match ocsp_named {
        Some(url) => (
            format!(
                "the certificate names OCSP responder {url} but its issuer certificate was not found (neither served nor configured), so no request could be built{}",
                if crl_urls.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; its CRL distribution points are not http:// ({})",
                        crl_urls.join(", ")
                    )
                }
            ),
            "ocsp",
        ),
        None => (
            format!(
                "the certificate names revocation sources but none over http:// ({})",
                crl_urls
                    .iter()
                    .chain(ocsp_urls)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            if crl_urls.is_empty() { "ocsp" } else { "crl" },
        ),
    };
    Some((
        Status::Unknown(Failure::new(AssessReason::NoData, why)),
        source,
    ))
}

/// POST an OCSP request to `url`, at most [`MAX_OCSP_BYTES`] of answer.
async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> Result<Vec<u8>, Failure> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/ocsp-request")
        .body(body)
        .send()
        .await
        .map_err(|e| request_failure("OCSP", url, &e))?;
    read_bounded(resp, url, "OCSP", MAX_OCSP_BYTES).await
}

fn request_failure(what: &str, url: &str, e: &reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        AssessReason::Timeout
    } else {
        AssessReason::Connect
    };
    Failure::new(kind, format!("{what} {url}: {e}"))
}

/// The body of a successful response, at most `max` bytes.
async fn read_bounded(
    mut resp: reqwest::Response,
    url: &str,
    what: &str,
    max: usize,
) -> Result<Vec<u8>, Failure> {
    if !resp.status().is_success() {
        return Err(Failure::new(
            AssessReason::HttpStatus,
            format!("{what} {url}: HTTP {}", resp.status().as_u16()),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Failure::new(AssessReason::Connect, format!("{what} {url}: {e}")))?
    {
        if body.len() + chunk.len() > max {
            return Err(Failure::new(
                AssessReason::TooLarge,
                format!("{what} {url} exceeds {max} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// GET `url`, at most [`MAX_CRL_BYTES`].
async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, Failure> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| request_failure("CRL", url, &e))?;
    read_bounded(resp, url, "CRL", MAX_CRL_BYTES).await
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

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    fn unknown_reason(r: Option<(Status, &'static str)>) -> (String, &'static str) {
        match r {
            Some((Status::Unknown(f), source)) => (f.message, source),
            other => panic!("expected an unknown status, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_ocsp_only_certificate_without_its_issuer_is_unknown_not_without_source() {
        let leaf = super::super::cert::test_cert_with_sources(&[], &["http://ocsp.ca.test/"]);
        let cache = RevocationCache::default();
        let client = client();
        let r = cache
            .check(&client, &leaf, None, Duration::from_millis(200))
            .await;
        let (why, source) = unknown_reason(r);
        assert_eq!(source, "ocsp");
        assert!(
            why.contains("http://ocsp.ca.test/") && why.contains("issuer"),
            "{why}"
        );
        assert_eq!(cache.fetches(), 0, "nothing could be asked");
    }

    #[tokio::test]
    async fn only_ldap_sources_are_unknown_and_no_sources_is_none() {
        let client = client();
        let cache = RevocationCache::default();
        let leaf = super::super::cert::test_cert_with_sources(&["ldap://dir.ca.test/crl"], &[]);
        let r = cache
            .check(&client, &leaf, None, Duration::from_millis(200))
            .await;
        let (why, source) = unknown_reason(r);
        assert_eq!(source, "crl");
        assert!(why.contains("ldap://dir.ca.test/crl"), "{why}");
        let bare = super::super::cert::test_cert_with_sources(&[], &[]);
        let r = cache
            .check(&client, &bare, None, Duration::from_millis(200))
            .await;
        assert!(r.is_none(), "{r:?}");
    }
}
