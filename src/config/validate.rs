//! Semantic validation of a parsed configuration. Every check pushes a diagnostic and goes on,
//! so the user sees every problem at once.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::model::*;
use super::spans::SpanIndex;
use crate::diag::{Diagnostic, Diagnostics, SourceFile};

pub(super) struct Ctx<'a> {
    pub file: &'a Arc<SourceFile>,
    pub spans: &'a SpanIndex,
    pub base_dir: &'a Path,
    /// The environment (the webhook secret's variable must be set).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Ctx<'_> {
    fn err(&self, diags: &mut Diagnostics, path: &str, code: &str, msg: String, label: &str) {
        let d = Diagnostic::error(format!("config::{code}"), msg);
        diags.push(self.point(d, path, label));
    }

    fn warn(&self, diags: &mut Diagnostics, path: &str, code: &str, msg: String, label: &str) {
        let d = Diagnostic::warning(format!("config::{code}"), msg);
        diags.push(self.point(d, path, label));
    }

    fn point(&self, d: Diagnostic, path: &str, label: &str) -> Diagnostic {
        match self.spans.value(path) {
            Some(span) => d.at(self.file, span, label),
            None => d.in_file(self.file),
        }
    }
}

/// Agency ids, anchor names and variable names: lowercase ASCII, digits and dashes.
pub fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && s.len() <= 64
}

pub(super) fn validate(c: &Config, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    crawl(&c.crawl, ctx, d);
    tls(&c.tls, ctx, d);
    storage_and_report(c, ctx, d);
    email(&c.email, ctx, d);
    if let Some(w) = &c.notify.webhook {
        webhook(w, ctx, d);
    }
    for (j, list) in &c.inspectors {
        addresses(list, &format!("inspectors.{j}"), ctx, d);
    }
    agencies(c, ctx, d);
}

fn crawl(c: &CrawlSection, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    let ua = c.user_agent.trim();
    if ua.is_empty() {
        ctx.err(
            d,
            "crawl",
            "user-agent",
            "crawl.user_agent is required: a government crawler must identify itself and give a contact".into(),
            "add user_agent = \"dvc-audit/0.1 (+mailto:you@agency.gov.vn)\" here",
        );
    } else if !(ua.contains('@') || ua.contains("http://") || ua.contains("https://")) {
        ctx.err(
            d,
            "crawl.user_agent",
            "user-agent",
            "crawl.user_agent must contain a contact address (mailto: or URL)".into(),
            "no contact address",
        );
    }
    let ranges: [(&str, u64, u64, u64); 12] = [
        ("concurrency", c.concurrency.into(), 1, 4096),
        ("per_host_concurrency", c.per_host_concurrency.into(), 1, 64),
        ("connect_timeout_ms", c.connect_timeout_ms, 100, 300_000),
        ("read_timeout_ms", c.read_timeout_ms, 100, 600_000),
        ("total_timeout_ms", c.total_timeout_ms, 100, 3_600_000),
        ("max_body_bytes", c.max_body_bytes, 1_024, 1 << 30),
        ("max_redirects", c.max_redirects.into(), 0, 20),
        ("max_url_length", c.max_url_length.into(), 64, 65_536),
        ("retries", c.retries.into(), 0, 10),
        ("agencies_in_flight", c.agencies_in_flight.into(), 1, 1024),
        ("max_crawl_delay_secs", c.max_crawl_delay_secs, 1, 3_600),
        ("max_run_minutes", c.max_run_minutes, 1, 10_080),
    ];
    for (key, value, min, max) in ranges {
        if value < min || value > max {
            ctx.err(
                d,
                &format!("crawl.{key}"),
                "range",
                format!("crawl.{key} = {value} is out of range ({min}..={max})"),
                "out of range",
            );
        }
    }
    if c.max_pages_per_agency == 0 {
        ctx.err(
            d,
            "crawl.max_pages_per_agency",
            "range",
            "crawl.max_pages_per_agency must be at least 1".into(),
            "must be at least 1",
        );
    }
    if c.per_host_concurrency > c.concurrency {
        ctx.err(
            d,
            "crawl.per_host_concurrency",
            "range",
            format!(
                "crawl.per_host_concurrency ({}) exceeds crawl.concurrency ({})",
                c.per_host_concurrency, c.concurrency
            ),
            "larger than the global bound",
        );
    }
    if !c.per_host_rate.is_finite() || c.per_host_rate < 0.0 || c.per_host_rate > 10_000.0 {
        ctx.err(
            d,
            "crawl.per_host_rate",
            "range",
            format!(
                "crawl.per_host_rate = {} must be between 0 (off) and 10000 requests/s",
                c.per_host_rate
            ),
            "out of range",
        );
    }
    if c.connect_timeout_ms > c.total_timeout_ms || c.read_timeout_ms > c.total_timeout_ms {
        ctx.err(
            d,
            "crawl.total_timeout_ms",
            "range",
            "crawl.total_timeout_ms must be at least connect_timeout_ms and read_timeout_ms".into(),
            "smaller than a step timeout",
        );
    }
    for (i, r) in c.allow_private.iter().enumerate() {
        let path = format!("crawl.allow_private.{i}");
        match r.parse::<ipnet::IpNet>() {
            Ok(net)
                if !is_non_public(net.network())
                    || !is_non_public(net.broadcast())
                    || net.prefix_len() < if net.network().is_ipv4() { 8 } else { 7 } =>
            {
                ctx.err(
                d,
                &path,
                "allow-private",
                format!("{r} is a public range; allow_private only opens private, loopback or link-local ranges"),
                "public range",
            )
            }
            Ok(_) => {}
            Err(_) => ctx.err(
                d,
                &path,
                "allow-private",
                format!("{r:?} is not an IP range in CIDR form (e.g. \"127.0.0.0/8\")"),
                "not a CIDR range",
            ),
        }
    }
    for (i, r) in c.resolve.iter().enumerate() {
        if let Err(msg) = parse_resolve(r) {
            ctx.err(
                d,
                &format!("crawl.resolve.{i}"),
                "resolve",
                format!("resolve entry {r:?}: {msg}"),
                "expected host:port:address",
            );
        }
    }
}

