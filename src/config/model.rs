//! The `audit.toml` data model: what a user can write, with defaults.
//!
//! Every struct is deserialised strictly: unknown keys are collected (all of them, with spans)
//! by the loader and reported as errors. Semantic checks live in `validate.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::facts::AgencyKind;

/// Exported defaults, so documentation, tests and code agree.
pub mod defaults {
    pub const CONCURRENCY: u32 = 32;
    pub const PER_HOST_CONCURRENCY: u32 = 2;
    pub const PER_HOST_RATE: f64 = 2.0;
    pub const AGENCIES_IN_FLIGHT: u32 = 16;
    pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
    pub const READ_TIMEOUT_MS: u64 = 20_000;
    pub const TOTAL_TIMEOUT_MS: u64 = 60_000;
    pub const MAX_BODY_BYTES: u64 = 5_000_000;
    pub const MAX_REDIRECTS: u32 = 5;
    pub const MAX_PAGES_PER_AGENCY: u32 = 5_000;
    pub const MAX_URL_LENGTH: u32 = 2_048;
    pub const RETRIES: u32 = 2;
    pub const EXPIRY_WARNING_DAYS: u32 = 30;
    pub const RAW_RETENTION_DAYS: u32 = 30;
    pub const SQLITE: &str = "dvc-audit.sqlite";
    pub const REPORT_DIR: &str = "reports";
    /// Example rows per (agency, rule) in the HTML and text reports and emails.
    pub const MAX_ROWS_PER_RULE: u32 = 20;
    /// Upper bound of `report.max_rows_per_rule` (keeps the HTML report readable and bounded).
    pub const MAX_ROWS_PER_RULE_LIMIT: u32 = 10_000;
    pub const OUTBOX: &str = "outbox";
    pub const PASSWORD_ENV: &str = "DVC_AUDIT_SMTP_PASSWORD";
    /// Environment variable holding the webhook's HMAC secret (`notify.webhook.secret_env`).
    pub const WEBHOOK_SECRET_ENV: &str = "DVC_AUDIT_WEBHOOK_SECRET";
    /// Time allowed for one webhook delivery (connect, send, answer), in milliseconds.
    pub const WEBHOOK_TIMEOUT_MS: u64 = 10_000;
    pub const HTTP_PORT: u16 = 80;
    /// Longest robots.txt `Crawl-delay` honoured (seconds); a longer one is capped.
    pub const MAX_CRAWL_DELAY_SECS: u64 = 60;
    /// Wall-clock budget of a run's crawl (minutes).
    pub const MAX_RUN_MINUTES: u64 = 720;
}

pub use crate::facts::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    Vi,
    En,
}

/// Which HTTP versions the crawler speaks (`crawl.http_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HttpVersion {
    /// Offer HTTP/2 and HTTP/1.1 in TLS ALPN; the server chooses (plain `http://`: HTTP/1.1).
    #[default]
    Auto,
    /// HTTP/1.1 only, connections kept alive and reused.
    Http1,
    /// HTTP/2 only: ALPN `h2` alone, and HTTP/2 spoken even when the server names no protocol;
    /// a server without HTTP/2 cannot be read.
    Http2,
}

