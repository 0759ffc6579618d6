//! Finishing a run: findings stored (agency by agency while the run goes on), then lifecycle
//! states computed against every earlier complete run of overlapping scope and the digest
//! chained — one transaction, set-based SQL over the stored rows.

use std::collections::{HashMap, HashSet};

use rusqlite::{Transaction, params};
use serde::{Deserialize, Serialize};

use super::{FindingRecord, Result, Store, StoreError, chain, now};

/// What changed in a run, by finding fingerprint. `new`, `persisting` and `regressed` list
/// waived failures too: the counts every output prints are the report's totals (unwaived).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDiff {
    pub new: Vec<String>,
    pub persisting: Vec<String>,
    pub regressed: Vec<String>,
    pub resolved: Vec<String>,
    /// Open findings this run could not re-check (their subject was not assessed, or the
    /// rule could not assess it): not known to be fixed, so never resolved.
    #[serde(default)]
    pub unverified: Vec<String>,
    /// Open findings of services that left their agency's listing, read completely by this
    /// run ("không còn trong danh mục / no longer listed"): closed, not fixed, no longer
    /// counted (state `withdrawn`). A service listed again with the defect is persisting.
    #[serde(default)]
    pub withdrawn: Vec<String>,
}

/// One point of an agency's trend: the same SQL aggregates as the run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrendPoint {
    pub run_id: i64,
    pub mode: String,
    pub started_at: String,
    /// Failing, unwaived findings of every severity.
    pub fails: i64,
    /// Of `fails`, the violations (info items aside): what the report's "Vi phạm" counts.
    #[serde(default)]
    pub violations: i64,
    pub could_not_assess: i64,
    /// Services (read or not).
    pub services: i64,
    /// Services read: the denominator of the shares.
    #[serde(default)]
    pub services_read: i64,
    pub full_services: i64,
    pub full_with_vgca: i64,
    pub level_published: i64,
    /// Read services whose level / signature the profile cannot observe: shares are then
    /// not measured (see `ServiceCounts::vgca_share`).
    #[serde(default)]
    pub level_unobserved: i64,
    #[serde(default)]
    pub signature_unobserved: i64,
    /// The run read something of this agency, and not a sample of it. A point that is not
    /// measured is no 0% and no 100%: it is "not measured".
    #[serde(default = "measured_default")]
    pub measured: bool,
}

fn measured_default() -> bool {
    true
}

/// The version of how a trend point is computed from a run's rows ([`Store::service_counts`],
/// [`Store::outcome_counts`], [`Store::coverage`] and the `measured` rule below). Points kept
/// in `trend_points` under another value are computed again: **bump it whenever any of these
/// changes meaning**.
pub const TREND_CALC: i64 = 1;

/// One agency's point of run `r`, from the run's aggregates.
fn trend_point(
    r: &super::RunRow,
    agency: &str,
    services: &std::collections::BTreeMap<String, super::reading::ServiceCounts>,
    outcomes: &std::collections::BTreeMap<String, (i64, i64, i64)>,
    coverage: &std::collections::BTreeMap<String, crate::facts::Coverage>,
) -> TrendPoint {
    let s = services.get(agency).copied().unwrap_or_default();
    let (fails, violations, cna) = outcomes.get(agency).copied().unwrap_or_default();
    // Runs before coverage was recorded: measured when a service was stored.
    // A sampled run read a sample, not the agency: its shares are no point of the
    // agency's trend (a delta against a full run would compare unlike things).
    let sampled = r.scope.services.is_some()
        || coverage
            .get(agency)
            .is_some_and(|c| c.truncated.iter().any(|t| t.bound == "sample"));
    let measured = !sampled && coverage.get(agency).map_or(s.read > 0, |c| c.read > 0);
    TrendPoint {
        run_id: r.id,
        mode: r.mode.clone(),
        started_at: r.started_at.clone(),
        fails,
        violations,
        could_not_assess: cna,
        services: s.services,
        services_read: s.read,
        full_services: s.full,
        full_with_vgca: s.full_with_vgca,
        level_published: s.level_published,
        level_unobserved: s.level_unobserved,
        signature_unobserved: s.signature_unobserved,
        measured,
    }
}

