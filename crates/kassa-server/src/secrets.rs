//! The master keyring: from `secrets.master_key` when set, otherwise from the key file in the
//! data folder, which is created (mode 0600) with a fresh key on first start.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use kassa_core::secret::{Keyring, MasterKey};

use crate::config::{ConfigError, Settings};

/// Loads the keyring, creating the key file if needed.
pub fn load_or_create(settings: &Settings) -> Result<Keyring, ConfigError> {
    if !settings.secrets.master_key.is_empty() {
        return Keyring::parse(settings.secrets.master_key.expose())
            .map_err(|e| ConfigError::option("secrets.master_key", e.to_string()));
    }
    let path = settings.master_key_file();
    match fs::read_to_string(&path) {
        Ok(text) => {
            check_permissions(&path)?;
            Keyring::parse(&text).map_err(|e| key_file_error(&path, &e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate().map_err(|e| key_file_error(&path, &e.to_string()))?;
            let ring =
                Keyring::new(vec![key]).map_err(|e| key_file_error(&path, &e.to_string()))?;
            write_new(&path, &ring.to_text())?;
            tracing::info!(file = %path.display(), "generated a new master key; back this file up with the database");
            Ok(ring)
        }
        Err(e) => Err(key_file_error(&path, &format!("cannot read it: {e}"))),
    }
}

/// Writes the keyring to the key file, replacing it atomically (for rotation).
pub fn save(settings: &Settings, ring: &Keyring) -> Result<(), ConfigError> {
    let path = settings.master_key_file();
    let tmp = path.with_extension("key.new");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, &ring.to_text())?;
    fs::rename(&tmp, &path).map_err(|e| key_file_error(&path, &format!("cannot replace it: {e}")))
}

fn write_new(path: &Path, text: &str) -> Result<(), ConfigError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| key_file_error(path, &format!("cannot create it: {e}")))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| key_file_error(path, &format!("cannot write it: {e}")))
}

fn check_permissions(path: &Path) -> Result<(), ConfigError> {
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0);
    if mode & 0o077 != 0 {
        return Err(key_file_error(
            path,
            &format!(
                "is readable by other users (mode {:o}); run: chmod 600 {}",
                mode & 0o777,
                path.display()
            ),
        ));
    }
    Ok(())
}

fn key_file_error(path: &Path, message: &str) -> ConfigError {
    ConfigError::option(
        "secrets.master_key",
        format!("master key file {}: {message}", path.display()),
    )
}
