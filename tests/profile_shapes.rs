//! Each sandbox shape (docs/sandbox-world.md) read by its bundled profile, from snippets that
//! follow the doc's markup, URLs and JSON fields exactly.

use dvc_audit::extract::{self, AgencyVars, ListState, Page, PageRequest};
use dvc_audit::facts::{AssessReason, Level, ServiceFacts};
use dvc_audit::profile::{Method, Profile, ProfileSet};

fn profile(id: &str) -> std::sync::Arc<Profile> {
    ProfileSet::bundled()
        .expect("bundled profiles load")
        .get(id)
        .unwrap_or_else(|| panic!("profile {id}"))
        .clone()
}

const PORTAL: &str = "https://dvc.bca.sandbox.test:8443";

fn accordion_list(page: u32, total: u32, per_page: u32, next: bool, theme_plugin: bool) -> String {
    let first = (page - 1) * per_page + 1;
    let last = (page * per_page).min(total);
    let items: String = (first..=last)
        .map(|n| {
            format!(
                "<li><i class=\"icon-tthc\"></i><a href=\"/bothutuc/tthc?matt={n}\" class=\"tthc-name\">Thủ tục số {n}</a></li>\n"
            )
        })
        .collect();
    let pager = if next {
        format!(
            "<ul class=\"pagination\"><li><a rel=\"next\" href=\"/bothutuc?page={}&per_page={per_page}\">»</a></li></ul>",
            page + 1
        )
    } else {
        String::from("<ul class=\"pagination\"></ul>")
    };
    let script = if theme_plugin {
        "<script src=\"/static/vgcaplugin.js\"></script>"
    } else {
        ""
    };
    format!(
        "<html><head>{script}</head><body><div class=\"tthc-list\"><ul class=\"list-tthc\">{items}</ul></div>\
         <span>trên <span id=\"totalRecord\">{total}</span> bản ghi</span>{pager}</body></html>"
    )
}

struct DetailSpec<'a> {
    code: &'a str,
    name: &'a str,
    level: Option<&'a str>,
    head: &'a str,
    extra: &'a str,
    dossier: &'a str,
}

fn accordion_detail(d: &DetailSpec<'_>) -> String {
    let item = |label: &str, value: &str| {
        format!(
            "<div class=\"tthc-list-item\"><div role=\"button\" class=\"item-title\">{label}<i class=\"fa fa-angle-right\"></i></div>\
             <div class=\"tthc-panel-collapse collapse\"><div class=\"tthc-list-item-detail\">{value}</div></div></div>"
        )
    };
    let mut items = item("Mã thủ tục", d.code);
    items += &item("Lĩnh vực", "Đăng ký, quản lý cư trú");
    items += &item(
        "Cơ quan thực hiện",
        "<html><body><p>Công an Xã</p></body></html>",
    );
    if let Some(level) = d.level {
        items += &item("Mức độ cung cấp dịch vụ công trực tuyến", level);
    }
    items += &item("Cách thức thực hiện", "Trực tuyến");
    items += &item("Thành phần hồ sơ", d.dossier);
    items += &item("Yêu cầu, điều kiện thực hiện", "Không");
    format!(
        "<html><head>{}</head><body><div class=\"tthc-title\"><h4>{}</h4></div><div class=\"tthc-accordion\">{items}</div>{}</body></html>",
        d.head, d.name, d.extra
    )
}

fn list_chain(
    profile: &Profile,
    vars: &AgencyVars,
    pages: &dyn Fn(&PageRequest) -> String,
) -> (Vec<PageRequest>, Vec<String>) {
    let mut details = Vec::new();
    let mut urls = Vec::new();
    for start in profile.start_requests(vars).expect("start requests") {
        let mut state = ListState::new(vars);
        let mut req = Some(start);
        while let Some(r) = req {
            assert!(urls.len() < 50, "runaway pagination: {urls:?}");
            urls.push(r.url.clone());
            let page = Page::from_body(&r.url, pages(&r));
            let out = extract::list_page(profile, &page, &r, &mut state);
            assert_eq!(out.could_not_assess, None, "{:?}", out.notes);
            details.extend(out.details);
            req = out.next;
        }
    }
    (details, urls)
}

