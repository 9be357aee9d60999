//! Test support: answers in each API's real format, and a local HTTP server that serves them
//! (or fails in chosen ways) and counts the requests it gets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// Coinbase `/v2/exchange-rates?currency=USD` (an excerpt of a real answer, with entries Kassa
/// ignores: a test currency `00`, `DOGE`, gold `XAU`, and a zero rate).
pub(crate) const COINBASE: &str = r#"{"data":{"currency":"USD","rates":{
    "00":"52.6315789473684211","AED":"3.6725","BTC":"0.0000103","ETH":"0.000285714285714286",
    "EUR":"0.92","JPY":"151.5","LTC":"0.01","PEPE":"95238.0952380952","SHIB":"45454.5454545454545",
    "USD":"1.0","USDT":"1.0002000400080016","DOGE":"5.2","XAU":"0.000377","ZERO":"0"}}}"#;

/// CoinGecko `/api/v3/simple/price?ids=…&vs_currencies=usd`: numbers, small ones in exponent
/// form, one more precise than an f64 holds; an id answered with `{}` and one with `null`.
pub(crate) const COINGECKO_PRICES: &str = r#"{"bitcoin":{"usd":97000.12},
    "ethereum":{"usd":3456.789012345678901},"pepe":{"usd":1.043e-05},"shiba-inu":{"usd":2.187e-05},
    "the-open-network":{"usd":5.43},"tether":{"usd":1.001},"dai":{},"usdd":{"usd":null}}"#;

/// CoinGecko `/api/v3/exchange_rates`: units per one bitcoin.
pub(crate) const COINGECKO_EXCHANGE_RATES: &str = r#"{"rates":{
    "btc":{"name":"Bitcoin","unit":"BTC","value":1.0,"type":"crypto"},
    "eth":{"name":"Ether","unit":"ETH","value":28.06,"type":"crypto"},
    "usd":{"name":"US Dollar","unit":"$","value":97000.0,"type":"fiat"},
    "eur":{"name":"Euro","unit":"€","value":89000.0,"type":"fiat"},
    "jpy":{"name":"Japanese Yen","unit":"¥","value":14695500.0,"type":"fiat"},
    "gbp":{"name":"British Pound Sterling","unit":"£","value":76377.95,"type":"fiat"},
    "brl":{"name":"Brazil Real","unit":"R$","value":560000.0,"type":"fiat"},
    "xau":{"name":"Gold - Troy Ounces","unit":"XAU","value":36.6,"type":"commodity"}}}"#;

/// Binance `/api/v3/ticker/price`: every pair; Kassa reads `<crypto>USDT`.
pub(crate) const BINANCE: &str = r#"[{"symbol":"ETHBTC","price":"0.03563000"},
    {"symbol":"BTCUSDT","price":"97000.12000000"},{"symbol":"ETHUSDT","price":"3456.78000000"},
    {"symbol":"PEPEUSDT","price":"0.00001043"},{"symbol":"USDCUSDT","price":"1.00010000"},
    {"symbol":"DOGEUSDT","price":"0.10000000"},{"symbol":"BTCEUR","price":"89000.00000000"},
    {"symbol":"EURUSDT","price":"1.08000000"}]"#;

/// How the server answers.
#[derive(Clone, Debug)]
pub(crate) enum Behaviour {
    /// The configured body for the path (404 for other paths).
    Normal,
    /// This status with a short HTML body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// Waits this long, then answers normally.
    Slow(Duration),
}

struct Shared {
    bodies: Mutex<HashMap<String, String>>,
    behaviour: Mutex<Behaviour>,
    hits: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

/// A local HTTP server on 127.0.0.1 speaking the price APIs.
pub(crate) struct Server {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
}

impl Server {
    /// A server answering every API path with its real-format sample.
    pub async fn start() -> Server {
        let bodies = [
            ("/v2/exchange-rates", COINBASE),
            ("/api/v3/simple/price", COINGECKO_PRICES),
            ("/api/v3/exchange_rates", COINGECKO_EXCHANGE_RATES),
            ("/api/v3/ticker/price", BINANCE),
        ]
        .into_iter()
        .map(|(p, b)| (p.to_owned(), b.to_owned()))
        .collect();
        let shared = Arc::new(Shared {
            bodies: Mutex::new(bodies),
            behaviour: Mutex::new(Behaviour::Normal),
            hits: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { url, shared }
    }

    /// Replaces the answer for `path`.
    pub fn set_body(&self, path: &str, body: &str) {
        self.shared
            .bodies
            .lock()
            .unwrap()
            .insert(path.to_owned(), body.to_owned());
    }

    /// Changes how the server answers.
    pub fn behave(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// The path and query of every request received so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }
}

async fn answer(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    shared.requests.lock().unwrap().push(uri.to_string());
    let behaviour = shared.behaviour.lock().unwrap().clone();
    match behaviour {
        Behaviour::Status(code) => {
            return (
                StatusCode::from_u16(code).unwrap(),
                "<html>upstream error</html>",
            )
                .into_response();
        }
        Behaviour::Garbage => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                "<html>rate limited</html>",
            )
                .into_response();
        }
        Behaviour::Slow(d) => tokio::time::sleep(d).await,
        Behaviour::Normal => {}
    }
    let body = shared.bodies.lock().unwrap().get(uri.path()).cloned();
    match body {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A URL on which nothing listens (connections are refused).
pub(crate) async fn refusing_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
