//! A planned message becomes a MIME message: Vietnamese subject and names encoded by lettre
//! (RFC 2047), a text body with the HTML report as its alternative, and the message's part of
//! the report attached as HTML and JSON. The `Message-ID` is derived from the planned id.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};

use super::NotifyError;
use super::plan::{Audience, PlannedMessage};
use crate::report::i18n::{Lang, label};
use crate::report::{Renderer, ReportData, json, view::clean};

/// At most this many entries per list per agency in an email (bodies and attachments); the
/// full report stays in the report directory. Keeps a nation-sized digest within SMTP limits.
pub const EMAIL_LIST_CAP: usize = 200;

/// The subject: always starts with the Vietnamese mode tag (`[Kiểm tra định kỳ]`, ...) so mail
/// filters can rely on it, then a summary in the report's language.
pub fn subject(data: &ReportData, msg: &PlannedMessage) -> String {
    let lang = data.lang;
    let tag = label(Lang::Vi, data.run.mode.label_key());
    let t = &data.totals;
    let mut counts = format!(
        "{} {} · {} {}",
        label(lang, "findings"),
        t.violations,
        label(lang, "new"),
        t.new + t.regressed,
    );
    // What was not read is said up front: a reader must not take a partial look for a
    // clean bill.
    if t.agencies_incomplete > 0 {
        counts.push_str(&format!(
            " · {} {}/{} ({} {})",
            label(lang, "coverage"),
            t.services_read,
            t.services,
            t.agencies_incomplete,
            label(lang, "coverage_incomplete").to_lowercase(),
        ));
    }
    if t.unverified > 0 {
        counts.push_str(&format!(
            " · {} {}",
            label(lang, "state_unverified"),
            t.unverified
        ));
    }
    counts.push_str(&format!(" · {} #{}", label(lang, "run"), data.run.id));
    let who = match msg.audience {
        Audience::Lead => label(lang, "digest").to_string(),
        _ => {
            let names: Vec<String> = data
                .agencies
                .iter()
                .map(|a| clean(lang.pick(&a.facts.name, &a.facts.name_en)))
                .collect();
            let mut s = names.join(", ");
            if s.chars().count() > 120 {
                s = s.chars().take(119).collect::<String>() + "…";
            }
            s
        }
    };
    // Header injection is impossible through lettre's encoder, but keep the line tidy anyway.
    format!("[{tag}] {who}: {counts}").replace(['\r', '\n'], " ")
}

fn mailbox(addr: &str) -> Result<Mailbox, NotifyError> {
    addr.parse::<Mailbox>()
        .map_err(|e| NotifyError::Address(addr.to_string(), e.to_string()))
}

fn domain_of(from: &Mailbox) -> String {
    from.email.domain().to_string()
}

/// Build the message for one planned entry. `data` is the whole run's report; the message
/// carries only the agencies it is about.
pub fn compose(
    renderer: &Renderer,
    data: &ReportData,
    msg: &PlannedMessage,
    from: &str,
) -> Result<Message, NotifyError> {
    let ids: Vec<&str> = msg.agencies.iter().map(String::as_str).collect();
    let part = data.only(&ids).capped(EMAIL_LIST_CAP);
    let html = renderer.html(&part)?;
    let text = renderer.text(&part)?;
    let json = json::render(&part)?;
    let from = mailbox(from)?;
    let mut b = Message::builder()
        .from(from.clone())
        .subject(subject(&part, msg))
        .message_id(Some(format!("<{}@{}>", msg.id, domain_of(&from))))
        .date_now();
    for to in &msg.to {
        b = b.to(mailbox(to)?);
    }
    for cc in &msg.cc {
        b = b.cc(mailbox(cc)?);
    }
    let base = format!("dvc-audit-run{}", data.run.id);
    let html_type = ContentType::parse("text/html; charset=utf-8")
        .map_err(|e| NotifyError::Build(e.to_string()))?;
    let json_type =
        ContentType::parse("application/json").map_err(|e| NotifyError::Build(e.to_string()))?;
    let body = MultiPart::mixed()
        .multipart(MultiPart::alternative_plain_html(text, html.clone()))
        .singlepart(Attachment::new(format!("{base}.html")).body(html.into_bytes(), html_type))
        .singlepart(Attachment::new(format!("{base}.json")).body(json.into_bytes(), json_type));
    b.multipart(body)
        .map_err(|e| NotifyError::Build(e.to_string()))
}
