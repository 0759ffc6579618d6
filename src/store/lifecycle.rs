//! Finishing a run: findings stored (agency by agency while the run goes on), then lifecycle
//! states computed against every earlier complete run of overlapping scope and the digest
//! chained — one transaction, set-based SQL over the stored rows.

use std::collections::HashSet;

use rusqlite::{Transaction, params};
use serde::{Deserialize, Serialize};

use super::{FindingRecord, Result, Store, StoreError, chain, now};

/// What changed in a run, by finding fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDiff {
    pub new: Vec<String>,
    pub persisting: Vec<String>,
    pub regressed: Vec<String>,
    pub resolved: Vec<String>,
}

/// One point of an agency's trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub run_id: i64,
    pub mode: String,
    pub started_at: String,
    pub fails: i64,
    pub could_not_assess: i64,
    pub services: i64,
    pub full_services: i64,
    pub full_with_vgca: i64,
    pub level_published: i64,
}

impl TrendPoint {
    /// Share of full-process services with VGCA signature support (1.0 when there are none).
    pub fn signature_share(&self) -> f64 {
        if self.full_services == 0 {
            1.0
        } else {
            self.full_with_vgca as f64 / self.full_services as f64
        }
    }

    pub fn level_share(&self) -> f64 {
        if self.services == 0 {
            1.0
        } else {
            self.level_published as f64 / self.services as f64
        }
    }
}

struct OpenRow {
    fingerprint: String,
    scope: String,
    agency_id: String,
    subject: String,
}

fn in_scope(agencies: &HashSet<&str>, services: Option<&HashSet<&str>>, row: &OpenRow) -> bool {
    if !agencies.contains(row.agency_id.as_str()) {
        return false;
    }
    match services {
        None => true,
        Some(sampled) => match row.scope.as_str() {
            "service" => sampled.contains(row.subject.as_str()),
            "host" => true,
            // Aggregates over a sample say nothing about the whole agency.
            _ => false,
        },
    }
}

impl Store {
    /// Store a run's findings, compute the lifecycle and mark the run complete.
    pub fn finish_run(&mut self, run: i64, findings: &[FindingRecord]) -> Result<RunDiff> {
        self.record_findings(run, findings)?;
        self.complete_run(run)
    }

    /// Store findings (with evidence) of a running run, one transaction; the run stays
    /// `running` until [`Store::complete_run`]. A run records its findings agency by agency,
    /// so a national run never holds them all in memory. Storing a fingerprint twice keeps the
    /// last record.
    pub fn record_findings(&mut self, run: i64, findings: &[FindingRecord]) -> Result<()> {
        let tx = self.conn.transaction()?;
        insert_findings(&tx, run, findings)?;
        tx.commit()?;
        Ok(())
    }

    /// Compute the lifecycle of the run's stored findings against every earlier complete run
    /// of overlapping scope, chain the digest and mark the run complete — one transaction.
    /// Set-based SQL, so the cost does not depend on holding the findings in memory.
    pub fn complete_run(&mut self, run: i64) -> Result<RunDiff> {
        let scope = self.run(run)?.scope;
        let tx = self.conn.transaction()?;

        // Each failure's state, from the lifecycle as it stood before this run.
        tx.execute(
            "UPDATE findings SET state = COALESCE(
                 (SELECT CASE l.state WHEN 'open' THEN 'persisting' ELSE 'regressed' END
                  FROM lifecycle l WHERE l.fingerprint = findings.fingerprint),
                 'new')
             WHERE run_id = ?1 AND outcome = 'fail'",
            params![run],
        )?;
        tx.execute(
            "UPDATE lifecycle SET last_seen_run = ?1
             WHERE fingerprint IN (SELECT fingerprint FROM findings WHERE run_id = ?1 AND state = 'persisting')",
            params![run],
        )?;
        tx.execute(
            "UPDATE lifecycle SET state = 'open', last_seen_run = ?1, resolved_run = NULL,
                 times_regressed = times_regressed + 1
             WHERE fingerprint IN (SELECT fingerprint FROM findings WHERE run_id = ?1 AND state = 'regressed')",
            params![run],
        )?;
        tx.execute(
            "INSERT INTO lifecycle (fingerprint, rule_id, scope, agency_id, subject, state, first_seen_run, last_seen_run)
             SELECT fingerprint, rule_id, scope, agency_id, subject, 'open', ?1, ?1
             FROM findings WHERE run_id = ?1 AND state = 'new'",
            params![run],
        )?;

        // Open findings this run did not see (neither failing nor unassessable) are resolved
        // when the run's scope covered them.
        let agencies: HashSet<&str> = scope.agencies.iter().map(String::as_str).collect();
        let sampled: Option<HashSet<&str>> = scope
            .services
            .as_ref()
            .map(|s| s.iter().map(String::as_str).collect());
        let mut resolved = Vec::new();
        for row in unseen_open_rows(&tx, run)? {
            if in_scope(&agencies, sampled.as_ref(), &row) {
                resolved.push(row.fingerprint);
            }
        }
        {
            let mut upd = tx.prepare_cached(
                "UPDATE lifecycle SET state = 'resolved', resolved_run = ?2 WHERE fingerprint = ?1",
            )?;
            let mut ins =
                tx.prepare_cached("INSERT INTO resolutions (run_id, fingerprint) VALUES (?1, ?2)")?;
            for fp in &resolved {
                upd.execute(params![fp, run])?;
                ins.execute(params![run, fp])?;
            }
        }

