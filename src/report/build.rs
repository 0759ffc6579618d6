//! From what a run produced (store rows, facts, rule titles) to [`ReportData`].
//!
//! [`build`] is pure (tests give it literal values); [`gather`] reads the store for the run stage.
//! Both end in the same [`assemble`] per agency. Renderers never see where the data came from.
//!
//! [`gather`] stays bounded in memory whatever the size of the run: counts and shares are SQL
//! aggregates, and only the first `max_rows_per_rule` rows of each (agency, rule) are loaded as
//! examples for the HTML and text reports; the complete formats stream every row from the
//! database later (see [`RowsAt`] and `stream.rs`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::i18n::{Lang, reason_text};
use super::inventory::ServiceRow;
use super::model::*;
use super::survey::{self, AgencySurvey};
use crate::facts::{AgencyFacts, AssessReason, Level, ServiceFacts};
use crate::store::reading::{ReportRow, RowKind, ServiceCounts};
use crate::store::{FindingRecord, RunDiff, RunRow, Store, StoreError, TrendPoint};

/// At most this many trend points per agency are kept (the sparkline and trend charts).
/// Enough points for the first screen's 90-day change with nightly runs plus spot checks.
pub const TREND_MAX: usize = 120;

/// Default of `report.max_rows_per_rule`: example rows per (agency, rule) in HTML and text.
pub const DEFAULT_MAX_ROWS_PER_RULE: usize = 20;

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
    /// Last failing records of the findings in `diff.unverified`, `reason` set to why this
    /// run could not re-check them.
    pub unverified: Vec<FindingRecord>,
    /// Last failing records of the findings in `diff.withdrawn`.
    pub withdrawn: Vec<FindingRecord>,
    /// Coverage per agency id (agencies without one: nothing recorded).
    pub coverage: BTreeMap<String, crate::facts::Coverage>,
    /// This run's service facts (for counts and shares).
    pub services: Vec<ServiceFacts>,
    /// This run's probed hosts: (agency id, facts), for the survey's TLS health.
    pub hosts: Vec<(String, crate::facts::HostFacts)>,
    /// Trend per agency id, oldest first.
    pub trends: BTreeMap<String, Vec<TrendPoint>>,
    pub rules: BTreeMap<String, RuleInfo>,
    pub waiver_notes: Vec<WaiverNote>,
    /// Keep at most this many rows per (agency, rule) in each list; `0` keeps all.
    pub max_rows_per_rule: usize,
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

/// The four lists of one agency, before [`assemble`].
#[derive(Debug, Default)]
struct Lists {
    findings: Vec<FindingView>,
    could_not_assess: Vec<UnassessedView>,
    resolved: Vec<FindingView>,
    waived: Vec<FindingView>,
    unverified: Vec<FindingView>,
    withdrawn: Vec<FindingView>,
}

/// Rule titles and texts in the report's language.
pub(super) struct Texts<'a> {
    pub lang: Lang,
    pub rules: &'a BTreeMap<String, RuleInfo>,
}

impl Texts<'_> {
    pub(super) fn title(&self, rule_id: &str) -> String {
        self.rules
            .get(rule_id)
            .map(|i| self.lang.pick(&i.title_vi, &i.title_en).to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| rule_id.to_string())
    }

    fn remediation(&self, info: Option<&RuleInfo>) -> String {
        info.map(|i| {
            self.lang
                .pick(&i.remediation_vi, &i.remediation_en)
                .to_string()
        })
        .unwrap_or_default()
    }

    pub(super) fn view(&self, r: FindingRecord, state: FindingState) -> FindingView {
        let info = self.rules.get(&r.rule_id);
        FindingView {
            severity: Severity::parse(&r.severity),
            state,
            rule_title: self.title(&r.rule_id),
            remediation: self.remediation(info),
            legal_basis: info.map(|i| i.legal_basis.clone()).unwrap_or_default(),
            technical_basis: info.map(|i| i.technical_basis.clone()).unwrap_or_default(),
            record: r,
            age: None,
        }
    }

    pub(super) fn unassessed(&self, r: FindingRecord) -> UnassessedView {
        let reason = parse_reason(&r.reason);
        UnassessedView {
            reason,
            explanation: reason
                .map(|x| reason_text(self.lang, x).to_string())
                .unwrap_or_else(|| super::i18n::label(self.lang, "reason_unknown").to_string()),
            rule_title: self.title(&r.rule_id),
            rules: vec![r.rule_id.clone()],
            record: r,
        }
    }

    fn summary(&self, rule_id: &str, severity: Severity) -> RuleSummary {
        let info = self.rules.get(rule_id);
        RuleSummary {
            rule_id: rule_id.to_string(),
            severity,
            rule_title: self.title(rule_id),
            remediation: self.remediation(info),
            legal_basis: info.map(|i| i.legal_basis.clone()).unwrap_or_default(),
            technical_basis: info.map(|i| i.technical_basis.clone()).unwrap_or_default(),
            count: 0,
            new: 0,
            persisting: 0,
            regressed: 0,
        }
    }
}