#[test]
fn accordion_list_pages_by_index_until_no_next_link() {
    let p = profile("accordion");
    let vars = AgencyVars::new("bca", PORTAL);
    let (details, urls) = list_chain(&p, &vars, &|r| {
        let page: u32 = r.list.as_ref().map_or(1, |l| l.counter as u32);
        accordion_list(page, 45, 20, page < 3, false)
    });
    assert_eq!(
        urls,
        vec![
            format!("{PORTAL}/bothutuc?page=1&per_page=20"),
            format!("{PORTAL}/bothutuc?page=2&per_page=20"),
            format!("{PORTAL}/bothutuc?page=3&per_page=20"),
        ]
    );
    assert_eq!(details.len(), 45);
    assert_eq!(details[44].url, format!("{PORTAL}/bothutuc/tthc?matt=45"));
    assert_eq!(details[0].hint.name, "Thủ tục số 1");
}

#[test]
fn accordion_detail_reads_fields_signals_and_national_link() {
    let p = profile("accordion");
    let html = accordion_detail(&DetailSpec {
        code: "1.001234",
        name: "Đăng ký tạm trú",
        level: Some("Mức độ 4"),
        head: "<script src=\"/static/vgcaplugin.js?v=12\"></script>",
        extra: "<button class=\"btn-kyso\" onclick=\"vgca_sign_pdf('hoso')\">Ký số</button>\
                <a href=\"https://dichvucong.gov.vn/p/home/dvc-chi-tiet.html?ma=1\">Nộp hồ sơ trên Cổng DVC quốc gia</a>",
        dossier: "Tờ khai được ký số bằng chữ ký số chuyên dùng",
    });
    let url = format!("{PORTAL}/bothutuc/tthc?matt=7");
    let f = extract::detail_page(&p, &Page::from_body(&url, html), "bca");
    assert_eq!(f.code, "1.001234");
    assert_eq!(f.name, "Đăng ký tạm trú");
    assert_eq!((f.level, f.level_label.as_str()), (Level::Full, "Mức độ 4"));
    assert!(f.online_submission);
    assert!(f.national_portal_link);
    assert!(f.signature.supported, "{:#?}", f.signature);
    assert!(f.signature.required, "{:#?}", f.signature);
    assert_eq!(f.signature.providers, vec!["vgca"]);
    assert!(!f.signature.site_wide);
    let req = f
        .signature
        .evidence
        .iter()
        .find(|e| e.kind == "requirement_text")
        .expect("requirement evidence");
    assert!(
        req.excerpt.contains("ký số"),
        "excerpt keeps diacritics: {}",
        req.excerpt
    );
    assert!(f.signature.evidence.iter().all(|e| e.url == url));
    assert!(f.evidence.iter().any(|e| e.field == "national_portal_link"));
}

#[test]
fn accordion_detail_without_level_row_is_unknown_with_empty_label() {
    let p = profile("accordion");
    let html = accordion_detail(&DetailSpec {
        code: "1.000001",
        name: "Khai báo tạm vắng",
        level: None,
        head: "",
        extra: "",
        dossier: "Tờ khai",
    });
    let f = extract::detail_page(&p, &Page::from_body(&format!("{PORTAL}/x"), html), "bca");
    assert_eq!((f.level, f.level_label.as_str()), (Level::Unknown, ""));
    assert!(!f.online_submission);
    assert!(!f.signature.required && !f.signature.supported);
}

