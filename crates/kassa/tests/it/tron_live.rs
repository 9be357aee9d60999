//! TRON live, end to end, against a local HTTP server that speaks a TRON full node's API
//! (`support::tron`; no TRON node runs here): `[chains.tron]` configured as an operator would,
//! with an API key and the hot wallet of `kassa wallet init tron`; invoices made through the
//! API get BIP44 `m/44'/195'/0'/0/i` addresses (`T…`), and the watcher credits USDT exactly,
//! partly then topped up and overpaid, and TRX — never a same-symbol token at another contract
//! (listed as ignored), never a transfer whose execution failed (out of energy). A
//! reorganisation takes a credit back and the transaction mined again counts once; a token
//! contract whose decimals are not the catalogue's stops the watcher. With
//! `KASSA_TEST_TRON_URL` set (the public Nile testnet), the source reads a real node too.

use std::sync::Arc;

use kassa_chain::Chain;
use kassa_chain::hd::Mnemonic;
use kassa_chain::hd::evm::{EvmHotWallet, KeccakCoin};
use kassa_chain::watch::{ChainError, ChainSource};
use kassa_core::currency::TRC20;
use kassa_core::invoice::Status;
use kassa_core::money::Amount;
use kassa_core::time::Clock as _;
use kassa_server::config::{Settings, TokenList};
use kassa_service::chains::{self, LiveChain};
use kassa_service::watcher::{WatchError, Watcher};
use kassa_store::invoices::{self as store, InvoiceRow};
use kassa_store::ledger;
use serde_json::json;

use crate::engine_test;
use crate::support::api::{self, Shop, shop};
use crate::support::tron::{FakeTron, FakeTx};
use crate::support::{TestApp, TestDb};

const CONFIRMATIONS: u32 = 19;

fn configure(s: &mut Settings, url: &str, tokens: &[(&str, &str)]) {
    s.chains.tron.api_url = url.into();
    s.chains.tron.chain = "regtest".into();
    s.chains.tron.api_key = kassa_core::secret::SecretString::new("test-api-key".to_owned());
    s.chains.tron.explorer = "https://tronscan.example/#/transaction/{txid}".into();
    // The tests drive the watcher; the app's own one reads once at start, then sleeps.
    s.chains.tron.poll_interval_ms = 60_000;
    s.chains.tron.tokens = TokenList(
        tokens
            .iter()
            .map(|(sym, c)| ((*sym).to_owned(), (*c).to_owned()))
            .collect(),
    );
}

pub(crate) struct Rig {
    pub(crate) node: FakeTron,
    pub(crate) usdt: String,
    pub(crate) fake_usdt: String,
    pub(crate) wallet: EvmHotWallet,
    pub(crate) app: TestApp,
    pub(crate) shop: Shop,
    pub(crate) chain: Arc<LiveChain>,
    pub(crate) watcher: Watcher,
}

impl Rig {
    pub(crate) async fn new(engine: kassa_store::Engine) -> Rig {
        Rig::new_with(engine, |_| {}).await
    }

    /// A rig whose settings `adjust` changes too.
    pub(crate) async fn new_with(
        engine: kassa_store::Engine,
        adjust: impl FnOnce(&mut Settings),
    ) -> Rig {
        let node = FakeTron::start().await;
        let usdt = node.deploy_token(6);
        let fake_usdt = node.deploy_token(6);
        let mnemonic = Mnemonic::generate().unwrap();
        let tdb = TestDb::new(engine).await;
        let (url, contract) = (node.url.clone(), usdt.clone());
        {
            // `kassa wallet init tron`, from a phrase known here.
            let mut s = crate::support::app::test_settings(&tdb);
            configure(&mut s, &url, &[("USDT", &contract)]);
            let st = kassa_server::state::AppState::open(
                s,
                Arc::new(kassa_core::time::SystemClock),
                "http://127.0.0.1".into(),
            )
            .await
            .unwrap();
            let now = kassa_core::time::SystemClock.now();
            chains::create_hot_wallet(&st.db, &st.keyring, &TRC20, Chain::Regtest, &mnemonic, now)
                .await
                .unwrap();
            st.db.close().await;
        }
        let app = TestApp::spawn_on(tdb, |s| {
            configure(s, &url, &[("USDT", &contract)]);
            adjust(s);
        })
        .await;
        let chain = app
            .state
            .chains
            .get(&TRC20)
            .expect("TRON takes live payments")
            .clone();
        let shop = shop(&app, "owner@tron.example", "").await;
        shop.go_live(&app).await;
        app.first_watcher_round("TRC20").await;
        let mut watcher = Watcher::new(app.state.ctx.clone(), chain.clone());
        watcher.step().await.unwrap();
        let wallet = EvmHotWallet::from_mnemonic_of(KeccakCoin::Tron, &mnemonic, "").unwrap();
        Rig {
            node,
            usdt,
            fake_usdt,
            wallet,
            app,
            shop,
            chain,
            watcher,
        }
    }

