//! Compressed texts and compact times (schema 5, issue #20).
//!
//! A stored text (a service state's facts JSON, a page-cache extraction, a finding's message)
//! is a zstd frame in a BLOB: `MAGIC`, the dictionary id as a varint (0: none), the frame.
//! Texts written before schema 5 are TEXT values and read as they are. Facts of one portal
//! repeat its URLs, selectors and labels from page to page, so each portal host gets its own
//! dictionaries (one per kind of text: facts, messages, fetch records), trained from the
//! first batch of its texts that is large enough (`zdicts`); smaller portals' texts are
//! compressed without one. On the nation world this is ~16× less
//! than the JSON (a dictionary trained on a mixed sample of the demo world: 1.6 MB → 98 KB).
//!
//! Times of a run (a page's `fetched_at`, an evidence row's time) are stored as milliseconds
//! after the run's `started_at` (`at_ms`); [`time_at`] rebuilds the RFC 3339 text, so a
//! stored time keeps millisecond precision (was: nanoseconds as text, ~30 bytes a row).
//!
//! The SQL functions `dvc_text(x)`, `dvc_time(started_at, at_ms, fallback)` and
//! `dvc_state(code)` (a finding's lifecycle state from its stored code) are registered
//! on every connection the store opens ([`register`]); the views (`service_facts`, `findings`,
//! `evidence`) use them. A plain `sqlite3` shell does not have them: use `dvc-audit history`
//! or a connection from [`crate::store::Store`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, params};

use super::Result;

/// First byte of a packed text (not valid as the first byte of UTF-8 text).
const MAGIC: u8 = 0xDC;
/// zstd level: level 3 compresses a 2.5 KB state in ~20 µs; higher levels gain < 5% here.
const LEVEL: i32 = 3;
/// An agency's dictionary is trained once it has this many texts in one batch.
pub(super) const TRAIN_MIN: usize = 48;
/// At most this many samples train a dictionary (bounded time: ~30 ms).
const TRAIN_MAX: usize = 256;
/// Dictionary size in bytes.
const DICT_BYTES: usize = 16 * 1024;
/// Largest text a packed blob may expand to (a corrupt or hostile blob cannot exhaust memory).
const MAX_TEXT: usize = 64 * 1024 * 1024;

/// The decoding dictionaries of one connection, by id: loaded when the functions are
/// registered, and added to as the writer trains new ones (a reader that meets an unknown id
/// reloads them: [`Dicts::reload`]).
#[derive(Clone, Default)]
pub struct Dicts {
    map: Arc<Mutex<HashMap<i64, Arc<zstd::zstd_safe::DDict<'static>>>>>,
    /// The database file: a dictionary trained by another connection after this one loaded
    /// its own is read from it (a second, read-only connection: a scalar function cannot
    /// query its own connection without `unsafe`).
    path: Option<std::path::PathBuf>,
}

impl Dicts {
    /// Load every dictionary stored in `zdicts` (none before schema 5).
    pub fn reload(&self, conn: &Connection) -> rusqlite::Result<()> {
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'zdicts')",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(());
        }
        let mut st = conn.prepare("SELECT id, dict FROM zdicts")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        for row in rows {
            let (id, bytes) = row?;
            self.add(id, &bytes);
        }
        Ok(())
    }

    fn add(&self, id: i64, bytes: &[u8]) {
        if let Ok(mut map) = self.map.lock()
            && let Some(d) = zstd::zstd_safe::DDict::try_create(bytes)
        {
            map.entry(id).or_insert_with(|| Arc::new(d));
        }
    }

    fn get(&self, id: i64) -> Option<Arc<zstd::zstd_safe::DDict<'static>>> {
        if let Some(d) = self.map.lock().ok()?.get(&id).cloned() {
            return Some(d);
        }
        let path = self.path.as_ref()?;
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
        let bytes: Vec<u8> = conn
            .query_row("SELECT dict FROM zdicts WHERE id = ?1", params![id], |r| {
                r.get(0)
            })
            .ok()?;
        self.add(id, &bytes);
        self.map.lock().ok()?.get(&id).cloned()
    }
}

