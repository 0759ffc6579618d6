//! The parse-and-extract ceiling: the crawl's own detail pages, fetched once into memory, then
//! hashed, parsed and extracted exactly as the walk does, with no I/O; and the first list page
//! of every agency, read the same way (the crawl parses its list pages too, so a ceiling per
//! detail page on equal work counts them in the crawl's proportion).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dvc_audit::crawl::{Fetcher, Method, Request};
use dvc_audit::extract::{self, AgencyVars, ListState, Page, PageRequest};
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

/// One list page in memory, with what reading it again needs.
pub struct ListSample {
    pub platform: String,
    pub vars: AgencyVars,
    pub req: PageRequest,
    pub body: String,
    pub profile: Arc<Profile>,
}

/// Fetch each list request (`(platform, vars, request, profile)`) once, as the walk asks for it.
pub async fn fetch_lists(
    fetcher: &Fetcher,
    reqs: Vec<(String, AgencyVars, PageRequest, Arc<Profile>)>,
) -> Vec<ListSample> {
    futures::stream::iter(reqs)
        .map(|(platform, vars, req, profile)| async move {
            let r = Request {
                method: match req.method {
                    dvc_audit::profile::Method::Get => Method::Get,
                    dvc_audit::profile::Method::Post => Method::Post,
                },
                url: req.url.clone(),
                body: req.body.clone(),
                content_type: req.body.as_ref().map(|_| "application/json".to_string()),
                etag: None,
                last_modified: None,
            };
            let f = fetcher.fetch(&r).await;
            if f.text.is_none() {
                eprintln!("ceiling: list {}: no body ({:?})", req.url, f.record.error);
            }
            f.text.map(|body| ListSample {
                platform,
                vars,
                req,
                body,
                profile,
            })
        })
        .buffer_unordered(64)
        .filter_map(|s| async move { s })
        .collect()
        .await
}

/// What the walk does with a list page it read (`read_list_page`): scan it against a chain
/// and hash it. Storing the scan in the page cache (serialising it) is left out, as the
/// detail pages' cache entries are.
fn extract_list(s: &ListSample) {
    let page = Page::from_body(&s.req.url, s.body.as_str());
    let mut state = ListState::new(&s.vars);
    black_box(extract::list_page_scanned(
        &s.profile, &page, &s.req, &mut state,
    ));
    black_box(extract::normalised_hash(&s.profile, &page.body));
}

/// The work a detail page needs at the least: the normalised hash (`detail_page` computes it
/// when the fetch facts carry none), the parse and the extraction.
fn extract_one(s: &Sample) {
    let page = Page::from_body(&s.url, s.body.as_str());
    black_box(extract::detail_page(&s.profile, &page, &s.agency_id));
}

/// Pages/s over `pages` on one thread, repeating the set for at least `min`, and the CPU
/// seconds per page this process spent meanwhile (robust to other processes on the core).
fn rate(pages: &[&Sample], min: Duration) -> (f64, f64) {
    rate_of(pages, min, extract_one)
}

