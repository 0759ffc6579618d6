//! Command-line interface: argument parsing and dispatch to the library stages.
//! No stage prints; only this module (and `main.rs`) writes to the terminal.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "dvc-audit",
    version,
    about = "Compliance audit scanner for Vietnamese online public-service portals",
    after_help = crate::exit::HELP_EPILOGUE
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

    /// Log format for non-interactive use. `json`: every line on stdout and stderr is one JSON
    /// object; a run ends with one `run_finished` line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Errors only (no stage events, warnings or progress lines).
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail: `-v` debug events of dvc-audit, `-vv` of every library, `-vvv` trace.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Tokio worker threads (default: number of cores).
    #[arg(long, global = true)]
    pub workers: Option<usize>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an audit: a regular inspection of every configured agency (or `--agency`), or a
    /// surprise inspection of a seeded sample (`--surprise`).
    Run(crate::run::cmd::RunArgs),
    /// The main job end to end on the bundled sandbox world (HTTPS on loopback, SQLite, outbox).
    Demo(crate::run::cmd::DemoArgs),
    /// Past runs, an agency's trend, or `history verify` for the digest chain.
    History(crate::run::cmd::HistoryArgs),
    /// Delete raw page bodies older than `storage.raw_retention_days`; prune runs older than
    /// `storage.keep_runs_days` (findings, their evidence, service states and digests stay);
    /// remove report directories of runs older than `report.keep_days` (`report --run N`
    /// renders them again).
    Gc(GcArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Rule pack commands: lint, run embedded tests, generate the reference.
    #[command(subcommand)]
    Rules(crate::rules::cli::RulesCmd),
    /// One host now: TLS and HTTP facts with verdicts; a configured portal: a spot audit.
    Spot(SpotArgs),
    /// Portal profiles: lint them, or see what one extracts from a page.
    #[command(subcommand)]
    Profile(crate::profile::cmd::ProfileCmd),
    /// The simulated portal world (tests, demo, benchmarks).
    #[command(subcommand)]
    Sandbox(SandboxCmd),
    /// Render a stored run again (e.g. in English) without crawling.
    Report(ReportArgs),
    /// Outbox: email messages and webhook deliveries not yet delivered.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Print a shell completion script, e.g. `dvc-audit completions bash >
    /// /etc/bash_completion.d/dvc-audit`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command to `--out DIR`.
    Man {
        /// Write `dvc-audit.1`, `dvc-audit-run.1`, ... into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// `dvc-audit gc` options.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Afterwards, rewrite the database file so it shrinks by what was removed (SQLite
    /// otherwise reuses the freed pages for later runs). Needs free disk space of about the
    /// database's size while it runs, and no run may be writing.
    #[arg(long)]
    pub vacuum: bool,
}

#[derive(Debug, clap::Args)]
pub struct SpotArgs {
    /// What to check: `https://host[:port]`, `http://host[:port]` (its redirect, then the
    /// HTTPS address it leads to), or a bare `host` / `host:port`.
    pub url: String,
    /// Exit 1 when a host rule fails at or above this severity (default: `audit.fail_on` of
    /// the configuration, else `high`).
    #[arg(long, value_name = "SEVERITY", value_parser = parse_spot_severity)]
    pub fail_on: Option<crate::facts::Severity>,
    /// Language of the verdict messages.
    #[arg(long, value_enum, default_value_t = ReportLang::Vi)]
    pub lang: ReportLang,
    /// Print the facts and the rules' outcomes as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Extra trust anchors, `NAME=file.pem` (repeatable), e.g. `vgca=vgca-root.pem`.
    #[arg(long = "anchors", value_name = "NAME=FILE")]
    pub anchors: Vec<String>,
    /// Pin `host:port:address`, as curl's `--resolve` (repeatable).
    #[arg(long = "resolve", value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// Replace the built-in public web roots with the certificates in this PEM file (testing).
    #[arg(long, value_name = "FILE")]
    pub web_roots: Option<PathBuf>,
    /// Port of the plain-HTTP redirect check.
    #[arg(long, default_value_t = 80)]
    pub http_port: u16,
    /// Skip the legacy protocol probe (TLS 1.0/1.1, weak suites, DHE).
    #[arg(long)]
    pub no_legacy: bool,
    /// When the URL is a configured agency's portal: mail the result to its inspectors.
    #[arg(long)]
    pub mail: bool,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCmd {
    /// Serve a sandbox world on 127.0.0.1 until Ctrl-C.
    Serve {
        /// World size: tiny, demo, nation, or platforms (one portal per newer platform shape).
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
        /// Serve the world as it is after this many days of drift (0: as generated): each day a
        /// share of services change level, signature or markup; certificates renew or expire.
        #[arg(long, default_value_t = 0)]
        drift_day: u32,
        /// Share of services that change each day (and chance per host certificate), 0..=1.
        #[arg(long, default_value_t = 0.01, value_parser = drift_rate)]
        drift_rate: f64,
        /// Seed of the drift.
        #[arg(long, default_value_t = 1)]
        drift_seed: u64,
    },
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
    /// List pending (undelivered) messages and webhook deliveries.
    List {
        /// One JSON document: pending messages and counts.
        #[arg(long)]
        json: bool,
    },
    /// Send every pending message and webhook delivery now; delivered ones move to `sent/`.
    Flush,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Load and validate the configuration; print every problem with file:line:col.
    Check,
    /// Write a commented configuration (every key with its default and meaning) to the `-c`
    /// path (default `audit.toml`); never overwrites an existing file (exit 2).
    Init {
        /// With the agencies of the founding survey (examples/vietnam.toml).
        #[arg(long, conflicts_with = "sandbox")]
        vietnam: bool,
        /// For the sandbox demo world (`dvc-audit sandbox serve --size demo --seed 1
        /// --https-port 18443 --http-port 18080 --out DIR`, then init in DIR).
        #[arg(long)]
        sandbox: bool,
    },
}

/// Run a parsed command. Errors that reach here are printed by `main`.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => crate::run::cmd::run(&cli.config, args, color_stderr()).await,
        Command::Demo(args) => crate::run::cmd::demo(args).await,
        Command::History(args) => crate::run::cmd::history(&cli.config, args, color_stderr()),
        Command::Gc(args) => crate::run::cmd::gc(&cli.config, args.vacuum),
        Command::Config(ConfigCmd::Check) => config_check(&cli.config),
        Command::Config(ConfigCmd::Init { vietnam, sandbox }) => crate::config::init::run(
            &cli.config,
            crate::config::init::Kind::from_flags(vietnam, sandbox),
        ),
        Command::Completions { shell } => {
            completions(shell, &mut std::io::stdout());
            Ok(ExitCode::Ok)
        }
        Command::Man { out } => man(out.as_deref()),
        Command::Rules(cmd) => Ok(crate::rules::cli::run(&cmd, color_stderr())),
        Command::Spot(args) => spot(&cli.config, &args).await,
        Command::Profile(cmd) => profile_cmd(&cli.config, cmd).await,
        Command::Sandbox(SandboxCmd::Serve {
            size,
            seed,
            https_port,
            http_port,
            out,
            drift_day,
            drift_rate,
            drift_seed,
        }) => {
            let drift = crate::sandbox::Drift {
                day: drift_day,
                rate: drift_rate,
                seed: drift_seed,
            };
            sandbox_serve(size, seed, https_port, http_port, out, drift).await
        }
        Command::Report(args) => report(&cli.config, args),
        Command::Outbox(cmd) => outbox(&cli.config, cmd).await,
    }
}

