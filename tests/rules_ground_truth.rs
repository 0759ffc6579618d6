//! The default rule pack over the `demo` world's ground truth yields exactly the findings its
//! planted defects imply (issue 6).
//!
//! No network: the facts a perfect scanner would record are built from the ground truth
//! (a service's level, label, signature and national link; a host's certificate defect turned
//! into the `LeafFacts` a real probe sets; a could-not-assess service as `fetch.error` with the
//! truth's reason). The expected outcomes are derived independently, from the defect names and
//! the truth's fields, with the mapping written out below; every difference is printed.

use std::collections::BTreeSet;

use dvc_audit::facts::{
    AgencyFacts, AssessReason, ErrorFact, FetchFacts, HostFacts, HstsFacts, HttpFacts, KeyFacts,
    LeafFacts, Level, ServiceFacts, SignatureFacts, TlsFacts, UnknownFact,
};
use dvc_audit::rules::{RuleSet, Scope, Verdict};
use dvc_audit::sandbox::{
    AgencyTruth, GroundTruth, HostTruth, Overrides, Ports, ServiceTruth, Size, World,
};

const PORTS: Ports = Ports {
    https: 443,
    http: 80,
};

/// `(rule id, subject key, "fail" | "could_not_assess:<reason>")`.
type Finding = (String, String, String);

fn rules() -> RuleSet {
    match RuleSet::bundled() {
        Ok(l) => l.rules,
        Err(e) => panic!("{}", e.0.render(false)),
    }
}

fn reason(expect: &str) -> AssessReason {
    match AssessReason::ALL.into_iter().find(|r| r.as_str() == expect) {
        Some(r) => r,
        None => panic!("ground truth names an unknown reason {expect:?}"),
    }
}

fn agency_facts(a: &AgencyTruth) -> AgencyFacts {
    AgencyFacts {
        id: a.id.clone(),
        name: a.name.clone(),
        name_en: a.name.clone(),
        kind: a.kind,
        portal: a.portal.clone(),
        platform: a.platform.clone(),
        jurisdiction: String::new(),
    }
}

fn service_facts(s: &ServiceTruth) -> ServiceFacts {
    let error = (s.expect != "ok").then(|| ErrorFact {
        kind: reason(&s.expect),
        message: format!("planted: {}", s.expect),
    });
    // A read page whose level label is missing or matches no pattern: its level was not
    // observed (an unknown fact, as the extractor records it); the label was.
    let level_unseen = error.is_none() && s.level == Level::Unknown;
    let unknown = if level_unseen {
        ["level", "online_submission"]
            .into_iter()
            .map(|fact| UnknownFact {
                fact: fact.into(),
                kind: AssessReason::NoData,
                message: format!("level label {:?}: no level observed", s.level_label),
                may_hold: Vec::new(),
            })
            .collect()
    } else {
        Vec::new()
    };
    ServiceFacts {
        agency_id: s.agency_id.clone(),
        code: s.code.clone(),
        name: s.name.clone(),
        url: s.url.clone(),
        level: s.level,
        level_label: s.level_label.clone(),
        level_unrecognised: !s.level_label.is_empty() && s.level == Level::Unknown,
        online_submission: matches!(s.level, Level::Full | Level::Partial),
        signature: SignatureFacts {
            required: s.signature.required,
            supported: s.signature.supported,
            providers: s.signature.providers.clone(),
            site_wide: s.signature.site_wide,
            site_wide_providers: s.signature.site_wide_providers.clone(),
            evidence: Vec::new(),
        },
        national_portal_link: s.national_portal_link,
        fetch: FetchFacts {
            url: s.url.clone(),
            final_url: s.url.clone(),
            status: if error.is_some() { 0 } else { 200 },
            fetched_at: "2026-11-27T05:00:00Z".into(),
            bytes: 10_000,
            sha256: String::new(),
            error,
        },
        evidence: Vec::new(),
        unknown,
    }
}

