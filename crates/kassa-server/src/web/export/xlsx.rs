//! The XLSX form of an export. One worksheet named by the [`Layout`] (continued on "… 2", …
//! past Excel's 1,048,576 rows), its header row bold and frozen, the header naming the
//! columns as the CSV does. Times are Excel date-times shown as ISO 8601 UTC; amounts are
//! numbers shown with their currency's decimals (and a unit, when the cell has one) — or the
//! exact decimal text when the amount has more significant digits than an Excel number holds
//! (15), so nothing is ever shown rounded; everything else is text.
//!
//! Written with `rust_xlsxwriter` in its constant-memory mode (one row in memory, the rows in
//! an unnamed temporary file), on a blocking thread; the zip container is sent to the client
//! in 64 KiB chunks as it is written.

use std::collections::HashMap;
use std::io::Write;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use tokio::sync::mpsc;

use super::{Batches, Cell, Layout, ReadError};

/// Rows of a worksheet after its header (Excel's limit is 1,048,576 in all).
const SHEET_ROWS: u32 = 1_048_575;
/// Bytes sent to the client at a time.
const CHUNK: usize = 64 * 1024;
/// Significant digits an Excel number (an IEEE double) holds exactly.
const EXCEL_DIGITS: usize = 15;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    /// The client went away (nothing to report).
    #[error("the client went away")]
    Gone,
    /// Reading the view failed.
    #[error("reading the view: {0}")]
    Read(#[from] ReadError),
    /// Writing the workbook failed.
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] XlsxError),
    /// The blocking thread could not run the export to its end.
    #[error("{0}")]
    Other(String),
}

/// `text` (a plain decimal) as an Excel number when a double holds it exactly to the digits
/// shown: at most [`EXCEL_DIGITS`] significant digits.
fn exact_number(text: &str) -> Option<f64> {
    let digits = text.trim_start_matches('-').replace('.', "");
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.len() > EXCEL_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The formats used, made once each.
struct Formats {
    header: Format,
    time: Format,
    numbers: HashMap<(u32, &'static str), Format>,
}

impl Formats {
    fn new() -> Self {
        Formats {
            header: Format::new().set_bold(),
            time: Format::new().set_num_format(r#"yyyy-mm-dd"T"hh:mm:ss"Z""#),
            numbers: HashMap::new(),
        }
    }

    /// `0.00000000` with `decimals` places, then ` UNIT` when there is one.
    fn number(&mut self, decimals: u32, unit: &'static str) -> &Format {
        self.numbers.entry((decimals, unit)).or_insert_with(|| {
            let mut f = String::from("0");
            if decimals > 0 {
                f.push('.');
                f.extend(std::iter::repeat_n('0', decimals as usize));
            }
            if !unit.is_empty() {
                f.push_str(&format!(r#"" {unit}""#));
            }
            Format::new().set_num_format(f)
        })
    }
}

/// Where the zip container goes: 64 KiB chunks to the response body.
struct Sink<'a> {
    out: &'a mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
    gone: bool,
}

impl Sink<'_> {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.out.blocking_send(Ok(chunk)).map_err(|_| {
            self.gone = true;
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Starts worksheet number `n` (1-based): its name, column widths and header.
fn start_sheet<'w>(
    wb: &'w mut Workbook,
    n: u32,
    layout: &Layout,
    formats: &Formats,
) -> Result<&'w mut Worksheet, XlsxError> {
    let ws = wb.add_worksheet_with_constant_memory()?;
    ws.set_name(if n == 1 {
        layout.sheet.to_owned()
    } else {
        format!("{} {n}", layout.sheet)
    })?;
    for (i, key) in (0u16..).zip(&layout.header) {
        let width = layout.widths.get(usize::from(i)).copied().unwrap_or(15.0);
        ws.set_column_width(i, width)?;
        ws.write_string_with_format(0, i, *key, &formats.header)?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(ws)
}

/// Writes the workbook of the batches `rx` delivers and sends it to `out`. Runs on a
/// blocking thread.
pub(super) fn write(
    layout: &Layout,
    mut rx: Batches,
    rt: &tokio::runtime::Handle,
    out: &mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) -> Result<(), Failure> {
    let mut wb = Workbook::new();
    let mut formats = Formats::new();
    let mut sheet = 1;
    let mut ws = start_sheet(&mut wb, sheet, layout, &formats)?;
    let mut row: u32 = 0;
    while let Some(batch) = rx.blocking_next(rt) {
        for r in &batch? {
            if row == SHEET_ROWS {
                sheet += 1;
                ws = start_sheet(&mut wb, sheet, layout, &formats)?;
                row = 0;
            }
            row += 1;
            for (i, cell) in (0u16..).zip(r) {
                match cell {
                    Cell::Blank => {}
                    Cell::Text(t) => {
                        ws.write_string(row, i, t)?;
                    }
                    Cell::Time(t) => match ExcelDateTime::from_timestamp(t.as_secs()) {
                        Ok(d) => {
                            ws.write_datetime_with_format(row, i, d, &formats.time)?;
                        }
                        Err(_) => {
                            ws.write_string(row, i, t.iso())?;
                        }
                    },
                    Cell::Number {
                        text,
                        decimals,
                        unit,
                    } => match exact_number(text) {
                        Some(n) => {
                            ws.write_number_with_format(
                                row,
                                i,
                                n,
                                formats.number(*decimals, unit),
                            )?;
                        }
                        None if unit.is_empty() => {
                            ws.write_string(row, i, text)?;
                        }
                        None => {
                            ws.write_string(row, i, format!("{text} {unit}"))?;
                        }
                    },
                }
            }
        }
    }
    let mut sink = Sink {
        out,
        buf: Vec::with_capacity(CHUNK),
        gone: false,
    };
    let saved = wb.save_to_writer(&mut sink).and_then(|()| {
        sink.flush()?;
        Ok(())
    });
    match saved {
        Ok(()) => Ok(()),
        Err(_) if sink.gone => Err(Failure::Gone),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_numbers_only_when_excel_holds_them_exactly() {
        assert_eq!(exact_number("0.12345678"), Some(0.123_456_78));
        assert_eq!(exact_number("25.00"), Some(25.0));
        assert_eq!(exact_number("-3.5"), Some(-3.5));
        assert_eq!(exact_number("123456789012345"), Some(123_456_789_012_345.0));
        assert_eq!(
            exact_number("1234567890.12345000"),
            Some(1_234_567_890.123_45)
        );
        // 16 and 19 significant digits: kept as exact text.
        assert_eq!(exact_number("1234567890123456"), None);
        assert_eq!(exact_number("1.234567890123456789"), None);
        assert_eq!(exact_number("0.000000000000000001"), Some(1e-18));
        assert_eq!(exact_number("1e5"), None);
    }
}
