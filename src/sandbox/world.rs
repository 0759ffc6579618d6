//! The world's skeleton: agencies, hosts and the small list of planted service defects.
//!
//! Only this skeleton is stored. Services are derived on demand from
//! `(seed, agency index, service index)` (see `service.rs`), so a nation-sized world of
//! 200,000 services costs a few kilobytes. Every random choice uses ChaCha8 seeded from
//! explicit bytes, which is stable across machines and `rand` versions.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::seq::IndexedRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::catalog::{self, AGENCIES};
use crate::facts::AgencyKind;

/// How big a world to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    /// 4 agencies, one per shape, ~8 services each: fast tests.
    Tiny,
    /// 12 agencies × ~50 services, every planted defect at least once: the demo.
    Demo,
    /// 100 portals × 2,000 services: benchmarks.
    Nation,
    /// One small portal per platform shape beyond the four classic ones (dt/dd siblings, a
    /// list-only JSON API, the national portal's JSON API, OpenCPS, Liferay portlets, iGate),
    /// no planted defects: each shape read by its profile alone.
    Platforms,
}

impl Size {
    pub fn as_str(self) -> &'static str {
        match self {
            Size::Tiny => "tiny",
            Size::Demo => "demo",
            Size::Nation => "nation",
            Size::Platforms => "platforms",
        }
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tiny" => Ok(Size::Tiny),
            "demo" => Ok(Size::Demo),
            "nation" => Ok(Size::Nation),
            "platforms" => Ok(Size::Platforms),
            other => Err(format!(
                "unknown world size `{other}` (tiny, demo, nation, platforms)"
            )),
        }
    }
}

/// Platform shape of a portal (the profile id that reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    Accordion,
    Table,
    Spa,
    SpaNoapi,
    /// Label/value as `<dl><dt>..</dt><dd>..</dd></dl>` siblings (profile `dl`).
    Dl,
    /// A single-page app whose API has only a POST search/list endpoint; every fact is in the
    /// list items (profile `list-api`).
    ListApi,
    /// The national portal's JSON API: POST list with a `lastId` cursor, POST detail by id
    /// (profile `dvcqg-api`).
    Dvcqg,
    /// OpenCPS public REST `/o/rest/v2/serviceinfos` with `maxLevel` (profile `opencps`).
    Opencps,
    /// Liferay portlet tables: offset pagination, `td.td-1` labels (profile `liferay`).
    Liferay,
    /// VNPT iGate: an Angular shell whose API needs a token (profile `igate`).
    Igate,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Accordion => "accordion",
            Shape::Table => "table",
            Shape::Spa => "spa",
            Shape::SpaNoapi => "spa-noapi",
            Shape::Dl => "dl",
            Shape::ListApi => "list-api",
            Shape::Dvcqg => "dvcqg-api",
            Shape::Opencps => "opencps",
            Shape::Liferay => "liferay",
            Shape::Igate => "igate",
        }
    }
    /// A shell whose data the scanner cannot reach: every service is `spa_without_api`.
    pub fn unreadable(self) -> bool {
        matches!(self, Shape::SpaNoapi | Shape::Igate)
    }
    /// The agency has an `api.<id>` host.
    pub fn has_api_host(self) -> bool {
        matches!(self, Shape::Spa | Shape::ListApi)
    }
    /// Server-rendered HTML (the service data is in the page).
    pub fn is_html(self) -> bool {
        matches!(self, Shape::Accordion | Shape::Table)
    }
}

/// Which level labels an agency publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelScheme {
    /// Decree 43/2011: "Mức độ 3/4".
    Old,
    /// Decree 42/2022: "toàn trình / một phần".
    New,
    /// Both, service by service.
    Mixed,
}

/// A certificate defect planted on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertDefect {
    Expired,
    NotYetValid,
    WrongHost,
    UntrustedIssuer,
    IncompleteChain,
    GovAnchorOnly,
}

