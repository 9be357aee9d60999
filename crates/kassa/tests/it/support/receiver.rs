//! A real HTTP receiver for postbacks: an axum server on a free loopback port that keeps every
//! request it gets and answers with a scripted sequence of statuses (then 200).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// A request the receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    /// `Content-Type`.
    pub content_type: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// `X-Kassa-Delivery`.
    pub delivery: String,
    /// The raw body.
    pub body: String,
}

impl Hit {
    /// The body as JSON (JSON postbacks).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("postback body is not JSON ({e}): {}", self.body))
    }

    /// The body's form fields (form postbacks).
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    hits: Vec<Hit>,
    script: VecDeque<u16>,
}

/// The receiver.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/postback`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

async fn take(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut g = inner.lock().expect("lock");
    g.hits.push(Hit {
        content_type: header("content-type"),
        user_agent: header("user-agent"),
        delivery: header("x-kassa-delivery"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let status = g.script.pop_front().unwrap_or(200);
    let status = StatusCode::from_u16(status).expect("status");
    (
        status,
        if status.is_success() {
            "ok"
        } else {
            "shop is down for maintenance"
        },
    )
}

impl Receiver {
    /// Starts a receiver that answers 200 to everything.
    pub async fn start() -> Receiver {
        Self::answering(&[]).await
    }

    /// Starts a receiver whose first answers are `statuses`, then 200.
    pub async fn answering(statuses: &[u16]) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            hits: Vec::new(),
            script: statuses.iter().copied().collect(),
        }));
        let app = Router::new()
            .route("/postback", post(take))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/postback"),
            inner,
        }
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.inner.lock().expect("lock").hits.clone()
    }

    /// Makes every further answer `status`.
    pub fn always(&self, status: u16) {
        let mut g = self.inner.lock().expect("lock");
        g.script = std::iter::repeat_n(status, 10_000).collect();
    }
}
