//! TRON transactions: the protobuf `Transaction.raw` of the two contracts Kassa sends — a TRX
//! transfer (`TransferContract`) and a TRC-20 `transfer` call (`TriggerSmartContract`) —
//! encoded ([`Raw::encode`]), decoded from what a node built ([`Raw::decode`], bounded: it reads
//! only these fields, at a fixed depth, from at most [`MAX_RAW`] bytes), identified (`txID` is
//! SHA-256 of the raw bytes) and signed (secp256k1 over the `txID`, 65 bytes `r‖s‖v` with
//! `v = 27 + recovery id`, as TronWeb signs). Checked against TronWeb's own encoding and
//! signatures (`testdata/tron_vectors.json`).
//!
//! A node's `createtransaction` / `triggersmartcontract` answer is never signed blindly:
//! [`accept_built`] decodes its `raw_data_hex`, checks that its `txID` is the hash of those
//! bytes and that they say exactly what Kassa meant ([`Intent`]: sender, recipient or contract,
//! amount, at most the energy fee limit asked, an expiry in the next hours) — only then may
//! [`sign`] be called, and what is broadcast is built from those checked bytes
//! ([`signed_hex`], for `broadcasthex`), never from the node's JSON.

use secp256k1::{Message, Secp256k1, SecretKey};
use sha2::{Digest, Sha256};

/// The largest raw transaction decoded (a transfer call is under 300 bytes).
pub const MAX_RAW: usize = 4096;

const TRANSFER_URL: &str = "type.googleapis.com/protocol.TransferContract";
const TRIGGER_URL: &str = "type.googleapis.com/protocol.TriggerSmartContract";

/// What a transaction does, in TRON's 21-byte account form (`0x41` + 20 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// Sends `amount` sun of TRX.
    Transfer {
        /// Sender.
        owner: [u8; 21],
        /// Recipient.
        to: [u8; 21],
        /// Sun.
        amount: i64,
    },
    /// Calls `contract` with `data` (and `call_value` sun).
    Trigger {
        /// Sender.
        owner: [u8; 21],
        /// The contract.
        contract: [u8; 21],
        /// TRX sent with the call.
        call_value: i64,
        /// The call data.
        data: Vec<u8>,
    },
}

/// A transaction's raw part: what is hashed and signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raw {
    /// Bytes 6–7 of the reference block's height.
    pub ref_block_bytes: Vec<u8>,
    /// Bytes 8–15 of the reference block's id.
    pub ref_block_hash: Vec<u8>,
    /// When it stops being valid (ms since the epoch).
    pub expiration: i64,
    /// When it was made (ms).
    pub timestamp: i64,
    /// The most TRX (sun) a contract call may burn for energy; 0 for a transfer.
    pub fee_limit: i64,
    /// Its one contract.
    pub call: Call,
}

/// Why a raw transaction could not be read, or is not what was meant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TronTxError {
    /// Not a protobuf Kassa reads (truncated, too large, unknown wire type).
    #[error("not a TRON transaction Kassa reads: {0}")]
    Malformed(&'static str),
    /// Another contract than one transfer or one call.
    #[error("the transaction does something else: {0}")]
    Unexpected(String),
    /// The key cannot sign.
    #[error("the signing key is not valid")]
    Key,
}

/// A TRC-20 `transfer(to, amount)` call's data: TRC-20 is ERC-20's ABI on TRON's VM.
pub fn trc20_transfer(to: &[u8; 20], amount: u128) -> Vec<u8> {
    super::evm::erc20_transfer(to, amount)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
        v >>= 7;
    }
    out.push(u8::try_from(v).unwrap_or(0));
}

