//! Fixed-window rate-limit counters kept in the database, so that every Kassa process sharing
//! a database enforces the same limits.

use kassa_core::Timestamp;

use crate::{AsConn, StoreError, exec, sql};

/// Counts one hit in `bucket` for the window starting at `window_start` and returns the
/// number of hits in that window, this one included.
pub async fn hit(
    conn: &mut impl AsConn,
    bucket: &str,
    window_start: Timestamp,
) -> Result<i64, StoreError> {
    Ok(sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into rate_limit (bucket, window_start, hits) values ($1, $2, 1) \
         on conflict (bucket) do update set \
           hits = case when rate_limit.window_start = excluded.window_start then rate_limit.hits + 1 else 1 end, \
           window_start = excluded.window_start \
         returning hits"
    )
    .bind(bucket)
    .bind(window_start.as_micros())
    .fetch_one(c)
    .await
    })?)
}

/// Hits counted so far in `bucket` for the window starting at `window_start`.
pub async fn hits(
    conn: &mut impl AsConn,
    bucket: &str,
    window_start: Timestamp,
) -> Result<i64, StoreError> {
    let n: Option<i64> = sql!(conn, |c| sqlx::query_scalar(
        "select hits from rate_limit where bucket = $1 and window_start = $2"
    )
    .bind(bucket)
    .bind(window_start.as_micros())
    .fetch_optional(c)
    .await)?;
    Ok(n.unwrap_or(0))
}

/// Forgets the counts of `bucket` (e.g. after a successful sign-in).
pub async fn clear(conn: &mut impl AsConn, bucket: &str) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from rate_limit where bucket = $1").bind(bucket)
    )?;
    Ok(())
}

/// Deletes counters of windows that started before `before`.
pub async fn prune(conn: &mut impl AsConn, before: Timestamp) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from rate_limit where window_start < $1").bind(before.as_micros())
    )?)
}
