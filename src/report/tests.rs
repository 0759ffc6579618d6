use super::sample::{sample, sample_input};
use super::*;

const INJECTED: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

fn hostile() -> ReportData {
    let mut input = sample_input(Lang::Vi);
    for f in &mut input.findings {
        f.subject = format!("bca/{INJECTED}");
        f.message_vi = INJECTED.to_string();
        for e in &mut f.evidence {
            e.url = "javascript:alert(3)".into();
            e.excerpt = format!("\"><svg onload=alert(4)>{INJECTED}");
            e.locator = "a[href='x']".into();
        }
    }
    input.agencies[0].facts.name = INJECTED.to_string();
    input.agencies[0].facts.portal = "javascript:alert(5)".into();
    match build(input) {
        Ok(d) => d,
        Err(e) => panic!("build: {e}"),
    }
}

#[test]
fn html_escapes_portal_text_and_never_links_javascript() {
    let html = Renderer::new()
        .and_then(|r| r.html(&hostile()))
        .expect("render");
    assert!(!html.contains("<script"), "a script element was rendered");
    assert!(!html.contains("<img"), "an img element was rendered");
    assert!(
        !html.contains("<svg onload"),
        "portal markup became an element"
    );
    assert!(html.contains(
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src&#x3D;x onerror&#x3D;alert(2)&gt;"
    ));
    assert!(
        !html.contains("href=\"javascript:"),
        "javascript: URL became a link"
    );
    assert!(
        html.contains("javascript:alert(3)"),
        "the unsafe URL is still shown as text"
    );
}

#[test]
fn html_is_self_contained() {
    let html = Renderer::new()
        .and_then(|r| r.html(&sample(Lang::Vi)))
        .expect("render");
    for bad in ["<script", "<link", "@import", "src=\"http", "url(http"] {
        assert!(
            !html.contains(bad),
            "report must not fetch or run anything: {bad}"
        );
    }
    assert!(html.contains("Content-Security-Policy"));
}

#[test]
fn html_marks_states_groups_and_unassessed() {
    let html = Renderer::new()
        .and_then(|r| r.html(&sample(Lang::Vi)))
        .expect("render");
    for s in ["st-new", "st-persisting", "st-regressed", "st-resolved"] {
        assert!(html.contains(s), "state {s} not marked");
    }
    assert!(
        html.contains("Máy chủ không trả lời trong thời gian cho phép."),
        "reason explained"
    );
    assert!(html.contains("QĐ-123/2026"), "applied waiver shown");
    assert!(
        html.contains("27/11/2026 08:00"),
        "start time in Vietnam time"
    );
    assert!(
        html.contains("Tên miền chưa được xác minh"),
        "unverified agency flagged"
    );
    // Critical before high within an agency.
    let crit = html.find("sev-critical").expect("critical group");
    let high = html.find("sev-high\"").expect("high group");
    assert!(crit < high);
}

#[test]
fn english_report_uses_english_labels() {
    let html = Renderer::new()
        .and_then(|r| r.html(&sample(Lang::En)))
        .expect("render");
    assert!(html.contains("Regular inspection"));
    assert!(html.contains("2026-11-27 08:00"));
    assert!(html.contains("Ministry of Public Security"));
    assert!(!html.contains("Kiểm tra định kỳ"));
}

#[test]
fn text_snapshot_vi() {
    let text = Renderer::new()
        .and_then(|r| r.text(&sample(Lang::Vi)))
        .expect("render");
    insta::assert_snapshot!("text_vi", text);
}

#[test]
fn text_snapshot_en() {
    let text = Renderer::new()
        .and_then(|r| r.text(&sample(Lang::En)))
        .expect("render");
    insta::assert_snapshot!("text_en", text);
}

