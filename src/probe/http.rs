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
    pins: &std::collections::BTreeMap<String, std::net::SocketAddr>,
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
    for (key, addr) in pins {
        if let Some((host, _port)) = key.rsplit_once(':') {
            b = b.resolve(host, *addr);
        }
    }
    b.build()
}

/// Plain-HTTP facts: reachability, redirect to HTTPS on the same host, final URL. The
/// failure is `Some` when the first request failed for a reason other than "nothing listens"
/// (refused): then whether plain HTTP redirects is unknown, not "no".
pub async fn plain(
    client: &reqwest::Client,
    host: &str,
    http_port: u16,
) -> (HttpFacts, Option<Failure>) {
    let mut facts = HttpFacts::default();
    let Ok(mut url) = Url::parse(&format!("http://{}:{http_port}/", host_for_url(host))) else {
        return (facts, None);
    };
    for hop in 0..=MAX_REDIRECTS {
        let resp = match client.get(url.clone()).send().await {
            Ok(r) => r,
            Err(e) if hop == 0 && !refused(&e) => {
                return (facts, Some(classify(&e, "plain HTTP request")));
            }
            Err(_) => break,
        };
        if hop == 0 {
            facts.http_reachable = true;
        }
        facts.final_url = url.to_string();
        let next = resp
            .status()
            .is_redirection()
            .then(|| location(&url, resp.headers()))
            .flatten();
        drop(resp);
        let Some(next) = next else { break };
        if next.scheme() == "https" && !facts.https_redirect {
            facts.https_redirect = same_host(&next, host);
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
        url = next;
    }
    (facts, None)
}

/// HSTS as sent on `https://host:port/`; when the request fails, why (HSTS is then unknown,
/// never "absent").
pub async fn hsts(client: &reqwest::Client, host: &str, port: u16) -> Result<HstsFacts, Failure> {
    let url = Url::parse(&format!("https://{}:{port}/", host_for_url(host)))
        .map_err(|e| Failure::new(AssessReason::Decode, format!("bad URL: {e}")))?;
    match client.get(url).send().await {
        Ok(resp) => Ok(resp
            .headers()
            .get(STRICT_TRANSPORT_SECURITY)
            .and_then(|v| v.to_str().ok())
            .map(parse_hsts)
            .unwrap_or_default()),
        Err(e) => Err(classify(&e, "HTTPS request")),
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
/// (RFC 6797 §6.1.1) and reported as absent.
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
        Some(age) if age >= 0 => {
            f.present = true;
            f.max_age = age;
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
}
