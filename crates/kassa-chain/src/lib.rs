//! Kassa's networks layer.
//!
//! Everything that knows how a blockchain network spells and checks its data lives here: address
//! codecs, key derivation (one deposit address per invoice), node clients, and later the
//! watchers that see payments arrive. The crate sits between `kassa-server` and the pure domain:
//!
//! ```text
//! kassa-server ──▶ kassa-chain ──▶ kassa-core
//! ```
//!
//! It depends only downward, on `kassa-core` (for the network catalogue,
//! [`kassa_core::currency::Network`], and amounts), never on the store or the server:
//!
//! - [`address`] encodes and validates addresses of every network family;
//! - [`hd`] holds Bitcoin and Litecoin keys: BIP39 recovery phrases, BIP32 derivation, BIP84
//!   accounts (hot, or watch-only from an `xpub`/`zpub`/`tpub`/`vpub`), P2WPKH addresses and
//!   signing keys;
//! - [`rpc`] is the async JSON-RPC client for Bitcoin Core and Litecoin Core nodes (the only
//!   I/O here), reading amounts exactly into base units;
//! - [`spend`] builds and signs withdrawals from a hot wallet: destination checks, coin
//!   selection, fees from exact sizes, BIP143 P2WPKH signatures (pure, apart from a fee
//!   estimate helper);
//! - [`simulated`] is the stand-in network that test mode uses instead of a real chain.
//!
//! Deliberately light on dependencies: small codec crates (`bech32`, `bs58`, `sha3` for
//! Keccak-256), and for UTXO keys `bitcoin` 0.32 (BIP32, secp256k1) and `bip39`, rather than
//! full chain SDKs.

pub mod address;
pub mod explorer;
pub mod hd;
pub mod rpc;
pub mod simulated;
pub mod spend;
pub mod uri;
pub mod watch;

pub use address::{AddressError, validate};

/// Which chain of a network: the real one or one of its test chains.
///
/// Bitcoin-like networks spell addresses differently on each (`bc1…`, `tb1…`, `bcrt1…`), TON
/// marks test-only addresses with a flag, and the other families (EVM, TRON, Solana) use the
/// same format everywhere, so for them the chain changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chain {
    /// The real network, where coins have value.
    Mainnet,
    /// The public test network (Bitcoin testnet3/testnet4/signet share one address format).
    Testnet,
    /// A private regression-test chain run locally (`bitcoind -regtest`).
    Regtest,
}
