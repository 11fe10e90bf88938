//! The staging area: one sparse file per file being written, under `<cache>/staging/`, and the
//! byte budget that pauses writers when it is spent.
//!
//! Invariants: `used` is the sum of the logical sizes of the staging files that exist; a writer
//! that would push it past `limit` waits while uploads are under way that will free space
//! (back-pressure), and proceeds only when none are (a file larger than the whole area can still
//! be written; the overrun is logged).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

use crate::positional::read_vec_at;
use crate::recycle::Recycler;
use crate::seal::{Cipher, Sealer};
use crate::staged::{StagedFile, is_sealed_file};

/// Bytes of small files a drive holds in memory at most while they are written (`content`;
/// pending files beyond it are staged on disk as larger files are).
pub(crate) const MEMORY_MAX: u64 = 64 << 20;

/// Staging files from this size on are unlinked on the blocking pool (see [`Staging::remove`]).
const REMOVE_IN_BACKGROUND: u64 = 64 << 20;

/// Opens `path` for reading and writing, private; `create` makes it, or empties what is there.
fn open_rw(path: &Path, create: bool) -> io::Result<File> {
    crate::private::options()
        .read(true)
        .write(true)
        .create(create)
        .truncate(create)
        .open(path)
}

/// The staging directory and its budget.
#[derive(Debug)]
pub(crate) struct Staging {
    dir: PathBuf,
    limit: u64,
    used: AtomicU64,
    /// Uploads in progress that will free space when they finish.
    freeing: AtomicU64,
    freed: Notify,
    recycle: Arc<Recycler>,
    /// Bytes of small files held in memory instead of staging files (`content`).
    memory: AtomicU64,
    /// Whether staging files are sealed, and with which key.
    cipher: Cipher,
}

impl Staging {
    pub(crate) fn open(dir: &Path, limit: u64, recycle: Arc<Recycler>, cipher: Cipher) -> io::Result<Self> {
        crate::private::create_dir_all(dir)?;
        Ok(Self {
            cipher,
            dir: dir.to_path_buf(),
            recycle,
            limit,
            used: AtomicU64::new(0),
            freeing: AtomicU64::new(0),
            freed: Notify::new(),
            memory: AtomicU64::new(0),
        })
    }

