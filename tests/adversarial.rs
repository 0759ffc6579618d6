//! Issue #16: the scanner tried as an adversary would, one test per hardened row, each asserting
//! the wanted behaviour at the level an inspector receives (findings of a real run, exit codes,
//! `history verify`), against real servers on loopback.
//!
//! The hostile portal is a small HTTP server in this file (a `table`-platform portal whose
//! pages the test chooses); the canary is a listener on 127.0.0.2 that must never be reached.
//! (Row 13 `profile test` bounded read and row 15 usage errors are tested elsewhere.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dvc_audit::run::lock::RunLock;
use dvc_audit::run::pipeline::{self, RunOptions};
use dvc_audit::run::setup::Setup;
use dvc_audit::store::{FindingRecord, Store};

// ---------------------------------------------------------------------------------------------
// The hostile portal.

#[derive(Clone)]
enum Reply {
    Html(String),
    /// HTML with an `ETag`, answered 304 to a matching `If-None-Match` (logged as `... 304`).
    Tagged(String),
    Text(String),
    Redirect(String),
}

struct Site {
    routes: HashMap<String, Reply>,
    /// `host path` of every request, in order.
    log: Mutex<Vec<String>>,
}

async fn handle(State(site): State<Arc<Site>>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = req.uri().path().to_string();
    if let Some(Reply::Tagged(body)) = site.routes.get(&path) {
        let tag = etag(body);
        let fresh = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == tag.as_bytes());
        if let Ok(mut log) = site.log.lock() {
            log.push(format!("{host} {path}{}", if fresh { " 304" } else { "" }));
        }
        let mut r = if fresh {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body.clone(),
            )
                .into_response()
        };
        if let Ok(v) = HeaderValue::from_str(&tag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        return r;
    }
    if let Ok(mut log) = site.log.lock() {
        log.push(format!("{host} {path}"));
    }
    match site.routes.get(&path) {
        Some(Reply::Html(body)) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body.clone(),
        )
            .into_response(),
        Some(Reply::Text(body)) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body.clone(),
        )
            .into_response(),
        Some(Reply::Redirect(to)) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(to) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Some(Reply::Tagged(_)) | None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// A strong validator of `body` (FNV-1a, enough to tell the test's pages apart).
fn etag(body: &str) -> String {
    let h = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{h:016x}\"")
}

struct Portal {
    port: u16,
    site: Arc<Site>,
}

impl Portal {
    fn requests(&self) -> Vec<String> {
        self.site.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

async fn serve(routes: HashMap<String, Reply>) -> Portal {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the portal");
    let port = listener.local_addr().expect("addr").port();
    let site = Arc::new(Site {
        routes,
        log: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&site));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Portal { port, site }
}

/// A listener on 127.0.0.2 counting connections: nothing may reach it.
async fn canary() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
        .await
        .expect("bind 127.0.0.2 (loopback /8)");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, hits)
}

const LIST_PATH: &str = "/web/guest/thu-tuc-hanh-chinh";

fn list_page(paths: &[&str]) -> String {
    let rows: String = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!("<tr><td><a class=\"ten-thu-tuc\" href=\"{p}\">Thủ tục {i}</a></td></tr>")
        })
        .collect();
    format!("<html><body><table class=\"ds-thu-tuc\">{rows}</table></body></html>")
}

fn detail_page(code: &str) -> String {
    format!(
        "<html><body><table class=\"chi-tiet-thu-tuc\">\
         <tr><td class=\"td-1\">Mã thủ tục</td><td class=\"td-2\">{code}</td></tr>\
         <tr><td class=\"td-1\">Tên thủ tục</td><td class=\"td-2\">Cấp giấy phép {code}</td></tr>\
         <tr><td class=\"td-1\">Mức độ</td><td class=\"td-2\">Toàn trình</td></tr>\
         </table></body></html>"
    )
}

/// A valid configuration for the portal at `port` (host `dvc.adv.test`, extra host
/// `mirror.adv.test`, both pinned to 127.0.0.1); `crawl_extra` goes into `[crawl]`.
fn write_config(dir: &Path, port: u16, crawl_extra: &str) -> PathBuf {
    let text = format!(
        r#"[audit]
name = "adversarial"

[crawl]
user_agent = "dvc-audit-test/0.1 (+mailto:kiemtra@example.gov.vn)"
per_host_rate = 0.0
connect_timeout_ms = 1000
read_timeout_ms = 3000
total_timeout_ms = 6000
retries = 0
allow_private = ["127.0.0.1/32"]
resolve = ["dvc.adv.test:{port}:127.0.0.1", "mirror.adv.test:{port}:127.0.0.1", "other.test:{port}:127.0.0.1"]
http_port = {port}
{crawl_extra}

[storage]
sqlite = "h.sqlite"

[report]
dir = "reports"

[email]
enabled = false
from = "dvc-audit <noreply@example.gov.vn>"
smtp_host = "127.0.0.1"
smtp_port = 2525
tls = "none"
outbox = "outbox"

[email.lead]
to = ["truong-doan@example.gov.vn"]

[inspectors]
mien-bac = ["thanhtra@example.gov.vn"]

[[agency]]
id = "adv"
name = "UBND Thử nghiệm"
name_en = "Test People's Committee"
kind = "city"
portal = "http://dvc.adv.test:{port}/"
extra_hosts = ["http://mirror.adv.test:{port}/"]
platform = "table"
jurisdiction = "mien-bac"
contacts = ["vanthu@example.gov.vn"]
"#
    );
    let path = dir.join("audit.toml");
    std::fs::write(&path, text).expect("write audit.toml");
    path
}

