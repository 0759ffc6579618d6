//! Certificate facts read with x509-parser: names, dates, key strength, signature algorithm.
//!
//! webpki (used for trust in [`super::trust`]) does not judge key size or report algorithms,
//! so every descriptive fact comes from here. A certificate x509-parser cannot read still
//! yields a [`CertFacts`] with its fingerprint and `sig_alg = "unparseable"`, so the chain as
//! served is never silently shortened.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::facts::{CertFacts, KeyFacts};

/// Minimum acceptable key sizes (CA/Browser Forum Baseline Requirements §6.1.5).
pub const MIN_RSA_BITS: i64 = 2048;
pub const MIN_EC_BITS: i64 = 256;
/// Maximum leaf validity accepted by browsers since 2020-09-01 (days).
pub const MAX_VALIDITY_DAYS: i64 = 398;

const OID_ED25519: &str = "1.3.101.112";
const OID_ED448: &str = "1.3.101.113";
/// RSASSA-PSS (RFC 4055): an RSA key restricted to PSS signatures; its key is an RSAPublicKey
/// like rsaEncryption's, which x509-parser only sizes for the rsaEncryption OID.
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
/// The algorithm name of a key dvc-audit cannot size: the `cert.key` fact is unknown.
pub const UNKNOWN_KEY_ALG: &str = "unknown";

/// Signature algorithms considered broken for certificate signatures, with their names
/// (the OID registry lacks some of these, e.g. `ecdsa-with-SHA1`).
const WEAK_SIG_ALGS: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.3.14.3.2.29", "sha1WithRSAEncryption"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10040.4.3", "dsa-with-sha1"),
];

/// Facts for one DER certificate, judged at `now`.
pub fn cert_facts(der: &[u8], now: OffsetDateTime) -> CertFacts {
    let sha256 = hex::encode(Sha256::digest(der));
    let Ok((_, x)) = X509Certificate::from_der(der) else {
        return CertFacts {
            sha256,
            sig_alg: "unparseable".into(),
            ..CertFacts::default()
        };
    };
    let not_before = x.validity().not_before.to_datetime();
    let not_after = x.validity().not_after.to_datetime();
    CertFacts {
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        sans: sans(&x),
        serial: hex::encode(x.raw_serial()),
        sha256,
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_left: (not_after - now).whole_days(),
        validity_days: validity_days(not_before, not_after),
        key: key_facts(&x),
        sig_alg: sig_alg_name(&x),
        self_signed: is_self_signed(&x),
        is_ca: x.is_ca(),
    }
}

/// The validity period in days, rounded up, as the CA/Browser Forum counts it: from
/// `notBefore` to `notAfter` inclusive (the difference plus one second). A certificate
/// valid for 398 days and one second is 399 days here, over the 398-day maximum; truncating
/// to whole days let up to 23h59m59s beyond it pass.
fn validity_days(not_before: OffsetDateTime, not_after: OffsetDateTime) -> i64 {
    let secs = (not_after - not_before).whole_seconds().saturating_add(1);
    if secs <= 0 {
        0
    } else {
        secs.saturating_add(86_399) / 86_400
    }
}

/// `true` when the certificate is signed with MD2, MD5 or SHA-1.
pub fn weak_signature(der: &[u8]) -> bool {
    X509Certificate::from_der(der).is_ok_and(|(_, x)| {
        let oid = x.signature_algorithm.algorithm.to_id_string();
        WEAK_SIG_ALGS.iter().any(|(o, _)| *o == oid)
    })
}

/// `true` when the key is below the minimum for its algorithm.
pub fn weak_key(key: &KeyFacts) -> bool {
    match key.alg.as_str() {
        "rsa" | "dsa" => key.bits < MIN_RSA_BITS,
        "ec" => key.bits < MIN_EC_BITS,
        _ => false,
    }
}