/// What a real probe records for a host with this truth.
fn host_facts(h: &HostTruth) -> HostFacts {
    let mut cert = LeafFacts {
        subject: format!("CN={}", h.name),
        issuer: "CN=Sandbox Web Intermediate".into(),
        sans: vec![h.name.clone()],
        not_before: "2026-09-28T00:00:00Z".into(),
        not_after: "2027-01-26T00:00:00Z".into(),
        days_left: 60,
        validity_days: 120,
        expired: false,
        not_yet_valid: false,
        hostname_ok: true,
        trusted: true,
        publicly_trusted: true,
        trusted_by: vec!["web".into()],
        issued_by: vec!["web".into()],
        chain_complete: true,
        self_signed: false,
        key: KeyFacts {
            alg: "ec".into(),
            bits: 256,
        },
        sig_alg: "ecdsa-with-SHA256".into(),
        weak_sig_in_chain: false,
        has_san: true,
        verify_errors: Vec::new(),
        weak_key: false,
        expiring_soon: false,
        trust_problem: String::new(),
        missing_issuer_url: String::new(),
    };
    let untrusted = |c: &mut LeafFacts, why: &str| {
        c.trusted = false;
        c.publicly_trusted = false;
        c.trusted_by = Vec::new();
        c.verify_errors = vec![format!("web: {why}")];
    };
    match h.cert.as_str() {
        "good" => {}
        "cert_expired" => {
            cert.expired = true;
            cert.days_left = -10;
            untrusted(&mut cert, "expired");
        }
        "cert_not_yet_valid" => {
            cert.not_yet_valid = true;
            cert.days_left = 200;
            untrusted(&mut cert, "not valid yet");
        }
        "cert_wrong_host" => {
            cert.hostname_ok = false;
            cert.sans = vec!["other.sandbox.test".into()];
        }
        "cert_untrusted_issuer" => {
            cert.issuer = "CN=Unknown Issuer".into();
            cert.issued_by = Vec::new();
            untrusted(&mut cert, "unknown issuer");
        }
        "cert_incomplete_chain" => {
            cert.chain_complete = false;
            cert.issued_by = Vec::new();
            untrusted(&mut cert, "unknown issuer");
        }
        "cert_gov_anchor_only" => {
            cert.publicly_trusted = false;
            cert.trusted_by = vec!["vgca".into()];
            cert.issued_by = vec!["vgca".into()];
            cert.verify_errors = vec!["web: unknown issuer".into()];
        }
        other => panic!("unknown certificate defect {other:?}"),
    }
    HostFacts {
        name: h.name.clone(),
        port: i64::from(PORTS.https),
        reachable: true,
        tls: TlsFacts {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_128_GCM_SHA256".into(),
            versions: vec!["TLSv1.2".into(), "TLSv1.3".into()],
            ..TlsFacts::default()
        },
        cert,
        chain: Vec::new(),
        http: HttpFacts {
            https_redirect: h.https_redirect,
            https_redirect_offsite: false,
            http_reachable: true,
            hsts: HstsFacts {
                present: h.hsts,
                max_age: if h.hsts { 31_536_000 } else { 0 },
                include_subdomains: h.hsts,
                preload: false,
            },
            final_url: h.url.clone(),
        },
        https_refused: false,
        address: String::new(),
        error: None,
        probed_at: "2026-11-27T05:00:00Z".into(),
        unknown: Vec::new(),
    }
}

fn has(list: &[String], x: &str) -> bool {
    list.iter().any(|d| d == x)
}

fn fail(rule: &str, subject: &str) -> Finding {
    (rule.into(), subject.into(), "fail".into())
}

