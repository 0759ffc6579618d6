//! The inventory of every service of a run (issue 18), not only those with findings:
//! `services.csv` beside `findings.csv`, the XLSX `inventory` sheet and the `services` array of
//! `report.json`, all from the same rows in the same order (agency id, then service key).
//!
//! A gathered report streams the rows from the history database, one agency at a time through
//! [`crate::store::Store::each_service`] (one row in memory: a national run has ~126,000
//! services); a report built from values lists them in [`ReportData::services`].
//!
//! A service whose page was not read has `could_not_assess` set to the reason, and the facts
//! only its page could show (signature, national link, site-wide signal) are unknown: `null` in
//! JSON, empty cells in CSV and XLSX — never `false`.

use std::io::Write;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ReportError;
use super::i18n::Lang;
use super::model::{ReportData, RowsAt};
use crate::facts::{Level, ServiceFacts};
use crate::store::Store;
use crate::store::reading::InventoryRow;

/// One service in the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceRow {
    /// Procedure code (mã thủ tục); empty when the page showed none.
    pub code: String,
    pub name: String,
    pub agency_id: String,
    /// The agency's name in the report's language.
    pub agency_name: String,
    pub url: String,
    /// Normalised level (`full` toàn trình, `partial` một phần, `info`, `unknown`).
    pub level: Level,
    /// The level as the page shows it; empty when none is published.
    pub level_label: String,
    /// The page offers signing; `null` when the page was not read.
    pub signature_supported: Option<bool>,
    /// The page states a signed dossier is required; `null` when not read.
    pub signature_required: Option<bool>,
    /// Signature providers the page itself shows (sorted); empty when not read.
    pub providers: Vec<String>,
    /// A signing signal is on every page of the portal; `null` when not read.
    pub site_wide: Option<bool>,
    /// Providers of the site-wide signals (sorted).
    pub site_wide_providers: Vec<String>,
    /// The page links to the National Public Service Portal; `null` when not read.
    pub national_portal_link: Option<bool>,
    /// Why the page could not be read (an `AssessReason` name); `""` when it was read.
    pub could_not_assess: String,
}

impl ServiceRow {
    /// The row of one stored service; `unread` is the stored reason (`""`: read).
    pub fn new(facts: ServiceFacts, unread: String, agency_name: &str) -> ServiceRow {
        let read = unread.is_empty();
        let known = |b: bool| read.then_some(b);
        let sig = facts.signature;
        ServiceRow {
            code: facts.code,
            name: facts.name,
            agency_id: facts.agency_id,
            agency_name: agency_name.to_string(),
            url: facts.url,
            level: facts.level,
            level_label: facts.level_label,
            signature_supported: known(sig.supported),
            signature_required: known(sig.required),
            providers: if read { sig.providers } else { Vec::new() },
            site_wide: known(sig.site_wide),
            site_wide_providers: if read {
                sig.site_wide_providers
            } else {
                Vec::new()
            },
            national_portal_link: known(facts.national_portal_link),
            could_not_assess: unread,
        }
    }

    /// From facts in memory (a report built from values).
    pub fn of(facts: &ServiceFacts, agency_name: &str) -> ServiceRow {
        let unread = facts
            .fetch
            .error
            .as_ref()
            .map_or(String::new(), |e| e.kind.as_str().to_string());
        ServiceRow::new(facts.clone(), unread, agency_name)
    }
}

/// The level in words for the inventory's `level_label` column when the page published none.
pub fn level_words(lang: Lang, level: Level) -> &'static str {
    match level {
        Level::Full => lang.pick("Toàn trình", "Full process"),
        Level::Partial => lang.pick("Một phần", "Partial"),
        Level::Info => lang.pick("Cung cấp thông tin", "Information only"),
        Level::Unknown => lang.pick("Chưa rõ", "Unknown"),
    }
}

fn store_err(e: crate::store::StoreError) -> ReportError {
    ReportError::Store(e.to_string())
}

impl From<crate::store::StoreError> for ReportError {
    fn from(e: crate::store::StoreError) -> ReportError {
        store_err(e)
    }
}

/// Every service of the report's agencies, in inventory order, handed to `each` one at a time.
pub fn for_each_service(
    data: &ReportData,
    mut each: impl FnMut(&ServiceRow) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let RowsAt::Database { path, run_id, .. } = &data.rows else {
        return data.services.iter().try_for_each(each);
    };
    let store = Store::open_read_only(path).map_err(store_err)?;
    for a in &data.agencies {
        let name = super::survey::agency_name(data.lang, a);
        store.each_service(*run_id, &a.facts.id, |r: InventoryRow| {
            each(&ServiceRow::new(r.facts, r.unread, name))
        })?;
    }
    Ok(())
}

