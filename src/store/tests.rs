use super::*;

fn start(mode: &str, agencies: &[&str], services: Option<&[&str]>) -> RunStart {
    RunStart {
        mode: mode.into(),
        scope: Scope {
            agencies: agencies.iter().map(|s| s.to_string()).collect(),
            services: services.map(|s| s.iter().map(|x| x.to_string()).collect()),
        },
        seed: None,
        ruleset_digest: "r".into(),
        config_digest: "c".into(),
    }
}

fn finding(fp: &str, agency: &str, scope: &str, subject: &str, outcome: &str) -> FindingRecord {
    FindingRecord {
        fingerprint: fp.into(),
        rule_id: "SIG-001".into(),
        severity: "high".into(),
        scope: scope.into(),
        agency_id: agency.into(),
        subject: subject.into(),
        outcome: outcome.into(),
        message_vi: "thiếu chữ ký số".into(),
        message_en: "no signature".into(),
        evidence: vec![EvidenceRecord {
            url: format!("https://dvc.{agency}.test/{subject}"),
            fetched_at: "2026-11-27T00:00:00Z".into(),
            status: 200,
            content_hash: "ab".repeat(32),
            locator: "div.x".into(),
            excerpt: "Ký số".into(),
        }],
        ..FindingRecord::default()
    }
}

/// Record that `run` read these subjects (`scope:subject`), as a run's settle step does.
fn assess(s: &mut Store, run: i64, subjects: &[(&str, &str)]) {
    let list: Vec<(&str, String)> = subjects.iter().map(|(k, v)| (*k, v.to_string())).collect();
    s.record_coverage(run, "a", &crate::facts::Coverage::default(), &list)
        .expect("coverage");
}

const ALL_XYZ: &[(&str, &str)] = &[("service", "a/x"), ("service", "a/y"), ("service", "a/z")];

fn fail(fp: &str) -> FindingRecord {
    finding(fp, "a", "service", &format!("a/{fp}"), "fail")
}

#[test]
fn lifecycle_new_persisting_resolved_regressed() {
    let mut s = Store::open_in_memory().expect("open");
    let r1 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    let d1 = s.finish_run(r1, &[fail("x"), fail("y")]).expect("finish");
    assert_eq!(d1.new, vec!["x", "y"]);

    let r2 = s
        .begin_run(&start("surprise", &["a"], None))
        .expect("begin");
    assess(&mut s, r2, ALL_XYZ);
    let d2 = s.finish_run(r2, &[fail("x"), fail("z")]).expect("finish");
    assert_eq!(d2.persisting, vec!["x"]);
    assert_eq!(d2.new, vec!["z"]);
    assert_eq!(d2.resolved, vec!["y"]);

    let r3 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    assess(&mut s, r3, ALL_XYZ);
    let d3 = s.finish_run(r3, &[fail("x"), fail("y")]).expect("finish");
    assert_eq!(d3.persisting, vec!["x"]);
    assert_eq!(d3.regressed, vec!["y"]);
    assert_eq!(d3.resolved, vec!["z"]);
    assert_eq!(s.diff(r3).expect("diff"), d3);
    assert_eq!(
        s.lifecycle_of("x").expect("q"),
        Some((r1, r3, "open".to_string()))
    );
}

#[test]
fn out_of_scope_and_unassessed_findings_are_not_resolved() {
    let mut s = Store::open_in_memory().expect("open");
    let r1 = s
        .begin_run(&start("regular", &["a", "b"], None))
        .expect("begin");
    s.finish_run(
        r1,
        &[
            fail("x"),
            finding("bx", "b", "service", "b/bx", "fail"),
            finding("h", "a", "host", "dvc.a:443", "fail"),
            finding("agg", "a", "agency", "a", "fail"),
        ],
    )
    .expect("finish");
    // Agency b not inspected; x could not be assessed; a sampled run on service a/other.
    let r2 = s
        .begin_run(&start("surprise", &["a"], Some(&["a/other", "a/x"])))
        .expect("begin");
    assess(&mut s, r2, &[("service", "a/other"), ("host", "dvc.a:443")]);
    let d = s
        .finish_run(
            r2,
            &[finding("x", "a", "service", "a/x", "could_not_assess")],
        )
        .expect("finish");
    // Only the host finding is in the sampled scope and absent: resolved. The aggregate is
    // not judged on a sample; b was not inspected; x was not seen.
    assert_eq!(d.resolved, vec!["h"]);
    assert!(d.new.is_empty());
    // x was in scope but its rule could not judge it: not known to be fixed.
    assert_eq!(d.unverified, vec!["x"]);
}

