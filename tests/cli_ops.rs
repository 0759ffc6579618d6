//! What an operator running dvc-audit from cron or systemd relies on (issue 19): logs without
//! colour off a terminal, JSON lines with `--log-format json` ending in one `run_finished`,
//! stage events by default and none with `--quiet`, a Prometheus textfile that parses and
//! agrees with the stored findings, the exit-code table (README = `--help` = behaviour), and
//! shell completions, man pages, `config init`, `--version` and the `--json` listings.
//!
//! Runs use the real binary against the sandbox world served on loopback.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use dvc_audit::sandbox::Size;
use dvc_audit::store::Store;
use serde_json::Value;
use support::world;

fn dvc() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("dvc-audit").expect("binary built");
    // The operator's environment decides, not the test runner's.
    c.env_remove("NO_COLOR")
        .env_remove("DVC_AUDIT_LOG")
        .env_remove("DVC_AUDIT_CONFIG")
        .env_remove("DVC_AUDIT_METRICS_FILE")
        .env_remove("RUST_LOG");
    c
}

/// Run the binary off the async runtime (the sandbox keeps serving on its workers).
async fn run_bin(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || dvc().args(&args).output().expect("runs"))
        .await
        .expect("join")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json_lines(stream: &str, b: &[u8]) -> Vec<Value> {
    text(b)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) if v.is_object() => v,
            _ => panic!("{stream}: not a JSON object line: {l:?}"),
        })
        .collect()
}

fn message(v: &Value) -> &str {
    v["fields"]["message"].as_str().unwrap_or_default()
}

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_string()).collect()
}

