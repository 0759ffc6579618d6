//! Rule engine behaviour through the public API: the default pack, lint diagnostics as the user
//! sees them, evaluation outcomes, waivers and the committed reference.

use std::sync::Arc;

use dvc_audit::diag::SourceFile;
use dvc_audit::facts::{
    AgencyFacts, AgencyKind, AssessReason, ErrorFact, HostFacts, Level, ServiceFacts,
};
use dvc_audit::rules::{RuleSet, RuleSettings, Severity, Verdict, Waivers};

fn pack() -> RuleSet {
    match RuleSet::bundled() {
        Ok(l) => l.rules,
        Err(e) => panic!("{}", e.0.render(false)),
    }
}

fn agency() -> AgencyFacts {
    AgencyFacts {
        id: "bca".into(),
        name: "Bộ Công an".into(),
        name_en: "Ministry of Public Security".into(),
        kind: AgencyKind::Ministry,
        portal: "https://dichvucong.bocongan.gov.vn/".into(),
        platform: "bca".into(),
        jurisdiction: "central".into(),
    }
}

/// Lint a single rule file held in memory; return the rendered diagnostics.
fn lint(text: &str) -> String {
    let file = SourceFile::new("rules/test.toml", text);
    match RuleSet::from_sources(&[file]) {
        Ok(_) => String::new(),
        Err(e) => e.0.render(false),
    }
}

const GOOD: &str = r#"
[[rule]]
id = "SIG-100"
title.vi = "Tiêu đề"
title.en = "Title"
message.vi = "Dịch vụ {service.code}"
message.en = "Service {service.code}"
remediation.vi = "Sửa"
remediation.en = "Fix"
severity = "high"
scope = "service"
when = "service.level == 'full'"
require = "service.signature.supported"
status = "stable"
since = "0.1.0"
doc = "Checks."

[[rule.test]]
name = "ok"
service = { level = "full", signature = { supported = true } }
expect = "pass"

[[rule.test]]
name = "bad"
service = { level = "full" }
expect = "fail"
"#;

#[test]
fn default_pack_passes_its_embedded_tests_and_every_rule_has_both_cases() {
    let set = pack();
    let report = set.self_test();
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(report.passed >= 2 * set.rules().len());
    for r in set.rules() {
        assert!(r.tests.len() >= 2, "{} has too few cases", r.id);
        assert!(!r.title.vi.is_empty() && !r.title.en.is_empty());
    }
    assert_eq!(set.digest().len(), 64);
}

#[test]
fn a_good_file_lints_clean() {
    assert_eq!(lint(GOOD), "");
}

#[test]
fn unknown_field_points_inside_the_expression() {
    let text = GOOD.replace(
        "require = \"service.signature.supported\"",
        "require = \"service.signature.suported\"",
    );
    let out = lint(&text);
    // line 13, column 30: `suported` inside the string.
    assert!(out.contains("rules/test.toml:13:30"), "{out}");
    assert!(out.contains("unknown field `suported`"), "{out}");
    assert!(out.contains("did you mean `supported`?"), "{out}");
}

#[test]
fn unknown_field_in_a_macro_and_in_a_message_is_located() {
    let text = GOOD
        .replace(
            "message.en = \"Service {service.code}\"",
            "message.en = \"Service {service.cod}\"",
        )
        .replace(
            "when = \"service.level == 'full'\"",
            "when = \"service.signature.evidence.exists(e, e.kindd == 'x')\"",
        );
    let out = lint(&text);
    assert!(out.contains("rules/test.toml:7:32"), "{out}");
    assert!(out.contains("unknown field `cod`"), "{out}");
    assert!(out.contains("rules/test.toml:12:48"), "{out}");
    assert!(out.contains("unknown field `kindd`"), "{out}");
}

#[test]
fn bad_expression_is_located() {
    let text = GOOD.replace(
        "require = \"service.signature.supported\"",
        "require = \"service.signature.supported &&\"",
    );
    let out = lint(&text);
    assert!(out.contains("rule::bad-expression"), "{out}");
    assert!(out.contains("rules/test.toml:13:"), "{out}");
}

#[test]
fn duplicate_id_points_at_both() {
    let text = format!("{GOOD}\n{GOOD}");
    let out = lint(&text);
    assert!(out.contains("duplicate rule id `SIG-100`"), "{out}");
    assert!(out.contains("rules/test.toml:30:6"), "{out}");
    assert!(
        out.contains("first defined at rules/test.toml:3:6"),
        "{out}"
    );
}

