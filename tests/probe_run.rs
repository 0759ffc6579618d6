//! The findings of a real `dvc-audit run` (the binary, its SQLite store) over several hosts of
//! one agency: a good portal, an expired certificate, a 3DES-only host and a legacy-only
//! (TLS 1.0) host that sends HSTS. Each host gets exactly its finding; neither weak host gets
//! HTTP-001 (its HSTS could not be read, which is stored as could-not-assess).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod probe_common;

use std::collections::{BTreeMap, BTreeSet};

use dvc_audit::store::Store;
use probe_common::*;

const PORTAL: &str = "portal.run.sandbox.test";
const EXPIRED: &str = "expired.run.sandbox.test";
const DES: &str = "des.run.sandbox.test";
const LEGACY: &str = "legacy.run.sandbox.test";
const HSTS: &str = "Strict-Transport-Security: max-age=31536000";

#[tokio::test]
async fn a_run_stores_exactly_one_finding_per_defect_per_host() {
    if !have("openssl") {
        return;
    }
    let root = Ca::root("Test Web Root");
    let dir = scratch();
    let d = dir.path();

    let serve = |leaf: LeafSpec| {
        let mut s = Serve::new(vec![root.issue(&leaf)], leaf.private_key());
        s.headers = vec![HSTS.into()];
        s
    };
    let portal = serve_tls(serve(LeafSpec::new(PORTAL))).await;
    let expired = serve_tls(serve(LeafSpec::new(EXPIRED).valid(-100, -3))).await;
    let des_dir = scratch();
    let Some((_des_server, des)) =
        start_go(&root, des_dir.path(), DES, "1.2", "1.2", &["3des", "hsts"])
    else {
        return;
    };
    let legacy_dir = scratch();
    let Some((_legacy_server, legacy)) = start_go(
        &root,
        legacy_dir.path(),
        LEGACY,
        "1.0",
        "1.0",
        &["ecdhe-aes-cbc", "hsts"],
    ) else {
        return;
    };
    let http_port = closed_port();

    write(d, "web.pem", &root.pem());
    let hosts = [
        (PORTAL, portal),
        (EXPIRED, expired),
        (DES, des),
        (LEGACY, legacy),
    ];
    let resolve: Vec<String> = hosts
        .iter()
        .flat_map(|(h, p)| {
            [
                format!("\"{h}:{p}:127.0.0.1\""),
                format!("\"{h}:{http_port}:127.0.0.1\""),
            ]
        })
        .collect();
    let config = format!(
        r#"[audit]
name = "tls verdicts"
fail_on = "high"

[crawl]
user_agent = "dvc-audit/0.1 (+mailto:kiemtra@sandbox.test)"
http_port = {http_port}
allow_private = ["127.0.0.0/8"]
connect_timeout_ms = 2000
read_timeout_ms = 3000
total_timeout_ms = 5000
retries = 0
resolve = [{resolve}]

[tls]
web_roots = "web.pem"

[storage]
sqlite = "db.sqlite"

[report]
dir = "reports"

[email]
enabled = false

[[agency]]
id = "run-test"
name = "Run test"
name_en = "Run test"
kind = "province"
portal = "https://{PORTAL}:{portal}/"
extra_hosts = ["https://{EXPIRED}:{expired}/", "https://{DES}:{des}/", "https://{LEGACY}:{legacy}/"]
platform = "table"
jurisdiction = "mien-bac"
"#,
        resolve = resolve.join(", ")
    );
    let config_path = write(d, "audit.toml", &config);
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("dvc-audit")
            .unwrap()
            .arg("--config")
            .arg(&config_path)
            .args(["run", "--no-mail"])
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    // TLS-005 (expired) is critical: at or above fail_on = high.
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let store = Store::open(&d.join("db.sqlite")).unwrap();
    let run = store.runs(1).unwrap()[0].id;
    let mut fails: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut cna: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in store.findings(run).unwrap() {
        if f.scope != "host" {
            continue;
        }
        let into = if f.outcome == "fail" {
            &mut fails
        } else {
            &mut cna
        };
        into.entry(f.subject.clone())
            .or_default()
            .insert(f.rule_id.clone());
    }
    let subject = |h: &str, p: u16| format!("{h}:{p}");
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let got = |m: &BTreeMap<String, BTreeSet<String>>, h: &str, p: u16| {
        m.get(&subject(h, p)).cloned().unwrap_or_default()
    };
    assert_eq!(got(&fails, PORTAL, portal), ids(&[]), "{fails:#?}");
    assert_eq!(
        got(&fails, EXPIRED, expired),
        ids(&["TLS-005"]),
        "{fails:#?}"
    );
    assert_eq!(got(&fails, DES, des), ids(&["TLS-017"]), "{fails:#?}");
    assert_eq!(got(&fails, LEGACY, legacy), ids(&["TLS-008"]), "{fails:#?}");
    for (h, p) in [(DES, des), (LEGACY, legacy)] {
        assert_eq!(
            got(&cna, h, p),
            ids(&["HTTP-001", "HTTP-002"]),
            "{h}: HSTS unknown, not absent: {cna:#?}"
        );
    }
    assert_eq!(got(&cna, PORTAL, portal), ids(&[]), "{cna:#?}");
}

