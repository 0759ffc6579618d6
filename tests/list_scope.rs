//! A listing reads the agency's own portal, never another's (review item 1): a merged agency's
//! old portal whose listing redirects to its successor's, or a list row that links to another
//! host, must not give the other portal's services as the agency's, nor resolve the agency's
//! open findings with what another portal shows.
//!
//! A small portal server on loopback answers for two names (`dvc.adv.test`, the agency's, and
//! `other.test`, another agency's portal) pinned to it; its pages change between runs.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dvc_audit::facts::AssessReason;
use dvc_audit::run::pipeline::{self, RunOptions, RunSummary};
use dvc_audit::run::setup::Setup;
use dvc_audit::store::{FindingRecord, Store};

#[derive(Clone)]
enum Reply {
    Html(String),
    Redirect(String),
}

/// Pages by `host path` (host without port); every request logged as `host path`.
#[derive(Default)]
struct Site {
    routes: Mutex<HashMap<String, Reply>>,
    log: Mutex<Vec<String>>,
}

impl Site {
    fn set(&self, host: &str, path: &str, reply: Reply) {
        if let Ok(mut r) = self.routes.lock() {
            r.insert(format!("{host} {path}"), reply);
        }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

async fn handle(State(site): State<Arc<Site>>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    let key = format!("{host} {}", req.uri().path());
    if let Ok(mut log) = site.log.lock() {
        log.push(key.clone());
    }
    let reply = site.routes.lock().ok().and_then(|r| r.get(&key).cloned());
    match reply {
        Some(Reply::Html(body)) => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
        }
        Some(Reply::Redirect(to)) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(v) = HeaderValue::from_str(&to) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn serve() -> (u16, Arc<Site>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the portal");
    let port = listener.local_addr().expect("addr").port();
    let site = Arc::new(Site::default());
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&site));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, site)
}

const LIST_PATH: &str = "/web/guest/thu-tuc-hanh-chinh";
const AGENCY: &str = "dvc.adv.test";
const OTHER: &str = "other.test";
/// The agency's portal under its `www.` name: the same organisation's host.
const WWW: &str = "www.dvc.adv.test";

fn list_page(links: &[&str]) -> String {
    let rows: String = links
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!("<tr><td><a class=\"ten-thu-tuc\" href=\"{p}\">Thủ tục {i}</a></td></tr>")
        })
        .collect();
    format!("<html><body><table class=\"ds-thu-tuc\">{rows}</table></body></html>")
}

/// A full-process service's page, with the government signature plugin when `vgca`.
fn detail_page(code: &str, vgca: bool) -> String {
    let plugin = if vgca {
        "<script src=\"/static/vgcaplugin.js\"></script>"
    } else {
        ""
    };
    format!(
        "<html><head>{plugin}</head><body><table class=\"chi-tiet-thu-tuc\">\
         <tr><td class=\"td-1\">Mã thủ tục</td><td class=\"td-2\">{code}</td></tr>\
         <tr><td class=\"td-1\">Tên thủ tục</td><td class=\"td-2\">Cấp giấy phép {code}</td></tr>\
         <tr><td class=\"td-1\">Mức độ</td><td class=\"td-2\">Toàn trình</td></tr>\
         </table></body></html>"
    )
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    let text = format!(
        r#"[audit]
name = "list-scope"

[crawl]
user_agent = "dvc-audit-test/0.1 (+mailto:kiemtra@example.gov.vn)"
per_host_rate = 0.0
connect_timeout_ms = 1000
read_timeout_ms = 3000
total_timeout_ms = 6000
retries = 0
allow_private = ["127.0.0.1/32"]
resolve = ["{AGENCY}:{port}:127.0.0.1", "{OTHER}:{port}:127.0.0.1", "{WWW}:{port}:127.0.0.1"]
http_port = {port}

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
portal = "http://{AGENCY}:{port}/"
platform = "table"
jurisdiction = "mien-bac"
contacts = ["vanthu@example.gov.vn"]
"#
    );
    let path = dir.join("audit.toml");
    std::fs::write(&path, text).expect("write audit.toml");
    path
}

