//! The one payment path. Every incoming transfer — simulated in test mode, found by a chain
//! watcher — is recorded here once per (network, txid, index), with where it stands in the
//! best chain now ([`Observation`]); and every time a transfer's standing changes, the invoice
//! it pays is **re-evaluated**: its state is worked out again from all its transfers as they
//! stand ([`InvoiceState::evaluate`]), and the ledger postings that state implies are compared
//! with what is posted, and only the difference is posted ([`reconcile`]). Nothing is replayed:
//! a credit taken back and given again nets to one credit, and the books after any sequence of
//! events equal the books the final chain alone implies.
//!
//! A credit taken back after the merchant withdrew it becomes a receivable (what they owe);
//! their next credits settle it first.

use crate::audit::{Actor, Target};
use kassa_core::currency::{self, Crypto, Network};
use kassa_core::invoice::{
    Change, InvoiceState, Payment, Price, Side, Standing, Status, Terms, Tolerance,
};
use kassa_core::money::Amount;
use kassa_core::{InvoiceId, MerchantId, StaticWalletId, Timestamp};
use kassa_store::invoices::{
    self, InvoiceRow, LockedQuote, NewInvoice, NewTransfer, Owner, StateUpdate, TransferRow,
    TransferState,
};
use kassa_store::ledger::{self, Account, Kind, Postings};
use kassa_store::{StoreError, Tx};
use serde_json::{Value, json};

use crate::Ctx;
use crate::invoices::*;

/// A transfer as a simulator or a test reports it: seen, or confirmed. Reports only move a
/// transfer forward (a confirmed one stays confirmed); only a watcher, reading the best chain,
/// moves one back ([`observe`]).
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

impl<'a> TransferReport<'a> {
    fn observation(&self) -> Observation<'a> {
        Observation {
            network: self.network,
            txid: self.txid,
            index: self.index,
            address: self.address,
            amount: self.amount,
            currency: self.currency,
            test: self.test,
            state: if self.confirmed {
                TransferState::Confirmed
            } else {
                TransferState::Seen
            },
            confirmations: self.confirmations,
            block: None,
        }
    }
}

/// A transfer and where it stands in the node's best chain, as a watcher read it this round.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
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
    /// The currency it is in.
    pub currency: &'static Crypto,
    /// Simulated (test mode).
    pub test: bool,
    /// Seen (waiting, or short of the confirmations), confirmed (counts), or orphaned (in
    /// neither the best chain nor the mempool).
    pub state: TransferState,
    /// Confirmations in the best chain (0 while waiting).
    pub confirmations: i64,
    /// The best-chain block holding it: height and hash.
    pub block: Option<(i64, &'a str)>,
}

/// What recording a transfer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The address is not one of ours: nothing recorded.
    UnknownAddress,
    /// Already recorded where it stands (a repeated report).
    Duplicate,
    /// Recorded for this invoice.
    Invoice(InvoiceId),
}

/// Records a reported transfer: once per (network, txid, index), whatever reports it and
/// however often. A payment that is seen is "processing"; a confirmed one counts.
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
    observe_with(st, &t.observation(), logged, true).await
}

/// Records where a transfer stands now (see the module docs): the transfer row once, its
/// state, confirmations and block exactly as observed, and the invoice re-evaluated when
/// anything changed. Idempotent: observing the same standing again changes nothing.
pub async fn observe(st: &Ctx, o: &Observation<'_>) -> Result<Recorded, InvoiceError> {
    observe_with(st, o, None, false).await
}

/// A recorded transfer no longer stands (replaced, evicted): [`observe`] it orphaned.
pub async fn transfer_gone(
    st: &Ctx,
    network: &'static Network,
    txid: &str,
    index: i64,
) -> Result<Option<InvoiceId>, InvoiceError> {
    let t = invoices::transfer(&mut st.db.conn().await?, network.code, txid, index).await?;
    let Some(t) = t else { return Ok(None) };
    let Some(currency) = transfer_currency(&t, None) else {
        return Ok(None);
    };
    let o = Observation {
        network,
        txid,
        index,
        address: &t.address,
        amount: t.amount,
        currency,
        test: t.test,
        state: TransferState::Orphaned,
        confirmations: 0,
        block: None,
    };
    Ok(match observe(st, &o).await? {
        Recorded::Invoice(id) => Some(id),
        _ => None,
    })
}

