//! Read queries for reports over a finished run, shaped so the report stage stays bounded in
//! memory however many findings a run has:
//!
//! - counts are SQL aggregates (`GROUP BY`), never a loaded list: [`Store::service_counts`],
//!   [`Store::rule_counts`], [`Store::unassessed_counts`], [`Store::resolved_counts`];
//! - rows come through a cursor ([`ReportRows`]) in report order (agency, then most severe
//!   first, rule, subject), optionally keeping only the first `limit` rows of each
//!   (agency, severity, rule) group with a window function, so the HTML report's examples
//!   are chosen by SQLite, not by loading everything;
//! - a limited query (examples) looks evidence up per kept row ([`RowCursor::evidence`]); a
//!   complete query joins it in the tables' own order, one sequential pass.
//!
//! Whole-run queries ordered by agency are used instead of one query per agency: the
//! `findings` table has no index on `agency_id`, and SQLite's sorter spills to disk, so one
//! sorted pass costs the same memory for 20 or 200,000 findings.

use std::collections::BTreeMap;

use rusqlite::{CachedStatement, Rows, params};

use super::{EvidenceRecord, FindingRecord, Result, Store};

/// Severity rank in SQL, most severe first (unknown text ranks as `info`, like the report).
const SEV_RANK: &str = "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 \
     WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END";

/// Services of one agency in a run, counted for the report's shares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceCounts {
    /// Services (read or not: links that are services of the agency).
    pub services: i64,
    /// Services whose page was read: the denominator of every share.
    pub read: i64,
    pub full: i64,
    /// Read full-process services supporting the government signature as the rules count it
    /// (SIG-001, AGY-001's `counts.full_vgca`): `vgca` on their own page or site-wide.
    pub full_with_vgca: i64,
    pub level_published: i64,
    /// Read services whose level the agency's profile cannot observe (`unknown` fact `level`):
    /// while any exist, `full` and `level_published` are lower bounds, not measurements.
    pub level_unobserved: i64,
    /// Read services whose signature the profile cannot observe (`unknown` fact `signature`).
    pub signature_unobserved: i64,
}

/// One `(agency_id, counts)` row, columns in [`ServiceCounts`] field order (the live query and
/// the counts `gc` keeps for pruned runs select the same).
fn counts_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, ServiceCounts)> {
    Ok((
        r.get(0)?,
        ServiceCounts {
            services: r.get(1)?,
            read: r.get(2)?,
            full: r.get(3)?,
            full_with_vgca: r.get(4)?,
            level_published: r.get(5)?,
            level_unobserved: r.get(6)?,
            signature_unobserved: r.get(7)?,
        },
    ))
}

/// What a read service's facts add to [`ServiceCounts`] beyond its level.
#[derive(Debug, Default, PartialEq, Eq)]
struct FactsFlags {
    /// A full-process service whose signature providers include VGCA.
    vgca: bool,
    /// An `unknown` fact `level` / `signature`: the profile cannot observe it.
    level_unobserved: bool,
    signature_unobserved: bool,
}

/// Whether the JSON text `text` has a member named `key` (the quoted name, then optional
/// whitespace and a colon): a text without one needs no parsing for it. Any JSON layout
/// passes, compact as `serde_json` writes it or not.
fn has_member(text: &str, key: &str) -> bool {
    text.match_indices(key).any(|(at, k)| {
        text[at + k.len()..]
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with(':')
    })
}

/// [`FactsFlags`] of a stored facts text: parsed only when it mentions `"vgca"` (and the
/// service is full-process) or has an `unknown` member.
fn facts_flags(text: &str, full: bool) -> Result<FactsFlags> {
    let want_vgca = full && text.contains("\"vgca\"");
    let want_unknown = has_member(text, "\"unknown\"");
    if !want_vgca && !want_unknown {
        return Ok(FactsFlags::default());
    }
    let facts: serde_json::Value = serde_json::from_str(text)?;
    // VGCA support as the rules count it (SIG-001, AGY-001's `counts.full_vgca`): on the
    // service's own page or site-wide.
    let listed = |path: &str| {
        facts
            .pointer(path)
            .and_then(|p| p.as_array())
            .is_some_and(|p| p.iter().any(|v| v.as_str() == Some("vgca")))
    };
    let vgca =
        want_vgca && (listed("/signature/providers") || listed("/signature/site_wide_providers"));
    let unknown = |fact: &str| {
        want_unknown
            && facts
                .get("unknown")
                .and_then(|u| u.as_array())
                .is_some_and(|u| {
                    u.iter()
                        .any(|e| e.get("fact").and_then(|f| f.as_str()) == Some(fact))
                })
    };
    Ok(FactsFlags {
        vgca,
        level_unobserved: unknown("level"),
        signature_unobserved: unknown("signature"),
    })
}

impl ServiceCounts {
    /// VGCA share of read full-process services; `None` when none was read, or when a read
    /// service's level or signature could not be observed (the share would be a guess).
    pub fn vgca_share(&self) -> Option<f64> {
        (self.full > 0 && self.level_unobserved == 0 && self.signature_unobserved == 0)
            .then(|| self.full_with_vgca as f64 / self.full as f64)
    }

    /// Share of read services publishing a level; `None` when nothing was read or a read
    /// service's level could not be observed.
    pub fn level_share(&self) -> Option<f64> {
        (self.read > 0 && self.level_unobserved == 0)
            .then(|| self.level_published as f64 / self.read as f64)
    }
}

