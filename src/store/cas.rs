//! Content-addressed rows (schema 4): a text, a service state or an evidence item is stored
//! once per content key (a SHA-256 prefix, [`key`]) and referenced by id from every run that saw it, so storage grows with
//! what changed, not with the number of runs.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::Result;
use super::pack::{Packer, compact_time};

/// The content key of `parts`: the first [`KEY_BYTES`] bytes of a SHA-256 over them, each
/// length-prefixed (no two different sequences hash alike).
pub(super) fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let mut k = h.finalize().to_vec();
    k.truncate(KEY_BYTES);
    k
}

/// Bytes of a content key (schema 6; 32 before). 128 bits: among the 10^8 rows of a decade of
/// national runs, the chance that two contents share a key is about 10^-23, far below the
/// chance of a disk corrupting a row undetected, and every key costs half the bytes (the key
/// is stored in its row and in its unique index).
pub(super) const KEY_BYTES: usize = 16;

/// The id of the row of `table` (`texts`, `service_versions`, `evidence_items`,
/// `finding_versions`) whose content hash is `hash`, if stored.
fn stored_id(conn: &Connection, table: &str, hash: &[u8]) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(&format!("SELECT id FROM {table} WHERE hash = ?1"))?
        .query_row(params![hash], |r| r.get(0))
        .optional()?)
}

/// The kinds of text with dictionaries of their own.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// Service states and page-cache extractions (the same JSON shape).
    Facts,
    /// Finding messages.
    Message,
    /// Full fetch records.
    Fetch,
}

/// The dictionary key of a `kind` of text about `url`: the kind and the URL's host (one
/// portal's pages share their URLs, selectors and labels).
pub(super) fn dict_key(kind: Kind, url: &str) -> String {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let kind = match kind {
        Kind::Facts => "facts",
        Kind::Message => "message",
        Kind::Fetch => "fetch",
    };
    format!("{kind} {host}")
}

/// The id of `text`, stored once (by the SHA-256 of the text), compressed with `dict`'s
/// dictionary when it has one.
pub(super) fn put_text(
    conn: &Connection,
    packer: &mut Packer,
    dict: Option<&str>,
    text: &str,
) -> Result<i64> {
    let hash = key(&[text.as_bytes()]);
    let found = stored_id(conn, "texts", &hash)?;
    if let Some(id) = found {
        return Ok(id);
    }
    let packed = packer.pack(dict, text);
    conn.prepare_cached("INSERT INTO texts (hash, text) VALUES (?1, ?2)")?
        .execute(params![hash, packed])?;
    Ok(conn.last_insert_rowid())
}

/// A text stored as it is (schema-3 conversion: the rows keep their form).
fn put_plain_text(conn: &Connection, text: &str) -> Result<i64> {
    let hash = key(&[text.as_bytes()]);
    let found = stored_id(conn, "texts", &hash)?;
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

/// The id of a service state whose facts text is `facts_id`, stored once.
fn put_version(conn: &Connection, v: &Version<'_>, facts_id: i64) -> Result<i64> {
    let hash = key(&[
        v.agency_id.as_bytes(),
        v.service_key.as_bytes(),
        v.url.as_bytes(),
        v.level.as_bytes(),
        v.content_hash.as_bytes(),
        v.unread.as_bytes(),
        &facts_id.to_le_bytes(),
    ]);
    let found = stored_id(conn, "service_versions", &hash)?;
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
        super::pack::hash_value(v.content_hash),
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

/// Record that `run` (started at `started`) saw service state `v`, read as `read` says,
/// replacing what the run recorded for the same service before. The facts text is
/// compressed; the read time is kept as milliseconds after the run's start.
pub(super) fn put_service_read(
    conn: &Connection,
    packer: &mut Packer,
    run: i64,
    started: &str,
    v: &Version<'_>,
    read: &Read<'_>,
) -> Result<()> {
    let facts_id = put_text(
        conn,
        packer,
        Some(&dict_key(Kind::Facts, v.url)),
        v.facts_json,
    )?;
    let version = put_version(conn, v, facts_id)?;
    for table in ["service_runs", "service_reads"] {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE run_id = ?1 AND version_id IN
                 (SELECT id FROM service_versions WHERE agency_id = ?2 AND service_key = ?3)"
        ))?
        .execute(params![run, v.agency_id, v.service_key])?;
    }
    let (at_ms, fetched_at) = compact_time(started, read.fetched_at);
    conn.prepare_cached(
        "INSERT OR REPLACE INTO service_reads (run_id, version_id, at_ms, fetched_at, status, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        run,
        version,
        at_ms,
        fetched_at,
        stored_status(read.status),
        read.bytes
    ])?;
    Ok(())
}

