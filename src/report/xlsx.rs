//! `report.xlsx` for spreadsheet users, one sheet per table, each with a frozen header row,
//! an autofilter and set column widths; headers in the report's language (sheet names stay
//! the same in both languages, so formulas and scripts keep working):
//!
//! - `summary`: one row per agency (counts, shares) and the run;
//! - `survey`: the survey table ([`super::survey`]) with a total row;
//! - `inventory`: every service ([`super::inventory`], the columns of `services.csv`);
//! - `findings`: the rows of `findings.csv`, every one;
//! - `rules`: the rule pack (id, title, severity, legal basis, remediation);
//! - `trend`: per agency per run (`Store::trends`): run, date, VGCA share, services read,
//!   measured or not.
//!
//! The two long sheets (inventory, findings) are written in constant-memory mode. Written with
//! `rust_xlsxwriter` (pure Rust). Cells are strings or numbers, never formulas, so portal text
//! cannot run in Excel.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::ReportError;
use super::i18n::{Lang, label, local_time};
use super::model::{ReportData, RowsAt, RuleInfo, Severity};

fn err(e: XlsxError) -> ReportError {
    ReportError::Xlsx(e.to_string())
}

/// Excel's cell limit is 32,767 characters; longer text is cut (on a char boundary).
fn cell(s: &str) -> String {
    const MAX: usize = 32_000;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        s.chars().take(MAX).collect()
    }
}

fn header(ws: &mut Worksheet, cols: &[&str], bold: &Format) -> Result<(), ReportError> {
    for (i, c) in cols.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, *c, bold)
            .map_err(err)?;
    }
    ws.set_freeze_panes(1, 0).map_err(err)?;
    Ok(())
}

/// An autofilter over the header and `rows` data rows of `cols` columns.
fn filter(ws: &mut Worksheet, rows: u32, cols: usize) -> Result<(), ReportError> {
    let last = u16::try_from(cols.saturating_sub(1)).unwrap_or(0);
    ws.autofilter(0, 0, rows, last).map_err(err)?;
    Ok(())
}

/// Column widths, in characters.
fn widths(ws: &mut Worksheet, w: &[f64]) -> Result<(), ReportError> {
    for (c, w) in w.iter().enumerate() {
        ws.set_column_width(c as u16, *w).map_err(err)?;
    }
    Ok(())
}

/// Headers of the findings sheet in `lang` (the columns of `findings.csv`).
fn findings_headers(lang: Lang) -> [&'static str; 15] {
    match lang {
        Lang::Vi => [
            "Lần kiểm tra",
            "Mã cơ quan",
            "Cơ quan",
            "Kết quả",
            "Trạng thái",
            "Mức độ nghiêm trọng",
            "Mã quy tắc",
            "Quy tắc",
            "Phạm vi",
            "Đối tượng",
            "Nội dung",
            "Lý do",
            "Miễn trừ",
            "Bằng chứng (URL)",
            "Dấu vân tay",
        ],
        Lang::En => [
            "Run",
            "Agency id",
            "Agency",
            "Outcome",
            "State",
            "Severity",
            "Rule id",
            "Rule",
            "Scope",
            "Subject",
            "Message",
            "Reason",
            "Waiver",
            "Evidence URL",
            "Fingerprint",
        ],
    }
}

