//! The listeners: one HTTPS listener (certificate by SNI) and one plain-HTTP listener, both on
//! 127.0.0.1, routing every host by `Host`. Plain hyper (hyper-util's auto builder for HTTP/1.1
//! and HTTP/2) over tokio-rustls: routing is by host first, which axum's router does not do.
//!
//! Transport concerns live here: HSTS, HTTP→HTTPS redirects, ETag/Last-Modified and 304s,
//! gzip, delays, the request log (memory + `requests.jsonl`), shutdown.

use std::collections::HashSet;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use super::overrides::Overrides;
use super::pki::{Pki, SniResolver};
use super::routes::{self, Ctx, Reply};
use super::truth::Ports;

/// One request as the sandbox saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    /// `https` or `http`.
    pub scheme: String,
    pub host: String,
    /// Path and query.
    pub path: String,
    pub status: u16,
    /// Body bytes sent (after compression).
    pub bytes: u64,
    /// Milliseconds since the sandbox started, when the request arrived.
    pub time_ms: u64,
    /// The request carried `If-None-Match` or `If-Modified-Since`.
    pub conditional: bool,
    pub user_agent: String,
    /// `HTTP/1.1` or `HTTP/2.0` (empty in logs written before it was recorded).
    #[serde(default)]
    pub version: String,
}

/// Upper bound of the in-memory request log (the JSONL file has everything).
pub(crate) const MAX_LOG: usize = 1_000_000;
/// Upper bound of open connections per listener.
const MAX_CONNECTIONS: usize = 4096;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct State {
    pub overrides: RwLock<Overrides>,
    pub ports: Ports,
    pub start: Instant,
    pub log: Mutex<Vec<RequestRecord>>,
    pub log_tx: Option<mpsc::Sender<RequestRecord>>,
    pub seen_429: Mutex<HashSet<String>>,
    pub resolver: Arc<SniResolver>,
    pub pki: Pki,
    pub slow: Duration,
    pub hang: Duration,
    /// HTTP versions the HTTPS listener speaks (`ServeOptions::http_version`).
    pub http_version: crate::config::HttpVersion,
    /// Serialises background writes of `ground-truth.json`.
    pub truth_write: Mutex<()>,
    /// Generation of the newest ground truth to write.
    pub truth_latest: std::sync::atomic::AtomicU64,
}

impl State {
    /// The agency serving `host` is down (see `Outage::Down`).
    pub(crate) fn host_down(&self, host: &str) -> bool {
        let o = self.overrides.read().unwrap_or_else(|e| e.into_inner());
        o.host_down(host)
    }
}

/// `Last-Modified` of every page: a fixed date, moved forward one second per mutation.
fn last_modified(generation: u64) -> OffsetDateTime {
    let base = time::macros::datetime!(2026-01-05 08:00:00 UTC);
    base + time::Duration::seconds(i64::try_from(generation).unwrap_or(i64::MAX / 2))
}

fn http_date(t: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&fmt).unwrap_or_default()
}

fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), &fmt)
        .ok()
        .map(|p| p.assume_utc())
}

fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == etag
    })
}

/// Largest body sent gzipped. Larger ones (the 8 MB oversized page) go as they are: compressing
/// them on every request blocks a runtime thread for seconds in debug builds, long enough to turn
/// the planted `too_large` into a `timeout` under a test's short timeouts. The crawler's cap on
/// the decompressed size is tested on its own (`crawl::body`).
pub(crate) const GZIP_MAX_BYTES: usize = 1024 * 1024;

