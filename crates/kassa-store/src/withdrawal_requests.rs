//! Withdrawal requests (`withdrawal_request`): what a merchant asked to withdraw, stored with
//! its reservation before any transaction exists. The service decides; this module stores.
//!
//! Stages (`state`): `approval` (above the operator's amount, waiting for `kassa wallet
//! approve`), `queued` (its job signs and sends it; while the merchant owes money in the
//! currency it waits here), `signature` (a watch-only wallet: a PSBT waits for the operator),
//! `submitted` (its transaction exists: `withdrawal_id` says which, and that row's state is
//! where it stands), `refused` (by the operator) and `failed` (it could not be made). The
//! merchant sees created (the first three), processing, completed or failed.

use kassa_core::{Amount, MerchantId, Timestamp, UserId, WithdrawalId, WithdrawalRequestId};

use crate::withdrawals::WithdrawalState;
use crate::{AsConn, DbAmount, StoreError, exec, sql};

/// Where a request stands before (and once) it has a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Waiting for the operator's approval.
    Approval,
    /// Waiting for its job (or for what the merchant owes to be covered).
    Queued,
    /// Waiting for the operator to sign its PSBT.
    Signature,
    /// Its transaction exists.
    Submitted,
    /// The operator refused it.
    Refused,
    /// It could not be made.
    Failed,
}

impl Stage {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Approval => "approval",
            Stage::Queued => "queued",
            Stage::Signature => "signature",
            Stage::Submitted => "submitted",
            Stage::Refused => "refused",
            Stage::Failed => "failed",
        }
    }

    /// The stage of a stored name.
    pub fn parse(s: &str) -> Option<Stage> {
        [
            Stage::Approval,
            Stage::Queued,
            Stage::Signature,
            Stage::Submitted,
            Stage::Refused,
            Stage::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Whether its amount is still reserved (no transaction yet, not ended).
    pub fn reserved(self) -> bool {
        matches!(self, Stage::Approval | Stage::Queued | Stage::Signature)
    }
}

/// Who or what asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A person in the dashboard.
    Dashboard,
    /// The CryptoCloud withdrawal API.
    Api,
    /// An automatic rule.
    Rule,
    /// The operator's shell (`kassa wallet withdraw`).
    Operator,
}

impl Source {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Dashboard => "dashboard",
            Source::Api => "api",
            Source::Rule => "rule",
            Source::Operator => "operator",
        }
    }

    /// The source of a stored name.
    pub fn parse(s: &str) -> Option<Source> {
        [
            Source::Dashboard,
            Source::Api,
            Source::Rule,
            Source::Operator,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A request to store.
#[derive(Clone, Debug)]
pub struct NewRequest<'a> {
    /// Eight characters, unique.
    pub public_id: &'a str,
    /// Whose balance pays.
    pub merchant: MerchantId,
    /// The network code.
    pub network: &'a str,
    /// The ledger currency.
    pub currency: &'a str,
    /// The destination address.
    pub destination: &'a str,
    /// What is reserved.
    pub amount: Amount,
    /// Whether the network fee comes out of `amount` ("everything available").
    pub fee_from_amount: bool,
    /// Its USD value when asked (decimal text).
    pub amount_usd: Option<&'a str>,
    /// Who asked.
    pub source: Source,
    /// The person, for the dashboard.
    pub user: Option<UserId>,
    /// The rule, for a rule.
    pub rule: Option<i64>,
    /// The saved address used, if any.
    pub address: Option<i64>,
    /// `approval` or `queued`.
    pub stage: Stage,
}

/// A stored request, with its transaction's standing when it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    /// Id.
    pub id: WithdrawalRequestId,
    /// Public id (eight characters).
    pub public_id: String,
    /// The merchant.
    pub merchant: MerchantId,
    /// The network code.
    pub network: String,
    /// The ledger currency.
    pub currency: String,
    /// The destination.
    pub destination: String,
    /// What was reserved.
    pub amount: Amount,
    /// Whether the fee comes out of the amount.
    pub fee_from_amount: bool,
    /// USD value when asked.
    pub amount_usd: Option<String>,
    /// Who asked.
    pub source: Source,
    /// The person who asked.
    pub user: Option<UserId>,
    /// The rule that asked.
    pub rule: Option<i64>,
    /// Stage.
    pub stage: Stage,
    /// Its transaction.
    pub withdrawal: Option<WithdrawalId>,
    /// The planned fee (waiting for a signature).
    pub fee: Option<Amount>,
    /// The PSBT waiting for a signature.
    pub psbt: Option<String>,
    /// What its PSBT spends.
    pub consumes: Vec<String>,
    /// Why it failed, or what it waits for.
    pub note: Option<String>,
    /// Queued but the hot wallet cannot pay it right now (short of gas, funds still being
    /// gathered): since when. Merchants read it as "processing, delayed".
    pub delayed_since: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Its transaction: id, what arrives, fee, state, confirmations, error.
    pub tx: Option<TxSummary>,
}

