//! The double-entry ledger. Money only moves by [`post`]: one transfer takes an amount from a
//! debit account and gives it to a credit account, so every movement balances by itself and
//! nothing is ever edited in place (a correction is a reverse transfer).
//!
//! Each account keeps a running balance in its *normal* direction — custody (money the
//! operator holds at deposit addresses, an asset) grows with debits; merchant balances and
//! fee accounts (what is owed to the merchant, what the operator earned) grow with credits —
//! updated in the same transaction as the transfer. [`verify`] recomputes every balance from
//! the transfers and compares.

use std::collections::BTreeMap;

use kassa_core::{Amount, InvoiceId, LedgerAccountId, MerchantId, Timestamp};

use crate::{AsConn, DbAmount, Engine, StoreError, exec, sql};

/// What an account is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Money held at deposit addresses (operator-wide, per currency).
    Custody,
    /// A merchant's money received for invoices not confirmed yet.
    MerchantPending,
    /// A merchant's money they may withdraw.
    MerchantAvailable,
    /// What a merchant owes: a credit taken back (its payment left the chain) after they had
    /// withdrawn it. An asset; their next credits settle it first.
    MerchantReceivable,
    /// A merchant's money set aside for withdrawals they asked for that are not signed yet
    /// (waiting for approval, a signature or their turn).
    MerchantWithdrawing,
    /// Service fees earned (operator-wide).
    ServiceFees,
    /// Transfer fees collected to pay for moving funds (operator-wide).
    NetworkFees,
    /// What moving funds between Kassa's own addresses cost the operator (the gas of sweeping
    /// a deposit address, operator-wide): an expense, paid out of custody.
    ChainCosts,
}

impl Kind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Custody => "custody",
            Kind::MerchantPending => "merchant_pending",
            Kind::MerchantAvailable => "merchant_available",
            Kind::MerchantReceivable => "merchant_receivable",
            Kind::MerchantWithdrawing => "merchant_withdrawing",
            Kind::ServiceFees => "service_fees",
            Kind::NetworkFees => "network_fees",
            Kind::ChainCosts => "chain_costs",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Custody,
            Kind::MerchantPending,
            Kind::MerchantAvailable,
            Kind::MerchantReceivable,
            Kind::MerchantWithdrawing,
            Kind::ServiceFees,
            Kind::NetworkFees,
            Kind::ChainCosts,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Whether debits increase the balance (assets) rather than credits.
    pub fn debit_normal(self) -> bool {
        matches!(
            self,
            Kind::Custody | Kind::MerchantReceivable | Kind::ChainCosts
        )
    }
}

/// An account: a kind, a currency and, for merchant accounts, the merchant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Account<'a> {
    /// Kind.
    pub kind: Kind,
    /// The merchant, for merchant accounts.
    pub merchant: Option<MerchantId>,
    /// Crypto code.
    pub currency: &'a str,
}

/// Why a posting was refused.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The debit would take an account below zero in its normal direction.
    #[error("ledger account {account} would go below zero")]
    Overdrawn {
        /// The account.
        account: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Store(e.into())
    }
}

async fn account_id(
    conn: &mut impl AsConn,
    a: &Account<'_>,
    now: Timestamp,
) -> Result<(LedgerAccountId, Amount), StoreError> {
    let lock = if conn.as_conn().engine() == Engine::Postgres {
        " for update"
    } else {
        ""
    };
    let select = format!(
        "select ledger_account_id, balance from ledger_account where coalesce(merchant_id, 0) = $1 and kind = $2 and currency = $3{lock}"
    );
    let merchant = a.merchant.map_or(0, MerchantId::get);
    let found: Option<(i64, DbAmount)> = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        select.clone()
    ))
    .bind(merchant)
    .bind(a.kind.as_str())
    .bind(a.currency)
    .fetch_optional(c)
    .await)?;
    if let Some((id, balance)) = found {
        return Ok((LedgerAccountId::new(id), balance.0));
    }
    exec!(
        conn,
        sqlx::query(
            "insert into ledger_account (merchant_id, kind, currency, balance, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $5) on conflict do nothing"
        )
        .bind(a.merchant.map(MerchantId::get))
        .bind(a.kind.as_str())
        .bind(a.currency)
        .bind(DbAmount(Amount::ZERO))
        .bind(now.as_micros())
    )?;
    let (id, balance): (i64, DbAmount) = sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        select.clone()
    ))
    .bind(merchant)
    .bind(a.kind.as_str())
    .bind(a.currency)
    .fetch_one(c)
    .await)?;
    Ok((LedgerAccountId::new(id), balance.0))
}

