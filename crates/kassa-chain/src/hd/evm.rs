//! Keccak-address accounts: EVM (Ethereum, BNB Smart Chain, Arbitrum, Optimism, Base — one
//! key space for all) at BIP44 `m/44'/60'/0'`, as MetaMask, Ledger and ethers derive them, and
//! TRON at `m/44'/195'/0'`, as TronWeb and TronLink do ([`KeccakCoin`]). Deposit addresses are
//! on `…/0/i`. An address is the last 20 bytes of Keccak-256 of the uncompressed public key
//! (without its `04` prefix), written with the EIP-55 checksum (EVM) or base58check with the
//! `0x41` version byte (TRON).
//!
//! - an [`EvmHotWallet`] comes from a recovery phrase and derives addresses and the signing key
//!   of any index;
//! - an [`EvmWallet`] comes from the account's extended public key (`xpub…`, depth 3,
//!   hardened: the key a hardware wallet exports for `m/44'/60'/0'`) and derives the same
//!   addresses without being able to spend.

use bitcoin::base58;
use bitcoin::bip32::{ChildNumber, Xpriv, Xpub};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey, VerifyOnly};
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

use super::{ACCOUNT_DEPTH, ErasedOnDrop, HdError, Mnemonic, Seed, erase, normal_child};
use crate::address::evm as address;

/// The account path of EVM networks, `m/44'/60'/0'`.
pub const ACCOUNT_PATH: &str = "m/44'/60'/0'";

/// The hot wallet's own address, where deposits are swept and withdrawals leave from:
/// `m/44'/60'/0'/1/0`, off the branch deposit addresses are handed out on.
pub const TREASURY_PATH: &str = "m/44'/60'/0'/1/0";

/// Whose accounts: the same keys and 20-byte accounts, another SLIP-44 coin type and another
/// way to write an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeccakCoin {
    /// Every EVM network (coin type 60, EIP-55).
    Ethereum,
    /// TRON (coin type 195, base58check `T…`).
    Tron,
}

impl KeccakCoin {
    /// SLIP-44's coin type.
    pub fn coin_type(self) -> u32 {
        match self {
            KeccakCoin::Ethereum => 60,
            KeccakCoin::Tron => 195,
        }
    }

    /// The account path, `m/44'/<coin type>'/0'`.
    pub fn account_path(self) -> &'static str {
        match self {
            KeccakCoin::Ethereum => ACCOUNT_PATH,
            KeccakCoin::Tron => "m/44'/195'/0'",
        }
    }

    /// The treasury's path, `…/1/0`.
    pub fn treasury_path(self) -> &'static str {
        match self {
            KeccakCoin::Ethereum => TREASURY_PATH,
            KeccakCoin::Tron => "m/44'/195'/0'/1/0",
        }
    }

    /// An account as people write it on this chain.
    pub fn encode(self, account: &[u8; 20]) -> String {
        match self {
            KeccakCoin::Ethereum => address::encode(account),
            KeccakCoin::Tron => crate::address::tron::encode(account),
        }
    }
}

/// The version bytes of a mainnet `xpub` (the only form EVM wallets export).
const XPUB_VERSION: [u8; 4] = [0x04, 0x88, 0xb2, 0x1e];

/// The 20-byte account of a public key.
pub fn account_of(key: &PublicKey) -> [u8; 20] {
    let uncompressed = key.serialize_uncompressed();
    let hash = Keccak256::digest(&uncompressed[1..]);
    let mut bytes = [0u8; 20];
    bytes.copy_from_slice(&hash[12..]);
    bytes
}

/// The EIP-55 address of a public key.
pub fn address_of(key: &PublicKey) -> String {
    address::encode(&account_of(key))
}

/// An account's public half (EVM, or TRON: see [`KeccakCoin`]): derives deposit addresses,
/// cannot spend.
#[derive(Clone)]
pub struct EvmWallet {
    coin: KeccakCoin,
    account: Xpub,
    /// `account/0`, derived once.
    receive: Xpub,
    secp: Secp256k1<VerifyOnly>,
}

impl std::fmt::Debug for EvmWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvmWallet")
            .field("account", &self.account_xpub())
            .finish()
    }
}

impl EvmWallet {
    /// Reads the account's extended public key (`xpub…` for `m/44'/60'/0'`).
    pub fn from_account_xpub(text: &str) -> Result<EvmWallet, HdError> {
        Self::from_account_xpub_of(KeccakCoin::Ethereum, text)
    }

    /// Reads the account's extended public key (`xpub…`) of `coin`'s account path.
    pub fn from_account_xpub_of(coin: KeccakCoin, text: &str) -> Result<EvmWallet, HdError> {
        // Erased when done, in case someone pasted a private key here.
        let data =
            Zeroizing::new(base58::decode_check(text.trim()).map_err(|_| HdError::KeyFormat)?);
        if data.len() != 78 || data[..4] != XPUB_VERSION {
            return Err(HdError::KeyFormat);
        }
        let account = Xpub::decode(&data).map_err(|_| HdError::KeyFormat)?;
        if account.depth != ACCOUNT_DEPTH || !account.child_number.is_hardened() {
            return Err(HdError::NotAccountKey {
                depth: account.depth,
                child: account.child_number.to_string(),
            });
        }
        Self::from_xpub(coin, account)
    }