impl TrendPoint {
    /// Share of read full-process services with VGCA signature support; `None` when not
    /// measured or when no full-process service was read.
    pub fn signature_share(&self) -> Option<f64> {
        (self.measured
            && self.full_services > 0
            && self.level_unobserved == 0
            && self.signature_unobserved == 0)
            .then(|| self.full_with_vgca as f64 / self.full_services as f64)
    }

    /// Share of read services publishing their level; `None` when nothing was read.
    pub fn level_share(&self) -> Option<f64> {
        (self.measured && self.services_read > 0 && self.level_unobserved == 0)
            .then(|| self.level_published as f64 / self.services_read as f64)
    }
}

struct OpenRow {
    fingerprint: String,
    scope: String,
    agency_id: String,
    subject: String,
    /// The run's could-not-assess reason for this very finding, if the rule could not judge.
    unassessable: Option<String>,
    /// The subject's facts were read in this run.
    assessed: bool,
    rule_id: String,
    /// This run judged the rule not applicable to the subject, and recorded why that is no
    /// evidence of a fix: failing rules masking it (comma-separated), or '' (see `rule_changed`).
    not_applicable: Option<String>,
    /// The rule's definition or the parameters it reads differ from those of the run in which
    /// the finding last failed (both runs recorded them).
    rule_changed: bool,
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

