use std::collections::HashMap;
use std::path::PathBuf;

use super::*;

const GOOD: &str = r#"
[audit]
name = "test"
[crawl]
user_agent = "dvc-audit/0.1 (+mailto:kiemtra@example.gov.vn)"
[inspectors]
mien-bac = ["thanhtra@example.gov.vn"]
[[agency]]
id = "hanoi"
name = "UBND Thành phố Hà Nội"
kind = "city"
portal = "https://dichvucong.hanoi.gov.vn/"
platform = "accordion"
jurisdiction = "mien-bac"
contacts = ["vanthu@hanoi.gov.vn"]
"#;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Loaded, DiagnosticsError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load_source(
        SourceFile::new("audit.toml", text),
        PathBuf::from("."),
        &|k| env.get(k).cloned(),
    )
}

fn rendered(text: &str) -> String {
    match load(text, &[]) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.0.render(false),
    }
}

#[test]
fn good_config_loads_with_defaults() {
    let loaded = load(GOOD, &[]).expect("loads");
    let c = &loaded.config;
    assert_eq!(c.agencies.len(), 1);
    assert_eq!(c.crawl.concurrency, defaults::CONCURRENCY);
    assert_eq!(c.storage.sqlite, defaults::SQLITE);
    assert!(
        c.crawl.allow_private.is_empty(),
        "no private range by default"
    );
    assert_eq!(loaded.digest.len(), 64);
}

#[test]
fn three_mistakes_give_three_spanned_diagnostics() {
    let text = GOOD
        .replace("[crawl]\n", "[crawl]\nconcurency = 4\n")
        .replace(
            "portal = \"https://dichvucong.hanoi.gov.vn/\"",
            "portal = \"dichvucong.hanoi.gov.vn\"",
        )
        .replace("jurisdiction = \"mien-bac\"", "jurisdiction = \"mien-tay\"");
    let out = rendered(&text);
    assert!(out.contains("unknown key `crawl.concurency`"), "{out}");
    assert!(out.contains("audit.toml:5:1"), "{out}");
    assert!(out.contains("is not a URL"), "{out}");
    assert!(out.contains("audit.toml:13:10"), "{out}");
    assert!(
        out.contains("jurisdiction \"mien-tay\" has no [inspectors] entry"),
        "{out}"
    );
    assert!(out.contains("audit.toml:15:16"), "{out}");
    assert!(out.contains("3 errors, 0 warnings"), "{out}");
    // The offending text is quoted under its location.
    assert!(out.contains("concurency = 4"), "{out}");
}

#[test]
fn every_unknown_key_is_reported_not_just_the_first() {
    let text = GOOD
        .replace("[audit]\n", "[audit]\nfoo = 1\n")
        .replace("kind = \"city\"", "kind = \"city\"\nnmae = \"x\"");
    let out = rendered(&text);
    assert!(out.contains("unknown key `audit.foo`"), "{out}");
    assert!(out.contains("unknown key `agency.0.nmae`"), "{out}");
}

#[test]
fn syntax_error_points_at_the_line() {
    let out = rendered("[crawl\nuser_agent = 1\n");
    assert!(out.contains("audit.toml:1:"), "{out}");
    assert!(out.contains("error[config::syntax]"), "{out}");
}

#[test]
fn type_error_is_spanned() {
    let out = rendered(&GOOD.replace("kind = \"city\"", "kind = \"village\""));
    assert!(out.contains("error[config::type]"), "{out}");
    assert!(out.contains("village"), "{out}");
}

