//! Device cookies (OWASP's answer to account lockout used as a weapon): after a full sign-in,
//! the browser gets a signed cookie naming the account it signed in to. While a stranger's
//! wrong passwords lock that account, a browser presenting such a cookie for it is judged by
//! its own failure count instead, so the owner keeps signing in — still with the password and
//! the second factor. The cookie holds no secret of the account: the hash of the address the
//! rate limits already use, a random nonce and an HMAC under a key derived from the master key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use kassa_core::secret::Keyring;
use sha2::Sha256;

use super::token::constant_time_eq;

/// The cookie's base name.
pub const COOKIE: &str = "kassa_device";
/// How long a browser stays trusted after its last full sign-in.
pub const MAX_AGE_SECS: u64 = 180 * 24 * 3600;

fn mac(keyring: &Keyring, account_key: &str, nonce: &str) -> String {
    let key = keyring.derive_key("device cookie");
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&key) else {
        // HMAC takes keys of any length.
        return String::new();
    };
    mac.update(account_key.as_bytes());
    mac.update(b"\0");
    mac.update(nonce.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A new cookie value for the account whose rate-limit key is `account_key`
/// ([`super::limits::email_key`]).
pub fn issue(keyring: &Keyring, account_key: &str) -> String {
    let nonce = data_encoding::HEXLOWER.encode(&rand::random::<[u8; 12]>());
    let mac = mac(keyring, account_key, &nonce);
    format!("{account_key}.{nonce}.{mac}")
}

/// The nonce of `cookie` when it is a genuine device cookie for `account_key`; the nonce keys
/// the device's own failure count.
pub fn trusted_for(keyring: &Keyring, cookie: &str, account_key: &str) -> Option<String> {
    if cookie.len() > 200 {
        return None;
    }
    let mut parts = cookie.split('.');
    let (key, nonce, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || key != account_key || nonce.is_empty() {
        return None;
    }
    constant_time_eq(tag.as_bytes(), mac(keyring, key, nonce).as_bytes()).then(|| nonce.to_owned())
}

#[cfg(test)]
mod tests {
    use kassa_core::secret::MasterKey;

    use super::*;

    fn keyring(byte: u8) -> Keyring {
        Keyring::new(vec![MasterKey::from_bytes([byte; 32])]).unwrap()
    }

    #[test]
    fn only_genuine_cookies_for_the_same_account_are_trusted() {
        let k = keyring(7);
        let c = issue(&k, "acct");
        let nonce = trusted_for(&k, &c, "acct").unwrap();
        assert!(c.contains(&nonce));
        assert_eq!(trusted_for(&k, &c, "other"), None);
        assert_eq!(trusted_for(&keyring(8), &c, "acct"), None);
        let forged = format!("acct.{nonce}x.{}", c.rsplit('.').next().unwrap());
        assert_eq!(trusted_for(&k, &forged, "acct"), None);
        assert_eq!(trusted_for(&k, "acct..", "acct"), None);
        assert_eq!(trusted_for(&k, &format!("{c}.x"), "acct"), None);
        assert_ne!(issue(&k, "acct"), c, "every sign-in gets a new nonce");
    }
}
