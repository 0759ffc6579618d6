//! HTTP redirect and HSTS facts over local servers, and failures becoming error facts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod probe_common;

use std::time::Duration;

use dvc_audit::facts::AssessReason;
use dvc_audit::probe::{probe_host, probe_hosts};
use probe_common::*;

const HOST: &str = "dvc.http-agency.sandbox.test";

/// A TLS server for HOST sending `tls_headers`, a plain HTTP server answering `status` with
/// `http_headers`; returns the config and TLS port.
async fn setup(
    tls_headers: Vec<String>,
    status: &str,
    http_headers: Vec<String>,
) -> (dvc_audit::probe::ProbeConfig, u16) {
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new(HOST);
    let mut serve = Serve::new(vec![root.issue(&leaf)], leaf.private_key());
    serve.headers = tls_headers;
    let port = serve_tls(serve).await;
    let http_port = serve_http(status, http_headers).await;
    let mut cfg = config(
        std::slice::from_ref(&root.cert),
        &[(HOST, port), (HOST, http_port)],
    );
    cfg.http_port = http_port;
    (cfg, port)
}

#[tokio::test]
async fn redirect_to_https_and_hsts() {
    let hsts =
        "Strict-Transport-Security: max-age=31536000; includeSubDomains; preload".to_string();
    // The redirect names the TLS port, so this test builds its servers itself.
    let root = Ca::root("Test Web Root");
    let leaf = LeafSpec::new(HOST);
    let mut serve = Serve::new(vec![root.issue(&leaf)], leaf.private_key());
    serve.headers = vec![hsts];
    let port = serve_tls(serve).await;
    let location = format!("Location: https://{HOST}:{port}/portal");
    let http_port = serve_http("301 Moved Permanently", vec![location]).await;
    let mut cfg = config(
        std::slice::from_ref(&root.cert),
        &[(HOST, port), (HOST, http_port)],
    );
    cfg.http_port = http_port;

    let f = probe_host(&cfg, HOST, port).await;
    assert!(f.http.http_reachable);
    assert!(f.http.https_redirect, "{:#?}", f.http);
    assert_eq!(f.http.final_url, format!("https://{HOST}:{port}/portal"));
    let h = &f.http.hsts;
    assert!(h.present && h.include_subdomains && h.preload);
    assert_eq!(h.max_age, 31_536_000);
}

#[tokio::test]
async fn redirect_to_https_on_another_host_is_an_offsite_https_redirect() {
    // This test used to pin `https_redirect == false` for a redirect to another host, so that
    // HTTP-003 read it as "serves plain HTTP without redirecting to HTTPS", which is false:
    // the citizen is sent to HTTPS. `https_redirect` still means "on this host" (HSTS for this
    // name cannot be set over a redirect elsewhere; HTTP-001 judges https://HOST/ itself), and
    // the cross-host case is its own fact. Once the chain reaches https://, where plain HTTP
    // sends the citizen is observed: the target failing (DNS here) leaves nothing unknown.
    let (cfg, port) = setup(
        vec![],
        "302 Found",
        vec!["Location: https://elsewhere.invalid/".into()],
    )
    .await;
    let f = probe_host(&cfg, HOST, port).await;
    assert!(f.http.http_reachable);
    assert!(!f.http.https_redirect);
    assert!(f.http.https_redirect_offsite, "{:#?}", f.http);
    assert_eq!(f.http.final_url, "https://elsewhere.invalid/");
    assert!(
        !f.unknown.iter().any(|u| u.fact.starts_with("http.https")),
        "{:#?}",
        f.unknown
    );
    assert!(!f.http.hsts.present);
}

#[tokio::test]
async fn plain_http_redirect_to_plain_http_elsewhere_is_no_https_redirect() {
    // A hop to another host over plain HTTP that then serves the page: no HTTPS anywhere.
    let other = serve_http("200 OK", vec![]).await;
    let (mut cfg, port) = setup(
        vec![],
        "302 Found",
        vec![format!("Location: http://elsewhere.sandbox.test:{other}/")],
    )
    .await;
    cfg.pin("elsewhere.sandbox.test", other, LOCALHOST);
    let f = probe_host(&cfg, HOST, port).await;
    assert!(f.http.http_reachable);
    assert!(
        !f.http.https_redirect && !f.http.https_redirect_offsite,
        "{:#?}",
        f.http
    );
    assert!(
        !f.unknown.iter().any(|u| u.fact.starts_with("http.")),
        "{:#?}",
        f.unknown
    );
}

#[tokio::test]
async fn no_redirect_no_hsts() {
    let (cfg, port) = setup(vec![], "200 OK", vec![]).await;
    let f = probe_host(&cfg, HOST, port).await;
    assert!(f.http.http_reachable && !f.http.https_redirect);
    assert_eq!(
        f.http.final_url,
        format!("http://{HOST}:{}/", cfg.http_port)
    );
    assert!(!f.http.hsts.present);
    assert!(f.cert.trusted, "the TLS side is fine");
}

