//! Storage that grows with change (issue 20): databases written by earlier releases are
//! migrated in place by today's code: schema 3 (commit 50396b9, before content-addressed
//! storage), schema 4 (commit 5276168, before compressed texts and finding spans) and schema
//! 5 (commit 9a53393, before 16-byte content keys and the key-only page cache and lifecycle)
//! and schema 6 (commit cf0897e, before the page cache's times as Unix seconds), and schema 10
//! (commit 2fd5301, before a 304 read's status stored as 1).
//!
//! The fixtures `tests/fixtures/store-v3/` to `store-v6/` and `store-v10/` were produced by
//! [`make_fixture`] at those commits (see their `README.md`).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::{Provider, Size};
use support::world;

/// A database written by an earlier release, with what it rendered then.
#[derive(Clone, Copy)]
struct Fixture {
    /// Directory under `tests/fixtures`.
    name: &'static str,
    /// Its `PRAGMA user_version`.
    schema: i64,
    /// The HTTPS port its world was served on (it appears in every stored URL).
    https_port: u16,
}

const V3: Fixture = Fixture {
    name: "store-v3",
    schema: 3,
    https_port: 36457,
};
const V4: Fixture = Fixture {
    name: "store-v4",
    schema: 4,
    https_port: 41075,
};
const V5: Fixture = Fixture {
    name: "store-v5",
    schema: 5,
    https_port: 36363,
};
const V6: Fixture = Fixture {
    name: "store-v6",
    schema: 6,
    https_port: 46261,
};

const V10: Fixture = Fixture {
    name: "store-v10",
    schema: 10,
    https_port: 33533,
};

impl Fixture {
    fn dir(self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(self.name)
    }

    fn file(self, name: &str) -> String {
        std::fs::read_to_string(self.dir().join(name)).expect("fixture file")
    }
}

/// Where [`make_fixture`] writes (`DVC_AUDIT_FIXTURE`, default `store-new`).
fn fixture_dir() -> PathBuf {
    let name = std::env::var("DVC_AUDIT_FIXTURE").unwrap_or_else(|_| "store-new".into());
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The service whose signature defect is fixed between the two runs of the fixture.
const FIXED: &str = "1.001012";
/// The service whose VGCA control is removed between the two runs of the fixture.
const PLANTED: &str = "1.001025";

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

/// Writes a fixture with the code of the checkout it runs in. Run only at the commit the
/// fixture names: `DVC_AUDIT_FIXTURE=store-vN cargo test --locked --test store_migration
/// make_fixture -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes a fixture with the code of this checkout"]
async fn make_fixture() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let config = served.config_path();
    let setup = world::setup(&config, |_| {});
    let opts = || RunOptions {
        send_mail: false,
        ..RunOptions::default()
    };
    pipeline::run(&setup, opts(), None).await.expect("run 1");
    served
        .handle
        .mutate(|o| {
            o.service(FIXED)
                .expect("fixed")
                .providers
                .push(Provider::Vgca);
            o.service(PLANTED).expect("planted").providers.clear();
        })
        .expect("mutate");
    pipeline::run(&setup, opts(), None).await.expect("run 2");

    let dir = fixture_dir();
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let (code, history) = cli(&config, &["history", "--json", "--limit", "50"]);
    assert_eq!(code, Some(0), "{history}");
    std::fs::write(dir.join("history.json"), history).expect("write");
    let out = served.dir.path().join("out");
    let out_arg = out.to_string_lossy().into_owned();
    for run in ["1", "2"] {
        let (code, text) = cli(
            &config,
            &[
                "report",
                "--run",
                run,
                "--lang",
                "en",
                "--format",
                "json,text",
                "--out",
                &out_arg,
            ],
        );
        assert!(code == Some(0) || code == Some(1), "{text}");
        for ext in ["json", "txt"] {
            let from = out.join(format!("run-{run}")).join(format!("report.{ext}"));
            std::fs::copy(&from, dir.join(format!("report-run-{run}.{ext}")))
                .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        }
    }
    let db = rusqlite::Connection::open(served.db()).expect("db");
    let target = dir.join("dvc-audit.sqlite");
    let _ = std::fs::remove_file(&target);
    db.execute("VACUUM INTO ?1", [target.to_string_lossy().as_ref()])
        .expect("vacuum into the fixture");
}

/// A copy of the fixture database next to a freshly served tiny world (same seed, so the
/// same agencies, services and defects; other ports).
async fn served_with_fixture(fx: Fixture) -> world::Served {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    std::fs::copy(fx.dir().join("dvc-audit.sqlite"), served.db()).expect("copy fixture");
    served
}

fn report(config: &Path, out: &Path, run: &str) -> (String, String) {
    let out_arg = out.to_string_lossy().into_owned();
    let (code, text) = cli(
        config,
        &[
            "report",
            "--run",
            run,
            "--lang",
            "en",
            "--format",
            "json,text",
            "--out",
            &out_arg,
        ],
    );
    assert!(code == Some(0) || code == Some(1), "{text}");
    let read = |ext: &str| {
        std::fs::read_to_string(out.join(format!("run-{run}")).join(format!("report.{ext}")))
            .expect("report file")
    };
    (read("json"), read("txt"))
}

