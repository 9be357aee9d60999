//! A local fake of a TRON full node's HTTP API, on a free loopback port, answering with the
//! request and response shapes of TRON's documentation (java-tron `/wallet/*`, `visible:
//! false`: addresses as hex `41…`; log addresses and topics as hex without `0x` or `41`).
//! No TRON node can run on these machines; this is the protocol and the fee rules, not a model
//! of consensus.
//!
//! - `getnowblock`, `getblockbynum` (`{}` above the tip): `blockID` (eight bytes of height,
//!   then 24 of hash), `block_header.raw_data` (`number`, `parentHash`, `timestamp`) and the
//!   transactions (`txID`, `raw_data.contract[0]` with `type` and `parameter.value`, `ret`).
//! - `gettransactioninfobyblocknum`, `gettransactioninfobyid`: each contract call's info
//!   (`id`, `fee`, `blockNumber`, `contract_address`, `receipt.result`, `result: FAILED` with
//!   `resMessage` for a failed execution, `log` with `address`, `topics`, `data`); `{}` when
//!   there is none.
//! - Accounts: `getaccount` (`{}` until an account received TRX: not activated),
//!   `getchainparameters` (the burn prices), `triggerconstantcontract` for `decimals()`,
//!   `balanceOf(address)` and the energy a `transfer` uses (65,000, or 130,000 to a holder of
//!   none — as USDT's contract roughly does).
//! - Sending: `createtransaction`, `triggersmartcontract` build with Kassa's own encoder
//!   (checked against TronWeb's bytes elsewhere) — or, after [`FakeTron::tamper`], a
//!   transaction paying someone else whose JSON still shows what was asked, as a hostile node
//!   would; `broadcasthex` checks the signature (the key must be the sender's), the expiry
//!   and the sender's TRX (`SIGERROR`, `TRANSACTION_EXPIRATION_ERROR`,
//!   `CONTRACT_VALIDATE_ERROR`, `BANDWITH_ERROR`, `DUP_TRANSACTION_ERROR`) and pools it; the
//!   next [`FakeTron::mine`] executes it: bandwidth burnt at 1,000 sun a byte (the signed size
//!   plus 64), 1.1 TRX instead for a transfer that creates its recipient, energy at 420 sun a
//!   unit up to the fee limit — beyond it `OUT_OF_ENERGY`, the limit burnt; a token transfer
//!   without the tokens `REVERT`.
//!
//! The test drives the chain: [`FakeTron::mine`] a block of outside payments (and whatever was
//! broadcast), [`FakeTron::reorg`] to drop the top blocks (their payments can be mined again).
//! Every request's `TRON-PRO-API-KEY` header is kept for the test to check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kassa_chain::spend::tron::{Call, Raw, signer};
use serde_json::{Value, json};

/// What an outside payer's transaction does.
#[derive(Clone, Debug)]
pub enum FakeTx {
    /// A TRX transfer (`TransferContract`) of `sun`.
    Trx {
        /// Recipient (`T…`).
        to: String,
        /// Sun.
        sun: u64,
    },
    /// A TRC-20 `transfer` (`TriggerSmartContract`) at `contract`, `failed` when its execution
    /// ran out of energy (the node still reports the log this test gives it, to show it is
    /// not credited anyway).
    Trc20 {
        /// The contract (`T…`).
        contract: String,
        /// Recipient (`T…`).
        to: String,
        /// Base units.
        amount: u128,
        /// Out of energy.
        failed: bool,
    },
}

/// Burn prices (sun): per byte, per unit of energy, to create an account (system contract
/// fee and the creation's bandwidth).
const PER_BYTE: u128 = 1_000;
const PER_ENERGY: u128 = 420;
const NEW_ACCOUNT_FEE: u128 = 1_000_000;
const CREATE_ACCOUNT_BANDWIDTH: u128 = 100_000;
/// Energy of a token transfer to a holder, and to an account holding none.
const ENERGY_TO_HOLDER: u128 = 65_000;
const ENERGY_TO_NEW_HOLDER: u128 = 130_000;