fn summary(
    ws: &mut Worksheet,
    data: &ReportData,
    bold: &Format,
    pct: &Pct,
) -> Result<(), ReportError> {
    let lang = data.lang;
    ws.set_name("summary").map_err(err)?;
    let cols = [
        "agency_id",
        label(lang, "agency"),
        label(lang, "services"),
        label(lang, "full_services"),
        "VGCA",
        label(lang, "vgca_share"),
        label(lang, "level_share"),
        label(lang, "findings"),
        label(lang, "new"),
        label(lang, "regressed"),
        label(lang, "state_resolved"),
        label(lang, "could_not_assess"),
        label(lang, "waived"),
        label(lang, "services_read"),
        label(lang, "state_unverified"),
        label(lang, "sev_info"),
        label(lang, "state_withdrawn"),
    ];
    header(ws, &cols, bold)?;
    for (i, a) in data.agencies.iter().enumerate() {
        let r = (i + 1) as u32;
        let name = match lang {
            Lang::En if !a.facts.name_en.is_empty() => &a.facts.name_en,
            _ => &a.facts.name,
        };
        ws.write_string(r, 0, cell(&a.facts.id)).map_err(err)?;
        ws.write_string(r, 1, cell(name)).map_err(err)?;
        ws.write_number(r, 2, a.services_total as f64)
            .map_err(err)?;
        ws.write_number(r, 3, a.full_total as f64).map_err(err)?;
        ws.write_number(r, 4, a.full_with_vgca as f64)
            .map_err(err)?;
        for (c, share) in [(5u16, a.shares.vgca), (6, a.shares.level_published)] {
            match share {
                Some(x) if x.is_finite() => {
                    ws.write_number_with_format(r, c, x, pct.of(x))
                        .map_err(err)?;
                }
                _ => {
                    ws.write_string(r, c, label(lang, "no_data")).map_err(err)?;
                }
            }
        }
        let c = &a.counts;
        // "Vi phạm" holds violations, as everywhere; info items have their own column.
        let counts = [
            c.violations,
            c.new,
            c.regressed,
            c.resolved,
            c.could_not_assess,
            c.waived,
            a.services_read,
            c.unverified,
            c.info,
            c.withdrawn,
        ];
        for (j, n) in counts.iter().enumerate() {
            ws.write_number(r, 7 + j as u16, *n as f64).map_err(err)?;
        }
    }
    let info_row = (data.agencies.len() + 2) as u32;
    ws.write_string_with_format(info_row, 0, label(lang, "run"), bold)
        .map_err(err)?;
    ws.write_number(info_row, 1, data.run.id as f64)
        .map_err(err)?;
    ws.write_string_with_format(info_row + 1, 0, label(lang, "mode"), bold)
        .map_err(err)?;
    ws.write_string(info_row + 1, 1, label(lang, data.run.mode.label_key()))
        .map_err(err)?;
    ws.write_string_with_format(info_row + 2, 0, label(lang, "started"), bold)
        .map_err(err)?;
    ws.write_string(
        info_row + 2,
        1,
        cell(&local_time(lang, &data.run.started_at)),
    )
    .map_err(err)?;
    widths(
        ws,
        &[
            18.0, 40.0, 10.0, 12.0, 8.0, 10.0, 10.0, 10.0, 8.0, 10.0, 10.0, 12.0, 10.0, 10.0, 12.0,
            10.0, 14.0,
        ],
    )?;
    filter(ws, data.agencies.len() as u32, cols.len())?;
    Ok(())
}

fn survey(ws: &mut Worksheet, data: &ReportData, bold: &Format) -> Result<(), ReportError> {
    use super::survey::{headers, providers_cell, tls_headers, tls_state_label, total};
    let lang = data.lang;
    ws.set_name("survey").map_err(err)?;
    let mut cols: Vec<&str> = headers(lang).to_vec();
    cols.extend(tls_headers(lang));
    header(ws, &cols, bold)?;
    let names: std::collections::BTreeMap<&str, &str> = data
        .agencies
        .iter()
        .map(|a| (a.facts.id.as_str(), super::survey::agency_name(lang, a)))
        .collect();
    let all = total(&data.survey);
    let red = Format::new().set_font_color("#9B1C1C").set_bold();
    let rows = data.survey.iter().map(|r| (r, false)).chain([(&all, true)]);
    for (i, (s, is_total)) in rows.enumerate() {
        let r = (i + 1) as u32;
        let (id, name) = if is_total {
            ("", lang.pick("Tổng", "Total"))
        } else {
            (
                s.agency_id.as_str(),
                names.get(s.agency_id.as_str()).copied().unwrap_or(""),
            )
        };
        ws.write_string(r, 0, cell(id)).map_err(err)?;
        if is_total {
            ws.write_string_with_format(r, 1, name, bold).map_err(err)?;
        } else if let Some(e) = s.listing_error {
            // Not assessed, never "0 services": said in the name cell, in red.
            let text = format!(
                "{name} — {}: {}",
                lang.pick("không đánh giá được", "not assessed"),
                super::i18n::reason_text(lang, e)
            );
            ws.write_string_with_format(r, 1, cell(&text), &red)
                .map_err(err)?;
        } else {
            ws.write_string(r, 1, cell(name)).map_err(err)?;
        }
        let nums = [
            s.services_listed,
            s.services_read,
            s.levels.full,
            s.levels.partial,
            s.levels.info,
            s.levels.unknown,
            s.vgca.full_per_service,
            s.vgca.full_site_wide,
            s.vgca.partial_per_service,
            s.vgca.partial_site_wide,
        ];
        for (j, n) in nums.iter().enumerate() {
            ws.write_number(r, 2 + j as u16, *n as f64).map_err(err)?;
        }
        ws.write_string(r, 12, cell(&providers_cell(&s.other_providers)))
            .map_err(err)?;
        ws.write_number(r, 13, s.national_link as f64)
            .map_err(err)?;
        ws.write_string(r, 14, tls_state_label(lang, s.tls.state))
            .map_err(err)?;
        let worst = s
            .tls
            .worst
            .map(|w| label(lang, severity_key(w)))
            .unwrap_or("");
        ws.write_string(r, 15, worst).map_err(err)?;
        ws.write_number(r, 16, s.tls.findings as f64).map_err(err)?;
        ws.write_number(r, 17, s.tls.hosts as f64).map_err(err)?;
        ws.write_number(r, 18, s.tls.hosts_unreachable as f64)
            .map_err(err)?;
    }
    let mut w = vec![18.0, 40.0];
    w.extend([12.0; 10]);
    w.extend([28.0, 12.0, 16.0, 14.0, 10.0, 10.0, 12.0]);
    widths(ws, &w)?;
    // The total row stays out of the filter range (sorting must not move it).
    filter(ws, data.survey.len() as u32, cols.len())?;
    Ok(())
}

