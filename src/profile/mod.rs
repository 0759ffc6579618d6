//! Portal platform profiles: how to read one platform's pages, as data.
//!
//! A profile (`rules/portals/<id>.toml`) says where the service list starts and how it pages,
//! how to read a service's detail (label/value pairs, direct selectors or JSON pointers), how
//! level labels map to `full`/`partial`/`info`, which digital-signature signals to look for and
//! which provider each implies, how to spot a national-portal link, which volatile parts of a
//! page to strip before hashing, and how to recognise a single-page-app shell. The knowledge of
//! platforms lives in those files; this module only loads them.
//!
//! Loading is two-phase (as for the config): a strict `toml` parse into the `model` structs
//! (unknown keys are errors), then `validate` compiles every selector, regex, JSON pointer and
//! template, collecting **every** problem with its `file:line:col` before failing once. The
//! result, [`Profile`], holds only compiled, checked values, so extraction never re-parses a
//! selector and never meets an invalid one.
//!
//! Bundled profiles are compiled into the binary ([`ProfileSet::bundled`]) so `dvc-audit` works
//! from any directory; a directory of profiles ([`ProfileSet::load_dir`]) overrides them by id.
//!
//! See `docs/writing-a-profile.md` for the file format with a worked example.

pub mod level;
pub mod model;
pub mod template;
pub mod text;
pub mod validate;

pub mod cmd;
mod set;

use regex::Regex;
use scraper::Selector;

pub use level::LevelMap;
pub use model::{Effect, Method, PairsMode, SignalKind};
pub use set::{BUNDLED, ProfileSet};
pub use template::Template;

/// Bounds that apply to every profile.
pub mod limits {
    /// Default and maximum number of list pages followed per start URL.
    pub const DEFAULT_MAX_PAGES: u32 = 1_000;
    pub const MAX_PAGES: u32 = 100_000;
    /// Compiled size limit of one profile regex.
    pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
    /// Largest profile file read.
    pub const MAX_PROFILE_BYTES: u64 = 1 << 20;
}

/// A compiled CSS selector with the text it came from (for evidence and messages).
#[derive(Debug, Clone)]
pub struct Css {
    pub text: String,
    pub selector: Selector,
}

/// A CSS selector for HTML pages or a JSON pointer for JSON pages.
#[derive(Debug, Clone)]
pub enum Locator {
    Css(Css),
    Pointer(String),
}

impl Locator {
    pub fn text(&self) -> &str {
        match self {
            Locator::Css(c) => &c.text,
            Locator::Pointer(p) => p,
        }
    }
}

/// A checked, compiled profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Where it was loaded from (file path or `bundled:<id>.toml`).
    pub origin: String,
    pub listing: Listing,
    pub detail: Detail,
    pub levels: LevelMap,
    pub signals: Vec<Signal>,
    pub national_link: Option<Locator>,
    /// Removed from a body before hashing.
    pub volatile: Vec<Regex>,
    /// Marker of a single-page-app shell.
    pub shell: Option<Css>,
}

