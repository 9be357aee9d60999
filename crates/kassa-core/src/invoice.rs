//! The invoice engine: quotes, the status machine and settlement.
//!
//! A *quote* fixes, when the payer picks a currency, what is due in that currency: the
//! price converted at the locked rate, the service fee and the transfer (network) fee — each
//! paid by the payer (added to what is due) or by the merchant (taken from the credit) — and
//! the underpayment the project tolerates.
//!
//! The *status* follows the confirmed payments. Seen-but-unconfirmed payments are
//! "processing" and change nothing yet. Confirmed payments below the amount due make the
//! invoice `partial`; reaching it makes it `paid`, more makes it `overpaid`. An invoice is
//! *confirmed* (the merchant is credited and notified) when it is paid or overpaid, when the
//! shortfall is within the tolerance, or when the merchant accepts a partial payment. A
//! payment after expiry or cancellation is never dropped: it is recorded, credited, and the
//! invoice is flagged "paid late".
//!
//! *Settlement* splits what was received into the merchant's credit, the service fee and the
//! transfer fee. It only grows as more arrives, so each new payment settles as a delta.

use rust_decimal::Decimal;

use crate::Timestamp;
use crate::money::{Amount, AmountError, Rounding};

/// The status the CryptoCloud-compatible API reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Waiting for payment (including payments seen but not yet confirmed).
    Created,
    /// Confirmed payments below the amount due.
    Partial,
    /// Paid in full (or the shortfall accepted).
    Paid,
    /// Paid more than due.
    Overpaid,
    /// Expired unpaid or cancelled.
    Canceled,
}

impl Status {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Partial => "partial",
            Status::Paid => "paid",
            Status::Overpaid => "overpaid",
            Status::Canceled => "canceled",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Created,
            Status::Partial,
            Status::Paid,
            Status::Overpaid,
            Status::Canceled,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Whether the status may change to `to`.
    pub fn may_become(self, to: Status) -> bool {
        use Status::*;
        match (self, to) {
            (a, b) if a == b => true,
            (Created, _) => true,
            (Partial, Paid | Overpaid) => true,
            (Paid, Overpaid) => true,
            // Only a payment can bring a cancelled invoice back (a late payment).
            (Canceled, Partial | Paid | Overpaid) => true,
            _ => false,
        }
    }

    /// Whether a payment leaving the chain (a reorganisation) may take the status back to
    /// `to`: down the payment ladder, never to or from `canceled` by the merchant's hand.
    pub fn may_revert_to(self, to: Status) -> bool {
        use Status::*;
        match (self, to) {
            (a, b) if a == b => true,
            (Overpaid, Paid | Partial | Created | Canceled) => true,
            (Paid, Partial | Created | Canceled) => true,
            (Partial, Created | Canceled) => true,
            _ => false,
        }
    }
}

/// Who pays a fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The payer: the fee is added to what is due.
    Client,
    /// The merchant: the fee is taken from the credit.
    Merchant,
}

impl Side {
    /// The API name (`client` / `merchant`).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Merchant => "merchant",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "client" => Some(Side::Client),
            "merchant" => Some(Side::Merchant),
            _ => None,
        }
    }
}

/// The underpayment a project accepts without asking the merchant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tolerance {
    /// None: any shortfall leaves the invoice partial.
    None,
    /// A percentage of the amount due.
    Percent(Decimal),
    /// A fixed amount in US dollars.
    Usd(Decimal),
}

/// Everything a quote is computed from.
#[derive(Clone, Copy, Debug)]
pub struct QuoteInput {
    /// The invoice amount in US dollars (already converted from its fiat currency), or `None`
    /// when the invoice is priced directly in the crypto currency.
    pub price_usd: Option<Decimal>,
    /// The price in base units, when priced in crypto.
    pub price_crypto: Option<Amount>,
    /// US dollars per one unit of the crypto currency (the locked rate).
    pub crypto_usd: Decimal,
    /// Decimals of the crypto currency.
    pub decimals: u32,
    /// Service fee in percent (1.9 means 1.9 %).
    pub service_percent: Decimal,
    /// Transfer fee of the network, in US dollars.
    pub transfer_fee_usd: Decimal,
    /// Who pays the service fee.
    pub service_side: Side,
    /// Who pays the transfer fee.
    pub transfer_side: Side,
    /// Accepted underpayment.
    pub tolerance: Tolerance,
}