#[test]
fn missing_translation_and_bad_enums_are_all_reported() {
    let text = GOOD
        .replace("title.en = \"Title\"\n", "")
        .replace("remediation.vi = \"Sửa\"", "remediation.vi = \"\"")
        .replace("severity = \"high\"", "severity = \"severe\"")
        .replace("id = \"SIG-100\"", "id = \"sig-100\"");
    let out = lint(&text);
    assert!(out.contains("`title.en` is missing"), "{out}");
    assert!(out.contains("`remediation.vi` is empty"), "{out}");
    assert!(out.contains("rules/test.toml:7:18"), "{out}");
    assert!(out.contains("unknown severity `severe`"), "{out}");
    assert!(
        out.contains("rule id `sig-100` has the wrong form"),
        "{out}"
    );
    assert!(out.contains("4 errors"), "{out}");
}

#[test]
fn unknown_keys_and_missing_cases_are_errors() {
    let out = lint(&GOOD.replace("doc = \"Checks.\"", "doc = \"Checks.\"\nseverty = \"low\""));
    assert!(out.contains("unknown field `severty`"), "{out}");
    let one_case = GOOD
        .split("[[rule.test]]\nname = \"bad\"")
        .next()
        .unwrap_or_default();
    let out = lint(one_case);
    assert!(
        out.contains("needs at least one `pass` and one `fail` test case"),
        "{out}"
    );
    // Facts the scope cannot see are a warning, not an error.
    let file = SourceFile::new(
        "rules/test.toml",
        GOOD.replace(
            "service = { level = \"full\" }",
            "service = { level = \"full\" }\nhost = { port = 1 }",
        ),
    );
    match RuleSet::from_sources(&[file]) {
        Ok(l) => {
            let w = l.warnings.render(false);
            assert!(
                w.contains("warning[rule::unused-test-facts]: rules/test.toml:23:1"),
                "{w}"
            );
            assert!(
                w.contains("test `bad` sets `host`, which a service rule does not see"),
                "{w}"
            );
        }
        Err(e) => panic!("{}", e.0.render(false)),
    }
    let typo = GOOD.replace(
        "signature = { supported = true }",
        "signature = { suported = true }",
    );
    let out = lint(&typo);
    assert!(
        out.contains("unknown fact field `service.signature.suported`"),
        "{out}"
    );
}

#[test]
fn evaluation_error_is_could_not_assess_not_a_panic() {
    // `fetch.error` is null here, so reading `.kind` fails at run time.
    let text = GOOD.replace(
        "require = \"service.signature.supported\"",
        "require = \"service.fetch.error.kind == 'dns'\"",
    );
    let file = SourceFile::new("rules/test.toml", text);
    let set = match RuleSet::from_sources(&[file]) {
        Ok(l) => {
            // Loads, with a warning that says why it may not be assessable.
            let w = l.warnings.render(false);
            assert!(
                w.contains("warning[rule::unguarded-optional]: rules/test.toml:13:"),
                "{w}"
            );
            l.rules
        }
        Err(e) => panic!("{}", e.0.render(false)),
    };
    let svc = ServiceFacts {
        level: Level::Full,
        ..ServiceFacts::default()
    };
    let out = set.evaluate_service(&svc, &agency());
    assert_eq!(out.len(), 1);
    match &out[0].verdict {
        Verdict::CouldNotAssess { reason, detail } => {
            assert_eq!(*reason, AssessReason::RuleError);
            assert!(detail.starts_with("require:"), "{detail}");
        }
        v => panic!("expected could_not_assess, got {v:?}"),
    }
}

fn bad_service() -> ServiceFacts {
    ServiceFacts {
        agency_id: "bca".into(),
        code: "1.004222".into(),
        name: "Đăng ký thường trú".into(),
        url: "https://dichvucong.bocongan.gov.vn/tthc?matt=1".into(),
        level: Level::Full,
        level_label: "Mức độ 4".into(),
        online_submission: true,
        national_portal_link: true,
        ..ServiceFacts::default()
    }
}

#[test]
fn a_full_service_without_signature_fails_with_a_rendered_message() {
    let set = pack();
    let out = set.evaluate_service(&bad_service(), &agency());
    let sig = out.iter().find(|o| &*o.rule_id == "SIG-001");
    let Some(sig) = sig else {
        panic!("no SIG-001 outcome")
    };
    assert_eq!(sig.verdict, Verdict::Fail);
    assert!(
        sig.message_vi.contains("1.004222 (Đăng ký thường trú)"),
        "{}",
        sig.message_vi
    );
    assert_eq!(sig.subject.key(), "bca/1.004222");
    assert!(sig.evidence.first().is_some_and(|e| e.kind == "fetch"));
    assert!(
        out.iter()
            .any(|o| &*o.rule_id == "LVL-001" && o.verdict == Verdict::Pass)
    );
}

