#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code fails by panicking"
)]

//! Kassa's integration suite: one test binary (one build) for every integration test. Tests
//! written with `engine_test!` run once on SQLite and once on PostgreSQL.

mod support;

mod accounts;
mod api;
mod authz;
mod balance;
mod bench;
mod browser;
mod chain_evm;
mod chain_spend;
mod chain_utxo;
mod cli;
mod evm_live;
mod evm_sweeps;
mod evm_withdrawals;
mod first_hour;
mod group_commit;
mod hardening;
mod hostile;
mod invoice_pages;
mod invoices;
mod jobs;
mod money;
mod notifications;
mod ops;
mod pay;
mod payments;
mod postback_faults;
mod projects;
mod tron_live;
mod tron_withdrawals;
mod wallets;
mod watcher;
mod withdraw_psbt;
mod withdraw_requests;
mod withdrawals;
