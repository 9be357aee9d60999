//! Signing in and out, signing up, confirming the address, resetting the password, accepting
//! an invitation and switching the language.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use kassa_core::account::{Email, check_password};
use kassa_store::accounts as users;
use serde::Deserialize;

use super::{FormData, QueryData, message};
use crate::state::AppState;
use crate::web::context::{Page, WebCtx, html, redirect_with_flash, safe_next};
use crate::web::cookies::{self, Jar};
use crate::web::errors::WebError;
use crate::web::forms::{FieldErrors, email_error_key, password_error_key};
use kassa_service::accounts::{self, LogIn, SignUp};
use kassa_service::auth::{device, limits};
use kassa_service::i18n::Lang;

/// `?next=` on pages that lead somewhere afterwards.
#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    pub(crate) next: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage<'a> {
    page: &'a Page,
    email: &'a str,
    next: &'a str,
    errors: &'a FieldErrors,
    notice: Option<String>,
    signup_open: bool,
}

fn login_page(
    st: &AppState,
    ctx: &WebCtx,
    email: &str,
    next: &str,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "login.title");
    let notice = notice.map(|k| page.t(k).to_owned());
    let body = LoginPage {
        page: &page,
        email,
        next,
        errors,
        notice,
        signup_open: st.settings.accounts.open_signup,
    }
    .render()?;
    Ok(html(body))
}

/// `GET /login`
pub async fn login_form(
    State(st): State<AppState>,
    ctx: WebCtx,
    QueryData(q): QueryData<NextQuery>,
) -> Result<Response, WebError> {
    login_page(
        &st,
        &ctx,
        "",
        q.next.as_deref().unwrap_or(""),
        &FieldErrors::new(),
        None,
    )
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

fn with_session_cookie(st: &AppState, mut r: Response, token: &str) -> Response {
    r.headers_mut().append(
        header::SET_COOKIE,
        st.cookies.set(cookies::SESSION, token, None),
    );
    r
}

/// Remembers this browser as one that signed in to the account (see [`device`]).
fn with_device_cookie(st: &AppState, mut r: Response, email: &str) -> Response {
    let value = device::issue(&st.keyring, &limits::email_key(email));
    r.headers_mut().append(
        header::SET_COOKIE,
        st.cookies
            .set(device::COOKIE, &value, Some(device::MAX_AGE_SECS)),
    );
    r
}

/// `POST /login`
pub async fn login(
    State(st): State<AppState>,
    ctx: WebCtx,
    headers: HeaderMap,
    FormData(input): FormData<LoginInput>,
) -> Result<Response, WebError> {
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    if input.email.trim().is_empty() {
        errors.add(tr, "email", "form.email.empty");
    }
    if input.password.is_empty() {
        errors.add(tr, "password", "form.password.empty");
    }
    if !errors.is_empty() {
        return login_page(&st, &ctx, &input.email, &input.next, &errors, None);
    }
    let device = Jar::parse(&headers).get(&st.cookies.name(device::COOKIE));
    match accounts::log_in(&st, &input.email, &input.password, &ctx.client, device).await? {
        LogIn::SignedIn(token) => Ok(with_device_cookie(
            &st,
            with_session_cookie(
                &st,
                Redirect::to(&safe_next(Some(&input.next))).into_response(),
                &token,
            ),
            &input.email,
        )),
        LogIn::SecondFactor(token) => {
            let to = format!(
                "/login/2fa?next={}",
                crate::web::urlencode(&safe_next(Some(&input.next)))
            );
            Ok(with_session_cookie(
                &st,
                Redirect::to(&to).into_response(),
                &token,
            ))
        }
        LogIn::Failed => {
            errors.add(tr, "form", "login.failed");
            login_page(&st, &ctx, &input.email, &input.next, &errors, None)
        }
        LogIn::Unconfirmed => login_page(
            &st,
            &ctx,
            &input.email,
            &input.next,
            &errors,
            Some("login.unconfirmed"),
        ),
        LogIn::Disabled => {
            errors.add(tr, "form", "login.disabled");
            login_page(&st, &ctx, &input.email, &input.next, &errors, None)
        }
    }
}

#[derive(Template)]
#[template(path = "auth/second_factor.html")]
struct SecondFactorPage<'a> {
    page: &'a Page,
    next: &'a str,
    errors: &'a FieldErrors,
}

