//! Detail pages: one service's code, name, level, national-portal link and signature signals.

use scraper::Html;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Page;
use super::html::element_text;
use super::limits::{MAX_CODE_CHARS, MAX_CONTAINERS, MAX_NAME_CHARS, MAX_SECTION_CHARS};
use super::signals::{detect_html, detect_json, summarise_signature};
use crate::facts::{AssessReason, ErrorFact, Evidence, Level, ServiceFacts, excerpt};
use crate::profile::template::scalar_text;
use crate::profile::text::{clean, fold};
use crate::profile::{Css, Field, FieldMap, LabelValue, Locator, PairsMode, Profile};

/// What a list said about a service, to fill in what its detail page lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceHint {
    pub code: String,
    pub name: String,
    /// What the list item itself said (`item_facts`), merged under the detail page's facts;
    /// with `only`, the item is the whole service and no detail page is fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Box<super::item::ItemFacts>>,
    /// The service's address for people (`item_url`) when it is not the detail request's
    /// (a POST detail API): becomes the service's `url`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub page_url: String,
}

impl ServiceHint {
    /// The list item is the whole service: nothing to fetch.
    pub fn is_list_only(&self) -> bool {
        self.item.as_ref().is_some_and(|i| i.only)
    }

    /// Fill what `facts` lacks from the list: the item's facts field by field (the detail
    /// page wins, see [`super::ItemFacts::fill`]), then an empty code or name from the hint.
    pub fn fill(&self, facts: &mut ServiceFacts) {
        if let Some(item) = &self.item {
            item.fill(facts);
        }
        if !self.page_url.is_empty() {
            facts.url = self.page_url.clone();
        }
        if facts.code.is_empty() && !self.code.is_empty() {
            facts.code = self.code.clone();
        }
        if facts.name.is_empty() && !self.name.is_empty() {
            facts.name = self.name.clone();
        }
    }
}

/// One field's value and where it came from.
struct Found {
    text: String,
    kind: &'static str,
    locator: String,
}

pub(super) fn max_chars(f: Field) -> usize {
    match f {
        Field::Code => MAX_CODE_CHARS * 4,
        Field::Name | Field::Level => MAX_NAME_CHARS,
        Field::Dossier | Field::Requirements => MAX_SECTION_CHARS,
    }
}

