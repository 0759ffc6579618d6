//! Report retention (`report.keep_days`, applied by `dvc-audit gc`).
//!
//! A national run writes ~0.6 GB of reports into `<report.dir>/run-<id>/` (the JSON report
//! alone holds every finding with its evidence). Kept for every nightly run, that is ~220 GB a
//! year, far more than the history database itself, which keeps everything the reports are
//! made of: `dvc-audit report --run N` renders a stored run again, byte for byte, while the
//! run is kept whole (`storage.keep_runs_days` prunes the evidence of an old run's resolved
//! findings) and with the agencies' names, rules and waivers it had. So `gc` removes the
//! report directories of old runs, and only what it can stand behind:
//! - only the directories of complete runs in the history (those `report --run N` renders),
//!   never the newest complete run's;
//! - only the files dvc-audit writes there (the report formats, the services inventory and
//!   the temporary names a write leaves while it runs), as regular files: a symbolic link is
//!   never followed, and a file anyone else put there stays, with its directory;
//! - the directory itself only once it is empty; a temporary file written within the hour (a
//!   `report --run N` may be writing) keeps it until a later `gc`;
//! - a path it cannot remove is recorded and the rest still goes (`gc` then exits 3): one
//!   unremovable directory must not stop every later night's retention.

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
    /// Run directories left in place, and why.
    pub kept: Vec<Kept>,
    /// What could not be removed, and why; the rest was removed.
    pub failed: Vec<RetentionError>,
}

/// A run's report directory `gc` left in place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Kept {
    pub path: PathBuf,
    pub why: KeptWhy,
}

/// Why a run's report directory was left in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeptWhy {
    /// It holds something dvc-audit does not write there (a note, a subdirectory, a link).
    Foreign,
    /// `run-N` is not a directory (a file or a symbolic link): not followed, not removed.
    NotADirectory,
    /// A temporary report file written within the last hour: a `report --run N` may be
    /// writing it now; a later `gc` removes it.
    WriteInProgress,
}

impl std::fmt::Display for KeptWhy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeptWhy::Foreign => "it holds files dvc-audit did not write",
            KeptWhy::NotADirectory => "it is not a directory (a file or a link: not followed)",
            KeptWhy::WriteInProgress => "a report is being written into it",
        })
    }
}

/// A path `gc` could not remove (or read), with the system's reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("cannot remove {}: {reason}", path.display())]
pub struct RetentionError {
    pub path: PathBuf,
    pub reason: String,
}

/// A name dvc-audit writes into a run's report directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    /// A report or the services inventory.
    Report,
    /// The temporary name a write uses until it renames the file into place.
    Temporary,
}

/// Whether dvc-audit writes `name` into a run's report directory, and as what.
fn report_file(name: &str) -> Option<Name> {
    let names = Format::ALL
        .iter()
        .map(|f| f.file_name())
        .chain([inventory::CSV_FILE]);
    let temporary = name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(".tmp"));
    names.into_iter().find_map(|n| {
        if name == n {
            Some(Name::Report)
        } else if temporary == Some(n) {
            Some(Name::Temporary)
        } else {
            None
        }
    })
}

/// A temporary file younger than this may belong to a `report --run N` writing right now: it
/// stays (and so does its directory) until a later `gc`.
const WRITE_IN_PROGRESS: std::time::Duration = std::time::Duration::from_secs(3600);

/// Remove the report directories `dir/run-<id>` of `runs` (the caller decides which runs:
/// see [`crate::store::Store::runs_with_removable_reports`]). A run without a directory is
/// skipped; a missing `dir` removes nothing. A file or directory that cannot be removed
/// (permissions, a read-only disk, ...) is recorded in [`ReportsPruned::failed`] and the others
/// are still removed: one unremovable directory must not stop every later night's `gc`.
pub fn remove_run_reports(dir: &Path, runs: &[i64]) -> ReportsPruned {
    let mut out = ReportsPruned::default();
    for run in runs {
        let run_dir = dir.join(format!("run-{run}"));
        if let Err(e) = remove_one(&run_dir, &mut out) {
            out.failed.push(e);
        }
    }
    out
}