    pub(crate) async fn invoice(&self, code: &str, usd: f64) -> InvoiceRow {
        let r = self
            .shop
            .create(usd, json!({"add_fields": {"cryptocurrency": code}}))
            .await;
        assert_eq!(r["test_mode"], false, "{r}");
        api::stored_invoice(&self.app, r["uuid"].as_str().unwrap()).await
    }

    pub(crate) async fn row(&self, inv: &InvoiceRow) -> InvoiceRow {
        store::by_id(&mut self.app.state.db.conn().await.unwrap(), inv.id)
            .await
            .unwrap()
    }

    pub(crate) fn usdt_to(&self, inv: &InvoiceRow, amount: Amount) -> FakeTx {
        FakeTx::Trc20 {
            contract: self.usdt.clone(),
            to: inv.address.clone().unwrap(),
            amount: amount.base(),
            failed: false,
        }
    }

    /// Mines a block of `txs`, then enough empty ones for the confirmations, and lets the
    /// watcher read them.
    pub(crate) async fn paid(&mut self, txs: Vec<FakeTx>) -> Vec<String> {
        let ids = self.node.mine(txs);
        self.node.mine_empty(u64::from(CONFIRMATIONS) - 1);
        self.watcher.step().await.unwrap();
        ids
    }

    pub(crate) async fn books_balance(&self) {
        let mut c = self.app.state.db.conn().await.unwrap();
        assert!(ledger::verify(&mut c).await.unwrap().is_empty());
    }
}

pub(crate) fn due(inv: &InvoiceRow) -> Amount {
    inv.quote.as_ref().expect("quote").due
}