#[test]
fn json_snapshot_and_schema_version() {
    let json = json::render(&sample(Lang::Vi)).expect("json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("parse");
    assert_eq!(v["schema_version"], SCHEMA_VERSION);
    insta::assert_snapshot!("json_vi", json);
    // The document reads back into the same structure.
    let back: ReportData = serde_json::from_str(&json).expect("round trip");
    assert_eq!(back, sample(Lang::Vi));
}

#[test]
fn text_keeps_hostile_text_inert() {
    let text = Renderer::new()
        .and_then(|r| r.text(&hostile()))
        .expect("render");
    // Plain text: shown verbatim, without HTML entities, and without control characters.
    assert!(text.contains(INJECTED));
    assert!(!text.contains("&lt;"));
}

#[test]
fn csv_has_one_row_per_finding() {
    let data = sample(Lang::Vi);
    let csv = csv::render(&data).expect("csv");
    assert!(csv.starts_with('\u{feff}'));
    let rows: Vec<&str> = csv.trim_end().split("\r\n").collect();
    let expected = data.totals.findings
        + data.totals.waived
        + data.totals.could_not_assess
        + data.totals.resolved;
    assert_eq!(rows.len() as i64, expected + 1);
    insta::assert_snapshot!("csv_vi", csv);
}

#[test]
fn xlsx_is_a_workbook_with_two_sheets() {
    let bytes = xlsx::render(&sample(Lang::Vi)).expect("xlsx");
    assert!(bytes.starts_with(b"PK"), "an xlsx file is a zip archive");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("xl/worksheets/sheet2.xml"));
}

#[test]
fn totals_and_states() {
    let d = sample(Lang::Vi);
    assert_eq!(d.totals.findings, 4);
    assert_eq!(
        (
            d.totals.new,
            d.totals.persisting,
            d.totals.regressed,
            d.totals.resolved
        ),
        (2, 1, 1, 1)
    );
    assert_eq!((d.totals.waived, d.totals.could_not_assess), (1, 1));
    assert!(d.has_change());
    let bca = d.only(&["bca"]);
    assert_eq!(bca.agencies.len(), 1);
    assert_eq!(bca.totals.findings, 2);
    let hn = &d.agencies[1];
    assert_eq!(hn.facts.id, "ha-noi");
    assert_eq!(
        hn.could_not_assess[0].reason,
        Some(crate::facts::AssessReason::Timeout)
    );
    assert_eq!(d.agencies[0].shares.vgca, Some(0.5));
}

#[test]
fn write_all_writes_every_format() {
    let dir = tempfile::tempdir().expect("tmp");
    let files = write_all(dir.path(), &sample(Lang::Vi), &Format::ALL).expect("write");
    // Five formats; csv is findings.csv and services.csv.
    assert_eq!(files.len(), 6);
    assert!(files.iter().any(|f| f.ends_with("services.csv")));
    for f in files {
        assert!(
            std::fs::metadata(&f).map(|m| m.len() > 0).unwrap_or(false),
            "{}",
            f.display()
        );
    }
}

