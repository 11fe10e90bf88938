//! What `pail mount`, `pail unmount` and `pail status` share across processes: a registry of
//! running mounts (one small JSON file per mount in the user's runtime directory) and each
//! mount's status file in its cache directory, rewritten as uploads progress.
//!
//! A `stop-now` file in the cache directory asks a draining mount to exit at once, leaving what
//! is pending in its journal (`pail unmount --force`).

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Result;
pub use pail_drives::format_size as human;
use pail_drives::percent;
use pail_fs::WritebackStatus;
use serde::{Deserialize, Serialize};

/// One running mount.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountRecord {
    /// The serving process.
    pub pid: u32,
    /// Where the drive is mounted.
    pub dir: PathBuf,
    /// Its cache directory (staging, journal, status).
    pub cache_dir: PathBuf,
    /// `s3://bucket/prefix`.
    pub target: String,
}

/// A mount's status, as its process last wrote it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatusFile {
    /// `mounted`, `uploading` (unmounted, finishing uploads) or `stopped`.
    pub state: String,
    /// What write-back reported.
    #[serde(flatten)]
    pub writeback: WritebackStatus,
    /// The IAM Identity Center sign-in, for SSO profiles.
    #[serde(default)]
    pub auth: Option<pail_auth::AuthStatus>,
}

impl StatusFile {
    pub fn new(state: &str, s: &WritebackStatus) -> Self {
        Self {
            state: state.to_owned(),
            writeback: s.clone(),
            auth: None,
        }
    }
}

/// `$XDG_RUNTIME_DIR/pail/mounts`, else a per-user directory under the temporary directory.
/// Both levels are created private and must be this user's own: in a shared `/tmp` another user
/// could otherwise plant a symbolic link, or mount records whose status `pail status` shows.
fn registry_dir() -> io::Result<PathBuf> {
    let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("pail"),
        None => std::env::temp_dir().join(format!("pail-{}", user_name())),
    };
    let dir = base.join("mounts");
    private_dir(&base)?;
    private_dir(&dir)?;
    Ok(dir)
}

/// Creates `dir` (0700) if missing; refuses it unless it is a folder (not a link) owned by
/// this user, and closes it to others if an older version left it open.
#[cfg(unix)]
fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let m = std::fs::symlink_metadata(dir)?;
    let me = pail_fuse::process_owner().0;
    if !m.file_type().is_dir() || m.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a folder of this user's (owner uid {}, not {me}); remove it, or set XDG_RUNTIME_DIR",
                dir.display(),
                m.uid()
            ),
        ));
    }
    if m.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn record_path(dir: &Path) -> io::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canonical.hash(&mut h);
    Ok(registry_dir()?.join(format!("{:016x}.json", h.finish())))
}

/// Writes `data` to `path` through a new private temporary file (never through a file or link
/// that was there) renamed into place.
fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&tmp)?.write_all(data)?;
    std::fs::rename(tmp, path)
}

/// Records a running mount; returns the record's path for [`unregister`].
pub fn register(rec: &MountRecord) -> io::Result<PathBuf> {
    let path = record_path(&rec.dir)?;
    write_atomically(&path, &serde_json::to_vec(rec).map_err(io::Error::other)?)?;
    Ok(path)
}

