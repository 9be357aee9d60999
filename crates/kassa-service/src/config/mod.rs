//! The settings the services read, one struct per section of the configuration file
//! (`[accounts]`, `[mail]`, `[jobs]`, `[fees]`, `[chains]`). The server's `Settings` embeds them
//! and loads them (defaults, file, environment); the services only receive them.

use std::collections::BTreeMap;

use kassa_core::secret::SecretString;
use serde::Deserialize;

mod chains;

pub use chains::{
    ChainSettings, EvmChainSettings, TokenList, UtxoChainSettings, chain_env, chain_key,
    chain_name, network_named, parse_chain, section,
};

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
