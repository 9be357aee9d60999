//! Creating invoices: prices and quotes, deposit addresses, the payer choosing a currency,
//! static wallets.

use std::sync::Arc;
use std::time::Duration;

use kassa_core::currency::{Crypto, Network};
use kassa_core::invoice::{Priced, Quote, QuoteError, QuoteInput, Side, Tolerance};
use kassa_core::money::{Amount, Exact, Rounding};
use kassa_core::{Decimal, InvoiceId, Timestamp};
use kassa_store::invoices::{self, InvoiceRow, LockedQuote, NewInvoice, Owner, StaticWalletRow};
use kassa_store::projects::ProjectRow;
use kassa_store::{StoreError, Tx};
use serde_json::json;

use crate::Ctx;
use crate::i18n::Tr;
use crate::mail::{self};
use crate::pricing::Pricing;
use crate::worker::{self};

use super::*;

/// The USD value of an invoice price, rounded to cents. A price worth less than one cent is
/// refused, with a cent in the price's currency as the smallest amount.
pub(crate) fn price_in_usd(
    pricing: &Pricing,
    price: &Price,
    test: bool,
    now: Timestamp,
) -> Result<Decimal, InvoiceError> {
    let (asset, value) = match price {
        Price::Fiat(f, amount) => (f.code, Exact::decimal(*amount)),
        Price::Crypto(c, amount) => (c.symbol, Some(Exact::amount(*amount, c.decimals))),
    };
    let rate = pricing
        .usd(asset, test, now)
        .map_err(|_| InvoiceError::NoRate(asset.into()))?
        .usd;
    let rate = Exact::decimal(rate)
        .filter(|r| !r.is_zero())
        .ok_or(QuoteError::BadRate)?;
    let usd = value.ok_or(QuoteError::NoPrice)?.times(&rate);
    let cent = Exact::decimal(Decimal::new(1, 2)).ok_or(QuoteError::NoPrice)?;
    if usd < cent {
        let min = cent.per(&rate).ok_or(QuoteError::BadRate)?;
        let min = match price {
            Price::Fiat(f, _) => format!("{} {}", min.to_text(f.decimals, Rounding::Up), f.code),
            Price::Crypto(c, _) => {
                let units = min
                    .to_amount(c.decimals, Rounding::Up)
                    .map_err(QuoteError::from)?;
                crypto_text(units.quotable(c.decimals).unwrap_or(units), c)
            }
        };
        return Err(Bound::BelowCent { min }.into());
    }
    // Worth under 10^15 USD (what statistics sum in whole cents); only a crypto price can
    // reach it, fiat prices stop far below.
    let limit =
        Exact::decimal(Decimal::from(1_000_000_000_000_000_i64)).ok_or(QuoteError::TooLarge)?;
    if usd >= limit {
        let Price::Crypto(c, _) = price else {
            return Err(QuoteError::TooLarge.into());
        };
        let max = limit
            .per(&rate)
            .ok_or(QuoteError::BadRate)?
            .to_amount(c.decimals, Rounding::Down)
            .map_err(QuoteError::from)?;
        return Err(Bound::AboveMaximum {
            code: c.code,
            // Rounded down to what a quote states.
            max: crypto_text(
                Amount::from_base(max.base() - max.base() % max.quote_step(c.decimals)),
                c,
            ),
        }
        .into());
    }
    Ok(usd
        .to_decimal(2, Rounding::HalfUp)
        .ok_or(QuoteError::TooLarge)?)
}

/// `1.5 LTC`: an amount with its symbol.
pub fn crypto_text(a: Amount, c: &Crypto) -> String {
    format!("{} {}", a.to_decimal_string(c.decimals), c.symbol)
}

/// The bound a quote error stands for, in `crypto`'s terms.
fn bound_of(e: QuoteError, crypto: &'static Crypto) -> InvoiceError {
    match e {
        QuoteError::TooLarge => Bound::AboveMaximum {
            code: crypto.code,
            max: format!("999999999999999 {}", crypto.symbol),
        }
        .into(),
        QuoteError::BelowMinimum(min) => Bound::BelowNetworkMinimum {
            code: crypto.code,
            min: crypto_text(min, crypto),
        }
        .into(),
        other => other.into(),
    }
}

