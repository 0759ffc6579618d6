//! `dvc-audit demo`: the main job end to end on the embedded default — the bundled sandbox
//! world served in-process over HTTPS on loopback, SQLite history, and the local outbox.
//!
//! Mail is composed, spooled to the outbox and sent like any run's, to an in-process SMTP sink
//! on loopback ([`super::mailsink`]) that writes a maildir under the demo directory
//! (`<dir>/maildir/new/*.eml`): the demo shows mail delivered, not connection-refused warnings.
//!
//! A repeat demo in the same directory serves the next sandbox drift day, so its report has
//! changes to show (new and resolved findings), as a real portal's second night would.

use std::path::{Path, PathBuf};

use super::mailsink::MailSink;
use super::pipeline::{self, RunError, RunOptions, RunSummary};
use super::setup::Setup;
use crate::config::Config;
use crate::sandbox::{self, ServeOptions, Size, World};

/// Default ports, fixed so repeated demos in one directory keep host identities (and so the
/// finding lifecycle across runs means something).
pub const DEMO_HTTPS_PORT: u16 = 18443;
pub const DEMO_HTTP_PORT: u16 = 18080;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub dir: PathBuf,
    pub size: Size,
    pub seed: u64,
    pub https_port: u16,
    pub http_port: u16,
    pub tty: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the sandbox world: {0}")]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("the generated configuration does not load:\n{0}")]
    Config(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("cannot start the demo's mail sink: {0}")]
    MailSink(std::io::Error),
}

/// What the demo did.
pub struct DemoOutcome {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub summary: RunSummary,
    pub world_agencies: usize,
    pub world_services: usize,
    /// The ports the world was served on (the ephemeral ones when 0 was asked for).
    pub https_port: u16,
    pub http_port: u16,
    /// The sandbox drift day served (0: the world as generated) and what it changed
    /// (service changes, certificate changes) in total since day 0.
    pub drift_day: u32,
    pub drift_changes: (usize, usize),
    /// Messages the demo's SMTP sink received in this run, and where they are.
    pub mail_delivered: usize,
    pub maildir: PathBuf,
}

/// Serve the world, run a regular audit against it, stop the world.
pub async fn demo(opts: DemoOptions) -> Result<DemoOutcome, DemoError> {
    let world = World::new(opts.size, opts.seed);
    let serve_opts = |https_port, http_port| ServeOptions {
        https_port,
        http_port,
        out_dir: Some(opts.dir.clone()),
        ..ServeOptions::default()
    };
    let asked = serve_opts(Some(opts.https_port), Some(opts.http_port));
    let handle = match sandbox::serve(world.clone(), asked).await {
        // The README's first command must work on any machine: a busy default port is not a
        // reason to fail.
        Err(sandbox::SandboxError::Bind { addr, source })
            if source.kind() == std::io::ErrorKind::AddrInUse =>
        {
            tracing::warn!(
                %addr,
                "port busy; serving the demo world on free ports instead (host identities change, so earlier demo runs in this directory do not carry over)"
            );
            sandbox::serve(world, serve_opts(None, None)).await?
        }
        other => other?,
    };
    // The world moves on between demos in one directory: the n-th earlier complete run
    // serves drift day n (a few services gain or lose VGCA or change level or markup, a
    // certificate renews or expires), so the next run's "what changed" has content.
    let day = earlier_runs(&opts.dir.join("dvc-audit.sqlite"));
    let drift = sandbox::Drift {
        day,
        ..sandbox::Drift::default()
    };
    let mut drift_changes = (0, 0);
    if day > 0 {
        let days = handle.drift(&drift)?;
        drift_changes = (
            days.iter().map(|d| d.services()).sum(),
            days.iter()
                .map(|d| d.cert_renewed.len() + d.cert_expired.len())
                .sum(),
        );
    }
    let maildir = opts.dir.join("maildir");
    let sink = MailSink::start(&maildir)
        .await
        .map_err(DemoError::MailSink)?;
    let config_path = opts.dir.join("audit.toml");
    let setup = load_demo_setup(&config_path, sink.port()).map_err(DemoError::Config)?;
    let result = pipeline::run(
        &setup,
        RunOptions {
            tty: opts.tty,
            ..RunOptions::default()
        },
        None,
    )
    .await;
    let world_agencies = handle.world().agencies().len();
    let world_services = handle.world().service_count();
    let (https_port, http_port) = (handle.https_port(), handle.http_port());
    handle.shutdown().await;
    let mail_delivered = sink.delivered();
    sink.shutdown();
    Ok(DemoOutcome {
        dir: opts.dir,
        config: config_path,
        summary: result?,
        world_agencies,
        world_services,
        https_port,
        http_port,
        mail_delivered,
        maildir,
        drift_day: day,
        drift_changes,
    })
}

/// Complete runs already in the demo's history (0 when there is none yet).
fn earlier_runs(db: &Path) -> u32 {
    if !db.exists() {
        return 0;
    }
    crate::store::Store::open_read_only(db)
        .and_then(|s| s.runs(100_000))
        .map(|runs| runs.iter().filter(|r| r.status == "complete").count())
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Load the world's config with email enabled and sent, in plain SMTP, to the demo's sink on
/// loopback (`port`).
fn load_demo_setup(path: &Path, port: u16) -> Result<Setup, String> {
    let mut loaded = Config::load(path).map_err(|e| e.0.render(false))?;
    let email = &mut loaded.config.email;
    email.enabled = true;
    email.smtp_host = "127.0.0.1".into();
    email.smtp_port = port;
    email.tls = crate::config::SmtpTls::None;
    Setup::from_loaded(loaded).map_err(|e| e.0.render(false))
}
