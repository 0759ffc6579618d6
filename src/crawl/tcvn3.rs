//! TCVN3: the Vietnamese font encoding of old government pages and documents (`.VnTime`,
//! `.VnArial`, ... the "ABC" fonts), which no browser and no maintained Rust crate decodes
//! (encoding_rs follows the WHATWG Encoding Standard, which has none; the crates.io crates that
//! know it are input-method engines, not charset decoders). Hence this table, written by hand.
//!
//! **Variant.** TCVN 5712:1993 defines three tables; TCVN3 is its "VN3" subset, the one the ABC
//! fonts implement: the 67 lowercase letters outside ASCII (every vowel with every tone, `đ`) and the seven
//! capitals without a tone (`Ă Â Ê Ô Ơ Ư Đ`) in 0xA1–0xFE, ASCII below 0x80. Capitals with a
//! tone are not in VN3: a page shows them with a second font (`.VnTimeH`) over the lowercase
//! bytes, so they decode as lowercase here, as the bytes say. The positions VN3 leaves out
//! (0x80–0xA0, 0xAF, 0xB0–0xB4, 0xBA, 0xBF, 0xC0–0xC5, 0xCD, 0xD9–0xDB, 0xE0, 0xF0, 0xFF, where
//! VN1 puts toned capitals and combining tone marks) read as windows-1252, which is what a
//! browser hands the font there (`“ ” – …` typed in Word, a `°`); VN1's toned capitals are not
//! guessed. Every character this produces is precomposed, so the text is NFC.
//!
//! Source of the mapping: the TCVN 5712:1993 code table, as the GNU C library's `TCVN5712-1`
//! converter also gives it (its 0xA1–0xFE letters are the table below, byte for byte).
//!
//! Detection ([`detect`]) is for pages that say nothing or say windows-1252: TCVN3 bytes are all
//! letters in windows-1252, so no decoding error ever shows the mistake; the words do.

use unicode_normalization::UnicodeNormalization;

/// The name a decoded page's fetch record carries.
pub const NAME: &str = "TCVN3";

/// Charset labels that mean TCVN3 (compared without case). Real pages seldom declare it (a
/// `.VnTime` page usually says windows-1252, `x-user-defined` or nothing); these are the names
/// other software gives it: libiconv/glibc (`TCVN`, `TCVN-5712`, `TCVN5712-1`,
/// `TCVN5712-1:1993`), old Mozilla and Perl's Encode::VN (`x-viet-tcvn5712`), and the usual
/// spellings of TCVN3.
pub const LABELS: [&str; 11] = [
    "tcvn",
    "tcvn3",
    "tcvn-3",
    "tcvn5712",
    "tcvn-5712",
    "tcvn5712-1",
    "tcvn5712-1:1993",
    "tcvn5712-3",
    "x-viet-tcvn",
    "x-viet-tcvn3",
    "x-viet-tcvn5712",
];

/// Whether a declared charset label means TCVN3.
pub fn is_label(label: &[u8]) -> bool {
    let label = label.trim_ascii();
    LABELS
        .iter()
        .any(|l| l.as_bytes().eq_ignore_ascii_case(label))
}