/// Read one detail page. The page's fetch facts are copied into the result, with the
/// normalised hash filled in when the crawler left it empty. A shell page of a profile without
/// an API, or a page where nothing was found, is recorded in `fetch.error`
/// (`spa_without_api` / `no_data`).
pub fn detail_page(profile: &Profile, page: &Page, agency_id: &str) -> ServiceFacts {
    let mut facts = ServiceFacts {
        agency_id: agency_id.to_string(),
        url: page.url.clone(),
        fetch: page.fetch.clone(),
        ..ServiceFacts::default()
    };
    if facts.fetch.sha256.is_empty() {
        facts.fetch.sha256 = super::normalised_hash(profile, &page.body);
    }
    super::mark_unobservable(profile, &mut facts);
    if !super::status_ok(page.status) {
        if facts.fetch.error.is_none() {
            facts.fetch.error = Some(ErrorFact {
                kind: AssessReason::HttpStatus,
                message: format!("HTTP status {}", page.status),
            });
        }
        return facts;
    }
    let url = page.base_url().to_string();
    let mut found: FieldMap<Found> = FieldMap::default();
    let json = profile.detail.json.is_some() && page.is_json();
    if !json && let Err(message) = super::html::check_shape(&page.body) {
        facts.fetch.error = Some(ErrorFact {
            kind: AssessReason::TooLarge,
            message,
        });
        return facts;
    }
    let (signals, national, shell, json_unknowns) = if json {
        read_json(profile, page, &mut found)
    } else {
        read_html(profile, page, &mut found)
    };
    let mut evidence = Vec::new();
    let mut push = |field: &str, f: &Found, text: &str| {
        evidence.push(Evidence {
            kind: f.kind.to_string(),
            field: field.to_string(),
            locator: f.locator.clone(),
            excerpt: excerpt(text),
            url: url.clone(),
            provider: String::new(),
            site_wide: false,
        });
    };
    if let Some(f) = found.get(Field::Code) {
        facts.code = pick_code(profile, &f.text);
        push("code", f, &f.text);
    }
    if let Some(f) = found.get(Field::Name) {
        facts.name = f.text.clone();
        push("name", f, &f.text);
    }
    if let Some(f) = found.get(Field::Level) {
        let read = profile.levels.read(&f.text);
        facts.level = read.level;
        facts.level_label = read.label;
        facts.level_unrecognised = read.unrecognised;
        if let Some(why) = &read.conflict {
            super::unknown::push_level_conflict(&mut facts.unknown, why);
        } else if read.unrecognised {
            super::unknown::push_level_unrecognised(
                &mut facts.unknown,
                &facts.level_label,
                &profile.id,
            );
        }
        push("level", f, &f.text);
    }
    facts.online_submission = matches!(facts.level, Level::Full | Level::Partial);
    facts.national_portal_link = !national.is_empty();
    for n in national {
        evidence.push(Evidence {
            url: url.clone(),
            ..n
        });
    }
    facts.evidence = evidence;
    facts.signature = summarise_signature(signals);
    // A signal seen is seen: the signature is then not unknown.
    let seen = !facts.signature.evidence.is_empty();
    for u in json_unknowns {
        let known = seen && u.fact == "signature";
        if !known && !facts.unknown.iter().any(|k| k.fact == u.fact) {
            facts.unknown.push(u);
        }
    }
    // A name alone (a generic title selector also matches a soft 404 or a page whose markup
    // changed) is no service data when the profile's label/value block is missing.
    let layout_missing = matches!(shell, Some(Unreadable::Layout(_)));
    let nothing = facts.code.is_empty()
        && facts.level_label.is_empty()
        && (facts.name.is_empty() || layout_missing);
    if nothing && facts.fetch.error.is_none() {
        let (kind, message) = match (shell, profile.has_api()) {
            (Some(Unreadable::Layout(container)), _) => (
                AssessReason::NoData,
                format!(
                    "profile `{}`: neither code nor level found, and its label/value block `{container}` matched nothing (the markup changed, or this is not a service page)",
                    profile.id
                ),
            ),
            (Some(Unreadable::Json(e)), _) => (
                AssessReason::Decode,
                format!("the detail response is not JSON: {e}"),
            ),
            (Some(Unreadable::Shell(marker)), false) => (
                AssessReason::SpaWithoutApi,
                format!(
                    "single-page-app shell (`{marker}`) and no API in profile `{}`",
                    profile.id
                ),
            ),
            _ => (
                AssessReason::NoData,
                format!("profile `{}` found no service data on the page", profile.id),
            ),
        };
        facts.fetch.error = Some(ErrorFact { kind, message });
    }
    // A read page without a level label: the level is not observed (a list row may still
    // give it, see `ItemFacts::fill`).
    super::unknown::mark_level_not_found(profile, &mut facts);
    facts
}

/// Code text → code: the first match of the profile's `code_pattern` (group 1 if it has one),
/// else the text itself, bounded.
pub(super) fn pick_code(profile: &Profile, text: &str) -> String {
    if let Some(re) = &profile.detail.code_pattern
        && let Some(c) = re.captures(text)
        && let Some(m) = c.get(1).or_else(|| c.get(0))
    {
        return m.as_str().to_string();
    }
    text.chars().take(MAX_CODE_CHARS).collect()
}

/// Of the distinct national-portal links of one page, at most this many from its start and as
/// many from its end are kept.
pub const NATIONAL_LINKS_EACH_END: usize = 4;
/// At most this many matching elements of one page are looked at.
const MAX_NATIONAL_ELEMENTS: usize = 10_000;

/// The distinct links the profile's `[national_link]` selector finds on a page (HTML
/// profiles), as `national_portal_link` evidence without its URL: all of them up to
/// 2 × [`NATIONAL_LINKS_EACH_END`], else the first and the last ones in page order (a header
/// link comes first and a footer link last, also on a list page whose rows each carry a link).
/// All, not the first: a portal-wide link in a header or footer comes before a service's own
/// link in page order, and only links that are not on every page of the portal say anything
/// about this service (`signals::mark_national_site_wide`).
pub(super) fn national_links(profile: &Profile, doc: &scraper::Html) -> Vec<Evidence> {
    let Some(Locator::Css(css)) = &profile.national_link else {
        return Vec::new();
    };
    let mut all: Vec<Evidence> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for el in doc.select(&css.selector).take(MAX_NATIONAL_ELEMENTS) {
        let e = Evidence {
            kind: "selector".into(),
            field: "national_portal_link".into(),
            locator: css.text.clone(),
            excerpt: excerpt(&format!(
                "{} {}",
                el.value().attr("href").unwrap_or_default(),
                element_text(el, 200)
            )),
            ..Evidence::default()
        };
        if seen.insert(e.excerpt.clone()) {
            all.push(e);
        }
    }
    if all.len() > 2 * NATIONAL_LINKS_EACH_END {
        all.drain(NATIONAL_LINKS_EACH_END..all.len() - NATIONAL_LINKS_EACH_END);
    }
    all
}

