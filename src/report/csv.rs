//! `findings.csv`: one row per finding (failing, waived, could-not-assess and resolved), with
//! a header row, UTF-8 with a byte-order mark (so spreadsheet programs pick UTF-8 for the
//! Vietnamese text), CRLF line ends.
//!
//! RFC 4180 quoting is written by hand (twenty lines, tested) rather than adding the `csv`
//! crate. Cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR at the
//! start) get a leading `'`, because portal text ends up in these cells (CSV injection).

use super::i18n::Lang;
use super::model::{FindingView, ReportData};

pub const HEADER: [&str; 15] = [
    "run_id",
    "agency_id",
    "agency_name",
    "outcome",
    "state",
    "severity",
    "rule_id",
    "rule_title",
    "scope",
    "subject",
    "message",
    "reason",
    "waiver",
    "evidence_url",
    "fingerprint",
];

/// Quote one field per RFC 4180 (quotes around any field with `"`, `,`, CR or LF; quotes
/// doubled), after neutralising formula triggers.
pub fn field(raw: &str) -> String {
    let neutral = match raw.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{raw}"),
        _ => raw.to_string(),
    };
    if neutral.contains(['"', ',', '\r', '\n']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

fn push_row(out: &mut String, cells: &[&str]) {
    let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

/// The rows, in report order (agency, then severity, rule, subject).
pub fn rows(data: &ReportData) -> Vec<[String; 15]> {
    let lang = data.lang;
    let mut out = Vec::new();
    let mk =
        |agency: &str, name: &str, outcome: &str, state: &str, f: &FindingView, reason: &str| {
            let r = &f.record;
            [
                data.run.id.to_string(),
                agency.to_string(),
                name.to_string(),
                outcome.to_string(),
                state.to_string(),
                f.severity.as_str().to_string(),
                r.rule_id.clone(),
                f.rule_title.clone(),
                r.scope.clone(),
                r.subject.clone(),
                lang.pick(&r.message_vi, &r.message_en).to_string(),
                reason.to_string(),
                r.waiver.clone(),
                r.evidence
                    .first()
                    .map(|e| e.url.clone())
                    .unwrap_or_default(),
                r.fingerprint.clone(),
            ]
        };
    for a in &data.agencies {
        let name = match lang {
            Lang::En if !a.facts.name_en.is_empty() => &a.facts.name_en,
            _ => &a.facts.name,
        };
        let id = a.facts.id.as_str();
        for f in &a.findings {
            out.push(mk(id, name, "fail", f.state.as_str(), f, ""));
        }
        for f in &a.waived {
            out.push(mk(id, name, "waived", f.state.as_str(), f, ""));
        }
        for u in &a.could_not_assess {
            let fv = FindingView {
                record: u.record.clone(),
                severity: super::model::Severity::parse(&u.record.severity),
                state: super::model::FindingState::New,
                rule_title: u.rule_title.clone(),
                remediation: String::new(),
                legal_basis: Vec::new(),
            };
            let reason = u.reason.map(|r| r.as_str()).unwrap_or(&u.record.reason);
            out.push(mk(id, name, "could_not_assess", "", &fv, reason));
        }
        for f in &a.resolved {
            out.push(mk(id, name, "resolved", "resolved", f, ""));
        }
    }
    out
}

/// The CSV document.
pub fn render(data: &ReportData) -> String {
    let mut out = String::from("\u{feff}");
    push_row(&mut out, &HEADER);
    for row in rows(data) {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        push_row(&mut out, &cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_rfc4180() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(field(""), "");
        assert_eq!(field("Thủ tục cấp đổi"), "Thủ tục cấp đổi");
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "'+1");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("-2"), "'-2");
    }
}