/// `GET /login/2fa`
pub async fn second_factor_form(
    ctx: WebCtx,
    QueryData(q): QueryData<NextQuery>,
) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "login2fa.title");
    Ok(html(
        SecondFactorPage {
            page: &page,
            next: q.next.as_deref().unwrap_or(""),
            errors: &FieldErrors::new(),
        }
        .render()?,
    ))
}

/// The second-factor form.
#[derive(Deserialize)]
pub struct CodeInput {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// `POST /login/2fa`
pub async fn second_factor(
    State(st): State<AppState>,
    ctx: WebCtx,
    FormData(input): FormData<CodeInput>,
) -> Result<Response, WebError> {
    let Some(viewer) = ctx.viewer.clone() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    if input.code.trim().is_empty() {
        errors.add(tr, "code", "login2fa.empty");
    } else {
        match accounts::second_factor(&st, &viewer.session, &viewer.user, &input.code, &ctx.client)
            .await?
        {
            Ok(token) => {
                return Ok(with_device_cookie(
                    &st,
                    with_session_cookie(
                        &st,
                        Redirect::to(&safe_next(Some(&input.next))).into_response(),
                        &token,
                    ),
                    &viewer.user.email,
                ));
            }
            Err(accounts::CodeRefused::JustUsed) => {
                errors.add(tr, "code", "twofactor.code_just_used")
            }
            Err(accounts::CodeRefused::Wrong) => errors.add(tr, "code", "login2fa.wrong"),
        }
    }
    let page = Page::new(&ctx, "login2fa.title");
    Ok(html(
        SecondFactorPage {
            page: &page,
            next: &input.next,
            errors: &errors,
        }
        .render()?,
    ))
}

/// `POST /logout`: ends the session (whatever its stage) and forgets the cookie.
pub async fn logout(State(st): State<AppState>, ctx: WebCtx) -> Result<Response, WebError> {
    if let Some(v) = &ctx.viewer {
        accounts::log_out(&st, &v.session).await?;
    }
    let mut r = redirect_with_flash(&st, "/login", 's', "flash.logged_out");
    r.headers_mut()
        .append(header::SET_COOKIE, st.cookies.clear(cookies::SESSION));
    Ok(r)
}

#[derive(Template)]
#[template(path = "auth/signup.html")]
struct SignupPage<'a> {
    page: &'a Page,
    business: &'a str,
    email: &'a str,
    errors: &'a FieldErrors,
}

/// `GET /signup`
pub async fn signup_form(State(st): State<AppState>, ctx: WebCtx) -> Result<Response, WebError> {
    if !st.settings.accounts.open_signup {
        return message(
            &ctx,
            "signup.closed.title",
            &["signup.closed.text"],
            Some(("signup.login", "/login")),
        );
    }
    let page = Page::new(&ctx, "signup.title");
    Ok(html(
        SignupPage {
            page: &page,
            business: "",
            email: "",
            errors: &FieldErrors::new(),
        }
        .render()?,
    ))
}

/// The sign-up form.
#[derive(Deserialize)]
pub struct SignupInput {
    #[serde(default)]
    business: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_repeat: String,
}

/// Checks a new password and its repetition into `errors`.
pub fn check_new_password(
    tr: kassa_service::i18n::Tr,
    errors: &mut FieldErrors,
    password: &str,
    repeat: &str,
    email: Option<&Email>,
) {
    if let Err(e) = check_password(password, email) {
        errors.add(tr, "password", password_error_key(e));
    } else if password != repeat {
        errors.add(tr, "password_repeat", "form.password_repeat.mismatch");
    }
}

/// `POST /signup`
pub async fn signup(
    State(st): State<AppState>,
    ctx: WebCtx,
    FormData(input): FormData<SignupInput>,
) -> Result<Response, WebError> {
    if !st.settings.accounts.open_signup {
        return Err(WebError::NotFound);
    }
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let email = Email::parse(&input.email)
        .map_err(|e| errors.add(tr, "email", email_error_key(e)))
        .ok();
    if input.business.chars().count() > 120 {
        errors.add(tr, "business", "signup.business_too_long");
    }
    check_new_password(
        tr,
        &mut errors,
        &input.password,
        &input.password_repeat,
        email.as_ref(),
    );
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        let page = Page::new(&ctx, "signup.title");
        return Ok(html(
            SignupPage {
                page: &page,
                business: &input.business,
                email: &input.email,
                errors: &errors,
            }
            .render()?,
        ));
    };
    accounts::sign_up(
        &st,
        SignUp {
            email: email.clone(),
            password: input.password,
            business: input.business,
            lang: ctx.lang,
        },
        &ctx.client,
    )
    .await?;
    // A redirect, so that a refresh does not post the form again.
    let to = format!("/signup/sent?to={}", crate::web::urlencode(email.as_str()));
    Ok(axum::response::Redirect::to(&to).into_response())
}

