//! Rate limits against guessing and abuse, counted in the database (so every instance
//! shares them) in fixed windows. Buckets keyed by e-mail use a hash of the address, so the
//! counter table holds no personal data, and count the same whether or not the account
//! exists: hitting a limit reveals nothing about which accounts exist.

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
/// Failed sign-ins for one e-mail (a temporary lockout of that account).
pub const LOGIN_FAILURES_PER_ACCOUNT: Limit = Limit {
    name: "login-acct",
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
    fn window_start(&self, now: Timestamp) -> Timestamp {
        let w = i64::try_from(self.window.as_micros())
            .unwrap_or(i64::MAX)
            .max(1);
        Timestamp::from_micros(now.as_micros().div_euclid(w) * w)
    }

    fn retry_after(&self, now: Timestamp) -> RetryAfter {
        let end = self.window_start(now).saturating_add(self.window);
        RetryAfter(end.duration_since(now).max(Duration::from_secs(1)))
    }

    fn bucket(&self, key: &str) -> String {
        format!("{}:{key}", self.name)
    }

    /// Refuses when the window already holds `max` hits, without counting.
    pub async fn check(
        &self,
        db: &Db,
        key: &str,
        now: Timestamp,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let mut c = db.conn().await?;
        let n = rate_limit::hits(&mut c, &self.bucket(key), self.window_start(now)).await?;
        Ok(if n >= self.max {
            Err(self.retry_after(now))
        } else {
            Ok(())
        })
    }

    /// Counts a hit; refuses when this hit goes over `max`.
    pub async fn hit(
        &self,
        db: &Db,
        key: &str,
        now: Timestamp,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let mut c = db.write().await?;
        let n = rate_limit::hit(&mut c, &self.bucket(key), self.window_start(now)).await?;
        Ok(if n > self.max {
            Err(self.retry_after(now))
        } else {
            Ok(())
        })
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
