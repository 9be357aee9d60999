//! The read side: what the merchant API and the dashboard pages both show — invoice lists,
//! statistics and balances — computed once here, formatted by each surface.

use std::collections::BTreeMap;

use kassa_core::currency::{self, Crypto};
use kassa_core::money::Amount;
use kassa_core::{Decimal, MerchantId, ProjectId, Timestamp};
use kassa_store::StoreError;
use kassa_store::invoices::{self, InvoiceRow, ListFilter, TransferState};
use kassa_store::ledger::{self, Kind};

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

/// The statistics of `project` over `[from, until)`.
pub async fn statistics(
    st: &Ctx,
    project: ProjectId,
    from: Timestamp,
    until: Timestamp,
) -> Result<Statistics, StoreError> {
    let rows =
        kassa_store::payment_list::stats_rows(&mut st.db.conn().await?, project, from, until)
            .await?;
    let mut s = Statistics {
        count: STAT_KEYS.iter().map(|k| (*k, 0)).collect(),
        amount: STAT_KEYS.iter().map(|k| (*k, Decimal::ZERO)).collect(),
    };
    for (status, usd) in rows {
        for k in ["all", status.as_str()] {
            *s.count.entry(k).or_default() += 1;
            *s.amount.entry(k).or_default() += usd;
        }
    }
    Ok(s)
}

/// A merchant's balance in one currency.
#[derive(Clone, Debug)]
pub struct Balance {
    /// The currency.
    pub crypto: &'static Crypto,
    /// Available plus pending.
    pub total: Amount,
    /// What can be withdrawn.
    pub available: Amount,
    /// USD per unit now (zero when no rate is known).
    pub rate_usd: Decimal,
    /// Whether the currency's network takes live payments here.
    pub live: bool,
}

/// The balances of `merchant`: every currency of a live network, and every currency the
/// ledger holds anything in, in catalogue order.
pub async fn balances(st: &Ctx, merchant: MerchantId) -> Result<Vec<Balance>, StoreError> {
    let balances = ledger::balances(&mut st.db.conn().await?, merchant).await?;
    let now = st.clock.now();
    let mut codes: Vec<&'static Crypto> = currency::cryptos_in_order()
        .into_iter()
        .filter(|c| {
            st.pricing.live_network(c.network) || balances.keys().any(|(_, code)| code == c.code)
        })
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
            Balance {
                crypto: c,
                total: available
                    .checked_add(get(Kind::MerchantPending))
                    .unwrap_or(available),
                available,
                rate_usd: st
                    .pricing
                    .usd(c.symbol, false, now)
                    .map(|r| r.usd)
                    .unwrap_or(Decimal::ZERO),
                live: st.pricing.live_network(c.network),
            }
        })
        .collect())
}