/// Failing findings of one (agency, rule, severity) in a run, by lifecycle state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleCount {
    pub agency_id: String,
    pub rule_id: String,
    pub severity: String,
    /// `true` for findings covered by a waiver.
    pub waived: bool,
    pub total: i64,
    pub new: i64,
    pub persisting: i64,
    pub regressed: i64,
}

/// Which rows of a run a [`ReportRows`] query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKind {
    /// Failing, unwaived: agency, most severe first, rule, subject.
    Failing,
    /// Failing but waived: same order.
    Waived,
    /// Could not assess: agency, subject, reason, rule.
    Unassessed,
    /// Resolved by this run: the last failing record from the latest earlier complete run
    /// that had it; same order as failing.
    Resolved,
    /// Open findings this run could not re-check: the last failing record, as for resolved,
    /// with this run's reason in `reason`; same order as failing.
    Unverified,
    /// Open findings this run withdrew (their service left a completely read listing): the
    /// last failing record, as for resolved; same order as failing.
    Withdrawn,
}

/// One row of a report query; `evidence` is empty until [`RowCursor::evidence`] fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The run the record was stored by (an earlier run for resolved rows).
    pub run_id: i64,
    pub record: FindingRecord,
    /// `new`, `persisting`, `regressed` (failing), `resolved`, or empty.
    pub state: String,
}

/// A prepared report query; [`ReportRows::cursor`] runs it.
pub struct ReportRows<'c> {
    rows: CachedStatement<'c>,
    evidence: CachedStatement<'c>,
    run: i64,
    limit: i64,
    joined: bool,
}

/// A running report query.
pub struct RowCursor<'q, 'c> {
    rows: Rows<'q>,
    /// Complete queries load each row's evidence as they read it (see [`with_evidence`]).
    joined: bool,
    evidence: &'q mut CachedStatement<'c>,
}

const ROW_NUMBER: &str =
    "ROW_NUMBER() OVER (PARTITION BY agency_id, severity, rule_id ORDER BY subject, fingerprint)";

const COLUMNS: &str = "run_id, fingerprint, rule_id, severity, scope, agency_id, subject, \
     outcome, reason, message_vi, message_en, waiver, state";

fn select(kind: RowKind, limited: bool) -> String {
    let (filter, order, partition) = match kind {
        RowKind::Failing => (
            "run_id = ?1 AND outcome = 'fail' AND waiver = ''",
            format!("agency_id, {SEV_RANK}, rule_id, subject, fingerprint"),
            ROW_NUMBER.to_string(),
        ),
        RowKind::Waived => (
            "run_id = ?1 AND outcome = 'fail' AND waiver != ''",
            format!("agency_id, {SEV_RANK}, rule_id, subject, fingerprint"),
            ROW_NUMBER.to_string(),
        ),
        // Dense rank by subject: a subject's rules stay together (the report shows one line
        // per subject and reason, listing the rules).
        RowKind::Unassessed => (
            "run_id = ?1 AND outcome = 'could_not_assess'",
            "agency_id, subject, reason, rule_id".to_string(),
            "DENSE_RANK() OVER (PARTITION BY agency_id, reason ORDER BY subject)".to_string(),
        ),
        RowKind::Resolved | RowKind::Unverified | RowKind::Withdrawn => {
            let base = carried_base(kind);
            let order = format!("agency_id, {SEV_RANK}, rule_id, subject, fingerprint");
            return if limited {
                format!(
                    "SELECT {COLUMNS} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY agency_id, severity, rule_id
                         ORDER BY subject, fingerprint) AS rn FROM ({base})) WHERE rn <= ?2 ORDER BY {order}"
                )
            } else {
                with_evidence(&format!("{base} AND ?2 >= 0"), FINDING_ORDER)
            };
        }
    };
    if limited {
        format!(
            "SELECT {COLUMNS} FROM (SELECT *, {partition} AS rn FROM findings WHERE {filter})
             WHERE rn <= ?2 ORDER BY {order}"
        )
    } else {
        let order = match kind {
            RowKind::Unassessed => "q.agency_id, q.subject, q.reason, q.rule_id, q.fingerprint",
            _ => FINDING_ORDER,
        };
        with_evidence(
            &format!("SELECT {COLUMNS} FROM findings WHERE {filter} AND ?2 >= 0"),
            order,
        )
    }
}

/// Rows a run carries from earlier runs (resolved, unverified or withdrawn by it): each finding's last
/// failing record, from the latest earlier complete run that had it. Unverified rows carry
/// this run's reason (why it could not re-check them) in `reason`.
fn carried_base(kind: RowKind) -> String {
    let (table, state, reason) = match kind {
        RowKind::Unverified => ("unverified", "unverified", "r.reason"),
        RowKind::Withdrawn => ("withdrawals", "withdrawn", "c.reason"),
        _ => ("resolutions", "resolved", "c.reason"),
    };
    // The candidate rows first (`c`: the carried fingerprints' failing rows of earlier complete
    // runs), then the latest of each. Joining the `findings` view itself made SQLite
    // materialise the whole view, every run's findings with their messages, in temporary
    // storage (twice), which grows with every run stored.
    format!(
        "WITH c AS MATERIALIZED (
             SELECT f.run_id, f.fingerprint, f.rule_id, f.severity, f.scope, f.agency_id,
                    f.subject, f.outcome, f.reason, f.message_vi, f.message_en, f.waiver
             FROM findings f
             WHERE f.fingerprint IN (SELECT fingerprint FROM {table} WHERE run_id = ?1)
               AND f.run_id < ?1 AND f.outcome = 'fail'
               AND f.run_id IN (SELECT id FROM runs WHERE status = 'complete'))
         SELECT c.run_id, c.fingerprint, c.rule_id, c.severity, c.scope, c.agency_id, c.subject,
                c.outcome, {reason} AS reason, c.message_vi, c.message_en, c.waiver, '{state}' AS state
         FROM {table} r JOIN c ON c.fingerprint = r.fingerprint
          AND c.run_id = (SELECT MAX(c2.run_id) FROM c c2 WHERE c2.fingerprint = r.fingerprint)
         WHERE r.run_id = ?1"
    )
}