/// How `service_reads.status` stores a read's HTTP status (schema 11): a 304, the status of
/// nearly every read of an unchanged re-run, as 1, which SQLite stores in no bytes. No HTTP
/// status is 1, so nothing else is ever stored as 1.
pub(super) fn stored_status(status: i64) -> i64 {
    if status == 304 { STORED_304 } else { status }
}

/// `service_reads.status` for a 304 (see [`stored_status`]). Readers map it back with
/// `CASE r.status WHEN 1 THEN 304 ELSE r.status END` (rows written before schema 11 store 304
/// itself): `service_read` here, the digest (`chain.rs`), the `evidence` and `service_facts`
/// views (migration 11).
pub(super) const STORED_304: i64 = 1;

/// Record a schema-3 row: its facts text whole, stored as it was (`service_runs`).
fn put_service_run_v3(conn: &Connection, run: i64, v: &Version<'_>) -> Result<()> {
    let facts_id = put_plain_text(conn, v.facts_json)?;
    let version = put_version(conn, v, facts_id)?;
    conn.prepare_cached(
        "DELETE FROM service_runs WHERE run_id = ?1 AND version_id IN
             (SELECT id FROM service_versions WHERE agency_id = ?2 AND service_key = ?3)",
    )?
    .execute(params![run, v.agency_id, v.service_key])?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO service_runs (run_id, version_id, fetched_at, status, bytes)
         VALUES (?1, ?2, NULL, NULL, NULL)",
    )?
    .execute(params![run, version])?;
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

/// The id of an evidence item (its content without the time), stored once.
fn put_item(conn: &Connection, e: &EvidenceRow<'_>) -> Result<i64> {
    let hash = key(&[
        e.url.as_bytes(),
        &e.status.to_le_bytes(),
        e.content_hash.as_bytes(),
        e.locator.as_bytes(),
        e.excerpt.as_bytes(),
    ]);
    let found: Option<i64> = stored_id(conn, "evidence_items", &hash)?;
    if let Some(id) = found {
        return Ok(id);
    }
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
    Ok(conn.last_insert_rowid())
}

/// A schema-3 evidence row, as it was (`evidence_refs`).
fn put_evidence_v3(
    conn: &Connection,
    run: i64,
    fingerprint: &str,
    e: &EvidenceRow<'_>,
) -> Result<()> {
    let item = put_item(conn, e)?;
    conn.prepare_cached(
        "INSERT INTO evidence_refs (run_id, fingerprint, item_id, fetched_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![run, fingerprint, item, e.fetched_at])?;
    Ok(())
}

/// One finding of a run: the columns of the old `findings` row besides run and state.
pub(super) struct FindingRow<'a> {
    pub fingerprint: &'a str,
    pub rule_id: &'a str,
    pub severity: &'a str,
    pub scope: &'a str,
    pub agency_id: &'a str,
    pub subject: &'a str,
    pub outcome: &'a str,
    pub reason: &'a str,
    pub message_vi: &'a str,
    pub message_en: &'a str,
    pub waiver: &'a str,
}

