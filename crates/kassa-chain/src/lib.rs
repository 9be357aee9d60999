//! Kassa's networks layer.
//!
//! Everything that knows how a blockchain network spells and checks its data lives here: address
//! codecs now, and later key derivation (one deposit address per invoice), node clients and the
//! watchers that see payments arrive. The crate sits between `kassa-server` and the pure domain:
//!
//! ```text
//! kassa-server ──▶ kassa-chain ──▶ kassa-core
//! ```
//!
//! It depends only downward, on `kassa-core` (for the network catalogue,
//! [`kassa_core::currency::Network`]), never on the store or the server. So far it does no I/O and
//! has no async code: [`address`] encodes and validates addresses of every network family, and
//! [`simulated`] is the stand-in network that test mode uses instead of a real chain.
//!
//! Deliberately light on dependencies: small codec crates (`bech32`, `bs58`, `sha3` for
//! Keccak-256) rather than chain SDKs, so that the gateway's build stays small until a network
//! really needs an SDK.

pub mod address;
pub mod simulated;
pub mod uri;

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
