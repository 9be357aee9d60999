//! The one payment path: every incoming transfer — simulated in test mode, found by a chain
//! watcher — is recorded here, and the invoice it pays is worked out again.

use kassa_core::currency::{self, Crypto, Network};
use kassa_core::invoice::{Side, Status};
use kassa_core::money::Amount;
use kassa_core::{InvoiceId, StaticWalletId, Timestamp};
use kassa_store::audit::{self, Activity};
use kassa_store::invoices::{
    self, LockedQuote, NewInvoice, NewTransfer, Owner, StateUpdate, TransferState,
};
use kassa_store::ledger::{self, Account, Kind};
use kassa_store::{StoreError, Tx};
use serde_json::json;

use crate::Ctx;

use crate::invoices::*;

/// A transfer to an address, as a watcher (or the simulator) reports it.
#[derive(Clone, Debug)]
pub struct TransferReport<'a> {
    /// Network.
    pub network: &'static Network,
    /// Transaction id.
    pub txid: &'a str,
    /// Output or log index.
    pub index: i64,
    /// Receiving address.
    pub address: &'a str,
    /// Amount in base units of `currency`.
    pub amount: Amount,
    /// The currency the transfer is in (native coin or allowlisted token).
    pub currency: &'static Crypto,
    /// Whether it reached the network's confirmation rule.
    pub confirmed: bool,
    /// Confirmations counted.
    pub confirmations: i64,
    /// Simulated transfer (test mode).
    pub test: bool,
}

/// What recording a transfer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The address is not one of ours: nothing recorded.
    UnknownAddress,
    /// Already recorded in this state (a repeated report).
    Duplicate,
    /// Recorded for this invoice.
    Invoice(InvoiceId),
}

/// Records a transfer: once per (network, txid, index), whatever reports it and however
/// often. A payment that is seen is "processing"; a confirmed one counts.
pub async fn record_transfer(st: &Ctx, t: &TransferReport<'_>) -> Result<Recorded, InvoiceError> {
    record_transfer_logged(st, t, None).await
}

