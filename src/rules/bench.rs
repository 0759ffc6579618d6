//! Throughput helper: evaluate the pack over N generated services (for `criterion` benches
//! later and for a quick "evaluations per second" figure now). Deterministic: service `i` gets
//! its level and signature providers from `i`, so runs compare.

use std::time::{Duration, Instant};

use super::outcome::Verdict;
use super::set::RuleSet;
use crate::facts::{AgencyFacts, AgencyKind, Evidence, Level, ServiceFacts};

/// A synthetic agency for benchmarks.
pub fn synthetic_agency() -> AgencyFacts {
    AgencyFacts {
        id: "bench".into(),
        name: "Cơ quan thử".into(),
        name_en: "Bench agency".into(),
        kind: AgencyKind::Province,
        portal: "https://dvc.bench.sandbox.test/".into(),
        platform: "bench".into(),
        jurisdiction: "bench".into(),
    }
}

/// Service `i` of a synthetic agency: a mix of levels, providers and missing labels.
pub fn synthetic_service(i: usize) -> ServiceFacts {
    let level = match i % 4 {
        0 | 1 => Level::Full,
        2 => Level::Partial,
        _ => Level::Info,
    };
    let providers = match i % 5 {
        0 => vec![],
        1 => vec!["vnpt-ca".to_string()],
        _ => vec!["vgca".to_string()],
    };
    ServiceFacts {
        agency_id: "bench".into(),
        code: format!("1.{i:06}"),
        name: format!("Thủ tục {i}"),
        url: format!("https://dvc.bench.sandbox.test/tthc?matt={i}"),
        level,
        level_label: if i.is_multiple_of(17) {
            String::new()
        } else {
            "Mức độ 4".into()
        },
        online_submission: level != Level::Info,
        national_portal_link: !i.is_multiple_of(3),
        signature: crate::facts::SignatureFacts {
            supported: !providers.is_empty(),
            providers,
            ..Default::default()
        },
        ..ServiceFacts::default()
    }
}

/// Service `i` as the extractor really leaves it: [`synthetic_service`] plus the evidence of
/// each field read (code, name, level, national link) and of a signing signal, with excerpts
/// and URLs of realistic length. No default rule reads the evidence; it is only attached to
/// findings, so it measures what preparing a service costs beyond the facts rules use.
pub fn synthetic_service_with_evidence(i: usize) -> ServiceFacts {
    let mut s = synthetic_service(i);
    let url = s.url.clone();
    let ev = |kind: &str, field: &str, locator: &str, text: String| Evidence {
        kind: kind.into(),
        field: field.into(),
        locator: locator.into(),
        excerpt: crate::facts::excerpt(&text),
        url: url.clone(),
        provider: String::new(),
        site_wide: false,
    };
    s.evidence = vec![
        ev("label_value", "code", "td.ma-thu-tuc", format!("Mã thủ tục: {}", s.code)),
        ev("label_value", "name", "h1.ten-thu-tuc", s.name.clone()),
        ev(
            "label_value",
            "level",
            "td.muc-do",
            format!("Mức độ dịch vụ công trực tuyến: {} — {}", s.level_label, "nộp hồ sơ, thanh toán lệ phí và nhận kết quả trực tuyến ".repeat(2)),
        ),
        ev(
            "selector",
            "national_portal_link",
            "a[href*='dichvucong.gov.vn']",
            "Cổng Dịch vụ công quốc gia https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html".into(),
        ),
    ];
    for p in s.signature.providers.clone() {
        s.signature.evidence.push(Evidence {
            provider: p,
            ..ev(
                "script_src",
                "signature.supported",
                "script[src*='vgcaplugin']",
                "<script src=\"/Content/plugins/vgcaplugin/vgcaplugin.min.js?v=2024.11.05\"></script> ký số hồ sơ bằng chữ ký số chuyên dùng".into(),
            )
        });
    }
    s
}

#[derive(Debug, Clone, Copy)]
pub struct BenchResult {
    pub services: usize,
    /// Rule evaluations (outcomes) produced.
    pub evaluations: usize,
    pub failures: usize,
    pub elapsed: Duration,
}

impl BenchResult {
    pub fn evaluations_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.evaluations as f64 / secs
        } else {
            0.0
        }
    }
}

/// Evaluate every service-scope rule over `n` generated services (generated one at a time, so
/// memory stays flat), plus the agency rules over the last batch of at most 1,000.
pub fn bench_services(set: &RuleSet, n: usize) -> BenchResult {
    let agency = synthetic_agency();
    let scope = set.agency_scope(&agency);
    let start = Instant::now();
    let mut evaluations = 0usize;
    let mut failures = 0usize;
    let mut batch = Vec::new();
    for i in 0..n {
        let s = synthetic_service(i);
        for o in scope.evaluate_service(&s) {
            evaluations += 1;
            failures += usize::from(o.verdict == Verdict::Fail);
        }
        if batch.len() < 1000 {
            batch.push(s);
        }
    }
    for o in scope.evaluate_agency(&batch, &[]) {
        evaluations += 1;
        failures += usize::from(o.verdict == Verdict::Fail);
    }
    BenchResult {
        services: n,
        evaluations,
        failures,
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_helper_evaluates_every_service_rule() {
        let set = match RuleSet::bundled() {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        };
        let per_service = set
            .rules()
            .iter()
            .filter(|r| r.scope == super::super::model::Scope::Service)
            .count();
        let agency_rules = set
            .rules()
            .iter()
            .filter(|r| r.scope == super::super::model::Scope::Agency)
            .count();
        let r = bench_services(&set, 50);
        assert_eq!(r.evaluations, 50 * per_service + agency_rules);
        assert!(r.failures > 0);
    }
}