fn severity_key(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "sev_critical",
        Severity::High => "sev_high",
        Severity::Medium => "sev_medium",
        Severity::Low => "sev_low",
        Severity::Info => "sev_info",
    }
}

/// The rules a report knows: the rule pack of a gathered report, plus any rule its findings
/// name (a report built from values has only those), sorted by id.
fn rules_of(data: &ReportData) -> Vec<RuleInfo> {
    let mut rules: std::collections::BTreeMap<String, RuleInfo> = match &data.rows {
        RowsAt::Database { rules, .. } => (**rules).clone(),
        RowsAt::InData => Default::default(),
    };
    for a in &data.agencies {
        for r in &a.rules {
            let e = rules.entry(r.rule_id.clone()).or_insert_with(|| RuleInfo {
                id: r.rule_id.clone(),
                legal_basis: r.legal_basis.clone(),
                ..RuleInfo::default()
            });
            if e.severity.is_empty() {
                e.severity = r.severity.as_str().to_string();
            }
            let (title, rem) = match data.lang {
                Lang::Vi => (&mut e.title_vi, &mut e.remediation_vi),
                Lang::En => (&mut e.title_en, &mut e.remediation_en),
            };
            if title.is_empty() && r.rule_title != r.rule_id {
                *title = r.rule_title.clone();
            }
            if rem.is_empty() {
                *rem = r.remediation.clone();
            }
        }
    }
    rules.into_values().collect()
}

fn rules_sheet(ws: &mut Worksheet, data: &ReportData, bold: &Format) -> Result<(), ReportError> {
    let lang = data.lang;
    ws.set_name("rules").map_err(err)?;
    let cols = match lang {
        Lang::Vi => [
            "Mã quy tắc",
            "Tên quy tắc",
            "Mức độ nghiêm trọng",
            "Căn cứ pháp lý",
            "Khắc phục",
        ],
        Lang::En => ["Rule id", "Title", "Severity", "Legal basis", "Remediation"],
    };
    header(ws, &cols, bold)?;
    let wrap = Format::new().set_text_wrap();
    let rules = rules_of(data);
    for (i, r) in rules.iter().enumerate() {
        let row = (i + 1) as u32;
        ws.write_string(row, 0, cell(&r.id)).map_err(err)?;
        let title = lang.pick(&r.title_vi, &r.title_en);
        ws.write_string(row, 1, cell(if title.is_empty() { &r.id } else { title }))
            .map_err(err)?;
        let sev = if r.severity.is_empty() {
            ""
        } else {
            label(lang, severity_key(Severity::parse(&r.severity)))
        };
        ws.write_string(row, 2, sev).map_err(err)?;
        ws.write_string_with_format(row, 3, cell(&r.legal_basis.join("\n")), &wrap)
            .map_err(err)?;
        ws.write_string_with_format(
            row,
            4,
            cell(lang.pick(&r.remediation_vi, &r.remediation_en)),
            &wrap,
        )
        .map_err(err)?;
    }
    widths(ws, &[12.0, 50.0, 14.0, 45.0, 70.0])?;
    filter(ws, rules.len() as u32, cols.len())?;
    Ok(())
}

