//! EVM addresses (Ethereum, BNB Smart Chain, Arbitrum, Optimism, Base: one format for all).
//!
//! An address is 20 bytes written as `0x` and 40 hex digits. EIP-55 hides a checksum in the
//! case of the letters: a letter is upper case when the matching nibble of
//! Keccak-256(lower-case hex) is 8 or more. All-lower and all-upper addresses carry no checksum
//! and are accepted as written (wallets still produce them); a mixed-case address must match
//! its checksum exactly, because mixed case is the promise that it has one.

use sha3::{Digest, Keccak256};

use super::AddressError;

/// The EIP-55 checksummed form of a 20-byte address: `0x5aAeb6053F3E…`.
pub fn encode(bytes: &[u8; 20]) -> String {
    let lower = hex::encode(bytes);
    let hash = Keccak256::digest(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        // Nibble i of the hash: the high nibble of byte i/2 for even i, the low one for odd i.
        let byte = hash[i / 2];
        let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
        out.push(if nibble >= 8 {
            c.to_ascii_uppercase()
        } else {
            c
        });
    }
    out
}

/// Decodes an EVM address, checking the EIP-55 checksum when the letters are of mixed case.
pub fn decode(address: &str) -> Result<[u8; 20], AddressError> {
    let digits = address.strip_prefix("0x").ok_or(AddressError::Format)?;
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AddressError::Format);
    }
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(digits, &mut bytes).map_err(|_| AddressError::Format)?;
    let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && encode(&bytes)[2..] != *digits {
        return Err(AddressError::Checksum);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The examples of EIP-55 itself (all-caps, all-lower and mixed groups).
    const EIP55: [&str; 8] = [
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn eip55_vectors_encode_and_decode() {
        for address in EIP55 {
            let bytes = decode(address).unwrap();
            assert_eq!(encode(&bytes), address);
            assert_eq!(decode(&address.to_lowercase()), Ok(bytes));
            assert_eq!(
                decode(&format!("0x{}", address[2..].to_uppercase())),
                Ok(bytes)
            );
        }
    }

    #[test]
    fn private_key_one() {
        // The address of secp256k1 private key 1; the same 20 bytes are TRON's TMVQGm1q… example.
        let bytes: [u8; 20] = hex::decode("7e5f4552091a69125d5dfcb7b8c2659029395bdf")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(encode(&bytes), "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
    }

    #[test]
    fn wrong_mixed_case_is_a_checksum_error() {
        // Flip the case of one letter of each mixed-case vector.
        for address in &EIP55[4..] {
            let i = address[2..]
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap()
                + 2;
            let mut flipped = address.to_string().into_bytes();
            flipped[i] ^= 0x20;
            let flipped = String::from_utf8(flipped).unwrap();
            assert_eq!(decode(&flipped), Err(AddressError::Checksum), "{flipped}");
        }
    }

    #[test]
    fn refuses_malformed() {
        for address in [
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
            "0x",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAé",
        ] {
            assert_eq!(decode(address), Err(AddressError::Format), "{address}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(bytes in any::<[u8; 20]>()) {
            let address = encode(&bytes);
            prop_assert_eq!(address.len(), 42);
            prop_assert_eq!(decode(&address), Ok(bytes));
            prop_assert_eq!(decode(&address.to_lowercase()), Ok(bytes));
        }
    }
}
