//! One simulated world: a model network, the real services on a fresh SQLite database, a
//! merchant with a live project and a few invoices, and the watcher.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kassa_chain::Chain;
use kassa_chain::watch::model::{ModelChain, NodeView};
use kassa_chain::watch::{ChainError, DepositWallet};
use kassa_core::account::{Email, Role, UserStatus};
use kassa_core::currency::{self, Crypto, LTC_NET};
use kassa_core::invoice::Quote;
use kassa_core::secret::{Keyring, MasterKey};
use kassa_core::time::{Clock, ManualClock};
use kassa_core::{Amount, Decimal, InvoiceId, MerchantId, Timestamp};
use kassa_rates::{Rates, RatesConfig};
use kassa_service::auth::password::Passwords;
use kassa_service::chains::{Chains, LiveChain};
use kassa_service::config::{AccountSettings, MailSettings};
use kassa_service::heavy::Heavy;
use kassa_service::invoices::{self, NewInvoiceRequest, Price};
use kassa_service::metrics::Metrics;
use kassa_service::pricing::Pricing;
use kassa_service::watcher::Watcher;
use kassa_service::worker::JobWaker;
use kassa_service::{Ctx, ServiceConfig};
use kassa_store::invoices::TransferState;
use kassa_store::wallets::WalletKind;
use kassa_store::{DatabaseUrl, Db};
use rand::Rng;
use rand::rngs::StdRng;

/// Deposit addresses of the simulation: any text does, the model pays what it is told.
struct SimWallet;

impl DepositWallet for SimWallet {
    fn receive_address(&self, index: u32) -> Result<String, kassa_chain::hd::HdError> {
        Ok(format!("rltc1qsim{index:06}"))
    }
}

fn ltc() -> &'static Crypto {
    currency::crypto("LTC").expect("LTC")
}

/// One password hasher for every world (building one hashes once).
fn passwords() -> Passwords {
    static P: OnceLock<Passwords> = OnceLock::new();
    P.get_or_init(|| Passwords::new(1).expect("hasher")).clone()
}

/// An invoice of the world.
pub struct Invoice {
    pub id: InvoiceId,
    pub address: String,
    pub quote: Quote,
}

/// A database file in memory-backed storage when there is some, removed when dropped.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

pub struct World {
    seed: u64,
    pub ctx: Ctx,
    model: Arc<ModelChain>,
    watcher: Watcher,
    clock: Arc<ManualClock>,
    merchant: MerchantId,
    pub invoices: Vec<Invoice>,
    /// Payment transactions made so far (candidates for double spends and replacements).
    payments: Vec<String>,
    confirmations: u64,
    log: String,
    _db: TempDb,
}

fn dir() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// Ids of what the template database holds.
#[derive(Clone, Copy)]
struct Template {
    merchant: MerchantId,
    project: kassa_core::ProjectId,
}

