//! `dvc-audit profile test PROFILE URL -c audit.toml --agency ID` against the platforms sandbox
//! world: the agency's variables and portal come from the config, the URL is fetched through
//! the crawler's client (the config's `resolve` pins reach the loopback sandbox), and `--json`
//! says where each value came from.

mod support;

use std::time::Duration;

use assert_cmd::Command;
use dvc_audit::sandbox::Size;
use support::world;

fn bin() -> Command {
    let mut c = Command::cargo_bin("dvc-audit").expect("binary");
    c.env("NO_COLOR", "1");
    c.timeout(Duration::from_secs(120));
    c
}

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || bin().args(args).output().expect("run"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_test_reads_a_url_with_the_agencys_variables() {
    let served = world::serve(Size::Platforms, 1, Duration::from_millis(50)).await;
    let config = served.config_path().display().to_string();
    let truth = served.handle.ground_truth();
    let port = truth.https_port;

    // The list-only API: a POST start request whose URL is `{api}/...`, `api` an agency var.
    let list = format!("https://api.hanoi.sandbox.test:{port}/api/v2/thu-tuc/tim-kiem");
    let out = run(vec![
        "profile".into(),
        "test".into(),
        "list-api".into(),
        list.clone(),
        "-c".into(),
        config.clone(),
        "--agency".into(),
        "hanoi".into(),
        "--as".into(),
        "list".into(),
        "--json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let details = v["list"]["details"].as_array().cloned().unwrap_or_default();
    let hanoi: Vec<_> = truth
        .services
        .iter()
        .filter(|s| s.agency_id == "hanoi")
        .collect();
    assert_eq!(details.len(), hanoi.len(), "{v}");
    for (d, t) in details.iter().zip(&hanoi) {
        // `{portal}` is the agency's portal from the config, not the URL given.
        assert_eq!(d["url"], t.url.as_str());
        let item = &d["hint"]["item"];
        assert_eq!(item["only"], true);
        assert_eq!(item["code"], t.code.as_str());
        assert_eq!(item["level_label"], t.level_label.as_str());
        let level = item["evidence"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["field"] == "level"));
        if !t.level_label.is_empty() {
            let level = level.unwrap_or_else(|| panic!("{}: level evidence", t.code));
            assert_eq!(level["kind"], "list:json_field");
            assert_eq!(level["url"], list.as_str());
        }
    }

    // A detail URL of the dt/dd portal: every field's source is the detail page.
    let t = truth
        .services
        .iter()
        .find(|s| s.agency_id == "btp" && !s.level_label.is_empty())
        .expect("a btp service with a level");
    let out = run(vec![
        "profile".into(),
        "test".into(),
        "dl".into(),
        t.url.clone(),
        "-c".into(),
        config.clone(),
        "--agency".into(),
        "btp".into(),
        "--as".into(),
        "detail".into(),
        "--json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["detail"]["code"], t.code.as_str());
    assert_eq!(v["detail"]["level_label"], t.level_label.as_str());
    let sources = v["sources"].as_array().cloned().unwrap_or_default();
    let level = sources
        .iter()
        .find(|s| s["field"] == "level")
        .expect("level source");
    assert_eq!(level["source"], "detail");
    assert_eq!(level["kind"], "label_value");
    assert_eq!(level["url"], t.url.as_str());

    // The fetch went through the crawler: robots.txt first, then the page.
    let log = served.handle.request_log();
    assert!(
        log.iter()
            .any(|r| r.host == "dvc.btp.sandbox.test" && r.path == "/robots.txt"),
        "robots.txt fetched"
    );

    // An unknown agency is a usage error naming the known ones.
    let out = run(vec![
        "profile".into(),
        "test".into(),
        "dl".into(),
        t.url.clone(),
        "-c".into(),
        config,
        "--agency".into(),
        "nobody".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no agency `nobody`"));
}
