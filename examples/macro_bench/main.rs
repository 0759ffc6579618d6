//! The macro benchmark (issue 10): a sandbox world served by `dvc-audit sandbox serve` in
//! another process, crawled in this process with the library, and a table of figures.
//!
//! Run: `cargo build --release && cargo run --release --example macro_bench -- --size nation`
//!
//! Phases, in order (peak RSS is read right after the first crawl, before anything else
//! allocates):
//! 1. crawl, politeness off (no rate limit, robots ignored, high concurrency), with the page
//!    cache written to a SQLite store and the facts to files, as a run would;
//! 2. re-run over the unchanged world with that cache (conditional GETs);
//! 3. crawl of the largest portals with a per-host rate of R requests/s;
//! 4. TLS probe of every host; 5. the default rules over the whole world's facts;
//! 6. the parse-and-extract ceiling on a sample of the same detail pages, from memory.
//! 7. the real binary: `dvc-audit run` over the same world as a child process, its wall time
//!    and peak RSS (what an operator's process holds, orchestration and store included).
//!
//! Equal CPU: by default the sandbox server is pinned to one core and this process (every
//! thread, before the runtime starts, so tokio and the extraction pool size themselves to one
//! core) to the other, with `taskset`; the ceiling is then measured on the scanner's core, so
//! crawl ÷ ceiling compares like with like. `--no-pin` gives the old figures (both processes
//! share every core; ceiling on every core). The CPU-efficiency row (parse+extract CPU per page
//! ÷ the crawl's CPU per page) does not depend on the server at all.

mod assess;
mod ceiling;
mod crawl;
mod realrun;
mod server;
mod sys;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use dvc_audit::config::{Config, CrawlSection};
use dvc_audit::crawl::walk::{NoCache, PageCache};
use dvc_audit::crawl::{Fetcher, fetcher_from_config};
use dvc_audit::profile::{Profile, ProfileSet};
use dvc_audit::store::{CachedPage, Store};

/// The allocator of the `dvc-audit` binary (src/main.rs), so the library is measured as it runs.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
struct Args {
    /// World size: tiny, demo or nation.
    #[arg(long, default_value = "nation")]
    size: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The `dvc-audit` binary that serves the world (default: next to this example).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Global request concurrency with politeness off.
    #[arg(long, default_value_t = 256)]
    concurrency: u32,
    /// Requests in flight per host with politeness off.
    #[arg(long, default_value_t = 32)]
    per_host: u32,
    /// Agencies walked at once.
    #[arg(long, default_value_t = 16)]
    in_flight: usize,
    /// Per-host rate (requests/s) of the politeness run; 0 skips it.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// How many of the largest portals the politeness run crawls (all at once).
    #[arg(long, default_value_t = 6)]
    rate_agencies: usize,
    /// Detail pages per agency kept for the ceiling measurement.
    #[arg(long, default_value_t = 40)]
    sample: usize,
    /// Do not pin: the server and the scanner share every core (the figures before pinning).
    #[arg(long)]
    no_pin: bool,
    /// Only the first crawl, the ceiling and the real run (no re-run, politeness, TLS, rules).
    #[arg(long)]
    quick: bool,
    /// Skip the `dvc-audit run` stage.
    #[arg(long)]
    no_real_run: bool,
    /// `crawl.http_version` of every crawl and of the real run: auto, http1 or http2.
    #[arg(long, default_value = "auto", value_parser = http_version)]
    http_version: dvc_audit::config::HttpVersion,
    /// Seconds the `dvc-audit run` stage may take before it is killed (its figures are then
    /// lower bounds).
    #[arg(long, default_value_t = 600)]
    real_run_timeout: u64,
}

/// Which core the scanner and the server get, when pinned.
#[derive(Clone, Copy)]
struct Pinning {
    scanner: usize,
    server: usize,
}

fn crawl_section(base: &CrawlSection, args: &Args, rate: f64) -> CrawlSection {
    let mut c = base.clone();
    c.per_host_rate = rate;
    c.respect_robots = false;
    c.concurrency = args.concurrency;
    c.per_host_concurrency = args.per_host;
    c.http_version = args.http_version;
    c
}

