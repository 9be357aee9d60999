//! The settings the services read, one struct per section of the configuration file
//! (`[accounts]`, `[mail]`, `[jobs]`, `[fees]`, `[chains]`). The server's `Settings` embeds them
//! and loads them (defaults, file, environment); the services only receive them.

use std::collections::BTreeMap;

use kassa_core::currency::{BTC_NET, LTC_NET, Network};
use kassa_core::secret::SecretString;
use serde::Deserialize;

/// A bad value of one option, named by its TOML key (the server adds the environment
/// variable when it reports it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingError {
    /// TOML key, e.g. `chains.ltc.rpc_url`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl SettingError {
    /// An error about the option `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// `[fees]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeeSettings {
    /// Service fee in percent of each payment, e.g. `1.9`.
    pub service_percent: String,
    /// The cost of moving funds out of a deposit address, in USD per network:
    /// `NETWORK=USD` pairs separated by commas.
    pub transfer_usd: String,
}

impl Default for FeeSettings {
    fn default() -> Self {
        Self {
            service_percent: "1.9".into(),
            transfer_usd: "TRC20=1.4,ERC20=2.5,BSC=0.15,ARB=0.1,OPT=0.1,BASE=0.1,SOL=0.01,TON=0.05,BTC=0,LTC=0".into(),
        }
    }
}

impl FeeSettings {
    /// The service fee percentage.
    pub fn service_percent(&self) -> Result<rust_decimal::Decimal, SettingError> {
        kassa_core::money::parse_decimal(&self.service_percent)
            .filter(|d| !d.is_sign_negative() && *d < rust_decimal::Decimal::from(100))
            .ok_or_else(|| {
                SettingError::new(
                    "fees.service_percent",
                    format!("{:?} is not a percentage below 100", self.service_percent),
                )
            })
    }

    /// The transfer fee in USD per network code; networks not listed cost nothing.
    pub fn transfer_usd(
        &self,
    ) -> Result<BTreeMap<&'static str, rust_decimal::Decimal>, SettingError> {
        let mut out = BTreeMap::new();
        for pair in self
            .transfer_usd
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let bad = || {
                SettingError::new(
                    "fees.transfer_usd",
                    format!("{pair:?} is not NETWORK=USD (e.g. TRC20=1.4)"),
                )
            };
            let (net, usd) = pair.split_once('=').ok_or_else(bad)?;
            let network = kassa_core::currency::network(net).ok_or_else(|| {
                SettingError::new(
                    "fees.transfer_usd",
                    format!("unknown network {:?}", net.trim()),
                )
            })?;
            let usd = kassa_core::money::parse_decimal(usd)
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(bad)?;
            out.insert(network.code, usd);
        }
        Ok(out)
    }
}

/// `[withdrawals]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WithdrawalSettings {
    /// Withdrawals worth more than this many USD (at the rate when asked) wait for the
    /// operator's `kassa wallet approve`; empty: none do. A withdrawal whose USD value is not
    /// known (no rate) waits too when this is set.
    pub approval_above_usd: String,
    /// Hours before a newly saved withdrawal address can be used.
    pub new_address_delay_hours: u64,
}

impl Default for WithdrawalSettings {
    fn default() -> Self {
        Self {
            approval_above_usd: String::new(),
            new_address_delay_hours: 24,
        }
    }
}

impl WithdrawalSettings {
    /// The approval threshold in USD, if one is set.
    pub fn approval_above_usd(&self) -> Result<Option<rust_decimal::Decimal>, SettingError> {
        let text = self.approval_above_usd.trim();
        if text.is_empty() {
            return Ok(None);
        }
        kassa_core::money::parse_decimal(text)
            .filter(|d| !d.is_sign_negative())
            .map(Some)
            .ok_or_else(|| {
                SettingError::new(
                    "withdrawals.approval_above_usd",
                    format!("{text:?} is not an amount of USD (e.g. 1000 or 250.50)"),
                )
            })
    }

    /// The cooling-off of a new address.
    pub fn new_address_delay(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.new_address_delay_hours.saturating_mul(3600))
    }
}

