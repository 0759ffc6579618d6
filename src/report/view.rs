//! The view model the HTML and text templates read: [`ReportData`] with labels resolved, times
//! in Vietnam time, charts drawn, findings grouped by severity and rule (exact counts per rule,
//! the example rows the report holds, and how many more are in findings.csv / report.json),
//! and portal text cleaned.
//!
//! Safety rules applied here, once, for every template:
//! - portal text loses control and bidirectional-override characters (they can reorder what a
//!   reader sees in a mail client) — HTML escaping is left to handlebars;
//! - a URL becomes a link (`href`) only when it parses as `http` or `https`; anything else
//!   (`javascript:`, `data:`, garbage) is shown as text only;
//! - SVG (`*_svg` fields, the only ones the HTML template inserts raw) is drawn from numbers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::i18n::{
    Lang, http_status_words, label, label_or, labels, local_time, reason_id_words, reason_short,
    short_date,
};
use super::model::*;
use super::svg;

/// Remove control characters (keeping newline and tab) and bidi overrides from untrusted text.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !(c.is_control() && *c != '\n' && *c != '\t'
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        })
        .collect()
}

/// The URL as a link target, only for `http(s)` URLs that parse; normalised by the URL parser.
pub fn safe_href(raw: &str) -> Option<String> {
    let u = url::Url::parse(raw.trim()).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.to_string())
}

/// Evidence of one page: one line per distinct URL, the status in words; what matched and the
/// raw excerpts go to the "technical details" fold.
#[derive(Debug, Serialize)]
pub struct EvidenceView {
    pub url: String,
    pub href: Option<String>,
    /// The page's HTTP status in words ("tải được (HTTP 200)"); empty when none was recorded
    /// (evidence of an aggregate, say). A 304 shows the stored page's status.
    pub status_text: String,
    pub fetched_at: String,
    /// Short content hash of the page read.
    pub content_hash: String,
    /// Signals that matched on the page (pattern or selector, raw excerpt), for the fold.
    pub signals: Vec<SignalView>,
    /// Other technical notes for the fold ("HTTP 304 ...").
    pub notes: Vec<String>,
    /// Something to put in the fold.
    pub has_details: bool,
}

/// One matching signal: the pattern, selector or JSON pointer, and what it matched.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SignalView {
    pub locator: String,
    pub excerpt: String,
}

#[derive(Debug, Serialize)]
pub struct FindingRow {
    pub rule_id: String,
    pub rule_title: String,
    pub severity: &'static str,
    pub severity_label: String,
    pub state: &'static str,
    pub state_label: String,
    pub subject: String,
    pub message: String,
    pub reason: String,
    pub waiver: String,
    pub remediation: String,
    pub legal_basis: Vec<String>,
    pub technical_basis: Vec<String>,
    pub evidence: Vec<EvidenceView>,
    /// Raw text for the technical fold (a library's error message, an unknown reason id).
    pub technical: Vec<String>,
    /// First seen (date), days open and times regressed; empty / 0 when the history does not
    /// know.
    pub first_seen: String,
    pub open_days: i64,
    pub times_regressed: i64,
    /// When the finding was last observed failing (its last failing record's latest evidence,
    /// local time); filled for findings this run carried without checking them (withdrawn),
    /// empty when no evidence was kept.
    pub last_seen_failing: String,
}

#[derive(Debug, Serialize)]
pub struct RuleGroup {
    pub rule_id: String,
    pub rule_title: String,
    pub severity: &'static str,
    pub severity_label: String,
    pub remediation: String,
    pub legal_basis: Vec<String>,
    pub technical_basis: Vec<String>,
    /// Findings of this rule in the whole run, and by state.
    pub count: i64,
    pub new: i64,
    pub persisting: i64,
    pub regressed: i64,
    /// Example rows (at most `report.max_rows_per_rule`).
    pub findings: Vec<FindingRow>,
    /// Findings of this rule not shown here (in findings.csv / report.json).
    pub more: i64,
}

