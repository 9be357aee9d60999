//! Untrusted request input, parsed within bounds.
//!
//! Everything a client sends passes through here before any handler looks at it: request
//! bodies as JSON or as `application/x-www-form-urlencoded` (with PHP-style nested keys such as
//! `add_fields[time_to_pay][hours]=1` and `add_fields[available_currencies][]=BTC`, which real
//! CryptoCloud clients send), and query strings. Each parser checks the total size, the
//! nesting depth, the number of fields and the length of every key and value, and refuses with
//! an [`InputError`] that names the limit. No parser here recurses on client-controlled depth:
//! the JSON nesting is measured by a linear scan before `serde_json` sees the text, forms are
//! nested by a loop, and the walks over parsed values use an explicit stack.

use serde_json::{Map, Value};

/// The bounds one parser enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest input, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting: `a[b][c]` and `{"a":{"b":{"c":1}}}` are depth 3.
    pub max_depth: usize,
    /// Most fields: every key and every array item counts once.
    pub max_fields: usize,
    /// Longest key, in bytes.
    pub max_key_len: usize,
    /// Longest value (string or number text), in bytes.
    pub max_value_len: usize,
}

impl Limits {
    /// Request bodies of the merchant API: 64 KiB, depth 8, 1,000 fields (PHP's
    /// `max_input_vars`), keys of 128 bytes, values of 16 KiB.
    pub const API_BODY: Limits = Limits {
        max_bytes: 64 * 1024,
        max_depth: 8,
        max_fields: 1_000,
        max_key_len: 128,
        max_value_len: 16 * 1024,
    };

    /// Forms of the dashboard and the payment page: flat, 64 KiB, 300 fields.
    pub const PAGE_FORM: Limits = Limits {
        max_bytes: 64 * 1024,
        max_depth: 1,
        max_fields: 300,
        max_key_len: 128,
        max_value_len: 16 * 1024,
    };

    /// Query strings: flat, 4 KiB, 64 fields, values of 1 KiB.
    pub const QUERY: Limits = Limits {
        max_bytes: 4 * 1024,
        max_depth: 1,
        max_fields: 64,
        max_key_len: 64,
        max_value_len: 1024,
    };
}

/// Why input was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Over [`Limits::max_bytes`].
    #[error("the request is too large (at most {max} bytes)")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Nested deeper than [`Limits::max_depth`].
    #[error("fields are nested too deeply (at most {max} levels)")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More than [`Limits::max_fields`] fields.
    #[error("too many fields (at most {max})")]
    TooManyFields {
        /// The limit.
        max: usize,
    },
    /// A key over [`Limits::max_key_len`].
    #[error("a field name is too long (at most {max} bytes)")]
    KeyTooLong {
        /// The limit.
        max: usize,
    },
    /// A value over [`Limits::max_value_len`].
    #[error("the value of {field} is too long (at most {max} bytes)")]
    ValueTooLong {
        /// The field (its key, shortened).
        field: String,
        /// The limit.
        max: usize,
    },
    /// Valid JSON, but not an object.
    #[error("the request body must be a JSON object or form fields")]
    NotAnObject,
}

/// The declared type of a body, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Declared {
    /// `application/x-www-form-urlencoded` (or `multipart/form-data`, which lenient clients
    /// send for plain fields).
    Form,
    /// Anything else: JSON is tried first.
    Other,
}

/// Parses a merchant API body: always an object (empty when the body is blank).
///
/// Clients send JSON with a form content type and the other way round, so the declared format
/// is tried first and then the other — but a body refused for a limit is refused, never
/// re-read as the other format.
pub fn parse_body(
    bytes: &[u8],
    declared: Declared,
    limits: &Limits,
) -> Result<Map<String, Value>, InputError> {
    if bytes.len() > limits.max_bytes {
        return Err(InputError::TooLarge {
            max: limits.max_bytes,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    // A form body never starts with `{`; a JSON object does.
    let looks_like_json = bytes.trim_ascii_start().starts_with(b"{");
    if declared == Declared::Form && !looks_like_json {
        let form = parse_form(bytes, limits)?;
        if !form.is_empty() {
            return Ok(form);
        }
        return match parse_json(bytes, limits)? {
            Some(Value::Object(m)) => Ok(m),
            _ => Err(InputError::NotAnObject),
        };
    }
    match parse_json(bytes, limits)? {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(InputError::NotAnObject),
        None => parse_form(bytes, limits),
    }
}

/// Parses JSON within `limits`: `Ok(None)` when the text is not JSON at all, an error when it
/// is (or starts like) JSON that breaks a limit.
pub fn parse_json(bytes: &[u8], limits: &Limits) -> Result<Option<Value>, InputError> {
    if bytes.len() > limits.max_bytes {
        return Err(InputError::TooLarge {
            max: limits.max_bytes,
        });
    }
    json_depth_within(bytes, limits.max_depth)?;
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(None);
    };
    check_value(&value, limits)?;
    Ok(Some(value))
}

/// Measures the nesting of brackets outside strings with one pass over the text, so that
/// `serde_json` (which recurses) only ever sees text within the depth limit. Text that is not
/// JSON is measured the same way; it fails to parse afterwards.
fn json_depth_within(bytes: &[u8], max_depth: usize) -> Result<(), InputError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(InputError::TooDeep { max: max_depth });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Checks the field count and the key and value lengths of a parsed value, walking it with an
/// explicit stack.
fn check_value(value: &Value, limits: &Limits) -> Result<(), InputError> {
    let mut fields = 0usize;
    let mut stack: Vec<(&str, &Value)> = vec![("body", value)];
    while let Some((key, v)) = stack.pop() {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    if k.len() > limits.max_key_len {
                        return Err(InputError::KeyTooLong {
                            max: limits.max_key_len,
                        });
                    }
                    count(&mut fields, limits)?;
                    stack.push((k, child));
                }
            }
            Value::Array(items) => {
                for child in items {
                    count(&mut fields, limits)?;
                    stack.push((key, child));
                }
            }
            Value::String(s) => check_len(key, s.len(), limits)?,
            Value::Number(n) => check_len(key, n.to_string().len(), limits)?,
            Value::Bool(_) | Value::Null => {}
        }
    }
    Ok(())
}