/// Register `dvc_text`, `dvc_hash`, `dvc_state` and `dvc_time` on `conn`, with the
/// dictionaries stored so far.
pub fn register(conn: &Connection) -> rusqlite::Result<Dicts> {
    let dicts = Dicts {
        map: Arc::default(),
        path: conn
            .path()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from),
    };
    dicts.reload(conn)?;
    let decoders = dicts.clone();
    // One decompression context per connection, reused for every text.
    let dctx = Mutex::new(zstd::zstd_safe::DCtx::try_create());
    conn.create_scalar_function(
        "dvc_text",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let mut guard = dctx.lock().ok();
            unpack_value(ctx, &decoders, guard.as_mut().and_then(|g| g.as_mut()))
        },
    )?;
    // A content hash stored as its 32 bytes (schema 6) reads back as the lowercase hex it was
    // given as; any other value as it is.
    conn.create_scalar_function(
        "dvc_hash",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Blob(b) => Value::Text(hex::encode(b)),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(r) => Value::Real(r),
                ValueRef::Null => Value::Null,
            })
        },
    )?;
    conn.create_scalar_function(
        "dvc_state",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Integer(1) => "new".to_string(),
                ValueRef::Integer(2) => "persisting".to_string(),
                ValueRef::Integer(3) => "regressed".to_string(),
                ValueRef::Integer(_) | ValueRef::Null => String::new(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{other:?}"),
            })
        },
    )?;
    conn.create_scalar_function(
        "dvc_time",
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let at: Option<i64> = ctx.get(1)?;
            let fallback: Option<String> = ctx.get(2)?;
            Ok(match at {
                Some(ms) => {
                    let started: String = ctx.get(0)?;
                    time_at(&started, ms).unwrap_or_default()
                }
                None => fallback.unwrap_or_default(),
            })
        },
    )?;
    Ok(dicts)
}

/// A content hash as stored (schema 6): a SHA-256 in lowercase hex as its 32 bytes (half the
/// size; `dvc_hash` reads it back), anything else as the text it is.
pub(super) fn hash_value(hash: &str) -> Value {
    let hex_digest = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match hex_digest.then(|| hex::decode(hash).ok()).flatten() {
        Some(bytes) => Value::Blob(bytes),
        None => Value::Text(hash.to_string()),
    }
}

fn unpack_value(
    ctx: &Context<'_>,
    dicts: &Dicts,
    dctx: Option<&mut zstd::zstd_safe::DCtx<'static>>,
) -> rusqlite::Result<Value> {
    match ctx.get_raw(0) {
        ValueRef::Blob(b) if b.first() == Some(&MAGIC) => {
            let (dict, frame) = header(b).ok_or_else(|| user_err("packed text: bad header"))?;
            let ddict = if dict == 0 {
                None
            } else {
                Some(
                    dicts
                        .get(dict)
                        .ok_or_else(|| user_err(&format!("{UNKNOWN_DICT} {dict}")))?,
                )
            };
            Ok(Value::Text(decompress(frame, ddict.as_deref(), dctx)?))
        }
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Text(t) => Ok(Value::Text(String::from_utf8_lossy(t).into_owned())),
        ValueRef::Blob(b) => Ok(Value::Text(String::from_utf8_lossy(b).into_owned())),
        ValueRef::Integer(i) => Ok(Value::Text(i.to_string())),
        ValueRef::Real(f) => Ok(Value::Text(f.to_string())),
    }
}

/// The start of the error a text packed with a dictionary this connection has not loaded
/// gives (a reader opened before the writer trained it).
pub const UNKNOWN_DICT: &str = "packed text: unknown dictionary";

fn user_err(msg: &str) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(msg.to_string().into())
}

/// One frame into its text. Every frame this module writes records its size (bounded by
/// `MAX_TEXT`, so a corrupt or hostile blob cannot make it allocate more).
fn decompress(
    frame: &[u8],
    ddict: Option<&zstd::zstd_safe::DDict<'static>>,
    dctx: Option<&mut zstd::zstd_safe::DCtx<'static>>,
) -> rusqlite::Result<String> {
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= MAX_TEXT as u64 => n as usize,
        Ok(Some(_)) => return Err(user_err("packed text larger than 64 MiB")),
        _ => return Err(user_err("packed text: not a zstd frame with its size")),
    };
    let mut fresh;
    let dctx = match dctx {
        Some(d) => d,
        None => {
            fresh = zstd::zstd_safe::DCtx::try_create()
                .ok_or_else(|| user_err("zstd: no decompression context"))?;
            &mut fresh
        }
    };
    let mut out: Vec<u8> = Vec::with_capacity(size);
    let res = match ddict {
        Some(d) => dctx.decompress_using_ddict(&mut out, frame, d),
        None => dctx.decompress(&mut out, frame),
    };
    res.map_err(|code| {
        user_err(&format!(
            "packed text: {}",
            zstd::zstd_safe::get_error_name(code)
        ))
    })?;
    String::from_utf8(out).map_err(|_| user_err("packed text is not UTF-8"))
}

