//! Settling one agency as soon as its walk ends: store its facts (services, fetch records,
//! page-cache updates), evaluate its rules, apply waivers, and keep only what the run still
//! needs — the failures and could-not-assess outcomes, and a few counters.
//!
//! This is what bounds a national run's memory: the whole country's service facts (190,000 on
//! the benchmark world, each with evidence) never sit in memory at once; at most the walks in
//! flight and the agency being settled do. The facts are in SQLite the moment an agency is
//! settled, so an interrupted run keeps every agency it finished.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::setup::Setup;
use crate::crawl::walk::AgencyCrawl;
use crate::facts::{AgencyFacts, ErrorFact, HostFacts, Severity};
use crate::rules::{Outcome, Scope as RuleScope, Subject, Verdict};
use crate::store::{self, EvidenceRecord, FindingRecord, Store};

/// Findings counted as they are stored.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    /// Failures not covered by a waiver.
    pub findings: usize,
    pub waived: usize,
    pub could_not_assess: usize,
    pub worst: Option<Severity>,
}

impl Tally {
    /// Count one outcome; `false` when it is not a finding (pass, not applicable).
    fn count(&mut self, o: &Outcome) -> bool {
        match &o.verdict {
            Verdict::Fail if o.waiver.is_some() => self.waived += 1,
            Verdict::Fail => {
                self.findings += 1;
                self.worst = self.worst.max(Some(o.severity));
            }
            Verdict::CouldNotAssess { .. } => self.could_not_assess += 1,
            _ => return false,
        }
        true
    }

    pub fn add(&mut self, other: Tally) {
        self.findings += other.findings;
        self.waived += other.waived;
        self.could_not_assess += other.could_not_assess;
        self.worst = self.worst.max(other.worst);
    }
}

/// What the lifecycle needs to know of a "not applicable" outcome, prepared once per run: a
/// rule not applicable to a subject on which another rule fails on the facts its `when` reads
/// is masked by that worse defect (TLS-001, whose `when` wants an unexpired certificate, on an
/// expired one that TLS-005 fails), and one whose definition or parameters changed since an
/// earlier run may be not applicable by the operator's change. Such outcomes of open findings
/// are recorded, so the lifecycle keeps them unverified instead of resolved.
#[derive(Default)]
pub(crate) struct NotApplicableHints {
    /// Per rule id: what its `when` reads, and what its `require` reads (`params` left out:
    /// sharing a threshold is no shared fact).
    reads: HashMap<String, (Reads, Reads)>,
    /// Rules whose judgement key changed against an earlier run ([`Store::changed_rules`]).
    changed: HashSet<String>,
}

type Reads = BTreeMap<String, crate::rules::expr::Projection>;

impl NotApplicableHints {
    pub fn new(rules: &crate::rules::RuleSet, changed: HashSet<String>) -> Self {
        let reads = rules
            .rules()
            .iter()
            .map(|r| {
                let mut when = r.when.as_ref().map(|w| w.uses()).unwrap_or_default();
                let mut require = r.require.uses();
                when.remove("params");
                require.remove("params");
                (r.id.clone(), (when, require))
            })
            .collect();
        NotApplicableHints { reads, changed }
    }

