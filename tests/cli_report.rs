//! `dvc-audit report`: a stored run rendered again, in English, from the history database.

use dvc_audit::report::{Lang, sample::sample_input};
use dvc_audit::store::{RunStart, Scope, Store};

#[test]
fn stored_run_is_rendered_again_in_english() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("audit.toml");
    std::fs::write(
        &config,
        r#"[audit]
name = "Đoàn kiểm tra"
[crawl]
user_agent = "dvc-audit/0.1 (+mailto:kiemtra@bcy.example.vn)"
[storage]
sqlite = "history.sqlite"
[report]
dir = "out"
[[agency]]
id = "bca"
name = "Bộ Công an"
name_en = "Ministry of Public Security"
kind = "ministry"
portal = "https://dvc.bca.sandbox.test/"
platform = "accordion"
"#,
    )
    .expect("config");
    let input = sample_input(Lang::Vi);
    let mut store = Store::open(&dir.path().join("history.sqlite")).expect("store");
    let run = store
        .begin_run(&RunStart {
            mode: "regular".into(),
            scope: Scope {
                agencies: vec!["bca".into()],
                services: None,
            },
            seed: None,
            ruleset_digest: "r".into(),
            config_digest: "c".into(),
        })
        .expect("begin");
    store
        .record_services(run, &input.services)
        .expect("services");
    let bca: Vec<_> = input
        .findings
        .iter()
        .filter(|f| f.agency_id == "bca")
        .cloned()
        .collect();
    store.finish_run(run, &bca).expect("finish");
    drop(store);

    let out = assert_cmd::Command::cargo_bin("dvc-audit")
        .expect("binary")
        .args([
            "report",
            "--lang",
            "en",
            "--format",
            "html,json,csv,xlsx,text",
            "-c",
        ])
        .arg(&config)
        .env_remove("DVC_AUDIT_REPORT_DIR")
        .env_remove("DVC_AUDIT_DB")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_dir = dir.path().join("out").join(format!("run-{run}"));
    let html = std::fs::read_to_string(run_dir.join("report.html")).expect("html");
    assert!(html.contains("Regular inspection"));
    assert!(html.contains("Ministry of Public Security"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).expect("json"))
            .expect("parse");
    assert_eq!(json["lang"], "en");
    assert_eq!(json["totals"]["findings"], 2);
    assert_eq!(json["totals"]["new"], 2);
    for f in ["findings.csv", "report.xlsx", "report.txt"] {
        assert!(run_dir.join(f).exists(), "{f} missing");
    }
}