#[test]
fn an_unfetched_service_is_not_judged() {
    let set = pack();
    let mut svc = bad_service();
    svc.fetch.error = Some(ErrorFact {
        kind: AssessReason::Timeout,
        message: "30 s".into(),
    });
    let out = set.evaluate_service(&svc, &agency());
    assert!(!out.is_empty());
    for o in &out {
        assert!(
            matches!(
                o.verdict,
                Verdict::CouldNotAssess {
                    reason: AssessReason::Timeout,
                    ..
                }
            ),
            "{o:?}"
        );
    }
    let host = HostFacts {
        name: "dvc.example.gov.vn".into(),
        port: 443,
        error: Some(ErrorFact {
            kind: AssessReason::Dns,
            message: "NXDOMAIN".into(),
        }),
        ..HostFacts::default()
    };
    let out = set.evaluate_host(&host, &agency());
    assert!(out.iter().all(|o| o.verdict != Verdict::Fail), "{out:?}");
    assert!(out.iter().any(|o| &*o.rule_id == "AVL-001"
        && matches!(
            o.verdict,
            Verdict::CouldNotAssess {
                reason: AssessReason::Dns,
                ..
            }
        )));
}

#[test]
fn settings_override_params_and_severity() {
    let mut set = pack();
    let settings: RuleSettings = match toml::from_str(
        "[params]\nexpiry_warning_days = 5\n[severity]\n\"TLS-006\" = \"low\"\n",
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let before = set.settings_digest().to_string();
    assert_eq!(set.configure(&settings), Ok(()));
    assert_ne!(set.settings_digest(), before);
    let mut host = HostFacts {
        name: "h".into(),
        port: 443,
        reachable: true,
        ..HostFacts::default()
    };
    host.cert.days_left = 10;
    let out = set.evaluate_host(&host, &agency());
    let o = out.iter().find(|o| &*o.rule_id == "TLS-006");
    assert_eq!(o.map(|o| &o.verdict), Some(&Verdict::Pass));
    assert_eq!(o.map(|o| o.severity), Some(Severity::Low));
    let bad: RuleSettings = match toml::from_str("[params]\nnope = 1\nexpiry_warning_days = 'x'\n")
    {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(set.configure(&bad).map_err(|e| e.len()), Err(2));
}

fn today() -> time::Date {
    time::macros::date!(2026 - 11 - 27)
}

#[test]
fn waivers_apply_expire_and_go_stale() {
    let set = pack();
    let text = r#"
[[waiver]]
rule = "SIG-001"
subject = "bca/1.00*"
reason = "Đang nâng cấp"
decision = "QĐ 12/QĐ-BCA"
expires = 2027-01-31

[[waiver]]
rule = "LVL-001"
subject = "bca/*"
reason = "Old"
decision = "QĐ 1"
expires = 2026-01-01

[[waiver]]
rule = "NPL-001"
subject = "moj/*"
reason = "Nothing matches"
decision = "QĐ 2"
expires = "2027-06-30"
"#;
    let file = SourceFile::new("waivers.toml", text);
    let (waivers, _) = match Waivers::from_source(&file, &set) {
        Ok(w) => w,
        Err(e) => panic!("{}", e.0.render(false)),
    };
    let mut svc = bad_service();
    svc.level_label.clear();
    let mut out = set.evaluate_service(&svc, &agency());
    waivers.apply(&mut out, today());
    let sig = out.iter().find(|o| &*o.rule_id == "SIG-001");
    assert!(sig.is_some_and(|o| {
        o.waiver
            .as_ref()
            .is_some_and(|w| w.decision == "QĐ 12/QĐ-BCA")
    }));
    assert!(sig.is_some_and(|o| !o.is_finding()));
    // The LVL-001 waiver expired: the failure stands.
    let lvl = out.iter().find(|o| &*o.rule_id == "LVL-001");
    assert!(lvl.is_some_and(|o| o.verdict == Verdict::Fail && o.waiver.is_none()));
    let report = waivers.report(today());
    assert_eq!(report.expired.len(), 1);
    assert_eq!(report.expired[0].waiver.rule, "LVL-001");
    assert_eq!(report.expired[0].matched, 1);
    assert_eq!(report.stale.len(), 1);
    assert_eq!(report.stale[0].waiver.rule, "NPL-001");
}

#[test]
fn bad_waivers_are_located() {
    let set = pack();
    let text = "[[waiver]]\nrule = \"SIG-999\"\nsubject = \"\"\nreason = \"r\"\ndecision = \"d\"\nexpires = \"soon\"\n";
    let file = SourceFile::new("waivers.toml", text);
    let out = match Waivers::from_source(&file, &set) {
        Ok(_) => String::new(),
        Err(e) => e.0.render(false),
    };
    assert!(
        out.contains("waivers.toml:2:8") && out.contains("unknown rule `SIG-999`"),
        "{out}"
    );
    assert!(
        out.contains("waivers.toml:3:11") && out.contains("`subject` is empty"),
        "{out}"
    );
    assert!(
        out.contains("waivers.toml:6:11") && out.contains("`expires` must be a date"),
        "{out}"
    );
}

#[test]
fn agency_aggregate_counts_only_assessed_services() {
    let set = pack();
    let mut ok = bad_service();
    ok.signature.providers = vec!["vgca".into()];
    let mut bad = bad_service();
    bad.code = "1.000001".into();
    let ev = set.evaluate_all(&agency(), &[ok.clone(), bad], &[]);
    assert_eq!(ev.rules_digest, set.digest());
    let agy = ev.outcomes.iter().find(|o| &*o.rule_id == "AGY-001");
    assert_eq!(agy.map(|o| &o.verdict), Some(&Verdict::Fail));
    assert!(
        agy.is_some_and(|o| o.message_vi.contains("1/2 dịch vụ toàn trình")),
        "{agy:?}"
    );
    let out = set.evaluate_agency(&agency(), &[ok], &[]);
    let agy = out.iter().find(|o| &*o.rule_id == "AGY-001");
    assert_eq!(agy.map(|o| &o.verdict), Some(&Verdict::Pass));
}

#[test]
fn committed_reference_is_current() {
    let committed = std::fs::read_to_string("docs/rules.md").unwrap_or_default();
    assert!(
        committed == pack().markdown(),
        "docs/rules.md is stale: run `dvc-audit rules doc --out docs/rules.md`"
    );
}

#[test]
fn bundled_pack_equals_the_rules_directory() {
    let from_dir = match RuleSet::load_dir(std::path::Path::new("rules")) {
        Ok(l) => l.rules,
        Err(e) => panic!("{}", e.0.render(false)),
    };
    assert_eq!(
        from_dir.digest(),
        pack().digest(),
        "a rules/*.toml file is missing from BUNDLED"
    );
    let _: Arc<SourceFile> = SourceFile::new("x", "");
}

/// Throughput over 200,000 generated services. Not a pass/fail check (no timing thresholds):
/// run `cargo test --release --test rules throughput -- --ignored --nocapture` to print the figure.
#[test]
#[ignore]
fn throughput_over_200k_services() {
    let set = pack();
    let n = std::env::var("DVC_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let r = dvc_audit::rules::bench::bench_services(&set, n);
    println!(
        "{} services, {} evaluations in {:.2?}: {:.0} evaluations/s",
        r.services,
        r.evaluations,
        r.elapsed,
        r.evaluations_per_second()
    );
    assert_eq!(r.services, n);
}

#[test]
fn rule_set_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
    assert_send_sync::<Waivers>();
}

#[test]
fn every_rule_has_a_legal_or_technical_basis() {
    for r in pack().rules() {
        assert!(
            !r.legal_basis.is_empty() || !r.technical_basis.is_empty(),
            "{} cites neither a legal nor a technical basis",
            r.id
        );
    }
}

#[test]
fn signature_rules_cite_the_law_and_decree_68_not_the_replaced_decrees() {
    for r in pack().rules().iter().filter(|r| r.id.starts_with("SIG-")) {
        let texts = r.legal_texts().join(" | ");
        assert!(texts.contains("20/2023/QH15"), "{}: {texts}", r.id);
        assert!(texts.contains("68/2024/NĐ-CP"), "{}: {texts}", r.id);
        assert!(
            !texts.contains("130/2018") && !texts.contains("23/2025"),
            "{}: {texts}",
            r.id
        );
    }
}

#[test]
fn no_rule_text_an_inspector_reads_hedges() {
    use dvc_audit::rules::model::hedge_in;
    for r in pack().rules() {
        let mut texts = vec![
            r.title.vi.clone(),
            r.title.en.clone(),
            r.message.vi.clone(),
            r.message.en.clone(),
            r.remediation.vi.clone(),
            r.remediation.en.clone(),
        ];
        texts.extend(r.legal_texts());
        texts.extend(r.technical_texts());
        for t in &texts {
            assert_eq!(hedge_in(t), None, "{}: {t:?}", r.id);
        }
    }
    // The doubt about Decree 42/2022 is kept, as metadata.
    let lvl = pack();
    let lvl = lvl.rules().iter().find(|r| r.id == "LVL-001");
    assert!(
        lvl.is_some_and(|r| r
            .legal_basis
            .iter()
            .any(|c| !c.verified && !c.note.is_empty())),
        "LVL-001 should mark Decree 42/2022 unverified in metadata"
    );
}

#[test]
fn a_citation_is_a_string_or_a_table_and_a_hedged_one_is_refused() {
    let table = GOOD.replace(
        "status = \"stable\"",
        "legal_basis = [\"Nghị định 68/2024/NĐ-CP\", { text = \"Nghị định 42/2022/NĐ-CP, Điều 11\", verified = false, note = \"may be replaced\" }]\ntechnical_basis = [\"RFC 6797\"]\nstatus = \"stable\"",
    );
    let file = SourceFile::new("rules/test.toml", table.as_str());
    let set = match RuleSet::from_sources(&[file]) {
        Ok(l) => l.rules,
        Err(e) => panic!("{}", e.0.render(false)),
    };
    let r = &set.rules()[0];
    assert_eq!(
        r.legal_texts(),
        vec![
            "Nghị định 68/2024/NĐ-CP",
            "Nghị định 42/2022/NĐ-CP, Điều 11"
        ]
    );
    assert!(r.legal_basis[0].verified && !r.legal_basis[1].verified);
    assert_eq!(r.technical_texts(), vec!["RFC 6797"]);

    let hedged = GOOD.replace(
        "status = \"stable\"",
        "legal_basis = [\"Nghị định 42/2022/NĐ-CP — chưa kiểm chứng\"]\nstatus = \"stable\"",
    );
    let out = lint(&hedged);
    assert!(out.contains("rule::hedged-citation"), "{out}");
    assert!(out.contains("rules/test.toml:"), "{out}");
}

#[test]
fn messages_name_providers_and_show_dates_in_vietnam_time() {
    let set = pack();
    let svc = ServiceFacts {
        code: "1.000001".into(),
        name: "Cấp phép".into(),
        level: Level::Full,
        signature: dvc_audit::facts::SignatureFacts {
            supported: true,
            providers: vec!["vnpt-ca".into(), "smartca".into()],
            ..Default::default()
        },
        ..ServiceFacts::default()
    };
    let out = set.evaluate_service(&svc, &agency());
    let sig = out
        .iter()
        .find(|o| &*o.rule_id == "SIG-001")
        .expect("SIG-001");
    assert!(
        sig.message_vi.contains(": VNPT-CA, VNPT SmartCA."),
        "{}",
        sig.message_vi
    );
    assert!(
        sig.message_en.contains(": VNPT-CA, VNPT SmartCA."),
        "{}",
        sig.message_en
    );
    let none = ServiceFacts {
        signature: Default::default(),
        ..svc
    };
    let out = set.evaluate_service(&none, &agency());
    let sig = out
        .iter()
        .find(|o| &*o.rule_id == "SIG-001")
        .expect("SIG-001");
    assert!(
        sig.message_vi.ends_with("trên trang: không có."),
        "{}",
        sig.message_vi
    );
    assert!(
        sig.message_en.ends_with("on the page: none."),
        "{}",
        sig.message_en
    );

    // Expired at 20:00 UTC on 30/11: already 01/12 in Vietnam.
    let mut host = HostFacts {
        name: "h".into(),
        port: 443,
        reachable: true,
        ..HostFacts::default()
    };
    host.cert.not_after = "2026-11-30T20:00:00Z".into();
    host.cert.days_left = -2;
    host.cert.expired = true;
    let out = set.evaluate_host(&host, &agency());
    let exp = out
        .iter()
        .find(|o| &*o.rule_id == "TLS-005")
        .expect("TLS-005");
    assert_eq!(exp.verdict, Verdict::Fail, "{exp:?}");
    assert!(
        exp.message_vi.contains("(01/12/2026)"),
        "{}",
        exp.message_vi
    );
}
