//! TRON addresses.
//!
//! A TRON account is the same 20 bytes as an EVM address (the tail of Keccak-256 of the public
//! key), written base58check with the version byte `0x41`: 25 bytes with the four-byte
//! double-SHA-256 checksum, always 34 characters starting with `T`. The hex form (`41…`) that
//! TRON's APIs use is not accepted from people.

use super::AddressError;

/// The version byte of every TRON address (what makes them start with `T`).
pub const VERSION: u8 = 0x41;

/// The base58check form of a 20-byte account: `T…`, 34 characters.
pub fn encode(bytes: &[u8; 20]) -> String {
    let mut payload = [0u8; 21];
    payload[0] = VERSION;
    payload[1..].copy_from_slice(bytes);
    bs58::encode(payload).with_check().into_string()
}

/// Decodes a TRON address, checking the checksum and the `0x41` version byte.
pub fn decode(address: &str) -> Result<[u8; 20], AddressError> {
    let (version, bytes) = super::decode_base58check_20(address)?;
    if version != VERSION {
        // A base58check address of the right size with another version byte: Bitcoin or
        // Litecoin legacy, most likely.
        return Err(AddressError::WrongNetwork);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn private_key_one_vector() {
        let bytes: [u8; 20] = hex::decode("7e5f4552091a69125d5dfcb7b8c2659029395bdf")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(encode(&bytes), "TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC");
        assert_eq!(decode("TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HC"), Ok(bytes));
    }

    #[test]
    fn usdt_contract_decodes() {
        // The USDT TRC20 contract, the most pasted TRON address there is.
        let bytes = decode("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").unwrap();
        assert_eq!(encode(&bytes), "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t");
    }

    #[test]
    fn refuses_typos_and_other_shapes() {
        use AddressError::*;
        assert_eq!(decode("TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2HD"), Err(Checksum));
        assert_eq!(decode("TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2H"), Err(Checksum));
        assert_eq!(decode("TMVQGm1qAQYVdetCeGRRkTWYYrLXuHK2H0"), Err(Format));
        assert_eq!(
            decode("417e5f4552091a69125d5dfcb7b8c2659029395bdf"),
            Err(Format)
        );
        assert_eq!(decode(""), Err(Format));
        assert_eq!(
            decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            Err(WrongNetwork)
        );
    }

    proptest! {
        #[test]
        fn round_trips(bytes in any::<[u8; 20]>()) {
            let address = encode(&bytes);
            prop_assert_eq!(address.len(), 34);
            prop_assert!(address.starts_with('T'));
            prop_assert_eq!(decode(&address), Ok(bytes));
        }
    }
}
