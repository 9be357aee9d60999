//! The signed-in user's own account: profile, password, e-mail, two-factor authentication,
//! re-authentication, sessions and sign-in history.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kassa_core::SessionId;
use kassa_core::account::Email;
use kassa_store::audit::{self, LoginRow};
use kassa_store::sessions::{self, SessionRow};
use kassa_store::tokens;
use serde::Deserialize;

use super::auth::{NextQuery, check_new_password};
use super::{FormData, QueryData, message};
use crate::state::AppState;
use crate::web::context::{
    Me, Page, Resume, ResumeQuery, WebCtx, html, redirect_with_flash, safe_next,
};
use crate::web::errors::WebError;
use crate::web::forms::{FieldErrors, email_error_key};
use kassa_service::accounts::{self, EmailChange, EmailChangeConfirm};
use kassa_service::auth::totp;
use kassa_service::i18n::{Lang, Tr};

#[derive(Template)]
#[template(path = "account/profile.html")]
struct ProfilePage<'a> {
    page: &'a Page,
    name: &'a str,
    lang: &'a str,
    errors: &'a FieldErrors,
}

/// `GET /account`
pub async fn profile_form(ctx: WebCtx, Me(me): Me) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "account.title");
    Ok(html(
        ProfilePage {
            page: &page,
            name: &me.user.name,
            lang: me.user.locale.code(),
            errors: &FieldErrors::new(),
        }
        .render()?,
    ))
}

/// The profile form.
#[derive(Deserialize)]
pub struct ProfileInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    lang: String,
}

/// `POST /account`
pub async fn profile(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<ProfileInput>,
) -> Result<Response, WebError> {
    let tr = Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let name = input.name.trim();
    if name.chars().count() > 100 {
        errors.add(tr, "name", "form.name.too_long");
    }
    let lang = Lang::parse(&input.lang);
    if lang.is_none() {
        errors.add(tr, "lang", "account.language_invalid");
    }
    let Some(lang) = lang.filter(|_| errors.is_empty()) else {
        let page = Page::new(&ctx, "account.title");
        return Ok(html(
            ProfilePage {
                page: &page,
                name: &input.name,
                lang: &input.lang,
                errors: &errors,
            }
            .render()?,
        ));
    };
    accounts::update_profile(&st, &me.user, name, lang, &ctx.client).await?;
    Ok(redirect_with_flash(&st, "/account", 's', "flash.saved"))
}

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage<'a> {
    page: &'a Page,
    errors: &'a FieldErrors,
}

/// `GET /account/password`
pub async fn password_form(ctx: WebCtx) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "password.title");
    Ok(html(
        PasswordPage {
            page: &page,
            errors: &FieldErrors::new(),
        }
        .render()?,
    ))
}

/// The password change form.
#[derive(Deserialize)]
pub struct PasswordInput {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_repeat: String,
}

/// `POST /account/password`
pub async fn password(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<PasswordInput>,
) -> Result<Response, WebError> {
    let tr = Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    if input.current.is_empty() {
        errors.add(tr, "current", "form.password.empty");
    }
    let email = Email::parse(&me.user.email).ok();
    check_new_password(
        tr,
        &mut errors,
        &input.password,
        &input.password_repeat,
        email.as_ref(),
    );
    if errors.is_empty() {
        if accounts::change_password(
            &st,
            &me.user,
            me.session.id,
            &input.current,
            &input.password,
            &ctx.client,
        )
        .await?
        {
            return Ok(redirect_with_flash(
                &st,
                "/account",
                's',
                "flash.password_changed",
            ));
        }
        errors.add(tr, "current", "form.password.wrong");
    }
    let page = Page::new(&ctx, "password.title");
    Ok(html(
        PasswordPage {
            page: &page,
            errors: &errors,
        }
        .render()?,
    ))
}

#[derive(Template)]
#[template(path = "account/email.html")]
struct EmailPage<'a> {
    page: &'a Page,
    current: &'a str,
    email: &'a str,
    errors: &'a FieldErrors,
}

/// `GET /account/email`
pub async fn email_form(ctx: WebCtx, Me(me): Me) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "email.title");
    Ok(html(
        EmailPage {
            page: &page,
            current: &me.user.email,
            email: "",
            errors: &FieldErrors::new(),
        }
        .render()?,
    ))
}

