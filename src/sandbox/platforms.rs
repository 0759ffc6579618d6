//! The newer platform shapes (`Size::Platforms`): dt/dd siblings, a list-only POST JSON API,
//! the national portal's JSON API, OpenCPS REST, Liferay portlet tables and the iGate shell.
//! Markup, URLs and JSON exactly as docs/sandbox-world.md ("Platform shapes") describes; the
//! public facts behind each are in `../shared/platforms.md`, and where that material says
//! nothing the sandbox picks a shape and the doc and the profile say so.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::catalog;
use super::overrides::Overrides;
use super::render::{self, esc};
use super::routes::{HTML, JSON, Reply};
use super::service::{self, DVCQG_DETAIL, DVCQG_LIST, LIST_API_SEARCH, ServiceSpec};
use super::world::{AgencySpec, Shape};
use crate::facts::Level;

/// Services per list page: dt/dd list, Liferay list (6, as seen on the old Đà Nẵng portal).
const DL_PAGE: usize = 5;
const LIFERAY_PAGE: usize = 6;
/// Upper bound of a page size a client asks for.
const MAX_PAGE: usize = 200;

fn num(q: &[(String, String)], key: &str) -> Option<usize> {
    q.iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
}

fn get<'q>(q: &'q [(String, String)], key: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn method_not_allowed() -> Reply {
    Reply::status(
        StatusCode::METHOD_NOT_ALLOWED,
        "Phương thức không được hỗ trợ (405)\n",
    )
}

fn bad_request(what: &str) -> Reply {
    Reply::status(StatusCode::BAD_REQUEST, &format!("{what}\n"))
}

/// A POST reply (never cached: the crawler sends validators on GETs only).
fn post_json(v: &Value) -> Reply {
    let mut r = Reply::ok(JSON, v.to_string());
    r.cacheable = false;
    r
}

