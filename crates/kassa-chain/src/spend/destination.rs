//! Where a withdrawal may send: an address of the wallet's own coin and chain, turned into the
//! output script it stands for.
//!
//! Accepted on every chain of Bitcoin and Litecoin:
//!
//! | kind | spelling | script |
//! |---|---|---|
//! | P2WPKH | bech32, witness v0, 20 bytes | `OP_0 <20>` |
//! | P2WSH | bech32, witness v0, 32 bytes | `OP_0 <32>` |
//! | P2TR | bech32m, witness v1, 32 bytes | `OP_1 <32>` |
//! | P2PKH | base58check, P2PKH version | `OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG` |
//! | P2SH | base58check, P2SH version | `OP_HASH160 <20> OP_EQUAL` |
//!
//! Base58 versions: Bitcoin mainnet `0x00`/`0x05` (`1…`/`3…`), Bitcoin test chains
//! `0x6f`/`0xc4` (`m…`/`n…`, `2…`), Litecoin mainnet `0x30`/`0x32` (`L…`/`M…`), Litecoin test
//! chains `0x6f`/`0x3a` (`m…`/`n…`, `Q…`). Litecoin Core also still reads Bitcoin's P2SH
//! versions (`3…` on mainnet, `2…` on the test chains), but those are far more likely a Bitcoin
//! address pasted into the wrong form, so they are refused as another network's, as
//! [`crate::address::utxo`] does on mainnet. Testnet and regtest share their base58 versions, so
//! a legacy testnet address is accepted on regtest and the other way round, exactly as the
//! nodes do; their bech32 prefixes differ (`tb`/`bcrt`, `tltc`/`rltc`) and are told apart.

use bitcoin::ScriptBuf;
use bitcoin::hashes::Hash as _;

use super::fee::dust_limit;
use crate::Chain;
use crate::address::AddressError;
use crate::address::utxo::{self, Coin, UtxoAddress};

/// The kind of output a destination is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// Pay to witness public key hash (segwit v0, 20 bytes).
    P2wpkh,
    /// Pay to witness script hash (segwit v0, 32 bytes).
    P2wsh,
    /// Pay to taproot (segwit v1, 32 bytes).
    P2tr,
    /// Legacy pay to public key hash (base58).
    P2pkh,
    /// Legacy pay to script hash (base58).
    P2sh,
}

/// Why a destination address was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// Not an address, a typo, or a kind Kassa does not send to.
    #[error(transparent)]
    Invalid(#[from] AddressError),
    /// A valid address of another coin or chain.
    #[error("this is {found} address, but this wallet sends on {expected}")]
    WrongNetwork {
        /// The wallet's coin and chain, e.g. "Litecoin regtest".
        expected: &'static str,
        /// What the address belongs to, with its article, e.g. "a Bitcoin testnet".
        found: &'static str,
    },
}

/// A checked destination: the address as given, its kind and its output script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    address: String,
    kind: DestinationKind,
    script_pubkey: ScriptBuf,
}

/// The longest address read (bech32 addresses are at most 90 characters).
const MAX_LEN: usize = 100;

impl Destination {
    /// Reads `address` as a destination on `coin`'s `chain`. The address must be exactly as
    /// the person gave it, without surrounding spaces (bech32 may be all upper case).
    pub fn parse(coin: Coin, chain: Chain, address: &str) -> Result<Destination, DestinationError> {
        if address.is_empty() || address.len() > MAX_LEN {
            return Err(AddressError::Format.into());
        }
        let (kind, script_pubkey) = match segwit_hrp(address) {
            Some(hrp) => segwit(coin, chain, address, hrp)?,
            None => legacy(coin, chain, address)?,
        };
        Ok(Destination {
            address: address.to_owned(),
            kind,
            script_pubkey,
        })
    }

    /// The address as given.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// What kind of output it is.
    pub fn kind(&self) -> DestinationKind {
        self.kind
    }

    /// The output script it pays to.
    pub fn script_pubkey(&self) -> &ScriptBuf {
        &self.script_pubkey
    }

    /// The smallest amount the nodes relay to it (see [`dust_limit`]).
    pub fn dust_limit(&self, coin: Coin) -> u64 {
        dust_limit(coin, self.script_pubkey.as_bytes())
    }
}