fn http_version(s: &str) -> Result<dvc_audit::config::HttpVersion, String> {
    use dvc_audit::config::HttpVersion;
    [HttpVersion::Auto, HttpVersion::Http1, HttpVersion::Http2]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("{s:?}: expected auto, http1 or http2"))
}

fn fetcher(base: &CrawlSection, args: &Args, rate: f64) -> anyhow::Result<Arc<Fetcher>> {
    Ok(fetcher_from_config(&crawl_section(base, args, rate), &[])?)
}

/// A list request kept for the ceiling: platform, agency variables, request, profile.
type ListReq = (
    String,
    dvc_audit::extract::AgencyVars,
    dvc_audit::extract::PageRequest,
    Arc<Profile>,
);

/// What the first crawl hands to the writer thread.
type Persist = (
    String,
    Vec<dvc_audit::facts::ServiceFacts>,
    Vec<(String, CachedPage)>,
);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Pin before the runtime exists, so its workers and the extraction pool see one core.
    let pinning = if args.no_pin || sys::cpus() < 2 {
        None
    } else {
        let p = Pinning {
            scanner: 0,
            server: 1,
        };
        match sys::pin(std::process::id(), p.scanner) {
            Ok(()) => Some(p),
            Err(e) => {
                eprintln!("not pinned ({e}): the server and the scanner share every core");
                None
            }
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(args, pinning))
}