/// Report order of failing, waived and resolved rows over the `q` alias.
const FINDING_ORDER: &str = "q.agency_id, CASE q.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 \
     WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, q.rule_id, q.subject, q.fingerprint";

/// The complete query: every row, ordered, without its evidence: the cursor loads each row's
/// evidence as it reads the row (one indexed lookup by run and fingerprint). Joining the
/// `evidence` view in SQL made SQLite materialise the whole view, every run's evidence, in
/// temporary storage: 7 GB for a national report with ten runs stored, 0.5 GB more for each
/// further run.
fn with_evidence(inner: &str, order: &str) -> String {
    format!("SELECT q.* FROM ({inner}) q ORDER BY {order}")
}

impl Store {
    /// Open an existing database for reading only (a second connection beside the run's
    /// writer; WAL lets both work). No migration is run.
    pub fn open_read_only(path: &std::path::Path) -> Result<Store> {
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // On read-only media the WAL index cannot be created: read the file as immutable.
        if conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .is_err()
            && let Some(uri) = super::immutable_uri(path)
        {
            let conn = rusqlite::Connection::open_with_flags(
                uri,
                flags | rusqlite::OpenFlags::SQLITE_OPEN_URI,
            )?;
            let dicts = super::pack::register(&conn)?;
            return Ok(Store {
                conn,
                packer: super::pack::Packer::new(dicts),
            });
        }
        let dicts = super::pack::register(&conn)?;
        Ok(Store {
            conn,
            packer: super::pack::Packer::new(dicts),
        })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn file_path(&self) -> Option<std::path::PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
    }

    /// Services per agency of a run: total, read, and among the read ones full-process,
    /// full-process with VGCA among the signature providers, and with a published level (a
    /// page not read says nothing either way). One pass over the run's services.
    pub fn service_counts(&self, run: i64) -> Result<BTreeMap<String, ServiceCounts>> {
        // A run whose service rows `gc` removed keeps the counts computed before (`gc.rs`).
        let mut pruned = self.conn.prepare_cached(
            "SELECT agency_id, services, read, full, full_with_vgca, level_published,
                    level_unobserved, signature_unobserved
             FROM pruned_service_counts WHERE run_id = ?1",
        )?;
        let kept = pruned.query_map(params![run], counts_row)?;
        let kept: BTreeMap<String, ServiceCounts> = kept.collect::<std::result::Result<_, _>>()?;
        if !kept.is_empty() {
            return Ok(kept);
        }
        // The run's service states from the tables the `service_facts` view reads, each
        // state's text decompressed once and parsed only when it can matter. The view's
        // `facts_json` is the stored text with the read's time, status and size set into it
        // (`json_set`, which none of these counts reads), and SQL evaluated it once per use:
        // up to five decompressions and `json_set`s a service, 5.5 s a national run, and a
        // report counts every run of its trends (up to 120).
        let mut st = self.conn.prepare_cached(
            "SELECT v.agency_id, v.unread = '', v.level,
                    CASE WHEN v.unread = '' THEN dvc_text(t.text) END
             FROM (SELECT version_id FROM service_runs WHERE run_id = ?1
                   UNION ALL
                   SELECT version_id FROM service_reads WHERE run_id = ?1) r
             JOIN service_versions v ON v.id = r.version_id
             JOIN texts t ON t.id = v.facts_id",
        )?;
        let mut out: BTreeMap<String, ServiceCounts> = BTreeMap::new();
        let mut rows = st.query(params![run])?;
        while let Some(r) = rows.next()? {
            let agency: String = r.get(0)?;
            let read: bool = r.get(1)?;
            let c = out.entry(agency).or_default();
            c.services += 1;
            if !read {
                continue;
            }
            let level: String = r.get(2)?;
            let full = level == "full";
            c.read += 1;
            c.full += i64::from(full);
            c.level_published += i64::from(level != "unknown");
            let text: String = r.get(3)?;
            let flags = facts_flags(&text, full)?;
            c.full_with_vgca += i64::from(flags.vgca);
            c.level_unobserved += i64::from(flags.level_unobserved);
            c.signature_unobserved += i64::from(flags.signature_unobserved);
        }
        Ok(out)
    }