/// Lifecycle state of a stored row (`""`, a run not yet finished, reads as new).
fn parse_state(s: &str) -> FindingState {
    match s {
        "persisting" => FindingState::Persisting,
        "regressed" => FindingState::Regressed,
        "resolved" => FindingState::Resolved,
        "unverified" => FindingState::Unverified,
        "withdrawn" => FindingState::Withdrawn,
        _ => FindingState::New,
    }
}

/// Merge sorted could-not-assess rows into one line per subject and reason.
fn group_unassessed(rows: Vec<UnassessedView>) -> Vec<UnassessedView> {
    let mut grouped: Vec<UnassessedView> = Vec::with_capacity(rows.len());
    for u in rows {
        match grouped.last_mut() {
            Some(g)
                if g.record.subject == u.record.subject && g.record.reason == u.record.reason =>
            {
                g.rules.extend(u.rules);
            }
            _ => grouped.push(u),
        }
    }
    grouped
}

/// Keep the first `max` views of each (severity, rule) run of a sorted list (`0`: all).
fn cap_per_rule(v: &mut Vec<FindingView>, max: usize) {
    if max == 0 {
        return;
    }
    let mut seen = 0usize;
    let mut key: Option<(Severity, String)> = None;
    v.retain(|f| {
        let k = (f.severity, f.record.rule_id.clone());
        if key.as_ref() != Some(&k) {
            key = Some(k);
            seen = 0;
        }
        seen += 1;
        seen <= max
    });
}

/// Keep the first `max` subjects per reason of grouped could-not-assess lines (`0`: all).
fn cap_unassessed(v: &mut Vec<UnassessedView>, max: usize) {
    if max == 0 {
        return;
    }
    let mut per_reason: BTreeMap<String, usize> = BTreeMap::new();
    v.retain(|u| {
        let n = per_reason.entry(u.record.reason.clone()).or_default();
        *n += 1;
        *n <= max
    });
}

/// One agency's report from its meta, counts and (possibly partial) lists.
fn assemble(
    meta: AgencyMeta,
    services: ServiceCounts,
    coverage: crate::facts::Coverage,
    mut trend: Vec<TrendPoint>,
    rules: Vec<RuleSummary>,
    counts: AgencyCounts,
    lists: Lists,
) -> AgencyReport {
    trend.sort_by_key(|t| t.run_id);
    if trend.len() > TREND_MAX {
        trend.drain(..trend.len() - TREND_MAX);
    }
    let shown = (lists.findings.len()
        + lists.could_not_assess.len()
        + lists.resolved.len()
        + lists.waived.len()
        + lists.unverified.len()
        + lists.withdrawn.len()) as i64;
    let mut counts = counts;
    counts.info = rules
        .iter()
        .filter(|r| r.severity == Severity::Info)
        .map(|r| r.count)
        .sum();
    counts.violations = counts.findings - counts.info;
    let all = counts.findings
        + counts.could_not_assess
        + counts.resolved
        + counts.waived
        + counts.unverified
        + counts.withdrawn;
    AgencyReport {
        successor: meta.successor,
        successor_name: String::new(),
        former_names: meta.former_names,
        unverified: !meta.verified,
        services_total: services.services,
        full_total: services.full,
        full_with_vgca: services.full_with_vgca,
        level_published: services.level_published,
        // Over the services read: a page not read says nothing either way.
        // None when a read service's level or signature was unobservable: a guess is no share.
        shares: Shares {
            vgca: services.vgca_share(),
            level_published: services.level_share(),
        },
        services_read: services.read,
        assessment: Assessment::of(&coverage, services.read),
        coverage,
        trend,
        findings: lists.findings,
        could_not_assess: lists.could_not_assess,
        resolved: lists.resolved,
        waived: lists.waived,
        unverified_findings: lists.unverified,
        withdrawn_findings: lists.withdrawn,
        omitted: (all - shown).max(0),
        rules,
        counts,
        facts: meta.facts,
    }
}