#[test]
fn a_finding_whose_subject_was_not_read_is_unverified_until_a_run_reads_it() {
    let mut s = Store::open_in_memory().expect("open");
    let r1 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    assess(&mut s, r1, ALL_XYZ);
    s.finish_run(r1, &[fail("x"), fail("y")]).expect("finish");
    // Run 2 reads y only (x's page is down): x unverified, y resolved.
    let r2 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    assess(&mut s, r2, &[("service", "a/y")]);
    let d2 = s.finish_run(r2, &[]).expect("finish");
    assert_eq!(d2.resolved, vec!["y"]);
    assert_eq!(d2.unverified, vec!["x"]);
    assert_eq!(
        s.lifecycle_of("x").expect("q").map(|l| l.2),
        Some("open".into())
    );
    // Run 3 reads x failing again: persisting, not regressed.
    let r3 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    assess(&mut s, r3, ALL_XYZ);
    let d3 = s.finish_run(r3, &[fail("x")]).expect("finish");
    assert_eq!(d3.persisting, vec!["x"]);
    assert!(d3.regressed.is_empty() && d3.unverified.is_empty());
    assert_eq!(
        s.unverified_worst(r2).expect("worst").as_deref(),
        Some("high")
    );
}

#[test]
fn crashed_run_is_marked_incomplete_and_never_a_baseline() {
    let mut s = Store::open_in_memory().expect("open");
    let r1 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    s.finish_run(r1, &[fail("x")]).expect("finish");
    let crashed = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    // ... process dies here; the next run starts.
    let r3 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    assert_eq!(s.run(crashed).expect("run").status, "incomplete");
    let d = s.finish_run(r3, &[fail("x")]).expect("finish");
    assert_eq!(d.persisting, vec!["x"]);
    assert!(s.verify_chain().expect("verify").is_empty());
}

#[test]
fn verify_detects_an_edited_row_and_names_the_run() {
    let mut s = Store::open_in_memory().expect("open");
    let mut ids = Vec::new();
    for fps in [vec!["x"], vec!["x", "y"], vec!["y"]] {
        let r = s.begin_run(&start("regular", &["a"], None)).expect("begin");
        let f: Vec<_> = fps.iter().map(|f| fail(f)).collect();
        s.finish_run(r, &f).expect("finish");
        ids.push(r);
    }
    assert!(s.verify_chain().expect("verify").is_empty());
    // Evidence items are shared by the runs that saw them; what is the second run's alone is
    // when it saw them.
    let n = s
        .connection()
        .execute(
            "UPDATE evidence_times SET at_ms = NULL, fetched_at = '2020-01-01T00:00:00Z'
             WHERE run_id = ?1",
            params![ids[1]],
        )
        .expect("tamper");
    assert!(n > 0);
    let breaks = s.verify_chain().expect("verify");
    assert_eq!(breaks.len(), 1, "{breaks:?}");
    assert_eq!(breaks[0].run_id, ids[1]);

    // Deleting a whole run breaks the link of the next one.
    let mut s2 = Store::open_in_memory().expect("open");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = s2
            .begin_run(&start("regular", &["a"], None))
            .expect("begin");
        s2.finish_run(r, &[fail("x")]).expect("finish");
        ids.push(r);
    }
    s2.connection()
        .execute(
            "UPDATE runs SET status = 'incomplete' WHERE id = ?1",
            params![ids[1]],
        )
        .expect("tamper");
    let breaks = s2.verify_chain().expect("verify");
    assert_eq!(
        breaks.iter().map(|b| b.run_id).collect::<Vec<_>>(),
        vec![ids[2]]
    );
}

#[test]
fn page_cache_and_bodies() {
    let mut s = Store::open_in_memory().expect("open");
    assert!(s.cached_page("https://x/").expect("q").is_none());
    let page = CachedPage {
        etag: Some("\"abc\"".into()),
        last_modified: None,
        content_hash: "h".into(),
        extraction_json: "{}".into(),
        extraction_key: None,
    };
    s.put_cached_pages(&[("https://x/".into(), page.clone())])
        .expect("put");
    assert_eq!(s.cached_page("https://x/").expect("q"), Some(page.clone()));
    // The extraction key is kept as written (a negative 64-bit value included).
    let keyed = CachedPage {
        extraction_key: Some(i64::MIN + 7),
        ..page
    };
    s.put_cached_pages(&[("https://x/".into(), keyed.clone())])
        .expect("put");
    assert_eq!(s.cached_page("https://x/").expect("q"), Some(keyed));
    s.put_body("h", b"<html>").expect("body");
    s.put_body("h", b"<html>").expect("body stored once");
    assert_eq!(s.body("h").expect("q").as_deref(), Some(&b"<html>"[..]));
    assert_eq!(s.gc(30).expect("gc"), 0);
    s.connection()
        .execute("UPDATE bodies SET stored_at = '2000-01-01T00:00:00Z'", [])
        .expect("age");
    assert_eq!(s.gc(30).expect("gc"), 1);
}

