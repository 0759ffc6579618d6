//! Thin binary: parse arguments, build the runtime, dispatch, map the result to an exit code.

use dvc_audit::cli::Cli;
use dvc_audit::exit::ExitCode;
use dvc_audit::logging::LogSettings;

/// jemalloc instead of glibc malloc: a crawl allocates and frees many short-lived buffers per
/// page (bodies, parse trees, texts) on several threads; glibc's per-thread arenas fragment
/// (peak RSS of the nation crawl 264 → 182 MiB with jemalloc) and cost more CPU per page.
/// mimalloc 3 (the `mimalloc` crate's default) kept freed memory for a second and peaked higher.
/// Built with jemalloc's background threads on (`background_threads`, Cargo.toml): without them
/// an arena returns freed pages only when its own thread allocates again, so the crawl's worker
/// threads, idle once it ends, kept tens of MB of freed pages through the store and report
/// stages (issue 20).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    quiet_on_broken_pipe();
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    dvc_audit::logging::init(LogSettings {
        format: cli.log_format,
        quiet: cli.quiet,
        verbose: cli.verbose,
    });
    dvc_audit::install_crypto_provider();

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = cli.workers {
        builder.worker_threads(n.max(1));
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            dvc_audit::logging::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::Incomplete.into();
        }
    };
    match runtime.block_on(dvc_audit::cli::dispatch(cli)) {
        Ok(code) => code.into(),
        // The reader went away (`dvc-audit rules list | head -1`): stop quietly, as
        // common CLIs do; what was asked for was printed as far as it was wanted.
        Err(e) if dvc_audit::logging::is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            dvc_audit::logging::error(&format!("{e:#}"));
            ExitCode::Incomplete.into()
        }
    }
}

/// Printing that still goes through `println!` panics on a closed stdout: end such a panic
/// quietly (exit 0, nothing on stderr) instead of a panic message and exit 101. Every other
/// panic keeps the default report.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if dvc_audit::logging::is_broken_pipe_panic(message) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Parse the arguments. `--version` gets the long form (commit, build date, digests); usage
/// errors exit 2 — as one JSON line when `--log-format json` was asked for.
fn parse() -> Result<Cli, std::process::ExitCode> {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cmd = if args.iter().any(|a| a == "--version") {
        dvc_audit::cli::command_with_long_version()
    } else {
        Cli::command()
    };
    let parsed = cmd
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(cli) => Ok(cli),
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Err(std::process::ExitCode::SUCCESS);
            }
            let json = args.windows(2).any(|w| {
                w.first().is_some_and(|a| a == "--log-format")
                    && w.get(1).is_some_and(|v| v == "json")
            }) || args.iter().any(|a| a == "--log-format=json");
            if json {
                let text = e.render().to_string();
                eprintln!(
                    "{}",
                    dvc_audit::logging::json_line(
                        "ERROR",
                        text.trim_end(),
                        serde_json::json!({"exit_code": ExitCode::USAGE.code()}),
                    )
                );
            } else {
                let _ = e.print();
            }
            Err(ExitCode::USAGE.into())
        }
    }
}
