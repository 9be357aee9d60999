//! Quotes: what is due in the currency the payer picked, with the fees and who carries them,
//! and how what arrives settles into credit and fees.

use rust_decimal::Decimal;

use crate::money::{Amount, AmountError, Exact, MAX_DIGITS, Rounding};

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

impl Tolerance {
    /// The stored kind: `none`, `percent` or `usd`.
    pub fn kind(self) -> &'static str {
        match self {
            Tolerance::None => "none",
            Tolerance::Percent(_) => "percent",
            Tolerance::Usd(_) => "usd",
        }
    }

    /// Its value (zero for none).
    pub fn value(self) -> Decimal {
        match self {
            Tolerance::None => Decimal::ZERO,
            Tolerance::Percent(v) | Tolerance::Usd(v) => v,
        }
    }

    /// A tolerance from its stored kind and value; `None` for an unknown kind.
    pub fn from_parts(kind: &str, value: Decimal) -> Option<Tolerance> {
        match kind {
            "none" => Some(Tolerance::None),
            "percent" => Some(Tolerance::Percent(value)),
            "usd" => Some(Tolerance::Usd(value)),
            _ => None,
        }
    }
}

/// What a quote converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priced {
    /// A fiat amount and the US dollars one unit of that fiat is worth.
    Fiat {
        /// The amount.
        amount: Decimal,
        /// US dollars per unit.
        usd: Decimal,
    },
    /// An exact crypto amount in base units.
    Crypto(Amount),
}

/// Everything a quote is computed from.
#[derive(Clone, Copy, Debug)]
pub struct QuoteInput {
    /// The price.
    pub price: Priced,
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
    /// The smallest amount due the network can carry (its dust limit, at least one base unit)
    /// for an invoice; `None` for the quote of what already arrived (a static-wallet top-up),
    /// which has no bounds.
    pub minimum: Option<Amount>,
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
    /// The price is zero.
    #[error("the price must be above zero")]
    NoPrice,
    /// The amount due would reach 10^15 whole units of the currency (or 128 bits).
    #[error("the amount is too large")]
    TooLarge,
    /// The amount due is below the smallest payment the network carries.
    #[error("the amount is below the network's smallest payment, {0} base units")]
    BelowMinimum(Amount),
    /// A crypto price plus the fees the payer carries cannot be stated in 15 significant
    /// digits.
    #[error("the price and its fees have more digits than a quote can state")]
    TooPrecise,
    /// A percentage is out of range.
    #[error("the percentage must be between 0 and 100")]
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

/// The largest power of ten (at most `cap`) that divides `a`.
fn step_dividing(a: Amount, cap: u128) -> u128 {
    let mut step = 1u128;
    while step < cap && a.base().is_multiple_of(step * 10) {
        step *= 10;
    }
    step
}

/// The parts of a quote rounded up to multiples of `step`.
struct Parts {
    price: Amount,
    service_fee: Amount,
    transfer_fee: Amount,
    due: Amount,
}

impl Parts {
    fn at(q: &QuoteInput, price: Amount, transfer: Amount, ppm: u32, step: u128) -> Option<Parts> {
        let service_fee = price
            .mul_div_ceil(u128::from(ppm), 1_000_000)?
            .round_up_to(step)?;
        let transfer_fee = transfer.round_up_to(step)?;
        let mut due = price;
        if q.service_side == Side::Client {
            due = due.checked_add(service_fee)?;
        }
        if q.transfer_side == Side::Client {
            due = due.checked_add(transfer_fee)?;
        }
        Some(Parts {
            price,
            service_fee,
            transfer_fee,
            due,
        })
    }
}

impl Quote {
    /// Computes a quote, exactly: the price (a fiat amount × its dollar rate ÷ the coin's rate)
    /// and the fees are worked out as exact fractions and rounded up once — what the payer
    /// owes is never a unit short. Then every part is rounded up to one step, a power of ten,
    /// so that the amount due has at most 8 fraction digits and 15 significant digits: the
    /// same decimal on the page, in the QR code, as the API's float and in what a payment must
    /// reach. A crypto price is never rounded (it was accepted as quotable); only its fees are.
    /// The tolerance is rounded down.
    pub fn compute(q: &QuoteInput) -> Result<Quote, QuoteError> {
        let rate = Exact::decimal(q.crypto_usd)
            .filter(|r| !r.is_zero())
            .ok_or(QuoteError::BadRate)?;
        let service_ppm = percent_to_ppm(q.service_percent)?;
        let (exact_price, fixed) = match q.price {
            Priced::Crypto(a) => (a, true),
            Priced::Fiat { amount, usd } => {
                let usd = Exact::decimal(amount)
                    .zip(Exact::decimal(usd))
                    .map(|(a, u)| a.times(&u))
                    .ok_or(QuoteError::NoPrice)?;
                let units = usd.per(&rate).ok_or(QuoteError::BadRate)?;
                (units.to_amount(q.decimals, Rounding::Up)?, false)
            }
        };
        if exact_price.is_zero() {
            return Err(QuoteError::NoPrice);
        }
        let transfer = Exact::decimal(q.transfer_fee_usd.max(Decimal::ZERO))
            .and_then(|usd| usd.per(&rate))
            .ok_or(QuoteError::BadRate)?
            .to_amount(q.decimals, Rounding::Up)?;
        let exact =
            Parts::at(q, exact_price, transfer, service_ppm, 1).ok_or(QuoteError::TooLarge)?;
        let mut step = exact.due.quote_step(q.decimals);
        if fixed {
            step = step_dividing(exact_price, step);
        }
        let parts = loop {
            let price = if fixed {
                exact_price
            } else {
                exact_price.round_up_to(step).ok_or(QuoteError::TooLarge)?
            };
            let parts =
                Parts::at(q, price, transfer, service_ppm, step).ok_or(QuoteError::TooLarge)?;
            // A top-up's due is what arrived, whatever its digits.
            if parts.due.is_quotable(q.decimals) || (fixed && parts.due == price) {
                break parts;
            }
            if fixed {
                return Err(QuoteError::TooPrecise);
            }
            // Rounding carried into a new digit (…999 + fees → 1000…01): a coarser step.
            step = step.checked_mul(10).ok_or(QuoteError::TooLarge)?;
        };
        if let Some(minimum) = q.minimum {
            if parts.due.base() >= 10u128.pow(MAX_DIGITS + q.decimals) {
                return Err(QuoteError::TooLarge);
            }
            if parts.due < minimum {
                return Err(QuoteError::BelowMinimum(minimum));
            }
        }
        let tolerance = match q.tolerance {
            Tolerance::None => Amount::ZERO,
            Tolerance::Percent(p) => parts
                .due
                .mul_div_floor(u128::from(percent_to_ppm(p)?), 1_000_000)
                .ok_or(QuoteError::TooLarge)?,
            Tolerance::Usd(usd) => Exact::decimal(usd.max(Decimal::ZERO))
                .and_then(|usd| usd.per(&rate))
                .ok_or(QuoteError::BadRate)?
                .to_amount(q.decimals, Rounding::Down)?,
        };
        Ok(Quote {
            price: parts.price,
            service_fee: parts.service_fee,
            transfer_fee: parts.transfer_fee,
            due: parts.due,
            tolerance,
            service_ppm,
        })
    }

    /// What is still to pay after `received`, as a payer is told it: exact when it has at
    /// most 15 significant digits (so a float states it), else rounded up to 15 — paying it
    /// is never short.
    pub fn remaining(&self, received: Amount) -> Amount {
        let missing = self.due.saturating_sub(received);
        missing.round_up_significant().unwrap_or(missing)
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
