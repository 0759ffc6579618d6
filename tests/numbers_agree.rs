//! One set of numbers (issue 14): after a run with faults planted (a detail outage leaving
//! findings unverified and coverage incomplete, plus the world's own defects: could-not-assess
//! pages, waivers none), the terminal summary, the HTML, text, JSON, CSV and XLSX reports, the
//! emailed digest (.eml as spooled) and `history` print the same counts: findings, waived,
//! could-not-assess lines (one per subject and reason), resolved, unverified, services read of
//! services.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use calamine::{DataType, Reader, Xlsx, open_workbook};
use dvc_audit::run::cmd::render_summary;
use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::sandbox::{Outage, Size};
use dvc_audit::store::Store;
use support::world;

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct Numbers {
    findings: i64,
    waived: i64,
    could_not_assess: i64,
    resolved: i64,
    unverified: i64,
    /// Open findings of services gone from a completely read listing ("no longer listed").
    withdrawn: i64,
    services_read: i64,
    services: i64,
}

/// The number right after `prefix` in `text` (digits, optionally `a/b` read as `a`).
fn after(text: &str, prefix: &str) -> i64 {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not found in:\n{text}"));
    let rest = &text[at + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {prefix:?}: {rest:.40}"))
}

/// The number right after `prefix`, or 0 when `text` does not say it (outputs print the
/// withdrawn count only when there is one).
fn after_or_0(text: &str, prefix: &str) -> i64 {
    if text.contains(prefix) {
        after(text, prefix)
    } else {
        0
    }
}

/// `a/b` right after `prefix`.
fn ratio_after(text: &str, prefix: &str) -> (i64, i64) {
    let a = after(text, prefix);
    let at = text.find(prefix).expect("prefix") + prefix.len();
    let rest = &text[at..];
    let slash = rest.find('/').expect("a/b");
    (a, after(rest, &rest[..=slash]))
}

fn file(reports: &[PathBuf], ext: &str) -> PathBuf {
    reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .unwrap_or_else(|| panic!("no .{ext} report in {reports:?}"))
        .clone()
}

fn from_terminal(text: &str) -> Numbers {
    Numbers {
        services_read: after(text, "agencies, "),
        services: after(text, "services read of "),
        findings: after(text, "findings: "),
        waived: after(text, "waived: "),
        could_not_assess: after(text, "could not assess: "),
        resolved: after(text, "regressed, "),
        unverified: after(text, "resolved, "),
        withdrawn: after_or_0(text, "no longer listed (closed, not fixed): "),
    }
}

fn from_text(text: &str) -> Numbers {
    let (services_read, services) = ratio_after(text, "  Dịch vụ công: ");
    Numbers {
        // Violations and info items apart; together every failing finding.
        findings: after(text, "  Vi phạm: ") + after(text, " · Thông tin: "),
        waived: after(text, "Được miễn trừ: "),
        could_not_assess: after(text, "  Không thể đánh giá: "),
        resolved: after(text, "Đã khắc phục: "),
        unverified: after(text, "Chưa kiểm tra lại được: "),
        withdrawn: after_or_0(text, " · Không còn trong danh mục: "),
        services_read,
        services,
    }
}

fn from_html(html: &str) -> Numbers {
    let kpi = |label: &str| {
        let end = html
            .find(&format!("</b><span>{label}</span>"))
            .unwrap_or_else(|| panic!("KPI {label} not found"));
        let start = html[..end].rfind("<b>").expect("<b>") + 3;
        html[start..end].to_string()
    };
    let services = kpi("dịch vụ đã đọc");
    let (r, t) = services.split_once('/').expect("read/total");
    Numbers {
        findings: kpi("Vi phạm").parse::<i64>().expect("n")
            + kpi("Thông tin").parse::<i64>().expect("n"),
        waived: 0,
        could_not_assess: kpi("Không thể đánh giá").parse().expect("n"),
        resolved: kpi("Đã khắc phục").parse().expect("n"),
        unverified: kpi("Chưa kiểm tra lại được").parse().expect("n"),
        withdrawn: kpi("Không còn trong danh mục").parse().expect("n"),
        services_read: r.parse().expect("n"),
        services: t.parse().expect("n"),
    }
}

fn from_json(json: &serde_json::Value) -> Numbers {
    let t = &json["totals"];
    let n = |k: &str| t[k].as_i64().unwrap_or_else(|| panic!("totals.{k}"));
    Numbers {
        findings: n("findings"),
        waived: n("waived"),
        could_not_assess: n("could_not_assess"),
        resolved: n("resolved"),
        unverified: n("unverified"),
        withdrawn: n("withdrawn"),
        services_read: n("services_read"),
        services: n("services"),
    }
}

/// Split one RFC 4180 record (quoted fields may hold commas and doubled quotes).
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().expect("cell").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            (c, _) => cells.last_mut().expect("cell").push(c),
        }
    }
    cells
}