async fn set_balance(
    conn: &mut impl AsConn,
    id: LedgerAccountId,
    balance: Amount,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update ledger_account set balance = $1, updated_at = $2 where ledger_account_id = $3"
        )
        .bind(DbAmount(balance))
        .bind(now.as_micros())
        .bind(id.get())
    )?;
    Ok(())
}

fn moved(
    kind: Kind,
    balance: Amount,
    amount: Amount,
    debit: bool,
    name: &str,
) -> Result<Amount, LedgerError> {
    let grows = debit == kind.debit_normal();
    let next = if grows {
        balance.checked_add(amount)
    } else {
        balance.checked_sub(amount)
    };
    next.ok_or_else(|| LedgerError::Overdrawn {
        account: name.to_owned(),
    })
}

/// Moves `amount` from `debit` to `credit` (same currency), recording the transfer under
/// `journal`. Call it in the transaction of the business change. Zero amounts are skipped.
pub async fn post(
    conn: &mut impl AsConn,
    journal: &str,
    invoice: Option<InvoiceId>,
    debit: &Account<'_>,
    credit: &Account<'_>,
    amount: Amount,
    now: Timestamp,
) -> Result<(), LedgerError> {
    if amount.is_zero() {
        return Ok(());
    }
    debug_assert_eq!(debit.currency, credit.currency);
    let (debit_id, debit_balance) = account_id(conn, debit, now).await?;
    let (credit_id, credit_balance) = account_id(conn, credit, now).await?;
    let name = |a: &Account<'_>| {
        format!(
            "{}:{}:{}",
            a.kind.as_str(),
            a.merchant.map_or(0, MerchantId::get),
            a.currency
        )
    };
    let new_debit = moved(debit.kind, debit_balance, amount, true, &name(debit))?;
    let new_credit = moved(credit.kind, credit_balance, amount, false, &name(credit))?;
    set_balance(conn, debit_id, new_debit, now).await?;
    set_balance(conn, credit_id, new_credit, now).await?;
    exec!(
        conn,
        sqlx::query(
            "insert into ledger_transfer (journal, invoice_id, debit_account_id, credit_account_id, currency, amount, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(journal)
        .bind(invoice.map(InvoiceId::get))
        .bind(debit_id.get())
        .bind(credit_id.get())
        .bind(debit.currency)
        .bind(DbAmount(amount))
        .bind(now.as_micros())
    )?;
    Ok(())
}

/// Where postings belong: their journal, the invoice they are for, and when.
#[derive(Clone, Copy, Debug)]
pub struct Journal<'a> {
    /// The journal's name (`invoice …`, `withdrawal …`).
    pub name: &'a str,
    /// The invoice, if any.
    pub invoice: Option<InvoiceId>,
    /// When.
    pub at: Timestamp,
}

impl Journal<'_> {
    /// [`post`]s `amount` from `debit` to `credit` in this journal.
    pub async fn post(
        &self,
        conn: &mut impl AsConn,
        debit: &Account<'_>,
        credit: &Account<'_>,
        amount: Amount,
    ) -> Result<(), LedgerError> {
        post(
            conn,
            self.name,
            self.invoice,
            debit,
            credit,
            amount,
            self.at,
        )
        .await
    }
}

