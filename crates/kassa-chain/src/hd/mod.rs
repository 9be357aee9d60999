//! HD keys for Bitcoin and Litecoin: BIP39 recovery phrases, BIP32 derivation and BIP84
//! (native segwit, P2WPKH) accounts.
//!
//! An operator's wallet for a UTXO network is one BIP84 account, `m/84'/coin'/0'`, where `coin`
//! is 0 for Bitcoin mainnet, 2 for Litecoin mainnet and 1 for every test chain (SLIP-44). Under
//! it, deposit addresses are the receive branch `…/0/i` and change goes to `…/1/i`:
//!
//! - a [`HotWallet`] comes from a [`Mnemonic`] (24 words, generated from the operating system's
//!   random source) and an optional passphrase; it derives addresses and, for withdrawals, the
//!   [`SigningKey`] of any (branch, index);
//! - a [`WatchOnlyWallet`] comes from the account's extended public key alone and derives the
//!   same addresses, but cannot spend.
//!
//! Extended public keys are read and written with the version bytes wallets use: `xpub`/`zpub`
//! on mainnet, `tpub`/`vpub` on the test chains (SLIP-132), and for Litecoin also `Ltub`
//! (mainnet) and `ttub` (test chains). The version only says which script a wallet meant, so
//! keys marked for another script type (`ypub`, `upub`, Litecoin's `Mtub`: P2SH-wrapped segwit;
//! `Zpub`/`Vpub`: multisig) are refused: the wallet they came from would not see payments to
//! the P2WPKH addresses Kassa derives. So are private keys pasted where a public one belongs.
//!
//! EVM networks use BIP44 accounts `m/44'/60'/0'` instead ([`evm`]).
//!
//! Secrets: the mnemonic, the seed and the account's private key are erased from memory when
//! dropped (the mnemonic and seed with `zeroize`, the keys with secp256k1's
//! `non_secure_erase`), and no `Debug` output contains them. The `bitcoin` crate's `Xpriv` is a
//! `Copy` type, so the short-lived copies made inside a derivation are not erased; the keys this
//! module keeps are.

use std::fmt;

use bitcoin::NetworkKind;
use bitcoin::base58;
use bitcoin::bip32::{ChainCode, ChildNumber, Fingerprint, Xpriv, Xpub};
use bitcoin::hashes::{Hash as _, hash160};
use bitcoin::secp256k1::{self, All, Message, PublicKey, Secp256k1, SecretKey, VerifyOnly};
use rand::TryRngCore as _;
use zeroize::Zeroizing;

use crate::Chain;
pub use crate::address::utxo::Coin;
use crate::address::utxo::p2wpkh;

/// BIP84's purpose: native segwit, single key (P2WPKH).
const PURPOSE: u32 = 84;
/// The account under the coin type. Kassa keeps one account per network.
const ACCOUNT: u32 = 0;
/// The depth of an account key: purpose / coin type / account.
const ACCOUNT_DEPTH: u8 = 3;

/// Why a recovery phrase, key or derivation was refused. No message contains key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HdError {
    /// The phrase has a word count BIP39 does not allow.
    #[error("a recovery phrase has 12, 15, 18, 21 or 24 words, not {0}")]
    WordCount(usize),
    /// A word is not in the BIP39 English list (1-based position).
    #[error("word {0} of the recovery phrase is not in the BIP39 English word list")]
    UnknownWord(usize),
    /// Every word is known but the checksum in the last word does not match.
    #[error("the recovery phrase's checksum does not match: a word is wrong or out of order")]
    Checksum,
    /// The operating system's random source failed.
    #[error("the operating system's random source is not available")]
    NoRandomness,
    /// Not a base58check extended key of 78 bytes, or one with an unknown version.
    #[error("this is not an extended public key (xpub, zpub, tpub, vpub, Ltub, ttub)")]
    KeyFormat,
    /// An extended private key where a public one belongs.
    #[error("this is an extended private key; give the account's extended public key instead")]
    PrivateKey,
    /// A key marked for another chain (a `tpub` for mainnet, an `Ltub` for Bitcoin, …).
    #[error("this extended key belongs to another network or chain")]
    WrongNetwork,
    /// A key marked for another script type than native segwit.
    #[error(
        "this extended key is for {0} addresses; Kassa needs a native segwit (BIP84) account key"
    )]
    WrongScriptType(&'static str),
    /// Not at the depth of an account key (`m/84'/coin'/account'`), or not hardened.
    #[error(
        "this is not an account key (m/84'/coin'/account'): it is at depth {depth}, with child {child}"
    )]
    NotAccountKey {
        /// The key's depth.
        depth: u8,
        /// Its child number as BIP32 writes it (`0'` hardened, `0` normal).
        child: String,
    },
    /// An address index of 2^31 or more (those are hardened and cannot be derived from an
    /// extended public key).
    #[error("address index {0} is out of range (0 to 2147483647)")]
    Index(u32),
    /// A BIP32 step failed (for one seed in about 2^127: an invalid child key).
    #[error("key derivation failed: {0}")]
    Derivation(String),
}

