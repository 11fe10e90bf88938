//! [`Dirty`]: a file being written — its staging file, what S3 must hold for the upload to
//! apply, and the blocks of the remote version not yet copied in.
//!
//! A file opened for writing is not downloaded first: its remote version (the *base*) is copied
//! into the staging file block by block, only when a read or a partial-block write touches a
//! block, or when the file is uploaded. Appending to a 5 GiB file therefore fetches only its last
//! block before the upload.
//!
//! The base's blocks come through the drive's block cache, as any read's do: a file opened
//! for writing just after it was read costs no second download, and the blocks fetched for a
//! write serve readers of that version too.
//!
//! Lock order: `io` (async, held while fetching or writing bytes), then `state`, then `base`;
//! `state` and `base` are never held across an `.await`. `upload` (async) is taken before `io`
//! by whoever changes where the file lives on S3 (uploads, renames, deletes).

use std::ops::Range;
use std::sync::Mutex;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use pail_store::ETag;

pub(crate) use crate::base::Base;
use crate::blocks::{BlockCache, ObjectRef};
use crate::content::Content;
use crate::eager::Eager;
use crate::error::{FsError, FsErrorKind, FsResult};
use crate::journal::{Journal, Record, UploadRecord};
use crate::lifecycle::FileState;
use crate::parts::Layout;

/// The largest object S3 holds: 5 TiB.
const MAX_OBJECT_SIZE: u64 = 5 << 40;

/// Blocks of the base requested ahead while a long run of them is copied in (as a
/// sequential reader's window), in GETs of [`RUN_BLOCKS`].
const FILL_AHEAD: u64 = 32;
const RUN_BLOCKS: u64 = 8;

/// A file being written, or written and not yet uploaded.
#[derive(Debug)]
pub(crate) struct Dirty {
    pub(crate) id: u64,
    pub(crate) content: Content,
    state: Mutex<FileState>,
    base: Mutex<Option<Base>>,
    pub(crate) io: tokio::sync::Mutex<()>,
    pub(crate) upload: std::sync::Arc<tokio::sync::Mutex<()>>,
    pub(crate) block_size: u64,
    /// Where the base's blocks come from.
    cache: Arc<BlockCache>,
    /// Parts sent while the file is still being written.
    pub(crate) eager: Eager,
    /// Bytes of this version on S3 or on their way, for progress: counted as parts go, reset
    /// when an upload attempt begins.
    sent: AtomicU64,
}

impl Dirty {
    pub(crate) fn new(id: u64, content: Content, state: FileState, base: Option<Base>, cache: Arc<BlockCache>) -> Self {
        Self {
            id,
            content,
            state: Mutex::new(state),
            eager: Eager::new(base.is_some()),
            base: Mutex::new(base),
            io: tokio::sync::Mutex::new(()),
            upload: Arc::new(tokio::sync::Mutex::new(())),
            block_size: cache.block_size(),
            cache,
            sent: AtomicU64::new(0),
        }
    }