const PLAIN: &str = "plain.run.sandbox.test";

#[tokio::test]
async fn a_portal_configured_as_plain_http_without_https_gets_the_no_https_finding() {
    // The portal is configured as `http://…` and its host offers no HTTPS: port 443 of its
    // address refuses (nothing listens there on this machine), plain HTTP answers 200. Before,
    // the run probed the plain-HTTP port with a TLS handshake (tls_handshake against an HTTP
    // server): every host rule could not assess, and nothing was found.
    if std::net::TcpStream::connect(("127.0.0.1", 443)).is_ok() {
        eprintln!("SKIP: something listens on 127.0.0.1:443");
        return;
    }
    let dir = scratch();
    let d = dir.path();
    let http_port = serve_http("200 OK", Vec::new()).await;
    let config = format!(
        r#"[audit]
name = "plain portal"
fail_on = "high"

[crawl]
user_agent = "dvc-audit/0.1 (+mailto:kiemtra@sandbox.test)"
http_port = {http_port}
allow_private = ["127.0.0.0/8"]
connect_timeout_ms = 2000
read_timeout_ms = 3000
total_timeout_ms = 5000
retries = 0
resolve = ["{PLAIN}:443:127.0.0.1", "{PLAIN}:{http_port}:127.0.0.1"]

[storage]
sqlite = "db.sqlite"

[report]
dir = "reports"

[email]
enabled = false

[[agency]]
id = "plain-test"
name = "Plain test"
name_en = "Plain test"
kind = "province"
portal = "http://{PLAIN}:{http_port}/"
platform = "table"
jurisdiction = "mien-bac"
"#
    );
    let config_path = write(d, "audit.toml", &config);
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("dvc-audit")
            .unwrap()
            .arg("--config")
            .arg(&config_path)
            .args(["run", "--no-mail"])
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let store = Store::open(&d.join("db.sqlite")).unwrap();
    let run = store.runs(1).unwrap()[0].id;
    let mut fails = BTreeSet::new();
    let mut subjects = BTreeSet::new();
    for f in store.findings(run).unwrap() {
        if f.scope != "host" {
            continue;
        }
        subjects.insert(f.subject.clone());
        if f.outcome == "fail" {
            fails.insert(f.rule_id.clone());
        }
    }
    assert_eq!(subjects, BTreeSet::from([format!("{PLAIN}:443")]));
    assert_eq!(
        fails,
        BTreeSet::from(["HTTP-003".to_string(), "HTTP-004".to_string()]),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // HTTP-004 is critical: at or above fail_on = high.
    assert_eq!(out.status.code(), Some(1));
}
