//! Withdrawals signed elsewhere: a [`Plan`] exported as a BIP174 PSBT for a wallet that holds
//! the account's private keys, and the signed result checked before it is broadcast.
//!
//! When Kassa only has the account's extended public key ([`WatchOnlyWallet`]), a withdrawal is
//! [planned](super::plan) as usual, exported with [`unsigned`], signed by the operator's own
//! wallet (Litecoin Core or Bitcoin Core `walletprocesspsbt`, optionally then `finalizepsbt`, or
//! any wallet that signs PSBTs), and what the operator hands back goes through [`accept`],
//! which takes it only if it is exactly the planned transaction, fully and validly signed.
//!
//! # What the PSBT carries
//!
//! Version 0 (BIP174), base64. The global unsigned transaction is the plan's. Every input has
//! its `witness_utxo` (value and P2WPKH script of the output it spends) and its
//! `bip32_derivation`; the change output, if any, has its `bip32_derivation` too, so a signer
//! can tell it is its own. Nothing else is set: no sighash type (SIGHASH_ALL is every signer's
//! default, and the only one [`accept`] takes) and no `non_witness_utxo` (Kassa does not keep
//! the transactions that paid it; segwit v0 signers read the value from `witness_utxo`).
//!
//! Key origins: a watch-only wallet knows the account key `m/84'/coin'/0'` but not the master
//! key, whose fingerprint an extended public key does not record (it only has its parent's).
//! So every origin is relative to the account key: the fingerprint of the account key
//! ([`WatchOnlyWallet::account_fingerprint`]) and the path `branch/index` under it. That is the
//! origin Litecoin Core and Bitcoin Core themselves give the keys of a descriptor written
//! without one (`wpkh(tprv…/0/*)`). Their wallets find the key by the script of the output
//! spent, whatever the origin says: Litecoin Core 0.21 signs these PSBTs with the account's
//! keys imported with or without a `[master/84h/1h/0h]` origin, and even PSBTs without any
//! `bip32_derivation`. Signers that match keys by master fingerprint only (hardware wallets)
//! will not recognise them.
//!
//! One more global field, proprietary (BIP174 type `0xFC`, prefix `kassa`, subtype 0): the coin
//! and chain as text (`litecoin-regtest`), so that [`accept`] can name addresses and coins in
//! its messages. Signers pass proprietary fields through or ignore them.
//!
//! # What is accepted back
//!
//! A PSBT (base64, or hex) whose inputs are finalized (`final_script_witness`, as
//! `walletprocesspsbt` leaves them) or only carry `partial_sigs` (the input's P2WPKH key is
//! looked up among them and the witness built here), or a raw signed transaction in hex (what
//! `finalizepsbt` returns). Whitespace anywhere is ignored; text over [`MAX_TEXT_LEN`] is refused
//! before it is decoded. The signed transaction must have the exported one's version, lock time,
//! inputs (outpoints and sequences, in order) and outputs (scripts and values, in order); every
//! input must carry a valid SIGHASH_ALL signature by the key of the output it spends, checked
//! against the values in the exported PSBT (never against anything in the returned one); and
//! the fee is recomputed from them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bech32::{Fe32, Hrp, segwit};
use bitcoin::bip32::{ChildNumber, DerivationPath};
use bitcoin::consensus::encode::{deserialize, serialize_hex};
use bitcoin::hashes::{Hash as _, hash160};
use bitcoin::psbt::raw::ProprietaryKey;
use bitcoin::psbt::{Input, Psbt};
use bitcoin::{OutPoint, ScriptBuf, Transaction, TxOut, Witness};
use kassa_core::money::Amount;

use super::{OutputRole, Plan, SpendError, sign};
use crate::Chain;
use crate::address::utxo::{Coin, p2wpkh};
use crate::hd::{Branch, HdError, WatchOnlyWallet};

/// The longest text [`accept`] reads (either argument), in bytes: 4 MB. A standard transaction
/// weighs at most 400 000 units, so its hex or PSBT is far shorter.
pub const MAX_TEXT_LEN: usize = 4_000_000;

