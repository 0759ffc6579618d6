//! One crawl of the world with the library (fetcher + walk + bundled profiles), agencies a few
//! at a time, each agency's result handed to a sink and dropped so memory stays flat.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dvc_audit::config::{AgencyConfig, Config};
use dvc_audit::crawl::Fetcher;
use dvc_audit::crawl::walk::{AgencyCrawl, AgencyJob, PageCache, Progress, crawl_agency};
use dvc_audit::extract::AgencyVars;
use dvc_audit::profile::{Profile, ProfileSet};
use dvc_audit::store::{CachedPage, Store};
use futures::StreamExt;

use crate::sys;

/// A job template: agency id, platform and what `AgencyJob` needs (rebuilt per run).
#[derive(Clone)]
pub struct Job {
    pub agency_id: String,
    pub platform: String,
    pub vars: AgencyVars,
    pub profile: Arc<Profile>,
    pub max_pages: u32,
}

pub fn jobs(config: &Config, profiles: &ProfileSet) -> anyhow::Result<Vec<Job>> {
    config
        .agencies
        .iter()
        .map(|a: &AgencyConfig| {
            let profile = profiles
                .get(&a.platform)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no profile `{}` for {}", a.platform, a.id))?;
            let mut vars = AgencyVars::new(&a.id, &a.portal);
            vars.extend(a.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(Job {
                agency_id: a.id.clone(),
                platform: a.platform.clone(),
                vars,
                profile,
                max_pages: config.crawl.max_pages_per_agency,
            })
        })
        .collect()
}

/// What one crawl measured.
#[derive(Debug, Default, Clone)]
pub struct CrawlStats {
    pub wall: Duration,
    pub cpu: Duration,
    pub requests: u64,
    pub detail_pages: u64,
    pub list_pages: u64,
    pub bytes_wire: u64,
    pub not_modified: u64,
    pub errors: u64,
    /// Requests per agency on its busiest host.
    pub busiest_host: BTreeMap<String, u64>,
    /// Detail pages by platform.
    pub details_by_platform: BTreeMap<String, u64>,
    /// List pages by platform (their parsing is crawl work too).
    pub lists_by_platform: BTreeMap<String, u64>,
    /// Peak RSS (VmHWM) when the crawl ended, MiB.
    pub peak_rss_mib: f64,
    /// Context switches of this process during the crawl (lower bound: live threads only).
    pub context_switches: u64,
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// Crawl `jobs`, at most `in_flight` agencies at once; `sink` gets each agency's result.
///
/// Each agency's walk is its own tokio task: the walk extracts pages inside its own future,
/// so walks polled from one task would share one thread for all parsing (measured: the crawl
/// then stalls at the single-thread extraction rate while the other core idles).
pub async fn crawl(
    fetcher: &Arc<Fetcher>,
    jobs: &[Job],
    cache: &Arc<dyn PageCache>,
    in_flight: usize,
    mut sink: impl FnMut(&Job, AgencyCrawl),
) -> CrawlStats {
    let progress = Arc::new(Progress::default());
    let cpu0 = sys::cpu_time();
    let switches0 = sys::context_switches();
    let start = Instant::now();
    let mut stats = CrawlStats::default();
    let mut stream = futures::stream::iter(jobs.iter().map(|j| {
        let job = AgencyJob {
            agency_id: j.agency_id.clone(),
            vars: j.vars.clone(),
            profile: j.profile.clone(),
            max_pages: j.max_pages,
            sample: None,
            redirect_hosts: Vec::new(),
        };
        let (fetcher, cache, progress) = (fetcher.clone(), cache.clone(), progress.clone());
        let task =
            tokio::spawn(
                async move { crawl_agency(&fetcher, job, cache.as_ref(), &progress).await },
            );
        async move {
            let c = task.await.unwrap_or_else(|e| AgencyCrawl {
                agency_id: j.agency_id.clone(),
                notes: vec![format!("walk task failed: {e}")],
                ..AgencyCrawl::default()
            });
            (j, c)
        }
    }))
    .buffer_unordered(in_flight.max(1));
    while let Some((job, c)) = stream.next().await {
        let mut per_host: BTreeMap<&str, u64> = BTreeMap::new();
        for f in &c.fetches {
            stats.requests += 1;
            stats.bytes_wire += f.bytes_wire;
            stats.not_modified += u64::from(f.not_modified);
            stats.errors += u64::from(f.error.is_some());
            *per_host.entry(host_of(&f.url)).or_default() += 1;
        }
        let details = c.services.len() as u64;
        stats.detail_pages += details;
        stats.list_pages += c.list_pages as u64;
        *stats
            .details_by_platform
            .entry(job.platform.clone())
            .or_default() += details;
        *stats
            .lists_by_platform
            .entry(job.platform.clone())
            .or_default() += c.list_pages as u64;
        stats.busiest_host.insert(
            job.agency_id.clone(),
            per_host.values().copied().max().unwrap_or(0),
        );
        sink(job, c);
    }
    stats.wall = start.elapsed();
    stats.cpu = sys::cpu_time().saturating_sub(cpu0);
    stats.peak_rss_mib = sys::peak_rss_mib();
    stats.context_switches = sys::context_switches().saturating_sub(switches0);
    stats
}

/// The page cache of a real run: the history store (SQLite on disk), shared behind a lock.
pub struct StoreCache(pub Arc<Mutex<Store>>);

impl PageCache for StoreCache {
    fn get(&self, url: &str) -> Option<CachedPage> {
        self.0.lock().ok()?.cached_page(url).ok().flatten()
    }
}