/// VN3's letters: (byte, character), in the table's order.
const LETTERS: [(u8, char); 74] = [
    (0xA1, 'Ă'),
    (0xA2, 'Â'),
    (0xA3, 'Ê'),
    (0xA4, 'Ô'),
    (0xA5, 'Ơ'),
    (0xA6, 'Ư'),
    (0xA7, 'Đ'),
    (0xA8, 'ă'),
    (0xA9, 'â'),
    (0xAA, 'ê'),
    (0xAB, 'ô'),
    (0xAC, 'ơ'),
    (0xAD, 'ư'),
    (0xAE, 'đ'),
    (0xB5, 'à'),
    (0xB6, 'ả'),
    (0xB7, 'ã'),
    (0xB8, 'á'),
    (0xB9, 'ạ'),
    (0xBB, 'ằ'),
    (0xBC, 'ẳ'),
    (0xBD, 'ẵ'),
    (0xBE, 'ắ'),
    (0xC6, 'ặ'),
    (0xC7, 'ầ'),
    (0xC8, 'ẩ'),
    (0xC9, 'ẫ'),
    (0xCA, 'ấ'),
    (0xCB, 'ậ'),
    (0xCC, 'è'),
    (0xCE, 'ẻ'),
    (0xCF, 'ẽ'),
    (0xD0, 'é'),
    (0xD1, 'ẹ'),
    (0xD2, 'ề'),
    (0xD3, 'ể'),
    (0xD4, 'ễ'),
    (0xD5, 'ế'),
    (0xD6, 'ệ'),
    (0xD7, 'ì'),
    (0xD8, 'ỉ'),
    (0xDC, 'ĩ'),
    (0xDD, 'í'),
    (0xDE, 'ị'),
    (0xDF, 'ò'),
    (0xE1, 'ỏ'),
    (0xE2, 'õ'),
    (0xE3, 'ó'),
    (0xE4, 'ọ'),
    (0xE5, 'ồ'),
    (0xE6, 'ổ'),
    (0xE7, 'ỗ'),
    (0xE8, 'ố'),
    (0xE9, 'ộ'),
    (0xEA, 'ờ'),
    (0xEB, 'ở'),
    (0xEC, 'ỡ'),
    (0xED, 'ớ'),
    (0xEE, 'ợ'),
    (0xEF, 'ù'),
    (0xF1, 'ủ'),
    (0xF2, 'ũ'),
    (0xF3, 'ú'),
    (0xF4, 'ụ'),
    (0xF5, 'ừ'),
    (0xF6, 'ử'),
    (0xF7, 'ữ'),
    (0xF8, 'ứ'),
    (0xF9, 'ự'),
    (0xFA, 'ỳ'),
    (0xFB, 'ỷ'),
    (0xFC, 'ỹ'),
    (0xFD, 'ý'),
    (0xFE, 'ỵ'),
];

/// What each byte reads as: ASCII, VN3's letters, windows-1252 elsewhere.
static TABLE: std::sync::LazyLock<[char; 256]> = std::sync::LazyLock::new(|| {
    let mut t = ['\0'; 256];
    for (b, c) in (0u8..=255).zip(t.iter_mut()) {
        let byte = [b];
        let (s, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&byte);
        *c = s.chars().next().unwrap_or('\u{FFFD}');
    }
    for &(b, c) in &LETTERS {
        if let Some(slot) = t.get_mut(usize::from(b)) {
            *slot = c;
        }
    }
    t
});

fn char_of(b: u8) -> char {
    TABLE.get(usize::from(b)).copied().unwrap_or('\u{FFFD}')
}

/// Decode TCVN3 bytes. Every byte reads as something (see the module's note on the positions
/// VN3 leaves out), and the text is NFC.
pub fn decode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
    out.extend(bytes.iter().map(|&b| char_of(b)));
    out
}

/// Encode text as a TCVN3 page holds it: ASCII, VN3's letters and the windows-1252 characters
/// of the other positions (`“ ” – …`) as bytes, anything else
/// (toned capitals such as `Ủ`, which a real page shows with the `.VnTimeH` font) as an HTML
/// numeric character reference. For the sandbox and tests; the scanner never encodes.
pub fn encode_html(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.nfc() {
        if let Ok(b) = u8::try_from(u32::from(c))
            && b.is_ascii()
        {
            out.push(b);
        } else if let Some(b) = (0x80u8..=0xFF).find(|&b| char_of(b) == c && !is_stray(b)) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes());
        }
    }
    out
}

/// The first `.Vn` font a page names (`<font face=".VnTime">`, `font-family: .VnArial`), as
/// written (at most 24 characters). A `.Vn` name counts only after `font`/`face` within the 48
/// bytes before it and after a quote, comma, colon, `=` or space, so a host such as
/// `www.vnexpress.net` is not one.
pub fn vn_font(bytes: &[u8]) -> Option<String> {
    let mut from = 0;
    while let Some(pos) = bytes
        .get(from..)
        .and_then(|rest| rest.windows(3).position(|w| w.eq_ignore_ascii_case(b".vn")))
    {
        let at = from + pos;
        from = at + 3;
        let before = at.checked_sub(1).and_then(|i| bytes.get(i));
        if !matches!(
            before,
            Some(b'"' | b'\'' | b',' | b':' | b'=' | b' ' | b'\t' | b'\n' | b'\r')
        ) {
            continue;
        }
        let context = bytes.get(at.saturating_sub(48)..at).unwrap_or_default();
        let lower = context.to_ascii_lowercase();
        let near = |w: &[u8]| lower.windows(w.len()).any(|x| x == w);
        if !(near(b"font") || near(b"face")) {
            continue;
        }
        let name_len = bytes
            .get(at + 3..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        if name_len < 3 {
            continue;
        }
        let end = (at + 3 + name_len).min(at + 24);
        return bytes
            .get(at..end)
            .map(|n| String::from_utf8_lossy(n).into_owned());
    }
    None
}

/// How Vietnamese a text reads: of its non-ASCII characters (punctuation and spaces aside),
/// how many sit in words that are Vietnamese syllables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Score {
    /// Non-ASCII characters in Vietnamese syllables.
    pub in_syllables: usize,
    /// Non-ASCII characters counted.
    pub counted: usize,
}