/// The prefix of Kassa's proprietary PSBT field.
const PROPRIETARY_PREFIX: &[u8] = b"kassa";
/// Its subtype for the coin and chain.
const NETWORK_SUBTYPE: u8 = 0;
/// The magic bytes a serialized PSBT starts with.
const PSBT_MAGIC: &[u8] = b"psbt\xff";

/// The decimals of both coins' amounts (satoshi, litoshi).
const DECIMALS: u32 = 8;

/// A withdrawal signed elsewhere and checked by [`accept`], ready for `sendrawtransaction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The serialized transaction (hex), with witnesses.
    pub hex: String,
    /// The transaction id (the same as the unsigned transaction's: segwit).
    pub txid: String,
    /// Its virtual size.
    pub vsize: u64,
    /// Its weight.
    pub weight: u64,
    /// The fee paid, in base units.
    pub fee: u64,
    /// The transaction.
    pub transaction: Transaction,
}

/// Why a signed withdrawal was not accepted. The messages are for the operator who pasted it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PsbtError {
    /// Empty text.
    #[error("nothing was given: paste the signed PSBT (base64) or the signed transaction (hex)")]
    Empty,
    /// Text longer than [`MAX_TEXT_LEN`].
    #[error("the text is {len} bytes long, more than the {max} a signed withdrawal can be")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// [`MAX_TEXT_LEN`].
        max: usize,
    },
    /// Neither a PSBT nor a transaction, or one that does not decode.
    #[error("not a PSBT or a transaction: {0}")]
    Unreadable(String),
    /// The PSBT Kassa exported does not read back (it was damaged, or is not Kassa's).
    #[error("the exported PSBT cannot be used: {0}")]
    Exported(String),
    /// Another transaction version.
    #[error("the transaction has version {found}, but the request was version {expected}")]
    Version {
        /// The signed transaction's.
        found: i32,
        /// The exported one's.
        expected: i32,
    },
    /// Another lock time.
    #[error("the transaction has lock time {found}, but the request had lock time {expected}")]
    LockTime {
        /// The signed transaction's.
        found: u32,
        /// The exported one's.
        expected: u32,
    },
    /// Another number of inputs.
    #[error("the transaction spends {found} outputs, but the request spends {expected}")]
    InputCount {
        /// The signed transaction's.
        found: usize,
        /// The exported one's.
        expected: usize,
    },
    /// Another output spent at some position.
    #[error(
        "input {index} spends {found}, but the request spends {expected} there: this was signed for other inputs"
    )]
    Input {
        /// The input's position.
        index: usize,
        /// The outpoint the signed transaction spends there.
        found: OutPoint,
        /// The one the request spends.
        expected: OutPoint,
    },
    /// Another nSequence.
    #[error("input {index} has sequence {found:#010x}, but the request had {expected:#010x}")]
    Sequence {
        /// The input's position.
        index: usize,
        /// The signed transaction's.
        found: u32,
        /// The exported one's.
        expected: u32,
    },
    /// Another number of outputs.
    #[error("the transaction has {found} outputs, but the request has {expected}")]
    OutputCount {
        /// The signed transaction's.
        found: usize,
        /// The exported one's.
        expected: usize,
    },
    /// An output with another value or destination.
    #[error("output {index} pays {found}, but the request was {expected}")]
    Output {
        /// The output's position.
        index: usize,
        /// What the signed transaction pays there ("0.1 LTC to rltc1…").
        found: String,
        /// What the request pays there.
        expected: String,
    },
    /// An input without a signature.
    #[error("input {index} is not signed")]
    NotSigned {
        /// The input's position.
        index: usize,
    },
    /// An input signed by a key that does not own the output it spends.
    #[error("input {index} is signed by a key that does not own the output it spends")]
    WrongKey {
        /// The input's position.
        index: usize,
    },
    /// A signature that does not verify, or a witness that is not a P2WPKH one.
    #[error("invalid signature: {0}")]
    Signature(String),
    /// A fee other than the request's (the outputs spend more or less than planned).
    #[error("the transaction pays a fee of {found}, but the request's fee was {expected}")]
    Fee {
        /// The signed transaction's fee (inputs − outputs), in coins.
        found: String,
        /// The exported one's.
        expected: String,
    },
}