async fn sandbox_serve(
    size: crate::sandbox::Size,
    seed: u64,
    https_port: Option<u16>,
    http_port: Option<u16>,
    out: PathBuf,
    drift: crate::sandbox::Drift,
) -> anyhow::Result<ExitCode> {
    let world = crate::sandbox::World::new(size, seed);
    let opts = crate::sandbox::ServeOptions {
        https_port,
        http_port,
        out_dir: Some(out.clone()),
        ..Default::default()
    };
    let handle = crate::sandbox::serve(world, opts).await?;
    // Drift first, so what is served (and the ground truth written) is the drifted day.
    let drifted = if drift.day > 0 {
        let days = handle.drift(&drift)?;
        let services: usize = days.iter().map(|d| d.services()).sum();
        let certs: usize = days
            .iter()
            .map(|d| d.cert_renewed.len() + d.cert_expired.len())
            .sum();
        Some((services, certs))
    } else {
        None
    };
    let background = handle.world().service_count() > crate::sandbox::BACKGROUND_TRUTH_SERVICES;
    let files: Vec<(PathBuf, bool)> = [
        "audit.toml",
        "ca.pem",
        "gov-ca.pem",
        "ground-truth.json",
        "requests.jsonl",
    ]
    .iter()
    .map(|name| (out.join(name), *name == "ground-truth.json" && background))
    .collect();
    let mut text = format!(
        "sandbox {} world (seed {seed}): {} agencies, {} services\nhttps: 127.0.0.1:{}\nhttp:  127.0.0.1:{}\nout:   {}\n",
        size.as_str(),
        handle.world().agencies().len(),
        handle.world().service_count(),
        handle.https_port(),
        handle.http_port(),
        out.display()
    );
    if let Some((services, certs)) = drifted {
        text.push_str(&format!(
            "drift: day {} at {} a day (seed {}): {services} service changes, {certs} certificate changes\n",
            drift.day, drift.rate, drift.seed
        ));
    }
    for (path, in_background) in &files {
        let note = if *in_background {
            "  (being written in the background)"
        } else {
            ""
        };
        text.push_str(&format!("  {}{note}\n", path.display()));
    }
    text.push_str("Ctrl-C to stop.\n");
    crate::logging::result(
        &text,
        "sandbox_serving",
        serde_json::json!({
            "size": size.as_str(),
            "seed": seed,
            "agencies": handle.world().agencies().len(),
            "services": handle.world().service_count(),
            "https_port": handle.https_port(),
            "http_port": handle.http_port(),
            "out": out.display().to_string(),
            "drift": drifted.map(|(services, certs)| serde_json::json!({
                "day": drift.day, "rate": drift.rate, "seed": drift.seed,
                "service_changes": services, "certificate_changes": certs,
            })),
            "files": files.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>(),
            "ground_truth_in_background": background,
        }),
    )?;
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(ExitCode::Ok)
}

