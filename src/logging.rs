//! Logging and the process's own output, set up once by `main`:
//!
//! - colour only when stderr is a terminal, `NO_COLOR` is unset (or empty) and the format is
//!   text; never in JSON;
//! - level: `--quiet` errors only, `-v` debug (`-vv` every crate), else `DVC_AUDIT_LOG`, else
//!   `info` for dvc-audit's own stage events off a terminal (cron, systemd) and `warn` on a
//!   terminal, where the progress bar shows the crawl;
//! - `--log-format json`: every line on stdout and stderr is one JSON object (tracing's JSON
//!   lines on stderr; the command's result, e.g. `run_finished`, as a JSON line on stdout, in
//!   the same envelope: `timestamp`, `level`, `fields`, `target`);
//! - log lines never tear the progress bar: while a bar is shown they are written inside its
//!   `suspend` ([`set_bar`]).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::LogFormat;
use crate::diag::{Diagnostics, Severity as DiagSeverity};

static JSON: AtomicBool = AtomicBool::new(false);
static COLOR: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);
static BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// How the user asked to be told things.
#[derive(Debug, Clone, Copy)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `--quiet`: errors only.
    pub quiet: bool,
    /// `-v` count.
    pub verbose: u8,
}

/// Whether output is JSON lines (`--log-format json`).
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Whether `--quiet` was given (errors only, no progress bar).
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether stderr may carry ANSI colour (decided once by [`init`]).
pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// The colour decision: a terminal, text format, and no (non-empty) `NO_COLOR`.
pub fn use_color(terminal: bool, no_color: Option<&std::ffi::OsStr>, format: LogFormat) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && matches!(format, LogFormat::Text)
}

/// The tracing filter directive for these settings. `env` is `DVC_AUDIT_LOG`.
pub fn filter_directive(settings: &LogSettings, terminal: bool, env: Option<&str>) -> String {
    if settings.quiet {
        return "error".into();
    }
    match settings.verbose {
        0 => {}
        1 => return "warn,dvc_audit=debug".into(),
        2 => return "debug".into(),
        _ => return "trace".into(),
    }
    if let Some(e) = env.filter(|e| !e.trim().is_empty()) {
        return e.to_string();
    }
    if terminal && matches!(settings.format, LogFormat::Text) {
        "warn".into()
    } else {
        "warn,dvc_audit=info".into()
    }
}

/// Install the global subscriber. Call once, before anything logs.
pub fn init(settings: LogSettings) {
    use tracing_subscriber::EnvFilter;
    let terminal = std::io::stderr().is_terminal();
    let json = matches!(settings.format, LogFormat::Json);
    let color = use_color(
        terminal,
        std::env::var_os("NO_COLOR").as_deref(),
        settings.format,
    );
    JSON.store(json, Ordering::Relaxed);
    COLOR.store(color, Ordering::Relaxed);
    QUIET.store(settings.quiet, Ordering::Relaxed);
    let env = std::env::var("DVC_AUDIT_LOG").ok();
    let directive = filter_directive(&settings, terminal, env.as_deref());
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color)
        .with_writer(BarWriter::default);
    // `try_init`: a second call (tests) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .flatten_event(false)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Show log lines above `bar` while it is drawn (`None`: the bar is gone).
pub fn set_bar(bar: Option<indicatif::ProgressBar>) {
    if let Ok(mut slot) = BAR.lock() {
        *slot = bar;
    }
}

/// A log line's writer: buffers one event, then writes it to stderr in one piece, inside the
/// progress bar's `suspend` when a bar is shown.
#[derive(Default)]
pub struct BarWriter {
    buf: Vec<u8>,
}

impl Write for BarWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BarWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        let write = move || {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&buf);
            let _ = err.flush();
        };
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) if !bar.is_finished() => bar.suspend(write),
            _ => write(),
        }
    }
}

/// Now, as RFC 3339 UTC (the JSON lines' `timestamp`).
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One JSON line in tracing's envelope: `{"timestamp","level","fields":{"message",..},"target"}`.
pub fn json_line(level: &str, message: &str, fields: serde_json::Value) -> String {
    let mut f = serde_json::Map::new();
    if let serde_json::Value::Object(extra) = fields {
        f.extend(extra);
    }
    // The event name wins over a field of the same name.
    f.insert("message".into(), message.into());
    serde_json::json!({
        "timestamp": now_rfc3339(),
        "level": level,
        "fields": f,
        "target": "dvc_audit",
    })
    .to_string()
}

/// Write `text` to stdout (locked, flushed). Commands print through this (or [`crate::outln!`])
/// instead of `println!`, which panics when stdout is a closed pipe (`dvc-audit … | head -1`):
/// the `BrokenPipe` error travels up with `?` and `main` ends the process quietly.
pub fn out(text: &str) -> std::io::Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())?;
    o.flush()
}

