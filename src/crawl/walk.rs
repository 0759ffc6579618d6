//! Walking one agency's portal: list pages (following the profile's pagination), then every
//! service's detail page, each fetched once, with conditional GETs on re-runs.
//!
//! The walk owns no HTML knowledge: it asks the profile where to start, hands every fetched
//! page to `extract`, and follows the requests extraction returns. Bounds: the agency's page
//! cap, a visited set (a pagination that revisits a page ends the walk), and the fetcher's own.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;

use super::fetch::{FetchRecord, Fetcher, Method, Request};
use super::list_cache;
use super::packed::Packed;
use crate::extract::{self, AgencyVars, ListState, Page, PageKind, PageRequest};
use crate::facts::{
    AssessReason, Coverage, ErrorFact, Evidence, FetchFacts, ServiceFacts, Truncation,
};
use crate::profile::Profile;
use crate::store::CachedPage;

/// Detail pages fetched at once per agency (the fetcher's per-host and global bounds still
/// apply; this only bounds the futures in flight).
pub const DETAIL_BUFFER: usize = 64;

/// Read access to the previous run's validators and extraction, by URL.
pub trait PageCache: Send + Sync {
    fn get(&self, url: &str) -> Option<CachedPage>;
}

/// No cache (first run, tests).
pub struct NoCache;

impl PageCache for NoCache {
    fn get(&self, _url: &str) -> Option<CachedPage> {
        None
    }
}

/// Counters a progress bar or a periodic log line can read while the crawl runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub pages_planned: AtomicU64,
    pub pages_done: AtomicU64,
    pub errors: AtomicU64,
    pub not_modified: AtomicU64,
    pub agencies_done: AtomicU64,
    /// Agencies the run will walk; set by the run (the walk of one agency cannot know it).
    pub agencies_planned: AtomicU64,
}

/// One agency to walk.
pub struct AgencyJob {
    pub agency_id: String,
    pub vars: AgencyVars,
    pub profile: Arc<Profile>,
    pub max_pages: u32,
    /// Surprise inspection: fetch only `n` of the listed services, drawn with `seed`.
    pub sample: Option<(usize, u64)>,
    /// Hosts besides the portal's (and URL-valued variables') that a service page may
    /// redirect to: the agency's `extra_hosts` and `crawl.redirect_allow_hosts`.
    pub redirect_hosts: Vec<String>,
}

/// What walking one agency produced.
#[derive(Debug, Clone, Default)]
pub struct AgencyCrawl {
    pub agency_id: String,
    pub services: Vec<ServiceFacts>,
    pub fetches: Vec<FetchRecord>,
    /// The listing itself could not be read: nothing about this agency's services can be
    /// judged.
    pub could_not_assess: Option<ErrorFact>,
    /// Validators and extraction to remember for the next run: store
    /// [`AgencyCrawl::cache_entries`], which serialises what is still pending.
    pub cache_updates: Vec<CacheUpdate>,
    /// Services listed before sampling.
    pub listed: usize,
    pub list_pages: usize,
    /// Why the walk stopped early or incompletely (worth a person's attention).
    pub notes: Vec<String>,
    /// Why the listing ended normally (last page, no new services), for the run log.
    pub listing_end: Option<String>,
    /// What the walk covered: announced total, links, services read and not, bounds hit.
    pub coverage: Coverage,
    /// The extraction this walk's cache entries come from ([`list_cache::extraction_key`]):
    /// a stored entry is replayed only under the same key.
    pub extraction_key: i64,
}

/// A page to remember for the next run's conditional GET.
#[derive(Debug, Clone)]
pub enum CacheUpdate {
    /// Validators and the extraction as it will be stored (list pages; a detail page refused
    /// for its content; a detail page whose facts the walk changed after reading it).
    Ready(String, CachedPage),
    /// A detail page whose extraction is the service's final facts, serialised only when
    /// stored ([`AgencyCrawl::cache_entries`]): a walk holds validators, not ~2.5 KB of JSON
    /// per page, while it runs (issue 20: that JSON was the largest part of a first run's
    /// peak memory). `extraction_json` is empty until then.
    Service(String, CachedPage),
}

/// A walk whose pages are all read, each kept packed ([`Packed`]) rather than as structs:
/// [`Walked::finish`] reads them back and judges what needs the whole portal (duplicate
/// codes, site-wide signals). A run holds many walks at this stage or before it, and only the
/// few it is about to store finished (issue 20).
#[derive(Debug)]
pub struct Walked {
    out: AgencyCrawl,
    /// `None`: the walk ended before its detail pages (nothing to finish).
    pages: Option<Pages>,
}

#[derive(Debug)]
struct Pages {
    read: Packed<Finished>,
    list_signals: Vec<Vec<Evidence>>,
    /// National-portal links of each list page.
    list_national: Vec<Vec<Evidence>>,
    profile: Arc<Profile>,
}

/// One service as a walk keeps it until it ends: its facts, the fetch record of its page (a
/// list-only service has none) and what to remember of the page for the next run.
#[derive(serde::Serialize, serde::Deserialize)]
struct Finished {
    facts: ServiceFacts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fetch: Option<FetchRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache: Option<PackedUpdate>,
}

/// A [`CacheUpdate`] as [`Finished`] keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct PackedUpdate {
    /// [`CacheUpdate::Ready`] (else [`CacheUpdate::Service`]).
    ready: bool,
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    content_hash: String,
    extraction_json: String,
    extraction_key: Option<i64>,
}

