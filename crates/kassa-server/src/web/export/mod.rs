//! Streaming exports of a dashboard view as CSV or XLSX, in constant memory: a reader task
//! reads the view in keyset batches, at most two ahead of the writer, already turned into
//! typed [`Cell`]s; the writer turns each batch into bytes for the response. Both formats
//! come from the same cells, so a CSV and a workbook of one view hold the same values: the
//! CSV as exact text, the workbook typed (times as date-times, amounts as numbers when an
//! Excel number holds them exactly).
//!
//! A view plugs in with a reader ([`spawn_reader`]) and a [`Layout`]; the Payments and
//! Balance pages are the two.

pub(crate) mod xlsx;

use std::future::Future;

use std::borrow::Cow;
use std::sync::Arc;

use futures_util::{Stream, stream};
use kassa_core::Timestamp;
use kassa_store::StoreError;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// Batches read ahead of the writer.
const AHEAD: usize = 2;

/// One cell of an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Nothing.
    Blank,
    /// Text, as it is.
    Text(String),
    /// A moment: ISO 8601 UTC in the CSV, a date-time in the workbook.
    Time(Timestamp),
    /// A decimal amount: its exact text, the decimals shown and a unit after it (the CSV
    /// writes `text unit`).
    Number {
        /// The exact decimal text.
        text: String,
        /// Decimal places shown in the workbook.
        decimals: u32,
        /// A currency code shown after the number, or empty.
        unit: &'static str,
    },
}

impl Cell {
    /// Text, or blank when empty.
    pub fn text(s: String) -> Cell {
        if s.is_empty() {
            Cell::Blank
        } else {
            Cell::Text(s)
        }
    }

    /// An amount's exact text with `decimals` shown, or blank when empty.
    pub fn number(text: String, decimals: u32, unit: &'static str) -> Cell {
        if text.is_empty() {
            Cell::Blank
        } else {
            Cell::Number {
                text,
                decimals,
                unit,
            }
        }
    }

    /// What the CSV writes.
    pub fn csv_text(&self) -> Cow<'_, str> {
        match self {
            Cell::Blank => Cow::Borrowed(""),
            Cell::Text(t) => Cow::Borrowed(t),
            Cell::Time(t) => Cow::Owned(t.iso()),
            Cell::Number { text, unit: "", .. } => Cow::Borrowed(text),
            Cell::Number { text, unit, .. } => Cow::Owned(format!("{text} {unit}")),
        }
    }
}

/// Rows of an export, in the view's order.
pub type Batch = Vec<Vec<Cell>>;

/// How an export looks: its header (column keys), the workbook's sheet name and each
/// column's width there.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Column keys, written as the header row of both formats.
    pub header: Vec<&'static str>,
    /// The worksheet's name (`Payments`; continued as `Payments 2`, …).
    pub sheet: &'static str,
    /// Column widths in the workbook, in characters.
    pub widths: Vec<f64>,
}

/// Why a batch could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading the view failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Turning rows into cells did not finish (a panic, or the runtime shutting down).
    #[error("preparing a batch: {0}")]
    Convert(String),
}

/// The batches of an export, in the view's order (see [`spawn_reader`]).
pub struct Batches(mpsc::Receiver<Result<JoinHandle<Batch>, StoreError>>);

impl Batches {
    /// The next batch; `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Batch, ReadError>> {
        Some(match self.0.recv().await? {
            Ok(h) => h.await.map_err(|e| ReadError::Convert(e.to_string())),
            Err(e) => Err(e.into()),
        })
    }

    /// [`Batches::next`] from a blocking thread.
    pub fn blocking_next(
        &mut self,
        rt: &tokio::runtime::Handle,
    ) -> Option<Result<Batch, ReadError>> {
        Some(match self.0.blocking_recv()? {
            Ok(h) => rt
                .block_on(h)
                .map_err(|e| ReadError::Convert(e.to_string())),
            Err(e) => Err(e.into()),
        })
    }
}

/// Turns one row of a view into the cells of its export.
type ToCells<R> = Arc<dyn Fn(&R) -> Vec<Cell> + Send + Sync>;

/// Where a reader puts the rows it read: each batch becomes cells on a blocking thread while
/// the reader goes on, and is queued for the writer (at most [`AHEAD`] waiting).
pub struct Out<R> {
    tx: mpsc::Sender<Result<JoinHandle<Batch>, StoreError>>,
    cells: ToCells<R>,
}

