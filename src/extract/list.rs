//! List pages: service links (HTML) or items (JSON), the total, and the next page.

use std::collections::HashSet;

use scraper::Html;
use serde::Serialize;
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
    pub could_not_assess: Option<AssessReason>,
    /// Why the chain stopped or what was odd, for people (e.g. `dvc-audit profile test`).
    pub notes: Vec<String>,
}

/// Read one list page. `request` is the request the page answers (its position drives the
/// next request); `state` is the chain's memory.
pub fn list_page(
    profile: &Profile,
    page: &Page,
    request: &PageRequest,
    state: &mut ListState,
) -> ListOutcome {
    state.pages = state.pages.saturating_add(1);
    state.visited.insert(page.url.clone());
    state.visited.insert(page.base_url().to_string());
    let mut out = ListOutcome::default();
    if !super::status_ok(page.status) {
        out.could_not_assess = Some(AssessReason::HttpStatus);
        out.notes.push(format!("HTTP status {}", page.status));
        return out;
    }
    let found = match &profile.listing.source {
        ListSource::Html(h) => html_list(profile, h, page, request, state, &mut out),
        ListSource::Json(j) => json_list(profile, j, page, request, state, &mut out),
    };
    // A page that announces a total (even 0) or whose JSON has the items array was understood.
    let matched = found > 0 || out.total.is_some();
    if !matched && state.pages == 1 && out.could_not_assess.is_none() {
        out.could_not_assess = Some(AssessReason::NoData);
        out.notes
            .push("the profile's listing matched nothing on the first page".into());
    }
    out
}

