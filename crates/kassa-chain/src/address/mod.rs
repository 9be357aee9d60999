//! Address codecs: encoding and validation of addresses for every network family, checksums
//! included.
//!
//! [`validate`] is the one entry point for input from people (a merchant's withdrawal address,
//! an API caller's payout address): it picks the codec from the network's [`Family`] and
//! reports what is wrong in words fit to show next to the field. The family modules also encode, for the addresses Kassa hands out itself:
//!
//! | family | module | format |
//! |---|---|---|
//! | UTXO (BTC, LTC) | [`utxo`] | bech32 segwit v0 / bech32m taproot; base58check legacy on mainnet |
//! | EVM (ERC20, BSC, ARB, OPT, BASE) | [`evm`] | `0x` + 40 hex, EIP-55 mixed-case checksum |
//! | TRON (TRC20) | [`tron`] | base58check of `0x41` ‖ 20 bytes (`T…`) |
//! | Solana | [`solana`] | base58 of a 32-byte public key |
//! | TON | [`ton`] | user-friendly base64 with CRC16, or raw `wc:hex` |
//!
//! Validation is strict about what it accepts and does not trim: the form layer trims what
//! people paste, so that what is validated is exactly what is stored.

pub mod evm;
pub mod solana;
pub mod ton;
pub mod tron;
pub mod utxo;

use kassa_core::currency::{Family, Network};

use crate::Chain;

/// Why an address was refused. The messages are written for a merchant reading them next to an
/// address field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not an address of this network's format at all (wrong length, characters, or shape).
    #[error("this is not a valid address for the selected network")]
    Format,
    /// The shape is right but the built-in checksum does not match: almost always a typo.
    #[error("the address checksum does not match; check the address for typos")]
    Checksum,
    /// A well-formed address of another network or chain (a testnet address on mainnet, a
    /// Litecoin address for Bitcoin, …). Sending there would lose the funds.
    #[error("this address belongs to a different network; check the network you selected")]
    WrongNetwork,
    /// A valid address of a kind Kassa does not send to (for example a segwit version that no
    /// wallet uses yet), or a network without an address codec.
    #[error("this type of address is not supported; use a standard address for this network")]
    Unsupported,
}

/// The longest input any codec is asked to decode. Real addresses are at most 90 characters
/// (bech32); the cap keeps the quadratic base58 decoder away from pasted essays.
const MAX_LEN: usize = 100;

/// Decodes base58check with a one-byte version and a 20-byte payload (Bitcoin and Litecoin
/// legacy, TRON). The length is checked before the checksum so that a string of another shape
/// (say a Solana key) reads as "not an address" rather than as a typo.
fn decode_base58check_20(address: &str) -> Result<(u8, [u8; 20]), AddressError> {
    let raw = bs58::decode(address)
        .into_vec()
        .map_err(|_| AddressError::Format)?;
    if raw.len() != 25 {
        return Err(AddressError::Format);
    }
    let payload = bs58::decode(address)
        .with_check(None)
        .into_vec()
        .map_err(|e| match e {
            bs58::decode::Error::InvalidChecksum { .. } => AddressError::Checksum,
            _ => AddressError::Format,
        })?;
    let Some((&version, bytes)) = payload.split_first() else {
        return Err(AddressError::Format);
    };
    let bytes = bytes.try_into().map_err(|_| AddressError::Format)?;
    Ok((version, bytes))
}

