//! `kassa bench invoice-create` through the real binary: it runs, every creation succeeds and
//! the JSON summary adds up. Speed is not asserted here; the target is the benchmark's own
//! business (`--check`).

use serde_json::Value;

use crate::support::db::{postgres_admin_url, postgres_skipped};
use crate::support::process::run_in;

fn bench(engine: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let postgres = postgres_admin_url();
    let out = run_in(
        dir.path(),
        &[
            "bench",
            "invoice-create",
            "--engine",
            engine,
            "--postgres-url",
            &postgres,
            "--requests",
            "200",
            "--concurrency",
            "8",
            "--json",
        ],
        &[("RUST_LOG", "warn")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kassa bench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // Nothing is left behind: no working folder in the current directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn check(summary: &Value, engine: &str) {
    assert_eq!(summary["benchmark"], "invoice-create");
    assert_eq!(summary["target"]["min_throughput"], 1000.0);
    assert_eq!(summary["target"]["max_p99_ms"], 50.0);
    let results = summary["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{summary:#}");
    let r = &results[0];
    assert_eq!(r["engine"], engine);
    assert_eq!(r["requests"], 200, "{r:#}");
    assert_eq!(r["ok"], 200, "{r:#}");
    assert_eq!(r["errors"], 0, "{r:#}");
    assert_eq!(r["db_mismatch"], false, "{r:#}");
    assert_eq!(r["error_samples"].as_array().unwrap().len(), 0, "{r:#}");
    assert_eq!(r["concurrency"], 8);
    assert_eq!(r["currency"], "USDT_TRC20");
    // Warm-up (a tenth by default) plus the measured requests, each one an invoice.
    let warmup = r["warmup"].as_i64().unwrap();
    assert_eq!(warmup, 20);
    // The open-loop phase at 1,000/s offered: --requests of them by default.
    let offered = &r["offered"];
    assert_eq!(offered["per_s"], 1000, "{r:#}");
    assert_eq!(offered["requests"], 200, "{r:#}");
    assert_eq!(offered["errors"], 0, "{r:#}");
    assert!(
        offered["p50_ms"].as_f64().unwrap() <= offered["p99_ms"].as_f64().unwrap(),
        "{r:#}"
    );
    assert_eq!(r["invoices_in_db"].as_i64().unwrap(), warmup + 200 + 200);
    // The baselines of the same run: the database writer's and the HTTP ceiling.
    for key in ["baseline", "http_ceiling"] {
        let per_s = r[key]["per_s"].as_f64().unwrap();
        let ratio = r[key]["ratio"].as_f64().unwrap();
        assert!(per_s > 0.0 && ratio > 0.0, "{r:#}");
        assert!(
            (ratio * per_s - r["throughput"].as_f64().unwrap()).abs() < 1.0,
            "{r:#}"
        );
    }
    // Each invoice queued its expiry job.
    assert!(r["jobs_queued"].as_i64().unwrap() >= warmup + 400, "{r:#}");

    let wall = r["wall_s"].as_f64().unwrap();
    let throughput = r["throughput"].as_f64().unwrap();
    assert!(wall > 0.0 && wall < 600.0, "{r:#}");
    assert!(
        (throughput * wall - 200.0).abs() < 1.0,
        "throughput is requests per second of wall time: {r:#}"
    );
    let l = &r["latency_ms"];
    let (p50, p90, p99, max, mean) = (
        l["p50"].as_f64().unwrap(),
        l["p90"].as_f64().unwrap(),
        l["p99"].as_f64().unwrap(),
        l["max"].as_f64().unwrap(),
        l["mean"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, "{r:#}");
    assert!(p50 <= max && mean <= max && mean > 0.0, "{r:#}");
    assert!(max <= wall * 1000.0, "no request outlasts the run: {r:#}");
    assert!(r["meets_target"].is_boolean());
}

#[test]
fn invoice_create_on_sqlite() {
    let summary = bench("sqlite");
    check(&summary, "sqlite");
    // The temporary folder with the database is gone.
    let file = summary["results"][0]["database"].as_str().unwrap();
    assert!(file.ends_with("kassa.db"), "{file}");
    assert!(
        !std::path::Path::new(file).exists(),
        "{file} was left behind"
    );
}

#[test]
fn invoice_create_on_postgres() {
    if postgres_skipped() {
        return;
    }
    let summary = bench("postgres");
    check(&summary, "postgres");
    // The throwaway database is gone.
    let name = summary["results"][0]["database"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(name.starts_with("kassa_bench_"), "{name}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exists: bool = rt.block_on(async {
        use sqlx::Connection as _;
        let mut c = sqlx::PgConnection::connect(&postgres_admin_url())
            .await
            .unwrap();
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut c)
            .await
            .unwrap()
    });
    assert!(!exists, "the benchmark database {name} was left behind");
}

/// Runs `kassa bench` with `args`; its standard output.
fn bench_output(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), args, &[("RUST_LOG", "warn")]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kassa {args:?} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn chain_match_reads_erc20_logs_through_the_evm_source() {
    let out = bench_output(&[
        "bench",
        "chain-match",
        "--network",
        "eth",
        "--addresses",
        "3000",
        "--outputs",
        "5000",
        "--logs-per-block",
        "1000",
    ]);
    // Every log read (five blocks of 1000), one in a hundred paying a watched address.
    assert!(
        out.contains("5000 Transfer logs in 5 blocks of 1000") && out.contains("hits 50"),
        "{out}"
    );
}

#[test]
fn chain_seen_times_eth_payments_on_anvil() {
    if crate::support::anvil::anvil_skipped() {
        return;
    }
    let anvil = crate::support::anvil::installed().unwrap();
    let out = bench_output(&[
        "bench",
        "chain-seen",
        "--network",
        "eth",
        "--anvil",
        anvil.to_str().unwrap(),
        "--payments",
        "3",
        "--poll-ms",
        "100",
    ]);
    assert!(
        out.contains("3 payments on anvil") && out.contains("broadcast → seen median"),
        "{out}"
    );
}

/// `kassa bench crash` on `engine` with a few kills: the summary of the real binary killed
/// under load and restarted.
fn crash(engine: &str) {
    let postgres = postgres_admin_url();
    let out = bench_output(&[
        "bench",
        "crash",
        "--engine",
        engine,
        "--postgres-url",
        &postgres,
        "--kills",
        "6",
        "--concurrency",
        "8",
        "--check",
        "--json",
    ]);
    let summary: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let r = &summary["results"][0];
    assert_eq!(r["engine"], engine, "{summary:#}");
    assert_eq!(r["kills"], 6, "{r:#}");
    // Every kill but those while starting was followed by a restart, plus the last one.
    let starting = r["kills_while_starting"].as_u64().unwrap();
    assert_eq!(r["restarts"].as_u64().unwrap(), 6 - starting + 1, "{r:#}");
    assert!(r["acknowledged"].as_u64().unwrap() > 0, "{r:#}");
    for zero in ["lost", "duplicates", "failed_restarts"] {
        assert_eq!(r[zero], 0, "{zero}: {r:#}");
    }
    assert_eq!(summary["passed"], true);
}

#[test]
fn crash_on_sqlite_loses_nothing_acknowledged() {
    crash("sqlite");
}

#[test]
fn crash_on_postgres_loses_nothing_acknowledged() {
    if postgres_skipped() {
        return;
    }
    crash("postgres");
}
