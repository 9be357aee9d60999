//! Units of work (`Db::unit`): all or nothing each, answered only once durable; on SQLite many
//! share one group commit, and one that fails — by error, panic or by breaking the
//! transaction — never keeps anything, nor lets a sibling claim success it does not have.

use std::collections::BTreeSet;

use kassa_core::Timestamp;
use kassa_store::jobs::{self, NewJob};
use kassa_store::{Db, Engine, StoreError, Tx};

use crate::engine_test;
use crate::support::TestDb;

const KIND: &str = "test.unit";

/// What a unit does after writing its row.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    Succeed,
    Fail,
    Panic,
    /// Rolls the shared transaction back under the writer's feet.
    Sabotage,
}

/// Writes row `n` (and a second row, so a rollback must undo more than one statement), then
/// does `then`.
async fn unit(db: &Db, n: u32, then: Then) -> Result<u32, StoreError> {
    db.unit(move |tx: &mut Tx| {
        Box::pin(async move {
            for part in ["a", "b"] {
                let payload = format!("{{\"n\":{n},\"part\":\"{part}\"}}");
                let job = NewJob {
                    kind: KIND,
                    payload: &payload,
                    run_at: Timestamp::from_micros(0),
                    lane: None,
                };
                jobs::enqueue(tx, &job, Timestamp::from_micros(0)).await?;
            }
            match then {
                Then::Succeed => Ok(n),
                Then::Fail => Err(StoreError::NotFound),
                Then::Panic => panic!("unit {n} panics on purpose"),
                Then::Sabotage => {
                    kassa_store::sql!(tx, |c| sqlx::raw_sql("rollback")
                        .execute(c)
                        .await
                        .map(|_| ()))?;
                    Ok(n)
                }
            }
        })
    })
    .await
}

/// The units whose rows are stored, each checked to have both rows or none.
async fn stored(db: &Db) -> BTreeSet<u32> {
    let mut c = db.conn().await.unwrap();
    let payloads: Vec<String> = kassa_store::sql!(&mut c, |c| sqlx::query_scalar(
        "select payload from job where kind = 'test.unit'"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    let mut parts = std::collections::BTreeMap::<u32, u32>::new();
    for p in payloads {
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        let n = u32::try_from(v["n"].as_u64().unwrap()).unwrap();
        *parts.entry(n).or_default() += 1;
    }
    for (n, count) in &parts {
        assert_eq!(*count, 2, "unit {n} is half-written");
    }
    parts.into_keys().collect()
}

/// Fires `plan` all at once; the units answered Ok.
async fn fire(db: &Db, plan: &[(u32, Then)]) -> BTreeSet<u32> {
    let mut tasks = tokio::task::JoinSet::new();
    for &(n, then) in plan {
        let db = db.clone();
        tasks.spawn(async move { (n, then, unit(&db, n, then).await) });
    }
    let mut ok = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (n, then, result) = done.unwrap();
        match result {
            Ok(v) => {
                assert_eq!(v, n, "a unit got another's result");
                assert!(
                    then == Then::Succeed || then == Then::Sabotage,
                    "unit {n} failed on purpose but was answered Ok"
                );
                ok.insert(n);
            }
            Err(e) => assert!(
                then != Then::Succeed || matches!(e, StoreError::Unit(_)),
                "unit {n} failed with {e}: only a broken group may fail a good unit"
            ),
        }
    }
    ok
}

engine_test!(
    async fn units_commit_together_and_fail_alone(engine) {
        let tdb = TestDb::new(engine).await;
        let db = tdb.connect().await;
        let plan: Vec<(u32, Then)> = (0..400)
            .map(|n| (n, match n % 10 {
                3 => Then::Fail,
                7 => Then::Panic,
                _ => Then::Succeed,
            }))
            .collect();
        let ok = fire(&db, &plan).await;
        let good: BTreeSet<u32> = plan.iter().filter(|(_, t)| *t == Then::Succeed).map(|(n, _)| *n).collect();
        assert_eq!(ok, good, "every good unit, and only those, is answered Ok");
        assert_eq!(stored(&db).await, good, "every good unit, and only those, is stored");
        // A fresh connection sees what was answered: the answer came after the commit.
        if let Some(stats) = db.group_stats() {
            assert_eq!(stats.units, 400, "each unit ran once in a committed group");
            assert!(
                stats.groups < 200,
                "400 concurrent units should share commits, got {} groups",
                stats.groups
            );
        } else {
            assert_eq!(engine, Engine::Postgres);
        }
        // The writer is still there after panics.
        assert_eq!(unit(&db, 1000, Then::Succeed).await.unwrap(), 1000);
        // A closed database takes no more units.
        db.close().await;
        assert!(unit(&db, 1001, Then::Succeed).await.is_err(), "a unit after close");
    }
);

engine_test!(
    async fn a_broken_transaction_fails_its_group_and_keeps_nothing_unacknowledged(engine) {
        let tdb = TestDb::new(engine).await;
        let db = tdb.connect().await;
        let plan: Vec<(u32, Then)> = (0..300)
            .map(|n| (n, if n % 50 == 25 { Then::Sabotage } else { Then::Succeed }))
            .collect();
        let ok = fire(&db, &plan).await;
        let stored = stored(&db).await;
        let good: BTreeSet<u32> = plan.iter().filter(|(_, t)| *t == Then::Succeed).map(|(n, _)| *n).collect();
        // Every good unit answered Ok is stored (nothing acknowledged is lost) and every good
        // unit stored was answered Ok (no unit's failure is reported as success or the
        // reverse). A saboteur undid its own work; whether it hears so is its own business.
        assert_eq!(ok.intersection(&good).collect::<Vec<_>>(), stored.intersection(&good).collect::<Vec<_>>());
        if engine == Engine::Sqlite {
            assert!(ok.len() < good.len(), "the saboteurs' groups failed");
        } else {
            assert!(good.is_subset(&ok), "PostgreSQL units are their own transactions");
        }
        assert_eq!(unit(&db, 1000, Then::Succeed).await.unwrap(), 1000);
        db.close().await;
    }
);
