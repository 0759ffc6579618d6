//! List pages: service links (HTML) or items (JSON), the total, and the next page.
//!
//! Reading a list page is two steps, so a page can be replayed without its body:
//! 1. [`scan_list`]: page → [`ListScan`], everything the page itself says (links in order with
//!    their hints, total, signals, next link, `more`, cursor), independent of the chain;
//! 2. `apply`: scan + the chain's [`ListState`] → [`ListOutcome`] (which services are new, the
//!    next request, why the chain stops).
//!
//! [`list_page`] does both. The crawler stores the scan with the page's validators; when the
//! server answers `304` on a later run, [`replay_list_page`] runs step 2 on the stored scan, so
//! the chain's memory (services seen, pages visited, cursors, page count) evolves exactly as it
//! would had the page been read again.

use std::collections::HashSet;

use scraper::Html;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::html::{element_text, parse_count};
use super::limits::{MAX_LINKS_PER_PAGE, MAX_NAME_CHARS, MAX_SEEN_PER_CHAIN};
use super::request::{
    AgencyVars, ListPosition, PageKind, PageRequest, PaginationVars, absolute, list_request,
    render_item,
};
use super::signals::{detect_html, detect_json};
use super::{Page, ServiceHint};
use crate::facts::{AssessReason, Evidence};
use crate::profile::template::{Escape, scalar_text};
use crate::profile::{HtmlListing, JsonListing, ListSource, Locator, Method, Pagination, Profile};

/// Memory of one list chain (one start URL followed page after page).
#[derive(Debug, Clone)]
pub struct ListState {
    vars: AgencyVars,
    seen: HashSet<String>,
    visited: HashSet<String>,
    cursors: HashSet<String>,
    /// List pages read so far in this chain.
    pub pages: u32,
}

impl ListState {
    pub fn new(vars: &AgencyVars) -> ListState {
        ListState {
            vars: vars.clone(),
            seen: HashSet::new(),
            visited: HashSet::new(),
            cursors: HashSet::new(),
            pages: 0,
        }
    }

    /// Distinct services found so far in the chain.
    pub fn services_seen(&self) -> usize {
        self.seen.len()
    }
}

/// What one list page gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListOutcome {
    /// Detail requests for services not seen before in this chain.
    pub details: Vec<PageRequest>,
    /// The next list page, or `None` when the chain is finished.
    pub next: Option<PageRequest>,
    /// The total the page announces, if the profile reads one.
    pub total: Option<i64>,
    /// Signature signals on this list page (input of [`super::mark_site_wide`]).
    pub signals: Vec<Evidence>,
    /// National-portal links on this list page (input of [`super::mark_national_site_wide`]).
    pub national: Vec<Evidence>,
    pub could_not_assess: Option<AssessReason>,
    /// Why the chain stopped or what was odd, for people (e.g. `dvc-audit profile test`).
    pub notes: Vec<String>,
    /// Links on this page beyond [`MAX_LINKS_PER_PAGE`], not followed (coverage says so).
    pub links_dropped: usize,
    /// The chain had more pages and stopped at the profile's `max_pages` (coverage says so).
    pub stopped_at_max_pages: bool,
    /// The chain ended on a later page with no service link that the profile cannot tell
    /// from a page that is no list page (it names no list `container`): whether the listing
    /// really ended there is not observed (coverage says so).
    pub end_unconfirmed: bool,
}

/// What a list page says by itself, before the chain's memory decides what is new: the part
/// of reading a page that needs its body. Stored by the crawler for conditional re-runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListScan {
    /// The URL links were resolved against (the page's URL after redirects).
    pub base_url: String,
    /// Service links found, in page order (bounded by [`MAX_LINKS_PER_PAGE`]).
    pub items: Vec<ListItem>,
    /// Links beyond [`MAX_LINKS_PER_PAGE`] on this page, not kept.
    #[serde(default)]
    pub links_dropped: usize,
    pub total: Option<i64>,
    pub signals: Vec<Evidence>,
    /// National-portal links on the page itself (HTML profiles).
    #[serde(default)]
    pub national: Vec<Evidence>,
    /// Notes about the page itself (items skipped, an app shell).
    pub notes: Vec<String>,
    pub could_not_assess: Option<AssessReason>,
    /// `false`: the page leads nowhere whatever the pagination (an app shell, a response
    /// that is not JSON).
    pub paginate: bool,
    /// The `next_link` target, resolved.
    pub next_link: Option<String>,
    /// Counter pagination: its `more` locator matched (`true` when the profile has none).
    pub more: bool,
    /// Cursor pagination of a JSON listing: what the response says.
    pub cursor: Option<CursorScan>,
    /// The page shows the list itself even if it has no row: the profile's list `container`
    /// (HTML) or the items array (JSON).
    #[serde(default)]
    pub list_marker: bool,
}

