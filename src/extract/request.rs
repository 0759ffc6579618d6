//! Requests the profile asks the crawler to make, and the variables templates are filled with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profile::template::{Escape, RenderError, Template};
use crate::profile::{CounterKind, ListSource, Method, Pagination, Profile};

/// Template variables of one agency: `id`, `portal` (without a trailing `/`), the portal's
/// `portal_scheme`, `portal_host`, `portal_origin`, plus the agency's `[agency.vars]`.
///
/// A variable whose value is an `http(s)://` URL is a base like `portal`: its trailing `/` is
/// dropped, so `{api}/api/v1/...` never renders `//` whether the config wrote `api` with a
/// trailing slash (as copied from an app's `apiBase`) or without.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgencyVars {
    vars: BTreeMap<String, String>,
}

impl AgencyVars {
    pub fn new(id: &str, portal: &str) -> AgencyVars {
        let mut vars = BTreeMap::new();
        vars.insert("id".to_string(), id.to_string());
        let portal = portal.trim_end_matches('/').to_string();
        if let Ok(u) = url::Url::parse(&portal) {
            vars.insert("portal_scheme".into(), u.scheme().to_string());
            vars.insert(
                "portal_host".into(),
                u.host_str().unwrap_or_default().to_string(),
            );
            vars.insert("portal_origin".into(), u.origin().ascii_serialization());
        }
        vars.insert("portal".to_string(), portal);
        AgencyVars { vars }
    }

    /// Add or replace a variable (config `[agency.vars]`); URL values lose a trailing `/`.
    pub fn with(mut self, name: &str, value: &str) -> AgencyVars {
        self.vars.insert(name.to_string(), base_value(value));
        self
    }

    pub fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, vars: I) {
        self.vars
            .extend(vars.into_iter().map(|(k, v)| (k, base_value(&v))));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The hosts (lower-case) of the portal and of every URL-valued variable (an API base
    /// named in `[agency.vars]` is the agency's too).
    pub fn url_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .vars
            .values()
            .filter_map(|v| url::Url::parse(v).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

/// An `http(s)://` value is a base URL: drop its trailing `/` (other values are kept as given).
fn base_value(v: &str) -> String {
    let lower = v.get(..8).unwrap_or(v).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        v.trim_end_matches('/').to_string()
    } else {
        v.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageKind {
    List,
    Detail,
}

/// Where a list request stands in its chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPosition {
    /// Index of the start URL the chain began from.
    pub chain: usize,
    /// 1-based ordinal of this page in the chain.
    pub page: u32,
    /// Page index or offset sent (counter pagination).
    pub counter: i64,
    /// Cursor sent (cursor pagination).
    pub cursor: Option<String>,
}

/// One request for the crawler. A `body`, when present, is JSON (`application/json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    pub method: Method,
    pub url: String,
    pub body: Option<String>,
    pub kind: PageKind,
    /// Present on list requests.
    pub list: Option<ListPosition>,
    /// What the list said about the service (detail requests).
    pub hint: super::ServiceHint,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("template `{template}`: {source}")]
    Render {
        template: String,
        #[source]
        source: RenderError,
    },
    #[error("`{0}` is not an absolute http(s) URL")]
    BadUrl(String),
}

impl Profile {
    /// The first list request of every chain, filled in for one agency.
    pub fn start_requests(&self, vars: &AgencyVars) -> Result<Vec<PageRequest>, RequestError> {
        let mut out = Vec::new();
        for (chain, template) in self.listing.start.iter().enumerate() {
            let url = render(template, vars, &PaginationVars::default(), Escape::Url)?;
            let base = absolute(&url)?;
            let counter = match &self.listing.pagination {
                Pagination::Counter(c) => c.start,
                _ => 0,
            };
            let pos = ListPosition {
                chain,
                page: 1,
                counter,
                cursor: None,
            };
            out.push(list_request(self, vars, &base, pos)?);
        }
        Ok(out)
    }
}

/// Pagination values templates can use: `{page}`, `{offset}`, `{size}`, `{cursor}`.
#[derive(Debug, Clone, Default)]
pub(crate) struct PaginationVars {
    pub page: Option<i64>,
    pub offset: Option<i64>,
    pub size: Option<i64>,
    pub cursor: Option<String>,
}

pub(crate) fn render(
    t: &Template,
    vars: &AgencyVars,
    p: &PaginationVars,
    escape: Escape,
) -> Result<String, RequestError> {
    render_item(t, vars, p, None, escape)
}

pub(crate) fn render_item(
    t: &Template,
    vars: &AgencyVars,
    p: &PaginationVars,
    item: Option<&serde_json::Value>,
    escape: Escape,
) -> Result<String, RequestError> {
    let lookup = |name: &str| -> Option<String> {
        match name {
            "page" => p.page.map(|v| v.to_string()),
            "offset" => p.offset.map(|v| v.to_string()),
            "size" => p.size.map(|v| v.to_string()),
            "cursor" => Some(p.cursor.clone().unwrap_or_default()),
            other => vars.get(other).map(str::to_string),
        }
    };
    t.render(&lookup, item, escape)
        .map_err(|source| RequestError::Render {
            template: t.text.clone(),
            source,
        })
}

/// Parse an absolute http(s) URL.
pub(crate) fn absolute(url: &str) -> Result<url::Url, RequestError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
        _ => Err(RequestError::BadUrl(url.to_string())),
    }
}

