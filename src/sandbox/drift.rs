//! Drift: the world changing day by day, deterministically from (seed, day), for storage
//! benchmarks and for the demo's second run.
//!
//! Each day a share `rate` of the world's services change one thing: their level (and the
//! label that shows it), their signature support (VGCA added or removed), or their markup
//! only (the field row: the page changes, the facts do not). Each host's certificate, with
//! probability `rate`, renews (an expired certificate is replaced by a good one) or expires
//! (a good one is replaced by an expired one). Services with a planted transport behaviour
//! (slow, redirect loop, ...) are left alone. Day `N` is days `1..=N` applied in order, so
//! the ground truth ([`Overrides::ground_truth`](super::Overrides)) follows the drift: every
//! change goes through the overrides.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::catalog;
use super::overrides::Overrides;
use super::service::{Behaviour, Provider, label_for};
use super::world::{CertDefect, LevelScheme, rng_for};
use crate::facts::Level;

const TAG_DRIFT_SERVICES: u64 = 101;
const TAG_DRIFT_HOSTS: u64 = 102;

/// How a world drifts: which day, how fast, from which seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    /// Days of drift applied (0: the world as generated).
    pub day: u32,
    /// Share of services (and chance per host certificate) that change each day, `0..=1`.
    pub rate: f64,
    /// Seed of the drift (independent of the world's seed).
    pub seed: u64,
}

impl Default for Drift {
    fn default() -> Self {
        Drift {
            day: 0,
            rate: 0.01,
            seed: 1,
        }
    }
}

/// What one day of drift changed (codes and host names), for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayChanges {
    pub level: Vec<String>,
    pub signature: Vec<String>,
    pub markup: Vec<String>,
    pub cert_renewed: Vec<String>,
    pub cert_expired: Vec<String>,
}

impl DayChanges {
    pub fn services(&self) -> usize {
        self.level.len() + self.signature.len() + self.markup.len()
    }
}

impl Overrides {
    /// Apply days `1..=drift.day` on top of the current state; returns what each day changed.
    /// Start from a fresh world (or [`Overrides::reset_all`]) for the state of day `N`.
    pub fn apply_drift(&mut self, drift: &Drift) -> Vec<DayChanges> {
        (1..=drift.day)
            .map(|d| self.apply_drift_day(d, drift.rate, drift.seed))
            .collect()
    }

