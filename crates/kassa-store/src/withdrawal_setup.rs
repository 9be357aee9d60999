//! What a merchant sets up for withdrawals: saved addresses (`withdrawal_address`, usable
//! after a cooling-off), automatic rules (`withdrawal_rule` and the record of their runs) and
//! the CryptoCloud withdrawal API key (`withdrawal_key`, stored as a hash).

use kassa_core::{MerchantId, Timestamp, UserId, WithdrawalAddressId, WithdrawalRuleId};

use crate::{AsConn, StoreError, exec, sql};

/// A saved withdrawal address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressRow {
    /// Id.
    pub id: WithdrawalAddressId,
    /// The merchant.
    pub merchant: MerchantId,
    /// The network code.
    pub network: String,
    /// The address.
    pub address: String,
    /// The merchant's label.
    pub label: String,
    /// Who saved it.
    pub created_by: Option<UserId>,
    /// When it can be used.
    pub usable_at: Timestamp,
    /// When it was saved.
    pub created_at: Timestamp,
}

type AddressTuple = (i64, i64, String, String, String, Option<i64>, i64, i64);

fn address(t: AddressTuple) -> AddressRow {
    AddressRow {
        id: WithdrawalAddressId::new(t.0),
        merchant: MerchantId::new(t.1),
        network: t.2,
        address: t.3,
        label: t.4,
        created_by: t.5.map(UserId::new),
        usable_at: Timestamp::from_micros(t.6),
        created_at: Timestamp::from_micros(t.7),
    }
}

const ADDRESS_COLUMNS: &str = "withdrawal_address_id, merchant_id, network, address, label, \
     created_by, usable_at, created_at";

/// A merchant's saved addresses, by network then label.
pub async fn addresses(
    conn: &mut impl AsConn,
    merchant: MerchantId,
) -> Result<Vec<AddressRow>, StoreError> {
    let q = format!(
        "select {ADDRESS_COLUMNS} from withdrawal_address where merchant_id = $1 \
         order by network, label, withdrawal_address_id"
    );
    let rows: Vec<AddressTuple> = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
        .bind(merchant.get())
        .fetch_all(c)
        .await)?;
    Ok(rows.into_iter().map(address).collect())
}

/// One of a merchant's saved addresses.
pub async fn address_by_id(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    id: WithdrawalAddressId,
) -> Result<Option<AddressRow>, StoreError> {
    let q = format!(
        "select {ADDRESS_COLUMNS} from withdrawal_address where merchant_id = $1 \
         and withdrawal_address_id = $2"
    );
    let row: Option<AddressTuple> = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
        .bind(merchant.get())
        .bind(id.get())
        .fetch_optional(c)
        .await)?;
    Ok(row.map(address))
}

/// The merchant's saved address `address` on `network`, if they saved it.
pub async fn find_address(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    network: &str,
    address_text: &str,
) -> Result<Option<AddressRow>, StoreError> {
    let q = format!(
        "select {ADDRESS_COLUMNS} from withdrawal_address where merchant_id = $1 \
         and network = $2 and address = $3"
    );
    let row: Option<AddressTuple> = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
        .bind(merchant.get())
        .bind(network)
        .bind(address_text)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(address))
}

/// A new saved address.
#[derive(Clone, Copy, Debug)]
pub struct NewAddress<'a> {
    /// The merchant.
    pub merchant: MerchantId,
    /// The network code.
    pub network: &'a str,
    /// The address, checked.
    pub address: &'a str,
    /// The label.
    pub label: &'a str,
    /// Who saves it.
    pub created_by: Option<UserId>,
    /// When it becomes usable.
    pub usable_at: Timestamp,
}

