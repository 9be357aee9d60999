//! Static assets, embedded in the binary and served with long cache lifetimes. URLs carry a
//! version (a hash of the content), so a new release is fetched at once.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    (
        "pay.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/pay.css"),
    ),
    (
        "pay.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/pay.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/icon.svg"),
    ),
];

/// A short hash of every asset, for `?v=` in URLs.
pub fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = Sha256::new();
        for (name, _, bytes) in ASSETS {
            h.update(name.as_bytes());
            h.update(bytes);
        }
        h.finalize()
            .iter()
            .take(5)
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

/// `GET /assets/{name}` and `/assets/icons/{kind}/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    serve_named(&name)
}

/// `GET /assets/icons/{kind}/{name}`: the currency and network icons.
pub async fn icon(Path((kind, name)): Path<(String, String)>) -> Response {
    let path = format!("icons/{kind}/{name}");
    match ICONS.iter().find(|(n, _)| *n == path) {
        Some((_, svg)) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *svg,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

fn serve_named(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, bytes)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// `GET /favicon.ico`: browsers ask for it regardless; answer with the icon.
pub async fn favicon() -> Response {
    serve_named("icon.svg")
}

include!(concat!(env!("OUT_DIR"), "/icons.rs"));
