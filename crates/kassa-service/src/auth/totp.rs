//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of
//! clock skew either way) and recovery codes.
//!
//! A code is accepted at most once: the matched time step must be later than the last step
//! accepted for the user, which the store checks and records atomically.

use totp_rs::{Algorithm, Builder, Totp};

use kassa_core::Timestamp;

/// Bytes of a TOTP secret (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;
/// Recovery codes issued at a time.
pub const RECOVERY_CODES: usize = 10;

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let bytes: [u8; SECRET_LEN] = rand::random();
    bytes.to_vec()
}

fn totp(secret: &[u8], account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_issuer(Some("Kassa"))
        .with_account_name(account.replace(':', ""))
        .build()
        .ok()
}

/// The secret as people type it into an authenticator app: base32, in groups of four.
pub fn manual_key(secret: &[u8]) -> String {
    let b32 = data_encoding::BASE32_NOPAD.encode(secret);
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `otpauth://` URI authenticator apps scan.
pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
    totp(secret, account)
        .and_then(|t| t.to_url().ok())
        .unwrap_or_default()
}

/// The time step of `code` if it is valid at `now` (within one step either way).
pub fn check(secret: &[u8], code: &str, now: Timestamp) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = u64::try_from(now.as_secs()).ok()?;
    let step = totp(secret, "x")?.check(&code, secs)?;
    i64::try_from(step).ok()
}

/// The code for `now` (tests and the set-up page's self-check use it).
pub fn code_at(secret: &[u8], now: Timestamp) -> String {
    let secs = u64::try_from(now.as_secs()).unwrap_or(0);
    totp(secret, "x")
        .map(|t| t.generate(secs).to_string())
        .unwrap_or_default()
}

const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// New recovery codes, formatted `xxxx-xxxx-xxxx-xxxx` (about 78 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: Vec<char> = (0..16)
                .map(|_| {
                    char::from(RECOVERY_ALPHABET[rand::random_range(0..RECOVERY_ALPHABET.len())])
                })
                .collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// Whether input looks like a recovery code rather than a 6-digit TOTP code.
pub fn looks_like_recovery_code(input: &str) -> bool {
    normalise_recovery_code(input).len() == 16
}

fn normalise_recovery_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The stored form of a recovery code: SHA-256 of the normalised code, bound to the user.
pub fn hash_recovery_code(user_id: i64, code: &str) -> String {
    super::token::hash(&format!(
        "kassa recovery code\0{user_id}\0{}",
        normalise_recovery_code(code)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, truncated to 6 digits.
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (secs, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            let now = Timestamp::from_micros(secs * 1_000_000);
            assert_eq!(code_at(secret, now), code, "at {secs}");
            assert_eq!(check(secret, code, now), Some(secs / 30));
        }
    }

    #[test]
    fn skew_is_one_step_either_way() {
        let secret = new_secret();
        let now = Timestamp::from_micros(1_800_000_000 * 1_000_000);
        let code = code_at(&secret, now);
        let at = |d: i64| Timestamp::from_micros(now.as_micros() + d * 1_000_000);
        assert!(check(&secret, &code, at(30)).is_some());
        assert!(check(&secret, &code, at(-30)).is_some());
        assert!(check(&secret, &code, at(90)).is_none());
        assert!(check(&secret, "12345", now).is_none());
        assert!(check(&secret, "abcdef", now).is_none());
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(check(&secret, &spaced, now).is_some());
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalised() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let c = &codes[0];
        assert_eq!(c.len(), 19);
        assert!(looks_like_recovery_code(c));
        assert!(!looks_like_recovery_code("123456"));
        assert_eq!(
            hash_recovery_code(1, c),
            hash_recovery_code(1, &c.to_uppercase().replace('-', " "))
        );
        assert_ne!(hash_recovery_code(1, c), hash_recovery_code(2, c));
    }

    #[test]
    fn enrolment_material() {
        let secret = new_secret();
        let uri = otpauth_uri(&secret, "merchant@example.com");
        assert!(
            uri.starts_with("otpauth://totp/Kassa:merchant%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!(
            "secret={}",
            data_encoding::BASE32_NOPAD.encode(&secret)
        )));
        assert_eq!(
            manual_key(&secret).replace(' ', ""),
            data_encoding::BASE32_NOPAD.encode(&secret)
        );
    }
}
