//! `kassa bench chain-seen`: the time from broadcasting a payment to the invoice showing it
//! as "seen", against a node this command starts — a `litecoind -regtest`, or with
//! `--network eth` an `anvil` (mining each transaction at once) — with the watcher running as
//! in `kassa serve`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use kassa_core::account::Email;
use kassa_core::secret::SecretString;
use kassa_server::config::Settings;
use kassa_service::accounts;
use serde_json::json;

use super::{BenchShop, InProcess, TempDir, merchant_project, percentile, profile};

/// Options of `kassa bench chain-seen`.
#[derive(Args, Debug)]
pub struct ChainSeenArgs {
    /// Payments to time.
    #[arg(long, default_value_t = 20)]
    payments: u32,
    /// The watcher's poll interval (`chains.ltc.poll_interval_ms`; the default is 1000).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// The litecoind program.
    #[arg(long, default_value = "litecoind")]
    litecoind: String,
    /// The network: `ltc` (litecoind) or `eth` (anvil).
    #[arg(long, value_enum, default_value_t = super::chain_match::MatchNetwork::Ltc)]
    network: super::chain_match::MatchNetwork,
    /// The anvil program (`--network eth`; `npm install @foundry-rs/anvil` ships it).
    #[arg(long, default_value = "anvil")]
    anvil: String,
}