/// The ETag of a body: a hash of its first [`GZIP_MAX_BYTES`] and its length. The only larger
/// bodies are the oversized pages (a page followed by constant padding), and hashing 8 MB on
/// every request costs seconds in debug builds.
fn etag_of(body: &[u8]) -> String {
    let head = body.get(..GZIP_MAX_BYTES).unwrap_or(body);
    let mut h = Sha256::new();
    h.update(head);
    h.update((body.len() as u64).to_be_bytes());
    format!("\"{}\"", &hex::encode(h.finalize())[..20])
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

/// Largest POST body read.
const MAX_POST_BYTES: usize = 64 * 1024;

/// Serve one request.
pub(crate) async fn handle(
    state: Arc<State>,
    https: bool,
    sni: Option<String>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let arrived = state.start.elapsed();
    let host_header = req
        .uri()
        .host()
        .map(str::to_string)
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name).to_string())
        })
        .or(sni)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let path_q = req
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_string());
    let header_str = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let inm = header_str(header::IF_NONE_MATCH);
    let ims = header_str(header::IF_MODIFIED_SINCE);
    let accept_gzip = header_str(header::ACCEPT_ENCODING).is_some_and(|v| v.contains("gzip"));
    let user_agent = header_str(header::USER_AGENT).unwrap_or_default();
    let method = req.method().clone();
    let version = format!("{:?}", req.version());
    // A POST body (the platform shapes' JSON APIs), bounded.
    let post_body: Vec<u8> = if method == Method::POST {
        axum::body::to_bytes(Body::new(req.into_body()), MAX_POST_BYTES)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default()
    } else {
        Vec::new()
    };

    let (reply, host_spec, generation) = {
        let o = state.overrides.read().unwrap_or_else(|e| e.into_inner());
        let host = o.host_spec(&host_header);
        let reply = match (&host, &method) {
            (None, _) => Reply::not_found(),
            (Some(_), m) if *m != Method::GET && *m != Method::HEAD && *m != Method::POST => {
                Reply::status(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Phương thức không được hỗ trợ (405)\n",
                )
            }
            (Some(h), _) if !https && h.https_redirect => {
                let location = format!(
                    "{}{}",
                    super::truth::host_url(&h.name, state.ports.https).trim_end_matches('/'),
                    path_q
                );
                let mut r = Reply::status(StatusCode::MOVED_PERMANENTLY, "");
                r.location = Some(location);
                r
            }
            (Some(h), _) => {
                let ctx = Ctx {
                    o: &o,
                    https_port: state.ports.https,
                    slow: state.slow,
                    hang: state.hang,
                    seen_429: &state.seen_429,
                };
                let post = (method == Method::POST).then_some(post_body.as_slice());
                routes::route(&ctx, h, &path, &query, post)
            }
        };
        (reply, host, o.generation())
    };

    let mut builder = Response::builder().status(reply.status);
    let mut status = reply.status;
    let mut body = reply.body;
    let conditional = inm.is_some() || ims.is_some();
    if reply.status == StatusCode::OK && reply.cacheable {
        let etag = etag_of(&body);
        let lm = last_modified(generation);
        let not_modified = match (&inm, &ims) {
            (Some(tags), _) => etag_matches(tags, &etag),
            (None, Some(since)) => parse_http_date(since).is_some_and(|s| s >= lm),
            _ => false,
        };
        builder = builder
            .header(header::ETAG, etag)
            .header(header::LAST_MODIFIED, http_date(lm))
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::VARY, "Accept-Encoding");
        if not_modified {
            status = StatusCode::NOT_MODIFIED;
            builder = builder.status(status);
            body = Vec::new();
        } else if accept_gzip
            && body.len() > 512
            && body.len() <= GZIP_MAX_BYTES
            && let Some(z) = gzip(&body)
        {
            body = z;
            builder = builder.header(header::CONTENT_ENCODING, "gzip");
        }
    }
    if status != StatusCode::NOT_MODIFIED {
        builder = builder.header(header::CONTENT_TYPE, reply.content_type);
    }
    if let Some(loc) = &reply.location {
        builder = builder.header(header::LOCATION, loc);
    }
    if let Some(secs) = reply.retry_after {
        builder = builder.header(header::RETRY_AFTER, secs.to_string());
    }
    if https && host_spec.as_ref().is_some_and(|h| h.hsts) {
        builder = builder.header(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    let bytes = if method == Method::HEAD {
        0
    } else {
        body.len()
    };
    record(
        &state,
        RequestRecord {
            method: method.to_string(),
            scheme: if https { "https" } else { "http" }.to_string(),
            host: host_header,
            path: path_q,
            status: status.as_u16(),
            bytes: bytes as u64,
            time_ms: u64::try_from(arrived.as_millis()).unwrap_or(u64::MAX),
            conditional,
            user_agent,
            version,
        },
    )
    .await;
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    if method == Method::HEAD {
        body = Vec::new();
    }
    let response = builder
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()));
    Ok(response)
}

async fn record(state: &State, rec: RequestRecord) {
    if let Some(tx) = &state.log_tx {
        let _ = tx.send(rec.clone()).await;
    }
    let mut log = state.log.lock().unwrap_or_else(|e| e.into_inner());
    if log.len() < MAX_LOG {
        log.push(rec);
    }
}

