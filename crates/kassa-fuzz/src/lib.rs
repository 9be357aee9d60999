//! Fuzz targets for every parser that reads untrusted input, and the hostile shapes that
//! drive them.
//!
//! Each target is a function of raw bytes that must never panic, overflow its stack or
//! break a parser's stated bounds; a violated property panics. Two drivers call them:
//!
//! - the bounded pass in this crate's tests (`cargo test -p kassa-fuzz`, part of the suite and
//!   of CI): proptest feeds every target [`shapes::hostile`] inputs, a fixed number of cases;
//! - coverage-guided fuzzing with cargo-fuzz for as long as you like (`scripts/fuzz`, see
//!   `fuzz/README.md`), whose targets are one-line calls into [`targets`].
//!
//! Add a target here when a new parser of client input appears, and list it in [`TARGETS`].

pub mod shapes;
pub mod targets;

/// A fuzz target: reads bytes, panics when a property breaks.
pub type Target = fn(&[u8]);

/// Every target by name (the cargo-fuzz target of the same name calls it).
pub const TARGETS: &[(&str, Target)] = &[
    ("body", targets::body),
    ("query", targets::query),
    ("amount", targets::amount),
    ("currency", targets::currency),
    ("email", targets::email),
    ("address", targets::address),
];

#[cfg(test)]
mod tests;
