//! Typed identifiers: one newtype per table so that a `JobId` can never be passed where a
//! `UserId` is expected. Database keys are 64-bit integers; public identifiers (invoice uuids,
//! shop ids) are separate string types defined next to their domain.

/// Declares a typed integer identifier.
///
/// ```
/// kassa_core::typed_id!(
///     /// A thing.
///     ThingId
/// );
/// let id = ThingId::new(7);
/// assert_eq!(id.get(), 7);
/// assert_eq!(id.to_string(), "7");
/// ```
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a raw database key.
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            /// The raw database key.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

typed_id!(
    /// A row of the durable job queue.
    JobId
);

typed_id!(
    /// A merchant account (a business).
    MerchantId
);

typed_id!(
    /// A person who signs in: a merchant's owner or staff member.
    UserId
);

typed_id!(
    /// A signed-in browser session.
    SessionId
);

typed_id!(
    /// A merchant's project (a shop or site), with its own API key.
    ProjectId
);

typed_id!(
    /// An invoice.
    InvoiceId
);

typed_id!(
    /// A permanent deposit address of a project for one customer and currency.
    StaticWalletId
);

typed_id!(
    /// A transfer seen on a chain (one output or log).
    TransferId
);

typed_id!(
    /// A ledger account.
    LedgerAccountId
);

typed_id!(
    /// A withdrawal from the hot wallet.
    WithdrawalId
);

typed_id!(
    /// A merchant's request to withdraw (before and after its transaction exists).
    WithdrawalRequestId
);

typed_id!(
    /// A saved withdrawal address.
    WithdrawalAddressId
);

typed_id!(
    /// An automatic withdrawal rule.
    WithdrawalRuleId
);
