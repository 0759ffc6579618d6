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
];

/// The tables the migrations create (`CREATE TABLE [IF NOT EXISTS] name`, any case): a
/// database holding any other table is not ours.
pub fn owned_tables() -> Vec<String> {
    let mut names = Vec::new();
    for sql in MIGRATIONS {
        // ASCII upper-casing keeps byte offsets, so names are read from the original text.
        let upper = sql.to_ascii_uppercase();
        let mut from = 0;
        while let Some(i) = upper.get(from..).and_then(|u| u.find("CREATE TABLE ")) {
            let mut at = from + i + "CREATE TABLE ".len();
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
        ] {
            assert!(t.iter().any(|n| n == name), "{name} in {t:?}");
        }
    }
}