impl From<bitcoin::bip32::Error> for HdError {
    fn from(e: bitcoin::bip32::Error) -> Self {
        HdError::Derivation(e.to_string())
    }
}

/// The SLIP-44 coin type of a BIP84 account: 0 Bitcoin, 2 Litecoin, 1 on every test chain.
pub const fn coin_type(coin: Coin, chain: Chain) -> u32 {
    match (coin, chain) {
        (Coin::Bitcoin, Chain::Mainnet) => 0,
        (Coin::Litecoin, Chain::Mainnet) => 2,
        (_, Chain::Testnet | Chain::Regtest) => 1,
    }
}

/// The account path `m/84'/coin'/0'` as text, for people and descriptors' key origins.
pub fn account_path(coin: Coin, chain: Chain) -> String {
    format!("m/{PURPOSE}'/{}'/{ACCOUNT}'", coin_type(coin, chain))
}

fn account_children(coin: Coin, chain: Chain) -> Result<[ChildNumber; 3], HdError> {
    Ok([
        ChildNumber::from_hardened_idx(PURPOSE)?,
        ChildNumber::from_hardened_idx(coin_type(coin, chain))?,
        ChildNumber::from_hardened_idx(ACCOUNT)?,
    ])
}

const fn network_kind(chain: Chain) -> NetworkKind {
    match chain {
        Chain::Mainnet => NetworkKind::Main,
        Chain::Testnet | Chain::Regtest => NetworkKind::Test,
    }
}

/// The two branches under an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Branch {
    /// `…/0/i`: addresses handed out to payers (deposit addresses).
    Receive,
    /// `…/1/i`: Kassa's own change from withdrawals.
    Change,
}

impl Branch {
    /// The branch's number in the path (0 or 1).
    pub const fn number(self) -> u32 {
        match self {
            Branch::Receive => 0,
            Branch::Change => 1,
        }
    }
}

fn normal_child(index: u32) -> Result<ChildNumber, HdError> {
    ChildNumber::from_normal_idx(index).map_err(|_| HdError::Index(index))
}

/// The HASH160 of a compressed public key: the program of its P2WPKH output.
fn key_hash(public_key: &PublicKey) -> [u8; 20] {
    hash160::Hash::hash(&public_key.serialize()).to_byte_array()
}

// ---------------------------------------------------------------------------------------------
// Recovery phrases and seeds
// ---------------------------------------------------------------------------------------------

/// A BIP39 recovery phrase (English word list). Erased from memory when dropped; `Debug`
/// shows only the word count.
pub struct Mnemonic(bip39::Mnemonic);

impl Mnemonic {
    /// The number of words [`Mnemonic::generate`] makes (256 bits of entropy).
    pub const GENERATED_WORDS: usize = 24;

    /// A new 24-word phrase from 256 bits of the operating system's random source.
    pub fn generate() -> Result<Mnemonic, HdError> {
        let mut entropy = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(&mut entropy[..])
            .map_err(|_| HdError::NoRandomness)?;
        bip39::Mnemonic::from_entropy_in(bip39::Language::English, &entropy[..])
            .map(Mnemonic)
            .map_err(mnemonic_error)
    }

    /// Reads a phrase typed by a person: words separated by any whitespace, in any letter case;
    /// the word count, every word and the checksum are checked.
    pub fn parse(phrase: &str) -> Result<Mnemonic, HdError> {
        let lower = Zeroizing::new(phrase.to_lowercase());
        bip39::Mnemonic::parse_in(bip39::Language::English, lower.as_str())
            .map(Mnemonic)
            .map_err(mnemonic_error)
    }

