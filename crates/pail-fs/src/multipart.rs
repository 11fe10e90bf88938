//! Every multipart upload the write path makes — a whole file, a large file whose untouched
//! parts are copied server-side, a file's eager parts — goes through here, so each keeps the
//! same promise: its id is journaled (a `Parts` record) before the first part is sent, so parts
//! a crash leaves behind are aborted by the next mount (`resume`); its parts go
//! out in parallel, each from wherever it lies ([`PartSource`]: sent before, a range of the old
//! object copied server-side, or the file's own bytes); it is completed under the file's
//! condition, or aborted, and only then forgotten.

use std::ops::Range;

use futures::{StreamExt, TryStreamExt};
use pail_store::{ETag, ObjectStore, Stamp, StoreErrorKind, WriteCondition, check_condition, complete_checked};

use crate::dirty::Dirty;
use crate::error::FsError;
use crate::journal::{Journal, Record};
use crate::parts::Layout;
pub(crate) use crate::parts::Started;
use crate::uploader::{SendError, Uploader};

/// Where the bytes of one part come from.
#[derive(Debug, Clone)]
pub(crate) enum PartSource<'a> {
    /// Sent before, and still the file's bytes (an eager part): its ETag.
    Sent(ETag),
    /// The same range of the object `key` at version `etag`, copied server-side (a part of
    /// a large file its edit left alone).
    Copy { key: &'a str, etag: &'a ETag },
    /// The file's own bytes.
    Local,
}

/// How a local part gets the base blocks it needs before it is read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fill {
    /// It needs none (the file has no base, or the staging file is what is sent).
    AsIs,
    /// Fetched under the file's byte lock, which the caller holds.
    Held,
    /// Fetched under the file's byte lock, taken for it.
    Take,
}

impl Fill {
    /// Brings in the base blocks of byte range `range` of `d` as this says.
    pub(crate) async fn apply(self, d: &Dirty, range: Range<u64>) -> Result<(), FsError> {
        match self {
            Fill::AsIs => Ok(()),
            Fill::Held => {
                let bs = d.block_size;
                d.fetch(range.start / bs..range.end.div_ceil(bs)).await
            }
            Fill::Take => d.fill_range(range).await,
        }
    }
}

impl Uploader {
    /// Creates a multipart upload of `key` recording `stamp`, and journals its id before any
    /// part is sent; an id that cannot be journaled is aborted at once.
    pub(crate) async fn start_multipart(&self, key: &str, stamp: Stamp) -> Result<Started, SendError> {
        let upload_id = self.store.create_multipart(key, Some(stamp)).await?;
        let started = Started {
            key: key.to_owned(),
            upload_id,
            record: self.next_record_id(),
        };
        let record = Record::Parts {
            key: started.key.clone(),
            upload_id: started.upload_id.clone(),
        };
        if let Err(e) = self.journal.write(started.record, &record) {
            tracing::warn!(error = %e, "could not journal a multipart upload; aborting it");
            let _ = self.store.abort_multipart(key, &started.upload_id).await;
            return Err(FsError::local("journal", key, &e).into());
        }
        Ok(started)
    }

    /// Sends parts `which` of `started` — `size` bytes of `d` laid out by `layout` —
    /// `transfer.concurrency` at a time, each from where `source` says it lies, and answers
    /// their ETags; the first failure stops it. Local parts are read within the drive's
    /// budget of bytes held by uploads, after `fill` brought in the base blocks they need.
    pub(crate) async fn send_parts<'a>(
        &self,
        d: &Dirty,
        started: &Started,
        (layout, size): (Layout, u64),
        which: Range<u64>,
        source: impl Fn(u64) -> PartSource<'a>,
        fill: Fill,
    ) -> Result<Vec<(u32, ETag)>, SendError> {
        futures::stream::iter(which)
            .map(|i| {
                let (source, n) = (source(i), i as u32 + 1);
                async move {
                    Ok::<_, SendError>((
                        n,
                        self.send_part(d, started, layout.range_in(i, size), n, source, fill)
                            .await?,
                    ))
                }
            })
            .buffer_unordered(self.cfg.transfer.concurrency.max(1))
            .try_collect()
            .await
    }

    /// Sends part `n` (`range` of the file) of `started` from `source`.
    pub(crate) async fn send_part(
        &self,
        d: &Dirty,
        started: &Started,
        range: Range<u64>,
        n: u32,
        source: PartSource<'_>,
        fill: Fill,
    ) -> Result<ETag, SendError> {
        let (key, upload_id) = (started.key.as_str(), started.upload_id.as_str());
        let etag = match source {
            PartSource::Sent(etag) => {
                d.count_sent(range.end - range.start);
                return Ok(etag);
            }
            PartSource::Copy { key: src, etag } => {
                self.store
                    .upload_part_copy(key, upload_id, n, src, range.clone(), Some(etag))
                    .await?
            }
            PartSource::Local => {
                fill.apply(d, range.clone()).await?;
                let (body, _held) = self.read_staged(d, &range).await?;
                self.store.upload_part(key, upload_id, n, body).await?
            }
        };
        self.sent(d, range.end - range.start);
        Ok(etag)
    }

    /// Completes `started` with the parts `sending` sends, under `cond`, or aborts it when
    /// sending, the check or completing failed; its journal record is forgotten once S3 holds
    /// no open upload (one the abort could not reach stays journaled for the next mount).
    /// `cond` is checked ([`check_condition`]) while the parts go, so completing under it waits
    /// for no round trip of its own; a failed check answers before a failed send.
    pub(crate) async fn complete_or_abort(
        &self,
        started: &Started,
        sending: impl std::future::Future<Output = Result<Vec<(u32, ETag)>, SendError>>,
        cond: &WriteCondition,
    ) -> Result<ETag, SendError> {
        let store = self.store.as_ref();
        let (sent, checked) = tokio::join!(sending, check_condition(store, &started.key, cond));
        let done = match checked.map_err(SendError::from).and(sent) {
            Ok(parts) => complete_checked(store, &started.key, &started.upload_id, parts, cond, &self.cfg.transfer)
                .await
                .map_err(SendError::from),
            Err(e) => Err(e),
        };
        match &done {
            Ok(_) => self.journal.done(started.record),
            // A completion whose answer was lost leaves no upload: the abort finds none.
            Err(_) => abort(store, &self.journal, started).await,
        }
        done
    }
}

/// Aborts `started` and forgets its record, or leaves both for the next mount when S3 cannot
/// be reached.
pub(crate) async fn abort(store: &dyn ObjectStore, journal: &Journal, started: &Started) {
    match store.abort_multipart(&started.key, &started.upload_id).await {
        // Aborted now, or completed or aborted already.
        Ok(()) => journal.done(started.record),
        Err(e) if e.kind() == StoreErrorKind::NotFound => journal.done(started.record),
        Err(e) => {
            tracing::warn!(key = started.key, error = %e, "could not abort a multipart upload; the next mount will")
        }
    }
}
