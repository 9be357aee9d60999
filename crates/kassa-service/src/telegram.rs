//! A small client of the Telegram Bot API (`{api_url}/bot{token}/{method}`, JSON in and out):
//! `getUpdates` by long polling and `sendMessage` with HTML.
//!
//! Everything read from the network is bounded: answers are read in chunks up to a cap
//! (1 MiB for updates, 64 KiB for a sent message), texts and usernames are cut, descriptions
//! are cut. The token is a secret: reqwest's errors carry the URL, so it is dropped, and any
//! message that still holds the token has it replaced before it leaves this module.

use std::time::Duration;

use serde_json::{Value, json};

/// The most of a `getUpdates` answer read.
const MAX_UPDATES_BODY: usize = 1 << 20;
/// The most of a `sendMessage` answer read.
const MAX_SEND_BODY: usize = 64 << 10;
/// The longest message text kept from an update, in characters (Telegram's own limit).
const MAX_TEXT: usize = 4096;
/// The longest username kept, in characters (Telegram's are at most 32).
const MAX_USERNAME: usize = 64;
/// The longest description of a refusal kept, in characters.
const MAX_DESCRIPTION: usize = 300;
/// The longest `/start` payload (Telegram's limit for deep links).
const MAX_START_TOKEN: usize = 64;
/// How long a `sendMessage` may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// How much longer than its long-poll timeout a `getUpdates` may take.
const POLL_SLACK: Duration = Duration::from_secs(15);

/// Why a call did not go through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BotError {
    /// 429: not before this long (`parameters.retry_after`, 1 s to an hour).
    #[error("Telegram asked to wait {} s", .0.as_secs())]
    RetryAfter(Duration),
    /// 403: the person blocked the bot, or the chat is gone.
    #[error("Telegram refused the chat: {0}")]
    Blocked(String),
    /// Any other refusal (400: a bad request; 401: a wrong token; 409: another poller).
    #[error("Telegram refused: {0}")]
    Rejected(String),
    /// No answer, an answer too large, not one of the Bot API's, or a 5xx: worth retrying.
    #[error("Telegram: {0}")]
    Transport(String),
}

/// A message sent to the bot (the only kind of update asked for). An update of another kind
/// has only its id, so that the offset still moves past it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The update's id (the next offset is one more).
    pub update_id: i64,
    /// The chat it came from.
    pub chat_id: Option<i64>,
    /// Its text, at most 4096 characters.
    pub text: Option<String>,
    /// The sender's username (without `@`), at most 64 characters.
    pub from_username: Option<String>,
}

/// The operator's bot. Its `Debug` leaves the token out.
pub struct BotApi {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Escapes text for a message with `parse_mode` HTML (`&`, `<`, `>` and `"`).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The link that opens the bot with `/start <token>`.
pub fn deep_link(bot_username: &str, token: &str) -> String {
    format!(
        "https://t.me/{}?start={token}",
        bot_username.trim().trim_start_matches('@')
    )
}

/// The command of a message (`/start@bot x` → `/start`), if it starts with one.
fn command(text: &str) -> Option<(&str, &str)> {
    let text = text.trim();
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let name = word.split_once('@').map_or(word, |(name, _)| name);
    name.starts_with('/').then_some((name, rest.trim()))
}

/// The token of a `/start <token>` (or `/start@bot <token>`) message: 1 to 64 of
/// `A-Z a-z 0-9 _ -`, as Telegram allows in a deep link.
pub fn start_token(text: &str) -> Option<&str> {
    let (name, token) = command(text)?;
    let fits = !token.is_empty()
        && token.len() <= MAX_START_TOKEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (name == "/start" && fits).then_some(token)
}

/// Whether a message is `/stop` (or `/stop@bot`).
pub fn is_stop(text: &str) -> bool {
    command(text).is_some_and(|(name, _)| name == "/stop")
}

/// Maps an answer (`status`, body) to the `result` it carries, or to why it was refused.
fn answer(status: u16, body: &[u8]) -> Result<Value, BotError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| BotError::Transport(format!("HTTP {status}: not a Bot API answer")))?;
    if v.get("ok") == Some(&Value::Bool(true)) {
        return Ok(v.get("result").cloned().unwrap_or(Value::Null));
    }
    let code = v
        .get("error_code")
        .and_then(Value::as_i64)
        .unwrap_or(i64::from(status));
    let description: String = v
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("no description")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DESCRIPTION)
        .collect();
    match code {
        429 => {
            let secs = v
                .pointer("/parameters/retry_after")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 3600);
            Err(BotError::RetryAfter(Duration::from_secs(secs)))
        }
        403 => Err(BotError::Blocked(description)),
        500..=599 => Err(BotError::Transport(format!("{code}: {description}"))),
        _ => Err(BotError::Rejected(format!("{code}: {description}"))),
    }
}

