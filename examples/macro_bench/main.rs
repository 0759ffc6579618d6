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

mod assess;
mod ceiling;
mod crawl;
mod server;
mod sys;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use dvc_audit::config::{Config, CrawlSection};
use dvc_audit::crawl::walk::{NoCache, PageCache};
use dvc_audit::crawl::{Fetcher, fetcher_from_config};
use dvc_audit::profile::{Profile, ProfileSet};
use dvc_audit::store::{CachedPage, Store};

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
}

fn crawl_section(base: &CrawlSection, args: &Args, rate: f64) -> CrawlSection {
    let mut c = base.clone();
    c.per_host_rate = rate;
    c.respect_robots = false;
    c.concurrency = args.concurrency;
    c.per_host_concurrency = args.per_host;
    c
}

fn fetcher(base: &CrawlSection, args: &Args, rate: f64) -> anyhow::Result<Arc<Fetcher>> {
    Ok(fetcher_from_config(&crawl_section(base, args, rate), &[])?)
}

/// What the first crawl hands to the writer thread.
type Persist = (
    String,
    Vec<dvc_audit::facts::ServiceFacts>,
    Vec<(String, CachedPage)>,
);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    dvc_audit::install_crypto_provider();
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let bin = args.bin.clone().unwrap_or_else(server::default_binary);
    eprintln!("starting the {} world ({})", args.size, bin.display());
    let srv = server::start(&bin, &args.size, args.seed, &tmp.path().join("world"))?;
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
    let writer = {
        let store = store.clone();
        let dir = facts_dir.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
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
    let mut samples: Vec<(String, String, String, Arc<Profile>)> = Vec::new();
    eprintln!("crawl 1: politeness off");
    let f1 = fetcher(&base, &args, 0.0)?;
    let no_cache: Arc<dyn PageCache> = Arc::new(NoCache);
    let first = crawl::crawl(&f1, &jobs, &no_cache, args.in_flight, |job, c| {
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
        let _ = tx.send((c.agency_id, c.services, c.cache_updates));
    })
    .await;
    drop(tx);
    let drain = Instant::now();
    match writer.join() {
        Ok(r) => r.context("writing facts and cache")?,
        Err(_) => anyhow::bail!("the writer thread panicked"),
    }
    let drain = drain.elapsed();
    drop(f1);

    // 2. Re-run with the first run's cache.
    eprintln!("crawl 2: re-run with the cache");
    let f2 = fetcher(&base, &args, 0.0)?;
    let cache: Arc<dyn PageCache> = Arc::new(crawl::StoreCache(store.clone()));
    let second = crawl::crawl(&f2, &jobs, &cache, args.in_flight, |_, _| {}).await;
    drop(f2);

    // 3. A per-host rate on the largest portals, all at once.
    let rated = if args.rate > 0.0 {
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

    // 4. TLS probe.
    eprintln!("probing every host");
    let probe_cfg = assess::probe_config(&loaded)?;
    let hosts = assess::hosts(&loaded);
    let (probe, host_facts) = assess::probe(&probe_cfg, &hosts).await;

    // 5. Rules over the world.
    eprintln!("evaluating the rules");
    let rules = assess::evaluate(&loaded, &facts_dir, &host_facts)?;

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
    drop(f4);
    let ceiling = ceiling::measure(&pages);
    drop(srv);

    print_table(&Report {
        args: &args,
        first: &first,
        second: &second,
        drain,
        rated: rated.as_ref(),
        probe: &probe,
        rules: &rules,
        ceiling: &ceiling,
        rss_before,
        agencies: jobs.len(),
    });
    Ok(())
}

struct Report<'a> {
    args: &'a Args,
    first: &'a crawl::CrawlStats,
    second: &'a crawl::CrawlStats,
    drain: std::time::Duration,
    rated: Option<&'a (crawl::CrawlStats, usize, f64)>,
    probe: &'a assess::ProbeStats,
    rules: &'a assess::RulesStats,
    ceiling: &'a ceiling::Ceiling,
    rss_before: f64,
    agencies: usize,
}

fn per_s(n: u64, d: std::time::Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn print_table(r: &Report<'_>) {
    let (a, f, s) = (r.args, r.first, r.second);
    let detail_rate = per_s(f.detail_pages, f.wall);
    let mix_ceiling = r.ceiling.for_mix(&f.details_by_platform);
    println!(
        "\n# dvc-audit macro benchmark: {} world, seed {}",
        a.size, a.seed
    );
    println!("machine: {}", sys::machine());
    println!(
        "settings: concurrency {}, per-host {}, {} agencies at once\n",
        a.concurrency, a.per_host, a.in_flight
    );
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
    row("wall time", format!("{:.1} s", f.wall.as_secs_f64()), "");
    row("detail pages/s", format!("{detail_rate:.0}"), "≥ 3,000");
    row(
        "requests/s",
        format!("{:.0}", per_s(f.requests, f.wall)),
        "",
    );
    row(
        "CPU s per 1,000 pages (user+sys, this process)",
        format!(
            "{:.2}",
            f.cpu.as_secs_f64() * 1000.0 / (f.requests.max(1) as f64)
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
            100.0 * s.wall.as_secs_f64() / f.wall.as_secs_f64().max(1e-9)
        ),
        "",
    );
    row(
        "TLS probe",
        format!(
            "{} hosts in {:.1} s = {:.1} hosts/s ({} errors)",
            r.probe.hosts,
            r.probe.wall.as_secs_f64(),
            per_s(r.probe.hosts as u64, r.probe.wall),
            r.probe.errors
        ),
        "",
    );
    row(
        "rules over the world",
        format!(
            "{} services, {} evaluations in {:.2} s = {:.0} evaluations/s ({} fail, {} could not assess)",
            r.rules.services,
            r.rules.evaluations,
            r.rules.elapsed.as_secs_f64(),
            per_s(r.rules.evaluations as u64, r.rules.elapsed),
            r.rules.failures,
            r.rules.could_not_assess
        ),
        "",
    );
    for (p, v) in &r.ceiling.by_platform {
        row(
            &format!("ceiling, {p} detail pages (1 thread)"),
            format!("{v:.0} pages/s"),
            "",
        );
    }
    row(
        "ceiling, world mix",
        format!(
            "{:.0} pages/s on 1 thread, {:.0} on {} threads; {:.0} for the crawl's mix",
            r.ceiling.one_thread, r.ceiling.all_threads, r.ceiling.threads, mix_ceiling
        ),
        "",
    );
    row(
        "crawl throughput / ceiling",
        format!("{:.0}%", 100.0 * detail_rate / mix_ceiling.max(1e-9)),
        "≥ 70%",
    );
}
