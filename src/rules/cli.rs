//! `dvc-audit rules lint | test | list | doc`. Prints only here (and in `src/cli.rs`).

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
    /// List the rules: id, severity, scope, status, title (`--json`: every field an
    /// integration needs, and the pack digest).
    List {
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
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
        RulesCmd::Lint { dir, .. }
        | RulesCmd::Test { dir }
        | RulesCmd::Doc { dir, .. }
        | RulesCmd::List { dir, .. } => dir.as_deref(),
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
        RulesCmd::List { json, .. } => {
            list(&set, *json);
            ExitCode::Ok
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

/// `rules list`: a table, or one JSON document.
fn list(set: &RuleSet, json: bool) {
    if json {
        let rules: Vec<serde_json::Value> = set
            .rules()
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "severity": set.severity_of(r).as_str(),
                    "scope": r.scope.as_str(),
                    "status": r.status.as_str(),
                    "since": r.since,
                    "title": {"vi": r.title.vi, "en": r.title.en},
                    "legal_basis": r.legal_basis,
                    "technical_basis": r.technical_basis,
                    "references": r.references,
                    "renamed_from": r.renamed_from,
                    "params": r.params.keys().collect::<Vec<_>>(),
                })
            })
            .collect();
        let doc = serde_json::json!({"digest": set.digest(), "rules": rules});
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
        );
        return;
    }
    println!(
        "{:<10} {:<8} {:<8} {:<10} title",
        "id", "severity", "scope", "status"
    );
    for r in set.rules() {
        println!(
            "{:<10} {:<8} {:<8} {:<10} {}",
            r.id,
            set.severity_of(r).as_str(),
            r.scope.as_str(),
            r.status.as_str(),
            r.title.en
        );
    }
    println!("{} rules (digest {})", set.rules().len(), set.digest());
}