#[derive(Debug, Serialize)]
pub struct SeverityGroup {
    pub severity: &'static str,
    pub label: String,
    pub count: i64,
    pub rules: Vec<RuleGroup>,
}

#[derive(Debug, Serialize)]
pub struct AgencyView {
    pub id: String,
    pub name: String,
    pub name_alt: String,
    pub portal: String,
    pub portal_href: Option<String>,
    pub successor: String,
    pub former_names: Vec<String>,
    pub unverified: bool,
    pub services_total: i64,
    /// Services read: the denominator of the shares.
    pub services_read: i64,
    /// One line: read / listed (announced), unread by reason, bounds, exclusions.
    pub coverage: String,
    pub coverage_incomplete: bool,
    pub full_total: i64,
    pub full_with_vgca: i64,
    pub level_published: i64,
    pub vgca_svg: String,
    pub level_svg: String,
    pub trend_svg: String,
    /// Violations (severity low or above): the number shown under "Vi phạm".
    pub findings_count: i64,
    /// Informational items ("Thông tin"), never counted as violations.
    pub info_count: i64,
    /// `assessed`, `partial` or `not_assessed` (no service could be read: never "clean").
    pub assessment: &'static str,
    pub not_assessed: bool,
    /// No open finding, but not fully assessed (services unread or earlier findings not
    /// re-checked): "no findings" must not read as clean.
    pub not_fully_assessed: bool,
    pub new_count: i64,
    pub regressed_count: i64,
    /// Violations grouped by severity (critical to low), then rule, with example rows.
    pub groups: Vec<SeverityGroup>,
    /// Informational items ("Thông tin"), by rule: recorded, not violations.
    pub info_groups: Vec<SeverityGroup>,
    pub could_not_assess: Vec<FindingRow>,
    pub could_not_assess_count: i64,
    pub could_not_assess_more: i64,
    pub resolved: Vec<FindingRow>,
    pub resolved_count: i64,
    pub resolved_more: i64,
    pub waived: Vec<FindingRow>,
    pub waived_count: i64,
    pub waived_more: i64,
    /// Earlier findings this run could not re-check.
    pub not_rechecked: Vec<FindingRow>,
    pub not_rechecked_count: i64,
    pub not_rechecked_more: i64,
    /// Earlier findings whose service left the listing this run read completely (withdrawn).
    pub withdrawn: Vec<FindingRow>,
    pub withdrawn_count: i64,
    pub withdrawn_more: i64,
}

#[derive(Debug, Serialize)]
pub struct RunView {
    pub id: i64,
    pub mode: &'static str,
    pub mode_label: String,
    pub started_at: String,
    pub ended_at: String,
    pub seed: String,
    pub ruleset_digest: String,
    pub config_digest: String,
    /// In full: an inspector passes it to `history verify --head`.
    pub head_digest: String,
    pub status: String,
    pub deployment: String,
}

#[derive(Debug, Serialize)]
pub struct WaiverNoteView {
    pub reference: String,
    pub kind: String,
    pub rule_id: String,
    pub subject: String,
    pub expires: String,
    pub note: String,
}

#[derive(Debug, Serialize)]
pub struct View {
    pub lang: &'static str,
    pub labels: BTreeMap<&'static str, &'static str>,
    pub run: RunView,
    pub totals: Totals,
    pub agencies: Vec<AgencyView>,
    pub waiver_notes: Vec<WaiverNoteView>,
}

fn short_hash(h: &str) -> String {
    h.chars().take(12).collect()
}

/// The rule title, empty when the rule pack has none (the id is shown anyway).
fn title(f: &FindingView) -> String {
    if f.rule_title == f.record.rule_id {
        String::new()
    } else {
        clean(&f.rule_title)
    }
}

