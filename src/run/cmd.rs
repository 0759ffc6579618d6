//! The commands people run from cron and by hand: `run`, `demo`, `history`, `gc`.
//! Argument structs and the terminal output live here; the work is in `pipeline`.

use std::path::{Path, PathBuf};

use clap::Args;
use tokio::sync::watch;

use super::demo::{self, DemoOptions};
use super::pipeline::{self, RunOptions, RunSummary};
use super::setup::Setup;
use crate::exit::ExitCode;
use crate::facts::Severity;
use crate::report::Mode;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only these agencies (repeatable; default: every configured agency).
    #[arg(long = "agency", value_name = "ID")]
    pub agency: Vec<String>,
    /// A surprise inspection: a seeded sample, mailed to inspectors only.
    #[arg(long)]
    pub surprise: bool,
    /// Surprise: number of agencies to draw.
    #[arg(long, value_name = "N", requires = "surprise")]
    pub agencies: Option<usize>,
    /// Surprise: number of services to draw per agency.
    #[arg(long, value_name = "N", requires = "surprise")]
    pub services: Option<usize>,
    /// Surprise: the seed (default: drawn at random and recorded with the run).
    #[arg(long, value_name = "S", requires = "surprise")]
    pub seed: Option<u64>,
    /// Exit 1 when a finding at or above this severity exists (default: `audit.fail_on`).
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Pin `host:port:addr`, as curl's `--resolve` (repeatable).
    #[arg(long = "resolve", value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// Do not send email (reports are still written).
    #[arg(long)]
    pub no_mail: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the world's CA, config, database, reports and outbox go.
    #[arg(long, default_value = "dvc-audit-demo")]
    pub dir: PathBuf,
    /// World size: tiny, demo or nation.
    #[arg(long, default_value = "demo")]
    pub size: crate::sandbox::Size,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// HTTPS port of the world on 127.0.0.1 (0: any free port). A fixed port keeps host
    /// identities, and so the finding lifecycle, across repeated demos in one directory.
    #[arg(long, default_value_t = demo::DEMO_HTTPS_PORT)]
    pub https_port: u16,
    /// Plain-HTTP port of the world on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = demo::DEMO_HTTP_PORT)]
    pub http_port: u16,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub cmd: Option<HistoryCmd>,
    /// Show one agency's trend run by run.
    #[arg(long, value_name = "ID")]
    pub agency: Option<String>,
    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, clap::Subcommand)]
pub enum HistoryCmd {
    /// Check the tamper-evident digest chain; name every break (exit 1 if any, or when no
    /// complete run is stored).
    Verify {
        /// A head digest printed in a report or email: the run it names must still be stored,
        /// so deleting the newest runs is detected.
        #[arg(long, value_name = "HEX")]
        head: Option<String>,
    },
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s)
        .ok_or_else(|| format!("unknown severity {s:?} (critical, high, medium, low, info)"))
}

fn tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// SIGINT and SIGTERM flip the returned channel; the run finishes its step and stops.
fn stop_channel() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            match term {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        let _ = tx.send(true);
    });
    rx
}

fn load_setup(config: &Path, color: bool) -> Result<Setup, ExitCode> {
    match Setup::load(config) {
        Ok(s) => {
            if !s.warnings.is_empty() {
                eprint!("{}", s.warnings.render(color));
            }
            Ok(s)
        }
        Err(e) => {
            eprint!("{}", e.0.render(color));
            eprintln!("nothing was run: fix the configuration above");
            Err(ExitCode::ConfigError)
        }
    }
}

