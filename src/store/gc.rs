//! Retention (`gc`): old runs keep their findings, lifecycle and digest; the bulky rows
//! behind them (service facts, full fetch records, assessed subjects, the evidence of
//! findings no longer open) are removed, their hashes kept so `history verify` still holds.
//!
//! What `gc` removes from a complete run older than `storage.keep_runs_days` (never the newest
//! complete run, never a run whose digest is older than v3, whose digest covers every row):
//! - its assessed subjects, service-fact rows and full fetch records: their section hashes go
//!   to `pruned` (digest v3 is a hash of section hashes, so the run still verifies);
//! - the evidence of its findings that are resolved now, by a run also past the cutoff (the
//!   hash of each finding's evidence goes to `pruned_evidence`). The evidence of a finding
//!   still open is never removed, in any run; nor that of a finding a kept run resolved (that
//!   run's report lists it with this evidence). Findings, lifecycle, resolutions, coverage and fetch counts stay forever.
//!
//! An incomplete run older than the cutoff loses the same bulky rows (it is in no chain).
//! Service states, texts and evidence items no run references any more are then deleted.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, chain};

/// The time `days` days ago, RFC 3339 in UTC (how `runs.started_at` and `bodies.stored_at`
/// are stored, so it compares as text). A time before year 0 (`keep_days = 4000000`, meant as
/// "forever") is the empty text, which no stored time is before: nothing is removed.
pub(crate) fn days_ago(days: u32) -> String {
    time::OffsetDateTime::now_utc()
        .checked_sub(time::Duration::days(days.into()))
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// What one `gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Runs whose rows were pruned by this call.
    pub runs: usize,
    /// Old complete runs left whole because their digest (before v3) covers every row.
    pub runs_kept_whole: usize,
    pub service_rows: usize,
    pub fetch_rows: usize,
    pub assessed_rows: usize,
    pub evidence_rows: usize,
    /// Service states, texts and evidence items no run references any more.
    pub unreferenced: usize,
}

impl Store {
    /// Prune runs that started more than `keep_days` days ago; `0` keeps every run whole.
    pub fn prune_runs(&mut self, keep_days: u32) -> Result<PruneReport> {
        if keep_days == 0 {
            return Ok(PruneReport::default());
        }
        self.prune_runs_before(&days_ago(keep_days))
    }

    /// Complete runs that started more than `keep_days` days ago, the newest complete run
    /// aside: those whose report directories `gc` may remove (`report --run N` renders them
    /// again from the history). `0` keeps every run's reports.
    pub fn runs_with_removable_reports(&self, keep_days: u32) -> Result<Vec<i64>> {
        if keep_days == 0 {
            return Ok(Vec::new());
        }
        self.runs_with_removable_reports_before(&days_ago(keep_days))
    }

    /// [`Store::runs_with_removable_reports`] for runs whose `started_at` is before `cutoff`.
    pub fn runs_with_removable_reports_before(&self, cutoff: &str) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare(
            "SELECT id FROM runs WHERE status = 'complete' AND started_at < ?1
               AND id < (SELECT MAX(id) FROM runs WHERE status = 'complete')
             ORDER BY id",
        )?;
        let ids = st
            .query_map(params![cutoff], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(ids)
    }

