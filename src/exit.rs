//! Process exit codes. Cron and systemd act on these; they are documented in the README and in
//! the `--help` epilogue, both from [`TABLE`] (a test keeps the README's table equal to it).

/// The exit status of a `dvc-audit` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything ran; no finding at or above the configured severity.
    Ok = 0,
    /// Findings at or above the configured `--fail-on` severity.
    Findings = 1,
    /// Usage, configuration, profile or rule error: nothing was run. Unknown options, run ids,
    /// agency ids and report formats are usage errors too.
    ConfigError = 2,
    /// The run could not complete (storage error, interrupted, ...).
    Incomplete = 3,
    /// Another run holds the lock.
    Locked = 4,
}

impl ExitCode {
    /// The numeric status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// A usage error (an unknown run, agency, format, ...): exit 2, like clap's own.
    pub const USAGE: ExitCode = ExitCode::ConfigError;
}

/// Every exit status with its meaning, for the README and `--help`.
pub const TABLE: [(u8, &str); 5] = [
    (
        0,
        "everything ran; no finding at or above `fail_on` (`spot`: `--fail-on`)",
    ),
    (
        1,
        "findings at or above `fail_on` (`run`, `spot`), counting earlier findings a run could not re-check (unverified) at their severity; a break in the digest chain (`history verify`); a failing rule test (`rules test`)",
    ),
    (
        2,
        "usage or configuration error, nothing was run: unknown option, run, agency or report format; invalid configuration, profile or rule file; `config init` would overwrite a file",
    ),
    (
        3,
        "the run could not complete (storage error, interrupted by SIGTERM/SIGINT), or its reports could not be written (the run is complete in history: `dvc-audit report --run N` writes them); `outbox flush` left mail undelivered; `gc` could not remove an old run's report files (the rest of `gc` was done); `spot` on a host alone: the host could not be assessed (unreachable, or no host rule could judge it)",
    ),
    (4, "another run holds the lock"),
];

/// The `--help` epilogue: [`TABLE`] as plain text.
pub const HELP_EPILOGUE: &str = "\
Exit codes (cron and systemd act on them):
  0  everything ran; no finding at or above `fail_on` (`spot`: `--fail-on`)
  1  findings at or above `fail_on` (`run`, `spot`), counting earlier findings a run could not re-check (unverified) at their severity; a break in the digest chain (`history verify`); a failing rule test (`rules test`)
  2  usage or configuration error, nothing was run: unknown option, run, agency or report format; invalid configuration, profile or rule file; `config init` would overwrite a file
  3  the run could not complete (storage error, interrupted by SIGTERM/SIGINT), or its reports could not be written (the run is complete in history: `dvc-audit report --run N` writes them); `outbox flush` left mail undelivered; `gc` could not remove an old run's report files (the rest of `gc` was done); `spot` on a host alone: the host could not be assessed (unreachable, or no host rule could judge it)
  4  another run holds the lock";

/// [`TABLE`] as the README's Markdown table.
pub fn markdown_table() -> String {
    let mut out = String::from("| code | meaning |\n|---|---|\n");
    for (code, meaning) in TABLE {
        out.push_str(&format!("| {code} | {meaning} |\n"));
    }
    out
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_epilogue_is_the_table() {
        let mut text = String::from("Exit codes (cron and systemd act on them):");
        for (code, meaning) in TABLE {
            text.push_str(&format!("\n  {code}  {meaning}"));
        }
        assert_eq!(HELP_EPILOGUE, text);
    }

    #[test]
    fn table_covers_every_variant_in_order() {
        let codes: Vec<u8> = TABLE.iter().map(|(c, _)| *c).collect();
        let variants = [
            ExitCode::Ok,
            ExitCode::Findings,
            ExitCode::ConfigError,
            ExitCode::Incomplete,
            ExitCode::Locked,
        ];
        assert_eq!(codes, variants.map(ExitCode::code).to_vec());
        assert_eq!(ExitCode::USAGE.code(), 2);
    }
}
