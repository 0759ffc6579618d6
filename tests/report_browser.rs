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

/// Pages of a PDF Chromium printed (its page objects are written uncompressed).
fn pdf_pages(pdf: &[u8]) -> usize {
    let count = |needle: &[u8]| pdf.windows(needle.len()).filter(|w| *w == needle).count();
    count(b"/Type /Page") - count(b"/Type /Pages")
}

/// `(top, bottom)` in CSS pixels of each probed element, from the instrumented copy's DOM.
fn probe_rects(dom: &str) -> std::collections::BTreeMap<String, (f64, f64)> {
    let start = dom.find("<pre id=\"layout-probe\">").expect("probe output") + 23;
    let end = start + dom[start..].find("</pre>").expect("probe end");
    dom[start..end]
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (k, t, b) = (it.next()?, it.next()?, it.next()?);
            Some((k.to_string(), (t.parse().ok()?, b.parse().ok()?)))
        })
        .collect()
}

/// The demo world, audited twice (trends need two points), rendered as inspectors receive it:
/// the first 1366×768 viewport holds the ranking, the change list and the trend charts; the
/// summary prints on at most 20 A4 pages and the agencies follow as an appendix.
///
/// Element positions are read from a copy of the report with its CSP removed and a few lines of
/// script appended that write each element's box into the DOM (the report itself has no script
/// and its CSP forbids one); the same layout is also captured as a screenshot for people.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_world_first_screen_and_print() {
    use dvc_audit::config::Config;
    use dvc_audit::run::demo::{DemoOptions, demo};
    use dvc_audit::sandbox::Size;

    let Some(bin) = browser() else { return };
    let dir = tempfile::tempdir().expect("demo dir");
    let opts = |https_port, http_port| DemoOptions {
        dir: dir.path().to_path_buf(),
        size: Size::Demo,
        seed: 1,
        https_port,
        http_port,
        tty: false,
    };
    let first = demo(opts(0, 0)).await.expect("first demo run");
    let second = demo(opts(first.https_port, first.http_port))
        .await
        .expect("second demo run");
    // The world moved on between the two demo runs (sandbox drift day 1), so the second
    // run's "what changed" has content: services that changed are new or resolved findings.
    assert_eq!((first.drift_day, second.drift_day), (0, 1));
    assert!(second.drift_changes.0 > 0, "drift changed services");
    let diff = &second.summary.diff;
    assert!(
        !diff.new.is_empty() || !diff.resolved.is_empty(),
        "a drifted day shows changes"
    );
    let html_path = second
        .summary
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "html"))
        .expect("an HTML report")
        .clone();
    let html = std::fs::read_to_string(&html_path).expect("read report");
    let agencies = second.summary.agencies.len();
    assert!(agencies >= 10, "the demo world has its agencies");

    // The report itself, in DOM order: first screen, then heat map, totals, appendix.
    let profile = tempfile::tempdir().expect("profile dir");
    let dom = chromium(&bin, profile.path(), &["--dump-dom"], &html_path);
    assert!(dom.status.success(), "chromium failed");
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let at = |needle: &str| {
        dom.find(needle)
            .unwrap_or_else(|| panic!("{needle} not in the DOM"))
    };
    let order = [
        at("id=\"ranking\""),
        at("id=\"changes\""),
        at("id=\"trends\""),
        at("id=\"heatmap\""),
        at("id=\"summary\""),
        at("id=\"appendix\""),
        at("class=\"agency\" id=\"agency-"),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "first screen before the details: {order:?}"
    );
    assert!(!dom.contains("<script"), "the report has no script");
    // Every agency ranked, charted and collapsible; the agency where nothing was read is
    // first, in its red "not assessed" state.
    let ranking = &dom[order[0]..order[1]];
    assert_eq!(ranking.matches("<tr class=").count(), agencies, "{ranking}");
    let first_row = &ranking[ranking.find("<tr class=").expect("a row")..];
    assert!(
        first_row.starts_with("<tr class=\"not_assessed\"")
            && first_row[..first_row.find("</tr>").expect("row end")].contains("0/0"),
        "the agency with nothing read ranks first: {first_row:.300}"
    );
    let trends = &dom[order[2]..order[3]];
    assert_eq!(trends.matches("<svg class=\"trend\"").count(), agencies);
    assert!(trends.contains(">100%<") && trends.contains(">0%<"));
    assert_eq!(dom.matches("<details class=\"agency\"").count(), agencies);
    // Each shown open finding says since when it is open (the first run saw them all).
    let first_run_date = &html[html.find("class=\"age\">").expect("finding ages shown")..];
    assert!(
        first_run_date.starts_with("class=\"age\">Phát hiện lần đầu ")
            && first_run_date[..120].contains(" ngày)"),
        "{first_run_date:.120}"
    );
    // The change list's counts are the report's totals.
    let t = &second.summary.totals;
    let changes = &dom[order[1]..order[2]];
    for (kind, n) in [
        ("new", t.new),
        ("regressed", t.regressed),
        ("resolved", t.resolved),
        ("unverified", t.unverified),
    ] {
        let li = &changes[changes
            .find(&format!("badge st-{kind}\""))
            .unwrap_or_else(|| panic!("{kind} in the change list"))..];
        let b = &li[li.find("<b>").expect("count") + 3..];
        assert_eq!(
            b[..b.find("</b>").expect("count end")],
            n.to_string(),
            "{kind}"
        );
    }

    // The first viewport, measured.
    let out = output_dir();
    std::fs::create_dir_all(&out).expect("output dir");
    let probe = r#"<pre id="layout-probe"></pre><script>
