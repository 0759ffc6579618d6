//! Checks of `[listing]` and `[listing.pagination]`.

use toml::Spanned;

use super::Cx;
use crate::diag::Diagnostic;
use crate::profile::model::{PaginationKind, RawListing, RawPagination};
use crate::profile::template::Template;
use crate::profile::{
    Counter, CounterKind, HtmlListing, JsonListing, ListSource, Listing, Locator, Pagination,
    limits,
};

impl Cx {
    pub(super) fn listing(&mut self, raw: RawListing) -> Option<Listing> {
        let start: Vec<Template> = raw
            .start
            .get_ref()
            .iter()
            .filter_map(|t| self.template(t))
            .collect();
        if raw.start.get_ref().is_empty() {
            self.err(
                "profile::listing",
                raw.start.span(),
                "`start` needs at least one URL template",
                "empty",
            );
        }
        for t in raw.start.get_ref() {
            if Template::parse(t.get_ref()).is_ok_and(|t| t.uses_item()) {
                self.err(
                    "profile::template",
                    t.span(),
                    "a start URL cannot read a list item (`{/...}`)",
                    "no item here",
                );
            }
        }
        let max_pages = match raw.max_pages {
            None => limits::DEFAULT_MAX_PAGES,
            Some(m) => match u32::try_from(*m.get_ref()) {
                Ok(v) if (1..=limits::MAX_PAGES).contains(&v) => v,
                _ => {
                    self.err(
                        "profile::range",
                        m.span(),
                        format!("`max_pages` must be 1..={}", limits::MAX_PAGES),
                        "out of range",
                    );
                    limits::DEFAULT_MAX_PAGES
                }
            },
        };
        let is_json = raw.json.is_some();
        // Variables the list body template reads, so counter pagination can check it has a
        // way to send its counter.
        let body_vars: Vec<String> = raw
            .json
            .as_ref()
            .and_then(|j| j.get_ref().body.as_ref())
            .and_then(|b| Template::parse(b.get_ref()).ok())
            .map(|t| t.vars().map(str::to_string).collect())
            .unwrap_or_default();
        let source = match (raw.html, raw.json) {
            (Some(h), None) => {
                let link = self.css(&h.link);
                let item = self.opt_css(&h.item);
                let code = self.opt_css(&h.code);
                let name = self.opt_css(&h.name);
                let total = self.opt_css(&h.total);
                let container = self.opt_css(&h.container);
                let item_facts = h.item_facts.as_ref().map(|f| {
                    if h.item.is_none() {
                        self.err(
                            "profile::listing",
                            f.span(),
                            "`item_facts` are read inside each `item`: give [listing.html] `item`",
                            "no `item` for these",
                        );
                    }
                    self.fields_css(f.get_ref())
                });
                Some(ListSource::Html(HtmlListing {
                    link: link?,
                    attr: h
                        .attr
                        .map(|a| a.into_inner())
                        .unwrap_or_else(|| "href".into()),
                    item,
                    code,
                    name,
                    total,
                    container,
                    item_facts,
                }))
            }
            (None, Some(j)) => {
                let span = j.span();
                let j = j.into_inner();
                let items = self.pointer(&j.items);
                let detail_url = j.detail_url.as_ref().and_then(|t| self.template(t));
                let item_url = j.item_url.as_ref().and_then(|t| self.template(t));
                let body = j.body.as_ref().and_then(|b| self.template(b));
                let detail_body = j.detail_body.as_ref().and_then(|b| self.template(b));
                let code = self.opt_pointer(&j.code);
                let name = self.opt_pointer(&j.name);
                let total = self.opt_pointer(&j.total);
                let item_facts = j
                    .item_facts
                    .as_ref()
                    .map(|f| self.fields_pointer(f.get_ref()));
                // A POST detail may carry the item in its body instead (`{"id": "{/id}"}`).
                let body_reads_item = detail_body.as_ref().is_some_and(Template::uses_item);
                for (key, raw, parsed) in [
                    ("detail_url", &j.detail_url, &detail_url),
                    ("item_url", &j.item_url, &item_url),
                ] {
                    if let (Some(raw), Some(t)) = (raw, parsed)
                        && !t.uses_item()
                        && !(key == "detail_url" && body_reads_item)
                    {
                        self.err(
                            "profile::template",
                            raw.span(),
                            format!("`{key}` must read the item (e.g. `{{/id}}`), or every service gets the same URL"),
                            "no `{/...}`",
                        );
                    }
                }
                if j.detail_url.is_none() {
                    if j.item_url.is_none() {
                        self.err(
                            "profile::listing",
                            span.clone(),
                            "without `detail_url` the list item is the service: give `item_url` (its address, e.g. `{portal}/thu-tuc/{/id}`) and `item_facts`",
                            "in this listing",
                        );
                    }
                    if j.item_facts.is_none() {
                        self.err(
                            "profile::listing",
                            span.clone(),
                            "without `detail_url` the service's facts come from the list item: give `item_facts`",
                            "in this listing",
                        );
                    }
                }
                let _ = span;
                Some(ListSource::Json(JsonListing {
                    method: j.method.unwrap_or_default(),
                    body,
                    items: items?,
                    detail_url,
                    item_url,
                    item_facts,
                    detail_method: j.detail_method.unwrap_or_default(),
                    detail_body,
                    code,
                    name,
                    total,
                }))
            }
            _ => {
                self.err(
                    "profile::listing",
                    raw.start.span(),
                    "[listing] needs exactly one of [listing.html] or [listing.json]",
                    "in this listing",
                );
                None
            }
        };
        let kind_span = raw.pagination.as_ref().map(|p| p.kind.span());
        let pagination = match raw.pagination {
            None => Some(Pagination::None),
            Some(p) => self.pagination(p, is_json, &body_vars),
        };
        // A counter chain without `more` or a total ends on the first page with no service
        // link: without the list's container, that page cannot be told from a maintenance or
        // login page answered 200, so every run records the end as unconfirmed and the agency
        // as not fully assessed. Say so now rather than in every night's coverage.
        if let (Some(ListSource::Html(h)), Some(Pagination::Counter(c)), Some(span)) =
            (&source, &pagination, kind_span)
            && h.container.is_none()
            && h.total.is_none()
            && c.more.is_none()
        {
            self.diags.push(
                Diagnostic::warning(
                    "profile::listing-end",
                    "this listing is paged by a counter with no `more`, no `total` and no list `container`: its empty last page cannot be told from a maintenance or login page, so every run will record the end of the listing as unconfirmed (the agency not fully assessed)",
                )
                .at(&self.file, span, "counter pagination")
                .with_help(
                    "name the element that holds the list in [listing.html] `container` (present on the empty last page too), or a `more` selector, or the `total`",
                ),
            );
        }
        Some(Listing {
            start,
            max_pages,
            source: source?,
            pagination: pagination?,
        })
    }