    /// Failing findings of a run per (agency, rule, severity, waived), with state counts;
    /// sorted by agency, most severe first, rule.
    pub fn rule_counts(&self, run: i64) -> Result<Vec<RuleCount>> {
        let sql = format!(
            "SELECT agency_id, rule_id, severity, waiver != '', COUNT(*),
                    SUM(state = 'new'), SUM(state = 'persisting'), SUM(state = 'regressed')
             FROM findings WHERE run_id = ?1 AND outcome = 'fail'
             GROUP BY agency_id, rule_id, severity, waiver != ''
             ORDER BY agency_id, {SEV_RANK}, rule_id"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(params![run], |r| {
            Ok(RuleCount {
                agency_id: r.get(0)?,
                rule_id: r.get(1)?,
                severity: r.get(2)?,
                waived: r.get(3)?,
                total: r.get(4)?,
                new: r.get(5)?,
                persisting: r.get(6)?,
                regressed: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Could-not-assess lines per agency (one per subject and reason, as the report shows them).
    pub fn unassessed_counts(&self, run: i64) -> Result<BTreeMap<String, i64>> {
        self.count_map(
            "SELECT agency_id, COUNT(*) FROM (SELECT DISTINCT agency_id, subject, reason FROM findings
              WHERE run_id = ?1 AND outcome = 'could_not_assess') GROUP BY agency_id",
            run,
        )
    }

    /// Findings resolved by a run, per agency of their last failing record (one per
    /// finding: counted over the findings, not joined to their evidence).
    pub fn resolved_counts(&self, run: i64) -> Result<BTreeMap<String, i64>> {
        self.count_map(
            &format!(
                "SELECT agency_id, COUNT(*) FROM ({}) GROUP BY agency_id",
                carried_base(RowKind::Resolved)
            ),
            run,
        )
    }

    /// Open findings a run could not re-check, per agency of their last failing record.
    pub fn unverified_counts(&self, run: i64) -> Result<BTreeMap<String, i64>> {
        self.count_map(
            &format!(
                "SELECT agency_id, COUNT(*) FROM ({}) GROUP BY agency_id",
                carried_base(RowKind::Unverified)
            ),
            run,
        )
    }

    /// The most severe unwaived finding a run left unverified (not known to be fixed, so the
    /// exit code counts it at its severity).
    pub fn unverified_worst(&self, run: i64) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        let sql = format!(
            "SELECT severity FROM ({}) WHERE waiver = '' ORDER BY {SEV_RANK} LIMIT 1",
            carried_base(RowKind::Unverified)
        );
        Ok(self
            .conn
            .query_row(&sql, params![run], |r| r.get(0))
            .optional()?)
    }

    /// Each agency's coverage in a run (agencies without a row: runs before coverage was
    /// recorded).
    pub fn coverage(&self, run: i64) -> Result<BTreeMap<String, crate::facts::Coverage>> {
        let mut st = self.conn.prepare_cached(
            "SELECT agency_id, announced, listed, read, unread_json, truncated_json, excluded_json,
                    listing_error
             FROM coverage WHERE run_id = ?1 ORDER BY agency_id",
        )?;
        let rows = st.query_map(params![run], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (agency, announced, listed, read, unread, truncated, excluded, listing) = row?;
            out.insert(
                agency,
                crate::facts::Coverage {
                    announced,
                    listed,
                    read,
                    unread: serde_json::from_str(&unread)?,
                    truncated: serde_json::from_str(&truncated)?,
                    excluded: serde_json::from_str(&excluded)?,
                    listing_error: crate::facts::AssessReason::parse(&listing),
                },
            );
        }
        Ok(out)
    }

    fn count_map(&self, sql: &str, run: i64) -> Result<BTreeMap<String, i64>> {
        let mut st = self.conn.prepare_cached(sql)?;
        // The resolved query carries a `?2 >= 0` guard shared with the row query.
        let n = st.parameter_count();
        let rows = if n >= 2 {
            st.query_map(params![run, 0i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<std::result::Result<BTreeMap<String, i64>, _>>()?
        } else {
            st.query_map(params![run], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<std::result::Result<BTreeMap<String, i64>, _>>()?
        };
        Ok(rows)
    }

    /// Fails, the violations among them (info items aside) and could-not-assess lines (one
    /// per subject and reason, as reports count them) per agency of a run (for trend points).
    pub fn outcome_counts(&self, run: i64) -> Result<BTreeMap<String, (i64, i64, i64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT agency_id, SUM(outcome = 'fail' AND waiver = ''),
                    SUM(outcome = 'fail' AND waiver = '' AND severity != 'info'),
                    COUNT(DISTINCT CASE WHEN outcome = 'could_not_assess' THEN subject || char(31) || reason END)
             FROM findings WHERE run_id = ?1 GROUP BY agency_id",
        )?;
        let rows = st.query_map(params![run], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Prepare a row query of a run. `limit_per_group` keeps only the first rows of each
    /// (agency, severity, rule) group — for could-not-assess, of each (agency, reason), counted
    /// in subjects; `0` keeps every row.
    pub fn report_rows(
        &self,
        run: i64,
        kind: RowKind,
        limit_per_group: usize,
    ) -> Result<ReportRows<'_>> {
        let limited = limit_per_group > 0;
        Ok(ReportRows {
            rows: self.conn.prepare_cached(&select(kind, limited))?,
            evidence: self.conn.prepare_cached(
                "SELECT url, fetched_at, status, content_hash, locator, excerpt FROM evidence
                 WHERE run_id = ?1 AND fingerprint = ?2
                 ORDER BY url, content_hash, locator, excerpt",
            )?,
            run,
            limit: i64::try_from(limit_per_group).unwrap_or(i64::MAX),
            joined: !limited,
        })
    }
}

/// What the founding survey counted by hand, per agency of a run: services by level,
/// government-signature evidence per service and site-wide, other providers, national-portal
/// links (every count except `services` over the services read) and the hosts' TLS health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurveyCounts {
    /// Services (read or not), as [`ServiceCounts::services`].
    pub services: i64,
    /// Services whose page was read, as [`ServiceCounts::read`].
    pub read: i64,
    pub full: i64,
    pub partial: i64,
    pub info: i64,
    pub unknown_level: i64,
    /// Read full-process services with `vgca` among their own page's providers.
    pub full_vgca_service: i64,
    /// Read full-process services with `vgca` only among the site-wide providers (with
    /// `full_vgca_service`, [`ServiceCounts::full_with_vgca`]).
    pub full_vgca_site_wide: i64,
    pub partial_vgca_service: i64,
    pub partial_vgca_site_wide: i64,
    /// Read services linking to the National Public Service Portal.
    pub national_link: i64,
    /// Providers other than `vgca` (per service or site-wide) → read services showing them.
    pub other_providers: BTreeMap<String, i64>,
    /// Hosts probed for the agency, and those the probe could not reach at all.
    pub hosts: i64,
    pub hosts_unreachable: i64,
    /// Hosts whose TLS is not known: not reached, or a `TLS-*` rule could not assess them.
    pub hosts_tls_unknown: i64,
    /// Failing, unwaived `TLS-*` findings on the agency's hosts (by host, whichever agency
    /// owns the finding: a host shared by two agencies has its findings once), and the most
    /// severe one's severity (`""`: none).
    pub tls_findings: i64,
    pub tls_worst: String,
}

/// One service of a run as the inventory lists it (its stored facts and why it was not read).
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    pub facts: crate::facts::ServiceFacts,
    /// `service_facts.unread`: the reason the page was not read, `""` when read.
    pub unread: String,
}

/// `vgca` among a JSON array at `path` of `facts_json` (`instr` first: only documents that
/// mention it are parsed).
fn vgca_in(path: &str) -> String {
    format!(
        "(instr(facts_json, '\"vgca\"') > 0 AND EXISTS (SELECT 1 FROM json_each(facts_json, '{path}') WHERE value = 'vgca'))"
    )
}

impl Store {
    /// The survey's numbers per agency of a run: four grouped queries (services, providers,
    /// hosts, TLS findings), each one pass over the run's rows.
    pub fn survey_counts(&self, run: i64) -> Result<BTreeMap<String, SurveyCounts>> {
        let own = vgca_in("$.signature.providers");
        let site = vgca_in("$.signature.site_wide_providers");
        let sql = format!(
            "SELECT agency_id, COUNT(*), SUM(r), SUM(r AND level = 'full'), SUM(r AND level = 'partial'),
                    SUM(r AND level = 'info'), SUM(r AND level NOT IN ('full', 'partial', 'info')),
                    SUM(r AND level = 'full' AND own), SUM(r AND level = 'full' AND NOT own AND site),
                    SUM(r AND level = 'partial' AND own), SUM(r AND level = 'partial' AND NOT own AND site),
                    SUM(r AND json_extract(facts_json, '$.national_portal_link') = 1)
             FROM (SELECT agency_id, level, facts_json, unread = '' AS r,
                          CASE WHEN level IN ('full', 'partial') THEN {own} ELSE 0 END AS own,
                          CASE WHEN level IN ('full', 'partial') THEN {site} ELSE 0 END AS site
                   FROM service_facts WHERE run_id = ?1)
             GROUP BY agency_id"
        );
        let mut out: BTreeMap<String, SurveyCounts> = BTreeMap::new();
        {
            let mut st = self.conn.prepare_cached(&sql)?;
            let mut rows = st.query(params![run])?;
            while let Some(r) = rows.next()? {
                let n = |i: usize| r.get::<_, Option<i64>>(i).map(Option::unwrap_or_default);
                out.insert(
                    r.get(0)?,
                    SurveyCounts {
                        services: n(1)?,
                        read: n(2)?,
                        full: n(3)?,
                        partial: n(4)?,
                        info: n(5)?,
                        unknown_level: n(6)?,
                        full_vgca_service: n(7)?,
                        full_vgca_site_wide: n(8)?,
                        partial_vgca_service: n(9)?,
                        partial_vgca_site_wide: n(10)?,
                        national_link: n(11)?,
                        ..SurveyCounts::default()
                    },
                );
            }
        }
        {
            // A provider named per service and site-wide counts once per service.
            let mut st = self.conn.prepare_cached(
                "SELECT agency_id, p, COUNT(*) FROM (
                    SELECT DISTINCT s.agency_id, s.service_key, j.value AS p
                    FROM service_facts s,
                         json_each(s.facts_json, '$.signature.providers') j
                    WHERE s.run_id = ?1 AND s.unread = '' AND j.value != 'vgca'
                    UNION
                    SELECT s.agency_id, s.service_key, j.value
                    FROM service_facts s,
                         json_each(s.facts_json, '$.signature.site_wide_providers') j
                    WHERE s.run_id = ?1 AND s.unread = '' AND j.value != 'vgca')
                 GROUP BY agency_id, p ORDER BY agency_id, p",
            )?;
            let mut rows = st.query(params![run])?;
            while let Some(r) = rows.next()? {
                let (agency, p, n): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                out.entry(agency).or_default().other_providers.insert(p, n);
            }
        }
        // Hosts by agency, then the TLS findings by host subject (`name:port`): a host shared
        // by two agencies has its findings once, owned by the first, and counts for both.
        let mut tls_fail: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut tls_cna: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        {
            let sql = format!(
                "SELECT subject, outcome, COUNT(*), MIN({SEV_RANK}) FROM findings
                 WHERE run_id = ?1 AND scope = 'host' AND rule_id LIKE 'TLS-%'
                   AND (outcome = 'could_not_assess' OR (outcome = 'fail' AND waiver = ''))
                 GROUP BY subject, outcome"
            );
            let mut st = self.conn.prepare_cached(&sql)?;
            let mut rows = st.query(params![run])?;
            while let Some(r) = rows.next()? {
                let (subject, outcome): (String, String) = (r.get(0)?, r.get(1)?);
                if outcome == "fail" {
                    tls_fail.insert(subject, (r.get(2)?, r.get(3)?));
                } else {
                    tls_cna.insert(subject);
                }
            }
        }
        {
            let mut st = self.conn.prepare_cached(
                "SELECT agency_id, host, json_extract(dvc_text(facts_json), '$.error') IS NOT NULL
                 FROM host_facts WHERE run_id = ?1",
            )?;
            let mut rows = st.query(params![run])?;
            let mut worst: BTreeMap<String, i64> = BTreeMap::new();
            while let Some(r) = rows.next()? {
                let (agency, host, down): (String, String, bool) =
                    (r.get(0)?, r.get(1)?, r.get(2)?);
                let e = out.entry(agency.clone()).or_default();
                e.hosts += 1;
                e.hosts_unreachable += i64::from(down);
                e.hosts_tls_unknown += i64::from(down || tls_cna.contains(&host));
                if let Some((n, rank)) = tls_fail.get(&host) {
                    e.tls_findings += n;
                    let w = worst.entry(agency).or_insert(*rank);
                    *w = (*w).min(*rank);
                }
            }
            for (agency, rank) in worst {
                let e = out.entry(agency).or_default();
                e.tls_worst = match rank {
                    0 => "critical",
                    1 => "high",
                    2 => "medium",
                    3 => "low",
                    _ => "info",
                }
                .to_string();
            }
        }
        Ok(out)
    }

    /// Every service of one agency in a run, in code order, handed to `each` one at a time
    /// (the statement walks the table's primary key: no sort, one row in memory).
    pub fn each_service<E: From<super::StoreError>>(
        &self,
        run: i64,
        agency: &str,
        mut each: impl FnMut(InventoryRow) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT facts_json, unread FROM service_facts
                 WHERE run_id = ?1 AND agency_id = ?2 ORDER BY service_key",
            )
            .map_err(super::StoreError::from)?;
        let mut rows = st
            .query(params![run, agency])
            .map_err(super::StoreError::from)?;
        while let Some(r) = rows.next().map_err(super::StoreError::from)? {
            let json: String = r.get(0).map_err(super::StoreError::from)?;
            let facts: crate::facts::ServiceFacts =
                serde_json::from_str(&json).map_err(super::StoreError::from)?;
            let unread: String = r.get(1).map_err(super::StoreError::from)?;
            each(InventoryRow { facts, unread })?;
        }
        Ok(())
    }
}

impl<'c> ReportRows<'c> {
    /// Run the query.
    pub fn cursor(&mut self) -> Result<RowCursor<'_, 'c>> {
        let ReportRows {
            rows,
            evidence,
            run,
            limit,
            joined,
        } = self;
        Ok(RowCursor {
            rows: rows.query(params![*run, *limit])?,
            joined: *joined,
            evidence,
        })
    }
}

impl RowCursor<'_, '_> {
    /// The next row, or `None` at the end. Rows of a limited query come without evidence
    /// (see [`RowCursor::evidence`]); rows of a complete query come with it.
    pub fn next_row(&mut self) -> Result<Option<ReportRow>> {
        let Some(mut row) = self.read()? else {
            return Ok(None);
        };
        if self.joined {
            self.load_evidence(&mut row)?;
        }
        Ok(Some(row))
    }