/// One regular run through the library, as `dvc-audit run --no-mail` does it.
async fn run_once(config: &Path) -> pipeline::RunSummary {
    let setup = match Setup::load(config) {
        Ok(s) => s,
        Err(e) => panic!("config does not load: {}", e.0.render(false)),
    };
    let opts = RunOptions {
        send_mail: false,
        tty: false,
        ..RunOptions::default()
    };
    match pipeline::run(&setup, opts, None).await {
        Ok(s) => s,
        Err(e) => panic!("run failed: {e}"),
    }
}

fn findings_for<'a>(all: &'a [FindingRecord], subject_part: &str) -> Vec<&'a FindingRecord> {
    all.iter()
        .filter(|f| f.subject.contains(subject_part))
        .collect()
}

/// Every finding of the subject is could-not-assess with `reason`, and there is at least one.
fn assert_unassessed(all: &[FindingRecord], subject_part: &str, reason: &str) {
    let fs = findings_for(all, subject_part);
    assert!(
        !fs.is_empty(),
        "no finding for {subject_part}: {:#?}",
        all.iter().map(|f| &f.subject).collect::<Vec<_>>()
    );
    for f in fs {
        assert_eq!(
            (f.outcome.as_str(), f.reason.as_str()),
            ("could_not_assess", reason),
            "{} on {}: {}",
            f.rule_id,
            f.subject,
            f.message_en
        );
    }
}

fn dvc() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("dvc-audit").expect("binary")
}

// ---------------------------------------------------------------------------------------------
// Rows 1, 3, 14: a hostile portal's pages, judged in one real run.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_pages_are_unassessed_with_their_reason_and_reach_nothing_private() {
    let (cport, canary_hits) = canary().await;
    let mut routes = HashMap::new();
    routes.insert(
        LIST_PATH.to_string(),
        Reply::Html(list_page(&[
            "/tthc/1", "/tthc/2", "/tthc/3", "/tthc/4", "/tthc/5", "/tthc/6",
        ])),
    );
    routes.insert("/tthc/1".into(), Reply::Html(detail_page("1.000001")));
    // Row 1: IPv4-mapped and NAT64 forms of a loopback address outside allow_private.
    routes.insert(
        "/tthc/2".into(),
        Reply::Redirect(format!("http://[::ffff:127.0.0.2]:{cport}/meta")),
    );
    routes.insert(
        "/tthc/3".into(),
        Reply::Redirect(format!("http://[64:ff9b::7f00:2]:{cport}/meta")),
    );
    // The probe's plain-HTTP check follows redirects of `/` too.
    routes.insert(
        "/".into(),
        Reply::Redirect(format!("http://[::ffff:127.0.0.2]:{cport}/")),
    );
    let portal = {
        // Row 14: another host (pinned to this same server) vs the agency's extra host.
        let mut r = routes;
        r.insert(
            "/tthc/4".into(),
            Reply::Redirect("http://other.test:PORT/tthc/1".into()),
        );
        r.insert(
            "/tthc/5".into(),
            Reply::Redirect("http://mirror.adv.test:PORT/tthc/5b".into()),
        );
        r.insert("/tthc/5b".into(), Reply::Html(detail_page("1.000005")));
        // Row 3: 200,000 nested <div>s.
        r.insert(
            "/tthc/6".into(),
            Reply::Html(format!(
                "<html><body>{}Mã thủ tục 1.000006{}</body></html>",
                "<div>".repeat(200_000),
                "</div>".repeat(200_000)
            )),
        );
        // The port is known only once bound: patch the redirect targets after binding.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        for reply in r.values_mut() {
            if let Reply::Redirect(to) = reply {
                *to = to.replace("PORT", &port.to_string());
            }
        }
        let site = Arc::new(Site {
            routes: r,
            log: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&site));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Portal { port, site }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), portal.port, "");
    let summary = run_once(&config).await;
    assert!(summary.complete);

    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");
    let services = store.service_facts(summary.run_id).expect("services");

    // Row 1: refused with the resolver's reason (`connect`), nothing reached 127.0.0.2.
    assert_unassessed(&findings, "/tthc/2", "connect");
    assert_unassessed(&findings, "/tthc/3", "connect");
    assert_eq!(
        canary_hits.load(Ordering::SeqCst),
        0,
        "a connection reached the private canary"
    );
    // Row 14: the foreign host is not followed; the agency's own extra host is.
    assert_unassessed(&findings, "/tthc/4", "redirect_offsite");
    let requests = portal.requests();
    assert!(
        requests.iter().all(|r| !r.starts_with("other.test")),
        "{requests:?}"
    );
    assert!(
        services.iter().any(|s| s.code == "1.000005"),
        "the extra host's page is the agency's service: {:?}",
        services.iter().map(|s| &s.code).collect::<Vec<_>>()
    );
    // Row 3: too deep to parse.
    assert_unassessed(&findings, "/tthc/6", "too_large");
    // The ordinary page beside them is assessed.
    let normal = services
        .iter()
        .find(|s| s.code == "1.000001")
        .expect("the normal service");
    assert!(normal.fetch.error.is_none(), "{:?}", normal.fetch.error);
}

// ---------------------------------------------------------------------------------------------
// A level label that says two levels is not read as the first pattern's level.