/// Replace (or add) query parameter `name`.
pub(crate) fn set_param(url: &mut url::Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        q.append_pair(name, value);
    }
}

/// Build the list request at `pos` from the chain's URL `base`.
pub(crate) fn list_request(
    profile: &Profile,
    vars: &AgencyVars,
    base: &url::Url,
    pos: ListPosition,
) -> Result<PageRequest, RequestError> {
    let mut url = base.clone();
    let mut pv = PaginationVars {
        cursor: pos.cursor.clone(),
        ..PaginationVars::default()
    };
    match &profile.listing.pagination {
        Pagination::Counter(c) => {
            match c.kind {
                CounterKind::PageIndex => pv.page = Some(pos.counter),
                CounterKind::Offset => pv.offset = Some(pos.counter),
            }
            pv.size = c.size;
            if let Some(param) = &c.param {
                set_param(&mut url, param, &pos.counter.to_string());
            }
            if let (Some(sp), Some(size)) = (&c.size_param, c.size) {
                set_param(&mut url, sp, &size.to_string());
            }
        }
        Pagination::Cursor { param, .. } => {
            if let (Some(param), Some(cursor)) = (param, &pos.cursor) {
                set_param(&mut url, param, cursor);
            }
        }
        Pagination::None | Pagination::NextLink { .. } => {}
    }
    let (method, body) = match &profile.listing.source {
        ListSource::Json(j) => {
            let body = match &j.body {
                Some(t) => Some(render(t, vars, &pv, Escape::Json)?),
                None => None,
            };
            (j.method, body)
        }
        ListSource::Html(_) => (Method::Get, None),
    };
    Ok(PageRequest {
        method,
        url: url.to_string(),
        body,
        kind: PageKind::List,
        list: Some(pos),
        hint: super::ServiceHint::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_vars_are_bases_without_trailing_slash() {
        let mut v = AgencyVars::new("a", "https://dvc.a.test/");
        v.extend([
            ("api".to_string(), "https://api.a.test:8443/".to_string()),
            ("field".to_string(), "tu-phap/".to_string()),
        ]);
        assert_eq!(v.get("portal"), Some("https://dvc.a.test"));
        assert_eq!(v.get("api"), Some("https://api.a.test:8443"));
        assert_eq!(v.get("field"), Some("tu-phap/"));
        let v = v.with("api", "HTTP://x.test/v2/");
        assert_eq!(v.get("api"), Some("HTTP://x.test/v2"));
    }
}
