//! History across runs (issue 7), end to end against a served sandbox world:
//! - a `dvc-audit run` process killed with SIGKILL in the middle of its crawl leaves the earlier
//!   run intact, is itself marked incomplete, and is never the baseline of the next diff;
//! - over three runs of a world that changes between runs (a defect fixed, one planted, one
//!   fixed and reintroduced) every lifecycle state is exactly right;
//! - `dvc-audit history verify` detects a row edited by hand and names the run.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use dvc_audit::run::pipeline::{self, RunOptions, RunSummary};
use dvc_audit::run::setup::Setup;
use dvc_audit::sandbox::{Behaviour, CertDefect, Provider, Size};
use dvc_audit::store::{RunDiff, Store};
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

/// `fingerprint → (rule, subject)` over every run stored so far.
fn names(store: &Store, runs: &[i64]) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for run in runs {
        for f in store.findings(*run).expect("findings") {
            out.insert(f.fingerprint, (f.rule_id, f.subject));
        }
    }
    out
}

fn fails(store: &Store, run: i64) -> BTreeSet<String> {
    store
        .findings(run)
        .expect("findings")
        .into_iter()
        .filter(|f| f.outcome == "fail")
        .map(|f| f.fingerprint)
        .collect()
}

/// A bca (accordion) service made slow to catch a run in the middle of its crawl.
const SLOW_CODE: &str = "1.001003";
const SLOW_PATH: &str = "/bothutuc/tthc?matt=26003";

type Named = BTreeSet<(String, String)>;

