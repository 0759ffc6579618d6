//! `dvc-audit spot` end to end: the binary against local TLS and HTTP servers. Verdicts are
//! the default rule pack's host rules (the ones `run` evaluates), never the table's own.
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
    (dvc(args).await, port)
}

/// Run the binary with `args`.
async fn dvc(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("dvc-audit")
            .unwrap()
            .args(&args)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `(rule id, verdict)` of every outcome in a `spot --json` document.
fn outcomes(v: &serde_json::Value) -> Vec<(String, String)> {
    v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["rule_id"].as_str().unwrap().to_string(),
                o["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn with(v: &[(String, String)], verdict: &str) -> Vec<String> {
    v.iter()
        .filter(|(_, x)| x == verdict)
        .map(|(r, _)| r.clone())
        .collect()
}

#[tokio::test]
async fn spot_prints_json_facts_and_outcomes() {
    let (out, port) = run_spot(&["--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["host"]["name"], HOST);
    assert_eq!(v["host"]["port"], port);
    assert_eq!(v["host"]["cert"]["trusted_by"], serde_json::json!(["vgca"]));
    assert_eq!(v["host"]["cert"]["publicly_trusted"], false);
    assert_eq!(v["host"]["http"]["hsts"]["max_age"], 600);
    // The verdicts are the rules': trusted by the government anchor only (TLS-002, medium)
    // and a short HSTS max-age (HTTP-002, low); nothing at or above `high`, so exit 0.
    let o = outcomes(&v);
    assert_eq!(with(&o, "fail"), vec!["HTTP-002", "TLS-002"], "{o:?}");
}

#[tokio::test]
async fn spot_prints_the_rules_verdicts_under_the_facts() {
    let (out, _) = run_spot(&["--lang", "en"]).await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("cert.trusted_by"))
        .expect("trusted_by row");
    assert!(line.contains("vgca"), "{line}");
    assert!(!text.contains(" FAIL") && !text.contains(" WARN"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("[medium] TLS-002 Host") && l.contains("public web roots")),
        "{text}"
    );
}

#[tokio::test]
async fn spot_exits_1_at_or_above_fail_on() {
    // TLS-002 is medium: exit 1 with --fail-on medium, 0 with the default (high).
    let (out, _) = run_spot(&["--fail-on", "medium"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (out, _) = run_spot(&["--fail-on", "critical"]).await;
    assert_eq!(out.status.code(), Some(0));
}

/// Several hosts, each through the binary: an expired certificate (critical: exit 1), and a
/// host reached by typing its plain `http://` address (the redirect is followed to HTTPS).
#[tokio::test]
async fn spot_several_hosts_and_http_addresses() {
    let root = Ca::root("Test Web Root");
    let dir = scratch();
    let web = write(dir.path(), "web.pem", &root.pem());

    // Expired.
    let leaf = LeafSpec::new(HOST).valid(-100, -3);
    let mut serve = Serve::new(vec![root.issue(&leaf)], leaf.private_key());
    serve.headers = vec!["Strict-Transport-Security: max-age=31536000".into()];
    let port = serve_tls(serve).await;
    let http_port = closed_port();
    let out = dvc(vec![
        "spot".into(),
        format!("{HOST}:{port}"),
        "--json".into(),
        "--resolve".into(),
        format!("{HOST}:{port}:127.0.0.1"),
        "--resolve".into(),
        format!("{HOST}:{http_port}:127.0.0.1"),
        "--http-port".into(),
        http_port.to_string(),
        "--web-roots".into(),
        web.display().to_string(),
        "--no-legacy".into(),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = outcomes(&v);
    assert_eq!(with(&o, "fail"), vec!["TLS-005"], "{o:?}");
    // Not TLS-001: the expiry is the one defect; and with --no-legacy the protocol rules
    // could not assess rather than pass.
    assert!(
        with(&o, "could_not_assess").contains(&"TLS-008".to_string()),
        "{o:?}"
    );

    // A good host typed as http://: its plain port redirects to the HTTPS port.
    let leaf = LeafSpec::new(HOST);
    let mut serve = Serve::new(vec![root.issue(&leaf)], leaf.private_key());
    serve.headers = vec!["Strict-Transport-Security: max-age=31536000".into()];
    let port = serve_tls(serve).await;
    let http_port = serve_http(
        "301 Moved Permanently",
        vec![format!("Location: https://{HOST}:{port}/")],
    )
    .await;
    let out = dvc(vec![
        "spot".into(),
        format!("http://{HOST}:{http_port}/"),
        "--json".into(),
        "--resolve".into(),
        format!("{HOST}:{port}:127.0.0.1"),
        "--resolve".into(),
        format!("{HOST}:{http_port}:127.0.0.1"),
        "--web-roots".into(),
        web.display().to_string(),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["host"]["port"], port);
    assert_eq!(v["redirected_to"], format!("https://{HOST}:{port}/"));
    assert_eq!(v["host"]["http"]["https_redirect"], true);
    let o = outcomes(&v);
    assert!(with(&o, "fail").is_empty(), "{o:?}");
    assert!(with(&o, "pass").contains(&"HTTP-003".to_string()), "{o:?}");
}

/// The issue's own case, through the binary: a 3DES-only host and a legacy-only host that
/// sends HSTS give exactly their finding each, and HTTP-001 could not assess (the HTTPS
/// request cannot be made), never "HSTS absent".
#[tokio::test]
async fn spot_weak_and_legacy_only_hosts_get_no_hsts_finding() {
    let root = Ca::root("Test Web Root");
    let dir = scratch();
    let web = write(dir.path(), "web.pem", &root.pem());
    for (min, max, suites, finding) in [
        ("1.2", "1.2", ["3des", "hsts"], "TLS-017"),
        ("1.0", "1.0", ["ecdhe-aes-cbc", "hsts"], "TLS-008"),
    ] {
        let sub = scratch();
        let Some((_server, port)) = start_go(&root, sub.path(), HOST, min, max, &suites) else {
            return;
        };
        let http_port = closed_port();
        let out = dvc(vec![
            "spot".into(),
            format!("https://{HOST}:{port}/"),
            "--json".into(),
            "--resolve".into(),
            format!("{HOST}:{port}:127.0.0.1"),
            "--resolve".into(),
            format!("{HOST}:{http_port}:127.0.0.1"),
            "--http-port".into(),
            http_port.to_string(),
            "--web-roots".into(),
            web.display().to_string(),
        ])
        .await;
        // Both findings are medium: below the default --fail-on high.
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let o = outcomes(&v);
        assert_eq!(with(&o, "fail"), vec![finding], "{suites:?}: {o:?}");
        assert_eq!(
            with(&o, "could_not_assess"),
            vec!["HTTP-001", "HTTP-002"],
            "{suites:?}: {o:?}"
        );
    }
}

#[test]
fn spot_rejects_bad_arguments() {
    let out = assert_cmd::Command::cargo_bin("dvc-audit")
        .unwrap()
        .args(["spot", "ftp://plain.example/"])
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

/// A host that is no configured portal, spot-checked with a configuration: its waivers apply
/// as `run` applies them (by rule and `host:port`), so a waived finding is shown as waived and
/// does not set the exit status; without the waiver the same check exits 1.
#[tokio::test]
async fn spot_applies_the_configurations_waivers_to_a_host_that_is_no_portal() {
    let dir = scratch();
    let cfg = dir.path().join("audit.toml");
    let init = dvc(vec![
        "config".into(),
        "init".into(),
        "-c".into(),
        cfg.display().to_string(),
    ])
    .await;
    assert!(init.status.success(), "{init:?}");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("# waivers = \"waivers.toml\""), "{text}");
    std::fs::write(
        &cfg,
        text.replace("# waivers = \"waivers.toml\"", "waivers = \"waivers.toml\""),
    )
    .unwrap();
    let waivers = dir.path().join("waivers.toml");
    std::fs::write(&waivers, "").unwrap();
    let c = cfg.display().to_string();

    // No waiver: TLS-002 (medium) fails and sets the status.
    let (out, _) = run_spot(&["-c", &c, "--fail-on", "medium"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("TLS-002"), "{stdout}");

    std::fs::write(
        &waivers,
        format!(
            "[[waiver]]\nrule = \"TLS-002\"\nsubject = \"{HOST}:*\"\nreason = \"Chứng thư chuyên dùng\"\ndecision = \"QĐ 1/2026\"\nexpires = 2099-12-31\n"
        ),
    )
    .unwrap();
    let (out, _) = run_spot(&["-c", &c, "--fail-on", "medium"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("waived until 2099-12-31"), "{stdout}");
}
