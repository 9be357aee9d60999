//! What moving funds on TRON asks of a full node's HTTP API: the chain's prices
//! (`getchainparameters`), an account's TRX and whether it exists yet (`getaccount`: an
//! account is created — "activated" — by the first TRX sent to it, which costs the sender
//! extra), a TRC-20 balance and the energy a call needs (`triggerconstantcontract`), building
//! a transfer or a token call (`createtransaction`, `triggersmartcontract`: the answers go to
//! [`super::tron::accept_built`], never straight to signing) and a mined transaction's outcome
//! (`gettransactioninfobyid`).
//!
//! # Fees
//!
//! A transaction's bytes cost bandwidth: the account's free or staked bandwidth first,
//! otherwise `getTransactionFee` sun per byte burnt (the signed transaction's size plus 64, as
//! the node counts). A transfer that creates its recipient costs
//! `getCreateNewAccountFeeInSystemContract` plus `getCreateAccountFee` instead. A contract call
//! also costs energy: staked energy first, otherwise `getEnergyFee` sun per unit burnt, at most
//! the transaction's fee limit — beyond it the call fails (`OUT_OF_ENERGY`) and what it burnt is
//! lost. [`Prices`] prices all of this at the burn rate: what Kassa reserves and charges is
//! the most it can cost, never less.

use serde_json::{Value, json};

use crate::address::tron as address;
use crate::watch::ChainError;
use crate::watch::evm::uint256;
use crate::watch::tron::TronApi;

/// A node, for sending.
#[derive(Clone, Debug)]
pub struct TronNode {
    api: TronApi,
}

/// The chain's prices now, in sun (`getchainparameters`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prices {
    /// Per byte of bandwidth burnt.
    pub per_byte: u128,
    /// Per unit of energy burnt.
    pub per_energy: u128,
    /// What a transfer that creates its recipient pays on top (the system contract's fee and
    /// the creation's bandwidth).
    pub new_account: u128,
}

/// Bytes the node adds to a transaction's size when it charges bandwidth.
pub const RESULT_BYTES: u128 = 64;

impl Prices {
    /// What a signed transaction of `size` bytes burns for bandwidth.
    pub fn bandwidth(&self, size: usize) -> u128 {
        (size as u128)
            .saturating_add(RESULT_BYTES)
            .saturating_mul(self.per_byte)
    }

    /// What `energy` units burn.
    pub fn energy(&self, energy: u64) -> u128 {
        u128::from(energy).saturating_mul(self.per_energy)
    }
}

/// How a mined transaction went (`gettransactioninfobyid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Its block.
    pub block: u64,
    /// What it burnt, in sun (`fee`).
    pub fee: u128,
    /// Whether it did what it said (a TRX transfer always; a call unless `result: FAILED`).
    pub success: bool,
    /// Why not (`receipt.result`, the node's message).
    pub message: String,
}

fn bad(method: &str, what: impl std::fmt::Display) -> ChainError {
    ChainError::Node(format!("{method}: {what}"))
}

/// The 21-byte hex form (`41…`) of a `T…` address, as `visible: false` requests take it.
pub fn hex41(text: &str) -> Result<String, ChainError> {
    address::decode(text)
        .map(|b| format!("41{}", hex::encode(b)))
        .map_err(|e| ChainError::Node(format!("{text}: {e}")))
}

/// A node's `Error` answer (`{"Error": "…"}`, or `result.message` as hex).
fn refusal(v: &Value) -> Option<String> {
    if let Some(e) = v["Error"].as_str() {
        return Some(e.to_owned());
    }
    if v["result"]["result"].as_bool() == Some(true) || v.get("result").is_none() {
        return None;
    }
    let text = v["result"]["message"].as_str().unwrap_or("refused");
    Some(
        hex::decode(text)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_else(|| text.to_owned()),
    )
}

impl TronNode {
    /// The node behind `api`.
    pub fn new(api: TronApi) -> TronNode {
        TronNode { api }
    }

    /// POSTs `body` to `method`; the node's refusal (either form) is an error.
    async fn call(&self, method: &str, body: &Value) -> Result<Value, ChainError> {
        let v = self.api.post(method, body).await?;
        match refusal(&v) {
            Some(why) => Err(bad(method, why)),
            None => Ok(v),
        }
    }

    /// The burn prices now.
    pub async fn prices(&self) -> Result<Prices, ChainError> {
        let v = self.api.post("getchainparameters", &json!({})).await?;
        let list = v["chainParameter"]
            .as_array()
            .ok_or_else(|| bad("getchainparameters", "no chainParameter"))?;
        let get = |key: &str| -> Result<u128, ChainError> {
            list.iter()
                .find(|p| p["key"] == key)
                .map(|p| p["value"].as_u64().map(u128::from).unwrap_or(0))
                .ok_or_else(|| bad("getchainparameters", format!("no {key}")))
        };
        Ok(Prices {
            per_byte: get("getTransactionFee")?,
            per_energy: get("getEnergyFee")?,
            new_account: get("getCreateNewAccountFeeInSystemContract")?
                .saturating_add(get("getCreateAccountFee")?),
        })
    }

    /// The TRX (sun) of `account`, or `None` when it does not exist on chain yet (never
    /// received TRX).
    pub async fn account(&self, account: &str) -> Result<Option<u128>, ChainError> {
        let v = self
            .api
            .post(
                "getaccount",
                &json!({"address": hex41(account)?, "visible": false}),
            )
            .await?;
        if v.get("address").is_none() {
            return Ok(None);
        }
        Ok(Some(v["balance"].as_u64().map(u128::from).unwrap_or(0)))
    }

