//! Request routing: `(host, path, query)` → a [`Reply`], with the planted behaviours applied.
//! Transport concerns (conditional GET, gzip, HSTS, logging) are in `server.rs`.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use hyper::StatusCode;

use super::overrides::Overrides;
use super::render;
use super::service::{self, Behaviour, ServiceSpec};
use super::truth::{self, data_role};
use super::world::{AgencySpec, HostRole, HostSpec, Outage, Shape};

/// Size of the planted oversized page.
pub(crate) const OVERSIZED_BYTES: usize = 8 * 1024 * 1024;
/// Upper bound of `per_page` / `limit` accepted from a client.
const MAX_PAGE: usize = 200;

pub(crate) struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub location: Option<String>,
    pub retry_after: Option<u32>,
    pub delay: Option<Duration>,
    /// Eligible for ETag / Last-Modified / 304 and gzip.
    pub cacheable: bool,
}

pub(crate) const HTML: &str = "text/html; charset=utf-8";
pub(crate) const JSON: &str = "application/json; charset=utf-8";

impl Reply {
    pub(crate) fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type,
            body: body.into(),
            location: None,
            retry_after: None,
            delay: None,
            cacheable: true,
        }
    }
    pub(crate) fn status(status: StatusCode, text: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: text.as_bytes().to_vec(),
            location: None,
            retry_after: None,
            delay: None,
            cacheable: false,
        }
    }
    pub(crate) fn not_found() -> Reply {
        Reply::status(StatusCode::NOT_FOUND, "Không tìm thấy trang (404)\n")
    }
    fn redirect(status: StatusCode, location: String) -> Reply {
        let mut r = Reply::status(status, "");
        r.location = Some(location);
        r
    }
}

/// What the router needs from the server.
pub(crate) struct Ctx<'a> {
    pub o: &'a Overrides,
    pub https_port: u16,
    pub slow: Duration,
    pub hang: Duration,
    /// Detail URLs that already got their one 429.
    pub seen_429: &'a Mutex<HashSet<String>>,
}

fn query_get<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn num(query: &[(String, String)], key: &str) -> Option<usize> {
    query_get(query, key).and_then(|v| v.trim().parse().ok())
}

pub(crate) fn route(
    ctx: &Ctx<'_>,
    host: &HostSpec,
    path: &str,
    raw_query: &str,
    post: Option<&[u8]>,
) -> Reply {
    let query: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let Some(agency) = ctx.o.agency(&host.agency_id) else {
        return Reply::not_found();
    };
    if path == "/robots.txt" {
        return Reply::ok("text/plain; charset=utf-8", robots(ctx.o, agency, host));
    }
    if let Some(asset) = static_asset(path) {
        return asset;
    }
    if !is_classic(agency.shape) {
        if host.role == HostRole::Extra {
            return match (path, post) {
                ("/", None) => Reply::ok(HTML, render::extra_home(agency, host)),
                _ => Reply::not_found(),
            };
        }
        let api_base = truth::host_url(&agency.api_host(), ctx.https_port);
        return super::platforms::route(
            ctx.o,
            agency,
            host.role == HostRole::Api,
            path,
            &query,
            post,
            &api_base,
        );
    }
    if post.is_some() {
        return Reply::status(
            StatusCode::METHOD_NOT_ALLOWED,
            "Phương thức không được hỗ trợ (405)\n",
        );
    }
    match host.role {
        HostRole::Extra => match path {
            "/" => Reply::ok(HTML, render::extra_home(agency, host)),
            _ => Reply::not_found(),
        },
        HostRole::Api => api(ctx, agency, path, raw_query, &query),
        HostRole::Portal => portal(ctx, agency, path, raw_query, &query),
    }
}

/// The four shapes of the tiny, demo and nation worlds (with planted behaviours); the others
/// are in `platforms.rs`.
fn is_classic(shape: Shape) -> bool {
    matches!(
        shape,
        Shape::Accordion | Shape::Table | Shape::Spa | Shape::SpaNoapi
    )
}

fn robots(o: &Overrides, a: &AgencySpec, h: &HostSpec) -> String {
    let mut s = String::from("User-agent: *\nDisallow: /admin/\n");
    if data_role(a) == h.role && !a.shape.unreadable() {
        for svc in o.robots_disallowed(a.index) {
            s.push_str(&format!("Disallow: {}$\n", svc.detail_path(a)));
        }
    }
    if let Some(ms) = h.crawl_delay_ms {
        s.push_str(&format!("Crawl-delay: {}\n", f64::from(ms) / 1000.0));
    }
    s
}

