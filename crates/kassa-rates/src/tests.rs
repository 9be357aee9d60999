//! End-to-end tests: real sources against local servers speaking each API's format, and the
//! cache's fallback, staleness and refresh loop.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kassa_core::Timestamp;
use kassa_core::time::{Clock, ManualClock};
use rust_decimal::Decimal;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::sources::{BoxFuture, RateSource, coingecko};
use crate::testing::{Behaviour, Server, refusing_url};
use crate::{
    BinanceSource, CoinbaseSource, CoingeckoSource, FixedSource, Quotes, RateError, Rates,
    RatesConfig, Refreshed, http_client,
};

const T0: Timestamp = Timestamp::from_micros(1_770_000_000_000_000);

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn client() -> reqwest::Client {
    http_client(Duration::from_millis(500)).unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0))
}

fn rates(sources: Vec<Arc<dyn RateSource>>, clock: &Arc<ManualClock>) -> Rates {
    Rates::new(sources, Arc::clone(clock) as Arc<dyn Clock>)
}

fn coinbase(server: &Server) -> Arc<dyn RateSource> {
    Arc::new(CoinbaseSource::new(client(), &server.url))
}

fn binance(server: &Server) -> Arc<dyn RateSource> {
    Arc::new(BinanceSource::new(client(), &server.url))
}

#[tokio::test]
async fn coinbase_reads_its_real_format() {
    let server = Server::start().await;
    let quotes = CoinbaseSource::new(client(), &format!("{}/", server.url))
        .fetch()
        .await
        .unwrap();
    assert_eq!(quotes.get("BTC"), Some(Decimal::ONE / d("0.0000103")));
    assert_eq!(quotes.get("EUR"), Some(Decimal::ONE / d("0.92")));
    assert_eq!(quotes.get("LTC"), Some(d("100")));
    assert_eq!(server.requests(), ["/v2/exchange-rates?currency=USD"]);
}

#[tokio::test]
async fn coingecko_reads_prices_and_fiat_rates() {
    let server = Server::start().await;
    let quotes = CoingeckoSource::new(client(), &server.url)
        .fetch()
        .await
        .unwrap();
    assert_eq!(quotes.get("BTC"), Some(d("97000.12")));
    assert_eq!(quotes.get("PEPE"), Some(d("0.00001043")));
    assert_eq!(quotes.get("EUR"), Some(d("97000") / d("89000")));
    assert_eq!(quotes.len(), 6 + 3);
    let mut requests = server.requests();
    requests.sort();
    let ids: Vec<&str> = coingecko::IDS.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        requests,
        [
            "/api/v3/exchange_rates".to_owned(),
            format!(
                "/api/v3/simple/price?ids={}&vs_currencies=usd",
                ids.join(",")
            ),
        ]
    );
    assert!(requests[1].contains("the-open-network,binancecoin,usd-coin"));
}

#[tokio::test]
async fn coingecko_keeps_crypto_prices_when_fiat_rates_fail() {
    let server = Server::start().await;
    server.set_body("/api/v3/exchange_rates", "{}");
    let quotes = CoingeckoSource::new(client(), &server.url)
        .fetch()
        .await
        .unwrap();
    assert_eq!(quotes.get("BTC"), Some(d("97000.12")));
    assert_eq!(quotes.get("EUR"), None);
}

#[tokio::test]
async fn binance_reads_usdt_pairs() {
    let server = Server::start().await;
    let quotes = BinanceSource::new(client(), &server.url)
        .fetch()
        .await
        .unwrap();
    assert_eq!(quotes.get("BTC"), Some(d("97000.12")));
    assert_eq!(quotes.get("USDT"), Some(Decimal::ONE));
    assert_eq!(quotes.get("EUR"), None);
    assert_eq!(server.requests(), ["/api/v3/ticker/price"]);
}