/// Balances: TRX by account (present = activated) and tokens by (contract, holder), all hex
/// `41…`.
#[derive(Clone, Default)]
struct Ledger {
    trx: HashMap<String, u128>,
    tokens: HashMap<(String, String), u128>,
}

/// A transaction some account signed and broadcast.
#[derive(Clone)]
struct Signed {
    txid: String,
    raw: Raw,
    raw_hex: String,
    size: usize,
}

#[derive(Clone)]
enum Origin {
    Outside(FakeTx),
    Broadcast(Signed),
}

#[derive(Clone)]
struct MinedTx {
    txid: String,
    origin: Origin,
    ret: &'static str,
    info: Option<Value>,
}

#[derive(Clone)]
struct FakeBlock {
    id: String,
    parent: String,
    number: u64,
    txs: Vec<MinedTx>,
    /// Balances after it.
    after: Ledger,
}

#[derive(Default)]
struct Inner {
    blocks: Vec<FakeBlock>,
    decimals: Vec<(String, u32)>,
    api_keys: Vec<Option<String>>,
    pool: Vec<Signed>,
    tamper: bool,
    broadcasts: usize,
    /// Added to the wall clock (the test's clock moved on).
    skew_ms: i64,
}

impl Inner {
    fn now_ms(&self) -> i64 {
        now_ms() + self.skew_ms
    }
}

/// The fake node. The server stops when this is dropped.
pub struct FakeTron {
    inner: Arc<Mutex<Inner>>,
    /// Its base URL (`http://127.0.0.1:port`).
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTron {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sender of every outside transaction (it has all the TRX and tokens it sends).
const PAYER: &str = "41b6e708a39781c96bd399c7657780ff9fe9f052a8";

/// Where a tampering node sends what it was asked to send elsewhere.
pub const THIEF: [u8; 20] = [0xee; 20];

fn hex41(address: &str) -> String {
    format!(
        "41{}",
        hex::encode(kassa_chain::address::tron::decode(address).expect("a T… address"))
    )
}

fn word(hex: &str) -> String {
    format!("{hex:0>64}")
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_millis(),
    )
    .expect("ms")
}

/// A token transfer's recipient and amount, from its call data.
fn transfer_args(data: &[u8]) -> Option<(String, u128)> {
    if data.len() != 68 || data[..4] != [0xa9, 0x05, 0x9c, 0xbb] {
        return None;
    }
    let to = format!("41{}", hex::encode(&data[16..36]));
    let amount = u128::from_be_bytes(data[52..68].try_into().ok()?);
    Some((to, amount))
}

impl FakeTron {
    /// Starts the node with a genesis block.
    pub async fn start() -> FakeTron {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/wallet/{method}", post(handle))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        let node = FakeTron { inner, url, task };
        node.mine(Vec::new());
        node
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("lock")
    }

    /// A TRC-20 contract the node knows, with `decimals`: a fresh `T…` address.
    pub fn deploy_token(&self, decimals: u32) -> String {
        let mut g = self.lock();
        let bytes: [u8; 20] = rand::random();
        let address = kassa_chain::address::tron::encode(&bytes);
        g.decimals.push((address.clone(), decimals));
        address
    }

    /// Mines a block holding the outside payments `txs` and then every pooled transaction;
    /// the ids of `txs`, in order.
    pub fn mine(&self, txs: Vec<FakeTx>) -> Vec<String> {
        let mut g = self.lock();
        let number = g.blocks.len() as u64;
        let parent = g
            .blocks
            .last()
            .map_or_else(|| "0".repeat(64), |b| b.id.clone());
        let mut ledger = g.blocks.last().map(|b| b.after.clone()).unwrap_or_default();
        let rand: [u8; 24] = rand::random();
        let id = format!("{number:016x}{}", hex::encode(rand));
        let mut mined: Vec<MinedTx> = txs
            .into_iter()
            .map(|tx| outside(&mut ledger, tx, number))
            .collect();
        let ids = mined.iter().map(|m| m.txid.clone()).collect();
        let pool = std::mem::take(&mut g.pool);
        let known: Vec<(String, u32)> = g.decimals.clone();
        let now = g.now_ms();
        for p in pool {
            if p.raw.expiration <= now {
                continue;
            }
            if let Some(m) = execute(&mut ledger, &known, p, number) {
                mined.push(m);
            }
        }
        g.blocks.push(FakeBlock {
            id,
            parent,
            number,
            txs: mined,
            after: ledger,
        });
        ids
    }

