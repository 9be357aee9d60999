//! What a POST made that must be shown exactly once — a new API key, recovery codes, a
//! withdrawal key, a test postback's answer — rides a sealed five-minute cookie from the POST's
//! redirect to the GET that shows it, and that GET clears it. So every POST that succeeds
//! answers with a redirect: a refresh never sends the form again, and never shows a secret
//! again either.
//!
//! The cookie is sealed with the keyring under a context naming the purpose and the session,
//! so it opens only for the same person, for the same thing; any instance sharing the keyring
//! opens it (no server-side state).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::state::AppState;
use crate::web::context::Viewer;
use crate::web::cookies::Jar;

/// The cookie's name.
const COOKIE: &str = "kassa_reveal";
/// How long it lives: long enough for a slow redirect, short enough to be gone.
const LIFETIME_SECS: u64 = 300;

fn context(me: &Viewer, purpose: &str) -> String {
    format!("reveal:{purpose}:session:{}", me.session.id)
}

/// A 303 redirect to `to` carrying `value` for `purpose`.
pub fn redirect<T: Serialize>(
    st: &AppState,
    me: &Viewer,
    purpose: &str,
    value: &T,
    to: &str,
) -> Response {
    let mut r = Redirect::to(to).into_response();
    if let Ok(json) = serde_json::to_vec(value) {
        let sealed = st.keyring.seal(&context(me, purpose), &json);
        r.headers_mut().append(
            header::SET_COOKIE,
            st.cookies.set(COOKIE, &sealed, Some(LIFETIME_SECS)),
        );
    }
    r
}

/// What the request carries for `purpose`, if anything (for this person).
pub fn take<T: DeserializeOwned>(
    st: &AppState,
    me: &Viewer,
    headers: &HeaderMap,
    purpose: &str,
) -> Option<T> {
    let sealed = Jar::parse(headers).get(&st.cookies.name(COOKIE))?;
    let json = st.keyring.open(&context(me, purpose), sealed).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Marks `r` as the one showing: the cookie is cleared and the page is not stored.
pub fn shown(st: &AppState, mut r: Response) -> Response {
    r.headers_mut()
        .append(header::SET_COOKIE, st.cookies.clear(COOKIE));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
