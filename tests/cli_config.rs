//! The `config check` command: examples load, a bad config prints every problem and exits 2.

use assert_cmd::Command;

fn dvc() -> Command {
    Command::cargo_bin("dvc-audit").expect("binary built")
}

#[test]
fn vietnam_example_loads() {
    let out = dvc()
        .args(["config", "check", "-c", "examples/vietnam.toml"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok (15 agencies)"), "{stdout}");
}

#[test]
fn three_mistakes_exit_2_with_three_spanned_diagnostics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.toml");
    std::fs::write(
        &path,
        r#"[crawl]
user_agent = "dvc-audit/0.1 (+mailto:a@example.gov.vn)"
max_redirect = 3
[[agency]]
id = "Ha Noi"
name = "Hà Nội"
kind = "city"
portal = "https://dichvucong.hanoi.gov.vn/"
platform = "accordion"
contacts = ["vanthu"]
"#,
    )
    .expect("write");
    let out = dvc()
        .args(["config", "check", "-c"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let file = path.display().to_string();
    assert!(
        stderr.contains(&format!("{file}:3:1: unknown key `crawl.max_redirect`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:5:6: agency id \"Ha Noi\"")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:10:13: \"vanthu\" is not an email address")),
        "{stderr}"
    );
    assert!(stderr.contains("3 errors, 0 warnings"), "{stderr}");
    // The value is quoted and underlined.
    assert!(stderr.contains("contacts = [\"vanthu\"]"), "{stderr}");
    assert!(stderr.contains("───"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing runs on a bad config");
}
