//! Email against a real SMTP server on loopback (Python's aiosmtpd, started by the test, with a
//! certificate from a CA the test generates). What was delivered is read back through Python's
//! own MIME parser (tests/support/smtp_server.py): recipients per mode, decoded Vietnamese
//! subject, both bodies, attachments. Plus: server down, then up — the outbox holds the
//! messages, then delivers each exactly once.
//!
//! Skips (with the reason printed) only when `python3 -c 'import aiosmtpd'` fails and
//! `DVC_AUDIT_REQUIRE_SMTP` is unset; CI sets the variable, so a missing server fails there.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use dvc_audit::config::{SendPolicy, SmtpTls};
use dvc_audit::notify::{
    AgencyRecipients, EmailSettings, Outbox, RecipientBook, SmtpSettings, deliver, flush,
};
use dvc_audit::report::sample::{sample, sample_input};
use dvc_audit::report::{Lang, ReportData, build};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::Value;

const FROM: &str = "Đoàn kiểm tra Ban Cơ yếu <kiemtra@bcy.example.vn>";

fn python() -> String {
    std::env::var("DVC_AUDIT_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn smtp_available() -> bool {
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

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Pki {
    fn new() -> Pki {
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
    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}

/// The server process; killed when dropped.
struct Server {
    child: Child,
    mailbox: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn start(pki: &Pki, port: u16, mailbox: &Path, mode: &str, auth: Option<(&str, &str)>) -> Server {
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
    // The server's log (including the TLS failures one test provokes) goes to a file.
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
        mailbox: mailbox.to_path_buf(),
    }
}

fn received(server_mailbox: &Path) -> Vec<Value> {
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

fn book() -> RecipientBook {
    let mut b = RecipientBook::default();
    b.agencies.insert(
        "bca".into(),
        AgencyRecipients {
            jurisdiction: "north".into(),
            contacts: vec!["vanphong@bca.example.vn".into()],
            inspectors: vec!["thanhtra.bca@bcy.example.vn".into()],
        },
    );
    b.agencies.insert(
        "ha-noi".into(),
        AgencyRecipients {
            jurisdiction: "north".into(),
            contacts: vec!["Sở Thông tin <sotttt@hanoi.example.vn>".into()],
            inspectors: Vec::new(),
        },
    );
    b.jurisdictions.insert(
        "north".into(),
        vec!["kiemtra.mienbac@bcy.example.vn".into()],
    );
    b.lead = vec!["Trưởng đoàn <truongdoan@bcy.example.vn>".into()];
    b
}

fn settings(pki: &Pki, port: u16, tls: SmtpTls, auth: Option<(&str, &str)>) -> EmailSettings {
    EmailSettings {
        from: FROM.into(),
        policy: SendPolicy::Always,
        smtp: SmtpSettings {
            host: "localhost".into(),
            port,
            tls,
            username: auth.map(|a| a.0.to_string()).unwrap_or_default(),
            password: auth.map(|a| a.1.to_string()),
            extra_roots_pem: vec![pki.ca_pem.clone().into_bytes()],
            timeout: std::time::Duration::from_secs(20),
        },
    }
}

fn rcpts(m: &Value) -> Vec<String> {
    m["rcpt_tos"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn attachment<'a>(m: &'a Value, ext: &str) -> &'a Value {
    m["attachments"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|x| x["filename"].as_str().is_some_and(|f| f.ends_with(ext)))
        })
        .unwrap_or_else(|| panic!("no {ext} attachment in {}", m["subject"]))
}

fn surprise() -> ReportData {
    let mut input = sample_input(Lang::Vi);
    if let Some(r) = input.run.as_mut() {
        r.mode = "surprise".into();
        r.seed = Some(7);
    }
    build(input).expect("build")
}

#[tokio::test]
async fn regular_run_over_starttls_delivers_each_message_once() {
    if !smtp_available() {
        return;
    }
    dvc_audit::install_crypto_provider();
    let pki = Pki::new();
    let port = free_port();
    let tmp = tempfile::tempdir().expect("tmp");
    let auth = Some(("kiemtra", "mật-khẩu"));
    let server = start(&pki, port, &tmp.path().join("received"), "starttls", auth);
    let outbox = Outbox::open(&tmp.path().join("outbox")).expect("outbox");
    let s = settings(&pki, port, SmtpTls::Starttls, auth);
    let data = sample(Lang::Vi);

    let report = deliver(&data, &book(), &s, &outbox).await.expect("deliver");
    assert!(report.flush.failed.is_empty(), "{:?}", report.flush.failed);
    assert_eq!(report.flush.sent.len(), 3);
    let got = received(&server.mailbox);
    assert_eq!(got.len(), 3);

    let bca = got
        .iter()
        .find(|m| rcpts(m).contains(&"vanphong@bca.example.vn".to_string()))
        .expect("message to the ministry");
    assert_eq!(
        rcpts(bca),
        [
            "kiemtra.mienbac@bcy.example.vn",
            "thanhtra.bca@bcy.example.vn",
            "vanphong@bca.example.vn"
        ]
    );
    let subject = bca["subject"].as_str().expect("subject");
    assert!(
        subject.starts_with("[Kiểm tra định kỳ] Bộ Công an"),
        "{subject}"
    );
    assert!(
        bca["from"]
            .as_str()
            .is_some_and(|f| f.contains("Đoàn kiểm tra Ban Cơ yếu"))
    );
    assert_eq!(bca["tls"], true);
    assert_eq!(bca["authenticated"], true);
    let id = report
        .planned
        .iter()
        .find(|p| p.agencies == ["bca"])
        .expect("planned")
        .id
        .clone();
    assert_eq!(bca["message_id"], format!("<{id}@bcy.example.vn>"));
    let text = bca["text"].as_str().expect("text body");
    assert!(text.contains("Bộ Công an (bca)"));
    assert!(text.contains("Dịch vụ toàn trình không hỗ trợ chữ ký số chuyên dùng Chính phủ."));
    assert!(
        !text.contains("Thành phố Hà Nội"),
        "another agency's findings leaked"
    );
    let html = bca["html"].as_str().expect("html body");
    assert!(html.contains("<title>Báo cáo kiểm tra dịch vụ công trực tuyến"));
    let html_att = attachment(bca, ".html");
    assert_eq!(html_att["content_type"], "text/html");
    assert!(
        html_att["content"]
            .as_str()
            .is_some_and(|c| c.contains("Bộ Công an"))
    );
    let json_att = attachment(bca, ".json");
    assert_eq!(json_att["content_type"], "application/json");
    let json: Value = match json_att["encoding"].as_str() {
        Some("text") => {
            serde_json::from_str(json_att["content"].as_str().expect("c")).expect("json")
        }
        _ => {
            use std::io::Read;
            let b64 = json_att["content"].as_str().expect("c");
            let bytes = base64_decode(b64);
            let mut s = String::new();
            bytes.as_slice().read_to_string(&mut s).expect("utf8");
            serde_json::from_str(&s).expect("json")
        }
    };
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["agencies"].as_array().map(Vec::len), Some(1));

    let hn = got
        .iter()
        .find(|m| rcpts(m).contains(&"sotttt@hanoi.example.vn".to_string()))
        .expect("message to the city");
    assert!(
        hn["to"]
            .as_str()
            .is_some_and(|t| t.contains("Sở Thông tin")),
        "display name decoded"
    );
    let lead = got
        .iter()
        .find(|m| rcpts(m) == ["truongdoan@bcy.example.vn"])
        .expect("digest to the lead");
    assert!(
        lead["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("[Kiểm tra định kỳ] Tổng hợp"))
    );
    assert!(
        lead["text"]
            .as_str()
            .is_some_and(|t| t.contains("Bộ Công an") && t.contains("Thành phố Hà Nội"))
    );

    // The same run again: nothing is sent twice.
    let again = deliver(&data, &book(), &s, &outbox)
        .await
        .expect("deliver again");
    assert_eq!(again.already_sent.len(), 3);
    assert!(again.flush.sent.is_empty());
    assert_eq!(received(&server.mailbox).len(), 3);
    assert!(outbox.pending().expect("pending").is_empty());
    assert_eq!(outbox.sent().expect("sent").len(), 3);
}

#[tokio::test]
async fn surprise_run_over_implicit_tls_reaches_inspectors_only() {
    if !smtp_available() {
        return;
    }
    dvc_audit::install_crypto_provider();
    let pki = Pki::new();
    let port = free_port();
    let tmp = tempfile::tempdir().expect("tmp");
    let server = start(&pki, port, &tmp.path().join("received"), "implicit", None);
    let outbox = Outbox::open(&tmp.path().join("outbox")).expect("outbox");
    let report = deliver(
        &surprise(),
        &book(),
        &settings(&pki, port, SmtpTls::Implicit, None),
        &outbox,
    )
    .await
    .expect("deliver");
    assert!(report.flush.failed.is_empty(), "{:?}", report.flush.failed);
    let got = received(&server.mailbox);
    assert_eq!(got.len(), 3);
    for m in &got {
        assert_eq!(m["tls"], true);
        for r in rcpts(m) {
            assert!(
                r.ends_with("@bcy.example.vn"),
                "agency contact {r} told of a surprise inspection"
            );
        }
        let subject = m["subject"].as_str().expect("subject");
        assert!(subject.starts_with("[Kiểm tra đột xuất] "), "{subject}");
        assert!(
            m["text"]
                .as_str()
                .is_some_and(|t| t.contains("Kiểm tra đột xuất"))
        );
        assert!(m["html"].as_str().is_some());
        assert_eq!(m["attachments"].as_array().map(Vec::len), Some(2));
    }
}

#[tokio::test]
async fn server_down_then_up_delivers_exactly_once() {
    if !smtp_available() {
        return;
    }
    dvc_audit::install_crypto_provider();
    let pki = Pki::new();
    let port = free_port();
    let tmp = tempfile::tempdir().expect("tmp");
    let outbox = Outbox::open(&tmp.path().join("outbox")).expect("outbox");
    let s = settings(&pki, port, SmtpTls::Starttls, None);

    // Down: nothing listens on the port.
    let report = deliver(&sample(Lang::Vi), &book(), &s, &outbox)
        .await
        .expect("deliver");
    assert!(report.flush.sent.is_empty());
    assert_eq!(report.flush.failed.len(), 3);
    let pending = outbox.pending().expect("pending");
    assert_eq!(pending.len(), 3, "the outbox holds every message");
    for p in &pending {
        let eml = std::fs::read(outbox.dir().join(format!("{}.eml", p.id))).expect("eml on disk");
        assert!(String::from_utf8_lossy(&eml).contains(&format!("Message-ID: <{}@", p.id)));
    }

    // Up: a flush (the next run, or `dvc-audit outbox flush`) delivers them.
    let server = start(&pki, port, &tmp.path().join("received"), "starttls", None);
    let first = flush(&outbox, &s.smtp).await.expect("flush");
    assert_eq!(first.sent.len(), 3);
    assert!(first.failed.is_empty());
    assert_eq!(received(&server.mailbox).len(), 3);

    // Exactly once: a second flush and a re-run of the same delivery send nothing.
    let second = flush(&outbox, &s.smtp).await.expect("flush again");
    assert!(second.sent.is_empty());
    let rerun = deliver(&sample(Lang::Vi), &book(), &s, &outbox)
        .await
        .expect("rerun");
    assert!(rerun.flush.sent.is_empty());
    assert_eq!(received(&server.mailbox).len(), 3);
}

#[tokio::test]
async fn untrusted_server_certificate_keeps_the_message() {
    if !smtp_available() {
        return;
    }
    dvc_audit::install_crypto_provider();
    let pki = Pki::new();
    let port = free_port();
    let tmp = tempfile::tempdir().expect("tmp");
    let server = start(&pki, port, &tmp.path().join("received"), "starttls", None);
    let outbox = Outbox::open(&tmp.path().join("outbox")).expect("outbox");
    let mut s = settings(&pki, port, SmtpTls::Starttls, None);
    s.smtp.extra_roots_pem.clear();
    let report = deliver(&sample(Lang::Vi), &book(), &s, &outbox)
        .await
        .expect("deliver");
    assert!(report.flush.sent.is_empty());
    assert_eq!(outbox.pending().expect("pending").len(), 3);
    assert!(received(&server.mailbox).is_empty());
}

/// Standard base64 decoding for the test's own reading of attachments (no extra crate).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a') as u32 + 26),
            b'0'..=b'9' => Some((c - b'0') as u32 + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// `dvc-audit outbox list` and `outbox flush` on a config with plain SMTP to loopback.
#[tokio::test]
async fn outbox_cli_lists_then_flushes_once() {
    if !smtp_available() {
        return;
    }
    dvc_audit::install_crypto_provider();
    let pki = Pki::new();
    let port = free_port();
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tmp.path().join("audit.toml");
    std::fs::write(
        &config,
        format!(
            r#"[crawl]
user_agent = "dvc-audit/0.1 (+mailto:kiemtra@bcy.example.vn)"
[email]
enabled = true
from = "{FROM}"
smtp_host = "127.0.0.1"
smtp_port = {port}
tls = "none"
outbox = "spool"
[[agency]]
id = "bca"
name = "Bộ Công an"
kind = "ministry"
portal = "https://dvc.bca.sandbox.test/"
platform = "accordion"
"#
        ),
    )
    .expect("config");
    let outbox = Outbox::open(&tmp.path().join("spool")).expect("outbox");
    let mut s = settings(&pki, port, SmtpTls::None, None);
    s.smtp.host = "127.0.0.1".into();
    let report = deliver(&sample(Lang::Vi), &book(), &s, &outbox)
        .await
        .expect("deliver");
    assert_eq!(report.flush.failed.len(), 3, "server is down");

    let dvc = |args: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("dvc-audit")
            .expect("binary")
            .args(args)
            .arg("-c")
            .arg(&config)
            .env_remove("DVC_AUDIT_OUTBOX")
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, list) = dvc(&["outbox", "list"]);
    assert_eq!(code, Some(0));
    assert!(list.contains("3 pending, 0 sent"), "{list}");
    for p in &report.planned {
        assert!(list.contains(&p.id), "{list}");
    }
    let (code, _) = dvc(&["outbox", "flush"]);
    assert_eq!(
        code,
        Some(3),
        "flush with the server down exits 3 and keeps the messages"
    );

    let server = start(&pki, port, &tmp.path().join("received"), "plain", None);
    let (code, out) = dvc(&["outbox", "flush"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("3 sent, 0 still pending"), "{out}");
    let (_, out) = dvc(&["outbox", "flush"]);
    assert!(out.contains("0 sent, 0 still pending"), "{out}");
    let got = received(&server.mailbox);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|m| m["tls"] == false));
    let (_, list) = dvc(&["outbox", "list"]);
    assert!(list.contains("0 pending, 3 sent"), "{list}");
}
