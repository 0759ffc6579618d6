//! `dvc-audit rules lint | test | doc`. Prints only here (and in `src/cli.rs`).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::set::{LoadedRules, RuleSet};
use crate::diag::DiagnosticsError;
use crate::exit::ExitCode;

#[derive(Debug, Subcommand)]
pub enum RulesCmd {
    /// Load and validate rules; print every problem with file:line:col (exit 2 on error).
    Lint {
        /// Rule directory (default: the bundled pack).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Also validate a waivers file against the rules.
        #[arg(long)]
        waivers: Option<PathBuf>,
    },
    /// Run every embedded test case (exit 1 on a failure).
    Test {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Write the Markdown reference of every rule (stdout, or --out FILE).
    Doc {
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn load(dir: Option<&Path>) -> Result<LoadedRules, DiagnosticsError> {
    match dir {
        Some(d) => RuleSet::load_dir(d),
        None => RuleSet::bundled(),
    }
}

/// Run a rules command and return the exit code.
pub fn run(cmd: &RulesCmd, color: bool) -> ExitCode {
    let dir = match cmd {
        RulesCmd::Lint { dir, .. } | RulesCmd::Test { dir } | RulesCmd::Doc { dir, .. } => {
            dir.as_deref()
        }
    };
    let loaded = match load(dir) {
        Ok(l) => l,
        Err(e) => {
            eprint!("{}", e.0.render(color));
            return ExitCode::ConfigError;
        }
    };
    if !loaded.warnings.is_empty() {
        eprint!("{}", loaded.warnings.render(color));
    }
    let set = loaded.rules;
    match cmd {
        RulesCmd::Lint { waivers, .. } => {
            if let Some(path) = waivers {
                match super::waiver::Waivers::load(path, &set) {
                    Ok((w, warnings)) => {
                        eprint!("{}", warnings.render(color));
                        println!("{}: {} waivers ok", path.display(), w.entries().len());
                    }
                    Err(e) => {
                        eprint!("{}", e.0.render(color));
                        return ExitCode::ConfigError;
                    }
                }
            }
            println!("{} rules ok (digest {})", set.rules().len(), set.digest());
            ExitCode::Ok
        }
        RulesCmd::Test { .. } => {
            let report = set.self_test();
            for f in &report.failures {
                println!("FAIL {f}");
            }
            println!("{}", report.summary());
            if report.failures.is_empty() {
                ExitCode::Ok
            } else {
                ExitCode::Findings
            }
        }
        RulesCmd::Doc { out, .. } => {
            let md = set.markdown();
            match out {
                None => {
                    print!("{md}");
                    ExitCode::Ok
                }
                Some(path) => match std::fs::write(path, md) {
                    Ok(()) => ExitCode::Ok,
                    Err(e) => {
                        eprintln!("error: cannot write {}: {e}", path.display());
                        ExitCode::Incomplete
                    }
                },
            }
        }
    }
}
