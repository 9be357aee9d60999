//! A fresh database per test. SQLite: a file in a temporary folder. PostgreSQL: a throwaway
//! database cloned from a migrated template (one template per migrations fingerprint, so it is
//! rebuilt exactly when the migrations change), dropped when the test ends.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use kassa_store::{DatabaseUrl, Db, Engine, migrate};
use sqlx::{Connection as _, Executor as _, PgConnection};
use tempfile::TempDir;

/// The PostgreSQL server tests use: `KASSA_TEST_POSTGRES_URL`, or the local default.
pub fn postgres_admin_url() -> String {
    std::env::var("KASSA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn postgres_reachable() -> &'static Result<(), String> {
    static REACHABLE: OnceLock<Result<(), String>> = OnceLock::new();
    REACHABLE.get_or_init(|| {
        let url = postgres_admin_url();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let connect = PgConnection::connect(&url);
                match tokio::time::timeout(std::time::Duration::from_secs(5), connect).await {
                    Ok(Ok(c)) => {
                        let _ = c.close().await;
                        Ok(())
                    }
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out".into()),
                }
            })
        })
        .join()
        .unwrap_or_else(|_| Err("probe thread panicked".into()))
    })
}

/// True (after printing why) when PostgreSQL tests should be skipped: the server is
/// unreachable and this is not CI. In CI (`CI=true`) an unreachable server fails the test.
pub fn postgres_skipped() -> bool {
    match postgres_reachable() {
        Ok(()) => false,
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "CI=true but PostgreSQL is unreachable at {}: {e}",
                postgres_admin_url()
            );
            eprintln!(
                "SKIPPED: PostgreSQL unreachable at {} ({e}); set KASSA_TEST_POSTGRES_URL",
                postgres_admin_url()
            );
            true
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A database (and data folder) that exists for one test.
pub struct TestDb {
    /// Its URL.
    pub url: DatabaseUrl,
    /// The data folder for this test (also holds the SQLite file).
    pub data_dir: TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    /// Creates an empty-but-migrated database on `engine`.
    pub async fn new(engine: Engine) -> TestDb {
        let data_dir = tempfile::Builder::new()
            .prefix("kassa-test-")
            .tempdir()
            .expect("temp dir");
        match engine {
            Engine::Sqlite => {
                let url = DatabaseUrl::Sqlite(data_dir.path().join("kassa.db"));
                let db = Db::connect(&url, 2).await.expect("open sqlite");
                migrate::run(&db).await.expect("migrate sqlite");
                db.close().await;
                TestDb {
                    url,
                    data_dir,
                    pg_name: None,
                }
            }
            Engine::Postgres => {
                let name = create_postgres_database().await;
                let url = DatabaseUrl::parse(&with_database(&postgres_admin_url(), &name))
                    .expect("pg url");
                TestDb {
                    url,
                    data_dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The URL as text, for settings and command lines.
    pub fn url_text(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => u.clone(),
        }
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// A new pool on this database.
    pub async fn connect(&self) -> Db {
        Db::connect(&self.url, 8)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop on a separate thread with its own runtime: this may run inside a test's runtime.
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut c) = PgConnection::connect(&admin).await {
                    let _ = c
                        .execute(sqlx::AssertSqlSafe(format!(
                            "drop database if exists \"{name}\" with (force)"
                        )))
                        .await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}

async fn create_postgres_database() -> String {
    let admin_url = postgres_admin_url();
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL");
    // One process at a time builds the template; creating from it is serialised too, since
    // CREATE DATABASE … TEMPLATE refuses while anyone is connected to the template.
    admin
        .execute("select pg_advisory_lock(7356212)")
        .await
        .expect("lock");
    let template = format!("kassa_tpl_{}", migrate::fingerprint(Engine::Postgres));
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&template)
            .fetch_one(&mut admin)
            .await
            .expect("query pg_database");
    if !exists {
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "create database \"{template}\""
            )))
            .await
            .expect("create template");
        let url = DatabaseUrl::parse(&with_database(&admin_url, &template)).expect("template url");
        let db = Db::connect(&url, 1).await.expect("connect template");
        migrate::run(&db).await.expect("migrate template");
        db.close().await;
        sweep_stale_databases(&mut admin).await;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("kassa_t_{now}_{:08x}", rand::random::<u32>());
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "create database \"{name}\" template \"{template}\""
        )))
        .await
        .expect("create test database");
    admin
        .execute("select pg_advisory_unlock(7356212)")
        .await
        .expect("unlock");
    let _ = admin.close().await;
    name
}

/// Drops test databases left behind by killed runs (older than an hour) and old templates.
async fn sweep_stale_databases(admin: &mut PgConnection) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let current = format!("kassa_tpl_{}", migrate::fingerprint(Engine::Postgres));
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'kassa\\_t\\_%' or datname like 'kassa\\_tpl\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let stale = match name
            .strip_prefix("kassa_t_")
            .and_then(|r| r.split('_').next())
            .and_then(|t| t.parse::<u64>().ok())
        {
            Some(created) => now.saturating_sub(created) > 3600,
            None => name != current,
        };
        if stale {
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "drop database if exists \"{name}\" with (force)"
                )))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
