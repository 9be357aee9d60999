//! An in-process Kassa on port 0 with a fresh database, a hand-driven clock and no background
//! worker loop: tests run jobs by calling the worker step.

use std::net::SocketAddr;
use std::sync::Arc;

use kassa_core::Timestamp;
use kassa_core::time::{Clock as _, ManualClock, SystemClock};
use kassa_server::app::Application;
use kassa_server::config::Settings;
use kassa_server::state::AppState;
use kassa_store::Engine;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::TestDb;

/// A running test server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its state (database, worker, settings).
    pub state: AppState,
    /// The clock it reads; move it with `clock.advance`.
    pub clock: Arc<ManualClock>,
    /// An HTTP client that keeps cookies and does not follow redirects.
    pub client: reqwest::Client,
    /// The database (dropped with the app).
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Settings for a test app on `db`: port 0, no worker loop, private targets allowed.
pub fn test_settings(db: &TestDb) -> Settings {
    let mut s = Settings::default();
    s.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    s.data_dir = db.dir().to_owned();
    s.database.url = kassa_core::secret::SecretString::new(db.url_text());
    s.database.max_connections = 8;
    s.jobs.workers = 0;
    s.server.allow_private_targets = true;
    s
}

impl TestApp {
    /// Starts an app on a fresh database of `engine`.
    pub async fn spawn(engine: Engine) -> TestApp {
        Self::spawn_with(engine, |_| {}).await
    }

    /// Starts an app after letting `adjust` change the settings.
    pub async fn spawn_with(engine: Engine, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_on(TestDb::new(engine).await, adjust).await
    }

    /// Starts an app on an existing database `db` (already holding what the test put there),
    /// after letting `adjust` change the settings.
    pub async fn spawn_on(db: TestDb, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = test_settings(&db);
        adjust(&mut settings);
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let app = Application::build_with_clock(settings, clock.clone())
            .await
            .expect("build test app");
        let addr = app.local_addr().expect("local addr");
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        TestApp {
            base: format!("http://{addr}"),
            state,
            clock,
            client,
            db,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// `GET base + path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    /// The app's current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Waits until the app's own watcher of `network` finished its first round (it then
    /// sleeps its poll interval): a test that drives a watcher itself never races it.
    pub async fn first_watcher_round(&self, network: &str) {
        super::wait_until(20, "the app's watcher's first round", || async {
            self.state
                .metrics
                .chain(network)
                .is_some_and(|h| h.last_success.is_some() || h.failing_since.is_some())
        })
        .await;
    }

    /// Runs due jobs until none is left.
    pub async fn drain_jobs(&self) -> usize {
        self.state.worker.drain().await.expect("drain jobs")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
