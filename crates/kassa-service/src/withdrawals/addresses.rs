//! Saved withdrawal addresses: a label, a network, an address checked for that network. A new
//! one can be used only after the operator's cooling-off (`withdrawals.new_address_delay_hours`),
//! and the owner is e-mailed when one is added — what exchanges do against a stolen session.
//! The caller confirms the person (password and a fresh 2FA code) before [`save`].

use kassa_core::currency::Network;
use kassa_core::{MerchantId, WithdrawalAddressId};
use kassa_store::StoreError;
use kassa_store::accounts as users;
use kassa_store::withdrawal_setup::{self as setup, AddressRow, NewAddress};
use serde_json::json;

use super::requests::{AskError, check_destination};
use crate::Ctx;
use crate::audit::{Actor, Target};
use crate::i18n::Tr;
use crate::mail::{self, Letter};

/// The longest label kept.
pub const MAX_LABEL: usize = 60;

/// The most addresses one merchant may save.
pub const MAX_ADDRESSES: usize = 200;

/// The merchant's saved address `address` on `network`, if they saved it.
pub async fn find(
    conn: &mut impl kassa_store::AsConn,
    merchant: MerchantId,
    network: &Network,
    address: &str,
) -> Result<Option<AddressRow>, StoreError> {
    setup::find_address(conn, merchant, network.code, address.trim()).await
}

/// Why an address was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The address is not one of the network (or the network is not live).
    #[error(transparent)]
    Address(#[from] AskError),
    /// No label, or too long.
    #[error("give the address a name of 1 to {MAX_LABEL} characters")]
    Label,
    /// Saved already.
    #[error("this address is saved already")]
    Duplicate,
    /// Too many.
    #[error("at most {MAX_ADDRESSES} addresses can be saved")]
    TooMany,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Saves `address` for `network` under `label`, usable after the cooling-off; e-mails the
/// owner and writes the activity log, in one transaction.
pub async fn save(
    st: &Ctx,
    merchant: MerchantId,
    network: &'static Network,
    address: &str,
    label: &str,
    actor: &Actor<'_>,
) -> Result<AddressRow, SaveError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL || label.chars().any(char::is_control)
    {
        return Err(SaveError::Label);
    }
    let chain = st
        .chains
        .get(network)
        .cloned()
        .ok_or(AskError::NotLive(network.code))?;
    let address = check_destination(&chain, address)?;
    let now = st.clock.now();
    let usable_at = now.saturating_add(st.config.withdrawals.new_address_delay());
    let mut tx = st.db.begin().await?;
    if setup::addresses(&mut tx, merchant).await?.len() >= MAX_ADDRESSES {
        return Err(SaveError::TooMany);
    }
    let Some(id) = setup::insert_address(
        &mut tx,
        &NewAddress {
            merchant,
            network: network.code,
            address: &address,
            label,
            created_by: actor.user,
            usable_at,
        },
        now,
    )
    .await?
    else {
        return Err(SaveError::Duplicate);
    };
    actor
        .record(
            &mut tx,
            merchant,
            "withdrawal.address_added",
            Target::WithdrawalAddress(id.get()),
            json!({"network": network.code, "address": address, "label": label, "usable_at": usable_at.iso()}),
            now,
        )
        .await?;
    let who = who(&mut tx, actor).await?;
    tell_owners(&mut tx, st, merchant, now, |tr| Letter {
        subject: tr.t("mail.address_added.subject").to_owned(),
        paragraphs: vec![
            tr.f(
                "mail.address_added.body",
                &[
                    ("who", &who),
                    ("network", &network.fullname),
                    ("address", &address),
                    ("label", &label),
                    ("until", &tr.datetime(usable_at)),
                ],
            ),
            tr.t("mail.address_added.warn").to_owned(),
        ],
        action: Some((
            tr.t("mail.address_added.action").to_owned(),
            format!("{}/balance/addresses", st.public_url),
        )),
        footer: tr.t("mail.footer").to_owned(),
    })
    .await?;
    tx.commit().await?;
    st.jobs.wake();
    setup::address_by_id(&mut st.db.conn().await?, merchant, id)
        .await?
        .ok_or(StoreError::NotFound.into())
}

/// How letters name whoever acted: their e-mail, or "The operator".
async fn who(conn: &mut impl kassa_store::AsConn, actor: &Actor<'_>) -> Result<String, StoreError> {
    Ok(match actor.user {
        Some(u) => users::user_by_id(conn, u).await?.email,
        None => "The operator".to_owned(),
    })
}

/// E-mails every owner of `merchant` the letter `write` makes in their language, as jobs in
/// the caller's transaction.
async fn tell_owners(
    conn: &mut impl kassa_store::AsConn,
    st: &Ctx,
    merchant: MerchantId,
    now: kassa_core::Timestamp,
    write: impl Fn(Tr) -> Letter,
) -> Result<(), StoreError> {
    for owner in users::users_of_merchant(conn, merchant)
        .await?
        .into_iter()
        .filter(|u| u.role == kassa_core::account::Role::Owner)
    {
        let tr = Tr::new(owner.locale);
        mail::enqueue(conn, &st.keyring, &write(tr).render(&owner.email, tr), now).await?;
    }
    Ok(())
}

/// Deletes a saved address (not one a rule pays to). False when there was none.
pub async fn delete(
    st: &Ctx,
    merchant: MerchantId,
    id: WithdrawalAddressId,
    actor: &Actor<'_>,
) -> Result<bool, StoreError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(row) = setup::address_by_id(&mut tx, merchant, id).await? else {
        return Ok(false);
    };
    if !setup::delete_address(&mut tx, merchant, id).await? {
        return Ok(false);
    }
    actor
        .record(
            &mut tx,
            merchant,
            "withdrawal.address_deleted",
            Target::WithdrawalAddress(id.get()),
            json!({"network": row.network, "address": row.address, "label": row.label}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(true)
}