    /// One output row of the query.
    fn read(&mut self) -> Result<Option<ReportRow>> {
        let Some(r) = self.rows.next()? else {
            return Ok(None);
        };
        let evidence = Vec::new();
        Ok(Some(ReportRow {
            run_id: r.get(0)?,
            record: FindingRecord {
                fingerprint: r.get(1)?,
                rule_id: r.get(2)?,
                severity: r.get(3)?,
                scope: r.get(4)?,
                agency_id: r.get(5)?,
                subject: r.get(6)?,
                outcome: r.get(7)?,
                reason: r.get(8)?,
                message_vi: r.get(9)?,
                message_en: r.get(10)?,
                waiver: r.get(11)?,
                evidence,
            },
            state: r.get(12)?,
        }))
    }

    /// Load a row's evidence (in the digest's order); a complete query's rows have it already.
    pub fn evidence(&mut self, row: &mut ReportRow) -> Result<()> {
        if self.joined {
            return Ok(());
        }
        self.load_evidence(row)
    }

    fn load_evidence(&mut self, row: &mut ReportRow) -> Result<()> {
        let rows = self
            .evidence
            .query_map(params![row.run_id, row.record.fingerprint], |r| {
                Ok(EvidenceRecord {
                    url: r.get(0)?,
                    fetched_at: r.get(1)?,
                    status: r.get(2)?,
                    content_hash: r.get(3)?,
                    locator: r.get(4)?,
                    excerpt: r.get(5)?,
                })
            })?;
        row.record.evidence = rows.collect::<std::result::Result<_, _>>()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Level, ServiceFacts, SignatureFacts};
    use crate::store::{RunStart, Scope};