/// The plan as a BIP174 PSBT (version 0, base64) for a wallet holding the account's private
/// keys to sign (see the module docs for what it carries). `wallet` is the watch-only wallet
/// that planned it; another wallet is refused ([`SpendError::WrongWallet`]).
pub fn unsigned(wallet: &WatchOnlyWallet, plan: &Plan) -> Result<String, SpendError> {
    if wallet.coin() != plan.coin || wallet.chain() != plan.chain {
        return Err(SpendError::WrongWallet);
    }
    let fingerprint = wallet.account_fingerprint();
    let mut psbt = Psbt::from_unsigned_tx(plan.tx.clone())
        .map_err(|e| SpendError::Signing(format!("PSBT: {e}")))?;
    if psbt.inputs.len() != plan.inputs.len() || psbt.outputs.len() != plan.outputs.len() {
        return Err(SpendError::Signing(
            "the PSBT does not match the plan".into(),
        ));
    }
    for ((input, utxo), key_hash) in psbt
        .inputs
        .iter_mut()
        .zip(&plan.inputs)
        .zip(&plan.key_hashes)
    {
        let public_key = wallet.public_key(utxo.branch, utxo.index)?;
        if hash160::Hash::hash(&public_key.serialize()).to_byte_array() != *key_hash {
            return Err(SpendError::WrongWallet);
        }
        input.witness_utxo = Some(TxOut {
            value: bitcoin::Amount::from_sat(utxo.amount),
            script_pubkey: sign::p2wpkh_script(*key_hash),
        });
        input
            .bip32_derivation
            .insert(public_key, (fingerprint, path(utxo.branch, utxo.index)?));
    }
    for (output, planned) in psbt.outputs.iter_mut().zip(&plan.outputs) {
        if let OutputRole::Change(index) = planned.role {
            let public_key = wallet.public_key(Branch::Change, index)?;
            let key_hash = hash160::Hash::hash(&public_key.serialize()).to_byte_array();
            if sign::p2wpkh_script(key_hash) != planned.script_pubkey {
                return Err(SpendError::WrongWallet);
            }
            output
                .bip32_derivation
                .insert(public_key, (fingerprint, path(Branch::Change, index)?));
        }
    }
    psbt.proprietary.insert(
        network_key(),
        network_tag(plan.coin, plan.chain).as_bytes().to_vec(),
    );
    Ok(STANDARD.encode(psbt.serialize()))
}

/// The path of a key under the account: `branch/index`.
fn path(branch: Branch, index: u32) -> Result<DerivationPath, SpendError> {
    Ok(DerivationPath::from(vec![
        ChildNumber::from_normal_idx(branch.number()).map_err(HdError::from)?,
        ChildNumber::from_normal_idx(index).map_err(HdError::from)?,
    ]))
}

fn network_key() -> ProprietaryKey {
    ProprietaryKey {
        prefix: PROPRIETARY_PREFIX.to_vec(),
        subtype: NETWORK_SUBTYPE,
        key: Vec::new(),
    }
}

/// `bitcoin-mainnet`, `litecoin-regtest`, …: the value of the proprietary network field.
fn network_tag(coin: Coin, chain: Chain) -> String {
    let coin = match coin {
        Coin::Bitcoin => "bitcoin",
        Coin::Litecoin => "litecoin",
    };
    let chain = match chain {
        Chain::Mainnet => "mainnet",
        Chain::Testnet => "testnet",
        Chain::Regtest => "regtest",
    };
    format!("{coin}-{chain}")
}

/// The coin and chain a PSBT's proprietary network field names, if it has a known one.
fn network_of(psbt: &Psbt) -> Option<(Coin, Chain)> {
    let tag = psbt.proprietary.get(&network_key())?;
    [Coin::Bitcoin, Coin::Litecoin]
        .into_iter()
        .flat_map(|coin| {
            [Chain::Mainnet, Chain::Testnet, Chain::Regtest].map(|chain| (coin, chain))
        })
        .find(|&(coin, chain)| network_tag(coin, chain).as_bytes() == tag.as_slice())
}

