//! Process exit codes. Cron and systemd act on these; they are documented in the README.

/// The exit status of a `dvc-audit` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything ran; no finding at or above the configured severity.
    Ok = 0,
    /// Findings at or above the configured `--fail-on` severity.
    Findings = 1,
    /// Configuration, profile or rule error: nothing was run.
    ConfigError = 2,
    /// The run could not complete (storage error, interrupted, ...).
    Incomplete = 3,
    /// Another run holds the lock.
    Locked = 4,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}