/// Signals, national-link evidence, and what made the page unreadable: the shell marker seen
/// (HTML) or a JSON parse error.
type Read = (
    Vec<Evidence>,
    Vec<Evidence>,
    Option<Unreadable>,
    Vec<crate::facts::UnknownFact>,
);

enum Unreadable {
    Shell(String),
    Json(String),
    /// The profile's label/value block (its container selector) matched nothing: the markup
    /// changed, or the page is not a service page (a soft 404, a login or maintenance page in
    /// the portal's theme).
    Layout(String),
}

fn read_html(profile: &Profile, page: &Page, found: &mut FieldMap<Found>) -> Read {
    let doc = Html::parse_document(&page.body);
    let d = &profile.detail;
    for f in Field::ALL {
        if let Some(css) = d.direct.get(f)
            && let Some(el) = doc.select(&css.selector).next()
        {
            let text = element_text(el, max_chars(f));
            if !text.is_empty() {
                found.set(
                    f,
                    Found {
                        text,
                        kind: "selector",
                        locator: css.text.clone(),
                    },
                );
            }
        }
    }
    if let Some(lv) = &d.label_value {
        let wanted = |label: &str| {
            let label = fold(label);
            Field::ALL
                .into_iter()
                .find(|f| lv.labels.get(*f).is_some_and(|syn| syn.contains(&label)))
        };
        for pair in label_value_pairs(&doc, lv, |l| wanted(l).is_some()) {
            let Some(field) = wanted(&pair.label).filter(|f| found.get(*f).is_none()) else {
                continue;
            };
            let text: String = pair.value.chars().take(max_chars(field)).collect();
            found.set(
                field,
                Found {
                    text,
                    kind: "label_value",
                    locator: pair.locator,
                },
            );
        }
    }
    let sections = sections(found);
    let signals = detect_html(profile, &doc, &page.body, page.base_url(), &sections);
    let national = national_links(profile, &doc);
    let shell = profile
        .shell
        .as_ref()
        .filter(|m| doc.select(&m.selector).next().is_some())
        .map(|m| Unreadable::Shell(m.text.clone()))
        .or_else(|| {
            d.label_value
                .as_ref()
                .filter(|lv| doc.select(&lv.container.selector).next().is_none())
                .map(|lv| Unreadable::Layout(lv.container.text.clone()))
        });
    (signals, national, shell, Vec::new())
}

/// One label and its value, as `[detail.label_value]` pairs them.
struct Pair {
    label: String,
    value: String,
    locator: String,
}

/// Sibling elements (or text nodes, inline mode) looked at after one label.
const MAX_SIBLINGS: usize = 64;
/// Characters of a value read (the longest field, a section).
const MAX_VALUE_CHARS: usize = MAX_SECTION_CHARS;

/// Every label/value pair of the page, in document order, by the profile's `pairs` mode.
/// Values are read only for labels `wanted` accepts.
fn label_value_pairs(doc: &Html, lv: &LabelValue, wanted: impl Fn(&str) -> bool) -> Vec<Pair> {
    let mut out = Vec::new();
    let label_locator = |label_el: scraper::ElementRef<'_>, tail: &str| {
        format!(
            "{} {{ {} = \"{}\" }}{tail}",
            lv.container.text,
            lv.label.text,
            element_text(label_el, 100)
        )
    };
    for c in doc.select(&lv.container.selector).take(MAX_CONTAINERS) {
        if lv.pairs == PairsMode::Nested {
            let Some(label_el) = c.select(&lv.label.selector).next() else {
                continue;
            };
            let Some(value_css) = &lv.value else { continue };
            let label = element_text(label_el, 300);
            if !wanted(&label) {
                continue;
            }
            let Some(value_el) = c.select(&value_css.selector).next() else {
                continue;
            };
            out.push(Pair {
                label,
                value: element_text(value_el, MAX_VALUE_CHARS),
                locator: label_locator(label_el, &format!(" {}", value_css.text)),
            });
            continue;
        }
        for label_el in c.select(&lv.label.selector).take(MAX_CONTAINERS) {
            let label = element_text(label_el, 300);
            if !wanted(&label) {
                continue;
            }
            let value = match (&lv.value, lv.pairs) {
                (Some(v), PairsMode::Siblings | PairsMode::Row) => {
                    sibling_values(label_el, &lv.label, v, lv.pairs == PairsMode::Row)
                }
                _ => inline_text(label_el, &lv.label),
            };
            let Some(value) = value else { continue };
            let tail = match (&lv.value, lv.pairs) {
                (Some(v), PairsMode::Row) => format!(" + {}", v.text),
                (Some(v), _) if lv.pairs != PairsMode::Inline => format!(" ~ {}", v.text),
                _ => " + text".to_string(),
            };
            out.push(Pair {
                label,
                value,
                locator: label_locator(label_el, &tail),
            });
            if out.len() >= MAX_CONTAINERS {
                return out;
            }
        }
    }
    out
}

