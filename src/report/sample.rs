//! A small, fixed report for tests, snapshots and `dvc-audit report --sample` style previews:
//! two agencies, every lifecycle state, a could-not-assess, a waiver and a trend. Fixed times,
//! so renderings are byte-for-byte stable.

use std::collections::BTreeMap;

use super::build::{AgencyMeta, BuildInput, build};
use super::i18n::Lang;
use super::model::{ReportData, RuleInfo, WaiverNote};
use crate::facts::{AgencyFacts, AgencyKind, Level, ServiceFacts, SignatureFacts};
use crate::store::{EvidenceRecord, FindingRecord, RunDiff, RunRow, Scope, TrendPoint};

fn agency(
    id: &str,
    name: &str,
    name_en: &str,
    kind: AgencyKind,
    jurisdiction: &str,
) -> AgencyFacts {
    AgencyFacts {
        id: id.into(),
        name: name.into(),
        name_en: name_en.into(),
        kind,
        portal: format!("https://dvc.{id}.sandbox.test/"),
        platform: "accordion".into(),
        jurisdiction: jurisdiction.into(),
    }
}

fn service(agency: &str, code: &str, name: &str, level: Level, vgca: bool) -> ServiceFacts {
    ServiceFacts {
        agency_id: agency.into(),
        code: code.into(),
        name: name.into(),
        url: format!("https://dvc.{agency}.sandbox.test/bothutuc/tthc?matt={code}"),
        level,
        signature: SignatureFacts {
            providers: if vgca {
                vec!["vgca".into()]
            } else {
                Vec::new()
            },
            supported: vgca,
            ..SignatureFacts::default()
        },
        ..ServiceFacts::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn finding(
    fp: &str,
    rule: &str,
    sev: &str,
    scope: &str,
    agency: &str,
    subject: &str,
    vi: &str,
    en: &str,
) -> FindingRecord {
    FindingRecord {
        fingerprint: fp.into(),
        rule_id: rule.into(),
        severity: sev.into(),
        scope: scope.into(),
        agency_id: agency.into(),
        subject: subject.into(),
        outcome: "fail".into(),
        message_vi: vi.into(),
        message_en: en.into(),
        evidence: vec![EvidenceRecord {
            url: format!("https://dvc.{agency}.sandbox.test/bothutuc/tthc?matt=1"),
            fetched_at: "2026-11-27T01:02:03Z".into(),
            status: 200,
            content_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            locator: "div.tthc-list-item".into(),
            excerpt: "Mức độ 4 — Thành phần hồ sơ: Tờ khai (bản điện tử)".into(),
        }],
        ..FindingRecord::default()
    }
}

fn trend(run: i64, day: u32, fails: i64) -> TrendPoint {
    TrendPoint {
        run_id: run,
        mode: "regular".into(),
        started_at: format!("2026-11-{day:02}T01:00:00Z"),
        fails,
        violations: fails,
        could_not_assess: 0,
        services: 4,
        services_read: 4,
        full_services: 3,
        full_with_vgca: 2,
        level_published: 3,
        level_unobserved: 0,
        signature_unobserved: 0,
        measured: true,
    }
}

/// A probed host that answered.
fn host(name: &str) -> crate::facts::HostFacts {
    crate::facts::HostFacts {
        name: name.into(),
        port: 443,
        reachable: true,
        ..crate::facts::HostFacts::default()
    }
}

/// The inputs of the sample report, for tests that want to change something before building.
pub fn sample_input(lang: Lang) -> BuildInput {
    let bca = agency(
        "bca",
        "Bộ Công an",
        "Ministry of Public Security",
        AgencyKind::Ministry,
        "north",
    );
    let hn = agency(
        "ha-noi",
        "Thành phố Hà Nội",
        "Hà Nội City",
        AgencyKind::City,
        "north",
    );
    let mut findings = vec![
        finding(
            "fp-sig-1",
            "SIG-001",
            "critical",
            "service",
            "bca",
            "bca/1.001234",
            "Dịch vụ toàn trình không hỗ trợ chữ ký số chuyên dùng Chính phủ.",
            "Full-process service without the Government-specialised signature.",
        ),
        finding(
            "fp-tls-1",
            "TLS-003",
            "high",
            "host",
            "bca",
            "dvc.bca.sandbox.test:443",
            "Chứng chỉ hết hạn sau 5 ngày.",
            "Certificate expires in 5 days.",
        ),
        finding(
            "fp-hsts-1",
            "HTTP-002",
            "medium",
            "host",
            "ha-noi",
            "dvc.ha-noi.sandbox.test:443",
            "Thiếu HSTS.",
            "HSTS missing.",
        ),
        finding(
            "fp-lvl-1",
            "LVL-001",
            "low",
            "service",
            "ha-noi",
            "ha-noi/1.000555",
            "Không công bố mức độ dịch vụ.",
            "No service level published.",
        ),
    ];
    let mut waived = finding(
        "fp-waived",
        "SIG-002",
        "high",
        "service",
        "ha-noi",
        "ha-noi/1.000777",
        "Không có nút ký số.",
        "No signing control.",
    );
    waived.waiver = "QĐ-123/2026".into();
    findings.push(waived);
    let mut cna = finding(
        "fp-cna",
        "SIG-001",
        "critical",
        "service",
        "ha-noi",
        "ha-noi/1.000999",
        "Không thể đánh giá.",
        "Could not assess.",
    );
    cna.outcome = "could_not_assess".into();
    cna.reason = "timeout".into();
    findings.push(cna);
    let resolved = vec![finding(
        "fp-old",
        "TLS-001",
        "high",
        "host",
        "ha-noi",
        "dvc.ha-noi.sandbox.test:443",
        "Chấp nhận TLS 1.0.",
        "TLS 1.0 accepted.",
    )];
    let mut rules = BTreeMap::new();
    rules.insert(
        "SIG-001".to_string(),
        RuleInfo {
            id: "SIG-001".into(),
            title_vi: "Dịch vụ toàn trình phải hỗ trợ chữ ký số chuyên dùng".into(),
            title_en: "Full-process services support the Government-specialised signature".into(),
            remediation_vi: "Tích hợp VGCA Sign Service vào bước nộp hồ sơ.".into(),
            remediation_en: "Integrate the VGCA Sign Service into dossier submission.".into(),
            legal_basis: vec!["Nghị định 68/2024/NĐ-CP".into()],
            technical_basis: Vec::new(),
            severity: "high".into(),
        },
    );
    let mut trends = BTreeMap::new();
    trends.insert(
        "bca".to_string(),
        vec![trend(1, 20, 4), trend(2, 24, 3), trend(3, 27, 2)],
    );
    trends.insert(
        "ha-noi".to_string(),
        vec![trend(1, 20, 1), trend(2, 24, 3), trend(3, 27, 2)],
    );
    BuildInput {
        run: Some(RunRow {
            id: 3,
            mode: "regular".into(),
            scope: Scope {
                agencies: vec!["bca".into(), "ha-noi".into()],
                services: None,
            },
            seed: None,
            ruleset_digest: "a1b2c3d4e5f60718293a4b5c6d7e8f90".into(),
            config_digest: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            started_at: "2026-11-27T01:00:00Z".into(),
            ended_at: Some("2026-11-27T01:20:00Z".into()),
            status: "complete".into(),
            note: String::new(),
            digest: Some("5d41402abc4b2a76b9719d911017c592aa55e1e4f6a1b2c3d4e5f60718293a4b".into()),
        }),
        deployment: "Ban Cơ yếu Chính phủ".into(),
        max_rows_per_rule: super::build::DEFAULT_MAX_ROWS_PER_RULE,
        lang,
        agencies: vec![
            AgencyMeta {
                facts: hn,
                successor: String::new(),
                former_names: vec![],
                verified: false,
            },
            AgencyMeta {
                facts: bca,
                successor: String::new(),
                former_names: vec![],
                verified: true,
            },
        ],
        findings,
        diff: RunDiff {
            new: vec!["fp-sig-1".into(), "fp-lvl-1".into()],
            persisting: vec!["fp-tls-1".into()],
            regressed: vec!["fp-hsts-1".into()],
            resolved: vec!["fp-old".into()],
            unverified: vec![],
            withdrawn: vec![],
        },
        resolved,
        unverified: Vec::new(),
        withdrawn: Vec::new(),
        coverage: Default::default(),
        services: vec![
            service("bca", "1.001234", "Đăng ký thường trú", Level::Full, false),
            service("bca", "1.001235", "Cấp căn cước", Level::Full, true),
            service("bca", "1.001236", "Xác nhận cư trú", Level::Partial, false),
            service(
                "ha-noi",
                "1.000555",
                "Cấp giấy phép xây dựng",
                Level::Unknown,
                false,
            ),
            service(
                "ha-noi",
                "1.000777",
                "Đăng ký kinh doanh hộ cá thể",
                Level::Full,
                true,
            ),
        ],
        hosts: vec![
            ("bca".into(), host("dvc.bca.sandbox.test")),
            ("ha-noi".into(), host("dvc.ha-noi.sandbox.test")),
        ],
        trends,
        rules,
        waiver_notes: vec![WaiverNote {
            reference: "QĐ-001/2025".into(),
            kind: "expired".into(),
            rule_id: "TLS-003".into(),
            subject: "bca".into(),
            expires: "2026-10-01T00:00:00Z".into(),
            note: String::new(),
        }],
    }
}

/// The sample report. Never fails: its input is fixed and valid.
pub fn sample(lang: Lang) -> ReportData {
    match build(sample_input(lang)) {
        Ok(d) => d,
        Err(e) => unreachable!("the fixed sample input is valid: {e}"),
    }
}
