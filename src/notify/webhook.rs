//! The webhook: at the end of a run, the run summary (the `run_finished` event's fields, with
//! a `schema_version`) is POSTed as JSON to `[notify.webhook] url`, signed with HMAC-SHA256.
//!
//! Delivery goes through the outbox, as email does: the body is spooled first, then sent;
//! a failed delivery stays for the next run or `dvc-audit outbox flush`. Files in the outbox
//! directory (a kind of their own beside the `.eml` files):
//!
//! - `<id>.webhook.json`: the body, byte for byte what is POSTed and signed;
//! - `<id>.webhook.state.json`: attempts and the last error (never the secret or headers);
//! - `sent/<id>.webhook.json`, `sent/<id>.webhook.state.json`: delivered.
//!
//! Signature scheme (for receivers), per request:
//!
//! - `X-Dvc-Audit-Timestamp`: Unix time in seconds when this attempt was sent;
//! - `X-Dvc-Audit-Signature`: `sha256=` + lowercase hex of
//!   `HMAC-SHA256(secret, timestamp + "." + body)`;
//! - `X-Dvc-Audit-Delivery`: the delivery id (the same on every retry: deduplicate on it).
//!
//! A receiver recomputes the HMAC over the raw body, compares in constant time, and rejects a
//! timestamp more than a few minutes from its clock (replay window; 5 minutes is usual). Each
//! retry is signed afresh with a new timestamp. Any 2xx answer counts as delivered; anything
//! else (redirects included: none are followed) leaves the item pending.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::NotifyError;
use super::outbox::{Enqueued, Outbox, valid_id};
use super::smtp::{FlushReport, MAX_CONSECUTIVE_FAILURES, is_loopback};
use crate::config::Loaded;

/// Version of the body's layout; bumped when a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;
pub const TIMESTAMP_HEADER: &str = "X-Dvc-Audit-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Dvc-Audit-Signature";
pub const DELIVERY_HEADER: &str = "X-Dvc-Audit-Delivery";
/// Environment variable naming a PEM file of extra roots for the webhook server's certificate.
pub const WEBHOOK_CA_ENV: &str = "DVC_AUDIT_WEBHOOK_CA_FILE";
/// Most of a receiver's answer that is read (for the error message); the rest is dropped.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;
/// Largest body the outbox reads back (a run summary is a few KiB).
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Upper bound of deliveries one flush attempts.
pub const MAX_PER_FLUSH: usize = 1_000;

const BODY_SUFFIX: &str = ".webhook.json";
const STATE_SUFFIX: &str = ".webhook.state.json";

/// Where and how to deliver, as plain values (no config file needed).
#[derive(Clone)]
pub struct WebhookSettings {
    pub url: url::Url,
    pub secret: String,
    pub timeout: Duration,
    /// Extra headers (name, value), sent as configured.
    pub headers: Vec<(String, String)>,
    /// Extra trusted roots (PEM), added to the Mozilla roots.
    pub extra_roots_pem: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be tokens: names only.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("WebhookSettings")
            .field("url", &self.url.as_str())
            .field("secret", &"***")
            .field("timeout", &self.timeout)
            .field("headers", &names)
            .field("extra_roots", &self.extra_roots_pem.len())
            .finish()
    }
}

/// `[notify.webhook]` as settings: `None` when no webhook is configured.
pub fn settings_from_config(loaded: &Loaded) -> Result<Option<WebhookSettings>, NotifyError> {
    let Some(w) = &loaded.config.notify.webhook else {
        return Ok(None);
    };
    let secret = loaded
        .webhook_secret()
        .map_err(|e| NotifyError::Config(e.to_string()))?
        .map(|s| s.expose().to_string())
        .unwrap_or_default();
    let url = url::Url::parse(&w.url)
        .map_err(|e| NotifyError::Config(format!("notify.webhook.url: {e}")))?;
    let mut extra_roots_pem = Vec::new();
    if let Some(path) = std::env::var_os(WEBHOOK_CA_ENV) {
        let path = PathBuf::from(path);
        let pem = std::fs::read(&path).map_err(|source| NotifyError::Io { path, source })?;
        extra_roots_pem.push(pem);
    }
    Ok(Some(WebhookSettings {
        url,
        secret,
        timeout: Duration::from_millis(w.timeout_ms),
        headers: w
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        extra_roots_pem,
    }))
}

