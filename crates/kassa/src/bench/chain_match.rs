//! `kassa bench chain-match`: the chain watcher's matching of block outputs against the
//! deposit addresses, on a throwaway database holding `--addresses` of them. With
//! `--network eth` the outputs are ERC-20 Transfer logs read the watcher's way: blocks of them
//! fetched and parsed by the `EvmSource` from a local JSON-RPC server that serves synthetic
//! blocks (`eth_getBlockByNumber`, `eth_getLogs`), then looked up.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use kassa_server::app::Application;
use kassa_server::config::Settings;
use kassa_store::Engine;

use super::{
    BenchShop, Databases, InProcess, Scratch, cores, merchant_project, percentile, profile,
};

/// Options of `kassa bench chain-match`.
#[derive(Args, Debug)]
pub struct ChainMatchArgs {
    #[command(flatten)]
    db: Databases,
    /// Watched deposit addresses.
    #[arg(long, default_value_t = 1_000_000)]
    addresses: u64,
    /// Block outputs (or Transfer logs) to match (1 in 100 pays a watched address).
    #[arg(long, default_value_t = 200_000)]
    outputs: u64,
    /// The network: `ltc` (outputs) or `eth` (ERC-20 Transfer logs read by the EVM source).
    #[arg(long, value_enum, default_value_t = MatchNetwork::Ltc)]
    network: MatchNetwork,
    /// Transfer logs per block (`--network eth`).
    #[arg(long, default_value_t = 2_000)]
    logs_per_block: u64,
}

/// What `chain-match` matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MatchNetwork {
    /// Litecoin block outputs.
    Ltc,
    /// ERC-20 Transfer logs on Ethereum.
    Eth,
}

pub(super) async fn run(base: Settings, args: ChainMatchArgs) -> anyhow::Result<()> {
    println!(
        "kassa bench chain-match: {} {} against {} watched {} addresses ({} build, {} cores)",
        args.outputs,
        match args.network {
            MatchNetwork::Ltc => "outputs",
            MatchNetwork::Eth => "ERC-20 Transfer logs",
        },
        args.addresses,
        match args.network {
            MatchNetwork::Ltc => "LTC",
            MatchNetwork::Eth => "Ethereum",
        },
        profile(),
        cores()
    );
    for &engine in args.db.engine.engines() {
        let db = Scratch::new(engine, &args.db.postgres_url).await?;
        let result = chain_match_on(&base, engine, db.dir.path(), &db.url, &args).await;
        db.finish().await;
        result?;
    }
    Ok(())
}

