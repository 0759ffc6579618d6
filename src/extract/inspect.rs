//! What a profile extracts from one page, for people writing profiles
//! (`dvc-audit profile test`). Builds a serialisable [`Inspection`] and renders it as text;
//! the CLI prints it.

use std::fmt::Write as _;

use serde::Serialize;

use super::request::{ListPosition, PageKind, PageRequest};
use super::{ListOutcome, ListState, Page, ServiceHint, detail_page, list_page};
use crate::facts::{ServiceFacts, excerpt};
use crate::profile::{Method, Pagination, Profile};

/// Read the page as a list page, a detail page, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadAs {
    #[default]
    Both,
    List,
    Detail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub profile: String,
    pub origin: String,
    pub url: String,
    pub bytes: usize,
    pub list: Option<ListOutcome>,
    pub detail: Option<ServiceFacts>,
    /// Where each value read as a detail page came from (field, source, locator).
    pub sources: Vec<FieldSource>,
}

/// One value's origin: the detail page itself, or the list item that carried it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldSource {
    /// `code`, `name`, `level`, `national_portal_link`, `signature.supported`, ...
    pub field: String,
    /// `detail` or `list`.
    pub source: &'static str,
    /// How it was read: `label_value`, `selector`, `json_field`, `script_src`, ...
    pub kind: String,
    pub locator: String,
    pub url: String,
    pub excerpt: String,
}

fn sources(f: &ServiceFacts) -> Vec<FieldSource> {
    f.evidence
        .iter()
        .chain(&f.signature.evidence)
        .map(|e| {
            let (source, kind) = match e.kind.strip_prefix(super::LIST_KIND_PREFIX) {
                Some(k) => ("list", k.to_string()),
                None if e.kind == "list_item" => ("list", e.kind.clone()),
                None => ("detail", e.kind.clone()),
            };
            FieldSource {
                field: e.field.clone(),
                source,
                kind,
                locator: e.locator.clone(),
                url: e.url.clone(),
                excerpt: e.excerpt.clone(),
            }
        })
        .collect()
}

/// Run the profile over one page, the page's URL standing for the portal.
pub fn inspect(profile: &Profile, page: &Page, agency_id: &str, read_as: ReadAs) -> Inspection {
    let vars = super::AgencyVars::new(agency_id, page.base_url());
    inspect_with(profile, page, agency_id, &vars, read_as)
}

