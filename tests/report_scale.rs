//! A report over a run with many findings (issue #10): the complete formats hold every finding,
//! the HTML and text reports hold per-rule counts and at most `max_rows_per_rule` example rows
//! per (agency, rule) followed by the "and K more" line, and portal text stays escaped.
//! The store is a real SQLite file filled through the store API (no crawl).

use std::collections::BTreeMap;

use dvc_audit::facts::{AgencyFacts, AgencyKind};
use dvc_audit::report::{self, AgencyMeta, Format, Lang, RuleInfo};
use dvc_audit::store::{EvidenceRecord, FindingRecord, RunStart, Scope, Store};

const AGENCIES: usize = 4;
const RULES: [(&str, &str); 5] = [
    ("SIG-001", "critical"),
    ("TLS-003", "high"),
    ("LVL-001", "medium"),
    ("PRT-001", "low"),
    ("AVL-001", "info"),
];
const FINDINGS: usize = 20_000;
const CAP: usize = 7;
const INJECTED: &str = "<script>alert(1)</script>";

fn agency(a: usize) -> String {
    format!("agency-{a}")
}

fn meta(a: usize) -> AgencyMeta {
    AgencyMeta {
        facts: AgencyFacts {
            id: agency(a),
            name: format!("Tỉnh {a}"),
            name_en: String::new(),
            kind: AgencyKind::Province,
            portal: format!("https://dvc.{}.sandbox.test/", agency(a)),
            platform: "accordion".into(),
            jurisdiction: "north".into(),
        },
        successor: String::new(),
        former_names: Vec::new(),
        verified: true,
    }
}

fn record(i: usize) -> FindingRecord {
    let id = agency(i % AGENCIES);
    let (rule, sev) = RULES[(i / AGENCIES) % RULES.len()];
    FindingRecord {
        fingerprint: format!("fp-{i:06}"),
        rule_id: rule.into(),
        severity: sev.into(),
        scope: "service".into(),
        agency_id: id.clone(),
        subject: format!("{id}/1.{i:06}"),
        outcome: "fail".into(),
        message_vi: format!("Vi phạm {i} {INJECTED}"),
        message_en: format!("Violation {i}"),
        evidence: vec![EvidenceRecord {
            url: format!("https://dvc.{id}.sandbox.test/tthc?matt=1.{i:06}"),
            fetched_at: "2026-11-27T01:02:03Z".into(),
            status: 200,
            content_hash: "ab".repeat(32),
            locator: "div.item".into(),
            excerpt: format!("\"><svg onload=alert(2)>{INJECTED}"),
        }],
        ..FindingRecord::default()
    }
}

#[test]
fn a_large_run_is_complete_in_csv_and_json_and_summarised_in_html() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("h.sqlite");
    let mut store = Store::open(&db).expect("store");
    let run = store
        .begin_run(&RunStart {
            mode: "regular".into(),
            scope: Scope {
                agencies: (0..AGENCIES).map(agency).collect(),
                services: None,
            },
            seed: None,
            ruleset_digest: "r".into(),
            config_digest: "c".into(),
        })
        .expect("begin");
    let mut records: Vec<FindingRecord> = (0..FINDINGS).map(record).collect();
    // One could-not-assess line too.
    records.push(FindingRecord {
        fingerprint: "fp-cna".into(),
        rule_id: "SIG-001".into(),
        severity: "critical".into(),
        scope: "service".into(),
        agency_id: agency(0),
        subject: format!("{}/down", agency(0)),
        outcome: "could_not_assess".into(),
        reason: "timeout".into(),
        ..FindingRecord::default()
    });
    store.finish_run(run, &records).expect("finish");

    let rules: BTreeMap<String, RuleInfo> = RULES
        .iter()
        .map(|(id, _)| {
            (
                id.to_string(),
                RuleInfo {
                    id: id.to_string(),
                    title_vi: format!("Quy tắc {id}"),
                    remediation_vi: format!("Khắc phục {id}"),
                    legal_basis: vec![format!("Căn cứ {id}")],
                    ..RuleInfo::default()
                },
            )
        })
        .collect();
    let data = report::gather_with(
        &store,
        run,
        "test",
        Lang::Vi,
        (0..AGENCIES).map(meta).collect(),
        rules,
        Vec::new(),
        CAP,
    )
    .expect("gather");
    assert_eq!(data.totals.findings, FINDINGS as i64);
    assert_eq!(data.totals.new, FINDINGS as i64);
    assert_eq!(data.totals.could_not_assess, 1);
    let per_rule = FINDINGS / AGENCIES / RULES.len();
    for a in &data.agencies {
        assert_eq!(a.rules.len(), RULES.len());
        assert!(a.rules.iter().all(|r| r.count == per_rule as i64));
        assert_eq!(a.findings.len(), RULES.len() * CAP, "examples are capped");
    }

    let out = dir.path().join("reports");
    let files = report::write_all(&out, &data, &Format::ALL).expect("write");
    // Every format, and services.csv beside findings.csv.
    assert_eq!(files.len(), Format::ALL.len() + 1);
    let read = |name: &str| {
        std::fs::read_to_string(out.join(format!("run-{run}")).join(name)).expect("read")
    };

    // CSV: every finding, once.
    let csv = read("findings.csv");
    let fails = csv.lines().filter(|l| l.contains(",fail,")).count();
    assert_eq!(fails, FINDINGS);
    for i in [0, 1, 4_999, 12_345, FINDINGS - 1] {
        assert!(csv.contains(&format!(",fp-{i:06}")), "fp-{i:06} in the CSV");
    }
    assert!(csv.contains(",could_not_assess,"));

    // JSON: valid, every finding, the per-rule summary, nothing omitted.
    let json: serde_json::Value = serde_json::from_str(&read("report.json")).expect("json");
    assert_eq!(json["schema_version"], dvc_audit::report::SCHEMA_VERSION);
    let agencies = json["agencies"].as_array().expect("agencies");
    let total: usize = agencies
        .iter()
        .map(|a| a["findings"].as_array().map(Vec::len).unwrap_or(0))
        .sum();
    assert_eq!(total, FINDINGS);
    assert!(agencies.iter().all(|a| a["omitted"] == 0));
    assert_eq!(agencies[0]["rules"][0]["count"], per_rule);
    assert_eq!(
        agencies[0]["findings"][0]["record"]["evidence"][0]["locator"],
        "div.item"
    );
    assert_eq!(agencies[0]["could_not_assess"][0]["reason"], "timeout");

    // HTML: per-rule counts, at most CAP rows per rule, the "K more" line, escaped.
    let html = read("report.html");
    let rows = html.matches("<div class=\"finding\">").count();
    assert_eq!(rows, AGENCIES * RULES.len() * CAP);
    let more = format!(
        "Còn {} mục khác — xem findings.csv hoặc report.json",
        per_rule - CAP
    );
    assert_eq!(html.matches(&more).count(), AGENCIES * RULES.len());
    assert!(html.contains(&format!("Tổng: {per_rule} · Mới {per_rule}")));
    assert!(!html.contains("<script"), "portal text became markup");
    assert!(!html.contains("<svg onload"), "portal text became markup");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // Text: the same summary.
    let text = read("report.txt");
    assert_eq!(text.matches(&more).count(), AGENCIES * RULES.len());

    // XLSX: a zip with both sheets.
    let xlsx = std::fs::read(out.join(format!("run-{run}")).join("report.xlsx")).expect("xlsx");
    assert!(xlsx.starts_with(b"PK"));
}
