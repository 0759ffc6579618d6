//! The `platforms` sandbox world (docs/sandbox-world.md, "Platform shapes"): each newer portal
//! shape read by its bundled profile alone, every field equal to the ground truth; and a real
//! `run` over it, where the list-only API portal's services get verdicts from the rules (its
//! facts come from the list items), not "could not assess".

mod crawl_common;
mod support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use dvc_audit::crawl::walk::{NoCache, Progress};
use dvc_audit::facts::{Level, ServiceFacts};
use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::{ServiceTruth, Size};
use dvc_audit::store::Store;
use support::truth::{actual, assert_same, expected};
use support::world;

struct Mismatches(Vec<String>);

impl Mismatches {
    fn field<T: PartialEq + Debug>(&mut self, who: &str, field: &str, truth: T, got: T) {
        if truth != got {
            self.0.push(format!(
                "{who}: {field}: truth {truth:?}, extracted {got:?}"
            ));
        }
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

fn compare(m: &mut Mismatches, t: &ServiceTruth, f: &ServiceFacts) {
    let who = format!("{}/{} ({})", t.agency_id, t.code, t.url);
    m.field(&who, "fetch.error", None, f.fetch.error.as_ref());
    m.field(&who, "agency_id", &t.agency_id, &f.agency_id);
    m.field(&who, "code", &t.code, &f.code);
    m.field(&who, "name", &t.name, &f.name);
    m.field(&who, "url", &t.url, &f.url);
    m.field(&who, "level", t.level, f.level);
    m.field(&who, "level_label", &t.level_label, &f.level_label);
    let (ts, fs) = (&t.signature, &f.signature);
    m.field(&who, "signature.required", ts.required, fs.required);
    m.field(&who, "signature.supported", ts.supported, fs.supported);
    m.field(
        &who,
        "signature.providers",
        sorted(&ts.providers),
        sorted(&fs.providers),
    );
    m.field(&who, "signature.site_wide", ts.site_wide, fs.site_wide);
    m.field(
        &who,
        "national_portal_link",
        t.national_portal_link,
        f.national_portal_link,
    );
}

/// The platform (profile id) of each agency of the platforms world.
fn platform_of(truth: &dvc_audit::sandbox::GroundTruth, agency: &str) -> String {
    truth
        .agencies
        .iter()
        .find(|a| a.id == agency)
        .map(|a| a.platform.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_platform_shape_is_read_by_its_profile_alone() {
    let h = crawl_common::start(Size::Platforms);
    let config = crawl_common::load_config(&h, 0.0);
    let fetcher = crawl_common::fetcher(&config.crawl);
    let runs = crawl_common::crawl_all(&config, &fetcher, &NoCache, &Progress::default()).await;
    let truth = h.ground_truth();
    let platforms: Vec<String> = truth.agencies.iter().map(|a| a.platform.clone()).collect();
    assert_eq!(
        platforms,
        ["dl", "list-api", "dvcqg-api", "opencps", "liferay", "igate"],
        "one portal per platform shape"
    );
    let mut m = Mismatches(Vec::new());
    let mut extracted: BTreeMap<(String, String), &ServiceFacts> = BTreeMap::new();
    for run in &runs {
        let reason = run.could_not_assess.as_ref().map(|e| e.kind.to_string());
        if platform_of(&truth, &run.agency_id) == "igate" {
            // An Angular shell and no public API: never a pass or a fail.
            m.field(
                &run.agency_id,
                "agency could_not_assess",
                Some("spa_without_api".to_string()),
                reason,
            );
            m.field(&run.agency_id, "services", 0, run.services.len());
            continue;
        }
        m.field(&run.agency_id, "agency could_not_assess", None, reason);
        // Each shape's listing ends its own way (an empty page past the end, an empty items
        // array, no next link, a null cursor): a normal end, the listing complete.
        m.field(
            &run.agency_id,
            "coverage complete",
            true,
            run.coverage.complete(),
        );
        for s in &run.services {
            if extracted
                .insert((s.agency_id.clone(), s.url.clone()), s)
                .is_some()
            {
                m.0.push(format!("{}: {} extracted twice", s.agency_id, s.url));
            }
        }
    }
    assert_eq!(runs.len(), truth.agencies.len());
    let mut compared: BTreeMap<String, usize> = BTreeMap::new();
    for t in &truth.services {
        let platform = platform_of(&truth, &t.agency_id);
        if platform == "igate" {
            m.field(&t.agency_id, "truth expect", "spa_without_api", &t.expect);
            continue;
        }
        m.field(&t.agency_id, "truth expect", "ok", &t.expect);
        match extracted.remove(&(t.agency_id.clone(), t.url.clone())) {
            Some(f) => {
                compare(&mut m, t, f);
                *compared.entry(platform).or_default() += 1;
            }
            None => m.0.push(format!(
                "{}/{}: not extracted ({})",
                t.agency_id, t.code, t.url
            )),
        }
    }
    for ((agency, url), _) in extracted {
        m.0.push(format!("{agency}: {url} extracted but not in the truth"));
    }
    for line in &m.0 {
        eprintln!("MISMATCH {line}");
    }
    assert!(m.0.is_empty(), "{} mismatches (listed above)", m.0.len());
    for p in ["dl", "list-api", "dvcqg-api", "opencps", "liferay"] {
        assert_eq!(compared.get(p), Some(&8), "{p}: every service compared");
    }

    // The fields each shape exists to exercise were really read (not equal by being empty).
    let of = |platform: &str| -> Vec<&ServiceFacts> {
        runs.iter()
            .filter(|r| platform_of(&truth, &r.agency_id) == platform)
            .flat_map(|r| r.services.iter())
            .collect()
    };
    for p in ["dl", "list-api", "opencps", "liferay"] {
        let services = of(p);
        assert!(
            services.iter().any(|s| s.level != Level::Unknown),
            "{p}: levels read"
        );
    }
    // dt/dd: the dossier's several <dd> were read (its requirement text is in the last one).
    assert!(
        of("dl").iter().any(|s| s.signature.required),
        "dl: dossier read"
    );
    // The list-only API: each service's evidence is its item (pointer + hash) and every
    // fact says it came from the list.
    for s in of("list-api") {
        let item = s.evidence.iter().find(|e| e.kind == "list_item");
        let item = item.unwrap_or_else(|| panic!("{}: no list_item evidence", s.url));
        assert!(item.locator.starts_with("/data/items/"), "{}", item.locator);
        assert_eq!(item.excerpt, format!("sha256:{}", s.fetch.sha256));
        assert!(
            s.evidence
                .iter()
                .chain(&s.signature.evidence)
                .all(|e| e.kind == "list_item" || e.kind.starts_with("list:")),
            "{:?}",
            s.evidence
        );
    }
    assert!(of("list-api").iter().any(|s| s.signature.supported));
    // The national portal's API: code and name from the POST detail, no level read.
    for s in of("dvcqg-api") {
        assert!(s.url.contains("/thu-tuc-hanh-chinh/"), "{}", s.url);
        assert!(
            s.fetch.url.ends_with("/get-formality-by-citizen"),
            "{}",
            s.fetch.url
        );
        assert_eq!((s.level, s.level_label.as_str()), (Level::Unknown, ""));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_judges_the_list_only_api_portal_from_its_list_items() {
    let served = world::serve(Size::Platforms, 1, Duration::from_millis(100)).await;
    // One list-only service is a full-process service with no signing: SIG-001 must fail on
    // it, read from the list item alone.
    let truth = served.handle.ground_truth();
    let target = truth
        .services
        .iter()
        .find(|s| s.agency_id == "hanoi")
        .map(|s| s.code.clone())
        .expect("a list-api service");
    served
        .handle
        .mutate(|o| {
            if let Some(s) = o.service(&target) {
                s.level = Level::Full;
                s.level_label = "Toàn trình".into();
                s.providers.clear();
            }
        })
        .expect("mutate");
    let setup = world::setup(&served.config_path(), |_| {});
    let summary = pipeline::run(&setup, RunOptions::default(), None)
        .await
        .expect("the run completes");
    assert!(summary.complete);
    let truth = served.handle.ground_truth();
    let store = Store::open(&served.db()).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");
    assert_same(
        "platforms world",
        &expected(&truth),
        &actual(&truth, &findings),
    );
    let hanoi: Vec<_> = findings
        .iter()
        .filter(|f| f.agency_id == "hanoi" && f.scope == "service")
        .collect();
    assert!(
        hanoi.iter().all(|f| f.outcome != "could_not_assess"),
        "list-only services are assessed: {:?}",
        hanoi
            .iter()
            .map(|f| (&f.rule_id, &f.subject, &f.reason))
            .collect::<Vec<_>>()
    );
    let subject = format!("hanoi/{target}");
    assert!(
        hanoi
            .iter()
            .any(|f| f.rule_id == "SIG-001" && f.subject == subject && f.outcome == "fail"),
        "SIG-001 fails on {subject}: {:?}",
        hanoi
            .iter()
            .map(|f| (&f.rule_id, &f.subject))
            .collect::<Vec<_>>()
    );
    // Its evidence names the list item it was read from.
    let sig = hanoi
        .iter()
        .find(|f| f.rule_id == "SIG-001" && f.subject == subject);
    assert!(
        sig.is_some_and(|f| f
            .evidence
            .iter()
            .any(|e| e.locator.starts_with("/data/items/"))),
        "{sig:?}"
    );
    // The iGate portal is could-not-assess as a whole, never judged.
    assert!(findings.iter().any(|f| f.agency_id == "thainguyen"
        && f.rule_id == "AGY-001"
        && f.outcome == "could_not_assess"));
    assert!(
        !findings
            .iter()
            .any(|f| f.agency_id == "thainguyen" && f.outcome == "fail" && f.scope == "service")
    );
}

/// OpenCPS lists are plain GETs: on a second walk they answer 304 and the stored scans are
/// replayed, list items (and so the list-only services) included, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_only_services_survive_a_conditional_rerun() {
    let h = crawl_common::start(Size::Platforms);
    let config = crawl_common::load_config(&h, 0.0);
    let fetcher = crawl_common::fetcher(&config.crawl);
    let first = crawl_common::crawl_all(&config, &fetcher, &NoCache, &Progress::default()).await;
    let cache = crawl_common::MapCache::from_runs(&first);
    let progress = Progress::default();
    let second = crawl_common::crawl_all(&config, &fetcher, &cache, &progress).await;
    let opencps = |runs: &[dvc_audit::crawl::walk::AgencyCrawl]| -> Vec<ServiceFacts> {
        runs.iter()
            .filter(|r| r.agency_id == "bxd")
            .flat_map(|r| r.services.clone())
            .collect()
    };
    let (a, b) = (opencps(&first), opencps(&second));
    assert_eq!(a.len(), 8);
    assert_eq!(b.len(), a.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (&x.code, &x.url, x.level, &x.level_label, &x.evidence),
            (&y.code, &y.url, y.level, &y.level_label, &y.evidence)
        );
        assert_eq!(x.fetch.sha256, y.fetch.sha256, "the item's hash");
        assert!(y.fetch.error.is_none());
    }
    let replayed = h
        .request_log()
        .iter()
        .filter(|r| {
            r.host == "dvc.bxd.sandbox.test"
                && r.path.starts_with("/o/rest/v2/serviceinfos")
                && r.status == 304
        })
        .count();
    assert!(
        replayed >= 1,
        "the OpenCPS list answered 304 on the second walk"
    );
}
