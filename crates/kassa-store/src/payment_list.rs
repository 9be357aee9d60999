//! The Payments section's reads: a merchant's invoices across projects, newest first, in
//! keyset pages (stable while new invoices arrive: a page continues strictly below the last
//! row of the one before, so nothing is skipped or repeated), filtered by date, status,
//! currency, project and mode, and narrowed by an exact search. Every filter is a condition
//! an index of migration 0009 serves; the search first finds its few candidates by indexed
//! lookups, then the page is read among them. Also the rows the statistics sum.

use futures_util::TryStreamExt as _;
use kassa_core::invoice::Status;
use kassa_core::{InvoiceId, MerchantId, ProjectId, Timestamp};

pub use crate::payment_row::PaymentRow;
use crate::payment_row::{PAYMENT_FIELDS, PAYMENT_SOURCE, Wire};
use crate::{AsConn, Conn, StoreError, sql};

/// A status filter: an API status, or Kassa's own "processing" (created, with a payment in
/// flight) and "paid late".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// This status.
    Is(Status),
    /// Waiting, with a payment seen but not yet counted.
    Processing,
    /// A payment counted after expiry or cancellation.
    PaidLate,
}

/// Live invoices, test invoices, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Real money only.
    #[default]
    Live,
    /// Test mode only.
    Test,
    /// Both.
    All,
}

/// Which invoices a view shows.
#[derive(Clone, Debug)]
pub struct PaymentQuery {
    /// The merchant.
    pub merchant: MerchantId,
    /// Only these projects (the person's scope, or a project filter); `None`: all of them.
    pub projects: Option<Vec<ProjectId>>,
    /// Created at or after.
    pub from: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
    /// The status filter.
    pub status: Option<StatusFilter>,
    /// Only these chosen currencies (a currency or a network filter); `None`: any.
    pub currencies: Option<Vec<&'static str>>,
    /// Live, test or both.
    pub mode: Mode,
    /// Only these invoices (the candidates of a search); `None`: no search.
    pub ids: Option<Vec<InvoiceId>>,
}

impl PaymentQuery {
    /// Every live invoice of `merchant`.
    pub fn of(merchant: MerchantId) -> Self {
        PaymentQuery {
            merchant,
            projects: None,
            from: None,
            until: None,
            status: None,
            currencies: None,
            mode: Mode::Live,
            ids: None,
        }
    }
}

/// Where a page ends: the last row's creation time and id. Written as `<micros>.<id>` in
/// links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Creation time of the last row shown.
    pub created_at: Timestamp,
    /// Its id.
    pub id: InvoiceId,
}

impl Cursor {
    /// The cursor after `row`.
    pub fn after(row: &PaymentRow) -> Self {
        Cursor {
            created_at: row.created_at,
            id: row.id,
        }
    }

    /// The text form.
    pub fn text(&self) -> String {
        format!("{}.{}", self.created_at.as_micros(), self.id.get())
    }

    /// Parses the text form; `None` for anything else.
    pub fn parse(s: &str) -> Option<Cursor> {
        let (t, id) = s.trim().split_once('.')?;
        Some(Cursor {
            created_at: Timestamp::from_micros(t.parse().ok()?),
            id: InvoiceId::new(id.parse().ok().filter(|i: &i64| *i > 0)?),
        })
    }
}

/// Binds `args` in order to `query` (either engine).
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for a in $args {
            query = match a {
                Arg::Int(i) => query.bind(i),
                Arg::Bool(b) => query.bind(b),
                Arg::Text(s) => query.bind(s),
            };
        }
        query
    }};
}

/// A bind value.
enum Arg {
    Int(i64),
    Bool(bool),
    Text(String),
}

