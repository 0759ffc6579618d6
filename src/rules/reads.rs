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

    /// The part of context variable `name` some rule reads; `None` when no rule names it.
    pub fn get(&self, name: &str) -> Option<&Projection> {
        self.0.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

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
