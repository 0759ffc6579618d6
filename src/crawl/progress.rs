//! Showing the crawl's progress: an indicatif bar when stderr is a terminal, otherwise a plain
//! `tracing::info!` line every [`LOG_EVERY`] (cron mails and journal logs stay readable).
//!
//! The reporter only reads the walk's atomic [`Progress`] counters; it never slows the crawl.
//! Call [`spawn_reporter`] inside the run's tokio runtime and [`ReporterHandle::finish`] when
//! the crawl is over (it prints the final state once).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::walk::Progress;

/// How often a plain log line is written when stderr is not a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(30);
/// How often the bar is refreshed on a terminal.
const BAR_EVERY: Duration = Duration::from_millis(200);

/// The counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub pages_planned: u64,
    pub pages_done: u64,
    pub errors: u64,
    pub not_modified: u64,
    pub agencies_done: u64,
    pub agencies_planned: u64,
}

impl Snapshot {
    pub fn of(p: &Progress) -> Snapshot {
        Snapshot {
            pages_planned: p.pages_planned.load(Ordering::Relaxed),
            pages_done: p.pages_done.load(Ordering::Relaxed),
            errors: p.errors.load(Ordering::Relaxed),
            not_modified: p.not_modified.load(Ordering::Relaxed),
            agencies_done: p.agencies_done.load(Ordering::Relaxed),
            agencies_planned: p.agencies_planned.load(Ordering::Relaxed),
        }
    }
}

/// What bounds the crawl's speed, for the ETA: each agency's portal is one host, fetched at
/// most `per_host_rate` pages per second, with at most `agencies_in_flight` walks at once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Pages per second per host (0: no limit).
    pub per_host_rate: f64,
    /// Walks at once (0: unknown).
    pub agencies_in_flight: u64,
}

/// `n word` or `n words`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A rate for people: one decimal below 10, whole numbers above ("4.5/s", "452/s").
pub fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        "0/s".into()
    } else if per_sec < 10.0 {
        format!("{per_sec:.1}/s")
    } else {
        format!("{:.0}/s", per_sec.round())
    }
}

/// A duration for people: "45s", "3m 05s", "2h 10m".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Pages per second observed so far.
fn observed_rate(s: &Snapshot, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        s.pages_done as f64 / secs
    } else {
        0.0
    }
}

