//! Re-authentication before sensitive changes, and the list of sessions.

use super::*;

/// How a re-authentication ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reauth {
    /// The session counts as freshly authenticated for [`REAUTH_FRESH`].
    Done,
    /// The password or the code is wrong.
    Failed,
    /// The authenticator code was just used (each works once): wait for the next.
    CodeJustUsed,
}

/// Re-authentication before a sensitive action: the password and, with 2FA on, a code.
pub async fn reauthenticate(
    st: &Ctx,
    session: &SessionRow,
    user: &UserRow,
    password: &str,
    code: &str,
    client: &Client,
) -> Result<Reauth> {
    if !check_current_password(st, user, password).await? {
        return Ok(Reauth::Failed);
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if user.totp_secret.is_some() {
        let key = user.id.to_string();
        limited(&limits::MFA_FAILURES_PER_USER, st, &key, now, false).await?;
        if let Err(refused) = use_second_factor(&mut tx, st, user, code, now).await? {
            tx.rollback().await?;
            limits::MFA_FAILURES_PER_USER
                .hit(&st.db, &key, now)
                .await?
                .ok();
            return Ok(match refused {
                CodeRefused::JustUsed => Reauth::CodeJustUsed,
                CodeRefused::Wrong => Reauth::Failed,
            });
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
    Ok(Reauth::Done)
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

/// How a sensitive action's confirmation went (see [`confirm_sensitive`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Password and (with 2FA on) a fresh code: go ahead.
    Confirmed,
    /// The password is wrong.
    WrongPassword,
    /// The second-factor code is wrong, or a recovery code (not taken here).
    WrongCode,
    /// The authenticator code was just used (each works once): wait for the next.
    CodeJustUsed,
    /// The action needs two-factor authentication, and the person has not turned it on.
    NeedsTwoFactor,
}

/// Confirms a sensitive action (a withdrawal, a saved address, a rule, a withdrawal key) with
/// the password and, when 2FA is on (or `require_2fa`), a fresh authenticator code: each code
/// works once, recovery codes are not taken, failures count towards the same limits as
/// re-authentication.
pub async fn confirm_sensitive(
    st: &Ctx,
    user: &UserRow,
    password: &str,
    code: &str,
    require_2fa: bool,
) -> Result<Confirmation> {
    if user.totp_secret.is_none() && require_2fa {
        return Ok(Confirmation::NeedsTwoFactor);
    }
    if !check_current_password(st, user, password).await? {
        return Ok(Confirmation::WrongPassword);
    }
    if user.totp_secret.is_none() {
        return Ok(Confirmation::Confirmed);
    }
    let now = st.clock.now();
    let key = user.id.to_string();
    limited(&limits::MFA_FAILURES_PER_USER, st, &key, now, false).await?;
    let code = code.trim();
    let mut tx = st.db.begin().await?;
    let used = if totp::looks_like_recovery_code(code) {
        Err(CodeRefused::Wrong)
    } else {
        use_second_factor(&mut tx, st, user, code, now).await?
    };
    if let Err(refused) = used {
        tx.rollback().await?;
        limits::MFA_FAILURES_PER_USER
            .hit(&st.db, &key, now)
            .await?
            .ok();
        return Ok(match refused {
            CodeRefused::JustUsed => Confirmation::CodeJustUsed,
            CodeRefused::Wrong => Confirmation::WrongCode,
        });
    }
    tx.commit().await?;
    limits::MFA_FAILURES_PER_USER.clear(&st.db, &key).await?;
    Ok(Confirmation::Confirmed)
}
