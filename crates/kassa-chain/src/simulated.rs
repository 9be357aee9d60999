//! The simulated network: what test mode uses instead of a blockchain.
//!
//! Test invoices need deposit addresses and, when a "payment" is simulated, transaction ids.
//! Both are derived here from a per-installation 32-byte seed, deterministically, so the same
//! test invoice always shows the same address and nothing needs storing:
//!
//! ```text
//! block(purpose, n, i) = HMAC-SHA256(seed, purpose ‖ 0x00 ‖ network code ‖ 0x00 ‖ n (u64 big-endian) ‖ i (u8))
//! ```
//!
//! with `purpose` = `kassa/simulated/address` for deposit addresses (n = the index) and
//! `kassa/simulated/transaction` for transaction ids (n = the counter), and `i` = 0, 1, … for as
//! many 32-byte blocks as needed (only Solana's 64-byte signatures need two). The separators and
//! fixed-width tail make the message unambiguous, so different purposes, networks or numbers
//! never share an input; outputs then collide only if SHA-256 does (for 20-byte outputs, with
//! probability about n² / 2¹⁶¹).
//!
//! The bytes are encoded in each network's real format, checksums included, so test mode
//! exercises the same validation and display code as live mode. Where a network has a format
//! that mainnet wallets refuse, it is used, so that no one can send real coins to a test
//! address:
//!
//! | network | simulated address | [`chain`] |
//! |---|---|---|
//! | BTC | `tb1q…` (testnet P2WPKH) | testnet |
//! | LTC | `tltc1q…` (testnet P2WPKH) | testnet |
//! | TON | `0Q…` (testnet-only, non-bounceable) | testnet |
//! | EVM networks | `0x…` (EIP-55) | mainnet |
//! | TRON | `T…` | mainnet |
//! | Solana | base58 | mainnet |
//!
//! EVM, TRON and Solana addresses look the same on every chain, so those test addresses are
//! valid mainnet addresses that nobody holds the key to. Coins sent there are lost, not stolen;
//! what protects payers is that test invoices are marked as test everywhere they are shown
//! (payment page, API responses, webhooks), which is the server's job.
//!
//! Transaction ids mimic what each network's explorers show: 64 lower-case hex digits for
//! Bitcoin, Litecoin, TRON and TON (TON explorers link transactions by hex hash), `0x` + 64 hex
//! for EVM networks, and base58 of a 64-byte signature for Solana.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use kassa_core::currency::{Family, Network};
use sha2::Sha256;

use crate::Chain;
use crate::address::ton::TonAddress;
use crate::address::utxo::{self, Coin};
use crate::address::{evm, solana, tron};

type HmacSha256 = Hmac<Sha256>;

/// The purpose label of deposit addresses.
const ADDRESS: &[u8] = b"kassa/simulated/address";
/// The purpose label of transaction ids.
const TRANSACTION: &[u8] = b"kassa/simulated/transaction";
/// Domain separation for simulated token contracts.
const TOKEN: &[u8] = b"kassa/simulated/token";

/// The chain whose format simulated addresses of `network` use: testnet where the network has
/// a distinct testnet format, mainnet where it has none. Validate them with this chain.
pub fn chain(network: &Network) -> Chain {
    match network.family {
        Family::Utxo | Family::Ton => Chain::Testnet,
        Family::Evm | Family::Tron | Family::Solana => Chain::Mainnet,
    }
}

/// The simulated deposit address number `index` of `network`: deterministic, distinct for
/// every (network, index), in the network's real format with a valid checksum and, where the
/// network has one, a test-only format (see the module docs).
pub fn deposit_address(seed: &[u8; 32], network: &Network, index: u64) -> String {
    let bytes = block(seed, ADDRESS, network, index, 0);
    match network.family {
        Family::Utxo => match Coin::of(network) {
            Some(coin) => utxo::p2wpkh(coin, Chain::Testnet, &first_20(&bytes)),
            // A UTXO network added to the catalogue before its codec (a test walks the
            // catalogue, so this never ships): a string that no validator accepts.
            None => format!(
                "simulated-{}-{}",
                network.code.to_ascii_lowercase(),
                hex::encode(first_20(&bytes))
            ),
        },
        Family::Evm => evm::encode(&first_20(&bytes)),
        Family::Tron => tron::encode(&first_20(&bytes)),
        Family::Solana => solana::encode(&bytes),
        // Non-bounceable, as wallets show their own receiving address.
        Family::Ton => TonAddress {
            workchain: 0,
            hash: bytes,
            bounceable: false,
            testnet: true,
        }
        .to_user_friendly(),
    }
}

/// The contract of a token on the simulated chain of its (EVM) network, for payment URIs of
/// test invoices; `None` for native coins and other families.
pub fn token_contract(seed: &[u8; 32], crypto: &kassa_core::currency::Crypto) -> Option<String> {
    (crypto.network.family == Family::Evm && !crypto.native).then(|| {
        evm::encode(&first_20(&block(
            seed,
            TOKEN,
            crypto.network,
            u64::from(crypto.id),
            0,
        )))
    })
}

/// The id of simulated transfer number `counter` on `network`, shaped like the network's real
/// transaction ids (see the module docs).
pub fn transaction_id(seed: &[u8; 32], network: &Network, counter: u64) -> String {
    let first = block(seed, TRANSACTION, network, counter, 0);
    match network.family {
        Family::Utxo | Family::Tron | Family::Ton => hex::encode(first),
        Family::Evm => format!("0x{}", hex::encode(first)),
        Family::Solana => {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&first);
            signature[32..].copy_from_slice(&block(seed, TRANSACTION, network, counter, 1));
            bs58::encode(signature).into_string()
        }
    }
}