/// Record finding `f` with its evidence in `run` (started at `started`): its content,
/// evidence items included, stored once (`finding_versions`, `version_items`; messages as
/// compressed texts); the run's mark replaces any earlier mark of the same fingerprint in the
/// run. What an evidence row shares with its subject service's read in this run (`read`) is
/// not stored again: its time is stored (`evidence_times`) only when it is not the read's,
/// and an item whose status, URL or content hash is the read's stores [`READ_STATUS`] or
/// [`READ_TEXT`] instead. A page that answered 200, then 304, or whose content changed while
/// the finding did not, keeps one finding version; one rule's evidence on many services is
/// one item.
pub(super) fn put_finding(
    conn: &Connection,
    packer: &mut Packer,
    (run, started): (i64, &str),
    f: &FindingRow<'_>,
    evidence: &[EvidenceRow<'_>],
    dict: Option<&str>,
    read: Option<&SubjectRead>,
) -> Result<()> {
    let vi = put_text(conn, packer, dict, f.message_vi)?;
    let en = put_text(conn, packer, dict, f.message_en)?;
    let items: Vec<i64> = evidence
        .iter()
        .map(|e| {
            let url = read_text(e.url, read.map(|r| r.url.as_str()));
            let content_hash = read_text(e.content_hash, read.map(|r| r.content_hash.as_str()));
            let status = match read {
                Some(r) if r.status == e.status && e.status != READ_STATUS => READ_STATUS,
                _ => e.status,
            };
            put_item(
                conn,
                &EvidenceRow {
                    url: &url,
                    content_hash: &content_hash,
                    status,
                    ..*e
                },
            )
        })
        .collect::<Result<_>>()?;
    let item_bytes: Vec<u8> = items.iter().flat_map(|i| i.to_le_bytes()).collect();
    let hash = key(&[
        f.fingerprint.as_bytes(),
        f.rule_id.as_bytes(),
        f.severity.as_bytes(),
        f.scope.as_bytes(),
        f.agency_id.as_bytes(),
        f.subject.as_bytes(),
        f.outcome.as_bytes(),
        f.reason.as_bytes(),
        &vi.to_le_bytes(),
        &en.to_le_bytes(),
        f.waiver.as_bytes(),
        &item_bytes,
    ]);
    let found: Option<i64> = stored_id(conn, "finding_versions", &hash)?;
    let version = match found {
        Some(id) => id,
        None => {
            conn.prepare_cached(
                "INSERT INTO finding_versions (hash, fingerprint, rule_id, severity, scope, agency_id,
                     subject, outcome, reason, message_vi_id, message_en_id, waiver)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                hash,
                f.fingerprint,
                f.rule_id,
                f.severity,
                f.scope,
                f.agency_id,
                f.subject,
                f.outcome,
                f.reason,
                vi,
                en,
                f.waiver
            ])?;
            let id = conn.last_insert_rowid();
            let mut st = conn.prepare_cached(
                "INSERT INTO version_items (version_id, seq, item_id) VALUES (?1, ?2, ?3)",
            )?;
            for (seq, item) in items.iter().enumerate() {
                st.execute(params![id, seq as i64, item])?;
            }
            id
        }
    };
    // Storing a fingerprint twice in a run keeps the last record (and its evidence).
    for table in ["evidence_times", "finding_marks"] {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE run_id = ?1 AND version_id IN
                 (SELECT id FROM finding_versions WHERE fingerprint = ?2)"
        ))?
        .execute(params![run, f.fingerprint])?;
    }
    conn.prepare_cached("DELETE FROM findings_rows WHERE run_id = ?1 AND fingerprint = ?2")?
        .execute(params![run, f.fingerprint])?;
    conn.prepare_cached("DELETE FROM evidence_refs WHERE run_id = ?1 AND fingerprint = ?2")?
        .execute(params![run, f.fingerprint])?;
    conn.prepare_cached(
        "INSERT INTO finding_marks (run_id, version_id, state) VALUES (?1, ?2, 0)",
    )?
    .execute(params![run, version])?;
    let mut times = conn.prepare_cached(
        "INSERT INTO evidence_times (run_id, version_id, seq, at_ms, fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (seq, e) in evidence.iter().enumerate() {
        if read.map(|r| r.at.as_str()) == Some(e.fetched_at) {
            continue;
        }
        let (at_ms, text) = compact_time(started, e.fetched_at);
        times.execute(params![run, version, seq as i64, at_ms, text])?;
    }
    Ok(())
}

