//! Account services: sign-up, sign-in with a second factor, sessions, password and e-mail
//! changes, two-factor set-up, re-authentication, staff invitations and grants.
//!
//! Every operation owns its transaction. The change, its activity-log row, its login-history
//! row and the e-mails it sends (as jobs) commit together or not at all. Answers never tell
//! whether an e-mail address has an account: unknown addresses cost the same password check
//! and get the same reply.

use std::time::Duration;

use kassa_core::account::{Email, Grants, Role, Section, UserStatus};
use kassa_core::{SessionId, Timestamp, UserId};
use kassa_store::accounts::{self as users, NewUser, UserRow};
use kassa_store::audit::{self, LoginAttempt};
use kassa_store::sessions::{self, NewSession, SessionRow, Stage};
use kassa_store::tokens::{self, Purpose};
use kassa_store::{AsConn, StoreError};
use serde_json::json;

use crate::Ctx;
use crate::auth::device;
use crate::auth::limits::{self, RetryAfter};
use crate::auth::password::HashError;
use crate::auth::{token, totp};
use crate::i18n::{Lang, Tr};
use crate::mail::{self, Letter};

/// How long e-mailed links work.
pub const CONFIRM_TTL: Duration = Duration::from_secs(48 * 3600);
/// Password-reset links.
pub const RESET_TTL: Duration = Duration::from_secs(3600);
/// New-address confirmation links.
pub const EMAIL_CHANGE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Staff invitations.
pub const INVITE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Time to enter the second factor after the password.
pub const MFA_PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a re-authentication counts as recent.
pub const REAUTH_FRESH: Duration = Duration::from_secs(5 * 60);

pub use crate::audit::Client;
use crate::audit::{Actor, Target};

mod credentials;
mod operator;
mod profile;
mod reauth;
mod session;
mod signup;
mod staff;
mod two_factor;

pub use credentials::*;
pub use operator::*;
pub use profile::*;
pub use reauth::*;
pub use session::*;
pub use signup::*;
pub use staff::*;
pub use two_factor::*;

/// What can go wrong inside a service, apart from the outcomes it reports.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Password hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A sealed secret could not be opened (wrong or missing master key).
    #[error("cannot open a stored secret: {0}")]
    Secret(#[from] kassa_core::secret::OpenError),
    /// A rate limit was reached.
    #[error("rate limited")]
    Limited(RetryAfter),
}

type Result<T> = std::result::Result<T, ServiceError>;

async fn limited(
    limit: &limits::Limit,
    st: &Ctx,
    key: &str,
    now: Timestamp,
    hit: bool,
) -> Result<()> {
    let r = if hit {
        limit.hit(&st.db, key, now).await?
    } else {
        limit.check(&st.db, key, now).await?
    };
    r.map_err(ServiceError::Limited)
}

/// Issues a single-use link token of `purpose` for `user` (stored hashed, valid for `ttl`)
/// and returns the token for the e-mailed link.
async fn issue_token(
    conn: &mut impl AsConn,
    user: UserId,
    purpose: Purpose,
    data: Option<&str>,
    ttl: Duration,
    now: Timestamp,
) -> Result<String> {
    let tok = token::generate();
    tokens::issue(
        conn,
        user,
        purpose,
        &token::hash(&tok),
        data,
        now.saturating_add(ttl),
        now,
    )
    .await?;
    Ok(tok)
}

fn link(st: &Ctx, path: &str, token: &str) -> String {
    format!("{}{path}{token}", st.public_url)
}

async fn send(
    conn: &mut impl AsConn,
    st: &Ctx,
    to: &str,
    tr: Tr,
    letter: &Letter,
    now: Timestamp,
) -> Result<()> {
    let mail = letter.render(to, tr);
    mail::enqueue(conn, &st.keyring, &mail, now).await?;
    Ok(())
}

fn footer(tr: Tr) -> String {
    tr.t("mail.footer").to_owned()
}

async fn login_event(
    conn: &mut impl AsConn,
    user: Option<UserId>,
    email: &str,
    outcome: &str,
    client: &Client,
    now: Timestamp,
) -> Result<()> {
    audit::record_login(
        conn,
        &LoginAttempt {
            user_id: user,
            email,
            outcome,
            ip: &client.ip,
            user_agent: &client.user_agent,
        },
        now,
    )
    .await?;
    Ok(())
}