/// One service link on a list page, with the request its detail page needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListItem {
    pub url: String,
    pub method: Method,
    pub body: Option<String>,
    pub hint: ServiceHint,
}

/// The cursor part of a JSON list response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorScan {
    /// The response says it is the last page.
    pub last: bool,
    /// The cursor for the next page, as text.
    pub cursor: Option<String>,
}

/// Read one list page. `request` is the request the page answers (its position drives the
/// next request); `state` is the chain's memory.
pub fn list_page(
    profile: &Profile,
    page: &Page,
    request: &PageRequest,
    state: &mut ListState,
) -> ListOutcome {
    list_page_scanned(profile, page, request, state).0
}

/// [`list_page`], also giving the page's [`ListScan`] (`None` when the status gave nothing
/// to read), for the crawler to store.
pub fn list_page_scanned(
    profile: &Profile,
    page: &Page,
    request: &PageRequest,
    state: &mut ListState,
) -> (ListOutcome, Option<ListScan>) {
    enter(state, &page.url, page.base_url());
    if !super::status_ok(page.status) {
        let out = ListOutcome {
            could_not_assess: Some(AssessReason::HttpStatus),
            notes: vec![format!("HTTP status {}", page.status)],
            ..ListOutcome::default()
        };
        return (out, None);
    }
    let scan = scan_list(profile, page, &state.vars);
    let out = apply(profile, &scan, request, state);
    (out, Some(scan))
}

/// Read a list page again from its stored [`ListScan`] (the server said it has not changed):
/// the same outcome [`list_page`] gives on the same body in the same chain state.
pub fn replay_list_page(
    profile: &Profile,
    scan: &ListScan,
    request: &PageRequest,
    state: &mut ListState,
) -> ListOutcome {
    enter(state, &request.url, &scan.base_url);
    apply(profile, scan, request, state)
}

fn enter(state: &mut ListState, url: &str, base_url: &str) {
    state.pages = state.pages.saturating_add(1);
    state.visited.insert(url.to_string());
    state.visited.insert(base_url.to_string());
}

/// Step 1: what the page says, read with the agency's variables (no chain state).
pub fn scan_list(profile: &Profile, page: &Page, vars: &AgencyVars) -> ListScan {
    let mut scan = ListScan {
        base_url: page.base_url().to_string(),
        paginate: true,
        more: true,
        ..ListScan::default()
    };
    match &profile.listing.source {
        ListSource::Html(h) => html_scan(profile, h, page, &mut scan),
        ListSource::Json(j) => json_scan(profile, j, page, vars, &mut scan),
    }
    scan
}

/// Step 2: the chain's memory decides what is new and where to go next.
fn apply(
    profile: &Profile,
    scan: &ListScan,
    request: &PageRequest,
    state: &mut ListState,
) -> ListOutcome {
    let mut out = ListOutcome {
        total: scan.total,
        signals: scan.signals.clone(),
        national: scan.national.clone(),
        could_not_assess: scan.could_not_assess,
        notes: scan.notes.clone(),
        links_dropped: scan.links_dropped,
        ..ListOutcome::default()
    };
    for item in &scan.items {
        new_detail(state, item, &mut out);
    }
    let new_links = out.details.len();
    if scan.paginate {
        out.next = match &scan.cursor {
            Some(c) => cursor_next(profile, c, request, state, new_links, &mut out),
            None => next_request(profile, scan, request, state, new_links, &mut out),
        };
    }
    // A page that announces a total (even 0), shows the list container or whose JSON has the
    // items array was understood.
    let matched = !scan.items.is_empty() || out.total.is_some() || scan.list_marker;
    if !matched && out.could_not_assess.is_none() {
        not_a_list_page(profile, state.pages, &mut out);
    }
    out
}

