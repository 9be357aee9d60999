//! Amounts of money. A crypto amount is an integer number of base units of one currency
//! (satoshi, wei, sun) as `u128`, because wei overflows 64 bits at about 9.22 ETH. Fiat amounts
//! and exchange rates are exact decimals. No floating point anywhere.
//!
//! Amounts have bounds that hold everywhere (see [`MAX_DIGITS`] and the quoting rules of
//! [`Amount::quotable`]) so that every figure Kassa states — on a page, in a QR code, as the
//! float of the CryptoCloud API — is the same decimal.

use std::fmt;

use num_bigint::BigUint;
use rust_decimal::{Decimal, RoundingStrategy};

mod exact;

pub use exact::Exact;

/// Every amount Kassa invoices — a fiat price counted in its minor units, a crypto price or a
/// quoted amount counted in whole units — is below 10^15, and a quoted amount has at most 15
/// significant digits: as many as a double-precision float carries exactly, so the JSON number
/// the API prints reads back as the same decimal.
pub const MAX_DIGITS: u32 = 15;

/// Fraction digits of a quoted crypto amount at most (as wallets show bitcoin); a currency with
/// fewer decimals is quoted to all of them.
pub const QUOTE_FRACTION_DIGITS: u32 = 8;

/// An amount in base units of some currency (which one is known from context).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u128);

/// Why a decimal amount was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a plain decimal number.
    #[error("not a number")]
    NotANumber,
    /// Below zero.
    #[error("must not be negative")]
    Negative,
    /// More fraction digits than the currency has.
    #[error("more decimal places than the currency allows")]
    TooPrecise,
    /// Too large to represent.
    #[error("too large")]
    TooLarge,
}

impl Amount {
    /// Nothing.
    pub const ZERO: Amount = Amount(0);

    /// Wraps base units.
    pub const fn from_base(units: u128) -> Self {
        Self(units)
    }

    /// The base units.
    pub const fn base(self) -> u128 {
        self.0
    }

    /// Whether it is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, `None` if it would go below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// `self - other`, or zero.
    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// The smaller of two amounts.
    pub fn min(self, other: Amount) -> Amount {
        Amount(self.0.min(other.0))
    }

