//! The bounded pass CI runs: every target over a fixed number of hostile inputs. A panic or
//! stack overflow in a target fails (or aborts) the test; proptest prints the shrunk failing
//! input and records it under `proptest-regressions/`, where it is replayed first next time
//! (commit that file with the fix).

use proptest::prelude::*;

use crate::{TARGETS, shapes};

/// Cases per target in the bounded pass (`KASSA_FUZZ_CASES` overrides it for a longer run).
fn cases() -> u32 {
    std::env::var("KASSA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

fn run(name: &str) {
    let target = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no target {name}"));
    let config = ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    };
    proptest!(config, |(data in shapes::hostile())| {
        target(&data);
    });
}

#[test]
fn every_target_has_a_test() {
    let here = include_str!("tests.rs");
    for (name, _) in TARGETS {
        assert!(
            here.contains(&format!("fn {name}()")),
            "no bounded pass for {name}"
        );
    }
}

#[test]
fn body() {
    run("body");
}

#[test]
fn query() {
    run("query");
}

#[test]
fn amount() {
    run("amount");
}

#[test]
fn currency() {
    run("currency");
}

#[test]
fn email() {
    run("email");
}

#[test]
fn address() {
    run("address");
}
