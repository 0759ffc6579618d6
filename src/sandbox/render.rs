//! Markup and JSON of the three portal shapes, exactly as docs/sandbox-world.md describes.
//! Pure functions of the effective world: no I/O, no clocks.

use serde_json::{Value, json};

use super::catalog;
use super::overrides::Overrides;
use super::service::{self, Provider, ServiceSpec};
use super::world::{AgencySpec, HostSpec};
use crate::facts::Level;

/// Escape text for HTML element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The site-wide theme script (every page of a `site_wide_plugin` portal).
fn head_extra(a: &AgencySpec) -> &'static str {
    if a.site_wide_plugin && a.shape.is_html() {
        "<script src=\"/static/vgcaplugin.js\"></script>\n"
    } else {
        ""
    }
}

fn page(a: &AgencySpec, title: &str, charset: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"{charset}\">\n<title>{} - {}</title>\n<link rel=\"stylesheet\" href=\"/static/theme.css\">\n{}</head><body>\n<div class=\"header\"><a href=\"/\">{}</a></div>\n{body}\n<div class=\"footer\">Cổng dịch vụ công {}</div>\n</body></html>\n",
        esc(title),
        esc(&a.name),
        head_extra(a),
        esc(&a.name),
        esc(&a.name),
    )
}

/// Per-service signing signals, one block per provider.
pub(crate) fn signature_html(s: &ServiceSpec) -> String {
    let mut out = String::new();
    for p in &s.providers {
        out.push_str(&match p {
            Provider::Vgca => format!(
                "<script src=\"/static/vgcaplugin.js\"></script>\n<button type=\"button\" class=\"btn-kyso\" onclick=\"vgca_sign_pdf('hoso-{}')\">Ký số</button>\n",
                esc(&s.code)
            ),
            Provider::VnptCa => "<script src=\"/static/vnpt-plugin.js\"></script>\n<script>var vnptPlugin = { endpoint: \"wss://localhost:4433/plugin\" };</script>\n<button type=\"button\" class=\"btn-kyso-vnpt\">Ký số VNPT-CA</button>\n".to_string(),
            Provider::ViettelCa => "<script>/* Viettel-CA */ var viettelSigner = \"http://127.0.0.1:14007/sign\";</script>\n".to_string(),
            Provider::SmartCa => "<p class=\"ky-so-tu-xa\">Hỗ trợ ký số từ xa qua VNPT SmartCA</p>\n".to_string(),
        });
    }
    out
}

pub(crate) fn national_html(s: &ServiceSpec) -> String {
    if s.national_portal_link {
        format!(
            "<a class=\"lien-ket-dvcqg\" href=\"https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc={}\">Nộp hồ sơ trên Cổng DVC quốc gia</a>\n",
            esc(&s.code)
        )
    } else {
        String::new()
    }
}

pub(crate) fn dossier_text(s: &ServiceSpec) -> String {
    let mut t = String::from(
        "Tờ khai theo mẫu (01 bản chính); Bản sao giấy tờ chứng minh nhân thân (01 bản sao).",
    );
    if s.signature_required {
        t.push_str(
            " Các thành phần hồ sơ nộp trực tuyến phải được ký số bằng chữ ký số chuyên dùng Chính phủ.",
        );
    }
    t
}

fn ways(s: &ServiceSpec) -> &'static str {
    match s.level {
        Level::Full | Level::Partial => "Trực tiếp; Trực tuyến; Dịch vụ bưu chính",
        _ => "Trực tiếp; Dịch vụ bưu chính",
    }
}

/// `/bothutuc?page=<n>&per_page=<k>`.
pub(crate) fn accordion_list(
    o: &Overrides,
    a: &AgencySpec,
    page_no: usize,
    per_page: usize,
) -> String {
    let total = a.service_count;
    let start = page_no.saturating_sub(1).saturating_mul(per_page);
    let end = start.saturating_add(per_page).min(total);
    let mut items = String::new();
    for i in start..end {
        if let Some(s) = o.service_at(a.index, i) {
            items.push_str(&format!(
                "<li><i class=\"icon-tthc\"></i>\n<a href=\"/bothutuc/tthc?matt={}\"\nclass=\"tthc-name\">{}</a></li>\n",
                service::accordion_id(i),
                esc(&s.name)
            ));
        }
    }
    let next = if end < total {
        format!(
            "<ul class=\"pagination\"><li><a rel=\"next\" href=\"/bothutuc?page={}&amp;per_page={per_page}\">Trang sau</a></li></ul>\n",
            page_no + 1
        )
    } else {
        String::new()
    };
    let body = format!(
        "<div class=\"lv-title-text\"><h4>Thủ tục hành chính</h4></div>\n<div class=\"lv-tthc-accordion\"><div class=\"tthc-page\">\n<div class=\"tthc-list\" id=\"accordion2\" role=\"tablist\"><div class=\"tthc-list-item\"><div class=\"tthc-list-item-detail\">\n<ul class=\"list-tthc\">\n{items}</ul>\n</div></div></div>\n<div class=\"pagination-bottom\"><span>trên <span id=\"totalRecord\">{total}</span> bản ghi</span>\n{next}</div>\n</div></div>"
    );
    page(a, "Thủ tục hành chính", "utf-8", &body)
}

