//! Extraction: a fetched page + a [`Profile`](crate::profile::Profile) → requests to make next
//! and [`ServiceFacts`](crate::facts::ServiceFacts).
//!
//! No I/O happens here. The crawler owns HTTP; it asks the profile where to start
//! ([`Profile::start_requests`](crate::profile::Profile::start_requests)), fetches each [`PageRequest`], decodes the body, and hands the
//! [`Page`] back:
//!
//! ```text
//! for start in profile.start_requests(&vars)? {              // one chain per start URL
//!     let mut state = ListState::new(&vars);
//!     let mut req = Some(start);
//!     while let Some(r) = req {
//!         let page = fetch(&r);                                // crawler
//!         let out = extract::list_page(&profile, &page, &r, &mut state);
//!         list_signals.push(out.signals);                      // for site-wide marking
//!         details.extend(out.details);                         // PageRequest { kind: Detail, .. }
//!         req = out.next;                                      // None: chain finished
//!     }
//! }
//! for d in details { services.push(extract::detail_page(&profile, &fetch(&d), agency_id)); }
//! extract::mark_site_wide(&mut services, &list_signals);
//! ```
//!
//! Design points:
//! - each HTML page is parsed once (`scraper::Html`); selectors were compiled when the profile
//!   loaded; JSON pages are parsed once with `serde_json`;
//! - every value carries [`Evidence`](crate::facts::Evidence) (URL, selector/pointer, bounded
//!   excerpt); texts are NFC and whitespace-collapsed ([`crate::profile::text::clean`]); markup
//!   inside a text stays text;
//! - pagination decisions (no new links, total reached, `more` absent, `max_pages`, a cursor or
//!   next link seen before) are made here, from [`ListState`], so every crawler stops the same way;
//! - a list page is read in two steps: [`scan_list`] (what the body says, a serialisable
//!   [`ListScan`]) and its application to the chain's [`ListState`]; the crawler stores the scan
//!   and, when the page answers `304` on a later run, [`replay_list_page`] applies it again, so a
//!   replayed page gives what a fresh read would in the same chain;
//! - "could not assess" is an outcome, not an error: an SPA shell with no API in the profile
//!   gives `spa_without_api`, a first list page where the profile matches nothing gives
//!   `no_data` ([`AssessReason`](crate::facts::AssessReason)). For detail pages the reason is
//!   recorded in `ServiceFacts.fetch.error` (the one place rules and reports already read);
//! - the service `url` is the detail request's URL (for JSON profiles, the API URL), and
//!   `fetch.sha256` is [`normalised_hash`] when the crawler left it empty;
//! - signature signals are recorded per page; [`mark_site_wide`] then flags those present on
//!   every page of a portal (theme-level plugins) so they count as `site_wide`, not `supported`;
//! - a field the profile has no source for at all (no level locator, no signature signal, no
//!   national-link locator) is recorded in `ServiceFacts.unknown` with reason `unobservable`
//!   ([`mark_unobservable`]), never left as an empty value that reads as "not published";
//! - everything is bounded: links per page, containers read, evidence items, text lengths
//!   ([`limits`]).

mod detail;
mod hash;
mod html;
pub mod inspect;
mod item;
mod list;
mod request;
mod signals;
mod unknown;

pub use detail::{ServiceHint, detail_page};
pub use hash::normalised_hash;
pub use item::{ItemFacts, LIST_KIND_PREFIX, list_only_service};
pub use list::{
    CursorScan, ListItem, ListOutcome, ListScan, ListState, list_page, list_page_scanned,
    replay_list_page, scan_list,
};
pub use request::{AgencyVars, ListPosition, PageKind, PageRequest, RequestError};
pub use signals::{
    has_national_site_wide, has_site_wide, mark_national_site_wide, mark_site_wide,
    summarise_signature,
};
pub use unknown::{
    LEVEL_FACTS, NATIONAL_LINK_FACTS, SIGNATURE_FACTS, mark_all_unobservable, mark_unobservable,
    unobservable, unobservable_groups,
};

use crate::facts::FetchFacts;

/// Bounds of extraction.
pub mod limits {
    /// Service links read from one list page.
    pub const MAX_LINKS_PER_PAGE: usize = 2_000;
    /// Distinct service URLs remembered per list chain.
    pub const MAX_SEEN_PER_CHAIN: usize = 500_000;
    /// Label/value containers read from one detail page.
    pub const MAX_CONTAINERS: usize = 1_000;
    /// Evidence items recorded per page.
    pub const MAX_EVIDENCE_PER_PAGE: usize = 64;
    /// Characters kept of a section text (dossier, requirements) for signal matching.
    pub const MAX_SECTION_CHARS: usize = 50_000;
    /// Characters kept of a name.
    pub const MAX_NAME_CHARS: usize = 1_000;
    /// Characters kept of a code.
    pub const MAX_CODE_CHARS: usize = 64;
    /// Element nesting followed when collecting text; deeper content is ignored.
    pub const MAX_TEXT_DEPTH: usize = 256;
    /// Element nesting a page may have to be parsed at all (browsers stop nesting at 512
    /// too): the HTML parser's cost grows with depth × elements, so a hostile page of 200,000
    /// nested `<div>`s would take minutes. Deeper is could-not-assess `too_large`.
    pub const MAX_HTML_DEPTH: usize = 512;
    /// Elements a page may have to be parsed at all; more is could-not-assess `too_large`.
    pub const MAX_HTML_ELEMENTS: usize = 250_000;
    /// Characters of context either side of a regex match in an excerpt.
    pub const CONTEXT_CHARS: usize = 60;
}

/// A fetched, decoded page, as the crawler hands it over.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The URL requested.
    pub url: String,
    /// The URL after redirects (empty: same as `url`).
    pub final_url: String,
    pub status: i64,
    pub content_type: String,
    /// The body, already decoded to UTF-8 by the crawler.
    pub body: String,
    pub fetch: FetchFacts,
}

impl Page {
    /// A page read from memory or a file (status 200), for tests and `profile test`.
    pub fn from_body(url: &str, body: impl Into<String>) -> Page {
        let body = body.into();
        let content_type = if looks_like_json(&body) {
            "application/json"
        } else {
            "text/html"
        };
        Page {
            url: url.to_string(),
            final_url: url.to_string(),
            status: 200,
            content_type: content_type.to_string(),
            fetch: FetchFacts {
                url: url.to_string(),
                final_url: url.to_string(),
                status: 200,
                bytes: i64::try_from(body.len()).unwrap_or(i64::MAX),
                ..FetchFacts::default()
            },
            body,
        }
    }

    /// The URL relative links resolve against.
    pub fn base_url(&self) -> &str {
        if self.final_url.is_empty() {
            &self.url
        } else {
            &self.final_url
        }
    }

    /// JSON by content type, or by its first non-space character when the type says nothing.
    pub fn is_json(&self) -> bool {
        let ct = self.content_type.to_ascii_lowercase();
        if ct.contains("json") {
            return true;
        }
        if ct.contains("html") || ct.contains("xml") {
            return false;
        }
        looks_like_json(&self.body)
    }
}

/// A status extraction can read: 2xx, 304 (the crawler serves its cached body), or 0 (a page
/// that did not come from HTTP, e.g. a file).
pub(crate) fn status_ok(status: i64) -> bool {
    status == 0 || status == 304 || (200..300).contains(&status)
}

fn looks_like_json(body: &str) -> bool {
    matches!(body.trim_start().chars().next(), Some('{' | '['))
}
