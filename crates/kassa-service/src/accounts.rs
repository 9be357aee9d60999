//! Account services: sign-up, sign-in with a second factor, sessions, password and e-mail
//! changes, two-factor set-up, re-authentication, staff invitations and grants.
//!
//! Every operation owns its transaction. The change, its activity-log row, its login-history
//! row and the e-mails it sends (as jobs) commit together or not at all. Answers never tell
//! whether an e-mail address has an account: unknown addresses cost the same password check
//! and get the same reply.

use std::time::Duration;

use kassa_core::account::{Email, Grants, Role, Section, UserStatus};
use kassa_core::{SessionId, Timestamp, UserId};
use kassa_store::accounts::{self as users, NewUser, UserRow};
use kassa_store::audit::{self, LoginAttempt};
use kassa_store::sessions::{self, NewSession, SessionRow, Stage};
use kassa_store::tokens::{self, Purpose};
use kassa_store::{AsConn, StoreError};
use serde_json::json;

use crate::Ctx;
use crate::auth::device;
use crate::auth::limits::{self, RetryAfter};
use crate::auth::password::HashError;
use crate::auth::{token, totp};
use crate::i18n::{Lang, Tr};
use crate::mail::{self, Letter};

/// How long e-mailed links work.
pub const CONFIRM_TTL: Duration = Duration::from_secs(48 * 3600);
/// Password-reset links.
pub const RESET_TTL: Duration = Duration::from_secs(3600);
/// New-address confirmation links.
pub const EMAIL_CHANGE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Staff invitations.
pub const INVITE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Time to enter the second factor after the password.
pub const MFA_PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a re-authentication counts as recent.
pub const REAUTH_FRESH: Duration = Duration::from_secs(5 * 60);

pub use crate::audit::Client;
use crate::audit::{Actor, Target};

/// What can go wrong inside a service, apart from the outcomes it reports.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Password hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A sealed secret could not be opened (wrong or missing master key).
    #[error("cannot open a stored secret: {0}")]
    Secret(#[from] kassa_core::secret::OpenError),
    /// A rate limit was reached.
    #[error("rate limited")]
    Limited(RetryAfter),
}

type Result<T> = std::result::Result<T, ServiceError>;

async fn limited(
    limit: &limits::Limit,
    st: &Ctx,
    key: &str,
    now: Timestamp,
    hit: bool,
) -> Result<()> {
    let r = if hit {
        limit.hit(&st.db, key, now).await?
    } else {
        limit.check(&st.db, key, now).await?
    };
    r.map_err(ServiceError::Limited)
}

/// Issues a single-use link token of `purpose` for `user` (stored hashed, valid for `ttl`)
/// and returns the token for the e-mailed link.
async fn issue_token(
    conn: &mut impl AsConn,
    user: UserId,
    purpose: Purpose,
    data: Option<&str>,
    ttl: Duration,
    now: Timestamp,
) -> Result<String> {
    let tok = token::generate();
    tokens::issue(
        conn,
        user,
        purpose,
        &token::hash(&tok),
        data,
        now.saturating_add(ttl),
        now,
    )
    .await?;
    Ok(tok)
}

fn link(st: &Ctx, path: &str, token: &str) -> String {
    format!("{}{path}{token}", st.public_url)
}

async fn send(
    conn: &mut impl AsConn,
    st: &Ctx,
    to: &str,
    tr: Tr,
    letter: &Letter,
    now: Timestamp,
) -> Result<()> {
    let mail = letter.render(to, tr);
    mail::enqueue(conn, &st.keyring, &mail, now).await?;
    Ok(())
}

fn footer(tr: Tr) -> String {
    tr.t("mail.footer").to_owned()
}

async fn login_event(
    conn: &mut impl AsConn,
    user: Option<UserId>,
    email: &str,
    outcome: &str,
    client: &Client,
    now: Timestamp,
) -> Result<()> {
    audit::record_login(
        conn,
        &LoginAttempt {
            user_id: user,
            email,
            outcome,
            ip: &client.ip,
            user_agent: &client.user_agent,
        },
        now,
    )
    .await?;
    Ok(())
}

/// What sign-up needs.
#[derive(Clone, Debug)]
pub struct SignUp {
    /// The owner's e-mail.
    pub email: Email,
    /// A password that passed the policy.
    pub password: String,
    /// The business's name.
    pub business: String,
    /// The language the owner used.
    pub lang: Lang,
}

/// Creates a merchant and its owner (unconfirmed) and sends the confirmation link. When the
/// address already has an account, the owner of that address is told instead; the caller gets
/// the same answer either way.
pub async fn sign_up(st: &Ctx, input: SignUp, client: &Client) -> Result<()> {
    let now = st.clock.now();
    limited(&limits::SIGNUP_PER_IP, st, &client.ip, now, true).await?;
    let tr = Tr::new(input.lang);
    // Hash first, whatever happens next, so both paths take the same time.
    let hash = st.passwords.hash(&input.password).await?;
    let mut tx = st.db.begin().await?;
    if let Some(existing) = users::user_by_email(&mut tx, &input.email).await? {
        let etr = Tr::new(existing.locale);
        let letter = Letter {
            subject: etr.t("mail.signup_exists.subject").to_owned(),
            paragraphs: vec![
                etr.t("mail.signup_exists.body").to_owned(),
                etr.t("mail.signup_exists.ignore").to_owned(),
            ],
            action: Some((
                etr.t("mail.signup_exists.action").to_owned(),
                format!("{}/reset", st.public_url),
            )),
            footer: footer(etr),
        };
        send(&mut tx, st, existing.email.as_str(), etr, &letter, now).await?;
        tx.commit().await?;
        st.jobs.wake();
        return Ok(());
    }
    let business = if input.business.trim().is_empty() {
        input.email.as_str().to_owned()
    } else {
        input.business.trim().to_owned()
    };
    let merchant = users::create_merchant(&mut tx, &business, now).await?;
    let user = users::insert_user(
        &mut tx,
        &NewUser {
            merchant_id: merchant,
            email: &input.email,
            name: "",
            password_hash: Some(&hash),
            role: Role::Owner,
            status: UserStatus::Active,
            email_confirmed_at: None,
            locale: input.lang,
            invited_by: None,
        },
        now,
    )
    .await?;
    issue_confirmation(&mut tx, st, user, input.email.as_str(), tr, now).await?;
    Actor::of(Some(user), client)
        .record(
            &mut tx,
            merchant,
            "account.created",
            Target::User(user),
            json!({"business": business}),
            now,
        )
        .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(())
}

