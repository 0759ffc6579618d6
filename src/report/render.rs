//! HTML and plain-text rendering with handlebars.
//!
//! Two registries, never mixed: the HTML one keeps handlebars' default HTML escaping (every
//! `{{field}}` is escaped; only the Rust-drawn `*_svg` fields use `{{{ }}}`), the text one uses
//! `no_escape`. Both are strict (a misspelt field is a render error, caught by tests). The
//! templates are compiled into the binary from `reports/templates/`, so a report never depends
//! on files next to the executable.
//!
//! Each template is one file in three parts, cut at the `{{!-- @agency ... --}}` and
//! `{{!-- @end --}}` comments: the head (summary of every agency), the agency section (rendered
//! once per agency, its context being that agency plus `labels`) and the end. Rendering agency by
//! agency straight to the writer keeps one agency's view in memory at a time instead of the whole
//! report as one handlebars value.

use std::io::Write;

use handlebars::Handlebars;
use serde::Serialize;

use super::ReportError;
use super::model::ReportData;
use super::summary::{FirstScreen, first_screen};
use super::view::{AgencyView, View, agency_view, head_view};

const HTML_TEMPLATE: &str = include_str!("../../reports/templates/report.html.hbs");
const TEXT_TEMPLATE: &str = include_str!("../../reports/templates/email.txt.hbs");
/// The survey table, its own block after the summary (rendered only when a report has one).
const SURVEY_HTML: &str = include_str!("../../reports/templates/survey.html.hbs");
const SURVEY_TEXT: &str = include_str!("../../reports/templates/survey.txt.hbs");

/// Compiled templates; build once, render many.
pub struct Renderer {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

/// The agency part's context: the agency's fields at the top level, and the labels.
#[derive(Serialize)]
struct AgencyContext<'a> {
    labels: &'a std::collections::BTreeMap<&'static str, &'static str>,
    #[serde(flatten)]
    agency: &'a AgencyView,
}

/// The head and end parts' context: the report's view plus its first screen.
#[derive(Serialize)]
struct HeadContext {
    #[serde(flatten)]
    view: View,
    first: FirstScreen,
}

/// Cut a template into head, agency part and end at the marker comments.
fn parts(template: &str) -> Result<[&str; 3], ReportError> {
    let missing = || ReportError::Template("template lacks the @agency / @end markers".into());
    let (head, rest) = template.split_once("{{!-- @agency").ok_or_else(missing)?;
    let (_, rest) = rest.split_once("--}}\n").ok_or_else(missing)?;
    let (agency, end) = rest.split_once("{{!-- @end --}}\n").ok_or_else(missing)?;
    Ok([head, agency, end])
}

fn register(
    hb: &mut Handlebars<'static>,
    prefix: &str,
    template: &'static str,
) -> Result<(), ReportError> {
    for (name, part) in ["head", "agency", "end"].iter().zip(parts(template)?) {
        hb.register_template_string(&format!("{prefix}_{name}"), part)
            .map_err(|e| ReportError::Template(e.to_string()))?;
    }
    Ok(())
}

fn tpl(e: handlebars::RenderError) -> ReportError {
    ReportError::Template(e.to_string())
}