/// Append log records to `requests.jsonl`, flushing whenever the queue is empty.
pub(crate) async fn log_writer(
    path: std::path::PathBuf,
    mut rx: mpsc::Receiver<RequestRecord>,
    mut stop: watch::Receiver<bool>,
) {
    use tokio::io::AsyncWriteExt;
    let Ok(file) = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await
    else {
        tracing::warn!(path = %path.display(), "cannot open the request log");
        return;
    };
    let mut w = tokio::io::BufWriter::new(file);
    loop {
        let rec = tokio::select! {
            r = rx.recv() => r,
            _ = stop.changed() => {
                // Drain what is queued, then stop.
                while let Ok(rec) = rx.try_recv() {
                    if let Ok(mut line) = serde_json::to_vec(&rec) {
                        line.push(b'\n');
                        let _ = w.write_all(&line).await;
                    }
                }
                None
            }
        };
        let Some(rec) = rec else { break };
        if let Ok(mut line) = serde_json::to_vec(&rec) {
            line.push(b'\n');
            if w.write_all(&line).await.is_err() {
                return;
            }
        }
        if rx.is_empty() && w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.flush().await;
}

/// Accept loop of one listener; `acceptor` is `None` for plain HTTP.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            r = listener.accept() => r,
        };
        let Ok((tcp, _peer)): Result<(tokio::net::TcpStream, SocketAddr), _> = accepted else {
            // Out of descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let state = state.clone();
        let acceptor = acceptor.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tcp.set_nodelay(true);
            match acceptor {
                Some(acceptor) => {
                    // Read the ClientHello first: a host whose agency is down never completes
                    // a handshake (the connection is dropped), as an unreachable portal.
                    let lazy = tokio_rustls::LazyConfigAcceptor::new(
                        rustls::server::Acceptor::default(),
                        tcp,
                    );
                    let handshake = async {
                        let start = lazy.await?;
                        let name = start.client_hello().server_name().map(str::to_string);
                        if name.is_some_and(|n| state.host_down(&n)) {
                            return Err(std::io::Error::other("agency down"));
                        }
                        start.into_stream(acceptor.config().clone()).await
                    };
                    let tls = tokio::select! {
                        _ = stop.changed() => return,
                        r = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake) => r,
                    };
                    let Ok(Ok(tls)) = tls else { return };
                    let sni = tls.get_ref().1.server_name().map(str::to_string);
                    serve_conn(TokioIo::new(tls), state, true, sni, stop).await;
                }
                None => serve_conn(TokioIo::new(tcp), state, false, None, stop).await,
            }
        });
    }
}

async fn serve_conn<I>(
    io: I,
    state: Arc<State>,
    https: bool,
    sni: Option<String>,
    mut stop: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let state_version = state.http_version;
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (state, sni) = (state.clone(), sni.clone());
        async move {
            // A down agency's plain-HTTP host closes the connection without an answer.
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| {
                    h.rsplit_once(':')
                        .map_or(h, |(name, _)| name)
                        .to_ascii_lowercase()
                });
            if !https && host.is_some_and(|h| state.host_down(&h)) {
                return Err(std::io::Error::other("agency down"));
            }
            handle(state, https, sni, req)
                .await
                .map_err(|e: Infallible| match e {})
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // The HTTPS listener speaks what its ALPN offers; plain HTTP always speaks both.
    let builder = match state_version {
        crate::config::HttpVersion::Http1 if https => builder.http1_only(),
        crate::config::HttpVersion::Http2 if https => builder.http2_only(),
        _ => builder,
    };
    let conn = builder.serve_connection(io, svc);
    tokio::select! {
        _ = conn => {}
        _ = stop.changed() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_round_trip_and_move_with_generation() {
        let a = last_modified(0);
        let s = http_date(a);
        assert_eq!(s, "Mon, 05 Jan 2026 08:00:00 GMT");
        assert_eq!(parse_http_date(&s), Some(a));
        assert!(last_modified(1) > a);
    }

    #[test]
    fn etag_lists_and_weak_tags_match() {
        assert!(etag_matches("\"a\", W/\"b\"", "\"b\""));
        assert!(etag_matches("*", "\"x\""));
        assert!(!etag_matches("\"a\"", "\"b\""));
    }
}
