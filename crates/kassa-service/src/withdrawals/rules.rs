//! Automatic withdrawal rules: one per merchant and network, always to a saved address, always
//! "everything available".
//!
//! - A **threshold** rule fires when the available balance, in USD at the current rate,
//!   reaches its amount while it is armed; firing disarms it, and it re-arms once the balance
//!   is below the amount again — so it fires once per crossing, not on every payment after it.
//!   [`check_thresholds`] runs after every round of the network's watcher (where balances
//!   change); disarming and the [`FireJob`] that makes the withdrawal are one transaction, so
//!   a crossing is never lost to a crash in between.
//! - A **schedule** rule runs daily, weekly or monthly at a time in a fixed UTC offset chosen
//!   by the merchant. Each run is a durable job ([`RuleJob`]) enqueued for `next_run_at` in the
//!   transaction that set it; the run moves `next_run_at` on (compare-and-set, so a job that
//!   runs twice runs the rule once), enqueues the next and the run's [`FireJob`], all in one
//!   transaction.
//!
//! Every run is recorded (`withdrawal_rule_run`): the request it made, or why none.

use std::time::Duration;

use kassa_core::currency::{self, Network};
use kassa_core::{Amount, MerchantId, Timestamp, WithdrawalAddressId, WithdrawalRuleId};
use kassa_store::StoreError;
use kassa_store::ledger::Kind;
use kassa_store::withdrawal_requests::Source;
use kassa_store::withdrawal_setup::{self as setup, Period, RuleRow, Schedule, Trigger};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Date, OffsetDateTime};

use super::requests::{self, Ask, AskError, Asked};
use crate::Ctx;
use crate::audit::{Actor, Target};
use crate::chains::LiveChain;
use crate::worker::{BoxFuture, Job, JobContext, JobError, JobHandler, enqueue};

