//! Lenient request bodies, as real CryptoCloud clients send them: JSON or
//! `application/x-www-form-urlencoded` (with PHP-style nested keys such as
//! `add_fields[time_to_pay][hours]=1` and `add_fields[available_currencies][]=BTC`), numbers
//! as numbers or strings, `[]` where an object is expected, unknown fields ignored.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use kassa_core::input::{self, Declared, Limits};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ApiError;
use crate::http::input as bounded;

/// A parsed body: always a JSON object (empty when there was no body), within
/// [`Limits::API_BODY`].
pub struct Body(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let declared = match req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            Some(v)
                if v.starts_with("application/x-www-form-urlencoded")
                    || v.starts_with("multipart/form-data") =>
            {
                Declared::Form
            }
            _ => Declared::Other,
        };
        let bytes = bounded::read_body(req, Limits::API_BODY.max_bytes)
            .await
            .map_err(body_error)?;
        input::parse_body(&bytes, declared, &Limits::API_BODY)
            .map(Body)
            .map_err(body_error)
    }
}

fn body_error(e: input::InputError) -> ApiError {
    ApiError::field("body", capitalised(&e.to_string()))
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect::<String>() + ".")
        .unwrap_or_default()
}

/// A query string within [`Limits::QUERY`], deserialised into `T`; refused in the API's error
/// shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        bounded::query(&parts.uri)
            .map(ApiQuery)
            .map_err(|e| match e {
                bounded::FlatError::Input(e) => {
                    ApiError::field("query", capitalised(&e.to_string()))
                }
                bounded::FlatError::Shape => {
                    ApiError::field("query", "The query string has invalid parameters.")
                }
            })
    }
}

/// A field as text: strings as they are, numbers in their shortest decimal form; `None` when
/// missing or null.
pub fn text(body: &Map<String, Value>, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field as an object; `[]` (an empty PHP array) counts as an empty object.
pub fn object<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    match body.get(key)? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// A field as a list of strings: a JSON array, a PHP array (object with numeric keys), or one
/// comma-separated string.
pub fn list(body: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    let as_text = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some(match body.get(key)? {
        Value::Array(items) => items.iter().filter_map(as_text).collect(),
        Value::Object(m) => m.values().filter_map(as_text).collect(),
        Value::String(s) => s
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_strings_read_alike() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"a": 100, "b": "100.50", "c": 0.1, "d": null, "e": []}"#)
                .unwrap();
        assert_eq!(text(&m, "a").as_deref(), Some("100"));
        assert_eq!(text(&m, "b").as_deref(), Some("100.50"));
        assert_eq!(text(&m, "c").as_deref(), Some("0.1"));
        assert_eq!(text(&m, "d"), None);
        assert!(object(&m, "e").is_none());
        assert_eq!(list(&m, "e").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn limit_errors_read_as_sentences() {
        assert_eq!(
            capitalised(&input::InputError::TooDeep { max: 8 }.to_string()),
            "Fields are nested too deeply (at most 8 levels)."
        );
    }
}