#[test]
fn site_wide_plugin_counts_as_site_wide_not_supported() {
    let p = profile("accordion");
    let vars = AgencyVars::new("bca", PORTAL);
    let start = p.start_requests(&vars).expect("start");
    let mut state = ListState::new(&vars);
    let list = extract::list_page(
        &p,
        &Page::from_body(&start[0].url, accordion_list(1, 2, 20, false, true)),
        &start[0],
        &mut state,
    );
    assert_eq!(list.signals.len(), 1, "{:?}", list.signals);
    let theme = "<script src=\"/static/vgcaplugin.js\"></script>";
    let with_button = accordion_detail(&DetailSpec {
        code: "1.000001",
        name: "A",
        level: Some("Toàn trình"),
        head: theme,
        extra: "<button class=\"btn-kyso\" onclick=\"vgca_sign_pdf(1)\">Ký số</button>",
        dossier: "",
    });
    let without = accordion_detail(&DetailSpec {
        code: "1.000002",
        name: "B",
        level: Some("Toàn trình"),
        head: theme,
        extra: "",
        dossier: "",
    });
    let mut services: Vec<ServiceFacts> = [with_button, without]
        .into_iter()
        .enumerate()
        .map(|(i, html)| {
            extract::detail_page(&p, &Page::from_body(&format!("{PORTAL}/d{i}"), html), "bca")
        })
        .collect();
    // Before marking, the theme plugin looks like per-service support.
    assert!(services[1].signature.supported);
    extract::mark_site_wide(&mut services, &[list.signals]);
    let (a, b) = (&services[0].signature, &services[1].signature);
    assert!(a.supported && a.site_wide, "{a:#?}");
    assert_eq!(a.providers, vec!["vgca"]);
    assert!(!b.supported && b.site_wide, "{b:#?}");
    assert!(b.providers.is_empty());
    assert_eq!(b.site_wide_providers, vec!["vgca"]);
    assert!(b.evidence.iter().all(|e| e.site_wide));
}

#[test]
fn plugin_only_on_detail_pages_is_per_service() {
    let p = profile("accordion");
    let html = accordion_detail(&DetailSpec {
        code: "1.000003",
        name: "C",
        level: Some("Mức độ 3"),
        head: "<script src=\"/static/vgcaplugin.js\"></script>",
        extra: "",
        dossier: "",
    });
    let mut services = vec![extract::detail_page(
        &p,
        &Page::from_body(&format!("{PORTAL}/d"), html),
        "bca",
    )];
    extract::mark_site_wide(&mut services, &[Vec::new()]);
    assert!(services[0].signature.supported);
    assert!(!services[0].signature.site_wide);
}

#[test]
fn signature_providers_per_signal() {
    let p = profile("accordion");
    let cases: [(&str, &str); 8] = [
        ("<script src=\"/static/vgcaplugin.js\"></script>", "vgca"),
        (
            "<script src=\"/static/vnpt-plugin.js\"></script>",
            "vnpt-ca",
        ),
        (
            "<script>var ws = new WebSocket('wss://localhost:4433/plugin');</script>",
            "vnpt-ca",
        ),
        (
            "<script>var signer = 'http://127.0.0.1:14007/sign';</script>",
            "viettel-ca",
        ),
        (
            "<script>fetch('http://127.0.0.1:14408/api')</script>",
            "fpt-ca",
        ),
        ("<script src=\"/js/BkavCAPlugin.js\"></script>", "bkav-ca"),
        ("<p>Ký số từ xa bằng VNPT SmartCA</p>", "smartca"),
        ("<p>Hỗ trợ Viettel MySign</p>", "mysign"),
    ];
    for (snippet, provider) in cases {
        let html = accordion_detail(&DetailSpec {
            code: "1.000004",
            name: "D",
            level: Some("Toàn trình"),
            head: "",
            extra: snippet,
            dossier: "",
        });
        let f = extract::detail_page(&p, &Page::from_body(&format!("{PORTAL}/d"), html), "bca");
        assert_eq!(f.signature.providers, vec![provider], "{snippet}");
        assert!(f.signature.supported, "{snippet}");
        assert!(!f.signature.required, "{snippet}");
    }
}