/// The `where` clause of `q` (after `merchant_id = $1`) and its arguments.
fn conditions(q: &PaymentQuery, after: Option<Cursor>) -> Option<(String, Vec<Arg>)> {
    let mut sql = String::from("merchant_id = $1");
    let mut args = vec![Arg::Int(q.merchant.get())];
    // Conditions are written with `?` for each argument, numbered here in order.
    let mut push = |sql: &mut String, cond: &str, a: Vec<Arg>| {
        sql.push_str(" and ");
        let mut parts = cond.split('?');
        sql.push_str(parts.next().unwrap_or_default());
        for (part, arg) in parts.zip(a) {
            args.push(arg);
            sql.push_str(&format!("${}", args.len()));
            sql.push_str(part);
        }
    };
    let list = |n: usize| vec!["?"; n].join(", ");
    if let Some(projects) = &q.projects {
        if projects.is_empty() {
            return None;
        }
        let ps: Vec<Arg> = projects.iter().map(|p| Arg::Int(p.get())).collect();
        push(&mut sql, &format!("project_id in ({})", list(ps.len())), ps);
    }
    if let Some(ids) = &q.ids {
        if ids.is_empty() {
            return None;
        }
        let is: Vec<Arg> = ids.iter().map(|i| Arg::Int(i.get())).collect();
        push(&mut sql, &format!("invoice_id in ({})", list(is.len())), is);
    }
    if let Some(cs) = &q.currencies {
        if cs.is_empty() {
            return None;
        }
        let cs: Vec<Arg> = cs.iter().map(|c| Arg::Text((*c).to_owned())).collect();
        push(&mut sql, &format!("currency in ({})", list(cs.len())), cs);
    }
    if let Some(from) = q.from {
        push(
            &mut sql,
            "created_at >= ?",
            vec![Arg::Int(from.as_micros())],
        );
    }
    if let Some(until) = q.until {
        push(
            &mut sql,
            "created_at < ?",
            vec![Arg::Int(until.as_micros())],
        );
    }
    match q.status {
        None => {}
        Some(StatusFilter::Is(s)) => {
            push(&mut sql, "status = ?", vec![Arg::Text(s.as_str().into())]);
        }
        // Written as the partial index of migration 0012 is (literals, so both engines see
        // that the index covers it; '0' reads as text on SQLite and as a number on PostgreSQL).
        Some(StatusFilter::Processing) => push(
            &mut sql,
            "status = 'created' and processing <> '0'",
            Vec::new(),
        ),
        Some(StatusFilter::PaidLate) => push(&mut sql, "paid_late = ?", vec![Arg::Bool(true)]),
    }
    match q.mode {
        Mode::All => {}
        Mode::Live => push(&mut sql, "test = ?", vec![Arg::Bool(false)]),
        Mode::Test => push(&mut sql, "test = ?", vec![Arg::Bool(true)]),
    }
    if let Some(c) = after {
        push(
            &mut sql,
            // The first condition alone bounds an index range (an `or` would not).
            "created_at <= ? and (created_at < ? or invoice_id < ?)",
            vec![
                Arg::Int(c.created_at.as_micros()),
                Arg::Int(c.created_at.as_micros()),
                Arg::Int(c.id.get()),
            ],
        );
    }
    Some((sql, args))
}

/// What a page reads besides the invoices' own fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Nothing more.
    Plain,
    /// The transaction hashes paying each invoice ([`PaymentRow::txids`]).
    Txids,
}

