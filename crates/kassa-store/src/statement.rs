//! A merchant's statement: every ledger transfer into or out of what the merchant owns — their
//! available balance, and what they owe (the receivable) — newest first, in keyset pages.
//! Receipts (an invoice's credit net of fees, a static-wallet top-up), credits taken back,
//! withdrawals (amount and network fee) and withdrawals returned. Money seen but not yet
//! confirmed (the pending account) and the operator's own accounts are not part of it.
//!
//! Each page is two ordered index scans (transfers debiting a statement account, transfers
//! crediting one; no transfer does both) merged by id, so a small merchant among large ones
//! reads only their own rows.

use kassa_core::{Amount, InvoiceId, MerchantId, ProjectId, Timestamp};

use crate::ledger::Kind;
use crate::{AsConn, DbAmount, StoreError, sql};

/// What a statement line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Credit for a paid invoice (or a static-wallet top-up), net of fees; or part of it
    /// settling what the merchant owed.
    Receipt,
    /// Credit taken back (its payment left the chain): out of the available balance, or owed.
    Reversal,
    /// A withdrawal: its amount or its network fee.
    Withdrawal,
    /// A withdrawal's funds back (it failed).
    Returned,
}

impl EntryKind {
    /// Every kind, in the filter's order.
    pub const ALL: [EntryKind; 4] = [
        EntryKind::Receipt,
        EntryKind::Reversal,
        EntryKind::Withdrawal,
        EntryKind::Returned,
    ];

    /// Its key (query strings, exports).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Receipt => "receipt",
            EntryKind::Reversal => "reversal",
            EntryKind::Withdrawal => "withdrawal",
            EntryKind::Returned => "returned",
        }
    }

    /// The kind with this key.
    pub fn parse(s: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }

    /// Whether it adds to what the merchant owns (else it takes from it).
    pub fn incoming(self) -> bool {
        matches!(self, EntryKind::Receipt | EntryKind::Returned)
    }

    /// The kind of the account on the other side of the transfer.
    fn other(self) -> Kind {
        match self {
            EntryKind::Receipt | EntryKind::Reversal => Kind::MerchantPending,
            EntryKind::Withdrawal | EntryKind::Returned => Kind::Custody,
        }
    }
}

/// Which lines a statement shows.
#[derive(Clone, Debug)]
pub struct StatementQuery {
    /// The merchant.
    pub merchant: MerchantId,
    /// Only this currency.
    pub currency: Option<String>,
    /// Only this kind.
    pub kind: Option<EntryKind>,
    /// At or after.
    pub from: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
}

/// One statement line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The ledger transfer (and the keyset cursor).
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// What it is.
    pub kind: EntryKind,
    /// Whether it concerns what the merchant owes (the receivable) rather than their
    /// available balance.
    pub owed: bool,
    /// The crypto code.
    pub currency: String,
    /// The amount moved (the sign is [`EntryKind::incoming`]).
    pub amount: Amount,
    /// The journal (`invoice ABCD1234`, `withdrawal 7`).
    pub journal: String,
    /// The invoice, for receipts and reversals: its id, public id, project and whether it is
    /// a static-wallet top-up.
    pub invoice: Option<(InvoiceId, String, ProjectId, bool)>,
    /// The fees (service and network transfer) kept from the payment with this receipt, or
    /// given back with this reversal; zero on other lines.
    pub fees: Amount,
}

impl Entry {
    /// The withdrawal a line is for (journal `withdrawal <id>`).
    pub fn withdrawal(&self) -> Option<i64> {
        self.journal
            .strip_prefix("withdrawal ")
            .and_then(|r| r.split(' ').next())
            .and_then(|id| id.parse().ok())
    }
}

