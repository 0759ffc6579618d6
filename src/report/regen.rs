//! `dvc-audit report`: render a stored run again (another language, other formats) from the
//! history database and the configuration, without crawling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::build::{AgencyMeta, BuildError, gather_with};
use super::i18n::Lang;
use super::model::{ReportData, RuleInfo, WaiverNote};
use super::{Format, ReportError, write_all};
use crate::config::Loaded;
use crate::diag::DiagnosticsError;
use crate::facts::{AgencyFacts, AgencyKind};
use crate::rules::{RuleSet, WaiverReport, Waivers};
use crate::store::Store;
use crate::store::reading::RowKind;

#[derive(Debug, thiserror::Error)]
pub enum RegenError {
    #[error("no history database at {0}")]
    NoDatabase(PathBuf),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The configured rules or waivers do not load (titles, remediation and legal basis come
    /// from them: a report without them would show bare rule ids).
    #[error("rules or waivers do not load:\n{}", .0.0.render(false))]
    Rules(DiagnosticsError),
}

/// The notes on expired and stale waivers a report lists (the run and `dvc-audit report`
/// both build them here).
pub fn waiver_notes(report: &WaiverReport) -> Vec<WaiverNote> {
    let mut notes = Vec::new();
    for (kind, list) in [("expired", &report.expired), ("stale", &report.stale)] {
        for n in list {
            notes.push(WaiverNote {
                reference: n.waiver.decision.clone(),
                kind: kind.to_string(),
                rule_id: n.waiver.rule.clone(),
                subject: n.waiver.pattern.clone(),
                expires: n.waiver.expires.to_string(),
                note: format!("{} ({})", n.waiver.reason, n.waiver.location),
            });
        }
    }
    notes
}

/// Name each agency's successor from the configuration, also when the successor was not part
/// of the run (a spot check of one merged province still says what it became, by name).
pub fn name_successors(data: &mut ReportData, agencies: &[crate::config::AgencyConfig]) {
    let lang = data.lang;
    for a in &mut data.agencies {
        if a.successor.is_empty() {
            continue;
        }
        if let Some(s) = agencies.iter().find(|c| c.id == a.successor) {
            a.successor_name = lang.pick(&s.name, &s.name_en).to_string();
        }
    }
}

/// The configured rule set (rule directories, or the bundled pack), as a run loads it.
fn configured_rules(loaded: &Loaded) -> Result<RuleSet, DiagnosticsError> {
    let dirs: Vec<PathBuf> = loaded
        .config
        .rules
        .dirs
        .iter()
        .map(|d| loaded.path(d))
        .collect();
    let lr = if dirs.is_empty() {
        RuleSet::bundled()?
    } else {
        let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        RuleSet::load_dirs(&refs)?
    };
    Ok(lr.rules)
}

/// The waiver notes of a stored run, as the run wrote them: waivers expired on the run's day,
/// and valid ones that covered none of the run's findings (replaying which waiver each waived
/// finding matched first, as `Waivers::apply` did; rows are streamed, not held).
fn stored_waiver_notes(
    loaded: &Loaded,
    rules: &RuleSet,
    store: &Store,
    run: &crate::store::RunRow,
) -> Result<Vec<WaiverNote>, RegenError> {
    let Some(path) = &loaded.config.rules.waivers else {
        return Ok(Vec::new());
    };
    let (waivers, _) = Waivers::load(&loaded.path(path), rules).map_err(RegenError::Rules)?;
    let day = time::OffsetDateTime::parse(
        &run.started_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| t.date())
    .unwrap_or_else(|_| time::OffsetDateTime::now_utc().date());
    let entries = waivers.entries();
    let mut hit = vec![false; entries.len()];
    let mut q = store.report_rows(run.id, RowKind::Waived, 0)?;
    let mut cur = q.cursor()?;
    while let Some(row) = cur.next_row()? {
        let r = &row.record;
        if let Some(i) = entries.iter().position(|w| {
            w.expires >= day
                && w.rule == r.rule_id
                && crate::rules::waiver::glob(&w.pattern, &r.subject)
        }) {
            hit[i] = true;
        }
    }
    let mut report = WaiverReport::default();
    for (w, h) in entries.iter().zip(hit) {
        let notice = crate::rules::waiver::WaiverNotice {
            waiver: w.clone(),
            matched: usize::from(h),
        };
        if w.expires < day {
            report.expired.push(notice);
        } else if !h {
            report.stale.push(notice);
        }
    }
    Ok(waiver_notes(&report))
}

/// The formats configured in `report.formats`.
pub fn configured_formats(loaded: &Loaded) -> Result<Vec<Format>, ReportError> {
    loaded
        .config
        .report
        .formats
        .iter()
        .map(|f| Format::parse(f))
        .collect()
}

/// Agencies of a run's scope, described by the configuration (an agency since removed from the
/// configuration is still listed, by id).
pub fn metas_for(loaded: &Loaded, scope: &[String]) -> Vec<AgencyMeta> {
    scope
        .iter()
        .map(|id| {
            loaded
                .config
                .agencies
                .iter()
                .find(|a| &a.id == id)
                .map(AgencyMeta::from_config)
                .unwrap_or_else(|| AgencyMeta {
                    facts: AgencyFacts {
                        id: id.clone(),
                        name: id.clone(),
                        name_en: String::new(),
                        kind: AgencyKind::Province,
                        portal: String::new(),
                        platform: String::new(),
                        jurisdiction: String::new(),
                    },
                    successor: String::new(),
                    former_names: Vec::new(),
                    verified: false,
                })
        })
        .collect()
}

/// Render run `run_id` (the latest complete run when `None`) into `out` (default: `report.dir`).
pub fn regenerate(
    loaded: &Loaded,
    run_id: Option<i64>,
    lang: Lang,
    formats: &[Format],
    out: Option<&Path>,
) -> Result<Vec<PathBuf>, RegenError> {
    let db = loaded.path(&loaded.config.storage.sqlite);
    if !db.exists() {
        return Err(RegenError::NoDatabase(db));
    }
    // Read-only: a report never migrates or writes the history.
    let store = Store::open_reader(&db)?;
    let run = match run_id {
        Some(id) => store.run(id)?,
        None => store
            .runs(1000)?
            .into_iter()
            .find(|r| r.status == "complete")
            .ok_or(crate::store::StoreError::NoSuchRun(0))?,
    };
    let metas = metas_for(loaded, &run.scope.agencies);
    let rules = configured_rules(loaded).map_err(RegenError::Rules)?;
    let rule_info: BTreeMap<String, RuleInfo> = RuleInfo::map(&rules);
    let notes = stored_waiver_notes(loaded, &rules, &store, &run)?;
    let mut data = gather_with(
        &store,
        run.id,
        &loaded.config.audit.name,
        lang,
        metas,
        rule_info,
        notes,
        loaded.config.report.max_rows_per_rule as usize,
    )?;
    name_successors(&mut data, &loaded.config.agencies);
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| loaded.path(&loaded.config.report.dir));
    Ok(write_all(&dir, &data, formats)?)
}
