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

#[cfg(test)]
mod tests {
    use bitcoin::secp256k1::ecdsa::Signature;

    use super::*;
    use crate::address::utxo::{UtxoAddress, decode};

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    fn abandon_btc() -> HotWallet {
        let m = Mnemonic::parse(ABANDON).unwrap();
        HotWallet::from_mnemonic(&m, "", Coin::Bitcoin, Chain::Mainnet).unwrap()
    }

    fn swap_version(text: &str, version: [u8; 4]) -> String {
        let mut data = base58::decode_check(text).unwrap();
        data[..4].copy_from_slice(&version);
        base58::encode_check(&data)
    }

    /// BIP84's test vectors, all of them.
    #[test]
    fn bip84_vectors() {
        let m = Mnemonic::parse(ABANDON).unwrap();
        let seed = m.to_seed("");
        let secp = Secp256k1::new();
        let master = master_key(&seed, Chain::Mainnet).unwrap();
        let zprv = |k: &Xpriv| swap_version(&k.to_string(), [0x04, 0xb2, 0x43, 0x0c]);
        let zpub = |k: &Xpub| swap_version(&k.to_string(), XpubFormat::Zpub.version());
        assert_eq!(
            zprv(&master.0),
            "zprvAWgYBBk7JR8Gjrh4UJQ2uJdG1r3WNRRfURiABBE3RvMXYSrRJL62XuezvGdPvG6GFBZduosCc1YP5wixPox7zhZLfiUm8aunE96BBa4Kei5"
        );
        assert_eq!(
            zpub(&Xpub::from_priv(&secp, &master.0)),
            "zpub6jftahH18ngZxLmXaKw3GSZzZsszmt9WqedkyZdezFtWRFBZqsQH5hyUmb4pCEeZGmVfQuP5bedXTB8is6fTv19U1GQRyQUKQGUTzyHACMF"
        );

        let wallet = abandon_btc();
        assert_eq!(
            zprv(&wallet.account),
            "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1yYNZKEm7z6qUWCroSQnE"
        );
        let watch = wallet.watch_only();
        let zpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";
        assert_eq!(watch.account_xpub_as(XpubFormat::Zpub).unwrap(), zpub);
        assert_eq!(
            watch.account_xpub(),
            "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
        );
        assert_eq!(wallet.master_fingerprint().to_string(), "73c5da0a");

        let cases = [
            (
                Branch::Receive,
                0,
                "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d",
                "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c",
                "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
            ),
            (
                Branch::Receive,
                1,
                "Kxpf5b8p3qX56DKEe5NqWbNUP9MnqoRFzZwHRtsFqhzuvUJsYZCy",
                "03e775fd51f0dfb8cd865d9ff1cca2a158cf651fe997fdc9fee9c1d3b5e995ea77",
                "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
            ),
            (
                Branch::Change,
                0,
                "KxuoxufJL5csa1Wieb2kp29VNdn92Us8CoaUG3aGtPtcF3AzeXvF",
                "03025324888e429ab8e3dbaf1f7802648b9cd01e9b418485c5fa4c1b9b5700e1a6",
                "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el",
            ),
        ];
        // The watch-only wallet from the published zpub derives the same.
        let imported =
            WatchOnlyWallet::from_account_xpub(Coin::Bitcoin, Chain::Mainnet, zpub).unwrap();
        for (branch, index, wif, public, address) in cases {
            let key = wallet.signing_key(branch, index).unwrap();
            let wif_key = bitcoin::PrivateKey::from_wif(wif).unwrap();
            assert_eq!(*key.secret_key(), wif_key.inner, "{address}");
            assert_eq!(key.public_key().to_string(), public);
            assert_eq!(key.path(), (branch, index));
            assert_eq!(wallet.address(branch, index).unwrap(), address);
            assert_eq!(imported.address(branch, index).unwrap(), address);
            assert_eq!(imported.key_hash(branch, index).unwrap(), key.key_hash());
            // And the `bitcoin` crate's own address encoder agrees.
            let compressed = bitcoin::CompressedPublicKey(key.public_key());
            assert_eq!(
                bitcoin::Address::p2wpkh(&compressed, bitcoin::Network::Bitcoin).to_string(),
                address
            );
        }
    }

