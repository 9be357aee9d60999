//! `kassa bench payments`: the Payments and Statistics reads at size. Seeds `--invoices`
//! invoices over two years across `--projects` projects (a realistic status mix; one in ten
//! with a deposit address and a transaction) on a throwaway database, then times what the
//! pages run — the first page, each filter alone, filters combined, the searches, a page deep
//! in the keyset, statistics over 30 and 365 days — and the CSV and XLSX exports of the
//! newest `--export-rows` rows (time and resident-memory growth). The reads are timed where the pages call them (the
//! store and view services), without HTML rendering.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use futures_util::StreamExt as _;
use kassa_core::{ProjectId, Timestamp};
use kassa_server::app::Application;
use kassa_server::config::Settings;
use kassa_server::state::AppState;
use kassa_service::payment_view::{self, Column, Extras, Filters, Looker};
use kassa_store::payment_list::{self, Cursor, DAY_MICROS, Detail, Mode, PaymentQuery};
use kassa_store::{Engine, sql};

use super::{Databases, InProcess, Scratch, cores, merchant_project, percentile, profile};

/// Options of `kassa bench payments`.
#[derive(Args, Debug)]
pub struct PaymentsArgs {
    #[command(flatten)]
    db: Databases,
    /// Invoices to seed.
    #[arg(long, default_value_t = 10_000_000)]
    invoices: u64,
    /// Projects they are spread over.
    #[arg(long, default_value_t = 20)]
    projects: u64,
    /// Rows of the CSV and XLSX exports to time.
    #[arg(long, default_value_t = 1_000_000)]
    export_rows: u64,
    /// Timings per measurement.
    #[arg(long, default_value_t = 20)]
    samples: usize,
}

pub(super) async fn run(base: Settings, args: PaymentsArgs) -> anyhow::Result<()> {
    println!(
        "kassa bench payments: {} invoices over two years in {} projects ({} build, {} cores)",
        args.invoices,
        args.projects,
        profile(),
        cores()
    );
    for &engine in args.db.engine.engines() {
        let db = Scratch::new(engine, &args.db.postgres_url).await?;
        let result = payments_on(&base, engine, db.dir.path(), &db.url, &args).await;
        db.finish().await;
        result?;
    }
    Ok(())
}

/// Two years, in microseconds.
const SPAN: i64 = 2 * 365 * DAY_MICROS;
/// Where the seeded history ends.
const END: i64 = 1_790_000_000_000_000;

const CODES: [&str; 8] = [
    "USDT_TRC20",
    "USDT_TRC20",
    "USDT_TRC20",
    "BTC",
    "LTC",
    "ETH",
    "USDT_ERC20",
    "TRX",
];

/// Status, currency chosen, received (as decimal text of base units) for the `i`-th invoice:
/// 55 % paid, 30 % cancelled, 5 % each partial, overpaid and waiting.
fn mix(i: u64) -> (&'static str, bool) {
    match (i.wrapping_mul(2_654_435_761) >> 7) % 20 {
        0..=10 => ("paid", true),
        11..=16 => ("canceled", false),
        17 => ("partial", true),
        18 => ("overpaid", true),
        _ => ("created", false),
    }
}

