//! Password hashing with argon2id (19 MiB, t=2, p=1: the OWASP/ASVS minimum). Hashing is
//! CPU- and memory-heavy, so it runs on blocking threads, at most one per core at a time: a
//! burst of sign-in attempts queues here instead of starving the payment API.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    slots: Arc<Semaphore>,
    /// A hash of a random password, verified when the account does not exist so that an
    /// unknown e-mail takes as long to refuse as a wrong password.
    dummy: Arc<str>,
}

/// Hashing failed (out of memory, no randomness): an internal error.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Passwords {
    /// A hasher allowing `parallel` hashes at once.
    pub fn new(parallel: usize) -> Result<Self, HashError> {
        let random: [u8; 16] = rand::random();
        let dummy = hash_blocking(&data_encoding::HEXLOWER.encode(&random))?;
        Ok(Self {
            slots: Arc::new(Semaphore::new(parallel.max(1))),
            dummy: dummy.into(),
        })
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| HashError(e.to_string()))?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|e| HashError(e.to_string()))?
    }

    /// Whether `password` matches `hash`. With `None` (no account, or no password set yet) a
    /// dummy hash is checked so the answer takes the same time, and is always false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let Ok(_slot) = self.slots.acquire().await else {
            return false;
        };
        let (target, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy.to_string(), false),
        };
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&target).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        ok && real
    }
}

fn hash_blocking(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_the_required_parameters_and_verifies() {
        let p = Passwords::new(1).unwrap();
        let h = p.hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(p.verify("correct horse battery", Some(&h)).await);
        assert!(!p.verify("correct horse batterY", Some(&h)).await);
        assert!(!p.verify("anything", None).await);
        assert!(!p.verify("anything", Some("not a hash")).await);
    }
}
