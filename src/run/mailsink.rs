//! A minimal SMTP receiver for `dvc-audit demo`: it listens on loopback, accepts every message
//! and writes it into a local maildir (`<dir>/maildir/{tmp,new,cur}`), so the demo shows mail
//! delivered end to end through the real SMTP code (lettre, the outbox, `sent/`) instead of
//! connection-refused warnings.
//!
//! Hand-written on purpose (about 150 lines): the maintained Rust SMTP servers (`mailin-embedded`,
//! `samotop`) are thread-per-connection or pull their own TLS stack and a much larger tree,
//! for a sink that only needs plain SMTP from our own client on 127.0.0.1. It is demo-only and
//! bounded everywhere: 8 connections at a time, 1,000-byte command lines, 100 recipients, one
//! message at most [`crate::notify::MAX_MESSAGE_BYTES`], 30 s per read, loopback only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Commands per session: a client that never ends its session is cut off.
const MAX_COMMANDS: usize = 10_000;
const MAX_CONNECTIONS: usize = 8;
const MAX_LINE: u64 = 1_000;
const MAX_RECIPIENTS: usize = 100;
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A running sink; stopped on [`MailSink::shutdown`] (or when dropped).
pub struct MailSink {
    addr: SocketAddr,
    maildir: PathBuf,
    delivered: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl MailSink {
    /// Listen on `127.0.0.1:<ephemeral>` and deliver into `maildir` (created).
    pub async fn start(maildir: &Path) -> std::io::Result<MailSink> {
        for sub in ["tmp", "new", "cur"] {
            tokio::fs::create_dir_all(maildir.join(sub)).await?;
        }
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let delivered = Arc::new(AtomicUsize::new(0));
        let (dir, count) = (maildir.to_path_buf(), delivered.clone());
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let task = tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (dir, count) = (dir.clone(), count.clone());
                tokio::spawn(async move {
                    if let Err(e) = session(stream, &dir, &count).await {
                        tracing::debug!(error = %e, "demo mail sink: session ended");
                    }
                    drop(permit);
                });
            }
        });
        Ok(MailSink {
            addr,
            maildir: maildir.to_path_buf(),
            delivered,
            task,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// Messages written into the maildir so far.
    pub fn delivered(&self) -> usize {
        self.delivered.load(Ordering::SeqCst)
    }

    pub fn shutdown(self) {
        self.task.abort();
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One command line (CRLF stripped), at most [`MAX_LINE`] bytes; `None` at end of stream.
async fn line<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = tokio::time::timeout(
        READ_TIMEOUT,
        (&mut *r).take(MAX_LINE).read_until(b'\n', &mut buf),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "read timeout"))??;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "command line too long",
        ));
    }
    Ok(Some(String::from_utf8_lossy(&buf).trim_end().to_string()))
}

/// The message after `DATA`, dot-unstuffed, up to the lone `.` line; bounded.
async fn data<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> std::io::Result<Vec<u8>> {
    let max = crate::notify::MAX_MESSAGE_BYTES;
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(
            READ_TIMEOUT,
            (&mut *r).take(max).read_until(b'\n', &mut buf),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "read timeout"))??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if buf == b".\r\n" || buf == b".\n" {
            return Ok(out);
        }
        let body = buf.strip_prefix(b".").unwrap_or(&buf);
        if (out.len() + body.len()) as u64 > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "message larger than the outbox bound",
            ));
        }
        out.extend_from_slice(body);
    }
}

/// Write into `tmp/`, then rename into `new/` (the maildir rule: a reader never sees half a
/// message).
async fn store(dir: &Path, n: usize, message: &[u8]) -> std::io::Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("{nanos}.{}_{n}.dvc-audit-demo.eml", std::process::id());
    let tmp = dir.join("tmp").join(&name);
    tokio::fs::write(&tmp, message).await?;
    tokio::fs::rename(&tmp, dir.join("new").join(&name)).await
}

async fn session(stream: TcpStream, dir: &Path, count: &AtomicUsize) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut r = BufReader::new(read);
    write
        .write_all(b"220 dvc-audit-demo ESMTP sink\r\n")
        .await?;
    let mut recipients = 0usize;
    let mut commands = 0usize;
    while let Some(cmd) = line(&mut r).await? {
        commands += 1;
        if commands > MAX_COMMANDS {
            write.write_all(b"421 too many commands\r\n").await?;
            return Ok(());
        }
        let verb = cmd
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-dvc-audit-demo\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "MAIL" | "RSET" => {
                recipients = 0;
                b"250 OK\r\n"
            }
            "RCPT" if recipients < MAX_RECIPIENTS => {
                recipients += 1;
                b"250 OK\r\n"
            }
            "RCPT" => b"452 too many recipients\r\n",
            "DATA" if recipients > 0 => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let message = data(&mut r).await?;
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                if let Err(e) = store(dir, n, &message).await {
                    count.fetch_sub(1, Ordering::SeqCst);
                    tracing::warn!(error = %e, "demo mail sink: cannot write the maildir");
                    write.write_all(b"451 cannot store the message\r\n").await?;
                    continue;
                }
                recipients = 0;
                b"250 OK delivered\r\n"
            }
            "DATA" => b"503 RCPT first\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SmtpTls;
    use crate::notify::{SmtpSettings, transport};
    use lettre::AsyncTransport;

    /// The real client (lettre, as the outbox flush uses it) delivers through the sink; the
    /// maildir holds the message byte for byte as sent, dot-stuffed lines restored.
    #[tokio::test]
    async fn lettre_delivers_into_the_maildir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = MailSink::start(&dir.path().join("maildir"))
            .await
            .expect("sink");
        let t = transport(&SmtpSettings {
            host: "127.0.0.1".into(),
            port: sink.port(),
            tls: SmtpTls::None,
            username: String::new(),
            password: None,
            extra_roots_pem: Vec::new(),
            timeout: Duration::from_secs(10),
        })
        .expect("transport");
        let msg = lettre::Message::builder()
            .from("a@sandbox.test".parse().expect("from"))
            .to("b@sandbox.test".parse().expect("to"))
            .subject("Kiểm tra")
            .body(String::from("line one\n.line starting with a dot\n"))
            .expect("message");
        t.send(msg).await.expect("sent");
        t.send(
            lettre::Message::builder()
                .from("a@sandbox.test".parse().expect("from"))
                .to("c@sandbox.test".parse().expect("to"))
                .subject("second")
                .body(String::from("two"))
                .expect("message"),
        )
        .await
        .expect("sent");
        assert_eq!(sink.delivered(), 2);
        let files: Vec<_> = std::fs::read_dir(sink.maildir().join("new"))
            .expect("new/")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        let all: String = files
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).expect("read")).into_owned())
            .collect();
        assert!(all.contains("\r\n.line starting with a dot"), "{all}");
        assert!(all.contains("b@sandbox.test") && all.contains("c@sandbox.test"));
        assert_eq!(
            std::fs::read_dir(sink.maildir().join("tmp"))
                .expect("tmp/")
                .count(),
            0
        );
    }
}
