//! Retention that keeps evidence (issue 20): `gc` prunes old runs of a real history (three
//! runs of the served tiny world) and
//! - `history verify` still passes, and still detects an edited row of a pruned run;
//! - `report --run N` of a kept run renders byte for byte as before;
//! - every finding keeps its evidence in every run (since schema 5 evidence is stored once
//!   with the finding's content and costs a run nothing), and a pruned run keeps its service
//!   states (one small row per service: the evidence times are its read times); what gc
//!   removes from a pruned run is its full fetch records and assessed hosts and agencies
//!   (their hashes kept).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::{Provider, Size};
use dvc_audit::store::Store;
use support::world;

/// danang, full, VNPT-CA only: its signature findings resolve once VGCA is added.
const FIXED: &str = "1.001012";

fn cli(config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = assert_cmd::Command::cargo_bin("dvc-audit")
        .expect("binary")
        .args(args)
        .arg("-c")
        .arg(config)
        .timeout(Duration::from_secs(120))
        .output()
        .expect("dvc-audit");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn render(config: &Path, out: &Path, run: i64) -> Vec<(String, String)> {
    let out_arg = out.to_string_lossy().into_owned();
    let run_arg = run.to_string();
    let (code, text) = cli(
        config,
        &[
            "report",
            "--run",
            &run_arg,
            "--format",
            "html,json,text,csv",
            "--out",
            &out_arg,
        ],
    );
    assert!(code == Some(0) || code == Some(1), "{text}");
    let dir = out.join(format!("run-{run}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("report dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("report file");
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                text,
            )
        })
        .collect()
}

fn count(store: &Store, sql: &str, run: i64) -> i64 {
    store
        .connection()
        .query_row(sql, [run], |r| r.get(0))
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_prunes_old_runs_and_keeps_open_evidence_verify_and_kept_reports() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let config = served.config_path();
    let setup = world::setup(&config, |_| {});
    let opts = || RunOptions {
        send_mail: false,
        ..RunOptions::default()
    };
    let r1 = pipeline::run(&setup, opts(), None)
        .await
        .expect("run 1")
        .run_id;
    served
        .handle
        .mutate(|o| {
            o.service(FIXED)
                .expect("fixed")
                .providers
                .push(Provider::Vgca)
        })
        .expect("mutate");
    let r2 = pipeline::run(&setup, opts(), None)
        .await
        .expect("run 2")
        .run_id;
    let r3 = pipeline::run(&setup, opts(), None)
        .await
        .expect("run 3")
        .run_id;
    let r4 = pipeline::run(&setup, opts(), None)
        .await
        .expect("run 4")
        .run_id;

    let out = served.dir.path().join("before");
    // Runs 3 and 4 are kept by both prunes below.
    let before: BTreeMap<i64, _> = [r3, r4]
        .iter()
        .map(|r| (*r, render(&config, &out, *r)))
        .collect();

    let mut store = Store::open(&served.db()).expect("store");
    let findings_before = store.findings(r1).expect("findings");
    let lifecycle = |store: &Store, fp: &str| {
        store
            .lifecycle_of(fp)
            .expect("lifecycle")
            .map(|(_, _, state)| state)
    };
    let resolved: Vec<String> = findings_before
        .iter()
        .filter(|f| lifecycle(&store, &f.fingerprint).as_deref() == Some("resolved"))
        .map(|f| f.fingerprint.clone())
        .collect();
    assert!(
        !resolved.is_empty(),
        "fixing {FIXED} resolved findings of run 1"
    );
    let open = findings_before
        .iter()
        .filter(|f| lifecycle(&store, &f.fingerprint).as_deref() == Some("open"))
        .count();
    assert!(open > 0);
    assert!(
        count(
            &store,
            "SELECT COUNT(*) FROM service_facts WHERE run_id = ?1",
            r1
        ) > 0
    );

    // Prune run 1 only: run 2 (kept) resolved findings and its report lists them with run 1's
    // evidence, so that evidence stays.
    let cutoff = store.run(r2).expect("run 2").started_at;
    let fetches_before = count(&store, "SELECT COUNT(*) FROM fetches WHERE run_id = ?1", r1);
    assert!(fetches_before > 0);
    let services_before = count(
        &store,
        "SELECT COUNT(*) FROM service_facts WHERE run_id = ?1",
        r1,
    );
    let report = store.prune_runs_before(&cutoff).expect("gc");
    assert_eq!((report.runs, report.evidence_rows), (1, 0), "{report:?}");
    assert_eq!(report.fetch_rows as i64, fetches_before, "{report:?}");
    assert_eq!(store.findings(r1).expect("findings"), findings_before);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM fetches WHERE run_id = ?1", r1),
        0
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM service_facts WHERE run_id = ?1",
            r1
        ),
        services_before,
        "a pruned run keeps its service states"
    );

    // Prune runs 1 and 2: every finding keeps its evidence, resolved ones included.
    let cutoff = store.run(r3).expect("run 3").started_at;
    let report = store.prune_runs_before(&cutoff).expect("gc");
    assert_eq!(report.runs, 1, "run 2 now: {report:?}");
    assert_eq!(
        (report.service_rows, report.evidence_rows),
        (0, 0),
        "{report:?}"
    );
    assert!(!resolved.is_empty());
    assert_eq!(store.findings(r1).expect("findings"), findings_before);
    assert!(store.verify_chain().expect("verify").is_empty());
    // A second gc finds nothing more to do.
    let again = store.prune_runs_before(&cutoff).expect("gc again");
    assert_eq!((again.runs, again.evidence_rows), (0, 0), "{again:?}");
    drop(store);

    let (code, text) = cli(&config, &["history", "verify"]);
    assert_eq!(code, Some(0), "history verify after gc: {text}");
    // `gc --vacuum` gives the pruned pages back to the disk; the history still verifies.
    let size_before = std::fs::metadata(served.db()).expect("db").len();
    let (code, text) = cli(&config, &["gc", "--vacuum"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("database rewritten"), "{text}");
    let size_after = std::fs::metadata(served.db()).expect("db").len();
    assert!(
        size_after < size_before,
        "{size_before} → {size_after}: {text}"
    );
    let (code, text) = cli(&config, &["history", "verify"]);
    assert_eq!(code, Some(0), "history verify after vacuum: {text}");
    let out = served.dir.path().join("after");
    for (run, files) in before {
        let after = render(&config, &out, run);
        assert_eq!(after.len(), files.len());
        for ((name, want), (_, got)) in files.iter().zip(&after) {
            let first = want
                .lines()
                .zip(got.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("before: {a}\n after: {b}"))
                .unwrap_or_default();
            assert!(
                want == got,
                "run {run} {name} renders otherwise after gc:\n{first}"
            );
        }
    }

    // The pruned run is still protected: editing one of its findings is detected.
    let store = Store::open(&served.db()).expect("store");
    store
        .connection()
        .execute(
            "UPDATE texts SET text = 'edited' WHERE id IN
                 (SELECT v.message_en_id FROM finding_versions v
                  JOIN finding_spans s ON s.version_id = v.id
                  WHERE ?1 BETWEEN s.first_run AND s.last_run)",
            [r1],
        )
        .expect("tamper");
    let breaks = store.verify_chain().expect("verify");
    assert!(breaks.iter().any(|b| b.run_id == r1), "{breaks:?}");
}

