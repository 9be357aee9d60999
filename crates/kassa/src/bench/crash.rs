//! `kassa bench crash`: invoices created under load while `kassa serve` is killed with
//! SIGKILL at random moments, again and again; after every restart the load goes on. At the
//! end every invoice the server acknowledged (HTTP 200 with its id) must be in the database
//! exactly once with everything written with it (its deposit address and its expiry job), no
//! order may have been stored twice, and every restart must have come up.
//!
//! The server is this binary's `kassa serve` as a child process on a throwaway database (the
//! project is made in-process first, as the other benchmarks make theirs). One kill in ten
//! lands while the server is still starting (opening the database, migrating); the rest land
//! under load, 20–300 ms after it answers.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use kassa_server::config::Settings;
use kassa_store::{Db, Engine};
use rand::Rng as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::{Databases, InProcess, Scratch, merchant_project};

/// How long a restart may take to start listening before it counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `kassa bench crash`.
#[derive(Args, Debug)]
pub struct CrashArgs {
    #[command(flatten)]
    db: Databases,
    /// SIGKILLs per engine.
    #[arg(long, default_value_t = 100)]
    kills: u32,
    /// Creations in flight at a time.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Exit with status 1 when anything acknowledged was lost or stored twice, or a restart
    /// failed (not only on errors).
    #[arg(long)]
    check: bool,
    /// Print a JSON summary on standard output instead of the table.
    #[arg(long)]
    json: bool,
}

/// What one engine's run found.
#[derive(Default)]
struct Report {
    engine: String,
    kills: u32,
    kills_while_starting: u32,
    restarts: u32,
    failed_restarts: u32,
    acknowledged: u64,
    /// Acknowledged but not in the database, or stored without its address or expiry job.
    lost: u64,
    /// Orders stored more than once.
    duplicates: u64,
    /// Invoices stored whose answer never arrived (the kill came first): allowed.
    stored_unacknowledged: u64,
    wall: Duration,
    samples: Vec<String>,
}

impl Report {
    fn passed(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.failed_restarts == 0
    }

    fn to_json(&self) -> Value {
        json!({
            "engine": self.engine,
            "kills": self.kills,
            "kills_while_starting": self.kills_while_starting,
            "restarts": self.restarts,
            "failed_restarts": self.failed_restarts,
            "acknowledged": self.acknowledged,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "stored_unacknowledged": self.stored_unacknowledged,
            "wall_s": self.wall.as_secs_f64(),
            "samples": self.samples,
            "passed": self.passed(),
        })
    }
}

pub(super) async fn run(base: Settings, args: CrashArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=10_000).contains(&args.kills),
        "--kills: give 1 to 10000"
    );
    anyhow::ensure!(
        (1..=1_000).contains(&args.concurrency),
        "--concurrency: give 1 to 1000"
    );
    kassa_server::telemetry::init(&kassa_server::config::LogSettings {
        format: kassa_server::config::LogFormat::Text,
        level: "warn".into(),
    });
    let exe = std::env::current_exe().context("finding this kassa binary")?;
    let mut reports = Vec::new();
    for &engine in args.db.engine.engines() {
        let scratch = Scratch::new(engine, &args.db.postgres_url).await?;
        let report = run_engine(&base, &args, &exe, engine, &scratch).await;
        scratch.finish().await;
        let report = report?;
        if !args.json {
            println!("{}", line(&report));
        }
        reports.push(report);
    }
    let passed = reports.iter().all(Report::passed);
    if args.json {
        let results: Vec<Value> = reports.iter().map(Report::to_json).collect();
        println!(
            "{}",
            json!({"benchmark": "crash", "passed": passed, "results": results})
        );
    } else {
        println!(
            "{}",
            if passed {
                "crash: PASS — nothing acknowledged was lost or stored twice, every restart came up"
            } else {
                "crash: FAIL"
            }
        );
    }
    if args.check && !passed {
        std::process::exit(1);
    }
    Ok(())
}

fn line(r: &Report) -> String {
    format!(
        "{}: {} kills ({} while starting), {} restarts ({} failed), {} acknowledged: {} lost, {} duplicates, {} stored unacknowledged; {:.1} s{}",
        r.engine,
        r.kills,
        r.kills_while_starting,
        r.restarts,
        r.failed_restarts,
        r.acknowledged,
        r.lost,
        r.duplicates,
        r.stored_unacknowledged,
        r.wall.as_secs_f64(),
        if r.samples.is_empty() {
            String::new()
        } else {
            format!("\n  {}", r.samples.join("\n  "))
        }
    )
}

