//! HTTP facts that were not observed stay unknown: a plain-HTTP redirect chain cut short (a hop
//! that hangs or closes, a loop, too many hops) and a 429/5xx answer are never read as "no
//! redirect" or "no HSTS"; `max-age=0` is never read as HSTS. Real local servers (plain HTTP
//! routed by path, rustls HTTPS with a generated test CA), the real probe, and the bundled
//! HTTP rules evaluated on what it saw.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod probe_common;

use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use dvc_audit::facts::{AgencyFacts, AgencyKind, AssessReason, HostFacts};
use dvc_audit::probe::{ProbeConfig, probe_host};
use dvc_audit::rules::{Outcome, RuleSet, Verdict};
use probe_common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const HOST: &str = "dvc.http-truth.sandbox.test";

/// What the plain-HTTP fixture does for one path.
#[derive(Clone, Copy)]
enum Answer {
    /// Answer with this status line and headers.
    Reply(&'static str, &'static [&'static str]),
    /// Read the request, then say nothing and keep the connection open.
    Hang,
    /// Read the request, then close without a word.
    Close,
}

/// Plain HTTP on 127.0.0.1:0, answering by request path (`route`).
async fn serve_routes(route: fn(&str) -> Answer) -> u16 {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some(path) = request_path(&mut tcp).await else {
                    return;
                };
                match route(&path) {
                    Answer::Reply(status, headers) => {
                        let _ = tcp.write_all(head(status, headers).as_bytes()).await;
                        let _ = tcp.shutdown().await;
                    }
                    Answer::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
                    Answer::Close => drop(tcp),
                }
            });
        }
    });
    port
}

/// HTTPS (rustls, TLS 1.2/1.3) on 127.0.0.1:0 for HOST, answering every request with `status`
/// and `headers`. Returns the port and the root to trust.
async fn serve_tls_status(status: &'static str, headers: &'static [&'static str]) -> (u16, Ca) {
    serve_tls_with(Arc::new(move |_: &str| Answer::Reply(status, headers))).await
}

/// HTTPS for HOST as [`serve_tls_status`], answering by request path (`route`).
async fn serve_tls_routes(route: fn(&str) -> Answer) -> (u16, Ca) {
    serve_tls_with(Arc::new(route)).await
}

type Route = Arc<dyn Fn(&str) -> Answer + Send + Sync>;

async fn serve_tls_with(route: Route) -> (u16, Ca) {
    dvc_audit::install_crypto_provider();
    let root = Ca::root("Test HTTP Truth Root");
    let leaf = LeafSpec::new(HOST);
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![root.issue(&leaf)], leaf.private_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let route = route.clone();
            tokio::spawn(async move {
                let fut = async {
                    let mut tls = acceptor.accept(tcp).await.ok()?;
                    let path = request_path(&mut tls).await?;
                    match route(&path) {
                        Answer::Reply(status, headers) => {
                            tls.write_all(head(status, headers).as_bytes()).await.ok()?;
                            tls.shutdown().await.ok()
                        }
                        Answer::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            Some(())
                        }
                        Answer::Close => Some(()),
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), fut).await;
            });
        }
    });
    (port, root)
}

fn head(status: &str, headers: &[&str]) -> String {
    let mut h = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n");
    for line in headers {
        h.push_str(line);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h
}

/// A probe config: the TLS side served by `tls` (or a closed port), plain HTTP on `http_port`,
/// short timeouts.
fn cfg(root: Option<&Ca>, tls_port: u16, http_port: u16) -> ProbeConfig {
    let roots: Vec<_> = root.map(|r| r.cert.clone()).into_iter().collect();
    let mut c = config(&roots, &[(HOST, tls_port), (HOST, http_port)]);
    c.http_port = http_port;
    c.connect_timeout = Duration::from_millis(800);
    c.read_timeout = Duration::from_millis(800);
    c.handshake_timeout = Duration::from_millis(800);
    c
}

/// Probe HOST with a sound HTTPS side (trusted certificate, HSTS) and plain HTTP on `http`, so
/// that only the plain-HTTP facts are in question.
async fn probe_plain(http: u16) -> HostFacts {
    let (tls, root) = serve_tls_status(
        "200 OK",
        &["Strict-Transport-Security: max-age=31536000; includeSubDomains"],
    )
    .await;
    let f = probe_host(&cfg(Some(&root), tls, http), HOST, tls).await;
    assert!(f.reachable && f.error.is_none(), "{:#?}", f.error);
    f
}

fn rules() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| match RuleSet::bundled() {
        Ok(l) => l.rules,
        Err(e) => panic!("{}", e.0.render(false)),
    })
}

