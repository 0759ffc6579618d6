//! Reading text out of parsed HTML.

use scraper::{ElementRef, Node};

use super::limits::MAX_TEXT_DEPTH;
use crate::profile::text::clean;

/// Elements whose content is not text a reader sees.
const SKIP: [&str; 5] = ["script", "style", "noscript", "template", "head"];

/// Elements that separate words (so `<li>a</li><li>b</li>` reads "a b", while inline
/// `<b>Đ</b>ăng` stays one word).
const BLOCK: [&str; 24] = [
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "ol",
    "p",
    "section",
    "table",
    "ul",
];

fn is_block(name: &str) -> bool {
    BLOCK.contains(&name) || matches!(name, "tr" | "td" | "th" | "tbody" | "thead" | "option")
}

/// The visible text of an element: script/style skipped, block boundaries as spaces, NFC,
/// whitespace collapsed, at most `max_chars` characters. Deeper than [`MAX_TEXT_DEPTH`]
/// levels is ignored (hand-written walk because `ElementRef::text` neither skips scripts nor
/// separates blocks).
pub fn element_text(el: ElementRef<'_>, max_chars: usize) -> String {
    let mut raw = String::new();
    let budget = max_chars.saturating_mul(4).saturating_add(64);
    walk(el, 0, &mut raw, budget);
    let cleaned = clean(&raw);
    if cleaned.chars().count() > max_chars {
        cleaned.chars().take(max_chars).collect()
    } else {
        cleaned
    }
}

fn walk(el: ElementRef<'_>, depth: usize, out: &mut String, budget: usize) {
    if depth > MAX_TEXT_DEPTH || out.len() >= budget {
        return;
    }
    for child in el.children() {
        if out.len() >= budget {
            return;
        }
        match child.value() {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                if SKIP.contains(&name) {
                    continue;
                }
                let block = is_block(name);
                if block {
                    out.push(' ');
                }
                if let Some(child_el) = ElementRef::wrap(child) {
                    walk(child_el, depth + 1, out, budget);
                }
                if block {
                    out.push(' ');
                }
            }
            _ => {}
        }
    }
}

/// `max` characters of context either side of `range` in `text`, cleaned.
pub fn context(text: &str, range: std::ops::Range<usize>, max: usize) -> String {
    let start = floor_boundary(text, range.start);
    let end = floor_boundary(text, range.end);
    let before: String = {
        let mut v: Vec<char> = text[..start].chars().rev().take(max).collect();
        v.reverse();
        v.into_iter().collect()
    };
    let after: String = text[end..].chars().take(max).collect();
    clean(&format!("{before}{}{after}", &text[start..end]))
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A non-negative integer in a text such as "trên 1.234 bản ghi" (digits only, separators
/// ignored, the first run of digits and separators).
pub fn parse_count(text: &str) -> Option<i64> {
    let mut digits = String::new();
    let mut started = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            started = true;
            digits.push(c);
        } else if started && matches!(c, '.' | ',' | ' ' | '\u{a0}') {
            continue;
        } else if started {
            break;
        }
        if digits.len() > 15 {
            return None;
        }
    }
    digits.parse().ok()
}

/// Elements that never have content.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];
/// Elements whose end tag may be omitted (the parser closes them implicitly): they are not
/// counted as nesting, so sloppy but common markup (`<p>`s or `<li>`s never closed) passes.
const OPTIONAL_END: [&str; 16] = [
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "tbody", "thead", "tfoot",
    "colgroup", "rb", "rt", "rp",
];
/// Elements whose content is raw text up to their end tag.
const RAW_TEXT: [&str; 6] = ["script", "style", "textarea", "title", "xmp", "noscript"];

