//! A letter as plain text and as HTML. Every account e-mail has the same shape (heading,
//! paragraphs, an optional button, small print), so the markup is written here once; every
//! piece of text is escaped.

use std::fmt::Write as _;

use super::Letter;

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The plain-text part.
pub fn text(l: &Letter) -> String {
    let mut s = format!("{}\n\n", l.subject);
    for p in &l.paragraphs {
        let _ = write!(s, "{p}\n\n");
    }
    if let Some((label, url)) = &l.action {
        let _ = write!(s, "{label}: {url}\n\n");
    }
    let _ = write!(s, "--\n{}", l.footer);
    s
}

/// The HTML part: one centred card, inline styles only (mail clients ignore style sheets).
pub fn html(l: &Letter, lang: &str) -> String {
    let subject = esc(&l.subject);
    let mut s = format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{subject}</title></head>\n\
<body style=\"margin:0;padding:0;background:#f4f5f7;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1f2330\">\n\
<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#f4f5f7;padding:24px 0\">\n\
<tr><td align=\"center\">\n\
<table role=\"presentation\" width=\"560\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:560px;width:100%;background:#ffffff;border-radius:12px;padding:32px\">\n\
<tr><td style=\"font-size:20px;font-weight:700;color:#1f2330;padding-bottom:8px\">Kassa</td></tr>\n\
<tr><td style=\"font-size:18px;font-weight:600;padding:8px 0 16px\">{subject}</td></tr>\n",
        lang = esc(lang),
    );
    for p in &l.paragraphs {
        let _ = writeln!(
            s,
            "<tr><td style=\"font-size:15px;line-height:1.55;padding-bottom:12px\">{}</td></tr>",
            esc(p)
        );
    }
    if let Some((label, url)) = &l.action {
        let (label, url) = (esc(label), esc(url));
        let _ = writeln!(
            s,
            "<tr><td style=\"padding:12px 0 20px\"><a href=\"{url}\" style=\"display:inline-block;background:#3b5bdb;color:#ffffff;text-decoration:none;font-weight:600;padding:12px 22px;border-radius:8px\">{label}</a></td></tr>\n\
<tr><td style=\"font-size:12px;line-height:1.5;color:#6b7080;padding-bottom:12px;word-break:break-all\">{url}</td></tr>"
        );
    }
    let _ = write!(
        s,
        "<tr><td style=\"font-size:12px;line-height:1.5;color:#6b7080;border-top:1px solid #e6e8ee;padding-top:16px\">{}</td></tr>\n\
</table>\n</td></tr>\n</table>\n</body>\n</html>\n",
        esc(&l.footer)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_in_html_and_kept_in_text() {
        let l = Letter {
            subject: "Reset <now>".into(),
            paragraphs: vec!["A & B".into()],
            action: Some(("Open \"it\"".into(), "https://x.example/?a=1&b=2".into())),
            footer: "Bye".into(),
        };
        let h = html(&l, "en");
        assert!(h.contains("<title>Reset &lt;now&gt;</title>"));
        assert!(h.contains(">A &amp; B<"));
        assert!(h.contains("href=\"https://x.example/?a=1&amp;b=2\""));
        assert!(h.contains(">Open &quot;it&quot;</a>"));
        assert!(!h.contains("<now>"));
        let t = text(&l);
        assert_eq!(
            t,
            "Reset <now>\n\nA & B\n\nOpen \"it\": https://x.example/?a=1&b=2\n\n--\nBye"
        );
    }
}