/// Where a sign-up or an e-mail change sent its link.
#[derive(Deserialize, Default)]
pub struct SentQuery {
    #[serde(default)]
    to: String,
}

impl SentQuery {
    /// The address.
    pub fn to(&self) -> &str {
        &self.to
    }
}

/// `GET /signup/sent`: "we sent a confirmation link to …".
pub async fn signup_sent(
    ctx: WebCtx,
    QueryData(q): QueryData<SentQuery>,
) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "signup.done.title");
    let to: String = q.to.chars().take(254).collect();
    let text = page.tr.f1("signup.done.text", "email", &to);
    let body = super::MessagePage {
        page: &page,
        paragraphs: vec![text, page.t("signup.done.spam").to_owned()],
        action: None,
    }
    .render()?;
    Ok(html(body))
}

/// `GET /reset/sent`
pub async fn reset_sent(ctx: WebCtx) -> Result<Response, WebError> {
    message(
        &ctx,
        "reset.sent.title",
        &["reset.sent.text", "signup.done.spam"],
        Some(("reset.back", "/login")),
    )
}

/// `GET /confirm-email/{token}`
pub async fn confirm_email(
    State(st): State<AppState>,
    ctx: WebCtx,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    if accounts::confirm_email(&st, &token, &ctx.client).await? {
        let to = if ctx.signed_in().is_some() {
            "/dashboard"
        } else {
            "/login"
        };
        Ok(redirect_with_flash(&st, to, 's', "flash.email_confirmed"))
    } else {
        message(
            &ctx,
            "link.invalid.title",
            &["link.invalid.confirm"],
            Some(("login.submit", "/login")),
        )
    }
}

#[derive(Template)]
#[template(path = "auth/reset_request.html")]
struct ResetRequestPage<'a> {
    page: &'a Page,
    email: &'a str,
    errors: &'a FieldErrors,
}

/// `GET /reset`
pub async fn reset_request_form(ctx: WebCtx) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "reset.title");
    Ok(html(
        ResetRequestPage {
            page: &page,
            email: "",
            errors: &FieldErrors::new(),
        }
        .render()?,
    ))
}

/// The reset request form.
#[derive(Deserialize)]
pub struct EmailInput {
    #[serde(default)]
    email: String,
}

/// `POST /reset`
pub async fn reset_request(
    State(st): State<AppState>,
    ctx: WebCtx,
    FormData(input): FormData<EmailInput>,
) -> Result<Response, WebError> {
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    match Email::parse(&input.email) {
        Err(e) => {
            let mut errors = FieldErrors::new();
            errors.add(tr, "email", email_error_key(e));
            let page = Page::new(&ctx, "reset.title");
            Ok(html(
                ResetRequestPage {
                    page: &page,
                    email: &input.email,
                    errors: &errors,
                }
                .render()?,
            ))
        }
        Ok(email) => {
            accounts::request_reset(&st, &email, &ctx.client).await?;
            Ok(axum::response::Redirect::to("/reset/sent").into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "auth/new_password.html")]
struct NewPasswordPage<'a> {
    page: &'a Page,
    action: String,
    intro: String,
    submit: String,
    ask_name: bool,
    name: &'a str,
    errors: &'a FieldErrors,
}

/// `GET /reset/{token}`
pub async fn reset_form(
    State(st): State<AppState>,
    ctx: WebCtx,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    if !accounts::reset_link_valid(&st, &token).await? {
        return message(
            &ctx,
            "link.invalid.title",
            &["link.invalid.reset"],
            Some(("reset.again", "/reset")),
        );
    }
    let page = Page::new(&ctx, "reset.new.title");
    let body = NewPasswordPage {
        action: format!("/reset/{token}"),
        intro: String::new(),
        submit: page.t("reset.new.submit").to_owned(),
        page: &page,
        ask_name: false,
        name: "",
        errors: &FieldErrors::new(),
    }
    .render()?;
    Ok(html(body))
}

/// A new-password form.
#[derive(Deserialize)]
pub struct NewPasswordInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_repeat: String,
}

