//! Merchants, their users and the per-user section grants.

use kassa_core::account::{Email, Role, Section, UserStatus};
use kassa_core::lang::Lang;
use kassa_core::{MerchantId, Timestamp, UserId};

use crate::{AsConn, StoreError, exec, sql};

/// Creates a merchant account.
pub async fn create_merchant(
    conn: &mut impl AsConn,
    name: &str,
    now: Timestamp,
) -> Result<MerchantId, StoreError> {
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into merchant (name, created_at, updated_at) values ($1, $2, $2) returning merchant_id"
    )
    .bind(name)
    .bind(now.as_micros())
    .fetch_one(c)
    .await
    })?;
    Ok(MerchantId::new(id))
}

/// The merchant's display name.
pub async fn merchant_name(conn: &mut impl AsConn, id: MerchantId) -> Result<String, StoreError> {
    let name: Option<String> = sql!(conn, |c| sqlx::query_scalar(
        "select name from merchant where merchant_id = $1"
    )
    .bind(id.get())
    .fetch_optional(c)
    .await)?;
    name.ok_or(StoreError::NotFound)
}

/// A user as stored.
#[derive(Clone, Debug)]
pub struct UserRow {
    /// Id.
    pub id: UserId,
    /// The merchant the user belongs to.
    pub merchant_id: MerchantId,
    /// Normalised e-mail.
    pub email: String,
    /// Display name (may be empty).
    pub name: String,
    /// argon2id PHC string; `None` until an invited user sets one.
    pub password_hash: Option<String>,
    /// Role.
    pub role: Role,
    /// Membership status.
    pub status: UserStatus,
    /// When the address was confirmed.
    pub email_confirmed_at: Option<Timestamp>,
    /// Preferred language (`en`, `ru`).
    pub locale: Lang,
    /// Sealed TOTP secret once 2FA is on.
    pub totp_secret: Option<String>,
    /// Sealed TOTP secret while 2FA is being set up.
    pub totp_pending: Option<String>,
    /// When 2FA was turned on.
    pub totp_enabled_at: Option<Timestamp>,
    /// Last TOTP time step accepted (replay guard).
    pub totp_last_step: Option<i64>,
    /// Created.
    pub created_at: Timestamp,
}

const USER_COLUMNS: &str = "user_id, merchant_id, email, name, password_hash, role, status, email_confirmed_at, \
     locale, totp_secret, totp_pending, totp_enabled_at, totp_last_step, created_at";

type UserTuple = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    i64,
);

fn user_row(t: UserTuple) -> Result<UserRow, StoreError> {
    let role = Role::parse(&t.5).ok_or_else(|| StoreError::Corrupt {
        column: "app_user.role",
        reason: t.5.clone(),
    })?;
    let status = UserStatus::parse(&t.6).ok_or_else(|| StoreError::Corrupt {
        column: "app_user.status",
        reason: t.6.clone(),
    })?;
    let locale = Lang::parse(&t.8).ok_or_else(|| StoreError::Corrupt {
        column: "app_user.locale",
        reason: t.8.clone(),
    })?;
    Ok(UserRow {
        id: UserId::new(t.0),
        merchant_id: MerchantId::new(t.1),
        email: t.2,
        name: t.3,
        password_hash: t.4,
        role,
        status,
        email_confirmed_at: t.7.map(Timestamp::from_micros),
        locale,
        totp_secret: t.9,
        totp_pending: t.10,
        totp_enabled_at: t.11.map(Timestamp::from_micros),
        totp_last_step: t.12,
        created_at: Timestamp::from_micros(t.13),
    })
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser<'a> {
    /// Merchant.
    pub merchant_id: MerchantId,
    /// E-mail.
    pub email: &'a Email,
    /// Display name.
    pub name: &'a str,
    /// Password hash, if the password is known now.
    pub password_hash: Option<&'a str>,
    /// Role.
    pub role: Role,
    /// Initial status.
    pub status: UserStatus,
    /// Set when the address is already confirmed (operator-created, invite accepted).
    pub email_confirmed_at: Option<Timestamp>,
    /// Language.
    pub locale: Lang,
    /// Who invited them.
    pub invited_by: Option<UserId>,
}