/// "Bitcoin mainnet", "Litecoin regtest", ….
pub const fn network_name(coin: Coin, chain: Chain) -> &'static str {
    match (coin, chain) {
        (Coin::Bitcoin, Chain::Mainnet) => "Bitcoin mainnet",
        (Coin::Bitcoin, Chain::Testnet) => "Bitcoin testnet",
        (Coin::Bitcoin, Chain::Regtest) => "Bitcoin regtest",
        (Coin::Litecoin, Chain::Mainnet) => "Litecoin mainnet",
        (Coin::Litecoin, Chain::Testnet) => "Litecoin testnet",
        (Coin::Litecoin, Chain::Regtest) => "Litecoin regtest",
    }
}

/// Every bech32 prefix of both coins, with what it belongs to.
const HRPS: [(&str, &str); 6] = [
    ("bc", "a Bitcoin mainnet"),
    ("tb", "a Bitcoin testnet"),
    ("bcrt", "a Bitcoin regtest"),
    ("ltc", "a Litecoin mainnet"),
    ("tltc", "a Litecoin testnet"),
    ("rltc", "a Litecoin regtest"),
];

/// The known bech32 prefix `address` starts with (followed by the `1` separator), in any case.
/// The longest match wins (`bcrt1…` is not `bc` followed by `rt1…`: `bc` needs the `1` next).
fn segwit_hrp(address: &str) -> Option<&'static (&'static str, &'static str)> {
    HRPS.iter().find(|(hrp, _)| {
        address.len() > hrp.len()
            && address.is_char_boundary(hrp.len())
            && address[..hrp.len()].eq_ignore_ascii_case(hrp)
            && address[hrp.len()..].starts_with('1')
    })
}