/// Saves an address; `None` when the merchant already saved it for the network.
pub async fn insert_address(
    conn: &mut impl AsConn,
    a: &NewAddress<'_>,
    now: Timestamp,
) -> Result<Option<WithdrawalAddressId>, StoreError> {
    let id: Option<i64> = sql!(conn, |c| sqlx::query_scalar(
        "insert into withdrawal_address (merchant_id, network, address, label, created_by, \
         usable_at, created_at) values ($1, $2, $3, $4, $5, $6, $7) \
         on conflict do nothing returning withdrawal_address_id"
    )
    .bind(a.merchant.get())
    .bind(a.network)
    .bind(a.address)
    .bind(a.label)
    .bind(a.created_by.map(UserId::get))
    .bind(a.usable_at.as_micros())
    .bind(now.as_micros())
    .fetch_optional(c)
    .await)?;
    Ok(id.map(WithdrawalAddressId::new))
}

/// Deletes a saved address. False when there was none (or a rule still uses it).
pub async fn delete_address(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    id: WithdrawalAddressId,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "delete from withdrawal_address where merchant_id = $1 and withdrawal_address_id = $2 \
             and not exists (select 1 from withdrawal_rule r where r.address_id = $2)"
        )
        .bind(merchant.get())
        .bind(id.get())
    )? == 1)
}

/// How a rule decides to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// When the available balance reaches this many USD (decimal text).
    Threshold(String),
    /// On a schedule.
    Schedule(Schedule),
}

/// When a schedule rule runs: at `minute_of_day` in the zone `utc_offset_minutes` east of
/// UTC, every day, every week on `day` (1 = Monday … 7), or every month on `day` (1 … 28).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Daily, weekly or monthly.
    pub period: Period,
    /// Minutes after local midnight.
    pub minute_of_day: i64,
    /// Day of the week or month (unused for daily).
    pub day: i64,
    /// The zone, in minutes east of UTC.
    pub utc_offset_minutes: i64,
}

/// How often a schedule rule runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// Every day.
    Daily,
    /// Every week.
    Weekly,
    /// Every month.
    Monthly,
}

impl Period {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }

    /// The period of a stored name.
    pub fn parse(s: &str) -> Option<Period> {
        [Period::Daily, Period::Weekly, Period::Monthly]
            .into_iter()
            .find(|p| p.as_str() == s.trim())
    }
}

/// An automatic withdrawal rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRow {
    /// Id.
    pub id: WithdrawalRuleId,
    /// The merchant.
    pub merchant: MerchantId,
    /// The network code.
    pub network: String,
    /// The saved address it pays.
    pub address: kassa_core::WithdrawalAddressId,
    /// When it runs.
    pub trigger: Trigger,
    /// A threshold rule: whether it fires at the next crossing.
    pub armed: bool,
    /// A schedule rule: its next run.
    pub next_run_at: Option<Timestamp>,
    /// Its last run.
    pub last_run_at: Option<Timestamp>,
}

type RuleTuple = (
    i64,
    i64,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

const RULE_COLUMNS: &str = "withdrawal_rule_id, merchant_id, network, address_id, kind, \
     threshold_usd, period, minute_of_day, day, utc_offset_minutes, armed, next_run_at, last_run_at";

fn rule(t: RuleTuple) -> Result<RuleRow, StoreError> {
    let corrupt = |why: &str| StoreError::Corrupt {
        column: "withdrawal_rule",
        reason: why.to_owned(),
    };
    let trigger = match t.4.as_str() {
        "threshold" => Trigger::Threshold(t.5.ok_or_else(|| corrupt("no threshold"))?),
        "schedule" => Trigger::Schedule(Schedule {
            period: t
                .6
                .as_deref()
                .and_then(Period::parse)
                .ok_or_else(|| corrupt("no period"))?,
            minute_of_day: t.7.unwrap_or(0),
            day: t.8.unwrap_or(1),
            utc_offset_minutes: t.9,
        }),
        other => return Err(corrupt(other)),
    };
    Ok(RuleRow {
        id: WithdrawalRuleId::new(t.0),
        merchant: MerchantId::new(t.1),
        network: t.2,
        address: WithdrawalAddressId::new(t.3),
        trigger,
        armed: t.10 != 0,
        next_run_at: t.11.map(Timestamp::from_micros),
        last_run_at: t.12.map(Timestamp::from_micros),
    })
}

/// A merchant's rules, by network.
pub async fn rules(
    conn: &mut impl AsConn,
    merchant: MerchantId,
) -> Result<Vec<RuleRow>, StoreError> {
    let q = format!(
        "select {RULE_COLUMNS} from withdrawal_rule where merchant_id = $1 order by network"
    );
    let rows: Vec<RuleTuple> = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
        .bind(merchant.get())
        .fetch_all(c)
        .await)?;
    rows.into_iter().map(rule).collect()
}

