//! Single-use tokens sent by e-mail (address confirmation, password reset, e-mail change,
//! staff invitations) and two-factor recovery codes. Only hashes are stored; using a token is
//! one atomic statement, so a link works once even when clicked twice at the same moment.

use kassa_core::{Timestamp, UserId};

use crate::{AsConn, StoreError, exec, sql};

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm the address given at sign-up.
    ConfirmEmail,
    /// Set a new password.
    ResetPassword,
    /// Confirm a new address.
    ChangeEmail,
    /// Accept a staff invitation.
    Invite,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::ConfirmEmail => "confirm_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::ChangeEmail => "change_email",
            Purpose::Invite => "invite",
        }
    }
}

/// A valid token.
#[derive(Clone, Debug)]
pub struct TokenRow {
    /// Whose.
    pub user_id: UserId,
    /// For [`Purpose::ChangeEmail`]: the new address.
    pub new_email: Option<String>,
    /// Until when it works.
    pub expires_at: Timestamp,
}

/// Stores a token. Earlier unused tokens of the same purpose for the user stop working, so
/// only the newest link is valid.
pub async fn issue(
    conn: &mut impl AsConn,
    user: UserId,
    purpose: Purpose,
    token_hash: &str,
    new_email: Option<&str>,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update user_token set used_at = $1 where user_id = $2 and purpose = $3 and used_at is null")
            .bind(now.as_micros())
            .bind(user.get())
            .bind(purpose.as_str())
    )?;
    exec!(
        conn,
        sqlx::query(
            "insert into user_token (user_id, purpose, token_hash, new_email, expires_at, created_at) \
             values ($1, $2, $3, $4, $5, $6)"
        )
        .bind(user.get())
        .bind(purpose.as_str())
        .bind(token_hash)
        .bind(new_email)
        .bind(expires_at.as_micros())
        .bind(now.as_micros())
    )?;
    Ok(())
}

/// The token if it is valid (right purpose, unused, unexpired), without using it.
pub async fn peek(
    conn: &mut impl AsConn,
    purpose: Purpose,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<TokenRow>, StoreError> {
    let r: Option<(i64, Option<String>, i64)> = sql!(conn, |c| sqlx::query_as(
        "select user_id, new_email, expires_at from user_token \
         where token_hash = $1 and purpose = $2 and used_at is null and expires_at > $3"
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now.as_micros())
    .fetch_optional(c)
    .await)?;
    Ok(r.map(|(u, e, x)| TokenRow {
        user_id: UserId::new(u),
        new_email: e,
        expires_at: Timestamp::from_micros(x),
    }))
}

/// Uses the token: marks it used and returns it, or `None` if it is not valid.
pub async fn take(
    conn: &mut impl AsConn,
    purpose: Purpose,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<TokenRow>, StoreError> {
    let r: Option<(i64, Option<String>, i64)> = sql!(conn, |c| sqlx::query_as(
        "update user_token set used_at = $3 \
         where token_hash = $1 and purpose = $2 and used_at is null and expires_at > $3 \
         returning user_id, new_email, expires_at"
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now.as_micros())
    .fetch_optional(c)
    .await)?;
    Ok(r.map(|(u, e, x)| TokenRow {
        user_id: UserId::new(u),
        new_email: e,
        expires_at: Timestamp::from_micros(x),
    }))
}

/// Replaces a user's recovery codes with new ones (hashes).
pub async fn replace_recovery_codes(
    conn: &mut impl AsConn,
    user: UserId,
    hashes: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from recovery_code where user_id = $1").bind(user.get())
    )?;
    for h in hashes {
        exec!(
            conn,
            sqlx::query(
                "insert into recovery_code (user_id, code_hash, created_at) values ($1, $2, $3)"
            )
            .bind(user.get())
            .bind(h)
            .bind(now.as_micros())
        )?;
    }
    Ok(())
}

/// Uses a recovery code. Returns false if the user has no such unused code.
pub async fn use_recovery_code(
    conn: &mut impl AsConn,
    user: UserId,
    hash: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let n = exec!(
        conn,
        sqlx::query("update recovery_code set used_at = $1 where user_id = $2 and code_hash = $3 and used_at is null")
            .bind(now.as_micros())
            .bind(user.get())
            .bind(hash)
    )?;
    Ok(n == 1)
}

/// Unused recovery codes left.
pub async fn recovery_codes_left(conn: &mut impl AsConn, user: UserId) -> Result<i64, StoreError> {
    Ok(sql!(conn, |c| sqlx::query_scalar(
        "select count(*) from recovery_code where user_id = $1 and used_at is null"
    )
    .bind(user.get())
    .fetch_one(c)
    .await)?)
}

/// Deletes a user's recovery codes (2FA turned off).
pub async fn delete_recovery_codes(conn: &mut impl AsConn, user: UserId) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from recovery_code where user_id = $1").bind(user.get())
    )?;
    Ok(())
}

/// Deletes tokens that expired before `before`.
pub async fn prune(conn: &mut impl AsConn, before: Timestamp) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from user_token where expires_at < $1").bind(before.as_micros())
    )?)
}
