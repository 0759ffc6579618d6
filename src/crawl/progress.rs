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

/// The plain line, e.g. `crawl: 120/640 pages (18%), 3 errors, 40 unchanged, 2/12 agencies,
/// 12.0 pages/s, 10s` (agencies as `done/planned` once the run has set the plan).
pub fn line(s: &Snapshot, elapsed: Duration) -> String {
    let percent = (s.pages_done.saturating_mul(100))
        .checked_div(s.pages_planned)
        .map_or(String::new(), |p| format!(" ({}%)", p.min(100)));
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.pages_done as f64 / secs
    } else {
        0.0
    };
    let agencies = if s.agencies_planned > 0 {
        format!("{}/{}", s.agencies_done, s.agencies_planned)
    } else {
        s.agencies_done.to_string()
    };
    format!(
        "crawl: {}/{} pages{percent}, {} errors, {} unchanged, {agencies} agencies, {rate:.1} pages/s, {}s",
        s.pages_done,
        s.pages_planned,
        s.errors,
        s.not_modified,
        elapsed.as_secs()
    )
}

/// The bar's message (the counters the bar itself does not show).
fn bar_message(s: &Snapshot) -> String {
    format!(
        "{} errors, {} unchanged, {} agencies done",
        s.errors, s.not_modified, s.agencies_done
    )
}

/// A running reporter; [`finish`](ReporterHandle::finish) stops it.
pub struct ReporterHandle {
    progress: Arc<Progress>,
    started: Instant,
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
                bar.finish_with_message(bar_message(&s));
            }
            None => tracing::info!("{}", line(&s, self.started.elapsed())),
        }
    }
}

/// Start reporting on `progress`: a bar when `tty`, else a log line every [`LOG_EVERY`].
/// Must be called inside a tokio runtime.
pub fn spawn_reporter(progress: Arc<Progress>, tty: bool) -> ReporterHandle {
    spawn_reporter_every(progress, tty, LOG_EVERY)
}

/// [`spawn_reporter`] with the log interval given.
pub fn spawn_reporter_every(progress: Arc<Progress>, tty: bool, every: Duration) -> ReporterHandle {
    let started = Instant::now();
    let bar = tty.then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        // The template is a literal; it parses, but fall back to the default style rather
        // than panic if indicatif ever rejects it.
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} pages ({per_sec}, eta {eta}) {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
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
                        bar.set_message(bar_message(&s));
                    }
                    None => tracing::info!("{}", line(&s, started.elapsed())),
                }
            }
        })
    };
    ReporterHandle {
        progress,
        started,
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
            "crawl: 120/640 pages (18%), 3 errors, 40 unchanged, 2/12 agencies, 12.0 pages/s, 10s"
        );
    }

    #[test]
    fn line_before_anything_is_planned_has_no_percent_and_no_division_by_zero() {
        let s = Snapshot::default();
        assert_eq!(
            line(&s, Duration::ZERO),
            "crawl: 0/0 pages, 0 errors, 0 unchanged, 0 agencies, 0.0 pages/s, 0s"
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
}