impl CertDefect {
    pub const ALL: [CertDefect; 6] = [
        CertDefect::Expired,
        CertDefect::NotYetValid,
        CertDefect::WrongHost,
        CertDefect::UntrustedIssuer,
        CertDefect::IncompleteChain,
        CertDefect::GovAnchorOnly,
    ];
    /// The defect name in the ground truth.
    pub fn defect(self) -> &'static str {
        match self {
            CertDefect::Expired => "cert_expired",
            CertDefect::NotYetValid => "cert_not_yet_valid",
            CertDefect::WrongHost => "cert_wrong_host",
            CertDefect::UntrustedIssuer => "cert_untrusted_issuer",
            CertDefect::IncompleteChain => "cert_incomplete_chain",
            CertDefect::GovAnchorOnly => "cert_gov_anchor_only",
        }
    }
}

/// What a host is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostRole {
    /// `dvc.<id>.sandbox.test`: the portal pages.
    Portal,
    /// `api.<id>.sandbox.test`: the JSON API of an `spa` portal.
    Api,
    /// Another host citizens touch (payment, look-up): a home page only.
    Extra,
}

/// One host name served by the sandbox. Fields are public so a test can change them
/// through [`super::Overrides::host`]; `name`, `agency_id` and `role` are its identity and
/// must be left as they are (certificates, HSTS, redirects and crawl delay are changeable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSpec {
    pub name: String,
    pub agency_id: String,
    pub role: HostRole,
    /// Planted certificate defect; `None` = a good leaf served with its intermediate.
    pub cert: Option<CertDefect>,
    /// Send `Strict-Transport-Security` on HTTPS responses.
    pub hsts: bool,
    /// Plain HTTP answers 301 to HTTPS (otherwise it serves the pages).
    pub https_redirect: bool,
    /// `Crawl-delay` in robots.txt, in milliseconds.
    pub crawl_delay_ms: Option<u32>,
}

impl HostSpec {
    /// Defect names on this host.
    pub fn defects(&self) -> Vec<&'static str> {
        let mut d = Vec::new();
        if let Some(c) = self.cert {
            d.push(c.defect());
        }
        if !self.hsts {
            d.push("no_hsts");
        }
        if !self.https_redirect {
            d.push("no_https_redirect");
        }
        d
    }
}

/// One agency (one portal). Fields are public so tests can read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgencySpec {
    pub index: usize,
    pub id: String,
    pub name: String,
    pub name_en: String,
    pub kind: AgencyKind,
    pub shape: Shape,
    pub jurisdiction: String,
    pub service_count: usize,
    /// Global ordinal of this agency's first service (codes are `1.` + 6 digits of
    /// `1000 + ordinal`).
    pub first_ordinal: usize,
    pub successor: String,
    pub former_names: Vec<String>,
    /// The theme loads `vgcaplugin.js` on every page.
    pub site_wide_plugin: bool,
    /// The last list page links back to the first (table shape).
    pub pagination_loop: bool,
    pub level_scheme: LevelScheme,
    /// Agency part of SPA ids (8 hex digits).
    pub id_tag: u32,
    /// Portal host first, then the API host (spa), then extra hosts.
    pub hosts: Vec<String>,
    /// A transient outage planted between runs (never part of the ground truth: the world is
    /// what it was, the scanner just cannot see it).
    #[serde(default)]
    pub outage: Outage,
}

/// An agency's portal failing for a while ("flaky"): each state is one run's view of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outage {
    /// Up.
    #[default]
    None,
    /// Every list page (HTML or API) answers 500.
    ListError,
    /// Every detail page answers 503.
    DetailError,
    /// The first list page is served; every later one answers 200 with a maintenance page
    /// in the portal's theme (no items): a listing that stops without saying so.
    ListMaintenance,
    /// Every host of the agency drops connections (the TLS handshake never completes; plain
    /// HTTP closes without an answer): unreachable.
    Down,
}

