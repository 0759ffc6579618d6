//! `dvc-audit rules ...` as a user runs it: exit codes and rendered output.

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

fn cmd() -> Command {
    match Command::cargo_bin("dvc-audit") {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn lint_and_test_pass_on_the_default_pack() {
    cmd()
        .args(["rules", "lint"])
        .assert()
        .success()
        .stdout(contains("rules ok"));
    cmd()
        .args(["rules", "test"])
        .assert()
        .success()
        .stdout(contains(" passed, 0 failed"));
}

#[test]
fn lint_reports_a_bad_directory_with_exit_2() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string("rules/level.toml").unwrap_or_default();
    let bad = text.replacen(
        "\"!service.level_unrecognised\"",
        "\"service.levl != 'unknown'\"",
        1,
    );
    // The 1-based line of the broken `require` (the file grows as cases are added).
    let line = text
        .lines()
        .position(|l| l.contains("!service.level_unrecognised"))
        .map_or(0, |i| i + 1);
    std::fs::write(dir.path().join("level.toml"), bad).unwrap_or_else(|e| panic!("{e}"));
    cmd()
        .args(["rules", "lint", "--dir"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(contains(format!("level.toml:{line}:20")).and(contains("unknown field `levl`")));
}

#[test]
fn test_reports_a_failing_case_with_exit_1() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string("rules/portal.toml").unwrap_or_default();
    let bad = text.replacen(
        "require = \"service.national_portal_link\"",
        "require = \"!service.national_portal_link\"",
        1,
    );
    std::fs::write(dir.path().join("portal.toml"), bad).unwrap_or_else(|e| panic!("{e}"));
    cmd()
        .args(["rules", "test", "--dir"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(contains("FAIL ").and(contains("NPL-001 / linked: expected pass, got fail")))
        .stdout(contains("3 passed, 2 failed"));
}

#[test]
fn lint_checks_a_waivers_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("waivers.toml");
    std::fs::write(
        &path,
        "[[waiver]]\nrule = \"SIG-001\"\nsubject = \"bca/*\"\nreason = \"r\"\ndecision = \"d\"\nexpires = 2027-01-01\nextra = 1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    cmd()
        .args(["rules", "lint", "--waivers"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains("waivers.toml:7:1").and(contains("unknown field `extra`")));
}
