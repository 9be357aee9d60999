//! A real EVM node for chain tests: Foundry's `anvil` (npm `@foundry-rs/anvil`, installed by
//! `scripts/test` into `.tools/`; `KASSA_TEST_ANVIL` names the binary) on a free port, with
//! its ten unlocked dev accounts, mining a block per transaction. The node is killed when the
//! handle is dropped. Tokens are the repository's own minimal ERC-20 (`evm/TestToken.sol`,
//! bytecode in `evm/TestToken.bin`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kassa_chain::rpc::RpcClient;
use serde_json::{Value, json};

/// The test token's creation code (solc 0.8.28, evmVersion paris).
const TOKEN_BIN: &str = include_str!("evm/TestToken.bin");

/// Where `anvil` is, if installed.
pub fn installed() -> Option<PathBuf> {
    std::env::var_os("KASSA_TEST_ANVIL")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// True (after printing why) when EVM tests should be skipped: no `anvil` and not CI. In CI
/// (`CI=true`) a missing node fails the test.
pub fn anvil_skipped() -> bool {
    if installed().is_some() {
        return false;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "CI=true but anvil is not installed (scripts/test installs it with npm)"
    );
    eprintln!("SKIPPED: anvil is not installed; scripts/test installs it with npm");
    true
}

/// A running anvil.
pub struct Anvil {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// A client for it.
    pub rpc: RpcClient,
}

impl Anvil {
    /// Starts anvil on a free port with chain id `chain_id` and waits until it answers (on
    /// another port if another test process took the picked one first).
    pub async fn start(chain_id: u64) -> Anvil {
        for _ in 0..4 {
            if let Some(anvil) = Self::try_start(chain_id).await {
                return anvil;
            }
        }
        panic!("anvil did not start on four ports");
    }

    async fn try_start(chain_id: u64) -> Option<Anvil> {
        let exe = installed().expect("anvil installed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(exe)
            .args([
                "--host".to_owned(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--chain-id".into(),
                chain_id.to_string(),
                "--silent".into(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start anvil");
        let url = format!("http://127.0.0.1:{port}");
        let rpc = RpcClient::json_rpc_2(&url, Duration::from_secs(10)).expect("client");
        let mut anvil = Anvil { child, url, rpc };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match anvil.rpc.call("eth_chainId", json!([])).await {
                // Ours: the chain id it was started with.
                Ok(id) if id == json!(format!("0x{chain_id:x}")) => return Some(anvil),
                // Another server on the port, or anvil gave up binding it.
                Ok(_) | Err(kassa_chain::rpc::RpcError::Http { .. }) => return None,
                Err(_) => {}
            }
            if let Ok(Some(_)) = anvil.child.try_wait() {
                return None;
            }
            assert!(
                Instant::now() < deadline,
                "anvil did not answer within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Calls `method`; panics on an error.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.rpc
            .call(method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The unlocked dev accounts.
    pub async fn accounts(&self) -> Vec<String> {
        let v = self.call("eth_accounts", json!([])).await;
        v.as_array()
            .expect("accounts")
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    }

    /// Sends a transaction from an unlocked account and waits for its receipt (anvil mines it
    /// at once); returns the receipt.
    pub async fn send(&self, tx: Value) -> Value {
        let hash = self.call("eth_sendTransaction", json!([tx])).await;
        let hash = hash.as_str().expect("tx hash").to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.call("eth_getTransactionReceipt", json!([hash])).await;
            if !r.is_null() {
                assert_eq!(r["status"], "0x1", "transaction failed: {r}");
                return r;
            }
            assert!(Instant::now() < deadline, "no receipt for {hash}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `wei` of the native coin; returns the receipt.
    pub async fn send_native(&self, from: &str, to: &str, wei: u128) -> Value {
        self.send(json!({"from": from, "to": to, "value": format!("0x{wei:x}")}))
            .await
    }

    /// Deploys a test token (`symbol`, `decimals`, the whole `supply` to `from`); returns its
    /// address.
    pub async fn deploy_token(
        &self,
        from: &str,
        symbol: &str,
        decimals: u8,
        supply: u128,
    ) -> String {
        // Constructor (string, uint8, uint256): three head words, then the string's length
        // and its bytes padded to a word.
        let mut args = String::new();
        args.push_str(&word(0x60));
        args.push_str(&word(u128::from(decimals)));
        args.push_str(&word(supply));
        args.push_str(&word(symbol.len() as u128));
        let mut bytes: String = symbol.bytes().map(|b| format!("{b:02x}")).collect();
        while !bytes.len().is_multiple_of(64) {
            bytes.push('0');
        }
        args.push_str(&bytes);
        let data = format!("0x{}{args}", TOKEN_BIN.trim());
        let r = self
            .send(json!({"from": from, "data": data, "gas": "0x2dc6c0"}))
            .await;
        r["contractAddress"].as_str().expect("contract").to_owned()
    }

    /// `token.transfer(to, amount)` from `from`; returns the receipt.
    pub async fn token_transfer(&self, token: &str, from: &str, to: &str, amount: u128) -> Value {
        let to = to.trim_start_matches("0x").to_ascii_lowercase();
        let data = format!("0xa9059cbb{:0>64}{}", to, word(amount));
        self.send(json!({"from": from, "to": token, "data": data}))
            .await
    }

    /// Deploys a forwarder: a contract whose every call sends the value it carries on to
    /// the address in the call data's first word (reverting when that fails) — how value
    /// reaches an address by a contract call, as exchanges and smart wallets pay. Hand-written
    /// bytecode (see `FORWARDER`); returns its address.
    pub async fn deploy_forwarder(&self, from: &str) -> String {
        let r = self
            .send(json!({"from": from, "data": format!("0x{FORWARDER}"), "gas": "0x30d40"}))
            .await;
        r["contractAddress"].as_str().expect("contract").to_owned()
    }

    /// Pays `wei` to `to` through `forwarder`; returns the receipt.
    pub async fn forward(&self, forwarder: &str, from: &str, to: &str, wei: u128) -> Value {
        let to = to.trim_start_matches("0x").to_ascii_lowercase();
        self.send(json!({
            "from": from,
            "to": forwarder,
            "value": format!("0x{wei:x}"),
            "data": format!("0x{to:0>64}"),
            "gas": "0x30d40",
        }))
        .await
    }

    /// The block number of a receipt.
    pub fn block_of(receipt: &Value) -> u64 {
        let n = receipt["blockNumber"].as_str().expect("block number");
        u64::from_str_radix(n.trim_start_matches("0x"), 16).expect("hex")
    }

    /// Mines `n` empty blocks.
    pub async fn mine(&self, n: u64) {
        self.call("anvil_mine", json!([format!("0x{n:x}")])).await;
    }
}

/// The forwarder's creation code: `CODECOPY` of the 24-byte runtime and `RETURN`. The runtime
/// is `CALL(gas, calldataload(0), callvalue, 0, 0, 0, 0)`, then `REVERT` unless it succeeded:
/// `6000×4 34 6000 35 5a f1 6016 57 6000 6000 fd 5b 00`.
const FORWARDER: &str = "601880600b6000396000f36000600060006000346000355af160165760006000fd5b00";

/// A 32-byte ABI word.
fn word(v: u128) -> String {
    format!("{v:064x}")
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
