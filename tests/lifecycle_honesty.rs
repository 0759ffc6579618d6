//! "Resolved" means the run observed the finding fixed (reviewer items 5, 6, 8, 9), end to end
//! against a served sandbox world, two runs each with the diff asserted:
//! - a rule the second run did not evaluate (renamed in the rules dir) resolves none of its
//!   open findings: they are unverified, `rule_not_evaluated`;
//! - a rule that became not applicable because the operator changed its parameters
//!   (`government_anchor` set back to '') resolves nothing: unverified, `rule_changed`;
//! - a worse defect that makes a lesser rule not applicable (an untrusted certificate that is
//!   now expired: TLS-001's `when` is false, TLS-005 fails) does not resolve the lesser
//!   finding: unverified, masked by the failing rule; a service whose level changed (SIG-001
//!   not applicable, nothing else failing on it) is still resolved;
//! - an agency rule judged on part of a portal (most detail pages unread) is could-not-assess,
//!   never a stored failure;
//! - a service that left a completely read listing is `withdrawn` ("no longer listed"), not
//!   unverified for ever.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dvc_audit::facts::Level;
use dvc_audit::run::pipeline::{self, RunOptions, RunSummary};
use dvc_audit::run::setup::Setup;
use dvc_audit::sandbox::{Behaviour, CertDefect, Size};
use dvc_audit::store::Store;
use support::world;

fn no_mail() -> RunOptions {
    RunOptions {
        send_mail: false,
        ..RunOptions::default()
    }
}

async fn run(setup: &Setup) -> RunSummary {
    pipeline::run(setup, no_mail(), None)
        .await
        .expect("the run completes")
}

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

/// `(fingerprint, rule, subject)` of a run's findings with `outcome`.
fn rows(store: &Store, run: i64, outcome: &str) -> Vec<(String, String, String, String)> {
    store
        .findings(run)
        .expect("findings")
        .into_iter()
        .filter(|f| f.outcome == outcome)
        .map(|f| (f.fingerprint, f.rule_id, f.subject, f.agency_id))
        .collect()
}

fn fails_of(store: &Store, run: i64, rule: &str) -> BTreeSet<String> {
    rows(store, run, "fail")
        .into_iter()
        .filter(|r| r.1 == rule)
        .map(|r| r.0)
        .collect()
}

fn json_only(c: &mut dvc_audit::config::Config) {
    c.report.formats = vec!["json".into(), "text".into()];
    c.email.enabled = false;
}

