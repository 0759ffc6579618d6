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
    /// At the end, write Prometheus/OpenMetrics text here (node-exporter textfile collector,
    /// e.g. `/var/lib/prometheus/node-exporter/dvc_audit.prom`), replaced atomically.
    #[arg(long, value_name = "PATH", env = "DVC_AUDIT_METRICS_FILE")]
    pub metrics_file: Option<PathBuf>,
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
    /// JSON instead of a table (runs, or the agency's trend points).
    #[arg(long)]
    pub json: bool,
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

/// A progress bar: on a terminal, unless the output is JSON lines or `--quiet`.
fn tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && !crate::logging::json() && !crate::logging::quiet()
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

fn load_setup(config: &Path, _color: bool) -> Result<Setup, ExitCode> {
    match Setup::load(config) {
        Ok(s) => {
            crate::logging::diagnostics(&s.warnings);
            Ok(s)
        }
        Err(e) => {
            crate::logging::diagnostics(&e.0);
            crate::logging::error("nothing was run: fix the configuration above");
            Err(ExitCode::ConfigError)
        }
    }
}

pub async fn run(config: &Path, args: RunArgs, color: bool) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let mode = if args.surprise {
        Mode::Surprise
    } else {
        Mode::Regular
    };
    let metrics_file = args.metrics_file.clone();
    // A sample of nothing is a usage error, not an empty "complete" run.
    for (flag, n) in [("--agencies", args.agencies), ("--services", args.services)] {
        if n == Some(0) {
            let msg = format!("{flag} 0 draws nothing: give at least 1 (or leave it out for all)");
            crate::logging::error(&msg);
            let finished = Finished::failed(mode, None, ExitCode::USAGE, &msg, started);
            finish(&finished, None, metrics_file.as_deref(), None).await;
            return Ok(ExitCode::USAGE);
        }
    }
    let setup = match load_setup(config, color) {
        Ok(s) => s,
        Err(code) => {
            let finished = Finished::failed(mode, None, code, "configuration error", started);
            finish(&finished, None, metrics_file.as_deref(), None).await;
            return Ok(code);
        }
    };
    let db = setup.loaded.path(&setup.loaded.config.storage.sqlite);
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
            if !crate::logging::json() {
                // The run is done: a closed stdout changes nothing about its outcome.
                let _ = crate::logging::out(&render_summary(&summary));
            }
            let finished = Finished::of(&summary, started);
            finish(
                &finished,
                Some(&db),
                metrics_file.as_deref(),
                Some(&setup.loaded),
            )
            .await;
            Ok(summary.exit)
        }
        Err(e) => {
            crate::logging::error(&e.to_string());
            let run_id = match &e {
                pipeline::RunError::Interrupted { run, .. } => Some(*run),
                _ => None,
            };
            let finished = Finished::failed(mode, run_id, e.exit_code(), &e.to_string(), started);
            finish(
                &finished,
                Some(&db),
                metrics_file.as_deref(),
                Some(&setup.loaded),
            )
            .await;
            Ok(e.exit_code())
        }
    }
}

/// How a `run` command ended, for the `run_finished` line and the metrics file.
#[derive(Debug, Clone)]
pub struct Finished {
    pub run_id: Option<i64>,
    pub mode: Mode,
    pub exit: ExitCode,
    /// The summary's own JSON fields (counts, reports, ...), or the error.
    pub fields: serde_json::Value,
    pub total_secs: f64,
}