/// The texts of the sibling elements after `label_el` that match `value`, up to the next
/// element matching `label` (only the first one when `first_only`), joined by a space.
/// `None` when no sibling matched.
fn sibling_values(
    label_el: scraper::ElementRef<'_>,
    label: &Css,
    value: &Css,
    first_only: bool,
) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut len = 0usize;
    for sib in label_el
        .next_siblings()
        .filter_map(scraper::ElementRef::wrap)
        .take(MAX_SIBLINGS)
    {
        if label.selector.matches(&sib) {
            break;
        }
        if value.selector.matches(&sib) {
            let t = element_text(sib, MAX_VALUE_CHARS.saturating_sub(len));
            len = len.saturating_add(t.chars().count());
            parts.push(t);
            if first_only || len >= MAX_VALUE_CHARS {
                break;
            }
        }
    }
    (!parts.is_empty()).then(|| clean(&parts.join(" ")))
}

/// The text after `label_el` inside its parent, up to the next element matching `label`
/// (inline mode: `<p><b>Mức độ:</b> Toàn trình</p>`). `None` when there is none.
fn inline_text(label_el: scraper::ElementRef<'_>, label: &Css) -> Option<String> {
    let mut raw = String::new();
    for node in label_el.next_siblings().take(MAX_SIBLINGS) {
        if raw.len() >= MAX_VALUE_CHARS {
            break;
        }
        match node.value() {
            scraper::Node::Text(t) => raw.push_str(t),
            scraper::Node::Element(_) => {
                let Some(el) = scraper::ElementRef::wrap(node) else {
                    continue;
                };
                if label.selector.matches(&el) {
                    break;
                }
                raw.push(' ');
                raw.push_str(&element_text(el, MAX_VALUE_CHARS));
                raw.push(' ');
            }
            _ => {}
        }
    }
    let text: String = clean(&raw).chars().take(MAX_VALUE_CHARS).collect();
    // A leading separator (`Mức độ</b>: Toàn trình`) is part of the label, not the value.
    let text = text
        .trim_start_matches(|c: char| c == ':' || c == '-' || c.is_whitespace())
        .to_string();
    (!text.is_empty()).then_some(text)
}

fn sections(found: &FieldMap<Found>) -> Vec<&str> {
    [Field::Dossier, Field::Requirements]
        .into_iter()
        .filter_map(|f| found.get(f).map(|x| x.text.as_str()))
        .collect()
}

