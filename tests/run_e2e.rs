//! End to end (issue 9): a sandbox world served on loopback → `run` → findings compared with
//! what the ground truth implies → HTML and JSON reports → mail delivered to a real SMTP server
//! (aiosmtpd). Also: a seeded surprise run draws the same sample twice and mails inspectors
//! only; a second run while the lock is held exits with the lock code; `demo` works on
//! ephemeral ports.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dvc_audit::config::Config;
use dvc_audit::report::Mode;
use dvc_audit::run::lock::RunLock;
use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::Size;
use dvc_audit::store::{FindingRecord, Store};
use support::truth::{actual, assert_same, expected};
use support::{smtp, world};

fn mail_config(c: &mut Config, port: u16) {
    c.email.enabled = true;
    c.email.smtp_host = "127.0.0.1".into();
    c.email.smtp_port = port;
    c.email.tls = dvc_audit::config::SmtpTls::None;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regular_run_matches_the_ground_truth_writes_reports_and_mails() {
    if !smtp::available() {
        return;
    }
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let pki = smtp::Pki::new();
    let port = smtp::free_port();
    let mailbox = served.dir.path().join("mailbox");
    let _server = smtp::start(&pki, port, &mailbox, "plain", None);
    let setup = world::setup(&served.config_path(), |c| mail_config(c, port));

    let summary = pipeline::run(&setup, RunOptions::default(), None)
        .await
        .expect("the run completes");
    assert!(summary.complete);
    assert_eq!(summary.mode, Mode::Regular);

    // Findings: exactly what the ground truth implies, for every checked rule.
    let truth = served.handle.ground_truth();
    let store = Store::open(&served.db()).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");
    assert_same("regular run", &expected(&truth), &actual(&truth, &findings));

    // Sanity: the comparison covers each named defect kind at least once.
    let exp = expected(&truth);
    for rule in [
        "SIG-001", "SIG-004", "AVL-002", "TLS-001", "TLS-002", "TLS-004", "TLS-005", "TLS-007",
        "TLS-013", "HTTP-001", "HTTP-003",
    ] {
        assert!(
            exp.iter().any(|(r, _, _)| r == rule),
            "the tiny world plants nothing for {rule}"
        );
    }
    for s in truth
        .services
        .iter()
        .filter(|s| s.defects.iter().any(|d| d == "full_without_signature"))
    {
        let subject = format!("{}/{}", s.agency_id, s.code);
        assert!(
            exp.contains(&("SIG-001".into(), subject.clone(), "fail".into()))
                || exp.contains(&("SIG-004".into(), subject.clone(), "fail".into())),
            "{subject}: full_without_signature implies SIG-001 (or SIG-004 with a site-wide plugin)"
        );
    }

    // A service that could not be assessed never carries a fail, on any rule.
    let by_url: BTreeMap<String, String> = truth
        .services
        .iter()
        .map(|s| {
            (
                format!("{}/{}", s.agency_id, s.url),
                format!("{}/{}", s.agency_id, s.code),
            )
        })
        .collect();
    for s in truth.services.iter().filter(|s| s.expect != "ok") {
        let subject = format!("{}/{}", s.agency_id, s.code);
        for f in &findings {
            let fs = by_url.get(&f.subject).unwrap_or(&f.subject);
            if *fs == subject {
                assert_eq!(
                    (f.outcome.as_str(), f.reason.as_str()),
                    ("could_not_assess", s.expect.as_str()),
                    "{subject} {}: expected could not assess ({})",
                    f.rule_id,
                    s.expect
                );
            }
        }
    }

    // Reports.
    let html = summary
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "html"))
        .expect("an HTML report");
    let json = summary
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON report");
    let html = std::fs::read_to_string(html).expect("read html");
    assert!(
        html.contains("SIG-001") && html.contains("TLS-005") && html.contains("TLS-013"),
        "the HTML report names the failing rules"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).expect("read json"))
            .expect("JSON report parses");
    assert!(json.to_string().contains("tracuu.caobang.sandbox.test"));

    // Mail: one message per agency to its contacts and the inspectors of its jurisdiction,
    // and the lead's digest, each delivered once.
    let cfg = &setup.loaded.config;
    let mut want: Vec<Vec<String>> = cfg
        .agencies
        .iter()
        .map(|a| {
            let mut r: BTreeSet<String> = a.contacts.iter().cloned().collect();
            r.extend(
                cfg.inspectors
                    .get(&a.jurisdiction)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            r.extend(a.inspectors.iter().cloned());
            r.into_iter().collect()
        })
        .collect();
    want.push(
        cfg.email
            .lead
            .to
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    );
    want.sort();
    let got_mail = smtp::received(&mailbox);
    let mut got: Vec<Vec<String>> = got_mail.iter().map(smtp::rcpts).collect();
    got.sort();
    assert_eq!(got, want, "recipients per message");
    for m in &got_mail {
        let subject = m["subject"].as_str().unwrap_or_default();
        assert!(
            subject.contains("[Kiểm tra định kỳ]"),
            "subject {subject:?}"
        );
    }
    // Host findings reach the owning agency's message (they carry no agency in their subject).
    let caobang = got_mail
        .iter()
        .find(|m| {
            smtp::rcpts(m)
                .iter()
                .any(|r| r == "vanthu@caobang.sandbox.test")
        })
        .expect("a message to caobang");
    let text = caobang["text"].as_str().unwrap_or_default();
    assert!(text.contains("thanhtoan.caobang.sandbox.test"), "{text}");
    assert_eq!(summary.mail_sent, want.len());
    assert_eq!(summary.mail_pending, 0);
}