/// The currency a stored transfer is in (earlier rows: the invoice's, else the network's coin).
fn transfer_currency(t: &TransferRow, row: Option<&InvoiceRow>) -> Option<&'static Crypto> {
    t.currency
        .as_deref()
        .or_else(|| row.and_then(|r| r.currency.as_deref()))
        .and_then(currency::crypto)
        .or_else(|| {
            currency::cryptos_in_order()
                .into_iter()
                .find(|c| c.native && c.network.code == t.network)
        })
}

async fn observe_with(
    st: &Ctx,
    o: &Observation<'_>,
    logged: Option<&Logged<'_>>,
    forward_only: bool,
) -> Result<Recorded, InvoiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some((owner, test)) = invoices::owner_of(&mut tx, o.network.code, o.address).await? else {
        return Ok(Recorded::UnknownAddress);
    };
    if test != o.test {
        // A simulated transfer never counts for a live address, nor a real one for a test address.
        return Ok(Recorded::UnknownAddress);
    }
    let existing = invoices::transfer(&mut tx, o.network.code, o.txid, o.index).await?;
    let before = existing.as_ref().map(|e| e.state);
    let invoice_id = match &existing {
        Some(e) => {
            let unchanged = e.state == o.state
                && e.confirmations == o.confirmations
                && e.block_height == o.block.map(|b| b.0)
                && e.block_hash.as_deref() == o.block.map(|b| b.1);
            let backwards = e.state == TransferState::Confirmed
                || (e.state == TransferState::Seen && o.state != TransferState::Confirmed);
            if unchanged || (forward_only && backwards) {
                return Ok(Recorded::Duplicate);
            }
            let id = e.invoice_id.ok_or_else(|| StoreError::Corrupt {
                column: "chain_transfer.invoice_id",
                reason: "missing".into(),
            })?;
            invoices::set_position(&mut tx, e.id, o.state, o.confirmations, o.block, now).await?;
            id
        }
        None => {
            if o.state == TransferState::Orphaned {
                // Never recorded, and gone: nothing to say.
                return Ok(Recorded::Duplicate);
            }
            let invoice_id = match owner {
                Owner::Invoice(id) => id,
                Owner::StaticWallet(w) => static_wallet_invoice(&mut tx, st, w, o, now).await?,
            };
            let new = NewTransfer {
                network: o.network.code,
                txid: o.txid,
                output_index: o.index,
                address: o.address,
                amount: o.amount,
                currency: o.currency.code,
                test: o.test,
                state: o.state,
                confirmations: o.confirmations,
                block: o.block,
                invoice_id,
                static_wallet_id: match owner {
                    Owner::StaticWallet(w) => Some(w),
                    Owner::Invoice(_) => None,
                },
            };
            // Recorded concurrently by another report: that one wins, this one changes nothing.
            if invoices::insert_transfer(&mut tx, &new, now)
                .await?
                .is_none()
            {
                return Ok(Recorded::Duplicate);
            }
            invoice_id
        }
    };
    if before == Some(o.state) {
        // Only the confirmations or the block moved (the payment page shows n/N): no
        // evaluation can change.
        tx.commit().await?;
        return Ok(Recorded::Invoice(invoice_id));
    }
    let row = invoices::lock(&mut tx, invoice_id).await?;
    let amount_text = o.amount.to_decimal_string(o.currency.decimals);
    let details = json!({"txid": o.txid, "index": o.index, "amount": amount_text, "currency": o.currency.code});
    if row.currency.as_deref() != Some(o.currency.code) {
        // Another coin or token than the invoice asks for (sent to an address of a currency
        // the payer switched away from, or a token the address was not given out for). It is
        // recorded and shown, never dropped, but it cannot count towards a quote in another
        // currency: the merchant settles it by hand.
        let kind = match o.state {
            TransferState::Seen => "other_currency_seen",
            TransferState::Confirmed => "other_currency_confirmed",
            TransferState::Orphaned => "other_currency_gone",
        };
        let mut d = details;
        d["address"] = json!(o.address);
        invoices::add_event(&mut tx, row.id, kind, &d, now).await?;
        tx.commit().await?;
        return Ok(Recorded::Invoice(invoice_id));
    }
    let event = match (before, o.state) {
        (Some(TransferState::Confirmed), _) => Some("payment_reversed"),
        (Some(TransferState::Seen), TransferState::Orphaned) => Some("payment_dropped"),
        (_, TransferState::Confirmed) => Some("payment_confirmed"),
        (_, TransferState::Seen) => Some("payment_seen"),
        (None | Some(TransferState::Orphaned), TransferState::Orphaned) => None,
    };
    let reversed = before == Some(TransferState::Confirmed);
    let counted_now = o.state == TransferState::Confirmed;
    // A withdrawal spending this payment is charged only while the payment counts: released
    // before the payment leaves custody, charged again after it is back.
    if !counted_now && !o.test {
        crate::withdrawals::rebalance_spending(
            &mut tx,
            &st.metrics,
            o.network.code,
            o.txid,
            o.index,
            now,
        )
        .await?;
    }
    let change = reevaluate(&mut tx, st, &row, now, |c, state| {
        let mut d = details.clone();
        if let Some(m) = d.as_object_mut() {
            m.insert("late".into(), json!(state.paid_late));
            if reversed {
                m.insert(
                    "now".into(),
                    json!(match o.state {
                        TransferState::Seen => "waiting",
                        _ => "gone",
                    }),
                );
            }
        }
        let _ = c;
        event.map(|e| (e, d)).into_iter().collect()
    })
    .await?;
    if counted_now && !o.test {
        crate::withdrawals::rebalance_spending(
            &mut tx,
            &st.metrics,
            o.network.code,
            o.txid,
            o.index,
            now,
        )
        .await?;
    }
    if reversed && !row.test {
        Actor::kassa().record(&mut tx, row.merchant_id, "invoice.payment_reversed", Target::Invoice(&row.uuid), json!({"invoice": format!("INV-{}", row.uuid), "txid": o.txid, "amount": amount_text, "currency": row.currency, "status": change.to.as_str()}), now)
        .await?;
    }
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