/// Exactly the validation `run` does before any traffic (`run::setup::Setup::load`: the
/// configuration, every profile directory, the rules with their settings, the waivers), every
/// problem reported at once.
fn config_check(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    match crate::run::setup::Setup::load(path) {
        Ok(setup) => {
            crate::logging::diagnostics(&setup.warnings);
            let n = setup.loaded.config.agencies.len();
            crate::logging::result(
                &format!("{}: ok ({n} agencies)\n", path.display()),
                "config_ok",
                serde_json::json!({"path": path.display().to_string(), "agencies": n}),
            )?;
            Ok(ExitCode::Ok)
        }
        Err(e) => {
            crate::logging::diagnostics(&e.0);
            Ok(ExitCode::ConfigError)
        }
    }
}

async fn spot(config: &std::path::Path, args: &SpotArgs) -> anyhow::Result<ExitCode> {
    // A configured agency's portal gets the whole audit (crawl, probe, rules) as a spot run.
    if config.is_file()
        && let Some(code) = crate::run::cmd::spot_agency(
            config,
            &args.url,
            &args.resolve,
            args.mail,
            color_stderr(),
        )
        .await?
    {
        return Ok(code);
    }
    if args.mail {
        crate::logging::error(&format!(
            "--mail needs {} to be the portal of an agency in {}",
            args.url,
            config.display()
        ));
        return Ok(ExitCode::ConfigError);
    }
    let cfg = match spot_config(args) {
        Ok(c) => c,
        Err(e) => {
            crate::logging::error(&format!("{e:#}"));
            return Ok(ExitCode::ConfigError);
        }
    };
    let target = match crate::probe::spot::parse_target(&args.url) {
        Ok(t) => t,
        Err(e) => {
            crate::logging::error(&e.to_string());
            return Ok(ExitCode::ConfigError);
        }
    };
    // One judge: the host rules `run` evaluates (the configuration's rule set, parameters and
    // severities when there is a configuration, else the bundled pack), called the same way.
    let (rules, waivers, configured_fail_on) = if config.is_file() {
        match crate::run::setup::Setup::load(config) {
            Ok(s) => {
                let fail_on = s.loaded.config.audit.fail_on;
                (s.rules, s.waivers, Some(fail_on))
            }
            Err(e) => {
                crate::logging::diagnostics(&e.0);
                return Ok(ExitCode::ConfigError);
            }
        }
    } else {
        match crate::rules::RuleSet::bundled() {
            Ok(l) => (l.rules, crate::rules::Waivers::default(), None),
            Err(e) => {
                crate::logging::diagnostics(&e.0);
                return Ok(ExitCode::ConfigError);
            }
        }
    };
    let fail_on = args
        .fail_on
        .or(configured_fail_on)
        .unwrap_or(crate::facts::Severity::High);
    let report = crate::probe::spot::spot(cfg, &args.url, &target, &rules, &waivers).await;
    if crate::logging::json() {
        // One line: the report's JSON form as the `spot_finished` event's `report` field.
        crate::outln!(
            "{}",
            crate::logging::json_line(
                "INFO",
                "spot_finished",
                serde_json::json!({"url": args.url, "report": report}),
            )
        )?;
    } else if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        let mut text = String::new();
        if !report.redirected_to.is_empty() {
            text.push_str(&format!("{} -> {}\n", args.url, report.redirected_to));
        }
        text.push_str(&crate::probe::render_table(&report.host));
        text.push('\n');
        text.push_str(&crate::probe::render_outcomes(
            &report.outcomes,
            matches!(args.lang, ReportLang::En),
        ));
        crate::logging::out(&text)?;
    }
    Ok(spot_exit(&report, fail_on))
}

