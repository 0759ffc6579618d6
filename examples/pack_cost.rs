//! What packing a walk's read pages costs (`crawl::packed`, issue 20), on the real service
//! states of a run's database: bytes per page and CPU per page to pack and to read back. Each
//! page gets a fetch record shaped like the crawler's (the database keeps counts, not every
//! record). BENCHMARKS.md, "Session 6: peak RSS".
//!
//!     cargo build --release --locked --example pack_cost
//!     flock /work/bench.lock target/release/examples/pack_cost <run's audit.sqlite>
use dvc_audit::crawl::FetchRecord;
use dvc_audit::crawl::packed::Packed;
use dvc_audit::facts::ServiceFacts;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let Some(db) = std::env::args().nth(1) else {
        anyhow::bail!("usage: pack_cost <audit.sqlite> (a database with run 1)");
    };
    let conn = rusqlite::Connection::open(&db)?;
    dvc_audit::store::register_functions(&conn)?;
    let mut st = conn.prepare(
        "SELECT agency_id, facts_json FROM service_facts WHERE run_id = 1 ORDER BY agency_id",
    )?;
    let mut by_agency: Vec<(String, Vec<(ServiceFacts, FetchRecord)>)> = Vec::new();
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (a, j) = row?;
        let f: ServiceFacts = serde_json::from_str(&j)?;
        let rec = FetchRecord {
            url: f.fetch.url.clone(),
            final_url: f.fetch.final_url.clone(),
            method: "GET".into(),
            status: 200,
            started_at: f.fetch.fetched_at.clone(),
            elapsed_ms: 3,
            ttfb_ms: 2,
            attempts: 1,
            bytes_wire: 4000,
            bytes_decoded: 30000,
            content_type: "text/html; charset=utf-8".into(),
            encoding: "UTF-8".into(),
            encoding_source: "header".into(),
            etag: Some(format!("\"{}\"", &f.fetch.sha256.get(..16).unwrap_or(""))),
            last_modified: Some("Wed, 01 Jan 2025 00:00:00 GMT".into()),
            ..FetchRecord::default()
        };
        match by_agency.last_mut() {
            Some((x, v)) if *x == a => v.push((f, rec)),
            _ => by_agency.push((a, vec![(f, rec)])),
        }
    }
    let n: usize = by_agency.iter().map(|(_, v)| v.len()).sum();
    let json: usize = by_agency
        .iter()
        .flat_map(|(_, v)| v)
        .map(|p| serde_json::to_vec(p).map_or(0, |v| v.len()))
        .sum();
    let t = Instant::now();
    let mut packs = Vec::new();
    for (_, v) in &by_agency {
        let mut p = Packed::default();
        for x in v {
            p.push(x.clone());
        }
        packs.push(p);
    }
    let push = t.elapsed();
    let bytes: usize = packs.iter().map(|p| p.bytes()).sum();
    // clone cost alone, to subtract
    let t = Instant::now();
    let mut sink = 0usize;
    for (_, v) in &by_agency {
        for x in v {
            let c = x.clone();
            sink += c.0.url.len();
        }
    }
    let clone = t.elapsed();
    let t = Instant::now();
    let mut back = 0;
    for p in packs {
        back += p.unpack().items.len();
    }
    let unpack = t.elapsed();
    println!(
        "{n} pages ({back} back, {sink}), JSON {:.0} B/page, packed {:.0} B/page (incl. open blocks)",
        json as f64 / n as f64,
        bytes as f64 / n as f64
    );
    println!(
        "push {:.2} µs/page (clone alone {:.2}), unpack {:.2} µs/page",
        push.as_secs_f64() * 1e6 / n as f64,
        clone.as_secs_f64() * 1e6 / n as f64,
        unpack.as_secs_f64() * 1e6 / n as f64
    );
    Ok(())
}
