//! `findings.csv`: one row per finding (failing, waived, could-not-assess, resolved, unverified
//! and withdrawn: outcome `withdrawn`, "no longer listed"), with
//! a header row, UTF-8 with a byte-order mark (so spreadsheet programs pick UTF-8 for the
//! Vietnamese text), CRLF line ends.
//!
//! Written with the `csv` crate (RFC 4180 quoting). Cells that a spreadsheet would run as a
//! formula (`=`, `+`, `-`, `@`, tab, CR at the start) get a leading `'` first
//! ([`neutralise`]), because portal text ends up in these cells (CSV injection). The
//! inventory's `services.csv` is written the same way ([`Csv`]).

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

/// A cell a spreadsheet would run as a formula, made inert with a leading `'`.
pub fn neutralise(raw: &str) -> std::borrow::Cow<'_, str> {
    match raw.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{raw}").into(),
        _ => raw.into(),
    }
}

/// A CSV document being written: BOM, header, then rows; CRLF, RFC 4180 quoting where needed,
/// formula triggers neutralised.
pub struct Csv<W: Write> {
    w: csv::Writer<W>,
}

fn csv_err(e: csv::Error) -> ReportError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => ReportError::Json(serde_json::Error::io(e)),
        other => ReportError::Template(format!("cannot write CSV: {other:?}")),
    }
}

impl<W: Write> Csv<W> {
    /// Start a document with its header row.
    pub fn new(mut w: W, header: &[&str]) -> Result<Csv<W>, ReportError> {
        w.write_all("\u{feff}".as_bytes())
            .map_err(|e| ReportError::Json(serde_json::Error::io(e)))?;
        let w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(w);
        let mut doc = Csv { w };
        doc.row(header.iter().copied())?;
        Ok(doc)
    }

    /// One row.
    pub fn row<'c>(&mut self, cells: impl IntoIterator<Item = &'c str>) -> Result<(), ReportError> {
        self.w
            .write_record(cells.into_iter().map(|c| neutralise(c).into_owned()))
            .map_err(csv_err)
    }

    /// Flush what the writer buffered.
    pub fn finish(mut self) -> Result<(), ReportError> {
        self.w
            .flush()
            .map_err(|e| ReportError::Json(serde_json::Error::io(e)))
    }
}

/// One field as it appears in a row of the file (neutralised, quoted when needed; an empty
/// cell stays empty).
pub fn field(raw: &str) -> String {
    if raw.is_empty() {
        return String::new();
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let _ = w.write_record([neutralise(raw).as_ref()]);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .trim_end_matches("\r\n")
        .to_string()
}

/// Every row of the report, in report order (agency; then failing, waived, could-not-assess,
/// resolved, unverified, withdrawn; within each, most severe first, rule, subject), handed to `each` one at a time.
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
                (RowKind::Withdrawn, "withdrawn"),
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
                                // The reason in a sentence: a library's own error text stays
                                // in report.json and the history, not in a sheet agencies read.
                                if u.reason.is_some() {
                                    u.explanation.as_str()
                                } else {
                                    lang.pick(&r.message_vi, &r.message_en)
                                },
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
    let mut doc = Csv::new(w, &HEADER)?;
    for_each_row(data, &mut |cells| doc.row(cells.iter().copied()))?;
    doc.finish()
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

    #[test]
    fn a_document_reads_back_cell_for_cell() {
        let mut out = Vec::new();
        let mut doc = Csv::new(&mut out, &["a", "b", "c"]).expect("header");
        doc.row(["two\r\nlines, \"quoted\"", "", "=1+1"])
            .expect("row");
        doc.finish().expect("flush");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with("\u{feff}a,b,c\r\n"), "{text:?}");
        assert!(text.ends_with("\r\n"));
        let mut r = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let rows: Vec<Vec<String>> = r
            .records()
            .map(|r| r.expect("record").iter().map(String::from).collect())
            .collect();
        assert_eq!(
            rows,
            [["two\r\nlines, \"quoted\"", "", "'=1+1"].map(String::from)]
        );
    }
}