/// Whether ring (rustls's and x509-parser's verifier here) can check a signature made with
/// this key: RSA of 2048 to 8192 bits, EC P-256 or P-384, Ed25519. A signature by any other
/// key fails to verify whether or not it is right, so its failure proves nothing.
pub fn verifiable_key(key: &KeyFacts) -> bool {
    match key.alg.as_str() {
        "rsa" => (MIN_RSA_BITS..=8192).contains(&key.bits),
        "ec" => key.bits == 256 || key.bits == 384,
        "ed25519" => true,
        _ => false,
    }
}

/// Whether `der` parses as a self-signed certificate (a root or a self-issued leaf).
pub fn der_is_self_signed(der: &[u8]) -> bool {
    X509Certificate::from_der(der).is_ok_and(|(_, x)| is_self_signed(&x))
}

/// OID of the AIA caIssuers access method (RFC 5280 §4.2.2.1).
const OID_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";
/// OID of the AIA OCSP access method.
const OID_OCSP: &str = "1.3.6.1.5.5.7.48.1";

/// Every AIA URI of a certificate for `method`, in the order listed.
fn aia_urls(x: &X509Certificate<'_>, method: &str) -> Vec<String> {
    let mut out = Vec::new();
    for ext in x.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for d in &aia.accessdescs {
                if d.access_method.to_id_string() == method
                    && let GeneralName::URI(u) = &d.access_location
                {
                    out.push((*u).to_string());
                }
            }
        }
    }
    out
}

/// The first `http://` or `https://` URI of `urls` (a certificate may list an `ldap://` one
/// first; that one is not the only source it names).
pub fn first_http(urls: &[String]) -> Option<String> {
    urls.iter()
        .find(|u| {
            let l = u.to_ascii_lowercase();
            l.starts_with("http://") || l.starts_with("https://")
        })
        .cloned()
}

/// Every AIA caIssuers URI of a certificate, in the order listed.
pub fn ca_issuers_urls(x: &X509Certificate<'_>) -> Vec<String> {
    aia_urls(x, OID_CA_ISSUERS)
}

/// The first http(s) AIA caIssuers URL of a certificate (where its issuer is published).
pub fn ca_issuers_url(x: &X509Certificate<'_>) -> Option<String> {
    first_http(&ca_issuers_urls(x))
}

/// Every AIA OCSP responder URI of a certificate, in the order listed.
pub fn ocsp_urls(x: &X509Certificate<'_>) -> Vec<String> {
    aia_urls(x, OID_OCSP)
}

/// The first http(s) AIA OCSP responder URL of a certificate.
pub fn ocsp_url(x: &X509Certificate<'_>) -> Option<String> {
    first_http(&ocsp_urls(x))
}

/// Every URI of every CRL distribution point of a certificate, in the order listed.
pub fn crl_urls(x: &X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::DistributionPointName;
    let mut out = Vec::new();
    for ext in x.extensions() {
        if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
            for p in points.iter() {
                if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                    for n in names {
                        if let GeneralName::URI(u) = n {
                            out.push((*u).to_string());
                        }
                    }
                }
            }
        }
    }
    out
}

/// The first http(s) CRL distribution point URL of a certificate, among all its points.
pub fn crl_url(x: &X509Certificate<'_>) -> Option<String> {
    first_http(&crl_urls(x))
}

/// Whether `der` parses as a CA certificate.
pub fn der_is_ca(der: &[u8]) -> bool {
    X509Certificate::from_der(der).is_ok_and(|(_, x)| x.is_ca())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn sans(x: &X509Certificate<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for ext in x.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(d) => out.push((*d).to_string()),
                    GeneralName::IPAddress(ip) => out.push(ip_text(ip)),
                    _ => {}
                }
            }
        }
    }
    out
}

fn ip_text(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return std::net::Ipv4Addr::from(v4).to_string();
    }
    if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        return std::net::Ipv6Addr::from(v6).to_string();
    }
    hex::encode(bytes)
}

/// The OID of the public key algorithm of certificate `der` (dotted), or empty.
pub fn key_oid(der: &[u8]) -> String {
    X509Certificate::from_der(der)
        .map(|(_, x)| x.public_key().algorithm.algorithm.to_id_string())
        .unwrap_or_default()
}