/// What is due in the chosen currency, fixed when the payer picks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The price in base units.
    pub price: Amount,
    /// The service fee on the price.
    pub service_fee: Amount,
    /// The transfer fee.
    pub transfer_fee: Amount,
    /// What the payer must pay: the price plus the fees the payer carries.
    pub due: Amount,
    /// Shortfall accepted without the merchant (0 = none).
    pub tolerance: Amount,
    /// Service fee rate in parts per million (for fees on overpayments).
    pub service_ppm: u32,
}

/// Why a quote cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// The rate is zero or negative.
    #[error("the exchange rate is not usable")]
    BadRate,
    /// Neither a USD nor a crypto price was given, or the price is zero.
    #[error("the price must be above zero")]
    NoPrice,
    /// A figure does not fit.
    #[error("the amount is too large")]
    TooLarge,
    /// A percentage is out of range.
    #[error("a percentage must be between 0 and 100")]
    BadPercent,
}

impl From<AmountError> for QuoteError {
    fn from(_: AmountError) -> Self {
        QuoteError::TooLarge
    }
}

fn percent_to_ppm(p: Decimal) -> Result<u32, QuoteError> {
    if p.is_sign_negative() || p > Decimal::from(100) {
        return Err(QuoteError::BadPercent);
    }
    let ppm = (p * Decimal::from(10_000))
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    u32::try_from(ppm.mantissa()).map_err(|_| QuoteError::BadPercent)
}

impl Quote {
    /// Computes a quote. Conversions round up what the payer owes (never a unit short) and
    /// round down the tolerance.
    pub fn compute(q: &QuoteInput) -> Result<Quote, QuoteError> {
        if q.crypto_usd <= Decimal::ZERO {
            return Err(QuoteError::BadRate);
        }
        let price = match (q.price_crypto, q.price_usd) {
            (Some(p), _) => p,
            (None, Some(usd)) => {
                let units = usd.checked_div(q.crypto_usd).ok_or(QuoteError::TooLarge)?;
                Amount::from_decimal(units, q.decimals, Rounding::Up)?
            }
            (None, None) => return Err(QuoteError::NoPrice),
        };
        if price.is_zero() {
            return Err(QuoteError::NoPrice);
        }
        let service_ppm = percent_to_ppm(q.service_percent)?;
        let service_fee = price
            .mul_div_ceil(u128::from(service_ppm), 1_000_000)
            .ok_or(QuoteError::TooLarge)?;
        let transfer_units = q
            .transfer_fee_usd
            .max(Decimal::ZERO)
            .checked_div(q.crypto_usd)
            .ok_or(QuoteError::TooLarge)?;
        let transfer_fee = Amount::from_decimal(transfer_units, q.decimals, Rounding::Up)?;
        let mut due = price;
        if q.service_side == Side::Client {
            due = due.checked_add(service_fee).ok_or(QuoteError::TooLarge)?;
        }
        if q.transfer_side == Side::Client {
            due = due.checked_add(transfer_fee).ok_or(QuoteError::TooLarge)?;
        }
        let tolerance = match q.tolerance {
            Tolerance::None => Amount::ZERO,
            Tolerance::Percent(p) => due
                .mul_div_floor(u128::from(percent_to_ppm(p)?), 1_000_000)
                .ok_or(QuoteError::TooLarge)?,
            Tolerance::Usd(usd) => Amount::from_decimal(
                usd.max(Decimal::ZERO)
                    .checked_div(q.crypto_usd)
                    .ok_or(QuoteError::TooLarge)?,
                q.decimals,
                Rounding::Down,
            )?,
        };
        Ok(Quote {
            price,
            service_fee,
            transfer_fee,
            due,
            tolerance,
            service_ppm,
        })
    }

    /// How `received` splits into credit and fees. Paid in full: the quoted fees, plus the
    /// service rate on any excess. Short: the service fee in proportion, then the transfer fee
    /// up to what is left. Always `credit + service + transfer == received`.
    pub fn settle(&self, received: Amount) -> Settlement {
        let (service, transfer) = if received >= self.due {
            let excess = received.saturating_sub(self.due);
            let extra = excess
                .mul_div_ceil(u128::from(self.service_ppm), 1_000_000)
                .unwrap_or(excess);
            let service = self
                .service_fee
                .checked_add(extra)
                .unwrap_or(received)
                .min(received);
            (
                service,
                self.transfer_fee.min(received.saturating_sub(service)),
            )
        } else {
            let service = self
                .service_fee
                .mul_div_ceil(received.base(), self.due.base())
                .unwrap_or(received)
                .min(received);
            (
                service,
                self.transfer_fee.min(received.saturating_sub(service)),
            )
        };
        let credit = received.saturating_sub(service).saturating_sub(transfer);
        Settlement {
            credit,
            service_fee: service,
            transfer_fee: transfer,
        }
    }
}