    fn from_xpub(coin: KeccakCoin, account: Xpub) -> Result<EvmWallet, HdError> {
        let secp = Secp256k1::verification_only();
        let receive = account.ckd_pub(&secp, normal_child(0)?)?;
        Ok(EvmWallet {
            coin,
            account,
            receive,
            secp,
        })
    }

    /// The account key as wallets show it (`xpub…`).
    pub fn account_xpub(&self) -> String {
        self.account.to_string()
    }

    /// Whose account it is.
    pub fn coin(&self) -> KeccakCoin {
        self.coin
    }

    /// The public key at receive index `index`.
    pub fn public_key(&self, index: u32) -> Result<PublicKey, HdError> {
        Ok(self
            .receive
            .ckd_pub(&self.secp, normal_child(index)?)?
            .public_key)
    }

    /// The deposit address at receive index `index`.
    pub fn address(&self, index: u32) -> Result<String, HdError> {
        Ok(self.coin.encode(&account_of(&self.public_key(index)?)))
    }

    /// The treasury's address ([`TREASURY_PATH`]).
    pub fn treasury_address(&self) -> Result<String, HdError> {
        let key = self
            .account
            .ckd_pub(&self.secp, normal_child(1)?)?
            .ckd_pub(&self.secp, normal_child(0)?)?;
        Ok(self.coin.encode(&account_of(&key.public_key)))
    }
}

impl crate::watch::DepositWallet for EvmWallet {
    fn receive_address(&self, index: u32) -> Result<String, HdError> {
        self.address(index)
    }
}

/// An account with its private key (from the recovery phrase): signs for any index.
pub struct EvmHotWallet {
    account: Xpriv,
    watch: EvmWallet,
    secp: Secp256k1<bitcoin::secp256k1::All>,
}

impl std::fmt::Debug for EvmHotWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvmHotWallet")
            .field("account", &self.watch.account_xpub())
            .finish_non_exhaustive()
    }
}

impl EvmHotWallet {
    /// The account `m/44'/60'/0'` of a recovery phrase and passphrase (empty if none).
    pub fn from_mnemonic(mnemonic: &Mnemonic, passphrase: &str) -> Result<EvmHotWallet, HdError> {
        Self::from_mnemonic_of(KeccakCoin::Ethereum, mnemonic, passphrase)
    }

    /// The account of `coin` (`m/44'/<coin type>'/0'`) of a recovery phrase and passphrase.
    pub fn from_mnemonic_of(
        coin: KeccakCoin,
        mnemonic: &Mnemonic,
        passphrase: &str,
    ) -> Result<EvmHotWallet, HdError> {
        Self::from_seed_of(coin, &mnemonic.to_seed(passphrase))
    }

    /// The account `m/44'/60'/0'` of a BIP39 seed.
    pub fn from_seed(seed: &Seed) -> Result<EvmHotWallet, HdError> {
        Self::from_seed_of(KeccakCoin::Ethereum, seed)
    }

    /// The account of `coin` of a BIP39 seed.
    pub fn from_seed_of(coin: KeccakCoin, seed: &Seed) -> Result<EvmHotWallet, HdError> {
        let secp = Secp256k1::new();
        let master = ErasedOnDrop(Xpriv::new_master(bitcoin::NetworkKind::Main, &seed.0[..])?);
        let path = [
            ChildNumber::from_hardened_idx(44).map_err(HdError::from)?,
            ChildNumber::from_hardened_idx(coin.coin_type()).map_err(HdError::from)?,
            ChildNumber::from_hardened_idx(0).map_err(HdError::from)?,
        ];
        let mut account = master.0.derive_priv(&secp, &path)?;
        match EvmWallet::from_xpub(coin, Xpub::from_priv(&secp, &account)) {
            Ok(watch) => Ok(EvmHotWallet {
                account,
                watch,
                secp,
            }),
            Err(e) => {
                erase(&mut account);
                Err(e)
            }
        }
    }

    /// The public half.
    pub fn watch_only(&self) -> &EvmWallet {
        &self.watch
    }

    /// The private key of the address at receive index `index` (erase it after use).
    pub fn secret_key(&self, index: u32) -> Result<Zeroizing<[u8; 32]>, HdError> {
        self.key_at(0, index)
    }

    /// The private key of the treasury ([`TREASURY_PATH`]).
    pub fn treasury_secret(&self) -> Result<Zeroizing<[u8; 32]>, HdError> {
        self.key_at(1, 0)
    }

    fn key_at(&self, branch: u32, index: u32) -> Result<Zeroizing<[u8; 32]>, HdError> {
        let path = [normal_child(branch)?, normal_child(index)?];
        let derived = ErasedOnDrop(self.account.derive_priv(&self.secp, &path)?);
        let secret: SecretKey = derived.0.private_key;
        Ok(Zeroizing::new(secret.secret_bytes()))
    }
}