fn from_csv(path: &Path) -> Numbers {
    let text = std::fs::read_to_string(path).expect("csv");
    let mut n = Numbers::default();
    let mut lines = BTreeSet::new();
    // Messages hold no line breaks here (the sandbox's texts are one line each).
    for row in text.lines().skip(1) {
        let cells = csv_cells(row);
        let cell = |i: usize| cells.get(i).cloned().unwrap_or_default();
        match cell(3).as_str() {
            "fail" => n.findings += 1,
            "waived" => n.waived += 1,
            "resolved" => n.resolved += 1,
            "unverified" => n.unverified += 1,
            "withdrawn" => n.withdrawn += 1,
            // One row per blocked rule; a line is one subject and reason.
            "could_not_assess" => {
                lines.insert((cell(1), cell(9), cell(11)));
            }
            other => panic!("unknown outcome {other:?} in {row}"),
        }
    }
    n.could_not_assess = lines.len() as i64;
    n
}

fn from_xlsx(path: &Path) -> Numbers {
    let mut book: Xlsx<_> = open_workbook(path).expect("xlsx");
    let sheet = book.worksheet_range("summary").expect("summary sheet");
    let mut n = Numbers::default();
    for row in sheet.rows().skip(1) {
        let Some(id) = row.first().and_then(|c| c.get_string()) else {
            break;
        };
        if id.is_empty() {
            break;
        }
        let num = |i: usize| row.get(i).and_then(|c| c.get_float()).unwrap_or(0.0) as i64;
        n.services += num(2);
        // "Vi phạm" (violations) and the info column: the terminal's findings are both.
        n.findings += num(7) + num(15);
        n.resolved += num(10);
        n.could_not_assess += num(11);
        n.waived += num(12);
        n.services_read += num(13);
        n.unverified += num(14);
        n.withdrawn += num(16);
    }
    n
}

/// The survey's counts (issue 18), summed over agencies.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct Survey {
    listed: i64,
    read: i64,
    full: i64,
    partial: i64,
    info: i64,
    unknown: i64,
    full_vgca: i64,
    full_vgca_site: i64,
    partial_vgca: i64,
    partial_vgca_site: i64,
    national: i64,
}

impl Survey {
    /// From the cells of a rendered survey line: name, listed, read, four levels, four VGCA
    /// counts, other providers, national links, ...
    fn from_cells(cells: &[String]) -> Survey {
        let n = |i: usize| -> i64 {
            cells
                .get(i)
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or_else(|| panic!("no count in cell {i} of {cells:?}"))
        };
        Survey {
            listed: n(1),
            read: n(2),
            full: n(3),
            partial: n(4),
            info: n(5),
            unknown: n(6),
            full_vgca: n(7),
            full_vgca_site: n(8),
            partial_vgca: n(9),
            partial_vgca_site: n(10),
            national: n(12),
        }
    }

    /// One inventory row: level, read or not, VGCA on the page / site-wide, national link.
    fn add_service(&mut self, level: &str, read: bool, own: bool, site: bool, national: bool) {
        self.listed += 1;
        if !read {
            return;
        }
        self.read += 1;
        match level {
            "full" => {
                self.full += 1;
                self.full_vgca += i64::from(own);
                self.full_vgca_site += i64::from(!own && site);
            }
            "partial" => {
                self.partial += 1;
                self.partial_vgca += i64::from(own);
                self.partial_vgca_site += i64::from(!own && site);
            }
            "info" => self.info += 1,
            _ => self.unknown += 1,
        }
        self.national += i64::from(national);
    }
}

fn survey_from_json(json: &serde_json::Value) -> Survey {
    let mut s = Survey::default();
    for r in json["survey"].as_array().expect("survey") {
        let n = |p: &str| {
            r.pointer(p)
                .and_then(serde_json::Value::as_i64)
                .unwrap_or_else(|| panic!("survey{p}"))
        };
        s.listed += n("/services_listed");
        s.read += n("/services_read");
        s.full += n("/levels/full");
        s.partial += n("/levels/partial");
        s.info += n("/levels/info");
        s.unknown += n("/levels/unknown");
        s.full_vgca += n("/vgca/full_per_service");
        s.full_vgca_site += n("/vgca/full_site_wide");
        s.partial_vgca += n("/vgca/partial_per_service");
        s.partial_vgca_site += n("/vgca/partial_site_wide");
        s.national += n("/national_link");
    }
    s
}

fn survey_from_json_services(json: &serde_json::Value) -> Survey {
    let mut s = Survey::default();
    let vgca = |v: &serde_json::Value| v.as_array().is_some_and(|l| l.iter().any(|p| p == "vgca"));
    for r in json["services"].as_array().expect("services") {
        let read = r["could_not_assess"] == "";
        if !read {
            assert!(r["signature_supported"].is_null(), "unread is unknown: {r}");
        }
        s.add_service(
            r["level"].as_str().expect("level"),
            read,
            vgca(&r["providers"]),
            vgca(&r["site_wide_providers"]),
            r["national_portal_link"] == true,
        );
    }
    s
}

fn survey_from_services_csv(path: &Path) -> Survey {
    let text = std::fs::read_to_string(path).expect("services.csv");
    let mut lines = text.lines();
    let header = csv_cells(lines.next().expect("header").trim_start_matches('\u{feff}'));
    assert_eq!(header[0], "code", "{header:?}");
    let mut s = Survey::default();
    for row in lines {
        let c = csv_cells(row);
        let has = |i: usize| c[i].split(' ').any(|p| p == "vgca");
        s.add_service(&c[5], c[13].is_empty(), has(9), has(11), c[12] == "yes");
    }
    s
}