async fn chain_match_on(
    base: &Settings,
    engine: Engine,
    data_dir: &Path,
    database_url: &str,
    args: &ChainMatchArgs,
) -> anyhow::Result<()> {
    use kassa_store::chain;
    // Built, not run: only its database and services are used.
    let app = Application::build(InProcess::settings(base, data_dir, database_url))
        .await
        .context("starting the server")?;
    let state = app.state().clone();
    // One invoice owns every address (the lookup does not care who owns them).
    let BenchShop { shop_id, .. } = merchant_project(&state).await?;
    let mut c = state.db.conn().await?;
    let project = kassa_store::projects::by_shop_id(&mut c, &shop_id)
        .await?
        .context("the benchmark project")?;
    drop(c);
    let usdt = kassa_core::currency::crypto("USDT_TRC20").context("USDT_TRC20")?;
    let invoice = kassa_service::invoices::create(
        &state,
        &project,
        kassa_service::invoices::NewInvoiceRequest::priced(kassa_service::invoices::Price::Crypto(
            usdt,
            kassa_core::money::Amount::from_base(1_000_000),
        )),
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the owner invoice: {e}"))?;
    let net = match args.network {
        MatchNetwork::Ltc => &kassa_core::currency::LTC_NET,
        MatchNetwork::Eth => &kassa_core::currency::ERC20,
    };
    let watched_seed = [7u8; 32];
    let other_seed = [9u8; 32];
    let address = |seed: &[u8; 32], i: u64| kassa_chain::simulated::deposit_address(seed, net, i);

    let load_started = Instant::now();
    let now = state.clock.now();
    let batch = 20_000u64;
    let mut i = 0;
    while i < args.addresses {
        let end = (i + batch).min(args.addresses);
        let rows: Vec<(String, i64)> = (i..end)
            .map(|n| {
                (
                    address(&watched_seed, n),
                    i64::try_from(n).unwrap_or(i64::MAX),
                )
            })
            .collect();
        let mut tx = state.db.begin().await?;
        let refs: Vec<(&str, i64)> = rows.iter().map(|(a, n)| (a.as_str(), *n)).collect();
        kassa_store::invoices::insert_addresses(
            &mut tx,
            net.code,
            &refs,
            false,
            kassa_store::invoices::Owner::Invoice(invoice.id),
            now,
        )
        .await?;
        tx.commit().await?;
        i = end;
    }
    let loaded_in = load_started.elapsed();

    // Block outputs: one in a hundred pays a watched address.
    let outputs: Vec<String> = (0..args.outputs)
        .map(|n| {
            if n % 100 == 0 {
                address(&watched_seed, (n * 7919) % args.addresses.max(1))
            } else {
                address(&other_seed, n)
            }
        })
        .collect();
    let expected = outputs.len().div_ceil(100);
    if args.network == MatchNetwork::Eth {
        let found = evm_logs(
            &state,
            &outputs,
            args.logs_per_block,
            (args.addresses, loaded_in),
            engine,
        )
        .await?;
        anyhow::ensure!(
            found == expected,
            "matched {found} logs, expected {expected}"
        );
        state.db.close().await;
        return Ok(());
    }
    let mut c = state.db.conn().await?;
    let started = Instant::now();
    let mut found = 0usize;
    let mut per_query = Vec::new();
    for chunk in outputs.chunks(400) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let t = Instant::now();
        found += chain::owned_among(&mut c, net.code, &refs).await?.len();
        per_query.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    let wall = started.elapsed();
    drop(c);
    per_query.sort_unstable();
    let rate = outputs.len() as f64 / wall.as_secs_f64().max(1e-9);
    let ms = |us: Option<u64>| us.map_or(f64::NAN, |u| u as f64 / 1000.0);
    println!(
        "{engine:?}: {} addresses loaded in {:.1} s; {} outputs matched in {:.2} s = {:.0} outputs/s; \
         per query of 400: p50 {:.2} ms, p99 {:.2} ms; hits {found}/{expected}",
        args.addresses,
        loaded_in.as_secs_f64(),
        outputs.len(),
        wall.as_secs_f64(),
        rate,
        ms(percentile(&per_query, 0.50)),
        ms(percentile(&per_query, 0.99)),
    );
    anyhow::ensure!(
        found == expected,
        "matched {found} outputs, expected {expected}"
    );
    state.db.close().await;
    Ok(())
}

/// The synthetic chain a local JSON-RPC server serves: block `h` (from 1) holds the Transfer
/// logs of recipients `h-1 × per_block ..`, every one from the allowlisted token.
struct LogChain {
    recipients: Vec<String>,
    per_block: usize,
    token: String,
}

impl LogChain {
    fn blocks(&self) -> u64 {
        u64::try_from(self.recipients.len().div_ceil(self.per_block.max(1))).unwrap_or(0)
    }

    fn hash(h: u64) -> String {
        format!("0x{h:064x}")
    }

    fn answer(&self, method: &str, params: &serde_json::Value) -> serde_json::Value {
        use serde_json::json;
        let height = |v: &serde_json::Value| {
            v.as_str()
                .and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok())
        };
        match method {
            "eth_chainId" => json!("0x1"),
            "eth_getBlockByNumber" => match height(&params[0]) {
                Some(h) if (1..=self.blocks()).contains(&h) => json!({
                    "number": format!("0x{h:x}"),
                    "hash": Self::hash(h),
                    "parentHash": Self::hash(h - 1),
                    "timestamp": "0x0",
                    "transactions": [],
                }),
                _ => serde_json::Value::Null,
            },
            "eth_getLogs" => {
                let h = params[0]["blockHash"]
                    .as_str()
                    .and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok())
                    .unwrap_or(0);
                let from = usize::try_from(h.saturating_sub(1)).unwrap_or(0) * self.per_block;
                let end = (from + self.per_block).min(self.recipients.len());
                let logs: Vec<serde_json::Value> = self.recipients[from.min(end)..end]
                    .iter()
                    .enumerate()
                    .map(|(i, to)| {
                        json!({
                            "address": self.token,
                            "topics": [
                                kassa_chain::watch::evm::TRANSFER_TOPIC,
                                format!("0x{:0>64}", "ab"),
                                format!("0x{:0>64}", to.trim_start_matches("0x").to_ascii_lowercase()),
                            ],
                            "data": format!("0x{:064x}", 1_000_000 + i),
                            "blockHash": Self::hash(h),
                            "transactionHash": format!("0x{:056x}{i:08x}", h),
                            "logIndex": format!("0x{i:x}"),
                            "removed": false,
                        })
                    })
                    .collect();
                serde_json::Value::Array(logs)
            }
            _ => serde_json::Value::Null,
        }
    }
}

