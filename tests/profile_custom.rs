//! A fourth platform, written only in this test: label/value rows (`div.info-row` with `.key`
//! and a value column) and page-index pagination that stops when a page brings nothing new.
//! No code knows this shape; the profile alone reads it.

use dvc_audit::extract::{self, AgencyVars, ListState, Page};
use dvc_audit::facts::Level;
use dvc_audit::profile::Profile;

const PROFILE: &str = r#"
id = "info-rows"
name = "Old national portal (info rows)"
description = "Result items with a.title links; detail rows div.info-row > .key + .col-value"

[listing]
start = ["{portal}/tthc/tim-kiem?linhvuc={field}"]
max_pages = 20

[listing.html]
item = "div.result-item"
link = "a.title"
code = "span.ma-tthc"
total = ".total-count"

[listing.pagination]
kind = "page_index"
param = "_cur"
start = 1
size_param = "size"
size = 3

[detail.label_value]
container = "div.info-row"
label = ".key"
value = ".col-value"

[detail.labels]
code = ["Mã thủ tục"]
name = ["Tên thủ tục"]
level = ["Mức độ DVC"]
dossier = ["Hồ sơ"]

[[level]]
contains = "toàn trình"
level = "full"
[[level]]
regex = 'muc do\s*[34]'
level = "partial"

[[signal]]
kind = "control"
selector = "input[type=file]"
regex = 'ky so'
provider = "vgca"
effect = "supports"

[national_link]
selector = "a.dvcqg"
"#;

fn list_page_html(page: i64) -> String {
    // Pages 1 and 2 hold 3 and 2 services; page 3 repeats page 2 (a portal that clamps the
    // index): it brings nothing new, which ends the chain.
    let ids: &[i64] = match page {
        1 => &[1, 2, 3],
        _ => &[4, 5],
    };
    let items: String = ids
        .iter()
        .map(|n| {
            format!(
                "<div class=\"result-item\"><a class=\"title\" href=\"/tthc/chi-tiet/{n}\">Dịch vụ {n}</a>\
                 <span class=\"ma-tthc\">1.00020{n}</span></div>"
            )
        })
        .collect();
    format!("<html><body><p>Tổng số: <b class=\"total-count\">99</b></p>{items}</body></html>")
}

#[test]
fn a_profile_written_in_a_test_reads_a_new_shape() {
    let (p, warnings) = Profile::from_str_named("info-rows.toml", PROFILE).unwrap_or_else(|e| {
        panic!("{}", e.0.render(false));
    });
    assert!(warnings.is_empty(), "{}", warnings.render(false));
    let vars = AgencyVars::new("old", "https://old.sandbox.test/").with("field", "tu-phap");
    let start = p.start_requests(&vars).expect("start");
    assert_eq!(
        start[0].url,
        "https://old.sandbox.test/tthc/tim-kiem?linhvuc=tu-phap&_cur=1&size=3"
    );
    let mut state = ListState::new(&vars);
    let mut req = Some(start[0].clone());
    let mut details = Vec::new();
    let mut pages = 0;
    while let Some(r) = req {
        pages += 1;
        assert!(pages < 10, "runaway");
        let n = r.list.as_ref().map_or(1, |l| l.counter);
        let out = extract::list_page(
            &p,
            &Page::from_body(&r.url, list_page_html(n)),
            &r,
            &mut state,
        );
        details.extend(out.details);
        req = out.next;
    }
    assert_eq!(pages, 3, "page 3 brought nothing new and ended the chain");
    assert_eq!(details.len(), 5);
    assert_eq!(details[3].url, "https://old.sandbox.test/tthc/chi-tiet/4");
    assert_eq!(details[3].hint.code, "1.000204");
    assert_eq!(details[3].hint.name, "Dịch vụ 4");

    let row = |k: &str, v: &str| {
        format!(
            "<div class=\"info-row\"><div class=\"col-md-4 key\">{k}</div><div class=\"col-md-8 col-value\">{v}</div></div>"
        )
    };
    let html = format!(
        "<html><body>{}{}{}{}<input type=\"file\" title=\"Tải lên tệp đã ký số\"><label>Ký số</label>\
         <a class=\"dvcqg\" href=\"https://dichvucong.gov.vn/x\">DVC QG</a></body></html>",
        row("Mã thủ tục:", "1.000204"),
        row("Tên thủ tục:", "Dịch vụ 4"),
        row("MỨC ĐỘ DVC", "Mức độ 4"),
        row("Hồ sơ", "Đơn"),
    );
    let mut f = extract::detail_page(&p, &Page::from_body(&details[3].url, html), "old");
    details[3].hint.fill(&mut f);
    assert_eq!(f.code, "1.000204");
    assert_eq!(f.name, "Dịch vụ 4");
    assert_eq!(
        f.level,
        Level::Partial,
        "this profile maps level 4 to partial: data, not code"
    );
    assert!(f.national_portal_link);
    // The file input has no text of its own: the control signal needs its regex to match, so no support.
    assert!(!f.signature.supported);
}

