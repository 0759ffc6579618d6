//! Versioned migrations. `PRAGMA user_version` holds the number of migrations applied; each
//! migration runs in its own transaction. Never edit a released migration: add a new one.

pub const MIGRATIONS: &[&str] = &[
    // 1: runs, facts, findings, evidence, lifecycle, conditional-GET cache, raw bodies.
    r#"
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    mode            TEXT NOT NULL,            -- regular | surprise | spot
    scope_json      TEXT NOT NULL,            -- {"agencies":[...], "services":[...]|null}
    seed            INTEGER,                  -- surprise sample seed
    ruleset_digest  TEXT NOT NULL,
    config_digest   TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    status          TEXT NOT NULL CHECK (status IN ('running','complete','incomplete')),
    note            TEXT NOT NULL DEFAULT '',
    digest          TEXT,                     -- chained digest of findings + evidence
    prev_digest     TEXT
);

CREATE TABLE agency_facts (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    agency_id   TEXT NOT NULL,
    facts_json  TEXT NOT NULL,
    PRIMARY KEY (run_id, agency_id)
);

CREATE TABLE host_facts (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    host        TEXT NOT NULL,                -- name:port
    agency_id   TEXT NOT NULL,
    facts_json  TEXT NOT NULL,
    PRIMARY KEY (run_id, host, agency_id)
);

CREATE TABLE service_facts (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    agency_id   TEXT NOT NULL,
    service_key TEXT NOT NULL,                -- code, or URL when no code was found
    url         TEXT NOT NULL,
    level       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    facts_json  TEXT NOT NULL,
    PRIMARY KEY (run_id, agency_id, service_key)
);

CREATE TABLE fetches (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    url         TEXT NOT NULL,
    status      INTEGER NOT NULL,
    error_kind  TEXT,
    record_json TEXT NOT NULL
);
CREATE INDEX fetches_run ON fetches(run_id);

CREATE TABLE findings (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    fingerprint TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    severity    TEXT NOT NULL,
    scope       TEXT NOT NULL,
    agency_id   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('fail','could_not_assess')),
    reason      TEXT NOT NULL DEFAULT '',
    message_vi  TEXT NOT NULL,
    message_en  TEXT NOT NULL,
    waiver      TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL DEFAULT '',     -- new | persisting | regressed (filled at finish)
    PRIMARY KEY (run_id, fingerprint)
);
CREATE INDEX findings_fp ON findings(fingerprint);

CREATE TABLE evidence (
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    fingerprint  TEXT NOT NULL,
    url          TEXT NOT NULL,
    fetched_at   TEXT NOT NULL,
    status       INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    locator      TEXT NOT NULL DEFAULT '',
    excerpt      TEXT NOT NULL
);
CREATE INDEX evidence_run ON evidence(run_id, fingerprint);

-- One row per finding fingerprint ever seen: its lifecycle across complete runs.
CREATE TABLE lifecycle (
    fingerprint      TEXT PRIMARY KEY,
    rule_id          TEXT NOT NULL,
    scope            TEXT NOT NULL,
    agency_id        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('open','resolved')),
    first_seen_run   INTEGER NOT NULL,
    last_seen_run    INTEGER NOT NULL,
    resolved_run     INTEGER,
    times_regressed  INTEGER NOT NULL DEFAULT 0
);

-- Findings resolved by a run (present in the baseline, in scope, absent now).
CREATE TABLE resolutions (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (run_id, fingerprint)
);

