//! `audit.toml`: the user's configuration.
//!
//! Loading is two-phase (as in cargo-deny): a strict parse that reports every TOML syntax error
//! and every unknown key with its span, then a validation pass (`validate.rs`) that collects
//! **every** semantic problem. If any error is found nothing runs (exit code 2), and each problem
//! is printed as `file:line:col` with the value underlined.
//!
//! Environment overrides (applied after parsing, before validation; see [`ENV_OVERRIDES`]) let
//! cron and systemd units change paths and SMTP settings without editing the file. The SMTP
//! password never lives in the file: only in the environment variable named by
//! `email.password_env` or in `email.password_file`.

pub mod init;
mod model;
mod spans;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use model::*;
pub use spans::SpanIndex;
pub use validate::{embedded_v4, is_non_public, is_slug, parse_resolve};

use crate::diag::{Diagnostic, Diagnostics, DiagnosticsError, SourceFile};

/// Environment variables that override settings: (variable, setting it overrides).
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("DVC_AUDIT_DB", "storage.sqlite"),
    ("DVC_AUDIT_REPORT_DIR", "report.dir"),
    ("DVC_AUDIT_OUTBOX", "email.outbox"),
    ("DVC_AUDIT_USER_AGENT", "crawl.user_agent"),
    ("DVC_AUDIT_SMTP_HOST", "email.smtp_host"),
    ("DVC_AUDIT_SMTP_PORT", "email.smtp_port"),
    ("DVC_AUDIT_SMTP_USER", "email.username"),
];

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Non-fatal problems (e.g. plain-HTTP portal).
    pub warnings: Diagnostics,
    /// Directory relative paths are resolved against (the config file's directory).
    pub base_dir: PathBuf,
    /// The source text, for diagnostics that later stages raise against the config.
    pub source: Arc<SourceFile>,
    pub spans: SpanIndex,
    /// SHA-256 of the file text, recorded with every run.
    pub digest: String,
}

impl Loaded {
    /// Resolve a path from the config against the config file's directory.
    pub fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// A diagnostic pointing at the value at `path` (e.g. `agency.3.platform`), for problems
    /// found by later stages (an unknown profile id, say).
    pub fn diagnostic_at(&self, path: &str, d: Diagnostic, label: &str) -> Diagnostic {
        match self.spans.value(path) {
            Some(span) => d.at(&self.source, span, label),
            None => d.in_file(&self.source),
        }
    }

    /// The SMTP password: from `email.password_file` if set, else from the environment
    /// variable named by `email.password_env`. `None` when neither is set.
    pub fn smtp_password(&self) -> Result<Option<Secret>, ConfigError> {
        if let Some(file) = &self.config.email.password_file {
            let path = self.path(file);
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Secret {
                what: path.display().to_string(),
                message: e.to_string(),
            })?;
            let first = text.lines().next().unwrap_or("").trim_end().to_string();
            return Ok(Some(Secret(first)));
        }
        Ok(std::env::var(&self.config.email.password_env)
            .ok()
            .filter(|s| !s.is_empty())
            .map(Secret))
    }

    /// The webhook's HMAC secret (`[notify.webhook]`): from `secret_file` if set, else from the
    /// environment variable named by `secret_env`. `None` when no webhook is configured;
    /// an error when one is but its secret is missing or empty.
    pub fn webhook_secret(&self) -> Result<Option<Secret>, ConfigError> {
        let Some(w) = &self.config.notify.webhook else {
            return Ok(None);
        };
        let missing = |what: String, message: &str| ConfigError::WebhookSecret {
            what,
            message: message.to_string(),
        };
        let secret = if let Some(file) = &w.secret_file {
            let path = self.path(file);
            let text = read_secret_file(&path)
                .map_err(|e| missing(path.display().to_string(), &e.to_string()))?;
            if text.is_empty() {
                return Err(missing(
                    path.display().to_string(),
                    "the first line is empty",
                ));
            }
            text
        } else {
            std::env::var(&w.secret_env)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    missing(
                        format!("the environment variable {}", w.secret_env),
                        "not set or empty",
                    )
                })?
        };
        Ok(Some(Secret(secret)))
    }
}

