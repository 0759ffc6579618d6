//! Report-stage benchmark: time and peak memory of `report::gather` + writing every format over
//! a store with many findings (issue #10).
//!
//! Two steps, so the peak of generating the store does not hide the report's:
//!
//! ```text
//! cargo run --example report_bench -- gen /tmp/bench.sqlite 190000
//! cargo run --example report_bench -- run /tmp/bench.sqlite /tmp/bench-out
//! ```
//!
//! `gen` writes complete runs (one unless a third argument says how many; each the same, so
//! later ones are re-runs): 100 agencies, 1,900 services each (facts ~2 KB), and the
//! given number of failing findings spread over ten rules, each with one evidence row. `run`
//! prints wall time and the peak resident set (`VmHWM` from `/proc/self/status`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use dvc_audit::facts::{AgencyFacts, AgencyKind, Level, ServiceFacts, SignatureFacts};
use dvc_audit::report::{self, AgencyMeta, Format, Lang, RuleInfo};
use dvc_audit::store::{EvidenceRecord, FindingRecord, RunStart, Scope, Store};

const AGENCIES: usize = 100;
const SERVICES: usize = 1_900;
const RULES: [(&str, &str); 10] = [
    ("SIG-001", "critical"),
    ("SIG-002", "high"),
    ("LVL-001", "medium"),
    ("LVL-002", "low"),
    ("PRT-001", "medium"),
    ("PRT-002", "info"),
    ("TLS-001", "high"),
    ("TLS-003", "critical"),
    ("HTTP-002", "medium"),
    ("AVL-001", "low"),
];

fn status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l.trim_start_matches(key).trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn agency_id(a: usize) -> String {
    format!("agency-{a:03}")
}

fn meta(a: usize) -> AgencyMeta {
    AgencyMeta {
        facts: AgencyFacts {
            id: agency_id(a),
            name: format!("Ủy ban nhân dân tỉnh số {a}"),
            name_en: format!("Province {a}"),
            kind: AgencyKind::Province,
            portal: format!("https://dvc.{}.sandbox.test/", agency_id(a)),
            platform: "accordion".into(),
            jurisdiction: "north".into(),
        },
        successor: String::new(),
        former_names: Vec::new(),
        verified: true,
    }
}

fn generate(path: &Path, findings: usize, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let _ = std::fs::remove_file(path);
    let mut store = Store::open(path)?;
    for _ in 0..runs {
        generate_run(&mut store, findings)?;
    }
    println!(
        "generated {runs} runs: {findings} findings each in {}",
        path.display()
    );
    Ok(())
}

