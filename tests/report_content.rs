//! What inspectors read in a report, against a served sandbox world (issue 18):
//! - `dvc-audit report --run N` renders the same report as the run wrote, in either language;
//! - failures planted in the world (outages) reach the report as sentences in the report's
//!   language: raw library error text stays inside the "technical details" folds.

mod support;

use std::path::Path;
use std::time::Duration;

use dvc_audit::config::Config;
use dvc_audit::report::{Format, Lang, regenerate};
use dvc_audit::run::pipeline::{self, RunOptions, RunSummary};
use dvc_audit::run::setup::Setup;
use dvc_audit::sandbox::{Outage, Size};
use support::world;

fn no_mail() -> RunOptions {
    RunOptions {
        send_mail: false,
        ..RunOptions::default()
    }
}

async fn run(setup: &Setup) -> RunSummary {
    pipeline::run(setup, no_mail(), None)
        .await
        .expect("the run completes")
}

fn report_file(summary: &RunSummary, ext: &str) -> std::path::PathBuf {
    summary
        .reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .unwrap_or_else(|| panic!("a .{ext} report"))
        .clone()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Render run `summary` again with `dvc-audit report`'s code path and compare every format
/// with what the run wrote.
fn assert_rerender_equal(config: &Path, lang: Lang, summary: &RunSummary, out: &Path) {
    let mut loaded = Config::load(config).expect("config");
    loaded.config.audit.lang = match lang {
        Lang::Vi => dvc_audit::config::Lang::Vi,
        Lang::En => dvc_audit::config::Lang::En,
    };
    let files = regenerate(
        &loaded,
        Some(summary.run_id),
        lang,
        &[Format::Html, Format::Text, Format::Json],
        Some(out),
    )
    .expect("re-render");
    assert_eq!(files.len(), 3, "{files:?}");
    for ext in ["html", "txt", "json"] {
        let original = read(&report_file(summary, ext));
        let again = files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .map(|p| read(p))
            .unwrap_or_default();
        if original != again {
            let line = original
                .lines()
                .zip(again.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{lang:?} .{ext}: the re-render differs from the run's report at line {}:\n  run:      {}\n  rerender: {}",
                line + 1,
                original.lines().nth(line).unwrap_or_default(),
                again.lines().nth(line).unwrap_or_default()
            );
        }
    }
    // And the rule texts are there: titles, remediation and legal basis, not bare ids.
    let (legal, technical, remediation) = match lang {
        Lang::Vi => ("Căn cứ pháp lý", "Cơ sở kỹ thuật", "Khắc phục"),
        Lang::En => ("Legal basis", "Technical basis", "Remediation"),
    };
    for ext in ["html", "txt"] {
        let text = read(&report_file(summary, ext));
        for want in [legal, technical, remediation, "20/2023/QH15", "RFC 6797"] {
            assert!(text.contains(want), "{lang:?} .{ext} lacks {want:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerendered_report_equals_the_original_in_both_languages() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let vi = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into(), "html".into(), "text".into()];
        c.audit.lang = dvc_audit::config::Lang::Vi;
    });
    let r1 = run(&vi).await;
    let en = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into(), "html".into(), "text".into()];
        c.audit.lang = dvc_audit::config::Lang::En;
    });
    let r2 = run(&en).await;
    let out = tempfile::tempdir().expect("tmp");
    assert_rerender_equal(&served.config_path(), Lang::Vi, &r1, &out.path().join("vi"));
    assert_rerender_equal(&served.config_path(), Lang::En, &r2, &out.path().join("en"));
}

/// Library and transport wording that must never reach an inspector outside a technical fold,
/// and reason ids that must be said in words.
const RAW: &[&str] = &[
    "error sending request",
    "tcp connect",
    "hyper",
    "rustls",
    "reqwest",
    "os error",
    "connection refused",
    "connection reset",
    "operation timed out",
    "dns error",
    "invalidcertificate",
    "peer closed",
    // Reason ids: words outside the folds, the id itself only inside.
    "spa_without_api",
    "http_status",
    "tls_handshake",
    "redirect_loop",
    "robots_disallowed",
    "too_large",
    "not_assessed",
    "HTTP 0",
    "HTTP 0,",
];

