//! What the operator does from the command line.

use super::*;

/// Operator: creates a confirmed merchant owner (for closed sign-up and scripted set-ups).
/// `Ok(None)`: the e-mail is taken.
pub async fn create_owner(
    st: &Ctx,
    email: &Email,
    password: &str,
    business: &str,
) -> Result<Option<UserId>> {
    let now = st.clock.now();
    let hash = st.passwords.hash(password).await?;
    let mut tx = st.db.begin().await?;
    if users::user_by_email(&mut tx, email).await?.is_some() {
        return Ok(None);
    }
    let business = if business.trim().is_empty() {
        email.as_str()
    } else {
        business.trim()
    };
    let merchant = users::create_merchant(&mut tx, business, now).await?;
    let user = users::insert_user(
        &mut tx,
        &NewUser {
            merchant_id: merchant,
            email,
            name: "",
            password_hash: Some(&hash),
            role: Role::Owner,
            status: UserStatus::Active,
            email_confirmed_at: Some(now),
            locale: Lang::En,
            invited_by: None,
        },
        now,
    )
    .await?;
    Actor::operator()
        .record(
            &mut tx,
            merchant,
            "account.created_by_operator",
            Target::User(user),
            json!({"business": business}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(Some(user))
}

/// Operator: turns off a user's 2FA (lost phone and codes) and ends their sessions.
/// False: no such user.
pub async fn operator_reset_2fa(st: &Ctx, email: &Email) -> Result<bool> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(user) = users::user_by_email(&mut tx, email).await? else {
        return Ok(false);
    };
    users::disable_totp(&mut tx, user.id, now).await?;
    tokens::delete_recovery_codes(&mut tx, user.id).await?;
    let ended = sessions::revoke_all(&mut tx, user.id, None, now).await?;
    Actor::operator()
        .record(
            &mut tx,
            user.merchant_id,
            "account.2fa_reset_by_operator",
            Target::User(user.id),
            json!({"sessions_ended": ended}),
            now,
        )
        .await?;
    security_notice(
        &mut tx,
        st,
        &user,
        "mail.2fa_disabled.subject",
        "mail.2fa_reset.body",
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