/// Route a request to an agency of one of the platform shapes. `post` is the request body of
/// a POST (`None` for GET/HEAD). `api_base` is the agency's API origin (list-api shell).
pub(crate) fn route(
    o: &Overrides,
    a: &AgencySpec,
    api_host: bool,
    path: &str,
    q: &[(String, String)],
    post: Option<&[u8]>,
    api_base: &str,
) -> Reply {
    let body: Option<Value> = match post {
        Some(b) => match serde_json::from_slice(b) {
            Ok(v) => Some(v),
            Err(_) => return bad_request("thân yêu cầu không phải JSON"),
        },
        None => None,
    };
    let svc = |raw: &str| service::parse_id(a, raw).and_then(|i| o.service_at(a.index, i));
    match (a.shape, api_host, path, &body) {
        // (d) dt/dd siblings.
        (Shape::Dl, false, "/", None) => Reply::ok(HTML, home(a, "/tthc/danh-sach?trang=1")),
        (Shape::Dl, false, "/tthc/danh-sach", None) => {
            Reply::ok(HTML, dl_list(o, a, num(q, "trang").unwrap_or(1).max(1)))
        }
        (Shape::Dl, false, "/tthc/chi-tiet", None) => match get(q, "ma").and_then(svc) {
            Some(s) => Reply::ok(HTML, dl_detail(a, &s)),
            None => Reply::not_found(),
        },
        // (e) list-only POST JSON API.
        (Shape::ListApi, false, p, None) if p == "/" || p.starts_with("/dich-vu-cong") => {
            Reply::ok(HTML, render::spa_shell(a, Some(api_base)))
        }
        (Shape::ListApi, true, LIST_API_SEARCH, Some(b)) => match cursor_page(o, a, b) {
            Ok((items, last)) => post_json(&json!({
                "data": {
                    "items": items.iter().map(|s| list_api_item(a, s)).collect::<Vec<_>>(),
                    "lastId": last,
                }
            })),
            Err(r) => r,
        },
        // (f) the national portal's API.
        (Shape::Dvcqg, false, p, None) if p == "/" || p.starts_with("/thu-tuc-hanh-chinh") => {
            Reply::ok(HTML, react_shell(a))
        }
        (Shape::Dvcqg, false, DVCQG_LIST, Some(b)) => match cursor_page(o, a, b) {
            Ok((items, last)) => post_json(&json!({
                "data": {
                    "items": items.iter().map(|s| dvcqg_item(a, s)).collect::<Vec<_>>(),
                    "lastId": last,
                }
            })),
            Err(r) => r,
        },
        (Shape::Dvcqg, false, DVCQG_DETAIL, Some(b)) => {
            match b.get("id").and_then(Value::as_str).and_then(svc) {
                Some(s) => post_json(&json!({ "data": dvcqg_detail(a, &s) })),
                None => Reply::status(StatusCode::NOT_FOUND, "{\"error\":\"not found\"}\n"),
            }
        }
        // (g) OpenCPS REST.
        (Shape::Opencps, false, "/", None) => Reply::ok(HTML, home(a, "/o/rest/v2/serviceinfos")),
        (Shape::Opencps, false, "/o/rest/v2/serviceinfos", None) => {
            let start = num(q, "start").unwrap_or(0);
            let size = num(q, "size").unwrap_or(20).clamp(1, MAX_PAGE);
            let end = start.saturating_add(size).min(a.service_count);
            let data: Vec<Value> = (start.min(end)..end)
                .filter_map(|i| o.service_at(a.index, i))
                .map(|s| opencps_item(&s))
                .collect();
            Reply::ok(
                JSON,
                json!({ "total": a.service_count, "data": data }).to_string(),
            )
        }
        (Shape::Opencps, false, p, None) if p.starts_with("/o/rest/v2/serviceinfos/") => {
            match p.rsplit('/').next().and_then(svc) {
                Some(s) => Reply::ok(JSON, opencps_item(&s).to_string()),
                None => Reply::status(StatusCode::NOT_FOUND, "{\"error\":\"not found\"}\n"),
            }
        }
        // (h) Liferay portlet tables.
        (Shape::Liferay, false, "/", None) => Reply::ok(
            HTML,
            home(
                a,
                "/dich-vu-cong?p_p_id=dichvucong_WAR_dngdvcportlet&amp;mucDo=-1&amp;count=0",
            ),
        ),
        (Shape::Liferay, false, "/dich-vu-cong", None) => {
            Reply::ok(HTML, liferay_list(o, a, num(q, "count").unwrap_or(0)))
        }
        (Shape::Liferay, false, "/dich-vu-cong/chi-tiet", None) => {
            match get(q, "id").and_then(svc) {
                Some(s) => Reply::ok(HTML, liferay_detail(a, &s)),
                None => Reply::not_found(),
            }
        }
        // (i) iGate: every page is the Angular shell.
        (Shape::Igate, false, p, None) if p == "/" || p.starts_with("/vi/procedure") => {
            Reply::ok(HTML, angular_shell(a))
        }
        (_, _, _, Some(_)) => method_not_allowed(),
        (Shape::ListApi, true, LIST_API_SEARCH, None)
        | (Shape::Dvcqg, false, DVCQG_LIST | DVCQG_DETAIL, None) => method_not_allowed(),
        _ => Reply::not_found(),
    }
}

/// One page of a `lastId` cursor list: services after the one whose id is `lastId` (from the
/// start when absent, empty or null), at most `limit` (default 20, clamped to 1..=200); the
/// cursor is the last id of the page, `null` on an empty page.
fn cursor_page(
    o: &Overrides,
    a: &AgencySpec,
    body: &Value,
) -> Result<(Vec<ServiceSpec>, Value), Reply> {
    let limit = body
        .get("limit")
        .and_then(Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(20)
        .clamp(1, MAX_PAGE);
    let start = match body.get("lastId").and_then(Value::as_str) {
        None | Some("") => 0,
        Some(raw) => match service::parse_id(a, raw) {
            Some(i) => i.saturating_add(1),
            None => return Err(bad_request("lastId không hợp lệ")),
        },
    };
    let end = start.saturating_add(limit).min(a.service_count);
    let items: Vec<ServiceSpec> = (start.min(end)..end)
        .filter_map(|i| o.service_at(a.index, i))
        .collect();
    let last = items
        .last()
        .map_or(Value::Null, |s| Value::String(service::spa_id(a, s.index)));
    Ok((items, last))
}

fn home(a: &AgencySpec, list: &str) -> String {
    page(
        a,
        "Cổng dịch vụ công",
        &format!(
            "<h1>Cổng dịch vụ công</h1>\n<a class=\"ds-tthc\" href=\"{list}\">Thủ tục hành chính</a>"
        ),
    )
}

fn page(a: &AgencySpec, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\n<title>{} - {}</title>\n</head><body>\n{body}\n<div class=\"footer\">Cổng dịch vụ công {}</div>\n</body></html>\n",
        esc(title),
        esc(&a.name),
        esc(&a.name),
    )
}