/// Rule summaries and counts of complete lists (the [`build`] path).
fn count_lists(texts: &Texts<'_>, lists: &Lists) -> (Vec<RuleSummary>, AgencyCounts) {
    let mut rules: Vec<RuleSummary> = Vec::new();
    let mut c = AgencyCounts {
        findings: lists.findings.len() as i64,
        could_not_assess: lists.could_not_assess.len() as i64,
        resolved: lists.resolved.len() as i64,
        waived: lists.waived.len() as i64,
        unverified: lists.unverified.len() as i64,
        withdrawn: lists.withdrawn.len() as i64,
        ..AgencyCounts::default()
    };
    for f in &lists.findings {
        if rules
            .last()
            .is_none_or(|r| r.rule_id != f.record.rule_id || r.severity != f.severity)
        {
            rules.push(texts.summary(&f.record.rule_id, f.severity));
        }
        if let Some(r) = rules.last_mut() {
            r.count += 1;
            match f.state {
                FindingState::New => r.new += 1,
                FindingState::Persisting => r.persisting += 1,
                FindingState::Regressed => r.regressed += 1,
                FindingState::Resolved | FindingState::Unverified | FindingState::Withdrawn => {}
            }
        }
    }
    for r in &rules {
        c.new += r.new;
        c.persisting += r.persisting;
        c.regressed += r.regressed;
    }
    (rules, c)
}

fn run_info(run: &RunRow, deployment: &str) -> Result<RunInfo, BuildError> {
    let mode = Mode::parse(&run.mode).ok_or_else(|| BuildError::UnknownMode {
        id: run.id,
        mode: run.mode.clone(),
    })?;
    Ok(RunInfo {
        id: run.id,
        mode,
        started_at: run.started_at.clone(),
        ended_at: run.ended_at.clone(),
        seed: run.seed,
        ruleset_digest: run.ruleset_digest.clone(),
        config_digest: run.config_digest.clone(),
        head_digest: run.digest.clone().unwrap_or_default(),
        status: run.status.clone(),
        deployment: deployment.to_string(),
    })
}

fn sorted_metas(mut metas: Vec<AgencyMeta>) -> Vec<AgencyMeta> {
    metas.sort_by(|a, b| a.facts.id.cmp(&b.facts.id));
    metas.dedup_by(|a, b| a.facts.id == b.facts.id);
    metas
}

/// Each agency's name in `lang`, by id (successors are shown by name, not id).
fn names(metas: &[AgencyMeta], lang: Lang) -> BTreeMap<String, String> {
    metas
        .iter()
        .map(|m| {
            (
                m.facts.id.clone(),
                lang.pick(&m.facts.name, &m.facts.name_en).to_string(),
            )
        })
        .collect()
}

fn name_successor(a: &mut AgencyReport, names: &BTreeMap<String, String>) {
    if !a.successor.is_empty() {
        a.successor_name = names
            .get(&a.successor)
            .cloned()
            .unwrap_or_else(|| a.successor.clone());
    }
}