    /// Parses a decimal string such as `"1.23456789"` exactly, for a currency with `decimals`
    /// fraction digits. More digits than that is an error, never a silent rounding.
    pub fn parse(text: &str, decimals: u32) -> Result<Amount, AmountError> {
        let t = text.trim();
        if t.starts_with('-') {
            return Err(AmountError::Negative);
        }
        let t = t.strip_prefix('+').unwrap_or(t);
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(AmountError::NotANumber);
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > decimals as usize {
            return Err(AmountError::TooPrecise);
        }
        let int_units = if int.is_empty() {
            0
        } else {
            int.parse::<u128>().map_err(|_| AmountError::TooLarge)?
        };
        let scale = 10u128.checked_pow(decimals).ok_or(AmountError::TooLarge)?;
        let frac_units = if frac.is_empty() {
            0
        } else {
            let digits: u128 = frac.parse().map_err(|_| AmountError::NotANumber)?;
            digits * 10u128.pow(decimals - frac.len() as u32)
        };
        int_units
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac_units))
            .map(Amount)
            .ok_or(AmountError::TooLarge)
    }

    /// The amount as a decimal string with `decimals` fraction digits, trailing zeros removed:
    /// `150000000` with 8 decimals is `"1.5"`.
    pub fn to_decimal_string(self, decimals: u32) -> String {
        let scale = 10u128.pow(decimals);
        let (int, frac) = (self.0 / scale, self.0 % scale);
        if frac == 0 {
            return int.to_string();
        }
        let frac = format!("{frac:0width$}", width = decimals as usize);
        format!("{int}.{}", frac.trim_end_matches('0'))
    }

    /// The amount as an exact decimal, if it fits (96-bit mantissa).
    pub fn to_decimal(self, decimals: u32) -> Option<Decimal> {
        let n = i128::try_from(self.0).ok()?;
        Decimal::try_from_i128_with_scale(n, decimals).ok()
    }

    /// Converts a non-negative decimal into base units, rounding as told.
    pub fn from_decimal(
        value: Decimal,
        decimals: u32,
        rounding: Rounding,
    ) -> Result<Amount, AmountError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(AmountError::Negative);
        }
        let strategy = match rounding {
            Rounding::Up => RoundingStrategy::AwayFromZero,
            Rounding::Down => RoundingStrategy::ToZero,
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        };
        let rounded = value.round_dp_with_strategy(decimals, strategy);
        // rounded = mantissa / 10^scale with scale <= decimals: scale up to base units.
        let mantissa = u128::try_from(rounded.mantissa()).map_err(|_| AmountError::Negative)?;
        let shift = decimals
            .checked_sub(rounded.scale())
            .ok_or(AmountError::TooPrecise)?;
        10u128
            .checked_pow(shift)
            .and_then(|m| mantissa.checked_mul(m))
            .map(Amount)
            .ok_or(AmountError::TooLarge)
    }

    /// `floor(self × numerator / denominator)` in exact integer arithmetic (the product may
    /// exceed 128 bits); `None` for a zero denominator or a result beyond 128 bits.
    pub fn mul_div_floor(self, numerator: u128, denominator: u128) -> Option<Amount> {
        self.mul_div(numerator, denominator, false)
    }

    /// `ceil(self × numerator / denominator)` in exact integer arithmetic (for proportional
    /// fees); `None` for a zero denominator or a result beyond 128 bits.
    pub fn mul_div_ceil(self, numerator: u128, denominator: u128) -> Option<Amount> {
        self.mul_div(numerator, denominator, true)
    }

    fn mul_div(self, numerator: u128, denominator: u128, up: bool) -> Option<Amount> {
        if denominator == 0 {
            return None;
        }
        if let Some(product) = self.0.checked_mul(numerator) {
            return Some(Amount(if up {
                product.div_ceil(denominator)
            } else {
                product / denominator
            }));
        }
        let product = BigUint::from(self.0) * numerator;
        let (q, r) = (&product / denominator, &product % denominator);
        let q = if up && r != BigUint::ZERO {
            q + 1u32
        } else {
            q
        };
        u128::try_from(q).ok().map(Amount)
    }

    /// How many decimal digits the base units have (0 for zero).
    fn digits(self) -> u32 {
        self.0.checked_ilog10().map_or(0, |d| d + 1)
    }

    /// Significant digits of the amount written in any unit (0 for zero): `1500` has 2.
    pub fn significant_digits(self) -> u32 {
        if self.0 == 0 {
            return 0;
        }
        let mut n = self.0;
        let mut zeros = 0;
        while n.is_multiple_of(10) {
            n /= 10;
            zeros += 1;
        }
        self.digits() - zeros
    }

    /// The step, in base units, that a quoted amount of about this size moves in: at most
    /// [`QUOTE_FRACTION_DIGITS`] fraction digits and at most [`MAX_DIGITS`] significant
    /// ones. Always a power of ten.
    pub fn quote_step(self, decimals: u32) -> u128 {
        let fraction = 10u128.pow(decimals.saturating_sub(QUOTE_FRACTION_DIGITS));
        let significant = 10u128.pow(self.digits().saturating_sub(MAX_DIGITS));
        fraction.max(significant)
    }

    /// Rounded up to a multiple of `step`; `None` beyond 128 bits or for a zero step.
    pub fn round_up_to(self, step: u128) -> Option<Amount> {
        if step == 0 {
            return None;
        }
        self.0.div_ceil(step).checked_mul(step).map(Amount)
    }

    /// The amount as it is quoted to a payer: rounded up (never a unit short) to at most
    /// [`QUOTE_FRACTION_DIGITS`] fraction digits and [`MAX_DIGITS`] significant digits. `None`
    /// only beyond 128 bits.
    pub fn quotable(self, decimals: u32) -> Option<Amount> {
        // One pass is enough: rounding up to the step either stays below the next power of
        // ten (so it keeps at most MAX_DIGITS significant digits) or lands exactly on it.
        self.round_up_to(self.quote_step(decimals))
    }

    /// Rounded up to at most [`MAX_DIGITS`] significant digits (whatever the fraction digits);
    /// `None` only beyond 128 bits.
    pub fn round_up_significant(self) -> Option<Amount> {
        self.round_up_to(10u128.pow(self.digits().saturating_sub(MAX_DIGITS)))
    }

    /// Whether the amount is already as it would be quoted.
    pub fn is_quotable(self, decimals: u32) -> bool {
        self.quotable(decimals) == Some(self)
    }
}

