//! Notifications: what happened, to whom, where.
//!
//! A cause calls [`emit`] in its own transaction: the event is stored with the
//! `notify.fanout` job, so nothing is lost and nothing is told before it happened. The fan-out
//! ([`fanout`]) finds the people who may see the event (its section of the role matrix and,
//! for a project's events, the projects they may see; personal events only their person),
//! reads their choices over the [`KINDS`] defaults, and — in one transaction — puts a line in
//! their center and a delivery per chosen channel (e-mail; Telegram when they linked a chat),
//! each unique per (event, person, channel): a fan-out that runs twice delivers once. Each
//! delivery is a `notify.send` job ([`send`]); e-mail becomes a `mail.send` job in the
//! transaction that marks it sent (exactly once); Telegram is sent, then marked (a crash
//! between the two can send it twice: the Bot API has no idempotency key).
//!
//! Flood control: payments (`invoice.*`) beyond [`BURST`] for one person and channel in one
//! minute are not sent one by one: they are marked `grouped` and one summary per person,
//! channel and minute goes at the end of that minute (`notify.digest`).

mod jobs;
pub mod link;
pub mod operator;
mod text;

use kassa_core::account::{Role, Section};
use kassa_core::{MerchantId, ProjectId, Timestamp, UserId};
use kassa_store::accounts as users;
use kassa_store::notifications::{self as store, NewEvent};
use kassa_store::{AsConn, StoreError};
use serde_json::Value;

pub use jobs::{DigestHandler, DigestJob, FanoutHandler, FanoutJob, SendHandler, SendJob};
pub use text::{Rendered, render};

use crate::Ctx;
use crate::worker::enqueue;

/// More payments than this for one person and channel in one minute are summed up.
pub const BURST: i64 = 10;

/// Where a notification goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The notification center in the dashboard.
    App,
    /// E-mail.
    Email,
    /// The person's linked Telegram chat.
    Telegram,
}

impl Channel {
    /// Every channel, in the grid's order.
    pub const ALL: [Channel; 3] = [Channel::App, Channel::Email, Channel::Telegram];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::App => "app",
            Channel::Email => "email",
            Channel::Telegram => "telegram",
        }
    }

    /// The channel of a stored name.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// An event kind: who may get it and where it goes by default.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    /// Its key (`invoice.paid`); texts are `notify.<key>.*`.
    pub key: &'static str,
    /// The section a person needs to get it; `None`: personal (only the person it is about).
    pub section: Option<Section>,
    /// Defaults per channel: center, e-mail, Telegram.
    pub defaults: [bool; 3],
    /// Security events always go by e-mail (the choice is not offered).
    pub email_forced: bool,
    /// The change's own service already e-mails the person (password, 2FA, e-mail changes
    /// have their own letters): no second e-mail is made here.
    pub own_letter: bool,
}

const ON: [bool; 3] = [true, true, true];
const APP_AND_TELEGRAM: [bool; 3] = [true, false, true];

/// Every event kind, in the preferences grid's order.
pub const KINDS: &[Kind] = &[
    Kind {
        key: "invoice.paid",
        section: Some(Section::ViewPayments),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "invoice.partial",
        section: Some(Section::ViewPayments),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "invoice.overpaid",
        section: Some(Section::ViewPayments),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "invoice.paid_late",
        section: Some(Section::ViewPayments),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "invoice.expired_partial",
        section: Some(Section::ViewPayments),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "withdrawal.created",
        section: Some(Section::ViewBalance),
        defaults: APP_AND_TELEGRAM,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "withdrawal.completed",
        section: Some(Section::ViewBalance),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "withdrawal.failed",
        section: Some(Section::ViewBalance),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "withdrawal.rule_ran",
        section: Some(Section::ViewBalance),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "postbacks.failing",
        section: Some(Section::ApiKeys),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "postbacks.failed",
        section: Some(Section::ApiKeys),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "keys.regenerated",
        section: Some(Section::ApiKeys),
        defaults: ON,
        email_forced: true,
        own_letter: false,
    },
    Kind {
        key: "staff.changed",
        section: Some(Section::ManageStaff),
        defaults: ON,
        email_forced: false,
        own_letter: false,
    },
    Kind {
        key: "security.sign_in",
        section: None,
        defaults: ON,
        email_forced: true,
        own_letter: false,
    },
    Kind {
        key: "security.changed",
        section: None,
        defaults: ON,
        email_forced: true,
        own_letter: true,
    },
];

/// The kind with this key.
pub fn kind(key: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.key == key)
}