#[test]
fn reopening_keeps_data_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("h.sqlite");
    {
        let mut s = Store::open(&path).expect("open");
        let r = s.begin_run(&start("regular", &["a"], None)).expect("begin");
        s.finish_run(r, &[fail("x")]).expect("finish");
    }
    let s = Store::open(&path).expect("reopen");
    assert_eq!(s.runs(10).expect("runs").len(), 1);
    assert!(s.verify_chain().expect("verify").is_empty());
}

/// The digest as first written (every finding loaded with its evidence): the streamed digest
/// must reproduce it, or every chain stored before would break.
fn reference_digest(conn: &rusqlite::Connection, run: i64, prev: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    let (mode, rd, cd): (String, String, String) = conn
        .query_row(
            "SELECT mode, ruleset_digest, config_digest FROM runs WHERE id = ?1",
            rusqlite::params![run],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("run");
    let mut hasher = Sha256::new();
    let mut line = |parts: &[&str]| {
        hasher.update(parts.join("\u{1f}").as_bytes());
        hasher.update(b"\n");
    };
    line(&[
        "dvc-audit/run-digest/v1",
        prev,
        &run.to_string(),
        &mode,
        &rd,
        &cd,
    ]);
    for f in chain::load_findings(conn, run).expect("load") {
        line(&[
            "F",
            &f.fingerprint,
            &f.rule_id,
            &f.severity,
            &f.scope,
            &f.agency_id,
            &h(&f.subject),
            &f.outcome,
            &f.reason,
            &h(&f.message_vi),
            &h(&f.message_en),
            &h(&f.waiver),
        ]);
        for e in &f.evidence {
            line(&[
                "E",
                &f.fingerprint,
                &h(&e.url),
                &e.fetched_at,
                &e.status.to_string(),
                &e.content_hash,
                &h(&e.locator),
                &h(&e.excerpt),
            ]);
        }
    }
    hex::encode(hasher.finalize())
}

#[test]
fn streamed_digest_matches_the_loaded_one() {
    let mut s = Store::open_in_memory().expect("open");
    let r = s
        .begin_run(&start("regular", &["a", "b"], None))
        .expect("begin");
    let mut many = Vec::new();
    for i in (0..40).rev() {
        let mut f = finding(
            &format!("fp-{i:03}"),
            "a",
            "service",
            &format!("a/{i}"),
            "fail",
        );
        // No evidence, one, or several (out of order) per finding.
        match i % 3 {
            0 => f.evidence.clear(),
            1 => {
                let mut e = f.evidence[0].clone();
                e.url = "https://a.test/0".into();
                f.evidence.push(e);
            }
            _ => {}
        }
        many.push(f);
    }
    // A run stored by a build before digest v2 (migration 2 gives such runs version 1).
    s.conn
        .execute(
            "UPDATE runs SET digest_version = 1 WHERE id = ?1",
            rusqlite::params![r],
        )
        .expect("v1");
    s.record_findings(r, &many[..20]).expect("record");
    s.record_findings(r, &many[20..]).expect("record");
    // Evidence rows without a finding row are not part of the digest.
    s.conn
        .execute(
            "INSERT INTO evidence (run_id, fingerprint, url, fetched_at, status, content_hash, excerpt)
             VALUES (?1, 'fp-0005x', 'u', 't', 200, 'h', 'x'), (?1, 'aaa', 'u', 't', 200, 'h', 'x'), (?1, 'zzz', 'u', 't', 200, 'h', 'x')",
            rusqlite::params![r],
        )
        .expect("orphans");
    let want = reference_digest(&s.conn, r, "prev");
    assert_eq!(chain::run_digest(&s.conn, r, "prev").expect("digest"), want);
    s.complete_run(r).expect("complete");
    assert!(s.verify_chain().expect("verify").is_empty());
}

#[test]
fn findings_recorded_in_batches_complete_like_one_finish() {
    let mut a = Store::open_in_memory().expect("open");
    let mut b = Store::open_in_memory().expect("open");
    let mut diffs = Vec::new();
    for (n, runs) in [
        vec![vec!["x", "y"]],
        vec![vec!["x"], vec!["z"]],
        vec![vec!["y"], vec![]],
    ]
    .into_iter()
    .enumerate()
    {
        let ra = a.begin_run(&start("regular", &["a"], None)).expect("begin");
        let rb = b.begin_run(&start("regular", &["a"], None)).expect("begin");
        let all: Vec<FindingRecord> = runs.iter().flatten().map(|fp| fail(fp)).collect();
        assess(&mut a, ra, ALL_XYZ);
        assess(&mut b, rb, ALL_XYZ);
        let da = a.finish_run(ra, &all).expect("finish");
        for batch in &runs {
            let fs: Vec<FindingRecord> = batch.iter().map(|fp| fail(fp)).collect();
            b.record_findings(rb, &fs).expect("record");
        }
        let db = b.complete_run(rb).expect("complete");
        assert_eq!(da, db, "run {n}");
        diffs.push(db);
    }
    // x,y new → x persisting, z new, y resolved → y regressed, x and z resolved.
    assert_eq!(diffs[1].persisting, ["x"]);
    assert_eq!(diffs[1].new, ["z"]);
    assert_eq!(diffs[1].resolved, ["y"]);
    assert_eq!(diffs[2].regressed, ["y"]);
    assert_eq!(diffs[2].resolved, ["x", "z"]);
}

/// A complete v2 run with facts of every kind, a resolution, and a following run.
fn store_with_facts() -> (Store, i64) {
    let mut s = Store::open_in_memory().expect("open");
    let r0 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    s.finish_run(r0, &[fail("gone"), fail("kept")])
        .expect("finish");
    let r = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    s.conn
        .execute_batch(&format!(
            "INSERT INTO agency_facts VALUES ({r}, 'a', '{{\"id\":\"a\"}}');
             INSERT INTO host_facts VALUES ({r}, 'dvc.a.test:443', 'a', '{{\"tls\":1}}');
             INSERT INTO service_facts VALUES ({r}, 'a', 'S1', 'https://dvc.a.test/1', 'full', 'h1', '{{\"level\":\"full\"}}', '');
             INSERT INTO service_facts VALUES ({r}, 'a', 'S2', 'https://dvc.a.test/2', 'partial', 'h2', '{{\"level\":\"partial\"}}', '');
             INSERT INTO fetches VALUES ({r}, 'https://dvc.a.test/1', 200, NULL, '{{}}');
             INSERT INTO fetches VALUES ({r}, 'https://dvc.a.test/2', 200, NULL, '{{}}');"
        ))
        .expect("facts");
    // The run read `gone` (resolved), not `kept` (unverified): coverage and assessed rows.
    assess(&mut s, r, &[("service", "a/gone")]);
    s.finish_run(r, &[fail("x")]).expect("finish");
    assert_eq!(s.run(r).expect("run").status, "complete");
    (s, r)
}

#[test]
fn v2_digest_covers_facts_times_states_and_counts() {
    let (s, _r) = store_with_facts();
    assert!(s.verify_chain().expect("verify").is_empty(), "untouched");
    let tampers = [
        "UPDATE service_facts SET level = 'full' WHERE service_key = 'S2'",
        "UPDATE service_facts SET facts_json = '{}' WHERE service_key = 'S1'",
        "DELETE FROM service_facts WHERE service_key = 'S2'",
        "UPDATE agency_facts SET facts_json = '{}'",
        "UPDATE host_facts SET facts_json = '{}'",
        "DELETE FROM fetches WHERE rowid = (SELECT MAX(rowid) FROM fetches)",
        "UPDATE fetches SET url = 'https://elsewhere.example/' WHERE rowid = (SELECT MIN(rowid) FROM fetches)",
        "UPDATE runs SET started_at = '2020-01-01T00:00:00Z' WHERE id = {r}",
        "UPDATE runs SET ended_at = '2020-01-01T00:00:00Z' WHERE id = {r}",
        "UPDATE runs SET scope_json = '{\"agencies\":[\"b\"],\"services\":null}' WHERE id = {r}",
        "UPDATE finding_spans SET first_state = 2 WHERE first_run = {r}",
        "DELETE FROM resolutions WHERE run_id = {r}",
        "DELETE FROM unverified WHERE run_id = {r}",
        "DELETE FROM assessed WHERE run_id = {r}",
        "UPDATE coverage SET read = 99 WHERE run_id = {r}",
        "UPDATE service_facts SET unread = 'timeout' WHERE service_key = 'S1'",
        // A downgrade to the weaker v1 digest does not hide anything either.
        "UPDATE runs SET digest_version = 1 WHERE id = {r}",
    ];
    for t in tampers {
        let (s, r) = store_with_facts();
        s.conn
            .execute_batch(&t.replace("{r}", &r.to_string()))
            .expect("tamper");
        let breaks = s.verify_chain().expect("verify");
        assert!(
            breaks.iter().any(|b| b.run_id == r),
            "{t}: not detected ({breaks:?})"
        );
    }
}

#[test]
fn the_end_time_is_the_one_the_digest_sealed() {
    let (s, r) = store_with_facts();
    let run = s.run(r).expect("run");
    let ended = run.ended_at.expect("ended");
    assert!(!ended.is_empty());
    // Recomputing gives the stored digest: the completing UPDATE's own time did not stick.
    let prev = chain::previous_digest(&s.conn, r).expect("prev");
    assert_eq!(
        Some(chain::run_digest(&s.conn, r, &prev).expect("digest")),
        run.digest
    );
}

#[test]
fn runs_stored_before_digest_v2_still_verify_after_the_migration() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("old.sqlite");
    {
        // The database as the build before migration 2 left it: schema 1, a complete run
        // with the v1 digest.
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(schema::MIGRATIONS[0]).expect("schema 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        conn.execute(
            "INSERT INTO runs (mode, scope_json, ruleset_digest, config_digest, started_at, status)
             VALUES ('regular', '{\"agencies\":[\"a\"],\"services\":null}', 'r', 'c', '2026-01-01T00:00:00Z', 'running')",
            [],
        )
        .expect("run");
        conn.execute(
            "INSERT INTO findings (run_id, fingerprint, rule_id, severity, scope, agency_id, subject, outcome, message_vi, message_en)
             VALUES (1, 'x', 'SIG-001', 'high', 'service', 'a', 'a/x', 'fail', 'vi', 'en')",
            [],
        )
        .expect("finding");
        let d = reference_digest(&conn, 1, "");
        conn.execute(
            "UPDATE runs SET status = 'complete', ended_at = '2026-01-01T01:00:00Z', digest = ?1, prev_digest = '' WHERE id = 1",
            rusqlite::params![d],
        )
        .expect("complete");
    }
    // Read commands do not migrate.
    assert!(matches!(
        Store::open_reader(&path),
        Err(StoreError::Outdated { found: 1, .. })
    ));
    let mut s = Store::open(&path).expect("migrate");
    assert!(s.verify_chain().expect("verify").is_empty());
    let r = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    s.finish_run(r, &[fail("x")]).expect("finish");
    assert!(s.verify_chain().expect("verify").is_empty());
    let v: i64 = s
        .conn
        .query_row(
            "SELECT digest_version FROM runs WHERE id = ?1",
            rusqlite::params![r],
            |row| row.get(0),
        )
        .expect("version");
    assert_eq!(v, chain::DIGEST_VERSION);
    let head = s.head_digest().expect("head").expect("some");
    assert_eq!(head.0, r);
    assert_eq!(s.run_with_digest(&head.1).expect("q"), Some(r));
    // Deleting the newest run: the chain of what is left holds, but its head is gone.
    s.conn
        .execute_batch(&format!(
            "DELETE FROM evidence_times WHERE run_id = {r}; DELETE FROM finding_spans WHERE first_run = {r};
             UPDATE finding_spans SET last_run = last_run - 1 WHERE last_run = {r};
             DELETE FROM resolutions WHERE run_id = {r}; DELETE FROM runs WHERE id = {r};"
        ))
        .expect("delete newest");
    assert!(s.verify_chain().expect("verify").is_empty());
    assert_eq!(s.run_with_digest(&head.1).expect("q"), None);
}

