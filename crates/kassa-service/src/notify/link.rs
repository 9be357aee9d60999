//! Linking a Telegram chat: a one-time token (15 minutes, stored hashed) in a deep link
//! `https://t.me/<bot>?start=<token>`; the bot's updates, read by long polling `getUpdates`
//! ([`Poller`]; on PostgreSQL one process at a time), link the chat that sends `/start <token>`
//! and unlink the one that sends `/stop`. The next update offset is stored, so a restart does
//! not read an update twice.

use std::sync::Arc;
use std::time::Duration;

use kassa_core::UserId;
use kassa_store::StoreError;
use kassa_store::notifications as store;
use tokio_util::sync::CancellationToken;

use super::tell_in_center;
use crate::Ctx;
use crate::auth::token;
use crate::telegram::{BotApi, BotError, deep_link, is_stop, start_token};

/// How long a link works.
pub const LINK_TTL: Duration = Duration::from_secs(15 * 60);

/// How long one `getUpdates` waits for news.
pub const LONG_POLL_SECS: u32 = 25;

/// A new deep link for `user` (their older unused ones stop working).
pub async fn link_for(st: &Ctx, user: UserId) -> Result<Option<String>, StoreError> {
    if !st.config.telegram.enabled() {
        return Ok(None);
    }
    let tok = token::generate();
    let now = st.clock.now();
    store::insert_link_token(
        &mut st.db.write().await?,
        user,
        &token::hash(&tok),
        now.saturating_add(LINK_TTL),
    )
    .await?;
    Ok(Some(deep_link(
        st.config
            .telegram
            .bot_username
            .trim()
            .trim_start_matches('@'),
        &tok,
    )))
}

/// Unlinks `user`'s chat. False when none was linked.
pub async fn unlink(st: &Ctx, user: UserId) -> Result<bool, StoreError> {
    store::unlink_user(&mut st.db.write().await?, user).await
}

/// What a round of updates did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// Updates read.
    pub updates: usize,
    /// Chats linked.
    pub linked: usize,
    /// Chats unlinked.
    pub unlinked: usize,
}

/// Reads the bot's updates once (waiting up to `timeout_secs` for some) and acts on them.
pub async fn poll_once(st: &Ctx, bot: &BotApi, timeout_secs: u32) -> Result<Polled, String> {
    let offset = store::update_offset(&mut st.db.conn().await.map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let updates = bot
        .get_updates(offset, timeout_secs)
        .await
        .map_err(|e| match e {
            BotError::RetryAfter(d) => format!("Telegram asked to wait {} s", d.as_secs()),
            BotError::Blocked(m) | BotError::Rejected(m) | BotError::Transport(m) => m,
        })?;
    let mut done = Polled {
        updates: updates.len(),
        ..Polled::default()
    };
    for u in updates {
        let answer = act(st, &u, &mut done).await.map_err(|e| e.to_string())?;
        // Moved on before answering: a chat never gets two answers for one message.
        store::set_update_offset(
            &mut st.db.write().await.map_err(|e| e.to_string())?,
            u.update_id.saturating_add(1),
        )
        .await
        .map_err(|e| e.to_string())?;
        if let (Some(chat), Some(text)) = (u.chat_id, answer)
            && let Err(e) = bot.send_message(chat, &text).await
        {
            tracing::warn!(error = ?e, "could not answer a Telegram chat");
        }
    }
    Ok(done)
}

/// Acts on one update; the answer to send back, if any.
async fn act(
    st: &Ctx,
    u: &crate::telegram::Update,
    done: &mut Polled,
) -> Result<Option<String>, StoreError> {
    let (Some(chat), Some(text)) = (u.chat_id, u.text.as_deref()) else {
        return Ok(None);
    };
    let now = st.clock.now();
    if is_stop(text) {
        let mut tx = st.db.begin().await?;
        let gone = store::unlink_chat(&mut tx, chat).await?;
        tx.commit().await?;
        done.unlinked += gone.len();
        return Ok(Some(if gone.is_empty() {
            "This chat was not linked to a Kassa account.".to_owned()
        } else {
            "Unlinked: Kassa will not send notifications to this chat any more.".to_owned()
        }));
    }
    let Some(tok) = start_token(text) else {
        return Ok(Some(
            "Open the link from Kassa (Account → Notifications → Link Telegram) to link this chat."
                .to_owned(),
        ));
    };
    let mut tx = st.db.begin().await?;
    let Some(user) = store::use_link_token(&mut tx, &token::hash(tok), now).await? else {
        tx.rollback().await?;
        return Ok(Some(
            "This link has expired or was used already. Make a new one in Kassa.".to_owned(),
        ));
    };
    store::link_chat(&mut tx, user, chat, u.from_username.as_deref(), now).await?;
    tell_in_center(&mut tx, user, "telegram_linked", now).await?;
    tx.commit().await?;
    done.linked += 1;
    Ok(Some(
        "Linked: your Kassa notifications will arrive in this chat. Send /stop to unlink."
            .to_owned(),
    ))
}

/// The bot's update reader (see the module docs).
pub struct Poller {
    st: Ctx,
    bot: Arc<BotApi>,
}

impl Poller {
    /// A poller over the services' context and the operator's bot.
    pub fn new(st: Ctx, bot: Arc<BotApi>) -> Self {
        Self { st, bot }
    }

    /// Reads updates until `stop`, holding the bot's lock (waiting while another process
    /// has it).
    pub async fn run(self, stop: CancellationToken) {
        let _lock = loop {
            match kassa_store::chain::try_lock_watcher(&self.st.db, "telegram bot").await {
                Ok(Some(lock)) => break lock,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "Telegram bot lock"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        };
        tracing::info!("reading the Telegram bot's updates");
        let mut failures = 0u32;
        loop {
            let round = tokio::select! {
                () = stop.cancelled() => return,
                r = poll_once(&self.st, &self.bot, LONG_POLL_SECS) => r,
            };
            match round {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    if failures == 1 || failures.is_multiple_of(60) {
                        tracing::warn!(error = %e, times = failures, "reading Telegram updates");
                    }
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(u64::from(failures.min(30)))) => {}
                    }
                }
            }
        }
    }
}
