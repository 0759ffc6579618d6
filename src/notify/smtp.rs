//! The SMTP side: a lettre transport over rustls (STARTTLS, implicit TLS, or plain only to a
//! loopback host), and flushing the outbox through it.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::NotifyError;
use super::outbox::Outbox;
use crate::config::SmtpTls;

/// Stop a flush after this many consecutive failures (the server is down: do not hammer it).
pub const MAX_CONSECUTIVE_FAILURES: usize = 3;
/// Upper bound of messages one flush sends.
pub const MAX_PER_FLUSH: usize = 10_000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the SMTP server, as plain values (no config file needed).
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: String,
    pub password: Option<String>,
    /// Extra trusted roots (PEM), added to the Mozilla roots: a private relay's CA, a test CA.
    pub extra_roots_pem: Vec<Vec<u8>>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("extra_roots", &self.extra_roots_pem.len())
            .finish()
    }
}

/// `localhost` or a loopback IP address.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Build the transport.
pub fn transport(s: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
    let tls_params = || -> Result<TlsParameters, NotifyError> {
        let mut b = TlsParameters::builder(s.host.clone());
        for pem in &s.extra_roots_pem {
            // Parse here so a file without any certificate is an error, not silently nothing.
            let mut n = 0;
            for der in CertificateDer::pem_slice_iter(pem) {
                let der = der.map_err(|e| NotifyError::Tls(format!("extra root: {e}")))?;
                let cert = Certificate::from_der(der.to_vec())
                    .map_err(|e| NotifyError::Tls(e.to_string()))?;
                b = b.add_root_certificate(cert);
                n += 1;
            }
            if n == 0 {
                return Err(NotifyError::Tls(
                    "extra root file holds no PEM certificate".into(),
                ));
            }
        }
        b.build_rustls()
            .map_err(|e| NotifyError::Tls(e.to_string()))
    };
    let tls = match s.tls {
        SmtpTls::Starttls => Tls::Required(tls_params()?),
        SmtpTls::Implicit => Tls::Wrapper(tls_params()?),
        SmtpTls::None if is_loopback(&s.host) => Tls::None,
        SmtpTls::None => return Err(NotifyError::PlainNotLoopback(s.host.clone())),
    };
    // `builder_dangerous` only means "no TLS preset": TLS is set explicitly just above.
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
        .port(s.port)
        .tls(tls)
        .timeout(Some(s.timeout));
    if !s.username.is_empty()
        && let Some(pw) = &s.password
    {
        b = b.credentials(Credentials::new(s.username.clone(), pw.clone()));
    }
    Ok(b.build())
}

/// What a flush did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Accepted by the server and moved to `sent/`.
    pub sent: Vec<String>,
    /// Still pending, with the error.
    pub failed: Vec<(String, String)>,
    /// Pending copies of messages already in `sent/`, dropped without sending.
    pub already_sent: Vec<String>,
}

fn envelope(from: &str, to: &[String]) -> Result<Envelope, NotifyError> {
    let parse = |a: &str| {
        a.parse::<Address>()
            .map_err(|e| NotifyError::Address(a.to_string(), e.to_string()))
    };
    let to = to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(parse(from)?), to).map_err(|e| NotifyError::Build(e.to_string()))
}

/// Send every pending message, oldest id first; each accepted one moves to `sent/`.
pub async fn flush(outbox: &Outbox, smtp: &SmtpSettings) -> Result<FlushReport, NotifyError> {
    let _lock = outbox.lock()?;
    let mut report = FlushReport::default();
    let pending = outbox.pending()?;
    if pending.is_empty() {
        return Ok(report);
    }
    let transport = transport(smtp)?;
    let mut consecutive = 0usize;
    for p in pending.into_iter().take(MAX_PER_FLUSH) {
        if outbox.is_sent(&p.id) {
            outbox.discard_pending(&p.id)?;
            report.already_sent.push(p.id);
            continue;
        }
        if consecutive >= MAX_CONSECUTIVE_FAILURES {
            report
                .failed
                .push((p.id, "not attempted: the server failed repeatedly".into()));
            continue;
        }
        // A message that cannot be read back is kept and reported, but says nothing about
        // the server, so only transport errors count towards giving up.
        let (env, bytes) = match outbox
            .read(&p.id)
            .and_then(|(env, bytes)| Ok((envelope(&env.from, &env.to)?, bytes)))
        {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(id = %p.id, error = %e, "outbox entry unusable; kept");
                report.failed.push((p.id, e.to_string()));
                continue;
            }
        };
        match transport.send_raw(&env, &bytes).await {
            Ok(_) => {
                outbox.mark_sent(&p.id)?;
                tracing::info!(id = %p.id, "email sent");
                report.sent.push(p.id);
                consecutive = 0;
            }
            Err(e) => {
                tracing::warn!(id = %p.id, error = %e, "email not sent; kept in the outbox");
                report.failed.push((p.id, e.to_string()));
                consecutive += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(host: &str, tls: SmtpTls) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port: 25,
            tls,
            username: String::new(),
            password: None,
            extra_roots_pem: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    // The transport's connection pool needs a Tokio runtime, even unused.
    #[tokio::test]
    async fn plain_smtp_only_on_loopback() {
        crate::install_crypto_provider();
        assert!(matches!(
            transport(&settings("mail.example.gov.vn", SmtpTls::None)),
            Err(NotifyError::PlainNotLoopback(_))
        ));
        assert!(transport(&settings("127.0.0.1", SmtpTls::None)).is_ok());
        assert!(transport(&settings("localhost", SmtpTls::None)).is_ok());
        assert!(transport(&settings("[::1]", SmtpTls::None)).is_ok());
        assert!(transport(&settings("mail.example.gov.vn", SmtpTls::Starttls)).is_ok());
    }

    #[tokio::test]
    async fn bad_extra_root_is_an_error() {
        crate::install_crypto_provider();
        let mut s = settings("localhost", SmtpTls::Starttls);
        s.extra_roots_pem.push(b"not a pem".to_vec());
        assert!(transport(&s).is_err());
    }

    #[test]
    fn password_never_prints() {
        let mut s = settings("localhost", SmtpTls::Starttls);
        s.password = Some("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
