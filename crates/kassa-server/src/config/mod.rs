//! Settings: built-in defaults, then the TOML file (`--config` / `KASSA_CONFIG`), then
//! `KASSA_*` environment variables, then command-line flags; later sources win.
//!
//! Every option is declared once in [`OPTIONS`] with its TOML key and environment variable,
//! which drives the environment overlay, `kassa config show` and the check that
//! `kassa.example.toml` documents everything. Secrets are [`SecretString`]s and print as
//! `[redacted]`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use kassa_core::secret::SecretString;
pub use kassa_service::config::{
    AccountSettings, ChainSettings, EvmChainSettings, FeeSettings, JobSettings, MailSettings,
    NotificationSettings, SettingError, TelegramSettings, TokenList, UtxoChainSettings,
    WithdrawalSettings, chain_env, chain_key, chain_name, parse_chain,
};
use kassa_store::DatabaseUrl;
use serde::Deserialize;

/// Everything Kassa can be configured with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Folder for the SQLite database, the master key file and the mail outbox.
    pub data_dir: PathBuf,
    /// HTTP server.
    pub server: ServerSettings,
    /// Database.
    pub database: DatabaseSettings,
    /// Background jobs.
    pub jobs: JobSettings,
    /// Logging.
    pub log: LogSettings,
    /// Secrets at rest.
    pub secrets: SecretSettings,
    /// Merchant accounts and sign-in.
    pub accounts: AccountSettings,
    /// Outgoing e-mail.
    pub mail: MailSettings,
    /// Fees charged on payments.
    pub fees: FeeSettings,
    /// Exchange-rate sources.
    pub rates: kassa_rates::RatesConfig,
    /// The operator's nodes and wallets, per network.
    pub chains: ChainSettings,
    /// Withdrawal approval and address cooling-off.
    pub withdrawals: WithdrawalSettings,
    /// The Telegram bot for notifications.
    pub telegram: TelegramSettings,
    /// The operator's alerts.
    pub notifications: NotificationSettings,
}

/// `[server]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Base of every link Kassa hands out (payment links, e-mails). Empty: `http://<listen>`.
    pub public_url: String,
    /// Bearer token that lets non-loopback clients read `/metrics`. Empty: loopback only.
    pub metrics_token: SecretString,
    /// Take the client address from `X-Forwarded-For` (set only behind a reverse proxy that
    /// overwrites the header).
    pub trust_forwarded_for: bool,
    /// Let postbacks and webhooks reach loopback and private addresses (a shop on the same
    /// network; tests). Off by default: merchant-supplied URLs must be public.
    pub allow_private_targets: bool,
}