/// (dictionary id, zstd frame) of a packed blob.
fn header(b: &[u8]) -> Option<(i64, &[u8])> {
    let mut at = 1;
    let mut value: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = *b.get(at)?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 56 {
            return None;
        }
    }
    Some((i64::try_from(value).ok()?, b.get(at..)?))
}

/// Prepared compression dictionaries kept at once (each holds ~1 MB of match tables at this
/// level; texts arrive agency by agency, so a few suffice).
const PREPARED: usize = 8;

/// A stored dictionary: its id and bytes.
type Dictionary = (i64, Arc<Vec<u8>>);

/// Compresses texts for the writer: each key's dictionary, once trained, stays.
pub(super) struct Packer {
    /// key → (dictionary id, its bytes); `None`: looked up, none yet.
    dicts: HashMap<String, Option<Dictionary>>,
    /// The most recently used prepared dictionaries, newest last.
    prepared: Vec<(i64, zstd::zstd_safe::CDict<'static>)>,
    /// One compression context, reused for every text.
    cctx: Option<zstd::zstd_safe::CCtx<'static>>,
    /// The connection's decoders: a dictionary trained here is readable at once.
    decoders: Dicts,
}

impl Packer {
    pub(super) fn new(decoders: Dicts) -> Packer {
        Packer {
            dicts: HashMap::new(),
            prepared: Vec::new(),
            cctx: zstd::zstd_safe::CCtx::try_create(),
            decoders,
        }
    }

    /// [`Packer::prepare`] for a batch of texts, each with its dictionary key: the texts
    /// are grouped by key and each group prepared once.
    pub(super) fn prepare_all<'t>(
        &mut self,
        conn: &Connection,
        texts: impl IntoIterator<Item = (String, &'t str)>,
    ) -> Result<()> {
        let mut by_key: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
        for (key, text) in texts {
            by_key.entry(key).or_default().push(text);
        }
        for (key, samples) in &by_key {
            self.prepare(conn, key, samples)?;
        }
        Ok(())
    }

    /// The dictionary of `key`: loaded from `zdicts`, or trained from `samples` when there
    /// are enough of them and none exists yet.
    pub(super) fn prepare(&mut self, conn: &Connection, key: &str, samples: &[&str]) -> Result<()> {
        if !matches!(self.dicts.get(key), Some(Some(_))) {
            let found: Option<(i64, Vec<u8>)> = conn
                .prepare_cached("SELECT id, dict FROM zdicts WHERE name = ?1")?
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let entry = match found {
                Some((id, bytes)) => Some((id, Arc::new(bytes))),
                None if samples.len() >= TRAIN_MIN => train(conn, key, samples, &self.decoders)?,
                None => None,
            };
            self.dicts.insert(key.to_string(), entry);
        }
        Ok(())
    }

    /// `text` packed with `key`'s dictionary when it has one ([`Packer::prepare`]).
    pub(super) fn pack(&mut self, key: Option<&str>, text: &str) -> Vec<u8> {
        let dict = key.and_then(|k| self.dicts.get(k)).and_then(|d| d.clone());
        let mut out = vec![MAGIC];
        let id = dict.as_ref().map_or(0, |(id, _)| *id);
        let mut v = u64::try_from(id).unwrap_or(0);
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        let header = out.len();
        let cdict = dict.and_then(|(id, bytes)| self.cdict(id, &bytes));
        let res = match (self.cctx.as_mut(), cdict) {
            (Some(cctx), Some(i)) => {
                let cdict = &self.prepared[i].1;
                let mut frame = Vec::with_capacity(zstd::zstd_safe::compress_bound(text.len()));
                cctx.compress_using_cdict(&mut frame, text.as_bytes(), cdict)
                    .map(|_| frame)
            }
            (Some(cctx), None) if id == 0 => {
                let mut frame = Vec::with_capacity(zstd::zstd_safe::compress_bound(text.len()));
                cctx.compress(&mut frame, text.as_bytes(), LEVEL)
                    .map(|_| frame)
            }
            _ => Err(0),
        };
        match res {
            Ok(frame) => {
                out.truncate(header);
                out.extend_from_slice(&frame);
                out
            }
            // zstd does not fail on valid input given the bound; if it ever did (or a
            // dictionary could not be prepared), the text is stored as it is (a TEXT value
            // reads back unchanged).
            Err(_) => text.as_bytes().to_vec(),
        }
    }

