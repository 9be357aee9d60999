//! Bitcoin and Litecoin addresses.
//!
//! Segwit addresses are bech32 (witness version 0, BIP173) or bech32m (version 1 and up,
//! BIP350) with a human-readable prefix that names the coin and chain. Kassa hands out P2WPKH
//! (version 0, 20-byte program) and accepts for sending:
//!
//! - segwit v0: P2WPKH (20 bytes) and P2WSH (32 bytes);
//! - segwit v1 with a 32-byte program: taproot (P2TR);
//! - on mainnet, legacy base58check P2PKH and P2SH (`1…`/`3…` for Bitcoin, `L…`/`M…` for
//!   Litecoin).
//!
//! Other witness versions and v1 programs of other lengths are well-formed per BIP350 but
//! refused as [`AddressError::Unsupported`]: until a soft fork gives them meaning, coins sent
//! there can be taken by anyone, and no wallet shows such addresses, so one in a withdrawal
//! form is a mistake (or an attack), not a customer's wallet.

use bech32::primitives::decode::SegwitHrpstringError;
use bech32::primitives::iter::{ByteIterExt, Fe32IterExt};
use bech32::{Bech32, Fe32, Hrp, segwit};
use kassa_core::currency::{self, Network};

use super::AddressError;
use crate::Chain;

/// A Bitcoin-like coin with an address codec here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coin {
    /// Bitcoin (`BTC`).
    Bitcoin,
    /// Litecoin (`LTC`).
    Litecoin,
}

/// Every human-readable prefix of every coin and chain, to tell "another network's address"
/// from "not an address".
const KNOWN_HRPS: [&str; 6] = ["bc", "tb", "bcrt", "ltc", "tltc", "rltc"];

/// Base58check version bytes of any coin or chain; one that is not ours means another network.
/// (`0x00`/`0x05` Bitcoin mainnet, `0x30`/`0x32` Litecoin mainnet, `0x6f`/`0xc4` Bitcoin and
/// Litecoin testnet, `0x3a` Litecoin testnet P2SH, `0x41` TRON.)
const KNOWN_VERSIONS: [u8; 8] = [0x00, 0x05, 0x30, 0x32, 0x6f, 0xc4, 0x3a, 0x41];

/// Base58check version bytes used on the test chains (not accepted: see [`decode`]).
const TESTNET_VERSIONS: [u8; 3] = [0x6f, 0xc4, 0x3a];

impl Coin {
    /// The coin of a UTXO network of the catalogue, if this crate can encode its addresses.
    pub fn of(network: &Network) -> Option<Coin> {
        if *network == currency::BTC_NET {
            Some(Coin::Bitcoin)
        } else if *network == currency::LTC_NET {
            Some(Coin::Litecoin)
        } else {
            None
        }
    }

    /// The bech32 human-readable prefix on `chain` (`bc`, `tb`, `bcrt`, `ltc`, `tltc`, `rltc`),
    /// as Bitcoin Core and Litecoin Core spell them.
    pub const fn hrp(self, chain: Chain) -> &'static str {
        match (self, chain) {
            (Coin::Bitcoin, Chain::Mainnet) => "bc",
            (Coin::Bitcoin, Chain::Testnet) => "tb",
            (Coin::Bitcoin, Chain::Regtest) => "bcrt",
            (Coin::Litecoin, Chain::Mainnet) => "ltc",
            (Coin::Litecoin, Chain::Testnet) => "tltc",
            (Coin::Litecoin, Chain::Regtest) => "rltc",
        }
    }

    /// Base58check version bytes of mainnet P2PKH and P2SH addresses.
    ///
    /// Litecoin's P2SH is `0x32` (`M…`). Litecoin Core also still reads `0x05` (`3…`), but
    /// that is Bitcoin's prefix too, so a `3…` address for Litecoin is far more likely a
    /// Bitcoin address pasted into the wrong field; it is refused as another network's.
    const fn legacy_versions(self) -> (u8, u8) {
        match self {
            Coin::Bitcoin => (0x00, 0x05),
            Coin::Litecoin => (0x30, 0x32),
        }
    }

    /// The prefix as a bech32 [`Hrp`], built at compile time from the valid constants above.
    const fn bech32_hrp(self, chain: Chain) -> Hrp {
        Hrp::parse_unchecked(self.hrp(chain))
    }
}

