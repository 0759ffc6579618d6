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
    pub verify_errors: Vec<String>,
    pub chain_complete: bool,
    pub hostname_ok: bool,
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
                Err(e) => v.verify_errors.push(format!("{name}: {e}")),
            }
        }
        if v.trusted_by.is_empty() && !self.pool.is_empty() {
            let mut with_pool: Vec<CertificateDer<'_>> = intermediates.to_vec();
            with_pool.extend(self.pool.iter().cloned());
            for (name, roots) in &self.sets {
                let ok = verify_server_cert_signed_by_trust_anchor(
                    &parsed,
                    roots,
                    &with_pool,
                    now,
                    self.algs.all,
                )
                .is_ok();
                if ok {
                    v.chain_complete = false;
                    v.verify_errors.push(format!(
                        "{name}: incomplete chain (verifies with a known intermediate the server did not send)"
                    ));
                    break;
                }
            }
        }
        v
    }
}