    /// The index in `prepared` of dictionary `id`, preparing it (and dropping the least
    /// recently used one) if needed.
    fn cdict(&mut self, id: i64, bytes: &[u8]) -> Option<usize> {
        if let Some(i) = self.prepared.iter().position(|(p, _)| *p == id) {
            let entry = self.prepared.remove(i);
            self.prepared.push(entry);
        } else {
            let cdict = zstd::zstd_safe::CDict::try_create(bytes, LEVEL)?;
            if self.prepared.len() >= PREPARED {
                self.prepared.remove(0);
            }
            self.prepared.push((id, cdict));
        }
        Some(self.prepared.len() - 1)
    }
}

/// Train and store `key`'s dictionary from (at most `TRAIN_MAX`, evenly spread) samples.
/// A training failure (too little or too uniform data) leaves the key without one.
fn train(
    conn: &Connection,
    key: &str,
    samples: &[&str],
    decoders: &Dicts,
) -> Result<Option<Dictionary>> {
    let step = samples.len().div_ceil(TRAIN_MAX).max(1);
    let picked: Vec<&[u8]> = samples.iter().step_by(step).map(|s| s.as_bytes()).collect();
    let Ok(dict) = zstd::dict::from_samples(&picked, DICT_BYTES) else {
        return Ok(None);
    };
    conn.prepare_cached("INSERT INTO zdicts (name, dict, trained_at) VALUES (?1, ?2, ?3)")?
        .execute(params![key, dict, super::now()])?;
    let id = conn.last_insert_rowid();
    decoders.add(id, &dict);
    Ok(Some((id, Arc::new(dict))))
}

/// `t` truncated to the millisecond.
fn whole_ms(t: time::OffsetDateTime) -> time::OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

/// `started` (truncated to the millisecond) + `ms`, as RFC 3339 (UTC).
pub fn time_at(started: &str, ms: i64) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let s = whole_ms(time::OffsetDateTime::parse(started, &Rfc3339).ok()?);
    s.checked_add(time::Duration::milliseconds(ms))?
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .ok()
}

