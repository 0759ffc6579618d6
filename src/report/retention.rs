//! Report retention (`report.keep_days`, applied by `dvc-audit gc`).
//!
//! A national run writes ~0.6 GB of reports into `<report.dir>/run-<id>/` (the JSON report
//! alone holds every finding with its evidence). Kept for every nightly run, that is ~220 GB a
//! year, far more than the history database itself, which keeps everything the reports are
//! made of: `dvc-audit report --run N` renders a stored run again, byte for byte. So `gc`
//! removes the report directories of old runs, and only what it can stand behind:
//! - only the directories of complete runs in the history (those `report --run N` renders),
//!   never the newest complete run's;
//! - only the files dvc-audit writes there (the report formats, the services inventory and
//!   the temporary names a write leaves while it runs), as regular files: a symbolic link is
//!   never followed, and a file anyone else put there stays, with its directory;
//! - the directory itself only once it is empty.

use std::path::{Path, PathBuf};

use super::{Format, inventory};

/// What removing old report directories did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReportsPruned {
    /// Run report directories removed whole.
    pub dirs: usize,
    /// Report files removed (from those directories and from the ones kept).
    pub files: usize,
    /// Bytes of the files removed.
    pub bytes: u64,
    /// Directories left in place because they hold files dvc-audit did not write.
    pub kept: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot remove {path}: {source}")]
pub struct RetentionError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The names dvc-audit writes into a run's report directory.
fn is_report_file(name: &str) -> bool {
    let names = Format::ALL
        .iter()
        .map(|f| f.file_name())
        .chain([inventory::CSV_FILE]);
    names.into_iter().any(|n| {
        name == n
            || name
                .strip_prefix('.')
                .and_then(|rest| rest.strip_suffix(".tmp"))
                == Some(n)
    })
}

/// Remove the report directories `dir/run-<id>` of `runs` (the caller decides which runs:
/// see [`crate::store::Store::runs_with_removable_reports`]). A run without a directory is
/// skipped; a missing `dir` removes nothing.
pub fn remove_run_reports(dir: &Path, runs: &[i64]) -> Result<ReportsPruned, RetentionError> {
    let mut out = ReportsPruned::default();
    for run in runs {
        let run_dir = dir.join(format!("run-{run}"));
        // Not followed: a link (or a file) named like a run's directory is not ours to empty.
        match std::fs::symlink_metadata(&run_dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                out.kept.push(run_dir);
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(RetentionError {
                    path: run_dir,
                    source,
                });
            }
        }
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RetentionError { path, source }
        };
        let mut foreign = false;
        for entry in std::fs::read_dir(&run_dir).map_err(err(&run_dir))? {
            let entry = entry.map_err(err(&run_dir))?;
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(err(&path))?;
            let ours = meta.is_file() && entry.file_name().to_str().is_some_and(is_report_file);
            if !ours {
                foreign = true;
                continue;
            }
            std::fs::remove_file(&path).map_err(err(&path))?;
            out.files += 1;
            out.bytes += meta.len();
        }
        if foreign {
            out.kept.push(run_dir);
        } else {
            std::fs::remove_dir(&run_dir).map_err(err(&run_dir))?;
            out.dirs += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, bytes: usize) {
        std::fs::write(path, vec![b'x'; bytes]).expect("write");
    }

    #[test]
    fn report_names_are_the_formats_the_inventory_and_their_temporary_names() {
        for name in [
            "report.html",
            "report.txt",
            "report.json",
            "findings.csv",
            "services.csv",
            "report.xlsx",
            ".report.json.tmp",
            ".services.csv.tmp",
        ] {
            assert!(is_report_file(name), "{name}");
        }
        for name in [
            "notes.txt",
            "report.json.bak",
            ".report.json",
            "report.json.tmp",
            "..report.json.tmp",
            "",
        ] {
            assert!(!is_report_file(name), "{name}");
        }
    }

    #[test]
    fn removes_only_report_files_and_keeps_a_directory_holding_others() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        let r1 = dir.join("run-1");
        let r2 = dir.join("run-2");
        let r3 = dir.join("run-3");
        for d in [&r1, &r2, &r3] {
            std::fs::create_dir(d).expect("mkdir");
            write(&d.join("report.html"), 100);
            write(&d.join("report.json"), 1000);
        }
        write(&r1.join(".report.txt.tmp"), 10);
        // An inspector's note beside run 2's reports, and a subdirectory.
        write(&r2.join("ghi-chu.txt"), 7);
        std::fs::create_dir(r2.join("attachments")).expect("mkdir");

        let pruned = remove_run_reports(dir, &[1, 2, 9]).expect("prune");
        assert_eq!(pruned.dirs, 1, "{pruned:?}");
        assert_eq!(pruned.files, 5, "{pruned:?}");
        assert_eq!(pruned.bytes, 2 * 1100 + 10, "{pruned:?}");
        assert_eq!(pruned.kept, vec![r2.clone()]);
        assert!(!r1.exists());
        assert!(r2.join("ghi-chu.txt").exists() && r2.join("attachments").is_dir());
        assert!(!r2.join("report.json").exists());
        // A run not asked for is untouched.
        assert!(r3.join("report.json").exists() && r3.join("report.html").exists());
        // Nothing left to do the second time; a missing report directory removes nothing.
        let again = remove_run_reports(dir, &[1, 2]).expect("again");
        assert_eq!((again.dirs, again.files, again.bytes), (0, 0, 0));
        let none = remove_run_reports(&dir.join("absent"), &[3]).expect("absent");
        assert_eq!(none, ReportsPruned::default());
    }

    #[cfg(unix)]
    #[test]
    fn never_follows_a_symbolic_link() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("reports");
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        write(&elsewhere.join("report.json"), 10);
        // run-4 is a link to another directory; run-5 holds a link named like a report.
        std::os::unix::fs::symlink(&elsewhere, dir.join("run-4")).expect("link");
        std::fs::create_dir(dir.join("run-5")).expect("mkdir");
        std::os::unix::fs::symlink(elsewhere.join("report.json"), dir.join("run-5/report.json"))
            .expect("link");

        let pruned = remove_run_reports(&dir, &[4, 5]).expect("prune");
        assert_eq!((pruned.dirs, pruned.files), (0, 0), "{pruned:?}");
        assert_eq!(pruned.kept, vec![dir.join("run-4"), dir.join("run-5")]);
        assert!(elsewhere.join("report.json").exists());
    }
}
