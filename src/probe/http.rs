//! HTTP facts: does plain HTTP send the citizen to HTTPS on the same host, and does the
//! HTTPS answer carry HSTS (RFC 6797)?
//!
//! Redirects are followed by hand (at most [`MAX_REDIRECTS`]) so every hop is seen; bodies are
//! never read. The client accepts any certificate: trust is judged by the TLS probe, and the
//! header is a fact either way.

use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION, STRICT_TRANSPORT_SECURITY};
use url::Url;

use super::net::Failure;
use crate::facts::{AssessReason, HstsFacts, HttpFacts};

/// Most redirects followed from `http://host/`.
pub const MAX_REDIRECTS: usize = 5;

/// Build the HTTP client: pinned addresses (ports come from the URL, as reqwest resolves by
/// name only), no proxy, no automatic redirects, bounded times.
pub fn client(
    tls: rustls::ClientConfig,
    pins: &std::collections::BTreeMap<String, Vec<std::net::SocketAddr>>,
    connect_timeout: Duration,
    total_timeout: Duration,
    guard: Option<&crate::crawl::client::AddressPolicy>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(connect_timeout)
        .timeout(total_timeout)
        .pool_max_idle_per_host(0)
        .user_agent(concat!("dvc-audit/", env!("CARGO_PKG_VERSION")));
    if let Some(policy) = guard {
        b = b.dns_resolver(crate::crawl::client::guarded_resolver(policy.clone()));
    }
    // reqwest pins by name only: every address pinned for the name, on any port, in order,
    // with port 0 so the port is the URL's (an `http://host/` URL names none: a pin's 443
    // would otherwise be used for it).
    let mut by_host: std::collections::BTreeMap<&str, Vec<std::net::SocketAddr>> =
        std::collections::BTreeMap::new();
    for (key, addrs) in pins {
        if let Some((host, _port)) = key.rsplit_once(':') {
            let all = by_host.entry(host).or_default();
            for a in addrs {
                let a = std::net::SocketAddr::new(a.ip(), 0);
                if !all.contains(&a) {
                    all.push(a);
                }
            }
        }
    }
    for (host, addrs) in by_host {
        b = b.resolve_to_addrs(host, &addrs);
    }
    b.build()
}

/// Plain-HTTP facts: reachability, redirect to HTTPS on the same host (or, `https_redirect_offsite`,
/// on another host), final URL. The
/// failure is `Some` when whether plain HTTP redirects to HTTPS could not be observed, and
/// why: the first request failed for a reason other than "nothing listens" (refused); a later
/// hop failed or timed out before a final answer; the chain ran past [`MAX_REDIRECTS`] or
/// came back to a URL already seen (`redirect_loop`); or an answer was 429 (`rate_limited`),
/// 5xx or 403 (`http_status`: an overloaded server, or access refused to the probe; a 403
/// the HTTPS side does not share is the site's own answer, settled by the caller with
/// [`is_refusal`]), which says nothing about the site's redirect. A chain cut short is
/// unknown, never "no redirect". Once an HTTPS redirect has been seen (same host or not), the
/// fact is observed and what happens further down the chain does not change it.
pub async fn plain(
    client: &reqwest::Client,
    host: &str,
    http_port: u16,
) -> (HttpFacts, Option<Failure>) {
    let (facts, failure, _) = plain_from(client, host, http_port).await;
    (facts, failure)
}

