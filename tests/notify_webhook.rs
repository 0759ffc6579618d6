//! The webhook end to end (issue 19): a real run of the binary against the sandbox world POSTs
//! its summary to a real HTTP server started here, which checks the HMAC signature, answers
//! 500 the first time and 200 the second. The body waits in the outbox between the two, is
//! listed by `outbox list`, and is delivered by `outbox flush`; its counts are the run's
//! report.json totals; the secret appears in no output and no spooled file.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use dvc_audit::notify::webhook;
use dvc_audit::sandbox::Size;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use support::world;

const SECRET: &str = "whsec-7c1f0e9a-do-not-leak";
const SECRET_ENV: &str = "DVC_TEST_WEBHOOK_SECRET";

#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
    /// The receiver's own check of the signature.
    signature_ok: bool,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Answer 200 from the first request on (else 500 first, then 200).
    accept_first: bool,
}

/// What a receiver does: HMAC-SHA256(secret, timestamp + "." + body), compared in constant
/// time, computed here with the `hmac` crate, independently of the scanner's code.
fn signature_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(ts), Some(sig)) = (
        headers
            .get("x-dvc-audit-timestamp")
            .and_then(|v| v.to_str().ok()),
        headers
            .get("x-dvc-audit-signature")
            .and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let Some(given) = sig
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    // Replay window: the timestamp is this attempt's, within five minutes of now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let fresh = ts.parse::<u64>().is_ok_and(|t| t.abs_diff(now) <= 300);
    fresh && mac.verify_slice(&given).is_ok()
}

async fn hook(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, &'static str) {
    let ok = signature_ok(&headers, &body);
    let mut got = r.got.lock().expect("lock");
    got.push(Received {
        headers,
        body: body.to_vec(),
        signature_ok: ok,
    });
    if !ok {
        return (StatusCode::UNAUTHORIZED, "bad signature");
    }
    if got.len() == 1 && !r.accept_first {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "receiver down for maintenance",
        )
    } else {
        (StatusCode::OK, "ok")
    }
}

async fn start_receiver(accept_first: bool) -> (Receiver, u16) {
    let receiver = Receiver {
        accept_first,
        ..Receiver::default()
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (receiver, port)
}

fn dvc() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("dvc-audit").expect("binary built");
    c.env_remove("NO_COLOR")
        .env_remove("DVC_AUDIT_LOG")
        .env_remove("DVC_AUDIT_CONFIG")
        .env_remove("DVC_AUDIT_METRICS_FILE")
        .env_remove("RUST_LOG")
        .env(SECRET_ENV, SECRET);
    c
}

