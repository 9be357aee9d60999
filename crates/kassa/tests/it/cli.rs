//! The real `kassa` binary: start-up from nothing, configuration errors, and crash safety
//! with `kill -9`.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use kassa_core::time::{Clock as _, SystemClock};
use kassa_service::worker::{self, Probe};
use kassa_store::jobs::{self, JobState};
use kassa_store::{Db, sql};

use crate::engine_test;
use crate::support::process::{Server, run_in};
use crate::support::{TestDb, wait_until};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn serve_with_no_configuration_starts_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    // Exactly the README's start command, but on a free port.
    let server = Server::start(dir.path(), &["--listen", "127.0.0.1:0"], &[]);
    let http = crate::support::http_client();
    let r = http
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        http.get(format!("{}/readyz", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let data = dir.path().join("kassa-data");
    assert!(data.join("kassa.db").is_file());
    let mode = std::fs::metadata(data.join("master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A second server on the same SQLite database is refused.
    let out = run_in(dir.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("another kassa serve is already using"),
        "{}",
        stderr(&out)
    );

    assert!(
        server.terminate().success(),
        "graceful shutdown exits with 0"
    );
}

#[test]
fn bad_configuration_is_one_line_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[server]\nlisten_on = \"127.0.0.1:1\"\n",
    )
    .unwrap();

    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        (
            &["serve", "--database-url", "mysql://root@localhost/kassa"],
            &[],
            "error: database.url (KASSA_DATABASE_URL): unknown database engine \"mysql\"",
        ),
        (
            &["serve"],
            &[("KASSA_DATABASE_URL", "oracle://x")],
            "error: database.url (KASSA_DATABASE_URL): unknown database engine \"oracle\"",
        ),
        (
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                file.to_str().unwrap(),
            ],
            &[],
            "error: data_dir (KASSA_DATA_DIR): cannot use",
        ),
        (
            &["serve", "--listen", &busy_addr],
            &[],
            "error: server.listen (KASSA_LISTEN): cannot listen on",
        ),
        (
            &["serve", "--config", "bad.toml"],
            &[],
            "error: configuration file bad.toml",
        ),
        (
            &["serve"],
            &[("KASSA_JOBS_WORKERS", "many")],
            "error: jobs.workers (KASSA_JOBS_WORKERS): \"many\" is not a whole number",
        ),
    ];
    for (args, env, expected) in cases {
        let out = run_in(dir.path(), args, env);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with(expected),
            "{args:?}: expected {expected:?}, got {err:?}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {err:?}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(
        !dir.path().join("kassa-data").exists(),
        "a refused start leaves nothing behind"
    );
    drop(busy);
}

#[test]
fn config_show_redacts_secrets_and_migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let key = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ3q4=";
    let out = run_in(
        dir.path(),
        &["config", "show"],
        &[("KASSA_MASTER_KEY", key), ("KASSA_LISTEN", "0.0.0.0:9999")],
    );
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!shown.contains(key), "{shown}");
    assert!(shown.contains("master_key = \"[redacted]\""), "{shown}");
    assert!(shown.contains("listen = \"0.0.0.0:9999\""), "{shown}");
    assert!(shown.contains("# env KASSA_LISTEN"), "{shown}");

    let out = run_in(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("applied migrations"));
    let out = run_in(dir.path(), &["migrate"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("database is up to date"));
}

async fn count_in_state(db: &Db, state: JobState) -> i64 {
    let mut c = db.conn().await.unwrap();
    sql!(&mut c, |c| sqlx::query_scalar(
        "select count(*) from job where state = $1 and kind = 'kassa.probe'"
    )
    .bind(state.as_str())
    .fetch_one(c)
    .await)
    .unwrap()
}

engine_test!(
    async fn jobs_committed_before_kill_9_run_after_restart(engine) {
        const N: i64 = 200;
        let tdb = TestDb::new(engine).await;
        let dir = tdb.dir().to_owned();
        let url = tdb.url_text();
        let env = [
            ("KASSA_DATABASE_URL", url.as_str()),
            ("KASSA_DATA_DIR", dir.to_str().unwrap()),
            ("KASSA_JOBS_WORKERS", "4"),
            ("KASSA_JOBS_POLL_INTERVAL_MS", "20"),
            ("KASSA_JOBS_LEASE_SECS", "5"),
        ];
        let server = Server::start(&dir, &["--listen", "127.0.0.1:0"], &env);

        // Commit the jobs from outside the server, as any transaction in Kassa would.
        let db = tdb.connect().await;
        let now = SystemClock.now();
        let mut tx = db.begin().await.unwrap();
        for _ in 0..N {
            worker::enqueue(&mut tx, &Probe { work_ms: 40 }, now, now).await.unwrap();
        }
        tx.commit().await.unwrap();

        // Kill it mid-way: some jobs done, some running, most still queued.
        wait_until(30, "the first jobs to finish", || async { count_in_state(&db, JobState::Done).await >= 8 }).await;
        server.kill9();
        let done_before = count_in_state(&db, JobState::Done).await;
        let running_at_kill = count_in_state(&db, JobState::Running).await;
        assert!(done_before < N, "the server finished everything before it was killed");

        let server = Server::start(&dir, &["--listen", "127.0.0.1:0"], &env);
        wait_until(60, "every job to run after the restart", || async { count_in_state(&db, JobState::Done).await == N }).await;
        assert!(server.terminate().success());

        // Every job ran; each job that was running at the kill has its lost attempt recorded.
        let all: Vec<_> = jobs::list(&db, None, 1000).await.unwrap().into_iter().filter(|j| j.kind == "kassa.probe").collect();
        assert_eq!(all.len() as i64, N);
        assert!(all.iter().all(|j| j.state == JobState::Done));
        let mut c = db.conn().await.unwrap();
        let abandoned: i64 = sql!(&mut c, |c| sqlx::query_scalar(
            "select count(*) from job_attempt a join job j on j.job_id = a.job_id \
             where j.kind = 'kassa.probe' and a.error like '%stopped before finishing%'"
        )
        .fetch_one(c)
        .await)
        .unwrap();
        assert_eq!(abandoned, running_at_kill, "done before kill: {done_before}");
        drop(c);
        db.close().await;
    }
);

#[tokio::test]
async fn sigterm_lets_the_job_in_hand_finish() {
    let tdb = TestDb::new(kassa_store::Engine::Sqlite).await;
    let dir = tdb.dir().to_owned();
    let url = tdb.url_text();
    let env = [
        ("KASSA_DATABASE_URL", url.as_str()),
        ("KASSA_DATA_DIR", dir.to_str().unwrap()),
        ("KASSA_JOBS_WORKERS", "2"),
        ("KASSA_JOBS_POLL_INTERVAL_MS", "20"),
    ];
    let server = Server::start(&dir, &["--listen", "127.0.0.1:0"], &env);
    let db = tdb.connect().await;
    let now = SystemClock.now();
    let mut tx = db.begin().await.unwrap();
    let id = worker::enqueue(&mut tx, &Probe { work_ms: 1500 }, now, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    wait_until(30, "the job to start", || async {
        count_in_state(&db, JobState::Running).await == 1
    })
    .await;

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let mut c = db.conn().await.unwrap();
    let job = jobs::get(&mut c, id).await.unwrap();
    assert_eq!(
        (job.state, job.attempts),
        (JobState::Done, 1),
        "the job finished before the process exited"
    );
    let _ = Duration::ZERO;
}
