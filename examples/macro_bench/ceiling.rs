//! The parse-and-extract ceiling: the crawl's own detail pages, fetched once into memory, then
//! hashed, parsed and extracted exactly as the walk does, with no I/O.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dvc_audit::crawl::{Fetcher, Request};
use dvc_audit::extract::{self, Page};
use dvc_audit::profile::Profile;
use futures::StreamExt;

/// One page in memory.
pub struct Sample {
    pub platform: String,
    pub agency_id: String,
    pub url: String,
    pub body: String,
    pub profile: Arc<Profile>,
}

/// Fetch the sampled URLs (`(platform, agency, url, profile)`) once.
pub async fn fetch(
    fetcher: &Fetcher,
    urls: Vec<(String, String, String, Arc<Profile>)>,
) -> Vec<Sample> {
    futures::stream::iter(urls)
        .map(|(platform, agency_id, url, profile)| async move {
            let f = fetcher.fetch(&Request::get(url.clone())).await;
            if f.text.is_none() {
                eprintln!("ceiling: {url}: no body ({:?})", f.record.error);
            }
            f.text.map(|body| Sample {
                platform,
                agency_id,
                url,
                body,
                profile,
            })
        })
        .buffer_unordered(64)
        .filter_map(|s| async move { s })
        .collect()
        .await
}

/// The work a detail page needs at the least: the normalised hash (`detail_page` computes it
/// when the fetch facts carry none), the parse and the extraction.
fn extract_one(s: &Sample) {
    let page = Page::from_body(&s.url, s.body.as_str());
    black_box(extract::detail_page(&s.profile, &page, &s.agency_id));
}

/// Pages/s over `pages` on one thread, repeating the set for at least `min`.
fn rate(pages: &[&Sample], min: Duration) -> f64 {
    if pages.is_empty() {
        return 0.0;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < min {
        for s in pages {
            extract_one(s);
        }
        n += pages.len() as u64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

pub struct Ceiling {
    /// Single-thread pages/s by platform.
    pub by_platform: BTreeMap<String, f64>,
    /// Single-thread pages/s over the sample as a whole.
    pub one_thread: f64,
    /// Pages/s with every core extracting its own copy of the sample.
    pub all_threads: f64,
    pub threads: usize,
}

impl Ceiling {
    /// The all-cores ceiling for a crawl whose detail pages split by platform as `mix`:
    /// the harmonic mean of the single-thread rates weighted by the mix, times the measured
    /// multi-core speed-up.
    pub fn for_mix(&self, mix: &BTreeMap<String, u64>) -> f64 {
        let total: u64 = mix
            .iter()
            .filter(|(p, _)| self.by_platform.contains_key(*p))
            .map(|(_, n)| n)
            .sum();
        let secs_per_page: f64 = mix
            .iter()
            .filter_map(|(p, n)| {
                let r = self.by_platform.get(p).copied().filter(|r| *r > 0.0)?;
                Some(*n as f64 / total.max(1) as f64 / r)
            })
            .sum();
        let speedup = if self.one_thread > 0.0 {
            self.all_threads / self.one_thread
        } else {
            1.0
        };
        if secs_per_page > 0.0 {
            speedup / secs_per_page
        } else {
            0.0
        }
    }
}

pub fn measure(samples: &[Sample]) -> Ceiling {
    let mut by: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by.entry(s.platform.clone()).or_default().push(s);
    }
    let by_platform = by
        .iter()
        .map(|(p, pages)| (p.clone(), rate(pages, Duration::from_secs(2))))
        .collect();
    let all: Vec<&Sample> = samples.iter().collect();
    let one_thread = rate(&all, Duration::from_secs(3));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let all_threads = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|_| sc.spawn(|| rate(&all, Duration::from_secs(3))))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).sum()
    });
    Ceiling {
        by_platform,
        one_thread,
        all_threads,
        threads,
    }
}
