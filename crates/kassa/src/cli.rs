//! Command-line interface.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use kassa_core::JobId;
use kassa_core::time::{Clock as _, SystemClock};
use std::sync::Arc;

use kassa_core::account::{Email, check_password};
use kassa_server::app::{self, Application};
use kassa_server::config::{self, Loaded};
use kassa_server::state::AppState;
use kassa_server::telemetry;
use kassa_service::accounts;
use kassa_service::chains;
use kassa_service::worker::{self, Probe};
use kassa_store::jobs::{self, JobState};
use kassa_store::{Db, migrate};

/// Kassa: a self-hosted crypto payment gateway.
#[derive(Parser, Debug)]
#[command(version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct GlobalArgs {
    /// Configuration file (TOML); see kassa.example.toml. Also KASSA_CONFIG.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address and port to listen on (server.listen, KASSA_LISTEN).
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Data folder (data_dir, KASSA_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<String>,
    /// Database URL (database.url, KASSA_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Base URL of links Kassa hands out (server.public_url, KASSA_PUBLIC_URL).
    #[arg(long, global = true, value_name = "URL")]
    public_url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server: dashboard, payment pages, APIs and background jobs.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect and manage the background job queue.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Operator tasks on merchant accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Load benchmarks against an in-process server on a throwaway database.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// The operator's wallets of the UTXO networks (btc, ltc).
    #[command(subcommand)]
    Wallet(WalletCommand),
}

