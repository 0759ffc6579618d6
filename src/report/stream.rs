//! Every row of a report, one at a time, for the complete formats (JSON, CSV, XLSX).
//!
//! A [`RowSource`] hands out the rows of one (agency, list) in report order; callers ask for
//! agencies in ascending id order. Two sources: the lists already in a [`ReportData`] built
//! from values, or the run in its history database ([`RowsAt::Database`]), read through one
//! whole-run cursor per list (each ordered by agency) on a read-only connection, so
//! memory stays the size of one row whatever the run's size.

use std::collections::BTreeMap;

use super::ReportError;
use super::build::Texts;
use super::i18n::Lang;
use super::model::*;
use crate::store::Store;
use crate::store::reading::{ReportRow, RowCursor, RowKind};

/// One row handed to a writer.
pub enum Row<'a> {
    Finding(&'a FindingView),
    Unassessed(&'a UnassessedView),
}

pub type Sink<'s> = dyn FnMut(Row<'_>) -> Result<(), ReportError> + 's;

/// Rows of one agency's list, in report order.
pub trait RowSource {
    fn each(
        &mut self,
        agency: &AgencyReport,
        kind: RowKind,
        sink: &mut Sink<'_>,
    ) -> Result<(), ReportError>;
}

/// The lists of the report itself.
struct InData;

impl RowSource for InData {
    fn each(
        &mut self,
        agency: &AgencyReport,
        kind: RowKind,
        sink: &mut Sink<'_>,
    ) -> Result<(), ReportError> {
        match kind {
            RowKind::Failing => agency
                .findings
                .iter()
                .try_for_each(|f| sink(Row::Finding(f))),
            RowKind::Waived => agency.waived.iter().try_for_each(|f| sink(Row::Finding(f))),
            RowKind::Resolved => agency
                .resolved
                .iter()
                .try_for_each(|f| sink(Row::Finding(f))),
            RowKind::Unverified => agency
                .unverified_findings
                .iter()
                .try_for_each(|f| sink(Row::Finding(f))),
            RowKind::Withdrawn => agency
                .withdrawn_findings
                .iter()
                .try_for_each(|f| sink(Row::Finding(f))),
            RowKind::Unassessed => agency
                .could_not_assess
                .iter()
                .try_for_each(|u| sink(Row::Unassessed(u))),
        }
    }
}

fn store_err(e: crate::store::StoreError) -> ReportError {
    ReportError::Store(e.to_string())
}

/// A cursor with one row of look-ahead (the first row of the next agency).
struct Peeked<'q, 'c> {
    cursor: RowCursor<'q, 'c>,
    ahead: Option<ReportRow>,
}

impl Peeked<'_, '_> {
    /// The next row of `agency`, skipping rows of agencies before it; `None` at its end.
    fn next_of(&mut self, agency: &str) -> Result<Option<ReportRow>, ReportError> {
        loop {
            let row = match self.ahead.take() {
                Some(r) => r,
                None => match self.cursor.next_row().map_err(store_err)? {
                    Some(r) => r,
                    None => return Ok(None),
                },
            };
            match row.record.agency_id.as_str().cmp(agency) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Greater => {
                    self.ahead = Some(row);
                    return Ok(None);
                }
                std::cmp::Ordering::Equal => {
                    let mut row = row;
                    self.cursor.evidence(&mut row).map_err(store_err)?;
                    return Ok(Some(row));
                }
            }
        }
    }
}

struct FromStore<'q, 'c> {
    lang: Lang,
    rules: &'q BTreeMap<String, RuleInfo>,
    cursors: BTreeMap<RowKindKey, Peeked<'q, 'c>>,
}

type RowKindKey = u8;

fn key(kind: RowKind) -> RowKindKey {
    match kind {
        RowKind::Failing => 0,
        RowKind::Waived => 1,
        RowKind::Unassessed => 2,
        RowKind::Resolved => 3,
        RowKind::Unverified => 4,
        RowKind::Withdrawn => 5,
    }
}

impl FromStore<'_, '_> {
    fn texts(&self) -> Texts<'_> {
        Texts {
            lang: self.lang,
            rules: self.rules,
        }
    }

    fn view(&self, row: ReportRow, state: FindingState) -> FindingView {
        self.texts().view(row.record, state)
    }

    fn unassessed(&self, row: ReportRow) -> UnassessedView {
        self.texts().unassessed(row.record)
    }
}

impl RowSource for FromStore<'_, '_> {
    fn each(
        &mut self,
        agency: &AgencyReport,
        kind: RowKind,
        sink: &mut Sink<'_>,
    ) -> Result<(), ReportError> {
        let id = agency.facts.id.as_str();
        let mut pending: Option<UnassessedView> = None;
        loop {
            let Some(cur) = self.cursors.get_mut(&key(kind)) else {
                return Ok(());
            };
            let Some(row) = cur.next_of(id)? else { break };
            match kind {
                RowKind::Unassessed => {
                    let u = self.unassessed(row);
                    // One line per subject and reason (rows come sorted by them).
                    match &mut pending {
                        Some(p)
                            if p.record.subject == u.record.subject
                                && p.record.reason == u.record.reason =>
                        {
                            p.rules.extend(u.rules);
                        }
                        _ => {
                            if let Some(p) = pending.replace(u) {
                                sink(Row::Unassessed(&p))?;
                            }
                        }
                    }
                }
                _ => {
                    let state = match (kind, row.state.as_str()) {
                        (RowKind::Resolved, _) => FindingState::Resolved,
                        (RowKind::Unverified, _) => FindingState::Unverified,
                        (RowKind::Withdrawn, _) => FindingState::Withdrawn,
                        (_, "persisting") => FindingState::Persisting,
                        (_, "regressed") => FindingState::Regressed,
                        _ => FindingState::New,
                    };
                    let v = self.view(row, state);
                    sink(Row::Finding(&v))?;
                }
            }
        }
        if let Some(p) = pending {
            sink(Row::Unassessed(&p))?;
        }
        Ok(())
    }
}

/// Run `f` with the source of `data`'s complete rows.
pub fn with_rows<T>(
    data: &ReportData,
    f: impl FnOnce(&mut dyn RowSource) -> Result<T, ReportError>,
) -> Result<T, ReportError> {
    let RowsAt::Database {
        path,
        run_id,
        rules,
    } = &data.rows
    else {
        return f(&mut InData);
    };
    let store = Store::open_read_only(path).map_err(store_err)?;
    let kinds = [
        RowKind::Failing,
        RowKind::Waived,
        RowKind::Unassessed,
        RowKind::Resolved,
        RowKind::Unverified,
        RowKind::Withdrawn,
    ];
    let mut queries = Vec::with_capacity(kinds.len());
    for kind in kinds {
        queries.push((
            kind,
            store.report_rows(*run_id, kind, 0).map_err(store_err)?,
        ));
    }
    let mut cursors = BTreeMap::new();
    for (kind, q) in &mut queries {
        cursors.insert(
            key(*kind),
            Peeked {
                cursor: q.cursor().map_err(store_err)?,
                ahead: None,
            },
        );
    }
    let mut src = FromStore {
        lang: data.lang,
        rules,
        cursors,
    };
    f(&mut src)
}
