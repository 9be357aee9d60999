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

use crate::Timestamp;
use crate::money::Amount;

mod price;
mod quote;

pub use price::{Price, PriceError};
pub use quote::{Priced, Quote, QuoteError, QuoteInput, Settlement, Side, Tolerance};

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

/// How a payment stands in the node's best chain now (worked out again every round, never
/// remembered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// In a block of the best chain with the network's confirmations: it counts.
    Counted,
    /// Seen but not counted yet: in the mempool, or in a block short of the confirmations.
    Pending,
    /// Neither in the best chain nor waiting: replaced, evicted, or its block left the chain
    /// and nothing brought it back.
    Gone,
}

/// One payment of an invoice (in the invoice's currency).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payment {
    /// Amount in base units.
    pub amount: Amount,
    /// Where it stands now.
    pub standing: Standing,
    /// When it was first seen (lateness is judged by this).
    pub seen_at: Timestamp,
}

/// What an invoice's state follows from, besides its payments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    /// The quote, once a currency is chosen.
    pub quote: Option<Quote>,
    /// Expiry.
    pub expires_at: Timestamp,
    /// When the merchant (or the API) cancelled it, unpaid.
    pub canceled_at: Option<Timestamp>,
    /// The merchant accepted a partial payment.
    pub accepted: bool,
}

/// What changed between two evaluations of an invoice, for the service to persist and act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// The invoice became confirmed (credit the merchant, send the postback).
    pub confirmed_now: bool,
    /// The invoice was confirmed and no longer is (a payment left the chain).
    pub unconfirmed_now: bool,
    /// The settlement before.
    pub settled_before: Settlement,
    /// The settlement after.
    pub settled_after: Settlement,
}

impl Change {
    /// Whether anything a person or a shop would see changed.
    pub fn is_visible(&self) -> bool {
        self.from != self.to || self.confirmed_now || self.unconfirmed_now
    }
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

    /// The state an invoice is in, worked out from its terms and its payments as they stand
    /// now — never from the path that led there, so any sequence of reorganisations, drops and
    /// returns that ends in the same chain gives the same state.
    ///
    /// - What counts is the sum of [`Standing::Counted`] payments; pending ones are
    ///   "processing".
    /// - Nothing counted: `canceled` once cancelled, or once expired with nothing in flight;
    ///   `created` otherwise (a payment in flight at expiry is waited for).
    /// - Counted: `overpaid` above the amount due, `paid` at it, `paid` below it when the
    ///   shortfall is within the tolerance or the merchant accepted it, else `partial`.
    /// - Confirmed (the merchant is credited): by the merchant's acceptance, by payment
    ///   (the amount due reached), or by tolerance; never with nothing counted.
    /// - Paid late: a counted payment first seen after expiry or cancellation.
    pub fn evaluate(terms: &Terms, payments: &[Payment], now: Timestamp) -> InvoiceState {
        let sum = |s: Standing| {
            payments
                .iter()
                .filter(|p| p.standing == s)
                .fold(Amount::ZERO, |acc, p| {
                    acc.checked_add(p.amount).unwrap_or(acc)
                })
        };
        let received = sum(Standing::Counted);
        let processing = sum(Standing::Pending);
        let due = terms.quote.map_or(Amount::ZERO, |q| q.due);
        let tolerance = terms.quote.map_or(Amount::ZERO, |q| q.tolerance);
        let nothing = received.is_zero() || terms.quote.is_none();
        let confirmed = if nothing {
            None
        } else if terms.accepted {
            Some(Confirmation::Merchant)
        } else if received >= due {
            Some(Confirmation::Payment)
        } else if due.saturating_sub(received) <= tolerance {
            Some(Confirmation::Tolerance)
        } else {
            None
        };
        let status = if nothing {
            let expired = now >= terms.expires_at && processing.is_zero();
            if terms.canceled_at.is_some() || expired {
                Status::Canceled
            } else {
                Status::Created
            }
        } else if received > due {
            Status::Overpaid
        } else if received == due || confirmed.is_some() {
            Status::Paid
        } else {
            Status::Partial
        };
        let late = |p: &Payment| {
            p.seen_at >= terms.expires_at || terms.canceled_at.is_some_and(|c| p.seen_at >= c)
        };
        InvoiceState {
            status,
            quote: terms.quote,
            expires_at: terms.expires_at,
            confirmed,
            paid_late: !nothing
                && payments
                    .iter()
                    .any(|p| p.standing == Standing::Counted && late(p)),
            received: if nothing { Amount::ZERO } else { received },
            processing,
        }
    }

    /// What changed from `self` to `after`.
    pub fn change_to(&self, after: &InvoiceState) -> Change {
        Change {
            from: self.status,
            to: after.status,
            confirmed_now: self.confirmed.is_none() && after.confirmed.is_some(),
            unconfirmed_now: self.confirmed.is_some() && after.confirmed.is_none(),
            settled_before: self.settled(),
            settled_after: after.settled(),
        }
    }

    /// The settlement of everything counted so far (zero while unconfirmed).
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

    /// Whether the merchant may cancel it: `created`, nothing paid, nothing in flight.
    pub fn check_cancel(&self) -> Result<(), InvalidTransition> {
        if self.status != Status::Created || !self.processing.is_zero() || !self.received.is_zero()
        {
            return Err(InvalidTransition::NotCancellable);
        }
        Ok(())
    }

    /// Whether the merchant may accept what arrived: `partial` and not confirmed.
    pub fn check_accept(&self) -> Result<(), InvalidTransition> {
        if self.status != Status::Partial || self.confirmed.is_some() {
            return Err(InvalidTransition::NotPartial);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
