//! A store that fails on purpose, for tests (feature `testing`): [`Faulty`] wraps any
//! [`ObjectStore`] and, by a seeded plan, answers calls with a server error or a throttle
//! before they reach the store, applies a write and then loses its answer (the case where S3
//! has the object but the client cannot know), answers a conditional write with a spurious
//! 412, delays answers, and "crashes": from a given call on, or when told, no call reaches the
//! store any more, as when the process holding it is gone. A test can also [hold](Faulty::hold)
//! calls of one kind back, to look at the client while they wait.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::{ETag, GetObject, ListPage, ObjectMeta, ObjectStore, Stamp, StoreError, StoreErrorKind, WriteCondition};

/// How often each fault happens, per call, in parts per thousand.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultPlan {
    /// A 500 or a 503 SlowDown, before the call reaches the store.
    pub fail: u32,
    /// A write is applied, then answered with a broken connection.
    pub lose_answer: u32,
    /// A conditional write is refused with 412 although its condition holds.
    pub spurious_conflict: u32,
    /// The answer waits `delay`.
    pub slow: u32,
    /// How long a slow answer waits.
    pub delay: Duration,
    /// After this many calls, the store is gone ([`Faulty::crash`]).
    pub crash_after: Option<u64>,
}

/// `inner` with the faults of a [`FaultPlan`], drawn from a seeded generator.
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    plan: FaultPlan,
    rng: Mutex<u64>,
    calls: AtomicU64,
    crashed: AtomicBool,
    paused: AtomicBool,
    injected: AtomicU64,
    unknown_uploads: Mutex<Vec<String>>,
    holds: Mutex<Vec<Hold>>,
}

/// Calls of one kind held back before they reach the store ([`Faulty::hold`]).
#[derive(Debug, Clone)]
pub struct Hold {
    op: &'static str,
    open: Arc<tokio::sync::watch::Sender<bool>>,
    arrived: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Hold {
    /// Lets the held calls, and every later one, through.
    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Waits until `n` calls have arrived at the hold.
    pub async fn arrived(&self, n: u64) {
        let _ = self.arrived.subscribe().wait_for(|&a| a >= n).await;
    }

    async fn pass(&self) {
        self.arrived.send_modify(|a| *a += 1);
        let _ = self.open.subscribe().wait_for(|&o| o).await;
    }
}

#[derive(PartialEq, Eq)]
enum Call {
    Read,
    Write,
    ConditionalWrite,
}

impl<S: ObjectStore> Faulty<S> {
    /// Wraps `inner`; the same `seed` and the same calls give the same faults.
    pub fn new(inner: S, plan: FaultPlan, seed: u64) -> Self {
        Self {
            inner,
            plan,
            rng: Mutex::new(seed | 1),
            calls: AtomicU64::new(0),
            crashed: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            injected: AtomicU64::new(0),
            unknown_uploads: Mutex::default(),
            holds: Mutex::default(),
        }
    }

    /// Holds every call named `op` (as in its errors: `"CompleteMultipartUpload"`) before it
    /// reaches the store, until the returned hold is released.
    pub fn hold(&self, op: &'static str) -> Hold {
        let hold = Hold {
            op,
            open: Arc::new(tokio::sync::watch::channel(false).0),
            arrived: Arc::new(tokio::sync::watch::channel(0).0),
        };
        self.holds.lock().unwrap_or_else(|e| e.into_inner()).push(hold.clone());
        hold
    }

    /// Holds the plan's faults back (`true`) or lets them happen again (`false`); a crash
    /// stays a crash.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// From now on no call reaches the store: each fails as if the network were gone.
    pub fn crash(&self) {
        self.crashed.store(true, Ordering::SeqCst);
    }

