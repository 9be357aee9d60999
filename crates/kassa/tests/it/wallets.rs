//! The operator's BTC/LTC wallets and live deposit addresses: `kassa wallet init/show`
//! through the real binary (the recovery phrase shown once, stored only sealed), the
//! configured wallet checked against the stored one at start-up, and live LTC invoices whose
//! addresses are the wallet's BIP84 receive addresses, index after index, accepted by a real
//! `litecoind -regtest`.

use std::collections::HashSet;
use std::path::Path;

use kassa_chain::Chain;
use kassa_chain::hd::{Branch, Coin, HotWallet, Mnemonic, WatchOnlyWallet, XpubFormat};
use kassa_core::currency::{self, LTC_NET};
use kassa_core::secret::{Keyring, SecretString};
use kassa_core::time::{Clock as _, SystemClock};
use kassa_server::config::Settings;
use kassa_server::state::AppState;
use kassa_service::chains;
use kassa_store::wallets::{self, WalletKind};
use kassa_store::{Db, sql};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::api::{self, Shop};
use crate::support::app::test_settings;
use crate::support::litecoind::{Litecoind, litecoind_skipped};
use crate::support::process::run_in;
use crate::support::{TestApp, TestDb};

const COIN: Coin = Coin::Litecoin;
const CHAIN: Chain = Chain::Regtest;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `[chains.ltc]` for a regtest node at `url` (the litecoind helper's credentials).
fn configure_ltc(s: &mut Settings, url: &str, xpub: &str) {
    s.chains.ltc.chain = "regtest".into();
    s.chains.ltc.rpc_url = url.into();
    s.chains.ltc.rpc_user = "kassa".into();
    s.chains.ltc.rpc_password = SecretString::new("regtest-only");
    s.chains.ltc.confirmations = 1;
    s.chains.ltc.poll_interval_ms = 100;
    s.chains.ltc.xpub = xpub.into();
}

/// The one line of `init`'s output that holds the phrase: indented, 24 lowercase words.
fn phrase_of(out: &str) -> String {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            l.starts_with("    ")
                && words.len() == Mnemonic::GENERATED_WORDS
                && words
                    .iter()
                    .all(|w| w.chars().all(|c| c.is_ascii_lowercase()))
        })
        .collect();
    assert_eq!(lines.len(), 1, "exactly one phrase line in:\n{out}");
    lines[0].trim().to_owned()
}

/// Every file under `dir`, as bytes (the SQLite database and its WAL included).
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The stored wallet row as one text: every column, the sealed phrase included.
async fn stored_row_text(db: &Db) -> String {
    let mut c = db.conn().await.unwrap();
    let row: (String, String, String, Option<String>, String, i64) = sql!(&mut c, |c| {
        sqlx::query_as(
            "select network, chain, kind, sealed_mnemonic, account_xpub, next_index from chain_wallet",
        )
        .fetch_one(c)
        .await
    })
    .unwrap();
    format!(
        "{}|{}|{}|{}|{}|{}",
        row.0,
        row.1,
        row.2,
        row.3.unwrap_or_default(),
        row.4,
        row.5
    )
}