fn detail_page_with_level(code: &str, level: &str) -> String {
    detail_page(code).replace(">Toàn trình<", &format!(">{level}<"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_label_saying_two_levels_is_could_not_assess_and_roman_levels_are_read() {
    let mut routes = HashMap::new();
    routes.insert(
        LIST_PATH.to_string(),
        Reply::Html(list_page(&["/tthc/1", "/tthc/2", "/tthc/3"])),
    );
    routes.insert(
        "/tthc/1".into(),
        Reply::Html(detail_page_with_level(
            "1.000001",
            "Một phần (chưa đủ điều kiện toàn trình)",
        )),
    );
    routes.insert(
        "/tthc/2".into(),
        Reply::Html(detail_page_with_level("1.000002", "Mức độ IV")),
    );
    routes.insert(
        "/tthc/3".into(),
        Reply::Html(detail_page_with_level("1.000003", "Mức độ 3 - Một phần")),
    );
    let portal = serve(routes).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), portal.port, "");
    let summary = run_once(&config).await;
    assert!(summary.complete);
    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");
    let services = store.service_facts(summary.run_id).expect("services");
    let verdict = |subject: &str, rule: &str| {
        findings_for(&findings, subject)
            .into_iter()
            .find(|f| f.rule_id == rule)
            .map(|f| (f.outcome.clone(), f.reason.clone()))
    };

    // Two levels in one label: the label is published (LVL-001 passes), but which level the
    // agency meant is not observed: could not assess, never "full" because a full pattern
    // comes first in the profile, never "matches no known scheme".
    let two = services
        .iter()
        .find(|s| s.code == "1.000001")
        .expect("service 1");
    assert_eq!(two.level, dvc_audit::facts::Level::Unknown);
    assert_eq!(two.level_label, "Một phần (chưa đủ điều kiện toàn trình)");
    let why = two
        .unknown_fact("level")
        .expect("the level is an unknown fact");
    assert!(
        why.message.contains("more than one level"),
        "{}",
        why.message
    );
    assert_eq!(
        verdict("1.000001", "LVL-001"),
        None,
        "the label is published"
    );
    for rule in ["LVL-002", "SIG-001", "SIG-002", "NPL-001"] {
        assert_eq!(
            verdict("1.000001", rule),
            Some(("could_not_assess".to_string(), "no_data".to_string())),
            "{rule}"
        );
    }

    // "Mức độ IV" is level 4 (full): judged like "Mức độ 4" (no VGCA on the page: SIG-001
    // fails, LVL-002 passes). "Mức độ 3 - Một phần" says one level twice: partial.
    assert_eq!(verdict("1.000002", "LVL-002"), None);
    assert_eq!(
        verdict("1.000002", "SIG-001").map(|v| v.0),
        Some("fail".into())
    );
    assert_eq!(verdict("1.000003", "LVL-002"), None);
    assert_eq!(
        verdict("1.000003", "SIG-002").map(|v| v.0),
        Some("fail".into())
    );
    assert_eq!(
        verdict("1.000003", "SIG-001"),
        None,
        "not full: not applicable"
    );
}

// ---------------------------------------------------------------------------------------------
// A link to the national portal in the footer of every page is not the service's link.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_national_portal_link_on_every_page_is_not_a_services_own_link() {
    let footer = "<footer><a href=\"https://dichvucong.gov.vn/p/home/dvc-trang-chu.html\">Cổng Dịch vụ công quốc gia</a></footer>";
    let with_footer = |html: String| html.replace("</body>", &format!("{footer}</body>"));
    let own = "<a class=\"lien-ket\" href=\"https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=1.000002\">Nộp trên Cổng DVC quốc gia</a>";
    let mut routes = HashMap::new();
    routes.insert(
        LIST_PATH.to_string(),
        Reply::Html(with_footer(list_page(&["/tthc/1", "/tthc/2"]))),
    );
    routes.insert(
        "/tthc/1".into(),
        Reply::Html(with_footer(detail_page("1.000001"))),
    );
    // The footer first in page order would have been the only link read before.
    routes.insert(
        "/tthc/2".into(),
        Reply::Html(
            with_footer(detail_page("1.000002")).replace("</footer>", &format!("</footer>{own}")),
        ),
    );
    let portal = serve(routes).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), portal.port, "");
    let summary = run_once(&config).await;
    assert!(summary.complete);
    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");
    let services = store.service_facts(summary.run_id).expect("services");
    let npl = |code: &str| {
        findings_for(&findings, code)
            .into_iter()
            .find(|f| f.rule_id == "NPL-001")
            .cloned()
    };

    // Only the portal-wide link: no link of its own (NPL-001 fails), the footer link shown as
    // site-wide evidence.
    let footer_only = services
        .iter()
        .find(|s| s.code == "1.000001")
        .expect("service 1");
    assert!(!footer_only.national_portal_link);
    let f = npl("1.000001").expect("NPL-001 on the footer-only service");
    assert_eq!(f.outcome, "fail");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.locator.contains("site-wide") && e.excerpt.contains("dvc-trang-chu")),
        "{:#?}",
        f.evidence
    );
    // Its own link besides the footer's: linked.
    let linked = services
        .iter()
        .find(|s| s.code == "1.000002")
        .expect("service 2");
    assert!(linked.national_portal_link);
    assert!(npl("1.000002").is_none(), "{:?}", npl("1.000002"));
}