/// The rules' view of an invoice's payments: its transfers in its currency, with where they
/// stand.
fn payments_of(row: &InvoiceRow, transfers: &[TransferRow]) -> Vec<Payment> {
    transfers
        .iter()
        .filter(|t| t.currency.is_none() || t.currency.as_deref() == row.currency.as_deref())
        .map(|t| Payment {
            amount: t.amount,
            standing: match t.state {
                TransferState::Confirmed => Standing::Counted,
                TransferState::Seen => Standing::Pending,
                TransferState::Orphaned => Standing::Gone,
            },
            seen_at: t.seen_at,
        })
        .collect()
}

/// Works an invoice out again from its terms and its transfers as they stand now, and
/// persists it in `tx`: the state, the ledger postings it implies (live invoices; only the
/// difference with what is posted), timeline events (`events` gets the change and the new
/// state), and the postback when it becomes confirmed or a confirmed invoice's status changes.
pub(crate) async fn reevaluate(
    tx: &mut Tx,
    st: &Ctx,
    row: &InvoiceRow,
    now: Timestamp,
    events: impl FnOnce(&Change, &InvoiceState) -> Vec<(&'static str, Value)>,
) -> Result<Change, InvoiceError> {
    let transfers = invoices::transfers_of(tx, row.id).await?;
    let terms = Terms {
        quote: row.quote,
        expires_at: row.expires_at,
        canceled_at: row.canceled_at,
        accepted: row.accepted_at.is_some(),
    };
    let state = InvoiceState::evaluate(&terms, &payments_of(row, &transfers), now);
    let change = state_of(row).change_to(&state);
    let finished_at = if state.confirmed.is_some() || state.status == Status::Canceled {
        row.finished_at.or(Some(now))
    } else {
        None
    };
    invoices::save_state(
        tx,
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
    let mut timeline = events(&change, &state);
    if !row.test
        && let Some(code) = row.currency.as_deref()
    {
        let moved = reconcile(tx, row.id, &row.uuid, row.merchant_id, code, &state, now).await?;
        let crypto = currency::crypto(code);
        let text = |a: Amount| {
            crypto.map_or_else(|| a.base().to_string(), |c| a.to_decimal_string(c.decimals))
        };
        if !moved.owed.is_zero() {
            let owed = text(moved.owed);
            tracing::error!(invoice = %row.uuid, receivable = %owed, currency = code, "a credit taken back had been withdrawn: the merchant owes it");
            timeline.push((
                "reversal_shortfall",
                json!({"amount": owed, "currency": code}),
            ));
            Actor::kassa().record(tx, row.merchant_id, "invoice.reversal_shortfall", Target::Invoice(&row.uuid), json!({"invoice": format!("INV-{}", row.uuid), "amount": owed, "currency": code}), now)
            .await?;
        }
        if !moved.repaid.is_zero() {
            timeline.push((
                "receivable_settled",
                json!({"amount": text(moved.repaid), "currency": code}),
            ));
        }
    }
    if change.from != change.to {
        timeline.push((
            "status_changed",
            json!({"from": change.from.as_str(), "to": change.to.as_str()}),
        ));
    }
    if change.confirmed_now {
        timeline.push((
            "confirmed",
            json!({"by": state.confirmed.map(|c| c.as_str())}),
        ));
    }
    invoices::add_events(tx, row.id, &timeline, now).await?;
    if change.from != change.to {
        notify_status(tx, row, &state, now).await?;
    }
    let confirmed_status_changed = state.confirmed.is_some() && change.from != change.to;
    if change.confirmed_now || confirmed_status_changed {
        crate::postbacks::enqueue(tx, st, row, now).await?;
    }
    Ok(change)
}

/// Tells the merchant's people of an invoice's new status (paid, partly paid, overpaid, paid
/// late, expired after a partial payment), in the transaction of the change.
async fn notify_status(
    tx: &mut Tx,
    row: &InvoiceRow,
    state: &InvoiceState,
    now: Timestamp,
) -> Result<(), InvoiceError> {
    let kind = match state.status {
        Status::Paid | Status::Overpaid if state.paid_late => "invoice.paid_late",
        Status::Paid => "invoice.paid",
        Status::Overpaid => "invoice.overpaid",
        Status::Partial => "invoice.partial",
        Status::Canceled if !state.received.is_zero() => "invoice.expired_partial",
        Status::Created | Status::Canceled => return Ok(()),
    };
    let crypto = row.currency.as_deref().and_then(currency::crypto);
    let text = |a: Amount| {
        crypto.map_or_else(|| a.base().to_string(), |c| a.to_decimal_string(c.decimals))
    };
    let missing = row
        .quote
        .map(|q| q.due.saturating_sub(state.received))
        .unwrap_or(Amount::ZERO);
    let project = kassa_store::projects::by_id(tx, row.project_id).await?;
    let link = format!("/projects/{}/invoices/{}", row.project_id, row.uuid);
    crate::notify::emit(
        tx,
        &crate::notify::Event {
            merchant: row.merchant_id,
            kind,
            project: Some(row.project_id),
            user: None,
            params: json!({
                "invoice": format!("INV-{}", row.uuid),
                "project": project.settings.name,
                "amount": text(state.received),
                "missing": text(missing),
                "currency": row.currency.clone().unwrap_or_default(),
                "usd": row.amount_usd.round_dp(2).to_string(),
                "test": row.test,
            }),
            link: Some(&link),
        },
        now,
    )
    .await?;
    Ok(())
}

/// What a reconciliation did to the merchant's receivable.
#[derive(Clone, Copy, Debug, Default)]
pub struct Moved {
    /// Credit taken back that the merchant's available balance did not cover: now owed.
    pub owed: Amount,
    /// Credit that went to settle what the merchant owed.
    pub repaid: Amount,
}

fn units(x: i128) -> Amount {
    Amount::from_base(u128::try_from(x).unwrap_or(0))
}

/// Posts the difference between what `state` implies for invoice `id` and what is posted for
/// it: custody → pending for what counts; pending → the merchant's available balance (or their
/// receivable first), the service fee and the network fee for the settlement. Money taken back
/// leaves the available balance as far as it covers it; the rest becomes a receivable.
async fn reconcile(
    tx: &mut Tx,
    id: InvoiceId,
    uuid: &str,
    merchant: MerchantId,
    code: &str,
    state: &InvoiceState,
    now: Timestamp,
) -> Result<Moved, InvoiceError> {
    let posted = ledger::net_postings(tx, Postings::Invoice(id)).await?;
    let net = |a, b| posted.get(&(a, b)).copied().unwrap_or(0);
    let s = state.settled();
    let target = |a: Amount| i128::try_from(a.base()).unwrap_or(i128::MAX);
    let d_received = target(state.received) - net(Kind::Custody, Kind::MerchantPending);
    let d_credit = target(s.credit)
        - net(Kind::MerchantPending, Kind::MerchantAvailable)
        - net(Kind::MerchantPending, Kind::MerchantReceivable);
    let d_service = target(s.service_fee) - net(Kind::MerchantPending, Kind::ServiceFees);
    let d_network = target(s.transfer_fee) - net(Kind::MerchantPending, Kind::NetworkFees);
    if d_received == 0 && d_credit == 0 && d_service == 0 && d_network == 0 {
        return Ok(Moved::default());
    }
    let journal = format!("invoice {uuid}");
    let j = ledger::Journal {
        name: &journal,
        invoice: Some(id),
        at: now,
    };
    let acct = |kind, merchant: Option<MerchantId>| Account {
        kind,
        merchant,
        currency: code,
    };
    let pending = acct(Kind::MerchantPending, Some(merchant));
    let custody = acct(Kind::Custody, None);
    let service = acct(Kind::ServiceFees, None);
    let network = acct(Kind::NetworkFees, None);
    let mut moved = Moved::default();
    // Take back first: the fees, then the credit (from what is available, the rest owed), then
    // the payment itself.
    if d_service < 0 {
        j.post(tx, &service, &pending, units(-d_service)).await?;
    }
    if d_network < 0 {
        j.post(tx, &network, &pending, units(-d_network)).await?;
    }
    if d_credit < 0 {
        moved.owed = ledger::charge_merchant(tx, &j, merchant, &pending, units(-d_credit)).await?;
    }
    if d_received < 0 {
        j.post(tx, &pending, &custody, units(-d_received)).await?;
    }
    // Then give: the payment, the credit (settling what is owed first), the fees.
    if d_received > 0 {
        j.post(tx, &custody, &pending, units(d_received)).await?;
    }
    if d_credit > 0 {
        moved.repaid = ledger::credit_merchant(tx, &j, merchant, &pending, units(d_credit)).await?;
    }
    if d_service > 0 {
        j.post(tx, &pending, &service, units(d_service)).await?;
    }
    if d_network > 0 {
        j.post(tx, &pending, &network, units(d_network)).await?;
    }
    Ok(moved)
}

/// The invoice made for a static-wallet transfer: priced at what arrived, created when the
/// transfer is first reported, in the transaction that records it.
async fn static_wallet_invoice(
    tx: &mut Tx,
    st: &Ctx,
    wallet: StaticWalletId,
    t: &Observation<'_>,
    now: Timestamp,
) -> Result<InvoiceId, InvoiceError> {
    let w = invoices::static_wallet_by_id(tx, wallet).await?;
    let project = kassa_store::projects::by_id(tx, w.project_id).await?;
    let crypto = currency::crypto(&w.currency)
        .ok_or_else(|| InvoiceError::CurrencyUnavailable(w.currency.clone()))?;
    // A top-up is whatever arrives: the merchant carries the fees, no bounds apply.
    let basis = QuoteBasis {
        price: Price::Crypto(crypto, t.amount),
        test: w.test,
        service_side: Side::Merchant,
        transfer_side: Side::Merchant,
        tolerance: Tolerance::None,
        arrived: true,
    };
    let (quote, rate_usd, source) = quote_for(&st.pricing, &basis, crypto, now)?;
    // Beyond any decimal only for an amount no token's supply holds; an error, never a
    // clamped figure.
    let usd = crate::objects::usd_value(t.amount, crypto, rate_usd)
        .ok_or(kassa_core::invoice::QuoteError::TooLarge)?;
    let allowed = [crypto.code.to_owned()];
    let uuid = new_uuid();
    let id = invoices::insert(
        tx,
        &NewInvoice {
            uuid: &uuid,
            project_id: project.id,
            merchant_id: project.merchant_id,
            test: w.test,
            price: basis.price,
            amount_usd: usd,
            allowed_currencies: &allowed,
            service_fee_side: basis.service_side,
            transfer_fee_side: basis.transfer_side,
            tolerance: basis.tolerance,
            order_id: &w.identify,
            email: "",
            description: "",
            locale: None,
            static_wallet_id: Some(wallet),
            expires_at: now.saturating_add(LIFETIME_RANGE.1),
            locked: Some(LockedQuote {
                currency: crypto.code,
                address: &w.address,
                quote,
                rate_usd,
                rate_source: source,
            }),
        },
        now,
    )
    .await?
    .id;
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
