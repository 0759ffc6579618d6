//! The run lock: two cron runs never overlap. An OS advisory lock on a file beside the
//! database; the OS releases it when the process dies, so a crash never leaves a stale lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another dvc-audit run holds {path} ({holder}); not starting a second one")]
    Held { path: PathBuf, holder: String },
    #[error("cannot open the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Retries of a lock that looks held, `LOCK_GRACE_STEP` apart (300 ms in all).
const LOCK_GRACE_TRIES: u32 = 6;
const LOCK_GRACE_STEP: std::time::Duration = std::time::Duration::from_millis(50);

/// Held for the duration of a run; released on drop or process exit.
///
/// Two locks, both OS advisory locks: one on `<db>.lock` beside the database's *canonical*
/// path (a symlinked path finds the same lock file, and it names the holder), and one on the
/// database file itself (a hard link or any other name of the same file finds the same lock).
/// SQLite's own locks are `fcntl` locks, independent of these (`flock` on Linux); the database
/// file handle is held until the run's store is closed (declare the lock before the store).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    _db: Option<File>,
    pub path: PathBuf,
}

/// The database path with symlinks resolved (the file itself when it exists, else its
/// directory), so every name of one database leads to one lock file.
pub fn canonical_db(db: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(db) {
        return p;
    }
    match (db.parent(), db.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or_else(|_| db.to_path_buf()),
        _ => db.to_path_buf(),
    }
}

impl RunLock {
    /// The lock file for a database path: `<db>.lock`.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Take the lock or fail within a fraction of a second (never wait for another run: cron
    /// must not pile up runs).
    pub fn acquire(db: &Path) -> Result<RunLock, LockError> {
        if let Some(dir) = db.parent()
            && !dir.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(dir);
        }
        let path = Self::path_for(&canonical_db(db));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| LockError::Io {
                path: path.clone(),
                source,
            })?;
        let holder = |path: &Path| {
            std::fs::read_to_string(path)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown process".into())
        };
        match try_lock_with_grace(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder(&path);
                return Err(LockError::Held { path, holder });
            }
            Err(TryLockError::Error(source)) => return Err(LockError::Io { path, source }),
        }
        // The database file itself (created empty if new: SQLite takes an empty file as an
        // empty database). A file that cannot be opened for writing is left to the store's
        // open to report.
        let db_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(db)
            .ok();
        if let Some(f) = &db_file {
            match try_lock_with_grace(f) {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::Held {
                        path: db.to_path_buf(),
                        holder: "a process using another name (hard link) of this database".into(),
                    });
                }
                Err(TryLockError::Error(source)) => {
                    return Err(LockError::Io {
                        path: db.to_path_buf(),
                        source,
                    });
                }
            }
        }
        // Record who holds it, for the message the second run prints.
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid {}", std::process::id());
        Ok(RunLock {
            _file: file,
            _db: db_file,
            path,
        })
    }
}

/// A process forked by this one (a child about to exec) briefly shares the lock's open file
/// description until its exec closes it: a lock released just before can still look held for
/// a moment. A short grace period tells that from a real second run (which holds it for
/// minutes) without making cron runs queue up.
fn try_lock_with_grace(file: &File) -> Result<(), TryLockError> {
    let mut tries = LOCK_GRACE_TRIES;
    let mut attempt = file.try_lock();
    while matches!(attempt, Err(TryLockError::WouldBlock)) && tries > 0 {
        tries -= 1;
        std::thread::sleep(LOCK_GRACE_STEP);
        attempt = file.try_lock();
    }
    attempt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_promptly_and_names_the_holder() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("h.sqlite");
        let first = RunLock::acquire(&db).expect("first");
        match RunLock::acquire(&db) {
            Err(LockError::Held { holder, .. }) => {
                assert_eq!(holder, format!("pid {}", std::process::id()))
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        RunLock::acquire(&db).expect("free again after drop");
    }

    #[test]
    fn a_symlink_or_a_hard_link_to_the_database_finds_the_same_lock() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("h.sqlite");
        std::fs::write(&db, b"").expect("db");
        let sym = dir.path().join("sym.sqlite");
        std::os::unix::fs::symlink(&db, &sym).expect("symlink");
        let other = tempfile::tempdir().expect("dir");
        let hard = other.path().join("hard.sqlite");
        std::fs::hard_link(&db, &hard).expect("hard link");

        let first = RunLock::acquire(&db).expect("first");
        for name in [&sym, &hard] {
            match RunLock::acquire(name) {
                Err(LockError::Held { .. }) => {}
                other => panic!("{}: expected Held, got {other:?}", name.display()),
            }
        }
        drop(first);
        let via_link = RunLock::acquire(&sym).expect("free again");
        assert!(matches!(RunLock::acquire(&db), Err(LockError::Held { .. })));
        drop(via_link);
        let via_hard = RunLock::acquire(&hard).expect("free again");
        assert!(matches!(RunLock::acquire(&db), Err(LockError::Held { .. })));
        drop(via_hard);
    }
}