async fn run_engine(
    base: &Settings,
    args: &CrashArgs,
    exe: &Path,
    engine: Engine,
    scratch: &Scratch,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let data_dir = scratch.dir.path();
    let settings = InProcess::settings(base, data_dir, &scratch.url);
    let server = InProcess::start(settings).await?;
    let shop = merchant_project(&server.state).await?;
    server.stop().await;
    if !args.json {
        eprintln!("{engine}: {} kills under load…", args.kills);
    }
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut report = Report {
        engine: engine.to_string(),
        ..Report::default()
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let log = data_dir.join("serve.log");
    for kill in 0..args.kills {
        let mut child = spawn(exe, data_dir, &scratch.url, &log)?;
        if rand::rng().random_ratio(1, 10) {
            // While it starts: opening the database, migrating, binding.
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(0..40))).await;
            let _ = child.kill().await;
            report.kills += 1;
            report.kills_while_starting += 1;
            continue;
        }
        report.restarts += 1;
        let addr = match listening(&mut child).await {
            Ok(a) => a,
            Err(e) => {
                report.failed_restarts += 1;
                sample(
                    &mut report,
                    format!("restart {kill}: {e:#}; see {}", log.display()),
                );
                let _ = child.kill().await;
                continue;
            }
        };
        let mut load = tokio::task::JoinSet::new();
        for _ in 0..args.concurrency {
            let (client, next, acked) = (client.clone(), next.clone(), acked.clone());
            let (url, auth, shop_id) = (
                format!("http://{addr}/v2/invoice/create"),
                format!("Token {}", shop.api_key),
                shop.shop_id.clone(),
            );
            load.spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let order = format!("crash-{n}");
                    if let Some(uuid) = create(&client, &url, &auth, &shop_id, &order).await {
                        acked
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(order, uuid);
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(20..300))).await;
        let _ = child.kill().await;
        report.kills += 1;
        load.abort_all();
        while load.join_next().await.is_some() {}
    }
    // The last restart, then what the database holds.
    report.restarts += 1;
    let mut child = spawn(exe, data_dir, &scratch.url, &log)?;
    if let Err(e) = listening(&mut child).await {
        report.failed_restarts += 1;
        sample(&mut report, format!("the last restart: {e:#}"));
    }
    let _ = child.kill().await;
    let acked = std::mem::take(&mut *acked.lock().unwrap_or_else(|e| e.into_inner()));
    report.acknowledged = acked.len() as u64;
    verify(&scratch.url, &acked, &mut report).await?;
    report.wall = started.elapsed();
    Ok(report)
}

fn sample(report: &mut Report, s: String) {
    if report.samples.len() < 5 {
        report.samples.push(s);
    }
}

/// `kassa serve` on the scratch database, listening on a free port, its log appended to `log`.
fn spawn(
    exe: &Path,
    data_dir: &Path,
    url: &str,
    log: &Path,
) -> anyhow::Result<tokio::process::Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .context("opening the server's log")?;
    tokio::process::Command::new(exe)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .env("KASSA_DATA_DIR", data_dir)
        .env("KASSA_DATABASE_URL", url)
        .env("KASSA_PUBLIC_URL", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting kassa serve")
}

/// Waits for the child's "listening on <addr>," line.
async fn listening(child: &mut tokio::process::Child) -> anyhow::Result<String> {
    let stdout = child.stdout.take().context("no standard output")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(START_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| anyhow::anyhow!("not listening within {START_TIMEOUT:?}"))?
        .context("reading its output")?
        .context("it exited before listening")?;
    // Keep reading (and dropping) the rest so that the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    first
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .map(str::to_owned)
        .with_context(|| format!("unexpected first line: {first}"))
}

/// One creation: the invoice's id when the server acknowledged it.
async fn create(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    shop_id: &str,
    order: &str,
) -> Option<String> {
    let body = json!({
        "shop_id": shop_id,
        "amount": "25",
        "currency": "USD",
        "order_id": order,
        "add_fields": {"cryptocurrency": "USDT_TRC20"},
    });
    let r = client
        .post(url)
        .header(reqwest::header::AUTHORIZATION, auth)
        .json(&body)
        .send()
        .await
        .ok()?;
    if r.status() != reqwest::StatusCode::OK {
        return None;
    }
    let v: Value = r.json().await.ok()?;
    if v["status"] != "success" {
        return None;
    }
    // The API shows ids as INV-XXXXXXXX; stored without the prefix.
    let uuid = v["result"]["uuid"].as_str()?;
    Some(uuid.trim_start_matches("INV-").to_owned())
}

/// Reads every benchmark invoice with what was written with it and compares with `acked`.
async fn verify(
    url: &str,
    acked: &HashMap<String, String>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let url = kassa_store::DatabaseUrl::parse(url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = Db::connect(&url, 2).await?;
    let mut c = db.conn().await?;
    // (order, uuid, deposit addresses, expiry jobs)
    let rows: Vec<(String, String, i64, i64)> = kassa_store::sql!(&mut c, |c| {
        sqlx::query_as(
        "select i.order_id, i.uuid, coalesce(a.n, 0), coalesce(j.n, 0) \
         from invoice i \
         left join (select invoice_id, count(*) as n from deposit_address group by invoice_id) a \
           on a.invoice_id = i.invoice_id \
         left join (select payload, count(*) as n from job where kind = 'invoice.expire' group by payload) j \
           on j.payload = '{\"invoice_id\":' || i.invoice_id || '}' \
         where i.order_id like 'crash-%'"
    )
    .fetch_all(c)
    .await
    })?;
    drop(c);
    db.close().await;
    let mut stored: HashMap<&str, Vec<(&str, i64, i64)>> = HashMap::new();
    for (order, uuid, addresses, jobs) in &rows {
        stored
            .entry(order)
            .or_default()
            .push((uuid, *addresses, *jobs));
    }
    for (order, found) in &stored {
        if found.len() > 1 {
            report.duplicates += 1;
            sample(report, format!("{order} stored {} times", found.len()));
        }
        if !acked.contains_key(*order) {
            report.stored_unacknowledged += 1;
        }
    }
    for (order, uuid) in acked {
        let whole = stored.get(order.as_str()).is_some_and(|found| {
            found
                .iter()
                .any(|(u, addresses, jobs)| u == uuid && *addresses == 1 && *jobs == 1)
        });
        if !whole {
            report.lost += 1;
            sample(
                report,
                format!(
                    "{order} (INV-{uuid}) acknowledged but stored as {:?}",
                    stored.get(order.as_str())
                ),
            );
        }
    }
    Ok(())
}