/// The outcome of rule `id` on `f`, evaluated as a run evaluates host rules.
fn outcome(f: &HostFacts, id: &str) -> Outcome {
    let agency = AgencyFacts {
        id: "http-truth".into(),
        name: "HTTP truth".into(),
        name_en: "HTTP truth".into(),
        kind: AgencyKind::Province,
        portal: format!("https://{HOST}/"),
        platform: String::new(),
        jurisdiction: String::new(),
    };
    rules()
        .agency_scope(&agency)
        .evaluate_host(f)
        .into_iter()
        .find(|o| &*o.rule_id == id)
        .unwrap_or_else(|| panic!("no outcome for {id}"))
}

fn unknown_kind(f: &HostFacts, fact: &str) -> Option<AssessReason> {
    f.unknown.iter().find(|u| u.fact == fact).map(|u| u.kind)
}

/// HTTP-003 could not assess, for `reason`, and the redirect fact is unknown for it.
fn assert_redirect_unknown(f: &HostFacts, reason: AssessReason) {
    assert_eq!(
        unknown_kind(f, "http.https_redirect"),
        Some(reason),
        "{:#?}",
        f.unknown
    );
    let o = outcome(f, "HTTP-003");
    match &o.verdict {
        Verdict::CouldNotAssess { reason: r, .. } => assert_eq!(*r, reason, "{o:?}"),
        v => panic!(
            "HTTP-003 must not be judged on a cut chain, got {v:?}: {:#?}",
            f.http
        ),
    }
}

#[tokio::test]
async fn redirect_then_hang_is_a_timeout_not_no_redirect() {
    let http = serve_routes(|p| match p {
        "/" => Answer::Reply("301 Moved Permanently", &["Location: /portal"]),
        _ => Answer::Hang,
    })
    .await;
    let f = probe_plain(http).await;
    assert!(f.http.http_reachable, "{:#?}", f.http);
    // The first request was answered: plain HTTP is served, only where it leads is unknown.
    assert!(
        unknown_kind(&f, "http.http_reachable").is_none(),
        "{:#?}",
        f.unknown
    );
    assert!(
        f.http.final_url.ends_with("/portal"),
        "{}",
        f.http.final_url
    );
    assert_redirect_unknown(&f, AssessReason::Timeout);
}

#[tokio::test]
async fn redirect_then_close_is_unknown_not_no_redirect() {
    let http = serve_routes(|p| match p {
        "/" => Answer::Reply("302 Found", &["Location: /portal"]),
        _ => Answer::Close,
    })
    .await;
    let f = probe_plain(http).await;
    let kind = unknown_kind(&f, "http.https_redirect").expect("redirect unknown");
    assert!(
        !matches!(
            outcome(&f, "HTTP-003").verdict,
            Verdict::Fail | Verdict::Pass
        ),
        "{:#?}",
        f.unknown
    );
    assert_redirect_unknown(&f, kind);
}

#[tokio::test]
async fn redirect_loop_is_unknown() {
    let http = serve_routes(|p| match p {
        "/" => Answer::Reply("301 Moved Permanently", &["Location: /a"]),
        _ => Answer::Reply("301 Moved Permanently", &["Location: /"]),
    })
    .await;
    let f = probe_plain(http).await;
    assert_redirect_unknown(&f, AssessReason::RedirectLoop);
}