/// A JSON API read with POST and a templated body, paged by index in the body only.
const POST_PROFILE: &str = r#"
id = "post-api"
name = "POST API"

[listing]
start = ["{api}/search"]

[listing.json]
method = "POST"
body = '{{"page": {page}, "size": {size}, "agency": "{id}"}}'
items = "/data/items"
detail_url = "{api}/procedure?code={/maTTHC}"
code = "/maTTHC"
name = "/tenTTHC"
total = "/data/total"

[listing.pagination]
kind = "page_index"
start = 0
size = 2

[detail.json]
code = "/maTTHC"
name = "/tenTTHC"
level = "/mucDo"
"#;

#[test]
fn json_post_listing_pages_through_the_body_until_total() {
    let (p, _) = Profile::from_str_named("post.toml", POST_PROFILE)
        .unwrap_or_else(|e| panic!("{}", e.0.render(false)));
    let vars =
        AgencyVars::new("qni", "https://dvc.qni.test").with("api", "https://api.qni.test/v2");
    let mut req = p.start_requests(&vars).expect("start").into_iter().next();
    let mut state = ListState::new(&vars);
    let mut bodies = Vec::new();
    let mut details = Vec::new();
    while let Some(r) = req {
        assert!(bodies.len() < 10, "runaway");
        assert_eq!(r.method, dvc_audit::profile::Method::Post);
        assert_eq!(r.url, "https://api.qni.test/v2/search");
        let body = r.body.clone().expect("body");
        let v: serde_json::Value = serde_json::from_str(&body).expect("body is JSON");
        let page = v["page"].as_i64().expect("page");
        bodies.push(body);
        let items: Vec<serde_json::Value> = (0..2)
            .map(|i| page * 2 + i)
            .filter(|n| *n < 3)
            .map(|n| serde_json::json!({"maTTHC": format!("2.00{n} x"), "tenTTHC": format!("TT {n}")}))
            .collect();
        let resp = serde_json::json!({"data": {"items": items, "total": 3}}).to_string();
        let out = extract::list_page(&p, &Page::from_body(&r.url, resp), &r, &mut state);
        details.extend(out.details);
        req = out.next;
    }
    assert_eq!(
        bodies,
        vec![
            r#"{"page": 0, "size": 2, "agency": "qni"}"#,
            r#"{"page": 1, "size": 2, "agency": "qni"}"#,
        ],
        "stops once the announced total is listed"
    );
    assert_eq!(details.len(), 3);
    assert_eq!(
        details[2].url,
        "https://api.qni.test/v2/procedure?code=2.002%20x"
    );
    assert_eq!(details[2].hint.code, "2.002 x");
}

/// HTML next links, one of which leads back to a page already read.
const NEXT_PROFILE: &str = r#"
id = "next"
name = "Next links"

[listing]
start = ["{portal}/ds"]

[listing.html]
link = "a.tt"

[listing.pagination]
kind = "next_link"
selector = "a.next"

