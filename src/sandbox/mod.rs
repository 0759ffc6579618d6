//! The sandbox portal world: simulated government portals served over HTTPS on loopback, with
//! planted defects and a ground truth. The contract (URLs, markup, JSON, defect names) is
//! docs/sandbox-world.md.
//!
//! Design:
//! - [`World`] is deterministic from `(Size, seed)`. Only the skeleton (agencies, hosts, the
//!   short list of planted service defects) is stored; each service is derived on demand from
//!   `(seed, agency, index)` with ChaCha8, so the nation world (200,000 services) is cheap.
//! - [`Overrides`] is the effective, mutable state over a world: a test replaces a service or
//!   a host (fix a defect, plant one) through [`SandboxHandle::mutate`]; pages, certificates and
//!   the ground truth follow, because defects are computed from the served fields.
//! - [`serve`] starts one HTTPS listener (certificate chosen by SNI) and one plain-HTTP
//!   listener on 127.0.0.1 for every host, with certificates generated at start (`pki.rs`).

mod audit_toml;
mod catalog;
mod drift;
mod overrides;
mod pki;
mod plant;
mod platforms;
mod render;
mod routes;
mod server;
mod service;
mod truth;
mod world;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use drift::{DayChanges, Drift};
pub use overrides::Overrides;

/// The `audit.toml` for a world served on `ports` (what `sandbox serve --out` writes).
pub fn config_toml(world: &World, ports: Ports) -> String {
    audit_toml::render(world, ports)
}
pub use server::RequestRecord;
pub use service::{Behaviour, Provider, ServiceSpec};
pub use truth::{AgencyTruth, GroundTruth, HostTruth, Ports, ServiceTruth, SignatureTruth};
pub use world::{
    AgencySpec, CertDefect, HostRole, HostSpec, LevelScheme, Outage, Shape, Size, World,
};

/// The body of `s`'s detail page as served with normal behaviour (UTF-8, no padding), or
/// `None` for shapes without a readable detail (`spa-noapi`). For benchmarks and tests that need
/// the world's pages without a server; the server itself adds the planted transport defects.
pub fn detail_body(a: &AgencySpec, s: &ServiceSpec) -> Option<String> {
    match a.shape {
        Shape::Accordion => Some(render::accordion_detail(a, s, "utf-8")),
        Shape::Table => Some(render::table_detail(a, s, "utf-8")),
        Shape::Spa => Some(render::api_detail(a, s).to_string()),
        Shape::SpaNoapi => None,
        _ => platforms::detail_body(a, s),
    }
}

/// Every defect name the sandbox can plant (docs/sandbox-world.md, "Planted defects").
pub const DEFECTS: [&str; 25] = [
    "full_without_signature",
    "site_wide_signature_only",
    "no_level_label",
    "level_scheme_old",
    "level_scheme_new",
    "cert_expired",
    "cert_not_yet_valid",
    "cert_wrong_host",
    "cert_untrusted_issuer",
    "cert_incomplete_chain",
    "cert_gov_anchor_only",
    "no_hsts",
    "no_https_redirect",
    "robots_disallow",
    "slow_page",
    "hanging_page",
    "server_error",
    "rate_limited_429",
    "redirect_loop",
    "windows_1258_page",
    "oversized_page",
    "injected_markup_name",
    "spa_without_api",
    "pagination_loop",
    "tcvn3_page",
];

/// Defects no world plants, set by tests through [`Overrides::service`] (`behaviour`), so the
/// demo world's counts stay as they are. Each is in the ground truth of the service it is set on.
pub const OVERRIDE_DEFECTS: [&str; 3] = [
    "windows_1258_lying_header",
    "mixed_charsets_page",
    "tcvn3_undeclared_page",
];

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("certificate generation failed: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How to serve a world.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// HTTPS port on 127.0.0.1; `None` = ephemeral.
    pub https_port: Option<u16>,
    /// Plain-HTTP port on 127.0.0.1; `None` = ephemeral.
    pub http_port: Option<u16>,
    /// Where to write `ca.pem`, `gov-ca.pem`, `audit.toml`, `ground-truth.json`,
    /// `requests.jsonl`. `None` = write nothing.
    pub out_dir: Option<PathBuf>,
    /// Delay of `slow_page` (expect ok).
    pub slow_delay: Duration,
    /// Delay of `hanging_page` (far above the generated config's read timeout).
    pub hang_delay: Duration,
    /// HTTP versions the HTTPS listener offers in ALPN and speaks: `auto` both (the default),
    /// `http1` or `http2` alone (plain HTTP always serves both).
    pub http_version: crate::config::HttpVersion,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            https_port: None,
            http_port: None,
            out_dir: None,
            slow_delay: Duration::from_millis(1500),
            hang_delay: Duration::from_secs(120),
            http_version: crate::config::HttpVersion::Auto,
        }
    }
}

