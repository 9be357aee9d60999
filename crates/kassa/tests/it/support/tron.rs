//! A local fake of a TRON full node's HTTP API, on a free loopback port, answering with the
//! request and response shapes of TRON's documentation (java-tron `/wallet/*`, `visible:
//! false`: addresses as hex `41…`; log addresses and topics as hex without `0x` or `41`).
//! No TRON node can run on these machines; this is the protocol, not a model of consensus.
//!
//! - `getnowblock`, `getblockbynum` (`{}` above the tip): `blockID` (eight bytes of height,
//!   then 24 of hash), `block_header.raw_data` (`number`, `parentHash`, `timestamp`) and the
//!   transactions (`txID`, `raw_data.contract[0]` with `type` and `parameter.value`, `ret`).
//! - `gettransactioninfobyblocknum`: each transaction's info (`id`, `blockNumber`,
//!   `contract_address`, `receipt.result`, `result: FAILED` with `resMessage` for a failed
//!   execution, `log` with `address`, `topics`, `data`); `{}` for a block without any.
//! - `triggerconstantcontract` answers `decimals()` of the contracts it knows.
//! - `gettransactionbyid`. (Building and broadcasting transactions come with withdrawals.)
//!
//! The test drives the chain: [`FakeTron::mine`] a block of transactions, [`FakeTron::reorg`]
//! to drop the top blocks (their transactions can be mined again). Every request's
//! `TRON-PRO-API-KEY` header is kept for the test to check.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What a transaction of the fake chain does.
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

#[derive(Clone)]
struct MinedTx {
    txid: String,
    tx: FakeTx,
}

#[derive(Clone)]
struct FakeBlock {
    id: String,
    parent: String,
    number: u64,
    txs: Vec<MinedTx>,
}

#[derive(Default)]
struct Inner {
    blocks: Vec<FakeBlock>,
    decimals: Vec<(String, u32)>,
    api_keys: Vec<Option<String>>,
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

/// The sender of every fake transaction.
const PAYER: &str = "41b6e708a39781c96bd399c7657780ff9fe9f052a8";

fn hex41(address: &str) -> String {
    format!(
        "41{}",
        hex::encode(kassa_chain::address::tron::decode(address).expect("a T… address"))
    )
}

fn word(hex: &str) -> String {
    format!("{hex:0>64}")
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

    /// Mines a block holding `txs`; their ids, in order.
    pub fn mine(&self, txs: Vec<FakeTx>) -> Vec<String> {
        let mut g = self.lock();
        let number = g.blocks.len() as u64;
        let parent = g
            .blocks
            .last()
            .map_or_else(|| "0".repeat(64), |b| b.id.clone());
        let rand: [u8; 24] = rand::random();
        let id = format!("{number:016x}{}", hex::encode(rand));
        let mined: Vec<MinedTx> = txs
            .into_iter()
            .map(|tx| MinedTx {
                txid: hex::encode(rand::random::<[u8; 32]>()),
                tx,
            })
            .collect();
        let ids = mined.iter().map(|m| m.txid.clone()).collect();
        g.blocks.push(FakeBlock {
            id,
            parent,
            number,
            txs: mined,
        });
        ids
    }

    /// Mines `n` empty blocks.
    pub fn mine_empty(&self, n: u64) {
        for _ in 0..n {
            self.mine(Vec::new());
        }
    }

    /// Drops the top `depth` blocks (the node switched to a branch that does not have them
    /// yet); returns their transactions, to be mined again or not.
    pub fn reorg(&self, depth: usize) -> Vec<FakeTx> {
        let mut g = self.lock();
        let keep = g.blocks.len().saturating_sub(depth).max(1);
        g.blocks
            .split_off(keep)
            .into_iter()
            .flat_map(|b| b.txs.into_iter().map(|t| t.tx))
            .collect()
    }

    /// The `TRON-PRO-API-KEY` header of every request so far.
    pub fn api_keys(&self) -> Vec<Option<String>> {
        self.lock().api_keys.clone()
    }
}

fn block_json(b: &FakeBlock) -> Value {
    let txs: Vec<Value> = b
        .txs
        .iter()
        .map(|m| {
            let (kind, url, value, ret) = match &m.tx {
                FakeTx::Trx { to, sun } => (
                    "TransferContract",
                    "type.googleapis.com/protocol.TransferContract",
                    json!({"amount": sun, "owner_address": PAYER, "to_address": hex41(to)}),
                    "SUCCESS",
                ),
                FakeTx::Trc20 {
                    contract,
                    to,
                    amount,
                    failed,
                } => (
                    "TriggerSmartContract",
                    "type.googleapis.com/protocol.TriggerSmartContract",
                    json!({
                        "data": format!("a9059cbb{}{}", word(&hex41(to)[2..]), word(&format!("{amount:x}"))),
                        "owner_address": PAYER,
                        "contract_address": hex41(contract),
                    }),
                    if *failed { "OUT_OF_ENERGY" } else { "SUCCESS" },
                ),
            };
            json!({
                "ret": [{"contractRet": ret}],
                "signature": ["00"],
                "txID": m.txid,
                "raw_data": {
                    "contract": [{"parameter": {"value": value, "type_url": url}, "type": kind}],
                    "ref_block_bytes": "0000",
                    "ref_block_hash": "0000000000000000",
                    "expiration": 1_700_000_060_000_i64,
                    "timestamp": 1_700_000_000_000_i64,
                },
                "raw_data_hex": "00",
            })
        })
        .collect();
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
    let infos: Vec<Value> = b
        .txs
        .iter()
        .filter_map(|m| match &m.tx {
            FakeTx::Trx { .. } => None,
            FakeTx::Trc20 {
                contract,
                to,
                amount,
                failed,
            } => {
                let mut info = json!({
                    "id": m.txid,
                    "fee": 1_000_000,
                    "blockNumber": b.number,
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
                Some(info)
            }
        })
        .collect();
    if infos.is_empty() {
        json!({})
    } else {
        Value::Array(infos)
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
    let answer = match method.as_str() {
        "getnowblock" => block_json(g.blocks.last().expect("genesis")),
        "getblockbynum" => at(num).map_or_else(|| json!({}), block_json),
        "gettransactioninfobyblocknum" => at(num).map_or_else(|| json!({}), infos_json),
        "triggerconstantcontract" => {
            let contract = body["contract_address"].as_str().unwrap_or_default();
            let known = g
                .decimals
                .iter()
                .find(|(a, _)| hex41(a) == contract.to_ascii_lowercase());
            match (known, body["function_selector"].as_str()) {
                (Some((_, d)), Some("decimals()")) => json!({
                    "result": {"result": true},
                    "energy_used": 222,
                    "constant_result": [word(&format!("{d:x}"))],
                }),
                _ => json!({"result": {"result": true}, "constant_result": [""]}),
            }
        }
        "gettransactionbyid" => {
            let id = body["value"].as_str().unwrap_or_default();
            let found = g.blocks.iter().any(|b| b.txs.iter().any(|t| t.txid == id));
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