fn finish(
    run: RunInfo,
    lang: Lang,
    agencies: Vec<AgencyReport>,
    mut waiver_notes: Vec<WaiverNote>,
    rows: RowsAt,
    extra: (Vec<AgencySurvey>, Vec<ServiceRow>),
) -> ReportData {
    waiver_notes.sort_by(|a, b| (&a.reference, &a.subject).cmp(&(&b.reference, &b.subject)));
    let (survey, services) = extra;
    ReportData {
        schema_version: SCHEMA_VERSION,
        run,
        lang,
        totals: totals(&agencies),
        agencies,
        waiver_notes,
        survey,
        services,
        rows,
    }
}

/// Assemble the report from values. Deterministic: every list is sorted.
pub fn build(input: BuildInput) -> Result<ReportData, BuildError> {
    let run = input.run.as_ref().ok_or(BuildError::NoRun)?;
    let run = run_info(run, &input.deployment)?;
    let lang = input.lang;
    let texts = Texts {
        lang,
        rules: &input.rules,
    };
    let regressed: HashSet<&str> = input.diff.regressed.iter().map(String::as_str).collect();
    let persisting: HashSet<&str> = input.diff.persisting.iter().map(String::as_str).collect();
    let resolved_fps: HashSet<&str> = input.diff.resolved.iter().map(String::as_str).collect();
    let state_of = |fp: &str| -> FindingState {
        if regressed.contains(fp) {
            FindingState::Regressed
        } else if persisting.contains(fp) {
            FindingState::Persisting
        } else {
            FindingState::New
        }
    };

    let mut agencies = Vec::new();
    let mut surveys = Vec::new();
    let mut inventory = Vec::new();
    // The survey judges TLS host by host, whichever agency owns a host's findings: the run's
    // host findings, gathered once (a few per host) rather than every finding per agency.
    let host_findings: Vec<&FindingRecord> = input
        .findings
        .iter()
        .filter(|f| f.scope == "host")
        .collect();
    for meta in sorted_metas(input.agencies.clone()) {
        let id = meta.facts.id.as_str();
        let mine = |r: &&FindingRecord| r.agency_id == id;
        let mut lists = Lists::default();
        let mut unassessed = Vec::new();
        for r in input.findings.iter().filter(mine) {
            if r.outcome == "fail" {
                let v = texts.view(r.clone(), state_of(&r.fingerprint));
                if r.waiver.is_empty() {
                    lists.findings.push(v);
                } else {
                    lists.waived.push(v);
                }
            } else {
                unassessed.push(texts.unassessed(r.clone()));
            }
        }
        lists.resolved = input
            .resolved
            .iter()
            .filter(mine)
            .filter(|r| resolved_fps.contains(r.fingerprint.as_str()))
            .map(|r| texts.view(r.clone(), FindingState::Resolved))
            .collect();
        let unverified_fps: HashSet<&str> =
            input.diff.unverified.iter().map(String::as_str).collect();
        lists.unverified = input
            .unverified
            .iter()
            .filter(mine)
            .filter(|r| unverified_fps.contains(r.fingerprint.as_str()))
            .map(|r| texts.view(r.clone(), FindingState::Unverified))
            .collect();
        let withdrawn_fps: HashSet<&str> =
            input.diff.withdrawn.iter().map(String::as_str).collect();
        lists.withdrawn = input
            .withdrawn
            .iter()
            .filter(mine)
            .filter(|r| withdrawn_fps.contains(r.fingerprint.as_str()))
            .map(|r| texts.view(r.clone(), FindingState::Withdrawn))
            .collect();
        sort_views(&mut lists.findings);
        sort_views(&mut lists.waived);
        sort_views(&mut lists.resolved);
        sort_views(&mut lists.unverified);
        sort_views(&mut lists.withdrawn);
        lists
            .withdrawn
            .dedup_by(|a, b| a.record.fingerprint == b.record.fingerprint);
        lists
            .unverified
            .dedup_by(|a, b| a.record.fingerprint == b.record.fingerprint);
        lists
            .resolved
            .dedup_by(|a, b| a.record.fingerprint == b.record.fingerprint);
        unassessed.sort_by(|a, b| {
            (&a.record.subject, &a.record.reason, &a.record.rule_id).cmp(&(
                &b.record.subject,
                &b.record.reason,
                &b.record.rule_id,
            ))
        });
        lists.could_not_assess = group_unassessed(unassessed);
        let (rules, counts) = count_lists(&texts, &lists);
        let max = input.max_rows_per_rule;
        cap_per_rule(&mut lists.findings, max);
        cap_per_rule(&mut lists.waived, max);
        cap_per_rule(&mut lists.resolved, max);
        cap_per_rule(&mut lists.unverified, max);
        cap_per_rule(&mut lists.withdrawn, max);
        cap_unassessed(&mut lists.could_not_assess, max);

        let services: Vec<&ServiceFacts> = input
            .services
            .iter()
            .filter(|s| s.agency_id == id)
            .collect();
        let read: Vec<&ServiceFacts> = services
            .iter()
            .copied()
            .filter(|s| s.fetch.error.is_none())
            .collect();
        let full: Vec<&&ServiceFacts> = read.iter().filter(|s| s.level == Level::Full).collect();
        let counts_s = ServiceCounts {
            services: services.len() as i64,
            read: read.len() as i64,
            full: full.len() as i64,
            full_with_vgca: full
                .iter()
                .filter(|s| {
                    let sig = &s.signature;
                    sig.providers
                        .iter()
                        .chain(&sig.site_wide_providers)
                        .any(|p| p == "vgca")
                })
                .count() as i64,
            level_published: read.iter().filter(|s| s.level != Level::Unknown).count() as i64,
            level_unobserved: read
                .iter()
                .filter(|s| s.unknown_fact("level").is_some())
                .count() as i64,
            signature_unobserved: read
                .iter()
                .filter(|s| s.unknown_fact("signature").is_some())
                .count() as i64,
        };
        let hosts: Vec<&crate::facts::HostFacts> = input
            .hosts
            .iter()
            .filter(|(a, _)| a == id)
            .map(|(_, h)| h)
            .collect();
        surveys.push(survey::from_counts(
            id,
            &survey::counts_of(&services, &host_findings, &hosts),
        ));
        let name = match lang {
            Lang::En if !meta.facts.name_en.is_empty() => meta.facts.name_en.as_str(),
            _ => meta.facts.name.as_str(),
        };
        let mut rows: Vec<(String, ServiceRow)> = services
            .iter()
            .map(|s| (crate::store::service_key(s), ServiceRow::of(s, name)))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        inventory.extend(rows.into_iter().map(|(_, r)| r));
        let trend = input.trends.get(id).cloned().unwrap_or_default();
        // Without a recorded coverage, the services given are all there is.
        let coverage = input.coverage.get(id).cloned().unwrap_or_else(|| {
            let mut c = crate::facts::Coverage {
                listed: services.len() as i64,
                read: read.len() as i64,
                ..Default::default()
            };
            for s in &services {
                if let Some(e) = &s.fetch.error {
                    *c.unread.entry(e.kind.as_str().to_string()).or_default() += 1;
                }
            }
            c
        });
        if let Some(s) = surveys.last_mut() {
            s.listing_error = coverage.listing_error;
        }
        agencies.push(assemble(
            meta, counts_s, coverage, trend, rules, counts, lists,
        ));
    }
    let known = names(&input.agencies, lang);
    for a in &mut agencies {
        name_successor(a, &known);
    }
    Ok(finish(
        run,
        lang,
        agencies,
        input.waiver_notes.clone(),
        RowsAt::InData,
        (surveys, inventory),
    ))
}

