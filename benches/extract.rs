//! Extraction speed from memory (no I/O): pages per second for list and detail pages of the
//! real Bộ Công an fixtures and a JSON detail. Run with `cargo bench --bench extract`.
//! Hand-rolled timing (no criterion in the dependency set); it prints, it does not judge.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dvc_audit::extract::{self, AgencyVars, ListState, Page};
use dvc_audit::profile::ProfileSet;

const LIST: &str = include_str!("../tests/fixtures/real/bocongan_list_QL_CU_TRU.html");
const DETAIL: &str = include_str!("../tests/fixtures/real/bocongan_tthc_26360.html");
const JSON: &str = r#"{"id":"a1","code":"1.000101","name":"Đăng ký khai sinh","level":{"id":4,"name":"Dịch vụ công trực tuyến toàn trình"},"requireDigitalSignature":true,"digitalSignatureProviders":["VGCA"],"dossierRequirement":"Tờ khai được ký số","nationalPortalSync":true}"#;

fn measure(name: &str, bytes: usize, mut f: impl FnMut()) {
    // Warm up, then run for about a second.
    for _ in 0..20 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        f();
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let per_s = n as f64 / secs;
    println!(
        "{name:<28} {per_s:>10.0} pages/s  {:>8.1} MB/s",
        per_s * bytes as f64 / 1e6
    );
}

fn main() {
    let set = match ProfileSet::bundled() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", e.0.render(false));
            std::process::exit(2);
        }
    };
    let (Some(accordion), Some(spa)) = (set.get("accordion"), set.get("spa")) else {
        eprintln!("bundled profiles missing");
        std::process::exit(2);
    };
    let vars = AgencyVars::new("bca", "https://dichvucong.bocongan.gov.vn/bocongan");
    let start = match accordion.start_requests(&vars) {
        Ok(s) if !s.is_empty() => s,
        _ => std::process::exit(2),
    };
    let list = Page::from_body("https://dichvucong.bocongan.gov.vn/bocongan/bothutuc", LIST);
    let detail = Page::from_body(
        "https://dichvucong.bocongan.gov.vn/bocongan/bothutuc/tthc?matt=26360",
        DETAIL,
    );
    let json = Page::from_body("https://api.x.test/api/v1/procedures/a1", JSON);
    measure("accordion list (real)", LIST.len(), || {
        let mut st = ListState::new(&vars);
        black_box(extract::list_page(accordion, &list, &start[0], &mut st));
    });
    measure("accordion detail (real)", DETAIL.len(), || {
        black_box(extract::detail_page(accordion, &detail, "bca"));
    });
    measure("spa detail (json)", JSON.len(), || {
        black_box(extract::detail_page(spa, &json, "x"));
    });
    measure("normalised hash (detail)", DETAIL.len(), || {
        black_box(extract::normalised_hash(accordion, DETAIL));
    });
}
