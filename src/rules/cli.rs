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
pub fn run(cmd: &RulesCmd, _color: bool) -> ExitCode {
    let dir = match cmd {
        RulesCmd::Lint { dir, .. }
        | RulesCmd::Test { dir }
        | RulesCmd::Doc { dir, .. }
        | RulesCmd::List { dir, .. } => dir.as_deref(),
    };
    let loaded = match load(dir) {
        Ok(l) => l,
        Err(e) => {
            crate::logging::diagnostics(&e.0);
            return ExitCode::ConfigError;
        }
    };
    crate::logging::diagnostics(&loaded.warnings);
    let set = loaded.rules;
    match cmd {
        RulesCmd::Lint { waivers, .. } => {
            if let Some(path) = waivers {
                match super::waiver::Waivers::load(path, &set) {
                    Ok((w, warnings)) => {
                        crate::logging::diagnostics(&warnings);
                        say(
                            &format!("{}: {} waivers ok", path.display(), w.entries().len()),
                            "waivers_ok",
                            serde_json::json!({"path": path.display().to_string(), "waivers": w.entries().len()}),
                        );
                    }
                    Err(e) => {
                        crate::logging::diagnostics(&e.0);
                        return ExitCode::ConfigError;
                    }
                }
            }
            say(
                &format!("{} rules ok (digest {})", set.rules().len(), set.digest()),
                "rules_ok",
                serde_json::json!({"rules": set.rules().len(), "digest": set.digest()}),
            );
            ExitCode::Ok
        }
        RulesCmd::Test { .. } => {
            let report = set.self_test();
            for f in &report.failures {
                say(
                    &format!("FAIL {f}"),
                    "rule_test_failed",
                    serde_json::json!({"failure": f.to_string()}),
                );
            }
            say(
                &report.summary(),
                "rule_tests",
                serde_json::json!({"failures": report.failures.len(), "summary": report.summary()}),
            );
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
                None if crate::logging::json() => {
                    say("", "rules_doc", serde_json::json!({"markdown": md}));
                    ExitCode::Ok
                }
                None => {
                    let _ = crate::logging::out(&md);
                    ExitCode::Ok
                }
                Some(path) => match std::fs::write(path, md) {
                    Ok(()) => ExitCode::Ok,
                    Err(e) => {
                        crate::logging::error(&format!("cannot write {}: {e}", path.display()));
                        ExitCode::Incomplete
                    }
                },
            }
        }
    }
}

/// One result line on stdout: `text`, or under `--log-format json` the event `event` with
/// `fields`. A closed stdout ends the output quietly (the exit code stays the command's).
fn say(text: &str, event: &str, fields: serde_json::Value) {
    let _ = crate::logging::result(&format!("{text}\n"), event, fields);
}

/// `rules list`: a table, or one JSON document (on one line under `--log-format json`).
/// Written through `logging::out`: a closed stdout (`| head -1`) ends the listing quietly.
fn list(set: &RuleSet, json: bool) {
    if json || crate::logging::json() {
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
        let text = if crate::logging::json() {
            serde_json::to_string(&doc)
        } else {
            serde_json::to_string_pretty(&doc)
        };
        let _ = crate::logging::out(&format!("{}\n", text.unwrap_or_else(|_| "{}".into())));
        return;
    }
    let mut text = format!(
        "{:<10} {:<8} {:<8} {:<10} title\n",
        "id", "severity", "scope", "status"
    );
    for r in set.rules() {
        text.push_str(&format!(
            "{:<10} {:<8} {:<8} {:<10} {}\n",
            r.id,
            set.severity_of(r).as_str(),
            r.scope.as_str(),
            r.status.as_str(),
            r.title.en
        ));
    }
    text.push_str(&format!(
        "{} rules (digest {})\n",
        set.rules().len(),
        set.digest()
    ));
    let _ = crate::logging::out(&text);
}