/// The first line of a secret file (bounded: a secret is short; a huge file is a mistake).
pub(crate) fn read_secret_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_string(&mut text)?;
    Ok(text.lines().next().unwrap_or("").trim_end().to_string())
}

/// A secret string that never prints itself.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the SMTP password from {what}: {message}")]
    Secret { what: String, message: String },
    #[error("cannot read the webhook secret from {what}: {message}")]
    WebhookSecret { what: String, message: String },
}

impl Config {
    /// Load `path` with the process environment's overrides.
    pub fn load(path: &Path) -> Result<Loaded, DiagnosticsError> {
        let file = SourceFile::read(path)?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::load_source(file, base, &|k| std::env::var(k).ok())
    }

    /// Load from text already in memory; `env` supplies override variables (tests pass a map).
    pub fn load_source(
        file: Arc<SourceFile>,
        base_dir: PathBuf,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Loaded, DiagnosticsError> {
        let mut diags = Diagnostics::default();
        let text = Arc::clone(&file.text);

        // Phase 1a: syntax, with recovery so every syntax error is reported.
        let (root, errors) = toml::de::DeTable::parse_recoverable(&text);
        for e in &errors {
            diags.push(crate::diag::from_toml_error(&file, "config::syntax", e));
        }
        if diags.has_errors() {
            return Err(DiagnosticsError(diags));
        }
        let spans = SpanIndex::build(root.get_ref());

        // Phase 1b: strict deserialisation; every unknown key is collected, not just the first.
        let mut unknown = Vec::new();
        let de = toml::de::Deserializer::from(root);
        let parsed: Result<Config, _> = serde_ignored::deserialize(de, |path| {
            unknown.push(spans::ignored_path(&path));
        });
        for path in &unknown {
            let key = path.rsplit('.').next().unwrap_or(path);
            let d = Diagnostic::error("config::unknown-key", format!("unknown key `{path}`"));
            let d = match spans.key(path) {
                Some(span) => d.at(&file, span, format!("`{key}` is not a setting here")),
                None => d.in_file(&file),
            }
            .with_help("see the configuration reference in README.md");
            diags.push(d);
        }
        let mut config = match parsed {
            Ok(c) => c,
            Err(e) => {
                diags.push(crate::diag::from_toml_error(&file, "config::type", &e));
                return Err(DiagnosticsError(diags));
            }
        };

        apply_env(&mut config, env, &mut diags);

        // Phase 2: validation, collecting every problem.
        let ctx = validate::Ctx {
            file: &file,
            spans: &spans,
            base_dir: &base_dir,
            env,
        };
        validate::validate(&config, &ctx, &mut diags);

        let mut warnings = diags;
        if warnings.has_errors() {
            return Err(DiagnosticsError(warnings));
        }
        warnings
            .items
            .retain(|d| d.severity == crate::diag::Severity::Warning);
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(Loaded {
            config,
            warnings,
            base_dir,
            source: file,
            spans,
            digest,
        })
    }
}

fn apply_env(config: &mut Config, env: &dyn Fn(&str) -> Option<String>, diags: &mut Diagnostics) {
    for (var, _) in ENV_OVERRIDES {
        let Some(value) = env(var) else { continue };
        match *var {
            "DVC_AUDIT_DB" => config.storage.sqlite = value,
            "DVC_AUDIT_REPORT_DIR" => config.report.dir = value,
            "DVC_AUDIT_OUTBOX" => config.email.outbox = value,
            "DVC_AUDIT_USER_AGENT" => config.crawl.user_agent = value,
            "DVC_AUDIT_SMTP_HOST" => config.email.smtp_host = value,
            "DVC_AUDIT_SMTP_USER" => config.email.username = value,
            "DVC_AUDIT_SMTP_PORT" => match value.parse::<u16>() {
                Ok(p) => config.email.smtp_port = p,
                Err(_) => diags.push(Diagnostic::error(
                    "config::env",
                    format!("{var}={value:?} is not a port number"),
                )),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
