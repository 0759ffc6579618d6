//! Per-host politeness state: robots.txt, a token-bucket rate limit (governor, burst 1, so the
//! rate is never exceeded in any window), a concurrency bound, and failure cool-off.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OnceCell, Semaphore};

use crate::facts::{AssessReason, ErrorFact};

/// What robots.txt says for this host.
#[derive(Debug)]
pub enum Robots {
    /// No robots.txt (4xx) or robots are not honoured: everything allowed.
    AllowAll,
    /// Parsed rules (texting_robots keeps its own compiled rules).
    Rules(Box<texting_robots::Robot>),
    /// robots.txt answered 5xx: RFC 9309 §2.3.1.3 says assume complete disallow.
    DisallowAll(String),
    /// The host could not be reached to read robots.txt.
    Unreachable(ErrorFact),
}

impl Robots {
    /// Adapter over texting_robots (kept behind this enum: its dependencies are old).
    pub fn parse(user_agent: &str, body: &[u8]) -> Robots {
        // The product token is the first word of the User-Agent (`dvc-audit/0.1 (...)`).
        let token = user_agent.split(['/', ' ']).next().unwrap_or(user_agent);
        match texting_robots::Robot::new(token, body) {
            Ok(r) => Robots::Rules(Box::new(r)),
            // An unparsable file is treated as no file (the parser is forgiving; rare).
            Err(_) => Robots::AllowAll,
        }
    }

    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay_capped(Duration::from_secs(60))
    }

    /// The Crawl-delay as written (seconds, finite and positive), before any cap.
    pub fn crawl_delay_asked(&self) -> Option<f32> {
        match self {
            Robots::Rules(r) => r.delay.filter(|d| d.is_finite() && *d > 0.0),
            _ => None,
        }
    }

    /// The Crawl-delay honoured: at most `cap` (`crawl.max_crawl_delay_secs`).
    pub fn crawl_delay_capped(&self, cap: Duration) -> Option<Duration> {
        self.crawl_delay_asked()
            .map(|d| Duration::from_secs_f32(d).min(cap))
    }

    /// `Ok` when allowed, else the error fact to record.
    pub fn check(&self, url: &str) -> Result<(), ErrorFact> {
        match self {
            Robots::AllowAll => Ok(()),
            Robots::Rules(r) if r.allowed(url) => Ok(()),
            Robots::Rules(_) => Err(ErrorFact {
                kind: AssessReason::RobotsDisallowed,
                message: format!("robots.txt disallows {url}"),
            }),
            Robots::DisallowAll(why) => Err(ErrorFact {
                kind: AssessReason::RobotsDisallowed,
                message: why.clone(),
            }),
            Robots::Unreachable(e) => Err(e.clone()),
        }
    }
}

/// Failure handling thresholds.
#[derive(Debug, Clone, Copy)]
pub struct CoolOff {
    /// Consecutive failed requests before the host is cooled off.
    pub after_failures: u32,
    pub pause: Duration,
    /// Cool-offs before the host is declared unreachable for the rest of the run.
    pub max_cooloffs: u32,
}

impl Default for CoolOff {
    fn default() -> Self {
        CoolOff {
            after_failures: 4,
            pause: Duration::from_secs(5),
            max_cooloffs: 2,
        }
    }
}

/// Politeness state of one host (`host:port`).
pub struct HostGate {
    pub robots: OnceCell<Robots>,
    limiter: OnceCell<Option<DefaultDirectRateLimiter>>,
    slots: std::sync::Arc<Semaphore>,
    consecutive_failures: AtomicU32,
    cooloffs: AtomicU32,
    unreachable: Mutex<Option<ErrorFact>>,
}

impl HostGate {
    pub fn new(per_host_concurrency: u32) -> Self {
        HostGate {
            robots: OnceCell::new(),
            limiter: OnceCell::new(),
            slots: std::sync::Arc::new(Semaphore::new(per_host_concurrency.max(1) as usize)),
            consecutive_failures: AtomicU32::new(0),
            cooloffs: AtomicU32::new(0),
            unreachable: Mutex::new(None),
        }
    }

