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
    AccountSettings, ChainSettings, FeeSettings, JobSettings, MailSettings, NotificationSettings,
    SettingError, TelegramSettings, UtxoChainSettings, WithdrawalSettings, chain_env, chain_key,
    chain_name, parse_chain,
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
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_are_usable() {
        let l = load(None, &no_env, &[]).unwrap();
        assert_eq!(l.settings.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(l.settings.public_url().unwrap(), "http://127.0.0.1:8080");
        assert_eq!(
            l.settings.database_url().unwrap(),
            DatabaseUrl::Sqlite("./kassa-data/kassa.db".into())
        );
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = std::env::temp_dir().join(format!("kassa-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("k.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\npublic_url = \"https://pay.example/\"\n",
        )
        .unwrap();
        let env = |k: &str| (k == "KASSA_LISTEN").then(|| "127.0.0.1:9001".to_owned());
        let l = load(Some(&file), &env, &[("data_dir", "/srv/kassa".into())]).unwrap();
        assert_eq!(l.settings.server.listen.port(), 9001);
        assert_eq!(l.settings.public_url().unwrap(), "https://pay.example");
        assert_eq!(l.settings.data_dir, PathBuf::from("/srv/kassa"));
        assert_eq!(l.sources["server.listen"], Source::Env);
        assert_eq!(l.sources["server.public_url"], Source::File);
        assert_eq!(l.sources["data_dir"], Source::Flag);
        let shown = l.show();
        assert!(shown.contains("listen = \"127.0.0.1:9001\""), "{shown}");
        assert!(shown.contains("# env KASSA_LISTEN"), "{shown}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors_name_the_option() {
        let env = |k: &str| {
            (k == "KASSA_DATABASE_URL").then(|| "mysql://root@localhost/kassa".to_owned())
        };
        let err = load(None, &env, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("database.url (KASSA_DATABASE_URL): unknown database engine \"mysql\""),
            "{err}"
        );

        let env = |k: &str| (k == "KASSA_LISTEN").then(|| "localhost".to_owned());
        let err = load(None, &env, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("server.listen (KASSA_LISTEN): \"localhost\" is not an address:port"),
            "{err}"
        );

        let err = load(None, &no_env, &[("server.public_url", "ftp://x".into())])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("server.public_url (KASSA_PUBLIC_URL)"),
            "{err}"
        );
    }

    /// BIP84's published account key (m/84'/0'/0' of the "abandon … about" phrase).
    const BIP84_ZPUB: &str = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";

    /// The Litecoin regtest account key of the "abandon … about" phrase, as `format`.
    fn regtest_key(format: kassa_chain::hd::XpubFormat) -> String {
        use kassa_chain::hd::{Coin, HotWallet, Mnemonic};
        let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
        let hot = HotWallet::from_mnemonic(
            &Mnemonic::parse(phrase).unwrap(),
            "",
            Coin::Litecoin,
            kassa_chain::Chain::Regtest,
        )
        .unwrap();
        hot.watch_only().account_xpub_as(format).unwrap()
    }

    fn regtest_vpub() -> String {
        regtest_key(kassa_chain::hd::XpubFormat::Vpub)
    }

    fn load_env(vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load(
            None,
            &|k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            &[],
        )
    }

    #[test]
    fn chains_are_off_by_default_with_per_network_confirmations() {
        let l = load(None, &no_env, &[]).unwrap();
        let c = &l.settings.chains;
        assert!(!c.btc.is_configured() && !c.ltc.is_configured());
        assert_eq!((c.btc.confirmations, c.ltc.confirmations), (2, 6));
        assert_eq!(
            (c.btc.poll_interval_ms, c.ltc.poll_interval_ms),
            (1000, 1000)
        );
        assert_eq!(c.ltc.chain(), Some(kassa_chain::Chain::Mainnet));
        assert_eq!(c.ltc.xpub(), None);
    }

    #[test]
    fn chain_sections_load_from_file_and_environment() {
        let dir = std::env::temp_dir().join(format!("kassa-config-test3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("k.toml");
        std::fs::write(
            &file,
            "[chains.ltc]\nchain = \"regtest\"\nrpc_url = \"http://127.0.0.1:19443\"\nrpc_user = \"u\"\nrpc_password = \"node-pw-1\"\n\n[chains.btc]\nconfirmations = 3\n",
        )
        .unwrap();
        let vpub = regtest_vpub();
        let env = |k: &str| match k {
            "KASSA_CHAINS_LTC_XPUB" => Some(vpub.clone()),
            "KASSA_CHAINS_LTC_POLL_INTERVAL_MS" => Some("250".to_owned()),
            _ => None,
        };
        let l = load(Some(&file), &env, &[]).unwrap();
        let ltc = &l.settings.chains.ltc;
        assert!(ltc.is_configured());
        assert_eq!(ltc.chain(), Some(kassa_chain::Chain::Regtest));
        assert_eq!(
            ltc.confirmations, 6,
            "an omitted field keeps its network's default"
        );
        assert_eq!(ltc.poll_interval_ms, 250);
        assert_eq!(ltc.xpub(), Some(vpub.as_str()));
        assert_eq!(ltc.rpc_password.expose(), "node-pw-1");
        let btc = &l.settings.chains.btc;
        assert!(!btc.is_configured());
        assert_eq!(btc.confirmations, 3);
        assert_eq!(l.sources["chains.ltc.rpc_url"], Source::File);
        assert_eq!(l.sources["chains.ltc.xpub"], Source::Env);
        assert_eq!(
            l.settings.chains.of(&kassa_core::currency::LTC_NET),
            Some(ltc)
        );
        assert_eq!(l.settings.chains.of(&kassa_core::currency::TRC20), None);

        // `config show`: one section per network, the password redacted (also in Debug).
        let shown = l.show();
        assert!(shown.contains("\n[chains.ltc]\n"), "{shown}");
        assert!(shown.contains("\n[chains.btc]\n"), "{shown}");
        assert!(
            shown.contains("rpc_password = \"[redacted]\"") && shown.contains("# file"),
            "{shown}"
        );
        assert!(shown.contains("# env KASSA_CHAINS_LTC_XPUB"), "{shown}");
        let all = format!("{shown}{:?}", l.settings);
        assert!(!all.contains("node-pw-1"), "{all}");

        // A misspelt field in a chain section is refused like anywhere else.
        std::fs::write(&file, "[chains.ltc]\nrpc_ur = \"http://x\"\n").unwrap();
        let err = load(Some(&file), &no_env, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown field `rpc_ur`"), "{err}");
        std::fs::write(&file, "[chains.doge]\nrpc_url = \"http://x\"\n").unwrap();
        let err = load(Some(&file), &no_env, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown field `doge`"), "{err}");
        // A bad chain name in the file names the option, as from the environment.
        std::fs::write(&file, "[chains.btc]\nchain = \"signet\"\n").unwrap();
        let err = load(Some(&file), &no_env, &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("chains.btc.chain (KASSA_CHAINS_BTC_CHAIN): \"signet\" is not mainnet, testnet or regtest"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn chain_errors_name_the_option() {
        let url = ("KASSA_CHAINS_LTC_RPC_URL", "http://127.0.0.1:9332");
        let regtest = ("KASSA_CHAINS_LTC_CHAIN", "regtest");
        let vpub = regtest_vpub();
        let ttub = regtest_key(kassa_chain::hd::XpubFormat::Ttub);
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![("KASSA_CHAINS_LTC_CHAIN", "main")],
                "chains.ltc.chain (KASSA_CHAINS_LTC_CHAIN): \"main\" is not mainnet, testnet or regtest",
            ),
            (
                vec![("KASSA_CHAINS_BTC_RPC_URL", "localhost:8332")],
                "chains.btc.rpc_url (KASSA_CHAINS_BTC_RPC_URL): \"localhost:8332\" must be http:// or https://",
            ),
            (
                vec![("KASSA_CHAINS_BTC_RPC_URL", "not a url")],
                "chains.btc.rpc_url (KASSA_CHAINS_BTC_RPC_URL): \"not a url\" is not a URL",
            ),
            (
                vec![("KASSA_CHAINS_LTC_RPC_URL", "http://user:pw@127.0.0.1:9332")],
                "chains.ltc.rpc_url (KASSA_CHAINS_LTC_RPC_URL): put the user and password in rpc_user and rpc_password",
            ),
            (
                vec![url, ("KASSA_CHAINS_LTC_CONFIRMATIONS", "0")],
                "chains.ltc.confirmations (KASSA_CHAINS_LTC_CONFIRMATIONS): must be at least 1",
            ),
            (
                vec![url, ("KASSA_CHAINS_LTC_CONFIRMATIONS", "six")],
                "chains.ltc.confirmations (KASSA_CHAINS_LTC_CONFIRMATIONS): \"six\" is not a whole number",
            ),
            (
                vec![url, ("KASSA_CHAINS_LTC_POLL_INTERVAL_MS", "5")],
                "chains.ltc.poll_interval_ms (KASSA_CHAINS_LTC_POLL_INTERVAL_MS): must be at least 10",
            ),
            // A mainnet key for a regtest node: another chain.
            (
                vec![url, regtest, ("KASSA_CHAINS_LTC_XPUB", BIP84_ZPUB)],
                "chains.ltc.xpub (KASSA_CHAINS_LTC_XPUB): not a LTC regtest account key: this extended key belongs to another network or chain",
            ),
            // A test-chain key for mainnet.
            (
                vec![url, ("KASSA_CHAINS_LTC_XPUB", vpub.as_str())],
                "chains.ltc.xpub (KASSA_CHAINS_LTC_XPUB): not a LTC mainnet account key: this extended key belongs to another network or chain",
            ),
            // Litecoin's own spelling is not a Bitcoin key.
            (
                vec![
                    ("KASSA_CHAINS_BTC_RPC_URL", "http://127.0.0.1:8332"),
                    ("KASSA_CHAINS_BTC_CHAIN", "regtest"),
                    ("KASSA_CHAINS_BTC_XPUB", ttub.as_str()),
                ],
                "chains.btc.xpub (KASSA_CHAINS_BTC_XPUB): not a BTC regtest account key: this extended key belongs to another network or chain",
            ),
            (
                vec![url, ("KASSA_CHAINS_LTC_XPUB", "xpub-of-nobody")],
                "chains.ltc.xpub (KASSA_CHAINS_LTC_XPUB): not a LTC mainnet account key: this is not an extended public key",
            ),
            // Settings for a node without its URL: not silently ignored.
            (
                vec![("KASSA_CHAINS_LTC_XPUB", BIP84_ZPUB)],
                "chains.ltc.rpc_url (KASSA_CHAINS_LTC_RPC_URL): is empty but chains.ltc.xpub is set",
            ),
            (
                vec![("KASSA_CHAINS_BTC_RPC_PASSWORD", "pw")],
                "chains.btc.rpc_url (KASSA_CHAINS_BTC_RPC_URL): is empty but chains.btc.rpc_password is set",
            ),
        ];
        for (vars, expected) in cases {
            let err = load_env(&vars).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{vars:?}: expected {expected:?}, got {err:?}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        // The same key in its other spellings is accepted; so is a mainnet zpub for LTC.
        load_env(&[url, regtest, ("KASSA_CHAINS_LTC_XPUB", vpub.as_str())]).unwrap();
        load_env(&[url, ("KASSA_CHAINS_LTC_XPUB", BIP84_ZPUB)]).unwrap();
        load_env(&[url, regtest, ("KASSA_CHAINS_LTC_XPUB", ttub.as_str())]).unwrap();
        load_env(&[url, ("KASSA_CHAINS_LTC_CHAIN", "RegTest")]).unwrap();
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("kassa-config-test2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("k.toml");
        std::fs::write(&file, "[server]\nlisten_on = \"127.0.0.1:9000\"\n").unwrap();
        let err = load(Some(&file), &no_env, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown field `listen_on`"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_are_redacted_in_show_and_debug() {
        let env = |k: &str| match k {
            "KASSA_MASTER_KEY" => Some("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=".to_owned()),
            "KASSA_DATABASE_URL" => Some("postgres://kassa:pw0rd@db/kassa".to_owned()),
            _ => None,
        };
        let l = load(None, &env, &[]).unwrap();
        let all = format!("{}{:?}", l.show(), l.settings);
        assert!(!all.contains("pw0rd") && !all.contains("c2VjcmV0"), "{all}");
    }

    #[test]
    fn example_file_documents_every_option_and_matches_defaults() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../kassa.example.toml");
        let text = std::fs::read_to_string(example).unwrap();
        let l = load(Some(Path::new(example)), &no_env, &[]).unwrap();
        let defaults = load(None, &no_env, &[]).unwrap();
        for o in OPTIONS {
            let (_, name) = o.key.rsplit_once('.').unwrap_or(("", o.key));
            assert!(
                text.contains(&format!("{name} =")),
                "kassa.example.toml does not mention {}",
                o.key
            );
            assert!(
                text.contains(o.env),
                "kassa.example.toml does not mention {}",
                o.env
            );
            assert_eq!(
                (o.get)(&l.settings),
                (o.get)(&defaults.settings),
                "example differs from default for {}",
                o.key
            );
        }
    }
}
