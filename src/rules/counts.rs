//! The `counts` variable of agency-scope rules: [`ServiceCounts`] from an agency's services,
//! in one pass.
//!
//! Each count is the Rust form of one CEL filter (the doc of every field in `src/facts.rs`
//! gives it); a unit test evaluates those filters over the same services and compares, so the
//! two cannot drift apart.

use crate::facts::{AssessReason, Level, ServiceCounts, ServiceFacts, UnknownFact, fact_covers};

/// The government signature's provider id.
const GOVERNMENT_PROVIDER: &str = "vgca";

fn has_vgca(s: &ServiceFacts) -> bool {
    let sig = &s.signature;
    sig.providers.iter().any(|p| p == GOVERNMENT_PROVIDER)
        || sig
            .site_wide_providers
            .iter()
            .any(|p| p == GOVERNMENT_PROVIDER)
}

/// Count an agency's services (see [`ServiceCounts`]).
pub fn count_services(services: &[ServiceFacts]) -> ServiceCounts {
    let mut c = ServiceCounts::default();
    let one = |b: bool| i64::from(b);
    for s in services {
        c.services += 1;
        if s.fetch.error.is_some() {
            c.unread += 1;
            continue;
        }
        c.read += 1;
        let vgca = has_vgca(s);
        match s.level {
            Level::Full => {
                c.full += 1;
                c.full_vgca += one(vgca);
            }
            Level::Partial => {
                c.partial += 1;
                c.partial_vgca += one(vgca);
            }
            Level::Info => c.info += 1,
            Level::Unknown => c.unknown_level += 1,
        }
        c.vgca += one(vgca);
        c.level_published += one(!s.level_label.trim().is_empty());
        c.signing += one(s.signature.supported);
        c.signature_required += one(s.signature.required);
        c.national_portal_link += one(s.national_portal_link);
        c.level_unobserved += one(s.unknown_fact("level").is_some());
        c.signature_unobserved += one(s.unknown_fact("signature").is_some());
        c.national_portal_link_unobserved += one(s.unknown_fact("national_portal_link").is_some());
    }
    c
}

/// The service fields each count reads (its CEL filter, less `fetch.error`): a count is unknown
/// when a read service has an unknown fact covering one of them. Counts absent here read no
/// field that can be unknown. A unit test compares this with the filters' own reads.
pub const COUNT_READS: &[(&str, &[&str])] = &[
    ("full", &["level"]),
    ("partial", &["level"]),
    ("info", &["level"]),
    ("unknown_level", &["level"]),
    ("level_published", &["level_label"]),
    ("signing", &["signature.supported"]),
    ("signature_required", &["signature.required"]),
    (
        "vgca",
        &["signature.providers", "signature.site_wide_providers"],
    ),
    (
        "full_vgca",
        &[
            "level",
            "signature.providers",
            "signature.site_wide_providers",
        ],
    ),
    (
        "partial_vgca",
        &[
            "level",
            "signature.providers",
            "signature.site_wide_providers",
        ],
    ),
    ("national_portal_link", &["national_portal_link"]),
];

/// What an agency rule cannot know because some of the agency's read services have unknown
/// facts: every count that reads one (`counts.full`, ...) and every such fact as read through
/// the list (`services.level`), each saying on how many of the read services it is unknown.
/// Unread services are left out: they are counted in neither way already.
pub fn agency_unknowns(services: &[ServiceFacts]) -> Vec<UnknownFact> {
    // Unknown service fact path → (reason, first message, services it is unknown on).
    let mut facts: Vec<(String, AssessReason, String, i64)> = Vec::new();
    let mut read = 0i64;
    for s in services.iter().filter(|s| s.fetch.error.is_none()) {
        read += 1;
        for u in &s.unknown {
            match facts.iter_mut().find(|f| f.0 == u.fact) {
                Some(f) => f.3 += 1,
                None => facts.push((u.fact.clone(), u.kind, u.message.clone(), 1)),
            }
        }
    }
    let said = |fact: &str, kind: AssessReason, message: &str, n: i64| UnknownFact {
        fact: String::new(),
        kind,
        message: format!("`{fact}` is unknown on {n} of {read} read services: {message}"),
        may_hold: Vec::new(),
    };
    let mut out = Vec::new();
    for (count, reads) in COUNT_READS {
        let hit = facts.iter().find(|f| {
            reads
                .iter()
                .any(|r| fact_covers(&f.0, r) || fact_covers(r, &f.0))
        });
        if let Some((fact, kind, message, n)) = hit {
            out.push(UnknownFact {
                fact: format!("counts.{count}"),
                ..said(fact, *kind, message, *n)
            });
        }
    }
    for (fact, kind, message, n) in &facts {
        out.push(UnknownFact {
            fact: format!("services.{fact}"),
            ..said(fact, *kind, message, *n)
        });
    }
    out
}

/// The service facts a read service's unknown level leaves unknown, which the level counts
/// complete ([`level_completions`]).
pub(crate) const LEVEL_COMPLETED_FACTS: [&str; 2] = ["level", "online_submission"];