/// The survey sheet's total row and the inventory sheet's row counts (listed, read).
fn survey_from_xlsx(path: &Path) -> (Survey, (i64, i64)) {
    let mut book: Xlsx<_> = open_workbook(path).expect("xlsx");
    let sheet = book.worksheet_range("survey").expect("survey sheet");
    let total = sheet
        .rows()
        .find(|r| r.get(1).and_then(|c| c.get_string()) == Some("Tổng"))
        .expect("a total row");
    let cells: Vec<String> = total
        .iter()
        .skip(1)
        .map(|c| match c.get_float() {
            Some(f) => (f as i64).to_string(),
            None => c.get_string().unwrap_or_default().to_string(),
        })
        .collect();
    let survey = Survey::from_cells(&cells);
    let inv = book.worksheet_range("inventory").expect("inventory sheet");
    let mut listed = 0;
    let mut read = 0;
    for r in inv.rows().skip(1) {
        listed += 1;
        if r.get(13)
            .and_then(|c| c.get_string())
            .unwrap_or("")
            .is_empty()
        {
            read += 1;
        }
    }
    for name in ["rules", "trend"] {
        let s = book.worksheet_range(name).expect(name);
        assert!(s.rows().count() > 1, "{name} sheet has rows");
    }
    (survey, (listed, read))
}

/// The total line of the text report's survey table.
fn survey_from_text(text: &str) -> Survey {
    let line = text
        .lines()
        .find(|l| l.starts_with("  Tổng | "))
        .unwrap_or_else(|| panic!("no survey total line in:\n{text}"));
    let cells: Vec<String> = line.trim().split(" | ").map(String::from).collect();
    Survey::from_cells(&cells)
}

/// The HTML survey table's footer (total row).
fn survey_from_html(html: &str) -> Survey {
    let start = html
        .find("<section id=\"survey\">")
        .expect("survey section");
    let foot = &html[start..];
    let foot = &foot[foot.find("<tfoot>").expect("tfoot")..foot.find("</tfoot>").expect("end")];
    let cells: Vec<String> = foot
        .split("<th")
        .skip(1)
        .map(|c| {
            let v = &c[c.find('>').expect(">") + 1..];
            v[..v.find("</th>").expect("</th>")].to_string()
        })
        .collect();
    Survey::from_cells(&cells)
}