type Tuple = (
    i64,
    i64,
    String,
    String,
    String,
    i32,
    DbAmount,
    String,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// One page of the statement, newest first, from below `before` (a line's id), and the cursor
/// of the next page when there is one.
pub async fn page(
    conn: &mut impl AsConn,
    q: &StatementQuery,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<Entry>, Option<i64>), StoreError> {
    let limit = limit.clamp(1, 10_000);
    // The merchant's statement accounts (available and receivable, per currency).
    let accounts: Vec<(i64, String)> = sql!(conn, |c| sqlx::query_as(
        "select ledger_account_id, kind from ledger_account where merchant_id = $1 \
         and kind in ('merchant_available', 'merchant_receivable') \
         and ($2 is null or currency = $2)"
    )
    .bind(q.merchant.get())
    .bind(q.currency.as_deref())
    .fetch_all(&mut *c)
    .await)?;
    if accounts.is_empty() {
        return Ok((Vec::new(), None));
    }
    let ids = accounts
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut cond = String::new();
    if let Some(b) = before {
        cond.push_str(&format!(" and lt.ledger_transfer_id < {b}"));
    }
    if let Some(f) = q.from {
        cond.push_str(&format!(" and lt.created_at >= {}", f.as_micros()));
    }
    if let Some(u) = q.until {
        cond.push_str(&format!(" and lt.created_at < {}", u.as_micros()));
    }
    let read = limit + 1;
    // One side: `mine` is the statement account's column, `theirs` the other account's.
    let side = |mine: &str, theirs: &str, out: bool, kinds: [EntryKind; 2]| {
        let kinds: Vec<&str> = kinds
            .iter()
            .filter(|k| q.kind.is_none_or(|want| want == **k))
            .map(|k| k.other().as_str())
            .collect();
        if kinds.is_empty() {
            return None;
        }
        let kinds = kinds
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        Some(format!(
            "select * from (select lt.ledger_transfer_id, lt.created_at, lt.journal, \
             mine.kind as mine_kind, other.kind as other_kind, {} as outgoing, lt.amount, \
             lt.currency, lt.invoice_id \
             from ledger_transfer lt \
             join ledger_account mine on mine.ledger_account_id = lt.{mine} \
             join ledger_account other on other.ledger_account_id = lt.{theirs} \
             where lt.{mine} in ({ids}) and other.kind in ({kinds}){cond} \
             order by lt.ledger_transfer_id desc limit {read}) {mine}_side",
            i32::from(out)
        ))
    };
    // Out of the merchant's accounts: reversals and withdrawals; into them: receipts and
    // returns.
    let parts: Vec<String> = [
        side(
            "debit_account_id",
            "credit_account_id",
            true,
            [EntryKind::Reversal, EntryKind::Withdrawal],
        ),
        side(
            "credit_account_id",
            "debit_account_id",
            false,
            [EntryKind::Receipt, EntryKind::Returned],
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        return Ok((Vec::new(), None));
    }
    let text = sqlx::AssertSqlSafe(format!(
        "select s.ledger_transfer_id, s.created_at, s.journal, s.mine_kind, s.other_kind, s.outgoing, s.amount, \
         s.currency, s.invoice_id, i.uuid, i.project_id, i.static_wallet_id \
         from ({}) s left join invoice i on i.invoice_id = s.invoice_id \
         order by s.ledger_transfer_id desc limit {read}",
        parts.join(" union all ")
    ));
    let rows: Vec<Tuple> = sql!(conn, |c| sqlx::query_as(text).fetch_all(&mut *c).await)?;
    let mut out = Vec::with_capacity(rows.len());
    for (
        id,
        at,
        journal,
        mine,
        other,
        outgoing,
        amount,
        currency,
        invoice,
        uuid,
        project,
        wallet,
    ) in rows
    {
        let corrupt = || StoreError::Corrupt {
            column: "ledger_account.kind",
            reason: format!("{mine} / {other}"),
        };
        let mine = Kind::parse(&mine).ok_or_else(corrupt)?;
        let other = Kind::parse(&other).ok_or_else(corrupt)?;
        // Debiting a merchant account takes from what they own (available falls, or what
        // they owe grows); crediting one adds to it.
        let kind = match (other, outgoing != 0) {
            (Kind::MerchantPending, false) => EntryKind::Receipt,
            (Kind::MerchantPending, true) => EntryKind::Reversal,
            (Kind::Custody, true) => EntryKind::Withdrawal,
            (Kind::Custody, false) => EntryKind::Returned,
            _ => return Err(corrupt()),
        };
        out.push(Entry {
            id,
            at: Timestamp::from_micros(at),
            kind,
            owed: mine == Kind::MerchantReceivable,
            currency,
            amount: amount.0,
            journal,
            invoice: match (invoice, uuid, project) {
                (Some(i), Some(u), Some(p)) => {
                    Some((InvoiceId::new(i), u, ProjectId::new(p), wallet.is_some()))
                }
                _ => None,
            },
            fees: Amount::ZERO,
        });
    }
    let more = out.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    attach_fees(conn, &mut out).await?;
    let next = if more { out.last().map(|e| e.id) } else { None };
    Ok((out, next))
}

/// Puts on each receipt (and reversal) the fees its payment's re-evaluation kept (or gave
/// back) in the same posting: the fee transfers of its invoice at the same moment. Each
/// moment's fees go on its first line only, so a column of fees adds up.
async fn attach_fees(conn: &mut impl AsConn, lines: &mut [Entry]) -> Result<(), StoreError> {
    let invoices: std::collections::BTreeSet<i64> = lines
        .iter()
        .filter_map(|e| e.invoice.as_ref().map(|(id, ..)| id.get()))
        .collect();
    if invoices.is_empty() {
        return Ok(());
    }
    let ids = invoices
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let q = sqlx::AssertSqlSafe(format!(
        "select lt.invoice_id, lt.created_at, lt.amount, da.kind, ca.kind from ledger_transfer lt \
         join ledger_account da on da.ledger_account_id = lt.debit_account_id \
         join ledger_account ca on ca.ledger_account_id = lt.credit_account_id \
         where lt.invoice_id in ({ids}) \
         and (ca.kind in ('service_fees', 'network_fees') or da.kind in ('service_fees', 'network_fees'))"
    ));
    let rows: Vec<(i64, i64, DbAmount, String, String)> =
        sql!(conn, |c| sqlx::query_as(q).fetch_all(&mut *c).await)?;
    let fee_kind = |k: &str| k == Kind::ServiceFees.as_str() || k == Kind::NetworkFees.as_str();
    let mut net: std::collections::BTreeMap<(i64, i64), i128> = std::collections::BTreeMap::new();
    for (invoice, at, amount, debit, credit) in rows {
        let a = i128::try_from(amount.0.base()).unwrap_or(i128::MAX);
        let v = net.entry((invoice, at)).or_default();
        if fee_kind(&credit) && !fee_kind(&debit) {
            *v += a;
        } else if fee_kind(&debit) && !fee_kind(&credit) {
            *v -= a;
        }
    }
    for e in lines.iter_mut() {
        let Some((invoice, ..)) = &e.invoice else {
            continue;
        };
        let Some(v) = net.remove(&(invoice.get(), e.at.as_micros())) else {
            continue;
        };
        let fits = match e.kind {
            EntryKind::Receipt => v > 0,
            EntryKind::Reversal => v < 0,
            EntryKind::Withdrawal | EntryKind::Returned => false,
        };
        if fits {
            e.fees = Amount::from_base(v.unsigned_abs());
        }
    }
    Ok(())
}