impl From<CacheUpdate> for PackedUpdate {
    fn from(u: CacheUpdate) -> Self {
        let (ready, url, page) = match u {
            CacheUpdate::Ready(url, page) => (true, url, page),
            CacheUpdate::Service(url, page) => (false, url, page),
        };
        PackedUpdate {
            ready,
            url,
            etag: page.etag,
            last_modified: page.last_modified,
            content_hash: page.content_hash,
            extraction_json: page.extraction_json,
            extraction_key: page.extraction_key,
        }
    }
}

impl From<PackedUpdate> for CacheUpdate {
    fn from(u: PackedUpdate) -> Self {
        let page = CachedPage {
            etag: u.etag,
            last_modified: u.last_modified,
            content_hash: u.content_hash,
            extraction_json: u.extraction_json,
            extraction_key: u.extraction_key,
        };
        if u.ready {
            CacheUpdate::Ready(u.url, page)
        } else {
            CacheUpdate::Service(u.url, page)
        }
    }
}

impl Walked {
    fn ended(out: AgencyCrawl) -> Walked {
        Walked { out, pages: None }
    }

    /// The agency this walk was for.
    pub fn agency_id(&self) -> &str {
        &self.out.agency_id
    }

    /// Read the pages back, in the order they were read, then settle which of them are
    /// services (robots exclusions, one service per code) and mark what the whole portal
    /// shows (site-wide signals, unobservable fields).
    pub fn finish(self) -> AgencyCrawl {
        let Walked { mut out, pages } = self;
        let Some(Pages {
            read,
            list_signals,
            list_national,
            profile,
        }) = pages
        else {
            return out;
        };
        let back = read.unpack();
        out.services.reserve(back.items.len());
        out.fetches.reserve(back.items.len());
        for f in back.items {
            out.services.push(f.facts);
            out.fetches.extend(f.fetch);
            out.cache_updates.extend(f.cache.map(CacheUpdate::from));
        }
        out.services
            .sort_by(|a, b| (&a.code, &a.url).cmp(&(&b.code, &b.url)));
        // A cached extraction is the page as read: pages about to be merged under one code,
        // and every page of a portal whose signals are about to be marked site-wide, are
        // serialised before those changes (a replay repeats them). Otherwise the final facts
        // are what the page read gives, as `mark_all_unobservable` repeats itself without
        // change.
        let mut codes: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for s in out.services.iter().filter(|s| !s.code.is_empty()) {
            *codes.entry(s.code.as_str()).or_default() += 1;
        }
        let repeated: HashSet<String> = codes
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(c, _)| c.to_string())
            .collect();
        if !repeated.is_empty() {
            out.resolve_pending(|s| repeated.contains(&s.code));
        }
        settle_services(&mut out);
        if back.lost > 0 {
            // A bug, never the portal's doing: the pages were read, their facts are gone.
            let why = back.error.map(|e| e.to_string()).unwrap_or_default();
            tracing::error!(agency = %out.agency_id, lost = back.lost, "{why}");
            out.notes.push(format!(
                "{} read pages could not be kept until the walk ended (a bug: please report it): {why}",
                back.lost
            ));
            *out.coverage
                .unread
                .entry(AssessReason::NoData.as_str().to_string())
                .or_default() += i64::try_from(back.lost).unwrap_or(i64::MAX);
        }
        if extract::has_site_wide(&out.services, &list_signals)
            || extract::has_national_site_wide(&out.services, &list_national)
        {
            out.resolve_pending(|_| true);
        }
        extract::mark_site_wide(&mut out.services, &list_signals);
        extract::mark_national_site_wide(&mut out.services, &list_national);
        // Also list-only services and cached facts: what the profile cannot observe is unknown.
        extract::mark_all_unobservable(&profile, &mut out.services);
        out
    }
}

impl AgencyCrawl {
    /// The page-cache entries to store for this walk, with every pending extraction
    /// serialised from its service's facts as the walk left them. A pending page whose
    /// service is gone (merged into another page of the same code, disallowed) is skipped:
    /// it costs one unconditional fetch next time, never a wrong replay.
    pub fn cache_entries(&self) -> Vec<(String, CachedPage)> {
        let by_url: std::collections::HashMap<&str, &ServiceFacts> =
            self.services.iter().map(|s| (s.url.as_str(), s)).collect();
        let key = Some(self.extraction_key);
        self.cache_updates
            .iter()
            .filter_map(|u| match u {
                CacheUpdate::Ready(url, page) => Some((
                    url.clone(),
                    CachedPage {
                        extraction_key: page.extraction_key.or(key),
                        ..page.clone()
                    },
                )),
                CacheUpdate::Service(url, page) => {
                    let facts = by_url.get(url.as_str())?;
                    Some((
                        url.clone(),
                        CachedPage {
                            extraction_json: state_json(facts)?,
                            extraction_key: page.extraction_key.or(key),
                            ..page.clone()
                        },
                    ))
                }
            })
            .collect()
    }

    /// Serialise now the pending extraction of every service `pick` selects, before the walk
    /// changes those facts in a way a replay would not undo.
    fn resolve_pending(&mut self, pick: impl Fn(&ServiceFacts) -> bool) {
        let facts: std::collections::HashMap<&str, &ServiceFacts> = self
            .services
            .iter()
            .filter(|s| pick(s))
            .map(|s| (s.url.as_str(), s))
            .collect();
        if facts.is_empty() {
            return;
        }
        for u in &mut self.cache_updates {
            if let CacheUpdate::Service(url, page) = u
                && let Some(json) = facts.get(url.as_str()).and_then(|f| state_json(f))
            {
                let page = CachedPage {
                    etag: page.etag.take(),
                    last_modified: page.last_modified.take(),
                    content_hash: std::mem::take(&mut page.content_hash),
                    extraction_json: json,
                    extraction_key: page.extraction_key,
                };
                *u = CacheUpdate::Ready(std::mem::take(url), page);
            }
        }
    }
}

