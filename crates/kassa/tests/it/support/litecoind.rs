//! A real Litecoin Core node (`litecoind -regtest`, Debian package `litecoind`) for chain
//! tests: a free RPC port, a temporary data folder, no peers. The node is killed when the
//! handle is dropped. Litecoin Core speaks Bitcoin Core's RPC, so it stands in for both.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kassa_chain::rpc::{RpcClient, RpcError, codes};
use kassa_core::money::Amount;
use kassa_core::secret::SecretString;
use serde_json::{Value, json};

const USER: &str = "kassa";
const PASSWORD: &str = "regtest-only";

/// Where `litecoind` is, if installed (`$PATH`).
pub fn installed() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("litecoind"))
        .find(|p| p.is_file())
}

/// True (after printing why) when chain tests should be skipped: `litecoind` is not installed
/// and this is not CI. In CI (`CI=true`) a missing node fails the test.
pub fn litecoind_skipped() -> bool {
    if installed().is_some() {
        return false;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "CI=true but litecoind is not installed (apt-get install litecoind)"
    );
    eprintln!("SKIPPED: litecoind is not installed; scripts/test installs it");
    true
}

/// A running regtest node.
pub struct Litecoind {
    child: Child,
    datadir: tempfile::TempDir,
    /// A client for node-level calls (`rpc.url()` is `http://127.0.0.1:<port>/`).
    pub rpc: RpcClient,
    /// From spawning the process to the first RPC answer.
    pub started_in: Duration,
}

impl Litecoind {
    /// Starts a node on a free port with a fresh data folder and waits until its RPC answers.
    /// The port is free when picked, but another test process may take it before the node
    /// binds it; then the node gives up (or another server answers there), and a new port is
    /// tried.
    pub async fn start() -> Litecoind {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start().await {
                Ok(node) => return node,
                Err(why) => last = why,
            }
        }
        panic!("litecoind did not start on five ports: {last}")
    }

    async fn try_start() -> Result<Litecoind, String> {
        let exe = installed().expect("litecoind installed");
        let datadir = tempfile::tempdir().expect("data folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let started = Instant::now();
        let child = Command::new(exe)
            .args([
                "-regtest".to_owned(),
                format!("-datadir={}", datadir.path().display()),
                format!("-rpcport={port}"),
                format!("-rpcuser={USER}"),
                format!("-rpcpassword={PASSWORD}"),
                "-rpcbind=127.0.0.1".into(),
                "-rpcallowip=127.0.0.1".into(),
                "-listen=0".into(),
                "-txindex=1".into(),
                "-fallbackfee=0.0001".into(),
                // A wallet made by `createwallet` fills its key pool first (1000 keys each for
                // receiving and change by default); tests need a handful.
                "-keypool=5".into(),
                // Litecoin Core refuses replacements unless asked; Bitcoin Core takes opt-in
                // (BIP 125) replacements by default, and the watcher must handle them.
                "-mempoolreplacement=1".into(),
                "-printtoconsole=0".into(),
                "-server=1".into(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start litecoind");
        let url = format!("http://127.0.0.1:{port}");
        let rpc = client(&url);
        let mut node = Litecoind {
            child,
            datadir,
            rpc,
            started_in: Duration::ZERO,
        };
        let deadline = started + Duration::from_secs(30);
        loop {
            match node.rpc.get_block_count().await {
                Ok(_) => break,
                // Not listening yet, or still loading: keep waiting.
                Err(RpcError::Transport(_)) => {}
                Err(e) if e.code() == Some(codes::IN_WARMUP) => {}
                // Not a node's answer: another server took the port first.
                Err(e @ RpcError::Http { .. }) => return Err(format!("port taken: {e}")),
                Err(e) => panic!("litecoind RPC: {e}\n{}", node.log_tail()),
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                // Most likely it could not bind the port; the log says.
                return Err(format!(
                    "litecoind exited with {status}\n{}",
                    node.log_tail()
                ));
            }
            assert!(
                Instant::now() < deadline,
                "litecoind did not answer within 30 s\n{}",
                node.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        node.started_in = started.elapsed();
        Ok(node)
    }

    /// Kills the node (as a crash or a lost machine would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The end of the node's `debug.log`, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.datadir.path().join("regtest").join("debug.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Creates a node wallet and returns a client for it.
    pub async fn create_wallet(&self, name: &str) -> RpcClient {
        self.rpc
            .call("createwallet", json!([name]))
            .await
            .expect("createwallet");
        self.rpc.for_wallet(name)
    }

    /// A fresh bech32 address of a node wallet.
    pub async fn new_address(&self, wallet: &RpcClient) -> String {
        string(
            wallet
                .call("getnewaddress", json!(["", "bech32"]))
                .await
                .expect("getnewaddress"),
        )
    }

    /// Mines `blocks` blocks paying `address`; returns their hashes.
    pub async fn mine(&self, blocks: u32, address: &str) -> Vec<String> {
        self.rpc
            .call_as("generatetoaddress", json!([blocks, address]))
            .await
            .expect("generatetoaddress")
    }

    /// Sends `amount` from a node wallet to `address`; returns the txid. The amount goes as a
    /// decimal string, which the node reads exactly.
    pub async fn send(&self, wallet: &RpcClient, address: &str, amount: Amount) -> String {
        string(
            wallet
                .call(
                    "sendtoaddress",
                    json!([address, amount.to_decimal_string(8)]),
                )
                .await
                .expect("sendtoaddress"),
        )
    }

    /// Sends to several addresses in one transaction; returns the txid.
    pub async fn send_many(&self, wallet: &RpcClient, outputs: &[(&str, Amount)]) -> String {
        let outputs: serde_json::Map<String, Value> = outputs
            .iter()
            .map(|(address, amount)| ((*address).to_owned(), json!(amount.to_decimal_string(8))))
            .collect();
        string(
            wallet
                .call("sendmany", json!(["", outputs]))
                .await
                .expect("sendmany"),
        )
    }
}

impl Drop for Litecoind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An RPC client for a node started here.
pub fn client(url: &str) -> RpcClient {
    RpcClient::with_timeout(
        url,
        USER,
        SecretString::new(PASSWORD),
        Duration::from_secs(30),
    )
    .expect("rpc client")
}

fn string(value: Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}