/// A running sandbox. Dropping it stops the listeners.
pub struct SandboxHandle {
    state: Arc<server::State>,
    world: World,
    ca_pem: String,
    gov_ca_pem: String,
    out_dir: Option<PathBuf>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("world", &self.world)
            .field("ports", &self.state.ports)
            .finish()
    }
}

fn write(path: &Path, contents: &[u8]) -> Result<(), SandboxError> {
    std::fs::write(path, contents).map_err(|source| SandboxError::Write {
        path: path.to_path_buf(),
        source,
    })
}

async fn bind(port: Option<u16>) -> Result<TcpListener, SandboxError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port.unwrap_or(0)));
    TcpListener::bind(addr)
        .await
        .map_err(|source| SandboxError::Bind { addr, source })
}

/// Serve `world` on 127.0.0.1 until the handle is shut down or dropped.
pub async fn serve(world: World, opts: ServeOptions) -> Result<SandboxHandle, SandboxError> {
    crate::install_crypto_provider();
    let https = bind(opts.https_port).await?;
    let http = bind(opts.http_port).await?;
    let local = |l: &TcpListener, addr_port: Option<u16>| {
        l.local_addr()
            .map(|a| a.port())
            .unwrap_or(addr_port.unwrap_or(0))
    };
    let ports = Ports {
        https: local(&https, opts.https_port),
        http: local(&http, opts.http_port),
    };

    // Certificates: ECDSA key generation is CPU work; keep it off the async workers.
    let hosts: Vec<(String, Option<CertDefect>)> = world
        .base_hosts()
        .iter()
        .map(|h| (h.name.clone(), h.cert))
        .collect();
    let (pki, certs, fallback) = tokio::task::spawn_blocking(move || {
        let pki = pki::Pki::generate()?;
        let mut certs = HashMap::new();
        for (name, defect) in &hosts {
            certs.insert(name.clone(), pki.leaf(name, *defect)?);
        }
        let fallback = pki.leaf("sandbox.test", None)?;
        Ok::<_, SandboxError>((pki, certs, fallback))
    })
    .await
    .map_err(|e| SandboxError::Write {
        path: PathBuf::from("<certificate task>"),
        source: std::io::Error::other(e.to_string()),
    })??;
    let resolver = Arc::new(pki::SniResolver::new(certs, fallback));
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(resolver.clone());
    tls.alpn_protocols = match opts.http_version {
        crate::config::HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        crate::config::HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        crate::config::HttpVersion::Http2 => vec![b"h2".to_vec()],
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let ca_pem = pki.web_bundle_pem();
    let gov_ca_pem = pki.gov_root_pem();
    let mut tasks = Vec::new();
    let (stop, stop_rx) = watch::channel(false);
    let log_tx = match &opts.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| SandboxError::Write {
                path: dir.clone(),
                source,
            })?;
            write(&dir.join("ca.pem"), ca_pem.as_bytes())?;
            write(&dir.join("gov-ca.pem"), gov_ca_pem.as_bytes())?;
            write(
                &dir.join("audit.toml"),
                audit_toml::render(&world, ports).as_bytes(),
            )?;
            write(&dir.join("requests.jsonl"), b"")?;
            let (tx, rx) = mpsc::channel(65_536);
            tasks.push(tokio::spawn(server::log_writer(
                dir.join("requests.jsonl"),
                rx,
                stop_rx.clone(),
            )));
            Some(tx)
        }
        None => None,
    };
    let state = Arc::new(server::State {
        overrides: RwLock::new(Overrides::new(world.clone())),
        ports,
        start: Instant::now(),
        log: Mutex::new(Vec::new()),
        log_tx,
        seen_429: Mutex::new(HashSet::new()),
        resolver,
        pki,
        slow: opts.slow_delay,
        hang: opts.hang_delay,
        http_version: opts.http_version,
        truth_write: Mutex::new(()),
        truth_latest: std::sync::atomic::AtomicU64::new(0),
    });
    tasks.push(tokio::spawn(server::accept_loop(
        https,
        Some(acceptor),
        state.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(server::accept_loop(
        http,
        None,
        state.clone(),
        stop_rx,
    )));
    let handle = SandboxHandle {
        state,
        world,
        ca_pem,
        gov_ca_pem,
        out_dir: opts.out_dir,
        stop,
        tasks,
    };
    handle.write_ground_truth()?;
    Ok(handle)
}

impl SandboxHandle {
    pub fn https_port(&self) -> u16 {
        self.state.ports.https
    }
    pub fn http_port(&self) -> u16 {
        self.state.ports.http
    }
    pub fn ports(&self) -> Ports {
        self.state.ports
    }
    pub fn world(&self) -> &World {
        &self.world
    }
    /// The sandbox "public web" root certificate followed by its issuing intermediate (PEM),
    /// as written to `ca.pem`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
    /// The sandbox "government" root certificate (PEM), an extra anchor like VGCA.
    pub fn gov_ca_pem(&self) -> &str {
        &self.gov_ca_pem
    }
    pub fn out_dir(&self) -> Option<&Path> {
        self.out_dir.as_deref()
    }
    /// `host:port:127.0.0.1` entries for every host and both ports (curl's `--resolve`).
    pub fn resolve_entries(&self) -> Vec<String> {
        let p = self.state.ports;
        self.world
            .base_hosts()
            .iter()
            .flat_map(|h| {
                [
                    format!("{}:{}:127.0.0.1", h.name, p.https),
                    format!("{}:{}:127.0.0.1", h.name, p.http),
                ]
            })
            .collect()
    }

    /// Every request served so far (bounded at one million records; the JSONL file in
    /// `out_dir` has them all).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forget the in-memory request log (not the JSONL file).
    pub fn clear_request_log(&self) {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The ground truth of the world as currently served.
    pub fn ground_truth(&self) -> GroundTruth {
        self.overrides().ground_truth(self.state.ports)
    }

    /// A snapshot of the effective world.
    pub fn overrides(&self) -> Overrides {
        self.state
            .overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The `audit.toml` for this world (also written to `out_dir/audit.toml`).
    pub fn config_toml(&self) -> String {
        audit_toml::render(&self.world, self.state.ports)
    }

    /// Change the world between runs. Certificates of hosts whose `cert` changed are
    /// regenerated; `ground-truth.json` is rewritten; `Last-Modified` moves forward.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut Overrides) -> R) -> Result<R, SandboxError> {
        let (r, changed) = {
            let mut o = self
                .state
                .overrides
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let before = o.hosts();
            let r = f(&mut o);
            o.bump();
            let changed: Vec<(String, Option<CertDefect>)> = o
                .hosts()
                .into_iter()
                .zip(before)
                .filter(|(after, before)| after.cert != before.cert)
                .map(|(after, _)| (after.name, after.cert))
                .collect();
            (r, changed)
        };
        for (name, defect) in changed {
            let cert = self.state.pki.leaf(&name, defect)?;
            self.state.resolver.set(&name, cert);
        }
        self.write_ground_truth()?;
        Ok(r)
    }

    /// Drift the served world by days `1..=drift.day` (see [`Drift`]) on top of its current
    /// state: pages, certificates and the ground truth follow.
    pub fn drift(&self, drift: &Drift) -> Result<Vec<DayChanges>, SandboxError> {
        self.mutate(|o| o.apply_drift(drift))
    }

    /// Write `ground-truth.json` (via a temporary file and a rename, so a reader never sees
    /// half a file). Worlds above [`BACKGROUND_TRUTH_SERVICES`] services are written on a
    /// background thread (the nation world's file is ~90 MB and takes seconds); a newer
    /// mutation's write supersedes an older one still waiting.
    fn write_ground_truth(&self) -> Result<(), SandboxError> {
        let Some(dir) = self.out_dir.clone() else {
            return Ok(());
        };
        let snapshot = self.overrides();
        let ports = self.state.ports;
        let generation = snapshot.generation();
        self.state
            .truth_latest
            .store(generation, std::sync::atomic::Ordering::SeqCst);
        if self.world.service_count() <= BACKGROUND_TRUTH_SERVICES {
            return write_truth_file(&dir, &snapshot, ports);
        }
        let state = self.state.clone();
        std::thread::spawn(move || {
            let _serial = state.truth_write.lock().unwrap_or_else(|e| e.into_inner());
            if state.truth_latest.load(std::sync::atomic::Ordering::SeqCst) != generation {
                return;
            }
            if let Err(e) = write_truth_file(&dir, &snapshot, ports) {
                tracing::warn!("ground truth not written: {e}");
            }
        });
        Ok(())
    }

    /// Stop the listeners and wait for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            if t.await.is_err() {
                tracing::debug!("sandbox task ended abnormally");
            }
        }
    }
}

/// Above this many services, `ground-truth.json` is written in the background.
pub const BACKGROUND_TRUTH_SERVICES: usize = 20_000;

fn write_truth_file(dir: &Path, o: &Overrides, ports: Ports) -> Result<(), SandboxError> {
    let path = dir.join("ground-truth.json");
    let tmp = dir.join(format!(".ground-truth.json.{}", o.generation()));
    let io_err = |source| SandboxError::Write {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::create(&tmp).map_err(io_err)?;
    let mut w = std::io::BufWriter::new(file);
    o.write_ground_truth(ports, &mut w)
        .map_err(|e| io_err(std::io::Error::other(e)))?;
    std::io::Write::flush(&mut w).map_err(io_err)?;
    drop(w);
    std::fs::rename(&tmp, &path).map_err(io_err)
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