fn to_request(r: &PageRequest, cached: Option<&CachedPage>) -> Request {
    Request {
        method: match r.method {
            crate::profile::Method::Get => Method::Get,
            crate::profile::Method::Post => Method::Post,
        },
        url: r.url.clone(),
        body: r.body.clone(),
        content_type: r.body.as_ref().map(|_| "application/json".to_string()),
        etag: cached.and_then(|c| c.etag.clone()),
        last_modified: cached.and_then(|c| c.last_modified.clone()),
    }
}

fn page_of(rec: &FetchRecord, text: String) -> Page {
    Page {
        url: rec.url.clone(),
        final_url: rec.final_url.clone(),
        status: i64::from(rec.status),
        content_type: rec.content_type.clone(),
        fetch: fetch_facts(rec),
        body: text,
    }
}

/// The fetch facts rules see, from a crawler record.
pub fn fetch_facts(rec: &FetchRecord) -> FetchFacts {
    FetchFacts {
        url: rec.url.clone(),
        final_url: rec.final_url.clone(),
        status: i64::from(rec.status),
        fetched_at: rec.started_at.clone(),
        bytes: i64::try_from(rec.bytes_decoded).unwrap_or(i64::MAX),
        sha256: String::new(),
        error: rec.error.clone(),
    }
}

fn request_key(r: &PageRequest) -> String {
    match &r.body {
        Some(b) => format!("{} {}", r.url, b),
        None => r.url.clone(),
    }
}

/// Walk one agency. Never fails: problems are facts in the result.
pub async fn crawl_agency(
    fetcher: &Fetcher,
    job: AgencyJob,
    cache: &dyn PageCache,
    progress: &Progress,
) -> AgencyCrawl {
    crawl_pages(fetcher, job, cache, progress).await.finish()
}

/// Read one agency's pages, keeping them packed: [`Walked::finish`] gives the crawl. A run
/// finishes only the walks it is about to store, so the others stay small.
pub async fn crawl_pages(
    fetcher: &Fetcher,
    job: AgencyJob,
    cache: &dyn PageCache,
    progress: &Progress,
) -> Walked {
    let out = walk(fetcher, job, cache, progress).await;
    // Done whether or not anything could be assessed.
    progress.agencies_done.fetch_add(1, Ordering::Relaxed);
    out
}