/// `POST /reset/{token}`
pub async fn reset(
    State(st): State<AppState>,
    ctx: WebCtx,
    Path(token): Path<String>,
    FormData(input): FormData<NewPasswordInput>,
) -> Result<Response, WebError> {
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    check_new_password(
        tr,
        &mut errors,
        &input.password,
        &input.password_repeat,
        None,
    );
    if !errors.is_empty() {
        let page = Page::new(&ctx, "reset.new.title");
        let body = NewPasswordPage {
            action: format!("/reset/{token}"),
            intro: String::new(),
            submit: page.t("reset.new.submit").to_owned(),
            page: &page,
            ask_name: false,
            name: "",
            errors: &errors,
        }
        .render()?;
        return Ok(html(body));
    }
    if accounts::reset_password(&st, &token, &input.password, &ctx.client).await? {
        let mut r = redirect_with_flash(&st, "/login", 's', "flash.password_reset");
        r.headers_mut()
            .append(header::SET_COOKIE, st.cookies.clear(cookies::SESSION));
        Ok(r)
    } else {
        message(
            &ctx,
            "link.invalid.title",
            &["link.invalid.reset"],
            Some(("reset.again", "/reset")),
        )
    }
}

fn invite_page(
    ctx: &WebCtx,
    token: &str,
    email: &str,
    business: &str,
    name: &str,
    errors: &FieldErrors,
) -> Result<Response, WebError> {
    let page = Page::new(ctx, "invite.title");
    let intro = page.tr.f(
        "invite.intro",
        &[("business", &business), ("email", &email)],
    );
    let body = NewPasswordPage {
        action: format!("/invite/{token}"),
        intro,
        submit: page.t("invite.submit").to_owned(),
        page: &page,
        ask_name: true,
        name,
        errors,
    }
    .render()?;
    Ok(html(body))
}

/// `GET /invite/{token}`
pub async fn invite_form(
    State(st): State<AppState>,
    ctx: WebCtx,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    match accounts::invitation(&st, &token).await? {
        Some((email, business)) => {
            invite_page(&ctx, &token, &email, &business, "", &FieldErrors::new())
        }
        None => message(&ctx, "link.invalid.title", &["link.invalid.invite"], None),
    }
}

/// `POST /invite/{token}`
pub async fn accept_invite(
    State(st): State<AppState>,
    ctx: WebCtx,
    Path(token): Path<String>,
    FormData(input): FormData<NewPasswordInput>,
) -> Result<Response, WebError> {
    let Some((email, business)) = accounts::invitation(&st, &token).await? else {
        return message(&ctx, "link.invalid.title", &["link.invalid.invite"], None);
    };
    let tr = kassa_service::i18n::Tr::new(ctx.lang);
    let mut errors = FieldErrors::new();
    let name = input.name.trim();
    if name.is_empty() {
        errors.add(tr, "name", "form.name.empty");
    } else if name.chars().count() > 100 {
        errors.add(tr, "name", "form.name.too_long");
    }
    check_new_password(
        tr,
        &mut errors,
        &input.password,
        &input.password_repeat,
        Email::parse(&email).ok().as_ref(),
    );
    if !errors.is_empty() {
        return invite_page(&ctx, &token, &email, &business, &input.name, &errors);
    }
    match accounts::accept_invitation(&st, &token, name, &input.password, &ctx.client).await? {
        Some(session) => Ok(with_session_cookie(
            &st,
            redirect_with_flash(&st, "/dashboard", 's', "flash.welcome"),
            &session,
        )),
        None => message(&ctx, "link.invalid.title", &["link.invalid.invite"], None),
    }
}

/// The language switch.
#[derive(Deserialize)]
pub struct LanguageInput {
    #[serde(default)]
    lang: String,
    #[serde(default)]
    next: String,
}

/// `POST /language`
pub async fn set_language(
    State(st): State<AppState>,
    ctx: WebCtx,
    FormData(input): FormData<LanguageInput>,
) -> Result<Response, WebError> {
    let lang = Lang::parse(&input.lang).ok_or(WebError::BadRequest)?;
    if let Some(v) = ctx.signed_in() {
        users::set_locale(&mut st.db.conn().await?, v.user.id, lang, st.clock.now()).await?;
    }
    let mut r = Redirect::to(&safe_next(Some(&input.next))).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        st.cookies
            .set(cookies::LANG, lang.code(), Some(365 * 24 * 3600)),
    );
    Ok(r)
}