impl Finished {
    /// A run that reached its summary: every number is the terminal summary's.
    pub fn of(s: &RunSummary, started: std::time::Instant) -> Finished {
        let stages: serde_json::Map<String, serde_json::Value> = s
            .stage_secs
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::json!(round_ms(*v))))
            .collect();
        let total_secs = started.elapsed().as_secs_f64();
        let fields = serde_json::json!({
            "run_id": s.run_id,
            "mode": s.mode.as_str(),
            "seed": s.seed,
            "status": if s.complete { "complete" } else { "incomplete" },
            "exit_code": s.exit.code(),
            "counts": {
                "agencies": s.agencies.len(),
                "services": s.totals.services,
                "services_read": s.totals.services_read,
                "agencies_incomplete": s.totals.agencies_incomplete,
                "hosts": s.hosts,
                "pages": s.pages_fetched,
                "bytes_wire": s.bytes_wire,
                "findings": s.findings,
                "waived": s.waived,
                "could_not_assess": s.could_not_assess,
                // The report's totals (waived failures apart, counted in `waived`).
                "new": s.totals.new,
                "persisting": s.totals.persisting,
                "regressed": s.totals.regressed,
                "resolved": s.totals.resolved,
                "unverified": s.totals.unverified,
                "withdrawn": s.totals.withdrawn,
                "mail_sent": s.mail_sent,
                "mail_pending": s.mail_pending,
            },
            "worst": s.worst.map(|w| w.as_str()),
            // Per agency: what the run read (the denominators of every share).
            "coverage": s.coverage,
            "durations": {
                "total_secs": round_ms(total_secs),
                "stages": stages,
            },
            "reports": s.reports.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "notes": s.notes.iter().take(20).collect::<Vec<_>>(),
        });
        Finished {
            run_id: Some(s.run_id),
            mode: s.mode,
            exit: s.exit,
            fields,
            total_secs,
        }
    }

    /// A run that stopped before its summary (usage, configuration, lock, interruption).
    pub fn failed(
        mode: Mode,
        run_id: Option<i64>,
        exit: ExitCode,
        error: &str,
        started: std::time::Instant,
    ) -> Finished {
        let total_secs = started.elapsed().as_secs_f64();
        Finished {
            run_id,
            mode,
            exit,
            fields: serde_json::json!({
                "run_id": run_id,
                "mode": mode.as_str(),
                "status": if run_id.is_some() { "incomplete" } else { "not_started" },
                "exit_code": exit.code(),
                "error": error,
                "durations": { "total_secs": round_ms(total_secs), "stages": {} },
                "reports": [],
            }),
            total_secs,
        }
    }
}

