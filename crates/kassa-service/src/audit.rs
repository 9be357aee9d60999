//! Who did what: the one way every service writes the activity log. An [`Actor`] is whoever
//! caused a change — a signed-in user, someone not signed in (a reset request), or Kassa
//! itself (the watcher, a job, the operator's command line) — and [`Actor::record`] writes the
//! row in the transaction of the change, naming its [`Target`].

use kassa_core::{MerchantId, ProjectId, Timestamp, UserId, WithdrawalId};
use kassa_store::audit::{self, Activity};
use kassa_store::{AsConn, StoreError};
use serde_json::{Value, json};

/// Who is asking: the client's address and browser, for history, logs and limits.
#[derive(Clone, Debug)]
pub struct Client {
    /// IP address.
    pub ip: String,
    /// `User-Agent`.
    pub user_agent: String,
}

/// No request: Kassa itself, or the operator's command line.
static NO_CLIENT: Client = Client {
    ip: String::new(),
    user_agent: String::new(),
};

/// The operator's command line (`kassa admin …`).
static OPERATOR: std::sync::LazyLock<Client> = std::sync::LazyLock::new(|| Client {
    ip: "cli".into(),
    user_agent: "kassa admin".into(),
});

/// Whoever caused a change.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    /// The user, when someone signed in did it.
    pub user: Option<UserId>,
    /// How timelines name them (their e-mail), when known.
    pub email: Option<&'a str>,
    /// Where the request came from (empty for Kassa itself).
    pub client: &'a Client,
}

impl<'a> Actor<'a> {
    /// A signed-in user, named by e-mail on timelines.
    pub fn user(user: UserId, email: &'a str, client: &'a Client) -> Self {
        Actor {
            user: Some(user),
            email: Some(email),
            client,
        }
    }

    /// A request by `user` (if anyone is known) from `client`.
    pub fn of(user: Option<UserId>, client: &'a Client) -> Self {
        Actor {
            user,
            email: None,
            client,
        }
    }

    /// The operator, at the command line.
    pub fn operator() -> Actor<'static> {
        Actor {
            user: None,
            email: None,
            client: &OPERATOR,
        }
    }

    /// Kassa itself: the watcher, a job.
    pub fn kassa() -> Actor<'static> {
        Actor {
            user: None,
            email: None,
            client: &NO_CLIENT,
        }
    }

    /// Adds who did it to a timeline event's details (`by`, and the user's e-mail).
    pub fn sign(&self, details: &mut Value) {
        if let Some(m) = details.as_object_mut() {
            m.insert("by".into(), json!("dashboard"));
            if let Some(email) = self.email {
                m.insert("user".into(), json!(email));
            }
        }
    }

    /// Timeline details naming the actor.
    pub fn timeline(&self) -> Value {
        let mut d = json!({});
        self.sign(&mut d);
        d
    }

    /// Writes `action` on `target` of `merchant` to the activity log, in `conn` (the
    /// transaction of the change).
    pub async fn record(
        &self,
        conn: &mut impl AsConn,
        merchant: MerchantId,
        action: &str,
        target: Target<'_>,
        details: Value,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (kind, id) = target.parts();
        audit::record_activity(
            conn,
            &Activity {
                merchant_id: merchant,
                actor: self.user,
                action,
                target_type: kind,
                target_id: &id,
                details: &details,
                ip: &self.client.ip,
            },
            now,
        )
        .await?;
        crate::notify::from_activity(
            conn,
            merchant,
            action,
            (kind, &id),
            &details,
            &self.client.ip,
            now,
        )
        .await
    }
}

/// What a change was made to.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// A person's account.
    User(UserId),
    /// A project.
    Project(ProjectId),
    /// An invoice, by its public id (without `INV-`).
    Invoice(&'a str),
    /// A withdrawal.
    Withdrawal(WithdrawalId),
    /// A withdrawal request, by its public id (without `WD-`).
    WithdrawalRequest(&'a str),
    /// A saved withdrawal address, by its id.
    WithdrawalAddress(i64),
    /// A merchant's automatic withdrawal rule for a network, by the network's code.
    WithdrawalRule(&'a str),
    /// The merchant's withdrawal API key.
    WithdrawalKey,
    /// An export of data, by what was exported (`payments`).
    Export(&'a str),
}

impl Target<'_> {
    /// The stored kind and id.
    fn parts(self) -> (&'static str, String) {
        match self {
            Target::User(id) => ("user", id.to_string()),
            Target::Project(id) => ("project", id.to_string()),
            Target::Invoice(uuid) => ("invoice", uuid.to_owned()),
            Target::Withdrawal(id) => ("withdrawal", id.to_string()),
            Target::WithdrawalRequest(id) => ("withdrawal_request", id.to_owned()),
            Target::WithdrawalAddress(id) => ("withdrawal_address", id.to_string()),
            Target::WithdrawalRule(network) => ("withdrawal_rule", network.to_owned()),
            Target::WithdrawalKey => ("withdrawal_key", String::new()),
            Target::Export(what) => ("export", what.to_owned()),
        }
    }
}