/// Keys of the old report that are presentation, not stored values.
const PRESENTATION: &[&str] = &[
    "schema_version",
    "rule_title",
    "remediation",
    "legal_basis",
    "explanation",
];

/// Counts redefined since the fixtures were recorded: the VGCA support of full-process
/// services counts site-wide support too (as SIG-001 and AGY-001 always did), no longer the
/// service's own page only. The migrated value is the old one or more, never less.
const REDEFINED: &[&str] = &["full_with_vgca", "vgca"];

/// Every value of `old` (recursively, by key) is in `new`, except [`PRESENTATION`] and
/// [`REDEFINED`] (at least the old value). A trend is compared up to the report's run: the
/// old re-render also showed later runs' points.
fn stored_values_equal(
    old: &serde_json::Value,
    new: &serde_json::Value,
    at: &str,
    run: i64,
) -> Result<(), String> {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in o {
                if PRESENTATION.contains(&k.as_str()) {
                    continue;
                }
                let Some(nv) = n.get(k) else {
                    return Err(format!("{at}.{k} is missing"));
                };
                if REDEFINED.contains(&k.as_str()) && !v.is_object() {
                    let at_least = match (v.as_f64(), nv.as_f64()) {
                        (Some(o), Some(n)) => n >= o,
                        _ => v == nv,
                    };
                    if !at_least {
                        return Err(format!("{at}.{k}: {v} became {nv}, less than before"));
                    }
                    continue;
                }
                if k == "trend" {
                    let upto: Vec<Value> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["run_id"].as_i64().is_some_and(|r| r <= run))
                        .cloned()
                        .collect();
                    stored_values_equal(&Value::Array(upto), nv, &format!("{at}.{k}"), run)?;
                    continue;
                }
                stored_values_equal(v, nv, &format!("{at}.{k}"), run)?;
            }
            Ok(())
        }
        (Value::Array(o), Value::Array(n)) => {
            if o.len() != n.len() {
                return Err(format!("{at}: {} items, now {}", o.len(), n.len()));
            }
            for (i, (ov, nv)) in o.iter().zip(n).enumerate() {
                stored_values_equal(ov, nv, &format!("{at}[{i}]"), run)?;
            }
            Ok(())
        }
        _ if old == new => Ok(()),
        _ => Err(format!("{at}: {old} became {new}")),
    }
}