/// The same portal with validators: the second run's pages are all 304 and replayed from the
/// page cache, which holds each page's facts as read (before the site-wide marking). The
/// footer link must be found site-wide again from the replayed list and detail pages, not
/// read as each service's own link (NPL-001 passing on a 304 would be a false "resolved").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_wide_national_link_stays_site_wide_when_every_page_is_304() {
    let footer = "<footer><a href=\"https://dichvucong.gov.vn/p/home/dvc-trang-chu.html\">Cổng Dịch vụ công quốc gia</a></footer>";
    let with_footer = |html: String| html.replace("</body>", &format!("{footer}</body>"));
    let own = "<a class=\"lien-ket\" href=\"https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=1.000002\">Nộp trên Cổng DVC quốc gia</a>";
    let mut routes = HashMap::new();
    routes.insert(
        LIST_PATH.to_string(),
        Reply::Tagged(with_footer(list_page(&["/tthc/1", "/tthc/2", "/tthc/3"]))),
    );
    for (path, code) in [("/tthc/1", "1.000001"), ("/tthc/3", "1.000003")] {
        routes.insert(path.into(), Reply::Tagged(with_footer(detail_page(code))));
    }
    routes.insert(
        "/tthc/2".into(),
        Reply::Tagged(
            with_footer(detail_page("1.000002")).replace("</footer>", &format!("</footer>{own}")),
        ),
    );
    let portal = serve(routes).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), portal.port, "");
    let first = run_once(&config).await;
    assert!(first.complete);
    let before = portal.requests().len();
    let second = run_once(&config).await;
    assert!(second.complete);

    // The second run was answered from the cache: every page it asked for again was a 304.
    let again: Vec<String> = portal.requests()[before..]
        .iter()
        .filter(|r| r.contains("/tthc/") || r.contains(LIST_PATH))
        .cloned()
        .collect();
    assert_eq!(again.len(), 4, "{again:?}");
    assert!(again.iter().all(|r| r.ends_with(" 304")), "{again:?}");

    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    for run in [first.run_id, second.run_id] {
        let findings = store.findings(run).expect("findings");
        let services = store.service_facts(run).expect("services");
        let linked = |code: &str| {
            services
                .iter()
                .find(|s| s.code == code)
                .map(|s| s.national_portal_link)
        };
        let npl = |code: &str| {
            findings_for(&findings, code)
                .into_iter()
                .find(|f| f.rule_id == "NPL-001")
                .map(|f| (f.outcome.clone(), f.evidence.clone()))
        };
        for code in ["1.000001", "1.000003"] {
            assert_eq!(linked(code), Some(false), "run {run}: {code}");
            let (outcome, evidence) = npl(code).expect("NPL-001 on a footer-only service");
            assert_eq!(outcome, "fail", "run {run}: {code}");
            assert!(
                evidence.iter().any(|e| e.locator.contains("site-wide")),
                "run {run}: {code}: {evidence:#?}"
            );
        }
        assert_eq!(linked("1.000002"), Some(true), "run {run}");
        assert!(npl("1.000002").is_none(), "run {run}");
    }
    // Nothing changed, so nothing is new or resolved: the two findings persist.
    let d = &second.diff;
    assert!(
        d.new.is_empty() && d.resolved.is_empty() && d.regressed.is_empty(),
        "{d:?}"
    );
    let npl_first: Vec<String> = store
        .findings(first.run_id)
        .expect("findings")
        .into_iter()
        .filter(|f| f.rule_id == "NPL-001")
        .map(|f| f.fingerprint)
        .collect();
    assert_eq!(npl_first.len(), 2);
    assert!(
        npl_first.iter().all(|fp| d.persisting.contains(fp)),
        "{d:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Row 2: Crawl-delay: 3600 cannot stall the run.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_crawl_delay_ends_in_rate_limited_with_the_delay_not_a_stalled_run() {
    let mut routes = HashMap::new();
    routes.insert(
        "/robots.txt".into(),
        Reply::Text("User-agent: *\nCrawl-delay: 3600\n".into()),
    );
    routes.insert(LIST_PATH.into(), Reply::Html(list_page(&["/tthc/1"])));
    routes.insert("/tthc/1".into(), Reply::Html(detail_page("1.000001")));
    let portal = serve(routes).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The delay is capped at 60 s; at 60 s a page, the listing does not fit a 1-minute run.
    let config = write_config(
        dir.path(),
        portal.port,
        "max_crawl_delay_secs = 60\nmax_run_minutes = 1",
    );
    let summary = run_once(&config).await;
    assert!(summary.complete, "the run completes: {:?}", summary.notes);

    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");
    let agency: Vec<_> = findings.iter().filter(|f| f.scope == "agency").collect();
    assert!(!agency.is_empty(), "{findings:#?}");
    for f in &agency {
        assert_eq!(
            (f.outcome.as_str(), f.reason.as_str()),
            ("could_not_assess", "rate_limited"),
            "{}",
            f.rule_id
        );
        assert!(
            f.evidence
                .iter()
                .any(|e| e.excerpt.contains("Crawl-delay: 3600")),
            "the delay is in the evidence: {:?}",
            f.evidence
        );
    }
    // Nothing past robots.txt was requested by the crawler.
    assert!(
        portal
            .requests()
            .iter()
            .all(|r| !r.contains("/tthc/") && !r.contains(LIST_PATH)),
        "{:?}",
        portal.requests()
    );
}

// ---------------------------------------------------------------------------------------------
// Row 4: the lock is on the database itself (symlink, hard link).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_through_a_symlink_or_a_hard_link_is_refused_by_the_lock() {
    let portal = serve(HashMap::new()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), portal.port, "");
    let db = dir.path().join("h.sqlite");
    drop(Store::open(&db).expect("create the database"));
    let link = dir.path().join("link.sqlite");
    std::os::unix::fs::symlink(&db, &link).expect("symlink");
    let other = tempfile::tempdir().expect("tempdir");
    let hard = other.path().join("hard.sqlite");
    std::fs::hard_link(&db, &hard).expect("hard link");

    let held = RunLock::acquire(&db).expect("the live run's lock");
    for name in [&link, &hard] {
        let out = dvc()
            .args(["run", "--no-mail", "-c"])
            .arg(&config)
            .env("DVC_AUDIT_DB", name)
            .timeout(Duration::from_secs(60))
            .output()
            .expect("run the CLI");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{}: {stderr}", name.display());
        assert!(stderr.contains("holds"), "{stderr}");
    }
    drop(held);
    let store = Store::open(&db).expect("store");
    assert!(
        store.runs(10).expect("runs").is_empty(),
        "nothing was started"
    );
    assert!(portal.requests().is_empty(), "no request was made");
}