#[tokio::test]
async fn too_many_redirects_is_unknown() {
    let http = serve_routes(|p| {
        // /, /1, /2, ... each to the next: never a final answer.
        const NEXT: [&str; 10] = [
            "Location: /1",
            "Location: /2",
            "Location: /3",
            "Location: /4",
            "Location: /5",
            "Location: /6",
            "Location: /7",
            "Location: /8",
            "Location: /9",
            "Location: /10",
        ];
        let n: usize = p.trim_start_matches('/').parse().unwrap_or(0);
        Answer::Reply("302 Found", std::slice::from_ref(&NEXT[n.min(9)]))
    })
    .await;
    let f = probe_plain(http).await;
    assert_redirect_unknown(&f, AssessReason::RedirectLoop);
}

#[tokio::test]
async fn plain_503_is_unknown_not_no_redirect() {
    let http = serve_routes(|_| Answer::Reply("503 Service Unavailable", &[])).await;
    let f = probe_plain(http).await;
    assert_redirect_unknown(&f, AssessReason::HttpStatus);
}

#[tokio::test]
async fn a_plain_403_the_https_side_shares_is_access_refused() {
    // A filter refusing the probe on both sides: what a citizen's browser would be sent over
    // plain HTTP is unknown. Before, HTTP-003 failed ("serves plain HTTP").
    let (tls, root) = serve_tls_status("403 Forbidden", &[]).await;
    let http = serve_routes(|_| Answer::Reply("403 Forbidden", &[])).await;
    let f = probe_host(&cfg(Some(&root), tls, http), HOST, tls).await;
    assert!(f.http.http_reachable);
    assert_redirect_unknown(&f, AssessReason::HttpStatus);
}

#[tokio::test]
async fn a_plain_403_alone_is_the_sites_answer_without_a_redirect() {
    // HTTPS answers the probe; plain HTTP answers 403 (an IIS "SSL required"): a citizen
    // typing the address gets an error page over plain HTTP, not the portal over HTTPS.
    let http = serve_routes(|_| Answer::Reply("403 Forbidden", &[])).await;
    let f = probe_plain(http).await;
    assert_eq!(
        unknown_kind(&f, "http.https_redirect"),
        None,
        "{:#?}",
        f.unknown
    );
    assert!(f.http.http_reachable && !f.http.https_redirect);
    assert!(matches!(outcome(&f, "HTTP-003").verdict, Verdict::Fail));
}

#[tokio::test]
async fn a_plain_401_login_is_the_sites_answer() {
    let http = serve_routes(|_| {
        Answer::Reply(
            "401 Unauthorized",
            &["WWW-Authenticate: Basic realm=\"dvc\""],
        )
    })
    .await;
    let f = probe_plain(http).await;
    assert_eq!(
        unknown_kind(&f, "http.https_redirect"),
        None,
        "{:#?}",
        f.unknown
    );
    assert!(matches!(outcome(&f, "HTTP-003").verdict, Verdict::Fail));
}

#[tokio::test]
async fn plain_429_after_a_hop_is_rate_limited() {
    let http = serve_routes(|p| match p {
        "/" => Answer::Reply("301 Moved Permanently", &["Location: /portal"]),
        _ => Answer::Reply("429 Too Many Requests", &["Retry-After: 60"]),
    })
    .await;
    let f = probe_plain(http).await;
    assert_redirect_unknown(&f, AssessReason::RateLimited);
}

#[tokio::test]
async fn plain_http_without_redirect_still_fails() {
    // The control: a final 200 over plain HTTP is an observed "no redirect".
    let http = serve_routes(|p| match p {
        "/" => Answer::Reply("301 Moved Permanently", &["Location: /portal"]),
        _ => Answer::Reply("200 OK", &[]),
    })
    .await;
    let f = probe_plain(http).await;
    assert!(f.unknown.iter().all(|u| !u.fact.starts_with("http.")));
    assert!(f.http.http_reachable && !f.http.https_redirect);
    assert!(matches!(outcome(&f, "HTTP-003").verdict, Verdict::Fail));
}