fn react_shell(a: &AgencySpec) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{}</title><script type=\"module\" src=\"/assets/index.js\"></script></head><body>\n<div id=\"root\"></div>\n</body></html>\n",
        esc(&a.name)
    )
}

fn angular_shell(a: &AgencySpec) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{}</title><base href=\"/\"></head><body>\n<app-root></app-root>\n<script src=\"/static/js/main.js\" type=\"module\"></script>\n</body></html>\n",
        esc(&a.name)
    )
}

/// `/tthc/danh-sach?trang=<n>`: `div.tthc-item a.tthc-link`, next page `a.trang-sau`.
fn dl_list(o: &Overrides, a: &AgencySpec, page_no: usize) -> String {
    let start = page_no.saturating_sub(1).saturating_mul(DL_PAGE);
    let end = start.saturating_add(DL_PAGE).min(a.service_count);
    let mut items = String::new();
    for i in start.min(end)..end {
        if let Some(s) = o.service_at(a.index, i) {
            items.push_str(&format!(
                "<div class=\"tthc-item\"><a class=\"tthc-link\" href=\"/tthc/chi-tiet?ma={}\">{}</a></div>\n",
                service::dl_id(i),
                esc(&s.name)
            ));
        }
    }
    let next = if end < a.service_count {
        format!(
            "<a class=\"trang-sau\" href=\"/tthc/danh-sach?trang={}\">Trang sau</a>",
            page_no + 1
        )
    } else {
        String::new()
    };
    page(
        a,
        "Thủ tục hành chính",
        &format!("<div class=\"ds-tthc\">\n{items}</div>\n{next}"),
    )
}

/// `/tthc/chi-tiet?ma=<n>`: `h1.ten-tthc`; `dl.thong-tin` of `dt` labels each followed by one
/// or more `dd` values (the dossier has one `dd` per document).
fn dl_detail(a: &AgencySpec, s: &ServiceSpec) -> String {
    let mut rows = vec![
        ("Mã thủ tục".to_string(), vec![esc(&s.code)]),
        ("Lĩnh vực".to_string(), vec![esc(&s.field)]),
        (
            "Cơ quan thực hiện".to_string(),
            vec![esc(catalog::executing_body(a.kind))],
        ),
    ];
    if !s.level_label.is_empty() {
        rows.push(("Mức độ".to_string(), vec![esc(&s.level_label)]));
    }
    let dossier = render::dossier_text(s);
    let docs: Vec<String> = dossier
        .split_inclusive(". ")
        .map(|d| esc(d.trim()))
        .collect();
    rows.push(("Thành phần hồ sơ".to_string(), docs));
    rows.push(("Yêu cầu, điều kiện".to_string(), vec!["Không".to_string()]));
    let dl: String = rows
        .iter()
        .map(|(l, vs)| {
            let dds: String = vs.iter().map(|v| format!("<dd>{v}</dd>")).collect();
            format!("<dt>{l}:</dt>{dds}\n")
        })
        .collect();
    page(
        a,
        &s.name,
        &format!(
            "<h1 class=\"ten-tthc\">{}</h1>\n<dl class=\"thong-tin\">\n{dl}</dl>\n<div class=\"thao-tac\">\n{}{}</div>",
            esc(&s.name),
            render::signature_html(s),
            render::national_html(s)
        ),
    )
}

/// An item of the list-only API: every fact the portal publishes about the service.
fn list_api_item(a: &AgencySpec, s: &ServiceSpec) -> Value {
    let level = if s.level_label.is_empty() {
        Value::Null
    } else {
        json!({ "name": s.level_label })
    };
    json!({
        "id": service::spa_id(a, s.index),
        "maThuTuc": s.code,
        "tenThuTuc": s.name,
        "linhVuc": s.field,
        "mucDo": level,
        "yeuCauKySo": s.signature_required,
        "nhaCungCapKySo": s.providers.iter().map(|p| p.json_name()).collect::<Vec<_>>(),
        "thanhPhanHoSo": render::dossier_text(s),
        "dongBoDvcqg": s.national_portal_link,
    })
}

/// A list item of the national portal's API (fields as seen in public material).
fn dvcqg_item(a: &AgencySpec, s: &ServiceSpec) -> Value {
    json!({
        "id": service::spa_id(a, s.index),
        "code": s.code,
        "name": s.name,
        "type": 1,
        "categories": [{ "name": s.field }],
        "departments": [{ "name": a.name }],
    })
}

