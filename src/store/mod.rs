//! History: runs, facts, findings, evidence and their lifecycle in an embedded SQLite database.
//!
//! One module owns the database; other stages hand it plain records. A PostgreSQL store for
//! several scanner machines would implement the same public methods (see ARCHITECTURE.md).
//!
//! Promises:
//! - versioned migrations (`PRAGMA user_version`), WAL, one writer (the run lock guarantees it);
//! - one transaction per stage: a crash leaves earlier runs intact and the crashed run
//!   `running`, which the next run marks `incomplete`; an incomplete run is never a baseline;
//! - finding lifecycle across complete runs of overlapping scope: new, persisting, regressed,
//!   resolved; surprise and regular runs share it;
//! - tamper evidence: each complete run's digest covers its findings and evidence and chains to
//!   the previous complete run's digest ([`Store::verify_chain`]).

mod ages;
mod cas;
mod chain;
mod gc;
mod lifecycle;
mod pack;
pub mod reading;
mod schema;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use chain::ChainBreak;
pub use gc::PruneReport;
pub use lifecycle::{RunDiff, TrendPoint};
pub use pack::register as register_functions;

use crate::facts::{AgencyFacts, Coverage, HostFacts, ServiceFacts};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot encode stored data: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "the database was written by a newer dvc-audit (schema {found}, this build knows {known})"
    )]
    TooNew { found: i64, known: i64 },
    #[error("run {0} does not exist")]
    NoSuchRun(i64),
    #[error(
        "{path} is not a dvc-audit database: it holds tables dvc-audit does not own ({tables}); refusing to use it"
    )]
    Foreign { path: String, tables: String },
    #[error("no history database at {0} (no run has been recorded yet)")]
    Missing(std::path::PathBuf),
    #[error(
        "the database has schema {found}, this build reads schema {known}; read commands never migrate: the next `dvc-audit run` does"
    )]
    Outdated { found: i64, known: i64 },
}

pub use ages::FindingAge;

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which subjects a run looked at; findings outside it are neither persisting nor resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub agencies: Vec<String>,
    /// For a service-sampled surprise run: `agency_id/service_key` of the sampled services.
    pub services: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStart {
    pub mode: String,
    pub scope: Scope,
    pub seed: Option<u64>,
    pub ruleset_digest: String,
    pub config_digest: String,
}

/// One piece of evidence behind a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceRecord {
    pub url: String,
    pub fetched_at: String,
    pub status: i64,
    pub content_hash: String,
    pub locator: String,
    pub excerpt: String,
}

/// A finding (a failed or not-assessable rule for one subject) as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FindingRecord {
    pub fingerprint: String,
    pub rule_id: String,
    pub severity: String,
    /// `service`, `host` or `agency`.
    pub scope: String,
    pub agency_id: String,
    /// `agency/service_key`, `host:port` or `agency`.
    pub subject: String,
    /// `fail` or `could_not_assess`.
    pub outcome: String,
    pub reason: String,
    pub message_vi: String,
    pub message_en: String,
    /// Waiver reference that applied, if any.
    pub waiver: String,
    pub evidence: Vec<EvidenceRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: i64,
    pub mode: String,
    pub scope: Scope,
    pub seed: Option<i64>,
    pub ruleset_digest: String,
    pub config_digest: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: String,
    pub note: String,
    pub digest: Option<String>,
}

/// Cached validators and extraction for a URL (conditional GET on re-runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPage {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_hash: String,
    pub extraction_json: String,
    /// Which extraction `extraction_json` came from (`crawl::list_cache::extraction_key`);
    /// `None` for rows written before schema 8. The crawler replays an entry only under its
    /// walk's own key.
    pub extraction_key: Option<i64>,
}

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The history database.
pub struct Store {
    conn: Connection,
    /// Compresses texts (per-host dictionaries), for the writer.
    packer: pack::Packer,
}