    /// The words separated by single spaces, to show once to the operator or to seal for
    /// storage. Erased when dropped.
    pub fn phrase(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(24 * 9));
        for (i, word) in self.0.words().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    }

    /// How many words the phrase has.
    pub fn word_count(&self) -> usize {
        self.0.word_count()
    }

    /// The BIP39 seed: PBKDF2-HMAC-SHA512 of the phrase with `"mnemonic" + passphrase`
    /// (both NFKD-normalised), 2048 rounds. An empty passphrase is the common case.
    pub fn to_seed(&self, passphrase: &str) -> Seed {
        Seed(Zeroizing::new(self.0.to_seed(passphrase)))
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mnemonic([redacted; {} words])", self.word_count())
    }
}

fn mnemonic_error(e: bip39::Error) -> HdError {
    match e {
        bip39::Error::BadWordCount(n) => HdError::WordCount(n),
        bip39::Error::UnknownWord(i) => HdError::UnknownWord(i + 1),
        bip39::Error::InvalidChecksum => HdError::Checksum,
        // Only reachable from entropy of a bad length, which `generate` never passes, or from
        // language detection, which `parse` does not use.
        other => HdError::Derivation(other.to_string()),
    }
}

/// A 64-byte BIP39 seed. Erased from memory when dropped; `Debug` shows nothing of it.
pub struct Seed(Zeroizing<[u8; 64]>);

impl Seed {
    /// Wraps seed bytes (for seeds that do not come from a phrase, e.g. BIP32 test vectors).
    pub fn from_bytes(bytes: [u8; 64]) -> Seed {
        Seed(Zeroizing::new(bytes))
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed([redacted])")
    }
}

/// Erases a private extended key in place (the secret key and the chain code).
fn erase(key: &mut Xpriv) {
    key.private_key.non_secure_erase();
    key.chain_code = ChainCode::from([0u8; 32]);
}

/// An `Xpriv` that is erased when dropped.
struct ErasedOnDrop(Xpriv);

