//! The Balance section: what the merchant owns per currency (available, pending, leaving in
//! withdrawals, owed; in crypto and in USD at today's rate), their withdrawals, and the
//! statement — every receipt, reversal, withdrawal and return of the ledger — filtered and
//! exported through the same streaming export as the Payments section.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use kassa_core::currency::{self, Crypto};
use kassa_core::money::Amount;
use kassa_core::{Decimal, Timestamp};
use kassa_service::audit::Target;
use kassa_service::payment_view::parse_day;
use kassa_store::statement::{self, Entry, EntryKind, StatementQuery};
use serde_json::json;

use super::statistics::usd_of;
use super::{QueryData, query_string};
use crate::state::AppState;
use crate::web::context::{Me, Page, WebCtx, html};
use crate::web::errors::WebError;
use crate::web::export::{self, Cell, Format, Layout};
use crate::web::forms::FieldErrors;

/// Lines on a statement page.
const PAGE_SIZE: i64 = 50;
/// Lines read at a time while exporting.
const BATCH: i64 = 1000;

/// An amount in its currency, and its USD value at `rate`.
fn money(a: Amount, c: &Crypto, rate: Decimal) -> (String, String) {
    (a.to_decimal_string(c.decimals), usd_of(a, c, rate))
}

/// One currency's row.
struct Line {
    code: &'static str,
    network: &'static str,
    available: (String, String),
    pending: (String, String),
    outgoing: (String, String),
    owed: Option<(String, String)>,
    total: (String, String),
}

/// A withdrawal as listed.
struct WithdrawalView {
    id: String,
    when: String,
    amount: String,
    fee: String,
    destination: String,
    state: String,
    state_code: &'static str,
    detail: Option<String>,
    source: Option<String>,
    txid: Option<String>,
    explorer: Option<String>,
}

#[derive(Template)]
#[template(path = "balance/show.html")]
struct BalancePage<'a> {
    page: &'a Page,
    lines: Vec<Line>,
    withdrawals: Vec<WithdrawalView>,
    owes: bool,
}

/// `GET /balance`
pub async fn show(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "balance.title");
    let tr = page.tr;
    let balances = kassa_service::read::balances(&st, me.user.merchant_id).await?;
    let lines: Vec<Line> = balances
        .iter()
        .map(|b| {
            let m = |a| money(a, b.crypto, b.rate_usd);
            Line {
                code: b.crypto.code,
                network: b.crypto.network.code,
                available: m(b.available),
                pending: m(b.pending),
                outgoing: m(b.outgoing),
                owed: (!b.owed.is_zero()).then(|| m(b.owed)),
                total: m(b.total),
            }
        })
        .collect();
    let owes = lines.iter().any(|l| l.owed.is_some());
    let rows = kassa_store::withdrawal_requests::of_merchant(
        &mut st.db.conn().await?,
        me.user.merchant_id,
        None,
        20,
    )
    .await?;
    let withdrawals = rows.iter().map(|r| withdrawal_view(&st, tr, r)).collect();
    Ok(html(
        BalancePage {
            page: &page,
            lines,
            withdrawals,
            owes,
        }
        .render()?,
    ))
}

/// A withdrawal request as the merchant reads it: status, what it waits for or why it failed,
/// who asked, and its transaction with an explorer link.
fn withdrawal_view(
    st: &AppState,
    tr: kassa_service::i18n::Tr,
    r: &kassa_store::withdrawal_requests::RequestRow,
) -> WithdrawalView {
    use kassa_service::withdrawals::requests::Shown;
    use kassa_store::withdrawal_requests::{Source, Stage};
    let c = currency::crypto(&r.currency);
    let text = |a: Amount| {
        c.map_or_else(
            || a.base().to_string(),
            |c| format!("{} {}", a.to_decimal_string(c.decimals), c.code),
        )
    };
    let shown = Shown::of(r);
    let stage = match r.stage {
        Stage::Queued if r.delayed_since.is_some() => {
            Some(tr.t("withdraw.stage.delayed").to_owned())
        }
        Stage::Approval | Stage::Queued | Stage::Signature | Stage::Refused => Some(
            tr.t(&format!("withdraw.stage.{}", r.stage.as_str()))
                .to_owned(),
        ),
        Stage::Submitted | Stage::Failed => None,
    };
    let error = r.tx.as_ref().and_then(|t| t.error.clone());
    let detail = [stage, r.note.clone(), error]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    let explorer = r.tx.as_ref().and_then(|t| {
        let n = currency::network(&r.network)?;
        st.chains.get(n)?.explorer_url(&t.txid)
    });
    WithdrawalView {
        id: r.public_id.clone(),
        when: tr.datetime(r.created_at),
        amount: text(r.tx.as_ref().map_or(r.amount, |t| t.amount)),
        fee: r
            .tx
            .as_ref()
            .map(|t| t.fee)
            .or(r.fee)
            .map_or_else(String::new, text),
        destination: r.destination.clone(),
        state: tr
            .t(&format!("balance.state.{}", shown.as_str()))
            .to_owned(),
        state_code: shown.as_str(),
        detail: (!detail.is_empty()).then(|| detail.join(" · ")),
        source: match r.source {
            Source::Dashboard => None,
            Source::Api => Some(tr.t("withdraw.source_api").to_owned()),
            Source::Rule => Some(tr.t("withdraw.source_rule").to_owned()),
            Source::Operator => Some(tr.t("withdraw.source_operator").to_owned()),
        },
        txid: r.tx.as_ref().map(|t| t.txid.clone()),
        explorer,
    }
}

