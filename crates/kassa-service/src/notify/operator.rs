//! Alerts for the operator of the instance (`notifications.operator_emails`): a network's node
//! unreachable, or its watcher behind the node, for `operator_alert_minutes` — and again when
//! it is well; a withdrawal the hot wallet cannot pay yet ([`hot_wallet_waits`]); token sweeps
//! waiting for gas ([`hot_wallet_short`]). Each watcher keeps its own [`Alerts`] and asks after every round; a trouble is
//! told once, not every round (a restart may tell it again).

use std::time::Duration;

use kassa_core::Timestamp;
use kassa_core::lang::Lang;
use kassa_store::StoreError;

use crate::Ctx;
use crate::i18n::Tr;
use crate::mail::{self, Letter};
use crate::metrics::ChainHealth;

/// More blocks behind the node than this is "behind".
pub const LAG_BLOCKS: u64 = 6;

/// What is wrong with a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// Its node does not answer.
    Unreachable,
    /// Its watcher is behind its node.
    Behind,
}

/// One network's alert state.
#[derive(Debug, Default)]
pub struct Alerts {
    told: Option<Trouble>,
    behind_since: Option<Timestamp>,
}

impl Alerts {
    /// What is wrong now, given the network's `health`, once it lasted `after`.
    fn trouble(&mut self, h: &ChainHealth, now: Timestamp, after: Duration) -> Option<Trouble> {
        if !h.reachable
            && h.failing_since
                .is_some_and(|t| now.duration_since(t) >= after)
        {
            return Some(Trouble::Unreachable);
        }
        if h.lag().is_some_and(|l| l > LAG_BLOCKS) {
            let since = *self.behind_since.get_or_insert(now);
            return (now.duration_since(since) >= after).then_some(Trouble::Behind);
        }
        self.behind_since = None;
        None
    }

    /// Tells the operator when `network`'s trouble begins or ends. How many letters went.
    pub async fn after_round(&mut self, st: &Ctx, network: &str) -> Result<usize, StoreError> {
        let Ok(to) = st.config.notifications.operator_emails() else {
            return Ok(0);
        };
        if to.is_empty() {
            return Ok(0);
        }
        let Some(h) = st.metrics.chain(network) else {
            return Ok(0);
        };
        let now = st.clock.now();
        let after = Duration::from_secs(
            st.config
                .notifications
                .operator_alert_minutes
                .saturating_mul(60),
        );
        let now_trouble = match self.trouble(&h, now, after) {
            // A trouble not yet long enough changes nothing told.
            None if self.told.is_some() && !h.reachable => return Ok(0),
            t => t,
        };
        if now_trouble == self.told {
            return Ok(0);
        }
        let tr = Tr::new(Lang::En);
        let minutes = st.config.notifications.operator_alert_minutes;
        let (subject, body) = match now_trouble {
            Some(Trouble::Unreachable) => (
                format!("Kassa: the {network} node has been unreachable for {minutes} minutes"),
                format!(
                    "The {network} watcher cannot reach its node: {}. Payments in {network} are not seen until it answers again.",
                    h.last_error.as_deref().unwrap_or("no answer")
                ),
            ),
            Some(Trouble::Behind) => (
                format!("Kassa: the {network} watcher is behind its node"),
                format!(
                    "The {network} watcher is {} blocks behind its node for {minutes} minutes: payments are confirmed late.",
                    h.lag().unwrap_or(0)
                ),
            ),
            None => (
                format!("Kassa: {network} is well again"),
                format!("The {network} watcher reaches its node and is up to date again."),
            ),
        };
        let letter = Letter {
            subject,
            paragraphs: vec![body],
            action: Some(("/readyz".to_owned(), format!("{}/readyz", st.public_url))),
            footer: "You get this because your address is in notifications.operator_emails of this Kassa.".to_owned(),
        };
        let mut w = st.db.write().await?;
        for address in &to {
            mail::enqueue(&mut w, &st.keyring, &letter.render(address, tr), now).await?;
        }
        drop(w);
        st.jobs.wake();
        tracing::warn!(network, trouble = ?now_trouble, "operator told");
        self.told = now_trouble;
        Ok(to.len())
    }
}