impl Drop for ErasedOnDrop {
    fn drop(&mut self) {
        erase(&mut self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Extended public key formats
// ---------------------------------------------------------------------------------------------

/// How an account's extended public key is spelled: the same 78 bytes with different version
/// bytes (BIP32 and SLIP-132).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XpubFormat {
    /// `xpub` (`0488b21e`), Bitcoin and Litecoin mainnet; what Bitcoin Core and Litecoin Core
    /// descriptors read.
    Xpub,
    /// `zpub` (`04b24746`), mainnet, marked native segwit (SLIP-132); Electrum's and most
    /// mobile wallets' BIP84 export.
    Zpub,
    /// `tpub` (`043587cf`), every test chain; what the nodes' descriptors read there.
    Tpub,
    /// `vpub` (`045f1cf6`), test chains, marked native segwit.
    Vpub,
    /// `Ltub` (`019da462`), Litecoin mainnet (SLIP-132 "P2PKH or P2SH"); Litecoin Core itself
    /// uses `xpub`.
    Ltub,
    /// `ttub` (`0436f6e1`), Litecoin test chains (SLIP-132 "P2PKH or P2SH").
    Ttub,
}

impl XpubFormat {
    const ALL: [XpubFormat; 6] = [
        XpubFormat::Xpub,
        XpubFormat::Zpub,
        XpubFormat::Tpub,
        XpubFormat::Vpub,
        XpubFormat::Ltub,
        XpubFormat::Ttub,
    ];

    /// The four version bytes.
    pub const fn version(self) -> [u8; 4] {
        match self {
            XpubFormat::Xpub => [0x04, 0x88, 0xb2, 0x1e],
            XpubFormat::Zpub => [0x04, 0xb2, 0x47, 0x46],
            XpubFormat::Tpub => [0x04, 0x35, 0x87, 0xcf],
            XpubFormat::Vpub => [0x04, 0x5f, 0x1c, 0xf6],
            XpubFormat::Ltub => [0x01, 0x9d, 0xa4, 0x62],
            XpubFormat::Ttub => [0x04, 0x36, 0xf6, 0xe1],
        }
    }

    /// The first four characters every key in this format starts with.
    pub const fn prefix(self) -> &'static str {
        match self {
            XpubFormat::Xpub => "xpub",
            XpubFormat::Zpub => "zpub",
            XpubFormat::Tpub => "tpub",
            XpubFormat::Vpub => "vpub",
            XpubFormat::Ltub => "Ltub",
            XpubFormat::Ttub => "ttub",
        }
    }

    /// Whether keys in this format are meant for `coin` on `chain`.
    pub const fn fits(self, coin: Coin, chain: Chain) -> bool {
        match (self, chain) {
            (XpubFormat::Xpub | XpubFormat::Zpub, Chain::Mainnet) => true,
            (XpubFormat::Tpub | XpubFormat::Vpub, Chain::Testnet | Chain::Regtest) => true,
            (XpubFormat::Ltub, Chain::Mainnet) => matches!(coin, Coin::Litecoin),
            (XpubFormat::Ttub, Chain::Testnet | Chain::Regtest) => {
                matches!(coin, Coin::Litecoin)
            }
            _ => false,
        }
    }

    /// The plain BIP32 format of a chain (`xpub` or `tpub`), which the nodes' descriptors read.
    pub const fn standard(chain: Chain) -> XpubFormat {
        match chain {
            Chain::Mainnet => XpubFormat::Xpub,
            Chain::Testnet | Chain::Regtest => XpubFormat::Tpub,
        }
    }

    /// The SLIP-132 native segwit format of a chain (`zpub` or `vpub`), which wallets show for
    /// BIP84 accounts.
    pub const fn segwit(chain: Chain) -> XpubFormat {
        match chain {
            Chain::Mainnet => XpubFormat::Zpub,
            Chain::Testnet | Chain::Regtest => XpubFormat::Vpub,
        }
    }
}

/// What a version that is not an accepted public format means, for the error.
fn refused_version(version: [u8; 4]) -> HdError {
    match u32::from_be_bytes(version) {
        // xprv yprv zprv tprv uprv vprv Ltpv Mtpv ttpv Zprv Vprv
        0x0488_ade4 | 0x049d_7878 | 0x04b2_430c | 0x0435_8394 | 0x044a_4e28 | 0x045f_18bc
        | 0x019d_9cfe | 0x01b2_6792 | 0x0436_ef7d | 0x02aa_7a99 | 0x0257_5048 => {
            HdError::PrivateKey
        }
        // ypub upub Mtub
        0x049d_7cb2 | 0x044a_5262 | 0x01b2_6ef6 => {
            HdError::WrongScriptType("nested segwit (P2SH-P2WPKH, BIP49)")
        }
        // Zpub Vpub
        0x02aa_7ed3 | 0x0257_5483 => HdError::WrongScriptType("multisig (P2WSH)"),
        _ => HdError::KeyFormat,
    }
}

// ---------------------------------------------------------------------------------------------
// Watch-only wallets
// ---------------------------------------------------------------------------------------------

/// A BIP84 account known by its extended public key: derives every receive and change address,
/// signs nothing.
#[derive(Clone)]
pub struct WatchOnlyWallet {
    coin: Coin,
    chain: Chain,
    account: Xpub,
    /// `account/0` and `account/1`, derived once: an address is then one step away.
    receive: Xpub,
    change: Xpub,
    secp: Secp256k1<VerifyOnly>,
}

impl WatchOnlyWallet {
    /// Reads an account's extended public key in any format that [fits](XpubFormat::fits)
    /// `coin` and `chain`. The key must be an account key: depth 3 with a hardened child
    /// number, as `m/84'/coin'/account'` is.
    pub fn from_account_xpub(
        coin: Coin,
        chain: Chain,
        text: &str,
    ) -> Result<WatchOnlyWallet, HdError> {
        // Erased when done, in case someone pasted a private key here.
        let mut data =
            Zeroizing::new(base58::decode_check(text.trim()).map_err(|_| HdError::KeyFormat)?);
        if data.len() != 78 {
            return Err(HdError::KeyFormat);
        }
        let version = [data[0], data[1], data[2], data[3]];
        let format = XpubFormat::ALL
            .into_iter()
            .find(|f| f.version() == version)
            .ok_or_else(|| refused_version(version))?;
        if !format.fits(coin, chain) {
            return Err(HdError::WrongNetwork);
        }
        // The `bitcoin` crate reads only the plain versions; the rest of the bytes are the same.
        data[..4].copy_from_slice(&XpubFormat::standard(chain).version());
        let account = Xpub::decode(&data).map_err(|_| HdError::KeyFormat)?;
        if account.depth != ACCOUNT_DEPTH || !account.child_number.is_hardened() {
            return Err(HdError::NotAccountKey {
                depth: account.depth,
                child: account.child_number.to_string(),
            });
        }
        Self::from_xpub(coin, chain, account)
    }