fn trend_sheet(
    ws: &mut Worksheet,
    data: &ReportData,
    bold: &Format,
    pct: &Pct,
) -> Result<(), ReportError> {
    let lang = data.lang;
    ws.set_name("trend").map_err(err)?;
    let cols = match lang {
        Lang::Vi => [
            "Mã cơ quan",
            "Cơ quan",
            "Lần kiểm tra",
            "Ngày",
            "Hình thức",
            "Tỷ lệ VGCA (toàn trình)",
            "Toàn trình có VGCA",
            "Toàn trình",
            "Dịch vụ đã đọc",
            "Dịch vụ",
            "Vi phạm",
            "Không thể đánh giá",
            "Đã đo",
        ],
        Lang::En => [
            "Agency id",
            "Agency",
            "Run",
            "Date",
            "Mode",
            "VGCA share (full process)",
            "Full with VGCA",
            "Full process",
            "Services read",
            "Services",
            "Findings",
            "Could not assess",
            "Measured",
        ],
    };
    header(ws, &cols, bold)?;
    let mut r: u32 = 0;
    for a in &data.agencies {
        let name = super::survey::agency_name(lang, a);
        for p in &a.trend {
            r += 1;
            ws.write_string(r, 0, cell(&a.facts.id)).map_err(err)?;
            ws.write_string(r, 1, cell(name)).map_err(err)?;
            ws.write_number(r, 2, p.run_id as f64).map_err(err)?;
            ws.write_string(r, 3, cell(&local_time(lang, &p.started_at)))
                .map_err(err)?;
            let mode = super::model::Mode::parse(&p.mode)
                .map(|m| label(lang, m.label_key()))
                .unwrap_or(p.mode.as_str());
            ws.write_string(r, 4, cell(mode)).map_err(err)?;
            match p.signature_share() {
                Some(x) if x.is_finite() => {
                    ws.write_number_with_format(r, 5, x, pct.of(x))
                        .map_err(err)?;
                }
                _ if !p.measured => {
                    ws.write_string(r, 5, lang.pick("Không đo được", "Not measured"))
                        .map_err(err)?;
                }
                _ => {
                    ws.write_string(r, 5, label(lang, "no_data")).map_err(err)?;
                }
            }
            for (c, n) in [
                (6u16, p.full_with_vgca),
                (7, p.full_services),
                (8, p.services_read),
                (9, p.services),
                (10, p.fails),
                (11, p.could_not_assess),
            ] {
                ws.write_number(r, c, n as f64).map_err(err)?;
            }
            ws.write_string(
                r,
                12,
                if p.measured {
                    lang.pick("có", "yes")
                } else {
                    lang.pick("không", "no")
                },
            )
            .map_err(err)?;
        }
    }
    widths(
        ws,
        &[
            18.0, 40.0, 10.0, 18.0, 14.0, 14.0, 12.0, 12.0, 12.0, 10.0, 10.0, 12.0, 10.0,
        ],
    )?;
    filter(ws, r, cols.len())?;
    Ok(())
}

/// Rows Excel can hold on one sheet (header included).
const EXCEL_MAX_ROWS: u32 = 1_048_576;

/// Cell formats for a share: the cell holds the exact value, shown with one decimal like the
/// reports' bars, except where Excel's rounding to nearest would say more than is true: a
/// share just under 1 shows "99.9%" (never "100.0%" while a service is missing) and a share
/// just above 0 shows "<0.1%" (never "0.0%" while one service counts).
struct Pct {
    normal: Format,
    near_full: Format,
    tiny: Format,
}

impl Pct {
    fn new() -> Pct {
        Pct {
            normal: Format::new().set_num_format("0.0%"),
            near_full: Format::new().set_num_format("\"99.9%\""),
            tiny: Format::new().set_num_format("\"<0.1%\""),
        }
    }

    /// The format for share `x` (0..=1).
    fn of(&self, x: f64) -> &Format {
        if (0.9995..1.0).contains(&x) {
            &self.near_full
        } else if x > 0.0 && x < 0.0005 {
            &self.tiny
        } else {
            &self.normal
        }
    }
}

