//! Facts read from a list item (`[listing.json] item_facts` / `[listing.html] item_facts`).
//!
//! Many APIs (and some HTML tables) carry each service's level and signature fields in the
//! list itself, and some have no per-service endpoint at all. A list item is read with the same
//! field and signal vocabulary as a detail page; the result travels with the service's detail
//! request ([`super::ServiceHint::item`]) and is merged into the detail page's facts **field by
//! field, the detail page winning** ([`ItemFacts::fill`]). Without a detail request
//! (`detail_url` absent) the item is the whole service ([`list_only_service`]): its evidence
//! is the item's pointer in the list response and a hash of the item.
//!
//! Every value read from an item says so in its evidence: `kind` is prefixed `list:`
//! (`list:json_field`, `list:selector`), `url` is the list page and `locator` points into it
//! (`/data/items/3/level`, or `div.item:nth-of-type(4) span.muc-do`).

use scraper::{ElementRef, Html};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::detail::{max_chars, pick_code};
use super::html::element_text;
use super::signals::{detect_html, detect_json, summarise_signature};
use crate::facts::{AssessReason, ErrorFact, Evidence, FetchFacts, Level, ServiceFacts, excerpt};
use crate::profile::template::scalar_text;
use crate::profile::{Css, Field, FieldMap, Locator, Profile};

/// Prefix of the evidence `kind` of everything read from a list item.
pub const LIST_KIND_PREFIX: &str = "list:";

/// What one list item said about its service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFacts {
    /// The item is the whole service: there is no detail page to fetch.
    pub only: bool,
    pub code: String,
    pub name: String,
    /// The level as mapped by the profile's `[[level]]` rules, and its label.
    pub level: Level,
    pub level_label: String,
    /// The item's level label matches no level pattern of the profile.
    #[serde(default)]
    pub level_unrecognised: bool,
    pub national_portal_link: bool,
    /// Evidence per field read (`code`, `name`, `level`, `dossier`, `requirements`,
    /// `national_portal_link`), all `list:` kinds.
    pub evidence: Vec<Evidence>,
    /// Signature signals found in the item (`list:` kinds, never site-wide).
    pub signals: Vec<Evidence>,
    /// The item itself: kind `list_item`, locator its pointer (JSON) or selector (HTML),
    /// excerpt `sha256:<hash of the item>`.
    pub item: Evidence,
    /// SHA-256 (hex) of the item (its JSON, or its HTML).
    pub sha256: String,
    /// What the item leaves unknown (a JSON item without the signature or link fields, see
    /// `signals::json_unknowns`; the level when its label is missing, matches no pattern or
    /// says two levels): applied to a list-only service, and the level's to a detail page
    /// that takes the item's label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<crate::facts::UnknownFact>,
}

impl ItemFacts {
    /// Anything was read from the item.
    pub fn is_empty(&self) -> bool {
        self.evidence.is_empty() && self.signals.is_empty()
    }

