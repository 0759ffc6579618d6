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
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    pub path: PathBuf,
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
        let path = Self::path_for(db);
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(dir);
        }
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
        // A process forked by this one (a child about to exec) briefly shares the lock's open
        // file description until its exec closes it: a lock released just before can still
        // look held for a moment. A short grace period tells that from a real second run
        // (which holds it for minutes) without making cron runs queue up.
        let mut tries = LOCK_GRACE_TRIES;
        let mut attempt = file.try_lock();
        while matches!(attempt, Err(TryLockError::WouldBlock)) && tries > 0 {
            tries -= 1;
            std::thread::sleep(LOCK_GRACE_STEP);
            attempt = file.try_lock();
        }
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "unknown process".into());
                return Err(LockError::Held { path, holder });
            }
            Err(TryLockError::Error(source)) => return Err(LockError::Io { path, source }),
        }
        // Record who holds it, for the message the second run prints.
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid {}", std::process::id());
        Ok(RunLock { _file: file, path })
    }
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
}