/// `[accounts]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountSettings {
    /// Whether anyone may sign up. When false, the operator creates owners with
    /// `kassa admin create-user`, and owners invite their staff.
    pub open_signup: bool,
    /// Minutes without a request after which a session ends.
    pub session_idle_minutes: u64,
    /// Hours after sign-in after which a session ends, however active.
    pub session_max_hours: u64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            open_signup: true,
            session_idle_minutes: 60,
            session_max_hours: 24,
        }
    }
}

/// `[notifications]`: what the operator of the instance is told.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationSettings {
    /// Where alerts about the instance go (a network's node unreachable, its watcher behind):
    /// e-mail addresses separated by commas. Empty: none are sent.
    pub operator_emails: String,
    /// Minutes a trouble lasts before it is told.
    pub operator_alert_minutes: u64,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            operator_emails: String::new(),
            operator_alert_minutes: 5,
        }
    }
}

impl NotificationSettings {
    /// The operator's addresses, checked.
    pub fn operator_emails(&self) -> Result<Vec<String>, SettingError> {
        self.operator_emails
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                kassa_core::account::Email::parse(e)
                    .map(|_| e.to_owned())
                    .map_err(|_| {
                        SettingError::new(
                            "notifications.operator_emails",
                            format!("{e:?} is not an e-mail address"),
                        )
                    })
            })
            .collect()
    }
}

/// `[telegram]`: the operator's bot, for people who link a chat to get their notifications.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    /// The bot's token from @BotFather. Empty: no Telegram.
    pub bot_token: SecretString,
    /// The bot's username (without `@`), for the link people open.
    pub bot_username: String,
    /// The Bot API's base URL.
    pub api_url: String,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            bot_token: SecretString::default(),
            bot_username: String::new(),
            api_url: "https://api.telegram.org".into(),
        }
    }
}

impl TelegramSettings {
    /// Whether a bot is configured.
    pub fn enabled(&self) -> bool {
        !self.bot_token.expose().is_empty() && !self.bot_username.trim().is_empty()
    }

    /// Checks the settings: a token needs a username and an http(s) API URL.
    pub fn check(&self) -> Result<(), SettingError> {
        if self.bot_token.expose().is_empty() {
            return Ok(());
        }
        let name = self.bot_username.trim().trim_start_matches('@');
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(SettingError::new(
                "telegram.bot_username",
                "set the bot's username (letters, digits and _) with telegram.bot_token",
            ));
        }
        let url = self.api_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(SettingError::new(
                "telegram.api_url",
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        Ok(())
    }
}

/// `[mail]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://user:pass@host:465`, or
    /// `smtp://host:25` without TLS. Empty: messages are written to `<data_dir>/outbox/`.
    pub smtp_url: SecretString,
    /// The sender, e.g. `Kassa <billing@example.com>`.
    pub from: String,
}

impl MailSettings {
    /// Checks that `from` is a sender the mail transport takes.
    pub fn check_from(&self) -> Result<(), SettingError> {
        self.from
            .parse::<lettre::message::Mailbox>()
            .map(drop)
            .map_err(|_| {
                SettingError::new(
                    "mail.from",
                    format!(
                        "{:?} is not a sender such as \"Kassa <billing@example.com>\"",
                        self.from
                    ),
                )
            })
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: SecretString::default(),
            from: "Kassa <kassa@localhost>".into(),
        }
    }
}

/// `[jobs]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Jobs run at once by this process; 0 runs none (a web-only instance).
    pub workers: u32,
    /// How often an idle worker looks for due jobs, in milliseconds.
    pub poll_interval_ms: u64,
    /// How long a claimed job stays reserved without a heartbeat, in seconds.
    pub lease_secs: u64,
    /// A name this instance keeps across restarts (PostgreSQL with several instances): at
    /// start-up it takes back the jobs it was running when it stopped, without waiting for
    /// their leases. Empty: leases run out first. Each instance needs its own name.
    pub instance_id: String,
    /// Jobs to one destination (a shop's postback host) in flight at once in this process;
    /// the rest of the queue keeps flowing past them. 0: no bound.
    pub per_destination: u32,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            workers: 8,
            poll_interval_ms: 1000,
            lease_secs: 60,
            instance_id: String::new(),
            per_destination: 2,
        }
    }
}