/// Failing, unwaived findings of a run by severity, read finding by finding (not through the
/// aggregates the metrics and reports use).
fn failing_by_severity(db: &Path, run: i64) -> BTreeMap<String, f64> {
    let store = Store::open(db).expect("store");
    let mut out = BTreeMap::new();
    for f in store.findings(run).expect("findings") {
        if f.outcome == "fail" && f.waiver.is_empty() {
            *out.entry(f.severity.clone()).or_insert(0.0) += 1.0;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_run_is_json_lines_ending_in_run_finished_and_its_metrics_parse() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let cfg = served.config_path();
    let metrics = served.dir.path().join("dvc_audit.prom");
    let out = run_bin(s(&[
        "run",
        "--no-mail",
        "--log-format",
        "json",
        "--metrics-file",
        &metrics.display().to_string(),
        "-c",
        &cfg.display().to_string(),
    ]))
    .await;
    let code = out.status.code().expect("exit code");
    let (stdout, stderr) = (
        json_lines("stdout", &out.stdout),
        json_lines("stderr", &out.stderr),
    );
    assert!(!out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b));

    // Stage events at info level by default off a terminal.
    let events: Vec<&str> = stderr.iter().map(message).collect();
    for stage in [
        "run started",
        "probe finished",
        "crawl finished",
        "findings stored",
        "reports written",
    ] {
        assert!(events.contains(&stage), "no {stage:?} in {events:?}");
    }

    // One run_finished, the last line, with the run's verdicts.
    let finished: Vec<&Value> = stdout
        .iter()
        .chain(&stderr)
        .filter(|v| message(v) == "run_finished")
        .collect();
    assert_eq!(finished.len(), 1);
    let last = stdout.last().expect("a stdout line");
    assert_eq!(message(last), "run_finished");
    let f = &last["fields"];
    assert_eq!(f["exit_code"].as_i64(), Some(i64::from(code)));
    assert_eq!(f["mode"], "regular");
    assert_eq!(f["status"], "complete");
    let run_id = f["run_id"].as_i64().expect("run id");
    let by_sev = failing_by_severity(&served.db(), run_id);
    let findings: f64 = by_sev.values().sum();
    assert!(findings > 0.0, "the tiny world plants defects");
    assert_eq!(f["counts"]["findings"].as_f64(), Some(findings));
    // The tiny world plants a critical defect (and fail_on is high): exit 1, worst critical.
    assert_eq!(code, 1);
    assert_eq!(f["worst"], "critical");
    assert!(f["counts"]["services"].as_u64().is_some_and(|n| n > 0));
    // Coverage per agency, from the summary: its reads add up to the count of services read.
    let read: u64 = f["coverage"]
        .as_object()
        .expect("coverage per agency")
        .values()
        .filter_map(|c| c["read"].as_u64())
        .sum();
    assert_eq!(Some(read), f["counts"]["services_read"].as_u64());
    assert!(f["counts"]["services_read"].as_u64() <= f["counts"]["services"].as_u64());
    assert!(f["durations"]["total_secs"].as_f64().is_some());
    assert!(f["durations"]["stages"]["crawl"].as_f64().is_some());
    let reports = f["reports"].as_array().expect("reports");
    assert!(!reports.is_empty());
    for r in reports {
        let p = served.dir.path().join(r.as_str().expect("path"));
        assert!(p.is_file(), "{}", p.display());
    }

    // The metrics file: a Prometheus text parser reads it, and it agrees with the store.
    let body = std::fs::read_to_string(&metrics).expect("metrics written");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("prometheus text parses");
    let value = |s: &prometheus_parse::Sample| match s.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{} is not a gauge", s.metric),
    };
    let get = |name: &str| -> Vec<&prometheus_parse::Sample> {
        scrape.samples.iter().filter(|s| s.metric == name).collect()
    };
    let exit: Vec<f64> = get("dvc_audit_last_run_exit_code")
        .into_iter()
        .map(value)
        .collect();
    assert_eq!(exit, vec![f64::from(code)]);
    assert_eq!(
        get("dvc_audit_last_run_id").first().map(|s| value(s)),
        Some(run_id as f64)
    );
    let mut metric_sev: BTreeMap<String, f64> = BTreeMap::new();
    for s in get("dvc_audit_findings") {
        if s.labels.get("state") != Some("waived") {
            let sev = s.labels.get("severity").unwrap_or_default().to_string();
            *metric_sev.entry(sev).or_insert(0.0) += value(s);
        }
    }
    metric_sev.retain(|_, v| *v > 0.0);
    assert_eq!(metric_sev, by_sev);
    let services: f64 = get("dvc_audit_services_read").into_iter().map(value).sum();
    assert_eq!(Some(services), f["counts"]["services_read"].as_f64());
    let unverified: f64 = get("dvc_audit_findings_unverified")
        .into_iter()
        .map(value)
        .sum();
    assert_eq!(Some(unverified), f["counts"]["unverified"].as_f64());
    for s in get("dvc_audit_vgca_share") {
        assert!((0.0..=1.0).contains(&value(s)), "{s:?}");
    }
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(served.dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("prom"))
        .collect();
    assert_eq!(names, vec!["dvc_audit.prom".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_run_off_a_terminal_has_no_colour_and_stage_events_and_quiet_has_none() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let cfg = served.config_path().display().to_string();
    let out = run_bin(s(&["run", "--no-mail", "-c", &cfg])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!out.stdout.contains(&0x1b), "ESC on stdout");
    assert!(!out.stderr.contains(&0x1b), "ESC on stderr");
    let err = text(&out.stderr);
    assert!(
        err.contains("INFO") && err.contains("crawl finished"),
        "{err}"
    );
    assert!(text(&out.stdout).contains("findings: "));

    let out = run_bin(s(&["run", "--no-mail", "--quiet", "-c", &cfg])).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(!err.contains("INFO") && !err.contains("WARN"), "{err}");
    // The second run's summary: the first run's findings persist.
    assert!(
        text(&out.stdout).contains("0 new, "),
        "{}",
        text(&out.stdout)
    );
}

/// A configuration with one agency whose portal nobody serves (commands that never crawl).
fn offline_config(dir: &Path) -> String {
    let path = dir.join("audit.toml");
    std::fs::write(
        &path,
        r#"[crawl]
user_agent = "dvc-audit/0.1 (+mailto:kiemtra@example.gov.vn)"
[[agency]]
id = "bca"
name = "Bộ Công an"
kind = "ministry"
portal = "https://dvc.bca.sandbox.test/"
platform = "accordion"
"#,
    )
    .expect("config");
    path.display().to_string()
}

fn code_of(args: &[&str]) -> (i32, String, String) {
    let out = dvc().args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn usage_errors_exit_2_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = offline_config(dir.path());
    // A history with one (empty) run, so "no such run" is about the id, not the database.
    let mut store = Store::open(&dir.path().join("dvc-audit.sqlite")).expect("store");
    store
        .begin_run(&dvc_audit::store::RunStart {
            mode: "regular".into(),
            scope: dvc_audit::store::Scope {
                agencies: vec!["bca".into()],
                services: None,
            },
            seed: None,
            ruleset_digest: "r".into(),
            config_digest: "c".into(),
        })
        .expect("begin");
    drop(store);
    let c = cfg.as_str();
    for args in [
        vec!["nosuch"],
        vec!["run", "--no-such-flag", "-c", c],
        vec!["run", "--no-mail", "--agency", "nosuch", "-c", c],
        vec!["run", "--no-mail", "--surprise", "--agencies", "0", "-c", c],
        vec!["run", "--no-mail", "--surprise", "--services", "0", "-c", c],
        vec!["report", "--run", "99", "-c", c],
        vec!["report", "--format", "pdf", "-c", c],
        vec!["history", "--agency", "nosuch", "-c", c],
        vec!["config", "check", "-c", "/nonexistent/audit.toml"],
    ] {
        let (code, _, err) = code_of(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.trim().is_empty(), "{args:?} says nothing");
    }
    // ...and the same commands with valid arguments do not.
    let (code, out, err) = code_of(&["history", "--agency", "bca", "-c", c]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("run "), "{out}");
    // A usage error with --log-format json is a JSON line too.
    let out = dvc()
        .args(["report", "--format", "pdf", "--log-format", "json", "-c", c])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines("stderr", &out.stderr);
    assert!(
        lines.iter().any(|l| message(l).contains("pdf")),
        "{lines:?}"
    );
    let out = dvc()
        .args(["run", "--bogus", "--log-format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines("stderr", &out.stderr).len(), 1);
}

#[test]
fn json_run_with_a_bad_configuration_still_ends_in_run_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.toml");
    std::fs::write(&path, "[crawl]\nuser_agent = \"x\"\nbogus = 1\n").expect("config");
    let out = dvc()
        .args(["run", "--log-format", "json", "-c"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = json_lines("stderr", &out.stderr);
    assert!(stderr.iter().any(|l| l["level"] == "ERROR"), "{stderr:?}");
    let stdout = json_lines("stdout", &out.stdout);
    let last = stdout.last().expect("run_finished");
    assert_eq!(message(last), "run_finished");
    assert_eq!(last["fields"]["exit_code"], 2);
    assert_eq!(last["fields"]["status"], "not_started");
}

#[test]
fn the_exit_code_table_is_the_same_in_readme_and_help() {
    let readme = std::fs::read_to_string("README.md").expect("README");
    let table = dvc_audit::exit::markdown_table();
    assert!(
        readme.contains(&table),
        "README's exit-code table differs from src/exit.rs; it should read:\n{table}"
    );
    let (code, help, _) = code_of(&["--help"]);
    assert_eq!(code, 0);
    assert!(help.contains(dvc_audit::exit::HELP_EPILOGUE), "{help}");
}

#[test]
fn completions_and_man_pages_are_generated() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = code_of(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for word in ["dvc-audit", "history", "completions", "log-format"] {
            assert!(out.contains(word), "{shell} completion lacks {word}");
        }
    }
    let (code, _, _) = code_of(&["completions", "tcsh"]);
    assert_eq!(code, 2);

    let (code, page, _) = code_of(&["man"]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH dvc-audit 1"), "{page}");
    assert!(page.contains("Exit codes"));
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = code_of(&["man", "--out", &dir.path().display().to_string()]);
    assert_eq!(code, 0, "{err}");
    for page in ["dvc-audit.1", "dvc-audit-run.1", "dvc-audit-history.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).expect(page);
        assert!(text.contains(".TH"), "{page}");
    }
}

#[test]
fn long_version_names_commit_build_date_and_digests() {
    let (code, out, _) = code_of(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("dvc-audit {}", env!("CARGO_PKG_VERSION"))));
    for key in [
        "commit:",
        "built:",
        "rules pack:      sha256:",
        "profiles:        sha256:",
    ] {
        assert!(out.contains(key), "{key} missing from {out}");
    }
    // The rules digest is the one `rules lint` prints and runs record.
    let (_, lint, _) = code_of(&["rules", "lint"]);
    let digest = lint
        .split("digest ")
        .nth(1)
        .map(|d| d.trim().trim_end_matches(')'))
        .expect("lint prints the digest");
    assert!(out.contains(&format!("sha256:{digest}")), "{out}\n{lint}");
}

#[test]
fn config_init_writes_a_checked_configuration_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (flag, agencies) in [(None, 1), (Some("--vietnam"), 15), (Some("--sandbox"), 12)] {
        let path = dir.path().join(format!(
            "{}.toml",
            flag.unwrap_or("plain").trim_start_matches('-')
        ));
        let p = path.display().to_string();
        let mut args = vec!["config", "init", "-c", &p];
        args.extend(flag);
        let (code, _, err) = code_of(&args);
        assert_eq!(code, 0, "{flag:?}: {err}");
        if flag != Some("--sandbox") {
            // The sandbox configuration names CA files the world writes beside it.
            let (code, out, err) = code_of(&["config", "check", "-c", &p]);
            assert_eq!(code, 0, "{flag:?}: {err}");
            assert!(out.contains(&format!("ok ({agencies} agenc")), "{out}");
        } else {
            let written = std::fs::read_to_string(&path).expect("written");
            assert_eq!(written.matches("[[agency]]").count(), agencies);
        }
        let before = std::fs::read(&path).expect("written");
        let (code, _, err) = code_of(&args);
        assert_eq!(code, 2, "second init must refuse");
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&path).expect("kept"), before);
    }
    let text = std::fs::read_to_string(dir.path().join("plain.toml")).expect("plain");
    for key in [
        "# fail_on = \"high\"",
        "# per_host_rate = 2.0",
        "# max_rows_per_rule = 20",
        "# password_env = \"DVC_AUDIT_SMTP_PASSWORD\"",
    ] {
        assert!(text.contains(key), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_have_json() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let cfg = served.config_path().display().to_string();
    let out = run_bin(s(&["run", "--no-mail", "--quiet", "-c", &cfg])).await;
    assert_eq!(out.status.code(), Some(1));

    let out = run_bin(s(&["history", "--json", "-c", &cfg])).await;
    let v: Value = serde_json::from_slice(&out.stdout).expect("history --json");
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "complete");
    let agency = runs[0]["agencies"][0].as_str().expect("agency").to_string();

    let out = run_bin(s(&["history", "--json", "--agency", &agency, "-c", &cfg])).await;
    let v: Value = serde_json::from_slice(&out.stdout).expect("trend --json");
    assert_eq!(v["agency"], agency.as_str());
    assert_eq!(v["trend"].as_array().map(Vec::len), Some(1));

    let out = run_bin(s(&["outbox", "list", "--json", "-c", &cfg])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("outbox --json");
    assert_eq!(v["pending_count"], 0);
    assert!(v["pending"].as_array().is_some_and(Vec::is_empty));

    let out = run_bin(s(&["rules", "list", "--json"])).await;
    let v: Value = serde_json::from_slice(&out.stdout).expect("rules --json");
    let ids: Vec<&str> = v["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"SIG-001") && ids.contains(&"TLS-001"),
        "{ids:?}"
    );
    assert_eq!(v["digest"].as_str().map(str::len), Some(64));
}

/// The nightly line of `examples/crontab`, as cron would run it (`/bin/sh -c`), with the
/// binary and the paths of this test. Cron mails whatever it prints.
fn crontab_run_line(bin: &Path, log: &Path) -> String {
    let crontab = std::fs::read_to_string("examples/crontab").expect("examples/crontab");
    let line = crontab
        .lines()
        .find(|l| l.starts_with("30 1 "))
        .expect("the nightly run line");
    // Five time fields and the user column, then the command.
    let command = line
        .split_whitespace()
        .skip(6)
        .collect::<Vec<_>>()
        .join(" ");
    command
        .replace("/usr/local/bin/dvc-audit", &bin.display().to_string())
        .replace("/var/log/dvc-audit/run.log", &log.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crontab_line_is_silent_on_findings_and_speaks_on_failure() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_dvc-audit"));
    let log = served.dir.path().join("run.log");
    let line = crontab_run_line(&bin, &log);
    let sh = |config: std::path::PathBuf, line: String| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(line)
                .env("DVC_AUDIT_CONFIG", config)
                .env_remove("NO_COLOR")
                .env_remove("DVC_AUDIT_LOG")
                .output()
                .expect("sh")
        })
    };
    // Findings (exit 1): nothing for cron to mail; the log has JSON lines, run_finished last.
    let out = sh(served.config_path(), line.clone()).await.expect("join");
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out.stdout)
    );
    let logged = std::fs::read(&log).expect("log");
    let lines = json_lines("run.log", &logged);
    assert_eq!(lines.last().map(message), Some("run_finished"));
    assert_eq!(
        lines.last().map(|l| l["fields"]["exit_code"].clone()),
        Some(1.into())
    );

    // A broken configuration (exit 2): a line naming the exit code and the log's end.
    let bad = served.dir.path().join("bad.toml");
    std::fs::write(&bad, "[crawl]\nuser_agent = \"x\"\nbogus = 1\n").expect("bad config");
    let out = sh(bad, line).await.expect("join");
    let mail = text(&out.stdout);
    assert!(
        mail.contains("dvc-audit run failed") && mail.contains("exit 2"),
        "{mail}"
    );
    assert!(mail.contains("\"run_finished\""), "{mail}");
}

