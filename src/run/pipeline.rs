//! One audit run: plan → probe → crawl, each agency settled as its walk ends (facts stored,
//! rules evaluated, reduced to its findings: see `settle`) → store findings (lifecycle) →
//! report → notify. Storage is one transaction per agency and kind, so an interrupted run keeps
//! every agency it settled and is marked incomplete; memory holds the walks in flight and the
//! findings, never the whole country's facts.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use super::lock::{LockError, RunLock};
use super::sample;
use super::settle::{NotApplicableHints, Settle, Settled, Tally, blocking, record};
use super::setup::Setup;
use crate::config::AgencyConfig;
use crate::crawl::walk::{self, AgencyCrawl, AgencyJob, NoCache, PageCache, Progress};
use crate::exit::ExitCode;
use crate::extract::AgencyVars;
use crate::facts::{AgencyFacts, HostFacts, Severity};
use crate::report::{self, AgencyMeta, Mode, RuleInfo};
use crate::rules::Outcome;
use crate::store::{self, RunDiff, RunStart, Scope, Store};

/// Ended walks whose pages are unpacked at once: the agency being stored and the next one
/// (see `crawl::walk::Walked`).
const FINISHING: usize = 2;

/// How a run was asked for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Mode,
    /// Only these agencies (empty: all configured).
    pub agencies: Vec<String>,
    /// Surprise: number of agencies to draw (None: all selected).
    pub sample_agencies: Option<usize>,
    /// Surprise: number of services to draw per agency (None: all listed).
    pub sample_services: Option<usize>,
    /// Surprise: the seed (None: drawn and recorded).
    pub seed: Option<u64>,
    /// Extra `host:port:addr` pins (`--resolve`).
    pub resolve: Vec<String>,
    /// Send email (when `[email] enabled`).
    pub send_mail: bool,
    /// Override `audit.fail_on`.
    pub fail_on: Option<Severity>,
    /// Show a progress bar (a terminal) rather than periodic log lines.
    pub tty: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            mode: Mode::Regular,
            agencies: Vec::new(),
            sample_agencies: None,
            sample_services: None,
            seed: None,
            resolve: Vec::new(),
            send_mail: true,
            fail_on: None,
            tty: false,
        }
    }
}

/// What a run did, for the terminal and for tests.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: i64,
    pub mode: Mode,
    pub seed: Option<u64>,
    pub agencies: Vec<String>,
    pub services: usize,
    pub hosts: usize,
    pub pages_fetched: usize,
    pub bytes_wire: u64,
    /// Failures not covered by a waiver.
    pub findings: usize,
    pub waived: usize,
    /// Could-not-assess lines: one per subject and reason (as every report counts them).
    pub could_not_assess: usize,
    /// The most severe unwaived failure, or unverified finding (not known to be fixed).
    pub worst: Option<Severity>,
    /// The report's totals: the numbers every output prints (terminal, reports, email).
    pub totals: report::Totals,
    /// Each agency's coverage in this run.
    pub coverage: BTreeMap<String, crate::facts::Coverage>,
    /// The lifecycle by fingerprint, waived failures included: for tests and tools; what
    /// is printed is `totals`.
    pub diff: RunDiff,
    pub reports: Vec<PathBuf>,
    pub mail_sent: usize,
    pub mail_pending: usize,
    pub complete: bool,
    pub notes: Vec<String>,
    pub exit: ExitCode,
    /// Wall-clock seconds per stage, in order (`probe`, `crawl`, `judge`, `report`, `email`).
    pub stage_secs: Vec<(&'static str, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Lock(#[from] LockError),
    #[error("unknown agency id {0:?} (see [[agency]] in the configuration)")]
    UnknownAgency(String),
    #[error("storage: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("TLS settings: {0}")]
    Probe(#[from] crate::probe::ProbeError),
    #[error("run {run} interrupted ({why}); marked incomplete, earlier runs untouched")]
    Interrupted { run: i64, why: String },
}

impl RunError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            RunError::Lock(LockError::Held { .. }) => ExitCode::Locked,
            RunError::UnknownAgency(_) | RunError::Probe(_) => ExitCode::ConfigError,
            // Another application's database: nothing was run.
            RunError::Store(store::StoreError::Foreign { .. }) => ExitCode::ConfigError,
            _ => ExitCode::Incomplete,
        }
    }
}