/// `[chains]`: the UTXO networks the operator runs a node for (`[chains.btc]`,
/// `[chains.ltc]`). A network whose `rpc_url` is empty is not configured: it takes no live
/// payments and is not offered to live projects.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "RawChains")]
pub struct ChainSettings {
    /// `[chains.btc]`: Bitcoin.
    pub btc: UtxoChainSettings,
    /// `[chains.ltc]`: Litecoin.
    pub ltc: UtxoChainSettings,
}

/// `[chains.<network>]` of a UTXO network (BTC, LTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UtxoChainSettings {
    /// `mainnet`, `testnet` or `regtest`: which chain the node follows (it decides the
    /// address prefixes and the BIP84 coin type).
    pub chain: String,
    /// The node's JSON-RPC URL, e.g. `http://127.0.0.1:9332`. Empty: not configured.
    pub rpc_url: String,
    /// The node's RPC user (`rpcuser`).
    pub rpc_user: String,
    /// The node's RPC password (`rpcpassword`).
    pub rpc_password: SecretString,
    /// Confirmations a payment needs before it counts (at least 1).
    pub confirmations: u32,
    /// How often the watcher asks the node for new blocks and mempool transactions, in
    /// milliseconds.
    pub poll_interval_ms: u64,
    /// A watch-only wallet: the account's extended public key (`m/84'/coin'/0'`, as
    /// xpub/zpub/tpub/vpub/Ltub/ttub). Empty: the hot wallet made by `kassa wallet init`.
    pub xpub: String,
}

impl UtxoChainSettings {
    fn with_confirmations(confirmations: u32) -> Self {
        Self {
            chain: "mainnet".into(),
            rpc_url: String::new(),
            rpc_user: String::new(),
            rpc_password: SecretString::default(),
            confirmations,
            poll_interval_ms: 1000,
            xpub: String::new(),
        }
    }

    /// Whether the network is configured (it has a node URL).
    pub fn is_configured(&self) -> bool {
        !self.rpc_url.trim().is_empty()
    }

    /// The chain, if `chain` names one.
    pub fn chain(&self) -> Option<kassa_chain::Chain> {
        parse_chain(&self.chain)
    }

    /// The configured watch-only wallet's key, if any (trimmed).
    pub fn xpub(&self) -> Option<&str> {
        Some(self.xpub.trim()).filter(|x| !x.is_empty())
    }
}

/// Reads a chain name: `mainnet`, `testnet` or `regtest` (any letter case).
pub fn parse_chain(name: &str) -> Option<kassa_chain::Chain> {
    match name.trim().to_ascii_lowercase().as_str() {
        "mainnet" => Some(kassa_chain::Chain::Mainnet),
        "testnet" => Some(kassa_chain::Chain::Testnet),
        "regtest" => Some(kassa_chain::Chain::Regtest),
        _ => None,
    }
}

/// The configuration (and storage) spelling of a chain.
pub fn chain_name(chain: kassa_chain::Chain) -> &'static str {
    match chain {
        kassa_chain::Chain::Mainnet => "mainnet",
        kassa_chain::Chain::Testnet => "testnet",
        kassa_chain::Chain::Regtest => "regtest",
    }
}

impl Default for ChainSettings {
    fn default() -> Self {
        Self {
            btc: UtxoChainSettings::with_confirmations(2),
            ltc: UtxoChainSettings::with_confirmations(6),
        }
    }
}

