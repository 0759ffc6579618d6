//! Tamper evidence: each complete run's digest covers what its reports are built from and the
//! previous complete run's digest, so editing any covered row, or deleting a run, breaks the
//! chain from there on; the newest run's digest (the *head*, printed in every report and
//! email) detects deleting the newest runs (`history verify --head HEX`).
//!
//! The digest is versioned per run (`runs.digest_version`), so runs stored by an older build
//! still verify:
//! - **v1**: mode, ruleset and config digests, findings and evidence (every text field hashed);
//! - **v2**: v1, plus the run's times (`started_at`, `ended_at`), scope, seed and note, each
//!   finding's lifecycle state, the resolutions, and every stored fact row (agency, host and
//!   service facts, fetch records): the counts and shares of a report are computed from these.
//!   `ended_at` is pinned by the digest inside the completing transaction (see the schema's
//!   `runs_sealed_end` trigger).

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{EvidenceRecord, FindingRecord, Result};

/// A place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainBreak {
    pub run_id: i64,
    pub problem: String,
}

const DOMAIN: &str = "dvc-audit/run-digest/v1";
const DOMAIN_V2: &str = "dvc-audit/run-digest/v2";
const DOMAIN_V3: &str = "dvc-audit/run-digest/v3";

/// The digest version of runs begun by this build.
pub(super) const DIGEST_VERSION: i64 = 3;