/// The demo world plants every defect kind (slow and hanging pages included); the whole run
/// must match the ground truth too. A short slow delay keeps it quick: the slow page answers
/// well inside the read timeout, the hanging one far outside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_world_run_matches_the_ground_truth() {
    let served = world::serve(Size::Demo, 1, Duration::from_millis(300)).await;
    let setup = world::setup(&served.config_path(), |c| c.email.enabled = false);
    let summary = pipeline::run(&setup, RunOptions::default(), None)
        .await
        .expect("the run completes");
    let truth = served.handle.ground_truth();
    let store = Store::open(&served.db()).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");
    assert_same("demo world", &expected(&truth), &actual(&truth, &findings));
    let reasons: BTreeSet<&str> = truth.services.iter().map(|s| s.expect.as_str()).collect();
    assert!(
        reasons.contains("timeout") && reasons.contains("too_large"),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_surprise_run_draws_the_same_sample_and_mails_inspectors_only() {
    if !smtp::available() {
        return;
    }
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let pki = smtp::Pki::new();
    let port = smtp::free_port();
    let mailbox = served.dir.path().join("mailbox");
    let _server = smtp::start(&pki, port, &mailbox, "plain", None);
    let setup = world::setup(&served.config_path(), |c| mail_config(c, port));
    let opts = RunOptions {
        mode: Mode::Surprise,
        sample_agencies: Some(2),
        sample_services: Some(3),
        seed: Some(20261127),
        ..RunOptions::default()
    };

    let first = pipeline::run(&setup, opts.clone(), None)
        .await
        .expect("first surprise run");
    let first_mail = smtp::received(&mailbox);
    let second = pipeline::run(&setup, opts, None)
        .await
        .expect("second surprise run");
    assert_eq!(first.seed, Some(20261127));
    assert_eq!(second.seed, Some(20261127));

    let store = Store::open(&served.db()).expect("store");
    let a = store.run(first.run_id).expect("run 1");
    let b = store.run(second.run_id).expect("run 2");
    assert_eq!(a.mode, "surprise");
    assert_eq!(a.seed, Some(20261127));
    assert_eq!(
        a.scope.agencies.len(),
        2,
        "two agencies drawn: {:?}",
        a.scope.agencies
    );
    let services = a
        .scope
        .services
        .clone()
        .expect("a service sample is recorded");
    assert!(
        !services.is_empty() && services.len() <= 6,
        "at most 3 services per agency: {services:?}"
    );
    assert_eq!(a.scope, b.scope, "the same seed draws the same sample");

    // Inspectors only: no agency contact among the recipients of either run.
    let contacts: BTreeSet<String> = setup
        .loaded
        .config
        .agencies
        .iter()
        .flat_map(|a| a.contacts.iter().cloned())
        .collect();
    let all_mail = smtp::received(&mailbox);
    assert!(
        !first_mail.is_empty(),
        "the surprise run mails the inspectors"
    );
    assert!(
        all_mail.len() > first_mail.len(),
        "the second run mails too"
    );
    for m in &all_mail {
        for r in smtp::rcpts(m) {
            assert!(
                !contacts.contains(&r),
                "agency contact {r} received a surprise inspection mail"
            );
        }
        let subject = m["subject"].as_str().unwrap_or_default();
        assert!(
            subject.contains("[Kiểm tra đột xuất]"),
            "subject {subject:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_while_the_lock_is_held_exits_with_the_lock_code() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let _held = RunLock::acquire(&served.db()).expect("take the lock");
    let config = served.config_path();
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("dvc-audit")
            .expect("binary")
            .args(["run", "--no-mail", "-c"])
            .arg(&config)
            .timeout(Duration::from_secs(60))
            .output()
            .expect("run the CLI")
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "stderr: {stderr}");
    assert!(
        stderr.contains("another dvc-audit run holds")
            && stderr.contains(&format!("pid {}", std::process::id())),
        "the message names the lock and its holder: {stderr}"
    );
    // Nothing was started: no run row, no request to the world.
    let store = Store::open(&served.db()).expect("store");
    assert!(store.runs(10).expect("runs").is_empty());
    assert!(served.handle.request_log().is_empty());
}

#[test]
fn demo_runs_on_ephemeral_ports_and_prints_its_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = assert_cmd::Command::cargo_bin("dvc-audit")
        .expect("binary")
        .args([
            "demo",
            "--size",
            "tiny",
            "--https-port",
            "0",
            "--http-port",
            "0",
            "--dir",
        ])
        .arg(dir.path())
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("world: 4 agencies, 36 services on 127.0.0.1:"),
        "{stdout}"
    );
    // Port 0 means "any free port": the demo names the one it served on, and the config it
    // wrote points there.
    let port: u16 = stdout
        .split("services on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the HTTPS port is printed");
    assert_ne!(port, 0);
    let config = std::fs::read_to_string(dir.path().join("audit.toml")).expect("config");
    assert!(
        config.contains(&format!("dvc.bca.sandbox.test:{port}:127.0.0.1")),
        "{config}"
    );
    assert!(stdout.contains("run 1 (regular): 4 agencies"), "{stdout}");
    assert!(stdout.contains("findings: "), "{stdout}");
    let html = dir.path().join("reports/run-1/report.html");
    assert!(stdout.contains(&html.display().to_string()), "{stdout}");
    for f in [
        "audit.toml",
        "ca.pem",
        "gov-ca.pem",
        "ground-truth.json",
        "dvc-audit.sqlite",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} written");
    }
    assert!(html.is_file());
    assert!(dir.path().join("reports/run-1/report.json").is_file());
    // The demo's SMTP sink received the mail: sent from the outbox, one maildir file each.
    let count_eml = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0)
    };
    let sent = count_eml(&dir.path().join("outbox/sent"));
    assert!(
        sent >= 2,
        "agency messages and the lead digest are sent ({sent})"
    );
    assert_eq!(count_eml(&dir.path().join("outbox")), 0, "nothing pending");
    assert_eq!(count_eml(&dir.path().join("maildir/new")), sent);
    assert!(
        stdout.contains(&format!(
            "{sent} emails delivered (maildir: {})",
            dir.path().join("maildir/new").display()
        )),
        "{stdout}"
    );
    // The run is in the history and its chain verifies.
    let store = Store::open(&dir.path().join("dvc-audit.sqlite")).expect("store");
    let runs = store.runs(10).expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "complete");
    assert!(store.verify_chain().expect("verify").is_empty());
}