-- Conditional GET: the latest validators and extraction per URL.
CREATE TABLE page_cache (
    url             TEXT PRIMARY KEY,
    etag            TEXT,
    last_modified   TEXT,
    content_hash    TEXT NOT NULL,
    extraction_json TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- Raw bodies stored once by content hash, kept for storage.raw_retention_days.
CREATE TABLE bodies (
    content_hash TEXT PRIMARY KEY,
    stored_at    TEXT NOT NULL,
    body         BLOB NOT NULL
);
"#,
    // 2: coverage. What a run actually looked at, so an outage is never a verdict: the
    // subjects it assessed (a finding is resolved only when its subject is here), the open
    // findings it could not re-check, each agency's coverage, and why a service page was not
    // read.
    r#"
-- Subjects whose facts this run read (`scope` service|host|agency, `subject` as in findings).
CREATE TABLE assessed (
    run_id   INTEGER NOT NULL REFERENCES runs(id),
    scope    TEXT NOT NULL,
    subject  TEXT NOT NULL,
    PRIMARY KEY (run_id, scope, subject)
) WITHOUT ROWID;

-- Open findings a complete run could not re-check: their subject was not assessed, or the
-- rule could not assess it. They stay open (not resolved) until a run that assesses them.
CREATE TABLE unverified (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    fingerprint TEXT NOT NULL,
    reason      TEXT NOT NULL,             -- an AssessReason, or 'not_assessed'
    PRIMARY KEY (run_id, fingerprint)
);

-- Each agency's coverage in a run.
CREATE TABLE coverage (
    run_id         INTEGER NOT NULL REFERENCES runs(id),
    agency_id      TEXT NOT NULL,
    announced      INTEGER,                -- the total the portal shows, when it shows one
    listed         INTEGER NOT NULL,       -- distinct service links found
    read           INTEGER NOT NULL,       -- services whose page was read
    unread         INTEGER NOT NULL,       -- services whose page could not be read
    unread_json    TEXT NOT NULL,          -- {"reason": count}
    truncated_json TEXT NOT NULL,          -- [{"bound": "...", "dropped": n}]
    excluded_json  TEXT NOT NULL,          -- links that are not services: {"reason": count}
    listing_error  TEXT NOT NULL DEFAULT '', -- why the listing stopped early (AssessReason)
    complete       INTEGER NOT NULL,       -- listing complete, nothing truncated, every service read
    PRIMARY KEY (run_id, agency_id)
);

-- Why a service's page was not read ('' when it was).
ALTER TABLE service_facts ADD COLUMN unread TEXT NOT NULL DEFAULT '';
UPDATE service_facts SET unread = COALESCE(json_extract(facts_json, '$.fetch.error.kind'), '');
-- A page that cannot be read keeps the code it showed last time (subject identity).
CREATE INDEX service_facts_url ON service_facts(agency_id, url);
"#,
    // 3 (issue #16, hardening): per-run digest version.
    // Runs completed before this migration keep version 1 (findings and evidence); runs begun
    // after it are version 2, which also covers times, scope, facts, states and resolutions
    // (`chain.rs`). A version-2 digest covers `ended_at`, so completion keeps the end time the
    // digest sealed (the trigger: `chain::run_digest` pins it inside the completing
    // transaction, and the completing UPDATE's own `ended_at` is set back to it).
    r#"
ALTER TABLE runs ADD COLUMN digest_version INTEGER NOT NULL DEFAULT 1;
CREATE TRIGGER runs_sealed_end AFTER UPDATE OF status ON runs
WHEN OLD.status = 'running' AND NEW.status = 'complete' AND OLD.ended_at IS NOT NULL
     AND NEW.digest_version >= 2
BEGIN
    UPDATE runs SET ended_at = OLD.ended_at WHERE id = NEW.id;
END;
"#,
    // 4 (issue 20): storage that grows with change, not with runs. Texts (service facts,
    // page-cache extractions) and evidence items are stored once per SHA-256; a run references
    // them. `service_facts` and `evidence` become views with their old columns, so every
    // reader keeps working. Fetch records: per-run counts, and in full only failures and
    // pages that did not answer 304. `pruned` keeps the section hashes of what `gc` removed
    // from old runs, so their digests still verify. The rows of schema 3 are moved by
    // `cas::convert_schema3` at the `@convert` line, inside this migration's transaction.
    r#"
CREATE TABLE texts (
    id    INTEGER PRIMARY KEY,
    hash  BLOB NOT NULL UNIQUE,              -- SHA-256 of text
    text  TEXT NOT NULL
);

-- One row per distinct service state: the facts JSON (for rows written since schema 4 with
-- `fetch.fetched_at`, `fetch.status` and `fetch.bytes` blanked: `service_runs` holds them)
-- and the columns derived from it.
CREATE TABLE service_versions (
    id           INTEGER PRIMARY KEY,
    hash         BLOB NOT NULL UNIQUE,       -- SHA-256 over every column below
    agency_id    TEXT NOT NULL,
    service_key  TEXT NOT NULL,
    url          TEXT NOT NULL,
    level        TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    unread       TEXT NOT NULL,
    facts_id     INTEGER NOT NULL REFERENCES texts(id)
);
CREATE INDEX service_versions_key ON service_versions(agency_id, service_key);
CREATE INDEX service_versions_url ON service_versions(agency_id, url);
CREATE INDEX service_versions_facts ON service_versions(facts_id);

-- Which service states a run saw, and how it read each page (time, HTTP status, decoded
-- bytes: a 304 and the 200 before it share the state). `fetched_at` NULL: the facts text is
-- stored whole (rows of schema 3).
CREATE TABLE service_runs (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    version_id  INTEGER NOT NULL REFERENCES service_versions(id),
    fetched_at  TEXT,
    status      INTEGER,
    bytes       INTEGER,
    PRIMARY KEY (run_id, version_id)
) WITHOUT ROWID;
CREATE INDEX service_runs_version ON service_runs(version_id);

CREATE TABLE evidence_items (
    id           INTEGER PRIMARY KEY,
    hash         BLOB NOT NULL UNIQUE,       -- SHA-256 over every column below
    url          TEXT NOT NULL,
    status       INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    locator      TEXT NOT NULL,
    excerpt      TEXT NOT NULL
);

CREATE TABLE evidence_refs (
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    fingerprint  TEXT NOT NULL,
    item_id      INTEGER NOT NULL REFERENCES evidence_items(id),
    fetched_at   TEXT NOT NULL
);
CREATE INDEX evidence_refs_run ON evidence_refs(run_id, fingerprint);
CREATE INDEX evidence_refs_item ON evidence_refs(item_id);

-- Fetch outcomes of a run by (status, error kind, 304): every fetch is counted here; only
-- failures and pages that did not answer 304 keep a full row in `fetches`.
CREATE TABLE fetch_counts (
    run_id        INTEGER NOT NULL REFERENCES runs(id),
    status        INTEGER NOT NULL,
    error_kind    TEXT NOT NULL,
    not_modified  INTEGER NOT NULL,
    fetches       INTEGER NOT NULL,
    bytes_wire    INTEGER NOT NULL,
    PRIMARY KEY (run_id, status, error_kind, not_modified)
) WITHOUT ROWID;

-- Digest sections `gc` removed from a run (digest v3): their hash and row count, so the
-- run's digest is recomputed from what is left.
CREATE TABLE pruned (
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    section    TEXT NOT NULL,
    hash       TEXT NOT NULL,
    rows       INTEGER NOT NULL,
    pruned_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, section)
) WITHOUT ROWID;

-- The evidence of one finding of a run that `gc` removed (the finding stays): its hash.
CREATE TABLE pruned_evidence (
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    fingerprint  TEXT NOT NULL,
    hash         TEXT NOT NULL,
    PRIMARY KEY (run_id, fingerprint)
) WITHOUT ROWID;

-- The per-agency service counts of a run whose service rows `gc` removed, as
-- `Store::service_counts` computed them just before: later reports' trends still show it.
CREATE TABLE pruned_service_counts (
    run_id           INTEGER NOT NULL REFERENCES runs(id),
    agency_id        TEXT NOT NULL,
    services         INTEGER NOT NULL,
    read             INTEGER NOT NULL,
    full             INTEGER NOT NULL,
    full_with_vgca   INTEGER NOT NULL,
    level_published  INTEGER NOT NULL,
    level_unobserved     INTEGER NOT NULL DEFAULT 0,
    signature_unobserved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, agency_id)
) WITHOUT ROWID;

ALTER TABLE service_facts RENAME TO service_facts_v3;
ALTER TABLE evidence RENAME TO evidence_v3;
ALTER TABLE page_cache RENAME TO page_cache_v3;

-- Conditional GET: the latest validators and extraction per URL (one row per URL, replaced).
CREATE TABLE page_cache (
    url             TEXT PRIMARY KEY,
    etag            TEXT,
    last_modified   TEXT,
    content_hash    TEXT NOT NULL,
    extraction_id   INTEGER NOT NULL REFERENCES texts(id),
    updated_at      TEXT NOT NULL
);
CREATE INDEX page_cache_extraction ON page_cache(extraction_id);
-- @convert
DROP TABLE service_facts_v3;
DROP TABLE evidence_v3;
DROP TABLE page_cache_v3;

CREATE VIEW service_facts AS
SELECT r.run_id AS run_id, v.agency_id AS agency_id, v.service_key AS service_key, v.url AS url,
       v.level AS level, v.content_hash AS content_hash,
       CASE WHEN r.fetched_at IS NULL THEN t.text
            ELSE json_set(t.text, '$.fetch.fetched_at', r.fetched_at, '$.fetch.status', r.status,
                          '$.fetch.bytes', r.bytes) END AS facts_json,
       v.unread AS unread
FROM service_runs r
JOIN service_versions v ON v.id = r.version_id
JOIN texts t ON t.id = v.facts_id;

-- `rowid` is the reference's: tools that address an evidence row by rowid keep working.
CREATE VIEW evidence AS
SELECT r.rowid AS rowid, r.run_id AS run_id, r.fingerprint AS fingerprint, i.url AS url, r.fetched_at AS fetched_at,
       i.status AS status, i.content_hash AS content_hash, i.locator AS locator, i.excerpt AS excerpt
FROM evidence_refs r
JOIN evidence_items i ON i.id = r.item_id;