/// The HTML with every `<details>…</details>` fold removed.
fn outside_folds(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find("<details") {
        out.push_str(&rest[..i]);
        match rest[i..].find("</details>") {
            Some(j) => rest = &rest[i + j + "</details>".len()..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // What a reader sees: no style sheet, no markup (class names such as `st-not_assessed`).
    let mut text = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("<style") {
        text.push_str(&rest[..i]);
        rest = rest[i..]
            .find("</style>")
            .map_or("", |j| &rest[i + j + "</style>".len()..]);
    }
    text.push_str(rest);
    let mut visible = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                visible.push(' ');
            }
            _ if !in_tag => visible.push(c),
            _ => {}
        }
    }
    visible
}

/// The library-error part of [`RAW`] (before the reason ids): never in a document at all.
const LIBRARY: usize = 12;

fn assert_no_raw(what: &str, text: &str) {
    assert_none_of(RAW, what, text)
}

fn assert_none_of(needles: &[&str], what: &str, text: &str) {
    let lower = text.to_lowercase();
    for needle in needles {
        if let Some(at) = lower.find(&needle.to_lowercase()) {
            let start = lower[..at]
                .char_indices()
                .rev()
                .nth(120)
                .map_or(0, |(i, _)| i);
            let end = (at + 120).min(text.len());
            let end = (end..=text.len())
                .find(|&e| text.is_char_boundary(e))
                .unwrap_or(text.len());
            panic!(
                "{what}: raw text {needle:?} outside the technical details:\n…{}…",
                &text[start..end]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_failures_read_as_sentences_and_raw_errors_stay_in_technical_folds() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into(), "html".into(), "text".into()];
        c.audit.lang = dvc_audit::config::Lang::Vi;
    });
    let _ = run(&setup).await;
    served
        .handle
        .mutate(|o| {
            assert!(o.set_outage("bca", Outage::Down));
            assert!(o.set_outage("danang", Outage::DetailError));
            assert!(o.set_outage("hanoi", Outage::ListError));
        })
        .expect("mutate");
    let r2 = run(&setup).await;
    assert!(
        !r2.diff.unverified.is_empty(),
        "the outages leave findings unverified"
    );

    let out = tempfile::tempdir().expect("tmp");
    let loaded = Config::load(&served.config_path()).expect("config");
    let en = regenerate(
        &loaded,
        Some(r2.run_id),
        Lang::En,
        &[Format::Html, Format::Text],
        Some(out.path()),
    )
    .expect("re-render in English");
    let mut docs: Vec<(String, String)> = vec![
        ("vi html".into(), read(&report_file(&r2, "html"))),
        ("vi text".into(), read(&report_file(&r2, "txt"))),
    ];
    for p in &en {
        docs.push((format!("en {}", p.display()), read(p)));
    }
    for (what, doc) in &docs {
        let shown = if what.ends_with("html") || what.ends_with(".html") {
            // The raw text is kept, but only inside the folds.
            assert!(doc.contains("<details"), "{what}: technical details folds");
            outside_folds(doc)
        } else {
            doc.clone()
        };
        assert_no_raw(what, &shown);
    }
    // The folds hold the reason ids; the library's own text is kept in report.json (and the
    // history's evidence), never in a document agencies and inspectors receive.
    let html = read(&report_file(&r2, "html"));
    assert!(
        html.contains("<details class=\"tech\"><summary>Chi tiết kỹ thuật</summary><div><span class=\"k\">Thông báo gốc:</span> <code>"),
        "technical folds hold the reason ids"
    );
    assert_none_of(&RAW[..LIBRARY], "vi html, folds included", &html);
    let raw_json = read(&report_file(&r2, "json")).to_lowercase();
    assert!(
        RAW[..LIBRARY]
            .iter()
            .any(|n| raw_json.contains(&n.to_lowercase())),
        "report.json keeps the raw library text"
    );

    // An agency whose services could not be read at all is "not assessed", never clean.
    let json: serde_json::Value =
        serde_json::from_str(&read(&report_file(&r2, "json"))).expect("json");
    let agencies = json["agencies"].as_array().expect("agencies");
    for a in agencies {
        let id = a["facts"]["id"].as_str().unwrap_or_default();
        let read_n = a["services_read"].as_i64().unwrap_or(-1);
        let state = a["assessment"].as_str().unwrap_or_default();
        if read_n == 0 {
            assert_eq!(state, "not_assessed", "{id}");
        } else {
            assert_ne!(state, "not_assessed", "{id}");
        }
    }
    assert!(
        agencies.iter().any(|a| a["assessment"] == "not_assessed"),
        "the outages leave some agency not assessed"
    );
    let text = read(&report_file(&r2, "txt"));
    assert!(
        text.contains("! Chưa đánh giá được: không đọc được dịch vụ nào của cơ quan"),
        "the text report says which agency could not be assessed"
    );
    // Info items are not violations.
    let t = &json["totals"];
    assert_eq!(
        t["violations"].as_i64().unwrap_or(-1) + t["info"].as_i64().unwrap_or(-1),
        t["findings"].as_i64().unwrap_or(-2)
    );
    assert!(
        text.contains(&format!("Vi phạm: {} (", t["violations"])),
        "the text report counts violations without info items"
    );
}

