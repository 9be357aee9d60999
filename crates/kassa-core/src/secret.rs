//! Secrets: values that must never be printed, and sealing of secrets at rest.
//!
//! Every secret Kassa stores (wallet seeds, TOTP secrets, postback secret keys, SMTP and
//! Telegram credentials) goes through [`Keyring::seal`] with XChaCha20-Poly1305 under the
//! operator's master key. A sealed value names the key that sealed it, so the master key can
//! be rotated: the keyring holds the active key plus retired ones that can still open old
//! values. The associated data binds a sealed value to its purpose and owner (for example
//! `"totp:user:42"`), so a value copied into another row does not open.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::TryRngCore;
use sha2::{Digest, Sha256};

/// A string that is redacted in `Debug` and `Display`. Read it with [`SecretString::expose`].
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself. Call sites of this are the places to audit.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (not configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "" } else { "[redacted]" })
    }
}

/// Length of a master key in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const VERSION: &str = "v1";

/// One 256-bit master key with its derived id.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    bytes: [u8; KEY_LEN],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Generates a fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| KeyError::NoRandomness)?;
        Ok(Self::from_bytes(bytes))
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        // The id is a short fingerprint: it tells which key sealed a value without revealing
        // anything usable about the key.
        let digest = Sha256::new_with_prefix(b"kassa master key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        Self { id, bytes }
    }

    /// Parses the standard base64 text form (44 characters).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let raw = STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Malformed)?;
        let bytes: [u8; KEY_LEN] = raw.try_into().map_err(|_| KeyError::Malformed)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The base64 text form, for writing the key file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// The key's id: 8 hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Why a key or a keyring could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not 32 bytes of standard base64.
    #[error("a master key must be 32 bytes written as standard base64 (44 characters)")]
    Malformed,
    /// The keyring text holds no key.
    #[error("no master key given")]
    Empty,
    /// The OS would not provide randomness.
    #[error("the operating system's random source is unavailable")]
    NoRandomness,
}

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Not in the `v1:<key id>:<data>` format.
    #[error("sealed value is malformed")]
    Malformed,
    /// Sealed under a key this keyring does not hold.
    #[error("sealed with master key {0}, which is not configured")]
    UnknownKey(String),
    /// Tampered with, or opened with the wrong associated data.
    #[error("sealed value failed authentication")]
    Forged,
}