#[tokio::test]
async fn falls_back_to_the_next_source_when_the_first_fails() {
    let (first, second) = (Server::start().await, Server::start().await);
    let clock = clock();
    let rates = rates(vec![coinbase(&first), binance(&second)], &clock);

    first.behave(Behaviour::Status(500));
    let report = rates.refresh().await;
    assert_eq!(report.updated, [("binance", 5)]);
    assert_eq!(
        report.failed,
        [(
            "coinbase",
            RateError::Status {
                provider: "coinbase",
                status: 500
            }
        )]
    );
    let btc = rates.usd("BTC", T0).unwrap();
    assert_eq!(
        (btc.usd, btc.source, btc.fetched_at),
        (d("97000.12"), "binance", T0)
    );
    // Binance has no fiat, so nothing prices the euro.
    assert_eq!(
        rates.usd("EUR", T0),
        Err(RateError::Unavailable { asset: "EUR" })
    );

    first.behave(Behaviour::Garbage);
    let report = rates.refresh().await;
    assert!(
        matches!(
            &report.failed[..],
            [(
                "coinbase",
                RateError::Malformed {
                    provider: "coinbase",
                    ..
                }
            )]
        ),
        "{report:?}"
    );
    assert_eq!(rates.usd("BTC", T0).unwrap().source, "binance");

    // Once the first source answers again, it wins.
    first.behave(Behaviour::Normal);
    assert!(rates.refresh().await.failed.is_empty());
    let btc = rates.usd("btc", T0).unwrap();
    assert_eq!(
        (btc.usd, btc.source),
        (Decimal::ONE / d("0.0000103"), "coinbase")
    );
    assert_eq!(rates.usd("EUR", T0).unwrap().usd, Decimal::ONE / d("0.92"));
}

#[tokio::test]
async fn answers_from_memory_without_requests() {
    let server = Server::start().await;
    let clock = clock();
    let rates = rates(
        vec![
            coinbase(&server),
            Arc::new(CoingeckoSource::new(client(), &server.url)),
            binance(&server),
        ],
        &clock,
    );
    rates.refresh().await;
    let after_refresh = server.hits();
    assert_eq!(after_refresh, 4, "one request each, two for CoinGecko");
    for _ in 0..10_000 {
        for asset in ["BTC", "EUR", "usdt", "USD"] {
            rates.usd(asset, T0).unwrap();
        }
        rates.convert(d("100"), "EUR", "BTC", T0).unwrap();
    }
    assert_eq!(server.hits(), after_refresh);
}

#[tokio::test]
async fn stale_quotes_are_refused_and_the_next_fresh_one_used() {
    let (first, second) = (Server::start().await, Server::start().await);
    let clock = clock();
    let rates = rates(vec![coinbase(&first), binance(&second)], &clock);
    rates.refresh().await;
    assert_eq!(rates.usd("BTC", clock.now()).unwrap().source, "coinbase");

    // Coinbase goes down; five minutes later only Binance refreshes.
    first.behave(Behaviour::Status(503));
    clock.advance(Duration::from_secs(300));
    rates.refresh().await;
    let t300 = clock.now();

    // Coinbase's quote is 10 minutes old: still within the limit, still first.
    clock.advance(Duration::from_secs(300));
    let btc = rates.usd("BTC", clock.now()).unwrap();
    assert_eq!((btc.source, btc.fetched_at), ("coinbase", T0));

    // One second more and it is stale: Binance's five-minute-old quote answers.
    clock.advance(Duration::from_secs(1));
    let btc = rates.usd("BTC", clock.now()).unwrap();
    assert_eq!(
        (btc.source, btc.fetched_at, btc.usd),
        ("binance", t300, d("97000.12"))
    );
    // Binance has no euro, and Coinbase's is stale.
    assert_eq!(
        rates.usd("EUR", clock.now()),
        Err(RateError::Stale {
            asset: "EUR",
            age_secs: 601,
            max_age_secs: 600
        })
    );

    // Everything stale: the error gives the newest quote's age.
    clock.advance(Duration::from_secs(400));
    assert_eq!(
        rates.usd("btc", clock.now()),
        Err(RateError::Stale {
            asset: "BTC",
            age_secs: 701,
            max_age_secs: 600
        })
    );
    let err = rates.usd("BTC", clock.now()).unwrap_err().to_string();
    assert_eq!(
        err,
        "no fresh exchange rate for BTC: the newest quote is 701 s old (limit 600 s)"
    );
}

