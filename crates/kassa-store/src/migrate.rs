//! Schema migrations: one folder per engine (`migrations/sqlite`, `migrations/postgres`),
//! embedded in the binary at build time. A released migration is never edited; a change is a
//! new file. sqlx records applied versions (with checksums) in `_sqlx_migrations` and takes an
//! advisory lock on PostgreSQL, so several processes starting together apply each one once.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::{Db, Engine, StoreError};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

fn files(engine: Engine) -> &'static [(i64, &'static str, &'static str)] {
    match engine {
        Engine::Sqlite => embedded::SQLITE,
        Engine::Postgres => embedded::POSTGRES,
    }
}

fn migrator(engine: Engine) -> Migrator {
    Migrator::with_migrations(
        files(engine)
            .iter()
            .map(|&(version, name, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The newest migration version this binary knows for `engine`.
pub fn latest_version(engine: Engine) -> i64 {
    files(engine).iter().map(|m| m.0).max().unwrap_or(0)
}

/// A fingerprint of every embedded migration of `engine` (versions and SQL), so that a
/// migrated template database can be reused exactly while the migrations are unchanged.
pub fn fingerprint(engine: Engine) -> String {
    let mut text = String::new();
    for (version, name, sql) in files(engine) {
        text.push_str(&format!("{version}\0{name}\0{sql}\0"));
    }
    let checksum = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
    checksum
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Applies every pending migration. Returns the versions that were applied now.
pub async fn run(db: &Db) -> Result<Vec<i64>, StoreError> {
    let before = applied(db).await?;
    match db {
        Db::Sqlite(p, ..) => migrator(Engine::Sqlite).run(p).await?,
        Db::Postgres(p) => migrator(Engine::Postgres).run(p).await?,
    }
    let after = applied(db).await?;
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

/// Versions successfully applied to this database, ascending. Empty for a fresh database.
pub async fn applied(db: &Db) -> Result<Vec<i64>, StoreError> {
    let mut c = db.conn().await?;
    let exists: bool = match db.engine() {
        Engine::Sqlite => crate::sql!(&mut c, |c| {
            sqlx::query_scalar(
            "select count(*) > 0 from sqlite_master where type = 'table' and name = '_sqlx_migrations'"
        )
        .fetch_one(c)
        .await
        })?,
        Engine::Postgres => crate::sql!(&mut c, |c| sqlx::query_scalar(
            "select to_regclass('_sqlx_migrations') is not null"
        )
        .fetch_one(c)
        .await)?,
    };
    if !exists {
        return Ok(Vec::new());
    }
    let versions: Vec<i64> = crate::sql!(&mut c, |c| sqlx::query_scalar(
        "select version from _sqlx_migrations where success order by version"
    )
    .fetch_all(c)
    .await)?;
    Ok(versions)
}

/// Whether the database has exactly the migrations this binary embeds.
pub async fn is_current(db: &Db) -> Result<bool, StoreError> {
    let known: Vec<i64> = files(db.engine()).iter().map(|m| m.0).collect();
    Ok(applied(db).await? == known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_have_the_same_versions() {
        let names = |e| files(e).iter().map(|m| (m.0, m.1)).collect::<Vec<_>>();
        assert_eq!(names(Engine::Sqlite), names(Engine::Postgres));
        assert!(latest_version(Engine::Sqlite) >= 1);
    }
}
