//! What every dashboard request goes through before its handler: the session is resolved, the
//! language chosen, the CSRF token derived and (for anything but GET/HEAD) checked, the flash
//! message taken; afterwards security headers are added and error markers are rendered as
//! full pages in the visitor's language.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use kassa_core::account::{Grants, Section};
use kassa_store::accounts::{self as users, UserRow};
use kassa_store::sessions::{self, SessionRow, Stage};
use sha2::Sha256;

use super::cookies::{self, Jar};
use super::errors::{ErrorKind, WebError, render_error_page};
use crate::http::ClientAddr;
use crate::state::AppState;
use kassa_service::accounts::{self, Client};
use kassa_service::audit::Actor;
use kassa_service::auth::token;
use kassa_service::auth::token::constant_time_eq;
use kassa_service::i18n::{Lang, Tr};

/// Largest form body accepted by dashboard routes (uploads use their own limits).
const FORM_LIMIT: usize = 64 * 1024;

/// The person behind a request with a session.
pub struct Viewer {
    /// The session.
    pub session: SessionRow,
    /// The user.
    pub user: UserRow,
    /// What they may do.
    pub grants: Grants,
    /// Their merchant's name.
    pub business: String,
    /// Unread lines in their notification center.
    pub unread: i64,
}

impl Viewer {
    /// Whether the session is fully signed in (not waiting for the second factor).
    pub fn is_active(&self) -> bool {
        self.session.stage == Stage::Active
    }
}

/// A one-shot message shown on the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    /// `success`, `info` or `error` (a CSS class).
    pub kind: &'static str,
    /// Translation key.
    pub key: String,
}

impl Flash {
    fn parse(v: &str) -> Option<Flash> {
        let (kind, key) = v.split_once(':')?;
        let kind = match kind {
            "s" => "success",
            "i" => "info",
            "e" => "error",
            _ => return None,
        };
        let ok = !key.is_empty()
            && key.len() <= 80
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        ok.then(|| Flash {
            kind,
            key: key.to_owned(),
        })
    }
}

/// The per-request context the middleware builds.
#[derive(Clone)]
pub struct WebCtx {
    /// Chosen language.
    pub lang: Lang,
    /// CSRF token forms must carry.
    pub csrf: String,
    /// Client address and browser.
    pub client: Client,
    /// Session holder (any stage).
    pub viewer: Option<Arc<Viewer>>,
    /// Message from the previous response.
    pub flash: Option<Flash>,
    /// Request path (and query), for `next=` links and navigation.
    pub path: String,
    /// The request id (shown on error pages as a reference).
    pub request_id: String,
}

impl WebCtx {
    /// The signed-in `viewer` acting from this request, as timelines and the activity log
    /// name them.
    pub fn actor<'a>(&'a self, viewer: &'a Viewer) -> Actor<'a> {
        Actor::user(viewer.user.id, &viewer.user.email, &self.client)
    }
}

impl WebCtx {
    /// The fully signed-in viewer, if any.
    pub fn signed_in(&self) -> Option<&Arc<Viewer>> {
        self.viewer.as_ref().filter(|v| v.is_active())
    }
}

/// The CSRF token for a seed (the session token, or the anonymous cookie).
pub fn csrf_token(st: &AppState, seed: &str) -> String {
    let key = st.keyring.derive_key("csrf");
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable_hmac());
    mac.update(seed.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn unreachable_hmac() -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this branch cannot be taken.
    <Hmac<Sha256> as Mac>::new_from_slice(b"k").unwrap_or_else(|_| unreachable_hmac())
}

/// The client's address (as `observe` decided it, see [`ClientAddr`]) and browser.
pub fn client_info(extensions: &Extensions, headers: &HeaderMap) -> Client {
    let ip = extensions
        .get::<ClientAddr>()
        .copied()
        .unwrap_or(ClientAddr(None))
        .text();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Client {
        ip,
        user_agent: user_agent.chars().take(400).collect(),
    }
}

async fn resolve(st: &AppState, token_value: &str) -> Result<Option<Viewer>, WebError> {
    let now = st.clock.now();
    let mut c = st.db.conn().await?;
    let Some(session) = sessions::live_by_token(
        &mut c,
        &token::hash(token_value),
        now,
        accounts::idle_since(st, now),
    )
    .await?
    else {
        return Ok(None);
    };
    let user = users::user_by_id(&mut c, session.user_id).await?;
    if user.status != kassa_core::account::UserStatus::Active {
        return Ok(None);
    }
    let grants = accounts::grants_of(&mut c, &user).await?;
    let business = users::merchant_name(&mut c, user.merchant_id).await?;
    let unread = kassa_store::notifications::unread(&mut c, user.id).await?;
    // Keep the idle timer running without writing on every request.
    if now.duration_since(session.last_seen_at) > Duration::from_secs(60) {
        drop(c);
        sessions::touch(&mut st.db.write().await?, session.id, now).await?;
    }
    Ok(Some(Viewer {
        session,
        user,
        grants,
        business,
        unread,
    }))
}