/// Every service page of `agency` answers normally (no planted slow, oversized or failing
/// page, none disallowed by robots.txt), so a run can read its listing whole.
fn readable_whole(served: &world::Served, agency: &str) {
    let codes: Vec<String> = served
        .handle
        .ground_truth()
        .services
        .iter()
        .filter(|s| s.agency_id == agency)
        .map(|s| s.code.clone())
        .collect();
    served
        .handle
        .mutate(|o| {
            for c in &codes {
                let s = o.service(c).expect("service");
                s.behaviour = Behaviour::Normal;
                s.robots_disallowed = false;
            }
        })
        .expect("mutate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_renamed_between_runs_resolves_none_of_its_findings() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let r1 = run(&world::setup(&served.config_path(), json_only)).await;

    // The same pack with SIG-001 under another id, from a rules dir of the deployment's own.
    let dir = served.dir.path().join("rules-renamed");
    std::fs::create_dir_all(&dir).expect("rules dir");
    for (name, text) in dvc_audit::rules::set::BUNDLED {
        let file = std::path::Path::new(name).file_name().expect("file name");
        std::fs::write(
            dir.join(file),
            text.replace("id = \"SIG-001\"", "id = \"SIG-101\""),
        )
        .expect("write rule file");
    }
    let setup2 = world::setup(&served.config_path(), |c| {
        json_only(c);
        c.rules.dirs = vec![dir.display().to_string()];
    });
    let r2 = run(&setup2).await;

    let store = Store::open(&served.db()).expect("store");
    let sig1 = fails_of(&store, r1.run_id, "SIG-001");
    assert!(!sig1.is_empty(), "run 1 has SIG-001 failures");
    assert!(
        !fails_of(&store, r2.run_id, "SIG-101").is_empty(),
        "run 2 judged the renamed rule"
    );
    assert!(
        set(&r2.diff.resolved).is_disjoint(&sig1),
        "SIG-001 findings resolved by a run that did not evaluate SIG-001: {:?}",
        r2.diff.resolved
    );
    assert!(sig1.is_subset(&set(&r2.diff.unverified)));
    let reasons = store.unverified_reasons(r2.run_id).expect("reasons");
    for fp in &sig1 {
        assert_eq!(
            reasons.get(fp).map(String::as_str),
            Some("rule_not_evaluated")
        );
    }
    // The world did not change: nothing at all is resolved.
    assert!(r2.diff.resolved.is_empty(), "{:?}", r2.diff.resolved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_switched_off_by_its_parameters_resolves_nothing() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    // The sandbox configures the anchor set `vgca`; naming it makes TLS-003 apply.
    let r1 = run(&world::setup(&served.config_path(), |c| {
        json_only(c);
        c.rules
            .params
            .insert("government_anchor".into(), toml::Value::from("vgca"));
    }))
    .await;
    let r2 = run(&world::setup(&served.config_path(), json_only)).await;

    let store = Store::open(&served.db()).expect("store");
    let tls3 = fails_of(&store, r1.run_id, "TLS-003");
    assert!(!tls3.is_empty(), "run 1 has TLS-003 failures");
    assert!(
        set(&r2.diff.resolved).is_disjoint(&tls3),
        "TLS-003 findings resolved because the parameter changed: {:?}",
        r2.diff.resolved
    );
    assert!(tls3.is_subset(&set(&r2.diff.unverified)));
    let reasons = store.unverified_reasons(r2.run_id).expect("reasons");
    for fp in &tls3 {
        assert_eq!(reasons.get(fp).map(String::as_str), Some("rule_changed"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worse_defect_does_not_resolve_the_lesser_finding() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), json_only);
    let host = "thanhtoan.bca.sandbox.test"; // untrusted issuer: TLS-001 fails
    let relabelled = "1.001012"; // danang, full, VNPT-CA only: SIG-001 fails
    let r1 = run(&setup).await;
    served
        .handle
        .mutate(|o| {
            o.host(host).expect("host").cert = Some(CertDefect::Expired);
            let s = o.service(relabelled).expect("service");
            s.level = Level::Info;
            s.level_label = "Mức độ 2".into();
        })
        .expect("mutate");
    let r2 = run(&setup).await;

    let store = Store::open(&served.db()).expect("store");
    let port = served.handle.https_port();
    let subject = format!("{host}:{port}");
    let fp_of = |run: i64, rule: &str, subject: &str| -> Option<String> {
        rows(&store, run, "fail")
            .into_iter()
            .find(|r| r.1 == rule && r.2 == subject)
            .map(|r| r.0)
    };
    let tls1 = fp_of(r1.run_id, "TLS-001", &subject).expect("TLS-001 fails in run 1");
    assert!(
        fp_of(r2.run_id, "TLS-005", &subject).is_some(),
        "run 2: the certificate is expired"
    );
    assert!(
        !r2.diff.resolved.contains(&tls1),
        "TLS-001 resolved while the certificate is expired (trust not re-checked)"
    );
    assert!(r2.diff.unverified.contains(&tls1));
    let reasons = store.unverified_reasons(r2.run_id).expect("reasons");
    let why = reasons.get(&tls1).cloned().unwrap_or_default();
    assert!(
        why.starts_with("masked_by:") && why.contains("TLS-005"),
        "{why}"
    );
    // Not applicable with nothing else failing on the subject is still a real change.
    let sig1 = fp_of(r1.run_id, "SIG-001", &format!("danang/{relabelled}"))
        .expect("SIG-001 fails in run 1");
    assert!(
        r2.diff.resolved.contains(&sig1),
        "a service now information-only resolves SIG-001: {:?}",
        reasons.get(&sig1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agency_rules_on_part_of_a_portal_are_could_not_assess() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), json_only);
    let agency = "danang";
    let kept = "1.001012"; // full, VNPT-CA only: alone, it makes every share 0%
    let r1 = run(&setup).await;
    let store = Store::open(&served.db()).expect("store");
    let aggregate1: BTreeSet<String> = rows(&store, r1.run_id, "fail")
        .into_iter()
        .filter(|r| r.2 == agency)
        .map(|r| r.0)
        .collect();
    assert!(!aggregate1.is_empty(), "run 1 has aggregate findings");
    drop(store);

    // A 503 storm: every detail page of the agency but one answers 500.
    let codes: Vec<String> = served
        .handle
        .ground_truth()
        .services
        .iter()
        .filter(|s| s.agency_id == agency && s.code != kept)
        .map(|s| s.code.clone())
        .collect();
    served
        .handle
        .mutate(|o| {
            for c in &codes {
                if let Some(s) = o.service(c) {
                    s.behaviour = Behaviour::ServerError;
                }
            }
        })
        .expect("mutate");
    let r2 = run(&setup).await;
    let cov = &r2.coverage[agency];
    assert!(cov.read >= 1 && !cov.complete(), "{cov:?}");

    let store = Store::open(&served.db()).expect("store");
    let fails2: Vec<_> = rows(&store, r2.run_id, "fail")
        .into_iter()
        .filter(|r| r.2 == agency)
        .collect();
    assert!(
        fails2.is_empty(),
        "agency rules failed on {} of {} services: {fails2:?}",
        cov.read,
        cov.listed
    );
    let cna: BTreeMap<String, String> = store
        .findings(r2.run_id)
        .expect("findings")
        .into_iter()
        .filter(|f| f.scope == "agency" && f.subject == agency)
        .map(|f| (f.rule_id, format!("{}:{}", f.outcome, f.reason)))
        .collect();
    assert!(!cna.is_empty());
    for (rule, v) in &cna {
        assert_eq!(v, "could_not_assess:http_status", "{rule}");
    }
    // The open aggregate findings are not re-checked: unverified, never persisting.
    assert!(aggregate1.is_subset(&set(&r2.diff.unverified)));
    assert!(set(&r2.diff.persisting).is_disjoint(&aggregate1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_gone_from_a_complete_listing_is_withdrawn_not_unverified() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), json_only);
    // Withdrawal needs the listing's end confirmed by a total the portal announces: bca
    // (accordion, "trên N bản ghi") is made readable whole (its planted unreadable pages
    // answer normally), so its listing is complete and matches its total.
    readable_whole(&served, "bca");
    let r1 = run(&setup).await;
    let store = Store::open(&served.db()).expect("store");
    // An agency read completely, with a total it matched, whose last services carry findings.
    let service_fails = rows(&store, r1.run_id, "fail");
    let overrides = served.handle.overrides();
    let (agency, cut) = r1
        .coverage
        .iter()
        .filter(|(_, c)| c.complete() && c.announced == Some(c.listed))
        .find_map(|(id, _)| {
            // The highest service index of the agency with a failing finding.
            let idx = service_fails
                .iter()
                .filter(|r| &r.3 == id && r.2.starts_with(&format!("{id}/1.")))
                .filter_map(|r| overrides.find_code(r.2.trim_start_matches(&format!("{id}/"))))
                .map(|(_, i)| i)
                .max()?;
            (idx > 0).then(|| (id.clone(), idx))
        })
        .expect("a completely read agency with service findings");
    drop(store);
    // The portal publishes the services before `cut` only: the others left the catalogue.
    served
        .handle
        .mutate(|o| assert!(o.set_published_services(&agency, cut)))
        .expect("mutate");
    let r2 = run(&setup).await;
    assert!(
        r2.coverage[&agency].complete(),
        "{:?}",
        r2.coverage[&agency]
    );

    let store = Store::open(&served.db()).expect("store");
    let gone: BTreeSet<String> = rows(&store, r1.run_id, "fail")
        .into_iter()
        .filter(|r| r.3 == agency)
        .filter(|r| {
            overrides
                .find_code(r.2.trim_start_matches(&format!("{agency}/")))
                .is_some_and(|(_, i)| i >= cut)
        })
        .map(|r| r.0)
        .collect();
    assert!(!gone.is_empty());
    let withdrawn = set(&r2.diff.withdrawn);
    assert_eq!(
        withdrawn, gone,
        "the findings of the unlisted services are withdrawn"
    );
    assert!(set(&r2.diff.unverified).is_disjoint(&gone));
    assert!(set(&r2.diff.resolved).is_disjoint(&gone));
    // Nothing else was left without a verdict: the exit code owes nothing to the gone ones.
    assert!(r2.diff.unverified.is_empty(), "{:?}", r2.diff.unverified);
    assert_eq!(r2.totals.withdrawn, gone.len() as i64);
    let text = r2
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| std::fs::read_to_string(p).expect("text report"))
        .expect("text report");
    assert!(
        text.contains(&format!("Không còn trong danh mục: {}", gone.len())),
        "{text}"
    );
    for fp in &gone {
        assert_eq!(
            store.lifecycle_of(fp).expect("lifecycle").map(|l| l.2),
            Some("withdrawn".to_string())
        );
    }
    drop(store);

    // Listed again with the same defects: persisting, never new or regressed.
    served
        .handle
        .mutate(|o| assert!(o.set_published_services(&agency, usize::MAX)))
        .expect("mutate");
    let r3 = run(&setup).await;
    assert!(gone.is_subset(&set(&r3.diff.persisting)), "{:?}", r3.diff);
}

/// The findings of run 1 failing on the services of `agency` whose index in the agency is in
/// `range` (codes are the world's, so the index comes from the code).
fn fails_of_services(
    store: &Store,
    run: i64,
    agency: &str,
    overrides: &dvc_audit::sandbox::Overrides,
    range: std::ops::RangeFrom<usize>,
) -> BTreeSet<String> {
    rows(store, run, "fail")
        .into_iter()
        .filter(|r| r.3 == agency)
        .filter(|r| {
            overrides
                .find_code(r.2.trim_start_matches(&format!("{agency}/")))
                .is_some_and(|(_, i)| range.contains(&i))
        })
        .map(|r| r.0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_without_a_total_that_ends_early_withdraws_nothing() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), json_only);
    // danang: table shape (profile `table`: no total announced), 12 services on two pages of
    // 10. Service 10 (the second page's first) gets the defect of 1.001012 (full, VNPT-CA
    // only: SIG-001 fails), so the second page surely carries a finding.
    let agency = "danang";
    served
        .handle
        .mutate(|o| {
            let model = o.service("1.001012").expect("service").clone();
            let s = o.service("1.001018").expect("service");
            s.level = model.level;
            s.level_label = model.level_label;
            s.providers = model.providers;
            s.signature_required = model.signature_required;
        })
        .expect("mutate");
    let r1 = run(&setup).await;
    assert!(r1.coverage[agency].complete(), "{:?}", r1.coverage[agency]);
    assert_eq!(
        r1.coverage[agency].announced, None,
        "the table shape shows no total"
    );
    let overrides = served.handle.overrides();
    let store = Store::open(&served.db()).expect("store");
    let second_page = fails_of_services(&store, r1.run_id, agency, &overrides, 10..);
    assert!(!second_page.is_empty(), "run 1 has findings on page 2");
    drop(store);

    // The listing now ends after its first page: to the scanner a renamed pager link, an
    // error inside the list or a removal look the same (no next link, no total to check).
    served
        .handle
        .mutate(|o| assert!(o.set_published_services(agency, 10)))
        .expect("mutate");
    let r2 = run(&setup).await;
    assert!(
        r2.coverage[agency].complete(),
        "the early end is not seen: {:?}",
        r2.coverage[agency]
    );
    assert!(
        set(&r2.diff.withdrawn).is_disjoint(&second_page),
        "withdrawn on a listing whose end nothing confirms: {:?}",
        r2.diff.withdrawn
    );
    assert!(r2.diff.withdrawn.is_empty(), "{:?}", r2.diff.withdrawn);
    assert!(second_page.is_subset(&set(&r2.diff.unverified)));
    assert!(set(&r2.diff.resolved).is_disjoint(&second_page));
    let store = Store::open(&served.db()).expect("store");
    let reasons = store.unverified_reasons(r2.run_id).expect("reasons");
    for fp in &second_page {
        assert_eq!(
            reasons.get(fp).map(String::as_str),
            Some("absence_unconfirmed:no_total"),
        );
        assert_eq!(
            store.lifecycle_of(fp).expect("lifecycle").map(|l| l.2),
            Some("open".to_string())
        );
    }
    // The report says why, in words.
    let text = r2
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| std::fs::read_to_string(p).expect("text report"))
        .expect("text report");
    assert!(text.contains("cổng không công bố tổng số"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_read_without_their_code_withdraw_nothing() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), json_only);
    // bca: accordion shape, which announces its total: the listing's end is confirmed, so
    // only the identities can be wrong.
    let agency = "bca";
    readable_whole(&served, agency);
    let r1 = run(&setup).await;
    let cov1 = &r1.coverage[agency];
    assert!(cov1.complete() && cov1.announced.is_some(), "{cov1:?}");
    let overrides = served.handle.overrides();
    let store = Store::open(&served.db()).expect("store");
    let services = fails_of_services(&store, r1.run_id, agency, &overrides, 0..);
    assert!(!services.is_empty(), "run 1 has service findings");
    drop(store);

    // The code row is no longer read on any page (its value gone: to the scanner the same as
    // a label it does not know, "Mã thủ tục" → "Số hiệu"): every page is read, keyed by URL.
    let codes: Vec<String> = served
        .handle
        .ground_truth()
        .services
        .iter()
        .filter(|s| s.agency_id == agency)
        .map(|s| s.code.clone())
        .collect();
    served
        .handle
        .mutate(|o| {
            for c in &codes {
                o.service(c).expect("service").code = String::new();
            }
        })
        .expect("mutate");
    let r2 = run(&setup).await;
    let cov2 = &r2.coverage[agency];
    assert!(
        cov2.complete() && cov2.announced == Some(cov2.listed),
        "every page read, the total matched: {cov2:?}"
    );
    assert!(
        r2.diff.withdrawn.is_empty(),
        "withdrawn while no service showed its code: {:?}",
        r2.diff.withdrawn
    );
    assert!(services.is_subset(&set(&r2.diff.unverified)));
    let store = Store::open(&served.db()).expect("store");
    let reasons = store.unverified_reasons(r2.run_id).expect("reasons");
    for fp in &services {
        assert_eq!(
            reasons.get(fp).map(String::as_str),
            Some("absence_unconfirmed:code_unread"),
        );
    }
}