-- The views stay writable for code and tools that write the old tables: a row written
-- through them is stored whole (not shared: its hash is random), so it is read back as
-- written, and every digest covers it as before.
CREATE TRIGGER service_facts_insert INSTEAD OF INSERT ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = NEW.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = NEW.agency_id AND service_key = NEW.service_key);
    INSERT INTO texts (hash, text) VALUES (randomblob(32), NEW.facts_json);
    INSERT INTO service_versions (hash, agency_id, service_key, url, level, content_hash, unread, facts_id)
        VALUES (randomblob(32), NEW.agency_id, NEW.service_key, NEW.url, NEW.level,
                NEW.content_hash, COALESCE(NEW.unread, ''), last_insert_rowid());
    INSERT INTO service_runs (run_id, version_id, fetched_at) VALUES (NEW.run_id, last_insert_rowid(), NULL);
END;
CREATE TRIGGER service_facts_delete INSTEAD OF DELETE ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
END;
CREATE TRIGGER service_facts_update INSTEAD OF UPDATE ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    INSERT INTO texts (hash, text) VALUES (randomblob(32), NEW.facts_json);
    INSERT INTO service_versions (hash, agency_id, service_key, url, level, content_hash, unread, facts_id)
        VALUES (randomblob(32), NEW.agency_id, NEW.service_key, NEW.url, NEW.level,
                NEW.content_hash, NEW.unread, last_insert_rowid());
    INSERT INTO service_runs (run_id, version_id, fetched_at) VALUES (NEW.run_id, last_insert_rowid(), NULL);
END;
CREATE TRIGGER evidence_insert INSTEAD OF INSERT ON evidence
BEGIN
    INSERT INTO evidence_items (hash, url, status, content_hash, locator, excerpt)
        VALUES (randomblob(32), NEW.url, NEW.status, NEW.content_hash, COALESCE(NEW.locator, ''), NEW.excerpt);
    INSERT INTO evidence_refs (run_id, fingerprint, item_id, fetched_at)
        VALUES (NEW.run_id, NEW.fingerprint, last_insert_rowid(), NEW.fetched_at);
END;
CREATE TRIGGER evidence_delete INSTEAD OF DELETE ON evidence
BEGIN
    DELETE FROM evidence_refs WHERE rowid = OLD.rowid;
END;
CREATE TRIGGER evidence_update INSTEAD OF UPDATE ON evidence
BEGIN
    INSERT INTO evidence_items (hash, url, status, content_hash, locator, excerpt)
        VALUES (randomblob(32), NEW.url, NEW.status, NEW.content_hash, NEW.locator, NEW.excerpt);
    UPDATE evidence_refs SET run_id = NEW.run_id, fingerprint = NEW.fingerprint,
           fetched_at = NEW.fetched_at, item_id = last_insert_rowid()
    WHERE rowid = OLD.rowid;
END;
"#,
    // 5 (issue 20): per-run rows made small. Texts are zstd-compressed (`pack.rs`: per-host
    // dictionaries in `zdicts`; TEXT values of earlier schemas read unchanged through
    // `dvc_text`). A run's service reads (`service_reads`) keep their time as milliseconds
    // after the run's start. Findings are stored once per distinct content, evidence items
    // included (`finding_versions`, `version_items`); a running run marks the versions it
    // found (`finding_marks`), and completing it folds the marks into spans of consecutive
    // runs (`finding_spans`), so a finding seen again costs nothing. An evidence row's time is
    // its subject service's read time in the run unless `evidence_times` says otherwise. A
    // service whose readable state a run stored is assessed by that row, so `assessed` keeps
    // only other subjects (view `assessed_all`: all). Rows written before stay where they are
    // (`findings_rows`, `evidence_refs`, `service_runs`, `assessed`); the views return both.
    r#"
CREATE TABLE zdicts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,        -- kind and portal host: 'facts dvc.x.gov.vn'…
    dict        BLOB NOT NULL,
    trained_at  TEXT NOT NULL
);

CREATE TABLE service_reads (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    version_id  INTEGER NOT NULL REFERENCES service_versions(id),
    at_ms       INTEGER,                     -- fetched_at, ms after the run's started_at
    fetched_at  TEXT,                        -- only when at_ms cannot carry it
    status      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    PRIMARY KEY (run_id, version_id)
) WITHOUT ROWID;

CREATE TABLE finding_versions (
    id            INTEGER PRIMARY KEY,
    hash          BLOB NOT NULL UNIQUE,      -- SHA-256 over every column below
    fingerprint   TEXT NOT NULL,
    rule_id       TEXT NOT NULL,
    severity      TEXT NOT NULL,
    scope         TEXT NOT NULL,
    agency_id     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    message_vi_id INTEGER NOT NULL REFERENCES texts(id),
    message_en_id INTEGER NOT NULL REFERENCES texts(id),
    waiver        TEXT NOT NULL
);
CREATE INDEX finding_versions_fp ON finding_versions(fingerprint);

-- The evidence of a finding version, in order: part of the version.
CREATE TABLE version_items (
    version_id  INTEGER NOT NULL REFERENCES finding_versions(id),
    seq         INTEGER NOT NULL,
    item_id     INTEGER NOT NULL REFERENCES evidence_items(id),
    PRIMARY KEY (version_id, seq)
) WITHOUT ROWID;

-- Findings of a run that is not complete (yet, or ever). state: 0 '', 1 new, 2 persisting,
-- 3 regressed; any other state as its text.
CREATE TABLE finding_marks (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    version_id  INTEGER NOT NULL REFERENCES finding_versions(id),
    state       NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, version_id)
) WITHOUT ROWID;
-- By version: a lookup by fingerprint (views read versions first) must not scan the marks
-- that runs which never completed leave behind.
CREATE INDEX finding_marks_version ON finding_marks(version_id);

-- Findings of complete runs: the version was found by every run with an id from first_run to
-- last_run (consecutive ids: a span grows only from the run just before), in state
-- first_state in its first run and next_state in the others. (The views read versions first,
-- `CROSS JOIN` fixing the order: a lookup by fingerprint then costs one index probe, and a
-- whole run one pass over the versions, whatever the planner would guess without statistics.)
CREATE TABLE finding_spans (
    version_id  INTEGER NOT NULL REFERENCES finding_versions(id),
    first_run   INTEGER NOT NULL REFERENCES runs(id),
    last_run    INTEGER NOT NULL REFERENCES runs(id),
    first_state NOT NULL,
    next_state,
    PRIMARY KEY (version_id, first_run)
) WITHOUT ROWID;
CREATE INDEX finding_spans_last ON finding_spans(last_run, first_run);