#[test]
fn semantic_checks_collect_everything() {
    let text = GOOD.replace(
        "[crawl]\nuser_agent = \"dvc-audit/0.1 (+mailto:kiemtra@example.gov.vn)\"",
        "[crawl]\nuser_agent = \"dvc-audit\"\nconcurrency = 0\nallow_private = [\"8.8.8.0/24\", \"nope\"]\nresolve = [\"a.test:x:127.0.0.1\"]",
    ) + r#"
[[agency]]
id = "hanoi"
name = ""
kind = "city"
portal = "ftp://x/"
platform = "Bad Id"
successor = "nowhere"
contacts = ["not-an-address"]
"#;
    let out = rendered(&text);
    for needle in [
        "must contain a contact address",
        "crawl.concurrency = 0 is out of range",
        "is a public range",
        "\"nope\" is not an IP range",
        "\"x\" is not a port number",
        "agency id \"hanoi\" is used twice",
        "first used at audit.toml:",
        "agency name is empty",
        "must be an http(s) URL",
        "must be a profile id",
        "successor \"nowhere\" is not another configured agency id",
        "\"not-an-address\" is not an email address",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn plain_http_portal_is_a_warning_not_an_error() {
    let text = GOOD.replace("https://dichvucong", "http://dichvucong");
    let loaded = load(&text, &[]).expect("loads");
    assert_eq!(loaded.warnings.items.len(), 1);
    assert!(loaded.warnings.render(false).contains("plain HTTP"));
}

#[test]
fn environment_overrides_apply_and_are_validated() {
    let loaded = load(
        GOOD,
        &[
            ("DVC_AUDIT_DB", "/var/lib/dvc/a.sqlite"),
            ("DVC_AUDIT_SMTP_PORT", "465"),
        ],
    )
    .expect("loads");
    assert_eq!(loaded.config.storage.sqlite, "/var/lib/dvc/a.sqlite");
    assert_eq!(loaded.config.email.smtp_port, 465);
    let err = load(GOOD, &[("DVC_AUDIT_SMTP_PORT", "lots")]).expect_err("bad port");
    assert!(err.0.render(false).contains("DVC_AUDIT_SMTP_PORT"));
}

#[test]
fn email_without_tls_only_on_loopback() {
    // `[email]` before the `[[agency]]` array so it is a top-level table.
    let email = "[email]\nenabled = true\nfrom = \"dvc <a@example.gov.vn>\"\nsmtp_host = \"HOST\"\ntls = \"none\"\n[[agency]]";
    let remote = GOOD.replacen(
        "[[agency]]",
        &email.replace("HOST", "mail.example.gov.vn"),
        1,
    );
    let out = rendered(&remote);
    assert!(
        out.contains("allowed only for a loopback SMTP host"),
        "{out}"
    );
    let local = GOOD.replacen("[[agency]]", &email.replace("HOST", "127.0.0.1"), 1);
    assert!(load(&local, &[]).is_ok());
}

#[test]
fn secret_never_prints() {
    let s = Secret("hunter2".into());
    assert_eq!(format!("{s:?}"), "Secret(***)");
}

#[test]
fn max_rows_per_rule_defaults_and_is_range_checked() {
    let loaded = load(GOOD, &[]).expect("loads");
    assert_eq!(
        loaded.config.report.max_rows_per_rule,
        defaults::MAX_ROWS_PER_RULE
    );
    let zero = GOOD.replace("[crawl]\n", "[report]\nmax_rows_per_rule = 0\n[crawl]\n");
    assert_eq!(
        load(&zero, &[])
            .expect("0 = every row")
            .config
            .report
            .max_rows_per_rule,
        0
    );
    let big = GOOD.replace(
        "[crawl]\n",
        "[report]\nmax_rows_per_rule = 10001\n[crawl]\n",
    );
    let out = rendered(&big);
    assert!(
        out.contains("report.max_rows_per_rule must be at most 10000"),
        "{out}"
    );
    assert!(out.contains("audit.toml:"), "spanned: {out}");
}

#[test]
fn credentials_in_a_portal_url_are_rejected_without_echoing_the_password() {
    let text = GOOD.replace(
        "https://dichvucong.hanoi.gov.vn/",
        "https://admin:s3cret@dichvucong.hanoi.gov.vn/",
    );
    let out = rendered(&text);
    assert!(out.contains("credentials never belong in a URL"), "{out}");
    // The message itself names the user, not the password (the source excerpt is the
    // operator's own file).
    let messages: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("carries credentials"))
        .collect();
    assert!(!messages.is_empty(), "{out}");
    assert!(messages.iter().all(|l| !l.contains("s3cret")), "{out}");
}

#[test]
fn allow_private_refuses_ranges_that_reach_public_addresses() {
    for range in ["0.0.0.0/0", "::/0", "10.0.0.0/7", "127.0.0.0/4"] {
        let text = GOOD.replace(
            "[crawl]\n",
            &format!("[crawl]\nallow_private = [\"{range}\"]\n"),
        );
        let out = rendered(&text);
        assert!(out.contains("public range"), "{range}: {out}");
    }
    let text = GOOD.replace(
        "[crawl]\n",
        "[crawl]\nallow_private = [\"127.0.0.0/8\", \"fd00::/8\"]\n",
    );
    assert!(load(&text, &[]).is_ok());
}

const WEBHOOK: &str = "[notify.webhook]\nurl = \"https://hooks.example.org/dvc\"\n";

fn with_webhook(section: &str) -> String {
    GOOD.replacen("[[agency]]", &format!("{section}[[agency]]"), 1)
}

#[test]
fn webhook_secret_comes_from_the_environment_or_a_file_never_the_file_text() {
    let text = with_webhook(WEBHOOK);
    // Missing secret: a clear error at the section, naming the variable.
    let out = rendered(&text);
    assert!(
        out.contains("the environment variable DVC_AUDIT_WEBHOOK_SECRET is not set"),
        "{out}"
    );
    let line = GOOD
        .split("[[agency]]")
        .next()
        .map(|pre| pre.lines().count() + 1)
        .expect("line");
    assert!(
        out.contains(&format!("audit.toml:{line}:")),
        "spanned: {out}"
    );
    // From the environment (the named variable).
    let loaded = load(&text, &[("DVC_AUDIT_WEBHOOK_SECRET", "k")]).expect("loads");
    let w = loaded.config.notify.webhook.as_ref().expect("webhook");
    assert_eq!(w.timeout_ms, defaults::WEBHOOK_TIMEOUT_MS);
    let named = with_webhook(&format!("{WEBHOOK}secret_env = \"HOOK_KEY\"\n"));
    assert!(load(&named, &[("DVC_AUDIT_WEBHOOK_SECRET", "k")]).is_err());
    assert!(load(&named, &[("HOOK_KEY", "k")]).is_ok());
    // An empty variable is no secret.
    assert!(load(&text, &[("DVC_AUDIT_WEBHOOK_SECRET", "")]).is_err());
    // A secret in the file text is not a setting.
    let inline = with_webhook(&format!("{WEBHOOK}secret = \"hunter2\"\n"));
    let out = match load(&inline, &[("DVC_AUDIT_WEBHOOK_SECRET", "k")]) {
        Ok(_) => panic!("a secret in the file must be refused"),
        Err(e) => e.0.render(false),
    };
    assert!(out.contains("unknown key `notify.webhook.secret`"), "{out}");
    // From a file: it must exist.
    let filed = with_webhook(&format!("{WEBHOOK}secret_file = \"no/such/secret\"\n"));
    let out = rendered(&filed);
    assert!(
        out.contains("notify.webhook.secret_file \"no/such/secret\" does not exist"),
        "{out}"
    );
}

#[test]
fn webhook_url_is_https_or_loopback_http_without_credentials() {
    let env = [("DVC_AUDIT_WEBHOOK_SECRET", "k")];
    let at = |url: &str| with_webhook(&format!("[notify.webhook]\nurl = \"{url}\"\n"));
    for ok in [
        "https://hooks.example.org/x",
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]:8080/",
    ] {
        assert!(load(&at(ok), &env).is_ok(), "{ok}");
    }
    for (bad, says) in [
        ("http://hooks.example.org/x", "must be https"),
        ("ftp://hooks.example.org/x", "must be an https URL"),
        ("not a url", "is not a URL"),
        (
            "https://bot:t0ken@hooks.example.org/x",
            "carries credentials",
        ),
    ] {
        let out = match load(&at(bad), &env) {
            Ok(_) => panic!("{bad} must be refused"),
            Err(e) => e.0.render(false),
        };
        assert!(out.contains(says), "{bad}: {out}");
        assert!(out.contains("audit.toml:"), "spanned: {out}");
        let messages: Vec<&str> = out.lines().filter(|l| l.contains("carries")).collect();
        assert!(messages.iter().all(|l| !l.contains("t0ken")), "{out}");
    }
    let empty = with_webhook("[notify.webhook]\ntimeout_ms = 5000\n");
    assert!(
        rendered(&empty).contains("notify.webhook.url is required"),
        "no url"
    );
}

