//! Fetching one page politely and within bounds, recording what happened.
//!
//! Every bound that is hit becomes an [`ErrorFact`] in the [`FetchRecord`] — never a panic,
//! never silence: URL length, robots.txt, redirects (chain recorded, loops detected), body size
//! (decompressed), connect/read/total timeouts, retries with backoff and `Retry-After`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::Rng;
use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

use super::body::{BodyError, BodySink, decode_text_owned};
use super::client::ResolveError;
use super::host::{CoolOff, HostGate, Hosts, Robots};
use crate::facts::{AssessReason, ErrorFact};

/// Largest robots.txt read (RFC 9309 asks crawlers to parse at least 500 KiB).
pub const ROBOTS_MAX_BYTES: u64 = 512 * 1024;
/// Longest `Retry-After` honoured; a longer one records `rate_limited`.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Fetch settings, from `[crawl]`.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub user_agent: String,
    /// Requests in flight across all hosts.
    pub concurrency: u32,
    pub per_host_rate: f64,
    pub per_host_concurrency: u32,
    pub total_timeout: Duration,
    pub max_body_bytes: u64,
    pub max_redirects: u32,
    pub max_url_length: usize,
    pub retries: u32,
    pub respect_robots: bool,
    pub cooloff: CoolOff,
    /// Base of the exponential backoff between retries.
    pub backoff_base: Duration,
    /// Longest robots.txt Crawl-delay honoured (`crawl.max_crawl_delay_secs`).
    pub max_crawl_delay: Duration,
    /// End of the crawl's wall-clock budget (`crawl.max_run_minutes`): a request that could
    /// not start before it is `rate_limited`.
    pub deadline: Option<std::time::Instant>,
}

/// The hosts a request may be redirected to (a service page: its agency's hosts and
/// `crawl.redirect_allow_hosts`). Names are lower-case, without port. Each host's `www.`
/// variant is in scope too, both ways (`dichvucong.x.gov.vn` and `www.dichvucong.x.gov.vn`:
/// the same organisation's name, a redirect between them is routine); any other alias is in
/// scope only when listed (`crawl.redirect_allow_hosts`, the agency's `extra_hosts`).
#[derive(Debug, Clone, Default)]
pub struct RedirectScope {
    pub hosts: Vec<String>,
}

impl RedirectScope {
    pub fn allows(&self, url: &Url) -> bool {
        let Some(h) = url.host_str() else {
            return false;
        };
        let h = h.to_ascii_lowercase();
        let bare = |n: &str| n.strip_prefix("www.").map(str::to_string);
        self.hosts.iter().any(|s| {
            let s = s.to_ascii_lowercase();
            s == h || bare(&h).is_some_and(|b| b == s) || bare(&s).is_some_and(|b| b == h)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
}

/// One request the crawler is asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub body: Option<String>,
    /// Content-Type of `body` (e.g. `application/json`).
    pub content_type: Option<String>,
    /// Validators from the previous run, for a conditional GET.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Request {
    pub fn get(url: impl Into<String>) -> Self {
        Request {
            method: Method::Get,
            url: url.into(),
            body: None,
            content_type: None,
            etag: None,
            last_modified: None,
        }
    }
}

/// What happened when fetching one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FetchRecord {
    pub url: String,
    pub final_url: String,
    pub method: String,
    /// HTTP status of the final response; 0 when none was received.
    pub status: u16,
    /// Every hop's URL, in order, when redirects were followed.
    pub redirects: Vec<String>,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub elapsed_ms: u64,
    /// Time to the final response's headers.
    pub ttfb_ms: u64,
    pub attempts: u32,
    pub bytes_wire: u64,
    pub bytes_decoded: u64,
    pub content_type: String,
    /// `UTF-8`, `windows-1258`, ... (encoding_rs names) or `TCVN3`.
    pub encoding: String,
    pub encoding_source: String,
    /// Why the page's own charset (BOM, header, `<meta>`) was not used, e.g. the header said
    /// UTF-8 and the bytes are not: empty when it was used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub charset_note: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The server answered 304 to a conditional request: reuse the stored extraction.
    pub not_modified: bool,
    pub error: Option<ErrorFact>,
}

/// A fetch record and, when a body was read, its decoded text.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub record: FetchRecord,
    pub text: Option<String>,
}

/// Fetches pages for one run. Cheap to share (`Arc`).
pub struct Fetcher {
    client: reqwest::Client,
    settings: FetchSettings,
    hosts: Hosts,
    policy: super::client::AddressPolicy,
    global: Arc<tokio::sync::Semaphore>,
}