async fn issue_confirmation(
    conn: &mut impl AsConn,
    st: &Ctx,
    user: UserId,
    email: &str,
    tr: Tr,
    now: Timestamp,
) -> Result<()> {
    let tok = issue_token(conn, user, Purpose::ConfirmEmail, None, CONFIRM_TTL, now).await?;
    let letter = Letter {
        subject: tr.t("mail.confirm.subject").to_owned(),
        paragraphs: vec![
            tr.t("mail.confirm.body").to_owned(),
            tr.t("mail.confirm.expiry").to_owned(),
        ],
        action: Some((
            tr.t("mail.confirm.action").to_owned(),
            link(st, "/confirm-email/", &tok),
        )),
        footer: footer(tr),
    };
    send(conn, st, email, tr, &letter, now).await
}

/// Confirms an address from its e-mailed link. Returns false for an invalid or used link.
pub async fn confirm_email(st: &Ctx, tok: &str, client: &Client) -> Result<bool> {
    if !token::is_well_formed(tok) {
        return Ok(false);
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(t) = tokens::take(&mut tx, Purpose::ConfirmEmail, &token::hash(tok), now).await?
    else {
        return Ok(false);
    };
    users::confirm_email(&mut tx, t.user_id, now).await?;
    let user = users::user_by_id(&mut tx, t.user_id).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.email_confirmed",
            Target::User(user.id),
            json!({"email": user.email}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// The outcome of a password sign-in.
#[derive(Debug)]
pub enum LogIn {
    /// Signed in; set this session token.
    SignedIn(String),
    /// Password right; the second factor is next. Set this (pending) session token.
    SecondFactor(String),
    /// Wrong e-mail or password (never says which).
    Failed,
    /// Password right but the address is unconfirmed; a new link was sent.
    Unconfirmed,
    /// Password right but the owner removed this user's access.
    Disabled,
}

fn session_expiry(st: &Ctx, now: Timestamp) -> Timestamp {
    now.saturating_add(Duration::from_secs(
        st.config.accounts.session_max_hours * 3600,
    ))
}

/// The idle cut-off: sessions not seen since then have ended.
pub fn idle_since(st: &Ctx, now: Timestamp) -> Timestamp {
    now.saturating_sub(Duration::from_secs(
        st.config.accounts.session_idle_minutes * 60,
    ))
}

/// Signs in with e-mail and password. `device` is the browser's device cookie, if it has one:
/// a browser that signed in to this account before is held to its own failure count, so a
/// stranger's wrong passwords cannot lock the owner out.
pub async fn log_in(
    st: &Ctx,
    email: &str,
    password: &str,
    client: &Client,
    device: Option<&str>,
) -> Result<LogIn> {
    let now = st.clock.now();
    let email_text = email.trim().to_lowercase();
    let key = limits::email_key(&email_text);
    let (lockout, lockout_key) =
        match device.and_then(|d| device::trusted_for(&st.keyring, d, &key)) {
            Some(nonce) => (&limits::LOGIN_FAILURES_PER_DEVICE, nonce),
            None => (&limits::LOGIN_FAILURES_PER_ACCOUNT, key.clone()),
        };
    let parsed = Email::parse(&email_text).ok();
    let record = |user: Option<UserId>, outcome: &'static str| {
        let email_text = email_text.clone();
        async move {
            let mut c = st.db.conn().await?;
            login_event(&mut c, user, &email_text, outcome, client, now).await
        }
    };
    if let Err(e) = limited(&limits::LOGIN_PER_IP, st, &client.ip, now, true).await {
        record(None, "rate_limited").await?;
        return Err(e);
    }
    let user = match &parsed {
        Some(e) => users::user_by_email(&mut st.db.conn().await?, e).await?,
        None => None,
    };
    if let Err(e) = limited(lockout, st, &lockout_key, now, false).await {
        record(user.as_ref().map(|u| u.id), "locked").await?;
        return Err(e);
    }
    let ok = st
        .passwords
        .verify(
            password,
            user.as_ref().and_then(|u| u.password_hash.as_deref()),
        )
        .await;
    let user = match user {
        Some(u) if ok => u,
        other => {
            lockout.hit(&st.db, &lockout_key, now).await?.ok();
            let (id, outcome) = match other {
                Some(u) => (Some(u.id), "bad_password"),
                None => (None, "unknown_account"),
            };
            record(id, outcome).await?;
            return Ok(LogIn::Failed);
        }
    };
    lockout.clear(&st.db, &lockout_key).await?;
    if user.status != UserStatus::Active {
        record(Some(user.id), "disabled").await?;
        return Ok(LogIn::Disabled);
    }
    let mut tx = st.db.begin().await?;
    if user.email_confirmed_at.is_none() {
        let tr = Tr::new(user.locale);
        issue_confirmation(&mut tx, st, user.id, &user.email, tr, now).await?;
        login_event(
            &mut tx,
            Some(user.id),
            &user.email,
            "unconfirmed",
            client,
            now,
        )
        .await?;
        tx.commit().await?;
        st.jobs.wake();
        return Ok(LogIn::Unconfirmed);
    }
    let tok = token::generate();
    let two_factor = user.totp_secret.is_some();
    let (stage, expires, reauth, outcome) = if two_factor {
        (
            Stage::MfaPending,
            now.saturating_add(MFA_PENDING_TTL),
            None,
            "awaiting_2fa",
        )
    } else {
        (Stage::Active, session_expiry(st, now), Some(now), "success")
    };
    sessions::insert(
        &mut tx,
        &NewSession {
            user_id: user.id,
            token_hash: &token::hash(&tok),
            stage,
            ip: &client.ip,
            user_agent: &client.user_agent,
            expires_at: expires,
            reauth_at: reauth,
        },
        now,
    )
    .await?;
    login_event(&mut tx, Some(user.id), &user.email, outcome, client, now).await?;
    tx.commit().await?;
    Ok(if two_factor {
        LogIn::SecondFactor(tok)
    } else {
        LogIn::SignedIn(tok)
    })
}

/// How a second factor was proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    /// A code from the authenticator app.
    Totp,
    /// A one-time recovery code.
    RecoveryCode,
}

/// Checks a TOTP or recovery code for `user` and uses it up (a TOTP step, or the recovery
/// code), inside the caller's transaction. `None`: wrong, or already used.
async fn use_second_factor(
    conn: &mut impl AsConn,
    st: &Ctx,
    user: &UserRow,
    code: &str,
    now: Timestamp,
) -> Result<Option<Factor>> {
    if totp::looks_like_recovery_code(code) {
        let hash = totp::hash_recovery_code(user.id.get(), code);
        return Ok(tokens::use_recovery_code(conn, user.id, &hash, now)
            .await?
            .then_some(Factor::RecoveryCode));
    }
    let Some(sealed) = &user.totp_secret else {
        return Ok(None);
    };
    let secret = st.keyring.open(&totp_context(user.id), sealed)?;
    let Some(step) = totp::check(&secret, code, now) else {
        return Ok(None);
    };
    // The step must be newer than any used before: a code works once.
    Ok(users::use_totp_step(conn, user.id, step)
        .await?
        .then_some(Factor::Totp))
}

fn totp_context(user: UserId) -> String {
    format!("totp:user:{user}")
}

/// Completes a sign-in with the second factor. `Ok(None)`: the code was wrong or replayed.
/// On success the session gets a new token, returned for the cookie.
pub async fn second_factor(
    st: &Ctx,
    session: &SessionRow,
    user: &UserRow,
    code: &str,
    client: &Client,
) -> Result<Option<String>> {
    let now = st.clock.now();
    let key = user.id.to_string();
    limited(&limits::MFA_PER_IP, st, &client.ip, now, true).await?;
    if let Err(e) = limited(&limits::MFA_FAILURES_PER_USER, st, &key, now, false).await {
        login_event(
            &mut st.db.conn().await?,
            Some(user.id),
            &user.email,
            "2fa_locked",
            client,
            now,
        )
        .await?;
        return Err(e);
    }
    let mut tx = st.db.begin().await?;
    let Some(factor) = use_second_factor(&mut tx, st, user, code, now).await? else {
        tx.rollback().await?;
        limits::MFA_FAILURES_PER_USER
            .hit(&st.db, &key, now)
            .await?
            .ok();
        login_event(
            &mut st.db.conn().await?,
            Some(user.id),
            &user.email,
            "bad_2fa_code",
            client,
            now,
        )
        .await?;
        return Ok(None);
    };
    let tok = token::generate();
    sessions::activate(
        &mut tx,
        session.id,
        &token::hash(&tok),
        session_expiry(st, now),
        now,
    )
    .await?;
    let outcome = if factor == Factor::RecoveryCode {
        "success_recovery_code"
    } else {
        "success"
    };
    login_event(&mut tx, Some(user.id), &user.email, outcome, client, now).await?;
    if factor == Factor::RecoveryCode {
        let left = tokens::recovery_codes_left(&mut tx, user.id).await?;
        Actor::of(Some(user.id), client)
            .record(
                &mut tx,
                user.merchant_id,
                "account.recovery_code_used",
                Target::User(user.id),
                json!({"codes_left": left}),
                now,
            )
            .await?;
        let tr = Tr::new(user.locale);
        let letter = Letter {
            subject: tr.t("mail.recovery_used.subject").to_owned(),
            paragraphs: vec![
                tr.f1("mail.recovery_used.body", "left", &left),
                tr.t("mail.not_you").to_owned(),
            ],
            action: None,
            footer: footer(tr),
        };
        send(&mut tx, st, &user.email, tr, &letter, now).await?;
    }
    tx.commit().await?;
    limits::MFA_FAILURES_PER_USER.clear(&st.db, &key).await?;
    st.jobs.wake();
    Ok(Some(tok))
}

/// Ends the session with this cookie token.
pub async fn log_out(st: &Ctx, session: &SessionRow) -> Result<()> {
    let mut c = st.db.write().await?;
    sessions::revoke(&mut c, session.user_id, session.id, st.clock.now()).await?;
    Ok(())
}

/// Sends a password-reset link if the address has an active account. Same answer, and the
/// same work, either way.
pub async fn request_reset(st: &Ctx, email: &Email, client: &Client) -> Result<()> {
    let now = st.clock.now();
    limited(&limits::RESET_PER_IP, st, &client.ip, now, true).await?;
    limited(
        &limits::RESET_PER_ACCOUNT,
        st,
        &limits::email_key(email.as_str()),
        now,
        true,
    )
    .await?;
    let mut tx = st.db.begin().await?;
    let user = users::user_by_email(&mut tx, email).await?;
    // Both paths write and commit (one sync to disk each), so the time to answer does not
    // tell whether the address has an account; the user sees the request in their history.
    login_event(
        &mut tx,
        user.as_ref().map(|u| u.id),
        email.as_str(),
        "reset_requested",
        client,
        now,
    )
    .await?;
    if let Some(user) = user.filter(|u| u.status == UserStatus::Active) {
        let tr = Tr::new(user.locale);
        let tok = issue_token(
            &mut tx,
            user.id,
            Purpose::ResetPassword,
            None,
            RESET_TTL,
            now,
        )
        .await?;
        let letter = Letter {
            subject: tr.t("mail.reset.subject").to_owned(),
            paragraphs: vec![
                tr.t("mail.reset.body").to_owned(),
                tr.t("mail.reset.expiry").to_owned(),
                tr.t("mail.reset.ignore").to_owned(),
            ],
            action: Some((
                tr.t("mail.reset.action").to_owned(),
                link(st, "/reset/", &tok),
            )),
            footer: footer(tr),
        };
        send(&mut tx, st, &user.email, tr, &letter, now).await?;
        Actor::of(None, client)
            .record(
                &mut tx,
                user.merchant_id,
                "account.password_reset_requested",
                Target::User(user.id),
                json!({}),
                now,
            )
            .await?;
    }
    tx.commit().await?;
    st.jobs.wake();
    Ok(())
}

/// Whether a reset link is still valid (to show the form or an "expired" page).
pub async fn reset_link_valid(st: &Ctx, tok: &str) -> Result<bool> {
    if !token::is_well_formed(tok) {
        return Ok(false);
    }
    Ok(tokens::peek(
        &mut st.db.conn().await?,
        Purpose::ResetPassword,
        &token::hash(tok),
        st.clock.now(),
    )
    .await?
    .is_some())
}

/// Sets a new password from a reset link; every session of the user ends. False: the link is
/// invalid or used.
pub async fn reset_password(
    st: &Ctx,
    tok: &str,
    new_password: &str,
    client: &Client,
) -> Result<bool> {
    if !token::is_well_formed(tok) {
        return Ok(false);
    }
    let now = st.clock.now();
    let hash = st.passwords.hash(new_password).await?;
    let mut tx = st.db.begin().await?;
    let Some(t) = tokens::take(&mut tx, Purpose::ResetPassword, &token::hash(tok), now).await?
    else {
        return Ok(false);
    };
    let user = users::user_by_id(&mut tx, t.user_id).await?;
    users::set_password_hash(&mut tx, user.id, &hash, now).await?;
    // Whoever could open the inbox proved the address.
    users::confirm_email(&mut tx, user.id, now).await?;
    let ended = sessions::revoke_all(&mut tx, user.id, None, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.password_reset",
            Target::User(user.id),
            json!({"sessions_ended": ended}),
            now,
        )
        .await?;
    password_changed_notice(&mut tx, st, &user, now).await?;
    tx.commit().await?;
    limits::LOGIN_FAILURES_PER_ACCOUNT
        .clear(&st.db, &limits::email_key(&user.email))
        .await?;
    st.jobs.wake();
    Ok(true)
}

async fn password_changed_notice(
    conn: &mut impl AsConn,
    st: &Ctx,
    user: &UserRow,
    now: Timestamp,
) -> Result<()> {
    let tr = Tr::new(user.locale);
    let letter = Letter {
        subject: tr.t("mail.password_changed.subject").to_owned(),
        paragraphs: vec![
            tr.t("mail.password_changed.body").to_owned(),
            tr.t("mail.not_you").to_owned(),
        ],
        action: Some((
            tr.t("mail.password_changed.action").to_owned(),
            format!("{}/reset", st.public_url),
        )),
        footer: footer(tr),
    };
    send(conn, st, &user.email, tr, &letter, now).await
}

/// Checks the current password of a signed-in user (limited against guessing).
async fn check_current_password(st: &Ctx, user: &UserRow, password: &str) -> Result<bool> {
    let now = st.clock.now();
    let key = user.id.to_string();
    limited(&limits::REAUTH_FAILURES_PER_USER, st, &key, now, false).await?;
    let ok = st
        .passwords
        .verify(password, user.password_hash.as_deref())
        .await;
    if ok {
        limits::REAUTH_FAILURES_PER_USER.clear(&st.db, &key).await?;
    } else {
        limits::REAUTH_FAILURES_PER_USER
            .hit(&st.db, &key, now)
            .await?
            .ok();
    }
    Ok(ok)
}

/// Changes the password after checking the current one; other sessions end. False: the
/// current password is wrong.
pub async fn change_password(
    st: &Ctx,
    user: &UserRow,
    session: SessionId,
    current: &str,
    new: &str,
    client: &Client,
) -> Result<bool> {
    if !check_current_password(st, user, current).await? {
        return Ok(false);
    }
    let now = st.clock.now();
    let hash = st.passwords.hash(new).await?;
    let mut tx = st.db.begin().await?;
    users::set_password_hash(&mut tx, user.id, &hash, now).await?;
    let ended = sessions::revoke_all(&mut tx, user.id, Some(session), now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.password_changed",
            Target::User(user.id),
            json!({"other_sessions_ended": ended}),
            now,
        )
        .await?;
    password_changed_notice(&mut tx, st, user, now).await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(true)
}

/// The result of asking to change the e-mail address.
#[derive(Debug, PartialEq, Eq)]
pub enum EmailChange {
    /// A confirmation link went to the new address.
    Sent,
    /// The current password was wrong.
    WrongPassword,
    /// The new address is the current one.
    Unchanged,
}

/// Sends a confirmation link to `new_email`; the address changes when it is followed. The
/// current address is told. Whether the new address is taken is only checked at
/// confirmation, so this answer reveals nothing about other accounts.
pub async fn request_email_change(
    st: &Ctx,
    user: &UserRow,
    new_email: &Email,
    password: &str,
    client: &Client,
) -> Result<EmailChange> {
    if new_email.as_str() == user.email {
        return Ok(EmailChange::Unchanged);
    }
    if !check_current_password(st, user, password).await? {
        return Ok(EmailChange::WrongPassword);
    }
    let now = st.clock.now();
    let tr = Tr::new(user.locale);
    let mut tx = st.db.begin().await?;
    let tok = issue_token(
        &mut tx,
        user.id,
        Purpose::ChangeEmail,
        Some(new_email.as_str()),
        EMAIL_CHANGE_TTL,
        now,
    )
    .await?;
    let to_new = Letter {
        subject: tr.t("mail.email_change.subject").to_owned(),
        paragraphs: vec![
            tr.f1("mail.email_change.body", "email", new_email),
            tr.t("mail.email_change.expiry").to_owned(),
        ],
        action: Some((
            tr.t("mail.email_change.action").to_owned(),
            link(st, "/account/email/confirm/", &tok),
        )),
        footer: footer(tr),
    };
    send(&mut tx, st, new_email.as_str(), tr, &to_new, now).await?;
    let to_old = Letter {
        subject: tr.t("mail.email_change_notice.subject").to_owned(),
        paragraphs: vec![
            tr.f1("mail.email_change_notice.body", "email", new_email),
            tr.t("mail.not_you").to_owned(),
        ],
        action: None,
        footer: footer(tr),
    };
    send(&mut tx, st, &user.email, tr, &to_old, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.email_change_requested",
            Target::User(user.id),
            json!({"new_email": new_email.as_str()}),
            now,
        )
        .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(EmailChange::Sent)
}

/// The result of following an e-mail change link.
#[derive(Debug, PartialEq, Eq)]
pub enum EmailChangeConfirm {
    /// The address changed.
    Changed,
    /// The link is invalid, expired or used.
    InvalidLink,
    /// Another account took the address meanwhile.
    Taken,
}

/// Completes an e-mail change.
pub async fn confirm_email_change(
    st: &Ctx,
    tok: &str,
    client: &Client,
) -> Result<EmailChangeConfirm> {
    if !token::is_well_formed(tok) {
        return Ok(EmailChangeConfirm::InvalidLink);
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(t) = tokens::take(&mut tx, Purpose::ChangeEmail, &token::hash(tok), now).await? else {
        return Ok(EmailChangeConfirm::InvalidLink);
    };
    let Some(new_email) = t.new_email.as_deref().and_then(|e| Email::parse(e).ok()) else {
        return Ok(EmailChangeConfirm::InvalidLink);
    };
    let user = users::user_by_id(&mut tx, t.user_id).await?;
    match users::set_email(&mut tx, user.id, &new_email, now).await {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => return Ok(EmailChangeConfirm::Taken),
        Err(e) => return Err(e.into()),
    }
    users::confirm_email(&mut tx, user.id, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.email_changed",
            Target::User(user.id),
            json!({"before": user.email, "after": new_email.as_str()}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(EmailChangeConfirm::Changed)
}

/// Starts (or restarts) two-factor set-up: a new secret, kept pending until confirmed.
pub async fn start_totp(st: &Ctx, user: &UserRow) -> Result<Vec<u8>> {
    let secret = totp::new_secret();
    let sealed = st.keyring.seal(&totp_pending_context(user.id), &secret);
    users::set_totp_pending(
        &mut st.db.conn().await?,
        user.id,
        Some(&sealed),
        st.clock.now(),
    )
    .await?;
    Ok(secret)
}

fn totp_pending_context(user: UserId) -> String {
    format!("totp-pending:user:{user}")
}

/// The pending secret of a set-up in progress, if any.
pub fn pending_totp(st: &Ctx, user: &UserRow) -> Result<Option<Vec<u8>>> {
    Ok(match &user.totp_pending {
        Some(sealed) => Some(st.keyring.open(&totp_pending_context(user.id), sealed)?),
        None => None,
    })
}

/// Confirms set-up with a code from the app: 2FA is on, and the ten recovery codes are
/// returned (shown once). `None`: the code did not match.
pub async fn confirm_totp(
    st: &Ctx,
    user: &UserRow,
    code: &str,
    client: &Client,
) -> Result<Option<Vec<String>>> {
    let now = st.clock.now();
    let key = user.id.to_string();
    limited(&limits::MFA_FAILURES_PER_USER, st, &key, now, false).await?;
    let Some(secret) = pending_totp(st, user)? else {
        return Ok(None);
    };
    let Some(step) = totp::check(&secret, code, now) else {
        limits::MFA_FAILURES_PER_USER
            .hit(&st.db, &key, now)
            .await?
            .ok();
        return Ok(None);
    };
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| totp::hash_recovery_code(user.id.get(), c))
        .collect();
    let mut tx = st.db.begin().await?;
    users::enable_totp(
        &mut tx,
        user.id,
        &st.keyring.seal(&totp_context(user.id), &secret),
        step,
        now,
    )
    .await?;
    tokens::replace_recovery_codes(&mut tx, user.id, &hashes, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.2fa_enabled",
            Target::User(user.id),
            json!({}),
            now,
        )
        .await?;
    security_notice(
        &mut tx,
        st,
        user,
        "mail.2fa_enabled.subject",
        "mail.2fa_enabled.body",
        now,
    )
    .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(Some(codes))
}

async fn security_notice(
    conn: &mut impl AsConn,
    st: &Ctx,
    user: &UserRow,
    subject: &str,
    body: &str,
    now: Timestamp,
) -> Result<()> {
    let tr = Tr::new(user.locale);
    let letter = Letter {
        subject: tr.t(subject).to_owned(),
        paragraphs: vec![tr.t(body).to_owned(), tr.t("mail.not_you").to_owned()],
        action: None,
        footer: footer(tr),
    };
    send(conn, st, &user.email, tr, &letter, now).await
}

/// Turns 2FA off (the caller has checked a recent re-authentication).
pub async fn disable_totp(st: &Ctx, user: &UserRow, client: &Client) -> Result<()> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    users::disable_totp(&mut tx, user.id, now).await?;
    tokens::delete_recovery_codes(&mut tx, user.id).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.2fa_disabled",
            Target::User(user.id),
            json!({}),
            now,
        )
        .await?;
    security_notice(
        &mut tx,
        st,
        user,
        "mail.2fa_disabled.subject",
        "mail.2fa_disabled.body",
        now,
    )
    .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(())
}

/// Replaces the recovery codes (the caller has checked a recent re-authentication).
pub async fn regenerate_recovery_codes(
    st: &Ctx,
    user: &UserRow,
    client: &Client,
) -> Result<Vec<String>> {
    let now = st.clock.now();
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| totp::hash_recovery_code(user.id.get(), c))
        .collect();
    let mut tx = st.db.begin().await?;
    tokens::replace_recovery_codes(&mut tx, user.id, &hashes, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.recovery_codes_regenerated",
            Target::User(user.id),
            json!({}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Re-authentication before a sensitive action: the password and, with 2FA on, a code.
/// True: the session counts as freshly authenticated for [`REAUTH_FRESH`].
pub async fn reauthenticate(
    st: &Ctx,
    session: &SessionRow,
    user: &UserRow,
    password: &str,
    code: &str,
    client: &Client,
) -> Result<bool> {
    if !check_current_password(st, user, password).await? {
        return Ok(false);
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if user.totp_secret.is_some() {
        let key = user.id.to_string();
        limited(&limits::MFA_FAILURES_PER_USER, st, &key, now, false).await?;
        if use_second_factor(&mut tx, st, user, code, now)
            .await?
            .is_none()
        {
            tx.rollback().await?;
            limits::MFA_FAILURES_PER_USER
                .hit(&st.db, &key, now)
                .await?
                .ok();
            return Ok(false);
        }
    }
    sessions::set_reauth(&mut tx, session.id, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.reauthenticated",
            Target::User(user.id),
            json!({}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Whether the session re-authenticated recently enough for a sensitive action.
pub fn recently_authenticated(st: &Ctx, session: &SessionRow) -> bool {
    session
        .reauth_at
        .is_some_and(|t| st.clock.now().duration_since(t) <= REAUTH_FRESH)
}

/// Ends one of the user's other sessions. False: no such session.
pub async fn end_session(st: &Ctx, user: &UserRow, id: SessionId, client: &Client) -> Result<bool> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let ended = sessions::revoke(&mut tx, user.id, id, now).await?;
    if ended {
        Actor::of(Some(user.id), client)
            .record(
                &mut tx,
                user.merchant_id,
                "account.session_ended",
                Target::User(user.id),
                json!({"session": id.get()}),
                now,
            )
            .await?;
    }
    tx.commit().await?;
    Ok(ended)
}

/// Ends every session of the user but the current one. Returns how many ended.
pub async fn end_other_sessions(
    st: &Ctx,
    user: &UserRow,
    current: SessionId,
    client: &Client,
) -> Result<u64> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let n = sessions::revoke_all(&mut tx, user.id, Some(current), now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.other_sessions_ended",
            Target::User(user.id),
            json!({"sessions_ended": n}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(n)
}

/// Saves the display name and language.
pub async fn update_profile(
    st: &Ctx,
    user: &UserRow,
    name: &str,
    lang: Lang,
    client: &Client,
) -> Result<()> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    users::set_name(&mut tx, user.id, name, now).await?;
    users::set_locale(&mut tx, user.id, lang, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.profile_updated",
            Target::User(user.id),
            json!({"before": {"name": user.name, "language": user.locale.code()}, "after": {"name": name, "language": lang.code()}}),
            now,
        )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The outcome of an invitation.
#[derive(Debug, PartialEq, Eq)]
pub enum Invite {
    /// Invited (or invited again): the link was sent.
    Sent(UserId),
    /// Already an active member of this account.
    AlreadyMember,
    /// The address belongs to another Kassa account.
    TakenElsewhere,
}

/// Invites `email` with `role` (the owner's action). Inviting a pending invitee again sends
/// a fresh link.
pub async fn invite(
    st: &Ctx,
    owner: &UserRow,
    email: &Email,
    role: Role,
    lang: Lang,
    client: &Client,
) -> Result<Invite> {
    let now = st.clock.now();
    let tr = Tr::new(lang);
    let mut tx = st.db.begin().await?;
    let invitee = match users::user_by_email(&mut tx, email).await? {
        Some(u) if u.merchant_id != owner.merchant_id => return Ok(Invite::TakenElsewhere),
        Some(u) if u.status != UserStatus::Invited => return Ok(Invite::AlreadyMember),
        Some(u) => {
            if u.role != role {
                users::set_role(&mut tx, u.id, role, now).await?;
            }
            u.id
        }
        None => {
            users::insert_user(
                &mut tx,
                &NewUser {
                    merchant_id: owner.merchant_id,
                    email,
                    name: "",
                    password_hash: None,
                    role,
                    status: UserStatus::Invited,
                    email_confirmed_at: None,
                    locale: lang,
                    invited_by: Some(owner.id),
                },
                now,
            )
            .await?
        }
    };
    let business = users::merchant_name(&mut tx, owner.merchant_id).await?;
    let tok = issue_token(&mut tx, invitee, Purpose::Invite, None, INVITE_TTL, now).await?;
    let inviter = if owner.name.is_empty() {
        owner.email.clone()
    } else {
        owner.name.clone()
    };
    let role_name = tr.t(&format!("role.{}", role.as_str())).to_owned();
    let letter = Letter {
        subject: tr.f1("mail.invite.subject", "business", &business),
        paragraphs: vec![
            tr.f(
                "mail.invite.body",
                &[
                    ("inviter", &inviter),
                    ("business", &business),
                    ("role", &role_name),
                ],
            ),
            tr.t("mail.invite.expiry").to_owned(),
        ],
        action: Some((
            tr.t("mail.invite.action").to_owned(),
            link(st, "/invite/", &tok),
        )),
        footer: footer(tr),
    };
    send(&mut tx, st, email.as_str(), tr, &letter, now).await?;
    Actor::of(Some(owner.id), client)
        .record(
            &mut tx,
            owner.merchant_id,
            "staff.invited",
            Target::User(invitee),
            json!({"email": email.as_str(), "role": role.as_str()}),
            now,
        )
        .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(Invite::Sent(invitee))
}

/// The invitation behind a link, for the accept page: (invitee e-mail, business name).
pub async fn invitation(st: &Ctx, tok: &str) -> Result<Option<(String, String)>> {
    if !token::is_well_formed(tok) {
        return Ok(None);
    }
    let mut c = st.db.conn().await?;
    let Some(t) = tokens::peek(&mut c, Purpose::Invite, &token::hash(tok), st.clock.now()).await?
    else {
        return Ok(None);
    };
    let user = users::user_by_id(&mut c, t.user_id).await?;
    if user.status != UserStatus::Invited {
        return Ok(None);
    }
    Ok(Some((
        user.email,
        users::merchant_name(&mut c, user.merchant_id).await?,
    )))
}

/// Accepts an invitation: sets the name and password, activates the member and signs them
/// in. `None`: the link is invalid, used or withdrawn.
pub async fn accept_invitation(
    st: &Ctx,
    tok: &str,
    name: &str,
    password: &str,
    client: &Client,
) -> Result<Option<String>> {
    if !token::is_well_formed(tok) {
        return Ok(None);
    }
    let now = st.clock.now();
    let hash = st.passwords.hash(password).await?;
    let mut tx = st.db.begin().await?;
    let Some(t) = tokens::take(&mut tx, Purpose::Invite, &token::hash(tok), now).await? else {
        return Ok(None);
    };
    let user = users::user_by_id(&mut tx, t.user_id).await?;
    if user.status != UserStatus::Invited {
        return Ok(None);
    }
    users::set_password_hash(&mut tx, user.id, &hash, now).await?;
    users::set_name(&mut tx, user.id, name, now).await?;
    users::set_status(&mut tx, user.id, UserStatus::Active, now).await?;
    users::confirm_email(&mut tx, user.id, now).await?;
    let session_token = token::generate();
    sessions::insert(
        &mut tx,
        &NewSession {
            user_id: user.id,
            token_hash: &token::hash(&session_token),
            stage: Stage::Active,
            ip: &client.ip,
            user_agent: &client.user_agent,
            expires_at: session_expiry(st, now),
            reauth_at: Some(now),
        },
        now,
    )
    .await?;
    login_event(&mut tx, Some(user.id), &user.email, "success", client, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "staff.joined",
            Target::User(user.id),
            json!({"role": user.role.as_str()}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(Some(session_token))
}

/// A staff member's new role and section grants, as the owner set them.
#[derive(Clone, Debug)]
pub struct MemberUpdate {
    /// New role (not owner).
    pub role: Role,
    /// Per section: `None` = the role's default, `Some(b)` = opened or closed.
    pub sections: Vec<(Section, Option<bool>)>,
    /// Projects the member is limited to (empty: all of the merchant's).
    pub projects: Vec<kassa_core::ProjectId>,
}

/// Why a member change was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum MemberRefusal {
    /// No such member in this account (or it is another account's user).
    NotFound,
    /// The owner's own role and access cannot be changed here.
    IsOwner,
}

/// Changes a member's role and grants; their sessions stay, and the next request sees the
/// change.
pub async fn update_member(
    st: &Ctx,
    owner: &UserRow,
    member: UserId,
    update: &MemberUpdate,
    client: &Client,
) -> Result<std::result::Result<(), MemberRefusal>> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let target = match users::user_in_merchant(&mut tx, owner.merchant_id, member).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Ok(Err(MemberRefusal::NotFound)),
        Err(e) => return Err(e.into()),
    };
    if target.role == Role::Owner || update.role == Role::Owner {
        return Ok(Err(MemberRefusal::IsOwner));
    }
    let before = users::section_overrides(&mut tx, target.id).await?;
    users::set_role(&mut tx, target.id, update.role, now).await?;
    for (section, allowed) in &update.sections {
        if section.is_grantable() {
            // Only store what differs from the role: a later role change then behaves as expected.
            let stored = allowed.filter(|a| *a != update.role.allows(*section));
            users::set_section_override(&mut tx, target.id, *section, stored, now).await?;
        }
    }
    let before_projects = kassa_store::projects::scope_of(&mut tx, target.id).await?;
    // Only the merchant's own projects can be in a scope.
    let own: Vec<kassa_core::ProjectId> =
        kassa_store::projects::of_merchant(&mut tx, owner.merchant_id)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
    let scope: Vec<kassa_core::ProjectId> = update
        .projects
        .iter()
        .copied()
        .filter(|p| own.contains(p))
        .collect();
    kassa_store::projects::set_scope(&mut tx, target.id, &scope, now).await?;
    let after = users::section_overrides(&mut tx, target.id).await?;
    let show = |o: &[(Section, bool)]| {
        o.iter()
            .map(|(s, a)| (s.as_str().to_owned(), json!(a)))
            .collect::<serde_json::Map<_, _>>()
    };
    Actor::of(Some(owner.id), client)
        .record(
            &mut tx,
            owner.merchant_id,
            "staff.updated",
            Target::User(target.id),
            json!({
            "before": {"role": target.role.as_str(), "sections": show(&before), "projects": before_projects.iter().map(|p| p.get()).collect::<Vec<_>>()},
            "after": {"role": update.role.as_str(), "sections": show(&after), "projects": scope.iter().map(|p| p.get()).collect::<Vec<_>>()},
        }),
            now,
        )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Removes a member's access and ends their sessions.
pub async fn revoke_member(
    st: &Ctx,
    owner: &UserRow,
    member: UserId,
    client: &Client,
) -> Result<std::result::Result<(), MemberRefusal>> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let target = match users::user_in_merchant(&mut tx, owner.merchant_id, member).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => return Ok(Err(MemberRefusal::NotFound)),
        Err(e) => return Err(e.into()),
    };
    if target.role == Role::Owner {
        return Ok(Err(MemberRefusal::IsOwner));
    }
    users::set_status(&mut tx, target.id, UserStatus::Revoked, now).await?;
    let ended = sessions::revoke_all(&mut tx, target.id, None, now).await?;
    Actor::of(Some(owner.id), client)
        .record(
            &mut tx,
            owner.merchant_id,
            "staff.revoked",
            Target::User(target.id),
            json!({"email": target.email, "before": {"status": target.status.as_str()}, "sessions_ended": ended}),
            now,
        )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// What a signed-in user may do.
pub async fn grants_of(conn: &mut impl AsConn, user: &UserRow) -> Result<Grants> {
    Ok(Grants {
        role: user.role,
        overrides: users::section_overrides(conn, user.id).await?,
    })
}

/// Operator: creates a confirmed merchant owner (for closed sign-up and scripted set-ups).
/// `Ok(None)`: the e-mail is taken.
pub async fn create_owner(
    st: &Ctx,
    email: &Email,
    password: &str,
    business: &str,
) -> Result<Option<UserId>> {
    let now = st.clock.now();
    let hash = st.passwords.hash(password).await?;
    let mut tx = st.db.begin().await?;
    if users::user_by_email(&mut tx, email).await?.is_some() {
        return Ok(None);
    }
    let business = if business.trim().is_empty() {
        email.as_str()
    } else {
        business.trim()
    };
    let merchant = users::create_merchant(&mut tx, business, now).await?;
    let user = users::insert_user(
        &mut tx,
        &NewUser {
            merchant_id: merchant,
            email,
            name: "",
            password_hash: Some(&hash),
            role: Role::Owner,
            status: UserStatus::Active,
            email_confirmed_at: Some(now),
            locale: Lang::En,
            invited_by: None,
        },
        now,
    )
    .await?;
    Actor::operator()
        .record(
            &mut tx,
            merchant,
            "account.created_by_operator",
            Target::User(user),
            json!({"business": business}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(Some(user))
}

/// Operator: turns off a user's 2FA (lost phone and codes) and ends their sessions.
/// False: no such user.
pub async fn operator_reset_2fa(st: &Ctx, email: &Email) -> Result<bool> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(user) = users::user_by_email(&mut tx, email).await? else {
        return Ok(false);
    };
    users::disable_totp(&mut tx, user.id, now).await?;
    tokens::delete_recovery_codes(&mut tx, user.id).await?;
    let ended = sessions::revoke_all(&mut tx, user.id, None, now).await?;
    Actor::operator()
        .record(
            &mut tx,
            user.merchant_id,
            "account.2fa_reset_by_operator",
            Target::User(user.id),
            json!({"sessions_ended": ended}),
            now,
        )
        .await?;
    security_notice(
        &mut tx,
        st,
        &user,
        "mail.2fa_disabled.subject",
        "mail.2fa_reset.body",
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