/// The body: `schema_version`, `event` and the run summary's fields (those of `run_finished`).
pub fn payload(summary: &serde_json::Value) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("schema_version".into(), SCHEMA_VERSION.into());
    m.insert("event".into(), "run_finished".into());
    if let serde_json::Value::Object(fields) = summary {
        for (k, v) in fields {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    serde_json::Value::Object(m).to_string().into_bytes()
}

/// The delivery id of a run's body: the run (`norun` when it failed before one was stored:
/// lock held, database error), and a hash of the body (a rebuilt database that reuses run
/// ids does not collide with deliveries already sent).
pub fn delivery_id(run_id: Option<i64>, body: &[u8]) -> String {
    let hash = hex::encode(Sha256::digest(body));
    match run_id {
        Some(run) => format!("run{run}-webhook-{}", &hash[..16]),
        None => format!("norun-webhook-{}", &hash[..16]),
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does: recompute and compare in constant time.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Delivery bookkeeping beside a spooled body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookState {
    /// The URL at queueing time (shown by `outbox list`; delivery uses the configured one).
    pub url: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A delivery waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingWebhook {
    pub id: String,
    pub url: String,
    pub bytes: u64,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub queued_at: Option<SystemTime>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NotifyError + '_ {
    move |source| NotifyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NotifyError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn body_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}{BODY_SUFFIX}"))
}

fn state_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}{STATE_SUFFIX}"))
}

fn is_sent(outbox: &Outbox, id: &str) -> bool {
    body_path(&outbox.dir().join("sent"), id).exists()
}

fn read_state(dir: &Path, id: &str) -> WebhookState {
    let path = state_path(dir, id);
    std::fs::read(&path)
        .ok()
        .filter(|b| b.len() < 64 * 1024)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_state(dir: &Path, id: &str, state: &WebhookState) -> Result<(), NotifyError> {
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| NotifyError::Build(e.to_string()))?;
    write_atomic(&state_path(dir, id), &bytes)
}

/// Spool a body unless it is already queued or sent. The state is written first; the body
/// appearing is what makes the delivery pending.
pub fn enqueue(outbox: &Outbox, id: &str, url: &str, body: &[u8]) -> Result<Enqueued, NotifyError> {
    if !valid_id(id) {
        return Err(NotifyError::BadId(id.to_string()));
    }
    if is_sent(outbox, id) {
        return Ok(Enqueued::AlreadySent);
    }
    let dir = outbox.dir();
    if body_path(dir, id).exists() {
        return Ok(Enqueued::AlreadyQueued);
    }
    write_state(
        dir,
        id,
        &WebhookState {
            url: url.to_string(),
            ..WebhookState::default()
        },
    )?;
    write_atomic(&body_path(dir, id), body)?;
    Ok(Enqueued::Queued)
}

/// Deliveries waiting, sorted by id.
pub fn pending(outbox: &Outbox) -> Result<Vec<PendingWebhook>, NotifyError> {
    let dir = outbox.dir();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(BODY_SUFFIX) else {
            continue;
        };
        if !valid_id(id) {
            continue;
        }
        let state = read_state(dir, id);
        let meta = entry.metadata().map_err(io(&entry.path()))?;
        out.push(PendingWebhook {
            id: id.to_string(),
            url: state.url,
            bytes: meta.len(),
            attempts: state.attempts,
            last_error: state.last_error,
            queued_at: meta.modified().ok(),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Ids of delivered bodies, sorted.
pub fn sent(outbox: &Outbox) -> Result<Vec<String>, NotifyError> {
    let dir = outbox.dir().join("sent");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let entry = entry.map_err(io(&dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(BODY_SUFFIX)
            && valid_id(id)
        {
            out.push(id.to_string());
        }
    }
    out.sort();
    Ok(out)
}

fn mark_sent(outbox: &Outbox, id: &str) -> Result<(), NotifyError> {
    let dir = outbox.dir();
    let sent = dir.join("sent");
    let from = state_path(dir, id);
    if from.exists() {
        std::fs::rename(&from, state_path(&sent, id)).map_err(io(&from))?;
    }
    let from = body_path(dir, id);
    std::fs::rename(&from, body_path(&sent, id)).map_err(io(&from))
}

fn discard_pending(outbox: &Outbox, id: &str) -> Result<(), NotifyError> {
    for p in [body_path(outbox.dir(), id), state_path(outbox.dir(), id)] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(NotifyError::Io { path: p, source: e }),
        }
    }
    Ok(())
}

fn read_body(path: &Path) -> Result<Vec<u8>, NotifyError> {
    let len = std::fs::metadata(path).map_err(io(path))?.len();
    if len > MAX_BODY_BYTES {
        return Err(NotifyError::TooLarge(path.to_path_buf()));
    }
    std::fs::read(path).map_err(io(path))
}

/// The HTTP client: rustls with the Mozilla roots (and [`WEBHOOK_CA_ENV`]), no redirects,
/// bounded time; no proxy for a loopback receiver.
pub fn client(s: &WebhookSettings) -> Result<reqwest::Client, NotifyError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    crate::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in &s.extra_roots_pem {
        let mut n = 0;
        for der in CertificateDer::pem_slice_iter(pem) {
            let der = der.map_err(|e| NotifyError::Tls(format!("webhook extra root: {e}")))?;
            roots
                .add(der)
                .map_err(|e| NotifyError::Tls(format!("webhook extra root: {e}")))?;
            n += 1;
        }
        if n == 0 {
            return Err(NotifyError::Tls(
                "webhook extra root file holds no PEM certificate".into(),
            ));
        }
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(s.timeout)
        .timeout(s.timeout)
        .user_agent(concat!("dvc-audit/", env!("CARGO_PKG_VERSION")));
    if s.url.host_str().is_some_and(is_loopback) {
        b = b.no_proxy();
    }
    b.build()
        .map_err(|e| NotifyError::Build(format!("webhook client: {e}")))
}

/// One delivery attempt: `Ok(status)` on 2xx, else the reason.
async fn post(
    client: &reqwest::Client,
    s: &WebhookSettings,
    id: &str,
    body: Vec<u8>,
) -> Result<u16, String> {
    let timestamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    let signature = sign(s.secret.as_bytes(), &timestamp, &body);
    let mut req = client
        .post(s.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, &timestamp)
        .header(SIGNATURE_HEADER, signature)
        .header(DELIVERY_HEADER, id);
    for (name, value) in &s.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    let mut resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{}", e.without_url()))?;
    let status = resp.status();
    // Read a bounded part of the answer (for the error message); the rest is dropped.
    let mut answer = Vec::new();
    while answer.len() < MAX_RESPONSE_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_RESPONSE_BYTES - answer.len();
                answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let text: String = String::from_utf8_lossy(&answer)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    Err(format!("HTTP {}: {}", status.as_u16(), text.trim()))
}

/// Deliver every pending body, oldest id first; each one answered 2xx moves to `sent/`.
/// `settings` is `None` when no webhook is configured: pending bodies stay.
pub async fn flush(
    outbox: &Outbox,
    settings: Option<&WebhookSettings>,
) -> Result<FlushReport, NotifyError> {
    let mut report = FlushReport::default();
    if pending(outbox)?.is_empty() {
        return Ok(report);
    }
    let _lock = outbox.lock()?;
    let pending = pending(outbox)?;
    let Some(settings) = settings else {
        for p in pending {
            report.failed.push((
                p.id,
                "no [notify.webhook] is configured: kept in the outbox".into(),
            ));
        }
        return Ok(report);
    };
    let client = client(settings)?;
    let dir = outbox.dir();
    let mut consecutive = 0usize;
    for p in pending.into_iter().take(MAX_PER_FLUSH) {
        if is_sent(outbox, &p.id) {
            discard_pending(outbox, &p.id)?;
            report.already_sent.push(p.id);
            continue;
        }
        if consecutive >= MAX_CONSECUTIVE_FAILURES {
            report
                .failed
                .push((p.id, "not attempted: the receiver failed repeatedly".into()));
            continue;
        }
        let body = match read_body(&body_path(dir, &p.id)) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(id = %p.id, error = %e, "webhook body unusable; kept");
                report.failed.push((p.id, e.to_string()));
                continue;
            }
        };
        let mut state = read_state(dir, &p.id);
        state.attempts = state.attempts.saturating_add(1);
        match post(&client, settings, &p.id, body).await {
            Ok(status) => {
                state.last_error = None;
                write_state(dir, &p.id, &state)?;
                mark_sent(outbox, &p.id)?;
                tracing::info!(id = %p.id, status, "webhook delivered");
                report.sent.push(p.id);
                consecutive = 0;
            }
            Err(e) => {
                tracing::warn!(id = %p.id, error = %e, attempts = state.attempts, "webhook not delivered; kept in the outbox");
                state.last_error = Some(e.clone());
                write_state(dir, &p.id, &state)?;
                report.failed.push((p.id, e));
                consecutive += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body_and_verifies() {
        // RFC 4231-style check against an independent computation of the same construction.
        let sig = sign(b"key", "1700000000", b"{\"a\":1}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").expect("any key length");
        mac.update(b"1700000000.{\"a\":1}");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sig, expected);
        assert!(verify(b"key", "1700000000", b"{\"a\":1}", &sig));
        assert!(!verify(b"key", "1700000001", b"{\"a\":1}", &sig));
        assert!(!verify(b"other", "1700000000", b"{\"a\":1}", &sig));
        assert!(!verify(b"key", "1700000000", b"{\"a\":2}", &sig));
    }

    #[test]
    fn payload_carries_schema_version_and_the_summary() {
        let body = payload(&serde_json::json!({"run_id": 4, "counts": {"findings": 2}}));
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["event"], "run_finished");
        assert_eq!(v["counts"]["findings"], 2);
        assert!(delivery_id(Some(4), &body).starts_with("run4-webhook-"));
        assert!(valid_id(&delivery_id(Some(4), &body)));
        assert!(valid_id(&delivery_id(None, &body)));
    }

    #[test]
    fn spooled_once_and_listed_apart_from_email() {
        let dir = tempfile::tempdir().expect("tmp");
        let ob = Outbox::open(dir.path()).expect("open");
        let url = "https://hooks.example.org/x";
        assert_eq!(
            enqueue(&ob, "run1-webhook-a", url, b"{}").ok(),
            Some(Enqueued::Queued)
        );
        assert_eq!(
            enqueue(&ob, "run1-webhook-a", url, b"{}").ok(),
            Some(Enqueued::AlreadyQueued)
        );
        assert!(ob.pending().expect("email pending").is_empty());
        let p = pending(&ob).expect("pending");
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].url.as_str(), p[0].attempts), (url, 0));
        mark_sent(&ob, "run1-webhook-a").expect("mark");
        assert!(pending(&ob).expect("pending").is_empty());
        assert_eq!(sent(&ob).expect("sent"), vec!["run1-webhook-a".to_string()]);
        assert_eq!(
            enqueue(&ob, "run1-webhook-a", url, b"{}").ok(),
            Some(Enqueued::AlreadySent)
        );
    }

    #[test]
    fn secret_and_header_values_never_print() {
        let s = WebhookSettings {
            url: url::Url::parse("https://hooks.example.org/x").expect("url"),
            secret: "s3cr3t-value".into(),
            timeout: Duration::from_secs(1),
            headers: vec![("X-Token".into(), "tok-value".into())],
            extra_roots_pem: Vec::new(),
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t-value") && !shown.contains("tok-value"));
        assert!(shown.contains("X-Token"));
    }
}