/// Empty and remove one run's report directory (see [`remove_run_reports`]); stops at the
/// first error, which the caller records.
fn remove_one(run_dir: &Path, out: &mut ReportsPruned) -> Result<(), RetentionError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| RetentionError {
            path,
            reason: source.to_string(),
        }
    };
    // Not followed: a link (or a file) named like a run's directory is not ours to empty.
    match std::fs::symlink_metadata(run_dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            out.kept.push(Kept {
                path: run_dir.to_path_buf(),
                why: KeptWhy::NotADirectory,
            });
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        // `report.dir` itself is a file: nothing of ours is below it.
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(()),
        Err(e) => return Err(err(run_dir)(e)),
    }
    let mut left = None;
    for entry in std::fs::read_dir(run_dir).map_err(err(run_dir))? {
        let entry = entry.map_err(err(run_dir))?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(err(&path))?;
        let name = entry.file_name();
        let Some(kind) = name
            .to_str()
            .and_then(report_file)
            .filter(|_| meta.is_file())
        else {
            left = Some(KeptWhy::Foreign);
            continue;
        };
        if kind == Name::Temporary && written_within(&meta, WRITE_IN_PROGRESS) {
            left = left.or(Some(KeptWhy::WriteInProgress));
            continue;
        }
        std::fs::remove_file(&path).map_err(err(&path))?;
        out.files += 1;
        out.bytes += meta.len();
    }
    if let Some(why) = left {
        out.kept.push(Kept {
            path: run_dir.to_path_buf(),
            why,
        });
    } else {
        std::fs::remove_dir(run_dir).map_err(err(run_dir))?;
        out.dirs += 1;
    }
    Ok(())
}