async fn bench(args: Args, pinning: Option<Pinning>) -> anyhow::Result<()> {
    dvc_audit::install_crypto_provider();
    let tmp = tempfile::tempdir()?;
    let bin = args.bin.clone().unwrap_or_else(server::default_binary);
    eprintln!("starting the {} world ({})", args.size, bin.display());
    let srv = server::start(
        &bin,
        &args.size,
        args.seed,
        &tmp.path().join("world"),
        pinning.map(|p| p.server),
    )?;
    let server_pid = srv.pid().to_string();
    let loaded = match Config::load(&srv.config) {
        Ok(l) => l,
        Err(e) => anyhow::bail!("{}", e.0.render(false)),
    };
    let profiles = match ProfileSet::bundled() {
        Ok(p) => p,
        Err(e) => anyhow::bail!("{}", e.0.render(false)),
    };
    let jobs = crawl::jobs(&loaded.config, &profiles)?;
    let base = loaded.config.crawl.clone();
    let rss_before = sys::rss_mib();

    // 1. Politeness off; the cache and facts go to a writer thread, as a run's store would.
    let facts_dir = tmp.path().join("facts");
    std::fs::create_dir_all(&facts_dir)?;
    let store = Arc::new(Mutex::new(Store::open(&tmp.path().join("cache.sqlite"))?));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Persist>(4);
    // The writer's thread id, so its CPU (the bench's stand-in for a run's store, which the
    // ceiling does not do) can be read apart from the crawl's.
    let (tid_tx, tid_rx) = std::sync::mpsc::channel::<Option<String>>();
    let writer = {
        let store = store.clone();
        let dir = facts_dir.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            let _ = tid_tx.send(sys::thread_id());
            for (agency, services, cache) in rx {
                std::fs::write(
                    dir.join(format!("{agency}.json")),
                    serde_json::to_vec(&services)?,
                )?;
                if let Ok(mut s) = store.lock() {
                    s.put_cached_pages(&cache)?;
                }
            }
            Ok(())
        })
    };
    let writer_tid = tid_rx.recv().ok().flatten();
    let writer_cpu = || writer_tid.as_deref().map_or(Duration::ZERO, sys::task_cpu);
    let mut samples: Vec<(String, String, String, Arc<Profile>)> = Vec::new();
    let mut list_samples: Vec<ListReq> = Vec::new();
    // CPU of this (the sink's) thread serialising the cache entries.
    let mut cache_cpu = Duration::ZERO;
    eprintln!("crawl 1: politeness off");
    let f1 = fetcher(&base, &args, 0.0)?;
    let no_cache: Arc<dyn PageCache> = Arc::new(NoCache);
    let server_cpu0 = sys::cpu_time_of(&server_pid);
    let writer_cpu0 = writer_cpu();
    let first = crawl::crawl(&f1, &jobs, &no_cache, args.in_flight, |job, c| {
        if let Some(first_list) = job
            .profile
            .start_requests(&job.vars)
            .ok()
            .and_then(|r| r.into_iter().next())
        {
            list_samples.push((
                job.platform.clone(),
                job.vars.clone(),
                first_list,
                job.profile.clone(),
            ));
        }
        samples.extend(
            c.services
                .iter()
                .filter(|s| s.fetch.error.is_none() && s.fetch.status == 200)
                .take(args.sample)
                .map(|s| {
                    (
                        job.platform.clone(),
                        job.agency_id.clone(),
                        s.fetch.url.clone(),
                        job.profile.clone(),
                    )
                }),
        );
        if c.services.is_empty() {
            eprintln!(
                "{} ({}): no service read: {:?} {:?}",
                c.agency_id, job.platform, c.could_not_assess, c.notes
            );
        }
        // The cache entries are serialised here, on the crawl's core, as a run's settle step
        // does on its own thread: their CPU counts in the crawl's CPU per page.
        let t0 = sys::thread_cpu();
        let cache = c.cache_entries();
        cache_cpu += sys::thread_cpu().saturating_sub(t0);
        let _ = tx.send((c.agency_id, c.services, cache));
    })
    .await;
    let writer_cpu = writer_cpu().saturating_sub(writer_cpu0);
    let server_cpu = sys::cpu_time_of(&server_pid).saturating_sub(server_cpu0);
    drop(tx);
    let drain = Instant::now();
    match writer.join() {
        Ok(r) => r.context("writing facts and cache")?,
        Err(_) => anyhow::bail!("the writer thread panicked"),
    }
    let drain = drain.elapsed();
    drop(f1);

    // 2. Re-run with the first run's cache.
    let second = if args.quick {
        None
    } else {
        eprintln!("crawl 2: re-run with the cache");
        let f2 = fetcher(&base, &args, 0.0)?;
        let cache: Arc<dyn PageCache> = Arc::new(crawl::StoreCache(store.clone()));
        Some(crawl::crawl(&f2, &jobs, &cache, args.in_flight, |_, _| {}).await)
    };

    // 3. A per-host rate on the largest portals, all at once.
    let rated = if args.rate > 0.0 && !args.quick {
        let mut by_size: Vec<(&String, &u64)> = first.busiest_host.iter().collect();
        by_size.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let chosen: Vec<&String> = by_size
            .iter()
            .take(args.rate_agencies)
            .map(|(a, _)| *a)
            .collect();
        let subset: Vec<crawl::Job> = jobs
            .iter()
            .filter(|j| chosen.contains(&&j.agency_id))
            .cloned()
            .collect();
        eprintln!(
            "crawl 3: {} portals at {} requests/s per host",
            subset.len(),
            args.rate
        );
        let f3 = fetcher(&base, &args, args.rate)?;
        let s = crawl::crawl(&f3, &subset, &no_cache, subset.len(), |_, _| {}).await;
        let largest = s.busiest_host.values().copied().max().unwrap_or(0);
        Some((s, subset.len(), largest as f64 / args.rate))
    } else {
        None
    };

    // 4. TLS probe; 5. rules over the world.
    let (probe, rules) = if args.quick {
        (None, None)
    } else {
        eprintln!("probing every host");
        let probe_cfg = assess::probe_config(&loaded)?;
        let hosts = assess::hosts(&loaded);
        let (probe, host_facts) = assess::probe(&probe_cfg, &hosts).await;
        eprintln!("evaluating the rules");
        let rules = assess::evaluate(&loaded, &facts_dir, &host_facts)?;
        (Some(probe), Some(rules))
    };

    // 6. The ceiling.
    let mut by_platform: std::collections::BTreeMap<&str, usize> = Default::default();
    for (p, ..) in &samples {
        *by_platform.entry(p.as_str()).or_default() += 1;
    }
    eprintln!(
        "ceiling sample: {by_platform:?}; crawl 1 details: {:?}",
        first.details_by_platform
    );
    let f4 = fetcher(&base, &args, 0.0)?;
    let pages = ceiling::fetch(&f4, samples).await;
    let lists = ceiling::fetch_lists(&f4, list_samples).await;
    drop(f4);
    let ceiling = ceiling::measure(&pages, &lists);
    drop((pages, lists));

    // 7. The real binary over the same world.
    let real = if args.no_real_run {
        None
    } else {
        eprintln!("dvc-audit run over the world (child process)");
        match realrun::run(
            &bin,
            &srv.config,
            &tmp.path().join("real"),
            args.concurrency,
            args.per_host,
            args.http_version,
            pinning.map(|p| p.scanner),
            std::time::Duration::from_secs(args.real_run_timeout),
        ) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("real run failed: {e:#}");
                None
            }
        }
    };
    drop(srv);

    print_table(&Report {
        args: &args,
        first: &first,
        second: second.as_ref(),
        drain,
        rated: rated.as_ref(),
        probe: probe.as_ref(),
        rules: rules.as_ref(),
        ceiling: &ceiling,
        rss_before,
        agencies: jobs.len(),
        pinning,
        server_cpu,
        writer_cpu,
        cache_cpu,
        real: real.as_ref(),
    });
    Ok(())
}

