//! Planting: which agency, host or service carries each defect. Every defect kind is placed
//! on an eligible agency with the fewest plants so far (ties broken by the seed), so defects
//! spread over the agencies and vary with the seed; the nation world gets four rounds.

use std::collections::BTreeMap;

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::world::{AgencySpec, CertDefect, HostRole, HostSpec, Shape, Size, good_host, rng_for};

const TAG_PLANT: u64 = 2;

/// A service-level defect planted on one service (applied over the derived service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Plant {
    FullWithoutSignature,
    NoLevel,
    Robots,
    Injected,
    Behaviour(super::service::Behaviour),
}

/// Names of extra hosts, used in order as host-level defects need them.
const EXTRA_PREFIXES: &[&str] = &[
    "thanhtoan",
    "tracuu",
    "motcua",
    "hoidap",
    "vanban",
    "tintuc",
];

/// What one plant needs of its agency.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PlantKind {
    Service(Plant, bool /* html only */),
    SiteWide,
    PaginationLoop,
    CrawlDelay,
    Cert(CertDefect),
    NoHsts,
    NoHttpsRedirect,
}

pub(crate) fn plant(
    size: Size,
    seed: u64,
    agencies: &mut [AgencySpec],
    hosts: &mut Vec<HostSpec>,
) -> BTreeMap<(usize, usize), Plant> {
    use super::service::Behaviour as B;
    if size == Size::Platforms {
        // Shapes under test, not defects: the platforms world plants nothing.
        return BTreeMap::new();
    }
    let mut kinds = vec![
        PlantKind::Service(Plant::FullWithoutSignature, false),
        PlantKind::Service(Plant::NoLevel, false),
        PlantKind::Service(Plant::Robots, false),
        PlantKind::Service(Plant::Injected, true),
        PlantKind::Service(Plant::Behaviour(B::ServerError), false),
        PlantKind::Service(Plant::Behaviour(B::RateLimited), false),
        PlantKind::Service(Plant::Behaviour(B::RedirectLoop), false),
        PlantKind::Service(Plant::Behaviour(B::Oversized), false),
        PlantKind::Service(Plant::Behaviour(B::Windows1258), true),
        PlantKind::SiteWide,
        PlantKind::PaginationLoop,
        PlantKind::CrawlDelay,
        PlantKind::NoHsts,
        PlantKind::NoHttpsRedirect,
    ];
    // Slow and hanging pages cost seconds; the tiny world stays fast.
    if size != Size::Tiny {
        kinds.push(PlantKind::Service(Plant::Behaviour(B::Slow), false));
        kinds.push(PlantKind::Service(Plant::Behaviour(B::Hang), false));
    }
    kinds.extend(CertDefect::ALL.iter().map(|&c| PlantKind::Cert(c)));
    // Defects added after the others were fixed: placed once every round is done, so every
    // world keeps the plants it had before them (the nation world's rounds shuffle `kinds`).
    let late = [PlantKind::Service(Plant::Behaviour(B::Tcvn3), true)];
    let copies = if size == Size::Nation { 4 } else { 1 };
    let mut rng = rng_for(seed, TAG_PLANT, 0, 0);
    let mut load = vec![0usize; agencies.len()];
    let mut plants = BTreeMap::new();
    for round in 0..copies {
        let mut order = kinds.clone();
        if round > 0 {
            order.shuffle(&mut rng);
        }
        for kind in order {
            place(kind, agencies, hosts, &mut load, &mut plants, &mut rng);
        }
    }
    for _ in 0..copies {
        for kind in late {
            place(kind, agencies, hosts, &mut load, &mut plants, &mut rng);
        }
    }
    plants
}

/// Place one plant on an eligible agency with the fewest plants so far (ties by the seed).
fn place(
    kind: PlantKind,
    agencies: &mut [AgencySpec],
    hosts: &mut Vec<HostSpec>,
    load: &mut [usize],
    plants: &mut BTreeMap<(usize, usize), Plant>,
    rng: &mut ChaCha8Rng,
) {
    let eligible: Vec<usize> = agencies
        .iter()
        .filter(|a| eligible(kind, a))
        .map(|a| a.index)
        .collect();
    let Some(min) = eligible.iter().filter_map(|&i| load.get(i)).min().copied() else {
        return;
    };
    let least: Vec<usize> = eligible
        .into_iter()
        .filter(|&i| load.get(i) == Some(&min))
        .collect();
    let Some(&ai) = least.choose(rng) else {
        return;
    };
    if let Some(l) = load.get_mut(ai) {
        *l += 1;
    }
    let Some(agency) = agencies.get_mut(ai) else {
        return;
    };
    apply_plant(kind, agency, hosts, plants, rng);
}

fn eligible(kind: PlantKind, a: &AgencySpec) -> bool {
    match kind {
        PlantKind::Service(_, html_only) => {
            a.shape != Shape::SpaNoapi && (!html_only || a.shape.is_html())
        }
        PlantKind::SiteWide => a.shape.is_html() && !a.site_wide_plugin,
        PlantKind::PaginationLoop => a.shape == Shape::Table && !a.pagination_loop,
        PlantKind::CrawlDelay => a.shape != Shape::SpaNoapi,
        PlantKind::Cert(_) | PlantKind::NoHsts | PlantKind::NoHttpsRedirect => true,
    }
}

fn apply_plant(
    kind: PlantKind,
    agency: &mut AgencySpec,
    hosts: &mut Vec<HostSpec>,
    plants: &mut BTreeMap<(usize, usize), Plant>,
    rng: &mut ChaCha8Rng,
) {
    let portal = agency.portal_host();
    let data_host = if agency.shape == Shape::Spa {
        agency.api_host()
    } else {
        portal.clone()
    };
    match kind {
        PlantKind::Service(p, _) => {
            // A free service index; give up after a bounded number of draws.
            for _ in 0..64 {
                let si = rng.random_range(0..agency.service_count.max(1));
                if let std::collections::btree_map::Entry::Vacant(e) =
                    plants.entry((agency.index, si))
                {
                    e.insert(p);
                    break;
                }
            }
        }
        PlantKind::SiteWide => agency.site_wide_plugin = true,
        PlantKind::PaginationLoop => agency.pagination_loop = true,
        PlantKind::CrawlDelay => {
            if let Some(h) = hosts.iter_mut().find(|h| h.name == data_host) {
                h.crawl_delay_ms = Some(100);
            }
        }
        PlantKind::NoHsts => {
            if let Some(h) = hosts.iter_mut().find(|h| h.name == portal) {
                h.hsts = false;
            }
        }
        PlantKind::NoHttpsRedirect => {
            if let Some(h) = hosts.iter_mut().find(|h| h.name == portal) {
                h.https_redirect = false;
            }
        }
        PlantKind::Cert(c) => {
            // Certificate defects go on extra hosts so the portal's services stay assessable.
            let used = hosts.iter().filter(|h| h.agency_id == agency.id).count();
            let prefix = EXTRA_PREFIXES
                .get(used.saturating_sub(1) % EXTRA_PREFIXES.len())
                .copied()
                .unwrap_or("extra");
            let mut name = format!("{prefix}.{}.sandbox.test", agency.id);
            if hosts.iter().any(|h| h.name == name) {
                name = format!("{prefix}{used}.{}.sandbox.test", agency.id);
            }
            let mut h = good_host(name, &agency.id, HostRole::Extra);
            h.cert = Some(c);
            hosts.push(h);
        }
    }
}