/// `println!` through [`out`]: returns `std::io::Result<()>` (use `?`).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::logging::out(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// Whether an error is a closed stdout (EPIPE), anywhere in its chain.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Whether a panic is `println!`'s "failed printing to stdout" on a closed pipe (printing code
/// not yet moved to [`out`]); `main`'s panic hook then exits quietly instead of reporting it.
pub fn is_broken_pipe_panic(message: &str) -> bool {
    message.contains("failed printing to stdout")
        && (message.contains("Broken pipe") || message.contains("os error 32"))
}

/// The command's result on stdout: `text` as is, or with `--log-format json` one JSON line
/// (`event` as the message, `fields` beside it).
pub fn result(text: &str, event: &str, fields: serde_json::Value) -> std::io::Result<()> {
    if json() {
        out(&format!("{}\n", json_line("INFO", event, fields)))
    } else {
        out(text)
    }
}

/// An error for the person or the log collector: `error: …` on stderr, or a JSON line.
pub fn error(message: &str) {
    if json() {
        eprintln!(
            "{}",
            json_line(
                "ERROR",
                message,
                serde_json::Value::Object(Default::default())
            )
        );
    } else {
        eprintln!("error: {message}");
    }
}

/// Configuration, profile or rule diagnostics on stderr: rendered (with source excerpts), or
/// with `--log-format json` one JSON line each (`code`, `location`, `help`).
pub fn diagnostics(d: &Diagnostics) {
    if d.is_empty() {
        return;
    }
    if !json() {
        eprint!("{}", d.render(color()));
        return;
    }
    for item in &d.items {
        let level = match item.severity {
            DiagSeverity::Error => "ERROR",
            _ => "WARN",
        };
        let mut fields = serde_json::json!({
            "code": item.code,
            "location": item.location(),
        });
        if let (Some(help), serde_json::Value::Object(m)) = (&item.help, &mut fields) {
            m.insert("help".into(), help.clone().into());
        }
        eprintln!("{}", json_line(level, &item.message, fields));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(format: LogFormat, quiet: bool, verbose: u8) -> LogSettings {
        LogSettings {
            format,
            quiet,
            verbose,
        }
    }

    #[test]
    fn colour_only_on_a_terminal_in_text_without_no_color() {
        let t = LogFormat::Text;
        assert!(use_color(true, None, t));
        assert!(!use_color(false, None, t));
        assert!(!use_color(true, Some("1".as_ref()), t));
        assert!(
            use_color(true, Some("".as_ref()), t),
            "empty NO_COLOR is unset"
        );
        assert!(!use_color(true, None, LogFormat::Json));
    }

    #[test]
    fn level_follows_quiet_verbose_env_and_terminal() {
        let t = LogFormat::Text;
        assert_eq!(
            filter_directive(&settings(t, true, 0), false, None),
            "error"
        );
        assert_eq!(
            filter_directive(&settings(t, false, 1), true, Some("warn")),
            "warn,dvc_audit=debug"
        );
        assert_eq!(
            filter_directive(&settings(t, false, 2), true, None),
            "debug"
        );
        assert_eq!(
            filter_directive(&settings(t, false, 0), false, Some("dvc_audit=trace")),
            "dvc_audit=trace"
        );
        assert_eq!(
            filter_directive(&settings(t, false, 0), false, None),
            "warn,dvc_audit=info"
        );
        assert_eq!(filter_directive(&settings(t, false, 0), true, None), "warn");
        assert_eq!(
            filter_directive(&settings(LogFormat::Json, false, 0), true, None),
            "warn,dvc_audit=info"
        );
    }

    #[test]
    fn a_log_line_written_while_a_bar_is_shown_goes_through_it_and_nothing_is_held() {
        let bar = indicatif::ProgressBar::hidden();
        set_bar(Some(bar.clone()));
        {
            let mut w = BarWriter::default();
            assert_eq!(w.write(b"WARN something\n").ok(), Some(15));
        } // written here, inside the bar's suspend
        // The slot can be taken again (the writer released it before writing).
        assert!(BAR.lock().is_ok());
        set_bar(None);
        assert!(BAR.lock().map(|b| b.is_none()).unwrap_or(false));
    }

    #[test]
    fn a_closed_pipe_is_recognised_through_context_and_in_println_panics() {
        let epipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let e = anyhow::Error::from(epipe).context("printing the history");
        assert!(is_broken_pipe(&e));
        let other = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(!is_broken_pipe(&other));
        assert!(is_broken_pipe_panic(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_broken_pipe_panic(
            "failed printing to stderr: Broken pipe (os error 32)"
        ));
        assert!(!is_broken_pipe_panic("index out of bounds"));
    }

    #[test]
    fn json_line_is_tracing_shaped() {
        let line = json_line("INFO", "run_finished", serde_json::json!({"run_id": 3}));
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["fields"]["message"], "run_finished");
        assert_eq!(v["fields"]["run_id"], 3);
        assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(!line.contains('\n'));
        // The event name is never replaced by a field of the same name.
        let line = json_line("INFO", "spot_finding", serde_json::json!({"message": "x"}));
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["fields"]["message"], "spot_finding");
    }
}
