//! What inspectors read in a report, against a served sandbox world (issue 18):
//! - `dvc-audit report --run N` renders the same report as the run wrote, in either language;
//! - failures planted in the world (outages) reach the report as sentences in the report's
//!   language: raw library error text stays inside the "technical details" folds.

mod support;

use std::path::Path;
use std::time::Duration;

use dvc_audit::config::Config;
use dvc_audit::report::{Format, Lang, regenerate};
use dvc_audit::run::pipeline::{self, RunOptions, RunSummary};
use dvc_audit::run::setup::Setup;
use dvc_audit::sandbox::Size;
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

fn report_file(summary: &RunSummary, ext: &str) -> std::path::PathBuf {
    summary
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .unwrap_or_else(|| panic!("a .{ext} report"))
        .clone()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Render run `summary` again with `dvc-audit report`'s code path and compare every format
/// with what the run wrote.
fn assert_rerender_equal(config: &Path, lang: Lang, summary: &RunSummary, out: &Path) {
    let mut loaded = Config::load(config).expect("config");
    loaded.config.audit.lang = match lang {
        Lang::Vi => dvc_audit::config::Lang::Vi,
        Lang::En => dvc_audit::config::Lang::En,
    };
    let files = regenerate(
        &loaded,
        Some(summary.run_id),
        lang,
        &[Format::Html, Format::Text, Format::Json],
        Some(out),
    )
    .expect("re-render");
    assert_eq!(files.len(), 3, "{files:?}");
    for ext in ["html", "txt", "json"] {
        let original = read(&report_file(summary, ext));
        let again = files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .map(|p| read(p))
            .unwrap_or_default();
        if original != again {
            let line = original
                .lines()
                .zip(again.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{lang:?} .{ext}: the re-render differs from the run's report at line {}:\n  run:      {}\n  rerender: {}",
                line + 1,
                original.lines().nth(line).unwrap_or_default(),
                again.lines().nth(line).unwrap_or_default()
            );
        }
    }
    // And the rule texts are there: titles, remediation and legal basis, not bare ids.
    let (legal, technical, remediation) = match lang {
        Lang::Vi => ("Căn cứ pháp lý", "Cơ sở kỹ thuật", "Khắc phục"),
        Lang::En => ("Legal basis", "Technical basis", "Remediation"),
    };
    for ext in ["html", "txt"] {
        let text = read(&report_file(summary, ext));
        for want in [legal, technical, remediation, "20/2023/QH15", "RFC 6797"] {
            assert!(text.contains(want), "{lang:?} .{ext} lacks {want:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerendered_report_equals_the_original_in_both_languages() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let vi = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into(), "html".into(), "text".into()];
        c.audit.lang = dvc_audit::config::Lang::Vi;
    });
    let r1 = run(&vi).await;
    let en = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into(), "html".into(), "text".into()];
        c.audit.lang = dvc_audit::config::Lang::En;
    });
    let r2 = run(&en).await;
    let out = tempfile::tempdir().expect("tmp");
    assert_rerender_equal(&served.config_path(), Lang::Vi, &r1, &out.path().join("vi"));
    assert_rerender_equal(&served.config_path(), Lang::En, &r2, &out.path().join("en"));
}
