//! Append-only records: sign-in attempts (login history) and the activity log of changes.
//! Activity rows are written in the same transaction as the change they describe.

use kassa_core::{MerchantId, Timestamp, UserId};

use crate::{AsConn, StoreError, exec, sql};

/// A sign-in attempt to record.
#[derive(Clone, Debug)]
pub struct LoginAttempt<'a> {
    /// The account, when the e-mail matched one.
    pub user_id: Option<UserId>,
    /// The e-mail as entered (normalised).
    pub email: &'a str,
    /// `success`, `bad_password`, `unknown_account`, `awaiting_2fa`, `bad_2fa_code`, …
    pub outcome: &'a str,
    /// Client address.
    pub ip: &'a str,
    /// Browser.
    pub user_agent: &'a str,
}

/// A recorded sign-in attempt.
#[derive(Clone, Debug)]
pub struct LoginRow {
    /// Outcome code.
    pub outcome: String,
    /// Client address.
    pub ip: String,
    /// Browser.
    pub user_agent: String,
    /// When.
    pub at: Timestamp,
}

/// Records a sign-in attempt.
pub async fn record_login(
    conn: &mut impl AsConn,
    a: &LoginAttempt<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into login_event (user_id, email, outcome, ip, user_agent, created_at) values ($1, $2, $3, $4, $5, $6)"
        )
        .bind(a.user_id.map(UserId::get))
        .bind(a.email)
        .bind(a.outcome)
        .bind(a.ip)
        .bind(truncate(a.user_agent, 400))
        .bind(now.as_micros())
    )?;
    Ok(())
}

/// A user's latest sign-in attempts, newest first.
pub async fn logins_of(
    conn: &mut impl AsConn,
    user: UserId,
    limit: i64,
) -> Result<Vec<LoginRow>, StoreError> {
    let rows: Vec<(String, String, String, i64)> = sql!(conn, |c| sqlx::query_as(
        "select outcome, ip, user_agent, created_at from login_event where user_id = $1 \
         order by login_event_id desc limit $2"
    )
    .bind(user.get())
    .bind(limit)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(outcome, ip, user_agent, at)| LoginRow {
            outcome,
            ip,
            user_agent,
            at: Timestamp::from_micros(at),
        })
        .collect())
}

/// A change to record in the activity log.
#[derive(Clone, Debug)]
pub struct Activity<'a> {
    /// The merchant whose data changed.
    pub merchant_id: MerchantId,
    /// Who did it; `None` for the operator's command line.
    pub actor: Option<UserId>,
    /// What, e.g. `staff.invited`, `account.password_changed`.
    pub action: &'a str,
    /// Kind of object, e.g. `user`.
    pub target_type: &'a str,
    /// Its id.
    pub target_id: &'a str,
    /// JSON object with details (`before`/`after` where useful).
    pub details: &'a serde_json::Value,
    /// Client address.
    pub ip: &'a str,
}

/// A recorded change.
#[derive(Clone, Debug)]
pub struct ActivityRow {
    /// Id (for paging).
    pub id: i64,
    /// Who did it.
    pub actor: Option<UserId>,
    /// The actor's e-mail, if any.
    pub actor_email: Option<String>,
    /// Action code.
    pub action: String,
    /// Kind of object.
    pub target_type: String,
    /// Its id.
    pub target_id: String,
    /// JSON details.
    pub details: serde_json::Value,
    /// Client address.
    pub ip: String,
    /// When.
    pub at: Timestamp,
}

/// Records a change. Call it with the transaction of the change.
pub async fn record_activity(
    conn: &mut impl AsConn,
    a: &Activity<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into activity (merchant_id, actor_user_id, action, target_type, target_id, details, ip, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(a.merchant_id.get())
        .bind(a.actor.map(UserId::get))
        .bind(a.action)
        .bind(a.target_type)
        .bind(a.target_id)
        .bind(a.details.to_string())
        .bind(a.ip)
        .bind(now.as_micros())
    )?;
    Ok(())
}

/// Filters for the activity log.
#[derive(Clone, Debug, Default)]
pub struct ActivityFilter {
    /// Only this actor.
    pub actor: Option<UserId>,
    /// Only actions starting with this (e.g. `staff.`).
    pub action_prefix: Option<String>,
    /// Only at or after.
    pub from: Option<Timestamp>,
    /// Only before.
    pub until: Option<Timestamp>,
    /// Only what concerns this project: the project itself, and its invoices.
    pub project: Option<kassa_core::ProjectId>,
    /// Only rows older than this id (keyset paging).
    pub before_id: Option<i64>,
}

/// A merchant's activity, newest first.
pub async fn activity_of(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    f: &ActivityFilter,
    limit: i64,
) -> Result<Vec<ActivityRow>, StoreError> {
    let prefix = f.action_prefix.as_ref().map(|p| {
        format!(
            "{}%",
            p.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    type Tuple = (
        i64,
        Option<i64>,
        Option<String>,
        String,
        String,
        String,
        String,
        String,
        i64,
    );
    let rows: Vec<Tuple> = sql!(conn, |c| {
        sqlx::query_as(
        "select a.activity_id, a.actor_user_id, u.email, a.action, a.target_type, a.target_id, a.details, a.ip, a.created_at \
         from activity a left join app_user u on u.user_id = a.actor_user_id \
         where a.merchant_id = $1 \
         and ($2 is null or a.actor_user_id = $2) \
         and ($3 is null or a.action like $3 escape '\\') \
         and ($4 is null or a.created_at >= $4) \
         and ($5 is null or a.created_at < $5) \
         and ($6 is null or a.activity_id < $6) \
         and ($8 is null or (a.target_type = 'project' and a.target_id = $9) \
              or (a.target_type = 'invoice' and a.target_id in (select uuid from invoice where project_id = $8))) \
         order by a.activity_id desc limit $7"
    )
    .bind(merchant.get())
    .bind(f.actor.map(UserId::get))
    .bind(prefix)
    .bind(f.from.map(Timestamp::as_micros))
    .bind(f.until.map(Timestamp::as_micros))
    .bind(f.before_id)
    .bind(limit)
    .bind(f.project.map(kassa_core::ProjectId::get))
    .bind(f.project.map(|p| p.to_string()))
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|t| ActivityRow {
            id: t.0,
            actor: t.1.map(UserId::new),
            actor_email: t.2,
            action: t.3,
            target_type: t.4,
            target_id: t.5,
            details: serde_json::from_str(&t.6).unwrap_or(serde_json::Value::Null),
            ip: t.7,
            at: Timestamp::from_micros(t.8),
        })
        .collect())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Whether `user` signed in before (password accepted), and whether ever from `ip`.
pub async fn signed_in_before(
    conn: &mut impl AsConn,
    user: UserId,
    ip: &str,
) -> Result<(bool, bool), StoreError> {
    let (any, here): (i64, i64) = sql!(conn, |c| {
        sqlx::query_as(
        "select count(*), coalesce(sum(case when ip = $2 then 1 else 0 end), 0) from login_event \
         where user_id = $1 and outcome in ('success', 'awaiting_2fa')"
    )
    .bind(user.get())
    .bind(ip)
    .fetch_one(c)
    .await
    })?;
    Ok((any > 0, here > 0))
}
