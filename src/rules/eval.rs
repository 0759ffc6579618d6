//! Evaluation: facts in, [`Outcome`]s out. Never panics on facts; a runtime expression error is
//! a `could_not_assess` outcome with reason `rule_error`.
//!
//! Order of decisions for one rule and subject:
//! 1. the subject was not seen (service `fetch.error`, host `error`) and the rule does not
//!    declare `assess_unavailable` → `could_not_assess` with the error's kind: what was not
//!    seen is not judged;
//!    A rule that reads an unknown fact (`host.unknown`, `service.unknown`, or for agency rules
//!    a count or list field those make unknown) is likewise `could_not_assess` with the fact's
//!    reason, unless `when` over known facts already makes it not applicable;
//! 2. `when` false → `not_applicable`;
//! 3. `require` true → `pass`; false → `fail` (or `could_not_assess` for `on_fail =
//!    "could_not_assess"` availability rules, so an outage is never a violation).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::counts::{agency_unknowns, count_services};
use super::expr::{Activation, Value};
use super::model::{OnFail, Rule, Scope};
use super::outcome::{EvidenceRef, MAX_EVIDENCE, Outcome, Subject, Verdict};
use super::set::RuleSet;
use crate::facts::{
    AgencyFacts, AssessReason, ErrorFact, Evidence, HostFacts, ServiceFacts, UnknownFact,
};

/// A prepared evaluation for one agency: `params` and `agency` converted once, shared by every
/// service and host of the agency. Cheap to build; `RuleSet` is `Sync`, so one scope per
/// thread evaluates in parallel.
pub struct AgencyScope<'a> {
    set: &'a RuleSet,
    agency: &'a AgencyFacts,
    root: Activation<'static>,
}

fn params_value(params: &BTreeMap<String, toml::Value>) -> Value {
    Value::map(
        params
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_toml(v)))
            .collect(),
    )
}

impl RuleSet {
    /// Prepare evaluation for one agency with the configured parameters.
    pub fn agency_scope<'a>(&'a self, agency: &'a AgencyFacts) -> AgencyScope<'a> {
        AgencyScope::with_params(self, agency, &self.params)
    }

    /// Every service-scope rule on one service.
    pub fn evaluate_service(&self, service: &ServiceFacts, agency: &AgencyFacts) -> Vec<Outcome> {
        self.agency_scope(agency).evaluate_service(service)
    }

    /// Every host-scope rule on one host.
    pub fn evaluate_host(&self, host: &HostFacts, agency: &AgencyFacts) -> Vec<Outcome> {
        self.agency_scope(agency).evaluate_host(host)
    }

    /// Every agency-scope rule on one agency with its services and hosts.
    pub fn evaluate_agency(
        &self,
        agency: &AgencyFacts,
        services: &[ServiceFacts],
        hosts: &[HostFacts],
    ) -> Vec<Outcome> {
        self.agency_scope(agency).evaluate_agency(services, hosts)
    }

    /// Everything about one agency: its services, hosts and the agency itself.
    pub fn evaluate_all(
        &self,
        agency: &AgencyFacts,
        services: &[ServiceFacts],
        hosts: &[HostFacts],
    ) -> Evaluation {
        let scope = self.agency_scope(agency);
        let mut outcomes = Vec::new();
        for s in services {
            outcomes.extend(scope.evaluate_service(s));
        }
        for h in hosts {
            outcomes.extend(scope.evaluate_host(h));
        }
        outcomes.extend(scope.evaluate_agency(services, hosts));
        Evaluation {
            rules_digest: self.digest().to_string(),
            settings_digest: self.settings_digest().to_string(),
            outcomes,
        }
    }
}

/// Outcomes with the digests of the rule set and settings that produced them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evaluation {
    pub rules_digest: String,
    pub settings_digest: String,
    pub outcomes: Vec<Outcome>,
}

impl<'a> AgencyScope<'a> {
    pub(crate) fn with_params(
        set: &'a RuleSet,
        agency: &'a AgencyFacts,
        params: &BTreeMap<String, toml::Value>,
    ) -> Self {
        let mut root = Activation::root();
        root.set("params", params_value(params));
        // A conversion error is not reachable for these plain types; were it to happen, the
        // unset variable makes every rule `could_not_assess(rule_error)`, never a verdict.
        if let Err(e) = root.set_facts("agency", agency) {
            tracing::warn!("agency facts not convertible: {e}");
        }
        AgencyScope { set, agency, root }
    }