/// A page the profile recognises nothing on. The first page: the profile matched nothing.
/// A later page was reached because the page before promised more (a next link, `more`, a
/// cursor, new services): a page that is not a list (a maintenance, login or error page
/// answered 200) is no end of the listing, which could not be read past it. Only a profile
/// that names no list container cannot tell such a page from an empty last page: the end is
/// then recorded as unconfirmed.
fn not_a_list_page(profile: &Profile, page: u32, out: &mut ListOutcome) {
    if page <= 1 {
        out.could_not_assess = Some(AssessReason::NoData);
        out.notes
            .push("the profile's listing matched nothing on the first page".into());
        return;
    }
    let missing = match &profile.listing.source {
        ListSource::Html(h) => h.container.as_ref().map(|c| {
            format!(
                "no service link, no total and no list container `{}`",
                c.text
            )
        }),
        ListSource::Json(j) => Some(format!("no items array at `{}`", j.items)),
    };
    match missing {
        Some(missing) => {
            out.could_not_assess = Some(AssessReason::NoData);
            out.next = None;
            out.notes.push(format!(
                "page {page} of the listing is no list page ({missing}; a maintenance, login or error page?): the listing was not read past it"
            ));
        }
        None if out.next.is_none() => {
            out.end_unconfirmed = true;
            out.notes.push(format!(
                "page {page} of the listing has no service link, and the profile names no list `container` to tell an empty last page from a page that is no list: the end of the listing is not confirmed"
            ));
        }
        None => {}
    }
}

fn new_detail(state: &mut ListState, item: &ListItem, out: &mut ListOutcome) {
    // A POST detail API has one URL for every service: its body tells them apart.
    let key = match &item.body {
        Some(b) => format!("{} {b}", item.url),
        None => item.url.clone(),
    };
    if state.seen.len() >= MAX_SEEN_PER_CHAIN || state.seen.contains(&key) {
        return;
    }
    state.seen.insert(key);
    out.details.push(PageRequest {
        method: item.method,
        url: item.url.clone(),
        body: item.body.clone(),
        kind: PageKind::Detail,
        list: None,
        hint: item.hint.clone(),
    });
}

/// Resolve a link against the page; only http(s) links, fragment dropped.
fn resolve(page: &Page, href: &str) -> Option<String> {
    let base = url::Url::parse(page.base_url()).ok()?;
    let mut u = base.join(href.trim()).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    u.set_fragment(None);
    Some(u.to_string())
}

fn html_scan(profile: &Profile, h: &HtmlListing, page: &Page, scan: &mut ListScan) {
    if let Err(message) = super::html::check_shape(&page.body) {
        scan.could_not_assess = Some(AssessReason::TooLarge);
        scan.notes.push(message);
        scan.paginate = false;
        return;
    }
    let doc = Html::parse_document(&page.body);
    let take = |el: scraper::ElementRef<'_>, hint: ServiceHint, scan: &mut ListScan| {
        if let Some(url) = el
            .value()
            .attr(&h.attr)
            .and_then(|href| resolve(page, href))
        {
            scan.items.push(ListItem {
                url,
                method: Method::Get,
                body: None,
                hint,
            });
        }
    };
    let found = match &h.item {
        Some(item) => doc.select(&item.selector).count(),
        None => doc.select(&h.link.selector).count(),
    };
    scan.links_dropped = found.saturating_sub(MAX_LINKS_PER_PAGE);
    match &h.item {
        Some(item) => {
            for (n, it) in doc
                .select(&item.selector)
                .take(MAX_LINKS_PER_PAGE)
                .enumerate()
            {
                let Some(link) = it.select(&h.link.selector).next() else {
                    continue;
                };
                let text_of = |c: &Option<crate::profile::Css>| {
                    c.as_ref()
                        .and_then(|c| it.select(&c.selector).next())
                        .map(|e| element_text(e, MAX_NAME_CHARS))
                };
                let hint = ServiceHint {
                    code: text_of(&h.code).unwrap_or_default(),
                    name: text_of(&h.name).unwrap_or_else(|| element_text(link, MAX_NAME_CHARS)),
                    item: h.item_facts.as_ref().map(|fields| {
                        Box::new(super::item::read_html_item(
                            profile,
                            fields,
                            item,
                            n,
                            it,
                            page.base_url(),
                        ))
                    }),
                    page_url: String::new(),
                };
                take(link, hint, scan);
            }
        }
        None => {
            for link in doc.select(&h.link.selector).take(MAX_LINKS_PER_PAGE) {
                let hint = ServiceHint {
                    code: String::new(),
                    name: element_text(link, MAX_NAME_CHARS),
                    item: None,
                    page_url: String::new(),
                };
                take(link, hint, scan);
            }
        }
    }
    scan.total = h
        .total
        .as_ref()
        .and_then(|t| doc.select(&t.selector).next())
        .and_then(|e| parse_count(&element_text(e, 100)));
    scan.list_marker = h
        .container
        .as_ref()
        .is_some_and(|c| doc.select(&c.selector).next().is_some());
    scan.signals = detect_html(profile, &doc, &page.body, page.base_url(), &[]);
    scan.national = super::detail::national_links(profile, &doc)
        .into_iter()
        .map(|e| Evidence {
            url: page.base_url().to_string(),
            ..e
        })
        .collect();
    if scan.items.is_empty()
        && let Some(marker) = &profile.shell
        && doc.select(&marker.selector).next().is_some()
    {
        if profile.has_api() {
            scan.notes.push(format!(
                "single-page-app shell (`{}`); this profile reads the API instead",
                marker.text
            ));
        } else {
            scan.could_not_assess = Some(AssessReason::SpaWithoutApi);
            scan.notes.push(format!(
                "single-page-app shell (`{}`) and no API in the profile",
                marker.text
            ));
        }
        scan.paginate = false;
        return;
    }
    scan.next_link = match &profile.listing.pagination {
        Pagination::NextLink { selector, attr } => doc
            .select(&selector.selector)
            .next()
            .and_then(|e| e.value().attr(attr))
            .and_then(|href| resolve(page, href)),
        _ => None,
    };
    scan.more = more_present(profile, |loc| match loc {
        Locator::Css(c) => doc.select(&c.selector).next().is_some(),
        Locator::Pointer(_) => false,
    });
}