async fn walk(
    fetcher: &Fetcher,
    job: AgencyJob,
    cache: &dyn PageCache,
    progress: &Progress,
) -> Walked {
    let mut out = AgencyCrawl {
        agency_id: job.agency_id.clone(),
        ..AgencyCrawl::default()
    };
    let profile = &job.profile;
    let starts = match profile.start_requests(&job.vars) {
        Ok(s) => s,
        Err(e) => {
            out.could_not_assess = Some(ErrorFact {
                kind: AssessReason::NoData,
                message: format!("profile {}: {e}", profile.id),
            });
            return Walked::ended(out);
        }
    };

    // The agency's hosts: its portal's (and URL-valued variables'), `extra_hosts` and
    // `crawl.redirect_allow_hosts`. A list or detail page on, or redirected to, another host is
    // not fetched (`redirect_offsite`): a merged agency's old portal that now redirects to its
    // successor's, or a row linking to another portal, never gives another agency's services
    // as this one's.
    let scope = {
        let mut hosts = job.vars.url_hosts();
        hosts.extend(job.redirect_hosts.iter().map(|h| h.to_ascii_lowercase()));
        super::fetch::RedirectScope { hosts }
    };

    // 1. Listing. Stored pages are replayed only if this build read them with this profile
    // and these variables (the key); list entries also check their own fingerprint.
    let fingerprint = list_cache::listing_fingerprint(profile, &job.vars);
    out.extraction_key =
        list_cache::extraction_key(profile, &job.vars, fetcher.settings().max_body_bytes);
    let extraction_key = out.extraction_key;
    let ours = |c: &CachedPage| c.extraction_key == Some(extraction_key);
    let mut pages_used: u32 = 0;
    let mut visited: HashSet<String> = HashSet::new();
    let mut detail_urls: HashSet<String> = HashSet::new();
    let mut details: Vec<PageRequest> = Vec::new();
    // Services that are a list item alone (no detail page), read when their list page was.
    let mut list_only: std::collections::HashMap<String, ServiceFacts> =
        std::collections::HashMap::new();
    let mut list_signals = Vec::new();
    let mut list_national = Vec::new();
    let mut listing_error: Option<ErrorFact> = None;
    let mut links_dropped: usize = 0;
    'chains: for start in starts {
        let mut state = ListState::new(&job.vars);
        let mut next = Some(start);
        while let Some(req) = next.take() {
            if pages_used >= job.max_pages {
                out.notes.push(format!(
                    "stopped at crawl.max_pages_per_agency ({})",
                    job.max_pages
                ));
                // List pages never fetched: how many links they hold is unknown.
                out.coverage.truncated.push(Truncation {
                    bound: "crawl.max_pages_per_agency".into(),
                    dropped: 0,
                });
                break 'chains;
            }
            if !visited.insert(request_key(&req)) {
                out.notes
                    .push(format!("pagination revisits {}; walk ended", req.url));
                break;
            }
            pages_used += 1;
            progress.pages_planned.fetch_add(1, Ordering::Relaxed);
            // A stored scan for this page, only if it is ours (profile, vars, format, URL):
            // without one the page is fetched unconditionally.
            let stored = if list_cache::cacheable(&req) {
                cache.get(&req.url).filter(ours).and_then(|c| {
                    list_cache::decode(&c, &fingerprint, &req.url).map(|scan| (c, scan))
                })
            } else {
                None
            };
            let fetched = fetcher
                .fetch_scoped(
                    &to_request(&req, stored.as_ref().map(|(c, _)| c)),
                    Some(&scope),
                )
                .await;
            progress.pages_done.fetch_add(1, Ordering::Relaxed);
            out.list_pages += 1;
            let rec = fetched.record.clone();
            out.fetches.push(fetched.record);
            let listed = match (rec.not_modified, stored) {
                (true, Some((_, scan))) => {
                    // Unchanged: the stored scan through the same chain logic, so the bounds
                    // (visited set, max_pages, seen services) apply as on a fresh read.
                    progress.not_modified.fetch_add(1, Ordering::Relaxed);
                    extract::replay_list_page(profile, &scan, &req, &mut state)
                }
                _ => {
                    let Some(text) = fetched.text else {
                        let err = rec.error.unwrap_or(ErrorFact {
                            kind: AssessReason::HttpStatus,
                            message: format!("list page answered HTTP {} with no body", rec.status),
                        });
                        progress.errors.fetch_add(1, Ordering::Relaxed);
                        out.notes
                            .push(format!("list page {}: {}", req.url, err.message));
                        listing_error.get_or_insert(err);
                        break;
                    };
                    let (listed, update, back) =
                        read_list_page(profile, &rec, text, &req, state, &fingerprint, &job.vars)
                            .await;
                    state = back;
                    out.cache_updates
                        .extend(update.map(|(url, page)| CacheUpdate::Ready(url, page)));
                    listed
                }
            };
            if let Some(reason) = listed.could_not_assess {
                listing_error.get_or_insert(ErrorFact {
                    kind: reason,
                    message: if listed.notes.is_empty() {
                        format!("list page {}: {reason}", req.url)
                    } else {
                        format!("list page {}: {}", req.url, listed.notes.join("; "))
                    },
                });
                break;
            }
            list_signals.push(listed.signals);
            list_national.push(listed.national);
            if out.coverage.announced.is_none() {
                out.coverage.announced = listed.total;
            }
            links_dropped += listed.links_dropped;
            if listed.stopped_at_max_pages
                && !out
                    .coverage
                    .truncated
                    .iter()
                    .any(|t| t.bound == "profile.max_pages")
            {
                // More list pages were announced than the profile reads: the rest is unlisted.
                out.coverage.truncated.push(Truncation {
                    bound: "profile.max_pages".into(),
                    dropped: 0,
                });
            }
            for d in listed.details {
                if d.kind == PageKind::Detail && detail_urls.insert(request_key(&d)) {
                    if let Some(item) = d.hint.item.as_ref().filter(|i| i.only) {
                        let facts = extract::list_only_service(
                            &job.agency_id,
                            &d.url,
                            item,
                            fetch_facts(&rec),
                        );
                        list_only.insert(request_key(&d), facts);
                    }
                    details.push(d);
                }
            }
            if listed.end_unconfirmed
                && !out
                    .coverage
                    .truncated
                    .iter()
                    .any(|t| t.bound == "listing_end_unconfirmed")
            {
                // The listing may go on past a page the profile cannot tell from its end.
                out.notes.push(format!(
                    "list page {}: {}",
                    req.url,
                    listed.notes.join("; ")
                ));
                out.coverage.truncated.push(Truncation {
                    bound: "listing_end_unconfirmed".into(),
                    dropped: 0,
                });
            }
            if listed.next.is_none() && !listed.notes.is_empty() {
                // Why the listing ended (last page, loop, cap): for the run log, not a problem.
                out.listing_end = Some(format!(
                    "listing ended at {}: {}",
                    req.url,
                    listed.notes.join("; ")
                ));
            }
            next = listed.next;
        }
    }
    out.listed = details.len();
    out.coverage.listed = i64::try_from(details.len()).unwrap_or(i64::MAX);
    out.coverage.listing_error = listing_error.as_ref().map(|e| e.kind);
    if links_dropped > 0 {
        out.notes.push(format!(
            "{links_dropped} links over the bound of {} per list page were not followed",
            extract::limits::MAX_LINKS_PER_PAGE
        ));
        out.coverage.truncated.push(Truncation {
            bound: "links_per_page".into(),
            dropped: i64::try_from(links_dropped).unwrap_or(i64::MAX),
        });
    }
    if details.is_empty() {
        out.could_not_assess = Some(listing_error.unwrap_or(ErrorFact {
            kind: AssessReason::NoData,
            message: format!("profile {} found no service in the listing", profile.id),
        }));
        return Walked::ended(out);
    }
    if let Some(e) = listing_error {
        // Part of the listing was read: judge what was found, and say the rest is missing.
        out.notes
            .push(format!("listing incomplete ({}): {}", e.kind, e.message));
    }

    // 2. Sampling (surprise inspections).
    if let Some((n, seed)) = job.sample {
        let keys: Vec<String> = details.iter().map(request_key).collect();
        let chosen: HashSet<String> = crate::run::sample::sample(&keys, Some(n), seed)
            .into_iter()
            .collect();
        let before = details.len();
        details.retain(|d| chosen.contains(&request_key(d)));
        // The services left out were listed and not read: coverage is not complete (the
        // report says the agency was sampled, and its shares are over the sample only).
        let dropped = before - details.len();
        if dropped > 0 {
            out.notes.push(format!(
                "{dropped} of {before} listed services left out of the sample of {n}"
            ));
            out.coverage.truncated.push(Truncation {
                bound: "sample".into(),
                dropped: i64::try_from(dropped).unwrap_or(i64::MAX),
            });
        }
    }
    // A list-only service was read with its list page: nothing to fetch.
    let mut read: Packed<Finished> = Packed::default();
    details.retain(|d| match list_only.remove(&request_key(d)) {
        Some(facts) => {
            read.push(Finished {
                facts,
                fetch: None,
                cache: None,
            });
            false
        }
        None => true,
    });
    drop(list_only);
    let budget = job.max_pages.saturating_sub(pages_used) as usize;
    if details.len() > budget {
        out.notes.push(format!(
            "{} detail pages over crawl.max_pages_per_agency were not fetched",
            details.len() - budget
        ));
        out.coverage.truncated.push(Truncation {
            bound: "crawl.max_pages_per_agency".into(),
            dropped: i64::try_from(details.len() - budget).unwrap_or(i64::MAX),
        });
        details.truncate(budget);
    }
    progress
        .pages_planned
        .fetch_add(details.len() as u64, Ordering::Relaxed);

    // 3. Details, concurrently (bounded by the fetcher's per-host and global limits). A
    // service page on, or redirected to, a host that is not the agency's is not that agency's
    // service: `redirect_offsite`, unread.
    let agency_id = job.agency_id.as_str();
    let scope = &scope;
    let mut results = futures::stream::iter(details)
        .map(|d| async move {
            // Validators are sent only with an extraction that decodes (not a list entry, not
            // an older or damaged one) and that this build made with this profile (`ours`): a
            // 304 without one would lose the page, a 304 with another would replay facts the
            // profile or the code no longer reads that way.
            // A detail entry's key also covers what its list row said (the hint filled in
            // before the facts were stored, which a replay does not apply again).
            let key = list_cache::entry_key(extraction_key, &d.hint);
            let cached = if d.body.is_none() {
                cache
                    .get(&d.url)
                    .filter(|c| c.extraction_key == Some(key))
                    .and_then(|c| {
                        let facts =
                            serde_json::from_str::<ServiceFacts>(&c.extraction_json).ok()?;
                        Some((c, facts))
                    })
            } else {
                None
            };
            let fetched = fetcher
                .fetch_scoped(
                    &to_request(&d, cached.as_ref().map(|(c, _)| c)),
                    Some(scope),
                )
                .await;
            progress.pages_done.fetch_add(1, Ordering::Relaxed);
            let rec = fetched.record;
            let (facts, update) = {
                let (profile, agency, req, record) = (
                    Arc::clone(profile),
                    agency_id.to_string(),
                    d.clone(),
                    rec.clone(),
                );
                let text = fetched.text;
                let weight = text.as_ref().map_or(0, String::len);
                off_runtime(
                    weight,
                    move || detail_facts(&profile, &agency, &req, &record, text, cached, key),
                    || (extraction_failed(agency_id, &d, &rec), None),
                )
                .await
            };
            if rec.error.is_some() {
                progress.errors.fetch_add(1, Ordering::Relaxed);
            }
            if rec.not_modified {
                progress.not_modified.fetch_add(1, Ordering::Relaxed);
            }
            (facts, rec, update)
        })
        .buffer_unordered(DETAIL_BUFFER);
    // Each page packed as soon as it is read: the walk holds a few hundred bytes per page,
    // not its facts and fetch record as structs.
    while let Some((facts, rec, update)) = results.next().await {
        read.push(Finished {
            facts,
            fetch: Some(rec),
            cache: update.map(PackedUpdate::from),
        });
    }
    Walked {
        out,
        pages: Some(Pages {
            read,
            list_signals,
            list_national,
            profile: Arc::clone(profile),
        }),
    }
}