/// `spot`'s status for a host: 1 on a failure at or above `fail_on`; 3 when the host could not
/// be assessed: unreachable, or answering but with no host rule able to judge it (every
/// outcome could-not-assess or not applicable, at least one could-not-assess): "0, no
/// finding" would tell a script the host is sound when nothing about it was judged.
fn spot_exit(report: &crate::probe::spot::SpotReport, fail_on: crate::facts::Severity) -> ExitCode {
    use crate::rules::Verdict;
    let judged = report
        .outcomes
        .iter()
        .any(|o| matches!(o.verdict, Verdict::Pass | Verdict::Fail));
    let unassessed = report
        .outcomes
        .iter()
        .any(|o| matches!(o.verdict, Verdict::CouldNotAssess { .. }));
    if report.worst.is_some_and(|w| w >= fail_on) {
        ExitCode::Findings
    } else if report.host.error.is_some() || (unassessed && !judged) {
        ExitCode::Incomplete
    } else {
        ExitCode::Ok
    }
}

fn parse_spot_severity(s: &str) -> Result<crate::facts::Severity, String> {
    crate::facts::Severity::parse(s)
        .ok_or_else(|| format!("unknown severity {s:?} (critical, high, medium, low, info)"))
}

fn spot_config(args: &SpotArgs) -> anyhow::Result<crate::probe::ProbeConfig> {
    use crate::probe::{AnchorSet, ProbeConfig, WebRoots, load_pem_certs, parse_resolve};
    let mut cfg = ProbeConfig {
        http_port: args.http_port,
        legacy_probe: !args.no_legacy,
        ..ProbeConfig::default()
    };
    for spec in &args.anchors {
        let (name, file) = spec
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("bad --anchors `{spec}`: expected NAME=file.pem"))?;
        cfg.anchors.push(AnchorSet {
            name: name.to_string(),
            certs: load_pem_certs(std::path::Path::new(file))?,
        });
    }
    for spec in &args.resolve {
        let (host, port, addr) = parse_resolve(spec)?;
        cfg.pin(&host, port, addr);
    }
    if let Some(path) = &args.web_roots {
        cfg.web_roots = WebRoots::Custom(load_pem_certs(path)?);
    }
    // The page named is a way into its host, as a configured portal's path is for `run`.
    cfg.add_entry(&args.url);
    Ok(cfg)
}

async fn profile_cmd(
    config: &std::path::Path,
    cmd: crate::profile::cmd::ProfileCmd,
) -> anyhow::Result<ExitCode> {
    let out = crate::profile::cmd::run(cmd, config, color_stderr()).await?;
    if crate::logging::json() {
        // JSON lines only: problems as events on stderr; the result as its JSON form on one
        // line (`--json`), else its text in one `profile_output` event.
        let level = if out.exit_code().code() >= 2 {
            "ERROR"
        } else {
            "WARN"
        };
        for line in out.stderr.lines().filter(|l| !l.trim().is_empty()) {
            let fields = serde_json::Value::Object(Default::default());
            eprintln!(
                "{}",
                crate::logging::json_line(level, line.trim_end(), fields)
            );
        }
        let text = out.stdout.trim();
        if !text.is_empty() {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(doc) if doc.is_object() => crate::outln!("{}", serde_json::to_string(&doc)?)?,
                _ => crate::logging::result(
                    "",
                    "profile_output",
                    serde_json::json!({"text": out.stdout}),
                )?,
            }
        }
        return Ok(out.exit_code());
    }
    eprint!("{}", out.stderr);
    crate::logging::out(&out.stdout)?;
    Ok(out.exit_code())
}