fn workbook(data: &ReportData) -> Result<Workbook, ReportError> {
    let lang = data.lang;
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_background_color("#E2E8F0");
    let pct = Pct::new();
    summary(wb.add_worksheet(), data, &bold, &pct)?;
    survey(wb.add_worksheet(), data, &bold)?;

    // Constant-memory mode: each row goes to a temporary file as soon as the next one starts,
    // so a national run's 126,000 services and 200,000 findings cost one row of memory. Rows
    // must come in order, and column widths before the first row.
    let ws = wb.add_worksheet_with_constant_memory().map_err(err)?;
    ws.set_name("inventory").map_err(err)?;
    widths(
        ws,
        &[
            12.0, 50.0, 14.0, 30.0, 40.0, 14.0, 18.0, 10.0, 10.0, 18.0, 10.0, 18.0, 12.0, 16.0, 8.0,
        ],
    )?;
    let inv_headers = super::inventory::headers(lang);
    header(ws, &inv_headers, &bold)?;
    let mut r: u32 = 0;
    let run = data.run.id as f64;
    super::inventory::for_each_service(data, |row| {
        r += 1;
        if r >= EXCEL_MAX_ROWS - 1 {
            if r == EXCEL_MAX_ROWS - 1 {
                ws.write_string(r, 0, "… (Excel row limit reached: see services.csv)")
                    .map_err(err)?;
            }
            return Ok(());
        }
        let mut cells = super::inventory::cells(row, data.run.id);
        // The level in words for readers; the filter still groups by it.
        cells[5] = super::inventory::level_words(lang, row.level).to_string();
        for (c, v) in cells.iter().enumerate() {
            if c == 14 {
                ws.write_number(r, 14, run).map_err(err)?;
            } else if !v.is_empty() {
                ws.write_string(r, c as u16, cell(&super::view::clean(v)))
                    .map_err(err)?;
            }
        }
        Ok(())
    })?;
    filter(ws, r.min(EXCEL_MAX_ROWS - 1), inv_headers.len())?;

    let ws = wb.add_worksheet_with_constant_memory().map_err(err)?;
    ws.set_name("findings").map_err(err)?;
    widths(
        ws,
        &[
            8.0, 14.0, 30.0, 14.0, 12.0, 12.0, 10.0, 40.0, 10.0, 30.0, 60.0, 14.0, 14.0, 40.0, 20.0,
        ],
    )?;
    let f_headers = findings_headers(lang);
    header(ws, &f_headers, &bold)?;
    let mut r: u32 = 0;
    super::csv::for_each_row(data, &mut |row| {
        r += 1;
        if r >= EXCEL_MAX_ROWS - 1 {
            if r == EXCEL_MAX_ROWS - 1 {
                ws.write_string(r, 0, "… (Excel row limit reached: see findings.csv)")
                    .map_err(err)?;
            }
            return Ok(());
        }
        for (c, v) in row.iter().enumerate() {
            if c == 0 {
                ws.write_number(r, 0, run).map_err(err)?;
            } else {
                ws.write_string(r, c as u16, cell(v)).map_err(err)?;
            }
        }
        Ok(())
    })?;
    filter(ws, r.min(EXCEL_MAX_ROWS - 1), f_headers.len())?;

    rules_sheet(wb.add_worksheet(), data, &bold)?;
    trend_sheet(wb.add_worksheet(), data, &bold, &pct)?;
    Ok(wb)
}

/// The workbook as bytes.
pub fn render(data: &ReportData) -> Result<Vec<u8>, ReportError> {
    workbook(data)?.save_to_buffer().map_err(err)
}