/// What the exported PSBT says: the unsigned transaction, the (key hash, value) of every
/// output it spends, the fee, and the network if known.
struct Exported {
    tx: Transaction,
    prevouts: Vec<([u8; 20], u64)>,
    fee: u64,
    network: Option<(Coin, Chain)>,
}

impl Exported {
    fn read(text: &str) -> Result<Exported, PsbtError> {
        let bad = |message: String| PsbtError::Exported(message);
        let psbt = match decode(text).map_err(|e| bad(e.to_string()))? {
            Decoded::Psbt(psbt) => psbt,
            Decoded::Transaction(_) => return Err(bad("it is a transaction, not a PSBT".into())),
        };
        let network = network_of(&psbt);
        let mut prevouts = Vec::with_capacity(psbt.inputs.len());
        let mut input_total = 0u64;
        for (index, input) in psbt.inputs.iter().enumerate() {
            let utxo = input
                .witness_utxo
                .as_ref()
                .ok_or_else(|| bad(format!("input {index} has no witness UTXO")))?;
            let key_hash = p2wpkh_program(&utxo.script_pubkey)
                .ok_or_else(|| bad(format!("input {index} does not spend a P2WPKH output")))?;
            let value = utxo.value.to_sat();
            input_total = input_total
                .checked_add(value)
                .ok_or_else(|| bad("the inputs add up to more than there can be".into()))?;
            prevouts.push((key_hash, value));
        }
        let output_total = total(&psbt.unsigned_tx.output)
            .ok_or_else(|| bad("the outputs add up to more than there can be".into()))?;
        let fee = input_total
            .checked_sub(output_total)
            .ok_or_else(|| bad("its outputs pay more than its inputs hold".into()))?;
        Ok(Exported {
            tx: psbt.unsigned_tx,
            prevouts,
            fee,
            network,
        })
    }

    /// "0.1 LTC to rltc1q…" (or "… to script 0014…" if the network or script is unknown).
    fn describe(&self, output: &TxOut) -> String {
        let amount =
            Amount::from_base(u128::from(output.value.to_sat())).to_decimal_string(DECIMALS);
        match self.network {
            Some((coin, chain)) => {
                let unit = match coin {
                    Coin::Bitcoin => "BTC",
                    Coin::Litecoin => "LTC",
                };
                match address(coin, chain, &output.script_pubkey) {
                    Some(address) => format!("{amount} {unit} to {address}"),
                    None => format!(
                        "{amount} {unit} to script {}",
                        output.script_pubkey.to_hex_string()
                    ),
                }
            }
            None => format!(
                "{amount} to script {}",
                output.script_pubkey.to_hex_string()
            ),
        }
    }

    fn coins(&self, amount: u64) -> String {
        let text = Amount::from_base(u128::from(amount)).to_decimal_string(DECIMALS);
        match self.network {
            Some((Coin::Bitcoin, _)) => format!("{text} BTC"),
            Some((Coin::Litecoin, _)) => format!("{text} LTC"),
            None => text,
        }
    }
}

/// The sum of some outputs' values, if it fits.
fn total(outputs: &[TxOut]) -> Option<u64> {
    outputs
        .iter()
        .try_fold(0u64, |sum, o| sum.checked_add(o.value.to_sat()))
}

/// The key hash of a P2WPKH script (`OP_0 <20 bytes>`).
fn p2wpkh_program(script: &ScriptBuf) -> Option<[u8; 20]> {
    if !script.is_p2wpkh() {
        return None;
    }
    script.as_bytes().get(2..22)?.try_into().ok()
}

/// The address of an output script: the segwit kinds (v0 20 or 32 bytes, v1 32 bytes) Kassa
/// pays to. Legacy scripts are shown as hex, which is unambiguous across coins and chains.
fn address(coin: Coin, chain: Chain, script: &ScriptBuf) -> Option<String> {
    if let Some(key_hash) = p2wpkh_program(script) {
        return Some(p2wpkh(coin, chain, &key_hash));
    }
    let (version, program) = match script.as_bytes() {
        [0x00, 32, program @ ..] if program.len() == 32 => (Fe32::Q, program),
        [0x51, 32, program @ ..] if program.len() == 32 => (Fe32::P, program),
        _ => return None,
    };
    let hrp = Hrp::parse(coin.hrp(chain)).ok()?;
    segwit::encode(hrp, version, program).ok()
}