    fn from_xpub(coin: Coin, chain: Chain, account: Xpub) -> Result<WatchOnlyWallet, HdError> {
        let secp = Secp256k1::verification_only();
        let receive = account.ckd_pub(&secp, normal_child(Branch::Receive.number())?)?;
        let change = account.ckd_pub(&secp, normal_child(Branch::Change.number())?)?;
        Ok(WatchOnlyWallet {
            coin,
            chain,
            account,
            receive,
            change,
            secp,
        })
    }

    /// The coin whose addresses this wallet derives.
    pub fn coin(&self) -> Coin {
        self.coin
    }

    /// The chain whose addresses this wallet derives.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The account key in the chain's plain format (`xpub`/`tpub`), as node descriptors read it.
    pub fn account_xpub(&self) -> String {
        self.encode(XpubFormat::standard(self.chain))
    }

    /// The account key in `format`, if that format [fits](XpubFormat::fits) this wallet's coin
    /// and chain.
    pub fn account_xpub_as(&self, format: XpubFormat) -> Result<String, HdError> {
        if !format.fits(self.coin, self.chain) {
            return Err(HdError::WrongNetwork);
        }
        Ok(self.encode(format))
    }

    fn encode(&self, format: XpubFormat) -> String {
        let mut data = self.account.encode();
        data[..4].copy_from_slice(&format.version());
        base58::encode_check(&data)
    }

    /// The fingerprint of the account key (not of the master key, which a watch-only wallet
    /// does not know).
    pub fn account_fingerprint(&self) -> Fingerprint {
        self.account.fingerprint()
    }

    /// The public key at `branch`/`index` under the account.
    pub fn public_key(&self, branch: Branch, index: u32) -> Result<PublicKey, HdError> {
        let parent = match branch {
            Branch::Receive => &self.receive,
            Branch::Change => &self.change,
        };
        Ok(parent.ckd_pub(&self.secp, normal_child(index)?)?.public_key)
    }

    /// The P2WPKH program (HASH160 of the public key) at `branch`/`index`.
    pub fn key_hash(&self, branch: Branch, index: u32) -> Result<[u8; 20], HdError> {
        Ok(key_hash(&self.public_key(branch, index)?))
    }

    /// The P2WPKH address at `branch`/`index`, with the coin's and chain's prefix.
    pub fn address(&self, branch: Branch, index: u32) -> Result<String, HdError> {
        Ok(p2wpkh(
            self.coin,
            self.chain,
            &self.key_hash(branch, index)?,
        ))
    }

    /// The ranged output descriptor of a branch, `wpkh(<xpub>/<branch>/*)`, without a checksum
    /// (nodes add it with `getdescriptorinfo`).
    pub fn descriptor(&self, branch: Branch) -> String {
        format!("wpkh({}/{}/*)", self.account_xpub(), branch.number())
    }
}

impl fmt::Debug for WatchOnlyWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchOnlyWallet")
            .field("coin", &self.coin)
            .field("chain", &self.chain)
            .field("account_fingerprint", &self.account_fingerprint())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Hot wallets
// ---------------------------------------------------------------------------------------------

/// A BIP84 account with its private key: derives the same addresses as its
/// [`WatchOnlyWallet`] and the keys that spend from them. The private key is erased when the
/// wallet is dropped, and `Debug` does not show it.
pub struct HotWallet {
    account: Xpriv,
    master_fingerprint: Fingerprint,
    watch: WatchOnlyWallet,
    secp: Secp256k1<All>,
}

impl HotWallet {
    /// The account `m/84'/coin'/0'` of a recovery phrase and passphrase (empty if none).
    pub fn from_mnemonic(
        mnemonic: &Mnemonic,
        passphrase: &str,
        coin: Coin,
        chain: Chain,
    ) -> Result<HotWallet, HdError> {
        Self::from_seed(&mnemonic.to_seed(passphrase), coin, chain)
    }

