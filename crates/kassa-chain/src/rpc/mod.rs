//! A thin client for the JSON-RPC interface of Bitcoin Core and its relatives (Litecoin Core
//! 0.21 included): HTTP POST with basic auth, one request per call, typed answers for the calls
//! a watcher and a wallet need, and [`RpcClient::call`] for anything else.
//!
//! Amounts arrive as JSON numbers in coins with eight decimals (`1.23456789`). They are read
//! from the number's own text into integer base units ([`parse_json_amount`]), never through
//! `f64`: the typed answers carry [`Amount`]s, and a JSON value that `serde_json` has turned into
//! a float (as in [`RpcClient::call`]) should not be used for money.
//!
//! The two families differ in small ways, which the types absorb: Litecoin Core 0.21 (like
//! Bitcoin Core before 22) lists output addresses as `scriptPubKey.addresses[]`, newer Bitcoin
//! Core as `scriptPubKey.address`; Litecoin adds `ismweb` flags, which are ignored.

use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kassa_core::money::{Amount, AmountError};
use kassa_core::secret::SecretString;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// Decimal places of amounts in the node's JSON (BTC and LTC both have 8).
pub const DECIMALS: u32 = 8;

/// How long a call may take by default, connection and answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Error codes of Bitcoin Core's RPC interface that callers act on (`src/rpc/protocol.h`).
pub mod codes {
    /// A generic error (e.g. a wallet that already exists).
    pub const MISC_ERROR: i64 = -1;
    /// A transaction, block or address that does not exist.
    pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
    /// A parameter out of range (e.g. `getblockhash` above the tip).
    pub const INVALID_PARAMETER: i64 = -8;
    /// The transaction was rejected by the mempool.
    pub const VERIFY_REJECTED: i64 = -26;
    /// The transaction is already in the chain.
    pub const VERIFY_ALREADY_IN_CHAIN: i64 = -27;
    /// The node is still starting (loading the block index, verifying blocks).
    pub const IN_WARMUP: i64 = -28;
    /// The method does not exist (or is disabled in this build).
    pub const METHOD_NOT_FOUND: i64 = -32601;
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The client could not be built from its settings (an unusable URL).
    #[error("bad node RPC settings: {0}")]
    Config(String),
    /// The request did not get an answer: connection refused, reset, DNS, TLS, ….
    #[error("cannot reach the node: {0}")]
    Transport(String),
    /// No complete answer within the client's timeout.
    #[error("the node did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// An HTTP error status without a JSON-RPC error in the body (401 for wrong credentials,
    /// 403 for a refused client address, 404 for a wrong wallet path, …).
    #[error("the node answered HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http {
        /// The status code.
        status: u16,
        /// The start of the body, if any.
        body: String,
    },
    /// The node ran the call and reported an error.
    #[error("{method} failed: {message} (RPC error {code})")]
    Rpc {
        /// The method called.
        method: String,
        /// The node's error code (see [`codes`]).
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The answer is not the JSON expected for the method.
    #[error("unexpected answer to {method}: {message}")]
    BadJson {
        /// The method called.
        method: String,
        /// What was wrong.
        message: String,
    },
}

