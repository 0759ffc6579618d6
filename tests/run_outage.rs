//! An outage is never a verdict, across runs (issue 14): against a served sandbox world, an
//! agency that is up, then down (list pages 500, detail pages 503, or every host unreachable),
//! then up again gives
//! - run 2: the same exit code as run 1, nothing resolved, every earlier finding it could not
//!   re-check *unverified* (still open), the trend point "not measured", coverage incomplete
//!   in the report;
//! - run 3: nothing regressed, nothing new, every finding of run 1 persisting.
//!
//! A sampled surprise run during a detail outage leaves the sampled services' findings
//! unverified, never resolved.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use dvc_audit::report::Mode;
use dvc_audit::run::pipeline::{self, RunOptions, RunSummary};
use dvc_audit::run::setup::Setup;
use dvc_audit::sandbox::{Outage, Size};
use dvc_audit::store::Store;
use support::world;

/// The tiny world's table-shaped agency: service, aggregate and host findings in run 1.
const AGENCY: &str = "danang";

fn no_mail() -> RunOptions {
    RunOptions {
        send_mail: false,
        ..RunOptions::default()
    }
}

async fn run(setup: &Setup, opts: RunOptions) -> RunSummary {
    pipeline::run(setup, opts, None)
        .await
        .expect("the run completes")
}

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

/// Failing fingerprints of a run, optionally of one agency and scope.
fn fails(store: &Store, run: i64, agency: Option<&str>, scope: Option<&str>) -> BTreeSet<String> {
    store
        .findings(run)
        .expect("findings")
        .into_iter()
        .filter(|f| f.outcome == "fail")
        .filter(|f| agency.is_none_or(|a| f.agency_id == a))
        .filter(|f| scope.is_none_or(|s| f.scope == s))
        .map(|f| f.fingerprint)
        .collect()
}

fn report_json(summary: &RunSummary) -> serde_json::Value {
    let path = summary
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON report");
    serde_json::from_slice(&std::fs::read(path).expect("read report.json")).expect("JSON")
}

