//! `dvc-audit spot https://host:port` end to end: the binary against a local TLS server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod probe_common;

use probe_common::*;

const HOST: &str = "dvc.spot-agency.sandbox.test";

async fn run_spot(extra: &[&str]) -> (std::process::Output, u16) {
    let root = Ca::root("Test Web Root");
    let gov = Ca::root("Test Gov Root");
    let leaf = LeafSpec::new(HOST);
    let mut serve = Serve::new(vec![gov.issue(&leaf)], leaf.private_key());
    serve.headers = vec!["Strict-Transport-Security: max-age=600".into()];
    let port = serve_tls(serve).await;
    let dir = scratch();
    let web = write(dir.path(), "web.pem", &root.pem());
    let vgca = write(dir.path(), "vgca.pem", &gov.pem());
    let http_port = closed_port();
    let mut args: Vec<String> = vec![
        "spot".into(),
        format!("https://{HOST}:{port}/some/page"),
        "--resolve".into(),
        format!("{HOST}:{port}:127.0.0.1"),
        "--resolve".into(),
        format!("{HOST}:{http_port}:127.0.0.1"),
        "--http-port".into(),
        http_port.to_string(),
        "--web-roots".into(),
        web.display().to_string(),
        "--anchors".into(),
        format!("vgca={}", vgca.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("dvc-audit")
            .unwrap()
            .args(&args)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (out, port)
}

#[tokio::test]
async fn spot_prints_json_facts() {
    let (out, port) = run_spot(&["--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], HOST);
    assert_eq!(v["port"], port);
    assert_eq!(v["cert"]["trusted_by"], serde_json::json!(["vgca"]));
    assert_eq!(v["cert"]["publicly_trusted"], false);
    assert_eq!(v["http"]["hsts"]["max_age"], 600);
}

#[tokio::test]
async fn spot_prints_a_table() {
    let (out, _) = run_spot(&[]).await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("cert.trusted_by"))
        .expect("trusted_by row");
    assert!(line.contains("vgca") && line.ends_with("ok"), "{line}");
    let line = text
        .lines()
        .find(|l| l.starts_with("cert.publicly_trusted"))
        .unwrap();
    assert!(line.ends_with("WARN"), "{line}");
}

#[test]
fn spot_rejects_bad_arguments() {
    let out = assert_cmd::Command::cargo_bin("dvc-audit")
        .unwrap()
        .args(["spot", "http://plain.example/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = assert_cmd::Command::cargo_bin("dvc-audit")
        .unwrap()
        .args(["spot", "https://a.example/", "--resolve", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resolve"));
}