    /// Mines `n` empty blocks (pooled transactions go into the first).
    pub fn mine_empty(&self, n: u64) {
        for _ in 0..n {
            self.mine(Vec::new());
        }
    }

    /// Drops the top `depth` blocks (the node switched to a branch that does not have them
    /// yet); returns their outside payments, to be mined again or not. What was broadcast goes
    /// back to the pool.
    pub fn reorg(&self, depth: usize) -> Vec<FakeTx> {
        let mut g = self.lock();
        let keep = g.blocks.len().saturating_sub(depth).max(1);
        let dropped = g.blocks.split_off(keep);
        let mut outside = Vec::new();
        for t in dropped.into_iter().flat_map(|b| b.txs) {
            match t.origin {
                Origin::Outside(tx) => outside.push(tx),
                Origin::Broadcast(s) => g.pool.push(s),
            }
        }
        outside
    }

    /// The `TRON-PRO-API-KEY` header of every request so far.
    pub fn api_keys(&self) -> Vec<Option<String>> {
        self.lock().api_keys.clone()
    }

    /// While `on`, transactions this node builds pay [`THIEF`] instead (their JSON still says
    /// what was asked, their id is their bytes' hash).
    pub fn tamper(&self, on: bool) {
        self.lock().tamper = on;
    }

    /// Moves the node's clock on by `d`, as the test moves the app's.
    pub fn advance(&self, d: std::time::Duration) {
        self.lock().skew_ms += i64::try_from(d.as_millis()).expect("ms");
    }

    /// Sets `holder`'s balance of the token at `contract` at the tip (as if it was spent
    /// elsewhere since).
    pub fn set_token(&self, contract: &str, holder: &str, amount: u128) {
        let mut g = self.lock();
        let b = g.blocks.last_mut().expect("genesis");
        b.after
            .tokens
            .insert((hex41(contract), hex41(holder)), amount);
    }

    /// How many transactions were handed to `broadcasthex` and taken.
    pub fn broadcasts(&self) -> usize {
        self.lock().broadcasts
    }

    /// `address`'s TRX (sun) at the tip; `None` when it is not activated.
    pub fn trx(&self, address: &str) -> Option<u128> {
        let g = self.lock();
        g.blocks.last()?.after.trx.get(&hex41(address)).copied()
    }

    /// `holder`'s balance of the token at `contract`, at the tip.
    pub fn token(&self, contract: &str, holder: &str) -> u128 {
        let g = self.lock();
        g.blocks.last().map_or(0, |b| {
            b.after
                .tokens
                .get(&(hex41(contract), hex41(holder)))
                .copied()
                .unwrap_or(0)
        })
    }