fn accordion_item(i: usize, label: &str, value: &str) -> String {
    format!(
        "<div class=\"tthc-list-item\">\n<div role=\"button\" class=\"item-title\" data-toggle=\"collapse\" href=\"#collapse{i}\">{label}<i class=\"fa fa-angle-right\"></i>\n</div>\n<div id=\"collapse{i}\" class=\"tthc-panel-collapse collapse\"><div class=\"tthc-list-item-detail\">\n{value} </div></div>\n</div>\n"
    )
}

/// `/bothutuc/tthc?matt=<n>`.
pub(crate) fn accordion_detail(a: &AgencySpec, s: &ServiceSpec, charset: &str) -> String {
    let mut rows = vec![
        ("Mã thủ tục", esc(&s.code)),
        ("Lĩnh vực", esc(&s.field)),
        ("Cơ quan thực hiện", esc(catalog::executing_body(a.kind))),
    ];
    if !s.level_label.is_empty() {
        rows.push((
            "Mức độ cung cấp dịch vụ công trực tuyến",
            esc(&s.level_label),
        ));
    }
    rows.push(("Cách thức thực hiện", ways(s).to_string()));
    rows.push((
        "Thành phần hồ sơ",
        format!("<p>{}</p>", esc(&dossier_text(s))),
    ));
    rows.push(("Yêu cầu, điều kiện thực hiện", "<p>Không</p>".to_string()));
    let items: String = rows
        .iter()
        .enumerate()
        .map(|(i, (l, v))| accordion_item(i, l, v))
        .collect();
    let body = format!(
        "<div class=\"tthc-title\">\n<h4>{}</h4>\n</div>\n<div class=\"tthc-accordion\"><div class=\"tthc-page-detail\">\n<div class=\"tthc-step\" id=\"accordion2\" role=\"tablist\">\n{items}</div></div></div>\n<div class=\"tthc-actions\">\n{}{}</div>",
        esc(&s.name),
        signature_html(s),
        national_html(s)
    );
    page(a, &s.name, charset, &body)
}

/// Rows per page of the table shape.
pub(crate) const TABLE_PAGE: usize = 10;

/// `/web/guest/thu-tuc-hanh-chinh?count=<offset>`.
pub(crate) fn table_list(o: &Overrides, a: &AgencySpec, offset: usize) -> String {
    let total = a.service_count;
    let end = offset.saturating_add(TABLE_PAGE).min(total);
    let mut rows = String::new();
    for i in offset..end {
        if let Some(s) = o.service_at(a.index, i) {
            rows.push_str(&format!(
                "<tr><td class=\"stt\">{}</td><td><a class=\"ten-thu-tuc\" href=\"/web/guest/thu-tuc-hanh-chinh/chi-tiet?id={}\">{}</a></td><td>{}</td></tr>\n",
                i + 1,
                service::table_id(i),
                esc(&s.name),
                esc(&s.field)
            ));
        }
    }
    let next = if end < total {
        Some(end)
    } else if a.pagination_loop && offset < total {
        // The planted loop: the last page links back to the first.
        Some(0)
    } else {
        None
    };
    let next = next.map_or(String::new(), |n| {
        format!(
            "<a class=\"next-page\" href=\"/web/guest/thu-tuc-hanh-chinh?count={n}\">Trang sau</a>"
        )
    });
    let body = format!(
        "<h2>Danh sách thủ tục hành chính</h2>\n<table class=\"ds-thu-tuc\"><thead><tr><th>STT</th><th>Tên thủ tục</th><th>Lĩnh vực</th></tr></thead><tbody>\n{rows}</tbody></table>\n<div class=\"phan-trang\">{next}</div>"
    );
    page(a, "Danh sách thủ tục hành chính", "utf-8", &body)
}

