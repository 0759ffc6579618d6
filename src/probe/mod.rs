//! The TLS and HTTP probe: host → [`HostFacts`].
//!
//! One probe asks a handful of small questions of a host, each on its own connection and each
//! under a timeout, and merges the answers into facts:
//! - rustls handshakes with only TLS 1.3, then only TLS 1.2 enabled ([`tls`]): negotiated
//!   version and cipher, the chain as served and any stapled OCSP response;
//! - the chain described with x509-parser ([`cert`]) and judged per anchor set ([`trust`]);
//! - the legacy probe ([`legacy`], [`hello`]): TLS 1.0/1.1, weak suites, small DHE groups;
//! - plain HTTP redirect and HSTS ([`http`]).
//!
//! Bounds: every step has a timeout; a host gets at most `max_conns_per_host` connections at
//! once; [`probe_hosts`] runs at most `max_hosts_in_flight` hosts at once. A probe never fails:
//! what could not be learned is an [`ErrorFact`](crate::facts::ErrorFact) in the result.

pub mod cert;
mod config;
pub mod hello;
pub mod http;
pub mod legacy;
pub mod net;
pub mod ocsp;
pub mod revocation;
pub mod spot;
mod table;
pub mod tls;
pub mod trust;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::facts::{AssessReason, HostFacts, LeafFacts, TlsFacts, UnknownFact};
pub use config::{
    AnchorSet, DEFAULT_EXPIRY_WARNING_DAYS, DEFAULT_MAX_CONNS_PER_HOST,
    DEFAULT_MAX_HOSTS_IN_FLIGHT, ProbeConfig, ProbeError, WebRoots, load_pem_certs, parse_resolve,
};
pub use table::{render_outcomes, render_table};
use trust::TrustStore;

/// A prepared probe: trust store, crypto provider and HTTP clients built once and shared by
/// every host.
pub struct Prober {
    cfg: ProbeConfig,
    provider: Arc<CryptoProvider>,
    trust: TrustStore,
    http: Result<reqwest::Client, String>,
    /// CRL lookups of this run, per issuer and serial.
    revocation: revocation::RevocationCache,
}

