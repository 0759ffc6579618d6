//! `findings.csv`: one row per finding (failing, waived, could-not-assess and resolved), with
//! a header row, UTF-8 with a byte-order mark (so spreadsheet programs pick UTF-8 for the
//! Vietnamese text), CRLF line ends.
//!
//! RFC 4180 quoting is written by hand (twenty lines, tested) rather than adding the `csv`
//! crate. Cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR at the
//! start) get a leading `'`, because portal text ends up in these cells (CSV injection).

use std::io::Write;

use super::ReportError;
use super::i18n::Lang;
use super::model::{ReportData, Severity};
use super::stream::{Row, with_rows};
use crate::store::reading::RowKind;

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

/// Every row of the report, in report order (agency; then failing, waived, could-not-assess,
/// resolved; within each, most severe first, rule, subject), handed to `each` one at a time.
/// A could-not-assess line that blocks several rules gives one row per rule.
pub fn for_each_row(
    data: &ReportData,
    each: &mut dyn FnMut(&[&str; 15]) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let lang = data.lang;
    let run = data.run.id.to_string();
    with_rows(data, |src| {
        for a in &data.agencies {
            let name = match lang {
                Lang::En if !a.facts.name_en.is_empty() => a.facts.name_en.as_str(),
                _ => a.facts.name.as_str(),
            };
            let id = a.facts.id.as_str();
            for (kind, outcome) in [
                (RowKind::Failing, "fail"),
                (RowKind::Waived, "waived"),
                (RowKind::Unassessed, "could_not_assess"),
                (RowKind::Resolved, "resolved"),
                (RowKind::Unverified, "unverified"),
            ] {
                src.each(a, kind, &mut |row| match row {
                    Row::Finding(f) => {
                        let r = &f.record;
                        let url = r.evidence.first().map(|e| e.url.as_str()).unwrap_or("");
                        each(&[
                            &run,
                            id,
                            name,
                            outcome,
                            f.state.as_str(),
                            f.severity.as_str(),
                            &r.rule_id,
                            &f.rule_title,
                            &r.scope,
                            &r.subject,
                            lang.pick(&r.message_vi, &r.message_en),
                            "",
                            &r.waiver,
                            url,
                            &r.fingerprint,
                        ])
                    }
                    Row::Unassessed(u) => {
                        let r = &u.record;
                        let url = r.evidence.first().map(|e| e.url.as_str()).unwrap_or("");
                        let reason = u.reason.map(|x| x.as_str()).unwrap_or(&r.reason);
                        let sev = Severity::parse(&r.severity);
                        let rules: Vec<&str> = if u.rules.is_empty() {
                            vec![r.rule_id.as_str()]
                        } else {
                            u.rules.iter().map(String::as_str).collect()
                        };
                        for rule in rules {
                            let title = if rule == r.rule_id {
                                u.rule_title.as_str()
                            } else {
                                rule
                            };
                            each(&[
                                &run,
                                id,
                                name,
                                outcome,
                                "",
                                sev.as_str(),
                                rule,
                                title,
                                &r.scope,
                                &r.subject,
                                lang.pick(&r.message_vi, &r.message_en),
                                reason,
                                &r.waiver,
                                url,
                                &r.fingerprint,
                            ])?;
                        }
                        Ok(())
                    }
                })?;
            }
        }
        Ok(())
    })
}

/// Stream the CSV document to `w`.
pub fn write(data: &ReportData, w: &mut dyn Write) -> Result<(), ReportError> {
    let io = |e: std::io::Error| ReportError::Json(serde_json::Error::io(e));
    let mut line = String::new();
    line.push('\u{feff}');
    push_row(&mut line, &HEADER);
    w.write_all(line.as_bytes()).map_err(io)?;
    for_each_row(data, &mut |cells| {
        line.clear();
        push_row(&mut line, cells);
        w.write_all(line.as_bytes()).map_err(io)
    })
}

/// The CSV document in memory.
pub fn render(data: &ReportData) -> Result<String, ReportError> {
    let mut out = Vec::new();
    write(data, &mut out)?;
    String::from_utf8(out).map_err(|e| ReportError::Template(e.to_string()))
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