/// [`plain`], with the address the first plain-HTTP request was answered from (when it was).
pub async fn plain_from(
    client: &reqwest::Client,
    host: &str,
    http_port: u16,
) -> (HttpFacts, Option<Failure>, Option<std::net::SocketAddr>) {
    let mut facts = HttpFacts::default();
    let mut from = None;
    let Ok(mut url) = Url::parse(&format!("http://{}:{http_port}/", host_for_url(host))) else {
        return (facts, None, from);
    };
    let mut seen = vec![url.clone()];
    for hop in 0..=MAX_REDIRECTS {
        let resp = match client.get(url.clone()).send().await {
            Ok(r) => r,
            Err(e) if hop == 0 && refused(&e) => break,
            Err(e) => {
                if sent_to_https(&facts) {
                    break;
                }
                let what = if hop == 0 {
                    "plain HTTP request".to_string()
                } else {
                    format!("request {} of the redirect chain ({url})", hop + 1)
                };
                return (facts, Some(classify(&e, &what)), from);
            }
        };
        if hop == 0 {
            facts.http_reachable = true;
            from = resp.remote_addr();
        }
        facts.final_url = url.to_string();
        if let Some(f) = unusable_status(resp.status(), url.as_str())
            .or_else(|| access_refused(resp.status(), url.as_str()))
            && !sent_to_https(&facts)
        {
            return (facts, Some(f), from);
        }
        let next = resp
            .status()
            .is_redirection()
            .then(|| location(&url, resp.headers()))
            .flatten();
        drop(resp);
        let Some(next) = next else { break };
        if next.scheme() == "https" {
            if same_host(&next, host) {
                facts.https_redirect = true;
            } else if !facts.https_redirect {
                facts.https_redirect_offsite = true;
            }
        }
        if next.scheme() != "https" && next.scheme() != "http" {
            break;
        }
        if offsite_private_literal(&next, host) {
            // A redirect to a private/loopback literal address elsewhere (also IPv6 forms that
            // carry one, e.g. `[::ffff:169.254.169.254]`) is recorded but never requested.
            facts.final_url = next.to_string();
            break;
        }
        facts.final_url = next.to_string();
        if !sent_to_https(&facts) {
            if seen.contains(&next) {
                return (
                    facts,
                    Some(Failure::new(
                        AssessReason::RedirectLoop,
                        crate::facts::excerpt(&format!(
                            "plain HTTP redirect chain loops back to {next}"
                        )),
                    )),
                    from,
                );
            }
            if hop == MAX_REDIRECTS {
                return (
                    facts,
                    Some(Failure::new(
                        AssessReason::RedirectLoop,
                        crate::facts::excerpt(&format!(
                            "plain HTTP redirect chain still redirecting (to {next}) after \
                             {MAX_REDIRECTS} redirects"
                        )),
                    )),
                    from,
                );
            }
        }
        seen.push(next.clone());
        url = next;
    }
    (facts, None, from)
}

/// The chain has reached `https://`, on this host or another: where plain HTTP sends the
/// citizen is observed, and what happens further down the chain does not change it.
fn sent_to_https(facts: &HttpFacts) -> bool {
    facts.https_redirect || facts.https_redirect_offsite
}

/// A 429 or 5xx answer: the server (or a WAF / load balancer in front of it) did not answer
/// as the site, so neither its headers nor its lack of a redirect say anything about the site.
fn unusable_status(status: reqwest::StatusCode, url: &str) -> Option<Failure> {
    let detail = || crate::facts::excerpt(&format!("{url} answered {status}"));
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Some(Failure::new(AssessReason::RateLimited, detail()))
    } else if status.is_server_error() {
        Some(Failure::new(AssessReason::HttpStatus, detail()))
    } else {
        None
    }
}

/// A 403: possibly access refused to the probe (a WAF, a bot filter), not the page a citizen
/// gets. (A 401 is the site's own login, answered as the site.) For plain HTTP the probe
/// settles it against the HTTPS side (see [`is_refusal`]).
fn access_refused(status: reqwest::StatusCode, url: &str) -> Option<Failure> {
    (status.as_u16() == 403).then(|| {
        let url = crate::facts::excerpt(url);
        Failure {
            refused: true,
            ..Failure::new(
                AssessReason::HttpStatus,
                format!("{url} answered {status} (access refused to the probe?)"),
            )
        }
    })
}

/// Whether `f` is [`plain`]'s or [`hsts`]'s 403 answer (made by `access_refused`).
pub fn is_refusal(f: &Failure) -> bool {
    f.refused
}