/// Whether `channel` is on for `kind` given `prefs` (the person's choices).
pub fn enabled(kind: &Kind, channel: Channel, prefs: &[(String, String, bool)]) -> bool {
    if channel == Channel::Email && kind.email_forced {
        return true;
    }
    prefs
        .iter()
        .find(|(k, c, _)| k == kind.key && c == channel.as_str())
        .map_or(
            kind.defaults[Channel::ALL.iter().position(|c| *c == channel).unwrap_or(0)],
            |(_, _, on)| *on,
        )
}

/// Whether a person with `grants` gets events of `kind` at all.
pub fn relevant(kind: &Kind, grants: &kassa_core::account::Grants) -> bool {
    kind.section.is_none_or(|s| grants.allows(s))
}

/// An event to tell.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    /// Whose.
    pub merchant: MerchantId,
    /// Its kind's key (one of [`KINDS`]).
    pub kind: &'static str,
    /// The project it concerns.
    pub project: Option<ProjectId>,
    /// The one person it is about (personal events).
    pub user: Option<UserId>,
    /// What the texts fill in (never a secret).
    pub params: Value,
    /// Where it links to in the dashboard.
    pub link: Option<&'a str>,
}

/// Stores `event` and its fan-out job in the caller's transaction. The caller wakes the job
/// worker after committing.
pub async fn emit(conn: &mut impl AsConn, e: &Event<'_>, now: Timestamp) -> Result<(), StoreError> {
    let params = e.params.to_string();
    let id = store::insert_event(
        conn,
        &NewEvent {
            merchant: e.merchant,
            kind: e.kind,
            project: e.project,
            user: e.user,
            params: &params,
            link: e.link,
        },
        now,
    )
    .await?;
    enqueue(conn, &FanoutJob { event: id }, now, now).await?;
    Ok(())
}

/// The minute `t` falls in.
pub fn bucket(t: Timestamp) -> i64 {
    t.as_micros().div_euclid(60_000_000)
}

/// Fans event `id` out (see the module docs). How many deliveries it made.
pub async fn fanout(st: &Ctx, id: i64) -> Result<usize, StoreError> {
    let Some(event) = store::event(&mut st.db.conn().await?, id).await? else {
        return Ok(0);
    };
    let Some(kind) = kind(&event.kind) else {
        return Ok(0);
    };
    let now = st.clock.now();
    let minute = bucket(event.created_at);
    let mut tx = st.db.begin().await?;
    let people = users::users_of_merchant(&mut tx, event.merchant).await?;
    let mut made = 0;
    for user in people {
        if user.status != kassa_core::account::UserStatus::Active {
            continue;
        }
        if let Some(only) = event.user
            && only != user.id
        {
            continue;
        }
        if kind.section.is_some() {
            let grants = users::grants_of(&mut tx, &user).await?;
            if !relevant(kind, &grants) {
                continue;
            }
            if let Some(p) = event.project
                && !kassa_store::projects::may_see(&mut tx, user.id, user.role == Role::Owner, p)
                    .await?
            {
                continue;
            }
        }
        let prefs = store::prefs(&mut tx, user.id).await?;
        if enabled(kind, Channel::App, &prefs) {
            store::insert_center(
                &mut tx,
                user.id,
                Some(event.id),
                &event.kind,
                &event.params,
                event.link.as_deref(),
                event.created_at,
            )
            .await?;
        }
        for channel in [Channel::Email, Channel::Telegram] {
            if !enabled(kind, channel, &prefs) || (channel == Channel::Email && kind.own_letter) {
                continue;
            }
            if channel == Channel::Telegram
                && (!st.config.telegram.enabled()
                    || store::chat_of(&mut tx, user.id).await?.is_none())
            {
                continue;
            }
            let burst = event.kind.starts_with("invoice.")
                && store::in_bucket(&mut tx, user.id, channel.as_str(), minute, "invoice.%")
                    .await?
                    >= BURST;
            let state = if burst { "grouped" } else { "queued" };
            let Some(delivery) = store::insert_delivery(
                &mut tx,
                event.id,
                user.id,
                channel.as_str(),
                state,
                minute,
                now,
            )
            .await?
            else {
                continue;
            };
            made += 1;
            if burst {
                if store::open_digest(&mut tx, user.id, channel.as_str(), minute).await? {
                    let at = Timestamp::from_micros((minute + 1) * 60_000_000);
                    let job = DigestJob {
                        user: user.id.get(),
                        channel: channel.as_str().to_owned(),
                        bucket: minute,
                    };
                    enqueue(&mut tx, &job, at.max(now), now).await?;
                }
            } else {
                enqueue(&mut tx, &SendJob { delivery }, now, now).await?;
            }
        }
    }
    tx.commit().await?;
    st.jobs.wake();
    Ok(made)
}

