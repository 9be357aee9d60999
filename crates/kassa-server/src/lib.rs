//! Kassa's delivery layer: settings and wiring, the HTTP server (router, middleware,
//! operations endpoints), the CryptoCloud-compatible API, the dashboard and the payment page.
//! Everything the product does lives in `kassa-service`; this crate parses requests into its
//! types, calls it and renders the answers. The `kassa` binary wires it up; integration tests
//! build it in-process with [`app::Application::build`] on port 0.

pub mod api;
pub mod app;
pub mod config;
pub mod http;
pub mod secrets;
pub mod state;
pub mod telemetry;
pub mod web;
