//! A planned message becomes a MIME message: Vietnamese subject and names encoded by lettre
//! (RFC 2047), a short body that stands alone (text + email-safe HTML, [`super::body`]), and
//! the message's part of the report attached as HTML, CSV and XLSX (JSON on request). The
//! `Message-ID` is derived from the planned id.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};

use super::NotifyError;
use super::body::{self, BodyRenderer, BodySettings};
use super::plan::{Audience, PlannedMessage};
use crate::report::i18n::{Lang, label};
use crate::report::{Renderer, ReportData, json, view::clean};

/// At most this many entries per list per agency in an email (bodies and attachments); the
/// full report stays in the report directory. Keeps a nation-sized digest within SMTP limits.
pub const EMAIL_LIST_CAP: usize = 200;

/// A workbook larger than this is not attached (a national digest): the body points at the
/// report directory instead.
pub const MAX_WORKBOOK_BYTES: usize = 10 * 1024 * 1024;

/// The subject: always starts with the Vietnamese mode tag (`[Kiểm tra định kỳ]`, ...) so mail
/// filters can rely on it, then a summary in the report's language.
pub fn subject(data: &ReportData, msg: &PlannedMessage) -> String {
    let lang = data.lang;
    let tag = label(Lang::Vi, data.run.mode.label_key());
    let t = &data.totals;
    // The body's words and numbers: "Mới" is new only, "Tái diễn" said when there are any.
    let mut counts = format!(
        "{} {} · {} {}",
        label(lang, "findings"),
        t.violations,
        label(lang, "new"),
        t.new,
    );
    if t.regressed > 0 {
        counts.push_str(&format!(" · {} {}", label(lang, "regressed"), t.regressed));
    }
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

/// Example rows per agency in the text part of a one-agency message (digests carry none: their
/// rows are in the attachments).
pub const TEXT_ROWS: usize = 20;

/// The text report part of a message: totals of the whole part, then each agency's rules with
/// remediation and legal basis (and a few example rows for a one-agency message); a digest
/// lists at most [`body::MAX_BODY_AGENCIES`] agencies, the worst first (the rest are in the
/// attachments).
fn text_part(part: &ReportData, digest: bool) -> ReportData {
    let mut t = part.capped(if digest { 0 } else { TEXT_ROWS });
    if t.agencies.len() > body::MAX_BODY_AGENCIES {
        let keep: Vec<String> = crate::report::summary::ranked(part)
            .iter()
            .take(body::MAX_BODY_AGENCIES)
            .map(|a| a.facts.id.clone())
            .collect();
        // Totals stay those of the whole part: one set of numbers.
        t.agencies.retain(|a| keep.contains(&a.facts.id));
    }
    t
}

/// Further attachments of a message. Hook for the inventory: `services.csv` of the part's
/// agencies joins here once the report module writes it (issue 18, deliverable 3).
fn extra_attachments(
    _part: &ReportData,
) -> Result<Vec<(String, ContentType, Vec<u8>)>, NotifyError> {
    Ok(Vec::new())
}

fn content_type(s: &str) -> Result<ContentType, NotifyError> {
    ContentType::parse(s).map_err(|e| NotifyError::Build(e.to_string()))
}

/// Build the message for one planned entry. `data` is the whole run's report; the message
/// carries only the agencies it is about:
///
/// - `multipart/alternative`: the short body ([`body`]) as text and as email-safe HTML; the
///   text part continues with the text report (totals, rules with remediation and legal basis);
/// - attachments: the HTML report (for a digest of several agencies, its summary: ranking,
///   changes, trends, heat map — each agency gets its full report in its own message), the
///   findings CSV (one-agency messages) and the XLSX workbook of those agencies;
///   `report.json` only when `email.attach_json` is set.
pub fn compose(
    renderer: &Renderer,
    data: &ReportData,
    msg: &PlannedMessage,
    from: &str,
    settings: &BodySettings,
) -> Result<Message, NotifyError> {
    let ids: Vec<&str> = msg.agencies.iter().map(String::as_str).collect();
    let part = data.only(&ids);
    let digest = msg.agencies.len() > 1;
    let capped = part.capped(EMAIL_LIST_CAP);
    // The workbook holds every finding: at national size it can outgrow a mailbox. Past the
    // bound it stays in the report directory and the body says so.
    let workbook = crate::report::xlsx::render(&part)?;
    let workbook = (workbook.len() <= MAX_WORKBOOK_BYTES).then_some(workbook);
    let bodies = BodyRenderer::new()?;
    let mut b = body::body(&part, msg, settings, from);
    if workbook.is_none() {
        b.attached = body::word(data.lang, "attached_too_large");
    }
    let mut text = bodies.text(&b)?;
    text.push_str("\n\n");
    text.push_str(&renderer.text(&text_part(&part, digest))?);
    let html_body = bodies.html(&b)?;
    let report_html = if digest {
        renderer.html_summary(&capped)?
    } else {
        renderer.html(&capped)?
    };
    let from = mailbox(from)?;
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(subject(&part, msg))
        .message_id(Some(format!("<{}@{}>", msg.id, domain_of(&from))))
        .date_now();
    for to in &msg.to {
        builder = builder.to(mailbox(to)?);
    }
    for cc in &msg.cc {
        builder = builder.cc(mailbox(cc)?);
    }
    let base = format!("dvc-audit-run{}", data.run.id);
    // A digest of several agencies carries the summary and the workbook (every finding, one
    // sheet per list, compressed) and no CSV: the same rows twice would double the message.
    let mut attachments = vec![(
        format!("{base}.html"),
        content_type("text/html; charset=utf-8")?,
        report_html.into_bytes(),
    )];
    if !digest {
        attachments.push((
            format!("{base}-findings.csv"),
            content_type("text/csv; charset=utf-8")?,
            crate::report::csv::render(&part)?.into_bytes(),
        ));
    }
    if let Some(xlsx) = workbook {
        attachments.push((
            format!("{base}.xlsx"),
            content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")?,
            xlsx,
        ));
    }
    if settings.attach_json {
        attachments.push((
            format!("{base}.json"),
            content_type("application/json")?,
            json::render(&capped)?.into_bytes(),
        ));
    }
    attachments.extend(extra_attachments(&part)?);
    let mut mixed =
        MultiPart::mixed().multipart(MultiPart::alternative_plain_html(text, html_body));
    for (name, ct, bytes) in attachments {
        mixed = mixed.singlepart(Attachment::new(name).body(bytes, ct));
    }
    builder
        .multipart(mixed)
        .map_err(|e| NotifyError::Build(e.to_string()))
}