fn static_asset(path: &str) -> Option<Reply> {
    let js = "application/javascript; charset=utf-8";
    Some(match path {
        "/static/vgcaplugin.js" => Reply::ok(
            js,
            "/* VGCA Sign Service client (sandbox stub) */\nvar VGCA_WS = 'wss://127.0.0.1:8987/';\nfunction vgca_sign_pdf(id) { return new WebSocket(VGCA_WS + 'SignPDF'); }\nfunction vgca_sign_msg(m) { return new WebSocket(VGCA_WS + 'SignMsg'); }\n",
        ),
        "/static/vnpt-plugin.js" => Reply::ok(
            js,
            "/* VNPT-CA plugin (sandbox stub) */\nfunction VnptPlugin(url) { this.url = url; }\n",
        ),
        "/static/theme.css" => {
            Reply::ok("text/css; charset=utf-8", "body{font-family:sans-serif}\n")
        }
        p if p.starts_with("/static/js/") => {
            Reply::ok(js, "/* application bundle (sandbox stub) */\n")
        }
        _ => return None,
    })
}

fn portal(
    ctx: &Ctx<'_>,
    a: &AgencySpec,
    path: &str,
    raw_query: &str,
    q: &[(String, String)],
) -> Reply {
    let o = ctx.o;
    let listing = matches!(
        (a.shape, path),
        (Shape::Accordion, "/bothutuc") | (Shape::Table, "/web/guest/thu-tuc-hanh-chinh")
    );
    if listing && a.outage == Outage::ListError {
        return Reply::status(StatusCode::INTERNAL_SERVER_ERROR, "Lỗi máy chủ (500)\n");
    }
    let later_page =
        num(q, "page").is_some_and(|p| p > 1) || num(q, "count").is_some_and(|c| c > 0);
    if listing && later_page && a.outage == Outage::ListMaintenance {
        return Reply::ok(HTML, render::maintenance(a));
    }
    match (a.shape, path) {
        (Shape::Accordion | Shape::Table, "/") => Reply::ok(HTML, render::portal_home(a)),
        (Shape::Accordion, "/bothutuc") => {
            let page = num(q, "page").unwrap_or(1).max(1);
            let per_page = num(q, "per_page").unwrap_or(20).clamp(1, MAX_PAGE);
            Reply::ok(HTML, render::accordion_list(o, a, page, per_page))
        }
        (Shape::Table, "/web/guest/thu-tuc-hanh-chinh") => {
            let offset = num(q, "count").unwrap_or(0);
            Reply::ok(HTML, render::table_list(o, a, offset))
        }
        (Shape::Accordion, "/bothutuc/tthc")
        | (Shape::Table, "/web/guest/thu-tuc-hanh-chinh/chi-tiet") => {
            let key = if a.shape == Shape::Accordion {
                "matt"
            } else {
                "id"
            };
            let svc = query_get(q, key)
                .and_then(|raw| service::parse_id(a, raw))
                .and_then(|i| o.service_at(a.index, i));
            match svc {
                Some(s) => detail(ctx, a, &s, path, raw_query, q),
                None => Reply::not_found(),
            }
        }
        (Shape::Spa, p) if p == "/" || p.starts_with("/dich-vu-cong") => {
            let api = truth::host_url(&a.api_host(), ctx.https_port);
            Reply::ok(HTML, render::spa_shell(a, Some(&api)))
        }
        (Shape::SpaNoapi, p) if p == "/" || p.starts_with("/dich-vu-cong") => {
            Reply::ok(HTML, render::spa_shell(a, None))
        }
        _ => Reply::not_found(),
    }
}

fn api(
    ctx: &Ctx<'_>,
    a: &AgencySpec,
    path: &str,
    raw_query: &str,
    q: &[(String, String)],
) -> Reply {
    let o = ctx.o;
    if path == "/api/v1/procedures" && a.outage == Outage::ListError {
        return Reply::status(StatusCode::INTERNAL_SERVER_ERROR, "{\"error\":\"500\"}\n");
    }
    if path == "/api/v1/procedures" {
        let limit = num(q, "limit").unwrap_or(50).clamp(1, MAX_PAGE);
        let after = match query_get(q, "lastId").filter(|v| !v.is_empty() && *v != "null") {
            Some(raw) => match service::parse_id(a, raw) {
                Some(i) => Some(i),
                None => return Reply::status(StatusCode::BAD_REQUEST, "lastId không hợp lệ\n"),
            },
            None => None,
        };
        return Reply::ok(JSON, render::api_list(o, a, limit, after).to_string());
    }
    if let Some(raw) = path.strip_prefix("/api/v1/procedures/") {
        return match service::parse_id(a, raw).and_then(|i| o.service_at(a.index, i)) {
            Some(s) => detail(ctx, a, &s, path, raw_query, q),
            None => Reply::status(StatusCode::NOT_FOUND, "{\"error\":\"not found\"}\n"),
        };
    }
    Reply::not_found()
}

