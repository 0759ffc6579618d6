//! `report.xlsx` for spreadsheet users: a `summary` sheet (one row per agency) and a
//! `findings` sheet (the CSV rows, every one, written in constant-memory mode). Written with `rust_xlsxwriter` (pure Rust). Cells are
//! written as strings or numbers, never as formulas, so portal text cannot run in Excel.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::ReportError;
use super::i18n::{Lang, label, local_time};
use super::model::ReportData;

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

fn summary(
    ws: &mut Worksheet,
    data: &ReportData,
    bold: &Format,
    pct: &Format,
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
                    ws.write_number_with_format(r, c, x, pct).map_err(err)?;
                }
                _ => {
                    ws.write_string(r, c, label(lang, "no_data")).map_err(err)?;
                }
            }
        }
        let c = &a.counts;
        let counts = [
            c.findings,
            c.new,
            c.regressed,
            c.resolved,
            c.could_not_assess,
            c.waived,
            a.services_read,
            c.unverified,
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
    ws.set_column_width(0, 18).map_err(err)?;
    ws.set_column_width(1, 40).map_err(err)?;
    Ok(())
}

/// Rows Excel can hold on one sheet (header included).
const EXCEL_MAX_ROWS: u32 = 1_048_576;

fn workbook(data: &ReportData) -> Result<Workbook, ReportError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_background_color("#E2E8F0");
    let pct = Format::new().set_num_format("0.0%");
    summary(wb.add_worksheet(), data, &bold, &pct)?;
    // Constant-memory mode: each row goes to a temporary file as soon as the next one starts,
    // so a national run's 200,000 rows cost one row of memory. Rows must come in order.
    let ws = wb.add_worksheet_with_constant_memory().map_err(err)?;
    ws.set_name("findings").map_err(err)?;
    for (c, w) in [
        (1u16, 14),
        (2, 30),
        (6, 10),
        (7, 40),
        (9, 30),
        (10, 60),
        (13, 40),
    ] {
        ws.set_column_width(c, w).map_err(err)?;
    }
    header(ws, &super::csv::HEADER, &bold)?;
    let mut r: u32 = 0;
    let run = data.run.id as f64;
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
