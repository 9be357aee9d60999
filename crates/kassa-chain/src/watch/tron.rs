//! TRON as a [`ChainSource`], over a full node's HTTP API (java-tron's `/wallet/*`, as
//! TronGrid serves it too; an API key goes in the `TRON-PRO-API-KEY` header).
//!
//! - The tip: `/wallet/getnowblock`; a block: `/wallet/getblockbynum` — its id, its parent and
//!   its transactions. A TRX transfer is a `TransferContract` whose `ret` says `SUCCESS`
//!   (index 0).
//! - TRC-20 payments: the `Transfer(from, to, value)` logs of `/wallet/gettransactioninfobyblocknum`
//!   (topics and addresses as hex without `0x`, contracts without their `41`), from the
//!   operator's allowlisted contracts only (index `1 +` the log's position), and only from a
//!   transaction whose execution succeeded: `result: FAILED` (out of energy, reverted) is never
//!   credited. A token at any other address is the block's `ignored`. Every transaction info
//!   must belong to the block just read: if the two answers disagree (the node switched
//!   branches between them), the round fails and is tried again.
//! - Reorganisations are the watcher's business: block ids and parents are what it compares.
//! - Broadcast: `/wallet/broadcasthex` with the signed protobuf Kassa built from bytes it
//!   checked; "already have it" counts as accepted.
//!
//! Not here: a pending pool (TRON's HTTP API has none worth reading: payments are seen in their
//! block, three seconds later), TRX sent by contract calls (internal transactions).

use std::time::Duration;

use kassa_core::Amount;
use kassa_core::currency::{CRYPTOS, Crypto, Family, Network};
use serde::Deserialize;
use serde_json::{Value, json};

use super::evm::{TRANSFER_TOPIC, Token, uint256};
use super::{
    Block, BoxFuture, Broadcast, ChainError, ChainSource, Ignored, PendingTx, Tip, Transfer,
    TxFacts,
};
use crate::address::tron as address;

/// The largest answer read from the node (a busy mainnet block's transaction infos are a few
/// megabytes).
pub const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// The TRC-20 `decimals()` selector.
const DECIMALS: &str = "decimals()";

/// A TRON node's HTTP API.
#[derive(Clone)]
pub struct TronApi {
    http: reqwest::Client,
    base: reqwest::Url,
    key: Option<String>,
}

