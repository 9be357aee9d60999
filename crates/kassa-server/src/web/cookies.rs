//! Reading and writing cookies. Session and CSRF cookies are `HttpOnly`, `SameSite=Lax`,
//! path `/`, and `Secure` with the `__Host-` prefix unless Kassa is served over plain HTTP on
//! localhost (the out-of-the-box set-up), where browsers would refuse a secure cookie.

use axum::http::{HeaderMap, HeaderValue, header};

/// The most cookie pairs read from one request.
const MAX_PAIRS: usize = 64;

/// Cookies of one request.
pub struct Jar<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Jar<'a> {
    /// Parses every `Cookie` header.
    pub fn parse(headers: &'a HeaderMap) -> Self {
        let pairs = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            // Kassa sets five cookies; a header with thousands is read no further than this.
            .take(MAX_PAIRS)
            .filter_map(|kv| kv.trim().split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        Self { pairs }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// How cookies are set for this deployment.
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    /// Whether cookies carry `Secure` (and the `__Host-` prefix).
    pub secure: bool,
}

/// The session cookie's base name.
pub const SESSION: &str = "kassa_session";
/// The anonymous CSRF seed cookie's base name (visitors without a session).
pub const CSRF: &str = "kassa_csrf";
/// The language preference.
pub const LANG: &str = "kassa_lang";
/// A one-shot message for the next page.
pub const FLASH: &str = "kassa_flash";

impl CookiePolicy {
    /// Secure unless the public URL is plain HTTP on a loopback host.
    pub fn for_public_url(url: &str) -> Self {
        let insecure_local = url.strip_prefix("http://").is_some_and(|rest| {
            let host = rest.split('/').next().unwrap_or_default();
            let host = host.rsplit_once(':').map_or(host, |(h, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            });
            matches!(host, "localhost" | "[::1]") || host.starts_with("127.")
        });
        Self {
            secure: !insecure_local,
        }
    }

    /// The cookie name as sent: `__Host-<base>` when secure.
    pub fn name(&self, base: &str) -> String {
        if self.secure && (base == SESSION || base == CSRF) {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// A `Set-Cookie` value. `max_age` in seconds; `None` for a browser-session cookie,
    /// `Some(0)` to delete.
    pub fn set(&self, base: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut c = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.name(base)
        );
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            c.push_str("; Secure");
        }
        HeaderValue::from_str(&c)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub fn clear(&self, base: &str) -> HeaderValue {
        self.set(base, "", Some(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_except_plain_http_on_loopback() {
        assert!(!CookiePolicy::for_public_url("http://127.0.0.1:8080").secure);
        assert!(!CookiePolicy::for_public_url("http://localhost:8080/kassa").secure);
        assert!(!CookiePolicy::for_public_url("http://[::1]:8080").secure);
        assert!(CookiePolicy::for_public_url("http://192.168.1.5:8080").secure);
        assert!(CookiePolicy::for_public_url("https://pay.example.com").secure);
        let p = CookiePolicy { secure: true };
        let v = p.set(SESSION, "abc", None);
        assert_eq!(
            v.to_str().unwrap(),
            "__Host-kassa_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            CookiePolicy { secure: false }
                .clear(FLASH)
                .to_str()
                .unwrap(),
            "kassa_flash=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }

    #[test]
    fn parses_cookie_headers() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; kassa_session=tok"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("kassa_lang=ru"));
        let jar = Jar::parse(&h);
        assert_eq!(jar.get("kassa_session"), Some("tok"));
        assert_eq!(jar.get("kassa_lang"), Some("ru"));
        assert_eq!(jar.get("missing"), None);
    }
}