engine_test!(
    async fn wallet_init_shows_the_phrase_once_and_stores_it_sealed(engine) {
        let tdb = TestDb::new(engine).await;
        let dir = tdb.dir().to_owned();
        let url = tdb.url_text();
        let base = [
            ("KASSA_DATABASE_URL", url.as_str()),
            ("KASSA_DATA_DIR", dir.to_str().unwrap()),
            // No node is needed to make a wallet: nothing is asked of it.
            ("KASSA_CHAINS_LTC_RPC_URL", "http://127.0.0.1:9"),
            ("KASSA_CHAINS_LTC_CHAIN", "regtest"),
            ("KASSA_CHAINS_LTC_RPC_PASSWORD", "node-secret-pw"),
        ];
        let with = |extra: &[(&'static str, &str)]| -> Vec<(String, String)> {
            base.iter()
                .chain(extra)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let run = |args: &[&str], env: &[(String, String)]| {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            run_in(&dir, args, &env)
        };
        let one_line_failure = |out: &std::process::Output, expected: &str| {
            let err = stderr(out);
            assert!(!out.status.success(), "{err}");
            assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            assert!(!err.contains("panicked"), "{err}");
        };

        // Not configured: refused, naming the options to set.
        let out = run(&["wallet", "init", "btc"], &with(&[]));
        one_line_failure(&out, "error: BTC is not configured: set chains.btc.rpc_url (KASSA_CHAINS_BTC_RPC_URL)");
        let out = run(&["wallet", "init", "ton"], &with(&[]));
        one_line_failure(&out, "error: ton is not a network with an HD wallet: use btc, ltc, eth, bsc, arb, opt, base or tron");
        let out = run(&["wallet", "init", "trc20"], &with(&[]));
        one_line_failure(&out, "error: TRC20 is not configured: set chains.tron.api_url (KASSA_CHAINS_TRON_API_URL)");
        let out = run(&["wallet", "show", "ltc"], &with(&[]));
        one_line_failure(&out, "error: LTC has no wallet: run `kassa wallet init ltc`");

        // The phrase: printed once, 24 words of a valid BIP39 phrase.
        let out = run(&["wallet", "init", "ltc"], &with(&[]));
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let phrase = phrase_of(&text);
        let mnemonic = Mnemonic::parse(&phrase).unwrap();
        assert_eq!(mnemonic.word_count(), 24);
        assert_eq!(text.matches(phrase.as_str()).count(), 1, "{text}");
        assert!(text.contains("shown only"), "a clear warning: {text}");
        let words: Vec<&str> = phrase.split(' ').collect();
        assert!(!stderr(&out).contains(&phrase));
        // The account key it prints is the phrase's BIP84 account (m/84'/1'/0' on regtest).
        let hot = HotWallet::from_mnemonic(&mnemonic, "", COIN, CHAIN).unwrap();
        let tpub = hot.watch_only().account_xpub();
        let vpub = hot.watch_only().account_xpub_as(XpubFormat::Vpub).unwrap();
        assert!(text.contains(&format!("account key: {tpub}\n")), "{text}");
        assert!(text.contains(&format!("account key (native segwit): {vpub}\n")), "{text}");
        assert!(text.contains("account path: m/84'/1'/0'\n"), "{text}");

        // Stored: the account key in clear (public), the phrase only sealed.
        let db = tdb.connect().await;
        let row = wallets::get(&mut db.conn().await.unwrap(), "LTC").await.unwrap().unwrap();
        assert_eq!((row.kind, row.chain.as_str(), row.next_index), (WalletKind::Hot, "regtest", 0));
        assert_eq!(row.account_xpub, tpub);
        let sealed = row.sealed_mnemonic.clone().unwrap();
        assert!(sealed.starts_with("v1:"), "{sealed}");
        assert!(!format!("{row:?}").contains(&sealed), "Debug leaves the sealed phrase out");
        let stored = stored_row_text(&db).await;
        assert!(!stored.contains(&phrase));
        for w in &words {
            // Words of three or four letters turn up in the base64 and base58 of the row by
            // chance (about once in two thousand runs for four); five and more do not.
            if w.len() >= 5 {
                assert!(!stored.contains(w), "the word {w:?} is in the stored row: {stored}");
            }
        }
        if engine == crate::support::Engine::Sqlite {
            // Not in any file of the data folder either (database, WAL, key file).
            let two = format!("{} {}", words[0], words[1]);
            for (name, bytes) in files_under(&dir) {
                assert!(!contains(&bytes, phrase.as_bytes()), "the phrase is in {name}");
                assert!(!contains(&bytes, two.as_bytes()), "the phrase is in {name}");
            }
        }
        // Sealed with the master key and a context naming the network.
        let keyring = Keyring::parse(&std::fs::read_to_string(dir.join("master.key")).unwrap()).unwrap();
        assert_eq!(chains::mnemonic_context(&LTC_NET), "chain-wallet:LTC:mnemonic");
        assert_eq!(keyring.open("chain-wallet:LTC:mnemonic", &sealed).unwrap(), phrase.as_bytes());
        assert!(keyring.open("chain-wallet:BTC:mnemonic", &sealed).is_err());
        let opened = chains::hot_wallet(&db, &keyring, &LTC_NET).await.unwrap();
        assert_eq!(opened.watch_only().account_xpub(), tpub);
        assert_eq!(
            opened.signing_key(Branch::Receive, 3).unwrap().key_hash(),
            hot.watch_only().key_hash(Branch::Receive, 3).unwrap()
        );

        // A second init refuses, and shows no phrase.
        let out = run(&["wallet", "init", "ltc"], &with(&[]));
        one_line_failure(&out, "error: LTC already has a hot wallet; it is never replaced");
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        assert_eq!(wallets::get(&mut db.conn().await.unwrap(), "LTC").await.unwrap().unwrap().account_xpub, tpub);

        // `show`: kind, chain, keys and the next index; never the phrase.
        let out = run(&["wallet", "show", "LTC"], &with(&[]));
        assert!(out.status.success(), "{}", stderr(&out));
        let shown = stdout(&out);
        for line in [
            "network: LTC (regtest)\n",
            "kind: hot (recovery phrase sealed in the database)\n",
            &format!("account key: {tpub}\n"),
            &format!("account key (native segwit): {vpub}\n"),
            &format!("receive descriptor: wpkh({tpub}/0/*)\n"),
            "next receive index: 0\n",
            "taking live payments: yes\n",
        ] {
            assert!(shown.contains(line), "{line:?} in:\n{shown}");
        }
        let labels = ["network", "ltc", "regtest", "kind", "hot", "recovery", "phrase", "sealed", "in", "the", "database", "account", "path", "key", "native", "segwit", "receive", "descriptor", "wpkh", "next", "index", "created", "taking", "live", "payments", "yes", "utc"];
        let tokens: HashSet<String> = shown
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(str::to_ascii_lowercase)
            .collect();
        for w in &words {
            assert!(labels.contains(w) || !tokens.contains(*w), "the word {w:?} is in:\n{shown}");
        }
        assert!(!shown.contains(&phrase));

        // The configuration may name the same account (any spelling); another one, or another
        // chain, stops every command that opens the application, with the option named.
        for same in [vpub.as_str(), tpub.as_str()] {
            let out = run(&["wallet", "show", "ltc"], &with(&[("KASSA_CHAINS_LTC_XPUB", same)]));
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let other = HotWallet::from_mnemonic(&Mnemonic::generate().unwrap(), "", COIN, CHAIN).unwrap();
        let other_vpub = other.watch_only().account_xpub_as(XpubFormat::Vpub).unwrap();
        let mismatch = "error: chains.ltc.xpub (KASSA_CHAINS_LTC_XPUB): does not match the LTC hot wallet in the database";
        let out = run(&["wallet", "show", "ltc"], &with(&[("KASSA_CHAINS_LTC_XPUB", &other_vpub)]));
        one_line_failure(&out, mismatch);
        assert_eq!(out.status.code(), Some(2));
        // `serve` logs before it fails (migrations); its error is still one line.
        let out = run(&["serve", "--listen", "127.0.0.1:0"], &with(&[("KASSA_CHAINS_LTC_XPUB", &other_vpub)]));
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].starts_with(mismatch), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        let out = run(&["wallet", "show", "ltc"], &with(&[("KASSA_CHAINS_LTC_CHAIN", "testnet")]));
        one_line_failure(&out, "error: chains.ltc.chain (KASSA_CHAINS_LTC_CHAIN): is testnet but the LTC wallet in the database is for regtest");
        assert_eq!(out.status.code(), Some(2));

        // `config show` redacts the node's password.
        let out = run(&["config", "show"], &with(&[]));
        let shown = stdout(&out);
        assert!(shown.contains("[chains.ltc]") && shown.contains("rpc_password = \"[redacted]\""), "{shown}");
        assert!(!shown.contains("node-secret-pw"), "{shown}");

        // An EVM network: its own phrase, the BIP44 account m/44'/60'/0', EIP-55 addresses;
        // a development chain id is stored as regtest.
        let eth = [
            ("KASSA_CHAINS_ETH_RPC_URL", "http://127.0.0.1:9"),
            ("KASSA_CHAINS_ETH_CHAIN_ID", "31337"),
        ];
        let out = run(&["wallet", "init", "eth"], &with(&[]));
        one_line_failure(&out, "error: ERC20 is not configured: set chains.eth.rpc_url (KASSA_CHAINS_ETH_RPC_URL)");
        let out = run(&["wallet", "init", "eth"], &with(&eth));
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let eth_phrase = phrase_of(&text);
        assert_ne!(eth_phrase, phrase, "a phrase of its own");
        let evm = kassa_chain::hd::evm::EvmHotWallet::from_mnemonic(&Mnemonic::parse(&eth_phrase).unwrap(), "").unwrap();
        let first = evm.watch_only().address(0).unwrap();
        for line in [
            "Created the ERC20 hot wallet (regtest).".to_owned(),
            "any BIP44 wallet restores it at m/44'/60'/0'.".to_owned(),
            format!("account key: {}\n", evm.watch_only().account_xpub()),
            format!("first deposit address (…/0/0): {first}\n"),
            format!(
                "treasury (…/1/0: sweeps arrive here; send gas for token sweeps here): {}\n",
                evm.watch_only().treasury_address().unwrap()
            ),
        ] {
            assert!(text.contains(&line), "{line:?} in:\n{text}");
        }
        let out = run(&["wallet", "show", "ERC20"], &with(&eth));
        assert!(out.status.success(), "{}", stderr(&out));
        let shown = stdout(&out);
        assert!(shown.contains("network: ERC20 (regtest)\n") && shown.contains(&first), "{shown}");
        assert!(!shown.contains(&eth_phrase));
        // Another chain id later: refused, naming the option.
        let out = run(&["wallet", "show", "eth"], &with(&[eth[0], ("KASSA_CHAINS_ETH_CHAIN_ID", "1")]));
        one_line_failure(&out, "error: chains.eth.chain_id (KASSA_CHAINS_ETH_CHAIN_ID): is for mainnet but the ERC20 wallet in the database is for regtest");

        // TRON: its own phrase, BIP44 m/44'/195'/0', base58check addresses as TronWeb makes.
        let tron = [("KASSA_CHAINS_TRON_API_URL", "http://127.0.0.1:9"), ("KASSA_CHAINS_TRON_CHAIN", "testnet")];
        let out = run(&["wallet", "init", "tron"], &with(&tron));
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let tron_phrase = phrase_of(&text);
        let t = kassa_chain::hd::evm::EvmHotWallet::from_mnemonic_of(
            kassa_chain::hd::evm::KeccakCoin::Tron,
            &Mnemonic::parse(&tron_phrase).unwrap(),
            "",
        )
        .unwrap();
        let first = t.watch_only().address(0).unwrap();
        assert!(first.starts_with('T'), "{first}");
        for line in [
            "Created the TRC20 hot wallet (testnet).".to_owned(),
            "any BIP44 wallet restores it at m/44'/195'/0'.".to_owned(),
            format!("first deposit address (…/0/0): {first}\n"),
        ] {
            assert!(text.contains(&line), "{line:?} in:\n{text}");
        }
        db.close().await;
    }
);

/// Live invoices of `shop` in LTC through the API: their deposit addresses.
async fn live_ltc_addresses(app: &TestApp, shop: &Shop, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = shop
            .create(10.0, json!({"add_fields": {"cryptocurrency": "LTC"}}))
            .await;
        assert_eq!(r["test_mode"], false, "{r}");
        assert_eq!(r["currency"]["fullcode"], "LTC", "{r}");
        out.push(r["address"].as_str().unwrap().to_owned());
    }
    let _ = app;
    out
}

/// Live deposit addresses stored for LTC: (address, derivation index), by index.
async fn stored_live_addresses(app: &TestApp) -> Vec<(String, i64)> {
    let mut c = app.state.db.conn().await.unwrap();
    sql!(&mut c, |c| sqlx::query_as(
        "select address, derivation_index from deposit_address where network = 'LTC' and test = $1 order by derivation_index"
    )
    .bind(false)
    .fetch_all(c)
    .await)
    .unwrap()
}

async fn assert_valid_on_node(node: &Litecoind, addresses: &[String]) {
    for a in addresses {
        assert!(a.starts_with("rltc1q"), "{a}");
        let info = node.rpc.validate_address(a).await.unwrap();
        assert!(info.isvalid, "{a}: {info:?}");
    }
}

engine_test!(
    async fn live_ltc_invoices_get_the_wallets_bip84_addresses(engine) {
        if litecoind_skipped() {
            return;
        }
        let node = Litecoind::start().await;
        let node_url = node.rpc.url().to_owned();

        // A hot wallet stored as `kassa wallet init` stores it, from a phrase known here.
        let mnemonic = Mnemonic::generate().unwrap();
        let hot = HotWallet::from_mnemonic(&mnemonic, "", COIN, CHAIN).unwrap();
        let tdb = TestDb::new(engine).await;
        {
            let mut s = test_settings(&tdb);
            configure_ltc(&mut s, &node_url, "");
            let st = AppState::open(s, std::sync::Arc::new(SystemClock), "http://127.0.0.1".into())
                .await
                .unwrap();
            assert!(st.chains.get(&LTC_NET).is_none(), "configured, but no wallet yet");
            assert!(!st.pricing.live_network(&LTC_NET));
            chains::create_hot_wallet(&st.db, &st.keyring, &LTC_NET, CHAIN, &mnemonic, SystemClock.now())
                .await
                .unwrap();
            st.db.close().await;
        }
        let app = TestApp::spawn_on(tdb, |s| configure_ltc(s, &node_url, "")).await;
        let ltc = app.state.chains.get(&LTC_NET).expect("LTC takes live payments").clone();
        assert_eq!((ltc.chain, ltc.kind, ltc.confirmations), (CHAIN, WalletKind::Hot, 1));
        assert_eq!(ltc.poll_interval, std::time::Duration::from_millis(100));
        assert_eq!(ltc.currency.code, "LTC");
        let parts = ltc.utxo.as_ref().expect("a UTXO network");
        assert_eq!(parts.rpc.url(), node.rpc.url());
        assert_eq!(parts.rpc.get_block_count().await.unwrap(), 0, "the client reaches the node");
        assert_eq!(parts.wallet.account_xpub(), hot.watch_only().account_xpub());
        assert_eq!(app.state.chains.live_networks(), vec!["LTC"]);
        assert!(app.state.pricing.live_network(&LTC_NET));
        assert!(!app.state.pricing.live_network(&currency::BTC_NET));

        // A test-mode project keeps its simulated addresses.
        let test_shop = api::shop(&app, "test@shop.example", "").await;
        let r = test_shop.create(10.0, json!({"add_fields": {"cryptocurrency": "LTC"}})).await;
        assert_eq!(r["test_mode"], true);
        api::assert_address("LTC", &r["address"]);

        // A live project: consecutive receive addresses of the wallet, valid on the node.
        let shop = api::shop(&app, "live@shop.example", "").await;
        shop.go_live(&app).await;
        let mut addresses = live_ltc_addresses(&app, &shop, 4).await;

        // Choosing the currency later (payment page) takes the next one.
        let r = shop.create(10.0, json!({})).await;
        let row = api::stored_invoice(&app, r["uuid"].as_str().unwrap()).await;
        let project = shop.row(&app).await;
        let ltc_coin = currency::crypto("LTC").unwrap();
        let chosen = kassa_service::invoices::choose_currency(&app.state, &project, row.id, ltc_coin)
            .await
            .unwrap();
        addresses.push(chosen.address.clone().unwrap());

        // A live static wallet too, once per customer.
        let sw = shop
            .post("/v2/invoice/static/create", json!({"shop_id": shop.shop_id, "currency": "LTC", "identify": "customer-1"}))
            .await
            .success();
        addresses.push(sw["address"].as_str().unwrap().to_owned());
        let again = shop
            .post("/v2/invoice/static/create", json!({"shop_id": shop.shop_id, "currency": "LTC", "identify": "customer-1"}))
            .await
            .success();
        assert_eq!(again["address"], sw["address"]);

        // Concurrent creations never share an index.
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let client = app.client.clone();
            let url = format!("{}/v2/invoice/create", app.base);
            let (key, shop_id) = (shop.key.clone(), shop.shop_id.clone());
            tasks.spawn(async move {
                let r: Value = client
                    .post(url)
                    .header("Authorization", format!("Token {key}"))
                    .json(&json!({"shop_id": shop_id, "amount": 5, "add_fields": {"cryptocurrency": "LTC"}}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                r["result"]["address"].as_str().unwrap().to_owned()
            });
        }
        let mut concurrent = Vec::new();
        while let Some(a) = tasks.join_next().await {
            concurrent.push(a.unwrap());
        }

        let expected: Vec<String> = (0..12u32)
            .map(|i| hot.address(Branch::Receive, i).unwrap())
            .collect();
        assert_eq!(addresses, expected[..6], "invoices, currency choice and static wallet in order");
        let mut all: Vec<String> = addresses.iter().chain(&concurrent).cloned().collect();
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), 12, "never reused: {all:?}");
        all.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(all, want, "indexes 0..12, no gap");
        assert_valid_on_node(&node, &expected).await;

        // Stored with the wallet's index; the wallet's counter moved past them.
        let stored = stored_live_addresses(&app).await;
        assert_eq!(
            stored,
            expected.iter().cloned().zip(0i64..).collect::<Vec<_>>()
        );
        let w = wallets::get(&mut app.state.db.conn().await.unwrap(), "LTC").await.unwrap().unwrap();
        assert_eq!(w.next_index, 12);

        // A network that is not configured is not offered: the documented 400.
        let r = shop
            .post("/v2/invoice/create", json!({"shop_id": shop.shop_id, "amount": 10, "add_fields": {"cryptocurrency": "BTC"}}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
        assert_eq!(r.field_error("cryptocurrency"), "Currency BTC is not available for this shop.");
        let r = shop
            .post("/v2/invoice/static/create", json!({"shop_id": shop.shop_id, "currency": "BTC", "identify": "c"}))
            .await;
        assert_eq!(r.field_error("currency"), "Currency BTC is not available for this shop.");
        // Without a preset currency, only LTC is offered to the live project.
        let r = shop
            .post("/v2/invoice/create", json!({"shop_id": shop.shop_id, "amount": 10, "add_fields": {"available_currencies": ["BTC"]}}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
        assert_eq!(stored_live_addresses(&app).await.len(), 12, "a refused request takes no index");
        app.stop().await;

        // A watch-only wallet from the same account's vpub derives the same addresses.
        let vpub = hot.watch_only().account_xpub_as(XpubFormat::Vpub).unwrap();
        let watch_app = TestApp::spawn_with(engine, |s| configure_ltc(s, &node_url, &vpub)).await;
        let w = wallets::get(&mut watch_app.state.db.conn().await.unwrap(), "LTC").await.unwrap().unwrap();
        assert_eq!((w.kind, w.chain.as_str(), w.sealed_mnemonic.as_deref()), (WalletKind::Watch, "regtest", None));
        assert_eq!(w.account_xpub, hot.watch_only().account_xpub());
        assert_eq!(watch_app.state.chains.get(&LTC_NET).unwrap().kind, WalletKind::Watch);
        let shop = api::shop(&watch_app, "watch@shop.example", "").await;
        shop.go_live(&watch_app).await;
        let watched = live_ltc_addresses(&watch_app, &shop, 4).await;
        assert_eq!(watched, expected[..4]);
        assert_valid_on_node(&node, &watched).await;
        let from_vpub = WatchOnlyWallet::from_account_xpub(COIN, CHAIN, &vpub).unwrap();
        assert_eq!(watched[3], from_vpub.address(Branch::Receive, 3).unwrap());

        // Restarted with another account key on that database: start-up stops, nothing changes.
        let other = HotWallet::from_mnemonic(&Mnemonic::generate().unwrap(), "", COIN, CHAIN).unwrap();
        let mut s = watch_app.state.settings.as_ref().clone();
        s.chains.ltc.xpub = other.watch_only().account_xpub_as(XpubFormat::Vpub).unwrap();
        let err = AppState::open(s.clone(), std::sync::Arc::new(SystemClock), "http://127.0.0.1".into())
            .await
            .err()
            .expect("a different xpub stops start-up")
            .to_string();
        assert!(
            err.starts_with("chains.ltc.xpub (KASSA_CHAINS_LTC_XPUB): does not match the LTC watch wallet in the database"),
            "{err}"
        );
        // Without the option the stored watch-only wallet stays in use.
        s.chains.ltc.xpub = String::new();
        let st = AppState::open(s, std::sync::Arc::new(SystemClock), "http://127.0.0.1".into())
            .await
            .unwrap();
        assert_eq!(st.chains.get(&LTC_NET).unwrap().utxo.as_ref().unwrap().wallet.account_xpub(), hot.watch_only().account_xpub());
        st.db.close().await;
        let w = wallets::get(&mut watch_app.state.db.conn().await.unwrap(), "LTC").await.unwrap().unwrap();
        assert_eq!((w.account_xpub, w.next_index), (hot.watch_only().account_xpub(), 4));
        watch_app.stop().await;
    }
);