#[test]
fn gather_reads_a_finished_run_from_the_store() {
    use crate::store::{RunStart, Scope, Store};
    let input = sample_input(Lang::Vi);
    let metas = input.agencies.clone();
    let mut store = Store::open_in_memory().expect("store");
    let start = RunStart {
        mode: "regular".into(),
        scope: Scope {
            agencies: vec!["bca".into(), "ha-noi".into()],
            services: None,
        },
        seed: None,
        ruleset_digest: "r".into(),
        config_digest: "c".into(),
    };
    let fails = |fps: &[&str]| -> Vec<crate::store::FindingRecord> {
        input
            .findings
            .iter()
            .chain(&input.resolved)
            .filter(|f| fps.contains(&f.fingerprint.as_str()))
            .cloned()
            .collect()
    };
    let r1 = store.begin_run(&start).expect("begin");
    store
        .record_services(r1, &input.services)
        .expect("services");
    store
        .finish_run(r1, &fails(&["fp-old", "fp-tls-1"]))
        .expect("finish");
    let r2 = store.begin_run(&start).expect("begin");
    store
        .record_services(r2, &input.services)
        .expect("services");
    // Run 2 read every subject (so a finding it no longer sees is resolved).
    let read: Vec<(&str, String)> = input
        .findings
        .iter()
        .chain(&input.resolved)
        .map(|f| (f.scope.as_str(), f.subject.clone()))
        .collect();
    for a in ["bca", "ha-noi"] {
        store
            .record_coverage(r2, a, &crate::facts::Coverage::default(), &read)
            .expect("coverage");
    }
    store
        .finish_run(r2, &fails(&["fp-tls-1", "fp-sig-1", "fp-cna", "fp-waived"]))
        .expect("finish");

    let data = gather(
        &store,
        r2,
        "test",
        Lang::Vi,
        metas,
        input.rules.clone(),
        Vec::new(),
    )
    .expect("gather");
    let bca = &data.agencies[0];
    let states: Vec<(&str, FindingState)> = bca
        .findings
        .iter()
        .map(|f| (f.record.fingerprint.as_str(), f.state))
        .collect();
    assert_eq!(
        states,
        [
            ("fp-sig-1", FindingState::New),
            ("fp-tls-1", FindingState::Persisting)
        ]
    );
    let hn = &data.agencies[1];
    assert_eq!(hn.resolved.len(), 1);
    assert_eq!(hn.resolved[0].record.fingerprint, "fp-old");
    assert_eq!(
        hn.resolved[0].record.evidence.len(),
        1,
        "resolved evidence loaded"
    );
    assert_eq!(hn.waived.len(), 1);
    assert_eq!(hn.could_not_assess.len(), 1);
    assert_eq!(bca.trend.len(), 2);
    assert_eq!(bca.services_total, 3);
    assert_eq!(data.run.mode, Mode::Regular);
}

#[test]
fn capped_reports_keep_totals_and_count_what_was_cut() {
    let d = sample(Lang::Vi);
    let c = d.capped(1);
    assert_eq!(c.totals, d.totals);
    let hn = &c.agencies[1];
    assert_eq!(hn.findings.len(), 1);
    assert_eq!(
        hn.findings[0].severity,
        Severity::Medium,
        "most severe kept"
    );
    assert_eq!(hn.omitted, 1);
    let text = Renderer::new().and_then(|r| r.text(&c)).expect("render");
    // The cut row is counted under its rule, pointing at the complete files.
    assert!(
        text.contains("… Còn 1 mục khác — xem findings.csv hoặc report.json"),
        "{text}"
    );
}

#[test]
fn unassessed_rules_of_one_subject_and_reason_are_one_row() {
    let mut input = crate::report::sample::sample_input(Lang::Vi);
    let base = input
        .findings
        .iter()
        .find(|r| r.outcome == "could_not_assess")
        .cloned()
        .expect("sample has an unassessed record");
    for rule in ["LVL-001", "NPL-001"] {
        let mut r = base.clone();
        r.rule_id = rule.into();
        r.fingerprint = format!("{}-{rule}", base.fingerprint);
        input.findings.push(r);
    }
    let data = crate::report::build(input).expect("build");
    let rows: Vec<_> = data
        .agencies
        .iter()
        .flat_map(|a| a.could_not_assess.iter())
        .filter(|u| u.record.subject == base.subject)
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let mut rules = rows[0].rules.clone();
    rules.sort();
    assert_eq!(rules, vec!["LVL-001", "NPL-001", base.rule_id.as_str()]);
    let text = Renderer::new()
        .expect("renderer")
        .text(&data)
        .expect("text");
    assert!(
        text.contains("LVL-001, NPL-001") || text.contains(&format!("{}, LVL-001", base.rule_id)),
        "{text}"
    );
}