    /// Apply one day of drift (day `day` of seed `seed`) on top of the current state.
    pub fn apply_drift_day(&mut self, day: u32, rate: f64, seed: u64) -> DayChanges {
        let rate = if rate.is_finite() {
            rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let mut out = DayChanges::default();
        let total = self.world().service_count();
        let wanted = ((total as f64) * rate).round() as usize;
        let mut rng = rng_for(seed, TAG_DRIFT_SERVICES, u64::from(day), 0);
        let picked = rand::seq::index::sample(&mut rng, total, wanted.min(total));
        let mut ordinals: Vec<usize> = picked.into_iter().collect();
        ordinals.sort_unstable();
        for ordinal in ordinals {
            let Some((agency_index, index, scheme)) = self.locate(ordinal) else {
                continue;
            };
            let Some(current) = self.service_at(agency_index, index) else {
                continue;
            };
            if current.behaviour != Behaviour::Normal {
                continue;
            }
            let code = current.code.clone();
            let Some(s) = self.service(&code) else {
                continue;
            };
            match rng.random_range(0..3) {
                0 if s.level != Level::Unknown => {
                    s.level = match s.level {
                        Level::Full => Level::Partial,
                        Level::Partial => {
                            if rng.random_bool(0.5) {
                                Level::Full
                            } else {
                                Level::Info
                            }
                        }
                        _ => Level::Partial,
                    };
                    s.level_label = label_for(s.level, scheme, &mut rng);
                    out.level.push(code);
                }
                1 | 0 => {
                    if let Some(i) = s.providers.iter().position(|p| *p == Provider::Vgca) {
                        s.providers.remove(i);
                    } else {
                        s.providers.push(Provider::Vgca);
                    }
                    out.signature.push(code);
                }
                _ => {
                    let other = catalog::FIELDS
                        .iter()
                        .filter(|f| **f != s.field)
                        .copied()
                        .collect::<Vec<_>>();
                    if let Some(f) = other.choose(&mut rng) {
                        s.field = (*f).to_string();
                    }
                    out.markup.push(code);
                }
            }
        }
        let mut rng = rng_for(seed, TAG_DRIFT_HOSTS, u64::from(day), 0);
        for h in self.hosts() {
            if !rng.random_bool(rate) {
                continue;
            }
            match h.cert {
                Some(CertDefect::Expired) => {
                    if let Some(m) = self.host(&h.name) {
                        m.cert = None;
                    }
                    out.cert_renewed.push(h.name);
                }
                None => {
                    if let Some(m) = self.host(&h.name) {
                        m.cert = Some(CertDefect::Expired);
                    }
                    out.cert_expired.push(h.name);
                }
                Some(_) => {}
            }
        }
        self.bump();
        out
    }

    /// (agency index, service index, level scheme) of the service with global ordinal
    /// `ordinal` in the world's numbering.
    fn locate(&self, ordinal: usize) -> Option<(usize, usize, LevelScheme)> {
        let a =
            self.world().agencies().iter().find(|a| {
                ordinal >= a.first_ordinal && ordinal < a.first_ordinal + a.service_count
            })?;
        // A service the agency does not publish now is not drifted.
        let published = self.agency(&a.id).map_or(0, |e| e.service_count);
        let index = ordinal - a.first_ordinal;
        (index < published).then_some((a.index, index, a.level_scheme))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::world::{Size, World};

    #[test]
    fn drift_is_deterministic_by_seed_and_day_and_changes_the_share_asked() {
        let fresh = || Overrides::new(World::new(Size::Demo, 3));
        let drift = Drift {
            day: 3,
            rate: 0.05,
            seed: 9,
        };
        let (mut a, mut b) = (fresh(), fresh());
        let da = a.apply_drift(&drift);
        let db = b.apply_drift(&drift);
        assert_eq!(da, db, "same seed and day, same changes");
        let total = a.world().service_count();
        for day in &da {
            let expected = ((total as f64) * 0.05).round() as usize;
            assert!(day.services() <= expected && day.services() * 10 >= expected * 8);
        }
        let state = |o: &Overrides| {
            let services: Vec<_> = o.services().map(|(_, s)| s).collect();
            format!("{services:?} {:?}", o.hosts())
        };
        assert_eq!(state(&a), state(&b));
        let mut c = fresh();
        let dc = c.apply_drift(&Drift { seed: 10, ..drift });
        assert_ne!(da, dc, "another seed drifts otherwise");
        // Day by day is the same as all at once.
        let mut d = fresh();
        for day in 1..=3 {
            d.apply_drift_day(day, 0.05, 9);
        }
        assert_eq!(state(&a), state(&d));
        // After one day, each changed service differs from the world as generated in what
        // the day says changed.
        let base = fresh();
        let mut one = fresh();
        let day1 = one.apply_drift_day(1, 0.05, 9);
        let at = |o: &Overrides, code: &str| {
            let (ai, si) = o.find_code(code).expect("code");
            o.service_at(ai, si).expect("service")
        };
        assert!(!day1.level.is_empty() && !day1.signature.is_empty() && !day1.markup.is_empty());
        for code in &day1.level {
            assert_ne!(at(&one, code).level, at(&base, code).level, "{code}");
        }
        for code in &day1.signature {
            let vgca = |o: &Overrides| at(o, code).providers.contains(&Provider::Vgca);
            assert_ne!(vgca(&one), vgca(&base), "{code}");
        }
        for code in &day1.markup {
            let (x, y) = (at(&one, code), at(&base, code));
            assert_ne!(x.field, y.field, "{code}");
            assert_eq!((x.level, x.providers), (y.level, y.providers), "{code}");
        }
    }
}