/// One page of the view, newest first, and the cursor of the next page when there is one.
pub async fn page(
    conn: &mut impl AsConn,
    q: &PaymentQuery,
    after: Option<Cursor>,
    limit: i64,
    detail: Detail,
) -> Result<(Vec<PaymentRow>, Option<Cursor>), StoreError> {
    let Some((cond, args)) = conditions(q, after) else {
        return Ok((Vec::new(), None));
    };
    let limit = limit.clamp(1, 10_000);
    // One row more than the page: whether another page follows.
    let read = limit + 1;
    let wire: Vec<Wire> = match conn.as_conn() {
        // On SQLite every result row crosses from the engine's thread to ours and copies
        // each of its values — the most expensive part of a large export. The page comes as
        // one JSON array of rows instead, in the page's order (see `payment_row`).
        Conn::Sqlite(c) => {
            // The planner prefers an index in the page's order and would walk every waiting
            // invoice looking for the few in flight: it is told to read the partial index
            // of migration 0012 instead (PostgreSQL chooses it by itself).
            let hint = if q.status == Some(StatusFilter::Processing) {
                " indexed by invoice_processing"
            } else {
                ""
            };
            let txids = match detail {
                Detail::Plain => "null",
                Detail::Txids => {
                    "json((select json_group_array(txid order by chain_transfer_id) \
                     from chain_transfer t where t.invoice_id = page.invoice_id))"
                }
            };
            let text = sqlx::AssertSqlSafe(format!(
                "select json_group_array(json_array({PAYMENT_FIELDS}, {txids}) \
                 order by created_at desc, invoice_id desc) \
                 from (select {PAYMENT_SOURCE} from invoice{hint} where {cond} \
                 order by created_at desc, invoice_id desc limit {read}) page"
            ));
            let query = bind_all!(sqlx::query_scalar(text), args);
            let json: Option<String> = query.fetch_one(&mut *c).await?;
            match json {
                None => Vec::new(),
                Some(j) => serde_json::from_str(&j).map_err(|e| StoreError::Corrupt {
                    column: "invoice",
                    reason: format!("a page did not decode: {e}"),
                })?,
            }
        }
        // PostgreSQL sends rows cheaply; they are read into the same form.
        Conn::Postgres(c) => {
            let text = sqlx::AssertSqlSafe(pg_text(&cond, detail, Some(read)));
            let query = bind_all!(sqlx::query(text), args);
            let mut wire = Vec::with_capacity(usize::try_from(read).unwrap_or(0));
            let mut stream = query.fetch(&mut *c);
            while let Some(row) = stream.try_next().await? {
                wire.push(Wire::of_pg(&row)?);
            }
            wire
        }
    };
    let mut rows = wire
        .into_iter()
        .map(Wire::row)
        .collect::<Result<Vec<_>, _>>()?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        rows.last().map(Cursor::after)
    } else {
        None
    };
    Ok((rows, next))
}

/// The PostgreSQL query of a view's rows (`limit`: at most that many).
fn pg_text(cond: &str, detail: Detail, limit: Option<i64>) -> String {
    let txids = match detail {
        Detail::Plain => "null::text[]",
        Detail::Txids => {
            "(select coalesce(array_agg(txid order by chain_transfer_id), '{}') \
             from chain_transfer t where t.invoice_id = invoice.invoice_id)"
        }
    };
    let limit = limit.map_or_else(String::new, |l| format!(" limit {l}"));
    format!(
        "select {PAYMENT_FIELDS}, {txids} from invoice where {cond} \
         order by created_at desc, invoice_id desc{limit}"
    )
}

/// Every row of the view, newest first, sent to `out` in batches of `batch` (an export).
/// PostgreSQL streams them from one query as the receiver takes them; SQLite reads keyset
/// pages. Stops early, without error, when the receiver is gone.
pub async fn send_all(
    conn: &mut impl AsConn,
    q: &PaymentQuery,
    detail: Detail,
    batch: usize,
    out: &tokio::sync::mpsc::Sender<Vec<PaymentRow>>,
) -> Result<(), StoreError> {
    let batch = batch.clamp(1, 10_000);
    if let Conn::Postgres(c) = conn.as_conn() {
        let Some((cond, args)) = conditions(q, None) else {
            return Ok(());
        };
        let text = sqlx::AssertSqlSafe(pg_text(&cond, detail, None));
        let query = bind_all!(sqlx::query(text), args);
        let mut stream = query.fetch(&mut *c);
        let mut rows = Vec::with_capacity(batch);
        let mut sent = false;
        while let Some(row) = stream.try_next().await? {
            rows.push(Wire::of_pg(&row)?.row()?);
            if rows.len() == batch {
                sent = true;
                let full = std::mem::replace(&mut rows, Vec::with_capacity(batch));
                if out.send(full).await.is_err() {
                    return Ok(());
                }
            }
        }
        // The last rows; an empty view still sends one (empty) batch, as SQLite's first page.
        if !rows.is_empty() || !sent {
            let _ = out.send(rows).await;
        }
        return Ok(());
    }
    let mut after = None;
    loop {
        let (rows, next) =
            page(conn, q, after, i64::try_from(batch).unwrap_or(1000), detail).await?;
        if out.send(rows).await.is_err() {
            return Ok(());
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(()),
        }
    }
}