fn round_ms(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

/// Coverage of a run from the history's aggregates (the report's own queries): agencies in
/// scope, agencies with at least one service read, services read, could-not-assess lines.
fn coverage(db: &Path, run_id: i64) -> Option<serde_json::Value> {
    let store = Store::open_read_only(db).ok()?;
    let run = store.run(run_id).ok()?;
    let services = store.service_counts(run_id).ok()?;
    let unassessed = store.unassessed_counts(run_id).ok()?;
    let read = run
        .scope
        .agencies
        .iter()
        .filter(|a| services.get(*a).is_some_and(|c| c.read > 0))
        .count();
    Some(serde_json::json!({
        "agencies": run.scope.agencies.len(),
        "agencies_read": read,
        "services_read": services.values().map(|c| c.read).sum::<i64>(),
        "could_not_assess_lines": unassessed.values().sum::<i64>(),
    }))
}

/// The `run_finished` fields: the summary's own, with coverage read from the history when
/// the run stopped before its summary. The JSON line and the webhook body carry exactly these.
fn finished_fields(f: &Finished, db: Option<&Path>) -> serde_json::Value {
    let mut fields = f.fields.clone();
    if let (Some(db), Some(run), serde_json::Value::Object(m)) = (db, f.run_id, &mut fields)
        && !m.contains_key("coverage")
    {
        m.insert(
            "coverage".into(),
            coverage(db, run).unwrap_or(serde_json::Value::Null),
        );
    }
    fields
}

/// The end of a `run`: the webhook (spooled in the outbox, then sent), the `run_finished`
/// line (with `--log-format json`, the last line on stdout) and the metrics file.
async fn finish(
    f: &Finished,
    db: Option<&Path>,
    metrics_file: Option<&Path>,
    loaded: Option<&crate::config::Loaded>,
) {
    let webhook = loaded.filter(|l| l.config.notify.webhook.is_some());
    if crate::logging::json() || webhook.is_some() {
        let fields = finished_fields(f, db);
        if let Some(loaded) = webhook {
            deliver_webhook(loaded, f.run_id, &fields).await;
        }
        if crate::logging::json() {
            let level = if f.exit.code() >= 2 { "ERROR" } else { "INFO" };
            // A closed stdout must not stop the metrics file below.
            let _ = crate::outln!(
                "{}",
                crate::logging::json_line(level, "run_finished", fields)
            );
        }
    }
    if let Some(path) = metrics_file {
        let outcome = crate::metrics::RunOutcome {
            run_id: f.run_id,
            mode: f.mode.as_str().to_string(),
            exit: f.exit,
            duration_secs: f.total_secs,
        };
        if let Err(e) = crate::metrics::write_for_run(path, db, &outcome) {
            crate::logging::error(&format!("metrics: {e}"));
        }
    }
}

/// Spool the run summary for `[notify.webhook]` in the outbox, then deliver every pending body
/// (earlier failures included). A failed delivery stays queued and never changes the exit code.
async fn deliver_webhook(
    loaded: &crate::config::Loaded,
    run_id: Option<i64>,
    fields: &serde_json::Value,
) {
    use crate::notify::{Outbox, webhook};
    let settings = match webhook::settings_from_config(loaded) {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            crate::logging::error(&format!("webhook: {e}"));
            return;
        }
    };
    let outbox = match Outbox::open(&loaded.path(&loaded.config.email.outbox)) {
        Ok(o) => o,
        Err(e) => {
            crate::logging::error(&format!("webhook: {e}"));
            return;
        }
    };
    let body = webhook::payload(fields);
    let id = webhook::delivery_id(run_id, &body);
    if let Err(e) = webhook::enqueue(&outbox, &id, settings.url.as_str(), &body) {
        crate::logging::error(&format!("webhook: cannot spool {id}: {e}"));
        return;
    }
    match webhook::flush(&outbox, Some(&settings)).await {
        Ok(r) if r.failed.is_empty() => {}
        Ok(r) => tracing::warn!(
            pending = r.failed.len(),
            "webhook deliveries kept in the outbox (retried by the next run or `dvc-audit outbox flush`)"
        ),
        Err(crate::notify::NotifyError::Busy(path)) => {
            tracing::warn!(lock = %path.display(), "outbox busy; the webhook stays queued");
        }
        Err(e) => crate::logging::error(&format!("webhook: {e}")),
    }
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let dir = match std::path::absolute(&args.dir) {
        Ok(d) => d,
        Err(_) => args.dir.clone(),
    };
    crate::logging::result(
        &format!(
            "dvc-audit demo: serving the sandbox {} world (seed {}) on loopback and auditing it…\n",
            args.size.as_str(),
            args.seed,
        ),
        "demo_started",
        serde_json::json!({"size": args.size.as_str(), "seed": args.seed}),
    )?;
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
            let db = o.dir.join("dvc-audit.sqlite");
            let outbox = o.dir.join("outbox");
            let truth = o.dir.join("ground-truth.json");
            if crate::logging::json() {
                crate::logging::result(
                    "",
                    "demo_world",
                    serde_json::json!({
                        "agencies": o.world_agencies,
                        "services": o.world_services,
                        "https_port": o.https_port,
                        "http_port": o.http_port,
                        "ground_truth": truth.display().to_string(),
                        "dir": o.dir.display().to_string(),
                        "config": o.config.display().to_string(),
                        "database": db.display().to_string(),
                        "outbox": outbox.display().to_string(),
                        "mail_delivered": o.mail_delivered,
                        "drift_day": o.drift_day,
                        "drift_service_changes": o.drift_changes.0,
                        "drift_certificate_changes": o.drift_changes.1,
                        "maildir": o.maildir.join("new").display().to_string(),
                    }),
                )?;
                let finished = Finished::of(&o.summary, started);
                crate::outln!(
                    "{}",
                    crate::logging::json_line("INFO", "run_finished", finished.fields)
                )?;
            } else {
                let mut text = format!(
                    "world: {} agencies, {} services on 127.0.0.1:{} (HTTPS) and :{} (HTTP) (ground truth: {})\n",
                    o.world_agencies,
                    o.world_services,
                    o.https_port,
                    o.http_port,
                    truth.display()
                );
                if o.drift_day > 0 {
                    text.push_str(&format!(
                        "drift: day {} since the first demo run here ({} service changes, {} certificate changes)\n",
                        o.drift_day, o.drift_changes.0, o.drift_changes.1
                    ));
                }
                text.push_str(&render_summary(&o.summary));
                text.push_str(&format!(
                    "directory: {}\n  config:   {}\n  database: {}\n  outbox:   {}\n",
                    o.dir.display(),
                    o.config.display(),
                    db.display(),
                    outbox.display()
                ));
                text.push_str(&format!(
                    "{} emails delivered (maildir: {})\n",
                    o.mail_delivered,
                    o.maildir.join("new").display()
                ));
                text.push_str(&format!(
                    "next: dvc-audit history -c {0}; dvc-audit outbox list -c {0}\n",
                    o.config.display()
                ));
                crate::logging::out(&text)?;
            }
            // The demo's purpose is to show findings: they are expected, not a failure.
            Ok(ExitCode::Ok)
        }
        Err(e) => {
            crate::logging::error(&e.to_string());
            Ok(match e {
                demo::DemoError::Run(r) => r.exit_code(),
                demo::DemoError::Config(_) => ExitCode::ConfigError,
                demo::DemoError::Sandbox(_) | demo::DemoError::MailSink(_) => ExitCode::Incomplete,
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
        "findings: {} (violations: {}, info: {}; worst: {}), waived: {}, could not assess: {} (one per subject and reason)\n",
        s.findings,
        s.totals.violations,
        s.totals.info,
        s.worst.map(|w| w.as_str()).unwrap_or("none"),
        s.waived,
        s.could_not_assess
    ));
    out.push_str(&format!(
        "since the last run: {} new, {} persisting, {} regressed, {} resolved, {} not re-checked\n",
        t.new, t.persisting, t.regressed, t.resolved, t.unverified
    ));
    if t.withdrawn > 0 {
        out.push_str(&format!(
            "no longer listed (closed, not fixed): {}\n",
            t.withdrawn
        ));
    }
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

/// The configured agency `url` belongs to: the agencies whose portal is on the URL's host and
/// port; when several share it (one host serving many agencies under different paths), the
/// one whose portal path is the longest prefix of the URL's path. `Err` (a usage error) when
/// the URL is on a shared host but under none of their portals, or under two equal ones:
/// spotting the wrong agency would store and mail its audit as another's.
fn spot_target<'a>(
    agencies: &'a [crate::config::AgencyConfig],
    url: &str,
) -> Result<Option<&'a crate::config::AgencyConfig>, String> {
    let Some(target) = pipeline::host_port(url) else {
        return Ok(None);
    };
    let on_host: Vec<&crate::config::AgencyConfig> = agencies
        .iter()
        .filter(|a| pipeline::host_port(&a.portal).as_ref() == Some(&target))
        .collect();
    if on_host.len() <= 1 {
        return Ok(on_host.first().copied());
    }
    let path = |u: &str| {
        url::Url::parse(u)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default()
    };
    let wanted = path(url);
    let under = |portal: &str| wanted == portal || wanted.starts_with(&format!("{portal}/"));
    let mut best: Vec<(&crate::config::AgencyConfig, usize)> = on_host
        .iter()
        .map(|a| (*a, path(&a.portal)))
        .filter(|(_, p)| under(p))
        .map(|(a, p)| (a, p.len()))
        .collect();
    best.sort_by_key(|(_, len)| std::cmp::Reverse(*len));
    let ids = || {
        on_host
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match best.as_slice() {
        [(a, _)] => Ok(Some(a)),
        [(a, l), (_, m), ..] if l > m => Ok(Some(a)),
        [] => Err(format!(
            "{url} is on a host several agencies share ({}) but under none of their portals: give the URL of one agency's portal",
            ids()
        )),
        _ => Err(format!(
            "{url} is under the portals of more than one agency ({}): their portal addresses must differ",
            ids()
        )),
    }
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
    if pipeline::host_port(url).is_none() {
        return Ok(None);
    }
    let setup = match load_setup(config, color) {
        Ok(s) => s,
        Err(code) => return Ok(Some(code)),
    };
    let agency = match spot_target(&setup.loaded.config.agencies, url) {
        Ok(Some(a)) => a,
        Ok(None) => return Ok(None),
        Err(msg) => {
            crate::logging::error(&msg);
            return Ok(Some(ExitCode::USAGE));
        }
    };
    let opts = RunOptions {
        mode: Mode::Spot,
        agencies: vec![agency.id.clone()],
        resolve: resolve.to_vec(),
        send_mail: mail,
        tty: tty(),
        ..RunOptions::default()
    };
    let started = std::time::Instant::now();
    match pipeline::run(&setup, opts, Some(stop_channel())).await {
        Ok(summary) => {
            let db = setup.loaded.path(&setup.loaded.config.storage.sqlite);
            let store = Store::open(&db)?;
            let failing: Vec<_> = store
                .findings(summary.run_id)?
                .into_iter()
                .filter(|f| f.outcome == "fail" && f.waiver.is_empty())
                .collect();
            if crate::logging::json() {
                for f in &failing {
                    crate::logging::result(
                        "",
                        "spot_finding",
                        serde_json::json!({
                            "severity": f.severity,
                            "rule_id": f.rule_id,
                            "subject": f.subject,
                            "text_vi": f.message_vi,
                        }),
                    )?;
                }
            } else {
                let mut text = render_summary(&summary);
                for f in &failing {
                    text.push_str(&format!(
                        "  [{}] {} {}: {}\n",
                        f.severity, f.rule_id, f.subject, f.message_vi
                    ));
                }
                crate::logging::out(&text)?;
            }
            // The same end as `run`: the webhook, then `run_finished` (JSON) last on stdout.
            let finished = Finished::of(&summary, started);
            finish(&finished, Some(&db), None, Some(&setup.loaded)).await;
            Ok(Some(summary.exit))
        }
        Err(e) => {
            crate::logging::error(&e.to_string());
            Ok(Some(e.exit_code()))
        }
    }
}