impl Store {
    /// Open (creating if needed) and migrate.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            // A missing directory surfaces as the open error below if this fails.
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        refuse_foreign(&conn, path)?;
        Store::init(conn)
    }

    /// Open an existing history for a read command (`history`, `report`): read-only, never
    /// created, never migrated, refused when it is not a dvc-audit database. Works on
    /// read-only media: when SQLite cannot open the WAL index there (no write access to the
    /// directory), the file is opened as immutable.
    pub fn open_reader(path: &Path) -> Result<Store> {
        if !path.is_file() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let probe = |conn: &Connection| -> Result<i64> {
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
        };
        let first = Connection::open_with_flags(path, flags)
            .map_err(StoreError::from)
            .and_then(|c| probe(&c).map(|v| (c, v)));
        let (conn, version) = match first {
            Ok(ok) => ok,
            Err(first_err) => {
                let Some(uri) = immutable_uri(path) else {
                    return Err(first_err);
                };
                let conn =
                    Connection::open_with_flags(uri, flags | rusqlite::OpenFlags::SQLITE_OPEN_URI)
                        .map_err(|_| first_err)?;
                let v = probe(&conn)?;
                (conn, v)
            }
        };
        refuse_foreign(&conn, path)?;
        let dicts = pack::register(&conn)?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        if version == 0 {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        if version < known {
            return Err(StoreError::Outdated {
                found: version,
                known,
            });
        }
        Ok(Store {
            conn,
            packer: pack::Packer::new(dicts),
        })
    }

    pub fn open_in_memory() -> Result<Store> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let dicts = pack::register(&conn)?;
        let mut store = Store {
            conn,
            packer: pack::Packer::new(dicts),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            match sql.split_once(schema::CONVERT_MARKER) {
                Some((before, after)) => {
                    tx.execute_batch(before)?;
                    cas::convert_schema3(&tx)?;
                    tx.execute_batch(after)?;
                }
                None => tx.execute_batch(sql)?,
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Start a run. Runs left `running` by a crashed process are marked `incomplete` first
    /// (the caller holds the run lock, so no other process is writing).
    pub fn begin_run(&mut self, start: &RunStart) -> Result<i64> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE runs SET status = 'incomplete', ended_at = COALESCE(ended_at, ?1),
                 note = CASE WHEN note = '' THEN 'interrupted (found running at the start of a later run)' ELSE note END
             WHERE status = 'running'",
            params![now()],
        )?;
        tx.execute(
            "INSERT INTO runs (mode, scope_json, seed, ruleset_digest, config_digest, started_at, status, digest_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)",
            params![
                start.mode,
                serde_json::to_string(&start.scope)?,
                start.seed.map(|s| s as i64),
                start.ruleset_digest,
                start.config_digest,
                now(),
                chain::DIGEST_VERSION
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// Replace a run's scope once it is known (a service-sampled run knows its sample only
    /// after listing).
    pub fn set_scope(&mut self, run: i64, scope: &Scope) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET scope_json = ?2 WHERE id = ?1 AND status = 'running'",
            params![run, serde_json::to_string(scope)?],
        )?;
        Ok(())
    }

    /// Mark a run incomplete (interrupted, storage trouble, ...), keeping what was stored.
    pub fn mark_incomplete(&mut self, run: i64, note: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = 'incomplete', ended_at = ?2, note = ?3 WHERE id = ?1 AND status = 'running'",
            params![run, now(), note],
        )?;
        Ok(())
    }

    /// Store the agency facts of a run (one transaction).
    pub fn record_agencies(&mut self, run: i64, agencies: &[AgencyFacts]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO agency_facts (run_id, agency_id, facts_json) VALUES (?1, ?2, ?3)",
            )?;
            for a in agencies {
                st.execute(params![run, a.id, serde_json::to_string(a)?])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Store the host facts of a run: (agency id, facts).
    pub fn record_hosts(&mut self, run: i64, hosts: &[(String, HostFacts)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO host_facts (run_id, host, agency_id, facts_json) VALUES (?1, ?2, ?3, ?4)",
            )?;
            // Packed (zstd, no dictionary: one text per host and run).
            for (agency, h) in hosts {
                st.execute(params![
                    run,
                    format!("{}:{}", h.name, h.port),
                    agency,
                    self.packer.pack(None, &serde_json::to_string(h)?)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Store the service facts of a run (one transaction). A service whose facts are those
    /// of an earlier run (how its page was read aside: time, status, bytes) costs the run one
    /// small row: the facts are stored once per distinct state (`service_versions`, the text
    /// compressed), the read per run (`service_reads`: milliseconds after the run's start,
    /// status, bytes).
    pub fn record_services(&mut self, run: i64, services: &[ServiceFacts]) -> Result<()> {
        let tx = self.conn.transaction()?;
        let started: String = tx.query_row(
            "SELECT started_at FROM runs WHERE id = ?1",
            params![run],
            |r| r.get(0),
        )?;
        let mut states = Vec::with_capacity(services.len());
        for s in services {
            let mut state = s.clone();
            let fetched_at = std::mem::take(&mut state.fetch.fetched_at);
            let status = std::mem::take(&mut state.fetch.status);
            let bytes = std::mem::take(&mut state.fetch.bytes);
            states.push((serde_json::to_string(&state)?, fetched_at, status, bytes));
        }
        self.packer.prepare_all(
            &tx,
            services
                .iter()
                .zip(&states)
                .map(|(s, (json, ..))| (cas::dict_key(cas::Kind::Facts, &s.url), json.as_str())),
        )?;
        for (s, (facts_json, fetched_at, status, bytes)) in services.iter().zip(&states) {
            let key = service_key(s);
            cas::put_service_read(
                &tx,
                &mut self.packer,
                run,
                &started,
                &cas::Version {
                    agency_id: &s.agency_id,
                    service_key: &key,
                    url: &s.url,
                    level: s.level.as_str(),
                    content_hash: &s.fetch.sha256,
                    unread: s.fetch.error.as_ref().map_or("", |e| e.kind.as_str()),
                    facts_json,
                },
                &cas::Read {
                    fetched_at,
                    status: *status,
                    bytes: *bytes,
                },
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Store one agency's coverage in a run and the subjects whose facts it read (the
    /// lifecycle resolves a finding only when its subject is among them). One transaction.
    pub fn record_coverage(
        &mut self,
        run: i64,
        agency_id: &str,
        coverage: &Coverage,
        assessed: &[(&str, String)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO coverage (run_id, agency_id, announced, listed, read, unread,
                 unread_json, truncated_json, excluded_json, listing_error, complete)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                run,
                agency_id,
                coverage.announced,
                coverage.listed,
                coverage.read,
                coverage.unread_total(),
                serde_json::to_string(&coverage.unread)?,
                serde_json::to_string(&coverage.truncated)?,
                serde_json::to_string(&coverage.excluded)?,
                coverage.listing_error.map_or("", |r| r.as_str()),
                coverage.complete()
            ],
        )?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO assessed (run_id, scope, subject) VALUES (?1, ?2, ?3)",
            )?;
            // A service whose readable state this run stored (`record_services` runs first)
            // is assessed by that row (view `assessed_all`): only other subjects are stored.
            let mut read = tx.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM service_versions v
                     JOIN service_reads r ON r.version_id = v.id AND r.run_id = ?1
                     WHERE v.agency_id = ?2 AND v.service_key = ?3 AND v.unread = '')",
            )?;
            for (scope, subject) in assessed {
                if *scope == "service"
                    && let Some((agency, key)) = subject.split_once('/')
                    && read.query_row(params![run, agency, key], |r| r.get::<_, bool>(0))?
                {
                    continue;
                }
                st.execute(params![run, scope, subject])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The code each of `urls` showed the last time its page was read (agency `agency_id`),
    /// for pages that cannot be read now: a service keeps its identity through an outage, so
    /// its earlier findings are matched (unverified), not orphaned. "Last time" is the newest
    /// readable state of the page (states are numbered as first seen; a page that went back
    /// to an older state keeps the newer state's code, which differs only if its code did).
    pub fn known_codes(
        &self,
        agency_id: &str,
        urls: &[&str],
    ) -> Result<std::collections::HashMap<String, String>> {
        // A state keyed by something other than its URL is keyed by its code
        // (`service_key`): one pass over the agency's states by the key index, oldest first,
        // so the newest state of each URL is the one kept.
        let wanted: std::collections::HashSet<&str> = urls.iter().copied().collect();
        let mut out = std::collections::HashMap::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let mut st = self.conn.prepare_cached(
            "SELECT url, service_key FROM service_versions
             WHERE agency_id = ?1 AND unread = '' AND service_key != url
             ORDER BY id",
        )?;
        let mut rows = st.query(params![agency_id])?;
        while let Some(r) = rows.next()? {
            let url: String = r.get(0)?;
            if wanted.contains(url.as_str()) {
                let code: String = r.get(1)?;
                if !code.is_empty() {
                    out.insert(url, code);
                }
            }
        }
        Ok(out)
    }

    /// Store fetch records: every fetch is counted in `fetch_counts` (by status, error kind
    /// and 304); failures and pages that did not answer 304 (new or changed content) also
    /// keep their full record. An unchanged page re-validated with a 304 costs no row.
    pub fn record_fetches(
        &mut self,
        run: i64,
        fetches: &[crate::crawl::FetchRecord],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        // Full records (failures, new or changed pages) are packed like every stored text.
        let kept: Vec<(&crate::crawl::FetchRecord, String)> = fetches
            .iter()
            .filter(|f| !(f.not_modified && f.error.is_none()))
            .map(|f| Ok((f, serde_json::to_string(f)?)))
            .collect::<Result<_>>()?;
        self.packer.prepare_all(
            &tx,
            kept.iter()
                .map(|(f, json)| (cas::dict_key(cas::Kind::Fetch, &f.url), json.as_str())),
        )?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO fetches (run_id, url, status, error_kind, record_json) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut counts = tx.prepare_cached(
                "INSERT INTO fetch_counts (run_id, status, error_kind, not_modified, fetches, bytes_wire)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5)
                 ON CONFLICT (run_id, status, error_kind, not_modified)
                 DO UPDATE SET fetches = fetches + 1, bytes_wire = bytes_wire + excluded.bytes_wire",
            )?;
            for f in fetches {
                let kind = f.error.as_ref().map_or("", |e| e.kind.as_str());
                counts.execute(params![
                    run,
                    f.status,
                    kind,
                    f.not_modified,
                    i64::try_from(f.bytes_wire).unwrap_or(i64::MAX)
                ])?;
            }
            // The URL column is '' (schema 6): the record holds the URL, and readers take it
            // from there (`chain`, section X).
            for (f, json) in &kept {
                st.execute(params![
                    run,
                    "",
                    f.status,
                    f.error.as_ref().map(|e| e.kind.as_str()),
                    self.packer
                        .pack(Some(&cas::dict_key(cas::Kind::Fetch, &f.url)), json)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The facts of one service in a run, if stored.
    pub fn service_facts(&self, run: i64) -> Result<Vec<ServiceFacts>> {
        let mut st = self.conn.prepare_cached(
            "SELECT facts_json FROM service_facts WHERE run_id = ?1 ORDER BY agency_id, service_key",
        )?;
        let rows = st.query_map(params![run], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// Services per agency in the latest complete run (empty before the first): how large
    /// each portal was last time, so a run can start the largest walks first.
    pub fn last_service_counts(&self) -> Result<std::collections::HashMap<String, u64>> {
        let mut st = self.conn.prepare_cached(
            "SELECT agency_id, COUNT(*) FROM service_facts
             WHERE run_id = (SELECT MAX(id) FROM runs WHERE status = 'complete')
             GROUP BY agency_id",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (agency, n) = row?;
            out.insert(agency, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, mode, scope_json, seed, ruleset_digest, config_digest, started_at, ended_at, status, note, digest
             FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map(params![limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, Option<String>>(10)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, mode, scope, seed, rd, cd, started, ended, status, note, digest) = row?;
            out.push(RunRow {
                id,
                mode,
                scope: serde_json::from_str(&scope)?,
                seed,
                ruleset_digest: rd,
                config_digest: cd,
                started_at: started,
                ended_at: ended,
                status,
                note,
                digest,
            });
        }
        Ok(out)
    }

    pub fn run(&self, id: i64) -> Result<RunRow> {
        self.runs(usize::MAX >> 1)?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or(StoreError::NoSuchRun(id))
    }

    /// Validators and extraction stored for `url` by an earlier run.
    pub fn cached_page(&self, url: &str) -> Result<Option<CachedPage>> {
        Ok(cached_page(&self.conn, url)?)
    }

    /// Remember validators and extraction for many URLs (one transaction): one row per URL,
    /// replaced; the extraction text is stored once per content (a detail page's extraction
    /// is the service state its run stored).
    pub fn put_cached_pages(&mut self, pages: &[(String, CachedPage)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        // Unix seconds (schema 7).
        let at = time::OffsetDateTime::now_utc().unix_timestamp();
        self.packer.prepare_all(
            &tx,
            pages.iter().map(|(url, p)| {
                (
                    cas::dict_key(cas::Kind::Facts, url),
                    p.extraction_json.as_str(),
                )
            }),
        )?;
        // In URL order: the cache is keyed by URL alone (schema 6) and one portal's URLs are
        // neighbours, so its rows fill their pages instead of splitting them at random.
        let mut ordered: Vec<&(String, CachedPage)> = pages.iter().collect();
        ordered.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (url, p) in ordered {
            let text = cas::put_text(
                &tx,
                &mut self.packer,
                Some(&cas::dict_key(cas::Kind::Facts, url)),
                &p.extraction_json,
            )?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO page_cache (url, etag, last_modified, content_hash, extraction_id, updated_at, extraction_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                url,
                p.etag,
                p.last_modified,
                pack::hash_value(&p.content_hash),
                text,
                at,
                p.extraction_key
            ])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Keep a raw body once by its content hash.
    pub fn put_body(&mut self, content_hash: &str, body: &[u8]) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO bodies (content_hash, stored_at, body) VALUES (?1, ?2, ?3)",
            params![content_hash, now(), body],
        )?;
        Ok(())
    }

    pub fn body(&self, content_hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT body FROM bodies WHERE content_hash = ?1",
                params![content_hash],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Delete raw bodies older than `retention_days`; returns how many were removed.
    pub fn gc(&mut self, retention_days: u32) -> Result<usize> {
        let cutoff = gc::days_ago(retention_days);
        let n = self
            .conn
            .execute("DELETE FROM bodies WHERE stored_at < ?1", params![cutoff])?;
        Ok(n)
    }

    /// Rewrite the database file without its free pages (`VACUUM`): (bytes before, after).
    pub fn vacuum(&mut self) -> Result<(u64, u64)> {
        let size = |c: &Connection| -> Result<u64> {
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            Ok(u64::try_from(pages.saturating_mul(size)).unwrap_or(0))
        };
        let before = size(&self.conn)?;
        self.conn.execute_batch("VACUUM")?;
        Ok((before, size(&self.conn)?))
    }

    /// Raw access for tests and the `history` command's own queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Tables in `conn` that no migration creates (SQLite's own `sqlite_*` aside): a database
/// holding them belongs to another application and is never written.
fn refuse_foreign(conn: &Connection, path: &Path) -> Result<()> {
    let owned = schema::owned_tables();
    let mut st = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )?;
    let names = st.query_map([], |r| r.get::<_, String>(0))?;
    let mut foreign = Vec::new();
    for n in names {
        let n = n?;
        if !owned.iter().any(|o| o == &n) {
            foreign.push(n);
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 10;
    let more = foreign.len().saturating_sub(SHOWN);
    let mut tables = foreign
        .into_iter()
        .take(SHOWN)
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        tables.push_str(&format!(" and {more} more"));
    }
    Err(StoreError::Foreign {
        path: path.display().to_string(),
        tables,
    })
}

/// `file:///abs/path?immutable=1` for a database on read-only media.
fn immutable_uri(path: &Path) -> Option<String> {
    let abs = std::fs::canonicalize(path).ok()?;
    let mut url = url::Url::from_file_path(abs).ok()?;
    url.set_query(Some("immutable=1"));
    Some(url.to_string())
}

/// A read-only connection for the crawler's conditional-GET lookups, usable from many tasks
/// while the run's writer is busy (WAL lets readers and one writer work together).
pub struct CacheReader {
    conn: std::sync::Mutex<Connection>,
}

impl CacheReader {
    pub fn open(path: &Path) -> Result<CacheReader> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        pack::register(&conn)?;
        Ok(CacheReader {
            conn: std::sync::Mutex::new(conn),
        })
    }
}

impl crate::crawl::walk::PageCache for CacheReader {
    fn get(&self, url: &str) -> Option<CachedPage> {
        let conn = self.conn.lock().ok()?;
        cached_page(&conn, url).ok().flatten()
    }
}

/// The validators and extraction stored for `url` (the writer's and the crawler's reader).
fn cached_page(conn: &Connection, url: &str) -> rusqlite::Result<Option<CachedPage>> {
    conn.query_row(
        "SELECT p.etag, p.last_modified, dvc_hash(p.content_hash), dvc_text(t.text), p.extraction_key
         FROM page_cache p JOIN texts t ON t.id = p.extraction_id WHERE p.url = ?1",
        params![url],
        |r| {
            Ok(CachedPage {
                etag: r.get(0)?,
                last_modified: r.get(1)?,
                content_hash: r.get(2)?,
                extraction_json: r.get(3)?,
                extraction_key: r.get(4)?,
            })
        },
    )
    .optional()
}

/// The identity of a service within its agency: its code, or its URL when it has none.
pub fn service_key(s: &ServiceFacts) -> String {
    if s.code.is_empty() {
        s.url.clone()
    } else {
        s.code.clone()
    }
}

#[cfg(test)]
mod tests;