/// How many invoices the view holds (for the summary line; the pages never count).
pub async fn count(conn: &mut impl AsConn, q: &PaymentQuery) -> Result<i64, StoreError> {
    let Some((cond, args)) = conditions(q, None) else {
        return Ok(0);
    };
    let text = sqlx::AssertSqlSafe(format!("select count(*) from invoice where {cond}"));
    Ok(sql!(conn, |c| {
        let query = bind_all!(sqlx::query_scalar(text), args);
        query.fetch_one(&mut *c).await
    })?)
}

/// The invoices of `merchant` a search text names exactly: by invoice id (with or without
/// `INV-`), order id, payer e-mail, deposit address or transaction hash. At most 1000.
pub async fn search(
    conn: &mut impl AsConn,
    merchant: MerchantId,
    text: &str,
) -> Result<Vec<InvoiceId>, StoreError> {
    let t = text.trim();
    if t.is_empty() || t.len() > 200 {
        return Ok(Vec::new());
    }
    let uuid = t
        .strip_prefix("INV-")
        .or_else(|| t.strip_prefix("inv-"))
        .unwrap_or(t)
        .to_ascii_uppercase();
    let lower = t.to_ascii_lowercase();
    let ids: Vec<i64> = sql!(conn, |c| {
        sqlx::query_scalar(
            "select invoice_id from invoice where merchant_id = $1 and uuid = $2 \
             union select invoice_id from invoice where merchant_id = $1 and order_id = $3 \
             union select invoice_id from invoice where merchant_id = $1 and email = $4 \
             union select i.invoice_id from deposit_address d join invoice i on i.invoice_id = d.invoice_id \
                   where d.address = $3 and i.merchant_id = $1 \
             union select i.invoice_id from chain_transfer t join invoice i on i.invoice_id = t.invoice_id \
                   where t.txid = $4 and i.merchant_id = $1 \
             limit 1000",
        )
        .bind(merchant.get())
        .bind(&uuid)
        .bind(t)
        .bind(&lower)
        .fetch_all(c)
        .await
    })?;
    Ok(ids.into_iter().map(InvoiceId::new).collect())
}

/// Invoices of a view grouped by the UTC day they were created, status, currency and
/// project: how many, and their USD value in cents (summed exactly as integers). The one
/// query behind the API's statistics, the Statistics page and the home page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatRow {
    /// Days since the epoch (UTC) of creation.
    pub day: i64,
    /// Status.
    pub status: Status,
    /// The chosen currency (empty before the payer chose).
    pub currency: String,
    /// The project.
    pub project: ProjectId,
    /// How many.
    pub count: i64,
    /// Their USD value in cents.
    pub cents: i64,
}

/// Microseconds in a day (the daily totals' unit).
pub use crate::invoice_days::DAY_MICROS;