    /// The staging directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of staging file `id`.
    pub(crate) fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}.data"))
    }

    /// Creates (a kept file reused, when there is one) an empty staging file `id`, or, after a
    /// restart, reopens it for reading and writing. A file an older version wrote in the clear
    /// is sealed first when the cache is encrypted (see [`Staging::seal_legacy`]).
    pub(crate) fn file(&self, id: u64, create: bool) -> io::Result<StagedFile> {
        let path = self.path(id);
        if create {
            self.recycle.take(&path);
        }
        let file = open_rw(&path, create)?;
        match self.cipher.sealer() {
            None if !create && is_sealed_file(&file)? => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a staging file is encrypted and this mount has no cache key",
            )),
            None => Ok(StagedFile::plain(file)),
            Some(sealer) if !create && file.metadata()?.len() > 0 && !is_sealed_file(&file)? => {
                self.seal_legacy(id, &file, sealer)
            }
            Some(sealer) => StagedFile::sealed(file, sealer.clone(), id),
        }
    }

    /// Rewrites staging file `id` (open as `clear`), which a version without encryption wrote
    /// in the clear, sealed under the cache's key: into a new file that replaces it, so a crash
    /// leaves one or the other whole. Returns the sealed file.
    fn seal_legacy(&self, id: u64, clear: &File, sealer: &Arc<Sealer>) -> io::Result<StagedFile> {
        let tmp = self.dir.join(format!("{id:016x}.sealing"));
        let size = clear.metadata()?.len();
        let sealed = StagedFile::sealed(open_rw(&tmp, true)?, sealer.clone(), id)?;
        let mut at = 0;
        while at < size {
            let chunk = read_vec_at(clear, (8 << 20).min(size - at) as usize, at)?;
            if chunk.is_empty() {
                break;
            }
            sealed.write_at(&chunk, at)?;
            at += chunk.len() as u64;
        }
        sealed.set_len(size)?;
        sealed.sync_data()?;
        std::fs::rename(&tmp, self.path(id))?;
        tracing::info!(
            id,
            size,
            "a staging file written in the clear by an older version is now encrypted"
        );
        Ok(sealed)
    }

    /// Removes staging file `id` (kept for reuse when small) and returns `size` bytes to the
    /// budget. The caller guarantees nothing writes through its open `File` any more.
    ///
    /// A large file is unlinked on the blocking pool: dropping a gigabyte from the page cache
    /// takes the kernel about 0.2 s, which would stall every operation waiting for that runtime
    /// worker. A crash before it is done leaves an orphan, which the next mount removes.
    pub(crate) fn remove(self: &Arc<Self>, id: u64, size: u64) {
        let remove = {
            let staging = self.clone();
            move || {
                if let Err(e) = staging.recycle.keep(&staging.path(id), size) {
                    tracing::warn!(id, error = %e, "could not remove a staging file");
                }
                staging.release(size);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if size >= REMOVE_IN_BACKGROUND => drop(rt.spawn_blocking(remove)),
            _ => remove(),
        }
    }

    /// Counts `bytes` more as used, waiting while the budget is spent and uploads under way
    /// will free some.
    pub(crate) async fn reserve(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        loop {
            let freed = self.freed.notified();
            let used = self.used.load(Ordering::Acquire);
            if used + bytes <= self.limit || self.freeing.load(Ordering::Acquire) == 0 {
                if used + bytes > self.limit {
                    tracing::debug!(
                        used,
                        bytes,
                        limit = self.limit,
                        "staging area over its size: files still open"
                    );
                }
                self.used.fetch_add(bytes, Ordering::AcqRel);
                return;
            }
            freed.await;
        }
    }

    /// Counts `bytes` more as used without waiting, if that stays within the budget.
    pub(crate) fn try_reserve(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u + bytes <= self.limit).then_some(u + bytes)
            })
            .is_ok()
    }

    /// Counts `bytes` as used without waiting (files found at start).
    pub(crate) fn add_used(&self, bytes: u64) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Returns `bytes` to the budget.
    pub(crate) fn release(&self, bytes: u64) {
        if bytes > 0 {
            let _ = self
                .used
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| Some(u.saturating_sub(bytes)));
            self.freed.notify_waiters();
        }
    }

    /// Bytes of small files held in memory.
    pub(crate) fn memory_used(&self) -> u64 {
        self.memory.load(Ordering::Acquire)
    }

    /// Counts `bytes` more of small files in memory, unless that passes `content::MEMORY_MAX`.
    pub(crate) fn charge_memory(&self, bytes: u64) -> bool {
        self.memory
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u + bytes <= MEMORY_MAX).then_some(u + bytes)
            })
            .is_ok()
    }

    /// Counts `bytes` of small files as no longer in memory.
    pub(crate) fn uncharge_memory(&self, bytes: u64) {
        let _ = self
            .memory
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| Some(u.saturating_sub(bytes)));
    }

    /// Marks an upload that will free space as started (`true`) or finished (`false`).
    pub(crate) fn uploading(&self, started: bool) {
        if started {
            self.freeing.fetch_add(1, Ordering::AcqRel);
        } else {
            self.freeing.fetch_sub(1, Ordering::AcqRel);
            self.freed.notify_waiters();
        }
    }

    /// Bytes in use.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recycler(dir: &Path) -> Arc<Recycler> {
        Arc::new(Recycler::open(&dir.join("recycle")).expect("recycler"))
    }

    #[test]
    fn a_reused_staging_file_starts_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Arc::new(
            Staging::open(
                &dir.path().join("staging"),
                1 << 20,
                recycler(dir.path()),
                Cipher::default(),
            )
            .expect("open"),
        );
        let f = s.file(1, true).expect("file");
        f.write_at(b"someone else's bytes", 0).expect("write");
        s.remove(1, 20);
        let again = s.file(2, true).expect("reused");
        again.set_len(4).expect("grow");
        assert_eq!(again.read_vec(8, 0).expect("read"), [0, 0, 0, 0]);
        assert!(!s.path(1).exists());
    }

    #[tokio::test]
    async fn budget_pauses_writers_only_while_uploads_can_free_space() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s =
            std::sync::Arc::new(Staging::open(dir.path(), 100, recycler(dir.path()), Cipher::default()).expect("open"));
        s.reserve(80).await;
        assert!(!s.try_reserve(30));
        // Nothing is uploading: an open file may overrun.
        s.reserve(30).await;
        assert_eq!(s.used(), 110);
        s.uploading(true);
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.reserve(10).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        s.release(50);
        s.uploading(false);
        waiter.await.expect("reserved after space was freed");
        assert_eq!(s.used(), 70);
    }

    #[test]
    fn positional_io_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Staging::open(dir.path(), 1 << 20, recycler(dir.path()), Cipher::default()).expect("open");
        let f = s.file(7, true).expect("file");
        f.write_at(b"world", 6).expect("write");
        f.write_at(b"hello ", 0).expect("write");
        assert_eq!(f.read_vec(16, 0).expect("read"), b"hello world");
    }

    #[test]
    fn a_staging_file_an_older_version_wrote_in_the_clear_is_sealed_when_reopened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = crate::seal::CacheKey::generate().expect("key");
        let s = Staging::open(dir.path(), 1 << 20, recycler(dir.path()), Cipher::new(Some(&key))).expect("open");
        let clear: Vec<u8> = b"CLEAR-TEXT ".iter().cycle().take(50_000).copied().collect();
        std::fs::write(s.path(3), &clear).expect("legacy file");
        let f = s.file(3, false).expect("reopened");
        assert_eq!(f.read_vec(60_000, 0).expect("read"), clear);
        let disk = std::fs::read(s.path(3)).expect("disk");
        assert!(!disk.windows(10).any(|w| w == b"CLEAR-TEXT"), "sealed on disk");
        let off = Staging::open(dir.path(), 1 << 20, recycler(dir.path()), Cipher::default()).expect("open");
        let e = off.file(3, false).expect_err("no key");
        assert!(e.to_string().contains("no cache key"), "{e}");
    }
}