/// The findings the truth implies for one service.
fn expected_service(s: &ServiceTruth, service_rules: &[&str], out: &mut BTreeSet<Finding>) {
    let subject = format!("{}/{}", s.agency_id, s.code);
    if s.expect != "ok" {
        // robots / 5xx / redirect loop / oversized / timeout / SPA: never a failure, every
        // service rule records could_not_assess with the reason.
        for r in service_rules {
            out.insert((
                (*r).into(),
                subject.clone(),
                format!("could_not_assess:{}", s.expect),
            ));
        }
        return;
    }
    let d = &s.defects;
    let sig = &s.signature;
    // A page read without a level (no label, or one no pattern matches): the rules about
    // full-process and partial services could not assess it, never "not applicable".
    if s.level == Level::Unknown {
        for r in ["SIG-001", "SIG-002", "SIG-004", "NPL-001"] {
            out.insert((r.into(), subject.clone(), "could_not_assess:no_data".into()));
        }
    }
    let online = matches!(s.level, Level::Full | Level::Partial);
    let vgca_own = has(&sig.providers, "vgca");
    let vgca_site = has(&sig.site_wide_providers, "vgca");
    // full_without_signature → SIG-001 unless the site-wide plugin covers it (then SIG-004
    // only); a full service signing with public CAs only misses the government signature too.
    if (has(d, "full_without_signature") && !has(d, "site_wide_signature_only"))
        || (s.level == Level::Full && !vgca_own && !vgca_site)
    {
        out.insert(fail("SIG-001", &subject));
    }
    if s.level == Level::Partial && !vgca_own && !vgca_site {
        out.insert(fail("SIG-002", &subject));
    }
    if sig.required && !vgca_own {
        out.insert(fail("SIG-003", &subject));
    }
    // site_wide_signature_only → SIG-004 (it judges online services only); a site-wide
    // plugin beside public-CA-only per-service signing is the same finding.
    if online && ((has(d, "site_wide_signature_only")) || (vgca_site && !vgca_own)) {
        out.insert(fail("SIG-004", &subject));
    }
    if !sig.providers.is_empty() && !vgca_own {
        out.insert(fail("SIG-005", &subject));
    }
    if has(d, "no_level_label") {
        out.insert(fail("LVL-001", &subject));
    }
    if !s.level_label.is_empty() && s.level == Level::Unknown {
        out.insert(fail("LVL-002", &subject));
    }
    if online && !s.national_portal_link {
        out.insert(fail("NPL-001", &subject));
    }
}

fn expected_host(h: &HostTruth, out: &mut BTreeSet<Finding>) {
    let subject = format!("{}:{}", h.name, PORTS.https);
    for (defect, rule) in [
        ("cert_expired", "TLS-005"),
        ("cert_not_yet_valid", "TLS-007"),
        ("cert_wrong_host", "TLS-004"),
        ("cert_untrusted_issuer", "TLS-001"),
        ("cert_incomplete_chain", "TLS-013"),
        ("cert_gov_anchor_only", "TLS-002"),
        ("no_hsts", "HTTP-001"),
        ("no_https_redirect", "HTTP-003"),
    ] {
        if has(&h.defects, defect) {
            out.insert(fail(rule, &subject));
        }
    }
}

fn expected_agency(a: &AgencyTruth, services: &[&ServiceTruth], out: &mut BTreeSet<Finding>) {
    let fetched: Vec<&&ServiceTruth> = services.iter().filter(|s| s.expect == "ok").collect();
    // full_without_signature (or a full service signing with public CAs only) on a fetched
    // page → AGY-001, unless the site-wide plugin covers it.
    let unsigned_full = fetched.iter().any(|s| {
        s.level == Level::Full
            && !has(&s.signature.providers, "vgca")
            && !has(&s.signature.site_wide_providers, "vgca")
    });
    // A read service whose level was not observed: the share of full-process services
    // cannot be computed, unless every level it could have gives the same verdict (a known
    // full-process service without VGCA fails whatever; a known one and every unlabelled one
    // with VGCA passes whatever).
    let vgca = |s: &ServiceTruth| {
        has(&s.signature.providers, "vgca") || has(&s.signature.site_wide_providers, "vgca")
    };
    let unlabelled: Vec<_> = fetched
        .iter()
        .filter(|s| s.level == Level::Unknown)
        .collect();
    let any_full = fetched.iter().any(|s| s.level == Level::Full);
    let settled = unsigned_full || (any_full && unlabelled.iter().all(|s| vgca(s)));
    if unsigned_full {
        out.insert(fail("AGY-001", &a.id));
    } else if !unlabelled.is_empty() && !settled {
        out.insert((
            "AGY-001".into(),
            a.id.clone(),
            "could_not_assess:no_data".into(),
        ));
    }
    // no_level_label → AGY-002 when the published share drops below 0.95.
    if !fetched.is_empty() {
        let labelled = fetched
            .iter()
            .filter(|s| !has(&s.defects, "no_level_label"))
            .count();
        if (labelled as f64) / (fetched.len() as f64) < 0.95 {
            out.insert(fail("AGY-002", &a.id));
        }
    }
}