#[derive(Subcommand, Debug)]
enum WalletCommand {
    /// Create the hot wallet of a configured network: a new 24-word recovery phrase, stored
    /// sealed with the master key and shown only this once.
    Init {
        /// The network: btc or ltc.
        network: String,
    },
    /// Show a network's wallet: kind, chain, account key, next receive index (never the
    /// recovery phrase).
    Show {
        /// The network: btc or ltc.
        network: String,
    },
    /// Pay part of a merchant's available balance out of the hot wallet to an address; prints
    /// the withdrawal as JSON (`{"id", "txid", "amount", "fee", "fee_rate", "vsize", "state"}`).
    Withdraw {
        /// The network: btc or ltc.
        network: String,
        /// The merchant owner's e-mail address.
        #[arg(long)]
        merchant: String,
        /// The destination address.
        #[arg(long)]
        to: String,
        /// The amount the destination receives, in coins (e.g. 0.5); the fee comes on top.
        #[arg(long)]
        amount: String,
        /// The lowest fee rate to pay, in sat/vB (the node's estimate when higher).
        #[arg(long, default_value_t = 1)]
        fee_floor: u64,
    },
    /// List a network's withdrawals, oldest first.
    Withdrawals {
        /// The network: btc or ltc.
        network: String,
    },
    /// List merchants' withdrawal requests that wait for the operator (approval or a
    /// signature), or all of them with --all; one JSON object per line.
    Requests {
        /// Every request, not only those waiting.
        #[arg(long)]
        all: bool,
    },
    /// Approve a withdrawal request above `withdrawals.approval_above_usd` (WD-XXXXXXXX).
    Approve {
        /// The request's id.
        id: String,
    },
    /// Refuse a withdrawal request not sent yet (waiting for approval, a signature or its
    /// turn); its funds go back.
    Refuse {
        /// The request's id.
        id: String,
        /// Why, shown to the merchant.
        #[arg(long, default_value = "refused by the operator")]
        reason: String,
    },
    /// Print the PSBT (base64) of a withdrawal from a watch-only wallet, to sign elsewhere.
    Psbt {
        /// The request's id.
        id: String,
    },
    /// Hand back the signed withdrawal (a PSBT in base64 or hex, or the raw transaction in
    /// hex) from a file ("-" reads standard input). Kassa checks it pays exactly what was
    /// requested, records it and broadcasts it.
    Broadcast {
        /// The request's id.
        id: String,
        /// The file with the signed PSBT or transaction.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create a confirmed merchant owner. The password is read from standard input.
    CreateUser {
        /// The owner's e-mail address.
        #[arg(long)]
        email: String,
        /// The business name (defaults to the e-mail address).
        #[arg(long, default_value = "")]
        business: String,
    },
    /// Create a project for a merchant owner and print its keys as JSON
    /// (`{"shop_id", "api_key", "secret_key"}`); the API key is shown only here.
    CreateProject {
        /// The owner's e-mail address.
        #[arg(long)]
        owner: String,
        /// The project's name.
        #[arg(long)]
        name: String,
        /// Where postbacks go.
        #[arg(long, default_value = "")]
        notify_url: String,
        /// `json` or `form`.
        #[arg(long, default_value = "json", value_parser = postback_format)]
        postback_format: kassa_core::project::PostbackFormat,
    },
    /// Turn off a user's two-factor authentication (lost phone and recovery codes) and sign
    /// out all their sessions.
    #[command(name = "reset-2fa")]
    Reset2fa {
        /// The user's e-mail address.
        email: String,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the effective configuration (secrets redacted) and where each value comes from.
    Show,
}

#[derive(Subcommand, Debug)]
enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state: queued, running, done or failed.
        #[arg(long)]
        state: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Show one job with every attempt.
    Show {
        /// Job id.
        id: i64,
    },
    /// Put a failed job back in the queue with a fresh attempt budget.
    Retry {
        /// Job id.
        id: i64,
    },
    /// Enqueue probe jobs and wait for a running `kassa serve` to run them.
    Probe {
        /// Number of probe jobs.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Simulated work per job, in milliseconds.
        #[arg(long, default_value_t = 0)]
        work_ms: u64,
        /// Give up waiting after this many seconds (0: do not wait).
        #[arg(long, default_value_t = 60)]
        wait_secs: u64,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let loaded = load_settings(&cli.global)?;
    match cli.command {
        Command::Serve => serve(loaded).await,
        Command::Migrate => {
            let db = open_db(&loaded).await?;
            let applied = migrate::run(&db).await.context("applying migrations")?;
            if applied.is_empty() {
                println!(
                    "database is up to date (version {})",
                    migrate::latest_version(db.engine())
                );
            } else {
                println!("applied migrations {applied:?}");
            }
            Ok(())
        }
        Command::Config(ConfigCommand::Show) => {
            print!("{}", loaded.show());
            Ok(())
        }
        Command::Admin(cmd) => admin_command(loaded, cmd).await,
        Command::Wallet(cmd) => wallet_command(loaded, cmd).await,
        Command::Bench(cmd) => {
            anyhow::ensure!(
                cli.global.listen.is_none()
                    && cli.global.data_dir.is_none()
                    && cli.global.database_url.is_none()
                    && cli.global.public_url.is_none(),
                "kassa bench runs its own server on a throwaway database: choose it with --engine and --postgres-url instead of --listen, --data-dir, --database-url or --public-url"
            );
            crate::bench::run(loaded.settings, cmd).await
        }
        Command::Jobs(cmd) => {
            let db = open_db(&loaded).await?;
            anyhow::ensure!(
                migrate::is_current(&db).await?,
                "the database is not migrated; run `kassa migrate` first"
            );
            jobs_command(&db, cmd).await
        }
    }
}

fn load_settings(args: &GlobalArgs) -> anyhow::Result<Loaded> {
    let file = args
        .config
        .clone()
        .or_else(|| std::env::var_os("KASSA_CONFIG").map(PathBuf::from));
    let mut flags = Vec::new();
    for (key, value) in [
        ("server.listen", &args.listen),
        ("data_dir", &args.data_dir),
        ("database.url", &args.database_url),
        ("server.public_url", &args.public_url),
    ] {
        if let Some(v) = value {
            flags.push((key, v.clone()));
        }
    }
    Ok(config::load(
        file.as_deref(),
        &|name| std::env::var(name).ok(),
        &flags,
    )?)
}

async fn open_db(loaded: &Loaded) -> anyhow::Result<Db> {
    let settings = &loaded.settings;
    let url = settings.database_url()?;
    if matches!(url, kassa_store::DatabaseUrl::Sqlite(_)) {
        app::prepare_data_dir(&settings.data_dir)?;
    }
    Ok(app::connect(settings, &url).await?)
}

async fn serve(loaded: Loaded) -> anyhow::Result<()> {
    telemetry::init(&loaded.settings.log);
    let data_dir = loaded.settings.data_dir.clone();
    let application = Application::build(loaded.settings).await?;
    let addr = application.local_addr()?;
    let public = application.state().public_url.clone();
    tracing::info!(%addr, public_url = %public, data_dir = %data_dir.display(), engine = %application.state().db.engine(), "kassa is listening");
    println!(
        "Kassa is running at {public}  (listening on {addr}, data in {})",
        data_dir.display()
    );
    application.run_until_stopped(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

async fn admin_command(loaded: Loaded, cmd: AdminCommand) -> anyhow::Result<()> {
    let public_url = loaded.settings.public_url()?;
    let state = AppState::open(loaded.settings, Arc::new(SystemClock), public_url).await?;
    match cmd {
        AdminCommand::CreateUser { email, business } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            check_password(password, Some(&email)).map_err(|e| anyhow::anyhow!("password: {e}"))?;
            match accounts::create_owner(&state, &email, password, &business).await? {
                Some(id) => println!("created merchant owner {email} (user {id})"),
                None => anyhow::bail!("an account with the e-mail {email} already exists"),
            }
        }
        AdminCommand::CreateProject {
            owner,
            name,
            notify_url,
            postback_format,
        } => {
            let email = Email::parse(&owner).map_err(|e| anyhow::anyhow!("--owner: {e}"))?;
            anyhow::ensure!(
                matches!(postback_format.as_str(), "json" | "form"),
                "--postback-format: use json or form"
            );
            anyhow::ensure!(
                !name.trim().is_empty() && name.chars().count() <= 100,
                "--name: give a name of at most 100 characters"
            );
            if !notify_url.is_empty() {
                let url = reqwest::Url::parse(&notify_url)
                    .map_err(|e| anyhow::anyhow!("--notify-url: {e}"))?;
                anyhow::ensure!(
                    matches!(url.scheme(), "http" | "https"),
                    "--notify-url: use an http(s) URL"
                );
            }
            let mut c = state.db.conn().await?;
            let user = kassa_store::accounts::user_by_email(&mut c, &email)
                .await?
                .with_context(|| format!("no user has the e-mail {email}"))?;
            anyhow::ensure!(
                user.role == kassa_core::account::Role::Owner,
                "{email} is not a merchant owner"
            );
            drop(c);
            let mut settings = kassa_service::projects::default_settings(name.trim());
            settings.notify_url = notify_url;
            settings.postback_format = postback_format;
            let created = kassa_service::projects::create(
                &state,
                user.merchant_id,
                &kassa_service::audit::Actor::operator(),
                &settings,
            )
            .await?;
            println!(
                "{}",
                serde_json::json!({"shop_id": created.shop_id, "api_key": created.api_key, "secret_key": created.secret_key})
            );
        }
        AdminCommand::Reset2fa { email } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("e-mail: {e}"))?;
            anyhow::ensure!(
                accounts::operator_reset_2fa(&state, &email).await?,
                "no user has the e-mail {email}"
            );
            println!(
                "two-factor authentication is off for {email}; all their sessions were signed out"
            );
        }
    }
    // Any notification e-mail is a queued job: the running (or next) `kassa serve` sends it.
    Ok(())
}

async fn wallet_command(loaded: Loaded, cmd: WalletCommand) -> anyhow::Result<()> {
    let name = match &cmd {
        WalletCommand::Init { network }
        | WalletCommand::Show { network }
        | WalletCommand::Withdraw { network, .. }
        | WalletCommand::Withdrawals { network } => network.clone(),
        WalletCommand::Requests { .. }
        | WalletCommand::Approve { .. }
        | WalletCommand::Refuse { .. }
        | WalletCommand::Psbt { .. }
        | WalletCommand::Broadcast { .. } => return request_command(loaded, cmd).await,
    };
    let network = chains::wallet_network(&name)?;
    let public_url = loaded.settings.public_url()?;
    let state = AppState::open(loaded.settings, Arc::new(SystemClock), public_url).await?;
    let code = network.code;
    let lower = kassa_service::config::section(network);
    match cmd {
        WalletCommand::Init { .. } => {
            let (mnemonic, hot) = chains::init_hot_wallet(
                &state.settings.chains,
                &state.db,
                &state.keyring,
                network,
                state.clock.now(),
            )
            .await?;
            let keys = hot.key_lines()?;
            let path = hot.account_path();
            let (row, _, _) = chains::stored_wallet(&state.db, network).await?;
            let chain = row.chain;
            println!(
                "Created the {code} hot wallet ({chain}). Its recovery phrase is stored sealed with the master key."
            );
            println!();
            println!(
                "WRITE DOWN THESE 24 WORDS NOW, IN ORDER, AND KEEP THEM OFFLINE. They are shown only"
            );
            println!(
                "this once. Anyone who has them can spend every coin paid to this wallet; with them"
            );
            let standard = match hot {
                chains::PublicKeys::Utxo(_) => "BIP84",
                chains::PublicKeys::Evm(_) => "BIP44",
            };
            println!("(and no passphrase) any {standard} wallet restores it at {path}.");
            println!();
            println!("    {}", mnemonic.phrase().as_str());
            println!();
            drop(mnemonic);
            print_wallet_keys(&keys);
            println!("next receive index: 0");
            println!("Restart `kassa serve` for {code} to take live payments.");
        }
        WalletCommand::Show { .. } => {
            let (row, _, keys) = chains::stored_wallet(&state.db, network).await?;
            println!("network: {code} ({})", row.chain);
            println!(
                "kind: {}",
                match row.kind {
                    kassa_store::wallets::WalletKind::Hot =>
                        "hot (recovery phrase sealed in the database)",
                    kassa_store::wallets::WalletKind::Watch =>
                        "watch (public key only; signs nothing)",
                }
            );
            print_wallet_keys(&keys.key_lines()?);
            println!("next receive index: {}", row.next_index);
            println!("created: {}", row.created_at);
            println!(
                "taking live payments: {}",
                if state.chains.get(network).is_some() {
                    "yes".to_owned()
                } else {
                    format!("no ({lower} is not configured)")
                }
            );
        }
        WalletCommand::Withdraw {
            merchant,
            to,
            amount,
            fee_floor,
            ..
        } => {
            let email = Email::parse(&merchant).map_err(|e| anyhow::anyhow!("--merchant: {e}"))?;
            let decimals = state.chains.get(network).map_or(8, |c| c.currency.decimals);
            let amount = kassa_core::Amount::parse(amount.trim(), decimals)
                .ok()
                .and_then(|a| u64::try_from(a.base()).ok())
                .with_context(|| {
                    format!("--amount: {amount:?} is not an amount of {code} (at most {decimals} decimals)")
                })?;
            let user = kassa_store::accounts::user_by_email(&mut state.db.conn().await?, &email)
                .await?
                .with_context(|| format!("no user has the e-mail {email}"))?;
            anyhow::ensure!(
                user.role == kassa_core::account::Role::Owner,
                "{email} is not a merchant owner"
            );
            let made = kassa_service::withdrawals::withdraw(
                &state,
                user.merchant_id,
                network,
                &to,
                amount,
                kassa_chain::spend::FeeRate::from_sat_per_vb(fee_floor),
            )
            .await?;
            println!(
                "{}",
                serde_json::json!({
                    "id": made.id,
                    "txid": made.txid,
                    "amount": made.amount,
                    "fee": made.fee,
                    "fee_rate": made.fee_rate.to_string(),
                    "vsize": made.vsize,
                    "change_address": made.change.map(|c| c.2),
                    "state": made.state.as_str(),
                })
            );
        }
        WalletCommand::Withdrawals { .. } => {
            let rows =
                kassa_store::withdrawals::list(&mut state.db.conn().await?, code, None).await?;
            for w in rows {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": w.id,
                        "merchant_id": w.merchant.get(),
                        "destination": w.destination,
                        "amount": w.amount.base(),
                        "fee": w.fee.base(),
                        "vsize": w.vsize,
                        "txid": w.txid,
                        "state": w.state.as_str(),
                        "confirmations": w.confirmations,
                        "error": w.error,
                        "created_at": w.created_at.to_string(),
                    })
                );
            }
        }
        // Requests are request_command's (returned above).
        WalletCommand::Requests { .. }
        | WalletCommand::Approve { .. }
        | WalletCommand::Refuse { .. }
        | WalletCommand::Psbt { .. }
        | WalletCommand::Broadcast { .. } => {}
    }
    Ok(())
}