const p=document.getElementById('layout-probe');const r=[];
for(const id of ['ranking','changes','trends']){const b=document.getElementById(id).getBoundingClientRect();r.push(id+' '+b.top+' '+b.bottom);}
const c=document.querySelectorAll('#trends .tcard');const l=c[c.length-1].getBoundingClientRect();r.push('last-trend '+l.top+' '+l.bottom);
p.textContent=r.join('\n');</script>"#;
    let csp = html
        .lines()
        .find(|l| l.contains("Content-Security-Policy"))
        .expect("the report has a CSP");
    let instrumented = html
        .replace(csp, "")
        .replace("</body>", &format!("{probe}</body>"));
    let probe_page = out.join("demo-report-probe.html");
    std::fs::write(&probe_page, instrumented).expect("write probe page");
    let dom = chromium(
        &bin,
        profile.path(),
        &["--dump-dom", "--window-size=1366,768"],
        &probe_page,
    );
    let rects = probe_rects(&String::from_utf8_lossy(&dom.stdout));
    for id in ["ranking", "changes", "trends", "last-trend"] {
        let (top, bottom) = rects[id];
        assert!(
            top >= 0.0 && bottom <= 768.0,
            "{id} is not within the first 1366×768 viewport: {top}..{bottom}"
        );
    }
    let shot = out.join("demo-report-first-screen.png");
    let _ = std::fs::remove_file(&shot);
    let res = chromium(
        &bin,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1366,768",
        ],
        &html_path,
    );
    assert!(res.status.success(), "screenshot failed");
    println!("first screen: {}", shot.display());

    // The print: summary (first screen, heat map, totals) on at most 20 pages; the appendix
    // after it.
    let loaded = Config::load(&second.config).expect("demo config");
    let store =
        dvc_audit::store::Store::open_reader(&dir.path().join("dvc-audit.sqlite")).expect("store");
    let run = store.run(second.summary.run_id).expect("run");
    let data = dvc_audit::report::gather(
        &store,
        run.id,
        "demo",
        Lang::Vi,
        dvc_audit::report::metas_for(&loaded, &run.scope.agencies),
        std::collections::BTreeMap::new(),
        Vec::new(),
    )
    .expect("gather");
    let summary_page = out.join("demo-report-summary.html");
    std::fs::write(
        &summary_page,
        Renderer::new()
            .and_then(|r| r.html_summary(&data))
            .expect("summary"),
    )
    .expect("write summary");
    let print = |page: &Path, name: &str| {
        let pdf = out.join(name);
        let _ = std::fs::remove_file(&pdf);
        let res = chromium(
            &bin,
            profile.path(),
            &[
                "--no-pdf-header-footer",
                &format!("--print-to-pdf={}", pdf.display()),
            ],
            page,
        );
        assert!(res.status.success(), "print failed");
        pdf_pages(&std::fs::read(&pdf).expect("pdf written"))
    };
    let summary_pages = print(&summary_page, "demo-report-summary.pdf");
    let full_pages = print(&html_path, "demo-report.pdf");
    println!("PDF: summary {summary_pages} pages, whole report {full_pages} pages");
    assert!(
        (1..=20).contains(&summary_pages),
        "summary prints on {summary_pages} pages"
    );
    assert!(
        full_pages >= summary_pages + agencies,
        "the appendix starts each agency on a page: {full_pages} pages"
    );
}
