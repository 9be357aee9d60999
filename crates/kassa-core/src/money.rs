//! Amounts of money. A crypto amount is an integer number of base units of one currency
//! (satoshi, wei, sun) as `u128`, because wei overflows 64 bits at about 9.22 ETH. Fiat amounts
//! and exchange rates are exact decimals. No floating point anywhere.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

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

    /// `floor(self × numerator / denominator)` in exact integer arithmetic; `None` on overflow or
    /// a zero denominator.
    pub fn mul_div_floor(self, numerator: u128, denominator: u128) -> Option<Amount> {
        if denominator == 0 {
            return None;
        }
        Some(Amount(self.0.checked_mul(numerator)? / denominator))
    }

    /// `ceil(self × numerator / denominator)` in exact integer arithmetic (for proportional
    /// fees); `None` on overflow or a zero denominator.
    pub fn mul_div_ceil(self, numerator: u128, denominator: u128) -> Option<Amount> {
        if denominator == 0 {
            return None;
        }
        let product = self.0.checked_mul(numerator)?;
        Some(Amount(product.div_ceil(denominator)))
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

    proptest! {
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