    /// The same phrase on Litecoin mainnet (`m/84'/2'/0'`), as Litecoin wallets derive it, and
    /// the BIP84 key hashes spelled with `ltc1`.
    #[test]
    fn litecoin_addresses() {
        let m = Mnemonic::parse(ABANDON).unwrap();
        let ltc = HotWallet::from_mnemonic(&m, "", Coin::Litecoin, Chain::Mainnet).unwrap();
        assert_eq!(
            ltc.address(Branch::Receive, 0).unwrap(),
            "ltc1qjmxnz78nmc8nq77wuxh25n2es7rzm5c2rkk4wh"
        );
        assert_eq!(
            ltc.address(Branch::Receive, 1).unwrap(),
            "ltc1qwlezpr3890hcp6vva9twqh27mr6edadreqvhnn"
        );
        assert_eq!(
            ltc.address(Branch::Change, 0).unwrap(),
            "ltc1qyeljcy9v88jg8sqvnqh0m5q390xruc5r98q9yy"
        );
        assert_eq!(account_path(Coin::Litecoin, Chain::Mainnet), "m/84'/2'/0'");

        let btc = abandon_btc();
        for (branch, index) in [
            (Branch::Receive, 0),
            (Branch::Receive, 1),
            (Branch::Change, 0),
        ] {
            let hash = btc.watch_only().key_hash(branch, index).unwrap();
            let bc = btc.address(branch, index).unwrap();
            let ltc = p2wpkh(Coin::Litecoin, Chain::Mainnet, &hash);
            // Same data characters, another prefix and checksum.
            assert_eq!(ltc[4..ltc.len() - 6], bc[3..bc.len() - 6]);
            assert_eq!(
                decode(Coin::Litecoin, Chain::Mainnet, &ltc),
                Ok(UtxoAddress::Segwit {
                    version: 0,
                    program: hash.to_vec()
                })
            );
        }
    }

    /// Trezor's BIP39 vectors (passphrase "TREZOR"): phrase → seed → BIP32 master key.
    #[test]
    fn bip39_trezor_vectors() {
        let cases = [
            (
                "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
                "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
                "xprv9s21ZrQH143K3h3fDYiay8mocZ3afhfULfb5GX8kCBdno77K4HiA15Tg23wpbeF1pLfs1c5SPmYHrEpTuuRhxMwvKDwqdKiGJS9XFKzUsAF",
            ),
            (
                "legal winner thank year wave sausage worth useful legal winner thank yellow",
                "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
                "xprv9s21ZrQH143K2gA81bYFHqU68xz1cX2APaSq5tt6MFSLeXnCKV1RVUJt9FWNTbrrryem4ZckN8k4Ls1H6nwdvDTvnV7zEXs2HgPezuVccsq",
            ),
            (
                "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art",
                "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8",
                "xprv9s21ZrQH143K32qBagUJAMU2LsHg3ka7jqMcV98Y7gVeVyNStwYS3U7yVVoDZ4btbRNf4h6ibWpY22iRmXq35qgLs79f312g2kj5539ebPM",
            ),
        ];
        for (phrase, seed, xprv) in cases {
            let m = Mnemonic::parse(phrase).unwrap();
            let s = m.to_seed("TREZOR");
            assert_eq!(hex::encode(&s.0[..]), seed, "{phrase}");
            let master = master_key(&s, Chain::Mainnet).unwrap();
            assert_eq!(master.0.to_string(), xprv);
            assert_eq!(*m.phrase(), phrase);
        }
        // Any whitespace and letter case is read the same.
        let messy =
            "  Legal winner THANK year\twave sausage worth useful legal winner thank yellow\n";
        assert_eq!(
            hex::encode(&Mnemonic::parse(messy).unwrap().to_seed("TREZOR").0[..]),
            cases[1].1
        );
    }