[detail.direct]
name = "h1"
"#;

#[test]
fn next_link_pagination_stops_on_a_page_already_read() {
    let (p, _) = Profile::from_str_named("next.toml", NEXT_PROFILE)
        .unwrap_or_else(|e| panic!("{}", e.0.render(false)));
    let vars = AgencyVars::new("x", "https://x.test");
    let mut req = p.start_requests(&vars).expect("start").into_iter().next();
    let mut state = ListState::new(&vars);
    let mut urls = Vec::new();
    let mut details = 0;
    while let Some(r) = req {
        assert!(urls.len() < 10, "runaway");
        urls.push(r.url.clone());
        let (links, next) = if r.url.ends_with("/ds") {
            (
                "<a class=tt href=/d/1>1</a><a class=tt href='/d/2#top'>2</a>",
                "/ds?p=2",
            )
        } else {
            (
                "<a class=tt href=/d/3>3</a><a class=tt href=/d/1>1 again</a>",
                "/ds",
            )
        };
        let html = format!("<body>{links}<a class=next href='{next}'>»</a></body>");
        let out = extract::list_page(&p, &Page::from_body(&r.url, html), &r, &mut state);
        details += out.details.len();
        req = out.next;
    }
    assert_eq!(urls, vec!["https://x.test/ds", "https://x.test/ds?p=2"]);
    assert_eq!(details, 3, "duplicates across pages are dropped");
}