fn err(kind: AssessReason, message: impl Into<String>) -> ErrorFact {
    ErrorFact {
        kind,
        message: message.into(),
    }
}

/// Classify a reqwest error into the closed set of reasons.
pub fn classify(e: &reqwest::Error) -> ErrorFact {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut text = e.to_string();
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<ResolveError>() {
            return match r {
                ResolveError::Forbidden { .. } => err(AssessReason::Connect, r.to_string()),
                ResolveError::Lookup { .. } => err(AssessReason::Dns, r.to_string()),
            };
        }
        if s.downcast_ref::<rustls::Error>().is_some() {
            return err(AssessReason::TlsHandshake, s.to_string());
        }
        let msg = s.to_string();
        if !msg.is_empty() && !text.contains(&msg) {
            text = format!("{text}: {msg}");
        }
        source = s.source();
    }
    let lower = text.to_ascii_lowercase();
    if e.is_timeout() || lower.contains("timed out") {
        err(AssessReason::Timeout, text)
    } else if lower.contains("tls") || lower.contains("certificate") || lower.contains("handshake")
    {
        err(AssessReason::TlsHandshake, text)
    } else if lower.contains("dns") || lower.contains("resolve") {
        err(AssessReason::Dns, text)
    } else {
        err(AssessReason::Connect, text)
    }
}

/// Parse `Retry-After`: delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when =
        time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

/// `scheme://host:port`, the key of a host's gate (built per request: plain pushes, not
/// `format!`).
fn host_key(url: &Url) -> String {
    let (scheme, host) = (url.scheme(), url.host_str().unwrap_or(""));
    let port = url.port_or_known_default().unwrap_or(0).to_string();
    let mut key = String::with_capacity(scheme.len() + host.len() + port.len() + 4);
    key.push_str(scheme);
    key.push_str("://");
    key.push_str(host);
    key.push(':');
    key.push_str(&port);
    key
}

/// Now, to the millisecond: the history keeps fetch times as milliseconds after the run's
/// start (`store::pack`), so a time it stores reads back exactly as the crawler wrote it.
fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Per-host and global slots held while a response is being read.
struct Held {
    _host: Option<tokio::sync::OwnedSemaphorePermit>,
    _global: Option<tokio::sync::OwnedSemaphorePermit>,
}

enum Attempt {
    Response(reqwest::Response),
    Failed(ErrorFact),
}

