//! Secrets of drives that sign in with access keys, in the OS secret store (`pail-keystore`:
//! Credential Manager on Windows, the Secret Service on Linux), as the entry `drive:<name>`;
//! where no store is reachable, a 0600 file in `secrets/` beside the drives file.
//!
//! Versions before the store kept them in `secrets/<name with . and others as _>.secret`, so
//! `a.b` and `a_b` shared one; such a file is moved into the store the first time it is read.

use std::path::{Path, PathBuf};

use pail_keystore::{KeyStore, KeyStoreError};

use crate::file::DrivesError;

/// The secret store of the drives file at `drives_file` (its fallback folder beside it).
pub fn key_store(drives_file: &Path) -> KeyStore {
    KeyStore::new(drives_file.parent().unwrap_or(Path::new(".")).join("secrets"))
}

fn entry(drive: &str) -> String {
    format!("drive:{drive}")
}

/// Where versions before the secret store kept `drive`'s secret.
fn legacy_path(drives_file: &Path, drive: &str) -> PathBuf {
    let safe: String = drive
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    drives_file
        .parent()
        .unwrap_or(Path::new("."))
        .join("secrets")
        .join(format!("{safe}.secret"))
}

fn store_error(drive: &str, e: KeyStoreError) -> DrivesError {
    DrivesError::Secret {
        name: drive.to_owned(),
        message: e.to_string(),
    }
}

/// Stores the secret access key of `drive`.
pub fn store_secret(drives_file: &Path, drive: &str, secret: &str) -> Result<(), DrivesError> {
    key_store(drives_file)
        .set(&entry(drive), secret)
        .map(drop)
        .map_err(|e| store_error(drive, e))
}

/// The stored secret of `drive`.
pub fn load_secret(drives_file: &Path, drive: &str) -> Result<String, DrivesError> {
    let store = key_store(drives_file);
    if let Some(s) = store.get(&entry(drive)).map_err(|e| store_error(drive, e))? {
        return Ok(s.as_str().to_owned());
    }
    let legacy = legacy_path(drives_file, drive);
    match std::fs::read_to_string(&legacy) {
        Ok(s) => {
            let secret = s.trim_end().to_owned();
            store.set(&entry(drive), &secret).map_err(|e| store_error(drive, e))?;
            let _ = std::fs::remove_file(&legacy);
            tracing::info!(drive, "a drive's secret moved from its old file into the secret store");
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DrivesError::Secret {
            name: drive.to_owned(),
            message: "no secret access key is stored for it".into(),
        }),
        Err(source) => Err(DrivesError::Io { path: legacy, source }),
    }
}

/// Forgets the secret of `drive` (no error when there was none).
pub fn remove_secret(drives_file: &Path, drive: &str) {
    if let Err(e) = key_store(drives_file).delete(&entry(drive)) {
        tracing::warn!(drive, error = %e, "could not remove a drive's secret");
    }
    let _ = std::fs::remove_file(legacy_path(drives_file, drive));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file fallback stands in for the system store (`PAIL_SECRET_STORE=file` in CI's
    /// environment is not assumed: the store is chosen per call here).
    #[test]
    fn an_old_secret_file_moves_to_the_store_and_look_alike_names_stay_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let drives = dir.path().join("drives.toml");
        std::fs::create_dir_all(dir.path().join("secrets")).expect("dir");
        std::fs::write(legacy_path(&drives, "a.b"), "old secret\n").expect("legacy");
        assert_eq!(load_secret(&drives, "a.b").expect("migrated"), "old secret");
        assert!(!legacy_path(&drives, "a.b").exists(), "the old file is gone");
        store_secret(&drives, "a_b", "other").expect("store");
        assert_eq!(load_secret(&drives, "a.b").expect("kept"), "old secret");
        assert_eq!(load_secret(&drives, "a_b").expect("kept"), "other");
        remove_secret(&drives, "a.b");
        assert!(load_secret(&drives, "a.b").is_err());
        assert_eq!(load_secret(&drives, "a_b").expect("still there"), "other");
        remove_secret(&drives, "a_b");
    }
}