/// The public id in a `WD-XXXXXXXX` (or `INV-…`, as the API names it) the operator typed.
fn request_id(text: &str) -> String {
    let t = text.trim().to_ascii_uppercase();
    t.strip_prefix("WD-")
        .or_else(|| t.strip_prefix("INV-"))
        .unwrap_or(&t)
        .to_owned()
}

fn request_json(r: &kassa_store::withdrawal_requests::RequestRow) -> serde_json::Value {
    serde_json::json!({
        "id": format!("WD-{}", r.public_id),
        "merchant_id": r.merchant.get(),
        "network": r.network,
        "destination": r.destination,
        "amount": r.amount.base().to_string(),
        "everything": r.fee_from_amount,
        "usd": r.amount_usd,
        "source": r.source.as_str(),
        "stage": r.stage.as_str(),
        "status": kassa_service::withdrawals::requests::Shown::of(r).as_str(),
        "fee": r.tx.as_ref().map(|t| t.fee).or(r.fee).map(|f| f.base().to_string()),
        "txid": r.tx.as_ref().map(|t| t.txid.clone()),
        "note": r.note,
        "created_at": r.created_at.to_string(),
    })
}

/// The operator's part of merchants' withdrawal requests: approval, refusal, PSBTs.
async fn request_command(loaded: Loaded, cmd: WalletCommand) -> anyhow::Result<()> {
    use kassa_service::withdrawals::requests;
    use kassa_store::withdrawal_requests::{self as store, Stage};
    let public_url = loaded.settings.public_url()?;
    let state = AppState::open(loaded.settings, Arc::new(SystemClock), public_url).await?;
    let find = |id: &str| {
        let id = request_id(id);
        let db = state.db.clone();
        async move {
            store::by_public_id(&mut db.conn().await?, &id)
                .await?
                .with_context(|| format!("no withdrawal request WD-{id}"))
        }
    };
    match cmd {
        WalletCommand::Requests { all } => {
            let rows = store::in_stage(&mut state.db.conn().await?, None, 100_000).await?;
            for r in rows
                .iter()
                .filter(|r| all || matches!(r.stage, Stage::Approval | Stage::Signature))
            {
                println!("{}", request_json(r));
            }
        }
        WalletCommand::Approve { id } => {
            let r = requests::approve(&state, &request_id(&id)).await?;
            println!("{}", request_json(&r));
        }
        WalletCommand::Refuse { id, reason } => {
            let r = find(&id).await?;
            anyhow::ensure!(
                matches!(r.stage, Stage::Approval | Stage::Signature | Stage::Queued),
                "WD-{} is {}: only a request not sent yet can be refused",
                r.public_id,
                r.stage.as_str()
            );
            let done = requests::end(
                &state,
                r.id,
                r.stage,
                Stage::Refused,
                reason.trim(),
                kassa_service::audit::Actor::operator(),
            )
            .await?;
            anyhow::ensure!(
                done,
                "WD-{} changed meanwhile; nothing refused",
                r.public_id
            );
            println!("{}", request_json(&find(&id).await?));
        }
        WalletCommand::Psbt { id } => {
            let r = find(&id).await?;
            let psbt = r.psbt.as_deref().with_context(|| {
                format!(
                    "WD-{} is {}, not waiting for a signature",
                    r.public_id,
                    r.stage.as_str()
                )
            })?;
            println!("{psbt}");
        }
        WalletCommand::Broadcast { id, file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(std::io::stdin(), 8 << 20),
                    &mut s,
                )?;
                s
            } else {
                anyhow::ensure!(
                    std::fs::metadata(&file)?.len() <= 8 << 20,
                    "{} is larger than any signed withdrawal",
                    file.display()
                );
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let (r, done) = requests::broadcast_signed(&state, &request_id(&id), &text).await?;
            if let kassa_chain::watch::Broadcast::Refused(why) = &done {
                anyhow::bail!(
                    "the node refused WD-{}: {why}; the funds were returned",
                    r.public_id
                );
            }
            println!("{}", request_json(&r));
        }
        // The network commands are wallet_command's.
        WalletCommand::Init { .. }
        | WalletCommand::Show { .. }
        | WalletCommand::Withdraw { .. }
        | WalletCommand::Withdrawals { .. } => {}
    }
    Ok(())
}