#[test]
fn webhook_headers_and_timeout_are_checked() {
    let env = [("DVC_AUDIT_WEBHOOK_SECRET", "k")];
    let ok = with_webhook(&format!("{WEBHOOK}headers = {{ \"X-Route\" = \"ops\" }}\n"));
    let loaded = load(&ok, &env).expect("loads");
    let w = loaded.config.notify.webhook.as_ref().expect("webhook");
    assert_eq!(w.headers.get("X-Route").map(String::as_str), Some("ops"));
    for (headers, says) in [
        (
            "{ \"X-Dvc-Audit-Signature\" = \"x\" }",
            "not a header the webhook may set",
        ),
        (
            "{ \"Content-Type\" = \"text/plain\" }",
            "not a header the webhook may set",
        ),
        (
            "{ \"bad name\" = \"x\" }",
            "not a header the webhook may set",
        ),
        (
            "{ \"X-Ok\" = \"line\\nbreak\" }",
            "not a valid header value",
        ),
    ] {
        let text = with_webhook(&format!("{WEBHOOK}headers = {headers}\n"));
        let out = match load(&text, &env) {
            Ok(_) => panic!("{headers} must be refused"),
            Err(e) => e.0.render(false),
        };
        assert!(out.contains(says), "{headers}: {out}");
    }
    let slow = with_webhook(&format!("{WEBHOOK}timeout_ms = 0\n"));
    let out = match load(&slow, &env) {
        Ok(_) => panic!("timeout 0"),
        Err(e) => e.0.render(false),
    };
    assert!(
        out.contains("notify.webhook.timeout_ms = 0 is out of range"),
        "{out}"
    );
}