fn report(path: &std::path::Path, args: ReportArgs) -> anyhow::Result<ExitCode> {
    use crate::report::{Format, Lang};
    let loaded = match crate::config::Config::load(path) {
        Ok(l) => l,
        Err(e) => {
            crate::logging::diagnostics(&e.0);
            return Ok(ExitCode::ConfigError);
        }
    };
    let formats = if args.format.is_empty() {
        crate::report::configured_formats(&loaded)
    } else {
        args.format.iter().map(|f| Format::parse(f)).collect()
    };
    let formats: Vec<Format> = match formats {
        Ok(f) => f,
        Err(e) => {
            // An unknown format is a usage error: nothing was rendered.
            crate::logging::error(&e.to_string());
            return Ok(ExitCode::USAGE);
        }
    };
    let lang = match args.lang {
        ReportLang::Vi => Lang::Vi,
        ReportLang::En => Lang::En,
    };
    match crate::report::regenerate(&loaded, args.run, lang, &formats, args.out.as_deref()) {
        Ok(files) => {
            let text: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
            let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            crate::logging::result(
                &text,
                "report_written",
                serde_json::json!({"reports": paths}),
            )?;
            Ok(ExitCode::Ok)
        }
        // No such run (or no history at all): a usage error, not a failed run.
        Err(
            e @ (crate::report::RegenError::NoDatabase(_)
            | crate::report::RegenError::Store(crate::store::StoreError::NoSuchRun(_))),
        ) => {
            crate::logging::error(&format!("{e} (see `dvc-audit history`)"));
            Ok(ExitCode::USAGE)
        }
        Err(e) => Err(e.into()),
    }
}

async fn outbox(path: &std::path::Path, cmd: OutboxCmd) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::Config::load(path) {
        Ok(l) => l,
        Err(e) => {
            crate::logging::diagnostics(&e.0);
            return Ok(ExitCode::ConfigError);
        }
    };
    let (settings, _, dir) = crate::notify::settings_from_config(&loaded)?;
    let outbox = crate::notify::Outbox::open(&dir)?;
    match cmd {
        OutboxCmd::List { json } => {
            let pending = outbox.pending()?;
            let hooks = crate::notify::webhook::pending(&outbox)?;
            let sent = outbox.sent()?.len() + crate::notify::webhook::sent(&outbox)?.len();
            if json || crate::logging::json() {
                let mut items: Vec<serde_json::Value> = pending
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "kind": "email",
                            "id": p.id,
                            "to": p.envelope.to,
                            "subject": p.envelope.subject,
                        })
                    })
                    .collect();
                items.extend(hooks.iter().map(|h| {
                    serde_json::json!({
                        "kind": "webhook",
                        "id": h.id,
                        "url": h.url,
                        "attempts": h.attempts,
                        "last_error": h.last_error,
                    })
                }));
                let doc = serde_json::json!({
                    "pending": items,
                    "pending_count": items.len(),
                    "sent_count": sent,
                    "dir": dir.display().to_string(),
                });
                let text = if crate::logging::json() {
                    serde_json::to_string(&doc)?
                } else {
                    serde_json::to_string_pretty(&doc)?
                };
                crate::outln!("{text}")?;
                return Ok(ExitCode::Ok);
            }
            let mut text = String::new();
            for p in &pending {
                text.push_str(&format!(
                    "{}\t{}\t{}\n",
                    p.id,
                    p.envelope.to.join(","),
                    p.envelope.subject
                ));
            }
            for h in &hooks {
                let last = h
                    .last_error
                    .as_deref()
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "{}\twebhook {}\t{} attempts{last}\n",
                    h.id, h.url, h.attempts
                ));
            }
            text.push_str(&format!(
                "{} pending, {} sent ({})\n",
                pending.len() + hooks.len(),
                sent,
                dir.display()
            ));
            crate::logging::out(&text)?;
            Ok(ExitCode::Ok)
        }
        OutboxCmd::Flush => {
            let mut r = crate::notify::flush(&outbox, &settings.smtp).await?;
            // Then the webhook bodies (after the email flush released the outbox lock).
            let hook = crate::notify::webhook::settings_from_config(&loaded)?;
            let h = crate::notify::webhook::flush(&outbox, hook.as_ref()).await?;
            r.sent.extend(h.sent);
            r.failed.extend(h.failed);
            for (id, e) in &r.failed {
                if crate::logging::json() {
                    tracing::warn!(message_id = %id, error = %e, "not sent");
                } else {
                    eprintln!("not sent: {id}: {e}");
                }
            }
            crate::logging::result(
                &format!("{} sent, {} still pending\n", r.sent.len(), r.failed.len()),
                "outbox_flushed",
                serde_json::json!({"sent": r.sent.len(), "pending": r.failed.len()}),
            )?;
            Ok(if r.failed.is_empty() {
                ExitCode::Ok
            } else {
                ExitCode::Incomplete
            })
        }
    }
}

