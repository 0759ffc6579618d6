//! Decode honesty (issue 14, item 3), end to end: a real run over a served sandbox world in
//! which detail pages lie about their charset.
//! - a Windows-1258 page served as `charset=utf-8` whose `<meta charset>` says Windows-1258 is
//!   read with its real facts (its level; no LVL-001), and its fetch record says the header lied;
//! - a page no single charset reads (UTF-8 template, Windows-1258 service text, no meta) is
//!   could-not-assess `decode`, with the first bad byte and the charsets tried as evidence, and
//!   has no failed rule.
//!
//! Every other finding of the run is the ground truth's, so nothing else moved.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::{Behaviour, ServiceTruth, Size};
use dvc_audit::store::Store;
use support::{truth, world};
use unicode_normalization::UnicodeNormalization;

/// Defects that leave a service's page served normally.
const PLAIN: [&str; 4] = [
    "level_scheme_old",
    "level_scheme_new",
    "full_without_signature",
    "site_wide_signature_only",
];

/// Two services of `agency` served normally and publishing a level.
fn two_plain(truth: &[ServiceTruth], agency: &str) -> (String, String) {
    let mut codes = truth
        .iter()
        .filter(|s| {
            s.agency_id == agency
                && s.expect == "ok"
                && !s.level_label.is_empty()
                && s.defects.iter().all(|d| PLAIN.contains(&d.as_str()))
        })
        .map(|s| s.code.clone());
    match (codes.next(), codes.next()) {
        (Some(a), Some(b)) => (a, b),
        _ => panic!("{agency} has two plain services with a level"),
    }
}

fn nfc(s: &str) -> String {
    s.nfc().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_and_mixed_charsets_give_real_facts_or_could_not_assess_decode() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let before = served.handle.ground_truth();
    // One of each on both HTML shapes: accordion (bca) and table (danang).
    let (bca_lying, bca_mixed) = two_plain(&before.services, "bca");
    let (danang_lying, danang_mixed) = two_plain(&before.services, "danang");
    let lying = [bca_lying.clone(), danang_lying.clone()];
    let mixed = [bca_mixed.clone(), danang_mixed.clone()];
    served
        .handle
        .mutate(|o| {
            for code in &lying {
                if let Some(s) = o.service(code) {
                    s.behaviour = Behaviour::Windows1258LyingHeader;
                }
            }
            for code in &mixed {
                if let Some(s) = o.service(code) {
                    s.behaviour = Behaviour::MixedCharsets;
                }
            }
        })
        .expect("mutate");
    let gt = served.handle.ground_truth();
    let svc = |code: &str| -> ServiceTruth {
        gt.services
            .iter()
            .find(|s| s.code == code)
            .cloned()
            .unwrap_or_else(|| panic!("{code} in the truth"))
    };
    for code in &lying {
        let t = svc(code);
        assert_eq!(t.expect, "ok", "{code}");
        assert!(t.defects.iter().any(|d| d == "windows_1258_lying_header"));
    }
    for code in &mixed {
        let t = svc(code);
        assert_eq!(t.expect, "decode", "{code}");
        assert!(t.defects.iter().any(|d| d == "mixed_charsets_page"));
    }

    let setup = world::setup(&served.config_path(), |_| {});
    let summary = pipeline::run(
        &setup,
        RunOptions {
            send_mail: false,
            ..RunOptions::default()
        },
        None,
    )
    .await
    .expect("the run completes");
    let store = Store::open(&served.db()).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");
    let facts = store.service_facts(summary.run_id).expect("facts");

    // The whole run is the ground truth's, lying pages included.
    truth::assert_same(
        "run with charset-lying pages",
        &truth::expected(&gt),
        &truth::actual(&gt, &findings),
    );

    // Subjects as findings name them: `agency/code`, or `agency/url` when no code was read.
    let subjects = |t: &ServiceTruth| -> BTreeSet<String> {
        [
            format!("{}/{}", t.agency_id, t.code),
            format!("{}/{}", t.agency_id, t.url),
        ]
        .into_iter()
        .collect()
    };

    for code in &lying {
        let t = svc(code);
        let names = subjects(&t);
        let f = facts
            .iter()
            .find(|f| f.agency_id == t.agency_id && f.code == t.code)
            .unwrap_or_else(|| panic!("facts of {code} (its code was read)"));
        assert!(f.fetch.error.is_none(), "{code}: {:?}", f.fetch.error);
        assert_eq!(f.level, t.level, "{code}: the real level");
        assert_eq!(nfc(&f.level_label), nfc(&t.level_label), "{code}");
        assert_eq!(nfc(&f.name), nfc(&t.name), "{code}");
        assert!(!f.name.contains('\u{FFFD}') && !f.level_label.contains('\u{FFFD}'));
        let about: Vec<_> = findings
            .iter()
            .filter(|x| names.contains(&x.subject))
            .collect();
        assert!(
            about
                .iter()
                .all(|x| x.rule_id != "LVL-001" && x.outcome != "could_not_assess"),
            "{code}: {:?}",
            about
                .iter()
                .map(|x| (&x.rule_id, &x.outcome, &x.reason))
                .collect::<Vec<_>>()
        );
        // The fetch record says which charset was used and that the header lied.
        let path = t.url.split_once(".test").map_or("", |(_, rest)| rest);
        let path = path.split_once('/').map_or("", |(_, p)| p);
        let record: String = store
            .connection()
            .query_row(
                "SELECT dvc_text(record_json) FROM fetches WHERE run_id = ?1
                 AND json_extract(dvc_text(record_json), '$.url') LIKE '%' || ?2",
                rusqlite::params![summary.run_id, path],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("fetch record of {code} ({path}): {e}"));
        let record: serde_json::Value = serde_json::from_str(&record).expect("record json");
        assert_eq!(record["encoding"], "windows-1258", "{record}");
        assert_eq!(record["encoding_source"], "meta", "{record}");
        let note = record["charset_note"].as_str().unwrap_or_default();
        assert!(
            note.starts_with("UTF-8 (header): ") && note.contains("first at byte"),
            "{note}"
        );
    }

    for code in &mixed {
        let t = svc(code);
        let names = subjects(&t);
        let about: Vec<_> = findings
            .iter()
            .filter(|x| names.contains(&x.subject))
            .collect();
        assert!(
            about.iter().all(|x| x.outcome != "fail"),
            "{code}: no verdict on a page that could not be read: {:?}",
            about
                .iter()
                .map(|x| (&x.rule_id, &x.outcome))
                .collect::<Vec<_>>()
        );
        let avl = about
            .iter()
            .find(|x| x.rule_id == "AVL-002")
            .unwrap_or_else(|| panic!("{code}: AVL-002 says why it was not assessed"));
        assert_eq!(
            (avl.outcome.as_str(), avl.reason.as_str()),
            ("could_not_assess", "decode")
        );
        for x in &about {
            assert_eq!(
                (x.outcome.as_str(), x.reason.as_str()),
                ("could_not_assess", "decode"),
                "{code} {}",
                x.rule_id
            );
        }
        let excerpt = avl
            .evidence
            .iter()
            .map(|e| e.excerpt.as_str())
            .find(|e| !e.is_empty())
            .unwrap_or_default();
        assert!(
            excerpt.contains("UTF-8 (header)")
                && excerpt.contains("first at byte")
                && excerpt.contains("(detected)"),
            "{code}: evidence names the offset and the charsets tried: {excerpt}"
        );
    }
}
