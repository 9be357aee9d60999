//! A real HTTP receiver for postbacks: an axum server on a free loopback port that keeps every
//! request it gets and answers with a scripted sequence of statuses (then 200) — after a delay,
//! or only once released (a shop whose endpoint hangs).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

struct Inner {
    hits: Vec<Hit>,
    script: VecDeque<u16>,
    /// How long each answer takes.
    delay: Duration,
    /// While true, requests wait (they are recorded on arrival).
    hold: tokio::sync::watch::Sender<bool>,
    /// Requests waiting or being answered now.
    in_flight: usize,
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
    let (mut held, delay) = {
        let mut g = inner.lock().expect("lock");
        g.hits.push(Hit {
            content_type: header("content-type"),
            user_agent: header("user-agent"),
            delivery: header("x-kassa-delivery"),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        g.in_flight += 1;
        (g.hold.subscribe(), g.delay)
    };
    // Counted out also when Kassa gives up on the request (the future is dropped).
    let _out = InFlight(inner.clone());
    let _ = held.wait_for(|hold| !*hold).await;
    tokio::time::sleep(delay).await;
    let mut g = inner.lock().expect("lock");
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

struct InFlight(Arc<Mutex<Inner>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut g = self.0.lock().expect("lock");
        g.in_flight = g.in_flight.saturating_sub(1);
    }
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
            delay: Duration::ZERO,
            hold: tokio::sync::watch::channel(false).0,
            in_flight: 0,
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

    /// Makes every answer take `delay`.
    pub fn slow(&self, delay: Duration) {
        self.inner.lock().expect("lock").delay = delay;
    }

    /// Holds every request (recorded, unanswered) until [`Receiver::release`].
    pub fn hang(&self) {
        self.inner.lock().expect("lock").hold.send_replace(true);
    }

    /// Answers the held requests and stops holding.
    pub fn release(&self) {
        self.inner.lock().expect("lock").hold.send_replace(false);
    }

    /// Requests waiting for their answer now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().expect("lock").in_flight
    }

    /// Makes every further answer `status`.
    pub fn always(&self, status: u16) {
        let mut g = self.inner.lock().expect("lock");
        g.script = std::iter::repeat_n(status, 10_000).collect();
    }
}