/// Colour diagnostics only on a terminal, never with `NO_COLOR` or `--log-format json`
/// (decided once by [`crate::logging::init`]).
pub fn color_stderr() -> bool {
    crate::logging::color()
}

/// The clap command with the long `--version` (commit, build date, rule and profile digests).
/// The digests load the bundled pack, so only build this when `--version` is asked for.
pub fn command_with_long_version() -> clap::Command {
    use clap::CommandFactory;
    // Built once per process, only for `--version`: leaking it is what `&'static` costs here.
    let text: &'static str = Box::leak(crate::version::long_version().into_boxed_str());
    Cli::command().long_version(text)
}

/// `completions SHELL`: the completion script on `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    // Into a buffer first: the generator panics on a write error (e.g. a closed pipe).
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "dvc-audit", &mut buf);
    let _ = out.write_all(&buf).and_then(|()| out.flush());
}

/// `man`: the top-level page on stdout, or every command's page into `out`.
fn man(out: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    match out {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            std::io::Write::write_all(&mut std::io::stdout(), &buf)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(cmd, dir)?;
            crate::logging::result(
                &format!("{}\n", dir.display()),
                "man_written",
                serde_json::json!({"dir": dir.display().to_string()}),
            )?;
        }
    }
    Ok(ExitCode::Ok)
}

/// `--drift-rate`: a share, `0..=1`.
fn drift_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a share between 0 and 1"))
    }
}

#[cfg(test)]
mod spot_exit_tests {
    use super::*;
    use crate::facts::{AssessReason, HostFacts, Severity};
    use crate::probe::spot::SpotReport;
    use crate::rules::{Outcome, Scope, Subject, Verdict};

    fn outcome(verdict: Verdict) -> Outcome {
        Outcome {
            rule_id: "TLS-001".into(),
            scope: Scope::Host,
            severity: Severity::High,
            subject: Subject::Host {
                name: "h".into(),
                port: 443,
            },
            verdict,
            message_vi: String::new(),
            message_en: String::new(),
            evidence: Vec::new(),
            waiver: None,
        }
    }

    fn report(outcomes: Vec<Outcome>, worst: Option<Severity>) -> SpotReport {
        SpotReport {
            schema_version: 1,
            target: "h".into(),
            redirected_to: String::new(),
            host: HostFacts::default(),
            outcomes,
            worst,
        }
    }

    #[test]
    fn a_host_no_rule_could_judge_is_not_exit_0() {
        let unknown = || {
            outcome(Verdict::CouldNotAssess {
                reason: AssessReason::NoData,
                detail: "x".into(),
            })
        };
        // Before: 0 ("no finding") although nothing was judged.
        let nothing = report(vec![unknown(), outcome(Verdict::NotApplicable)], None);
        assert_eq!(spot_exit(&nothing, Severity::High), ExitCode::Incomplete);
        // One rule judged (a pass): the unknowns are listed, the status is the verdicts'.
        let some = report(vec![unknown(), outcome(Verdict::Pass)], None);
        assert_eq!(spot_exit(&some, Severity::High), ExitCode::Ok);
        let failing = report(
            vec![unknown(), outcome(Verdict::Fail)],
            Some(Severity::High),
        );
        assert_eq!(spot_exit(&failing, Severity::High), ExitCode::Findings);
        assert_eq!(spot_exit(&failing, Severity::Critical), ExitCode::Ok);
        // Only not-applicable rules (nothing unknown): judged as nothing to find.
        let na = report(vec![outcome(Verdict::NotApplicable)], None);
        assert_eq!(spot_exit(&na, Severity::High), ExitCode::Ok);
    }
}
