//! `dvc-audit profile lint` and `dvc-audit profile test` as a user runs them.

use assert_cmd::Command;

fn bin() -> Command {
    let mut c = Command::cargo_bin("dvc-audit").expect("binary");
    c.env("NO_COLOR", "1");
    c
}

#[test]
fn profile_test_prints_the_list_as_json() {
    let out = bin()
        .args([
            "profile",
            "test",
            "accordion",
            "tests/fixtures/real/bocongan_list_QL_CU_TRU.html",
            "--url",
            "https://dichvucong.bocongan.gov.vn/bocongan/bothutuc?linh_vuc=QL_CU_TRU&per_page=50",
            "--as",
            "list",
            "--json",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["list"]["details"].as_array().map(Vec::len), Some(11));
    assert_eq!(v["list"]["total"], 11);
    assert!(v["detail"].is_null());
}

#[test]
fn profile_test_prints_a_readable_detail() {
    let out = bin()
        .args([
            "profile",
            "test",
            "rules/portals/accordion.toml",
            "tests/fixtures/real/bocongan_tthc_26360.html",
            "--as",
            "detail",
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("code            1.004222"), "{text}");
    assert!(
        text.contains("level           partial (label: \"Dịch vụ công trực tuyến một phần\")"),
        "{text}"
    );
}

/// Issue 16 row 13: an endless "page" is read up to the crawler's body cap, then refused.
#[test]
#[cfg(unix)]
fn profile_test_reads_a_file_only_up_to_the_body_cap() {
    let out = bin()
        .args(["profile", "test", "accordion", "/dev/urandom"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/dev/urandom is larger than 5000000 bytes"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// The cap is the configuration's `crawl.max_body_bytes` when an agency's config is given.
#[test]
fn profile_test_file_cap_follows_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("audit.toml");
    std::fs::write(
        &config,
        "[crawl]\nuser_agent = \"dvc-audit-test/0.1 (+mailto:test@example.gov.vn)\"\nmax_body_bytes = 2048\n\n[[agency]]\nid = \"bca\"\nname = \"Bộ Công an\"\nkind = \"ministry\"\nportal = \"https://dichvucong.bocongan.gov.vn/bocongan\"\nplatform = \"accordion\"\n",
    )
    .expect("config");
    let out = bin()
        .args(["profile", "test", "accordion"])
        .arg("tests/fixtures/real/bocongan_tthc_26360.html")
        .arg("-c")
        .arg(&config)
        .args(["--agency", "bca", "--as", "detail"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 2048 bytes"), "{err}");
}

#[test]
fn profile_lint_reports_errors_with_location_and_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("broken.toml"),
        "id = \"broken\"\nname = \"b\"\n[listing]\nstart = [\"{portal}\"]\n[listing.html]\nlink = \"a > > b\"\n[detail.direct]\nname = \"h1\"\n",
    )
    .expect("write");
    let out = bin()
        .args(["profile", "lint", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml:6:8"), "{err}");
    assert!(err.contains("does not parse"), "{err}");
}

#[test]
fn profile_lint_passes_on_the_shipped_profiles() {
    let out = bin()
        .args(["profile", "lint", "--dir", "rules/portals"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("10 profiles"));
}

#[test]
fn profile_test_reads_a_json_detail_with_the_spa_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("a1.json");
    std::fs::write(
        &page,
        r#"{"id":"a1","code":"1.000101","name":"Khai sinh","level":{"id":3,"name":"Mức độ 3"},
            "requireDigitalSignature":false,"digitalSignatureProviders":["VGCA"],
            "dossierRequirement":"","nationalPortalSync":true}"#,
    )
    .expect("write");
    let out = bin()
        .args(["profile", "test", "spa"])
        .arg(&page)
        .args([
            "--as",
            "detail",
            "--url",
            "https://api.x.test/api/v1/procedures/a1",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn profile_test_real_detail_snapshot() {
    let out = bin()
        .args([
            "profile",
            "test",
            "accordion",
            "tests/fixtures/real/bocongan_tthc_26360.html",
            "--url",
            "https://dichvucong.bocongan.gov.vn/bocongan/bothutuc/tthc?matt=26360",
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}