/// The statement's filters, as typed (kept to show them again), and the page's start.
#[derive(serde::Deserialize, Default)]
pub struct LedgerQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    format: String,
}

impl LedgerQuery {
    /// The query-string pairs that are set (links and exports).
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("currency", self.currency.as_str()),
            ("kind", self.kind.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
    }

    /// The statement these filters describe, or the fields that do not parse (i18n keys).
    fn query(
        &self,
        merchant: kassa_core::MerchantId,
    ) -> Result<StatementQuery, Vec<(&'static str, &'static str)>> {
        let mut errors = Vec::new();
        let mut day = |s: &str, field: &'static str| match s.trim() {
            "" => None,
            s => parse_day(s).or_else(|| {
                errors.push((field, "payments.error.date"));
                None
            }),
        };
        let from = day(&self.from, "from");
        let until =
            day(&self.to, "to").map(|t| t.saturating_add(std::time::Duration::from_secs(86_400)));
        let currency = match self.currency.trim() {
            "" => None,
            code => match currency::crypto(code) {
                Some(c) => Some(c.code.to_owned()),
                None => {
                    errors.push(("currency", "payments.error.currency"));
                    None
                }
            },
        };
        let kind = match self.kind.trim() {
            "" => None,
            k => match EntryKind::parse(k) {
                Some(k) => Some(k),
                None => {
                    errors.push(("kind", "balance.error.kind"));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(StatementQuery {
                merchant,
                currency,
                kind,
                from,
                until,
            })
        } else {
            Err(errors)
        }
    }
}

/// A statement line as text for people and exports: the reference (invoice or withdrawal).
fn reference(e: &Entry) -> String {
    match (&e.invoice, e.withdrawal()) {
        (Some((_, uuid, _, _)), _) => format!("INV-{uuid}"),
        (None, Some(id)) => format!("W-{id}"),
        (None, None) => e.journal.clone(),
    }
}

/// The kind's key, with the static-wallet top-up told apart from an invoice receipt.
fn kind_key(e: &Entry) -> &'static str {
    match (e.kind, &e.invoice) {
        (EntryKind::Receipt, Some((_, _, _, true))) => "topup",
        (k, _) => k.as_str(),
    }
}

/// The signed amount as exact text (`-0.5`), with its currency's decimals.
fn signed(e: &Entry) -> (String, u32) {
    let decimals = currency::crypto(&e.currency).map_or(0, |c| c.decimals);
    let text = e.amount.to_decimal_string(decimals);
    let sign = if e.kind.incoming() { "" } else { "-" };
    (format!("{sign}{text}"), decimals)
}

/// The fees kept with a receipt (or given back with a reversal), as exact text; `None` when
/// the line has none.
fn fees_text(e: &Entry) -> Option<String> {
    let decimals = currency::crypto(&e.currency).map_or(0, |c| c.decimals);
    (!e.fees.is_zero()).then(|| e.fees.to_decimal_string(decimals))
}

/// One line as shown.
struct EntryView {
    when: String,
    kind: String,
    reference: String,
    href: Option<String>,
    amount: String,
    fees: Option<String>,
    incoming: bool,
    currency: String,
    owed: bool,
}

#[derive(Template)]
#[template(path = "balance/ledger.html")]
struct LedgerPage<'a> {
    page: &'a Page,
    q: &'a LedgerQuery,
    errors: &'a FieldErrors,
    lines: Vec<EntryView>,
    older: Option<String>,
    first: Option<String>,
    export: Option<String>,
    kinds: Vec<(&'static str, String)>,
    cryptos: Vec<&'static str>,
}