/// The template database every world starts from (migrated, a merchant with a live project and
/// the network's wallet row), built once per process and copied: migrations are most of the
/// cost of a fresh database.
async fn template() -> (PathBuf, Template) {
    static T: tokio::sync::OnceCell<(PathBuf, Template)> = tokio::sync::OnceCell::const_new();
    T.get_or_init(|| async {
        let path = dir().join(format!(
            "kassa-sim-template-{}-{:08x}.db",
            std::process::id(),
            rand::random::<u32>()
        ));
        let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        let db = Db::connect(&url, 1).await.unwrap();
        kassa_store::migrate::run(&db).await.unwrap();
        let ctx = context(
            db.clone(),
            Arc::new(ManualClock::new(Timestamp::from_micros(T0))),
            Chains::none(),
        );
        let now = ctx.clock.now();
        let mut tx = db.begin().await.unwrap();
        let merchant = kassa_store::accounts::create_merchant(&mut tx, "Sim", now)
            .await
            .unwrap();
        let email = Email::parse("sim@kassa.invalid").unwrap();
        let user = kassa_store::accounts::insert_user(
            &mut tx,
            &kassa_store::accounts::NewUser {
                merchant_id: merchant,
                email: &email,
                name: "",
                password_hash: None,
                role: Role::Owner,
                status: UserStatus::Active,
                email_confirmed_at: Some(now),
                locale: kassa_core::lang::Lang::En,
                invited_by: None,
            },
            now,
        )
        .await
        .unwrap();
        // The network's wallet row: its counter hands out the deposit address indexes.
        kassa_store::wallets::insert(
            &mut tx,
            &kassa_store::wallets::NewWallet {
                network: LTC_NET.code,
                chain: "regtest",
                kind: WalletKind::Watch,
                sealed_mnemonic: None,
                account_xpub: "sim",
            },
            now,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let client = kassa_service::accounts::Client {
            ip: "sim".into(),
            user_agent: "sim".into(),
        };
        let mut settings = kassa_service::projects::default_settings("Sim");
        settings.currencies = vec!["LTC".into()];
        let created = kassa_service::projects::create(
            &ctx,
            merchant,
            &kassa_service::audit::Actor::of(None, &client),
            &settings,
        )
        .await
        .unwrap();
        let project = kassa_store::projects::by_id(&mut db.conn().await.unwrap(), created.id)
            .await
            .unwrap();
        kassa_service::projects::set_test_mode(
            &ctx,
            &project,
            &kassa_service::audit::Actor::of(Some(user), &client),
            false,
        )
        .await
        .unwrap();
        db.close().await;
        (
            path,
            Template {
                merchant,
                project: created.id,
            },
        )
    })
    .await
    .clone()
}

/// Start of the simulated clock (µs since the epoch).
const T0: i64 = 1_800_000_000_000_000;

/// The services' context for a world.
fn context(db: Db, clock: Arc<ManualClock>, chains: Chains) -> Ctx {
    let dyn_clock: Arc<dyn Clock> = clock;
    let rates = Arc::new(Rates::from_config(&RatesConfig::default(), dyn_clock.clone()).unwrap());
    let pricing = Arc::new(Pricing::new(
        rates,
        Decimal::new(19, 1),
        BTreeMap::from([("LTC", Decimal::new(5, 2))]),
        vec!["LTC"],
    ));
    Ctx {
        db,
        clock: dyn_clock,
        keyring: Arc::new(Keyring::new(vec![MasterKey::from_bytes([7; 32])]).unwrap()),
        config: Arc::new(ServiceConfig {
            public_url: "http://127.0.0.1:1".into(),
            accounts: AccountSettings::default(),
            mail: MailSettings::default(),
            data_dir: dir(),
            allow_private_targets: true,
            withdrawals: Default::default(),
            telegram: Default::default(),
            notifications: Default::default(),
        }),
        public_url: "http://127.0.0.1:1".into(),
        passwords: passwords(),
        pricing,
        chains: Arc::new(chains),
        outbound: reqwest::Client::new(),
        heavy: Heavy::new(1),
        metrics: Arc::new(Metrics::default()),
        jobs: JobWaker::new(),
    }
}

impl World {
    pub async fn new(seed: u64, rng: &mut StdRng) -> World {
        let (template, ids) = template().await;
        let path = dir().join(format!(
            "kassa-sim-{}-{seed}-{:08x}.db",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::copy(&template, &path).unwrap();
        let guard = TempDb(path.clone());
        let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        let db = Db::connect(&url, 2).await.unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp::from_micros(T0)));
        let model = Arc::new(ModelChain::new(&LTC_NET, ltc()));
        let confirmations = rng.random_range(1..=3u64);
        let live = Arc::new(LiveChain {
            network: &LTC_NET,
            currency: ltc(),
            currencies: vec![ltc()],
            chain: Chain::Regtest,
            confirmations: u32::try_from(confirmations).unwrap(),
            poll_interval: Duration::from_millis(10),
            kind: WalletKind::Hot,
            source: model.clone(),
            wallet: Arc::new(SimWallet),
            utxo: None,
            evm: None,
            tron: None,
            explorer: None,
        });
        let ctx = context(db.clone(), clock.clone(), Chains::of(vec![live.clone()]));
        let merchant = ids.merchant;
        let project = kassa_store::projects::by_id(&mut db.conn().await.unwrap(), ids.project)
            .await
            .unwrap();
        let usd = currency::fiat("USD").unwrap();
        let mut list = Vec::new();
        for _ in 0..rng.random_range(2..=4) {
            let usd_price = Decimal::new(rng.random_range(500..5000), 2);
            let row = invoices::create(
                &ctx,
                &project,
                NewInvoiceRequest {
                    preselect: Some(ltc()),
                    ..NewInvoiceRequest::priced(Price::Fiat(usd, usd_price))
                },
            )
            .await
            .unwrap();
            list.push(Invoice {
                id: row.id,
                address: row.address.clone().unwrap(),
                quote: row.quote.unwrap(),
            });
        }
        let mut w = World {
            seed,
            watcher: Watcher::new(ctx.clone(), live),
            ctx,
            model,
            clock,
            merchant,
            invoices: list,
            payments: Vec::new(),
            confirmations,
            log: String::new(),
            _db: guard,
        };
        let _ = writeln!(
            w.log,
            "seed {seed}: {} invoices, {} confirmation(s)",
            w.invoices.len(),
            w.confirmations
        );
        // The watcher starts at the genesis tip.
        w.poll().await.unwrap();
        w
    }

    /// What happened so far.
    pub fn log(&self) -> &str {
        &self.log
    }

    fn note(&mut self, what: impl AsRef<str>) {
        let _ = writeln!(self.log, "  {}", what.as_ref());
    }

    fn fail(&self, what: impl AsRef<str>) -> String {
        format!("{}  => {}", self.log, what.as_ref())
    }

    /// An amount to pay `inv`: in full, short, over, or a little.
    fn amount_for(inv: &Invoice, rng: &mut StdRng) -> Amount {
        let due = inv.quote.due.base();
        Amount::from_base(match rng.random_range(0..4) {
            0 => due,
            1 => due / 2,
            2 => due + due / 3,
            _ => rng.random_range(1..=due.max(1)),
        })
    }

    fn pick_payment(&self, rng: &mut StdRng) -> Option<String> {
        (!self.payments.is_empty())
            .then(|| self.payments[rng.random_range(0..self.payments.len())].clone())
    }

    /// One random operation (a watcher round among them).
    pub async fn step(&mut self, rng: &mut StdRng) -> Result<(), String> {
        self.clock
            .advance(Duration::from_secs(rng.random_range(1..120)));
        let view = self.model.view();
        if view != NodeView::Live && rng.random_bool(0.4) {
            self.model.set_view(NodeView::Live);
            self.note("node back");
            return Ok(());
        }
        match rng.random_range(0..100) {
            0..=19 => {
                // A payer pays one invoice, sometimes two in one transaction, sometimes one
                // address twice.
                let i = rng.random_range(0..self.invoices.len());
                let mut outputs = vec![(
                    self.invoices[i].address.clone(),
                    Self::amount_for(&self.invoices[i], rng),
                )];
                if rng.random_bool(0.2) {
                    let j = rng.random_range(0..self.invoices.len());
                    outputs.push((
                        self.invoices[j].address.clone(),
                        Self::amount_for(&self.invoices[j], rng),
                    ));
                }
                let tx = self.model.payment(outputs.clone());
                let accepted = self.model.submit(&tx.txid);
                self.payments.push(tx.txid.clone());
                let shown: Vec<String> = outputs
                    .iter()
                    .map(|(a, v)| format!("{}→{}", v.base(), &a[a.len() - 3..]))
                    .collect();
                self.note(format!(
                    "pay {} {:?} ({accepted:?})",
                    short(&tx.txid),
                    shown
                ));
            }
            20..=44 => {
                let n = rng.random_range(1..=3);
                self.model.mine(n);
                self.note(format!("mine {n} → height {}", self.model.height()));
            }
            45..=56 => {
                let depth = rng.random_range(1..=10);
                let extra = rng.random_range(0..=2);
                // The new branch re-mines some of what it orphans, or a double spend of it.
                let mut include = Vec::new();
                let mut doubles = Vec::new();
                for (txid, _) in self.model.chain_txs().iter().rev().take(6) {
                    match rng.random_range(0..3) {
                        0 => include.push(txid.clone()),
                        1 => {
                            if let Some(c) = self
                                .model
                                .conflict(txid, vec![("payer-back".into(), Amount::from_base(1))])
                            {
                                doubles.push(short(txid));
                                include.push(c.txid);
                            }
                        }
                        _ => {}
                    }
                }
                self.model.reorg(depth, extra, &include);
                self.note(format!(
                    "reorg depth {depth} +{extra} → height {} (re-mined {}, double-spent {doubles:?})",
                    self.model.height(),
                    include.len() - doubles.len()
                ));
            }
            57..=63 => {
                if let Some(p) = self.pick_payment(rng) {
                    let c = self
                        .model
                        .conflict(&p, vec![("payer-back".into(), Amount::from_base(1))])
                        .unwrap();
                    self.model.evict(&p);
                    self.model.mine_with(1, std::slice::from_ref(&c.txid));
                    self.note(format!("double-spend {} mined", short(&p)));
                }
            }
            64..=68 => {
                let pool = self.model.mempool_txs();
                if let Some(p) = pool.iter().find(|t| self.payments.contains(t)).cloned()
                    && let Some(tx) = self.model.tx(&p)
                {
                    let outputs: Vec<(String, Amount)> = tx
                        .outputs
                        .iter()
                        .map(|(a, v)| (a.clone(), Amount::from_base(v.base() * 3 / 2 + 1)))
                        .collect();
                    if let Some(new) = self.model.replace(&p, outputs) {
                        self.payments.push(new.clone());
                        self.note(format!("replace {} by {}", short(&p), short(&new)));
                    }
                }
            }
            69..=72 => {
                let pool = self.model.mempool_txs();
                if !pool.is_empty() {
                    let p = pool[rng.random_range(0..pool.len())].clone();
                    self.model.evict(&p);
                    self.note(format!("evict {}", short(&p)));
                }
            }
            73..=76 => {
                let h = self.model.height();
                let behind = h.saturating_sub(rng.random_range(1..=h.max(1)));
                self.model.set_view(NodeView::Behind(behind));
                self.note(format!("node falls behind to {behind} (re-indexing)"));
            }
            77..=78 => {
                self.model.set_view(NodeView::Down);
                self.note("node down");
            }
            79..=84 => self.withdraw(rng).await?,
            85..=86 => {
                // The coins a withdrawal in flight spends are spent elsewhere, and mined.
                let open = kassa_store::withdrawals::list(
                    &mut self.ctx.db.conn().await.unwrap(),
                    LTC_NET.code,
                    Some(kassa_store::withdrawals::WithdrawalState::Broadcast),
                )
                .await
                .unwrap();
                if !open.is_empty() {
                    let w = &open[rng.random_range(0..open.len())];
                    let c = self.model.spend(
                        w.consumes.clone(),
                        vec![("thief".into(), Amount::from_base(1))],
                    );
                    self.model.evict(&w.txid);
                    self.model.mine_with(1, std::slice::from_ref(&c.txid));
                    self.note(format!(
                        "withdrawal {} double-spent by {} (mined)",
                        w.id,
                        short(&c.txid)
                    ));
                }
            }
            _ => {
                self.poll().await?;
            }
        }
        Ok(())
    }

    /// The merchant withdraws part of their available balance, spending one or two of the
    /// deposit outputs the chain holds.
    async fn withdraw(&mut self, rng: &mut StdRng) -> Result<(), String> {
        let fee = Amount::from_base(1_000);
        let b =
            kassa_store::ledger::balances(&mut self.ctx.db.conn().await.unwrap(), self.merchant)
                .await
                .unwrap();
        use kassa_store::ledger::Kind;
        let available = b
            .get(&(Kind::MerchantAvailable, "LTC".to_owned()))
            .copied()
            .unwrap_or(Amount::ZERO);
        if available.base() <= fee.base() + 1 {
            return Ok(());
        }
        let addresses: Vec<String> = self.invoices.iter().map(|i| i.address.clone()).collect();
        let mut outputs = self.model.unspent_to(&addresses);
        let in_flight: Vec<String> = kassa_store::withdrawals::list(
            &mut self.ctx.db.conn().await.unwrap(),
            LTC_NET.code,
            Some(kassa_store::withdrawals::WithdrawalState::Broadcast),
        )
        .await
        .unwrap()
        .into_iter()
        .flat_map(|w| w.consumes)
        .collect();
        outputs.retain(|(op, _, _)| !in_flight.contains(op));
        if outputs.is_empty() {
            return Ok(());
        }
        let n = rng.random_range(1..=outputs.len().min(2));
        let inputs: Vec<String> = outputs.iter().take(n).map(|o| o.0.clone()).collect();
        // As a real wallet: what leaves is at most what the inputs hold, less the fee.
        let held: u128 = outputs.iter().take(n).map(|o| o.1.base()).sum();
        let most = available.base().min(held).saturating_sub(fee.base());
        if most == 0 {
            return Ok(());
        }
        let amount = Amount::from_base(rng.random_range(1..=most));
        let tx = self
            .model
            .spend(inputs.clone(), vec![("payout".into(), amount)]);
        let p = kassa_service::withdrawals::Prepared {
            txid: tx.txid.clone(),
            raw: tx.txid.clone(),
            fee,
            size: 110,
            consumes: inputs,
            inputs_json: "[]".into(),
            change_address: None,
        };
        match kassa_service::withdrawals::submit_prepared(
            &self.ctx,
            &LTC_NET,
            self.merchant,
            "payout",
            amount,
            &p,
        )
        .await
        {
            Ok((id, done)) => {
                self.note(format!(
                    "withdraw {} as {id} ({}): {done:?}",
                    amount.base(),
                    short(&tx.txid)
                ));
            }
            Err(e) => self.note(format!("withdraw refused: {e}")),
        }
        Ok(())
    }

    /// A watcher round; after a round that reached a live node's tip, the invariants.
    async fn poll(&mut self) -> Result<(), String> {
        match self.watcher.step().await {
            Ok(r) => {
                self.note(format!(
                    "poll: height {} blocks {} recorded {} gone {} rolled back {}",
                    r.height, r.blocks, r.recorded, r.gone, r.rolled_back
                ));
                let synced = u64::try_from(r.height).ok() == Some(self.model.height());
                if synced && self.model.view() == NodeView::Live {
                    self.check().await?;
                }
            }
            Err(kassa_service::watcher::WatchError::Node(ChainError::Unreachable(_))) => {
                self.note("poll: node unreachable");
            }
            Err(e) => {
                self.note(format!("poll failed: {e}"));
            }
        }
        Ok(())
    }

    /// What the best chain pays `inv` now: counted (enough confirmations) and all.
    fn chain_pays(&self, inv: &Invoice) -> Amount {
        let mut counted = 0u128;
        for (txid, _) in self.model.chain_txs() {
            let conf = self.model.confirmations(&txid).unwrap_or(0);
            if conf < self.confirmations {
                continue;
            }
            if let Some(tx) = self.model.tx(&txid) {
                counted += tx
                    .outputs
                    .iter()
                    .filter(|(a, _)| *a == inv.address)
                    .map(|(_, v)| v.base())
                    .sum::<u128>();
            }
        }
        Amount::from_base(counted)
    }

    /// What the chain implies for the merchant: Σ credits of confirmed invoices, and what the
    /// unconfirmed ones hold pending.
    fn books_from_chain(&self) -> (u128, u128) {
        let (mut available, mut pending) = (0u128, 0u128);
        for inv in &self.invoices {
            let pays = self.chain_pays(inv);
            let q = &inv.quote;
            let confirmed =
                !pays.is_zero() && (pays >= q.due || q.due.saturating_sub(pays) <= q.tolerance);
            if confirmed {
                available += q.settle(pays).credit.base();
            } else {
                pending += pays.base();
            }
        }
        (available, pending)
    }

    /// The invariants after a synced round.
    async fn check(&self) -> Result<(), String> {
        let mut c = self.ctx.db.conn().await.unwrap();
        let mut counted_total = 0u128;
        for inv in &self.invoices {
            // 1. Every credited transfer is in the best chain with enough confirmations.
            let transfers = kassa_store::invoices::transfers_of(&mut c, inv.id)
                .await
                .unwrap();
            for t in &transfers {
                if t.state == TransferState::Confirmed {
                    let conf = self.model.confirmations(&t.txid).unwrap_or(0);
                    if conf < self.confirmations {
                        return Err(self.fail(format!(
                            "transfer {}:{} of invoice {} is credited but has {conf} confirmation(s) in the best chain (needs {})",
                            short(&t.txid),
                            t.output_index,
                            inv.id,
                            self.confirmations
                        )));
                    }
                }
            }
            // 2. Nothing credited twice, nothing missing: the invoice's postings into the
            // merchant's books equal what the best chain pays it.
            let posted = received_posted(&mut c, inv.id).await;
            let pays = self.chain_pays(inv);
            if posted != pays.base() as i128 {
                return Err(self.fail(format!(
                    "invoice {} has {posted} posted as received, the best chain pays it {}",
                    inv.id,
                    pays.base()
                )));
            }
            counted_total += pays.base();
        }
        // Withdrawals stand where the best chain has them.
        let withdrawals = kassa_store::withdrawals::list(&mut c, LTC_NET.code, None)
            .await
            .unwrap();
        let mut charged = 0u128;
        for w in &withdrawals {
            use kassa_store::withdrawals::WithdrawalState as S;
            let conf = self.model.confirmations(&w.txid);
            let ok = match w.state {
                S::Confirmed => conf.is_some_and(|c| c >= self.confirmations),
                S::Failed => conf.is_none(),
                S::Broadcast => conf.is_none_or(|c| c < self.confirmations),
            };
            if !ok {
                return Err(self.fail(format!(
                    "withdrawal {} is {} but has {conf:?} confirmation(s) in the best chain",
                    w.id,
                    w.state.as_str()
                )));
            }
            // Charged unless failed, or spending a payment Kassa recorded that the chain does
            // not count now. (Spending outputs Kassa never saw — the node ahead of the watcher —
            // is charged until the withdrawal confirms or fails: the safe side.)
            let mut unfunded = false;
            for op in &w.consumes {
                let Some((txid, vout)) = op.rsplit_once(':') else {
                    continue;
                };
                let recorded = kassa_store::invoices::transfer(
                    &mut c,
                    LTC_NET.code,
                    txid,
                    vout.parse().unwrap(),
                )
                .await
                .unwrap()
                .is_some();
                if recorded && self.model.confirmations(txid).unwrap_or(0) < self.confirmations {
                    unfunded = true;
                }
            }
            if w.state != S::Failed && !unfunded {
                charged += w.amount.base() + w.fee.base();
            }
        }
        // 4. Custody holds exactly what the chain pays minus what left in withdrawals.
        let custody = custody_balance(&mut c).await;
        if custody != counted_total as i128 - charged as i128 {
            return Err(self.fail(format!(
                "custody holds {custody}, the chain pays {counted_total} and withdrawals took {charged}"
            )));
        }
        // 3. The merchant's books equal those the chain implies (the receivable is what they
        // owe).
        let (expected_available, expected_pending) = self.books_from_chain();
        let b = kassa_store::ledger::balances(&mut c, self.merchant)
            .await
            .unwrap();
        let get = |k| {
            b.get(&(k, "LTC".to_owned()))
                .copied()
                .unwrap_or(Amount::ZERO)
                .base() as i128
        };
        use kassa_store::ledger::Kind;
        let net_available = get(Kind::MerchantAvailable) - get(Kind::MerchantReceivable);
        let pending = get(Kind::MerchantPending);
        if (net_available, pending)
            != (
                expected_available as i128 - charged as i128,
                expected_pending as i128,
            )
        {
            return Err(self.fail(format!(
                "books: available − owed {net_available}, pending {pending}; the chain implies {} and {expected_pending} (credits {expected_available}, withdrawals {charged})",
                expected_available as i128 - charged as i128
            )));
        }
        let mismatches = kassa_store::ledger::verify(&mut c).await.unwrap();
        if !mismatches.is_empty() {
            return Err(self.fail(format!("ledger running balances: {mismatches:?}")));
        }
        // The daily totals statistics read are the sums of the invoices.
        let q = kassa_store::payment_list::PaymentQuery {
            mode: kassa_store::payment_list::Mode::All,
            ..kassa_store::payment_list::PaymentQuery::of(self.merchant)
        };
        let key = |r: &kassa_store::payment_list::StatRow| {
            (
                r.day,
                r.status.as_str(),
                r.currency.clone(),
                r.project,
                r.count,
                r.cents,
            )
        };
        let mut totals: Vec<_> = kassa_store::payment_list::stats(&mut c, &q)
            .await
            .unwrap()
            .iter()
            .map(key)
            .collect();
        let mut raw: Vec<_> = kassa_store::payment_list::stats_raw(&mut c, &q)
            .await
            .unwrap()
            .iter()
            .map(key)
            .collect();
        totals.sort();
        raw.sort();
        if totals != raw {
            return Err(self.fail(format!(
                "daily totals {totals:?} ≠ the invoices' sums {raw:?}"
            )));
        }
        Ok(())
    }

    /// Brings the node back, lets the chain settle, syncs, and compares the books with the
    /// books computed from the final chain alone.
    pub async fn finish(mut self) -> Result<(), String> {
        self.model.set_view(NodeView::Live);
        self.model.mine(self.confirmations + 1);
        self.note("final: node live, mined past the confirmation rule");
        for _ in 0..3 {
            if let Err(e) = self.watcher.step().await {
                return Err(self.fail(format!("final round failed: {e}")));
            }
        }
        self.check().await?;
        let _ = self.seed;
        Ok(())
    }
}

fn short(txid: &str) -> String {
    txid.trim_start_matches(['t', '0']).to_owned()
}

/// Net amount posted custody → merchant pending for `invoice` (what it counts as received).
async fn received_posted(c: &mut kassa_store::PoolConn, invoice: InvoiceId) -> i128 {
    let rows: Vec<(String, String, String)> = kassa_store::sql!(c, |c| sqlx::query_as(
        "select da.kind, ca.kind, cast(lt.amount as text) from ledger_transfer lt \
         join ledger_account da on da.ledger_account_id = lt.debit_account_id \
         join ledger_account ca on ca.ledger_account_id = lt.credit_account_id \
         where lt.invoice_id = $1"
    )
    .bind(invoice.get())
    .fetch_all(c)
    .await)
    .unwrap();
    rows.iter()
        .map(|(d, cr, a)| {
            let a: i128 = a.parse().unwrap();
            match (d.as_str(), cr.as_str()) {
                ("custody", "merchant_pending") => a,
                ("merchant_pending", "custody") => -a,
                _ => 0,
            }
        })
        .sum()
}

async fn custody_balance(c: &mut kassa_store::PoolConn) -> i128 {
    let v: Option<String> = kassa_store::sql!(c, |c| sqlx::query_scalar(
        "select cast(balance as text) from ledger_account where kind = 'custody' and currency = 'LTC'"
    )
    .fetch_optional(c)
    .await)
    .unwrap();
    v.map_or(0, |v| v.parse().unwrap())
}