/// Counter pagination's `more` locator, evaluated on the page (`true` when there is none).
fn more_present(profile: &Profile, matches: impl Fn(&Locator) -> bool) -> bool {
    match &profile.listing.pagination {
        Pagination::Counter(c) => c.more.as_ref().is_none_or(matches),
        _ => true,
    }
}

fn json_scan(
    profile: &Profile,
    j: &JsonListing,
    page: &Page,
    vars: &AgencyVars,
    scan: &mut ListScan,
) {
    let json: Value = match serde_json::from_str(&page.body) {
        Ok(v) => v,
        Err(e) => {
            scan.could_not_assess = Some(AssessReason::Decode);
            scan.notes
                .push(format!("the list response is not JSON: {e}"));
            scan.paginate = false;
            return;
        }
    };
    // Item templates see the agency's variables, never pagination values.
    let pv = PaginationVars::default();
    let array = json.pointer(&j.items).and_then(Value::as_array);
    let items: &[Value] = array.map_or(&[], Vec::as_slice);
    scan.links_dropped = items.len().saturating_sub(MAX_LINKS_PER_PAGE);
    let only = j.detail_url.is_none();
    for (n, item) in items.iter().take(MAX_LINKS_PER_PAGE).enumerate() {
        let Some(url_t) = j.detail_url.as_ref().or(j.item_url.as_ref()) else {
            break;
        };
        let url = match render_item(url_t, vars, &pv, Some(item), Escape::Url) {
            Ok(u) => u,
            Err(e) => {
                if scan.notes.len() < 10 {
                    scan.notes.push(format!("item skipped: {e}"));
                }
                continue;
            }
        };
        let Some(url) = resolve(page, &url) else {
            continue;
        };
        let text = |p: &Option<String>| {
            p.as_ref()
                .and_then(|p| item.pointer(p))
                .and_then(scalar_text)
                .map(|s| crate::profile::text::clean(&s))
                .unwrap_or_default()
        };
        let item_facts = (only || j.item_facts.is_some()).then(|| {
            Box::new(super::item::read_json_item(
                profile,
                j.item_facts.as_ref(),
                only,
                item,
                &format!("{}/{n}", j.items),
                page.base_url(),
            ))
        });
        let hint = ServiceHint {
            code: text(&j.code),
            name: text(&j.name),
            item: item_facts,
            page_url: if only {
                String::new()
            } else {
                j.item_url
                    .as_ref()
                    .and_then(|t| render_item(t, vars, &pv, Some(item), Escape::Url).ok())
                    .and_then(|u| resolve(page, &u))
                    .unwrap_or_default()
            },
        };
        let body = if only {
            None
        } else {
            j.detail_body
                .as_ref()
                .and_then(|t| render_item(t, vars, &pv, Some(item), Escape::Json).ok())
        };
        scan.items.push(ListItem {
            url,
            method: j.detail_method,
            body,
            hint,
        });
    }
    scan.total = j
        .total
        .as_ref()
        .and_then(|p| json.pointer(p))
        .and_then(Value::as_i64);
    scan.list_marker = array.is_some();
    if array.is_some() && scan.items.is_empty() && scan.total.is_none() {
        // An empty list is an answer, not a profile that matched nothing.
        scan.total = Some(0);
    }
    scan.signals = detect_json(profile, &json, &page.body, page.base_url(), &[]);
    scan.more = more_present(profile, |loc| match loc {
        Locator::Pointer(p) => json.pointer(p).is_some_and(is_truthy),
        Locator::Css(_) => false,
    });
    // Cursor pagination reads its cursor from the JSON.
    if let Pagination::Cursor { cursor, last, .. } = &profile.listing.pagination {
        scan.cursor = Some(CursorScan {
            last: last
                .as_ref()
                .and_then(|p| json.pointer(p))
                .is_some_and(is_truthy),
            cursor: json.pointer(cursor).and_then(scalar_text),
        });
    }
}