#[tokio::test]
async fn the_fixed_table_never_goes_stale() {
    let server = Server::start().await;
    let clock = clock();
    let rates = rates(
        vec![coinbase(&server), Arc::new(FixedSource::builtin())],
        &clock,
    )
    .with_max_age(Duration::from_secs(120));
    // Before any refresh, the table answers.
    assert_eq!(rates.usd("EUR", T0).unwrap().source, "fixed");
    rates.refresh().await;
    assert_eq!(rates.usd("EUR", T0).unwrap().source, "coinbase");
    clock.advance(Duration::from_secs(365 * 86_400));
    let eur = rates.usd("EUR", clock.now()).unwrap();
    assert_eq!((eur.source, eur.usd), ("fixed", d("1.08")));
}

#[tokio::test]
async fn timeouts_and_refused_connections_do_not_break_other_sources() {
    let (slow, good) = (Server::start().await, Server::start().await);
    slow.behave(Behaviour::Slow(Duration::from_secs(30)));
    let clock = clock();
    let rates = rates(
        vec![
            coinbase(&slow),
            Arc::new(CoingeckoSource::new(client(), &refusing_url().await)),
            binance(&good),
        ],
        &clock,
    );
    let report = tokio::time::timeout(Duration::from_secs(5), rates.refresh())
        .await
        .expect("a slow source is cut off by the client timeout");
    assert_eq!(report.updated, [("binance", 5)]);
    let failed: Vec<(&str, String)> = report
        .failed
        .iter()
        .map(|(name, e)| (*name, e.to_string()))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].0, "coinbase");
    assert!(failed[0].1.contains("timed out"), "{failed:?}");
    assert_eq!(failed[1].0, "coingecko");
    assert!(
        failed[1].1.starts_with("coingecko: request failed"),
        "{failed:?}"
    );
    assert!(failed[1].1.to_lowercase().contains("refused"), "{failed:?}");
    assert_eq!(rates.usd("BTC", T0).unwrap().source, "binance");
}

#[tokio::test]
async fn lookups_name_the_asset() {
    let server = Server::start().await;
    let clock = clock();
    let rates = rates(vec![coinbase(&server)], &clock);
    assert_eq!(
        rates.usd("DOGE", T0),
        Err(RateError::UnknownAsset {
            asset: "DOGE".into()
        })
    );
    assert_eq!(
        rates.usd("btc", T0),
        Err(RateError::Unavailable { asset: "BTC" })
    );
    assert_eq!(
        rates.usd("BTC", T0).unwrap_err().to_string(),
        "no exchange rate for BTC: no source has reported it"
    );
    // The dollar needs no source.
    let usd = rates.usd("usd", T0).unwrap();
    assert_eq!(
        (usd.usd, usd.source, usd.fetched_at),
        (Decimal::ONE, "identity", T0)
    );
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn converts_between_any_two_assets() {
    let server = Server::start().await;
    let clock = clock();
    let rates = rates(vec![coinbase(&server)], &clock);
    rates.refresh().await;
    // 100 EUR at 0.92 EUR/USD and 0.0000103 BTC/USD.
    let btc = rates.convert(d("100"), "EUR", "BTC", T0).unwrap();
    assert_eq!(btc.round_dp(12), d("0.001119565217"));
    assert_eq!(
        rates
            .convert(d("92"), "EUR", "USD", T0)
            .unwrap()
            .round_dp(20),
        d("100")
    );
    assert_eq!(rates.convert(d("1"), "LTC", "LTC", T0).unwrap(), d("1"));
    assert_eq!(
        rates.convert(d("1"), "EUR", "TRX", T0),
        Err(RateError::Unavailable { asset: "TRX" })
    );
    assert_eq!(
        rates.convert(Decimal::MAX, "BTC", "USD", T0),
        Err(RateError::Overflow {
            from: "BTC",
            to: "USD"
        })
    );
}

#[tokio::test]
async fn test_mode_always_uses_the_fixed_table() {
    let server = Server::start().await;
    let config = RatesConfig {
        sources: "coinbase".into(),
        coinbase_url: server.url.clone(),
        fixed: [("BTC".to_owned(), "50000".to_owned())].into(),
        ..RatesConfig::default()
    };
    let clock = clock();
    let rates =
        Rates::from_config_with_client(&config, client(), Arc::clone(&clock) as Arc<dyn Clock>)
            .unwrap();
    rates.refresh().await;
    assert_eq!(rates.usd("BTC", T0).unwrap().source, "coinbase");
    let btc = rates.test_usd("BTC", T0).unwrap();
    assert_eq!((btc.usd, btc.source), (d("50000"), "fixed"));
    assert_eq!(rates.test_usd("ETH", T0).unwrap().usd, d("3500"));
    assert_eq!(rates.test_usd("USD", T0).unwrap().usd, Decimal::ONE);
    assert!(matches!(
        rates.test_usd("DOGE", T0),
        Err(RateError::UnknownAsset { .. })
    ));
}

/// A source answering from a script, reporting each fetch on a channel.
struct Scripted {
    name: &'static str,
    answers: Mutex<Vec<Result<Quotes, RateError>>>,
    fetched: mpsc::UnboundedSender<()>,
}

impl Scripted {
    fn new(
        name: &'static str,
        answers: Vec<Result<Quotes, RateError>>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut answers = answers;
        answers.reverse();
        let source = Scripted {
            name,
            answers: Mutex::new(answers),
            fetched: tx,
        };
        (Arc::new(source), rx)
    }
}

impl RateSource for Scripted {
    fn name(&self) -> &'static str {
        self.name
    }

    fn fetch(&self) -> BoxFuture<'_, Result<Quotes, RateError>> {
        let answer = self.answers.lock().unwrap().pop();
        let _ = self.fetched.send(());
        Box::pin(async move {
            match answer {
                Some(answer) => answer,
                None => panic!("script exhausted"),
            }
        })
    }
}