engine_test!(
    async fn usdt_and_trx_pay_live_invoices_and_fakes_and_failures_never_count(engine) {
        let mut r = Rig::new(engine).await;
        assert_eq!(
            r.chain.currencies.iter().map(|c| c.code).collect::<Vec<_>>(),
            ["TRX", "USDT_TRC20"]
        );

        // USDT exactly, at the wallet's first BIP44 address; counted at 19 confirmations.
        let exact = r.invoice("USDT_TRC20", 25.0).await;
        let address = exact.address.clone().unwrap();
        assert_eq!(address, r.wallet.watch_only().address(0).unwrap());
        assert!(address.starts_with('T') && address.len() == 34, "{address}");
        r.node.mine(vec![r.usdt_to(&exact, due(&exact))]);
        r.node.mine_empty(u64::from(CONFIRMATIONS) - 2);
        r.watcher.step().await.unwrap();
        let row = r.row(&exact).await;
        assert_eq!((row.status, row.processing), (Status::Created, due(&exact)), "18 of 19");
        r.node.mine_empty(1);
        r.watcher.step().await.unwrap();
        let row = r.row(&exact).await;
        assert_eq!((row.status, row.received), (Status::Paid, due(&exact)));

        // Partly, then topped up.
        let partial = r.invoice("USDT_TRC20", 40.0).await;
        let part = Amount::from_base(due(&partial).base() / 3);
        r.paid(vec![r.usdt_to(&partial, part)]).await;
        assert_eq!(r.row(&partial).await.status, Status::Partial);
        r.paid(vec![r.usdt_to(&partial, due(&partial).checked_sub(part).unwrap())]).await;
        let row = r.row(&partial).await;
        assert_eq!((row.status, row.received), (Status::Paid, due(&partial)));

        // Overpaid.
        let over = r.invoice("USDT_TRC20", 15.0).await;
        let paid = due(&over).checked_add(Amount::from_base(1_500_001)).unwrap();
        r.paid(vec![r.usdt_to(&over, paid)]).await;
        let row = r.row(&over).await;
        assert_eq!((row.status, row.received), (Status::Overpaid, paid));

        // TRX (a TransferContract), exactly.
        let trx = r.invoice("TRX", 12.0).await;
        let sun = u64::try_from(due(&trx).base()).unwrap();
        r.paid(vec![FakeTx::Trx { to: trx.address.clone().unwrap(), sun }]).await;
        let row = r.row(&trx).await;
        assert_eq!((row.status, row.received), (Status::Paid, due(&trx)));

        // A token calling itself USDT at another contract: listed as ignored, never credited.
        // A real USDT transfer whose execution ran out of energy: nothing.
        let fooled = r.invoice("USDT_TRC20", 20.0).await;
        let ids = r
            .paid(vec![
                FakeTx::Trc20 {
                    contract: r.fake_usdt.clone(),
                    to: fooled.address.clone().unwrap(),
                    amount: due(&fooled).base(),
                    failed: false,
                },
                FakeTx::Trc20 {
                    contract: r.usdt.clone(),
                    to: fooled.address.clone().unwrap(),
                    amount: due(&fooled).base(),
                    failed: true,
                },
            ])
            .await;
        let row = r.row(&fooled).await;
        assert_eq!((row.status, row.received, row.processing), (Status::Created, Amount::ZERO, Amount::ZERO));
        let mut c = r.app.state.db.conn().await.unwrap();
        assert!(store::transfers_of(&mut c, fooled.id).await.unwrap().is_empty());
        let ignored = kassa_store::ignored::of_invoice(&mut c, fooled.id).await.unwrap();
        drop(c);
        assert_eq!(ignored.len(), 1, "the look-alike; the failed one moved nothing");
        assert_eq!((ignored[0].txid.as_str(), ignored[0].contract.as_str()), (ids[0].as_str(), r.fake_usdt.as_str()));

        // The operator's explorer links the transaction; every request carried the API key.
        let s = crate::support::accounts::sign_in(&r.app, "owner@tron.example").await;
        let page = s.get(&format!("/projects/{}/invoices/{}", r.shop.id, trx.uuid)).await;
        assert!(page.body.contains("https://tronscan.example/#/transaction/"), "{}", page.body);
        let keys = r.node.api_keys();
        assert!(!keys.is_empty() && keys.iter().all(|k| k.as_deref() == Some("test-api-key")));
        r.books_balance().await;
    }
);

engine_test!(
    async fn a_reorganisation_takes_a_tron_credit_back_and_re_mining_counts_once(engine) {
        let mut r = Rig::new(engine).await;
        let inv = r.invoice("USDT_TRC20", 30.0).await;
        r.node.mine(vec![r.usdt_to(&inv, due(&inv))]);
        r.node.mine_empty(2);
        r.watcher.step().await.unwrap();
        assert_eq!(r.row(&inv).await.processing, due(&inv), "seen, short of confirmations");

        // The node switches to a branch without those three blocks (longer, and empty).
        let dropped = r.node.reorg(3);
        assert_eq!(dropped.len(), 1);
        r.node.mine_empty(4);
        r.watcher.step().await.unwrap();
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.processing, row.received), (Status::Created, Amount::ZERO, Amount::ZERO));

        // Mined again (another block, the same transfer): counted once.
        r.paid(dropped).await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received), (Status::Paid, due(&inv)));
        let mut c = r.app.state.db.conn().await.unwrap();
        let live: Vec<_> = store::transfers_of(&mut c, inv.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.block_height.is_some())
            .collect();
        assert_eq!(live.len(), 1);
        drop(c);
        r.books_balance().await;
    }
);

engine_test!(
    async fn a_token_with_other_decimals_than_the_catalogue_stops_the_tron_watcher(engine) {
        let node = FakeTron::start().await;
        let wrong = node.deploy_token(18);
        let mnemonic = Mnemonic::generate().unwrap();
        let xpub = EvmHotWallet::from_mnemonic_of(KeccakCoin::Tron, &mnemonic, "")
            .unwrap()
            .watch_only()
            .account_xpub();
        let url = node.url.clone();
        let app = TestApp::spawn_with(engine, |s| {
            configure(s, &url, &[("USDT", &wrong)]);
            s.chains.tron.xpub = xpub.clone();
        })
        .await;
        let chain = app.state.chains.get(&TRC20).unwrap().clone();
        let mut watcher = Watcher::new(app.state.ctx.clone(), chain);
        match watcher.step().await {
            Err(WatchError::Node(ChainError::Token { code, problem, .. })) => {
                assert_eq!(code, "USDT_TRC20");
                assert!(problem.contains("18 decimals"), "{problem}");
            }
            other => panic!("expected the token refused, got {other:?}"),
        }
    }
);

