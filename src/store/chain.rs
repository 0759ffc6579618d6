//! Tamper evidence: each complete run's digest covers its findings and evidence (in a fixed
//! order, every text field hashed) and the previous complete run's digest, so editing any
//! stored finding or evidence row, or deleting a run, breaks the chain from there on.

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

pub(super) fn run_digest(conn: &Connection, run: i64, prev: &str) -> Result<String> {
    let (mode, rd, cd): (String, String, String) = conn.query_row(
        "SELECT mode, ruleset_digest, config_digest FROM runs WHERE id = ?1",
        params![run],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut hasher = Sha256::new();
    let mut line = |parts: &[&str]| {
        hasher.update(parts.join("\u{1f}").as_bytes());
        hasher.update(b"\n");
    };
    line(&[DOMAIN, prev, &run.to_string(), &mode, &rd, &cd]);
    // Streamed: findings and evidence are two cursors in fingerprint order, merged, so a run
    // of any size is hashed in constant memory (the lines are those of `load_findings`).
    let mut f_st = conn.prepare_cached(
        "SELECT fingerprint, rule_id, severity, scope, agency_id, subject, outcome, reason, message_vi, message_en, waiver
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
        line(&[
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
        ]);
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
    Ok(hex::encode(hasher.finalize()))
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
}