/// Why a rule was not saved.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The network takes no live payments here.
    #[error("{0} is not available for withdrawals here")]
    NotLive(&'static str),
    /// Not one of the merchant's saved addresses of this network.
    #[error("choose one of your saved addresses for this currency")]
    Address,
    /// A threshold that is not a positive amount of USD.
    #[error("enter an amount of USD greater than zero")]
    Threshold,
    /// A schedule out of range.
    #[error("the schedule is not valid: {0}")]
    Schedule(&'static str),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first time strictly after `after` at which `s` runs.
pub fn next_run(s: &Schedule, after: Timestamp) -> Timestamp {
    let offset = Duration::from_secs(s.utc_offset_minutes.unsigned_abs().saturating_mul(60));
    let shift = |t: OffsetDateTime, east: bool| {
        if east == (s.utc_offset_minutes >= 0) {
            t.saturating_add(offset.try_into().unwrap_or(time::Duration::ZERO))
        } else {
            t.saturating_sub(offset.try_into().unwrap_or(time::Duration::ZERO))
        }
    };
    // Wall-clock time in the rule's zone, as if it were UTC.
    let local = shift(after.to_datetime(), true);
    let minute = s.minute_of_day.clamp(0, 24 * 60 - 1);
    let at = |d: Date| {
        let h = u8::try_from(minute / 60).unwrap_or(0);
        let m = u8::try_from(minute % 60).unwrap_or(0);
        d.with_hms(h, m, 0).map(|dt| dt.assume_utc()).ok()
    };
    let mut day = local.date();
    // At most a month and a bit of days to look through.
    for _ in 0..40 {
        let matches = match s.period {
            Period::Daily => true,
            Period::Weekly => i64::from(day.weekday().number_from_monday()) == s.day.clamp(1, 7),
            Period::Monthly => i64::from(day.day()) == s.day.clamp(1, 28),
        };
        if matches
            && let Some(candidate) = at(day)
            && candidate > local
        {
            return Timestamp::from_datetime(shift(candidate, false));
        }
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    after.saturating_add(Duration::from_secs(86_400))
}

/// Reads a schedule as typed: period, `HH:MM`, day, and an offset like `+03:00`.
pub fn parse_schedule(
    period: &str,
    time_text: &str,
    day: &str,
    offset: &str,
) -> Result<Schedule, RuleError> {
    let period = Period::parse(period).ok_or(RuleError::Schedule("period"))?;
    let (h, m) = time_text
        .trim()
        .split_once(':')
        .ok_or(RuleError::Schedule("time"))?;
    let (h, m): (i64, i64) = (
        h.trim().parse().map_err(|_| RuleError::Schedule("time"))?,
        m.trim().parse().map_err(|_| RuleError::Schedule("time"))?,
    );
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(RuleError::Schedule("time"));
    }
    let day: i64 = match period {
        Period::Daily => 1,
        Period::Weekly | Period::Monthly => {
            day.trim().parse().map_err(|_| RuleError::Schedule("day"))?
        }
    };
    let max_day = if period == Period::Weekly { 7 } else { 28 };
    if !(1..=max_day).contains(&day) {
        return Err(RuleError::Schedule("day"));
    }
    let o = offset.trim();
    let utc_offset_minutes = if o.is_empty() || o == "0" || o.eq_ignore_ascii_case("Z") {
        0
    } else {
        let (sign, rest) = match o.as_bytes().first() {
            Some(b'+') => (1, &o[1..]),
            Some(b'-') => (-1, &o[1..]),
            _ => return Err(RuleError::Schedule("offset")),
        };
        let (oh, om) = rest.split_once(':').unwrap_or((rest, "0"));
        let (oh, om): (i64, i64) = (
            oh.parse().map_err(|_| RuleError::Schedule("offset"))?,
            om.parse().map_err(|_| RuleError::Schedule("offset"))?,
        );
        if !(0..=14).contains(&oh) || !(0..60).contains(&om) {
            return Err(RuleError::Schedule("offset"));
        }
        sign * (oh * 60 + om)
    };
    Ok(Schedule {
        period,
        minute_of_day: h * 60 + m,
        day,
        utc_offset_minutes,
    })
}

/// Creates or replaces `merchant`'s rule for `network` (see the module docs), in one
/// transaction with its activity-log row and, for a schedule, its first job.
pub async fn save(
    st: &Ctx,
    merchant: MerchantId,
    network: &'static Network,
    address: WithdrawalAddressId,
    trigger: &Trigger,
    actor: &Actor<'_>,
) -> Result<RuleRow, RuleError> {
    if st.chains.get(network).is_none() {
        return Err(RuleError::NotLive(network.code));
    }
    if let Trigger::Threshold(t) = trigger
        && kassa_core::money::parse_decimal(t).is_none_or(|d| d <= Decimal::ZERO)
    {
        return Err(RuleError::Threshold);
    }
    let now = st.clock.now();
    let next = match trigger {
        Trigger::Schedule(s) => Some(next_run(s, now)),
        Trigger::Threshold(_) => None,
    };
    let mut tx = st.db.begin().await?;
    let Some(saved) = setup::address_by_id(&mut tx, merchant, address).await? else {
        return Err(RuleError::Address);
    };
    if saved.network != network.code {
        return Err(RuleError::Address);
    }
    let id =
        setup::upsert_rule(&mut tx, merchant, network.code, address, trigger, next, now).await?;
    if let Some(at) = next {
        enqueue(
            &mut tx,
            &RuleJob {
                rule: id.get(),
                due: at.as_micros(),
            },
            at,
            now,
        )
        .await?;
    }
    actor
        .record(
            &mut tx,
            merchant,
            "withdrawal.rule_saved",
            Target::WithdrawalRule(network.code),
            json!({
                "network": network.code,
                "address": saved.address,
                "threshold_usd": match trigger { Trigger::Threshold(t) => Some(t.clone()), Trigger::Schedule(_) => None },
                "schedule": match trigger {
                    Trigger::Schedule(s) => Some(json!({"period": s.period.as_str(), "minute_of_day": s.minute_of_day, "day": s.day, "utc_offset_minutes": s.utc_offset_minutes})),
                    Trigger::Threshold(_) => None,
                },
            }),
            now,
        )
        .await?;
    tx.commit().await?;
    st.jobs.wake();
    setup::rule_by_id(&mut st.db.conn().await?, id)
        .await?
        .ok_or(RuleError::Store(StoreError::NotFound))
}

/// Deletes `merchant`'s rule for `network`. False when there was none.
pub async fn delete(
    st: &Ctx,
    merchant: MerchantId,
    network: &Network,
    actor: &Actor<'_>,
) -> Result<bool, StoreError> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !setup::delete_rule(&mut tx, merchant, network.code).await? {
        return Ok(false);
    }
    actor
        .record(
            &mut tx,
            merchant,
            "withdrawal.rule_deleted",
            Target::WithdrawalRule(network.code),
            json!({"network": network.code}),
            now,
        )
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// The merchant's available balance on `chain`, and its USD value now (if a rate is known).
async fn available_usd(
    st: &Ctx,
    chain: &LiveChain,
    merchant: MerchantId,
) -> Result<(Amount, Option<Decimal>), StoreError> {
    let available = super::requests::balance(
        &mut st.db.conn().await?,
        chain.currency,
        merchant,
        Kind::MerchantAvailable,
    )
    .await?;
    let usd = super::requests::usd_value(st, chain.currency, available);
    Ok((available, usd))
}

/// Makes rule `rule`'s withdrawal (everything available to its address) and records the run.
async fn fire(st: &Ctx, chain: &LiveChain, rule: &RuleRow) -> Result<(), StoreError> {
    let now = st.clock.now();
    let address =
        setup::address_by_id(&mut st.db.conn().await?, rule.merchant, rule.address).await?;
    let outcome = match address {
        None => Err("its saved address was deleted".to_owned()),
        Some(a) => {
            let actor = Actor::kassa();
            let ask = Ask {
                merchant: rule.merchant,
                network: chain.network,
                currency: chain.currency,
                destination: &a.address,
                amount: Asked::Everything,
                source: Source::Rule,
                actor: &actor,
                rule: Some(rule.id.get()),
                address: Some(a.id.get()),
            };
            match requests::ask(st, &ask).await {
                Ok(r) => Ok(r),
                Err(AskError::Failed(e)) => Err(format!("failed: {e}")),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    let mut tx = st.db.begin().await?;
    let text = match &outcome {
        Ok(r) => format!("withdrawal WD-{}", r.public_id),
        Err(why) => format!("nothing withdrawn: {why}"),
    };
    let request = outcome.as_ref().ok().map(|r| r.id.get());
    setup::record_run(&mut tx, rule.id, request, &text, now).await?;
    crate::notify::emit(
        &mut tx,
        &crate::notify::Event {
            merchant: rule.merchant,
            kind: "withdrawal.rule_ran",
            project: None,
            user: None,
            params: json!({"currency": chain.currency.code, "outcome": text}),
            link: Some("/balance/rules"),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    st.jobs.wake();
    match outcome {
        Ok(r) => tracing::info!(rule = %rule.id, request = %r.public_id, "automatic withdrawal"),
        Err(why) => tracing::warn!(rule = %rule.id, why, "automatic withdrawal: nothing withdrawn"),
    }
    Ok(())
}

/// Fires every armed threshold rule of `chain` whose merchant's available balance reached its
/// amount (disarming it), and re-arms those below it. Called after each watcher round.
pub async fn check_thresholds(st: &Ctx, chain: &LiveChain) -> Result<usize, StoreError> {
    let rules = setup::threshold_rules(&mut st.db.conn().await?, chain.network.code).await?;
    let mut fired = 0;
    for rule in rules {
        let Trigger::Threshold(text) = &rule.trigger else {
            continue;
        };
        let Some(threshold) = kassa_core::money::parse_decimal(text) else {
            continue;
        };
        let (available, usd) = available_usd(st, chain, rule.merchant).await?;
        let Some(usd) = usd else {
            // No rate: nothing can be said about the crossing now.
            continue;
        };
        let now = st.clock.now();
        if usd < threshold || available.is_zero() {
            setup::set_armed(&mut st.db.write().await?, rule.id, true, now).await?;
            continue;
        }
        if !rule.armed {
            continue;
        }
        // Disarm (compare-and-set: a concurrent check cannot fire it again) and hand the
        // withdrawal to a job, in one transaction.
        let mut tx = st.db.begin().await?;
        if !setup::set_armed(&mut tx, rule.id, false, now).await? {
            continue;
        }
        let job = FireJob {
            rule: rule.id.get(),
        };
        enqueue(&mut tx, &job, now, now).await?;
        tx.commit().await?;
        st.jobs.wake();
        fired += 1;
    }
    Ok(fired)
}

/// Runs schedule rule `id` if `due` is still its next run, and sets the next.
pub async fn run_scheduled(
    st: &Ctx,
    id: WithdrawalRuleId,
    due: Timestamp,
) -> Result<bool, StoreError> {
    let Some(rule) = setup::rule_by_id(&mut st.db.conn().await?, id).await? else {
        return Ok(false);
    };
    let Trigger::Schedule(schedule) = &rule.trigger else {
        return Ok(false);
    };
    if rule.next_run_at != Some(due) {
        return Ok(false);
    }
    let now = st.clock.now();
    let next = next_run(schedule, now.max(due));
    let mut tx = st.db.begin().await?;
    if !setup::schedule_ran(&mut tx, id, due, next, now).await? {
        return Ok(false);
    }
    enqueue(
        &mut tx,
        &RuleJob {
            rule: id.get(),
            due: next.as_micros(),
        },
        next,
        now,
    )
    .await?;
    enqueue(&mut tx, &FireJob { rule: id.get() }, now, now).await?;
    tx.commit().await?;
    st.jobs.wake();
    Ok(true)
}

/// Makes rule `id`'s withdrawal now (its [`FireJob`]) and records the run.
pub async fn fire_now(st: &Ctx, id: WithdrawalRuleId) -> Result<(), StoreError> {
    let Some(rule) = setup::rule_by_id(&mut st.db.conn().await?, id).await? else {
        return Ok(());
    };
    let Some(chain) = currency::network(&rule.network)
        .and_then(|n| st.chains.get(n))
        .cloned()
    else {
        let mut tx = st.db.begin().await?;
        setup::record_run(
            &mut tx,
            id,
            None,
            "nothing withdrawn: the network is not live here",
            st.clock.now(),
        )
        .await?;
        tx.commit().await?;
        return Ok(());
    };
    fire(st, &chain, &rule).await
}

/// The job that makes a rule's withdrawal, enqueued in the transaction that disarmed a
/// threshold rule or moved a schedule on. Run twice (after a crash), the second run finds
/// nothing available and records that.
#[derive(Debug, Serialize, Deserialize)]
pub struct FireJob {
    /// The rule.
    pub rule: i64,
}

impl Job for FireJob {
    const KIND: &'static str = "withdrawal.rule_fire";
}

/// The job that runs a schedule rule at its time.
#[derive(Debug, Serialize, Deserialize)]
pub struct RuleJob {
    /// The rule.
    pub rule: i64,
    /// The run it is for (microseconds), so a stale job does nothing.
    pub due: i64,
}

impl Job for RuleJob {
    const KIND: &'static str = "withdrawal.rule";
}

/// Runs the rules' jobs: [`RuleJob`] (a schedule's time came) or [`FireJob`] (make the
/// withdrawal), one handler per kind.
pub struct RuleHandler {
    st: Ctx,
    kind: &'static str,
}

impl RuleHandler {
    /// The handler of [`RuleJob`]s.
    pub fn schedules(st: Ctx) -> Self {
        Self {
            st,
            kind: RuleJob::KIND,
        }
    }

    /// The handler of [`FireJob`]s.
    pub fn firings(st: Ctx) -> Self {
        Self {
            st,
            kind: FireJob::KIND,
        }
    }

    async fn run_job(&self, payload: &str) -> Result<(), JobError> {
        let done = if self.kind == FireJob::KIND {
            let job: FireJob = crate::worker::parse_payload(payload)?;
            fire_now(&self.st, WithdrawalRuleId::new(job.rule)).await
        } else {
            let job: RuleJob = crate::worker::parse_payload(payload)?;
            let (id, due) = (
                WithdrawalRuleId::new(job.rule),
                Timestamp::from_micros(job.due),
            );
            run_scheduled(&self.st, id, due).await.map(drop)
        };
        done.map_err(|e| JobError::Retry(e.to_string()))
    }
}

impl JobHandler for RuleHandler {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(120)
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a JobContext,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(self.run_job(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> Timestamp {
        let date = Date::from_calendar_date(y, time::Month::try_from(mo).unwrap(), d).unwrap();
        Timestamp::from_datetime(date.with_hms(h, mi, 0).unwrap().assume_utc())
    }

    #[test]
    fn daily_runs_next_at_the_local_time() {
        let s = parse_schedule("daily", "09:30", "", "+03:00").unwrap();
        // 06:00 UTC is 09:00 in +03:00: today at 09:30 local = 06:30 UTC.
        assert_eq!(next_run(&s, at(2026, 12, 4, 6, 0)), at(2026, 12, 4, 6, 30));
        // Exactly at the run: the next day.
        assert_eq!(next_run(&s, at(2026, 12, 4, 6, 30)), at(2026, 12, 5, 6, 30));
    }

    #[test]
    fn weekly_and_monthly_find_their_day() {
        // 2026-12-04 is a Friday; Monday 08:00 in -05:00 is 13:00 UTC on 2026-12-07.
        let s = parse_schedule("weekly", "08:00", "1", "-05:00").unwrap();
        assert_eq!(next_run(&s, at(2026, 12, 4, 12, 0)), at(2026, 12, 7, 13, 0));
        let m = parse_schedule("monthly", "00:00", "1", "0").unwrap();
        assert_eq!(next_run(&m, at(2026, 12, 4, 12, 0)), at(2027, 1, 1, 0, 0));
        // Local midnight in +14:00 is the previous day in UTC.
        let east = parse_schedule("daily", "00:00", "", "+14:00").unwrap();
        assert_eq!(
            next_run(&east, at(2026, 12, 4, 12, 0)),
            at(2026, 12, 5, 10, 0)
        );
    }

    #[test]
    fn bad_schedules_are_refused() {
        for (p, t, d, o) in [
            ("hourly", "09:00", "1", "0"),
            ("daily", "24:00", "", "0"),
            ("daily", "9", "", "0"),
            ("weekly", "09:00", "8", "0"),
            ("monthly", "09:00", "29", "0"),
            ("monthly", "09:00", "x", "0"),
            ("daily", "09:00", "", "+15:00"),
            ("daily", "09:00", "", "03:00"),
        ] {
            assert!(parse_schedule(p, t, d, o).is_err(), "{p} {t} {d} {o}");
        }
    }
}
