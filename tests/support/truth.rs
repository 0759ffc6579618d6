//! What the ground truth implies for the rules it decides exactly, and the same triples read
//! from stored findings, compared as sets with every difference printed.

use std::collections::{BTreeMap, BTreeSet};

use dvc_audit::facts::Level;
use dvc_audit::sandbox::GroundTruth;
use dvc_audit::store::FindingRecord;

/// Rules whose outcome the ground truth decides exactly, compared as whole sets.
pub const CHECKED: [&str; 12] = [
    "SIG-001", "SIG-004", "AVL-002", "TLS-001", "TLS-002", "TLS-004", "TLS-005", "TLS-007",
    "TLS-013", "HTTP-001", "HTTP-003", "AGY-001",
];

fn has(list: &[String], x: &str) -> bool {
    list.iter().any(|p| p == x)
}

/// Service facts a platform's public contract does not carry (../shared/platforms.md; the
/// sandbox publishes only what the contract carries, docs/sandbox-world.md): no verdict can
/// rest on them, so the rules reading them could not assess (`unobservable`).
pub fn unobservable(platform: &str) -> &'static [&'static str] {
    match platform {
        // The national portal's JSON API: no level, signature or national-link field.
        "dvcqg-api" => &["level", "signature", "national_portal_link"],
        // OpenCPS service infos: `maxLevel` only.
        "opencps" => &["signature", "national_portal_link"],
        _ => &[],
    }
}

/// AGY-001 (every full-process service supports VGCA) gets one verdict whatever level the read
/// services without a level have: a known full-process service lacks VGCA (fail on every
/// completion), or there is one and every unlabelled service supports VGCA (pass on every
/// completion). At most 1024 completions are tried (`rules::eval`).
fn level_settled(read: &[&dvc_audit::sandbox::ServiceTruth]) -> bool {
    let vgca = |s: &dvc_audit::sandbox::ServiceTruth| {
        has(&s.signature.providers, "vgca") || has(&s.signature.site_wide_providers, "vgca")
    };
    let unknown: Vec<_> = read.iter().filter(|s| s.level == Level::Unknown).collect();
    let with = unknown.iter().filter(|s| vgca(s)).count();
    let splits = |k: usize| (k + 1) * (k + 2) / 2;
    if splits(with) * splits(unknown.len() - with) > 1024 {
        return false;
    }
    let full: Vec<_> = read.iter().filter(|s| s.level == Level::Full).collect();
    full.iter().any(|s| !vgca(s)) || (!full.is_empty() && with == unknown.len())
}

