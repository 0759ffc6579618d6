//! Profile files that are wrong fail to load with every problem, each at file:line:col.

use dvc_audit::profile::{Profile, ProfileSet};

const GOOD: &str = r#"id = "ok"
name = "ok"

[listing]
start = ["{portal}/list"]

[listing.html]
link = "a.x"

[detail.direct]
name = "h1"
"#;

fn errors_of(text: &str) -> String {
    match Profile::from_str_named("bad.toml", text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0.render(false),
    }
}

#[test]
fn good_minimal_profile_loads() {
    let (p, w) = Profile::from_str_named("ok.toml", GOOD).expect("loads");
    assert_eq!(p.id, "ok");
    assert!(w.is_empty());
}

#[test]
fn unknown_key_is_an_error_with_location() {
    let text = GOOD.replace("link = \"a.x\"", "link = \"a.x\"\nlnik_attr = \"href\"");
    let out = errors_of(&text);
    assert!(out.contains("bad.toml:9:1"), "{out}");
    assert!(out.contains("unknown field `lnik_attr`"), "{out}");
}

#[test]
fn every_problem_is_reported_at_its_place() {
    let text = r##"id = "Bad Id"
name = "bad"

[listing]
start = ["{portal/list"]

[listing.html]
link = "a > > b"
total = "#total"

[detail.json]
code = "code"

[[level]]
regex = "muc do (4"
level = "full"

[[signal]]
kind = "control"
effect = "supports"
provider = "vgca"
"##;
    let out = errors_of(text);
    let expect = [
        ("bad.toml:1:6", "profile id must be lower-case"),
        ("bad.toml:5:11", "unclosed `{`"),
        ("bad.toml:8:8", "CSS selector `a > > b` does not parse"),
        ("bad.toml:12:8", "JSON pointer `code` must start with `/`"),
        ("bad.toml:15:9", "regex `muc do (4` does not compile"),
        ("bad.toml:19:8", "a `control` signal needs `selector`"),
    ];
    for (loc, msg) in expect {
        let line = out
            .lines()
            .find(|l| l.contains(msg))
            .unwrap_or_else(|| panic!("missing {msg:?} in:\n{out}"));
        assert!(
            line.contains(loc),
            "{msg}: expected {loc} in {line:?}\n{out}"
        );
    }
    assert!(out.contains("6 errors"), "{out}");
    // The source line is quoted under the header.
    assert!(out.contains("link = \"a > > b\""), "{out}");
}

#[test]
fn unknown_provider_is_a_warning_not_an_error() {
    let text = format!(
        "{GOOD}\n[[signal]]\nkind = \"js_literal\"\nregex = \"x\"\nprovider = \"vgac\"\neffect = \"supports\"\n"
    );
    let (_, warnings) = Profile::from_str_named("w.toml", &text).expect("loads");
    let out = warnings.render(false);
    assert!(out.contains("warning[profile::provider]: w.toml:"), "{out}");
    assert!(out.contains("`vgac`"), "{out}");
}

#[test]
fn bundled_profiles_equal_the_files_and_lint_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/portals");
    let (set, warnings) =
        ProfileSet::load_dir(&dir).unwrap_or_else(|e| panic!("{}", e.0.render(false)));
    assert!(warnings.is_empty(), "{}", warnings.render(false));
    let ids: Vec<&str> = set.ids().collect();
    assert_eq!(
        ids,
        vec![
            "accordion",
            "dl",
            "dvcqg-api",
            "igate",
            "liferay",
            "list-api",
            "opencps",
            "spa",
            "spa-noapi",
            "table"
        ]
    );
    assert_eq!(
        dvc_audit::profile::BUNDLED.len(),
        ids.len(),
        "every file bundled"
    );
    for (name, text) in dvc_audit::profile::BUNDLED {
        let on_disk = std::fs::read_to_string(dir.join(name)).expect("read");
        assert_eq!(on_disk, text, "{name}");
    }
}

#[test]
fn duplicate_ids_in_a_directory_are_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.toml"), GOOD).expect("write");
    std::fs::write(dir.path().join("b.toml"), GOOD).expect("write");
    let err = ProfileSet::load_dir(dir.path()).expect_err("duplicate");
    assert!(err.0.render(false).contains("profile id `ok`"));
}

#[test]
fn counter_pagination_needs_a_way_to_send_the_counter() {
    let text = GOOD.replace(
        "[detail.direct]",
        "[listing.pagination]\nkind = \"page_index\"\n\n[detail.direct]",
    );
    let out = errors_of(&text);
    assert!(out.contains("needs `param`"), "{out}");
    assert!(out.contains("bad.toml:11:8"), "{out}");
}

#[test]
fn unless_is_read_only_for_requirement_text() {
    let text = format!(
        "{GOOD}\n[[signal]]\nkind = \"control\"\nselector = \"button\"\nunless = \"không\"\neffect = \"supports\"\n"
    );
    let out = errors_of(&text);
    assert!(
        out.contains("`unless` applies to `requirement_text` signals, not `control`"),
        "{out}"
    );
    assert!(out.contains("bad.toml:16:10"), "{out}");
    let ok = format!(
        "{GOOD}\n[[signal]]\nkind = \"requirement_text\"\nregex = \"chữ ký số\"\nunless = \"không\"\neffect = \"requires\"\n"
    );
    assert!(Profile::from_str_named("ok.toml", &ok).is_ok());
}

#[test]
fn a_counter_listing_that_cannot_confirm_its_end_is_a_warning() {
    let paged = |extra_html: &str, extra_pagination: &str| {
        GOOD.replace("link = \"a.x\"\n", &format!("link = \"a.x\"\n{extra_html}"))
            .replace(
                "[detail.direct]",
                &format!(
                    "[listing.pagination]\nkind = \"page_index\"\nparam = \"p\"\n{extra_pagination}\n[detail.direct]"
                ),
            )
    };
    let warnings = |text: &str| {
        let (_, w) = Profile::from_str_named("w.toml", text).expect("loads");
        w.render(false)
    };
    // No container, no total, no `more`: every run's end would be unconfirmed.
    let out = warnings(&paged("", ""));
    assert!(
        out.contains("warning[profile::listing-end]: w.toml:"),
        "{out}"
    );
    assert!(out.contains("`container`"), "{out}");
    // Any one of the three lets a run tell its last page from a page that is no list.
    for (html, pagination) in [
        ("container = \"ul.list\"\n", ""),
        ("total = \"#total\"\n", ""),
        ("", "more = \"a.next\"\n"),
    ] {
        let out = warnings(&paged(html, pagination));
        assert!(!out.contains("listing-end"), "{html}{pagination}: {out}");
    }
    // A next-link chain ends on its last page (no next link), never on an empty one.
    let next = GOOD.replace(
        "[detail.direct]",
        "[listing.pagination]\nkind = \"next_link\"\nselector = \"a.next\"\n\n[detail.direct]",
    );
    assert!(!warnings(&next).contains("listing-end"));
}