#[tokio::test]
async fn invalid_hsts_is_absent() {
    let (cfg, port) = setup(
        vec!["Strict-Transport-Security: includeSubDomains".into()],
        "200 OK",
        vec![],
    )
    .await;
    let f = probe_host(&cfg, HOST, port).await;
    assert!(!f.http.hsts.present);
}

#[tokio::test]
async fn refused_port_is_a_connect_error() {
    let port = closed_port();
    let mut cfg = config(&[], &[(HOST, port)]);
    cfg.http_port = closed_port();
    cfg.pin(HOST, cfg.http_port, LOCALHOST);
    let f = probe_host(&cfg, HOST, port).await;
    assert!(!f.reachable);
    let e = f.error.expect("error fact");
    assert_eq!(e.kind, AssessReason::Connect, "{}", e.message);
    assert!(f.chain.is_empty());
}

#[tokio::test]
async fn silent_server_is_a_timeout() {
    let port = serve_silent().await;
    let mut cfg = config(&[], &[(HOST, port)]);
    cfg.handshake_timeout = Duration::from_millis(300);
    cfg.read_timeout = Duration::from_millis(300);
    cfg.http_port = closed_port();
    cfg.pin(HOST, cfg.http_port, LOCALHOST);
    let f = probe_host(&cfg, HOST, port).await;
    assert!(!f.reachable);
    assert_eq!(f.error.expect("error fact").kind, AssessReason::Timeout);
}

#[tokio::test]
async fn plain_http_on_the_tls_port_is_a_handshake_error() {
    let port = serve_banner(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n").await;
    let cfg = config(&[], &[(HOST, port)]);
    let f = probe_host(&cfg, HOST, port).await;
    assert!(f.reachable, "something answered");
    assert_eq!(
        f.error.expect("error fact").kind,
        AssessReason::TlsHandshake
    );
}

#[tokio::test]
async fn closed_without_a_word_is_a_handshake_error() {
    let port = serve_banner(b"").await;
    let cfg = config(&[], &[(HOST, port)]);
    let f = probe_host(&cfg, HOST, port).await;
    assert!(f.reachable);
    let e = f.error.expect("error fact");
    assert_eq!(e.kind, AssessReason::TlsHandshake, "{}", e.message);
}

#[tokio::test]
async fn unknown_name_is_a_dns_error() {
    let cfg = config(&[], &[]);
    let f = probe_host(&cfg, "no-such-host.invalid", 443).await;
    assert!(!f.reachable);
    let kind = f.error.expect("error fact").kind;
    assert!(
        matches!(kind, AssessReason::Dns | AssessReason::Timeout),
        "{kind}"
    );
}

#[tokio::test]
async fn many_hosts_in_order() {
    let (cfg, port) = setup(vec![], "200 OK", vec![]).await;
    let dead = closed_port();
    let mut cfg = cfg;
    cfg.pin(HOST, dead, LOCALHOST);
    let hosts = vec![
        (HOST.to_string(), port),
        (HOST.to_string(), dead),
        (HOST.to_string(), port),
    ];
    let facts = probe_hosts(&cfg, &hosts).await;
    assert_eq!(facts.len(), 3);
    assert!(facts[0].cert.trusted && facts[2].cert.trusted);
    assert_eq!(facts[1].port, i64::from(dead));
    // The refused TLS port on the address whose plain HTTP answers: no HTTPS offered there
    // (an observation, HTTP-004), not an outage.
    assert!(
        facts[1].https_refused && facts[1].error.is_none(),
        "{:#?}",
        facts[1]
    );
}

#[tokio::test]
async fn a_name_whose_first_address_refuses_is_probed_on_the_next_one() {
    // A dual-stack name whose first address does not answer on the inspection network (here
    // 127.0.0.2, where nothing listens) and whose second does (127.0.0.1). Before, only the
    // first address was asked: `error: connect`, every host rule could not assess, while the
    // crawler (which tries every address) read the site.
    let (mut cfg, port) = setup(vec![], "200 OK", vec![]).await;
    let first = std::net::IpAddr::from([127, 0, 0, 2]);
    cfg.pin_all(HOST, port, &[first, LOCALHOST]);
    let f = probe_host(&cfg, HOST, port).await;
    assert!(f.error.is_none(), "{:#?}", f.error);
    assert!(f.reachable && f.cert.trusted, "{f:#?}");
    assert_eq!(f.address, format!("127.0.0.1:{port}"));
}

#[tokio::test]
async fn every_address_refusing_is_one_connect_error_naming_each() {
    let port = closed_port();
    let mut cfg = config(&[], &[]);
    cfg.pin_all(
        HOST,
        port,
        &[std::net::IpAddr::from([127, 0, 0, 2]), LOCALHOST],
    );
    cfg.http_port = closed_port();
    let f = probe_host(&cfg, HOST, port).await;
    let e = f.error.expect("error fact");
    assert_eq!(e.kind, AssessReason::Connect, "{}", e.message);
    assert!(
        e.message.contains("127.0.0.2") && e.message.contains("127.0.0.1"),
        "{}",
        e.message
    );
    assert!(f.address.is_empty());
}