fn agency_facts(a: &AgencyConfig) -> AgencyFacts {
    AgencyFacts {
        id: a.id.clone(),
        name: a.name.clone(),
        name_en: a.name_en.clone(),
        kind: a.kind,
        portal: a.portal.clone(),
        platform: a.platform.clone(),
        jurisdiction: a.jurisdiction.clone(),
    }
}

/// `(host, port)` of a URL's HTTPS side, the address its host is probed and judged on. A
/// portal configured as `http://host[:port]/` is probed on port 443 of its host: the host
/// rules judge the host's HTTPS (HTTP-004 when it refuses it), and its plain HTTP is asked on
/// `crawl.http_port` as for every host. (Probing the plain-HTTP port itself would be a TLS
/// handshake against an HTTP server: could not assess, whatever the host offers.)
pub(crate) fn host_port(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    let port = match u.scheme() {
        "http" => 443,
        _ => u.port_or_known_default()?,
    };
    Some((u.host_str()?.to_ascii_lowercase(), port))
}

/// Resolves when a stop was requested (SIGINT/SIGTERM); never when there is no channel.
async fn stopped(stop: &mut Option<watch::Receiver<bool>>) -> String {
    match stop {
        Some(rx) => loop {
            if *rx.borrow() {
                return "interrupted by a signal".into();
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        },
        None => std::future::pending().await,
    }
}

/// Run an audit. `stop` flips to `true` on SIGINT/SIGTERM.
pub async fn run(
    setup: &Setup,
    opts: RunOptions,
    mut stop: Option<watch::Receiver<bool>>,
) -> Result<RunSummary, RunError> {
    let cfg = &setup.loaded.config;

    // Plan.
    for id in &opts.agencies {
        if !cfg.agencies.iter().any(|a| &a.id == id) {
            return Err(RunError::UnknownAgency(id.clone()));
        }
    }
    let mut selected: Vec<&AgencyConfig> = cfg
        .agencies
        .iter()
        .filter(|a| opts.agencies.is_empty() || opts.agencies.contains(&a.id))
        .collect();
    let seed = match opts.mode {
        Mode::Surprise => Some(opts.seed.unwrap_or_else(sample::draw_seed)),
        _ => opts.seed,
    };
    if let (Mode::Surprise, Some(seed)) = (opts.mode, seed) {
        let ids: Vec<String> = selected.iter().map(|a| a.id.clone()).collect();
        let chosen: BTreeSet<String> = sample::sample(&ids, opts.sample_agencies, seed)
            .into_iter()
            .collect();
        selected.retain(|a| chosen.contains(&a.id));
    }
    let agency_ids: Vec<String> = selected.iter().map(|a| a.id.clone()).collect();
    let service_sample = match (opts.mode, seed) {
        (Mode::Surprise, Some(_)) => opts.sample_services,
        _ => None,
    };

    // Lock, store, run row.
    let db = setup.loaded.path(&cfg.storage.sqlite);
    let _lock = RunLock::acquire(&db)?;
    let mut store = Store::open(&db)?;
    let run_id = store.begin_run(&RunStart {
        mode: opts.mode.as_str().to_string(),
        scope: Scope {
            agencies: agency_ids.clone(),
            services: None,
        },
        seed,
        ruleset_digest: format!("{}+{}", setup.rules.digest(), setup.rules.settings_digest()),
        config_digest: setup.loaded.digest.clone(),
    })?;
    let agencies: Vec<AgencyFacts> = selected.iter().map(|a| agency_facts(a)).collect();
    store.record_agencies(run_id, &agencies)?;
    // What judges this run: the lifecycle resolves only findings of rules evaluated here.
    store.record_rules(run_id, &setup.rules.judgement_keys())?;
    tracing::info!(
        run_id,
        agencies = agencies.len(),
        mode = opts.mode.as_str(),
        "run started"
    );

    let result = stages(
        setup,
        &opts,
        &mut stop,
        &mut store,
        run_id,
        &selected,
        seed,
        service_sample,
    )
    .await;
    match result {
        Ok(summary) => Ok(summary),
        Err(e) => {
            let why = match &e {
                RunError::Interrupted { why, .. } => why.clone(),
                other => other.to_string(),
            };
            // Keep what was stored; never let a failed run become a baseline.
            let _ = store.mark_incomplete(run_id, &why);
            if cfg.email.enabled && opts.send_mail {
                flush_outbox(setup).await;
            }
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn stages(
    setup: &Setup,
    opts: &RunOptions,
    stop: &mut Option<watch::Receiver<bool>>,
    store: &mut Store,
    run_id: i64,
    selected: &[&AgencyConfig],
    seed: Option<u64>,
    service_sample: Option<usize>,
) -> Result<RunSummary, RunError> {
    // The run's wall-clock budget (`crawl.max_run_minutes`) counts from its first stage.
    let started = std::time::Instant::now();
    let cfg = &setup.loaded.config;
    let db = setup.loaded.path(&cfg.storage.sqlite);

    // Probe every host a citizen touches (portal + extra hosts), once per host; first, so each
    // agency can be judged (its host and aggregate rules) the moment its walk ends.
    let mut host_agencies: BTreeMap<(String, u16), Vec<String>> = BTreeMap::new();
    for a in selected {
        for url in std::iter::once(&a.portal).chain(a.extra_hosts.iter()) {
            if let Some(hp) = host_port(url) {
                host_agencies.entry(hp).or_default().push(a.id.clone());
            }
        }
    }
    let probe_cfg = setup.probe_config(&opts.resolve)?;
    let host_list: Vec<(String, u16)> = host_agencies.keys().cloned().collect();
    let mut stage_secs: Vec<(&'static str, f64)> = Vec::new();
    let mut stage_start = std::time::Instant::now();
    tracing::info!(run_id, hosts = host_list.len(), "probe started");
    let probed = tokio::select! {
        p = crate::probe::probe_hosts(&probe_cfg, &host_list) => p,
        why = stopped(stop) => {
            return Err(RunError::Interrupted { run: run_id, why: format!("{why} during the TLS probe") });
        }
    };
    let mut hosts_by_agency: BTreeMap<String, Vec<HostFacts>> = BTreeMap::new();
    let mut host_rows = Vec::new();
    for h in &probed {
        let key = (
            h.name.to_ascii_lowercase(),
            u16::try_from(h.port).unwrap_or(0),
        );
        for agency in host_agencies.get(&key).into_iter().flatten() {
            hosts_by_agency
                .entry(agency.clone())
                .or_default()
                .push(h.clone());
            host_rows.push((agency.clone(), h.clone()));
        }
    }
    store.record_hosts(run_id, &host_rows)?;
    stage_secs.push(("probe", stage_start.elapsed().as_secs_f64()));
    tracing::info!(
        run_id,
        hosts = probed.len(),
        secs = stage_start.elapsed().as_secs(),
        "probe finished"
    );
    stage_start = std::time::Instant::now();
    tracing::info!(run_id, agencies = selected.len(), "crawl started");

    // Crawl every selected agency (bounded by the fetcher's global and per-host limits).
    let fetcher = crate::crawl::fetcher_until(&cfg.crawl, &opts.resolve, started)?;
    let cache: Arc<dyn PageCache> = match store::CacheReader::open(&db) {
        Ok(r) => Arc::new(r),
        Err(_) => Arc::new(NoCache),
    };
    let progress = Arc::new(Progress::default());
    progress
        .agencies_planned
        .store(selected.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let reporter = crate::crawl::progress::spawn_reporter_with(
        Arc::clone(&progress),
        opts.tty,
        crate::crawl::progress::LOG_EVERY,
        crate::crawl::progress::Limits {
            per_host_rate: cfg.crawl.per_host_rate,
            agencies_in_flight: u64::from(cfg.crawl.agencies_in_flight),
        },
    );
    let jobs: Vec<AgencyJob> = selected
        .iter()
        .filter_map(|a| {
            let profile = setup.profiles.get(&a.platform)?.clone();
            let mut vars = AgencyVars::new(&a.id, &a.portal);
            // URL-valued variables are written with or without a trailing `/`; templates add
            // their own (`{api}/api/v1/...`).
            vars.extend(
                a.vars
                    .iter()
                    .map(|(k, v)| (k.clone(), v.trim_end_matches('/').to_string())),
            );
            Some(AgencyJob {
                agency_id: a.id.clone(),
                vars,
                profile,
                max_pages: cfg.crawl.max_pages_per_agency,
                sample: service_sample.zip(seed.map(|s| sample::sub_seed(s, &a.id))),
                redirect_hosts: a
                    .extra_hosts
                    .iter()
                    .filter_map(|h| url::Url::parse(h).ok()?.host_str().map(str::to_string))
                    .chain(cfg.crawl.redirect_allow_hosts.iter().cloned())
                    .collect(),
            })
        })
        .collect();
    // One task per agency, so extraction of different portals runs on every worker thread (a
    // single task polling every walk kept the parsing on one core: half the throughput). At
    // most `crawl.agencies_in_flight` walks at once (each holds its agency's facts until it
    // ends), the largest portals of the previous run first, so the longest walks do not start
    // last. The fetcher bounds the requests in flight; dropping the set on a stop aborts the
    // walks.
    let last_size = store.last_service_counts().unwrap_or_default();
    let mut jobs = jobs;
    jobs.sort_by_key(|j| std::cmp::Reverse(last_size.get(&j.agency_id).copied().unwrap_or(0)));
    let mut queue = jobs.into_iter();
    let in_flight = usize::try_from(cfg.crawl.agencies_in_flight)
        .unwrap_or(usize::MAX)
        .max(1);
    let mut walks = tokio::task::JoinSet::new();
    let mut walk_ids = BTreeMap::new();
    // A walk keeps its pages packed until it holds one of these: at most `FINISHING` agencies
    // are unpacked at once (the one being stored and the next), however many walks have
    // ended waiting for the store (issue 20). Held until the agency is stored.
    let finishing = Arc::new(tokio::sync::Semaphore::new(FINISHING));
    type Finished = (AgencyCrawl, Option<tokio::sync::OwnedSemaphorePermit>);
    type Walks = tokio::task::JoinSet<Finished>;
    type WalkIds = BTreeMap<tokio::task::Id, String>;
    let mut spawn_next = |walks: &mut Walks, walk_ids: &mut WalkIds| {
        let Some(job) = queue.next() else { return };
        let agency = job.agency_id.clone();
        let (f, c, p, finishing) = (
            Arc::clone(&fetcher),
            Arc::clone(&cache),
            Arc::clone(&progress),
            Arc::clone(&finishing),
        );
        let handle = walks.spawn(async move {
            let walked = walk::crawl_pages(&f, job, c.as_ref(), &p).await;
            // The semaphore is never closed; without a permit the walk finishes anyway.
            let permit = finishing.acquire_owned().await.ok();
            (walked.finish(), permit)
        });
        walk_ids.insert(handle.id(), agency);
    };
    for _ in 0..in_flight {
        spawn_next(&mut walks, &mut walk_ids);
    }
    // Each agency is settled (stored, evaluated, reduced to its findings) as its walk ends;
    // `slots` follows `selected`, so the outcomes are gathered in configuration order whatever
    // order the walks end in.
    let today = time::OffsetDateTime::now_utc().date();
    let facts: Vec<AgencyFacts> = selected.iter().map(|a| agency_facts(a)).collect();
    let index: BTreeMap<&str, usize> = selected
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let mut slots: Vec<Option<Settled>> = (0..selected.len()).map(|_| None).collect();
    let no_hosts: Vec<HostFacts> = Vec::new();
    let sampled = service_sample.is_some();
    let hints = NotApplicableHints::new(&setup.rules, store.changed_rules(run_id)?);
    let judge = Settle {
        setup,
        hints: &hints,
        run_id,
        sampled,
        today,
    };
    let crawl = async {
        while let Some(joined) = walks.join_next_with_id().await {
            spawn_next(&mut walks, &mut walk_ids);
            let (c, permit) = match joined {
                Ok((_, c)) => c,
                Err(e) => {
                    // A walk that panicked: its agency could not be assessed, the run goes on.
                    let agency = walk_ids.get(&e.id()).cloned().unwrap_or_default();
                    (
                        AgencyCrawl {
                            agency_id: agency.clone(),
                            could_not_assess: Some(crate::facts::ErrorFact {
                                kind: crate::facts::AssessReason::NoData,
                                message: format!("the walk of {agency} stopped: {e}"),
                            }),
                            ..AgencyCrawl::default()
                        },
                        None,
                    )
                }
            };
            let Some(&i) = index.get(c.agency_id.as_str()) else {
                continue;
            };
            let (Some(f), Some(slot)) = (facts.get(i), slots.get_mut(i)) else {
                continue;
            };
            let hosts = hosts_by_agency.get(&f.id).unwrap_or(&no_hosts);
            let s = blocking(|| judge.agency(store, f, c, hosts))?;
            *slot = Some(s);
            // Stored: the next ended walk may unpack its pages.
            drop(permit);
        }
        Ok::<(), RunError>(())
    };
    tokio::select! {
        r = crawl => r?,
        why = stopped(stop) => {
            reporter.finish();
            return Err(RunError::Interrupted { run: run_id, why: format!("{why} during the crawl") });
        }
    };
    reporter.finish();
    // The crawl's connections, the page-cache reader (its SQLite cache and decoders) and the
    // ended walks are not needed by the stages after it (issue 20).
    drop(walks);
    drop(cache);
    drop(fetcher);
    // Agencies no walk was started for (no profile for their platform): judged on no services.
    for (i, slot) in slots.iter_mut().enumerate() {
        if slot.is_none()
            && let Some(f) = facts.get(i)
        {
            let hosts = hosts_by_agency.get(&f.id).unwrap_or(&no_hosts);
            let empty = AgencyCrawl {
                agency_id: f.id.clone(),
                ..AgencyCrawl::default()
            };
            *slot = Some(judge.agency(store, f, empty, hosts)?);
        }
    }
    // Every slot is filled by now; `unwrap_or_default` keeps `settled` aligned with `facts`.
    let settled: Vec<Settled> = slots.into_iter().map(Option::unwrap_or_default).collect();
    let mut notes: Vec<String> = settled.iter().flat_map(|s| s.notes.clone()).collect();
    let n_services: usize = settled.iter().map(|s| s.services).sum();
    let n_pages: usize = settled.iter().map(|s| s.pages).sum();
    let bytes_wire: u64 = settled.iter().map(|s| s.bytes_wire).sum();
    stage_secs.push(("crawl", stage_start.elapsed().as_secs_f64()));
    tracing::info!(
        run_id,
        agencies = settled.len(),
        services = n_services,
        pages = n_pages,
        bytes_wire,
        secs = stage_start.elapsed().as_secs(),
        "crawl finished"
    );
    stage_start = std::time::Instant::now();
    if sampled {
        // Agencies are crawled concurrently: record the sample in a stable order, so the same
        // seed records the same scope.
        let mut keys: Vec<String> = settled
            .iter()
            .flat_map(|s| s.service_keys.iter().cloned())
            .collect();
        keys.sort();
        store.set_scope(
            run_id,
            &Scope {
                agencies: selected.iter().map(|a| a.id.clone()).collect(),
                services: Some(keys),
            },
        )?;
    }
    let waiver_report = setup.waivers.report(today);

    // Host rules, agency by agency in configuration order: a host shared by several agencies
    // is judged once per agency and kept once (one finding per fingerprint and run), owned by
    // the first.
    let mut tally = Tally::default();
    let mut seen = HashSet::new();
    for (s, f) in settled.iter().zip(&facts) {
        tally.add(s.tally);
        let scope = setup.rules.agency_scope(f);
        let hosts = hosts_by_agency.get(&f.id).unwrap_or(&no_hosts);
        let outcomes: Vec<Outcome> = hosts.iter().flat_map(|h| scope.evaluate_host(h)).collect();
        tally.add(record(
            setup, &hints, store, run_id, today, &f.id, outcomes, &mut seen,
        )?);
    }
    let fail_on = opts.fail_on.unwrap_or(cfg.audit.fail_on);

    // Store findings, lifecycle and the digest chain; the run is complete from here.
    let diff = store.complete_run(run_id)?;
    // A finding this run could not re-check is not known to be fixed: it counts at its
    // severity, as it did when last seen.
    let worst = tally.worst.max(
        store
            .unverified_worst(run_id)?
            .and_then(|s| Severity::parse(&s)),
    );
    let coverage = store.coverage(run_id)?;
    stage_secs.push(("judge", stage_start.elapsed().as_secs_f64()));
    tracing::info!(
        run_id,
        findings = tally.findings,
        waived = tally.waived,
        new = diff.new.len(),
        regressed = diff.regressed.len(),
        resolved = diff.resolved.len(),
        unverified = diff.unverified.len(),
        "findings stored"
    );
    stage_start = std::time::Instant::now();

    // Reports.
    let agencies_meta: Vec<AgencyMeta> = selected
        .iter()
        .map(|a| AgencyMeta::from_config(a))
        .collect();
    let rule_info: BTreeMap<String, RuleInfo> = RuleInfo::map(&setup.rules);
    let waiver_notes = report::waiver_notes(&waiver_report);
    let mut reports = Vec::new();
    let mut totals = None;
    // Reports that could not be written make the command exit 3 (the run itself is complete
    // in history; `dvc-audit report --run N` writes them again).
    let mut reports_failed = false;
    let mut mail_sent = 0;
    let mut mail_pending = 0;
    let lang = report::Lang::from(cfg.audit.lang);
    match report::gather_with(
        store,
        run_id,
        &cfg.audit.name,
        lang,
        agencies_meta,
        rule_info,
        waiver_notes,
        usize::try_from(cfg.report.max_rows_per_rule).unwrap_or(usize::MAX),
    ) {
        Ok(mut data) => {
            report::name_successors(&mut data, &cfg.agencies);
            totals = Some(data.totals.clone());
            let dir = setup.loaded.path(&cfg.report.dir);
            match report::configured_formats(&setup.loaded)
                .and_then(|formats| report::write_all(&dir, &data, &formats))
            {
                Ok(paths) => reports = paths,
                Err(e) => {
                    reports_failed = true;
                    notes.push(format!(
                        "reports not written: {e} (run {run_id} is complete in history: `dvc-audit report --run {run_id}` writes them)"
                    ));
                }
            }
            stage_secs.push(("report", stage_start.elapsed().as_secs_f64()));
            tracing::info!(run_id, reports = reports.len(), "reports written");
            stage_start = std::time::Instant::now();
            if cfg.email.enabled && opts.send_mail {
                match deliver(setup, &data).await {
                    Ok((sent, pending)) => {
                        mail_sent = sent;
                        mail_pending = pending;
                    }
                    Err(e) => notes.push(format!("email: {e}")),
                }
                stage_secs.push(("email", stage_start.elapsed().as_secs_f64()));
                tracing::info!(
                    run_id,
                    sent = mail_sent,
                    pending = mail_pending,
                    "email done"
                );
            }
        }
        Err(e) => {
            reports_failed = true;
            notes.push(format!("report data not gathered: {e}"));
        }
    }

    // Without report data (it could not be gathered), the same counts from the store: the
    // terminal, `run_finished` and the webhook print the totals, never the raw diff (which
    // lists waived failures too).
    let totals = match totals {
        Some(t) => t,
        None => {
            let (new, persisting, regressed) = store.unwaived_states(run_id)?;
            let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
            report::Totals {
                findings: n(tally.findings),
                waived: n(tally.waived),
                could_not_assess: n(tally.could_not_assess),
                new,
                persisting,
                regressed,
                resolved: n(diff.resolved.len()),
                unverified: n(diff.unverified.len()),
                withdrawn: n(diff.withdrawn.len()),
                ..report::Totals::default()
            }
        }
    };
    let exit = if reports_failed {
        ExitCode::Incomplete
    } else if worst.is_some_and(|w| w >= fail_on) {
        ExitCode::Findings
    } else {
        ExitCode::Ok
    };
    Ok(RunSummary {
        run_id,
        mode: opts.mode,
        seed,
        agencies: selected.iter().map(|a| a.id.clone()).collect(),
        services: n_services,
        hosts: probed.len(),
        pages_fetched: n_pages,
        bytes_wire,
        findings: usize::try_from(totals.findings).unwrap_or(0),
        waived: usize::try_from(totals.waived).unwrap_or(0),
        could_not_assess: usize::try_from(totals.could_not_assess).unwrap_or(0),
        worst,
        totals,
        coverage,
        diff,
        reports,
        mail_sent,
        mail_pending,
        complete: true,
        notes,
        exit,
        stage_secs,
    })
}

async fn deliver(
    setup: &Setup,
    data: &report::ReportData,
) -> Result<(usize, usize), crate::notify::NotifyError> {
    let (settings, book, outbox_dir) = crate::notify::settings_from_config(&setup.loaded)?;
    let outbox = crate::notify::Outbox::open(&outbox_dir)?;
    let r = crate::notify::deliver(data, &book, &settings, &outbox).await?;
    Ok((r.flush.sent.len(), r.flush.failed.len()))
}

/// Try to send what waits in the outbox (after an interrupted run).
async fn flush_outbox(setup: &Setup) {
    if let Ok((settings, _, dir)) = crate::notify::settings_from_config(&setup.loaded)
        && let Ok(outbox) = crate::notify::Outbox::open(&dir)
    {
        let _ = crate::notify::flush(&outbox, &settings.smtp).await;
    }
}
