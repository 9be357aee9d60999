//! What the HTTP sources share: the client (TLS, timeout), a bounded GET, and reading prices
//! out of JSON without going through floating point.

use std::error::Error as _;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::RateError;

/// The most a price API may send. Binance's full ticker list is a few hundred KiB; anything
/// far larger is not a price list, and reading it whole would only cost memory.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// The HTTP client for price APIs: every request (connect, send, read) must finish within
/// `timeout` (10 s in production), https through rustls with the ring provider, no proxies
/// from the environment.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a default crypto provider (aws-lc is slow to compile), so the
    // process needs one before the first client; ring is what the rest of Kassa installs, and
    // installing it again is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .no_proxy()
        .user_agent(concat!("Kassa/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// GETs `url` and returns the body of a 2xx answer.
pub(crate) async fn get(
    client: &reqwest::Client,
    provider: &'static str,
    url: &str,
) -> Result<Vec<u8>, RateError> {
    let request_failed = |e: reqwest::Error| RateError::Request {
        provider,
        message: describe(&e),
    };
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(request_failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(RateError::Status {
            provider,
            status: status.as_u16(),
        });
    }
    let too_large = || RateError::Malformed {
        provider,
        message: format!("response larger than {MAX_BODY} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `base` without trailing slashes, followed by `path_and_query`.
pub(crate) fn join(base: &str, path_and_query: &str) -> String {
    format!("{}{path_and_query}", base.trim().trim_end_matches('/'))
}

/// A reqwest error with its causes ("error sending request …: connection refused"), since
/// its own text leaves out the part an operator needs.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    if e.is_timeout() && !text.contains("timed out") {
        text.insert_str(0, "timed out: ");
    }
    text
}

/// A price from a JSON value that is either a string (`"97000.12"`, Coinbase and Binance) or a
/// number (`97000.12`, `1.043e-05`, CoinGecko), read from its text so it stays exact.
pub(crate) fn json_decimal(raw: &RawValue) -> Option<Decimal> {
    let text = raw.get();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).ok()?;
        parse_number(&s)
    } else {
        parse_number(text)
    }
}

/// An exact decimal from plain (`0.0000103`) or scientific (`1.043e-05`) notation.
pub(crate) fn parse_number(text: &str) -> Option<Decimal> {
    let t = text.trim();
    if t.contains(['e', 'E']) {
        Decimal::from_scientific(t).ok()
    } else {
        kassa_core::money::parse_decimal(t)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn reads_json_numbers_and_strings_exactly() {
        assert_eq!(json_decimal(&raw("97000.12")), Some(d("97000.12")));
        assert_eq!(
            json_decimal(&raw("\"97000.12000000\"")),
            Some(d("97000.12"))
        );
        assert_eq!(json_decimal(&raw("1.043e-05")), Some(d("0.00001043")));
        assert_eq!(json_decimal(&raw("2E3")), Some(d("2000")));
        assert_eq!(json_decimal(&raw("\"0.0000103\"")), Some(d("0.0000103")));
        // 0.1 + 0.2 style damage would show here if the value went through f64.
        assert_eq!(
            json_decimal(&raw("0.30000000000000001")),
            Some(d("0.30000000000000001"))
        );
        assert_eq!(json_decimal(&raw("null")), None);
        assert_eq!(json_decimal(&raw("\"abc\"")), None);
        assert_eq!(json_decimal(&raw("{}")), None);
    }

    #[test]
    fn joins_base_and_path() {
        assert_eq!(
            join("http://127.0.0.1:9/", "/v2/x?a=b"),
            "http://127.0.0.1:9/v2/x?a=b"
        );
        assert_eq!(
            join("https://api.binance.com", "/p"),
            "https://api.binance.com/p"
        );
    }

    #[test]
    fn builds_an_https_capable_client() {
        // Without a crypto provider, reqwest's rustls backend would panic here.
        assert!(http_client(Duration::from_secs(10)).is_ok());
    }
}