/// A decoded Bitcoin or Litecoin address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UtxoAddress {
    /// A segwit output: version 0 (P2WPKH 20 bytes, P2WSH 32 bytes) or 1 (taproot, 32 bytes).
    Segwit {
        /// The witness version.
        version: u8,
        /// The witness program.
        program: Vec<u8>,
    },
    /// A legacy pay-to-public-key-hash address (HASH160 of the key).
    PubkeyHash([u8; 20]),
    /// A legacy pay-to-script-hash address (HASH160 of the script).
    ScriptHash([u8; 20]),
}

/// The P2WPKH (segwit v0) address of a 20-byte key hash: `bc1q…`, `tb1q…`, `ltc1q…`, ….
pub fn p2wpkh(coin: Coin, chain: Chain, key_hash: &[u8; 20]) -> String {
    // The iterator API cannot fail, unlike `segwit::encode_v0`, whose checks (version, program
    // length, total length) this fixed-size input passes by construction.
    let hrp = coin.bech32_hrp(chain);
    key_hash
        .iter()
        .copied()
        .bytes_to_fes()
        .with_checksum::<Bech32>(&hrp)
        .with_witness_version(Fe32::Q)
        .chars()
        .collect()
}

/// Decodes a Bitcoin or Litecoin address of `coin` on `chain`, checksum included.
///
/// Legacy base58 addresses are accepted on mainnet only; on the test chains the segwit forms
/// are what every wallet shows.
pub fn decode(coin: Coin, chain: Chain, address: &str) -> Result<UtxoAddress, AddressError> {
    if looks_like_segwit(address) {
        decode_segwit(coin, chain, address)
    } else {
        decode_legacy(coin, chain, address)
    }
}

/// Whether the address starts with a known bech32 prefix and separator (any case). No legacy
/// address we accept can: their first characters are `1`, `3`, `L` or `M`.
fn looks_like_segwit(address: &str) -> bool {
    KNOWN_HRPS.iter().any(|hrp| {
        address.len() > hrp.len()
            && address.is_char_boundary(hrp.len())
            && address[..hrp.len()].eq_ignore_ascii_case(hrp)
            && address[hrp.len()..].starts_with('1')
    })
}

fn decode_segwit(coin: Coin, chain: Chain, address: &str) -> Result<UtxoAddress, AddressError> {
    let (hrp, version, program) = segwit::decode(address).map_err(|e| match e.0 {
        SegwitHrpstringError::Checksum(_) => AddressError::Checksum,
        _ => AddressError::Format,
    })?;
    if hrp != coin.bech32_hrp(chain) {
        // `looks_like_segwit` routed it here, so the prefix is some coin's and chain's.
        return Err(AddressError::WrongNetwork);
    }
    // The decoder has already enforced BIP141 lengths: v0 is 20 or 32 bytes, others 2 to 40.
    let version = version.to_u8();
    match (version, program.len()) {
        (0, _) | (1, 32) => Ok(UtxoAddress::Segwit { version, program }),
        _ => Err(AddressError::Unsupported),
    }
}

