//! Conditional GETs for list pages, against a served `demo` world with the page cache in a
//! real store (written by `Store::put_cached_pages`, read through `CacheReader` as a run
//! does): a re-run over an unchanged world gets a 304 for every list page and every readable
//! detail page, finds the same services and costs a small fraction of the bytes; when a
//! portal publishes a service, only the list page that changed is read again (200), the new
//! service is found, and the next run is all 304s again.

mod crawl_common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use dvc_audit::crawl::FetchRecord;
use dvc_audit::crawl::walk::{AgencyCrawl, NoCache, PageCache, Progress};
use dvc_audit::facts::ServiceFacts;
use dvc_audit::sandbox::{GroundTruth, RequestRecord, Size};
use dvc_audit::store::{CacheReader, Store};

/// These tests are about what is fetched, not about politeness: a moderate rate.
const RATE: f64 = 50.0;

/// The world's config with timeouts that a loaded machine does not trip (a page that times
/// out is neither a 304 nor a 200, and says nothing about caching); the hanging page (30 s)
/// still outlasts them.
fn test_config(h: &dvc_audit::sandbox::SandboxHandle) -> dvc_audit::config::Config {
    let mut config = crawl_common::load_config(h, RATE);
    let c = &mut config.crawl;
    c.connect_timeout_ms = 4000;
    c.read_timeout_ms = 4000;
    c.total_timeout_ms = 5000;
    config
}

/// Write one run's cache updates into the store at `path` and open the reader a run uses.
fn remember(path: &Path, runs: &[AgencyCrawl]) -> CacheReader {
    let mut store = Store::open(path).expect("store");
    for r in runs {
        store
            .put_cached_pages(&r.cache_entries())
            .expect("cache written");
    }
    CacheReader::open(path).expect("cache reader")
}

fn list_fetches(r: &AgencyCrawl) -> &[FetchRecord] {
    r.fetches
        .get(..r.list_pages)
        .expect("list fetches come first")
}

fn detail_fetches(r: &AgencyCrawl) -> &[FetchRecord] {
    r.fetches.get(r.list_pages..).unwrap_or_default()
}

fn services(runs: &[AgencyCrawl]) -> BTreeMap<String, &ServiceFacts> {
    runs.iter()
        .flat_map(|r| r.services.iter())
        .map(|s| (s.url.clone(), s))
        .collect()
}

fn wire_bytes(runs: &[AgencyCrawl]) -> u64 {
    runs.iter()
        .flat_map(|r| r.fetches.iter())
        .map(|f| f.bytes_wire)
        .sum()
}

/// Facts without what legitimately differs between a 200 and a 304.
fn comparable(f: &ServiceFacts) -> ServiceFacts {
    let mut f = f.clone();
    f.fetch.status = 0;
    f.fetch.bytes = 0;
    f.fetch.fetched_at.clear();
    f.fetch.error = f.fetch.error.map(|mut e| {
        e.message.clear();
        e
    });
    f
}

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(std::sync::atomic::Ordering::Relaxed)
}

async fn crawl(
    config: &dvc_audit::config::Config,
    cache: &dyn PageCache,
    progress: &Progress,
) -> Vec<AgencyCrawl> {
    let fetcher = crawl_common::fetcher(&config.crawl);
    crawl_common::crawl_all(config, &fetcher, cache, progress).await
}

/// A surprise inspection's walk of every agency (`n` services drawn with `seed`): the service
/// URLs per agency, and how many list pages were not modified.
async fn sampled(
    config: &dvc_audit::config::Config,
    cache: &dyn PageCache,
    n: usize,
    seed: u64,
) -> (Vec<Vec<String>>, usize) {
    let profiles = dvc_audit::profile::ProfileSet::bundled().expect("bundled profiles");
    let fetcher = crawl_common::fetcher(&config.crawl);
    let progress = Progress::default();
    let mut urls = Vec::new();
    let mut replayed = 0;
    for a in &config.agencies {
        let mut vars = dvc_audit::extract::AgencyVars::new(&a.id, &a.portal);
        vars.extend(a.vars.clone());
        let job = dvc_audit::crawl::walk::AgencyJob {
            agency_id: a.id.clone(),
            vars,
            profile: std::sync::Arc::clone(profiles.get(&a.platform).expect("profile")),
            max_pages: config.crawl.max_pages_per_agency,
            sample: Some((n, seed)),
            redirect_hosts: Vec::new(),
        };
        let r = dvc_audit::crawl::walk::crawl_agency(&fetcher, job, cache, &progress).await;
        replayed += list_fetches(&r).iter().filter(|f| f.not_modified).count();
        let mut u: Vec<String> = r.services.iter().map(|s| s.url.clone()).collect();
        u.sort();
        urls.push(u);
    }
    (urls, replayed)
}