/// Decide which fetched links count as services, and count what was read.
///
/// - A page robots.txt disallows was never read: it is `excluded` (never a service in the
///   denominator of a share, no finding of its own), and it leaves the agency's coverage
///   incomplete (a listed service not observed, `Coverage::complete`).
/// - Several pages carrying the same code are one service (the first read page, by URL),
///   with every URL in its evidence and a note, so every count and rule sees one set.
fn settle_services(out: &mut AgencyCrawl) {
    let before = out.services.len();
    out.services.retain(|s| {
        s.fetch
            .error
            .as_ref()
            .is_none_or(|e| e.kind != AssessReason::RobotsDisallowed)
    });
    let disallowed = before - out.services.len();
    if disallowed > 0 {
        out.notes.push(format!(
            "{disallowed} listed service pages are disallowed by robots.txt: not read, outside the shares; the agency is not fully assessed"
        ));
        out.coverage.excluded.insert(
            crate::facts::ROBOTS_DISALLOWED.into(),
            i64::try_from(disallowed).unwrap_or(i64::MAX),
        );
    }

    // Group by code (services are sorted by code, then URL); pages without a code stay apart.
    let mut merged: Vec<ServiceFacts> = Vec::with_capacity(out.services.len());
    let mut duplicates = 0usize;
    for s in std::mem::take(&mut out.services) {
        match merged.last_mut() {
            Some(prev) if !s.code.is_empty() && prev.code == s.code => {
                duplicates += 1;
                // A read page is a better representative than an unread one.
                let keep_new = prev.fetch.error.is_some() && s.fetch.error.is_none();
                let other = if keep_new {
                    std::mem::replace(prev, s)
                } else {
                    s
                };
                if prev.fetch.error.is_none() && other.fetch.error.is_none() {
                    merge_read_pages(prev, &other);
                }
                note_duplicate(prev, &other.url);
            }
            _ => merged.push(s),
        }
    }
    out.services = merged;
    if duplicates > 0 {
        out.notes.push(format!(
            "{duplicates} pages repeat the code of another page: each code is one service"
        ));
        out.coverage
            .excluded
            .insert("duplicate_code".into(), duplicates as i64);
    }

    out.coverage.read = 0;
    out.coverage.unread.clear();
    for s in &out.services {
        match &s.fetch.error {
            None => out.coverage.read += 1,
            Some(e) => {
                *out.coverage
                    .unread
                    .entry(e.kind.as_str().to_string())
                    .or_default() += 1
            }
        }
    }
    // Listed links are services (after the exclusions above), read or not, or cut by a bound.
    let excluded: i64 = out.coverage.excluded.values().sum();
    out.coverage.listed = (out.coverage.listed - excluded).max(0);
}

