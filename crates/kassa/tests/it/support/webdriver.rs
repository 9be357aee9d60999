//! A small W3C WebDriver client for browser tests against real headless Chromium (Debian's
//! `chromium` and `chromium-driver`). Each browser gets its own chromedriver on a free port
//! and a fresh profile folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Chromium and chromedriver are, if installed.
pub fn installed() -> Option<(PathBuf, PathBuf)> {
    let driver = PathBuf::from("/usr/bin/chromedriver");
    let browser = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())?;
    driver.exists().then_some((browser, driver))
}

/// True (after printing why) when browser tests should be skipped: Chromium is not installed
/// and this is not CI. In CI (`CI=true`) a missing browser fails the test.
pub fn browser_skipped() -> bool {
    if installed().is_some() {
        return false;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "CI=true but chromium/chromedriver are not installed (apt-get install chromium chromium-driver)"
    );
    eprintln!(
        "SKIPPED: chromium and chromium-driver are not installed; scripts/test installs them"
    );
    true
}

/// A browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// An element handle.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let (chromium, chromedriver) = installed().expect("chromium installed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(chromedriver)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = super::http_client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args}
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("json");
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        let b = Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        };
        b.set_viewport(width, height).await;
        b
    }

    /// Headless Chromium keeps windows at least 500 px wide; phone widths are emulated
    /// (the viewport as a phone's: `innerWidth` is `width`, touch and mobile layout).
    async fn set_viewport(&self, width: u32, height: u32) {
        let command = if width < 500 {
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params":
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}})
        } else {
            json!({"cmd": "Emulation.clearDeviceMetricsOverride", "params": {}})
        };
        self.call(reqwest::Method::POST, "/goog/cdp/execute", Some(command))
            .await;
    }

    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req
            .send()
            .await
            .expect("webdriver call")
            .json()
            .await
            .expect("webdriver json");
        match r["value"].get("error") {
            Some(err) => Err(format!(
                "webdriver {method} {path}: {err} {}",
                r["value"]["message"]
            )),
            None => Ok(r["value"].clone()),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Finds `css` and runs an element command on it, again if the page replaced the element
    /// in between (a navigation finishing).
    async fn on_element(
        &self,
        css: &str,
        method: reqwest::Method,
        action: &str,
        body: Option<Value>,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let el = self.find(css).await;
            match self
                .try_call(
                    method.clone(),
                    &format!("/element/{}{action}", el.0),
                    body.clone(),
                )
                .await
            {
                Ok(v) => return v,
                Err(e) if e.contains("stale element") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching a CSS selector, waiting up to 5 s for it.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let r: Value = self
                .http
                .post(&url)
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .expect("find")
                .json()
                .await
                .expect("json");
            if let Some(id) = r["value"][ELEMENT].as_str() {
                return Element(id.to_owned());
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, reqwest::Method::POST, "/clear", Some(json!({})))
            .await;
        self.on_element(
            css,
            reqwest::Method::POST,
            "/value",
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.on_element(css, reqwest::Method::POST, "/click", Some(json!({})))
            .await;
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.on_element(css, reqwest::Method::GET, "/text", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits up to 5 s for the element matching `css` to contain `needle` (after a click
    /// that navigates, the old page may still be there for a moment).
    pub async fn wait_for_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.exists(css).await && self.text(css).await.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never contained {needle:?}:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to 5 s for the URL path to be `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let url = self.url().await;
            let current = url
                .splitn(4, '/')
                .nth(3)
                .map(|p| format!("/{p}"))
                .unwrap_or_default();
            if current == path
                || current.starts_with(&format!("{path}?"))
                || current.starts_with(&format!("{path}#"))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected {path}, at {url}:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Whether an element matching `css` is on the page now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        let url = format!("{}/session/{}/elements", self.base, self.session);
        let r: Value = self
            .http
            .post(&url)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .expect("find elements")
            .json()
            .await
            .expect("json");
        r["value"].as_array().is_some_and(|a| !a.is_empty())
    }

    /// Resizes the window (phone widths emulated, see `set_viewport`).
    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width.max(500), "height": height})),
        )
        .await;
        self.set_viewport(width, height).await;
    }

    /// Saves a PNG screenshot of the viewport to `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("png");
        std::fs::create_dir_all(dir).expect("artifact dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Closes the browser and chromedriver.
    pub async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The folder for test artifacts: `<workspace>/test-artifacts/<name>`.
pub fn artifacts(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-artifacts")
        .join(name)
}