fn choose_lang(viewer: Option<&Viewer>, jar: &Jar<'_>, headers: &HeaderMap) -> Lang {
    viewer
        .map(|v| v.user.locale)
        .or_else(|| jar.get(cookies::LANG).and_then(Lang::parse))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::En)
}

/// The middleware.
pub async fn web_context(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match web_context_inner(&st, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn web_context_inner(st: &AppState, req: Request, next: Next) -> Result<Response, WebError> {
    let policy = st.cookies;
    let client = client_info(req.extensions(), req.headers());
    let request_id = req
        .extensions()
        .get::<crate::http::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());

    let (viewer, session_token, anon_seed, lang, flash) = {
        let jar = Jar::parse(req.headers());
        let session_name = policy.name(cookies::SESSION);
        let session_token = jar
            .get(&session_name)
            .filter(|t| token::is_well_formed(t))
            .map(str::to_owned);
        let viewer = match &session_token {
            Some(t) => resolve(st, t).await?,
            None => None,
        };
        let anon = jar
            .get(&policy.name(cookies::CSRF))
            .filter(|t| token::is_well_formed(t))
            .map(str::to_owned);
        let lang = choose_lang(viewer.as_ref(), &jar, req.headers());
        let flash = jar.get(cookies::FLASH).and_then(Flash::parse);
        (viewer, session_token, anon, lang, flash)
    };
    let viewer = viewer.map(Arc::new);
    let (seed, new_anon) = match (&viewer, &session_token, &anon_seed) {
        (Some(_), Some(t), _) => (t.clone(), None),
        (_, _, Some(a)) => (a.clone(), None),
        _ => {
            let fresh = token::generate();
            (fresh.clone(), Some(fresh))
        }
    };
    let csrf = csrf_token(st, &seed);
    let ctx = WebCtx {
        lang,
        csrf: csrf.clone(),
        client,
        viewer,
        flash: flash.clone(),
        path,
        request_id,
    };

    let checked = if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        Ok(req)
    } else {
        check_csrf(req, &csrf, &ctx).await
    };
    let mut response = match checked {
        Ok(mut req) => {
            req.extensions_mut().insert(ctx.clone());
            next.run(req).await
        }
        // Refused before the handler: still rendered as a page below.
        Err(e) => e.into_response(),
    };

    if let Some(kind) = response.extensions().get::<ErrorKind>().cloned() {
        response = render_error_page(st, &ctx, &kind, response);
    }
    let headers = response.headers_mut();
    if let Some(a) = new_anon {
        headers.append(header::SET_COOKIE, policy.set(cookies::CSRF, &a, None));
    }
    let sets_flash = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(b"kassa_flash="));
    if flash.is_some() && !sets_flash {
        headers.append(header::SET_COOKIE, policy.clear(cookies::FLASH));
    }
    security_headers(headers);
    Ok(response)
}

async fn check_csrf(req: Request, expected: &str, ctx: &WebCtx) -> Result<Request, WebError> {
    let from_header = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let from_query = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.into_owned())
    });
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (req, presented) = match (from_header.or(from_query), is_form) {
        (Some(t), _) => (req, Some(t)),
        (None, true) => {
            let (parts, body) = req.into_parts();
            let bytes = to_bytes(body, FORM_LIMIT)
                .await
                .map_err(|_| WebError::TooLarge)?;
            let token = form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "_csrf")
                .map(|(_, v)| v.into_owned());
            (Request::from_parts(parts, Body::from(bytes)), token)
        }
        (None, false) => (req, None),
    };
    match presented {
        Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(req),
        _ => {
            tracing::info!(path = %ctx.path, ip = %ctx.client.ip, "refused a form without a valid CSRF token");
            Err(WebError::Csrf)
        }
    }
}

fn security_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "cache-control", "no-store");
}

/// The context, for handlers that need it whole.
impl<S: Send + Sync> FromRequestParts<S> for WebCtx {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<WebCtx>()
            .cloned()
            .ok_or(WebError::Internal("web context missing".into()))
    }
}

/// The fully signed-in user of a request. Routes guarded by the access layer always have
/// one; elsewhere the extractor sends the visitor to the sign-in page.
pub struct Me(pub Arc<Viewer>);

impl<S: Send + Sync> FromRequestParts<S> for Me {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts
            .extensions
            .get::<WebCtx>()
            .and_then(|c| c.signed_in().cloned())
        {
            Some(v) => Ok(Me(v)),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// An action the person was sent to re-authenticate for: after re-authenticating they land
/// back on the page with `?resume=<what>`, and the page offers that one button, highlighted.
pub struct Resume {
    /// Where the button posts.
    pub action: String,
    /// The button's label.
    pub label: String,
}

/// The `?resume=` query of a page an action can be resumed on.
#[derive(serde::Deserialize, Default)]
pub struct ResumeQuery {
    /// What to resume.
    #[serde(default)]
    pub resume: String,
}

/// Sends the person to re-authenticate, then back to `back_to` offering `resume` again.
pub fn reauth_then(st: &AppState, back_to: &str, resume: &str) -> Response {
    let back = format!("{back_to}?resume={resume}");
    redirect_with_flash(
        st,
        &format!("/account/reauth?next={}", crate::web::urlencode(&back)),
        'i',
        "flash.reauth_needed",
    )
}

/// Whether a `next=` target is a local path (no open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.contains("://") =>
        {
            n.to_owned()
        }
        _ => "/dashboard".to_owned(),
    }
}

