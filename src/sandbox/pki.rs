//! The sandbox's certificate authorities and per-host leaves, generated at start with rcgen
//! (ECDSA P-256: fast enough for a hundred hosts), and the SNI certificate resolver.
//!
//! - "public web" root → intermediate → good leaves, served as `[leaf, intermediate]`;
//! - "government" root (like VGCA) → leaves for `cert_gov_anchor_only`;
//! - a rogue root nobody trusts → `cert_untrusted_issuer`;
//! - expired / not-yet-valid / wrong-host leaves from the public intermediate;
//! - `cert_incomplete_chain`: a good leaf served without its intermediate.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use super::SandboxError;
use super::world::CertDefect;

type Issuer = CertifiedIssuer<'static, KeyPair>;

pub(crate) struct Pki {
    web_root: Issuer,
    web_inter: Issuer,
    gov_root: Issuer,
    rogue_root: Issuer,
}

fn dn(cn: &str, org: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CountryName, "VN");
    d.push(DnType::OrganizationName, org);
    d.push(DnType::CommonName, cn);
    d
}

fn ca_params(cn: &str, org: &str, days_back: i64, days_fwd: i64) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn, org);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now - Duration::days(days_back);
    p.not_after = now + Duration::days(days_fwd);
    p
}

fn key() -> Result<KeyPair, SandboxError> {
    Ok(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)
}

impl Pki {
    pub(crate) fn generate() -> Result<Pki, SandboxError> {
        let web_root = CertifiedIssuer::self_signed(
            ca_params("Sandbox Public Web Root CA", "dvc-audit sandbox", 730, 3650),
            key()?,
        )?;
        let web_inter = CertifiedIssuer::signed_by(
            ca_params(
                "Sandbox Public Web Issuing CA 1",
                "dvc-audit sandbox",
                365,
                1825,
            ),
            key()?,
            &web_root,
        )?;
        let gov_root = CertifiedIssuer::self_signed(
            ca_params(
                "Sandbox RootCA chuyên dùng Chính phủ",
                "Ban Cơ yếu Chính phủ (mô phỏng)",
                730,
                3650,
            ),
            key()?,
        )?;
        let rogue_root = CertifiedIssuer::self_signed(
            ca_params("Rogue Sandbox CA", "Không ai tin cậy", 30, 3650),
            key()?,
        )?;
        Ok(Pki {
            web_root,
            web_inter,
            gov_root,
            rogue_root,
        })
    }

    /// The public root followed by its issuing intermediate: the `ca.pem` a scanner loads as
    /// its web roots. The probe takes self-signed certificates as anchors and other CA
    /// certificates as known intermediates, which is how it tells a server that forgot to
    /// send its intermediate (`cert_incomplete_chain`) from one signed by an unknown issuer.
    pub(crate) fn web_bundle_pem(&self) -> String {
        format!("{}{}", self.web_root.pem(), self.web_inter.pem())
    }
    pub(crate) fn gov_root_pem(&self) -> String {
        self.gov_root.pem()
    }

    /// The certificate a host serves, with its planted defect.
    pub(crate) fn leaf(
        &self,
        host: &str,
        defect: Option<CertDefect>,
    ) -> Result<Arc<CertifiedKey>, SandboxError> {
        let now = OffsetDateTime::now_utc();
        let san = match defect {
            Some(CertDefect::WrongHost) => format!("www.khac-{host}"),
            _ => host.to_string(),
        };
        let mut p = CertificateParams::new(vec![san.clone()])?;
        p.distinguished_name = dn(&san, "dvc-audit sandbox");
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        (p.not_before, p.not_after) = match defect {
            Some(CertDefect::Expired) => (now - Duration::days(120), now - Duration::days(3)),
            Some(CertDefect::NotYetValid) => (now + Duration::days(10), now + Duration::days(100)),
            _ => (now - Duration::days(30), now + Duration::days(90)),
        };
        let leaf_key = key()?;
        let (cert, chain_tail) = match defect {
            Some(CertDefect::UntrustedIssuer) => (p.signed_by(&leaf_key, &self.rogue_root)?, None),
            Some(CertDefect::GovAnchorOnly) => (p.signed_by(&leaf_key, &self.gov_root)?, None),
            Some(CertDefect::IncompleteChain) => (p.signed_by(&leaf_key, &self.web_inter)?, None),
            _ => (
                p.signed_by(&leaf_key, &self.web_inter)?,
                Some(self.web_inter.der().clone()),
            ),
        };
        let mut chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
        chain.extend(chain_tail);
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_supported_type(&der)?;
        Ok(Arc::new(CertifiedKey::new(chain, signing)))
    }
}

/// Chooses the certificate by SNI; unknown or absent SNI gets the fallback.
#[derive(Debug)]
pub(crate) struct SniResolver {
    certs: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    fallback: Arc<CertifiedKey>,
}

impl SniResolver {
    pub(crate) fn new(
        certs: HashMap<String, Arc<CertifiedKey>>,
        fallback: Arc<CertifiedKey>,
    ) -> Self {
        SniResolver {
            certs: RwLock::new(certs),
            fallback,
        }
    }

    pub(crate) fn set(&self, host: &str, cert: Arc<CertifiedKey>) {
        if let Ok(mut m) = self.certs.write() {
            m.insert(host.to_string(), cert);
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let found = hello.server_name().and_then(|name| {
            self.certs
                .read()
                .ok()
                .and_then(|m| m.get(&name.to_ascii_lowercase()).cloned())
        });
        Some(found.unwrap_or_else(|| self.fallback.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_have_the_planted_shape() {
        let pki = Pki::generate().expect("pki");
        let good = pki.leaf("dvc.bca.sandbox.test", None).expect("leaf");
        assert_eq!(good.cert.len(), 2);
        let incomplete = pki
            .leaf("dvc.bca.sandbox.test", Some(CertDefect::IncompleteChain))
            .expect("leaf");
        assert_eq!(incomplete.cert.len(), 1);
        let wrong = pki
            .leaf("dvc.bca.sandbox.test", Some(CertDefect::WrongHost))
            .expect("leaf");
        let (_, parsed) = x509_parser::parse_x509_certificate(&wrong.cert[0]).expect("parse");
        let sans = parsed
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|e| format!("{:?}", e.value))
            .unwrap_or_default();
        assert!(sans.contains("www.khac-dvc.bca.sandbox.test"), "{sans}");
        let expired = pki
            .leaf("x.sandbox.test", Some(CertDefect::Expired))
            .expect("leaf");
        let (_, parsed) = x509_parser::parse_x509_certificate(&expired.cert[0]).expect("parse");
        assert!(!parsed.validity().is_valid());
    }
}