#[test]
fn successors_are_shown_by_name() {
    let mut input = sample_input(Lang::Vi);
    for m in input.agencies.iter_mut().filter(|m| m.facts.id == "bca") {
        m.successor = "ha-noi".into();
    }
    let data = build(input).expect("build");
    let bca = data
        .agencies
        .iter()
        .find(|a| a.facts.id == "bca")
        .expect("bca");
    assert_eq!(bca.successor, "ha-noi");
    assert_eq!(bca.successor_name, "Thành phố Hà Nội");
    let text = Renderer::new().and_then(|r| r.text(&data)).expect("text");
    assert!(text.contains("Đã hợp nhất vào: Thành phố Hà Nội"), "{text}");

    // A successor outside the report is named from the configuration.
    let mut input = sample_input(Lang::En);
    for m in input.agencies.iter_mut().filter(|m| m.facts.id == "bca") {
        m.successor = "danang".into();
    }
    let mut data = build(input).expect("build");
    let bca = |d: &ReportData| {
        d.agencies
            .iter()
            .find(|a| a.facts.id == "bca")
            .map(|a| a.successor_name.clone())
            .unwrap_or_default()
    };
    assert_eq!(bca(&data), "danang");
    let cfg: crate::config::AgencyConfig = toml::from_str(
        "id = \"danang\"\nname = \"Thành phố Đà Nẵng\"\nname_en = \"Da Nang City\"\nkind = \"province\"\nportal = \"https://dvc.danang.gov.vn/\"\nplatform = \"table\"\n",
    )
    .expect("agency config");
    name_successors(&mut data, &[cfg]);
    assert_eq!(bca(&data), "Da Nang City");
}

/// A withdrawn finding given to [`build`] (its service left a completely read listing) is
/// counted once (agency and totals), and listed in the text and HTML reports with when it was
/// last seen failing, as a `withdrawn` CSV row and in report.json's `withdrawn_findings`.
#[test]
fn a_withdrawn_finding_is_counted_and_listed() {
    let mut input = sample_input(Lang::Vi);
    let mut gone = input
        .findings
        .iter()
        .find(|f| f.fingerprint == "fp-sig-1")
        .cloned()
        .expect("a service finding");
    gone.fingerprint = "fp-gone".into();
    gone.subject = "bca/1.009999".into();
    for e in &mut gone.evidence {
        e.fetched_at = "2026-11-20T03:04:00Z".into();
    }
    input.diff.withdrawn = vec!["fp-gone".into()];
    input.withdrawn = vec![gone];
    let data = build(input).expect("build");
    assert_eq!(data.totals.withdrawn, 1);
    let bca = data
        .agencies
        .iter()
        .find(|a| a.facts.id == "bca")
        .expect("bca");
    assert_eq!(bca.counts.withdrawn, 1);
    assert_eq!(bca.withdrawn_findings[0].state, FindingState::Withdrawn);

    let r = Renderer::new().expect("renderer");
    let text = r.text(&data).expect("text");
    assert!(
        text.contains("  Không còn trong danh mục (đã đóng, không phải đã khắc phục):\n  - SIG-001 bca/1.009999: ")
            && text.contains("lần cuối thấy lỗi: 20/11/2026 10:04"),
        "{text}"
    );
    let html = r.html(&data).expect("html");
    assert!(
        html.contains("<span class=\"badge st-withdrawn\">Không còn trong danh mục</span> SIG-001</td><td class=\"subject\">bca/1.009999</td>")
            && html.contains("lần cuối thấy lỗi: 20/11/2026 10:04"),
        "HTML lists the withdrawn finding"
    );
    let csv = csv::render(&data).expect("csv");
    assert_eq!(
        csv.lines()
            .filter(|l| l.contains(",withdrawn,withdrawn,"))
            .count(),
        1,
        "{csv}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&json::render(&data).expect("json")).expect("parse");
    let bca = json["agencies"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["facts"]["id"] == "bca"))
        .expect("bca");
    assert_eq!(
        bca["withdrawn_findings"][0]["record"]["fingerprint"],
        "fp-gone"
    );
    assert_eq!(json["totals"]["withdrawn"], 1);
}