/// A `--json` document: pretty for a person, one line under `--log-format json` (where every
/// line on stdout must be a JSON object).
fn print_doc(doc: &serde_json::Value) -> anyhow::Result<()> {
    let text = if crate::logging::json() {
        serde_json::to_string(doc)?
    } else {
        serde_json::to_string_pretty(doc)?
    };
    crate::outln!("{text}")?;
    Ok(())
}

pub fn history(config: &Path, args: HistoryArgs, _color: bool) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::Config::load(config) {
        Ok(l) => l,
        Err(e) => {
            crate::logging::diagnostics(&e.0);
            return Ok(ExitCode::ConfigError);
        }
    };
    // Under `--log-format json` the listing is its JSON form, on one line.
    let as_json = args.json || crate::logging::json();
    let db = loaded.path(&loaded.config.storage.sqlite);
    let store = match Store::open_reader(&db) {
        Ok(s) => Some(s),
        // No history yet: listing shows nothing; verifying reports that nothing is verified.
        Err(crate::store::StoreError::Missing(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(HistoryCmd::Verify { head }) = &args.cmd {
        // Each verdict is a text line, or a JSON event (`history_break`, `history_verified`).
        let say = |text: String, event: &str, fields: serde_json::Value| {
            crate::logging::result(&format!("{text}\n"), event, fields)
        };
        let Some(store) = store else {
            say(
                format!(
                    "history holds no complete run ({}): nothing verified; if runs were recorded, they were deleted",
                    db.display()
                ),
                "history_break",
                serde_json::json!({"problem": "no history database", "database": db.display().to_string()}),
            )?;
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
            say(
                format!("BREAK at run {}: {}", b.run_id, b.problem),
                "history_break",
                serde_json::json!({"run_id": b.run_id, "problem": b.problem}),
            )?;
        }
        if complete == 0 {
            say(
                "history holds no complete run: nothing verified; if runs were recorded, they were deleted".into(),
                "history_break",
                serde_json::json!({"problem": "no complete run"}),
            )?;
            failed = true;
        }
        if let Some(head) = head {
            match store.run_with_digest(head)? {
                Some(id) => say(
                    format!("head {head} is run {id}: still stored"),
                    "history_head",
                    serde_json::json!({"head": head, "run_id": id}),
                )?,
                None => {
                    say(
                        format!(
                            "BREAK: no complete run has head digest {head}: the run it was printed for (and any after it) was removed, or its digest edited"
                        ),
                        "history_break",
                        serde_json::json!({"head": head, "problem": "no complete run has this head digest"}),
                    )?;
                    failed = true;
                }
            }
        }
        if failed {
            return Ok(ExitCode::Findings);
        }
        let head_now = store.head_digest()?;
        let head_text = head_now
            .as_ref()
            .map(|(id, d)| format!("; head: run {id} {d}"))
            .unwrap_or_default();
        say(
            format!("history verified: {complete} complete runs, digest chain intact{head_text}"),
            "history_verified",
            serde_json::json!({
                "complete_runs": complete,
                "head_run": head_now.as_ref().map(|(id, _)| *id),
                "head_digest": head_now.as_ref().map(|(_, d)| d.clone()),
            }),
        )?;
        return Ok(ExitCode::Ok);
    }
    let Some(store) = store else {
        if as_json && args.agency.is_none() {
            print_doc(&serde_json::json!({"runs": []}))?;
        } else {
            crate::logging::result(
                &format!("no runs recorded yet ({})\n", db.display()),
                "history_empty",
                serde_json::json!({"database": db.display().to_string()}),
            )?;
        }
        return Ok(ExitCode::Ok);
    };
    if let Some(agency) = &args.agency {
        let trend = store.trend(agency)?;
        if trend.is_empty() && !loaded.config.agencies.iter().any(|a| &a.id == agency) {
            crate::logging::error(&format!(
                "unknown agency id {agency:?}: not in {} and in no stored run",
                config.display()
            ));
            return Ok(ExitCode::USAGE);
        }
        if as_json {
            let points: Vec<serde_json::Value> = trend
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "run_id": p.run_id,
                        "mode": p.mode,
                        "started_at": p.started_at,
                        "fails": p.fails,
                        "could_not_assess": p.could_not_assess,
                        "services": p.services,
                        "full_services": p.full_services,
                        "full_with_vgca": p.full_with_vgca,
                        "level_published": p.level_published,
                        // Not measured (null) when nothing was read, never 100%.
                        "signature_share": (p.full_services > 0).then(|| p.signature_share()),
                        "level_share": (p.services > 0).then(|| p.level_share()),
                    })
                })
                .collect();
            print_doc(&serde_json::json!({"agency": agency, "trend": points}))?;
            return Ok(ExitCode::Ok);
        }
        let mut text = String::from(
            "run   mode      started (UTC)         fails  n/a  read/services  vgca (of full)       level (of read)\n",
        );
        // Every share with its denominator; a run that read nothing of the agency is "not
        // measured", never 0% or 100%.
        let share = |p: &crate::store::TrendPoint, num: i64, den: i64, v: Option<f64>| match v {
            // Rounded down: "100%" only when every service counts, "0%" only when none.
            Some(x) => format!(
                "{:>5} ({num}/{den})",
                crate::report::summary::share_pct(x, 0)
            ),
            None if !p.measured => "not measured".to_string(),
            None => format!("   - ({num}/{den})"),
        };
        for p in trend {
            text.push_str(&format!(
                "{:<5} {:<9} {:<21} {:>5} {:>4} {:>14} {:<20} {}\n",
                p.run_id,
                p.mode,
                p.started_at.chars().take(19).collect::<String>(),
                p.fails,
                p.could_not_assess,
                format!("{}/{}", p.services_read, p.services),
                share(&p, p.full_with_vgca, p.full_services, p.signature_share()),
                share(&p, p.level_published, p.services_read, p.level_share())
            ));
        }
        crate::logging::out(&text)?;
        return Ok(ExitCode::Ok);
    }
    let runs = store.runs(args.limit)?;
    if as_json {
        let rows: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "mode": r.mode,
                    "status": r.status,
                    "started_at": r.started_at,
                    "ended_at": r.ended_at,
                    "seed": r.seed.map(|s| s as u64),
                    "agencies": r.scope.agencies,
                    "ruleset_digest": r.ruleset_digest,
                    "config_digest": r.config_digest,
                    "digest": r.digest,
                    "note": r.note,
                })
            })
            .collect();
        print_doc(&serde_json::json!({"runs": rows}))?;
        return Ok(ExitCode::Ok);
    }
    let mut text = String::from(
        "run   mode      status      started (UTC)         seed                  note\n",
    );
    for r in runs {
        text.push_str(&format!(
            "{:<5} {:<9} {:<11} {:<21} {:<21} {}\n",
            r.id,
            r.mode,
            r.status,
            r.started_at.chars().take(19).collect::<String>(),
            r.seed.map(|s| (s as u64).to_string()).unwrap_or_default(),
            r.note
        ));
    }
    crate::logging::out(&text)?;
    Ok(ExitCode::Ok)
}

