//! Ethereum live, end to end, against a real `anvil`: the network configured as an operator
//! configures it (`[chains.eth]` with a watch-only key and a token allowlist), invoices made
//! through the API at the wallet's BIP44 addresses, and the watcher crediting ETH paid
//! directly and through a contract call, USDT (6 decimals) exactly, partly then topped up, and
//! DAI (18 decimals) overpaid — never a same-symbol token at another address, which the
//! invoice page lists as ignored. A reorganisation takes a credit back and the same
//! transaction mined again credits once; a node on another chain id, or a token contract with
//! other decimals than the catalogue's, is refused; 50 blocks behind are caught up without a
//! miss.

use std::sync::Arc;

use kassa_chain::hd::Mnemonic;
use kassa_chain::hd::evm::EvmHotWallet;
use kassa_chain::watch::ChainError;
use kassa_core::currency::{self, ERC20};
use kassa_core::invoice::Status;
use kassa_core::money::Amount;
use kassa_server::config::{Settings, TokenList};
use kassa_service::chains::LiveChain;
use kassa_service::watcher::{WatchError, Watcher};
use kassa_store::invoices::{self as store, InvoiceRow, TransferState};
use kassa_store::ledger::{self, Kind};
use serde_json::{Value, json};

use crate::engine_test;
use crate::support::TestApp;
use crate::support::anvil::{Anvil, anvil_skipped};
use crate::support::api::{self, Shop, shop};

/// anvil's default chain id.
const CHAIN_ID: u64 = 31_337;

/// The tokens the test deploys: (symbol, decimals).
const USDT: (&str, u8) = ("USDT", 6);
const DAI: (&str, u8) = ("DAI", 18);

fn configure(s: &mut Settings, url: &str, chain_id: u64, xpub: &str, tokens: &[(&str, &str)]) {
    s.chains.eth.rpc_url = url.into();
    s.chains.eth.chain_id = chain_id;
    s.chains.eth.confirmations = 2;
    // The tests drive the watcher (and sweeps) themselves; the app's own watcher does one
    // round at start and then sleeps, so it never races them for a block.
    s.chains.eth.poll_interval_ms = 60_000;
    s.chains.eth.xpub = xpub.into();
    s.chains.eth.explorer = "https://scan.example/tx/{txid}".into();
    s.chains.eth.tokens = TokenList(
        tokens
            .iter()
            .map(|(sym, c)| ((*sym).to_owned(), (*c).to_owned()))
            .collect(),
    );
}

/// A node with the tokens deployed, an app taking live ETH, USDT and DAI on it at a
/// watch-only wallet, a live shop, and the network's watcher.
struct Rig {
    node: Anvil,
    payer: String,
    usdt: String,
    dai: String,
    /// Another contract calling itself USDT, with 6 decimals too.
    fake_usdt: String,
    wallet: EvmHotWallet,
    app: TestApp,
    shop: Shop,
    chain: Arc<LiveChain>,
    watcher: Watcher,
}

impl Rig {
    async fn new(engine: kassa_store::Engine) -> Rig {
        let node = Anvil::start(CHAIN_ID).await;
        let payer = node.accounts().await.remove(0);
        let usdt = node
            .deploy_token(&payer, USDT.0, USDT.1, 10u128.pow(15))
            .await;
        let dai = node
            .deploy_token(&payer, DAI.0, DAI.1, 10u128.pow(30))
            .await;
        let fake_usdt = node
            .deploy_token(&payer, USDT.0, USDT.1, 10u128.pow(15))
            .await;
        let wallet = EvmHotWallet::from_mnemonic(&Mnemonic::generate().unwrap(), "").unwrap();
        let xpub = wallet.watch_only().account_xpub();
        let (url, tokens) = (
            node.url.clone(),
            [("USDT", usdt.clone()), ("DAI", dai.clone())],
        );
        let app = TestApp::spawn_with(engine, |s| {
            let t: Vec<(&str, &str)> = tokens.iter().map(|(a, b)| (*a, b.as_str())).collect();
            configure(s, &url, CHAIN_ID, &xpub, &t);
        })
        .await;
        let chain = app
            .state
            .chains
            .get(&ERC20)
            .expect("ETH takes live payments")
            .clone();
        let shop = shop(&app, "owner@eth.example", "").await;
        shop.go_live(&app).await;
        app.first_watcher_round("ERC20").await;
        let mut watcher = Watcher::new(app.state.ctx.clone(), chain.clone());
        watcher.step().await.unwrap();
        Rig {
            node,
            payer,
            usdt,
            dai,
            fake_usdt,
            wallet,
            app,
            shop,
            chain,
            watcher,
        }
    }