/// What a request's transaction says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxSummary {
    /// Transaction id.
    pub txid: String,
    /// What the destination receives.
    pub amount: Amount,
    /// The network fee.
    pub fee: Amount,
    /// Where it stands.
    pub state: WithdrawalState,
    /// Confirmations last seen.
    pub confirmations: i64,
    /// Why it failed.
    pub error: Option<String>,
}

const COLUMNS: &str = "r.withdrawal_request_id, r.public_id, r.merchant_id, r.network, r.currency, \
     r.destination, r.amount, r.fee_from_amount, r.amount_usd, r.source, r.user_id, r.rule_id, \
     r.state, r.withdrawal_id, r.fee, r.psbt, r.consumes, r.note, r.delayed_at, r.created_at, r.updated_at, \
     w.txid as w_txid, w.amount as w_amount, w.fee as w_fee, w.state as w_state, \
     w.confirmations as w_confirmations, w.error as w_error";

const FROM: &str =
    "from withdrawal_request r left join withdrawal w on w.withdrawal_id = r.withdrawal_id";

fn corrupt(column: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        column,
        reason: reason.into(),
    }
}

/// Reads a request from a row of either engine.
macro_rules! request_from_row {
    ($r:expr) => {{
        use sqlx::Row as _;
        let r = &$r;
        let stage: String = r.try_get("state")?;
        let source: String = r.try_get("source")?;
        let consumes: String = r.try_get("consumes")?;
        let w_state: Option<String> = r.try_get("w_state")?;
        let tx = match (r.try_get::<Option<String>, _>("w_txid")?, w_state) {
            (Some(txid), Some(state)) => Some(TxSummary {
                txid,
                amount: r
                    .try_get::<Option<DbAmount>, _>("w_amount")?
                    .map_or(Amount::ZERO, |a| a.0),
                fee: r
                    .try_get::<Option<DbAmount>, _>("w_fee")?
                    .map_or(Amount::ZERO, |a| a.0),
                state: WithdrawalState::parse(&state)
                    .ok_or_else(|| corrupt("withdrawal.state", state.clone()))?,
                confirmations: r.try_get::<Option<i64>, _>("w_confirmations")?.unwrap_or(0),
                error: r.try_get("w_error")?,
            }),
            _ => None,
        };
        RequestRow {
            id: WithdrawalRequestId::new(r.try_get("withdrawal_request_id")?),
            public_id: r.try_get("public_id")?,
            merchant: MerchantId::new(r.try_get("merchant_id")?),
            network: r.try_get("network")?,
            currency: r.try_get("currency")?,
            destination: r.try_get("destination")?,
            amount: r.try_get::<DbAmount, _>("amount")?.0,
            fee_from_amount: r.try_get::<i64, _>("fee_from_amount")? != 0,
            amount_usd: r.try_get("amount_usd")?,
            source: Source::parse(&source)
                .ok_or_else(|| corrupt("withdrawal_request.source", source.clone()))?,
            user: r.try_get::<Option<i64>, _>("user_id")?.map(UserId::new),
            rule: r.try_get("rule_id")?,
            stage: Stage::parse(&stage)
                .ok_or_else(|| corrupt("withdrawal_request.state", stage.clone()))?,
            withdrawal: r
                .try_get::<Option<i64>, _>("withdrawal_id")?
                .map(WithdrawalId::new),
            fee: r.try_get::<Option<DbAmount>, _>("fee")?.map(|a| a.0),
            psbt: r.try_get("psbt")?,
            consumes: serde_json::from_str(&consumes)
                .map_err(|e| corrupt("withdrawal_request.consumes", e.to_string()))?,
            note: r.try_get("note")?,
            delayed_since: r
                .try_get::<Option<i64>, _>("delayed_at")?
                .map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(r.try_get("created_at")?),
            updated_at: Timestamp::from_micros(r.try_get("updated_at")?),
            tx,
        }
    }};
}

