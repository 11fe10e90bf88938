//! Every multipart upload the write path makes — a whole file, a large file whose untouched
//! parts are copied server-side, a file's eager parts — goes through here, so each keeps the
//! same promise: its id is journaled (a `Parts` record) before the first part is sent, so parts
//! a crash leaves behind are aborted by the next mount ([`resume`](crate::resume)); its parts go
//! out in parallel, each from wherever it lies; it is completed under the file's condition, or
//! aborted, and only then forgotten. Where a part's bytes come from is the caller's closure.

use std::future::Future;
use std::ops::Range;

use futures::{StreamExt, TryStreamExt};
use pail_store::{ETag, ObjectStore, Stamp, StoreError, StoreErrorKind, WriteCondition, complete_multipart};

use crate::journal::{Journal, Record};
use crate::writeback::Writeback;

/// A multipart upload begun and journaled.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    pub(crate) key: String,
    pub(crate) upload_id: String,
    /// Journal id of its `Parts` record.
    pub(crate) record: u64,
}

impl Writeback {
    /// Creates a multipart upload of `key` recording `stamp`, and journals its id before any
    /// part is sent; an id that cannot be journaled is aborted at once.
    pub(crate) async fn start_multipart(&self, key: &str, stamp: Stamp) -> Result<Started, StoreError> {
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
            return Err(StoreError::new(
                StoreErrorKind::LocalIo,
                "journal",
                key,
                Some(Box::new(e)),
            ));
        }
        Ok(started)
    }

    /// Sends parts `1..=count` of an upload begun with [`start_multipart`](Self::start_multipart),
    /// `transfer.concurrency` at a time: `part(n)` sends part `n` (or names one sent before) and
    /// answers its ETag. The first failure stops it.
    pub(crate) async fn send_parts<F, Fut>(&self, count: u64, part: F) -> Result<Vec<(u32, ETag)>, StoreError>
    where
        F: Fn(u32) -> Fut,
        Fut: Future<Output = Result<ETag, StoreError>>,
    {
        futures::stream::iter(1..=count as u32)
            .map(|n| {
                let sent = part(n);
                async move { Ok::<_, StoreError>((n, sent.await?)) }
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
        sent: Result<Vec<(u32, ETag)>, StoreError>,
        cond: &WriteCondition,
    ) -> Result<ETag, StoreError> {
        let store = self.store.as_ref();
        let done = match sent {
            Ok(parts) => {
                complete_multipart(store, &started.key, &started.upload_id, parts, cond, &self.cfg.transfer).await
            }
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

/// Parts per size tier of a [`Layout`].
const TIER: u64 = 1_000;
/// S3's part-count limit.
pub(crate) const MAX_PARTS: u64 = 10_000;

/// Where the parts of an eager upload lie. Its size is not known while it is written, so the
/// parts grow: 1,000 parts of `base` bytes, then 1,000 of twice that, and so on. A file of up
/// to 1,000 parts keeps the drive's part size, and 10,000 parts of the default 8 MiB base reach
/// past S3's 5 TiB object limit with no part over its 5 GiB limit (S3 takes parts of different
/// sizes; only the last may be under 5 MiB). A file past 10,000 parts is sent whole instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) base: u64,
}

impl Layout {
    fn tier_start(&self, tier: u64) -> u64 {
        let parts_before = TIER.saturating_mul(1u64.checked_shl(tier as u32).unwrap_or(u64::MAX).saturating_sub(1));
        self.base.saturating_mul(parts_before)
    }

    /// The bytes of part `i` (0-based).
    pub(crate) fn range(&self, i: u64) -> Range<u64> {
        let tier = i / TIER;
        let size = self.base.saturating_mul(1 << tier.min(40));
        let start = self.tier_start(tier).saturating_add((i % TIER).saturating_mul(size));
        start..start.saturating_add(size)
    }

    /// The part holding byte `offset`.
    pub(crate) fn part_of(&self, offset: u64) -> u64 {
        let mut tier = 0;
        while tier < 40 && offset >= self.tier_start(tier + 1) {
            tier += 1;
        }
        tier * TIER + (offset - self.tier_start(tier)) / self.base.saturating_mul(1 << tier)
    }

    /// How many parts a file of `size` bytes has.
    pub(crate) fn count(&self, size: u64) -> u64 {
        if size == 0 { 0 } else { self.part_of(size - 1) + 1 }
    }
}

/// The byte range of part `n` (from 1) of a `size`-byte file cut into `part_size` parts.
pub(crate) fn part_range(n: u32, part_size: u64, size: u64) -> Range<u64> {
    let start = u64::from(n - 1) * part_size;
    start..(start + part_size).min(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_by_tiers_and_reach_s3s_object_limit_within_its_part_limits() {
        let l = Layout { base: 5 << 20 };
        assert_eq!(l.range(0), 0..5 << 20);
        assert_eq!(l.range(999).end, 1000 * (5 << 20));
        assert_eq!(l.range(1000), 1000 * (5 << 20)..1000 * (5 << 20) + (10 << 20));
        for i in [0, 1, 998, 999, 1000, 1001, 4321, 9_999] {
            let r = l.range(i);
            assert_eq!(
                r.start,
                if i == 0 { 0 } else { l.range(i - 1).end },
                "contiguous at {i}"
            );
            assert_eq!((l.part_of(r.start), l.part_of(r.end - 1)), (i, i), "part {i}");
            assert!(r.end - r.start <= 5 << 30, "part {i} within S3's 5 GiB");
        }
        let default = Layout { base: 8 << 20 };
        assert!(default.range(MAX_PARTS - 1).end >= 5 << 40, "10,000 parts hold 5 TiB");
        assert!(default.range(MAX_PARTS - 1).end - default.range(MAX_PARTS - 1).start <= 5 << 30);
        assert_eq!(l.count(0), 0);
        assert_eq!(l.count(1), 1);
        assert_eq!(l.count(5 << 20), 1);
        assert_eq!(l.count((5 << 20) + 1), 2);
        assert!(l.part_of(u64::MAX) >= MAX_PARTS, "no overflow at the end of the range");
    }
}
