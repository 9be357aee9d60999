//! Lenient request bodies, as real CryptoCloud clients send them: JSON or
//! `application/x-www-form-urlencoded` (with PHP-style nested keys such as
//! `add_fields[time_to_pay][hours]=1` and `add_fields[available_currencies][]=BTC`), numbers
//! as numbers or strings, `[]` where an object is expected, unknown fields ignored.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::{Map, Value};

use super::ApiError;

/// Largest API request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A parsed body: always a JSON object (empty when there was no body).
pub struct Body(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.starts_with("application/x-www-form-urlencoded")
                    || v.starts_with("multipart/form-data")
            });
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::field("body", "Request body is too large or unreadable."))?;
        if bytes.len() > BODY_LIMIT {
            return Err(ApiError::field("body", "Request body is too large."));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        // Some clients send JSON with a form content type and the other way round: try the
        // declared format first, then the other.
        let json = || serde_json::from_slice::<Value>(&bytes).ok();
        let form = || Some(Value::Object(parse_form(&bytes)));
        // A form body never starts with `{`; a JSON object does.
        let looks_like_json = bytes.trim_ascii_start().starts_with(b"{");
        let value = if is_form && !looks_like_json {
            form().filter(|v| !is_empty(v)).or_else(json)
        } else {
            json().or_else(form)
        };
        match value {
            Some(Value::Object(m)) => Ok(Body(m)),
            _ => Err(ApiError::field(
                "body",
                "Request body must be a JSON object or form fields.",
            )),
        }
    }
}

fn is_empty(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

/// Parses form fields, turning `a[b][c]=v` into nested objects and `a[]=v` into arrays.
pub fn parse_form(bytes: &[u8]) -> Map<String, Value> {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(bytes) {
        let mut path: Vec<String> = Vec::new();
        let (head, rest) = key
            .split_once('[')
            .map_or((key.as_ref(), ""), |(h, r)| (h, r));
        path.push(head.to_owned());
        for seg in rest.split('[') {
            let seg = seg.trim_end_matches(']');
            path.push(seg.to_owned());
        }
        if rest.is_empty() {
            path.truncate(1);
        }
        insert(&mut root, &path, Value::String(value.into_owned()));
    }
    root
}

fn insert(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.insert(first.clone(), value);
        return;
    }
    let slot = map.entry(first.clone()).or_insert_with(|| {
        if rest[0].is_empty() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        }
    });
    match slot {
        Value::Array(items) if rest[0].is_empty() => {
            if rest.len() == 1 {
                items.push(value);
            } else {
                let mut inner = Map::new();
                insert(&mut inner, &rest[1..], value);
                items.push(Value::Object(inner));
            }
        }
        Value::Object(inner) => insert(inner, rest, value),
        other => {
            let mut inner = Map::new();
            insert(&mut inner, rest, value);
            *other = Value::Object(inner);
        }
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
    fn php_style_forms_nest() {
        let m = parse_form(
            b"shop_id=abc&amount=10.5&add_fields[time_to_pay][hours]=2&add_fields[available_currencies][]=BTC&add_fields[available_currencies][]=LTC",
        );
        assert_eq!(text(&m, "amount").as_deref(), Some("10.5"));
        let add = object(&m, "add_fields").unwrap();
        assert_eq!(add["time_to_pay"]["hours"], "2");
        assert_eq!(list(add, "available_currencies").unwrap(), ["BTC", "LTC"]);
    }

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
}