/// `/web/guest/thu-tuc-hanh-chinh/chi-tiet?id=<n>`.
pub(crate) fn table_detail(a: &AgencySpec, s: &ServiceSpec, charset: &str) -> String {
    let mut rows = vec![("Mã thủ tục", esc(&s.code)), ("Tên thủ tục", esc(&s.name))];
    if !s.level_label.is_empty() {
        rows.push(("Mức trực tuyến", esc(&s.level_label)));
    }
    rows.push(("Lĩnh vực", esc(&s.field)));
    rows.push(("Thành phần hồ sơ", esc(&dossier_text(s))));
    rows.push(("Yêu cầu điều kiện", "Không".to_string()));
    let trs: String = rows
        .iter()
        .map(|(l, v)| format!("<tr><td class=\"td-1\">{l}</td><td class=\"td-2\">{v}</td></tr>\n"))
        .collect();
    let body = format!(
        "<h2 class=\"tieu-de\">{}</h2>\n<table class=\"chi-tiet-thu-tuc\"><tbody>\n{trs}</tbody></table>\n<div class=\"thao-tac\">\n{}{}</div>",
        esc(&s.name),
        signature_html(s),
        national_html(s)
    );
    page(a, &s.name, charset, &body)
}

/// Home page of an HTML-shape portal.
/// A maintenance notice in the portal's theme, answered 200.
pub(crate) fn maintenance(a: &AgencySpec) -> String {
    page(
        a,
        "Bảo trì hệ thống",
        "utf-8",
        "<h1>Hệ thống đang bảo trì</h1>\n<p>Xin quý khách vui lòng quay lại sau.</p>",
    )
}

pub(crate) fn portal_home(a: &AgencySpec) -> String {
    let list = if a.shape == super::world::Shape::Table {
        "/web/guest/thu-tuc-hanh-chinh?count=0"
    } else {
        "/bothutuc?page=1&amp;per_page=20"
    };
    page(
        a,
        "Trang chủ",
        "utf-8",
        &format!(
            "<h1>Cổng dịch vụ công</h1>\n<a class=\"ds-tthc\" href=\"{list}\">Thủ tục hành chính</a>"
        ),
    )
}

/// The SPA shell (`/` and `/dich-vu-cong/...`): no data in the HTML.
pub(crate) fn spa_shell(a: &AgencySpec, api_base: Option<&str>) -> String {
    let config = match api_base {
        Some(api) => format!(
            "<script>window.__APP_CONFIG__ = {{ \"apiBase\": \"{}\" }};</script>\n<script src=\"/static/js/app.igate.js\"></script>",
            esc(api)
        ),
        None => "<script src=\"/static/js/app.bundle.js\"></script>".to_string(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n<noscript>Vui lòng bật JavaScript để sử dụng Cổng dịch vụ công.</noscript>\n<div id=\"app\"></div>\n{config}\n</body></html>\n",
        esc(&a.name)
    )
}

/// Home page of an extra host.
pub(crate) fn extra_home(a: &AgencySpec, h: &HostSpec) -> String {
    page(
        a,
        "Dịch vụ trực tuyến",
        "utf-8",
        &format!("<h1>Dịch vụ trực tuyến</h1>\n<p>{}</p>", esc(&h.name)),
    )
}

/// `GET /api/v1/procedures?limit=&lastId=`.
pub(crate) fn api_list(o: &Overrides, a: &AgencySpec, limit: usize, after: Option<usize>) -> Value {
    let start = after
        .map_or(0, |i| i.saturating_add(1))
        .min(a.service_count);
    let end = start.saturating_add(limit).min(a.service_count);
    let content: Vec<Value> = (start..end)
        .filter_map(|i| o.service_at(a.index, i))
        .map(|s| {
            json!({
                "id": service::spa_id(a, s.index),
                "code": s.code,
                "name": s.name,
            })
        })
        .collect();
    let last_id = (end > start).then(|| service::spa_id(a, end - 1));
    json!({ "content": content, "lastId": last_id, "last": end >= a.service_count })
}

/// `GET /api/v1/procedures/<id>`.
pub(crate) fn api_detail(a: &AgencySpec, s: &ServiceSpec) -> Value {
    let level = match s.level_label.is_empty() {
        true => Value::Null,
        false => {
            let id = match s.level {
                Level::Full => 4,
                Level::Partial => 3,
                _ => 2,
            };
            json!({ "id": id, "name": s.level_label })
        }
    };
    json!({
        "id": service::spa_id(a, s.index),
        "code": s.code,
        "name": s.name,
        "sector": s.field,
        "level": level,
        "requireDigitalSignature": s.signature_required,
        "digitalSignatureProviders": s.providers.iter().map(|p| p.json_name()).collect::<Vec<_>>(),
        "dossierRequirement": dossier_text(s),
        "nationalPortalSync": s.national_portal_link,
    })
}

/// Text padding for the oversized page (`bytes` long, ASCII).
pub(crate) fn padding(bytes: usize) -> String {
    const LINE: &str = "Noi dung phu luc cua thu tuc hanh chinh, ban luu tru day du.\n";
    LINE.repeat(bytes / LINE.len() + 1)
}

/// The same padding as a JSON string's contents (newlines escaped).
pub(crate) fn padding_json(bytes: usize) -> String {
    const LINE: &str = "Noi dung phu luc cua thu tuc hanh chinh, ban luu tru day du.\\n";
    LINE.repeat(bytes / LINE.len() + 1)
}

/// Encode an NFC page as Windows-1258. Windows-1258 has base letters with shape marks
/// (â ê ô ă ơ ư đ) but no precomposed toned vowels, so tone marks are split off as combining
/// characters first (`ấ` → `â` + U+0301). Errors if anything was left unencodable (encoding_rs
/// would have written `&#...;` escapes).
pub(crate) fn encode_windows_1258(nfc: &str) -> Result<Vec<u8>, String> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::compose;
    const SHAPE: [char; 3] = ['\u{302}', '\u{306}', '\u{31b}'];
    let mut prepared = String::with_capacity(nfc.len() + nfc.len() / 4);
    for c in nfc.chars() {
        let mut parts = std::iter::once(c).nfd();
        let Some(mut base) = parts.next() else {
            continue;
        };
        let mut tones = Vec::new();
        for m in parts {
            match SHAPE.contains(&m).then(|| compose(base, m)).flatten() {
                Some(composed) => base = composed,
                None => tones.push(m),
            }
        }
        prepared.push(base);
        prepared.extend(tones);
    }
    let (bytes, _, had_errors) = encoding_rs::WINDOWS_1258.encode(&prepared);
    if had_errors {
        return Err("text not encodable in windows-1258".to_string());
    }
    Ok(bytes.into_owned())
}

