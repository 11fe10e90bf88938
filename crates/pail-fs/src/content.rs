//! A written file's bytes: in memory while the file is new and small, otherwise in its staging
//! file.
//!
//! A file created (or emptied on open) starts in memory. Its bytes reach the device inside its
//! journal record at close (small files' records carry them, see `journal`), and its upload
//! sends them from memory, so a small file never has a staging file: none is created, emptied,
//! read back or kept afterwards. The bytes move to a staging file, for good, when the file grows
//! past [`INLINE_MAX`], when the drive's allowance for such files ([`MEMORY_MAX`]) is spent, or
//! when anything needs them on disk (a record that does not carry them, see
//! [`Content::sync_data`]).
//!
//! Invariant: `Staging::memory_used` is the sum of the capacities (the memory really held, not
//! just the lengths) of the contents held in memory. A content grows its buffer itself, with
//! `reserve_exact`, after charging the allowance for it.

use std::io;
use std::sync::{Arc, Mutex};

use crate::journal::INLINE_MAX;
use crate::staged::StagedFile;
use crate::staging::{MEMORY_MAX, Staging};

#[derive(Debug)]
enum Inner {
    Memory(Vec<u8>),
    File(Arc<StagedFile>),
}

/// The bytes of one file being written.
#[derive(Debug)]
pub(crate) struct Content {
    id: u64,
    staging: Arc<Staging>,
    inner: Mutex<Inner>,
}

impl Content {
    /// An empty content, in memory (or in staging file `id` when the allowance is spent).
    pub(crate) fn empty(id: u64, staging: &Arc<Staging>) -> io::Result<Self> {
        let inner = if staging.memory_used() < MEMORY_MAX {
            Inner::Memory(Vec::new())
        } else {
            Inner::File(Arc::new(staging.file(id, true)?))
        };
        Ok(Self {
            id,
            staging: staging.clone(),
            inner: Mutex::new(inner),
        })
    }

