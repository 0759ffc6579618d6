//! Unit tests of list reading: a replayed scan reads as the fresh page.

use super::*;
use crate::profile::ProfileSet;

fn profile(id: &str) -> std::sync::Arc<Profile> {
    let set = ProfileSet::bundled().expect("bundled profiles");
    std::sync::Arc::clone(set.get(id).expect("profile"))
}

/// A `table`-shape list page: rows `ids`, and a next-page link when `more`.
fn table_page(url: &str, ids: std::ops::Range<usize>, more: bool) -> Page {
    let rows: String = ids
        .map(|i| {
            format!(
                "<tr><td><a class=\"ten-thu-tuc\" href=\"/web/guest/thu-tuc-hanh-chinh/chi-tiet?id={i}\">Thủ tục {i}</a></td></tr>"
            )
        })
        .collect();
    let next = if more {
        "<a class=\"next-page\" href=\"?count=99\">Trang sau</a>"
    } else {
        ""
    };
    Page::from_body(
        url,
        format!("<html><body><table class=\"ds-thu-tuc\">{rows}</table>{next}</body></html>"),
    )
}

fn json(out: &ListOutcome) -> serde_json::Value {
    serde_json::to_value(out).expect("outcome serialises")
}

/// Read `pages` along a chain twice: fresh, and replaying each page's stored scan (after a
/// trip through JSON, as the cache stores it). Every outcome and the final state agree, and
/// the chain reads every page given.
fn assert_replay_matches(profile: &Profile, pages: &[Page], vars: &AgencyVars) {
    let starts = profile.start_requests(vars).expect("start");
    let mut req = starts.first().cloned().expect("one start");
    let (mut fresh, mut replayed) = (ListState::new(vars), ListState::new(vars));
    for page in pages {
        let page = Page {
            url: req.url.clone(),
            final_url: req.url.clone(),
            ..page.clone()
        };
        let (a, scan) = list_page_scanned(profile, &page, &req, &mut fresh);
        let stored = serde_json::to_string(&scan.expect("a scan")).expect("json");
        let scan: ListScan = serde_json::from_str(&stored).expect("decodes");
        let b = replay_list_page(profile, &scan, &req, &mut replayed);
        assert_eq!(json(&a), json(&b), "{}", req.url);
        assert_eq!(fresh.pages, replayed.pages);
        assert_eq!(fresh.services_seen(), replayed.services_seen());
        assert_eq!(fresh.visited, replayed.visited);
        assert_eq!(fresh.cursors, replayed.cursors);
        match a.next {
            Some(n) => req = n,
            None => break,
        }
    }
    assert_eq!(fresh.pages as usize, pages.len());
}

#[test]
fn a_replayed_counter_chain_reads_as_the_fresh_one() {
    let p = profile("table");
    let vars = AgencyVars::new("t", "https://dvc.t.test");
    let pages = [
        table_page("", 0..10, true),
        // Overlaps the first page: only the new services are new, on both paths.
        table_page("", 5..15, true),
        table_page("", 15..18, false),
    ];
    assert_replay_matches(&p, &pages, &vars);
}

#[test]
fn a_replayed_cursor_chain_reads_as_the_fresh_one() {
    let p = profile("spa");
    let vars = AgencyVars::new("s", "https://dvc.s.test").with("api", "https://api.s.test");
    let page = |ids: &[&str], last_id: &str, last: bool| {
        let content: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| serde_json::json!({"id": id, "code": format!("1.{id}"), "name": "Tên"}))
            .collect();
        Page::from_body(
            "",
            serde_json::json!({"content": content, "lastId": last_id, "last": last}).to_string(),
        )
    };
    // The third page repeats a cursor: both paths stop there, saying why.
    let pages = [
        page(&["001", "002"], "002", false),
        page(&["003"], "003", false),
        page(&["004"], "003", false),
    ];
    assert_replay_matches(&p, &pages, &vars);
}

#[test]
fn a_replay_decides_with_the_chain_it_is_replayed_in() {
    let p = profile("table");
    let vars = AgencyVars::new("t", "https://dvc.t.test");
    let req = p.start_requests(&vars).expect("start").remove(0);
    let page = Page {
        url: req.url.clone(),
        ..table_page(&req.url, 0..10, true)
    };
    let scan = scan_list(&p, &page, &vars);
    // A chain that already saw every service on the page: nothing new, the chain ends,
    // exactly as a fresh read of the page in that chain.
    let mut seen = ListState::new(&vars);
    let _ = list_page(&p, &page, &req, &mut seen);
    let mut fresh = seen.clone();
    let replayed = replay_list_page(&p, &scan, &req, &mut seen);
    assert!(replayed.details.is_empty());
    assert!(replayed.next.is_none());
    assert_eq!(
        json(&replayed),
        json(&list_page(&p, &page, &req, &mut fresh))
    );
}

#[test]
fn an_error_status_gives_no_scan() {
    let p = profile("table");
    let vars = AgencyVars::new("t", "https://dvc.t.test");
    let req = p.start_requests(&vars).expect("start").remove(0);
    let page = Page {
        status: 500,
        ..table_page(&req.url, 0..3, false)
    };
    let (out, scan) = list_page_scanned(&p, &page, &req, &mut ListState::new(&vars));
    assert_eq!(out.could_not_assess, Some(AssessReason::HttpStatus));
    assert!(scan.is_none());
}

