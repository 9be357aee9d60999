//! Rate limits against guessing and abuse, kept in the database (so every instance shares
//! them) as token buckets: `max` hits per `window` means a burst of `max`, then one more every
//! `window / max` — at any moment, never more than `max` in the last `window`, with no window
//! boundary to double up on. Buckets keyed by e-mail use a hash of the address, so the table
//! holds no personal data, and count the same whether or not the account exists: hitting a
//! limit reveals nothing about which accounts exist.

use std::time::Duration;

use kassa_core::Timestamp;
use kassa_store::{Db, StoreError, rate_limit};

/// One limit: at most `max` hits per `window`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    /// Bucket prefix.
    pub name: &'static str,
    /// Hits allowed per window.
    pub max: i64,
    /// Window length.
    pub window: Duration,
}

const MIN: u64 = 60;

/// Sign-in attempts from one address.
pub const LOGIN_PER_IP: Limit = Limit {
    name: "login-ip",
    max: 30,
    window: Duration::from_secs(10 * MIN),
};
/// Failed sign-ins for one e-mail (a temporary lockout of that account for browsers it has
/// not signed in from before; see [`super::device`]).
pub const LOGIN_FAILURES_PER_ACCOUNT: Limit = Limit {
    name: "login-acct",
    max: 10,
    window: Duration::from_secs(15 * MIN),
};
/// Failed sign-ins from one browser that signed in to the account before (its device
/// cookie's own count, instead of the account's).
pub const LOGIN_FAILURES_PER_DEVICE: Limit = Limit {
    name: "login-dev",
    max: 10,
    window: Duration::from_secs(15 * MIN),
};
/// Sign-ups from one address.
pub const SIGNUP_PER_IP: Limit = Limit {
    name: "signup-ip",
    max: 10,
    window: Duration::from_secs(60 * MIN),
};
/// Password-reset requests from one address.
pub const RESET_PER_IP: Limit = Limit {
    name: "reset-ip",
    max: 10,
    window: Duration::from_secs(60 * MIN),
};
/// Password-reset requests for one e-mail.
pub const RESET_PER_ACCOUNT: Limit = Limit {
    name: "reset-acct",
    max: 3,
    window: Duration::from_secs(60 * MIN),
};
/// The CryptoCloud withdrawal API: one request per 12 seconds per key (the contract's limit).
pub const WITHDRAW_API_PER_KEY: Limit = Limit {
    name: "withdraw-api",
    max: 1,
    window: Duration::from_secs(12),
};
/// Wrong second-factor codes for one user (at sign-in and re-authentication).
pub const MFA_FAILURES_PER_USER: Limit = Limit {
    name: "mfa-user",
    max: 5,
    window: Duration::from_secs(5 * MIN),
};
/// Second-factor attempts from one address.
pub const MFA_PER_IP: Limit = Limit {
    name: "mfa-ip",
    max: 30,
    window: Duration::from_secs(10 * MIN),
};
/// Wrong passwords at re-authentication and password change, per user.
pub const REAUTH_FAILURES_PER_USER: Limit = Limit {
    name: "reauth-user",
    max: 5,
    window: Duration::from_secs(5 * MIN),
};

/// The limit was reached; try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl Limit {
    fn interval_micros(&self) -> i64 {
        let window = i64::try_from(self.window.as_micros()).unwrap_or(i64::MAX);
        (window / self.max.max(1)).max(1)
    }

    fn window_micros(&self) -> i64 {
        i64::try_from(self.window.as_micros()).unwrap_or(i64::MAX)
    }

    /// How long until a hit would be admitted, given the bucket's arrival time.
    fn wait(&self, arrival: Option<Timestamp>, now: Timestamp) -> Option<RetryAfter> {
        let arrival = arrival?.as_micros().max(now.as_micros());
        let admitted_from = arrival
            .saturating_add(self.interval_micros())
            .saturating_sub(self.window_micros());
        let wait = admitted_from.saturating_sub(now.as_micros());
        (wait > 0).then(|| {
            RetryAfter(Duration::from_micros(wait.unsigned_abs()).max(Duration::from_secs(1)))
        })
    }

    fn bucket(&self, key: &str) -> String {
        format!("{}:{key}", self.name)
    }

    /// Refuses when a hit now would be refused, without counting one.
    pub async fn check(
        &self,
        db: &Db,
        key: &str,
        now: Timestamp,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let mut c = db.conn().await?;
        let arrival = rate_limit::arrival(&mut c, &self.bucket(key)).await?;
        Ok(self.wait(arrival, now).map_or(Ok(()), Err))
    }

    /// Counts a hit if the bucket admits it; refuses (counting nothing) when it does not.
    pub async fn hit(
        &self,
        db: &Db,
        key: &str,
        now: Timestamp,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let mut c = db.write().await?;
        let bucket = self.bucket(key);
        let admitted = rate_limit::admit(
            &mut c,
            &bucket,
            now,
            self.interval_micros(),
            self.window_micros(),
        )
        .await?;
        if admitted.is_some() {
            return Ok(Ok(()));
        }
        let arrival = rate_limit::arrival(&mut c, &bucket).await?;
        Ok(Err(self
            .wait(arrival, now)
            .unwrap_or(RetryAfter(Duration::from_secs(1)))))
    }

    /// Forgets the count for `key` (after a success).
    pub async fn clear(&self, db: &Db, key: &str) -> Result<(), StoreError> {
        let mut c = db.write().await?;
        rate_limit::clear(&mut c, &self.bucket(key)).await
    }
}

/// The key for an e-mail address: a hash, so the table holds no addresses.
pub fn email_key(email: &str) -> String {
    super::token::hash(&format!(
        "kassa rate limit\0{}",
        email.trim().to_lowercase()
    ))[..32]
        .to_owned()
}