impl Drop for EvmHotWallet {
    fn drop(&mut self) {
        erase(&mut self.account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses and account keys cross-checked with ethers 6 (`HDNodeWallet.fromMnemonic`).
    const VECTORS: [(&str, &str, [&str; 3]); 2] = [
        (
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
            "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt",
            [
                "0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
                "0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0",
                "0xb6716976A3ebe8D39aCEB04372f22Ff8e6802D7A",
            ],
        ),
        (
            "test test test test test test test test test test test junk",
            "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP",
            [
                "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
            ],
        ),
    ];

    #[test]
    fn hot_and_watch_only_wallets_derive_the_wallets_addresses() {
        for (phrase, xpub, addresses) in VECTORS {
            let hot = EvmHotWallet::from_mnemonic(&Mnemonic::parse(phrase).unwrap(), "").unwrap();
            assert_eq!(hot.watch_only().account_xpub(), xpub);
            let watch = EvmWallet::from_account_xpub(xpub).unwrap();
            for (i, want) in addresses.iter().enumerate() {
                let i = u32::try_from(i).unwrap();
                assert_eq!(hot.watch_only().address(i).unwrap(), *want);
                assert_eq!(watch.address(i).unwrap(), *want);
                // The signing key is the address's key.
                let secret = SecretKey::from_slice(&hot.secret_key(i).unwrap()[..]).unwrap();
                let public = PublicKey::from_secret_key(&Secp256k1::new(), &secret);
                assert_eq!(address_of(&public), *want);
            }
        }
    }

    #[test]
    fn the_treasury_is_off_the_deposit_branch_and_signs_for_itself() {
        for (phrase, xpub, addresses) in VECTORS {
            let hot = EvmHotWallet::from_mnemonic(&Mnemonic::parse(phrase).unwrap(), "").unwrap();
            let treasury = hot.watch_only().treasury_address().unwrap();
            assert_eq!(
                EvmWallet::from_account_xpub(xpub)
                    .unwrap()
                    .treasury_address()
                    .unwrap(),
                treasury,
                "watch-only knows it too"
            );
            assert!(!addresses.contains(&treasury.as_str()));
            let secret = SecretKey::from_slice(&hot.treasury_secret().unwrap()[..]).unwrap();
            let public = PublicKey::from_secret_key(&Secp256k1::new(), &secret);
            assert_eq!(address_of(&public), treasury);
        }
    }

    #[test]
    fn only_an_account_xpub_is_taken() {
        assert!(matches!(
            EvmWallet::from_account_xpub("xpub-nonsense"),
            Err(HdError::KeyFormat)
        ));
        // The master key of the test phrase: depth 0, not an account key.
        let seed = Mnemonic::parse(VECTORS[0].0).unwrap().to_seed("");
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(bitcoin::NetworkKind::Main, &seed.0[..]).unwrap();
        let master_pub = Xpub::from_priv(&secp, &master).to_string();
        assert!(matches!(
            EvmWallet::from_account_xpub(&master_pub),
            Err(HdError::NotAccountKey { depth: 0, .. })
        ));
        // A private key pasted by mistake is refused, not read.
        assert!(matches!(
            EvmWallet::from_account_xpub(&master.to_string()),
            Err(HdError::KeyFormat)
        ));
    }

    /// TRON accounts of the test phrase as TronWeb derives them (`TronWeb.fromMnemonic`;
    /// `testdata/tron_vectors.json`, made by `scripts/tron-vectors.mjs`).
    #[test]
    fn tron_accounts_match_tronweb() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../testdata/tron_vectors.json")).unwrap();
        let phrase = Mnemonic::parse(v["phrase"].as_str().unwrap()).unwrap();
        let hot = EvmHotWallet::from_mnemonic_of(KeccakCoin::Tron, &phrase, "").unwrap();
        let watch =
            EvmWallet::from_account_xpub_of(KeccakCoin::Tron, &hot.watch_only().account_xpub())
                .unwrap();
        let accounts = v["accounts"].as_array().unwrap();
        for (i, a) in accounts.iter().take(3).enumerate() {
            let i = u32::try_from(i).unwrap();
            assert_eq!(a["path"], format!("m/44'/195'/0'/0/{i}"));
            assert_eq!(watch.address(i).unwrap(), a["address"].as_str().unwrap());
            assert_eq!(hex::encode(*hot.secret_key(i).unwrap()), a["private_key"]);
        }
        let treasury = &accounts[3];
        assert_eq!(treasury["path"], KeccakCoin::Tron.treasury_path());
        assert_eq!(
            watch.treasury_address().unwrap(),
            treasury["address"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(*hot.treasury_secret().unwrap()),
            treasury["private_key"]
        );
        // The same phrase's EVM account is another key.
        let evm = EvmHotWallet::from_mnemonic(&phrase, "").unwrap();
        assert_ne!(evm.watch_only().account_xpub(), watch.account_xpub());
    }
}