/// Time left for the pages planned so far: at the slower of the observed rate and what the
/// per-host rate limit allows for the walks still going (each agency is one host, at most
/// `agencies_in_flight` at once). `None` until something bounds it. Pages are discovered as
/// listings are read, so this is a lower bound while listing goes on.
pub fn eta(s: &Snapshot, elapsed: Duration, limits: &Limits) -> Option<Duration> {
    let remaining = s.pages_planned.saturating_sub(s.pages_done);
    if remaining == 0 {
        return (s.pages_planned > 0).then_some(Duration::ZERO);
    }
    let hosts_left = s.agencies_planned.saturating_sub(s.agencies_done).max(1);
    let walking = if limits.agencies_in_flight > 0 {
        hosts_left.min(limits.agencies_in_flight)
    } else {
        hosts_left
    };
    let cap = (limits.per_host_rate > 0.0).then_some(limits.per_host_rate * walking as f64);
    let observed = observed_rate(s, elapsed);
    let observed = (s.pages_done > 0 && observed > 0.0).then_some(observed);
    let speed = match (observed, cap) {
        (Some(o), Some(c)) => o.min(c),
        (Some(o), None) => o,
        (None, Some(c)) => c,
        (None, None) => return None,
    };
    let secs = remaining as f64 / speed;
    (secs.is_finite() && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

/// The plain line, e.g. `crawl: 120/640 pages (18%), 3 errors, 40 unchanged, 2/12 agencies,
/// 12/s, eta 43s, 10s` (agencies as `done/planned` once the run has set the plan).
pub fn line(s: &Snapshot, elapsed: Duration) -> String {
    line_with(s, elapsed, &Limits::default())
}

/// [`line`] with the ETA bounded by the rate limits.
pub fn line_with(s: &Snapshot, elapsed: Duration, limits: &Limits) -> String {
    let percent = (s.pages_done.saturating_mul(100))
        .checked_div(s.pages_planned)
        .map_or(String::new(), |p| format!(" ({}%)", p.min(100)));
    let agencies = if s.agencies_planned > 0 {
        format!(
            "{}/{}",
            s.agencies_done,
            plural(s.agencies_planned, "agency", "agencies")
        )
    } else {
        plural(s.agencies_done, "agency", "agencies")
    };
    let eta = eta(s, elapsed, limits)
        .map(|d| format!(", eta {}", human_duration(d)))
        .unwrap_or_default();
    format!(
        "crawl: {}/{}{percent}, {}, {} unchanged, {agencies}, {}{eta}, {}",
        s.pages_done,
        plural(s.pages_planned, "page", "pages"),
        plural(s.errors, "error", "errors"),
        s.not_modified,
        rate(observed_rate(s, elapsed)),
        human_duration(elapsed)
    )
}

/// The bar's message: the most useful first, since the bar truncates it to the terminal's
/// width (`{wide_msg}`), e.g. `120/640 pages · 12/s · eta 43s · 3 errors · 2/12 agencies`.
pub fn bar_message(s: &Snapshot, elapsed: Duration, limits: &Limits) -> String {
    let mut parts = vec![
        format!(
            "{}/{}",
            s.pages_done,
            plural(s.pages_planned, "page", "pages")
        ),
        rate(observed_rate(s, elapsed)),
    ];
    if let Some(d) = eta(s, elapsed, limits) {
        parts.push(format!("eta {}", human_duration(d)));
    }
    parts.push(plural(s.errors, "error", "errors"));
    parts.push(if s.agencies_planned > 0 {
        format!(
            "{}/{}",
            s.agencies_done,
            plural(s.agencies_planned, "agency", "agencies")
        )
    } else {
        plural(s.agencies_done, "agency", "agencies")
    });
    if s.not_modified > 0 {
        parts.push(format!("{} unchanged", s.not_modified));
    }
    parts.join(" · ")
}

/// The bar: elapsed time, a fixed 20-column bar, then the message cut to what is left of the
/// line — 32 fixed columns, so it fits 80 columns (and any terminal of at least 40).
pub const BAR_TEMPLATE: &str = "{elapsed_precise} [{bar:20}] {wide_msg}";

/// A running reporter; [`finish`](ReporterHandle::finish) stops it.
pub struct ReporterHandle {
    progress: Arc<Progress>,
    started: Instant,
    limits: Limits,
    bar: Option<ProgressBar>,
    task: tokio::task::JoinHandle<()>,
}

impl ReporterHandle {
    /// Stop reporting and show the final state once (the bar is completed, or a last line is
    /// logged).
    pub fn finish(self) {
        self.task.abort();
        let s = Snapshot::of(&self.progress);
        match &self.bar {
            Some(bar) => {
                bar.set_length(s.pages_planned);
                bar.set_position(s.pages_done);
                bar.finish_with_message(bar_message(&s, self.started.elapsed(), &self.limits));
                crate::logging::set_bar(None);
                // indicatif leaves the cursor at the end of the finished bar: end its line, so
                // the summary does not start on it.
                if !bar.is_hidden() {
                    eprintln!();
                }
            }
            None => tracing::info!("{}", line_with(&s, self.started.elapsed(), &self.limits)),
        }
    }
}

/// Start reporting on `progress`: a bar when `tty`, else a log line every [`LOG_EVERY`].
/// Must be called inside a tokio runtime.
pub fn spawn_reporter(progress: Arc<Progress>, tty: bool) -> ReporterHandle {
    spawn_reporter_with(progress, tty, LOG_EVERY, Limits::default())
}

/// [`spawn_reporter`] with the log interval given.
pub fn spawn_reporter_every(progress: Arc<Progress>, tty: bool, every: Duration) -> ReporterHandle {
    spawn_reporter_with(progress, tty, every, Limits::default())
}

/// A styled bar on `target` (a terminal, or a test's fake one).
pub fn new_bar(target: ProgressDrawTarget) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), target);
    // The template is a literal; it parses, but fall back to the default style rather
    // than panic if indicatif ever rejects it.
    if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// [`spawn_reporter`] with the log interval and the rate limits (for the ETA) given. While
