//! Email against a real SMTP server on loopback (Python's aiosmtpd, started by the test, with a
//! certificate from a CA the test generates). What was delivered is read back through Python's
//! own MIME parser (tests/support/smtp_server.py): recipients per mode, decoded Vietnamese
//! subject, both bodies, attachments. Plus: server down, then up — the outbox holds the
//! messages, then delivers each exactly once.
//!
//! Skips (with the reason printed) only when `python3 -c 'import aiosmtpd'` fails and
//! `DVC_AUDIT_REQUIRE_SMTP` is unset; CI sets the variable, so a missing server fails there.

mod support;

use dvc_audit::config::{SendPolicy, SmtpTls};
use dvc_audit::notify::{
    AgencyRecipients, BodySettings, EmailSettings, Outbox, RecipientBook, SmtpSettings, deliver,
    flush,
};
use dvc_audit::report::sample::{sample, sample_input};
use dvc_audit::report::{Lang, ReportData, build};
use serde_json::Value;
use support::smtp::{Pki, available as smtp_available, free_port, rcpts, received, start};

const FROM: &str = "Đoàn kiểm tra Ban Cơ yếu <kiemtra@bcy.example.vn>";

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
        body: BodySettings {
            contact: "Đoàn kiểm tra Ban Cơ yếu, 024 0000 0000".into(),
            ..BodySettings::default()
        },
    }
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
    // The body stands alone: greeting, actions, reply-by date, contact; the report is attached
    // once (no second copy as the HTML alternative).
    assert!(text.contains("Kính gửi Bộ Công an"), "{text}");
    assert!(text.contains("Đề nghị cơ quan phản hồi"), "{text}");
    assert!(
        text.contains("Đoàn kiểm tra Ban Cơ yếu, 024 0000 0000"),
        "{text}"
    );
    let html = bca["html"].as_str().expect("html body");
    assert!(html.contains("Kính gửi Bộ Công an"));
    assert!(
        !html.contains("<style"),
        "email-safe HTML: inline styles only"
    );
    assert!(!html.contains("<title>Báo cáo kiểm tra dịch vụ công trực tuyến – "));
    let html_att = attachment(bca, ".html");
    assert_eq!(html_att["content_type"], "text/html");
    assert!(
        html_att["content"]
            .as_str()
            .is_some_and(|c| c.contains("Bộ Công an"))
    );
    assert_eq!(attachment(bca, ".csv")["content_type"], "text/csv");
    let xlsx = attachment(bca, ".xlsx");
    assert_eq!(
        xlsx["content_type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(
        base64_decode(xlsx["content"].as_str().expect("xlsx content")).starts_with(b"PK"),
        "the workbook is a zip"
    );
    assert!(
        bca["attachments"]
            .as_array()
            .is_some_and(|a| a.iter().all(|x| !x["filename"]
                .as_str()
                .unwrap_or_default()
                .ends_with(".json"))),
        "no JSON attachment by default"
    );

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
        // One agency: HTML report, CSV, XLSX; a digest of several: summary HTML and XLSX.
        let expected = if subject.contains("Tổng hợp") {
            2
        } else {
            3
        };
        assert_eq!(
            m["attachments"].as_array().map(Vec::len),
            Some(expected),
            "{subject}"
        );
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
