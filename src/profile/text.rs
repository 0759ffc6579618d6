//! Text normalisation shared by profiles (matching) and extraction (output).
//!
//! Two different normal forms, on purpose:
//! - [`clean`] is what facts carry: Unicode NFC (pages in Windows-1258 arrive decomposed) with
//!   whitespace runs collapsed to one space and trimmed. Nothing else is changed, so a name that
//!   contains markup-looking text keeps it verbatim.
//! - [`fold`] is only for comparing: lower case, diacritics removed (NFD, combining marks dropped,
//!   `đ` → `d`), every run of non-alphanumeric characters turned into one space. Labels such as
//!   "Yêu cầu, điều kiện thực hiện" and "YEU CAU - DIEU KIEN thuc hien" fold to the same text.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// NFC-normalise and collapse whitespace (runs become one space, ends trimmed).
pub fn clean(text: &str) -> String {
    // Most page text is already NFC (UTF-8 pages carry precomposed letters): the quick check,
    // one table lookup per character, then proves the NFC pass would change nothing and it is
    // skipped (it decomposes and recomposes every character: the costliest step of extraction's
    // text handling in profiles). `Maybe`/`No` (e.g. decomposed Windows-1258 text) normalise.
    if unicode_normalization::is_nfc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes
    {
        collapse(text.chars(), text.len())
    } else {
        collapse(text.nfc(), text.len())
    }
}

/// A JSON string's text with its HTML character references decoded, then [`clean`]: APIs
/// often carry their editor's escaping ("To&agrave;n tr&igrave;nh", "M&#7913;c &#273;&#7897;
/// 4"). Markup stays text, as it is for every field (it reaches reports escaped): only
/// references are decoded, by the HTML parser with every `<` escaped first. Text without `&`
/// is only cleaned.
pub fn json_text(text: &str) -> String {
    if !text.contains('&') {
        return clean(text);
    }
    let frag = scraper::Html::parse_fragment(&text.replace('<', "&lt;"));
    let plain: String = frag.root_element().text().collect();
    clean(&plain)
}

fn collapse(chars: impl Iterator<Item = char>, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut pending_space = false;
    for ch in chars {
        // A soft hyphen is an invisible line-break hint inside a word ("toàn\u{ad}trình").
        if ch == '\u{ad}' {
            continue;
        }
        if ch.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(ch);
    }
    out
}

/// Drop diacritics (NFD, combining marks removed, `đ`/`Đ` → `d`/`D`), keep everything else.
/// Case is kept, so the result can also be applied to a regex pattern without changing the
/// meaning of escapes like `\D` or `\S`.
pub fn strip_diacritics(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            other => other,
        })
        .collect()
}

/// The comparison form: diacritics stripped, lower case, non-alphanumeric runs as one space.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for ch in strip_diacritics(text).chars().flat_map(char::to_lowercase) {
        if !ch.is_alphanumeric() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_composes_and_collapses() {
        // "Đăng ký" written decomposed, as Windows-1258 decoding yields it.
        let decomposed = "  \u{110}a\u{306}ng  ky\u{301}\n ";
        assert_eq!(clean(decomposed), "Đăng ký");
        assert_eq!(clean("a\t\n b"), "a b");
        assert_eq!(clean("<b>x</b>"), "<b>x</b>");
        // Precomposed text (the quick-check path) and mixed text give the same NFC result.
        assert_eq!(clean(" Đăng  ký "), "Đăng ký");
        assert_eq!(clean("Đăng ky\u{301}"), "Đăng ký");
        // A singleton decomposition (U+212B ANGSTROM SIGN) is not NFC: quick check says No.
        assert_eq!(clean("\u{212b}"), "\u{c5}");
    }

    #[test]
    fn fold_ignores_case_diacritics_spacing_and_punctuation() {
        assert_eq!(
            fold("Yêu cầu, điều kiện thực hiện"),
            "yeu cau dieu kien thuc hien"
        );
        assert_eq!(
            fold("YÊU CẦU - ĐIỀU KIỆN  thực hiện"),
            "yeu cau dieu kien thuc hien"
        );
        assert_eq!(fold(" Mã thủ tục: "), "ma thu tuc");
        assert_eq!(fold("Mức độ 4"), "muc do 4");
    }

    #[test]
    fn strip_diacritics_keeps_case_and_escapes() {
        assert_eq!(strip_diacritics(r"Mức\s*độ\D"), r"Muc\s*do\D");
    }

    #[test]
    fn json_text_decodes_references_keeps_markup_as_text_and_drops_soft_hyphens() {
        assert_eq!(json_text("To&agrave;n tr&igrave;nh"), "Toàn trình");
        assert_eq!(json_text("M&#7913;c &#273;&#7897; 4"), "Mức độ 4");
        assert_eq!(
            json_text("<b>Tờ khai</b> &amp; bản sao"),
            "<b>Tờ khai</b> & bản sao"
        );
        assert_eq!(json_text("&lt;script&gt;"), "<script>");
        assert_eq!(json_text("to\u{ad}àn trình"), "toàn trình");
        assert_eq!(json_text("a < b & c"), "a < b & c");
        assert_eq!(json_text("  plain   text "), "plain text");
    }
}
