//! TLS probe of every host of the world, and the rules over the whole world's extracted facts
//! (read back agency by agency from the files the first crawl wrote).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use dvc_audit::config::Loaded;
use dvc_audit::facts::{AgencyFacts, HostFacts, ServiceFacts};
use dvc_audit::probe::{AnchorSet, ProbeConfig, WebRoots, load_pem_certs, parse_resolve};
use dvc_audit::rules::{RuleSet, Verdict};

/// The probe configuration a run would build from `[tls]` and `[crawl]`.
pub fn probe_config(loaded: &Loaded) -> anyhow::Result<ProbeConfig> {
    let c = &loaded.config;
    let mut cfg = ProbeConfig {
        http_port: c.crawl.http_port,
        expiry_warning_days: i64::from(c.tls.expiry_warning_days),
        ..ProbeConfig::default()
    };
    if let Some(roots) = &c.tls.web_roots {
        cfg.web_roots = WebRoots::Custom(load_pem_certs(&loaded.path(roots))?);
    }
    for (name, file) in &c.tls.anchors {
        cfg.anchors.push(AnchorSet {
            name: name.clone(),
            certs: load_pem_certs(&loaded.path(file))?,
        });
    }
    for spec in &c.crawl.resolve {
        let (host, port, addr) = parse_resolve(spec)?;
        cfg.pin(&host, port, addr);
    }
    Ok(cfg)
}

/// Every host of every agency (portal first, then extra hosts), as `(agency, host, port)`.
pub fn hosts(loaded: &Loaded) -> Vec<(String, String, u16)> {
    let mut out = Vec::new();
    for a in &loaded.config.agencies {
        for u in std::iter::once(&a.portal).chain(&a.extra_hosts) {
            if let Ok(url) = url::Url::parse(u)
                && let (Some(h), Some(p)) = (url.host_str(), url.port_or_known_default())
            {
                out.push((a.id.clone(), h.to_string(), p));
            }
        }
    }
    out
}

pub struct ProbeStats {
    pub hosts: usize,
    pub wall: Duration,
    pub errors: usize,
}

pub async fn probe(
    cfg: &ProbeConfig,
    hosts: &[(String, String, u16)],
) -> (ProbeStats, BTreeMap<String, Vec<HostFacts>>) {
    let pairs: Vec<(String, u16)> = hosts.iter().map(|(_, h, p)| (h.clone(), *p)).collect();
    let start = Instant::now();
    let facts = dvc_audit::probe::probe_hosts(cfg, &pairs).await;
    let wall = start.elapsed();
    let errors = facts.iter().filter(|f| f.error.is_some()).count();
    let mut by_agency: BTreeMap<String, Vec<HostFacts>> = BTreeMap::new();
    for ((agency, _, _), f) in hosts.iter().zip(facts) {
        by_agency.entry(agency.clone()).or_default().push(f);
    }
    (
        ProbeStats {
            hosts: pairs.len(),
            wall,
            errors,
        },
        by_agency,
    )
}

pub struct RulesStats {
    pub services: usize,
    pub evaluations: usize,
    pub failures: usize,
    pub could_not_assess: usize,
    /// Evaluation only (reading the facts back is not counted).
    pub elapsed: Duration,
}

/// Evaluate the default pack agency by agency over the facts files in `dir`.
pub fn evaluate(
    loaded: &Loaded,
    dir: &Path,
    hosts: &BTreeMap<String, Vec<HostFacts>>,
) -> anyhow::Result<RulesStats> {
    let set = match RuleSet::bundled() {
        Ok(l) => l.rules,
        Err(e) => anyhow::bail!("{}", e.0.render(false)),
    };
    let mut st = RulesStats {
        services: 0,
        evaluations: 0,
        failures: 0,
        could_not_assess: 0,
        elapsed: Duration::ZERO,
    };
    for a in &loaded.config.agencies {
        let path = dir.join(format!("{}.json", a.id));
        let services: Vec<ServiceFacts> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", path.display()))?,
            Err(_) => Vec::new(),
        };
        let agency = AgencyFacts {
            id: a.id.clone(),
            name: a.name.clone(),
            name_en: a.name_en.clone(),
            kind: a.kind,
            portal: a.portal.clone(),
            platform: a.platform.clone(),
            jurisdiction: a.jurisdiction.clone(),
        };
        let host_facts = hosts.get(&a.id).map_or(&[][..], Vec::as_slice);
        let start = Instant::now();
        let ev = set.evaluate_all(&agency, &services, host_facts);
        st.elapsed += start.elapsed();
        st.services += services.len();
        st.evaluations += ev.outcomes.len();
        for o in &ev.outcomes {
            match o.verdict {
                Verdict::Fail => st.failures += 1,
                Verdict::CouldNotAssess { .. } => st.could_not_assess += 1,
                _ => {}
            }
        }
    }
    Ok(st)
}
