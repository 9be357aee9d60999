//! Sweeps against a real `anvil`, on both engines: a hot wallet's deposits — ETH, and USDT
//! after the treasury sends the exact gas — end in the treasury, the deposit addresses empty
//! (but for the gas refunded for clearing a token balance),
//! the treasury holding the sum less the fees, and the fees booked exactly (the coin's sweep
//! from custody to the operator's chain costs; the token's gas from the operator's float,
//! never from custody). A treasury without float makes the token sweep wait; a deposit whose
//! fee would be too large a share waits; a sweep stuck below the base fee is replaced with a
//! higher fee and counted once.

use std::sync::Arc;

use kassa_chain::Chain;
use kassa_chain::hd::Mnemonic;
use kassa_chain::hd::evm::EvmHotWallet;
use kassa_chain::rpc::RpcClient;
use kassa_chain::spend::evm_node::EvmNode;
use kassa_core::currency::ERC20;
use kassa_core::invoice::Status;
use kassa_core::time::Clock as _;
use kassa_server::config::{Settings, TokenList};
use kassa_service::chains::{self, LiveChain};
use kassa_service::sweeps::{self, SweepRound};
use kassa_service::watcher::Watcher;
use kassa_store::evm_txs::{self, EvmTxRow};
use kassa_store::invoices::InvoiceRow;
use kassa_store::ledger::{self, Kind};
use serde_json::json;

use crate::engine_test;
use crate::support::anvil::{Anvil, anvil_skipped};
use crate::support::api::{self, Shop, shop};
use crate::support::{TestApp, TestDb};

const CHAIN_ID: u64 = 31_337;
pub(crate) const ONE_ETH: u128 = 1_000_000_000_000_000_000;
const GWEI: u128 = 1_000_000_000;
/// The owner of the rig's shop.
pub(crate) const OWNER: &str = "owner@sweeps.example";

fn configure(s: &mut Settings, url: &str, usdt: &str) {
    s.chains.eth.rpc_url = url.into();
    s.chains.eth.chain_id = CHAIN_ID;
    s.chains.eth.confirmations = 2;
    // The tests drive the watcher (and sweeps) themselves; the app's own watcher does one
    // round at start and then sleeps, so it never races them for a block.
    s.chains.eth.poll_interval_ms = 60_000;
    s.chains.eth.tokens = TokenList([("USDT".to_owned(), usdt.to_owned())].into());
}

