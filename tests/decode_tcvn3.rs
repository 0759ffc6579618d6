//! TCVN3 pages end to end: a real run over a served sandbox world in which detail pages are in
//! TCVN3 (the `.VnTime` font encoding of old provincial sites), one declared `windows-1252` in
//! the header and `<meta>`, one declaring nothing, on both HTML shapes. Each is read with its
//! real facts (code, name, level and its label) and gets exactly the findings the same service
//! gets in the same world served in UTF-8; the fetch record says TCVN3 was detected and why.
//! Every other finding of the run is the ground truth's, so nothing else moved.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use dvc_audit::facts::Level;
use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::{Behaviour, ServiceTruth, Size};
use dvc_audit::store::Store;
use support::{truth, world};

/// Defects that leave a service's page served normally.
const PLAIN: [&str; 4] = [
    "level_scheme_old",
    "level_scheme_new",
    "full_without_signature",
    "site_wide_signature_only",
];

/// Two services of `agency` served normally and publishing a level.
fn two_plain(truth: &[ServiceTruth], agency: &str) -> (String, String) {
    let mut codes = truth
        .iter()
        .filter(|s| {
            s.agency_id == agency
                && s.expect == "ok"
                && !s.level_label.is_empty()
                && s.defects.iter().all(|d| PLAIN.contains(&d.as_str()))
        })
        .map(|s| s.code.clone());
    match (codes.next(), codes.next()) {
        (Some(a), Some(b)) => (a, b),
        _ => panic!("{agency} has two plain services with a level"),
    }
}

/// Make `code` a level-4 service without a signing signal in `served`: SIG-001 (or SIG-004)
/// fails on it only when its level is read, so its findings depend on the label being decoded.
fn full_without_signature(served: &world::Served, code: &str) {
    served
        .handle
        .mutate(|o| {
            if let Some(s) = o.service(code) {
                s.level = Level::Full;
                s.level_label = "Mức độ 4".to_string();
                s.providers.clear();
            }
        })
        .expect("mutate");
}

/// What a run says about one service: its findings and the facts read.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    findings: BTreeSet<(String, String, String)>,
    code: String,
    name: String,
    level: String,
    level_label: String,
}

struct Run {
    findings: Vec<dvc_audit::store::FindingRecord>,
    facts: Vec<dvc_audit::facts::ServiceFacts>,
    store: Store,
    run_id: i64,
}

async fn run(served: &world::Served) -> Run {
    let setup = world::setup(&served.config_path(), |_| {});
    let summary = pipeline::run(
        &setup,
        RunOptions {
            send_mail: false,
            ..RunOptions::default()
        },
        None,
    )
    .await
    .expect("the run completes");
    let store = Store::open(&served.db()).expect("store");
    Run {
        findings: store.findings(summary.run_id).expect("findings"),
        facts: store.service_facts(summary.run_id).expect("facts"),
        store,
        run_id: summary.run_id,
    }
}

impl Run {
    fn seen(&self, t: &ServiceTruth) -> Seen {
        // Subjects as findings name them: `agency/code`, or `agency/url` when no code was read.
        let subjects = [
            format!("{}/{}", t.agency_id, t.code),
            format!("{}/{}", t.agency_id, t.url),
        ];
        let f = self
            .facts
            .iter()
            .find(|f| f.agency_id == t.agency_id && f.code == t.code)
            .unwrap_or_else(|| panic!("facts of {} (its code was read)", t.code));
        assert!(f.fetch.error.is_none(), "{}: {:?}", t.code, f.fetch.error);
        Seen {
            findings: self
                .findings
                .iter()
                .filter(|x| subjects.contains(&x.subject))
                .map(|x| (x.rule_id.clone(), x.outcome.clone(), x.reason.clone()))
                .collect(),
            code: f.code.clone(),
            name: f.name.clone(),
            level: format!("{:?}", f.level),
            level_label: f.level_label.clone(),
        }
    }