impl AgencySpec {
    pub fn portal_host(&self) -> String {
        format!("dvc.{}.sandbox.test", self.id)
    }
    pub fn api_host(&self) -> String {
        format!("api.{}.sandbox.test", self.id)
    }
}

pub(crate) struct WorldData {
    pub size: Size,
    pub seed: u64,
    pub agencies: Vec<AgencySpec>,
    pub hosts: Vec<HostSpec>,
    /// `host name → index in hosts`.
    pub host_index: BTreeMap<String, usize>,
    /// `agency id → index`.
    pub agency_index: BTreeMap<String, usize>,
    /// `(agency index, service index) → plant`.
    pub plants: BTreeMap<(usize, usize), super::plant::Plant>,
}

/// A deterministic sandbox world, built from `(size, seed)`. Cheap to clone.
#[derive(Clone)]
pub struct World {
    pub(crate) data: Arc<WorldData>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("size", &self.data.size)
            .field("seed", &self.data.seed)
            .field("agencies", &self.data.agencies.len())
            .finish()
    }
}

/// A ChaCha8 generator for one purpose (`tag`) and coordinates, stable across machines.
pub(crate) fn rng_for(seed: u64, tag: u64, a: u64, b: u64) -> ChaCha8Rng {
    let mut bytes = [0u8; 32];
    for (i, v) in [seed, tag, a, b].into_iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    ChaCha8Rng::from_seed(bytes)
}

const TAG_AGENCY: u64 = 1;

/// Demo agencies with fixed shapes (defects vary with the seed).
const DEMO: &[(&str, Shape)] = &[
    ("bca", Shape::Accordion),
    ("bxd", Shape::Table),
    ("btp", Shape::Accordion),
    ("hanoi", Shape::Spa),
    ("thainguyen", Shape::Spa),
    ("backan", Shape::Table),
    ("caobang", Shape::Accordion),
    ("danang", Shape::Table),
    ("quangnam", Shape::SpaNoapi),
    ("quangngai", Shape::Accordion),
    ("dongnai", Shape::Spa),
    ("hcm", Shape::Spa),
];

/// The platforms world: one portal per newer shape.
const PLATFORMS: &[(&str, Shape)] = &[
    ("btp", Shape::Dl),
    ("hanoi", Shape::ListApi),
    ("vpcp", Shape::Dvcqg),
    ("bxd", Shape::Opencps),
    ("danang", Shape::Liferay),
    ("thainguyen", Shape::Igate),
];

const TINY: &[(&str, Shape)] = &[
    ("bca", Shape::Accordion),
    ("danang", Shape::Table),
    ("hanoi", Shape::Spa),
    ("caobang", Shape::SpaNoapi),
];

impl World {
    /// Build the world for `(size, seed)`. Same inputs, same world.
    pub fn new(size: Size, seed: u64) -> World {
        let mut agencies = build_agencies(size, seed);
        let mut hosts = Vec::new();
        for a in &agencies {
            hosts.push(good_host(a.portal_host(), &a.id, HostRole::Portal));
            if a.shape.has_api_host() {
                hosts.push(good_host(a.api_host(), &a.id, HostRole::Api));
            }
        }
        let plants = super::plant::plant(size, seed, &mut agencies, &mut hosts);
        for a in &mut agencies {
            a.hosts = hosts
                .iter()
                .filter(|h| h.agency_id == a.id)
                .map(|h| h.name.clone())
                .collect();
        }
        let host_index = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.clone(), i))
            .collect();
        let agency_index = agencies
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        World {
            data: Arc::new(WorldData {
                size,
                seed,
                agencies,
                hosts,
                host_index,
                agency_index,
                plants,
            }),
        }
    }

    pub fn size(&self) -> Size {
        self.data.size
    }
    pub fn seed(&self) -> u64 {
        self.data.seed
    }
    /// The agencies (as generated; agencies are not mutable).
    pub fn agencies(&self) -> &[AgencySpec] {
        &self.data.agencies
    }
    /// The hosts as generated (before overrides).
    pub fn base_hosts(&self) -> &[HostSpec] {
        &self.data.hosts
    }
    pub fn agency(&self, id: &str) -> Option<&AgencySpec> {
        self.data
            .agency_index
            .get(id)
            .and_then(|&i| self.data.agencies.get(i))
    }
    /// Total number of services in the world.
    pub fn service_count(&self) -> usize {
        self.data.agencies.iter().map(|a| a.service_count).sum()
    }
}

