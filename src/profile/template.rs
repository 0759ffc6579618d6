//! URL and body templates: `{name}` is a variable (agency vars, `portal`, `id`, pagination state
//! `page`, `offset`, `size`, `cursor`), `{/a/b}` is a JSON pointer into the current list item,
//! `{{` and `}}` are literal braces (JSON bodies need them).
//!
//! Templates are parsed at load time so a typo is a diagnostic, and rendered per request.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(String),
    Ptr(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub text: String,
    parts: Vec<Part>,
}

/// A template that does not parse; `offset` is a byte offset into the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateSyntaxError {
    pub offset: usize,
    pub message: String,
}

/// A template that cannot be rendered with the values at hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("unknown variable `{{{0}}}` (give it in the agency's [agency.vars])")]
    UnknownVar(String),
    #[error("the list item has no usable value at `{0}`")]
    MissingField(String),
}

/// How substituted values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// URLs: variables are inserted as given (they are URLs or URL parts chosen by the operator);
    /// values read from a remote JSON item are percent-encoded, so they cannot add path segments
    /// or query parameters.
    Url,
    /// JSON bodies: every value is escaped as the inside of a JSON string.
    Json,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateSyntaxError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    lit.push('}');
                }
                '}' => {
                    return Err(TemplateSyntaxError {
                        offset: i,
                        message: "unmatched `}` (write `}}` for a literal brace)".into(),
                    });
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, n) in chars.by_ref() {
                        if n == '}' {
                            closed = true;
                            break;
                        }
                        name.push(n);
                    }
                    if !closed {
                        return Err(TemplateSyntaxError {
                            offset: i,
                            message: "unclosed `{` (write `{{` for a literal brace)".into(),
                        });
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    if name.starts_with('/') {
                        crate::profile::validate::check_pointer(&name).map_err(|m| {
                            TemplateSyntaxError {
                                offset: i,
                                message: m,
                            }
                        })?;
                        parts.push(Part::Ptr(name));
                    } else if is_var_name(&name) {
                        parts.push(Part::Var(name));
                    } else {
                        return Err(TemplateSyntaxError {
                            offset: i,
                            message: format!(
                                "`{{{name}}}` is neither a variable name ([a-z_][a-z0-9_]*) nor a JSON pointer (/...)"
                            ),
                        });
                    }
                }
                other => lit.push(other),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template {
            text: text.to_string(),
            parts,
        })
    }

    /// Variable names used, in order.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            _ => None,
        })
    }

    /// Whether the template reads the current list item (`{/pointer}`).
    pub fn uses_item(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Ptr(_)))
    }

    /// Render with `vars` for variables and `item` for pointers.
    pub fn render(
        &self,
        vars: &dyn Fn(&str) -> Option<String>,
        item: Option<&Value>,
        escape: Escape,
    ) -> Result<String, RenderError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(name) => {
                    let value = vars(name).ok_or_else(|| RenderError::UnknownVar(name.clone()))?;
                    match escape {
                        Escape::Url => out.push_str(&value),
                        Escape::Json => out.push_str(&json_inner(&value)),
                    }
                }
                Part::Ptr(ptr) => {
                    let value = item
                        .and_then(|v| v.pointer(ptr))
                        .and_then(scalar_text)
                        .ok_or_else(|| RenderError::MissingField(ptr.clone()))?;
                    match escape {
                        Escape::Url => out.push_str(&percent_encode(&value)),
                        Escape::Json => out.push_str(&json_inner(&value)),
                    }
                }
            }
        }
        Ok(out)
    }
}

fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A JSON scalar as text (strings as they are, numbers and booleans printed); null and
/// containers have no text.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The inside of a JSON string literal for `s` (no surrounding quotes).
fn json_inner(s: &str) -> String {
    let quoted = Value::String(s.to_string()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .map(str::to_string)
        .unwrap_or_default()
}

/// Percent-encode everything except RFC 3986 unreserved characters. Hand-written because the
/// `url` crate only exposes encoding through whole-URL setters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "api" => Some("https://api.x.test".into()),
            "cursor" => Some("a\"b".into()),
            _ => None,
        }
    }

    #[test]
    fn renders_vars_pointers_and_braces() {
        let t = Template::parse("{api}/p/{/id}").expect("parse");
        let item = serde_json::json!({"id": "a/b c"});
        assert_eq!(
            t.render(&vars, Some(&item), Escape::Url).expect("render"),
            "https://api.x.test/p/a%2Fb%20c"
        );
        let body = Template::parse(r#"{{"lastId": "{cursor}"}}"#).expect("parse");
        assert_eq!(
            body.render(&vars, None, Escape::Json).expect("render"),
            r#"{"lastId": "a\"b"}"#
        );
    }

    #[test]
    fn reports_syntax_and_render_errors() {
        assert!(Template::parse("{portal").is_err());
        assert!(Template::parse("a}b").is_err());
        assert!(Template::parse("{Bad Name}").is_err());
        assert!(Template::parse("{/a~2}").is_err());
        let t = Template::parse("{nope}").expect("parse");
        assert_eq!(
            t.render(&vars, None, Escape::Url),
            Err(RenderError::UnknownVar("nope".into()))
        );
    }
}