    /// Failing rules among `failing` whose `require` reads what `rule`'s `when` reads.
    fn masking<'a>(&self, rule: &str, failing: &[&'a str]) -> Vec<&'a str> {
        let Some((when, _)) = self.reads.get(rule) else {
            return Vec::new();
        };
        failing
            .iter()
            .copied()
            .filter(|f| *f != rule)
            .filter(|f| {
                self.reads.get(*f).is_some_and(|(_, require)| {
                    when.iter()
                        .any(|(root, p)| require.get(root).is_some_and(|q| p.overlaps(q)))
                })
            })
            .collect()
    }

    /// `(fingerprint, masked_by)` of the not-applicable outcomes worth recording: masked by a
    /// failure on the same subject, or of a changed rule. (Whether the finding is open is
    /// asked of the store afterwards, for these few only.)
    fn candidates(&self, outcomes: &[Outcome]) -> Vec<(String, String)> {
        let mut failing: HashMap<(RuleScope, String), Vec<&str>> = HashMap::new();
        for o in outcomes {
            if o.verdict == Verdict::Fail {
                failing
                    .entry((o.scope, o.subject.key()))
                    .or_default()
                    .push(&o.rule_id);
            }
        }
        let mut out = Vec::new();
        for o in outcomes {
            if o.verdict != Verdict::NotApplicable {
                continue;
            }
            let masked = failing
                .get(&(o.scope, o.subject.key()))
                .map(|f| self.masking(&o.rule_id, f))
                .unwrap_or_default();
            if !masked.is_empty() || self.changed.contains(o.rule_id.as_ref()) {
                let mut masked: Vec<&str> = masked;
                masked.sort_unstable();
                masked.dedup();
                out.push((o.fingerprint(), masked.join(",")));
            }
        }
        out
    }
}

/// Apply waivers to `outcomes`, then store the findings among them (failures, waived or not,
/// and could-not-assess) for `owner`, skipping fingerprints already in `seen`; and the open
/// findings judged not applicable for a reason that is no fix (see [`NotApplicableHints`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    setup: &Setup,
    hints: &NotApplicableHints,
    store: &mut Store,
    run_id: i64,
    today: time::Date,
    owner: &str,
    mut outcomes: Vec<Outcome>,
    seen: &mut HashSet<String>,
) -> Result<Tally, store::StoreError> {
    let candidates = hints.candidates(&outcomes);
    if !candidates.is_empty() {
        let open = store.open_among(candidates.iter().map(|(fp, _)| fp.as_str()))?;
        let rows: Vec<(String, String)> = candidates
            .into_iter()
            .filter(|(fp, _)| open.contains(fp))
            .collect();
        store.record_not_applicable(run_id, &rows)?;
    }
    setup.waivers.apply(&mut outcomes, today);
    let mut tally = Tally::default();
    let mut records = Vec::new();
    for o in &outcomes {
        if matches!(o.verdict, Verdict::Fail | Verdict::CouldNotAssess { .. })
            && seen.insert(o.fingerprint())
            && tally.count(o)
        {
            records.push(finding_record(o, owner));
        }
    }
    store.record_findings(run_id, &records)?;
    Ok(tally)
}

/// Services whose rule outcomes are evaluated and stored together.
const SERVICES_PER_BATCH: usize = 256;

/// What the run keeps of one settled agency.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// Its findings, stored already.
    pub tally: Tally,
    pub services: usize,
    pub pages: usize,
    pub bytes_wire: u64,
    pub notes: Vec<String>,
    /// `agency/service-key` of every service assessed (the recorded scope of a sample); empty
    /// when the run is not a sample (190,000 keys on a national run, kept to its end).
    pub service_keys: Vec<String>,
}