#[test]
fn demo_falls_back_to_free_ports_when_its_port_is_busy() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = assert_cmd::Command::cargo_bin("dvc-audit")
        .expect("binary")
        .args(["demo", "--size", "tiny", "--https-port"])
        .arg(port.to_string())
        .args(["--http-port", "0", "--dir"])
        .arg(dir.path())
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}");
    assert!(stdout.contains("run 1 (regular): 4 agencies"), "{stdout}");
    assert!(
        !stdout.contains(&format!("services on 127.0.0.1:{port} ")),
        "{stdout}"
    );
    drop(busy);
}

/// A host several agencies list (a shared payment or lookup site) is judged once per run and
/// reported with the first agency that lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_shared_by_two_agencies_is_one_finding() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let shared = format!(
        "https://thanhtoan.bca.sandbox.test:{}/",
        served.handle.https_port()
    );
    let setup = world::setup(&served.config_path(), |c| {
        c.email.enabled = false;
        for a in c.agencies.iter_mut().filter(|a| a.id == "danang") {
            a.extra_hosts.push(shared.clone());
        }
    });
    let summary = pipeline::run(&setup, RunOptions::default(), None)
        .await
        .expect("the run completes");
    let store = Store::open(&served.db()).expect("store");
    let tls: Vec<FindingRecord> = store
        .findings(summary.run_id)
        .expect("findings")
        .into_iter()
        .filter(|f| f.rule_id == "TLS-001" && f.subject.starts_with("thanhtoan.bca."))
        .collect();
    assert_eq!(tls.len(), 1, "{tls:?}");
    assert_eq!(tls[0].agency_id, "bca");
}

/// `dvc-audit run` as cron runs it: the summary on stdout, exit 1 when findings reach
/// `fail_on`, exit 2 (nothing run) for an unknown agency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_command_exits_with_the_documented_codes() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let config = served.config_path();
    let out = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| {
            assert_cmd::Command::cargo_bin("dvc-audit")
                .expect("binary")
                .args(["run", "--no-mail"])
                .args(args)
                .arg("-c")
                .arg(&config)
                .timeout(Duration::from_secs(120))
                .output()
                .expect("run the CLI")
        };
        (run(&["--agency", "danang"]), run(&["--agency", "khong-co"]))
    })
    .await
    .expect("join");
    let (ok, unknown) = out;
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(1),
        "findings at or above high: {stdout}"
    );
    assert!(
        stdout.contains("run 1 (regular): 1 agencies, 12 services"),
        "{stdout}"
    );
    assert!(stdout.contains("report: "), "{stdout}");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("khong-co"));
    let store = Store::open(&served.db()).expect("store");
    assert_eq!(
        store.runs(10).expect("runs").len(),
        1,
        "the refused run left no row"
    );
}