/// HSTS of `https://host:port`: asked on `/`, and unless `/` sends a header that enables HSTS,
/// on each of `entries` (the paths a portal is configured at, see
/// [`super::ProbeConfig::entry_paths`]): a header on any page of the host is the host's, and a
/// citizen entering at the portal's own page gets it there. A header that enables HSTS on any
/// page is the fact; else the first header seen (`max-age=0`, unparseable); with no header
/// anywhere, "no HSTS" only when every page asked answered as the site. When one did not (a
/// failed request, a 403/429/5xx without a header), HSTS is unknown with that reason. Also
/// returns whether `/` itself was refused with a 403 (see [`plain`]'s caller).
pub async fn hsts(
    client: &reqwest::Client,
    host: &str,
    port: u16,
    entries: &[String],
) -> (Result<HstsFacts, Failure>, bool) {
    let mut first_failure = None;
    let mut first_header = None;
    let mut root_refused = false;
    let paths = std::iter::once("/").chain(
        entries
            .iter()
            .map(String::as_str)
            .filter(|p| *p != "/")
            .take(super::config::MAX_ENTRY_PATHS),
    );
    for path in paths {
        match hsts_at(client, host, port, path).await {
            Ok(Some(h)) if h.present => return (Ok(h), root_refused),
            Ok(Some(h)) => {
                first_header.get_or_insert(h);
            }
            Ok(None) => {}
            Err((f, refused)) => {
                root_refused |= refused && path == "/";
                first_failure.get_or_insert(f);
            }
        }
    }
    let result = match (first_header, first_failure) {
        (Some(h), _) => Ok(h),
        (None, Some(f)) => Err(f),
        (None, None) => Ok(HstsFacts::default()),
    };
    (result, root_refused)
}

/// The HSTS header as sent on `https://host:port{path}` (`None`: no header), when the page
/// answered as the site.
///
/// A redirect without the header to another path on the same origin (`/` → `/portal/`, as
/// most portals do) is followed, up to [`MAX_REDIRECTS`] hops: a browser that loads the
/// portal gets the header from the page the chain ends at, and that header is the host's
/// (RFC 6797 §8.1). A chain that ends without a header on the same origin, or leaves it, has
/// no header; one cut short (a failed hop, a loop, too many hops) or ending in an answer that
/// is not the site's (401/403: access refused to the probe, 429, 5xx) is a failure.
async fn hsts_at(
    client: &reqwest::Client,
    host: &str,
    port: u16,
    path: &str,
) -> Result<Option<HstsFacts>, (Failure, bool)> {
    let mut url =
        Url::parse(&format!("https://{}:{port}{path}", host_for_url(host))).map_err(|e| {
            (
                Failure::new(AssessReason::Decode, format!("bad URL: {e}")),
                false,
            )
        })?;
    let mut seen = vec![url.clone()];
    loop {
        let resp = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| (classify(&e, "HTTPS request"), false))?;
        if let Some(v) = resp.headers().get(STRICT_TRANSPORT_SECURITY) {
            // A header that was sent is observed whatever the status (a UA honours it on any
            // response over a secure connection).
            return Ok(Some(v.to_str().map(parse_hsts).unwrap_or_default()));
        }
        // No header on a 429/5xx/403: the site did not answer us, its header is unknown.
        if let Some(f) = unusable_status(resp.status(), url.as_str()) {
            return Err((f, false));
        }
        if let Some(f) = access_refused(resp.status(), url.as_str()) {
            return Err((f, true));
        }
        let next = resp
            .status()
            .is_redirection()
            .then(|| location(&url, resp.headers()))
            .flatten()
            // HSTS is the host's whatever the port (RFC 6797 §8.1): any https URL of the host.
            .filter(|n| n.scheme() == "https" && same_host(n, host));
        let Some(next) = next else {
            return Ok(None);
        };
        if seen.contains(&next) {
            let f = Failure::new(
                AssessReason::RedirectLoop,
                crate::facts::excerpt(&format!(
                    "HTTPS redirects came back to {next} without a Strict-Transport-Security header"
                )),
            );
            return Err((f, false));
        }
        if seen.len() > MAX_REDIRECTS {
            let f = Failure::new(
                AssessReason::RedirectLoop,
                format!(
                    "more than {MAX_REDIRECTS} HTTPS redirects on {host} without a Strict-Transport-Security header"
                ),
            );
            return Err((f, false));
        }
        seen.push(next.clone());
        url = next;
    }
}

/// Whether the request failed because nothing listens (connection refused).
fn refused(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        src = s.source();
    }
    false
}

