//! From what a run produced (store rows, facts, rule titles) to [`ReportData`].
//!
//! [`build`] is pure (tests give it literal values); [`gather`] reads the store for the run stage
//! and calls it. Renderers never see where the data came from.

use std::collections::BTreeMap;

use super::i18n::{Lang, reason_text};
use super::model::*;
use crate::facts::{AgencyFacts, AssessReason, Level, ServiceFacts};
use crate::store::{FindingRecord, RunDiff, RunRow, Store, StoreError, TrendPoint};

/// At most this many trend points per agency are kept (the sparkline's width).
pub const TREND_MAX: usize = 30;

/// Agency facts plus what the configuration says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencyMeta {
    pub facts: AgencyFacts,
    pub successor: String,
    pub former_names: Vec<String>,
    pub verified: bool,
}

impl AgencyMeta {
    /// From a configured agency (the facts a run records are built the same way).
    pub fn from_config(a: &crate::config::AgencyConfig) -> AgencyMeta {
        AgencyMeta {
            facts: AgencyFacts {
                id: a.id.clone(),
                name: a.name.clone(),
                name_en: a.name_en.clone(),
                kind: a.kind,
                portal: a.portal.clone(),
                platform: a.platform.clone(),
                jurisdiction: a.jurisdiction.clone(),
            },
            successor: a.successor.clone(),
            former_names: a.former_names.clone(),
            verified: a.verified,
        }
    }
}