fn field_varint(out: &mut Vec<u8>, field: u64, v: i64) {
    if v == 0 {
        return;
    }
    varint(out, field << 3);
    // int64 is written as its two's complement, ten bytes when negative.
    varint(out, u64::from_ne_bytes(v.to_ne_bytes()));
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl Raw {
    /// The protobuf bytes, fields in number order as TRON's nodes write them.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, url, value) = match &self.call {
            Call::Transfer { owner, to, amount } => {
                let mut v = Vec::new();
                field_bytes(&mut v, 1, owner);
                field_bytes(&mut v, 2, to);
                field_varint(&mut v, 3, *amount);
                (1, TRANSFER_URL, v)
            }
            Call::Trigger {
                owner,
                contract,
                call_value,
                data,
            } => {
                let mut v = Vec::new();
                field_bytes(&mut v, 1, owner);
                field_bytes(&mut v, 2, contract);
                field_varint(&mut v, 3, *call_value);
                field_bytes(&mut v, 4, data);
                (31, TRIGGER_URL, v)
            }
        };
        let mut any = Vec::new();
        field_bytes(&mut any, 1, url.as_bytes());
        field_bytes(&mut any, 2, &value);
        let mut contract = Vec::new();
        field_varint(&mut contract, 1, kind);
        field_bytes(&mut contract, 2, &any);
        let mut out = Vec::new();
        field_bytes(&mut out, 1, &self.ref_block_bytes);
        field_bytes(&mut out, 4, &self.ref_block_hash);
        field_varint(&mut out, 8, self.expiration);
        field_bytes(&mut out, 11, &contract);
        field_varint(&mut out, 14, self.timestamp);
        field_varint(&mut out, 18, self.fee_limit);
        out
    }

    /// Reads a raw transaction a node built. Any field Kassa does not know (a memo, scripts,
    /// permissions, a second contract) makes it [`TronTxError::Unexpected`]: what is signed is
    /// only ever what was read.
    pub fn decode(bytes: &[u8]) -> Result<Raw, TronTxError> {
        if bytes.len() > MAX_RAW {
            return Err(TronTxError::Malformed("too large"));
        }
        let mut raw = Raw {
            ref_block_bytes: Vec::new(),
            ref_block_hash: Vec::new(),
            expiration: 0,
            timestamp: 0,
            fee_limit: 0,
            call: Call::Transfer {
                owner: [0; 21],
                to: [0; 21],
                amount: 0,
            },
        };
        let mut contracts = 0;
        for f in Fields(bytes) {
            match f? {
                (1, Value::Bytes(b)) => raw.ref_block_bytes = b.to_vec(),
                (4, Value::Bytes(b)) => raw.ref_block_hash = b.to_vec(),
                (8, Value::Int(v)) => raw.expiration = v,
                (14, Value::Int(v)) => raw.timestamp = v,
                (18, Value::Int(v)) => raw.fee_limit = v,
                (11, Value::Bytes(b)) => {
                    contracts += 1;
                    raw.call = contract(b)?;
                }
                (n, _) => return Err(TronTxError::Unexpected(format!("raw field {n}"))),
            }
        }
        if contracts != 1 {
            return Err(TronTxError::Unexpected(format!("{contracts} contracts")));
        }
        Ok(raw)
    }

    /// The transaction id: SHA-256 of the raw bytes, hex.
    pub fn txid(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }
}

fn account(b: &[u8]) -> Result<[u8; 21], TronTxError> {
    let a: [u8; 21] = b
        .try_into()
        .map_err(|_| TronTxError::Unexpected(format!("an address of {} bytes", b.len())))?;
    if a[0] != crate::address::tron::VERSION {
        return Err(TronTxError::Unexpected("an address without 0x41".into()));
    }
    Ok(a)
}

fn contract(bytes: &[u8]) -> Result<Call, TronTxError> {
    let (mut kind, mut any) = (0, None);
    for f in Fields(bytes) {
        match f? {
            (1, Value::Int(v)) => kind = v,
            (2, Value::Bytes(b)) => any = Some(b),
            (n, _) => return Err(TronTxError::Unexpected(format!("contract field {n}"))),
        }
    }
    let any = any.ok_or(TronTxError::Malformed("a contract without parameter"))?;
    let (mut url, mut value) = (&[][..], &[][..]);
    for f in Fields(any) {
        match f? {
            (1, Value::Bytes(b)) => url = b,
            (2, Value::Bytes(b)) => value = b,
            (n, _) => return Err(TronTxError::Unexpected(format!("parameter field {n}"))),
        }
    }
    let (mut a, mut b, mut n, mut data) = (None, None, 0, Vec::new());
    for f in Fields(value) {
        match f? {
            (1, Value::Bytes(x)) => a = Some(account(x)?),
            (2, Value::Bytes(x)) => b = Some(account(x)?),
            (3, Value::Int(x)) => n = x,
            (4, Value::Bytes(x)) if kind == 31 => data = x.to_vec(),
            (f, _) => return Err(TronTxError::Unexpected(format!("call field {f}"))),
        }
    }
    let (Some(owner), Some(other)) = (a, b) else {
        return Err(TronTxError::Malformed("a call without its addresses"));
    };
    match (kind, url) {
        (1, u) if u == TRANSFER_URL.as_bytes() => Ok(Call::Transfer {
            owner,
            to: other,
            amount: n,
        }),
        (31, u) if u == TRIGGER_URL.as_bytes() => Ok(Call::Trigger {
            owner,
            contract: other,
            call_value: n,
            data,
        }),
        _ => Err(TronTxError::Unexpected(format!("contract type {kind}"))),
    }
}

enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// The fields of one protobuf message (varints and length-delimited only), read lazily.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn varint(&mut self) -> Result<u64, TronTxError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self
                .0
                .split_first()
                .ok_or(TronTxError::Malformed("truncated"))?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(TronTxError::Malformed("a varint of more than ten bytes"))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), TronTxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = (|| {
            let key = self.varint()?;
            let value = match key & 7 {
                0 => Value::Int(i64::from_ne_bytes(self.varint()?.to_ne_bytes())),
                2 => {
                    let len = usize::try_from(self.varint()?)
                        .map_err(|_| TronTxError::Malformed("length"))?;
                    if len > self.0.len() {
                        return Err(TronTxError::Malformed("truncated"));
                    }
                    let (b, rest) = self.0.split_at(len);
                    self.0 = rest;
                    Value::Bytes(b)
                }
                _ => return Err(TronTxError::Malformed("a wire type Kassa does not read")),
            };
            Ok((key >> 3, value))
        })();
        if field.is_err() {
            self.0 = &[];
        }
        Some(field)
    }
}

/// Signs the transaction whose raw bytes are `raw`: 65 bytes hex, `r‖s‖v`, `v = 27 + id`.
pub fn sign(raw: &[u8], secret: &[u8; 32]) -> Result<String, TronTxError> {
    let key = SecretKey::from_slice(secret).map_err(|_| TronTxError::Key)?;
    let digest: [u8; 32] = Sha256::digest(raw).into();
    let (id, compact) = Secp256k1::signing_only()
        .sign_ecdsa_recoverable(&Message::from_digest(digest), &key)
        .serialize_compact();
    let mut out = compact.to_vec();
    out.push(27 + u8::try_from(id.to_i32()).unwrap_or(0));
    Ok(hex::encode(out))
}

/// The account (20 bytes) whose key made `signature` (hex, `r‖s‖v`) over raw bytes `raw`:
/// how a signature is checked before it leaves, and how a node checks it.
pub fn signer(raw: &[u8], signature: &str) -> Option<[u8; 20]> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let bytes = hex::decode(signature).ok().filter(|b| b.len() == 65)?;
    let id = RecoveryId::from_i32(i32::from(bytes[64].checked_sub(27)?)).ok()?;
    let sig = RecoverableSignature::from_compact(&bytes[..64], id).ok()?;
    let digest: [u8; 32] = Sha256::digest(raw).into();
    let key = Secp256k1::verification_only()
        .recover_ecdsa(&Message::from_digest(digest), &sig)
        .ok()?;
    Some(crate::hd::evm::account_of(&key))
}

/// What Kassa means a transaction to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    /// `sun` of TRX from `owner` to `to`.
    Trx {
        /// Sender (20-byte account).
        owner: [u8; 20],
        /// Recipient.
        to: [u8; 20],
        /// Sun.
        sun: i64,
    },
    /// `amount` of the TRC-20 token at `contract` from `owner` to `to`, burning at most
    /// `fee_limit` sun for energy.
    Trc20 {
        /// Sender.
        owner: [u8; 20],
        /// The token's contract.
        contract: [u8; 20],
        /// Recipient.
        to: [u8; 20],
        /// Base units.
        amount: u128,
        /// The most sun the call may burn.
        fee_limit: i64,
    },
}

/// The longest a node-built transaction may stay valid (TRON's own limit is a day).
pub const MAX_VALIDITY_MS: i64 = 24 * 3600 * 1000;

fn full(account: &[u8; 20]) -> [u8; 21] {
    let mut out = [0u8; 21];
    out[0] = crate::address::tron::VERSION;
    out[1..].copy_from_slice(account);
    out
}