/// At most this many other URLs are kept as evidence of a repeated code.
const MAX_DUPLICATE_URLS: usize = 16;

/// Record on `kept` that `url` carries the same code (bounded like all evidence).
/// Two read pages of one code: a signature signal seen on either is seen (as a list item's
/// signals add to its page's); levels that disagree make the level unknown (which page is
/// right is not observed), never the first URL's by sort order.
fn merge_read_pages(kept: &mut ServiceFacts, other: &ServiceFacts) {
    let disagree = kept.level != other.level
        && kept.level != crate::facts::Level::Unknown
        && other.level != crate::facts::Level::Unknown;
    if disagree && kept.unknown.iter().all(|u| u.fact != "level") {
        for fact in crate::extract::LEVEL_FACTS {
            kept.unknown.push(crate::facts::UnknownFact {
                fact: fact.into(),
                kind: AssessReason::NoData,
                message: crate::facts::excerpt(&format!(
                    "pages of code {} disagree on the level: \"{}\" at {}, \"{}\" at {}",
                    kept.code, kept.level_label, kept.url, other.level_label, other.url
                )),
                may_hold: Vec::new(),
            });
        }
    }
    let mut all = std::mem::take(&mut kept.signature.evidence);
    for e in &other.signature.evidence {
        if !all.contains(e) {
            all.push(e.clone());
        }
    }
    kept.signature = crate::extract::summarise_signature(all);
    // A national-portal link on either page is seen (the site-wide marking that follows
    // decides whether it is the service's own).
    for e in other
        .evidence
        .iter()
        .filter(|e| e.field == "national_portal_link")
    {
        if !kept.evidence.contains(e) {
            kept.evidence.push(e.clone());
        }
    }
    kept.national_portal_link |= other.national_portal_link;
}

fn note_duplicate(kept: &mut ServiceFacts, url: &str) {
    let pages = 1 + kept
        .evidence
        .iter()
        .filter(|e| e.kind == "duplicate_code")
        .count();
    if pages > MAX_DUPLICATE_URLS {
        return;
    }
    kept.evidence.push(Evidence {
        kind: "duplicate_code".into(),
        field: "code".into(),
        locator: String::new(),
        excerpt: format!(
            "mã {0} cũng có ở trang này / same code {0} on this page too",
            kept.code
        ),
        url: url.to_string(),
        provider: String::new(),
        site_wide: false,
    });
}

/// A list page's outcome, its cache entry (a `200` with validators to a plain GET, not
/// redirected), and the chain's state back. Parsing of a large page runs off the runtime.
async fn read_list_page(
    profile: &Arc<Profile>,
    rec: &FetchRecord,
    text: String,
    req: &PageRequest,
    state: ListState,
    fingerprint: &str,
    vars: &AgencyVars,
) -> (
    extract::ListOutcome,
    Option<(String, CachedPage)>,
    ListState,
) {
    let weight = text.len();
    let page = page_of(rec, text);
    let task = {
        let (profile, req, rec, fingerprint) = (
            Arc::clone(profile),
            req.clone(),
            rec.clone(),
            fingerprint.to_string(),
        );
        let mut state = state;
        move || {
            let (listed, scan) = extract::list_page_scanned(&profile, &page, &req, &mut state);
            // A page read as an app shell or as invalid JSON is a verdict on that content,
            // replayed alike while it is unchanged (as detail pages keep `too_large`). A
            // redirected page is not kept: its validators belong to another URL, and its 304
            // could never come (validators go with the first hop only).
            let update = scan
                .filter(|_| {
                    rec.status == 200 && rec.redirects.is_empty() && list_cache::cacheable(&req)
                })
                .and_then(|scan| {
                    list_cache::encode(
                        &req.url,
                        rec.etag.as_deref(),
                        rec.last_modified.as_deref(),
                        extract::normalised_hash(&profile, &page.body),
                        &fingerprint,
                        scan,
                    )
                });
            (listed, update, state)
        }
    };
    off_runtime(weight, task, || {
        let failed = extract::ListOutcome {
            could_not_assess: Some(AssessReason::NoData),
            notes: vec!["extraction failed on this page (a bug: please report it)".into()],
            ..extract::ListOutcome::default()
        };
        (failed, None, ListState::new(vars))
    })
    .await
}

/// Bodies up to this size are extracted on the async worker itself (see [`off_runtime`]).
const INLINE_MAX: usize = 64 * 1024;

/// Extraction runs at most this many pages at once (one per core): more threads would only
/// contend for the same cores.
static EXTRACT_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });

/// Run CPU-bound extraction on the blocking pool, so parsing pages never starves the runtime
/// whose timers time the fetches (a starved runtime records false timeouts). A panic inside
/// extraction (a bug) gives `fallback()` instead of ending the walk.
///
/// A small page (`weight` bytes of body up to [`INLINE_MAX`]) is extracted in place instead:
/// it takes a fraction of a millisecond, less than handing it to the blocking pool and back
/// (two thread switches per page were most of the crawl's kernel time on the nation
/// benchmark), and too little to delay the runtime's timers.
async fn off_runtime<T: Send + 'static>(
    weight: usize,
    f: impl FnOnce() -> T + Send + 'static,
    fallback: impl FnOnce() -> T,
) -> T {
    if weight <= INLINE_MAX {
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|_| fallback());
    }
    // The semaphore is never closed, so `acquire` cannot fail; if it did, run unbounded.
    let _slot = EXTRACT_SLOTS.acquire().await.ok();
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(_) => fallback(),
    }
}

