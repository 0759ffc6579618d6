//! Content-addressed rows (schema 4): a text, a service state or an evidence item is stored
//! once per SHA-256 and referenced by id from every run that saw it, so storage grows with
//! what changed, not with the number of runs.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::Result;

/// SHA-256 over `parts`, each length-prefixed (no two different sequences hash alike).
pub(super) fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().to_vec()
}

/// The id of `text`, stored once.
pub(super) fn put_text(conn: &Connection, text: &str) -> Result<i64> {
    let hash = key(&[text.as_bytes()]);
    let found = conn
        .prepare_cached("SELECT id FROM texts WHERE hash = ?1")?
        .query_row(params![hash], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    conn.prepare_cached("INSERT INTO texts (hash, text) VALUES (?1, ?2)")?
        .execute(params![hash, text])?;
    Ok(conn.last_insert_rowid())
}

/// One service state: the columns of the old `service_facts` row besides `run_id`.
pub(super) struct Version<'a> {
    pub agency_id: &'a str,
    pub service_key: &'a str,
    pub url: &'a str,
    pub level: &'a str,
    pub content_hash: &'a str,
    pub unread: &'a str,
    pub facts_json: &'a str,
}

/// The id of a service state, stored once.
pub(super) fn put_version(conn: &Connection, v: &Version<'_>) -> Result<i64> {
    let facts_id = put_text(conn, v.facts_json)?;
    let hash = key(&[
        v.agency_id.as_bytes(),
        v.service_key.as_bytes(),
        v.url.as_bytes(),
        v.level.as_bytes(),
        v.content_hash.as_bytes(),
        v.unread.as_bytes(),
        &facts_id.to_le_bytes(),
    ]);
    let found = conn
        .prepare_cached("SELECT id FROM service_versions WHERE hash = ?1")?
        .query_row(params![hash], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    conn.prepare_cached(
        "INSERT INTO service_versions (hash, agency_id, service_key, url, level, content_hash, unread, facts_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        hash,
        v.agency_id,
        v.service_key,
        v.url,
        v.level,
        v.content_hash,
        v.unread,
        facts_id
    ])?;
    Ok(conn.last_insert_rowid())
}

/// How a run read a service's page: what the state's text leaves out.
pub(super) struct Read<'a> {
    pub fetched_at: &'a str,
    pub status: i64,
    pub bytes: i64,
}

/// Record that `run` saw service state `version` (read as `read` says; `None` for rows whose
/// facts text is whole), replacing what the run recorded for the same service before.
pub(super) fn put_service_run(
    conn: &Connection,
    run: i64,
    v: &Version<'_>,
    read: Option<&Read<'_>>,
) -> Result<()> {
    let version = put_version(conn, v)?;
    conn.prepare_cached(
        "DELETE FROM service_runs WHERE run_id = ?1 AND version_id IN
             (SELECT id FROM service_versions WHERE agency_id = ?2 AND service_key = ?3)",
    )?
    .execute(params![run, v.agency_id, v.service_key])?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO service_runs (run_id, version_id, fetched_at, status, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        run,
        version,
        read.map(|r| r.fetched_at),
        read.map(|r| r.status),
        read.map(|r| r.bytes)
    ])?;
    Ok(())
}

/// One piece of evidence of a finding in a run (the columns of the old `evidence` row).
pub(super) struct EvidenceRow<'a> {
    pub url: &'a str,
    pub fetched_at: &'a str,
    pub status: i64,
    pub content_hash: &'a str,
    pub locator: &'a str,
    pub excerpt: &'a str,
}

pub(super) fn put_evidence(
    conn: &Connection,
    run: i64,
    fingerprint: &str,
    e: &EvidenceRow<'_>,
) -> Result<()> {
    let hash = key(&[
        e.url.as_bytes(),
        &e.status.to_le_bytes(),
        e.content_hash.as_bytes(),
        e.locator.as_bytes(),
        e.excerpt.as_bytes(),
    ]);
    let found: Option<i64> = conn
        .prepare_cached("SELECT id FROM evidence_items WHERE hash = ?1")?
        .query_row(params![hash], |r| r.get(0))
        .optional()?;
    let item = match found {
        Some(id) => id,
        None => {
            conn.prepare_cached(
                "INSERT INTO evidence_items (hash, url, status, content_hash, locator, excerpt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                hash,
                e.url,
                e.status,
                e.content_hash,
                e.locator,
                e.excerpt
            ])?;
            conn.last_insert_rowid()
        }
    };
    conn.prepare_cached(
        "INSERT INTO evidence_refs (run_id, fingerprint, item_id, fetched_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![run, fingerprint, item, e.fetched_at])?;
    Ok(())
}

/// Move the rows of schema 3 (`service_facts_v3`, `evidence_v3`, `page_cache_v3`) into the
/// content-addressed tables, unchanged in content: the views return exactly the old rows, so
/// every digest stored before the migration still verifies.
pub(super) fn convert_schema3(conn: &Connection) -> Result<()> {
    {
        let mut st = conn.prepare(
            "SELECT run_id, agency_id, service_key, url, level, content_hash, facts_json, unread
             FROM service_facts_v3 ORDER BY run_id, agency_id, service_key",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let run: i64 = r.get(0)?;
            let (agency_id, service_key, url, level, content_hash, facts_json, unread): (
                String,
                String,
                String,
                String,
                String,
                String,
                String,
            ) = (
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            );
            put_service_run(
                conn,
                run,
                &Version {
                    agency_id: &agency_id,
                    service_key: &service_key,
                    url: &url,
                    level: &level,
                    content_hash: &content_hash,
                    unread: &unread,
                    facts_json: &facts_json,
                },
                None,
            )?;
        }
    }
    {
        // In rowid order: rows that tie in every ordered column keep their order.
        let mut st = conn.prepare(
            "SELECT run_id, fingerprint, url, fetched_at, status, content_hash, locator, excerpt
             FROM evidence_v3 ORDER BY rowid",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let run: i64 = r.get(0)?;
            let fp: String = r.get(1)?;
            let (url, fetched_at, status, content_hash, locator, excerpt): (
                String,
                String,
                i64,
                String,
                String,
                String,
            ) = (
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            );
            put_evidence(
                conn,
                run,
                &fp,
                &EvidenceRow {
                    url: &url,
                    fetched_at: &fetched_at,
                    status,
                    content_hash: &content_hash,
                    locator: &locator,
                    excerpt: &excerpt,
                },
            )?;
        }
    }
    {
        let mut st = conn.prepare(
            "SELECT url, etag, last_modified, content_hash, extraction_json, updated_at FROM page_cache_v3",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let text: String = r.get(4)?;
            let id = put_text(conn, &text)?;
            conn.prepare_cached(
                "INSERT INTO page_cache (url, etag, last_modified, content_hash, extraction_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                id,
                r.get::<_, String>(5)?
            ])?;
        }
    }
    Ok(())
}