#[test]
fn another_applications_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("payroll.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE payroll (name TEXT, amount INTEGER);")
            .expect("foreign");
    }
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::Foreign { .. })
    ));
    assert!(matches!(
        Store::open_reader(&path),
        Err(StoreError::Foreign { .. })
    ));
    let conn = rusqlite::Connection::open(&path).expect("open");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .expect("q")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<std::result::Result<_, _>>()
        .expect("names");
    assert_eq!(tables, vec!["payroll".to_string()]);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 0);
}

#[test]
fn a_reader_opens_when_the_wal_index_cannot_be_created() {
    // As on read-only media (and even as root): `-shm` cannot be created. SQLite then reads
    // without it; the reader never needs to write.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("h.sqlite");
    {
        let mut s = Store::open(&path).expect("open");
        let r = s.begin_run(&start("regular", &["a"], None)).expect("begin");
        s.finish_run(r, &[fail("x")]).expect("finish");
    }
    let _ = std::fs::remove_file(dir.path().join("h.sqlite-shm"));
    let _ = std::fs::remove_file(dir.path().join("h.sqlite-wal"));
    std::fs::create_dir(dir.path().join("h.sqlite-shm")).expect("block -shm");
    let s = Store::open_reader(&path).expect("reader");
    assert_eq!(s.runs(10).expect("runs").len(), 1);
    assert!(s.verify_chain().expect("verify").is_empty());
}