/// One rule.
pub async fn rule_by_id(
    conn: &mut impl AsConn,
    id: WithdrawalRuleId,
) -> Result<Option<RuleRow>, StoreError> {
    let q = format!("select {RULE_COLUMNS} from withdrawal_rule where withdrawal_rule_id = $1");
    let row: Option<RuleTuple> = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
        .bind(id.get())
        .fetch_optional(c)
        .await)?;
    row.map(rule).transpose()
}

/// Every threshold rule of `network` (the watcher's credits may have crossed one).
pub async fn threshold_rules(
    conn: &mut impl AsConn,
    network: &str,
) -> Result<Vec<RuleRow>, StoreError> {
    let q = format!(
        "select {RULE_COLUMNS} from withdrawal_rule where network = $1 and kind = 'threshold' \
         order by withdrawal_rule_id"
    );
    let rows: Vec<RuleTuple> = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
        .bind(network)
        .fetch_all(c)
        .await)?;
    rows.into_iter().map(rule).collect()
}

/// Creates or replaces the merchant's rule for `network`; its id.
pub async fn upsert_rule(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    network: &str,
    address_id: WithdrawalAddressId,
    trigger: &Trigger,
    next_run_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<WithdrawalRuleId, StoreError> {
    let (kind, threshold, schedule) = match trigger {
        Trigger::Threshold(t) => ("threshold", Some(t.as_str()), None),
        Trigger::Schedule(s) => ("schedule", None, Some(*s)),
    };
    let id: i64 = sql!(conn, |c| {
        sqlx::query_scalar(
        "insert into withdrawal_rule (merchant_id, network, address_id, kind, threshold_usd, \
         period, minute_of_day, day, utc_offset_minutes, armed, next_run_at, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11, $11) \
         on conflict (merchant_id, network) do update set address_id = excluded.address_id, \
         kind = excluded.kind, threshold_usd = excluded.threshold_usd, period = excluded.period, \
         minute_of_day = excluded.minute_of_day, day = excluded.day, \
         utc_offset_minutes = excluded.utc_offset_minutes, armed = 1, \
         next_run_at = excluded.next_run_at, updated_at = excluded.updated_at \
         returning withdrawal_rule_id"
    )
    .bind(merchant.get())
    .bind(network)
    .bind(address_id.get())
    .bind(kind)
    .bind(threshold)
    .bind(schedule.map(|s| s.period.as_str()))
    .bind(schedule.map(|s| s.minute_of_day))
    .bind(schedule.map(|s| s.day))
    .bind(schedule.map_or(0, |s| s.utc_offset_minutes))
    .bind(next_run_at.map(Timestamp::as_micros))
    .bind(now.as_micros())
    .fetch_one(c)
    .await
    })?;
    Ok(WithdrawalRuleId::new(id))
}

/// Deletes the merchant's rule for `network`. False when there was none.
pub async fn delete_rule(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    network: &str,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from withdrawal_rule where merchant_id = $1 and network = $2")
            .bind(merchant.get())
            .bind(network)
    )? == 1)
}

