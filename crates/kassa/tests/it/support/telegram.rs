//! A local fake of the Telegram Bot API that speaks its protocol, on a free loopback port:
//! `POST /bot<token>/getUpdates` and `POST /bot<token>/sendMessage`, JSON or form bodies,
//! answers `{"ok":true,"result":…}` or `{"ok":false,"error_code":…,"description":…}`.
//!
//! - `getUpdates` answers the queued updates from `offset` on (at most `limit`) and forgets the
//!   ones below it, as Telegram does; with none it long-polls up to `timeout` seconds (at most
//!   50), woken by [`FakeTelegram::push_message`]. A newer `getUpdates` ends one still waiting
//!   with Telegram's 409 ("terminated by other getUpdates request").
//! - `sendMessage` records what was sent. It refuses, as Telegram does, an empty text, a text
//!   over 4096 characters and, with `parse_mode` HTML, markup Telegram cannot parse (a bare
//!   `<`, `>` or `&`, an unknown tag or entity, unbalanced tags) with 400; and it answers
//!   scripted failures ([`FakeTelegram::fail_next_send`]: 429 with `retry_after`, 403 "bot was
//!   blocked by the user").
//! - A wrong token is refused with 401, an unknown method with 404.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// A message the bot sent.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The chat.
    pub chat_id: i64,
    /// The text as sent (HTML with `parse_mode` HTML).
    pub text: String,
    /// `parse_mode` (empty when none was given).
    pub parse_mode: String,
}

#[derive(Default)]
struct Inner {
    /// Updates not yet confirmed by an offset past them.
    updates: VecDeque<Value>,
    next_update: i64,
    sent: Vec<Sent>,
    attempts: Vec<(Instant, u16)>,
    failures: VecDeque<(u16, Option<u32>)>,
    get_updates_calls: usize,
    /// Bumped by each `getUpdates`: a waiting one that sees it change was superseded.
    poll_generation: u64,
}

struct Shared {
    token: String,
    inner: Mutex<Inner>,
    news: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("lock")
    }
}

/// The fake Bot API. The server stops when this is dropped.
pub struct FakeTelegram {
    shared: Arc<Shared>,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The longest message text Telegram takes, in characters.
const MAX_TEXT: usize = 4096;
/// The longest long poll Telegram allows, in seconds.
const MAX_POLL: u64 = 50;

/// A request's parameters: a JSON object, or form fields (each a string).
fn body_fields(bytes: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
        ),
    }
}