/// One 32-byte block of output: HMAC-SHA256 over the unambiguous message in the module docs.
fn block(seed: &[u8; 32], purpose: &[u8], network: &Network, n: u64, i: u8) -> [u8; 32] {
    // HMAC pads a key shorter than the hash's 64-byte block with zeros, so the seed padded to a
    // full block is the same key; keying with a full block cannot fail, unlike `new_from_slice`.
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(seed);
    let mut mac = <HmacSha256 as KeyInit>::new(&key.into());
    mac.update(purpose);
    mac.update(&[0]);
    mac.update(network.code.as_bytes());
    mac.update(&[0]);
    mac.update(&n.to_be_bytes());
    mac.update(&[i]);
    mac.finalize().into_bytes().into()
}

fn first_20(bytes: &[u8; 32]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&bytes[..20]);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use kassa_core::currency::{self, NETWORKS};

    use super::*;
    use crate::address::{AddressError, validate};

    const SEED: [u8; 32] = [7; 32];

    #[test]
    fn padded_key_is_the_same_hmac_key() {
        let mut from_slice = <HmacSha256 as Mac>::new_from_slice(&SEED).unwrap();
        from_slice.update(b"message");
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&SEED);
        let mut padded = <HmacSha256 as KeyInit>::new(&key.into());
        padded.update(b"message");
        assert_eq!(
            from_slice.finalize().into_bytes(),
            padded.finalize().into_bytes()
        );
    }

    #[test]
    fn every_network_yields_valid_addresses() {
        for network in NETWORKS {
            for index in [0, 1, 2, 99, 12_345, u64::MAX] {
                let address = deposit_address(&SEED, network, index);
                assert_eq!(
                    validate(network, chain(network), &address),
                    Ok(()),
                    "{} #{index}: {address}",
                    network.code
                );
            }
        }
    }

    #[test]
    fn test_safe_formats_are_refused_on_mainnet() {
        let cases = [
            (&currency::BTC_NET, "tb1q"),
            (&currency::LTC_NET, "tltc1q"),
            (&currency::TON_NET, "0Q"),
        ];
        for (network, prefix) in cases {
            for index in 0..50 {
                let address = deposit_address(&SEED, network, index);
                assert!(address.starts_with(prefix), "{address}");
                assert_eq!(
                    validate(network, Chain::Mainnet, &address),
                    Err(AddressError::WrongNetwork)
                );
            }
        }
    }

    #[test]
    fn indexes_never_collide() {
        // One set across all networks: EVM networks share a format, and their addresses differ
        // too, so an address identifies its network.
        let mut seen = HashSet::new();
        for network in NETWORKS {
            for index in 0..10_000 {
                let address = deposit_address(&SEED, network, index);
                assert!(
                    seen.insert(address),
                    "{} #{index} repeats an address",
                    network.code
                );
            }
        }
    }

    #[test]
    fn output_is_stable() {
        // Changing these breaks every stored test invoice's address: do not, unless on purpose.
        // Cross-checked with an independent Python script (hmac, hashlib, the BIP173 reference
        // bech32 code and a plain base58check).
        assert_eq!(
            deposit_address(&SEED, &currency::BTC_NET, 0),
            "tb1qfqkgrv6sng3h7dfcuk3j43tr97072x33t4dtc8"
        );
        assert_eq!(
            deposit_address(&SEED, &currency::TRC20, 0),
            "TFUtac71dFUK3KGWPkcXrPMJsk6p9MAGqP"
        );
        assert_eq!(
            transaction_id(&SEED, &currency::BTC_NET, 0),
            "4d4cd5b8c5557f119cacf73aa32cb777c8a33c560c96cd022539c9b1b03d15f1"
        );
    }

    #[test]
    fn seeds_and_purposes_separate() {
        let other = deposit_address(&[8; 32], &currency::ERC20, 0);
        assert_ne!(deposit_address(&SEED, &currency::ERC20, 0), other);
        // An address and a transaction id for the same number come from different inputs.
        let address = block(&SEED, ADDRESS, &currency::BTC_NET, 0, 0);
        assert_ne!(
            hex::encode(address),
            transaction_id(&SEED, &currency::BTC_NET, 0)
        );
    }

    #[test]
    fn transaction_ids_look_real_and_are_distinct() {
        let mut seen = HashSet::new();
        for network in NETWORKS {
            for counter in 0..1_000 {
                let id = transaction_id(&SEED, network, counter);
                match network.family {
                    Family::Utxo | Family::Tron | Family::Ton => {
                        assert!(
                            id.len() == 64
                                && id
                                    .bytes()
                                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                            "{id}"
                        );
                    }
                    Family::Evm => {
                        let digits = id.strip_prefix("0x").unwrap();
                        assert!(
                            digits.len() == 64
                                && digits
                                    .bytes()
                                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                            "{id}"
                        );
                    }
                    Family::Solana => {
                        assert_eq!(bs58::decode(&id).into_vec().unwrap().len(), 64, "{id}");
                        assert!((64..=88).contains(&id.len()), "{id}");
                    }
                }
                assert!(seen.insert(id), "{} #{counter}", network.code);
            }
        }
    }
}
