//! Two-factor set-up: TOTP, recovery codes, security notices.

use super::*;

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

pub(super) async fn security_notice(
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