#[test]
fn the_immutable_fallback_opens_paths_with_uri_characters() {
    // The last resort of a reader on read-only media is a `file:` URI: a path with a space,
    // `#`, `?` or `%` must still name the same file.
    let dir = tempfile::tempdir().expect("dir");
    let sub = dir.path().join("a b#c?d%20e");
    std::fs::create_dir(&sub).expect("dir");
    let path = sub.join("h.sqlite");
    {
        let mut s = Store::open(&path).expect("open");
        let r = s.begin_run(&start("regular", &["a"], None)).expect("begin");
        s.finish_run(r, &[fail("x")]).expect("finish");
    }
    let uri = immutable_uri(&path).expect("uri");
    let conn = rusqlite::Connection::open_with_flags(
        uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .expect("open immutable");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .expect("read");
    assert_eq!(n, 1);
}

#[test]
fn an_unchanged_service_costs_a_run_one_row_and_reads_back_exactly() {
    use crate::facts::{Level, ServiceFacts};
    let mut s = Store::open_in_memory().expect("open");
    let service = |code: &str, status: i64, at: &str, bytes: i64, level: Level| {
        let mut f = ServiceFacts {
            agency_id: "a".into(),
            code: code.into(),
            name: "Cấp phiếu \"lý lịch\" tư pháp".into(),
            url: format!("https://dvc.a.test/{code}"),
            level,
            ..ServiceFacts::default()
        };
        f.fetch.url = f.url.clone();
        f.fetch.status = status;
        f.fetch.fetched_at = at.into();
        f.fetch.bytes = bytes;
        f.fetch.sha256 = "h".into();
        f
    };
    let count = |s: &Store, table: &str| -> i64 {
        s.connection()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    };
    let r1 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    let first = vec![
        service("1.1", 200, "2026-01-01T00:00:00.1Z", 1234, Level::Full),
        service("1.2", 200, "2026-01-01T00:00:00.2Z", 999, Level::Partial),
    ];
    s.record_services(r1, &first).expect("record");
    let states = count(&s, "service_versions");
    assert_eq!(states, 2);
    // The next run: the same pages answer 304 at other times; one service changed level.
    let r2 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    let second = vec![
        service("1.1", 304, "2026-01-02T00:00:00.1Z", 0, Level::Full),
        service("1.2", 200, "2026-01-02T00:00:00.2Z", 1001, Level::Full),
    ];
    s.record_services(r2, &second).expect("record");
    assert_eq!(count(&s, "service_versions"), states + 1, "only the change");
    assert_eq!(count(&s, "service_reads"), 4);
    // Every run reads back exactly what it recorded (the view rebuilds the read).
    assert_eq!(s.service_facts(r1).expect("facts"), first);
    assert_eq!(s.service_facts(r2).expect("facts"), second);
    // Recording a service again in the same run replaces it.
    s.record_services(r2, &second[..1]).expect("again");
    assert_eq!(s.service_facts(r2).expect("facts"), second);
    // Schema 11: the 304 is stored as 1 (no bytes in SQLite's record), the 200s as they are.
    let raw = |s: &Store| -> Vec<i64> {
        s.connection()
            .prepare("SELECT status FROM service_reads ORDER BY run_id, version_id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<std::result::Result<_, _>>()
            .expect("rows")
    };
    assert_eq!(raw(&s), vec![200, 200, 1, 200]);
    s.finish_run(r2, &[]).expect("finish 2");
    assert!(s.verify_chain().expect("verify").is_empty());
    // A row written before schema 11 holds 304 itself: it reads back the same, and the
    // digest sealed over the mapped value still verifies.
    s.connection()
        .execute("UPDATE service_reads SET status = 304 WHERE status = 1", [])
        .expect("as before schema 11");
    assert_eq!(raw(&s), vec![200, 200, 304, 200]);
    assert_eq!(s.service_facts(r2).expect("facts"), second);
    assert!(s.verify_chain().expect("verify").is_empty());
    // The mapping is read by the digest: a stored status that differs is caught.
    s.connection()
        .execute(
            "UPDATE service_reads SET status = 200 WHERE status = 304",
            [],
        )
        .expect("edit");
    assert!(!s.verify_chain().expect("verify").is_empty());
}

/// Issue 20: a finding seen again costs a run nothing (its span grows), not a copy of its
/// row; its messages and evidence are stored once, compressed; its evidence keeps each run's
/// own time and HTTP status (the subject's read needs no row); what a run reads back is what
/// it recorded.
#[test]
fn an_unchanged_finding_costs_a_run_nothing_and_reads_back_exactly() {
    let mut s = Store::open_in_memory().expect("open");
    let count = |s: &Store, table: &str| -> i64 {
        s.connection()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    };
    // Service findings x, y (evidence: the page as read) and a host finding (its own time).
    let findings = |at: &str, status: i64, probed: &str| -> Vec<FindingRecord> {
        let mut out: Vec<FindingRecord> = ["x", "y"]
            .iter()
            .map(|fp| {
                let mut f = fail(fp);
                f.evidence[0].fetched_at = at.into();
                f.evidence[0].status = status;
                f
            })
            .collect();
        let mut h = finding("h", "a", "host", "dvc.a.test:443", "fail");
        h.evidence[0].fetched_at = probed.into();
        out.push(h);
        out
    };
    // The subject services, read at that time with that status.
    let read = |s: &mut Store, run: i64, at: &str, status: i64| {
        let services: Vec<ServiceFacts> = ["x", "y"]
            .iter()
            .map(|code| {
                let mut f = ServiceFacts {
                    agency_id: "a".into(),
                    code: (*code).into(),
                    url: format!("https://dvc.a.test/{code}"),
                    ..ServiceFacts::default()
                };
                f.fetch.fetched_at = at.into();
                f.fetch.status = status;
                f
            })
            .collect();
        s.record_services(run, &services).expect("services");
    };
    let r1 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    read(&mut s, r1, "2026-12-01T01:00:00.123Z", 200);
    let first = findings("2026-12-01T01:00:00.123Z", 200, "2026-12-01T01:05:00Z");
    s.finish_run(r1, &first).expect("finish");
    let (versions, items) = (count(&s, "finding_versions"), count(&s, "evidence_items"));
    assert_eq!(versions, 3);
    assert_eq!(
        count(&s, "evidence_times"),
        1,
        "only the host's time is a row"
    );
    assert_eq!(count(&s, "finding_spans"), 3);
    let texts = count(&s, "texts");
    // Run 2: the pages answer 304 at other times; the host is probed again.
    let r2 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    read(&mut s, r2, "2026-12-02T01:00:00.456Z", 304);
    assess(
        &mut s,
        r2,
        &[
            ("service", "a/x"),
            ("service", "a/y"),
            ("host", "dvc.a.test:443"),
        ],
    );
    let second = findings("2026-12-02T01:00:00.456Z", 304, "2026-12-02T01:05:00.5Z");
    let d2 = s.finish_run(r2, &second).expect("finish");
    assert_eq!(d2.persisting, vec!["h", "x", "y"]);
    assert_eq!(count(&s, "finding_versions"), versions, "no new version");
    assert_eq!(
        count(&s, "evidence_items"),
        items,
        "evidence items stored once"
    );
    assert_eq!(count(&s, "finding_spans"), 3, "the spans grew");
    assert_eq!(count(&s, "finding_marks"), 0, "marks folded at completion");
    assert_eq!(count(&s, "evidence_times"), 2);
    assert_eq!(count(&s, "findings_rows"), 0);
    // No new text but the run's service states (their status differs).
    assert_eq!(count(&s, "texts"), texts);
    // Texts are packed (a BLOB, not the text).
    let packed: i64 = s
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM texts WHERE typeof(text) = 'blob'",
            [],
            |r| r.get(0),
        )
        .expect("packed");
    assert_eq!(packed, count(&s, "texts"));
    // Read back: each run's own evidence times, statuses and states.
    for (run, wrote) in [(r1, &first), (r2, &second)] {
        let back = s.findings(run).expect("findings");
        assert_eq!(back.len(), 3);
        let mut wrote = wrote.clone();
        wrote.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        for (b, f) in back.iter().zip(wrote.iter()) {
            assert_eq!(b.fingerprint, f.fingerprint);
            assert_eq!(b.message_vi, f.message_vi);
            assert_eq!(b.evidence, f.evidence, "{run} {}", f.fingerprint);
        }
    }
    let states = |s: &Store, run: i64| -> Vec<String> {
        s.connection()
            .prepare("SELECT state FROM findings WHERE run_id = ?1 ORDER BY fingerprint")
            .expect("prepare")
            .query_map(params![run], |r| r.get(0))
            .expect("states")
            .collect::<std::result::Result<_, _>>()
            .expect("rows")
    };
    assert_eq!(states(&s, r1), vec!["new", "new", "new"]);
    assert_eq!(
        states(&s, r2),
        vec!["persisting", "persisting", "persisting"]
    );
    // A changed message is a new version; recording a fingerprint again replaces its mark.
    let r3 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    let mut changed = fail("x");
    changed.message_en = "still no signature".into();
    s.record_findings(r3, &[fail("x")]).expect("record");
    s.record_findings(r3, std::slice::from_ref(&changed))
        .expect("again");
    let back = s.findings(r3).expect("r3");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].message_en, "still no signature");
    assert_eq!(back[0].evidence.len(), 1);
    s.complete_run(r3).expect("complete");
    assert_eq!(
        count(&s, "finding_spans"),
        4,
        "x changed: a span of its own"
    );
    assert_eq!(states(&s, r3), vec!["persisting"]);
    assert!(s.verify_chain().expect("verify").is_empty());
    // Edits through the views are refused for these rows (they are shared by runs).
    assert!(
        s.connection()
            .execute(
                "UPDATE findings SET message_vi = 'x' WHERE run_id = ?1",
                params![r2]
            )
            .is_err()
    );
}