#[test]
fn email_body_settings_load_and_are_validated() {
    let ok = format!(
        "{GOOD}\n[email]\nreply_by_days = 10\ncontact = \"Đoàn kiểm tra\"\n[[email.lead.regional]]\nto = [\"lead@example.gov.vn\"]\njurisdictions = [\"mien-bac\"]\n"
    );
    let loaded = load(&ok, &[]).expect("loads");
    let e = &loaded.config.email;
    assert_eq!((e.reply_by_days, e.contact.as_str()), (10, "Đoàn kiểm tra"));
    assert!(!e.attach_json);
    assert_eq!(e.lead.regional[0].jurisdictions, ["mien-bac"]);
    assert_eq!(
        load(GOOD, &[]).expect("loads").config.email.reply_by_days,
        14
    );
    let bad = format!(
        "{GOOD}\n[email]\nreply_by_days = 0\n[[email.lead.regional]]\nto = [\"not an address\"]\n"
    );
    let out = rendered(&bad);
    assert!(
        out.contains("email.reply_by_days = 0 is out of range"),
        "{out}"
    );
    assert!(
        out.contains("\"not an address\" is not an email address"),
        "{out}"
    );
}

#[test]
fn http_version_defaults_to_auto_and_only_takes_the_three_names() {
    let loaded = load(GOOD, &[]).expect("loads");
    assert_eq!(loaded.config.crawl.http_version, HttpVersion::Auto);
    for (name, want) in [
        ("auto", HttpVersion::Auto),
        ("http1", HttpVersion::Http1),
        ("http2", HttpVersion::Http2),
    ] {
        let text = GOOD.replace(
            "[crawl]\n",
            &format!("[crawl]\nhttp_version = \"{name}\"\n"),
        );
        let loaded = load(&text, &[]).expect("loads");
        assert_eq!(loaded.config.crawl.http_version, want);
    }
    let out = rendered(&GOOD.replace("[crawl]\n", "[crawl]\nhttp_version = \"http3\"\n"));
    assert!(out.contains("http3") && out.contains("http1"), "{out}");
    assert!(out.contains("audit.toml:"), "spanned: {out}");
}
