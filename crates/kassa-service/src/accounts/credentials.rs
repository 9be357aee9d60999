//! Passwords (reset by e-mail, change) and e-mail address changes.

use super::*;

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
pub(super) async fn check_current_password(
    st: &Ctx,
    user: &UserRow,
    password: &str,
) -> Result<bool> {
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
