//! Per-world overrides: the effective state of a world a test can change between runs.
//!
//! Overrides store only what was changed (a service or host replaced whole), so the nation
//! world stays derived. Every read goes through [`Overrides::service_at`] / [`Overrides::host`]
//! lookups, which consult the overrides first and derive otherwise.

use std::collections::BTreeMap;

use super::service::{self, ServiceSpec};
use super::world::{AgencySpec, HostSpec, World};

/// The changeable state of a served world. Obtain one through
/// [`super::SandboxHandle::mutate`] (or [`Overrides::new`] to compute a ground truth offline).
#[derive(Debug, Clone)]
pub struct Overrides {
    world: World,
    services: BTreeMap<(usize, usize), ServiceSpec>,
    hosts: BTreeMap<String, HostSpec>,
    /// Agencies with changed flags (copy-on-write of the world's list; at most ~100).
    agencies: Option<Vec<AgencySpec>>,
    /// Incremented by every mutation; feeds `Last-Modified`.
    generation: u64,
}

impl Overrides {
    /// The world as generated, with no override.
    pub fn new(world: World) -> Overrides {
        Overrides {
            world,
            services: BTreeMap::new(),
            hosts: BTreeMap::new(),
            agencies: None,
            generation: 0,
        }
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    /// Number of mutations applied so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn bump(&mut self) {
        self.generation = self.generation.saturating_add(1);
    }

    /// The effective service at `(agency index, service index)`.
    pub fn service_at(&self, agency_index: usize, index: usize) -> Option<ServiceSpec> {
        match self.services.get(&(agency_index, index)) {
            Some(s) => Some(s.clone()),
            None => service::derive(&self.world.data, agency_index, index),
        }
    }

    /// Find a service by its code (`1.00NNNN`).
    pub fn find_code(&self, code: &str) -> Option<(usize, usize)> {
        // Codes are `1.` + (1000 + global ordinal), assigned in agency order.
        let n: usize = code.strip_prefix("1.")?.parse().ok()?;
        let ordinal = n.checked_sub(1000)?;
        let a =
            self.world.agencies().iter().find(|a| {
                ordinal >= a.first_ordinal && ordinal < a.first_ordinal + a.service_count
            })?;
        Some((a.index, ordinal - a.first_ordinal))
    }

    /// A mutable service (by code), materialised into the overrides. Change any field; the
    /// served pages and the ground truth follow.
    pub fn service(&mut self, code: &str) -> Option<&mut ServiceSpec> {
        let key = self.find_code(code)?;
        if !self.services.contains_key(&key) {
            let s = service::derive(&self.world.data, key.0, key.1)?;
            self.services.insert(key, s);
        }
        self.services.get_mut(&key)
    }

    /// Drop the override of a service: it is derived (with its planted defect) again.
    pub fn reset_service(&mut self, code: &str) {
        if let Some(key) = self.find_code(code) {
            self.services.remove(&key);
        }
    }

    /// The effective host spec.
    pub fn host_spec(&self, name: &str) -> Option<HostSpec> {
        if let Some(h) = self.hosts.get(name) {
            return Some(h.clone());
        }
        let i = *self.world.data.host_index.get(name)?;
        self.world.data.hosts.get(i).cloned()
    }

    /// A mutable host, materialised into the overrides (certificate changes are applied by
    /// the server after the mutation).
    pub fn host(&mut self, name: &str) -> Option<&mut HostSpec> {
        if !self.hosts.contains_key(name) {
            let h = self.host_spec(name)?;
            self.hosts.insert(name.to_string(), h);
        }
        self.hosts.get_mut(name)
    }

    pub fn reset_host(&mut self, name: &str) {
        self.hosts.remove(name);
    }

    /// Drop every override.
    pub fn reset_all(&mut self) {
        self.services.clear();
        self.hosts.clear();
        self.agencies = None;
    }

    /// The effective agencies, in world order.
    pub fn agencies(&self) -> &[AgencySpec] {
        self.agencies
            .as_deref()
            .unwrap_or_else(|| self.world.agencies())
    }

    /// The effective agency.
    pub fn agency(&self, id: &str) -> Option<&AgencySpec> {
        let i = *self.world.data.agency_index.get(id)?;
        self.agencies().get(i)
    }

    fn agency_mut(&mut self, id: &str) -> Option<&mut AgencySpec> {
        let i = *self.world.data.agency_index.get(id)?;
        let list = self
            .agencies
            .get_or_insert_with(|| self.world.agencies().to_vec());
        list.get_mut(i)
    }

    /// Plant or fix the site-wide theme plugin of an agency (HTML shapes). Only agency flags
    /// and the published count ([`Overrides::set_published_services`]) are changeable: ids,
    /// shapes and codes are the world's. `false` if no such id.
    pub fn set_site_wide_plugin(&mut self, agency_id: &str, on: bool) -> bool {
        self.agency_mut(agency_id)
            .map(|a| a.site_wide_plugin = on)
            .is_some()
    }

