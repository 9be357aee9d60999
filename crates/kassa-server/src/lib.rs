//! Kassa's application layer: settings, the HTTP server (dashboard, payment page, APIs),
//! services, and the background job worker. The `kassa` binary wires it up; integration tests
//! build it in-process with [`app::Application::build`] on port 0.

pub mod accounts;
pub mod api;
pub mod app;
pub mod auth;
pub mod chains;
pub mod config;
pub mod heavy;
pub mod http;
pub mod i18n;
pub mod invoices;
pub mod jwt;
pub mod mail;
pub mod metrics;
pub mod net;
pub mod postbacks;
pub mod pricing;
pub mod projects;
pub mod secrets;
pub mod state;
pub mod telemetry;
pub mod watcher;
pub mod web;
pub mod withdrawals;
pub mod worker;
