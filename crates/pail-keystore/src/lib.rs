//! pail-keystore: the secrets pail keeps for its user (drives' secret access keys, caches'
//! encryption keys) in the OS secret store: Credential Manager on Windows, the Secret Service
//! (GNOME Keyring, KWallet) on Linux, through keyring-core and its store crates.
//!
//! Where no secret store is reachable (a server without a desktop session, a container), a
//! secret goes to a 0600 file in a 0700 folder beside the drives file instead, with a one-line
//! warning that says so. A store that is there but locked is an error that says to unlock it:
//! a secret is never written in a file behind the user's back when they have a store.
//!
//! `PAIL_SECRET_STORE=file` uses the file alone (for machines whose store cannot be unlocked
//! without a desktop); `PAIL_SECRET_STORE=system` refuses the file fallback.
//!
//! Names: every secret is the entry (`pail`, name) in the store, or `<hex of name>.secret` in
//! the folder (a hash of the name), so two names never share a secret (`a.b` and `a_b` stay
//! apart).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use keyring_core::{CredentialStore, Entry};
use zeroize::Zeroizing;

/// The service name of pail's entries in the OS store.
pub const SERVICE: &str = "pail";

/// Why a secret could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// The system's store is there but locked.
    #[error(
        "the system's secret store is locked ({0}): unlock it (sign in to the desktop session, or unlock the \"login\" keyring) and try again"
    )]
    Locked(String),
    /// No store is reachable and the file fallback is refused (`PAIL_SECRET_STORE=system`).
    #[error(
        "no system secret store is reachable ({0}): start one (GNOME Keyring, KWallet), or unset PAIL_SECRET_STORE"
    )]
    Unavailable(String),
    /// The store failed otherwise.
    #[error("the system's secret store failed: {0}")]
    Platform(String),
    /// The fallback file could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The fallback file is readable by others: it is not trusted, nor used.
    #[error(
        "{} is readable by other users (mode {mode:o}): it is not used; make it private (chmod 600) or store the secret again",
        path.display()
    )]
    NotPrivate {
        /// The file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
}

/// Where a secret was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// The OS secret store.
    System,
    /// The fallback file.
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The system store, else the file.
    Auto,
    File,
    System,
}

/// pail's secrets of one user.
pub struct KeyStore {
    dir: PathBuf,
    mode: Mode,
    system: OnceLock<Result<Arc<CredentialStore>, String>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("dir", &self.dir)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

fn store_error(e: keyring_core::Error) -> KeyStoreError {
    match e {
        keyring_core::Error::NoStorageAccess(p) => KeyStoreError::Locked(p.to_string()),
        other => KeyStoreError::Platform(other.to_string()),
    }
}

impl KeyStore {
    /// The user's store, with `dir` (0700, created when needed) as the fallback folder.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let mode = match std::env::var("PAIL_SECRET_STORE").as_deref() {
            Ok("file") => Mode::File,
            Ok("system") => Mode::System,
            _ => Mode::Auto,
        };
        Self {
            dir: dir.into(),
            mode,
            system: OnceLock::new(),
        }
    }

    /// The OS store, or why there is none.
    fn system(&self) -> Result<&Arc<CredentialStore>, &str> {
        if self.mode == Mode::File {
            return Err("PAIL_SECRET_STORE=file");
        }
        self.system.get_or_init(open_system).as_ref().map_err(String::as_str)
    }

    fn entry(&self, store: &Arc<CredentialStore>, name: &str) -> Result<Entry, KeyStoreError> {
        Entry::new_in_store(store, SERVICE, name).map_err(store_error)
    }

    /// The fallback file of `name`.
    pub fn file_path(&self, name: &str) -> PathBuf {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(name.as_bytes());
        self.dir.join(format!("{}.secret", hex::encode(&digest[..16])))
    }

    /// Keeps `secret` as `name`, replacing what was there.
    pub fn set(&self, name: &str, secret: &str) -> Result<Kept, KeyStoreError> {
        match self.system() {
            Ok(store) => {
                self.entry(store, name)?.set_password(secret).map_err(store_error)?;
                // An older copy in the file must not outlive the one in the store.
                let _ = std::fs::remove_file(self.file_path(name));
                Ok(Kept::System)
            }
            Err(why) if self.mode == Mode::System => Err(KeyStoreError::Unavailable(why.to_owned())),
            Err(why) => {
                let path = self.file_path(name);
                write_private(&path, secret.as_bytes())?;
                if self.mode == Mode::Auto {
                    tracing::warn!(
                        "no system secret store is reachable ({why}); the secret is kept in {}, readable only by you",
                        path.display()
                    );
                }
                Ok(Kept::File(path))
            }
        }
    }

    /// The secret kept as `name`, if any.
    pub fn get(&self, name: &str) -> Result<Option<Zeroizing<String>>, KeyStoreError> {
        if let Ok(store) = self.system() {
            match self.entry(store, name)?.get_password() {
                Ok(s) => return Ok(Some(Zeroizing::new(s))),
                Err(keyring_core::Error::NoEntry) => {}
                Err(e) => return Err(store_error(e)),
            }
        } else if self.mode == Mode::System {
            return Err(KeyStoreError::Unavailable("PAIL_SECRET_STORE=system".into()));
        }
        read_private(&self.file_path(name))
    }

    /// Forgets `name` wherever it was kept (no error when it was nowhere).
    pub fn delete(&self, name: &str) -> Result<(), KeyStoreError> {
        if let Ok(store) = self.system() {
            match self.entry(store, name)?.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        let path = self.file_path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(KeyStoreError::Io { path, source }),
        }
    }
}