impl HttpVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Auto => "auto",
            HttpVersion::Http1 => "http1",
            HttpVersion::Http2 => "http2",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditSection {
    /// A name for this deployment, shown in reports.
    pub name: String,
    /// Exit with code 1 when a finding at or above this severity exists.
    pub fail_on: Severity,
    pub lang: Lang,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            name: "dvc-audit".into(),
            fail_on: Severity::High,
            lang: Lang::Vi,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CrawlSection {
    /// Must identify the tool and give a contact (`mailto:` or URL).
    pub user_agent: String,
    pub concurrency: u32,
    pub per_host_concurrency: u32,
    /// Requests per second per host; 0 turns the rate limit off (benchmarks only).
    pub per_host_rate: f64,
    pub connect_timeout_ms: u64,
    pub read_timeout_ms: u64,
    pub total_timeout_ms: u64,
    pub max_body_bytes: u64,
    pub max_redirects: u32,
    pub max_pages_per_agency: u32,
    /// Agencies walked at once. Each walk holds its agency's facts until it ends (site-wide
    /// signals are judged over the whole portal), so this bounds memory; at a polite
    /// `per_host_rate` a larger value shortens the night.
    pub agencies_in_flight: u32,
    pub max_url_length: u32,
    pub retries: u32,
    pub respect_robots: bool,
    /// Private, loopback or link-local ranges the crawler may reach (none by default).
    pub allow_private: Vec<String>,
    /// `host:port:addr`, as curl's `--resolve`.
    pub resolve: Vec<String>,
    /// Port for the plain-HTTP checks (HTTP→HTTPS redirect).
    pub http_port: u16,
    /// Longest robots.txt `Crawl-delay` honoured, in seconds; a longer one is capped to it.
    pub max_crawl_delay_secs: u64,
    /// Wall-clock budget of the crawl, in minutes: a page that cannot be fetched within it
    /// (at the host's Crawl-delay and rate) is could-not-assess `rate_limited`.
    pub max_run_minutes: u64,
    /// Hosts, besides each agency's portal and `extra_hosts` (and their `www.` variants), that a
    /// list or service page may be on or redirect to; any other host is could-not-assess
    /// `redirect_offsite`.
    pub redirect_allow_hosts: Vec<String>,
    /// HTTP versions offered to portals: `auto` (ALPN chooses), `http1` or `http2`.
    pub http_version: HttpVersion,
}

impl Default for CrawlSection {
    fn default() -> Self {
        use defaults::*;
        CrawlSection {
            user_agent: String::new(),
            concurrency: CONCURRENCY,
            per_host_concurrency: PER_HOST_CONCURRENCY,
            per_host_rate: PER_HOST_RATE,
            connect_timeout_ms: CONNECT_TIMEOUT_MS,
            read_timeout_ms: READ_TIMEOUT_MS,
            total_timeout_ms: TOTAL_TIMEOUT_MS,
            max_body_bytes: MAX_BODY_BYTES,
            max_redirects: MAX_REDIRECTS,
            max_pages_per_agency: MAX_PAGES_PER_AGENCY,
            agencies_in_flight: AGENCIES_IN_FLIGHT,
            max_url_length: MAX_URL_LENGTH,
            retries: RETRIES,
            respect_robots: true,
            allow_private: Vec::new(),
            resolve: Vec::new(),
            http_port: HTTP_PORT,
            max_crawl_delay_secs: MAX_CRAWL_DELAY_SECS,
            max_run_minutes: MAX_RUN_MINUTES,
            redirect_allow_hosts: Vec::new(),
            http_version: HttpVersion::Auto,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSection {
    pub expiry_warning_days: u32,
    /// A PEM file replacing the built-in Mozilla roots (tests and sandboxes only).
    pub web_roots: Option<String>,
    /// Named extra trust-anchor sets: name → PEM file (e.g. `vgca`, `national-root`).
    pub anchors: BTreeMap<String, String>,
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection {
            expiry_warning_days: defaults::EXPIRY_WARNING_DAYS,
            web_roots: None,
            anchors: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageSection {
    pub sqlite: String,
    pub raw_retention_days: u32,
    /// `gc` prunes the bulky rows of runs older than this many days (their findings,
    /// lifecycle, digest and the evidence of every open finding stay); `0` keeps every run
    /// whole.
    pub keep_runs_days: u32,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            sqlite: defaults::SQLITE.into(),
            raw_retention_days: defaults::RAW_RETENTION_DAYS,
            keep_runs_days: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportSection {
    pub dir: String,
    pub formats: Vec<String>,
    /// Example rows per (agency, rule) in the HTML/text reports; `0` shows every row (the
    /// complete list is always in findings.csv / report.json / report.xlsx).
    pub max_rows_per_rule: u32,
    /// `gc` removes the report directories of complete runs older than this many days (never
    /// the newest run's; `dvc-audit report --run N` renders them again from the history);
    /// `0` keeps every run's reports.
    pub keep_days: u32,
}

impl Default for ReportSection {
    fn default() -> Self {
        ReportSection {
            dir: defaults::REPORT_DIR.into(),
            formats: vec!["html".into(), "json".into(), "text".into()],
            max_rows_per_rule: defaults::MAX_ROWS_PER_RULE,
            keep_days: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// STARTTLS on the submission port.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: allowed only for a loopback SMTP host.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SendPolicy {
    #[default]
    Always,
    /// Only when something is new or regressed.
    OnChange,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LeadSection {
    /// Recipients of the whole-run digest (the inspection lead).
    pub to: Vec<String>,
    /// Regional leads: each gets a digest of its jurisdictions' (and listed) agencies.
    pub regional: Vec<RegionalLead>,
}

/// A regional lead (`[[email.lead.regional]]`): a digest of some agencies.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RegionalLead {
    pub to: Vec<String>,
    /// Agencies whose `jurisdiction` is one of these.
    pub jurisdictions: Vec<String>,
    /// And these agencies by id.
    pub agencies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailSection {
    pub enabled: bool,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    pub username: String,
    /// Name of the environment variable holding the SMTP password.
    pub password_env: String,
    /// A file holding the SMTP password (first line). Takes precedence over `password_env`.
    pub password_file: Option<String>,
    pub outbox: String,
    pub send: SendPolicy,
    pub lead: LeadSection,
    /// Days an agency has to reply, counted from the run's start (shown as a date).
    pub reply_by_days: u32,
    /// The inspectors' contact line shown in every message (the `from` address when empty).
    pub contact: String,
    /// Attach `report.json` to messages (off: HTML, CSV and XLSX are attached).
    pub attach_json: bool,
}

impl Default for EmailSection {
    fn default() -> Self {
        EmailSection {
            enabled: false,
            from: String::new(),
            smtp_host: String::new(),
            smtp_port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password_env: defaults::PASSWORD_ENV.into(),
            password_file: None,
            outbox: defaults::OUTBOX.into(),
            send: SendPolicy::Always,
            lead: LeadSection::default(),
            reply_by_days: crate::notify::DEFAULT_REPLY_BY_DAYS,
            contact: String::new(),
            attach_json: false,
        }
    }
}

/// `[notify]`: notifications besides email.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct NotifySection {
    /// `[notify.webhook]`: POST the run summary (JSON, HMAC-signed) through the outbox.
    pub webhook: Option<WebhookSection>,
}

/// `[notify.webhook]`. The HMAC secret never lives in the file: only in the environment
/// variable named by `secret_env` or in `secret_file` (as the SMTP password).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSection {
    /// `https://…`, or `http://` to a loopback host only. No credentials in the URL.
    pub url: String,
    /// Name of the environment variable holding the HMAC secret.
    pub secret_env: String,
    /// A file holding the secret (first line). Takes precedence over `secret_env`.
    pub secret_file: Option<String>,
    /// Time allowed for one delivery (connect, send, answer), in milliseconds.
    pub timeout_ms: u64,
    /// Extra request headers (e.g. a chat system's routing key); not the signature headers.
    pub headers: BTreeMap<String, String>,
}

impl Default for WebhookSection {
    fn default() -> Self {
        WebhookSection {
            url: String::new(),
            secret_env: defaults::WEBHOOK_SECRET_ENV.into(),
            secret_file: None,
            timeout_ms: defaults::WEBHOOK_TIMEOUT_MS,
            headers: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RulesSection {
    /// Rule directories; empty means the bundled default rule pack.
    pub dirs: Vec<String>,
    pub waivers: Option<String>,
    /// Per-deployment severity overrides: rule id → severity.
    pub severity: BTreeMap<String, Severity>,
    /// Rule parameters (thresholds), e.g. `signature_share_min = 1.0`.
    pub params: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProfilesSection {
    /// Profile directories; empty means the bundled profiles.
    pub dirs: Vec<String>,
}

/// One agency under inspection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgencyConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub name_en: String,
    pub kind: AgencyKind,
    pub portal: String,
    /// Other hosts citizens touch (API, submission, payment); probed like the portal.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// Platform profile id.
    pub platform: String,
    #[serde(default)]
    pub jurisdiction: String,
    #[serde(default)]
    pub contacts: Vec<String>,
    /// Inspectors for this agency in addition to those of its jurisdiction.
    #[serde(default)]
    pub inspectors: Vec<String>,
    /// Id of the agency this one merged into (2025 reorganisation), if any.
    #[serde(default)]
    pub successor: String,
    #[serde(default)]
    pub former_names: Vec<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Whether the host names were verified by a person; unverified ones are marked in reports.
    #[serde(default = "default_true")]
    pub verified: bool,
    #[serde(default)]
    pub note: String,
    /// Extra template variables for the platform profile (e.g. `api`).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    pub audit: AuditSection,
    pub crawl: CrawlSection,
    pub tls: TlsSection,
    pub storage: StorageSection,
    pub report: ReportSection,
    pub email: EmailSection,
    pub notify: NotifySection,
    /// Inspectors per jurisdiction: jurisdiction → addresses.
    pub inspectors: BTreeMap<String, Vec<String>>,
    pub rules: RulesSection,
    pub profiles: ProfilesSection,
    #[serde(rename = "agency")]
    pub agencies: Vec<AgencyConfig>,
}