impl<R: Send + 'static> Out<R> {
    /// Queues `rows`; false when the writer is gone (the client went away): stop reading.
    pub async fn send(&self, rows: Vec<R>) -> bool {
        let cells = self.cells.clone();
        let batch = tokio::task::spawn_blocking(move || rows.iter().map(|r| cells(r)).collect());
        self.tx.send(Ok(batch)).await.is_ok()
    }
}

/// Runs `produce` on its own task, handing it an [`Out`] for its batches, in order; `cells`
/// turns each row into the export's cells. A failed read is the last item the writer gets.
pub fn spawn_producer<R, P, Fut, V>(cells: V, produce: P) -> Batches
where
    R: Send + 'static,
    P: FnOnce(Out<R>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), StoreError>> + Send,
    V: Fn(&R) -> Vec<Cell> + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::channel(AHEAD);
    let failed = tx.clone();
    tokio::spawn(async move {
        let out = Out {
            tx,
            cells: Arc::new(cells),
        };
        if let Err(e) = produce(out).await {
            let _ = failed.send(Err(e)).await;
        }
    });
    Batches(rx)
}

/// [`spawn_producer`] for a view read in keyset pages: `read` is called with the cursor after
/// the previous page (`None` first) and returns rows and the next page's cursor (`None` at
/// the end).
pub fn spawn_reader<C, R, F, Fut, V>(mut read: F, cells: V) -> Batches
where
    C: Send + 'static,
    R: Send + 'static,
    F: FnMut(Option<C>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(Vec<R>, Option<C>), StoreError>> + Send,
    V: Fn(&R) -> Vec<Cell> + Send + Sync + 'static,
{
    spawn_producer(cells, move |out: Out<R>| async move {
        let mut after: Option<C> = None;
        loop {
            let (rows, next) = read(after.take()).await?;
            if !out.send(rows).await {
                return Ok(());
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(()),
            }
        }
    })
}

/// The CSV header and one batch of rows.
fn csv_chunk(header: Option<&[&'static str]>, rows: &Batch) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 160 + 256));
    if let Some(h) = header {
        w.write_record(h)?;
    }
    for r in rows {
        for c in r {
            w.write_field(c.csv_text().as_bytes())?;
        }
        // An empty record ends the one the fields started.
        w.write_record(std::iter::empty::<&[u8]>())?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The CSV of the batches `rx` delivers: the header, then the rows. A failed read ends the
/// body with an error, so the client sees a cut download rather than a silently short file.
pub fn csv_stream(
    layout: Layout,
    rx: Batches,
) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    stream::unfold(
        (rx, layout, false),
        |(mut rx, layout, started)| async move {
            let batch = rx.next().await?;
            let chunk = match batch {
                Ok(rows) => {
                    let header = (!started).then_some(layout.header.as_slice());
                    csv_chunk(header, &rows).map_err(std::io::Error::other)
                }
                Err(e) => {
                    tracing::error!(error = %e, "export failed");
                    Err(std::io::Error::other("export failed"))
                }
            };
            Some((chunk, (rx, layout, true)))
        },
    )
}

/// The XLSX workbook of the batches `rx` delivers (see [`xlsx::write`]), written on a
/// blocking thread (at most two exports at once) and streamed as the zip is written.
pub fn xlsx_stream(
    st: &AppState,
    layout: Layout,
    rx: Batches,
) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + use<> {
    let (out, body) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let exports = st.exports.clone();
    tokio::spawn(async move {
        let failed = out.clone();
        let rt = tokio::runtime::Handle::current();
        let outcome = exports
            .run(move || xlsx::write(&layout, rx, &rt, &out))
            .await
            .map_err(|e| xlsx::Failure::Other(e.to_string()))
            .and_then(|r| r);
        match outcome {
            Ok(()) | Err(xlsx::Failure::Gone) => {}
            Err(e) => {
                tracing::error!(error = %e, "export failed");
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

/// The file formats of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated text.
    Csv,
    /// An Excel workbook.
    Xlsx,
}

impl Format {
    /// `csv` (also the default) or `xlsx`.
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim() {
            "" | "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }

    /// The key (and file extension).
    pub fn key(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// The download of `rx` in this format, named `<name>.<key>`.
    pub fn response(
        self,
        st: &AppState,
        name: &str,
        layout: Layout,
        rx: Batches,
    ) -> axum::response::Response {
        use axum::body::Body;
        use axum::http::header;
        use axum::response::IntoResponse as _;
        let body = match self {
            Format::Csv => Body::from_stream(csv_stream(layout, rx)),
            Format::Xlsx => Body::from_stream(xlsx_stream(st, layout, rx)),
        };
        (
            [
                (header::CONTENT_TYPE, self.content_type().to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.{}\"", self.key()),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            body,
        )
            .into_response()
    }
}
