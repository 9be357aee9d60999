//! A browser's `User-Agent` as people read it in the sign-in history and the sessions list:
//! "Chrome 131 on Windows", "Safari 17 on iPhone", "curl 8.5". The raw string stays in the
//! page (as the cell's title) for whoever needs it.

/// The browser and its major version, and the system, from a `User-Agent` header. Unknown
/// browsers keep their first product token; an empty header is "Unknown browser".
pub fn describe(ua: &str) -> String {
    let ua = ua.trim();
    if ua.is_empty() {
        return "Unknown browser".to_owned();
    }
    let browser = browser(ua);
    match system(ua) {
        Some(os) => format!("{browser} on {os}"),
        None => browser,
    }
}

/// The major version after `token/` (e.g. `Chrome/131.0.6778.85` → `131`).
fn major(ua: &str, token: &str) -> Option<String> {
    let rest = &ua[ua.find(token)? + token.len()..];
    let v: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!v.is_empty()).then_some(v)
}

fn browser(ua: &str) -> String {
    // Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari".
    const KNOWN: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("YaBrowser/", "Yandex Browser"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
    ];
    for (token, name) in KNOWN {
        if let Some(v) = major(ua, token) {
            return format!("{name} {v}");
        }
    }
    if ua.contains("Safari/") {
        return match major(ua, "Version/") {
            Some(v) => format!("Safari {v}"),
            None => "Safari".to_owned(),
        };
    }
    // A tool: its first product token, e.g. "curl/8.5.0" → "curl 8.5.0".
    let first = ua.split_whitespace().next().unwrap_or(ua);
    let first: String = first.chars().take(40).collect();
    first.replacen('/', " ", 1)
}

fn system(ua: &str) -> Option<&'static str> {
    const KNOWN: [(&str, &str); 8] = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    KNOWN
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn browsers_and_systems_read_as_words() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                "Chrome 156 on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
                "Edge 131 on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari 17 on iPhone",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox 128 on macOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36",
                "Chrome 126 on Android",
            ),
            ("curl/8.5.0", "curl 8.5.0"),
            ("", "Unknown browser"),
        ];
        for (ua, want) in cases {
            assert_eq!(describe(ua), want, "{ua}");
        }
    }
}