fn row(lang: Lang, f: &FindingView) -> FindingRow {
    let r = &f.record;
    let age = f.age.as_ref();
    FindingRow {
        first_seen: age
            .map(|a| local_time(lang, &a.first_seen_at))
            .unwrap_or_default(),
        open_days: age.map_or(0, |a| a.open_days),
        times_regressed: age.map_or(0, |a| a.times_regressed),
        rule_id: clean(&r.rule_id),
        rule_title: title(f),
        severity: f.severity.as_str(),
        severity_label: label(lang, &format!("sev_{}", f.severity.as_str())).to_string(),
        state: f.state.as_str(),
        state_label: label(lang, &format!("state_{}", f.state.as_str())).to_string(),
        subject: clean(&r.subject),
        message: clean(lang.pick(&r.message_vi, &r.message_en)),
        reason: clean(&r.reason),
        waiver: clean(&r.waiver),
        remediation: clean(&f.remediation),
        legal_basis: f.legal_basis.iter().map(|s| clean(s)).collect(),
        technical_basis: f.technical_basis.iter().map(|s| clean(s)).collect(),
        evidence: evidence(lang, &r.evidence),
        technical: Vec::new(),
        last_seen_failing: String::new(),
    }
}

/// One [`EvidenceView`] per distinct URL, in first-seen order.
fn evidence(lang: Lang, rows: &[crate::store::EvidenceRecord]) -> Vec<EvidenceView> {
    let mut out: Vec<(EvidenceView, i64, bool)> = Vec::new();
    for e in rows {
        let url = clean(&e.url);
        let at = match out.iter().position(|(v, _, _)| v.url == url) {
            Some(i) => i,
            None => {
                out.push((
                    EvidenceView {
                        href: safe_href(&e.url),
                        url,
                        status_text: String::new(),
                        fetched_at: String::new(),
                        content_hash: String::new(),
                        signals: Vec::new(),
                        notes: Vec::new(),
                        has_details: false,
                    },
                    0,
                    false,
                ));
                out.len() - 1
            }
        };
        let Some((v, status, not_modified)) = out.get_mut(at) else {
            continue;
        };
        if e.status == 304 {
            *not_modified = true;
        } else if e.status != 0 && *status == 0 {
            *status = e.status;
        }
        if v.fetched_at.is_empty() && !e.fetched_at.is_empty() {
            v.fetched_at = local_time(lang, &e.fetched_at);
        }
        if v.content_hash.is_empty() && !e.content_hash.is_empty() {
            v.content_hash = short_hash(&clean(&e.content_hash));
        }
        // Evidence of a failed fetch, probe or listing carries the transport library's error
        // text as its excerpt: kept in report.json and the history, not shown to readers (the
        // finding's reason says it in words).
        let failed = e.locator == crate::rules::eval::ERROR_LOCATOR || e.locator == "listing";
        let signal = SignalView {
            locator: clean(&e.locator),
            excerpt: crate::facts::excerpt(&clean(&e.excerpt)),
        };
        let empty = failed || (signal.locator.is_empty() && signal.excerpt.is_empty());
        if !empty && !v.signals.contains(&signal) {
            v.signals.push(signal);
        }
    }
    out.into_iter()
        .map(|(mut v, status, not_modified)| {
            // A 304 confirms the stored copy, which was read with a success status.
            let shown = if not_modified && status == 0 {
                200
            } else {
                status
            };
            v.status_text = http_status_words(lang, shown);
            if not_modified {
                v.notes.push(label(lang, "not_modified").to_string());
            }
            v.has_details =
                !v.signals.is_empty() || !v.notes.is_empty() || !v.content_hash.is_empty();
            v
        })
        .collect()
}