/// A run that writes its reports and sends no mail.
fn no_mail() -> RunOptions {
    RunOptions {
        send_mail: false,
        ..RunOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_output_prints_the_same_numbers() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    // Mail goes nowhere (a port nothing listens on): the messages stay in the outbox as
    // spooled, which is exactly what an inspector would receive.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = ["html", "json", "text", "csv", "xlsx"]
            .map(String::from)
            .to_vec();
        c.email.enabled = true;
        c.email.smtp_host = "127.0.0.1".into();
        c.email.smtp_port = closed;
        c.email.tls = dvc_audit::config::SmtpTls::None;
    });
    pipeline::run(&setup, no_mail(), None).await.expect("run 1");
    served
        .handle
        .mutate(|o| {
            assert!(o.set_outage("danang", Outage::DetailError));
            // A fix, so something is resolved (counted once, not once per evidence row).
            o.host("thanhtoan.bca.sandbox.test").expect("host").cert = None;
        })
        .expect("mutate");
    let r2 = pipeline::run(&setup, RunOptions::default(), None)
        .await
        .expect("run 2");

    let terminal = from_terminal(&render_summary(&r2));
    assert!(terminal.unverified > 0 && terminal.could_not_assess > 0 && terminal.findings > 0);
    assert!(terminal.resolved > 0, "{terminal:?}");
    assert!(terminal.services_read < terminal.services, "{terminal:?}");

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file(&r2.reports, "json")).expect("json"))
            .expect("parse");
    assert_eq!(from_json(&json), terminal, "report.json");

    let text = std::fs::read_to_string(file(&r2.reports, "txt")).expect("text");
    assert_eq!(from_text(&text), terminal, "text report");

    let html = std::fs::read_to_string(file(&r2.reports, "html")).expect("html");
    // The HTML summary shows no waived count.
    let h = from_html(&html);
    assert_eq!(
        Numbers {
            waived: terminal.waived,
            ..h
        },
        terminal,
        "HTML report"
    );

    assert_eq!(
        Numbers {
            services: terminal.services,
            services_read: terminal.services_read,
            ..from_csv(&file(&r2.reports, "csv"))
        },
        terminal,
        "findings.csv"
    );
    assert_eq!(from_xlsx(&file(&r2.reports, "xlsx")), terminal, "XLSX");

    // The survey table and the inventory (issue 18): the same counts in report.json (its
    // survey, its agencies and its services), services.csv, the XLSX survey and inventory
    // sheets, and the HTML and text survey tables; and they agree with the report's totals.
    let schema: serde_json::Value =
        serde_json::from_str(&dvc_audit::report::json::schema()).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("validator");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "report.json against its schema: {errors:?}"
    );
    let survey = survey_from_json(&json);
    assert_eq!(
        (survey.listed, survey.read),
        (terminal.services, terminal.services_read),
        "survey vs totals"
    );
    assert_eq!(
        survey.full + survey.partial + survey.info + survey.unknown,
        survey.read,
        "levels add up to the services read"
    );
    assert!(
        survey.full > 0
            && survey.full_vgca > 0
            && survey.full_vgca_site > 0
            && survey.read < survey.listed,
        "{survey:?}"
    );
    let agencies = json["agencies"].as_array().expect("agencies");
    let sum = |k: &str| -> i64 { agencies.iter().map(|a| a[k].as_i64().expect(k)).sum() };
    assert_eq!(
        (sum("full_total"), sum("full_with_vgca")),
        (survey.full, survey.full_vgca + survey.full_vgca_site),
        "survey vs the agencies' shares"
    );
    // Each agency's VGCA share is the one the rules judge (SIG-001 and AGY-001 count support
    // on the service's own page or site-wide): the same stored services, the rules' counter.
    let stored = Store::open(&served.db())
        .expect("store")
        .service_facts(r2.run_id)
        .expect("services");
    for a in agencies {
        let id = a["facts"]["id"].as_str().expect("id");
        let own: Vec<_> = stored
            .iter()
            .filter(|s| s.agency_id == id)
            .cloned()
            .collect();
        let c = dvc_audit::rules::counts::count_services(&own);
        assert_eq!(
            (a["full_total"].as_i64(), a["full_with_vgca"].as_i64()),
            (Some(c.full), Some(c.full_vgca)),
            "{id}: the report's VGCA share vs the rules' counts"
        );
    }
    assert_eq!(
        survey_from_json_services(&json),
        survey,
        "report.json services"
    );
    let services_csv = r2
        .reports
        .iter()
        .find(|p| p.ends_with("services.csv"))
        .expect("services.csv written")
        .clone();
    assert_eq!(services_csv.parent(), file(&r2.reports, "csv").parent());
    assert_eq!(
        survey_from_services_csv(&services_csv),
        survey,
        "services.csv"
    );
    let (xlsx_survey, inventory) = survey_from_xlsx(&file(&r2.reports, "xlsx"));
    assert_eq!(xlsx_survey, survey, "XLSX survey sheet");
    assert_eq!(
        inventory,
        (survey.listed, survey.read),
        "XLSX inventory sheet"
    );
    assert_eq!(survey_from_text(&text), survey, "text survey table");
    assert_eq!(survey_from_html(&html), survey, "HTML survey table");

    // The lead's digest, as spooled: subject and text part.
    let outbox = served.dir.path().join("outbox");
    let mut digests = 0;
    for entry in std::fs::read_dir(&outbox).expect("outbox") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let raw = std::fs::read(&path).expect("eml");
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("a parsable message");
        let subject = msg.subject().unwrap_or_default().to_string();
        if !subject.contains("Tổng hợp") {
            continue;
        }
        digests += 1;
        let body = msg.body_text(0).expect("a text part").to_string();
        assert_eq!(
            from_text(&body),
            terminal,
            "emailed digest {}",
            path.display()
        );
        // The subject counts violations (info items are not).
        assert_eq!(
            after(&subject, "Vi phạm "),
            after(&render_summary(&r2), "violations: "),
            "{subject}"
        );
        let (read, total) = ratio_after(&subject, "Phạm vi đã đọc ");
        assert_eq!(
            (read, total),
            (terminal.services_read, terminal.services),
            "{subject}"
        );
        assert_eq!(
            after(&subject, "Chưa kiểm tra lại được "),
            terminal.unverified,
            "{subject}"
        );
    }
    assert_eq!(digests, 1, "one lead digest in {}", outbox.display());

    // History: the per-agency trend points of run 2 add up to the same numbers.
    let store = Store::open(&served.db()).expect("store");
    let ids: Vec<String> = r2.agencies.clone();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let trends = store.trends(&refs, 100).expect("trends");
    // The run kept its points (`trend_points`); computed again from the run's rows, they
    // are the same, and a point kept under another computation (`calc`) is not read.
    {
        let conn = rusqlite::Connection::open(served.db()).expect("db");
        let kept: i64 = conn
            .query_row("SELECT COUNT(*) FROM trend_points", [], |r| r.get(0))
            .expect("count");
        assert!(kept >= refs.len() as i64, "{kept} points kept");
        conn.execute(
            "UPDATE trend_points SET calc = calc - 1, point = json_set(point, '$.fails', 999999)",
            [],
        )
        .expect("stale points");
    }
    assert_eq!(
        store.trends(&refs, 100).expect("trends again"),
        trends,
        "recomputed points"
    );
    let (mut fails, mut cna, mut read, mut services) = (0, 0, 0, 0);
    let mut violations = 0;
    for points in trends.values() {
        let p = points
            .iter()
            .find(|p| p.run_id == r2.run_id)
            .expect("a point for run 2");
        fails += p.fails;
        violations += p.violations;
        cna += p.could_not_assess;
        read += p.services_read;
        services += p.services;
    }
    assert_eq!(
        (fails, cna, read, services),
        (
            terminal.findings,
            terminal.could_not_assess,
            terminal.services_read,
            terminal.services
        ),
        "history"
    );
    // The sparklines plot violations: the terminal's (and every "Vi phạm") count.
    assert_eq!(
        violations,
        after(&render_summary(&r2), "violations: "),
        "history violations"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_agency_says_so_in_every_output() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = ["html", "json", "text"].map(String::from).to_vec();
        c.email.enabled = false;
        // Fewer pages than the larger portals need: their walks are cut.
        c.crawl.max_pages_per_agency = 4;
    });
    let r = pipeline::run(&setup, no_mail(), None).await.expect("run");
    let cut: Vec<&String> = r
        .coverage
        .iter()
        .filter(|(_, c)| {
            c.truncated
                .iter()
                .any(|t| t.bound == "crawl.max_pages_per_agency")
        })
        .map(|(id, _)| id)
        .collect();
    assert!(!cut.is_empty(), "some walk was cut: {:?}", r.coverage);

    let terminal = render_summary(&r);
    assert!(terminal.contains("coverage incomplete"), "{terminal}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file(&r.reports, "json")).expect("json"))
            .expect("parse");
    assert!(json["totals"]["agencies_incomplete"].as_i64() >= Some(cut.len() as i64));
    let text = std::fs::read_to_string(file(&r.reports, "txt")).expect("text");
    let html = std::fs::read_to_string(file(&r.reports, "html")).expect("html");
    for id in &cut {
        assert!(terminal.contains(&format!("{id} (")), "terminal names {id}");
        let a = json["agencies"]
            .as_array()
            .and_then(|l| l.iter().find(|a| a["facts"]["id"] == id.as_str()))
            .expect("agency");
        assert_eq!(
            a["coverage"]["truncated"][0]["bound"],
            "crawl.max_pages_per_agency"
        );
    }
    assert!(
        text.contains("bị cắt bởi giới hạn: crawl.max_pages_per_agency"),
        "{text}"
    );
    assert!(html.contains("Chưa đọc đủ") && html.contains("crawl.max_pages_per_agency"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_code_on_two_pages_is_one_service_everywhere() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let (code, twin) = ("1.001012", "1.001013");
    served
        .handle
        .mutate(|o| o.service(twin).expect("twin").code = code.to_string())
        .expect("mutate");
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into()];
        c.email.enabled = false;
    });
    let r = pipeline::run(&setup, no_mail(), None).await.expect("run");
    let cov = &r.coverage["danang"];
    assert_eq!(cov.excluded.get("duplicate_code"), Some(&1), "{cov:?}");
    let store = Store::open(&served.db()).expect("store");
    // One finding per rule for the code, never two (nor one per page).
    let subject = format!("danang/{code}");
    let mut rules: Vec<String> = store
        .findings(r.run_id)
        .expect("findings")
        .into_iter()
        .filter(|f| f.subject == subject && f.outcome == "fail")
        .map(|f| f.rule_id)
        .collect();
    let n = rules.len();
    rules.dedup();
    assert!(n > 0 && rules.len() == n, "one finding per rule: {rules:?}");
    // The counts every output prints see the same single service.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file(&r.reports, "json")).expect("json"))
            .expect("parse");
    let danang = json["agencies"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["facts"]["id"] == "danang"))
        .expect("danang")
        .clone();
    assert_eq!(danang["services_total"].as_i64(), Some(cov.listed));
    assert_eq!(danang["coverage"]["excluded"]["duplicate_code"], 1);
    // The kept service names the other page.
    let facts: String = store
        .connection()
        .query_row(
            "SELECT facts_json FROM service_facts WHERE run_id = ?1 AND agency_id = 'danang' AND service_key = ?2",
            rusqlite::params![r.run_id, code],
            |row| row.get(0),
        )
        .expect("the service's facts");
    assert!(facts.contains("duplicate_code"), "{facts}");
}