/// Read what a finished run stored and build its report, with the default number of example
/// rows per rule ([`DEFAULT_MAX_ROWS_PER_RULE`]).
pub fn gather(
    store: &Store,
    run_id: i64,
    deployment: &str,
    lang: Lang,
    agencies: Vec<AgencyMeta>,
    rules: BTreeMap<String, RuleInfo>,
    waiver_notes: Vec<WaiverNote>,
) -> Result<ReportData, BuildError> {
    gather_with(
        store,
        run_id,
        deployment,
        lang,
        agencies,
        rules,
        waiver_notes,
        DEFAULT_MAX_ROWS_PER_RULE,
    )
}

/// [`gather`] with `report.max_rows_per_rule` (`0`: every row, unbounded).
///
/// Memory: counts come from SQL; the lists hold at most `max_rows_per_rule` rows per
/// (agency, severity, rule) — could-not-assess: subjects per (agency, reason). A store that
/// lives in memory (tests) cannot be reopened by the writers, so its lists are loaded whole.
#[allow(clippy::too_many_arguments)]
pub fn gather_with(
    store: &Store,
    run_id: i64,
    deployment: &str,
    lang: Lang,
    agencies: Vec<AgencyMeta>,
    rules: BTreeMap<String, RuleInfo>,
    waiver_notes: Vec<WaiverNote>,
    max_rows_per_rule: usize,
) -> Result<ReportData, BuildError> {
    let run = run_info(&store.run(run_id)?, deployment)?;
    let metas = sorted_metas(agencies);
    let known = names(&metas, lang);
    let texts = Texts {
        lang,
        rules: &rules,
    };
    let (limit, rows) = match store.file_path() {
        Some(path) => (
            max_rows_per_rule,
            RowsAt::Database {
                path,
                run_id,
                rules: Arc::new(rules.clone()),
            },
        ),
        None => (0, RowsAt::InData),
    };

    // Counts (SQL aggregates).
    let services = store.service_counts(run_id)?;
    let mut summaries: BTreeMap<&str, (Vec<RuleSummary>, AgencyCounts)> = BTreeMap::new();
    let rule_counts = store.rule_counts(run_id)?;
    for rc in &rule_counts {
        let (list, c) = summaries.entry(rc.agency_id.as_str()).or_default();
        if rc.waived {
            c.waived += rc.total;
            continue;
        }
        c.findings += rc.total;
        c.new += rc.new;
        c.persisting += rc.persisting;
        c.regressed += rc.regressed;
        // A row in an unfinished run has no state yet and reads as new (as in `parse_state`).
        let unset = rc.total - rc.new - rc.persisting - rc.regressed;
        c.new += unset;
        let mut s = texts.summary(&rc.rule_id, Severity::parse(&rc.severity));
        s.count = rc.total;
        s.new = rc.new + unset;
        s.persisting = rc.persisting;
        s.regressed = rc.regressed;
        list.push(s);
    }
    let unassessed = store.unassessed_counts(run_id)?;
    let resolved = store.resolved_counts(run_id)?;
    let unverified = store.unverified_counts(run_id)?;
    let withdrawn = store.withdrawn_counts(run_id)?;
    let mut coverage = store.coverage(run_id)?;

    // Example rows (bounded by `limit` per group), distributed to their agencies.
    let wanted: HashSet<&str> = metas.iter().map(|m| m.facts.id.as_str()).collect();
    let mut lists: BTreeMap<String, Lists> = BTreeMap::new();
    for kind in [
        RowKind::Failing,
        RowKind::Waived,
        RowKind::Unassessed,
        RowKind::Resolved,
        RowKind::Unverified,
        RowKind::Withdrawn,
    ] {
        let mut q = store.report_rows(run_id, kind, limit)?;
        let mut cur = q.cursor()?;
        while let Some(mut row) = cur.next_row()? {
            if !wanted.contains(row.record.agency_id.as_str()) {
                continue;
            }
            cur.evidence(&mut row)?;
            let l = lists.entry(row.record.agency_id.clone()).or_default();
            let ReportRow { record, state, .. } = row;
            match kind {
                RowKind::Failing => l.findings.push(texts.view(record, parse_state(&state))),
                RowKind::Waived => l.waived.push(texts.view(record, parse_state(&state))),
                RowKind::Resolved => l.resolved.push(texts.view(record, FindingState::Resolved)),
                RowKind::Unverified => l
                    .unverified
                    .push(texts.view(record, FindingState::Unverified)),
                RowKind::Withdrawn => l
                    .withdrawn
                    .push(texts.view(record, FindingState::Withdrawn)),
                RowKind::Unassessed => l.could_not_assess.push(texts.unassessed(record)),
            }
        }
    }

    let trends = trends(store, &metas, run_id)?;
    let survey_counts = store.survey_counts(run_id)?;
    let surveys: Vec<AgencySurvey> = metas
        .iter()
        .map(|m| {
            let id = m.facts.id.as_str();
            let mut s =
                survey::from_counts(id, &survey_counts.get(id).cloned().unwrap_or_default());
            s.listing_error = coverage.get(id).and_then(|c| c.listing_error);
            s
        })
        .collect();
    // An in-memory store cannot be reopened by the writers: its inventory is listed here.
    let mut inventory = Vec::new();
    if matches!(rows, RowsAt::InData) {
        for m in &metas {
            let name = match lang {
                Lang::En if !m.facts.name_en.is_empty() => m.facts.name_en.as_str(),
                _ => m.facts.name.as_str(),
            };
            store.each_service(run_id, &m.facts.id, |r| {
                inventory.push(ServiceRow::new(r.facts, r.unread, name));
                Ok::<(), StoreError>(())
            })?;
        }
    }
    // How long the shown open findings have been open (first seen, times regressed).
    let fps: Vec<&str> = lists
        .values()
        .flat_map(|l| l.findings.iter().chain(&l.unverified))
        .map(|f| f.record.fingerprint.as_str())
        .collect();
    let ages = store.finding_ages(&run.started_at, &fps)?;
    for l in lists.values_mut() {
        for f in l.findings.iter_mut().chain(l.unverified.iter_mut()) {
            f.age = ages.get(&f.record.fingerprint).cloned();
        }
    }
    let mut out = Vec::with_capacity(metas.len());
    for meta in metas {
        let id = meta.facts.id.clone();
        let mut l = lists.remove(&id).unwrap_or_default();
        l.could_not_assess = group_unassessed(std::mem::take(&mut l.could_not_assess));
        let (rules, mut counts) = summaries.remove(id.as_str()).unwrap_or_default();
        counts.could_not_assess = unassessed.get(&id).copied().unwrap_or(0);
        counts.resolved = resolved.get(&id).copied().unwrap_or(0);
        counts.unverified = unverified.get(&id).copied().unwrap_or(0);
        counts.withdrawn = withdrawn.get(&id).copied().unwrap_or(0);
        let s = services.get(&id).copied().unwrap_or_default();
        let trend = trends.get(&id).cloned().unwrap_or_default();
        let cov = coverage.remove(&id).unwrap_or_default();
        out.push(assemble(meta, s, cov, trend, rules, counts, l));
    }
    for a in &mut out {
        name_successor(a, &known);
    }
    Ok(finish(
        run,
        lang,
        out,
        waiver_notes,
        rows,
        (surveys, inventory),
    ))
}

