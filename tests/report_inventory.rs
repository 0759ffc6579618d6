//! The inventory of every service (issue 18) at size: a gathered report holds no service in
//! memory (`ReportData::services` stays empty), while services.csv, report.json's `services`
//! and the XLSX inventory sheet list every one, in agency and code order, streamed from the
//! history file; an agency's own services.csv (for its email) holds only its services. Portal
//! text stays inert (CSV formula neutralised). The store is a real SQLite file filled through
//! the store API (no crawl).

use calamine::{Reader, Xlsx, open_workbook};
use dvc_audit::facts::{
    AgencyFacts, AgencyKind, AssessReason, ErrorFact, FetchFacts, Level, ServiceFacts,
    SignatureFacts,
};
use dvc_audit::report::{self, AgencyMeta, Format, Lang, inventory};
use dvc_audit::store::{RunStart, Scope, Store};

const AGENCIES: usize = 3;
const PER_AGENCY: usize = 4_000;

fn agency(a: usize) -> String {
    format!("agency-{a}")
}

fn meta(a: usize) -> AgencyMeta {
    AgencyMeta {
        facts: AgencyFacts {
            id: agency(a),
            name: format!("Tỉnh {a}"),
            name_en: format!("Province {a}"),
            kind: AgencyKind::Province,
            portal: format!("https://dvc.{}.sandbox.test/", agency(a)),
            platform: "accordion".into(),
            jurisdiction: "north".into(),
        },
        successor: String::new(),
        former_names: Vec::new(),
        verified: true,
    }
}

fn service(a: usize, i: usize) -> ServiceFacts {
    let level = [Level::Full, Level::Partial, Level::Info, Level::Unknown][i % 4];
    ServiceFacts {
        agency_id: agency(a),
        code: format!("1.{i:06}"),
        name: if i == 0 {
            "=HYPERLINK(\"http://evil.test\")".into()
        } else {
            format!("Thủ tục {i}, \"mẫu\"")
        },
        url: format!("https://dvc.{}.sandbox.test/tthc?matt=1.{i:06}", agency(a)),
        level,
        level_label: format!("Mức {i}"),
        signature: SignatureFacts {
            supported: i.is_multiple_of(3),
            providers: if i.is_multiple_of(5) {
                vec!["vgca".into()]
            } else {
                vec![]
            },
            ..SignatureFacts::default()
        },
        national_portal_link: i.is_multiple_of(2),
        fetch: FetchFacts {
            error: (i % 10 == 9).then(|| ErrorFact {
                kind: AssessReason::Timeout,
                message: "timed out".into(),
            }),
            ..FetchFacts::default()
        },
        ..ServiceFacts::default()
    }
}

#[test]
fn every_service_is_listed_and_none_is_held_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("h.sqlite");
    let mut store = Store::open(&db).expect("store");
    let run = store
        .begin_run(&RunStart {
            mode: "regular".into(),
            scope: Scope {
                agencies: (0..AGENCIES).map(agency).collect(),
                services: None,
            },
            seed: None,
            ruleset_digest: "r".into(),
            config_digest: "c".into(),
        })
        .expect("begin");
    // Recorded in reverse so order comes from the query, not from insertion.
    for a in (0..AGENCIES).rev() {
        let list: Vec<ServiceFacts> = (0..PER_AGENCY).rev().map(|i| service(a, i)).collect();
        store.record_services(run, &list).expect("services");
    }
    store.finish_run(run, &[]).expect("finish");
    let data = report::gather_with(
        &store,
        run,
        "test",
        Lang::En,
        (0..AGENCIES).map(meta).collect(),
        Default::default(),
        Vec::new(),
        5,
    )
    .expect("gather");
    let total = (AGENCIES * PER_AGENCY) as i64;
    assert!(
        data.services.is_empty(),
        "the inventory is streamed, not held"
    );
    assert_eq!(data.totals.services, total);
    let unread = (PER_AGENCY / 10) as i64;
    let s = &data.survey[0];
    assert_eq!(s.services_read, PER_AGENCY as i64 - unread);
    assert_eq!(s.services_read, data.agencies[0].services_read);

    let out = dir.path().join("reports");
    let files = report::write_all(&out, &data, &Format::ALL).expect("write");
    let path = |name: &str| {
        files
            .iter()
            .find(|p| p.ends_with(name))
            .unwrap_or_else(|| panic!("{name} in {files:?}"))
            .clone()
    };

    // services.csv: every service, agency then code order, unread ones with a reason and
    // unknown facts left empty; the formula in a name neutralised.
    let csv = std::fs::read_to_string(path("services.csv")).expect("csv");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("\u{feff}code,name,agency_id,agency_name,url,level"));
    assert_eq!(lines.len() as i64 - 1, total, "one row per service");
    assert!(
        lines[1].starts_with("1.000000,\"'=HYPERLINK("),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains(",agency-0,Province 0,"), "{}", lines[1]);
    let last = lines.last().expect("a row");
    assert!(last.starts_with(&format!("1.{:06},", PER_AGENCY - 1)));
    assert!(last.contains(",agency-2,"), "{last}");
    // Service 9 of agency 0: not read.
    let nine = lines
        .iter()
        .find(|l| l.starts_with("1.000009,"))
        .expect("service 9");
    assert!(nine.ends_with(&format!(",,,,timeout,{run}")), "{nine}");
    let unread_rows = lines.iter().filter(|l| l.contains(",timeout,")).count() as i64;
    assert_eq!(unread_rows, unread * AGENCIES as i64);

    // report.json: the same rows in the same order.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path("report.json")).expect("json")).expect("parse");
    let services = json["services"].as_array().expect("services");
    assert_eq!(services.len() as i64, total);
    assert_eq!(services[0]["code"], "1.000000");
    assert_eq!(services[0]["agency_name"], "Province 0");
    assert_eq!(services[9]["signature_supported"], serde_json::Value::Null);
    assert_eq!(services[9]["could_not_assess"], "timeout");
    assert_eq!(services[3]["signature_supported"], true);

    // The XLSX inventory sheet.
    let mut book: Xlsx<_> = open_workbook(path("report.xlsx")).expect("xlsx");
    let inv = book.worksheet_range("inventory").expect("inventory");
    assert_eq!(inv.rows().count() as i64 - 1, total);

    // One agency's services.csv, for its email.
    let one = inventory::agency_csv(&data, &agency(1)).expect("agency csv");
    let one = String::from_utf8(one).expect("utf-8");
    let rows: Vec<&str> = one
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .skip(1)
        .collect();
    assert_eq!(rows.len(), PER_AGENCY);
    assert!(rows.iter().all(|r| r.contains(",agency-1,")));
}