    fn finding(i: usize, agency: &str, rule: &str, sev: &str, outcome: &str) -> FindingRecord {
        FindingRecord {
            fingerprint: format!("fp-{agency}-{i:03}"),
            rule_id: rule.into(),
            severity: sev.into(),
            scope: "service".into(),
            agency_id: agency.into(),
            subject: format!("{agency}/{i:03}"),
            outcome: outcome.into(),
            reason: if outcome == "fail" { "" } else { "timeout" }.into(),
            message_vi: "m".into(),
            message_en: "m".into(),
            evidence: vec![EvidenceRecord {
                url: format!("https://x.test/{i}"),
                status: 200,
                ..EvidenceRecord::default()
            }],
            ..FindingRecord::default()
        }
    }

    fn store() -> (Store, i64) {
        let mut s = Store::open_in_memory().expect("store");
        let run = s
            .begin_run(&RunStart {
                mode: "regular".into(),
                scope: Scope {
                    agencies: vec!["a".into(), "b".into()],
                    services: None,
                },
                seed: None,
                ruleset_digest: "r".into(),
                config_digest: "c".into(),
            })
            .expect("begin");
        let svc = |agency: &str, code: &str, level: Level, vgca: bool| ServiceFacts {
            agency_id: agency.into(),
            code: code.into(),
            level,
            signature: SignatureFacts {
                providers: if vgca { vec!["vgca".into()] } else { vec![] },
                ..SignatureFacts::default()
            },
            ..ServiceFacts::default()
        };
        s.record_services(
            run,
            &[
                svc("a", "1", Level::Full, true),
                svc("a", "2", Level::Full, false),
                svc("a", "3", Level::Unknown, false),
                svc("b", "1", Level::Partial, true),
            ],
        )
        .expect("services");
        let mut f = Vec::new();
        for i in 0..10 {
            f.push(finding(i, "b", "R-1", "low", "fail"));
            f.push(finding(100 + i, "a", "R-2", "critical", "fail"));
        }
        f.push(finding(200, "a", "R-1", "low", "fail"));
        f.push(finding(300, "a", "R-3", "high", "could_not_assess"));
        s.finish_run(run, &f).expect("finish");
        (s, run)
    }