fn read_json(profile: &Profile, page: &Page, found: &mut FieldMap<Found>) -> Read {
    let json = match serde_json::from_str::<Value>(&page.body) {
        Ok(v) => v,
        Err(e) => {
            return (
                Vec::new(),
                Vec::new(),
                Some(Unreadable::Json(e.to_string())),
                Vec::new(),
            );
        }
    };
    if let Some(ptrs) = &profile.detail.json {
        for f in Field::ALL {
            let Some(p) = ptrs.get(f) else { continue };
            let Some(text) = json.pointer(p).and_then(scalar_text) else {
                continue;
            };
            let text: String = crate::profile::text::json_text(&text)
                .chars()
                .take(max_chars(f))
                .collect();
            if !text.is_empty() {
                found.set(
                    f,
                    Found {
                        text,
                        kind: "json_field",
                        locator: p.clone(),
                    },
                );
            }
        }
    }
    let sections = sections(found);
    let signals = detect_json(profile, &json, &page.body, page.base_url(), &sections);
    let national = match &profile.national_link {
        Some(Locator::Pointer(p)) => json
            .pointer(p)
            .filter(|v| super::signals::json_link(v))
            .map(|v| Evidence {
                kind: "json_field".into(),
                field: "national_portal_link".into(),
                locator: p.clone(),
                excerpt: excerpt(&v.to_string()),
                ..Evidence::default()
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    // An absent key is not a "no" (see `signals::json_unknowns`).
    let unknowns = super::signals::json_unknowns(profile, &json);
    (signals, national, None, unknowns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(label_value: &str) -> Profile {
        let text = format!(
            r#"id = "t"
name = "t"
[listing]
start = ["{{portal}}/"]
[listing.html]
link = "a"
[detail.label_value]
{label_value}
[detail.labels]
code = ["Mã thủ tục"]
name = ["Tên thủ tục"]
level = ["Mức độ"]
dossier = ["Thành phần hồ sơ"]
[[level]]
contains = "toàn trình"
level = "full"
"#
        );
        match Profile::from_str_named("t.toml", &text) {
            Ok((p, _)) => p,
            Err(e) => panic!("{}", e.0.render(false)),
        }
    }

    fn read(p: &Profile, body: &str) -> ServiceFacts {
        detail_page(p, &Page::from_body("https://x.test/a", body), "a")
    }

    #[test]
    fn national_links_keep_the_first_and_last_of_a_long_page() {
        let set = crate::profile::ProfileSet::bundled().expect("bundled");
        let table = set.get("table").expect("table");
        let rows: String = (0..50)
            .map(|i| format!("<a href=\"https://dichvucong.gov.vn/?ma_thu_tuc={i}\">{i}</a>"))
            .collect();
        let html = format!(
            "<html><body><a href=\"https://dichvucong.gov.vn/\">header</a>{rows}\
             <a href=\"https://dichvucong.gov.vn/\">header</a>\
             <footer><a href=\"https://dichvucong.gov.vn/p/home\">footer</a></footer></body></html>"
        );
        let doc = scraper::Html::parse_document(&html);
        let links: Vec<String> = national_links(table, &doc)
            .into_iter()
            .map(|e| e.excerpt)
            .collect();
        assert_eq!(links.len(), 2 * NATIONAL_LINKS_EACH_END, "{links:?}");
        assert_eq!(
            links.first().map(String::as_str),
            Some("https://dichvucong.gov.vn/ header")
        );
        assert_eq!(
            links.last().map(String::as_str),
            Some("https://dichvucong.gov.vn/p/home footer"),
            "the footer, after 50 row links, is kept"
        );
    }

    #[test]
    fn siblings_pair_each_dt_with_its_dd_until_the_next_dt() {
        let p = profile("container = \"dl.tt\"\nlabel = \"dt\"\nvalue = \"dd\"\npairs = \"dt\"");
        let f = read(
            &p,
            "<dl class=tt><dt>MÃ THỦ TỤC:</dt><dd>1.000204</dd><dt>Tên thủ tục</dt><dd>Cấp phép</dd>\
             <dt>Lĩnh vực</dt><dd>Xây dựng</dd><dt>Mức độ</dt><dd>Toàn trình</dd>\
             <dt>Thành phần hồ sơ</dt><dd>Tờ khai</dd><dd>Bản sao</dd></dl>",
        );
        assert_eq!(f.code, "1.000204");
        assert_eq!(f.name, "Cấp phép");
        assert_eq!(f.level, Level::Full);
        assert_eq!(f.level_label, "Toàn trình");
        let level = f.evidence.iter().find(|e| e.field == "level");
        assert!(
            level.is_some_and(|e| e.kind == "label_value" && e.locator.contains("Mức độ")),
            "{:?}",
            f.evidence
        );
        // Without `pairs`, only the first dt/dd of the list would be read.
        let nested = profile("container = \"dl.tt\"\nlabel = \"dt\"\nvalue = \"dd\"");
        let g = read(
            &nested,
            "<dl class=tt><dt>Mã thủ tục</dt><dd>1.000204</dd><dt>Mức độ</dt><dd>Toàn trình</dd></dl>",
        );
        assert_eq!(g.code, "1.000204");
        assert_eq!(g.level_label, "");
    }

    #[test]
    fn a_label_without_a_value_before_the_next_label_gives_nothing() {
        let p = profile("container = \"dl\"\nlabel = \"dt\"\nvalue = \"dd\"\npairs = \"siblings\"");
        let f = read(
            &p,
            "<dl><dt>Mức độ</dt><dt>Mã thủ tục</dt><dd>1.000204</dd></dl>",
        );
        assert_eq!(f.code, "1.000204");
        assert_eq!(f.level_label, "", "the code's value is not the level's");
    }

    #[test]
    fn rows_pair_th_with_the_next_td_only() {
        let p =
            profile("container = \"table.ct tr\"\nlabel = \"th\"\nvalue = \"td\"\npairs = \"row\"");
        let f = read(
            &p,
            "<table class=ct><tr><th>Mã thủ tục</th><td>1.000204</td><td>ghi chú</td></tr>\
             <tr><th>Mức độ</th><td>Toàn trình</td><th>Tên thủ tục</th><td>Cấp phép</td></tr></table>",
        );
        assert_eq!(f.code, "1.000204");
        assert_eq!(f.level_label, "Toàn trình");
        assert_eq!(f.name, "Cấp phép");
    }

    #[test]
    fn inline_reads_the_text_after_the_label_element() {
        let p = profile("container = \"div.tt p\"\nlabel = \"strong\"\npairs = \"inline\"");
        let f = read(
            &p,
            "<div class=tt><p><strong>Mã thủ tục:</strong> 1.000204</p>\
             <p><strong>Mức độ</strong>: <em>Toàn</em> trình <strong>Tên thủ tục</strong> Cấp phép</p></div>",
        );
        assert_eq!(f.code, "1.000204");
        assert_eq!(f.level_label, "Toàn trình");
        assert_eq!(f.name, "Cấp phép");
    }

    #[test]
    fn a_read_page_whose_level_is_not_recognised_or_not_found_has_its_level_unknown() {
        let p =
            profile("container = \"table.ct tr\"\nlabel = \"th\"\nvalue = \"td\"\npairs = \"row\"");
        let page = |level: Option<&str>| {
            let row = level
                .map(|l| format!("<tr><th>Mức độ</th><td>{l}</td></tr>"))
                .unwrap_or_default();
            read(
                &p,
                &format!(
                    "<table class=ct><tr><th>Mã thủ tục</th><td>1.000204</td></tr>{row}</table>"
                ),
            )
        };
        let unread = |f: &ServiceFacts| {
            ["level", "online_submission"].map(|fact| {
                f.unknown_fact(fact)
                    .filter(|u| u.kind == AssessReason::NoData)
                    .map(|u| u.message.clone())
            })
        };
        // Recognised: a level, nothing unknown.
        let full = page(Some("Toàn trình"));
        assert_eq!((full.level, full.level_unrecognised), (Level::Full, false));
        assert!(full.unknown_fact("level").is_none(), "{:?}", full.unknown);
        // A label no pattern matches: the label is known and unrecognised, the level unknown.
        let odd = page(Some("Đang cập nhật"));
        assert!(odd.fetch.error.is_none());
        assert_eq!(odd.level, Level::Unknown);
        assert_eq!(odd.level_label, "Đang cập nhật");
        assert!(odd.level_unrecognised);
        for why in unread(&odd) {
            let why = why.expect("level unknown");
            assert!(
                why.contains("\"Đang cập nhật\"") && why.contains("`t`"),
                "{why}"
            );
        }
        assert!(odd.unknown_fact("level_label").is_none());
        assert!(odd.unknown_fact("level_unrecognised").is_none());
        // No level row on a page that was read: no label, the level unknown.
        let gone = page(None);
        assert!(gone.fetch.error.is_none());
        assert_eq!(
            (gone.level_label.as_str(), gone.level_unrecognised),
            ("", false)
        );
        for why in unread(&gone) {
            assert!(why.expect("level unknown").contains("no level label"));
        }
        assert!(gone.unknown_fact("level_label").is_none());
        // A page nothing was read from is no_data as a whole, not a service without a level.
        let empty = read(&p, "<p>Bảo trì</p>");
        assert!(empty.fetch.error.is_some());
        assert!(empty.unknown_fact("level").is_none(), "{:?}", empty.unknown);
    }

    #[test]
    fn value_is_required_except_inline() {
        let text = "id = \"t\"\nname = \"t\"\n[listing]\nstart = [\"{portal}/\"]\n[listing.html]\nlink = \"a\"\n\
                    [detail.label_value]\ncontainer = \"dl\"\nlabel = \"dt\"\npairs = \"siblings\"\n[detail.labels]\ncode = [\"Mã\"]\n";
        let Err(e) = Profile::from_str_named("t.toml", text) else {
            panic!("a siblings reading without `value` must not load");
        };
        assert!(e.0.render(false).contains("needs `value`"));
    }
}
