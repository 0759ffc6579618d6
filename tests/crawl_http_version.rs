//! `crawl.http_version` (issue 20): the sandbox served with both HTTP versions, with HTTP/1.1
//! alone and with HTTP/2 alone, crawled by a real run with each setting. Every setting the
//! server can speak finds exactly what the ground truth implies, and the sandbox's request log
//! shows every service page asked for in the version the setting and the server agreed on
//! (`auto` lets ALPN choose: HTTP/2 when offered, HTTP/1.1 otherwise). A setting the server
//! cannot speak reads nothing, and says so, rather than falling back silently.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dvc_audit::config::HttpVersion;
use dvc_audit::run::pipeline::{self, RunOptions, RunSummary};
use dvc_audit::sandbox::Size;
use dvc_audit::store::Store;
use support::truth::{actual, assert_same, expected};
use support::world::{self, Served};

async fn serve(server: HttpVersion) -> Served {
    world::serve_with(Size::Tiny, 1, Duration::from_millis(200), |o| {
        o.http_version = server;
    })
    .await
}

/// One run with `client`, into its own database; the request log is cleared first, so it
/// holds this run's requests only.
async fn run(served: &Served, client: HttpVersion) -> (RunSummary, std::path::PathBuf) {
    let db = served
        .dir
        .path()
        .join(format!("{}.sqlite", client.as_str()));
    let db_text = db.display().to_string();
    let setup = world::setup(&served.config_path(), |c| {
        c.crawl.http_version = client;
        c.storage.sqlite = db_text;
    });
    served.handle.clear_request_log();
    let opts = RunOptions {
        send_mail: false,
        ..RunOptions::default()
    };
    let summary = pipeline::run(&setup, opts, None)
        .await
        .expect("the run completes");
    (summary, db)
}

/// The HTTP versions of the requests for the world's service (detail) pages, with counts.
fn service_page_versions(served: &Served) -> BTreeMap<String, usize> {
    let truth = served.handle.ground_truth();
    let pages: BTreeSet<(String, String)> = truth
        .services
        .iter()
        .filter_map(|s| {
            let u = url::Url::parse(&s.url).ok()?;
            let path = match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_string(),
            };
            Some((u.host_str()?.to_string(), path))
        })
        .collect();
    let mut out = BTreeMap::new();
    for r in served.handle.request_log() {
        if r.scheme == "https" && pages.contains(&(r.host.clone(), r.path.clone())) {
            *out.entry(r.version).or_insert(0) += 1;
        }
    }
    out
}

fn assert_matches_truth(label: &str, served: &Served, summary: &RunSummary, db: &std::path::Path) {
    assert!(summary.complete, "{label}: complete");
    let truth = served.handle.ground_truth();
    let store = Store::open(db).expect("store");
    let findings = store.findings(summary.run_id).expect("findings");
    assert_same(label, &expected(&truth), &actual(&truth, &findings));
}

fn only(versions: &BTreeMap<String, usize>, want: &str, label: &str) {
    assert!(
        versions.len() == 1 && versions.get(want).is_some_and(|n| *n > 0),
        "{label}: every service page in {want}, got {versions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_setting_reads_the_world_in_its_version() {
    let served = serve(HttpVersion::Auto).await;
    for (client, want) in [
        (HttpVersion::Http1, "HTTP/1.1"),
        (HttpVersion::Http2, "HTTP/2.0"),
        (HttpVersion::Auto, "HTTP/2.0"),
    ] {
        let label = format!("server auto, crawl.http_version = {}", client.as_str());
        let (summary, db) = run(&served, client).await;
        let versions = service_page_versions(&served);
        only(&versions, want, &label);
        assert_matches_truth(&label, &served, &summary, &db);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_falls_back_to_http1_and_http2_alone_reads_nothing_from_an_http1_server() {
    let served = serve(HttpVersion::Http1).await;
    let (summary, db) = run(&served, HttpVersion::Auto).await;
    let label = "server HTTP/1.1 only, crawl.http_version = auto";
    only(&service_page_versions(&served), "HTTP/1.1", label);
    assert_matches_truth(label, &served, &summary, &db);
    let read_auto: i64 = summary.coverage.values().map(|c| c.read).sum();
    assert!(read_auto > 0, "{label}: services read");

    // HTTP/2 alone against a server without it: nothing read, every agency says why.
    let (summary, _) = run(&served, HttpVersion::Http2).await;
    let read: i64 = summary.coverage.values().map(|c| c.read).sum();
    assert_eq!(read, 0, "HTTP/2 alone cannot read an HTTP/1.1-only server");
    assert!(
        summary.could_not_assess > 0,
        "what could not be read is could-not-assess, not a pass"
    );
    assert!(
        service_page_versions(&served).is_empty(),
        "no service page was answered over a protocol the server does not speak"
    );
}

/// An HTTP/2-only server: the crawl reads it with `auto` and `http2`. Only the service
/// findings are compared: the probe's own HTTP checks (HSTS, redirects) speak HTTP/1.1 without
/// ALPN, which such a server refuses, so its host facts differ from the ground truth's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_only_server_is_read_by_auto_and_http2() {
    let served = serve(HttpVersion::Http2).await;
    let truth = served.handle.ground_truth();
    let services = |set: BTreeSet<(String, String, String)>| -> BTreeSet<(String, String, String)> {
        set.into_iter()
            .filter(|(_, subject, _)| subject.contains('/'))
            .collect()
    };
    for client in [HttpVersion::Auto, HttpVersion::Http2] {
        let label = format!(
            "server HTTP/2 only, crawl.http_version = {}",
            client.as_str()
        );
        let (summary, db) = run(&served, client).await;
        only(&service_page_versions(&served), "HTTP/2.0", &label);
        let store = Store::open(&db).expect("store");
        let findings = store.findings(summary.run_id).expect("findings");
        let want = services(expected(&truth));
        assert!(!want.is_empty(), "the tiny world plants service defects");
        assert_same(&label, &want, &services(actual(&truth, &findings)));
    }
}