fn new_detail(state: &mut ListState, url: String, hint: ServiceHint, out: &mut ListOutcome) {
    if state.seen.len() >= MAX_SEEN_PER_CHAIN || state.seen.contains(&url) {
        return;
    }
    state.seen.insert(url.clone());
    out.details.push(PageRequest {
        method: Method::Get,
        url,
        body: None,
        kind: PageKind::Detail,
        list: None,
        hint,
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

fn html_list(
    profile: &Profile,
    h: &HtmlListing,
    page: &Page,
    request: &PageRequest,
    state: &mut ListState,
    out: &mut ListOutcome,
) -> usize {
    let doc = Html::parse_document(&page.body);
    let before = out.details.len();
    let mut found = 0usize;
    let mut take = |el: scraper::ElementRef<'_>, hint: ServiceHint, out: &mut ListOutcome| {
        if let Some(url) = el
            .value()
            .attr(&h.attr)
            .and_then(|href| resolve(page, href))
        {
            found += 1;
            new_detail(state, url, hint, out);
        }
    };
    match &h.item {
        Some(item) => {
            for it in doc.select(&item.selector).take(MAX_LINKS_PER_PAGE) {
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
                };
                take(link, hint, out);
            }
        }
        None => {
            for link in doc.select(&h.link.selector).take(MAX_LINKS_PER_PAGE) {
                let hint = ServiceHint {
                    code: String::new(),
                    name: element_text(link, MAX_NAME_CHARS),
                };
                take(link, hint, out);
            }
        }
    }
    let new_links = out.details.len() - before;
    out.total = h
        .total
        .as_ref()
        .and_then(|t| doc.select(&t.selector).next())
        .and_then(|e| parse_count(&element_text(e, 100)));
    out.signals = detect_html(profile, &doc, &page.body, page.base_url(), &[]);
    if found == 0
        && let Some(marker) = &profile.shell
        && doc.select(&marker.selector).next().is_some()
    {
        if profile.has_api() {
            out.notes.push(format!(
                "single-page-app shell (`{}`); this profile reads the API instead",
                marker.text
            ));
        } else {
            out.could_not_assess = Some(AssessReason::SpaWithoutApi);
            out.notes.push(format!(
                "single-page-app shell (`{}`) and no API in the profile",
                marker.text
            ));
        }
        return found;
    }
    let more = |loc: &Locator| match loc {
        Locator::Css(c) => doc.select(&c.selector).next().is_some(),
        Locator::Pointer(_) => false,
    };
    out.next = next_request(
        profile,
        &doc_next_link(profile, &doc, page),
        more,
        request,
        state,
        new_links,
        out,
    );
    found
}

/// The `next_link` target on an HTML page, resolved.
fn doc_next_link(profile: &Profile, doc: &Html, page: &Page) -> Option<String> {
    match &profile.listing.pagination {
        Pagination::NextLink { selector, attr } => doc
            .select(&selector.selector)
            .next()
            .and_then(|e| e.value().attr(attr))
            .and_then(|href| resolve(page, href)),
        _ => None,
    }
}

fn json_list(
    profile: &Profile,
    j: &JsonListing,
    page: &Page,
    request: &PageRequest,
    state: &mut ListState,
    out: &mut ListOutcome,
) -> usize {
    let json: Value = match serde_json::from_str(&page.body) {
        Ok(v) => v,
        Err(e) => {
            out.could_not_assess = Some(AssessReason::Decode);
            out.notes
                .push(format!("the list response is not JSON: {e}"));
            return 0;
        }
    };
    let before = out.details.len();
    let array = json.pointer(&j.items).and_then(Value::as_array);
    let items: &[Value] = array.map_or(&[], Vec::as_slice);
    let vars = state.vars.clone();
    let mut found = 0usize;
    for item in items.iter().take(MAX_LINKS_PER_PAGE) {
        let pv = PaginationVars::default();
        let url = match render_item(&j.detail_url, &vars, &pv, Some(item), Escape::Url) {
            Ok(u) => u,
            Err(e) => {
                if out.notes.len() < 10 {
                    out.notes.push(format!("item skipped: {e}"));
                }
                continue;
            }
        };
        let Some(url) = resolve(page, &url) else {
            continue;
        };
        found += 1;
        let text = |p: &Option<String>| {
            p.as_ref()
                .and_then(|p| item.pointer(p))
                .and_then(scalar_text)
                .map(|s| crate::profile::text::clean(&s))
                .unwrap_or_default()
        };
        let hint = ServiceHint {
            code: text(&j.code),
            name: text(&j.name),
        };
        let body = j
            .detail_body
            .as_ref()
            .and_then(|t| render_item(t, &vars, &pv, Some(item), Escape::Json).ok());
        let count = out.details.len();
        new_detail(state, url, hint, out);
        if out.details.len() > count
            && let Some(last) = out.details.last_mut()
        {
            last.method = j.detail_method;
            last.body = body;
        }
    }
    let new_links = out.details.len() - before;
    out.total = j
        .total
        .as_ref()
        .and_then(|p| json.pointer(p))
        .and_then(Value::as_i64);
    if array.is_some() && found == 0 && out.total.is_none() {
        // An empty list is an answer, not a profile that matched nothing.
        out.total = Some(0);
    }
    out.signals = detect_json(profile, &json, &page.body, page.base_url(), &[]);
    let truthy = |loc: &Locator| match loc {
        Locator::Pointer(p) => json.pointer(p).is_some_and(is_truthy),
        Locator::Css(_) => false,
    };
    // Cursor pagination reads its cursor from the JSON.
    if let Pagination::Cursor { cursor, last, .. } = &profile.listing.pagination {
        let finished = last
            .as_ref()
            .and_then(|p| json.pointer(p))
            .is_some_and(is_truthy);
        let next_cursor = json.pointer(cursor).and_then(scalar_text);
        out.next = match next_cursor {
            _ if finished => {
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
            Some(c) => cursor_request(profile, request, state, c, new_links, out),
        };
        return found;
    }
    out.next = next_request(profile, &None, truthy, request, state, new_links, out);
    found
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
    next_link: &Option<String>,
    more: impl Fn(&Locator) -> bool,
    request: &PageRequest,
    state: &ListState,
    new_links: usize,
    out: &mut ListOutcome,
) -> Option<PageRequest> {
    let pos = position(request);
    match &profile.listing.pagination {
        Pagination::None | Pagination::Cursor { .. } => None,
        Pagination::NextLink { .. } => {
            let url = next_link.clone()?;
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
                && !more(m)
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
