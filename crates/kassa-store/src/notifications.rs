//! Notifications (migration 0016): events written with their cause, the center's rows, each
//! delivery by e-mail or Telegram (unique per event, person and channel), the digests that
//! replace bursts, people's choices, and the Telegram link (chats, one-time tokens, the bot's
//! update offset). The service (`kassa_service::notify`) decides; this module stores.

use kassa_core::{MerchantId, ProjectId, Timestamp, UserId};

use crate::{AsConn, StoreError, exec, sql};

/// An event to store.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    /// Whose.
    pub merchant: MerchantId,
    /// Its kind (`invoice.paid`).
    pub kind: &'a str,
    /// The project it concerns, if one.
    pub project: Option<ProjectId>,
    /// The one person it is for (personal events), if any.
    pub user: Option<UserId>,
    /// Its parameters (JSON text).
    pub params: &'a str,
    /// Its link in the dashboard.
    pub link: Option<&'a str>,
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    /// Id.
    pub id: i64,
    /// Whose.
    pub merchant: MerchantId,
    /// Kind.
    pub kind: String,
    /// Project.
    pub project: Option<ProjectId>,
    /// The one person it is for.
    pub user: Option<UserId>,
    /// Parameters (JSON text).
    pub params: String,
    /// Link.
    pub link: Option<String>,
    /// When.
    pub created_at: Timestamp,
}

/// Stores an event; its id.
pub async fn insert_event(
    conn: &mut impl AsConn,
    e: &NewEvent<'_>,
    now: Timestamp,
) -> Result<i64, StoreError> {
    Ok(sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into notification_event (merchant_id, kind, project_id, user_id, params, link, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7) returning notification_event_id"
    )
    .bind(e.merchant.get())
    .bind(e.kind)
    .bind(e.project.map(ProjectId::get))
    .bind(e.user.map(UserId::get))
    .bind(e.params)
    .bind(e.link)
    .bind(now.as_micros())
    .fetch_one(c)
    .await
    })?)
}

type EventTuple = (
    i64,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    String,
    Option<String>,
    i64,
);

/// One event.
pub async fn event(conn: &mut impl AsConn, id: i64) -> Result<Option<EventRow>, StoreError> {
    let row: Option<EventTuple> = sql!(conn, |c| {
        sqlx::query_as(
        "select notification_event_id, merchant_id, kind, project_id, user_id, params, link, created_at \
         from notification_event where notification_event_id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await
    })?;
    Ok(row.map(|t| EventRow {
        id: t.0,
        merchant: MerchantId::new(t.1),
        kind: t.2,
        project: t.3.map(ProjectId::new),
        user: t.4.map(UserId::new),
        params: t.5,
        link: t.6,
        created_at: Timestamp::from_micros(t.7),
    }))
}

/// Whether `merchant` already has an event of `kind` with this link.
pub async fn event_exists(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    kind: &str,
    link: &str,
) -> Result<bool, StoreError> {
    let n: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "select count(*) from notification_event where merchant_id = $1 and kind = $2 and link = $3"
    )
    .bind(merchant.get())
    .bind(kind)
    .bind(link)
    .fetch_one(c)
    .await
    })?;
    Ok(n > 0)
}

/// A line of a person's notification center.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CenterRow {
    /// Id (and keyset cursor).
    pub id: i64,
    /// Kind.
    pub kind: String,
    /// Parameters (JSON text).
    pub params: String,
    /// Link.
    pub link: Option<String>,
    /// When read.
    pub read_at: Option<Timestamp>,
    /// When.
    pub created_at: Timestamp,
}

type CenterTuple = (i64, String, String, Option<String>, Option<i64>, i64);

/// Puts a line in `user`'s center (for `event`, once). False when it is there already.
pub async fn insert_center(
    conn: &mut impl AsConn,
    user: UserId,
    event: Option<i64>,
    kind: &str,
    params: &str,
    link: Option<&str>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "insert into notification (user_id, notification_event_id, kind, params, link, created_at) \
             values ($1, $2, $3, $4, $5, $6) on conflict do nothing"
        )
        .bind(user.get())
        .bind(event)
        .bind(kind)
        .bind(params)
        .bind(link)
        .bind(now.as_micros())
    )? == 1)
}

/// `user`'s center, newest first, below `before`, at most `limit`.
pub async fn center(
    conn: &mut impl AsConn,
    user: UserId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<CenterRow>, StoreError> {
    let rows: Vec<CenterTuple> = sql!(conn, |c| {
        sqlx::query_as(
            "select notification_id, kind, params, link, read_at, created_at from notification \
             where user_id = $1 and notification_id < $2 order by notification_id desc limit $3",
        )
        .bind(user.get())
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 500))
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|t| CenterRow {
            id: t.0,
            kind: t.1,
            params: t.2,
            link: t.3,
            read_at: t.4.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(t.5),
        })
        .collect())
}

