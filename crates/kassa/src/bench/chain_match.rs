//! `kassa bench chain-match`: the chain watcher's matching of block outputs against the
//! deposit addresses, on a throwaway database holding `--addresses` of them.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use kassa_server::app::Application;
use kassa_server::config::Settings;
use kassa_store::Engine;

use super::{
    BenchShop, EngineChoice, InProcess, Scratch, cores, merchant_project, percentile, profile,
};

/// Options of `kassa bench chain-match`.
#[derive(Args, Debug)]
pub struct ChainMatchArgs {
    /// The database engine(s) to run on.
    #[arg(long, value_enum, default_value_t = EngineChoice::Sqlite)]
    engine: EngineChoice,
    /// The PostgreSQL server (a throwaway database is created there and dropped).
    #[arg(
        long,
        value_name = "URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Watched deposit addresses.
    #[arg(long, default_value_t = 1_000_000)]
    addresses: u64,
    /// Block outputs to match (1 in 100 pays a watched address).
    #[arg(long, default_value_t = 200_000)]
    outputs: u64,
}

pub(super) async fn run(base: Settings, args: ChainMatchArgs) -> anyhow::Result<()> {
    println!(
        "kassa bench chain-match: {} outputs against {} watched LTC addresses ({} build, {} cores)",
        args.outputs,
        args.addresses,
        profile(),
        cores()
    );
    for &engine in args.engine.engines() {
        let db = Scratch::new(engine, &args.postgres_url).await?;
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
    let net = &kassa_core::currency::LTC_NET;
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
