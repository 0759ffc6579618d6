//! The real binary, end to end: `dvc-audit run` over the sandbox world as a child process
//! (politeness off through a copy of the sandbox's `audit.toml`, its own SQLite store, report
//! and outbox directories), timed, with its peak RSS polled from `/proc/<pid>/status`.
//!
//! This measures what the library phases cannot: the run orchestration (`src/run`) holding or
//! streaming each agency's results, rule evaluation, the store and the reports, in the memory
//! of the process an operator actually starts.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::sys;

/// What one real run measured.
pub struct RealRun {
    pub wall: Duration,
    /// Peak RSS (VmHWM) last read before the process exited, MiB.
    pub peak_rss_mib: f64,
    /// User + system CPU last read before the process exited.
    pub cpu: Duration,
    /// Exit code; `None` when killed (at `--real-run-timeout`).
    pub exit: Option<i32>,
    pub cpu_pinned: Option<usize>,
}

/// The sandbox's config with politeness off and every output path under `out`, written next
/// to the original (so its relative CA paths still resolve).
fn bench_config(
    config: &Path,
    out: &Path,
    concurrency: u32,
    per_host: u32,
    http_version: dvc_audit::config::HttpVersion,
) -> anyhow::Result<std::path::PathBuf> {
    let text = std::fs::read_to_string(config).context("reading the sandbox config")?;
    let mut doc: toml::Table = toml::from_str(&text).context("parsing the sandbox config")?;
    let section = |doc: &mut toml::Table, name: &str| -> anyhow::Result<toml::Table> {
        match doc.remove(name) {
            Some(toml::Value::Table(t)) => Ok(t),
            None => Ok(toml::Table::new()),
            Some(_) => anyhow::bail!("[{name}] is not a table"),
        }
    };
    let path = |p: &Path| toml::Value::String(p.display().to_string());
    let mut crawl = section(&mut doc, "crawl")?;
    crawl.insert("per_host_rate".into(), toml::Value::Float(0.0));
    crawl.insert("respect_robots".into(), toml::Value::Boolean(false));
    crawl.insert(
        "concurrency".into(),
        toml::Value::Integer(i64::from(concurrency)),
    );
    crawl.insert(
        "per_host_concurrency".into(),
        toml::Value::Integer(i64::from(per_host)),
    );
    crawl.insert(
        "http_version".into(),
        toml::Value::String(http_version.as_str().into()),
    );
    doc.insert("crawl".into(), toml::Value::Table(crawl));
    let mut storage = section(&mut doc, "storage")?;
    storage.insert("sqlite".into(), path(&out.join("audit.sqlite")));
    doc.insert("storage".into(), toml::Value::Table(storage));
    let mut report = section(&mut doc, "report")?;
    report.insert("dir".into(), path(&out.join("reports")));
    doc.insert("report".into(), toml::Value::Table(report));
    let mut email = section(&mut doc, "email")?;
    email.insert("enabled".into(), toml::Value::Boolean(false));
    email.insert("outbox".into(), path(&out.join("outbox")));
    doc.insert("email".into(), toml::Value::Table(email));
    let dir = config.parent().unwrap_or(Path::new("."));
    let written = dir.join("audit-bench.toml");
    std::fs::write(&written, toml::to_string(&doc)?).context("writing the bench config")?;
    Ok(written)
}

/// Run `bin run --no-mail` over the world (on `cpu` only, when given); poll its VmHWM and CPU
/// every 20 ms until it exits.
#[allow(clippy::too_many_arguments)]
pub fn run(
    bin: &Path,
    config: &Path,
    out: &Path,
    concurrency: u32,
    per_host: u32,
    http_version: dvc_audit::config::HttpVersion,
    cpu: Option<usize>,
    max_run: Duration,
) -> anyhow::Result<RealRun> {
    std::fs::create_dir_all(out)?;
    let cfg = bench_config(config, out, concurrency, per_host, http_version)?;
    let log = std::fs::File::create(out.join("run.log"))?;
    let start = Instant::now();
    let mut child = crate::server::command_on(bin, cpu)
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--no-mail"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {} run", bin.display()))?;
    let pid = child.id().to_string();
    let (mut peak_kb, mut cpu_seen) = (0u64, Duration::ZERO);
    let status = loop {
        peak_kb = peak_kb.max(sys::status_kb_of(&pid, "VmHWM:"));
        cpu_seen = cpu_seen.max(sys::cpu_time_of(&pid));
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > max_run {
            // SIGKILL: the run stops gracefully on SIGTERM, which could take as long again.
            let _ = child.kill();
            let status = child.wait()?;
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(RealRun {
        wall: start.elapsed(),
        peak_rss_mib: peak_kb as f64 / 1024.0,
        cpu: cpu_seen,
        exit: status.code(),
        cpu_pinned: cpu,
    })
}