/// The fenced blocks of one language between two headings of a markdown text.
fn blocks(md: &str, lang: &str, from: &str, to: &str) -> Vec<String> {
    let start = md.find(from).expect("section start");
    let end = md[start..].find(to).map_or(md.len(), |e| start + e);
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in md[start..end].lines() {
        match &mut cur {
            None if line.trim() == format!("```{lang}") => cur = Some(String::new()),
            Some(b) if line.trim() == "```" => {
                out.push(std::mem::take(b));
                cur = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    out
}

#[test]
fn the_worked_example_in_the_docs_loads_and_reads_its_pages() {
    let md = include_str!("../docs/writing-a-profile.md");
    let toml = blocks(md, "toml", "## Worked example", "## Reference").concat();
    let html = blocks(md, "html", "## Worked example", "## Reference");
    assert_eq!(html.len(), 2, "a list page and a service page");
    let (p, warnings) = Profile::from_str_named("docs/writing-a-profile.md", &toml)
        .unwrap_or_else(|e| panic!("{}", e.0.render(false)));
    assert!(warnings.is_empty(), "{}", warnings.render(false));
    assert_eq!(p.id, "info-rows");

    let vars = AgencyVars::new("old", "https://old.example.gov.vn").with("field", "tu-phap");
    let start = p.start_requests(&vars).expect("start");
    assert_eq!(
        start[0].url,
        "https://old.example.gov.vn/tthc/tim-kiem?linhvuc=tu-phap&_cur=1&size=20"
    );
    let mut state = ListState::new(&vars);
    let list = extract::list_page(
        &p,
        &Page::from_body(&start[0].url, html[0].clone()),
        &start[0],
        &mut state,
    );
    assert_eq!(list.details.len(), 1);
    assert_eq!(
        list.details[0].url,
        "https://old.example.gov.vn/tthc/chi-tiet/4"
    );
    assert_eq!(list.details[0].hint.code, "1.000204");
    assert_eq!(list.total, Some(99));

    let f = extract::detail_page(
        &p,
        &Page::from_body(&list.details[0].url, html[1].clone()),
        "old",
    );
    assert_eq!(f.code, "1.000204");
    assert_eq!(f.name, "Dịch vụ 4");
    assert_eq!((f.level, f.level_label.as_str()), (Level::Full, "Mức độ 4"));
    assert!(f.national_portal_link);
}

#[test]
fn the_readme_shows_the_same_worked_example() {
    let md = include_str!("../docs/writing-a-profile.md");
    let readme = include_str!("../README.md");
    for lang in ["toml", "html"] {
        assert_eq!(
            blocks(readme, lang, "## Writing a profile", "## Development"),
            blocks(md, lang, "## Worked example", "## Reference"),
            "README's worked example ({lang} blocks) differs from docs/writing-a-profile.md"
        );
    }
}

/// The two mode examples of the docs ("More worked examples"): their TOML, given an id and
/// (for the dt/dd reading) a listing, reads their example page or response as the text says.
#[test]
fn the_mode_examples_in_the_docs_read_their_pages() {
    let md = include_str!("../docs/writing-a-profile.md");
    let head = "id = \"doc\"\nname = \"doc\"\n";

    // dt/dd siblings.
    let from = "### Label and value side by side";
    let toml = blocks(md, "toml", from, "### A list-only JSON API").concat();
    let html = blocks(md, "html", from, "### A list-only JSON API");
    let text = format!(
        "{head}[listing]\nstart = [\"{{portal}}/\"]\n[listing.html]\nlink = \"a\"\n{toml}\n\
         [[level]]\ncontains = \"toàn trình\"\nlevel = \"full\"\n\
         [[signal]]\nkind = \"requirement_text\"\nregex = 'ký số'\neffect = \"requires\"\n"
    );
    let (p, _) = Profile::from_str_named("doc.toml", &text)
        .unwrap_or_else(|e| panic!("{}", e.0.render(false)));
    let page = html.first().expect("the example page");
    let f = extract::detail_page(&p, &Page::from_body("https://x.test/1", page.clone()), "x");
    assert_eq!(f.code, "1.009794");
    assert_eq!(f.name, "Cấp giấy phép xây dựng");
    assert_eq!(
        (f.level, f.level_label.as_str()),
        (Level::Full, "Dịch vụ công trực tuyến toàn trình")
    );
    assert!(
        f.signature.required,
        "the second <dd> of the dossier is read"
    );

    // A list-only JSON API.
    let from = "### A list-only JSON API";
    let toml = blocks(md, "toml", from, "## Checklist").concat();
    let json = blocks(md, "json", from, "## Checklist");
    let (p, _) = Profile::from_str_named("doc.toml", &format!("{head}{toml}"))
        .unwrap_or_else(|e| panic!("{}", e.0.render(false)));
    let vars = AgencyVars::new("hanoi", "https://dvc.example.gov.vn")
        .with("api", "https://api.example.gov.vn");
    let start = p.start_requests(&vars).expect("start").remove(0);
    assert_eq!(
        start.url,
        "https://api.example.gov.vn/api/v2/thu-tuc/tim-kiem"
    );
    assert_eq!(
        start.body.as_deref(),
        Some(r#"{"limit": 50, "lastId": ""}"#)
    );
    let body = json.first().expect("the example response");
    let mut state = ListState::new(&vars);
    let page = Page::from_body(&start.url, body.clone());
    let out = extract::list_page(&p, &page, &start, &mut state);
    assert_eq!(out.details.len(), 2);
    let services: Vec<_> = out
        .details
        .iter()
        .map(|d| {
            let item = d.hint.item.as_ref().expect("item facts");
            extract::list_only_service("hanoi", &d.url, item, page.fetch.clone())
        })
        .collect();
    let a = &services[0];
    assert_eq!(a.url, "https://dvc.example.gov.vn/dich-vu-cong/tthc/a1");
    assert_eq!(
        (a.level, a.level_label.as_str()),
        (Level::Full, "Toàn trình")
    );
    assert!(a.signature.required && a.signature.supported);
    assert_eq!(a.signature.providers, vec!["vgca"]);
    assert!(
        a.evidence
            .iter()
            .any(|e| e.kind == "list_item" && e.locator == "/data/items/0")
    );
    let b = &services[1];
    assert_eq!((b.level, b.level_label.as_str()), (Level::Unknown, ""));
    assert!(!b.signature.required && !b.signature.supported);
    assert_eq!(
        out.next.and_then(|n| n.body).as_deref(),
        Some(r#"{"limit": 50, "lastId": "a2"}"#)
    );
}