fn table_list(offset: u32, total: u32, next: bool) -> String {
    let rows: String = (offset + 1..=(offset + 10).min(total))
        .map(|n| {
            format!(
                "<tr><td>{n}</td><td><a class=\"ten-thu-tuc\" href=\"/web/guest/thu-tuc-hanh-chinh/chi-tiet?id={n}\">Thủ tục {n}</a></td></tr>"
            )
        })
        .collect();
    let pager = if next {
        format!(
            "<a class=\"next-page\" href=\"/web/guest/thu-tuc-hanh-chinh?count={}\">Trang sau</a>",
            offset + 10
        )
    } else {
        String::new()
    };
    format!("<html><body><table class=\"ds-thu-tuc\">{rows}</table>{pager}</body></html>")
}

#[test]
fn table_list_pages_by_offset_and_detail_reads_rows() {
    let p = profile("table");
    let portal = "https://dvc.dng.sandbox.test:8443";
    let vars = AgencyVars::new("dng", portal);
    let (details, urls) = list_chain(&p, &vars, &|r| {
        let offset = r.list.as_ref().map_or(0, |l| l.counter as u32);
        table_list(offset, 25, offset + 10 < 25)
    });
    assert_eq!(
        urls,
        vec![
            format!("{portal}/web/guest/thu-tuc-hanh-chinh?count=0"),
            format!("{portal}/web/guest/thu-tuc-hanh-chinh?count=10"),
            format!("{portal}/web/guest/thu-tuc-hanh-chinh?count=20"),
        ]
    );
    assert_eq!(details.len(), 25);
    assert_eq!(
        details[24].url,
        format!("{portal}/web/guest/thu-tuc-hanh-chinh/chi-tiet?id=25")
    );

    let row = |l: &str, v: &str| {
        format!("<tr><td class=\"td-1\">{l}</td><td class=\"td-2\">{v}</td></tr>")
    };
    let html = format!(
        "<html><body><table class=\"chi-tiet-thu-tuc\">{}{}{}{}{}{}</table></body></html>",
        row("Mã thủ tục", "1.002345"),
        row("Tên thủ tục", "Cấp giấy phép xây dựng"),
        row("Mức trực tuyến", "DVC trực tuyến mức độ 3"),
        row("Lĩnh vực", "Xây dựng"),
        row("Thành phần hồ sơ", "Đơn đề nghị"),
        row("Yêu cầu điều kiện", "Không"),
    );
    let f = extract::detail_page(&p, &Page::from_body(&details[0].url, html), "dng");
    assert_eq!(f.code, "1.002345");
    assert_eq!(f.name, "Cấp giấy phép xây dựng");
    assert_eq!(
        (f.level, f.level_label.as_str()),
        (Level::Partial, "DVC trực tuyến mức độ 3")
    );
    assert!(!f.national_portal_link);
}

#[test]
fn windows_1258_page_is_nfc_normalised() {
    // "Mức trực tuyến" / "Toàn trình" / "Đăng ký thường trú" as Windows-1258 bytes, which use
    // combining tone marks: decoded text is decomposed until extraction composes it.
    let label: &[u8] = b"M\xFD\xECc tr\xFD\xF2c tuy\xEA\xECn";
    let level: &[u8] = b"Toa\xCCn tri\xCCnh";
    let name: &[u8] = b"\xD0\xE3ng ky\xEC th\xFD\xF5\xCCng tru\xEC";
    let mut bytes =
        b"<html><body><table class=\"chi-tiet-thu-tuc\"><tr><td class=\"td-1\">".to_vec();
    bytes.extend_from_slice(label);
    bytes.extend_from_slice(b"</td><td class=\"td-2\">");
    bytes.extend_from_slice(level);
    bytes.extend_from_slice(
        b"</td></tr><tr><td class=\"td-1\">T\xEAn thu\xD2 tu\xF2c</td><td class=\"td-2\">",
    );
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(b"</td></tr></table></body></html>");
    let (decoded, _, had_errors) = encoding_rs::WINDOWS_1258.decode(&bytes);
    assert!(!had_errors);
    assert!(decoded.contains("ky\u{301}"), "decoded text is decomposed");
    let p = profile("table");
    let f = extract::detail_page(
        &p,
        &Page::from_body("https://dvc.x.sandbox.test/d", decoded.into_owned()),
        "x",
    );
    assert_eq!(f.name, "Đăng ký thường trú");
    assert_eq!(
        (f.level, f.level_label.as_str()),
        (Level::Full, "Toàn trình")
    );
}