pub fn gc(config: &Path, vacuum: bool) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::Config::load(config) {
        Ok(l) => l,
        Err(e) => {
            crate::logging::diagnostics(&e.0);
            return Ok(ExitCode::ConfigError);
        }
    };
    let mut store = Store::open(&loaded.path(&loaded.config.storage.sqlite))?;
    let n = store.gc(loaded.config.storage.raw_retention_days)?;
    let days = loaded.config.storage.raw_retention_days;
    let keep = loaded.config.storage.keep_runs_days;
    let pruned = store.prune_runs(keep)?;
    let runs_line = if keep == 0 {
        "every run kept whole (storage.keep_runs_days = 0)\n".to_string()
    } else {
        format!(
            "pruned {} runs older than {keep} days: {} service rows, {} fetch records, {} assessed subjects, {} evidence rows of resolved findings, {} unreferenced states; {} older runs kept whole (digest before v3)\n",
            pruned.runs,
            pruned.service_rows,
            pruned.fetch_rows,
            pruned.assessed_rows,
            pruned.evidence_rows,
            pruned.unreferenced,
            pruned.runs_kept_whole
        )
    };
    // Old runs' report directories: `report --run N` renders them again from the history.
    let report_days = loaded.config.report.keep_days;
    let report_dir = loaded.path(&loaded.config.report.dir);
    let removable = store.runs_with_removable_reports(report_days)?;
    let reports = crate::report::retention::remove_run_reports(&report_dir, &removable);
    let reports_line = if report_days == 0 {
        "every run's reports kept (report.keep_days = 0)\n".to_string()
    } else {
        let mut line = format!(
            "removed the reports of runs older than {report_days} days: {} run directories, {} files, {} bytes\n",
            reports.dirs, reports.files, reports.bytes
        );
        for kept in &reports.kept {
            line.push_str(&format!("  kept {}: {}\n", kept.path.display(), kept.why));
        }
        for failed in &reports.failed {
            line.push_str(&format!("  {failed}\n"));
        }
        line
    };
    let (vacuum_line, sizes) = if vacuum {
        let (before, after) = store.vacuum()?;
        (
            format!("database rewritten: {before} → {after} bytes\n"),
            Some((before, after)),
        )
    } else {
        (String::new(), None)
    };
    crate::logging::result(
        &format!(
            "removed {n} raw bodies older than {days} days\n{runs_line}{reports_line}{vacuum_line}"
        ),
        "gc_finished",
        serde_json::json!({"removed": n, "retention_days": days, "keep_runs_days": keep, "pruned": pruned,
            "report_keep_days": report_days, "reports": reports,
            "vacuum": sizes.map(|(b, a)| serde_json::json!({"bytes_before": b, "bytes_after": a}))}),
    )?;
    if reports.failed.is_empty() {
        Ok(ExitCode::Ok)
    } else {
        // The rest was done (the history pruned, the other directories removed, the file
        // rewritten); the status says that something asked for was not.
        Ok(ExitCode::Incomplete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgencyConfig;

    fn agency(id: &str, portal: &str) -> AgencyConfig {
        let text = format!(
            "id = \"{id}\"\nname = \"{id}\"\nkind = \"city\"\nportal = \"{portal}\"\nplatform = \"table\"\n"
        );
        toml::from_str(&text).expect("agency")
    }

    fn pick(agencies: &[AgencyConfig], url: &str) -> Result<Option<String>, String> {
        spot_target(agencies, url).map(|a| a.map(|a| a.id.clone()))
    }

    #[test]
    fn a_spot_url_on_a_shared_host_picks_the_agency_whose_portal_it_is_under() {
        let shared = [
            agency("a", "https://many.example.gov.vn/p/agency-a/"),
            agency("b", "https://many.example.gov.vn/p/agency-b"),
            agency(
                "b-sub",
                "https://many.example.gov.vn/p/agency-b/so-tu-phap/",
            ),
            agency("solo", "https://solo.example.gov.vn/"),
        ];
        // Before: the first agency on the host and port, whatever the path (`a` for all).
        assert_eq!(
            pick(&shared, "https://many.example.gov.vn/p/agency-b/"),
            Ok(Some("b".into()))
        );
        assert_eq!(
            pick(
                &shared,
                "https://many.example.gov.vn/p/agency-b/thu-tuc?id=1"
            ),
            Ok(Some("b".into()))
        );
        // The longest portal path wins; a sibling path with the same prefix is not under it.
        assert_eq!(
            pick(
                &shared,
                "https://MANY.example.gov.vn/p/agency-b/so-tu-phap/x"
            ),
            Ok(Some("b-sub".into()))
        );
        assert_eq!(
            pick(&shared, "https://many.example.gov.vn/p/agency-a"),
            Ok(Some("a".into()))
        );
        let err = pick(&shared, "https://many.example.gov.vn/p/agency-bc/")
            .expect_err("under no portal of the shared host");
        assert!(err.contains("a, b, b-sub"), "{err}");
        // A host with one agency: any URL on it is that agency's.
        assert_eq!(
            pick(&shared, "https://solo.example.gov.vn/anything"),
            Ok(Some("solo".into()))
        );
        // Another port or host: not a configured portal.
        assert_eq!(
            pick(&shared, "https://many.example.gov.vn:8443/p/agency-a/"),
            Ok(None)
        );
        assert_eq!(pick(&shared, "https://other.example.gov.vn/"), Ok(None));
        // Two agencies with the same portal: refused, not a guess.
        let twins = [
            agency("x", "https://twin.example.gov.vn/dvc/"),
            agency("y", "https://twin.example.gov.vn/dvc"),
        ];
        assert!(pick(&twins, "https://twin.example.gov.vn/dvc/1").is_err());
    }
}