/// A 303 redirect that also sets a flash message.
pub fn redirect_with_flash(st: &AppState, to: &str, kind: char, key: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    let value = format!("{kind}:{key}");
    r.headers_mut().append(
        header::SET_COOKIE,
        st.cookies.set(cookies::FLASH, &value, Some(120)),
    );
    r
}

/// The page is only for sections the viewer may use.
pub fn require_section(me: &Viewer, section: Section) -> Result<(), WebError> {
    if me.grants.allows(section) {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

/// 200 with an HTML body.
pub fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// The page template context: translator, CSRF token, viewer, flash and navigation.
pub struct Page {
    /// Translator.
    pub tr: Tr,
    /// CSRF token for forms.
    pub csrf: String,
    /// The signed-in viewer.
    pub viewer: Option<Arc<Viewer>>,
    /// Message from the previous step.
    pub flash: Option<Flash>,
    /// The current path.
    pub path: String,
    /// The page title (translated).
    pub title: String,
    /// Version string for asset URLs (cache busting).
    pub assets: &'static str,
}

/// One navigation link.
pub struct NavItem {
    /// Target.
    pub href: &'static str,
    /// Label (translated).
    pub label: String,
    /// Whether it is the current section.
    pub current: bool,
}

impl Page {
    /// Builds the page context with a translated title.
    pub fn new(ctx: &WebCtx, title_key: &str) -> Self {
        let tr = Tr::new(ctx.lang);
        Self {
            tr,
            csrf: ctx.csrf.clone(),
            viewer: ctx.signed_in().cloned(),
            flash: ctx.flash.clone(),
            path: ctx.path.clone(),
            title: tr.t(title_key).to_owned(),
            assets: super::assets::version(),
        }
    }

    /// Translates `key`.
    pub fn t<'a>(&self, key: &'a str) -> &'a str
    where
        'static: 'a,
    {
        self.tr.t(key)
    }

    /// The language code, for `<html lang>`.
    pub fn lang(&self) -> &'static str {
        self.tr.lang.code()
    }

    /// Other languages, for the switcher: (code, native name).
    pub fn other_langs(&self) -> Vec<(&'static str, &'static str)> {
        Lang::ALL
            .into_iter()
            .filter(|l| *l != self.tr.lang)
            .map(|l| (l.code(), l.native_name()))
            .collect()
    }

    /// The signed-in user's e-mail, or an empty string.
    pub fn email(&self) -> &str {
        self.viewer.as_ref().map_or("", |v| v.user.email.as_str())
    }

    /// Unread notifications of the viewer.
    pub fn unread(&self) -> i64 {
        self.viewer.as_ref().map_or(0, |v| v.unread)
    }

    /// The merchant's name, or an empty string.
    pub fn business(&self) -> &str {
        self.viewer.as_ref().map_or("", |v| v.business.as_str())
    }

    /// Whether the viewer may use the section named `section` (as stored).
    pub fn can(&self, section: &str) -> bool {
        match (Section::parse(section), &self.viewer) {
            (Some(s), Some(v)) => v.grants.allows(s),
            _ => false,
        }
    }

    /// The main navigation for the viewer.
    pub fn nav(&self) -> Vec<NavItem> {
        let Some(v) = &self.viewer else {
            return Vec::new();
        };
        let mut items = vec![("/dashboard", "nav.dashboard", None)];
        items.push(("/payments", "nav.payments", Some(Section::ViewPayments)));
        items.push(("/balance", "nav.balance", Some(Section::ViewBalance)));
        items.push(("/statistics", "nav.statistics", Some(Section::ViewPayments)));
        items.push(("/projects", "nav.projects", Some(Section::ViewProjects)));
        items.push(("/staff", "nav.staff", Some(Section::ManageStaff)));
        items.push(("/activity", "nav.activity", Some(Section::ViewActivity)));
        items
            .into_iter()
            .filter(|(_, _, s)| s.is_none_or(|s| v.grants.allows(s)))
            .map(|(href, key, _)| NavItem {
                href,
                label: self.tr.t(key).to_owned(),
                current: self.path.starts_with(href),
            })
            .collect()
    }

    /// The flash text, translated.
    pub fn flash_text(&self) -> Option<(&'static str, String)> {
        self.flash
            .as_ref()
            .map(|f| (f.kind, self.tr.t(&f.key).to_owned()))
    }

    /// A timestamp as the viewer reads it.
    pub fn when(&self, t: &kassa_core::Timestamp) -> String {
        self.tr.datetime(*t)
    }
}

/// Status for responses that are pages but not 200 (e.g. a form with errors is 200, a
/// refused request is not).
pub fn with_status(status: StatusCode, mut r: Response) -> Response {
    *r.status_mut() = status;
    r
}