/// The time a stored row keeps for `at` in a run started at `started`: milliseconds after
/// the start when they rebuild `at` exactly ([`time_at`]), else the text itself (a time
/// with nanoseconds, another offset or another format, or no time).
pub(super) fn compact_time(started: &str, at: &str) -> (Option<i64>, Option<String>) {
    use time::format_description::well_known::Rfc3339;
    let ms = (|| {
        let s = whole_ms(time::OffsetDateTime::parse(started, &Rfc3339).ok()?);
        let a = time::OffsetDateTime::parse(at, &Rfc3339).ok()?;
        i64::try_from((a - s).whole_milliseconds()).ok()
    })();
    match ms {
        Some(ms) if time_at(started, ms).as_deref() == Some(at) => (Some(ms), None),
        _ => (None, Some(at.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> (Connection, Dicts) {
        let c = Connection::open_in_memory().expect("ok");
        c.execute_batch(
            "CREATE TABLE zdicts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                                  dict BLOB NOT NULL, trained_at TEXT NOT NULL);",
        )
        .expect("ok");
        let d = register(&c).expect("ok");
        (c, d)
    }

    fn unpack(c: &Connection, blob: &[u8]) -> String {
        c.query_row("SELECT dvc_text(?1)", params![blob], |r| r.get(0))
            .expect("ok")
    }

    #[test]
    fn texts_round_trip_with_and_without_a_dictionary() {
        let (c, d) = conn();
        let mut p = Packer::new(d);
        let texts: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    r#"{{"agency_id":"a","code":"1.{i:06}","url":"https://dvc.a.test/tthc?id={i}","level":"full","name":"Thủ tục số {i}","signature":{{"supported":{}}}}}"#,
                    i % 3 == 0
                )
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        // Too few samples: no dictionary, still compressed and readable.
        p.prepare(&c, "small", &refs[..3]).expect("ok");
        let plain = p.pack(Some("small"), refs[0]);
        assert_eq!(plain[..2], [MAGIC, 0]);
        assert_eq!(unpack(&c, &plain), refs[0]);
        // Enough: a dictionary is trained, stored and used; a second connection reads it.
        p.prepare(&c, "a", &refs).expect("ok");
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM zdicts WHERE name = 'a'", [], |r| {
                r.get(0)
            })
            .expect("ok");
        assert_eq!(n, 1);
        let packed: Vec<Vec<u8>> = refs.iter().map(|t| p.pack(Some("a"), t)).collect();
        assert_ne!(packed[0][1], 0, "dictionary id in the header");
        for (b, t) in packed.iter().zip(&refs) {
            assert_eq!(unpack(&c, b), *t);
        }
        let total: usize = packed.iter().map(Vec::len).sum();
        let raw: usize = refs.iter().map(|t| t.len()).sum();
        assert!(
            total * 3 < raw,
            "dictionary compression: {total} of {raw} bytes"
        );
        // A later packer finds the stored dictionary instead of training another.
        let mut q = Packer::new(Dicts::default());
        q.prepare(&c, "a", &refs).expect("ok");
        assert_eq!(q.pack(Some("a"), refs[5])[1], packed[5][1]);
        // Another connection to the same data reads it after loading the dictionaries; one
        // that has not loaded them says so (and is not handed wrong text).
        let fresh = Dicts::default();
        let other = Connection::open_in_memory().expect("ok");
        other
            .create_scalar_function("dvc_text", 1, FunctionFlags::SQLITE_UTF8, {
                let f = fresh.clone();
                move |ctx| unpack_value(ctx, &f, None)
            })
            .expect("ok");
        let err = other
            .query_row("SELECT dvc_text(?1)", params![packed[1]], |r| {
                r.get::<_, String>(0)
            })
            .expect_err("an error");
        assert!(err.to_string().contains(UNKNOWN_DICT), "{err}");
        fresh.reload(&c).expect("ok");
        let ok: String = other
            .query_row("SELECT dvc_text(?1)", params![packed[1]], |r| r.get(0))
            .expect("ok");
        assert_eq!(ok, refs[1]);
        // Plain TEXT values (schema 4 rows) read unchanged; NULL stays NULL.
        assert_eq!(unpack(&c, b"{\"x\":1}"), "{\"x\":1}");
        let null: Option<String> = c
            .query_row("SELECT dvc_text(NULL)", [], |r| r.get(0))
            .expect("ok");
        assert_eq!(null, None);
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        let (c, _) = conn();
        for bad in [
            vec![MAGIC],
            vec![MAGIC, 0, 1, 2, 3],
            vec![MAGIC, 0x85, 0x01, 0],
        ] {
            let r: rusqlite::Result<String> =
                c.query_row("SELECT dvc_text(?1)", params![bad], |r| r.get(0));
            assert!(r.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_rebuild_at_millisecond_precision() {
        let start = "2026-12-03T14:17:02.158462987Z";
        let at = "2026-12-03T14:17:03.318Z";
        let (ms, text) = compact_time(start, at);
        assert_eq!(ms, Some(1160));
        assert_eq!(text, None);
        assert_eq!(time_at(start, 1160).as_deref(), Some(at));
        // Far from the start (earlier, too) and on whole seconds.
        for at in [
            "2026-01-01T00:00:00.1Z",
            "2026-12-04T00:00:00Z",
            "2027-03-01T08:09:10.999Z",
        ] {
            let (ms, text) = compact_time(start, at);
            assert_eq!(
                (time_at(start, ms.expect("ms")).as_deref(), text),
                (Some(at), None)
            );
        }
        // What milliseconds cannot rebuild exactly is kept as it is.
        for at in [
            "2026-12-03T14:17:03.318666603Z",
            "2026-12-03T21:17:03+07:00",
            "",
            "yesterday",
        ] {
            assert_eq!(
                compact_time(start, at),
                (None, Some(at.to_string())),
                "{at}"
            );
        }
        let (c, _) = conn();
        let s: String = c
            .query_row("SELECT dvc_time(?1, NULL, 'x')", params![start], |r| {
                r.get(0)
            })
            .expect("ok");
        assert_eq!(s, "x");
    }
}