async fn merchant_balance(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    kind: Kind,
    currency: &str,
) -> Result<Amount, StoreError> {
    Ok(balances(conn, merchant)
        .await?
        .get(&(kind, currency.to_owned()))
        .copied()
        .unwrap_or(Amount::ZERO))
}

/// Takes `amount` from `merchant` into `to` (in `to`'s currency): out of their available
/// balance as far as it covers it; the rest they owe (their receivable grows). Returns what is
/// owed.
pub async fn charge_merchant(
    conn: &mut impl AsConn,
    j: &Journal<'_>,
    merchant: MerchantId,
    to: &Account<'_>,
    amount: Amount,
) -> Result<Amount, LedgerError> {
    let acct = |kind| Account {
        kind,
        merchant: Some(merchant),
        currency: to.currency,
    };
    let available = merchant_balance(conn, merchant, Kind::MerchantAvailable, to.currency).await?;
    let from_available = amount.min(available);
    let owed = amount.saturating_sub(from_available);
    let available = acct(Kind::MerchantAvailable);
    post(
        conn,
        j.name,
        j.invoice,
        &available,
        to,
        from_available,
        j.at,
    )
    .await?;
    post(
        conn,
        j.name,
        j.invoice,
        &acct(Kind::MerchantReceivable),
        to,
        owed,
        j.at,
    )
    .await?;
    Ok(owed)
}

/// Gives `amount` from `from` to `merchant`: settling what they owe first, the rest to their
/// available balance. Returns what went to settle the receivable.
pub async fn credit_merchant(
    conn: &mut impl AsConn,
    j: &Journal<'_>,
    merchant: MerchantId,
    from: &Account<'_>,
    amount: Amount,
) -> Result<Amount, LedgerError> {
    let acct = |kind| Account {
        kind,
        merchant: Some(merchant),
        currency: from.currency,
    };
    let owed = merchant_balance(conn, merchant, Kind::MerchantReceivable, from.currency).await?;
    let repaid = amount.min(owed);
    let receivable = acct(Kind::MerchantReceivable);
    post(conn, j.name, j.invoice, from, &receivable, repaid, j.at).await?;
    let rest = amount.saturating_sub(repaid);
    post(
        conn,
        j.name,
        j.invoice,
        from,
        &acct(Kind::MerchantAvailable),
        rest,
        j.at,
    )
    .await?;
    Ok(repaid)
}

/// A merchant's balances: (kind, currency) → amount, for the merchant's own accounts.
pub async fn balances(
    conn: &mut impl AsConn,
    merchant: MerchantId,
) -> Result<BTreeMap<(Kind, String), Amount>, StoreError> {
    let rows: Vec<(String, String, DbAmount)> = sql!(conn, |c| sqlx::query_as(
        "select kind, currency, balance from ledger_account where merchant_id = $1"
    )
    .bind(merchant.get())
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, c, b)| Kind::parse(&k).map(|k| ((k, c), b.0)))
        .collect())
}

/// The balance of the operator-wide account `kind` in `currency` (custody, fees, costs).
pub async fn operator_balance(
    conn: &mut impl AsConn,
    kind: Kind,
    currency: &str,
) -> Result<Amount, StoreError> {
    let b: Option<DbAmount> = sql!(conn, |c| {
        sqlx::query_scalar(
        "select balance from ledger_account where merchant_id is null and kind = $1 and currency = $2"
    )
    .bind(kind.as_str())
    .bind(currency)
    .fetch_optional(c)
    .await
    })?;
    Ok(b.map_or(Amount::ZERO, |b| b.0))
}

/// A ledger account whose stored balance differs from the sum of its transfers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The account.
    pub account: LedgerAccountId,
    /// Stored balance.
    pub stored: Amount,
    /// Balance recomputed from transfers (`None`: negative, which must never happen).
    pub computed: Option<Amount>,
}