/// What a quote is computed from: an invoice's price and fee settings.
pub(crate) struct QuoteBasis {
    pub(crate) price: Price,
    pub(crate) test: bool,
    pub(crate) service_side: Side,
    pub(crate) transfer_side: Side,
    pub(crate) tolerance: Tolerance,
    /// The quote of what already arrived (a static-wallet top-up): no bounds apply.
    pub(crate) arrived: bool,
}

impl QuoteBasis {
    pub(crate) fn of(row: &InvoiceRow) -> Self {
        QuoteBasis {
            price: row.price,
            test: row.test,
            service_side: row.service_fee_side,
            transfer_side: row.transfer_fee_side,
            tolerance: row.tolerance,
            arrived: false,
        }
    }
}

/// Computes the quote of an invoice in `crypto` at today's rate: the quote, the rate and its
/// source.
pub(crate) fn quote_for(
    pricing: &Pricing,
    b: &QuoteBasis,
    crypto: &'static Crypto,
    now: Timestamp,
) -> Result<(Quote, Decimal, &'static str), InvoiceError> {
    let rate = pricing
        .usd(crypto.symbol, b.test, now)
        .map_err(|_| InvoiceError::NoRate(crypto.symbol.into()))?;
    let price = match b.price {
        Price::Crypto(c, amount) => {
            if c.code != crypto.code {
                return Err(InvoiceError::CurrencyNotAllowed(crypto.code.into()));
            }
            Priced::Crypto(amount)
        }
        Price::Fiat(fiat, amount) => Priced::Fiat {
            amount,
            usd: pricing
                .usd(fiat.code, b.test, now)
                .map_err(|_| InvoiceError::NoRate(fiat.code.into()))?
                .usd,
        },
    };
    let quote = Quote::compute(&QuoteInput {
        price,
        crypto_usd: rate.usd,
        decimals: crypto.decimals,
        service_percent: pricing.service_percent,
        transfer_fee_usd: pricing.transfer_usd(crypto.network),
        service_side: b.service_side,
        transfer_side: b.transfer_side,
        tolerance: b.tolerance,
        minimum: (!b.arrived).then(|| crypto.min_payment()),
    })
    .map_err(|e| bound_of(e, crypto))?;
    Ok((quote, rate.usd, rate.source))
}

/// Takes the next derivation index and derives the deposit address on `network`, inside the
/// transaction that records it (a rollback gives the index back; a commit uses it up, so no
/// address is handed out twice).
///
/// - Test addresses come from the simulated network, indexed by a global counter.
/// - Live addresses come from the operator's wallet of the network: the wallet's next receive
///   index `i` (`chain_wallet.next_index`, taken atomically) and the BIP84 address
///   `m/84'/coin'/0'/0/i` of its account key. The index returned is `i`. A network that does
///   not take live payments (not configured, or without a wallet) is unavailable.
async fn derive_address(
    tx: &mut Tx,
    st: &Ctx,
    network: &'static Network,
    test: bool,
) -> Result<(i64, String), InvoiceError> {
    if !test {
        let chain = st
            .chains
            .get(network)
            .ok_or_else(|| InvoiceError::CurrencyUnavailable(network.code.into()))?;
        let index = kassa_store::wallets::take_next_index(tx, network.code, st.clock.now())
            .await?
            .ok_or(StoreError::NotFound)?;
        let address = chain
            .receive_address(index)
            .map_err(|e| StoreError::Corrupt {
                column: "chain_wallet.next_index",
                reason: format!("{} receive index {index}: {e}", network.code),
            })?;
        return Ok((index, address));
    }
    let index = invoices::next_derivation_index(tx).await?;
    let seed = st.keyring.derive_key("simulated-network");
    let address =
        kassa_chain::simulated::deposit_address(&seed, network, u64::try_from(index).unwrap_or(0));
    Ok((index, address))
}

/// Derives a new deposit address for `owner` on `network` and records it.
async fn new_address(
    tx: &mut Tx,
    st: &Ctx,
    network: &'static Network,
    test: bool,
    owner: Owner,
    now: Timestamp,
) -> Result<String, InvoiceError> {
    let (index, address) = derive_address(tx, st, network, test).await?;
    invoices::insert_address(tx, network.code, &address, index, test, owner, now).await?;
    Ok(address)
}

/// Creates an invoice for `project`.
pub async fn create(
    st: &Ctx,
    project: &ProjectRow,
    req: NewInvoiceRequest,
) -> Result<InvoiceRow, InvoiceError> {
    create_as(st, project, req, None).await
}