pub(crate) fn good_host(name: String, agency: &str, role: HostRole) -> HostSpec {
    HostSpec {
        name,
        agency_id: agency.to_string(),
        role,
        cert: None,
        hsts: true,
        https_redirect: true,
        crawl_delay_ms: None,
    }
}

fn build_agencies(size: Size, seed: u64) -> Vec<AgencySpec> {
    let list: Vec<(String, Option<&catalog::AgencyRow>, Shape, usize)> = match size {
        Size::Tiny | Size::Demo | Size::Platforms => {
            let table = match size {
                Size::Tiny => TINY,
                Size::Platforms => PLATFORMS,
                _ => DEMO,
            };
            table
                .iter()
                .enumerate()
                .map(|(i, (id, shape))| {
                    let row = AGENCIES.iter().find(|r| r.0 == *id);
                    let mut rng = rng_for(seed, TAG_AGENCY, i as u64, 0);
                    let count = match (size, shape) {
                        // The table agency needs more than one 10-row page for its loop.
                        (Size::Tiny, Shape::Table) => 12,
                        (Size::Tiny | Size::Platforms, _) => 8,
                        _ => rng.random_range(40..=60),
                    };
                    (id.to_string(), row, *shape, count)
                })
                .collect()
        }
        Size::Nation => (0..100)
            .map(|i| {
                let mut rng = rng_for(seed, TAG_AGENCY, i as u64, 0);
                let shape = match rng.random_range(0..20) {
                    0..=6 => Shape::Accordion,
                    7..=12 => Shape::Table,
                    13..=18 => Shape::Spa,
                    _ => Shape::SpaNoapi,
                };
                let row = AGENCIES.get(i % AGENCIES.len());
                let id = match row {
                    Some(r) if i < AGENCIES.len() => r.0.to_string(),
                    Some(r) => format!("{}{}", r.0, i / AGENCIES.len() + 1),
                    None => format!("a{i}"),
                };
                (id, row, shape, 2000)
            })
            .collect(),
    };
    let mut out = Vec::with_capacity(list.len());
    let mut ordinal = 0usize;
    for (i, (id, row, shape, count)) in list.into_iter().enumerate() {
        let mut rng = rng_for(seed, TAG_AGENCY, i as u64, 1);
        let (name, name_en, kind, region) = match row {
            Some(r) => {
                let copy = i / AGENCIES.len();
                let suffix_vi = if copy > 0 {
                    format!(" (cổng {})", copy + 1)
                } else {
                    String::new()
                };
                let suffix_en = if copy > 0 {
                    format!(" (portal {})", copy + 1)
                } else {
                    String::new()
                };
                (
                    format!("{}{suffix_vi} (mô phỏng)", r.1),
                    format!("{}{suffix_en} (simulated)", catalog::english_name(r)),
                    r.3,
                    r.4,
                )
            }
            None => (
                format!("Cơ quan {id} (mô phỏng)"),
                format!("Agency {id} (simulated)"),
                AgencyKind::Province,
                'b',
            ),
        };
        let level_scheme = *[LevelScheme::Old, LevelScheme::New, LevelScheme::Mixed]
            .choose(&mut rng)
            .unwrap_or(&LevelScheme::Mixed);
        let id_tag = rng.next_u32() | 0x6000_0000;
        out.push(AgencySpec {
            id_tag,
            index: i,
            id,
            name,
            name_en,
            kind,
            shape,
            jurisdiction: catalog::region_name(region).to_string(),
            service_count: count,
            first_ordinal: ordinal,
            successor: String::new(),
            former_names: Vec::new(),
            site_wide_plugin: false,
            pagination_loop: false,
            level_scheme,
            hosts: Vec::new(),
            outage: Outage::None,
        });
        ordinal += count;
    }
    set_reorganisation(&mut out);
    out
}