/// anvil, a USDT contract, an app whose ETH network has a hot wallet, a live shop and the
/// watcher.
pub(crate) struct Rig {
    pub(crate) node: Anvil,
    pub(crate) evm: EvmNode,
    pub(crate) payer: String,
    pub(crate) usdt: String,
    pub(crate) treasury: String,
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
        let node = Anvil::start(CHAIN_ID).await;
        let payer = node.accounts().await.remove(0);
        let usdt = node.deploy_token(&payer, "USDT", 6, 10u128.pow(15)).await;
        let (url, contract) = (node.url.clone(), usdt.clone());
        // `kassa wallet init eth`, from a phrase known here.
        let mnemonic = Mnemonic::generate().unwrap();
        let tdb = TestDb::new(engine).await;
        {
            let mut s = crate::support::app::test_settings(&tdb);
            configure(&mut s, &url, &contract);
            let st = kassa_server::state::AppState::open(
                s,
                Arc::new(kassa_core::time::SystemClock),
                "http://127.0.0.1".into(),
            )
            .await
            .unwrap();
            let now = kassa_core::time::SystemClock.now();
            chains::create_hot_wallet(&st.db, &st.keyring, &ERC20, Chain::Regtest, &mnemonic, now)
                .await
                .unwrap();
            st.db.close().await;
        }
        let app = TestApp::spawn_on(tdb, move |s| {
            configure(s, &url, &contract);
            adjust(s);
        })
        .await;
        let chain = app.state.chains.get(&ERC20).unwrap().clone();
        assert!(sweeps::sweeps(&chain), "a hot wallet sweeps");
        let treasury = EvmHotWallet::from_mnemonic(&mnemonic, "")
            .unwrap()
            .watch_only()
            .treasury_address()
            .unwrap();
        let shop = shop(&app, OWNER, "").await;
        shop.go_live(&app).await;
        app.first_watcher_round("ERC20").await;
        let mut watcher = Watcher::new(app.state.ctx.clone(), chain.clone());
        watcher.step().await.unwrap();
        let evm = EvmNode::new(
            RpcClient::json_rpc_2(&node.url, std::time::Duration::from_secs(10)).unwrap(),
        );
        Rig {
            node,
            evm,
            payer,
            usdt,
            treasury,
            app,
            shop,
            chain,
            watcher,
        }
    }

    /// A live invoice of `usd` in `code`, paid exactly and counted.
    pub(crate) async fn paid(&mut self, code: &str, usd: f64) -> InvoiceRow {
        let r = self
            .shop
            .create(usd, json!({"add_fields": {"cryptocurrency": code}}))
            .await;
        let inv = api::stored_invoice(&self.app, r["uuid"].as_str().unwrap()).await;
        let due = inv.quote.as_ref().unwrap().due.base();
        let to = inv.address.clone().unwrap();
        if code == "ETH" {
            self.node.send_native(&self.payer, &to, due).await;
        } else {
            self.node
                .token_transfer(&self.usdt, &self.payer, &to, due)
                .await;
        }
        self.node.mine(2).await;
        self.watcher.step().await.unwrap();
        let row = api::stored_invoice(&self.app, &inv.uuid).await;
        assert_eq!(row.status, Status::Paid, "{code}");
        row
    }

    pub(crate) async fn sweep(&self) -> SweepRound {
        sweeps::round(&self.app.state.ctx, &self.chain)
            .await
            .unwrap()
    }

    pub(crate) async fn eth(&self, address: &str) -> u128 {
        self.evm.balance(address).await.unwrap()
    }

    pub(crate) async fn usdt_of(&self, address: &str) -> u128 {
        self.evm.token_balance(&self.usdt, address).await.unwrap()
    }

    pub(crate) async fn txs(&self) -> Vec<EvmTxRow> {
        let mut c = self.app.state.db.conn().await.unwrap();
        let mut rows = evm_txs::recent(&mut c, "ERC20", 100).await.unwrap();
        rows.reverse();
        rows
    }

    pub(crate) async fn operator(&self, kind: Kind, code: &str) -> u128 {
        let mut c = self.app.state.db.conn().await.unwrap();
        ledger::operator_balance(&mut c, kind, code)
            .await
            .unwrap()
            .base()
    }

    pub(crate) async fn books_balance(&self) {
        let mut c = self.app.state.db.conn().await.unwrap();
        assert!(ledger::verify(&mut c).await.unwrap().is_empty());
    }
}

pub(crate) fn due(inv: &InvoiceRow) -> u128 {
    inv.quote.as_ref().unwrap().due.base()
}

pub(crate) fn fee(row: &EvmTxRow) -> u128 {
    row.fee_paid.expect("mined").base()
}

