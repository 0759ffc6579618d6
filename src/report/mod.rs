//! Reports: what inspectors read.
//!
//! Data flows one way: [`gather`] (or the pure [`build`]) turns a finished run into
//! [`ReportData`]; renderers turn that into HTML, plain text, JSON, CSV and XLSX. Renderers
//! know nothing of the store; the store knows nothing of renderers.
//!
//! - labels come from one translation table ([`i18n::LABELS`]), Vietnamese by default;
//! - times are shown in Asia/Ho_Chi_Minh (UTC+07:00), `dd/mm/yyyy HH:MM` in Vietnamese;
//! - everything that came from a portal is untrusted: escaped by handlebars in HTML, cleaned
//!   of control characters everywhere, linked only when `http(s)` ([`view::safe_href`]);
//! - output is deterministic (every list sorted), so snapshots are stable.

mod build;
pub mod csv;
pub mod i18n;
pub mod inventory;
pub mod json;
mod model;
mod regen;
mod render;
pub mod retention;
pub mod sample;
pub mod stream;
pub mod summary;
pub mod survey;
pub mod svg;
pub mod view;
pub mod xlsx;

use std::path::{Path, PathBuf};

pub use build::{
    AgencyMeta, BuildError, BuildInput, DEFAULT_MAX_ROWS_PER_RULE, TREND_MAX, build, gather,
    gather_with,
};
pub use i18n::Lang;
pub use model::*;
pub use regen::{
    RegenError, configured_formats, metas_for, name_successors, regenerate, waiver_notes,
};
pub use render::Renderer;
pub use view::coverage_line;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("report template error: {0}")]
    Template(String),
    #[error("cannot encode the JSON report: {0}")]
    Json(serde_json::Error),
    #[error("cannot write the XLSX workbook: {0}")]
    Xlsx(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the run's rows: {0}")]
    Store(String),
    #[error("unknown report format {0:?} (known: html, text, json, csv, xlsx)")]
    UnknownFormat(String),
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Html,
    Text,
    Json,
    Csv,
    Xlsx,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Html,
        Format::Text,
        Format::Json,
        Format::Csv,
        Format::Xlsx,
    ];

    pub fn parse(s: &str) -> Result<Format, ReportError> {
        match s {
            "html" => Ok(Format::Html),
            "text" | "txt" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            other => Err(ReportError::UnknownFormat(other.to_string())),
        }
    }

    /// File name inside a run's report directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Html => "report.html",
            Format::Text => "report.txt",
            Format::Json => "report.json",
            Format::Csv => "findings.csv",
            Format::Xlsx => "report.xlsx",
        }
    }
}

/// Render one format to bytes.
pub fn render(
    renderer: &Renderer,
    data: &ReportData,
    format: Format,
) -> Result<Vec<u8>, ReportError> {
    Ok(match format {
        Format::Html => renderer.html(data)?.into_bytes(),
        Format::Text => renderer.text(data)?.into_bytes(),
        Format::Json => {
            let mut out = Vec::new();
            json::write(data, &mut out)?;
            out
        }
        Format::Csv => csv::render(data)?.into_bytes(),
        Format::Xlsx => xlsx::render(data)?,
    })
}

/// Write one format to `path`: the complete formats stream their rows (bounded memory).
fn write_one(
    renderer: &Renderer,
    data: &ReportData,
    format: Format,
    path: &Path,
) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    match format {
        Format::Xlsx => xlsx::save(data, path),
        Format::Html | Format::Text | Format::Json | Format::Csv => {
            let file = std::fs::File::create(path).map_err(io)?;
            let mut w = std::io::BufWriter::new(file);
            match format {
                Format::Html => renderer.html_to(data, &mut w)?,
                Format::Text => renderer.text_to(data, &mut w)?,
                Format::Json => json::write(data, &mut w)?,
                _ => csv::write(data, &mut w)?,
            }
            std::io::Write::flush(&mut w).map_err(io)
        }
    }
}

/// Write the given formats into `dir/run-<id>/`; returns the files written. `csv` writes two
/// files: `findings.csv` and the inventory `services.csv`.
/// Each file is written to a temporary name and renamed, so a reader never sees half a report.
pub fn write_all(
    dir: &Path,
    data: &ReportData,
    formats: &[Format],
) -> Result<Vec<PathBuf>, ReportError> {
    let renderer = Renderer::new()?;
    let out = dir.join(format!("run-{}", data.run.id));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    std::fs::create_dir_all(&out).map_err(io(&out))?;
    let mut written = Vec::new();
    for f in formats {
        let path = out.join(f.file_name());
        let tmp = out.join(format!(".{}.tmp", f.file_name()));
        // A failed write (disk full, a file where the directory should be) leaves no
        // temporary file behind.
        if let Err(e) = write_one(&renderer, data, *f, &tmp)
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(io(&path)))
        {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        written.push(path);
        // The inventory of every service goes beside findings.csv.
        if *f == Format::Csv {
            let path = out.join(inventory::CSV_FILE);
            let tmp = out.join(format!(".{}.tmp", inventory::CSV_FILE));
            let res = std::fs::File::create(&tmp)
                .map_err(io(&tmp))
                .and_then(|file| {
                    let mut w = std::io::BufWriter::new(file);
                    inventory::write_csv(data, &mut w)?;
                    std::io::Write::flush(&mut w).map_err(io(&tmp))
                })
                .and_then(|()| std::fs::rename(&tmp, &path).map_err(io(&path)));
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