/// How many of `user`'s lines are unread.
pub async fn unread(conn: &mut impl AsConn, user: UserId) -> Result<i64, StoreError> {
    Ok(sql!(conn, |c| sqlx::query_scalar(
        "select count(*) from notification where user_id = $1 and read_at is null"
    )
    .bind(user.get())
    .fetch_one(c)
    .await)?)
}

/// Marks one of `user`'s lines (or all of them) read; how many changed.
pub async fn mark_read(
    conn: &mut impl AsConn,
    user: UserId,
    id: Option<i64>,
    now: Timestamp,
) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update notification set read_at = $1 where user_id = $2 and read_at is null \
             and ($3 = 0 or notification_id = $3)"
        )
        .bind(now.as_micros())
        .bind(user.get())
        .bind(id.unwrap_or(0))
    )?)
}

/// A delivery by e-mail or Telegram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Id.
    pub id: i64,
    /// The event.
    pub event: i64,
    /// The person.
    pub user: UserId,
    /// `email` or `telegram`.
    pub channel: String,
    /// `queued`, `sent`, `grouped` or `failed`.
    pub state: String,
    /// The minute it fell in.
    pub bucket: i64,
}

/// Stores a delivery of `event` to `user` on `channel` in `state`; its id, or `None` when that
/// delivery exists already.
pub async fn insert_delivery(
    conn: &mut impl AsConn,
    event: i64,
    user: UserId,
    channel: &str,
    state: &str,
    bucket: i64,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    Ok(sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into notification_delivery (notification_event_id, user_id, channel, state, bucket, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $6) on conflict do nothing returning notification_delivery_id"
    )
    .bind(event)
    .bind(user.get())
    .bind(channel)
    .bind(state)
    .bind(bucket)
    .bind(now.as_micros())
    .fetch_optional(c)
    .await
    })?)
}

/// One delivery.
pub async fn delivery(conn: &mut impl AsConn, id: i64) -> Result<Option<DeliveryRow>, StoreError> {
    let row: Option<(i64, i64, i64, String, String, i64)> = sql!(conn, |c| {
        sqlx::query_as(
        "select notification_delivery_id, notification_event_id, user_id, channel, state, bucket \
         from notification_delivery where notification_delivery_id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await
    })?;
    Ok(row.map(|t| DeliveryRow {
        id: t.0,
        event: t.1,
        user: UserId::new(t.2),
        channel: t.3,
        state: t.4,
        bucket: t.5,
    }))
}

/// Moves delivery `id` from `from` to `to` (with an error text). False when it was not in
/// `from`.
pub async fn set_delivery(
    conn: &mut impl AsConn,
    id: i64,
    from: &str,
    to: &str,
    error: Option<&str>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update notification_delivery set state = $1, error = $2, updated_at = $3 \
             where notification_delivery_id = $4 and state = $5"
        )
        .bind(to)
        .bind(error)
        .bind(now.as_micros())
        .bind(id)
        .bind(from)
    )? == 1)
}

/// How many deliveries of `kinds` like `pattern` (`invoice.%`) `user` has on `channel` in
/// minute `bucket`.
pub async fn in_bucket(
    conn: &mut impl AsConn,
    user: UserId,
    channel: &str,
    bucket: i64,
    pattern: &str,
) -> Result<i64, StoreError> {
    Ok(sql!(conn, |c| sqlx::query_scalar(
        "select count(*) from notification_delivery d \
         join notification_event e on e.notification_event_id = d.notification_event_id \
         where d.user_id = $1 and d.channel = $2 and d.bucket = $3 and e.kind like $4"
    )
    .bind(user.get())
    .bind(channel)
    .bind(bucket)
    .bind(pattern)
    .fetch_one(c)
    .await)?)
}

/// Opens the digest of `user`, `channel` and `bucket`. False when it is open already.
pub async fn open_digest(
    conn: &mut impl AsConn,
    user: UserId,
    channel: &str,
    bucket: i64,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "insert into notification_digest (user_id, channel, bucket) values ($1, $2, $3) \
             on conflict do nothing"
        )
        .bind(user.get())
        .bind(channel)
        .bind(bucket)
    )? == 1)
}

/// Whether the digest of `user`, `channel` and `bucket` is open and not sent.
pub async fn digest_open(
    conn: &mut impl AsConn,
    user: UserId,
    channel: &str,
    bucket: i64,
) -> Result<bool, StoreError> {
    let n: i64 = sql!(conn, |c| sqlx::query_scalar(
        "select count(*) from notification_digest where user_id = $1 and channel = $2 \
         and bucket = $3 and sent_at is null"
    )
    .bind(user.get())
    .bind(channel)
    .bind(bucket)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}

/// Marks a digest sent. False when it was sent already.
pub async fn digest_sent(
    conn: &mut impl AsConn,
    user: UserId,
    channel: &str,
    bucket: i64,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update notification_digest set sent_at = $1 where user_id = $2 and channel = $3 \
             and bucket = $4 and sent_at is null"
        )
        .bind(now.as_micros())
        .bind(user.get())
        .bind(channel)
        .bind(bucket)
    )? == 1)
}

