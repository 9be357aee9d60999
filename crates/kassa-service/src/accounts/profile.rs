//! The display name and language.

use super::*;

/// Saves the display name and language.
pub async fn update_profile(
    st: &Ctx,
    user: &UserRow,
    name: &str,
    lang: Lang,
    client: &Client,
) -> Result<()> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    users::set_name(&mut tx, user.id, name, now).await?;
    users::set_locale(&mut tx, user.id, lang, now).await?;
    Actor::of(Some(user.id), client)
        .record(
            &mut tx,
            user.merchant_id,
            "account.profile_updated",
            Target::User(user.id),
            json!({"before": {"name": user.name, "language": user.locale.code()}, "after": {"name": name, "language": lang.code()}}),
            now,
        )
    .await?;
    tx.commit().await?;
    Ok(())
}
