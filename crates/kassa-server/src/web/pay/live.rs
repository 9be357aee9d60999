//! What the payment page's live status follows: confirmations of payments in flight, and a
//! fingerprint of everything the page shows, which the page polls.

use std::fmt::Write as _;

use kassa_core::currency::Crypto;
use kassa_store::invoices::{InvoiceRow, TransferRow, TransferState};
use sha2::{Digest, Sha256};

use super::Phase;
use crate::state::AppState;

/// Where the confirmations of the invoice's payments stand: (fewest counted, needed), for
/// payments seen but not yet confirmed.
pub(super) fn confirming(transfers: &[TransferRow], needed: i64) -> Option<(i64, i64)> {
    transfers
        .iter()
        .filter(|t| t.state == TransferState::Seen)
        .map(|t| t.confirmations.min(needed))
        .min()
        .map(|n| (n, needed))
}

/// Confirmations a payment needs before it counts: the operator's rule for the network
/// (`chains.<network>.confirmations`); test invoices are confirmed by the simulator in one
/// step.
pub(super) fn confirmations_needed(st: &AppState, crypto: &Crypto, test: bool) -> i64 {
    if test {
        return 1;
    }
    st.chains
        .get(crypto.network)
        .map_or(1, |c| i64::from(c.confirmations))
}

/// A short fingerprint of everything the page shows that payments or the merchant change.
pub(super) fn fingerprint(row: &InvoiceRow, transfers: &[TransferRow], phase: Phase) -> String {
    let mut h = Sha256::new();
    let _ = write!(
        HashWriter(&mut h),
        "{}|{:?}|{}|{}|{}|{:?}|{:?}|{}|{:?}",
        row.status.as_str(),
        row.confirmed.map(|c| c.as_str()),
        row.paid_late,
        row.received.base(),
        row.processing.base(),
        row.currency,
        phase,
        row.email.is_empty(),
        transfers
            .iter()
            .map(|t| (t.state.as_str(), t.confirmations))
            .collect::<Vec<_>>(),
    );
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}