fn count(fields: &mut usize, limits: &Limits) -> Result<(), InputError> {
    *fields += 1;
    if *fields > limits.max_fields {
        return Err(InputError::TooManyFields {
            max: limits.max_fields,
        });
    }
    Ok(())
}

fn check_len(key: &str, len: usize, limits: &Limits) -> Result<(), InputError> {
    if len > limits.max_value_len {
        return Err(InputError::ValueTooLong {
            field: key.chars().take(40).collect(),
            max: limits.max_value_len,
        });
    }
    Ok(())
}

/// Parses URL-encoded fields, turning `a[b][c]=v` into nested objects and `a[]=v` into arrays
/// (a later field wins over an earlier one of another shape). Invalid UTF-8 and bad percent
/// escapes are read leniently (replacement characters), never refused.
pub fn parse_form(bytes: &[u8], limits: &Limits) -> Result<Map<String, Value>, InputError> {
    let mut root = Map::new();
    for (key, value) in read_pairs(bytes, limits, true)? {
        insert(&mut root, &key_path(&key), Value::String(value));
    }
    Ok(root)
}

/// The URL-encoded pairs of `bytes`, each checked against `limits`; for flat forms and query
/// strings, where brackets in keys are plain characters.
pub fn pairs(bytes: &[u8], limits: &Limits) -> Result<Vec<(String, String)>, InputError> {
    read_pairs(bytes, limits, false)
}

fn read_pairs(
    bytes: &[u8],
    limits: &Limits,
    nested: bool,
) -> Result<Vec<(String, String)>, InputError> {
    if bytes.len() > limits.max_bytes {
        return Err(InputError::TooLarge {
            max: limits.max_bytes,
        });
    }
    let mut out = Vec::new();
    for (key, value) in form_urlencoded::parse(bytes) {
        if out.len() >= limits.max_fields {
            return Err(InputError::TooManyFields {
                max: limits.max_fields,
            });
        }
        // Depth first: a deeply nested key is long too, and depth is what the client should hear.
        if nested && key_path(&key).len() > limits.max_depth {
            return Err(InputError::TooDeep {
                max: limits.max_depth,
            });
        }
        if key.len() > limits.max_key_len {
            return Err(InputError::KeyTooLong {
                max: limits.max_key_len,
            });
        }
        check_len(&key, value.len(), limits)?;
        out.push((key.into_owned(), value.into_owned()));
    }
    Ok(out)
}

/// Checks URL-encoded text (a flat form or a query string) against `limits` without keeping
/// the pairs.
pub fn check_pairs(bytes: &[u8], limits: &Limits) -> Result<(), InputError> {
    pairs(bytes, limits).map(drop)
}

/// `a[b][]` → `["a", "b", ""]`; a key without brackets is a path of one.
fn key_path(key: &str) -> Vec<&str> {
    match key.split_once('[') {
        None => vec![key],
        Some((head, rest)) => std::iter::once(head)
            .chain(rest.split('[').map(|seg| seg.trim_end_matches(']')))
            .collect(),
    }
}

/// Stores `value` at `path`, creating objects for named segments and arrays for `[]`, in a loop.
fn insert(root: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let mut slot = root.entry(*first).or_insert(Value::Null);
    for seg in rest {
        slot = if seg.is_empty() {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let Value::Array(items) = slot else {
                return;
            };
            items.push(Value::Null);
            let last = items.len() - 1;
            &mut items[last]
        } else {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(inner) = slot else {
                return;
            };
            inner.entry(*seg).or_insert(Value::Null)
        };
    }
    *slot = value;
}

#[cfg(test)]
mod tests;