/// Loopback, private (RFC 1918 / ULA), link-local, CGNAT, unspecified, "this network",
/// benchmarking, broadcast, reserved or multicast. An IPv6 address that carries an IPv4 address
/// (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`, Teredo `2001::/32`) is also classified by the IPv4 it carries: a connection to
/// it may reach that IPv4 host.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_public_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                // site-local (deprecated, still routed internally by some networks)
                || (s[0] & 0xffc0) == 0xfec0
                || embedded_v4(v6).iter().any(|v4| is_non_public_v4(*v4))
        }
    }
}

fn is_non_public_v4(v4: std::net::Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240
}

/// The IPv4 addresses an IPv6 address carries (at most two, for Teredo: server and client).
pub fn embedded_v4(v6: std::net::Ipv6Addr) -> Vec<std::net::Ipv4Addr> {
    use std::net::Ipv4Addr;
    let s = v6.segments();
    let o = v6.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d (not :: and ::1).
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || (s[5] == 0 && !(s[6] == 0 && s[7] <= 1))) {
        return vec![low];
    }
    // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
    if (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]) || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) {
        return vec![low];
    }
    // 6to4 2002:AABB:CCDD::/48.
    if s[0] == 0x2002 {
        return vec![Ipv4Addr::new(o[2], o[3], o[4], o[5])];
    }
    // Teredo 2001:0::/32: server IPv4 in bits 32–63, client IPv4 obfuscated (XOR) in the last 32.
    if s[0] == 0x2001 && s[1] == 0 {
        return vec![
            Ipv4Addr::new(o[4], o[5], o[6], o[7]),
            Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]),
        ];
    }
    Vec::new()
}