/// A detail page (HTML or API) with the service's planted behaviour.
fn detail(
    ctx: &Ctx<'_>,
    a: &AgencySpec,
    s: &ServiceSpec,
    path: &str,
    raw_query: &str,
    q: &[(String, String)],
) -> Reply {
    if a.outage == Outage::DetailError {
        return Reply::status(StatusCode::SERVICE_UNAVAILABLE, "Tạm ngừng phục vụ (503)\n");
    }
    match s.behaviour {
        Behaviour::ServerError => {
            return Reply::status(StatusCode::INTERNAL_SERVER_ERROR, "Lỗi máy chủ (500)\n");
        }
        Behaviour::RateLimited => {
            let key = format!("{}{}", a.id, s.code);
            let first = ctx
                .seen_429
                .lock()
                .map(|mut seen| seen.insert(key))
                .unwrap_or(false);
            if first {
                let mut r = Reply::status(StatusCode::TOO_MANY_REQUESTS, "Quá nhiều yêu cầu\n");
                r.retry_after = Some(1);
                return r;
            }
        }
        Behaviour::RedirectLoop => {
            // Two URLs redirecting to each other forever.
            let location = if query_get(q, "vong").is_some() {
                let rest: Vec<String> = q
                    .iter()
                    .filter(|(k, _)| k != "vong")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if rest.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}?{}", rest.join("&"))
                }
            } else if raw_query.is_empty() {
                format!("{path}?vong=1")
            } else {
                format!("{path}?{raw_query}&vong=1")
            };
            return Reply::redirect(StatusCode::FOUND, location);
        }
        _ => {}
    }
    let mut reply = match a.shape {
        Shape::Spa => {
            let mut json = render::api_detail(a, s).to_string();
            if s.behaviour == Behaviour::Oversized && json.ends_with('}') {
                // Spliced rather than serialised: escaping 8 MB through serde_json per request
                // takes seconds in debug builds, long enough to turn `too_large` into `timeout`.
                json.pop();
                json.push_str(",\"attachmentText\":\"");
                json.push_str(&render::padding_json(OVERSIZED_BYTES));
                json.push_str("\"}");
            }
            Reply::ok(JSON, json)
        }
        _ => {
            let win = matches!(
                s.behaviour,
                Behaviour::Windows1258 | Behaviour::Windows1258LyingHeader
            );
            let tcvn3 = matches!(s.behaviour, Behaviour::Tcvn3 | Behaviour::Tcvn3Undeclared);
            let charset = if win {
                "windows-1258"
            } else if tcvn3 {
                // What the page's editor declared; the bytes are TCVN3.
                "windows-1252"
            } else {
                "utf-8"
            };
            let mut html = if a.shape == Shape::Table {
                render::table_detail(a, s, charset)
            } else {
                render::accordion_detail(a, s, charset)
            };
            if s.behaviour == Behaviour::Oversized {
                html.push_str("<div class=\"phu-luc\" hidden>\n");
                html.push_str(&render::padding(OVERSIZED_BYTES));
                html.push_str("</div>\n");
            }
            if win {
                match render::encode_windows_1258(&html) {
                    // The lying header: the bytes are Windows-1258, the header says UTF-8.
                    Ok(bytes) if s.behaviour == Behaviour::Windows1258LyingHeader => {
                        Reply::ok(HTML, bytes)
                    }
                    Ok(bytes) => Reply {
                        content_type: "text/html; charset=windows-1258",
                        ..Reply::ok(HTML, bytes)
                    },
                    Err(e) => Reply::status(StatusCode::INTERNAL_SERVER_ERROR, &e),
                }
            } else if tcvn3 {
                let undeclared = s.behaviour == Behaviour::Tcvn3Undeclared;
                Reply {
                    content_type: if undeclared {
                        "text/html"
                    } else {
                        "text/html; charset=windows-1252"
                    },
                    ..Reply::ok(HTML, render::tcvn3_page(&html, undeclared))
                }
            } else if s.behaviour == Behaviour::MixedCharsets {
                match render::mixed_charsets(&html, s) {
                    Ok(bytes) => Reply::ok(HTML, bytes),
                    Err(e) => Reply::status(StatusCode::INTERNAL_SERVER_ERROR, &e),
                }
            } else {
                Reply::ok(HTML, html)
            }
        }
    };
    reply.delay = match s.behaviour {
        Behaviour::Slow => Some(ctx.slow),
        Behaviour::Hang => Some(ctx.hang),
        _ => None,
    };
    reply
}