fn named(names: &BTreeMap<String, (String, String)>, fps: &[String]) -> Named {
    fps.iter()
        .map(|fp| {
            names
                .get(fp)
                .cloned()
                .unwrap_or_else(|| ("?".into(), fp.clone()))
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Named {
    list.iter()
        .map(|(r, s)| (r.to_string(), s.to_string()))
        .collect()
}

fn history_verify(config: &std::path::Path) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("dvc-audit")
        .expect("binary")
        .args(["history", "verify", "-c"])
        .arg(config)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("history verify");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Start `dvc-audit run` as a child process and return once it is in the middle of its crawl:
/// one detail page now answers after a minute, and the child waits for it (long timeouts in
/// its config), so it cannot finish before the test acts on it.
async fn start_caught_mid_crawl(served: &world::Served) -> std::process::Child {
    let config = served.config_path();
    served
        .handle
        .mutate(|o| {
            if let Some(s) = o.service(SLOW_CODE) {
                s.behaviour = Behaviour::Slow;
            }
        })
        .expect("mutate");
    let text = std::fs::read_to_string(&config).expect("config");
    let slow_config = served.dir.path().join("audit-slow.toml");
    std::fs::write(
        &slow_config,
        text.replace("read_timeout_ms = 4000", "read_timeout_ms = 120000")
            .replace("total_timeout_ms = 8000", "total_timeout_ms = 240000"),
    )
    .expect("write config");
    served.handle.clear_request_log();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dvc-audit"))
        .args(["run", "--no-mail", "-c"])
        .arg(&slow_config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dvc-audit run");

    // Wait until the run row exists and every other bca detail page was served: the crawl is
    // then blocked on the slow page.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before it could be killed");
        }
        let details = served
            .handle
            .request_log()
            .iter()
            .filter(|r| {
                r.host.starts_with("dvc.bca.")
                    && r.path.starts_with("/bothutuc/tthc?matt=")
                    && r.path != SLOW_PATH
            })
            .count();
        let running = Store::open(&served.db())
            .and_then(|s| s.runs(10))
            .map(|runs| runs.iter().any(|r| r.status == "running"))
            .unwrap_or(false);
        if running && details >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the child never reached the crawl"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_way_leaves_history_intact_and_is_never_a_baseline() {
    let served = world::serve(Size::Tiny, 1, Duration::from_secs(60)).await;
    let config = served.config_path();
    let setup = world::setup(&config, |_| {});
    let first = run(&setup).await;

    let mut child = start_caught_mid_crawl(&served).await;
    // SIGKILL: no chance to clean up.
    child.kill().expect("kill");
    let _ = child.wait();
    let killed_id = first.run_id + 1;
    {
        let store = Store::open(&served.db()).expect("store");
        assert_eq!(store.run(killed_id).expect("killed run").status, "running");
    }

    served
        .handle
        .mutate(|o| o.reset_service(SLOW_CODE))
        .expect("mutate");
    let third = run(&setup).await;
    assert_eq!(third.run_id, killed_id + 1);

    let store = Store::open(&served.db()).expect("store");
    let runs: BTreeMap<i64, String> = store
        .runs(10)
        .expect("runs")
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect();
    assert_eq!(
        runs,
        BTreeMap::from([
            (first.run_id, "complete".to_string()),
            (killed_id, "incomplete".to_string()),
            (third.run_id, "complete".to_string()),
        ])
    );
    assert!(
        !store.run(killed_id).expect("run").note.is_empty(),
        "the incomplete run says why"
    );
    // The earlier run is intact: same findings, its digest still verifies.
    assert!(!fails(&store, first.run_id).is_empty());
    assert!(store.verify_chain().expect("verify").is_empty());
    let (code, out) = history_verify(&config);
    assert_eq!(code, Some(0), "{out}");
    // The baseline was the first run, not the killed one: nothing new, everything persists.
    let diff: RunDiff = third.diff.clone();
    assert!(
        diff.new.is_empty() && diff.resolved.is_empty() && diff.regressed.is_empty(),
        "{diff:?}"
    );
    let persisting: BTreeSet<String> = diff.persisting.iter().cloned().collect();
    assert_eq!(persisting, fails(&store, first.run_id));
    assert_eq!(store.diff(third.run_id).expect("diff"), diff);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_over_three_runs_of_a_changing_world() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |_| {});
    let port = served.handle.https_port();
    let fixed = "1.001012"; // danang, full, VNPT-CA only: SIG-001/003/005 fail
    let planted = "1.001025"; // hanoi, full, VGCA: passes until its VGCA control is removed
    let flapping = "thanhtoan.bca.sandbox.test"; // untrusted issuer: TLS-001 fails
    let truth = served.handle.ground_truth();
    let planted_required = truth
        .services
        .iter()
        .find(|s| s.code == planted)
        .map(|s| s.signature.required)
        .expect("planted service in the truth");

    let r1 = run(&setup).await;

    served
        .handle
        .mutate(|o| {
            o.service(fixed)
                .expect("fixed")
                .providers
                .push(Provider::Vgca);
            o.service(planted).expect("planted").providers.clear();
            o.host(flapping).expect("host").cert = None;
        })
        .expect("mutate");
    let r2 = run(&setup).await;

    served
        .handle
        .mutate(|o| o.host(flapping).expect("host").cert = Some(CertDefect::UntrustedIssuer))
        .expect("mutate");
    let r3 = run(&setup).await;

    let store = Store::open(&served.db()).expect("store");
    let names = names(&store, &[r1.run_id, r2.run_id, r3.run_id]);
    let tls = format!("{flapping}:{port}");
    let fixed_subject = format!("danang/{fixed}");
    let planted_subject = format!("hanoi/{planted}");

    // Run 1: everything is new.
    assert!(
        r1.diff.persisting.is_empty()
            && r1.diff.resolved.is_empty()
            && r1.diff.regressed.is_empty()
    );
    let f1 = fails(&store, r1.run_id);
    assert_eq!(r1.diff.new.iter().cloned().collect::<BTreeSet<_>>(), f1);
    for want in [
        ("SIG-001", fixed_subject.as_str()),
        ("SIG-003", fixed_subject.as_str()),
        ("SIG-005", fixed_subject.as_str()),
        ("TLS-001", tls.as_str()),
    ] {
        assert!(
            named(&names, &r1.diff.new).contains(&(want.0.to_string(), want.1.to_string())),
            "run 1 fails {want:?}"
        );
    }

    // Run 2: the fix resolves, the plant is new, the host fix resolves; all else persists.
    let mut new2 = vec![("SIG-001", planted_subject.as_str())];
    if planted_required {
        new2.push(("SIG-003", planted_subject.as_str()));
    }
    let resolved2 = pairs(&[
        ("SIG-001", &fixed_subject),
        ("SIG-003", &fixed_subject),
        ("SIG-005", &fixed_subject),
        ("TLS-001", &tls),
    ]);
    assert_eq!(named(&names, &r2.diff.new), pairs(&new2), "run 2 new");
    assert_eq!(
        named(&names, &r2.diff.resolved),
        resolved2,
        "run 2 resolved"
    );
    assert!(
        r2.diff.regressed.is_empty(),
        "run 2 regressed: {:?}",
        named(&names, &r2.diff.regressed)
    );
    let persisting2: BTreeSet<String> = r2.diff.persisting.iter().cloned().collect();
    let resolved2_fp: BTreeSet<String> = r2.diff.resolved.iter().cloned().collect();
    assert_eq!(persisting2, f1.difference(&resolved2_fp).cloned().collect());

    // Run 3: the host defect is back (regressed); nothing new, nothing resolved.
    assert_eq!(
        named(&names, &r3.diff.regressed),
        pairs(&[("TLS-001", &tls)]),
        "run 3 regressed"
    );
    assert!(
        r3.diff.new.is_empty(),
        "run 3 new: {:?}",
        named(&names, &r3.diff.new)
    );
    assert!(
        r3.diff.resolved.is_empty(),
        "run 3 resolved: {:?}",
        named(&names, &r3.diff.resolved)
    );
    let persisting3: BTreeSet<String> = r3.diff.persisting.iter().cloned().collect();
    assert_eq!(persisting3, fails(&store, r2.run_id));

    // The stored diffs say the same, and the lifecycle rows carry first/last seen.
    for r in [&r1, &r2, &r3] {
        assert_eq!(store.diff(r.run_id).expect("diff"), r.diff);
    }
    let fp_of = |rule: &str, subject: &str| -> String {
        names
            .iter()
            .find(|(_, (r, s))| r == rule && s == subject)
            .map(|(fp, _)| fp.clone())
            .unwrap_or_else(|| panic!("no finding {rule} {subject}"))
    };
    let state = |rule: &str, subject: &str| {
        store
            .lifecycle_of(&fp_of(rule, subject))
            .expect("lifecycle")
            .expect("row")
    };
    assert_eq!(
        state("SIG-001", &fixed_subject),
        (r1.run_id, r1.run_id, "resolved".into())
    );
    assert_eq!(
        state("SIG-001", &planted_subject),
        (r2.run_id, r3.run_id, "open".into())
    );
    assert_eq!(
        state("TLS-001", &tls),
        (r1.run_id, r3.run_id, "open".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_verify_names_the_run_whose_rows_were_edited() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let config = served.config_path();
    let setup = world::setup(&config, |_| {});
    let r1 = run(&setup).await;
    let r2 = run(&setup).await;

    let (code, out) = history_verify(&config);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("2 complete runs, digest chain intact"),
        "{out}"
    );

    // Edit what the first run alone recorded of one finding, by hand: its state in that run
    // (a finding's content is stored once and shared by the runs that found it).
    let conn = rusqlite::Connection::open(served.db()).expect("open db");
    dvc_audit::store::register_functions(&conn).expect("functions");
    let (version, state): (i64, i64) = conn
        .query_row(
            "SELECT version_id, first_state FROM finding_spans WHERE first_run = ?1
             ORDER BY version_id LIMIT 1",
            [r1.run_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a span of run 1");
    let n = conn
        .execute(
            "UPDATE finding_spans SET first_state = 3 - first_state
             WHERE first_run = ?1 AND version_id = ?2",
            [r1.run_id, version],
        )
        .expect("edit");
    assert_eq!(n, 1);
    let (code, out) = history_verify(&config);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("BREAK at run {}:", r1.run_id)),
        "{out}"
    );
    assert!(
        !out.contains(&format!("BREAK at run {}:", r2.run_id)),
        "only the edited run: {out}"
    );

    // Undo it; edit an evidence excerpt of the second run instead.
    conn.execute(
        "UPDATE finding_spans SET first_state = ?3 WHERE first_run = ?1 AND version_id = ?2",
        [r1.run_id, version, state],
    )
    .expect("undo");
    assert_eq!(history_verify(&config).0, Some(0));
    // Evidence is stored once per content (`evidence_items`) and referenced by each run
    // through its finding's version: an edit of the item shows in every run that refers to it.
    let n = conn
        .execute(
            "UPDATE evidence_items SET excerpt = excerpt || 'x'
             WHERE id = (SELECT vi.item_id FROM version_items vi
                         JOIN finding_spans s ON s.version_id = vi.version_id
                         WHERE ?1 BETWEEN s.first_run AND s.last_run
                         ORDER BY vi.version_id, vi.seq LIMIT 1)",
            [r2.run_id],
        )
        .expect("edit evidence");
    assert_eq!(n, 1, "the second run stored evidence");
    let (code, out) = history_verify(&config);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("BREAK at run {}:", r2.run_id)),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_step_and_marks_the_run_incomplete() {
    let served = world::serve(Size::Tiny, 1, Duration::from_secs(60)).await;
    let setup = world::setup(&served.config_path(), |_| {});
    let first = run(&setup).await;
    // The agencies with services (a listing that cannot be read stores none).
    let agencies: BTreeSet<String> = Store::open(&served.db())
        .and_then(|s| s.service_facts(first.run_id))
        .expect("first run's facts")
        .into_iter()
        .map(|f| f.agency_id)
        .collect();
    let mut child = start_caught_mid_crawl(&served).await;
    // Each agency is stored as its walk ends: while the crawl is still blocked on bca's slow
    // page, every other agency's services are already in the database.
    let others: BTreeSet<String> = agencies.iter().filter(|a| *a != "bca").cloned().collect();
    assert!(!others.is_empty() && agencies.contains("bca"));
    let stored_agencies = || -> BTreeSet<String> {
        Store::open(&served.db())
            .and_then(|s| s.service_facts(first.run_id + 1))
            .map(|v| v.into_iter().map(|f| f.agency_id).collect())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while !stored_agencies().is_superset(&others) {
        assert!(
            Instant::now() < deadline,
            "the agencies that finished their walks were not stored during the crawl: {:?}",
            stored_agencies()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(child.try_wait().expect("child").is_none(), "still crawling");
    assert!(
        !stored_agencies().contains("bca"),
        "bca's walk is still blocked on its slow page"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert_eq!(
        exit.code(),
        Some(3),
        "an interrupted run exits with the incomplete code"
    );

    let store = Store::open(&served.db()).expect("store");
    let stopped = store.run(first.run_id + 1).expect("the interrupted run");
    assert_eq!(stopped.status, "incomplete");
    assert!(stopped.note.contains("signal"), "note: {}", stopped.note);
    assert!(stopped.ended_at.is_some());
    assert_eq!(store.run(first.run_id).expect("first").status, "complete");
    assert!(store.verify_chain().expect("verify").is_empty());
    drop(store);
    assert_eq!(
        stored_agencies(),
        others,
        "what the interrupted run stored is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surprise_run_shares_the_lifecycle_of_regular_runs() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |_| {});
    let r1 = run(&setup).await;
    let surprise = pipeline::run(
        &setup,
        RunOptions {
            mode: dvc_audit::report::Mode::Surprise,
            sample_agencies: Some(2),
            sample_services: Some(3),
            seed: Some(7),
            ..no_mail()
        },
        None,
    )
    .await
    .expect("surprise run");
    let r3 = run(&setup).await;

    let store = Store::open(&served.db()).expect("store");
    let scope = store.run(surprise.run_id).expect("run").scope;
    let sampled: BTreeSet<String> = scope
        .services
        .clone()
        .expect("sample")
        .into_iter()
        .collect();
    let in_sample = |f: &dvc_audit::store::FindingRecord| match f.scope.as_str() {
        "service" => sampled.contains(&f.subject),
        "host" => scope.agencies.contains(&f.agency_id),
        _ => false,
    };
    let first = store.findings(r1.run_id).expect("findings");
    let want: BTreeSet<String> = first
        .iter()
        .filter(|f| f.outcome == "fail" && in_sample(f))
        .map(|f| f.fingerprint.clone())
        .collect();
    assert!(!want.is_empty(), "the sample covers some failures");
    // The surprise run continues the regular run's lifecycle: what it saw persists, and what
    // it did not look at (other agencies, unsampled services, aggregates) is not resolved.
    let d = &surprise.diff;
    assert!(
        d.new.is_empty() && d.regressed.is_empty() && d.resolved.is_empty(),
        "{d:?}"
    );
    assert_eq!(d.persisting.iter().cloned().collect::<BTreeSet<_>>(), want);
    // And the next regular run continues from both: everything persists.
    assert!(r3.diff.new.is_empty() && r3.diff.resolved.is_empty() && r3.diff.regressed.is_empty());
    assert_eq!(
        r3.diff.persisting.iter().cloned().collect::<BTreeSet<_>>(),
        fails(&store, r1.run_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agency_at_a_time_finds_the_same_and_starts_with_the_largest() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let all_at_once = world::setup(&served.config_path(), |_| {});
    let first = run(&all_at_once).await;
    let one = world::setup(&served.config_path(), |c| c.crawl.agencies_in_flight = 1);
    served.handle.clear_request_log();
    let second = run(&one).await;

    let store = Store::open(&served.db()).expect("store");
    assert_eq!(fails(&store, first.run_id), fails(&store, second.run_id));
    assert_eq!(first.services, second.services);

    // The crawl's requests (not the probe's `/`, not robots.txt) come agency after agency, the
    // largest portal of the previous run first.
    let agency_of = |host: &str| host.split('.').nth(1).unwrap_or_default().to_string();
    let mut blocks: Vec<String> = Vec::new();
    for r in served.handle.request_log() {
        if r.scheme != "https" || r.path == "/" || r.path == "/robots.txt" {
            continue;
        }
        let a = agency_of(&r.host);
        if blocks.last() != Some(&a) {
            assert!(
                !blocks.contains(&a),
                "{a} was walked again after {blocks:?}: walks interleaved"
            );
            blocks.push(a);
        }
    }
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    for s in store.service_facts(first.run_id).expect("facts") {
        *sizes.entry(s.agency_id).or_default() += 1;
    }
    let largest = sizes.values().max().copied();
    assert!(blocks.len() >= 3, "blocks: {blocks:?}");
    let first_walked = blocks.first().and_then(|a| sizes.get(a)).copied();
    assert_eq!(first_walked, largest, "blocks {blocks:?}, sizes {sizes:?}");
}