fn expected(gt: &GroundTruth, set: &RuleSet) -> BTreeSet<Finding> {
    let service_rules: Vec<&str> = set
        .rules()
        .iter()
        .filter(|r| r.scope == Scope::Service)
        .map(|r| r.id.as_str())
        .collect();
    let mut out = BTreeSet::new();
    for s in &gt.services {
        expected_service(s, &service_rules, &mut out);
    }
    for h in &gt.hosts {
        expected_host(h, &mut out);
    }
    for a in &gt.agencies {
        let services: Vec<&ServiceTruth> =
            gt.services.iter().filter(|s| s.agency_id == a.id).collect();
        expected_agency(a, &services, &mut out);
    }
    out
}

fn actual(gt: &GroundTruth, set: &RuleSet) -> BTreeSet<Finding> {
    let mut out = BTreeSet::new();
    for a in &gt.agencies {
        let agency = agency_facts(a);
        let services: Vec<ServiceFacts> = gt
            .services
            .iter()
            .filter(|s| s.agency_id == a.id)
            .map(service_facts)
            .collect();
        let hosts: Vec<HostFacts> = gt
            .hosts
            .iter()
            .filter(|h| h.agency_id == a.id)
            .map(host_facts)
            .collect();
        for o in set.evaluate_all(&agency, &services, &hosts).outcomes {
            let verdict = match &o.verdict {
                Verdict::Fail => "fail".to_string(),
                Verdict::CouldNotAssess { reason, .. } => format!("could_not_assess:{reason}"),
                Verdict::Pass | Verdict::NotApplicable => continue,
            };
            out.insert((o.rule_id.to_string(), o.subject.key(), verdict));
        }
    }
    out
}

#[test]
fn default_pack_over_demo_truth_finds_exactly_the_planted_defects() {
    let set = rules();
    let gt = Overrides::new(World::new(Size::Demo, 1)).ground_truth(PORTS);
    let want = expected(&gt, &set);
    let got = actual(&gt, &set);

    let missing: Vec<&Finding> = want.difference(&got).collect();
    let extra: Vec<&Finding> = got.difference(&want).collect();
    for f in &missing {
        eprintln!("expected but not found: {f:?}");
    }
    for f in &extra {
        eprintln!("found but not expected: {f:?}");
    }
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} expected findings missing, {} unexpected (see above)",
        missing.len(),
        extra.len()
    );

    // The comparison is not vacuous: every mapped defect produced its finding.
    for rule in [
        "SIG-001", "SIG-004", "LVL-001", "AGY-001", "TLS-001", "TLS-002", "TLS-004", "TLS-005",
        "TLS-007", "TLS-013", "HTTP-001", "HTTP-003", "AVL-002",
    ] {
        assert!(
            got.iter().any(|(r, _, _)| r == rule),
            "no outcome of {rule} in the demo world"
        );
    }
    let reasons: BTreeSet<&str> = got
        .iter()
        .filter_map(|(_, _, v)| v.strip_prefix("could_not_assess:"))
        .collect();
    for r in [
        "robots_disallowed",
        "http_status",
        "redirect_loop",
        "too_large",
        "timeout",
        "spa_without_api",
    ] {
        assert!(
            reasons.contains(r),
            "no could_not_assess({r}) in {reasons:?}"
        );
    }
}