/// A service renumbered by the portal (same page, another code) leaves its old identity: the
/// old findings are withdrawn, the page's defects are judged under the new code. Before, the
/// old identity stayed unverified for ever (`absence_unconfirmed:url_listed`: its page was
/// still listed, under a key it would never be read under again), beside the same defect's
/// new finding: one defect counted twice in the exit code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renumbered_service_closes_its_old_identity_and_is_judged_under_the_new_one() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), json_only);
    let agency = "bca";
    readable_whole(&served, agency);
    let r1 = run(&setup).await;
    assert!(r1.coverage[agency].complete());
    let store = Store::open(&served.db()).expect("store");
    let failing: Vec<(String, String, String, String)> = rows(&store, r1.run_id, "fail")
        .into_iter()
        .filter(|r| r.3 == agency && r.2.starts_with(&format!("{agency}/1.")))
        .collect();
    let (_, rule, subject, _) = failing.first().cloned().expect("a failing bca service");
    let old_code = subject
        .trim_start_matches(&format!("{agency}/"))
        .to_string();
    let old: BTreeSet<String> = failing
        .iter()
        .filter(|r| r.2 == subject)
        .map(|r| r.0.clone())
        .collect();
    drop(store);

    let new_code = "1.999999";
    served
        .handle
        .mutate(|o| o.service(&old_code).expect("service").code = new_code.to_string())
        .expect("mutate");
    let r2 = run(&setup).await;
    let cov2 = &r2.coverage[agency];
    assert!(
        cov2.complete() && cov2.announced == Some(cov2.listed),
        "{cov2:?}"
    );
    let withdrawn = set(&r2.diff.withdrawn);
    assert_eq!(
        old.intersection(&withdrawn).count(),
        old.len(),
        "{:?}",
        r2.diff
    );
    assert!(old.is_disjoint(&set(&r2.diff.unverified)), "{:?}", r2.diff);
    // The same defect, judged under the new code, is a new finding.
    let store = Store::open(&served.db()).expect("store");
    let renamed = format!("{agency}/{new_code}");
    let now_failing: Vec<_> = rows(&store, r2.run_id, "fail")
        .into_iter()
        .filter(|r| r.2 == renamed)
        .collect();
    assert!(
        now_failing.iter().any(|r| r.1 == rule),
        "{rule} under {renamed}: {now_failing:?}"
    );
    assert!(now_failing.iter().all(|r| r2.diff.new.contains(&r.0)));
}
