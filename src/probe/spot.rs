//! `dvc-audit spot TARGET` for a host that is not a configured portal: probe it and judge it
//! with the same host rules a run evaluates (one judge), through the same call a run uses
//! (`RuleSet::agency_scope(..).evaluate_host(..)`).
//!
//! TARGET is what an inspector types: `https://host[:port]/…`, `http://host[:port]/…` (the
//! plain-HTTP redirect of that port is checked, then the HTTPS address it leads to is probed,
//! or port 443 of the same host when it leads nowhere), or a bare `host` / `host:port`
//! (HTTPS).

use serde::Serialize;

use super::{ProbeConfig, Prober, http};
use crate::facts::{AgencyFacts, AgencyKind, HostFacts, Severity};
use crate::rules::{Outcome, RuleSet, Verdict};

/// Version of the `spot --json` document; bumped when a field changes meaning or goes away.
pub const SPOT_SCHEMA_VERSION: u32 = 2;

/// Where to look, parsed from what the inspector typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotTarget {
    pub host: String,
    /// The HTTPS port, when known from the input (`https://` or bare `host:port`).
    pub https_port: Option<u16>,
    /// The plain-HTTP port of an `http://` input.
    pub http_port: Option<u16>,
}

/// Parse `https://…`, `http://…`, `host` or `host:port`.
pub fn parse_target(input: &str) -> Result<SpotTarget, String> {
    let input = input.trim();
    let with_scheme = if input.contains("://") {
        input.to_string()
    } else {
        format!("https://{input}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("`{input}` is no address: {e}"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("`{input}` names no host"))?
        .trim_matches(['[', ']'])
        .to_string();
    match url.scheme() {
        "https" => Ok(SpotTarget {
            host,
            https_port: Some(url.port_or_known_default().unwrap_or(443)),
            http_port: None,
        }),
        "http" => Ok(SpotTarget {
            host,
            https_port: None,
            http_port: Some(url.port_or_known_default().unwrap_or(80)),
        }),
        other => Err(format!(
            "`{input}`: scheme `{other}` is neither http:// nor https://"
        )),
    }
}

/// What `spot` learned and concluded.
#[derive(Debug, Clone, Serialize)]
pub struct SpotReport {
    pub schema_version: u32,
    /// The input, as typed.
    pub target: String,
    /// For an `http://` input: the URL the plain-HTTP redirect chain ended at (empty when it
    /// could not be followed).
    pub redirected_to: String,
    /// The host facts (as `run` stores them).
    pub host: HostFacts,
    /// Every host rule's outcome on those facts.
    pub outcomes: Vec<Outcome>,
    /// The most severe failure, if any.
    pub worst: Option<Severity>,
}

/// Probe `target` and judge it with `rules`' host rules.
pub async fn spot(
    mut cfg: ProbeConfig,
    input: &str,
    target: &SpotTarget,
    rules: &RuleSet,
    waivers: &crate::rules::Waivers,
) -> SpotReport {
    let mut host = target.host.clone();
    let mut port = target.https_port.unwrap_or(443);
    let mut redirected_to = String::new();
    if let Some(http_port) = target.http_port {
        cfg.http_port = http_port;
        let prober = Prober::new(cfg.clone());
        if let Ok(client) = &prober.http {
            let (plain, _) = http::plain(client, &target.host, http_port).await;
            redirected_to = plain.final_url.clone();
            if let Ok(u) = url::Url::parse(&plain.final_url)
                && u.scheme() == "https"
                && let Some(h) = u.host_str()
            {
                let h = h.trim_matches(['[', ']']).to_string();
                if !h.eq_ignore_ascii_case(&target.host) {
                    // Another host: its own plain-HTTP port is the default one.
                    cfg.http_port = super::ProbeConfig::default().http_port;
                }
                host = h;
                port = u.port_or_known_default().unwrap_or(443);
            }
        }
    }
    let facts = Prober::new(cfg).probe_host(&host, port).await;
    let agency = AgencyFacts {
        id: "spot".into(),
        name: host.clone(),
        name_en: host.clone(),
        kind: AgencyKind::Ministry,
        portal: format!("https://{host}:{port}/"),
        platform: String::new(),
        jurisdiction: String::new(),
    };
    let mut outcomes = rules.agency_scope(&agency).evaluate_host(&facts);
    // The configuration's waivers, as `run` applies them (by rule and subject `host:port`):
    // a waived finding is shown with its waiver and does not set the exit status.
    waivers.apply(&mut outcomes, time::OffsetDateTime::now_utc().date());
    let worst = outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Fail) && o.waiver.is_none())
        .map(|o| o.severity)
        .max();
    SpotReport {
        schema_version: SPOT_SCHEMA_VERSION,
        target: input.to_string(),
        redirected_to,
        host: facts,
        outcomes,
        worst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target("https://dvc.x.gov.vn:8443/a").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (t.host.as_str(), t.https_port, t.http_port),
            ("dvc.x.gov.vn", Some(8443), None)
        );
        let t = parse_target("http://dvc.x.gov.vn/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.https_port, t.http_port), (None, Some(80)));
        let t = parse_target("dvc.x.gov.vn").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.host.as_str(), t.https_port), ("dvc.x.gov.vn", Some(443)));
        let t = parse_target("dvc.x.gov.vn:4443").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.https_port, Some(4443));
        assert!(parse_target("ftp://x/").is_err());
        assert!(parse_target("https://").is_err());
    }
}
