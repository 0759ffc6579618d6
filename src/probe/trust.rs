//! Trust: the served chain verified separately against each anchor set.
//!
//! The handshake itself accepts any chain (see [`super::tls`]) so the chain is recorded even
//! when it is bad; here it is judged afterwards with rustls' webpki functions, once per anchor
//! set (`web` plus each configured set), so a host trusted only by a government root is
//! reported as such. Chain validity and the host name are judged separately: `trusted_by`
//! says who vouches for the chain, `hostname_ok` whether it names this host.
//!
//! Incomplete chains: when no set verifies the chain as served, verification is retried with
//! a pool of known intermediates added (CA certificates from the anchor files that are not
//! self-signed, plus any configured extras). Success then means the server forgot to send an
//! intermediate. AIA is never fetched.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;

use super::cert::{der_is_ca, der_is_self_signed};

/// Name of the public web roots anchor set in `trusted_by`.
pub const WEB: &str = "web";

/// Anchor sets ready for verification.
#[derive(Debug, Clone)]
pub struct TrustStore {
    sets: Vec<(String, Arc<RootCertStore>)>,
    pool: Vec<CertificateDer<'static>>,
    algs: WebPkiSupportedAlgorithms,
}

/// The trust verdicts for one served chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustVerdict {
    pub trusted_by: Vec<String>,
    /// Sets under which the leaf was issued: their chain verifies once completed from the
    /// intermediate pool, at a moment inside the leaf's validity (see `LeafFacts::issued_by`).
    pub issued_by: Vec<String>,
    pub verify_errors: Vec<String>,
    pub chain_complete: bool,
    pub hostname_ok: bool,
    /// Closed code of why no set verifies the chain (see `LeafFacts::trust_problem`).
    pub problem: String,
    /// AIA caIssuers URL of the certificate whose issuer the server did not send.
    pub missing_issuer_url: String,
    /// The verifier could not parse the leaf (why): nothing above was judged.
    pub leaf_unreadable: Option<String>,
}

/// The closed code of a verifier error, for messages (the raw text stays in evidence).
pub fn problem_code(e: &rustls::Error) -> &'static str {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "unknown_issuer",
            C::BadSignature => "bad_signature",
            C::UnsupportedSignatureAlgorithmContext { .. }
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => "weak_signature",
            C::Expired | C::ExpiredContext { .. } => "expired",
            C::NotValidYet | C::NotValidYetContext { .. } => "not_yet_valid",
            C::Revoked => "revoked",
            _ => "other",
        },
        _ => "other",
    }
}