/// What settling needs from the run.
pub(crate) struct Settle<'a> {
    pub setup: &'a Setup,
    pub hints: &'a NotApplicableHints,
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
    let mut crawl = crawl;
    keep_identity(store, &mut crawl)?;
    store.record_services(run_id, &crawl.services)?;
    store.record_fetches(run_id, &crawl.fetches)?;
    store.put_cached_pages(&crawl.cache_entries())?;
    let mut coverage = crawl.coverage.clone();
    if coverage.listing_error.is_none() {
        coverage.listing_error = crawl.could_not_assess.as_ref().map(|e| e.kind);
    }
    store.record_coverage(
        run_id,
        &facts.id,
        &coverage,
        &assessed_subjects(facts, &crawl, &coverage, hosts, ctx.sampled),
    )?;

    // Host rules are judged once the crawl is over, in configuration order (a host shared by
    // several agencies is one finding, owned by the first); here: services and aggregates.
    let scope = setup.rules.agency_scope(facts);
    // Services were listed but not one page could be read: aggregates over nothing are no
    // verdict either way.
    let nothing_read = (!crawl.services.is_empty() && coverage.read == 0).then(|| {
        // The most frequent reason a page was not read.
        let kind = coverage
            .unread
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        ErrorFact {
            kind: crate::facts::AssessReason::parse(&kind)
                .unwrap_or(crate::facts::AssessReason::NoData),
            message: format!("no service page of {} could be read", facts.id),
        }
    });
    // Service rules are evaluated and stored a batch of services at a time: an agency's
    // outcomes (passes included, each with its messages and evidence) never sit in memory
    // all at once beside the walks still running (issue 20).
    // Service and agency fingerprints name their agency: no other agency can repeat them.
    let mut seen = HashSet::new();
    let mut tally = Tally::default();
    let mut store_outcomes = |outcomes: Vec<Outcome>| -> Result<(), store::StoreError> {
        tally.add(record(
            setup, ctx.hints, store, run_id, ctx.today, &facts.id, outcomes, &mut seen,
        )?);
        Ok(())
    };
    match (&crawl.could_not_assess, &nothing_read) {
        (Some(err), _) if crawl.services.is_empty() => {
            store_outcomes(unassessable_agency(setup, facts, err))?;
        }
        (_, nothing_read) => {
            for batch in crawl.services.chunks(SERVICES_PER_BATCH) {
                store_outcomes(
                    batch
                        .iter()
                        .flat_map(|s| scope.evaluate_service(s))
                        .collect(),
                )?;
            }
            if !ctx.sampled {
                store_outcomes(match nothing_read {
                    Some(err) => unassessable_agency(setup, facts, err),
                    // An aggregate over part of the portal is no verdict on the agency,
                    // either way: could not assess, with why the coverage is incomplete.
                    None if !coverage.complete() => partial_agency(
                        facts,
                        &coverage,
                        scope.evaluate_agency(&crawl.services, hosts),
                    ),
                    None => scope.evaluate_agency(&crawl.services, hosts),
                })?;
            }
        }
    }
    Ok(Settled {
        tally,
        services: crawl.services.len(),
        pages: crawl.fetches.len(),
        bytes_wire: crawl.fetches.iter().map(|f| f.bytes_wire).sum(),
        notes: crawl
            .notes
            .iter()
            .map(|n| format!("{}: {n}", crawl.agency_id))
            .collect(),
        service_keys: if ctx.sampled {
            crawl
                .services
                .iter()
                .map(|s| format!("{}/{}", s.agency_id, store::service_key(s)))
                .collect()
        } else {
            Vec::new()
        },
    })
}

/// A page that could not be read shows no code; it keeps the code it showed when last read
/// (said in its evidence), so its earlier findings are recognised as the same service's and
/// are unverified rather than orphaned, and a sample records the same identity.
fn keep_identity(store: &Store, crawl: &mut AgencyCrawl) -> Result<(), store::StoreError> {
    let urls: Vec<&str> = crawl
        .services
        .iter()
        .filter(|s| s.fetch.error.is_some() && s.code.is_empty())
        .map(|s| s.url.as_str())
        .collect();
    if urls.is_empty() {
        return Ok(());
    }
    let known = store.known_codes(&crawl.agency_id, &urls)?;
    for s in &mut crawl.services {
        if s.fetch.error.is_some()
            && s.code.is_empty()
            && let Some(code) = known.get(&s.url)
        {
            s.code = code.clone();
            s.evidence.push(crate::facts::Evidence {
                kind: "code_from_history".into(),
                field: "code".into(),
                excerpt: format!(
                    "mã {code} theo lần đọc trước của trang này / code {code} as last read from this page"
                ),
                url: s.url.clone(),
                ..crate::facts::Evidence::default()
            });
        }
    }
    Ok(())
}