/// Every line of both streams is one JSON object; returns the stdout lines.
fn all_json(what: &str, out: &Output) -> Vec<Value> {
    let stdout = json_lines(&format!("{what}: stdout"), &out.stdout);
    json_lines(&format!("{what}: stderr"), &out.stderr);
    assert!(
        !out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b),
        "{what}: ESC"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_speaks_json_lines_under_log_format_json() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let cfg = served.config_path().display().to_string();
    let j = |args: &[&str]| {
        let mut v = s(args);
        v.extend(s(&["--log-format", "json", "-c", &cfg]));
        v
    };
    let out = run_bin(j(&["run", "--no-mail"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    all_json("run", &out);

    // Listings: their JSON form, on one line.
    let out = run_bin(j(&["history"])).await;
    assert_eq!(out.status.code(), Some(0));
    let lines = all_json("history", &out);
    assert_eq!(lines.len(), 1);
    let runs = lines[0]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let agency = runs[0]["agencies"][0].as_str().expect("agency").to_string();
    let out = run_bin(j(&["history", "--agency", &agency])).await;
    let lines = all_json("history --agency", &out);
    assert_eq!(lines[0]["trend"].as_array().map(Vec::len), Some(1));
    let out = run_bin(j(&["history", "verify"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = all_json("history verify", &out);
    assert_eq!(message(&lines[lines.len() - 1]), "history_verified");
    assert_eq!(lines[lines.len() - 1]["fields"]["complete_runs"], 1);
    for args in [
        &["outbox", "list"][..],
        &["rules", "list"],
        &["rules", "lint"],
        &["rules", "test"],
        &["rules", "doc"],
        &["profile", "lint"],
        &["config", "check"],
        &["gc"],
    ] {
        let out = run_bin(j(args)).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            !all_json(&args.join(" "), &out).is_empty(),
            "{args:?}: nothing on stdout"
        );
    }

    // A spot audit of a configured portal: findings as events, run_finished last.
    let loaded = dvc_audit::config::Config::load(&served.config_path()).expect("config");
    let portal = loaded.config.agencies[0].portal.clone();
    let out = run_bin(j(&["spot", &portal])).await;
    let code = out.status.code().expect("exit code");
    let lines = all_json("spot", &out);
    let last = lines.last().expect("a stdout line");
    assert_eq!(message(last), "run_finished");
    assert_eq!(last["fields"]["mode"], "spot");
    assert_eq!(last["fields"]["exit_code"].as_i64(), Some(i64::from(code)));
    let shown = lines
        .iter()
        .filter(|l| message(l) == "spot_finding")
        .count();
    let run_id = last["fields"]["run_id"].as_i64().expect("run id");
    let stored: f64 = failing_by_severity(&served.db(), run_id).values().sum();
    assert_eq!(shown as f64, stored, "one event per failing finding");

    // The demo, through the same code path as `run`, on the tiny world.
    let dir = tempfile::tempdir().expect("tempdir");
    let demo_dir = dir.path().join("demo").display().to_string();
    let out = run_bin(s(&[
        "demo",
        "--size",
        "tiny",
        "--dir",
        &demo_dir,
        "--https-port",
        "0",
        "--http-port",
        "0",
        "--log-format",
        "json",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = all_json("demo", &out);
    let events: Vec<&str> = lines.iter().map(message).collect();
    assert_eq!(events, vec!["demo_started", "demo_world", "run_finished"]);
    assert!(lines[2]["fields"]["counts"]["findings"].as_u64() > Some(0));
}

/// Run the binary with stdout a pipe whose reading end is already closed: every write to it
/// fails with EPIPE, as under `dvc-audit … | head -1` once `head` has exited.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("dvc-audit"))
        .args(args)
        .env_remove("DVC_AUDIT_CONFIG")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs");
    (out.status.code(), text(&out.stderr))
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = offline_config(dir.path());
    Store::open(&dir.path().join("dvc-audit.sqlite")).expect("an empty history");
    for args in [
        &["rules", "list"][..],
        &["rules", "list", "--json"],
        &["rules", "doc"],
        &["rules", "lint"],
        &["completions", "bash"],
        &["man"],
        &["--help"],
        &["--version"],
        &["history", "-c", &cfg],
        &["history", "--json", "-c", &cfg],
        &["history", "--log-format", "json", "-c", &cfg],
        &["outbox", "list", "-c", &cfg],
        &["outbox", "list", "--json", "-c", &cfg],
        &["config", "check", "-c", &cfg],
        &["profile", "lint"],
    ] {
        let (code, stderr) = with_closed_stdout(args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
}