impl TrustStore {
    /// Build from named certificate lists. In each list, self-signed certificates become
    /// trust anchors and other CA certificates go to the intermediate pool; a list with no
    /// self-signed certificate is used whole as anchors (an operator may pin an intermediate).
    pub fn new(
        sets: Vec<(String, Vec<CertificateDer<'static>>)>,
        extra_intermediates: Vec<CertificateDer<'static>>,
        algs: WebPkiSupportedAlgorithms,
    ) -> Self {
        let mut pool = extra_intermediates;
        let mut built = Vec::new();
        for (name, certs) in sets {
            let has_root = certs.iter().any(|c| der_is_self_signed(c));
            let mut store = RootCertStore::empty();
            for c in certs {
                if !has_root || der_is_self_signed(&c) {
                    store.add_parsable_certificates([c.clone()]);
                }
                if has_root && !der_is_self_signed(&c) && der_is_ca(&c) {
                    pool.push(c);
                }
            }
            built.push((name, Arc::new(store)));
        }
        TrustStore {
            sets: built,
            pool,
            algs,
        }
    }

    /// Add an anchor set made of already-parsed trust anchors (the built-in web roots).
    pub fn with_store(mut self, name: &str, store: RootCertStore) -> Self {
        self.sets.insert(0, (name.to_string(), Arc::new(store)));
        self
    }

    /// Judge `chain` (leaf first, as served) for `host` at `now`.
    pub fn judge(
        &self,
        chain: &[CertificateDer<'static>],
        host: &str,
        now: UnixTime,
    ) -> TrustVerdict {
        let mut v = TrustVerdict {
            chain_complete: true,
            ..TrustVerdict::default()
        };
        let Some((leaf, intermediates)) = chain.split_first() else {
            v.verify_errors.push("no certificate served".into());
            return v;
        };
        let parsed = match ParsedCertificate::try_from(leaf) {
            Ok(p) => p,
            Err(e) => {
                v.verify_errors.push(format!("leaf: {e}"));
                v.leaf_unreadable = Some(e.to_string());
                return v;
            }
        };
        v.hostname_ok = ServerName::try_from(host.to_string())
            .is_ok_and(|name| verify_server_name(&parsed, &name).is_ok());
        for (name, roots) in &self.sets {
            match verify_server_cert_signed_by_trust_anchor(
                &parsed,
                roots,
                intermediates,
                now,
                self.algs.all,
            ) {
                Ok(()) => v.trusted_by.push(name.clone()),
                Err(e) => {
                    if v.problem.is_empty() || v.problem == "unknown_issuer" {
                        // A set that knows the issuer says more than one that does not.
                        v.problem = problem_code(&e).to_string();
                    }
                    v.verify_errors.push(format!("{name}: {e}"));
                }
            }
        }
        if !v.trusted_by.is_empty() {
            v.problem.clear();
        }
        // Who issued the leaf, and whether the server left an intermediate out, are judged at
        // a moment inside the leaf's validity: an expired certificate served without its
        // intermediate is both expired and incomplete, and still its issuer's.
        let at = within_validity(leaf, now);
        let verifies = |roots: &RootCertStore, chain: &[CertificateDer<'_>]| {
            verify_server_cert_signed_by_trust_anchor(&parsed, roots, chain, at, self.algs.all)
                .is_ok()
        };
        let served: Vec<bool> = self
            .sets
            .iter()
            .map(|(name, roots)| {
                if at == now {
                    v.trusted_by.contains(name)
                } else {
                    verifies(roots, intermediates)
                }
            })
            .collect();
        let mut with_pool: Vec<CertificateDer<'_>> = intermediates.to_vec();
        with_pool.extend(self.pool.iter().cloned());
        let mut completed = None;
        for ((name, roots), served) in self.sets.iter().zip(&served) {
            let issued = *served || (!self.pool.is_empty() && verifies(roots, &with_pool));
            if issued {
                v.issued_by.push(name.clone());
                if !served && completed.is_none() {
                    completed = Some(name.clone());
                }
            }
        }
        if !served.iter().any(|s| *s)
            && let Some(name) = completed
        {
            v.chain_complete = false;
            v.verify_errors.push(format!(
                "{name}: incomplete chain (verifies with a known intermediate the server did not send)"
            ));
        }
        if v.chain_complete
            && v.problem == "unknown_issuer"
            && let Some(url) = missing_issuer(chain)
        {
            // The path built from what was served alone stops at a certificate that is not
            // self-signed and names where its issuer is published: the server left it out.
            v.chain_complete = false;
            v.verify_errors.push(format!(
                "incomplete chain: the issuer of the last served certificate is not served (AIA caIssuers {url})"
            ));
            v.missing_issuer_url = url;
        }
        v
    }
}

/// `now`, or the nearest moment inside `leaf`'s validity when it is expired or not yet valid
/// (`now` when its dates cannot be read).
fn within_validity(leaf: &CertificateDer<'_>, now: UnixTime) -> UnixTime {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let Ok((_, x)) = X509Certificate::from_der(leaf) else {
        return now;
    };
    let secs = |t: i64| u64::try_from(t).unwrap_or_default();
    let from = secs(x.validity().not_before.timestamp());
    let to = secs(x.validity().not_after.timestamp());
    if from > to {
        return now;
    }
    let t = now.as_secs().clamp(from, to);
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(t))
}

/// Most certificates followed when building a path from the served chain.
const MAX_PATH: usize = 16;

