//! Shared setup for the crawl tests: serve a sandbox world, load its generated config (with
//! short timeouts and a chosen rate), and walk every agency with the bundled profiles.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dvc_audit::config::{Config, CrawlSection};
use dvc_audit::crawl::walk::{self, AgencyCrawl, AgencyJob, PageCache, Progress};
use dvc_audit::crawl::{Fetcher, fetcher_from_config};
use dvc_audit::diag::SourceFile;
use dvc_audit::extract::AgencyVars;
use dvc_audit::profile::ProfileSet;
use dvc_audit::sandbox::{self, SandboxHandle, ServeOptions, Size, World};
use dvc_audit::store::CachedPage;

/// Short delays so the slow page stays fast and the hanging page outlasts the timeouts below.
pub fn serve_options() -> ServeOptions {
    ServeOptions {
        slow_delay: Duration::from_millis(150),
        hang_delay: Duration::from_secs(30),
        ..ServeOptions::default()
    }
}

/// A sandbox served on its own runtime, as a real server would be: the crawler's extraction
/// work must not be able to stall the server (nor the server the crawler) through shared
/// worker threads.
pub struct Sandbox {
    handle: SandboxHandle,
    rt: Option<tokio::runtime::Runtime>,
}

impl std::ops::Deref for Sandbox {
    type Target = SandboxHandle;
    fn deref(&self) -> &SandboxHandle {
        &self.handle
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

pub fn start(size: Size) -> Sandbox {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("sandbox runtime");
    // `block_on` may not run on a thread already driving the test's runtime.
    let (rt, handle) = std::thread::spawn(move || {
        let h = rt.block_on(sandbox::serve(World::new(size, 1), serve_options()));
        (rt, h)
    })
    .join()
    .expect("sandbox thread");
    Sandbox {
        handle: handle.expect("sandbox starts"),
        rt: Some(rt),
    }
}

/// The world's generated config, loaded for real, with test-sized timeouts: the hanging page
/// (30 s) is far above them, the slow page (150 ms) well below.
pub fn load_config(h: &SandboxHandle, per_host_rate: f64) -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), h.ca_pem()).expect("ca.pem");
    std::fs::write(dir.path().join("gov-ca.pem"), h.gov_ca_pem()).expect("gov-ca.pem");
    let file = SourceFile::new("audit.toml", h.config_toml());
    let loaded = match Config::load_source(file, dir.path().to_path_buf(), &|_| None) {
        Ok(l) => l,
        Err(e) => panic!(
            "generated config does not load: {:?}",
            e.0.items.first().map(|d| &d.message)
        ),
    };
    let mut config = loaded.config;
    let c = &mut config.crawl;
    c.per_host_rate = per_host_rate;
    c.connect_timeout_ms = 1000;
    c.read_timeout_ms = 1000;
    c.total_timeout_ms = 1500;
    c.retries = 1;
    config
}

/// A HashMap-backed page cache (what the store gives the run, in memory).
#[derive(Default)]
pub struct MapCache(pub Mutex<HashMap<String, CachedPage>>);

impl MapCache {
    pub fn from_runs(runs: &[AgencyCrawl]) -> MapCache {
        let map = runs.iter().flat_map(|r| r.cache_entries()).collect();
        MapCache(Mutex::new(map))
    }
}

impl PageCache for MapCache {
    fn get(&self, url: &str) -> Option<CachedPage> {
        self.0.lock().ok().and_then(|m| m.get(url).cloned())
    }
}

pub fn fetcher(crawl: &CrawlSection) -> Arc<Fetcher> {
    fetcher_from_config(crawl, &[]).expect("fetcher")
}

/// Walk every agency of the config concurrently, as the run does.
pub async fn crawl_all(
    config: &Config,
    fetcher: &Fetcher,
    cache: &dyn PageCache,
    progress: &Progress,
) -> Vec<AgencyCrawl> {
    let profiles = ProfileSet::bundled().expect("bundled profiles");
    crawl_with(config, &profiles, fetcher, cache, progress).await
}

/// [`crawl_all`] with the profiles given.
pub async fn crawl_with(
    config: &Config,
    profiles: &ProfileSet,
    fetcher: &Fetcher,
    cache: &dyn PageCache,
    progress: &Progress,
) -> Vec<AgencyCrawl> {
    let jobs: Vec<AgencyJob> = config
        .agencies
        .iter()
        .map(|a| {
            let mut vars = AgencyVars::new(&a.id, &a.portal);
            vars.extend(a.vars.clone());
            AgencyJob {
                agency_id: a.id.clone(),
                vars,
                profile: Arc::clone(profiles.get(&a.platform).expect("profile for platform")),
                max_pages: config.crawl.max_pages_per_agency,
                sample: None,
                redirect_hosts: Vec::new(),
            }
        })
        .collect();
    let walks = jobs
        .into_iter()
        .map(|job| walk::crawl_agency(fetcher, job, cache, progress));
    let mut out = futures::future::join_all(walks).await;
    out.sort_by(|a, b| a.agency_id.cmp(&b.agency_id));
    out
}
