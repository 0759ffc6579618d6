//! `dvc-audit demo`: the main job end to end on the embedded default — the bundled sandbox
//! world served in-process over HTTPS on loopback, SQLite history, and the local outbox.
//!
//! Mail is composed and spooled to the outbox like any run; there is no SMTP server in the
//! demo, so it stays there (`dvc-audit outbox list -c <dir>/audit.toml` shows it, and
//! `outbox flush` would send it once a server is configured).

use std::path::{Path, PathBuf};

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
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1)
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
    let config_path = opts.dir.join("audit.toml");
    let setup = load_demo_setup(&config_path).map_err(DemoError::Config)?;
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
    Ok(DemoOutcome {
        dir: opts.dir,
        config: config_path,
        summary: result?,
        world_agencies,
        world_services,
        https_port,
        http_port,
    })
}

/// Load the world's config with email spooled to the local outbox: enabled, pointed at a
/// loopback port where nothing listens, so every message stays in the outbox.
fn load_demo_setup(path: &Path) -> Result<Setup, String> {
    let mut loaded = Config::load(path).map_err(|e| e.0.render(false))?;
    loaded.config.email.enabled = true;
    loaded.config.email.smtp_port = free_port();
    Setup::from_loaded(loaded).map_err(|e| e.0.render(false))
}
