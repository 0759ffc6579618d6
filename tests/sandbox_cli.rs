//! `dvc-audit sandbox serve` prints its ports and writes its out dir, then serves until stopped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn sandbox_serve_prints_ports_and_writes_the_out_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("world");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dvc-audit"))
        .args(["sandbox", "serve", "--size", "tiny", "--seed", "4", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        let done = line.starts_with("Ctrl-C");
        lines.push(line);
        if done {
            break;
        }
    }
    let text = lines.join("\n");
    let https = lines
        .iter()
        .find_map(|l| l.strip_prefix("https: 127.0.0.1:"))
        .and_then(|p| p.trim().parse::<u16>().ok());
    assert!(https.is_some(), "{text}");
    assert!(
        text.contains("sandbox tiny world (seed 4): 4 agencies"),
        "{text}"
    );
    for name in [
        "audit.toml",
        "ca.pem",
        "gov-ca.pem",
        "ground-truth.json",
        "requests.jsonl",
    ] {
        assert!(text.contains(name), "{text}");
        assert!(out.join(name).is_file(), "{name} missing");
    }
    let config = std::fs::read_to_string(out.join("audit.toml")).expect("config");
    assert!(config.contains(&format!(
        "dvc.bca.sandbox.test:{}:127.0.0.1",
        https.unwrap_or_default()
    )));
    // Still serving: the port accepts connections until the process is stopped.
    assert!(std::net::TcpStream::connect(("127.0.0.1", https.unwrap_or_default())).is_ok());
    child.kill().expect("kill");
    child.wait().expect("wait");
}
