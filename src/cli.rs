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
    /// The simulated portal world (tests, demo, benchmarks).
    #[command(subcommand)]
    Sandbox(SandboxCmd),
}

#[derive(Debug, Subcommand)]
pub enum SandboxCmd {
    /// Serve a sandbox world on 127.0.0.1 until Ctrl-C.
    Serve {
        /// World size: tiny, demo or nation.
        #[arg(long, default_value = "demo")]
        size: crate::sandbox::Size,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// HTTPS port (default: ephemeral).
        #[arg(long)]
        https_port: Option<u16>,
        /// Plain-HTTP port (default: ephemeral).
        #[arg(long)]
        http_port: Option<u16>,
        /// Where to write ca.pem, gov-ca.pem, audit.toml, ground-truth.json, requests.jsonl.
        #[arg(long, default_value = "sandbox-world")]
        out: PathBuf,
    },
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
        Command::Sandbox(SandboxCmd::Serve {
            size,
            seed,
            https_port,
            http_port,
            out,
        }) => sandbox_serve(size, seed, https_port, http_port, out).await,
    }
}

async fn sandbox_serve(
    size: crate::sandbox::Size,
    seed: u64,
    https_port: Option<u16>,
    http_port: Option<u16>,
    out: PathBuf,
) -> anyhow::Result<ExitCode> {
    let world = crate::sandbox::World::new(size, seed);
    let opts = crate::sandbox::ServeOptions {
        https_port,
        http_port,
        out_dir: Some(out.clone()),
        ..Default::default()
    };
    let handle = crate::sandbox::serve(world, opts).await?;
    println!(
        "sandbox {} world (seed {seed}): {} agencies, {} services",
        size.as_str(),
        handle.world().agencies().len(),
        handle.world().service_count()
    );
    println!("https: 127.0.0.1:{}", handle.https_port());
    println!("http:  127.0.0.1:{}", handle.http_port());
    println!("out:   {}", out.display());
    let background = handle.world().service_count() > crate::sandbox::BACKGROUND_TRUTH_SERVICES;
    for name in [
        "audit.toml",
        "ca.pem",
        "gov-ca.pem",
        "ground-truth.json",
        "requests.jsonl",
    ] {
        let note = if name == "ground-truth.json" && background {
            "  (being written in the background)"
        } else {
            ""
        };
        println!("  {}{note}", out.join(name).display());
    }
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(ExitCode::Ok)
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

/// Colour diagnostics only on a terminal.
pub fn color_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