impl RpcError {
    /// The node's error code, for an [`RpcError::Rpc`].
    pub fn code(&self) -> Option<i64> {
        match self {
            RpcError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A client for one node (or one of its wallets: [`RpcClient::for_wallet`]). Calls may run
/// concurrently; share the client with an `Arc`.
pub struct RpcClient {
    http: reqwest::Client,
    url: reqwest::Url,
    user: String,
    password: SecretString,
    timeout: Duration,
    next_id: AtomicU64,
    /// The envelope's `jsonrpc`: `1.0` for Bitcoin Core, `2.0` for EVM nodes.
    version: &'static str,
}

impl Clone for RpcClient {
    /// Another handle on the same node (sharing the HTTP connection pool).
    fn clone(&self) -> Self {
        Self {
            http: self.http.clone(),
            url: self.url.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            timeout: self.timeout,
            next_id: AtomicU64::new(self.next_id.load(std::sync::atomic::Ordering::Relaxed)),
            version: self.version,
        }
    }
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("url", &self.url.as_str())
            .field("user", &self.user)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RpcClient {
    /// A client for the node at `url` (`http://127.0.0.1:8332`) with the [`DEFAULT_TIMEOUT`].
    pub fn new(url: &str, user: &str, password: SecretString) -> Result<RpcClient, RpcError> {
        Self::with_timeout(url, user, password, DEFAULT_TIMEOUT)
    }

    /// A client whose every call (connect, send, read the answer) must finish within `timeout`.
    pub fn with_timeout(
        url: &str,
        user: &str,
        password: SecretString,
        timeout: Duration,
    ) -> Result<RpcClient, RpcError> {
        let url = reqwest::Url::parse(url.trim())
            .map_err(|e| RpcError::Config(format!("node URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(RpcError::Config(
                "node URL must be http:// or https:// with a host".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RpcError::Config(
                "put the RPC user and password in their own settings, not in the URL".into(),
            ));
        }
        // reqwest is built without a default TLS crypto provider; ring is the one Kassa uses,
        // and installing it a second time is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .no_proxy()
            .user_agent(concat!("Kassa/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RpcError::Config(describe(&e)))?;
        Ok(RpcClient {
            http,
            url,
            user: user.to_owned(),
            password,
            timeout,
            next_id: AtomicU64::new(1),
            version: "1.0",
        })
    }

    /// A JSON-RPC 2.0 client without credentials (an EVM node: `eth_*` calls), whose every
    /// call must finish within `timeout`.
    pub fn json_rpc_2(url: &str, timeout: Duration) -> Result<RpcClient, RpcError> {
        let mut c = Self::with_timeout(url, "", SecretString::default(), timeout)?;
        c.version = "2.0";
        Ok(c)
    }

    /// A client for the node wallet `name` (`<url>/wallet/<name>`), sharing this client's
    /// connections. Kassa derives its own keys; node wallets are for tests and tools.
    pub fn for_wallet(&self, name: &str) -> RpcClient {
        let mut url = self.url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push("wallet").push(name);
        }
        RpcClient {
            http: self.http.clone(),
            url,
            user: self.user.clone(),
            password: self.password.clone(),
            timeout: self.timeout,
            next_id: AtomicU64::new(1),
            version: self.version,
        }
    }

    /// The node URL (without credentials).
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Calls `method` with `params` and returns the result as a JSON value. Numbers in it have
    /// gone through `f64`: read amounts with a typed call or [`RpcClient::call_as`] instead.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.call_as(method, params).await
    }

    /// Calls `method` with `params` (a JSON array, or `null` for none) and reads the result as
    /// `T`. `T` may hold [`Amount`]s read with [`amount`] / [`optional_amount`], since the result
    /// is parsed from the answer's text.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, RpcError> {
        let (id, status, bytes) = self.post(method, params).await?;
        let result = envelope_result(method, status, &bytes, id)?;
        serde_json::from_str(result).map_err(|e| RpcError::BadJson {
            method: method.to_owned(),
            message: e.to_string(),
        })
    }

    /// Sends one request; returns its id, the HTTP status and the body.
    async fn post(&self, method: &str, params: Value) -> Result<(u64, u16, Vec<u8>), RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let params = if params.is_null() { json!([]) } else { params };
        let request =
            json!({"jsonrpc": self.version, "id": id, "method": method, "params": params});
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                RpcError::Timeout(self.timeout)
            } else {
                RpcError::Transport(describe(&e))
            }
        };
        let mut request_builder = self.http.post(self.url.clone());
        if !self.user.is_empty() || !self.password.expose().is_empty() {
            request_builder = request_builder.basic_auth(&self.user, Some(self.password.expose()));
        }
        let response = request_builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.to_string())
            .send()
            .await
            .map_err(failed)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(failed)?;
        Ok((id, status, bytes.to_vec()))
    }