/// How received money is split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Credited to the merchant.
    pub credit: Amount,
    /// Kept as the service fee.
    pub service_fee: Amount,
    /// Kept for moving the funds (the network fee).
    pub transfer_fee: Amount,
}

impl Settlement {
    /// The part of `self` not yet in `before` (settlement only grows).
    pub fn minus(&self, before: &Settlement) -> Settlement {
        Settlement {
            credit: self.credit.saturating_sub(before.credit),
            service_fee: self.service_fee.saturating_sub(before.service_fee),
            transfer_fee: self.transfer_fee.saturating_sub(before.transfer_fee),
        }
    }

    /// The total.
    pub fn total(&self) -> Amount {
        Amount::from_base(self.credit.base() + self.service_fee.base() + self.transfer_fee.base())
    }
}

/// How an invoice came to be confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Payments reached the amount due.
    Payment,
    /// The shortfall was within the project's tolerance.
    Tolerance,
    /// The merchant accepted a partial payment.
    Merchant,
}

impl Confirmation {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Confirmation::Payment => "payment",
            Confirmation::Tolerance => "tolerance",
            Confirmation::Merchant => "merchant",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Confirmation> {
        [
            Confirmation::Payment,
            Confirmation::Tolerance,
            Confirmation::Merchant,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// An action that does not apply to the invoice as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTransition {
    /// Only a `created` invoice without payments can be cancelled.
    #[error("only a created invoice without payments can be cancelled")]
    NotCancellable,
    /// Only a `partial`, unconfirmed invoice can be confirmed by the merchant.
    #[error("only a partially paid invoice can be confirmed")]
    NotPartial,
    /// The currency is fixed once a payment arrived or after the invoice ended.
    #[error("the payment currency can no longer change")]
    CurrencyLocked,
    /// A payment for an invoice without a chosen currency.
    #[error("the invoice has no payment currency")]
    NoCurrency,
    /// A simulated full or partial payment on an invoice that is already paid in full.
    #[error("nothing is due on this invoice any more")]
    NothingDue,
}

/// The state of an invoice that the rules need; the service loads and stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceState {
    /// API status.
    pub status: Status,
    /// The quote, once a currency is chosen.
    pub quote: Option<Quote>,
    /// Expiry.
    pub expires_at: Timestamp,
    /// How it was confirmed, once it is.
    pub confirmed: Option<Confirmation>,
    /// A payment arrived after expiry or cancellation.
    pub paid_late: bool,
    /// Sum of confirmed payments.
    pub received: Amount,
    /// Sum of payments seen but not confirmed.
    pub processing: Amount,
}

/// What a transition changed, for the service to persist and act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// The invoice became confirmed now (credit the merchant, send the postback).
    pub confirmed_now: bool,
    /// Money to move into the merchant's credit and the fee accounts now.
    pub settle: Settlement,
    /// Money to record as received but not settled (confirmed payments of an unconfirmed
    /// invoice).
    pub pending: Amount,
}

/// What taking a confirmed payment back changed, for the service to persist: the ledger
/// postings of the payment are undone in the opposite direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reversal {
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// The invoice was confirmed and no longer is.
    pub unconfirmed_now: bool,
    /// Settled money to move back from the merchant's credit and the fee accounts into
    /// pending.
    pub unsettle: Settlement,
    /// The payment itself, to move from pending back out of the merchant's books.
    pub amount: Amount,
}

impl InvoiceState {
    /// A new invoice, waiting for payment until `expires_at`.
    pub fn new(expires_at: Timestamp) -> Self {
        Self {
            status: Status::Created,
            quote: None,
            expires_at,
            confirmed: None,
            paid_late: false,
            received: Amount::ZERO,
            processing: Amount::ZERO,
        }
    }

    /// The settlement of everything confirmed so far (zero while unconfirmed).
    pub fn settled(&self) -> Settlement {
        match (&self.quote, self.confirmed) {
            (Some(q), Some(_)) => q.settle(self.received),
            _ => Settlement::default(),
        }
    }

    /// What is still missing on a short invoice.
    pub fn to_surcharge(&self) -> Amount {
        match &self.quote {
            Some(q) if self.status == Status::Partial => q.due.saturating_sub(self.received),
            _ => Amount::ZERO,
        }
    }

