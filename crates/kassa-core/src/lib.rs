//! Kassa's pure domain layer.
//!
//! Everything here is deterministic, synchronous and free of I/O: typed identifiers,
//! timestamps, sealing of secrets at rest, and (as the product grows) money, currencies,
//! the invoice state machine and ledger rules. Layers above parse their input into these
//! types at the edge and call into them; nothing here knows about HTTP or SQL.

pub mod account;
pub mod currency;
pub mod id;
pub mod input;
pub mod invoice;
pub mod lang;
pub mod money;
pub mod project;
pub mod retry;
pub mod secret;
pub mod time;

pub use id::{
    InvoiceId, JobId, LedgerAccountId, MerchantId, ProjectId, SessionId, StaticWalletId,
    TransferId, UserId, WithdrawalAddressId, WithdrawalId, WithdrawalRequestId, WithdrawalRuleId,
};
pub use money::Amount;
pub use rust_decimal::Decimal;
pub use time::Timestamp;