async fn run_once(config: &Path) -> RunSummary {
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

/// Failing service and agency findings of the agency in a run.
fn agency_fails(store: &Store, run: i64) -> BTreeSet<String> {
    store
        .findings(run)
        .expect("findings")
        .into_iter()
        .filter(|f| f.outcome == "fail" && f.agency_id == "adv" && f.scope != "host")
        .map(|f| f.fingerprint)
        .collect()
}

/// No finding of the agency that passed or failed rests on a page of the other host.
fn assert_no_evidence_from_other(findings: &[FindingRecord]) {
    for f in findings
        .iter()
        .filter(|f| f.agency_id == "adv" && f.outcome != "could_not_assess")
    {
        assert!(
            f.evidence.iter().all(|e| !e.url.contains(OTHER)),
            "{} on {} judged on the other portal: {:?}",
            f.rule_id,
            f.subject,
            f.evidence.iter().map(|e| &e.url).collect::<Vec<_>>()
        );
    }
}

/// Run 1: the agency's two full-process services lack the government signature (SIG-001 and
/// AGY-001 fail). The other portal has the same national codes, one with the signature.
async fn first_run() -> (tempfile::TempDir, PathBuf, Arc<Site>, u16, RunSummary) {
    let (port, site) = serve().await;
    site.set(
        AGENCY,
        LIST_PATH,
        Reply::Html(list_page(&["/tthc/1", "/tthc/2"])),
    );
    site.set(
        AGENCY,
        "/tthc/1",
        Reply::Html(detail_page("1.000001", false)),
    );
    site.set(
        AGENCY,
        "/tthc/2",
        Reply::Html(detail_page("1.000002", false)),
    );
    site.set(
        OTHER,
        LIST_PATH,
        Reply::Html(list_page(&["/tthc/1", "/tthc/2"])),
    );
    site.set(OTHER, "/tthc/1", Reply::Html(detail_page("1.000001", true)));
    site.set(OTHER, "/tthc/2", Reply::Html(detail_page("1.000002", true)));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), port);
    let r1 = run_once(&config).await;
    assert!(r1.coverage["adv"].complete(), "{:?}", r1.coverage["adv"]);
    (dir, config, site, port, r1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_redirected_to_another_portal_is_not_the_agencys() {
    let (dir, config, site, port, r1) = first_run().await;
    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    let open = agency_fails(&store, r1.run_id);
    assert!(
        store
            .findings(r1.run_id)
            .expect("findings")
            .iter()
            .any(|f| f.rule_id == "SIG-001" && f.outcome == "fail"),
        "run 1 has SIG-001 failures"
    );
    drop(store);

    // The old portal's listing now answers 301 to the successor's.
    site.set(
        AGENCY,
        LIST_PATH,
        Reply::Redirect(format!("http://{OTHER}:{port}{LIST_PATH}")),
    );
    let before = site.requests().len();
    let r2 = run_once(&config).await;
    let cov = &r2.coverage["adv"];
    assert_eq!(
        cov.listing_error,
        Some(AssessReason::RedirectOffsite),
        "{cov:?}"
    );
    assert!(!cov.complete());
    let resolved: BTreeSet<String> = r2.diff.resolved.iter().cloned().collect();
    assert!(
        resolved.is_disjoint(&open),
        "the agency's findings resolved by another portal's pages: {resolved:?}"
    );
    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    let findings = store.findings(r2.run_id).expect("findings");
    assert_no_evidence_from_other(&findings);
    assert!(
        store
            .service_facts(r2.run_id)
            .expect("services")
            .iter()
            .all(|s| !s.url.contains(OTHER)),
        "another portal's services stored as the agency's"
    );
    // The agency's aggregates could not be assessed; the evidence names where the listing
    // went.
    let agy: Vec<&FindingRecord> = findings
        .iter()
        .filter(|f| f.agency_id == "adv" && f.rule_id.starts_with("AGY-"))
        .collect();
    assert!(!agy.is_empty());
    for f in agy {
        assert_eq!(
            (f.outcome.as_str(), f.reason.as_str()),
            ("could_not_assess", "redirect_offsite")
        );
        assert!(
            f.evidence.iter().any(|e| e.excerpt.contains(OTHER)),
            "{:?}",
            f.evidence
        );
    }
    let requests = site.requests();
    assert!(
        requests[before..].iter().all(|r| !r.starts_with(OTHER)),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_row_linking_to_another_host_is_not_read_as_the_agencys_service() {
    let (dir, config, site, port, r1) = first_run().await;
    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    let open = agency_fails(&store, r1.run_id);
    drop(store);

    // One row now links to the other portal's page of the same code.
    let other_link = format!("http://{OTHER}:{port}/tthc/1");
    site.set(
        AGENCY,
        LIST_PATH,
        Reply::Html(list_page(&[&other_link, "/tthc/2"])),
    );
    let before = site.requests().len();
    let r2 = run_once(&config).await;
    let cov = &r2.coverage["adv"];
    assert!(!cov.complete(), "{cov:?}");
    assert_eq!(
        cov.unread.get("redirect_offsite").copied(),
        Some(1),
        "{cov:?}"
    );
    let resolved: BTreeSet<String> = r2.diff.resolved.iter().cloned().collect();
    assert!(
        resolved.is_disjoint(&open),
        "the agency's findings resolved by another portal's page: {resolved:?}"
    );
    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    assert_no_evidence_from_other(&store.findings(r2.run_id).expect("findings"));
    let requests = site.requests();
    assert!(
        requests[before..].iter().all(|r| !r.starts_with(OTHER)),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_redirected_to_the_portals_www_name_is_read() {
    // `dichvucong.x.gov.vn` answering 301 to `www.dichvucong.x.gov.vn` is routine: the same
    // organisation's host. Before: the listing was `redirect_offsite` on page 1, the agency
    // unassessable and every service verdict lost.
    let (port, site) = serve().await;
    site.set(
        AGENCY,
        LIST_PATH,
        Reply::Redirect(format!("http://{WWW}:{port}{LIST_PATH}")),
    );
    site.set(
        WWW,
        LIST_PATH,
        Reply::Html(list_page(&["/tthc/1", "/tthc/2"])),
    );
    site.set(WWW, "/tthc/1", Reply::Html(detail_page("1.000001", false)));
    // A row's page that redirects back to the bare name is the agency's too.
    site.set(
        WWW,
        "/tthc/2",
        Reply::Redirect(format!("http://{AGENCY}:{port}/tthc/2")),
    );
    site.set(
        AGENCY,
        "/tthc/2",
        Reply::Html(detail_page("1.000002", false)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), port);
    let r = run_once(&config).await;
    let cov = &r.coverage["adv"];
    assert_eq!(cov.listing_error, None, "{cov:?}");
    assert!(cov.complete(), "{cov:?}");
    let store = Store::open(&dir.path().join("h.sqlite")).expect("store");
    let sig: BTreeSet<String> = store
        .findings(r.run_id)
        .expect("findings")
        .into_iter()
        .filter(|f| f.agency_id == "adv" && f.rule_id == "SIG-001" && f.outcome == "fail")
        .map(|f| f.subject)
        .collect();
    assert_eq!(sig.len(), 2, "both services judged: {sig:?}");
    let requests = site.requests();
    assert!(
        requests.iter().all(|r| !r.starts_with(OTHER)),
        "{requests:?}"
    );
}