    /// A live invoice of `usd` in `code`, through the API.
    async fn invoice(&self, code: &str, usd: f64) -> InvoiceRow {
        let r = self
            .shop
            .create(usd, json!({"add_fields": {"cryptocurrency": code}}))
            .await;
        assert_eq!(r["test_mode"], false);
        api::stored_invoice(&self.app, r["uuid"].as_str().unwrap()).await
    }

    async fn row(&self, inv: &InvoiceRow) -> InvoiceRow {
        store::by_id(&mut self.app.state.db.conn().await.unwrap(), inv.id)
            .await
            .unwrap()
    }

    /// Pays `amount` of the token at `contract` to `inv`.
    async fn pay_token(&self, contract: &str, inv: &InvoiceRow, amount: Amount) -> Value {
        self.node
            .token_transfer(
                contract,
                &self.payer,
                inv.address.as_deref().unwrap(),
                amount.base(),
            )
            .await
    }

    async fn step(&mut self) -> kassa_service::watcher::Round {
        self.watcher.step().await.unwrap()
    }

    /// Mines `n` blocks and lets the watcher read them.
    async fn confirm(&mut self, n: u64) {
        self.node.mine(n).await;
        self.step().await;
    }

    /// The merchant's (pending, available) balance in `code`.
    async fn balances(&self, inv: &InvoiceRow, code: &str) -> (Amount, Amount) {
        let b = ledger::balances(
            &mut self.app.state.db.conn().await.unwrap(),
            inv.merchant_id,
        )
        .await
        .unwrap();
        let get = |k: Kind| {
            b.get(&(k, code.to_owned()))
                .copied()
                .unwrap_or(Amount::ZERO)
        };
        (get(Kind::MerchantPending), get(Kind::MerchantAvailable))
    }

    async fn books_balance(&self) {
        let mut c = self.app.state.db.conn().await.unwrap();
        assert!(
            ledger::verify(&mut c).await.unwrap().is_empty(),
            "every account equals the sum of its entries"
        );
    }
}

fn due(inv: &InvoiceRow) -> Amount {
    inv.quote.as_ref().expect("quote").due
}

