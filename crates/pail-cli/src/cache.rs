//! A drive's cache directory and what guards it: its encryption key, kept in the OS secret
//! store as `cache:<folder>` (see pail-keystore), and `pail forget`, which deletes the key and
//! the folder once nothing in it is pending, so what might be left of it is unreadable.

use std::path::{Path, PathBuf};

use pail_fs::CacheKey;
use pail_keystore::KeyStore;

use crate::UsageError;

/// The secret store beside the drives file.
pub fn key_store() -> KeyStore {
    pail_drives::key_store(&pail_drives::default_path())
}

/// The write-back part of a cache directory (staging, journal).
pub fn write_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("write")
}

fn entry(cache_dir: &Path) -> String {
    let dir = cache_dir.canonicalize().unwrap_or_else(|_| cache_dir.to_path_buf());
    format!("cache:{}", dir.display())
}

/// The key of the cache in `cache_dir` (locked by this process): the one in the secret store,
/// or a new one, stored there, for a cache that has none yet. A read-only drive keeps nothing
/// across mounts (its block cache is emptied at start): a key of this mount alone.
pub fn cache_key(cache_dir: &Path, read_only: bool) -> Result<CacheKey, UsageError> {
    if read_only {
        return CacheKey::generate().map_err(|e| UsageError(format!("cannot make a cache key: {e}")));
    }
    let store = key_store();
    let name = entry(cache_dir);
    let shown = cache_dir.display();
    let recorded = pail_fs::cache_key_id(&write_dir(cache_dir))
        .map_err(|e| UsageError(format!("cannot read the cache directory {shown}: {e}")))?;
    match store.get(&name) {
        Ok(Some(hex)) => CacheKey::from_hex(&hex).ok_or_else(|| {
            UsageError(format!(
                "the key of the cache {shown} in the secret store is damaged: its pending uploads cannot be read; \
                 move the folder aside (or run: pail forget --discard --cache-dir {shown}) to start afresh"
            ))
        }),
        Ok(None) if recorded.is_some() => Err(UsageError(format!(
            "the cache {shown} is encrypted (key {}), and its key is not in the secret store any more: its pending uploads \
             cannot be read; restore the key, or run pail forget --discard --cache-dir {shown} to start afresh",
            recorded.unwrap_or_default()
        ))),
        Ok(None) => {
            let key = CacheKey::generate().map_err(|e| UsageError(format!("cannot make a cache key: {e}")))?;
            store
                .set(&name, &key.to_hex())
                .map_err(|e| UsageError(format!("cannot keep the cache's key: {e}")))?;
            tracing::debug!(cache = %shown, key = key.id(), "a new cache key is in the secret store");
            Ok(key)
        }
        Err(e) => Err(UsageError(format!(
            "cannot read the key of the cache {shown}: {e}; pending uploads stay in it until the drive mounts again"
        ))),
    }
}

/// Deletes the cache in `cache_dir` (which exists: callers pick existing ones) and its key:
/// refused while a mount uses it, or while uploads are pending in it unless `discard`.
pub fn forget(cache_dir: &Path, discard: bool) -> Result<(), UsageError> {
    let shown = cache_dir.display();
    let lock = crate::mount::lock_cache_dir(cache_dir).map_err(|_| {
        UsageError(format!(
            "the cache {shown} is in use by a mount: unmount the drive first"
        ))
    })?;
    let pending = pail_fs::pending_records(&write_dir(cache_dir))
        .map_err(|e| UsageError(format!("cannot read the journal in {shown}: {e}")))?;
    if pending > 0 && !discard {
        return Err(UsageError(format!(
            "{pending} upload(s) are still pending in {shown}: mount the drive to let them finish, \
             or add --discard to drop them"
        )));
    }
    key_store()
        .delete(&entry(cache_dir))
        .map_err(|e| UsageError(format!("cannot remove the cache's key (nothing was deleted): {e}")))?;
    drop(lock);
    std::fs::remove_dir_all(cache_dir).map_err(|e| UsageError(format!("cannot remove {shown}: {e}")))?;
    Ok(())
}

/// The cache directories of a drive of the drives file, or of `bucket[/prefix]`. A folder
/// per signed-in user (`${aws:userid}` in the prefix) matches every such folder cached here.
pub fn resolve(target: &str) -> Result<Vec<PathBuf>, UsageError> {
    let target = match crate::drives::load() {
        Ok((_, file)) => file
            .get(target)
            .map(|d| d.target())
            .unwrap_or_else(|_| target.to_owned()),
        Err(_) => target.to_owned(),
    };
    let (bucket, prefix) = crate::mount::split_target(&target)?;
    let root = crate::mount::default_cache_dir(&bucket, "")?;
    let mut dirs = vec![root];
    for part in prefix.split('/').filter(|p| !p.is_empty()) {
        dirs = if part.contains("${") {
            dirs.iter()
                .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        } else {
            let last = crate::mount::default_cache_dir("x", part)?;
            let name = last.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            dirs.into_iter().map(|d| d.join(&name)).collect()
        };
    }
    Ok(dirs)
}