/// The active master key plus retired keys that can still open old values.
#[derive(Clone, Debug)]
pub struct Keyring {
    /// Newest last; the last one seals.
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// Builds a keyring; the last key is the active one.
    pub fn new(keys: Vec<MasterKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// Parses the text form: base64 keys separated by newlines or commas, oldest first.
    /// Blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let keys = text
            .split(['\n', ','])
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(MasterKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The text form (one key per line, oldest first), for the key file.
    pub fn to_text(&self) -> String {
        self.keys.iter().map(|k| k.to_base64() + "\n").collect()
    }

    /// The key that seals new values.
    pub fn active(&self) -> &MasterKey {
        // `new` guarantees at least one key.
        &self.keys[self.keys.len() - 1]
    }

    /// Adds a new active key; older keys stay for opening existing values.
    pub fn rotate(&mut self, key: MasterKey) {
        self.keys.push(key);
    }

    /// Seals `plaintext`, bound to `context` (associated data).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let key = self.active();
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce[..]);
        let cipher = XChaCha20Poly1305::new(&key.bytes.into());
        let aad = Self::aad(&key.id, context);
        // Encryption with a valid key and nonce cannot fail for inputs under 256 GiB.
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut data = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&ciphertext);
        format!("{VERSION}:{}:{}", key.id, URL_SAFE_NO_PAD.encode(data))
    }

    /// Opens a value sealed by [`Keyring::seal`] with the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(VERSION), Some(kid), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or_else(|| OpenError::UnknownKey(kid.to_owned()))?;
        let data = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| OpenError::Malformed)?;
        if data.len() < NONCE_LEN + 16 {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = data.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new(&key.bytes.into());
        let aad = Self::aad(&key.id, context);
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Forged)
    }

    /// A 256-bit key for `purpose` (e.g. `"csrf"`), derived from the active master key, for
    /// MACs that need a server secret but no storage. It changes when the master key rotates.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        Sha256::new_with_prefix(b"kassa derived key\0")
            .chain_update(self.active().bytes)
            .chain_update(purpose.as_bytes())
            .finalize()
            .into()
    }

    /// Whether `sealed` was sealed by a key other than the active one (so it needs re-sealing
    /// after a rotation).
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed.split(':').nth(1) != Some(self.active().id.as_str())
    }

    fn aad(key_id: &str, context: &str) -> Vec<u8> {
        [
            VERSION.as_bytes(),
            b"\0",
            key_id.as_bytes(),
            b"\0",
            context.as_bytes(),
        ]
        .concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring() -> Keyring {
        Keyring::new(vec![MasterKey::from_bytes([7; 32])]).unwrap()
    }

    #[test]
    fn round_trip_and_context_binding() {
        let k = ring();
        let sealed = k.seal("totp:user:1", b"JBSWY3DPEHPK3PXP");
        assert!(sealed.starts_with(&format!("v1:{}:", k.active().id())));
        assert_eq!(k.open("totp:user:1", &sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        assert_eq!(k.open("totp:user:2", &sealed), Err(OpenError::Forged));
        // Two seals of the same value differ (random nonce).
        assert_ne!(sealed, k.seal("totp:user:1", b"JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn tampering_is_detected() {
        let k = ring();
        let sealed = k.seal("c", b"secret");
        let (prefix, data) = sealed.rsplit_once(':').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(data).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 0x01;
            let tampered = format!("{prefix}:{}", URL_SAFE_NO_PAD.encode(&raw));
            assert_eq!(
                k.open("c", &tampered),
                Err(OpenError::Forged),
                "flipped byte {i}"
            );
            raw[i] ^= 0x01;
        }
        assert_eq!(k.open("c", "v1:zz"), Err(OpenError::Malformed));
        assert_eq!(k.open("c", "v2:00000000:AAAA"), Err(OpenError::Malformed));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let mut k = ring();
        let old = k.seal("c", b"before");
        k.rotate(MasterKey::from_bytes([9; 32]));
        assert!(k.is_stale(&old));
        assert_eq!(k.open("c", &old).unwrap(), b"before");
        let new = k.seal("c", b"after");
        assert!(!k.is_stale(&new));
        // A keyring without the old key names the missing key.
        let only_new = Keyring::new(vec![MasterKey::from_bytes([9; 32])]).unwrap();
        assert_eq!(
            only_new.open("c", &old),
            Err(OpenError::UnknownKey(ring().active().id().to_owned()))
        );
        // The text form round-trips, order preserved.
        let reparsed = Keyring::parse(&k.to_text()).unwrap();
        assert_eq!(reparsed.active().id(), k.active().id());
        assert_eq!(reparsed.open("c", &old).unwrap(), b"before");
    }

    #[test]
    fn parse_rejects_bad_keys() {
        assert_eq!(Keyring::parse("").unwrap_err(), KeyError::Empty);
        assert_eq!(
            Keyring::parse("# only a comment\n").unwrap_err(),
            KeyError::Empty
        );
        assert_eq!(
            Keyring::parse("not base64!").unwrap_err(),
            KeyError::Malformed
        );
        assert_eq!(Keyring::parse("AAAA").unwrap_err(), KeyError::Malformed);
        let generated = MasterKey::generate().unwrap();
        assert_eq!(
            Keyring::parse(&generated.to_base64())
                .unwrap()
                .active()
                .id(),
            generated.id()
        );
    }

    #[test]
    fn secret_string_never_prints() {
        let s = SecretString::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "\"[redacted]\" [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    proptest! {
        #[test]
        fn any_plaintext_round_trips(msg in proptest::collection::vec(any::<u8>(), 0..512), ctx in ".{0,40}") {
            let k = ring();
            let sealed = k.seal(&ctx, &msg);
            prop_assert_eq!(k.open(&ctx, &sealed).unwrap(), msg);
        }
    }
}
