//! What moving funds on an EVM network asks of its node: balances (the coin's and a token's),
//! a sender's nonce, the gas a call needs, the fee to offer now, a transaction's receipt and
//! handing over a signed transaction — over the same `eth_*` JSON-RPC the watcher reads.

use serde::Deserialize;
use serde_json::json;

use crate::rpc::{RpcClient, RpcError};
use crate::watch::evm::uint256;

/// A node, for sending.
#[derive(Clone, Debug)]
pub struct EvmNode {
    rpc: RpcClient,
}

/// What a mined transaction cost and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The block's height.
    pub block_height: u64,
    /// The block's hash (lower case).
    pub block_hash: String,
    /// Whether it succeeded (a reverted call still pays its gas).
    pub success: bool,
    /// Gas used × the price paid per gas, in wei.
    pub fee: u128,
}

/// The fee to offer per gas now: the latest block's base fee and the node's suggested tip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fees {
    /// The latest block's base fee (wei per gas).
    pub base_fee: u128,
    /// The suggested priority fee (wei per gas).
    pub priority_fee: u128,
}

impl Fees {
    /// A price per gas that the next blocks take even if the base fee rises by its most for
    /// two blocks (12.5% each): base × 5/4 plus the tip. Paid in full when it is given as both
    /// the fee cap and the tip — how a transfer leaves nothing behind.
    pub fn all_in(&self) -> u128 {
        self.base_fee
            .saturating_mul(5)
            .saturating_div(4)
            .saturating_add(self.priority_fee)
            .max(1)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcReceipt {
    block_number: String,
    block_hash: String,
    status: Option<String>,
    gas_used: String,
    effective_gas_price: String,
}

fn bad(method: &str, message: String) -> RpcError {
    RpcError::BadJson {
        method: method.to_owned(),
        message,
    }
}

fn quantity(text: &str) -> Result<u128, RpcError> {
    uint256(text)
        .map(|a| a.base())
        .ok_or_else(|| bad("a quantity", format!("not a quantity: {text:?}")))
}

fn small(method: &str, v: u128) -> Result<u64, RpcError> {
    u64::try_from(v).map_err(|_| bad(method, format!("{v} is out of range")))
}

impl EvmNode {
    /// The node behind `rpc`.
    pub fn new(rpc: RpcClient) -> EvmNode {
        EvmNode { rpc }
    }

    /// The coin's balance of `address` at the latest block.
    pub async fn balance(&self, address: &str) -> Result<u128, RpcError> {
        let v: String = self
            .rpc
            .call_as("eth_getBalance", json!([address, "latest"]))
            .await?;
        quantity(&v)
    }

    /// The token balance of `address` at the contract `token` (ERC-20 `balanceOf`).
    pub async fn token_balance(&self, token: &str, address: &str) -> Result<u128, RpcError> {
        let holder = address.trim_start_matches("0x").to_ascii_lowercase();
        let data = format!("0x70a08231{holder:0>64}");
        let v: String = self
            .rpc
            .call_as("eth_call", json!([{"to": token, "data": data}, "latest"]))
            .await?;
        quantity(&v)
    }

    /// The number of transactions `address` has sent: at the latest block (`pending: false`)
    /// or counting those waiting in the node's pool.
    pub async fn nonce(&self, address: &str, pending: bool) -> Result<u64, RpcError> {
        let tag = if pending { "pending" } else { "latest" };
        let v: String = self
            .rpc
            .call_as("eth_getTransactionCount", json!([address, tag]))
            .await?;
        small("eth_getTransactionCount", quantity(&v)?)
    }

    /// The gas a call from `from` to `to` with `data` needs.
    pub async fn estimate_gas(&self, from: &str, to: &str, data: &[u8]) -> Result<u64, RpcError> {
        let v: String = self
            .rpc
            .call_as(
                "eth_estimateGas",
                json!([{"from": from, "to": to, "data": format!("0x{}", hex::encode(data))}]),
            )
            .await?;
        small("eth_estimateGas", quantity(&v)?)
    }

    /// The fees to offer now.
    pub async fn fees(&self) -> Result<Fees, RpcError> {
        let block: serde_json::Value = self
            .rpc
            .call_as("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        let base_fee = block["baseFeePerGas"]
            .as_str()
            .map(quantity)
            .transpose()?
            .unwrap_or(0);
        let tip: String = self
            .rpc
            .call_as("eth_maxPriorityFeePerGas", json!([]))
            .await?;
        Ok(Fees {
            base_fee,
            priority_fee: quantity(&tip)?,
        })
    }

    /// The receipt of transaction `txid`, once mined in the node's best chain.
    pub async fn receipt(&self, txid: &str) -> Result<Option<Receipt>, RpcError> {
        let r: Option<RpcReceipt> = self
            .rpc
            .call_as("eth_getTransactionReceipt", json!([txid]))
            .await?;
        let Some(r) = r else {
            return Ok(None);
        };
        let gas = quantity(&r.gas_used)?;
        let price = quantity(&r.effective_gas_price)?;
        Ok(Some(Receipt {
            block_height: small("eth_getTransactionReceipt", quantity(&r.block_number)?)?,
            block_hash: r.block_hash.to_ascii_lowercase(),
            success: r.status.as_deref() != Some("0x0"),
            fee: gas.saturating_mul(price),
        }))
    }

    /// The node's best block height.
    pub async fn height(&self) -> Result<u64, RpcError> {
        let v: String = self.rpc.call_as("eth_blockNumber", json!([])).await?;
        small("eth_blockNumber", quantity(&v)?)
    }
}