    /// The outcome (`gettransactioninfobyid`'s answer) of transaction `txid`.
    pub fn info(&self, txid: &str) -> Value {
        info_of(&self.lock(), txid)
    }
}

fn info_of(g: &Inner, txid: &str) -> Value {
    g.blocks
        .iter()
        .flat_map(|b| &b.txs)
        .find(|t| t.txid == txid)
        .and_then(|t| t.info.clone())
        .unwrap_or_else(|| json!({}))
}

/// An outside payment: credited to its recipient (the payer never runs short).
fn outside(ledger: &mut Ledger, tx: FakeTx, number: u64) -> MinedTx {
    let txid = hex::encode(rand::random::<[u8; 32]>());
    let (ret, info) = match &tx {
        FakeTx::Trx { to, sun } => {
            *ledger.trx.entry(hex41(to)).or_default() += u128::from(*sun);
            ("SUCCESS", None)
        }
        FakeTx::Trc20 {
            contract,
            to,
            amount,
            failed,
        } => {
            if !failed {
                *ledger
                    .tokens
                    .entry((hex41(contract), hex41(to)))
                    .or_default() += amount;
            }
            let mut info = json!({
                "id": txid,
                "fee": 1_000_000,
                "blockNumber": number,
                "blockTimeStamp": 1_700_000_000_000_i64,
                "contractResult": [""],
                "contract_address": hex41(contract),
                "receipt": {
                    "energy_usage_total": 31_895,
                    "net_usage": 345,
                    "result": if *failed { "OUT_OF_ENERGY" } else { "SUCCESS" },
                },
                "log": [{
                    "address": &hex41(contract)[2..],
                    "topics": [
                        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                        word(&PAYER[2..]),
                        word(&hex41(to)[2..]),
                    ],
                    "data": word(&format!("{amount:x}")),
                }],
            });
            if *failed {
                info["result"] = json!("FAILED");
                info["resMessage"] = json!(hex::encode("Not enough energy"));
            }
            (
                if *failed { "OUT_OF_ENERGY" } else { "SUCCESS" },
                Some(info),
            )
        }
    };
    MinedTx {
        txid,
        origin: Origin::Outside(tx),
        ret,
        info: Some(info).flatten(),
    }
}

/// Runs a broadcast transaction against the balances (see the module docs); `None` when it
/// can no longer be valid (the sender spent its TRX meanwhile): it is left out.
fn execute(
    ledger: &mut Ledger,
    known: &[(String, u32)],
    s: Signed,
    number: u64,
) -> Option<MinedTx> {
    let bandwidth = (s.size as u128 + 64) * PER_BYTE;
    let mut info = json!({
        "id": s.txid,
        "blockNumber": number,
        "blockTimeStamp": 1_700_000_000_000_i64 + i64::try_from(number).unwrap_or(0) * 3000,
        "contractResult": [""],
    });
    let ret = match &s.raw.call {
        Call::Transfer { owner, to, amount } => {
            let (owner, to) = (hex::encode(owner), hex::encode(to));
            let amount = u128::try_from(*amount).ok()?;
            let fee = if ledger.trx.contains_key(&to) {
                bandwidth
            } else {
                NEW_ACCOUNT_FEE + CREATE_ACCOUNT_BANDWIDTH
            };
            let have = ledger.trx.get(&owner).copied()?;
            let left = have.checked_sub(amount + fee)?;
            ledger.trx.insert(owner, left);
            *ledger.trx.entry(to).or_default() += amount;
            info["fee"] = json!(u64::try_from(fee).ok()?);
            info["receipt"] = json!({"net_fee": u64::try_from(fee).ok()?});
            "SUCCESS"
        }
        Call::Trigger {
            owner,
            contract,
            data,
            ..
        } => {
            let (owner, contract) = (hex::encode(owner), hex::encode(contract));
            let have = ledger.trx.get(&owner).copied()?;
            let mut left = have.checked_sub(bandwidth)?;
            let deployed = known.iter().any(|(a, _)| hex41(a) == contract);
            info["contract_address"] = json!(contract);
            let (ret, energy) = match transfer_args(data).filter(|_| deployed) {
                None => ("REVERT", 5_000),
                Some((to, amount)) => {
                    let holds = ledger
                        .tokens
                        .get(&(contract.clone(), to.clone()))
                        .is_some_and(|b| *b > 0);
                    let energy = if holds {
                        ENERGY_TO_HOLDER
                    } else {
                        ENERGY_TO_NEW_HOLDER
                    };
                    let limit = u128::try_from(s.raw.fee_limit).unwrap_or(0).min(left);
                    let from = ledger
                        .tokens
                        .get(&(contract.clone(), owner.clone()))
                        .copied()
                        .unwrap_or(0);
                    if energy * PER_ENERGY > limit {
                        ("OUT_OF_ENERGY", limit / PER_ENERGY)
                    } else if from < amount {
                        ("REVERT", 20_000)
                    } else {
                        ledger
                            .tokens
                            .insert((contract.clone(), owner.clone()), from - amount);
                        *ledger
                            .tokens
                            .entry((contract.clone(), to.clone()))
                            .or_default() += amount;
                        info["log"] = json!([{
                            "address": &contract[2..],
                            "topics": [
                                "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                                word(&owner[2..]),
                                word(&to[2..]),
                            ],
                            "data": word(&format!("{amount:x}")),
                        }]);
                        ("SUCCESS", energy)
                    }
                }
            };
            let burnt = if ret == "OUT_OF_ENERGY" {
                u128::try_from(s.raw.fee_limit).unwrap_or(0).min(left)
            } else {
                energy * PER_ENERGY
            };
            left -= burnt;
            ledger.trx.insert(owner, left);
            let fee = u64::try_from(bandwidth + burnt).ok()?;
            info["fee"] = json!(fee);
            info["receipt"] = json!({
                "energy_usage_total": u64::try_from(energy).ok()?,
                "energy_fee": u64::try_from(burnt).ok()?,
                "net_fee": u64::try_from(bandwidth).ok()?,
                "result": ret,
            });
            if ret != "SUCCESS" {
                info["result"] = json!("FAILED");
                info["resMessage"] = json!(hex::encode(match ret {
                    "OUT_OF_ENERGY" => "Not enough energy for 'SSTORE' operation executing",
                    _ => "REVERT opcode executed",
                }));
            }
            ret
        }
    };
    Some(MinedTx {
        txid: s.txid.clone(),
        origin: Origin::Broadcast(s),
        ret,
        info: Some(info),
    })
}

/// A transaction's JSON as the node shows it.
fn tx_json(m: &MinedTx) -> Value {
    let (kind, value, raw_hex, fee_limit) = match &m.origin {
        Origin::Outside(FakeTx::Trx { to, sun }) => (
            "TransferContract",
            json!({"amount": sun, "owner_address": PAYER, "to_address": hex41(to)}),
            "00".to_owned(),
            0,
        ),
        Origin::Outside(FakeTx::Trc20 {
            contract,
            to,
            amount,
            ..
        }) => (
            "TriggerSmartContract",
            json!({
                "data": format!("a9059cbb{}{}", word(&hex41(to)[2..]), word(&format!("{amount:x}"))),
                "owner_address": PAYER,
                "contract_address": hex41(contract),
            }),
            "00".to_owned(),
            0,
        ),
        Origin::Broadcast(s) => {
            let (kind, value) = call_json(&s.raw.call);
            (kind, value, s.raw_hex.clone(), s.raw.fee_limit)
        }
    };
    json!({
        "ret": [{"contractRet": m.ret}],
        "signature": ["00"],
        "txID": m.txid,
        "raw_data": {
            "contract": [{
                "parameter": {"value": value, "type_url": format!("type.googleapis.com/protocol.{kind}")},
                "type": kind,
            }],
            "ref_block_bytes": "0000",
            "ref_block_hash": "0000000000000000",
            "expiration": 1_700_000_060_000_i64,
            "timestamp": 1_700_000_000_000_i64,
            "fee_limit": fee_limit,
        },
        "raw_data_hex": raw_hex,
    })
}

/// A contract's `type` and `parameter.value`, as the node shows them.
fn call_json(call: &Call) -> (&'static str, Value) {
    match call {
        Call::Transfer { owner, to, amount } => (
            "TransferContract",
            json!({"amount": amount, "owner_address": hex::encode(owner), "to_address": hex::encode(to)}),
        ),
        Call::Trigger {
            owner,
            contract,
            data,
            ..
        } => (
            "TriggerSmartContract",
            json!({"data": hex::encode(data), "owner_address": hex::encode(owner), "contract_address": hex::encode(contract)}),
        ),
    }
}

fn block_json(b: &FakeBlock) -> Value {
    let txs: Vec<Value> = b.txs.iter().map(tx_json).collect();
    let mut block = json!({
        "blockID": b.id,
        "block_header": {
            "raw_data": {
                "number": b.number,
                "txTrieRoot": "0".repeat(64),
                "witness_address": PAYER,
                "parentHash": b.parent,
                "version": 30,
                "timestamp": 1_700_000_000_000_i64 + i64::try_from(b.number).unwrap_or(0) * 3000,
            },
            "witness_signature": "00",
        },
    });
    if !txs.is_empty() {
        block["transactions"] = Value::Array(txs);
    }
    block
}

fn infos_json(b: &FakeBlock) -> Value {
    let infos: Vec<Value> = b.txs.iter().filter_map(|m| m.info.clone()).collect();
    if infos.is_empty() {
        json!({})
    } else {
        Value::Array(infos)
    }
}

/// A refusal as `broadcasthex` words it (the message hex-encoded).
fn refused(code: &str, txid: &str, message: &str) -> Value {
    json!({"result": false, "code": code, "txid": txid, "message": hex::encode(message)})
}

/// The raw part and signature of a signed `Transaction` protobuf.
fn split_signed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let read_len = |b: &[u8]| -> Option<(usize, usize)> {
        let mut len = 0usize;
        for (i, x) in b.iter().take(5).enumerate() {
            len |= usize::from(x & 0x7f) << (7 * i);
            if x & 0x80 == 0 {
                return Some((len, i + 1));
            }
        }
        None
    };
    let rest = bytes.strip_prefix(&[0x0a])?;
    let (len, used) = read_len(rest)?;
    let raw = rest.get(used..used + len)?;
    let rest = rest.get(used + len..)?.strip_prefix(&[0x12])?;
    let (len, used) = read_len(rest)?;
    let sig = rest.get(used..used + len)?;
    (used + len == rest.len()).then_some((raw, sig))
}