fn h(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Digest of the complete run just before `run` (by id), or empty for the first.
pub(super) fn previous_digest(conn: &Connection, run: i64) -> Result<String> {
    Ok(conn
        .query_row(
            "SELECT digest FROM runs WHERE id < ?1 AND status = 'complete' ORDER BY id DESC LIMIT 1",
            params![run],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten()
        .unwrap_or_default())
}

pub(super) fn load_findings(conn: &Connection, run: i64) -> Result<Vec<FindingRecord>> {
    let mut st = conn.prepare_cached(
        "SELECT fingerprint, rule_id, severity, scope, agency_id, subject, outcome, reason, message_vi, message_en, waiver
         FROM findings WHERE run_id = ?1 ORDER BY fingerprint",
    )?;
    let rows = st.query_map(params![run], |r| {
        Ok(FindingRecord {
            fingerprint: r.get(0)?,
            rule_id: r.get(1)?,
            severity: r.get(2)?,
            scope: r.get(3)?,
            agency_id: r.get(4)?,
            subject: r.get(5)?,
            outcome: r.get(6)?,
            reason: r.get(7)?,
            message_vi: r.get(8)?,
            message_en: r.get(9)?,
            waiver: r.get(10)?,
            evidence: Vec::new(),
        })
    })?;
    let mut findings = Vec::new();
    for row in rows {
        findings.push(row?);
    }
    let mut st = conn.prepare_cached(
        "SELECT fingerprint, url, fetched_at, status, content_hash, locator, excerpt
         FROM evidence WHERE run_id = ?1 ORDER BY fingerprint, url, content_hash, locator, excerpt",
    )?;
    let rows = st.query_map(params![run], |r| {
        Ok((
            r.get::<_, String>(0)?,
            EvidenceRecord {
                url: r.get(1)?,
                fetched_at: r.get(2)?,
                status: r.get(3)?,
                content_hash: r.get(4)?,
                locator: r.get(5)?,
                excerpt: r.get(6)?,
            },
        ))
    })?;
    for row in rows {
        let (fp, e) = row?;
        if let Ok(i) = findings.binary_search_by(|f| f.fingerprint.as_str().cmp(fp.as_str())) {
            findings[i].evidence.push(e);
        }
    }
    Ok(findings)
}

/// The digest of a run as stored now.
fn evidence_row(row: Option<&rusqlite::Row<'_>>) -> Result<Option<(String, EvidenceRecord)>> {
    let Some(r) = row else { return Ok(None) };
    Ok(Some((
        r.get(0)?,
        EvidenceRecord {
            url: r.get(1)?,
            fetched_at: r.get(2)?,
            status: r.get(3)?,
            content_hash: r.get(4)?,
            locator: r.get(5)?,
            excerpt: r.get(6)?,
        },
    )))
}

/// One line of the digest: fields joined by U+001F, newline-terminated.
fn put(hasher: &mut Sha256, parts: &[&str]) {
    hasher.update(parts.join("\u{1f}").as_bytes());
    hasher.update(b"\n");
}

/// The digest of run `run` chained to `prev`, by the run's digest version. Called inside the
/// completing transaction (the run is still `running`: a v2 digest pins `ended_at` first) and
/// by [`Store::verify_chain`](super::Store::verify_chain) (read-only).
pub(super) fn run_digest(conn: &Connection, run: i64, prev: &str) -> Result<String> {
    let (version, status): (i64, String) = conn.query_row(
        "SELECT digest_version, status FROM runs WHERE id = ?1",
        params![run],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    match version {
        1 => run_digest_v1(conn, run, prev),
        2 | 3 => {
            if status == "running" {
                conn.execute(
                    "UPDATE runs SET ended_at = ?2 WHERE id = ?1",
                    params![run, super::now()],
                )?;
            }
            if version == 2 {
                run_digest_v2(conn, run, prev)
            } else {
                run_digest_v3(conn, run, prev)
            }
        }
        // Never written by any build: a tampered version never matches a stored digest.
        other => Ok(format!("unsupported digest version {other}")),
    }
}

fn run_digest_v1(conn: &Connection, run: i64, prev: &str) -> Result<String> {
    let (mode, rd, cd): (String, String, String) = conn.query_row(
        "SELECT mode, ruleset_digest, config_digest FROM runs WHERE id = ?1",
        params![run],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut hasher = Sha256::new();
    put(
        &mut hasher,
        &[DOMAIN, prev, &run.to_string(), &mode, &rd, &cd],
    );
    findings_lines(conn, run, &mut hasher, false)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The header line digests v2 and v3 share (under their own domain tag): the run's mode,
/// scope, seed, rule and config digests, times and note, chained to `prev`.
fn head(conn: &Connection, run: i64, domain: &str, prev: &str) -> Result<Sha256> {
    type Head = (
        String,
        String,
        Option<i64>,
        String,
        String,
        String,
        Option<String>,
        String,
    );
    let (mode, scope, seed, rd, cd, started, ended, note): Head = conn.query_row(
        "SELECT mode, scope_json, seed, ruleset_digest, config_digest, started_at, ended_at, note
         FROM runs WHERE id = ?1",
        params![run],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        },
    )?;
    let mut hasher = Sha256::new();
    put(
        &mut hasher,
        &[
            domain,
            prev,
            &run.to_string(),
            &mode,
            &h(&scope),
            &seed.map(|s| s.to_string()).unwrap_or_default(),
            &rd,
            &cd,
            &started,
            ended.as_deref().unwrap_or(""),
            &h(&note),
        ],
    );
    Ok(hasher)
}

fn run_digest_v2(conn: &Connection, run: i64, prev: &str) -> Result<String> {
    let mut hasher = head(conn, run, DOMAIN_V2, prev)?;
    findings_lines(conn, run, &mut hasher, true)?;
    // Every row a report's counts and shares are computed from, in a fixed order, each
    // section ending with its row count.
    let sections: [(&str, &str); 8] = [
        (
            "R",
            "SELECT fingerprint FROM resolutions WHERE run_id = ?1 ORDER BY fingerprint",
        ),
        ("U", UNVERIFIED_ROWS),
        (
            "V",
            "SELECT scope, subject FROM assessed_all WHERE run_id = ?1 ORDER BY scope, subject",
        ),
        (
            "C",
            "SELECT agency_id, COALESCE(CAST(announced AS TEXT), ''), CAST(listed AS TEXT),
                    CAST(read AS TEXT), CAST(unread AS TEXT), unread_json, truncated_json,
                    excluded_json, listing_error, CAST(complete AS TEXT)
             FROM coverage WHERE run_id = ?1 ORDER BY agency_id",
        ),
        (
            "A",
            "SELECT agency_id, facts_json FROM agency_facts WHERE run_id = ?1 ORDER BY agency_id",
        ),
        (
            "H",
            "SELECT host, agency_id, dvc_text(facts_json) FROM host_facts WHERE run_id = ?1
             ORDER BY host, agency_id",
        ),
        (
            "S",
            "SELECT agency_id, service_key, url, level, content_hash, facts_json, unread
             FROM service_facts WHERE run_id = ?1 ORDER BY agency_id, service_key",
        ),
        ("X", FETCH_ROWS),
    ];
    for (tag, sql) in sections {
        let mut st = conn.prepare_cached(sql)?;
        let width = st.column_count();
        let mut rows = st.query(params![run])?;
        let mut n: u64 = 0;
        while let Some(r) = rows.next()? {
            let mut parts: Vec<String> = Vec::with_capacity(width + 1);
            parts.push(tag.to_string());
            for i in 0..width {
                parts.push(h(&r.get::<_, String>(i)?));
            }
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            put(&mut hasher, &refs);
            n += 1;
        }
        put(&mut hasher, &[tag, "count", &n.to_string()]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The open findings a run carried without a verdict: unverified (with the reason) and, since
/// schema 9, withdrawn (reason `withdrawn`: the service left a completely read listing). A run
/// without withdrawals hashes exactly the rows it hashed before.
const UNVERIFIED_ROWS: &str = "SELECT fingerprint, reason FROM (
         SELECT fingerprint, reason FROM unverified WHERE run_id = ?1
         UNION ALL
         SELECT fingerprint, 'withdrawn' FROM withdrawals WHERE run_id = ?1)
     ORDER BY fingerprint";

/// The full fetch records of run `?1`, every column text, in digest order. A row stores ''
/// for its URL since schema 6 (its record holds it).
const FETCH_ROWS: &str = "SELECT c1, c2, c3, c4 FROM (
         SELECT CASE WHEN url = '' THEN json_extract(dvc_text(record_json), '$.url')
                     ELSE url END AS c1,
                CAST(status AS TEXT) AS c2, COALESCE(error_kind, '') AS c3,
                dvc_text(record_json) AS c4, status AS s
         FROM fetches WHERE run_id = ?1)
     ORDER BY c1, s, c3, c4";

/// Digest v3 sections whose rows `gc` may remove from an old run (their hash is then kept in
/// `pruned`): assessed subjects, service facts and full fetch records.
pub(super) const PRUNABLE: [&str; 3] = ["V", "S", "X"];

/// The row query of a v3 section (`?1` = run id), every column text.
pub(super) fn v3_section_sql(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "R" => "SELECT fingerprint FROM resolutions WHERE run_id = ?1 ORDER BY fingerprint",
        "U" => UNVERIFIED_ROWS,
        "V" => "SELECT scope, subject FROM assessed_all WHERE run_id = ?1 ORDER BY scope, subject",
        "C" => {
            "SELECT agency_id, COALESCE(CAST(announced AS TEXT), ''), CAST(listed AS TEXT),
                    CAST(read AS TEXT), CAST(unread AS TEXT), unread_json, truncated_json,
                    excluded_json, listing_error, CAST(complete AS TEXT)
             FROM coverage WHERE run_id = ?1 ORDER BY agency_id"
        }
        "A" => {
            "SELECT agency_id, facts_json FROM agency_facts WHERE run_id = ?1 ORDER BY agency_id"
        }
        "H" => {
            "SELECT host, agency_id, dvc_text(facts_json) FROM host_facts WHERE run_id = ?1
             ORDER BY host, agency_id"
        }
        // From the tables, not the view: the text as stored and the read time, so the digest
        // does not depend on how SQLite's JSON functions print.
        "S" => {
            "SELECT c1, c2, c3, c4, c5, c6, c7, c8, c9, c10 FROM (
                 SELECT v.agency_id AS c1, v.service_key AS c2, v.url AS c3, v.level AS c4,
                        dvc_hash(v.content_hash) AS c5, dvc_text(t.text) AS c6,
                        COALESCE(r.fetched_at, '') AS c7, COALESCE(CAST(r.status AS TEXT), '') AS c8,
                        COALESCE(CAST(r.bytes AS TEXT), '') AS c9, v.unread AS c10
                 FROM service_runs r
                 JOIN service_versions v ON v.id = r.version_id
                 JOIN texts t ON t.id = v.facts_id
                 WHERE r.run_id = ?1
                 UNION ALL
                 SELECT v.agency_id, v.service_key, v.url, v.level, dvc_hash(v.content_hash), dvc_text(t.text),
                        dvc_time(x.started_at, r.at_ms, r.fetched_at),
                        CAST(CASE r.status WHEN 1 THEN 304 ELSE r.status END AS TEXT),
                        CAST(r.bytes AS TEXT), v.unread
                 FROM service_reads r
                 JOIN runs x ON x.id = r.run_id
                 JOIN service_versions v ON v.id = r.version_id
                 JOIN texts t ON t.id = v.facts_id
                 WHERE r.run_id = ?1)
             ORDER BY c1, c2"
        }
        "X" => FETCH_ROWS,
        "K" => {
            "SELECT CAST(status AS TEXT), error_kind, CAST(not_modified AS TEXT),
                    CAST(fetches AS TEXT), CAST(bytes_wire AS TEXT)
             FROM fetch_counts WHERE run_id = ?1 ORDER BY status, error_kind, not_modified"
        }
        _ => return None,
    })
}

/// The v3 sections after findings and evidence, in digest order.
const V3_SECTIONS: [&str; 9] = ["R", "U", "V", "C", "A", "H", "S", "X", "K"];

/// Hash of one v3 section's rows as stored now, and their count.
pub(super) fn v3_section(conn: &Connection, run: i64, tag: &str) -> Result<(String, u64)> {
    let Some(sql) = v3_section_sql(tag) else {
        return Ok((String::new(), 0));
    };
    let mut hasher = Sha256::new();
    let mut st = conn.prepare_cached(sql)?;
    let width = st.column_count();
    let mut rows = st.query(params![run])?;
    let mut n: u64 = 0;
    while let Some(r) = rows.next()? {
        let mut parts: Vec<String> = Vec::with_capacity(width + 1);
        parts.push(tag.to_string());
        for i in 0..width {
            parts.push(h(&r.get::<_, String>(i)?));
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        put(&mut hasher, &refs);
        n += 1;
    }
    Ok((hex::encode(hasher.finalize()), n))
}

/// The hash of one finding's evidence in a run, and how many rows it has.
pub(super) fn evidence_hash(conn: &Connection, run: i64, fingerprint: &str) -> Result<String> {
    let mut st = conn.prepare_cached(
        "SELECT url, fetched_at, CAST(status AS TEXT), content_hash, locator, excerpt
         FROM evidence WHERE run_id = ?1 AND fingerprint = ?2
         ORDER BY url, content_hash, locator, excerpt, fetched_at, status",
    )?;
    let mut rows = st.query(params![run, fingerprint])?;
    let mut hasher = EvidenceHasher::default();
    while let Some(r) = rows.next()? {
        hasher.row(&evidence_columns(r, 0)?);
    }
    Ok(hasher.finish())
}

/// A row's url, fetched_at, status (as text), content_hash, locator and excerpt: its columns
/// `first..first + 6`.
fn evidence_columns(r: &rusqlite::Row<'_>, first: usize) -> Result<[String; 6]> {
    let text = |i: usize| r.get::<_, String>(first + i);
    Ok([text(0)?, text(1)?, text(2)?, text(3)?, text(4)?, text(5)?])
}

/// The hash of one finding's evidence rows (in the order of [`evidence_hash`]), row by row.
#[derive(Default)]
struct EvidenceHasher {
    hasher: Sha256,
    rows: u64,
}

impl EvidenceHasher {
    /// Add a row ([`evidence_columns`]).
    fn row(&mut self, c: &[String; 6]) {
        put(
            &mut self.hasher,
            &["E", &h(&c[0]), &c[1], &c[2], &c[3], &h(&c[4]), &h(&c[5])],
        );
        self.rows += 1;
    }

    fn finish(mut self) -> String {
        put(&mut self.hasher, &["E", "count", &self.rows.to_string()]);
        hex::encode(self.hasher.finalize())
    }
}

/// Digest v3: a header line, then one line per section (its tag, the hash of its rows and
/// their count), so `gc` can remove a section's rows from an old run and keep only its hash
/// (`pruned`, and `pruned_evidence` per finding) without breaking the chain.
fn run_digest_v3(conn: &Connection, run: i64, prev: &str) -> Result<String> {
    let mut hasher = head(conn, run, DOMAIN_V3, prev)?;
    // Findings (never removed), then each finding's evidence hash.
    let mut findings = Sha256::new();
    let mut evidence = Sha256::new();
    let mut n: u64 = 0;
    {
        let mut f_st = conn.prepare_cached(
            "SELECT fingerprint, rule_id, severity, scope, agency_id, subject, outcome, reason,
                    message_vi, message_en, waiver, state
             FROM findings WHERE run_id = ?1 ORDER BY fingerprint",
        )?;
        let mut pruned_st = conn.prepare_cached(
            "SELECT hash FROM pruned_evidence WHERE run_id = ?1 AND fingerprint = ?2",
        )?;
        // The run's evidence in one cursor, in fingerprint order and, within a fingerprint,
        // in `evidence_hash`'s order, merged with the findings: one query per finding
        // (`WHERE fingerprint = ?2`) made SQLite re-prepare the whole evidence view for every
        // new binding (`sqlite3Reprepare`: 78% of `history verify`, ~70 CPU-s a national run,
        // and the same again when a run completes).
        let mut e_st = conn.prepare_cached(
            "SELECT fingerprint, url, fetched_at, CAST(status AS TEXT), content_hash, locator, excerpt
             FROM evidence WHERE run_id = ?1
             ORDER BY fingerprint, url, content_hash, locator, excerpt, fetched_at, status",
        )?;
        let mut ev_rows = e_st.query(params![run])?;
        let mut next_ev = || -> Result<Option<(String, [String; 6])>> {
            match ev_rows.next()? {
                Some(r) => Ok(Some((r.get(0)?, evidence_columns(r, 1)?))),
                None => Ok(None),
            }
        };
        let mut ev = next_ev()?;
        // A fingerprint listed twice (never written so) hashes the same evidence twice.
        let mut last: Option<(String, String)> = None;
        let mut rows = f_st.query(params![run])?;
        while let Some(f) = rows.next()? {
            let text = |i: usize| f.get::<_, String>(i);
            let fp = text(0)?;
            let mut merged = EvidenceHasher::default();
            // Evidence of fingerprints with no finding row is not part of the digest.
            while let Some((efp, columns)) = &ev {
                match efp.as_str().cmp(fp.as_str()) {
                    std::cmp::Ordering::Greater => break,
                    std::cmp::Ordering::Equal => merged.row(columns),
                    std::cmp::Ordering::Less => {}
                }
                ev = next_ev()?;
            }
            let merged = match &last {
                Some((prev, hash)) if *prev == fp => hash.clone(),
                _ => merged.finish(),
            };
            last = Some((fp.clone(), merged.clone()));
            put(
                &mut findings,
                &[
                    "F",
                    &fp,
                    &text(1)?,
                    &text(2)?,
                    &text(3)?,
                    &text(4)?,
                    &h(&text(5)?),
                    &text(6)?,
                    &text(7)?,
                    &h(&text(8)?),
                    &h(&text(9)?),
                    &h(&text(10)?),
                    &text(11)?,
                ],
            );
            let ev = match pruned_st
                .query_row(params![run, fp], |r| r.get::<_, String>(0))
                .optional()?
            {
                Some(stored) => stored,
                None => merged,
            };
            put(&mut evidence, &["E", &fp, &ev]);
            n += 1;
        }
    }
    let count = n.to_string();
    put(
        &mut hasher,
        &["F", &hex::encode(findings.finalize()), &count],
    );
    put(
        &mut hasher,
        &["E", &hex::encode(evidence.finalize()), &count],
    );
    let mut pruned_st =
        conn.prepare_cached("SELECT hash, rows FROM pruned WHERE run_id = ?1 AND section = ?2")?;
    for tag in V3_SECTIONS {
        let stored = pruned_st
            .query_row(params![run, tag], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
        let (hash, rows) = match stored {
            Some((hash, rows)) => (hash, u64::try_from(rows).unwrap_or(0)),
            None => v3_section(conn, run, tag)?,
        };
        put(&mut hasher, &[tag, &hash, &rows.to_string()]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Findings and their evidence, streamed: two cursors in fingerprint order, merged, so a run
/// of any size is hashed in constant memory (the lines are those of `load_findings`; v2 adds
/// each finding's lifecycle state).
fn findings_lines(
    conn: &Connection,
    run: i64,
    hasher: &mut Sha256,
    with_state: bool,
) -> Result<()> {
    let mut line = |parts: &[&str]| put(hasher, parts);
    let mut f_st = conn.prepare_cached(
        "SELECT fingerprint, rule_id, severity, scope, agency_id, subject, outcome, reason, message_vi, message_en, waiver, state
         FROM findings WHERE run_id = ?1 ORDER BY fingerprint",
    )?;
    let mut e_st = conn.prepare_cached(
        "SELECT fingerprint, url, fetched_at, status, content_hash, locator, excerpt
         FROM evidence WHERE run_id = ?1 ORDER BY fingerprint, url, content_hash, locator, excerpt",
    )?;
    let mut findings = f_st.query(params![run])?;
    let mut evidence = e_st.query(params![run])?;
    let mut pending = evidence_row(evidence.next()?)?;
    while let Some(f) = findings.next()? {
        let fp: String = f.get(0)?;
        let text = |i: usize| f.get::<_, String>(i);
        let state = if with_state { text(11)? } else { String::new() };
        let mut parts = vec![
            "F".to_string(),
            fp.clone(),
            text(1)?,
            text(2)?,
            text(3)?,
            text(4)?,
            h(&text(5)?),
            text(6)?,
            text(7)?,
            h(&text(8)?),
            h(&text(9)?),
            h(&text(10)?),
        ];
        if with_state {
            parts.push(state);
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        line(&refs);
        // Evidence of fingerprints with no finding row is not part of the digest.
        while let Some((efp, e)) = pending.take() {
            match efp.as_str().cmp(fp.as_str()) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => line(&[
                    "E",
                    &fp,
                    &h(&e.url),
                    &e.fetched_at,
                    &e.status.to_string(),
                    &e.content_hash,
                    &h(&e.locator),
                    &h(&e.excerpt),
                ]),
                std::cmp::Ordering::Greater => {
                    pending = Some((efp, e));
                    break;
                }
            }
            pending = evidence_row(evidence.next()?)?;
        }
    }
    Ok(())
}

impl super::Store {
    /// Recompute every complete run's digest in order; name each break.
    pub fn verify_chain(&self) -> Result<Vec<ChainBreak>> {
        let mut st = self.conn.prepare(
            "SELECT id, digest, prev_digest FROM runs WHERE status = 'complete' ORDER BY id",
        )?;
        let rows: Vec<(i64, Option<String>, Option<String>)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<std::result::Result<_, _>>()?;
        let mut breaks = Vec::new();
        let mut expected_prev = String::new();
        for (id, digest, prev) in rows {
            let prev = prev.unwrap_or_default();
            if prev != expected_prev {
                breaks.push(ChainBreak {
                    run_id: id,
                    problem: "its link to the previous complete run does not match: a run was removed or its digest edited".into(),
                });
            }
            let recomputed = run_digest(&self.conn, id, &prev)?;
            let stored = digest.unwrap_or_default();
            if recomputed != stored {
                breaks.push(ChainBreak {
                    run_id: id,
                    problem:
                        "its findings or evidence differ from what was recorded (digest mismatch)"
                            .into(),
                });
            }
            expected_prev = stored;
        }
        Ok(breaks)
    }
    /// The newest complete run and its digest (the head of the chain), if any.
    pub fn head_digest(&self) -> Result<Option<(i64, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, COALESCE(digest, '') FROM runs WHERE status = 'complete' ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The complete run whose digest is `head` (a head printed in a report or email): `None`
    /// when no such run is stored any more (it, or it and later runs, were removed, or its
    /// digest was edited).
    pub fn run_with_digest(&self, head: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM runs WHERE status = 'complete' AND lower(digest) = lower(?1)",
                params![head.trim()],
                |r| r.get(0),
            )
            .optional()?)
    }
}
