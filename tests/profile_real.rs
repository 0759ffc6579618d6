//! The accordion profile reads the real Bộ Công an pages (tests/fixtures/real/) as they are.

use dvc_audit::extract::{self, AgencyVars, ListState, Page, PageKind};
use dvc_audit::facts::{AssessReason, Level};
use dvc_audit::profile::ProfileSet;

const LIST: &str = include_str!("fixtures/real/bocongan_list_QL_CU_TRU.html");
const DETAIL: &str = include_str!("fixtures/real/bocongan_tthc_26360.html");
const LIST_URL: &str =
    "https://dichvucong.bocongan.gov.vn/bocongan/bothutuc?linh_vuc=QL_CU_TRU&per_page=50";
const DETAIL_URL: &str = "https://dichvucong.bocongan.gov.vn/bocongan/bothutuc/tthc?matt=26360";

fn accordion() -> std::sync::Arc<dvc_audit::profile::Profile> {
    let set = ProfileSet::bundled().expect("bundled profiles load");
    set.get("accordion").expect("accordion profile").clone()
}

#[test]
fn real_list_yields_eleven_services_and_stops() {
    let profile = accordion();
    let vars = AgencyVars::new("bocongan", "https://dichvucong.bocongan.gov.vn/bocongan");
    let start = profile.start_requests(&vars).expect("start requests");
    let page = Page::from_body(LIST_URL, LIST);
    let mut state = ListState::new(&vars);
    let out = extract::list_page(&profile, &page, &start[0], &mut state);
    assert_eq!(out.details.len(), 11, "{:?}", out.notes);
    assert_eq!(out.total, Some(11));
    assert!(out.next.is_none(), "no next page: {:?}", out.next);
    assert_eq!(out.could_not_assess, None);
    assert!(out.details.iter().all(|d| d.kind == PageKind::Detail));
    assert_eq!(
        out.details[5].url,
        "https://dichvucong.bocongan.gov.vn/bocongan/bothutuc/tthc?matt=26360"
    );
    assert_eq!(out.details[5].hint.name, "Đăng ký thường trú");
    assert!(out.signals.is_empty());
}

#[test]
fn real_detail_yields_code_level_and_label() {
    let profile = accordion();
    let page = Page::from_body(DETAIL_URL, DETAIL);
    let facts = extract::detail_page(&profile, &page, "bocongan");
    assert_eq!(facts.code, "1.004222");
    assert_eq!(facts.name, "Đăng ký thường trú");
    assert_eq!(facts.level, Level::Partial);
    assert_eq!(facts.level_label, "Dịch vụ công trực tuyến một phần");
    assert!(facts.online_submission);
    assert_eq!(facts.agency_id, "bocongan");
    assert_eq!(facts.url, DETAIL_URL);
    assert!(facts.fetch.error.is_none());
    // No signing on this page, no national-portal link.
    assert!(!facts.signature.supported && !facts.signature.required);
    assert!(!facts.national_portal_link);
    // Evidence for every value, pointing at the page.
    for field in ["code", "name", "level"] {
        let e = facts
            .evidence
            .iter()
            .find(|e| e.field == field)
            .unwrap_or_else(|| panic!("evidence for {field}"));
        assert_eq!(e.url, DETAIL_URL);
        assert!(!e.locator.is_empty() && !e.excerpt.is_empty());
    }
    let level = facts.evidence.iter().find(|e| e.field == "level");
    assert!(level.is_some_and(|e| {
        e.locator
            .contains("Mức độ cung cấp dịch vụ công trực tuyến")
    }));
    assert_eq!(facts.fetch.sha256.len(), 64);
}

#[test]
fn real_detail_is_not_a_list() {
    // Read as a list page, the detail has no service links: the profile matched nothing.
    let profile = accordion();
    let vars = AgencyVars::new("bocongan", "https://dichvucong.bocongan.gov.vn");
    let start = profile.start_requests(&vars).expect("start");
    let mut state = ListState::new(&vars);
    let out = extract::list_page(
        &profile,
        &Page::from_body(DETAIL_URL, DETAIL),
        &start[0],
        &mut state,
    );
    assert!(out.details.is_empty());
    assert_eq!(out.could_not_assess, Some(AssessReason::NoData));
}