impl Score {
    /// The share in percent (0 when nothing was counted).
    pub fn percent(self) -> usize {
        (self.in_syllables * 100)
            .checked_div(self.counted)
            .unwrap_or_default()
    }
}

/// Characters a text holds in every charset alike, so they say nothing: spaces and general
/// punctuation (`“ ” – … •`).
fn neutral(c: char) -> bool {
    c.is_whitespace() || ('\u{2000}'..='\u{206F}').contains(&c)
}

/// Score a text (see [`Score`]). Words are runs of letters and combining marks, so a page in
/// Windows-1258 (tone marks as combining characters) is scored as fairly as a precomposed one.
pub fn score(text: &str) -> Score {
    let mut s = Score::default();
    let mut word_start: Option<usize> = None;
    let close = |word: &str, s: &mut Score| {
        let n = word.chars().filter(|c| !c.is_ascii()).count();
        if n > 0 {
            s.counted += n;
            if is_syllable(word) {
                s.in_syllables += n;
            }
        }
    };
    for (i, c) in text.char_indices() {
        let in_word = c.is_alphabetic() || unicode_normalization::char::is_combining_mark(c);
        match (in_word, word_start) {
            (true, None) => word_start = Some(i),
            (false, Some(st)) => {
                close(text.get(st..i).unwrap_or_default(), &mut s);
                word_start = None;
            }
            _ => {}
        }
        if !in_word && !c.is_ascii() && !neutral(c) {
            s.counted += 1;
        }
    }
    if let Some(st) = word_start {
        close(text.get(st..).unwrap_or_default(), &mut s);
    }
    s
}

const TONES: [char; 5] = ['\u{300}', '\u{301}', '\u{303}', '\u{309}', '\u{323}'];
const ALPHABET: &str = "abcdđeghiklmnopqrstuvxyăâêôơư";
const VOWELS: &str = "aăâeêioôơuưy";
/// Initial consonants, longest first.
const ONSETS: [&str; 28] = [
    "ngh", "ch", "gh", "gi", "kh", "ng", "nh", "ph", "qu", "th", "tr", "b", "c", "d", "đ", "g",
    "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", "",
];
/// Vowel nuclei (with their glides), without tone.
const NUCLEI: [&str; 55] = [
    "a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "ai", "ao", "au", "ay", "âu", "ây",
    "eo", "êu", "ia", "iê", "iu", "oa", "oă", "oe", "oi", "ôi", "ơi", "oo", "ua", "uâ", "uê", "ui",
    "uô", "uơ", "uy", "ưa", "ưi", "ươ", "ưu", "yê", "iêu", "oai", "oay", "oeo", "uây", "uôi",
    "uya", "uyê", "uyu", "ươi", "ươu", "yêu", "oao",
];
/// Final consonants.
const CODAS: [&str; 9] = ["", "c", "ch", "m", "n", "ng", "nh", "p", "t"];