/// Creates an invoice for `project`; made from the dashboard by `actor`, it is named on the
/// timeline and written to the activity log in the same transaction.
pub async fn create_as(
    st: &Ctx,
    project: &ProjectRow,
    req: NewInvoiceRequest,
    actor: Option<&Actor<'_>>,
) -> Result<InvoiceRow, InvoiceError> {
    if project.archived_at.is_some() {
        return Err(InvoiceError::Archived);
    }
    let now = st.clock.now();
    let lifetime = req.lifetime.unwrap_or(Duration::from_secs(
        u64::try_from(project.settings.invoice_lifetime_minutes).unwrap_or(1440) * 60,
    ));
    if lifetime < LIFETIME_RANGE.0 || lifetime > LIFETIME_RANGE.1 {
        return Err(InvoiceError::Lifetime);
    }
    let offered = offered(st, project);
    for c in req.allowed.iter().chain(req.preselect.iter()) {
        if !offered.iter().any(|o| o.code == c.code) {
            return Err(InvoiceError::CurrencyUnavailable(c.code.into()));
        }
    }
    let price = req.price;
    let amount_usd = price_in_usd(&st.pricing, &price, project.test_mode, now)?;
    let allowed: Vec<String> = match &price {
        Price::Crypto(c, _) => vec![c.code.to_owned()],
        Price::Fiat(..) => req.allowed.iter().map(|c| c.code.to_owned()).collect(),
    };
    let preselect = match &req.price {
        Price::Crypto(c, _) => Some(*c),
        Price::Fiat(..) => req.preselect,
    };
    let service_side = project.settings.service_fee_side;
    let transfer_side = project.settings.transfer_fee_side;
    // Everything that needs no database is worked out before the write transaction, which
    // then only writes: the invoice with its quote, its address, its events and jobs.
    let locked = match preselect {
        None => None,
        Some(c) => {
            let basis = QuoteBasis {
                price,
                test: project.test_mode,
                service_side,
                transfer_side,
                tolerance: project.settings.tolerance,
                arrived: false,
            };
            let (quote, rate, source) = quote_for(&st.pricing, &basis, c, now)?;
            Some((c, quote, rate, source))
        }
    };
    let expire_at = now.saturating_add(lifetime);
    let plan = Arc::new(Plan {
        st: st.clone(),
        project: project.clone(),
        req,
        amount_usd,
        allowed,
        locked,
        expire_at,
        actor: actor.map(|a| (a.user, a.email.map(str::to_owned), a.client.clone())),
        now,
    });
    for _ in 0..5 {
        let plan = plan.clone();
        // The public id and the letter that names it are made here, not on the database's
        // writer, which only writes.
        let uuid = new_uuid();
        let letter = plan.req.send_link_to.as_ref().map(|to| {
            let tr = Tr::new(plan.req.locale.unwrap_or_else(|| project_lang(project)));
            invoice_letter(st, project, &uuid, &plan.req.price, tr).render(to, tr)
        });
        // One unit of work: on SQLite it joins the next group commit.
        match st
            .db
            .unit(move |tx| Box::pin(async move { plan.write(tx, &uuid, letter).await }))
            .await
        {
            Ok((row, letter)) => {
                if letter {
                    st.jobs.wake();
                }
                return Ok(row);
            }
            Err(Attempt::Taken) => continue,
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
    Err(StoreError::Corrupt {
        column: "invoice.uuid",
        reason: "could not find a free invoice id".into(),
    }
    .into())
}

/// An invoice creation worked out before its write: owned, so that it can run as a unit of
/// work on the database's writer.
struct Plan {
    st: Ctx,
    project: ProjectRow,
    req: NewInvoiceRequest,
    amount_usd: Decimal,
    allowed: Vec<String>,
    locked: Option<(&'static Crypto, Quote, Decimal, &'static str)>,
    expire_at: Timestamp,
    /// The dashboard user who creates it: (user, e-mail, client).
    actor: Option<(
        Option<kassa_core::UserId>,
        Option<String>,
        crate::audit::Client,
    )>,
    now: Timestamp,
}

/// Why one attempt at writing an invoice failed.
enum Attempt {
    /// The random public id is taken: try another.
    Taken,
    /// Anything else.
    Failed(InvoiceError),
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Failed(e.into())
    }
}

impl From<InvoiceError> for Attempt {
    fn from(e: InvoiceError) -> Self {
        Attempt::Failed(e)
    }
}

impl Plan {
    /// Writes the invoice with public id `uuid`: its address (when the currency is chosen),
    /// events, jobs and letters. The invoice as stored, and whether a letter was queued.
    async fn write(
        &self,
        tx: &mut Tx,
        uuid: &str,
        letter: Option<mail::Mail>,
    ) -> Result<(InvoiceRow, bool), Attempt> {
        let (st, project, req, now) = (&self.st, &self.project, &self.req, self.now);
        let actor = self.actor.as_ref().map(|(user, email, client)| Actor {
            user: *user,
            email: email.as_deref(),
            client,
        });
        let price = req.price;
        let address = match &self.locked {
            Some((c, ..)) => Some(derive_address(tx, st, c.network, project.test_mode).await?),
            None => None,
        };
        let inserted = invoices::insert(
            tx,
            &NewInvoice {
                uuid,
                project_id: project.id,
                merchant_id: project.merchant_id,
                test: project.test_mode,
                price,
                amount_usd: self.amount_usd,
                allowed_currencies: &self.allowed,
                service_fee_side: project.settings.service_fee_side,
                transfer_fee_side: project.settings.transfer_fee_side,
                tolerance: project.settings.tolerance,
                order_id: &req.order_id,
                email: &req.email,
                description: &req.description,
                locale: req.locale,
                static_wallet_id: None,
                expires_at: self.expire_at,
                locked: match (&self.locked, &address) {
                    (Some((c, quote, rate, source)), Some((_, address))) => Some(LockedQuote {
                        currency: c.code,
                        address,
                        quote: *quote,
                        rate_usd: *rate,
                        rate_source: source,
                    }),
                    _ => None,
                },
            },
            now,
        )
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) if e.is_unique_violation() => return Err(Attempt::Taken),
            Err(e) => return Err(e.into()),
        };
        let id = row.id;
        let mut created = json!({"price": price.amount_text(), "currency": price.code()});
        if let Some(a) = &actor {
            a.sign(&mut created);
        }
        let mut events = vec![("created", created)];
        if let (Some((c, quote, rate, source)), Some((index, address))) = (&self.locked, &address) {
            invoices::insert_address(
                tx,
                c.network.code,
                address,
                *index,
                project.test_mode,
                Owner::Invoice(id),
                now,
            )
            .await?;
            events.push((
                "currency_chosen",
                json!({"currency": c.code, "address": address, "amount": quote.due.to_decimal_string(c.decimals), "rate_usd": rate.to_string(), "rate_source": source}),
            ));
        }
        if let (Some(_), Some(to)) = (&letter, &req.send_link_to) {
            events.push(("link_sent", json!({"to": to})));
        }
        invoices::add_events(tx, id, &events, now).await?;
        if let Some(a) = &actor {
            let mut details = json!({"price": price.to_string()});
            if let (Some(m), Some(to)) = (details.as_object_mut(), &req.send_link_to) {
                m.insert("link_sent_to".into(), json!(to));
            }
            log_action(
                tx,
                a,
                project.merchant_id,
                uuid,
                "invoice.created",
                details,
                now,
            )
            .await?;
        }
        worker::enqueue(tx, &Expire { invoice_id: id }, self.expire_at, now).await?;
        if let Some(m) = &letter {
            mail::enqueue(tx, &st.keyring, m, now).await?;
        }
        if let (Some(period), Some(to)) = (req.remind_every, &req.send_link_to) {
            let remind = Remind {
                invoice_id: id,
                to: to.clone(),
                period_secs: period.as_secs(),
            };
            worker::enqueue(tx, &remind, now.saturating_add(period), now).await?;
        }
        Ok((row, letter.is_some()))
    }
}