/// Removes a mount's record.
pub fn unregister(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Who runs this process, for a per-user registry directory.
#[cfg(unix)]
fn user_name() -> String {
    pail_fuse::process_owner().0.to_string()
}

/// Who runs this process, for a per-user registry directory.
#[cfg(not(unix))]
fn user_name() -> String {
    std::env::var("USERNAME").unwrap_or_else(|_| "user".to_owned())
}

/// Whether the mount `rec` describes still runs.
#[cfg(unix)]
pub fn alive(rec: &MountRecord) -> bool {
    pid_alive(rec.pid)
}

/// Whether the mount `rec` describes still runs: it holds its cache directory's lock until it
/// exits (Windows releases it even when the process is killed).
#[cfg(not(unix))]
pub fn alive(rec: &MountRecord) -> bool {
    match std::fs::OpenOptions::new().write(true).open(cache_lock(&rec.cache_dir)) {
        Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Whether process `pid` is running (a zombie waiting to be reaped is not).
#[cfg(unix)]
fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// The running mount at `dir`, if any.
pub fn find(dir: &Path) -> Option<MountRecord> {
    let rec: MountRecord = serde_json::from_slice(&std::fs::read(record_path(dir).ok()?).ok()?).ok()?;
    alive(&rec).then_some(rec)
}

/// Every running mount; records of processes that are gone are removed.
pub fn all() -> Vec<MountRecord> {
    let entries = match registry_dir().and_then(std::fs::read_dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the list of running mounts");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let rec = std::fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<MountRecord>(&b).ok());
        match rec {
            Some(r) if alive(&r) => out.push(r),
            _ => unregister(&e.path()),
        }
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    out
}

/// Writes a mount's status file.
pub fn write_status(cache_dir: &Path, status: &StatusFile) {
    let json = serde_json::to_vec_pretty(status).unwrap_or_default();
    if let Err(e) = write_atomically(&cache_dir.join("status.json"), &json) {
        tracing::debug!(error = %e, "cannot write the status file");
    }
}

/// Reads a mount's status file.
pub fn read_status(cache_dir: &Path) -> Option<StatusFile> {
    serde_json::from_slice(&std::fs::read(cache_dir.join("status.json")).ok()?).ok()
}

/// The lock a mount holds on its cache directory while it runs.
pub fn cache_lock(cache_dir: &Path) -> PathBuf {
    cache_dir.join("lock")
}

/// The flag `pail unmount --force` raises.
pub fn stop_now_flag(cache_dir: &Path) -> PathBuf {
    cache_dir.join("stop-now")
}

/// Raised by `pail unmount` to ask the mount using `cache_dir` to unmount (how a drive letter
/// is unmounted: Windows has no signal to send).
pub fn unmount_flag(cache_dir: &Path) -> PathBuf {
    cache_dir.join("unmount-now")
}

fn show_auth(a: &pail_auth::AuthStatus) {
    if let (Some(url), Some(code)) = (&a.sign_in_url, &a.user_code) {
        say!("  session expired — sign in again: open {url} (code {code}); uploads are waiting");
    }
    if let Some(t) = &a.credentials_expire {
        say!("  credentials ({}) renew before {t}", a.profile);
    }
    if let Some(t) = &a.token_expires {
        say!("  sign-in valid until {t}, refreshed while the session lasts");
    }
    if let Some(e) = &a.last_error {
        say!("  last sign-in error: {e}");
    }
}

/// `pail status`.
pub fn run_status() -> Result<()> {
    let mounts = all();
    if mounts.is_empty() {
        say!("No pail drives are mounted.");
        return Ok(());
    }
    for m in mounts {
        let file = read_status(&m.cache_dir).unwrap_or_default();
        let s = &file.writeback;
        say!("{} at {} (pid {}): {}", m.target, m.dir.display(), m.pid, file.state);
        say!(
            "  pending uploads: {} files, {}; staging: {}",
            s.pending_files,
            human(s.pending_bytes),
            human(s.staged_bytes)
        );
        if s.pending_bytes > 0 && s.pending_sent_bytes > 0 {
            say!(
                "  sent so far: {} of {} ({} %)",
                human(s.pending_sent_bytes),
                human(s.pending_bytes),
                percent(s.pending_sent_bytes, s.pending_bytes)
            );
        }
        for u in &s.large_uploads {
            say!(
                "    {}: {} of {} ({} %){}",
                u.path,
                human(u.sent),
                human(u.size),
                percent(u.sent, u.size),
                if u.uploading { ", uploading" } else { ", waiting" }
            );
        }
        for p in s.pending_paths.iter().take(10) {
            say!("    {p}");
        }
        for m in &s.moving_folders {
            say!("  {m}");
        }
        if let Some(e) = &s.last_error {
            say!("  last error: {e}");
        }
        if let Some(a) = &file.auth {
            show_auth(a);
        }
        for c in &s.conflicts {
            say!("  conflict: the server's version was kept; yours was saved as {c}");
        }
        for j in &s.unreadable_journal {
            say!(
                "  journal record {j} could not be read; it was kept in {}",
                m.cache_dir.join("corrupt").display()
            );
        }
    }
    Ok(())
}

/// One JSON line on stdout, with `--events json`.
pub fn emit(on: bool, event: &serde_json::Value) {
    if on {
        say!("{event}");
    }
}

/// The `status` event for a status file: pending uploads and their progress (the large ones
/// each), the last error, conflict copies made, and the page and code to sign in again while
/// the session has ended.
pub fn status_event(file: &StatusFile) -> serde_json::Value {
    let auth = file.auth.as_ref();
    let s = &file.writeback;
    serde_json::json!({
        "event": "status",
        "pending_files": s.pending_files,
        "pending_bytes": s.pending_bytes,
        "uploading_files": s.uploading_files,
        "pending_sent_bytes": s.pending_sent_bytes,
        "large_uploads": s.large_uploads,
        "pending_paths": s.pending_paths.iter().take(20).collect::<Vec<_>>(),
        "conflicts": s.conflicts,
        "last_error": s.last_error,
        "sign_in_url": auth.and_then(|a| a.sign_in_url.clone()),
        "user_code": auth.and_then(|a| a.user_code.clone()),
    })
}
