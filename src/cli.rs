//! Command-line interface: argument parsing and dispatch to the library stages.
//! No stage prints; only this module (and `main.rs`) writes to the terminal.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "dvc-audit",
    version,
    about = "Compliance audit scanner for Vietnamese online public-service portals"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "DVC_AUDIT_CONFIG",
        default_value = "audit.toml"
    )]
    pub config: PathBuf,

    /// Log format for non-interactive use.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Tokio worker threads (default: number of cores).
    #[arg(long, global = true)]
    pub workers: Option<usize>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Email outbox: messages not yet delivered.
    #[command(subcommand)]
    Outbox(OutboxCmd),
}

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// List pending (undelivered) messages.
    List,
    /// Send every pending message now; delivered ones move to `sent/`.
    Flush,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Load and validate the configuration; print every problem with file:line:col.
    Check,
}

/// Run a parsed command. Errors that reach here are printed by `main`.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Config(ConfigCmd::Check) => config_check(&cli.config),
        Command::Outbox(cmd) => outbox(&cli.config, cmd).await,
    }
}

fn config_check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    match crate::config::Config::load(path) {
        Ok(loaded) => {
            eprint!("{}", loaded.warnings.render(color_stderr()));
            println!(
                "{}: ok ({} agencies)",
                path.display(),
                loaded.config.agencies.len()
            );
            Ok(ExitCode::Ok)
        }
        Err(e) => {
            eprint!("{}", e.0.render(color_stderr()));
            Ok(ExitCode::ConfigError)
        }
    }
}

async fn outbox(path: &std::path::Path, cmd: OutboxCmd) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::Config::load(path) {
        Ok(l) => l,
        Err(e) => {
            eprint!("{}", e.0.render(color_stderr()));
            return Ok(ExitCode::ConfigError);
        }
    };
    let (settings, _, dir) = crate::notify::settings_from_config(&loaded)?;
    let outbox = crate::notify::Outbox::open(&dir)?;
    match cmd {
        OutboxCmd::List => {
            let pending = outbox.pending()?;
            for p in &pending {
                println!(
                    "{}\t{}\t{}",
                    p.id,
                    p.envelope.to.join(","),
                    p.envelope.subject
                );
            }
            println!(
                "{} pending, {} sent ({})",
                pending.len(),
                outbox.sent()?.len(),
                dir.display()
            );
            Ok(ExitCode::Ok)
        }
        OutboxCmd::Flush => {
            let r = crate::notify::flush(&outbox, &settings.smtp).await?;
            for (id, e) in &r.failed {
                eprintln!("not sent: {id}: {e}");
            }
            println!("{} sent, {} still pending", r.sent.len(), r.failed.len());
            Ok(if r.failed.is_empty() {
                ExitCode::Ok
            } else {
                ExitCode::Incomplete
            })
        }
    }
}

/// Colour diagnostics only on a terminal.
pub fn color_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
