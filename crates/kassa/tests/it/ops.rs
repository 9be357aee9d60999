//! Liveness, readiness, metrics and request ids.

use kassa_store::{exec, jobs};
use serde_json::Value;

use crate::engine_test;
use crate::support::TestApp;

engine_test!(
    async fn healthz_answers_with_a_request_id(engine) {
        let app = TestApp::spawn(engine).await;
        let r = app.get("/healthz").await;
        assert_eq!(r.status(), 200);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 16);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");

        // A sane id sent by the caller is kept; anything else is replaced.
        let r = app.client.get(format!("{}/healthz", app.base)).header("x-request-id", "lb-42.a_b").send().await.unwrap();
        assert_eq!(r.headers()["x-request-id"], "lb-42.a_b");
        let long = "x".repeat(65);
        let r = app.client.get(format!("{}/healthz", app.base)).header("x-request-id", &long).send().await.unwrap();
        assert_ne!(r.headers()["x-request-id"], long.as_str());

        assert_eq!(app.get("/no/such/page").await.status(), 404);
        app.stop().await;
    }
);

engine_test!(
    async fn readyz_checks_database_and_migrations(engine) {
        let app = TestApp::spawn(engine).await;
        let r = app.get("/readyz").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");

        // A database whose schema is behind this binary is not ready.
        let mut c = app.state.db.conn().await.unwrap();
        let latest = kassa_store::migrate::latest_version(engine);
        exec!(&mut c, sqlx::query("delete from _sqlx_migrations where version = $1").bind(latest)).unwrap();
        drop(c);
        let r = app.get("/readyz").await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.json::<Value>().await.unwrap()["reason"], "database migrations are not current");

        // An unreachable database is not ready either, and the answer is still an answer.
        app.state.db.close().await;
        let r = app.get("/readyz").await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.json::<Value>().await.unwrap()["reason"], "database unreachable");
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
);

engine_test!(
    async fn metrics_count_requests_and_queue_depth(engine) {
        let app = TestApp::spawn(engine).await;
        for _ in 0..3 {
            app.get("/healthz").await;
        }
        app.get("/definitely-missing").await;
        let now = app.now();
        let mut tx = app.state.db.begin().await.unwrap();
        for _ in 0..2 {
            kassa_service::worker::enqueue(&mut tx, &kassa_service::worker::Probe { work_ms: 0 }, now, now).await.unwrap();
        }
        tx.commit().await.unwrap();

        let r = app.get("/metrics").await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let text = r.text().await.unwrap();
        assert!(text.contains(r#"kassa_http_requests_total{method="GET",route="/healthz",status="200"} 3"#), "{text}");
        assert!(text.contains(r#"kassa_http_requests_total{method="GET",route="unmatched",status="404"} 1"#), "{text}");
        assert!(text.contains(r#"kassa_http_request_duration_seconds_count{method="GET",route="/healthz"} 3"#), "{text}");
        assert!(text.contains(r#"kassa_jobs{state="queued",kind="kassa.probe"} 2"#), "{text}");

        app.drain_jobs().await;
        let text = app.get("/metrics").await.text().await.unwrap();
        assert!(!text.contains(r#"kassa_jobs{state="queued",kind="kassa.probe"}"#), "{text}");
        assert!(text.contains(r#"kassa_job_runs_total{kind="kassa.probe",outcome="ok"} 2"#), "{text}");
        let pending = jobs::pending_counts(&app.state.db).await.unwrap();
        assert!(pending.iter().all(|(_, kind, _)| kind != "kassa.probe"), "{pending:?}");
        app.stop().await;
    }
);