/// Checks that `address` is a valid address of `network` on `chain`, checksum included.
///
/// `chain` matters for UTXO networks (each chain has its own prefix) and for TON (an address
/// flagged test-only is refused on mainnet); EVM, TRON and Solana addresses look the same on every
/// chain.
pub fn validate(network: &Network, chain: Chain, address: &str) -> Result<(), AddressError> {
    if address.is_empty() || address.len() > MAX_LEN {
        return Err(AddressError::Format);
    }
    match network.family {
        Family::Utxo => {
            let coin = utxo::Coin::of(network).ok_or(AddressError::Unsupported)?;
            utxo::decode(coin, chain, address).map(drop)
        }
        Family::Evm => evm::decode(address).map(drop),
        Family::Tron => tron::decode(address).map(drop),
        Family::Solana => solana::decode(address).map(drop),
        Family::Ton => {
            let decoded = ton::decode(address)?;
            // The flag is a promise by the address's owner that it only exists on testnet; the
            // opposite is not true (testnet wallets often show mainnet-style addresses), so only
            // mainnet enforces it.
            if chain == Chain::Mainnet && decoded.testnet {
                return Err(AddressError::WrongNetwork);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use kassa_core::currency::{self, NETWORKS};

    use super::*;

    #[test]
    fn dispatches_by_family() {
        let ok = [
            (
                &currency::BTC_NET,
                "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            ),
            (
                &currency::LTC_NET,
                "ltc1qc6xkeyekth5xe7lsey3qgxm55nypxe7ddanekv",
            ),
            (
                &currency::ERC20,
                "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            ),
            (&currency::BSC, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            (&currency::ARB, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            (&currency::OPT, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            (
                &currency::BASE,
                "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            ),
            (&currency::TRC20, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
            (
                &currency::SOL_NET,
                "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
            ),
            (
                &currency::TON_NET,
                "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N",
            ),
        ];
        assert_eq!(ok.len(), NETWORKS.len(), "one example per network");
        for (network, address) in ok {
            assert_eq!(
                validate(network, Chain::Mainnet, address),
                Ok(()),
                "{}",
                network.code
            );
        }
    }

    #[test]
    fn refuses_other_families_formats() {
        // An address of each family given for the wrong family is at best a format error.
        let btc = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
        let evm = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let tron = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t";
        let ton = "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N";
        assert_eq!(
            validate(&currency::ERC20, Chain::Mainnet, btc),
            Err(AddressError::Format)
        );
        assert_eq!(
            validate(&currency::BTC_NET, Chain::Mainnet, evm),
            Err(AddressError::Format)
        );
        assert_eq!(
            validate(&currency::ERC20, Chain::Mainnet, tron),
            Err(AddressError::Format)
        );
        assert_eq!(
            validate(&currency::SOL_NET, Chain::Mainnet, ton),
            Err(AddressError::Format)
        );
        assert_eq!(
            validate(&currency::TON_NET, Chain::Mainnet, evm),
            Err(AddressError::Format)
        );
        // A TRON address for Solana decodes as base58 but not to 32 bytes.
        assert_eq!(
            validate(&currency::SOL_NET, Chain::Mainnet, tron),
            Err(AddressError::Format)
        );
        // A Bitcoin legacy address for TRON is base58check with another version byte.
        assert_eq!(
            validate(
                &currency::TRC20,
                Chain::Mainnet,
                "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
            ),
            Err(AddressError::WrongNetwork)
        );
    }

    #[test]
    fn refuses_empty_padded_and_oversized_input() {
        for network in NETWORKS {
            assert_eq!(
                validate(network, Chain::Mainnet, ""),
                Err(AddressError::Format)
            );
            assert_eq!(
                validate(network, Chain::Mainnet, &"1".repeat(5000)),
                Err(AddressError::Format)
            );
        }
        let padded = " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        assert_eq!(
            validate(&currency::ERC20, Chain::Mainnet, padded),
            Err(AddressError::Format)
        );
    }

    #[test]
    fn ton_testnet_flag_only_matters_on_mainnet() {
        let zero = [0u8; 32];
        let testnet = ton::TonAddress {
            workchain: 0,
            hash: zero,
            bounceable: false,
            testnet: true,
        };
        let address = testnet.to_user_friendly();
        assert!(address.starts_with("0Q"), "{address}");
        assert_eq!(
            validate(&currency::TON_NET, Chain::Mainnet, &address),
            Err(AddressError::WrongNetwork)
        );
        assert_eq!(
            validate(&currency::TON_NET, Chain::Testnet, &address),
            Ok(())
        );
        let mainnet = "EQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAM9c";
        assert_eq!(
            validate(&currency::TON_NET, Chain::Testnet, mainnet),
            Ok(())
        );
    }

    #[test]
    fn messages_read_as_sentences_for_merchants() {
        for e in [
            AddressError::Format,
            AddressError::Checksum,
            AddressError::WrongNetwork,
            AddressError::Unsupported,
        ] {
            let text = e.to_string();
            assert!(
                text.len() > 20 && !text.contains("bech32") && !text.contains("base58"),
                "{text}"
            );
        }
    }
}