/// Up → `outage` → up for [`AGENCY`]; returns (findings of run 1 of the agency, the
/// unverified of run 2) after asserting the lifecycle promises.
async fn up_down_up(outage: Outage) -> (BTreeSet<String>, BTreeSet<String>) {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into(), "html".into(), "text".into()];
    });

    let r1 = run(&setup, no_mail()).await;
    served
        .handle
        .mutate(|o| assert!(o.set_outage(AGENCY, outage)))
        .expect("mutate");
    let r2 = run(&setup, no_mail()).await;
    served
        .handle
        .mutate(|o| assert!(o.set_outage(AGENCY, Outage::None)))
        .expect("mutate");
    let r3 = run(&setup, no_mail()).await;

    let store = Store::open(&served.db()).expect("store");
    let f1 = fails(&store, r1.run_id, None, None);
    let mine = fails(&store, r1.run_id, Some(AGENCY), None);
    assert!(
        !fails(&store, r1.run_id, Some(AGENCY), Some("service")).is_empty()
            && !fails(&store, r1.run_id, Some(AGENCY), Some("agency")).is_empty(),
        "run 1 has service and aggregate findings for {AGENCY}"
    );

    // Run 2: nothing looked at is called fixed; the exit code does not drop.
    let d2 = &r2.diff;
    assert_eq!(r2.exit, r1.exit, "{outage:?}: same exit code");
    assert!(
        d2.resolved.is_empty(),
        "{outage:?}: resolved {:?}",
        d2.resolved
    );
    assert!(
        d2.new.is_empty() && d2.regressed.is_empty(),
        "{outage:?}: {d2:?}"
    );
    let unverified = set(&d2.unverified);
    assert!(
        !unverified.is_empty(),
        "{outage:?}: some findings unverified"
    );
    assert!(unverified.is_subset(&mine), "{outage:?}: only {AGENCY}'s");
    assert!(
        set(&d2.persisting).is_disjoint(&unverified),
        "{outage:?}: a finding is persisting or unverified, not both"
    );
    let carried: BTreeSet<String> = set(&d2.persisting).union(&unverified).cloned().collect();
    assert_eq!(carried, f1, "{outage:?}: every earlier finding carried");
    // Every service and aggregate finding of the agency could not be re-checked.
    for scope in ["service", "agency"] {
        let want = fails(&store, r1.run_id, Some(AGENCY), Some(scope));
        assert!(
            want.is_subset(&unverified),
            "{outage:?}: {scope} findings unverified"
        );
    }
    // Nothing of the agency was read: its trend point is not measured, not 100% or 0%.
    let trend = store.trend(AGENCY).expect("trend");
    let p2 = trend
        .iter()
        .find(|p| p.run_id == r2.run_id)
        .expect("point of run 2");
    assert!(!p2.measured, "{outage:?}: run 2 not measured");
    assert_eq!(p2.signature_share(), None);
    assert_eq!(p2.level_share(), None);
    assert!(
        trend
            .iter()
            .find(|p| p.run_id == r1.run_id)
            .is_some_and(|p| p.measured)
    );
    // The report says so, with the same numbers.
    let json = report_json(&r2);
    assert_eq!(
        json["totals"]["unverified"].as_i64(),
        Some(unverified.len() as i64)
    );
    assert_eq!(json["totals"]["resolved"].as_i64(), Some(0));
    assert_eq!(r2.totals.unverified, unverified.len() as i64);
    let agency = json["agencies"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["facts"]["id"] == AGENCY))
        .expect("agency in report.json")
        .clone();
    assert_eq!(
        agency["unverified_findings"].as_array().map(Vec::len),
        Some(unverified.len())
    );
    assert_eq!(agency["coverage"]["read"].as_i64(), Some(0));
    assert!(!r2.coverage[AGENCY].complete());
    let text = r2
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| std::fs::read_to_string(p).expect("text report"))
        .expect("text report");
    assert!(
        text.contains("Chưa kiểm tra lại được") || text.contains("chưa kiểm tra lại được"),
        "the text report names the unverified state"
    );

    // Run 3: back up; nothing regressed, nothing new, everything persists.
    let d3 = &r3.diff;
    assert!(
        d3.regressed.is_empty() && d3.new.is_empty() && d3.resolved.is_empty(),
        "{outage:?}: run 3 {d3:?}"
    );
    assert!(d3.unverified.is_empty(), "{outage:?}: run 3 re-checked all");
    assert_eq!(set(&d3.persisting), f1, "{outage:?}: run 3 persisting");
    assert_eq!(r3.exit, r1.exit);
    (mine, unverified)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_outage_leaves_findings_unverified_not_resolved() {
    let (mine, unverified) = up_down_up(Outage::ListError).await;
    // The hosts were up: their findings were re-checked (persisting), the rest unverified.
    assert!(unverified.len() < mine.len() || mine.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detail_outage_leaves_findings_unverified_not_resolved() {
    up_down_up(Outage::DetailError).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_agency_leaves_every_finding_unverified() {
    let (mine, unverified) = up_down_up(Outage::Down).await;
    // Host findings too: nothing of the agency could be re-checked.
    assert_eq!(unverified, mine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_surprise_run_during_an_outage_resolves_nothing() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into()];
    });
    let r1 = run(&setup, no_mail()).await;
    served
        .handle
        .mutate(|o| assert!(o.set_outage(AGENCY, Outage::DetailError)))
        .expect("mutate");
    let surprise = run(
        &setup,
        RunOptions {
            mode: Mode::Surprise,
            agencies: vec![AGENCY.to_string()],
            sample_services: Some(4),
            seed: Some(11),
            ..no_mail()
        },
    )
    .await;
    served
        .handle
        .mutate(|o| assert!(o.set_outage(AGENCY, Outage::None)))
        .expect("mutate");
    let r3 = run(&setup, no_mail()).await;

    let store = Store::open(&served.db()).expect("store");
    let scope = store.run(surprise.run_id).expect("run").scope;
    let sampled: BTreeSet<String> = scope.services.expect("a sample").into_iter().collect();
    assert_eq!(sampled.len(), 4, "the listing was read: 4 services drawn");
    let in_sample: BTreeSet<String> = store
        .findings(r1.run_id)
        .expect("findings")
        .into_iter()
        .filter(|f| f.outcome == "fail" && f.scope == "service" && sampled.contains(&f.subject))
        .map(|f| f.fingerprint)
        .collect();
    assert!(!in_sample.is_empty(), "the sample covers earlier findings");
    let d = &surprise.diff;
    assert!(
        d.resolved.is_empty() && d.new.is_empty() && d.regressed.is_empty(),
        "{d:?}"
    );
    assert!(
        in_sample.is_subset(&set(&d.unverified)),
        "the sampled services' findings are unverified: {d:?}"
    );
    // The unverified findings still count at their severity.
    let worst_sampled = store
        .findings(r1.run_id)
        .expect("findings")
        .into_iter()
        .filter(|f| in_sample.contains(&f.fingerprint))
        .filter_map(|f| dvc_audit::facts::Severity::parse(&f.severity))
        .max();
    assert!(
        surprise.worst >= worst_sampled,
        "{:?} < {worst_sampled:?}",
        surprise.worst
    );
    // The next regular run: everything persists.
    let f1 = fails(&store, r1.run_id, None, None);
    assert!(r3.diff.resolved.is_empty() && r3.diff.regressed.is_empty() && r3.diff.new.is_empty());
    assert_eq!(set(&r3.diff.persisting), f1);
}

/// A listing that stops on a page that is no list (a maintenance page answered 200) without
/// saying so: coverage is not complete although every listed service was read, and the
/// agency's aggregate findings of the run before are not resolved by a walk that saw part of
/// the portal. Before, the walk counted as complete: AGY-* findings could be resolved, and the
/// shares were computed on the first list page as if it were the whole portal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_stops_on_a_maintenance_page_is_not_complete() {
    let served = world::serve(Size::Demo, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into()];
        c.email.enabled = false;
    });
    let r1 = run(&setup, no_mail()).await;
    // An agency listed over several pages, with a total announced, and aggregate findings.
    let store = Store::open(&served.db()).expect("store");
    let id = r1
        .coverage
        .iter()
        .find(|(id, c)| {
            c.complete()
                && c.announced.is_some_and(|a| a > 20)
                && !fails(&store, r1.run_id, Some(id), Some("agency")).is_empty()
        })
        .map(|(id, _)| id.clone())
        .expect("a multi-page agency with aggregate findings");
    drop(store);
    served
        .handle
        .mutate(|o| assert!(o.set_outage(&id, Outage::ListMaintenance)))
        .expect("mutate");
    let r2 = run(&setup, no_mail()).await;
    let cov = &r2.coverage[&id];
    assert!(
        cov.listed > 0 && cov.listed < cov.announced.unwrap_or_default(),
        "{cov:?}"
    );
    assert!(!cov.complete(), "{cov:?}");
    let store = Store::open(&served.db()).expect("store");
    let aggregate = fails(&store, r1.run_id, Some(&id), Some("agency"));
    assert!(
        set(&r2.diff.resolved).is_disjoint(&aggregate),
        "aggregate findings resolved by a partial listing: {:?}",
        r2.diff.resolved
    );
    let json = report_json(&r2);
    assert!(
        json["totals"]["agencies_incomplete"].as_i64() >= Some(1),
        "{}",
        json["totals"]
    );
    let terminal = dvc_audit::run::cmd::render_summary(&r2);
    assert!(
        terminal.contains("coverage incomplete") && terminal.contains(&format!("{id} (")),
        "{terminal}"
    );
}

