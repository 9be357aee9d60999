//! Small per-person settings, by name: the Payments section's columns, and later what else a
//! person chooses for themselves. Values are short text the caller parses (and validates).

use kassa_core::{Timestamp, UserId};

use crate::{AsConn, StoreError, exec, sql};

/// The value of `name` for `user`, if set.
pub async fn get(
    conn: &mut impl AsConn,
    user: UserId,
    name: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sql!(conn, |c| sqlx::query_scalar(
        "select value from user_setting where user_id = $1 and name = $2"
    )
    .bind(user.get())
    .bind(name)
    .fetch_optional(c)
    .await)?)
}

/// Sets `name` for `user`.
pub async fn set(
    conn: &mut impl AsConn,
    user: UserId,
    name: &str,
    value: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into user_setting (user_id, name, value, updated_at) values ($1, $2, $3, $4) \
             on conflict (user_id, name) do update set value = excluded.value, updated_at = excluded.updated_at"
        )
        .bind(user.get())
        .bind(name)
        .bind(value)
        .bind(now.as_micros())
    )?;
    Ok(())
}