/// `report.keep_days`: `gc` removes the report directories of old runs (never the newest
/// run's, never a file it did not write) and `report --run N` renders a removed run again
/// byte for byte. A national run writes ~0.6 GB of reports; kept every night they would fill
/// the disk long before the history does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_old_report_directories_that_report_renders_again() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let config = served.config_path();
    let setup = world::setup(&config, |_| {});
    let mut runs = Vec::new();
    for _ in 0..3 {
        let outcome = pipeline::run(
            &setup,
            RunOptions {
                send_mail: false,
                ..RunOptions::default()
            },
            None,
        )
        .await
        .expect("run");
        runs.push(outcome.run_id);
    }
    let reports = served.dir.path().join("reports");
    let run_dir = |run: i64| reports.join(format!("run-{run}"));
    for run in &runs {
        assert!(run_dir(*run).join("report.json").is_file(), "run {run}");
    }
    // What `report --run N` renders from the history is what the run itself wrote: the
    // copy gc removes can be had again.
    let rendered = render(&config, &served.dir.path().join("rendered"), runs[0]);
    let mut compared = Vec::new();
    for (name, text) in &rendered {
        if let Ok(original) = std::fs::read_to_string(run_dir(runs[0]).join(name)) {
            assert!(
                original == *text,
                "{name} rendered again differs from the run's own"
            );
            compared.push(name.as_str());
        }
    }
    assert!(
        compared.contains(&"report.json") && compared.len() >= 3,
        "{compared:?}"
    );
    // An inspector's note beside run 2's reports.
    let note = run_dir(runs[1]).join("ghi-chu.txt");
    std::fs::write(&note, "đã gửi công văn").expect("note");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("[report]\n", "[report]\nkeep_days = 1\n"),
    )
    .expect("config");

    // Every run started just now: nothing is old enough.
    let (code, out) = cli(&config, &["gc"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("removed the reports of runs older than 1 days: 0 run directories, 0 files"),
        "{out}"
    );
    assert!(
        runs.iter()
            .all(|r| run_dir(*r).join("report.json").is_file())
    );

    // The three runs started two days ago (this edits the digested rows: the history no
    // longer verifies, which this test does not look at).
    let store = Store::open(&served.db()).expect("store");
    let two_days_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(2))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    store
        .connection()
        .execute("UPDATE runs SET started_at = ?1", [&two_days_ago])
        .expect("backdate");
    assert_eq!(
        store.runs_with_removable_reports(1).expect("removable"),
        runs[..2].to_vec(),
        "the newest complete run keeps its reports"
    );
    assert!(
        store
            .runs_with_removable_reports(3)
            .expect("none")
            .is_empty()
    );
    drop(store);
    let before = served.dir.path().join("before");
    let want = render(&config, &before, runs[0]);
    let written: Vec<u64> = runs[..2]
        .iter()
        .flat_map(|r| std::fs::read_dir(run_dir(*r)).expect("dir"))
        .map(|e| e.expect("entry"))
        .filter(|e| e.path() != note)
        .map(|e| e.metadata().expect("meta").len())
        .collect();
    assert!(written.len() >= 6, "{written:?}");
    let (files, bytes) = (written.len(), written.iter().sum::<u64>());

    let (code, out) = cli(&config, &["gc"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "removed the reports of runs older than 1 days: 1 run directories, {files} files, {bytes} bytes"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "kept {}: it holds files dvc-audit did not write",
            run_dir(runs[1]).display()
        )),
        "{out}"
    );
    assert!(!run_dir(runs[0]).exists());
    let left: Vec<_> = std::fs::read_dir(run_dir(runs[1]))
        .expect("run 2 dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("ghi-chu.txt")]);
    assert!(run_dir(runs[2]).join("report.json").is_file());

    // The removed run renders again, the same as before gc.
    let again = render(&config, &reports, runs[0]);
    assert_eq!(again, want);
}