    // --- Chain state --------------------------------------------------------------------

    /// `getblockchaininfo`: the chain's name, height, tip and sync state.
    pub async fn get_blockchain_info(&self) -> Result<BlockchainInfo, RpcError> {
        self.call_as("getblockchaininfo", json!([])).await
    }

    /// `getblockcount`: the height of the tip.
    pub async fn get_block_count(&self) -> Result<u64, RpcError> {
        self.call_as("getblockcount", json!([])).await
    }

    /// `getbestblockhash`: the hash of the tip.
    pub async fn get_best_block_hash(&self) -> Result<String, RpcError> {
        self.call_as("getbestblockhash", json!([])).await
    }

    /// `getblockhash`: the hash of the main-chain block at `height`
    /// ([`codes::INVALID_PARAMETER`] above the tip).
    pub async fn get_block_hash(&self, height: u64) -> Result<String, RpcError> {
        self.call_as("getblockhash", json!([height])).await
    }

    /// `getblock <hash> 2`: the block with every transaction decoded.
    pub async fn get_block(&self, hash: &str) -> Result<Block, RpcError> {
        self.call_as("getblock", json!([hash, 2])).await
    }

    // --- Mempool and transactions ---------------------------------------------------------

    /// `getrawmempool`: the ids of the transactions in the mempool.
    pub async fn get_raw_mempool(&self) -> Result<Vec<String>, RpcError> {
        self.call_as("getrawmempool", json!([])).await
    }

    /// `getrawtransaction <txid> true`: a transaction in the mempool, or in a block when the
    /// node has `-txindex` (or `blockhash` names its block).
    pub async fn get_raw_transaction(
        &self,
        txid: &str,
        blockhash: Option<&str>,
    ) -> Result<RawTransaction, RpcError> {
        let params = match blockhash {
            Some(block) => json!([txid, true, block]),
            None => json!([txid, true]),
        };
        self.call_as("getrawtransaction", params).await
    }

    /// `sendrawtransaction <hex>`: broadcasts a signed transaction and returns its txid.
    pub async fn send_raw_transaction(&self, hex: &str) -> Result<String, RpcError> {
        self.call_as("sendrawtransaction", json!([hex])).await
    }

    /// `estimatesmartfee <blocks> [mode]`: a fee rate for confirmation within `conf_target`
    /// blocks. Without enough data the node answers no rate and says why in `errors`.
    pub async fn estimate_smart_fee(
        &self,
        conf_target: u16,
        mode: Option<EstimateMode>,
    ) -> Result<FeeEstimate, RpcError> {
        let params = match mode {
            Some(mode) => json!([conf_target, mode.as_str()]),
            None => json!([conf_target]),
        };
        self.call_as("estimatesmartfee", params).await
    }

    // --- Addresses and descriptors ----------------------------------------------------------

    /// `validateaddress`: whether the node reads `address` as valid on its chain, and what it
    /// pays to.
    pub async fn validate_address(&self, address: &str) -> Result<AddressInfo, RpcError> {
        self.call_as("validateaddress", json!([address])).await
    }

    /// `getdescriptorinfo`: the descriptor in canonical form and its checksum.
    pub async fn get_descriptor_info(&self, descriptor: &str) -> Result<DescriptorInfo, RpcError> {
        self.call_as("getdescriptorinfo", json!([descriptor])).await
    }

    /// `deriveaddresses`: the addresses of a descriptor (with its `#checksum`); `range` is the
    /// inclusive index range of a ranged descriptor.
    pub async fn derive_addresses(
        &self,
        descriptor: &str,
        range: Option<(u32, u32)>,
    ) -> Result<Vec<String>, RpcError> {
        let params = match range {
            Some((start, end)) => json!([descriptor, [start, end]]),
            None => json!([descriptor]),
        };
        self.call_as("deriveaddresses", params).await
    }
}