/// A linear pre-scan of an HTML page before it is parsed: `Err` (a message for the
/// could-not-assess record) when its element nesting exceeds [`MAX_HTML_DEPTH`] or it has more
/// than [`MAX_HTML_ELEMENTS`] elements. The parser (html5ever) costs depth × elements on such
/// pages; this scan is one pass over the bytes with no allocation beyond a tag name.
///
/// [`MAX_HTML_DEPTH`]: super::limits::MAX_HTML_DEPTH
/// [`MAX_HTML_ELEMENTS`]: super::limits::MAX_HTML_ELEMENTS
pub fn check_shape(body: &str) -> Result<(), String> {
    use super::limits::{MAX_HTML_DEPTH, MAX_HTML_ELEMENTS};
    let b = body.as_bytes();
    let find = |from: usize, needle: &[u8]| -> usize {
        b.get(from..)
            .and_then(|rest| {
                rest.windows(needle.len())
                    .position(|w| w.eq_ignore_ascii_case(needle))
            })
            .map_or(b.len(), |i| from + i)
    };
    let mut depth: usize = 0;
    let mut elements: usize = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'!') => {
                i = if b.get(i + 2..i + 4) == Some(b"--") {
                    find(i + 4, b"-->") + 3
                } else {
                    find(i + 2, b">") + 1
                };
            }
            Some(b'/') => {
                let (name, end) = tag_name(b, i + 2);
                if !name.is_empty() && !is_one_of(&name, &VOID) && !is_one_of(&name, &OPTIONAL_END)
                {
                    depth = depth.saturating_sub(1);
                }
                i = find(end, b">") + 1;
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let (name, mut j) = tag_name(b, i + 1);
                // To the end of the tag, skipping quoted attribute values.
                let mut quote = None;
                let mut self_closing = false;
                while j < b.len() {
                    let c = b[j];
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => {}
                        None if c == b'"' || c == b'\'' => quote = Some(c),
                        None if c == b'>' => {
                            self_closing = j > 0 && b[j - 1] == b'/';
                            break;
                        }
                        None => {}
                    }
                    j += 1;
                }
                elements += 1;
                if elements > MAX_HTML_ELEMENTS {
                    return Err(format!(
                        "the page has more than {MAX_HTML_ELEMENTS} HTML elements; not parsed"
                    ));
                }
                i = j + 1;
                if is_one_of(&name, &RAW_TEXT) {
                    let mut close = Vec::with_capacity(name.len() + 2);
                    close.extend_from_slice(b"</");
                    close.extend_from_slice(name.as_bytes());
                    i = find(i, &close);
                    continue;
                }
                if !self_closing && !is_one_of(&name, &VOID) && !is_one_of(&name, &OPTIONAL_END) {
                    depth += 1;
                    if depth > MAX_HTML_DEPTH {
                        return Err(format!(
                            "HTML elements nested deeper than {MAX_HTML_DEPTH}; not parsed"
                        ));
                    }
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The lower-cased tag name starting at `from` (bounded) and the index after it.
fn tag_name(b: &[u8], from: usize) -> (String, usize) {
    let mut j = from;
    let mut name = String::new();
    while let Some(&c) = b.get(j) {
        if c.is_ascii_alphanumeric() || c == b'-' || c == b':' {
            if name.len() < 32 {
                name.push(c.to_ascii_lowercase() as char);
            }
            j += 1;
        } else {
            break;
        }
    }
    (name, j)
}

fn is_one_of(name: &str, set: &[&str]) -> bool {
    set.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{Html, Selector};

    #[test]
    fn deep_or_huge_pages_are_refused_before_parsing() {
        let deep = format!(
            "<html><body>{}x{}</body></html>",
            "<div>".repeat(200_000),
            "</div>".repeat(200_000)
        );
        let e = check_shape(&deep).expect_err("too deep");
        assert!(e.contains("nested deeper than 512"), "{e}");
        let flat = format!("<ul>{}</ul>", "<li><a href=x>a</a>".repeat(300_000));
        assert!(
            check_shape(&flat)
                .expect_err("too many")
                .contains("more than")
        );
        // Ordinary sloppy markup passes: unclosed p/li/td, void elements, comments, scripts
        // with tags inside, quoted `>` in attributes.
        let ok = format!(
            "<!doctype html><html><head><meta charset=utf-8><script>if (a<b) {{ document.write('<div><div>') }}</script></head><body>{}<table>{}</table><!-- <div><div> --><a title=\"x>y\">k</a><br/></body></html>",
            "<p>para".repeat(2_000),
            "<tr><td>a<td>b".repeat(2_000)
        );
        assert_eq!(check_shape(&ok), Ok(()));
        let at_limit = format!("{}{}", "<div>".repeat(512), "</div>".repeat(512));
        assert_eq!(check_shape(&at_limit), Ok(()));
        let over = format!("{}{}", "<div>".repeat(513), "</div>".repeat(513));
        assert!(check_shape(&over).is_err());
    }

    #[test]
    fn text_skips_scripts_and_separates_blocks() {
        let doc = Html::parse_fragment(
            "<div id=x><b>Đ</b>ăng <script>alert(1)</script><ul><li>a</li><li>b</li></ul></div>",
        );
        let sel = Selector::parse("#x").expect("selector");
        let el = doc.select(&sel).next().expect("element");
        assert_eq!(element_text(el, 100), "Đăng a b");
        assert_eq!(element_text(el, 3), "Đăn");
    }

    #[test]
    fn counts_and_context() {
        assert_eq!(parse_count(" 1.234 bản ghi"), Some(1234));
        assert_eq!(parse_count("trên 11 bản ghi"), Some(11));
        assert_eq!(parse_count("không có"), None);
        let t = "aaaa ký số bbbb";
        let i = t.find("ký").unwrap_or(0);
        assert_eq!(context(t, i..i + 3, 2), "a ký s");
    }
}