/// The e-mail change form.
#[derive(Deserialize)]
pub struct EmailChangeInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /account/email`
pub async fn email(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<EmailChangeInput>,
) -> Result<Response, WebError> {
    let tr = Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let new = Email::parse(&input.email)
        .map_err(|e| errors.add(tr, "email", email_error_key(e)))
        .ok();
    if input.password.is_empty() {
        errors.add(tr, "password", "form.password.empty");
    }
    if let Some(new) = new.filter(|_| errors.is_empty()) {
        match accounts::request_email_change(&st, &me.user, &new, &input.password, &ctx.client)
            .await?
        {
            EmailChange::Sent => {
                let to = format!(
                    "/account/email/sent?to={}",
                    crate::web::urlencode(new.as_str())
                );
                return Ok(Redirect::to(&to).into_response());
            }
            EmailChange::WrongPassword => errors.add(tr, "password", "form.password.wrong"),
            EmailChange::Unchanged => errors.add(tr, "email", "email.unchanged"),
        }
    }
    let page = Page::new(&ctx, "email.title");
    Ok(html(
        EmailPage {
            page: &page,
            current: &me.user.email,
            email: &input.email,
            errors: &errors,
        }
        .render()?,
    ))
}

/// `GET /account/email/confirm/{token}`
pub async fn email_confirm(
    State(st): State<AppState>,
    ctx: WebCtx,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    match accounts::confirm_email_change(&st, &token, &ctx.client).await? {
        EmailChangeConfirm::Changed => {
            let to = if ctx.signed_in().is_some() {
                "/account"
            } else {
                "/login"
            };
            Ok(redirect_with_flash(&st, to, 's', "flash.email_changed"))
        }
        EmailChangeConfirm::Taken => {
            message(&ctx, "email.taken.title", &["email.taken.text"], None)
        }
        EmailChangeConfirm::InvalidLink => message(
            &ctx,
            "link.invalid.title",
            &["link.invalid.email_change"],
            None,
        ),
    }
}

#[derive(Template)]
#[template(path = "account/two_factor.html")]
struct TwoFactorPage<'a> {
    page: &'a Page,
    enabled: bool,
    codes_left: i64,
    setup: Option<Setup>,
    errors: &'a FieldErrors,
    resume: Option<Resume>,
}

struct Setup {
    qr_svg: String,
    key: String,
}

fn two_factor_page(
    st: &AppState,
    ctx: &WebCtx,
    me: &crate::web::context::Viewer,
    codes_left: i64,
    errors: &FieldErrors,
    resume: &str,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "twofactor.title");
    // Back from re-authenticating for one of the two actions: that button, highlighted.
    let resume = match resume {
        _ if me.user.totp_secret.is_none()
            || !accounts::recently_authenticated(st, &me.session) =>
        {
            None
        }
        "disable" => Some(Resume {
            action: "/account/2fa/disable".into(),
            label: page.t("twofactor.disable").to_owned(),
        }),
        "recovery_codes" => Some(Resume {
            action: "/account/2fa/recovery-codes".into(),
            label: page.t("twofactor.new_codes").to_owned(),
        }),
        _ => None,
    };
    let setup = match (&me.user.totp_secret, accounts::pending_totp(st, &me.user)?) {
        (None, Some(secret)) => {
            let uri = totp::otpauth_uri(&secret, &me.user.email);
            Some(Setup {
                qr_svg: crate::web::qr::svg(&uri, "QR code for the authenticator app"),
                key: totp::manual_key(&secret),
            })
        }
        _ => None,
    };
    let body = TwoFactorPage {
        page: &page,
        resume,
        enabled: me.user.totp_secret.is_some(),
        codes_left,
        setup,
        errors,
    }
    .render()?;
    Ok(html(body))
}

/// `GET /account/2fa`
pub async fn two_factor(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    QueryData(q): QueryData<ResumeQuery>,
) -> Result<Response, WebError> {
    let left = tokens::recovery_codes_left(&mut st.db.conn().await?, me.user.id).await?;
    two_factor_page(&st, &ctx, &me, left, &FieldErrors::new(), &q.resume)
}

/// `POST /account/2fa/setup`: a new secret to scan.
pub async fn two_factor_setup(
    State(st): State<AppState>,
    Me(me): Me,
) -> Result<Response, WebError> {
    if me.user.totp_secret.is_none() {
        accounts::start_totp(&st, &me.user).await?;
    }
    Ok(Redirect::to("/account/2fa").into_response())
}

#[derive(Template)]
#[template(path = "account/recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    page: &'a Page,
    codes: Vec<String>,
    first_time: bool,
}

/// The code form.
#[derive(Deserialize)]
pub struct CodeInput {
    #[serde(default)]
    code: String,
}

/// `POST /account/2fa/confirm`
pub async fn two_factor_confirm(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<CodeInput>,
) -> Result<Response, WebError> {
    if me.user.totp_secret.is_some() {
        return Ok(Redirect::to("/account/2fa").into_response());
    }
    match accounts::confirm_totp(&st, &me.user, &input.code, &ctx.client).await? {
        Some(codes) => Ok(show_codes_once(&st, &me, codes, true)),
        None => {
            let mut errors = FieldErrors::new();
            errors.add(Tr::new(ctx.lang), "code", "twofactor.wrong_code");
            two_factor_page(&st, &ctx, &me, 0, &errors, "")
        }
    }
}

/// `GET /account/email/sent`: "we sent a link to the new address".
pub async fn email_sent(
    ctx: WebCtx,
    QueryData(q): QueryData<super::auth::SentQuery>,
) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "email.sent.title");
    let to: String = q.to().chars().take(254).collect();
    let text = page.tr.f1("email.sent.text", "email", &to);
    let body = super::MessagePage {
        page: &page,
        paragraphs: vec![text],
        action: Some((page.t("nav.account").to_owned(), "/account".into())),
    }
    .render()?;
    Ok(html(body))
}

/// Sends the user to re-authenticate when their last re-authentication is not recent, then
/// back to `back_to` offering `resume`.
fn needs_reauth(
    st: &AppState,
    session: &SessionRow,
    back_to: &str,
    resume: &str,
) -> Option<Response> {
    (!accounts::recently_authenticated(st, session))
        .then(|| crate::web::context::reauth_then(st, back_to, resume))
}

/// `POST /account/2fa/disable` (needs a recent re-authentication)
pub async fn two_factor_disable(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    if let Some(r) = needs_reauth(&st, &me.session, "/account/2fa", "disable") {
        return Ok(r);
    }
    if me.user.totp_secret.is_some() {
        accounts::disable_totp(&st, &me.user, &ctx.client).await?;
    }
    Ok(redirect_with_flash(
        &st,
        "/account/2fa",
        's',
        "flash.2fa_disabled",
    ))
}

/// `POST /account/2fa/recovery-codes` (needs a recent re-authentication)
pub async fn recovery_codes(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    if let Some(r) = needs_reauth(&st, &me.session, "/account/2fa", "recovery_codes") {
        return Ok(r);
    }
    if me.user.totp_secret.is_none() {
        return Ok(Redirect::to("/account/2fa").into_response());
    }
    let codes = accounts::regenerate_recovery_codes(&st, &me.user, &ctx.client).await?;
    Ok(show_codes_once(&st, &me, codes, false))
}

/// Recovery codes just made, on their way to the page that shows them once.
#[derive(serde::Serialize, serde::Deserialize)]
struct NewCodes {
    codes: Vec<String>,
    first_time: bool,
}

/// Redirects to the page that shows `codes` once.
fn show_codes_once(
    st: &AppState,
    me: &crate::web::context::Viewer,
    codes: Vec<String>,
    first_time: bool,
) -> Response {
    let codes = NewCodes { codes, first_time };
    crate::web::reveal::redirect(
        st,
        me,
        "recovery_codes",
        &codes,
        "/account/2fa/recovery-codes",
    )
}

/// `GET /account/2fa/recovery-codes`: the codes just made, once; afterwards the 2FA page.
pub async fn recovery_codes_page(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    headers: axum::http::HeaderMap,
) -> Result<Response, WebError> {
    let Some(new) = crate::web::reveal::take::<NewCodes>(&st, &me, &headers, "recovery_codes")
    else {
        return Ok(redirect_with_flash(
            &st,
            "/account/2fa",
            'i',
            "recovery.shown_once",
        ));
    };
    let page = Page::new(&ctx, "recovery.title");
    let body = html(
        RecoveryCodesPage {
            page: &page,
            codes: new.codes,
            first_time: new.first_time,
        }
        .render()?,
    );
    Ok(crate::web::reveal::shown(&st, body))
}

#[derive(Template)]
#[template(path = "account/reauth.html")]
struct ReauthPage<'a> {
    page: &'a Page,
    next: &'a str,
    two_factor: bool,
    errors: &'a FieldErrors,
}

/// `GET /account/reauth`
pub async fn reauth_form(
    ctx: WebCtx,
    Me(me): Me,
    QueryData(q): QueryData<NextQuery>,
) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "reauth.title");
    let next = safe_next(q.next.as_deref());
    Ok(html(
        ReauthPage {
            page: &page,
            next: &next,
            two_factor: me.user.totp_secret.is_some(),
            errors: &FieldErrors::new(),
        }
        .render()?,
    ))
}

/// The re-authentication form.
#[derive(Deserialize)]
pub struct ReauthInput {
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// `POST /account/reauth`
pub async fn reauth(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    FormData(input): FormData<ReauthInput>,
) -> Result<Response, WebError> {
    let tr = Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let two_factor = me.user.totp_secret.is_some();
    if input.password.is_empty() {
        errors.add(tr, "password", "form.password.empty");
    }
    if two_factor && input.code.trim().is_empty() {
        errors.add(tr, "code", "login2fa.empty");
    }
    if errors.is_empty() {
        match accounts::reauthenticate(
            &st,
            &me.session,
            &me.user,
            &input.password,
            &input.code,
            &ctx.client,
        )
        .await?
        {
            accounts::Reauth::Done => {
                return Ok(redirect_with_flash(
                    &st,
                    &safe_next(Some(&input.next)),
                    's',
                    "flash.reauthenticated",
                ));
            }
            accounts::Reauth::CodeJustUsed => errors.add(tr, "code", "twofactor.code_just_used"),
            accounts::Reauth::Failed => errors.add(tr, "form", "reauth.failed"),
        }
    }
    let page = Page::new(&ctx, "reauth.title");
    let next = safe_next(Some(&input.next));
    Ok(html(
        ReauthPage {
            page: &page,
            next: &next,
            two_factor,
            errors: &errors,
        }
        .render()?,
    ))
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
struct SessionsPage<'a> {
    page: &'a Page,
    sessions: Vec<SessionRow>,
    current: SessionId,
}

impl SessionsPage<'_> {
    /// A browser as people read it.
    fn device(&self, ua: &str) -> String {
        crate::web::useragent::describe(ua)
    }
}

/// `GET /account/sessions`
pub async fn sessions(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    let now = st.clock.now();
    let list = sessions::live_for_user(
        &mut st.db.conn().await?,
        me.user.id,
        now,
        accounts::idle_since(&st, now),
    )
    .await?;
    let page = Page::new(&ctx, "sessions.title");
    Ok(html(
        SessionsPage {
            page: &page,
            sessions: list,
            current: me.session.id,
        }
        .render()?,
    ))
}

/// `POST /account/sessions/{id}/end`
pub async fn end_session(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    Path(id): Path<SessionId>,
) -> Result<Response, WebError> {
    if !accounts::end_session(&st, &me.user, id, &ctx.client).await? {
        return Err(WebError::NotFound);
    }
    Ok(redirect_with_flash(
        &st,
        "/account/sessions",
        's',
        "flash.session_ended",
    ))
}

/// `POST /account/sessions/end-others`
pub async fn end_other_sessions(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    accounts::end_other_sessions(&st, &me.user, me.session.id, &ctx.client).await?;
    Ok(redirect_with_flash(
        &st,
        "/account/sessions",
        's',
        "flash.other_sessions_ended",
    ))
}

#[derive(Template)]
#[template(path = "account/history.html")]
struct HistoryPage<'a> {
    page: &'a Page,
    logins: Vec<LoginRow>,
}

impl HistoryPage<'_> {
    /// A browser as people read it.
    fn device(&self, ua: &str) -> String {
        crate::web::useragent::describe(ua)
    }
}

/// `GET /account/history`
pub async fn history(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    let logins = audit::logins_of(&mut st.db.conn().await?, me.user.id, 100).await?;
    let page = Page::new(&ctx, "history.title");
    Ok(html(
        HistoryPage {
            page: &page,
            logins,
        }
        .render()?,
    ))
}
