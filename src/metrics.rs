//! `run --metrics-file PATH`: the last run as Prometheus/OpenMetrics text, for node-exporter's
//! textfile collector (`--collector.textfile.directory`, files named `*.prom`). The file is
//! written beside its final name and renamed over it, so the collector never reads half a file.
//!
//! Every number comes from the history database's aggregates — the queries the reports use
//! (`store::reading`) — never recounted here. A value that is not known (a VGCA share of an
//! agency with no full-process service read) is left out, not written as 0.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::exit::ExitCode;
use crate::store::{Store, StoreError};

/// What the process knows about the run beyond the database.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run's id, when one was started.
    pub run_id: Option<i64>,
    /// `regular`, `surprise`, `spot`.
    pub mode: String,
    pub exit: ExitCode,
    /// Wall-clock seconds of the whole command.
    pub duration_secs: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("reading the history: {0}")]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A Prometheus label value: `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut s = String::from(name);
        if !labels.is_empty() {
            s.push('{');
            let parts: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
                .collect();
            s.push_str(&parts.join(","));
            s.push('}');
        }
        let _ = writeln!(self.text, "{s} {value}");
    }
}

fn unix(ts: &str) -> Option<f64> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
}

/// The metrics text of a run. `store` is `None` when no database could be opened.
pub fn render(store: Option<&Store>, outcome: &RunOutcome) -> Result<String, MetricsError> {
    let mut o = Out {
        text: String::new(),
    };
    let exit = outcome.exit.code();
    let mode = outcome.mode.as_str();
    o.family(
        "dvc_audit_last_run_exit_code",
        "Exit code of the last `dvc-audit run` (0 ok, 1 findings, 2 usage/config, 3 incomplete, 4 locked).",
    );
    o.sample(
        "dvc_audit_last_run_exit_code",
        &[("mode", mode)],
        f64::from(exit),
    );
    o.family(
        "dvc_audit_last_run_success",
        "1 when the last run completed (exit 0 or 1), else 0.",
    );
    o.sample(
        "dvc_audit_last_run_success",
        &[("mode", mode)],
        if exit <= 1 { 1.0 } else { 0.0 },
    );
    o.family(
        "dvc_audit_last_run_duration_seconds",
        "Wall-clock duration of the last run command.",
    );
    o.sample(
        "dvc_audit_last_run_duration_seconds",
        &[("mode", mode)],
        outcome.duration_secs,
    );
    o.family(
        "dvc_audit_last_run_finished_timestamp_seconds",
        "When the last run command ended (Unix time).",
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
    o.sample(
        "dvc_audit_last_run_finished_timestamp_seconds",
        &[("mode", mode)],
        now,
    );

    let (Some(store), Some(run_id)) = (store, outcome.run_id) else {
        return Ok(o.text);
    };
    let run = store.run(run_id)?;
    o.family(
        "dvc_audit_last_run_id",
        "Id of the last run in the history.",
    );
    o.sample("dvc_audit_last_run_id", &[("mode", mode)], run_id as f64);
    o.family(
        "dvc_audit_last_run_complete",
        "1 when the last run is stored complete (a baseline for the next), else 0.",
    );
    o.sample(
        "dvc_audit_last_run_complete",
        &[("mode", mode), ("status", &run.status)],
        if run.status == "complete" { 1.0 } else { 0.0 },
    );
    if let Some(t) = unix(&run.started_at) {
        o.family(
            "dvc_audit_last_run_started_timestamp_seconds",
            "When the last run started (Unix time, from the history).",
        );
        o.sample(
            "dvc_audit_last_run_started_timestamp_seconds",
            &[("mode", mode)],
            t,
        );
    }

    // Findings by severity and state (failing), and waived, summed over agencies and rules.
    let mut findings: BTreeMap<(String, &str), i64> = BTreeMap::new();
    for c in store.rule_counts(run_id)? {
        if c.waived {
            *findings.entry((c.severity.clone(), "waived")).or_default() += c.total;
            continue;
        }
        for (state, n) in [
            ("new", c.new),
            ("persisting", c.persisting),
            ("regressed", c.regressed),
        ] {
            *findings.entry((c.severity.clone(), state)).or_default() += n;
        }
    }
    o.family(
        "dvc_audit_findings",
        "Failing findings of the last run by severity and state (new, persisting, regressed; waived ones apart).",
    );
    for ((sev, state), n) in &findings {
        o.sample(
            "dvc_audit_findings",
            &[("severity", sev), ("state", state)],
            *n as f64,
        );
    }
    let resolved: i64 = store.resolved_counts(run_id)?.values().sum();
    o.family(
        "dvc_audit_findings_resolved",
        "Findings of earlier runs that the last run found fixed.",
    );
    o.sample("dvc_audit_findings_resolved", &[], resolved as f64);
    let unverified: i64 = store.unverified_counts(run_id)?.values().sum();
    o.family(
        "dvc_audit_findings_unverified",
        "Findings of earlier runs that the last run could not re-check (not known to be fixed).",
    );
    o.sample("dvc_audit_findings_unverified", &[], unverified as f64);
    // The report's `withdrawn` totals: the same per-agency aggregate, summed.
    let withdrawn: i64 = store.withdrawn_counts(run_id)?.values().sum();
    o.family(
        "dvc_audit_findings_withdrawn",
        "Findings of earlier runs whose service left a completely read listing in the last run (no longer listed: closed, not fixed).",
    );
    o.sample("dvc_audit_findings_withdrawn", &[], withdrawn as f64);

    // Coverage: per agency of the run's scope, services read and could-not-assess lines.
    let services = store.service_counts(run_id)?;
    let unassessed = store.unassessed_counts(run_id)?;
    let mut agencies: Vec<String> = run.scope.agencies.clone();
    agencies.sort();
    agencies.dedup();
    o.family(
        "dvc_audit_agencies",
        "Agencies in the last run's scope, and how many had at least one service read.",
    );
    let read = agencies
        .iter()
        .filter(|a| services.get(*a).is_some_and(|c| c.read > 0))
        .count();
    o.sample(
        "dvc_audit_agencies",
        &[("state", "in_scope")],
        agencies.len() as f64,
    );
    o.sample("dvc_audit_agencies", &[("state", "read")], read as f64);
    o.family(
        "dvc_audit_services_read",
        "Services read in the last run, per agency.",
    );
    for a in &agencies {
        let n = services.get(a).map_or(0, |c| c.read);
        o.sample("dvc_audit_services_read", &[("agency", a)], n as f64);
    }
    o.family(
        "dvc_audit_could_not_assess",
        "Could-not-assess lines (subject and reason) of the last run, per agency.",
    );
    for a in &agencies {
        let n = unassessed.get(a).copied().unwrap_or(0);
        o.sample("dvc_audit_could_not_assess", &[("agency", a)], n as f64);
    }
    o.family(
        "dvc_audit_full_process_services",
        "Full-process (toàn trình) services read in the last run, per agency.",
    );
    for a in &agencies {
        let n = services.get(a).map_or(0, |c| c.full);
        o.sample(
            "dvc_audit_full_process_services",
            &[("agency", a)],
            n as f64,
        );
    }
    o.family(
        "dvc_audit_vgca_share",
        "Share (0-1) of an agency's full-process services offering VGCA signing; absent when none was read or levels/signatures are unobservable.",
    );
    for a in &agencies {
        if let Some(share) = services.get(a).and_then(|c| c.vgca_share()) {
            o.sample("dvc_audit_vgca_share", &[("agency", a)], share);
        }
    }
    Ok(o.text)
}

/// Write `text` to `path` atomically: a temporary file in the same directory (named so the
/// textfile collector, which reads `*.prom`, ignores it), synced, then renamed over `path`.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), MetricsError> {
    let err = |source| MetricsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

/// Render and write the metrics of a run; the database is opened read-only.
pub fn write_for_run(
    path: &Path,
    db: Option<&Path>,
    outcome: &RunOutcome,
) -> Result<(), MetricsError> {
    let store = match db {
        Some(db) if db.exists() => Some(Store::open_read_only(db)?),
        _ => None,
    };
    let text = render(store.as_ref(), outcome)?;
    write_atomic(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn without_a_run_only_the_outcome_is_written() {
        let text = render(
            None,
            &RunOutcome {
                run_id: None,
                mode: "regular".into(),
                exit: ExitCode::Locked,
                duration_secs: 0.5,
            },
        )
        .expect("render");
        assert!(text.contains("dvc_audit_last_run_exit_code{mode=\"regular\"} 4\n"));
        assert!(text.contains("dvc_audit_last_run_success{mode=\"regular\"} 0\n"));
        assert!(!text.contains("dvc_audit_findings"));
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dvc_audit.prom");
        std::fs::write(&path, "old").expect("write");
        write_atomic(&path, "new 1\n").expect("atomic");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new 1\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
