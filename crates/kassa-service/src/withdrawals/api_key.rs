//! The CryptoCloud withdrawal API key: one per merchant, separate from the projects' API keys,
//! made in the account's security settings (the caller confirms the person with 2FA), shown
//! once and stored as its SHA-256. A new key replaces the old one at once; the activity log
//! entry makes the `keys.regenerated` notification (by e-mail, always).

use kassa_core::MerchantId;
use kassa_store::StoreError;
use kassa_store::withdrawal_setup as setup;
use serde_json::json;

use crate::Ctx;
use crate::audit::{Actor, Target};
use crate::auth::token;

/// The prefix of every withdrawal key, so one is told apart from a project's API key.
pub const PREFIX: &str = "kwd_";

/// Makes a new key for `merchant` (the old one stops working) and returns it: the only time
/// it is seen.
pub async fn regenerate(
    st: &Ctx,
    merchant: MerchantId,
    actor: &Actor<'_>,
) -> Result<String, StoreError> {
    let key = format!("{PREFIX}{}", token::generate());
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    setup::set_key(&mut tx, merchant, &token::hash(&key), actor.user, now).await?;
    actor
        .record(
            &mut tx,
            merchant,
            "withdrawal.api_key_made",
            Target::WithdrawalKey,
            json!({}),
            now,
        )
        .await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(key)
}

/// The merchant whose withdrawal key `key` is, if it is one.
pub async fn merchant_of(st: &Ctx, key: &str) -> Result<Option<MerchantId>, StoreError> {
    let key = key.trim();
    let Some(rest) = key.strip_prefix(PREFIX) else {
        return Ok(None);
    };
    if !token::is_well_formed(rest) {
        return Ok(None);
    }
    setup::merchant_of_key(&mut st.db.conn().await?, &token::hash(key)).await
}