impl Renderer {
    pub fn new() -> Result<Renderer, ReportError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        register(&mut html, "html", HTML_TEMPLATE)?;
        html.register_template_string("html_survey", SURVEY_HTML)
            .map_err(|e| ReportError::Template(e.to_string()))?;
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        register(&mut text, "text", TEXT_TEMPLATE)?;
        text.register_template_string("text_survey", SURVEY_TEXT)
            .map_err(|e| ReportError::Template(e.to_string()))?;
        Ok(Renderer { html, text })
    }

    /// Render the three parts of `prefix`'s template, handing each piece to `out`.
    fn parts_to(
        hb: &Handlebars<'static>,
        prefix: &str,
        data: &ReportData,
        out: &mut dyn FnMut(&str) -> Result<(), ReportError>,
    ) -> Result<(), ReportError> {
        Self::parts_with(hb, prefix, data, true, out)
    }

    /// As [`Self::parts_to`]; without `agencies`, the head and end only (the summary).
    fn parts_with(
        hb: &Handlebars<'static>,
        prefix: &str,
        data: &ReportData,
        agencies: bool,
        out: &mut dyn FnMut(&str) -> Result<(), ReportError>,
    ) -> Result<(), ReportError> {
        let head = HeadContext {
            view: head_view(data),
            first: first_screen(data),
        };
        out(&hb.render(&format!("{prefix}_head"), &head).map_err(tpl)?)?;
        if !data.survey.is_empty() {
            let survey = super::survey::view(data);
            out(&hb
                .render(&format!("{prefix}_survey"), &survey)
                .map_err(tpl)?)?;
        }
        for a in data.agencies.iter().filter(|_| agencies) {
            let view = agency_view(data.lang, a, true);
            let ctx = AgencyContext {
                labels: &head.view.labels,
                agency: &view,
            };
            out(&hb.render(&format!("{prefix}_agency"), &ctx).map_err(tpl)?)?;
        }
        out(&hb.render(&format!("{prefix}_end"), &head).map_err(tpl)?)
    }

    /// Write the self-contained HTML report to `w`, one agency at a time.
    pub fn html_to(&self, data: &ReportData, w: &mut dyn Write) -> Result<(), ReportError> {
        Self::parts_to(&self.html, "html", data, &mut |s| {
            w.write_all(s.as_bytes()).map_err(io)
        })
    }

    /// The self-contained HTML report.
    pub fn html(&self, data: &ReportData) -> Result<String, ReportError> {
        let mut out = String::new();
        Self::parts_to(&self.html, "html", data, &mut |s| {
            out.push_str(s);
            Ok(())
        })?;
        Ok(out)
    }

    /// The HTML report's summary alone (first screen, heat map, totals; no agency sections):
    /// what the PDF print's summary part holds.
    pub fn html_summary(&self, data: &ReportData) -> Result<String, ReportError> {
        let mut out = String::new();
        Self::parts_with(&self.html, "html", data, false, &mut |s| {
            out.push_str(s);
            Ok(())
        })?;
        Ok(out)
    }

    /// Write the plain-text body to `w`, one agency at a time.
    pub fn text_to(&self, data: &ReportData, w: &mut dyn Write) -> Result<(), ReportError> {
        let mut tidy = Tidy::default();
        Self::parts_to(&self.text, "text", data, &mut |s| {
            w.write_all(tidy.push(s).as_bytes()).map_err(io)
        })?;
        w.write_all(tidy.finish().as_bytes()).map_err(io)
    }

    /// The plain-text body (email text alternative, terminal output).
    pub fn text(&self, data: &ReportData) -> Result<String, ReportError> {
        let mut out = Vec::new();
        self.text_to(data, &mut out)?;
        String::from_utf8(out).map_err(|e| ReportError::Template(e.to_string()))
    }
}

fn io(e: std::io::Error) -> ReportError {
    ReportError::Template(format!("cannot write the report: {e}"))
}

/// Collapses the blank-line runs that template control blocks leave behind, across the pieces
/// of a rendering (a line may be split between two pieces).
#[derive(Default)]
struct Tidy {
    blank: usize,
    partial: String,
}

impl Tidy {
    fn line(&mut self, line: &str, out: &mut String) {
        let line = line.trim_end();
        if line.is_empty() {
            self.blank += 1;
            if self.blank > 1 {
                return;
            }
        } else {
            self.blank = 0;
        }
        // Keep the RFC 3676 signature separator "-- " that trim_end removed.
        out.push_str(if line == "--" { "-- " } else { line });
        out.push('\n');
    }

    fn push(&mut self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut buf = std::mem::take(&mut self.partial);
        buf.push_str(s);
        let complete = match buf.rfind('\n') {
            Some(i) => {
                self.partial = buf[i + 1..].to_string();
                &buf[..i]
            }
            None => {
                self.partial = buf;
                return out;
            }
        };
        for line in complete.split('\n') {
            self.line(line, &mut out);
        }
        out
    }

    fn finish(&mut self) -> String {
        let mut out = String::new();
        let rest = std::mem::take(&mut self.partial);
        if !rest.is_empty() {
            self.line(&rest, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_collapses_blank_runs_across_pieces() {
        let mut t = Tidy::default();
        let mut out = t.push("a  \n\n");
        out += &t.push("\n\nb\n--");
        out += &t.push("\nc");
        out += &t.finish();
        assert_eq!(out, "a\n\nb\n-- \nc\n");
    }

    #[test]
    fn templates_have_their_markers() {
        assert!(parts(HTML_TEMPLATE).is_ok());
        assert!(parts(TEXT_TEMPLATE).is_ok());
        assert!(parts("no markers").is_err());
    }
}
