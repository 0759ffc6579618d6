//! Crawl progress for people: a progress bar on a terminal (indicatif), plain periodic log
//! lines otherwise (cron, systemd), both read from the crawl's counters.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::crawl::walk::Progress;

/// Seconds between log lines when not on a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

/// Stops the reporter when finished or dropped.
pub struct ReporterHandle {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: Option<indicatif::ProgressBar>,
}

impl ReporterHandle {
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Drop for ReporterHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One plain progress line.
pub fn line(p: &Progress) -> String {
    format!(
        "crawl: {}/{} pages, {} not modified, {} errors, {} agencies done",
        p.pages_done.load(Ordering::Relaxed),
        p.pages_planned.load(Ordering::Relaxed),
        p.not_modified.load(Ordering::Relaxed),
        p.errors.load(Ordering::Relaxed),
        p.agencies_done.load(Ordering::Relaxed),
    )
}

/// Start reporting. Must be called inside a tokio runtime.
pub fn spawn_reporter(progress: Arc<Progress>, tty: bool) -> ReporterHandle {
    if tty {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} pages {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let b = bar.clone();
        let task = tokio::spawn(async move {
            loop {
                b.set_length(progress.pages_planned.load(Ordering::Relaxed));
                b.set_position(progress.pages_done.load(Ordering::Relaxed));
                b.set_message(format!(
                    "({} errors, {} unchanged)",
                    progress.errors.load(Ordering::Relaxed),
                    progress.not_modified.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        ReporterHandle {
            task: Some(task),
            bar: Some(bar),
        }
    } else {
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LOG_EVERY).await;
                tracing::info!("{}", line(&progress));
            }
        });
        ReporterHandle {
            task: Some(task),
            bar: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_reads_the_counters() {
        let p = Progress::default();
        p.pages_planned.store(10, Ordering::Relaxed);
        p.pages_done.store(4, Ordering::Relaxed);
        p.errors.store(1, Ordering::Relaxed);
        assert_eq!(
            line(&p),
            "crawl: 4/10 pages, 0 not modified, 1 errors, 0 agencies done"
        );
    }
}