/// The same for a portal that announces no total (the table shape): its listing stops on a
/// maintenance page at page 2 (answered 200, in the portal's theme, no list on it). The page
/// the pager promised is not a list page: the listing could not be assessed past page 1,
/// coverage is not complete, and no aggregate finding of run 1 is resolved. Before, the
/// maintenance page read as the listing's normal end (no new services, no pager).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_listing_without_a_total_that_stops_on_a_maintenance_page_is_not_complete() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into()];
        c.email.enabled = false;
    });
    let r1 = run(&setup, no_mail()).await;
    let cov1 = &r1.coverage[AGENCY];
    assert!(
        cov1.complete() && cov1.announced.is_none() && cov1.listed > 10,
        "run 1: {AGENCY} is listed over several pages without a total: {cov1:?}"
    );
    let store = Store::open(&served.db()).expect("store");
    let aggregate = fails(&store, r1.run_id, Some(AGENCY), Some("agency"));
    assert!(!aggregate.is_empty(), "run 1 has aggregate findings");
    drop(store);
    served
        .handle
        .mutate(|o| assert!(o.set_outage(AGENCY, Outage::ListMaintenance)))
        .expect("mutate");
    let r2 = run(&setup, no_mail()).await;
    let cov = &r2.coverage[AGENCY];
    assert!(cov.listed > 0 && cov.listed < cov1.listed, "{cov:?}");
    assert!(!cov.complete(), "{cov:?}");
    assert_eq!(
        cov.listing_error,
        Some(dvc_audit::facts::AssessReason::NoData),
        "{cov:?}"
    );
    assert!(
        set(&r2.diff.resolved).is_disjoint(&aggregate),
        "aggregate findings resolved by a partial listing: {:?}",
        r2.diff.resolved
    );
    // The run's notes name the page that was no list page.
    assert!(
        r2.notes
            .iter()
            .any(|n| n.starts_with(AGENCY) && n.contains("count=10") && n.contains("no list page")),
        "{:?}",
        r2.notes
    );
    let json = report_json(&r2);
    assert!(
        json["totals"]["agencies_incomplete"].as_i64() >= Some(1),
        "{}",
        json["totals"]
    );
}