/// Builds the transaction of `call` on the tip as a node does (tampered when asked).
fn build(g: &Inner, call: Call, fee_limit: i64) -> Value {
    let tip = g.blocks.last().expect("genesis");
    let id = hex::decode(&tip.id).expect("hex");
    let now = g.now_ms();
    let honest = Raw {
        ref_block_bytes: tip.number.to_be_bytes()[6..8].to_vec(),
        ref_block_hash: id[8..16].to_vec(),
        expiration: now + 60_000,
        timestamp: now,
        fee_limit,
        call,
    };
    let mut raw = honest.clone();
    if g.tamper {
        let mut thief = [0x41u8; 21];
        thief[1..].copy_from_slice(&THIEF);
        raw.call = match raw.call {
            Call::Transfer { owner, amount, .. } => Call::Transfer {
                owner,
                to: thief,
                amount,
            },
            Call::Trigger {
                owner,
                contract,
                call_value,
                mut data,
            } => {
                data[16..36].copy_from_slice(&THIEF);
                Call::Trigger {
                    owner,
                    contract,
                    call_value,
                    data,
                }
            }
        };
    }
    let bytes = raw.encode();
    let (kind, value) = call_json(&honest.call);
    json!({
        "visible": false,
        "txID": Raw::txid(&bytes),
        "raw_data": {
            "contract": [{"parameter": {"value": value, "type_url": format!("type.googleapis.com/protocol.{kind}")}, "type": kind}],
            "ref_block_bytes": hex::encode(&honest.ref_block_bytes),
            "ref_block_hash": hex::encode(&honest.ref_block_hash),
            "expiration": honest.expiration,
            "timestamp": honest.timestamp,
            "fee_limit": fee_limit,
        },
        "raw_data_hex": hex::encode(bytes),
    })
}