/// The 2025 reorganisation, as far as it concerns agencies present in the world.
fn set_reorganisation(agencies: &mut [AgencySpec]) {
    let ids: Vec<String> = agencies.iter().map(|a| a.id.clone()).collect();
    let has = |id: &str| ids.iter().any(|x| x == id);
    for a in agencies.iter_mut() {
        let (successor, former): (&str, &[&str]) = match a.id.as_str() {
            "backan" => ("thainguyen", &["Ủy ban nhân dân tỉnh Bắc Kạn"]),
            "quangnam" => ("danang", &["Ủy ban nhân dân tỉnh Quảng Nam"]),
            "binhduong" => ("hcm", &["Ủy ban nhân dân tỉnh Bình Dương"]),
            "binhphuoc" => ("dongnai", &["Ủy ban nhân dân tỉnh Bình Phước"]),
            "kontum" => ("quangngai", &["Ủy ban nhân dân tỉnh Kon Tum"]),
            "bxd" => ("", &["Bộ Giao thông vận tải"]),
            _ => ("", &[]),
        };
        if !successor.is_empty() && has(successor) {
            a.successor = successor.to_string();
        }
        a.former_names = former.iter().map(|s| s.to_string()).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_world_other_seed_other_plants() {
        let a = World::new(Size::Demo, 1);
        let b = World::new(Size::Demo, 1);
        let c = World::new(Size::Demo, 2);
        assert_eq!(a.data.agencies, b.data.agencies);
        assert_eq!(a.data.plants, b.data.plants);
        assert_eq!(a.data.hosts, b.data.hosts);
        assert_ne!(
            (a.data.plants.clone(), a.data.hosts.clone()),
            (c.data.plants.clone(), c.data.hosts.clone())
        );
    }

    #[test]
    fn sizes_have_the_promised_shape() {
        let tiny = World::new(Size::Tiny, 7);
        let shapes: Vec<Shape> = tiny.agencies().iter().map(|a| a.shape).collect();
        assert_eq!(
            shapes,
            [Shape::Accordion, Shape::Table, Shape::Spa, Shape::SpaNoapi]
        );
        let demo = World::new(Size::Demo, 7);
        assert_eq!(demo.agencies().len(), 12);
        assert!(demo.agencies().iter().any(|a| !a.successor.is_empty()));
        let nation = World::new(Size::Nation, 7);
        assert_eq!(nation.agencies().len(), 100);
        assert_eq!(nation.service_count(), 200_000);
        let mut ids: Vec<&str> = nation.agencies().iter().map(|a| a.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 100);
    }

    #[test]
    fn every_host_level_plant_lands_in_demo() {
        let demo = World::new(Size::Demo, 3);
        for c in CertDefect::ALL {
            assert!(demo.base_hosts().iter().any(|h| h.cert == Some(c)), "{c:?}");
        }
        assert!(demo.base_hosts().iter().any(|h| !h.hsts));
        assert!(demo.base_hosts().iter().any(|h| !h.https_redirect));
        assert!(demo.base_hosts().iter().any(|h| h.crawl_delay_ms.is_some()));
        assert!(
            demo.agencies()
                .iter()
                .any(|a| a.pagination_loop && a.shape == Shape::Table)
        );
        assert!(
            demo.agencies()
                .iter()
                .any(|a| a.site_wide_plugin && a.shape.is_html())
        );
    }
}