/// `[database]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://<file>` or `postgres://…`. Empty: `sqlite://<data_dir>/kassa.db`.
    pub url: SecretString,
    /// Connections in the pool.
    pub max_connections: u32,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,kassa_server=debug`.
    pub level: String,
}

/// `[secrets]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretSettings {
    /// Master key(s), base64, oldest first, comma-separated. Empty: `<data_dir>/master.key`,
    /// generated on first start.
    pub master_key: SecretString,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./kassa-data"),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            jobs: JobSettings::default(),
            log: LogSettings::default(),
            secrets: SecretSettings::default(),
            accounts: AccountSettings::default(),
            mail: MailSettings::default(),
            fees: FeeSettings::default(),
            rates: kassa_rates::RatesConfig::default(),
            chains: ChainSettings::default(),
            withdrawals: WithdrawalSettings::default(),
            telegram: TelegramSettings::default(),
            notifications: NotificationSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            metrics_token: SecretString::default(),
            trust_forwarded_for: false,
            allow_private_targets: false,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::default(),
            max_connections: 8,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A configuration problem, naming the option or file it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The configuration file could not be read or parsed.
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// One option has a bad value.
    Option {
        /// TOML key, e.g. `server.listen`.
        key: String,
        /// Environment variable, e.g. `KASSA_LISTEN`.
        env: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// An error about the option with TOML key `key`.
    pub fn option(key: impl Into<String>, message: impl Into<String>) -> Self {
        let key = key.into();
        let env = OPTIONS.iter().find(|o| o.key == key).map_or("", |o| o.env);
        ConfigError::Option {
            key,
            env,
            message: message.into(),
        }
    }
}

impl From<SettingError> for ConfigError {
    fn from(e: SettingError) -> Self {
        ConfigError::option(e.key, e.message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::File { path, message } => {
                write!(
                    f,
                    "configuration file {}: {}",
                    path.display(),
                    message.trim_end()
                )
            }
            ConfigError::Option { key, env, message } => write!(f, "{key} ({env}): {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A value type an option can have: parsed from environment and flag strings, shown by
/// `config show` as TOML.
trait ConfigValue: Sized {
    fn parse_value(s: &str) -> Result<Self, String>;
    fn show(&self) -> String;
}

impl ConfigValue for String {
    fn parse_value(s: &str) -> Result<Self, String> {
        Ok(s.to_owned())
    }
    fn show(&self) -> String {
        toml_string(self)
    }
}

impl ConfigValue for SecretString {
    fn parse_value(s: &str) -> Result<Self, String> {
        Ok(SecretString::new(s))
    }
    fn show(&self) -> String {
        if self.is_empty() {
            "\"\"".into()
        } else {
            "\"[redacted]\"".into()
        }
    }
}

impl ConfigValue for PathBuf {
    fn parse_value(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(PathBuf::from(s))
        }
    }
    fn show(&self) -> String {
        toml_string(&self.display().to_string())
    }
}

impl ConfigValue for SocketAddr {
    fn parse_value(s: &str) -> Result<Self, String> {
        s.trim().parse().map_err(|_| {
            format!("{s:?} is not an address:port such as 127.0.0.1:8080 or [::]:8080")
        })
    }
    fn show(&self) -> String {
        toml_string(&self.to_string())
    }
}

impl ConfigValue for u32 {
    fn parse_value(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a whole number"))
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for u64 {
    fn parse_value(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a whole number"))
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for bool {
    fn parse_value(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("{s:?} is not true or false")),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl ConfigValue for TokenList {
    fn parse_value(s: &str) -> Result<Self, String> {
        TokenList::parse(s)
    }
    fn show(&self) -> String {
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(symbol, contract)| format!("{symbol} = {}", toml_string(contract)))
            .collect();
        format!("{{ {} }}", pairs.join(", ")).replace("{  }", "{}")
    }
}

impl ConfigValue for LogFormat {
    fn parse_value(s: &str) -> Result<Self, String> {
        match s.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{s:?} is not text or json")),
        }
    }
    fn show(&self) -> String {
        match self {
            LogFormat::Text => "\"text\"".into(),
            LogFormat::Json => "\"json\"".into(),
        }
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// One configurable option.
pub struct OptionSpec {
    /// TOML key (`section.name`).
    pub key: &'static str,
    /// Environment variable.
    pub env: &'static str,
    set: fn(&mut Settings, &str) -> Result<(), String>,
    get: fn(&Settings) -> String,
}

macro_rules! options {
    ($($key:literal => $env:literal => $($field:ident).+;)*) => {
        /// Every option, in the order `config show` prints them.
        pub const OPTIONS: &[OptionSpec] = &[$(OptionSpec {
            key: $key,
            env: $env,
            set: |s, v| {
                s.$($field).+ = ConfigValue::parse_value(v)?;
                Ok(())
            },
            get: |s| ConfigValue::show(&s.$($field).+),
        }),*];
    };
}

options! {
    "data_dir" => "KASSA_DATA_DIR" => data_dir;
    "server.listen" => "KASSA_LISTEN" => server.listen;
    "server.public_url" => "KASSA_PUBLIC_URL" => server.public_url;
    "server.metrics_token" => "KASSA_METRICS_TOKEN" => server.metrics_token;
    "server.trust_forwarded_for" => "KASSA_TRUST_FORWARDED_FOR" => server.trust_forwarded_for;
    "server.allow_private_targets" => "KASSA_ALLOW_PRIVATE_TARGETS" => server.allow_private_targets;
    "database.url" => "KASSA_DATABASE_URL" => database.url;
    "database.max_connections" => "KASSA_DATABASE_MAX_CONNECTIONS" => database.max_connections;
    "jobs.workers" => "KASSA_JOBS_WORKERS" => jobs.workers;
    "jobs.poll_interval_ms" => "KASSA_JOBS_POLL_INTERVAL_MS" => jobs.poll_interval_ms;
    "jobs.lease_secs" => "KASSA_JOBS_LEASE_SECS" => jobs.lease_secs;
    "jobs.instance_id" => "KASSA_JOBS_INSTANCE_ID" => jobs.instance_id;
    "jobs.per_destination" => "KASSA_JOBS_PER_DESTINATION" => jobs.per_destination;
    "log.format" => "KASSA_LOG_FORMAT" => log.format;
    "log.level" => "KASSA_LOG_LEVEL" => log.level;
    "secrets.master_key" => "KASSA_MASTER_KEY" => secrets.master_key;
    "accounts.open_signup" => "KASSA_OPEN_SIGNUP" => accounts.open_signup;
    "accounts.session_idle_minutes" => "KASSA_SESSION_IDLE_MINUTES" => accounts.session_idle_minutes;
    "accounts.session_max_hours" => "KASSA_SESSION_MAX_HOURS" => accounts.session_max_hours;
    "mail.smtp_url" => "KASSA_SMTP_URL" => mail.smtp_url;
    "mail.from" => "KASSA_MAIL_FROM" => mail.from;
    "fees.service_percent" => "KASSA_SERVICE_FEE_PERCENT" => fees.service_percent;
    "fees.transfer_usd" => "KASSA_TRANSFER_FEES_USD" => fees.transfer_usd;
    "withdrawals.approval_above_usd" => "KASSA_WITHDRAWALS_APPROVAL_ABOVE_USD" => withdrawals.approval_above_usd;
    "withdrawals.new_address_delay_hours" => "KASSA_WITHDRAWALS_NEW_ADDRESS_DELAY_HOURS" => withdrawals.new_address_delay_hours;
    "notifications.operator_emails" => "KASSA_OPERATOR_EMAILS" => notifications.operator_emails;
    "notifications.operator_alert_minutes" => "KASSA_OPERATOR_ALERT_MINUTES" => notifications.operator_alert_minutes;
    "telegram.bot_token" => "KASSA_TELEGRAM_BOT_TOKEN" => telegram.bot_token;
    "telegram.bot_username" => "KASSA_TELEGRAM_BOT_USERNAME" => telegram.bot_username;
    "telegram.api_url" => "KASSA_TELEGRAM_API_URL" => telegram.api_url;
    "rates.sources" => "KASSA_RATES_SOURCES" => rates.sources;
    "rates.coinbase_url" => "KASSA_RATES_COINBASE_URL" => rates.coinbase_url;
    "rates.coingecko_url" => "KASSA_RATES_COINGECKO_URL" => rates.coingecko_url;
    "rates.binance_url" => "KASSA_RATES_BINANCE_URL" => rates.binance_url;
    "rates.refresh_secs" => "KASSA_RATES_REFRESH_SECS" => rates.refresh_secs;
    "rates.max_age_secs" => "KASSA_RATES_MAX_AGE_SECS" => rates.max_age_secs;
    "chains.btc.chain" => "KASSA_CHAINS_BTC_CHAIN" => chains.btc.chain;
    "chains.btc.rpc_url" => "KASSA_CHAINS_BTC_RPC_URL" => chains.btc.rpc_url;
    "chains.btc.rpc_user" => "KASSA_CHAINS_BTC_RPC_USER" => chains.btc.rpc_user;
    "chains.btc.rpc_password" => "KASSA_CHAINS_BTC_RPC_PASSWORD" => chains.btc.rpc_password;
    "chains.btc.confirmations" => "KASSA_CHAINS_BTC_CONFIRMATIONS" => chains.btc.confirmations;
    "chains.btc.poll_interval_ms" => "KASSA_CHAINS_BTC_POLL_INTERVAL_MS" => chains.btc.poll_interval_ms;
    "chains.btc.xpub" => "KASSA_CHAINS_BTC_XPUB" => chains.btc.xpub;
    "chains.ltc.chain" => "KASSA_CHAINS_LTC_CHAIN" => chains.ltc.chain;
    "chains.ltc.rpc_url" => "KASSA_CHAINS_LTC_RPC_URL" => chains.ltc.rpc_url;
    "chains.ltc.rpc_user" => "KASSA_CHAINS_LTC_RPC_USER" => chains.ltc.rpc_user;
    "chains.ltc.rpc_password" => "KASSA_CHAINS_LTC_RPC_PASSWORD" => chains.ltc.rpc_password;
    "chains.ltc.confirmations" => "KASSA_CHAINS_LTC_CONFIRMATIONS" => chains.ltc.confirmations;
    "chains.ltc.poll_interval_ms" => "KASSA_CHAINS_LTC_POLL_INTERVAL_MS" => chains.ltc.poll_interval_ms;
    "chains.ltc.xpub" => "KASSA_CHAINS_LTC_XPUB" => chains.ltc.xpub;
    "chains.eth.rpc_url" => "KASSA_CHAINS_ETH_RPC_URL" => chains.eth.rpc_url;
    "chains.eth.chain_id" => "KASSA_CHAINS_ETH_CHAIN_ID" => chains.eth.chain_id;
    "chains.eth.confirmations" => "KASSA_CHAINS_ETH_CONFIRMATIONS" => chains.eth.confirmations;
    "chains.eth.poll_interval_ms" => "KASSA_CHAINS_ETH_POLL_INTERVAL_MS" => chains.eth.poll_interval_ms;
    "chains.eth.xpub" => "KASSA_CHAINS_ETH_XPUB" => chains.eth.xpub;
    "chains.eth.tokens" => "KASSA_CHAINS_ETH_TOKENS" => chains.eth.tokens;
    "chains.eth.explorer" => "KASSA_CHAINS_ETH_EXPLORER" => chains.eth.explorer;
    "chains.eth.max_fee_gwei" => "KASSA_CHAINS_ETH_MAX_FEE_GWEI" => chains.eth.max_fee_gwei;
    "chains.eth.sweep_max_fee_percent" => "KASSA_CHAINS_ETH_SWEEP_MAX_FEE_PERCENT" => chains.eth.sweep_max_fee_percent;
    "chains.bsc.rpc_url" => "KASSA_CHAINS_BSC_RPC_URL" => chains.bsc.rpc_url;
    "chains.bsc.chain_id" => "KASSA_CHAINS_BSC_CHAIN_ID" => chains.bsc.chain_id;
    "chains.bsc.confirmations" => "KASSA_CHAINS_BSC_CONFIRMATIONS" => chains.bsc.confirmations;
    "chains.bsc.poll_interval_ms" => "KASSA_CHAINS_BSC_POLL_INTERVAL_MS" => chains.bsc.poll_interval_ms;
    "chains.bsc.xpub" => "KASSA_CHAINS_BSC_XPUB" => chains.bsc.xpub;
    "chains.bsc.tokens" => "KASSA_CHAINS_BSC_TOKENS" => chains.bsc.tokens;
    "chains.bsc.explorer" => "KASSA_CHAINS_BSC_EXPLORER" => chains.bsc.explorer;
    "chains.bsc.max_fee_gwei" => "KASSA_CHAINS_BSC_MAX_FEE_GWEI" => chains.bsc.max_fee_gwei;
    "chains.bsc.sweep_max_fee_percent" => "KASSA_CHAINS_BSC_SWEEP_MAX_FEE_PERCENT" => chains.bsc.sweep_max_fee_percent;
    "chains.arb.rpc_url" => "KASSA_CHAINS_ARB_RPC_URL" => chains.arb.rpc_url;
    "chains.arb.chain_id" => "KASSA_CHAINS_ARB_CHAIN_ID" => chains.arb.chain_id;
    "chains.arb.confirmations" => "KASSA_CHAINS_ARB_CONFIRMATIONS" => chains.arb.confirmations;
    "chains.arb.poll_interval_ms" => "KASSA_CHAINS_ARB_POLL_INTERVAL_MS" => chains.arb.poll_interval_ms;
    "chains.arb.xpub" => "KASSA_CHAINS_ARB_XPUB" => chains.arb.xpub;
    "chains.arb.tokens" => "KASSA_CHAINS_ARB_TOKENS" => chains.arb.tokens;
    "chains.arb.explorer" => "KASSA_CHAINS_ARB_EXPLORER" => chains.arb.explorer;
    "chains.arb.max_fee_gwei" => "KASSA_CHAINS_ARB_MAX_FEE_GWEI" => chains.arb.max_fee_gwei;
    "chains.arb.sweep_max_fee_percent" => "KASSA_CHAINS_ARB_SWEEP_MAX_FEE_PERCENT" => chains.arb.sweep_max_fee_percent;
    "chains.opt.rpc_url" => "KASSA_CHAINS_OPT_RPC_URL" => chains.opt.rpc_url;
    "chains.opt.chain_id" => "KASSA_CHAINS_OPT_CHAIN_ID" => chains.opt.chain_id;
    "chains.opt.confirmations" => "KASSA_CHAINS_OPT_CONFIRMATIONS" => chains.opt.confirmations;
    "chains.opt.poll_interval_ms" => "KASSA_CHAINS_OPT_POLL_INTERVAL_MS" => chains.opt.poll_interval_ms;
    "chains.opt.xpub" => "KASSA_CHAINS_OPT_XPUB" => chains.opt.xpub;
    "chains.opt.tokens" => "KASSA_CHAINS_OPT_TOKENS" => chains.opt.tokens;
    "chains.opt.explorer" => "KASSA_CHAINS_OPT_EXPLORER" => chains.opt.explorer;
    "chains.opt.max_fee_gwei" => "KASSA_CHAINS_OPT_MAX_FEE_GWEI" => chains.opt.max_fee_gwei;
    "chains.opt.sweep_max_fee_percent" => "KASSA_CHAINS_OPT_SWEEP_MAX_FEE_PERCENT" => chains.opt.sweep_max_fee_percent;
    "chains.base.rpc_url" => "KASSA_CHAINS_BASE_RPC_URL" => chains.base.rpc_url;
    "chains.base.chain_id" => "KASSA_CHAINS_BASE_CHAIN_ID" => chains.base.chain_id;
    "chains.base.confirmations" => "KASSA_CHAINS_BASE_CONFIRMATIONS" => chains.base.confirmations;
    "chains.base.poll_interval_ms" => "KASSA_CHAINS_BASE_POLL_INTERVAL_MS" => chains.base.poll_interval_ms;
    "chains.base.xpub" => "KASSA_CHAINS_BASE_XPUB" => chains.base.xpub;
    "chains.base.tokens" => "KASSA_CHAINS_BASE_TOKENS" => chains.base.tokens;
    "chains.base.explorer" => "KASSA_CHAINS_BASE_EXPLORER" => chains.base.explorer;
    "chains.base.max_fee_gwei" => "KASSA_CHAINS_BASE_MAX_FEE_GWEI" => chains.base.max_fee_gwei;
    "chains.base.sweep_max_fee_percent" => "KASSA_CHAINS_BASE_SWEEP_MAX_FEE_PERCENT" => chains.base.sweep_max_fee_percent;
    "chains.tron.chain" => "KASSA_CHAINS_TRON_CHAIN" => chains.tron.chain;
    "chains.tron.api_url" => "KASSA_CHAINS_TRON_API_URL" => chains.tron.api_url;
    "chains.tron.api_key" => "KASSA_CHAINS_TRON_API_KEY" => chains.tron.api_key;
    "chains.tron.confirmations" => "KASSA_CHAINS_TRON_CONFIRMATIONS" => chains.tron.confirmations;
    "chains.tron.poll_interval_ms" => "KASSA_CHAINS_TRON_POLL_INTERVAL_MS" => chains.tron.poll_interval_ms;
    "chains.tron.xpub" => "KASSA_CHAINS_TRON_XPUB" => chains.tron.xpub;
    "chains.tron.tokens" => "KASSA_CHAINS_TRON_TOKENS" => chains.tron.tokens;
    "chains.tron.explorer" => "KASSA_CHAINS_TRON_EXPLORER" => chains.tron.explorer;
    "chains.tron.sweep_max_fee_percent" => "KASSA_CHAINS_TRON_SWEEP_MAX_FEE_PERCENT" => chains.tron.sweep_max_fee_percent;
}

/// Where an option's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Built in.
    Default,
    /// The configuration file.
    File,
    /// An environment variable.
    Env,
    /// A command-line flag.
    Flag,
}

/// Settings together with where each value came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The merged settings, validated.
    pub settings: Settings,
    /// Source per option key; keys not present are defaults.
    pub sources: BTreeMap<&'static str, Source>,
    /// The file read, if any.
    pub file: Option<PathBuf>,
}

/// Loads settings from an optional file, an environment (given as a lookup function so tests
/// need not touch the process environment) and command-line overrides `(key, value)`.
pub fn load(
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &[(&'static str, String)],
) -> Result<Loaded, ConfigError> {
    let mut sources = BTreeMap::new();
    let mut settings = match file {
        None => Settings::default(),
        Some(path) => {
            let file_err = |message: String| ConfigError::File {
                path: path.to_owned(),
                message,
            };
            let text = std::fs::read_to_string(path)
                .map_err(|e| file_err(format!("cannot read it: {e}")))?;
            let one_line = |e: toml::de::Error| {
                let line = e
                    .span()
                    .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                let message = e.message().replace('\n', " ");
                file_err(line.map_or(message.clone(), |l| format!("line {l}: {message}")))
            };
            let table: toml::Table = toml::from_str(&text).map_err(one_line)?;
            let settings: Settings = toml::from_str(&text).map_err(one_line)?;
            for o in OPTIONS {
                if lookup(&table, o.key).is_some() {
                    sources.insert(o.key, Source::File);
                }
            }
            settings
        }
    };
    for o in OPTIONS {
        if let Some(value) = env(o.env) {
            (o.set)(&mut settings, &value).map_err(|m| ConfigError::option(o.key, m))?;
            sources.insert(o.key, Source::Env);
        }
    }
    for (key, value) in flags {
        let o = OPTIONS
            .iter()
            .find(|o| o.key == *key)
            .ok_or_else(|| ConfigError::option(*key, "not a known option"))?;
        (o.set)(&mut settings, value).map_err(|m| ConfigError::option(o.key, m))?;
        sources.insert(o.key, Source::Flag);
    }
    settings.validate()?;
    Ok(Loaded {
        settings,
        sources,
        file: file.map(Path::to_owned),
    })
}

fn lookup<'a>(table: &'a toml::Table, dotted: &str) -> Option<&'a toml::Value> {
    let mut parts = dotted.split('.');
    let first = table.get(parts.next()?)?;
    parts.try_fold(first, |v, p| v.as_table()?.get(p))
}

impl Settings {
    /// Checks what can be checked without touching the system.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::option("data_dir", "must not be empty"));
        }
        self.database_url()?;
        self.public_url()?;
        if self.database.max_connections == 0 {
            return Err(ConfigError::option(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.jobs.workers > 256 {
            return Err(ConfigError::option("jobs.workers", "must be at most 256"));
        }
        if self.jobs.poll_interval_ms < 10 {
            return Err(ConfigError::option(
                "jobs.poll_interval_ms",
                "must be at least 10",
            ));
        }
        if self.jobs.lease_secs < 5 {
            return Err(ConfigError::option("jobs.lease_secs", "must be at least 5"));
        }
        if self.accounts.session_idle_minutes == 0 {
            return Err(ConfigError::option(
                "accounts.session_idle_minutes",
                "must be at least 1",
            ));
        }
        if self.accounts.session_max_hours == 0 {
            return Err(ConfigError::option(
                "accounts.session_max_hours",
                "must be at least 1",
            ));
        }
        let smtp = self.mail.smtp_url.expose();
        if !(smtp.is_empty() || smtp.starts_with("smtp://") || smtp.starts_with("smtps://")) {
            return Err(ConfigError::option(
                "mail.smtp_url",
                "must start with smtp:// or smtps://",
            ));
        }
        self.mail.check_from()?;
        self.fees.service_percent()?;
        self.fees.transfer_usd()?;
        self.withdrawals.approval_above_usd()?;
        self.telegram.check()?;
        self.notifications.operator_emails()?;
        if let Err(e) = self.rates.validate() {
            let field = e.split(':').next().unwrap_or_default().trim();
            let key = OPTIONS
                .iter()
                .map(|o| o.key)
                .find(|k| k.strip_prefix("rates.") == Some(field))
                .unwrap_or("rates.sources");
            return Err(ConfigError::option(key, e));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::option("log.level", format!("not a valid filter: {e}")))?;
        self.chains.validate()?;
        Ok(())
    }

    /// The database to use: `database.url`, or SQLite in the data folder.
    pub fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        if self.database.url.is_empty() {
            return Ok(DatabaseUrl::Sqlite(self.data_dir.join("kassa.db")));
        }
        DatabaseUrl::parse(self.database.url.expose())
            .map_err(|e| ConfigError::option("database.url", e.to_string()))
    }

    /// The public base URL without a trailing slash: `server.public_url`, or derived from
    /// `server.listen`.
    pub fn public_url(&self) -> Result<String, ConfigError> {
        let url = self.server.public_url.trim().trim_end_matches('/');
        if url.is_empty() {
            return Ok(format!("http://{}", self.server.listen));
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                ConfigError::option(
                    "server.public_url",
                    format!("{url:?} must start with https:// or http://"),
                )
            })?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains(['?', '#', ' ', '@']) {
            return Err(ConfigError::option(
                "server.public_url",
                format!("{url:?} has no valid host"),
            ));
        }
        Ok(url.to_owned())
    }

    /// The master key file used when `secrets.master_key` is not set.
    pub fn master_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }
}

impl Loaded {
    /// The effective configuration as TOML, secrets redacted, each line noting its source.
    pub fn show(&self) -> String {
        let mut out = String::new();
        if let Some(f) = &self.file {
            out.push_str(&format!("# configuration file: {}\n", f.display()));
        }
        let mut section = "";
        for o in OPTIONS {
            let (sect, name) = o.key.rsplit_once('.').unwrap_or(("", o.key));
            if sect != section {
                out.push_str(&format!("\n[{sect}]\n"));
                section = sect;
            }
            let source = match self.sources.get(o.key).unwrap_or(&Source::Default) {
                Source::Default => "default".to_owned(),
                Source::File => "file".to_owned(),
                Source::Env => format!("env {}", o.env),
                Source::Flag => "command line".to_owned(),
            };
            let line = format!("{name} = {}", (o.get)(&self.settings));
            out.push_str(&format!("{line:<60} # {source}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests;