engine_test!(
    async fn eth_and_usdt_deposits_end_in_the_treasury_with_the_fees_booked_exactly(engine) {
        if anvil_skipped() {
            return;
        }
        let sink = crate::support::smtp::SmtpSink::start().await;
        let url = sink.url();
        let mut r = Rig::new_with(engine, move |s| {
            s.mail.smtp_url = kassa_core::secret::SecretString::new(url.clone());
            s.notifications.operator_emails = "ops@example.com".into();
        })
        .await;
        let eth_inv = r.paid("ETH", 50.0).await;
        let usdt_inv = r.paid("USDT_ERC20", 40.0).await;
        let (eth_at, usdt_at) = (eth_inv.address.clone().unwrap(), usdt_inv.address.clone().unwrap());
        assert_eq!(r.operator(Kind::Custody, "ETH").await, due(&eth_inv));

        // No float in the treasury: the coin is swept, the token waits for gas.
        let round = r.sweep().await;
        assert_eq!((round.sent, round.short_of_gas), (1, true), "{round:?}");
        assert_eq!(r.usdt_of(&usdt_at).await, due(&usdt_inv), "still there");
        // The operator is told once, with what to send where; not again while it lasts.
        let mut told = false;
        for _ in 0..2 {
            sweeps::tell_operator(&r.app.state.ctx, &r.chain, &round, &mut told).await.unwrap();
        }
        r.app.drain_jobs().await;
        let letters = sink.to("ops@example.com");
        assert_eq!(letters.len(), 1);
        assert!(letters[0].subject.contains("short of gas") && letters[0].text.contains(&r.treasury), "{}", letters[0].text);

        // The operator puts 1 ETH of float in the treasury: the gas goes to the token's
        // deposit address, then the token follows. Rounds go on until all is confirmed.
        r.node.send_native(&r.payer, &r.treasury, ONE_ETH).await;
        let mut total = SweepRound::default();
        for _ in 0..8 {
            let round = r.sweep().await;
            assert!(!round.short_of_gas, "{round:?}");
            total.sent += round.sent;
            total.confirmed += round.confirmed;
            total.replaced += round.replaced;
            r.node.mine(1).await;
        }
        assert_eq!((total.sent, total.confirmed, total.replaced), (2, 3, 0), "{total:?}");
        sweeps::tell_operator(&r.app.state.ctx, &r.chain, &SweepRound::default(), &mut told).await.unwrap();
        assert!(!told, "well again: a new shortage is told again");
        let txs = r.txs().await;
        assert_eq!(r.sweep().await, SweepRound::default(), "nothing left to do");
        // The watcher reads the sweeps' blocks: the gas sent to a deposit address is no
        // payment.
        r.watcher.step().await.unwrap();
        let mut c = r.app.state.db.conn().await.unwrap();
        let transfers = kassa_store::invoices::transfers_of(&mut c, usdt_inv.id).await.unwrap();
        drop(c);
        assert_eq!(transfers.len(), 1, "{transfers:?}");
        assert_eq!(api::stored_invoice(&r.app, &usdt_inv.uuid).await.received, usdt_inv.received);

        assert_eq!(txs.len(), 3);
        assert!(txs.iter().all(|t| t.state == "confirmed"), "{txs:?}");
        let (coin, gas, token) = (&txs[0], &txs[1], &txs[2]);
        assert_eq!((coin.purpose.as_str(), coin.currency.as_str()), ("sweep", "ETH"));
        assert_eq!((gas.purpose.as_str(), gas.recipient.as_str()), ("gas", usdt_at.as_str()));
        assert_eq!((token.purpose.as_str(), token.currency.as_str()), ("sweep", "USDT_ERC20"));

        // The deposit addresses are empty.
        assert_eq!(r.eth(&eth_at).await, 0, "the coin's sweep leaves nothing");
        assert_eq!(r.usdt_of(&usdt_at).await, 0);
        // The token's deposit keeps only the gas refunded for clearing its balance (EIP-3529:
        // 4,800 gas at the price paid), which the next sweep from it uses first.
        let refund = gas.amount.base() - fee(token);
        assert_eq!(r.eth(&usdt_at).await, refund);
        assert_eq!(refund, 4_800 * token.max_fee, "the refund, nothing else");
        // The treasury holds the sums less the fees.
        assert_eq!(coin.amount.base(), due(&eth_inv) - fee(coin));
        assert_eq!(r.usdt_of(&r.treasury).await, due(&usdt_inv));
        assert_eq!(
            r.eth(&r.treasury).await,
            ONE_ETH + due(&eth_inv) - fee(coin) - gas.amount.base() - fee(gas)
        );
        assert_eq!(gas.amount.base(), u128::from(token.gas_limit) * token.max_fee, "the top-up is the gas at its price");
        // Booked: the coin's gas out of custody to the operator's costs; the token's gas was
        // the operator's own float, so custody of USDT and ETH is what the chain holds for
        // merchants.
        assert_eq!(r.operator(Kind::ChainCosts, "ETH").await, fee(coin));
        assert_eq!(r.operator(Kind::Custody, "ETH").await, due(&eth_inv) - fee(coin));
        assert_eq!(r.operator(Kind::Custody, "USDT_ERC20").await, due(&usdt_inv));
        r.books_balance().await;
    }
);