/// Whether a word is one Vietnamese syllable: Vietnamese letters only, at most one tone, an
/// initial consonant, a vowel nucleus and a final consonant that Vietnamese spelling allows.
fn is_syllable(word: &str) -> bool {
    let mut tones = 0;
    let mut bare = String::with_capacity(word.len());
    for c in word.chars().flat_map(char::to_lowercase).nfd() {
        if TONES.contains(&c) {
            tones += 1;
        } else {
            bare.push(c);
        }
    }
    if tones > 1 {
        return false;
    }
    let bare: String = bare.nfc().collect();
    if bare.chars().count() > 7 || !bare.chars().all(|c| ALPHABET.contains(c)) {
        return false;
    }
    ONSETS.iter().any(|onset| {
        let Some(rest) = bare.strip_prefix(onset) else {
            return false;
        };
        let split = rest
            .char_indices()
            .find(|(_, c)| !VOWELS.contains(*c))
            .map_or(rest.len(), |(i, _)| i);
        let (nucleus, coda) = rest.split_at(split);
        NUCLEI.contains(&nucleus) && CODAS.contains(&coda)
    })
}

/// A byte no TCVN3 text holds: C0 controls other than whitespace, DEL, and the five bytes
/// windows-1252 leaves undefined (they read as C1 controls).
fn is_stray(b: u8) -> bool {
    (b < b' ' && !matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r'))
        || matches!(b, 0x7F | 0x81 | 0x8D | 0x8F | 0x90 | 0x9D)
}

/// At most this much of a body is scored.
pub const SCORE_MAX_BYTES: usize = 256 * 1024;

/// Why a page is taken for TCVN3 (what its fetch record says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The `.Vn` font the page names, if any.
    pub font: Option<String>,
    /// The text read as TCVN3.
    pub tcvn3: Score,
    /// The best of the other readings: charset name and score.
    pub other: (&'static str, Score),
}

impl std::fmt::Display for Detection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(font) = &self.font {
            write!(f, "{font} font; ")?;
        }
        write!(
            f,
            "{}% of {} letters in Vietnamese words, {}% as {}",
            self.tcvn3.percent(),
            self.tcvn3.counted,
            self.other.1.percent(),
            self.other.0
        )
    }
}

/// With a `.Vn` font named: at least this many non-ASCII characters scored...
const FONT_MIN_COUNTED: usize = 8;
/// ...at least this share as TCVN3...
const FONT_MIN_PERCENT: usize = 75;
/// ...and this many points above every other reading.
const FONT_MIN_MARGIN: usize = 25;
/// Without a font: at least this many non-ASCII characters...
const BARE_MIN_COUNTED: usize = 40;
/// ...at least this share as TCVN3...
const BARE_MIN_PERCENT: usize = 90;
/// ...and no other reading above this share.
const BARE_MAX_OTHER: usize = 50;

