//! HTML and plain-text rendering with handlebars.
//!
//! Two registries, never mixed: the HTML one keeps handlebars' default HTML escaping (every
//! `{{field}}` is escaped; only the Rust-drawn `*_svg` fields use `{{{ }}}`), the text one uses
//! `no_escape`. Both are strict (a misspelt field is a render error, caught by tests). The
//! templates are compiled into the binary from `reports/templates/`, so a report never depends
//! on files next to the executable.

use handlebars::Handlebars;

use super::ReportError;
use super::model::ReportData;
use super::view::view;

const HTML_TEMPLATE: &str = include_str!("../../reports/templates/report.html.hbs");
const TEXT_TEMPLATE: &str = include_str!("../../reports/templates/email.txt.hbs");

/// Compiled templates; build once, render many.
pub struct Renderer {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

impl Renderer {
    pub fn new() -> Result<Renderer, ReportError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        html.register_template_string("report", HTML_TEMPLATE)
            .map_err(|e| ReportError::Template(e.to_string()))?;
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        text.register_template_string("text", TEXT_TEMPLATE)
            .map_err(|e| ReportError::Template(e.to_string()))?;
        Ok(Renderer { html, text })
    }

    /// The self-contained HTML report.
    pub fn html(&self, data: &ReportData) -> Result<String, ReportError> {
        self.html
            .render("report", &view(data))
            .map_err(|e| ReportError::Template(e.to_string()))
    }

    /// The plain-text body (email text alternative, terminal output).
    pub fn text(&self, data: &ReportData) -> Result<String, ReportError> {
        let out = self
            .text
            .render("text", &view(data))
            .map_err(|e| ReportError::Template(e.to_string()))?;
        Ok(tidy_text(&out))
    }
}

/// Collapse the blank-line runs that template control blocks leave behind.
fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    // Keep the RFC 3676 signature separator "-- " that trim_end removed.
    out.replace("\n--\n", "\n-- \n")
}
