//! The outbox: every message is written here before any attempt to send it, and moved to
//! `sent/` only after the SMTP server accepted it. Files:
//!
//! - `<id>.eml`: the message exactly as it will be sent (RFC 5322);
//! - `<id>.env.json`: the SMTP envelope (sender, recipients, including Cc);
//! - `sent/<id>.eml`, `sent/<id>.env.json`: delivered.
//!
//! Promises: never lost (a message exists on disk before the first attempt and stays until
//! accepted), never twice (an id already in `sent/` is never queued or sent again; ids are
//! deterministic per run and recipient group). A crash between the server's acceptance and the
//! move to `sent/` is the one window that can repeat a message; it is as narrow as one rename.
//! Writes go to a temporary name and are renamed into place, so a reader never sees half a file.
//! An OS lock on `.flush.lock` keeps two flushes from sending the same message at once.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::NotifyError;

/// Largest message the outbox will read back (reports are attached; keep a sane bound).
pub const MAX_MESSAGE_BYTES: u64 = 50 * 1024 * 1024;

/// The SMTP envelope of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEnvelope {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
}

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub id: String,
    pub envelope: StoredEnvelope,
    pub bytes: u64,
    pub queued_at: Option<SystemTime>,
}

/// What [`Outbox::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Queued,
    AlreadyQueued,
    AlreadySent,
}

pub struct Outbox {
    dir: PathBuf,
}

/// Ids are made by [`super::plan::message_id`]; anything else in the directory is ignored.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NotifyError + '_ {
    move |source| NotifyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NotifyError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, NotifyError> {
    let len = std::fs::metadata(path).map_err(io(path))?.len();
    if len > MAX_MESSAGE_BYTES {
        return Err(NotifyError::TooLarge(path.to_path_buf()));
    }
    std::fs::read(path).map_err(io(path))
}

/// Held while flushing; the OS lock is released when dropped or when the process dies.
pub struct FlushLock {
    _file: std::fs::File,
}