    /// Multipart uploads created whose answer was lost: the client never learned their ids, so
    /// only a lifecycle rule (or ListMultipartUploads) can remove them.
    pub fn unknown_uploads(&self) -> Vec<String> {
        self.unknown_uploads.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Whether an event of `per_mille` happens now (xorshift64*).
    fn roll(&self, per_mille: u32) -> bool {
        if per_mille == 0 {
            return false;
        }
        let mut x = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
        (r % 1000) < u64::from(per_mille)
    }

    fn fault(&self, kind: StoreErrorKind, op: &'static str, key: &str) -> StoreError {
        self.injected.fetch_add(1, Ordering::Relaxed);
        StoreError::new(kind, op, key, Some("injected by Faulty".into()))
    }

    /// What happens before `op` reaches the store: an error, or `Ok(lose_answer)`.
    async fn before(&self, call: Call, op: &'static str, key: &str) -> Result<bool, StoreError> {
        let held: Vec<Hold> = {
            let holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
            holds.iter().filter(|h| h.op == op).cloned().collect()
        };
        for h in held {
            h.pass().await;
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.plan.crash_after.is_some_and(|c| n > c) {
            self.crash();
        }
        if self.crashed.load(Ordering::SeqCst) {
            return Err(StoreError::new(
                StoreErrorKind::Network,
                op,
                key,
                Some("the store crashed".into()),
            ));
        }
        if self.paused.load(Ordering::SeqCst) {
            return Ok(false);
        }
        if self.roll(self.plan.slow) {
            tokio::time::sleep(self.plan.delay).await;
        }
        if self.roll(self.plan.fail) {
            let kind = if self.roll(500) {
                StoreErrorKind::Throttled
            } else {
                StoreErrorKind::Network
            };
            return Err(self.fault(kind, op, key));
        }
        if call == Call::ConditionalWrite && self.roll(self.plan.spurious_conflict) {
            return Err(self.fault(StoreErrorKind::Conflict, op, key));
        }
        Ok(call != Call::Read && self.roll(self.plan.lose_answer))
    }

    /// `result`, or its answer lost when `lose` says so.
    fn after<T>(
        &self,
        lose: bool,
        op: &'static str,
        key: &str,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match result {
            Ok(_) if lose => Err(self.fault(StoreErrorKind::Network, op, key)),
            other => other,
        }
    }
}

fn conditional(cond: &WriteCondition) -> Call {
    match cond {
        WriteCondition::None => Call::Write,
        _ => Call::ConditionalWrite,
    }
}

#[async_trait::async_trait]
impl<S: ObjectStore> ObjectStore for Faulty<S> {
    async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError> {
        self.before(Call::Read, "HeadObject", key).await?;
        self.inner.head(key).await
    }

    async fn get_range(&self, key: &str, range: Range<u64>, if_match: Option<&ETag>) -> Result<GetObject, StoreError> {
        self.before(Call::Read, "GetObject", key).await?;
        self.inner.get_range(key, range, if_match).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        continuation: Option<&str>,
        max_keys: Option<u32>,
    ) -> Result<ListPage, StoreError> {
        self.before(Call::Read, "ListObjectsV2", prefix).await?;
        self.inner.list_page(prefix, delimiter, continuation, max_keys).await
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        cond: &WriteCondition,
        stamp: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        let lose = self.before(conditional(cond), "PutObject", key).await?;
        let r = self.inner.put(key, body, cond, stamp).await;
        self.after(lose, "PutObject", key, r)
    }

    async fn create_multipart(&self, key: &str, stamp: Option<Stamp>) -> Result<String, StoreError> {
        let lose = self.before(Call::Write, "CreateMultipartUpload", key).await?;
        let r = self.inner.create_multipart(key, stamp).await;
        if lose && let Ok(id) = &r {
            self.unknown_uploads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(id.clone());
        }
        self.after(lose, "CreateMultipartUpload", key, r)
    }

    async fn upload_part(&self, key: &str, upload_id: &str, part: u32, body: Bytes) -> Result<ETag, StoreError> {
        let lose = self.before(Call::Write, "UploadPart", key).await?;
        let r = self.inner.upload_part(key, upload_id, part, body).await;
        self.after(lose, "UploadPart", key, r)
    }

    async fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        src: &str,
        range: Range<u64>,
        src_etag: Option<&ETag>,
    ) -> Result<ETag, StoreError> {
        let lose = self.before(Call::Write, "UploadPartCopy", key).await?;
        let r = self
            .inner
            .upload_part_copy(key, upload_id, part, src, range, src_etag)
            .await;
        self.after(lose, "UploadPartCopy", key, r)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, ETag)],
        cond: &WriteCondition,
    ) -> Result<ETag, StoreError> {
        let lose = self.before(conditional(cond), "CompleteMultipartUpload", key).await?;
        let r = self.inner.complete_multipart(key, upload_id, parts, cond).await;
        self.after(lose, "CompleteMultipartUpload", key, r)
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        let lose = self.before(Call::Write, "AbortMultipartUpload", key).await?;
        let r = self.inner.abort_multipart(key, upload_id).await;
        self.after(lose, "AbortMultipartUpload", key, r)
    }

    async fn copy(
        &self,
        src: &str,
        dst: &str,
        src_etag: Option<&ETag>,
        replace: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        let lose = self.before(Call::Write, "CopyObject", dst).await?;
        let r = self.inner.copy(src, dst, src_etag, replace).await;
        self.after(lose, "CopyObject", dst, r)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let lose = self.before(Call::Write, "DeleteObject", key).await?;
        let r = self.inner.delete(key).await;
        self.after(lose, "DeleteObject", key, r)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let first = keys.first().map(String::as_str).unwrap_or_default();
        let lose = self.before(Call::Write, "DeleteObjects", first).await?;
        let r = self.inner.delete_many(keys).await;
        self.after(lose, "DeleteObjects", first, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemStore;

    #[tokio::test]
    async fn a_lost_answer_leaves_the_write_done_and_a_crash_stops_every_call() {
        let mem = MemStore::new();
        let plan = FaultPlan {
            lose_answer: 1000,
            crash_after: Some(1),
            ..FaultPlan::default()
        };
        let store = Faulty::new(mem.clone(), plan, 7);
        let lost = store.put("k", Bytes::from("v"), &WriteCondition::None, None).await;
        assert_eq!(lost.expect_err("lost").kind(), StoreErrorKind::Network);
        assert_eq!(mem.objects()["k"], Bytes::from("v"));
        let after = store.head("k").await;
        assert_eq!(after.expect_err("crashed").kind(), StoreErrorKind::Network);
        assert_eq!(store.injected(), 1);
    }
}