/// Recomputes every account's balance from the transfers (exactly, in Rust) and returns the
/// accounts that disagree. Empty means the books are consistent.
pub async fn verify(conn: &mut impl AsConn) -> Result<Vec<Mismatch>, StoreError> {
    let accounts: Vec<(i64, String, DbAmount)> = sql!(conn, |c| sqlx::query_as(
        "select ledger_account_id, kind, balance from ledger_account"
    )
    .fetch_all(c)
    .await)?;
    let transfers: Vec<(i64, i64, DbAmount)> = sql!(conn, |c| sqlx::query_as(
        "select debit_account_id, credit_account_id, amount from ledger_transfer"
    )
    .fetch_all(c)
    .await)?;
    let mut debits: BTreeMap<i64, i128> = BTreeMap::new();
    let mut credits: BTreeMap<i64, i128> = BTreeMap::new();
    for (d, c, a) in transfers {
        let a = i128::try_from(a.0.base()).unwrap_or(i128::MAX);
        *debits.entry(d).or_default() += a;
        *credits.entry(c).or_default() += a;
    }
    let mut out = Vec::new();
    for (id, kind, stored) in accounts {
        let (d, c) = (
            debits.get(&id).copied().unwrap_or(0),
            credits.get(&id).copied().unwrap_or(0),
        );
        let net = if Kind::parse(&kind).is_some_and(Kind::debit_normal) {
            d - c
        } else {
            c - d
        };
        let computed = u128::try_from(net).ok().map(Amount::from_base);
        if computed != Some(stored.0) {
            out.push(Mismatch {
                account: LedgerAccountId::new(id),
                stored: stored.0,
                computed,
            });
        }
    }
    Ok(out)
}

/// Which postings [`net_postings`] sums.
#[derive(Clone, Copy, Debug)]
pub enum Postings<'a> {
    /// Everything posted for an invoice.
    Invoice(InvoiceId),
    /// Everything posted under these journals.
    Journals(&'a [&'a str]),
}

/// The net amounts moved between kinds of account by some postings: (from, to) → amount moved
/// from `from` to `to` minus amount moved back. What a re-evaluation compares with what its
/// facts imply, to post only the difference.
pub async fn net_postings(
    conn: &mut impl AsConn,
    which: Postings<'_>,
) -> Result<BTreeMap<(Kind, Kind), i128>, StoreError> {
    const JOIN: &str = "select da.kind, ca.kind, lt.amount from ledger_transfer lt \
         join ledger_account da on da.ledger_account_id = lt.debit_account_id \
         join ledger_account ca on ca.ledger_account_id = lt.credit_account_id";
    let rows: Vec<(String, String, DbAmount)> = match which {
        Postings::Invoice(id) => {
            let q = format!("{JOIN} where lt.invoice_id = $1");
            sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
                .bind(id.get())
                .fetch_all(c)
                .await)?
        }
        Postings::Journals(names) => {
            let mut rows = Vec::new();
            for name in names {
                let q = format!("{JOIN} where lt.journal = $1");
                let part: Vec<(String, String, DbAmount)> =
                    sql!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(q.clone()))
                        .bind(*name)
                        .fetch_all(c)
                        .await)?;
                rows.extend(part);
            }
            rows
        }
    };
    let mut out: BTreeMap<(Kind, Kind), i128> = BTreeMap::new();
    for (d, c, a) in rows {
        let (Some(d), Some(c)) = (Kind::parse(&d), Kind::parse(&c)) else {
            return Err(StoreError::Corrupt {
                column: "ledger_account.kind",
                reason: format!("{d} / {c}"),
            });
        };
        let a = i128::try_from(a.0.base()).unwrap_or(i128::MAX);
        *out.entry((d, c)).or_default() += a;
        *out.entry((c, d)).or_default() -= a;
    }
    Ok(out)
}
