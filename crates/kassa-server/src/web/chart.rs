//! Charts drawn on the server as SVG: readable without JavaScript, scaled by the browser,
//! with a title and a description for screen readers and a `<title>` per bar (the value on
//! hover). Geometry is computed from exact decimals and rounded to whole units of the view
//! box.

use std::fmt::Write as _;

use kassa_core::Decimal;

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A bar chart of `bars` (label, value, value as text), `title` read out first and `desc`
/// after it. The tallest bar fills the height; an empty or all-zero series draws a baseline.
pub fn bars(title: &str, desc: &str, bars: &[(String, Decimal, String)], small: bool) -> String {
    let (w, h) = if small {
        (300i64, 60i64)
    } else {
        (720i64, 220i64)
    };
    let top = if small { 2 } else { 16 };
    let bottom = if small { 2 } else { 22 };
    let plot = h - top - bottom;
    let max = bars
        .iter()
        .map(|(_, v, _)| *v)
        .max()
        .unwrap_or(Decimal::ZERO)
        .max(Decimal::ZERO);
    let n = i64::try_from(bars.len()).unwrap_or(1).max(1);
    let slot = Decimal::from(w) / Decimal::from(n);
    let gap = if slot > Decimal::from(6) {
        Decimal::ONE
    } else {
        Decimal::ZERO
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart{}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="c-t c-d" preserveAspectRatio="none"><title id="c-t">{}</title><desc id="c-d">{}</desc>"#,
        if small { " small" } else { "" },
        esc(title),
        esc(desc)
    );
    let _ = write!(
        svg,
        r#"<line x1="0" y1="{y}" x2="{w}" y2="{y}" class="axis"/>"#,
        y = top + plot
    );
    for (i, (label, value, text)) in bars.iter().enumerate() {
        let bar_h = if max.is_zero() {
            0
        } else {
            let v = (*value).max(Decimal::ZERO) * Decimal::from(plot) / max;
            i64::try_from(v.round().mantissa()).unwrap_or(0) / 10i64.pow(v.round().scale())
        };
        let x = slot * Decimal::from(i64::try_from(i).unwrap_or(0));
        let bw = (slot - gap).max(Decimal::ONE);
        let _ = write!(
            svg,
            r#"<rect x="{}" y="{}" width="{}" height="{}" class="bar"><title>{}: {}</title></rect>"#,
            x.round_dp(2),
            top + plot - bar_h,
            bw.round_dp(2),
            bar_h,
            esc(label),
            esc(text)
        );
    }
    if !small {
        if let (Some((first, ..)), Some((last, ..))) = (bars.first(), bars.last()) {
            let _ = write!(
                svg,
                r#"<text x="0" y="{y}" class="tick">{}</text><text x="{w}" y="{y}" class="tick end">{}</text>"#,
                esc(first),
                esc(last),
                y = h - 6
            );
        }
        if let Some((_, _, text)) = bars.iter().find(|(_, v, _)| *v == max && !max.is_zero()) {
            let _ = write!(
                svg,
                r#"<text x="0" y="11" class="tick">{}</text>"#,
                esc(text)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_tallest_and_say_what_they_show() {
        let d = |v: i64| Decimal::new(v, 2);
        let svg = bars(
            "Turnover <per day>",
            "3 days",
            &[
                ("Mon".into(), d(100), "1.00 USD".into()),
                ("Tue".into(), d(0), "0.00 USD".into()),
                ("Wed".into(), d(200), "2.00 USD".into()),
            ],
            false,
        );
        assert!(svg.contains("<title id=\"c-t\">Turnover &lt;per day&gt;</title>"));
        assert!(
            svg.contains("height=\"182\" class=\"bar\"><title>Wed: 2.00 USD</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("height=\"91\" class=\"bar\"><title>Mon: 1.00 USD</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("height=\"0\" class=\"bar\"><title>Tue: 0.00 USD</title>"),
            "{svg}"
        );
        let empty = bars("t", "d", &[], true);
        assert!(empty.starts_with("<svg") && empty.ends_with("</svg>"));
    }
}
