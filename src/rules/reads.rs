//! What the loaded rules read, found once at load: for each context variable, the
//! [`Projection`] merged over every rule's `when`, `require` and message placeholders.
//!
//! Evaluation converts only that part of the facts (a service's evidence excerpts, read by no
//! default rule, are never converted) and binds `services` / `hosts` only when some rule names
//! them; the agency rules of the default pack read `counts` instead. Rules are compiled once, so
//! this costs nothing per evaluation, and a rule can never read what was left out: a variable or
//! field it names is, by construction, in the projection.

use std::collections::BTreeMap;

use super::expr::{Expr, Projection};
use super::model::Rule;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reads(BTreeMap<String, Projection>);

impl Reads {
    pub fn of(rules: &[Rule]) -> Reads {
        let mut all: BTreeMap<String, Projection> = BTreeMap::new();
        let mut add = |e: &Expr| {
            for (name, p) in e.uses() {
                all.entry(name).or_default().merge(&p);
            }
        };
        for r in rules {
            if let Some(w) = &r.when {
                add(w);
            }
            add(&r.require);
            for t in &r.templates {
                for (e, _) in t.exprs() {
                    add(e);
                }
            }
        }
        Reads(all)
    }

    /// Every per-subject variable, whole: what evaluation converted before projections (the
    /// reference the projected evaluation is tested against).
    pub fn everything() -> Reads {
        Reads(
            ["service", "host", "counts", "services", "hosts"]
                .into_iter()
                .map(|n| (n.to_string(), Projection::whole()))
                .collect(),
        )
    }

    /// The part of context variable `name` some rule reads; `None` when no rule names it.
    pub fn get(&self, name: &str) -> Option<&Projection> {
        self.0.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use crate::rules::bench::{synthetic_agency, synthetic_service_with_evidence};
    use crate::rules::eval::AgencyScope;
    use crate::rules::model::Scope;
    use crate::rules::selftest::run_case;

    fn bundled() -> RuleSet {
        match RuleSet::bundled() {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        }
    }

    /// Both messages of `rule` rendered whatever the verdict (outcomes carry them on failures
    /// only), so every placeholder is compared.
    fn messages(
        scope: &AgencyScope<'_>,
        rule: &Rule,
        case: &crate::rules::model::TestCase,
    ) -> [String; 2] {
        let act = match rule.scope {
            Scope::Service => scope.service_activation(&case.service),
            Scope::Host => scope.host_activation(&case.host),
            Scope::Agency => scope.agency_activation(&case.services, &case.hosts),
        };
        [
            rule.templates[0].render(&act),
            rule.templates[1].render(&act),
        ]
    }

    /// Projected facts must judge and word everything exactly as whole facts: every embedded
    /// case of the pack, and services carrying evidence (which no default rule reads).
    #[test]
    fn projected_facts_evaluate_like_whole_facts() {
        let projected = bundled();
        let mut whole = bundled();
        whole.reads = Reads::everything();
        let mut compared = 0;
        for rule in projected.rules() {
            for case in &rule.tests {
                let a = run_case(&projected, rule, case);
                let b = run_case(&whole, rule, case);
                assert_eq!(a, b, "{} / {}", rule.id, case.name);
                let sa = AgencyScope::with_params(&projected, &case.agency, projected.params());
                let sb = AgencyScope::with_params(&whole, &case.agency, whole.params());
                assert_eq!(
                    messages(&sa, rule, case),
                    messages(&sb, rule, case),
                    "{}",
                    rule.id
                );
                compared += 1;
            }
        }
        assert!(compared > 50);
        let agency = synthetic_agency();
        let services: Vec<_> = (0..120).map(synthetic_service_with_evidence).collect();
        let hosts = vec![crate::rules::vocab::sample_host()];
        let a = projected.evaluate_all(&agency, &services, &hosts).outcomes;
        let b = whole.evaluate_all(&agency, &services, &hosts).outcomes;
        assert_eq!(a, b);
        assert!(
            a.iter()
                .any(|o| !o.evidence.is_empty() && o.evidence.len() > 1)
        );
    }

    #[test]
    fn default_pack_reads_counts_not_services_and_no_evidence() {
        let set = match RuleSet::bundled() {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        };
        let reads = Reads::of(set.rules());
        assert!(reads.get("counts").is_some());
        assert!(reads.get("services").is_none(), "{reads:?}");
        assert!(reads.get("hosts").is_none(), "{reads:?}");
        let service = reads
            .get("service")
            .map(Projection::paths)
            .unwrap_or_default();
        assert!(
            service.contains(&"signature.providers".to_string()),
            "{service:?}"
        );
        assert!(
            service.iter().all(|p| !p.contains("evidence")),
            "{service:?}"
        );
        let host = reads.get("host").map(Projection::paths).unwrap_or_default();
        assert!(host.iter().any(|p| p.starts_with("cert.")), "{host:?}");
    }
}