impl Fetcher {
    pub fn new(
        client: reqwest::Client,
        settings: FetchSettings,
        policy: super::client::AddressPolicy,
    ) -> Arc<Self> {
        let global = Arc::new(tokio::sync::Semaphore::new(
            settings.concurrency.max(1) as usize
        ));
        Arc::new(Fetcher {
            client,
            settings,
            hosts: Hosts::default(),
            policy,
            global,
        })
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// Fetch one request, following redirects hop by hop. Never fails: problems are in
    /// `record.error`.
    pub async fn fetch(&self, req: &Request) -> Fetched {
        self.fetch_scoped(req, None).await
    }

    /// [`fetch`](Self::fetch), following redirects only to hosts `scope` allows: a redirect
    /// elsewhere is recorded (in `redirects`) and not followed (`redirect_offsite`); a request
    /// whose own URL is elsewhere is not sent (`redirect_offsite` too).
    pub async fn fetch_scoped(&self, req: &Request, scope: Option<&RedirectScope>) -> Fetched {
        let started = Instant::now();
        let mut rec = FetchRecord {
            url: req.url.clone(),
            final_url: req.url.clone(),
            method: match req.method {
                Method::Get => "GET".into(),
                Method::Post => "POST".into(),
            },
            started_at: now_rfc3339(),
            ..FetchRecord::default()
        };
        let text = self.fetch_inner(req, &mut rec, started, scope).await;
        rec.elapsed_ms = started.elapsed().as_millis() as u64;
        Fetched { record: rec, text }
    }

    async fn fetch_inner(
        &self,
        req: &Request,
        rec: &mut FetchRecord,
        started: Instant,
        scope: Option<&RedirectScope>,
    ) -> Option<String> {
        let mut url = match self.check_url(&req.url) {
            Ok(u) => u,
            Err(e) => {
                rec.error = Some(e);
                return None;
            }
        };
        // A link to a host outside the scope is not fetched at all (as a redirect there is not
        // followed): a list row or item of another portal is not the agency's page.
        if let Some(scope) = scope
            && !scope.allows(&url)
        {
            rec.error = Some(err(
                AssessReason::RedirectOffsite,
                format!(
                    "{url} is on a host that is not the agency's (portal, extra_hosts, or their www. variant) nor in crawl.redirect_allow_hosts (list an alias of the agency there to read it); not fetched"
                ),
            ));
            return None;
        }
        let mut method = req.method;
        let mut body = req.body.clone();
        // URLs of this chain, for loop detection: filled when the first redirect comes (most
        // requests have none and allocate nothing here).
        let mut seen: Vec<String> = Vec::new();
        for hop in 0..=self.settings.max_redirects {
            let gate = self
                .hosts
                .gate(&host_key(&url), self.settings.per_host_concurrency);
            if let Some(e) = gate.unreachable() {
                rec.error = Some(e);
                return None;
            }
            if self.settings.respect_robots {
                let robots = gate
                    .robots
                    .get_or_init(|| self.load_robots(&url, &gate))
                    .await;
                if let Err(e) = robots.check(url.as_str()) {
                    rec.error = Some(e);
                    return None;
                }
            }
            let conditional = hop == 0 && method == Method::Get;
            let (resp, held) = match self
                .send_with_retries(&gate, method, &url, body.as_deref(), req, conditional, rec)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    rec.error = Some(e);
                    return None;
                }
            };
            rec.status = resp.status().as_u16();
            rec.ttfb_ms = started.elapsed().as_millis() as u64;
            if resp.status().is_redirection()
                && let Some(loc) = resp.headers().get(header::LOCATION)
            {
                let next = match loc.to_str().ok().and_then(|l| url.join(l).ok()) {
                    Some(n) => n,
                    None => {
                        rec.error = Some(err(
                            AssessReason::HttpStatus,
                            format!("{} with an invalid Location header", resp.status()),
                        ));
                        return None;
                    }
                };
                let next = match self.check_url(next.as_str()) {
                    Ok(n) => n,
                    Err(e) => {
                        rec.error = Some(e);
                        return None;
                    }
                };
                rec.redirects.push(next.to_string());
                if let Some(scope) = scope
                    && next.host_str() != url.host_str()
                    && !scope.allows(&next)
                {
                    rec.error = Some(err(
                        AssessReason::RedirectOffsite,
                        format!(
                            "{} redirected to {next}, a host that is not the agency's (portal, extra_hosts, or their www. variant) nor in crawl.redirect_allow_hosts (list an alias of the agency there to follow it); not followed",
                            url
                        ),
                    ));
                    return None;
                }
                if seen.is_empty() {
                    seen.push(url.to_string());
                }
                if seen.iter().any(|s| s == next.as_str()) {
                    rec.error = Some(err(
                        AssessReason::RedirectLoop,
                        format!("redirect loop back to {next}"),
                    ));
                    return None;
                }
                seen.push(next.to_string());
                // 301/302/303 turn POST into GET, as browsers do; 307/308 keep the method.
                if matches!(resp.status().as_u16(), 301..=303) {
                    method = Method::Get;
                    body = None;
                }
                url = next;
                rec.final_url = url.to_string();
                continue;
            }
            let text = self.read_body(resp, rec).await;
            drop(held);
            return text;
        }
        rec.error = Some(err(
            AssessReason::RedirectLoop,
            format!("more than {} redirects", self.settings.max_redirects),
        ));
        None
    }

    fn check_url(&self, raw: &str) -> Result<Url, ErrorFact> {
        if raw.len() > self.settings.max_url_length {
            return Err(err(
                AssessReason::TooLarge,
                format!(
                    "URL of {} bytes exceeds crawl.max_url_length ({})",
                    raw.len(),
                    self.settings.max_url_length
                ),
            ));
        }
        let url = Url::parse(raw)
            .map_err(|e| err(AssessReason::Connect, format!("bad URL {raw:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err(
                AssessReason::Connect,
                format!("unsupported scheme in {raw:?}"),
            ));
        }
        let host = url.host_str().unwrap_or("");
        self.policy
            .check_literal(host)
            .map_err(|e| err(AssessReason::Connect, e.to_string()))?;
        Ok(url)
    }

    async fn load_robots(&self, url: &Url, gate: &HostGate) -> Robots {
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let _permit = gate.acquire_slot().await;
        let fut = self.client.get(robots_url.as_str()).send();
        let resp = match tokio::time::timeout(self.settings.total_timeout, fut).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Robots::Unreachable(classify(&e)),
            Err(_) => {
                return Robots::Unreachable(err(
                    AssessReason::Timeout,
                    format!(
                        "robots.txt not answered within {:?}",
                        self.settings.total_timeout
                    ),
                ));
            }
        };
        let status = resp.status();
        if status.is_server_error() {
            return Robots::DisallowAll(format!(
                "robots.txt answered {status}: RFC 9309 says assume the whole site is disallowed"
            ));
        }
        if !status.is_success() {
            return Robots::AllowAll;
        }
        let enc = resp
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut sink = BodySink::new(&enc, ROBOTS_MAX_BYTES);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    if sink.push(&c).is_err() {
                        break; // parse what fits in the cap
                    }
                }
                Err(_) => break,
            }
        }
        match sink.finish() {
            Ok(bytes) => Robots::parse(&self.settings.user_agent, &bytes),
            Err(_) => Robots::AllowAll,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_with_retries(
        &self,
        gate: &HostGate,
        method: Method,
        url: &Url,
        body: Option<&str>,
        req: &Request,
        conditional: bool,
        rec: &mut FetchRecord,
    ) -> Result<(reqwest::Response, Held), ErrorFact> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            rec.attempts += 1;
            // Held until the body is read (returned with the response).
            let host_permit = gate
                .acquire_within(
                    self.settings.per_host_rate,
                    self.settings.max_crawl_delay,
                    self.settings.deadline,
                )
                .await?;
            // `acquire` fails only on a closed semaphore; this one is never closed.
            let global_permit = Arc::clone(&self.global).acquire_owned().await.ok();
            let held = Held {
                _host: host_permit,
                _global: global_permit,
            };
            let outcome = self.send_once(method, url, body, req, conditional).await;
            let retry_in = match outcome {
                Attempt::Response(resp) => {
                    let status = resp.status().as_u16();
                    if status == 429 || status == 503 {
                        let wait = retry_after(resp.headers());
                        if let Some(d) = wait
                            && d > MAX_RETRY_AFTER
                        {
                            return Err(err(
                                AssessReason::RateLimited,
                                format!(
                                    "HTTP {status} with Retry-After {d:?}, longer than we wait"
                                ),
                            ));
                        }
                        if attempt > self.settings.retries {
                            rec.status = status;
                            let kind = if status == 429 {
                                AssessReason::RateLimited
                            } else {
                                AssessReason::HttpStatus
                            };
                            return Err(err(
                                kind,
                                format!("HTTP {status} after {attempt} attempts"),
                            ));
                        }
                        wait.unwrap_or_else(|| {
                            self.backoff(attempt).max(Duration::from_millis(500))
                        })
                    } else if matches!(status, 500 | 502 | 504) && attempt <= self.settings.retries
                    {
                        self.backoff(attempt)
                    } else if status >= 400 && !(300..400).contains(&status) {
                        gate.record_success();
                        rec.status = status;
                        return Err(err(AssessReason::HttpStatus, format!("HTTP {status}")));
                    } else {
                        gate.record_success();
                        return Ok((resp, held));
                    }
                }
                Attempt::Failed(e) => {
                    if let Some(pause) = gate.record_failure(&e, self.settings.cooloff) {
                        tokio::time::sleep(pause).await;
                    }
                    if let Some(u) = gate.unreachable() {
                        return Err(u);
                    }
                    if attempt > self.settings.retries {
                        return Err(e);
                    }
                    self.backoff(attempt)
                }
            };
            drop(held);
            tokio::time::sleep(retry_in).await;
        }
    }

    /// Exponential backoff with full jitter: uniform in [base·2^(n-1)/2, base·2^(n-1)].
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.settings.backoff_base.as_millis() as u64;
        let max = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(10));
        let ms = rand::rng().random_range(max / 2..=max.max(1));
        Duration::from_millis(ms)
    }

    async fn send_once(
        &self,
        method: Method,
        url: &Url,
        body: Option<&str>,
        req: &Request,
        conditional: bool,
    ) -> Attempt {
        // The parsed `Url` itself, so reqwest does not parse the string a second time.
        let mut b = match method {
            Method::Get => self.client.get(url.clone()),
            Method::Post => self.client.post(url.clone()),
        };
        b = b.header(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        if let Some(body) = body {
            b = b.body(body.to_string());
            if let Some(ct) = &req.content_type {
                b = b.header(header::CONTENT_TYPE, ct.as_str());
            }
        }
        if conditional {
            if let Some(etag) = &req.etag {
                b = b.header(header::IF_NONE_MATCH, etag.as_str());
            }
            if let Some(lm) = &req.last_modified {
                b = b.header(header::IF_MODIFIED_SINCE, lm.as_str());
            }
        }
        match tokio::time::timeout(self.settings.total_timeout, b.send()).await {
            Ok(Ok(resp)) => Attempt::Response(resp),
            Ok(Err(e)) => Attempt::Failed(classify(&e)),
            Err(_) => Attempt::Failed(err(
                AssessReason::Timeout,
                format!("no response within {:?}", self.settings.total_timeout),
            )),
        }
    }

    async fn read_body(&self, resp: reqwest::Response, rec: &mut FetchRecord) -> Option<String> {
        // Only the four headers kept are copied (not the whole map).
        let text_header = |name: header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        rec.content_type = text_header(header::CONTENT_TYPE).unwrap_or_default();
        rec.etag = text_header(header::ETAG);
        rec.last_modified = text_header(header::LAST_MODIFIED);
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
            rec.not_modified = true;
            return None;
        }
        let enc = text_header(header::CONTENT_ENCODING).unwrap_or_default();
        if let Some(len) = resp.content_length()
            && enc.is_empty()
            && len > self.settings.max_body_bytes
        {
            rec.bytes_wire = 0;
            rec.error = Some(err(
                AssessReason::TooLarge,
                format!(
                    "Content-Length {len} exceeds crawl.max_body_bytes ({})",
                    self.settings.max_body_bytes
                ),
            ));
            return None;
        }
        let mut sink = BodySink::new(&enc, self.settings.max_body_bytes);
        if let Some(len) = resp.content_length() {
            sink.reserve_wire(len);
        }
        let mut stream = resp.bytes_stream();
        let deadline = self.settings.total_timeout;
        let read = tokio::time::timeout(deadline, async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| classify(&e))?;
                sink.push(&chunk).map_err(|e| body_error(&e))?;
            }
            Ok::<(), ErrorFact>(())
        })
        .await;
        rec.bytes_wire = sink.wire_bytes();
        match read {
            Err(_) => {
                rec.error = Some(err(
                    AssessReason::Timeout,
                    format!("body not received within {deadline:?}"),
                ));
                return None;
            }
            Ok(Err(e)) => {
                rec.error = Some(e);
                return None;
            }
            Ok(Ok(())) => {}
        }
        let bytes = match sink.finish() {
            Ok(b) => b,
            Err(e) => {
                rec.error = Some(body_error(&e));
                return None;
            }
        };
        rec.bytes_decoded = bytes.len() as u64;
        // No charset reads the page: could not assess `decode`, never text full of U+FFFD.
        let decoded = match decode_text_owned(bytes, &rec.content_type, Some(b"vn")) {
            Ok(d) => d,
            Err(e) => {
                rec.error = Some(err(AssessReason::Decode, e.to_string()));
                return None;
            }
        };
        rec.encoding = decoded.encoding;
        rec.encoding_source = decoded.source.to_string();
        rec.charset_note = decoded.note;
        Some(decoded.text)
    }
}

