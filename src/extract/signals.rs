//! Digital-signature signals: detection on one page, summary into [`SignatureFacts`], and
//! site-wide marking across a portal.
//!
//! A signal's evidence records its effect in `field` (`signature.supported` or
//! `signature.required`), so the summary can be recomputed from evidence alone after
//! [`mark_site_wide`] flags some of it.

use std::collections::BTreeSet;

use scraper::Html;
use serde_json::Value;

use super::html::{context, element_text};
use super::limits::{CONTEXT_CHARS, MAX_EVIDENCE_PER_PAGE};
use crate::facts::{Evidence, ServiceFacts, SignatureFacts, excerpt};
use crate::profile::{Effect, Profile, Signal, SignalKind};

pub(crate) const FIELD_SUPPORTED: &str = "signature.supported";
pub(crate) const FIELD_REQUIRED: &str = "signature.required";

fn evidence(sig: &Signal, url: &str, text: String) -> Evidence {
    Evidence {
        kind: sig.kind.as_str().to_string(),
        field: match sig.effect {
            Effect::Supports => FIELD_SUPPORTED,
            Effect::Requires => FIELD_REQUIRED,
        }
        .to_string(),
        locator: sig.locator.clone(),
        excerpt: excerpt(&text),
        url: url.to_string(),
        provider: sig.provider.clone(),
        site_wide: false,
    }
}

/// Find `re` in a page text (already NFC, as every extracted text is); return an excerpt
/// around the match.
fn find_in_text(re: &regex::Regex, text: &str) -> Option<String> {
    let m = re.find(text)?;
    Some(context(text, m.range(), CONTEXT_CHARS))
}

/// Signals on an HTML page. `sections` are the texts requirement-text signals read
/// (dossier, requirements); empty on list pages.
pub(crate) fn detect_html(
    profile: &Profile,
    doc: &Html,
    body: &str,
    url: &str,
    sections: &[&str],
) -> Vec<Evidence> {
    let mut out = Vec::new();
    for sig in &profile.signals {
        if out.len() >= MAX_EVIDENCE_PER_PAGE {
            break;
        }
        let hit = match sig.kind {
            SignalKind::ScriptSrc => script_src(sig, doc),
            SignalKind::JsLiteral => js_literal(sig, body),
            SignalKind::Control => control(sig, doc),
            SignalKind::RequirementText => requirement_text(sig, sections),
            SignalKind::JsonField => None,
        };
        if let Some(text) = hit {
            out.push(evidence(sig, url, text));
        }
    }
    out
}

/// Signals on a JSON page.
pub(crate) fn detect_json(
    profile: &Profile,
    json: &Value,
    body: &str,
    url: &str,
    sections: &[&str],
) -> Vec<Evidence> {
    let mut out = Vec::new();
    for sig in &profile.signals {
        if out.len() >= MAX_EVIDENCE_PER_PAGE {
            break;
        }
        let hit = match sig.kind {
            SignalKind::JsonField => json_field(sig, json),
            SignalKind::JsLiteral => js_literal(sig, body),
            SignalKind::RequirementText => requirement_text(sig, sections),
            SignalKind::ScriptSrc | SignalKind::Control => None,
        };
        if let Some(text) = hit {
            out.push(evidence(sig, url, text));
        }
    }
    out
}

/// `script[src]`, compiled once.
static SCRIPT_SRC: std::sync::LazyLock<Option<scraper::Selector>> =
    std::sync::LazyLock::new(|| scraper::Selector::parse("script[src]").ok());

fn script_src(sig: &Signal, doc: &Html) -> Option<String> {
    let re = sig.regex.as_ref()?;
    let sel = match &sig.selector {
        Some(c) => &c.selector,
        None => SCRIPT_SRC.as_ref()?,
    };
    doc.select(sel)
        .filter_map(|el| el.value().attr("src"))
        .find(|src| re.is_match(src))
        .map(str::to_string)
}