    /// A concurrency slot only, without touching the rate limiter (used for robots.txt, which
    /// must be read before the limiter can know the Crawl-delay).
    pub async fn acquire_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        std::sync::Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .ok()
    }

    /// Wait for a request slot: concurrency first, then the rate limit. The permit must be held
    /// for the duration of the request.
    pub async fn acquire(&self, per_host_rate: f64) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.acquire_within(per_host_rate, Duration::from_secs(60), None)
            .await
            .ok()
            .flatten()
    }

    /// [`acquire`](Self::acquire) with the run's bounds: robots.txt's Crawl-delay capped at
    /// `max_delay`, and no wait that would end after `deadline` (the crawl's wall-clock
    /// budget): such a request is refused at once as `rate_limited`, with the delay in the
    /// message, instead of stalling the run.
    pub async fn acquire_within(
        &self,
        per_host_rate: f64,
        max_delay: Duration,
        deadline: Option<std::time::Instant>,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ErrorFact> {
        use governor::clock::Clock;
        let over_budget = |wait: Duration| ErrorFact {
            kind: AssessReason::RateLimited,
            message: self.budget_message(per_host_rate, max_delay, wait),
        };
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(over_budget(Duration::ZERO));
        }
        // `acquire` fails only on a closed semaphore, and this one is never closed.
        let permit = std::sync::Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .ok();
        let limiter = self
            .limiter
            // Created once robots.txt is known: the interval is the larger of 1/per_host_rate
            // and robots.txt's Crawl-delay (capped).
            .get_or_init(|| async {
                let delay = self
                    .robots
                    .get()
                    .and_then(|r| r.crawl_delay_capped(max_delay));
                new_limiter(per_host_rate, delay, self.robots.initialized())
            })
            .await;
        if let Some(l) = limiter {
            match (l.check(), deadline) {
                (Ok(()), _) => {}
                (Err(not_until), Some(d)) => {
                    let wait = not_until.wait_time_from(l.clock().now());
                    if std::time::Instant::now() + wait > d {
                        return Err(over_budget(wait));
                    }
                    l.until_ready().await;
                }
                (Err(_), None) => l.until_ready().await,
            }
        }
        if deadline.is_some_and(|d| std::time::Instant::now() > d) {
            return Err(over_budget(Duration::ZERO));
        }
        Ok(permit)
    }

    fn budget_message(&self, per_host_rate: f64, max_delay: Duration, wait: Duration) -> String {
        let delay = match self.robots.get().and_then(Robots::crawl_delay_asked) {
            Some(asked) => format!(
                "robots.txt Crawl-delay: {asked} s (honoured: {} s, crawl.max_crawl_delay_secs)",
                Duration::from_secs_f32(asked).min(max_delay).as_secs_f32()
            ),
            None => format!("no Crawl-delay; rate {per_host_rate}/s"),
        };
        format!(
            "not fetched within the run's time budget (crawl.max_run_minutes): {delay}; next request possible in {} s",
            wait.as_secs()
        )
    }

    pub fn record_success(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// Record a failed request; returns how long to pause before the next one, if the host
    /// crossed the cool-off threshold, and marks it unreachable after too many cool-offs.
    pub fn record_failure(&self, err: &ErrorFact, policy: CoolOff) -> Option<Duration> {
        let n = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n < policy.after_failures {
            return None;
        }
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let c = self.cooloffs.fetch_add(1, Ordering::Relaxed) + 1;
        if c > policy.max_cooloffs {
            if let Ok(mut u) = self.unreachable.lock() {
                u.get_or_insert_with(|| ErrorFact {
                    kind: err.kind,
                    message: format!(
                        "host unreachable after {c} cool-offs; last error: {}",
                        err.message
                    ),
                });
            }
            None
        } else {
            Some(policy.pause)
        }
    }

    /// Set when the host was given up on for this run.
    pub fn unreachable(&self) -> Option<ErrorFact> {
        self.unreachable.lock().ok().and_then(|u| u.clone())
    }
}

/// The host's limiter: one request per interval, burst 1. When robots.txt was just requested,
/// that request counts: its cell is spent, so the first page waits one interval after it.
fn new_limiter(
    per_host_rate: f64,
    crawl_delay: Option<Duration>,
    robots_fetched: bool,
) -> Option<DefaultDirectRateLimiter> {
    interval(per_host_rate, crawl_delay).map(|period| {
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let limiter = RateLimiter::direct(quota);
        if robots_fetched {
            let _ = limiter.check();
        }
        limiter
    })
}