/// Arms or disarms a threshold rule. True when that changed it.
pub async fn set_armed(
    conn: &mut impl AsConn,
    id: WithdrawalRuleId,
    armed: bool,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update withdrawal_rule set armed = $1, updated_at = $2 \
             where withdrawal_rule_id = $3 and armed <> $1"
        )
        .bind(i64::from(armed))
        .bind(now.as_micros())
        .bind(id.get())
    )? == 1)
}

/// A schedule rule ran at `now`; its next run is `next`. False when its next run was not
/// `due` any more (changed, or already run).
pub async fn schedule_ran(
    conn: &mut impl AsConn,
    id: WithdrawalRuleId,
    due: Timestamp,
    next: Timestamp,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update withdrawal_rule set next_run_at = $1, last_run_at = $2, updated_at = $2 \
             where withdrawal_rule_id = $3 and next_run_at = $4"
        )
        .bind(next.as_micros())
        .bind(now.as_micros())
        .bind(id.get())
        .bind(due.as_micros())
    )? == 1)
}

/// Records a run of rule `id`.
pub async fn record_run(
    conn: &mut impl AsConn,
    id: WithdrawalRuleId,
    request: Option<i64>,
    outcome: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into withdrawal_rule_run (withdrawal_rule_id, withdrawal_request_id, outcome, created_at) \
             values ($1, $2, $3, $4)"
        )
        .bind(id.get())
        .bind(request)
        .bind(outcome)
        .bind(now.as_micros())
    )?;
    if exec!(
        conn,
        sqlx::query("update withdrawal_rule set last_run_at = $1 where withdrawal_rule_id = $2")
            .bind(now.as_micros())
            .bind(id.get())
    )? == 0
    {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A rule's runs, newest first: (request id, outcome, when).
pub async fn runs(
    conn: &mut impl AsConn,
    id: WithdrawalRuleId,
    limit: i64,
) -> Result<Vec<(Option<i64>, String, Timestamp)>, StoreError> {
    let rows: Vec<(Option<i64>, String, i64)> = sql!(conn, |c| sqlx::query_as(
        "select withdrawal_request_id, outcome, created_at from withdrawal_rule_run \
         where withdrawal_rule_id = $1 order by withdrawal_rule_run_id desc limit $2"
    )
    .bind(id.get())
    .bind(limit.clamp(1, 1000))
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(r, o, t)| (r, o, Timestamp::from_micros(t)))
        .collect())
}

/// Sets the merchant's withdrawal API key (its hash), replacing any other.
pub async fn set_key(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    key_hash: &str,
    by: Option<UserId>,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into withdrawal_key (merchant_id, key_hash, created_by, created_at) \
             values ($1, $2, $3, $4) on conflict (merchant_id) do update set \
             key_hash = excluded.key_hash, created_by = excluded.created_by, \
             created_at = excluded.created_at"
        )
        .bind(merchant.get())
        .bind(key_hash)
        .bind(by.map(UserId::get))
        .bind(now.as_micros())
    )?;
    Ok(())
}

/// When the merchant's withdrawal API key was made, if they have one.
pub async fn key_made_at(
    conn: &mut impl AsConn,
    merchant: MerchantId,
) -> Result<Option<Timestamp>, StoreError> {
    let at: Option<i64> = sql!(conn, |c| sqlx::query_scalar(
        "select created_at from withdrawal_key where merchant_id = $1"
    )
    .bind(merchant.get())
    .fetch_optional(c)
    .await)?;
    Ok(at.map(Timestamp::from_micros))
}

/// The merchant whose withdrawal API key has this hash.
pub async fn merchant_of_key(
    conn: &mut impl AsConn,
    key_hash: &str,
) -> Result<Option<MerchantId>, StoreError> {
    let m: Option<i64> = sql!(conn, |c| sqlx::query_scalar(
        "select merchant_id from withdrawal_key where key_hash = $1"
    )
    .bind(key_hash)
    .fetch_optional(c)
    .await)?;
    Ok(m.map(MerchantId::new))
}
