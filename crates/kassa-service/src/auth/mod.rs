//! Authentication building blocks: password hashing, TOTP and recovery codes, single-use
//! link tokens and rate limits. The account services in [`crate::accounts`] combine them.

pub mod device;
pub mod limits;
pub mod password;
pub mod token;
pub mod totp;