impl Outbox {
    /// Open (creating) the outbox directory and its `sent/` folder.
    pub fn open(dir: &Path) -> Result<Outbox, NotifyError> {
        let sent = dir.join("sent");
        std::fs::create_dir_all(&sent).map_err(io(&sent))?;
        Ok(Outbox {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn eml(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.eml"))
    }

    fn env(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.env.json"))
    }

    fn sent_eml(&self, id: &str) -> PathBuf {
        self.dir.join("sent").join(format!("{id}.eml"))
    }

    pub fn is_sent(&self, id: &str) -> bool {
        self.sent_eml(id).exists()
    }

    /// Queue a message unless it is already queued or sent. The envelope is written first;
    /// the `.eml` appearing is what makes the message pending.
    pub fn enqueue(
        &self,
        id: &str,
        envelope: &StoredEnvelope,
        eml: &[u8],
    ) -> Result<Enqueued, NotifyError> {
        if !valid_id(id) {
            return Err(NotifyError::BadId(id.to_string()));
        }
        if self.is_sent(id) {
            return Ok(Enqueued::AlreadySent);
        }
        if self.eml(id).exists() {
            return Ok(Enqueued::AlreadyQueued);
        }
        let env =
            serde_json::to_vec_pretty(envelope).map_err(|e| NotifyError::Build(e.to_string()))?;
        write_atomic(&self.env(id), &env)?;
        write_atomic(&self.eml(id), eml)?;
        Ok(Enqueued::Queued)
    }

    /// Messages waiting, sorted by id.
    pub fn pending(&self) -> Result<Vec<Pending>, NotifyError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".eml") else {
                continue;
            };
            if !valid_id(id) {
                continue;
            }
            // An unreadable envelope must not hide the other messages: list it, and let the
            // flush report it as failed (it has no recipients).
            let envelope = self.read_envelope(id).unwrap_or_else(|e| StoredEnvelope {
                from: String::new(),
                to: Vec::new(),
                subject: format!("(unreadable envelope: {e})"),
            });
            let meta = entry.metadata().map_err(io(&entry.path()))?;
            out.push(Pending {
                id: id.to_string(),
                envelope,
                bytes: meta.len(),
                queued_at: meta.modified().ok(),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Ids of delivered messages, sorted.
    pub fn sent(&self) -> Result<Vec<String>, NotifyError> {
        let dir = self.dir.join("sent");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".eml")
                && valid_id(id)
            {
                out.push(id.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    fn read_envelope(&self, id: &str) -> Result<StoredEnvelope, NotifyError> {
        let env_path = self.env(id);
        let env = read_bounded(&env_path)?;
        serde_json::from_slice(&env).map_err(|e| NotifyError::Corrupt(env_path, e.to_string()))
    }

    /// The envelope and bytes of a pending message.
    pub fn read(&self, id: &str) -> Result<(StoredEnvelope, Vec<u8>), NotifyError> {
        Ok((self.read_envelope(id)?, read_bounded(&self.eml(id))?))
    }

    /// Move a delivered message to `sent/` (the `.eml` last: its presence there is the mark).
    pub fn mark_sent(&self, id: &str) -> Result<(), NotifyError> {
        let sent = self.dir.join("sent");
        let env_to = sent.join(format!("{id}.env.json"));
        let env_from = self.env(id);
        std::fs::rename(&env_from, &env_to).map_err(io(&env_from))?;
        let eml_from = self.eml(id);
        std::fs::rename(&eml_from, self.sent_eml(id)).map_err(io(&eml_from))
    }

    /// Drop a pending copy of a message that is already in `sent/`.
    pub fn discard_pending(&self, id: &str) -> Result<(), NotifyError> {
        for p in [self.eml(id), self.env(id)] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(NotifyError::Io { path: p, source: e }),
            }
        }
        Ok(())
    }

    /// Take the flush lock: an OS advisory lock on `.flush.lock` (`File::try_lock`, as the run
    /// lock), so the OS releases it when a flushing process dies (killed while SMTP hangs).
    /// The file stays; only the lock on it matters.
    pub fn lock(&self) -> Result<FlushLock, NotifyError> {
        let path = self.dir.join(".flush.lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(FlushLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(NotifyError::Busy(path)),
            Err(std::fs::TryLockError::Error(source)) => Err(NotifyError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> StoredEnvelope {
        StoredEnvelope {
            from: "a@example.org".into(),
            to: vec!["b@example.org".into()],
            subject: "s".into(),
        }
    }

    #[test]
    fn queue_send_never_twice() {
        let dir = tempfile::tempdir().expect("tmp");
        let ob = Outbox::open(dir.path()).expect("open");
        assert_eq!(
            ob.enqueue("run1-lead-abc", &env(), b"x").expect("q"),
            Enqueued::Queued
        );
        assert_eq!(
            ob.enqueue("run1-lead-abc", &env(), b"x").expect("q"),
            Enqueued::AlreadyQueued
        );
        assert_eq!(ob.pending().expect("p").len(), 1);
        ob.mark_sent("run1-lead-abc").expect("mark");
        assert!(ob.pending().expect("p").is_empty());
        assert_eq!(ob.sent().expect("s"), vec!["run1-lead-abc".to_string()]);
        assert_eq!(
            ob.enqueue("run1-lead-abc", &env(), b"x").expect("q"),
            Enqueued::AlreadySent
        );
        assert!(ob.pending().expect("p").is_empty());
    }

    #[test]
    fn ids_are_checked_and_strays_ignored() {
        let dir = tempfile::tempdir().expect("tmp");
        let ob = Outbox::open(dir.path()).expect("open");
        assert!(ob.enqueue("../evil", &env(), b"x").is_err());
        std::fs::write(dir.path().join("notes.txt"), "hi").expect("w");
        assert!(ob.pending().expect("p").is_empty());
    }

    #[test]
    fn a_corrupt_envelope_does_not_hide_other_messages() {
        let dir = tempfile::tempdir().expect("tmp");
        let ob = Outbox::open(dir.path()).expect("open");
        ob.enqueue("run1-a", &env(), b"x").expect("q");
        ob.enqueue("run1-b", &env(), b"y").expect("q");
        std::fs::write(dir.path().join("run1-a.env.json"), "{").expect("corrupt");
        let p = ob.pending().expect("pending");
        assert_eq!(p.len(), 2);
        assert!(p[0].envelope.to.is_empty() && p[0].envelope.subject.contains("unreadable"));
        assert_eq!(p[1].envelope, env());
    }

    #[test]
    fn one_flush_at_a_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let ob = Outbox::open(dir.path()).expect("open");
        let held = ob.lock().expect("lock");
        assert!(matches!(ob.lock(), Err(NotifyError::Busy(_))));
        drop(held);
        assert!(ob.lock().is_ok());
    }
}