const API: &str = "https://api.hni.sandbox.test:8443";

#[test]
fn spa_json_list_follows_the_cursor_and_detail_reads_json() {
    let p = profile("spa");
    let vars = AgencyVars::new("hni", "https://dvc.hni.sandbox.test:8443").with("api", API);
    let (details, urls) = list_chain(&p, &vars, &|r| {
        let cursor = r.list.as_ref().and_then(|l| l.cursor.clone());
        match cursor.as_deref() {
            None => r#"{"content":[{"id":"a1","code":"1.000101","name":"Một"},{"id":"a2","code":"1.000102","name":"Hai"}],"lastId":"a2","last":false}"#.to_string(),
            Some("a2") => r#"{"content":[{"id":"a3","code":"1.000103","name":"Ba"}],"lastId":null,"last":true}"#.to_string(),
            other => panic!("unexpected cursor {other:?}"),
        }
    });
    assert_eq!(
        urls,
        vec![
            format!("{API}/api/v1/procedures?limit=50"),
            format!("{API}/api/v1/procedures?limit=50&lastId=a2"),
        ]
    );
    let got: Vec<(&str, &str, &str)> = details
        .iter()
        .map(|d| (d.url.as_str(), d.hint.code.as_str(), d.hint.name.as_str()))
        .collect();
    assert_eq!(
        got[0],
        (&*format!("{API}/api/v1/procedures/a1"), "1.000101", "Một")
    );
    assert_eq!(details.len(), 3);
    assert!(
        details
            .iter()
            .all(|d| d.method == Method::Get && d.body.is_none())
    );

    let json = r#"{"id":"a1","code":"1.000101","name":"Đăng ký <b>khai sinh</b>",
        "level":{"id":4,"name":"Dịch vụ công trực tuyến toàn trình"},
        "requireDigitalSignature":true,"digitalSignatureProviders":["VGCA","VNPT-CA"],
        "dossierRequirement":"Tờ khai ký số","nationalPortalSync":true}"#;
    let f = extract::detail_page(&p, &Page::from_body(&details[0].url, json), "hni");
    assert_eq!(f.code, "1.000101");
    assert_eq!(
        f.name, "Đăng ký <b>khai sinh</b>",
        "markup in a name stays text"
    );
    assert_eq!(f.level, Level::Full);
    assert_eq!(f.level_label, "Dịch vụ công trực tuyến toàn trình");
    assert!(f.signature.required && f.signature.supported);
    assert_eq!(f.signature.providers, vec!["vgca", "vnpt-ca"]);
    assert!(f.national_portal_link);

    let bare = r#"{"id":"a3","code":"1.000103","name":"Ba","level":null,
        "requireDigitalSignature":false,"digitalSignatureProviders":[],
        "dossierRequirement":"","nationalPortalSync":false}"#;
    let f = extract::detail_page(&p, &Page::from_body(&details[2].url, bare), "hni");
    assert_eq!((f.level, f.level_label.as_str()), (Level::Unknown, ""));
    assert!(!f.signature.required && !f.signature.supported && !f.national_portal_link);
    assert!(f.signature.providers.is_empty());
}