/// Parse curl's `host:port:address` (the address may be `[v6]`).
pub fn parse_resolve(entry: &str) -> Result<(String, u16, IpAddr), String> {
    let mut parts = entry.splitn(3, ':');
    let host = parts.next().unwrap_or("").trim();
    let port = parts.next().ok_or("missing port")?;
    let addr = parts.next().ok_or("missing address")?;
    if host.is_empty() {
        return Err("missing host".into());
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port number"))?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    Ok((host.to_ascii_lowercase(), port, addr))
}

fn pem_file(path: &str, key: &str, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    let full = ctx.base_dir.join(path);
    match std::fs::read(&full) {
        Ok(bytes) => {
            use rustls_pki_types::pem::PemObject;
            let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<_, _>>()
                .unwrap_or_default();
            if certs.is_empty() {
                ctx.err(
                    d,
                    key,
                    "anchor",
                    format!("{} holds no PEM certificate", full.display()),
                    "no certificate in this file",
                );
            }
        }
        Err(e) => ctx.err(
            d,
            key,
            "anchor",
            format!("cannot read {}: {e}", full.display()),
            "cannot read this file",
        ),
    }
}

fn tls(t: &TlsSection, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    if t.expiry_warning_days > 365 {
        ctx.err(
            d,
            "tls.expiry_warning_days",
            "range",
            "tls.expiry_warning_days must be at most 365".into(),
            "out of range",
        );
    }
    if let Some(w) = &t.web_roots {
        pem_file(w, "tls.web_roots", ctx, d);
    }
    for (name, path) in &t.anchors {
        let key = format!("tls.anchors.{name}");
        if !is_slug(name) || name == "web" {
            let d2 = Diagnostic::error(
                "config::anchor",
                format!(
                    "anchor set name {name:?} must be lowercase letters, digits and dashes, and not \"web\""
                ),
            );
            d.push(match ctx.spans.key(&key) {
                Some(span) => d2.at(ctx.file, span, "bad name"),
                None => d2.in_file(ctx.file),
            });
        }
        pem_file(path, &key, ctx, d);
    }
}

fn storage_and_report(c: &Config, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    if c.storage.sqlite.trim().is_empty() {
        ctx.err(
            d,
            "storage.sqlite",
            "storage",
            "storage.sqlite must name a database file".into(),
            "empty",
        );
    }
    if c.report.max_rows_per_rule > defaults::MAX_ROWS_PER_RULE_LIMIT {
        ctx.err(
            d,
            "report.max_rows_per_rule",
            "report",
            format!(
                "report.max_rows_per_rule must be at most {} (0 shows every row)",
                defaults::MAX_ROWS_PER_RULE_LIMIT
            ),
            "too large",
        );
    }
    const FORMATS: [&str; 5] = ["html", "json", "text", "csv", "xlsx"];
    for (i, f) in c.report.formats.iter().enumerate() {
        if !FORMATS.contains(&f.as_str()) {
            ctx.err(
                d,
                &format!("report.formats.{i}"),
                "report",
                format!("unknown report format {f:?}; known: {}", FORMATS.join(", ")),
                "unknown format",
            );
        }
    }
}

fn addresses(list: &[String], path: &str, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    for (i, a) in list.iter().enumerate() {
        if a.parse::<lettre::message::Mailbox>().is_err() {
            ctx.err(
                d,
                &format!("{path}.{i}"),
                "address",
                format!("{a:?} is not an email address"),
                "not an email address",
            );
        }
    }
}

fn email(e: &EmailSection, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    addresses(&e.lead.to, "email.lead.to", ctx, d);
    for (i, r) in e.lead.regional.iter().enumerate() {
        addresses(&r.to, &format!("email.lead.regional.{i}.to"), ctx, d);
    }
    if !(1..=365).contains(&e.reply_by_days) {
        ctx.err(
            d,
            "email.reply_by_days",
            "email",
            format!(
                "email.reply_by_days = {} is out of range (1..=365)",
                e.reply_by_days
            ),
            "1 to 365 days",
        );
    }
    if !e.enabled {
        return;
    }
    if e.from.parse::<lettre::message::Mailbox>().is_err() {
        ctx.err(
            d,
            "email.from",
            "address",
            format!(
                "email.from {:?} is not a mailbox (\"Name <addr@host>\")",
                e.from
            ),
            "not a mailbox",
        );
    }
    if e.smtp_host.trim().is_empty() {
        ctx.err(
            d,
            "email",
            "smtp",
            "email.smtp_host is required when email.enabled = true".into(),
            "add smtp_host",
        );
    }
    if e.tls == SmtpTls::None && !is_loopback_host(&e.smtp_host) {
        ctx.err(
            d,
            "email.tls",
            "smtp",
            format!(
                "email.tls = \"none\" is allowed only for a loopback SMTP host, not {:?}",
                e.smtp_host
            ),
            "use \"starttls\" or \"implicit\"",
        );
    }
    if let Some(f) = &e.password_file
        && !ctx.base_dir.join(f).is_file()
    {
        ctx.err(
            d,
            "email.password_file",
            "secret",
            format!("email.password_file {f:?} does not exist"),
            "no such file",
        );
    }
}

/// Header names the webhook sets itself; `headers` may not replace them.
const WEBHOOK_RESERVED_HEADERS: [&str; 4] =
    ["content-type", "content-length", "host", "user-agent"];
/// Most extra headers a webhook may carry.
const WEBHOOK_MAX_HEADERS: usize = 32;

fn webhook(w: &WebhookSection, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    const KEY: &str = "notify.webhook";
    match url::Url::parse(&w.url) {
        _ if w.url.trim().is_empty() => ctx.err(
            d,
            KEY,
            "webhook",
            "notify.webhook.url is required when [notify.webhook] is present".into(),
            "add url = \"https://…\"",
        ),
        // As for portals: never credentials in a URL (it is listed by `outbox list` and logged).
        Ok(u) if !u.username().is_empty() || u.password().is_some() => ctx.err(
            d,
            "notify.webhook.url",
            "url-credentials",
            format!(
                "notify.webhook.url carries credentials (user {:?}); put a token in notify.webhook.headers or rely on the signature",
                u.username()
            ),
            "credentials in the URL",
        ),
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {}
        Ok(u) if u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host) => {}
        Ok(u) if u.scheme() == "http" => ctx.err(
            d,
            "notify.webhook.url",
            "webhook",
            format!(
                "notify.webhook.url must be https (plain http only to a loopback host), not {:?}",
                u.host_str().unwrap_or_default()
            ),
            "plain HTTP to a remote host",
        ),
        Ok(_) => ctx.err(
            d,
            "notify.webhook.url",
            "webhook",
            format!("{:?} must be an https URL with a host", w.url),
            "not an https URL",
        ),
        Err(e) => ctx.err(
            d,
            "notify.webhook.url",
            "webhook",
            format!("{:?} is not a URL: {e}", w.url),
            "not a URL",
        ),
    }
    if let Some(f) = &w.secret_file {
        if !ctx.base_dir.join(f).is_file() {
            ctx.err(
                d,
                "notify.webhook.secret_file",
                "secret",
                format!("notify.webhook.secret_file {f:?} does not exist"),
                "no such file",
            );
        }
    } else if (ctx.env)(&w.secret_env).is_none_or(|v| v.is_empty()) {
        let d2 = Diagnostic::error(
            "config::secret",
            format!(
                "the webhook needs an HMAC secret: the environment variable {} is not set (or empty)",
                w.secret_env
            ),
        )
        .with_help(
            "export the secret in that variable (or name another with secret_env), or set secret_file; never put the secret in this file",
        );
        d.push(ctx.point(d2, KEY, "no secret for this webhook"));
    }
    if !(100..=120_000).contains(&w.timeout_ms) {
        ctx.err(
            d,
            "notify.webhook.timeout_ms",
            "range",
            format!(
                "notify.webhook.timeout_ms = {} is out of range (100..=120000)",
                w.timeout_ms
            ),
            "out of range",
        );
    }
    if w.headers.len() > WEBHOOK_MAX_HEADERS {
        ctx.err(
            d,
            "notify.webhook.headers",
            "webhook",
            format!("at most {WEBHOOK_MAX_HEADERS} extra headers"),
            "too many headers",
        );
    }
    for (name, value) in &w.headers {
        let path = format!("notify.webhook.headers.{name}");
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || WEBHOOK_RESERVED_HEADERS.contains(&lower.as_str())
            || lower.starts_with("x-dvc-audit-")
        {
            let d2 = Diagnostic::error(
                "config::webhook",
                format!("{name:?} is not a header the webhook may set"),
            );
            d.push(match ctx.spans.key(&path) {
                Some(span) => d2.at(ctx.file, span, "bad or reserved header name"),
                None => d2.in_file(ctx.file),
            });
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            ctx.err(
                d,
                &path,
                "webhook",
                format!("the value of header {name:?} is not a valid header value"),
                "not a header value",
            );
        }
    }
}

