//! [`DbAmount`]: an on-chain amount (`u128` base units) as a database value — `TEXT` on
//! SQLite, `NUMERIC(78,0)` on PostgreSQL (which holds any 256-bit amount). SQLite has no exact
//! type for such numbers, so amounts are never summed or compared in SQL there; balances are
//! kept in rows updated inside the transaction that moves money.

use kassa_core::Amount;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

/// An amount of base units as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DbAmount(pub Amount);

impl From<Amount> for DbAmount {
    fn from(a: Amount) -> Self {
        DbAmount(a)
    }
}

impl From<DbAmount> for Amount {
    fn from(a: DbAmount) -> Self {
        a.0
    }
}

const NUMERIC_OID: u32 = 1700;
const NBASE: u128 = 10_000;

impl Type<Postgres> for DbAmount {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(NUMERIC_OID))
    }
}

impl Encode<'_, Postgres> for DbAmount {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend(numeric_bytes(self.0.base()));
        Ok(IsNull::No)
    }
}

/// PostgreSQL's binary NUMERIC: ndigits, weight, sign, dscale (i16 each) and base-10000
/// digits, most significant first.
fn numeric_bytes(mut n: u128) -> Vec<u8> {
    let mut digits = Vec::new();
    while n > 0 {
        digits.push((n % NBASE) as i16);
        n /= NBASE;
    }
    digits.reverse();
    let weight = digits.len().saturating_sub(1) as i16;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let mut out = Vec::with_capacity(8 + digits.len() * 2);
    out.extend((digits.len() as i16).to_be_bytes());
    out.extend(weight.to_be_bytes());
    out.extend(0u16.to_be_bytes());
    out.extend(0u16.to_be_bytes());
    for d in digits {
        out.extend(d.to_be_bytes());
    }
    out
}

fn parse_numeric(bytes: &[u8]) -> Result<u128, BoxDynError> {
    let word = |i: usize| -> Result<i16, BoxDynError> {
        let b = bytes.get(i * 2..i * 2 + 2).ok_or("truncated NUMERIC")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "bad NUMERIC length")?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    if sign != 0 {
        return Err("amount is negative or not a number".into());
    }
    let mut value: u128 = 0;
    for i in 0..ndigits {
        let digit = word(4 + i)?;
        let power = weight - i as i32;
        if power < 0 {
            if digit != 0 {
                return Err("amount has a fraction".into());
            }
            continue;
        }
        let place = NBASE
            .checked_pow(u32::try_from(power)?)
            .ok_or("amount too large")?;
        let add = u128::try_from(digit)?
            .checked_mul(place)
            .ok_or("amount too large")?;
        value = value.checked_add(add).ok_or("amount too large")?;
    }
    Ok(value)
}

impl Decode<'_, Postgres> for DbAmount {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        let units = match value.format() {
            PgValueFormat::Binary => parse_numeric(value.as_bytes()?)?,
            PgValueFormat::Text => value.as_str()?.parse::<u128>()?,
        };
        Ok(DbAmount(Amount::from_base(units)))
    }
}

impl Type<Sqlite> for DbAmount {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for DbAmount {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.0.base().to_string(), buf)
    }
}

impl Decode<'_, Sqlite> for DbAmount {
    fn decode(value: SqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<Sqlite>>::decode(value)?;
        Ok(DbAmount(Amount::from_base(text.parse::<u128>()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_round_trips() {
        for n in [
            0u128,
            1,
            9_999,
            10_000,
            10_001,
            100_000_000,
            123_456_789_012_345_678_901_234_567_890,
            u128::MAX,
        ] {
            assert_eq!(parse_numeric(&numeric_bytes(n)).unwrap(), n, "{n}");
        }
        // 10^8 is one base-10000 digit "1" with weight 2 (trailing zero digits stripped).
        assert_eq!(
            numeric_bytes(100_000_000),
            vec![0, 1, 0, 2, 0, 0, 0, 0, 0, 1]
        );
        // Fractions and negatives are refused.
        assert!(parse_numeric(&[0, 1, 255, 255, 0, 0, 0, 1, 0, 5]).is_err());
        assert!(parse_numeric(&[0, 1, 0, 0, 0x40, 0, 0, 0, 0, 5]).is_err());
    }
}