/// The grouped rows of `q`: from the daily totals when the view is whole days of projects
/// and a mode (what statistics ask), else from the invoices themselves.
pub async fn stats(conn: &mut impl AsConn, q: &PaymentQuery) -> Result<Vec<StatRow>, StoreError> {
    let whole_day =
        |t: Option<Timestamp>| t.is_none_or(|t| t.as_micros().rem_euclid(DAY_MICROS) == 0);
    if q.status.is_some()
        || q.currencies.is_some()
        || q.ids.is_some()
        || !whole_day(q.from)
        || !whole_day(q.until)
    {
        return stats_raw(conn, q).await;
    }
    let mut cond = String::from("merchant_id = ?");
    let mut args = vec![Arg::Int(q.merchant.get())];
    if let Some(ps) = &q.projects {
        if ps.is_empty() {
            return Ok(Vec::new());
        }
        cond.push_str(&format!(
            " and project_id in ({})",
            vec!["?"; ps.len()].join(", ")
        ));
        args.extend(ps.iter().map(|p| Arg::Int(p.get())));
    }
    if let Some(from) = q.from {
        cond.push_str(" and day >= ?");
        args.push(Arg::Int(from.as_micros().div_euclid(DAY_MICROS)));
    }
    if let Some(until) = q.until {
        cond.push_str(" and day < ?");
        args.push(Arg::Int(until.as_micros().div_euclid(DAY_MICROS)));
    }
    match q.mode {
        Mode::All => {}
        Mode::Live => {
            cond.push_str(" and test = ?");
            args.push(Arg::Bool(false));
        }
        Mode::Test => {
            cond.push_str(" and test = ?");
            args.push(Arg::Bool(true));
        }
    }
    let mut numbered = String::new();
    for (i, part) in cond.split('?').enumerate() {
        if i > 0 {
            numbered.push_str(&format!("${i}"));
        }
        numbered.push_str(part);
    }
    let text = sqlx::AssertSqlSafe(format!(
        "select day, status, currency, project_id, cast(sum(count) as bigint) as n, \
         cast(sum(cents) as bigint) as cents from invoice_day where {numbered} \
         group by day, status, currency, project_id"
    ));
    let rows: Vec<(i64, String, String, i64, i64, i64)> = sql!(conn, |c| {
        let query = bind_all!(sqlx::query_as(text), args);
        query.fetch_all(&mut *c).await
    })?;
    stat_rows(rows)
}

fn stat_rows(rows: Vec<(i64, String, String, i64, i64, i64)>) -> Result<Vec<StatRow>, StoreError> {
    rows.into_iter()
        .filter(|r| r.4 != 0)
        .map(|(day, status, currency, project, count, cents)| {
            Ok(StatRow {
                day,
                status: Status::parse(&status).ok_or_else(|| StoreError::Corrupt {
                    column: "invoice.status",
                    reason: status.clone(),
                })?,
                currency,
                project: ProjectId::new(project),
                count,
                cents,
            })
        })
        .collect()
}

/// [`stats`] summed from the invoices themselves (any view; the daily totals must equal it).
pub async fn stats_raw(
    conn: &mut impl AsConn,
    q: &PaymentQuery,
) -> Result<Vec<StatRow>, StoreError> {
    let Some((cond, args)) = conditions(q, None) else {
        return Ok(Vec::new());
    };
    let text = sqlx::AssertSqlSafe(format!(
        "select created_at / {DAY_MICROS} as day, status, coalesce(currency, '') as currency, project_id, \
         count(*) as n, cast(sum(amount_usd_cents) as bigint) as cents \
         from invoice where {cond} group by created_at / {DAY_MICROS}, status, currency, project_id"
    ));
    let rows: Vec<(i64, String, String, i64, i64, i64)> = sql!(conn, |c| {
        let query = bind_all!(sqlx::query_as(text), args);
        query.fetch_all(&mut *c).await
    })?;
    stat_rows(rows)
}

/// How many invoices of the view are waiting for payment and expire in `[now, until)`.
pub async fn expiring(
    conn: &mut impl AsConn,
    q: &PaymentQuery,
    now: Timestamp,
    until: Timestamp,
) -> Result<i64, StoreError> {
    let Some((cond, args)) = conditions(q, None) else {
        return Ok(0);
    };
    let n = args.len();
    let text = sqlx::AssertSqlSafe(format!(
        "select count(*) from invoice where {cond} and status = 'created' \
         and expires_at >= ${} and expires_at < ${}",
        n + 1,
        n + 2
    ));
    Ok(sql!(conn, |c| {
        let query = bind_all!(sqlx::query_scalar(text), args);
        query
            .bind(now.as_micros())
            .bind(until.as_micros())
            .fetch_one(&mut *c)
            .await
    })?)
}