    /// Fixes the quote when the payer picks a currency (or picks another one, while nothing
    /// has been paid).
    pub fn choose_currency(
        &mut self,
        quote: Quote,
        now: Timestamp,
    ) -> Result<(), InvalidTransition> {
        let untouched = self.received.is_zero() && self.processing.is_zero();
        if self.status != Status::Created || !untouched || now >= self.expires_at {
            return Err(InvalidTransition::CurrencyLocked);
        }
        self.quote = Some(quote);
        Ok(())
    }

    fn change(&self, from: Status, settled_before: Settlement, confirmed_before: bool) -> Change {
        let after = self.settled();
        Change {
            from,
            to: self.status,
            confirmed_now: !confirmed_before && self.confirmed.is_some(),
            settle: after.minus(&settled_before),
            pending: Amount::ZERO,
        }
    }

    /// A payment was seen (in the mempool): it shows as processing.
    pub fn payment_seen(&mut self, amount: Amount) -> Result<Change, InvalidTransition> {
        if self.quote.is_none() {
            return Err(InvalidTransition::NoCurrency);
        }
        self.processing = self
            .processing
            .checked_add(amount)
            .unwrap_or(self.processing);
        Ok(Change {
            from: self.status,
            to: self.status,
            confirmed_now: false,
            settle: Settlement::default(),
            pending: Amount::ZERO,
        })
    }

    /// A payment is confirmed. `seen_at` is when it was first seen (its lateness is judged
    /// by that); `was_processing` says whether it was counted as processing before.
    pub fn payment_confirmed(
        &mut self,
        amount: Amount,
        seen_at: Timestamp,
        was_processing: bool,
    ) -> Result<Change, InvalidTransition> {
        let Some(quote) = self.quote else {
            return Err(InvalidTransition::NoCurrency);
        };
        let from = self.status;
        let settled_before = self.settled();
        let confirmed_before = self.confirmed.is_some();
        if was_processing {
            self.processing = self.processing.saturating_sub(amount);
        }
        self.received = self.received.checked_add(amount).unwrap_or(self.received);
        if seen_at >= self.expires_at || from == Status::Canceled {
            self.paid_late = true;
        }
        self.status = if self.received > quote.due {
            Status::Overpaid
        } else if self.received == quote.due {
            Status::Paid
        } else if self.confirmed.is_some() {
            // Confirmed short (by tolerance or the merchant): stays paid as the merchant agreed.
            from
        } else if quote.due.saturating_sub(self.received) <= quote.tolerance {
            self.confirmed = Some(Confirmation::Tolerance);
            Status::Paid
        } else {
            Status::Partial
        };
        if self.confirmed.is_none() && matches!(self.status, Status::Paid | Status::Overpaid) {
            self.confirmed = Some(Confirmation::Payment);
        }
        let mut change = self.change(from, settled_before, confirmed_before);
        if self.confirmed.is_none() {
            change.pending = amount;
        }
        Ok(change)
    }

    /// A payment that was only seen went away (replaced in the mempool, evicted, or its
    /// block left the chain before it counted): it is no longer processing. Nothing else
    /// changes.
    pub fn payment_dropped(&mut self, amount: Amount) {
        self.processing = self.processing.saturating_sub(amount);
    }

    /// A confirmed payment left the chain (a reorganisation deeper than the confirmation
    /// rule). It no longer counts: the status is worked out again from what remains, an
    /// invoice confirmed by payments that are no longer enough stops being confirmed, and the
    /// settlement shrinks accordingly. A merchant's acceptance of a partial payment stands
    /// for what is left; an invoice left with nothing is `created` again, or `canceled` when
    /// it has expired. `now` decides expiry.
    pub fn payment_reversed(&mut self, amount: Amount, now: Timestamp) -> Reversal {
        let from = self.status;
        let settled_before = self.settled();
        let was_confirmed = self.confirmed.is_some();
        let amount = amount.min(self.received);
        self.received = self.received.saturating_sub(amount);
        let due = self.quote.map_or(Amount::ZERO, |q| q.due);
        let tolerance = self.quote.map_or(Amount::ZERO, |q| q.tolerance);
        let nothing = self.received.is_zero();
        self.confirmed = match self.confirmed {
            _ if nothing => None,
            Some(Confirmation::Merchant) => Some(Confirmation::Merchant),
            Some(_) if self.received >= due => Some(Confirmation::Payment),
            Some(_) if due.saturating_sub(self.received) <= tolerance => {
                Some(Confirmation::Tolerance)
            }
            _ => None,
        };
        self.status = if nothing {
            if now >= self.expires_at || from == Status::Canceled {
                Status::Canceled
            } else {
                Status::Created
            }
        } else if self.received > due {
            Status::Overpaid
        } else if self.confirmed.is_some() {
            Status::Paid
        } else {
            Status::Partial
        };
        if nothing {
            self.paid_late = false;
        }
        Reversal {
            from,
            to: self.status,
            unconfirmed_now: was_confirmed && self.confirmed.is_none(),
            unsettle: settled_before.minus(&self.settled()),
            amount,
        }
    }