/// The detail of the national portal's API (fields as seen; no level, no signature field).
fn dvcqg_detail(a: &AgencySpec, s: &ServiceSpec) -> Value {
    json!({
        "id": service::spa_id(a, s.index),
        "codeNotation": s.code,
        "name": s.name,
        "formalityType": 1,
        "isWard": false,
        "isProvince": true,
        "isMinistry": false,
        "isOtherAgency": false,
        "executingAgencies": [{ "name": catalog::executing_body(a.kind) }],
        "departmentPromulgateName": a.name,
    })
}

/// An OpenCPS service info: `maxLevel` 2/3/4 (null when none is published).
fn opencps_item(s: &ServiceSpec) -> Value {
    let max_level = match (s.level_label.is_empty(), s.level) {
        (true, _) => Value::Null,
        (false, Level::Full) => json!(4),
        (false, Level::Partial) => json!(3),
        (false, _) => json!(2),
    };
    json!({
        "serviceInfoId": service::opencps_id(s.index),
        "serviceCode": s.code,
        "serviceName": s.name,
        "domainName": s.field,
        "maxLevel": max_level,
    })
}

/// `/dich-vu-cong?p_p_id=dichvucong_WAR_dngdvcportlet&mucDo=-1&count=<offset>`: 6 per page,
/// links under `li div div.tb-td-3 a`; a page past the end is empty.
fn liferay_list(o: &Overrides, a: &AgencySpec, offset: usize) -> String {
    let end = offset.saturating_add(LIFERAY_PAGE).min(a.service_count);
    let mut rows = String::new();
    for i in offset.min(end)..end {
        if let Some(s) = o.service_at(a.index, i) {
            rows.push_str(&format!(
                "<li><div class=\"tb-tr\"><div class=\"tb-td-1\">{}</div><div class=\"tb-td-3\"><a href=\"/dich-vu-cong/chi-tiet?p_p_id=dichvucong_WAR_dngdvcportlet&amp;id={}\">{}</a></div><div class=\"tb-td-4\">{}</div></div></li>\n",
                i + 1,
                service::liferay_id(i),
                esc(&s.name),
                esc(&s.field)
            ));
        }
    }
    page(
        a,
        "Dịch vụ công",
        &format!("<div class=\"portlet-body\"><ul class=\"ds-dvc\">\n{rows}</ul></div>"),
    )
}

/// `/dich-vu-cong/chi-tiet?...&id=<n>`: `h2.tieude-h2`; `table.table` rows of a `td.td-1`
/// label and the value cell after it.
fn liferay_detail(a: &AgencySpec, s: &ServiceSpec) -> String {
    let mut rows = vec![
        ("Mã thủ tục", esc(&s.code)),
        ("Lĩnh vực", esc(&s.field)),
        ("Cơ quan thực hiện", esc(catalog::executing_body(a.kind))),
    ];
    if !s.level_label.is_empty() {
        rows.push(("Mức trực tuyến", esc(&s.level_label)));
    }
    rows.push(("Thời hạn giải quyết", "15 ngày làm việc".to_string()));
    rows.push(("Lệ phí", "Không".to_string()));
    rows.push(("Phí", "Không".to_string()));
    rows.push((
        "Cách thức nộp trực tuyến",
        match s.level {
            Level::Full | Level::Partial => "Nộp hồ sơ trực tuyến",
            _ => "Không",
        }
        .to_string(),
    ));
    rows.push(("Thành phần hồ sơ", esc(&render::dossier_text(s))));
    let trs: String = rows
        .iter()
        .map(|(l, v)| format!("<tr><td class=\"td-1\">{l}</td><td class=\"td-2\">{v}</td></tr>\n"))
        .collect();
    page(
        a,
        &s.name,
        &format!(
            "<h2 class=\"tieude-h2\">{}</h2>\n<table class=\"table\">\n{trs}</table>\n<div class=\"thao-tac\">\n{}{}</div>",
            esc(&s.name),
            render::signature_html(s),
            render::national_html(s)
        ),
    )
}

/// The body of `s`'s detail as served (for `sandbox::detail_body`), `None` for shapes whose
/// service has no page of its own the scanner reads (list-only, OpenCPS, iGate).
pub(crate) fn detail_body(a: &AgencySpec, s: &ServiceSpec) -> Option<String> {
    match a.shape {
        Shape::Dl => Some(dl_detail(a, s)),
        Shape::Liferay => Some(liferay_detail(a, s)),
        Shape::Dvcqg => Some(json!({ "data": dvcqg_detail(a, s) }).to_string()),
        _ => None,
    }
}