#[tokio::test]
async fn https_503_without_header_leaves_hsts_unknown() {
    let (tls, root) = serve_tls_status("503 Service Unavailable", &[]).await;
    let http = serve_routes(|_| Answer::Reply("200 OK", &[])).await;
    let f = probe_host(&cfg(Some(&root), tls, http), HOST, tls).await;
    assert!(f.reachable && f.cert.trusted, "{:#?}", f.error);
    assert_eq!(
        unknown_kind(&f, "http.hsts"),
        Some(AssessReason::HttpStatus),
        "{:#?}",
        f.unknown
    );
    match outcome(&f, "HTTP-001").verdict {
        Verdict::CouldNotAssess { reason, .. } => assert_eq!(reason, AssessReason::HttpStatus),
        v => panic!("HTTP-001 on a 503: {v:?}"),
    }
}

#[tokio::test]
async fn https_429_without_header_is_rate_limited() {
    let (tls, root) = serve_tls_status("429 Too Many Requests", &[]).await;
    let http = serve_routes(|_| Answer::Reply("200 OK", &[])).await;
    let f = probe_host(&cfg(Some(&root), tls, http), HOST, tls).await;
    assert_eq!(
        unknown_kind(&f, "http.hsts"),
        Some(AssessReason::RateLimited),
        "{:#?}",
        f.unknown
    );
}

#[tokio::test]
async fn https_503_with_header_is_observed() {
    // A header that was sent is a fact whatever the status.
    let (tls, root) = serve_tls_status(
        "503 Service Unavailable",
        &["Strict-Transport-Security: max-age=31536000"],
    )
    .await;
    let http = serve_routes(|_| Answer::Reply("200 OK", &[])).await;
    let f = probe_host(&cfg(Some(&root), tls, http), HOST, tls).await;
    assert_eq!(unknown_kind(&f, "http.hsts"), None, "{:#?}", f.unknown);
    assert!(f.http.hsts.present);
    assert!(matches!(outcome(&f, "HTTP-001").verdict, Verdict::Pass));
}

#[tokio::test]
async fn max_age_zero_fails_hsts() {
    let (tls, root) = serve_tls_status(
        "200 OK",
        &["Strict-Transport-Security: max-age=0; includeSubDomains"],
    )
    .await;
    let http = serve_routes(|_| Answer::Reply("200 OK", &[])).await;
    let f = probe_host(&cfg(Some(&root), tls, http), HOST, tls).await;
    assert_eq!(unknown_kind(&f, "http.hsts"), None, "{:#?}", f.unknown);
    let h = &f.http.hsts;
    assert!(
        !h.present && h.max_age == 0 && h.include_subdomains,
        "{h:?}"
    );
    let o = outcome(&f, "HTTP-001");
    assert!(matches!(o.verdict, Verdict::Fail), "{o:?}");
    assert!(o.message_en.contains("max-age=0"), "{}", o.message_en);
    assert!(matches!(
        outcome(&f, "HTTP-002").verdict,
        Verdict::NotApplicable
    ));
}

// ---- HSTS behind a same-origin redirect ------------------------------------------------------

const HSTS_YEAR: &str = "Strict-Transport-Security: max-age=31536000; includeSubDomains";

/// Probe HOST over HTTPS served by `route` (plain HTTP answers 200): the host's facts.
async fn probe_https_routes(route: fn(&str) -> Answer) -> HostFacts {
    let (tls, root) = serve_tls_routes(route).await;
    let http = serve_routes(|_| Answer::Reply("200 OK", &[])).await;
    probe_host(&cfg(Some(&root), tls, http), HOST, tls).await
}