/// The events grouped into a digest: their kinds and parameters.
pub async fn grouped(
    conn: &mut impl AsConn,
    user: UserId,
    channel: &str,
    bucket: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sql!(conn, |c| sqlx::query_as(
        "select e.kind, e.params from notification_delivery d \
         join notification_event e on e.notification_event_id = d.notification_event_id \
         where d.user_id = $1 and d.channel = $2 and d.bucket = $3 and d.state = 'grouped' \
         order by d.notification_delivery_id"
    )
    .bind(user.get())
    .bind(channel)
    .bind(bucket)
    .fetch_all(c)
    .await)?)
}

/// `user`'s choices: (kind, channel, on).
pub async fn prefs(
    conn: &mut impl AsConn,
    user: UserId,
) -> Result<Vec<(String, String, bool)>, StoreError> {
    let rows: Vec<(String, String, i64)> = sql!(conn, |c| sqlx::query_as(
        "select kind, channel, enabled from notification_pref where user_id = $1"
    )
    .bind(user.get())
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|(k, c, e)| (k, c, e != 0)).collect())
}

/// Sets one of `user`'s choices.
pub async fn set_pref(
    conn: &mut impl AsConn,
    user: UserId,
    kind: &str,
    channel: &str,
    enabled: bool,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into notification_pref (user_id, kind, channel, enabled) values ($1, $2, $3, $4) \
             on conflict (user_id, kind, channel) do update set enabled = excluded.enabled"
        )
        .bind(user.get())
        .bind(kind)
        .bind(channel)
        .bind(i64::from(enabled))
    )?;
    Ok(())
}

/// `user`'s linked Telegram chat, if any.
pub async fn chat_of(conn: &mut impl AsConn, user: UserId) -> Result<Option<i64>, StoreError> {
    Ok(sql!(conn, |c| sqlx::query_scalar(
        "select chat_id from telegram_chat where user_id = $1"
    )
    .bind(user.get())
    .fetch_optional(c)
    .await)?)
}

/// Links `chat` to `user` (replacing any other chat of theirs).
pub async fn link_chat(
    conn: &mut impl AsConn,
    user: UserId,
    chat: i64,
    username: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into telegram_chat (user_id, chat_id, username, linked_at) values ($1, $2, $3, $4) \
             on conflict (user_id) do update set chat_id = excluded.chat_id, \
             username = excluded.username, linked_at = excluded.linked_at"
        )
        .bind(user.get())
        .bind(chat)
        .bind(username)
        .bind(now.as_micros())
    )?;
    Ok(())
}

/// Unlinks `user`'s chat. False when there was none.
pub async fn unlink_user(conn: &mut impl AsConn, user: UserId) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from telegram_chat where user_id = $1").bind(user.get())
    )? > 0)
}

/// Unlinks every person linked to `chat`; who they were.
pub async fn unlink_chat(conn: &mut impl AsConn, chat: i64) -> Result<Vec<UserId>, StoreError> {
    let users: Vec<i64> = sql!(conn, |c| sqlx::query_scalar(
        "delete from telegram_chat where chat_id = $1 returning user_id"
    )
    .bind(chat)
    .fetch_all(c)
    .await)?;
    Ok(users.into_iter().map(UserId::new).collect())
}

/// Stores a one-time link token (its hash) for `user`, replacing their unused ones.
pub async fn insert_link_token(
    conn: &mut impl AsConn,
    user: UserId,
    token_hash: &str,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from telegram_link where user_id = $1 and used_at is null")
            .bind(user.get())
    )?;
    exec!(
        conn,
        sqlx::query(
            "insert into telegram_link (token_hash, user_id, expires_at) values ($1, $2, $3)"
        )
        .bind(token_hash)
        .bind(user.get())
        .bind(expires_at.as_micros())
    )?;
    Ok(())
}

/// Uses the link token with this hash if it is unused and unexpired; whose it was.
pub async fn use_link_token(
    conn: &mut impl AsConn,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<UserId>, StoreError> {
    let user: Option<i64> = sql!(conn, |c| sqlx::query_scalar(
        "update telegram_link set used_at = $1 where token_hash = $2 and used_at is null \
         and expires_at > $1 returning user_id"
    )
    .bind(now.as_micros())
    .bind(token_hash)
    .fetch_optional(c)
    .await)?;
    Ok(user.map(UserId::new))
}

/// The bot's next update offset (0 before the first).
pub async fn update_offset(conn: &mut impl AsConn) -> Result<i64, StoreError> {
    let o: Option<i64> = sql!(conn, |c| sqlx::query_scalar(
        "select update_offset from telegram_state where id = 1"
    )
    .fetch_optional(c)
    .await)?;
    Ok(o.unwrap_or(0))
}

/// Sets the bot's next update offset.
pub async fn set_update_offset(conn: &mut impl AsConn, offset: i64) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into telegram_state (id, update_offset) values (1, $1) \
             on conflict (id) do update set update_offset = excluded.update_offset"
        )
        .bind(offset)
    )?;
    Ok(())
}