    /// Record the rules a run evaluates, each with its judgement key
    /// ([`crate::rules::RuleSet::judgement_keys`]): an open finding whose rule is not among them
    /// is never resolved by the run. A run that records none (a tool, a run stored before
    /// schema 9) is taken to have evaluated every rule.
    pub fn record_rules(&mut self, run: i64, rules: &[(String, String)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO run_rules (run_id, rule_id, judged_key) VALUES (?1, ?2, ?3)",
            )?;
            for (id, key) in rules {
                st.execute(params![run, id, key])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Rules of `run` whose judgement key differs from the key some earlier run recorded for
    /// them: their "not applicable" outcomes may come from the change, not from the facts.
    pub fn changed_rules(&self, run: i64) -> Result<HashSet<String>> {
        let mut st = self.conn.prepare_cached(
            "SELECT DISTINCT k.rule_id FROM run_rules k JOIN run_rules e ON e.rule_id = k.rule_id
             WHERE k.run_id = ?1 AND e.run_id < ?1 AND e.judged_key != k.judged_key",
        )?;
        let rows = st.query_map(params![run], |r| r.get::<_, String>(0))?;
        let mut out = HashSet::new();
        for r in rows {
            out.insert(r?);
        }
        Ok(out)
    }

    /// Those of `fingerprints` whose finding is open.
    pub fn open_among<'a>(
        &self,
        fingerprints: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashSet<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM lifecycle WHERE fingerprint = ?1 AND state = 'open'")?;
        let mut out = HashSet::new();
        for fp in fingerprints {
            if st.exists(params![fp])? {
                out.insert(fp.to_string());
            }
        }
        Ok(out)
    }

    /// Open findings a running run judged not applicable, with the failing rules on the same
    /// subject that mask them ('' when none): the lifecycle does not read such a "not
    /// applicable" as a fix (see [`Store::complete_run`]).
    pub fn record_not_applicable(&mut self, run: i64, rows: &[(String, String)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO not_applicable (run_id, fingerprint, masked_by) VALUES (?1, ?2, ?3)",
            )?;
            for (fp, masked_by) in rows {
                st.execute(params![run, fp, masked_by])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Store findings (with evidence) of a running run, one transaction; the run stays
    /// `running` until [`Store::complete_run`]. A run records its findings agency by agency,
    /// so a national run never holds them all in memory. Storing a fingerprint twice keeps the
    /// last record.
    pub fn record_findings(&mut self, run: i64, findings: &[FindingRecord]) -> Result<()> {
        let tx = self.conn.transaction()?;
        insert_findings(&tx, &mut self.packer, run, findings)?;
        tx.commit()?;
        Ok(())
    }

    /// Compute the lifecycle of the run's stored findings against every earlier complete run
    /// of overlapping scope, chain the digest and mark the run complete — one transaction.
    /// Set-based SQL, so the cost does not depend on holding the findings in memory.
    pub fn complete_run(&mut self, run: i64) -> Result<RunDiff> {
        let scope = self.run(run)?.scope;
        // Agencies whose listing this run read completely (not a sample), each with whether
        // the listing's end is confirmed: `None` when the portal announced a total the listing
        // matched, else why it is not (see `withdrawn_service`). Without a total, "complete"
        // may be an early end no page said (a renamed pager link, an error inside the list).
        let listed_whole: HashMap<String, Option<&'static str>> = if scope.services.is_some() {
            HashMap::new()
        } else {
            self.coverage(run)?
                .into_iter()
                .filter(|(_, c)| c.complete())
                .map(|(a, c)| {
                    let seen = c.listed + c.excluded.values().sum::<i64>();
                    let end = match c.announced {
                        None => Some(UNCONFIRMED_NO_TOTAL),
                        Some(total) if total != seen => Some(UNCONFIRMED_TOTAL),
                        Some(_) => None,
                    };
                    (a, end)
                })
                .collect()
        };
        // Per agency: some page read in this run showed no code (keyed by its URL).
        let mut code_unread: HashMap<String, bool> = HashMap::new();
        let tx = self.conn.transaction()?;

        // Each failure's state, from the lifecycle as it stood before this run.
        // (Runs stored since schema 5 mark finding versions; `findings_rows` holds a row only
        // when a tool wrote one through the view.) States as codes: 1 new, 2 persisting,
        // 3 regressed.
        tx.execute(
            "UPDATE finding_marks SET state = COALESCE(
                 (SELECT CASE l.state WHEN 'resolved' THEN 3 ELSE 2 END
                  FROM finding_versions v JOIN lifecycle l ON l.fingerprint = v.fingerprint
                  WHERE v.id = finding_marks.version_id),
                 1)
             WHERE run_id = ?1
               AND (SELECT outcome FROM finding_versions WHERE id = finding_marks.version_id) = 'fail'",
            params![run],
        )?;
        tx.execute(
            "UPDATE findings_rows SET state = COALESCE(
                 (SELECT CASE l.state WHEN 'resolved' THEN 'regressed' ELSE 'persisting' END
                  FROM lifecycle l WHERE l.fingerprint = findings_rows.fingerprint),
                 'new')
             WHERE run_id = ?1 AND outcome = 'fail'",
            params![run],
        )?;
        tx.execute(
            "UPDATE lifecycle SET last_seen_run = ?1, state = 'open', resolved_run = NULL
             WHERE fingerprint IN (SELECT fingerprint FROM findings WHERE run_id = ?1 AND state = 'persisting')",
            params![run],
        )?;
        tx.execute(
            "UPDATE lifecycle SET state = 'open', last_seen_run = ?1, resolved_run = NULL,
                 times_regressed = times_regressed + 1
             WHERE fingerprint IN (SELECT fingerprint FROM findings WHERE run_id = ?1 AND state = 'regressed')",
            params![run],
        )?;
        // In key order: the lifecycle is keyed by fingerprint alone (schema 6), and rows added
        // in key order fill their pages (a first run adds every row at once).
        tx.execute(
            "INSERT INTO lifecycle (fingerprint, rule_id, scope, agency_id, subject, state, first_seen_run, last_seen_run)
             SELECT fingerprint, rule_id, scope, agency_id, subject, 'open', ?1, ?1
             FROM findings WHERE run_id = ?1 AND state = 'new'
             ORDER BY fingerprint",
            params![run],
        )?;

        // Open findings this run did not see failing: resolved only when their subject was
        // assessed (its facts read) and the rule did not fail to assess it; otherwise
        // unverified, still open, for the next run that assesses them to decide. An outage is
        // never a verdict.
        let agencies: HashSet<&str> = scope.agencies.iter().map(String::as_str).collect();
        let sampled: Option<HashSet<&str>> = scope
            .services
            .as_ref()
            .map(|s| s.iter().map(String::as_str).collect());
        // A rule this run did not evaluate (renamed, removed, outside `rules.dirs`) says
        // nothing of its findings. A run that recorded no rules is taken to have evaluated all.
        let evaluated: HashSet<String> = {
            let mut st = tx.prepare_cached("SELECT rule_id FROM run_rules WHERE run_id = ?1")?;
            let ids = st.query_map(params![run], |r| r.get::<_, String>(0))?;
            ids.collect::<std::result::Result<_, _>>()?
        };
        let mut resolved = Vec::new();
        let mut unverified = Vec::new();
        let mut withdrawn = Vec::new();
        for row in unseen_open_rows(&tx, run)? {
            if !in_scope(&agencies, sampled.as_ref(), &row) {
                continue;
            }
            if !evaluated.is_empty() && !evaluated.contains(&row.rule_id) {
                unverified.push((row.fingerprint, "rule_not_evaluated".to_string()));
                continue;
            }
            match (&row.unassessable, row.assessed) {
                (None, true) => match (&row.not_applicable, row.rule_changed) {
                    // A worse defect on the same subject makes the rule not applicable: the
                    // lesser defect was not re-checked.
                    (Some(masked), _) if !masked.is_empty() => {
                        unverified.push((row.fingerprint, format!("masked_by:{masked}")));
                    }
                    // Not applicable under a rule or parameters changed since it last failed:
                    // the operator's change, not the facts.
                    (Some(_), true) => {
                        unverified.push((row.fingerprint, "rule_changed".to_string()));
                    }
                    _ => resolved.push(row.fingerprint),
                },
                (Some(reason), _) => unverified.push((row.fingerprint, reason.clone())),
                (None, false) => {
                    match withdrawn_service(&tx, run, &listed_whole, &mut code_unread, &row)? {
                        Absence::Withdrawn => withdrawn.push(row.fingerprint),
                        Absence::Unconfirmed(why) => {
                            unverified.push((row.fingerprint, why.to_string()));
                        }
                        Absence::NotAbsent => {
                            let reason = not_assessed_reason(&tx, run, &row)?;
                            unverified.push((row.fingerprint, reason));
                        }
                    }
                }
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
            let mut unv = tx.prepare_cached(
                "INSERT OR REPLACE INTO unverified (run_id, fingerprint, reason) VALUES (?1, ?2, ?3)",
            )?;
            for (fp, reason) in &unverified {
                unv.execute(params![run, fp, reason])?;
            }
            let mut wd = tx.prepare_cached(
                "UPDATE lifecycle SET state = 'withdrawn', resolved_run = ?2 WHERE fingerprint = ?1",
            )?;
            let mut wins =
                tx.prepare_cached("INSERT INTO withdrawals (run_id, fingerprint) VALUES (?1, ?2)")?;
            for fp in &withdrawn {
                wd.execute(params![fp, run])?;
                wins.execute(params![run, fp])?;
            }
        }

        super::cas::fold_marks(&tx, run)?;
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
        let mut st = self.conn.prepare_cached(
            "SELECT fingerprint FROM unverified WHERE run_id = ?1 ORDER BY fingerprint",
        )?;
        for fp in st.query_map(params![run], |r| r.get::<_, String>(0))? {
            diff.unverified.push(fp?);
        }
        let mut st = self.conn.prepare_cached(
            "SELECT fingerprint FROM withdrawals WHERE run_id = ?1 ORDER BY fingerprint",
        )?;
        for fp in st.query_map(params![run], |r| r.get::<_, String>(0))? {
            diff.withdrawn.push(fp?);
        }
        Ok(diff)
    }

    /// Findings a run withdrew (their service left a completely read listing), per agency.
    pub fn withdrawn_counts(&self, run: i64) -> Result<std::collections::BTreeMap<String, i64>> {
        let mut st = self.conn.prepare_cached(
            "SELECT l.agency_id, COUNT(*) FROM withdrawals w JOIN lifecycle l ON l.fingerprint = w.fingerprint
             WHERE w.run_id = ?1 GROUP BY l.agency_id",
        )?;
        let rows = st.query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Why each finding a run left unverified was not re-checked (`fingerprint → reason`):
    /// a could-not-assess reason, `not_assessed`, `rule_not_evaluated`, `rule_changed`,
    /// `masked_by:RULE,...` or `absence_unconfirmed:...` (see [`UNCONFIRMED_NO_TOTAL`]).
    pub fn unverified_reasons(
        &self,
        run: i64,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT fingerprint, reason FROM unverified WHERE run_id = ?1")?;
        let rows = st.query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (fp, reason): (String, String) = row?;
            out.insert(fp, reason);
        }
        Ok(out)
    }

    /// New, persisting and regressed failures of a run that no waiver covers: the counts
    /// the reports print ([`RunDiff`] lists every failing fingerprint, waived or not).
    pub fn unwaived_states(&self, run: i64) -> Result<(i64, i64, i64)> {
        let mut st = self.conn.prepare_cached(
            "SELECT state, COUNT(*) FROM findings
             WHERE run_id = ?1 AND outcome = 'fail' AND waiver = '' GROUP BY state",
        )?;
        let rows = st.query_map(params![run], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let (mut new, mut persisting, mut regressed) = (0, 0, 0);
        for row in rows {
            match row? {
                (s, n) if s == "persisting" => persisting += n,
                (s, n) if s == "regressed" => regressed += n,
                // A row without a state reads as new (as the report reads it).
                (_, n) => new += n,
            }
        }
        Ok((new, persisting, regressed))
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
        Ok(self
            .trends(&[agency], usize::MAX)?
            .remove(agency)
            .unwrap_or_default())
    }

    /// Trend points of each agency over the last `max` complete runs covering it, oldest
    /// first: per run the same aggregates the report prints ([`Store::service_counts`],
    /// [`Store::outcome_counts`], [`Store::coverage`]), one pass per run involved.
    pub fn trends(
        &self,
        agencies: &[&str],
        max: usize,
    ) -> Result<std::collections::BTreeMap<String, Vec<TrendPoint>>> {
        self.trends_until(agencies, max, i64::MAX)
    }

    /// [`Store::trends`] as of run `until`: later runs left out, so a report of an older run
    /// (`dvc-audit report --run N`) shows the trend its run showed.
    pub fn trends_until(
        &self,
        agencies: &[&str],
        max: usize,
        until: i64,
    ) -> Result<std::collections::BTreeMap<String, Vec<TrendPoint>>> {
        use std::collections::{BTreeMap, BTreeSet};
        let runs: Vec<super::RunRow> = self
            .runs(usize::MAX >> 1)?
            .into_iter()
            .filter(|r| r.status == "complete" && r.id <= until)
            .collect(); // newest first
        let mut wanted: BTreeMap<&str, Vec<&super::RunRow>> = BTreeMap::new();
        for id in agencies {
            let mine: Vec<&super::RunRow> = runs
                .iter()
                .filter(|r| r.scope.agencies.iter().any(|a| a == id))
                .take(max)
                .collect();
            wanted.insert(id, mine);
        }
        // Which agencies want each run's point.
        let mut by_run: BTreeMap<i64, (&super::RunRow, BTreeSet<&str>)> = BTreeMap::new();
        for (agency, runs) in &wanted {
            for r in runs {
                by_run
                    .entry(r.id)
                    .or_insert_with(|| (r, BTreeSet::new()))
                    .1
                    .insert(agency);
            }
        }
        // A complete run's rows never change, so its points are computed once and kept in
        // `trend_points` (schema 10): recomputing the aggregates of each of the last `max`
        // runs cost every report about a second per run of history on a national world
        // (BENCHMARKS "Sessions 13–14").
        let mut points_of: HashMap<(i64, &str), TrendPoint> = HashMap::new();
        for (id, (r, agencies)) in &by_run {
            let mut missing: Vec<&str> = Vec::new();
            for agency in agencies {
                match self.cached_point(*id, agency)? {
                    Some(p) => {
                        points_of.insert((*id, agency), p);
                    }
                    None => missing.push(agency),
                }
            }
            if missing.is_empty() {
                continue;
            }
            let services = self.service_counts(*id)?;
            let outcomes = self.outcome_counts(*id)?;
            let coverage = self.coverage(*id)?;
            for agency in missing {
                let p = trend_point(r, agency, &services, &outcomes, &coverage);
                self.keep_point(&p, agency);
                points_of.insert((*id, agency), p);
            }
        }
        let mut out = BTreeMap::new();
        for (agency, runs) in wanted {
            let mut points = Vec::with_capacity(runs.len());
            for r in runs.into_iter().rev() {
                if let Some(p) = points_of.remove(&(r.id, agency)) {
                    points.push(p);
                }
            }
            out.insert(agency.to_string(), points);
        }
        Ok(out)
    }

    /// The kept trend point of a complete run and agency, when computed by this
    /// [`TREND_CALC`]. A point that no longer parses is recomputed.
    fn cached_point(&self, run: i64, agency: &str) -> Result<Option<TrendPoint>> {
        use rusqlite::OptionalExtension;
        let text: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT point FROM trend_points WHERE run_id = ?1 AND agency_id = ?2 AND calc = ?3",
            )?
            .query_row(params![run, agency, TREND_CALC], |r| r.get(0))
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Keep a computed trend point. A store opened read-only (or busy) keeps nothing: the
    /// point is then computed again next time, which is slower and never wrong.
    fn keep_point(&self, p: &TrendPoint, agency: &str) {
        let Ok(text) = serde_json::to_string(p) else {
            return;
        };
        let kept = self
            .conn
            .prepare_cached(
                "INSERT OR REPLACE INTO trend_points (run_id, agency_id, calc, point)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut st| st.execute(params![p.run_id, agency, TREND_CALC, text]));
        if let Err(e) = kept {
            tracing::debug!(run = p.run_id, agency, error = %e, "trend point not kept");
        }
    }

    /// Findings of a run as stored (with evidence), ordered by fingerprint.
    pub fn findings(&self, run: i64) -> Result<Vec<FindingRecord>> {
        chain::load_findings(&self.conn, run)
    }
}

fn insert_findings(
    tx: &Transaction<'_>,
    packer: &mut super::pack::Packer,
    run: i64,
    findings: &[FindingRecord],
) -> Result<()> {
    use super::cas;
    let started: String = tx.query_row(
        "SELECT started_at FROM runs WHERE id = ?1",
        params![run],
        |r| r.get(0),
    )?;
    // Messages name the service and its portal: the dictionary of the evidence's host (or of
    // the subject, for a host finding) compresses them best.
    let dict_of = |f: &FindingRecord| -> Option<String> {
        f.evidence
            .first()
            .filter(|e| !e.url.is_empty())
            .map(|e| cas::dict_key(cas::Kind::Message, &e.url))
    };
    packer.prepare_all(
        tx,
        findings.iter().flat_map(|f| {
            dict_of(f).into_iter().flat_map(move |k| {
                [
                    (k.clone(), f.message_vi.as_str()),
                    (k, f.message_en.as_str()),
                ]
            })
        }),
    )?;
    for f in findings {
        let dict = dict_of(f);
        let excerpts: Vec<String> = f
            .evidence
            .iter()
            .map(|e| crate::facts::excerpt(&e.excerpt))
            .collect();
        let evidence: Vec<cas::EvidenceRow<'_>> = f
            .evidence
            .iter()
            .zip(&excerpts)
            .map(|(e, excerpt)| cas::EvidenceRow {
                url: &e.url,
                fetched_at: &e.fetched_at,
                status: e.status,
                content_hash: &e.content_hash,
                locator: &e.locator,
                excerpt,
            })
            .collect();
        let read = match (
            f.scope.as_str(),
            f.subject.strip_prefix(&format!("{}/", f.agency_id)),
        ) {
            ("service", Some(key)) => cas::service_read(tx, run, &f.agency_id, key)?,
            _ => None,
        };
        cas::put_finding(
            tx,
            packer,
            (run, &started),
            &cas::FindingRow {
                fingerprint: &f.fingerprint,
                rule_id: &f.rule_id,
                severity: &f.severity,
                scope: &f.scope,
                agency_id: &f.agency_id,
                subject: &f.subject,
                outcome: &f.outcome,
                reason: &f.reason,
                message_vi: &f.message_vi,
                message_en: &f.message_en,
                waiver: &f.waiver,
            },
            &evidence,
            dict.as_deref(),
            read.as_ref(),
        )?;
    }
    Ok(())
}

/// Open lifecycle rows with no failing finding in `run`, with what the run knew of them.
fn unseen_open_rows(tx: &Transaction<'_>, run: i64) -> Result<Vec<OpenRow>> {
    let mut st = tx.prepare_cached(
        "SELECT l.fingerprint, l.scope, l.agency_id, l.subject,
                (SELECT f.reason FROM findings f WHERE f.run_id = ?1 AND f.fingerprint = l.fingerprint
                   AND f.outcome = 'could_not_assess'),
                EXISTS (SELECT 1 FROM assessed a WHERE a.run_id = ?1 AND a.scope = l.scope
                          AND a.subject = l.subject)
                OR (l.scope = 'service' AND EXISTS (
                    SELECT 1 FROM service_versions v JOIN service_reads r ON r.version_id = v.id
                    WHERE v.agency_id = l.agency_id
                      AND v.service_key = substr(l.subject, length(l.agency_id) + 2)
                      AND l.subject = v.agency_id || '/' || v.service_key
                      AND v.unread = '' AND r.run_id = ?1)),
                l.rule_id,
                (SELECT n.masked_by FROM not_applicable n WHERE n.run_id = ?1 AND n.fingerprint = l.fingerprint),
                COALESCE((SELECT then_.judged_key != now_.judged_key
                          FROM run_rules then_ JOIN run_rules now_ ON now_.rule_id = then_.rule_id
                          WHERE then_.run_id = l.last_seen_run AND then_.rule_id = l.rule_id
                            AND now_.run_id = ?1), 0)
         FROM lifecycle l
         WHERE l.state = 'open'
           AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.run_id = ?1 AND f.fingerprint = l.fingerprint
                             AND f.outcome = 'fail')
         ORDER BY l.fingerprint",
    )?;
    let rows = st.query_map(params![run], |r| {
        Ok(OpenRow {
            fingerprint: r.get(0)?,
            scope: r.get(1)?,
            agency_id: r.get(2)?,
            subject: r.get(3)?,
            unassessable: r.get(4)?,
            assessed: r.get(5)?,
            rule_id: r.get(6)?,
            not_applicable: r.get(7)?,
            rule_changed: r.get(8)?,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
    }
    Ok(out)
}

/// Unverified reasons of a service absent from a completely read listing whose absence is
/// not confirmed: the portal announced no total ([`UNCONFIRMED_NO_TOTAL`]) or one the listing
/// did not match ([`UNCONFIRMED_TOTAL`]); a page read in the run showed no code, so identities
/// are not reliable ([`UNCONFIRMED_CODE`]).
pub const UNCONFIRMED_NO_TOTAL: &str = "absence_unconfirmed:no_total";
pub const UNCONFIRMED_TOTAL: &str = "absence_unconfirmed:total_mismatch";
pub const UNCONFIRMED_CODE: &str = "absence_unconfirmed:code_unread";

/// What a run knows of an open service finding's subject that it did not assess.
enum Absence {
    /// Not a service absent from a completely read listing: unverified for the usual reason.
    NotAbsent,
    /// Absent, and the run has positive evidence the service is gone.
    Withdrawn,
    /// Absent, but the run cannot confirm the service is gone (why).
    Unconfirmed(&'static str),
}

/// A service finding whose agency's listing `run` read completely (`listed_whole`) while the
/// service was not in it at all (neither read nor unread). It is withdrawn ("no longer
/// listed": the service left the portal's catalogue) only on positive evidence, all of:
/// - the portal announced a total and the listing matched it (listed + excluded == announced):
///   otherwise the listing's end is not confirmed (most profiles read no total, and a renamed
///   pager link, an error drawn inside the list or an API saying "last" too soon all end a
///   walk normally);
/// - every service page read for the agency in this run showed its code: a page read without
///   one is keyed by its URL, so code-keyed subjects look absent when their page was read.
///
/// A subject whose page is still listed under another code (the portal renumbered the
/// service, or a profile fix now reads its code) is withdrawn too: that identity is gone, and
/// the page is judged under its new one (a defect still there is that identity's finding).
/// Keeping the old one unverified would count one defect twice, for ever (its key is never
/// read again), and finding it meant a search through the agency's stored pages per finding.
///
/// Otherwise the finding stays unverified with the reason it could not be confirmed gone.
fn withdrawn_service(
    tx: &Transaction<'_>,
    run: i64,
    listed_whole: &HashMap<String, Option<&'static str>>,
    code_unread: &mut HashMap<String, bool>,
    row: &OpenRow,
) -> Result<Absence> {
    if row.scope != "service" {
        return Ok(Absence::NotAbsent);
    }
    let Some(end) = listed_whole.get(&row.agency_id) else {
        return Ok(Absence::NotAbsent);
    };
    let Some(key) = row.subject.strip_prefix(&format!("{}/", row.agency_id)) else {
        return Ok(Absence::NotAbsent);
    };
    let present: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM service_versions v
                        WHERE v.agency_id = ?2 AND v.service_key = ?3
                          AND (EXISTS (SELECT 1 FROM service_reads r WHERE r.version_id = v.id AND r.run_id = ?1)
                               OR EXISTS (SELECT 1 FROM service_runs r WHERE r.version_id = v.id AND r.run_id = ?1)))",
        params![run, row.agency_id, key],
        |r| r.get(0),
    )?;
    if present {
        return Ok(Absence::NotAbsent);
    }
    if let Some(why) = end {
        return Ok(Absence::Unconfirmed(why));
    }
    let unread = match code_unread.get(&row.agency_id) {
        Some(b) => *b,
        None => {
            let b: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM service_versions v
                                WHERE v.agency_id = ?2 AND v.service_key = v.url AND v.unread = ''
                                  AND (EXISTS (SELECT 1 FROM service_reads r WHERE r.version_id = v.id AND r.run_id = ?1)
                                       OR EXISTS (SELECT 1 FROM service_runs r WHERE r.version_id = v.id AND r.run_id = ?1)))",
                params![run, row.agency_id],
                |r| r.get(0),
            )?;
            code_unread.insert(row.agency_id.clone(), b);
            b
        }
    };
    if unread {
        return Ok(Absence::Unconfirmed(UNCONFIRMED_CODE));
    }
    Ok(Absence::Withdrawn)
}

/// Why a run did not assess a subject, as precisely as it knows: the service page's read
/// error, the host's probe error, the agency's listing error, else `not_assessed`.
fn not_assessed_reason(tx: &Transaction<'_>, run: i64, row: &OpenRow) -> Result<String> {
    use rusqlite::OptionalExtension;
    let found: Option<String> = match row.scope.as_str() {
        "service" => {
            let key = row
                .subject
                .strip_prefix(&format!("{}/", row.agency_id))
                .unwrap_or(&row.subject);
            tx.query_row(
                "SELECT unread FROM service_facts WHERE run_id = ?1 AND agency_id = ?2
                   AND service_key = ?3 AND unread != ''",
                params![run, row.agency_id, key],
                |r| r.get(0),
            )
            .optional()?
        }
        "host" => tx
            .query_row(
                "SELECT json_extract(dvc_text(facts_json), '$.error.kind') FROM host_facts
                 WHERE run_id = ?1 AND host = ?2
                   AND json_extract(dvc_text(facts_json), '$.error.kind') IS NOT NULL
                 LIMIT 1",
                params![run, row.subject],
                |r| r.get(0),
            )
            .optional()?,
        _ => None,
    };
    if let Some(r) = found {
        return Ok(r);
    }
    let listing: Option<String> = tx
        .query_row(
            "SELECT listing_error FROM coverage WHERE run_id = ?1 AND agency_id = ?2 AND listing_error != ''",
            params![run, row.agency_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(listing.unwrap_or_else(|| "not_assessed".to_string()))
}