engine_test!(
    async fn eth_and_tokens_pay_live_invoices_and_look_alikes_never_count(engine) {
        if anvil_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        assert_eq!(
            r.chain.currencies.iter().map(|c| c.code).collect::<Vec<_>>(),
            ["ETH", "USDT_ERC20", "DAI_ERC20"],
            "the coin and the allowlist"
        );
        assert!(r.app.state.pricing.live_crypto(currency::crypto("USDT_ERC20").unwrap()));
        assert!(!r.app.state.pricing.live_crypto(currency::crypto("USDC_ERC20").unwrap()));

        // ETH, exactly: the wallet's first BIP44 address, counted at two confirmations.
        let eth = r.invoice("ETH", 10.0).await;
        assert_eq!(eth.address.as_deref(), Some(r.wallet.watch_only().address(0).unwrap().as_str()));
        let wei = due(&eth);
        r.node.send_native(&r.payer, eth.address.as_deref().unwrap(), wei.base()).await;
        r.step().await;
        let row = r.row(&eth).await;
        assert_eq!((row.status, row.processing), (Status::Created, wei), "one confirmation of two");
        r.confirm(1).await;
        let row = r.row(&eth).await;
        assert_eq!((row.status, row.received), (Status::Paid, wei));

        // USDT exactly (6 decimals).
        let exact = r.invoice("USDT_ERC20", 25.0).await;
        let d = due(&exact);
        let exact_tx = r.pay_token(&r.usdt.clone(), &exact, d).await["transactionHash"]
            .as_str()
            .unwrap()
            .to_owned();
        r.confirm(1).await;
        let row = r.row(&exact).await;
        assert_eq!((row.status, row.received), (Status::Paid, d));

        // USDT partly, then topped up.
        let partial = r.invoice("USDT_ERC20", 40.0).await;
        let d = due(&partial);
        let part = Amount::from_base(d.base() / 3);
        r.pay_token(&r.usdt.clone(), &partial, part).await;
        r.confirm(1).await;
        assert_eq!(r.row(&partial).await.status, Status::Partial);
        r.pay_token(&r.usdt.clone(), &partial, d.checked_sub(part).unwrap()).await;
        r.confirm(1).await;
        let row = r.row(&partial).await;
        assert_eq!((row.status, row.received), (Status::Paid, d));

        // DAI (18 decimals) overpaid by one wei-sized unit and a half.
        let over = r.invoice("DAI_ERC20", 15.0).await;
        let d = due(&over);
        let paid = d.checked_add(Amount::from_base(1_500_000_000_000_000_001)).unwrap();
        r.pay_token(&r.dai.clone(), &over, paid).await;
        r.confirm(1).await;
        let row = r.row(&over).await;
        assert_eq!((row.status, row.received), (Status::Overpaid, paid));

        // The look-alike: same symbol, same decimals, another contract. Never credited; the
        // invoice page says what came and why it did not count.
        let fooled = r.invoice("USDT_ERC20", 20.0).await;
        let receipt = r.pay_token(&r.fake_usdt.clone(), &fooled, due(&fooled)).await;
        r.confirm(3).await;
        let row = r.row(&fooled).await;
        assert_eq!((row.status, row.received, row.processing), (Status::Created, Amount::ZERO, Amount::ZERO));
        let mut c = r.app.state.db.conn().await.unwrap();
        assert!(store::transfers_of(&mut c, fooled.id).await.unwrap().is_empty());
        let ignored = kassa_store::ignored::of_invoice(&mut c, fooled.id).await.unwrap();
        drop(c);
        assert_eq!(ignored.len(), 1);
        assert_eq!(ignored[0].txid, receipt["transactionHash"].as_str().unwrap());
        assert_eq!(ignored[0].amount, Some(due(&fooled)));
        assert_eq!(
            ignored[0].contract.to_ascii_lowercase(),
            r.fake_usdt.to_ascii_lowercase()
        );
        let s = crate::support::accounts::sign_in(&r.app, "owner@eth.example").await;
        // The operator's explorer links the transaction.
        let page = s.get(&format!("/projects/{}/invoices/{}", r.shop.id, exact.uuid)).await;
        assert!(page.body.contains(&format!("href=\"https://scan.example/tx/{exact_tx}\"")), "{}", page.body);
        let page = s.get(&format!("/projects/{}/invoices/{}", r.shop.id, fooled.uuid)).await;
        let html = crate::support::web::unescape(&page.body);
        assert!(html.contains("id=\"ignored-transfers\""), "{html}");
        assert!(html.contains(&ignored[0].txid) && html.contains(&ignored[0].contract), "{html}");
        assert!(html.contains(&format!("{} base units of the token at", due(&fooled))), "{html}");
        // The invoice paid in real USDT: a checksummed payment link naming the contract and
        // the development chain's id.
        let pay = s.get(&format!("/pay/{}", fooled.uuid)).await;
        let html = pay.body.replace("&#38;", "&");
        let contract = kassa_chain::address::evm::encode(
            &kassa_chain::address::evm::decode(&r.usdt.to_ascii_lowercase()).unwrap(),
        );
        let uri = format!(
            "ethereum:{contract}@{CHAIN_ID}/transfer?address={}&uint256={}",
            fooled.address.as_deref().unwrap(),
            due(&fooled)
        );
        assert!(
            html.contains(&format!("href=\"{uri}\"")),
            "{html}"
        );

        // Counted and settled: nothing pending, in every currency paid; the books balance.
        for code in ["ETH", "USDT_ERC20", "DAI_ERC20"] {
            let (pending, available) = r.balances(&eth, code).await;
            assert_eq!(pending, Amount::ZERO, "{code}");
            assert!(available > Amount::ZERO, "{code}");
        }
        r.books_balance().await;
    }
);

