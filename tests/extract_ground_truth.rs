//! Every service of the `demo` world, crawled with the bundled profiles, compared with the
//! ground truth field by field. One test collects every mismatch, prints them all, then fails.

mod crawl_common;

use std::collections::BTreeMap;
use std::fmt::Debug;

use dvc_audit::crawl::walk::{NoCache, Progress};
use dvc_audit::facts::ServiceFacts;
use dvc_audit::sandbox::{ServiceTruth, Size};

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
    let err = f.fetch.error.as_ref().map(|e| e.kind.to_string());
    if t.expect != "ok" {
        m.field(&who, "fetch.error.kind", Some(t.expect.clone()), err);
        m.field(&who, "agency_id", &t.agency_id, &f.agency_id);
        return;
    }
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
        "signature.site_wide_providers",
        sorted(&ts.site_wide_providers),
        sorted(&fs.site_wide_providers),
    );
    m.field(
        &who,
        "national_portal_link",
        t.national_portal_link,
        f.national_portal_link,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_world_extraction_equals_ground_truth() {
    let h = crawl_common::start(Size::Demo);
    let config = crawl_common::load_config(&h, 0.0);
    let fetcher = crawl_common::fetcher(&config.crawl);
    let runs = crawl_common::crawl_all(&config, &fetcher, &NoCache, &Progress::default()).await;
    let truth = h.ground_truth();
    let mut m = Mismatches(Vec::new());

    let spa_without_api: Vec<&str> = truth
        .agencies
        .iter()
        .filter(|a| a.defects.iter().any(|d| d == "spa_without_api"))
        .map(|a| a.id.as_str())
        .collect();
    assert!(
        !spa_without_api.is_empty(),
        "the demo world plants spa_without_api"
    );

    let mut extracted: BTreeMap<(String, String), &ServiceFacts> = BTreeMap::new();
    for run in &runs {
        let noapi = spa_without_api.contains(&run.agency_id.as_str());
        let reason = run.could_not_assess.as_ref().map(|e| e.kind.to_string());
        if noapi {
            m.field(
                &run.agency_id,
                "agency could_not_assess",
                Some("spa_without_api".to_string()),
                reason,
            );
            m.field(
                &run.agency_id,
                "services of an spa without api",
                0,
                run.services.len(),
            );
            continue;
        }
        if let Some(e) = &run.could_not_assess {
            eprintln!("{}: {} ({:?})", run.agency_id, e.message, run.notes);
        }
        m.field(&run.agency_id, "agency could_not_assess", None, reason);
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

    let mut compared = 0;
    for t in &truth.services {
        if spa_without_api.contains(&t.agency_id.as_str()) {
            m.field(
                &t.agency_id,
                "truth expect",
                "spa_without_api",
                t.expect.as_str(),
            );
            continue;
        }
        if t.expect.as_str() == "robots_disallowed" {
            // Never read: a listing note, not a service.
            if extracted
                .remove(&(t.agency_id.clone(), t.url.clone()))
                .is_some()
            {
                m.0.push(format!(
                    "{}/{}: a robots-disallowed link counted as a service",
                    t.agency_id, t.code
                ));
            }
            continue;
        }
        match extracted.remove(&(t.agency_id.clone(), t.url.clone())) {
            Some(f) => {
                compare(&mut m, t, f);
                compared += 1;
            }
            None => m.0.push(format!(
                "{}/{}: not extracted ({})",
                t.agency_id, t.code, t.url
            )),
        }
    }
    for ((agency, url), _) in extracted {
        m.0.push(format!(
            "{agency}: {url} extracted but not in the ground truth"
        ));
    }
    eprintln!(
        "compared {compared} services of {} in the truth; {} mismatches",
        truth.services.len(),
        m.0.len()
    );
    for line in &m.0 {
        eprintln!("MISMATCH {line}");
    }
    assert!(compared > 100, "too few services compared: {compared}");
    assert!(m.0.is_empty(), "{} mismatches (listed above)", m.0.len());
}