/// Cuts `s` to at most `max` characters.
fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The updates of a `getUpdates` result; entries without an `update_id` are skipped.
fn updates(result: &Value) -> Result<Vec<Update>, BotError> {
    let list = result
        .as_array()
        .ok_or_else(|| BotError::Transport("getUpdates: the result is not a list".into()))?;
    Ok(list
        .iter()
        .filter_map(|u| {
            let update_id = u.get("update_id")?.as_i64()?;
            let m = u.get("message");
            let field = |path: &str| m.and_then(|m| m.pointer(path));
            Some(Update {
                update_id,
                chat_id: field("/chat/id").and_then(Value::as_i64),
                text: field("/text")
                    .and_then(Value::as_str)
                    .map(|t| cut(t, MAX_TEXT)),
                from_username: field("/from/username")
                    .and_then(Value::as_str)
                    .map(|t| cut(t, MAX_USERNAME)),
            })
        })
        .collect())
}

impl BotApi {
    /// The bot with `token` at `api_url` (`https://api.telegram.org`; no trailing slash
    /// needed). `http` must have a TLS provider installed ([`crate::net::install_tls_provider`]);
    /// each call sets its own timeout.
    pub fn new(http: reqwest::Client, api_url: &str, token: &str) -> BotApi {
        BotApi {
            http,
            base: api_url.trim().trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
        }
    }

    /// `msg` with the token (and its secret half) replaced.
    fn scrub(&self, mut msg: String) -> String {
        if !self.token.is_empty() {
            msg = msg.replace(&self.token, "<token>");
        }
        if let Some((_, secret)) = self.token.split_once(':')
            && secret.len() >= 8
        {
            msg = msg.replace(secret, "<token>");
        }
        msg
    }