engine_test!(
    async fn eth_sent_by_a_contract_call_is_credited(engine) {
        if anvil_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let forwarder = r.node.deploy_forwarder(&r.payer).await;
        let inv = r.invoice("ETH", 30.0).await;
        let address = inv.address.clone().unwrap();
        let wei = due(&inv);

        // Half through the contract (no transfer in the block names the address), the rest
        // directly in a later block.
        let half = Amount::from_base(wei.base() / 2);
        let receipt = r.node.forward(&forwarder, &r.payer, &address, half.base()).await;
        let block = Anvil::block_of(&receipt);
        r.step().await;
        r.confirm(1).await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received), (Status::Partial, half));
        let mut c = r.app.state.db.conn().await.unwrap();
        let t = store::transfers_of(&mut c, inv.id).await.unwrap();
        drop(c);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].block_height, Some(i64::try_from(block).unwrap()));
        assert_eq!(
            Some(t[0].txid.as_str()),
            receipt["blockHash"].as_str(),
            "known by the block that holds it"
        );
        r.node
            .send_native(&r.payer, &address, wei.checked_sub(half).unwrap().base())
            .await;
        r.confirm(1).await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received), (Status::Paid, wei));

        // Later blocks find the same balance: nothing more is counted.
        r.confirm(3).await;
        assert_eq!(r.row(&inv).await.received, wei);
        r.books_balance().await;
    }
);

engine_test!(
    async fn a_reorganisation_takes_a_credit_back_and_the_transaction_mined_again_counts_once(engine) {
        if anvil_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let inv = r.invoice("USDT_ERC20", 50.0).await;
        let d = due(&inv);
        let receipt = r.pay_token(&r.usdt.clone(), &inv, d).await;
        let txid = receipt["transactionHash"].as_str().unwrap().to_owned();
        let raw = r.node.call("eth_getRawTransactionByHash", json!([txid])).await;
        r.confirm(1).await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received), (Status::Paid, d));
        let (_, credited) = r.balances(&inv, "USDT_ERC20").await;
        assert!(credited > Amount::ZERO);

        // The payment's block and the one after leave the chain; a longer chain without it.
        r.node.call("anvil_rollback", json!([2])).await;
        r.node.mine(3).await;
        let round = r.step().await;
        assert!(round.rolled_back >= 2, "{round:?}");
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received), (Status::Created, Amount::ZERO), "taken back");
        assert_eq!(r.balances(&inv, "USDT_ERC20").await, (Amount::ZERO, Amount::ZERO));
        let mut c = r.app.state.db.conn().await.unwrap();
        let t = store::transfers_of(&mut c, inv.id).await.unwrap();
        assert_eq!(t[0].state, TransferState::Orphaned);
        drop(c);
        r.books_balance().await;

        // The very transaction mined again: the same transfer, counted once.
        let again = r.node.call("eth_sendRawTransaction", json!([raw])).await;
        assert_eq!(again.as_str(), Some(txid.as_str()));
        r.node.mine(1).await;
        r.confirm(1).await;
        let row = r.row(&inv).await;
        assert_eq!((row.status, row.received), (Status::Paid, d));
        assert_eq!(r.balances(&inv, "USDT_ERC20").await.1, credited);
        let mut c = r.app.state.db.conn().await.unwrap();
        let t = store::transfers_of(&mut c, inv.id).await.unwrap();
        assert_eq!(t.len(), 1, "one transfer, not two");
        assert_eq!(t[0].state, TransferState::Confirmed);
        drop(c);
        r.books_balance().await;
    }
);