/// A person's center: lines rendered in their language, newest first, and the cursor of the
/// next page.
pub async fn center(
    st: &Ctx,
    user: &users::UserRow,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<(store::CenterRow, Rendered)>, Option<i64>), StoreError> {
    let mut rows = store::center(&mut st.db.conn().await?, user.id, before, limit + 1).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let tr = crate::i18n::Tr::new(user.locale);
    Ok((
        rows.into_iter()
            .map(|r| {
                let params: Value = serde_json::from_str(&r.params).unwrap_or(Value::Null);
                let text = render(tr, &r.kind, &params);
                (r, text)
            })
            .collect(),
        next,
    ))
}

/// Tells `user` in their center (only) that something about their own notifications
/// changed (their Telegram chat was unlinked): a line without an event.
pub async fn tell_in_center(
    conn: &mut impl AsConn,
    user: UserId,
    key: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    store::insert_center(
        conn,
        user,
        None,
        key,
        "{}",
        Some("/account/notifications"),
        now,
    )
    .await?;
    Ok(())
}

/// The notification an activity-log entry makes, if any: security changes to a person's own
/// account, regenerated keys, staff invited or removed. Called by `Actor::record`, so it is
/// in the transaction of the change.
pub(crate) async fn from_activity(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    action: &str,
    target: (&str, &str),
    details: &Value,
    ip: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    // What the entry was about, as the activity log names it (kind, id).
    enum On {
        User(UserId),
        Project(ProjectId),
        Other,
    }
    let on = match (target.0, target.1.parse::<i64>()) {
        ("user", Ok(id)) => On::User(UserId::new(id)),
        ("project", Ok(id)) => On::Project(ProjectId::new(id)),
        _ => On::Other,
    };
    let text = |k: &str| {
        details
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (kind, project, user, params, link): (
        &'static str,
        Option<ProjectId>,
        Option<UserId>,
        Value,
        &str,
    ) = match (action, on) {
        ("account.password_changed" | "account.password_reset", On::User(u)) => (
            "security.changed",
            None,
            Some(u),
            serde_json::json!({"what": "@notify.what.password"}),
            "/account/history",
        ),
        ("account.email_changed", On::User(u)) => (
            "security.changed",
            None,
            Some(u),
            serde_json::json!({"what": "@notify.what.email"}),
            "/account/history",
        ),
        (
            "account.2fa_enabled" | "account.2fa_disabled" | "account.2fa_reset_by_operator",
            On::User(u),
        ) => (
            "security.changed",
            None,
            Some(u),
            serde_json::json!({"what": "@notify.what.two_factor"}),
            "/account/2fa",
        ),
        ("project.api_key_regenerated", On::Project(p)) => (
            "keys.regenerated",
            Some(p),
            None,
            serde_json::json!({"key": "@notify.what.api_key", "where": text("project")}),
            "/projects",
        ),
        ("project.secret_regenerated", On::Project(p)) => (
            "keys.regenerated",
            Some(p),
            None,
            serde_json::json!({"key": "@notify.what.secret_key", "where": text("project")}),
            "/projects",
        ),
        ("withdrawal.api_key_made", _) => (
            "keys.regenerated",
            None,
            None,
            serde_json::json!({"key": "@notify.what.withdrawal_key", "where": "@notify.what.account"}),
            "/account/withdrawal-key",
        ),
        ("staff.invited", _) => (
            "staff.changed",
            None,
            None,
            serde_json::json!({"email": text("email"), "role": text("role"), "change": "@notify.what.invited"}),
            "/staff",
        ),
        ("staff.revoked", _) => (
            "staff.changed",
            None,
            None,
            serde_json::json!({"email": text("email"), "role": text("role"), "change": "@notify.what.removed"}),
            "/staff",
        ),
        _ => return Ok(()),
    };
    let mut params = params;
    if let Some(m) = params.as_object_mut() {
        m.entry("ip")
            .or_insert_with(|| Value::String(ip.to_owned()));
        m.entry("who")
            .or_insert_with(|| Value::String("@notify.what.someone".into()));
    }
    emit(
        conn,
        &Event {
            merchant,
            kind,
            project,
            user,
            params,
            link: Some(link),
        },
        now,
    )
    .await
}