    /// Expiry time has come: an invoice nobody started paying is cancelled; a partial one
    /// stays partial (the merchant decides); one with a payment in flight waits for it.
    pub fn expire(&mut self, now: Timestamp) -> Option<Change> {
        if now < self.expires_at
            || self.status != Status::Created
            || !self.processing.is_zero()
            || !self.received.is_zero()
        {
            return None;
        }
        let from = self.status;
        self.status = Status::Canceled;
        Some(Change {
            from,
            to: self.status,
            confirmed_now: false,
            settle: Settlement::default(),
            pending: Amount::ZERO,
        })
    }

    /// Cancels an invoice that is `created` and has no payments.
    pub fn cancel(&mut self) -> Result<Change, InvalidTransition> {
        if self.status != Status::Created || !self.processing.is_zero() || !self.received.is_zero()
        {
            return Err(InvalidTransition::NotCancellable);
        }
        let from = self.status;
        self.status = Status::Canceled;
        Ok(Change {
            from,
            to: self.status,
            confirmed_now: false,
            settle: Settlement::default(),
            pending: Amount::ZERO,
        })
    }

    /// The merchant accepts a partial payment: the invoice is paid for what arrived.
    pub fn confirm_partial(&mut self) -> Result<Change, InvalidTransition> {
        if self.status != Status::Partial || self.confirmed.is_some() {
            return Err(InvalidTransition::NotPartial);
        }
        let from = self.status;
        let before = self.settled();
        self.confirmed = Some(Confirmation::Merchant);
        self.status = Status::Paid;
        Ok(self.change(from, before, false))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dec(s: &str) -> Decimal {
        crate::money::parse_decimal(s).unwrap()
    }

    fn input(service_side: Side, transfer_side: Side) -> QuoteInput {
        QuoteInput {
            price_usd: Some(dec("100")),
            price_crypto: None,
            crypto_usd: dec("1"),
            decimals: 6,
            service_percent: dec("1.9"),
            transfer_fee_usd: dec("1.4"),
            service_side,
            transfer_side,
            tolerance: Tolerance::None,
        }
    }

    #[test]
    fn quotes_like_the_reference_example() {
        // 100 USD in USDT_TRC20: service fee 1.9, transfer fee 1.4 (the contract's example).
        let q = Quote::compute(&input(Side::Merchant, Side::Merchant)).unwrap();
        assert_eq!(q.price, Amount::from_base(100_000_000));
        assert_eq!(q.service_fee, Amount::from_base(1_900_000));
        assert_eq!(q.transfer_fee, Amount::from_base(1_400_000));
        assert_eq!(q.due, q.price, "the merchant carries both fees");
        let s = q.settle(q.due);
        assert_eq!(s.credit, Amount::from_base(96_700_000));
        // The payer carries both: due grows, the merchant gets the full price.
        let q = Quote::compute(&input(Side::Client, Side::Client)).unwrap();
        assert_eq!(q.due, Amount::from_base(103_300_000));
        assert_eq!(q.settle(q.due).credit, q.price);
        // Mixed.
        let q = Quote::compute(&input(Side::Client, Side::Merchant)).unwrap();
        assert_eq!(q.due, Amount::from_base(101_900_000));
        assert_eq!(q.settle(q.due).credit, Amount::from_base(98_600_000));
    }

    #[test]
    fn conversion_rounds_what_is_owed_up() {
        let mut i = input(Side::Merchant, Side::Merchant);
        i.price_usd = Some(dec("100"));
        i.crypto_usd = dec("97000.12");
        i.decimals = 8;
        i.transfer_fee_usd = Decimal::ZERO;
        let q = Quote::compute(&i).unwrap();
        // 100 / 97000.12 = 0.001030926561... BTC → 103093 satoshi (rounded up).
        assert_eq!(q.price, Amount::from_base(103_093));
        assert_eq!(q.transfer_fee, Amount::ZERO);
        i.crypto_usd = Decimal::ZERO;
        assert_eq!(Quote::compute(&i), Err(QuoteError::BadRate));
        i.crypto_usd = dec("1");
        i.service_percent = dec("101");
        assert_eq!(Quote::compute(&i), Err(QuoteError::BadPercent));
    }

    #[test]
    fn a_reorg_takes_a_confirmed_payment_back() {
        let q = Quote::compute(&input(Side::Merchant, Side::Merchant)).unwrap();
        let mut inv = InvoiceState::new(Timestamp::from_micros(1_000));
        inv.choose_currency(q, Timestamp::EPOCH).unwrap();
        let half = Amount::from_base(q.due.base() / 2);
        let rest = q.due.saturating_sub(half);
        inv.payment_confirmed(half, Timestamp::EPOCH, false)
            .unwrap();
        let paid = inv
            .payment_confirmed(rest, Timestamp::EPOCH, false)
            .unwrap();
        assert!(paid.confirmed_now);
        assert_eq!(inv.status, Status::Paid);
        // The second payment's block leaves the chain: partial again, everything unsettled.
        let r = inv.payment_reversed(rest, Timestamp::EPOCH);
        assert_eq!((r.from, r.to), (Status::Paid, Status::Partial));
        assert!(r.unconfirmed_now);
        assert_eq!(r.unsettle, q.settle(q.due));
        assert_eq!(r.amount, rest);
        assert_eq!((inv.received, inv.confirmed), (half, None));
        // It is mined again: paid again, settled again.
        let again = inv
            .payment_confirmed(rest, Timestamp::EPOCH, false)
            .unwrap();
        assert!(again.confirmed_now);
        assert_eq!(again.settle, q.settle(q.due));
        // Both leave after expiry: cancelled, nothing settled.
        inv.payment_reversed(rest, Timestamp::from_micros(2_000));
        let r = inv.payment_reversed(half, Timestamp::from_micros(2_000));
        assert_eq!(r.to, Status::Canceled);
        assert_eq!(inv.received, Amount::ZERO);
        assert_eq!(inv.settled(), Settlement::default());
        // A seen payment that goes away is simply no longer processing.
        inv.payment_seen(half).unwrap();
        inv.payment_dropped(half);
        assert_eq!(inv.processing, Amount::ZERO);
    }

    #[test]
    fn tolerance_confirms_small_shortfalls() {
        let mut i = input(Side::Merchant, Side::Merchant);
        i.tolerance = Tolerance::Usd(dec("0.5"));
        let q = Quote::compute(&i).unwrap();
        assert_eq!(q.tolerance, Amount::from_base(500_000));
        let mut inv = InvoiceState::new(Timestamp::from_micros(1_000));
        inv.choose_currency(q, Timestamp::EPOCH).unwrap();
        let c = inv
            .payment_confirmed(Amount::from_base(99_600_000), Timestamp::EPOCH, false)
            .unwrap();
        assert_eq!(
            (c.from, c.to, c.confirmed_now),
            (Status::Created, Status::Paid, true)
        );
        assert_eq!(inv.confirmed, Some(Confirmation::Tolerance));
        // Percent tolerance: 1 % of 100 USD.
        i.tolerance = Tolerance::Percent(dec("1"));
        let q = Quote::compute(&i).unwrap();
        let mut inv = InvoiceState::new(Timestamp::from_micros(1_000));
        inv.choose_currency(q, Timestamp::EPOCH).unwrap();
        let c = inv
            .payment_confirmed(Amount::from_base(98_999_999), Timestamp::EPOCH, false)
            .unwrap();
        assert_eq!(c.to, Status::Partial, "just over 1 % short");
        let c = inv
            .payment_confirmed(Amount::from_base(2), Timestamp::EPOCH, false)
            .unwrap();
        assert_eq!((c.to, c.confirmed_now), (Status::Paid, true));
    }

    #[test]
    fn partial_then_top_up_then_late_overpayment() {
        let q = Quote::compute(&input(Side::Merchant, Side::Merchant)).unwrap();
        let expiry = Timestamp::from_micros(1_000_000);
        let mut inv = InvoiceState::new(expiry);
        inv.choose_currency(q, Timestamp::EPOCH).unwrap();
        inv.payment_seen(Amount::from_base(60_000_000)).unwrap();
        assert_eq!(
            inv.status,
            Status::Created,
            "seen is processing, still created"
        );
        let c = inv
            .payment_confirmed(Amount::from_base(60_000_000), Timestamp::EPOCH, true)
            .unwrap();
        assert_eq!(
            (c.to, c.confirmed_now, c.pending),
            (Status::Partial, false, Amount::from_base(60_000_000))
        );
        assert_eq!(inv.to_surcharge(), Amount::from_base(40_000_000));
        assert_eq!(
            inv.expire(expiry),
            None,
            "a partial invoice is not cancelled at expiry"
        );
        let c = inv
            .payment_confirmed(Amount::from_base(40_000_000), Timestamp::EPOCH, false)
            .unwrap();
        assert_eq!((c.to, c.confirmed_now), (Status::Paid, true));
        assert_eq!(c.settle, q.settle(q.due));
        // A payment after expiry is credited too, and flagged.
        let c = inv
            .payment_confirmed(Amount::from_base(10_000_000), expiry, false)
            .unwrap();
        assert_eq!(
            (c.from, c.to, c.confirmed_now),
            (Status::Paid, Status::Overpaid, false)
        );
        assert!(inv.paid_late);
        assert_eq!(c.settle.total(), Amount::from_base(10_000_000));
    }

    #[test]
    fn expiry_cancellation_and_merchant_confirmation() {
        let q = Quote::compute(&input(Side::Merchant, Side::Merchant)).unwrap();
        let expiry = Timestamp::from_micros(1_000_000);
        let mut inv = InvoiceState::new(expiry);
        assert_eq!(inv.expire(Timestamp::from_micros(999_999)), None);
        assert_eq!(inv.expire(expiry).map(|c| c.to), Some(Status::Canceled));
        assert_eq!(inv.cancel(), Err(InvalidTransition::NotCancellable));
        assert_eq!(
            inv.choose_currency(q, Timestamp::EPOCH),
            Err(InvalidTransition::CurrencyLocked)
        );

        let mut inv = InvoiceState::new(expiry);
        inv.choose_currency(q, Timestamp::EPOCH).unwrap();
        inv.payment_confirmed(Amount::from_base(50_000_000), Timestamp::EPOCH, false)
            .unwrap();
        assert_eq!(inv.cancel(), Err(InvalidTransition::NotCancellable));
        let c = inv.confirm_partial().unwrap();
        assert_eq!((c.to, c.confirmed_now), (Status::Paid, true));
        assert_eq!(inv.confirmed, Some(Confirmation::Merchant));
        assert_eq!(c.settle.total(), Amount::from_base(50_000_000));
        assert_eq!(inv.confirm_partial(), Err(InvalidTransition::NotPartial));
    }

    /// One step of a random payment history.
    #[derive(Clone, Debug)]
    enum Step {
        Seen(u64),
        Confirm(u64, bool),
        Expire,
        Cancel,
        MerchantConfirm,
        /// The n-th confirmed payment (mod the count) leaves the chain.
        Reverse(usize),
        /// The n-th seen payment (mod the count) is dropped from the mempool.
        Drop(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1u64..80_000_000).prop_map(Step::Seen),
            ((1u64..80_000_000), any::<bool>()).prop_map(|(a, late)| Step::Confirm(a, late)),
            Just(Step::Expire),
            Just(Step::Cancel),
            Just(Step::MerchantConfirm),
            (0usize..8).prop_map(Step::Reverse),
            (0usize..8).prop_map(Step::Drop),
        ]
    }