fn rate_of<T>(pages: &[&T], min: Duration, work: impl Fn(&T)) -> (f64, f64) {
    if pages.is_empty() {
        return (0.0, 0.0);
    }
    let cpu0 = crate::sys::cpu_time();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < min {
        for s in pages {
            work(s);
        }
        n += pages.len() as u64;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = crate::sys::cpu_time().saturating_sub(cpu0).as_secs_f64();
    (n as f64 / wall, cpu / n.max(1) as f64)
}

pub struct Ceiling {
    /// Single-thread pages/s by platform.
    pub by_platform: BTreeMap<String, f64>,
    /// CPU seconds per page by platform (single thread).
    pub cpu_by_platform: BTreeMap<String, f64>,
    /// CPU seconds per list page by platform (single thread).
    pub list_cpu_by_platform: BTreeMap<String, f64>,
    /// Single-thread pages/s over the sample as a whole.
    pub one_thread: f64,
    /// Pages/s with every core extracting its own copy of the sample.
    pub all_threads: f64,
    pub threads: usize,
}

/// The mean of `per_platform` weighted by the crawl's mix (platforms not measured are left out).
fn weighted(per_platform: &BTreeMap<String, f64>, mix: &BTreeMap<String, u64>) -> f64 {
    let total: u64 = mix
        .iter()
        .filter(|(p, _)| per_platform.contains_key(*p))
        .map(|(_, n)| n)
        .sum();
    mix.iter()
        .filter_map(|(p, n)| Some(*n as f64 / total.max(1) as f64 * per_platform.get(p)?))
        .sum()
}

impl Ceiling {
    /// The single-core ceiling for the crawl's mix: the harmonic mean of the single-thread
    /// rates weighted by the mix (no multi-core speed-up).
    pub fn one_core_for_mix(&self, mix: &BTreeMap<String, u64>) -> f64 {
        let secs: BTreeMap<String, f64> = self
            .by_platform
            .iter()
            .filter(|(_, r)| **r > 0.0)
            .map(|(p, r)| (p.clone(), 1.0 / r))
            .collect();
        let s = weighted(&secs, mix);
        if s > 0.0 { 1.0 / s } else { 0.0 }
    }

    /// CPU seconds per page of parse + extract for the crawl's mix.
    pub fn cpu_per_page_for_mix(&self, mix: &BTreeMap<String, u64>) -> f64 {
        weighted(&self.cpu_by_platform, mix)
    }

    /// CPU seconds of parse + extract per detail page when the crawl's list pages (`lists`, by
    /// platform) are read too: the detail pages' mix plus each platform's list pages at that
    /// platform's list CPU, spread over the detail pages. A platform whose list pages were not
    /// measured counts at the mean of those that were.
    pub fn cpu_per_page_with_lists(
        &self,
        details: &BTreeMap<String, u64>,
        lists: &BTreeMap<String, u64>,
    ) -> f64 {
        let n: u64 = details.values().sum();
        let measured: Vec<f64> = self.list_cpu_by_platform.values().copied().collect();
        let mean = measured.iter().sum::<f64>() / measured.len().max(1) as f64;
        let list_cpu: f64 = lists
            .iter()
            .map(|(p, k)| *k as f64 * self.list_cpu_by_platform.get(p).copied().unwrap_or(mean))
            .sum();
        self.cpu_per_page_for_mix(details) + list_cpu / n.max(1) as f64
    }

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

pub fn measure(samples: &[Sample], lists: &[ListSample]) -> Ceiling {
    let mut by: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by.entry(s.platform.clone()).or_default().push(s);
    }
    let mut by_platform = BTreeMap::new();
    let mut cpu_by_platform = BTreeMap::new();
    for (p, pages) in &by {
        let (r, cpu) = rate(pages, Duration::from_secs(2));
        by_platform.insert(p.clone(), r);
        cpu_by_platform.insert(p.clone(), cpu);
    }
    let mut by_list: BTreeMap<String, Vec<&ListSample>> = BTreeMap::new();
    for s in lists {
        by_list.entry(s.platform.clone()).or_default().push(s);
    }
    let list_cpu_by_platform = by_list
        .iter()
        .map(|(p, pages)| {
            let (_, cpu) = rate_of(pages, Duration::from_secs(1), extract_list);
            (p.clone(), cpu)
        })
        .collect();
    let all: Vec<&Sample> = samples.iter().collect();
    let (one_thread, _) = rate(&all, Duration::from_secs(3));
    let threads = crate::sys::cpus();
    let all_threads = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|_| sc.spawn(|| rate(&all, Duration::from_secs(3)).0))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).sum()
    });
    Ceiling {
        by_platform,
        cpu_by_platform,
        list_cpu_by_platform,
        one_thread,
        all_threads,
        threads,
    }
}
