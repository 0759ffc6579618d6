//! `report.json`: [`ReportData`] serialised as is. The schema is documented in
//! `docs/report-json.md` and versioned by `schema_version`.

use super::ReportError;
use super::model::ReportData;

/// Pretty-printed JSON with a trailing newline.
pub fn render(data: &ReportData) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(data).map_err(ReportError::Json)?;
    s.push('\n');
    Ok(s)
}
