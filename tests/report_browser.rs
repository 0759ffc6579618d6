//! The HTML report in a real browser (Debian's headless Chromium): portal markup planted in a
//! service name and in evidence must show as text, create no element and run no script. The
//! same test writes a screenshot for people to look at (path printed).
//!
//! Skips (with the reason printed) only when Chromium is absent and `DVC_AUDIT_REQUIRE_BROWSER`
//! is unset; CI sets the variable, so a missing browser fails there.

use std::path::{Path, PathBuf};
use std::process::Command;

use dvc_audit::report::{Lang, Renderer, build, sample::sample_input};

const INJECTED: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";
/// Markup that, if it ever ran, would leave a `data-pwned` attribute in the DOM.
const PROBE: &str = "<img src=x onerror=\"document.body.dataset.pwned=1\"><script>document.body.dataset.pwned=2</script>";
const CHROMIUM: &str = "/usr/bin/chromium";

fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("DVC_AUDIT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CHROMIUM));
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("DVC_AUDIT_REQUIRE_BROWSER").is_some() {
        panic!(
            "DVC_AUDIT_REQUIRE_BROWSER is set but {} does not exist",
            path.display()
        );
    }
    eprintln!(
        "SKIPPED: {} not found (apt-get install chromium); set DVC_AUDIT_REQUIRE_BROWSER to make this a failure",
        path.display()
    );
    None
}

fn output_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    base.join("test-output")
}

fn chromium(bin: &Path, profile: &Path, extra: &[&str], page: &Path) -> std::process::Output {
    let url = format!("file://{}", page.display());
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url);
    cmd.output().expect("run chromium")
}

#[test]
fn injected_markup_is_text_in_a_real_browser() {
    let Some(bin) = browser() else { return };
    let mut input = sample_input(Lang::Vi);
    let agency = input
        .agencies
        .iter_mut()
        .find(|a| a.facts.id == "bca")
        .expect("bca");
    agency.facts.name = format!("Bộ Công an {INJECTED}");
    for f in input.findings.iter_mut().filter(|f| f.agency_id == "bca") {
        f.subject = format!("bca/{INJECTED}");
        f.message_vi = format!("Dịch vụ “{INJECTED}” không hỗ trợ ký số. {PROBE}");
        for e in &mut f.evidence {
            e.url = "javascript:alert(3)".into();
            e.excerpt = format!("\"><svg onload=alert(4)>{INJECTED}");
        }
    }
    let data = build(input).expect("build");
    let html = Renderer::new().and_then(|r| r.html(&data)).expect("render");

    let out = output_dir();
    std::fs::create_dir_all(&out).expect("output dir");
    let page = out.join("report.html");
    std::fs::write(&page, &html).expect("write report");
    let profile = tempfile::tempdir().expect("profile dir");

    let dom = chromium(&bin, profile.path(), &["--dump-dom"], &page);
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The DOM serialiser escapes text nodes: the markup is there as text...
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "the injected name is not shown as text"
    );
    // ...and created no element: the report has no script and no img at all.
    assert!(
        !dom.contains("<script"),
        "a script element exists in the DOM"
    );
    assert!(!dom.contains("<img"), "an img element exists in the DOM");
    assert!(
        !dom.contains("<svg onload"),
        "an svg element from the portal exists in the DOM"
    );
    assert!(
        !dom.contains("data-pwned"),
        "injected script ran and changed the DOM"
    );
    assert!(
        !dom.contains("href=\"javascript:"),
        "a javascript: link exists in the DOM"
    );
    assert!(dom.contains("Báo cáo kiểm tra dịch vụ công trực tuyến"));

    let shot = out.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let res = chromium(
        &bin,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
        ],
        &page,
    );
    assert!(
        res.status.success(),
        "screenshot failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
    println!("report screenshot: {}", shot.display());
    println!("report page: {}", page.display());
}
