//! Sandbox drift (issue 20): a drifted day of the served world, crawled by a real run, gives
//! exactly the findings the drifted ground truth implies, and the services' extracted level
//! and signature providers are the truth's; the drift really changed verdicts, pages and
//! certificates, and the next run's history sees the change (new and resolved findings).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::{Drift, Size};
use dvc_audit::store::Store;
use support::{truth, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drifted_day_is_extracted_as_its_ground_truth_says() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |_| {});
    let opts = || RunOptions {
        send_mail: false,
        ..RunOptions::default()
    };
    let day0 = served.handle.ground_truth();
    let r0 = pipeline::run(&setup, opts(), None)
        .await
        .expect("run day 0");

    // A fast drift on a small world: a quarter of the services a day, every certificate a
    // coin flip.
    let drift = Drift {
        day: 2,
        rate: 0.25,
        seed: 7,
    };
    let days = served.handle.drift(&drift).expect("drift");
    let changed: usize = days.iter().map(|d| d.services()).sum();
    let certs: usize = days
        .iter()
        .map(|d| d.cert_renewed.len() + d.cert_expired.len())
        .sum();
    assert!(changed > 0 && certs > 0, "{days:?}");
    let gt = served.handle.ground_truth();
    assert_ne!(
        truth::expected(&day0),
        truth::expected(&gt),
        "the drift changes what a scanner must find"
    );

    let r2 = pipeline::run(&setup, opts(), None)
        .await
        .expect("run day 2");
    let store = Store::open(&served.db()).expect("store");
    let findings = store.findings(r2.run_id).expect("findings");
    truth::assert_same(
        "drifted day 2",
        &truth::expected(&gt),
        &truth::actual(&gt, &findings),
    );

    // Field by field, for every service read: level and signature providers as the truth.
    let facts: BTreeMap<(String, String), _> = store
        .service_facts(r2.run_id)
        .expect("facts")
        .into_iter()
        .map(|f| ((f.agency_id.clone(), f.code.clone()), f))
        .collect();
    let mut compared = 0;
    for t in gt.services.iter().filter(|t| t.expect == "ok") {
        let Some(f) = facts.get(&(t.agency_id.clone(), t.code.clone())) else {
            continue;
        };
        assert_eq!(f.level, t.level, "{}/{} level", t.agency_id, t.code);
        let mut got = f.signature.providers.clone();
        got.sort();
        let mut want = t.signature.providers.clone();
        want.sort();
        assert_eq!(got, want, "{}/{} providers", t.agency_id, t.code);
        compared += 1;
    }
    assert!(compared >= 20, "{compared} services compared");

    // The history sees the drift: findings appear or resolve between day 0 and day 2.
    assert!(r2.run_id > r0.run_id);
    assert!(
        !r2.diff.new.is_empty() || !r2.diff.resolved.is_empty(),
        "{:?}",
        r2.diff
    );
    assert!(store.verify_chain().expect("verify").is_empty());
}

#[test]
fn the_drift_rate_is_a_share() {
    let out = assert_cmd::Command::cargo_bin("dvc-audit")
        .expect("binary")
        .args([
            "sandbox",
            "serve",
            "--size",
            "tiny",
            "--drift-day",
            "3",
            "--drift-rate",
            "2",
        ])
        .timeout(Duration::from_secs(30))
        .output()
        .expect("dvc-audit");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a share between 0 and 1"), "{err}");
}