/// `(rule, subject, verdict)` the ground truth implies for the [`CHECKED`] rules, where the
/// verdict is `fail` or `cna:<reason>`.
pub fn expected(truth: &GroundTruth) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let mut add = |rule: &str, subject: String, verdict: String| {
        out.insert((rule.to_string(), subject, verdict));
    };
    let unseen = |agency: &str, fact: &str| {
        truth
            .agencies
            .iter()
            .find(|a| a.id == agency)
            .is_some_and(|a| unobservable(&a.platform).contains(&fact))
    };
    for s in &truth.services {
        let subject = format!("{}/{}", s.agency_id, s.code);
        match s.expect.as_str() {
            // A service rule reading a fact the platform does not publish is not judged.
            "ok" if unseen(&s.agency_id, "level") || unseen(&s.agency_id, "signature") => {}
            "ok" => {
                let sig = &s.signature;
                let vgca_here = has(&sig.providers, "vgca");
                let vgca_site = has(&sig.site_wide_providers, "vgca");
                // SIG-001: a full-process service needs VGCA support; a theme-wide plugin
                // counts as weak support, reported by SIG-004 instead (rules/signature.toml).
                if s.level == Level::Full && !vgca_here && !vgca_site {
                    add("SIG-001", subject.clone(), "fail".into());
                }
                if matches!(s.level, Level::Full | Level::Partial) && vgca_site && !vgca_here {
                    add("SIG-004", subject.clone(), "fail".into());
                }
            }
            // The listing cannot be read at all: the agency is not assessable (below).
            "spa_without_api" => {}
            // A link robots.txt disallows is never read: no service finding, but the
            // agency's coverage is incomplete (its aggregate, below).
            "robots_disallowed" => {}
            reason => add("AVL-002", subject, format!("cna:{reason}")),
        }
    }
    for a in &truth.agencies {
        if a.defects.iter().any(|d| d == "spa_without_api") {
            add("AGY-001", a.id.clone(), "cna:spa_without_api".into());
            continue;
        }
        // AGY-001 reads `counts.full` (the level) and, when some read service is full,
        // `counts.full_vgca` (the signature): unknown when the platform does not publish them.
        let read: Vec<_> = truth
            .services
            .iter()
            .filter(|s| s.agency_id == a.id && s.expect == "ok")
            .collect();
        let any_full = read.iter().any(|s| s.level == Level::Full);
        if !read.is_empty() && unseen(&a.id, "level") {
            add("AGY-001", a.id.clone(), "cna:unobservable".into());
        } else if read.iter().any(|s| s.level == Level::Unknown)
            && (unseen(&a.id, "signature") || !level_settled(&read))
        {
            // A read page without a level (no label, or one no pattern matches): the level is
            // not observed there, so `counts.full` (read by `when`) is unknown, never "not
            // full-process", unless every level those services could have gives one verdict.
            add("AGY-001", a.id.clone(), "cna:no_data".into());
        } else if any_full && unseen(&a.id, "signature") {
            add("AGY-001", a.id.clone(), "cna:unobservable".into());
            continue;
        }
        // Some listed service unread: the coverage is incomplete, and an aggregate over part
        // of the portal is no verdict: could not assess, for the most frequent reason.
        let mut unread: BTreeMap<&str, usize> = BTreeMap::new();
        for s in truth.services.iter().filter(|s| s.agency_id == a.id) {
            if s.expect != "ok" && s.expect != "robots_disallowed" {
                *unread.entry(s.expect.as_str()).or_default() += 1;
            }
        }
        // Pages robots.txt forbids are listed services not observed too (after the others).
        let forbidden = truth
            .services
            .iter()
            .any(|s| s.agency_id == a.id && s.expect == "robots_disallowed");
        if let Some((reason, _)) = unread.iter().max_by_key(|(_, n)| **n) {
            add("AGY-001", a.id.clone(), format!("cna:{reason}"));
        } else if forbidden {
            add("AGY-001", a.id.clone(), "cna:robots_disallowed".into());
        }
    }
    for h in &truth.hosts {
        let subject = format!("{}:{}", h.name, truth.https_port);
        let rule = match h.cert.as_str() {
            "cert_expired" => Some("TLS-005"),
            "cert_not_yet_valid" => Some("TLS-007"),
            "cert_wrong_host" => Some("TLS-004"),
            "cert_untrusted_issuer" => Some("TLS-001"),
            "cert_incomplete_chain" => Some("TLS-013"),
            "cert_gov_anchor_only" => Some("TLS-002"),
            _ => None,
        };
        if let Some(rule) = rule {
            add(rule, subject.clone(), "fail".into());
        }
        if !h.hsts {
            add("HTTP-001", subject.clone(), "fail".into());
        }
        if !h.https_redirect {
            add("HTTP-003", subject, "fail".into());
        }
    }
    out
}

/// The same triples from stored findings; a service named by URL (no code could be read) is
/// mapped back to its code through the ground truth.
pub fn actual(
    truth: &GroundTruth,
    findings: &[FindingRecord],
) -> BTreeSet<(String, String, String)> {
    let by_url: BTreeMap<String, String> = truth
        .services
        .iter()
        .map(|s| {
            (
                format!("{}/{}", s.agency_id, s.url),
                format!("{}/{}", s.agency_id, s.code),
            )
        })
        .collect();
    findings
        .iter()
        .filter(|f| CHECKED.contains(&f.rule_id.as_str()))
        // AGY-001 is checked for the unassessable agency only; its verdict on others depends
        // on every service of the agency, which the SIG rules already cover.
        .filter(|f| f.rule_id != "AGY-001" || f.outcome != "fail")
        // A service page that could not be read is not assessed by any service rule; AVL-002
        // carries the reason (and every other rule's reason is checked per subject).
        .filter(|f| f.scope != "service" || f.rule_id == "AVL-002" || f.outcome == "fail")
        .map(|f| {
            let subject = by_url
                .get(&f.subject)
                .cloned()
                .unwrap_or_else(|| f.subject.clone());
            let verdict = match f.outcome.as_str() {
                "fail" => "fail".to_string(),
                _ => format!("cna:{}", f.reason),
            };
            (f.rule_id.clone(), subject, verdict)
        })
        .collect()
}

pub fn assert_same(
    label: &str,
    want: &BTreeSet<(String, String, String)>,
    got: &BTreeSet<(String, String, String)>,
) {
    let missing: Vec<_> = want.difference(got).collect();
    let unexpected: Vec<_> = got.difference(want).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{label}: findings differ from the ground truth\n  missing ({}):\n    {}\n  unexpected ({}):\n    {}",
        missing.len(),
        missing
            .iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join("\n    "),
        unexpected.len(),
        unexpected
            .iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join("\n    "),
    );
}
