//! Email: what inspectors receive, delivered once.
//!
//! [`deliver`] = [`plan`] (who gets what, per mode and send policy) → [`compose`] (MIME message:
//! a short body that stands alone, the HTML report, findings CSV and XLSX attached) → [`Outbox::enqueue`]
//! (written to disk first, under a deterministic id) → [`flush`] (sent over SMTP with rustls;
//! accepted messages move to `outbox/sent/`, failed ones stay for the next run or
//! `dvc-audit outbox flush`). Rendering is the report module's; this module only carries.
//!
//! Settings are plain values ([`EmailSettings`], [`SmtpSettings`], [`RecipientBook`]) so tests
//! and other callers need no config file; [`settings_from_config`] maps `audit.toml` onto them.
//! The SMTP relay's own CA can be trusted with `DVC_AUDIT_SMTP_CA_FILE` (a PEM file), in
//! addition to the Mozilla roots.
//!
//! [`webhook`]: the run summary POSTed as signed JSON to `[notify.webhook] url`, through the
//! same outbox (a file kind of its own), retried the same way.

mod body;
mod compose;
mod outbox;
mod plan;
mod smtp;
pub mod webhook;

use std::path::PathBuf;

pub use body::{BodySettings, DEFAULT_REPLY_BY_DAYS, reply_by};
pub use compose::{EMAIL_LIST_CAP, TEXT_ROWS, compose, subject};
pub use outbox::{
    Enqueued, FlushLock, MAX_MESSAGE_BYTES, Outbox, Pending, StoredEnvelope, valid_id,
};
pub use plan::{
    AgencyRecipients, Audience, PlannedMessage, RecipientBook, RegionalRecipients, message_id, plan,
};
pub use smtp::{DEFAULT_TIMEOUT, FlushReport, SmtpSettings, flush, is_loopback, transport};

use crate::config::{Loaded, SendPolicy};
use crate::report::{Renderer, ReportData, ReportError};

/// Environment variable naming a PEM file of extra roots for the SMTP server's certificate.
pub const SMTP_CA_ENV: &str = "DVC_AUDIT_SMTP_CA_FILE";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("invalid email address {0:?}: {1}")]
    Address(String, String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error(transparent)]
    Render(#[from] ReportError),
    #[error("SMTP TLS setup failed: {0}")]
    Tls(String),
    #[error("plain SMTP (tls = \"none\") is allowed only to a loopback host, not {0:?}")]
    PlainNotLoopback(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: larger than the outbox bound")]
    TooLarge(PathBuf),
    #[error("{0}: unreadable outbox entry: {1}")]
    Corrupt(PathBuf, String),
    #[error("invalid outbox message id {0:?}")]
    BadId(String),
    #[error("another process is flushing the outbox ({0} exists)")]
    Busy(PathBuf),
    #[error("email configuration: {0}")]
    Config(String),
}

/// Everything [`deliver`] needs besides the report and the addresses.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `From:` (may carry a display name: `Đoàn kiểm tra <kiemtra@example.gov.vn>`).
    pub from: String,
    pub policy: SendPolicy,
    pub smtp: SmtpSettings,
    /// Reply-by days, the inspectors' contact, the JSON attachment.
    pub body: BodySettings,
}

/// What [`deliver`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub planned: Vec<PlannedMessage>,
    pub queued: Vec<String>,
    pub already_sent: Vec<String>,
    /// Messages that could not be composed (bad address, ...): (id, error).
    pub not_composed: Vec<(String, String)>,
    pub flush: FlushReport,
}

/// Queue every message of a run, then flush the whole outbox (earlier leftovers included).
pub async fn deliver(
    data: &ReportData,
    book: &RecipientBook,
    settings: &EmailSettings,
    outbox: &Outbox,
) -> Result<DeliveryReport, NotifyError> {
    let renderer = Renderer::new()?;
    let mut report = DeliveryReport {
        planned: plan(data, book, settings.policy),
        ..DeliveryReport::default()
    };
    for p in &report.planned {
        if outbox.is_sent(&p.id) {
            report.already_sent.push(p.id.clone());
            continue;
        }
        let message = match compose(&renderer, data, p, &settings.from, &settings.body) {
            Ok(m) => m,
            Err(e) => {
                report.not_composed.push((p.id.clone(), e.to_string()));
                continue;
            }
        };
        let env = message.envelope();
        let stored = StoredEnvelope {
            from: env.from().map(|a| a.to_string()).unwrap_or_default(),
            to: env.to().iter().map(|a| a.to_string()).collect(),
            subject: subject(
                &data.only(&p.agencies.iter().map(String::as_str).collect::<Vec<_>>()),
                p,
            ),
        };
        match outbox.enqueue(&p.id, &stored, &message.formatted())? {
            Enqueued::Queued | Enqueued::AlreadyQueued => report.queued.push(p.id.clone()),
            Enqueued::AlreadySent => report.already_sent.push(p.id.clone()),
        }
    }
    report.flush = match flush(outbox, &settings.smtp).await {
        Ok(r) => r,
        // Another process is flushing: it (or the next run) sends what was just queued.
        Err(NotifyError::Busy(path)) => {
            tracing::warn!(lock = %path.display(), "outbox busy; messages stay queued");
            FlushReport {
                failed: report
                    .queued
                    .iter()
                    .map(|id| {
                        (
                            id.clone(),
                            "outbox busy: queued for the next flush".to_string(),
                        )
                    })
                    .collect(),
                ..FlushReport::default()
            }
        }
        Err(e) => return Err(e),
    };
    Ok(report)
}

/// Map `audit.toml` onto the notifier's plain settings: (settings, addresses, outbox dir).
pub fn settings_from_config(
    loaded: &Loaded,
) -> Result<(EmailSettings, RecipientBook, PathBuf), NotifyError> {
    let e = &loaded.config.email;
    let password = loaded
        .smtp_password()
        .map_err(|err| NotifyError::Config(err.to_string()))?
        .map(|s| s.expose().to_string());
    let mut extra_roots_pem = Vec::new();
    if let Some(path) = std::env::var_os(SMTP_CA_ENV) {
        let path = PathBuf::from(path);
        let pem = std::fs::read(&path).map_err(|source| NotifyError::Io { path, source })?;
        extra_roots_pem.push(pem);
    }
    let settings = EmailSettings {
        from: e.from.clone(),
        policy: e.send,
        smtp: SmtpSettings {
            host: e.smtp_host.clone(),
            port: e.smtp_port,
            tls: e.tls,
            username: e.username.clone(),
            password,
            extra_roots_pem,
            timeout: DEFAULT_TIMEOUT,
        },
        body: BodySettings {
            reply_by_days: e.reply_by_days,
            contact: e.contact.clone(),
            attach_json: e.attach_json,
        },
    };
    Ok((
        settings,
        RecipientBook::from_config(&loaded.config),
        loaded.path(&e.outbox),
    ))
}

#[cfg(test)]
mod tests;