/// A page rendered with `<meta charset="windows-1252">` as a `.VnTime` site served it: a
/// stylesheet setting the `.VnTime` font, the text in TCVN3 ([`crate::crawl::tcvn3`]; toned
/// capitals, not in TCVN3, as `&#...;` references). `undeclared` drops the `<meta charset>`.
pub(crate) fn tcvn3_page(html: &str, undeclared: bool) -> Vec<u8> {
    const STYLE: &str = "<style>body, h4, td, p, div { font-family: .VnTime, serif; }</style>\n";
    let mut page = html.replacen("<title>", &format!("{STYLE}<title>"), 1);
    if undeclared {
        page = page.replacen("<meta charset=\"windows-1252\">", "", 1);
    }
    crate::crawl::tcvn3::encode_html(&page)
}

/// A UTF-8 page with the service's own text (name, field, level label, dossier) in
/// Windows-1258 and no `<meta charset>`: a template in UTF-8 around data stored in the legacy
/// charset. No single charset reads it (UTF-8 trips on the data, Windows-1258 turns the
/// template's `điều`, `Đ`, `ọ`... into C1 controls).
pub(crate) fn mixed_charsets(html: &str, s: &ServiceSpec) -> Result<Vec<u8>, String> {
    let mut bytes = html
        .replacen("<meta charset=\"utf-8\">", "", 1)
        .into_bytes();
    let mut texts = [
        esc(&s.name),
        esc(&s.field),
        esc(&s.level_label),
        esc(&dossier_text(s)),
    ];
    // Longest first, so a name inside the dossier text is converted with it.
    texts.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in texts.iter().filter(|t| !t.is_ascii()) {
        let legacy = encode_windows_1258(t)?;
        bytes = replace_bytes(&bytes, t.as_bytes(), &legacy);
    }
    Ok(bytes)
}

