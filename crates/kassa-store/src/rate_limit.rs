//! Rate-limit state kept in the database, so that every Kassa process sharing a database
//! enforces the same limits. One row per bucket holds its *theoretical arrival time* (the
//! generic cell rate algorithm, a token bucket in one number): each admitted hit pushes it
//! forward by the limit's interval, and a hit is admitted while that leaves it at most one
//! window ahead of now. There are no window boundaries to game.

use kassa_core::Timestamp;

use crate::{AsConn, StoreError, exec, sql};

/// Admits one hit in `bucket` if `max(tat, now) + interval <= now + window`, moving the
/// bucket's arrival time forward in the same statement. Returns the new arrival time, or
/// `None` when the hit is refused (and nothing changed).
pub async fn admit(
    conn: &mut impl AsConn,
    bucket: &str,
    now: Timestamp,
    interval_micros: i64,
    window_micros: i64,
) -> Result<Option<Timestamp>, StoreError> {
    let tat: Option<i64> = sql!(conn, |c| {
        sqlx::query_scalar(
            "insert into rate_limit (bucket, tat) values ($1, $2 + $3) \
             on conflict (bucket) do update set \
               tat = (case when rate_limit.tat > $2 then rate_limit.tat else $2 end) + $3 \
             where (case when rate_limit.tat > $2 then rate_limit.tat else $2 end) + $3 <= $4 \
             returning tat",
        )
        .bind(bucket)
        .bind(now.as_micros())
        .bind(interval_micros)
        .bind(now.as_micros().saturating_add(window_micros))
        .fetch_optional(c)
        .await
    })?;
    Ok(tat.map(Timestamp::from_micros))
}

/// The bucket's theoretical arrival time (`None`: never hit, or cleared).
pub async fn arrival(
    conn: &mut impl AsConn,
    bucket: &str,
) -> Result<Option<Timestamp>, StoreError> {
    let tat: Option<i64> = sql!(conn, |c| sqlx::query_scalar(
        "select tat from rate_limit where bucket = $1"
    )
    .bind(bucket)
    .fetch_optional(c)
    .await)?;
    Ok(tat.map(Timestamp::from_micros))
}

/// Forgets `bucket` (e.g. after a successful sign-in).
pub async fn clear(conn: &mut impl AsConn, bucket: &str) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from rate_limit where bucket = $1").bind(bucket)
    )?;
    Ok(())
}

/// Deletes buckets that drained before `before` (they admit as if never hit).
pub async fn prune(conn: &mut impl AsConn, before: Timestamp) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from rate_limit where tat < $1").bind(before.as_micros())
    )?)
}