#[test]
fn links_over_the_per_page_bound_are_counted_not_silently_dropped() {
    let p = profile("table");
    let vars = AgencyVars::new("x", "https://dvc.x.sandbox.test/");
    let starts = p.start_requests(&vars).expect("start");
    let req = starts.first().cloned().expect("one start");
    let extra = 150;
    let page = Page {
        url: req.url.clone(),
        final_url: req.url.clone(),
        ..table_page(&req.url, 0..MAX_LINKS_PER_PAGE + extra, false)
    };
    let mut state = ListState::new(&vars);
    let (out, scan) = list_page_scanned(&p, &page, &req, &mut state);
    assert_eq!(out.details.len(), MAX_LINKS_PER_PAGE);
    assert_eq!(out.links_dropped, extra);
    // The cached scan remembers it too, so a 304 replay reports the same coverage.
    let scan = scan.expect("a scan");
    assert_eq!(scan.links_dropped, extra);
    let again = replay_list_page(&p, &scan, &req, &mut ListState::new(&vars));
    assert_eq!(again.links_dropped, extra);
}

/// Read `pages` along a chain (each answering the request the page before asked for) and give
/// the last page's outcome; a replay of the stored scans gives the same.
fn chain_end(profile: &Profile, pages: &[Page], vars: &AgencyVars) -> ListOutcome {
    assert_replay_matches(profile, pages, vars);
    let mut req = profile.start_requests(vars).expect("start").remove(0);
    let mut state = ListState::new(vars);
    let mut last = ListOutcome::default();
    for page in pages {
        let page = Page {
            url: req.url.clone(),
            final_url: req.url.clone(),
            ..page.clone()
        };
        last = list_page(profile, &page, &req, &mut state);
        match last.next.clone() {
            Some(n) => req = n,
            None => break,
        }
    }
    last
}

const MAINTENANCE: &str =
    "<html><body><h1>Hệ thống đang bảo trì</h1><p>Xin quay lại sau.</p></body></html>";

/// A Liferay list page: rows `ids` inside the portlet's list (none past the end).
fn liferay_page(ids: std::ops::Range<usize>) -> Page {
    let rows: String = ids
        .map(|i| format!("<li><div><div class=\"tb-td-3\"><a href=\"/dich-vu-cong/chi-tiet?id={i}\">Thủ tục {i}</a></div></div></li>"))
        .collect();
    Page::from_body(
        "",
        format!(
            "<html><body><div class=\"portlet-body\"><ul class=\"ds-dvc\">{rows}</ul></div></body></html>"
        ),
    )
}

#[test]
fn an_empty_last_page_with_the_list_on_it_ends_the_listing() {
    let vars = AgencyVars::new("d", "https://dvc.d.test");
    // Offset pagination without a pager: the page past the end has the list and no row.
    let end = chain_end(
        &profile("liferay"),
        &[liferay_page(0..6), liferay_page(6..9), liferay_page(0..0)],
        &vars,
    );
    assert_eq!(end.could_not_assess, None, "{:?}", end.notes);
    assert!(!end.end_unconfirmed && end.next.is_none());
    // The table shape: an empty table after the pager promised more is an end too.
    let end = chain_end(
        &profile("table"),
        &[table_page("", 0..10, true), table_page("", 0..0, false)],
        &vars,
    );
    assert_eq!(end.could_not_assess, None, "{:?}", end.notes);
    assert!(!end.end_unconfirmed);
}

#[test]
fn a_later_page_that_is_no_list_page_is_no_end() {
    let vars = AgencyVars::new("d", "https://dvc.d.test");
    for (id, first) in [
        ("table", table_page("", 0..10, true)),
        ("liferay", liferay_page(0..6)),
    ] {
        let end = chain_end(
            &profile(id),
            &[first, Page::from_body("", MAINTENANCE.to_string())],
            &vars,
        );
        assert_eq!(end.could_not_assess, Some(AssessReason::NoData), "{id}");
        assert!(end.next.is_none());
        assert!(
            end.notes
                .iter()
                .any(|n| n.contains("page 2") && n.contains("no list page")),
            "{id}: {:?}",
            end.notes
        );
    }
}

#[test]
fn a_later_json_page_without_the_items_array_is_no_end() {
    let p = profile("spa");
    let vars = AgencyVars::new("s", "https://dvc.s.test").with("api", "https://api.s.test");
    let first = Page::from_body(
        "",
        serde_json::json!({"content": [{"id": "001", "code": "1.001", "name": "Tên"}], "lastId": "001", "last": false})
            .to_string(),
    );
    let error = Page::from_body("", r#"{"success":false,"data":null}"#.to_string());
    let end = chain_end(&p, &[first.clone(), error], &vars);
    assert_eq!(
        end.could_not_assess,
        Some(AssessReason::NoData),
        "{:?}",
        end.notes
    );
    // An empty array is an answer: the listing ended.
    let empty = Page::from_body(
        "",
        serde_json::json!({"content": [], "lastId": null, "last": false}).to_string(),
    );
    let end = chain_end(&p, &[first, empty], &vars);
    assert_eq!(end.could_not_assess, None, "{:?}", end.notes);
    assert!(!end.end_unconfirmed);
}

#[test]
fn an_empty_later_page_of_a_profile_without_a_list_container_is_an_unconfirmed_end() {
    let mut p = (*profile("table")).clone();
    if let ListSource::Html(h) = &mut p.listing.source {
        h.container = None;
    }
    let vars = AgencyVars::new("d", "https://dvc.d.test");
    let end = chain_end(
        &p,
        &[
            table_page("", 0..10, true),
            Page::from_body("", MAINTENANCE.to_string()),
        ],
        &vars,
    );
    assert_eq!(end.could_not_assess, None);
    assert!(end.end_unconfirmed, "{:?}", end.notes);
    // A later page with rows and no pager is the end, confirmed.
    let end = chain_end(
        &p,
        &[table_page("", 0..10, true), table_page("", 10..12, false)],
        &vars,
    );
    assert!(!end.end_unconfirmed && end.could_not_assess.is_none());
}
