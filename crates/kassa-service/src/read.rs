//! The read side: what the merchant API and the dashboard pages both show — invoice lists,
//! statistics and balances — computed once here, formatted by each surface.

use std::collections::BTreeMap;

use kassa_core::currency::{self, Crypto};
use kassa_core::invoice::Status;
use kassa_core::money::Amount;
use kassa_core::{Decimal, MerchantId, ProjectId, Timestamp};
use kassa_store::StoreError;
use kassa_store::invoices::{self, InvoiceRow, ListFilter, TransferState};
use kassa_store::ledger::{self, Kind};
use kassa_store::payment_list::{self, Mode, PaymentQuery, StatRow};

use crate::Ctx;

/// The transaction ids of an invoice's transfers that still stand (orphaned ones left out),
/// each once even when one transaction paid the address in several outputs, in the order they
/// were first recorded.
pub async fn tx_list(st: &Ctx, row: &InvoiceRow) -> Result<Vec<String>, StoreError> {
    let mut c = st.db.conn().await?;
    let mut out: Vec<String> = Vec::new();
    for t in invoices::transfers_of(&mut c, row.id).await? {
        if t.state != TransferState::Orphaned && !out.contains(&t.txid) {
            out.push(t.txid);
        }
    }
    Ok(out)
}

/// One page of a project's invoices (newest first) with each one's transaction ids, and the
/// number of invoices the filter matches.
pub async fn invoice_page(
    st: &Ctx,
    project: ProjectId,
    filter: &ListFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<(InvoiceRow, Vec<String>)>, i64), StoreError> {
    let mut c = st.db.conn().await?;
    let (rows, total) = invoices::list(&mut c, project, filter, offset, limit).await?;
    drop(c);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let txs = tx_list(st, &row).await?;
        out.push((row, txs));
    }
    Ok((out, total))
}

/// The statuses statistics are broken down by, `all` first.
pub const STAT_KEYS: [&str; 6] = ["all", "created", "paid", "overpaid", "partial", "canceled"];

/// Invoices of a project created in `[from, until)`: how many, and their value in USD, per
/// status and in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statistics {
    /// Invoices per key of [`STAT_KEYS`].
    pub count: BTreeMap<&'static str, i64>,
    /// Their USD value per key of [`STAT_KEYS`].
    pub amount: BTreeMap<&'static str, Decimal>,
}

/// The statistics of `project` over `[from, until)`: every invoice, live and test, as the
/// API reports them — from the same grouped query as the Statistics page.
pub async fn statistics(
    st: &Ctx,
    merchant: MerchantId,
    project: ProjectId,
    from: Timestamp,
    until: Timestamp,
) -> Result<Statistics, StoreError> {
    let q = PaymentQuery {
        projects: Some(vec![project]),
        from: Some(from),
        until: Some(until),
        mode: Mode::All,
        ..PaymentQuery::of(merchant)
    };
    let rows = payment_list::stats(&mut st.db.conn().await?, &q).await?;
    Ok(Statistics::of(&rows))
}

/// Cents as dollars. Each invoice is worth under 10^15 USD and there are fewer than 10^12
/// of them, so a sum stays far inside a decimal's 7.9 × 10^26 dollars; beyond that (which no
/// store can hold) the largest decimal is shown.
fn usd(cents: i128) -> Decimal {
    Decimal::try_from_i128_with_scale(cents, 2).unwrap_or(Decimal::MAX)
}

impl Statistics {
    /// Counts and USD values per status of grouped rows.
    pub fn of(rows: &[StatRow]) -> Statistics {
        let mut count: BTreeMap<&'static str, i64> = STAT_KEYS.iter().map(|k| (*k, 0)).collect();
        let mut cents: BTreeMap<&'static str, i128> = STAT_KEYS.iter().map(|k| (*k, 0)).collect();
        for r in rows {
            for k in ["all", r.status.as_str()] {
                *count.entry(k).or_default() += r.count;
                *cents.entry(k).or_default() += i128::from(r.cents);
            }
        }
        Statistics {
            count,
            amount: cents.into_iter().map(|(k, c)| (k, usd(c))).collect(),
        }
    }
}

