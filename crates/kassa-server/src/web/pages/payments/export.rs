//! The export of exactly the filtered Payments view, with the person's columns, as CSV or
//! XLSX. Both are streamed in constant memory: a reader task reads the view in keyset
//! batches, at most two ahead of the writer, and the writer turns each batch into bytes for
//! the response. Every export is written to the activity log first.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, stream};
use kassa_service::audit::Target;
use kassa_service::payment_view::{self as view, Column, Extras};
use kassa_store::payment_list::{self, Cursor, PaymentQuery, PaymentRow};
use kassa_store::projects::ProjectRow;
use serde_json::json;
use tokio::sync::mpsc;

use super::{ListQuery, Query, looker, xlsx};
use crate::state::AppState;
use crate::web::context::{Me, WebCtx};
use crate::web::errors::WebError;
use crate::web::pages::QueryData;

/// Rows read at a time while exporting.
const BATCH: i64 = 1000;
/// Batches read ahead of the writer.
const AHEAD: usize = 2;

/// Rows of the view, in its order.
pub(super) type Batch = Vec<PaymentRow>;

/// Reads the view `query` batch by batch, newest first, on its own task (with what
/// `columns` show); the receiver gets the batches in order, then closes. A failed read is
/// sent as the last item. Dropping the receiver (the client went away) stops the reading.
fn batches(
    st: AppState,
    query: PaymentQuery,
    columns: &[Column],
) -> mpsc::Receiver<Result<Batch, kassa_store::StoreError>> {
    let (tx, rx) = mpsc::channel(AHEAD);
    let detail = view::detail(columns);
    tokio::spawn(async move {
        let mut after: Option<Cursor> = None;
        loop {
            let read = async {
                let mut conn = st.db.conn().await?;
                payment_list::page(&mut conn, &query, after, BATCH, detail).await
            }
            .await;
            let (batch, next) = match read {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            if tx.send(Ok(batch)).await.is_err() {
                return;
            }
            match next {
                Some(n) => after = Some(n),
                None => return,
            }
        }
    });
    rx
}

/// The CSV header and one batch of rows.
fn csv_chunk(
    header: Option<&[Column]>,
    columns: &[Column],
    rows: &[PaymentRow],
    extras: &Extras,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 160 + 256));
    if let Some(h) = header {
        w.write_record(h.iter().map(|c| c.key()))?;
    }
    for r in rows {
        w.write_record(columns.iter().map(|c| view::cell(*c, r, extras)))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The CSV of a view with `columns`: a header, then the rows in the view's order (times in
/// ISO 8601 UTC, amounts as exact decimal text). A failed read ends the body with an error,
/// so the client sees a cut download rather than a silently short file.
pub fn csv_stream(
    st: AppState,
    query: PaymentQuery,
    projects: Vec<ProjectRow>,
    columns: Vec<Column>,
) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let rx = batches(st, query, &columns);
    let extras = Extras::of(&projects);
    let state = (rx, columns, extras, false);
    stream::unfold(state, |(mut rx, columns, extras, started)| async move {
        let batch = rx.recv().await?;
        let chunk = match batch {
            Ok(rows) => {
                let header = (!started).then_some(columns.as_slice());
                csv_chunk(header, &columns, &rows, &extras).map_err(std::io::Error::other)
            }
            Err(e) => {
                tracing::error!(error = %e, "payments export failed");
                Err(std::io::Error::other("export failed"))
            }
        };
        Some((chunk, (rx, columns, extras, true)))
    })
}

/// The XLSX workbook of a view with `columns` (see [`xlsx::write`]), written on a blocking
/// thread (at most two exports at once) and streamed as the zip container is written.
pub fn xlsx_stream(
    st: AppState,
    query: PaymentQuery,
    projects: Vec<ProjectRow>,
    columns: Vec<Column>,
) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let (out, body) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let exports = st.exports.clone();
    tokio::spawn(async move {
        let rx = batches(st, query, &columns);
        let extras = Extras::of(&projects);
        let failed = out.clone();
        let outcome = exports
            .run(move || xlsx::write(&columns, &extras, rx, &out))
            .await
            .map_err(|e| xlsx::Failure::Other(e.to_string()))
            .and_then(|r| r);
        match outcome {
            Ok(()) | Err(xlsx::Failure::Gone) => {}
            Err(e) => {
                tracing::error!(error = %e, "payments export failed");
                let _ = failed
                    .send(Err(std::io::Error::other("export failed")))
                    .await;
            }
        }
    });
    stream::unfold(body, |mut body| async move {
        body.recv().await.map(|chunk| (chunk, body))
    })
}

/// The file formats of the export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

impl Format {
    fn parse(s: &str) -> Option<Format> {
        match s.trim() {
            "" | "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
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
    let name = format!(
        "kassa-payments-{}.{}",
        view::iso(now).replace([':', '-'], ""),
        format.key()
    );
    let body = match format {
        Format::Csv => Body::from_stream(csv_stream(st.clone(), query, projects, columns)),
        Format::Xlsx => Body::from_stream(xlsx_stream(st.clone(), query, projects, columns)),
    };
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}