/// Every way the agency's counts could be had the read services whose level is an unknown fact
/// (a missing or unrecognised label, a label saying two levels, pages that disagree) been seen:
/// each such service full, partial or info, its VGCA support as observed. Only the level counts
/// (`full`, `partial`, `info`, `unknown_level`, `full_vgca`, `partial_vgca`) differ between
/// completions; the first one has every such service `info` (the observed counts of the known
/// levels). `None` when no read service's level is unknown, or when there would be more than
/// `max` completions.
pub(crate) fn level_completions(
    services: &[ServiceFacts],
    max: usize,
) -> Option<Vec<ServiceCounts>> {
    let mut base = count_services(services);
    let (mut with, mut without) = (0i64, 0i64);
    for s in services
        .iter()
        .filter(|s| s.fetch.error.is_none() && s.unknown_fact("level").is_some())
    {
        let vgca = has_vgca(s);
        // Take the service out of the level it was counted under.
        match s.level {
            Level::Full => {
                base.full -= 1;
                base.full_vgca -= i64::from(vgca);
            }
            Level::Partial => {
                base.partial -= 1;
                base.partial_vgca -= i64::from(vgca);
            }
            Level::Info => base.info -= 1,
            Level::Unknown => base.unknown_level -= 1,
        }
        if vgca {
            with += 1;
        } else {
            without += 1;
        }
    }
    if with + without == 0 {
        return None;
    }
    // Ways to split k services into full / partial / rest.
    let splits = |k: i64| usize::try_from((k + 1) * (k + 2) / 2).unwrap_or(usize::MAX);
    if splits(with).saturating_mul(splits(without)) > max {
        return None;
    }
    let mut out = Vec::new();
    for fa in 0..=with {
        for pa in 0..=with - fa {
            for fb in 0..=without {
                for pb in 0..=without - fb {
                    let mut c = base;
                    c.full += fa + fb;
                    c.full_vgca += fa;
                    c.partial += pa + pb;
                    c.partial_vgca += pa;
                    c.info += (with - fa - pa) + (without - fb - pb);
                    out.push(c);
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{AssessReason, ErrorFact};
    use crate::rules::expr::{Activation, Expr};

    /// Each count and the CEL filter it stands for.
    const FILTERS: &[(&str, &str)] = &[
        ("services", "true"),
        ("read", "s.fetch.error == null"),
        ("unread", "s.fetch.error != null"),
        ("full", "s.fetch.error == null && s.level == 'full'"),
        ("partial", "s.fetch.error == null && s.level == 'partial'"),
        ("info", "s.fetch.error == null && s.level == 'info'"),
        (
            "unknown_level",
            "s.fetch.error == null && s.level == 'unknown'",
        ),
        (
            "level_published",
            "s.fetch.error == null && s.level_label.trim() != ''",
        ),
        ("signing", "s.fetch.error == null && s.signature.supported"),
        (
            "signature_required",
            "s.fetch.error == null && s.signature.required",
        ),
        (
            "vgca",
            "s.fetch.error == null && ('vgca' in s.signature.providers || 'vgca' in s.signature.site_wide_providers)",
        ),
        (
            "full_vgca",
            "s.fetch.error == null && s.level == 'full' && ('vgca' in s.signature.providers || 'vgca' in s.signature.site_wide_providers)",
        ),
        (
            "partial_vgca",
            "s.fetch.error == null && s.level == 'partial' && ('vgca' in s.signature.providers || 'vgca' in s.signature.site_wide_providers)",
        ),
        (
            "national_portal_link",
            "s.fetch.error == null && s.national_portal_link",
        ),
        (
            "level_unobserved",
            "s.fetch.error == null && s.unknown.exists(u, u.fact == 'level')",
        ),
        (
            "signature_unobserved",
            "s.fetch.error == null && s.unknown.exists(u, u.fact == 'signature')",
        ),
        (
            "national_portal_link_unobserved",
            "s.fetch.error == null && s.unknown.exists(u, u.fact == 'national_portal_link')",
        ),
    ];

    fn services() -> Vec<ServiceFacts> {
        let mut all: Vec<ServiceFacts> = (0..60)
            .map(crate::rules::bench::synthetic_service)
            .collect();
        for (i, s) in all.iter_mut().enumerate() {
            s.signature.required = i % 7 == 0;
            if i % 6 == 0 {
                s.signature.site_wide_providers = vec!["vgca".into()];
            }
            if i % 9 == 0 {
                s.level_label = " \t".into();
            }
            if i % 11 == 0 {
                s.fetch.error = Some(ErrorFact {
                    kind: AssessReason::Timeout,
                    message: String::new(),
                });
            }
            if i % 13 == 0 {
                s.level = Level::Unknown;
            }
            if i % 5 == 0 {
                s.unknown = crate::extract::unobservable(&["level", "signature"], "p");
            }
            if i % 8 == 0 {
                s.unknown
                    .extend(crate::extract::unobservable(&["national_portal_link"], "p"));
            }
        }
        all
    }

    #[test]
    fn counts_equal_their_cel_filters() {
        let services = services();
        let counts = count_services(&services);
        let json = serde_json::to_value(counts).unwrap_or_default();
        let fields = json.as_object().map(|m| m.len()).unwrap_or(0);
        assert_eq!(fields, FILTERS.len(), "every count has its filter here");
        let root = Activation::root();
        let mut act = root.child();
        assert_eq!(act.set_facts("services", &services), Ok(()));
        for (name, filter) in FILTERS {
            let src = format!("services.filter(s, {filter}).size()");
            let e = Expr::compile(&src).unwrap_or_else(|p| panic!("{p:?}"));
            let want = e.eval(&act).map(|v| v.display());
            let got = json.get(*name).map(|v| v.to_string());
            assert_eq!(want.ok(), got, "{name}");
        }
        assert!(counts.unread > 0 && counts.full_vgca > 0 && counts.unknown_level > 0);
        assert!(counts.level_published < counts.read);
        assert!(counts.level_unobserved > 0 && counts.national_portal_link_unobserved > 0);
    }

    /// `COUNT_READS` names exactly the fields each count's filter reads (besides `fetch`,
    /// which is never unknown on a read service, and `unknown` itself).
    #[test]
    fn count_reads_are_the_filters_reads() {
        for (name, filter) in FILTERS {
            // `exists` keeps, in each element, only what the filter reads (`filter` returns
            // its elements, so it keeps them whole).
            let src = format!("services.exists(s, {filter})");
            let e = Expr::compile(&src).unwrap_or_else(|p| panic!("{p:?}"));
            let mut got: Vec<String> = e
                .uses()
                .get("services")
                .map(|p| p.paths())
                .unwrap_or_default()
                .into_iter()
                .filter(|p| !p.is_empty() && !p.starts_with("fetch") && !p.starts_with("unknown"))
                .collect();
            got.sort();
            let mut want: Vec<String> = COUNT_READS
                .iter()
                .find(|(c, _)| c == name)
                .map(|(_, r)| r.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            want.sort();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn unknown_service_facts_make_the_counts_reading_them_unknown() {
        let mut all: Vec<ServiceFacts> =
            (0..4).map(crate::rules::bench::synthetic_service).collect();
        for s in all.iter_mut().take(3) {
            s.unknown = crate::extract::unobservable(&["level"], "p");
        }
        // An unread service's unknowns are not counted (it is not read either way).
        all[0].fetch.error = Some(ErrorFact {
            kind: AssessReason::Timeout,
            message: String::new(),
        });
        let u = agency_unknowns(&all);
        let facts: Vec<&str> = u.iter().map(|u| u.fact.as_str()).collect();
        assert_eq!(
            facts,
            [
                "counts.full",
                "counts.partial",
                "counts.info",
                "counts.unknown_level",
                "counts.full_vgca",
                "counts.partial_vgca",
                "services.level",
            ]
        );
        assert!(u.iter().all(|u| u.kind == AssessReason::Unobservable));
        assert!(
            u[0].message.contains("on 2 of 3 read services"),
            "{}",
            u[0].message
        );
        assert!(agency_unknowns(&all[3..]).is_empty());
    }

    #[test]
    fn level_completions_give_every_level_to_the_services_whose_level_is_unknown() {
        let level_unknown = |level: Level, vgca: bool| {
            let mut s = ServiceFacts {
                level,
                ..ServiceFacts::default()
            };
            if vgca {
                s.signature.providers = vec!["vgca".into()];
            }
            s.unknown = vec![UnknownFact {
                fact: "level".into(),
                kind: AssessReason::NoData,
                message: "no level label".into(),
                may_hold: Vec::new(),
            }];
            s
        };
        let known = ServiceFacts {
            level: Level::Full,
            ..ServiceFacts::default()
        };
        // Nothing unknown: nothing to complete.
        assert!(level_completions(std::slice::from_ref(&known), 100).is_none());
        // One known full service, one unlabelled with VGCA, one kept at "full" by pages that
        // disagree (without VGCA): 3 x 3 completions.
        let all = vec![
            known,
            level_unknown(Level::Unknown, true),
            level_unknown(Level::Full, false),
        ];
        let c = level_completions(&all, 100).expect("completions");
        assert_eq!(c.len(), 9);
        let first = c[0];
        assert_eq!(
            (first.full, first.full_vgca, first.info, first.unknown_level),
            (1, 0, 2, 0),
            "every unknown one info, the known full one kept"
        );
        assert!(
            c.iter()
                .all(|k| k.read == 3 && k.full + k.partial + k.info == 3)
        );
        assert!(c.iter().any(|k| (k.full, k.full_vgca) == (3, 1)));
        assert!(c.iter().any(|k| (k.partial, k.partial_vgca) == (2, 1)));
        // Too many: none.
        assert!(level_completions(&all, 8).is_none());
    }
}