/// How to round when converting into base units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Towards the larger amount (what a payer owes: never a unit short).
    Up,
    /// Towards zero.
    Down,
    /// To nearest, halves up (displayed fiat values).
    HalfUp,
}

impl fmt::Display for Amount {
    /// Base units; use [`Amount::to_decimal_string`] to show a currency amount.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Parses an exact decimal from text (`"97000.12"`), refusing exponents and junk.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let t = text.trim();
    if t.is_empty() || t.contains(['e', 'E']) {
        return None;
    }
    Decimal::from_str_exact(t).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(Amount::parse("1.5", 8), Ok(Amount(150_000_000)));
        assert_eq!(Amount::parse("0.00000001", 8), Ok(Amount(1)));
        assert_eq!(Amount::parse("12", 6), Ok(Amount(12_000_000)));
        assert_eq!(Amount::parse(".5", 2), Ok(Amount(50)));
        assert_eq!(
            Amount::parse("1.10", 1),
            Ok(Amount(11)),
            "trailing zeros are not precision"
        );
        assert_eq!(
            Amount::parse("0.000000001", 8),
            Err(AmountError::TooPrecise)
        );
        assert_eq!(Amount::parse("-1", 8), Err(AmountError::Negative));
        assert_eq!(Amount::parse("1e5", 8), Err(AmountError::NotANumber));
        assert_eq!(Amount::parse("", 8), Err(AmountError::NotANumber));
        assert_eq!(Amount::parse(".", 8), Err(AmountError::NotANumber));
        assert_eq!(Amount::parse("1,5", 8), Err(AmountError::NotANumber));
        // 2^128 wei does not fit.
        assert_eq!(
            Amount::parse("340282366920938463464", 18),
            Err(AmountError::TooLarge)
        );
        // More than 9.22 ETH in wei does fit (the reason for u128).
        assert_eq!(
            Amount::parse("100.000000000000000001", 18),
            Ok(Amount(100_000_000_000_000_000_001))
        );
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(Amount(150_000_000).to_decimal_string(8), "1.5");
        assert_eq!(Amount(1).to_decimal_string(8), "0.00000001");
        assert_eq!(Amount(5).to_decimal_string(0), "5");
        assert_eq!(Amount(0).to_decimal_string(6), "0");
    }

    #[test]
    fn converts_from_decimals_with_chosen_rounding() {
        let third = Decimal::from(1) / Decimal::from(3);
        assert_eq!(
            Amount::from_decimal(third, 6, Rounding::Up),
            Ok(Amount(333_334))
        );
        assert_eq!(
            Amount::from_decimal(third, 6, Rounding::Down),
            Ok(Amount(333_333))
        );
        assert_eq!(
            Amount::from_decimal(Decimal::new(125, 2), 1, Rounding::HalfUp),
            Ok(Amount(13))
        );
        assert_eq!(
            Amount::from_decimal(Decimal::new(12, 0), 18, Rounding::Up),
            Ok(Amount(12_000_000_000_000_000_000))
        );
        assert_eq!(
            Amount::from_decimal(Decimal::new(-1, 0), 2, Rounding::Up),
            Err(AmountError::Negative)
        );
    }

    #[test]
    fn proportional_fees_round_up() {
        assert_eq!(Amount(1000).mul_div_ceil(19, 1000), Some(Amount(19)));
        assert_eq!(Amount(1001).mul_div_ceil(19, 1000), Some(Amount(20)));
        assert_eq!(Amount(1).mul_div_ceil(1, 0), None);
    }

    #[test]
    fn wide_products_do_not_overflow() {
        // 10^33 wei (10^15 ETH) × 1.9 % needs more than 128 bits on the way.
        let big = Amount(10u128.pow(33));
        assert_eq!(
            big.mul_div_ceil(19_000, 1_000_000),
            Some(Amount(19 * 10u128.pow(30)))
        );
        assert_eq!(
            Amount(u128::MAX).mul_div_floor(u128::MAX, u128::MAX),
            Some(Amount(u128::MAX))
        );
        assert_eq!(
            Amount(u128::MAX - 1).mul_div_ceil(u128::MAX, u128::MAX - 1),
            Some(Amount(u128::MAX))
        );
        assert_eq!(Amount(u128::MAX).mul_div_ceil(2, 1), None);
    }

    #[test]
    fn quoted_amounts_have_fifteen_digits_and_eight_decimals() {
        // 0.029825660000000002 ETH: the wei beyond 8 decimals round up.
        let a = Amount(29_825_660_000_000_002);
        assert_eq!(a.quotable(18), Some(Amount(29_825_670_000_000_000)));
        assert_eq!(a.significant_digits(), 17);
        // Six-decimal tokens keep all six.
        assert_eq!(Amount(1_234_567).quotable(6), Some(Amount(1_234_567)));
        // A large amount keeps 15 significant digits.
        let pepe = Amount(123_456_789_012_345_678 * 10u128.pow(12));
        let q = pepe.quotable(18).unwrap();
        assert_eq!(q.significant_digits(), 15);
        assert!(q >= pepe && q.is_quotable(18));
        // Carrying into a new digit lands on the power of ten.
        let nines = Amount(9_999_999_999_999_999);
        assert_eq!(nines.quotable(0), Some(Amount(10_000_000_000_000_000)));
        assert_eq!(Amount::ZERO.quotable(18), Some(Amount::ZERO));
        // What remains to pay keeps its wei when a float can say it.
        assert_eq!(Amount(1).round_up_significant(), Some(Amount(1)));
        assert_eq!(
            Amount(1_234_567_890_123_456_789).round_up_significant(),
            Some(Amount(1_234_567_890_123_460_000))
        );
    }

    proptest! {
        #[test]
        fn quotable_amounts_are_exact_floats(units in any::<u128>(), decimals in 0u32..=18) {
            let a = Amount(units);
            if let Some(q) = a.quotable(decimals) {
                prop_assert!(q >= a);
                prop_assert!(q.significant_digits() <= MAX_DIGITS);
                prop_assert!(q.is_quotable(decimals));
                let text = q.to_decimal_string(decimals);
                let float: f64 = text.parse().unwrap();
                let back = serde_json::to_string(&float).unwrap();
                let back = back.strip_suffix(".0").unwrap_or(&back);
                // The float prints as the same decimal (possibly in exponent form).
                let exact = Decimal::from_scientific(back).or_else(|_| back.parse::<Decimal>());
                if let Ok(d) = exact {
                    prop_assert_eq!(Amount::from_decimal(d, decimals, Rounding::Down), Ok(q));
                }
            }
        }

        #[test]
        fn text_round_trips(units in any::<u64>(), decimals in 0u32..=18) {
            let a = Amount(u128::from(units));
            prop_assert_eq!(Amount::parse(&a.to_decimal_string(decimals), decimals), Ok(a));
        }

        #[test]
        fn decimal_round_trips(units in 0u64..=u64::MAX, decimals in 0u32..=18) {
            let a = Amount(u128::from(units));
            let d = a.to_decimal(decimals).unwrap();
            prop_assert_eq!(Amount::from_decimal(d, decimals, Rounding::Down), Ok(a));
        }
    }
}