engine_test!(
    async fn a_sweep_waits_while_fees_are_high_and_a_stuck_one_is_replaced(engine) {
        if anvil_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let inv = r.paid("ETH", 50.0).await;
        let at = inv.address.clone().unwrap();

        // Base fee at 200 gwei: the fee would be more than 5% of the deposit — it waits.
        r.node.call("anvil_setNextBlockBaseFeePerGas", json!([format!("0x{:x}", 200 * GWEI)])).await;
        r.node.mine(1).await;
        let round = r.sweep().await;
        assert_eq!((round.sent, round.waiting), (0, 1), "{round:?}");

        // Fees back down; the sweep is sent but blocks stop taking it: no automatic mining,
        // and the next blocks' base fee jumps above its price.
        r.node.call("anvil_setNextBlockBaseFeePerGas", json!(["0x3b9aca00"])).await;
        r.node.mine(1).await;
        r.node.call("evm_setAutomine", json!([false])).await;
        let round = r.sweep().await;
        assert_eq!(round.sent, 1, "{round:?}");
        let stuck = r.txs().await.remove(0);
        r.node.call("anvil_setNextBlockBaseFeePerGas", json!([format!("0x{:x}", 40 * GWEI)])).await;
        r.node.mine(1).await;
        let round = r.sweep().await;
        assert_eq!((round.sent, round.replaced), (0, 0), "not stuck long enough: {round:?}");
        r.node.mine(2).await;
        assert_eq!(r.evm.receipt(&stuck.txid).await.unwrap(), None, "still not mined");

        // Stuck for three blocks: replaced at a higher price, same nonce.
        let round = r.sweep().await;
        assert_eq!((round.sent, round.replaced), (1, 1), "{round:?}");
        let txs = r.txs().await;
        let replacement = txs[1].clone();
        assert_eq!(replacement.nonce, stuck.nonce);
        assert!(replacement.max_fee > stuck.max_fee * 5 / 4, "{} vs {}", replacement.max_fee, stuck.max_fee);
        r.node.mine(1).await;
        let round = r.sweep().await;
        assert_eq!(round.dropped, 1, "the stuck one can never be mined now: {round:?}");
        r.node.mine(1).await;
        let round = r.sweep().await;
        assert_eq!(round.confirmed, 1, "{round:?}");

        let txs = r.txs().await;
        assert_eq!(
            txs.iter().map(|t| t.state.as_str()).collect::<Vec<_>>(),
            ["dropped", "confirmed"]
        );
        assert_eq!(r.eth(&at).await, 0);
        assert_eq!(r.eth(&r.treasury).await, txs[1].amount.base());
        assert_eq!(txs[1].amount.base() + fee(&txs[1]), due(&inv));
        assert_eq!(r.operator(Kind::ChainCosts, "ETH").await, fee(&txs[1]), "one fee, the replacement's");
        assert_eq!(r.operator(Kind::Custody, "ETH").await, due(&inv) - fee(&txs[1]));
        r.books_balance().await;
    }
);

engine_test!(
    async fn top_ups_in_one_round_never_spend_more_than_the_float(engine) {
        if anvil_skipped() {
            return;
        }
        let mut r = Rig::new(engine).await;
        let a = r.paid("USDT_ERC20", 30.0).await;
        let b = r.paid("USDT_ERC20", 35.0).await;
        // Float for one top-up (gas of the token transfer and of the top-up itself at today's
        // price) and a half: not for two.
        let price = r.evm.fees().await.unwrap().all_in();
        let treasury = kassa_chain::address::evm::decode(&r.treasury.to_ascii_lowercase()).unwrap();
        let data = kassa_chain::spend::evm::erc20_transfer(&treasury, due(&a));
        let gas = r
            .evm
            .estimate_gas(a.address.as_deref().unwrap(), &r.usdt, &data)
            .await
            .unwrap();
        let one = (u128::from(gas) + 21_000) * price;
        r.node.send_native(&r.payer, &r.treasury, one * 3 / 2).await;
        // Nothing is mined during the round: the first top-up still shows in the treasury's
        // balance when the second is weighed.
        r.node.call("evm_setAutomine", json!([false])).await;
        let round = r.sweep().await;
        assert_eq!((round.sent, round.short_of_gas), (1, true), "{round:?}");
        let txs = r.txs().await;
        assert_eq!(txs.len(), 1);
        assert_eq!(txs[0].purpose, "gas");
        assert!([a.address.clone(), b.address.clone()].contains(&Some(txs[0].recipient.clone())));
    }
);