/// The interval between two requests to one host, or `None` for no limit.
pub fn interval(per_host_rate: f64, crawl_delay: Option<Duration>) -> Option<Duration> {
    let from_rate = (per_host_rate > 0.0 && per_host_rate.is_finite())
        .then(|| Duration::from_secs_f64(1.0 / per_host_rate));
    match (from_rate, crawl_delay) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// All hosts of a run.
#[derive(Default)]
pub struct Hosts {
    map: Mutex<HashMap<String, std::sync::Arc<HostGate>>>,
}

impl Hosts {
    pub fn gate(&self, key: &str, per_host_concurrency: u32) -> std::sync::Arc<HostGate> {
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Looked up before inserting: every request of a run asks, the key is new once per host.
        if let Some(gate) = map.get(key) {
            return std::sync::Arc::clone(gate);
        }
        std::sync::Arc::clone(
            map.entry(key.to_string())
                .or_insert_with(|| std::sync::Arc::new(HostGate::new(per_host_concurrency))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_takes_the_slower_of_rate_and_crawl_delay() {
        assert_eq!(interval(0.0, None), None);
        assert_eq!(interval(2.0, None), Some(Duration::from_millis(500)));
        assert_eq!(
            interval(10.0, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            interval(0.0, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn robots_rules_and_crawl_delay() {
        let r = Robots::parse(
            "dvc-audit/0.1 (+mailto:a@b.vn)",
            b"User-agent: *\nDisallow: /private/\nDisallow: /tthc?matt=7$\nCrawl-delay: 1.5\n",
        );
        assert!(r.check("https://h/private/x").is_err());
        assert!(r.check("https://h/tthc?matt=7").is_err());
        assert!(r.check("https://h/tthc?matt=70").is_ok());
        assert!(r.check("https://h/public").is_ok());
        assert_eq!(r.crawl_delay(), Some(Duration::from_millis(1500)));
        let e = Robots::DisallowAll("robots.txt answered 503".into())
            .check("https://h/")
            .expect_err("disallow all");
        assert_eq!(e.kind, AssessReason::RobotsDisallowed);
    }

    #[test]
    fn the_robots_request_counts_against_the_rate() {
        let after_robots = new_limiter(1.0, None, true).expect("limited");
        assert!(
            after_robots.check().is_err(),
            "robots.txt took the first cell"
        );
        let fresh = new_limiter(1.0, None, false).expect("limited");
        assert!(fresh.check().is_ok());
        assert!(fresh.check().is_err(), "burst of one");
        assert!(new_limiter(0.0, None, true).is_none());
    }

    #[test]
    fn a_long_crawl_delay_is_capped_and_the_budget_refuses_waits_past_it() {
        let r = Robots::parse(
            "dvc-audit/0.1 (+mailto:a@b.vn)",
            b"User-agent: *\nCrawl-delay: 3600\n",
        );
        assert_eq!(r.crawl_delay_asked(), Some(3600.0));
        assert_eq!(
            r.crawl_delay_capped(Duration::from_secs(60)),
            Some(Duration::from_secs(60))
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        rt.block_on(async {
            let g = HostGate::new(1);
            let _ = g.robots.set(r);
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            // robots.txt spent the first cell: the first page would wait 60 s, past the
            // budget: refused at once, the delay in the message.
            let e = g
                .acquire_within(2.0, Duration::from_secs(60), Some(deadline))
                .await
                .expect_err("over budget");
            assert_eq!(e.kind, AssessReason::RateLimited);
            assert!(e.message.contains("Crawl-delay: 3600 s"), "{}", e.message);
            assert!(e.message.contains("honoured: 60 s"), "{}", e.message);
        });
    }

    #[test]
    fn cooloff_then_unreachable() {
        let g = HostGate::new(1);
        let e = ErrorFact {
            kind: AssessReason::Connect,
            message: "refused".into(),
        };
        let p = CoolOff {
            after_failures: 2,
            pause: Duration::from_millis(1),
            max_cooloffs: 1,
        };
        assert_eq!(g.record_failure(&e, p), None);
        assert_eq!(g.record_failure(&e, p), Some(Duration::from_millis(1)));
        assert!(g.unreachable().is_none());
        g.record_failure(&e, p);
        g.record_failure(&e, p);
        let u = g.unreachable().expect("unreachable");
        assert_eq!(u.kind, AssessReason::Connect);
    }
}
