//! Extraction from memory (no I/O): pages per second for each page shape. This is the
//! parse-and-extract ceiling the crawl is compared against in BENCHMARKS.md.
//!
//! - sandbox detail pages of every shape (accordion, table, spa JSON), rendered in memory with
//!   `sandbox::detail_body`, a few dozen distinct services per shape so caches do not flatter;
//!   each iteration does what the crawl does per detail page: normalised hash + parse + extract;
//! - the real Bộ Công an list and detail fixtures.
//!
//! Run with `cargo bench --bench extract`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dvc_audit::extract::{self, AgencyVars, ListState, Page};
use dvc_audit::profile::{Profile, ProfileSet};
use dvc_audit::sandbox::{Overrides, Shape, Size, World, detail_body};

const LIST: &str = include_str!("../tests/fixtures/real/bocongan_list_QL_CU_TRU.html");
const DETAIL: &str = include_str!("../tests/fixtures/real/bocongan_tthc_26360.html");

/// Services per shape in the measured set.
const PER_SHAPE: usize = 48;

fn profiles() -> ProfileSet {
    match ProfileSet::bundled() {
        Ok(s) => s,
        Err(e) => panic!("{}", e.0.render(false)),
    }
}

/// `(agency id, url, body)` of up to [`PER_SHAPE`] detail pages of `shape` in the demo world.
fn sandbox_pages(o: &Overrides, shape: Shape) -> Vec<(String, String, String)> {
    o.services()
        .filter(|(a, _)| a.shape == shape)
        .filter_map(|(a, s)| {
            let url = format!("https://{}{}", s.data_host(a), s.detail_path(a));
            detail_body(a, &s).map(|b| (a.id.clone(), url, b))
        })
        .take(PER_SHAPE)
        .collect()
}

/// Normalised hash (computed by `detail_page` when the fetch facts carry none), parse and
/// extraction: the work the crawl does per detail page.
fn extract_one(profile: &Profile, agency: &str, url: &str, body: &str) {
    let page = Page::from_body(url, body);
    black_box(extract::detail_page(profile, &page, agency));
}

fn sandbox_details(c: &mut Criterion) {
    let set = profiles();
    let o = Overrides::new(World::new(Size::Demo, 1));
    let mut g = c.benchmark_group("detail_page");
    for shape in [Shape::Accordion, Shape::Table, Shape::Spa] {
        let Some(profile) = set.get(shape.as_str()).map(Arc::clone) else {
            panic!("no bundled profile for {}", shape.as_str());
        };
        let pages = sandbox_pages(&o, shape);
        assert!(
            !pages.is_empty(),
            "demo world has no {} page",
            shape.as_str()
        );
        g.throughput(Throughput::Elements(pages.len() as u64));
        g.bench_function(shape.as_str(), |b| {
            b.iter(|| {
                for (agency, url, body) in &pages {
                    extract_one(&profile, agency, url, body);
                }
            })
        });
    }
    g.finish();
}

fn real_fixtures(c: &mut Criterion) {
    let set = profiles();
    let Some(accordion) = set.get("accordion").map(Arc::clone) else {
        panic!("bundled accordion profile missing");
    };
    let vars = AgencyVars::new("bca", "https://dichvucong.bocongan.gov.vn/bocongan");
    let start = match accordion.start_requests(&vars) {
        Ok(s) if !s.is_empty() => s,
        _ => panic!("accordion profile has no start request"),
    };
    let list = Page::from_body("https://dichvucong.bocongan.gov.vn/bocongan/bothutuc", LIST);
    let mut g = c.benchmark_group("real_bocongan");
    g.throughput(Throughput::Elements(1));
    g.bench_function("list_page", |b| {
        b.iter(|| {
            let mut st = ListState::new(&vars);
            black_box(extract::list_page(&accordion, &list, &start[0], &mut st));
        })
    });
    g.bench_function("detail_page", |b| {
        b.iter(|| {
            extract_one(
                &accordion,
                "bca",
                "https://dichvucong.bocongan.gov.vn/bocongan/bothutuc/tthc?matt=26360",
                DETAIL,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, sandbox_details, real_fixtures);
criterion_main!(benches);