/// Write the workbook to `path` (streamed from the temporary row files).
pub fn save(data: &ReportData, path: &std::path::Path) -> Result<(), ReportError> {
    workbook(data)?.save(path).map_err(err)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use calamine::{DataType, Reader, Xlsx};

    use super::*;
    use crate::report::sample::sample;

    #[test]
    fn a_share_shows_100_or_0_only_when_it_is() {
        let pct = Pct::new();
        let shown = |x: f64| {
            let f = pct.of(x);
            if std::ptr::eq(f, &pct.near_full) {
                "99.9%"
            } else if std::ptr::eq(f, &pct.tiny) {
                "<0.1%"
            } else {
                "0.0%"
            }
        };
        assert_eq!(shown(1999.0 / 2000.0), "99.9%");
        assert_eq!(
            shown(1.0),
            "0.0%",
            "exactly 1: the plain format shows 100.0%"
        );
        assert_eq!(shown(1.0 / 4000.0), "<0.1%");
        assert_eq!(shown(0.0), "0.0%");
        assert_eq!(shown(0.5), "0.0%");
        assert_eq!(shown(0.9994), "0.0%", "Excel shows 99.9%");
    }

    /// Sheet name → its XML part, from the workbook's own relationships.
    fn sheets_xml(bytes: &[u8]) -> Vec<(String, String)> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        let mut read = |name: &str| {
            let mut s = String::new();
            zip.by_name(name)
                .expect(name)
                .read_to_string(&mut s)
                .expect("utf-8");
            s
        };
        let book = read("xl/workbook.xml");
        let names: Vec<String> = book
            .split("<sheet ")
            .skip(1)
            .map(|s| {
                let at = s.find("name=\"").expect("name") + 6;
                s[at..at + s[at..].find('"').expect("quote")].to_string()
            })
            .collect();
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, read(&format!("xl/worksheets/sheet{}.xml", i + 1))))
            .collect()
    }

    #[test]
    fn every_sheet_has_a_filter_a_frozen_header_and_widths() {
        let bytes = render(&sample(Lang::Vi)).expect("xlsx");
        let sheets = sheets_xml(&bytes);
        let names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "summary",
                "survey",
                "inventory",
                "findings",
                "rules",
                "trend"
            ]
        );
        for (name, xml) in &sheets {
            assert!(xml.contains("<autoFilter ref=\"A1:"), "{name}: autofilter");
            assert!(xml.contains("state=\"frozen\""), "{name}: frozen header");
            assert!(xml.contains("customWidth=\"1\""), "{name}: column widths");
        }
    }

    fn header_row(bytes: &[u8], sheet: &str) -> Vec<String> {
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("open");
        let range = book.worksheet_range(sheet).expect(sheet);
        range
            .rows()
            .next()
            .map(|r| {
                r.iter()
                    .map(|c| c.get_string().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn headers_follow_the_language_and_sheets_hold_the_report() {
        let vi = render(&sample(Lang::Vi)).expect("xlsx");
        let en = render(&sample(Lang::En)).expect("xlsx");
        assert_eq!(header_row(&vi, "inventory")[0], "Mã thủ tục");
        assert_eq!(header_row(&en, "inventory")[0], "Code");
        assert_eq!(header_row(&vi, "findings")[6], "Mã quy tắc");
        assert_eq!(header_row(&en, "findings")[6], "Rule id");
        assert_eq!(header_row(&vi, "rules")[3], "Căn cứ pháp lý");
        assert_eq!(header_row(&en, "trend")[5], "VGCA share (full process)");

        let data = sample(Lang::Vi);
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(vi)).expect("open");
        let inv = book.worksheet_range("inventory").expect("inventory");
        assert_eq!(
            inv.rows().count() - 1,
            data.services.len(),
            "one row per service"
        );
        let rules = book.worksheet_range("rules").expect("rules");
        let sig = rules
            .rows()
            .find(|r| r.first().and_then(|c| c.get_string()) == Some("SIG-001"))
            .expect("SIG-001 in the rules sheet");
        let text = |i: usize| sig.get(i).and_then(|c| c.get_string()).unwrap_or("");
        let sev = data
            .agencies
            .iter()
            .flat_map(|a| &a.rules)
            .find(|r| r.rule_id == "SIG-001")
            .map(|r| r.severity)
            .expect("SIG-001 fails in the sample");
        assert_eq!(
            text(2),
            label(Lang::Vi, severity_key(sev)),
            "severity in words"
        );
        assert!(text(3).contains("68/2024"), "legal basis: {}", text(3));
        assert!(!text(4).is_empty(), "remediation");
        let trend = book.worksheet_range("trend").expect("trend");
        let points: usize = data.agencies.iter().map(|a| a.trend.len()).sum();
        assert_eq!(
            trend.rows().count() - 1,
            points,
            "one row per agency and run"
        );
        let survey = book.worksheet_range("survey").expect("survey");
        assert_eq!(
            survey.rows().count() - 1,
            data.survey.len() + 1,
            "agencies and a total"
        );
    }
}