engine_test!(
    async fn fifty_blocks_behind_are_caught_up_without_a_miss(engine) {
        if anvil_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let mut invoices = Vec::new();
        for i in 0..5u32 {
            let code = if i % 2 == 0 { "USDT_ERC20" } else { "ETH" };
            invoices.push(r.invoice(code, 10.0 + f64::from(i)).await);
        }
        // Paid while the watcher is not looking, spread over 50 blocks.
        for inv in &invoices {
            if inv.currency.as_deref() == Some("ETH") {
                r.node
                    .send_native(&r.payer, inv.address.as_deref().unwrap(), due(inv).base())
                    .await;
            } else {
                r.pay_token(&r.usdt.clone(), inv, due(inv)).await;
            }
            r.node.mine(9).await;
        }
        let round = r.step().await;
        assert_eq!(round.blocks, 50);
        for inv in &invoices {
            let row = r.row(inv).await;
            assert_eq!((row.status, row.received), (Status::Paid, due(inv)), "{:?}", inv.currency);
        }
        r.books_balance().await;
    }
);

engine_test!(
    async fn a_node_on_another_chain_or_a_token_with_other_decimals_is_refused(engine) {
        if anvil_skipped() {
            return;
        }
        let node = Anvil::start(CHAIN_ID).await;
        let payer = node.accounts().await.remove(0);
        let dai = node.deploy_token(&payer, DAI.0, DAI.1, 10u128.pow(30)).await;
        let xpub = EvmHotWallet::from_mnemonic(&Mnemonic::generate().unwrap(), "")
            .unwrap()
            .watch_only()
            .account_xpub();

        // The configuration says Ethereum itself (chain id 1); the node is anvil's.
        let url = node.url.clone();
        let app = TestApp::spawn_with(engine, |s| configure(s, &url, 1, &xpub, &[])).await;
        let chain = app.state.chains.get(&ERC20).unwrap().clone();
        let mut w = Watcher::new(app.state.ctx.clone(), chain);
        let e = w.step().await.unwrap_err();
        assert!(
            matches!(e, WatchError::Node(ChainError::WrongChain { .. })),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "the node is on the chain id 31337 chain, but the configuration says chain id 1"
        );
        let ready = app.get("/readyz").await;
        let body = ready.text().await.unwrap();
        assert!(body.contains("chain id 31337"), "{body}");
        let mut c = app.state.db.conn().await.unwrap();
        assert!(kassa_store::chain::cursor(&mut c, "ERC20").await.unwrap().is_none(), "nothing read");
        drop(c);
        app.stop().await;

        // USDT (6 decimals in the catalogue) allowlisted at an 18-decimal contract.
        let tdb = crate::support::TestDb::new(engine).await;
        let app = TestApp::spawn_on(tdb, |s| {
            configure(s, &url, CHAIN_ID, &xpub, &[("USDT", dai.as_str())]);
        })
        .await;
        let chain = app.state.chains.get(&ERC20).unwrap().clone();
        let mut w = Watcher::new(app.state.ctx.clone(), chain);
        let e = w.step().await.unwrap_err().to_string();
        assert!(
            e.contains("the USDT_ERC20 contract") && e.contains("it has 18 decimals, but USDT_ERC20 has 6"),
            "{e}"
        );
        app.stop().await;
    }
);
