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

/// Colour for a compliance share: green when complete, amber above 80 %, red below.
fn share_colour(share: f64) -> &'static str {
    if share >= 0.999 {
        "#1a7f37"
    } else if share >= 0.8 {
        "#b7791f"
    } else {
        "#c53030"
    }
}

/// A horizontal bar for a share in [0, 1] (`None`: no data, drawn as an empty grey bar),
/// with the percentage written beside it.
pub fn share_bar(share: Option<f64>, title: &str, no_data: &str) -> String {
    const W: f64 = 220.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="bar" xmlns="http://www.w3.org/2000/svg" width="300" height="18" viewBox="0 0 300 18" role="img" aria-label="{t}"><title>{t}</title><rect x="0" y="3" width="{W}" height="12" rx="3" fill="#e2e8f0"/>"##,
        t = esc(title)
    );
    match share {
        Some(x) => {
            let x = clamp01(x);
            let _ = write!(
                s,
                r##"<rect x="0" y="3" width="{:.1}" height="12" rx="3" fill="{}"/><text x="228" y="14" font-size="12" fill="#1a202c">{:.1}%</text>"##,
                W * x,
                share_colour(x),
                x * 100.0
            );
        }
        None => {
            let _ = write!(
                s,
                r##"<text x="228" y="14" font-size="12" fill="#718096">{}</text>"##,
                esc(no_data)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// A sparkline of counts over runs (oldest first); the last point is marked.
/// Fewer than two points draw a single dot, none draws an empty frame.
pub fn sparkline(values: &[i64], title: &str) -> String {
    const W: f64 = 160.0;
    const H: f64 = 32.0;
    const PAD: f64 = 3.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="{t}"><title>{t}</title><rect x="0" y="0" width="{W}" height="{H}" rx="3" fill="#f7fafc"/>"##,
        t = esc(title)
    );
    let vals: Vec<f64> = values.iter().map(|v| (*v).max(0) as f64).collect();
    let max = vals.iter().cloned().fold(0.0_f64, f64::max).max(1.0);
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
    if n >= 2 {
        let pts: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (x, y) = point(i, *v);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            s,
            r##"<polyline fill="none" stroke="#2b6cb0" stroke-width="1.5" points="{}"/>"##,
            pts.join(" ")
        );
    }
    if let Some(last) = vals.last() {
        let (x, y) = point(n - 1, *last);
        let _ = write!(
            s,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="#2b6cb0"/>"##
        );
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

    #[test]
    fn sparkline_handles_any_length() {
        assert!(!sparkline(&[], "t").contains("circle"));
        assert!(sparkline(&[3], "t").contains("circle"));
        let s = sparkline(&[5, 3, 0, -2, i64::MAX], "t");
        assert!(s.contains("polyline"));
        assert!(!s.contains("NaN") && !s.contains("inf"));
    }
}
