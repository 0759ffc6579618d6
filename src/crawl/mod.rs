//! The crawl stage: polite, bounded fetching.
//!
//! - [`client`]: the run's one reqwest client (rustls), host pinning and the private-address guard;
//! - [`host`]: per-host politeness (robots.txt, rate limit, concurrency, cool-off);
//! - [`fetch`]: one request → a [`fetch::FetchRecord`] (+ decoded text), every bound recorded;
//! - [`body`]: capped streaming decompression and charset decoding;
//! - [`tcvn3`]: the TCVN3 (`.VnTime` font) table and its detection, which `body` uses;
//! - [`walk`]: one agency's listing and detail pages, with conditional GETs on re-runs;
//! - [`list_cache`]: what the page cache keeps of a list page, so a `304` replays it;
//! - [`packed`]: a walk's read pages, compressed until the walk ends;
//! - [`progress`]: a progress bar on a terminal, periodic log lines otherwise.
//!
//! The crawler knows nothing of HTML meaning: profiles and extraction decide what to fetch next.

pub mod body;
pub mod client;
pub mod fetch;
pub mod host;
pub mod list_cache;
pub mod packed;
pub mod progress;
pub mod tcvn3;
pub mod walk;

use std::sync::Arc;
use std::time::Duration;

pub use fetch::{FetchRecord, FetchSettings, Fetched, Fetcher, Method, Request};

use crate::config::CrawlSection;

/// Build the run's fetcher from `[crawl]`. `resolve_extra` adds `--resolve` entries from the
/// command line.
pub fn fetcher_from_config(
    c: &CrawlSection,
    resolve_extra: &[String],
) -> Result<Arc<Fetcher>, reqwest::Error> {
    fetcher_until(c, resolve_extra, std::time::Instant::now())
}

/// [`fetcher_from_config`] for a run that started at `started`: its wall-clock budget
/// (`crawl.max_run_minutes`) ends that long after it.
pub fn fetcher_until(
    c: &CrawlSection,
    resolve_extra: &[String],
    started: std::time::Instant,
) -> Result<Arc<Fetcher>, reqwest::Error> {
    let mut resolve = c.resolve.clone();
    resolve.extend_from_slice(resolve_extra);
    let policy = client::AddressPolicy::from_config(&c.allow_private, &resolve);
    let client = client::build(&client::ClientSettings {
        user_agent: c.user_agent.clone(),
        connect_timeout: Duration::from_millis(c.connect_timeout_ms),
        read_timeout: Duration::from_millis(c.read_timeout_ms),
        policy: policy.clone(),
        pool_per_host: c.per_host_concurrency as usize,
        http_version: c.http_version,
    })?;
    Ok(Fetcher::new(
        client,
        FetchSettings {
            user_agent: c.user_agent.clone(),
            concurrency: c.concurrency,
            per_host_rate: c.per_host_rate,
            per_host_concurrency: c.per_host_concurrency,
            total_timeout: Duration::from_millis(c.total_timeout_ms),
            max_body_bytes: c.max_body_bytes,
            max_redirects: c.max_redirects,
            max_url_length: c.max_url_length as usize,
            retries: c.retries,
            respect_robots: c.respect_robots,
            cooloff: host::CoolOff::default(),
            backoff_base: Duration::from_millis(200),
            max_crawl_delay: Duration::from_secs(c.max_crawl_delay_secs.max(1)),
            deadline: started
                .checked_add(Duration::from_secs(c.max_run_minutes.saturating_mul(60))),
        },
        policy,
    ))
}