// ---------------------------------------------------------------------------------------------
// Row 5: tamper evidence over what reports are built from; head digests; deleting everything.

fn verify(config: &Path, head: Option<&str>) -> (Option<i32>, String) {
    let mut cmd = dvc();
    cmd.args(["history", "verify", "-c"]).arg(config);
    if let Some(h) = head {
        cmd.args(["--head", h]);
    }
    let out = cmd.output().expect("history verify");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

fn head_of_report(dir: &Path, run: i64) -> String {
    let json = std::fs::read_to_string(dir.join(format!("reports/run-{run}/report.json")))
        .expect("report.json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    v["run"]["head_digest"]
        .as_str()
        .expect("head_digest")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_facts_times_or_runs_is_detected_and_heads_catch_deletions() {
    let mut routes = HashMap::new();
    routes.insert(
        LIST_PATH.into(),
        Reply::Html(list_page(&["/tthc/1", "/tthc/2"])),
    );
    routes.insert("/tthc/1".into(), Reply::Html(detail_page("1.000001")));
    routes.insert("/tthc/2".into(), Reply::Html(detail_page("1.000002")));
    let portal = serve(routes).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), portal.port, "");
    let first = run_once(&config).await;
    let second = run_once(&config).await;
    let db = dir.path().join("h.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        dvc_audit::store::register_functions(&conn).expect("functions");
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
    }

    // Every report names its run's head digest; it verifies.
    let head1 = head_of_report(dir.path(), first.run_id);
    let head2 = head_of_report(dir.path(), second.run_id);
    assert_eq!(head1.len(), 64);
    assert_ne!(head1, head2);
    let html = std::fs::read_to_string(
        dir.path()
            .join(format!("reports/run-{}/report.html", second.run_id)),
    )
    .expect("report.html");
    assert!(html.contains(&head2), "the HTML report prints the head");
    let (code, out) = verify(&config, Some(&head2));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("digest chain intact"), "{out}");

    // Facts and times are covered: each edit is a break.
    let edits = [
        "UPDATE service_facts SET level = 'info' WHERE run_id = 1",
        "UPDATE agency_facts SET facts_json = replace(facts_json, 'Thử', 'Giả') WHERE run_id = 1",
        "UPDATE runs SET started_at = '2020-01-01T00:00:00Z' WHERE id = 1",
        "UPDATE runs SET ended_at = '2020-01-01T00:00:00Z' WHERE id = 1",
    ];
    let pristine = std::fs::read(&db).expect("db bytes");
    for edit in edits {
        {
            let conn = rusqlite::Connection::open(&db).expect("open");
            dvc_audit::store::register_functions(&conn).expect("functions");
            conn.execute_batch(edit).expect("tamper");
        }
        let (code, out) = verify(&config, None);
        assert_eq!(code, Some(1), "{edit}: {out}");
        assert!(out.contains("BREAK at run 1"), "{edit}: {out}");
        // Restore for the next edit (WAL checkpointed by the close above).
        let _ = std::fs::remove_file(dir.path().join("h.sqlite-wal"));
        let _ = std::fs::remove_file(dir.path().join("h.sqlite-shm"));
        std::fs::write(&db, &pristine).expect("restore");
    }
    assert_eq!(verify(&config, Some(&head2)).0, Some(0));

    // Deleting the newest run leaves an intact chain, but its head is gone.
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        dvc_audit::store::register_functions(&conn).expect("functions");
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = OFF;
             DELETE FROM evidence_times WHERE run_id = {r}; DELETE FROM finding_spans WHERE first_run = {r};
             UPDATE finding_spans SET last_run = {r} - 1 WHERE last_run = {r};
             DELETE FROM resolutions WHERE run_id = {r}; DELETE FROM service_facts WHERE run_id = {r};
             DELETE FROM agency_facts WHERE run_id = {r}; DELETE FROM host_facts WHERE run_id = {r};
             DELETE FROM fetches WHERE run_id = {r}; DELETE FROM runs WHERE id = {r};",
            r = second.run_id
        ))
        .expect("delete the newest run");
    }
    let (code, out) = verify(&config, Some(&head2));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no complete run has head digest"), "{out}");
    assert_eq!(verify(&config, Some(&head1)).0, Some(0));

    // Deleting every run is reported, never "intact".
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        dvc_audit::store::register_functions(&conn).expect("functions");
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             DELETE FROM evidence_times; DELETE FROM finding_spans; DELETE FROM resolutions;
             DELETE FROM service_facts; DELETE FROM agency_facts; DELETE FROM host_facts;
             DELETE FROM fetches; DELETE FROM lifecycle; DELETE FROM runs;",
        )
        .expect("delete everything");
    }
    let (code, out) = verify(&config, None);
    assert_eq!(code, Some(1), "{out}");
    assert!(!out.contains("intact"), "{out}");
    assert!(out.contains("no complete run"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Row 6: credentials in a URL.

#[test]
fn credentials_in_the_portal_url_are_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), 9, "");
    let text = std::fs::read_to_string(&config)
        .expect("read")
        .replace("portal = \"http://", "portal = \"http://admin:s3cret@");
    std::fs::write(&config, text).expect("write");
    for args in [&["config", "check"][..], &["run", "--no-mail"][..]] {
        let out = dvc()
            .args(args)
            .arg("-c")
            .arg(&config)
            .env("NO_COLOR", "1")
            .output()
            .expect("cli");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("credentials never belong in a URL"),
            "{stderr}"
        );
    }
    assert!(
        !dir.path().join("reports").exists(),
        "nothing ran, nothing was reported"
    );
}