/// A PSBT or a transaction, as decoded from text.
enum Decoded {
    Psbt(Psbt),
    Transaction(Transaction),
}

/// Why text is not a PSBT or a transaction; only [`decode`] makes one.
#[derive(Debug)]
enum DecodeError {
    Empty,
    TooLarge(usize),
    Unreadable(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("it is empty"),
            DecodeError::TooLarge(len) => write!(f, "it is {len} bytes long"),
            DecodeError::Unreadable(message) => f.write_str(message),
        }
    }
}

impl From<DecodeError> for PsbtError {
    fn from(e: DecodeError) -> PsbtError {
        match e {
            DecodeError::Empty => PsbtError::Empty,
            DecodeError::TooLarge(len) => PsbtError::TooLarge {
                len,
                max: MAX_TEXT_LEN,
            },
            DecodeError::Unreadable(message) => PsbtError::Unreadable(message),
        }
    }
}

/// Reads a PSBT (base64 or hex) or a raw transaction (hex), whitespace ignored.
fn decode(text: &str) -> Result<Decoded, DecodeError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(DecodeError::TooLarge(text.len()));
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(DecodeError::Empty);
    }
    // Base64 PSBTs start with `cHNidP8`, so text of hex digits only is hex.
    let hex = compact.bytes().all(|b| b.is_ascii_hexdigit());
    let bytes = if hex {
        hex::decode(&compact).map_err(|_| {
            DecodeError::Unreadable("the hex has an odd number of digits: some are missing".into())
        })?
    } else {
        STANDARD.decode(&compact).map_err(|_| {
            DecodeError::Unreadable(
                "the text is neither base64 (a PSBT) nor hex (a transaction)".into(),
            )
        })?
    };
    if bytes.starts_with(PSBT_MAGIC) {
        let mut rest = bytes.as_slice();
        let psbt = Psbt::deserialize_from_reader(&mut rest)
            .map_err(|e| DecodeError::Unreadable(format!("the PSBT cannot be read: {e}")))?;
        if !rest.is_empty() {
            return Err(DecodeError::Unreadable(format!(
                "{} bytes follow the PSBT",
                rest.len()
            )));
        }
        Ok(Decoded::Psbt(psbt))
    } else if hex {
        deserialize::<Transaction>(&bytes)
            .map(Decoded::Transaction)
            .map_err(|e| DecodeError::Unreadable(format!("the transaction cannot be read: {e}")))
    } else {
        Err(DecodeError::Unreadable(
            "this base64 text is not a PSBT".into(),
        ))
    }
}

/// Checks what the operator handed back (`signed`: a PSBT or a raw transaction) against the
/// PSBT Kassa exported for the withdrawal (`unsigned_psbt`, what [`unsigned`] returned), and
/// returns the transaction to broadcast if it is exactly the exported one, fully and validly
/// signed (see the module docs).
pub fn accept(unsigned_psbt: &str, signed: &str) -> Result<Accepted, PsbtError> {
    if signed.len() > MAX_TEXT_LEN {
        return Err(PsbtError::TooLarge {
            len: signed.len(),
            max: MAX_TEXT_LEN,
        });
    }
    let exported = Exported::read(unsigned_psbt)?;
    // What is signed first, then the signatures.
    let tx = match decode(signed)? {
        Decoded::Transaction(tx) => {
            same_transaction(&exported, &tx)?;
            tx
        }
        Decoded::Psbt(psbt) => {
            same_transaction(&exported, &psbt.unsigned_tx)?;
            extract(psbt, &exported.prevouts)?
        }
    };

    for (index, (input, &(key_hash, _))) in tx.input.iter().zip(&exported.prevouts).enumerate() {
        if input.witness.is_empty() && input.script_sig.is_empty() {
            return Err(PsbtError::NotSigned { index });
        }
        if let [_, public_key] = input.witness.iter().collect::<Vec<_>>().as_slice()
            && public_key.len() == 33
            && hash160::Hash::hash(public_key).to_byte_array() != key_hash
        {
            return Err(PsbtError::WrongKey { index });
        }
    }
    sign::verify(&tx, &exported.prevouts).map_err(PsbtError::Signature)?;

    let input_total = exported
        .prevouts
        .iter()
        .try_fold(0u64, |sum, &(_, value)| sum.checked_add(value));
    let fee = input_total
        .zip(total(&tx.output))
        .and_then(|(inputs, outputs)| inputs.checked_sub(outputs));
    if fee != Some(exported.fee) {
        return Err(PsbtError::Fee {
            found: fee.map_or_else(|| "negative".into(), |fee| exported.coins(fee)),
            expected: exported.coins(exported.fee),
        });
    }
    let weight = tx.weight().to_wu();
    Ok(Accepted {
        hex: serialize_hex(&tx),
        txid: tx.compute_txid().to_string(),
        vsize: super::vsize(weight),
        weight,
        fee: exported.fee,
        transaction: tx,
    })
}