-- The time of an evidence row when it is not its subject service's read time in the run.
-- (An evidence item whose status is -1 has its subject's read status in the run.)
CREATE TABLE evidence_times (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    version_id  INTEGER NOT NULL REFERENCES finding_versions(id),
    seq         INTEGER NOT NULL,
    at_ms       INTEGER,
    fetched_at  TEXT,
    PRIMARY KEY (run_id, version_id, seq)
) WITHOUT ROWID;

ALTER TABLE findings RENAME TO findings_rows;

CREATE VIEW findings AS
SELECT run_id, fingerprint, rule_id, severity, scope, agency_id, subject, outcome, reason,
       message_vi, message_en, waiver, state
FROM findings_rows
UNION ALL
SELECT m.run_id, v.fingerprint, v.rule_id, v.severity, v.scope, v.agency_id, v.subject,
       v.outcome, v.reason, dvc_text(a.text), dvc_text(b.text), v.waiver, dvc_state(m.state)
FROM finding_versions v
CROSS JOIN finding_marks m ON m.version_id = v.id
JOIN texts a ON a.id = v.message_vi_id
JOIN texts b ON b.id = v.message_en_id
UNION ALL
SELECT x.id, v.fingerprint, v.rule_id, v.severity, v.scope, v.agency_id, v.subject,
       v.outcome, v.reason, dvc_text(a.text), dvc_text(b.text), v.waiver,
       dvc_state(CASE WHEN x.id = s.first_run THEN s.first_state ELSE s.next_state END)
FROM finding_versions v
CROSS JOIN finding_spans s ON s.version_id = v.id
CROSS JOIN runs x ON x.id BETWEEN s.first_run AND s.last_run
JOIN texts a ON a.id = v.message_vi_id
JOIN texts b ON b.id = v.message_en_id;

-- Writes through the view (tools, tests) go to the row table, as before; findings stored
-- since schema 5 are shared by runs and cannot be edited through it.
CREATE TRIGGER findings_insert INSTEAD OF INSERT ON findings
BEGIN
    INSERT OR REPLACE INTO findings_rows (run_id, fingerprint, rule_id, severity, scope, agency_id,
        subject, outcome, reason, message_vi, message_en, waiver, state)
    VALUES (NEW.run_id, NEW.fingerprint, NEW.rule_id, NEW.severity, NEW.scope, NEW.agency_id,
        NEW.subject, NEW.outcome, COALESCE(NEW.reason, ''), NEW.message_vi, NEW.message_en,
        COALESCE(NEW.waiver, ''), COALESCE(NEW.state, ''));
END;
CREATE TRIGGER findings_delete INSTEAD OF DELETE ON findings
BEGIN
    SELECT RAISE(ABORT, 'findings stored since schema 5 cannot be deleted through the view')
    WHERE NOT EXISTS (SELECT 1 FROM findings_rows WHERE run_id = OLD.run_id AND fingerprint = OLD.fingerprint);
    DELETE FROM findings_rows WHERE run_id = OLD.run_id AND fingerprint = OLD.fingerprint;
END;
CREATE TRIGGER findings_update INSTEAD OF UPDATE ON findings
BEGIN
    SELECT RAISE(ABORT, 'findings stored since schema 5 cannot be edited through the view')
    WHERE NOT EXISTS (SELECT 1 FROM findings_rows WHERE run_id = OLD.run_id AND fingerprint = OLD.fingerprint);
    UPDATE findings_rows SET run_id = NEW.run_id, fingerprint = NEW.fingerprint,
        rule_id = NEW.rule_id, severity = NEW.severity, scope = NEW.scope,
        agency_id = NEW.agency_id, subject = NEW.subject, outcome = NEW.outcome,
        reason = NEW.reason, message_vi = NEW.message_vi, message_en = NEW.message_en,
        waiver = NEW.waiver, state = NEW.state
    WHERE run_id = OLD.run_id AND fingerprint = OLD.fingerprint;
END;

DROP VIEW evidence;
CREATE VIEW evidence AS
SELECT r.rowid AS rowid, r.run_id AS run_id, r.fingerprint AS fingerprint, i.url AS url,
       r.fetched_at AS fetched_at, i.status AS status, i.content_hash AS content_hash,
       i.locator AS locator, i.excerpt AS excerpt, NULL AS seq
FROM evidence_refs r
JOIN evidence_items i ON i.id = r.item_id
UNION ALL
SELECT NULL, m.run_id, v.fingerprint, i.url,
       CASE WHEN t.seq IS NOT NULL THEN dvc_time(x.started_at, t.at_ms, t.fetched_at)
            ELSE COALESCE((SELECT dvc_time(x.started_at, r.at_ms, r.fetched_at)
                           FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
       END,
       CASE WHEN i.status = -1
            THEN COALESCE((SELECT r.status FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), -1)
            ELSE i.status END,
       i.content_hash, i.locator, i.excerpt, vi.seq
FROM finding_versions v
CROSS JOIN finding_marks m ON m.version_id = v.id
JOIN runs x ON x.id = m.run_id
JOIN version_items vi ON vi.version_id = v.id
JOIN evidence_items i ON i.id = vi.item_id
LEFT JOIN evidence_times t ON t.run_id = m.run_id AND t.version_id = v.id AND t.seq = vi.seq
UNION ALL
SELECT NULL, x.id, v.fingerprint, i.url,
       CASE WHEN t.seq IS NOT NULL THEN dvc_time(x.started_at, t.at_ms, t.fetched_at)
            ELSE COALESCE((SELECT dvc_time(x.started_at, r.at_ms, r.fetched_at)
                           FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
       END,
       CASE WHEN i.status = -1
            THEN COALESCE((SELECT r.status FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), -1)
            ELSE i.status END,
       i.content_hash, i.locator, i.excerpt, vi.seq
FROM finding_versions v
CROSS JOIN finding_spans s ON s.version_id = v.id
CROSS JOIN runs x ON x.id BETWEEN s.first_run AND s.last_run
JOIN version_items vi ON vi.version_id = v.id
JOIN evidence_items i ON i.id = vi.item_id
LEFT JOIN evidence_times t ON t.run_id = x.id AND t.version_id = v.id AND t.seq = vi.seq;
CREATE TRIGGER evidence_insert INSTEAD OF INSERT ON evidence
BEGIN
    INSERT INTO evidence_items (hash, url, status, content_hash, locator, excerpt)
        VALUES (randomblob(32), NEW.url, NEW.status, NEW.content_hash, COALESCE(NEW.locator, ''), NEW.excerpt);
    INSERT INTO evidence_refs (run_id, fingerprint, item_id, fetched_at)
        VALUES (NEW.run_id, NEW.fingerprint, last_insert_rowid(), NEW.fetched_at);
END;
CREATE TRIGGER evidence_delete INSTEAD OF DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence stored since schema 5 cannot be deleted through the view')
    WHERE OLD.rowid IS NULL;
    DELETE FROM evidence_refs WHERE rowid = OLD.rowid;
END;
CREATE TRIGGER evidence_update INSTEAD OF UPDATE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence stored since schema 5 cannot be edited through the view')
    WHERE OLD.rowid IS NULL;
    INSERT INTO evidence_items (hash, url, status, content_hash, locator, excerpt)
        VALUES (randomblob(32), NEW.url, NEW.status, NEW.content_hash, NEW.locator, NEW.excerpt);
    UPDATE evidence_refs SET run_id = NEW.run_id, fingerprint = NEW.fingerprint,
           fetched_at = NEW.fetched_at, item_id = last_insert_rowid()
    WHERE rowid = OLD.rowid;
END;

DROP VIEW service_facts;
CREATE VIEW service_facts AS
SELECT r.run_id AS run_id, v.agency_id AS agency_id, v.service_key AS service_key, v.url AS url,
       v.level AS level, v.content_hash AS content_hash,
       CASE WHEN r.fetched_at IS NULL THEN dvc_text(t.text)
            ELSE json_set(dvc_text(t.text), '$.fetch.fetched_at', r.fetched_at, '$.fetch.status', r.status,
                          '$.fetch.bytes', r.bytes) END AS facts_json,
       v.unread AS unread
FROM service_runs r
JOIN service_versions v ON v.id = r.version_id
JOIN texts t ON t.id = v.facts_id
UNION ALL
SELECT r.run_id, v.agency_id, v.service_key, v.url, v.level, v.content_hash,
       json_set(dvc_text(t.text), '$.fetch.fetched_at', dvc_time(x.started_at, r.at_ms, r.fetched_at),
                '$.fetch.status', r.status, '$.fetch.bytes', r.bytes),
       v.unread
FROM service_reads r
JOIN runs x ON x.id = r.run_id
JOIN service_versions v ON v.id = r.version_id
JOIN texts t ON t.id = v.facts_id;
CREATE TRIGGER service_facts_insert INSTEAD OF INSERT ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = NEW.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = NEW.agency_id AND service_key = NEW.service_key);
    DELETE FROM service_reads WHERE run_id = NEW.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = NEW.agency_id AND service_key = NEW.service_key);
    INSERT INTO texts (hash, text) VALUES (randomblob(32), NEW.facts_json);
    INSERT INTO service_versions (hash, agency_id, service_key, url, level, content_hash, unread, facts_id)
        VALUES (randomblob(32), NEW.agency_id, NEW.service_key, NEW.url, NEW.level,
                NEW.content_hash, COALESCE(NEW.unread, ''), last_insert_rowid());
    INSERT INTO service_runs (run_id, version_id, fetched_at) VALUES (NEW.run_id, last_insert_rowid(), NULL);
END;
CREATE TRIGGER service_facts_delete INSTEAD OF DELETE ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    DELETE FROM service_reads WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
END;
CREATE TRIGGER service_facts_update INSTEAD OF UPDATE ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    DELETE FROM service_reads WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    INSERT INTO texts (hash, text) VALUES (randomblob(32), NEW.facts_json);
    INSERT INTO service_versions (hash, agency_id, service_key, url, level, content_hash, unread, facts_id)
        VALUES (randomblob(32), NEW.agency_id, NEW.service_key, NEW.url, NEW.level,
                NEW.content_hash, NEW.unread, last_insert_rowid());
    INSERT INTO service_runs (run_id, version_id, fetched_at) VALUES (NEW.run_id, last_insert_rowid(), NULL);
END;

CREATE VIEW assessed_all AS
SELECT run_id, scope, subject FROM assessed
UNION
SELECT r.run_id, 'service', v.agency_id || '/' || v.service_key
FROM service_reads r
JOIN service_versions v ON v.id = r.version_id
WHERE v.unread = '';
"#,
    // 6 (issue #20, a first run's size): the same rows in fewer bytes. Content keys are the
    // first 16 bytes of their SHA-256 (no collision among any number of rows a history will
    // hold; 16 bytes less per row and per index entry); the page cache and the lifecycle are
    // keyed by URL and fingerprint alone (WITHOUT ROWID: the key is no longer stored twice);
    // the service URL index goes (the one lookup by URL, `known_codes`, reads an agency's
    // states by the key index); a fetch row whose URL is its record's stores '' (the record
    // holds it); an evidence item stores '@' for its subject service's URL or content hash in
    // the run (one rule's evidence on many services is then one item, and a finding whose
    // page changed while it did not keeps its version); service states and the page cache
    // store a SHA-256 content hash as its 32 bytes (`dvc_hash` reads it back as hex).
    r#"
UPDATE texts SET hash = substr(hash, 1, 16);
UPDATE service_versions SET hash = substr(hash, 1, 16);
UPDATE evidence_items SET hash = substr(hash, 1, 16);
UPDATE finding_versions SET hash = substr(hash, 1, 16);

DROP INDEX service_versions_url;
-- Only the fold looked spans up by their last run, and a scan of the spans costs it less than
-- the index cost every run: each fold moved every extended span's entry to the new run's end
-- of the index (a re-run's pages).
DROP INDEX finding_spans_last;

ALTER TABLE page_cache RENAME TO page_cache_v5;
CREATE TABLE page_cache (
    url             TEXT PRIMARY KEY,
    etag            TEXT,
    last_modified   TEXT,
    content_hash    TEXT NOT NULL,
    extraction_id   INTEGER NOT NULL REFERENCES texts(id),
    updated_at      TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO page_cache (url, etag, last_modified, content_hash, extraction_id, updated_at)
    SELECT url, etag, last_modified, content_hash, extraction_id, updated_at FROM page_cache_v5;
DROP TABLE page_cache_v5;

ALTER TABLE lifecycle RENAME TO lifecycle_v5;
CREATE TABLE lifecycle (
    fingerprint      TEXT PRIMARY KEY,
    rule_id          TEXT NOT NULL,
    scope            TEXT NOT NULL,
    agency_id        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('open','resolved')),
    first_seen_run   INTEGER NOT NULL,
    last_seen_run    INTEGER NOT NULL,
    resolved_run     INTEGER,
    times_regressed  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO lifecycle SELECT fingerprint, rule_id, scope, agency_id, subject, state,
    first_seen_run, last_seen_run, resolved_run, times_regressed FROM lifecycle_v5;
DROP TABLE lifecycle_v5;

-- Evidence items store '@' for the URL or content hash of their subject service's state
-- read in the run (a text starting with '@' is stored with it doubled), as -1 stands for
-- its status.
DROP VIEW evidence;
CREATE VIEW evidence AS
SELECT r.rowid AS rowid, r.run_id AS run_id, r.fingerprint AS fingerprint, i.url AS url,
       r.fetched_at AS fetched_at, i.status AS status, i.content_hash AS content_hash,
       i.locator AS locator, i.excerpt AS excerpt, NULL AS seq
FROM evidence_refs r
JOIN evidence_items i ON i.id = r.item_id
UNION ALL
SELECT NULL, m.run_id, v.fingerprint,
       CASE WHEN i.url = '@' THEN COALESCE((SELECT sv.url FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
            WHEN substr(i.url, 1, 2) = '@@' THEN substr(i.url, 2) ELSE i.url END,
       CASE WHEN t.seq IS NOT NULL THEN dvc_time(x.started_at, t.at_ms, t.fetched_at)
            ELSE COALESCE((SELECT dvc_time(x.started_at, r.at_ms, r.fetched_at) FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
       END,
       CASE WHEN i.status = -1 THEN COALESCE((SELECT r.status FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), -1)
            ELSE i.status END,
       CASE WHEN i.content_hash = '@' THEN COALESCE((SELECT dvc_hash(sv.content_hash) FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
            WHEN substr(i.content_hash, 1, 2) = '@@' THEN substr(i.content_hash, 2)
            ELSE i.content_hash END,
       i.locator, i.excerpt, vi.seq
FROM finding_versions v
CROSS JOIN finding_marks m ON m.version_id = v.id
JOIN runs x ON x.id = m.run_id
JOIN version_items vi ON vi.version_id = v.id
JOIN evidence_items i ON i.id = vi.item_id
LEFT JOIN evidence_times t ON t.run_id = m.run_id AND t.version_id = v.id AND t.seq = vi.seq
UNION ALL
SELECT NULL, x.id, v.fingerprint,
       CASE WHEN i.url = '@' THEN COALESCE((SELECT sv.url FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
            WHEN substr(i.url, 1, 2) = '@@' THEN substr(i.url, 2) ELSE i.url END,
       CASE WHEN t.seq IS NOT NULL THEN dvc_time(x.started_at, t.at_ms, t.fetched_at)
            ELSE COALESCE((SELECT dvc_time(x.started_at, r.at_ms, r.fetched_at) FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
       END,
       CASE WHEN i.status = -1 THEN COALESCE((SELECT r.status FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), -1)
            ELSE i.status END,
       CASE WHEN i.content_hash = '@' THEN COALESCE((SELECT dvc_hash(sv.content_hash) FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
            WHEN substr(i.content_hash, 1, 2) = '@@' THEN substr(i.content_hash, 2)
            ELSE i.content_hash END,
       i.locator, i.excerpt, vi.seq
FROM finding_versions v
CROSS JOIN finding_spans s ON s.version_id = v.id
CROSS JOIN runs x ON x.id BETWEEN s.first_run AND s.last_run
JOIN version_items vi ON vi.version_id = v.id
JOIN evidence_items i ON i.id = vi.item_id
LEFT JOIN evidence_times t ON t.run_id = x.id AND t.version_id = v.id AND t.seq = vi.seq;
CREATE TRIGGER evidence_insert INSTEAD OF INSERT ON evidence
BEGIN
    INSERT INTO evidence_items (hash, url, status, content_hash, locator, excerpt)
        VALUES (randomblob(16), NEW.url, NEW.status, NEW.content_hash, COALESCE(NEW.locator, ''), NEW.excerpt);
    INSERT INTO evidence_refs (run_id, fingerprint, item_id, fetched_at)
        VALUES (NEW.run_id, NEW.fingerprint, last_insert_rowid(), NEW.fetched_at);
END;
CREATE TRIGGER evidence_delete INSTEAD OF DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence stored since schema 5 cannot be deleted through the view')
    WHERE OLD.rowid IS NULL;
    DELETE FROM evidence_refs WHERE rowid = OLD.rowid;
END;
CREATE TRIGGER evidence_update INSTEAD OF UPDATE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence stored since schema 5 cannot be edited through the view')
    WHERE OLD.rowid IS NULL;
    INSERT INTO evidence_items (hash, url, status, content_hash, locator, excerpt)
        VALUES (randomblob(16), NEW.url, NEW.status, NEW.content_hash, NEW.locator, NEW.excerpt);
    UPDATE evidence_refs SET run_id = NEW.run_id, fingerprint = NEW.fingerprint,
           fetched_at = NEW.fetched_at, item_id = last_insert_rowid()
    WHERE rowid = OLD.rowid;
END;
DROP VIEW service_facts;
CREATE VIEW service_facts AS
SELECT r.run_id AS run_id, v.agency_id AS agency_id, v.service_key AS service_key, v.url AS url,
       v.level AS level, dvc_hash(v.content_hash) AS content_hash,
       CASE WHEN r.fetched_at IS NULL THEN dvc_text(t.text)
            ELSE json_set(dvc_text(t.text), '$.fetch.fetched_at', r.fetched_at, '$.fetch.status', r.status,
                          '$.fetch.bytes', r.bytes) END AS facts_json,
       v.unread AS unread
FROM service_runs r
JOIN service_versions v ON v.id = r.version_id
JOIN texts t ON t.id = v.facts_id
UNION ALL
SELECT r.run_id, v.agency_id, v.service_key, v.url, v.level, dvc_hash(v.content_hash),
       json_set(dvc_text(t.text), '$.fetch.fetched_at', dvc_time(x.started_at, r.at_ms, r.fetched_at),
                '$.fetch.status', r.status, '$.fetch.bytes', r.bytes),
       v.unread
FROM service_reads r
JOIN runs x ON x.id = r.run_id
JOIN service_versions v ON v.id = r.version_id
JOIN texts t ON t.id = v.facts_id;
CREATE TRIGGER service_facts_insert INSTEAD OF INSERT ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = NEW.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = NEW.agency_id AND service_key = NEW.service_key);
    DELETE FROM service_reads WHERE run_id = NEW.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = NEW.agency_id AND service_key = NEW.service_key);
    INSERT INTO texts (hash, text) VALUES (randomblob(16), NEW.facts_json);
    INSERT INTO service_versions (hash, agency_id, service_key, url, level, content_hash, unread, facts_id)
        VALUES (randomblob(16), NEW.agency_id, NEW.service_key, NEW.url, NEW.level,
                NEW.content_hash, COALESCE(NEW.unread, ''), last_insert_rowid());
    INSERT INTO service_runs (run_id, version_id, fetched_at) VALUES (NEW.run_id, last_insert_rowid(), NULL);
END;
CREATE TRIGGER service_facts_delete INSTEAD OF DELETE ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    DELETE FROM service_reads WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
END;
CREATE TRIGGER service_facts_update INSTEAD OF UPDATE ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    DELETE FROM service_reads WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    INSERT INTO texts (hash, text) VALUES (randomblob(16), NEW.facts_json);
    INSERT INTO service_versions (hash, agency_id, service_key, url, level, content_hash, unread, facts_id)
        VALUES (randomblob(16), NEW.agency_id, NEW.service_key, NEW.url, NEW.level,
                NEW.content_hash, NEW.unread, last_insert_rowid());
    INSERT INTO service_runs (run_id, version_id, fetched_at) VALUES (NEW.run_id, last_insert_rowid(), NULL);
END;
"#,
    // 7: the page cache's `updated_at` (when a URL's row was last written; nothing reads it
    // to decide anything) as Unix seconds instead of a 30-character RFC 3339 text: 6 MB of a
    // national first run's 300 (200,000 URLs). Rows keep their URL order.
    r#"
ALTER TABLE page_cache RENAME TO page_cache_v6;
CREATE TABLE page_cache (
    url             TEXT PRIMARY KEY,
    etag            TEXT,
    last_modified   TEXT,
    content_hash    TEXT NOT NULL,
    extraction_id   INTEGER NOT NULL REFERENCES texts(id),
    updated_at      INTEGER NOT NULL             -- Unix seconds, UTC
) WITHOUT ROWID;
INSERT INTO page_cache (url, etag, last_modified, content_hash, extraction_id, updated_at)
    SELECT url, etag, last_modified, content_hash, extraction_id,
           COALESCE(CAST(strftime('%s', updated_at) AS INTEGER), 0)
    FROM page_cache_v6 ORDER BY url;
DROP TABLE page_cache_v6;
"#,
    // 8: which extraction a cached page's facts came from (`crawl::list_cache::extraction_key`:
    // dvc-audit build, profile, agency variables). A stored extraction is replayed on a 304 only
    // under the same key, so an edited profile or a new release re-reads unchanged pages once
    // instead of replaying facts the old profile or code read. Rows from before have none:
    // their pages are fetched unconditionally once.
    r#"
ALTER TABLE page_cache ADD COLUMN extraction_key INTEGER;
"#,
    // 9: "resolved" only when a run observed the finding fixed. What judged a run: each rule
    // it evaluated, with the key of its definition and the parameter values it reads
    // (`RuleSet::judgement_keys`); an open finding whose rule a run did not evaluate (renamed,
    // removed, outside `rules.dirs`) is not resolved. Open findings a run judged not
    // applicable while another rule failed on the same subject on the facts the `when` reads
    // (a worse defect masks the lesser one), or under a rule definition or parameters changed
    // since it last failed, are recorded with why, and stay unverified. A finding whose
    // service left a completely read listing is `withdrawn` (no longer listed): closed, not
    // fixed, never counted as open.
    r#"
CREATE TABLE run_rules (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    rule_id     TEXT NOT NULL,
    judged_key  TEXT NOT NULL,                -- SHA-256 of the definition + parameters read
    PRIMARY KEY (run_id, rule_id)
) WITHOUT ROWID;

CREATE TABLE not_applicable (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    fingerprint TEXT NOT NULL,
    masked_by   TEXT NOT NULL DEFAULT '',     -- failing rules on the same subject, comma-separated
    PRIMARY KEY (run_id, fingerprint)
) WITHOUT ROWID;

CREATE TABLE withdrawals (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (run_id, fingerprint)
) WITHOUT ROWID;

ALTER TABLE lifecycle RENAME TO lifecycle_v8;
CREATE TABLE lifecycle (
    fingerprint      TEXT PRIMARY KEY,
    rule_id          TEXT NOT NULL,
    scope            TEXT NOT NULL,
    agency_id        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('open','resolved','withdrawn')),
    first_seen_run   INTEGER NOT NULL,
    last_seen_run    INTEGER NOT NULL,
    resolved_run     INTEGER,
    times_regressed  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO lifecycle SELECT fingerprint, rule_id, scope, agency_id, subject, state,
    first_seen_run, last_seen_run, resolved_run, times_regressed FROM lifecycle_v8;
DROP TABLE lifecycle_v8;
"#,
    // 10: each complete run's trend point per agency, computed once (`Store::trends_until`):
    // a complete run's rows never change, and recomputing the aggregates of the last 120
    // runs made every national report cost about a second per run of history. `calc` is the
    // version of the computation (`lifecycle::TREND_CALC`); points of another one are
    // computed again.
    r#"
CREATE TABLE trend_points (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    agency_id   TEXT NOT NULL,
    calc        INTEGER NOT NULL,
    point       TEXT NOT NULL,                -- JSON of `TrendPoint`
    PRIMARY KEY (run_id, agency_id)
) WITHOUT ROWID;
"#,
    // 11 (issue 20, the unchanged re-run's margin): a read answered 304 stores status 1 in
    // `service_reads` (SQLite stores the integers 0 and 1 in no bytes, 304 in two): one row
    // per service and run, ~0.4 MB of a national re-run's 5. Every reader maps 1 back to 304
    // (no HTTP status is 1); rows stored before keep 304 and read the same. The two views that
    // read the column are restated with that mapping, unchanged otherwise.
    r#"
-- Evidence items store '@' for the URL or content hash of their subject service's state
-- read in the run (a text starting with '@' is stored with it doubled), as -1 stands for
-- its status.
DROP VIEW evidence;
CREATE VIEW evidence AS
SELECT r.rowid AS rowid, r.run_id AS run_id, r.fingerprint AS fingerprint, i.url AS url,
       r.fetched_at AS fetched_at, i.status AS status, i.content_hash AS content_hash,
       i.locator AS locator, i.excerpt AS excerpt, NULL AS seq
FROM evidence_refs r
JOIN evidence_items i ON i.id = r.item_id
UNION ALL
SELECT NULL, m.run_id, v.fingerprint,
       CASE WHEN i.url = '@' THEN COALESCE((SELECT sv.url FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
            WHEN substr(i.url, 1, 2) = '@@' THEN substr(i.url, 2) ELSE i.url END,
       CASE WHEN t.seq IS NOT NULL THEN dvc_time(x.started_at, t.at_ms, t.fetched_at)
            ELSE COALESCE((SELECT dvc_time(x.started_at, r.at_ms, r.fetched_at) FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
       END,
       CASE WHEN i.status = -1 THEN COALESCE((SELECT CASE r.status WHEN 1 THEN 304 ELSE r.status END FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), -1)
            ELSE i.status END,
       CASE WHEN i.content_hash = '@' THEN COALESCE((SELECT dvc_hash(sv.content_hash) FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = m.run_id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
            WHEN substr(i.content_hash, 1, 2) = '@@' THEN substr(i.content_hash, 2)
            ELSE i.content_hash END,
       i.locator, i.excerpt, vi.seq
FROM finding_versions v
CROSS JOIN finding_marks m ON m.version_id = v.id
JOIN runs x ON x.id = m.run_id
JOIN version_items vi ON vi.version_id = v.id
JOIN evidence_items i ON i.id = vi.item_id
LEFT JOIN evidence_times t ON t.run_id = m.run_id AND t.version_id = v.id AND t.seq = vi.seq
UNION ALL
SELECT NULL, x.id, v.fingerprint,
       CASE WHEN i.url = '@' THEN COALESCE((SELECT sv.url FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
            WHEN substr(i.url, 1, 2) = '@@' THEN substr(i.url, 2) ELSE i.url END,
       CASE WHEN t.seq IS NOT NULL THEN dvc_time(x.started_at, t.at_ms, t.fetched_at)
            ELSE COALESCE((SELECT dvc_time(x.started_at, r.at_ms, r.fetched_at) FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
       END,
       CASE WHEN i.status = -1 THEN COALESCE((SELECT CASE r.status WHEN 1 THEN 304 ELSE r.status END FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), -1)
            ELSE i.status END,
       CASE WHEN i.content_hash = '@' THEN COALESCE((SELECT dvc_hash(sv.content_hash) FROM service_versions sv
                           JOIN service_reads r ON r.version_id = sv.id AND r.run_id = x.id
                           WHERE v.scope = 'service' AND sv.agency_id = v.agency_id
                             AND sv.service_key = substr(v.subject, length(v.agency_id) + 2)), '')
            WHEN substr(i.content_hash, 1, 2) = '@@' THEN substr(i.content_hash, 2)
            ELSE i.content_hash END,
       i.locator, i.excerpt, vi.seq
FROM finding_versions v
CROSS JOIN finding_spans s ON s.version_id = v.id
CROSS JOIN runs x ON x.id BETWEEN s.first_run AND s.last_run
JOIN version_items vi ON vi.version_id = v.id
JOIN evidence_items i ON i.id = vi.item_id
LEFT JOIN evidence_times t ON t.run_id = x.id AND t.version_id = v.id AND t.seq = vi.seq;
CREATE TRIGGER evidence_insert INSTEAD OF INSERT ON evidence
BEGIN
    INSERT INTO evidence_items (hash, url, status, content_hash, locator, excerpt)
        VALUES (randomblob(16), NEW.url, NEW.status, NEW.content_hash, COALESCE(NEW.locator, ''), NEW.excerpt);
    INSERT INTO evidence_refs (run_id, fingerprint, item_id, fetched_at)
        VALUES (NEW.run_id, NEW.fingerprint, last_insert_rowid(), NEW.fetched_at);
END;
CREATE TRIGGER evidence_delete INSTEAD OF DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence stored since schema 5 cannot be deleted through the view')
    WHERE OLD.rowid IS NULL;
    DELETE FROM evidence_refs WHERE rowid = OLD.rowid;
END;
CREATE TRIGGER evidence_update INSTEAD OF UPDATE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence stored since schema 5 cannot be edited through the view')
    WHERE OLD.rowid IS NULL;
    INSERT INTO evidence_items (hash, url, status, content_hash, locator, excerpt)
        VALUES (randomblob(16), NEW.url, NEW.status, NEW.content_hash, NEW.locator, NEW.excerpt);
    UPDATE evidence_refs SET run_id = NEW.run_id, fingerprint = NEW.fingerprint,
           fetched_at = NEW.fetched_at, item_id = last_insert_rowid()
    WHERE rowid = OLD.rowid;
END;
DROP VIEW service_facts;
CREATE VIEW service_facts AS
SELECT r.run_id AS run_id, v.agency_id AS agency_id, v.service_key AS service_key, v.url AS url,
       v.level AS level, dvc_hash(v.content_hash) AS content_hash,
       CASE WHEN r.fetched_at IS NULL THEN dvc_text(t.text)
            ELSE json_set(dvc_text(t.text), '$.fetch.fetched_at', r.fetched_at, '$.fetch.status', r.status,
                          '$.fetch.bytes', r.bytes) END AS facts_json,
       v.unread AS unread
FROM service_runs r
JOIN service_versions v ON v.id = r.version_id
JOIN texts t ON t.id = v.facts_id
UNION ALL
SELECT r.run_id, v.agency_id, v.service_key, v.url, v.level, dvc_hash(v.content_hash),
       json_set(dvc_text(t.text), '$.fetch.fetched_at', dvc_time(x.started_at, r.at_ms, r.fetched_at),
                '$.fetch.status', CASE r.status WHEN 1 THEN 304 ELSE r.status END, '$.fetch.bytes', r.bytes),
       v.unread
FROM service_reads r
JOIN runs x ON x.id = r.run_id
JOIN service_versions v ON v.id = r.version_id
JOIN texts t ON t.id = v.facts_id;
CREATE TRIGGER service_facts_insert INSTEAD OF INSERT ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = NEW.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = NEW.agency_id AND service_key = NEW.service_key);
    DELETE FROM service_reads WHERE run_id = NEW.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = NEW.agency_id AND service_key = NEW.service_key);
    INSERT INTO texts (hash, text) VALUES (randomblob(16), NEW.facts_json);
    INSERT INTO service_versions (hash, agency_id, service_key, url, level, content_hash, unread, facts_id)
        VALUES (randomblob(16), NEW.agency_id, NEW.service_key, NEW.url, NEW.level,
                NEW.content_hash, COALESCE(NEW.unread, ''), last_insert_rowid());
    INSERT INTO service_runs (run_id, version_id, fetched_at) VALUES (NEW.run_id, last_insert_rowid(), NULL);
END;
CREATE TRIGGER service_facts_delete INSTEAD OF DELETE ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    DELETE FROM service_reads WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
END;
CREATE TRIGGER service_facts_update INSTEAD OF UPDATE ON service_facts
BEGIN
    DELETE FROM service_runs WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    DELETE FROM service_reads WHERE run_id = OLD.run_id AND version_id IN
        (SELECT id FROM service_versions WHERE agency_id = OLD.agency_id AND service_key = OLD.service_key);
    INSERT INTO texts (hash, text) VALUES (randomblob(16), NEW.facts_json);
    INSERT INTO service_versions (hash, agency_id, service_key, url, level, content_hash, unread, facts_id)
        VALUES (randomblob(16), NEW.agency_id, NEW.service_key, NEW.url, NEW.level,
                NEW.content_hash, NEW.unread, last_insert_rowid());
    INSERT INTO service_runs (run_id, version_id, fetched_at) VALUES (NEW.run_id, last_insert_rowid(), NULL);
END;
"#,
];

/// The line of a migration at which Rust code moves rows (`Store::migrate`).
pub const CONVERT_MARKER: &str = "\n-- @convert\n";

/// The tables the migrations create (`CREATE TABLE [IF NOT EXISTS] name` or
/// `RENAME TO name`, any case): a database holding any other table is not ours.
pub fn owned_tables() -> Vec<String> {
    let mut names = Vec::new();
    for sql in MIGRATIONS {
        // ASCII upper-casing keeps byte offsets, so names are read from the original text.
        let upper = sql.to_ascii_uppercase();
        for verb in ["CREATE TABLE ", "RENAME TO "] {
            names.extend(names_after(sql, &upper, verb));
        }
    }
    names
}

fn names_after(sql: &str, upper: &str, verb: &str) -> Vec<String> {
    let mut names = Vec::new();
    {
        let mut from = 0;
        while let Some(i) = upper.get(from..).and_then(|u| u.find(verb)) {
            let mut at = from + i + verb.len();
            if upper
                .get(at..)
                .is_some_and(|u| u.starts_with("IF NOT EXISTS "))
            {
                at += "IF NOT EXISTS ".len();
            }
            let name: String = sql
                .get(at..)
                .unwrap_or("")
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push(name);
            }
            from = at;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    #[test]
    fn owned_tables_are_read_from_the_migrations() {
        let t = super::owned_tables();
        for name in [
            "runs",
            "findings",
            "evidence",
            "service_facts",
            "page_cache",
            "bodies",
            "findings_rows",
            "finding_marks",
        ] {
            assert!(t.iter().any(|n| n == name), "{name} in {t:?}");
        }
    }
}