impl Intent {
    /// The contract call that does exactly this.
    fn call(&self) -> Call {
        match self {
            Intent::Trx { owner, to, sun } => Call::Transfer {
                owner: full(owner),
                to: full(to),
                amount: *sun,
            },
            Intent::Trc20 {
                owner,
                contract,
                to,
                amount,
                ..
            } => Call::Trigger {
                owner: full(owner),
                contract: full(contract),
                call_value: 0,
                data: trc20_transfer(to, *amount),
            },
        }
    }
}

/// A node-built transaction Kassa read and agrees with: its raw bytes and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The raw bytes (what is hashed and signed).
    pub raw: Vec<u8>,
    /// `txID`.
    pub txid: String,
    /// What they say.
    pub decoded: Raw,
}

/// Reads the transaction a node built for `intent` (the JSON of `createtransaction`, or the
/// `transaction` of `triggersmartcontract`) and accepts it only when its bytes say exactly
/// that, its `txID` is their hash and it expires after `now_ms` and within
/// [`MAX_VALIDITY_MS`]. Never trusts the node's `raw_data` JSON: only the bytes count.
pub fn accept_built(
    built: &serde_json::Value,
    intent: &Intent,
    now_ms: i64,
) -> Result<Accepted, TronTxError> {
    let hex_text = built["raw_data_hex"]
        .as_str()
        .ok_or(TronTxError::Malformed("no raw_data_hex"))?;
    if hex_text.len() > 2 * MAX_RAW {
        return Err(TronTxError::Malformed("too large"));
    }
    let raw = hex::decode(hex_text).map_err(|_| TronTxError::Malformed("raw_data_hex"))?;
    let decoded = Raw::decode(&raw)?;
    let txid = Raw::txid(&raw);
    if built["txID"].as_str().map(str::to_ascii_lowercase) != Some(txid.clone()) {
        return Err(TronTxError::Unexpected(
            "its txID is not the hash of its bytes".into(),
        ));
    }
    let meant = intent.call();
    if decoded.call != meant {
        return Err(TronTxError::Unexpected(format!(
            "it does {:?}, not {:?}",
            decoded.call, meant
        )));
    }
    let fee_cap = match intent {
        Intent::Trx { .. } => 0,
        Intent::Trc20 { fee_limit, .. } => *fee_limit,
    };
    if decoded.fee_limit > fee_cap || decoded.fee_limit < 0 {
        return Err(TronTxError::Unexpected(format!(
            "a fee limit of {} sun, not at most {fee_cap}",
            decoded.fee_limit
        )));
    }
    if decoded.expiration <= now_ms || decoded.expiration > now_ms.saturating_add(MAX_VALIDITY_MS) {
        return Err(TronTxError::Unexpected(format!(
            "it expires at {} ms, not within a day of now",
            decoded.expiration
        )));
    }
    Ok(Accepted { raw, txid, decoded })
}

/// The signed transaction as `broadcasthex` takes it: the `Transaction` protobuf (the accepted
/// raw bytes and the 65-byte signature), hex — built from the checked bytes only.
pub fn signed_hex(accepted: &Accepted, signature: &str) -> Result<String, TronTxError> {
    let signature = hex::decode(signature).map_err(|_| TronTxError::Malformed("signature"))?;
    if signature.len() != 65 {
        return Err(TronTxError::Malformed("a signature of other than 65 bytes"));
    }
    let mut out = Vec::with_capacity(accepted.raw.len() + 72);
    field_bytes(&mut out, 1, &accepted.raw);
    field_bytes(&mut out, 2, &signature);
    Ok(hex::encode(out))
}