/// Tells the operator, in the caller's transaction, that a withdrawal on `network` waits for
/// the hot wallet (`why`: what to send where). How many letters went.
pub async fn hot_wallet_waits(
    conn: &mut impl kassa_store::AsConn,
    st: &Ctx,
    network: &str,
    why: &str,
) -> Result<usize, StoreError> {
    let letter = Letter {
        subject: format!("Kassa: a {network} withdrawal waits for the hot wallet"),
        paragraphs: vec![
            why.to_owned(),
            "The merchant sees it as processing, delayed; it goes out by itself once the wallet can pay it.".to_owned(),
        ],
        action: None,
        footer: String::new(),
    };
    let n = tell(conn, st, letter).await?;
    tracing::warn!(
        network,
        why,
        "operator told: a withdrawal waits for the hot wallet"
    );
    Ok(n)
}

/// Tells the operator, in the caller's transaction, that token sweeps on `network` wait for
/// gas (`why`: what to send where).
pub async fn hot_wallet_short(
    conn: &mut impl kassa_store::AsConn,
    st: &Ctx,
    network: &str,
    why: &str,
) -> Result<usize, StoreError> {
    let letter = Letter {
        subject: format!("Kassa: the {network} hot wallet is short of gas"),
        paragraphs: vec![
            why.to_owned(),
            "Payments are counted as usual; only moving them into the hot wallet waits.".to_owned(),
        ],
        action: None,
        footer: String::new(),
    };
    let n = tell(conn, st, letter).await?;
    tracing::warn!(
        network,
        why,
        "operator told: the hot wallet is short of gas"
    );
    Ok(n)
}

/// E-mails `letter` to every operator address, with the usual link and footer.
async fn tell(
    conn: &mut impl kassa_store::AsConn,
    st: &Ctx,
    mut letter: Letter,
) -> Result<usize, StoreError> {
    let Ok(to) = st.config.notifications.operator_emails() else {
        return Ok(0);
    };
    letter.action = Some(("/readyz".to_owned(), format!("{}/readyz", st.public_url)));
    letter.footer =
        "You get this because your address is in notifications.operator_emails of this Kassa."
            .to_owned();
    let now = st.clock.now();
    for address in &to {
        mail::enqueue(
            conn,
            &st.keyring,
            &letter.render(address, Tr::new(Lang::En)),
            now,
        )
        .await?;
    }
    Ok(to.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(reachable: bool, failing_for: Option<u64>, lag: u64, now: Timestamp) -> ChainHealth {
        ChainHealth {
            node_height: Some(100 + lag),
            watcher_height: Some(100),
            reachable,
            failing_since: failing_for.map(|s| {
                Timestamp::from_micros(now.as_micros() - i64::try_from(s).unwrap() * 1_000_000)
            }),
            ..ChainHealth::default()
        }
    }

    #[test]
    fn troubles_count_only_once_they_last() {
        let now = Timestamp::from_micros(1_700_000_000_000_000);
        let five = Duration::from_secs(300);
        let mut a = Alerts::default();
        assert_eq!(a.trouble(&health(false, Some(60), 0, now), now, five), None);
        assert_eq!(
            a.trouble(&health(false, Some(301), 0, now), now, five),
            Some(Trouble::Unreachable)
        );
        assert_eq!(
            a.trouble(&health(true, None, 10, now), now, five),
            None,
            "behind from now"
        );
        let later = now.saturating_add(Duration::from_secs(301));
        assert_eq!(
            a.trouble(&health(true, None, 10, later), later, five),
            Some(Trouble::Behind)
        );
        assert_eq!(a.trouble(&health(true, None, 1, later), later, five), None);
        assert_eq!(a.behind_since, None);
    }
}