/// Locks the quote of `row` in `crypto` with a new deposit address (inside `tx`).
async fn lock_quote(
    tx: &mut Tx,
    st: &Ctx,
    row: &InvoiceRow,
    crypto: &'static Crypto,
    now: Timestamp,
) -> Result<(), InvoiceError> {
    let (quote, rate, source) = quote_for(&st.pricing, &QuoteBasis::of(row), crypto, now)?;
    let mut state = state_of(row);
    state.choose_currency(quote, now)?;
    let address = new_address(
        tx,
        st,
        crypto.network,
        row.test,
        Owner::Invoice(row.id),
        now,
    )
    .await?;
    invoices::set_quote(tx, row.id, crypto.code, &address, &quote, rate, source, now).await?;
    invoices::add_event(
        tx,
        row.id,
        "currency_chosen",
        &json!({"currency": crypto.code, "address": address, "amount": quote.due.to_decimal_string(crypto.decimals), "rate_usd": rate.to_string(), "rate_source": source}),
        now,
    )
    .await?;
    Ok(())
}

/// The payer picks `crypto` for the invoice: the rate is locked and an address derived.
/// Picking another currency is allowed until something is paid.
pub async fn choose_currency(
    st: &Ctx,
    project: &ProjectRow,
    invoice: InvoiceId,
    crypto: &'static Crypto,
) -> Result<InvoiceRow, InvoiceError> {
    choose_currency_for(st, project, invoice, crypto, None).await
}

