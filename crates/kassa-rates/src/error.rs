//! Why a rate could not be given or a source could not be read.

/// An exchange-rate failure. Cheap to clone and compare: it carries text, not the underlying
/// HTTP error, because a lookup failure can be returned thousands of times a second.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// Not an asset Kassa knows (neither a crypto symbol nor one of the fiat codes).
    #[error("unknown asset {asset:?}")]
    UnknownAsset {
        /// What was asked for.
        asset: String,
    },
    /// No configured source has ever reported this asset.
    #[error("no exchange rate for {asset}: no source has reported it")]
    Unavailable {
        /// The asset.
        asset: &'static str,
    },
    /// Sources reported this asset, but every quote is older than the staleness limit.
    #[error(
        "no fresh exchange rate for {asset}: the newest quote is {age_secs} s old (limit {max_age_secs} s)"
    )]
    Stale {
        /// The asset.
        asset: &'static str,
        /// Age of the newest quote any source has for it, in seconds.
        age_secs: u64,
        /// The staleness limit, in seconds.
        max_age_secs: u64,
    },
    /// A source could not be reached or did not answer in time.
    #[error("{provider}: request failed: {message}")]
    Request {
        /// The source.
        provider: &'static str,
        /// What went wrong (connection refused, timed out, …).
        message: String,
    },
    /// A source answered with an HTTP error status.
    #[error("{provider}: HTTP status {status}")]
    Status {
        /// The source.
        provider: &'static str,
        /// The status code.
        status: u16,
    },
    /// A source answered with something that is not its documented format, or with no usable
    /// price.
    #[error("{provider}: unexpected response: {message}")]
    Malformed {
        /// The source.
        provider: &'static str,
        /// What was wrong with it.
        message: String,
    },
    /// A conversion overflowed the decimal range.
    #[error("converting {from} to {to} overflows")]
    Overflow {
        /// The asset converted from.
        from: &'static str,
        /// The asset converted to.
        to: &'static str,
    },
}