/// One complete run over the same services and findings (a re-run: every finding persists).
fn generate_run(store: &mut Store, findings: usize) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let scope = Scope {
        agencies: (0..AGENCIES).map(agency_id).collect(),
        services: None,
    };
    let run = store.begin_run(&RunStart {
        mode: "regular".into(),
        scope,
        seed: None,
        ruleset_digest: "bench".into(),
        config_digest: "bench".into(),
    })?;
    let filler = "Thành phần hồ sơ: Tờ khai đề nghị (bản điện tử), giấy tờ tùy thân. ".repeat(24);
    for a in 0..AGENCIES {
        let id = agency_id(a);
        let services: Vec<ServiceFacts> = (0..SERVICES)
            .map(|s| ServiceFacts {
                agency_id: id.clone(),
                code: format!("1.{s:06}"),
                name: format!("Thủ tục số {s}: {filler}"),
                url: format!("https://dvc.{id}.sandbox.test/tthc?matt=1.{s:06}"),
                level: if s % 3 == 0 {
                    Level::Full
                } else {
                    Level::Partial
                },
                signature: SignatureFacts {
                    providers: if s % 2 == 0 {
                        vec!["vgca".into()]
                    } else {
                        Vec::new()
                    },
                    ..SignatureFacts::default()
                },
                ..ServiceFacts::default()
            })
            .collect();
        store.record_services(run, &services)?;
    }
    let mut records = Vec::with_capacity(findings);
    for i in 0..findings {
        let a = i % AGENCIES;
        let id = agency_id(a);
        let (rule, sev) = RULES[(i / AGENCIES) % RULES.len()];
        let s = i / AGENCIES;
        records.push(FindingRecord {
            fingerprint: format!("{:064x}", i as u128 * 2_654_435_761),
            rule_id: rule.into(),
            severity: sev.into(),
            scope: "service".into(),
            agency_id: id.clone(),
            subject: format!("{id}/1.{s:06}"),
            outcome: "fail".into(),
            message_vi: format!("Dịch vụ toàn trình 1.{s:06} không hỗ trợ chữ ký số chuyên dùng Chính phủ (VGCA) trên trang nộp hồ sơ."),
            message_en: format!("Full-process service 1.{s:06} does not support the Government-specialised signature (VGCA)."),
            evidence: vec![EvidenceRecord {
                url: format!("https://dvc.{id}.sandbox.test/tthc?matt=1.{s:06}"),
                fetched_at: "2026-11-27T01:02:03Z".into(),
                status: 200,
                content_hash: format!("{:064x}", i),
                locator: "div.tthc-list-item > span.muc-do".into(),
                excerpt: filler.chars().take(240).collect(),
            }],
            ..FindingRecord::default()
        });
    }
    store.finish_run(run, &records)?;
    println!(
        "generated run {run}: {findings} findings in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run(path: &Path, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("start: VmRSS {}", status("VmRSS:"));
    let store = Store::open(path)?;
    let run = store.runs(1)?.first().map(|r| r.id).ok_or("no run")?;
    let rules: BTreeMap<String, RuleInfo> = RULES
        .iter()
        .map(|(id, _)| {
            (
                id.to_string(),
                RuleInfo {
                    id: id.to_string(),
                    title_vi: format!("Quy tắc {id}"),
                    title_en: format!("Rule {id}"),
                    remediation_vi: "Bổ sung chữ ký số chuyên dùng.".into(),
                    remediation_en: "Add the specialised signature.".into(),
                    legal_basis: vec!["Nghị định 45/2020/NĐ-CP".into()],
                    technical_basis: Vec::new(),
                    ..RuleInfo::default()
                },
            )
        })
        .collect();
    let t0 = Instant::now();
    let data = report::gather(
        &store,
        run,
        "bench",
        Lang::Vi,
        (0..AGENCIES).map(meta).collect(),
        rules,
        Vec::new(),
    )?;
    let t_gather = t0.elapsed();
    println!("gather: {:.2?} (VmHWM {})", t_gather, status("VmHWM:"));
    let mut files = Vec::new();
    for f in Format::ALL {
        let t = Instant::now();
        files.extend(report::write_all(out, &data, &[f])?);
        println!(
            "  {:<12} {:>8.2?} (VmHWM {})",
            f.file_name(),
            t.elapsed(),
            status("VmHWM:")
        );
    }
    let total = t0.elapsed();
    for f in &files {
        let len = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        println!("  {} {} bytes", f.display(), len);
    }
    println!(
        "gather + write all formats: {:.2?}; peak VmHWM {}; findings {}",
        total,
        status("VmHWM:"),
        data.totals.findings
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") => {
            let path = args.get(2).ok_or("gen <db> <findings> [runs]")?;
            let n = args
                .get(3)
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or(190_000);
            let runs = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(1);
            generate(Path::new(path), n, runs)
        }
        Some("run") => {
            let path = args.get(2).ok_or("run <db> <out dir>")?;
            let out = args.get(3).ok_or("run <db> <out dir>")?;
            run(Path::new(path), Path::new(out))
        }
        _ => Err("usage: report_bench gen <db> <findings> | run <db> <out dir>".into()),
    }
}