    pub fn evaluate_service(&self, service: &ServiceFacts) -> Vec<Outcome> {
        let act = self.service_activation(service);
        self.set
            .rules
            .iter()
            .filter(|r| r.scope == Scope::Service)
            .map(|r| self.service_rule(r, &act, service))
            .collect()
    }

    pub fn evaluate_host(&self, host: &HostFacts) -> Vec<Outcome> {
        let act = self.host_activation(host);
        self.set
            .rules
            .iter()
            .filter(|r| r.scope == Scope::Host)
            .map(|r| self.host_rule(r, &act, host))
            .collect()
    }

    pub fn evaluate_agency(&self, services: &[ServiceFacts], hosts: &[HostFacts]) -> Vec<Outcome> {
        let act = self.agency_activation(services, hosts);
        let unknown = agency_scope_unknowns(services, hosts);
        self.set
            .rules
            .iter()
            .filter(|r| r.scope == Scope::Agency)
            .map(|r| self.agency_rule(r, &act, &unknown, services, hosts))
            .collect()
    }

    pub(crate) fn service_activation(&self, service: &ServiceFacts) -> Activation<'_> {
        let mut act = self.root.child();
        if let Err(e) = self.bind(&mut act, "service", service) {
            tracing::warn!("service facts not convertible: {e}");
        }
        act
    }

    pub(crate) fn host_activation(&self, host: &HostFacts) -> Activation<'_> {
        let mut act = self.root.child();
        if let Err(e) = self.bind(&mut act, "host", host) {
            tracing::warn!("host facts not convertible: {e}");
        }
        act
    }

    pub(crate) fn agency_activation(
        &self,
        services: &[ServiceFacts],
        hosts: &[HostFacts],
    ) -> Activation<'_> {
        let mut act = self.root.child();
        if let Err(e) = act.set_facts("counts", &count_services(services)) {
            tracing::warn!("counts not convertible: {e}");
        }
        // The lists are converted only when a loaded rule names them (see `reads`): the
        // default pack's aggregates read `counts`.
        if let Err(e) = self.bind(&mut act, "services", services) {
            tracing::warn!("services facts not convertible: {e}");
        }
        if let Err(e) = self.bind(&mut act, "hosts", hosts) {
            tracing::warn!("hosts facts not convertible: {e}");
        }
        act
    }

    /// Bind the part of `facts` the loaded rules read (nothing when no rule names `name`).
    fn bind<T: serde::Serialize + ?Sized>(
        &self,
        act: &mut Activation<'_>,
        name: &str,
        facts: &T,
    ) -> Result<(), String> {
        match self.set.reads.get(name) {
            Some(projection) => act.set_facts_projected(name, facts, projection),
            None => Ok(()),
        }
    }

    pub(crate) fn service_rule(
        &self,
        rule: &Rule,
        act: &Activation<'_>,
        service: &ServiceFacts,
    ) -> Outcome {
        let subject = Subject::Service {
            agency_id: service.agency_id.clone(),
            code: service.code.clone(),
            url: service.url.clone(),
        };
        // A rule reading a fact the profile cannot observe is judged like an unread page:
        // could not assess, with the fact's reason.
        let unknown = match &service.fetch.error {
            Some(_) => None,
            None => self.unknown_blocking(rule, act, "service", &service.unknown),
        };
        self.judge(
            rule,
            act,
            service.fetch.error.as_ref().or(unknown.as_ref()),
            subject,
            || service_evidence(rule, service),
        )
    }

    pub(crate) fn host_rule(&self, rule: &Rule, act: &Activation<'_>, host: &HostFacts) -> Outcome {
        let subject = Subject::Host {
            name: host.name.clone(),
            port: host.port,
        };
        // A rule reading a fact the probe could not observe is judged like an unreachable
        // host: could not assess, with the fact's reason.
        let unknown = match &host.error {
            Some(_) => None,
            None => self
                .unknown_blocking(rule, act, "host", &host.unknown)
                .filter(|_| !self.settled_on_completions(rule, host)),
        };
        self.judge(
            rule,
            act,
            host.error.as_ref().or(unknown.as_ref()),
            subject,
            || vec![host_evidence(host)],
        )
    }

    /// Whether `rule` gets one verdict on every completion of the partly observed list facts
    /// it reads ([`UnknownFact::may_hold`]): the observed list plus each subset of the members
    /// the unobserved part could add. Then what was not observed cannot change the verdict (an
    /// accepted 3DES suite fails TLS-017 whatever the unanswered RC4 question would have said).
    /// `false` when the rule reads a fact unknown as a whole, or a completion errs.
    fn settled_on_completions(&self, rule: &Rule, host: &HostFacts) -> bool {
        let reads = |fact: &str| {
            rule.when
                .as_ref()
                .is_some_and(|w| reads_fact(&w.uses(), "host", fact))
                || reads_fact(&rule.require.uses(), "host", fact)
        };
        let read: Vec<&UnknownFact> = host.unknown.iter().filter(|u| reads(&u.fact)).collect();
        if read.is_empty() || read.iter().any(|u| u.may_hold.is_empty()) {
            return false;
        }
        let members: Vec<(String, &str)> = read
            .iter()
            .flat_map(|u| {
                let ptr = format!("/{}", u.fact.replace('.', "/"));
                u.may_hold.iter().map(move |m| (ptr.clone(), m.as_str()))
            })
            .collect();
        if members.len() > MAX_COMPLETION_MEMBERS {
            return false;
        }
        let Ok(observed) = serde_json::to_value(host) else {
            return false;
        };
        let mut verdicts = (0u32..1 << members.len()).map(|mask| {
            let mut v = observed.clone();
            for (i, (ptr, member)) in members.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    let list = v.pointer_mut(ptr).and_then(|x| x.as_array_mut())?;
                    list.push(serde_json::Value::String((*member).to_string()));
                }
            }
            let mut act = self.root.child();
            self.bind(&mut act, "host", &v).ok()?;
            let applicable = match &rule.when {
                None => true,
                Some(w) => w.eval_bool(&act).ok()?,
            };
            Some(match applicable {
                false => None,
                true => Some(rule.require.eval_bool(&act).ok()?),
            })
        });
        let Some(Some(first)) = verdicts.next() else {
            return false;
        };
        verdicts.all(|v| v == Some(first))
    }

    /// Whether agency rule `rule`, blocked by counts that services with an unknown level make
    /// unknown, gets one verdict on every completion of those levels
    /// ([`super::counts::level_completions`]): then the services whose level was not seen
    /// cannot change it (3 of 10 full-process services without VGCA fail AGY-001 whatever the
    /// unlabelled ones are). Returns the activation of the first completion (the observed
    /// counts) to judge and word the message with. `None` when the rule reads the `services`
    /// list, something else it reads is unknown too, there are too many completions, or they
    /// disagree.
    fn settled_on_level_completions(
        &self,
        rule: &Rule,
        services: &[ServiceFacts],
        hosts: &[HostFacts],
    ) -> Option<Activation<'_>> {
        let reads_services = rule
            .when
            .as_ref()
            .is_some_and(|w| w.uses().contains_key("services"))
            || rule.require.uses().contains_key("services");
        if reads_services {
            return None;
        }
        let completions = super::counts::level_completions(services, MAX_LEVEL_COMPLETIONS)?;
        let act_of = |c: &crate::facts::ServiceCounts| {
            let mut act = self.root.child();
            act.set_facts("counts", c).ok()?;
            self.bind(&mut act, "hosts", hosts).ok()?;
            Some(act)
        };
        let first = act_of(completions.first()?)?;
        // What stays unknown once the levels are completed blocks the rule as before.
        let stripped: Vec<ServiceFacts> = services
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.unknown
                    .retain(|u| !super::counts::LEVEL_COMPLETED_FACTS.contains(&u.fact.as_str()));
                s
            })
            .collect();
        let others = agency_scope_unknowns(&stripped, hosts);
        // On every completion: nothing else it reads is unknown (a `when` false on one
        // completion may not read what another does), and the same verdict.
        let verdict = |act: &Activation<'_>| -> Option<Option<bool>> {
            if self.unknown_blocking(rule, act, "", &others).is_some() {
                return None;
            }
            let applicable = match &rule.when {
                None => true,
                Some(w) => w.eval_bool(act).ok()?,
            };
            Some(match applicable {
                false => None,
                true => Some(rule.require.eval_bool(act).ok()?),
            })
        };
        let want = verdict(&first)?;
        for c in completions.iter().skip(1) {
            if verdict(&act_of(c)?)? != want {
                return None;
            }
        }
        Some(first)
    }

    /// `unknown`: what the agency's services and hosts make unknown
    /// ([`agency_scope_unknowns`]), paths rooted at their variable (`counts.full`).
    pub(crate) fn agency_rule(
        &self,
        rule: &Rule,
        act: &Activation<'_>,
        unknown: &[UnknownFact],
        services: &[ServiceFacts],
        hosts: &[HostFacts],
    ) -> Outcome {
        let subject = Subject::Agency {
            id: self.agency.id.clone(),
        };
        let portal = self.agency.portal.clone();
        let mut unknown = self.unknown_blocking(rule, act, "", unknown);
        // Unknown only through services whose level was not seen, and the same verdict
        // whatever their levels: judged (on the observed counts).
        let settled = unknown
            .as_ref()
            .and_then(|_| self.settled_on_level_completions(rule, services, hosts));
        if settled.is_some() {
            unknown = None;
        }
        let act = settled.as_ref().unwrap_or(act);
        self.judge(rule, act, unknown.as_ref(), subject, || {
            vec![EvidenceRef {
                kind: "portal".into(),
                url: portal,
                ..EvidenceRef::default()
            }]
        })
    }

    fn judge(
        &self,
        rule: &Rule,
        act: &Activation<'_>,
        unavailable: Option<&ErrorFact>,
        subject: Subject,
        evidence: impl FnOnce() -> Vec<EvidenceRef>,
    ) -> Outcome {
        let mut out = Outcome {
            rule_id: Arc::clone(&rule.shared_id),
            scope: rule.scope,
            severity: self.set.severity_of(rule),
            subject,
            verdict: Verdict::Pass,
            message_vi: String::new(),
            message_en: String::new(),
            evidence: Vec::new(),
            waiver: None,
        };
        let cna = |reason: AssessReason, detail: String| Verdict::CouldNotAssess { reason, detail };
        out.verdict = match unavailable {
            Some(err) if !rule.assess_unavailable => cna(err.kind, err.message.clone()),
            _ => {
                let applicable = match &rule.when {
                    None => Ok(true),
                    Some(w) => w.eval_bool(act).map_err(|e| format!("when: {e}")),
                };
                match applicable {
                    Err(e) => cna(AssessReason::RuleError, e),
                    Ok(false) => Verdict::NotApplicable,
                    Ok(true) => match rule.require.eval_bool(act) {
                        Err(e) => cna(AssessReason::RuleError, format!("require: {e}")),
                        Ok(true) => Verdict::Pass,
                        Ok(false) => match (rule.on_fail, unavailable) {
                            (OnFail::Fail, _) => Verdict::Fail,
                            (OnFail::CouldNotAssess, Some(err)) => {
                                cna(err.kind, err.message.clone())
                            }
                            (OnFail::CouldNotAssess, None) => cna(
                                AssessReason::Connect,
                                "not reachable, no error recorded".into(),
                            ),
                        },
                    },
                }
            }
        };
        if matches!(out.verdict, Verdict::Fail) {
            out.message_vi = rule.templates[0].render(act);
            out.message_en = rule.templates[1].render(act);
        }
        if matches!(out.verdict, Verdict::Fail | Verdict::CouldNotAssess { .. }) {
            out.evidence = evidence();
            out.evidence.truncate(MAX_EVIDENCE);
        }
        out
    }
}

