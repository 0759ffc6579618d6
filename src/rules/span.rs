//! Locating a position inside a TOML string value in the file, so an expression problem at
//! offset N of the decoded string is reported at the right `file:line:col` even when the string
//! uses escapes or a multi-line form.

use std::ops::Range;

use crate::diag::SourceFile;

/// Map a byte offset inside a TOML string's decoded value to the file: `span` is the string
/// token (quotes included). Handles the four TOML string forms and basic-string escapes.
pub fn value_offset(file: &SourceFile, span: &Range<usize>, decoded: usize) -> usize {
    let raw = file.text.get(span.clone()).unwrap_or_default();
    let (delim, literal) = if raw.starts_with("'''") {
        (3, true)
    } else if raw.starts_with("\"\"\"") {
        (3, false)
    } else if raw.starts_with('\'') {
        (1, true)
    } else {
        (1, false)
    };
    let mut pos = delim.min(raw.len());
    if delim == 3 {
        // A newline right after the opening delimiter is not part of the value.
        if raw.get(pos..).is_some_and(|r| r.starts_with("\r\n")) {
            pos += 2;
        } else if raw.get(pos..).is_some_and(|r| r.starts_with('\n')) {
            pos += 1;
        }
    }
    if literal {
        return (span.start + pos + decoded).min(span.end);
    }
    let body = raw.get(pos..).unwrap_or_default();
    let mut out = 0usize; // decoded bytes consumed
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if out >= decoded {
            return span.start + pos + i;
        }
        if c != '\\' {
            out += c.len_utf8();
            continue;
        }
        match chars.next() {
            Some((_, 'u')) => {
                for _ in 0..4 {
                    chars.next();
                }
                out += 1;
            }
            Some((_, 'U')) => {
                for _ in 0..8 {
                    chars.next();
                }
                out += 1;
            }
            Some((_, w)) if w.is_whitespace() => {
                // Line-ending backslash: the newline and the following whitespace vanish.
                while chars.peek().is_some_and(|(_, n)| n.is_whitespace()) {
                    chars.next();
                }
            }
            Some(_) => out += 1,
            None => break,
        }
    }
    (span.start + pos + body.len()).min(span.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_offsets_follow_escapes_and_delimiters() {
        let text = "a = \"x\\\"y.z\"\nb = '''\nq.w'''\n";
        let f = SourceFile::new("t.toml", text);
        let s1 = text.find('"').unwrap_or(0);
        let span1 = s1..text.find('\n').unwrap_or(0);
        // decoded `x"y.z`: offset 3 is `.`
        assert_eq!(
            text.get(value_offset(&f, &span1, 3)..).map(|s| &s[..1]),
            Some(".")
        );
        let s2 = text.find("'''").unwrap_or(0);
        let span2 = s2..text.len() - 1;
        assert_eq!(
            text.get(value_offset(&f, &span2, 1)..).map(|s| &s[..1]),
            Some(".")
        );
    }
}