fn key_facts(x: &X509Certificate<'_>) -> KeyFacts {
    let spki = x.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    let (alg, bits) = match spki.parsed() {
        Ok(PublicKey::RSA(k)) => ("rsa", k.key_size()),
        Ok(PublicKey::EC(k)) => ("ec", k.key_size()),
        Ok(PublicKey::DSA(k)) => ("dsa", k.len() * 8),
        Ok(PublicKey::GostR3410_2012(_)) if oid.starts_with("1.2.643.7.1.1.1.") => {
            ("gost", if oid.ends_with(".2") { 512 } else { 256 })
        }
        _ if oid == OID_RSASSA_PSS => {
            match x509_parser::public_key::RSAPublicKey::from_der(&spki.subject_public_key.data) {
                Ok((_, k)) => ("rsa", k.key_size()),
                Err(_) => (UNKNOWN_KEY_ALG, 0),
            }
        }
        _ if oid == OID_ED25519 => ("ed25519", 256),
        _ if oid == OID_ED448 => ("ed448", 456),
        _ => (UNKNOWN_KEY_ALG, 0),
    };
    KeyFacts {
        alg: alg.into(),
        bits: i64::try_from(bits).unwrap_or(i64::MAX),
    }
}

fn sig_alg_name(x: &X509Certificate<'_>) -> String {
    let oid = &x.signature_algorithm.algorithm;
    let id = oid.to_id_string();
    if let Some((_, name)) = WEAK_SIG_ALGS.iter().find(|(o, _)| *o == id) {
        return (*name).to_string();
    }
    match x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry()) {
        Ok(name) => name.to_string(),
        Err(_) => oid.to_id_string(),
    }
}

/// Subject equals issuer, and the authority key id (if any) names the certificate's own key.
fn is_self_signed(x: &X509Certificate<'_>) -> bool {
    if x.subject().as_raw() != x.issuer().as_raw() {
        return false;
    }
    let mut ski = None;
    let mut aki = None;
    for ext in x.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0)
            }
            _ => {}
        }
    }
    match (ski, aki) {
        (Some(s), Some(a)) => s == a,
        _ => true,
    }
}