/// The lifecycle counts (`since the last run: N new, N persisting, ...`) of the terminal.
fn lifecycle_from_terminal(text: &str) -> [i64; 5] {
    [
        after(text, "since the last run: "),
        after(text, "new, "),
        after(text, "persisting, "),
        after(text, "regressed, "),
        after(text, "resolved, "),
    ]
}

/// A waived failure that persists (issue: the terminal counted it, the reports did not): the
/// terminal summary, the `run_finished` line (and so the webhook body, the same fields) and
/// report.json print one set of lifecycle counts, the waived finding counted once, as waived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waived_persisting_finding_is_counted_once_everywhere() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let plain = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into()];
        c.email.enabled = false;
    });
    let r1 = pipeline::run(&plain, no_mail(), None).await.expect("run 1");
    // Waive one failing service finding of run 1 (exact subject), for run 2.
    let store = Store::open(&served.db()).expect("store");
    let target = store
        .findings(r1.run_id)
        .expect("findings")
        .into_iter()
        .find(|f| f.outcome == "fail" && f.waiver.is_empty() && f.subject.contains('/'))
        .expect("a failing service finding");
    drop(store);
    let waivers = served.dir.path().join("waivers-test.toml");
    std::fs::write(
        &waivers,
        format!(
            "[[waiver]]\nrule = \"{}\"\nsubject = \"{}\"\nreason = \"test\"\ndecision = \"QĐ 1\"\nexpires = 2099-12-31\n",
            target.rule_id, target.subject
        ),
    )
    .expect("write waivers");
    let waived = world::setup(&served.config_path(), |c| {
        c.report.formats = vec!["json".into()];
        c.email.enabled = false;
        c.rules.waivers = Some(waivers.display().to_string());
    });
    let r2 = pipeline::run(&waived, no_mail(), None)
        .await
        .expect("run 2");
    assert!(
        r2.waived >= 1,
        "the waiver applied: {}",
        render_summary(&r2)
    );
    // The raw diff lists the waived failure as persisting: the case that was miscounted.
    assert!(
        r2.diff.persisting.contains(&target.fingerprint),
        "{:?}",
        r2.diff
    );

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file(&r2.reports, "json")).expect("json"))
            .expect("parse");
    let t = &json["totals"];
    let n = |k: &str| t[k].as_i64().unwrap_or_else(|| panic!("totals.{k}"));
    let report = [
        n("new"),
        n("persisting"),
        n("regressed"),
        n("resolved"),
        n("unverified"),
    ];
    assert!(report[1] > 0, "something persists: {t}");
    assert_eq!(
        report[1],
        r2.diff.persisting.len() as i64 - n("waived"),
        "the report leaves the waived finding out of persisting"
    );

    let terminal = render_summary(&r2);
    assert_eq!(
        lifecycle_from_terminal(&terminal),
        report,
        "terminal:\n{terminal}"
    );
    assert_eq!(after(&terminal, "waived: "), n("waived"), "{terminal}");

    let finished = dvc_audit::run::cmd::Finished::of(&r2, std::time::Instant::now());
    let c = &finished.fields["counts"];
    let m = |k: &str| c[k].as_i64().unwrap_or_else(|| panic!("counts.{k}"));
    assert_eq!(
        [
            m("new"),
            m("persisting"),
            m("regressed"),
            m("resolved"),
            m("unverified")
        ],
        report,
        "run_finished counts: {c}"
    );
    assert_eq!(m("waived"), n("waived"), "run_finished counts: {c}");
}