/// The source against a real node when `KASSA_TEST_TRON_URL` names one (the public Nile
/// testnet: `https://nile.trongrid.io`), with Nile's USDT contract: its decimals check, the
/// tip, and a recent block read whole. Skipped otherwise.
#[tokio::test]
async fn the_tron_source_reads_a_real_node_when_one_is_named() {
    let Ok(url) = std::env::var("KASSA_TEST_TRON_URL") else {
        eprintln!("SKIPPED: KASSA_TEST_TRON_URL is not set (e.g. https://nile.trongrid.io)");
        return;
    };
    let usdt = std::env::var("KASSA_TEST_TRON_USDT")
        .unwrap_or_else(|_| "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf".to_owned());
    let contract = kassa_chain::address::tron::decode(&usdt).unwrap();
    let api = kassa_chain::watch::tron::TronApi::new(
        &url,
        std::env::var("KASSA_TEST_TRON_API_KEY").ok(),
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    let source = kassa_chain::watch::tron::TronSource::new(
        &TRC20,
        api,
        vec![kassa_chain::watch::evm::Token {
            contract,
            currency: kassa_core::currency::crypto("USDT_TRC20").unwrap(),
        }],
    )
    .unwrap();
    source.check().await.unwrap();
    let tip = source.tip().await.unwrap();
    let block = source.block_at(tip.height - 20).await.unwrap().unwrap();
    assert_eq!(block.height, tip.height - 20);
    assert_eq!(
        source.hash_at(block.height - 1).await.unwrap().as_deref(),
        Some(block.parent.as_str())
    );

    // With `KASSA_TEST_TRON_OWNER` (a Nile account on chain holding TRX): the real node's
    // prices, balances and energy estimate are read, and the transactions it builds for a
    // TRX and a USDT transfer are read back and accepted as Kassa meant them. Nothing is
    // signed or broadcast.
    let Ok(owner) = std::env::var("KASSA_TEST_TRON_OWNER") else {
        eprintln!("SKIPPED (building): KASSA_TEST_TRON_OWNER is not set");
        return;
    };
    use kassa_chain::spend::tron::{Intent, accept_built};
    let node = kassa_chain::spend::tron_node::TronNode::new(
        kassa_chain::watch::tron::TronApi::new(
            &url,
            std::env::var("KASSA_TEST_TRON_API_KEY").ok(),
            std::time::Duration::from_secs(30),
        )
        .unwrap(),
    );
    let prices = node.prices().await.unwrap();
    assert!(prices.per_byte > 0 && prices.per_energy > 0 && prices.new_account > 0);
    assert!(
        node.account(&owner).await.unwrap().is_some(),
        "{owner} is on chain"
    );
    node.token_balance(&usdt, &owner).await.unwrap();
    let to = kassa_chain::address::tron::encode(&[0x11; 20]);
    let energy = node.transfer_energy(&owner, &usdt, &to, 1).await.unwrap();
    assert!(energy > 0);
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let owner20 = kassa_chain::address::tron::decode(&owner).unwrap();
    let to20 = kassa_chain::address::tron::decode(&to).unwrap();
    let built = node.build_transfer(&owner, &to, 1).await.unwrap();
    let meant = Intent::Trx {
        owner: owner20,
        to: to20,
        sun: 1,
    };
    accept_built(&built, &meant, now_ms).unwrap();
    let fee_limit = i64::try_from(kassa_service::sweeps::tron_fee_limit(&prices, energy)).unwrap();
    let built = node
        .build_token_transfer(&owner, &usdt, &to, 1, fee_limit)
        .await
        .unwrap();
    let meant = Intent::Trc20 {
        owner: owner20,
        contract,
        to: to20,
        amount: 1,
        fee_limit,
    };
    accept_built(&built, &meant, now_ms).unwrap();
}
