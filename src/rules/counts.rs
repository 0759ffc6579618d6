//! The `counts` variable of agency-scope rules: [`ServiceCounts`] from an agency's services,
//! in one pass.
//!
//! Each count is the Rust form of one CEL filter (the doc of every field in `src/facts.rs`
//! gives it); a unit test evaluates those filters over the same services and compares, so the
//! two cannot drift apart.

use crate::facts::{Level, ServiceCounts, ServiceFacts};

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
    }
    c
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
    }
}
