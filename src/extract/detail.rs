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
use crate::profile::{Field, FieldMap, Locator, Profile};

/// What a list said about a service, to fill in what its detail page lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceHint {
    pub code: String,
    pub name: String,
}

impl ServiceHint {
    /// Fill an empty code or name of `facts` from the hint.
    pub fn fill(&self, facts: &mut ServiceFacts) {
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

fn max_chars(f: Field) -> usize {
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
    let (signals, national, shell) = if json {
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
        let (level, label) = profile.levels.map(&f.text);
        facts.level = level;
        facts.level_label = label;
        push("level", f, &f.text);
    }
    facts.online_submission = matches!(facts.level, Level::Full | Level::Partial);
    if let Some(n) = national {
        facts.national_portal_link = true;
        evidence.push(Evidence {
            field: "national_portal_link".into(),
            url: url.clone(),
            ..n
        });
    }
    facts.evidence = evidence;
    facts.signature = summarise_signature(signals);
    let nothing = facts.code.is_empty() && facts.name.is_empty() && facts.level_label.is_empty();
    if nothing && facts.fetch.error.is_none() {
        let (kind, message) = match (shell, profile.has_api()) {
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
    facts
}

/// Code text → code: the first match of the profile's `code_pattern` (group 1 if it has one),
/// else the text itself, bounded.
fn pick_code(profile: &Profile, text: &str) -> String {
    if let Some(re) = &profile.detail.code_pattern
        && let Some(c) = re.captures(text)
        && let Some(m) = c.get(1).or_else(|| c.get(0))
    {
        return m.as_str().to_string();
    }
    text.chars().take(MAX_CODE_CHARS).collect()
}

/// Signals, national-link evidence, and what made the page unreadable: the shell marker seen
/// (HTML) or a JSON parse error.
type Read = (Vec<Evidence>, Option<Evidence>, Option<Unreadable>);

enum Unreadable {
    Shell(String),
    Json(String),
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
        for c in doc.select(&lv.container.selector).take(MAX_CONTAINERS) {
            let Some(label_el) = c.select(&lv.label.selector).next() else {
                continue;
            };
            let label = fold(&element_text(label_el, 300));
            let Some(field) = Field::ALL.into_iter().find(|f| {
                found.get(*f).is_none() && lv.labels.get(*f).is_some_and(|syn| syn.contains(&label))
            }) else {
                continue;
            };
            let Some(value_el) = c.select(&lv.value.selector).next() else {
                continue;
            };
            found.set(
                field,
                Found {
                    text: element_text(value_el, max_chars(field)),
                    kind: "label_value",
                    locator: format!(
                        "{} {{ {} = \"{}\" }} {}",
                        lv.container.text,
                        lv.label.text,
                        element_text(label_el, 100),
                        lv.value.text
                    ),
                },
            );
        }
    }
    let sections = sections(found);
    let signals = detect_html(profile, &doc, &page.body, page.base_url(), &sections);
    let national = match &profile.national_link {
        Some(Locator::Css(css)) => doc.select(&css.selector).next().map(|el| Evidence {
            kind: "selector".into(),
            locator: css.text.clone(),
            excerpt: excerpt(&format!(
                "{} {}",
                el.value().attr("href").unwrap_or_default(),
                element_text(el, 200)
            )),
            ..Evidence::default()
        }),
        _ => None,
    };
    let shell = profile
        .shell
        .as_ref()
        .filter(|m| doc.select(&m.selector).next().is_some())
        .map(|m| Unreadable::Shell(m.text.clone()));
    (signals, national, shell)
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
        Err(e) => return (Vec::new(), None, Some(Unreadable::Json(e.to_string()))),
    };
    if let Some(ptrs) = &profile.detail.json {
        for f in Field::ALL {
            let Some(p) = ptrs.get(f) else { continue };
            let Some(text) = json.pointer(p).and_then(scalar_text) else {
                continue;
            };
            let text: String = clean(&text).chars().take(max_chars(f)).collect();
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
            .filter(|v| matches!(v, Value::Bool(true)) || v.as_str().is_some_and(|s| !s.is_empty()))
            .map(|v| Evidence {
                kind: "json_field".into(),
                locator: p.clone(),
                excerpt: excerpt(&v.to_string()),
                ..Evidence::default()
            }),
        _ => None,
    };
    (signals, national, None)
}
