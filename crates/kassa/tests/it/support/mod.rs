//! Test support: fresh databases per test on both engines, an in-process `TestApp` on port 0,
//! and helpers to drive the real `kassa` binary.

pub mod accounts;
pub mod anvil;
pub mod api;
pub mod app;
pub mod db;
pub mod litecoind;
pub mod process;
pub mod receiver;
pub mod smtp;
pub mod telegram;
pub mod tron;
pub mod web;
pub mod webdriver;

pub use app::TestApp;
pub use db::TestDb;
pub use kassa_store::Engine;

/// Generates one test per engine from one async body:
/// `engine_test!(async fn name(engine) { … })` makes `name::sqlite` and `name::postgres`,
/// so the test output says which engine each result is for.
#[macro_export]
macro_rules! engine_test {
    ($(#[$meta:meta])* async fn $name:ident($engine:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            async fn run($engine: $crate::support::Engine) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::support::Engine::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::support::db::postgres_skipped() {
                    return;
                }
                run($crate::support::Engine::Postgres).await;
            }
        }
    };
}

/// Waits for `check` to hold, polling every 20 ms, up to `secs` seconds. For waiting on a
/// separate process (a real `kassa serve`); in-process work is driven step by step instead.
pub async fn wait_until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A plain HTTP client for tests that talk to a separate process. Kassa builds reqwest with
/// rustls and no default crypto provider, so the provider is installed first.
pub fn http_client() -> reqwest::Client {
    kassa_service::net::install_tls_provider();
    reqwest::Client::new()
}