fn quotes(pairs: &[(&str, &str)]) -> Quotes {
    let mut q = Quotes::new();
    for (asset, usd) in pairs {
        assert!(q.insert(asset, d(usd)));
    }
    q
}

#[tokio::test]
async fn a_panicking_source_is_contained() {
    let (broken, _) = Scripted::new("broken", vec![]);
    let (fine, _) = Scripted::new("fine", vec![Ok(quotes(&[("BTC", "1")]))]);
    let clock = clock();
    let rates = rates(vec![broken as Arc<dyn RateSource>, fine], &clock);
    let report = rates.refresh().await;
    assert_eq!(report.updated, [("fine", 1)]);
    assert!(
        matches!(
            &report.failed[..],
            [(
                "broken",
                RateError::Request {
                    provider: "broken",
                    ..
                }
            )]
        ),
        "{report:?}"
    );
    assert_eq!(rates.usd("BTC", T0).unwrap().source, "fine");
}

#[tokio::test]
async fn keeps_the_newest_quote_per_source_and_asset() {
    let (source, _) = Scripted::new(
        "s",
        vec![
            Ok(quotes(&[("BTC", "100"), ("ETH", "10")])),
            // A later answer without ETH keeps the older ETH quote.
            Ok(quotes(&[("BTC", "200")])),
            // An answer stamped earlier (clock set back) does not replace a newer quote.
            Ok(quotes(&[("BTC", "300")])),
        ],
    );
    let clock = clock();
    let rates = rates(vec![source as Arc<dyn RateSource>], &clock);
    rates.refresh().await;
    clock.advance(Duration::from_secs(60));
    rates.refresh().await;
    let now = clock.now();
    assert_eq!(rates.usd("BTC", now).unwrap().usd, d("200"));
    let eth = rates.usd("ETH", now).unwrap();
    assert_eq!((eth.usd, eth.fetched_at), (d("10"), T0));
    clock.set(T0);
    rates.refresh().await;
    assert_eq!(rates.usd("BTC", now).unwrap().usd, d("200"));
}

#[tokio::test]
async fn run_refreshes_until_cancelled() {
    let (source, mut fetched) = Scripted::new(
        "s",
        (1..=1000)
            .map(|i| Ok(quotes(&[("BTC", &i.to_string())])))
            .collect(),
    );
    let clock = clock();
    let rates = Arc::new(
        rates(vec![source as Arc<dyn RateSource>], &clock)
            .with_refresh_interval(Duration::from_millis(1)),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&rates).run(stop.clone()));
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(5), fetched.recv())
            .await
            .unwrap()
            .unwrap();
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops when cancelled")
        .unwrap();
    assert!(rates.usd("BTC", T0).unwrap().usd >= d("2"));
}

#[tokio::test]
async fn run_with_only_the_fixed_table_waits_for_cancellation() {
    let clock = clock();
    let rates = Arc::new(rates(vec![Arc::new(FixedSource::builtin())], &clock));
    let stop = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&rates).run(stop.clone()));
    assert_eq!(rates.refresh().await, Refreshed::default());
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