/// Whether `bytes` are TCVN3 rather than any of `others` (the single-byte charsets the page
/// declared or detection guessed; windows-1252 and windows-1258 are always compared). TCVN3
/// must read as Vietnamese syllables where the others do not: with a `.Vn` font named, 75% of
/// the non-ASCII letters in syllables and 25 points above every other reading; without one,
/// 90% of at least 40 letters, every other reading at most 50%. Control bytes (C0 other than
/// whitespace, DEL, the five bytes windows-1252 leaves undefined) rule TCVN3 out.
pub fn detect(bytes: &[u8], others: &[&'static encoding_rs::Encoding]) -> Option<Detection> {
    let head = bytes.get(..SCORE_MAX_BYTES).unwrap_or(bytes);
    if head.is_ascii() {
        return None;
    }
    if head.iter().any(|&b| is_stray(b)) {
        return None;
    }
    let tcvn3 = score(&decode(head));
    let font = vn_font(head);
    let (min_counted, min_percent) = if font.is_some() {
        (FONT_MIN_COUNTED, FONT_MIN_PERCENT)
    } else {
        (BARE_MIN_COUNTED, BARE_MIN_PERCENT)
    };
    if tcvn3.counted < min_counted || tcvn3.percent() < min_percent {
        return None;
    }
    let compared = [encoding_rs::WINDOWS_1252, encoding_rs::WINDOWS_1258];
    let other = compared
        .iter()
        .chain(others)
        .map(|enc| {
            let (text, _) = enc.decode_without_bom_handling(head);
            (enc.name(), score(&text))
        })
        .max_by_key(|(_, s)| s.percent())
        .unwrap_or(("windows-1252", Score::default()));
    let beaten = if font.is_some() {
        tcvn3.percent() >= other.1.percent() + FONT_MIN_MARGIN
    } else {
        other.1.percent() <= BARE_MAX_OTHER
    };
    beaten.then_some(Detection { font, tcvn3, other })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Vietnamese letters in alphabetical order (each vowel: bare, grave, acute, hook,
    /// tilde, dot below), then VN3's capitals, and their TCVN3 bytes as the standard's table
    /// lists them: written out apart from `LETTERS`, so a slip in one shows against the other.
    const ORDERED: &str =
        "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĂÂĐÊÔƠƯ";
    const ORDERED_BYTES: [u8; 74] = [
        0xB5, 0xB8, 0xB6, 0xB7, 0xB9, // a
        0xA8, 0xBB, 0xBE, 0xBC, 0xBD, 0xC6, // ă
        0xA9, 0xC7, 0xCA, 0xC8, 0xC9, 0xCB, // â
        0xAE, // đ
        0xCC, 0xD0, 0xCE, 0xCF, 0xD1, // e
        0xAA, 0xD2, 0xD5, 0xD3, 0xD4, 0xD6, // ê
        0xD7, 0xDD, 0xD8, 0xDC, 0xDE, // i
        0xDF, 0xE3, 0xE1, 0xE2, 0xE4, // o
        0xAB, 0xE5, 0xE8, 0xE6, 0xE7, 0xE9, // ô
        0xAC, 0xEA, 0xED, 0xEB, 0xEC, 0xEE, // ơ
        0xEF, 0xF3, 0xF1, 0xF2, 0xF4, // u
        0xAD, 0xF5, 0xF8, 0xF6, 0xF7, 0xF9, // ư
        0xFA, 0xFD, 0xFB, 0xFC, 0xFE, // y
        0xA1, 0xA2, 0xA7, 0xA3, 0xA4, 0xA5, 0xA6, // Ă Â Đ Ê Ô Ơ Ư
    ];

    /// Every lowercase Vietnamese letter outside ASCII: 12 vowels with 5 tones, the 6 shaped
    /// vowels bare, and đ.
    fn vietnamese_lowercase() -> Vec<char> {
        let mut out = vec!['đ'];
        for v in VOWELS.chars() {
            if !v.is_ascii() {
                out.push(v);
            }
            for t in TONES {
                let c: String = [v, t].iter().collect::<String>().nfc().collect();
                let mut it = c.chars();
                let (Some(one), None) = (it.next(), it.next()) else {
                    panic!("{v} + {t:?} composes");
                };
                out.push(one);
            }
        }
        out
    }

    #[test]
    fn the_table_is_tcvn_5712_vn3() {
        assert_eq!(decode(&ORDERED_BYTES), ORDERED);
        assert_eq!(encode_html(ORDERED), ORDERED_BYTES);
        let letters = vietnamese_lowercase();
        assert_eq!(letters.len(), 67);
        for c in &letters {
            assert!(LETTERS.iter().any(|(_, l)| l == c), "{c} in the table");
        }
        // 74 distinct bytes for 74 distinct letters, all in 0xA1–0xFE.
        let mut bytes: Vec<u8> = LETTERS.iter().map(|(b, _)| *b).collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 74);
        assert!(bytes.iter().all(|b| (0xA1..=0xFE).contains(b)));
        let mut chars: Vec<char> = LETTERS.iter().map(|(_, c)| *c).collect();
        chars.sort_unstable();
        chars.dedup();
        assert_eq!(chars.len(), 74);
    }

    #[test]
    fn every_byte_reads_as_one_nfc_character() {
        let all: Vec<u8> = (0u8..=255).collect();
        let text = decode(&all);
        assert_eq!(text.chars().count(), 256);
        assert!(unicode_normalization::is_nfc(&text));
        assert_eq!(decode(b"<a href=\"x\">"), "<a href=\"x\">");
        // Positions VN3 leaves out read as windows-1252.
        for b in [0x80u8, 0x93, 0x94, 0x96, 0xA0, 0xB0, 0xC0, 0xFF] {
            let byte = [b];
            let (w, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&byte);
            assert_eq!(decode(&byte), w, "{b:#x}");
        }
    }

    #[test]
    fn vietnamese_round_trips() {
        let text = "Đăng ký thường trú. Mức độ 4: dịch vụ công trực tuyến toàn trình; \
            Ăn uống, Âm nhạc, Ê-đê, Ô tô, Ơn, Ưu tiên. nghiêng ngoẹo khuya quốc “hồ sơ” – …";
        let bytes = encode_html(text);
        assert!(!bytes.windows(2).any(|w| w == b"&#"), "all in VN3");
        assert_eq!(decode(&bytes), text);
        assert!(std::str::from_utf8(&bytes).is_err());
        // Every letter alone, both ways.
        for c in vietnamese_lowercase() {
            let s = c.to_string();
            assert_eq!(decode(&encode_html(&s)), s);
            assert_eq!(encode_html(&s).len(), 1, "{c}");
        }
        // Decomposed input is encoded as its NFC.
        let nfd: String = text.nfd().collect();
        assert_eq!(encode_html(&nfd), bytes);
    }

    #[test]
    fn toned_capitals_are_not_in_vn3_and_become_references() {
        assert_eq!(encode_html("Ủy ban"), b"&#7910;y ban");
        assert_eq!(encode_html("Ấp"), b"&#7844;p");
        // "Mức độ 4" is M, ứ (0xF8), c, space, đ (0xAE), ộ (0xE9), space, 4.
        assert_eq!(encode_html("Mức độ 4"), b"M\xF8c \xAE\xE9 4");
    }

    #[test]
    fn labels() {
        for l in [
            "tcvn",
            "TCVN3",
            " tcvn-3 ",
            "TCVN5712-1",
            "x-viet-tcvn5712",
            "tcvn5712-1:1993",
        ] {
            assert!(is_label(l.as_bytes()), "{l}");
        }
        for l in ["windows-1258", "viscii", "utf-8", "vni", "tcvn4", ""] {
            assert!(!is_label(l.as_bytes()), "{l}");
        }
        // None of them is a WHATWG label, so encoding_rs never takes them first.
        for l in LABELS {
            assert!(
                encoding_rs::Encoding::for_label(l.as_bytes()).is_none(),
                "{l}"
            );
        }
    }

    #[test]
    fn vn_fonts_named_in_markup_and_css() {
        assert_eq!(
            vn_font(b"<font face=\".VnTime\" size=3>").as_deref(),
            Some(".VnTime")
        );
        assert_eq!(
            vn_font(b"<p style='font-family: .VnArial, sans-serif'>").as_deref(),
            Some(".VnArial")
        );
        assert_eq!(
            vn_font(b"td { font-family: Arial,.VnTimeH; }").as_deref(),
            Some(".VnTimeH")
        );
        assert_eq!(
            vn_font(b"<font face='.vntime'>").as_deref(),
            Some(".vntime")
        );
        // Hosts and text are not fonts.
        assert_eq!(
            vn_font(b"<a href=\"https://www.vnexpress.net\">font</a>"),
            None
        );
        assert_eq!(vn_font(b"<p>Xem tai dichvucong.gov.vn, font chu</p>"), None);
        assert_eq!(vn_font("<p>tên miền .vnnic ở đây</p>".as_bytes()), None);
        assert_eq!(vn_font(b"<font face=\".Vn\">"), None);
    }

    #[test]
    fn syllables() {
        for w in [
            "Mức",
            "độ",
            "đăng",
            "ký",
            "thường",
            "trú",
            "nghiêng",
            "khuya",
            "quốc",
            "giấy",
            "gì",
            "người",
            "được",
            "chuyển",
            "Việt",
            "hoặc",
            "thuở",
            "ĐĂNG",
            "Ủy",
            "điều",
            "yêu",
            "xã",
        ] {
            assert!(is_syllable(w), "{w}");
            let nfd: String = w.nfd().collect();
            assert!(is_syllable(&nfd), "{w} decomposed");
        }
        // Two tones, foreign letters, impossible clusters: what a wrong charset makes.
        for w in [
            "thýừèng",
            "Muũc",
            "cafộ",
            "ộtộ",
            "Mø",
            "franỗais",
            "hå",
            "kyỡ",
            "strú",
            "aprốs",
        ] {
            assert!(!is_syllable(w), "{w}");
        }
    }

    /// A page as a `.VnTime` site served it: TCVN3 bytes, windows-1252 declared.
    fn tcvn3_page(font: bool) -> Vec<u8> {
        let face = if font { " face=\".VnTime\"" } else { "" };
        let mut page = format!(
            "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; \
             charset=windows-1252\"></head><body><font{face}>"
        )
        .into_bytes();
        page.extend(encode_html(SAMPLE));
        page.extend_from_slice(b"</font></body></html>");
        page
    }

    const SAMPLE: &str = "<h4>Đăng ký thường trú</h4><div>Mức độ cung cấp dịch vụ công trực \
        tuyến</div><div>Dịch vụ công trực tuyến toàn trình</div><p>Thành phần hồ sơ: Tờ khai \
        thay đổi thông tin cư trú; giấy tờ chứng minh chỗ ở hợp pháp. Yêu cầu, điều kiện \
        thực hiện: Không.</p>";

    #[test]
    fn tcvn3_pages_are_detected_with_or_without_a_font() {
        for font in [true, false] {
            let page = tcvn3_page(font);
            let d = detect(&page, &[encoding_rs::WINDOWS_1252])
                .unwrap_or_else(|| panic!("font {font}: detected"));
            assert_eq!(d.font.is_some(), font);
            assert!(d.tcvn3.percent() >= 95, "{d}");
            assert!(d.other.1.percent() <= 50, "{d}");
            assert!(d.tcvn3.counted >= 40, "{d}");
        }
        // A level label alone is too little to go on without a font, enough with one.
        let short = encode_html("<td>Mức độ 4 - Dịch vụ công trực tuyến</td>");
        assert!(detect(&short, &[]).is_none());
        let mut with_font = b"<font face=\".VnTime\">".to_vec();
        with_font.extend(&short);
        assert!(detect(&with_font, &[]).is_some());
    }

    #[test]
    fn windows_1258_1252_and_utf8_pages_are_not_tcvn3() {
        use encoding_rs::{WINDOWS_1252, WINDOWS_1258};
        // Windows-1258 as pages hold it (tone marks combining), even naming a .Vn font.
        let mut decomposed = String::new();
        for c in SAMPLE.chars() {
            let d: String = c.to_string().nfd().collect();
            let mut parts = d.chars();
            let mut base = parts.next().unwrap_or(c);
            let mut tones = String::new();
            for m in parts {
                match unicode_normalization::char::compose(base, m) {
                    Some(b) if ['\u{302}', '\u{306}', '\u{31b}'].contains(&m) => base = b,
                    _ => tones.push(m),
                }
            }
            decomposed.push(base);
            decomposed.push_str(&tones);
        }
        let (w1258, _, bad) = WINDOWS_1258.encode(&decomposed);
        assert!(!bad);
        let mut page = b"<style>body { font-family: Tahoma, .VnTime }</style>".to_vec();
        page.extend_from_slice(&w1258);
        assert!(detect(&page, &[WINDOWS_1258]).is_none());
        assert!(detect(&w1258, &[WINDOWS_1252]).is_none());
        assert!(score(&WINDOWS_1258.decode(&w1258).0).percent() >= 95);

        // French and English in windows-1252, with and without a .Vn font.
        let french = "<p>L'été dernier, nous sommes allés à Paris voir le musée; déjà très \
            fréquenté, le café était complet. Après la visite, une crêpe à la crème et un thé \
            glacé. Où êtes-vous né ? À bientôt, chère amie, répondez-moi s'il vous plaît.</p>";
        let (fr, _, bad) = WINDOWS_1252.encode(french);
        assert!(!bad);
        for prefix in [&b""[..], b"<font face=\".VnTime\">"] {
            let mut page = prefix.to_vec();
            page.extend_from_slice(&fr);
            assert!(detect(&page, &[WINDOWS_1252]).is_none());
        }
        let english = "<p>Copyright © 2009 – all rights reserved. “Online public services” \
            café résumé naïve façade</p>";
        let (en, _, _) = WINDOWS_1252.encode(english);
        let mut page = b"<font face=\".VnArial\">".to_vec();
        page.extend_from_slice(&en);
        assert!(detect(&page, &[WINDOWS_1252]).is_none());

        // UTF-8 bytes read as TCVN3 are not Vietnamese either.
        assert!(detect(SAMPLE.as_bytes(), &[]).is_none());
        let mut page = b"<font face=\".VnTime\">".to_vec();
        page.extend_from_slice(SAMPLE.as_bytes());
        assert!(detect(&page, &[]).is_none());
    }
}