/// Runs a `select {COLUMNS} {FROM} …` with its binds and reads every row.
macro_rules! select_requests {
    ($conn:expr, $q:expr, $($bind:expr),*) => {{
        let q = $q;
        let out: Result<Vec<RequestRow>, StoreError> = match $crate::AsConn::as_conn($conn) {
            $crate::Conn::Sqlite(c) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(q.clone()))$(.bind($bind))*.fetch_all(c).await?;
                (|| {
                    let mut v = Vec::with_capacity(rows.len());
                    for r in rows {
                        v.push(request_from_row!(r));
                    }
                    Ok(v)
                })()
            }
            $crate::Conn::Postgres(c) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(q.clone()))$(.bind($bind))*.fetch_all(c).await?;
                (|| {
                    let mut v = Vec::with_capacity(rows.len());
                    for r in rows {
                        v.push(request_from_row!(r));
                    }
                    Ok(v)
                })()
            }
        };
        out
    }};
}

/// Stores a request; returns its id.
pub async fn insert(
    conn: &mut impl AsConn,
    r: &NewRequest<'_>,
    now: Timestamp,
) -> Result<WithdrawalRequestId, StoreError> {
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
            "insert into withdrawal_request (public_id, merchant_id, network, currency, destination, \
             amount, fee_from_amount, amount_usd, source, user_id, rule_id, address_id, state, \
             created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
             returning withdrawal_request_id",
        )
        .bind(r.public_id)
        .bind(r.merchant.get())
        .bind(r.network)
        .bind(r.currency)
        .bind(r.destination)
        .bind(DbAmount(r.amount))
        .bind(i64::from(r.fee_from_amount))
        .bind(r.amount_usd)
        .bind(r.source.as_str())
        .bind(r.user.map(UserId::get))
        .bind(r.rule)
        .bind(r.address)
        .bind(r.stage.as_str())
        .bind(now.as_micros())
        .fetch_one(c)
        .await
    })?;
    Ok(WithdrawalRequestId::new(id))
}

/// One request.
pub async fn by_id(
    conn: &mut impl AsConn,
    id: WithdrawalRequestId,
) -> Result<Option<RequestRow>, StoreError> {
    let q = format!("select {COLUMNS} {FROM} where r.withdrawal_request_id = $1");
    Ok(select_requests!(conn, q, id.get())?.into_iter().next())
}

/// The request with this public id (any merchant's).
pub async fn by_public_id(
    conn: &mut impl AsConn,
    public_id: &str,
) -> Result<Option<RequestRow>, StoreError> {
    let q = format!("select {COLUMNS} {FROM} where r.public_id = $1");
    Ok(
        select_requests!(conn, q, public_id.trim().to_ascii_uppercase())?
            .into_iter()
            .next(),
    )
}

