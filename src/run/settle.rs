//! Settling one agency as soon as its walk ends: store its facts (services, fetch records,
//! page-cache updates), evaluate its rules, apply waivers, and keep only what the run still
//! needs — the failures and could-not-assess outcomes, and a few counters.
//!
//! This is what bounds a national run's memory: the whole country's service facts (190,000 on
//! the benchmark world, each with evidence) never sit in memory at once; at most the walks in
//! flight and the agency being settled do. The facts are in SQLite the moment an agency is
//! settled, so an interrupted run keeps every agency it finished.

use std::sync::Arc;

use super::setup::Setup;
use crate::crawl::walk::AgencyCrawl;
use crate::facts::{AgencyFacts, ErrorFact, HostFacts};
use crate::rules::{Outcome, Scope as RuleScope, Subject, Verdict};
use crate::store::{self, Store};

/// What the run keeps of one settled agency.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// Failures (waived or not) and could-not-assess outcomes, in evaluation order.
    pub outcomes: Vec<Outcome>,
    pub services: usize,
    pub pages: usize,
    pub bytes_wire: u64,
    pub notes: Vec<String>,
    /// `agency/service-key` of every service assessed (the recorded scope of a sample).
    pub service_keys: Vec<String>,
}

/// What settling needs from the run.
pub(crate) struct Settle<'a> {
    pub setup: &'a Setup,
    pub run_id: i64,
    /// A sample of services: the agency-aggregate rules are dropped (a sample says nothing
    /// about the whole agency).
    pub sampled: bool,
    /// The day waivers are judged against.
    pub today: time::Date,
}

impl Settle<'_> {
    /// Store and evaluate one agency's crawl; `hosts` are the agency's probed hosts.
    pub fn agency(
        &self,
        store: &mut Store,
        facts: &AgencyFacts,
        crawl: AgencyCrawl,
        hosts: &[HostFacts],
    ) -> Result<Settled, store::StoreError> {
        settle(self, store, facts, crawl, hosts)
    }
}

fn settle(
    ctx: &Settle<'_>,
    store: &mut Store,
    facts: &AgencyFacts,
    crawl: AgencyCrawl,
    hosts: &[HostFacts],
) -> Result<Settled, store::StoreError> {
    let (setup, run_id) = (ctx.setup, ctx.run_id);
    if let Some(end) = &crawl.listing_end {
        tracing::info!(agency = %crawl.agency_id, "{end}");
    }
    store.record_services(run_id, &crawl.services)?;
    store.record_fetches(run_id, &crawl.fetches)?;
    store.put_cached_pages(&crawl.cache_updates)?;

    let mut outcomes = match &crawl.could_not_assess {
        Some(err) if crawl.services.is_empty() => {
            let scope = setup.rules.agency_scope(facts);
            let mut o: Vec<Outcome> = hosts.iter().flat_map(|h| scope.evaluate_host(h)).collect();
            o.extend(unassessable_agency(setup, facts, err));
            o
        }
        _ => {
            let mut o = setup
                .rules
                .evaluate_all(facts, &crawl.services, hosts)
                .outcomes;
            if ctx.sampled {
                o.retain(|o| o.scope != RuleScope::Agency);
            }
            o
        }
    };
    setup.waivers.apply(&mut outcomes, ctx.today);
    outcomes.retain(|o| matches!(o.verdict, Verdict::Fail | Verdict::CouldNotAssess { .. }));
    Ok(Settled {
        outcomes,
        services: crawl.services.len(),
        pages: crawl.fetches.len(),
        bytes_wire: crawl.fetches.iter().map(|f| f.bytes_wire).sum(),
        notes: crawl
            .notes
            .iter()
            .map(|n| format!("{}: {n}", crawl.agency_id))
            .collect(),
        service_keys: crawl
            .services
            .iter()
            .map(|s| format!("{}/{}", s.agency_id, store::service_key(s)))
            .collect(),
    })
}

/// Run `f` (synchronous storage and rule evaluation) without stalling the other tasks of a
/// multi-thread runtime's worker; directly elsewhere (a current-thread runtime cannot hand its
/// tasks over).
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// An agency whose listing could not be read: its aggregate rules cannot be judged.
fn unassessable_agency(setup: &Setup, facts: &AgencyFacts, err: &ErrorFact) -> Vec<Outcome> {
    setup
        .rules
        .rules()
        .iter()
        .filter(|r| r.scope == RuleScope::Agency)
        .map(|r| Outcome {
            rule_id: Arc::from(r.id.as_str()),
            scope: RuleScope::Agency,
            severity: setup.rules.severity_of(r),
            subject: Subject::Agency {
                id: facts.id.clone(),
            },
            verdict: Verdict::CouldNotAssess {
                reason: err.kind,
                detail: err.message.clone(),
            },
            message_vi: format!(
                "Không đánh giá được {}: không đọc được danh sách dịch vụ ({}).",
                facts.name, err.kind
            ),
            message_en: format!(
                "Could not assess {}: the service listing could not be read ({}).",
                facts.name_en, err.kind
            ),
            evidence: Vec::new(),
            waiver: None,
        })
        .collect()
}