    /// Plant or end a transient outage of an agency (list 500, detail 503, every host
    /// unreachable); `Outage::None` brings it back up. `false` if no such id.
    pub fn set_outage(&mut self, agency_id: &str, outage: super::world::Outage) -> bool {
        self.agency_mut(agency_id)
            .map(|a| a.outage = outage)
            .is_some()
    }

    /// The agency serving `host` is down (its connections are dropped).
    pub fn host_down(&self, host: &str) -> bool {
        self.host_spec(host)
            .and_then(|h| self.agency(&h.agency_id).map(|a| a.outage))
            == Some(super::world::Outage::Down)
    }

    /// Plant or fix the pagination loop of an agency (table shape). `false` if no such id.
    pub fn set_pagination_loop(&mut self, agency_id: &str, on: bool) -> bool {
        self.agency_mut(agency_id)
            .map(|a| a.pagination_loop = on)
            .is_some()
    }

    /// Publish only the first `n` services of an agency (at most the world's count), as a
    /// portal before it publishes its newest procedures: the others are absent from its
    /// listing (HTML and API), their detail pages answer 404 and the ground truth leaves them
    /// out. Codes do not move. The world's count publishes every service again. `false` if no
    /// such id.
    pub fn set_published_services(&mut self, agency_id: &str, n: usize) -> bool {
        let Some(max) = self
            .world
            .data
            .agency_index
            .get(agency_id)
            .and_then(|&i| self.world.agencies().get(i))
            .map(|a| a.service_count)
        else {
            return false;
        };
        self.agency_mut(agency_id)
            .map(|a| a.service_count = n.min(max))
            .is_some()
    }

    /// Every effective host, in world order.
    pub fn hosts(&self) -> Vec<HostSpec> {
        self.world
            .data
            .hosts
            .iter()
            .map(|h| self.hosts.get(&h.name).unwrap_or(h).clone())
            .collect()
    }

    /// Services of one agency whose detail URL robots.txt must disallow. Only planted or
    /// overridden services can carry the flag, so only those are looked at.
    pub(crate) fn robots_disallowed(&self, agency_index: usize) -> Vec<ServiceSpec> {
        let mut keys: Vec<usize> = self
            .world
            .data
            .plants
            .keys()
            .chain(self.services.keys())
            .filter(|(a, _)| *a == agency_index)
            .map(|(_, s)| *s)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter_map(|s| self.service_at(agency_index, s))
            .filter(|s| s.robots_disallowed)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::world::Size;

    #[test]
    fn overrides_replace_and_reset() {
        let w = World::new(Size::Tiny, 1);
        let mut o = Overrides::new(w);
        let base = o.service_at(0, 2).expect("service");
        assert_eq!(o.find_code(&base.code), Some((0, 2)));
        if let Some(s) = o.service(&base.code) {
            s.name = "Đổi tên".into();
        }
        assert_eq!(
            o.service_at(0, 2).map(|s| s.name).as_deref(),
            Some("Đổi tên")
        );
        o.reset_service(&base.code);
        assert_eq!(o.service_at(0, 2), Some(base));
        assert!(o.service("9.999999").is_none());
        let host = "dvc.bca.sandbox.test";
        if let Some(h) = o.host(host) {
            h.hsts = false;
        }
        assert_eq!(o.host_spec(host).map(|h| h.hsts), Some(false));
        o.reset_host(host);
        assert_eq!(o.host_spec(host).map(|h| h.hsts), Some(true));
        assert!(o.set_site_wide_plugin("bca", true));
        assert_eq!(o.agency("bca").map(|a| a.site_wide_plugin), Some(true));
        assert!(!o.set_pagination_loop("nope", true));
        o.reset_all();
        assert_eq!(
            o.agency("bca").map(|a| a.site_wide_plugin),
            o.world().agency("bca").map(|a| a.site_wide_plugin)
        );
    }

    #[test]
    fn publishing_fewer_services_hides_the_tail_and_never_grows_the_world() {
        let w = World::new(Size::Tiny, 1);
        let mut o = Overrides::new(w);
        let count = o.agency("bca").map(|a| a.service_count).expect("bca");
        let all = o.services().count();
        assert!(o.set_published_services("bca", count - 1));
        assert_eq!(o.agency("bca").map(|a| a.service_count), Some(count - 1));
        assert_eq!(o.services().count(), all - 1, "the truth leaves it out");
        assert!(o.set_published_services("bca", count + 5));
        assert_eq!(o.agency("bca").map(|a| a.service_count), Some(count));
        assert!(!o.set_published_services("nope", 1));
    }
}
