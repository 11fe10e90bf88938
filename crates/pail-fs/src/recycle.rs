//! Files kept for reuse, under `<cache>/recycle/`.
//!
//! Closing a small file creates two files, its staging file and its journal record, and its
//! upload deletes both. Creating a file is the dearest of those steps on some file systems:
//! ext4 without a journal scans past every inode freed in the last seconds for each new one
//! (measured here: most of pail's own CPU time while `cp -r` wrote 2,000 small files), and NTFS
//! allocates an MFT record and wakes on-access scanners. So a finished staging file or journal
//! record is renamed in here instead of deleted, and renamed back out when a new one is needed.
//!
//! Invariant: a kept file's bytes mean nothing. Whoever takes one truncates or overwrites it
//! before anything reads it, and nothing reads this directory but [`Recycler::open`], which only
//! counts what is there. Only small files are kept (a large one would hold its disk space), and
//! at most [`KEEP`] of them.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many files are kept at most.
const KEEP: usize = 64;
/// Files larger than this are deleted rather than kept.
const KEEP_MAX_BYTES: u64 = 1 << 20;

/// The kept files.
#[derive(Debug)]
pub(crate) struct Recycler {
    dir: PathBuf,
    /// Names (numbers) of the files kept now.
    kept: Mutex<Vec<u64>>,
    next: AtomicU64,
}

impl Recycler {
    /// Opens (creating) the directory and takes stock of the files an earlier mount kept.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        crate::private::create_dir_all(dir)?;
        let mut kept = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            match path.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse().ok()) {
                Some(n) if kept.len() < KEEP => kept.push(n),
                _ => std::fs::remove_file(&path)?,
            }
        }
        let next = kept.iter().max().map_or(0, |n| n + 1);
        Ok(Self {
            dir: dir.to_path_buf(),
            kept: Mutex::new(kept),
            next: AtomicU64::new(next),
        })
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves a kept file to `to` (replacing anything there); `false` when none is kept (or it
    /// could not be moved), so the caller creates one.
    pub(crate) fn take(&self, to: &Path) -> bool {
        let Some(n) = self.kept().pop() else { return false };
        let from = self.dir.join(n.to_string());
        match std::fs::rename(&from, to) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "a kept file could not be reused");
                let _ = std::fs::remove_file(&from);
                false
            }
        }
    }

    /// Keeps the file at `from` (of about `size` bytes) for reuse, or deletes it when it is
    /// large or enough are kept. `Ok(false)`: there was no such file.
    pub(crate) fn keep(&self, from: &Path, size: u64) -> io::Result<bool> {
        let result = if size <= KEEP_MAX_BYTES && self.kept().len() < KEEP {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            std::fs::rename(from, self.dir.join(n.to_string())).map(|()| self.kept().push(n))
        } else {
            std::fs::remove_file(from)
        };
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_file_is_handed_out_again_and_big_ones_are_deleted() {
        let cache = tempfile::tempdir().expect("tempdir");
        let r = Recycler::open(&cache.path().join("recycle")).expect("open");
        let (a, b) = (cache.path().join("a"), cache.path().join("b"));
        assert!(!r.take(&b), "nothing kept yet");
        std::fs::write(&a, b"old bytes").expect("a");
        assert!(r.keep(&a, 9).expect("keep"));
        assert!(!a.exists());
        assert!(r.take(&b));
        assert_eq!(std::fs::read(&b).expect("b"), b"old bytes", "the same file, unread");
        r.keep(&b, 2 << 20).expect("too big to keep");
        assert!(!b.exists() && !r.take(&a));
        assert!(
            !r.keep(&cache.path().join("gone"), 0)
                .expect("a missing file is no error")
        );
    }

    #[test]
    fn kept_files_outlive_a_restart_up_to_the_limit() {
        let cache = tempfile::tempdir().expect("tempdir");
        let dir = cache.path().join("recycle");
        std::fs::create_dir_all(&dir).expect("dir");
        for n in 0..KEEP + 3 {
            std::fs::write(dir.join(n.to_string()), b"x").expect("file");
        }
        std::fs::write(dir.join("stray.tmp"), b"x").expect("stray");
        let r = Recycler::open(&dir).expect("open");
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), KEEP);
        let to = cache.path().join("t");
        for _ in 0..KEEP {
            assert!(r.take(&to));
        }
        assert!(!r.take(&to));
    }
}