/// the bar is shown, log lines are printed above it (see [`crate::logging::set_bar`]).
pub fn spawn_reporter_with(
    progress: Arc<Progress>,
    tty: bool,
    every: Duration,
    limits: Limits,
) -> ReporterHandle {
    let started = Instant::now();
    let bar = tty.then(|| new_bar(ProgressDrawTarget::stderr()));
    crate::logging::set_bar(bar.clone());
    let task = {
        let progress = Arc::clone(&progress);
        let bar = bar.clone();
        tokio::spawn(async move {
            let period = if bar.is_some() { BAR_EVERY } else { every };
            let mut tick = tokio::time::interval(period.max(Duration::from_millis(10)));
            tick.tick().await; // the first tick is immediate
            loop {
                tick.tick().await;
                let s = Snapshot::of(&progress);
                match &bar {
                    Some(bar) => {
                        bar.set_length(s.pages_planned);
                        bar.set_position(s.pages_done);
                        bar.set_message(bar_message(&s, started.elapsed(), &limits));
                    }
                    None => tracing::info!("{}", line_with(&s, started.elapsed(), &limits)),
                }
            }
        })
    };
    ReporterHandle {
        progress,
        started,
        limits,
        bar,
        task,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_counts_percent_and_rate() {
        let s = Snapshot {
            pages_planned: 640,
            pages_done: 120,
            errors: 3,
            not_modified: 40,
            agencies_done: 2,
            agencies_planned: 12,
        };
        assert_eq!(
            line(&s, Duration::from_secs(10)),
            "crawl: 120/640 pages (18%), 3 errors, 40 unchanged, 2/12 agencies, 12/s, eta 43s, 10s"
        );
    }

    #[test]
    fn line_before_anything_is_planned_has_no_percent_and_no_division_by_zero() {
        let s = Snapshot::default();
        assert_eq!(
            line(&s, Duration::ZERO),
            "crawl: 0/0 pages, 0 errors, 0 unchanged, 0 agencies, 0/s, 0s"
        );
    }

    #[test]
    fn snapshot_reads_the_walk_counters() {
        let p = Progress::default();
        p.pages_planned.store(5, Ordering::Relaxed);
        p.pages_done.store(4, Ordering::Relaxed);
        p.errors.store(1, Ordering::Relaxed);
        assert_eq!(
            Snapshot::of(&p),
            Snapshot {
                pages_planned: 5,
                pages_done: 4,
                errors: 1,
                not_modified: 0,
                agencies_done: 0,
                agencies_planned: 0,
            }
        );
    }

    #[tokio::test]
    async fn finish_stops_the_reporter() {
        let p = Arc::new(Progress::default());
        let h = spawn_reporter_every(Arc::clone(&p), false, Duration::from_millis(10));
        let task_done = h.task.abort_handle();
        h.finish();
        tokio::task::yield_now().await;
        for _ in 0..100 {
            if task_done.is_finished() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("reporter task still running after finish");
    }
    #[test]
    fn plurals_and_rounded_rates() {
        assert_eq!(plural(1, "agency", "agencies"), "1 agency");
        assert_eq!(plural(0, "agency", "agencies"), "0 agencies");
        assert_eq!(rate(452.4725), "452/s");
        assert_eq!(rate(4.5321), "4.5/s");
        assert_eq!(rate(f64::NAN), "0/s");
        let s = Snapshot {
            pages_planned: 2,
            pages_done: 1,
            errors: 1,
            agencies_done: 1,
            agencies_planned: 1,
            ..Snapshot::default()
        };
        let l = line(&s, Duration::from_secs(1));
        assert!(l.contains("1 error,") && l.contains("1/1 agency,"), "{l}");
        assert!(!l.contains("agencies done"), "{l}");
    }

    #[test]
    fn eta_is_bounded_by_the_per_host_rate() {
        // 1000 pages left on 2 portals at 1 page/s each: at least 500 s, however fast the
        // cached pages went so far.
        let s = Snapshot {
            pages_planned: 1100,
            pages_done: 100,
            agencies_planned: 4,
            agencies_done: 2,
            ..Snapshot::default()
        };
        let limits = Limits {
            per_host_rate: 1.0,
            agencies_in_flight: 16,
        };
        assert_eq!(
            eta(&s, Duration::from_secs(1), &limits),
            Some(Duration::from_secs(500))
        );
        // No limit: the observed rate (100 pages in 10 s).
        assert_eq!(
            eta(&s, Duration::from_secs(10), &Limits::default()),
            Some(Duration::from_secs(100))
        );
        // Nothing fetched and no limit: unknown, not zero.
        assert_eq!(
            eta(
                &Snapshot {
                    pages_planned: 5,
                    ..Snapshot::default()
                },
                Duration::from_secs(3),
                &Limits::default()
            ),
            None
        );
    }

    /// A terminal 80 columns wide that keeps what was drawn.
    #[derive(Debug, Default, Clone)]
    struct Term80(Arc<std::sync::Mutex<Vec<String>>>);

    impl indicatif::TermLike for Term80 {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.is_empty()
                && let Ok(mut l) = self.0.lock()
            {
                l.push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_bar_fits_80_columns_and_keeps_its_bar() {
        let term = Term80::default();
        let bar = new_bar(ProgressDrawTarget::term_like(Box::new(term.clone())));
        let s = Snapshot {
            pages_planned: 123_456,
            pages_done: 45_678,
            errors: 1_234,
            not_modified: 9_876,
            agencies_done: 37,
            agencies_planned: 120,
        };
        bar.set_length(s.pages_planned);
        bar.set_position(s.pages_done);
        // `abandon` draws once and keeps the position (`finish` would fill the bar).
        bar.abandon_with_message(bar_message(
            &s,
            Duration::from_secs(101),
            &Limits {
                per_host_rate: 2.0,
                agencies_in_flight: 16,
            },
        ));
        let drawn = term.0.lock().map(|l| l.clone()).unwrap_or_default();
        let last = drawn
            .iter()
            .rev()
            .find(|l| l.contains("pages"))
            .cloned()
            .unwrap_or_default();
        assert!(!drawn.is_empty());
        for l in &drawn {
            assert!(
                l.chars().count() <= 80,
                "{} columns: {l:?}",
                l.chars().count()
            );
        }
        // The bar keeps its 20 columns (7 of them filled at 37%), the counts come first.
        assert!(last.contains("[=======>            ]"), "{last:?}");
        assert!(last.contains("45678/123456 pages · 452/s"), "{last:?}");
    }
}