struct Report<'a> {
    args: &'a Args,
    first: &'a crawl::CrawlStats,
    second: Option<&'a crawl::CrawlStats>,
    drain: std::time::Duration,
    rated: Option<&'a (crawl::CrawlStats, usize, f64)>,
    probe: Option<&'a assess::ProbeStats>,
    rules: Option<&'a assess::RulesStats>,
    ceiling: &'a ceiling::Ceiling,
    rss_before: f64,
    agencies: usize,
    pinning: Option<Pinning>,
    /// CPU the sandbox server used during the first crawl.
    server_cpu: std::time::Duration,
    /// CPU of the bench's writer thread during the first crawl (facts files, cache to SQLite).
    writer_cpu: std::time::Duration,
    /// CPU the first crawl's sink spent serialising page-cache entries.
    cache_cpu: std::time::Duration,
    real: Option<&'a realrun::RealRun>,
}

fn per_s(n: u64, d: std::time::Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn print_table(r: &Report<'_>) {
    let (a, f) = (r.args, r.first);
    let detail_rate = per_s(f.detail_pages, f.wall);
    let wall = f.wall.as_secs_f64().max(1e-9);
    let scanner_cores = sys::cpus();
    println!(
        "\n# dvc-audit macro benchmark: {} world, seed {}",
        a.size, a.seed
    );
    println!("machine: {}", sys::machine());
    println!(
        "settings: concurrency {}, per-host {}, {} agencies at once, crawl.http_version {}",
        a.concurrency,
        a.per_host,
        a.in_flight,
        a.http_version.as_str()
    );
    match r.pinning {
        Some(p) => println!(
            "pinned (taskset): scanner on CPU {}, sandbox server on CPU {}; ceiling on the scanner's CPU\n",
            p.scanner, p.server
        ),
        None => println!(
            "not pinned: the scanner and the sandbox server share {scanner_cores} CPUs; ceiling on every CPU\n"
        ),
    }
    println!("| measure | value | target |");
    println!("|---|---|---|");
    let row = |m: &str, v: String, t: &str| println!("| {m} | {v} | {t} |");
    row(
        "crawl, politeness off: agencies / requests / detail pages",
        format!(
            "{} / {} / {} ({} list pages, {} errors)",
            r.agencies, f.requests, f.detail_pages, f.list_pages, f.errors
        ),
        "",
    );
    row("wall time", format!("{wall:.1} s"), "");
    row("detail pages/s", format!("{detail_rate:.0}"), "≥ 3,000");
    row(
        "requests/s",
        format!("{:.0}", per_s(f.requests, f.wall)),
        "",
    );
    let crawl_cpu_page = f.cpu.as_secs_f64() / f.detail_pages.max(1) as f64;
    row(
        "scanner CPU per request / per detail page (user+sys, this process)",
        format!(
            "{:.3} ms / {:.3} ms",
            f.cpu.as_secs_f64() * 1000.0 / (f.requests.max(1) as f64),
            crawl_cpu_page * 1000.0
        ),
        "",
    );
    let per_page_ms = |d: Duration| d.as_secs_f64() * 1000.0 / f.detail_pages.max(1) as f64;
    row(
        "of which: the bench's writer thread (facts files, cache to SQLite: a run's store) / the sink serialising cache entries",
        format!(
            "{:.3} ms / {:.3} ms per detail page",
            per_page_ms(r.writer_cpu),
            per_page_ms(r.cache_cpu)
        ),
        "",
    );
    let crawl_only = f.cpu.saturating_sub(r.writer_cpu);
    row(
        "scanner CPU per detail page without the writer thread (fetch, parse, extract, walk, cache entries)",
        format!("{:.3} ms", per_page_ms(crawl_only)),
        "",
    );
    row(
        "CPU busy during the crawl: scanner / sandbox server",
        format!(
            "{:.0}% of {} CPU / {:.0}% of a CPU",
            100.0 * f.cpu.as_secs_f64() / wall / scanner_cores as f64,
            scanner_cores,
            100.0 * r.server_cpu.as_secs_f64() / wall
        ),
        "",
    );
    row(
        "context switches per detail page (scanner threads alive at the end)",
        format!(
            "≥ {:.2}",
            f.context_switches as f64 / f.detail_pages.max(1) as f64
        ),
        "",
    );
    row(
        "peak RSS after the crawl (VmHWM)",
        format!(
            "{:.0} MiB (before crawl {:.0} MiB)",
            f.peak_rss_mib, r.rss_before
        ),
        "≤ 200 MB",
    );
    row(
        "writer drain after the crawl (facts + cache to disk)",
        format!("{:.1} s", r.drain.as_secs_f64()),
        "",
    );
    if let Some((rs, n, ideal)) = r.rated {
        row(
            &format!("politeness {} req/s/host, {n} largest portals", a.rate),
            format!(
                "actual {:.1} s ÷ ideal {:.1} s = {:.3} (efficiency {:.1}%)",
                rs.wall.as_secs_f64(),
                ideal,
                rs.wall.as_secs_f64() / ideal.max(1e-9),
                100.0 * ideal / rs.wall.as_secs_f64().max(1e-9)
            ),
            "≥ 95%",
        );
    }
    if let Some(s) = r.second {
        row(
            "re-run with cache: bytes on the wire",
            format!(
                "{:.1} MB vs {:.1} MB = {:.2}% ({} × 304)",
                s.bytes_wire as f64 / 1e6,
                f.bytes_wire as f64 / 1e6,
                100.0 * s.bytes_wire as f64 / f.bytes_wire.max(1) as f64,
                s.not_modified
            ),
            "≤ 5%",
        );
        row(
            "re-run with cache: wall time",
            format!(
                "{:.1} s = {:.0}% of the first run",
                s.wall.as_secs_f64(),
                100.0 * s.wall.as_secs_f64() / wall
            ),
            "",
        );
    }
    if let Some(p) = r.probe {
        row(
            "TLS probe",
            format!(
                "{} hosts in {:.1} s = {:.1} hosts/s ({} errors)",
                p.hosts,
                p.wall.as_secs_f64(),
                per_s(p.hosts as u64, p.wall),
                p.errors
            ),
            "",
        );
    }
    if let Some(rules) = r.rules {
        row(
            "rules over the world",
            format!(
                "{} services, {} evaluations in {:.2} s = {:.0} evaluations/s ({} fail, {} could not assess)",
                rules.services,
                rules.evaluations,
                rules.elapsed.as_secs_f64(),
                per_s(rules.evaluations as u64, rules.elapsed),
                rules.failures,
                rules.could_not_assess
            ),
            "",
        );
    }
    let c = r.ceiling;
    for (p, v) in &c.list_cpu_by_platform {
        row(
            &format!(
                "ceiling, {p} list pages (1 thread; the crawl read {})",
                f.lists_by_platform.get(p).copied().unwrap_or(0)
            ),
            format!("{:.3} CPU-ms/page", v * 1000.0),
            "",
        );
    }
    for (p, v) in &c.by_platform {
        row(
            &format!("ceiling, {p} detail pages (1 thread)"),
            format!(
                "{v:.0} pages/s, {:.3} CPU-ms/page",
                c.cpu_by_platform.get(p).copied().unwrap_or(0.0) * 1000.0
            ),
            "",
        );
    }
    let mix = &f.details_by_platform;
    let one_core = c.one_core_for_mix(mix);
    row(
        "ceiling, world mix",
        format!(
            "{:.0} pages/s on 1 thread, {:.0} on {} threads; {one_core:.0} on 1 core for the crawl's mix",
            c.one_thread, c.all_threads, c.threads
        ),
        "",
    );
    // Equal CPU: pinned, the scanner had one core and the ceiling is that core's rate.
    // Unpinned, the old figure: the ceiling on every core, times the measured speed-up.
    let (ceiling, how) = match r.pinning {
        Some(_) => (
            one_core * scanner_cores as f64,
            "both on the scanner's 1 CPU",
        ),
        None => (
            c.for_mix(mix),
            "crawl shares the CPUs with the server; ceiling has them alone",
        ),
    };
    row(
        "crawl throughput / ceiling",
        format!(
            "{detail_rate:.0} ÷ {ceiling:.0} = {:.0}% ({how})",
            100.0 * detail_rate / ceiling.max(1e-9)
        ),
        "≥ 70%",
    );
    let ceiling_cpu_page = c.cpu_per_page_for_mix(mix);
    row(
        "CPU efficiency: parse+extract CPU/page ÷ crawl CPU/page",
        format!(
            "{:.3} ms ÷ {:.3} ms = {:.0}% (independent of the server)",
            ceiling_cpu_page * 1000.0,
            crawl_cpu_page * 1000.0,
            100.0 * ceiling_cpu_page / crawl_cpu_page.max(1e-12)
        ),
        "",
    );
    // Equal work: parse + extract of the detail pages and of the crawl's list pages, against
    // the crawl's CPU without the bench's writer thread (work the ceiling does not do).
    let equal_ceiling = c.cpu_per_page_with_lists(mix, &f.lists_by_platform);
    let equal_crawl = crawl_only.as_secs_f64() / f.detail_pages.max(1) as f64;
    row(
        "CPU efficiency, equal work: parse+extract of details and list pages ÷ crawl CPU without the writer",
        format!(
            "{:.3} ms ÷ {:.3} ms = {:.0}%",
            equal_ceiling * 1000.0,
            equal_crawl * 1000.0,
            100.0 * equal_ceiling / equal_crawl.max(1e-12)
        ),
        "≥ 70%",
    );
    if let Some(rr) = r.real {
        row(
            "real `dvc-audit run` (child process): wall time",
            format!(
                "{:.1} s, {:.1} CPU-s{} ({})",
                rr.wall.as_secs_f64(),
                rr.cpu.as_secs_f64(),
                rr.cpu_pinned
                    .map(|c| format!(" on CPU {c}"))
                    .unwrap_or_default(),
                rr.exit.map_or_else(
                    || format!("killed at --real-run-timeout {}", r.args.real_run_timeout),
                    |c| format!("exit {c}")
                )
            ),
            "",
        );
        row(
            "real `dvc-audit run`: peak RSS (VmHWM)",
            format!("{:.0} MiB", rr.peak_rss_mib),
            "≤ 200 MB",
        );
    }
}