/// The `status` of an evidence item that is its subject service's read status in the run
/// (the `evidence` view takes it from `service_reads`).
pub(super) const READ_STATUS: i64 = -1;

/// The `url` or `content_hash` of an evidence item that is its subject service's in the run
/// (the `evidence` view takes it from the service's state). A stored text that starts with
/// it is escaped by doubling it ([`read_text`]); no URL or hash starts with it.
pub(super) const READ_TEXT: &str = "@";

/// `value` as an evidence item stores it: [`READ_TEXT`] when it is the subject's `read`
/// value (and not empty), `value` with [`READ_TEXT`] doubled when it starts with it.
fn read_text<'a>(value: &'a str, read: Option<&str>) -> std::borrow::Cow<'a, str> {
    if !value.is_empty() && read == Some(value) {
        std::borrow::Cow::Borrowed(READ_TEXT)
    } else if value.starts_with(READ_TEXT) {
        std::borrow::Cow::Owned(format!("{READ_TEXT}{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// A service's read in a run as the views rebuild it: time, HTTP status, and the URL and
/// content hash of the state read.
pub(super) struct SubjectRead {
    pub at: String,
    pub status: i64,
    pub url: String,
    pub content_hash: String,
}

/// The read of service `agency`/`key` in `run`, if stored.
pub(super) fn service_read(
    conn: &Connection,
    run: i64,
    agency: &str,
    key: &str,
) -> Result<Option<SubjectRead>> {
    Ok(conn
        .prepare_cached(
            "SELECT dvc_time(x.started_at, r.at_ms, r.fetched_at),
                    CASE r.status WHEN 1 THEN 304 ELSE r.status END, v.url,
                    dvc_hash(v.content_hash)
             FROM service_versions v
             JOIN service_reads r ON r.version_id = v.id AND r.run_id = ?1
             JOIN runs x ON x.id = r.run_id
             WHERE v.agency_id = ?2 AND v.service_key = ?3",
        )?
        .query_row(params![run, agency, key], |r| {
            Ok(SubjectRead {
                at: r.get(0)?,
                status: r.get(1)?,
                url: r.get(2)?,
                content_hash: r.get(3)?,
            })
        })
        .optional()?)
}

/// Fold the marks of complete run `run` into spans: a version the run just before also
/// found (in a span whose later runs share this state) extends that span; any other starts
/// one. A finding seen again then costs the run nothing. (`+s.last_run`: the probe must go
/// by version. Spans are not indexed by their last run since schema 6: the update scans them,
/// which costs less than moving every extended span's index entry each run.)
pub(super) fn fold_marks(conn: &Connection, run: i64) -> Result<()> {
    let prev: Option<i64> = conn.query_row(
        "SELECT MAX(id) FROM runs WHERE id < ?1",
        params![run],
        |r| r.get(0),
    )?;
    if let Some(prev) = prev {
        conn.execute(
            "UPDATE finding_spans SET last_run = ?1,
                 next_state = (SELECT m.state FROM finding_marks m
                               WHERE m.run_id = ?1 AND m.version_id = finding_spans.version_id)
             WHERE last_run = ?2
               AND EXISTS (SELECT 1 FROM finding_marks m
                           WHERE m.run_id = ?1 AND m.version_id = finding_spans.version_id
                             AND (finding_spans.next_state IS NULL
                                  OR finding_spans.next_state IS m.state))",
            params![run, prev],
        )?;
    }
    conn.execute(
        "INSERT INTO finding_spans (version_id, first_run, last_run, first_state, next_state)
         SELECT m.version_id, ?1, ?1, m.state, NULL FROM finding_marks m
         WHERE m.run_id = ?1
           AND NOT EXISTS (SELECT 1 FROM finding_spans s
                           WHERE s.version_id = m.version_id AND +s.last_run = ?1)",
        params![run],
    )?;
    conn.execute("DELETE FROM finding_marks WHERE run_id = ?1", params![run])?;
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
            put_service_run_v3(
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
            put_evidence_v3(
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
            let id = put_plain_text(conn, &text)?;
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
