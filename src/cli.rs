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
    /// Render a stored run again (e.g. in English) without crawling.
    Report(ReportArgs),
    /// Email outbox: messages not yet delivered.
    #[command(subcommand)]
    Outbox(OutboxCmd),
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Run id (default: the latest complete run).
    #[arg(long)]
    pub run: Option<i64>,
    /// Report language.
    #[arg(long, value_enum, default_value_t = ReportLang::Vi)]
    pub lang: ReportLang,
    /// Formats, comma-separated: html, text, json, csv, xlsx (default: `report.formats`).
    #[arg(long, value_delimiter = ',')]
    pub format: Vec<String>,
    /// Output directory (default: `report.dir`); files go to `<dir>/run-<id>/`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportLang {
    Vi,
    En,
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
        Command::Report(args) => report(&cli.config, args),
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

fn report(path: &std::path::Path, args: ReportArgs) -> anyhow::Result<ExitCode> {
    use crate::report::{Format, Lang};
    let loaded = match crate::config::Config::load(path) {
        Ok(l) => l,
        Err(e) => {
            eprint!("{}", e.0.render(color_stderr()));
            return Ok(ExitCode::ConfigError);
        }
    };
    let formats = if args.format.is_empty() {
        crate::report::configured_formats(&loaded)?
    } else {
        args.format
            .iter()
            .map(|f| Format::parse(f))
            .collect::<Result<_, _>>()?
    };
    let lang = match args.lang {
        ReportLang::Vi => Lang::Vi,
        ReportLang::En => Lang::En,
    };
    for f in crate::report::regenerate(&loaded, args.run, lang, &formats, args.out.as_deref())? {
        println!("{}", f.display());
    }
    Ok(ExitCode::Ok)
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
