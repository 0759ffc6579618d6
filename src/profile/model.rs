//! The profile file as written: strict serde structs (unknown keys are errors, with a span).
//!
//! Values that need checking beyond their type (selectors, regexes, JSON pointers, templates)
//! are kept [`Spanned`] so the validation pass in `validate.rs` can point at them.

use serde::Deserialize;
use toml::Spanned;

/// A whole profile file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub id: Spanned<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub listing: RawListing,
    /// Optional only when the listing has no detail request (list-only items).
    #[serde(default)]
    pub detail: RawDetail,
    /// `[[level]]`: ordered label patterns.
    #[serde(default, rename = "level")]
    pub levels: Vec<RawLevelRule>,
    /// `[[signal]]`: digital-signature signals.
    #[serde(default, rename = "signal")]
    pub signals: Vec<RawSignal>,
    pub national_link: Option<RawNationalLink>,
    pub hash: Option<RawHash>,
    pub shell: Option<RawShell>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListing {
    /// URL templates, one list chain each.
    pub start: Spanned<Vec<Spanned<String>>>,
    pub max_pages: Option<Spanned<i64>>,
    pub html: Option<RawHtmlListing>,
    pub json: Option<Spanned<RawJsonListing>>,
    pub pagination: Option<RawPagination>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHtmlListing {
    /// Selector of the service links (within `item` when given).
    pub link: Spanned<String>,
    pub attr: Option<Spanned<String>>,
    /// Optional item container: code/name hints are read inside it.
    pub item: Option<Spanned<String>>,
    pub code: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    /// Element whose text holds the total number of services.
    pub total: Option<Spanned<String>>,
    /// The list itself (e.g. its `table` or `ul`), present on a list page even when it has no
    /// row: tells a legitimately empty last page from a page that is no list page at all.
    pub container: Option<Spanned<String>>,
    /// Facts read from each `item` (selectors inside it), as on a detail page; the detail
    /// page wins field by field.
    pub item_facts: Option<Spanned<RawFields>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJsonListing {
    pub method: Option<Method>,
    pub body: Option<Spanned<String>>,
    pub items: Spanned<String>,
    /// The detail request of an item; without it the item itself is the service (its facts
    /// come from `item_facts`) and `item_url` names it.
    pub detail_url: Option<Spanned<String>>,
    /// The service's address when there is no `detail_url` (e.g. its page for citizens); not
    /// fetched, it identifies the service.
    pub item_url: Option<Spanned<String>>,
    /// Facts read from each item (pointers relative to the item), as on a detail page.
    pub item_facts: Option<Spanned<RawFields>>,
    pub detail_method: Option<Method>,
    pub detail_body: Option<Spanned<String>>,
    pub code: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub total: Option<Spanned<String>>,
}

/// HTTP method of a request the profile describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
pub enum Method {
    #[default]
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaginationKind {
    None,
    NextLink,
    PageIndex,
    Offset,
    Cursor,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagination {
    pub kind: Spanned<PaginationKind>,
    /// `next_link`: the link to the next page.
    pub selector: Option<Spanned<String>>,
    pub attr: Option<Spanned<String>>,
    /// Query parameter carrying the page index, offset or cursor.
    pub param: Option<Spanned<String>>,
    pub start: Option<i64>,
    pub size_param: Option<Spanned<String>>,
    pub size: Option<Spanned<i64>>,
    /// `offset`: how much the offset grows per page.
    pub step: Option<Spanned<i64>>,
    /// Continue only while this selector matches (HTML) or this pointer is true (JSON).
    pub more: Option<Spanned<String>>,
    /// `cursor`: pointer to the next cursor in the response.
    pub cursor: Option<Spanned<String>>,
    /// `cursor`: pointer to a boolean that is true on the last page.
    pub last: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDetail {
    pub label_value: Option<RawLabelValue>,
    #[serde(default)]
    pub labels: RawLabels,
    #[serde(default)]
    pub direct: RawFields,
    pub json: Option<Spanned<RawFields>>,
    /// Regex picking the procedure code out of the code text (first match, or group 1).
    pub code_pattern: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabelValue {
    pub container: Spanned<String>,
    pub label: Spanned<String>,
    /// The value element; optional only in `inline` mode (the text after the label).
    pub value: Option<Spanned<String>>,
    /// How labels and values pair up inside a container (default `nested`).
    pub pairs: Option<Spanned<PairsMode>>,
}

/// How `[detail.label_value]` pairs labels with values inside each container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairsMode {
    /// The first `label` and the first `value` inside each container (one pair per container).
    #[default]
    Nested,
    /// Every `label` in the container with the following sibling elements matching `value`,
    /// up to the next label (`<dl><dt>..</dt><dd>..</dd>..</dl>`).
    #[serde(alias = "dt")]
    Siblings,
    /// Every `label` with the one next sibling matching `value` (`<tr><th>..</th><td>..</td></tr>`).
    #[serde(alias = "th")]
    Row,
    /// Every `label` element with the text that follows it, up to the next label
    /// (`<p><strong>Mức độ:</strong> Toàn trình</p>`).
    Inline,
}

/// Label synonyms per field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabels {
    #[serde(default)]
    pub code: Vec<String>,
    #[serde(default)]
    pub name: Vec<String>,
    #[serde(default)]
    pub level: Vec<String>,
    #[serde(default)]
    pub dossier: Vec<String>,
    #[serde(default)]
    pub requirements: Vec<String>,
}

/// One locator (CSS selector or JSON pointer) per field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFields {
    pub code: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub level: Option<Spanned<String>>,
    pub dossier: Option<Spanned<String>>,
    pub requirements: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelTarget {
    Full,
    Partial,
    Info,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLevelRule {
    pub contains: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    pub level: Spanned<LevelTarget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    ScriptSrc,
    JsLiteral,
    Control,
    RequirementText,
    JsonField,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::ScriptSrc => "script_src",
            SignalKind::JsLiteral => "js_literal",
            SignalKind::Control => "control",
            SignalKind::RequirementText => "requirement_text",
            SignalKind::JsonField => "json_field",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Supports,
    Requires,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignal {
    pub kind: Spanned<SignalKind>,
    pub selector: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    pub pointer: Option<Spanned<String>>,
    pub provider: Option<Spanned<String>>,
    /// `requirement_text` only: a match whose clause (the text between `.`, `;`, `:`, `,`,
    /// brackets or line breaks around it) also matches this regex is not a signal (a negation:
    /// "không yêu cầu chữ ký số").
    pub unless: Option<Spanned<String>>,
    pub effect: Effect,
    /// A note for people reading the profile.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNationalLink {
    pub selector: Option<Spanned<String>>,
    pub pointer: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHash {
    /// Regexes whose matches are removed before hashing.
    #[serde(default)]
    pub strip: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShell {
    /// The shell marker, e.g. `div#app`. A page is a shell when the marker matches and the
    /// profile's listing links (list pages) or detail fields (detail pages) find nothing.
    pub marker: Spanned<String>,
}
