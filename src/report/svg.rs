//! Inline SVG charts drawn from numbers only.
//!
//! The HTML template inserts these strings unescaped, so they must never contain portal text:
//! the functions take numbers (clamped, non-finite values dropped) and labels from our own
//! translation table, which are XML-escaped anyway as a second guard.

use std::fmt::Write;

/// XML-escape our own label text before it goes into an SVG.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn clamp01(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Colour for a compliance share: green only when complete (exactly 100 %: every service),
/// amber from 80 %, red below.
fn share_colour(share: f64) -> &'static str {
    if share >= 1.0 {
        "#1a7f37"
    } else if share >= 0.8 {
        "#b7791f"
    } else {
        "#c53030"
    }
}

/// An upper estimate of the width of `text` in a sans-serif font of `font_px` pixels.
///
/// SVG cannot size a box to its text, so the box is sized from this. Per character, in ems:
/// wide letters (m, w, M, W, %) 0.95, other capitals 0.75, narrow ones (i, l, j, t, f, r, I, space,
/// punctuation) 0.4, everything else (digits, lower case with or without Vietnamese diacritics,
/// which sit above or below the letter and add no width) 0.62. Generous on purpose: a label
/// cut off ("Không có dí") is worse than some blank space.
pub fn text_width(text: &str, font_px: f64) -> f64 {
    let ems: f64 = text
        .chars()
        .map(|c| {
            // The base letter of a precomposed Vietnamese letter (ữ → u) decides its width.
            let base = unicode_base(c);
            match base {
                'm' | 'w' | 'M' | 'W' | '%' | '@' => 0.95,
                'i' | 'l' | 'j' | 't' | 'f' | 'r' | 'I' | ' ' | '.' | ',' | ':' | ';' | '\''
                | '!' | '|' | '(' | ')' => 0.4,
                c if c.is_uppercase() => 0.75,
                _ => 0.62,
            }
        })
        .sum();
    ems * font_px
}

/// The unaccented letter of a Vietnamese letter (`ữ` → `u`, `Đ` → `D`); other characters as is.
fn unicode_base(c: char) -> char {
    const GROUPS: [(&str, char); 14] = [
        ("àáảãạăằắẳẵặâầấẩẫậ", 'a'),
        ("ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ", 'A'),
        ("èéẻẽẹêềếểễệ", 'e'),
        ("ÈÉẺẼẸÊỀẾỂỄỆ", 'E'),
        ("ìíỉĩị", 'i'),
        ("ÌÍỈĨỊ", 'I'),
        ("òóỏõọôồốổỗộơờớởỡợ", 'o'),
        ("ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ", 'O'),
        ("ùúủũụưừứửữự", 'u'),
        ("ÙÚỦŨỤƯỪỨỬỮỰ", 'U'),
        ("ỳýỷỹỵ", 'y'),
        ("ỲÝỶỸỴ", 'Y'),
        ("đ", 'd'),
        ("Đ", 'D'),
    ];
    GROUPS
        .iter()
        .find(|(g, _)| g.contains(c))
        .map_or(c, |(_, b)| *b)
}

/// Where the label beside a share bar starts, and its font size.
const BAR_W: f64 = 220.0;
const LABEL_X: f64 = 228.0;
const LABEL_PX: f64 = 12.0;

/// Width of a share bar's SVG with `label` beside the bar: at least 300, more for a long label.
pub fn bar_width(label: &str) -> f64 {
    (LABEL_X + text_width(label, LABEL_PX) + 4.0)
        .max(300.0)
        .ceil()
}

/// A horizontal bar for a share in [0, 1] (`None`: no data, drawn as an empty grey bar),
/// with the percentage (or the "no data" label) written beside it; the SVG is as wide as the
/// label needs.
pub fn share_bar(share: Option<f64>, title: &str, no_data: &str) -> String {
    let (label, colour) = match share {
        Some(x) => (super::summary::share_pct(clamp01(x), 1), "#1a202c"),
        None => (no_data.to_string(), "#718096"),
    };
    let width = bar_width(&label);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="bar" xmlns="http://www.w3.org/2000/svg" width="{width}" height="18" viewBox="0 0 {width} 18" role="img" aria-label="{t}"><title>{t}</title><rect x="0" y="3" width="{BAR_W}" height="12" rx="3" fill="#e2e8f0"/>"##,
        t = esc(title)
    );
    if let Some(x) = share {
        let x = clamp01(x);
        let _ = write!(
            s,
            r##"<rect x="0" y="3" width="{:.1}" height="12" rx="3" fill="{}"/>"##,
            BAR_W * x,
            share_colour(x),
        );
    }
    let _ = write!(
        s,
        r##"<text x="{LABEL_X}" y="14" font-size="{LABEL_PX}" font-family="sans-serif" fill="{colour}">{}</text>"##,
        esc(&label)
    );
    s.push_str("</svg>");
    s
}

