//! The short body of a message, which must stand on its own: greeting, the numbers of the
//! agencies it is about and their change since the last run, the top actions grouped by
//! remediation ("one fix clears N findings") with their legal basis, a reply-by date and the
//! inspectors' contact. The full report travels as attachments (see [`super::compose`]).
//!
//! The HTML body is email-safe: tables and inline styles only (no CSS grid, no variables, no
//! `<style>` block that clients strip, no images, no external resource). Text from portals is
//! cleaned ([`crate::report::view::clean`]) and escaped by handlebars, as in the reports.

use std::collections::BTreeMap;

use handlebars::Handlebars;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::plan::{Audience, PlannedMessage};
use crate::report::i18n::{Lang, label, local_time, vn_offset};
use crate::report::summary::{RankRow, first_screen};
use crate::report::view::clean;
use crate::report::{ReportData, ReportError, Severity};

const HTML_TEMPLATE: &str = include_str!("../../reports/templates/email_body.html.hbs");
const TEXT_TEMPLATE: &str = include_str!("../../reports/templates/email_body.txt.hbs");

/// Default days an agency has to answer (`email.reply_by_days`).
pub const DEFAULT_REPLY_BY_DAYS: u32 = 14;
/// At most this many actions in a body.
pub const MAX_ACTIONS: usize = 5;
/// At most this many agencies listed in a body (a national digest: the worst ones; every
/// agency is in the attachments).
pub const MAX_BODY_AGENCIES: usize = 25;

/// What the body says beside the report: configurable per deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodySettings {
    /// The reply-by date is the run's start (Vietnam date) plus this many days.
    pub reply_by_days: u32,
    /// The inspectors' contact line (name, phone, address); the `From:` address when empty.
    pub contact: String,
    /// Attach `report.json` too (off by default: inspectors read HTML, CSV and XLSX).
    pub attach_json: bool,
}

impl Default for BodySettings {
    fn default() -> Self {
        BodySettings {
            reply_by_days: DEFAULT_REPLY_BY_DAYS,
            contact: String::new(),
            attach_json: false,
        }
    }
}

/// Words of the bodies, `(key, vi, en)`.
const WORDS: &[(&str, &str, &str)] = &[
    ("dear", "Kính gửi", "Dear"),
    (
        "dear_inspectors",
        "Kính gửi Đoàn kiểm tra",
        "Dear inspectors",
    ),
    (
        "dear_lead",
        "Kính gửi Trưởng đoàn kiểm tra",
        "Dear inspection lead",
    ),
    (
        "intro",
        "Kết quả kiểm tra dịch vụ công trực tuyến",
        "Results of the online public service inspection",
    ),
    ("numbers", "Số liệu", "Numbers"),
    (
        "change",
        "Thay đổi so với lần trước",
        "Change since the last run",
    ),
    (
        "actions",
        "Việc cần làm trước (mỗi biện pháp xử lý nhiều vi phạm)",
        "Top actions (each fix clears several findings)",
    ),
    ("one_fix_clears", "một lần sửa xử lý", "one fix clears"),
    ("findings_word", "vi phạm", "findings"),
    ("rules_word", "quy tắc", "rules"),
    (
        "reply_by",
        "Đề nghị cơ quan phản hồi (kế hoạch khắc phục) trước ngày",
        "Please reply (remediation plan) by",
    ),
    ("contact", "Liên hệ Đoàn kiểm tra", "Inspectors' contact"),
    (
        "attached",
        "Đính kèm: báo cáo đầy đủ (HTML), danh sách vi phạm (CSV) và bảng tính (XLSX).",
        "Attached: the full report (HTML), the findings (CSV) and a workbook (XLSX).",
    ),
    (
        "attached_digest",
        "Đính kèm: bản tổng hợp (HTML: xếp hạng, thay đổi, xu hướng, bản đồ nhiệt) và bảng tính (XLSX) với mọi vi phạm của các cơ quan; mỗi cơ quan nhận báo cáo đầy đủ của mình.",
        "Attached: the summary (HTML: ranking, changes, trends, heat map) and a workbook (XLSX) with every finding of these agencies; each agency receives its own full report.",
    ),
    (
        "attached_too_large",
        "Đính kèm: bản tổng hợp (HTML). Danh sách vi phạm đầy đủ (XLSX, CSV, JSON) vượt quá dung lượng một thư: xem thư mục báo cáo của lần kiểm tra này.",
        "Attached: the summary (HTML). The complete findings (XLSX, CSV, JSON) are too large for one message: see this run's report directory.",
    ),
    (
        "more_agencies",
        "cơ quan khác — xem tệp đính kèm",
        "more agencies — see the attachments",
    ),
    (
        "no_actions",
        "Không có vi phạm cần khắc phục.",
        "Nothing to fix.",
    ),
    ("regards", "Trân trọng,", "Regards,"),
    ("services_read", "dịch vụ đã đọc", "services read"),
];