/// Run the profile over one page with an agency's template variables (its portal and
/// `[agency.vars]`, as a run has them).
pub fn inspect_with(
    profile: &Profile,
    page: &Page,
    agency_id: &str,
    vars: &super::AgencyVars,
    read_as: ReadAs,
) -> Inspection {
    let list = matches!(read_as, ReadAs::Both | ReadAs::List).then(|| {
        let counter = match &profile.listing.pagination {
            Pagination::Counter(c) => c.start,
            _ => 0,
        };
        let request = PageRequest {
            method: Method::Get,
            url: page.url.clone(),
            body: None,
            kind: PageKind::List,
            list: Some(ListPosition {
                chain: 0,
                page: 1,
                counter,
                cursor: None,
            }),
            hint: ServiceHint::default(),
        };
        let mut state = ListState::new(vars);
        list_page(profile, page, &request, &mut state)
    });
    let detail = matches!(read_as, ReadAs::Both | ReadAs::Detail)
        .then(|| detail_page(profile, page, agency_id));
    Inspection {
        profile: profile.id.clone(),
        origin: profile.origin.clone(),
        url: page.url.clone(),
        bytes: page.body.len(),
        list,
        sources: detail.as_ref().map(sources).unwrap_or_default(),
        detail,
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn list_or_dash(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

impl Inspection {
    /// A readable report (at most `max_rows` services listed).
    pub fn render_text(&self, max_rows: usize) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "profile  {} ({})", self.profile, self.origin);
        let _ = writeln!(o, "page     {} ({} bytes)", self.url, self.bytes);
        if let Some(l) = &self.list {
            let _ = writeln!(o, "\nAs a list page");
            let total = l.total.map_or("-".to_string(), |t| t.to_string());
            let _ = writeln!(
                o,
                "  services found  {} (total announced: {total})",
                l.details.len()
            );
            for (i, d) in l.details.iter().take(max_rows).enumerate() {
                let item = d.hint.item.as_deref();
                let code = item
                    .map(|i| i.code.as_str())
                    .filter(|c| !c.is_empty())
                    .unwrap_or(d.hint.code.as_str());
                let name = item
                    .map(|i| i.name.as_str())
                    .filter(|c| !c.is_empty())
                    .unwrap_or(d.hint.name.as_str());
                let hint = [code, name]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("  ");
                let _ = writeln!(o, "  {:>3}  {}  {}", i + 1, d.url, excerpt(&hint));
                if let Some(item) = &d.hint.item {
                    let level = if item.level_label.is_empty() {
                        "-".to_string()
                    } else {
                        format!("{} (\"{}\")", item.level.as_str(), item.level_label)
                    };
                    let _ = writeln!(
                        o,
                        "       from the list item {}: level {level}, {} signal(s){}",
                        item.item.locator,
                        item.signals.len(),
                        if item.only {
                            ", no detail page (the item is the service)"
                        } else {
                            ""
                        }
                    );
                }
            }
            if l.details.len() > max_rows {
                let _ = writeln!(o, "  ... {} more", l.details.len() - max_rows);
            }
            match &l.next {
                Some(n) => {
                    let _ = writeln!(o, "  next page       {} {}", method(n.method), n.url);
                }
                None => {
                    let _ = writeln!(o, "  next page       none");
                }
            }
            for n in &l.notes {
                let _ = writeln!(o, "  note            {n}");
            }
            for e in &l.signals {
                let _ = writeln!(
                    o,
                    "  signal          {} {} [{}] {}",
                    e.kind,
                    if e.provider.is_empty() {
                        "-"
                    } else {
                        &e.provider
                    },
                    e.locator,
                    e.excerpt
                );
            }
            if let Some(r) = l.could_not_assess {
                let _ = writeln!(o, "  COULD NOT ASSESS: {r}");
            }
        }
        if let Some(f) = &self.detail {
            let _ = writeln!(o, "\nAs a detail page");
            let _ = writeln!(o, "  code            {}", dash(&f.code));
            let _ = writeln!(o, "  name            {}", dash(&f.name));
            let _ = writeln!(
                o,
                "  level           {} (label: {})",
                f.level.as_str(),
                if f.level_label.is_empty() {
                    "none".into()
                } else {
                    format!("\"{}\"", f.level_label)
                }
            );
            let _ = writeln!(o, "  online          {}", yes(f.online_submission));
            let _ = writeln!(o, "  national link   {}", yes(f.national_portal_link));
            let s = &f.signature;
            let _ = writeln!(
                o,
                "  signature       required {}, supported {}, providers {}, site-wide {} ({})",
                yes(s.required),
                yes(s.supported),
                list_or_dash(&s.providers),
                yes(s.site_wide),
                list_or_dash(&s.site_wide_providers)
            );
            if let Some(e) = &f.fetch.error {
                let _ = writeln!(o, "  COULD NOT ASSESS: {} ({})", e.kind, e.message);
            }
            for u in &f.unknown {
                let _ = writeln!(o, "  UNKNOWN {:<23} {} ({})", u.fact, u.kind, u.message);
            }
            let _ = writeln!(o, "  evidence");
            for e in f.evidence.iter().chain(&s.evidence) {
                let _ = writeln!(
                    o,
                    "    {:<20} {:<16} {:<10} {}\n    {:<20} {}",
                    e.field,
                    e.kind,
                    if e.provider.is_empty() {
                        "-"
                    } else {
                        &e.provider
                    },
                    excerpt(&e.excerpt),
                    "",
                    e.locator
                );
            }
            let _ = writeln!(o, "  sha256          {}", f.fetch.sha256);
        }
        o
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn method(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
    }
}

/// Decode page bytes read from a file as the crawler decodes a page without a `Content-Type`
/// charset (BOM, `<meta>`, UTF-8, then detection, TCVN3 included); when no charset reads it
/// cleanly, the encoding `chardetng` guesses, errors and all (a file is shown, not assessed).
pub fn decode_bytes(bytes: &[u8]) -> String {
    if let Ok(d) = crate::crawl::body::decode_text(bytes, "", Some(b"vn")) {
        return d.text;
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(bytes, true);
    let enc = det.guess(None, true);
    enc.decode(bytes).0.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A saved page of a `.VnTime` site reads as the crawler would read it, not as mojibake.
    #[test]
    fn a_tcvn3_file_reads_as_vietnamese() {
        let text = "Mức độ 4: dịch vụ công trực tuyến toàn trình";
        let mut page = b"<font face=\".VnTime\">".to_vec();
        page.extend(crate::crawl::tcvn3::encode_html(text));
        assert_eq!(
            decode_bytes(&page),
            format!("<font face=\".VnTime\">{text}")
        );
        assert_eq!(decode_bytes(text.as_bytes()), text);
    }

    /// A national-portal API detail: code and name read, the level (no field in the API) shown
    /// as unknown, not as "none published".
    #[test]
    fn a_detail_shows_what_the_profile_cannot_observe() {
        let set = crate::profile::ProfileSet::bundled().unwrap_or_else(|e| panic!("{e:?}"));
        let profile = set.get("dvcqg-api").unwrap_or_else(|| panic!("dvcqg-api"));
        let page = Page::from_body(
            "https://dichvucong.gov.vn/api/v1/configuring/formality/get-formality-by-citizen",
            r#"{"data": {"codeNotation": "1.001234", "name": "Cấp phép"}}"#,
        );
        let i = inspect(profile, &page, "vpcp", ReadAs::Detail);
        let facts = i
            .detail
            .as_ref()
            .unwrap_or_else(|| panic!("read as detail"));
        assert_eq!(facts.code, "1.001234");
        assert!(facts.unknown_fact("level_label").is_some(), "{facts:?}");
        let text = i.render_text(10);
        assert!(text.contains("UNKNOWN level "), "{text}");
        assert!(text.contains("unobservable"), "{text}");
    }
}