fn body_error(e: &BodyError) -> ErrorFact {
    match e {
        BodyError::TooLarge(_) => err(AssessReason::TooLarge, e.to_string()),
        BodyError::Decode { .. } => err(AssessReason::Decode, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_www_variant_is_in_scope_both_ways_and_nothing_else() {
        let scope = |h: &str| RedirectScope {
            hosts: vec![h.to_string()],
        };
        let allows = |s: &RedirectScope, u: &str| match Url::parse(u) {
            Ok(u) => s.allows(&u),
            Err(e) => panic!("{u}: {e}"),
        };
        let bare = scope("dichvucong.x.gov.vn");
        assert!(allows(&bare, "https://dichvucong.x.gov.vn/a"));
        assert!(allows(&bare, "https://WWW.dichvucong.x.gov.vn:8443/a"));
        for other in [
            "https://dvc.x.gov.vn/",
            "https://x.gov.vn/",
            "https://wwwdichvucong.x.gov.vn/",
            "https://www.www.dichvucong.x.gov.vn/",
            "https://m.dichvucong.x.gov.vn/",
        ] {
            assert!(!allows(&bare, other), "{other}");
        }
        let www = scope("www.dichvucong.x.gov.vn");
        assert!(allows(&www, "https://dichvucong.x.gov.vn/"));
        assert!(allows(&www, "https://www.dichvucong.x.gov.vn/"));
        assert!(!allows(&www, "https://x.gov.vn/"));
        assert!(!allows(&www, "https://gov.vn/"));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