/// Facts for a page whose extraction panicked: nothing to judge, and said so.
fn extraction_failed(agency_id: &str, req: &PageRequest, rec: &FetchRecord) -> ServiceFacts {
    let mut facts = ServiceFacts {
        agency_id: agency_id.to_string(),
        url: req.url.clone(),
        fetch: fetch_facts(rec),
        ..ServiceFacts::default()
    };
    facts.fetch.error = Some(ErrorFact {
        kind: AssessReason::NoData,
        message: "extraction failed on this page (a bug: please report it)".into(),
    });
    req.hint.fill(&mut facts);
    facts
}

/// Facts for one detail fetch: fresh extraction, the stored extraction on a 304, or the
/// recorded error. `key` is the entry's extraction key ([`list_cache::entry_key`]).
fn detail_facts(
    profile: &Profile,
    agency_id: &str,
    req: &PageRequest,
    rec: &FetchRecord,
    text: Option<String>,
    cached: Option<(CachedPage, ServiceFacts)>,
    key: i64,
) -> (ServiceFacts, Option<CacheUpdate>) {
    if rec.not_modified
        && let Some((c, mut facts)) = cached
    {
        // An outcome read from the unchanged content (e.g. `too_large`) still holds.
        let stored_error = facts.fetch.error.take();
        facts.fetch = fetch_facts(rec);
        facts.fetch.error = facts.fetch.error.take().or(stored_error);
        facts.fetch.sha256 = c.content_hash.clone();
        facts.fetch.bytes = 0;
        return (facts, None);
    }
    let Some(text) = text else {
        let mut facts = ServiceFacts {
            agency_id: agency_id.to_string(),
            url: req.url.clone(),
            fetch: fetch_facts(rec),
            ..ServiceFacts::default()
        };
        if facts.fetch.error.is_none() {
            // A 304 whose stored extraction is gone or unreadable: nothing to judge.
            facts.fetch.error = Some(ErrorFact {
                kind: AssessReason::NoData,
                message: format!("HTTP {} and no stored extraction to reuse", rec.status),
            });
        }
        req.hint.fill(&mut facts);
        // A 200 whose body was refused for what it is (too large, undecodable) is a verdict on
        // that content: remember it with the validators, so an unchanged page costs a 304.
        let content_verdict =
            rec.status == 200
                && facts.fetch.error.as_ref().is_some_and(|e| {
                    matches!(e.kind, AssessReason::TooLarge | AssessReason::Decode)
                });
        let update = content_verdict
            .then(|| {
                let json = state_json(&facts)?;
                let (url, page) = validators(req, rec, String::new(), key)?;
                Some(CacheUpdate::Ready(
                    url,
                    CachedPage {
                        extraction_json: json,
                        ..page
                    },
                ))
            })
            .flatten();
        return (facts, update);
    };
    let hash = extract::normalised_hash(profile, &text);
    let mut page = page_of(rec, text);
    // Hand the hash to extraction, which would otherwise compute it a second time.
    page.fetch.sha256 = hash.clone();
    let mut facts = extract::detail_page(profile, &page, agency_id);
    req.hint.fill(&mut facts);
    let update = if facts.fetch.error.is_none() {
        validators(req, rec, hash, key).map(|(url, page)| CacheUpdate::Service(url, page))
    } else {
        None
    };
    (facts, update)
}

/// What to remember of a detail page for the next run's conditional GET, without its
/// extraction: only pages that sent validators.
fn validators(
    req: &PageRequest,
    rec: &FetchRecord,
    content_hash: String,
    key: i64,
) -> Option<(String, CachedPage)> {
    if rec.etag.is_none() && rec.last_modified.is_none() {
        return None;
    }
    Some((
        req.url.clone(),
        CachedPage {
            etag: rec.etag.clone(),
            last_modified: rec.last_modified.clone(),
            content_hash,
            extraction_json: String::new(),
            extraction_key: Some(key),
        },
    ))
}

