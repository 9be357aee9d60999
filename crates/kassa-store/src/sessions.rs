//! Browser sessions. The cookie carries a random token; only its SHA-256 is stored, so a copy
//! of the database cannot be used to sign in.

use kassa_core::{SessionId, Timestamp, UserId};

use crate::{AsConn, StoreError, exec, sql};

/// How far a session has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Password accepted; waiting for the second factor.
    MfaPending,
    /// Signed in.
    Active,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::MfaPending => "mfa_pending",
            Stage::Active => "active",
        }
    }
}

/// A session as stored.
#[derive(Clone, Debug)]
pub struct SessionRow {
    /// Id.
    pub id: SessionId,
    /// Whose.
    pub user_id: UserId,
    /// Stage.
    pub stage: Stage,
    /// Client address at sign-in.
    pub ip: String,
    /// Browser at sign-in.
    pub user_agent: String,
    /// Last successful re-authentication (password and code) in this session.
    pub reauth_at: Option<Timestamp>,
    /// Last request seen (updated at most once a minute).
    pub last_seen_at: Timestamp,
    /// Absolute expiry.
    pub expires_at: Timestamp,
    /// Signed in at.
    pub created_at: Timestamp,
}

type SessionTuple = (i64, i64, String, String, String, Option<i64>, i64, i64, i64);

const COLUMNS: &str =
    "session_id, user_id, stage, ip, user_agent, reauth_at, last_seen_at, expires_at, created_at";

fn row(t: SessionTuple) -> SessionRow {
    SessionRow {
        id: SessionId::new(t.0),
        user_id: UserId::new(t.1),
        stage: if t.2 == "active" {
            Stage::Active
        } else {
            Stage::MfaPending
        },
        ip: t.3,
        user_agent: t.4,
        reauth_at: t.5.map(Timestamp::from_micros),
        last_seen_at: Timestamp::from_micros(t.6),
        expires_at: Timestamp::from_micros(t.7),
        created_at: Timestamp::from_micros(t.8),
    }
}

/// A session to create.
#[derive(Clone, Debug)]
pub struct NewSession<'a> {
    /// Whose.
    pub user_id: UserId,
    /// SHA-256 of the token, hex.
    pub token_hash: &'a str,
    /// Stage.
    pub stage: Stage,
    /// Client address.
    pub ip: &'a str,
    /// Browser.
    pub user_agent: &'a str,
    /// Absolute expiry.
    pub expires_at: Timestamp,
    /// Set when the sign-in itself counts as a re-authentication.
    pub reauth_at: Option<Timestamp>,
}

/// Creates a session.
pub async fn insert(
    conn: &mut impl AsConn,
    s: &NewSession<'_>,
    now: Timestamp,
) -> Result<SessionId, StoreError> {
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into session (user_id, token_hash, stage, ip, user_agent, reauth_at, last_seen_at, expires_at, \
         created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $7, $7) returning session_id"
    )
    .bind(s.user_id.get())
    .bind(s.token_hash)
    .bind(s.stage.as_str())
    .bind(s.ip)
    .bind(s.user_agent)
    .bind(s.reauth_at.map(Timestamp::as_micros))
    .bind(now.as_micros())
    .bind(s.expires_at.as_micros())
    .fetch_one(c)
    .await
    })?;
    Ok(SessionId::new(id))
}

/// The live session with this token hash: not revoked, not past its absolute expiry, and
/// seen within `idle_since` (the idle timeout).
pub async fn live_by_token(
    conn: &mut impl AsConn,
    token_hash: &str,
    now: Timestamp,
    idle_since: Timestamp,
) -> Result<Option<SessionRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from session where token_hash = $1 and revoked_at is null \
         and expires_at > $2 and last_seen_at > $3"
    ));
    let r: Option<SessionTuple> = sql!(conn, |c| sqlx::query_as(sql)
        .bind(token_hash)
        .bind(now.as_micros())
        .bind(idle_since.as_micros())
        .fetch_optional(c)
        .await)?;
    Ok(r.map(row))
}

/// Live sessions of a user, newest first.
pub async fn live_for_user(
    conn: &mut impl AsConn,
    user: UserId,
    now: Timestamp,
    idle_since: Timestamp,
) -> Result<Vec<SessionRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from session where user_id = $1 and revoked_at is null and stage = 'active' \
         and expires_at > $2 and last_seen_at > $3 order by last_seen_at desc"
    ));
    let rows: Vec<SessionTuple> = sql!(conn, |c| sqlx::query_as(sql)
        .bind(user.get())
        .bind(now.as_micros())
        .bind(idle_since.as_micros())
        .fetch_all(c)
        .await)?;
    Ok(rows.into_iter().map(row).collect())
}

/// Records activity (the idle timer starts again).
pub async fn touch(
    conn: &mut impl AsConn,
    id: SessionId,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update session set last_seen_at = $1 where session_id = $2")
            .bind(now.as_micros())
            .bind(id.get())
    )?;
    Ok(())
}

/// Promotes a session to fully signed in under a new token (the old token stops working, so
/// a token seen before the second factor cannot be reused), with its full lifetime.
pub async fn activate(
    conn: &mut impl AsConn,
    id: SessionId,
    new_token_hash: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update session set stage = 'active', token_hash = $1, reauth_at = $2, last_seen_at = $2, updated_at = $2, \
             expires_at = $3 where session_id = $4 and revoked_at is null"
        )
        .bind(new_token_hash)
        .bind(now.as_micros())
        .bind(expires_at.as_micros())
        .bind(id.get())
    )?;
    Ok(())
}

/// Records a successful re-authentication.
pub async fn set_reauth(
    conn: &mut impl AsConn,
    id: SessionId,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update session set reauth_at = $1, updated_at = $1 where session_id = $2")
            .bind(now.as_micros())
            .bind(id.get())
    )?;
    Ok(())
}

/// Ends one session of `user`. Returns false if there was no such live session.
pub async fn revoke(
    conn: &mut impl AsConn,
    user: UserId,
    id: SessionId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let n = exec!(
        conn,
        sqlx::query("update session set revoked_at = $1, updated_at = $1 where session_id = $2 and user_id = $3 and revoked_at is null")
            .bind(now.as_micros())
            .bind(id.get())
            .bind(user.get())
    )?;
    Ok(n == 1)
}

/// Ends every session of `user` except `keep`. Returns how many ended.
pub async fn revoke_all(
    conn: &mut impl AsConn,
    user: UserId,
    keep: Option<SessionId>,
    now: Timestamp,
) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update session set revoked_at = $1, updated_at = $1 where user_id = $2 and revoked_at is null \
             and session_id <> $3"
        )
        .bind(now.as_micros())
        .bind(user.get())
        .bind(keep.map_or(0, SessionId::get))
    )?)
}

/// Deletes sessions that ended (revoked or expired) before `before`.
pub async fn prune(conn: &mut impl AsConn, before: Timestamp) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from session where expires_at < $1 or revoked_at < $1")
            .bind(before.as_micros())
    )?)
}