/// Build the path from the leaf through the served certificates alone (issuer name = subject
/// name). When it ends at a certificate that is not self-signed and carries an AIA
/// caIssuers URL, that URL: the certificate the server should have sent is published there.
pub fn missing_issuer(chain: &[CertificateDer<'_>]) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let parsed: Vec<X509Certificate<'_>> = chain
        .iter()
        .take(MAX_PATH)
        .filter_map(|c| X509Certificate::from_der(c).ok().map(|(_, x)| x))
        .collect();
    let cur = path_end(&parsed)?;
    if cur.subject().as_raw() == cur.issuer().as_raw() {
        return None;
    }
    super::cert::ca_issuers_url(cur)
}

/// What a certificate fetched from an AIA caIssuers URL is to the served chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AiaIssuer {
    /// Its subject is the issuer the served path ends at, and its key verifies that
    /// certificate's signature: it is the certificate the server left out.
    Issued,
    /// Unreadable, or its subject is not the issuer named by the served path's end.
    NotNamed,
    /// Named as the issuer, but its key does not verify the signature: another CA's
    /// certificate under the same name (a re-keyed CA, a look-alike).
    BadSignature,
    /// Named as the issuer, but the signature cannot be checked here (an algorithm or key
    /// size the verifier does not support): whether it issued the chain is unknown.
    Uncheckable(String),
}

/// Whether `candidate` (DER), fetched from an AIA URL, issued the certificate the served path
/// ends at: its subject equals, byte for byte, that certificate's issuer name **and** its key
/// verifies that certificate's signature. Only such a certificate can be the one the server
/// left out; anything else says nothing about the served chain.
pub fn aia_issuer(chain: &[CertificateDer<'_>], candidate: &[u8]) -> AiaIssuer {
    use x509_parser::error::X509Error;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let Ok((_, fetched)) = X509Certificate::from_der(candidate) else {
        return AiaIssuer::NotNamed;
    };
    let parsed: Vec<X509Certificate<'_>> = chain
        .iter()
        .take(MAX_PATH)
        .filter_map(|c| X509Certificate::from_der(c).ok().map(|(_, x)| x))
        .collect();
    let Some(end) = path_end(&parsed) else {
        return AiaIssuer::NotNamed;
    };
    if end.issuer().as_raw() != fetched.subject().as_raw() {
        return AiaIssuer::NotNamed;
    }
    match end.verify_signature(Some(fetched.public_key())) {
        Ok(()) => AiaIssuer::Issued,
        Err(X509Error::SignatureVerificationError) => {
            // ring refuses RSA keys under 2048 bits and curves other than P-256/P-384 with a
            // plain verification error: for those the failure says nothing.
            let key = super::cert::cert_facts(candidate, time::OffsetDateTime::UNIX_EPOCH).key;
            if super::cert::verifiable_key(&key) {
                AiaIssuer::BadSignature
            } else {
                AiaIssuer::Uncheckable(format!("a {} key of {} bits", key.alg, key.bits))
            }
        }
        Err(e) => AiaIssuer::Uncheckable(format!(
            "signature algorithm {} ({e})",
            end.signature_algorithm.algorithm.to_id_string()
        )),
    }
}

/// The certificate the path from the leaf through the served certificates ends at.
fn path_end<'a, 'b>(
    parsed: &'a [x509_parser::prelude::X509Certificate<'b>],
) -> Option<&'a x509_parser::prelude::X509Certificate<'b>> {
    let mut cur = parsed.first()?;
    let mut used = vec![false; parsed.len()];
    if let Some(u) = used.first_mut() {
        *u = true;
    }
    for _ in 0..MAX_PATH {
        let next = parsed.iter().enumerate().find(|(i, c)| {
            !used.get(*i).copied().unwrap_or(true) && c.subject().as_raw() == cur.issuer().as_raw()
        });
        match next {
            Some((i, c)) => {
                if let Some(u) = used.get_mut(i) {
                    *u = true;
                }
                cur = c;
            }
            None => break,
        }
    }
    Some(cur)
}
