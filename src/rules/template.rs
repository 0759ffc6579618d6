//! Message templates: text with `{expression}` placeholders, e.g.
//! `"Dịch vụ {service.code} chưa hỗ trợ ký số chuyên dùng ({service.signature.providers})"`.
//!
//! A placeholder is a CEL expression over the same context as the rule, compiled and
//! field-checked at load like `when` and `require` (one language, one checker), so an aggregate
//! message can say `{services.filter(s, s.level == 'full').size()}`. Handlebars was the other
//! candidate; it would have brought a second path syntax that the field checker does not know.
//! `{{` and `}}` write literal braces; a placeholder may not contain braces (no map literals).
//! Each rendered value is cut to [`MAX_VALUE_CHARS`], the whole message to [`MAX_MESSAGE_CHARS`].

use std::ops::Range;

use super::expr::{Activation, Expr, ExprProblem, MAX_VALUE_CHARS, bounded};

/// Longest rendered message (characters).
pub const MAX_MESSAGE_CHARS: usize = 1000;

#[derive(Debug)]
enum Part {
    Text(String),
    /// A compiled placeholder and the byte offset of its text inside the template.
    Expr(Expr, usize),
}

#[derive(Debug, Default)]
pub struct Template {
    parts: Vec<Part>,
    /// The language the message is written in (how dates, provider lists and empty lists read).
    english: bool,
}

/// A placeholder's value as an inspector reads it inside a sentence: an RFC 3339 time as a
/// Vietnam-time date `dd/mm/yyyy`, a list of signature providers by their names (`VNPT-CA`,
/// not `vnpt-ca`), an empty list as "không có" / "none".
fn humanize(v: &super::expr::Value, english: bool) -> String {
    if let Some(s) = v.as_text() {
        return crate::facts::vn_date(s).unwrap_or_else(|| s.to_string());
    }
    if let Some(items) = v.text_items() {
        if items.is_empty() {
            return if english { "none" } else { "không có" }.to_string();
        }
        return items
            .iter()
            .map(|i| crate::facts::provider_name(i).unwrap_or(i).to_string())
            .collect::<Vec<_>>()
            .join(", ");
    }
    v.display()
}

impl Template {
    /// Parse a template. Problems carry byte ranges inside `text`.
    pub fn parse(text: &str) -> Result<Template, Vec<ExprProblem>> {
        let mut parts = Vec::new();
        let mut problems = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().is_some_and(|(_, n)| *n == '{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().is_some_and(|(_, n)| *n == '}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let start = i + 1;
                    let mut end = None;
                    for (j, d) in chars.by_ref() {
                        if d == '}' {
                            end = Some(j);
                            break;
                        }
                        if d == '{' {
                            break;
                        }
                    }
                    let Some(end) = end else {
                        problems.push(ExprProblem {
                            code: "bad-expression",
                            message: "unclosed `{` in message".into(),
                            span: i..i + 1,
                            help: Some("write `{{` for a literal brace".into()),
                        });
                        break;
                    };
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    let src = text.get(start..end).unwrap_or_default();
                    match Expr::compile(src) {
                        Ok(e) => parts.push(Part::Expr(e, start)),
                        Err(ps) => problems.extend(ps.into_iter().map(|p| shift(p, start))),
                    }
                }
                '}' => problems.push(ExprProblem {
                    code: "bad-expression",
                    message: "unmatched `}` in message".into(),
                    span: i..i + 1,
                    help: Some("write `}}` for a literal brace".into()),
                }),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        if problems.is_empty() {
            Ok(Template {
                parts,
                english: false,
            })
        } else {
            Err(problems)
        }
    }

    /// The template's text is English (default: Vietnamese).
    pub fn in_english(mut self, english: bool) -> Template {
        self.english = english;
        self
    }

    /// Every placeholder with its offset inside the template.
    pub fn exprs(&self) -> impl Iterator<Item = (&Expr, usize)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e, off) => Some((e, *off)),
            Part::Text(_) => None,
        })
    }

    /// Render; a placeholder that cannot be evaluated shows `?` (the message is informative,
    /// the verdict does not depend on it).
    pub fn render(&self, act: &Activation<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e, _) => match e.eval(act) {
                    Ok(v) => out.push_str(&bounded(&humanize(&v, self.english), MAX_VALUE_CHARS)),
                    Err(_) => out.push('?'),
                },
            }
        }
        bounded(&out, MAX_MESSAGE_CHARS)
    }
}

/// Move a problem's span by `by` bytes (placeholder offset inside the template).
pub fn shift(mut p: ExprProblem, by: usize) -> ExprProblem {
    p.span = Range {
        start: p.span.start + by,
        end: p.span.end + by,
    };
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::expr::Value;

    #[test]
    fn renders_placeholders_and_escapes() {
        let t = Template::parse("Mã {service.code} {{x}} {1.0 / 3.0}").unwrap_or_default();
        let mut act = Activation::root();
        let svc = crate::facts::ServiceFacts {
            code: "1.004222".into(),
            ..Default::default()
        };
        act.set(
            "service",
            Value::from_serialize(&svc).unwrap_or_else(|_| Value::list(vec![])),
        );
        assert_eq!(t.render(&act), "Mã 1.004222 {x} 0.33");
    }

    #[test]
    fn unclosed_and_bad_placeholders_are_located() {
        let e = Template::parse("abc {service.code")
            .err()
            .unwrap_or_default();
        assert_eq!(e[0].span, 4..5);
        let text = "ok {service.code ==} end";
        let e = Template::parse(text).err().unwrap_or_default();
        assert!(!e.is_empty());
        assert!(e[0].span.start >= 4 && e[0].span.start <= 20, "{e:?}");
    }
}