fn print_wallet_keys(lines: &[(&'static str, String)]) {
    for (label, value) in lines {
        println!("{label}: {value}");
    }
}

async fn jobs_command(db: &Db, cmd: JobsCommand) -> anyhow::Result<()> {
    let clock = SystemClock;
    match cmd {
        JobsCommand::List { state, limit } => {
            let state = match state.as_deref() {
                None => None,
                Some(s) => Some(JobState::parse(s).with_context(|| {
                    format!("unknown state {s:?}: use queued, running, done or failed")
                })?),
            };
            let rows = jobs::list(db, state, limit).await?;
            println!(
                "{:>8}  {:<8}  {:<24}  {:>8}  {:<27}  last error",
                "id", "state", "kind", "attempts", "run at"
            );
            for j in rows {
                println!(
                    "{:>8}  {:<8}  {:<24}  {:>8}  {:<27}  {}",
                    j.id,
                    j.state.as_str(),
                    j.kind,
                    j.attempts,
                    j.run_at.to_string(),
                    j.last_error.unwrap_or_default()
                );
            }
        }
        JobsCommand::Show { id } => {
            let mut conn = db.conn().await?;
            let job = jobs::get(&mut conn, JobId::new(id))
                .await
                .with_context(|| format!("job {id}"))?;
            println!(
                "job {} ({}): {}, {} attempt(s), created {}",
                job.id,
                job.kind,
                job.state.as_str(),
                job.attempts,
                job.created_at
            );
            for a in jobs::attempts(&mut conn, job.id).await? {
                let result = a
                    .error
                    .map_or_else(|| "ok".to_owned(), |e| format!("error: {e}"));
                println!(
                    "  #{} {} on {} ({} ms): {result}",
                    a.attempt,
                    a.started_at,
                    a.worker,
                    a.finished_at.duration_since(a.started_at).as_millis()
                );
            }
        }
        JobsCommand::Retry { id } => {
            anyhow::ensure!(
                jobs::retry(db, JobId::new(id), clock.now()).await?,
                "job {id} does not exist or has not failed"
            );
            println!("job {id} queued again");
        }
        JobsCommand::Probe {
            count,
            work_ms,
            wait_secs,
        } => {
            let now = clock.now();
            let mut tx = db.begin().await?;
            let mut ids = Vec::new();
            for _ in 0..count {
                ids.push(worker::enqueue(&mut tx, &Probe { work_ms }, now, now).await?);
            }
            tx.commit().await?;
            println!("enqueued {count} probe job(s)");
            if wait_secs == 0 {
                return Ok(());
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(wait_secs);
            let mut conn = db.conn().await?;
            loop {
                let mut done = 0;
                for id in &ids {
                    if jobs::get(&mut conn, *id).await?.state == JobState::Done {
                        done += 1;
                    }
                }
                if done == ids.len() {
                    let last = jobs::list(db, Some(JobState::Done), 1).await?;
                    let finished = last.first().map_or(now, |j| j.updated_at);
                    println!(
                        "all {count} probe job(s) ran, {} ms after enqueueing",
                        finished.duration_since(now).as_millis()
                    );
                    return Ok(());
                }
                anyhow::ensure!(
                    std::time::Instant::now() < deadline,
                    "only {done} of {count} probe jobs ran within {wait_secs} s: is `kassa serve` running with jobs.workers > 0?"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    Ok(())
}

/// Parses `--postback-format`.
fn postback_format(s: &str) -> Result<kassa_core::project::PostbackFormat, String> {
    kassa_core::project::PostbackFormat::parse(s)
        .ok_or_else(|| format!("{s:?} is not json or form"))
}