/// A failed request as a could-not-assess reason, with the library's text kept as detail.
fn classify(e: &reqwest::Error, what: &str) -> Failure {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    let mut tls = false;
    while let Some(s) = src {
        if s.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    let detail = crate::facts::excerpt(&format!("{what} failed: {detail}"));
    if e.is_timeout() {
        Failure::timeout(detail)
    } else if tls {
        Failure::tls(detail)
    } else if e.is_connect() {
        Failure::new(AssessReason::Connect, detail)
    } else {
        Failure::new(AssessReason::HttpStatus, detail)
    }
}

/// Parse a `Strict-Transport-Security` value. A header without a valid `max-age` is invalid
/// (RFC 6797 §6.1.1) and reported as absent. `max-age=0` is valid but tells the browser to
/// forget the host as an HSTS host (RFC 6797 §6.1.1, §8.1.1): it does not enable HSTS, so
/// `present` is false, while the directives as sent (`max_age` 0, `includeSubDomains`,
/// `preload`) are kept as evidence.
pub fn parse_hsts(value: &str) -> HstsFacts {
    let mut f = HstsFacts::default();
    let mut max_age = None;
    for directive in value.split(';') {
        let (name, val) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        match name.to_ascii_lowercase().as_str() {
            "max-age" => max_age = val.and_then(|v| v.parse::<i64>().ok()),
            "includesubdomains" => f.include_subdomains = true,
            "preload" => f.preload = true,
            _ => {}
        }
    }
    match max_age {
        Some(age) if age > 0 => {
            f.present = true;
            f.max_age = age;
            f
        }
        Some(0) => {
            f.present = false;
            f.max_age = 0;
            f
        }
        _ => HstsFacts::default(),
    }
}

/// `next` names a literal non-public IP that is not the probed host itself.
fn offsite_private_literal(next: &Url, host: &str) -> bool {
    let Some(h) = next.host_str() else {
        return false;
    };
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = bare.parse::<std::net::IpAddr>() else {
        return false;
    };
    crate::config::is_non_public(ip) && !bare.eq_ignore_ascii_case(host.trim_matches(['[', ']']))
}

fn location(base: &Url, headers: &HeaderMap) -> Option<Url> {
    let loc = headers.get(LOCATION)?.to_str().ok()?;
    base.join(loc).ok()
}

fn same_host(url: &Url, host: &str) -> bool {
    url.host_str().is_some_and(|h| {
        h.trim_matches(['[', ']'])
            .eq_ignore_ascii_case(host.trim_matches(['[', ']']))
    })
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_directives() {
        let f = parse_hsts("max-age=31536000; includeSubDomains; preload");
        assert!(f.present && f.include_subdomains && f.preload);
        assert_eq!(f.max_age, 31_536_000);
        let f = parse_hsts("Max-Age=\"60\"");
        assert!(f.present && !f.include_subdomains);
        assert_eq!(f.max_age, 60);
        assert!(!parse_hsts("includeSubDomains").present);
        assert!(!parse_hsts("max-age=abc").present);
    }

    #[test]
    fn max_age_zero_does_not_enable_hsts() {
        // RFC 6797 §6.1.1: max-age=0 tells the browser to drop HSTS for the host.
        let f = parse_hsts("max-age=0; includeSubDomains");
        assert!(!f.present, "max-age=0 must not count as HSTS: {f:?}");
        assert_eq!(f.max_age, 0);
        assert!(
            f.include_subdomains,
            "the directives as sent stay as evidence"
        );
        for v in ["max-age=0", "MAX-AGE=\"0\"", " max-age = 0 ; preload"] {
            assert!(!parse_hsts(v).present, "{v}");
        }
        assert!(parse_hsts("max-age=1").present);
    }

    #[test]
    fn status_429_and_5xx_are_unusable() {
        use reqwest::StatusCode;
        let u = "https://h/";
        assert_eq!(
            unusable_status(StatusCode::TOO_MANY_REQUESTS, u).map(|f| f.kind),
            Some(AssessReason::RateLimited)
        );
        for s in [500, 502, 503, 504] {
            let s = StatusCode::from_u16(s).expect("status");
            assert_eq!(
                unusable_status(s, u).map(|f| f.kind),
                Some(AssessReason::HttpStatus)
            );
        }
        for s in [200, 301, 403, 404] {
            let s = StatusCode::from_u16(s).expect("status");
            assert!(unusable_status(s, u).is_none(), "{s}");
        }
    }
}