        let prev = chain::previous_digest(&tx, run)?;
        let digest = chain::run_digest(&tx, run, &prev)?;
        let n = tx.execute(
            "UPDATE runs SET status = 'complete', ended_at = ?2, digest = ?3, prev_digest = ?4
             WHERE id = ?1 AND status = 'running'",
            params![run, now(), digest, prev],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchRun(run));
        }
        tx.commit()?;
        self.diff(run)
    }

    /// The lifecycle diff recorded for a complete run.
    pub fn diff(&self, run: i64) -> Result<RunDiff> {
        let mut diff = RunDiff::default();
        let mut st = self.conn.prepare_cached(
            "SELECT fingerprint, state FROM findings WHERE run_id = ?1 AND outcome = 'fail' ORDER BY fingerprint",
        )?;
        let rows = st.query_map(params![run], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (fp, state) = row?;
            match state.as_str() {
                "new" => diff.new.push(fp),
                "persisting" => diff.persisting.push(fp),
                "regressed" => diff.regressed.push(fp),
                _ => {}
            }
        }
        let mut st = self.conn.prepare_cached(
            "SELECT fingerprint FROM resolutions WHERE run_id = ?1 ORDER BY fingerprint",
        )?;
        for fp in st.query_map(params![run], |r| r.get::<_, String>(0))? {
            diff.resolved.push(fp?);
        }
        Ok(diff)
    }

    /// First and last complete run in which a finding was seen: (first, last, state).
    pub fn lifecycle_of(&self, fingerprint: &str) -> Result<Option<(i64, i64, String)>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                "SELECT first_seen_run, last_seen_run, state FROM lifecycle WHERE fingerprint = ?1",
                params![fingerprint],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// The trend of one agency over complete runs that covered it, oldest first.
    pub fn trend(&self, agency: &str) -> Result<Vec<TrendPoint>> {
        let mut st = self.conn.prepare_cached(
            "SELECT r.id, r.mode, r.started_at,
               (SELECT COUNT(*) FROM findings f WHERE f.run_id = r.id AND f.agency_id = ?1 AND f.outcome = 'fail' AND f.waiver = ''),
               (SELECT COUNT(*) FROM findings f WHERE f.run_id = r.id AND f.agency_id = ?1 AND f.outcome = 'could_not_assess'),
               (SELECT COUNT(*) FROM service_facts s WHERE s.run_id = r.id AND s.agency_id = ?1),
               (SELECT COUNT(*) FROM service_facts s WHERE s.run_id = r.id AND s.agency_id = ?1 AND s.level = 'full'),
               (SELECT COUNT(*) FROM service_facts s WHERE s.run_id = r.id AND s.agency_id = ?1 AND s.level = 'full'
                  AND EXISTS (SELECT 1 FROM json_each(s.facts_json, '$.signature.providers') WHERE value = 'vgca')),
               (SELECT COUNT(*) FROM service_facts s WHERE s.run_id = r.id AND s.agency_id = ?1 AND s.level != 'unknown')
             FROM runs r
             WHERE r.status = 'complete'
               AND EXISTS (SELECT 1 FROM json_each(r.scope_json, '$.agencies') WHERE value = ?1)
             ORDER BY r.id",
        )?;
        let rows = st.query_map(params![agency], |r| {
            Ok(TrendPoint {
                run_id: r.get(0)?,
                mode: r.get(1)?,
                started_at: r.get(2)?,
                fails: r.get(3)?,
                could_not_assess: r.get(4)?,
                services: r.get(5)?,
                full_services: r.get(6)?,
                full_with_vgca: r.get(7)?,
                level_published: r.get(8)?,
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    /// Findings of a run as stored (with evidence), ordered by fingerprint.
    pub fn findings(&self, run: i64) -> Result<Vec<FindingRecord>> {
        chain::load_findings(&self.conn, run)
    }
}

fn insert_findings(tx: &Transaction<'_>, run: i64, findings: &[FindingRecord]) -> Result<()> {
    let mut f_st = tx.prepare_cached(
        "INSERT OR REPLACE INTO findings (run_id, fingerprint, rule_id, severity, scope, agency_id, subject, outcome, reason, message_vi, message_en, waiver)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    let mut e_st = tx.prepare_cached(
        "INSERT INTO evidence (run_id, fingerprint, url, fetched_at, status, content_hash, locator, excerpt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for f in findings {
        f_st.execute(params![
            run,
            f.fingerprint,
            f.rule_id,
            f.severity,
            f.scope,
            f.agency_id,
            f.subject,
            f.outcome,
            f.reason,
            f.message_vi,
            f.message_en,
            f.waiver
        ])?;
        for e in &f.evidence {
            e_st.execute(params![
                run,
                f.fingerprint,
                e.url,
                e.fetched_at,
                e.status,
                e.content_hash,
                e.locator,
                crate::facts::excerpt(&e.excerpt)
            ])?;
        }
    }
    Ok(())
}

/// Open lifecycle rows with no finding (failing or unassessable) in `run`.
fn unseen_open_rows(tx: &Transaction<'_>, run: i64) -> Result<Vec<OpenRow>> {
    let mut st = tx.prepare_cached(
        "SELECT fingerprint, scope, agency_id, subject FROM lifecycle l
         WHERE state = 'open'
           AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.run_id = ?1 AND f.fingerprint = l.fingerprint)
         ORDER BY fingerprint",
    )?;
    let rows = st.query_map(params![run], |r| {
        Ok(OpenRow {
            fingerprint: r.get(0)?,
            scope: r.get(1)?,
            agency_id: r.get(2)?,
            subject: r.get(3)?,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
    }
    Ok(out)
}