/// Reads the JSON-RPC envelope and returns the text of `result`, or the error it carries.
fn envelope_result<'a>(
    method: &str,
    status: u16,
    body: &'a [u8],
    id: u64,
) -> Result<&'a str, RpcError> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, default)]
        result: Option<&'a RawValue>,
        #[serde(default)]
        error: Option<ErrorObject>,
        #[serde(default)]
        id: Value,
    }
    #[derive(Deserialize)]
    struct ErrorObject {
        code: i64,
        message: String,
    }
    let http_error = || RpcError::Http {
        status,
        body: String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_owned(),
    };
    let success = (200..300).contains(&status);
    let envelope: Envelope<'a> = match std::str::from_utf8(body)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(text).map_err(|e| e.to_string()))
    {
        Ok(envelope) => envelope,
        Err(_) if !success => return Err(http_error()),
        Err(message) => {
            return Err(RpcError::BadJson {
                method: method.to_owned(),
                message,
            });
        }
    };
    if let Some(error) = envelope.error {
        return Err(RpcError::Rpc {
            method: method.to_owned(),
            code: error.code,
            message: error.message,
        });
    }
    if !success {
        return Err(http_error());
    }
    if envelope.id != json!(id) {
        return Err(RpcError::BadJson {
            method: method.to_owned(),
            message: format!("answer to request {} instead of {id}", envelope.id),
        });
    }
    Ok(envelope.result.map_or("null", RawValue::get))
}

/// A reqwest error with its causes, which its own text leaves out ("error sending request":
/// connection refused).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Amounts
// ---------------------------------------------------------------------------------------------

/// Reads a JSON number in coins (`0.1`, `1.23456789`, `1e-08`, `2.1E+7`) as base units with
/// `decimals` places, exactly. Negative numbers, more precision than `decimals` (after
/// dropping trailing zeros), strings and anything but a JSON number are refused.
pub fn parse_json_amount(text: &str, decimals: u32) -> Result<Amount, AmountError> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(AmountError::Negative);
    }
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((_, "")) => return Err(AmountError::NotANumber),
        Some((int, frac)) => (int, frac),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) {
        return Err(AmountError::NotANumber);
    }
    // The exponent as a sign and digits; its size is only known to matter when it is huge.
    let (exp_negative, exp_digits) = match exponent {
        None => (false, "0"),
        Some(e) => {
            let (negative, digits) = match e.as_bytes().first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            if digits.is_empty() || !all_digits(digits) {
                return Err(AmountError::NotANumber);
            }
            (negative, digits)
        }
    };
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(Amount::ZERO);
    }
    let exp_digits = exp_digits.trim_start_matches('0');
    if exp_digits.len() > 6 {
        // |exponent| ≥ 10^6 with a non-zero mantissa: far outside any amount.
        return Err(if exp_negative {
            AmountError::TooPrecise
        } else {
            AmountError::TooLarge
        });
    }
    let exp: i64 = if exp_digits.is_empty() {
        0
    } else {
        exp_digits.parse().map_err(|_| AmountError::NotANumber)?
    };
    let exp = if exp_negative { -exp } else { exp };
    // value = digits × 10^(exp − |frac|); in base units, × 10^decimals more.
    let shift = exp - frac.len() as i64 + i64::from(decimals);
    let units = |s: &str| -> Result<u128, AmountError> {
        if s.len() > 39 {
            return Err(AmountError::TooLarge);
        }
        s.parse::<u128>().map_err(|_| AmountError::TooLarge)
    };
    if shift >= 0 {
        let scale = u32::try_from(shift)
            .ok()
            .and_then(|s| 10u128.checked_pow(s))
            .ok_or(AmountError::TooLarge)?;
        units(digits)?
            .checked_mul(scale)
            .map(Amount::from_base)
            .ok_or(AmountError::TooLarge)
    } else {
        // The last `cut` digits are below one base unit: they must all be zero.
        let cut = usize::try_from(-shift).map_err(|_| AmountError::TooPrecise)?;
        if cut >= digits.len() {
            return Err(AmountError::TooPrecise);
        }
        let (kept, dropped) = digits.split_at(digits.len() - cut);
        if dropped.bytes().any(|b| b != b'0') {
            return Err(AmountError::TooPrecise);
        }
        units(kept).map(Amount::from_base)
    }
}