    /// Bytes of the file sent by its upload so far (at most its size).
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Counts `bytes` more as sent.
    pub(crate) fn count_sent(&self, bytes: u64) {
        self.sent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// An upload attempt begins: its progress counts from nothing (parts sent before it are
    /// counted again as it takes them over).
    pub(crate) fn restart_sent(&self) {
        self.sent.store(0, Ordering::Relaxed);
    }

    /// The file's state machine (`lifecycle`); not held across an `.await`.
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, FileState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn base_lock(&self) -> std::sync::MutexGuard<'_, Option<Base>> {
        self.base.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path_str(&self) -> String {
        self.state().path().as_str().to_owned()
    }

    /// Copies the missing base blocks among `blocks` into the staging file, through the block
    /// cache. Caller holds `io`.
    pub(crate) async fn fetch(&self, blocks: Range<u64>) -> FsResult<()> {
        let bs = self.block_size;
        let (key, etag, size, limit, runs) = {
            let base = self.base_lock();
            let Some(b) = base.as_ref() else { return Ok(()) };
            (b.key.clone(), b.etag.clone(), b.size, b.limit, b.missing(blocks))
        };
        if runs.is_empty() {
            return Ok(());
        }
        let size = match size {
            Some(s) => s,
            None => self.base_size(&key, &etag).await?,
        };
        let obj = ObjectRef {
            key: key.into(),
            etag,
            size,
            path: self.path_str().into(),
        };
        for run in runs {
            let run = run.start..run.end.min(limit.div_ceil(bs));
            for i in run.clone() {
                if i == run.start || (i - run.start).is_multiple_of(RUN_BLOCKS) {
                    self.cache.prefetch(&obj, i..(i + FILL_AHEAD).min(run.end), RUN_BLOCKS);
                }
                let block = self.cache.block(&obj, i).await?;
                let at = i * bs;
                let len = (block.len() as u64).min(limit.saturating_sub(at)) as usize;
                self.content
                    .write_at(&block[..len], at)
                    .map_err(|e| FsError::local("staging", self.path_str(), &e))?;
                if let Some(b) = self.base_lock().as_mut()
                    && let Some(p) = b.present.get_mut(i as usize)
                {
                    *p = true;
                }
            }
        }
        Ok(())
    }

    /// The size of the base object, for a base journaled without it: asked of S3, at the
    /// base's version (`Stale` when the object changed since).
    async fn base_size(&self, key: &str, etag: &ETag) -> FsResult<u64> {
        let meta = self
            .cache
            .store()
            .head(key)
            .await
            .map_err(|e| FsError::from_store("fetching for write", self.path_str(), e))?;
        if meta.etag != *etag {
            return Err(FsError::new(FsErrorKind::Stale, "fetching for write", self.path_str()));
        }
        if let Some(b) = self.base_lock().as_mut() {
            b.size = Some(meta.size);
        }
        Ok(meta.size)
    }

    /// Copies every missing base block in (before an upload or a move).
    pub(crate) async fn fill(&self) -> FsResult<()> {
        let _io = self.io.lock().await;
        self.fetch(0..u64::MAX).await
    }

    /// Whether bytes may still have to come from an S3 version (so an upload must not let a
    /// fetch see the window between its commit and [`rebase`](Self::rebase)).
    pub(crate) fn has_base(&self) -> bool {
        self.base_lock().is_some()
    }

    /// After an upload that copied untouched parts server-side: the blocks still missing
    /// locally now live in the new version at `key` (of `size` bytes), at the same offsets.
    pub(crate) fn rebase(&self, key: &str, etag: &ETag, size: u64) {
        if let Some(b) = self.base_lock().as_mut() {
            b.key = key.to_owned();
            b.etag = etag.clone();
            b.size = Some(size);
        }
    }

    /// Copies the missing base blocks of byte range `range` in.
    pub(crate) async fn fill_range(&self, range: Range<u64>) -> FsResult<()> {
        let _io = self.io.lock().await;
        let bs = self.block_size;
        self.fetch(range.start / bs..range.end.div_ceil(bs)).await
    }

    /// For a multipart upload of `size` bytes in parts laid out by `layout`: the base's key
    /// and version, and per part whether it is still exactly the base's bytes (never written,
    /// wholly inside the base) so S3 can copy it server-side. `None` without a base, or when
    /// parts do not fall on block boundaries.
    pub(crate) fn untouched_parts(&self, layout: &Layout, size: u64) -> Option<(String, ETag, Vec<bool>)> {
        let base = self.base_lock();
        let b = base.as_ref()?;
        if !layout.aligned_to(self.block_size) {
            return None;
        }
        let untouched = (0..layout.count(size))
            .map(|i| {
                let range = layout.range_in(i, size);
                let blocks = range.start / self.block_size..range.end.div_ceil(self.block_size);
                range.end <= b.limit && blocks.clone().all(|k| b.present.get(k as usize).is_some_and(|p| !p))
            })
            .collect();
        Some((b.key.clone(), b.etag.clone(), untouched))
    }

    /// Whether writing `range` needs base blocks fetched first (its partial edge blocks).
    fn edges_missing(&self, range: &Range<u64>) -> Vec<u64> {
        let bs = self.block_size;
        let base = self.base_lock();
        let Some(b) = base.as_ref() else { return Vec::new() };
        let mut edges = Vec::new();
        if !range.start.is_multiple_of(bs) {
            edges.push(range.start / bs);
        }
        if !range.end.is_multiple_of(bs) {
            edges.push(range.end / bs);
        }
        edges.dedup();
        edges.retain(|&i| b.present.get(i as usize).is_some_and(|p| !p));
        edges
    }

    /// Writes `data` at `offset` (fetching partial edge blocks of the base first).
    pub(crate) async fn write(&self, offset: u64, data: &[u8]) -> FsResult<()> {
        let _io = self.io.lock().await;
        let range = offset..offset + data.len() as u64;
        for b in self.edges_missing(&range) {
            self.fetch(b..b + 1).await?;
        }
        self.write_ready(offset, data)
    }

    /// [`write`](Self::write) without waiting, when no fetch is needed and nobody holds `io`.
    pub(crate) fn try_write_now(&self, offset: u64, data: &[u8]) -> Option<FsResult<()>> {
        let _io = self.io.try_lock().ok()?;
        if !self.edges_missing(&(offset..offset + data.len() as u64)).is_empty() {
            return None;
        }
        Some(self.write_ready(offset, data))
    }

    fn write_ready(&self, offset: u64, data: &[u8]) -> FsResult<()> {
        let bs = self.block_size;
        let end = offset + data.len() as u64;
        self.within_s3_limit(end, "write")?;
        self.content
            .write_at(data, offset)
            .map_err(|e| FsError::local("write", self.path_str(), &e))?;
        // After the bytes are in the staging file: a part read for sending before this mark
        // is then known to be stale.
        self.eager.wrote(offset..end);
        {
            let mut base = self.base_lock();
            if let Some(b) = base.as_mut() {
                // Blocks wholly overwritten never need their base bytes.
                for i in offset.div_ceil(bs)..end / bs {
                    if let Some(p) = b.present.get_mut(i as usize) {
                        *p = true;
                    }
                }
            }
        }
        self.state().wrote(end);
        Ok(())
    }

    /// Up to `len` bytes at `offset` of the file as written so far.
    pub(crate) async fn read(&self, offset: u64, len: u32) -> FsResult<Bytes> {
        let size = self.state().size();
        if offset >= size || len == 0 {
            return Ok(Bytes::new());
        }
        let end = (offset + u64::from(len)).min(size);
        {
            let _io = self.io.lock().await;
            let bs = self.block_size;
            self.fetch(offset / bs..end.div_ceil(bs)).await?;
        }
        let len = (end - offset) as usize;
        let mut buf = self
            .content
            .read_vec(len, offset)
            .map_err(|e| FsError::local("read", self.path_str(), &e))?;
        // A sparse tail (extended by truncate) reads as zeros.
        buf.resize(len, 0);
        Ok(buf.into())
    }

    /// Sets the file's length; bytes past the old end read as zeros.
    pub(crate) async fn set_len(&self, size: u64) -> FsResult<()> {
        self.within_s3_limit(size, "truncate")?;
        let _io = self.io.lock().await;
        {
            let mut base = self.base_lock();
            if let Some(b) = base.as_mut()
                && size < b.limit
            {
                b.limit = size;
                b.present.truncate(size.div_ceil(self.block_size) as usize);
            }
        }
        self.content
            .set_len(size)
            .map_err(|e| FsError::local("truncate", self.path_str(), &e))?;
        let old = self.state().size();
        self.eager.resized(old, size);
        self.state().resized(size);
        Ok(())
    }

    /// `FileTooLarge` for a size S3 cannot hold as one object.
    fn within_s3_limit(&self, size: u64, op: &'static str) -> FsResult<()> {
        if size > MAX_OBJECT_SIZE {
            return Err(FsError::new(FsErrorKind::FileTooLarge, op, self.path_str()));
        }
        Ok(())
    }

    /// Sets the attributes and creation time kept on S3, each when given; a change is a new
    /// version to upload.
    pub(crate) fn set_kept(&self, attributes: Option<u32>, created: Option<std::time::SystemTime>) {
        self.state().keep(attributes, created);
    }

    /// The journal record of the file as it stands; `data` is its whole content when small.
    fn record(&self, data: Option<Vec<u8>>) -> UploadRecord {
        let base = self.base_lock().as_ref().map(Base::record);
        self.state().record(base, data)
    }

    /// Writes the file's journal record as it stands now (`what` names it in errors): a small
    /// file's bytes go into the record, one durable write; a larger one's staging file is
    /// flushed first, then recorded.
    pub(crate) fn write_record(&self, journal: &Journal, what: &str) -> FsResult<()> {
        let inline = self
            .inline_data()
            .map_err(|e| FsError::local("read staging", what, &e))?;
        if inline.is_none() {
            self.content
                .sync_data()
                .map_err(|e| FsError::local("fsync staging", what, &e))?;
        }
        journal
            .write(self.id, &Record::Upload(Box::new(self.record(inline))))
            .map_err(|e| FsError::local("journal", what, &e))
    }

    /// Records the file's current contents durably (data and journal), so a crash after this
    /// returns loses nothing.
    pub(crate) fn persist(&self, journal: &Journal) -> FsResult<()> {
        let Some(generation) = self.state().to_journal() else {
            return Ok(());
        };
        self.write_record(journal, &self.path_str())?;
        self.state().journaled_at(generation);
        Ok(())
    }

    /// Makes `token` the upload token of `generation` (an eager multipart upload's, fixed
    /// before the generation was known), journaled when that generation is. Nothing changes
    /// when the file changed since.
    pub(crate) fn adopt_token(&self, journal: &Journal, generation: u64, token: u64) -> FsResult<()> {
        if self.state().adopt_token(generation, token) == Some(true) {
            self.write_record(journal, &self.path_str())?;
        }
        Ok(())
    }

    /// The whole content, when the file is small enough for its journal record and every byte
    /// is local (no remote base still to fetch).
    pub(crate) fn inline_data(&self) -> std::io::Result<Option<Vec<u8>>> {
        let size = self.state().size();
        if size > crate::journal::INLINE_MAX || self.base_lock().is_some() {
            return Ok(None);
        }
        let buf = self.content.read_vec(size as usize, 0)?;
        if buf.len() as u64 != size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the staging file is shorter than the file",
            ));
        }
        Ok(Some(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_records_round_trip_missing_runs() {
        let mut b = Base::new("k".into(), ETag::new("e"), 10 << 20, 1 << 20);
        b.present[0] = true;
        b.present[4] = true;
        b.present[5] = true;
        let r = b.record();
        assert_eq!(r.missing, vec![(1, 4), (6, 10)]);
        let back = Base::from_record(&r, 1 << 20);
        assert_eq!(back.present, b.present);
    }
}
