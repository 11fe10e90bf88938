//! Every multipart upload the write path makes — a whole file, a large file whose untouched
//! parts are copied server-side, a file's eager parts — goes through here, so each keeps the
//! same promise: its id is journaled (a `Parts` record) before the first part is sent, so parts
//! a crash leaves behind are aborted by the next mount (`resume`); its parts go
//! out in parallel, each from wherever it lies; it is completed under the file's condition, or
//! aborted, and only then forgotten. Where a part's bytes come from is the caller's closure.

use std::future::Future;

use futures::{StreamExt, TryStreamExt};
use pail_store::{ETag, ObjectStore, Stamp, StoreErrorKind, WriteCondition, complete_multipart};

use crate::error::FsError;
use crate::journal::{Journal, Record};
pub(crate) use crate::parts::Started;
use crate::uploader::{SendError, Uploader};

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

    /// Sends parts `1..=count` of an upload begun with [`start_multipart`](Self::start_multipart),
    /// `transfer.concurrency` at a time: `part(n)` sends part `n` (or names one sent before) and
    /// answers its ETag. The first failure stops it.
    pub(crate) async fn send_parts<F, Fut>(&self, count: u64, part: F) -> Result<Vec<(u32, ETag)>, SendError>
    where
        F: Fn(u32) -> Fut,
        Fut: Future<Output = Result<ETag, SendError>>,
    {
        futures::stream::iter(1..=count as u32)
            .map(|n| {
                let sent = part(n);
                async move { Ok::<_, SendError>((n, sent.await?)) }
            })
            .buffer_unordered(self.cfg.transfer.concurrency.max(1))
            .try_collect()
            .await
    }

    /// Completes `started` with the parts `sent` under `cond`, or aborts it when sending or
    /// completing failed; its journal record is forgotten once S3 holds no open upload (one
    /// the abort could not reach stays journaled for the next mount).
    pub(crate) async fn complete_or_abort(
        &self,
        started: &Started,
        sent: Result<Vec<(u32, ETag)>, SendError>,
        cond: &WriteCondition,
    ) -> Result<ETag, SendError> {
        let store = self.store.as_ref();
        let done = match sent {
            Ok(parts) => complete_multipart(store, &started.key, &started.upload_id, parts, cond, &self.cfg.transfer)
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