/// Trend points of each agency: the last [`TREND_MAX`] complete runs covering it (the
/// store's aggregates, as `history --agency` prints them).
fn trends(
    store: &Store,
    metas: &[AgencyMeta],
    run_id: i64,
) -> Result<BTreeMap<String, Vec<TrendPoint>>, BuildError> {
    let ids: Vec<&str> = metas.iter().map(|m| m.facts.id.as_str()).collect();
    // As of this run: a report rendered again later shows the trend the run showed.
    Ok(store.trends_until(&ids, TREND_MAX, run_id)?)
}

/// A stored reason in words (an `AssessReason` explained; `not_assessed` and others as is).
pub(crate) fn reason_words(lang: Lang, s: &str) -> String {
    match parse_reason(s) {
        Some(r) => reason_text(lang, r).to_string(),
        None if s == "not_assessed" => lang
            .pick(
                "Lần kiểm tra này không đọc được đối tượng.",
                "This run did not read the subject.",
            )
            .to_string(),
        None if s == "rule_not_evaluated" => lang
            .pick(
                "Lần kiểm tra này không đánh giá quy tắc này (quy tắc đã đổi mã, bị gỡ hoặc nằm ngoài thư mục quy tắc).",
                "This run did not evaluate the rule (renamed, removed or outside the rule directories).",
            )
            .to_string(),
        None if s == "rule_changed" => lang
            .pick(
                "Quy tắc không còn áp dụng vì quy tắc hoặc tham số cấu hình của nó đã thay đổi, không phải vì đối tượng đã khắc phục.",
                "The rule no longer applies because the rule or its configured parameters changed, not because the subject was fixed.",
            )
            .to_string(),
        None if s.starts_with("absence_unconfirmed:") => {
            let (vi, en) = match s.trim_start_matches("absence_unconfirmed:") {
                "no_total" => (
                    "Dịch vụ không có trong danh mục lần này, nhưng cổng không công bố tổng số nên không xác nhận được danh mục đã đọc hết: chưa coi là đã gỡ.",
                    "The service is not in this run's listing, but the portal announces no total, so the listing's end is not confirmed: not taken as withdrawn.",
                ),
                "total_mismatch" => (
                    "Dịch vụ không có trong danh mục lần này, nhưng số dịch vụ đọc được không khớp tổng số cổng công bố: chưa coi là đã gỡ.",
                    "The service is not in this run's listing, but the listing does not match the total the portal announces: not taken as withdrawn.",
                ),
                "code_unread" => (
                    "Lần này có trang dịch vụ của cơ quan được đọc mà không thấy mã thủ tục, nên không đối chiếu được danh tính dịch vụ: chưa coi là đã gỡ.",
                    "Some service page of the agency was read without its code this run, so service identities could not be matched: not taken as withdrawn.",
                ),
                _ => (
                    "Địa chỉ trang của dịch vụ vẫn có trong danh mục lần này (có thể đã đổi mã): chưa coi là đã gỡ.",
                    "The service's page URL is still in this run's listing (perhaps renumbered): not taken as withdrawn.",
                ),
            };
            lang.pick(vi, en).to_string()
        }
        None if s.starts_with("masked_by:") => {
            let rules = s.trim_start_matches("masked_by:").replace(',', ", ");
            match lang {
                Lang::Vi => format!(
                    "Một lỗi khác trên cùng đối tượng ({rules}) khiến quy tắc này không áp dụng: chưa kiểm tra lại được."
                ),
                Lang::En => format!(
                    "Another defect on the same subject ({rules}) makes this rule not applicable: not re-checked."
                ),
            }
        }
        None if s.is_empty() => String::new(),
        // Text this version does not know (a library's message, a newer reason): said in
        // words; the raw text goes to the technical fold (see [`reason_is_raw`]).
        None => super::i18n::label(lang, "reason_unknown").to_string(),
    }
}