#[cfg(target_os = "linux")]
fn open_system() -> Result<Arc<CredentialStore>, String> {
    // Without a session bus there is no Secret Service; asking would only wait.
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        && !std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists())
    {
        return Err("no D-Bus session bus".into());
    }
    let store = zbus_secret_service_keyring_store::Store::new().map_err(|e| e.to_string())?;
    let store: Arc<CredentialStore> = store;
    // A bus without a Secret Service answers only when asked: ask once, for nothing.
    match Entry::new_in_store(&store, SERVICE, "pail-probe").and_then(|e| e.get_password()) {
        Ok(_) | Err(keyring_core::Error::NoEntry) | Err(keyring_core::Error::NoStorageAccess(_)) => Ok(store),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(windows)]
fn open_system() -> Result<Arc<CredentialStore>, String> {
    // Entries are generic credentials named `<name>.pail` in Credential Manager.
    let store = windows_native_keyring_store::Store::new().map_err(|e| e.to_string())?;
    let store: Arc<CredentialStore> = store;
    Ok(store)
}

#[cfg(not(any(target_os = "linux", windows)))]
fn open_system() -> Result<Arc<CredentialStore>, String> {
    Err("no secret store is supported on this system".into())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyStoreError + '_ {
    move |source| KeyStoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `data` to `path` through a private temporary file renamed into place.
fn write_private(path: &Path, data: &[u8]) -> Result<(), KeyStoreError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_err(dir))?;
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// The secret in `path`, if it exists and only the user can read it.
fn read_private(path: &Path) -> Result<Option<Zeroizing<String>>, KeyStoreError> {
    let data = match std::fs::read(path) {
        Ok(d) => Zeroizing::new(d),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io_err(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyStoreError::NotPrivate {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let text = String::from_utf8(data.to_vec()).map_err(|e| io_err(path)(std::io::Error::other(e)))?;
    Ok(Some(Zeroizing::new(text.trim_end().to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_store(dir: &Path) -> KeyStore {
        KeyStore {
            dir: dir.to_path_buf(),
            mode: Mode::File,
            system: OnceLock::new(),
        }
    }

    #[test]
    fn names_that_look_alike_keep_their_own_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = file_store(&dir.path().join("secrets"));
        assert!(matches!(ks.set("drive:a.b", "one").expect("set"), Kept::File(_)));
        ks.set("drive:a_b", "two").expect("set");
        assert_eq!(
            ks.get("drive:a.b").expect("get").as_deref().map(String::as_str),
            Some("one")
        );
        assert_eq!(
            ks.get("drive:a_b").expect("get").as_deref().map(String::as_str),
            Some("two")
        );
        ks.delete("drive:a.b").expect("delete");
        assert!(ks.get("drive:a.b").expect("get").is_none());
        assert!(ks.get("drive:a_b").expect("get").is_some());
    }

    #[cfg(unix)]
    #[test]
    fn the_fallback_file_is_private_and_a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let ks = file_store(&dir.path().join("secrets"));
        ks.set("cache:x", "k").expect("set");
        let path = ks.file_path("cache:x");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("secrets")), 0o700);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = ks.get("cache:x").expect_err("readable by others");
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }
}