#[test]
fn spa_detail_that_is_not_json_is_a_decode_problem() {
    let p = profile("spa");
    let mut page = Page::from_body(&format!("{API}/api/v1/procedures/x"), "{\"code\": ");
    page.content_type = "application/json".into();
    let f = extract::detail_page(&p, &page, "hni");
    assert_eq!(f.fetch.error.map(|e| e.kind), Some(AssessReason::Decode));
}

#[test]
fn spa_without_api_could_not_be_assessed() {
    let p = profile("spa-noapi");
    let shell = "<!doctype html><html><head><script src=\"/static/js/app.js\"></script></head><body><div id=\"app\"></div></body></html>";
    let vars = AgencyVars::new("cbg", "https://dvc.cbg.sandbox.test:8443");
    let start = p.start_requests(&vars).expect("start");
    assert_eq!(start[0].url, "https://dvc.cbg.sandbox.test:8443/");
    let mut state = ListState::new(&vars);
    let out = extract::list_page(
        &p,
        &Page::from_body(&start[0].url, shell),
        &start[0],
        &mut state,
    );
    assert_eq!(out.could_not_assess, Some(AssessReason::SpaWithoutApi));
    assert!(out.details.is_empty() && out.next.is_none());
    let f = extract::detail_page(
        &p,
        &Page::from_body("https://dvc.cbg.sandbox.test:8443/dich-vu-cong/1", shell),
        "cbg",
    );
    assert_eq!(
        f.fetch.error.map(|e| e.kind),
        Some(AssessReason::SpaWithoutApi)
    );
    assert_eq!(f.level, Level::Unknown);
}

#[test]
fn requirement_text_respects_diacritics() {
    // "đăng ký số lượng" and "ký sổ" are not about digital signatures.
    let p = profile("accordion");
    for (dossier, required) in [
        ("Giấy đăng ký số lượng; sổ hộ khẩu đã ký sổ", false),
        ("Tờ khai phải được KÝ SỐ bằng chữ ký số chuyên dùng", true),
        ("Bản sao có chữ ký số của cơ quan cấp", true),
    ] {
        let html = accordion_detail(&DetailSpec {
            code: "1.000006",
            name: "E",
            level: Some("Một phần"),
            head: "",
            extra: "",
            dossier,
        });
        let f = extract::detail_page(&p, &Page::from_body(&format!("{PORTAL}/d"), html), "bca");
        assert_eq!(f.signature.required, required, "{dossier}");
    }
}

#[test]
fn injected_markup_in_a_name_is_text() {
    let p = profile("accordion");
    let html = accordion_detail(&DetailSpec {
        code: "1.000005",
        name: "&lt;script&gt;alert(1)&lt;/script&gt;Cấp đổi <img src=x onerror=alert(2)>hộ chiếu",
        level: Some("Một phần"),
        head: "",
        extra: "",
        dossier: "",
    });
    let f = extract::detail_page(&p, &Page::from_body(&format!("{PORTAL}/d"), html), "bca");
    assert_eq!(f.name, "<script>alert(1)</script>Cấp đổi hộ chiếu");
    assert_eq!(f.level, Level::Partial);
}

#[test]
fn normalised_hash_ignores_volatile_parts() {
    let p = profile("accordion");
    let a = "<html><head><meta name=\"csrf-token\" content=\"abc\"><script src=\"/app.js?v=123\" nonce=\"r4nd0m\"></script></head><body>x</body></html>";
    let b = "<html><head><meta name=\"csrf-token\" content=\"zzz\"><script src=\"/app.js?v=999\" nonce=\"other\"></script></head><body>x</body></html>";
    let c = b.replace("<body>x", "<body>y");
    assert_eq!(
        extract::normalised_hash(&p, a),
        extract::normalised_hash(&p, b)
    );
    assert_ne!(
        extract::normalised_hash(&p, a),
        extract::normalised_hash(&p, &c)
    );
    assert_eq!(extract::normalised_hash(&p, a).len(), 64);
}