/// One line of a breakdown: invoices, those paid, and the turnover (USD of the paid ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// Invoices created.
    pub created: i64,
    /// Of them paid or overpaid.
    pub paid: i64,
    /// Their USD value, all of them.
    pub amount: Decimal,
    /// The USD value of the paid ones.
    pub turnover: Decimal,
}

/// What the Statistics page and the home page show of a period: per status (as the API),
/// per currency, per project, per day, conversion and the average paid invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overview {
    /// Per status, as the API reports.
    pub by_status: Statistics,
    /// Per chosen currency (`""`: not chosen), by turnover, largest first.
    pub by_currency: Vec<(String, Line)>,
    /// Per project, by turnover, largest first.
    pub by_project: Vec<(ProjectId, Line)>,
    /// Every day of the period (UTC, days since the epoch) in order, empty days included.
    pub days: Vec<(i64, Line)>,
    /// The whole period.
    pub total: Line,
}

impl Overview {
    /// Paid invoices out of those created, in percent (two decimals); `None` with none created.
    pub fn conversion(&self) -> Option<Decimal> {
        (self.total.created > 0).then(|| {
            let mut p = (Decimal::from(self.total.paid) * Decimal::from(100)
                / Decimal::from(self.total.created))
            .round_dp(2);
            p.rescale(2);
            p
        })
    }

    /// The average paid invoice in USD (cents); `None` with none paid.
    pub fn average(&self) -> Option<Decimal> {
        (self.total.paid > 0)
            .then(|| (self.total.turnover / Decimal::from(self.total.paid)).round_dp(2))
    }
}

/// The overview of grouped rows for the days `[first_day, last_day]`.
pub fn overview(rows: &[StatRow], first_day: i64, last_day: i64) -> Overview {
    let mut by_currency: BTreeMap<String, (i64, i64, i128, i128)> = BTreeMap::new();
    let mut by_project: BTreeMap<ProjectId, (i64, i64, i128, i128)> = BTreeMap::new();
    let mut by_day: BTreeMap<i64, (i64, i64, i128, i128)> = BTreeMap::new();
    let mut total = (0i64, 0i64, 0i128, 0i128);
    for r in rows {
        let paid = matches!(r.status, Status::Paid | Status::Overpaid);
        let add = |e: &mut (i64, i64, i128, i128)| {
            e.0 += r.count;
            e.2 += i128::from(r.cents);
            if paid {
                e.1 += r.count;
                e.3 += i128::from(r.cents);
            }
        };
        add(by_currency.entry(r.currency.clone()).or_default());
        add(by_project.entry(r.project).or_default());
        add(by_day.entry(r.day).or_default());
        add(&mut total);
    }
    let line = |e: (i64, i64, i128, i128)| Line {
        created: e.0,
        paid: e.1,
        amount: usd(e.2),
        turnover: usd(e.3),
    };
    let mut by_currency: Vec<(String, Line)> =
        by_currency.into_iter().map(|(k, e)| (k, line(e))).collect();
    by_currency.sort_by(|a, b| {
        b.1.turnover
            .cmp(&a.1.turnover)
            .then(b.1.created.cmp(&a.1.created))
    });
    let mut by_project: Vec<(ProjectId, Line)> =
        by_project.into_iter().map(|(k, e)| (k, line(e))).collect();
    by_project.sort_by(|a, b| {
        b.1.turnover
            .cmp(&a.1.turnover)
            .then(b.1.created.cmp(&a.1.created))
    });
    let days = (first_day..=last_day.max(first_day))
        .map(|d| (d, line(by_day.get(&d).copied().unwrap_or_default())))
        .collect();
    Overview {
        by_status: Statistics::of(rows),
        by_currency,
        by_project,
        days,
        total: line(total),
    }
}

/// A merchant's balance in one currency.
#[derive(Clone, Debug)]
pub struct Balance {
    /// The currency.
    pub crypto: &'static Crypto,
    /// Available, pending and set aside for withdrawals not signed yet.
    pub total: Amount,
    /// What can be withdrawn.
    pub available: Amount,
    /// Payments seen or confirming on chain (not counted yet), and payments counted but not
    /// settled: not yet available.
    pub pending: Amount,
    /// Withdrawals asked for and not signed yet, and withdrawals in flight (amount and network
    /// fee): already out of the available balance.
    pub outgoing: Amount,
    /// What the merchant owes: a credit taken back after it was withdrawn. Withdrawals in
    /// this currency wait until new payments cover it.
    pub owed: Amount,
    /// USD per unit now (zero when no rate is known).
    pub rate_usd: Decimal,
    /// Whether the currency's network takes live payments here.
    pub live: bool,
}