/// Deserializes a JSON number in coins into base units (see [`parse_json_amount`]). For
/// `#[serde(deserialize_with = "kassa_chain::rpc::amount")]`; the input must be JSON text
/// (`serde_json::from_str`/`from_slice`), not a `serde_json::Value`.
pub fn amount<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    parse_json_amount(raw.get(), DECIMALS)
        .map_err(|e| D::Error::custom(format_args!("amount {}: {e}", raw.get())))
}

/// Like [`amount`], for a field that may be missing or `null` (use with `#[serde(default)]`).
pub fn optional_amount<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Amount>, D::Error> {
    match Option::<Box<RawValue>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(raw) => parse_json_amount(raw.get(), DECIMALS)
            .map(Some)
            .map_err(|e| D::Error::custom(format_args!("amount {}: {e}", raw.get()))),
    }
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// `getblockchaininfo` (the fields Kassa reads).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BlockchainInfo {
    /// `main`, `test`, `regtest`, `signet`.
    pub chain: String,
    /// Height of the tip.
    pub blocks: u64,
    /// Height of the best known header.
    pub headers: u64,
    /// Hash of the tip.
    pub bestblockhash: String,
    /// Whether the node is still catching up.
    #[serde(default)]
    pub initialblockdownload: bool,
    /// Whether old blocks are pruned.
    #[serde(default)]
    pub pruned: bool,
}

/// A block from `getblock <hash> 2`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Block {
    /// The block hash.
    pub hash: String,
    /// Its height.
    pub height: u64,
    /// Confirmations: 1 for the tip, −1 for a block no longer in the main chain.
    pub confirmations: i64,
    /// The parent's hash (absent for the genesis block).
    #[serde(default)]
    pub previousblockhash: Option<String>,
    /// The main-chain child's hash, if any.
    #[serde(default)]
    pub nextblockhash: Option<String>,
    /// The header's timestamp (Unix seconds).
    pub time: u64,
    /// The transactions, coinbase first.
    pub tx: Vec<Transaction>,
}

/// A decoded transaction inside a block.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Transaction {
    /// The transaction id (without witness).
    pub txid: String,
    /// The witness hash (`wtxid`).
    #[serde(default)]
    pub hash: Option<String>,
    /// Inputs.
    pub vin: Vec<TxIn>,
    /// Outputs.
    pub vout: Vec<TxOut>,
}

/// A transaction input: the output it spends, or a coinbase.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TxIn {
    /// The coinbase script (hex), for a block's first transaction.
    #[serde(default)]
    pub coinbase: Option<String>,
    /// The spent output's transaction.
    #[serde(default)]
    pub txid: Option<String>,
    /// The spent output's index.
    #[serde(default)]
    pub vout: Option<u32>,
    /// nSequence (below `0xfffffffe` signals replace-by-fee).
    #[serde(default)]
    pub sequence: u32,
}

impl TxIn {
    /// The spent output `(txid, vout)`, or `None` for a coinbase.
    pub fn previous_output(&self) -> Option<(&str, u32)> {
        Some((self.txid.as_deref()?, self.vout?))
    }
}

/// A transaction output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TxOut {
    /// The value in base units (satoshi, litoshi).
    #[serde(deserialize_with = "amount")]
    pub value: Amount,
    /// The output's index in its transaction.
    pub n: u32,
    /// What the output pays to.
    #[serde(rename = "scriptPubKey")]
    pub script_pub_key: ScriptPubKey,
}