/// Header of `services.csv` (the column keys; the XLSX sheet shows [`headers`]).
pub const CSV_HEADER: [&str; 15] = [
    "code",
    "name",
    "agency_id",
    "agency_name",
    "url",
    "level",
    "level_label",
    "signature_supported",
    "signature_required",
    "providers",
    "site_wide",
    "site_wide_providers",
    "national_portal_link",
    "could_not_assess",
    "run_id",
];

/// Column headers in `lang` (XLSX inventory sheet), in [`CSV_HEADER`] order.
pub fn headers(lang: Lang) -> [&'static str; 15] {
    match lang {
        Lang::Vi => [
            "Mã thủ tục",
            "Tên thủ tục",
            "Mã cơ quan",
            "Cơ quan",
            "Địa chỉ",
            "Mức độ",
            "Mức độ (như trang ghi)",
            "Hỗ trợ ký số",
            "Yêu cầu ký số",
            "Nhà cung cấp chữ ký số",
            "Ký số toàn trang",
            "Nhà cung cấp (toàn trang)",
            "Liên kết Cổng DVC quốc gia",
            "Không thể đánh giá (lý do)",
            "Lần kiểm tra",
        ],
        Lang::En => [
            "Code",
            "Name",
            "Agency id",
            "Agency",
            "URL",
            "Level",
            "Level (as published)",
            "Signature supported",
            "Signature required",
            "Signature providers",
            "Site-wide signing",
            "Site-wide providers",
            "National portal link",
            "Could not assess (reason)",
            "Run",
        ],
    }
}

fn flag(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    }
}

/// A row's cells in [`CSV_HEADER`] order (booleans `yes`/`no`, empty when unknown).
pub fn cells(row: &ServiceRow, run_id: i64) -> [String; 15] {
    [
        row.code.clone(),
        row.name.clone(),
        row.agency_id.clone(),
        row.agency_name.clone(),
        row.url.clone(),
        row.level.as_str().to_string(),
        row.level_label.clone(),
        flag(row.signature_supported).to_string(),
        flag(row.signature_required).to_string(),
        row.providers.join(" "),
        flag(row.site_wide).to_string(),
        row.site_wide_providers.join(" "),
        flag(row.national_portal_link).to_string(),
        row.could_not_assess.clone(),
        run_id.to_string(),
    ]
}

/// Stream `services.csv` (UTF-8 with BOM, CRLF, RFC 4180 quoting and formula neutralising as
/// `findings.csv`, with the `csv` crate).
pub fn write_csv(data: &ReportData, w: &mut dyn Write) -> Result<(), ReportError> {
    let mut doc = super::csv::Csv::new(w, &CSV_HEADER)?;
    for_each_service(data, |row| {
        let cells = cells(row, data.run.id).map(|c| super::view::clean(&c));
        doc.row(cells.iter().map(String::as_str))
    })?;
    doc.finish()
}

/// `services.csv` of one agency (for its email's attachments): the report restricted to it.
pub fn agency_csv(data: &ReportData, agency_id: &str) -> Result<Vec<u8>, ReportError> {
    let mut out = Vec::new();
    write_csv(&data.only(&[agency_id]), &mut out)?;
    Ok(out)
}

/// File name of the inventory in a run's report directory.
pub const CSV_FILE: &str = "services.csv";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unread_page_leaves_its_facts_unknown() {
        let mut f = ServiceFacts {
            code: "1.1".into(),
            agency_id: "a".into(),
            level: Level::Full,
            ..ServiceFacts::default()
        };
        f.signature.providers = vec!["vgca".into()];
        let read = ServiceRow::new(f.clone(), String::new(), "A");
        assert_eq!(read.signature_supported, Some(false));
        assert_eq!(read.providers, ["vgca"]);
        let c = cells(&read, 7);
        assert_eq!((c[7].as_str(), c[13].as_str()), ("no", ""));
        let unread = ServiceRow::new(f, "timeout".into(), "A");
        assert_eq!(unread.signature_supported, None);
        assert_eq!(unread.national_portal_link, None);
        assert!(unread.providers.is_empty());
        let c = cells(&unread, 7);
        assert_eq!((c[7].as_str(), c[12].as_str()), ("", ""));
        assert_eq!(c[13], "timeout");
    }
}