/// robots.txt starts to forbid half of an agency's listed service pages: they are listed
/// services not observed, so the agency is not fully assessed (coverage incomplete, its
/// aggregate findings not resolved on the allowed half), while its shares stay over the
/// services read. Before, disallowed links left the denominator and coverage stayed complete:
/// AGY-* were judged and resolved on the allowed subset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_robots_txt_forbids_leave_the_agency_not_fully_assessed() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into()];
        c.email.enabled = false;
    });
    let r1 = run(&setup, no_mail()).await;
    assert!(r1.coverage[AGENCY].complete(), "{:?}", r1.coverage[AGENCY]);
    let store = Store::open(&served.db()).expect("store");
    let aggregate = fails(&store, r1.run_id, Some(AGENCY), Some("agency"));
    assert!(!aggregate.is_empty(), "run 1 has aggregate findings");
    drop(store);
    let mut forbidden = 0;
    served
        .handle
        .mutate(|o| {
            let a = o.agency(AGENCY).expect("agency").clone();
            let codes: Vec<String> = (0..a.service_count / 2)
                .filter_map(|i| o.service_at(a.index, i).map(|s| s.code))
                .collect();
            for code in codes {
                if let Some(s) = o.service(&code) {
                    s.robots_disallowed = true;
                    forbidden += 1;
                }
            }
        })
        .expect("mutate");
    assert!(forbidden > 0);
    let r2 = run(&setup, no_mail()).await;
    let cov = &r2.coverage[AGENCY];
    assert_eq!(
        cov.excluded.get("robots_disallowed").copied(),
        Some(forbidden),
        "{cov:?}"
    );
    assert!(!cov.complete(), "{cov:?}");
    assert!(
        set(&r2.diff.resolved).is_disjoint(&aggregate),
        "aggregate findings resolved on the allowed services only: {:?}",
        r2.diff.resolved
    );
    let json = report_json(&r2);
    let agency = json["agencies"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["facts"]["id"] == AGENCY))
        .expect("agency in report.json")
        .clone();
    assert_eq!(agency["assessment"], "partial", "{}", agency["coverage"]);
    // Shares stay over the services read.
    assert_eq!(agency["services_read"].as_i64(), Some(cov.read));
}