fn segwit(
    coin: Coin,
    chain: Chain,
    address: &str,
    hrp: &(&str, &'static str),
) -> Result<(DestinationKind, ScriptBuf), DestinationError> {
    match utxo::decode(coin, chain, address) {
        Ok(UtxoAddress::Segwit { version, program }) => {
            let kind = match (version, program.len()) {
                (0, 20) => DestinationKind::P2wpkh,
                (0, 32) => DestinationKind::P2wsh,
                (1, 32) => DestinationKind::P2tr,
                _ => return Err(AddressError::Unsupported.into()),
            };
            // OP_0 or OP_1, then one push of the program.
            let mut script = Vec::with_capacity(2 + program.len());
            script.push(if version == 0 { 0x00 } else { 0x51 });
            script.push(program.len() as u8);
            script.extend_from_slice(&program);
            Ok((kind, ScriptBuf::from_bytes(script)))
        }
        Ok(_) => Err(AddressError::Format.into()),
        Err(AddressError::WrongNetwork) => Err(DestinationError::WrongNetwork {
            expected: network_name(coin, chain),
            found: hrp.1,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Base58check versions: P2PKH and P2SH of `coin` on `chain`.
const fn legacy_versions(coin: Coin, chain: Chain) -> (u8, u8) {
    match (coin, chain) {
        (Coin::Bitcoin, Chain::Mainnet) => (0x00, 0x05),
        (Coin::Bitcoin, Chain::Testnet | Chain::Regtest) => (0x6f, 0xc4),
        (Coin::Litecoin, Chain::Mainnet) => (0x30, 0x32),
        (Coin::Litecoin, Chain::Testnet | Chain::Regtest) => (0x6f, 0x3a),
    }
}

/// What a base58check version byte that is not the wallet's belongs to.
const fn legacy_owner(version: u8) -> Option<&'static str> {
    match version {
        0x00 | 0x05 => Some("a Bitcoin mainnet"),
        0x30 | 0x32 => Some("a Litecoin mainnet"),
        0x6f => Some("a Bitcoin or Litecoin testnet/regtest"),
        0xc4 => Some("a Bitcoin testnet/regtest"),
        0x3a => Some("a Litecoin testnet/regtest"),
        0x41 => Some("a TRON"),
        _ => None,
    }
}

fn legacy(
    coin: Coin,
    chain: Chain,
    address: &str,
) -> Result<(DestinationKind, ScriptBuf), DestinationError> {
    // The length first, so that another shape (a Solana key) reads as "not an address" rather
    // than as a typo.
    let raw = bs58::decode(address)
        .into_vec()
        .map_err(|_| AddressError::Format)?;
    if raw.len() != 25 {
        return Err(AddressError::Format.into());
    }
    let payload = bs58::decode(address)
        .with_check(None)
        .into_vec()
        .map_err(|e| match e {
            bs58::decode::Error::InvalidChecksum { .. } => AddressError::Checksum,
            _ => AddressError::Format,
        })?;
    let Some((&version, hash)) = payload.split_first() else {
        return Err(AddressError::Format.into());
    };
    let hash: [u8; 20] = hash.try_into().map_err(|_| AddressError::Format)?;
    let (p2pkh, p2sh) = legacy_versions(coin, chain);
    if version == p2pkh {
        let hash = bitcoin::PubkeyHash::from_byte_array(hash);
        Ok((DestinationKind::P2pkh, ScriptBuf::new_p2pkh(&hash)))
    } else if version == p2sh {
        let hash = bitcoin::ScriptHash::from_byte_array(hash);
        Ok((DestinationKind::P2sh, ScriptBuf::new_p2sh(&hash)))
    } else if let Some(found) = legacy_owner(version) {
        Err(DestinationError::WrongNetwork {
            expected: network_name(coin, chain),
            found,
        })
    } else {
        Err(AddressError::Format.into())
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::bech32::{self, Hrp};

    use super::*;

    const CHAINS: [Chain; 3] = [Chain::Mainnet, Chain::Testnet, Chain::Regtest];
    const COINS: [Coin; 2] = [Coin::Bitcoin, Coin::Litecoin];
    const H20: [u8; 20] = [
        0x75, 0x1e, 0x76, 0xe8, 0x19, 0x91, 0x96, 0xd4, 0x54, 0x94, 0x1c, 0x45, 0xd1, 0xb3, 0xa3,
        0x23, 0xf1, 0x43, 0x3b, 0xd6,
    ];
    const H32: [u8; 32] = [0x5a; 32];

    fn bech(coin: Coin, chain: Chain, version: bech32::Fe32, program: &[u8]) -> String {
        let hrp = Hrp::parse(coin.hrp(chain)).unwrap();
        bech32::segwit::encode(hrp, version, program).unwrap()
    }

    fn base58(version: u8, hash: &[u8; 20]) -> String {
        bs58::encode([&[version][..], hash].concat())
            .with_check()
            .into_string()
    }

    /// Every kind of address of every coin and chain, built from known hashes.
    fn addresses(coin: Coin, chain: Chain) -> Vec<(String, DestinationKind, String)> {
        let (p2pkh, p2sh) = legacy_versions(coin, chain);
        let h20 = hex::encode(H20);
        let h32 = hex::encode(H32);
        vec![
            (
                bech(coin, chain, bech32::Fe32::Q, &H20),
                DestinationKind::P2wpkh,
                format!("0014{h20}"),
            ),
            (
                bech(coin, chain, bech32::Fe32::Q, &H32),
                DestinationKind::P2wsh,
                format!("0020{h32}"),
            ),
            (
                bech(coin, chain, bech32::Fe32::P, &H32),
                DestinationKind::P2tr,
                format!("5120{h32}"),
            ),
            (
                base58(p2pkh, &H20),
                DestinationKind::P2pkh,
                format!("76a914{h20}88ac"),
            ),
            (
                base58(p2sh, &H20),
                DestinationKind::P2sh,
                format!("a914{h20}87"),
            ),
        ]
    }

    #[test]
    fn every_kind_on_every_chain() {
        for coin in COINS {
            for chain in CHAINS {
                for (address, kind, script) in addresses(coin, chain) {
                    let d = Destination::parse(coin, chain, &address)
                        .unwrap_or_else(|e| panic!("{address} on {coin:?} {chain:?}: {e}"));
                    assert_eq!(d.kind(), kind, "{address}");
                    assert_eq!(hex::encode(d.script_pubkey().as_bytes()), script);
                    assert_eq!(d.address(), address);
                    if kind != DestinationKind::P2tr {
                        // Bech32 in upper case reads the same.
                        let upper = address.to_uppercase();
                        if upper.starts_with(&coin.hrp(chain).to_uppercase()) {
                            assert_eq!(
                                Destination::parse(coin, chain, &upper).unwrap().kind(),
                                kind
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn spellings_per_coin_and_chain() {
        let first = |coin, chain, kind| {
            addresses(coin, chain)
                .into_iter()
                .find(|(_, k, _)| *k == kind)
                .map(|(a, _, _)| a)
                .unwrap()
        };
        use Chain::*;
        use Coin::*;
        use DestinationKind::*;
        for (coin, chain, kind, prefix) in [
            (Bitcoin, Mainnet, P2wpkh, "bc1q"),
            (Bitcoin, Testnet, P2wsh, "tb1q"),
            (Bitcoin, Regtest, P2tr, "bcrt1p"),
            (Bitcoin, Mainnet, P2pkh, "1"),
            (Bitcoin, Mainnet, P2sh, "3"),
            (Bitcoin, Testnet, P2sh, "2"),
            (Litecoin, Mainnet, P2tr, "ltc1p"),
            (Litecoin, Testnet, P2wpkh, "tltc1q"),
            (Litecoin, Regtest, P2wsh, "rltc1q"),
            (Litecoin, Mainnet, P2pkh, "L"),
            (Litecoin, Mainnet, P2sh, "M"),
            (Litecoin, Regtest, P2sh, "Q"),
        ] {
            let address = first(coin, chain, kind);
            assert!(
                address.starts_with(prefix),
                "{address} for {coin:?} {chain:?}"
            );
        }
        let testnet_p2pkh = first(Bitcoin, Testnet, P2pkh);
        assert!(testnet_p2pkh.starts_with('m') || testnet_p2pkh.starts_with('n'));
    }

    /// Published addresses.
    #[test]
    fn known_vectors() {
        use Chain::*;
        use Coin::*;
        let cases = [
            // BIP173 and BIP350.
            (
                Bitcoin,
                Mainnet,
                "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
                "0014751e76e8199196d454941c45d1b3a323f1433bd6",
            ),
            (
                Bitcoin,
                Testnet,
                "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
                "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
            ),
            (
                Bitcoin,
                Mainnet,
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
                "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            ),
            // The genesis block's address; the P2PKH address of private key 1 on each coin.
            (
                Bitcoin,
                Mainnet,
                "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac",
            ),
            (
                Litecoin,
                Mainnet,
                "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ",
                "76a914751e76e8199196d454941c45d1b3a323f1433bd688ac",
            ),
            (
                Bitcoin,
                Testnet,
                "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r",
                "76a914751e76e8199196d454941c45d1b3a323f1433bd688ac",
            ),
            (
                Litecoin,
                Mainnet,
                "MQMcJhpWHYVeQArcZR3sBgyPZxxRtnH441",
                "a914b48297bff5dadecc5f36145cec6a5f20d57c8f9b87",
            ),
        ];
        for (coin, chain, address, script) in cases {
            let d = Destination::parse(coin, chain, address).unwrap();
            assert_eq!(
                hex::encode(d.script_pubkey().as_bytes()),
                script,
                "{address}"
            );
        }
    }

    #[test]
    fn other_networks_are_refused_by_name() {
        for coin in COINS {
            for chain in CHAINS {
                for (address, kind, _) in addresses(coin, chain) {
                    for other_coin in COINS {
                        for other_chain in CHAINS {
                            let result = Destination::parse(other_coin, other_chain, &address);
                            let legacy =
                                matches!(kind, DestinationKind::P2pkh | DestinationKind::P2sh);
                            let same_versions = legacy
                                && legacy_versions(coin, chain)
                                    == legacy_versions(other_coin, other_chain);
                            // Testnet and regtest share base58 versions; Bitcoin's and
                            // Litecoin's test chains share the P2PKH one.
                            let shared_p2pkh = kind == DestinationKind::P2pkh
                                && chain != Chain::Mainnet
                                && other_chain != Chain::Mainnet;
                            if (coin, chain) == (other_coin, other_chain)
                                || same_versions
                                || shared_p2pkh
                            {
                                assert!(
                                    result.is_ok(),
                                    "{address} on {other_coin:?} {other_chain:?}"
                                );
                                continue;
                            }
                            let Err(DestinationError::WrongNetwork { expected, found }) = result
                            else {
                                panic!("{address} on {other_coin:?} {other_chain:?}: {result:?}");
                            };
                            assert_eq!(expected, network_name(other_coin, other_chain));
                            if !legacy {
                                assert_eq!(
                                    found,
                                    format!("a {}", network_name(coin, chain)),
                                    "{address}"
                                );
                            }
                        }
                    }
                }
            }
        }
        let err = Destination::parse(
            Coin::Litecoin,
            Chain::Regtest,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "this is a Bitcoin mainnet address, but this wallet sends on Litecoin regtest"
        );
        let err = Destination::parse(
            Coin::Bitcoin,
            Chain::Mainnet,
            "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "this is a Litecoin mainnet address, but this wallet sends on Bitcoin mainnet"
        );
        // A Bitcoin P2SH version for Litecoin, on mainnet and on the test chains.
        for chain in CHAINS {
            let bitcoin_p2sh = base58(legacy_versions(Coin::Bitcoin, chain).1, &H20);
            assert!(matches!(
                Destination::parse(Coin::Litecoin, chain, &bitcoin_p2sh),
                Err(DestinationError::WrongNetwork { .. })
            ));
        }
        // TRON.
        assert!(matches!(
            Destination::parse(
                Coin::Bitcoin,
                Chain::Mainnet,
                "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
            ),
            Err(DestinationError::WrongNetwork {
                found: "a TRON",
                ..
            })
        ));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        use AddressError::*;
        let p2wpkh = bech(Coin::Litecoin, Chain::Regtest, bech32::Fe32::Q, &H20);
        let mut typo = p2wpkh.clone().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'q' { b'p' } else { b'q' };
        let typo = String::from_utf8(typo).unwrap();
        let legacy = base58(0x30, &H20);
        let legacy_typo = format!(
            "{}{}",
            &legacy[..legacy.len() - 1],
            if legacy.ends_with('a') { 'b' } else { 'a' }
        );
        // Segwit v2 and a 40-byte v1 program are valid bech32m but not sent to.
        let v2 = bech(Coin::Litecoin, Chain::Mainnet, bech32::Fe32::Z, &[7; 16]);
        let v1_long = bech(Coin::Litecoin, Chain::Mainnet, bech32::Fe32::P, &[7; 40]);
        for (coin, chain, address, want) in [
            (Coin::Litecoin, Chain::Regtest, typo.as_str(), Checksum),
            (
                Coin::Litecoin,
                Chain::Mainnet,
                legacy_typo.as_str(),
                Checksum,
            ),
            (Coin::Litecoin, Chain::Mainnet, v2.as_str(), Unsupported),
            (
                Coin::Litecoin,
                Chain::Mainnet,
                v1_long.as_str(),
                Unsupported,
            ),
            (Coin::Bitcoin, Chain::Mainnet, "", Format),
            (
                Coin::Bitcoin,
                Chain::Mainnet,
                " 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                Format,
            ),
            (
                Coin::Bitcoin,
                Chain::Mainnet,
                "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf",
                Format,
            ),
            (
                Coin::Bitcoin,
                Chain::Mainnet,
                "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
                Format,
            ),
            (Coin::Bitcoin, Chain::Mainnet, &"1".repeat(101), Format),
        ] {
            assert_eq!(
                Destination::parse(coin, chain, address),
                Err(DestinationError::Invalid(want)),
                "{address}"
            );
        }
    }

    #[test]
    fn dust_limits_by_kind() {
        for (address, kind, _) in addresses(Coin::Bitcoin, Chain::Mainnet) {
            let d = Destination::parse(Coin::Bitcoin, Chain::Mainnet, &address).unwrap();
            let want = match kind {
                DestinationKind::P2pkh => 546,
                DestinationKind::P2sh => 540,
                DestinationKind::P2wpkh => 294,
                DestinationKind::P2wsh | DestinationKind::P2tr => 330,
            };
            assert_eq!(d.dust_limit(Coin::Bitcoin), want, "{kind:?}");
            assert_eq!(d.dust_limit(Coin::Litecoin), want * 10, "{kind:?}");
        }
    }
}