/// Inserts a user. A taken e-mail is a unique violation (`StoreError::is_unique_violation`).
pub async fn insert_user(
    conn: &mut impl AsConn,
    u: &NewUser<'_>,
    now: Timestamp,
) -> Result<UserId, StoreError> {
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into app_user (merchant_id, email, name, password_hash, role, status, email_confirmed_at, locale, \
         invited_by, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) returning user_id"
    )
    .bind(u.merchant_id.get())
    .bind(u.email.as_str())
    .bind(u.name)
    .bind(u.password_hash)
    .bind(u.role.as_str())
    .bind(u.status.as_str())
    .bind(u.email_confirmed_at.map(Timestamp::as_micros))
    .bind(u.locale.code())
    .bind(u.invited_by.map(UserId::get))
    .bind(now.as_micros())
    .fetch_one(c)
    .await
    })?;
    Ok(UserId::new(id))
}

/// The user with this e-mail, if any.
pub async fn user_by_email(
    conn: &mut impl AsConn,
    email: &Email,
) -> Result<Option<UserRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS} from app_user where email = $1"
    ));
    let row: Option<UserTuple> = sql!(conn, |c| sqlx::query_as(sql)
        .bind(email.as_str())
        .fetch_optional(c)
        .await)?;
    row.map(user_row).transpose()
}

/// The user with this id.
pub async fn user_by_id(conn: &mut impl AsConn, id: UserId) -> Result<UserRow, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS} from app_user where user_id = $1"
    ));
    let row: Option<UserTuple> = sql!(conn, |c| sqlx::query_as(sql)
        .bind(id.get())
        .fetch_optional(c)
        .await)?;
    user_row(row.ok_or(StoreError::NotFound)?)
}

/// The user with this id if it belongs to `merchant`; another merchant's user is
/// [`StoreError::NotFound`], exactly like a missing one.
pub async fn user_in_merchant(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    id: UserId,
) -> Result<UserRow, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS} from app_user where user_id = $1 and merchant_id = $2"
    ));
    let row: Option<UserTuple> = sql!(conn, |c| sqlx::query_as(sql)
        .bind(id.get())
        .bind(merchant.get())
        .fetch_optional(c)
        .await)?;
    user_row(row.ok_or(StoreError::NotFound)?)
}

/// Every user of a merchant, owner first, then by e-mail.
pub async fn users_of_merchant(
    conn: &mut impl AsConn,
    merchant: MerchantId,
) -> Result<Vec<UserRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {USER_COLUMNS} from app_user where merchant_id = $1 \
         order by case role when 'owner' then 0 else 1 end, email"
    ));
    let rows: Vec<UserTuple> = sql!(conn, |c| sqlx::query_as(sql)
        .bind(merchant.get())
        .fetch_all(c)
        .await)?;
    rows.into_iter().map(user_row).collect()
}

async fn update_user(
    conn: &mut impl AsConn,
    id: UserId,
    set: &'static str,
    value: Option<String>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "update app_user set {set} = $1, updated_at = $2 where user_id = $3"
    ));
    let n = exec!(
        conn,
        sqlx::query(sql)
            .bind(value)
            .bind(now.as_micros())
            .bind(id.get())
    )?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// Sets the password hash.
pub async fn set_password_hash(
    conn: &mut impl AsConn,
    id: UserId,
    hash: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    update_user(conn, id, "password_hash", Some(hash.to_owned()), now).await
}

/// Sets the display name.
pub async fn set_name(
    conn: &mut impl AsConn,
    id: UserId,
    name: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    update_user(conn, id, "name", Some(name.to_owned()), now).await
}

/// Sets the preferred language.
pub async fn set_locale(
    conn: &mut impl AsConn,
    id: UserId,
    locale: Lang,
    now: Timestamp,
) -> Result<(), StoreError> {
    update_user(conn, id, "locale", Some(locale.code().to_owned()), now).await
}

/// Changes the e-mail (already confirmed at the new address). A taken e-mail is a unique
/// violation.
pub async fn set_email(
    conn: &mut impl AsConn,
    id: UserId,
    email: &Email,
    now: Timestamp,
) -> Result<(), StoreError> {
    update_user(conn, id, "email", Some(email.as_str().to_owned()), now).await
}

/// Sets the role.
pub async fn set_role(
    conn: &mut impl AsConn,
    id: UserId,
    role: Role,
    now: Timestamp,
) -> Result<(), StoreError> {
    update_user(conn, id, "role", Some(role.as_str().to_owned()), now).await
}

