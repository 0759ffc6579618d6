//! A real SMTP server on loopback for tests: Python's aiosmtpd via `smtp_server.py` (beside
//! this file), which parses each message with Python's own MIME parser and writes it as JSON.
//!
//! [`available`] says whether `python3 -c 'import aiosmtpd'` works; when it does not and
//! `DVC_AUDIT_REQUIRE_SMTP` is unset, tests skip with the reason printed (CI sets the variable,
//! so a missing server fails there).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::Value;

pub fn python() -> String {
    std::env::var("DVC_AUDIT_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether aiosmtpd can run here (panics when it cannot and `DVC_AUDIT_REQUIRE_SMTP` is set).
pub fn available() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var_os("DVC_AUDIT_REQUIRE_SMTP").is_some() {
        panic!(
            "DVC_AUDIT_REQUIRE_SMTP is set but `python3 -c 'import aiosmtpd'` fails (pip install aiosmtpd)"
        );
    }
    eprintln!(
        "SKIPPED: python3 with aiosmtpd not available (pip install aiosmtpd); set DVC_AUDIT_REQUIRE_SMTP to make this a failure"
    );
    false
}

/// A CA and a `localhost` / `127.0.0.1` leaf for the server's TLS modes.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
}

impl Pki {
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "dvc-audit test SMTP CA");
        let issuer = CertifiedIssuer::self_signed(ca, ca_key).expect("ca");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params")
            .signed_by(&leaf_key, &issuer)
            .expect("leaf");
        let dir = tempfile::tempdir().expect("pki dir");
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).expect("cert");
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).expect("key");
        Pki {
            ca_pem: issuer.pem(),
            dir,
        }
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// The server process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub mailbox: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Start the server on `port` in `mode` (`starttls`, `implicit`, `plain`), writing each
/// message to `mailbox`; returns once it accepts connections.
pub fn start(
    pki: &Pki,
    port: u16,
    mailbox: &Path,
    mode: &str,
    auth: Option<(&str, &str)>,
) -> Server {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .arg(port.to_string())
        .arg(mailbox)
        .arg(pki.cert())
        .arg(pki.key())
        .arg(mode);
    if let Some((u, p)) = auth {
        cmd.args([u, p]);
    }
    // The server's log goes to a file beside the mailbox.
    let log_path = mailbox.with_extension("log");
    let log = std::fs::File::create(&log_path).expect("server log");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start smtp server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    // The server prints READY once listening, or exits (EOF) if it cannot start.
    BufReader::new(stdout).read_line(&mut line).expect("read");
    assert!(
        line.starts_with("READY"),
        "SMTP server did not start: {line:?}"
    );
    Server {
        child,
        port,
        mailbox: mailbox.to_path_buf(),
    }
}

/// Every message the server accepted so far, in arrival order.
pub fn received(server_mailbox: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(server_mailbox)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json"))
        .collect()
}

/// The envelope recipients of a received message.
pub fn rcpts(m: &Value) -> Vec<String> {
    m["rcpt_tos"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