impl ChainSettings {
    /// The UTXO networks with their settings, configured or not.
    pub fn utxo(&self) -> [(&'static Network, &UtxoChainSettings); 2] {
        [(&BTC_NET, &self.btc), (&LTC_NET, &self.ltc)]
    }

    /// The settings of `network`, if it is a UTXO network Kassa can run.
    pub fn of(&self, network: &Network) -> Option<&UtxoChainSettings> {
        self.utxo()
            .into_iter()
            .find(|(n, _)| n.code == network.code)
            .map(|(_, s)| s)
    }

    /// Checks every configured network's settings.
    pub fn validate(&self) -> Result<(), SettingError> {
        for (network, s) in self.utxo() {
            let key = |field: &str| chain_key(network, field);
            let chain = s.chain().ok_or_else(|| {
                SettingError::new(
                    key("chain"),
                    format!("{:?} is not mainnet, testnet or regtest", s.chain),
                )
            })?;
            if !s.is_configured() {
                let stray = [
                    ("xpub", s.xpub.trim().is_empty()),
                    ("rpc_user", s.rpc_user.is_empty()),
                    ("rpc_password", s.rpc_password.is_empty()),
                ]
                .into_iter()
                .find(|(_, empty)| !empty);
                if let Some((field, _)) = stray {
                    return Err(SettingError::new(
                        key("rpc_url"),
                        format!(
                            "is empty but {} is set: give the node's URL to take {} payments, or remove the section",
                            key(field),
                            network.code
                        ),
                    ));
                }
                continue;
            }
            check_rpc_url(s.rpc_url.trim()).map_err(|m| SettingError::new(key("rpc_url"), m))?;
            if s.confirmations == 0 {
                return Err(SettingError::new(
                    key("confirmations"),
                    "must be at least 1",
                ));
            }
            if s.poll_interval_ms < 10 {
                return Err(SettingError::new(
                    key("poll_interval_ms"),
                    "must be at least 10",
                ));
            }
            if let (Some(xpub), Some(coin)) = (s.xpub(), kassa_chain::hd::Coin::of(network)) {
                kassa_chain::hd::WatchOnlyWallet::from_account_xpub(coin, chain, xpub).map_err(
                    |e| {
                        SettingError::new(
                            key("xpub"),
                            format!(
                                "not a {} {} account key: {e}",
                                network.code,
                                chain_name(chain)
                            ),
                        )
                    },
                )?;
            }
        }
        Ok(())
    }
}

/// The TOML key of option `field` of `network` (`chains.ltc.rpc_url`).
pub fn chain_key(network: &Network, field: &str) -> String {
    format!("chains.{}.{field}", network.code.to_ascii_lowercase())
}

/// The environment variable of option `field` of `network` (`KASSA_CHAINS_LTC_RPC_URL`).
pub fn chain_env(network: &Network, field: &str) -> String {
    format!(
        "KASSA_CHAINS_{}_{}",
        network.code.to_ascii_uppercase(),
        field.to_ascii_uppercase()
    )
}

fn check_rpc_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{text:?} must be http:// or https:// with a host, e.g. http://127.0.0.1:9332"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "put the user and password in rpc_user and rpc_password, not in the URL".into(),
        );
    }
    Ok(())
}

/// `[chains]` as written: every field optional, so that an omitted one takes its network's
/// default (confirmations differ per network).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawChains {
    btc: RawUtxoChain,
    ltc: RawUtxoChain,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUtxoChain {
    chain: Option<String>,
    rpc_url: Option<String>,
    rpc_user: Option<String>,
    rpc_password: Option<SecretString>,
    confirmations: Option<u32>,
    poll_interval_ms: Option<u64>,
    xpub: Option<String>,
}

impl RawUtxoChain {
    fn over(self, mut s: UtxoChainSettings) -> UtxoChainSettings {
        if let Some(v) = self.chain {
            s.chain = v;
        }
        if let Some(v) = self.rpc_url {
            s.rpc_url = v;
        }
        if let Some(v) = self.rpc_user {
            s.rpc_user = v;
        }
        if let Some(v) = self.rpc_password {
            s.rpc_password = v;
        }
        if let Some(v) = self.confirmations {
            s.confirmations = v;
        }
        if let Some(v) = self.poll_interval_ms {
            s.poll_interval_ms = v;
        }
        if let Some(v) = self.xpub {
            s.xpub = v;
        }
        s
    }
}

impl From<RawChains> for ChainSettings {
    fn from(raw: RawChains) -> Self {
        let d = ChainSettings::default();
        ChainSettings {
            btc: raw.btc.over(d.btc),
            ltc: raw.ltc.over(d.ltc),
        }
    }
}