/// Sets the membership status.
pub async fn set_status(
    conn: &mut impl AsConn,
    id: UserId,
    status: UserStatus,
    now: Timestamp,
) -> Result<(), StoreError> {
    update_user(conn, id, "status", Some(status.as_str().to_owned()), now).await
}

/// Marks the e-mail address confirmed (once; later calls keep the first time).
pub async fn confirm_email(
    conn: &mut impl AsConn,
    id: UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update app_user set email_confirmed_at = coalesce(email_confirmed_at, $1), updated_at = $1 where user_id = $2"
        )
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    Ok(())
}

/// Stores (or clears) the sealed secret of a 2FA set-up in progress.
pub async fn set_totp_pending(
    conn: &mut impl AsConn,
    id: UserId,
    sealed: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    update_user(conn, id, "totp_pending", sealed.map(str::to_owned), now).await
}

/// Turns 2FA on with `sealed` as the secret; `step` is the time step of the confirming code,
/// which may not be used again.
pub async fn enable_totp(
    conn: &mut impl AsConn,
    id: UserId,
    sealed: &str,
    step: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update app_user set totp_secret = $1, totp_pending = null, totp_enabled_at = $2, totp_last_step = $3, \
             updated_at = $2 where user_id = $4"
        )
        .bind(sealed)
        .bind(now.as_micros())
        .bind(step)
        .bind(id.get())
    )?;
    Ok(())
}

/// Turns 2FA off and forgets the secret.
pub async fn disable_totp(
    conn: &mut impl AsConn,
    id: UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update app_user set totp_secret = null, totp_pending = null, totp_enabled_at = null, \
             totp_last_step = null, updated_at = $1 where user_id = $2"
        )
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    Ok(())
}

/// Records `step` as used if it is later than every step used before. Returns false when the
/// step (or a later one) was already used: the code is a replay. Atomic, so two concurrent
/// logins with the same code cannot both pass.
pub async fn use_totp_step(
    conn: &mut impl AsConn,
    id: UserId,
    step: i64,
) -> Result<bool, StoreError> {
    let n = exec!(
        conn,
        sqlx::query(
            "update app_user set totp_last_step = $1 where user_id = $2 and totp_secret is not null \
             and (totp_last_step is null or totp_last_step < $1)"
        )
        .bind(step)
        .bind(id.get())
    )?;
    Ok(n == 1)
}

/// The sections the owner opened or closed for `user`.
pub async fn section_overrides(
    conn: &mut impl AsConn,
    user: UserId,
) -> Result<Vec<(Section, bool)>, StoreError> {
    let rows: Vec<(String, bool)> = sql!(conn, |c| sqlx::query_as(
        "select section, allowed from user_section where user_id = $1 order by section"
    )
    .bind(user.get())
    .fetch_all(c)
    .await)?;
    // Names this version does not know are ignored rather than fatal.
    Ok(rows
        .into_iter()
        .filter_map(|(s, a)| Section::parse(&s).map(|s| (s, a)))
        .collect())
}

/// Opens (`Some(true)`), closes (`Some(false)`) or resets to the role default (`None`) one
/// section for `user`.
pub async fn set_section_override(
    conn: &mut impl AsConn,
    user: UserId,
    section: Section,
    allowed: Option<bool>,
    now: Timestamp,
) -> Result<(), StoreError> {
    match allowed {
        None => {
            exec!(
                conn,
                sqlx::query("delete from user_section where user_id = $1 and section = $2")
                    .bind(user.get())
                    .bind(section.as_str())
            )?;
        }
        Some(allowed) => {
            exec!(
                conn,
                sqlx::query(
                    "insert into user_section (user_id, section, allowed, created_at, updated_at) values ($1, $2, $3, $4, $4) \
                     on conflict (user_id, section) do update set allowed = excluded.allowed, updated_at = excluded.updated_at"
                )
                .bind(user.get())
                .bind(section.as_str())
                .bind(allowed)
                .bind(now.as_micros())
            )?;
        }
    }
    Ok(())
}

/// What `user` may do: their role and the owner's overrides of its sections.
pub async fn grants_of(
    conn: &mut impl AsConn,
    user: &UserRow,
) -> Result<kassa_core::account::Grants, StoreError> {
    Ok(kassa_core::account::Grants {
        role: user.role,
        overrides: section_overrides(conn, user.id).await?,
    })
}