#[test]
fn evidence_shares_its_subjects_read_and_reads_back_exactly() {
    let mut s = Store::open_in_memory().expect("open");
    let count = |s: &Store, table: &str| -> i64 {
        s.connection()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    };
    // Services x and y, read in run `run` with page content `content` (their hash).
    let read = |s: &mut Store, run: i64, content: &str| {
        let services: Vec<ServiceFacts> = ["x", "y"]
            .iter()
            .map(|code| {
                let mut f = ServiceFacts {
                    agency_id: "a".into(),
                    code: (*code).into(),
                    url: format!("https://dvc.a.test/tt/{code}"),
                    ..ServiceFacts::default()
                };
                f.fetch.fetched_at = "2026-12-01T01:00:00.123Z".into();
                f.fetch.status = 200;
                f.fetch.sha256 = format!("{content}{code}");
                f
            })
            .collect();
        s.record_services(run, &services).expect("services");
    };
    // Each finding's evidence: its page as read (URL, hash, status, time), and a second
    // item whose URL and hash start with the escape character.
    let findings = |content: &str| -> Vec<FindingRecord> {
        ["x", "y"]
            .iter()
            .map(|code| {
                let mut f = fail(code);
                f.evidence[0].url = format!("https://dvc.a.test/tt/{code}");
                f.evidence[0].content_hash = format!("{content}{code}");
                f.evidence[0].fetched_at = "2026-12-01T01:00:00.123Z".into();
                let mut odd = f.evidence[0].clone();
                odd.url = "@odd".into();
                odd.content_hash = "@".into();
                odd.status = 0;
                f.evidence.push(odd);
                f
            })
            .collect()
    };
    let r1 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    read(&mut s, r1, "c1-");
    let first = findings("c1-");
    s.finish_run(r1, &first).expect("finish");
    // One rule's evidence on two services is one item (plus the escaped one).
    assert_eq!(count(&s, "evidence_items"), 2);
    let stored: Vec<(String, String)> = s
        .connection()
        .prepare("SELECT url, content_hash FROM evidence_items ORDER BY id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("items")
        .collect::<std::result::Result<_, _>>()
        .expect("rows");
    assert_eq!(
        stored,
        vec![
            ("@".to_string(), "@".to_string()),
            ("@@odd".to_string(), "@@".to_string())
        ]
    );
    let versions = count(&s, "finding_versions");
    // Run 2: both pages changed, the findings did not: no new version, no new item.
    let r2 = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    read(&mut s, r2, "c2-");
    assess(&mut s, r2, &[("service", "a/x"), ("service", "a/y")]);
    let second = findings("c2-");
    s.finish_run(r2, &second).expect("finish");
    assert_eq!(count(&s, "finding_versions"), versions);
    assert_eq!(count(&s, "evidence_items"), 2);
    for (run, wrote) in [(r1, &first), (r2, &second)] {
        let back = s.findings(run).expect("findings");
        assert_eq!(back.len(), 2);
        for (b, f) in back.iter().zip(wrote.iter()) {
            assert_eq!(b.fingerprint, f.fingerprint);
            // Evidence reads back in value order.
            let mut want = f.evidence.clone();
            want.sort_by(|p, q| (&p.url, &p.content_hash).cmp(&(&q.url, &q.content_hash)));
            assert_eq!(b.evidence, want, "run {run} {}", f.fingerprint);
        }
    }
    assert!(s.verify_chain().expect("verify").is_empty());
}

#[test]
fn a_sha256_content_hash_is_stored_as_its_bytes_and_reads_back_as_hex() {
    let mut s = Store::open_in_memory().expect("open");
    let hex = "0123456789abcdef".repeat(4);
    let types = |s: &Store, table: &str| -> Vec<String> {
        s.connection()
            .prepare(&format!(
                "SELECT typeof(content_hash) FROM {table} ORDER BY 1"
            ))
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<std::result::Result<_, _>>()
            .expect("types")
    };
    // The page cache: a SHA-256 as 32 bytes, anything else (upper case, short) as text.
    let page = |hash: &str| CachedPage {
        etag: None,
        last_modified: Some("Mon, 05 Jan 2026 08:00:00 GMT".into()),
        content_hash: hash.into(),
        extraction_json: "{}".into(),
        extraction_key: None,
    };
    let pages = [
        ("https://x/1".to_string(), page(&hex)),
        ("https://x/2".to_string(), page(&hex.to_uppercase())),
        ("https://x/3".to_string(), page("h")),
    ];
    s.put_cached_pages(&pages).expect("put");
    for (url, p) in &pages {
        assert_eq!(s.cached_page(url).expect("q").as_ref(), Some(p), "{url}");
    }
    assert_eq!(types(&s, "page_cache"), vec!["blob", "text", "text"]);
    // When each row was written: Unix seconds (schema 7), now.
    let (kind, at): (String, i64) = s
        .connection()
        .query_row(
            "SELECT typeof(updated_at), MIN(updated_at) FROM page_cache",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("updated_at");
    assert_eq!(kind, "integer");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - 60..=now).contains(&at), "{at} vs {now}");
    // Service states likewise; the view and the digest read the hex.
    let r = s.begin_run(&start("regular", &["a"], None)).expect("begin");
    let mut f = ServiceFacts {
        agency_id: "a".into(),
        code: "x".into(),
        url: "https://dvc.a.test/x".into(),
        ..ServiceFacts::default()
    };
    f.fetch.sha256 = hex.clone();
    s.record_services(r, std::slice::from_ref(&f))
        .expect("services");
    assert_eq!(types(&s, "service_versions"), vec!["blob"]);
    let back: String = s
        .connection()
        .query_row(
            "SELECT content_hash FROM service_facts WHERE run_id = ?1",
            params![r],
            |r| r.get(0),
        )
        .expect("view");
    assert_eq!(back, hex);
    s.finish_run(r, &[]).expect("finish");
    assert!(s.verify_chain().expect("verify").is_empty());
}