#[tokio::test]
async fn hsts_sent_by_the_page_a_same_host_redirect_leads_to_counts() {
    // `https://host/` → 302 `/portal/` (no header on the redirect), the portal page sends
    // HSTS: a browser loading the portal is told to use HTTPS. Before, HTTP-001 failed on
    // the redirect's missing header.
    let f = probe_https_routes(|path| match path {
        "/" => Answer::Reply("302 Found", &["Location: /portal/"]),
        _ => Answer::Reply("200 OK", &[HSTS_YEAR]),
    })
    .await;
    assert_eq!(unknown_kind(&f, "http.hsts"), None, "{:#?}", f.unknown);
    assert!(
        f.http.hsts.present && f.http.hsts.max_age == 31_536_000,
        "{:?}",
        f.http.hsts
    );
    assert!(matches!(outcome(&f, "HTTP-001").verdict, Verdict::Pass));
}

#[tokio::test]
async fn a_same_host_redirect_to_a_page_without_hsts_is_no_hsts() {
    let f = probe_https_routes(|path| match path {
        "/" => Answer::Reply("301 Moved Permanently", &["Location: /portal/"]),
        _ => Answer::Reply("200 OK", &[]),
    })
    .await;
    assert_eq!(unknown_kind(&f, "http.hsts"), None, "{:#?}", f.unknown);
    assert!(!f.http.hsts.present);
    assert!(matches!(outcome(&f, "HTTP-001").verdict, Verdict::Fail));
}

#[tokio::test]
async fn a_redirect_to_another_host_without_hsts_is_no_hsts_for_this_host() {
    // The header of another host's page is that host's; this host sent none.
    let f = probe_https_routes(|_| {
        Answer::Reply("302 Found", &["Location: https://elsewhere.sandbox.test/"])
    })
    .await;
    assert_eq!(unknown_kind(&f, "http.hsts"), None, "{:#?}", f.unknown);
    assert!(matches!(outcome(&f, "HTTP-001").verdict, Verdict::Fail));
}

#[tokio::test]
async fn a_same_host_redirect_that_hangs_leaves_hsts_unknown() {
    let f = probe_https_routes(|path| match path {
        "/" => Answer::Reply("302 Found", &["Location: /portal/"]),
        _ => Answer::Hang,
    })
    .await;
    assert_eq!(
        unknown_kind(&f, "http.hsts"),
        Some(AssessReason::Timeout),
        "{:#?}",
        f.unknown
    );
    assert!(matches!(
        outcome(&f, "HTTP-001").verdict,
        Verdict::CouldNotAssess { .. }
    ));
}

#[tokio::test]
async fn an_https_redirect_loop_without_hsts_is_unknown() {
    let f = probe_https_routes(|path| match path {
        "/" => Answer::Reply("302 Found", &["Location: /a"]),
        _ => Answer::Reply("302 Found", &["Location: /"]),
    })
    .await;
    assert_eq!(
        unknown_kind(&f, "http.hsts"),
        Some(AssessReason::RedirectLoop),
        "{:#?}",
        f.unknown
    );
}

// ---- HSTS on the portal's own page, and answers that are not the site's -------------------

/// Probe HOST over HTTPS served by `route`, with the portal configured at `https://HOST/dvc/`.
async fn probe_portal_at_dvc(route: fn(&str) -> Answer) -> HostFacts {
    let (tls, root) = serve_tls_routes(route).await;
    let http = serve_routes(|_| Answer::Reply("200 OK", &[])).await;
    let mut c = cfg(Some(&root), tls, http);
    c.add_entry(&format!("https://{HOST}:{tls}/dvc/"));
    probe_host(&c, HOST, tls).await
}