/// [`record_transfer`], writing `logged` to the activity log with the change (a payment
/// simulated from the dashboard).
pub(crate) async fn record_transfer_logged(
    st: &Ctx,
    t: &TransferReport<'_>,
    logged: Option<&Logged<'_>>,
) -> Result<Recorded, InvoiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some((owner, test)) = invoices::owner_of(&mut tx, t.network.code, t.address).await? else {
        return Ok(Recorded::UnknownAddress);
    };
    if test != t.test {
        // A simulated transfer never counts for a live address, nor a real one for a test address.
        return Ok(Recorded::UnknownAddress);
    }
    let existing = invoices::transfer(&mut tx, t.network.code, t.txid, t.index).await?;
    if let Some(e) = &existing
        && (e.state == TransferState::Confirmed || (e.state == TransferState::Seen && !t.confirmed))
    {
        return Ok(Recorded::Duplicate);
    }
    let wallet = match owner {
        Owner::StaticWallet(w) => Some(w),
        Owner::Invoice(_) => None,
    };
    let (invoice_id, transfer_id, was_seen, seen_at) = match (&existing, owner) {
        (Some(e), _) => {
            let id = e.invoice_id.ok_or_else(|| StoreError::Corrupt {
                column: "chain_transfer.invoice_id",
                reason: "missing".into(),
            })?;
            (id, e.id, e.state == TransferState::Seen, e.seen_at)
        }
        (None, owner) => {
            let invoice_id = match owner {
                Owner::Invoice(id) => id,
                Owner::StaticWallet(w) => static_wallet_invoice(&mut tx, st, w, t, now).await?,
            };
            let new = NewTransfer {
                network: t.network.code,
                txid: t.txid,
                output_index: t.index,
                address: t.address,
                amount: t.amount,
                test: t.test,
                invoice_id,
                static_wallet_id: wallet,
            };
            // Recorded concurrently by another report: that one wins, this one changes nothing.
            let Some(id) = invoices::insert_transfer(&mut tx, &new, now).await? else {
                return Ok(Recorded::Duplicate);
            };
            (invoice_id, id, false, now)
        }
    };
    let row = invoices::lock(&mut tx, invoice_id).await?;
    let amount_text = t.amount.to_decimal_string(t.currency.decimals);
    if row.currency.as_deref() != Some(t.currency.code) {
        // Another coin or token than the invoice asks for (sent to an address of a currency
        // the payer switched away from, or a token the address was not given out for). It is
        // recorded and shown, never dropped, but it cannot count towards a quote in another
        // currency: the merchant settles it by hand.
        if t.confirmed {
            invoices::set_transfer_state(
                &mut tx,
                transfer_id,
                TransferState::Confirmed,
                t.confirmations,
                None,
                now,
            )
            .await?;
        }
        let kind = if t.confirmed {
            "other_currency_confirmed"
        } else {
            "other_currency_seen"
        };
        invoices::add_event(
            &mut tx,
            row.id,
            kind,
            &json!({"txid": t.txid, "index": t.index, "amount": amount_text, "currency": t.currency.code, "address": t.address}),
            now,
        )
        .await?;
        tx.commit().await?;
        return Ok(Recorded::Invoice(invoice_id));
    }
    let mut state = state_of(&row);
    let (change, received_now, event_kind) = if t.confirmed {
        invoices::set_transfer_state(
            &mut tx,
            transfer_id,
            TransferState::Confirmed,
            t.confirmations,
            None,
            now,
        )
        .await?;
        (
            state.payment_confirmed(t.amount, seen_at, was_seen)?,
            t.amount,
            "payment_confirmed",
        )
    } else {
        if existing
            .as_ref()
            .is_some_and(|e| e.state == TransferState::Orphaned)
        {
            // Seen again after its block left the chain: it is back in the mempool.
            invoices::set_transfer_state(
                &mut tx,
                transfer_id,
                TransferState::Seen,
                t.confirmations,
                None,
                now,
            )
            .await?;
        }
        (state.payment_seen(t.amount)?, Amount::ZERO, "payment_seen")
    };
    let details = json!({"txid": t.txid, "index": t.index, "amount": amount_text, "currency": t.currency.code, "late": state.paid_late});
    apply(
        &mut tx,
        st,
        &row,
        Transition {
            state: &state,
            change: &change,
            received_now,
            events: vec![event(event_kind, details)],
        },
        now,
    )
    .await?;
    if let Some(l) = logged {
        log_action(
            &mut tx,
            l.actor,
            row.merchant_id,
            &row.uuid,
            l.action,
            l.details.clone(),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    st.jobs.wake();
    Ok(Recorded::Invoice(invoice_id))
}

/// The invoice made for a static-wallet transfer: priced at what arrived, created when the
/// transfer is first reported, in the transaction that records it.
async fn static_wallet_invoice(
    tx: &mut Tx,
    st: &Ctx,
    wallet: StaticWalletId,
    t: &TransferReport<'_>,
    now: Timestamp,
) -> Result<InvoiceId, InvoiceError> {
    let w = invoices::static_wallet_by_id(tx, wallet).await?;
    let project = kassa_store::projects::by_id(tx, w.project_id).await?;
    let crypto = currency::crypto(&w.currency)
        .ok_or_else(|| InvoiceError::CurrencyUnavailable(w.currency.clone()))?;
    let rate = st
        .pricing
        .usd(crypto.symbol, w.test, now)
        .map_err(|_| InvoiceError::NoRate(crypto.symbol.into()))?;
    let usd = crate::objects::usd_of(t.amount, crypto, rate.usd).to_string();
    let price = t.amount.to_decimal_string(crypto.decimals);
    // A top-up is whatever arrives: the merchant carries the fees.
    let service_side = Side::parse(&project.settings.service_fee_side).unwrap_or(Side::Merchant);
    let transfer_side = Side::parse(&project.settings.transfer_fee_side).unwrap_or(Side::Merchant);
    let merchant_side = |s: Side| if s == Side::Client { Side::Merchant } else { s };
    let basis = QuoteBasis {
        price_currency: crypto.code,
        price_amount: &price,
        test: w.test,
        service_side: merchant_side(service_side),
        transfer_side: merchant_side(transfer_side),
        tolerance_kind: "none",
        tolerance_value: "0",
    };
    let (quote, rate_usd, source) = quote_for(st, &basis, crypto, now)?;
    let rate_usd = rate_usd.to_string();
    let uuid = new_uuid();
    let id = invoices::insert(
        tx,
        &NewInvoice {
            uuid: &uuid,
            project_id: project.id,
            merchant_id: project.merchant_id,
            test: w.test,
            price_currency: crypto.code,
            price_amount: &price,
            amount_usd: &usd,
            allowed_currencies: crypto.code,
            service_fee_side: basis.service_side,
            transfer_fee_side: basis.transfer_side,
            tolerance_kind: basis.tolerance_kind,
            tolerance_value: basis.tolerance_value,
            order_id: &w.identify,
            email: "",
            description: "",
            locale: "",
            static_wallet_id: Some(wallet),
            expires_at: now.saturating_add(LIFETIME_RANGE.1),
            locked: Some(LockedQuote {
                currency: crypto.code,
                address: &w.address,
                quote,
                rate_usd: &rate_usd,
                rate_source: source,
            }),
        },
        now,
    )
    .await?;
    invoices::add_event(
        tx,
        id,
        "created",
        &json!({"static_wallet": w.uuid, "identify": w.identify}),
        now,
    )
    .await?;
    Ok(id)
}

/// A recorded transfer no longer stands: its block left the chain (a reorganisation), or,
/// never confirmed, it was replaced or evicted from the mempool. In one transaction: the
/// transfer is marked orphaned, the invoice gives the payment back (a seen one stops
/// processing; a confirmed one stops counting, with the settlement and ledger postings undone
/// in the opposite direction), the timeline says so, and the activity log tells the merchant.
/// Idempotent: a transfer already orphaned, or never recorded, changes nothing (`None`).
pub async fn transfer_gone(
    st: &Ctx,
    network: &Network,
    txid: &str,
    index: i64,
) -> Result<Option<InvoiceId>, InvoiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some(t) = invoices::transfer(&mut tx, network.code, txid, index).await? else {
        return Ok(None);
    };
    let Some(invoice_id) = t.invoice_id.filter(|_| t.state != TransferState::Orphaned) else {
        return Ok(None);
    };
    invoices::set_transfer_state(&mut tx, t.id, TransferState::Orphaned, 0, None, now).await?;
    let row = invoices::lock(&mut tx, invoice_id).await?;
    let crypto = row.currency.as_deref().and_then(currency::crypto);
    let amount_text = crypto.map_or_else(
        || t.amount.base().to_string(),
        |c| t.amount.to_decimal_string(c.decimals),
    );
    let counted = crypto.is_some_and(|c| c.network.code == network.code);
    let details =
        json!({"txid": txid, "index": index, "amount": amount_text, "currency": row.currency});
    if !counted {
        // Coins of another currency were never counted; they only leave the timeline.
        invoices::add_event(&mut tx, row.id, "other_currency_gone", &details, now).await?;
        tx.commit().await?;
        return Ok(Some(invoice_id));
    }
    let mut state = state_of(&row);
    let mut events: Vec<(&'static str, serde_json::Value)> = Vec::new();
    let finished_at;
    if t.state == TransferState::Seen {
        state.payment_dropped(t.amount);
        events.push(("payment_dropped", details.clone()));
        finished_at = row.finished_at;
    } else {
        let r = state.payment_reversed(t.amount, now);
        // Still confirmed or cancelled: it stays finished; otherwise it waits for payment again.
        finished_at = if state.confirmed.is_some() || state.status == Status::Canceled {
            row.finished_at.or(Some(now))
        } else {
            None
        };
        if !row.test {
            let code = row.currency.as_deref().unwrap_or_default();
            let merchant = Some(row.merchant_id);
            let journal = format!("invoice {} reversal", row.uuid);
            let acct = |kind, merchant| Account {
                kind,
                merchant,
                currency: code,
            };
            // Undo the settlement (credit and fees back to pending), then the payment. The
            // merchant may have withdrawn the credit meanwhile: only what is still available
            // comes back, and the shortfall stays in custody (which the chain no longer backs)
            // with a loud event and activity entry for the operator to settle with the
            // merchant. The watcher never stalls on it.
            let balances = ledger::balances(&mut tx, row.merchant_id).await?;
            let available = balances
                .get(&(Kind::MerchantAvailable, code.to_owned()))
                .copied()
                .unwrap_or(Amount::ZERO);
            let from_available = r.unsettle.credit.min(available);
            let shortfall = r.unsettle.credit.saturating_sub(from_available);
            for (from, amount) in [
                (acct(Kind::MerchantAvailable, merchant), from_available),
                (acct(Kind::ServiceFees, None), r.unsettle.service_fee),
                (acct(Kind::NetworkFees, None), r.unsettle.transfer_fee),
            ] {
                ledger::post(
                    &mut tx,
                    &journal,
                    Some(row.id),
                    &from,
                    &acct(Kind::MerchantPending, merchant),
                    amount,
                    now,
                )
                .await?;
            }
            ledger::post(
                &mut tx,
                &journal,
                Some(row.id),
                &acct(Kind::MerchantPending, merchant),
                &acct(Kind::Custody, None),
                r.amount.saturating_sub(shortfall),
                now,
            )
            .await?;
            if !shortfall.is_zero() {
                let short_text = crypto.map_or_else(
                    || shortfall.base().to_string(),
                    |c| shortfall.to_decimal_string(c.decimals),
                );
                tracing::error!(invoice = %row.uuid, shortfall = %short_text, currency = code, "a reversed payment was already withdrawn: the merchant owes the shortfall");
                events.push((
                    "reversal_shortfall",
                    json!({"txid": txid, "amount": short_text, "currency": code}),
                ));
                audit::record_activity(
                    &mut tx,
                    &Activity {
                        merchant_id: row.merchant_id,
                        actor: None,
                        action: "invoice.reversal_shortfall",
                        target_type: "invoice",
                        target_id: &row.uuid,
                        details: &json!({"invoice": format!("INV-{}", row.uuid), "txid": txid, "amount": short_text, "currency": code}),
                        ip: "",
                    },
                    now,
                )
                .await?;
            }
        }
        events.push(("payment_reversed", details.clone()));
        if r.from != r.to {
            events.push((
                "status_changed",
                json!({"from": r.from.as_str(), "to": r.to.as_str()}),
            ));
        }
        audit::record_activity(
            &mut tx,
            &Activity {
                merchant_id: row.merchant_id,
                actor: None,
                action: "invoice.payment_reversed",
                target_type: "invoice",
                target_id: &row.uuid,
                details: &json!({"invoice": format!("INV-{}", row.uuid), "txid": txid, "amount": amount_text, "currency": row.currency, "status": r.to.as_str()}),
                ip: "",
            },
            now,
        )
        .await?;
    }
    invoices::save_state(
        &mut tx,
        row.id,
        &StateUpdate {
            status: state.status,
            confirmed: state.confirmed,
            paid_late: state.paid_late,
            received: state.received,
            processing: state.processing,
            settled: state.settled(),
            finished_at,
        },
        now,
    )
    .await?;
    invoices::add_events(&mut tx, row.id, &events, now).await?;
    tx.commit().await?;
    Ok(Some(invoice_id))
}
