//! rustls handshakes that record what the server presents.
//!
//! [`Recorder`] is a `ServerCertVerifier` that stores the chain and stapled OCSP response and
//! accepts them, so a chain is captured even when it would fail verification (trust is judged
//! afterwards in [`super::trust`]). It still checks the handshake signatures with the crypto
//! provider's algorithms so the handshake is real; a signature ring refuses (e.g. an RSA-1024
//! key) is recorded, not fatal, so the weak key still becomes a fact.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::net::{Failure, connect};

/// What one verifier instance saw during a handshake.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub chain: Vec<CertificateDer<'static>>,
    pub ocsp: Vec<u8>,
    pub sig_error: Option<SigError>,
}

/// A handshake signature that did not verify with the leaf's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigError {
    pub message: String,
    /// The verifier computed the signature and found it wrong (`BadSignature`), as opposed
    /// to an algorithm or key it does not support.
    pub bad: bool,
}

/// Records the server's chain and accepts it. One instance per connection.
#[derive(Debug)]
pub struct Recorder {
    provider: Arc<CryptoProvider>,
    seen: Mutex<Seen>,
}

impl Recorder {
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Recorder {
            provider,
            seen: Mutex::new(Seen::default()),
        }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn note_sig(
        &self,
        r: Result<HandshakeSignatureValid, rustls::Error>,
    ) -> HandshakeSignatureValid {
        if let Err(e) = r
            && let Ok(mut s) = self.seen.lock()
        {
            let bad = matches!(
                e,
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
            );
            s.sig_error = Some(SigError {
                message: e.to_string(),
                bad,
            });
        }
        HandshakeSignatureValid::assertion()
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut s) = self.seen.lock() {
            s.chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
            s.ocsp = ocsp_response.to_vec();
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let r = rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        );
        Ok(self.note_sig(r))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let r = rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        );
        Ok(self.note_sig(r))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client config that records instead of verifying, for one protocol version (or all).
pub fn recording_config(
    provider: Arc<CryptoProvider>,
    version: Option<&'static rustls::SupportedProtocolVersion>,
    recorder: Arc<Recorder>,
) -> Result<ClientConfig, rustls::Error> {
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match version {
        Some(v) => vec![v],
        None => rustls::ALL_VERSIONS.to_vec(),
    };
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)?
        .dangerous()
        .with_custom_certificate_verifier(recorder)
        .with_no_client_auth();
    cfg.enable_sni = true;
    Ok(cfg)
}

/// The result of one completed handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub version: String,
    pub cipher: String,
    pub seen: Seen,
}

/// Connect and handshake with only `version` enabled. `Err` carries the failure and whatever
/// chain the verifier saw before the failure (if any).
pub async fn handshake(
    provider: Arc<CryptoProvider>,
    version: &'static rustls::SupportedProtocolVersion,
    addr: std::net::SocketAddr,
    host: &str,
    connect_timeout: Duration,
    handshake_timeout: Duration,
) -> Result<Handshake, (Failure, Seen)> {
    let recorder = Arc::new(Recorder::new(provider.clone()));
    let cfg = recording_config(provider, Some(version), recorder.clone())
        .map_err(|e| (Failure::tls(e.to_string()), Seen::default()))?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        (
            Failure::tls(format!("invalid server name: {e}")),
            Seen::default(),
        )
    })?;
    let tcp: TcpStream = connect(addr, connect_timeout)
        .await
        .map_err(|f| (f, Seen::default()))?;
    let connector = TlsConnector::from(Arc::new(cfg));
    let res = tokio::time::timeout(handshake_timeout, connector.connect(name, tcp)).await;
    match res {
        Err(_) => Err((
            Failure::timeout(format!(
                "TLS handshake timed out after {} ms",
                handshake_timeout.as_millis()
            )),
            recorder.seen(),
        )),
        Ok(Err(e)) => Err((Failure::tls(tls_error_text(&e)), recorder.seen())),
        Ok(Ok(stream)) => {
            let (_, conn) = stream.get_ref();
            let version = conn
                .protocol_version()
                .and_then(|v| v.as_str())
                .map(tls_version_name)
                .unwrap_or_default();
            let cipher = conn
                .negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str())
                .map(iana_suite_name)
                .unwrap_or_default();
            Ok(Handshake {
                version,
                cipher,
                seen: recorder.seen(),
            })
        }
    }
}

/// rustls names versions `TLSv1_3`; facts use `TLSv1.3`.
fn tls_version_name(s: &str) -> String {
    s.replace('_', ".")
}

/// rustls names TLS 1.3 suites `TLS13_AES_128_GCM_SHA256`; facts use the IANA registry names
/// (`TLS_AES_128_GCM_SHA256`), like the legacy probe's suite names.
fn iana_suite_name(s: &str) -> String {
    match s.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => s.to_string(),
    }
}

fn tls_error_text(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => tls.to_string(),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "connection closed during the TLS handshake".into()
        }
        None => e.to_string(),
    }
}