/// Modified less than `age` ago (a time in the future counts as recent too).
fn written_within(meta: &std::fs::Metadata, age: std::time::Duration) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_none_or(|elapsed| elapsed < age)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, bytes: usize) {
        std::fs::write(path, vec![b'x'; bytes]).expect("write");
    }

    /// Set a file's modification time `secs` seconds into the past.
    fn age(path: &Path, secs: u64) {
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(t))
            .expect("set mtime");
    }

    fn kept(path: PathBuf, why: KeptWhy) -> Kept {
        Kept { path, why }
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
        ] {
            assert_eq!(report_file(name), Some(Name::Report), "{name}");
        }
        for name in [".report.json.tmp", ".services.csv.tmp"] {
            assert_eq!(report_file(name), Some(Name::Temporary), "{name}");
        }
        for name in [
            "notes.txt",
            "report.json.bak",
            ".report.json",
            "report.json.tmp",
            "..report.json.tmp",
            "",
        ] {
            assert_eq!(report_file(name), None, "{name}");
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
        // A temporary file a write left behind yesterday.
        write(&r1.join(".report.txt.tmp"), 10);
        age(&r1.join(".report.txt.tmp"), 86_400);
        // An inspector's note beside run 2's reports, and a subdirectory.
        write(&r2.join("ghi-chu.txt"), 7);
        std::fs::create_dir(r2.join("attachments")).expect("mkdir");

        let pruned = remove_run_reports(dir, &[1, 2, 9]);
        assert_eq!(pruned.dirs, 1, "{pruned:?}");
        assert_eq!(pruned.files, 5, "{pruned:?}");
        assert_eq!(pruned.bytes, 2 * 1100 + 10, "{pruned:?}");
        assert_eq!(pruned.kept, vec![kept(r2.clone(), KeptWhy::Foreign)]);
        assert!(pruned.failed.is_empty(), "{pruned:?}");
        assert!(!r1.exists());
        assert!(r2.join("ghi-chu.txt").exists() && r2.join("attachments").is_dir());
        assert!(!r2.join("report.json").exists());
        // A run not asked for is untouched.
        assert!(r3.join("report.json").exists() && r3.join("report.html").exists());
        // Nothing left to do the second time; a missing report directory removes nothing.
        let again = remove_run_reports(dir, &[1, 2]);
        assert_eq!((again.dirs, again.files, again.bytes), (0, 0, 0));
        let none = remove_run_reports(&dir.join("absent"), &[3]);
        assert_eq!(none, ReportsPruned::default());
        // A `report.dir` that is a file holds no run directory.
        write(&dir.join("a-file"), 1);
        let file = remove_run_reports(&dir.join("a-file"), &[3]);
        assert_eq!(file, ReportsPruned::default());
    }

    #[test]
    fn a_temporary_file_being_written_keeps_its_directory_until_a_later_gc() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        let r1 = dir.join("run-1");
        std::fs::create_dir(&r1).expect("mkdir");
        write(&r1.join("report.html"), 100);
        write(&r1.join(".report.json.tmp"), 50);

        let pruned = remove_run_reports(dir, &[1]);
        assert_eq!((pruned.dirs, pruned.files), (0, 1), "{pruned:?}");
        assert_eq!(
            pruned.kept,
            vec![kept(r1.clone(), KeptWhy::WriteInProgress)]
        );
        assert!(r1.join(".report.json.tmp").exists());

        // An hour and more later the write is over (or died): the file and directory go.
        age(&r1.join(".report.json.tmp"), 2 * 3600);
        let later = remove_run_reports(dir, &[1]);
        assert_eq!(
            (later.dirs, later.files, later.bytes),
            (1, 1, 50),
            "{later:?}"
        );
        assert!(!r1.exists());
    }

    /// Makes `file` unremovable while it lives: its directory read-only for an unprivileged
    /// user; for root (who ignores modes, as in CI containers) the file immutable
    /// (`chattr +i`). `None` when neither holds on this machine.
    #[cfg(unix)]
    struct Unremovable {
        file: PathBuf,
        immutable: bool,
    }

    #[cfg(unix)]
    impl Unremovable {
        fn new(file: &Path) -> Option<Unremovable> {
            use std::os::unix::fs::PermissionsExt;
            let dir = file.parent()?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).ok()?;
            let probe = dir.join("probe");
            if std::fs::write(&probe, b"").is_err() {
                return Some(Unremovable {
                    file: file.to_path_buf(),
                    immutable: false,
                });
            }
            let _ = std::fs::remove_file(&probe);
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).ok()?;
            let status = std::process::Command::new("chattr")
                .arg("+i")
                .arg(file)
                .stderr(std::process::Stdio::null())
                .status()
                .ok()?;
            status.success().then(|| Unremovable {
                file: file.to_path_buf(),
                immutable: true,
            })
        }
    }

    #[cfg(unix)]
    impl Drop for Unremovable {
        fn drop(&mut self) {
            use std::os::unix::fs::PermissionsExt;
            if self.immutable {
                let _ = std::process::Command::new("chattr")
                    .arg("-i")
                    .arg(&self.file)
                    .status();
            } else if let Some(dir) = self.file.parent() {
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_unremovable_directory_is_recorded_and_the_others_still_go() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        for run in 1..=3 {
            let d = dir.join(format!("run-{run}"));
            std::fs::create_dir(&d).expect("mkdir");
            write(&d.join("report.json"), 10);
        }
        let stuck = dir.join("run-2").join("report.json");
        let Some(_guard) = Unremovable::new(&stuck) else {
            eprintln!("skipped: no way to make a file unremovable on this machine");
            return;
        };
        let pruned = remove_run_reports(dir, &[1, 2, 3]);
        assert_eq!((pruned.dirs, pruned.files), (2, 2), "{pruned:?}");
        assert_eq!(pruned.failed.len(), 1, "{pruned:?}");
        assert_eq!(pruned.failed[0].path, stuck);
        assert!(!dir.join("run-1").exists() && !dir.join("run-3").exists());
        assert!(stuck.exists());
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

        let pruned = remove_run_reports(&dir, &[4, 5]);
        assert_eq!((pruned.dirs, pruned.files), (0, 0), "{pruned:?}");
        assert_eq!(
            pruned.kept,
            vec![
                kept(dir.join("run-4"), KeptWhy::NotADirectory),
                kept(dir.join("run-5"), KeptWhy::Foreign)
            ]
        );
        assert!(elsewhere.join("report.json").exists());
    }
}
