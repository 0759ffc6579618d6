//! Storage that grows with change (issue 20): a database written by the release before the
//! content-addressed schema (schema 3, commit 50396b9) is migrated in place by today's code.
//!
//! The fixture `tests/fixtures/store-v3/` was produced by [`make_fixture`] at commit 50396b9
//! (see `tests/fixtures/store-v3/README.md`).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::{Provider, Size};
use support::world;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v3")
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
        String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Writes the fixture with the code of the checkout it runs in. Run only at the commit the
/// fixture names: `cargo test --locked --test store_migration make_fixture -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes tests/fixtures/store-v3 with the code of this checkout"]
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
            o.service(FIXED).expect("fixed").providers.push(Provider::Vgca);
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
            &["report", "--run", run, "--lang", "en", "--format", "json,text", "--out", &out_arg],
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
