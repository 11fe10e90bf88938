//! Peeking at objects: a lookup's GET of an object's first bytes (instead of a HEAD), and the
//! read-ahead of small siblings when a cold folder is being read file by file.
//!
//! A peek costs the same single round trip as a HEAD, but a small file's whole content arrives
//! with its metadata, so open and read afterwards need no request. When lookups walk a folder
//! that fits in one listing page (`cp -r`, `cat *`, `grep -r`, an editor opening a project),
//! the next few small files after the one just looked up are peeked in the background, so
//! their lookups are answered from the cache instead of one round trip after another.
//!
//! Lock order: `inflight` only; never held across an `.await`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pail_store::{ObjectMeta, ObjectStore, StoreError, StoreErrorKind};
use tokio::sync::{Notify, Semaphore};

use crate::blocks::{BlockCache, ObjectRef};
use crate::meta::{Attr, Listing, MetaCache};
use crate::names::NameEncoding;
use crate::path::VfsPath;

/// How many small siblings after the one looked up are peeked ahead.
const SIBLINGS_AHEAD: usize = 64;
/// How many sibling peeks run at once.
const SIBLING_PEEKS_AT_ONCE: usize = 32;

/// The object's metadata from a GET of its first `bytes` (a HEAD when `bytes` is 0); objects
/// no larger than that are put in the block cache whole. Empty objects, which answer a ranged
/// GET with 416, fall back to HEAD.
pub(crate) async fn head_and_peek(
    store: &dyn ObjectStore,
    blocks: &BlockCache,
    key: &str,
    bytes: u64,
) -> Result<ObjectMeta, StoreError> {
    if bytes == 0 {
        return store.head(key).await;
    }
    let got = match store.get_range(key, 0..bytes, None).await {
        Ok(got) => got,
        Err(e) if matches!(e.kind(), StoreErrorKind::NotFound | StoreErrorKind::AccessDenied) => return Err(e),
        Err(_) => return store.head(key).await,
    };
    let meta = got.meta;
    let body: Vec<Bytes> = futures::TryStreamExt::try_collect(got.body).await?;
    if meta.size <= bytes {
        let obj = ObjectRef {
            key: key.into(),
            etag: meta.etag.clone(),
            size: meta.size,
            path: key.into(),
        };
        blocks.insert_whole(&obj, body.concat().into());
    }
    Ok(meta)
}

/// Everything a background peek needs, shared with the drive.
#[derive(Debug)]
pub(crate) struct SiblingPeeks {
    pub store: Arc<dyn ObjectStore>,
    pub blocks: Arc<BlockCache>,
    pub meta: Arc<MetaCache>,
    pub prefix: String,
    pub names: NameEncoding,
    pub bytes: u64,
    inflight: Mutex<HashSet<VfsPath>>,
    settled: Notify,
    permits: Semaphore,
}

impl SiblingPeeks {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        blocks: Arc<BlockCache>,
        meta: Arc<MetaCache>,
        prefix: String,
        names: NameEncoding,
        bytes: u64,
    ) -> Self {
        Self {
            store,
            blocks,
            meta,
            prefix,
            names,
            bytes,
            inflight: Mutex::default(),
            settled: Notify::new(),
            permits: Semaphore::new(SIBLING_PEEKS_AT_ONCE),
        }
    }

    /// Peeks, in the background, the small files of `dir` that follow `name` in `listing`
    /// and are not known yet. Must run inside a tokio runtime.
    pub(crate) fn after(self: &Arc<Self>, dir: &VfsPath, listing: &Listing, name: &str) {
        if self.bytes == 0 {
            return;
        }
        let start = listing.entries.partition_point(|e| e.name.as_str() <= name);
        let candidates = listing.entries[start..]
            .iter()
            .filter(|e| !e.attr.is_dir() && e.attr.size > 0 && e.attr.size <= self.bytes)
            .take(SIBLINGS_AHEAD)
            .map(|e| dir.join(&e.name))
            .filter(|p| self.meta.entry(p).is_none());
        let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        for path in candidates {
            if !inflight.insert(path.clone()) {
                continue;
            }
            let this = self.clone();
            tokio::spawn(async move {
                this.peek(&path).await;
                let mut inflight = this.inflight.lock().unwrap_or_else(|e| e.into_inner());
                inflight.remove(&path);
                if inflight.is_empty() {
                    this.settled.notify_waiters();
                }
            });
        }
    }

    /// Returns once no sibling peek is running.
    pub(crate) async fn settled(&self) {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inflight.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                return;
            }
            notified.await;
        }
    }

    async fn peek(&self, path: &VfsPath) {
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        let key = path.to_key(&self.prefix, self.names);
        match head_and_peek(self.store.as_ref(), &self.blocks, &key, self.bytes).await {
            Ok(meta) => self.meta.put_entry(path.clone(), Some(Attr::file(&meta))),
            Err(e) if e.kind() == StoreErrorKind::NotFound => self.meta.put_entry(path.clone(), None),
            // A failed read-ahead is not an error of anyone's: the lookup will ask again.
            Err(e) => tracing::debug!(error = %e, %path, "sibling peek failed"),
        }
    }
}