/// A service's facts as the page cache keeps them: without how the page was read (a replay
/// sets its own time, status and size), so the text is the service state the run stores and
/// the history database keeps it once for both.
fn state_json(facts: &ServiceFacts) -> Option<String> {
    let mut state = facts.clone();
    state.fetch.fetched_at.clear();
    state.fetch.status = 0;
    state.fetch.bytes = 0;
    serde_json::to_string(&state).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str, url: &str, error: Option<AssessReason>) -> ServiceFacts {
        ServiceFacts {
            agency_id: "a".into(),
            code: code.into(),
            url: url.into(),
            fetch: FetchFacts {
                error: error.map(|kind| ErrorFact {
                    kind,
                    message: kind.as_str().into(),
                }),
                ..FetchFacts::default()
            },
            ..ServiceFacts::default()
        }
    }

    #[test]
    fn pages_of_one_code_that_disagree_leave_the_level_unknown_and_pool_their_signals() {
        use crate::facts::Level;
        let mut a = service("1.1", "https://x/a", None);
        a.level = Level::Full;
        a.level_label = "Toàn trình".into();
        let mut b = service("1.1", "https://x/b", None);
        b.level = Level::Partial;
        b.level_label = "Một phần".into();
        b.signature = crate::extract::summarise_signature(vec![Evidence {
            kind: "script_src".into(),
            field: "signature.supported".into(),
            provider: "vgca".into(),
            url: b.url.clone(),
            ..Evidence::default()
        }]);
        // Only the second page links the service on the national portal.
        let own_link = Evidence {
            kind: "selector".into(),
            field: "national_portal_link".into(),
            excerpt: "https://dichvucong.gov.vn/?ma_thu_tuc=1.1".into(),
            url: b.url.clone(),
            ..Evidence::default()
        };
        b.national_portal_link = true;
        b.evidence.push(own_link.clone());
        let mut out = AgencyCrawl {
            services: vec![a, b],
            coverage: Coverage {
                listed: 2,
                ..Coverage::default()
            },
            ..AgencyCrawl::default()
        };
        settle_services(&mut out);
        let kept = &out.services[0];
        assert_eq!(out.services.len(), 1);
        // Before: the first URL's "full" stood and the other page's VGCA signal was dropped.
        assert!(
            kept.unknown
                .iter()
                .any(|u| u.fact == "level" && u.message.contains("disagree")),
            "{:?}",
            kept.unknown
        );
        assert_eq!(kept.signature.providers, vec!["vgca".to_string()]);
        assert!(kept.national_portal_link && kept.evidence.contains(&own_link));
        let rules = match crate::rules::RuleSet::bundled() {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        };
        let agency = crate::rules::bench::synthetic_agency();
        for o in rules.evaluate_service(kept, &agency) {
            if ["LVL-001", "SIG-001", "SIG-002"].contains(&&*o.rule_id) {
                assert_eq!(o.verdict.as_str(), "could_not_assess", "{o:?}");
            }
        }
    }

    /// What a walk packs is what it reads back: facts, fetch record and cache update alike.
    #[test]
    fn a_packed_page_reads_back_unchanged() {
        let mut facts = service("1.1", "https://x/a", Some(AssessReason::TooLarge));
        facts.unknown.push(crate::facts::UnknownFact {
            fact: "level".into(),
            kind: AssessReason::Unobservable,
            message: "no source".into(),
            may_hold: Vec::new(),
        });
        let rec = FetchRecord {
            url: "https://x/a".into(),
            redirects: vec!["https://x/b".into()],
            charset_note: "header said utf-8".into(),
            etag: Some("\"e\"".into()),
            bytes_wire: 7,
            not_modified: true,
            ..FetchRecord::default()
        };
        let page = CachedPage {
            etag: Some("\"e\"".into()),
            last_modified: None,
            content_hash: "ab".into(),
            extraction_json: "{}".into(),
            extraction_key: None,
        };
        let mut read: Packed<Finished> = Packed::default();
        for ready in [true, false] {
            let update = if ready {
                CacheUpdate::Ready("https://x/a".into(), page.clone())
            } else {
                CacheUpdate::Service("https://x/a".into(), page.clone())
            };
            read.push(Finished {
                facts: facts.clone(),
                fetch: Some(rec.clone()),
                cache: Some(update.into()),
            });
        }
        read.push(Finished {
            facts: facts.clone(),
            fetch: None,
            cache: None,
        });
        let back = read.unpack();
        assert_eq!(back.lost, 0);
        assert_eq!(back.items.len(), 3);
        for (f, ready) in back.items.into_iter().zip([Some(true), Some(false), None]) {
            assert_eq!(f.facts, facts);
            match (f.cache.map(CacheUpdate::from), ready) {
                (Some(CacheUpdate::Ready(url, p)), Some(true))
                | (Some(CacheUpdate::Service(url, p)), Some(false)) => {
                    assert_eq!((url.as_str(), &p), ("https://x/a", &page));
                    assert_eq!(f.fetch.as_ref(), Some(&rec));
                }
                (None, None) => assert_eq!(f.fetch, None),
                (u, _) => panic!("{u:?} read back where {ready:?} was packed"),
            }
        }
    }

    #[test]
    fn one_code_is_one_service_and_disallowed_links_are_not_services() {
        let mut out = AgencyCrawl {
            services: vec![
                service("1.1", "https://x/a", Some(AssessReason::HttpStatus)),
                service("1.1", "https://x/b", None),
                service("1.1", "https://x/c", None),
                service("1.2", "https://x/d", None),
                service("", "https://x/e", Some(AssessReason::RobotsDisallowed)),
                service("", "https://x/f", Some(AssessReason::Timeout)),
            ],
            coverage: Coverage {
                listed: 6,
                ..Coverage::default()
            },
            ..AgencyCrawl::default()
        };
        out.services
            .sort_by(|a, b| (&a.code, &a.url).cmp(&(&b.code, &b.url)));
        settle_services(&mut out);
        let kept: Vec<(&str, &str)> = out
            .services
            .iter()
            .map(|s| (s.code.as_str(), s.url.as_str()))
            .collect();
        // The read page represents the code; the disallowed link is gone.
        assert_eq!(
            kept,
            [
                ("", "https://x/f"),
                ("1.1", "https://x/b"),
                ("1.2", "https://x/d")
            ]
        );
        let dup = out.services.iter().find(|s| s.code == "1.1").expect("1.1");
        let urls: Vec<&str> = dup
            .evidence
            .iter()
            .filter(|e| e.kind == "duplicate_code")
            .map(|e| e.url.as_str())
            .collect();
        assert_eq!(urls, ["https://x/a", "https://x/c"]);
        let c = &out.coverage;
        assert_eq!(c.listed, 3);
        assert_eq!(c.read, 2);
        assert_eq!(c.unread.get("timeout"), Some(&1));
        assert_eq!(c.excluded.get("duplicate_code"), Some(&2));
        assert_eq!(c.excluded.get("robots_disallowed"), Some(&1));
        assert!(!c.complete());
    }
}