/// Every list page of every agency answered 304 and was replayed.
fn assert_all_lists_not_modified(runs: &[AgencyCrawl]) {
    for r in runs {
        assert!(r.list_pages > 0, "{}: a listing was read", r.agency_id);
        for f in list_fetches(r) {
            assert!(
                f.not_modified && f.status == 304,
                "{}: list page {} answered {}",
                r.agency_id,
                f.url,
                f.status
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_world_costs_only_headers_on_rerun() {
    let h = crawl_common::start(Size::Demo);
    let config = test_config(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.sqlite");

    let first = crawl(&config, &NoCache, &Progress::default()).await;
    let lists1: usize = first.iter().map(|r| r.list_pages).sum();
    assert!(
        first
            .iter()
            .flat_map(|r| r.cache_entries())
            .filter(|(_, c)| c.extraction_json.contains("\"cache_kind\":\"list_page\""))
            .count()
            == lists1,
        "every list page is remembered"
    );

    h.clear_request_log();
    let cache = remember(&db, &first);
    let progress = Progress::default();
    let second = crawl(&config, &cache, &progress).await;
    let log2 = h.request_log();

    assert_all_lists_not_modified(&second);
    // Every detail page the first run could read is a 304 now (the planted failures, which
    // left nothing to remember, are asked again).
    let got = services(&first);
    for r in &second {
        for f in detail_fetches(r) {
            // A link robots.txt disallows is not a service (a listing note), never fetched.
            let Some(before) = got.get(&f.url) else {
                assert_eq!(
                    f.error.as_ref().map(|e| e.kind),
                    Some(dvc_audit::facts::AssessReason::RobotsDisallowed),
                    "{}: same detail pages requested",
                    f.url
                );
                continue;
            };
            if before.fetch.error.is_none() {
                assert!(f.not_modified, "{}: detail answered {}", f.url, f.status);
            }
        }
    }
    // The same walk: services, listing sizes, pagination endings and notes.
    let again = services(&second);
    assert_eq!(got.len(), again.len());
    for (url, f) in &got {
        let g = again
            .get(url)
            .unwrap_or_else(|| panic!("{url} found again"));
        assert_eq!(comparable(f), comparable(g), "{url}: same facts");
    }
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.agency_id, b.agency_id);
        assert_eq!(a.listed, b.listed, "{}", a.agency_id);
        assert_eq!(a.list_pages, b.list_pages, "{}", a.agency_id);
        assert_eq!(a.listing_end, b.listing_end, "{}", a.agency_id);
        assert_eq!(a.notes, b.notes, "{}", a.agency_id);
        assert_eq!(
            a.could_not_assess.as_ref().map(|e| e.kind),
            b.could_not_assess.as_ref().map(|e| e.kind),
            "{}",
            a.agency_id
        );
        assert!(
            b.cache_updates.is_empty()
                || b.cache_entries()
                    .iter()
                    .all(|(u, _)| got.get(u).is_some_and(|f| f.fetch.error.is_some())),
            "{}: a 304 needs no new entry",
            a.agency_id
        );
    }
    // Progress counts the replayed list pages as not modified, like detail pages.
    let not_modified = second
        .iter()
        .flat_map(|r| r.fetches.iter())
        .filter(|f| f.not_modified)
        .count() as u64;
    assert_eq!(load(&progress.not_modified), not_modified);
    assert!(not_modified >= lists1 as u64);

    let (wire1, wire2) = (wire_bytes(&first), wire_bytes(&second));
    // What a re-run cost when list pages were fetched unconditionally.
    let list_wire1: u64 = first
        .iter()
        .flat_map(|r| list_fetches(r).iter())
        .map(|f| f.bytes_wire)
        .sum();
    let sent2: u64 = log2.iter().map(|r| r.bytes).sum();
    eprintln!(
        "demo world: first run {wire1} B on the wire ({lists1} list pages: {list_wire1} B); \
         re-run {wire2} B ({:.2}%), sandbox sent {sent2} B body in {} responses, \
         {not_modified} not modified",
        wire2 as f64 * 100.0 / wire1.max(1) as f64,
        log2.len()
    );
    assert!(wire2 * 20 < wire1, "re-run {wire2} B vs first {wire1} B");

    // A surprise inspection draws the same sample from a replayed listing.
    let (fresh, _) = sampled(&config, &NoCache, 3, 42).await;
    let (replayed, not_modified) = sampled(&config, &cache, 3, 42).await;
    assert_eq!(not_modified, lists1);
    assert_eq!(fresh, replayed);
    assert!(fresh.iter().filter(|u| !u.is_empty()).all(|u| u.len() == 3));
}

/// A `table` agency (offset pages of ten) without the planted pagination loop whose last
/// service is a plain one (assessable, no planted behaviour, only level-label variants): its
/// id, service count and the last service's detail URL.
fn table_agency(truth: &GroundTruth) -> (String, usize, String) {
    truth
        .agencies
        .iter()
        .filter(|a| {
            a.platform == "table"
                && !a.defects.iter().any(|d| d == "pagination_loop")
                && a.service_count > 20
        })
        .find_map(|a| {
            let last = truth
                .services
                .iter()
                .filter(|s| s.agency_id == a.id)
                .max_by_key(|s| s.url.clone())?;
            let plain = last.expect == "ok"
                && last
                    .defects
                    .iter()
                    .all(|d| d.starts_with("level_") || d.starts_with("no_level"));
            plain.then(|| (a.id.clone(), a.service_count, last.url.clone()))
        })
        .expect("the demo world has a plain table agency")
}

/// The `count=` offset of a table list request.
fn offset(r: &RequestRecord) -> Option<usize> {
    r.path
        .split_once("count=")?
        .1
        .split('&')
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_service_is_found_through_the_one_changed_list_page() {
    let h = crawl_common::start(Size::Demo);
    let config = test_config(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.sqlite");
    let (id, count, new_url) = table_agency(&h.ground_truth());
    let portal_host = format!("dvc.{id}.sandbox.test");

    // Run 1: the portal has not published its newest service yet.
    assert!(
        h.mutate(|o| o.set_published_services(&id, count - 1))
            .expect("mutate")
    );
    let first = crawl(&config, &NoCache, &Progress::default()).await;
    assert!(!services(&first).contains_key(&new_url));

    // Run 2: it is published. Its list page changed; every other page did not.
    assert!(
        h.mutate(|o| o.set_published_services(&id, count))
            .expect("mutate")
    );
    h.clear_request_log();
    let cache = remember(&db, &first);
    let second = crawl(&config, &cache, &Progress::default()).await;
    let log2 = h.request_log();

    let found = services(&second);
    let new = found.get(&new_url).expect("the new service is found");
    assert!(new.fetch.error.is_none(), "{:?}", new.fetch.error);
    assert_eq!(found.len(), services(&first).len() + 1);
    let changed_page = (count - 1) / 10 * 10;
    // The page before it changes too when the new service opens a page (its pager gains a
    // link); every page before those is unchanged.
    let unchanged_below = if (count - 1) % 10 == 0 {
        changed_page.saturating_sub(10)
    } else {
        changed_page
    };
    let mut saw_changed = false;
    for r in log2.iter().filter(|r| r.path.contains("count=")) {
        let o = offset(r).expect("an offset");
        if r.host != portal_host || o < unchanged_below {
            assert_eq!(r.status, 304, "{}{} is unchanged", r.host, r.path);
        } else if o == changed_page {
            assert_eq!(r.status, 200, "{}{} changed", r.host, r.path);
            saw_changed = true;
        }
    }
    assert!(saw_changed, "the changed list page was requested");
    let (_, new_path) = new_url
        .split_once(".sandbox.test")
        .and_then(|(_, rest)| rest.split_once('/'))
        .expect("detail path");
    let new_detail: Vec<&RequestRecord> = log2
        .iter()
        .filter(|r| r.host == portal_host && r.path == format!("/{new_path}"))
        .collect();
    assert_eq!(new_detail.len(), 1);
    assert!(new_detail.iter().all(|r| r.status == 200 && !r.conditional));
    // Every other detail page of the agency is a 304.
    let agency = second.iter().find(|r| r.agency_id == id).expect("walked");
    for f in detail_fetches(agency).iter().filter(|f| f.url != new_url) {
        assert!(f.not_modified, "{} answered {}", f.url, f.status);
    }

    // Run 3: the 200s of run 2 updated the cache, so nothing changed means all 304s again.
    let cache = remember(&db, &second);
    let third = crawl(&config, &cache, &Progress::default()).await;
    assert_all_lists_not_modified(&third);
    let again = services(&third);
    assert!(again.contains_key(&new_url));
    let urls = |m: &BTreeMap<String, &ServiceFacts>| m.keys().cloned().collect::<HashSet<_>>();
    assert_eq!(urls(&again), urls(&found));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_or_foreign_entries_cost_a_full_fetch_never_a_page() {
    let h = crawl_common::start(Size::Demo);
    let config = test_config(&h);
    let first = crawl(&config, &NoCache, &Progress::default()).await;

    // Spoil every other entry: list entries alternately written for another profile or vars
    // (fingerprint) and cut short; detail entries replaced by something that is not facts.
    let cache = crawl_common::MapCache::from_runs(&first);
    let mut spoiled: HashSet<String> = HashSet::new();
    let mut kinds = [0usize; 3];
    {
        let mut map = cache.0.lock().expect("cache");
        let mut keys: Vec<String> = map.keys().cloned().collect();
        keys.sort();
        for (i, url) in keys.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            let Some(entry) = map.get_mut(url) else {
                continue;
            };
            let json = &mut entry.extraction_json;
            let kind = if !json.contains("\"cache_kind\":\"list_page\"") {
                0
            } else if i % 4 == 0 {
                1
            } else {
                2
            };
            *json = match kind {
                0 => "{\"not\":\"facts\"}".to_string(),
                1 => json.replacen("\"fingerprint\":\"", "\"fingerprint\":\"0", 1),
                _ => json.chars().take(json.len() / 2).collect(),
            };
            kinds[kind] += 1;
            spoiled.insert(url.clone());
        }
    }
    assert!(
        kinds.iter().all(|&n| n > 0),
        "every kind of spoilage: {kinds:?}"
    );

    let second = crawl(&config, &cache, &Progress::default()).await;
    let mut refetched = 0;
    for f in second.iter().flat_map(|r| r.fetches.iter()) {
        if spoiled.contains(&f.url) {
            assert!(!f.not_modified, "{}: no validators sent", f.url);
            refetched += 1;
        } else if cache.get(&f.url).is_some() {
            assert!(f.not_modified, "{}: answered {}", f.url, f.status);
        }
    }
    assert_eq!(refetched, spoiled.len());
    // Nothing lost: the same services and listings, and every refetched page remembered anew.
    let (got, again) = (services(&first), services(&second));
    assert_eq!(got.len(), again.len());
    for (url, f) in &got {
        let g = again
            .get(url)
            .unwrap_or_else(|| panic!("{url} found again"));
        assert_eq!(comparable(f), comparable(g), "{url}: same facts");
    }
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(
            (a.listed, a.list_pages),
            (b.listed, b.list_pages),
            "{}",
            a.agency_id
        );
    }
    let renewed: HashSet<String> = second
        .iter()
        .flat_map(|r| r.cache_entries().into_iter().map(|(u, _)| u))
        .collect();
    assert!(spoiled.iter().all(|u| renewed.contains(u)));
}

/// A stored extraction is the old profile's reading of a page: after the profile changes, an
/// unchanged page is read again (no validators sent, a 200), never answered by a 304 that
/// replays facts the new profile would not give; the next run with the new profile is all
/// 304s again, and agencies of other profiles keep their cache throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_profile_rereads_unchanged_pages_once_instead_of_replaying_old_facts() {
    use dvc_audit::facts::Level;
    let h = crawl_common::start(Size::Demo);
    let config = test_config(&h);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.sqlite");
    let bundled = dvc_audit::profile::ProfileSet::bundled().expect("bundled profiles");
    let fetcher = crawl_common::fetcher(&config.crawl);
    let first =
        crawl_common::crawl_with(&config, &bundled, &fetcher, &NoCache, &Progress::default()).await;

    // The edit: the `table` profile no longer recognises any level label.
    let edited_id = "table";
    let mut edited = bundled.clone();
    let mut table = (**bundled.get(edited_id).expect("table profile")).clone();
    table.levels.rules.clear();
    edited.insert(table);
    let is_edited = |agency: &str| {
        config
            .agencies
            .iter()
            .any(|a| a.id == agency && a.platform == edited_id)
    };
    assert!(
        first.iter().any(|r| is_edited(&r.agency_id)),
        "a table portal"
    );
    let read_with_level = |runs: &[AgencyCrawl]| {
        runs.iter()
            .filter(|r| is_edited(&r.agency_id))
            .flat_map(|r| r.services.iter())
            .filter(|s| s.fetch.error.is_none() && s.level != Level::Unknown)
            .count()
    };
    assert!(
        read_with_level(&first) > 0,
        "levels read by the bundled profile"
    );

    let cache = remember(&db, &first);
    let second =
        crawl_common::crawl_with(&config, &edited, &fetcher, &cache, &Progress::default()).await;
    assert_eq!(
        read_with_level(&second),
        0,
        "the edited profile's reading, not the stored one"
    );
    for r in &second {
        let replayed = r.fetches.iter().filter(|f| f.not_modified).count();
        if is_edited(&r.agency_id) {
            assert_eq!(replayed, 0, "{}: nothing replayed", r.agency_id);
        } else {
            assert!(replayed > 0, "{}: its cache still holds", r.agency_id);
        }
    }

    let cache = remember(&db, &second);
    let third =
        crawl_common::crawl_with(&config, &edited, &fetcher, &cache, &Progress::default()).await;
    assert_all_lists_not_modified(&third);
    assert_eq!(read_with_level(&third), 0);
    let before = services(&second);
    for r in third.iter().filter(|r| is_edited(&r.agency_id)) {
        for f in detail_fetches(r) {
            if before.get(&f.url).is_some_and(|s| s.fetch.error.is_none()) {
                assert!(f.not_modified, "{}: detail answered {}", f.url, f.status);
            }
        }
    }
}