    fn require<'a>(
        &mut self,
        kind: &Spanned<PaginationKind>,
        v: &'a Option<Spanned<String>>,
        key: &str,
    ) -> Option<&'a Spanned<String>> {
        if v.is_none() {
            self.err(
                "profile::pagination",
                kind.span(),
                format!("this pagination kind needs `{key}`"),
                "kind given here",
            );
        }
        v.as_ref()
    }

    fn pagination(
        &mut self,
        p: RawPagination,
        is_json: bool,
        body_vars: &[String],
    ) -> Option<Pagination> {
        let kind = *p.kind.get_ref();
        let more = match &p.more {
            Some(m) if is_json => self.pointer(m).map(Locator::Pointer),
            Some(m) => self.css(m).map(Locator::Css),
            None => None,
        };
        let positive = |cx: &mut Cx, v: &Option<Spanned<i64>>, key: &str| -> Option<i64> {
            let v = v.as_ref()?;
            if *v.get_ref() < 1 {
                cx.err(
                    "profile::range",
                    v.span(),
                    format!("`{key}` must be at least 1"),
                    "too small",
                );
                return None;
            }
            Some(*v.get_ref())
        };
        match kind {
            PaginationKind::None => Some(Pagination::None),
            PaginationKind::NextLink => {
                if is_json {
                    self.err(
                        "profile::pagination",
                        p.kind.span(),
                        "`next_link` reads a link from HTML; JSON listings use page_index, offset or cursor",
                        "not for JSON",
                    );
                }
                let sel = self.require(&p.kind, &p.selector, "selector")?;
                let selector = self.css(sel)?;
                Some(Pagination::NextLink {
                    selector,
                    attr: p
                        .attr
                        .map(|a| a.into_inner())
                        .unwrap_or_else(|| "href".into()),
                })
            }
            PaginationKind::PageIndex | PaginationKind::Offset => {
                let size = positive(self, &p.size, "size");
                let step = if kind == PaginationKind::Offset {
                    match positive(self, &p.step, "step").or(size) {
                        Some(s) => s,
                        None => {
                            self.err(
                                "profile::pagination",
                                p.kind.span(),
                                "`offset` pagination needs `step` (or `size`)",
                                "kind given here",
                            );
                            return None;
                        }
                    }
                } else {
                    1
                };
                let var = if kind == PaginationKind::Offset {
                    "offset"
                } else {
                    "page"
                };
                if p.param.is_none() && !body_vars.iter().any(|v| v == var) {
                    self.err(
                        "profile::pagination",
                        p.kind.span(),
                        format!(
                            "this pagination needs `param` (a query parameter) or a list `body` that uses `{{{var}}}`"
                        ),
                        "kind given here",
                    );
                }
                Some(Pagination::Counter(Counter {
                    kind: if kind == PaginationKind::Offset {
                        CounterKind::Offset
                    } else {
                        CounterKind::PageIndex
                    },
                    param: p.param.map(|s| s.into_inner()),
                    start: p
                        .start
                        .unwrap_or(if kind == PaginationKind::Offset { 0 } else { 1 }),
                    step,
                    size_param: p.size_param.map(|s| s.into_inner()),
                    size,
                    more,
                }))
            }
            PaginationKind::Cursor => {
                if !is_json {
                    self.err(
                        "profile::pagination",
                        p.kind.span(),
                        "`cursor` pagination reads the cursor from JSON; use it with [listing.json]",
                        "not for HTML",
                    );
                }
                let c = self.require(&p.kind, &p.cursor, "cursor")?;
                let cursor = self.pointer(c)?;
                let last = self.opt_pointer(&p.last);
                Some(Pagination::Cursor {
                    cursor,
                    param: p.param.map(|s| s.into_inner()),
                    last,
                })
            }
        }
    }
}