fn uuid(i: u64) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut n = i;
    let mut s = [b'A'; 8];
    for c in s.iter_mut().rev() {
        *c = A[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8_lossy(&s).into_owned()
}

/// Seeds the invoices with multi-row inserts, 50,000 a transaction.
async fn seed(
    state: &AppState,
    merchant: i64,
    projects: &[ProjectId],
    n: u64,
) -> anyhow::Result<()> {
    let step = SPAN / i64::try_from(n.max(1)).unwrap_or(1);
    let mut i = 0u64;
    while i < n {
        let end = (i + 50_000).min(n);
        let mut tx = state.db.begin().await?;
        let mut j = i;
        while j < end {
            let stop = (j + 1000).min(end);
            let pg = state.db.engine() == Engine::Postgres;
            let mut invoices = String::from(
                "insert into invoice (invoice_id, uuid, project_id, merchant_id, status, test, price_currency, price_amount, \
                 amount_usd, amount_usd_cents, service_fee_side, transfer_fee_side, tolerance_kind, tolerance_value, \
                 order_id, email, currency, address, quote_due, received, rate_usd, rate_source, expires_at, \
                 finished_at, created_at, updated_at) ",
            );
            // PostgreSQL's identity column takes given ids only when told.
            invoices.push_str(if pg {
                "overriding system value values "
            } else {
                "values "
            });
            let mut addresses = String::new();
            let mut transfers = String::new();
            for k in j..stop {
                let id = k + 1;
                let (status, chosen) = mix(k);
                let project = projects[(k % projects.len() as u64) as usize].get();
                let test = k % 10 == 9;
                let created = END - SPAN + i64::try_from(k).unwrap_or(0) * step;
                let cents = 500 + (k * 7919) % 200_000;
                let usd = format!("{}.{:02}", cents / 100, cents % 100);
                let code = CODES[(k % 8) as usize];
                let address = format!("bench{k:012}");
                let email = if k % 50 == 0 {
                    format!("payer{k}@example.com")
                } else {
                    String::new()
                };
                let received = if matches!(status, "paid" | "overpaid" | "partial") {
                    cents * 10_000
                } else {
                    0
                };
                let finished = if matches!(status, "paid" | "overpaid" | "canceled") {
                    (created + 600_000_000).to_string()
                } else {
                    "null".into()
                };
                if !invoices.ends_with("values ") {
                    invoices.push(',');
                }
                invoices.push_str(&format!(
                    "({id}, '{}', {project}, {merchant}, '{status}', {test}, 'USD', '{usd}', '{usd}', {cents}, 'merchant', \
                     'merchant', 'none', '0', 'order-{k}', '{email}', {}, {}, {}, '{received}', {}, {}, {}, {finished}, {created}, {created})",
                    uuid(k),
                    if chosen { format!("'{code}'") } else { "null".into() },
                    if chosen { format!("'{address}'") } else { "null".into() },
                    if chosen { format!("'{}'", cents * 10_000) } else { "null".into() },
                    if chosen { "'1'" } else { "null" },
                    if chosen { "'fixed'" } else { "null" },
                    created + 86_400_000_000,
                ));
                if chosen && k % 10 == 0 {
                    if !addresses.is_empty() {
                        addresses.push(',');
                        transfers.push(',');
                    }
                    addresses.push_str(&format!(
                        "('BENCH', '{address}', {k}, {test}, {id}, {created})"
                    ));
                    transfers.push_str(&format!(
                        "('BENCH', '{:064x}', 0, '{address}', '{received}', {test}, 'confirmed', 20, {id}, {created}, {created}, {created})",
                        k.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    ));
                }
            }
            let fix = |s: String| {
                if pg {
                    s
                } else {
                    s.replace(" true,", " 1,").replace(" false,", " 0,")
                }
            };
            let mut statements = vec![fix(invoices)];
            if !addresses.is_empty() {
                statements.push(fix(format!(
                    "insert into deposit_address (network, address, derivation_index, test, invoice_id, created_at) values {addresses}"
                )));
                statements.push(fix(format!(
                    "insert into chain_transfer (network, txid, output_index, address, amount, test, state, confirmations, \
                     invoice_id, seen_at, created_at, updated_at) values {transfers}"
                )));
            }
            for text in statements {
                let text = sqlx::AssertSqlSafe(text);
                sql!(&mut tx, |c| sqlx::raw_sql(text)
                    .execute(c)
                    .await
                    .map(|_| ()))?;
            }
            j = stop;
        }
        tx.commit().await?;
        i = end;
        if i.is_multiple_of(1_000_000) || i == n {
            println!("  seeded {i}");
        }
    }
    // The daily totals, as migration 0011 builds them from existing invoices (the rows above
    // went in beside the store, which keeps them for each invoice it writes).
    let mut c = state.db.conn().await?;
    sql!(&mut c, |c| {
        sqlx::raw_sql(
        "delete from invoice_day; \
         insert into invoice_day (merchant_id, project_id, day, status, currency, test, shard, count, cents) \
         select merchant_id, project_id, created_at / 86400000000, status, coalesce(currency, ''), test, 0, \
         count(*), sum(amount_usd_cents) from invoice \
         group by merchant_id, project_id, created_at / 86400000000, status, coalesce(currency, ''), test"
    )
    .execute(c)
    .await
    .map(|_| ())
    })?;
    drop(c);
    if state.db.engine() == Engine::Postgres {
        let mut c = state.db.conn().await?;
        sql!(&mut c, |c| {
            sqlx::raw_sql(
            "select setval(pg_get_serial_sequence('invoice', 'invoice_id'), (select max(invoice_id) from invoice)); analyze"
        )
        .execute(c)
        .await
        .map(|_| ())
        })?;
    } else {
        let mut c = state.db.conn().await?;
        sql!(&mut c, |c| sqlx::raw_sql("analyze")
            .execute(c)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

/// p50 and p95 in milliseconds of `samples` runs of `f`.
async fn time<F, Fut>(samples: usize, mut f: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut us = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        f().await?;
        us.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    us.sort_unstable();
    let ms = |p| percentile(&us, p).map_or(f64::NAN, |u| u as f64 / 1000.0);
    Ok((ms(0.50), ms(0.95)))
}

async fn payments_on(
    base: &Settings,
    engine: Engine,
    data_dir: &Path,
    database_url: &str,
    args: &PaymentsArgs,
) -> anyhow::Result<()> {
    let app = Application::build(InProcess::settings(base, data_dir, database_url))
        .await
        .context("starting the server")?;
    let state = app.state().clone();
    let shop = merchant_project(&state).await?;
    let mut c = state.db.conn().await?;
    let first = kassa_store::projects::by_shop_id(&mut c, &shop.shop_id)
        .await?
        .context("the benchmark project")?;
    let owner = kassa_store::accounts::user_by_email(&mut c, &shop.email)
        .await?
        .context("the benchmark owner")?;
    drop(c);
    let client = kassa_service::accounts::Client {
        ip: "cli".into(),
        user_agent: "kassa bench".into(),
    };
    let mut projects = vec![first.id];
    for p in 1..args.projects {
        let created = kassa_service::projects::create(
            &state,
            first.merchant_id,
            &kassa_service::audit::Actor::of(None, &client),
            &kassa_service::projects::default_settings(&format!("Project {p}")),
        )
        .await?;
        projects.push(created.id);
    }
    let seeded = Instant::now();
    seed(&state, first.merchant_id.get(), &projects, args.invoices).await?;
    println!(
        "{engine:?}: seeded {} invoices in {:.0} s",
        args.invoices,
        seeded.elapsed().as_secs_f64()
    );
    let who = Looker {
        merchant: first.merchant_id,
        user: owner.id,
        owner: true,
    };
    let day = |d: i64| Timestamp::from_micros(END - d * DAY_MICROS).iso()[..10].to_owned();
    let all = |f: Filters| Filters {
        mode: "all".into(),
        ..f
    };
    let cases: Vec<(&str, Filters)> = vec![
        ("first page", all(Filters::default())),
        (
            "status=partial",
            all(Filters {
                status: "partial".into(),
                ..Filters::default()
            }),
        ),
        (
            "status=processing",
            all(Filters {
                status: "processing".into(),
                ..Filters::default()
            }),
        ),
        (
            "currency=BTC",
            all(Filters {
                currency: "BTC".into(),
                ..Filters::default()
            }),
        ),
        (
            "network=TRC20",
            all(Filters {
                network: "TRC20".into(),
                ..Filters::default()
            }),
        ),
        (
            "project",
            all(Filters {
                project: projects[7].to_string(),
                ..Filters::default()
            }),
        ),
        (
            "mode=test",
            Filters {
                mode: "test".into(),
                ..Filters::default()
            },
        ),
        (
            "last 7 days",
            all(Filters {
                from: day(7),
                ..Filters::default()
            }),
        ),
        (
            "a year ago, one week",
            all(Filters {
                from: day(372),
                to: day(365),
                ..Filters::default()
            }),
        ),
        (
            "project+status+currency+dates",
            all(Filters {
                project: projects[3].to_string(),
                status: "paid".into(),
                currency: "BTC".into(),
                from: day(400),
                to: day(100),
                ..Filters::default()
            }),
        ),
        (
            "search order id",
            all(Filters {
                q: format!("order-{}", args.invoices / 3),
                ..Filters::default()
            }),
        ),
        (
            "search tx hash",
            all(Filters {
                q: format!(
                    "{:064x}",
                    (args.invoices / 2 / 10 * 10).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ),
                ..Filters::default()
            }),
        ),
        (
            "search address",
            all(Filters {
                q: format!("bench{:012}", args.invoices / 2 / 10 * 10),
                ..Filters::default()
            }),
        ),
    ];
    let columns = Column::ALL.to_vec();
    for (name, f) in &cases {
        let rows_seen = std::sync::atomic::AtomicUsize::new(0);
        let (p50, p95) = time(args.samples, || async {
            let mut c = state.db.conn().await?;
            let (q, projects) = payment_view::query(&mut c, who, f)
                .await?
                .map_err(|e| anyhow::anyhow!("filters refused: {e:?}"))?;
            let (rows, _) =
                payment_list::page(&mut c, &q, None, 50, payment_view::detail(&columns)).await?;
            let extras = Extras::of(&projects);
            for r in &rows {
                for col in &columns {
                    std::hint::black_box(payment_view::cell(*col, r, &extras));
                }
            }
            rows_seen.store(rows.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .await?;
        println!(
            "{engine:?}: {name:<32} p50 {p50:7.2} ms  p95 {p95:7.2} ms  ({} rows)",
            rows_seen.into_inner()
        );
    }
    // A page deep in the keyset: the middle of the history.
    let middle = Cursor {
        created_at: Timestamp::from_micros(END - SPAN / 2),
        id: kassa_core::InvoiceId::new(i64::try_from(args.invoices / 2).unwrap_or(1).max(1)),
    };
    let (p50, p95) = time(args.samples, || async {
        let mut c = state.db.conn().await?;
        let q = PaymentQuery {
            mode: Mode::All,
            ..PaymentQuery::of(first.merchant_id)
        };
        payment_list::page(&mut c, &q, Some(middle), 50, Detail::Plain).await?;
        Ok(())
    })
    .await?;
    println!(
        "{engine:?}: {:<32} p50 {p50:7.2} ms  p95 {p95:7.2} ms",
        "deep keyset page"
    );
    let today = END / DAY_MICROS;
    for days in [30i64, 365] {
        let (p50, p95) = time(args.samples.min(10), || async {
            let q = PaymentQuery {
                from: Some(Timestamp::from_micros((today - days + 1) * DAY_MICROS)),
                until: Some(Timestamp::from_micros((today + 1) * DAY_MICROS)),
                mode: Mode::All,
                ..PaymentQuery::of(first.merchant_id)
            };
            let rows = payment_list::stats(&mut state.db.conn().await?, &q).await?;
            std::hint::black_box(kassa_service::read::overview(
                &rows,
                today - days + 1,
                today,
            ));
            Ok(())
        })
        .await?;
        println!(
            "{engine:?}: {:<32} p50 {p50:7.2} ms  p95 {p95:7.2} ms",
            format!("statistics {days} days")
        );
    }
    // The exports of the newest `export_rows` rows, every column, as the page streams them.
    let mut c = state.db.conn().await?;
    let (q, projects) = payment_view::query(&mut c, who, &all(Filters::default()))
        .await?
        .map_err(|e| anyhow::anyhow!("filters refused: {e:?}"))?;
    drop(c);
    // The seeded invoices are evenly spaced: the newest `export_rows` start here (a person
    // would ask for them with a date filter).
    let step = SPAN / i64::try_from(args.invoices.max(1)).unwrap_or(1);
    let skipped = i64::try_from(args.invoices.saturating_sub(args.export_rows)).unwrap_or(0);
    let newest = PaymentQuery {
        from: Some(Timestamp::from_micros(END - SPAN + skipped * step)),
        ..q
    };
    for xlsx in [false, true] {
        let before = super::rss_kib();
        let mut peak = before;
        let started = Instant::now();
        let (st, q, ps, cols) = (
            state.clone(),
            newest.clone(),
            projects.clone(),
            columns.clone(),
        );
        let mut stream = if xlsx {
            Box::pin(kassa_server::web::pages::payments::xlsx_stream(
                st, q, ps, cols,
            )) as std::pin::Pin<Box<dyn futures_util::Stream<Item = _> + Send>>
        } else {
            Box::pin(kassa_server::web::pages::payments::csv_stream(
                st, q, ps, cols,
            ))
        };
        let (mut bytes, mut lines) = (0usize, 0u64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            bytes += chunk.len();
            if !xlsx {
                lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            }
            peak = peak.max(super::rss_kib());
        }
        let took = started.elapsed();
        println!(
            "{engine:?}: {} export of {} rows ({:.0} MB, {} columns) in {:.2} s; RSS growth {:.1} MB",
            if xlsx { "XLSX" } else { "CSV" },
            if xlsx {
                args.export_rows
            } else {
                lines.saturating_sub(1)
            },
            bytes as f64 / 1e6,
            columns.len(),
            took.as_secs_f64(),
            (peak.saturating_sub(before)) as f64 / 1024.0
        );
    }
    state.db.close().await;
    Ok(())
}