/// `hay` with every occurrence of `from` (non-empty) replaced by `to`.
fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if !from.is_empty() && hay.get(i..i + from.len()) == Some(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.extend(hay.get(i).copied());
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_padding_is_the_padding_escaped() {
        let text: String =
            serde_json::from_str(&format!("\"{}\"", padding_json(1000))).expect("json string");
        assert_eq!(text, padding(1000));
    }
    use unicode_normalization::UnicodeNormalization;

    #[test]
    fn windows_1258_round_trips_vietnamese() {
        let text = "Đăng ký thường trú: ấ ộ ự ẫ ỹ Ỵ ở được ký số chuyên dùng";
        let bytes = encode_windows_1258(text).expect("encodable");
        assert!(!bytes.windows(2).any(|w| w == b"&#"));
        let (decoded, _, errors) = encoding_rs::WINDOWS_1258.decode(&bytes);
        assert!(!errors);
        assert_eq!(decoded.nfc().collect::<String>(), text);
    }

    use crate::sandbox::overrides::Overrides;
    use crate::sandbox::world::{Shape, Size, World};
    use scraper::{Html, Selector};

    #[test]
    fn mixed_charsets_keep_the_template_in_utf8_and_the_service_text_in_windows_1258() {
        let o = Overrides::new(World::new(Size::Tiny, 1));
        let mut checked = 0;
        for (a, s) in o.services().filter(|(a, _)| a.shape.is_html()) {
            let html = if a.shape == Shape::Table {
                table_detail(a, &s, "utf-8")
            } else {
                accordion_detail(a, &s, "utf-8")
            };
            let bytes = mixed_charsets(&html, &s).expect("encodable");
            let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
            assert!(!has(b"<meta charset"), "no charset declared in the page");
            // The template stays UTF-8, with a character Windows-1258 reads as a C1 control.
            assert!(has("điều kiện".as_bytes()));
            assert!(has(s.code.as_bytes()));
            assert!(has(&encode_windows_1258(&esc(&s.name)).expect("name")));
            assert!(!has(esc(&s.name).as_bytes()), "{}", s.name);
            if !s.level_label.is_empty() {
                assert!(has(&encode_windows_1258(&s.level_label).expect("label")));
            }
            assert!(std::str::from_utf8(&bytes).is_err());
            checked += 1;
        }
        assert!(checked > 10);
    }

    fn sel(s: &str) -> Selector {
        Selector::parse(s).expect("selector")
    }

    fn text(e: scraper::ElementRef<'_>) -> String {
        e.text().collect::<String>().trim().to_string()
    }

    /// Read every rendered detail page back with the contract's selectors.
    #[test]
    fn detail_pages_read_back_with_the_documented_selectors() {
        let o = Overrides::new(World::new(Size::Demo, 2));
        let mut checked = 0;
        for (a, s) in o.services() {
            let (pairs, name) = match a.shape {
                Shape::Accordion => {
                    let doc = Html::parse_document(&accordion_detail(a, &s, "utf-8"));
                    let pairs: Vec<(String, String)> = doc
                        .select(&sel("div.tthc-list-item"))
                        .filter_map(|item| {
                            let l = item.select(&sel("div.item-title")).next()?;
                            let v = item.select(&sel("div.tthc-list-item-detail")).next()?;
                            Some((text(l), text(v)))
                        })
                        .collect();
                    let name = doc.select(&sel("div.tthc-title h4")).next().map(text);
                    (pairs, name)
                }
                Shape::Table => {
                    let doc = Html::parse_document(&table_detail(a, &s, "utf-8"));
                    let pairs: Vec<(String, String)> = doc
                        .select(&sel("table.chi-tiet-thu-tuc tr"))
                        .filter_map(|tr| {
                            let l = tr.select(&sel("td.td-1")).next()?;
                            let v = tr.select(&sel("td.td-2")).next()?;
                            Some((text(l), text(v)))
                        })
                        .collect();
                    let name = pairs
                        .iter()
                        .find(|(l, _)| l == "Tên thủ tục")
                        .map(|(_, v)| v.clone());
                    (pairs, name)
                }
                _ => continue,
            };
            let get = |label: &str| {
                pairs
                    .iter()
                    .find(|(l, _)| l == label)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("Mã thủ tục"), Some(s.code.as_str()));
            assert_eq!(name.as_deref(), Some(s.name.as_str()));
            let level_label = if a.shape == Shape::Table {
                "Mức trực tuyến"
            } else {
                "Mức độ cung cấp dịch vụ công trực tuyến"
            };
            assert_eq!(get(level_label).unwrap_or(""), s.level_label);
            let dossier = get("Thành phần hồ sơ").unwrap_or_default();
            assert_eq!(
                dossier.contains("được ký số bằng chữ ký số chuyên dùng"),
                s.signature_required
            );
            assert_eq!(dossier.contains("chữ ký số"), s.signature_required);
            checked += 1;
        }
        assert!(checked > 200, "{checked}");
    }

    #[test]
    fn signals_are_per_service_or_site_wide() {
        let o = Overrides::new(World::new(Size::Demo, 2));
        let vgca_button = sel("button.btn-kyso[onclick^=\"vgca_sign_pdf\"]");
        let plugin = sel("script[src=\"/static/vgcaplugin.js\"]");
        let national = sel("a[href^=\"https://dichvucong.gov.vn\"]");
        for (a, s) in o.services().filter(|(a, _)| a.shape.is_html()) {
            let html = match a.shape {
                Shape::Table => table_detail(a, &s, "utf-8"),
                _ => accordion_detail(a, &s, "utf-8"),
            };
            let doc = Html::parse_document(&html);
            let has_vgca = s.providers.contains(&Provider::Vgca);
            assert_eq!(doc.select(&vgca_button).next().is_some(), has_vgca);
            let scripts = doc.select(&plugin).count();
            assert_eq!(
                scripts,
                usize::from(has_vgca) + usize::from(a.site_wide_plugin)
            );
            assert_eq!(
                html.contains("wss://localhost:4433/plugin"),
                s.providers.contains(&Provider::VnptCa)
            );
            assert_eq!(
                html.contains("127.0.0.1:14007"),
                s.providers.contains(&Provider::ViettelCa)
            );
            assert_eq!(
                html.contains("VNPT SmartCA"),
                s.providers.contains(&Provider::SmartCa)
            );
            let link = doc.select(&national).next().map(text);
            assert_eq!(
                link.as_deref() == Some("Nộp hồ sơ trên Cổng DVC quốc gia"),
                s.national_portal_link
            );
        }
    }

    /// Follow each shape's documented pagination and collect every listed service once.
    #[test]
    fn list_pagination_reaches_every_service() {
        let o = Overrides::new(World::new(Size::Demo, 5));
        for a in o.agencies() {
            let mut hrefs = Vec::new();
            match a.shape {
                Shape::Accordion => {
                    let mut page = 1;
                    loop {
                        let doc = Html::parse_document(&accordion_list(&o, a, page, 20));
                        hrefs.extend(
                            doc.select(&sel("ul.list-tthc a.tthc-name"))
                                .filter_map(|e| e.value().attr("href").map(String::from)),
                        );
                        let next = doc.select(&sel("ul.pagination a[rel=next]")).next();
                        if next.is_none() || page > 100 {
                            break;
                        }
                        page += 1;
                    }
                }
                Shape::Table => {
                    let mut offset = 0;
                    let mut seen = std::collections::BTreeSet::new();
                    let mut looped = false;
                    loop {
                        if !seen.insert(offset) {
                            looped = true;
                            break;
                        }
                        let doc = Html::parse_document(&table_list(&o, a, offset));
                        hrefs.extend(
                            doc.select(&sel("table.ds-thu-tuc tr td a.ten-thu-tuc"))
                                .filter_map(|e| e.value().attr("href").map(String::from)),
                        );
                        let Some(next) = doc
                            .select(&sel("a.next-page"))
                            .next()
                            .and_then(|e| e.value().attr("href"))
                            .and_then(|h| h.rsplit('=').next())
                            .and_then(|n| n.parse().ok())
                        else {
                            break;
                        };
                        offset = next;
                    }
                    // The planted loop shows as a link back to an offset already seen.
                    assert_eq!(looped, a.pagination_loop, "{}", a.id);
                }
                Shape::Spa => {
                    let mut after = None;
                    loop {
                        let v = api_list(&o, a, 50, after);
                        for item in v["content"].as_array().into_iter().flatten() {
                            hrefs.push(item["id"].as_str().unwrap_or_default().to_string());
                        }
                        if v["last"] == true {
                            break;
                        }
                        let cursor = v["lastId"].as_str().unwrap_or_default();
                        after = service::parse_id(a, cursor);
                        assert!(after.is_some());
                    }
                }
                // The platform shapes are covered in `platforms.rs`.
                _ => continue,
            }
            let n = hrefs.len();
            hrefs.sort();
            hrefs.dedup();
            assert_eq!(
                (hrefs.len(), n),
                (a.service_count, a.service_count),
                "{}",
                a.id
            );
        }
    }

    #[test]
    fn escaping_neutralises_markup() {
        let e = esc(catalog::INJECTED_NAME);
        assert!(!e.contains('<') && !e.contains('>'));
        assert!(e.contains("&lt;script&gt;"));
    }
}
