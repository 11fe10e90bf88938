//! Secrets of drives that sign in with access keys. On Linux and macOS: one file per drive
//! under `<config dir>/pail/secrets/`, mode 0600 in a 0700 directory. Windows (Credential
//! Manager) comes with the settings app; until then this store refuses there rather than
//! writing a secret in the clear.

use std::path::{Path, PathBuf};

use crate::file::DrivesError;

fn secret_path(drives_file: &Path, drive: &str) -> PathBuf {
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

/// Stores the secret access key of `drive` beside the drives file at `drives_file`.
pub fn store_secret(drives_file: &Path, drive: &str, secret: &str) -> Result<(), DrivesError> {
    let path = secret_path(drives_file, drive);
    let io = |source| DrivesError::Io {
        path: path.clone(),
        source,
    };
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        let tmp = dir.join(format!(".{}.tmp", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(secret.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
    #[cfg(not(unix))]
    {
        let _ = secret;
        Err(io(std::io::Error::other(
            "storing access keys needs the Windows Credential Manager, which this build lacks; use an AWS profile",
        )))
    }
}

/// The stored secret of `drive`.
pub fn load_secret(drives_file: &Path, drive: &str) -> Result<String, DrivesError> {
    let path = secret_path(drives_file, drive);
    std::fs::read_to_string(&path)
        .map(|s| s.trim_end().to_owned())
        .map_err(|source| DrivesError::Io { path, source })
}

/// Forgets the secret of `drive` (no error when there was none).
pub fn remove_secret(drives_file: &Path, drive: &str) {
    let _ = std::fs::remove_file(secret_path(drives_file, drive));
}