    #[test]
    fn counts_are_aggregated_per_agency() {
        let (s, run) = store();
        let sc = s.service_counts(run).expect("services");
        assert_eq!(
            sc.get("a"),
            Some(&ServiceCounts {
                services: 3,
                read: 3,
                full: 2,
                full_with_vgca: 1,
                level_published: 2,
                level_unobserved: 0,
                signature_unobserved: 0,
            })
        );
        assert_eq!(sc.get("b").map(|c| c.full_with_vgca), Some(0));
        let rc = s.rule_counts(run).expect("rules");
        let keys: Vec<(&str, &str, i64, i64)> = rc
            .iter()
            .map(|r| (r.agency_id.as_str(), r.rule_id.as_str(), r.total, r.new))
            .collect();
        assert_eq!(
            keys,
            [
                ("a", "R-2", 10, 10),
                ("a", "R-1", 1, 1),
                ("b", "R-1", 10, 10)
            ],
            "agency, then most severe first"
        );
        assert_eq!(s.unassessed_counts(run).expect("cna").get("a"), Some(&1));
    }

    /// The counts read from the tables equal the `service_counts` SQL over the
    /// `service_facts` view it replaced (kept here as the reference), on states covering
    /// every branch: read or not, each level, VGCA among the providers or only mentioned
    /// elsewhere in the text, unknown level and signature facts; rows of schema 5 and later
    /// (`service_reads`, compressed texts) and of schemas 3–4 (`service_runs`, plain texts,
    /// with and without a read time, one of them pretty-printed), states shared by two runs,
    /// and a run without services.
    #[test]
    fn counts_equal_the_aggregate_over_the_service_facts_view() {
        use crate::facts::{AssessReason, ErrorFact, UnknownFact};
        let (mut s, _) = store();
        let begin = |s: &mut Store| {
            s.begin_run(&RunStart {
                mode: "regular".into(),
                scope: Scope {
                    agencies: vec!["a".into(), "b".into()],
                    services: None,
                },
                seed: None,
                ruleset_digest: "r".into(),
                config_digest: "c".into(),
            })
            .expect("begin")
        };
        let run = begin(&mut s);
        let unknown = |fact: &str| UnknownFact {
            fact: fact.into(),
            kind: AssessReason::Timeout,
            message: "m".into(),
            may_hold: Vec::new(),
        };
        let mut services = Vec::new();
        for (i, level) in [Level::Full, Level::Partial, Level::Unknown]
            .into_iter()
            .enumerate()
        {
            for variant in 0..7 {
                let mut f = ServiceFacts {
                    agency_id: if variant % 2 == 0 { "a" } else { "b" }.into(),
                    code: format!("{i}-{variant}"),
                    level,
                    ..ServiceFacts::default()
                };
                match variant {
                    0 => f.signature.providers = vec!["vgca".into(), "vnpt".into()],
                    // `"vgca"` in the text, not among the providers.
                    1 => f.name = "vgca".into(),
                    2 => f.unknown = vec![unknown("level")],
                    3 => f.unknown = vec![unknown("signature"), unknown("level")],
                    4 => {
                        f.signature.providers = vec!["vgca".into()];
                        f.fetch.error = Some(ErrorFact {
                            kind: AssessReason::Timeout,
                            message: "m".into(),
                        });
                    }
                    5 => f.unknown = vec![unknown("online_submission")],
                    _ => f.signature.providers = vec!["viettel".into()],
                }
                services.push(f);
            }
        }
        s.record_services(run, &services).expect("services");

        // A run as schemas 3 and 4 stored it: plain texts in `service_runs` (written through
        // the view's trigger), one pretty-printed, one with its read time; and three states
        // the first run's reads point at.
        let legacy = begin(&mut s);
        for (i, f) in services.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            let json = if i % 2 == 1 {
                serde_json::to_string_pretty(f)
            } else {
                serde_json::to_string(f)
            }
            .expect("json");
            s.connection()
                .execute(
                    "INSERT INTO service_facts (run_id, agency_id, service_key, url, level,
                                                content_hash, facts_json, unread)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'h', ?6, ?7)",
                    params![
                        legacy,
                        f.agency_id,
                        format!("legacy-{i}"),
                        format!("https://x/{i}"),
                        f.level.as_str(),
                        json,
                        if i == 9 { "not read" } else { "" }
                    ],
                )
                .expect("legacy row");
        }
        s.connection()
            .execute(
                "UPDATE service_runs SET fetched_at = '2026-01-01T00:00:00Z', status = 200,
                        bytes = 5
                 WHERE run_id = ?1
                   AND version_id = (SELECT MIN(version_id) FROM service_runs WHERE run_id = ?1)",
                params![legacy],
            )
            .expect("read time");
        s.connection()
            .execute(
                "INSERT INTO service_runs (run_id, version_id, fetched_at)
                 SELECT ?2, version_id, NULL FROM service_reads WHERE run_id = ?1
                 ORDER BY version_id LIMIT 3",
                params![run, legacy],
            )
            .expect("shared states");
        let empty = begin(&mut s);

        for (run, agencies) in [(run, 2), (legacy, 2), (empty, 0)] {
            let reference: BTreeMap<String, ServiceCounts> = s
                .connection()
                .prepare(
                    "SELECT agency_id, COUNT(*), SUM(unread = ''), SUM(unread = '' AND level = 'full'),
                            SUM(CASE WHEN unread = '' AND level = 'full' THEN
                                  EXISTS (SELECT 1 FROM json_each(facts_json, '$.signature.providers') WHERE value = 'vgca')
                                ELSE 0 END),
                            SUM(unread = '' AND level != 'unknown'),
                            SUM(CASE WHEN unread = '' THEN
                                  EXISTS (SELECT 1 FROM json_each(facts_json, '$.unknown')
                                          WHERE json_extract(value, '$.fact') = 'level')
                                ELSE 0 END),
                            SUM(CASE WHEN unread = '' THEN
                                  EXISTS (SELECT 1 FROM json_each(facts_json, '$.unknown')
                                          WHERE json_extract(value, '$.fact') = 'signature')
                                ELSE 0 END)
                     FROM service_facts WHERE run_id = ?1 GROUP BY agency_id",
                )
                .expect("reference")
                .query_map(params![run], counts_row)
                .expect("rows")
                .collect::<rusqlite::Result<_>>()
                .expect("rows");
            let counts = s.service_counts(run).expect("counts");
            assert_eq!(counts, reference, "run {run}");
            assert_eq!(counts.len(), agencies, "run {run}: {counts:?}");
        }
        let counts = s.service_counts(run).expect("counts");
        let a = counts.get("a").expect("a");
        assert!(
            a.full_with_vgca > 0 && a.level_unobserved > 0 && a.read < a.services,
            "{a:?}"
        );
        assert!(counts.get("b").expect("b").signature_unobserved > 0);
        // The legacy run counts its pretty-printed unknown facts and its unread service.
        let legacy = s.service_counts(legacy).expect("counts");
        let total = |f: fn(&ServiceCounts) -> i64| legacy.values().map(f).sum::<i64>();
        assert_eq!(total(|c| c.services), 7 + 3, "{legacy:?}");
        assert!(total(|c| c.read) < total(|c| c.services), "{legacy:?}");
        assert!(total(|c| c.level_unobserved) > 0, "{legacy:?}");
        assert!(total(|c| c.full_with_vgca) > 0, "{legacy:?}");
    }

    #[test]
    fn only_a_member_named_so_is_a_member() {
        assert!(has_member(r#"{"unknown":[]}"#, r#""unknown""#));
        assert!(has_member("{\n  \"unknown\" \t:\n [ ]}", r#""unknown""#));
        assert!(!has_member(r#"{"level":"unknown"}"#, r#""unknown""#));
        assert!(!has_member(r#"{"a":["unknown", 1]}"#, r#""unknown""#));
        assert!(has_member(
            r#"{"a":"unknown","unknown":[]}"#,
            r#""unknown""#
        ));
    }

    #[test]
    fn rows_come_in_report_order_and_limits_apply_per_rule() {
        let (s, run) = store();
        let mut q = s.report_rows(run, RowKind::Failing, 3).expect("query");
        let mut cur = q.cursor().expect("cursor");
        let mut seen = Vec::new();
        while let Some(mut row) = cur.next_row().expect("row") {
            cur.evidence(&mut row).expect("evidence");
            assert_eq!(row.record.evidence.len(), 1);
            seen.push((row.record.agency_id, row.record.rule_id, row.record.subject));
        }
        let short: Vec<(&str, &str, &str)> = seen
            .iter()
            .map(|(a, r, s)| (a.as_str(), r.as_str(), s.as_str()))
            .collect();
        assert_eq!(
            short,
            [
                ("a", "R-2", "a/100"),
                ("a", "R-2", "a/101"),
                ("a", "R-2", "a/102"),
                ("a", "R-1", "a/200"),
                ("b", "R-1", "b/000"),
                ("b", "R-1", "b/001"),
                ("b", "R-1", "b/002"),
            ]
        );
        let mut all = s.report_rows(run, RowKind::Failing, 0).expect("query");
        let mut cur = all.cursor().expect("cursor");
        let mut n = 0;
        while cur.next_row().expect("row").is_some() {
            n += 1;
        }
        assert_eq!(n, 21, "no limit: every failing row");
    }
}