pub async fn run(config: &Path, args: RunArgs, color: bool) -> anyhow::Result<ExitCode> {
    let setup = match load_setup(config, color) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let opts = RunOptions {
        mode: if args.surprise {
            Mode::Surprise
        } else {
            Mode::Regular
        },
        agencies: args.agency,
        sample_agencies: args.agencies,
        sample_services: args.services,
        seed: args.seed,
        resolve: args.resolve,
        send_mail: !args.no_mail,
        fail_on: args.fail_on,
        tty: tty(),
    };
    match pipeline::run(&setup, opts, Some(stop_channel())).await {
        Ok(summary) => {
            print!("{}", render_summary(&summary));
            Ok(summary.exit)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = match std::path::absolute(&args.dir) {
        Ok(d) => d,
        Err(_) => args.dir.clone(),
    };
    println!(
        "dvc-audit demo: serving the sandbox {} world (seed {}) on loopback and auditing it…",
        args.size.as_str(),
        args.seed,
    );
    let outcome = demo::demo(DemoOptions {
        dir,
        size: args.size,
        seed: args.seed,
        https_port: args.https_port,
        http_port: args.http_port,
        tty: tty(),
    })
    .await;
    match outcome {
        Ok(o) => {
            println!(
                "world: {} agencies, {} services on 127.0.0.1:{} (HTTPS) and :{} (HTTP) (ground truth: {})",
                o.world_agencies,
                o.world_services,
                o.https_port,
                o.http_port,
                o.dir.join("ground-truth.json").display()
            );
            print!("{}", render_summary(&o.summary));
            println!("directory: {}", o.dir.display());
            println!("  config:   {}", o.config.display());
            println!("  database: {}", o.dir.join("dvc-audit.sqlite").display());
            println!("  outbox:   {}", o.dir.join("outbox").display());
            println!(
                "next: dvc-audit history -c {0}; dvc-audit outbox list -c {0}",
                o.config.display()
            );
            // The demo's purpose is to show findings: they are expected, not a failure.
            Ok(ExitCode::Ok)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(match e {
                demo::DemoError::Run(r) => r.exit_code(),
                demo::DemoError::Config(_) => ExitCode::ConfigError,
                demo::DemoError::Sandbox(_) => ExitCode::Incomplete,
            })
        }
    }
}

/// The end-of-run summary printed on the terminal.
pub fn render_summary(s: &RunSummary) -> String {
    let mut out = String::new();
    let seed = s.seed.map(|x| format!(", seed {x}")).unwrap_or_default();
    let t = &s.totals;
    out.push_str(&format!(
        "run {} ({}{seed}): {} agencies, {} services read of {} ({} hosts, {} pages, {} bytes on the wire)\n",
        s.run_id,
        s.mode.as_str(),
        s.agencies.len(),
        t.services_read,
        t.services,
        s.hosts,
        s.pages_fetched,
        s.bytes_wire
    ));
    let incomplete: Vec<String> = s
        .coverage
        .iter()
        .filter(|(_, c)| !c.complete())
        .map(|(id, c)| {
            format!(
                "{id} ({})",
                crate::report::coverage_line(crate::report::Lang::En, c)
            )
        })
        .collect();
    if !incomplete.is_empty() {
        out.push_str(&format!(
            "coverage incomplete for {} of {} agencies: {}\n",
            incomplete.len(),
            s.agencies.len(),
            incomplete.join("; ")
        ));
    }
    out.push_str(&format!(
        "findings: {} (worst: {}), waived: {}, could not assess: {} (one per subject and reason)\n",
        s.findings,
        s.worst.map(|w| w.as_str()).unwrap_or("none"),
        s.waived,
        s.could_not_assess
    ));
    out.push_str(&format!(
        "since the last run: {} new, {} persisting, {} regressed, {} resolved, {} not re-checked\n",
        s.diff.new.len(),
        s.diff.persisting.len(),
        s.diff.regressed.len(),
        s.diff.resolved.len(),
        s.diff.unverified.len()
    ));
    if s.mail_sent + s.mail_pending > 0 {
        out.push_str(&format!(
            "email: {} sent, {} waiting in the outbox\n",
            s.mail_sent, s.mail_pending
        ));
    }
    for r in &s.reports {
        out.push_str(&format!("report: {}\n", r.display()));
    }
    for n in s.notes.iter().take(20) {
        out.push_str(&format!("note: {n}\n"));
    }
    if s.notes.len() > 20 {
        out.push_str(&format!("note: … {} more\n", s.notes.len() - 20));
    }
    out
}

/// `spot URL` for a configured agency's portal: a spot run of that agency (crawl, probe,
/// rules, stored like any run, mailed to inspectors only with `--mail`). `None` when the URL
/// is no configured portal (the caller then probes the host alone).
pub async fn spot_agency(
    config: &Path,
    url: &str,
    resolve: &[String],
    mail: bool,
    color: bool,
) -> anyhow::Result<Option<ExitCode>> {
    let Some(target) = pipeline::host_port(url) else {
        return Ok(None);
    };
    let setup = match load_setup(config, color) {
        Ok(s) => s,
        Err(code) => return Ok(Some(code)),
    };
    let Some(agency) = setup
        .loaded
        .config
        .agencies
        .iter()
        .find(|a| pipeline::host_port(&a.portal).as_ref() == Some(&target))
    else {
        return Ok(None);
    };
    let opts = RunOptions {
        mode: Mode::Spot,
        agencies: vec![agency.id.clone()],
        resolve: resolve.to_vec(),
        send_mail: mail,
        tty: tty(),
        ..RunOptions::default()
    };
    match pipeline::run(&setup, opts, Some(stop_channel())).await {
        Ok(summary) => {
            print!("{}", render_summary(&summary));
            let db = setup.loaded.path(&setup.loaded.config.storage.sqlite);
            let store = Store::open(&db)?;
            for f in store.findings(summary.run_id)? {
                if f.outcome == "fail" && f.waiver.is_empty() {
                    println!(
                        "  [{}] {} {}: {}",
                        f.severity, f.rule_id, f.subject, f.message_vi
                    );
                }
            }
            Ok(Some(summary.exit))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(Some(e.exit_code()))
        }
    }
}

pub fn history(config: &Path, args: HistoryArgs, color: bool) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::Config::load(config) {
        Ok(l) => l,
        Err(e) => {
            eprint!("{}", e.0.render(color));
            return Ok(ExitCode::ConfigError);
        }
    };
    let db = loaded.path(&loaded.config.storage.sqlite);
    let store = match Store::open_reader(&db) {
        Ok(s) => Some(s),
        // No history yet: listing shows nothing; verifying reports that nothing is verified.
        Err(crate::store::StoreError::Missing(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(HistoryCmd::Verify { head }) = &args.cmd {
        let Some(store) = store else {
            println!(
                "history holds no complete run ({}): nothing verified; if runs were recorded, they were deleted",
                db.display()
            );
            return Ok(ExitCode::Findings);
        };
        let breaks = store.verify_chain()?;
        let complete = store
            .runs(usize::MAX >> 1)?
            .iter()
            .filter(|r| r.status == "complete")
            .count();
        let mut failed = !breaks.is_empty();
        for b in &breaks {
            println!("BREAK at run {}: {}", b.run_id, b.problem);
        }
        if complete == 0 {
            println!(
                "history holds no complete run: nothing verified; if runs were recorded, they were deleted"
            );
            failed = true;
        }
        if let Some(head) = head {
            match store.run_with_digest(head)? {
                Some(id) => println!("head {head} is run {id}: still stored"),
                None => {
                    println!(
                        "BREAK: no complete run has head digest {head}: the run it was printed for (and any after it) was removed, or its digest edited"
                    );
                    failed = true;
                }
            }
        }
        if failed {
            return Ok(ExitCode::Findings);
        }
        let head_now = store
            .head_digest()?
            .map(|(id, d)| format!("; head: run {id} {d}"))
            .unwrap_or_default();
        println!("history verified: {complete} complete runs, digest chain intact{head_now}");
        return Ok(ExitCode::Ok);
    }
    let Some(store) = store else {
        println!("no runs recorded yet ({})", db.display());
        return Ok(ExitCode::Ok);
    };
    if let Some(agency) = &args.agency {
        let trend = store.trend(agency)?;
        println!(
            "run   mode      started (UTC)         fails  n/a  read/services  vgca (of full)       level (of read)"
        );
        // Every share with its denominator; a run that read nothing of the agency is "not
        // measured", never 0% or 100%.
        let share = |p: &crate::store::TrendPoint, num: i64, den: i64, v: Option<f64>| match v {
            Some(x) => format!("{:>4.0}% ({num}/{den})", x * 100.0),
            None if !p.measured => "not measured".to_string(),
            None => format!("   - ({num}/{den})"),
        };
        for p in trend {
            println!(
                "{:<5} {:<9} {:<21} {:>5} {:>4} {:>14} {:<20} {}",
                p.run_id,
                p.mode,
                p.started_at.chars().take(19).collect::<String>(),
                p.fails,
                p.could_not_assess,
                format!("{}/{}", p.services_read, p.services),
                share(&p, p.full_with_vgca, p.full_services, p.signature_share()),
                share(&p, p.level_published, p.services_read, p.level_share())
            );
        }
        return Ok(ExitCode::Ok);
    }
    println!("run   mode      status      started (UTC)         seed                  note");
    for r in store.runs(args.limit)? {
        println!(
            "{:<5} {:<9} {:<11} {:<21} {:<21} {}",
            r.id,
            r.mode,
            r.status,
            r.started_at.chars().take(19).collect::<String>(),
            r.seed.map(|s| (s as u64).to_string()).unwrap_or_default(),
            r.note
        );
    }
    Ok(ExitCode::Ok)
}

pub fn gc(config: &Path, color: bool) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::Config::load(config) {
        Ok(l) => l,
        Err(e) => {
            eprint!("{}", e.0.render(color));
            return Ok(ExitCode::ConfigError);
        }
    };
    let mut store = Store::open(&loaded.path(&loaded.config.storage.sqlite))?;
    let n = store.gc(loaded.config.storage.raw_retention_days)?;
    println!(
        "removed {n} raw bodies older than {} days",
        loaded.config.storage.raw_retention_days
    );
    Ok(ExitCode::Ok)
}