/// Everything [`build`] needs, as plain values.
#[derive(Debug, Clone, Default)]
pub struct BuildInput {
    pub run: Option<RunRow>,
    pub deployment: String,
    pub lang: Lang,
    pub agencies: Vec<AgencyMeta>,
    /// This run's findings (fail and could-not-assess).
    pub findings: Vec<FindingRecord>,
    pub diff: RunDiff,
    /// Last seen records of the findings in `diff.resolved`.
    pub resolved: Vec<FindingRecord>,
    /// This run's service facts (for counts and shares).
    pub services: Vec<ServiceFacts>,
    /// Trend per agency id, oldest first.
    pub trends: BTreeMap<String, Vec<TrendPoint>>,
    pub rules: BTreeMap<String, RuleInfo>,
    pub waiver_notes: Vec<WaiverNote>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no run given to the report")]
    NoRun,
    #[error("run {id} has an unknown mode {mode:?}")]
    UnknownMode { id: i64, mode: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Assemble the report. Deterministic: every list is sorted.
pub fn build(input: BuildInput) -> Result<ReportData, BuildError> {
    let run = input.run.as_ref().ok_or(BuildError::NoRun)?;
    let mode = Mode::parse(&run.mode).ok_or_else(|| BuildError::UnknownMode {
        id: run.id,
        mode: run.mode.clone(),
    })?;
    let lang = input.lang;
    let view = |r: &FindingRecord, state: FindingState| -> FindingView {
        let info = input.rules.get(&r.rule_id);
        FindingView {
            record: r.clone(),
            severity: Severity::parse(&r.severity),
            state,
            rule_title: info
                .map(|i| lang.pick(&i.title_vi, &i.title_en).to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| r.rule_id.clone()),
            remediation: info
                .map(|i| lang.pick(&i.remediation_vi, &i.remediation_en).to_string())
                .unwrap_or_default(),
            legal_basis: info.map(|i| i.legal_basis.clone()).unwrap_or_default(),
        }
    };
    let state_of = |fp: &str| -> FindingState {
        if input.diff.regressed.iter().any(|x| x == fp) {
            FindingState::Regressed
        } else if input.diff.persisting.iter().any(|x| x == fp) {
            FindingState::Persisting
        } else {
            FindingState::New
        }
    };

    let mut metas = input.agencies.clone();
    metas.sort_by(|a, b| a.facts.id.cmp(&b.facts.id));
    metas.dedup_by(|a, b| a.facts.id == b.facts.id);
    let mut agencies = Vec::with_capacity(metas.len());
    for meta in metas {
        let id = meta.facts.id.as_str();
        let mine = |r: &&FindingRecord| r.agency_id == id;
        let mut findings = Vec::new();
        let mut waived = Vec::new();
        let mut could_not_assess = Vec::new();
        for r in input.findings.iter().filter(mine) {
            if r.outcome == "fail" {
                let v = view(r, state_of(&r.fingerprint));
                if r.waiver.is_empty() {
                    findings.push(v);
                } else {
                    waived.push(v);
                }
            } else {
                let reason = parse_reason(&r.reason);
                could_not_assess.push(UnassessedView {
                    record: r.clone(),
                    reason,
                    explanation: reason
                        .map(|x| reason_text(lang, x).to_string())
                        .unwrap_or_else(|| r.reason.clone()),
                    rule_title: view(r, FindingState::New).rule_title,
                    rules: vec![r.rule_id.clone()],
                });
            }
        }
        let mut resolved: Vec<FindingView> = input
            .resolved
            .iter()
            .filter(mine)
            .filter(|r| input.diff.resolved.contains(&r.fingerprint))
            .map(|r| view(r, FindingState::Resolved))
            .collect();
        sort_views(&mut findings);
        sort_views(&mut waived);
        sort_views(&mut resolved);
        resolved.dedup_by(|a, b| a.record.fingerprint == b.record.fingerprint);
        could_not_assess.sort_by(|a, b| {
            (&a.record.subject, &a.record.reason, &a.record.rule_id).cmp(&(
                &b.record.subject,
                &b.record.reason,
                &b.record.rule_id,
            ))
        });
        let mut grouped: Vec<UnassessedView> = Vec::with_capacity(could_not_assess.len());
        for u in could_not_assess {
            match grouped.last_mut() {
                Some(g)
                    if g.record.subject == u.record.subject
                        && g.record.reason == u.record.reason =>
                {
                    g.rules.extend(u.rules);
                }
                _ => grouped.push(u),
            }
        }
        let could_not_assess = grouped;

        let services: Vec<&ServiceFacts> = input
            .services
            .iter()
            .filter(|s| s.agency_id == id)
            .collect();
        let full: Vec<&&ServiceFacts> =
            services.iter().filter(|s| s.level == Level::Full).collect();
        let full_with_vgca = full
            .iter()
            .filter(|s| s.signature.providers.iter().any(|p| p == "vgca"))
            .count() as i64;
        let level_published = services
            .iter()
            .filter(|s| s.level != Level::Unknown)
            .count() as i64;
        let services_total = services.len() as i64;
        let full_total = full.len() as i64;
        let mut trend = input.trends.get(id).cloned().unwrap_or_default();
        trend.sort_by_key(|t| t.run_id);
        if trend.len() > TREND_MAX {
            trend.drain(..trend.len() - TREND_MAX);
        }
        agencies.push(AgencyReport {
            successor: meta.successor,
            former_names: meta.former_names,
            unverified: !meta.verified,
            services_total,
            full_total,
            full_with_vgca,
            level_published,
            shares: Shares {
                vgca: ratio(full_with_vgca, full_total),
                level_published: ratio(level_published, services_total),
            },
            trend,
            findings,
            could_not_assess,
            resolved,
            waived,
            omitted: 0,
            facts: meta.facts,
        });
    }
    let mut waiver_notes = input.waiver_notes.clone();
    waiver_notes.sort_by(|a, b| (&a.reference, &a.subject).cmp(&(&b.reference, &b.subject)));
    Ok(ReportData {
        schema_version: SCHEMA_VERSION,
        run: RunInfo {
            id: run.id,
            mode,
            started_at: run.started_at.clone(),
            ended_at: run.ended_at.clone(),
            seed: run.seed,
            ruleset_digest: run.ruleset_digest.clone(),
            config_digest: run.config_digest.clone(),
            status: run.status.clone(),
            deployment: input.deployment.clone(),
        },
        lang,
        totals: totals(&agencies),
        agencies,
        waiver_notes,
    })
}

/// Read what a finished run stored and build its report.
pub fn gather(
    store: &Store,
    run_id: i64,
    deployment: &str,
    lang: Lang,
    agencies: Vec<AgencyMeta>,
    rules: BTreeMap<String, RuleInfo>,
    waiver_notes: Vec<WaiverNote>,
) -> Result<ReportData, BuildError> {
    let run = store.run(run_id)?;
    let diff = store.diff(run_id)?;
    let mut resolved = Vec::new();
    // A resolved finding's last record lives in the run that last saw it.
    let mut by_run: BTreeMap<i64, Vec<&String>> = BTreeMap::new();
    for fp in &diff.resolved {
        if let Some((_, last, _)) = store.lifecycle_of(fp)? {
            by_run.entry(last).or_default().push(fp);
        }
    }
    for (run, fps) in by_run {
        resolved.extend(
            store
                .findings(run)?
                .into_iter()
                .filter(|f| fps.contains(&&f.fingerprint)),
        );
    }
    let mut trends = BTreeMap::new();
    for a in &agencies {
        trends.insert(a.facts.id.clone(), store.trend(&a.facts.id)?);
    }
    build(BuildInput {
        findings: store.findings(run_id)?,
        services: store.service_facts(run_id)?,
        run: Some(run),
        deployment: deployment.to_string(),
        lang,
        agencies,
        diff,
        resolved,
        trends,
        rules,
        waiver_notes,
    })
}

fn parse_reason(s: &str) -> Option<AssessReason> {
    AssessReason::ALL.into_iter().find(|r| r.as_str() == s)
}

fn ratio(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn sort_views(v: &mut [FindingView]) {
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.record.rule_id.cmp(&b.record.rule_id))
            .then_with(|| a.record.subject.cmp(&b.record.subject))
            .then_with(|| a.record.fingerprint.cmp(&b.record.fingerprint))
    });
}

/// Counts over some agencies.
pub(crate) fn totals(agencies: &[AgencyReport]) -> Totals {
    let mut t = Totals {
        agencies: agencies.len() as i64,
        ..Totals::default()
    };
    for a in agencies {
        t.services += a.services_total;
        t.findings += a.findings.len() as i64;
        t.resolved += a.resolved.len() as i64;
        t.could_not_assess += a.could_not_assess.len() as i64;
        t.waived += a.waived.len() as i64;
        for f in &a.findings {
            match f.severity {
                Severity::Critical => t.critical += 1,
                Severity::High => t.high += 1,
                Severity::Medium => t.medium += 1,
                Severity::Low => t.low += 1,
                Severity::Info => t.info += 1,
            }
            match f.state {
                FindingState::New => t.new += 1,
                FindingState::Persisting => t.persisting += 1,
                FindingState::Regressed => t.regressed += 1,
                FindingState::Resolved => {}
            }
        }
    }
    t
}