/// A node with a funded payer.
enum Node {
    Ltc {
        _node: RegtestNode,
        url: String,
        payer: kassa_chain::rpc::RpcClient,
    },
    Eth {
        child: std::process::Child,
        url: String,
        rpc: kassa_chain::rpc::RpcClient,
        payer: String,
    },
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Node::Eth { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// anvil's chain id.
const ANVIL_CHAIN_ID: u64 = 31_337;

impl Node {
    async fn start(args: &ChainSeenArgs) -> anyhow::Result<Node> {
        match args.network {
            super::chain_match::MatchNetwork::Ltc => {
                let (node, rpc) = start_regtest(&args.litecoind).await?;
                let rpc_err = |e: kassa_chain::rpc::RpcError| anyhow::anyhow!("litecoind: {e}");
                rpc.call("createwallet", json!(["payer"]))
                    .await
                    .map_err(rpc_err)?;
                let payer = rpc.for_wallet("payer");
                let miner: String = payer
                    .call_as("getnewaddress", json!(["", "bech32"]))
                    .await
                    .map_err(rpc_err)?;
                payer
                    .call("generatetoaddress", json!([101 + args.payments, miner]))
                    .await
                    .map_err(rpc_err)?;
                let url = node.url.clone();
                Ok(Node::Ltc {
                    _node: node,
                    url,
                    payer,
                })
            }
            super::chain_match::MatchNetwork::Eth => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                let child = std::process::Command::new(&args.anvil)
                    .args([
                        "--host".to_owned(),
                        "127.0.0.1".into(),
                        "--port".into(),
                        port.to_string(),
                        "--chain-id".into(),
                        ANVIL_CHAIN_ID.to_string(),
                        "--silent".into(),
                    ])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .with_context(|| {
                        format!("starting {} (npm install @foundry-rs/anvil)", args.anvil)
                    })?;
                let url = format!("http://127.0.0.1:{port}");
                let rpc = kassa_chain::rpc::RpcClient::json_rpc_2(&url, Duration::from_secs(10))
                    .map_err(|e| anyhow::anyhow!("anvil client: {e}"))?;
                let mut node = Node::Eth {
                    child,
                    url,
                    rpc: rpc.clone(),
                    payer: String::new(),
                };
                let deadline = Instant::now() + Duration::from_secs(30);
                let accounts: Vec<String> = loop {
                    if let Ok(a) = rpc.call_as("eth_accounts", json!([])).await {
                        break a;
                    }
                    anyhow::ensure!(
                        Instant::now() < deadline,
                        "anvil did not answer within 30 s"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                if let Node::Eth { payer, .. } = &mut node {
                    *payer = accounts.into_iter().next().context("anvil's accounts")?;
                }
                Ok(node)
            }
        }
    }

    /// Points the settings at the node, with a wallet of the network (`wallet init`, or a
    /// watch-only key).
    fn configure(&self, settings: &mut Settings, poll_ms: u64) -> anyhow::Result<()> {
        match self {
            Node::Ltc { url, .. } => {
                settings.chains.ltc.chain = "regtest".into();
                settings.chains.ltc.rpc_url = url.clone();
                settings.chains.ltc.rpc_user = NODE_USER.into();
                settings.chains.ltc.rpc_password = SecretString::new(NODE_PASSWORD);
                settings.chains.ltc.poll_interval_ms = poll_ms;
            }
            Node::Eth { url, .. } => {
                let phrase = kassa_chain::hd::Mnemonic::generate()
                    .map_err(|e| anyhow::anyhow!("phrase: {e}"))?;
                let wallet = kassa_chain::hd::evm::EvmHotWallet::from_mnemonic(&phrase, "")
                    .map_err(|e| anyhow::anyhow!("wallet: {e}"))?;
                settings.chains.eth.rpc_url = url.clone();
                settings.chains.eth.chain_id = ANVIL_CHAIN_ID;
                settings.chains.eth.poll_interval_ms = poll_ms;
                settings.chains.eth.xpub = wallet.watch_only().account_xpub();
            }
        }
        Ok(())
    }

    fn coin(&self) -> &'static str {
        match self {
            Node::Ltc { .. } => "LTC",
            Node::Eth { .. } => "ETH",
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Node::Ltc { .. } => "litecoind -regtest",
            Node::Eth { .. } => "anvil (a block per transaction)",
        }
    }

    /// Pays `due` to `address`.
    async fn pay(&self, address: &str, due: kassa_core::money::Amount) -> anyhow::Result<()> {
        match self {
            Node::Ltc { payer, .. } => {
                payer
                    .call("sendtoaddress", json!([address, due.to_decimal_string(8)]))
                    .await
                    .map_err(|e| anyhow::anyhow!("litecoind: {e}"))?;
            }
            Node::Eth { rpc, payer, .. } => {
                rpc.call(
                    "eth_sendTransaction",
                    json!([{"from": payer, "to": address, "value": format!("0x{:x}", due.base())}]),
                )
                .await
                .map_err(|e| anyhow::anyhow!("anvil: {e}"))?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// chain-seen
// ---------------------------------------------------------------------------------------------

/// A `litecoind -regtest` on a free port, killed when dropped.
struct RegtestNode {
    child: std::process::Child,
    _dir: TempDir,
    url: String,
}

impl Drop for RegtestNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const NODE_USER: &str = "bench";
const NODE_PASSWORD: &str = "bench-regtest";

async fn start_regtest(
    program: &str,
) -> anyhow::Result<(RegtestNode, kassa_chain::rpc::RpcClient)> {
    let dir = TempDir::new()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = std::process::Command::new(program)
        .args([
            "-regtest".to_owned(),
            format!("-datadir={}", dir.path().display()),
            format!("-rpcport={port}"),
            format!("-rpcuser={NODE_USER}"),
            format!("-rpcpassword={NODE_PASSWORD}"),
            "-rpcbind=127.0.0.1".into(),
            "-rpcallowip=127.0.0.1".into(),
            "-listen=0".into(),
            "-fallbackfee=0.0001".into(),
            "-keypool=5".into(),
            "-printtoconsole=0".into(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program} (apt-get install litecoind)"))?;
    let url = format!("http://127.0.0.1:{port}");
    let node = RegtestNode {
        child,
        _dir: dir,
        url: url.clone(),
    };
    let rpc = kassa_chain::rpc::RpcClient::new(&url, NODE_USER, SecretString::new(NODE_PASSWORD))
        .map_err(|e| anyhow::anyhow!("node client: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while rpc.get_block_count().await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "litecoind did not answer within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((node, rpc))
}

pub(super) async fn run(base: Settings, args: ChainSeenArgs) -> anyhow::Result<()> {
    let node = Node::start(&args).await?;
    let dir = TempDir::new()?;
    let database = format!("sqlite://{}", dir.path().join("kassa.db").display());
    let mut settings = InProcess::settings(&base, dir.path(), &database);
    node.configure(&mut settings, args.poll_ms)?;
    if let Node::Ltc { .. } = node {
        // `kassa wallet init ltc`.
        let st = kassa_server::state::AppState::open(
            settings.clone(),
            Arc::new(kassa_core::time::SystemClock),
            "http://127.0.0.1".into(),
        )
        .await?;
        let now = kassa_core::time::Clock::now(&kassa_core::time::SystemClock);
        kassa_service::chains::init_hot_wallet(
            &settings.chains,
            &st.db,
            &st.keyring,
            &kassa_core::currency::LTC_NET,
            now,
        )
        .await
        .map_err(|e| anyhow::anyhow!("wallet: {e}"))?;
        st.db.close().await;
    }
    let server = InProcess::start(settings).await?;
    let state = server.state.clone();
    let result = async {
        let BenchShop { shop_id, .. } = merchant_project(&state).await?;
        let mut c = state.db.conn().await?;
        let project = kassa_store::projects::by_shop_id(&mut c, &shop_id)
            .await?
            .context("the benchmark project")?;
        let email = Email::parse("bench@kassa.invalid").map_err(|e| anyhow::anyhow!("{e}"))?;
        let owner = kassa_store::accounts::user_by_email(&mut c, &email)
            .await?
            .context("the benchmark owner")?;
        drop(c);
        let client = accounts::Client {
            ip: "cli".into(),
            user_agent: "kassa bench".into(),
        };
        kassa_service::projects::set_test_mode(&state, &project, &kassa_service::audit::Actor::of(Some(owner.id), &client), false).await?;
        let mut c = state.db.conn().await?;
        let project = kassa_store::projects::by_id(&mut c, project.id).await?;
        drop(c);
        let coin = kassa_core::currency::crypto(node.coin()).context("the coin")?;
        let usd = kassa_core::currency::fiat("USD").context("USD")?;
        let mut times = Vec::new();
        for _ in 0..args.payments {
            let price = kassa_service::invoices::Price::fiat(usd, "10")?;
            let inv = kassa_service::invoices::create(
                &state,
                &project,
                kassa_service::invoices::NewInvoiceRequest {
                    preselect: Some(coin),
                    ..kassa_service::invoices::NewInvoiceRequest::priced(price)
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("invoice: {e}"))?;
            let address = inv.address.clone().context("a deposit address")?;
            let due = inv.quote.context("a quote")?.due;
            // Not in step with the watcher's polls: payments land anywhere in its cycle.
            tokio::time::sleep(Duration::from_millis(u64::from(rand::random::<u16>()) % args.poll_ms.max(1))).await;
            let started = Instant::now();
            node.pay(&address, due).await?;
            loop {
                let row = kassa_store::invoices::by_id(&mut state.db.conn().await?, inv.id).await?;
                if !row.processing.is_zero() {
                    break;
                }
                anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "payment never seen");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            times.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        times.sort_unstable();
        let ms = |p: f64| percentile(&times, p).map_or(f64::NAN, |us| us as f64 / 1000.0);
        let median = ms(0.5);
        println!(
            "kassa bench chain-seen: {} payments on {}, watcher polling every {} ms ({} build): \
             broadcast → seen median {:.0} ms, p90 {:.0} ms, max {:.0} ms — target median < 2000 ms: {}",
            times.len(),
            node.name(),
            args.poll_ms,
            profile(),
            median,
            ms(0.9),
            ms(1.0),
            if median < 2000.0 { "PASS" } else { "FAIL" }
        );
        anyhow::Ok(())
    }
    .await;
    server.stop().await;
    drop(node);
    result
}
