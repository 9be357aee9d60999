//! Solana addresses.
//!
//! An address is a 32-byte ed25519 public key (or a program-derived address, which is off the
//! curve) written in plain base58: 32 to 44 characters. There is no checksum, so a typo is
//! caught only when it changes the decoded length; the form layer should ask for the address to
//! be pasted, not typed. Whether the key is on the curve is not checked: program-derived
//! addresses are valid destinations too.

use super::AddressError;

/// The base58 form of a 32-byte public key.
pub fn encode(key: &[u8; 32]) -> String {
    bs58::encode(key).into_string()
}

/// Decodes a Solana address: base58 of exactly 32 bytes.
pub fn decode(address: &str) -> Result<[u8; 32], AddressError> {
    // The shortest is 32 × `1` (32 zero bytes), the longest 44 characters; checking first keeps
    // long junk away from the decoder.
    if !(32..=44).contains(&address.len()) {
        return Err(AddressError::Format);
    }
    let bytes = bs58::decode(address)
        .into_vec()
        .map_err(|_| AddressError::Format)?;
    bytes.try_into().map_err(|_| AddressError::Format)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn well_known_addresses_decode() {
        // System program (all zeros), SPL Token program, USDC mint.
        assert_eq!(decode("11111111111111111111111111111111"), Ok([0u8; 32]));
        for address in [
            "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
            "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        ] {
            let key = decode(address).unwrap();
            assert_eq!(encode(&key), address);
        }
        assert_eq!(
            encode(&[0xff; 32]),
            "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG"
        );
    }

    #[test]
    fn refuses_wrong_lengths_and_characters() {
        for address in [
            "",
            "1111111111111111111111111111111",
            "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1vv",
            "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt10",
            "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        ] {
            assert_eq!(decode(address), Err(AddressError::Format), "{address}");
        }
        // Without a checksum, a dropped character that still leaves 32 bytes goes unnoticed:
        // the limitation the module docs warn about.
        assert!(decode("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1").is_ok());
    }

    proptest! {
        #[test]
        fn round_trips(key in any::<[u8; 32]>()) {
            let address = encode(&key);
            prop_assert!((32..=44).contains(&address.len()), "{}", address);
            prop_assert_eq!(decode(&address), Ok(key));
        }
    }
}