    /// The account `m/84'/coin'/0'` of a BIP39 seed.
    pub fn from_seed(seed: &Seed, coin: Coin, chain: Chain) -> Result<HotWallet, HdError> {
        let secp = Secp256k1::new();
        let master = master_key(seed, chain)?;
        let master_fingerprint = master.0.fingerprint(&secp);
        let account = master
            .0
            .derive_priv(&secp, &account_children(coin, chain)?)?;
        let watch = WatchOnlyWallet::from_xpub(coin, chain, Xpub::from_priv(&secp, &account));
        let watch = match watch {
            Ok(watch) => watch,
            Err(e) => {
                let mut account = account;
                erase(&mut account);
                return Err(e);
            }
        };
        Ok(HotWallet {
            account,
            master_fingerprint,
            watch,
            secp,
        })
    }

    /// The watch-only half: the account's public key and address derivation.
    pub fn watch_only(&self) -> &WatchOnlyWallet {
        &self.watch
    }

    /// The fingerprint of the master key (the key origin in descriptors and PSBTs).
    pub fn master_fingerprint(&self) -> Fingerprint {
        self.master_fingerprint
    }

    /// The P2WPKH address at `branch`/`index` (the same as the watch-only wallet's).
    pub fn address(&self, branch: Branch, index: u32) -> Result<String, HdError> {
        self.watch.address(branch, index)
    }

    /// The key that spends outputs paid to the address at `branch`/`index`.
    pub fn signing_key(&self, branch: Branch, index: u32) -> Result<SigningKey, HdError> {
        let path = [normal_child(branch.number())?, normal_child(index)?];
        let derived = ErasedOnDrop(self.account.derive_priv(&self.secp, &path)?);
        let secret = derived.0.private_key;
        Ok(SigningKey {
            public: PublicKey::from_secret_key(&self.secp, &secret),
            secret,
            branch,
            index,
        })
    }
}

impl Drop for HotWallet {
    fn drop(&mut self) {
        erase(&mut self.account);
    }
}

impl fmt::Debug for HotWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotWallet")
            .field("coin", &self.watch.coin)
            .field("chain", &self.watch.chain)
            .field("master_fingerprint", &self.master_fingerprint)
            .finish_non_exhaustive()
    }
}

/// The BIP32 master key of a seed.
fn master_key(seed: &Seed, chain: Chain) -> Result<ErasedOnDrop, HdError> {
    Ok(ErasedOnDrop(Xpriv::new_master(
        network_kind(chain),
        &seed.0[..],
    )?))
}

/// The private key of one address, for signing a withdrawal's inputs. Erased when dropped;
/// `Debug` shows the path and the public key only.
pub struct SigningKey {
    secret: SecretKey,
    public: PublicKey,
    branch: Branch,
    index: u32,
}

impl SigningKey {
    /// The compressed public key (what a P2WPKH witness carries).
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The P2WPKH program of the key: HASH160 of the compressed public key.
    pub fn key_hash(&self) -> [u8; 20] {
        key_hash(&self.public)
    }

    /// Which branch and index of the account this key is.
    pub fn path(&self) -> (Branch, u32) {
        (self.branch, self.index)
    }

    /// The secret key, for code that builds signatures itself. Do not copy it into anything
    /// that outlives this value.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// An ECDSA signature of a 32-byte digest (a BIP143 sighash): RFC 6979 nonces, low S,
    /// and low R (as Bitcoin Core grinds it), so a DER encoding is at most 70 bytes (71 with
    /// the sighash type a witness appends).
    pub fn sign_digest(&self, digest: [u8; 32]) -> secp256k1::ecdsa::Signature {
        Secp256k1::signing_only().sign_ecdsa_low_r(&Message::from_digest(digest), &self.secret)
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.secret.non_secure_erase();
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("branch", &self.branch)
            .field("index", &self.index)
            .field("public_key", &format_args!("{}", self.public))
            .finish_non_exhaustive()
    }
}

pub mod evm;

#[cfg(test)]
mod tests;