/// An output script as the node decodes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ScriptPubKey {
    /// The script (hex).
    pub hex: String,
    /// `witness_v0_keyhash`, `witness_v0_scripthash`, `witness_v1_taproot`, `pubkeyhash`,
    /// `scripthash`, `nulldata`, `nonstandard`, ….
    #[serde(rename = "type")]
    pub kind: String,
    /// The address (Bitcoin Core 22 and later).
    #[serde(default)]
    pub address: Option<String>,
    /// The addresses (Litecoin Core 0.21, Bitcoin Core before 22).
    #[serde(default)]
    pub addresses: Vec<String>,
}

impl ScriptPubKey {
    /// The single address the output pays to, from either field; `None` for scripts without
    /// one (`nulldata`, bare multisig, non-standard).
    pub fn single_address(&self) -> Option<&str> {
        match (&self.address, self.addresses.as_slice()) {
            (Some(address), _) => Some(address),
            (None, [address]) => Some(address),
            _ => None,
        }
    }
}

/// A transaction from `getrawtransaction <txid> true`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RawTransaction {
    /// The transaction id.
    pub txid: String,
    /// The witness hash.
    #[serde(default)]
    pub hash: Option<String>,
    /// The serialized transaction (hex).
    pub hex: String,
    /// Inputs.
    pub vin: Vec<TxIn>,
    /// Outputs.
    pub vout: Vec<TxOut>,
    /// The block it is in (absent while in the mempool).
    #[serde(default)]
    pub blockhash: Option<String>,
    /// Confirmations (absent or 0 while in the mempool).
    #[serde(default)]
    pub confirmations: Option<u64>,
    /// The block's time (Unix seconds), once mined.
    #[serde(default)]
    pub blocktime: Option<u64>,
}

/// `validateaddress`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AddressInfo {
    /// Whether the address is valid on the node's chain.
    pub isvalid: bool,
    /// The address, normalised.
    #[serde(default)]
    pub address: Option<String>,
    /// The output script it pays to (hex).
    #[serde(default, rename = "scriptPubKey")]
    pub script_pub_key: Option<String>,
    /// Whether it pays to a script hash (P2SH, P2WSH).
    #[serde(default)]
    pub isscript: Option<bool>,
    /// Whether it is a segwit address.
    #[serde(default)]
    pub iswitness: Option<bool>,
    /// The witness version, for segwit addresses.
    #[serde(default)]
    pub witness_version: Option<u8>,
    /// The witness program (hex), for segwit addresses.
    #[serde(default)]
    pub witness_program: Option<String>,
}

/// `getdescriptorinfo`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DescriptorInfo {
    /// The descriptor in canonical form, with its checksum.
    pub descriptor: String,
    /// The checksum of the descriptor as given.
    pub checksum: String,
    /// Whether it has a `*` (ranged).
    pub isrange: bool,
    /// Whether the node could sign for it with the keys it holds.
    pub issolvable: bool,
    /// Whether it holds private keys.
    pub hasprivatekeys: bool,
}

/// `estimatesmartfee`'s fee estimation mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EstimateMode {
    /// Reacts to short-term drops in fees.
    Economical,
    /// Looks at a longer history: higher, safer rates.
    Conservative,
}

impl EstimateMode {
    const fn as_str(self) -> &'static str {
        match self {
            EstimateMode::Economical => "ECONOMICAL",
            EstimateMode::Conservative => "CONSERVATIVE",
        }
    }
}

/// `estimatesmartfee`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct FeeEstimate {
    /// The fee rate in base units per 1000 virtual bytes (the node answers coins per kvB),
    /// when the node has one.
    #[serde(default, deserialize_with = "optional_amount")]
    pub feerate: Option<Amount>,
    /// Why there is no estimate.
    #[serde(default)]
    pub errors: Vec<String>,
    /// The confirmation target the estimate is for.
    pub blocks: u32,
}

#[cfg(test)]
mod tests;