    #[test]
    fn bad_phrases_are_refused() {
        // A valid word list whose checksum does not match (the last word changed).
        assert_eq!(
            Mnemonic::parse("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon").unwrap_err(),
            HdError::Checksum
        );
        assert_eq!(
            Mnemonic::parse(
                "legal winner thank year wave sausage worth useful legal winner thank year"
            )
            .unwrap_err(),
            HdError::Checksum
        );
        // Two words swapped.
        assert_eq!(
            Mnemonic::parse(
                "winner legal thank year wave sausage worth useful legal winner thank yellow"
            )
            .unwrap_err(),
            HdError::Checksum
        );
        assert_eq!(
            Mnemonic::parse("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about").unwrap_err(),
            HdError::WordCount(11)
        );
        assert_eq!(
            Mnemonic::parse("abandon abandon abandon abandon abandon abandon abandon bitcoin abandon abandon abandon about").unwrap_err(),
            HdError::UnknownWord(8)
        );
        assert_eq!(Mnemonic::parse("").unwrap_err(), HdError::WordCount(0));
    }

    #[test]
    fn generated_phrases_are_24_fresh_words() {
        let a = Mnemonic::generate().unwrap();
        let b = Mnemonic::generate().unwrap();
        assert_eq!(a.word_count(), 24);
        assert_eq!(a.phrase().split(' ').count(), Mnemonic::GENERATED_WORDS);
        assert_ne!(*a.phrase(), *b.phrase());
        // What is shown is what reads back.
        let again = Mnemonic::parse(&a.phrase()).unwrap();
        assert_eq!(*again.phrase(), *a.phrase());
        assert_eq!(
            hex::encode(&again.to_seed("x").0[..]),
            hex::encode(&a.to_seed("x").0[..])
        );
        assert_ne!(
            hex::encode(&a.to_seed("").0[..]),
            hex::encode(&a.to_seed("x").0[..]),
            "the passphrase changes the seed"
        );
    }

    #[test]
    fn debug_output_shows_no_secrets() {
        let m = Mnemonic::parse(ABANDON).unwrap();
        let seed = m.to_seed("");
        let wallet = abandon_btc();
        let key = wallet.signing_key(Branch::Receive, 0).unwrap();
        let texts = [
            format!("{m:?}"),
            format!("{seed:?}"),
            format!("{wallet:?}"),
            format!("{:?}", wallet.watch_only()),
            format!("{key:?}"),
            format!("{:#?}", (&m, &seed, &wallet, &key)),
        ];
        let secret_hex = hex::encode(key.secret_key().secret_bytes());
        let account_secret = hex::encode(wallet.account.private_key.secret_bytes());
        let chain_code = hex::encode(wallet.account.chain_code.as_bytes());
        let seed_hex = hex::encode(&seed.0[..]);
        for text in &texts {
            for needle in [
                "abandon",
                "about",
                secret_hex.as_str(),
                account_secret.as_str(),
                chain_code.as_str(),
                &seed_hex[..16],
                "zprv",
                "xprv",
            ] {
                assert!(!text.contains(needle), "{text} contains {needle}");
            }
        }
        assert_eq!(texts[0], "Mnemonic([redacted; 12 words])");
        assert!(
            texts[4].contains("0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c")
        );
    }

    #[test]
    fn secrets_are_erased_on_drop() {
        let mut key = abandon_btc().account;
        let before = key.private_key.secret_bytes();
        erase(&mut key);
        assert_ne!(key.private_key.secret_bytes(), before);
        assert_eq!(key.chain_code.to_bytes(), [0u8; 32]);
    }