/// The subjects whose facts this walk read, as `(scope, subject key)`: every service whose
/// page was read, every host the probe reached, and the agency itself when its coverage is
/// complete (and not a sample: aggregates over a sample say nothing about the agency). The
/// lifecycle resolves a finding only when its subject is among these.
fn assessed_subjects(
    facts: &AgencyFacts,
    crawl: &AgencyCrawl,
    coverage: &crate::facts::Coverage,
    hosts: &[HostFacts],
    sampled: bool,
) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = crawl
        .services
        .iter()
        .filter(|s| s.fetch.error.is_none())
        .map(|s| {
            (
                "service",
                format!("{}/{}", s.agency_id, store::service_key(s)),
            )
        })
        .collect();
    out.extend(
        hosts
            .iter()
            .filter(|h| h.error.is_none())
            .map(|h| ("host", format!("{}:{}", h.name, h.port))),
    );
    if !sampled && coverage.complete() {
        out.push(("agency", facts.id.clone()));
    }
    out
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
            // Why the listing could not be read (a Crawl-delay past the run's budget, ...).
            evidence: vec![crate::rules::outcome::EvidenceRef {
                kind: "fetch".into(),
                url: facts.portal.clone(),
                at: String::new(),
                status: 0,
                sha256: String::new(),
                locator: "listing".into(),
                excerpt: err
                    .message
                    .chars()
                    .take(crate::facts::EXCERPT_MAX_CHARS)
                    .collect(),
            }],
            waiver: None,
        })
        .collect()
}

/// Agency rules judged on an incomplete coverage (a listing error after its first page, a
/// bound that cut the walk, detail pages left unread, fewer services listed than announced):
/// every verdict but could-not-assess becomes could-not-assess with the reason, the listing
/// error first, else the most frequent reason a page was not read, else `no_data` with the
/// truncation or the shortfall in words. A failure over 5 of 300 services is no violation of
/// the agency, and a pass over them is no compliance.
fn partial_agency(
    facts: &AgencyFacts,
    coverage: &crate::facts::Coverage,
    outcomes: Vec<Outcome>,
) -> Vec<Outcome> {
    use crate::facts::AssessReason;
    let unread = coverage
        .unread
        .iter()
        .filter(|(_, n)| **n > 0)
        .max_by_key(|(_, n)| **n)
        .map(|(k, _)| k.as_str());
    let forbidden = coverage
        .excluded
        .get(crate::facts::ROBOTS_DISALLOWED)
        .copied()
        .unwrap_or(0);
    let reason = coverage
        .listing_error
        .or_else(|| unread.and_then(AssessReason::parse))
        .or((forbidden > 0).then_some(AssessReason::RobotsDisallowed))
        .unwrap_or(AssessReason::NoData);
    let mut why_en = vec![format!(
        "{} of {} listed services read",
        coverage.read, coverage.listed
    )];
    let mut why_vi = vec![format!(
        "đọc được {}/{} dịch vụ trong danh sách",
        coverage.read, coverage.listed
    )];
    if forbidden > 0 {
        why_en.push(format!(
            "{forbidden} more listed services robots.txt forbids reading"
        ));
        why_vi.push(format!(
            "robots.txt không cho đọc {forbidden} dịch vụ khác trong danh sách"
        ));
    }
    if let Some(e) = coverage.listing_error {
        why_en.push(format!("the listing stopped ({e})"));
        why_vi.push(format!("danh sách dừng giữa chừng ({e})"));
    }
    for t in &coverage.truncated {
        why_en.push(format!("cut by {} ({} dropped)", t.bound, t.dropped));
        why_vi.push(format!("bị cắt bởi {} (bỏ {})", t.bound, t.dropped));
    }
    if let Some(a) = coverage
        .announced
        .filter(|a| coverage.listed + coverage.excluded.values().sum::<i64>() < *a)
    {
        why_en.push(format!("the portal announces {a}"));
        why_vi.push(format!("cổng công bố {a}"));
    }
    let (why_en, why_vi) = (why_en.join("; "), why_vi.join("; "));
    outcomes
        .into_iter()
        .map(|mut o| {
            if !matches!(o.verdict, Verdict::CouldNotAssess { .. }) {
                o.verdict = Verdict::CouldNotAssess {
                    reason,
                    detail: format!("coverage incomplete: {why_en}"),
                };
                o.message_vi = format!(
                    "Không đánh giá được {} trên toàn cơ quan: chưa đọc đủ cổng ({why_vi}).",
                    facts.name
                );
                o.message_en = format!(
                    "Could not assess {} as a whole: coverage incomplete ({why_en}).",
                    facts.name_en
                );
                if o.evidence.is_empty() {
                    o.evidence = vec![crate::rules::outcome::EvidenceRef {
                        kind: "portal".into(),
                        url: facts.portal.clone(),
                        locator: "coverage".into(),
                        excerpt: why_en
                            .chars()
                            .take(crate::facts::EXCERPT_MAX_CHARS)
                            .collect(),
                        ..crate::rules::outcome::EvidenceRef::default()
                    }];
                }
            }
            o
        })
        .collect()
}