    /// The fetch record of `t`'s detail page.
    fn record(&self, t: &ServiceTruth) -> serde_json::Value {
        let path = t.url.split_once(".test").map_or("", |(_, rest)| rest);
        let path = path.split_once('/').map_or("", |(_, p)| p);
        let record: String = self
            .store
            .connection()
            .query_row(
                "SELECT dvc_text(record_json) FROM fetches WHERE run_id = ?1
                 AND json_extract(dvc_text(record_json), '$.url') LIKE '%' || ?2",
                rusqlite::params![self.run_id, path],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("fetch record of {} ({path}): {e}", t.code));
        serde_json::from_str(&record).expect("record json")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcvn3_pages_read_like_their_utf8_twins() {
    // The same world twice: served in UTF-8, and with four detail pages in TCVN3.
    let utf8 = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let before = served.handle.ground_truth();
    // One of each on both HTML shapes: accordion (bca) and table (danang).
    let (bca_lying, bca_bare) = two_plain(&before.services, "bca");
    let (danang_lying, danang_bare) = two_plain(&before.services, "danang");
    // One lying and one undeclared page carry a level that decides a finding, in both worlds.
    for w in [&utf8, &served] {
        full_without_signature(w, &bca_lying);
        full_without_signature(w, &danang_bare);
    }
    let lying = [bca_lying, danang_lying];
    let bare = [bca_bare, danang_bare];
    served
        .handle
        .mutate(|o| {
            for code in &lying {
                if let Some(s) = o.service(code) {
                    s.behaviour = Behaviour::Tcvn3;
                }
            }
            for code in &bare {
                if let Some(s) = o.service(code) {
                    s.behaviour = Behaviour::Tcvn3Undeclared;
                }
            }
        })
        .expect("mutate");
    let gt = served.handle.ground_truth();
    let svc = |code: &str| -> ServiceTruth {
        gt.services
            .iter()
            .find(|s| s.code == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code} in the truth"))
    };
    for (codes, defect) in [(&lying, "tcvn3_page"), (&bare, "tcvn3_undeclared_page")] {
        for code in codes {
            let t = svc(code);
            assert_eq!(t.expect, "ok", "{code}");
            assert!(t.defects.iter().any(|d| d == defect), "{code}");
        }
    }

    let baseline = run(&utf8).await;
    let tcvn3 = run(&served).await;

    // The whole run is the ground truth's, TCVN3 pages included.
    truth::assert_same(
        "run with TCVN3 pages",
        &truth::expected(&gt),
        &truth::actual(&gt, &tcvn3.findings),
    );

    let mut judged_by_level = BTreeSet::new();
    for (code, declared) in lying
        .iter()
        .map(|c| (c, true))
        .chain(bare.iter().map(|c| (c, false)))
    {
        let t = svc(code);
        let seen = tcvn3.seen(&t);
        // What the UTF-8 twin of the page gave, finding for finding and fact for fact.
        assert_eq!(seen, baseline.seen(&t), "{code}");
        assert_eq!(seen.code, t.code);
        assert_eq!(seen.name, t.name, "{code}");
        assert_eq!(
            seen.level,
            format!("{:?}", t.level),
            "{code}: the real level"
        );
        assert_eq!(seen.level_label, t.level_label, "{code}");
        assert!(
            seen.findings
                .iter()
                .all(|(rule, outcome, _)| rule != "LVL-001" && outcome != "could_not_assess"),
            "{code}: {:?}",
            seen.findings
        );
        if seen
            .findings
            .iter()
            .any(|(rule, _, _)| rule == "SIG-001" || rule == "SIG-004")
        {
            judged_by_level.insert(code.clone());
        }

        // The fetch record says TCVN3 was detected, over what, and why.
        let record = tcvn3.record(&t);
        assert_eq!(record["encoding"], "TCVN3", "{record}");
        assert_eq!(record["encoding_source"], "detected", "{record}");
        let note = record["charset_note"].as_str().unwrap_or_default();
        let said = if declared {
            "header said windows-1252 but the text is TCVN3 (.VnTime font; "
        } else {
            "no charset declared; the text is TCVN3 (.VnTime font; "
        };
        assert!(note.starts_with(said), "{code}: {note}");
        assert!(note.contains("letters in Vietnamese words"), "{note}");
        let twin = baseline.record(&t);
        assert_eq!(twin["encoding"], "UTF-8", "{twin}");
    }
    // The two level-4 services fail SIG-001 (SIG-004 where the theme loads the VGCA plugin on
    // every page), which only a level read as full (or partial) can do.
    for code in [&lying[0], &bare[1]] {
        assert!(
            judged_by_level.contains(code),
            "{code}: {judged_by_level:?}"
        );
    }
}