/// An integer parameter, given as a number or (forms) as a string.
fn number(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string parameter.
fn string(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

fn refuse(code: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(body),
    )
        .into_response()
}

/// Checks `html` as Telegram's `parse_mode` HTML does; the number of characters shown.
fn check_html(html: &str) -> Result<usize, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    ];
    let mut open: Vec<String> = Vec::new();
    let mut shown = 0;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        let at = html.len() - rest.len();
        match c {
            '<' => {
                let end = rest
                    .find('>')
                    .ok_or(format!("can't find end of the tag at byte offset {at}"))?;
                let tag = &rest[1..end];
                if tag.contains('<') {
                    return Err(format!("unexpected < in a tag at byte offset {at}"));
                }
                let (closing, tag) = match tag.strip_prefix('/') {
                    Some(t) => (true, t),
                    None => (false, tag),
                };
                let name: String = tag
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
                    .to_ascii_lowercase();
                if !TAGS.contains(&name.as_str()) {
                    return Err(format!(
                        "unsupported {} tag \"{name}\" at byte offset {at}",
                        if closing { "end" } else { "start" }
                    ));
                }
                if closing {
                    if open.pop().as_deref() != Some(name.as_str()) {
                        return Err(format!(
                            "can't find start tag corresponding to end tag \"{name}\" at byte offset {at}"
                        ));
                    }
                } else {
                    open.push(name);
                }
                rest = &rest[end + 1..];
            }
            '>' => return Err(format!("unescaped > at byte offset {at}")),
            '&' => {
                let end = rest
                    .find(';')
                    .filter(|e| *e <= 10)
                    .ok_or(format!("unescaped & at byte offset {at}"))?;
                let entity = &rest[1..end];
                let numeric = entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .map(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
                    .or_else(|| {
                        entity
                            .strip_prefix('#')
                            .map(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
                    })
                    .unwrap_or(false);
                if !numeric && !["lt", "gt", "amp", "quot"].contains(&entity) {
                    return Err(format!("unsupported entity &{entity}; at byte offset {at}"));
                }
                shown += 1;
                rest = &rest[end + 1..];
            }
            c => {
                shown += 1;
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    match open.last() {
        Some(name) => Err(format!(
            "can't find end tag corresponding to start tag \"{name}\""
        )),
        None => Ok(shown),
    }
}

async fn get_updates(s: &Shared, fields: &Value) -> Response {
    let offset = number(fields, "offset").unwrap_or(0);
    let limit =
        usize::try_from(number(fields, "limit").unwrap_or(100).clamp(1, 100)).unwrap_or(100);
    let timeout = u64::try_from(number(fields, "timeout").unwrap_or(0))
        .unwrap_or(0)
        .min(MAX_POLL);
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let generation = {
        let mut inner = s.lock();
        inner.get_updates_calls += 1;
        inner.poll_generation += 1;
        inner.poll_generation
    };
    // A poll still waiting is superseded by this one.
    s.news.notify_waiters();
    loop {
        // Created before looking, so a push between the look and the wait still wakes it.
        let woken = s.news.notified();
        {
            let mut inner = s.lock();
            if inner.poll_generation != generation {
                return refuse(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                    None,
                );
            }
            inner
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            if !inner.updates.is_empty() {
                return ok(inner.updates.iter().take(limit).cloned().collect());
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return ok(json!([]));
        }
        let _ = tokio::time::timeout(left, woken).await;
    }
}

fn send_message(s: &Shared, fields: &Value) -> Response {
    let now = Instant::now();
    let mut inner = s.lock();
    let mut answer = |code: u16, response: Response| {
        inner.attempts.push((now, code));
        response
    };
    let Some(chat_id) = number(fields, "chat_id") else {
        return answer(400, refuse(400, "Bad Request: chat_id is empty", None));
    };
    let text = string(fields, "text");
    let parse_mode = string(fields, "parse_mode");
    let shown = if parse_mode.eq_ignore_ascii_case("html") {
        match check_html(&text) {
            Ok(n) => n,
            Err(why) => {
                return answer(
                    400,
                    refuse(
                        400,
                        &format!("Bad Request: can't parse entities: {why}"),
                        None,
                    ),
                );
            }
        }
    } else {
        text.chars().count()
    };
    if text.trim().is_empty() {
        return answer(400, refuse(400, "Bad Request: message text is empty", None));
    }
    if shown > MAX_TEXT {
        return answer(400, refuse(400, "Bad Request: message is too long", None));
    }
    if let Some((code, retry_after)) = inner.failures.pop_front() {
        let response = match code {
            429 => {
                let secs = retry_after.unwrap_or(1);
                refuse(
                    429,
                    &format!("Too Many Requests: retry after {secs}"),
                    Some(json!({"retry_after": secs})),
                )
            }
            403 => refuse(403, "Forbidden: bot was blocked by the user", None),
            401 => refuse(401, "Unauthorized", None),
            other => refuse(other, "Bad Request: scripted failure", None),
        };
        inner.attempts.push((now, code));
        return response;
    }
    inner.attempts.push((now, 200));
    inner.sent.push(Sent {
        chat_id,
        text: text.clone(),
        parse_mode,
    });
    let message_id = inner.sent.len();
    ok(json!({
        "message_id": message_id,
        "from": {"id": 1, "is_bot": true, "first_name": "Kassa", "username": "kassa_test_bot"},
        "chat": {"id": chat_id, "type": "private"},
        "date": 1_700_000_000,
        "text": text,
    }))
}

async fn method(
    State(s): State<Arc<Shared>>,
    Path((bot, name)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let Some(token) = bot.strip_prefix("bot") else {
        return refuse(404, "Not Found", None);
    };
    if token != s.token {
        if name == "sendMessage" {
            s.lock().attempts.push((Instant::now(), 401));
        }
        return refuse(401, "Unauthorized", None);
    }
    let fields = body_fields(&bytes);
    match name.as_str() {
        "getUpdates" => get_updates(&s, &fields).await,
        "sendMessage" => send_message(&s, &fields),
        _ => refuse(404, "Not Found: method not found", None),
    }
}

impl FakeTelegram {
    /// Starts a fake Bot API for the bot with `token` on a free loopback port.
    pub async fn start(token: &str) -> FakeTelegram {
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            inner: Mutex::new(Inner {
                next_update: 1,
                ..Inner::default()
            }),
            news: Notify::new(),
        });
        let app = Router::new()
            .route("/{bot}/{method}", post(method))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Telegram");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTelegram {
            shared,
            url: format!("http://127.0.0.1:{port}"),
            task,
        }
    }

    /// The base URL, for `telegram.api_url` (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// `username` writes `text` to the bot from the private chat `chat_id`: queues a message
    /// update (ids 1, 2, …) and wakes a waiting `getUpdates`.
    pub fn push_message(&self, chat_id: i64, username: &str, text: &str) {
        {
            let mut inner = self.shared.lock();
            let id = inner.next_update;
            inner.next_update += 1;
            inner.updates.push_back(json!({
                "update_id": id,
                "message": {
                    "message_id": id,
                    "from": {"id": chat_id, "is_bot": false, "first_name": username, "username": username},
                    "chat": {"id": chat_id, "type": "private", "username": username},
                    "date": 1_700_000_000,
                    "text": text,
                }
            }));
        }
        self.shared.news.notify_waiters();
    }

    /// Answers the next `sendMessage` (one that would otherwise succeed) with `status`: 429
    /// with `parameters.retry_after` (`retry_after`, default 1 s), 403 "bot was blocked by the
    /// user", or any other status. Calls queue up, one failure per `sendMessage`.
    pub fn fail_next_send(&self, status: u16, retry_after: Option<u32>) {
        self.shared.lock().failures.push_back((status, retry_after));
    }

    /// The messages delivered, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.lock().sent.clone()
    }

    /// Every `sendMessage` call, delivered or refused: when, and the status answered.
    pub fn attempts(&self) -> Vec<(Instant, u16)> {
        self.shared.lock().attempts.clone()
    }

    /// How many `getUpdates` calls (with the right token) arrived.
    pub fn get_updates_calls(&self) -> usize {
        self.shared.lock().get_updates_calls
    }
}
