//! A browser-like HTTP session for dashboard tests: it keeps cookies, does not follow
//! redirects (tests look at them), and fills in the CSRF token from the last page it read.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::StatusCode;

/// A response as the tests need it.
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// Every `Set-Cookie` value.
    pub set_cookies: Vec<String>,
    /// Other headers of interest.
    pub retry_after: Option<String>,
    /// The body.
    pub body: String,
}

impl Resp {
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> Option<String> {
        extract(&self.body, "name=\"_csrf\" value=\"")
    }

    /// Whether the body contains `needle` (HTML-escaped apostrophes and quotes are matched).
    pub fn has(&self, needle: &str) -> bool {
        self.body.contains(needle) || unescape(&self.body).contains(needle)
    }
}

/// The body with the HTML escapes askama writes turned back into characters.
pub fn unescape(s: &str) -> String {
    s.replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text after `start` up to the next `"`.
pub fn extract(body: &str, start: &str) -> Option<String> {
    let i = body.find(start)? + start.len();
    Some(body[i..].split('"').next()?.to_owned())
}

/// A cookie-keeping client for one simulated browser.
pub struct Session {
    base: String,
    client: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
    csrf: Mutex<Option<String>>,
    /// Sent as `User-Agent`.
    pub user_agent: String,
    /// Sent as `X-Forwarded-For` when set (for apps that trust a proxy).
    pub forwarded_for: Option<String>,
}

impl Session {
    /// A fresh browser against `base`.
    pub fn new(base: &str) -> Session {
        Session {
            base: base.to_owned(),
            // A new connection per request, as a server may close one after answering without
            // reading a large body (and a reused, closed connection would fail the next request).
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Mutex::default(),
            csrf: Mutex::default(),
            user_agent: "KassaTest/1.0".into(),
            forwarded_for: None,
        }
    }

    /// Cookies, user agent and (when set) the forwarded address.
    fn headers(&self) -> reqwest::header::HeaderMap {
        let mut h = reqwest::header::HeaderMap::new();
        let mut put = |k: &'static str, v: &str| {
            if let Ok(v) = reqwest::header::HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        };
        put("cookie", &self.cookie_header());
        put("user-agent", &self.user_agent);
        if let Some(ip) = &self.forwarded_for {
            put("x-forwarded-for", ip);
        }
        h
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .expect("lock")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, r: reqwest::Response) -> Resp {
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let set_cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        {
            let mut jar = self.cookies.lock().expect("lock");
            for c in &set_cookies {
                let pair = c.split(';').next().unwrap_or_default();
                if let Some((k, v)) = pair.split_once('=') {
                    if v.is_empty() || c.contains("Max-Age=0") {
                        jar.remove(k);
                    } else {
                        jar.insert(k.to_owned(), v.to_owned());
                    }
                }
            }
        }
        let body = r.text().await.unwrap_or_default();
        let resp = Resp {
            status,
            location,
            set_cookies,
            retry_after,
            body,
        };
        if let Some(t) = resp.csrf() {
            *self.csrf.lock().expect("lock") = Some(t);
        }
        resp
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Resp {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .headers(self.headers())
            .send()
            .await
            .expect("GET");
        self.finish(r).await
    }

    /// `GET path` for a download: the status, the content type and the body's bytes.
    pub async fn download(&self, path: &str) -> (StatusCode, String, Vec<u8>) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .headers(self.headers())
            .send()
            .await
            .expect("GET");
        let status = r.status();
        let kind = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, kind, r.bytes().await.expect("body").to_vec())
    }

    /// `POST path` with a form; the CSRF token of the last page read is added.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let token = self.csrf.lock().expect("lock").clone().unwrap_or_default();
        let mut fields: Vec<(&str, &str)> = vec![("_csrf", token.as_str())];
        fields.extend_from_slice(form);
        self.post_raw(path, &fields).await
    }

    /// `POST path` with exactly these fields (no CSRF token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish();
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .headers(self.headers())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }

    /// `POST path` with a raw body of `content_type` (multipart uploads).
    pub async fn post_bytes(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .headers(self.headers())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }

    /// `POST path` with a raw body of `content_type`, the CSRF token in `X-CSRF-Token` (so the
    /// body can be anything at all).
    pub async fn post_bytes_csrf(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let token = self.csrf.lock().expect("lock").clone().unwrap_or_default();
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .headers(self.headers())
            .header("x-csrf-token", token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }

    /// Opens `path` to pick up its CSRF token, then posts the form to it.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let page = self.get(path).await;
        assert!(
            page.status.is_success(),
            "GET {path} before posting: {} {:?}",
            page.status,
            page.location
        );
        self.post(path, form).await
    }

    /// Follows `r`'s redirect (a 303 after a POST, the way a browser does) with a GET.
    pub async fn follow(&self, r: &Resp) -> Resp {
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "not a redirect: {}",
            r.body
        );
        let to = r.location.as_deref().expect("Location");
        self.get(to.split('#').next().unwrap_or(to)).await
    }

    /// The value of a cookie.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().expect("lock").get(name).cloned()
    }

    /// The same session with another `User-Agent`.
    pub fn with_user_agent(mut self, ua: &str) -> Self {
        self.user_agent = ua.to_owned();
        self
    }

    /// The same session seen from another address (when the app trusts `X-Forwarded-For`).
    pub fn seen_at(mut self, ip: &str) -> Self {
        self.forwarded_for = Some(ip.to_owned());
        self
    }

    /// Sets a cookie as a browser would send it.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .expect("lock")
            .insert(name.to_owned(), value.to_owned());
    }

    /// Forgets every cookie (as a new browser would).
    pub fn clear_cookies(&self) {
        self.cookies.lock().expect("lock").clear();
    }
}