#[test]
fn error_status_pages_are_not_read() {
    let p = profile("accordion");
    let html = accordion_detail(&DetailSpec {
        code: "1.000007",
        name: "F",
        level: Some("Mức độ 4"),
        head: "",
        extra: "",
        dossier: "",
    });
    let mut page = Page::from_body(&format!("{PORTAL}/d"), html);
    page.status = 503;
    let f = extract::detail_page(&p, &page, "bca");
    assert_eq!(
        f.fetch.error.map(|e| e.kind),
        Some(AssessReason::HttpStatus)
    );
    assert_eq!((f.code.as_str(), f.level), ("", Level::Unknown));

    let vars = AgencyVars::new("bca", PORTAL);
    let start = p.start_requests(&vars).expect("start");
    let mut page = Page::from_body(&start[0].url, accordion_list(1, 5, 20, false, false));
    page.status = 500;
    let out = extract::list_page(&p, &page, &start[0], &mut ListState::new(&vars));
    assert_eq!(out.could_not_assess, Some(AssessReason::HttpStatus));
    assert!(out.details.is_empty() && out.next.is_none());
}

#[test]
fn an_empty_json_list_is_an_answer_not_no_data() {
    let p = profile("spa");
    let vars = AgencyVars::new("hni", "https://dvc.hni.sandbox.test").with("api", API);
    let start = p.start_requests(&vars).expect("start");
    let page = Page::from_body(&start[0].url, r#"{"content":[],"lastId":null,"last":true}"#);
    let out = extract::list_page(&p, &page, &start[0], &mut ListState::new(&vars));
    assert_eq!(out.could_not_assess, None);
    assert_eq!(out.total, Some(0));
    let page = Page::from_body(&start[0].url, r#"{"items":[]}"#);
    let out = extract::list_page(&p, &page, &start[0], &mut ListState::new(&vars));
    assert_eq!(out.could_not_assess, Some(AssessReason::NoData));
}

#[test]
fn spa_provider_names_map_to_slugs() {
    let p = profile("spa");
    let cases = [
        ("VGCA", "vgca"),
        ("vgca", "vgca"),
        ("VGCA (Ban Cơ yếu Chính phủ)", "vgca"),
        ("VNPT-CA", "vnpt-ca"),
        ("Viettel-CA", "viettel-ca"),
        ("FPT-CA", "fpt-ca"),
        ("BKAV-CA", "bkav-ca"),
        ("VNPT SmartCA", "smartca"),
        ("Viettel MySign", "mysign"),
    ];
    for (name, slug) in cases {
        let json = serde_json::json!({
            "id": "a", "code": "1.000001", "name": "A", "level": null,
            "requireDigitalSignature": false, "digitalSignatureProviders": [name],
            "dossierRequirement": "", "nationalPortalSync": false
        })
        .to_string();
        let f = extract::detail_page(&p, &Page::from_body(&format!("{API}/x"), json), "hni");
        assert_eq!(f.signature.providers, vec![slug], "{name}");
        assert!(f.signature.supported && !f.signature.required, "{name}");
    }
}

#[test]
fn a_themed_page_without_the_label_value_block_is_no_service_data() {
    // A soft 404 (or a page whose markup changed) in the portal's theme: the title selector
    // still matches, nothing else does. Before, it was judged as a service with no level
    // (a false LVL-001, and the agency's level share lowered).
    let p = profile("accordion");
    let html = "<html><head><script src=\"/static/vgcaplugin.js\"></script></head><body>\
        <div class=\"tthc-title\"><h4>Không tìm thấy thủ tục hành chính</h4></div>\
        <p>Thủ tục bạn tìm không tồn tại hoặc đã bị gỡ bỏ.</p></body></html>";
    let f = extract::detail_page(
        &p,
        &Page::from_body(&format!("{PORTAL}/bothutuc/tthc?matt=999"), html),
        "bca",
    );
    let err = f.fetch.error.as_ref().expect("no service data");
    assert_eq!(err.kind, AssessReason::NoData, "{err:?}");
    assert!(
        err.message.contains("div.tthc-list-item"),
        "{}",
        err.message
    );
    let rules = dvc_audit::rules::RuleSet::bundled().expect("rules").rules;
    let agency = dvc_audit::rules::bench::synthetic_agency();
    for o in rules.evaluate_service(&f, &agency) {
        assert!(
            !matches!(o.verdict, dvc_audit::rules::Verdict::Fail),
            "{} judged a page that is no service: {o:?}",
            o.rule_id
        );
    }
    // The same theme with the block present and no level row is still a service without a
    // published level (LVL-001's business).
    let with_block = accordion_detail(&DetailSpec {
        code: "",
        name: "Khai báo tạm vắng",
        level: None,
        head: "",
        extra: "",
        dossier: "Tờ khai",
    });
    let g = extract::detail_page(
        &p,
        &Page::from_body(&format!("{PORTAL}/x"), with_block),
        "bca",
    );
    assert!(g.fetch.error.is_none(), "{:?}", g.fetch.error);
}

#[test]
fn a_negated_mention_of_the_signature_is_no_requirement() {
    // "không yêu cầu chữ ký số" (no signature required) named the signature and read as a
    // requirement: a false SIG-003 (high). A clause that negates it is no signal; another
    // clause of the same text that requires it still is.
    let p = profile("accordion");
    let read = |dossier: &str| {
        let html = accordion_detail(&DetailSpec {
            code: "1.000001",
            name: "Khai báo tạm vắng",
            level: Some("Toàn trình"),
            head: "",
            extra: "",
            dossier,
        });
        extract::detail_page(&p, &Page::from_body(&format!("{PORTAL}/x"), html), "bca")
    };
    for negated in [
        "Tờ khai (bản giấy, không yêu cầu chữ ký số)",
        "Tờ khai điện tử: Không bắt buộc ký số",
        "Bản chụp giấy tờ tùy thân; không cần chữ ký số",
    ] {
        let f = read(negated);
        assert!(!f.signature.required, "{negated}: {:?}", f.signature);
        let rules = dvc_audit::rules::RuleSet::bundled().expect("rules").rules;
        let agency = dvc_audit::rules::bench::synthetic_agency();
        let sig003 = rules
            .evaluate_service(&f, &agency)
            .into_iter()
            .find(|o| &*o.rule_id == "SIG-003")
            .expect("SIG-003");
        assert_eq!(sig003.verdict.as_str(), "not_applicable", "{negated}");
    }
    let f = read(
        "Tờ khai (bản giấy, không yêu cầu chữ ký số); hồ sơ điện tử phải ký số bằng chữ ký số chuyên dùng",
    );
    assert!(f.signature.required, "{:?}", f.signature);
}

#[test]
fn a_json_detail_without_the_signature_keys_leaves_the_signature_unknown() {
    // An absent key is not a "no": before, SIG-001 failed on a record that says nothing.
    let p = profile("spa");
    let json = r#"{"id":"a9","code":"1.000109","name":"Đăng ký kết hôn",
        "level":{"id":4,"name":"Dịch vụ công trực tuyến toàn trình"},"nationalPortalSync":true}"#;
    let f = extract::detail_page(
        &p,
        &Page::from_body(&format!("{API}/api/v1/procedures/a9"), json),
        "hni",
    );
    assert_eq!(f.level, Level::Full);
    assert!(
        f.unknown
            .iter()
            .any(|u| u.fact == "signature" && u.kind == AssessReason::NoData),
        "{:?}",
        f.unknown
    );
    let rules = dvc_audit::rules::RuleSet::bundled().expect("rules").rules;
    let agency = dvc_audit::rules::bench::synthetic_agency();
    let sig001 = rules
        .evaluate_service(&f, &agency)
        .into_iter()
        .find(|o| &*o.rule_id == "SIG-001")
        .expect("SIG-001");
    assert_eq!(sig001.verdict.as_str(), "could_not_assess");
}