// ---------------------------------------------------------------------------------------------
// Rows 7 and 8: another application's database; read-only media.

fn tables(db: &Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    let mut st = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("query");
    st.query_map([], |r| r.get::<_, String>(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("names")
}

#[test]
fn another_applications_database_is_never_migrated_or_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), 9, "");
    let db = dir.path().join("h.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).expect("create");
        conn.execute_batch(
            "CREATE TABLE payroll (name TEXT, amount INTEGER); INSERT INTO payroll VALUES ('a', 1);",
        )
        .expect("payroll");
    }
    let out = dvc()
        .args(["history", "-c"])
        .arg(&config)
        .output()
        .expect("history");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("not a dvc-audit database"), "{stderr}");
    let out = dvc()
        .args(["run", "--no-mail", "-c"])
        .arg(&config)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("not a dvc-audit database"), "{all}");
    assert_eq!(tables(&db), vec!["payroll".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_commands_work_on_a_read_only_database_and_change_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let mut routes = HashMap::new();
    routes.insert(LIST_PATH.into(), Reply::Html(list_page(&["/tthc/1"])));
    routes.insert("/tthc/1".into(), Reply::Html(detail_page("1.000001")));
    let portal = serve(routes).await;
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("ro");
    std::fs::create_dir(&data).expect("dir");
    let config = write_config(&data, portal.port, "");
    let summary = run_once(&config).await;
    let db = data.join("h.sqlite");
    let before = std::fs::read(&db).expect("bytes");
    let out_dir = root.path().join("out");
    // Read-only media: the directory and the file. Root ignores these modes, so the
    // directory is also made immutable when `chattr` can (then even root cannot create the
    // WAL index); the assertions that nothing is written hold either way.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    struct Immutable(PathBuf, bool);
    impl Drop for Immutable {
        fn drop(&mut self) {
            if self.1 {
                let _ = std::process::Command::new("chattr")
                    .arg("-i")
                    .arg(&self.0)
                    .status();
            }
        }
    }
    let frozen = std::process::Command::new("chattr")
        .arg("+i")
        .arg(&data)
        .status()
        .is_ok_and(|s| s.success());
    let guard = Immutable(data.clone(), frozen);
    if frozen {
        assert!(
            std::fs::write(data.join("probe"), b"x").is_err(),
            "the directory is read-only"
        );
    }
    let runs = [
        vec!["history".to_string()],
        vec!["history".into(), "verify".into()],
        vec![
            "report".into(),
            "--run".into(),
            summary.run_id.to_string(),
            "--format".into(),
            "json".into(),
            "--out".into(),
            out_dir.display().to_string(),
        ],
    ];
    let mut outputs = Vec::new();
    for args in &runs {
        let out = dvc()
            .args(args)
            .arg("-c")
            .arg(&config)
            .output()
            .expect("cli");
        outputs.push((args.clone(), out));
    }
    drop(guard);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for (args, out) in outputs {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read(&db).expect("bytes"),
        before,
        "the file is unchanged"
    );
    assert!(
        out_dir
            .join(format!("run-{}/report.json", summary.run_id))
            .is_file()
    );
}

// ---------------------------------------------------------------------------------------------
// Row 9: a flush killed while SMTP hangs leaves no lock behind.

#[test]
fn a_killed_flush_does_not_keep_the_outbox_locked() {
    use dvc_audit::notify::{NotifyError, Outbox, StoredEnvelope};
    // An SMTP server that accepts and never answers.
    let smtp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let smtp_port = smtp.local_addr().expect("addr").port();
    let held: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
    let keep = Arc::clone(&held);
    std::thread::spawn(move || {
        for s in smtp.incoming().flatten() {
            if let Ok(mut k) = keep.lock() {
                k.push(s);
            }
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), 9, "");
    let text = std::fs::read_to_string(&config)
        .expect("read")
        .replace("smtp_port = 2525", &format!("smtp_port = {smtp_port}"));
    std::fs::write(&config, text).expect("write");
    let outbox = Outbox::open(&dir.path().join("outbox")).expect("outbox");
    outbox
        .enqueue(
            "run1-lead",
            &StoredEnvelope {
                from: "noreply@example.gov.vn".into(),
                to: vec!["truong-doan@example.gov.vn".into()],
                subject: "s".into(),
            },
            b"Subject: s\r\n\r\nbody\r\n",
        )
        .expect("enqueue");

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dvc-audit"))
        .args(["outbox", "flush", "-c"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the flush");
    // Wait (bounded) until the flush holds the lock, i.e. it is hanging on SMTP.
    let mut busy = false;
    for _ in 0..600 {
        match outbox.lock() {
            Err(NotifyError::Busy(_)) => {
                busy = true;
                break;
            }
            Ok(lock) => drop(lock),
            Err(e) => panic!("{e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(busy, "the flush took the lock");
    child.kill().expect("kill the hanging flush");
    let _ = child.wait();
    assert!(
        outbox.lock().is_ok(),
        "the OS released the lock of the killed flush"
    );
    assert_eq!(outbox.pending().expect("pending").len(), 1, "still queued");
}

// ---------------------------------------------------------------------------------------------
// Row 10: the report directory cannot be written.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_report_exits_3_leaves_no_temp_file_and_the_run_complete() {
    let mut routes = HashMap::new();
    routes.insert(LIST_PATH.into(), Reply::Html(list_page(&["/tthc/1"])));
    routes.insert("/tthc/1".into(), Reply::Html(detail_page("1.000001")));
    let portal = serve(routes).await;
    for broken in ["file", "target"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(dir.path(), portal.port, "");
        let reports = dir.path().join("reports");
        match broken {
            // `report.dir` is a file.
            "file" => std::fs::write(&reports, "not a directory").expect("file"),
            // The report's final name is taken by a directory: the rename fails after the
            // temporary file was written.
            _ => std::fs::create_dir_all(reports.join("run-1/report.html/x")).expect("dir"),
        }
        let config2 = config.clone();
        let out = tokio::task::spawn_blocking(move || {
            dvc()
                .args(["run", "--no-mail", "-c"])
                .arg(&config2)
                .timeout(Duration::from_secs(120))
                .output()
                .expect("run")
        })
        .await
        .expect("join");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(3), "{broken}: {all}");
        assert!(all.contains("reports not written"), "{broken}: {all}");
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                assert!(!name.ends_with(".tmp"), "temporary file left: {name}");
                if e.path().is_dir() {
                    stack.push(e.path());
                }
            }
        }
        let store = Store::open_reader(&dir.path().join("h.sqlite")).expect("store");
        let runs = store.runs(10).expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, "complete", "{broken}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rows 11 and 12: rules type-checked at load; config check = the run's validation.

#[test]
fn a_cel_type_error_is_a_lint_error_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string("rules/level.toml").expect("bundled rules");
    let bad = text.replacen(
        "require = \"!service.level_unrecognised\"",
        "require = \"service.name + 1 == 2\"",
        1,
    );
    assert_ne!(bad, text);
    std::fs::write(dir.path().join("level.toml"), bad).expect("write");
    let out = dvc()
        .args(["rules", "lint", "--dir"])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("lint");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = require_line(&text, "require = \"!service.level_unrecognised\"");
    assert!(
        stderr.contains(&format!("level.toml:{line}:25")),
        "{stderr}"
    );
    assert!(stderr.contains("no `+` for string and int"), "{stderr}");
}

#[test]
fn config_check_reports_every_problem_run_would() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), 9, "");
    let text = std::fs::read_to_string(&config).expect("read");
    let one = text
        .replace("platform = \"table\"", "platform = \"no-such-platform\"")
        .replace(
            "[storage]",
            "[rules]\nwaivers = \"no-waivers.toml\"\n[rules.severity]\n\"NOPE-001\" = \"high\"\n[rules.params]\nno_such_param = 3\n\n[storage]",
        );
    std::fs::write(&config, &one).expect("write");
    let check = |config: &Path| {
        let out = dvc()
            .args(["config", "check", "-c"])
            .arg(config)
            .env("NO_COLOR", "1")
            .output()
            .expect("check");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stderr) = check(&config);
    assert_eq!(code, Some(2), "{stderr}");
    for want in [
        "no profile \"no-such-platform\"",
        "severity override for unknown rule `NOPE-001`",
        "unknown rule parameter `no_such_param`",
        "no-waivers.toml",
        "4 errors",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in {stderr}");
    }
    // A missing rules directory, and a broken CEL expression in rules.dirs.
    let two = one.replace("[rules]\n", "[rules]\ndirs = [\"no-rules\"]\n");
    std::fs::write(&config, &two).expect("write");
    let (code, stderr) = check(&config);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no-rules"), "{stderr}");
    let rules = dir.path().join("my-rules");
    std::fs::create_dir(&rules).expect("dir");
    let level = std::fs::read_to_string("rules/level.toml")
        .expect("rules")
        .replacen(
            "!service.level_unrecognised",
            "service.level_unrecognised != ",
            1,
        );
    std::fs::write(rules.join("level.toml"), &level).expect("write");
    std::fs::write(
        &config,
        text.replace("[storage]", "[rules]\ndirs = [\"my-rules\"]\n\n[storage]"),
    )
    .expect("write");
    let (code, stderr) = check(&config);
    assert_eq!(code, Some(2), "{stderr}");
    let line = require_line(&level, "require = \"service.level_unrecognised != \"");
    assert!(stderr.contains(&format!("level.toml:{line}:")), "{stderr}");
}

/// The 1-based line of the first line of `text` starting with `start`.
fn require_line(text: &str, start: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(start))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no line starting with {start:?}"))
}