fn js_literal(sig: &Signal, body: &str) -> Option<String> {
    let m = sig.regex.as_ref()?.find(body)?;
    Some(context(body, m.range(), CONTEXT_CHARS))
}

fn control(sig: &Signal, doc: &Html) -> Option<String> {
    let sel = sig.selector.as_ref()?;
    for el in doc
        .select(&sel.selector)
        .take(super::limits::MAX_CONTAINERS)
    {
        let mut text = element_text(el, 500);
        if text.is_empty() {
            text = el.value().attr("value").unwrap_or_default().to_string();
        }
        match &sig.regex {
            None => return Some(if text.is_empty() { el.html() } else { text }),
            Some(re) => {
                if let Some(hit) = find_in_text(re, &text) {
                    return Some(hit);
                }
            }
        }
    }
    None
}

fn requirement_text(sig: &Signal, sections: &[&str]) -> Option<String> {
    let re = sig.regex.as_ref()?;
    let Some(unless) = &sig.unless else {
        return sections.iter().find_map(|s| find_in_text(re, s));
    };
    // The first match whose clause is not negated ("bản giấy, không yêu cầu chữ ký số").
    let clause_end = |c: char| matches!(c, '.' | ';' | ':' | ',' | '(' | ')' | '[' | ']' | '\n');
    sections.iter().find_map(|text| {
        re.find_iter(text)
            .take(MAX_MATCHES_PER_SECTION)
            .find_map(|m| {
                let start = text[..m.start()].rfind(clause_end).map_or(0, |i| i + 1);
                let end = text[m.end()..]
                    .find(clause_end)
                    .map_or(text.len(), |i| m.end() + i);
                let clause = text.get(start..end).unwrap_or_default();
                (!unless.is_match(clause)).then(|| context(text, m.range(), CONTEXT_CHARS))
            })
    })
}

/// Most matches of one requirement-text regex examined per section for an `unless` clause.
const MAX_MATCHES_PER_SECTION: usize = 64;

fn json_field(sig: &Signal, json: &Value) -> Option<String> {
    let v = json.pointer(sig.pointer.as_deref()?)?;
    match (v, &sig.regex) {
        (Value::String(s), Some(re)) => re
            .is_match(&crate::profile::text::json_text(s))
            .then(|| s.clone()),
        (Value::Array(items), Some(re)) => items.iter().find_map(|item| {
            // A provider named as a string, or inside an object (`{"ten": "VGCA"}`).
            let text = match item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            re.is_match(&crate::profile::text::json_text(&text))
                .then_some(text)
        }),
        (Value::Array(items), None) => (!items.is_empty()).then(|| v.to_string()),
        (v, _) => (json_flag(v) == Some(true)).then(|| v.to_string()),
    }
}

