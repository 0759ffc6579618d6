//! The ground truth: what a perfect scanner would record about the world, with every planted
//! defect and where it is. Computed from the effective world (`Overrides`) and the ports, so it
//! always matches what is served. For big worlds it is streamed to a file, never held twice.

use std::io::Write;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

use super::overrides::Overrides;
use super::service::ServiceSpec;
use super::world::{AgencySpec, HostRole, HostSpec, Shape};
use crate::facts::{AgencyKind, Level};

/// Ports the world is served on (they appear in URLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    pub https: u16,
    pub http: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub size: String,
    pub seed: u64,
    pub https_port: u16,
    pub http_port: u16,
    pub agencies: Vec<AgencyTruth>,
    pub hosts: Vec<HostTruth>,
    pub services: Vec<ServiceTruth>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgencyTruth {
    pub id: String,
    pub name: String,
    pub kind: AgencyKind,
    pub platform: String,
    pub portal: String,
    pub hosts: Vec<String>,
    /// Agency-level defects (`site_wide_signature_only`, `pagination_loop`,
    /// `spa_without_api`) and the defects of its hosts.
    pub defects: Vec<String>,
    pub successor: String,
    pub service_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostTruth {
    pub name: String,
    pub agency_id: String,
    /// `portal`, `api` or `extra`.
    pub role: String,
    pub url: String,
    /// `good` or the certificate defect name.
    pub cert: String,
    pub hsts: bool,
    pub https_redirect: bool,
    /// `Crawl-delay` of its robots.txt in seconds, 0 when none.
    pub crawl_delay: f64,
    /// Detail paths its robots.txt disallows.
    pub robots_disallow: Vec<String>,
    pub defects: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureTruth {
    pub required: bool,
    pub supported: bool,
    pub providers: Vec<String>,
    pub site_wide: bool,
    pub site_wide_providers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceTruth {
    pub agency_id: String,
    pub code: String,
    /// The raw name (NFC; markup not escaped).
    pub name: String,
    /// The detail page (HTML shapes) or API detail (spa) URL.
    pub url: String,
    pub host: String,
    pub level: Level,
    pub level_label: String,
    pub signature: SignatureTruth,
    pub national_portal_link: bool,
    pub defects: Vec<String>,
    /// `ok` or the could-not-assess reason.
    pub expect: String,
}

pub(crate) fn host_url(host: &str, port: u16) -> String {
    if port == 443 {
        format!("https://{host}/")
    } else {
        format!("https://{host}:{port}/")
    }
}

pub(crate) fn service_truth(a: &AgencySpec, s: &ServiceSpec, ports: Ports) -> ServiceTruth {
    let host = s.data_host(a);
    let base = host_url(&host, ports.https);
    let path = s.detail_path(a);
    let site_wide = a.site_wide_plugin && a.shape.is_html();
    ServiceTruth {
        agency_id: a.id.clone(),
        code: s.code.clone(),
        name: s.name.clone(),
        url: format!("{}{}", base.trim_end_matches('/'), path),
        host,
        level: s.level,
        level_label: s.level_label.clone(),
        signature: SignatureTruth {
            required: s.signature_required,
            supported: !s.providers.is_empty(),
            providers: s.providers.iter().map(|p| p.id().to_string()).collect(),
            site_wide,
            site_wide_providers: if site_wide {
                vec!["vgca".to_string()]
            } else {
                Vec::new()
            },
        },
        national_portal_link: s.national_portal_link,
        defects: s.defects(a).into_iter().map(String::from).collect(),
        expect: s.expect(a).to_string(),
    }
}

pub(crate) fn host_truth(o: &Overrides, h: &HostSpec, ports: Ports) -> HostTruth {
    let robots_disallow = match (o.agency(&h.agency_id), h.role) {
        (Some(a), HostRole::Portal | HostRole::Api) if data_role(a) == h.role => o
            .robots_disallowed(a.index)
            .iter()
            .map(|s| s.detail_path(a))
            .collect(),
        _ => Vec::new(),
    };
    HostTruth {
        name: h.name.clone(),
        agency_id: h.agency_id.clone(),
        role: match h.role {
            HostRole::Portal => "portal",
            HostRole::Api => "api",
            HostRole::Extra => "extra",
        }
        .to_string(),
        url: host_url(&h.name, ports.https),
        cert: h.cert.map_or("good", |c| c.defect()).to_string(),
        hsts: h.hsts,
        https_redirect: h.https_redirect,
        crawl_delay: h.crawl_delay_ms.map_or(0.0, |ms| f64::from(ms) / 1000.0),
        robots_disallow,
        defects: h.defects().into_iter().map(String::from).collect(),
    }
}

/// The role of the host that serves an agency's service data.
pub(crate) fn data_role(a: &AgencySpec) -> HostRole {
    if a.shape == Shape::Spa {
        HostRole::Api
    } else {
        HostRole::Portal
    }
}

fn agency_truth(a: &AgencySpec, hosts: &[HostSpec], ports: Ports) -> AgencyTruth {
    let mut defects: Vec<String> = Vec::new();
    if a.site_wide_plugin && a.shape.is_html() {
        defects.push("site_wide_signature_only".into());
    }
    if a.pagination_loop && a.shape == Shape::Table {
        defects.push("pagination_loop".into());
    }
    if a.shape.unreadable() {
        defects.push("spa_without_api".into());
    }
    for h in hosts.iter().filter(|h| h.agency_id == a.id) {
        for d in h.defects() {
            if !defects.iter().any(|x| x == d) {
                defects.push(d.to_string());
            }
        }
    }
    AgencyTruth {
        id: a.id.clone(),
        name: a.name.clone(),
        kind: a.kind,
        platform: a.shape.as_str().to_string(),
        portal: host_url(&a.portal_host(), ports.https),
        hosts: a.hosts.clone(),
        defects,
        successor: a.successor.clone(),
        service_count: a.service_count,
    }
}

impl Overrides {
    /// Every effective service, agency by agency (derived lazily).
    pub fn services(&self) -> impl Iterator<Item = (&AgencySpec, ServiceSpec)> + '_ {
        self.agencies().iter().flat_map(move |a| {
            (0..a.service_count).filter_map(move |i| self.service_at(a.index, i).map(|s| (a, s)))
        })
    }

    fn head(&self, ports: Ports) -> (Vec<AgencyTruth>, Vec<HostTruth>) {
        let hosts = self.hosts();
        let agencies = self
            .agencies()
            .iter()
            .map(|a| agency_truth(a, &hosts, ports))
            .collect();
        let host_truths = hosts.iter().map(|h| host_truth(self, h, ports)).collect();
        (agencies, host_truths)
    }

    /// The whole ground truth in memory (fine for tiny and demo; nation is ~200k services).
    pub fn ground_truth(&self, ports: Ports) -> GroundTruth {
        let (agencies, hosts) = self.head(ports);
        GroundTruth {
            size: self.world().size().as_str().to_string(),
            seed: self.world().seed(),
            https_port: ports.https,
            http_port: ports.http,
            agencies,
            hosts,
            services: self
                .services()
                .map(|(a, s)| service_truth(a, &s, ports))
                .collect(),
        }
    }

    /// Stream the ground truth as JSON (same document as [`Overrides::ground_truth`]) without
    /// holding the services in memory.
    pub fn write_ground_truth(&self, ports: Ports, out: impl Write) -> serde_json::Result<()> {
        let mut ser = serde_json::Serializer::new(out);
        Streamed { o: self, ports }.serialize(&mut ser)
    }
}

struct Streamed<'a> {
    o: &'a Overrides,
    ports: Ports,
}

struct ServiceSeq<'a>(&'a Overrides, Ports);