/// The raw part of a signed transaction (hex, as [`signed_hex`] makes it), decoded: what it
/// does and when it expires.
pub fn signed_raw(signed: &str) -> Option<Raw> {
    let bytes = hex::decode(signed).ok()?;
    let mut fields = Fields(&bytes);
    match fields.next()? {
        Ok((1, Value::Bytes(raw))) => Raw::decode(raw).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../testdata/tron_vectors.json")).unwrap()
    }

    fn acct(hex21: &str) -> [u8; 21] {
        hex::decode(hex21).unwrap().try_into().unwrap()
    }

    /// Kassa's encoding, id and signature of each vector equal TronWeb's, and decoding
    /// TronWeb's bytes gives back the transaction.
    #[test]
    fn transactions_match_tronweb() {
        let v = vectors();
        let accounts = v["accounts"].as_array().unwrap();
        for t in v["transactions"].as_array().unwrap() {
            let raw_data = &t["raw_data"];
            let value = &raw_data["contract"][0]["parameter"]["value"];
            let call = if raw_data["contract"][0]["type"] == "TransferContract" {
                Call::Transfer {
                    owner: acct(value["owner_address"].as_str().unwrap()),
                    to: acct(value["to_address"].as_str().unwrap()),
                    amount: value["amount"].as_i64().unwrap(),
                }
            } else {
                Call::Trigger {
                    owner: acct(value["owner_address"].as_str().unwrap()),
                    contract: acct(value["contract_address"].as_str().unwrap()),
                    call_value: 0,
                    data: hex::decode(value["data"].as_str().unwrap()).unwrap(),
                }
            };
            let raw = Raw {
                ref_block_bytes: hex::decode(raw_data["ref_block_bytes"].as_str().unwrap())
                    .unwrap(),
                ref_block_hash: hex::decode(raw_data["ref_block_hash"].as_str().unwrap()).unwrap(),
                expiration: raw_data["expiration"].as_i64().unwrap(),
                timestamp: raw_data["timestamp"].as_i64().unwrap(),
                fee_limit: raw_data["fee_limit"].as_i64().unwrap_or(0),
                call,
            };
            let bytes = raw.encode();
            assert_eq!(
                hex::encode(&bytes),
                t["raw_data_hex"].as_str().unwrap(),
                "{}",
                t["what"]
            );
            assert_eq!(Raw::decode(&bytes).unwrap(), raw);
            assert_eq!(Raw::txid(&bytes), t["txID"].as_str().unwrap());
            let signer = usize::try_from(t["signer"].as_u64().unwrap()).unwrap();
            let key: [u8; 32] = hex::decode(accounts[signer]["private_key"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            assert_eq!(
                sign(&bytes, &key).unwrap(),
                t["signature"].as_str().unwrap().to_ascii_lowercase(),
                "{}",
                t["what"]
            );
            let owner = match &raw.call {
                Call::Transfer { owner, .. } | Call::Trigger { owner, .. } => owner,
            };
            let owner: [u8; 20] = owner[1..].try_into().unwrap();
            let signature = t["signature"].as_str().unwrap();
            assert_eq!(super::signer(&bytes, signature), Some(owner));
            assert_ne!(super::signer(&bytes[1..], signature), Some(owner));
        }
    }

    #[test]
    fn a_trc20_transfer_call_is_selector_address_amount() {
        let v = vectors();
        let t = &v["transactions"][1];
        let data = t["raw_data"]["contract"][0]["parameter"]["value"]["data"]
            .as_str()
            .unwrap();
        let to: [u8; 20] = hex::decode(&v["accounts"][2]["hex"].as_str().unwrap()[2..])
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(hex::encode(trc20_transfer(&to, 25_000_000)), data);
    }

    #[test]
    fn what_kassa_does_not_mean_is_not_read() {
        let v = vectors();
        let good = hex::decode(v["transactions"][0]["raw_data_hex"].as_str().unwrap()).unwrap();
        // A memo (field 10) added by a node: refused, not ignored.
        let mut memo = good.clone();
        memo.extend_from_slice(&[0x52, 0x02, b'h', b'i']);
        assert!(matches!(
            Raw::decode(&memo),
            Err(TronTxError::Unexpected(_))
        ));
        // Two contracts.
        let raw = Raw::decode(&good).unwrap();
        let mut two = good.clone();
        let start = good.iter().position(|b| *b == 0x5a).unwrap();
        let len = usize::from(good[start + 1]);
        two.extend_from_slice(&good[start..start + 2 + len]);
        assert!(matches!(Raw::decode(&two), Err(TronTxError::Unexpected(_))));
        // Truncated anywhere: malformed, never a panic.
        for cut in 0..good.len() {
            let _ = Raw::decode(&good[..cut]);
        }
        assert!(Raw::decode(&vec![0u8; MAX_RAW + 1]).is_err());
        assert!(matches!(
            raw.call,
            Call::Transfer {
                amount: 1_234_567,
                ..
            }
        ));
    }

    /// A TRC-20 transfer as a node would build it (TronWeb's vector's bytes), and its intent.
    fn built_trc20() -> (serde_json::Value, Intent, i64) {
        let v = vectors();
        let t = &v["transactions"][1];
        let value = &t["raw_data"]["contract"][0]["parameter"]["value"];
        let twenty = |h: &str| -> [u8; 20] { hex::decode(&h[2..]).unwrap().try_into().unwrap() };
        let intent = Intent::Trc20 {
            owner: twenty(value["owner_address"].as_str().unwrap()),
            contract: twenty(value["contract_address"].as_str().unwrap()),
            to: twenty(v["accounts"][2]["hex"].as_str().unwrap()),
            amount: 25_000_000,
            fee_limit: 30_000_000,
        };
        let now = t["raw_data"]["timestamp"].as_i64().unwrap();
        (
            json!({"txID": t["txID"], "raw_data_hex": t["raw_data_hex"], "raw_data": t["raw_data"]}),
            intent,
            now,
        )
    }

    use serde_json::json;

    #[test]
    fn a_node_built_transaction_is_signed_only_when_it_says_what_was_meant() {
        let (built, intent, now) = built_trc20();
        let ok = accept_built(&built, &intent, now).unwrap();
        assert_eq!(ok.txid, built["txID"].as_str().unwrap());
        let v = vectors();
        let signature = v["transactions"][1]["signature"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase();
        let sent = signed_hex(&ok, &signature).unwrap();
        let raw_hex = built["raw_data_hex"].as_str().unwrap();
        // Field 1 (the 211 raw bytes: length 0xd3 0x01), then field 2 (65 bytes of signature).
        assert_eq!(raw_hex.len(), 2 * 211);
        assert_eq!(sent, format!("0ad301{raw_hex}1241{signature}"));
        assert_eq!(signed_raw(&sent), Some(ok.decoded.clone()));
        assert_eq!(signed_raw("zz"), None);
        assert!(signed_hex(&ok, "aa").is_err());

        // The node changed the recipient, the amount, the sender or the token: refused.
        let Intent::Trc20 {
            owner,
            contract,
            to,
            amount,
            fee_limit,
        } = intent.clone()
        else {
            unreachable!()
        };
        let mut other = to;
        other[19] ^= 1;
        for meant in [
            Intent::Trc20 {
                owner,
                contract,
                to: other,
                amount,
                fee_limit,
            },
            Intent::Trc20 {
                owner,
                contract,
                to,
                amount: amount + 1,
                fee_limit,
            },
            Intent::Trc20 {
                owner: other,
                contract,
                to,
                amount,
                fee_limit,
            },
            Intent::Trc20 {
                owner,
                contract: other,
                to,
                amount,
                fee_limit,
            },
            Intent::Trc20 {
                owner,
                contract,
                to,
                amount,
                fee_limit: fee_limit - 1,
            },
            Intent::Trx { owner, to, sun: 1 },
        ] {
            assert!(
                matches!(
                    accept_built(&built, &meant, now),
                    Err(TronTxError::Unexpected(_))
                ),
                "{meant:?}"
            );
        }
        // Bytes tampered after the id was computed, or an id that is not theirs.
        let mut bytes = hex::decode(built["raw_data_hex"].as_str().unwrap()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let mut tampered = built.clone();
        tampered["raw_data_hex"] = json!(hex::encode(&bytes));
        assert!(accept_built(&tampered, &intent, now).is_err());
        let mut wrong_id = built.clone();
        wrong_id["txID"] = json!("00".repeat(32));
        assert!(accept_built(&wrong_id, &intent, now).is_err());
        // The JSON says one thing, the bytes another: the bytes count (here they are right).
        let mut lying_json = built.clone();
        lying_json["raw_data"]["contract"][0]["parameter"]["value"]["data"] = json!("00");
        assert!(accept_built(&lying_json, &intent, now).is_ok());
        // Expired, or valid for too long.
        assert!(accept_built(&built, &intent, now + 60_001).is_err());
        assert!(accept_built(&built, &intent, now - MAX_VALIDITY_MS).is_err());
        // No bytes, bad hex, too many.
        for bad in [
            json!({}),
            json!({"raw_data_hex": "zz"}),
            json!({"raw_data_hex": "00".repeat(MAX_RAW + 1)}),
        ] {
            assert!(matches!(
                accept_built(&bad, &intent, now),
                Err(TronTxError::Malformed(_))
            ));
        }
    }
}