    /// Prune runs whose `started_at` (RFC 3339, UTC) is before `cutoff` (see the module).
    pub fn prune_runs_before(&mut self, cutoff: &str) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        let newest: Option<i64> = self
            .conn
            .query_row(
                "SELECT MAX(id) FROM runs WHERE status = 'complete'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let runs: Vec<(i64, String, i64)> = {
            let mut st = self.conn.prepare(
                "SELECT id, status, digest_version FROM runs
                 WHERE started_at < ?1 AND status != 'running' AND id != ?2 ORDER BY id",
            )?;
            st.query_map(params![cutoff, newest.unwrap_or(-1)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<std::result::Result<_, _>>()?
        };
        // Later reports' trends show a pruned run's service counts: computed before the rows
        // go (read before the writing transaction opens).
        let mut counts = std::collections::BTreeMap::new();
        for (run, status, version) in &runs {
            if status == "complete" && *version >= 3 {
                counts.insert(*run, self.service_counts(*run)?);
            }
        }
        let tx = self.conn.transaction()?;
        let at = super::now();
        for (run, status, version) in runs {
            if let Some(run_counts) = counts.remove(&run) {
                for (agency, c) in run_counts {
                    tx.execute(
                        "INSERT OR IGNORE INTO pruned_service_counts
                             (run_id, agency_id, services, read, full, full_with_vgca, level_published,
                              level_unobserved, signature_unobserved)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![
                            run,
                            agency,
                            c.services,
                            c.read,
                            c.full,
                            c.full_with_vgca,
                            c.level_published,
                            c.level_unobserved,
                            c.signature_unobserved
                        ],
                    )?;
                }
            }
            let complete = status == "complete";
            if complete && version < 3 {
                report.runs_kept_whole += 1;
                continue;
            }
            let mut touched = false;
            for tag in chain::PRUNABLE {
                let done: bool = tx
                    .query_row(
                        "SELECT 1 FROM pruned WHERE run_id = ?1 AND section = ?2",
                        params![run, tag],
                        |_| Ok(true),
                    )
                    .optional()?
                    .unwrap_or(false);
                // Service reads of runs stored since schema 5 stay: about 17 bytes a service,
                // and the evidence of the run's findings takes its times from them.
                let reads: bool = tag == "S"
                    && tx.query_row(
                        "SELECT EXISTS (SELECT 1 FROM service_reads WHERE run_id = ?1)",
                        params![run],
                        |r| r.get(0),
                    )?;
                if done || reads {
                    continue;
                }
                if complete {
                    let (hash, rows) = chain::v3_section(&tx, run, tag)?;
                    tx.execute(
                        "INSERT INTO pruned (run_id, section, hash, rows, pruned_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![run, tag, hash, i64::try_from(rows).unwrap_or(i64::MAX), at],
                    )?;
                }
                let (sql, counter) = match tag {
                    "V" => (
                        "DELETE FROM assessed WHERE run_id = ?1",
                        &mut report.assessed_rows,
                    ),
                    "S" => (
                        "DELETE FROM service_runs WHERE run_id = ?1",
                        &mut report.service_rows,
                    ),
                    _ => (
                        "DELETE FROM fetches WHERE run_id = ?1",
                        &mut report.fetch_rows,
                    ),
                };
                *counter += tx.execute(sql, params![run])?;
                touched = true;
            }
            if complete {
                // Evidence of findings resolved by a run that is itself past the cutoff: an open
                // finding keeps its evidence, and so does one a kept run resolved (its report
                // lists it with the evidence of the run that last saw it).
                let fps: Vec<String> = {
                    let mut st = tx.prepare(
                        "SELECT f.fingerprint FROM findings f
                         JOIN lifecycle l ON l.fingerprint = f.fingerprint
                         WHERE f.run_id = ?1 AND l.state = 'resolved'
                           AND l.resolved_run IN (SELECT id FROM runs WHERE started_at < ?2)
                           AND NOT EXISTS (SELECT 1 FROM pruned_evidence p
                                           WHERE p.run_id = ?1 AND p.fingerprint = f.fingerprint)
                           AND (EXISTS (SELECT 1 FROM evidence_refs e
                                        WHERE e.run_id = ?1 AND e.fingerprint = f.fingerprint))
                         ORDER BY f.fingerprint",
                    )?;
                    st.query_map(params![run, cutoff], |r| r.get(0))?
                        .collect::<std::result::Result<_, _>>()?
                };
                for fp in fps {
                    let hash = chain::evidence_hash(&tx, run, &fp)?;
                    tx.execute(
                        "INSERT INTO pruned_evidence (run_id, fingerprint, hash) VALUES (?1, ?2, ?3)",
                        params![run, fp, hash],
                    )?;
                    report.evidence_rows += tx.execute(
                        "DELETE FROM evidence_refs WHERE run_id = ?1 AND fingerprint = ?2",
                        params![run, fp],
                    )?;
                    touched = true;
                }
            }
            if touched {
                report.runs += 1;
            }
        }
        // Set-based (`NOT IN` over one materialised list): the per-run tables are keyed by
        // run first, so a per-row `NOT EXISTS` would scan them once per state.
        report.unreferenced += tx.execute(
            "DELETE FROM service_versions WHERE id NOT IN
                 (SELECT version_id FROM service_runs UNION SELECT version_id FROM service_reads)",
            [],
        )?;
        report.unreferenced += tx.execute(
            "DELETE FROM texts WHERE id NOT IN
                 (SELECT facts_id FROM service_versions
                  UNION SELECT extraction_id FROM page_cache
                  UNION SELECT message_vi_id FROM finding_versions
                  UNION SELECT message_en_id FROM finding_versions)",
            [],
        )?;
        report.unreferenced += tx.execute(
            "DELETE FROM evidence_items WHERE id NOT IN
                 (SELECT item_id FROM evidence_refs UNION SELECT item_id FROM version_items)",
            [],
        )?;
        tx.commit()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_beyond_the_calendar_keeps_everything_instead_of_panicking() {
        let cutoff = days_ago(30);
        assert!(
            cutoff.starts_with("20") && cutoff.ends_with('Z'),
            "{cutoff}"
        );
        // 4 million days ago is before year 0 (outside RFC 3339); u32::MAX days is outside
        // any date. Both mean "keep everything": the empty cutoff precedes every time.
        assert_eq!(days_ago(4_000_000), "");
        assert_eq!(days_ago(u32::MAX), "");
        let mut store = Store::open_in_memory().expect("store");
        assert_eq!(
            store.prune_runs(u32::MAX).expect("prune"),
            PruneReport::default()
        );
        assert!(
            store
                .runs_with_removable_reports(u32::MAX)
                .expect("runs")
                .is_empty()
        );
        assert_eq!(store.gc(u32::MAX).expect("gc"), 0);
    }
}
