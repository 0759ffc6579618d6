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

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{Html, Selector};

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
