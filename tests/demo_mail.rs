//! `dvc-audit demo` delivers its mail, and every message stands on its own (issue 18): the demo
//! world is audited once with the demo's in-process SMTP sink; the messages it received
//! (parsed with `mail-parser` from the maildir) are checked as an inspector would read them.

use std::path::PathBuf;

use dvc_audit::run::demo::{DemoOptions, demo};
use dvc_audit::sandbox::Size;
use mail_parser::{MessageParser, MimeHeaders};

/// Library error text that must never reach a reader (it is mapped to a sentence; the raw
/// text stays in the stored evidence).
const RAW_ERRORS: &[&str] = &[
    "error sending request",
    "hyper::",
    "hyper_util",
    "rustls",
    "tcp connect",
    "connection refused",
    "os error",
];

fn files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("maildir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_delivers_standalone_mail_into_its_maildir() {
    let dir = tempfile::tempdir().expect("demo dir");
    let o = demo(DemoOptions {
        dir: dir.path().to_path_buf(),
        size: Size::Demo,
        seed: 1,
        https_port: 0,
        http_port: 0,
        tty: false,
    })
    .await
    .expect("demo");

    // Delivered, not left in the outbox with connection errors.
    let s = &o.summary;
    assert!(o.mail_delivered > 0, "the demo delivers mail");
    assert_eq!(o.mail_delivered, s.mail_sent, "sent = received by the sink");
    assert_eq!(s.mail_pending, 0, "nothing left in the outbox");
    assert!(
        s.notes.iter().all(|n| !n.starts_with("email")),
        "no email warnings: {:?}",
        s.notes
    );
    let eml = files(&o.maildir.join("new"));
    assert_eq!(eml.len(), o.mail_delivered, "one maildir file per message");
    assert!(files(&o.maildir.join("tmp")).is_empty());
    assert_eq!(
        s.agencies.len() + 1,
        eml.len(),
        "one message per agency plus the lead's digest"
    );

    let mut digests = 0;
    for path in &eml {
        let raw = std::fs::read(path).expect("read eml");
        let msg = MessageParser::default()
            .parse(&raw)
            .unwrap_or_else(|| panic!("{} parses", path.display()));
        let subject = msg.subject().unwrap_or_default().to_string();
        let digest = subject.contains("Tổng hợp");
        let text = msg.body_text(0).expect("a text part").to_string();
        let html = msg.body_html(0).expect("an HTML body").to_string();
        let at = || format!("{} ({subject})", path.display());

        // A short body that stands alone.
        assert!(
            text.len() < 100 * 1024,
            "text body {} B: {}",
            text.len(),
            at()
        );
        assert!(
            html.len() < 100 * 1024,
            "HTML body {} B: {}",
            html.len(),
            at()
        );
        assert!(text.starts_with("Kính gửi "), "greeting: {}", at());
        let reply = text
            .lines()
            .find(|l| l.starts_with("Đề nghị cơ quan phản hồi"))
            .unwrap_or_else(|| panic!("reply-by line: {}", at()));
        let date = reply.trim_end_matches('.').rsplit(' ').next().unwrap_or("");
        assert!(
            date.len() == 10 && date.as_bytes()[2] == b'/' && date.as_bytes()[5] == b'/',
            "reply-by date dd/mm/yyyy: {reply}"
        );
        assert!(
            text.contains("Liên hệ Đoàn kiểm tra: "),
            "contact: {}",
            at()
        );
        assert!(
            text.contains("một lần sửa xử lý "),
            "grouped actions: {}",
            at()
        );
        // Remediation and legal basis in the text part.
        assert!(text.contains("Khắc phục: "), "remediation: {}", at());
        // The VGCA rules cite their legal basis (20/2023/QH15, 68/2024/NĐ-CP): wherever one is
        // listed, its basis is in the text.
        if text.contains("(SIG-") || text.contains(" SIG-") {
            assert!(text.contains("Căn cứ pháp lý: "), "legal basis: {}", at());
        }
        // Email-safe HTML: inline styles and tables only, nothing fetched, nothing run.
        for bad in [
            "<style",
            "display:grid",
            "var(--",
            "<img",
            "<script",
            " src=",
        ] {
            assert!(!html.contains(bad), "{bad} in the HTML body: {}", at());
        }
        assert!(html.contains("<table"), "table layout: {}", at());

        // Attachments: the report once (HTML), the workbook, the CSV for one agency; no JSON.
        let names: Vec<(String, String)> = msg
            .attachments()
            .map(|a| {
                let ct = a
                    .content_type()
                    .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
                    .unwrap_or_default();
                (a.attachment_name().unwrap_or_default().to_string(), ct)
            })
            .collect();
        let has = |ext: &str, ct: &str| names.iter().any(|(n, c)| n.ends_with(ext) && c == ct);
        assert!(has(".html", "text/html"), "HTML report: {names:?}");
        assert!(
            has(
                ".xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            ),
            "XLSX: {names:?}"
        );
        assert_eq!(
            has("-findings.csv", "text/csv"),
            !digest,
            "CSV in agency messages: {names:?}"
        );
        assert!(
            names.iter().all(|(n, _)| !n.ends_with(".json")),
            "no JSON by default: {names:?}"
        );
        let htmls = names.iter().filter(|(n, _)| n.ends_with(".html")).count();
        assert_eq!(htmls, 1, "the report is attached once: {names:?}");

        // No raw library error in what a reader sees: bodies, the HTML report and the CSV
        // (the library's own text stays in report.json and the history).
        let mut readable = vec![text.to_lowercase(), html.to_lowercase()];
        for a in msg.attachments() {
            if a.attachment_name()
                .is_some_and(|n| n.ends_with(".html") || n.ends_with(".csv"))
            {
                readable.push(String::from_utf8_lossy(a.contents()).to_lowercase());
            }
        }
        for part in &readable {
            for e in RAW_ERRORS {
                assert!(!part.contains(e), "raw library error {e:?} in {}", at());
            }
        }

        if digest {
            digests += 1;
            assert!(
                raw.len() < 1024 * 1024,
                "the lead digest is {} B: {}",
                raw.len(),
                at()
            );
        }
    }
    assert_eq!(digests, 1, "one lead digest");
}