    /// The content of staging file `id`, already open.
    pub(crate) fn staged(id: u64, file: StagedFile, staging: &Arc<Staging>) -> Self {
        Self {
            id,
            staging: staging.clone(),
            inner: Mutex::new(Inner::File(Arc::new(file))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the bytes are in memory (there is no staging file).
    pub(crate) fn in_memory(&self) -> bool {
        matches!(*self.lock(), Inner::Memory(_))
    }

    /// The staging file, which the bytes move to first if they are in memory.
    fn file(&self) -> io::Result<Arc<StagedFile>> {
        let mut inner = self.lock();
        let bytes = match &*inner {
            Inner::File(f) => return Ok(f.clone()),
            Inner::Memory(bytes) => bytes,
        };
        let file = self.staging.file(self.id, true)?;
        file.write_at(bytes, 0)?;
        self.staging.uncharge_memory(bytes.capacity() as u64);
        let file = Arc::new(file);
        *inner = Inner::File(file.clone());
        Ok(file)
    }

    /// Grows `bytes` to `len` (zeros) if memory allows; `false` when the bytes must move to disk.
    /// The buffer at least doubles when it must grow (appends stay linear), never past
    /// [`INLINE_MAX`], and what it allocates is charged first.
    fn grow(&self, bytes: &mut Vec<u8>, len: u64) -> bool {
        let have = bytes.len() as u64;
        if len <= have {
            return true;
        }
        if len > INLINE_MAX {
            return false;
        }
        let capacity = bytes.capacity() as u64;
        if len > capacity {
            let want = len.max(capacity * 2).min(INLINE_MAX);
            if !self.staging.charge_memory(want - capacity) {
                return false;
            }
            bytes.reserve_exact((want - have) as usize);
            debug_assert_eq!(bytes.capacity() as u64, want, "a Vec<u8> allocates what it is asked");
        }
        bytes.resize(len as usize, 0);
        true
    }

    /// Writes all of `data` at `offset`.
    pub(crate) fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let end = offset + data.len() as u64;
        {
            let mut inner = self.lock();
            if let Inner::Memory(bytes) = &mut *inner
                && self.grow(bytes, end)
            {
                bytes[offset as usize..end as usize].copy_from_slice(data);
                return Ok(());
            }
        }
        self.file()?.write_at(data, offset)
    }

    /// Reads up to `len` bytes at `offset` into a new buffer; fewer only at the end.
    pub(crate) fn read_vec(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        let file = {
            let inner = self.lock();
            match &*inner {
                Inner::Memory(bytes) => {
                    let from = (offset as usize).min(bytes.len());
                    let to = from + len.min(bytes.len() - from);
                    return Ok(bytes[from..to].to_vec());
                }
                Inner::File(f) => f.clone(),
            }
        };
        file.read_vec(len, offset)
    }

    /// Sets the length; bytes past the old end read as zeros.
    pub(crate) fn set_len(&self, len: u64) -> io::Result<()> {
        {
            let mut inner = self.lock();
            if let Inner::Memory(bytes) = &mut *inner {
                if len <= bytes.len() as u64 {
                    // The buffer keeps its capacity, and its charge, for the rewrite that follows.
                    bytes.truncate(len as usize);
                    return Ok(());
                }
                if self.grow(bytes, len) {
                    return Ok(());
                }
            }
        }
        self.file()?.set_len(len)
    }

    /// Makes the bytes durable in the staging file (moving them there from memory first): for
    /// a journal record that does not carry them.
    pub(crate) fn sync_data(&self) -> io::Result<()> {
        self.file()?.sync_data()
    }

    /// Makes the bytes durable if they are in a staging file; bytes in memory stay there.
    pub(crate) fn sync_staged(&self) -> io::Result<()> {
        let file = match &*self.lock() {
            Inner::File(f) => f.clone(),
            Inner::Memory(_) => return Ok(()),
        };
        file.sync_data()
    }

    /// Ends this content: its staging file is removed (kept for reuse) and `reserved` bytes go
    /// back to the staging budget.
    pub(crate) fn remove(&self, reserved: u64) {
        if self.in_memory() {
            self.staging.release(reserved);
        } else {
            self.staging.remove(self.id, reserved);
        }
    }
}

impl Drop for Content {
    fn drop(&mut self) {
        if let Inner::Memory(bytes) = &*self.lock() {
            self.staging.uncharge_memory(bytes.capacity() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recycle::Recycler;

    fn staging(dir: &std::path::Path) -> Arc<Staging> {
        let recycle = Arc::new(Recycler::open(&dir.join("recycle")).expect("recycle"));
        Arc::new(Staging::open(&dir.join("staging"), 1 << 30, recycle, Default::default()).expect("staging"))
    }

    fn read_all(c: &Content, len: usize) -> Vec<u8> {
        c.read_vec(len, 0).expect("read")
    }

    #[test]
    fn a_small_file_stays_in_memory_and_a_growing_one_moves_to_its_staging_file_intact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = staging(dir.path());
        let c = Content::empty(1, &s).expect("content");
        c.write_at(b"hello", 0).expect("write");
        c.write_at(b"!", 10).expect("write past the end");
        assert!(c.in_memory());
        assert_eq!(read_all(&c, 64), b"hello\0\0\0\0\0!");
        assert_eq!(s.memory_used(), 11, "5 bytes, then doubled to 10 and grown to 11");
        assert!(!s.path(1).exists(), "no staging file for a small file");

        c.write_at(b"tail", INLINE_MAX).expect("grow past the inline size");
        assert!(!c.in_memory());
        assert_eq!(s.memory_used(), 0);
        let on_disk = std::fs::read(s.path(1)).expect("staging file");
        assert_eq!(on_disk.len() as u64, INLINE_MAX + 4);
        assert_eq!(&on_disk[..11], b"hello\0\0\0\0\0!");
        assert_eq!(&on_disk[INLINE_MAX as usize..], b"tail");
    }

    #[test]
    fn truncate_and_extend_in_memory_read_as_zeros_and_the_allowance_follows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = staging(dir.path());
        let c = Content::empty(2, &s).expect("content");
        c.write_at(b"abcdef", 0).expect("write");
        c.set_len(2).expect("truncate");
        c.set_len(4).expect("extend");
        assert_eq!(read_all(&c, 16), b"ab\0\0");
        assert_eq!(s.memory_used(), 6, "the buffer keeps its 6 bytes for the rewrite");
        c.sync_data().expect("a record without the bytes needs them on disk");
        assert_eq!(std::fs::read(s.path(2)).expect("staging file"), b"ab\0\0");
        assert_eq!(s.memory_used(), 0);
        let d = Content::empty(3, &s).expect("content");
        d.write_at(b"xyz", 0).expect("write");
        drop(d);
        assert_eq!(s.memory_used(), 0, "a dropped content gives its memory back");
    }

    #[test]
    fn appends_are_charged_for_the_memory_held_not_just_the_bytes_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = staging(dir.path());
        let c = Content::empty(5, &s).expect("content");
        let chunk = [7u8; 4096];
        for i in 0..9 {
            c.write_at(&chunk, i * 4096).expect("append");
        }
        // 4 KiB, then doubled to 8, 16, 32 and 64 KiB: 36 KiB written, 64 KiB held and charged.
        assert_eq!(s.memory_used(), INLINE_MAX);
        assert_eq!(read_all(&c, 40 << 10), vec![7u8; 9 * 4096]);
        drop(c);
        assert_eq!(s.memory_used(), 0);
    }

    #[test]
    fn when_the_allowance_is_spent_new_files_are_staged_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = staging(dir.path());
        assert!(s.charge_memory(MEMORY_MAX));
        let c = Content::empty(4, &s).expect("content");
        assert!(!c.in_memory());
        c.write_at(b"on disk", 0).expect("write");
        assert_eq!(std::fs::read(s.path(4)).expect("staging file"), b"on disk");
        s.uncharge_memory(MEMORY_MAX);
    }
}