/// The stored form of an outcome; `owner` is the agency it was evaluated for (the agency of a
/// host finding).
fn finding_record(o: &Outcome, owner: &str) -> FindingRecord {
    let (outcome, reason, detail) = match &o.verdict {
        Verdict::CouldNotAssess { reason, detail } => {
            ("could_not_assess", reason.as_str(), detail.clone())
        }
        _ => ("fail", "", String::new()),
    };
    let agency_id = match &o.subject {
        Subject::Service { agency_id, .. } => agency_id.clone(),
        Subject::Agency { id } => id.clone(),
        Subject::Host { .. } => owner.to_string(),
    };
    let mut message_vi = o.message_vi.clone();
    let mut message_en = o.message_en.clone();
    if message_vi.is_empty() && !detail.is_empty() {
        message_vi = detail.clone();
        message_en = detail;
    }
    FindingRecord {
        fingerprint: o.fingerprint(),
        rule_id: o.rule_id.to_string(),
        severity: o.severity.as_str().to_string(),
        scope: o.scope.as_str().to_string(),
        agency_id,
        subject: o.subject.key(),
        outcome: outcome.to_string(),
        reason: reason.to_string(),
        message_vi,
        message_en,
        waiver: o
            .waiver
            .as_ref()
            .map(|w| format!("{} ({}; hết hạn {})", w.decision, w.reason, w.expires))
            .unwrap_or_default(),
        evidence: o
            .evidence
            .iter()
            .map(|e| EvidenceRecord {
                url: e.url.clone(),
                fetched_at: e.at.clone(),
                status: e.status,
                content_hash: e.sha256.clone(),
                locator: e.locator.clone(),
                excerpt: e.excerpt.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worse_certificate_defect_masks_the_trust_finding() {
        let rules = crate::rules::RuleSet::bundled()
            .expect("bundled rules")
            .rules;
        let hints = NotApplicableHints::new(&rules, HashSet::new());
        // TLS-001's `when` excludes each worse defect; the rule that fails on it masks TLS-001
        // (a weak key too: before, TLS-009 read only `key.alg/bits`, so an open TLS-001 of a
        // certificate reissued with a weak key read as resolved).
        for worse in [
            "TLS-005", "TLS-007", "TLS-004", "TLS-013", "TLS-009", "TLS-010",
        ] {
            assert_eq!(hints.masking("TLS-001", &[worse]), vec![worse], "{worse}");
        }
        // A defect TLS-001's `when` does not exclude masks nothing.
        assert!(hints.masking("TLS-001", &["TLS-008"]).is_empty());
        assert!(hints.masking("TLS-001", &["TLS-001"]).is_empty());
    }
}