fn unassessed_row(lang: Lang, u: &UnassessedView) -> FindingRow {
    let fv = FindingView {
        record: u.record.clone(),
        severity: Severity::parse(&u.record.severity),
        state: FindingState::New,
        rule_title: u.rule_title.clone(),
        remediation: String::new(),
        legal_basis: Vec::new(),
        technical_basis: Vec::new(),
        age: None,
    };
    let mut r = row(lang, &fv);
    if u.rules.len() > 1 {
        r.rule_id = clean(&u.rules.join(", "));
        r.rule_title = String::new();
    }
    // The reason in a sentence; what the library or the rule said stays in the fold.
    r.reason = match u.reason {
        Some(_) => clean(&u.explanation),
        None => label(lang, "reason_unknown").to_string(),
    };
    if u.reason.is_none() && !u.record.reason.is_empty() {
        r.technical.push(clean(&u.record.reason));
    }
    // A known reason: its id for technical readers. The library's own error text (English,
    // version-specific) is kept in report.json and the history's evidence, never in the
    // documents agencies and inspectors receive.
    match u.reason {
        Some(reason) => r.technical.push(reason.as_str().to_string()),
        None => {
            let m = clean(lang.pick(&u.record.message_vi, &u.record.message_en));
            if !m.is_empty() && !r.technical.contains(&m) {
                r.technical.push(m);
            }
        }
    }
    r.message = String::new();
    r.state = "";
    r.state_label = String::new();
    r
}

/// Severity groups of an agency's failing findings: the info group alone (`info`), or the
/// violations (every other severity).
fn groups(lang: Lang, a: &AgencyReport, info: bool) -> Vec<SeverityGroup> {
    // Example rows by (severity, rule); the summaries give the exact counts.
    let mut rows: BTreeMap<(Severity, &str), Vec<FindingRow>> = BTreeMap::new();
    for f in a
        .findings
        .iter()
        .filter(|f| (f.severity == Severity::Info) == info)
    {
        rows.entry((f.severity, f.record.rule_id.as_str()))
            .or_default()
            .push(row(lang, f));
    }
    let mut out = Vec::new();
    for sev in Severity::DESCENDING {
        if (sev == Severity::Info) != info {
            continue;
        }
        let mut rules: Vec<RuleGroup> = Vec::new();
        for r in a.rules.iter().filter(|r| r.severity == sev) {
            let findings = rows.remove(&(sev, r.rule_id.as_str())).unwrap_or_default();
            let title = if r.rule_title == r.rule_id {
                String::new()
            } else {
                clean(&r.rule_title)
            };
            rules.push(RuleGroup {
                rule_id: clean(&r.rule_id),
                rule_title: title,
                severity: sev.as_str(),
                severity_label: label(lang, &format!("sev_{}", sev.as_str())).to_string(),
                remediation: clean(&r.remediation),
                legal_basis: r.legal_basis.iter().map(|s| clean(s)).collect(),
                technical_basis: r.technical_basis.iter().map(|s| clean(s)).collect(),
                count: r.count,
                new: r.new,
                persisting: r.persisting,
                regressed: r.regressed,
                more: (r.count - findings.len() as i64).max(0),
                findings,
            });
        }
        let count = rules.iter().map(|r| r.count).sum();
        if count > 0 {
            out.push(SeverityGroup {
                severity: sev.as_str(),
                label: label(lang, &format!("sev_{}", sev.as_str())).to_string(),
                count,
                rules,
            });
        }
    }
    out
}

fn more(count: i64, shown: usize) -> i64 {
    (count - shown as i64).max(0)
}

