//! Diagnostics for user-written files (config, profiles, rules, waivers).
//!
//! Loading is two-phase, as in cargo-deny: a strict parse, then a validation pass that collects
//! **every** problem with its span. Nothing runs if any diagnostic is an error. Each diagnostic
//! renders like rustc: a `file:line:col` header, the source line, the offending value underlined.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};

/// A user-written file held in memory so diagnostics can quote it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Arc<Self> {
        Arc::new(SourceFile {
            name: name.into(),
            text: text.into(),
        })
    }

    /// Read a file; an I/O error becomes a diagnostic-free error message naming the path.
    pub fn read(path: &Path) -> Result<Arc<Self>, DiagnosticsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(SourceFile::new(path.display().to_string(), text)),
            Err(e) => {
                let mut d = Diagnostics::default();
                d.push(Diagnostic::error(
                    "io",
                    format!("cannot read {}: {e}", path.display()),
                ));
                Err(DiagnosticsError(d))
            }
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.text, offset)
    }
}

/// 1-based line and column (in characters) of a byte offset, clamped to the text.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in a user-written file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable short code, e.g. `config::unknown-field`, `rule::bad-expression`.
    pub code: String,
    pub message: String,
    pub file: Option<Arc<SourceFile>>,
    pub span: Option<Range<usize>>,
    /// Text under the underline.
    pub label: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code: code.into(),
            message: message.into(),
            file: None,
            span: None,
            label: String::new(),
            help: None,
        }
    }

    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Point the diagnostic at `span` of `file`, with `label` under it.
    pub fn at(
        mut self,
        file: &Arc<SourceFile>,
        span: Range<usize>,
        label: impl Into<String>,
    ) -> Self {
        self.file = Some(Arc::clone(file));
        self.span = Some(span);
        self.label = label.into();
        self
    }

    /// Point at a file without a span (e.g. a missing key: the whole file is the context).
    pub fn in_file(mut self, file: &Arc<SourceFile>) -> Self {
        self.file = Some(Arc::clone(file));
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:col` of the diagnostic, or just the file name, or empty.
    pub fn location(&self) -> String {
        match (&self.file, &self.span) {
            (Some(f), Some(span)) => {
                let (l, c) = f.line_col(span.start);
                format!("{}:{l}:{c}", f.name)
            }
            (Some(f), None) => f.name.clone(),
            _ => String::new(),
        }
    }

    /// Render like rustc: a header line with `file:line:col`, then the quoted source with the
    /// span underlined (no colour when `color` is false, e.g. not a TTY or in tests).
    pub fn render(&self, color: bool) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let loc = self.location();
        let mut out = if loc.is_empty() {
            format!("{sev}[{}]: {}\n", self.code, self.message)
        } else {
            format!("{sev}[{}]: {loc}: {}\n", self.code, self.message)
        };
        if self.file.is_some() && self.span.is_some() {
            let theme = if color {
                GraphicalTheme::unicode()
            } else {
                GraphicalTheme::unicode_nocolor()
            };
            let handler = GraphicalReportHandler::new_themed(theme)
                .with_context_lines(1)
                .with_width(120);
            let mut buf = String::new();
            let view = MietteView {
                d: self,
                src: self.file.as_ref().map(|f| named_source(f)),
            };
            if handler.render_report(&mut buf, &view).is_ok() {
                out.push_str(&buf);
            }
        } else if let Some(help) = &self.help {
            out.push_str(&format!("  help: {help}\n"));
        }
        out
    }
}

/// Adapter so miette's graphical handler can draw a [`Diagnostic`].
struct MietteView<'a> {
    d: &'a Diagnostic,
    src: Option<NamedSource<String>>,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.d
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.src.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.d.span.clone()?;
        let file = self.d.file.as_ref()?;
        let start = span.start.min(file.text.len());
        let len = span.end.min(file.text.len()).saturating_sub(start).max(1);
        let label = if self.d.label.is_empty() {
            None
        } else {
            Some(self.d.label.clone())
        };
        Some(Box::new(std::iter::once(LabeledSpan::new(
            label, start, len,
        ))))
    }
}

/// Wrap a source so miette prints its name in the header. Kept for callers that want a
/// `miette::Report` of their own.
pub fn named_source(file: &SourceFile) -> NamedSource<String> {
    NamedSource::new(file.name.clone(), file.text.to_string())
}

/// A collection of diagnostics, in the order found.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every diagnostic rendered, then a one-line summary.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&d.render(color));
            out.push('\n');
        }
        let errors = self.error_count();
        let warnings = self.items.len() - errors;
        if errors > 0 || warnings > 0 {
            out.push_str(&format!(
                "{errors} error{}, {warnings} warning{}\n",
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" }
            ));
        }
        out
    }

    /// `Ok(())` when there is no error (warnings are kept by the caller), else the whole set.
    pub fn into_result(self) -> Result<Diagnostics, DiagnosticsError> {
        if self.has_errors() {
            Err(DiagnosticsError(self))
        } else {
            Ok(self)
        }
    }
}

/// Loading failed; every problem is inside. Render with [`Diagnostics::render`].
#[derive(Debug, thiserror::Error)]
#[error("{} error(s) in configuration", .0.error_count())]
pub struct DiagnosticsError(pub Diagnostics);

/// Turn a `toml` deserialisation error into a spanned diagnostic.
pub fn from_toml_error(file: &Arc<SourceFile>, code: &str, err: &toml::de::Error) -> Diagnostic {
    let message = err.message().to_string();
    match err.span() {
        Some(span) => Diagnostic::error(code, message.clone()).at(file, span, message),
        None => Diagnostic::error(code, message).in_file(file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let text = "a = 1\nđường = \"x\"\n";
        let off = text
            .find('=')
            .map(|_| text.rfind('=').unwrap_or(0))
            .unwrap_or(0);
        assert_eq!(line_col(text, off), (2, 7));
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 10_000).0, 3);
    }

    #[test]
    fn render_shows_location_and_underline() {
        let f = SourceFile::new("audit.toml", "[crawl]\nconcurrency = -1\n");
        let start = f.text.find("-1").unwrap_or(0);
        let d = Diagnostic::error("config::range", "concurrency must be at least 1").at(
            &f,
            start..start + 2,
            "not allowed",
        );
        let text = d.render(false);
        assert!(text.contains("audit.toml:2:15"), "{text}");
        assert!(text.contains("concurrency = -1"), "{text}");
        assert!(text.contains("not allowed"), "{text}");
    }
}