/// [`choose_currency`], storing the e-mail the payer gave on the payment page in the same
/// transaction.
pub async fn choose_currency_for(
    st: &Ctx,
    project: &ProjectRow,
    invoice: InvoiceId,
    crypto: &'static Crypto,
    payer_email: Option<&str>,
) -> Result<InvoiceRow, InvoiceError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let row = invoices::lock(&mut tx, invoice).await?;
    if !allowed_for(st, project, &row)
        .iter()
        .any(|c| c.code == crypto.code)
    {
        return Err(InvoiceError::CurrencyNotAllowed(crypto.code.into()));
    }
    if row.currency.as_deref() != Some(crypto.code) {
        lock_quote(&mut tx, st, &row, crypto, now).await?;
    }
    if let Some(email) = payer_email.filter(|e| *e != row.email) {
        invoices::set_email(&mut tx, invoice, email, now).await?;
    }
    let row = invoices::by_id(&mut tx, invoice).await?;
    tx.commit().await?;
    Ok(row)
}

/// The static wallet of (project, currency, customer), created on first request.
pub async fn static_wallet(
    st: &Ctx,
    project: &ProjectRow,
    crypto: &'static Crypto,
    identify: &str,
) -> Result<StaticWalletRow, InvoiceError> {
    static_wallet_by(st, project, crypto, identify, None).await
}

/// [`static_wallet`], made by a person on the dashboard: the activity log records it with the
/// wallet.
pub async fn static_wallet_by(
    st: &Ctx,
    project: &ProjectRow,
    crypto: &'static Crypto,
    identify: &str,
    by: Option<&crate::audit::Actor<'_>>,
) -> Result<StaticWalletRow, InvoiceError> {
    if !offered(st, project).iter().any(|c| c.code == crypto.code) {
        return Err(InvoiceError::CurrencyUnavailable(crypto.code.into()));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let test = project.test_mode;
    if let Some(w) =
        invoices::static_wallet(&mut tx, project.id, crypto.code, identify, test).await?
    {
        return Ok(w);
    }
    let uuid = crate::projects::random_string(UUID_ALPHABET, 32);
    // The address is derived first (it needs no owner row to be computed), then both rows go in.
    let (index, address) = derive_address(&mut tx, st, crypto.network, test).await?;
    let id = match invoices::insert_static_wallet(
        &mut tx,
        &uuid,
        project.id,
        crypto.code,
        identify,
        &address,
        project.test_mode,
        now,
    )
    .await
    {
        Ok(id) => id,
        // Created concurrently by another request: return that one.
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            let mut c = st.db.conn().await?;
            return invoices::static_wallet(&mut c, project.id, crypto.code, identify, test)
                .await?
                .ok_or_else(|| StoreError::NotFound.into());
        }
        Err(e) => return Err(e.into()),
    };
    invoices::insert_address(
        &mut tx,
        crypto.network.code,
        &address,
        index,
        project.test_mode,
        Owner::StaticWallet(id),
        now,
    )
    .await?;
    let w = invoices::static_wallet_by_id(&mut tx, id).await?;
    if let Some(by) = by {
        by.record(
            &mut tx,
            project.merchant_id,
            "project.static_wallet_created",
            crate::audit::Target::Project(project.id),
            serde_json::json!({"wallet": w.uuid, "currency": w.currency, "identify": w.identify}),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(w)
}

/// The quote the invoice would get in `crypto` now, without locking anything (what the API
/// shows before the payer chooses): the quote and the USD rate.
pub fn indicative_quote(
    st: &Ctx,
    row: &InvoiceRow,
    crypto: &'static Crypto,
) -> Option<(Quote, Decimal)> {
    quote_for(&st.pricing, &QuoteBasis::of(row), crypto, st.clock.now())
        .ok()
        .map(|(q, r, _)| (q, r))
}

#[cfg(test)]
mod tests;