    #[test]
    fn test_chains_use_coin_type_1_and_their_prefixes() {
        let m = Mnemonic::parse(ABANDON).unwrap();
        let seed = m.to_seed("");
        let mut seen = Vec::new();
        for coin in [Coin::Bitcoin, Coin::Litecoin] {
            for chain in [Chain::Testnet, Chain::Regtest] {
                assert_eq!(coin_type(coin, chain), 1);
                let w = HotWallet::from_seed(&seed, coin, chain).unwrap();
                let a = w.address(Branch::Receive, 0).unwrap();
                assert!(a.starts_with(&format!("{}1q", coin.hrp(chain))), "{a}");
                let tpub = w.watch_only().account_xpub();
                assert!(tpub.starts_with("tpub"));
                assert!(
                    w.watch_only()
                        .account_xpub_as(XpubFormat::Vpub)
                        .unwrap()
                        .starts_with("vpub")
                );
                seen.push(w.watch_only().key_hash(Branch::Receive, 0).unwrap());
            }
        }
        // Every test chain of both coins shares m/84'/1'/0', so the same keys.
        assert!(seen.windows(2).all(|w| w[0] == w[1]));
        // BIP84's testnet account key of this phrase (m/84'/1'/0', published as vpub by wallets).
        let w = HotWallet::from_seed(&seed, Coin::Bitcoin, Chain::Testnet).unwrap();
        assert_eq!(
            w.address(Branch::Receive, 0).unwrap(),
            "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"
        );
    }

    #[test]
    fn xpub_formats_round_trip_and_are_checked() {
        let wallet = abandon_btc();
        let watch = wallet.watch_only();
        let xpub = watch.account_xpub();
        let zpub = watch.account_xpub_as(XpubFormat::Zpub).unwrap();
        let want = watch.address(Branch::Receive, 7).unwrap();
        for text in [&xpub, &zpub] {
            let w =
                WatchOnlyWallet::from_account_xpub(Coin::Bitcoin, Chain::Mainnet, text).unwrap();
            assert_eq!(w.address(Branch::Receive, 7).unwrap(), want);
            assert_eq!(w.account_xpub(), xpub);
        }
        // Litecoin's own versions.
        let ltc = HotWallet::from_mnemonic(
            &Mnemonic::parse(ABANDON).unwrap(),
            "",
            Coin::Litecoin,
            Chain::Mainnet,
        )
        .unwrap();
        let ltub = ltc.watch_only().account_xpub_as(XpubFormat::Ltub).unwrap();
        assert!(ltub.starts_with("Ltub"), "{ltub}");
        let from_ltub =
            WatchOnlyWallet::from_account_xpub(Coin::Litecoin, Chain::Mainnet, &ltub).unwrap();
        assert_eq!(
            from_ltub.address(Branch::Receive, 0).unwrap(),
            "ltc1qjmxnz78nmc8nq77wuxh25n2es7rzm5c2rkk4wh"
        );
        let ltc_test = HotWallet::from_mnemonic(
            &Mnemonic::parse(ABANDON).unwrap(),
            "",
            Coin::Litecoin,
            Chain::Regtest,
        )
        .unwrap();
        let ttub = ltc_test
            .watch_only()
            .account_xpub_as(XpubFormat::Ttub)
            .unwrap();
        assert!(ttub.starts_with("ttub"), "{ttub}");
        assert_eq!(
            WatchOnlyWallet::from_account_xpub(Coin::Litecoin, Chain::Regtest, &ttub)
                .unwrap()
                .address(Branch::Change, 3)
                .unwrap(),
            ltc_test.address(Branch::Change, 3).unwrap()
        );
        // Wrong chain or coin.
        assert_eq!(
            watch.account_xpub_as(XpubFormat::Tpub).unwrap_err(),
            HdError::WrongNetwork
        );
        assert_eq!(
            watch.account_xpub_as(XpubFormat::Ltub).unwrap_err(),
            HdError::WrongNetwork
        );
        for (coin, chain, text) in [
            (Coin::Bitcoin, Chain::Testnet, &xpub),
            (Coin::Bitcoin, Chain::Regtest, &zpub),
            (Coin::Bitcoin, Chain::Mainnet, &ltub),
            (Coin::Litecoin, Chain::Testnet, &ltub),
            (Coin::Litecoin, Chain::Mainnet, &ttub),
        ] {
            assert_eq!(
                WatchOnlyWallet::from_account_xpub(coin, chain, text).unwrap_err(),
                HdError::WrongNetwork,
                "{text} on {coin:?} {chain:?}"
            );
        }
        // Private keys, other script types, other shapes.
        let zprv = swap_version(&wallet.account.to_string(), [0x04, 0xb2, 0x43, 0x0c]);
        for (text, want) in [
            (wallet.account.to_string(), HdError::PrivateKey),
            (zprv, HdError::PrivateKey),
            (
                swap_version(&xpub, [0x04, 0x9d, 0x7c, 0xb2]),
                HdError::WrongScriptType("nested segwit (P2SH-P2WPKH, BIP49)"),
            ),
            (
                swap_version(&xpub, [0x01, 0xb2, 0x6e, 0xf6]),
                HdError::WrongScriptType("nested segwit (P2SH-P2WPKH, BIP49)"),
            ),
            (
                swap_version(&xpub, [0x02, 0xaa, 0x7e, 0xd3]),
                HdError::WrongScriptType("multisig (P2WSH)"),
            ),
            (
                swap_version(&xpub, [0x01, 0x02, 0x03, 0x04]),
                HdError::KeyFormat,
            ),
            (xpub.replace('W', "X"), HdError::KeyFormat),
            ("xpub".to_owned(), HdError::KeyFormat),
            (String::new(), HdError::KeyFormat),
        ] {
            assert_eq!(
                WatchOnlyWallet::from_account_xpub(Coin::Litecoin, Chain::Mainnet, &text)
                    .unwrap_err(),
                want,
                "{text}"
            );
        }
        let mtub = swap_version(&xpub, [0x01, 0xb2, 0x6e, 0xf6]);
        assert!(mtub.starts_with("Mtub"), "{mtub}");
        // Only account keys: the master key (depth 0) and an address key (depth 5) are not.
        let secp = Secp256k1::new();
        let seed = Mnemonic::parse(ABANDON).unwrap().to_seed("");
        let master = Xpub::from_priv(&secp, &master_key(&seed, Chain::Mainnet).unwrap().0);
        assert_eq!(
            WatchOnlyWallet::from_account_xpub(Coin::Bitcoin, Chain::Mainnet, &master.to_string())
                .unwrap_err(),
            HdError::NotAccountKey {
                depth: 0,
                child: "0".into()
            }
        );
        let deep = wallet
            .watch_only()
            .receive
            .ckd_pub(&secp, ChildNumber::from(5))
            .unwrap();
        assert!(matches!(
            WatchOnlyWallet::from_account_xpub(Coin::Bitcoin, Chain::Mainnet, &deep.to_string()),
            Err(HdError::NotAccountKey { depth: 5, .. })
        ));
    }