fn service_evidence(rule: &Rule, s: &ServiceFacts) -> Vec<EvidenceRef> {
    let url = [&s.fetch.final_url, &s.fetch.url, &s.url]
        .into_iter()
        .find(|u| !u.is_empty())
        .cloned()
        .unwrap_or_default();
    let mut out = vec![EvidenceRef {
        kind: "fetch".into(),
        url,
        at: s.fetch.fetched_at.clone(),
        status: s.fetch.status,
        sha256: s.fetch.sha256.clone(),
        // `error`: the excerpt is what the transport said, not page content (reports keep it
        // out of what agencies read; report.json and the history keep it).
        locator: if s.fetch.error.is_some() {
            ERROR_LOCATOR.into()
        } else {
            String::new()
        },
        excerpt: s
            .fetch
            .error
            .as_ref()
            .map(|e| crate::facts::excerpt(&e.message))
            .unwrap_or_default(),
    }];
    // `evidence_fields = ["signature"]` names the field and everything under it
    // (`signature.supported`, `signature.required`: the names the extractor records).
    let wanted = |e: &Evidence| {
        rule.evidence_fields.is_empty()
            || rule.evidence_fields.iter().any(|f| {
                e.field == *f
                    || e.field
                        .strip_prefix(f.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
    };
    for e in s.evidence.iter().chain(&s.signature.evidence) {
        if out.len() >= MAX_EVIDENCE {
            break;
        }
        if wanted(e) {
            out.push(EvidenceRef {
                kind: e.kind.clone(),
                url: e.url.clone(),
                at: s.fetch.fetched_at.clone(),
                status: 0,
                sha256: String::new(),
                // An inspector reading the finding must see that this is the portal's
                // header/footer/theme, not the service's own page content.
                locator: if e.site_wide {
                    format!("{} (site-wide: on every page of the portal)", e.locator)
                } else {
                    e.locator.clone()
                },
                excerpt: crate::facts::excerpt(&e.excerpt),
            });
        }
    }
    out
}

impl AgencyScope<'_> {
    /// The unknown fact that keeps `rule` from a verdict: one its `when` reads, else one its
    /// `require` reads when `when` (over known facts only) holds. A rule that is not
    /// applicable on known facts stays not applicable. `root` is the variable the facts'
    /// paths are under (`host`, `service`), or empty when each path starts with its variable.
    fn unknown_blocking(
        &self,
        rule: &Rule,
        act: &Activation<'_>,
        root: &str,
        unknown: &[UnknownFact],
    ) -> Option<ErrorFact> {
        if unknown.is_empty() {
            return None;
        }
        if let Some(w) = &rule.when
            && let Some(u) = unknown_read(&w.uses(), root, unknown)
        {
            return Some(u);
        }
        let u = unknown_read(&rule.require.uses(), root, unknown)?;
        match rule.when.as_ref().map(|w| w.eval_bool(act)) {
            Some(Ok(false)) => None,
            _ => Some(u),
        }
    }
}

/// Most completions of unknown service levels an agency rule is evaluated on
/// ([`super::counts::level_completions`]); beyond, it could not assess.
const MAX_LEVEL_COMPLETIONS: usize = 1024;

/// Most members a partly observed fact's unobserved part may add for a rule to be judged on
/// every completion (2^8 evaluations at most); beyond, it could not assess.
const MAX_COMPLETION_MEMBERS: usize = 8;

/// What an agency rule cannot know: the counts and list fields its services' unknown facts
/// make unknown (see [`agency_unknowns`]), and its hosts' unknown facts as read through
/// `hosts` (`hosts.http.hsts`). Subjects that were not read at all are left out: aggregates
/// do not count them either way.
pub(crate) fn agency_scope_unknowns(
    services: &[ServiceFacts],
    hosts: &[HostFacts],
) -> Vec<UnknownFact> {
    let mut out = agency_unknowns(services);
    for h in hosts.iter().filter(|h| h.error.is_none()) {
        for u in &h.unknown {
            let fact = format!("hosts.{}", u.fact);
            if !out.iter().any(|k| k.fact == fact) {
                out.push(UnknownFact {
                    fact,
                    kind: u.kind,
                    message: format!("{}: {}", h.name, u.message),
                    may_hold: Vec::new(),
                });
            }
        }
    }
    out
}

/// The expression with these `reads` reads `fact` (under variable `root`, or starting with
/// its variable when `root` is empty): it names the fact, something below it, or a parent of
/// it (reading a parent, or the whole variable, reads it too).
fn reads_fact(reads: &BTreeMap<String, super::expr::Projection>, root: &str, fact: &str) -> bool {
    let mut segs = fact.split('.').filter(|s| !s.is_empty());
    let var = if root.is_empty() {
        segs.next()
    } else {
        Some(root)
    };
    let Some(mut cur) = var.and_then(|v| reads.get(v)) else {
        return false;
    };
    for seg in segs {
        if cur.is_whole() {
            break;
        }
        match cur.field(seg) {
            Some(p) => cur = p,
            None => return false,
        }
    }
    true
}

/// The first of `unknown` read by an expression with these `reads`, as the error that makes a
/// rule could-not-assess.
fn unknown_read(
    reads: &BTreeMap<String, super::expr::Projection>,
    root: &str,
    unknown: &[UnknownFact],
) -> Option<ErrorFact> {
    unknown
        .iter()
        .find(|u| reads_fact(reads, root, &u.fact))
        .map(|u| ErrorFact {
            kind: u.kind,
            message: format!("{}: {}", u.fact, u.message),
        })
}

fn host_evidence(h: &HostFacts) -> EvidenceRef {
    let excerpt = match &h.error {
        Some(e) => e.message.clone(),
        None if !h.cert.verify_errors.is_empty() => format!(
            "subject={}; issuer={}; not_after={}; verifier: {}",
            h.cert.subject,
            h.cert.issuer,
            h.cert.not_after,
            h.cert.verify_errors.join("; ")
        ),
        None => format!(
            "subject={}; issuer={}; not_after={}",
            h.cert.subject, h.cert.issuer, h.cert.not_after
        ),
    };
    EvidenceRef {
        kind: "probe".into(),
        url: format!("https://{}:{}/", h.name, h.port),
        at: h.probed_at.clone(),
        status: 0,
        sha256: h
            .chain
            .first()
            .map(|c| c.sha256.clone())
            .unwrap_or_default(),
        locator: if h.error.is_some() {
            ERROR_LOCATOR.into()
        } else {
            String::new()
        },
        excerpt: crate::facts::excerpt(&excerpt),
    }
}

/// The locator of evidence whose excerpt is an error message (a fetch or probe that failed).
pub const ERROR_LOCATOR: &str = "error";

#[cfg(test)]
mod evidence_tests {
    use super::*;

    #[test]
    fn a_signature_failure_carries_the_signature_evidence() {
        let set = match RuleSet::bundled() {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        };
        // A full-process service whose page offers signing with a provider other than VGCA.
        let mut s = crate::rules::bench::synthetic_service_with_evidence(0);
        s.level = crate::facts::Level::Full;
        s.signature.providers = vec!["viettel-ca".into()];
        s.signature.site_wide_providers.clear();
        s.signature.evidence = vec![Evidence {
            kind: "script_src".into(),
            field: "signature.supported".into(),
            locator: "script[src*='viettel']".into(),
            excerpt: "<script src=\"/plugins/viettel-ca.js\"></script>".into(),
            url: s.url.clone(),
            provider: "viettel-ca".into(),
            site_wide: false,
        }];
        let agency = crate::rules::bench::synthetic_agency();
        let outcomes = set.evaluate_service(&s, &agency);
        let sig = outcomes
            .iter()
            .find(|o| &*o.rule_id == "SIG-001")
            .expect("SIG-001 evaluated");
        assert_eq!(sig.verdict, Verdict::Fail);
        assert!(
            sig.evidence.iter().any(|e| e.kind == "script_src"),
            "signature evidence attached: {:?}",
            sig.evidence
        );
        // Evidence of other fields is not.
        assert!(sig.evidence.iter().all(|e| e.kind != "label_value"));
    }
}

#[cfg(test)]
mod unknown_tests {
    use super::*;
    use crate::facts::{Level, UnknownFact};
    use crate::rules::bench::{synthetic_agency, synthetic_service};

    fn bundled() -> RuleSet {
        match RuleSet::bundled() {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        }
    }

    fn unobservable(paths: &[&str]) -> Vec<UnknownFact> {
        crate::extract::unobservable(paths, "p")
    }

    /// As the national portal's API reads: no level, signature or national link to observe.
    fn without_level(i: usize) -> ServiceFacts {
        let mut s = synthetic_service(i);
        s.level = Level::Unknown;
        s.level_label.clear();
        s.online_submission = false;
        s.signature = Default::default();
        s.national_portal_link = false;
        s.unknown = unobservable(&["level", "level_label", "online_submission", "signature"]);
        s.unknown.extend(unobservable(&["national_portal_link"]));
        s
    }

    fn verdicts(outcomes: &[Outcome]) -> BTreeMap<String, Verdict> {
        outcomes
            .iter()
            .map(|o| (o.rule_id.to_string(), o.verdict.clone()))
            .collect()
    }

    fn is_unobservable(v: Option<&Verdict>) -> bool {
        matches!(
            v,
            Some(Verdict::CouldNotAssess {
                reason: AssessReason::Unobservable,
                ..
            })
        )
    }

    #[test]
    fn a_service_rule_reading_an_unknown_fact_is_could_not_assess() {
        let set = bundled();
        let agency = synthetic_agency();
        let v = verdicts(&set.evaluate_service(&without_level(0), &agency));
        for id in [
            "LVL-001", "LVL-002", "SIG-001", "SIG-002", "SIG-003", "SIG-004", "SIG-005", "NPL-001",
        ] {
            assert!(is_unobservable(v.get(id)), "{id}: {:?}", v.get(id));
        }
        // What it does observe is judged.
        assert_eq!(v.get("AVL-002"), Some(&Verdict::Pass));
        if let Some(Verdict::CouldNotAssess { detail, .. }) = v.get("LVL-001") {
            assert!(detail.starts_with("level_label: "), "{detail}");
        }
    }

    #[test]
    fn an_observed_absence_still_fails() {
        let set = bundled();
        let agency = synthetic_agency();
        let mut s = without_level(0);
        s.unknown.clear();
        let v = verdicts(&set.evaluate_service(&s, &agency));
        assert_eq!(v.get("LVL-001"), Some(&Verdict::Fail));
    }

    /// OpenCPS-like: the level is read, the signature is not observable. `when` over the known
    /// level decides applicability; only an applicable rule is held up by the unknown.
    #[test]
    fn known_facts_still_decide_applicability() {
        let set = bundled();
        let agency = synthetic_agency();
        let mut full = synthetic_service(0);
        full.level_label = "4".into();
        full.signature = Default::default();
        full.unknown = unobservable(&["signature", "national_portal_link"]);
        let mut info = full.clone();
        info.level = Level::Info;
        info.online_submission = false;
        let vf = verdicts(&set.evaluate_service(&full, &agency));
        let vi = verdicts(&set.evaluate_service(&info, &agency));
        assert!(
            is_unobservable(vf.get("SIG-001")),
            "{:?}",
            vf.get("SIG-001")
        );
        assert!(is_unobservable(vf.get("NPL-001")));
        assert_eq!(vf.get("LVL-001"), Some(&Verdict::Pass));
        assert_eq!(vi.get("SIG-001"), Some(&Verdict::NotApplicable));
        assert_eq!(vi.get("NPL-001"), Some(&Verdict::NotApplicable));
        // SIG-003's `when` reads the signature: unknown whatever the level.
        assert!(is_unobservable(vi.get("SIG-003")));
    }

    #[test]
    fn an_unread_service_keeps_its_fetch_reason() {
        let set = bundled();
        let agency = synthetic_agency();
        let mut s = without_level(0);
        s.fetch.error = Some(ErrorFact {
            kind: AssessReason::Timeout,
            message: "30 s".into(),
        });
        let v = verdicts(&set.evaluate_service(&s, &agency));
        assert!(matches!(
            v.get("LVL-001"),
            Some(Verdict::CouldNotAssess {
                reason: AssessReason::Timeout,
                ..
            })
        ));
    }

    #[test]
    fn agency_aggregates_over_unobservable_levels_are_could_not_assess() {
        let set = bundled();
        let agency = synthetic_agency();
        let services: Vec<ServiceFacts> = (0..8).map(without_level).collect();
        let outcomes = set.evaluate_agency(&agency, &services, &[]);
        let v = verdicts(&outcomes);
        for id in ["AGY-001", "AGY-002"] {
            assert!(is_unobservable(v.get(id)), "{id}: {:?}", v.get(id));
        }
        if let Some(Verdict::CouldNotAssess { detail, .. }) = v.get("AGY-001") {
            assert!(detail.contains("on 8 of 8 read services"), "{detail}");
            assert!(detail.starts_with("counts.full: "), "{detail}");
        }
        // The same services with the level observed as absent: judged.
        let seen: Vec<ServiceFacts> = services
            .iter()
            .cloned()
            .map(|mut s| {
                s.unknown.clear();
                s
            })
            .collect();
        let v = verdicts(&set.evaluate_agency(&agency, &seen, &[]));
        assert_eq!(v.get("AGY-001"), Some(&Verdict::NotApplicable));
        assert_eq!(v.get("AGY-002"), Some(&Verdict::Fail));
    }

    /// Only the counts that read an unknown fact are unknown: a signature that cannot be
    /// observed leaves the level share (AGY-002) judged.
    #[test]
    fn counts_that_read_no_unknown_fact_stay_known() {
        let set = bundled();
        let agency = synthetic_agency();
        let services: Vec<ServiceFacts> = (0..8)
            .map(|i| {
                let mut s = synthetic_service(i);
                s.level_label = "Mức độ 4".into();
                s.signature = Default::default();
                s.unknown = unobservable(&["signature"]);
                s
            })
            .collect();
        let v = verdicts(&set.evaluate_agency(&agency, &services, &[]));
        assert!(is_unobservable(v.get("AGY-001")), "{:?}", v.get("AGY-001"));
        assert_eq!(v.get("AGY-002"), Some(&Verdict::Pass));
    }

    /// By fact path, not rule id: a rule reading the list of services is held up by the same
    /// unknown, one reading other fields is not.
    #[test]
    fn a_custom_rule_reading_the_services_list_is_could_not_assess() {
        let text = r#"
[[rule]]
id = "CUS-001"
title.vi = "t"
title.en = "t"
message.vi = "m"
message.en = "m"
remediation.vi = "r"
remediation.en = "r"
severity = "low"
scope = "agency"
require = "services.exists(s, s.level == 'full')"
legal_basis = []
references = []
status = "preview"
since = "0.1.0"
doc = "d"
[[rule.test]]
name = "a full service"
services = [{ level = "full" }]
expect = "pass"
[[rule.test]]
name = "none"
services = [{ level = "info" }]
expect = "fail"
[[rule.test]]
name = "level not observable"
services = [{ level = "unknown", unknown = [{ fact = "level", kind = "unobservable" }] }]
expect = "could_not_assess"

[[rule]]
id = "CUS-002"
title.vi = "t"
title.en = "t"
message.vi = "m"
message.en = "m"
remediation.vi = "r"
remediation.en = "r"
severity = "low"
scope = "agency"
require = "services.all(s, s.code != '')"
legal_basis = []
references = []
status = "preview"
since = "0.1.0"
doc = "d"
[[rule.test]]
name = "codes known, level not observable"
services = [{ code = "1", unknown = [{ fact = "level", kind = "unobservable" }] }]
expect = "pass"
[[rule.test]]
name = "no code"
services = [{ code = "" }]
expect = "fail"

[[rule]]
id = "CUS-003"
title.vi = "t"
title.en = "t"
message.vi = "m"
message.en = "m"
remediation.vi = "r"
remediation.en = "r"
severity = "info"
scope = "service"
require = "!service.unknown.exists(u, u.fact == 'level')"
legal_basis = []
references = []
status = "preview"
since = "0.1.0"
doc = "The list of unknown facts is itself known: a rule may read it."
[[rule.test]]
name = "nothing unknown (the empty list is not serialised, still read as [])"
service = { level = "full" }
expect = "pass"
[[rule.test]]
name = "level unknown"
service = { unknown = [{ fact = "level", kind = "unobservable" }] }
expect = "fail"
"#;
        let set = match RuleSet::from_sources(&[crate::diag::SourceFile::new("c.toml", text)]) {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        };
        let report = set.self_test();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!(report.passed, 7);
    }
}

#[cfg(test)]
mod completion_tests {
    use super::*;
    use crate::facts::{AssessReason, UnknownFact};

    fn weak_verdicts(classes: &[&str], may_hold: &[&str]) -> BTreeMap<String, &'static str> {
        let set = match RuleSet::bundled() {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        };
        let mut h = HostFacts {
            name: "h.sandbox.test".into(),
            port: 443,
            reachable: true,
            ..HostFacts::default()
        };
        h.tls.weak_classes = classes.iter().map(|c| c.to_string()).collect();
        h.unknown.push(UnknownFact {
            fact: "tls.weak_classes".into(),
            kind: AssessReason::Timeout,
            message: "a weak-suite question got no answer".into(),
            may_hold: may_hold.iter().map(|c| c.to_string()).collect(),
        });
        let agency = crate::rules::bench::synthetic_agency();
        set.evaluate_host(&h, &agency)
            .into_iter()
            .filter(|o| ["TLS-015", "TLS-016", "TLS-017"].contains(&&*o.rule_id))
            .map(|o| (o.rule_id.to_string(), o.verdict.as_str()))
            .collect()
    }

    fn expect(pairs: &[(&str, &'static str)]) -> BTreeMap<String, &'static str> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn what_the_unanswered_questions_cannot_change_is_judged() {
        // 3DES accepted, the RC4 question unanswered: TLS-017 fails whatever RC4 would have
        // said, TLS-015 (NULL/anon/export, answered) passes, only TLS-016 is unknown.
        assert_eq!(
            weak_verdicts(&["3des"], &["rc4"]),
            expect(&[
                ("TLS-015", "pass"),
                ("TLS-016", "could_not_assess"),
                ("TLS-017", "fail"),
            ])
        );
        // Two questions unanswered: each rule they could change stays unknown.
        assert_eq!(
            weak_verdicts(&[], &["rc4", "null"]),
            expect(&[
                ("TLS-015", "could_not_assess"),
                ("TLS-016", "could_not_assess"),
                ("TLS-017", "pass"),
            ])
        );
    }

    #[test]
    fn a_fact_unknown_as_a_whole_is_never_completed() {
        assert_eq!(
            weak_verdicts(&["3des"], &[]),
            expect(&[
                ("TLS-015", "could_not_assess"),
                ("TLS-016", "could_not_assess"),
                ("TLS-017", "could_not_assess"),
            ])
        );
    }
}