#[test]
fn profile_lint_with_a_config_lints_the_profiles_the_run_uses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), 9, "");
    let text = std::fs::read_to_string(&config).expect("read").replace(
        "[storage]",
        "[profiles]\ndirs = [\"my-profiles\"]\n\n[storage]",
    );
    std::fs::write(&config, text).expect("write");
    let profiles = dir.path().join("my-profiles");
    std::fs::create_dir(&profiles).expect("dir");
    let table = std::fs::read_to_string("rules/portals/table.toml").expect("profile");
    std::fs::write(
        profiles.join("custom.toml"),
        table.replacen("id = \"table\"", "id = \"custom\"", 1),
    )
    .expect("write");
    let lint = || {
        dvc()
            .args(["profile", "lint", "-c"])
            .arg(&config)
            .env("NO_COLOR", "1")
            .output()
            .expect("lint")
    };
    let out = lint();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("custom") && stdout.contains("table"),
        "{stdout}"
    );
    std::fs::write(
        profiles.join("broken.toml"),
        "id = \"broken\"\n[listing]\nstart = 3\n",
    )
    .expect("write");
    let out = lint();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.toml"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// A level label the profile does not recognise, or a level row that is gone, is not a level:
// the rules that judge full/partial services could not assess, and their open findings are
// unverified, not resolved (review item 3).