/// A sparkline of counts over runs (oldest first); `None` is a run that measured nothing (an
/// outage, a sample): a gap in the line, never a drop to 0. Consecutive measured points are
/// joined; a measured point between gaps and the last measured point get a dot. No measured
/// point draws an empty frame.
pub fn sparkline(values: &[Option<i64>], title: &str) -> String {
    const W: f64 = 160.0;
    const H: f64 = 32.0;
    const PAD: f64 = 3.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{t}"><title>{t}</title><rect x="0" y="0" width="{W}" height="{H}" rx="3" fill="#f7fafc"/>"##,
        t = esc(title)
    );
    let vals: Vec<Option<f64>> = values.iter().map(|v| v.map(|v| v.max(0) as f64)).collect();
    let max = vals
        .iter()
        .flatten()
        .cloned()
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = vals.len();
    let point = |i: usize, v: f64| -> (f64, f64) {
        let x = if n <= 1 {
            W / 2.0
        } else {
            PAD + (W - 2.0 * PAD) * i as f64 / (n - 1) as f64
        };
        let y = H - PAD - (H - 2.0 * PAD) * (v / max);
        (x, y)
    };
    // Segments between consecutive measured points; the pen lifts over an unmeasured run.
    let mut path = String::new();
    let mut pen_down = false;
    for (i, v) in vals.iter().enumerate() {
        match v {
            Some(v) => {
                let (x, y) = point(i, *v);
                let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if path.contains('L') {
        let _ = write!(
            s,
            r##"<path d="{}" fill="none" stroke="#2b6cb0" stroke-width="1.5"/>"##,
            path.trim_end()
        );
    }
    let last = vals.iter().rposition(Option::is_some);
    for (i, v) in vals.iter().enumerate() {
        let Some(v) = v else { continue };
        let alone =
            (i == 0 || vals[i - 1].is_none()) && vals.get(i + 1).is_none_or(Option::is_none);
        if Some(i) == last || alone {
            let (x, y) = point(i, *v);
            let r = if Some(i) == last { 2.5 } else { 1.5 };
            let _ = write!(
                s,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="#2b6cb0"/>"##
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_clamp_and_escape() {
        let s = share_bar(Some(7.0), "<x>", "-");
        assert!(s.contains("100.0%"));
        assert!(s.contains("&lt;x&gt;") && !s.contains("<x>"));
        let s = share_bar(Some(f64::NAN), "t", "-");
        assert!(s.contains("0.0%"));
        assert!(share_bar(None, "t", "không có").contains("không có"));
    }

    /// The declared width of an SVG (its `viewBox` is the same).
    fn width_of(svg: &str) -> f64 {
        let w = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|w| w.parse().ok())
            .unwrap_or(0.0);
        assert!(svg.contains(&format!("width=\"{w}\"")), "{svg}");
        w
    }

    #[test]
    fn the_no_data_label_fits_its_box_in_both_languages() {
        for label in [
            "Không có dữ liệu",
            "No data",
            "Chưa đánh giá được",
            "100.0%",
        ] {
            let svg = share_bar(None, "t", label);
            let room = width_of(&svg) - LABEL_X;
            assert!(room >= text_width(label, LABEL_PX), "{label}: {room}");
            assert!(svg.contains(label));
        }
        // The label that was cut off ("Không có dí") gets more room than the old 72 px.
        assert!(width_of(&share_bar(None, "t", "Không có dữ liệu")) - LABEL_X > 100.0);
        assert_eq!(unicode_base('ữ'), 'u');
        assert_eq!(unicode_base('Đ'), 'D');
    }

    #[test]
    fn bars_show_100_and_green_only_when_complete() {
        let s = share_bar(Some(1990.0 / 2000.0), "t", "-");
        assert!(s.contains(">99.5%<") && !s.contains("100.0%"), "{s}");
        assert!(!s.contains("#1a7f37"), "not green below 100 %: {s}");
        let s = share_bar(Some(1999.0 / 2000.0), "t", "-");
        assert!(s.contains(">99.9%<") && !s.contains("#1a7f37"), "{s}");
        let s = share_bar(Some(2000.0 / 2000.0), "t", "-");
        assert!(s.contains(">100.0%<") && s.contains("#1a7f37"), "{s}");
        let s = share_bar(Some(1.0 / 2000.0), "t", "-");
        assert!(s.contains(">&lt;0.1%<") && !s.contains(">0.0%<"), "{s}");
        assert_eq!(share_colour(0.9995), "#b7791f");
    }

    #[test]
    fn sparkline_handles_any_length() {
        assert!(!sparkline(&[], "t").contains("circle"));
        assert!(sparkline(&[Some(3)], "t").contains("circle"));
        let s = sparkline(&[Some(5), Some(3), Some(0), Some(-2), Some(i64::MAX)], "t");
        assert!(
            s.contains("<path d=\"M") && s.matches('L').count() >= 4,
            "{s}"
        );
        assert!(!s.contains("NaN") && !s.contains("inf"));
        // Nothing measured: an empty frame, no line, no dot.
        let s = sparkline(&[None, None], "t");
        assert!(!s.contains("<path") && !s.contains("circle"), "{s}");
    }

    #[test]
    fn an_unmeasured_run_is_a_gap_never_a_zero() {
        // x of point i of 5: 3 + 154 * i / 4; y of 0 is 29.0, of 4 (the max) 3.0.
        let s = sparkline(&[Some(4), Some(4), None, Some(4), Some(4)], "t");
        let d = s
            .split("<path d=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a path");
        assert_eq!(d, "M3.0,3.0 L41.5,3.0 M118.5,3.0 L157.0,3.0", "{s}");
        // No point at the unmeasured run's x, and nothing drawn at 0.
        assert!(!s.contains("80.0,") && !s.contains(",29.0"), "{s}");
        // The last run unmeasured: the dot marks the last measured one, not a zero.
        let s = sparkline(&[Some(2), Some(4), None], "t");
        assert!(s.contains("<path d=\"M3.0,16.0 L80.0,3.0\""), "{s}");
        assert!(s.contains("<circle cx=\"80.0\" cy=\"3.0\""), "{s}");
        assert!(!s.contains("157.0"), "{s}");
        // A measured run between two gaps is a dot of its own.
        let s = sparkline(&[None, Some(1), None, Some(1)], "t");
        assert!(!s.contains("<path"), "{s}");
        assert_eq!(s.matches("<circle").count(), 2, "{s}");
    }
}