/// A surprise run that samples services read a sample, not the agency: its coverage records
/// the sample as a bound (not complete), the report says the agency was read in part, and
/// its trend point is not measured (no share over a sample beside full runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_run_is_not_complete_coverage_anywhere() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = ["json", "text"].map(String::from).to_vec();
        c.email.enabled = false;
    });
    let regular = pipeline::run(&setup, no_mail(), None)
        .await
        .expect("regular run");
    let per_agency = 2;
    let r = pipeline::run(
        &setup,
        RunOptions {
            mode: dvc_audit::report::Mode::Surprise,
            sample_services: Some(per_agency),
            seed: Some(11),
            ..no_mail()
        },
        None,
    )
    .await
    .expect("surprise run");

    // Agencies listing more services than the sample: the sample is recorded as a bound.
    let cut: Vec<(&String, i64)> = r
        .coverage
        .iter()
        .filter(|(_, c)| c.listed > per_agency as i64)
        .map(|(id, c)| {
            let dropped = c
                .truncated
                .iter()
                .find(|t| t.bound == "sample")
                .unwrap_or_else(|| panic!("{id}: the sample recorded: {c:?}"))
                .dropped;
            assert!(!c.complete(), "{id}: a sample is not complete: {c:?}");
            assert!(c.read <= per_agency as i64, "{id}: {c:?}");
            (id, dropped)
        })
        .collect();
    assert!(!cut.is_empty(), "some agency was sampled: {:?}", r.coverage);
    for (id, dropped) in &cut {
        let c = &r.coverage[*id];
        assert_eq!(*dropped, c.listed - per_agency as i64, "{id}: {c:?}");
    }

    let terminal = render_summary(&r);
    assert!(terminal.contains("coverage incomplete"), "{terminal}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file(&r.reports, "json")).expect("json"))
            .expect("parse");
    assert!(
        json["totals"]["agencies_incomplete"].as_i64() >= Some(cut.len() as i64),
        "{}",
        json["totals"]
    );
    for (id, dropped) in &cut {
        let a = json["agencies"]
            .as_array()
            .and_then(|l| l.iter().find(|a| a["facts"]["id"] == id.as_str()))
            .expect("agency");
        assert_ne!(a["assessment"], "assessed", "{id}: {}", a["coverage"]);
        let t = a["coverage"]["truncated"]
            .as_array()
            .and_then(|l| l.iter().find(|t| t["bound"] == "sample"))
            .unwrap_or_else(|| panic!("{id}: {}", a["coverage"]));
        assert_eq!(t["dropped"].as_i64(), Some(*dropped));
        assert!(terminal.contains(&format!("{id} (")), "terminal names {id}");
    }
    let text = std::fs::read_to_string(file(&r.reports, "txt")).expect("text");
    assert!(text.contains("sample ("), "{text}");

    // Trend: the regular run's point is measured, the sampled run's is not.
    let store = Store::open(&served.db()).expect("store");
    let ids: Vec<&str> = cut.iter().map(|(id, _)| id.as_str()).collect();
    let trends = store.trends(&ids, 100).expect("trends");
    for id in ids {
        let points = &trends[id];
        let at = |run: i64| {
            points
                .iter()
                .find(|p| p.run_id == run)
                .unwrap_or_else(|| panic!("{id}: a point for run {run}"))
        };
        assert!(at(regular.run_id).measured, "{id}: {points:?}");
        let p = at(r.run_id);
        assert!(
            !p.measured && p.signature_share().is_none() && p.level_share().is_none(),
            "{id}: {p:?}"
        );
    }
}