/// A JSON value read as a yes/no flag: a boolean, a number (non-zero is yes), or a string
/// from a closed set (`"true"`, `"1"`, `"có"` … / `"false"`, `"0"`, `"không"`, `""` …).
/// `None` for anything else (`null`, an object, `"maybe"`): not a flag the probe can read.
pub(crate) fn json_flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => {
            let s = crate::profile::text::clean(s).to_lowercase();
            match s.as_str() {
                "true" | "1" | "có" | "co" | "yes" | "y" | "x" => Some(true),
                "false" | "0" | "không" | "khong" | "no" | "n" | "" => Some(false),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether a JSON national-portal-link value says "linked": a yes flag, or a URL.
pub(crate) fn json_link(v: &Value) -> bool {
    json_flag(v) == Some(true)
        || v.as_str()
            .is_some_and(|s| s.trim_start().starts_with("http"))
}

/// What a JSON service record (a detail response or a list item) leaves unknown: the
/// signature when none of the profile's `json_field` signal pointers is in it (or a flag among
/// them cannot be read as yes/no), the national-portal link when its pointer is absent or not
/// a flag. An absent key is not a "no".
pub(crate) fn json_unknowns(profile: &Profile, json: &Value) -> Vec<crate::facts::UnknownFact> {
    use crate::facts::{AssessReason, UnknownFact};
    let mut out = Vec::new();
    let mut say = |fact: &str, kind: AssessReason, message: String| {
        out.push(UnknownFact {
            fact: fact.into(),
            kind,
            message,
            may_hold: Vec::new(),
        });
    };
    let pointers: Vec<&str> = profile
        .signals
        .iter()
        .filter(|s| s.kind == SignalKind::JsonField)
        .filter_map(|s| s.pointer.as_deref())
        .collect();
    if !pointers.is_empty() && pointers.iter().all(|p| json.pointer(p).is_none()) {
        let mut named = pointers.clone();
        named.dedup();
        say(
            "signature",
            AssessReason::NoData,
            format!(
                "none of the signature fields ({}) is in the record",
                named.join(", ")
            ),
        );
    } else if let Some((p, v)) = profile
        .signals
        .iter()
        .filter(|s| s.kind == SignalKind::JsonField && s.regex.is_none())
        .filter_map(|s| s.pointer.as_deref())
        .filter_map(|p| json.pointer(p).map(|v| (p, v)))
        .find(|(_, v)| !v.is_array() && json_flag(v).is_none())
    {
        say(
            "signature",
            AssessReason::Decode,
            format!("`{p}` is {}, neither yes nor no", excerpt(&v.to_string())),
        );
    }
    if let Some(crate::profile::Locator::Pointer(p)) = &profile.national_link {
        match json.pointer(p) {
            None => say(
                "national_portal_link",
                AssessReason::NoData,
                format!("`{p}` is not in the record"),
            ),
            Some(v) if json_flag(v).is_none() && !json_link(v) => say(
                "national_portal_link",
                AssessReason::Decode,
                format!("`{p}` is {}, neither yes nor no", excerpt(&v.to_string())),
            ),
            Some(_) => {}
        }
    }
    out
}

/// Recompute the signature summary from evidence: site-wide evidence counts in `site_wide` /
/// `site_wide_providers`, the rest in `supported` / `required` / `providers`.
pub fn summarise_signature(evidence: Vec<Evidence>) -> SignatureFacts {
    let mut providers = BTreeSet::new();
    let mut site_providers = BTreeSet::new();
    let mut sig = SignatureFacts::default();
    for e in &evidence {
        if e.site_wide {
            sig.site_wide = true;
            if !e.provider.is_empty() {
                site_providers.insert(e.provider.clone());
            }
            continue;
        }
        match e.field.as_str() {
            FIELD_SUPPORTED => sig.supported = true,
            FIELD_REQUIRED => sig.required = true,
            _ => {}
        }
        if !e.provider.is_empty() {
            providers.insert(e.provider.clone());
        }
    }
    sig.providers = providers.into_iter().collect();
    sig.site_wide_providers = site_providers.into_iter().collect();
    sig.evidence = evidence;
    sig
}

type Key = (String, String, String, String);

fn key(e: &Evidence) -> Key {
    (
        e.kind.clone(),
        e.field.clone(),
        e.locator.clone(),
        e.provider.clone(),
    )
}

/// The signals [`mark_site_wide`] would mark (see there).
fn site_wide_keys(services: &[ServiceFacts], list_pages: &[Vec<Evidence>]) -> BTreeSet<Key> {
    let Some((first, rest)) = list_pages.split_first() else {
        return BTreeSet::new();
    };
    let mut common: BTreeSet<Key> = first.iter().map(key).collect();
    for page in rest {
        let keys: BTreeSet<Key> = page.iter().map(key).collect();
        common.retain(|k| keys.contains(k));
    }
    for s in services.iter().filter(|s| s.fetch.error.is_none()) {
        let keys: BTreeSet<Key> = s.signature.evidence.iter().map(key).collect();
        common.retain(|k| keys.contains(k));
    }
    common
}

/// Whether [`mark_site_wide`] would change any service (some signal is on every page).
pub fn has_site_wide(services: &[ServiceFacts], list_pages: &[Vec<Evidence>]) -> bool {
    !site_wide_keys(services, list_pages).is_empty()
}

/// Mark signature signals present on **every** page of one portal as `site_wide`.
///
/// `list_pages` holds the signals of each list page ([`super::ListOutcome::signals`]). A signal
/// (same kind, effect, locator and provider) is site-wide when it is on every list page and on
/// the page of every service that was read (services whose `fetch.error` is set are left out).
/// Without at least one list page nothing is marked: a plugin on every detail page of a
/// portal whose every service offers signing is not distinguishable from a theme plugin.
pub fn mark_site_wide(services: &mut [ServiceFacts], list_pages: &[Vec<Evidence>]) {
    let common = site_wide_keys(services, list_pages);
    if common.is_empty() {
        return;
    }
    for s in services.iter_mut().filter(|s| s.fetch.error.is_none()) {
        let mut evidence = std::mem::take(&mut s.signature.evidence);
        for e in &mut evidence {
            if common.contains(&key(e)) {
                e.site_wide = true;
            }
        }
        s.signature = summarise_signature(evidence);
    }
}

/// A national-portal link as compared between pages: what it is and where it points.
type LinkKey = (String, String, String);

fn link_key(e: &Evidence) -> LinkKey {
    (e.kind.clone(), e.locator.clone(), e.excerpt.clone())
}

fn is_national(e: &Evidence) -> bool {
    e.field == "national_portal_link"
}

/// The national-portal links on every list page and on the page of every read service.
fn national_site_wide_keys(
    services: &[ServiceFacts],
    list_pages: &[Vec<Evidence>],
) -> BTreeSet<LinkKey> {
    let Some((first, rest)) = list_pages.split_first() else {
        return BTreeSet::new();
    };
    // One read page cannot tell its own link (also shown in its list row) from the portal's.
    let read = services.iter().filter(|s| s.fetch.error.is_none());
    if read.clone().nth(1).is_none() {
        return BTreeSet::new();
    }
    let mut common: BTreeSet<LinkKey> = first.iter().map(link_key).collect();
    for page in rest {
        let keys: BTreeSet<LinkKey> = page.iter().map(link_key).collect();
        common.retain(|k| keys.contains(k));
    }
    for s in services.iter().filter(|s| s.fetch.error.is_none()) {
        let keys: BTreeSet<LinkKey> = s
            .evidence
            .iter()
            .filter(|e| is_national(e))
            .map(link_key)
            .collect();
        common.retain(|k| keys.contains(k));
    }
    common
}

/// Whether [`mark_national_site_wide`] would change any service.
pub fn has_national_site_wide(services: &[ServiceFacts], list_pages: &[Vec<Evidence>]) -> bool {
    !national_site_wide_keys(services, list_pages).is_empty()
}

/// Mark national-portal links present on **every** page of one portal (every list page and
/// the page of every read service, as [`mark_site_wide`] does for signature signals) as
/// `site_wide`, and let only the others count as the service's link: a header or footer link
/// to dichvucong.gov.vn on every page says nothing about whether this service is linked with
/// the national portal, so a page whose only link is that one has no link of its own
/// (`national_portal_link = false`, the site-wide link kept as evidence). Without a list page,
/// or with fewer than two read services (whose own link may also be in its list row), nothing
/// is marked.
pub fn mark_national_site_wide(services: &mut [ServiceFacts], list_pages: &[Vec<Evidence>]) {
    let common = national_site_wide_keys(services, list_pages);
    if common.is_empty() {
        return;
    }
    for s in services.iter_mut().filter(|s| s.fetch.error.is_none()) {
        for e in s.evidence.iter_mut().filter(|e| is_national(e)) {
            if common.contains(&link_key(e)) {
                e.site_wide = true;
            }
        }
        s.national_portal_link = s.evidence.iter().any(|e| is_national(e) && !e.site_wide);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, provider: &str) -> Evidence {
        Evidence {
            kind: kind.into(),
            field: FIELD_SUPPORTED.into(),
            locator: "x".into(),
            provider: provider.into(),
            ..Evidence::default()
        }
    }

    fn service(evidence: Vec<Evidence>) -> ServiceFacts {
        ServiceFacts {
            signature: summarise_signature(evidence),
            ..ServiceFacts::default()
        }
    }

    fn link(href: &str) -> Evidence {
        Evidence {
            kind: "selector".into(),
            field: "national_portal_link".into(),
            locator: "a[href^=\"https://dichvucong.gov.vn\"]".into(),
            excerpt: format!("{href} Cổng DVC quốc gia"),
            ..Evidence::default()
        }
    }

    fn page(links: &[&str]) -> ServiceFacts {
        ServiceFacts {
            national_portal_link: !links.is_empty(),
            evidence: links.iter().map(|h| link(h)).collect(),
            ..ServiceFacts::default()
        }
    }

    #[test]
    fn a_national_link_on_every_page_is_not_a_services_own() {
        let home = "https://dichvucong.gov.vn/";
        let own = "https://dichvucong.gov.vn/?ma_thu_tuc=1";
        let lists = vec![vec![link(home)], vec![link(home)]];
        let mut services = vec![page(&[home]), page(&[home, own])];
        // A page that could not be read does not keep the footer from being site-wide.
        let mut unread = page(&[]);
        unread.fetch.error = Some(crate::facts::ErrorFact {
            kind: crate::facts::AssessReason::Timeout,
            message: "t".into(),
        });
        services.push(unread);
        assert!(has_national_site_wide(&services, &lists));
        mark_national_site_wide(&mut services, &lists);
        assert!(!services[0].national_portal_link);
        assert!(services[0].evidence[0].site_wide);
        assert!(services[1].national_portal_link);
        assert_eq!(
            services[1]
                .evidence
                .iter()
                .map(|e| e.site_wide)
                .collect::<Vec<_>>(),
            [true, false]
        );

        // Not on every page (a list page without it, a read page without it), or no list
        // page at all: nothing is marked.
        for (lists, services) in [
            (vec![vec![link(home)], vec![]], vec![page(&[home])]),
            (vec![vec![link(home)]], vec![page(&[home]), page(&[own])]),
            (vec![], vec![page(&[home]), page(&[home])]),
            // One read service: its own link may be in its list row too.
            (vec![vec![link(own)]], vec![page(&[own])]),
        ] {
            let mut services = services;
            assert!(!has_national_site_wide(&services, &lists));
            let before = services.clone();
            mark_national_site_wide(&mut services, &lists);
            assert_eq!(services, before);
        }
    }

    #[test]
    fn nothing_is_site_wide_without_list_pages() {
        let mut s = vec![service(vec![ev("script_src", "vgca")]); 3];
        mark_site_wide(&mut s, &[]);
        assert!(
            s.iter()
                .all(|s| s.signature.supported && !s.signature.site_wide)
        );
    }

    #[test]
    fn a_signal_missing_from_one_page_is_not_site_wide() {
        let mut s = vec![
            service(vec![ev("script_src", "vgca")]),
            service(vec![ev("script_src", "vgca")]),
        ];
        mark_site_wide(&mut s, &[vec![ev("script_src", "vgca")], vec![]]);
        assert!(s.iter().all(|s| !s.signature.site_wide));
        // A failed fetch does not count as a page without the signal.
        let mut failed = service(vec![]);
        failed.fetch.error = Some(crate::facts::ErrorFact {
            kind: crate::facts::AssessReason::Timeout,
            message: String::new(),
        });
        s.push(failed);
        mark_site_wide(&mut s, &[vec![ev("script_src", "vgca")]]);
        assert!(s[0].signature.site_wide && !s[0].signature.supported);
        assert_eq!(s[1].signature.site_wide_providers, vec!["vgca"]);
    }
}