/// One word of the bodies (empty for an unknown key).
pub fn word(lang: Lang, key: &str) -> &'static str {
    w(lang, key)
}

fn w(lang: Lang, key: &str) -> &'static str {
    WORDS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, vi, en)| lang.pick(vi, en))
        .unwrap_or("")
}

/// One remediation and what applying it clears.
#[derive(Debug, Serialize)]
pub struct Action {
    /// 1-based position.
    pub n: usize,
    pub severity: &'static str,
    pub severity_label: String,
    pub remediation: String,
    /// Open findings it clears in the message's agencies.
    pub count: i64,
    pub rules: Vec<String>,
    pub titles: Vec<String>,
    pub legal_basis: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AgencyLine {
    pub name: String,
    pub not_assessed: bool,
    pub state_label: &'static str,
    pub findings: i64,
    pub new: i64,
    pub regressed: i64,
    pub resolved: i64,
    pub unverified: i64,
    /// Findings of services no longer listed (closed, not fixed).
    pub withdrawn: i64,
    pub services: String,
    pub vgca: String,
    pub vgca_delta: String,
}

#[derive(Debug, Serialize)]
pub struct Body {
    pub lang: &'static str,
    pub w: BTreeMap<&'static str, &'static str>,
    /// The report's labels (state names, severities).
    pub labels: BTreeMap<&'static str, &'static str>,
    pub title: String,
    pub greeting: String,
    pub run_line: String,
    pub agencies: Vec<AgencyLine>,
    pub agencies_more: usize,
    pub totals_line: String,
    pub change_line: String,
    pub actions: Vec<Action>,
    pub reply_by: String,
    pub contact: String,
    pub attached: &'static str,
    pub digest: bool,
    pub labels_remediation: String,
    pub labels_legal_basis: String,
}

/// `dd/mm/yyyy` (Vietnam date) of the run's start plus `days`; empty if the time is unreadable.
pub fn reply_by(started_at: &str, days: u32) -> String {
    OffsetDateTime::parse(started_at, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(vn_offset()) + time::Duration::days(i64::from(days)))
        .and_then(|t| t.format(format_description!("[day]/[month]/[year]")).ok())
        .unwrap_or_default()
}

/// Remediations of the part's open findings, grouped (same text = one fix), most findings
/// first among the most severe.
pub fn actions(part: &ReportData) -> Vec<Action> {
    let lang = part.lang;
    let mut by: BTreeMap<String, Action> = BTreeMap::new();
    for a in &part.agencies {
        for r in a.rules.iter().filter(|r| r.count > 0) {
            let key = if r.remediation.trim().is_empty() {
                format!("rule:{}", r.rule_id)
            } else {
                r.remediation.trim().to_string()
            };
            let e = by.entry(key).or_insert_with(|| Action {
                n: 0,
                severity: Severity::Info.as_str(),
                severity_label: String::new(),
                remediation: clean(&r.remediation),
                count: 0,
                rules: Vec::new(),
                titles: Vec::new(),
                legal_basis: Vec::new(),
            });
            e.count += r.count;
            if Severity::parse(e.severity) < r.severity || e.severity_label.is_empty() {
                e.severity = r.severity.as_str();
                e.severity_label = label(lang, &format!("sev_{}", r.severity.as_str())).into();
            }
            let id = clean(&r.rule_id);
            if !e.rules.contains(&id) {
                e.rules.push(id);
                if r.rule_title != r.rule_id {
                    e.titles.push(clean(&r.rule_title));
                }
            }
            for l in &r.legal_basis {
                let l = clean(l);
                if !e.legal_basis.contains(&l) {
                    e.legal_basis.push(l);
                }
            }
        }
    }
    let mut v: Vec<Action> = by.into_values().collect();
    v.sort_by(|a, b| {
        Severity::parse(b.severity)
            .cmp(&Severity::parse(a.severity))
            .then(b.count.cmp(&a.count))
            .then_with(|| a.rules.cmp(&b.rules))
    });
    v.truncate(MAX_ACTIONS);
    for (i, a) in v.iter_mut().enumerate() {
        a.n = i + 1;
    }
    v
}

fn agency_line(lang: Lang, part: &ReportData, r: &RankRow) -> AgencyLine {
    let c = part
        .agencies
        .iter()
        .find(|a| clean(&a.facts.id) == r.id)
        .map(|a| a.counts.clone())
        .unwrap_or_default();
    AgencyLine {
        name: r.name.clone(),
        not_assessed: r.state == "not_assessed",
        state_label: r.state_label,
        findings: r.findings,
        new: c.new,
        regressed: c.regressed,
        resolved: c.resolved,
        unverified: c.unverified,
        withdrawn: c.withdrawn,
        services: format!(
            "{}/{} {}",
            r.services_read,
            r.services_total,
            w(lang, "services_read")
        ),
        vgca: if r.vgca.is_empty() {
            label(lang, "no_data").into()
        } else {
            format!("{} ({})", r.vgca_pct, r.vgca)
        },
        vgca_delta: r.vgca_delta.clone(),
    }
}

/// The body's values for `part` (the message's agencies) and `msg`.
pub fn body(part: &ReportData, msg: &PlannedMessage, settings: &BodySettings, from: &str) -> Body {
    let lang = part.lang;
    let fs = first_screen(part);
    let digest = msg.agencies.len() > 1;
    let greeting = match msg.audience {
        Audience::Agency => format!(
            "{} {},",
            w(lang, "dear"),
            fs.ranking
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Audience::Inspectors => format!("{},", w(lang, "dear_inspectors")),
        Audience::Lead => format!("{},", w(lang, "dear_lead")),
    };
    let t = &part.totals;
    let contact = if settings.contact.trim().is_empty() {
        clean(from)
    } else {
        clean(&settings.contact)
    };
    let agencies: Vec<AgencyLine> = fs
        .ranking
        .iter()
        .take(MAX_BODY_AGENCIES)
        .map(|r| agency_line(lang, part, r))
        .collect();
    Body {
        lang: lang.as_str(),
        w: WORDS
            .iter()
            .map(|(k, vi, en)| (*k, lang.pick(vi, en)))
            .collect(),
        labels: crate::report::i18n::labels(lang),
        title: label(lang, "title").into(),
        greeting,
        run_line: format!(
            "{} — {} #{} ({}, {}).",
            w(lang, "intro"),
            label(lang, "run"),
            part.run.id,
            label(lang, part.run.mode.label_key()),
            local_time(lang, &part.run.started_at)
        ),
        agencies_more: part.agencies.len().saturating_sub(agencies.len()),
        agencies,
        totals_line: format!(
            "{} {}{} · {} {}/{} {}",
            label(lang, "findings"),
            t.violations,
            if t.info > 0 {
                format!(" · {} {}", label(lang, "sev_info"), t.info)
            } else {
                String::new()
            },
            label(lang, "services"),
            t.services_read,
            t.services,
            w(lang, "services_read"),
        ),
        change_line: format!(
            "{} {} · {} {} · {} {} · {} {}{}",
            label(lang, "new"),
            t.new,
            label(lang, "regressed"),
            t.regressed,
            label(lang, "state_resolved"),
            t.resolved,
            label(lang, "state_unverified"),
            t.unverified,
            // Said when there are any, as in the report's totals line.
            if t.withdrawn > 0 {
                format!(" · {} {}", label(lang, "state_withdrawn"), t.withdrawn)
            } else {
                String::new()
            }
        ),
        actions: actions(part),
        reply_by: reply_by(&part.run.started_at, settings.reply_by_days),
        contact,
        attached: w(
            lang,
            if digest {
                "attached_digest"
            } else {
                "attached"
            },
        ),
        digest,
        labels_remediation: format!("{}: ", label(lang, "remediation")),
        labels_legal_basis: format!("{}: ", label(lang, "legal_basis")),
    }
}

/// The two body templates, compiled once.
pub struct BodyRenderer {
    hb: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl BodyRenderer {
    pub fn new() -> Result<BodyRenderer, ReportError> {
        let t = |e: handlebars::TemplateError| ReportError::Template(e.to_string());
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_template_string("html", HTML_TEMPLATE)
            .map_err(t)?;
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        text.register_template_string("text", TEXT_TEMPLATE)
            .map_err(t)?;
        Ok(BodyRenderer { hb, text })
    }

    pub fn html(&self, body: &Body) -> Result<String, ReportError> {
        self.hb
            .render("html", body)
            .map_err(|e| ReportError::Template(e.to_string()))
    }

    pub fn text(&self, body: &Body) -> Result<String, ReportError> {
        self.text
            .render("text", body)
            .map_err(|e| ReportError::Template(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_by_is_a_vietnam_date() {
        // 20:05 UTC is already the next day in Vietnam.
        assert_eq!(reply_by("2026-11-27T20:05:00Z", 14), "12/12/2026");
        assert_eq!(reply_by("not a time", 14), "");
    }

    #[test]
    fn words_are_unique_and_translated() {
        let mut seen = std::collections::HashSet::new();
        for (k, vi, en) in WORDS {
            assert!(seen.insert(*k), "duplicate {k}");
            assert!(!vi.is_empty() && !en.is_empty(), "{k}");
        }
    }
}