    /// A transport error, without the URL (which holds the token) and with its causes.
    fn transport(&self, method: &str, e: reqwest::Error) -> BotError {
        let e = e.without_url();
        let mut msg = format!("{method}: {e}");
        let mut source = std::error::Error::source(&e);
        for _ in 0..4 {
            let Some(s) = source else { break };
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        BotError::Transport(self.scrub(cut(&msg, 2 * MAX_DESCRIPTION)))
    }

    /// Calls `method` with `body`; the `result` of its answer, read up to `cap` bytes.
    async fn call(
        &self,
        method: &str,
        body: Value,
        timeout: Duration,
        cap: usize,
    ) -> Result<Value, BotError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let mut resp = self
            .http
            .post(url)
            .timeout(timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| self.transport(method, e))?;
        let status = resp.status().as_u16();
        let too_large = || BotError::Transport(format!("{method}: an answer over {cap} bytes"));
        if resp
            .content_length()
            .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(method, e))? {
            if bytes.len().saturating_add(chunk.len()) > cap {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        answer(status, &bytes).map_err(|e| match e {
            BotError::Blocked(m) => BotError::Blocked(self.scrub(m)),
            BotError::Rejected(m) => BotError::Rejected(self.scrub(m)),
            BotError::Transport(m) => BotError::Transport(self.scrub(m)),
            e @ BotError::RetryAfter(_) => e,
        })
    }

    /// Messages from `offset` on (`allowed_updates=["message"]`, at most 100), waiting up to
    /// `timeout_secs` for one; the HTTP request may take 15 s more than that.
    pub async fn get_updates(
        &self,
        offset: i64,
        timeout_secs: u32,
    ) -> Result<Vec<Update>, BotError> {
        let result = self
            .call(
                "getUpdates",
                json!({
                    "offset": offset,
                    "limit": 100,
                    "timeout": timeout_secs,
                    "allowed_updates": ["message"],
                }),
                Duration::from_secs(u64::from(timeout_secs)).saturating_add(POLL_SLACK),
                MAX_UPDATES_BODY,
            )
            .await?;
        updates(&result)
    }

    /// Sends `html` (escaped already, see [`escape_html`]) to `chat_id` with `parse_mode`
    /// HTML and no link preview.
    pub async fn send_message(&self, chat_id: i64, html: &str) -> Result<(), BotError> {
        self.call(
            "sendMessage",
            json!({
                "chat_id": chat_id,
                "text": html,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
            }),
            SEND_TIMEOUT,
            MAX_SEND_BODY,
        )
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::task::JoinHandle;

    use super::*;

    const TOKEN: &str = "123456:AAHsecretSECRETsecret_xyz";

    #[test]
    fn commands_are_read() {
        assert_eq!(start_token("/start abc_123-X"), Some("abc_123-X"));
        assert_eq!(start_token("/start@kassa_bot  tok "), Some("tok"));
        assert_eq!(start_token(" /start\ttok"), Some("tok"));
        assert_eq!(start_token("/start"), None);
        assert_eq!(start_token("/start@kassa_bot"), None);
        assert_eq!(start_token("/start a b"), None);
        assert_eq!(start_token("/start <b>"), None);
        assert_eq!(start_token("/starter tok"), None);
        assert_eq!(start_token("start tok"), None);
        assert_eq!(start_token("/stop abc"), None);
        assert_eq!(
            start_token(&format!("/start {}", "x".repeat(64))).map(str::len),
            Some(64)
        );
        assert_eq!(start_token(&format!("/start {}", "x".repeat(65))), None);
        assert!(is_stop("/stop"));
        assert!(is_stop(" /stop@kassa_bot "));
        assert!(is_stop("/stop now"));
        assert!(!is_stop("/stopped"));
        assert!(!is_stop("stop"));
        assert!(!is_stop("/start x"));
        assert!(!is_stop(""));
    }

    #[test]
    fn links_and_html() {
        assert_eq!(
            deep_link("kassa_bot", "t"),
            "https://t.me/kassa_bot?start=t"
        );
        assert_eq!(
            deep_link("@kassa_bot", "t"),
            "https://t.me/kassa_bot?start=t"
        );
        assert_eq!(
            escape_html("<b>&\"x\"</b> & 'y' ₽"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt; &amp; 'y' ₽"
        );
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
    }

    #[test]
    fn answers_are_mapped() {
        assert_eq!(answer(200, br#"{"ok":true,"result":[]}"#), Ok(json!([])));
        assert_eq!(answer(200, br#"{"ok":true}"#), Ok(Value::Null));
        assert_eq!(
            answer(
                429,
                br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#
            ),
            Err(BotError::RetryAfter(Duration::from_secs(7)))
        );
        assert_eq!(
            answer(
                429,
                br#"{"ok":false,"error_code":429,"description":"Too Many Requests"}"#
            ),
            Err(BotError::RetryAfter(Duration::from_secs(1)))
        );
        assert_eq!(
            answer(
                429,
                br#"{"ok":false,"error_code":429,"parameters":{"retry_after":99999999}}"#
            ),
            Err(BotError::RetryAfter(Duration::from_secs(3600)))
        );
        assert_eq!(
            answer(
                403,
                br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#
            ),
            Err(BotError::Blocked(
                "Forbidden: bot was blocked by the user".into()
            ))
        );
        assert_eq!(
            answer(
                400,
                br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#
            ),
            Err(BotError::Rejected(
                "400: Bad Request: chat not found".into()
            ))
        );
        assert_eq!(
            answer(
                401,
                br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#
            ),
            Err(BotError::Rejected("401: Unauthorized".into()))
        );
        // No error_code: the HTTP status decides.
        assert!(matches!(
            answer(403, br#"{"ok":false}"#),
            Err(BotError::Blocked(_))
        ));
        assert!(matches!(
            answer(502, b"<html>bad gateway</html>"),
            Err(BotError::Transport(_))
        ));
        assert!(matches!(
            answer(
                500,
                br#"{"ok":false,"error_code":500,"description":"Internal"}"#
            ),
            Err(BotError::Transport(_))
        ));
        assert!(matches!(answer(200, b""), Err(BotError::Transport(_))));
        let long = format!(
            r#"{{"ok":false,"error_code":400,"description":"{}"}}"#,
            "x".repeat(5000)
        );
        match answer(400, long.as_bytes()) {
            Err(BotError::Rejected(m)) => assert!(m.chars().count() <= 310, "{}", m.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn updates_are_read() {
        let got = updates(&json!([
            {"update_id": 5, "message": {"message_id": 1, "chat": {"id": -42, "type": "group"},
                "from": {"id": 7, "is_bot": false, "first_name": "A", "username": "ann"},
                "date": 1_700_000_000, "text": "/start t"}},
            {"update_id": 6, "edited_message": {"chat": {"id": 42}, "text": "x"}},
            {"update_id": 7, "message": {"chat": {"id": 42}, "text": "é".repeat(5000)}},
            {"nonsense": true},
            {"update_id": "8"}
        ]))
        .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            Update {
                update_id: 5,
                chat_id: Some(-42),
                text: Some("/start t".into()),
                from_username: Some("ann".into())
            }
        );
        assert_eq!(
            got[1],
            Update {
                update_id: 6,
                chat_id: None,
                text: None,
                from_username: None
            }
        );
        assert_eq!(
            got[2].text.as_deref().map(|t| t.chars().count()),
            Some(MAX_TEXT)
        );
        assert!(matches!(updates(&json!({})), Err(BotError::Transport(_))));
    }

    /// A one-request HTTP server on a free loopback port: answers `status` with `body` and
    /// hands back the request it got (head and body).
    async fn serve_once(status: u16, body: Vec<u8>) -> (String, JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = sock.read(&mut buf).await.unwrap();
                assert!(n > 0, "the request ended early");
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await.unwrap();
            let _ = sock.write_all(&body).await;
            let _ = sock.shutdown().await;
            String::from_utf8_lossy(&req).into_owned()
        });
        (url, task)
    }

    fn bot(url: &str) -> BotApi {
        crate::net::install_tls_provider();
        BotApi::new(reqwest::Client::new(), &format!("{url}/"), TOKEN)
    }

    fn request_body(req: &str) -> Value {
        let (_, body) = req.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(body).unwrap()
    }

    #[tokio::test]
    async fn send_message_speaks_the_protocol() {
        let ok = br#"{"ok":true,"result":{"message_id":9,"chat":{"id":42,"type":"private"},"date":1700000000,"text":"hi"}}"#;
        let (url, req) = serve_once(200, ok.to_vec()).await;
        bot(&url).send_message(42, "<b>hi</b>").await.unwrap();
        let req = req.await.unwrap();
        assert!(
            req.starts_with(&format!("POST /bot{TOKEN}/sendMessage HTTP/1.1\r\n")),
            "{req}"
        );
        let body = request_body(&req);
        assert_eq!(body["chat_id"].as_i64(), Some(42));
        assert_eq!(body["text"], "<b>hi</b>");
        assert_eq!(body["parse_mode"], "HTML");

        let (url, _) = serve_once(
            429,
            br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}"#.to_vec(),
        )
        .await;
        assert_eq!(
            bot(&url).send_message(42, "x").await,
            Err(BotError::RetryAfter(Duration::from_secs(5)))
        );

        let (url, _) = serve_once(
            403,
            br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#.to_vec(),
        )
        .await;
        assert!(matches!(
            bot(&url).send_message(42, "x").await,
            Err(BotError::Blocked(m)) if m.contains("blocked")
        ));

        let (url, _) = serve_once(
            400,
            br#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities"}"#
                .to_vec(),
        )
        .await;
        assert!(matches!(
            bot(&url).send_message(42, "<b").await,
            Err(BotError::Rejected(m)) if m.starts_with("400: ")
        ));
    }

    #[tokio::test]
    async fn get_updates_speaks_the_protocol() {
        let ok = br#"{"ok":true,"result":[{"update_id":1,"message":{"message_id":5,"from":{"id":42,"is_bot":false,"first_name":"A","username":"a"},"chat":{"id":42,"type":"private"},"date":1700000000,"text":"/start abc"}}]}"#;
        let (url, req) = serve_once(200, ok.to_vec()).await;
        let got = bot(&url).get_updates(7, 0).await.unwrap();
        assert_eq!(
            got,
            vec![Update {
                update_id: 1,
                chat_id: Some(42),
                text: Some("/start abc".into()),
                from_username: Some("a".into())
            }]
        );
        let req = req.await.unwrap();
        assert!(
            req.starts_with(&format!("POST /bot{TOKEN}/getUpdates HTTP/1.1\r\n")),
            "{req}"
        );
        let body = request_body(&req);
        assert_eq!(body["offset"].as_i64(), Some(7));
        assert_eq!(body["timeout"].as_i64(), Some(0));
        assert_eq!(body["allowed_updates"], json!(["message"]));
    }

    #[tokio::test]
    async fn answers_are_bounded_and_errors_keep_the_token_out() {
        // A sendMessage answer over 64 KiB is not read.
        let big = format!(r#"{{"ok":true,"result":"{}"}}"#, "x".repeat(MAX_SEND_BODY));
        let (url, _) = serve_once(200, big.into_bytes()).await;
        match bot(&url).send_message(42, "x").await {
            Err(BotError::Transport(m)) => {
                assert!(m.contains("over"), "{m}");
                assert!(!m.contains("AAHsecret"), "{m}");
            }
            other => panic!("{other:?}"),
        }

        // Nobody listening: a transport error without the URL or the token.
        let closed = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        for e in [
            bot(&closed).send_message(42, "x").await.unwrap_err(),
            bot(&closed).get_updates(0, 0).await.unwrap_err(),
        ] {
            let shown = format!("{e} {e:?}");
            assert!(matches!(e, BotError::Transport(_)), "{shown}");
            assert!(!shown.contains("AAHsecret"), "{shown}");
            assert!(!shown.contains("/bot"), "{shown}");
        }

        // A description that echoes the token has it replaced.
        let echo = format!(r#"{{"ok":false,"error_code":400,"description":"bad /bot{TOKEN}"}}"#);
        let (url, _) = serve_once(400, echo.into_bytes()).await;
        match bot(&url).send_message(42, "x").await {
            Err(BotError::Rejected(m)) => assert!(!m.contains("AAHsecret"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(!format!("{:?}", bot(&url)).contains("AAHsecret"));
    }
}
