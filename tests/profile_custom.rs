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
