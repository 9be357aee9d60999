//! The export of exactly the filtered Payments view, with the person's columns, as CSV or
//! XLSX (the streaming itself is [`crate::web::export`]). Written to the activity log first.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use futures_util::Stream;
use kassa_core::invoice::Price;
use kassa_service::audit::Target;
use kassa_service::payment_view::{self as view, Column, Extras};
use kassa_store::payment_list::{self, PaymentQuery, PaymentRow};
use kassa_store::projects::ProjectRow;
use serde_json::json;

use super::{ListQuery, Query, looker};
use crate::state::AppState;
use crate::web::context::{Me, WebCtx};
use crate::web::errors::WebError;
use crate::web::export::{self, Batches, Cell, Format, Layout};
use crate::web::pages::QueryData;

/// Rows handed to the writer at a time while exporting.
const BATCH: usize = 1000;

/// The typed cell of `col` for `row`: the value [`view::cell`] writes as text, with times
/// and amounts typed for the workbook.
fn cell(col: Column, row: &PaymentRow, x: &Extras) -> Cell {
    match col {
        Column::Created => Cell::Time(row.created_at),
        Column::PaidAt => match row.finished_at {
            Some(t) if !view::cell(col, row, x).is_empty() => Cell::Time(t),
            _ => Cell::Blank,
        },
        Column::Amount | Column::Received | Column::Fees => match row.crypto {
            Some(c) => Cell::number(view::cell(col, row, x), c.decimals, ""),
            None => Cell::Blank,
        },
        Column::ReceivedUsd => Cell::number(view::cell(col, row, x), 2, ""),
        Column::Price => match row.price {
            Price::Fiat(f, a) => Cell::number(a.to_string(), f.decimals, f.code),
            Price::Crypto(c, a) => {
                Cell::number(a.to_decimal_string(c.decimals), c.decimals, c.code)
            }
        },
        _ => Cell::text(view::cell(col, row, x)),
    }
}

/// How a payments export looks with `columns`.
fn layout(columns: &[Column]) -> Layout {
    Layout {
        header: columns.iter().map(|c| c.key()).collect(),
        sheet: "Payments",
        widths: columns
            .iter()
            .map(|c| match c {
                Column::Created | Column::PaidAt => 21.0,
                Column::Address => 44.0,
                Column::Txids => 66.0,
                Column::Email | Column::Rate | Column::Project => 26.0,
                _ => 15.0,
            })
            .collect(),
    }
}

/// Reads the view `query` batch by batch as cells of `columns` (see
/// [`export::spawn_producer`]; on PostgreSQL one streaming query, on SQLite keyset pages).
fn reader(
    st: AppState,
    query: PaymentQuery,
    projects: &[ProjectRow],
    columns: Vec<Column>,
) -> Batches {
    let detail = view::detail(&columns);
    let extras = Extras::of(projects);
    export::spawn_producer(
        move |r: &PaymentRow| columns.iter().map(|c| cell(*c, r, &extras)).collect(),
        move |out| async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<PaymentRow>>(1);
            let read = async move {
                // A turn among the exports holding a connection (a closed semaphore never
                // happens: it lives as long as the state).
                let _turn = st.export_readers.clone().acquire_owned().await.ok();
                let mut conn = st.db.conn().await?;
                payment_list::send_all(&mut conn, &query, detail, BATCH, &tx).await?;
                drop(tx);
                Ok::<_, kassa_store::StoreError>(())
            };
            let forward = async move {
                while let Some(rows) = rx.recv().await {
                    if !out.send(rows).await {
                        break;
                    }
                }
                // The writer is gone (or everything was sent): the reader stops too.
                drop(rx);
            };
            let (read, ()) = tokio::join!(read, forward);
            read
        },
    )
}

/// The CSV of a view with `columns` (the benchmark times it as the page streams it).
pub fn csv_stream(
    st: AppState,
    query: PaymentQuery,
    projects: Vec<ProjectRow>,
    columns: Vec<Column>,
) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let layout = layout(&columns);
    export::csv_stream(layout, reader(st, query, &projects, columns))
}

/// The XLSX workbook of a view with `columns`.
pub fn xlsx_stream(
    st: AppState,
    query: PaymentQuery,
    projects: Vec<ProjectRow>,
    columns: Vec<Column>,
) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let layout = layout(&columns);
    let rx = reader(st.clone(), query, &projects, columns);
    export::xlsx_stream(&st, layout, rx)
}

/// `GET /payments/export?format=csv|xlsx&<filters>`: exactly the filtered view, with the
/// person's columns; USD at the rate locked for each invoice, and that rate with its source
/// when the column is chosen. Written to the activity log.
pub async fn export(
    State(st): State<AppState>,
    ctx: WebCtx,
    Me(me): Me,
    QueryData(lq): QueryData<ListQuery>,
) -> Result<Response, WebError> {
    let Some(format) = Format::parse(&lq.format) else {
        return Err(WebError::BadRequest);
    };
    let q = Query {
        f: lq.filters(),
        after: lq.after,
    };
    let mut conn = st.db.conn().await?;
    let columns = view::columns_of(&mut conn, me.user.id).await?;
    let Ok((query, projects)) = view::query(&mut conn, looker(&me), &q.f).await? else {
        return Err(WebError::BadRequest);
    };
    let now = st.clock.now();
    ctx.actor(&me)
        .record(
            &mut conn,
            me.user.merchant_id,
            "payments.exported",
            Target::Export("payments"),
            json!({
                "format": format.key(),
                "filters": q.f.pairs().into_iter().collect::<BTreeMap<_, _>>(),
                "columns": Column::text(&columns),
            }),
            now,
        )
        .await?;
    drop(conn);
    let name = format!("kassa-payments-{}", now.iso().replace([':', '-'], ""));
    let layout = layout(&columns);
    let rx = reader(st.clone(), query, &projects, columns);
    Ok(format.response(&st, &name, layout, rx))
}