/// The per-agency "no longer listed" sections of a text report (or the digest's text part):
/// `(rule, subject)` of each listed row, and whether every row says when it last failed.
fn withdrawn_listed_text(text: &str) -> (BTreeSet<(String, String)>, bool) {
    let header = "  Không còn trong danh mục (đã đóng, không phải đã khắc phục):";
    let mut out = BTreeSet::new();
    let mut dated = true;
    let mut inside = false;
    for line in text.lines() {
        if line == header {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let Some(row) = line.strip_prefix("  - ") else {
            inside = false;
            continue;
        };
        let mut words = row.split(' ');
        let rule = words.next().unwrap_or_default().to_string();
        let subject = words.next().unwrap_or_default().trim_end_matches(':');
        dated &= row.contains("lần cuối thấy lỗi: ");
        out.insert((rule, subject.to_string()));
    }
    (out, dated)
}

/// The HTML report's withdrawn rows: `(rule, subject)` of each, and whether every row says
/// when it last failed.
fn withdrawn_listed_html(html: &str) -> (BTreeSet<(String, String)>, bool) {
    let mut out = BTreeSet::new();
    let mut dated = true;
    for part in html
        .split("<tr><td><span class=\"badge st-withdrawn\">")
        .skip(1)
    {
        let row = &part[..part.find("</tr>").expect("</tr>")];
        let after_badge = &row[row.find("</span> ").expect("badge end") + 8..];
        let rule = after_badge[..after_badge.find("</td>").expect("</td>")].to_string();
        let s = &row[row.find("<td class=\"subject\">").expect("subject") + 20..];
        let subject = s[..s.find("</td>").expect("</td>")].to_string();
        dated &= row.contains("lần cuối thấy lỗi");
        out.insert((rule, subject));
    }
    (out, dated)
}

/// A service that left a completely read listing (its open findings "no longer listed",
/// state `withdrawn`): the terminal, `run_finished`, report.json (totals, agency counts and
/// its rows), the text and HTML reports (count and the findings one by one), findings.csv,
/// the XLSX summary sheet, the lead's emailed digest and the metrics file print the same
/// withdrawn count, the same set of findings where they list them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_service_is_counted_and_listed_the_same_everywhere() {
    let served = world::serve(Size::Tiny, 1, Duration::from_millis(200)).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let setup = world::setup(&served.config_path(), |c| {
        c.report.formats = ["html", "json", "text", "csv", "xlsx"]
            .map(String::from)
            .to_vec();
        c.email.enabled = true;
        c.email.smtp_host = "127.0.0.1".into();
        c.email.smtp_port = closed;
        c.email.tls = dvc_audit::config::SmtpTls::None;
    });
    // Withdrawal needs a total the portal announces and the listing matches: bca
    // (accordion) is made readable whole (its planted unreadable pages answer normally).
    let bca: Vec<String> = served
        .handle
        .ground_truth()
        .services
        .iter()
        .filter(|s| s.agency_id == "bca")
        .map(|s| s.code.clone())
        .collect();
    served
        .handle
        .mutate(|o| {
            for c in &bca {
                let s = o.service(c).expect("service");
                s.behaviour = dvc_audit::sandbox::Behaviour::Normal;
                s.robots_disallowed = false;
            }
        })
        .expect("mutate");
    let r1 = pipeline::run(&setup, no_mail(), None).await.expect("run 1");

    // An agency read completely (its announced total matched) whose last services carry
    // findings; the portal then lists only the services before the last failing one (as in
    // lifecycle_honesty).
    let store = Store::open(&served.db()).expect("store");
    let r1_fails: Vec<_> = store
        .findings(r1.run_id)
        .expect("findings")
        .into_iter()
        .filter(|f| f.outcome == "fail")
        .collect();
    drop(store);
    let overrides = served.handle.overrides();
    let (agency, cut) = r1
        .coverage
        .iter()
        .filter(|(_, c)| c.complete() && c.announced == Some(c.listed))
        .find_map(|(id, _)| {
            let idx = r1_fails
                .iter()
                .filter(|f| &f.agency_id == id && f.scope == "service")
                .filter_map(|f| {
                    overrides.find_code(f.subject.trim_start_matches(&format!("{id}/")))
                })
                .map(|(_, i)| i)
                .max()?;
            (idx > 0).then(|| (id.clone(), idx))
        })
        .expect("a completely read agency with service findings");
    served
        .handle
        .mutate(|o| assert!(o.set_published_services(&agency, cut)))
        .expect("mutate");
    let r2 = pipeline::run(&setup, RunOptions::default(), None)
        .await
        .expect("run 2");

    let gone: BTreeSet<String> = r2.diff.withdrawn.iter().cloned().collect();
    assert!(!gone.is_empty(), "a finding was withdrawn: {:?}", r2.diff);
    let n = gone.len() as i64;
    // What the reports must list: each withdrawn finding's rule and subject.
    let listed: BTreeSet<(String, String)> = r1_fails
        .iter()
        .filter(|f| gone.contains(&f.fingerprint))
        .map(|f| (f.rule_id.clone(), f.subject.clone()))
        .collect();
    assert_eq!(listed.len(), gone.len());

    let summary = render_summary(&r2);
    let terminal = from_terminal(&summary);
    assert_eq!(terminal.withdrawn, n, "terminal:\n{summary}");
    let finished = dvc_audit::run::cmd::Finished::of(&r2, std::time::Instant::now());
    assert_eq!(
        finished.fields["counts"]["withdrawn"].as_i64(),
        Some(n),
        "run_finished"
    );

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file(&r2.reports, "json")).expect("json"))
            .expect("parse");
    assert_eq!(from_json(&json), terminal, "report.json");
    let agencies = json["agencies"].as_array().expect("agencies");
    let per_agency: i64 = agencies
        .iter()
        .map(|a| a["counts"]["withdrawn"].as_i64().expect("counts.withdrawn"))
        .sum();
    assert_eq!(per_agency, n, "report.json agency counts");
    let rows: BTreeSet<String> = agencies
        .iter()
        .flat_map(|a| {
            a["withdrawn_findings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|f| {
            f["record"]["fingerprint"]
                .as_str()
                .expect("fingerprint")
                .to_string()
        })
        .collect();
    assert_eq!(rows, gone, "report.json withdrawn_findings");

    let text = std::fs::read_to_string(file(&r2.reports, "txt")).expect("text");
    assert_eq!(from_text(&text), terminal, "text report");
    assert_eq!(
        withdrawn_listed_text(&text),
        (listed.clone(), true),
        "text report rows:\n{text}"
    );

    let html = std::fs::read_to_string(file(&r2.reports, "html")).expect("html");
    let h = from_html(&html);
    assert_eq!(
        Numbers {
            waived: terminal.waived,
            ..h
        },
        terminal,
        "HTML report"
    );
    assert_eq!(
        withdrawn_listed_html(&html),
        (listed.clone(), true),
        "HTML report rows"
    );

    let csv_path = file(&r2.reports, "csv");
    assert_eq!(
        Numbers {
            services: terminal.services,
            services_read: terminal.services_read,
            ..from_csv(&csv_path)
        },
        terminal,
        "findings.csv"
    );
    let csv_text = std::fs::read_to_string(&csv_path).expect("csv");
    let csv_rows: BTreeSet<String> = csv_text
        .lines()
        .skip(1)
        .map(csv_cells)
        .filter(|c| c[3] == "withdrawn")
        .map(|c| c[14].clone())
        .collect();
    assert_eq!(csv_rows, gone, "findings.csv withdrawn rows");
    assert_eq!(from_xlsx(&file(&r2.reports, "xlsx")), terminal, "XLSX");

    // The mail as spooled: the lead's digest counts the same in its short body's change line
    // and in its text report (a digest lists no rows: they are in its workbook); the
    // agencies' own messages list the withdrawn findings one by one.
    let outbox = served.dir.path().join("outbox");
    let mut digests = 0;
    let mut mailed = BTreeSet::new();
    for entry in std::fs::read_dir(&outbox).expect("outbox") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let raw = std::fs::read(&path).expect("eml");
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("a parsable message");
        let body = msg.body_text(0).expect("a text part").to_string();
        let (rows, dated) = withdrawn_listed_text(&body);
        assert!(dated, "{}: rows say when they last failed", path.display());
        if !msg.subject().unwrap_or_default().contains("Tổng hợp") {
            mailed.extend(rows);
            continue;
        }
        digests += 1;
        assert_eq!(from_text(&body), terminal, "emailed digest");
        assert_eq!(
            after(&body, "Không còn trong danh mục "),
            n,
            "the digest's change line:\n{body}"
        );
    }
    assert_eq!(digests, 1, "one lead digest in {}", outbox.display());
    assert_eq!(
        mailed, listed,
        "the agencies' messages list the withdrawn findings"
    );

    // The metrics file: the same aggregate.
    let store = Store::open(&served.db()).expect("store");
    let prom = dvc_audit::metrics::render(
        Some(&store),
        &dvc_audit::metrics::RunOutcome {
            run_id: Some(r2.run_id),
            mode: "regular".into(),
            exit: dvc_audit::exit::ExitCode::Findings,
            duration_secs: 1.0,
        },
    )
    .expect("metrics");
    assert_eq!(
        after_or_0(&prom, "\ndvc_audit_findings_withdrawn "),
        n,
        "metrics:\n{prom}"
    );
}