fn is_loopback_host(h: &str) -> bool {
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

fn agencies(c: &Config, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    if c.agencies.is_empty() {
        d.push(
            Diagnostic::error(
                "config::agency",
                "no [[agency]] is configured: nothing to audit",
            )
            .in_file(ctx.file),
        );
    }
    let mut first_seen: BTreeMap<&str, usize> = BTreeMap::new();
    let ids: HashSet<&str> = c.agencies.iter().map(|a| a.id.as_str()).collect();
    for (i, a) in c.agencies.iter().enumerate() {
        let p = |k: &str| format!("agency.{i}.{k}");
        if !is_slug(&a.id) {
            ctx.err(
                d,
                &p("id"),
                "agency",
                format!(
                    "agency id {:?} must be lowercase letters, digits and dashes",
                    a.id
                ),
                "bad id",
            );
        }
        if let Some(prev) = first_seen.insert(&a.id, i) {
            let mut diag = Diagnostic::error(
                "config::duplicate-id",
                format!("agency id {:?} is used twice", a.id),
            );
            diag = ctx.point(diag, &p("id"), "second use");
            if let Some(span) = ctx.spans.value(&format!("agency.{prev}.id")) {
                let (line, col) = ctx.file.line_col(span.start);
                diag = diag.with_help(format!("first used at {}:{line}:{col}", ctx.file.name));
            }
            d.push(diag);
        }
        if a.name.trim().is_empty() {
            ctx.err(
                d,
                &p("name"),
                "agency",
                "agency name is empty".into(),
                "empty",
            );
        }
        url_field(&a.portal, &p("portal"), ctx, d);
        for (j, h) in a.extra_hosts.iter().enumerate() {
            url_field(h, &format!("agency.{i}.extra_hosts.{j}"), ctx, d);
        }
        if !is_slug(&a.platform) {
            ctx.err(
                d,
                &p("platform"),
                "agency",
                format!("platform {:?} must be a profile id", a.platform),
                "not a profile id",
            );
        }
        if !a.jurisdiction.is_empty()
            && !c.inspectors.is_empty()
            && !c.inspectors.contains_key(&a.jurisdiction)
        {
            let known: Vec<&str> = c.inspectors.keys().map(String::as_str).collect();
            ctx.err(
                d,
                &p("jurisdiction"),
                "jurisdiction",
                format!(
                    "jurisdiction {:?} has no [inspectors] entry (known: {})",
                    a.jurisdiction,
                    known.join(", ")
                ),
                "unknown jurisdiction",
            );
        }
        addresses(&a.contacts, &p("contacts"), ctx, d);
        addresses(&a.inspectors, &p("inspectors"), ctx, d);
        if !a.successor.is_empty() && (a.successor == a.id || !ids.contains(a.successor.as_str())) {
            ctx.err(
                d,
                &p("successor"),
                "successor",
                format!(
                    "successor {:?} is not another configured agency id",
                    a.successor
                ),
                "unknown agency",
            );
        }
        for key in a.vars.keys() {
            if !is_slug(key) {
                ctx.err(
                    d,
                    &format!("agency.{i}.vars.{key}"),
                    "agency",
                    format!("variable name {key:?} must be lowercase letters, digits, - or _"),
                    "bad name",
                );
            }
        }
    }
}

fn url_field(value: &str, path: &str, ctx: &Ctx<'_>, d: &mut Diagnostics) {
    match url::Url::parse(value) {
        // Credentials never belong in a URL here: the portal URL is printed in every report
        // and email. The message names the user only, never the password.
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            let mut shown = u.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            ctx.err(
                d,
                path,
                "url-credentials",
                format!(
                    "{shown} carries credentials (user {:?}); credentials never belong in a URL here (it is printed in reports): remove them",
                    u.username()
                ),
                "credentials in the URL",
            )
        }
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {}
        Ok(u) if u.scheme() == "http" && u.host_str().is_some() => ctx.warn(
            d,
            path,
            "plain-http",
            format!("{value} is plain HTTP; the TLS checks will report it"),
            "plain HTTP",
        ),
        Ok(_) => ctx.err(
            d,
            path,
            "url",
            format!("{value:?} must be an http(s) URL with a host"),
            "not an http(s) URL",
        ),
        Err(e) => ctx.err(
            d,
            path,
            "url",
            format!("{value:?} is not a URL: {e}"),
            "not a URL",
        ),
    }
}
