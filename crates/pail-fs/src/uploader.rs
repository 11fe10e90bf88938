//! [`Uploader`]: what every upload of a drive shares — the store, the journal, the budget of
//! bytes that upload bodies hold in memory, the counters — and the one way a file's bytes are
//! read to be sent. The uploads themselves are in `upload` (a file after close), `eager_send`
//! (parts sent while it is written) and `multipart` (the one multipart loop); deciding when to
//! upload, and retrying, is `writeback`'s.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use pail_store::{ObjectStore, StoreError};
use tokio::sync::{Notify, Semaphore, SemaphorePermit};

use crate::dirty::Dirty;
use crate::error::FsError;
use crate::journal::Journal;
use crate::names::NameEncoding;
use crate::staging::Staging;
use crate::writeback_config::WritebackConfig;

/// Why sending bytes to S3 failed: S3's answer (which may hide a request that landed), or the
/// bytes could not be read here (nothing was sent).
#[derive(Debug)]
pub(crate) enum SendError {
    Store(StoreError),
    Local(FsError),
}

impl From<StoreError> for SendError {
    fn from(e: StoreError) -> Self {
        SendError::Store(e)
    }
}

impl From<FsError> for SendError {
    fn from(e: FsError) -> Self {
        SendError::Local(e)
    }
}

impl SendError {
    /// As the file system reports it, for `op` on `path`.
    pub(crate) fn into_fs(self, op: &'static str, path: &str) -> FsError {
        match self {
            SendError::Store(e) => FsError::from_store(op, path, e),
            SendError::Local(e) => e,
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Store(e) => e.fmt(f),
            SendError::Local(e) => f.write_str(&e.detail()),
        }
    }
}

/// What the uploads of one drive share.
#[derive(Debug)]
pub(crate) struct Uploader {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) journal: Journal,
    pub(crate) staging: Arc<Staging>,
    pub(crate) cfg: WritebackConfig,
    pub(crate) prefix: String,
    pub(crate) names: NameEncoding,
    /// What upload bodies in memory may take, in units of [`BODY_UNIT`].
    bodies: Semaphore,
    /// Eager parts in flight, drive-wide (bounds the memory they hold).
    pub(crate) eager_slots: Semaphore,
    /// Multipart uploads being aborted: left by an earlier mount, or eager parts no longer
    /// wanted (a drain waits for them).
    pub(crate) aborting: Arc<AtomicU64>,
    /// Bytes sent so far.
    pub(crate) uploaded: AtomicU64,
    /// Notified whenever something pending may have ended (a drain waits on it).
    pub(crate) changed: Arc<Notify>,
    next_id: AtomicU64,
    pub(crate) rt: tokio::runtime::Handle,
}

impl Uploader {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        journal: Journal,
        staging: Arc<Staging>,
        cfg: WritebackConfig,
        (prefix, names): (String, NameEncoding),
        rt: tokio::runtime::Handle,
    ) -> Self {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        Self {
            store,
            journal,
            staging,
            bodies: Semaphore::new(body_units(u64::MAX, cfg.transfer_memory) as usize),
            eager_slots: Semaphore::new(cfg.transfer.concurrency.max(1)),
            cfg,
            prefix,
            names,
            aborting: Arc::default(),
            uploaded: AtomicU64::new(0),
            changed: Arc::default(),
            next_id: AtomicU64::new(start),
            rt,
        }
    }

    /// A fresh id for a journal record or a staging file.
    pub(crate) fn next_record_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts `bytes` of `d` as sent: the drive's total and the file's progress.
    pub(crate) fn sent(&self, d: &Dirty, bytes: u64) {
        self.uploaded.fetch_add(bytes, Ordering::Relaxed);
        d.count_sent(bytes);
    }

    /// Reads `range` of `d` to send it, once the drive's budget of bytes held by uploads has
    /// room for it; the body counts against the budget until the returned permit is dropped.
    /// Past the end of the staging file the file reads as zeros (it was extended).
    pub(crate) async fn read_staged(
        &self,
        d: &Dirty,
        range: &Range<u64>,
    ) -> Result<(Bytes, SemaphorePermit<'_>), FsError> {
        let what = || d.state().path().as_str().to_owned();
        let permit = self
            .bodies
            .acquire_many(body_units(range.end - range.start, self.cfg.transfer_memory))
            .await
            .map_err(|_| FsError::new(crate::FsErrorKind::Io, "read staging", what()))?;
        let len = (range.end - range.start) as usize;
        let mut buf = d
            .content
            .read_vec(len, range.start)
            .map_err(|e| FsError::local("read staging", what(), &e))?;
        buf.resize(len, 0);
        Ok((buf.into(), permit))
    }
}

/// The budget of bytes held by uploads is counted in units of this size.
pub(crate) const BODY_UNIT: u64 = 64 << 10;

/// Units of the budget `total` that a body of `len` bytes takes (a body larger than the whole
/// budget takes all of it, and waits for it to be free).
pub(crate) fn body_units(len: u64, total: u64) -> u32 {
    len.div_ceil(BODY_UNIT)
        .clamp(1, total.div_ceil(BODY_UNIT).max(1))
        .min(u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_bodies_take_their_size_from_the_budget_and_never_more_than_all_of_it() {
        let budget = 64 << 20;
        assert_eq!(body_units(0, budget), 1, "an empty body still takes a unit");
        assert_eq!(body_units(4096, budget), 1);
        assert_eq!(body_units(BODY_UNIT + 1, budget), 2);
        assert_eq!(body_units(8 << 20, budget), 128);
        assert_eq!(
            body_units(5 << 30, budget),
            body_units(u64::MAX, budget),
            "clamped to the budget"
        );
        assert_eq!(body_units(u64::MAX, budget), 1024);
        assert_eq!(
            body_units(u64::MAX, 0),
            1,
            "a budget of nothing still lets one body through"
        );
    }
}