/// A self-signed test certificate listing `crl` as CRL distribution points (one point each,
/// in order) and `ocsp` as AIA OCSP responders (in order).
#[cfg(test)]
pub(crate) fn test_cert_with_sources(crl: &[&str], ocsp: &[&str]) -> Vec<u8> {
    fn der(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = body.len();
        if len < 0x80 {
            out.push(u8::try_from(len).unwrap_or_default());
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | u8::try_from(bytes.len()).unwrap_or_default());
            out.extend(bytes);
        }
        out.extend_from_slice(body);
        out
    }
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["a.test".to_string()]).expect("params");
    params.crl_distribution_points = crl
        .iter()
        .map(|u| rcgen::CrlDistributionPoint {
            uris: vec![(*u).to_string()],
        })
        .collect();
    if !ocsp.is_empty() {
        let mut access = Vec::new();
        for u in ocsp {
            let mut d = der(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01]);
            d.extend(der(0x86, u.as_bytes()));
            access.extend(der(0x30, &d));
        }
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                der(0x30, &access),
            ));
    }
    params.self_signed(&key).expect("cert").der().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(alg: &'static rcgen::SignatureAlgorithm, sans: Vec<String>) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).expect("key");
        let params = rcgen::CertificateParams::new(sans).expect("params");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn validity_counts_inclusive_seconds_rounded_up() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let at = |secs: i64| start + time::Duration::seconds(secs);
        const DAY: i64 = 86_400;
        // Let's Encrypt style: 90 days minus one second is exactly 90 days.
        assert_eq!(validity_days(start, at(90 * DAY - 1)), 90);
        assert_eq!(validity_days(start, at(398 * DAY - 1)), 398);
        // One second more is over 398 (before: 398, a pass).
        assert_eq!(validity_days(start, at(398 * DAY)), 399);
        assert_eq!(validity_days(start, at(398 * DAY + 23 * 3600)), 399);
        assert_eq!(validity_days(start, at(-5)), 0);
        // Through the certificate's own dates.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_string()]).expect("p");
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = params.not_before + time::Duration::days(398) + time::Duration::hours(5);
        let der = params.self_signed(&key).expect("cert").der().to_vec();
        assert_eq!(
            cert_facts(&der, OffsetDateTime::now_utc()).validity_days,
            399
        );
    }

    #[test]
    fn reads_ec_leaf() {
        let der = make(&rcgen::PKCS_ECDSA_P256_SHA256, vec!["a.test".into()]);
        let f = cert_facts(&der, OffsetDateTime::now_utc());
        assert_eq!(f.key.alg, "ec");
        assert_eq!(f.key.bits, 256);
        assert_eq!(f.sig_alg, "ecdsa-with-SHA256");
        assert_eq!(f.sans, vec!["a.test".to_string()]);
        assert!(f.self_signed);
        assert_eq!(f.sha256.len(), 64);
        assert!(!weak_signature(&der));
        assert!(!weak_key(&f.key));
    }

    #[test]
    fn p384_and_ed25519_sizes() {
        let f = cert_facts(
            &make(&rcgen::PKCS_ECDSA_P384_SHA384, vec!["a.test".into()]),
            OffsetDateTime::now_utc(),
        );
        assert_eq!((f.key.alg.as_str(), f.key.bits), ("ec", 384));
        let f = cert_facts(
            &make(&rcgen::PKCS_ED25519, vec!["a.test".into()]),
            OffsetDateTime::now_utc(),
        );
        assert_eq!(f.key.alg, "ed25519");
    }

    #[test]
    fn garbage_is_reported_not_dropped() {
        let f = cert_facts(b"not a certificate", OffsetDateTime::now_utc());
        assert_eq!(f.sig_alg, "unparseable");
        assert!(!f.sha256.is_empty());
    }

    #[test]
    fn weak_key_thresholds() {
        let k = |alg: &str, bits| KeyFacts {
            alg: alg.into(),
            bits,
        };
        assert!(weak_key(&k("rsa", 1024)));
        assert!(!weak_key(&k("rsa", 2048)));
        assert!(weak_key(&k("ec", 224)));
        assert!(!weak_key(&k("ec", 256)));
    }

    #[test]
    fn revocation_uris_skip_an_ldap_one_listed_first() {
        let der = test_cert_with_sources(
            &[
                "ldap://dir.ca.test/cn=CA?certificateRevocationList",
                "http://ca.test/ca.crl",
            ],
            &["ldap://dir.ca.test/ocsp", "http://ocsp.ca.test/"],
        );
        let (_, x) = X509Certificate::from_der(&der).expect("parse");
        assert_eq!(crl_urls(&x).len(), 2);
        assert_eq!(crl_url(&x).as_deref(), Some("http://ca.test/ca.crl"));
        assert_eq!(ocsp_urls(&x).len(), 2);
        assert_eq!(ocsp_url(&x).as_deref(), Some("http://ocsp.ca.test/"));
    }

    #[test]
    fn revocation_uris_keep_the_listed_order_among_http_ones() {
        let der = test_cert_with_sources(&["https://a.test/1.crl", "http://b.test/2.crl"], &[]);
        let (_, x) = X509Certificate::from_der(&der).expect("parse");
        assert_eq!(crl_url(&x).as_deref(), Some("https://a.test/1.crl"));
        assert_eq!(ocsp_url(&x), None);
        assert!(ocsp_urls(&x).is_empty());
    }

    #[test]
    fn ldap_only_sources_give_no_http_url_but_are_listed() {
        let der = test_cert_with_sources(&["ldap://dir.ca.test/crl"], &["ldap://dir.ca.test/ocsp"]);
        let (_, x) = X509Certificate::from_der(&der).expect("parse");
        assert_eq!(crl_url(&x), None);
        assert_eq!(ocsp_url(&x), None);
        assert_eq!(crl_urls(&x), vec!["ldap://dir.ca.test/crl".to_string()]);
        assert_eq!(ocsp_urls(&x), vec!["ldap://dir.ca.test/ocsp".to_string()]);
    }
}