impl std::fmt::Debug for TronApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TronApi")
            .field("base", &self.base.as_str())
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl TronApi {
    /// A client of the API at `base` (`https://api.trongrid.io`), with its key if any.
    pub fn new(base: &str, key: Option<String>, timeout: Duration) -> Result<TronApi, ChainError> {
        let mut base = reqwest::Url::parse(base.trim())
            .map_err(|e| ChainError::Node(format!("api_url: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ChainError::Node("api_url must be http or https".into()));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ChainError::Node(e.to_string()))?;
        Ok(TronApi {
            http,
            base,
            key: key.filter(|k| !k.trim().is_empty()),
        })
    }

    /// POSTs `body` to `wallet/<method>` and reads the JSON answer (at most [`MAX_ANSWER`]).
    pub async fn post(&self, method: &str, body: &Value) -> Result<Value, ChainError> {
        let url = self
            .base
            .join(&format!("wallet/{method}"))
            .map_err(|e| ChainError::Node(e.to_string()))?;
        let mut request = self.http.post(url).json(body);
        if let Some(key) = &self.key {
            request = request.header("TRON-PRO-API-KEY", key);
        }
        let unreachable = |e: reqwest::Error| {
            ChainError::Unreachable(if e.is_timeout() {
                format!("{method}: no answer in time")
            } else {
                format!("{method}: {e}")
            })
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(ChainError::Node(format!(
                    "{method}: the answer is larger than {MAX_ANSWER} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(ChainError::Node(format!("{method}: HTTP {status} {text}")));
        }
        serde_json::from_slice(&bytes).map_err(|e| ChainError::Node(format!("{method}: {e}")))
    }
}

/// A TRON node.
pub struct TronSource {
    network: &'static Network,
    native: &'static Crypto,
    api: TronApi,
    tokens: Vec<Token>,
}

#[derive(Deserialize)]
struct ApiBlock {
    #[serde(rename = "blockID")]
    block_id: String,
    block_header: Header,
    #[serde(default)]
    transactions: Vec<ApiTx>,
}

#[derive(Deserialize)]
struct Header {
    raw_data: HeaderData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeaderData {
    #[serde(default)]
    number: u64,
    #[serde(default)]
    parent_hash: String,
    #[serde(default)]
    timestamp: i64,
}

#[derive(Deserialize)]
struct ApiTx {
    #[serde(rename = "txID")]
    tx_id: String,
    #[serde(default)]
    ret: Vec<Ret>,
    raw_data: TxData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ret {
    #[serde(default, rename = "contractRet")]
    contract_ret: String,
}

#[derive(Deserialize)]
struct TxData {
    #[serde(default)]
    contract: Vec<Contract>,
}

#[derive(Deserialize)]
struct Contract {
    #[serde(rename = "type")]
    kind: String,
    parameter: Parameter,
}

#[derive(Deserialize)]
struct Parameter {
    value: Value,
}

#[derive(Deserialize)]
struct TxInfo {
    id: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    receipt: Receipt,
    #[serde(default)]
    log: Vec<Log>,
}

#[derive(Deserialize, Default)]
struct Receipt {
    #[serde(default)]
    result: String,
}

#[derive(Deserialize)]
struct Log {
    address: String,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    data: String,
}

/// A 21-byte hex account (`41…`) as a `T…` address.
fn hex_address(text: &str) -> Option<String> {
    let digits = text.strip_prefix("41").filter(|d| d.len() == 40)?;
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(digits, &mut bytes).ok()?;
    Some(address::encode(&bytes))
}

/// The account in the last 20 bytes of a 32-byte topic (hex without `0x`).
fn topic_account(topic: &str) -> Option<[u8; 20]> {
    if topic.len() != 64 || !topic[..24].bytes().all(|b| b == b'0') {
        return None;
    }
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(&topic[24..], &mut bytes).ok()?;
    Some(bytes)
}

fn parse<T: serde::de::DeserializeOwned>(method: &str, v: Value) -> Result<T, ChainError> {
    serde_json::from_value(v).map_err(|e| ChainError::Node(format!("{method}: {e}")))
}

impl TronSource {
    /// A source for the TRON network at `api`, accepting the `tokens` of the allowlist.
    pub fn new(
        network: &'static Network,
        api: TronApi,
        tokens: Vec<Token>,
    ) -> Result<TronSource, ChainError> {
        if network.family != Family::Tron {
            return Err(ChainError::Node(format!(
                "{} is not the TRON network",
                network.code
            )));
        }
        let native = CRYPTOS
            .iter()
            .find(|c| c.native && c.network.code == network.code)
            .ok_or_else(|| ChainError::Node("no TRX in the catalogue".into()))?;
        Ok(TronSource {
            network,
            native,
            api,
            tokens,
        })
    }

    /// The API client.
    pub fn api(&self) -> &TronApi {
        &self.api
    }

    fn token(&self, hex20: &str) -> Option<&Token> {
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(hex20.trim_start_matches("41"), &mut bytes).ok()?;
        self.tokens.iter().find(|t| t.contract == bytes)
    }

    /// The block at `num`, if the node has it.
    async fn block(&self, num: u64) -> Result<Option<ApiBlock>, ChainError> {
        let v = self
            .api
            .post("getblockbynum", &json!({"num": num, "visible": false}))
            .await?;
        if v.get("blockID").is_none() {
            return Ok(None);
        }
        parse("getblockbynum", v).map(Some)
    }

    /// The TRC-20 transfers of block `num` whose transactions are `ids`.
    async fn token_transfers(
        &self,
        num: u64,
        ids: &[String],
    ) -> Result<(Vec<Transfer>, Vec<Ignored>), ChainError> {
        let v = self
            .api
            .post("gettransactioninfobyblocknum", &json!({"num": num}))
            .await?;
        // An empty block answers `{}` (or `[]`).
        let infos: Vec<TxInfo> = match v {
            Value::Array(_) => parse("gettransactioninfobyblocknum", v)?,
            _ => Vec::new(),
        };
        let (mut transfers, mut ignored) = (Vec::new(), Vec::new());
        for info in infos {
            let txid = info.id.to_ascii_lowercase();
            if !ids.contains(&txid) {
                return Err(ChainError::Node(format!(
                    "transaction {txid} is not in block {num} as it was read: the node switched branches"
                )));
            }
            // Out of energy, reverted: nothing moved.
            if info.result == "FAILED"
                || !(info.receipt.result.is_empty() || info.receipt.result == "SUCCESS")
            {
                continue;
            }
            for (i, log) in info.log.iter().enumerate() {
                if log.topics.len() != 3 || format!("0x{}", log.topics[0]) != TRANSFER_TOPIC {
                    continue;
                }
                let Some(to) = topic_account(&log.topics[2]) else {
                    continue;
                };
                let index = u32::try_from(i.saturating_add(1)).unwrap_or(u32::MAX);
                let amount = uint256(&log.data);
                match self.token(&log.address) {
                    Some(token) => {
                        let Some(amount) = amount else {
                            continue;
                        };
                        transfers.push(Transfer {
                            txid: txid.clone(),
                            index,
                            address: address::encode(&to),
                            currency: token.currency,
                            amount,
                        });
                    }
                    None => {
                        let mut contract = [0u8; 20];
                        if hex::decode_to_slice(log.address.trim_start_matches("41"), &mut contract)
                            .is_err()
                        {
                            continue;
                        }
                        ignored.push(Ignored {
                            txid: txid.clone(),
                            index,
                            address: address::encode(&to),
                            contract: address::encode(&contract),
                            amount,
                        });
                    }
                }
            }
        }
        Ok((transfers, ignored))
    }

    /// Whether the node knows transaction `txid` (pending or in a block).
    async fn knows(&self, txid: &str) -> Result<bool, ChainError> {
        let v = self
            .api
            .post("gettransactionbyid", &json!({"value": txid}))
            .await?;
        Ok(v.get("txID").is_some())
    }
}

impl ChainSource for TronSource {
    fn network(&self) -> &'static Network {
        self.network
    }

    /// The node answers, and every allowlisted contract's `decimals()` matches the catalogue.
    fn check(&self) -> BoxFuture<'_, Result<(), ChainError>> {
        Box::pin(async move {
            self.tip().await?;
            for t in &self.tokens {
                let contract = format!("41{}", hex::encode(t.contract));
                let wrong = |problem: String| ChainError::Token {
                    code: t.currency.code,
                    contract: address::encode(&t.contract),
                    problem,
                };
                let v = self
                    .api
                    .post(
                        "triggerconstantcontract",
                        &json!({
                            "owner_address": contract,
                            "contract_address": contract,
                            "function_selector": DECIMALS,
                            "parameter": "",
                            "visible": false,
                        }),
                    )
                    .await?;
                let word = v["constant_result"][0].as_str().unwrap_or_default();
                let decimals = uint256(word)
                    .filter(|_| !word.is_empty())
                    .map(|a| a.base())
                    .ok_or_else(|| wrong("it has no code, or decimals() gives nothing".into()))?;
                if decimals != u128::from(t.currency.decimals) {
                    return Err(wrong(format!(
                        "it has {decimals} decimals, but {} has {}",
                        t.currency.code, t.currency.decimals
                    )));
                }
            }
            Ok(())
        })
    }

    fn tip(&self) -> BoxFuture<'_, Result<Tip, ChainError>> {
        Box::pin(async move {
            let v = self.api.post("getnowblock", &json!({})).await?;
            let b: ApiBlock = parse("getnowblock", v)?;
            Ok(Tip {
                height: b.block_header.raw_data.number,
                hash: b.block_id.to_ascii_lowercase(),
                syncing: false,
            })
        })
    }

    fn hash_at(&self, height: u64) -> BoxFuture<'_, Result<Option<String>, ChainError>> {
        Box::pin(async move {
            Ok(self
                .block(height)
                .await?
                .map(|b| b.block_id.to_ascii_lowercase()))
        })
    }

    fn block_at(&self, height: u64) -> BoxFuture<'_, Result<Option<Block>, ChainError>> {
        Box::pin(async move {
            let Some(b) = self.block(height).await? else {
                return Ok(None);
            };
            let mut transfers = Vec::new();
            let mut txs = Vec::with_capacity(b.transactions.len());
            for tx in &b.transactions {
                let txid = tx.tx_id.to_ascii_lowercase();
                txs.push(TxFacts {
                    txid: txid.clone(),
                    consumes: Vec::new(),
                });
                let ok = tx.ret.first().is_some_and(|r| r.contract_ret == "SUCCESS");
                let Some(c) = tx
                    .raw_data
                    .contract
                    .first()
                    .filter(|c| c.kind == "TransferContract")
                else {
                    continue;
                };
                let value = &c.parameter.value;
                let (Some(to), Some(amount)) = (
                    value["to_address"].as_str().and_then(hex_address),
                    value["amount"].as_u64(),
                ) else {
                    continue;
                };
                if ok && amount > 0 {
                    transfers.push(Transfer {
                        txid,
                        index: 0,
                        address: to,
                        currency: self.native,
                        amount: Amount::from_base(u128::from(amount)),
                    });
                }
            }
            let ids: Vec<String> = txs.iter().map(|t| t.txid.clone()).collect();
            let (tokens, ignored) = self.token_transfers(height, &ids).await?;
            transfers.extend(tokens);
            Ok(Some(Block {
                height: b.block_header.raw_data.number,
                hash: b.block_id.to_ascii_lowercase(),
                parent: b.block_header.raw_data.parent_hash.to_ascii_lowercase(),
                transfers,
                txs,
                ignored,
            }))
        })
    }

    fn time_at(&self, height: u64) -> BoxFuture<'_, Result<Option<i64>, ChainError>> {
        Box::pin(async move {
            Ok(self
                .block(height)
                .await?
                .map(|b| b.block_header.raw_data.timestamp / 1000))
        })
    }

    fn mempool(&self) -> BoxFuture<'_, Result<Vec<String>, ChainError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn pending<'a>(
        &'a self,
        _txid: &'a str,
    ) -> BoxFuture<'a, Result<Option<PendingTx>, ChainError>> {
        Box::pin(async { Ok(None) })
    }

    /// `raw` is the signed `Transaction` protobuf, hex (`spend::tron::signed_hex`), handed
    /// over byte for byte with `broadcasthex`.
    fn broadcast<'a>(&'a self, raw: &'a str) -> BoxFuture<'a, Broadcast> {
        Box::pin(async move {
            let Some(txid) = hex::decode(raw).ok().and_then(|b| signed_txid(&b)) else {
                return Broadcast::Refused("not a signed TRON transaction".into());
            };
            match self
                .api
                .post("broadcasthex", &json!({"transaction": raw}))
                .await
            {
                Ok(v) if v["result"].as_bool() == Some(true) => Broadcast::Accepted,
                Ok(v) if v["code"] == "DUP_TRANSACTION_ERROR" => Broadcast::Accepted,
                Ok(v) => {
                    // The node's message may be hex of its text.
                    let text = v["message"].as_str().unwrap_or_default();
                    let message = hex::decode(text)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .unwrap_or_else(|| text.to_owned());
                    let why = format!("{} {message}", v["code"].as_str().unwrap_or("refused"));
                    match self.knows(&txid).await {
                        Ok(true) => Broadcast::Accepted,
                        Ok(false) => Broadcast::Refused(why),
                        Err(e) => Broadcast::Unknown(format!("{why}; then {e}")),
                    }
                }
                Err(e) => Broadcast::Unknown(e.to_string()),
            }
        })
    }
}

/// The id of a signed `Transaction` protobuf: the hash of its field 1 (the raw part).
fn signed_txid(bytes: &[u8]) -> Option<String> {
    // Field 1, length-delimited: tag 0x0a, then a varint length.
    let (&tag, rest) = bytes.split_first()?;
    if tag != 0x0a {
        return None;
    }
    let (mut len, mut used) = (0usize, 0usize);
    for (i, b) in rest.iter().take(5).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        used = i + 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let raw = rest.get(used..used.checked_add(len)?)?;
    Some(crate::spend::tron::Raw::txid(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_read_from_hex_and_topics() {
        assert_eq!(
            hex_address("41a614f803b6fd780986a42c78ec9c7f77e6ded13c").as_deref(),
            Some("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
        );
        assert_eq!(
            hex_address("a614f803b6fd780986a42c78ec9c7f77e6ded13c"),
            None
        );
        let topic = format!("{:0>64}", "a614f803b6fd780986a42c78ec9c7f77e6ded13c");
        assert_eq!(
            topic_account(&topic)
                .map(|a| address::encode(&a))
                .as_deref(),
            Some("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
        );
        assert_eq!(
            topic_account(&format!("1{}", &topic[1..])),
            None,
            "not an address word"
        );
    }

    #[test]
    fn a_signed_transactions_id_is_the_hash_of_its_raw_part() {
        let v: Value =
            serde_json::from_str(include_str!("../../testdata/tron_vectors.json")).unwrap();
        for t in v["transactions"].as_array().unwrap() {
            let raw = hex::decode(t["raw_data_hex"].as_str().unwrap()).unwrap();
            let accepted = crate::spend::tron::Accepted {
                decoded: crate::spend::tron::Raw::decode(&raw).unwrap(),
                txid: crate::spend::tron::Raw::txid(&raw),
                raw,
            };
            let signed = crate::spend::tron::signed_hex(
                &accepted,
                &t["signature"].as_str().unwrap().to_ascii_lowercase(),
            )
            .unwrap();
            assert_eq!(
                signed_txid(&hex::decode(signed).unwrap()).as_deref(),
                t["txID"].as_str()
            );
        }
        assert_eq!(signed_txid(&[]), None);
        assert_eq!(signed_txid(&[0x0a, 0x05, 1]), None, "shorter than it says");
    }
}
