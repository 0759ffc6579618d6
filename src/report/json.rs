//! `report.json`: [`ReportData`] serialised with serde. The schema is documented in
//! `docs/report-json.md` and versioned by `schema_version`.
//!
//! [`write`] streams the complete document: the agency lists are serialised row by row from a
//! [`RowSource`] (the history database for a gathered report), in exactly the layout serde
//! derives for [`ReportData`], so the file is the same whether the rows were in memory or not.
//! [`render`] serialises the document as it is in memory (emails: a bounded part of a report).

use std::cell::RefCell;
use std::io::Write;

use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use super::ReportError;
use super::model::{AgencyReport, ReportData};
use super::stream::{Row, RowSource, with_rows};
use crate::store::reading::RowKind;

/// Pretty-printed JSON with a trailing newline, of the document as it is in memory.
pub fn render(data: &ReportData) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(data).map_err(ReportError::Json)?;
    s.push('\n');
    Ok(s)
}

/// The complete document (every row), pretty-printed with a trailing newline.
pub fn write(data: &ReportData, mut w: impl Write) -> Result<(), ReportError> {
    with_rows(data, |src| {
        let doc = Doc {
            data,
            src: RefCell::new(src),
            failure: RefCell::new(None),
        };
        let res = serde_json::to_writer_pretty(&mut w, &doc);
        if let Some(e) = doc.failure.into_inner() {
            return Err(e);
        }
        res.map_err(ReportError::Json)?;
        w.write_all(b"\n")
            .map_err(|e| ReportError::Json(serde_json::Error::io(e)))
    })
}

struct Doc<'a, 's> {
    data: &'a ReportData,
    src: RefCell<&'s mut dyn RowSource>,
    /// The source's own error (serde can carry only a message).
    failure: RefCell<Option<ReportError>>,
}

struct Agencies<'d, 'a, 's>(&'d Doc<'a, 's>);
/// The inventory, one service at a time ([`super::inventory::for_each_service`]).
struct Services<'d, 'a, 's>(&'d Doc<'a, 's>);
struct Agency<'d, 'a, 's>(&'d Doc<'a, 's>, &'a AgencyReport);
struct List<'d, 'a, 's>(&'d Doc<'a, 's>, &'a AgencyReport, RowKind);

impl Serialize for Doc<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.data;
        let mut st = s.serialize_struct("ReportData", 8)?;
        st.serialize_field("schema_version", &d.schema_version)?;
        st.serialize_field("run", &d.run)?;
        st.serialize_field("lang", &d.lang)?;
        st.serialize_field("agencies", &Agencies(self))?;
        st.serialize_field("totals", &d.totals)?;
        st.serialize_field("waiver_notes", &d.waiver_notes)?;
        st.serialize_field("survey", &d.survey)?;
        st.serialize_field("services", &Services(self))?;
        st.end()
    }
}

impl Serialize for Agencies<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let list = &self.0.data.agencies;
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for a in list {
            seq.serialize_element(&Agency(self.0, a))?;
        }
        seq.end()
    }
}

impl Serialize for Agency<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (doc, a) = (self.0, self.1);
        // Field order as derived for `AgencyReport`; `omitted` is 0: this document is complete.
        let mut st = s.serialize_struct("AgencyReport", 24)?;
        st.serialize_field("facts", &a.facts)?;
        st.serialize_field("successor", &a.successor)?;
        st.serialize_field("successor_name", &a.successor_name)?;
        st.serialize_field("former_names", &a.former_names)?;
        st.serialize_field("unverified", &a.unverified)?;
        st.serialize_field("services_total", &a.services_total)?;
        st.serialize_field("services_read", &a.services_read)?;
        st.serialize_field("full_total", &a.full_total)?;
        st.serialize_field("full_with_vgca", &a.full_with_vgca)?;
        st.serialize_field("level_published", &a.level_published)?;
        st.serialize_field("shares", &a.shares)?;
        st.serialize_field("trend", &a.trend)?;
        st.serialize_field("findings", &List(doc, a, RowKind::Failing))?;
        st.serialize_field("could_not_assess", &List(doc, a, RowKind::Unassessed))?;
        st.serialize_field("resolved", &List(doc, a, RowKind::Resolved))?;
        st.serialize_field("waived", &List(doc, a, RowKind::Waived))?;
        st.serialize_field("unverified_findings", &List(doc, a, RowKind::Unverified))?;
        st.serialize_field("withdrawn_findings", &List(doc, a, RowKind::Withdrawn))?;
        st.serialize_field("coverage", &a.coverage)?;
        let omitted = match doc.data.rows {
            super::model::RowsAt::InData => a.omitted,
            super::model::RowsAt::Database { .. } => 0,
        };
        st.serialize_field("omitted", &omitted)?;
        st.serialize_field("rules", &a.rules)?;
        st.serialize_field("counts", &a.counts)?;
        st.serialize_field("assessment", &a.assessment)?;
        st.end()
    }
}

impl Serialize for List<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (doc, a, kind) = (self.0, self.1, self.2);
        let mut seq = Some(s.serialize_seq(None)?);
        let mut ser_err: Option<S::Error> = None;
        let res = doc.src.borrow_mut().each(a, kind, &mut |row| {
            let Some(seq) = seq.as_mut() else {
                return Ok(());
            };
            let r = match row {
                Row::Finding(f) => seq.serialize_element(f),
                Row::Unassessed(u) => seq.serialize_element(u),
            };
            if let Err(e) = r {
                ser_err = Some(e);
                return Err(ReportError::Template("JSON serialisation failed".into()));
            }
            Ok(())
        });
        if let Some(e) = ser_err {
            return Err(e);
        }
        if let Err(e) = res {
            let msg = e.to_string();
            *doc.failure.borrow_mut() = Some(e);
            return Err(S::Error::custom(msg));
        }
        match seq.take() {
            Some(seq) => seq.end(),
            None => Err(S::Error::custom("sequence already closed")),
        }
    }
}

impl Serialize for Services<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let doc = self.0;
        let mut seq = s.serialize_seq(None)?;
        let mut ser_err: Option<S::Error> = None;
        let res = super::inventory::for_each_service(doc.data, |row| {
            seq.serialize_element(row).map_err(|e| {
                ser_err = Some(e);
                ReportError::Template("JSON serialisation failed".into())
            })
        });
        if let Some(e) = ser_err {
            return Err(e);
        }
        if let Err(e) = res {
            let msg = e.to_string();
            *doc.failure.borrow_mut() = Some(e);
            return Err(S::Error::custom(msg));
        }
        seq.end()
    }
}

/// The JSON Schema of `report.json`, generated from the types ([`ReportData`]); the file
/// `docs/report-json.schema.json` is this, checked by a test.
pub fn schema() -> String {
    let schema = schemars::schema_for!(ReportData);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