/// A stored reason that [`reason_words`] cannot say in words (kept raw for the technical fold).
pub(crate) fn reason_is_raw(s: &str) -> bool {
    !s.is_empty()
        && s != "not_assessed"
        && s != "rule_not_evaluated"
        && s != "rule_changed"
        && !s.starts_with("masked_by:")
        && !s.starts_with("absence_unconfirmed:")
        && parse_reason(s).is_none()
}

fn parse_reason(s: &str) -> Option<AssessReason> {
    AssessReason::parse(s)
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

/// Counts over some agencies (from their exact counts, not their possibly partial lists).
pub(crate) fn totals(agencies: &[AgencyReport]) -> Totals {
    let mut t = Totals {
        agencies: agencies.len() as i64,
        ..Totals::default()
    };
    for a in agencies {
        let c = &a.counts;
        t.services += a.services_total;
        t.services_read += a.services_read;
        t.unverified += c.unverified;
        t.withdrawn += c.withdrawn;
        if !a.coverage.complete() {
            t.agencies_incomplete += 1;
        }
        t.findings += c.findings;
        t.violations += c.violations;
        if a.assessment == Assessment::NotAssessed {
            t.agencies_not_assessed += 1;
        }
        t.resolved += c.resolved;
        t.could_not_assess += c.could_not_assess;
        t.waived += c.waived;
        t.new += c.new;
        t.persisting += c.persisting;
        t.regressed += c.regressed;
        for r in &a.rules {
            match r.severity {
                Severity::Critical => t.critical += r.count,
                Severity::High => t.high += r.count,
                Severity::Medium => t.medium += r.count,
                Severity::Low => t.low += r.count,
                Severity::Info => t.info += r.count,
            }
        }
    }
    t
}