/// `GET /balance/ledger`
pub async fn ledger(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    QueryData(lq): QueryData<LedgerQuery>,
) -> Result<Response, WebError> {
    let page = Page::new(&ctx, "balance.ledger_title");
    let tr = page.tr;
    let mut errors = FieldErrors::new();
    let before = lq.before.trim().parse::<i64>().ok().filter(|b| *b > 0);
    let (entries, next) = match lq.query(me.user.merchant_id) {
        Ok(q) => statement::page(&mut st.db.conn().await?, &q, before, PAGE_SIZE).await?,
        Err(bad) => {
            for (field, key) in bad {
                errors.add(tr, field, key);
            }
            (Vec::new(), None)
        }
    };
    let lines = entries
        .iter()
        .map(|e| {
            let (amount, _) = signed(e);
            EntryView {
                when: tr.datetime(e.at),
                kind: tr.t(&format!("balance.kind.{}", kind_key(e))).to_owned(),
                reference: reference(e),
                href: e
                    .invoice
                    .as_ref()
                    .map(|(_, uuid, project, _)| format!("/projects/{project}/invoices/{uuid}")),
                amount,
                fees: fees_text(e),
                incoming: e.kind.incoming(),
                currency: e.currency.clone(),
                owed: e.owed,
            }
        })
        .collect();
    let pairs = lq.pairs();
    let older = next.map(|n| {
        format!(
            "/balance/ledger{}",
            query_string(&pairs, &[("before", &n.to_string())])
        )
    });
    let first = before.map(|_| format!("/balance/ledger{}", query_string(&pairs, &[])));
    let export = (errors.is_empty() && me.grants.allows(kassa_core::account::Section::Export))
        .then(|| {
            format!(
                "/balance/ledger/export{}",
                query_string(&pairs, &[("format", "")])
            )
        });
    let kinds = EntryKind::ALL
        .iter()
        .map(|k| {
            (
                k.as_str(),
                tr.t(&format!("balance.kind.{}", k.as_str())).to_owned(),
            )
        })
        .collect();
    Ok(html(
        LedgerPage {
            page: &page,
            q: &lq,
            errors: &errors,
            lines,
            older,
            first,
            export,
            kinds,
            cryptos: currency::cryptos_in_order()
                .iter()
                .map(|c| c.code)
                .collect(),
        }
        .render()?,
    ))
}

/// The columns of a statement export.
const LEDGER_COLUMNS: [&str; 8] = [
    "time",
    "kind",
    "reference",
    "currency",
    "amount",
    "fees",
    "owed",
    "journal",
];

/// A statement line as export cells.
fn cells(e: &Entry) -> Vec<Cell> {
    let (amount, decimals) = signed(e);
    vec![
        Cell::Time(e.at),
        Cell::Text(kind_key(e).to_owned()),
        Cell::text(reference(e)),
        Cell::Text(e.currency.clone()),
        Cell::number(amount, decimals, ""),
        match fees_text(e) {
            Some(f) => Cell::number(f, decimals, ""),
            None => Cell::Blank,
        },
        Cell::Text(if e.owed { "owed" } else { "available" }.to_owned()),
        Cell::Text(e.journal.clone()),
    ]
}

/// `GET /balance/ledger/export?format=csv|xlsx&<filters>`: exactly the filtered statement, as
/// CSV or XLSX, streamed. Written to the activity log.
pub async fn export(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    QueryData(lq): QueryData<LedgerQuery>,
) -> Result<Response, WebError> {
    let Some(format) = Format::parse(&lq.format) else {
        return Err(WebError::BadRequest);
    };
    let Ok(q) = lq.query(me.user.merchant_id) else {
        return Err(WebError::BadRequest);
    };
    let now: Timestamp = st.clock.now();
    ctx.actor(&me)
        .record(
            &mut st.db.conn().await?,
            me.user.merchant_id,
            "balance.exported",
            Target::Export("ledger"),
            json!({
                "format": format.key(),
                "filters": lq.pairs().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            }),
            now,
        )
        .await?;
    let reader_state = st.clone();
    let rx = export::spawn_reader(
        move |before: Option<i64>| {
            let (st, q) = (reader_state.clone(), q.clone());
            async move {
                let mut conn = st.db.conn().await?;
                statement::page(&mut conn, &q, before, BATCH).await
            }
        },
        cells,
    );
    let layout = Layout {
        header: LEDGER_COLUMNS.to_vec(),
        sheet: "Ledger",
        widths: vec![21.0, 12.0, 14.0, 12.0, 18.0, 14.0, 10.0, 24.0],
    };
    let name = format!("kassa-ledger-{}", now.iso().replace([':', '-'], ""));
    Ok(format.response(&st, &name, layout, rx))
}