impl Prober {
    pub fn new(cfg: ProbeConfig) -> Self {
        crate::install_crypto_provider();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algs = provider.signature_verification_algorithms;
        let mut sets: Vec<(String, Vec<CertificateDer<'static>>)> = cfg
            .anchors
            .iter()
            .map(|a| (a.name.clone(), a.certs.clone()))
            .collect();
        let trust = match &cfg.web_roots {
            WebRoots::Custom(certs) => {
                sets.insert(0, (trust::WEB.to_string(), certs.clone()));
                TrustStore::new(sets, cfg.intermediates.clone(), algs)
            }
            WebRoots::Builtin => {
                let web = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                TrustStore::new(sets, cfg.intermediates.clone(), algs).with_store(trust::WEB, web)
            }
        };
        let recorder = Arc::new(tls::Recorder::new(provider.clone()));
        let http = tls::recording_config(provider.clone(), None, recorder)
            .map_err(|e| e.to_string())
            .and_then(|tls_cfg| {
                http::client(
                    tls_cfg,
                    &cfg.resolve,
                    cfg.connect_timeout,
                    cfg.connect_timeout + cfg.read_timeout,
                    cfg.address_guard.as_ref(),
                )
                .map_err(|e| e.to_string())
            });
        Prober {
            cfg,
            provider,
            trust,
            http,
            revocation: revocation::RevocationCache::default(),
        }
    }

    pub fn config(&self) -> &ProbeConfig {
        &self.cfg
    }

    /// CRLs fetched so far by this prober (each issuer and serial at most once).
    pub fn crl_fetches(&self) -> usize {
        self.revocation.fetches()
    }

    /// The revocation status of `chain`'s leaf from its OCSP responder or CRL, with the
    /// source; `None` when it names neither (or no HTTP client exists).
    async fn crl_status(
        &self,
        chain: &[CertificateDer<'static>],
    ) -> Option<(revocation::Status, &'static str)> {
        let (Ok(client), Some(leaf)) = (&self.http, chain.first()) else {
            return None;
        };
        let issuer = self.issuer_of(chain);
        let timeout = self.cfg.connect_timeout + self.cfg.read_timeout;
        self.revocation
            .check(client, leaf, issuer.as_deref(), timeout)
            .await
    }

    /// The issuer certificate of `chain`'s leaf: served after it, else among the configured
    /// anchors, web roots (custom) and intermediates (matched by name).
    fn issuer_of(&self, chain: &[CertificateDer<'static>]) -> Option<Vec<u8>> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, leaf) = X509Certificate::from_der(chain.first()?).ok()?;
        let issuer = leaf.issuer().as_raw();
        let custom = match &self.cfg.web_roots {
            WebRoots::Custom(c) => c.as_slice(),
            WebRoots::Builtin => &[],
        };
        chain
            .iter()
            .skip(1)
            .chain(self.cfg.anchors.iter().flat_map(|a| a.certs.iter()))
            .chain(custom.iter())
            .chain(self.cfg.intermediates.iter())
            .find(|c| {
                X509Certificate::from_der(c).is_ok_and(|(_, x)| x.subject().as_raw() == issuer)
            })
            .map(|c| c.to_vec())
    }

    /// Probe one host. Never panics on what the host sends; every step is timed out.
    pub async fn probe_host(&self, host: &str, port: u16) -> HostFacts {
        let now = OffsetDateTime::now_utc();
        let mut facts = HostFacts {
            name: host.to_string(),
            port: i64::from(port),
            probed_at: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            ..HostFacts::default()
        };
        let c = &self.cfg;
        let addrs = match net::resolve(&c.resolve, host, port, c.connect_timeout).await {
            Ok(a) => a,
            Err(f) => {
                facts.error = Some(f.into());
                return facts;
            }
        };
        // The guard drops what it does not permit (as the crawler's resolver does); a name
        // with no permitted address is not connected to at all.
        let addrs: Vec<SocketAddr> = match &c.address_guard {
            Some(guard) => {
                let permitted: Vec<SocketAddr> = addrs
                    .iter()
                    .copied()
                    .filter(|a| guard.permits(a.ip()))
                    .collect();
                if permitted.is_empty() {
                    facts.error = Some(crate::facts::ErrorFact {
                        kind: crate::facts::AssessReason::Connect,
                        message: format!(
                            "{host} resolves to {}, a private/loopback/link-local address not allowed by crawl.allow_private",
                            addrs
                                .first()
                                .map(|a| a.ip().to_string())
                                .unwrap_or_default()
                        ),
                    });
                    return facts;
                }
                permitted
            }
            None => addrs,
        };
        let gate = Semaphore::new(c.max_conns_per_host.max(1));
        let gate = &gate;

        // Phase 1: TLS 1.3 and plain HTTP together. TLS 1.3 asks the name's addresses in order
        // until one answers (a dual-stack name whose IPv6 does not work on the inspection
        // network is probed over IPv4); every later question goes to that address.
        let hs13 = async {
            let mut tried: Vec<(SocketAddr, net::Failure)> = Vec::new();
            for a in &addrs {
                let mut r = {
                    let _p = gate.acquire().await;
                    self.handshake(&rustls::version::TLS13, *a, host).await
                };
                // One refusal (a firewall's reject, a listener restarting) is not yet "nothing
                // listens here": ask once more after a short pause before taking it as final.
                if matches!(&r, Err((f, _)) if f.connection_refused) {
                    tokio::time::sleep(REFUSAL_PAUSE.min(c.connect_timeout)).await;
                    let _p = gate.acquire().await;
                    r = self.handshake(&rustls::version::TLS13, *a, host).await;
                }
                match r {
                    Err((f, _)) if !f.peer_answered() => tried.push((*a, f)),
                    r => return (Some(*a), r, tried),
                }
            }
            let failure = none_answered(&tried);
            (None, Err((failure, tls::Seen::default())), tried)
        };
        let plain = async {
            let _p = gate.acquire().await;
            match &self.http {
                Ok(client) => http::plain_from(client, host, c.http_port).await,
                Err(e) => (
                    Default::default(),
                    Some(net::Failure::new(
                        AssessReason::Connect,
                        format!("no HTTP client: {e}"),
                    )),
                    None,
                ),
            }
        };
        let ((answered, hs13, tried), (plain, mut plain_failure, plain_from)) =
            tokio::join!(hs13, plain);
        facts.http = plain;
        // A plain-HTTP 403 is settled against the HTTPS side below, when there is one.
        let tls_dead = matches!(&hs13, Err((f, _)) if !f.peer_answered());
        let plain_refused = if tls_dead {
            None
        } else {
            plain_failure.take_if(|f| http::is_refusal(f))
        };
        if let Some(f) = plain_failure {
            // Where plain HTTP leads is unknown; whether it is served at all is unknown too
            // unless its first request got an answer (a chain cut short after a hop, a 503).
            if !facts.http.http_reachable {
                unknown(&mut facts, "http.http_reachable", f.clone());
            }
            unknown(&mut facts, "http.https_redirect", f);
        }
        let Some(addr) = answered else {
            // The address that answered plain HTTP refused the TLS port: an observed "no
            // HTTPS here", not an outage.
            let refused = tried.iter().find(|(a, f)| {
                f.connection_refused && plain_from.is_some_and(|p| p.ip() == a.ip())
            });
            if let Some((a, _)) = refused
                && facts.http.http_reachable
            {
                https_not_offered(&mut facts, *a);
                return facts;
            }
            // Nothing listens on the TLS port: no point asking more questions of it.
            facts.reachable = facts.http.http_reachable;
            if let Err((f, _)) = &hs13 {
                facts.error = Some(f.clone().into());
            }
            return facts;
        };
        // The first address that answered on the TLS port (a handshake, or a peer that
        // spoke): every later question goes to it.
        facts.address = addr.to_string();
        facts.reachable = true;

        // Phase 2: TLS 1.2, HSTS and the legacy questions, at most `max_conns_per_host` at once.
        let hs12 = async {
            let _p = gate.acquire().await;
            self.handshake(&rustls::version::TLS12, addr, host).await
        };
        let hsts = async {
            let _p = gate.acquire().await;
            match &self.http {
                Ok(client) => {
                    let entries = self
                        .cfg
                        .entry_paths
                        .get(&net::pin_key(host, port))
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    // One deadline for every page and hop asked (a tarpit host must not hold
                    // a connection slot for each).
                    let budget = (c.connect_timeout + c.read_timeout) * 2;
                    match tokio::time::timeout(budget, http::hsts(client, host, port, entries))
                        .await
                    {
                        Ok(r) => r,
                        Err(_) => (
                            Err(net::Failure::new(
                                AssessReason::Timeout,
                                format!(
                                    "the HSTS questions did not finish within {} s",
                                    budget.as_secs()
                                ),
                            )),
                            false,
                        ),
                    }
                }
                Err(e) => (
                    Err(net::Failure::new(
                        AssessReason::Connect,
                        format!("no HTTP client: {e}"),
                    )),
                    false,
                ),
            }
        };
        use hello::SuiteClass::*;
        use legacy::Question;
        let questions = [
            Question::Version(hello::TLS1_0),
            Question::Version(hello::TLS1_1),
            Question::Weak(TripleDes),
            Question::Weak(Rc4),
            Question::Weak(Null),
            Question::Weak(Export),
            Question::Weak(Anon),
            Question::Dhe,
        ];
        let legacy = self.legacy(&questions, addr, host, gate);
        // Revocation (when nothing was stapled) runs beside the other questions; it asks the
        // CA's server, not this host, so it takes no connection of the host's gate.
        let crl_asked = matches!(&hs13, Ok(h) if h.seen.ocsp.is_empty());
        let crl = async {
            match &hs13 {
                Ok(h) if crl_asked => self.crl_status(&h.seen.chain).await,
                _ => None,
            }
        };
        let (hs12, hsts, mut legacy, crl) = tokio::join!(hs12, hsts, legacy, crl);
        if hs12.is_err() {
            // rustls only speaks ECDHE with AEAD suites: ask whether TLS 1.2 works at all
            // (CBC-only, DHE-only or RSA-key-exchange-only servers).
            let more = self
                .legacy(&[Question::Version(hello::TLS1_2)], addr, host, gate)
                .await;
            legacy.merge(more);
        }
        let (hsts, root_refused) = hsts;
        // A plain-HTTP 403 where HTTPS refuses the probe too: a filter in front of the site,
        // whose plain-HTTP answer to a citizen is unknown. Where HTTPS answered the probe, the
        // 403 is the site's own answer (an IIS "SSL required", a bare error page), served
        // without a redirect.
        if let Some(f) = plain_refused
            && root_refused
        {
            unknown(&mut facts, "http.https_redirect", f);
        }
        match hsts {
            Ok(h) => facts.http.hsts = h,
            Err(mut f) => {
                if hs13.is_err() && hs12.is_err() {
                    // The HTTPS request needs what rustls speaks (TLS 1.2+ with modern suites).
                    f = net::Failure::tls(format!(
                        "the host completes no TLS 1.2/1.3 handshake with modern suites ({})",
                        f.message
                    ));
                }
                unknown(&mut facts, "http.hsts", f);
            }
        }

        let mut tls = TlsFacts::default();
        let mut chain = Vec::new();
        let mut ocsp = Vec::new();
        let mut sig_error = None;
        for (hs, name) in [(&hs13, "TLSv1.3"), (&hs12, "TLSv1.2")] {
            if let Ok(h) = hs {
                tls.versions.push(name.to_string());
                if tls.version.is_empty() {
                    tls.version = h.version.clone();
                    tls.cipher = h.cipher.clone();
                    chain = h.seen.chain.clone();
                    ocsp = h.seen.ocsp.clone();
                    sig_error = h.seen.sig_error.clone();
                }
            }
        }
        if chain.is_empty() {
            // No rustls handshake: keep whatever chain a failed handshake or the legacy probe saw.
            for hs in [&hs13, &hs12] {
                if let Err((_, seen)) = hs
                    && chain.is_empty()
                {
                    chain = seen.chain.clone();
                }
            }
            if chain.is_empty() {
                chain = legacy.certificates.clone();
            }
        }
        for v in legacy.versions.iter().rev() {
            if !tls.versions.contains(v) {
                tls.versions.push(v.clone());
            }
        }
        sort_versions(&mut tls.versions);
        tls.legacy = tls
            .versions
            .iter()
            .any(|v| v == "TLSv1.0" || v == "TLSv1.1" || v == "SSLv3");
        tls.weak_ciphers = legacy.weak_ciphers;
        tls.weak_classes = legacy.weak_classes;
        tls.dhe_min_bits = legacy.dhe_min_bits;
        tls.ocsp_stapled = !ocsp.is_empty();
        facts.tls = tls;
        if !self.cfg.legacy_probe {
            for fact in [
                "tls.legacy",
                "tls.weak_ciphers",
                "tls.weak_classes",
                "tls.dhe_min_bits",
            ] {
                unknown(
                    &mut facts,
                    fact,
                    net::Failure::new(AssessReason::NoData, "the legacy probe is disabled"),
                );
            }
        }
        for (fact, member, f) in legacy.unanswered {
            // One accepted legacy version proves `tls.legacy` whatever another question got.
            if fact == "tls.legacy" && facts.tls.legacy {
                continue;
            }
            match facts.unknown.iter_mut().find(|u| u.fact == fact) {
                // Known in part so far: this question adds its member, or (a question about
                // the whole fact) makes all of it unknown.
                Some(u) if !u.may_hold.is_empty() => match member {
                    Some(m) if !u.may_hold.iter().any(|h| h == m) => u.may_hold.push(m.into()),
                    Some(_) => {}
                    None => u.may_hold.clear(),
                },
                Some(_) => {}
                None => {
                    unknown(&mut facts, fact, f);
                    if let (Some(m), Some(u)) = (member, facts.unknown.last_mut()) {
                        u.may_hold.push(m.into());
                    }
                }
            }
        }

        if facts.tls.versions.is_empty() {
            let failure = match (&hs13, &hs12) {
                (Err((f, _)), _) => f.clone(),
                (_, Err((f, _))) => f.clone(),
                _ => net::Failure::tls("no TLS version accepted"),
            };
            facts.error = Some(failure.into());
        }
        if !chain.is_empty() {
            self.judge_chain(&mut facts, &chain, &ocsp, sig_error, host, now);
            self.confirm_missing_issuer(&mut facts, &chain, host, now)
                .await;
            let crl = match crl {
                Some(s) => Some(s),
                None if !crl_asked && ocsp.is_empty() => self.crl_status(&chain).await,
                None => None,
            };
            if let Some((status, source)) = crl
                && ocsp.is_empty()
            {
                facts.tls.revocation = status.as_str().to_string();
                facts.tls.revocation_source = source.into();
                if let revocation::Status::Unknown(f) = status {
                    unknown(&mut facts, "tls.revocation", f);
                }
            }
        } else if facts.error.is_none() {
            unknown(
                &mut facts,
                "cert",
                net::Failure::tls("the host accepted a TLS version but no certificate was read"),
            );
        }
        facts
    }

    async fn handshake(
        &self,
        version: &'static rustls::SupportedProtocolVersion,
        addr: SocketAddr,
        host: &str,
    ) -> Result<tls::Handshake, (net::Failure, tls::Seen)> {
        tls::handshake(
            self.provider.clone(),
            version,
            addr,
            host,
            self.cfg.connect_timeout,
            self.cfg.handshake_timeout,
        )
        .await
    }

    /// When the served chain looks incomplete because its last certificate names where its
    /// issuer is published (AIA caIssuers), fetch that certificate (once, `http://` only, at
    /// most [`MAX_AIA_BYTES`], under the connect + read timeout) to tell the two cases apart: a
    /// self-signed root the server need not send (the chain is complete, just untrusted:
    /// TLS-001's business), or an intermediate (the chain is incomplete: confirmed, and named
    /// in `verify_errors`). A fetch that fails (or is not made: an `https://` URL, no client)
    /// makes the chain's completeness unknown, as does a fetched certificate that is not the
    /// issuer the served chain names, or one named as the issuer whose key does not verify the
    /// served chain's last signature or whose signature cannot be checked.
    async fn confirm_missing_issuer(
        &self,
        facts: &mut HostFacts,
        chain: &[CertificateDer<'static>],
        host: &str,
        now: OffsetDateTime,
    ) {
        let url = facts.cert.missing_issuer_url.clone();
        if facts.cert.chain_complete || url.is_empty() {
            return;
        }
        // Whether the certificate the served chain ends at names a root (which the server need
        // not send) or an intermediate (which it left out) is observed only by fetching it: a
        // fetch that did not happen or failed leaves completeness unknown, never "incomplete"
        // (an inspection network that cannot reach the CA is not the portal's fault).
        let not_observed = |facts: &mut HostFacts, f: net::Failure| {
            let said = format!(
                "the issuer named at AIA caIssuers {url} {}: whether it is a root the server need not send or an intermediate it left out is not observed",
                f.message
            );
            // The served chain's own guess ("incomplete chain: ...") would reach every host
            // finding's evidence as a statement: replaced by what was and was not observed.
            drop_gap_guess(facts);
            facts.cert.verify_errors.push(said.clone());
            issuer_unknown(facts, &net::Failure::new(f.kind, said.clone()));
            unknown(
                facts,
                "cert.chain_complete",
                net::Failure::new(f.kind, said),
            );
        };
        let client = match &self.http {
            Ok(c) if url.starts_with("http://") => c,
            Ok(_) => {
                let why = "was not fetched (only http:// AIA URLs are fetched)";
                return not_observed(facts, net::Failure::new(AssessReason::Connect, why));
            }
            Err(e) => {
                let why = format!("was not fetched (no HTTP client: {e})");
                return not_observed(facts, net::Failure::new(AssessReason::Connect, why));
            }
        };
        let timeout = self.cfg.connect_timeout + self.cfg.read_timeout;
        let der = match tokio::time::timeout(timeout, fetch_cert(client, &url)).await {
            Ok(Ok(der)) => der,
            Ok(Err(f)) => return not_observed(facts, f),
            Err(_) => {
                let why = format!("was not fetched within {} ms", timeout.as_millis());
                return not_observed(facts, net::Failure::timeout(why));
            }
        };
        let fetched = cert::cert_facts(&der, now);
        let subject = if fetched.subject.is_empty() {
            "an unreadable certificate"
        } else {
            &fetched.subject
        };
        let doubt = match trust::aia_issuer(chain, &der) {
            trust::AiaIssuer::Issued => None,
            trust::AiaIssuer::NotNamed => {
                // Only a certificate whose subject is the issuer named by the last served
                // certificate can be the one left out. Anything else (the CA's root, another
                // CA, the name encoded otherwise) proves nothing about the served chain, whose
                // gap may still be a root the server need not send.
                let why = format!(
                    "holds {subject}, which is not the issuer named by the last served certificate"
                );
                return not_observed(facts, net::Failure::new(AssessReason::Decode, why));
            }
            // The right name on another key (a re-keyed CA, a look-alike) did not issue the
            // served chain.
            trust::AiaIssuer::BadSignature => {
                Some("its key does not verify the last served certificate's signature".to_string())
            }
            trust::AiaIssuer::Uncheckable(why) => Some(format!(
                "its signature over the served chain cannot be checked ({why})"
            )),
        };
        if let Some(doubt) = doubt {
            // Named, but not proven the issuer: whether the real issuer is a root the server
            // need not send or an intermediate it left out is not observed. Completeness is
            // unknown (neither TLS-013's finding nor its pass).
            let said =
                format!("AIA caIssuers {url} holds {subject}, named as the issuer, but {doubt}");
            issuer_unknown(
                facts,
                &net::Failure::new(AssessReason::Decode, said.clone()),
            );
            unknown(
                facts,
                "cert.chain_complete",
                net::Failure::new(
                    AssessReason::Decode,
                    format!("{said}: whether the chain is complete is unknown"),
                ),
            );
            drop_gap_guess(facts);
            facts.cert.verify_errors.push(said);
            return;
        }
        if fetched.self_signed {
            facts.cert.chain_complete = true;
            facts.cert.missing_issuer_url.clear();
            facts
                .cert
                .verify_errors
                .retain(|e| !e.starts_with("incomplete chain"));
            facts.cert.verify_errors.push(format!(
                "AIA caIssuers {url} is a self-signed root ({}): the chain is complete, its root is not trusted",
                fetched.subject
            ));
            return;
        }
        let mut extended = chain.to_vec();
        extended.push(CertificateDer::from(der));
        let unix = UnixTime::since_unix_epoch(Duration::from_secs(
            u64::try_from(now.unix_timestamp()).unwrap_or_default(),
        ));
        let with = self.trust.judge(&extended, host, unix);
        // The issuer the server left out is proven: the leaf is known by it.
        for name in with.issued_by {
            if !facts.cert.issued_by.contains(&name) {
                facts.cert.issued_by.push(name);
            }
        }
        facts.cert.verify_errors.push(format!(
            "AIA caIssuers {url} holds the missing certificate {}{}",
            fetched.subject,
            if with.trusted_by.is_empty() {
                ""
            } else {
                " (with it the chain verifies)"
            }
        ));
    }

    fn judge_chain(
        &self,
        facts: &mut HostFacts,
        chain: &[CertificateDer<'static>],
        ocsp: &[u8],
        sig_error: Option<tls::SigError>,
        host: &str,
        now: OffsetDateTime,
    ) {
        facts.chain = chain.iter().map(|c| cert::cert_facts(c, now)).collect();
        let unix = UnixTime::since_unix_epoch(Duration::from_secs(
            u64::try_from(now.unix_timestamp()).unwrap_or_default(),
        ));
        let verdict = self.trust.judge(chain, host, unix);
        let Some(leaf) = facts.chain.first().cloned() else {
            return;
        };
        // A leaf either parser cannot read has no dates, names or key to judge: every
        // certificate fact is unknown (the defaults below would read as "expires in 0 days",
        // "no SAN", "wrong host name").
        let unreadable = match (&leaf.sig_alg[..], &verdict.leaf_unreadable) {
            ("unparseable", _) => Some("x509-parser cannot read it".to_string()),
            (_, Some(e)) => Some(format!("the verifier cannot read it: {e}")),
            _ => None,
        };
        if let Some(why) = &unreadable {
            unknown(
                facts,
                "cert",
                net::Failure::new(
                    AssessReason::Decode,
                    format!("the leaf certificate could not be parsed ({why})"),
                ),
            );
        }
        if unreadable.is_none() && leaf.key.alg == cert::UNKNOWN_KEY_ALG {
            // A key of an algorithm dvc-audit cannot size is neither weak nor strong: TLS-009
            // could not assess it (its `when` reads `cert.key`), it does not pass.
            unknown(
                facts,
                "cert.key",
                net::Failure::new(
                    AssessReason::Decode,
                    format!(
                        "the leaf certificate's public key is of an algorithm dvc-audit cannot size ({})",
                        chain.first().map(|d| cert::key_oid(d)).unwrap_or_default()
                    ),
                ),
            );
        }
        let mut l = LeafFacts {
            subject: leaf.subject,
            issuer: leaf.issuer,
            has_san: !leaf.sans.is_empty(),
            sans: leaf.sans,
            not_before: leaf.not_before,
            not_after: leaf.not_after,
            days_left: leaf.days_left,
            validity_days: leaf.validity_days,
            expired: false,
            not_yet_valid: false,
            hostname_ok: verdict.hostname_ok,
            trusted: !verdict.trusted_by.is_empty(),
            publicly_trusted: verdict.trusted_by.iter().any(|n| n == trust::WEB),
            trusted_by: verdict.trusted_by,
            issued_by: verdict.issued_by,
            chain_complete: verdict.chain_complete,
            self_signed: leaf.self_signed,
            weak_key: cert::weak_key(&leaf.key),
            key: leaf.key,
            sig_alg: leaf.sig_alg,
            weak_sig_in_chain: chain
                .iter()
                .zip(&facts.chain)
                .any(|(der, f)| !f.self_signed && cert::weak_signature(der)),
            verify_errors: verdict.verify_errors,
            expiring_soon: false,
            trust_problem: String::new(),
            missing_issuer_url: String::new(),
        };
        if let Some(x) = chain.first().and_then(|d| leaf_times(d)) {
            l.expired = now > x.1;
            l.not_yet_valid = now < x.0;
        }
        l.expiring_soon = !l.expired && l.days_left < self.cfg.expiry_warning_days;
        l.trust_problem = verdict.problem;
        if let Some(e) = sig_error {
            l.verify_errors
                .push(format!("handshake signature: {}", e.message));
            // The server signs the handshake with the key of the certificate it sends; a
            // signature that key does not verify means the server did not prove it holds the
            // certificate's key, and a browser refuses the connection whatever the chain.
            // ring refuses weak keys (RSA under 2048 bits) with the same error: those are
            // TLS-009's finding, and say nothing about possession.
            if cert::verifiable_key(&l.key) {
                if e.bad {
                    // The chain facts (`trusted_by`, `publicly_trusted`) stay as verified: the
                    // certificate is what it is; the host did not prove it holds its key.
                    l.trusted = false;
                    l.trust_problem = "key_not_held".into();
                } else {
                    unknown(
                        facts,
                        "cert.trusted",
                        net::Failure::new(
                            AssessReason::Decode,
                            format!(
                                "the server's handshake signature could not be checked ({}): whether it holds the certificate's key is unknown",
                                e.message
                            ),
                        ),
                    );
                }
            }
        }
        if l.weak_sig_in_chain && l.issued_by.is_empty() {
            // The verifier refuses SHA-1/MD5 signatures: no set can vouch for such a chain,
            // so who issued it is not observed (it is not "nobody's").
            unknown(
                facts,
                "cert.issued_by",
                net::Failure::new(
                    AssessReason::Decode,
                    "the chain carries a SHA-1/MD5 signature, which the verifier does not accept: the leaf's issuer could not be verified",
                ),
            );
        }
        l.missing_issuer_url = verdict.missing_issuer_url;
        if !ocsp.is_empty() {
            let serial = hex::decode(&leaf.serial).unwrap_or_default();
            let status = ocsp::stapled_status(ocsp, &serial);
            facts.tls.ocsp_status = status.to_string();
            facts.tls.revocation = status.to_string();
            facts.tls.revocation_source = "stapled".into();
            if status == "unknown" {
                unknown(
                    facts,
                    "tls.revocation",
                    net::Failure::new(
                        AssessReason::Decode,
                        "the stapled OCSP response gives no status for the certificate",
                    ),
                );
            }
        }
        facts.cert = l;
    }

    /// Ask the legacy `questions` (when the legacy probe is enabled), each on its own
    /// connection under the host's connection gate.
    async fn legacy(
        &self,
        questions: &[legacy::Question],
        addr: SocketAddr,
        host: &str,
        gate: &Semaphore,
    ) -> LegacyFacts {
        use legacy::Question;
        let mut out = LegacyFacts::default();
        if !self.cfg.legacy_probe {
            return out;
        }
        let asks = questions.iter().map(|q| async move {
            let _p = gate.acquire().await;
            let a = legacy::ask(
                *q,
                addr,
                host,
                self.cfg.connect_timeout,
                self.cfg.handshake_timeout,
            )
            .await;
            (*q, a)
        });
        for (q, a) in futures::future::join_all(asks).await {
            let a = match a {
                Ok(a) => a,
                Err(f) => {
                    let (fact, member) = match q {
                        Question::Version(hello::TLS1_2) => ("tls.versions", None),
                        Question::Version(_) => ("tls.legacy", None),
                        // Only this class is in question: the others' answers stand.
                        Question::Weak(class) => (
                            "tls.weak_classes",
                            Some(class.fact_name()).filter(|n| !n.is_empty()),
                        ),
                        Question::Dhe => ("tls.dhe_min_bits", None),
                    };
                    out.unanswered.push((fact, member, f));
                    continue;
                }
            };
            if out.certificates.is_empty() && !a.certificates.is_empty() {
                out.certificates = a
                    .certificates
                    .iter()
                    .map(|c| CertificateDer::from(c.clone()))
                    .collect();
            }
            if !a.accepted {
                continue;
            }
            // Any accepted hello proves its version: a host that speaks only NULL or 3DES
            // suites still has a protocol version and a certificate.
            let version = hello::version_name(a.version).to_string();
            if a.version != 0 && !out.versions.contains(&version) {
                out.versions.push(version);
            }
            match q {
                Question::Version(_) => {}
                Question::Weak(class) => {
                    out.weak_ciphers.push(a.suite);
                    let name = class.fact_name().to_string();
                    if !name.is_empty() && !out.weak_classes.contains(&name) {
                        out.weak_classes.push(name);
                    }
                }
                Question::Dhe => match a.dhe_prime_bits {
                    Some(bits) => out.dhe_min_bits = i64::from(bits),
                    // A DHE suite chosen, its prime not read (the key exchange did not arrive
                    // or did not parse): the host does speak DHE, at an unknown strength, which
                    // is not "no DHE".
                    None => out.unanswered.push((
                        "tls.dhe_min_bits",
                        None,
                        net::Failure::new(
                            AssessReason::Decode,
                            format!(
                                "the host chose {} but its DHE key exchange was not read",
                                a.suite
                            ),
                        ),
                    )),
                },
            }
        }
        out
    }
}

/// Why no address of the host answered on the TLS port (`tried`: each address and its
/// failure, in order): one failure as it is; several in one message naming each, of the
/// first failure's kind, a refusal only when every address refused.
fn none_answered(tried: &[(SocketAddr, net::Failure)]) -> net::Failure {
    match tried {
        [] => net::Failure::new(AssessReason::Dns, "the name has no address to ask"),
        [(_, f)] => f.clone(),
        [(_, first), ..] => {
            let said: Vec<String> = tried
                .iter()
                .map(|(a, f)| {
                    if f.message.contains(&a.to_string()) {
                        f.message.clone()
                    } else {
                        format!("{a}: {}", f.message)
                    }
                })
                .collect();
            net::Failure {
                connection_refused: tried.iter().all(|(_, f)| f.connection_refused),
                ..net::Failure::new(
                    first.kind,
                    format!(
                        "no address of the host answered on the TLS port: {}",
                        said.join("; ")
                    ),
                )
            }
        }
    }
}

/// Pause before asking a TLS port that refused the connection once more: a single refusal
/// (an ICMP reject, a listener restarting) is not taken as "HTTPS is not offered".
const REFUSAL_PAUSE: Duration = Duration::from_millis(400);

/// The host's TLS port at `addr` refused the connection while plain HTTP answered from the
/// same address: HTTPS is not offered (`https_refused`, HTTP-004's finding). Plain HTTP's facts
/// stand as observed (HTTP-003 judges them); nothing about TLS, the certificate or HSTS was
/// observed, and each says why.
fn https_not_offered(facts: &mut HostFacts, addr: SocketAddr) {
    facts.https_refused = true;
    facts.reachable = true;
    facts.address = addr.to_string();
    let why = format!(
        "HTTPS is not offered: {addr} refused the connection on the TLS port while plain HTTP \
         answered from the same address; no TLS handshake, certificate or HSTS header to observe"
    );
    for fact in ["tls", "cert", "chain", "http.hsts"] {
        unknown(
            facts,
            fact,
            net::Failure::new(AssessReason::Connect, why.clone()),
        );
    }
    // Where plain HTTP leads is unknown (a chain cut short): so is whether it leads to HTTPS
    // on another host, which decides whether the refusal leaves citizens on plain HTTP.
    if let Some(u) = facts
        .unknown
        .iter()
        .find(|u| u.fact == "http.https_redirect")
        .cloned()
        && !facts.http.https_redirect_offsite
    {
        facts.unknown.push(UnknownFact {
            fact: "http.https_redirect_offsite".into(),
            ..u
        });
    }
}

/// The served chain ends at an issuer that was not observed (`why`): under which anchor set the
/// leaf was issued is unknown, unless a set already vouches for it.
fn issuer_unknown(facts: &mut HostFacts, why: &net::Failure) {
    if facts.cert.issued_by.is_empty() {
        unknown(
            facts,
            "cert.issued_by",
            net::Failure::new(
                why.kind,
                format!("the leaf's issuer was not observed ({})", why.message),
            ),
        );
    }
}

/// Drop the served chain's guess that its gap is a missing certificate (see
/// `trust::TrustVerdict`), once completeness turned out not observed.
fn drop_gap_guess(facts: &mut HostFacts) {
    facts
        .cert
        .verify_errors
        .retain(|e| !e.starts_with("incomplete chain"));
}

/// Record that `fact` could not be observed, and why.
fn unknown(facts: &mut HostFacts, fact: &str, f: net::Failure) {
    facts.unknown.push(UnknownFact {
        fact: fact.to_string(),
        kind: f.kind,
        message: f.message,
        may_hold: Vec::new(),
    });
}

#[derive(Debug, Default)]
struct LegacyFacts {
    versions: Vec<String>,
    weak_ciphers: Vec<String>,
    weak_classes: Vec<String>,
    dhe_min_bits: i64,
    certificates: Vec<CertificateDer<'static>>,
    /// Questions that got no answer (the connection failed): the fact, the one member of a
    /// list fact the question was about (a weak suite class), and why.
    unanswered: Vec<(&'static str, Option<&'static str>, net::Failure)>,
}

impl LegacyFacts {
    fn merge(&mut self, other: LegacyFacts) {
        for v in other.versions {
            if !self.versions.contains(&v) {
                self.versions.push(v);
            }
        }
        self.weak_ciphers.extend(other.weak_ciphers);
        self.weak_classes.extend(other.weak_classes);
        self.unanswered.extend(other.unanswered);
        if self.dhe_min_bits == 0 {
            self.dhe_min_bits = other.dhe_min_bits;
        }
        if self.certificates.is_empty() {
            self.certificates = other.certificates;
        }
    }
}

/// Largest certificate read from an AIA caIssuers URL.
pub const MAX_AIA_BYTES: usize = 64 * 1024;

/// One certificate (DER, or the first of a PEM file) from `url`, at most [`MAX_AIA_BYTES`];
/// `None` on any failure.
/// The certificate published at an AIA caIssuers `url` (DER or PEM, at most
/// [`MAX_AIA_BYTES`]), or why it could not be had.
async fn fetch_cert(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, net::Failure> {
    use rustls::pki_types::pem::PemObject;
    let failed = |kind, why: String| net::Failure::new(kind, why);
    let mut resp = client.get(url).send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            AssessReason::Timeout
        } else {
            AssessReason::Connect
        };
        failed(kind, format!("not fetched: {e}"))
    })?;
    if !resp.status().is_success() {
        return Err(failed(
            AssessReason::HttpStatus,
            format!("answered HTTP {}", resp.status().as_u16()),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| failed(AssessReason::Connect, format!("body not read: {e}")))?
    {
        if body.len() + chunk.len() > MAX_AIA_BYTES {
            return Err(failed(
                AssessReason::TooLarge,
                format!("more than {MAX_AIA_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let not_a_cert = || failed(AssessReason::Decode, "holds no certificate".to_string());
    if body.starts_with(b"-----BEGIN") {
        return CertificateDer::from_pem_slice(&body)
            .map(|c| c.to_vec())
            .map_err(|_| not_a_cert());
    }
    use x509_parser::prelude::{FromDer, X509Certificate};
    X509Certificate::from_der(&body).map_err(|_| not_a_cert())?;
    Ok(body)
}

fn leaf_times(der: &[u8]) -> Option<(OffsetDateTime, OffsetDateTime)> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, x) = X509Certificate::from_der(der).ok()?;
    Some((
        x.validity().not_before.to_datetime(),
        x.validity().not_after.to_datetime(),
    ))
}

fn sort_versions(v: &mut [String]) {
    let rank = |s: &String| match s.as_str() {
        "SSLv3" => 0,
        "TLSv1.0" => 1,
        "TLSv1.1" => 2,
        "TLSv1.2" => 3,
        "TLSv1.3" => 4,
        _ => 5,
    };
    v.sort_by_key(rank);
}

/// Probe one host with a fresh [`Prober`]. For many hosts, build one `Prober` and reuse it.
pub async fn probe_host(cfg: &ProbeConfig, host: &str, port: u16) -> HostFacts {
    Prober::new(cfg.clone()).probe_host(host, port).await
}

/// Probe many `(host, port)` pairs concurrently (at most `max_hosts_in_flight` at once),
/// results in input order.
pub async fn probe_hosts(cfg: &ProbeConfig, hosts: &[(String, u16)]) -> Vec<HostFacts> {
    probe_hosts_timed(cfg, hosts)
        .await
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

/// As [`probe_hosts`], with the wall time of each host's probe (for benchmarks).
pub async fn probe_hosts_timed(
    cfg: &ProbeConfig,
    hosts: &[(String, u16)],
) -> Vec<(HostFacts, Duration)> {
    let prober = Prober::new(cfg.clone());
    let prober = &prober;
    // Unordered so one slow host does not hold a slot after others finish; re-sorted below.
    let mut out: Vec<(usize, HostFacts, Duration)> =
        futures::stream::iter(hosts.iter().enumerate().map(|(i, (h, p))| async move {
            let start = Instant::now();
            let f = prober.probe_host(h, *p).await;
            (i, f, start.elapsed())
        }))
        .buffer_unordered(cfg.max_hosts_in_flight.max(1))
        .collect()
        .await;
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, f, d)| (f, d)).collect()
}