fn decode_legacy(coin: Coin, chain: Chain, address: &str) -> Result<UtxoAddress, AddressError> {
    let (version, hash) = super::decode_base58check_20(address)?;
    let (p2pkh, p2sh) = coin.legacy_versions();
    match chain {
        Chain::Mainnet if version == p2pkh => Ok(UtxoAddress::PubkeyHash(hash)),
        Chain::Mainnet if version == p2sh => Ok(UtxoAddress::ScriptHash(hash)),
        Chain::Testnet | Chain::Regtest if TESTNET_VERSIONS.contains(&version) => {
            Err(AddressError::Unsupported)
        }
        _ if KNOWN_VERSIONS.contains(&version) => Err(AddressError::WrongNetwork),
        _ => Err(AddressError::Format),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn h20(hex: &str) -> [u8; 20] {
        hex::decode(hex).unwrap().try_into().unwrap()
    }

    fn segwit(version: u8, hex: &str) -> UtxoAddress {
        UtxoAddress::Segwit {
            version,
            program: hex::decode(hex).unwrap(),
        }
    }

    const G_HASH160: &str = "751e76e8199196d454941c45d1b3a323f1433bd6";

    #[test]
    fn bip173_valid_vectors() {
        use Chain::*;
        use Coin::Bitcoin;
        let p2wpkh_upper = "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4";
        assert_eq!(
            decode(Bitcoin, Mainnet, p2wpkh_upper),
            Ok(segwit(0, G_HASH160))
        );
        assert_eq!(
            decode(Bitcoin, Mainnet, &p2wpkh_upper.to_lowercase()),
            Ok(segwit(0, G_HASH160))
        );
        assert_eq!(
            decode(
                Bitcoin,
                Testnet,
                "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
            ),
            Ok(segwit(
                0,
                "1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"
            ))
        );
        assert_eq!(
            decode(
                Bitcoin,
                Testnet,
                "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy"
            ),
            Ok(segwit(
                0,
                "000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"
            ))
        );
        assert_eq!(
            decode(
                Bitcoin,
                Mainnet,
                "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
            ),
            Ok(segwit(
                0,
                "1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"
            ))
        );
    }

    #[test]
    fn bip350_taproot_vectors() {
        use Chain::*;
        use Coin::Bitcoin;
        assert_eq!(
            decode(
                Bitcoin,
                Mainnet,
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
            ),
            Ok(segwit(
                1,
                "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
            ))
        );
        assert_eq!(
            decode(
                Bitcoin,
                Testnet,
                "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c"
            ),
            Ok(segwit(
                1,
                "000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"
            ))
        );
    }

    #[test]
    fn bip350_valid_but_unspendable_versions_are_unsupported() {
        use Chain::*;
        use Coin::Bitcoin;
        for address in [
            // v1 with a 40-byte program, v16 with 2 bytes, v2 with 16 bytes.
            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
            "BC1SW50QGDZ25J",
            "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
        ] {
            assert_eq!(
                decode(Bitcoin, Mainnet, address),
                Err(AddressError::Unsupported),
                "{address}"
            );
        }
    }

    #[test]
    fn bip173_and_bip350_invalid_vectors() {
        use AddressError::*;
        use Chain::*;
        use Coin::Bitcoin;
        let cases = [
            // Unknown prefix: not a Bitcoin address at all.
            ("tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", Format),
            (
                "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
                Format,
            ),
            // Bad checksums, including the wrong one of bech32/bech32m for the version.
            ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", Checksum),
            (
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
                Checksum,
            ),
            (
                "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
                Checksum,
            ),
            ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", Checksum),
            // BIP173 lists these as bad program lengths, padding or empty data, but they read as
            // v3, v15, v2 and v8 with bech32 checksums, which BIP350 makes checksum errors first.
            ("bc1rw5uspcuh", Checksum),
            ("bc1gmk9yu", Checksum),
            ("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", Checksum),
            (
                "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
                Checksum,
            ),
            // Invalid witness version (17), program lengths, padding, a character outside the
            // alphabet.
            ("BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", Format),
            ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", Format),
            (
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
                Format,
            ),
            ("bc1pw5dgrnzv", Format),
            (
                "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
                Format,
            ),
        ];
        for (address, want) in cases {
            assert_eq!(decode(Bitcoin, Mainnet, address), Err(want), "{address}");
        }
        let testnet = [
            (
                "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
                Format,
            ),
            (
                "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
                Checksum,
            ),
            (
                "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
                Checksum,
            ),
            (
                "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",
                Format,
            ),
            (
                "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
                Format,
            ),
        ];
        for (address, want) in testnet {
            assert_eq!(decode(Bitcoin, Testnet, address), Err(want), "{address}");
        }
    }

    #[test]
    fn prefixes_pick_the_coin_and_chain() {
        use Chain::*;
        use Coin::*;
        let cases = [
            (
                Bitcoin,
                Mainnet,
                "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            ),
            (
                Bitcoin,
                Testnet,
                "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
            ),
            (
                Litecoin,
                Mainnet,
                "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9",
            ),
        ];
        for (coin, chain, address) in cases {
            assert_eq!(p2wpkh(coin, chain, &h20(G_HASH160)), address);
            assert_eq!(decode(coin, chain, address), Ok(segwit(0, G_HASH160)));
        }
        // Every other coin/chain pair refuses them as another network's.
        for (coin, chain, address) in cases {
            for other_coin in [Bitcoin, Litecoin] {
                for other_chain in [Mainnet, Testnet, Regtest] {
                    if (other_coin, other_chain) != (coin, chain) {
                        assert_eq!(
                            decode(other_coin, other_chain, address),
                            Err(AddressError::WrongNetwork)
                        );
                    }
                }
            }
        }
        assert!(p2wpkh(Bitcoin, Regtest, &h20(G_HASH160)).starts_with("bcrt1q"));
        assert!(p2wpkh(Litecoin, Testnet, &h20(G_HASH160)).starts_with("tltc1q"));
        assert!(p2wpkh(Litecoin, Regtest, &h20(G_HASH160)).starts_with("rltc1q"));
    }

    #[test]
    fn litecoin_vectors() {
        use Chain::Mainnet;
        use Coin::Litecoin;
        // Program checked against Litecoin Core.
        let program = h20("c68d6c93365de86cfbf0c922041b74a4c81367cd");
        let address = "ltc1qc6xkeyekth5xe7lsey3qgxm55nypxe7ddanekv";
        assert_eq!(p2wpkh(Litecoin, Mainnet, &program), address);
        assert_eq!(
            decode(Litecoin, Mainnet, address),
            Ok(segwit(0, "c68d6c93365de86cfbf0c922041b74a4c81367cd"))
        );
        // ENS address-encoder vectors.
        assert_eq!(
            decode(
                Litecoin,
                Mainnet,
                "ltc1qdp7p2rpx4a2f80h7a4crvppczgg4egmv5c78w8"
            ),
            Ok(segwit(0, "687c150c26af5493befeed7036043812115ca36c"))
        );
        assert_eq!(
            decode(Litecoin, Mainnet, "LaMT348PWRnrqeeWArpwQPbuanpXDZGEUz"),
            Ok(UtxoAddress::PubkeyHash(h20(
                "a5f4d12ce3685781b227c1f39548ddef429e9783"
            )))
        );
        assert_eq!(
            decode(Litecoin, Mainnet, "MQMcJhpWHYVeQArcZR3sBgyPZxxRtnH441"),
            Ok(UtxoAddress::ScriptHash(h20(
                "b48297bff5dadecc5f36145cec6a5f20d57c8f9b"
            )))
        );
        // The P2PKH address of private key 1 (the same HASH160 as the BIP173 example).
        assert_eq!(
            decode(Litecoin, Mainnet, "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ"),
            Ok(UtxoAddress::PubkeyHash(h20(G_HASH160)))
        );
    }

    #[test]
    fn legacy_bitcoin_vectors() {
        use AddressError::*;
        use Chain::*;
        use Coin::*;
        // The genesis block's address, and the Bitcoin wiki's P2SH example.
        assert_eq!(
            decode(Bitcoin, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            Ok(UtxoAddress::PubkeyHash(h20(
                "62e907b15cbf27d5425399ebf6f0fb50ebb88f18"
            )))
        );
        assert!(matches!(
            decode(Bitcoin, Mainnet, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
            Ok(UtxoAddress::ScriptHash(_))
        ));
        assert_eq!(
            decode(Bitcoin, Mainnet, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"),
            Ok(UtxoAddress::PubkeyHash(h20(G_HASH160)))
        );
        // One character changed; a character outside the alphabet; the wrong coin; testnet.
        assert_eq!(
            decode(Bitcoin, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"),
            Err(Checksum)
        );
        assert_eq!(
            decode(Bitcoin, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf0a"),
            Err(Format)
        );
        assert_eq!(
            decode(Bitcoin, Mainnet, "LaMT348PWRnrqeeWArpwQPbuanpXDZGEUz"),
            Err(WrongNetwork)
        );
        assert_eq!(
            decode(Litecoin, Mainnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            Err(WrongNetwork)
        );
        assert_eq!(
            decode(Litecoin, Mainnet, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
            Err(WrongNetwork)
        );
        assert_eq!(
            decode(Bitcoin, Testnet, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            Err(WrongNetwork)
        );
        // A TRON address is base58check too, with version 0x41.
        assert_eq!(
            decode(Bitcoin, Mainnet, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
            Err(WrongNetwork)
        );
        // Right checksum, wrong payload length (a 32-byte Solana key has no checksum: format).
        assert_eq!(
            decode(
                Bitcoin,
                Mainnet,
                "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
            ),
            Err(Format)
        );
    }

    #[test]
    fn legacy_testnet_addresses_are_unsupported() {
        let key_hash = h20(G_HASH160);
        let testnet_p2pkh = bs58::encode([&[0x6f][..], &key_hash].concat())
            .with_check()
            .into_string();
        assert!(testnet_p2pkh.starts_with('m') || testnet_p2pkh.starts_with('n'));
        assert_eq!(
            decode(Coin::Bitcoin, Chain::Testnet, &testnet_p2pkh),
            Err(AddressError::Unsupported)
        );
        assert_eq!(
            decode(Coin::Bitcoin, Chain::Mainnet, &testnet_p2pkh),
            Err(AddressError::WrongNetwork)
        );
    }

    fn coin_and_chain() -> impl Strategy<Value = (Coin, Chain)> {
        (
            prop_oneof![Just(Coin::Bitcoin), Just(Coin::Litecoin)],
            prop_oneof![
                Just(Chain::Mainnet),
                Just(Chain::Testnet),
                Just(Chain::Regtest)
            ],
        )
    }

    proptest! {
        #[test]
        fn p2wpkh_round_trips(key_hash in any::<[u8; 20]>(), (coin, chain) in coin_and_chain()) {
            let address = p2wpkh(coin, chain, &key_hash);
            prop_assert_eq!(decode(coin, chain, &address), Ok(UtxoAddress::Segwit { version: 0, program: key_hash.to_vec() }));
            prop_assert_eq!(decode(coin, chain, &address.to_uppercase()), Ok(UtxoAddress::Segwit { version: 0, program: key_hash.to_vec() }));
        }

        /// Bech32 detects every single-character substitution.
        #[test]
        fn p2wpkh_typos_are_caught(
            key_hash in any::<[u8; 20]>(),
            (coin, chain) in coin_and_chain(),
            position in any::<prop::sample::Index>(),
            replacement in prop::sample::select(b"qpzry9x8gf2tvdw0s3jn54khce6mua7l".to_vec()),
        ) {
            let mut address = p2wpkh(coin, chain, &key_hash).into_bytes();
            let i = position.index(address.len());
            prop_assume!(address[i] != replacement);
            address[i] = replacement;
            let address = String::from_utf8(address).unwrap();
            prop_assert!(decode(coin, chain, &address).is_err(), "{}", address);
        }
    }
}