#[tokio::test]
async fn hsts_on_the_portals_own_page_counts_when_the_root_sends_none() {
    // The root is an empty 404; the portal the agency is configured at sends HSTS: a citizen
    // entering there is told to use HTTPS. Before, only `/` was asked (HTTP-001 failed).
    let f = probe_portal_at_dvc(|path| match path {
        "/dvc/" => Answer::Reply("200 OK", &[HSTS_YEAR]),
        _ => Answer::Reply("404 Not Found", &[]),
    })
    .await;
    assert_eq!(unknown_kind(&f, "http.hsts"), None, "{:#?}", f.unknown);
    assert!(f.http.hsts.present, "{:?}", f.http.hsts);
    assert!(matches!(outcome(&f, "HTTP-001").verdict, Verdict::Pass));
}

#[tokio::test]
async fn a_portal_page_that_was_not_answered_leaves_hsts_unknown() {
    // `/` answers a bare 404, the portal's own page (where citizens enter) is refused: its
    // header is unknown, so "no HSTS" is not proven.
    let f = probe_portal_at_dvc(|path| match path {
        "/dvc/" => Answer::Reply("403 Forbidden", &[]),
        _ => Answer::Reply("404 Not Found", &[]),
    })
    .await;
    assert_eq!(
        unknown_kind(&f, "http.hsts"),
        Some(AssessReason::HttpStatus),
        "{:#?}",
        f.unknown
    );
}

#[tokio::test]
async fn every_page_answering_without_a_header_is_no_hsts() {
    let f = probe_portal_at_dvc(|_| Answer::Reply("200 OK", &[])).await;
    assert_eq!(unknown_kind(&f, "http.hsts"), None, "{:#?}", f.unknown);
    assert!(matches!(outcome(&f, "HTTP-001").verdict, Verdict::Fail));
}

#[tokio::test]
async fn a_header_that_enables_hsts_on_the_portal_outweighs_max_age_zero_at_the_root() {
    let f = probe_portal_at_dvc(|path| match path {
        "/dvc/" => Answer::Reply("200 OK", &[HSTS_YEAR]),
        _ => Answer::Reply("200 OK", &["Strict-Transport-Security: max-age=0"]),
    })
    .await;
    assert!(f.http.hsts.present, "{:?}", f.http.hsts);
}

#[tokio::test]
async fn hsts_after_a_redirect_to_another_port_of_the_host_counts() {
    // `https://host/` sends the portal to `https://host:<other>/portal/`, which sends HSTS: the
    // header is the host's whatever the port (RFC 6797 §8.1).
    let (other, _) = serve_tls_routes(|_| Answer::Reply("200 OK", &[HSTS_YEAR])).await;
    let location: &'static str =
        Box::leak(format!("Location: https://{HOST}:{other}/portal/").into_boxed_str());
    let headers: &'static [&'static str] = Box::leak(vec![location].into_boxed_slice());
    let (tls, root) =
        serve_tls_with(Arc::new(move |_: &str| Answer::Reply("302 Found", headers))).await;
    let http = serve_routes(|_| Answer::Reply("200 OK", &[])).await;
    // (The probe reads headers whatever the certificate: the other server's root needs no trust.)
    let mut c = cfg(Some(&root), tls, http);
    c.pin(
        HOST,
        other,
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    );
    let f = probe_host(&c, HOST, tls).await;
    assert!(f.http.hsts.present, "{:?} {:#?}", f.http.hsts, f.unknown);
}

#[tokio::test]
async fn a_403_without_a_header_is_not_the_sites_answer() {
    // A WAF refusing the probe says nothing about the site's header: unknown, not absent.
    let (tls, root) = serve_tls_status("403 Forbidden", &[]).await;
    let http = serve_routes(|_| Answer::Reply("200 OK", &[])).await;
    let f = probe_host(&cfg(Some(&root), tls, http), HOST, tls).await;
    assert_eq!(
        unknown_kind(&f, "http.hsts"),
        Some(AssessReason::HttpStatus),
        "{:#?}",
        f.unknown
    );
    assert!(matches!(
        outcome(&f, "HTTP-001").verdict,
        Verdict::CouldNotAssess { .. }
    ));
}