/// Reads `recipients` as the Transfer logs of blocks served by a local JSON-RPC server, the
/// way the watcher does (the `EvmSource` fetches and parses each block's logs; deposit
/// addresses are looked up 400 at a time); prints the rates; returns the hits.
async fn evm_logs(
    state: &kassa_server::state::AppState,
    recipients: &[String],
    per_block: u64,
    (addresses, loaded_in): (u64, std::time::Duration),
    engine: Engine,
) -> anyhow::Result<usize> {
    use std::sync::Arc;
    let token_bytes = [0x11u8; 20];
    let chain = Arc::new(LogChain {
        recipients: recipients.to_vec(),
        per_block: usize::try_from(per_block.max(1)).unwrap_or(1),
        token: format!("0x{}", "11".repeat(20)),
    });
    let served = chain.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |axum::Json(req): axum::Json<serde_json::Value>| {
            let chain = served.clone();
            async move {
                let result = chain.answer(req["method"].as_str().unwrap_or(""), &req["params"]);
                axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": result}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let usdt = kassa_core::currency::crypto("USDT_ERC20").context("USDT_ERC20")?;
    let source = kassa_chain::watch::evm::EvmSource::connect(
        &kassa_core::currency::ERC20,
        1,
        &url,
        std::time::Duration::from_secs(60),
        vec![kassa_chain::watch::evm::Token {
            contract: token_bytes,
            currency: usdt,
        }],
    )
    .map_err(|e| anyhow::anyhow!("the EVM source: {e}"))?;
    use kassa_chain::watch::ChainSource as _;
    let mut c = state.db.conn().await?;
    let (mut found, mut logs) = (0usize, 0usize);
    let mut matching = std::time::Duration::ZERO;
    let started = Instant::now();
    for h in 1..=chain.blocks() {
        let block = source
            .block_at(h)
            .await
            .map_err(|e| anyhow::anyhow!("block {h}: {e}"))?
            .context("a served block")?;
        logs += block.transfers.len();
        let t = Instant::now();
        for chunk in block.transfers.chunks(400) {
            let refs: Vec<&str> = chunk.iter().map(|t| t.address.as_str()).collect();
            found += kassa_store::chain::owned_among(&mut c, "ERC20", &refs)
                .await?
                .len();
        }
        matching += t.elapsed();
    }
    let wall = started.elapsed();
    drop(c);
    server.abort();
    anyhow::ensure!(
        logs == recipients.len(),
        "read {logs} logs of {}",
        recipients.len()
    );
    println!(
        "{engine:?}: {} addresses loaded in {:.1} s; {logs} Transfer logs in {} blocks of {per_block} \
         fetched, parsed and matched in {:.2} s = {:.0} logs/s (matching alone {:.0} logs/s); hits {found}",
        addresses,
        loaded_in.as_secs_f64(),
        chain.blocks(),
        wall.as_secs_f64(),
        logs as f64 / wall.as_secs_f64().max(1e-9),
        logs as f64 / matching.as_secs_f64().max(1e-9),
    );
    Ok(found)
}