/// The balances of `merchant`: every currency of a live network, and every currency the
/// ledger holds anything in, in catalogue order.
pub async fn balances(st: &Ctx, merchant: MerchantId) -> Result<Vec<Balance>, StoreError> {
    let mut conn = st.db.conn().await?;
    let balances = ledger::balances(&mut conn, merchant).await?;
    let outgoing = kassa_store::withdrawals::in_flight_of(&mut conn, merchant).await?;
    let incoming = kassa_store::transfers::incoming_of(&mut conn, merchant).await?;
    drop(conn);
    let now = st.clock.now();
    let mut codes: Vec<&'static Crypto> = currency::cryptos_in_order()
        .into_iter()
        .filter(|c| st.pricing.live_crypto(c) || balances.keys().any(|(_, code)| code == c.code))
        .collect();
    codes.dedup_by_key(|c| c.code);
    Ok(codes
        .into_iter()
        .map(|c| {
            let get = |k: Kind| {
                balances
                    .get(&(k, c.code.to_owned()))
                    .copied()
                    .unwrap_or(Amount::ZERO)
            };
            let available = get(Kind::MerchantAvailable);
            // Seen or confirming on chain (not counted yet), and counted but not settled
            // (a partial payment waiting for the merchant's decision).
            let seen = incoming.get(c.code).copied().unwrap_or(Amount::ZERO);
            let pending = get(Kind::MerchantPending).checked_add(seen).unwrap_or(seen);
            let reserved = get(Kind::MerchantWithdrawing);
            let in_flight = outgoing.get(c.code).copied().unwrap_or(Amount::ZERO);
            Balance {
                crypto: c,
                total: available
                    .checked_add(pending)
                    .and_then(|t| t.checked_add(reserved))
                    .unwrap_or(available),
                available,
                pending,
                outgoing: in_flight.checked_add(reserved).unwrap_or(in_flight),
                owed: get(Kind::MerchantReceivable),
                rate_usd: st
                    .pricing
                    .usd(c.symbol, false, now)
                    .map(|r| r.usd)
                    .unwrap_or(Decimal::ZERO),
                live: st.pricing.live_crypto(c),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        day: i64,
        status: Status,
        currency: &str,
        project: i64,
        count: i64,
        cents: i64,
    ) -> StatRow {
        StatRow {
            day,
            status,
            currency: currency.into(),
            project: ProjectId::new(project),
            count,
            cents,
        }
    }

    #[test]
    fn the_overview_adds_up_to_the_rows() {
        let rows = [
            row(10, Status::Paid, "LTC", 1, 2, 1_000),
            row(10, Status::Created, "", 1, 3, 500),
            row(12, Status::Overpaid, "USDT_TRC20", 2, 1, 2_550),
            row(12, Status::Partial, "LTC", 2, 1, 700),
        ];
        let o = overview(&rows, 9, 12);
        assert_eq!(
            o.days.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
            [9, 10, 11, 12]
        );
        assert_eq!(o.days[1].1.turnover, Decimal::new(1_000, 2));
        assert_eq!(o.days[2].1, Line::default(), "an empty day is shown");
        assert_eq!((o.total.created, o.total.paid), (7, 3));
        assert_eq!(o.total.amount, Decimal::new(4_750, 2));
        assert_eq!(o.total.turnover, Decimal::new(3_550, 2));
        assert_eq!(o.conversion(), Some(Decimal::new(4_286, 2)));
        assert_eq!(o.average(), Some(Decimal::new(1_183, 2)));
        assert_eq!(o.by_currency[0].0, "USDT_TRC20", "largest turnover first");
        assert_eq!(o.by_status.count["all"], 7);
        assert_eq!(o.by_status.amount["paid"], Decimal::new(1_000, 2));
        let none = overview(&[], 5, 5);
        assert_eq!((none.conversion(), none.average()), (None, None));
    }
}