fn user_version(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .expect("db")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema3_database_migrates_in_place_verifies_renders_the_same_and_runs_on() {
    migrates_in_place(V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema4_database_migrates_in_place_verifies_renders_the_same_and_runs_on() {
    migrates_in_place(V4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema5_database_migrates_in_place_verifies_renders_the_same_and_runs_on() {
    migrates_in_place(V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema6_database_migrates_in_place_verifies_renders_the_same_and_runs_on() {
    migrates_in_place(V6).await;
    // Schema 7 keeps each page-cache row, its time as Unix seconds.
    let fx = served_with_fixture(V6).await;
    let before: Vec<(String, String)> = {
        let conn = rusqlite::Connection::open(fx.db()).expect("fixture");
        let mut st = conn
            .prepare("SELECT url, updated_at FROM page_cache ORDER BY url")
            .expect("rows");
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert!(!before.is_empty());
    let store = dvc_audit::store::Store::open(&fx.db()).expect("open migrates");
    let mut st = store
        .connection()
        .prepare("SELECT url, updated_at FROM page_cache ORDER BY url")
        .expect("rows");
    let after: Vec<(String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(after.len(), before.len());
    for ((url, text), (url2, secs)) in before.iter().zip(&after) {
        assert_eq!(url, url2);
        let was = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("an RFC 3339 time");
        assert_eq!(*secs, was.unix_timestamp(), "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema10_database_migrates_in_place_verifies_renders_the_same_and_runs_on() {
    migrates_in_place(V10).await;
    // Schema 11 reads the 304s stored as 304 by schema 10 the same (the run on top, in
    // `migrates_in_place`, stores its own as 1).
    let fx = served_with_fixture(V10).await;
    let store = dvc_audit::store::Store::open(&fx.db()).expect("open migrates");
    let stored_304: i64 = store
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM service_reads WHERE run_id = 2 AND status = 304",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert!(stored_304 > 0, "run 2 of the fixture read pages with 304");
    let facts_304: i64 = store
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM service_facts
             WHERE run_id = 2 AND json_extract(facts_json, '$.fetch.status') = 304",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(facts_304, stored_304);
}

async fn migrates_in_place(fx: Fixture) {
    let served = served_with_fixture(fx).await;
    let config = served.config_path();
    assert_eq!(
        user_version(&served.db()),
        fx.schema,
        "the fixture is schema {}",
        fx.schema
    );

    // Read commands never migrate: they say the next run will.
    let (code, text) = cli(&config, &["history", "verify"]);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains(&format!("schema {}", fx.schema)), "{text}");

    // Opening for writing migrates in place.
    let store = dvc_audit::store::Store::open(&served.db()).expect("open migrates");
    let before_rows: i64 = store
        .connection()
        .query_row("SELECT COUNT(*) FROM service_facts", [], |r| r.get(0))
        .expect("service_facts view");
    assert_eq!(
        before_rows, 54,
        "every service row of the two runs is read back"
    );
    drop(store);
    assert!(user_version(&served.db()) > fx.schema);

    let (code, text) = cli(&config, &["history", "verify"]);
    assert_eq!(
        code,
        Some(0),
        "history verify on the migrated database: {text}"
    );
    let (code, history) = cli(&config, &["history", "--json", "--limit", "50"]);
    assert_eq!(code, Some(0), "{history}");
    assert_eq!(history, fx.file("history.json"));
    // Reports name the agencies' portals from the configuration: render them with the
    // configuration of the world the fixture was recorded against (its HTTPS port).
    let text = std::fs::read_to_string(&config).expect("config");
    let port = served.handle.https_port().to_string();
    let as_recorded = served.dir.path().join("audit-recorded.toml");
    std::fs::write(
        &as_recorded,
        text.replace(&format!(":{port}"), &format!(":{}", fx.https_port)),
    )
    .expect("write config");
    let out = served.dir.path().join("out");
    // What was stored reads back the same: every value the old binary's report.json held
    // (runs, counts, shares, trends, findings with their states, messages and evidence) is in
    // today's report of the migrated run. Only presentation the report format itself has
    // changed since (rule texts, which the old re-render left empty, and the schema version)
    // is not compared; fields added since are extra. The text report is re-worded since, so
    // it is checked to list every finding subject of the old one.
    for run in ["1", "2"] {
        let (json, txt) = report(&as_recorded, &out, run);
        let old: serde_json::Value =
            serde_json::from_str(&fx.file(&format!("report-run-{run}.json"))).expect("old json");
        let new: serde_json::Value = serde_json::from_str(&json).expect("new json");
        let run_id = old["run"]["id"].as_i64().expect("run id");
        if let Err(e) = stored_values_equal(&old, &new, "$", run_id) {
            panic!("run {run}: {e}");
        }
        let mut subjects = 0;
        for a in old["agencies"].as_array().expect("agencies") {
            for f in a["findings"].as_array().expect("findings") {
                let subject = f["record"]["subject"].as_str().expect("subject");
                assert!(txt.contains(subject), "run {run} text lists {subject}");
                subjects += 1;
            }
        }
        assert!(subjects > 0, "the fixture has findings");
    }

    // A new run on top, against the world as it was for run 2: every service finding of run 2
    // persists, the fixed service stays resolved, nothing of run 2's services is new.
    served
        .handle
        .mutate(|o| {
            o.service(FIXED)
                .expect("fixed")
                .providers
                .push(Provider::Vgca);
            o.service(PLANTED).expect("planted").providers.clear();
        })
        .expect("mutate");
    let setup = world::setup(&config, |_| {});
    let r3 = pipeline::run(
        &setup,
        RunOptions {
            send_mail: false,
            ..RunOptions::default()
        },
        None,
    )
    .await
    .expect("run 3");
    assert_eq!(r3.run_id, 3);
    let store = dvc_audit::store::Store::open(&served.db()).expect("store");
    let service_fails = |run: i64| -> std::collections::BTreeSet<(String, String)> {
        store
            .findings(run)
            .expect("findings")
            .into_iter()
            .filter(|f| f.outcome == "fail" && f.scope == "service")
            .map(|f| (f.rule_id, f.subject))
            .collect()
    };
    let run2 = service_fails(2);
    assert!(!run2.is_empty());
    assert_eq!(
        service_fails(3),
        run2,
        "run 3 sees the same service failures"
    );
    let fixed = ("SIG-001".to_string(), format!("danang/{FIXED}"));
    assert!(
        service_fails(1).contains(&fixed),
        "run 1 failed the fixed service"
    );
    assert!(!run2.contains(&fixed), "the fix holds in run 2");
    assert!(
        run2.iter().any(|(_, s)| s == &format!("hanoi/{PLANTED}")),
        "the planted defect is in run 2: {run2:?}"
    );
    let fps3: std::collections::BTreeMap<String, (String, String)> = store
        .findings(3)
        .expect("findings")
        .into_iter()
        .filter(|f| f.outcome == "fail" && f.scope == "service")
        .map(|f| (f.fingerprint.clone(), (f.rule_id, f.subject)))
        .collect();
    let diff = store.diff(3).expect("diff");
    for fp in fps3.keys() {
        assert!(
            diff.persisting.contains(fp),
            "{:?} persists from run 2: {diff:?}",
            fps3.get(fp)
        );
    }
    assert!(diff.regressed.is_empty(), "{diff:?}");
    drop(store);
    let (code, text) = cli(&config, &["history", "verify"]);
    assert_eq!(
        code,
        Some(0),
        "history verify after a run on the migrated database: {text}"
    );
}