    /// Fill what the detail page did not say, field by field (the detail page wins), and add
    /// the item's signature signals to the page's (a signal seen anywhere is seen; its absence
    /// in one place is not a "no").
    pub fn fill(&self, facts: &mut ServiceFacts) {
        let mut used = false;
        let mut take = |field: &str, facts: &mut ServiceFacts| {
            used = true;
            facts
                .evidence
                .extend(self.evidence.iter().filter(|e| e.field == field).cloned());
        };
        if facts.code.is_empty() && !self.code.is_empty() {
            facts.code = self.code.clone();
            take("code", facts);
        }
        if facts.name.is_empty() && !self.name.is_empty() {
            facts.name = self.name.clone();
            take("name", facts);
        }
        if facts.level_label.is_empty() && !self.level_label.is_empty() {
            facts.level = self.level;
            facts.level_label = self.level_label.clone();
            facts.level_unrecognised = self.level_unrecognised;
            facts.online_submission = matches!(self.level, Level::Full | Level::Partial);
            // The page found no label (its level was unknown for that): the item's label is
            // the one read now, and only what the item leaves unknown about it holds.
            let level_fact = |u: &crate::facts::UnknownFact| {
                super::unknown::LEVEL_CONFLICT_FACTS.contains(&u.fact.as_str())
                    && u.kind == AssessReason::NoData
            };
            facts.unknown.retain(|u| !level_fact(u));
            // A label saying two levels, or none known, leaves the level unknown wherever it
            // is used.
            for u in self.unknown.iter().filter(|u| level_fact(u)) {
                if facts.unknown.iter().all(|k| k.fact != u.fact) {
                    facts.unknown.push(u.clone());
                }
            }
            take("level", facts);
        }
        // The item's own link is added even when the page has one: the page's may be the
        // portal's header/footer link, which the walk marks site-wide afterwards.
        if self.national_portal_link {
            facts.national_portal_link = true;
            take("national_portal_link", facts);
        }
        if !self.signals.is_empty() {
            used = true;
            let mut all = std::mem::take(&mut facts.signature.evidence);
            for s in &self.signals {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
            facts.signature = summarise_signature(all);
        }
        if used || self.only {
            facts.evidence.push(self.item.clone());
        }
    }
}

/// The service a list-only item describes: its facts from the item, its fetch facts from the
/// list page that carried it (with the item's hash). An item that carried none of the
/// profile's `item_facts` is could-not-assess `no_data`, never a service without a level.
pub fn list_only_service(
    agency_id: &str,
    url: &str,
    item: &ItemFacts,
    list_fetch: FetchFacts,
) -> ServiceFacts {
    let mut facts = ServiceFacts {
        agency_id: agency_id.to_string(),
        url: url.to_string(),
        fetch: list_fetch,
        ..ServiceFacts::default()
    };
    facts.fetch.sha256 = item.sha256.clone();
    item.fill(&mut facts);
    for u in &item.unknown {
        if !facts.unknown.iter().any(|k| k.fact == u.fact) {
            facts.unknown.push(u.clone());
        }
    }
    let nothing = facts.code.is_empty() && facts.name.is_empty() && facts.level_label.is_empty();
    if nothing && facts.fetch.error.is_none() {
        facts.fetch.error = Some(ErrorFact {
            kind: AssessReason::NoData,
            message: "the list item carried none of the profile's item_facts".into(),
        });
    }
    facts
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Field texts → facts and evidence (shared by JSON and HTML items).
/// `reads_level`: the profile's `item_facts` has a level locator (an item without a label then
/// leaves the level unknown).
fn build(
    profile: &Profile,
    only: bool,
    reads_level: bool,
    found: Vec<(Field, String, Evidence)>,
    item: Evidence,
    sha256: String,
) -> (ItemFacts, Vec<String>) {
    let mut out = ItemFacts {
        only,
        item,
        sha256,
        ..ItemFacts::default()
    };
    let mut sections = Vec::new();
    for (field, text, ev) in found {
        match field {
            Field::Code => out.code = pick_code(profile, &text),
            Field::Name => out.name = text.clone(),
            Field::Level => {
                let read = profile.levels.read(&text);
                out.level = read.level;
                out.level_label = read.label;
                out.level_unrecognised = read.unrecognised;
                if let Some(why) = &read.conflict {
                    super::unknown::push_level_conflict(&mut out.unknown, why);
                } else if read.unrecognised {
                    super::unknown::push_level_unrecognised(
                        &mut out.unknown,
                        &out.level_label,
                        &profile.id,
                    );
                }
            }
            Field::Dossier | Field::Requirements => sections.push(text.clone()),
        }
        out.evidence.push(ev);
    }
    if reads_level && out.level_label.is_empty() {
        super::unknown::push_level_not_found(&mut out.unknown, &profile.id);
    }
    (out, sections)
}

fn list_evidence(kind: &str, field: &str, locator: String, text: &str, url: &str) -> Evidence {
    Evidence {
        kind: format!("{LIST_KIND_PREFIX}{kind}"),
        field: field.to_string(),
        locator,
        excerpt: excerpt(text),
        url: url.to_string(),
        provider: String::new(),
        site_wide: false,
    }
}

/// Re-home page evidence (signals, national link) to the item: `list:` kind, locator under
/// the item's.
fn rehome(mut e: Evidence, at: &str, url: &str) -> Evidence {
    e.kind = format!("{LIST_KIND_PREFIX}{}", e.kind);
    e.locator = format!("{at} {}", e.locator);
    e.url = url.to_string();
    e.site_wide = false;
    e
}

/// Read one JSON list item (at `pointer` in the response of `url`).
pub(crate) fn read_json_item(
    profile: &Profile,
    fields: Option<&FieldMap<String>>,
    only: bool,
    item: &Value,
    pointer: &str,
    url: &str,
) -> ItemFacts {
    let text = item.to_string();
    let sha256 = sha256_hex(text.as_bytes());
    let item_ev = Evidence {
        kind: "list_item".into(),
        field: "service".into(),
        locator: pointer.to_string(),
        excerpt: format!("sha256:{sha256}"),
        url: url.to_string(),
        provider: String::new(),
        site_wide: false,
    };
    let mut found = Vec::new();
    if let Some(ptrs) = fields {
        for f in Field::ALL {
            let Some(p) = ptrs.get(f) else { continue };
            let Some(v) = item.pointer(p).and_then(scalar_text) else {
                continue;
            };
            let v: String = crate::profile::text::json_text(&v)
                .chars()
                .take(max_chars(f))
                .collect();
            if !v.is_empty() {
                let ev = list_evidence("json_field", f.as_str(), format!("{pointer}{p}"), &v, url);
                found.push((f, v, ev));
            }
        }
    }
    let reads_level = fields.is_some_and(|f| f.get(Field::Level).is_some());
    let (mut out, sections) = build(profile, only, reads_level, found, item_ev, sha256);
    let sections: Vec<&str> = sections.iter().map(String::as_str).collect();
    out.signals = detect_json(profile, item, &text, url, &sections)
        .into_iter()
        .map(|e| rehome(e, pointer, url))
        .collect();
    // A signal seen is seen: the signature is then not unknown.
    // (Added to what `build` found unknown: a level label saying two levels.)
    let absent: Vec<_> = super::signals::json_unknowns(profile, item)
        .into_iter()
        .filter(|u| out.signals.is_empty() || u.fact != "signature")
        .filter(|u| out.unknown.iter().all(|k| k.fact != u.fact))
        .collect();
    out.unknown.extend(absent);
    if let Some(Locator::Pointer(p)) = &profile.national_link
        && let Some(v) = item.pointer(p).filter(|v| super::signals::json_link(v))
    {
        out.national_portal_link = true;
        out.evidence.push(list_evidence(
            "json_field",
            "national_portal_link",
            format!("{pointer}{p}"),
            &v.to_string(),
            url,
        ));
    }
    out
}

/// Read one HTML list item (the `n`-th match of `item_sel` on the page at `url`).
pub(crate) fn read_html_item(
    profile: &Profile,
    fields: &FieldMap<Css>,
    item_sel: &Css,
    n: usize,
    el: ElementRef<'_>,
    url: &str,
) -> ItemFacts {
    let html = el.html();
    let sha256 = sha256_hex(html.as_bytes());
    let at = format!("{} [{n}]", item_sel.text);
    let item_ev = Evidence {
        kind: "list_item".into(),
        field: "service".into(),
        locator: at.clone(),
        excerpt: format!("sha256:{sha256}"),
        url: url.to_string(),
        provider: String::new(),
        site_wide: false,
    };
    let mut found = Vec::new();
    for f in Field::ALL {
        let Some(css) = fields.get(f) else { continue };
        let Some(v) = el.select(&css.selector).next() else {
            continue;
        };
        let v = element_text(v, max_chars(f));
        if !v.is_empty() {
            let ev = list_evidence(
                "selector",
                f.as_str(),
                format!("{at} {}", css.text),
                &v,
                url,
            );
            found.push((f, v, ev));
        }
    }
    let reads_level = fields.get(Field::Level).is_some();
    let (mut out, sections) = build(profile, false, reads_level, found, item_ev, sha256);
    let sections: Vec<&str> = sections.iter().map(String::as_str).collect();
    // The item's own markup, so a signal elsewhere on the page is not this service's.
    let frag = Html::parse_fragment(&html);
    out.signals = detect_html(profile, &frag, &html, url, &sections)
        .into_iter()
        .map(|e| rehome(e, &at, url))
        .collect();
    if let Some(Locator::Css(css)) = &profile.national_link
        && let Some(a) = el.select(&css.selector).next()
    {
        out.national_portal_link = true;
        out.evidence.push(list_evidence(
            "selector",
            "national_portal_link",
            format!("{at} {}", css.text),
            &format!(
                "{} {}",
                a.value().attr("href").unwrap_or_default(),
                element_text(a, 200)
            ),
            url,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{AgencyVars, ListState, Page, list_page};

    const LIST_ONLY: &str = r#"
id = "t"
name = "t"
[listing]
start = ["{api}/list"]
[listing.json]
method = "POST"
body = '{{"limit": 2, "lastId": "{cursor}"}}'
items = "/data/items"
item_url = "{portal}/thu-tuc/{/id}"
[listing.json.item_facts]
code = "/code"
name = "/name"
level = "/level"
[listing.pagination]
kind = "cursor"
cursor = "/data/lastId"
[detail.json]
code = "/code"
[[level]]
contains = "toàn trình"
level = "full"
[[level]]
contains = "một phần"
level = "partial"
[[signal]]
kind = "json_field"
pointer = "/requireSignature"
effect = "requires"
[national_link]
pointer = "/national"
"#;

    fn load(text: &str) -> Profile {
        match Profile::from_str_named("t.toml", text) {
            Ok((p, _)) => p,
            Err(e) => panic!("{}", e.0.render(false)),
        }
    }

    #[test]
    fn a_list_only_item_is_a_whole_service_with_its_pointer_and_hash() {
        let p = load(LIST_ONLY);
        let vars = AgencyVars::new("a", "https://dvc.a.test").with("api", "https://api.a.test");
        let start = p.start_requests(&vars).expect("start").remove(0);
        assert_eq!(start.body.as_deref(), Some(r#"{"limit": 2, "lastId": ""}"#));
        let body = r#"{"data": {"lastId": "b", "items": [
            {"id": "a", "code": "1.000001", "name": "Cấp phép", "level": "Toàn trình", "requireSignature": true, "national": true},
            {"id": "b", "code": "1.000002", "name": "Đăng ký"}
        ]}}"#;
        let page = Page::from_body("https://api.a.test/list", body);
        let mut state = ListState::new(&vars);
        let out = list_page(&p, &page, &start, &mut state);
        assert_eq!(out.details.len(), 2);
        let first = out.details.first().expect("first");
        assert_eq!(first.url, "https://dvc.a.test/thu-tuc/a");
        assert!(first.body.is_none());
        let item = first.hint.item.as_ref().expect("item facts");
        assert!(first.hint.is_list_only());
        let s = list_only_service("a", &first.url, item, page.fetch.clone());
        assert_eq!(s.code, "1.000001");
        assert_eq!(s.level, Level::Full);
        assert_eq!(s.level_label, "Toàn trình");
        assert!(s.online_submission && s.national_portal_link && s.signature.required);
        assert!(s.fetch.error.is_none());
        let item_ev = s
            .evidence
            .iter()
            .find(|e| e.kind == "list_item")
            .expect("item evidence");
        assert_eq!(item_ev.locator, "/data/items/0");
        assert_eq!(item_ev.excerpt, format!("sha256:{}", s.fetch.sha256));
        assert_eq!(s.fetch.sha256.len(), 64);
        let level = s
            .evidence
            .iter()
            .find(|e| e.field == "level")
            .expect("level evidence");
        assert_eq!(
            (level.kind.as_str(), level.locator.as_str()),
            ("list:json_field", "/data/items/0/level")
        );
        assert_eq!(level.url, "https://api.a.test/list");
        assert!(
            s.signature
                .evidence
                .iter()
                .all(|e| e.kind == "list:json_field")
        );
        // The second item publishes no level: unknown with no label, not a guess.
        let second = out.details.get(1).expect("second");
        let t = list_only_service(
            "a",
            &second.url,
            second.hint.item.as_ref().expect("item"),
            page.fetch.clone(),
        );
        assert_eq!((t.level, t.level_label.as_str()), (Level::Unknown, ""));
        assert!(!t.signature.required);
        // The next page sends the cursor back in the body.
        let next = out.next.expect("next page");
        assert_eq!(next.body.as_deref(), Some(r#"{"limit": 2, "lastId": "b"}"#));
    }

    #[test]
    fn an_item_label_saying_two_levels_leaves_the_level_unknown_wherever_it_is_used() {
        let p = load(LIST_ONLY);
        let vars = AgencyVars::new("a", "https://dvc.a.test").with("api", "https://api.a.test");
        let start = p.start_requests(&vars).expect("start").remove(0);
        let body = r#"{"data": {"items": [
            {"id": "a", "code": "1.000001", "level": "Một phần (chưa đủ điều kiện toàn trình)"}
        ]}}"#;
        let page = Page::from_body("https://api.a.test/list", body);
        let mut state = ListState::new(&vars);
        let out = list_page(&p, &page, &start, &mut state);
        let item = out.details[0].hint.item.as_ref().expect("item facts");
        // A list-only service.
        let s = list_only_service("a", &out.details[0].url, item, page.fetch.clone());
        assert_eq!(s.level, Level::Unknown);
        assert_eq!(s.level_label, "Một phần (chưa đủ điều kiện toàn trình)");
        assert!(!s.online_submission);
        for fact in ["level", "online_submission"] {
            let u = s
                .unknown_fact(fact)
                .unwrap_or_else(|| panic!("{fact} unknown"));
            assert_eq!(u.kind, AssessReason::NoData);
            assert!(u.message.contains("more than one level"), "{}", u.message);
        }
        // A detail page without a level takes the item's label, and its unknown with it.
        let mut detail = ServiceFacts {
            code: "1.000001".into(),
            ..ServiceFacts::default()
        };
        item.fill(&mut detail);
        assert_eq!(detail.level, Level::Unknown);
        assert!(detail.unknown_fact("level").is_some());
        // The item's own national link is added beside a page's (maybe site-wide) one.
        let mut footer = ServiceFacts {
            national_portal_link: true,
            evidence: vec![crate::facts::Evidence {
                field: "national_portal_link".into(),
                excerpt: "https://dichvucong.gov.vn/ footer".into(),
                ..crate::facts::Evidence::default()
            }],
            ..ServiceFacts::default()
        };
        let linked = ItemFacts {
            national_portal_link: true,
            evidence: vec![crate::facts::Evidence {
                kind: "list:json_field".into(),
                field: "national_portal_link".into(),
                excerpt: "true".into(),
                ..crate::facts::Evidence::default()
            }],
            ..ItemFacts::default()
        };
        linked.fill(&mut footer);
        assert_eq!(
            footer
                .evidence
                .iter()
                .filter(|e| e.field == "national_portal_link")
                .count(),
            2
        );
        // A detail page with its own level keeps it: the item's label is not used.
        let mut own = ServiceFacts {
            level: Level::Partial,
            level_label: "Một phần".into(),
            ..ServiceFacts::default()
        };
        item.fill(&mut own);
        assert_eq!(own.level, Level::Partial);
        assert!(own.unknown_fact("level").is_none());
    }

    #[test]
    fn an_item_with_no_facts_is_no_data_not_a_service_without_a_level() {
        let item = ItemFacts {
            only: true,
            ..ItemFacts::default()
        };
        let s = list_only_service("a", "https://x.test/1", &item, FetchFacts::default());
        assert_eq!(s.fetch.error.map(|e| e.kind), Some(AssessReason::NoData));
    }

    #[test]
    fn the_detail_page_wins_field_by_field() {
        let p = load(
            &LIST_ONLY
                .replace(
                    "item_url = \"{portal}/thu-tuc/{/id}\"",
                    "detail_url = \"{api}/detail/{/id}\"",
                )
                .replace(
                    "code = \"/code\"\n[[level]]",
                    "code = \"/code\"\nlevel = \"/muc\"\n[[level]]",
                ),
        );
        let vars = AgencyVars::new("a", "https://dvc.a.test").with("api", "https://api.a.test");
        let start = p.start_requests(&vars).expect("start").remove(0);
        let body = r#"{"data": {"items": [{"id": "a", "code": "1.000001", "name": "Cấp phép", "level": "Toàn trình", "requireSignature": true}]}}"#;
        let mut state = ListState::new(&vars);
        let out = list_page(
            &p,
            &Page::from_body("https://api.a.test/list", body),
            &start,
            &mut state,
        );
        let req = out.details.first().expect("detail request");
        assert_eq!(req.url, "https://api.a.test/detail/a");
        assert!(!req.hint.is_list_only());
        // The detail says "một phần" and nothing about the name or signature.
        let detail = Page::from_body(&req.url, r#"{"code": "1.000001", "muc": "Một phần"}"#);
        let mut f = crate::extract::detail_page(&p, &detail, "a");
        req.hint.fill(&mut f);
        assert_eq!(f.level, Level::Partial, "the detail's level wins");
        let level = f
            .evidence
            .iter()
            .find(|e| e.field == "level")
            .expect("level evidence");
        assert_eq!(level.kind, "json_field");
        assert_eq!(
            f.name, "Cấp phép",
            "the name the detail lacks comes from the list"
        );
        let name = f
            .evidence
            .iter()
            .find(|e| e.field == "name")
            .expect("name evidence");
        assert_eq!(name.kind, "list:json_field");
        assert!(f.signature.required);
        assert!(f.evidence.iter().any(|e| e.kind == "list_item"));
    }

    #[test]
    fn without_detail_url_item_url_and_item_facts_are_required() {
        let text = LIST_ONLY.replace("item_url = \"{portal}/thu-tuc/{/id}\"\n", "");
        let Err(e) = Profile::from_str_named("t.toml", &text) else {
            panic!("must not load");
        };
        assert!(e.0.render(false).contains("give `item_url`"));
        let text = LIST_ONLY.replace(
            "item_url = \"{portal}/thu-tuc/{/id}\"",
            "item_url = \"{portal}/x\"",
        );
        assert!(Profile::from_str_named("t.toml", &text).is_err());
    }

    #[test]
    fn html_items_carry_facts_inside_their_container_only() {
        let p = load(
            r#"
id = "h"
name = "h"
[listing]
start = ["{portal}/ds"]
[listing.html]
item = "tr.dv"
link = "a"
[listing.html.item_facts]
code = "td.ma"
level = "td.muc"
[detail.direct]
name = "h1"
[[level]]
contains = "một phần"
level = "partial"
[[signal]]
kind = "control"
selector = "button"
regex = 'ký số'
provider = "vgca"
effect = "supports"
"#,
        );
        let vars = AgencyVars::new("a", "https://dvc.a.test");
        let start = p.start_requests(&vars).expect("start").remove(0);
        let body = "<table><tr class=dv><td class=ma>1.000001</td><td><a href=/ct/1>A</a></td>\
                    <td class=muc>Một phần</td><td><button>Ký số</button></td></tr>\
                    <tr class=dv><td class=ma>1.000002</td><td><a href=/ct/2>B</a></td></tr></table>";
        let page = Page::from_body("https://dvc.a.test/ds", body);
        let mut state = ListState::new(&vars);
        let out = list_page(&p, &page, &start, &mut state);
        assert_eq!(out.details.len(), 2);
        let first = out.details.first().expect("first");
        assert!(
            !first.hint.is_list_only(),
            "HTML items keep their detail page"
        );
        let item = first.hint.item.as_ref().expect("item facts");
        assert_eq!(
            (item.code.as_str(), item.level),
            ("1.000001", Level::Partial)
        );
        assert_eq!(item.signals.len(), 1, "{:?}", item.signals);
        let second = out
            .details
            .get(1)
            .and_then(|d| d.hint.item.as_ref())
            .expect("second");
        assert!(
            second.signals.is_empty(),
            "the first row's button is not the second's"
        );
        assert_eq!(second.level_label, "");
        // The detail page names the service; the list fills level and signing.
        let mut f =
            crate::extract::detail_page(&p, &Page::from_body(&first.url, "<h1>A</h1>"), "a");
        first.hint.fill(&mut f);
        assert_eq!((f.name.as_str(), f.level), ("A", Level::Partial));
        assert!(f.signature.supported);
        assert_eq!(f.signature.providers, vec!["vgca"]);
        let level = f
            .evidence
            .iter()
            .find(|e| e.field == "level")
            .expect("level evidence");
        assert_eq!(level.kind, "list:selector");
        assert_eq!(level.locator, "tr.dv [0] td.muc");
    }

    /// The bundled list-api profile's verdicts on one list-only item (SIG-001/003, NPL-001).
    fn list_api_verdicts(item: &str) -> (ServiceFacts, std::collections::BTreeMap<String, String>) {
        let set = crate::profile::ProfileSet::bundled().unwrap_or_else(|e| panic!("{e:?}"));
        let p = set.get("list-api").expect("list-api profile");
        let v: Value = serde_json::from_str(item).expect("json");
        let fields = match &p.listing.source {
            crate::profile::ListSource::Json(j) => j.item_facts.as_ref(),
            crate::profile::ListSource::Html(_) => None,
        };
        let facts = read_json_item(p, fields, true, &v, "/data/0", "https://api.a.test/list");
        let s = list_only_service(
            "a",
            "https://dvc.a.test/tt/1",
            &facts,
            FetchFacts::default(),
        );
        let rules = match crate::rules::RuleSet::bundled() {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        };
        let agency = crate::rules::bench::synthetic_agency();
        let verdicts = rules
            .evaluate_service(&s, &agency)
            .into_iter()
            .filter(|o| ["SIG-001", "SIG-003", "NPL-001"].contains(&&*o.rule_id))
            .map(|o| (o.rule_id.to_string(), o.verdict.as_str().to_string()))
            .collect();
        (s, verdicts)
    }

    #[test]
    fn absent_keys_and_unreadable_flags_are_unknown_not_no() {
        let base =
            r#""maThuTuc": "1.000001", "tenThuTuc": "Cấp phép", "mucDo": {"name": "Toàn trình"}"#;
        // No signature or national-link keys at all: before, SIG-001 and NPL-001 failed.
        let (s, v) = list_api_verdicts(&format!("{{{base}}}"));
        assert_eq!(s.level, Level::Full, "{s:?}");
        assert_eq!(v["SIG-001"], "could_not_assess", "{v:?}");
        assert_eq!(v["NPL-001"], "could_not_assess", "{v:?}");
        // String flags: "0" is no (before: any non-empty string was yes).
        let (s, v) = list_api_verdicts(&format!(
            r#"{{{base}, "yeuCauKySo": "0", "nhaCungCapKySo": [], "dongBoDvcqg": "0"}}"#
        ));
        assert!(!s.signature.required && !s.national_portal_link, "{s:?}");
        assert_eq!(v["SIG-003"], "not_applicable", "{v:?}");
        assert_eq!(v["NPL-001"], "fail", "{v:?}");
        // A flag that is neither yes nor no is unknown.
        let (_, v) = list_api_verdicts(&format!(
            r#"{{{base}, "yeuCauKySo": "tuỳ hồ sơ", "nhaCungCapKySo": [], "dongBoDvcqg": true}}"#
        ));
        assert_eq!(v["SIG-003"], "could_not_assess", "{v:?}");
        assert_eq!(v["NPL-001"], "pass", "{v:?}");
        // Text carrying its editor's character references reads as the page would show it
        // (before: "To&agrave;n tr&igrave;nh" was no level); markup stays text.
        let (s, _) = list_api_verdicts(
            r#"{"maThuTuc": "1.000002", "tenThuTuc": "<p>Cấp ph&eacute;p</p>", "mucDo": {"name": "To&agrave;n tr&igrave;nh"}, "yeuCauKySo": false, "nhaCungCapKySo": [], "dongBoDvcqg": true}"#,
        );
        assert_eq!(
            (s.level, s.name.as_str()),
            (Level::Full, "<p>Cấp phép</p>"),
            "{s:?}"
        );
        // Providers as objects are read.
        let (s, v) = list_api_verdicts(&format!(
            r#"{{{base}, "yeuCauKySo": true, "nhaCungCapKySo": [{{"ten": "VGCA"}}], "dongBoDvcqg": "1"}}"#
        ));
        assert!(s.signature.providers.iter().any(|p| p == "vgca"), "{s:?}");
        assert_eq!(v["SIG-001"], "pass", "{v:?}");
        assert_eq!(v["NPL-001"], "pass", "{v:?}");
    }

    /// The bundled list-api profile's verdicts on one list-only item, every rule.
    fn list_api_all(item: &str) -> (ServiceFacts, std::collections::BTreeMap<String, String>) {
        let set = crate::profile::ProfileSet::bundled().unwrap_or_else(|e| panic!("{e:?}"));
        let p = set.get("list-api").expect("list-api profile");
        let v: Value = serde_json::from_str(item).expect("json");
        let fields = match &p.listing.source {
            crate::profile::ListSource::Json(j) => j.item_facts.as_ref(),
            crate::profile::ListSource::Html(_) => None,
        };
        let facts = read_json_item(p, fields, true, &v, "/data/0", "https://api.a.test/list");
        let s = list_only_service(
            "a",
            "https://dvc.a.test/tt/1",
            &facts,
            FetchFacts::default(),
        );
        let rules = match crate::rules::RuleSet::bundled() {
            Ok(l) => l.rules,
            Err(e) => panic!("{}", e.0.render(false)),
        };
        let agency = crate::rules::bench::synthetic_agency();
        let verdicts = rules
            .evaluate_service(&s, &agency)
            .into_iter()
            .map(|o| (o.rule_id.to_string(), o.verdict.as_str().to_string()))
            .collect();
        (s, verdicts)
    }

    #[test]
    fn a_list_only_item_whose_level_is_unrecognised_or_missing_is_not_judged_as_offline() {
        let tail = r#""yeuCauKySo": false, "nhaCungCapKySo": [], "dongBoDvcqg": false"#;
        // Recognised: judged (no VGCA, no national link).
        let (s, v) = list_api_all(&format!(
            r#"{{"maThuTuc": "1.000001", "tenThuTuc": "A", "mucDo": {{"name": "Toàn trình"}}, {tail}}}"#
        ));
        assert_eq!(s.level, Level::Full);
        assert!(s.unknown_fact("level").is_none(), "{:?}", s.unknown);
        assert_eq!(v["SIG-001"], "fail", "{v:?}");
        assert_eq!(v["NPL-001"], "fail", "{v:?}");
        assert_eq!(v["LVL-002"], "pass", "{v:?}");
        // A label no pattern matches: the level rules judge the label, the others cannot
        // tell whether the service is online (before: "not applicable", read as fixed).
        let (s, v) = list_api_all(&format!(
            r#"{{"maThuTuc": "1.000001", "tenThuTuc": "A", "mucDo": {{"name": "Đang cập nhật"}}, {tail}}}"#
        ));
        assert!(s.fetch.error.is_none());
        assert_eq!((s.level, s.level_unrecognised), (Level::Unknown, true));
        let why = s.unknown_fact("level").expect("level unknown");
        assert_eq!(why.kind, AssessReason::NoData);
        assert!(why.message.contains("Đang cập nhật"), "{}", why.message);
        for rule in ["SIG-001", "SIG-002", "NPL-001"] {
            assert_eq!(v[rule], "could_not_assess", "{rule}: {v:?}");
        }
        assert_eq!(v["LVL-001"], "pass", "{v:?}");
        assert_eq!(v["LVL-002"], "fail", "{v:?}");
        // No level field in the item: LVL-001 fails, the level is unknown.
        let (s, v) = list_api_all(&format!(
            r#"{{"maThuTuc": "1.000001", "tenThuTuc": "A", {tail}}}"#
        ));
        assert!(s.fetch.error.is_none());
        assert_eq!((s.level_label.as_str(), s.level_unrecognised), ("", false));
        let why = s.unknown_fact("level").expect("level unknown");
        assert!(why.message.contains("no level label"), "{}", why.message);
        for rule in ["SIG-001", "SIG-002", "NPL-001"] {
            assert_eq!(v[rule], "could_not_assess", "{rule}: {v:?}");
        }
        assert_eq!(v["LVL-001"], "fail", "{v:?}");
        assert_eq!(v["LVL-002"], "not_applicable", "{v:?}");
    }

    #[test]
    fn a_list_row_fills_the_level_a_detail_page_lacks_and_only_its_own_unknowns_hold() {
        let p = load(
            &LIST_ONLY
                .replace(
                    "item_url = \"{portal}/thu-tuc/{/id}\"",
                    "detail_url = \"{api}/detail/{/id}\"",
                )
                .replace(
                    "code = \"/code\"\n[[level]]",
                    "code = \"/code\"\nlevel = \"/muc\"\n[[level]]",
                ),
        );
        let vars = AgencyVars::new("a", "https://dvc.a.test").with("api", "https://api.a.test");
        let start = p.start_requests(&vars).expect("start").remove(0);
        let body = r#"{"data": {"items": [
            {"id": "a", "code": "1.000001", "level": "Toàn trình"},
            {"id": "b", "code": "1.000002", "level": "Đang cập nhật"},
            {"id": "c", "code": "1.000003"}
        ]}}"#;
        let mut state = ListState::new(&vars);
        let out = list_page(
            &p,
            &Page::from_body("https://api.a.test/list", body),
            &start,
            &mut state,
        );
        let facts = |i: usize, detail: &str| {
            let req = out.details.get(i).expect("detail request");
            let mut f = crate::extract::detail_page(&p, &Page::from_body(&req.url, detail), "a");
            req.hint.fill(&mut f);
            f
        };
        // The detail page has no level: it was unknown there, the row's recognised label
        // makes it known.
        let f = facts(0, r#"{"code": "1.000001"}"#);
        assert_eq!(f.level, Level::Full);
        assert!(f.unknown_fact("level").is_none(), "{:?}", f.unknown);
        assert!(f.online_submission);
        // The row's label matches no pattern: unknown, with the row's reason.
        let f = facts(1, r#"{"code": "1.000002"}"#);
        assert_eq!((f.level, f.level_unrecognised), (Level::Unknown, true));
        let why = f.unknown_fact("level").expect("level unknown");
        assert!(why.message.contains("Đang cập nhật"), "{}", why.message);
        // Neither the page nor the row has a label: unknown, "no level label".
        let f = facts(2, r#"{"code": "1.000003"}"#);
        assert_eq!(f.level_label, "");
        let why = f.unknown_fact("level").expect("level unknown");
        assert!(why.message.contains("no level label"), "{}", why.message);
        // The detail page's own recognised level wins over the row's unrecognised one.
        let f = facts(1, r#"{"code": "1.000002", "muc": "Một phần"}"#);
        assert_eq!((f.level, f.level_unrecognised), (Level::Partial, false));
        assert!(f.unknown_fact("level").is_none(), "{:?}", f.unknown);
    }
}