/// A merchant's requests, newest first, below `before` (an id), at most `limit`.
pub async fn of_merchant(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<RequestRow>, StoreError> {
    let q = format!(
        "select {COLUMNS} {FROM} where r.merchant_id = $1 and r.withdrawal_request_id < $2 \
         order by r.withdrawal_request_id desc limit $3"
    );
    select_requests!(
        conn,
        q,
        merchant.get(),
        before.unwrap_or(i64::MAX),
        limit.clamp(1, 1000)
    )
}

/// Every request in `stage`, oldest first (all of them when `None`), at most `limit`.
pub async fn in_stage(
    conn: &mut impl AsConn,
    stage: Option<Stage>,
    limit: i64,
) -> Result<Vec<RequestRow>, StoreError> {
    let q = format!(
        "select {COLUMNS} {FROM} where ($1 = '' or r.state = $1) \
         order by r.withdrawal_request_id limit $2"
    );
    select_requests!(
        conn,
        q,
        stage.map_or("", Stage::as_str),
        limit.clamp(1, 100_000)
    )
}

/// Moves request `id` from stage `from` to `to` with a note (`None` clears it). False when it
/// was not in `from` (someone else moved it first).
pub async fn advance(
    conn: &mut impl AsConn,
    id: WithdrawalRequestId,
    from: Stage,
    to: Stage,
    note: Option<&str>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update withdrawal_request set state = $1, note = $2, updated_at = $3, \
             delayed_at = null where withdrawal_request_id = $4 and state = $5"
        )
        .bind(to.as_str())
        .bind(note)
        .bind(now.as_micros())
        .bind(id.get())
        .bind(from.as_str())
    )? == 1)
}

/// Notes what a queued request waits for, without moving it.
pub async fn set_note(
    conn: &mut impl AsConn,
    id: WithdrawalRequestId,
    note: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update withdrawal_request set note = $1, updated_at = $2 where withdrawal_request_id = $3"
        )
        .bind(note)
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    Ok(())
}

/// Notes that queued request `id` waits for the hot wallet (`why`), since `now` unless it
/// already did. True when it was not delayed before (the first time: tell the operator).
pub async fn set_delayed(
    conn: &mut impl AsConn,
    id: WithdrawalRequestId,
    why: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let first = exec!(
        conn,
        sqlx::query(
            "update withdrawal_request set delayed_at = $1 \
             where withdrawal_request_id = $2 and delayed_at is null"
        )
        .bind(now.as_micros())
        .bind(id.get())
    )? == 1;
    set_note(conn, id, Some(why), now).await?;
    Ok(first)
}

/// Request `id` (in stage `from`) now has transaction `withdrawal`.
pub async fn submitted(
    conn: &mut impl AsConn,
    id: WithdrawalRequestId,
    from: Stage,
    withdrawal: WithdrawalId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update withdrawal_request set state = 'submitted', withdrawal_id = $1, note = null, \
             psbt = null, delayed_at = null, updated_at = $2 where withdrawal_request_id = $3 and state = $4"
        )
        .bind(withdrawal.get())
        .bind(now.as_micros())
        .bind(id.get())
        .bind(from.as_str())
    )? == 1)
}

/// Queued request `id` waits for the operator's signature of `psbt`, which spends `consumes`
/// and pays `fee`.
pub async fn await_signature(
    conn: &mut impl AsConn,
    id: WithdrawalRequestId,
    fee: Amount,
    psbt: &str,
    consumes: &[String],
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update withdrawal_request set state = 'signature', fee = $1, psbt = $2, consumes = $3, \
             note = null, updated_at = $4 where withdrawal_request_id = $5 and state = 'queued'"
        )
        .bind(DbAmount(fee))
        .bind(psbt)
        .bind(serde_json::to_string(consumes).unwrap_or_else(|_| "[]".into()))
        .bind(now.as_micros())
        .bind(id.get())
    )? == 1)
}

/// What the PSBTs of `network` waiting for a signature spend (outpoints `txid:vout`).
pub async fn awaiting_signature_consumes(
    conn: &mut impl AsConn,
    network: &str,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<String> = sql!(conn, |c| sqlx::query_scalar(
        "select consumes from withdrawal_request where network = $1 and state = 'signature'"
    )
    .bind(network)
    .fetch_all(c)
    .await)?;
    let mut out = Vec::new();
    for text in rows {
        let list: Vec<String> = serde_json::from_str(&text)
            .map_err(|e| corrupt("withdrawal_request.consumes", e.to_string()))?;
        out.extend(list);
    }
    Ok(out)
}

/// The request whose transaction is `withdrawal`, if one is.
pub async fn of_withdrawal(
    conn: &mut impl AsConn,
    withdrawal: WithdrawalId,
) -> Result<Option<RequestRow>, StoreError> {
    let q = format!("select {COLUMNS} {FROM} where r.withdrawal_id = $1");
    Ok(select_requests!(conn, q, withdrawal.get())?
        .into_iter()
        .next())
}