    proptest! {
        /// Whatever happens: every confirmed payment is counted, the credited amount is exactly
        /// the confirmed payments minus the fees, settlement never shrinks, and the status only
        /// moves along allowed transitions.
        #[test]
        fn random_payment_histories_keep_the_books(
            service_client in any::<bool>(),
            transfer_client in any::<bool>(),
            tolerance_cents in 0u32..300,
            steps in proptest::collection::vec(step(), 0..25),
        ) {
            let side = |c: bool| if c { Side::Client } else { Side::Merchant };
            let mut i = input(side(service_client), side(transfer_client));
            i.tolerance = Tolerance::Usd(Decimal::new(i64::from(tolerance_cents), 2));
            let q = Quote::compute(&i).unwrap();
            let expiry = Timestamp::from_micros(1_000_000);
            let mut inv = InvoiceState::new(expiry);
            inv.choose_currency(q, Timestamp::EPOCH).unwrap();
            let mut confirmed_sum = 0u128;
            let mut seen: Vec<u64> = Vec::new();
            let mut confirmed: Vec<u64> = Vec::new();
            let mut settled = Settlement::default();
            let mut pending = 0u128;
            for s in steps {
                let before = inv.status;
                if let Step::Reverse(n) = s {
                    if confirmed.is_empty() { continue; }
                    let a = confirmed.remove(n % confirmed.len());
                    confirmed_sum -= u128::from(a);
                    let r = inv.payment_reversed(Amount::from_base(u128::from(a)), Timestamp::EPOCH);
                    prop_assert!(before.may_revert_to(inv.status), "reorg {:?} -> {:?}", before, inv.status);
                    prop_assert_eq!(r.amount.base(), u128::from(a));
                    // Settled money goes back to pending, then the payment leaves pending.
                    settled = Settlement {
                        credit: settled.credit.checked_sub(r.unsettle.credit).unwrap(),
                        service_fee: settled.service_fee.checked_sub(r.unsettle.service_fee).unwrap(),
                        transfer_fee: settled.transfer_fee.checked_sub(r.unsettle.transfer_fee).unwrap(),
                    };
                    pending = (pending + r.unsettle.total().base()).checked_sub(u128::from(a)).unwrap();
                    // What stays settled is whatever the remaining payments settle; an
                    // unconfirmed invoice keeps its confirmed payments pending.
                    if inv.confirmed.is_none() {
                        pending = confirmed_sum;
                        prop_assert_eq!(settled, Settlement::default());
                    }
                } else {
                    let change = match s {
                        Step::Seen(a) => { seen.push(a); inv.payment_seen(Amount::from_base(u128::from(a))).ok() }
                        Step::Confirm(a, late) => {
                            let was = seen.iter().position(|x| *x == a);
                            if let Some(p) = was { seen.remove(p); }
                            confirmed_sum += u128::from(a);
                            confirmed.push(a);
                            let at = if late { expiry } else { Timestamp::EPOCH };
                            inv.payment_confirmed(Amount::from_base(u128::from(a)), at, was.is_some()).ok()
                        }
                        Step::Drop(n) => {
                            if !seen.is_empty() {
                                let a = seen.remove(n % seen.len());
                                inv.payment_dropped(Amount::from_base(u128::from(a)));
                            }
                            None
                        }
                        Step::Expire => inv.expire(expiry),
                        Step::Cancel => inv.cancel().ok(),
                        Step::MerchantConfirm => inv.confirm_partial().ok(),
                        Step::Reverse(_) => None,
                    };
                    prop_assert!(before.may_become(inv.status), "{:?} -> {:?}", before, inv.status);
                    if let Some(c) = change {
                    pending += c.pending.base();
                    // Pending money becomes settled once the invoice is confirmed.
                    if c.confirmed_now { pending = 0; }
                    settled = Settlement {
                        credit: settled.credit.checked_add(c.settle.credit).unwrap(),
                        service_fee: settled.service_fee.checked_add(c.settle.service_fee).unwrap(),
                        transfer_fee: settled.transfer_fee.checked_add(c.settle.transfer_fee).unwrap(),
                    };
                    }
                }
                // No payment is dropped: what counts is exactly what is confirmed on the chain,
                // and what is processing is exactly what is seen.
                prop_assert_eq!(inv.received.base(), confirmed_sum);
                prop_assert_eq!(inv.processing.base(), seen.iter().map(|a| u128::from(*a)).sum::<u128>());
                if inv.confirmed.is_some() {
                    // Credited = Σ confirmed − fees, and the books balance.
                    prop_assert_eq!(settled, q.settle(inv.received));
                    prop_assert_eq!(settled.total().base(), confirmed_sum);
                    prop_assert_eq!(pending, 0);
                } else {
                    prop_assert_eq!(settled, Settlement::default());
                    prop_assert_eq!(pending, confirmed_sum);
                }
            }
        }

        #[test]
        fn settlement_is_monotonic_and_balanced(received in 0u64..300_000_000, service_client in any::<bool>()) {
            let side = if service_client { Side::Client } else { Side::Merchant };
            let q = Quote::compute(&input(side, Side::Merchant)).unwrap();
            let a = q.settle(Amount::from_base(u128::from(received)));
            let b = q.settle(Amount::from_base(u128::from(received) + 1));
            prop_assert_eq!(a.total().base(), u128::from(received));
            prop_assert!(b.credit >= a.credit && b.service_fee >= a.service_fee && b.transfer_fee >= a.transfer_fee);
        }
    }
}
