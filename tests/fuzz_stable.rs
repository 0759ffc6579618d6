//! Property tests that fuzz the parsers a portal, a server or a user-written file controls, on
//! the stable toolchain, in the normal `cargo test` (issue #16). Each runs a bounded number of
//! cases on bounded inputs: no panic, and what comes out stays within its bounds. The
//! cargo-fuzz target (`fuzz/`, nightly) covers the ServerHello parser for longer runs.

use std::sync::Arc;

use dvc_audit::config::Config;
use dvc_audit::crawl::body::{decode_text, decode_text_owned};
use dvc_audit::diag::SourceFile;
use dvc_audit::extract::{AgencyVars, Page, detail_page, scan_list};
use dvc_audit::probe::{hello, ocsp};
use dvc_audit::profile::ProfileSet;
use dvc_audit::rules::RuleSet;
use proptest::prelude::*;
use proptest::test_runner::Config as PropConfig;

fn cases(n: u32) -> PropConfig {
    PropConfig {
        cases: n,
        // Never write regression files into the tree from CI.
        failure_persistence: None,
        ..PropConfig::default()
    }
}

/// Apply `edits` (position, kind, fragment) to `text` at char boundaries: delete a span,
/// insert a fragment, or replace a span with it.
fn mutate(text: &str, edits: &[(usize, u8, String)]) -> String {
    let mut s = text.to_string();
    for (pos, kind, frag) in edits {
        if s.is_empty() {
            s.push_str(frag);
            continue;
        }
        let mut at = pos % (s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + frag.len().max(1) * 3).min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        match kind % 3 {
            0 => s.replace_range(at..end, ""),
            1 => s.insert_str(at, frag),
            _ => s.replace_range(at..end, frag),
        }
    }
    s
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, String)>> {
    let frag = prop_oneof![
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("]]".to_string()),
        Just("\n".to_string()),
        Just("{".to_string()),
        Just(" = ".to_string()),
        Just("&&".to_string()),
        Just("service.name + 1".to_string()),
        Just("'''".to_string()),
        Just("\\u{0}".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,6}",
    ];
    proptest::collection::vec((any::<usize>(), any::<u8>(), frag), 1..6)
}

// ---------------------------------------------------------------------------------------------
// The legacy probe's ServerHello flight and the OCSP status reader.

fn server_bytes() -> impl Strategy<Value = Vec<u8>> {
    let raw = proptest::collection::vec(any::<u8>(), 0..1024);
    // A handshake record header first, so the parser gets past its first checks.
    let framed = (
        proptest::collection::vec(any::<u8>(), 0..1024),
        any::<u16>(),
        prop_oneof![Just(2u8), Just(11u8), Just(12u8), Just(14u8), any::<u8>()],
    )
        .prop_map(|(body, len, kind)| {
            let mut v = vec![0x16, 0x03, 0x03];
            v.extend_from_slice(&len.to_be_bytes());
            v.push(kind);
            v.extend_from_slice(&body);
            v
        });
    prop_oneof![raw, framed]
}

proptest! {
    #![proptest_config(cases(256))]
    #[test]
    fn server_hello_parser_never_panics_and_stays_bounded(data in server_bytes()) {
        let data = &data[..data.len().min(hello::MAX_FLIGHT_BYTES)];
        if let Ok(flight) = hello::parse_server_flight(data) {
            prop_assert!(flight.certificates.len() <= hello::MAX_CERTS);
            if let Some(bits) = flight.dhe_prime_bits {
                prop_assert!(bits as usize <= data.len() * 8);
            }
        }
        let _ = ocsp::stapled_status(data, &[1]);
    }
}

// ---------------------------------------------------------------------------------------------
// The HTML/JSON extractor, with every bundled profile.

fn html_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<div>".to_string()),
        Just("</div>".to_string()),
        Just("<table class=\"chi-tiet-thu-tuc\">".to_string()),
        Just("<table class=\"ds-thu-tuc\">".to_string()),
        Just("<tr><td class=\"td-1\">Mã thủ tục</td><td class=\"td-2\">".to_string()),
        Just("<td class=\"td-1\">Mức độ</td><td class=\"td-2\">Toàn trình".to_string()),
        Just("<a class=\"ten-thu-tuc\" href=\"/tthc/".to_string()),
        Just("<a class=\"next-page\" href=\"?count=10\">".to_string()),
        Just("<script src=\"/js/vgcaplugin.js\"></script>".to_string()),
        Just("<script>var s = 'vgca_sign_file'; if (a<b) {}</script>".to_string()),
        Just("<div class=\"panel\"><h4>Thành phần hồ sơ</h4>".to_string()),
        Just("<!-- <div> -->".to_string()),
        Just("<p>".to_string()),
        Just("<li>".to_string()),
        Just("\">".to_string()),
        Just("1.001234".to_string()),
        Just("{\"data\": [{\"ma\": \"1.000001\", \"ten\": \"x\"}]}".to_string()),
        Just("&amp;&#x110;&#1;".to_string()),
        "\\PC{0,24}",
        "[<>/=\" a-z]{0,16}",
    ]
}