/// The signed transaction of a PSBT: each input's final witness, or one built from the partial
/// signature by the key of the P2WPKH output it spends (`prevouts`, from the exported PSBT, in
/// order: the PSBT's transaction is the exported one, checked before).
fn extract(psbt: Psbt, prevouts: &[([u8; 20], u64)]) -> Result<Transaction, PsbtError> {
    let mut tx = psbt.unsigned_tx;
    if tx.input.len() != prevouts.len() {
        return Err(PsbtError::InputCount {
            found: tx.input.len(),
            expected: prevouts.len(),
        });
    }
    for (index, ((txin, input), &(key_hash, _))) in tx
        .input
        .iter_mut()
        .zip(psbt.inputs)
        .zip(prevouts)
        .enumerate()
    {
        let Input {
            final_script_sig,
            final_script_witness,
            partial_sigs,
            ..
        } = input;
        if let Some(witness) = final_script_witness {
            txin.witness = witness;
            txin.script_sig = final_script_sig.unwrap_or_default();
            continue;
        }
        if partial_sigs.is_empty() {
            return Err(PsbtError::NotSigned { index });
        }
        let (public_key, signature) = partial_sigs
            .iter()
            .find(|(key, _)| {
                key.compressed && hash160::Hash::hash(&key.to_bytes()).to_byte_array() == key_hash
            })
            .ok_or(PsbtError::WrongKey { index })?;
        let mut witness = Witness::new();
        witness.push(signature.to_vec());
        witness.push(public_key.to_bytes());
        txin.witness = witness;
    }
    Ok(tx)
}

/// Whether `tx` is the exported transaction: version, lock time, inputs and outputs.
fn same_transaction(exported: &Exported, tx: &Transaction) -> Result<(), PsbtError> {
    let expected = &exported.tx;
    if tx.version != expected.version {
        return Err(PsbtError::Version {
            found: tx.version.0,
            expected: expected.version.0,
        });
    }
    if tx.lock_time != expected.lock_time {
        return Err(PsbtError::LockTime {
            found: tx.lock_time.to_consensus_u32(),
            expected: expected.lock_time.to_consensus_u32(),
        });
    }
    if tx.input.len() != expected.input.len() {
        return Err(PsbtError::InputCount {
            found: tx.input.len(),
            expected: expected.input.len(),
        });
    }
    for (index, (found, wanted)) in tx.input.iter().zip(&expected.input).enumerate() {
        if found.previous_output != wanted.previous_output {
            return Err(PsbtError::Input {
                index,
                found: found.previous_output,
                expected: wanted.previous_output,
            });
        }
        if found.sequence != wanted.sequence {
            return Err(PsbtError::Sequence {
                index,
                found: found.sequence.0,
                expected: wanted.sequence.0,
            });
        }
    }
    if tx.output.len() != expected.output.len() {
        return Err(PsbtError::OutputCount {
            found: tx.output.len(),
            expected: expected.output.len(),
        });
    }
    for (index, (found, wanted)) in tx.output.iter().zip(&expected.output).enumerate() {
        if found != wanted {
            return Err(PsbtError::Output {
                index,
                found: exported.describe(found),
                expected: exported.describe(wanted),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