/// One run of the table portal serving `routes`, with the history in `dir`.
async fn run_portal(dir: &Path, routes: HashMap<String, Reply>) -> pipeline::RunSummary {
    let portal = serve(routes).await;
    let config = write_config(dir, portal.port, "");
    run_once(&config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecognised_or_missing_level_label_leaves_the_signature_findings_unverified() {
    let no_level_row = |code: &str| {
        detail_page(code).replace(
            "<tr><td class=\"td-1\">Mức độ</td><td class=\"td-2\">Toàn trình</td></tr>",
            "",
        )
    };
    let routes = |second: bool| {
        let mut r = HashMap::new();
        r.insert(
            LIST_PATH.to_string(),
            Reply::Html(list_page(&["/tthc/1", "/tthc/2", "/tthc/3"])),
        );
        let (one, two) = if second {
            (
                detail_page_with_level("1.000001", "Đang cập nhật"),
                no_level_row("1.000002"),
            )
        } else {
            (detail_page("1.000001"), detail_page("1.000002"))
        };
        r.insert("/tthc/1".into(), Reply::Html(one));
        r.insert("/tthc/2".into(), Reply::Html(two));
        // Read and recognised in both runs: judged in both.
        r.insert(
            "/tthc/3".into(),
            Reply::Html(detail_page_with_level("1.000003", "Một phần")),
        );
        r
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let first = run_portal(dir.path(), routes(false)).await;
    assert!(first.complete);
    let second = run_portal(dir.path(), routes(true)).await;
    assert!(second.complete);

    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    let f1 = store.findings(first.run_id).expect("findings");
    let f2 = store.findings(second.run_id).expect("findings");
    let find = |all: &[FindingRecord], subject: &str, rule: &str| {
        findings_for(all, subject)
            .into_iter()
            .find(|f| f.rule_id == rule)
            .cloned()
    };
    // Run 1: two full-process services without the government signature, a partial one too.
    let mut open = Vec::new();
    for (code, rule) in [
        ("adv/1.000001", "SIG-001"),
        ("adv/1.000001", "NPL-001"),
        ("adv/1.000002", "SIG-001"),
        ("adv/1.000003", "SIG-002"),
    ] {
        let f = find(&f1, code, rule).unwrap_or_else(|| panic!("run 1: {rule} on {code}"));
        assert_eq!(f.outcome, "fail", "run 1: {rule} on {code}");
        open.push((code, rule, f.fingerprint));
    }
    let agency = |all: &[FindingRecord], rule: &str| {
        all.iter()
            .find(|f| f.subject == "adv" && f.rule_id == rule)
            .cloned()
    };
    let agy = agency(&f1, "AGY-001").expect("run 1: AGY-001");
    assert_eq!(agy.outcome, "fail");

    // Run 2: the pages were read (code and name found), the level was not.
    let services = store.service_facts(second.run_id).expect("services");
    let service = |code: &str| {
        services
            .iter()
            .find(|s| s.code == code)
            .unwrap_or_else(|| panic!("service {code}"))
    };
    let odd = service("1.000001");
    assert!(odd.fetch.error.is_none(), "{:?}", odd.fetch.error);
    assert_eq!(odd.level_label, "Đang cập nhật");
    let why = odd.unknown_fact("level").expect("level unknown on 1");
    assert!(why.message.contains("Đang cập nhật"), "{}", why.message);
    let gone = service("1.000002");
    assert!(gone.fetch.error.is_none(), "{:?}", gone.fetch.error);
    assert_eq!(gone.level_label, "");
    let why = gone.unknown_fact("level").expect("level unknown on 2");
    assert!(why.message.contains("no level label"), "{}", why.message);
    // A recognised label stays a level.
    let partial = service("1.000003");
    assert_eq!(partial.level, dvc_audit::facts::Level::Partial);
    assert!(partial.unknown.is_empty(), "{:?}", partial.unknown);

    let d = &second.diff;
    for (code, rule, fp) in &open[..3] {
        let f = find(&f2, code, rule).unwrap_or_else(|| panic!("run 2: {rule} on {code}"));
        assert_eq!(
            (f.outcome.as_str(), f.reason.as_str()),
            ("could_not_assess", "no_data"),
            "run 2: {rule} on {code}: {}",
            f.message_en
        );
        assert!(!d.resolved.contains(fp), "{rule} on {code} resolved: {d:?}");
        assert!(
            d.unverified.contains(fp),
            "{rule} on {code} not unverified: {d:?}"
        );
    }
    // The partial service is judged as before: its finding persists.
    let (_, _, sig2) = &open[3];
    assert_eq!(
        find(&f2, "adv/1.000003", "SIG-002").map(|f| f.outcome),
        Some("fail".into())
    );
    assert!(d.persisting.contains(sig2), "{d:?}");
    // The label rules still judge the label, which was read: an unrecognised wording fails
    // LVL-002, a missing one LVL-001.
    assert_eq!(
        find(&f2, "adv/1.000001", "LVL-002").map(|f| f.outcome),
        Some("fail".into())
    );
    assert!(find(&f2, "adv/1.000001", "LVL-001").is_none());
    assert_eq!(
        find(&f2, "adv/1.000002", "LVL-001").map(|f| f.outcome),
        Some("fail".into())
    );
    // The agency's share of full-process services cannot be computed: not resolved either.
    let agy2 = agency(&f2, "AGY-001").expect("run 2: AGY-001");
    assert_eq!(agy2.outcome, "could_not_assess", "{}", agy2.message_en);
    assert!(!d.resolved.contains(&agy.fingerprint), "{d:?}");
    assert!(d.unverified.contains(&agy.fingerprint), "{d:?}");
}
