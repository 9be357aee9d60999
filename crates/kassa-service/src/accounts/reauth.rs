//! Re-authentication before sensitive changes, and the list of sessions.

use super::*;

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