impl Serialize for ServiceSeq<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for (a, svc) in self.0.services() {
            seq.serialize_element(&service_truth(a, &svc, self.1))?;
        }
        seq.end()
    }
}

impl Serialize for Streamed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (agencies, hosts) = self.o.head(self.ports);
        let mut st = s.serialize_struct("GroundTruth", 7)?;
        st.serialize_field("size", self.o.world().size().as_str())?;
        st.serialize_field("seed", &self.o.world().seed())?;
        st.serialize_field("https_port", &self.ports.https)?;
        st.serialize_field("http_port", &self.ports.http)?;
        st.serialize_field("agencies", &agencies)?;
        st.serialize_field("hosts", &hosts)?;
        st.serialize_field("services", &ServiceSeq(self.o, self.ports))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::world::{Size, World};

    const PORTS: Ports = Ports {
        https: 8443,
        http: 8080,
    };

    #[test]
    fn streamed_equals_in_memory() {
        let o = Overrides::new(World::new(Size::Tiny, 4));
        let mut buf = Vec::new();
        o.write_ground_truth(PORTS, &mut buf).expect("write");
        let back: GroundTruth = serde_json::from_slice(&buf).expect("parse");
        assert_eq!(back, o.ground_truth(PORTS));
    }

    #[test]
    fn every_seed_plants_every_defect_in_demo() {
        for seed in 0..16 {
            let gt = Overrides::new(World::new(Size::Demo, seed)).ground_truth(PORTS);
            let mut seen: Vec<&str> = gt
                .agencies
                .iter()
                .flat_map(|a| a.defects.iter())
                .chain(gt.hosts.iter().flat_map(|h| h.defects.iter()))
                .chain(gt.services.iter().flat_map(|s| s.defects.iter()))
                .map(String::as_str)
                .collect();
            seen.sort_unstable();
            seen.dedup();
            let mut all = crate::sandbox::DEFECTS.to_vec();
            all.sort_unstable();
            assert_eq!(seen, all, "seed {seed}");
        }
    }

    #[test]
    fn tiny_carries_the_key_defects_without_slow_pages() {
        for seed in 0..8 {
            let gt = Overrides::new(World::new(Size::Tiny, seed)).ground_truth(PORTS);
            let mut seen: Vec<&str> = gt
                .agencies
                .iter()
                .flat_map(|a| a.defects.iter())
                .chain(gt.hosts.iter().flat_map(|h| h.defects.iter()))
                .chain(gt.services.iter().flat_map(|s| s.defects.iter()))
                .map(String::as_str)
                .collect();
            seen.sort_unstable();
            seen.dedup();
            let mut want: Vec<&str> = crate::sandbox::DEFECTS
                .iter()
                .copied()
                .filter(|d| *d != "slow_page" && *d != "hanging_page")
                .collect();
            want.sort_unstable();
            assert_eq!(seen, want, "seed {seed}");
            assert!(gt.services.len() <= 40);
        }
    }

    #[test]
    fn robots_disallow_is_listed_on_the_data_host() {
        let o = Overrides::new(World::new(Size::Demo, 4));
        let gt = o.ground_truth(PORTS);
        let svc = gt
            .services
            .iter()
            .find(|s| s.defects.iter().any(|d| d == "robots_disallow"))
            .expect("planted");
        assert_eq!(svc.expect, "robots_disallowed");
        let host = gt.hosts.iter().find(|h| h.name == svc.host).expect("host");
        assert!(host.robots_disallow.iter().any(|p| svc.url.ends_with(p)));
    }
}