/// The view of one agency; without `rows`, only what the summary table needs (no finding rows).
pub fn agency_view(lang: Lang, a: &AgencyReport, rows: bool) -> AgencyView {
    let no_data = label(lang, "no_data");
    // A run that measured nothing of the agency (an outage, a sample) is a gap, never 0.
    // Violations, as the findings column beside the line counts them.
    let fails: Vec<Option<i64>> = a
        .trend
        .iter()
        .map(|t| t.measured.then_some(t.violations))
        .collect();
    let first = a.trend.first().map(|t| short_date(lang, &t.started_at));
    let last = a.trend.last().map(|t| short_date(lang, &t.started_at));
    let what = lang.pick(
        "khoảng trống: lần chạy không đo được",
        "a gap: a run that measured nothing",
    );
    let trend_title = match (first, last) {
        (Some(f), Some(l)) => format!("{} ({f} – {l}; {what})", label(lang, "trend")),
        _ => format!("{} ({what})", label(lang, "trend")),
    };
    let (name, name_alt) = match lang {
        Lang::Vi => (&a.facts.name, &a.facts.name_en),
        Lang::En if a.facts.name_en.is_empty() => (&a.facts.name, &a.facts.name_en),
        Lang::En => (&a.facts.name_en, &a.facts.name),
    };
    AgencyView {
        id: clean(&a.facts.id),
        name: clean(name),
        name_alt: clean(name_alt),
        portal: clean(&a.facts.portal),
        portal_href: safe_href(&a.facts.portal),
        successor: clean(if a.successor_name.is_empty() {
            &a.successor
        } else {
            &a.successor_name
        }),
        former_names: a.former_names.iter().map(|s| clean(s)).collect(),
        unverified: a.unverified,
        services_total: a.services_total,
        services_read: a.services_read,
        coverage: coverage_line(lang, &a.coverage),
        coverage_incomplete: !a.coverage.complete(),
        full_total: a.full_total,
        full_with_vgca: a.full_with_vgca,
        level_published: a.level_published,
        vgca_svg: svg::share_bar(a.shares.vgca, label(lang, "vgca_share"), no_data),
        level_svg: svg::share_bar(
            a.shares.level_published,
            label(lang, "level_share"),
            no_data,
        ),
        trend_svg: svg::sparkline(&fails, &trend_title),
        findings_count: a.counts.violations,
        info_count: a.counts.info,
        assessment: a.assessment.as_str(),
        not_assessed: a.assessment == Assessment::NotAssessed,
        not_fully_assessed: super::summary::partially_assessed(a),
        new_count: a.counts.new,
        regressed_count: a.counts.regressed,
        groups: if rows {
            groups(lang, a, false)
        } else {
            Vec::new()
        },
        info_groups: if rows {
            groups(lang, a, true)
        } else {
            Vec::new()
        },
        could_not_assess: if rows {
            a.could_not_assess
                .iter()
                .map(|u| unassessed_row(lang, u))
                .collect()
        } else {
            Vec::new()
        },
        could_not_assess_count: a.counts.could_not_assess,
        could_not_assess_more: more(a.counts.could_not_assess, a.could_not_assess.len()),
        resolved: if rows {
            a.resolved.iter().map(|f| row(lang, f)).collect()
        } else {
            Vec::new()
        },
        resolved_count: a.counts.resolved,
        resolved_more: more(a.counts.resolved, a.resolved.len()),
        waived: if rows {
            a.waived.iter().map(|f| row(lang, f)).collect()
        } else {
            Vec::new()
        },
        waived_count: a.counts.waived,
        waived_more: more(a.counts.waived, a.waived.len()),
        not_rechecked: if rows {
            a.unverified_findings
                .iter()
                .map(|f| not_rechecked_row(lang, f))
                .collect()
        } else {
            Vec::new()
        },
        not_rechecked_count: a.counts.unverified,
        not_rechecked_more: more(a.counts.unverified, a.unverified_findings.len()),
        withdrawn: if rows {
            a.withdrawn_findings
                .iter()
                .map(|f| withdrawn_row(lang, f))
                .collect()
        } else {
            Vec::new()
        },
        withdrawn_count: a.counts.withdrawn,
        withdrawn_more: more(a.counts.withdrawn, a.withdrawn_findings.len()),
    }
}

/// A finding whose service left a completely read listing: its last failing record, with
/// when it was last seen failing (the latest time its evidence was fetched).
fn withdrawn_row(lang: Lang, f: &FindingView) -> FindingRow {
    let mut r = row(lang, f);
    r.last_seen_failing = f
        .record
        .evidence
        .iter()
        .map(|e| e.fetched_at.as_str())
        .filter(|t| !t.is_empty())
        .max()
        .map(|t| clean(&local_time(lang, t)))
        .unwrap_or_default();
    r
}

/// A finding this run could not re-check: its last failing record, `reason` in words.
fn not_rechecked_row(lang: Lang, f: &FindingView) -> FindingRow {
    let mut r = row(lang, f);
    r.reason = super::build::reason_words(lang, &f.record.reason);
    if super::build::reason_is_raw(&f.record.reason) {
        r.technical.push(clean(&f.record.reason));
    }
    r
}