/// The share bars' labels ("Không có dữ liệu" was cut to "Không có dí") fit their SVG box in a
/// real browser: the right edge of each label's rendered box is inside the viewBox.
#[test]
fn share_bar_labels_fit_their_box_in_chromium() {
    use dvc_audit::report::svg::share_bar;
    let bin = std::path::PathBuf::from(
        std::env::var_os("DVC_AUDIT_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()),
    );
    if !bin.exists() {
        assert!(
            std::env::var_os("DVC_AUDIT_REQUIRE_BROWSER").is_none(),
            "DVC_AUDIT_REQUIRE_BROWSER is set but {} does not exist",
            bin.display()
        );
        eprintln!("SKIPPED: no Chromium at {}", bin.display());
        return;
    }
    let labels = [
        "Không có dữ liệu",
        "No data",
        "100.0%",
        "Chưa đánh giá được",
    ];
    let mut body = String::new();
    for l in labels {
        body.push_str(&share_bar(None, "t", l));
        body.push('\n');
    }
    body.push_str(&share_bar(Some(1.0), "t", "x"));
    let page = format!(
        r#"<!doctype html><html lang="vi"><meta charset="utf-8"><body style="font-family:sans-serif">{body}
<script>
const out = [];
for (const svg of document.querySelectorAll('svg')) {{
  const w = svg.viewBox.baseVal.width;
  for (const t of svg.querySelectorAll('text')) {{
    const b = t.getBBox();
    out.push((b.x + b.width <= w ? 'fits' : 'CUT') + ':' + t.textContent + ':' + (b.x + b.width).toFixed(1) + '/' + w);
  }}
}}
document.body.setAttribute('data-fit', out.join('|'));
</script></body></html>"#
    );
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("bars.html");
    std::fs::write(&file, page).expect("write");
    let out = std::process::Command::new(&bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=2000",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let fit = dom
        .split("data-fit=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no measurement in:\n{dom}"));
    assert_eq!(fit.matches("fits:").count(), labels.len() + 1, "{fit}");
    assert!(!fit.contains("CUT"), "{fit}");
}

/// "Resolved" counts findings, not their evidence rows (1,505 were shown for 566 listed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_counts_findings_not_evidence_rows() {
    use dvc_audit::sandbox::Provider;
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into(), "html".into(), "text".into()];
        c.audit.lang = dvc_audit::config::Lang::Vi;
    });
    let _ = run(&setup).await;
    // danang's 1.001012 offers VNPT-CA only (SIG-001/003/005 fail); adding VGCA fixes them.
    served
        .handle
        .mutate(|o| {
            o.service("1.001012")
                .expect("service")
                .providers
                .push(Provider::Vgca)
        })
        .expect("mutate");
    let r2 = run(&setup).await;
    let resolved = r2.diff.resolved.len() as i64;
    assert!(resolved >= 2, "{:?}", r2.diff);

    let json: serde_json::Value =
        serde_json::from_str(&read(&report_file(&r2, "json"))).expect("json");
    let listed: Vec<serde_json::Value> = json["agencies"]
        .as_array()
        .expect("agencies")
        .iter()
        .flat_map(|a| a["resolved"].as_array().cloned().unwrap_or_default())
        .collect();
    let evidence_rows: usize = listed
        .iter()
        .map(|f| f["record"]["evidence"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        evidence_rows > listed.len(),
        "the resolved findings carry several evidence rows each ({evidence_rows} for {})",
        listed.len()
    );
    assert_eq!(
        listed.len() as i64,
        resolved,
        "report.json lists every resolved finding"
    );
    assert_eq!(json["totals"]["resolved"].as_i64(), Some(resolved));
    let text = read(&report_file(&r2, "txt"));
    assert!(
        text.contains(&format!("Đã khắc phục: {resolved} ")),
        "{text:.600}"
    );
    let html = read(&report_file(&r2, "html"));
    assert!(
        html.contains(&format!("<b>{resolved}</b><span>Đã khắc phục</span>")),
        "HTML KPI"
    );
}