    async fn constant(
        &self,
        owner: &str,
        contract: &str,
        selector: &str,
        parameter: &str,
    ) -> Result<Value, ChainError> {
        self.call(
            "triggerconstantcontract",
            &json!({
                "owner_address": hex41(owner)?,
                "contract_address": hex41(contract)?,
                "function_selector": selector,
                "parameter": parameter,
                "visible": false,
            }),
        )
        .await
    }

    /// The token at `contract` that `holder` has, in base units.
    pub async fn token_balance(&self, contract: &str, holder: &str) -> Result<u128, ChainError> {
        let word = format!("{:0>64}", &hex41(holder)?[2..]);
        let v = self
            .constant(holder, contract, "balanceOf(address)", &word)
            .await?;
        let out = v["constant_result"][0].as_str().unwrap_or_default();
        uint256(out)
            .filter(|_| !out.is_empty())
            .map(|a| a.base())
            .ok_or_else(|| bad("triggerconstantcontract", "balanceOf gave nothing"))
    }

    /// The energy `owner` calling `transfer(to, amount)` on `contract` needs now (more when
    /// `to` holds none of the token yet).
    pub async fn transfer_energy(
        &self,
        owner: &str,
        contract: &str,
        to: &str,
        amount: u128,
    ) -> Result<u64, ChainError> {
        let v = self
            .constant(owner, contract, TRANSFER, &transfer_parameter(to, amount)?)
            .await?;
        v["energy_used"]
            .as_u64()
            .filter(|e| *e > 0)
            .ok_or_else(|| bad("triggerconstantcontract", "no energy_used"))
    }

    /// The node's unsigned TRX transfer of `sun` from `owner` to `to`.
    pub async fn build_transfer(
        &self,
        owner: &str,
        to: &str,
        sun: i64,
    ) -> Result<Value, ChainError> {
        self.call(
            "createtransaction",
            &json!({
                "owner_address": hex41(owner)?,
                "to_address": hex41(to)?,
                "amount": sun,
                "visible": false,
            }),
        )
        .await
    }

    /// The node's unsigned call of `transfer(to, amount)` on `contract` from `owner`, burning at
    /// most `fee_limit` sun.
    pub async fn build_token_transfer(
        &self,
        owner: &str,
        contract: &str,
        to: &str,
        amount: u128,
        fee_limit: i64,
    ) -> Result<Value, ChainError> {
        let v = self
            .call(
                "triggersmartcontract",
                &json!({
                    "owner_address": hex41(owner)?,
                    "contract_address": hex41(contract)?,
                    "function_selector": TRANSFER,
                    "parameter": transfer_parameter(to, amount)?,
                    "fee_limit": fee_limit,
                    "call_value": 0,
                    "visible": false,
                }),
            )
            .await?;
        Ok(v["transaction"].clone())
    }

    /// How transaction `txid` went, once a block holds it.
    pub async fn outcome(&self, txid: &str) -> Result<Option<Outcome>, ChainError> {
        let v = self
            .api
            .post("gettransactioninfobyid", &json!({"value": txid}))
            .await?;
        let Some(block) = v["blockNumber"].as_u64() else {
            return Ok(None);
        };
        let receipt = v["receipt"]["result"].as_str().unwrap_or_default();
        let failed = v["result"] == "FAILED" || !(receipt.is_empty() || receipt == "SUCCESS");
        let message = v["resMessage"]
            .as_str()
            .and_then(|m| hex::decode(m).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        Ok(Some(Outcome {
            block,
            fee: v["fee"].as_u64().map(u128::from).unwrap_or(0),
            success: !failed,
            message: format!("{receipt} {message}").trim().to_owned(),
        }))
    }
}

/// TRC-20 `transfer`'s signature, as the API takes it.
const TRANSFER: &str = "transfer(address,uint256)";

/// `transfer(to, amount)`'s arguments, hex: the call data without its selector.
fn transfer_parameter(to: &str, amount: u128) -> Result<String, ChainError> {
    let to = address::decode(to).map_err(|e| ChainError::Node(format!("{to}: {e}")))?;
    Ok(hex::encode(&super::tron::trc20_transfer(&to, amount)[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_burn_rates() {
        let p = Prices {
            per_byte: 1000,
            per_energy: 420,
            new_account: 1_100_000,
        };
        assert_eq!(p.bandwidth(282), 346_000);
        assert_eq!(p.energy(65_000), 27_300_000);
    }

    #[test]
    fn refusals_are_read_in_either_form() {
        assert_eq!(refusal(&json!({"txID": "ab"})), None);
        assert_eq!(refusal(&json!({"result": {"result": true}})), None);
        assert_eq!(
            refusal(&json!({"Error": "class org.tron… : account does not exist"})).as_deref(),
            Some("class org.tron… : account does not exist")
        );
        assert_eq!(
            refusal(&json!({"result": {"code": "CONTRACT_VALIDATE_ERROR", "message": hex::encode("balance is not sufficient")}}))
                .as_deref(),
            Some("balance is not sufficient")
        );
    }

    #[test]
    fn a_transfers_parameter_is_its_call_data_without_the_selector() {
        let p = transfer_parameter("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", 255).unwrap();
        assert_eq!(p.len(), 128);
        assert!(p.starts_with(&format!(
            "{:0>64}",
            "a614f803b6fd780986a42c78ec9c7f77e6ded13c"
        )));
        assert!(p.ends_with("ff"));
    }
}
