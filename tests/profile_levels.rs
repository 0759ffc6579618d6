//! Level labels in both schemes and free-text variants → full / partial / info / unknown.

use dvc_audit::facts::Level;
use dvc_audit::profile::ProfileSet;

const CASES: &[(&str, Level)] = &[
    ("Mức độ 4", Level::Full),
    ("MỨC ĐỘ 4", Level::Full),
    ("muc do 4", Level::Full),
    ("Mức  độ\n 4", Level::Full),
    ("Dịch vụ công trực tuyến mức độ 4", Level::Full),
    ("DVC trực tuyến mức độ 4", Level::Full),
    ("Mức 4", Level::Full),
    ("Mức độ 3", Level::Partial),
    ("DVC trực tuyến mức độ 3", Level::Partial),
    ("Dịch vụ công trực tuyến mức độ 3", Level::Partial),
    ("Mức độ 2", Level::Info),
    ("Mức độ 1", Level::Info),
    ("Dịch vụ công trực tuyến mức độ 2", Level::Info),
    ("Toàn trình", Level::Full),
    ("toàn trình", Level::Full),
    ("Dịch vụ công trực tuyến toàn trình", Level::Full),
    ("DVC trực tuyến toàn trình", Level::Full),
    ("TOAN TRINH", Level::Full),
    ("Một phần", Level::Partial),
    ("Dịch vụ công trực tuyến một phần", Level::Partial),
    ("DVCTT một phần", Level::Partial),
    ("Dịch vụ cung cấp thông tin trực tuyến", Level::Info),
    ("Mức độ IV", Level::Full),
    ("MỨC ĐỘ III", Level::Partial),
    ("Mức độ II", Level::Info),
    ("Mức độ 4 - Toàn trình", Level::Full),
    ("Mức độ 3 (một phần)", Level::Partial),
    // Two levels in one label: which one the agency meant is not observed.
    ("Một phần (chưa đủ điều kiện toàn trình)", Level::Unknown),
    ("Mức độ 3 - toàn trình", Level::Unknown),
    ("Mức độ 14", Level::Unknown),
    ("Đang cập nhật", Level::Unknown),
];

#[test]
fn every_bundled_html_and_json_profile_maps_levels_alike() {
    let set = ProfileSet::bundled().expect("bundled profiles load");
    for id in ["accordion", "table", "spa", "dl", "liferay", "list-api"] {
        let p = set.get(id).expect("profile");
        let mut wrong = Vec::new();
        for (label, want) in CASES {
            let (got, kept) = p.levels.map(label);
            if got != *want {
                wrong.push(format!("{label:?}: got {got:?}, want {want:?}"));
            }
            assert!(!kept.is_empty(), "a non-empty label is kept");
        }
        assert!(wrong.is_empty(), "profile {id}:\n{}", wrong.join("\n"));
    }
}

#[test]
fn unmatched_label_is_unknown_and_kept_empty_label_is_unknown_and_empty() {
    let set = ProfileSet::bundled().expect("bundled");
    let p = set.get("accordion").expect("accordion");
    assert_eq!(
        p.levels.map("  Đang   cập nhật "),
        (Level::Unknown, "Đang cập nhật".to_string())
    );
    assert_eq!(p.levels.map(""), (Level::Unknown, String::new()));
    assert_eq!(p.levels.map(" \n "), (Level::Unknown, String::new()));
}