fn account21(hex_text: &str) -> Option<[u8; 21]> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

fn broadcast(g: &mut Inner, body: &Value) -> Value {
    let Some(bytes) = body["transaction"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
    else {
        return refused("OTHER_ERROR", "", "not a transaction");
    };
    let Some((raw_bytes, sig)) = split_signed(&bytes) else {
        return refused("OTHER_ERROR", "", "not a transaction");
    };
    let txid = Raw::txid(raw_bytes);
    let Ok(raw) = Raw::decode(raw_bytes) else {
        return refused("OTHER_ERROR", &txid, "not a transaction");
    };
    let known = g.pool.iter().any(|p| p.txid == txid)
        || g.blocks
            .iter()
            .any(|b| b.txs.iter().any(|t| t.txid == txid));
    if known {
        return refused("DUP_TRANSACTION_ERROR", &txid, "dup transaction");
    }
    let owner = match &raw.call {
        Call::Transfer { owner, .. } | Call::Trigger { owner, .. } => *owner,
    };
    if signer(raw_bytes, &hex::encode(sig)).map(|a| a[..] == owner[1..]) != Some(true) {
        return refused(
            "SIGERROR",
            &txid,
            "Validate signature error: signature is not the owner's",
        );
    }
    if raw.expiration <= g.now_ms() {
        return refused("TRANSACTION_EXPIRATION_ERROR", &txid, "Transaction expired");
    }
    let ledger = &g.blocks.last().expect("genesis").after;
    let Some(have) = ledger.trx.get(&hex::encode(owner)).copied() else {
        return refused(
            "CONTRACT_VALIDATE_ERROR",
            &txid,
            "Validate TransferContract error, no OwnerAccount.",
        );
    };
    let bandwidth = (bytes.len() as u128 + 64) * PER_BYTE;
    match &raw.call {
        Call::Transfer { amount, .. } if have < u128::try_from(*amount).unwrap_or(u128::MAX) => {
            return refused(
                "CONTRACT_VALIDATE_ERROR",
                &txid,
                "Validate TransferContract error, balance is not sufficient.",
            );
        }
        Call::Trigger { .. } if have < bandwidth => {
            return refused(
                "BANDWITH_ERROR",
                &txid,
                "Account resource insufficient error.",
            );
        }
        _ => {}
    }
    g.broadcasts += 1;
    g.pool.push(Signed {
        txid: txid.clone(),
        raw,
        raw_hex: hex::encode(raw_bytes),
        size: bytes.len(),
    });
    json!({"result": true, "txid": txid})
}

fn constant(g: &Inner, body: &Value) -> Value {
    let contract = body["contract_address"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let known = g.decimals.iter().find(|(a, _)| hex41(a) == contract);
    let parameter = body["parameter"].as_str().unwrap_or_default();
    let ledger = &g.blocks.last().expect("genesis").after;
    let holder = |w: &str| format!("41{}", w.get(24..64).unwrap_or_default());
    match (known, body["function_selector"].as_str()) {
        (Some((_, d)), Some("decimals()")) => json!({
            "result": {"result": true},
            "energy_used": 222,
            "constant_result": [word(&format!("{d:x}"))],
        }),
        (Some(_), Some("balanceOf(address)")) => {
            let b = ledger
                .tokens
                .get(&(contract.clone(), holder(parameter)))
                .copied()
                .unwrap_or(0);
            json!({
                "result": {"result": true},
                "energy_used": 575,
                "constant_result": [word(&format!("{b:x}"))],
            })
        }
        (Some(_), Some("transfer(address,uint256)")) => {
            let to = holder(parameter);
            let holds = ledger
                .tokens
                .get(&(contract.clone(), to))
                .is_some_and(|b| *b > 0);
            let energy = if holds {
                ENERGY_TO_HOLDER
            } else {
                ENERGY_TO_NEW_HOLDER
            };
            json!({
                "result": {"result": true},
                "energy_used": u64::try_from(energy).unwrap_or(0),
                "constant_result": [word("1")],
            })
        }
        (None, Some("decimals()")) => {
            json!({"result": {"result": true}, "constant_result": [""]})
        }
        _ => {
            json!({"result": {"code": "CONTRACT_VALIDATE_ERROR", "message": hex::encode("No contract or not a valid smart contract")}})
        }
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut g = inner.lock().expect("lock");
    g.api_keys.push(
        headers
            .get("TRON-PRO-API-KEY")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    let num = body["num"].as_u64();
    let at = |n: Option<u64>| n.and_then(|n| g.blocks.get(usize::try_from(n).ok()?));
    let tip = &g.blocks.last().expect("genesis").after;
    let answer = match method.as_str() {
        "getnowblock" => block_json(g.blocks.last().expect("genesis")),
        "getblockbynum" => at(num).map_or_else(|| json!({}), block_json),
        "gettransactioninfobyblocknum" => at(num).map_or_else(|| json!({}), infos_json),
        "gettransactioninfobyid" => info_of(&g, body["value"].as_str().unwrap_or_default()),
        "triggerconstantcontract" => constant(&g, &body),
        "getchainparameters" => json!({"chainParameter": [
            {"key": "getMaintenanceTimeInterval", "value": 21_600_000},
            {"key": "getCreateAccountFee", "value": CREATE_ACCOUNT_BANDWIDTH as u64},
            {"key": "getTransactionFee", "value": PER_BYTE as u64},
            {"key": "getCreateNewAccountFeeInSystemContract", "value": NEW_ACCOUNT_FEE as u64},
            {"key": "getEnergyFee", "value": PER_ENERGY as u64},
        ]}),
        "getaccount" => {
            let a = body["address"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            match tip.trx.get(&a) {
                Some(b) => {
                    json!({"address": a, "balance": u64::try_from(*b).unwrap_or(u64::MAX), "create_time": 1_700_000_000_000_i64})
                }
                None => json!({}),
            }
        }
        "createtransaction" => {
            let owner = body["owner_address"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let amount = body["amount"].as_i64().unwrap_or(0);
            match (
                account21(&owner),
                body["to_address"].as_str().and_then(account21),
                tip.trx.get(&owner),
            ) {
                (Some(_), Some(_), None) => {
                    json!({"Error": "class org.tron.core.exception.ContractValidateException : Validate TransferContract error, no OwnerAccount."})
                }
                (Some(_), Some(_), Some(b)) if *b < u128::try_from(amount).unwrap_or(u128::MAX) => {
                    json!({"Error": "class org.tron.core.exception.ContractValidateException : Validate TransferContract error, balance is not sufficient."})
                }
                (Some(o), Some(to), Some(_)) => build(
                    &g,
                    Call::Transfer {
                        owner: o,
                        to,
                        amount,
                    },
                    0,
                ),
                _ => {
                    json!({"Error": "class org.tron.core.exception.ContractValidateException : Invalid address"})
                }
            }
        }
        "triggersmartcontract" => {
            let owner = body["owner_address"].as_str().and_then(account21);
            let contract = body["contract_address"].as_str().and_then(account21);
            let selector = body["function_selector"].as_str().unwrap_or_default();
            let parameter = body["parameter"].as_str().and_then(|p| hex::decode(p).ok());
            match (owner, contract, selector, parameter) {
                (Some(owner), Some(contract), "transfer(address,uint256)", Some(p))
                    if p.len() == 64 =>
                {
                    let mut data = vec![0xa9, 0x05, 0x9c, 0xbb];
                    data.extend_from_slice(&p);
                    let fee_limit = body["fee_limit"].as_i64().unwrap_or(0);
                    let tx = build(
                        &g,
                        Call::Trigger {
                            owner,
                            contract,
                            call_value: 0,
                            data,
                        },
                        fee_limit,
                    );
                    json!({"result": {"result": true}, "transaction": tx})
                }
                _ => {
                    json!({"result": {"code": "CONTRACT_VALIDATE_ERROR", "message": hex::encode("this fake builds token transfers only")}})
                }
            }
        }
        "broadcasthex" => broadcast(&mut g, &body),
        "gettransactionbyid" => {
            let id = body["value"].as_str().unwrap_or_default();
            let found = g.pool.iter().any(|p| p.txid == id)
                || g.blocks.iter().any(|b| b.txs.iter().any(|t| t.txid == id));
            if found {
                json!({"txID": id})
            } else {
                json!({})
            }
        }
        _ => {
            return (axum::http::StatusCode::NOT_FOUND, "unknown method").into_response();
        }
    };
    axum::Json(answer).into_response()
}