/// The next request of a cursor chain.
fn cursor_next(
    profile: &Profile,
    c: &CursorScan,
    request: &PageRequest,
    state: &mut ListState,
    new_links: usize,
    out: &mut ListOutcome,
) -> Option<PageRequest> {
    match &c.cursor {
        _ if c.last => {
            out.notes.push("last page (the response says so)".into());
            None
        }
        None => {
            out.notes.push("no cursor in the response".into());
            None
        }
        Some(c) if c.is_empty() || !state.cursors.insert(c.clone()) => {
            out.notes.push("cursor empty or seen before".into());
            None
        }
        Some(c) => cursor_request(profile, request, state, c.clone(), new_links, out),
    }
}

fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn position(request: &PageRequest) -> ListPosition {
    request.list.clone().unwrap_or(ListPosition {
        chain: 0,
        page: 1,
        counter: 0,
        cursor: None,
    })
}

fn under_max(profile: &Profile, state: &ListState, out: &mut ListOutcome) -> bool {
    if state.pages >= profile.listing.max_pages {
        out.notes.push(format!(
            "stopped at max_pages = {}",
            profile.listing.max_pages
        ));
        out.stopped_at_max_pages = true;
        return false;
    }
    true
}

fn cursor_request(
    profile: &Profile,
    request: &PageRequest,
    state: &ListState,
    cursor: String,
    new_links: usize,
    out: &mut ListOutcome,
) -> Option<PageRequest> {
    if new_links == 0 {
        out.notes.push("no new services on this page".into());
        return None;
    }
    if !under_max(profile, state, out) {
        return None;
    }
    let pos = position(request);
    let base = absolute(&request.url).ok()?;
    let next = ListPosition {
        page: pos.page.saturating_add(1),
        cursor: Some(cursor),
        ..pos
    };
    list_request(profile, &state.vars, &base, next).ok()
}

/// Next request for `next_link` and counter pagination.
fn next_request(
    profile: &Profile,
    scan: &ListScan,
    request: &PageRequest,
    state: &ListState,
    new_links: usize,
    out: &mut ListOutcome,
) -> Option<PageRequest> {
    let pos = position(request);
    match &profile.listing.pagination {
        Pagination::None | Pagination::Cursor { .. } => None,
        Pagination::NextLink { .. } => {
            let url = scan.next_link.clone()?;
            if state.visited.contains(&url) {
                out.notes
                    .push("next link points to a page already read".into());
                return None;
            }
            if !under_max(profile, state, out) {
                return None;
            }
            Some(PageRequest {
                method: Method::Get,
                url,
                body: None,
                kind: PageKind::List,
                list: Some(ListPosition {
                    page: pos.page.saturating_add(1),
                    ..pos
                }),
                hint: ServiceHint::default(),
            })
        }
        Pagination::Counter(c) => {
            if new_links == 0 {
                out.notes.push("no new services on this page".into());
                return None;
            }
            if let Some(total) = out.total
                && i64::try_from(state.seen.len()).unwrap_or(i64::MAX) >= total
            {
                out.notes.push(format!("all {total} services listed"));
                return None;
            }
            if let Some(m) = &c.more
                && !scan.more
            {
                out.notes
                    .push(format!("no more pages (`{}` absent)", m.text()));
                return None;
            }
            if !under_max(profile, state, out) {
                return None;
            }
            let base = absolute(&request.url).ok()?;
            let next = ListPosition {
                page: pos.page.saturating_add(1),
                counter: pos.counter.saturating_add(c.step),
                ..pos
            };
            list_request(profile, &state.vars, &base, next).ok()
        }
    }
}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
