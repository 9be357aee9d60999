//! Exact conversions between currencies. A price in fiat, a rate in dollars per coin and a
//! network fee in dollars are decimals with up to 28 significant digits each; their products
//! and quotients need more than any fixed-width type holds (a fiat amount × its rate × 10^18 ÷ a
//! coin's rate reaches ~300 bits). [`Exact`] keeps such a value as a ratio of two unbounded
//! integers and rounds once, at the end, the way the caller says — so "rounded up" means the
//! true value rounded up, never a value already rounded to 28 digits on the way.

use num_bigint::BigUint;
use rust_decimal::Decimal;

use super::{Amount, AmountError, Rounding};

/// A non-negative rational number, exactly.
#[derive(Clone, Debug)]
pub struct Exact {
    num: BigUint,
    den: BigUint,
}

impl Ord for Exact {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.num * &other.den).cmp(&(&other.num * &self.den))
    }
}

impl PartialOrd for Exact {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Exact {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Exact {}

fn pow10(n: u32) -> BigUint {
    BigUint::from(10u32).pow(n)
}

impl Exact {
    /// A non-negative decimal; `None` for a negative one.
    pub fn decimal(d: Decimal) -> Option<Exact> {
        let m = u128::try_from(d.mantissa()).ok()?;
        Some(Exact {
            num: BigUint::from(m),
            den: pow10(d.scale()),
        })
    }

    /// An amount of a currency with `decimals` fraction digits, in whole units.
    pub fn amount(a: Amount, decimals: u32) -> Exact {
        Exact {
            num: BigUint::from(a.base()),
            den: pow10(decimals),
        }
    }

    /// Whether it is zero.
    pub fn is_zero(&self) -> bool {
        self.num == BigUint::ZERO
    }

    /// `self × other`.
    pub fn times(&self, other: &Exact) -> Exact {
        Exact {
            num: &self.num * &other.num,
            den: &self.den * &other.den,
        }
    }

    /// `self ÷ other`; `None` when `other` is zero.
    pub fn per(&self, other: &Exact) -> Option<Exact> {
        if other.is_zero() {
            return None;
        }
        Some(Exact {
            num: &self.num * &other.den,
            den: &self.den * &other.num,
        })
    }

    /// The value × 10^`digits`, rounded to an integer as told.
    fn scaled(&self, digits: u32, rounding: Rounding) -> BigUint {
        let n = &self.num * pow10(digits);
        let (q, r) = (&n / &self.den, &n % &self.den);
        let up = match rounding {
            Rounding::Down => false,
            Rounding::Up => r != BigUint::ZERO,
            Rounding::HalfUp => r * 2u32 >= self.den,
        };
        if up { q + 1u32 } else { q }
    }

    /// The value in base units of a currency with `decimals` fraction digits, rounded as told;
    /// too large for 128 bits is an error.
    pub fn to_amount(&self, decimals: u32, rounding: Rounding) -> Result<Amount, AmountError> {
        u128::try_from(self.scaled(decimals, rounding))
            .map(Amount::from_base)
            .map_err(|_| AmountError::TooLarge)
    }

    /// The value rounded to `dp` fraction digits as a decimal, if it fits one (96 bits).
    pub fn to_decimal(&self, dp: u32, rounding: Rounding) -> Option<Decimal> {
        let m = i128::try_from(self.scaled(dp, rounding)).ok()?;
        Decimal::try_from_i128_with_scale(m, dp).ok()
    }

    /// The value rounded to `dp` fraction digits as text (`"12.30"`): any size, never fails.
    pub fn to_text(&self, dp: u32, rounding: Rounding) -> String {
        let digits = self.scaled(dp, rounding).to_string();
        let dp = dp as usize;
        if dp == 0 {
            return digits;
        }
        let padded = format!("{digits:0>width$}", width = dp + 1);
        let (int, frac) = padded.split_at(padded.len() - dp);
        format!("{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dec(s: &str) -> Decimal {
        crate::money::parse_decimal(s).unwrap()
    }

    #[test]
    fn rounds_once_at_the_end() {
        // 999999999999999.99 USD in ETH at 4000.12: 29 significant digits of wei, which a
        // 96-bit decimal would round before the final rounding up.
        let usd = Exact::decimal(dec("999999999999999.99")).unwrap();
        let rate = Exact::decimal(dec("4000.12")).unwrap();
        let wei = usd.per(&rate).unwrap().to_amount(18, Rounding::Up).unwrap();
        // Checked in integers: 99999999999999999 × 10^18 / 400012, rounded up.
        let n = 99_999_999_999_999_999u128 * 10u128.pow(18);
        assert_eq!(wei.base(), n.div_ceil(400_012));
        assert_eq!(
            usd.per(&rate)
                .unwrap()
                .to_amount(18, Rounding::Down)
                .unwrap()
                .base(),
            n / 400_012
        );
        assert!(usd.per(&Exact::decimal(Decimal::ZERO).unwrap()).is_none());
        assert!(Exact::decimal(dec("-1")).is_none());
        // Compared by value, not by representation.
        assert_eq!(
            Exact::decimal(dec("0.50")).unwrap(),
            Exact::decimal(dec("0.5")).unwrap()
        );
        assert!(Exact::decimal(dec("0.0099")).unwrap() < Exact::decimal(dec("0.01")).unwrap());
    }

    #[test]
    fn text_has_any_size() {
        let huge = Exact::amount(Amount::from_base(u128::MAX), 0)
            .times(&Exact::decimal(dec("79228162514264337593543950335")).unwrap());
        assert!(huge.to_decimal(2, Rounding::HalfUp).is_none());
        assert!(huge.to_text(2, Rounding::HalfUp).ends_with(".00"));
        let cent = Exact::decimal(dec("0.005")).unwrap();
        assert_eq!(cent.to_text(2, Rounding::HalfUp), "0.01");
        assert_eq!(cent.to_text(2, Rounding::Down), "0.00");
        assert_eq!(cent.to_text(0, Rounding::Up), "1");
        assert_eq!(
            cent.to_decimal(2, Rounding::HalfUp),
            Some(Decimal::new(1, 2))
        );
        assert_eq!(
            Exact::amount(Amount::from_base(u128::MAX), 0).to_amount(1, Rounding::Down),
            Err(AmountError::TooLarge)
        );
    }

    proptest! {
        #[test]
        fn agrees_with_integer_arithmetic(a in any::<u64>(), b in 1u64.., c in 1u64..) {
            // a × b / c in exact integers, rounded each way.
            let x = Exact::amount(Amount::from_base(a.into()), 0)
                .times(&Exact::amount(Amount::from_base(b.into()), 0))
                .per(&Exact::amount(Amount::from_base(c.into()), 0))
                .unwrap();
            let n = u128::from(a) * u128::from(b);
            let c = u128::from(c);
            prop_assert_eq!(x.to_amount(0, Rounding::Down).unwrap().base(), n / c);
            prop_assert_eq!(x.to_amount(0, Rounding::Up).unwrap().base(), n.div_ceil(c));
            let half = if (n % c) * 2 >= c { n / c + 1 } else { n / c };
            prop_assert_eq!(x.to_amount(0, Rounding::HalfUp).unwrap().base(), half);
        }
    }
}