async fn run_bin(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || dvc().args(&args).output().expect("runs"))
        .await
        .expect("join")
}

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_string()).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Add `[notify.webhook]` for the receiver on `port` to the world's configuration.
fn with_webhook(cfg: &Path, port: u16) -> String {
    let mut toml = std::fs::read_to_string(cfg).expect("config");
    toml.push_str(&format!(
        "\n[notify.webhook]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret_env = \"{SECRET_ENV}\"\ntimeout_ms = 20000\nheaders = {{ \"X-Route\" = \"ops-channel\" }}\n"
    ));
    std::fs::write(cfg, toml).expect("write config");
    cfg.display().to_string()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
    {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn names(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_summary_is_signed_spooled_retried_and_delivered_once() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let (receiver, port) = start_receiver(false).await;
    let cfg = with_webhook(&served.config_path(), port);
    let outbox = served.dir.path().join("outbox");

    // The run: the receiver answers 500, the body stays in the outbox; the run's exit code is
    // its findings' (1), not the webhook's.
    let run = run_bin(s(&["run", "--no-mail", "--log-format", "json", "-c", &cfg])).await;
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    let first: Vec<Received> = receiver.got.lock().expect("lock").clone();
    assert_eq!(first.len(), 1, "one attempt during the run");
    assert!(first[0].signature_ok, "the receiver verified the HMAC");
    assert_eq!(
        first[0]
            .headers
            .get("x-route")
            .and_then(|v| v.to_str().ok()),
        Some("ops-channel")
    );
    assert_eq!(
        first[0]
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("webhook not delivered") && stderr.contains("HTTP 500"),
        "{stderr}"
    );
    let spooled = names(&outbox, ".webhook.json");
    assert_eq!(spooled.len(), 1, "spooled before sending: {spooled:?}");
    assert_eq!(
        std::fs::read(outbox.join(&spooled[0])).expect("spool"),
        first[0].body,
        "the spool holds exactly the bytes that were signed and sent"
    );

    // The body: the run_finished event's fields with a schema version.
    let body: Value = serde_json::from_slice(&first[0].body).expect("JSON body");
    assert_eq!(body["schema_version"], webhook::SCHEMA_VERSION);
    assert_eq!(body["event"], "run_finished");
    let finished: Value = text(&run.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "run_finished")
        .expect("run_finished line");
    for (k, v) in finished["fields"].as_object().expect("fields") {
        if k != "message" {
            assert_eq!(&body[k], v, "body.{k} is run_finished's");
        }
    }
    assert_eq!(body["exit_code"], 1);
    assert_eq!(body["mode"], "regular");
    // One set of numbers: the body's counts are the run's report.json totals.
    let report_json = body["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .filter_map(Value::as_str)
        .find(|p| p.ends_with("report.json"))
        .map(|p| served.dir.path().join(p))
        .expect("a report.json among the reports");
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report_json).expect("report.json")).expect("json");
    let totals = &report["totals"];
    for (count, total) in [
        ("findings", "findings"),
        ("services", "services"),
        ("services_read", "services_read"),
        ("could_not_assess", "could_not_assess"),
        ("waived", "waived"),
        ("new", "new"),
        ("persisting", "persisting"),
        ("regressed", "regressed"),
        ("resolved", "resolved"),
        ("unverified", "unverified"),
    ] {
        assert_eq!(
            body["counts"][count].as_i64(),
            totals[total].as_i64(),
            "counts.{count} = totals.{total}"
        );
    }
    assert!(
        body["counts"]["findings"].as_i64() > Some(0),
        "the tiny world plants defects"
    );

    // `outbox list` shows the pending webhook, with its attempt and error.
    let list = run_bin(s(&["outbox", "list", "--json", "-c", &cfg])).await;
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    let v: Value = serde_json::from_slice(&list.stdout).expect("outbox list --json");
    let hooks: Vec<&Value> = v["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .filter(|i| i["kind"] == "webhook")
        .collect();
    assert_eq!(hooks.len(), 1, "{v}");
    let id = hooks[0]["id"].as_str().expect("id").to_string();
    assert_eq!(hooks[0]["attempts"], 1);
    assert!(
        hooks[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 500")),
        "{v}"
    );
    let plain = run_bin(s(&["outbox", "list", "-c", &cfg])).await;
    assert!(text(&plain.stdout).contains(&id), "{}", text(&plain.stdout));

    // `outbox flush` retries: the receiver answers 200, the body moves to sent/.
    let flush = run_bin(s(&["outbox", "flush", "-v", "-c", &cfg])).await;
    assert_eq!(flush.status.code(), Some(0), "{}", text(&flush.stderr));
    let got: Vec<Received> = receiver.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 2, "one retry");
    assert!(got[1].signature_ok, "the retry is signed afresh");
    assert_eq!(got[1].body, first[0].body, "the same body");
    let delivery = |r: &Received| {
        r.headers
            .get("x-dvc-audit-delivery")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(delivery(&got[0]), Some(id.clone()));
    assert_eq!(
        delivery(&got[1]),
        Some(id.clone()),
        "receivers dedupe on it"
    );
    assert!(names(&outbox, ".webhook.json").is_empty());
    assert_eq!(
        names(&outbox.join("sent"), ".webhook.json"),
        vec![format!("{id}.webhook.json")]
    );

    // Delivered once: another flush sends nothing.
    let again = run_bin(s(&["outbox", "flush", "-c", &cfg])).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(receiver.got.lock().expect("lock").len(), 2);

    // The secret is in no output and no file the outbox holds.
    for (what, out) in [("run", &run), ("list", &list), ("flush", &flush)] {
        for stream in [&out.stdout, &out.stderr] {
            assert!(!text(stream).contains(SECRET), "{what} printed the secret");
        }
    }
    for f in files_under(&outbox) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !text(&bytes).contains(SECRET),
            "{} holds the secret",
            f.display()
        );
    }
    for r in &got {
        for (name, value) in &r.headers {
            assert!(
                !value.to_str().unwrap_or_default().contains(SECRET),
                "header {name} carries the secret"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_stops_the_run_before_any_traffic() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let cfg = served.config_path();
    let mut toml = std::fs::read_to_string(&cfg).expect("config");
    toml.push_str("\n[notify.webhook]\nurl = \"https://hooks.example.org/dvc\"\n");
    std::fs::write(&cfg, &toml).expect("write config");
    let line = toml
        .lines()
        .position(|l| l == "[notify.webhook]")
        .expect("section")
        + 1;
    let out = tokio::task::spawn_blocking(move || {
        dvc()
            .env_remove("DVC_AUDIT_WEBHOOK_SECRET")
            .args(["run", "--no-mail", "-c"])
            .arg(&cfg)
            .output()
            .expect("runs")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("DVC_AUDIT_WEBHOOK_SECRET is not set"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("audit.toml:{line}:")),
        "file:line:col of the section: {stderr}"
    );
    assert_eq!(
        served.handle.request_log().len(),
        0,
        "nothing was crawled with a broken configuration"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_start_still_tells_the_receiver() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let (receiver, port) = start_receiver(true).await;
    let cfg = with_webhook(&served.config_path(), port);
    // Another run holds the database: this one exits 4 before storing anything.
    let held = dvc_audit::run::lock::RunLock::acquire(&served.db()).expect("lock");
    let out = run_bin(s(&["run", "--no-mail", "-c", &cfg])).await;
    drop(held);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let got = receiver.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    assert!(got[0].signature_ok);
    let body: Value = serde_json::from_slice(&got[0].body).expect("JSON body");
    assert_eq!(body["status"], "not_started");
    assert_eq!(body["exit_code"], 4);
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(body["run_id"].is_null());
    let outbox = served.dir.path().join("outbox");
    assert!(names(&outbox, ".webhook.json").is_empty(), "delivered");
    let sent = names(&outbox.join("sent"), ".webhook.json");
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with("norun-webhook-"), "{sent:?}");
}