fn page_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(html_fragment(), 0..120).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(cases(48))]
    #[test]
    fn extraction_never_panics_with_any_bundled_profile(body in page_text(), json in any::<bool>()) {
        let profiles = ProfileSet::bundled().map_err(|e| TestCaseError::fail(e.0.render(false)))?;
        let ids: Vec<String> = profiles.ids().map(str::to_string).collect();
        prop_assert!(!ids.is_empty());
        let mut page = Page::from_body("https://dvc.a.test/tthc/1", body);
        if json {
            page.content_type = "application/json".into();
        }
        let vars = AgencyVars::new("a", "https://dvc.a.test/").with("api", "https://api.a.test/");
        for id in &ids {
            let Some(profile) = profiles.get(id) else { continue };
            let facts = detail_page(profile, &page, "a");
            prop_assert!(facts.code.chars().count() <= 64 || profile.detail.code_pattern.is_some());
            prop_assert!(facts.evidence.len() <= 256, "{} evidence items", facts.evidence.len());
            let scan = scan_list(profile, &page, &vars);
            prop_assert!(scan.items.len() <= 2_000);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The rule loader and the config loader, on mutated valid files.

fn bundled_rule_texts() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("rules") {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml")
                && let Ok(t) = std::fs::read_to_string(&p)
            {
                out.push((p.display().to_string(), t));
            }
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(cases(64))]
    #[test]
    fn rule_loader_never_panics_on_mutated_rule_files(which in any::<usize>(), ed in edits()) {
        let files = bundled_rule_texts();
        prop_assert!(!files.is_empty());
        let (name, text) = &files[which % files.len()];
        let mutated = mutate(text, &ed);
        let sources: Vec<Arc<SourceFile>> = vec![SourceFile::new(name.clone(), mutated)];
        match RuleSet::from_sources(&sources) {
            Ok(loaded) => prop_assert!(!loaded.rules.digest().is_empty()),
            Err(e) => prop_assert!(!e.0.render(false).is_empty()),
        }
    }
}

const GOOD_CONFIG: &str = r#"
[audit]
name = "fuzz"
[crawl]
user_agent = "dvc-audit/0.1 (+mailto:kiemtra@example.gov.vn)"
allow_private = ["127.0.0.0/8"]
resolve = ["dvc.a.test:443:127.0.0.1"]
[rules.severity]
"SIG-001" = "high"
[inspectors]
mien-bac = ["thanhtra@example.gov.vn"]
[[agency]]
id = "hanoi"
name = "UBND Thành phố Hà Nội"
kind = "city"
portal = "https://dichvucong.hanoi.gov.vn/"
extra_hosts = ["https://api.hanoi.gov.vn/"]
platform = "accordion"
jurisdiction = "mien-bac"
contacts = ["vanthu@hanoi.gov.vn"]
"#;

proptest! {
    #![proptest_config(cases(128))]
    #[test]
    fn config_loader_never_panics_on_mutated_configs(ed in edits()) {
        let text = mutate(GOOD_CONFIG, &ed);
        let result = Config::load_source(
            SourceFile::new("audit.toml", text),
            std::path::PathBuf::from("."),
            &|_| None,
        );
        if let Err(e) = result {
            let rendered = e.0.render(false);
            prop_assert!(!rendered.is_empty());
            // A password never reaches a diagnostic message (the excerpt is the file itself).
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Charset decoding.

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("text/html".to_string()),
        Just("text/html; charset=utf-8".to_string()),
        Just("text/html; charset=windows-1258".to_string()),
        Just("text/html; charset=\"utf-16le\"".to_string()),
        Just("text/html; charset=x-nonsense".to_string()),
        "[ -~]{0,40}",
    ]
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    let meta = proptest::collection::vec(any::<u8>(), 0..512).prop_map(|mut v| {
        let mut out = b"<meta charset=\"windows-1258\">".to_vec();
        out.append(&mut v);
        out
    });
    let bom = proptest::collection::vec(any::<u8>(), 0..512).prop_map(|mut v| {
        let mut out = vec![0xFF, 0xFE];
        out.append(&mut v);
        out
    });
    let text = "\\PC{0,200}".prop_map(String::into_bytes);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1024),
        meta,
        bom,
        text
    ]
}

proptest! {
    #![proptest_config(cases(256))]
    #[test]
    fn charset_decoding_never_panics_and_both_paths_agree(bytes in body_bytes(), ct in content_type()) {
        let borrowed = decode_text(&bytes, &ct, Some(b"vn"));
        let owned = decode_text_owned(bytes.clone(), &ct, Some(b"vn"));
        // A body no charset reads cleanly is a `decode` failure on both paths alike.
        let (borrowed, owned) = match (borrowed, owned) {
            (Ok(b), Ok(o)) => (b, o),
            (Err(b), Err(o)) => {
                prop_assert_eq!(b.tried.len(), o.tried.len());
                prop_assert!(!b.tried.is_empty());
                return Ok(());
            }
            (b, o) => {
                prop_assert!(false, "the two paths disagree: {:?} vs {:?}", b.is_ok(), o.is_ok());
                return Ok(());
            }
        };
        prop_assert_eq!(&borrowed.text, &owned.text);
        prop_assert_eq!(&borrowed.encoding, &owned.encoding);
        if std::str::from_utf8(&bytes).is_ok() && ct.is_empty() && !bytes.starts_with(&[0xEF, 0xBB, 0xBF]) && !bytes.starts_with(&[0xFF, 0xFE]) && !bytes.starts_with(&[0xFE, 0xFF]) {
            // Valid UTF-8 without a label is read as it is (unless a <meta> says otherwise).
            if borrowed.source == "default" {
                prop_assert_eq!(borrowed.text.as_bytes(), &bytes[..]);
            }
        }
    }
}