    #[test]
    fn indexes_stop_below_the_hardened_range() {
        let wallet = abandon_btc();
        assert!(wallet.address(Branch::Receive, (1 << 31) - 1).is_ok());
        assert_eq!(
            wallet.address(Branch::Receive, 1 << 31).unwrap_err(),
            HdError::Index(1 << 31)
        );
        assert_eq!(
            wallet.signing_key(Branch::Change, u32::MAX).unwrap_err(),
            HdError::Index(u32::MAX)
        );
    }

    #[test]
    fn signatures_verify_against_the_address_key() {
        let wallet = abandon_btc();
        let key = wallet.signing_key(Branch::Receive, 3).unwrap();
        let digest = [7u8; 32];
        let sig: Signature = key.sign_digest(digest);
        assert!(sig.serialize_der().len() <= 70, "low R");
        let public = wallet.watch_only().public_key(Branch::Receive, 3).unwrap();
        Secp256k1::verification_only()
            .verify_ecdsa(&Message::from_digest(digest), &sig, &public)
            .unwrap();
        // Deterministic (RFC 6979).
        assert_eq!(key.sign_digest(digest), sig);
    }

    #[test]
    fn descriptors_name_the_branch() {
        let wallet = abandon_btc();
        assert_eq!(
            wallet.watch_only().descriptor(Branch::Change),
            format!("wpkh({}/1/*)", wallet.watch_only().account_xpub())
        );
    }
}