impl Profile {
    /// The profile reads data from a JSON API (list or detail).
    pub fn has_api(&self) -> bool {
        matches!(self.listing.source, ListSource::Json(_)) || self.detail.json.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Listing {
    pub start: Vec<Template>,
    pub max_pages: u32,
    pub source: ListSource,
    pub pagination: Pagination,
}

#[derive(Debug, Clone)]
pub enum ListSource {
    Html(HtmlListing),
    Json(JsonListing),
}

#[derive(Debug, Clone)]
pub struct HtmlListing {
    pub link: Css,
    pub attr: String,
    pub item: Option<Css>,
    pub code: Option<Css>,
    pub name: Option<Css>,
    pub total: Option<Css>,
    /// The list's own element (`[listing.html] container`), present on a list page with no
    /// row: a later page without it (and without a link or a total) is no list page.
    pub container: Option<Css>,
    /// Facts read inside each `item` (`[listing.html] item_facts`).
    pub item_facts: Option<FieldMap<Css>>,
}

#[derive(Debug, Clone)]
pub struct JsonListing {
    pub method: Method,
    pub body: Option<Template>,
    pub items: String,
    /// `None`: the item is the service, read by `item_facts` alone (no detail request).
    pub detail_url: Option<Template>,
    /// The service's address when there is no detail request.
    pub item_url: Option<Template>,
    /// Facts read from each item (pointers relative to the item).
    pub item_facts: Option<FieldMap<String>>,
    pub detail_method: Method,
    pub detail_body: Option<Template>,
    pub code: Option<String>,
    pub name: Option<String>,
    pub total: Option<String>,
}

/// How list pages follow each other.
#[derive(Debug, Clone)]
pub enum Pagination {
    /// One page per start URL.
    None,
    /// Follow a link.
    NextLink { selector: Css, attr: String },
    /// A counter in a query parameter (or the body): page index (`step` 1) or offset.
    Counter(Counter),
    /// A cursor read from the response and sent back.
    Cursor {
        cursor: String,
        param: Option<String>,
        last: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterKind {
    PageIndex,
    Offset,
}

#[derive(Debug, Clone)]
pub struct Counter {
    pub kind: CounterKind,
    /// Query parameter; `None` when only the body template carries `{page}`/`{offset}`.
    pub param: Option<String>,
    pub start: i64,
    pub step: i64,
    pub size_param: Option<String>,
    pub size: Option<i64>,
    /// Continue only while this matches (selector) or is true (pointer).
    pub more: Option<Locator>,
}

/// The fields a detail page is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Code,
    Name,
    Level,
    /// Dossier components ("Thành phần hồ sơ"), read for requirement text.
    Dossier,
    /// Requirements and conditions ("Yêu cầu, điều kiện"), read for requirement text.
    Requirements,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Code,
        Field::Name,
        Field::Level,
        Field::Dossier,
        Field::Requirements,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Code => "code",
            Field::Name => "name",
            Field::Level => "level",
            Field::Dossier => "dossier",
            Field::Requirements => "requirements",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One value per [`Field`].
#[derive(Debug, Clone)]
pub struct FieldMap<T>(pub [Option<T>; 5]);

impl<T> Default for FieldMap<T> {
    fn default() -> Self {
        FieldMap([None, None, None, None, None])
    }
}

impl<T> FieldMap<T> {
    pub fn get(&self, f: Field) -> Option<&T> {
        self.0.get(f.index()).and_then(Option::as_ref)
    }

    pub fn set(&mut self, f: Field, v: T) {
        if let Some(slot) = self.0.get_mut(f.index()) {
            *slot = Some(v);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

#[derive(Debug, Clone)]
pub struct LabelValue {
    pub container: Css,
    pub label: Css,
    /// `None` only in [`PairsMode::Inline`].
    pub value: Option<Css>,
    pub pairs: PairsMode,
    /// Folded synonyms per field.
    pub labels: FieldMap<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Detail {
    pub label_value: Option<LabelValue>,
    pub direct: FieldMap<Css>,
    /// JSON pointers; `Some` means detail pages are JSON.
    pub json: Option<FieldMap<String>>,
    pub code_pattern: Option<Regex>,
}

/// A digital-signature signal.
#[derive(Debug, Clone)]
pub struct Signal {
    pub kind: SignalKind,
    pub selector: Option<Css>,
    pub regex: Option<Regex>,
    pub pointer: Option<String>,
    /// Provider slug (`vgca`, `vnpt-ca`, ...); empty for a provider-neutral signal.
    pub provider: String,
    /// `requirement_text` only: a clause matching this is not a signal (see `RawSignal`).
    pub unless: Option<Regex>,
    pub effect: Effect,
    /// What evidence shows as the locator: selector, pattern or pointer.
    pub locator: String,
}

/// Provider slugs documented in `docs/writing-a-profile.md`; another slug is a lint warning
/// (probably a typo), not an error, so new providers need no code change.
pub const KNOWN_PROVIDERS: [&str; 7] = [
    "vgca",
    "vnpt-ca",
    "viettel-ca",
    "fpt-ca",
    "bkav-ca",
    "smartca",
    "mysign",
];

#[cfg(test)]
mod tests {
    /// The crawler shares one loaded profile between worker tasks.
    #[test]
    fn profiles_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Profile>();
        assert_send_sync::<super::ProfileSet>();
    }
}