/// The coverage of one agency in one line, every number with what it counts, e.g.
/// "55/61 dịch vụ đã đọc (cổng công bố 60) · không đọc được: http_status 5, timeout 1".
pub fn coverage_line(lang: Lang, c: &crate::facts::Coverage) -> String {
    let mut parts = vec![format!(
        "{}/{} {}",
        c.read,
        c.listed,
        label(lang, "services_read")
    )];
    if let Some(n) = c.announced {
        parts[0].push_str(&format!(" ({} {n})", label(lang, "announced")));
    }
    let list = |m: &std::collections::BTreeMap<String, i64>| {
        m.iter()
            .map(|(k, n)| format!("{} {n}", clean(&reason_id_words(lang, k))))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !c.unread.is_empty() {
        parts.push(format!("{}: {}", label(lang, "unread"), list(&c.unread)));
    }
    if !c.truncated.is_empty() {
        let t = c
            .truncated
            .iter()
            .map(|t| {
                if t.dropped > 0 {
                    format!("{} ({})", clean(&t.bound), t.dropped)
                } else {
                    clean(&t.bound)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        parts.push(format!("{}: {t}", label(lang, "truncated")));
    }
    if !c.excluded.is_empty() {
        parts.push(format!(
            "{}: {}",
            label(lang, "excluded"),
            list(&c.excluded)
        ));
    }
    if let Some(e) = c.listing_error {
        parts.push(format!(
            "{}: {}",
            label(lang, "listing_error"),
            reason_short(lang, e)
        ));
    }
    parts.join(" · ")
}

/// Build the template view of a report (every agency with its rows).
pub fn view(data: &ReportData) -> View {
    view_with(data, true)
}

/// The view for the head and end of a report: agencies without their finding rows.
pub fn head_view(data: &ReportData) -> View {
    view_with(data, false)
}

fn view_with(data: &ReportData, rows: bool) -> View {
    let lang = data.lang;
    let run = &data.run;
    View {
        lang: lang.as_str(),
        labels: labels(lang),
        run: RunView {
            id: run.id,
            mode: run.mode.as_str(),
            mode_label: label(lang, run.mode.label_key()).to_string(),
            started_at: local_time(lang, &run.started_at),
            ended_at: run
                .ended_at
                .as_deref()
                .map(|t| local_time(lang, t))
                .unwrap_or_default(),
            seed: run.seed.map(|s| s.to_string()).unwrap_or_default(),
            ruleset_digest: short_hash(&clean(&run.ruleset_digest)),
            config_digest: short_hash(&clean(&run.config_digest)),
            head_digest: clean(&run.head_digest),
            status: clean(label_or(lang, "status", &run.status)),
            deployment: clean(&run.deployment),
        },
        totals: data.totals.clone(),
        agencies: data
            .agencies
            .iter()
            .map(|a| agency_view(lang, a, rows))
            .collect(),
        waiver_notes: data
            .waiver_notes
            .iter()
            .map(|w| WaiverNoteView {
                reference: clean(&w.reference),
                kind: clean(label_or(lang, "waiver", &w.kind)),
                rule_id: clean(&w.rule_id),
                subject: clean(&w.subject),
                expires: local_time(lang, &w.expires),
                note: clean(&w.note),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_become_links() {
        assert_eq!(
            safe_href("https://dvc.example.gov.vn/a?b=1").as_deref(),
            Some("https://dvc.example.gov.vn/a?b=1")
        );
        assert!(safe_href("javascript:alert(1)").is_none());
        assert!(safe_href(" JavaScript:alert(1)").is_none());
        assert!(safe_href("data:text/html,<script>").is_none());
        assert!(safe_href("/relative").is_none());
        assert!(safe_href("vbscript:x").is_none());
    }

    #[test]
    fn clean_drops_controls_and_bidi_overrides() {
        assert_eq!(clean("a\u{202e}b\u{0007}c\nd"), "abc\nd");
    }
}
