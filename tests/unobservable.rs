//! Facts a portal's published interface does not carry are unknown, not false (issue #17's
//! last gap). A real run over the sandbox `platforms` world: the national portal's JSON API
//! (`dvcqg-api`) has no level, signature or national-link field, OpenCPS carries `maxLevel`
//! only. Their services are never failed on what could not be observed (no LVL-001 finding),
//! they and the agency aggregates are could-not-assess `unobservable` with a reason that says
//! on how many services, the other platforms' verdicts are the ground truth's, and every
//! output counts the could-not-assess lines.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::Size;
use dvc_audit::store::{FindingRecord, Store};
use support::truth::{actual, assert_same, expected, unobservable};
use support::world;

fn platform_agency(truth: &dvc_audit::sandbox::GroundTruth, platform: &str) -> String {
    truth
        .agencies
        .iter()
        .find(|a| a.platform == platform)
        .map(|a| a.id.clone())
        .unwrap_or_else(|| panic!("an agency on {platform}"))
}

fn of<'a>(findings: &'a [FindingRecord], agency: &str, rule: &str) -> Vec<&'a FindingRecord> {
    findings
        .iter()
        .filter(|f| f.agency_id == agency && f.rule_id == rule)
        .collect()
}

fn show(f: &[&FindingRecord]) -> Vec<(String, String, String, String)> {
    f.iter()
        .map(|f| {
            (
                f.subject.clone(),
                f.outcome.clone(),
                f.reason.clone(),
                f.message_en.clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unobservable_fields_are_could_not_assess_in_a_real_run() {
    let served = world::serve(Size::Platforms, 1, Duration::from_millis(100)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = ["json", "text"].map(String::from).to_vec();
    });
    let summary = pipeline::run(&setup, RunOptions::default(), None)
        .await
        .expect("the run completes");
    let truth = served.handle.ground_truth();
    let store = Store::open(&served.db()).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");

    // Every platform's verdicts are the ground truth's (which knows what each contract
    // carries): the portals whose facts are all observable are unchanged.
    assert_same(
        "platforms world",
        &expected(&truth),
        &actual(&truth, &findings),
    );
    for a in &truth.agencies {
        if unobservable(&a.platform).is_empty() {
            let unobs: Vec<_> = findings
                .iter()
                .filter(|f| f.agency_id == a.id && f.reason == "unobservable")
                .collect();
            assert!(unobs.is_empty(), "{}: {:?}", a.platform, show(&unobs));
        }
    }

    // The national portal's API: no level to observe, so no LVL-001 failure; every service
    // is could-not-assess `unobservable` on it instead, and on the rules whose `when` reads
    // the level.
    let vpcp = platform_agency(&truth, "dvcqg-api");
    let services: Vec<_> = truth
        .services
        .iter()
        .filter(|s| s.agency_id == vpcp)
        .collect();
    assert!(!services.is_empty());
    let subjects: BTreeSet<String> = services
        .iter()
        .map(|s| format!("{vpcp}/{}", s.code))
        .collect();
    for rule in ["LVL-001", "LVL-002", "SIG-001", "SIG-003", "NPL-001"] {
        let f = of(&findings, &vpcp, rule);
        assert!(
            f.iter().all(|f| f.outcome == "could_not_assess"),
            "{rule}: {:?}",
            show(&f)
        );
        let cna: BTreeSet<String> = f
            .iter()
            .filter(|f| f.reason == "unobservable")
            .map(|f| f.subject.clone())
            .collect();
        assert_eq!(cna, subjects, "{rule}: every service, reason unobservable");
    }
    let lvl = of(&findings, &vpcp, "LVL-001");
    assert!(
        lvl.iter()
            .all(|f| f.message_en.contains("level_label") && f.message_en.contains("dvcqg-api")),
        "the reason names the fact and the profile: {:?}",
        show(&lvl)
    );
    // Its services are not failed on anything.
    assert!(
        !findings
            .iter()
            .any(|f| f.agency_id == vpcp && f.outcome == "fail" && f.scope == "service")
    );

    // The agency's shares are could-not-assess (not "not applicable", not a pass or fail),
    // saying on how many services the fact was unknown.
    let read = format!("on {n} of {n} read services", n = services.len());
    for rule in ["AGY-001", "AGY-002"] {
        let f = of(&findings, &vpcp, rule);
        assert_eq!(f.len(), 1, "{rule}: {:?}", show(&f));
        assert_eq!(
            (f[0].outcome.as_str(), f[0].reason.as_str()),
            ("could_not_assess", "unobservable"),
            "{rule}"
        );
        assert!(
            f[0].message_en.contains(&read),
            "{rule}: {}",
            f[0].message_en
        );
    }

    // OpenCPS: the level is read (LVL-001 judged as usual, never unobservable), the
    // signature is not: a full-process service is not failed by SIG-001.
    let bxd = platform_agency(&truth, "opencps");
    assert!(
        of(&findings, &bxd, "LVL-001")
            .iter()
            .all(|f| f.reason != "unobservable")
    );
    let full: BTreeSet<String> = truth
        .services
        .iter()
        .filter(|s| s.agency_id == bxd && s.level == dvc_audit::facts::Level::Full)
        .map(|s| format!("{bxd}/{}", s.code))
        .collect();
    assert!(
        !full.is_empty(),
        "the OpenCPS portal has full-process services"
    );
    let sig: BTreeMap<String, (String, String)> = of(&findings, &bxd, "SIG-001")
        .iter()
        .map(|f| (f.subject.clone(), (f.outcome.clone(), f.reason.clone())))
        .collect();
    for s in &full {
        assert_eq!(
            sig.get(s),
            Some(&("could_not_assess".to_string(), "unobservable".to_string())),
            "{s}"
        );
    }
    // Its level share is computed (the level is observable); its signature share is not.
    assert!(
        of(&findings, &bxd, "AGY-002")
            .iter()
            .all(|f| f.reason != "unobservable")
    );
    assert_eq!(
        of(&findings, &bxd, "AGY-001")
            .iter()
            .map(|f| f.reason.as_str())
            .collect::<Vec<_>>(),
        ["unobservable"]
    );

    // The outputs count them: one could-not-assess line per subject and reason, the same
    // number in the store's aggregate and in the JSON and text reports.
    let lines = |agency: &str| -> i64 {
        findings
            .iter()
            .filter(|f| f.agency_id == agency && f.outcome == "could_not_assess")
            .map(|f| (f.subject.clone(), f.reason.clone()))
            .collect::<BTreeSet<_>>()
            .len() as i64
    };
    let unassessed = store.unassessed_counts(summary.run_id).expect("counts");
    assert_eq!(
        unassessed.get(&vpcp).copied(),
        Some(services.len() as i64 + 1),
        "every service and the agency itself"
    );
    assert_eq!(unassessed.get(&vpcp).copied(), Some(lines(&vpcp)));
    let report = |ext: &str| -> String {
        let path = summary
            .reports
            .iter()
            .find(|p| p.extension().is_some_and(|x| x == ext))
            .unwrap_or_else(|| panic!("no .{ext} report in {:?}", summary.reports));
        std::fs::read_to_string(path).expect("read the report")
    };
    let json: serde_json::Value = serde_json::from_str(&report("json")).expect("json");
    let total: i64 = unassessed.values().sum();
    assert_eq!(json["totals"]["could_not_assess"].as_i64(), Some(total));
    let agency = json["agencies"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["facts"]["id"] == vpcp.as_str()))
        .unwrap_or_else(|| panic!("{vpcp} in the JSON report"));
    let listed = agency["could_not_assess"].as_array().map(Vec::len);
    assert!(listed.is_some_and(|n| n > 0), "{agency}");
    // A share over levels nobody could observe is no measurement: not 0 %, not "n/a = pass".
    assert!(agency["shares"]["vgca"].is_null(), "{}", agency["shares"]);
    assert!(
        agency["shares"]["level_published"].is_null(),
        "{}",
        agency["shares"]
    );
    let counts = store
        .service_counts(summary.run_id)
        .expect("service counts");
    let c = counts.get(&vpcp).copied().unwrap_or_default();
    assert!(c.read > 0 && c.level_unobserved == c.read, "{c:?}");
    assert_eq!((c.vgca_share(), c.level_share()), (None, None));
    let trend = store.trends(&[vpcp.as_str()], 5).expect("trends");
    let point = trend
        .get(&vpcp)
        .and_then(|p| p.last())
        .expect("a trend point");
    assert_eq!((point.signature_share(), point.level_share()), (None, None));
    let text = report("txt");
    assert!(
        text.contains("Giao diện công bố của cổng không có trường thông tin này."),
        "the text report explains the reason"
    );
}
