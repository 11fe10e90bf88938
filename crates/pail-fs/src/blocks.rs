//! The block cache: fixed-size blocks of object content keyed by (key, ETag, block index), so a
//! changed object is never served from an old version's blocks.
//!
//! Tiers: a bounded memory tier (moka, weighed by bytes, LRU so a streaming reader's fresh
//! blocks are never refused admission) and an optional bounded disk tier (files under the cache
//! directory; the eviction listener deletes them). Fetches are ranged GETs with `If-Match`
//! covering a run of blocks; each block is handed to waiters as soon as its bytes arrived. At
//! most one fetch is in flight per block: later readers wait on the same one.
//!
//! Lock order: `inflight` only; never held across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use pail_store::{ETag, ObjectStore};
use tokio::sync::{Semaphore, watch};

use crate::error::{FsError, FsErrorKind, FsResult};
use crate::seal::Cipher;

/// One block of one version of one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BlockKey {
    pub key: Arc<str>,
    pub etag: ETag,
    pub index: u64,
}

/// The object a reader reads: key, version and size.
#[derive(Debug, Clone)]
pub(crate) struct ObjectRef {
    pub key: Arc<str>,
    pub etag: ETag,
    pub size: u64,
    /// The displayed path, for error messages.
    pub path: Arc<str>,
}

impl ObjectRef {
    fn block(&self, index: u64) -> BlockKey {
        BlockKey {
            key: self.key.clone(),
            etag: self.etag.clone(),
            index,
        }
    }
}

/// What waiters of an in-flight block see: nothing yet, then the block or the fetch's error.
type BlockResult = Option<Result<Bytes, FsError>>;
type Slot = watch::Receiver<BlockResult>;
type Pending = VecDeque<(u64, watch::Sender<BlockResult>)>;

/// Disk tier configuration.
#[derive(Debug, Clone)]
pub struct DiskCacheConfig {
    /// Directory for block files; created if missing, emptied at start.
    pub dir: PathBuf,
    /// Upper bound of the bytes kept there.
    pub max_bytes: u64,
}

#[derive(Debug)]
struct DiskTier {
    dir: PathBuf,
    index: moka::sync::Cache<BlockKey, u32>,
    /// Blocks are sealed under the cache's key when it has one, with their file name as
    /// associated data.
    cipher: Cipher,
}

impl DiskTier {
    fn open(cfg: &DiskCacheConfig, cipher: Cipher) -> std::io::Result<Self> {
        let dir = cfg.dir.join("blocks");
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        crate::private::create_dir_all(&dir)?;
        let evict_dir = dir.clone();
        let index = moka::sync::Cache::builder()
            .max_capacity(cfg.max_bytes)
            .weigher(|_k, len: &u32| *len)
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .eviction_listener(move |k: Arc<BlockKey>, _len, _cause| {
                let _ = std::fs::remove_file(evict_dir.join(file_name(&k)));
            })
            .build();
        Ok(Self { dir, index, cipher })
    }

    fn read(&self, k: &BlockKey) -> Option<Bytes> {
        self.index.get(k)?;
        let name = file_name(k);
        let data = std::fs::read(self.dir.join(&name)).ok()?;
        match self.cipher.unwrap(name.as_bytes(), data, "a cached block") {
            Ok(plain) => Some(Bytes::from(plain)),
            Err(e) => {
                tracing::warn!(error = %e, "a cached block is unreadable; it is fetched again");
                self.index.invalidate(k);
                None
            }
        }
    }

    fn write(&self, k: BlockKey, data: &Bytes) {
        let name = file_name(&k);
        let path = self.dir.join(&name);
        let sealed = self.cipher.wrap(name.as_bytes(), data.to_vec());
        if crate::private::write(&path, &sealed).is_ok() {
            self.index.insert(k, data.len() as u32);
        }
    }
}

fn file_name(k: &BlockKey) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("{}\0{}\0{}", k.key, k.etag, k.index)))
}

/// Block cache configuration.
#[derive(Debug, Clone)]
pub(crate) struct BlockCacheConfig {
    pub block_size: u64,
    pub memory_bytes: u64,
    pub disk: Option<DiskCacheConfig>,
    pub cipher: Cipher,
    pub max_concurrent_gets: usize,
}

/// The block cache of one drive.
#[derive(Debug)]
pub(crate) struct BlockCache {
    store: Arc<dyn ObjectStore>,
    block_size: u64,
    memory: moka::sync::Cache<BlockKey, Bytes>,
    disk: Option<Arc<DiskTier>>,
    inflight: Mutex<HashMap<BlockKey, Slot>>,
    gets: Arc<Semaphore>,
}

impl BlockCache {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, cfg: BlockCacheConfig) -> std::io::Result<Arc<Self>> {
        let disk = cfg
            .disk
            .as_ref()
            .map(|d| DiskTier::open(d, cfg.cipher.clone()))
            .transpose()?
            .map(Arc::new);
        Ok(Arc::new(Self {
            store,
            block_size: cfg.block_size,
            memory: moka::sync::Cache::builder()
                .max_capacity(cfg.memory_bytes)
                .weigher(|_k, v: &Bytes| v.len().min(u32::MAX as usize) as u32)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .build(),
            disk,
            inflight: Mutex::default(),
            gets: Arc::new(Semaphore::new(cfg.max_concurrent_gets.max(1))),
        }))
    }

    pub(crate) fn block_size(&self) -> u64 {
        self.block_size
    }

    /// The store blocks come from.
    pub(crate) fn store(&self) -> &dyn ObjectStore {
        self.store.as_ref()
    }

    /// Bytes currently held by the memory tier.
    pub(crate) fn memory_bytes(&self) -> u64 {
        self.memory.run_pending_tasks();
        self.memory.weighted_size()
    }

    fn blocks_of(&self, size: u64) -> u64 {
        size.div_ceil(self.block_size)
    }

    /// Whether block `index` is cached (in either tier) or on its way.
    fn is_present(&self, k: &BlockKey) -> bool {
        self.memory.contains_key(k)
            || self.disk.as_ref().is_some_and(|d| d.index.contains_key(k))
            || self.inflight.lock().unwrap_or_else(|e| e.into_inner()).contains_key(k)
    }

    /// Block `index` of `obj`, from memory, disk, an in-flight fetch, or a new fetch of just it.
    pub(crate) async fn block(self: &Arc<Self>, obj: &ObjectRef, index: u64) -> FsResult<Bytes> {
        // A block moves from in flight to memory (and disk) before it leaves the in-flight
        // table, so looking in that order, and re-checking memory under the in-flight lock,
        // never misses a block that is being or has been fetched.
        let k = obj.block(index);
        if let Some(b) = self.memory.get(&k) {
            return Ok(b);
        }
        let in_flight = self.inflight.lock().unwrap_or_else(|e| e.into_inner()).get(&k).cloned();
        if in_flight.is_none()
            && let Some(disk) = &self.disk
        {
            let (disk, k2) = (disk.clone(), k.clone());
            if let Ok(Some(b)) = tokio::task::spawn_blocking(move || disk.read(&k2)).await {
                self.memory.insert(k.clone(), b.clone());
                return Ok(b);
            }
        }
        let mut slot = match in_flight {
            Some(s) => s,
            None => {
                let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
                match inflight.get(&k).cloned() {
                    Some(s) => s,
                    None => {
                        if let Some(b) = self.memory.get(&k) {
                            return Ok(b);
                        }
                        self.start_fetch(&mut inflight, obj, index..index + 1);
                        inflight.get(&k).cloned().expect("registered by start_fetch")
                    }
                }
            }
        };
        let value = slot
            .wait_for(Option::is_some)
            .await
            .map_err(|_| FsError::new(FsErrorKind::Io, "read", &*obj.path))?
            .clone();
        value.expect("wait_for returned a filled slot")
    }

    /// Block `index` of `obj` if the memory tier holds it.
    pub(crate) fn cached(&self, obj: &ObjectRef, index: u64) -> Option<Bytes> {
        self.memory.get(&obj.block(index))
    }

    /// Caches the whole content of a small object (at most one block) fetched elsewhere.
    pub(crate) fn insert_whole(&self, obj: &ObjectRef, data: Bytes) {
        if data.len() as u64 == obj.size && obj.size <= self.block_size && obj.size > 0 {
            self.memory.insert(obj.block(0), data);
        }
    }

    /// Starts background fetches for the blocks in `range` that are neither cached nor in
    /// flight, grouped into runs of at most `run_blocks` blocks per GET.
    pub(crate) fn prefetch(self: &Arc<Self>, obj: &ObjectRef, range: std::ops::Range<u64>, run_blocks: u64) {
        let end = range.end.min(self.blocks_of(obj.size));
        let mut i = range.start;
        while i < end {
            if self.is_present(&obj.block(i)) {
                i += 1;
                continue;
            }
            let start = i;
            while i < end && i - start < run_blocks && !self.is_present(&obj.block(i)) {
                i += 1;
            }
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            self.start_fetch(&mut inflight, obj, start..i);
        }
    }

    /// Registers in-flight slots for `blocks` and spawns one ranged GET for them.
    /// The caller holds the in-flight lock, so checking and registering are one step.
    fn start_fetch(
        self: &Arc<Self>,
        inflight: &mut HashMap<BlockKey, Slot>,
        obj: &ObjectRef,
        blocks: std::ops::Range<u64>,
    ) {
        let mut senders = VecDeque::new();
        for i in blocks {
            let k = obj.block(i);
            if inflight.contains_key(&k) {
                break;
            }
            let (tx, rx) = watch::channel(None);
            inflight.insert(k, rx);
            senders.push_back((i, tx));
        }
        if senders.is_empty() {
            return;
        }
        let this = self.clone();
        let obj = obj.clone();
        tokio::spawn(async move {
            let first = senders[0].0;
            let last = first + senders.len() as u64 - 1;
            let start = first * this.block_size;
            let end = ((last + 1) * this.block_size).min(obj.size);
            let result = this.run_fetch(&obj, start..end, first, &mut senders).await;
            if let Err(e) = result {
                tracing::debug!(error = %e, key = %obj.key, "block fetch failed");
                for (_, tx) in senders.drain(..) {
                    let _ = tx.send(Some(Err(e.clone())));
                }
            }
            let mut inflight = this.inflight.lock().unwrap_or_else(|e| e.into_inner());
            for i in first..=last {
                inflight.remove(&obj.block(i));
            }
        });
    }

    /// Fetches `range` and completes each sender's block as its bytes arrive. On return,
    /// `senders` holds the blocks not completed, and every completed block is on disk too.
    ///
    /// The body is read on while completed blocks are written to disk: waiting for each
    /// write (sealed, on the blocking pool) before reading the next block held the GET's
    /// connection idle for it, and over a network a connection that is not read slows down.
    async fn run_fetch(
        &self,
        obj: &ObjectRef,
        range: std::ops::Range<u64>,
        first: u64,
        senders: &mut Pending,
    ) -> FsResult<()> {
        let _permit = self
            .gets
            .acquire()
            .await
            .map_err(|_| FsError::new(FsErrorKind::Io, "read", &*obj.path))?;
        let got = self
            .store
            .get_range(&obj.key, range.clone(), Some(&obj.etag))
            .await
            .map_err(|e| FsError::from_store("read", &*obj.path, e))?;
        let mut body = got.body;
        let mut writes = Vec::new();
        let done = self.read_blocks(obj, &mut body, first, senders, &mut writes).await;
        for w in writes {
            let _ = w.await;
        }
        done
    }

    /// Cuts `body` into the blocks of `senders` from `first` on, completing each.
    async fn read_blocks(
        &self,
        obj: &ObjectRef,
        body: &mut pail_store::ByteStream,
        first: u64,
        senders: &mut Pending,
        writes: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> FsResult<()> {
        let mut index = first;
        let mut buf = BytesMut::with_capacity(self.block_len(obj, index) as usize);
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|e| FsError::from_store("read", &*obj.path, e))?;
            while !chunk.is_empty() {
                let want = self.block_len(obj, index) as usize - buf.len();
                let take = want.min(chunk.len());
                buf.extend_from_slice(&chunk.split_to(take));
                if buf.len() as u64 == self.block_len(obj, index) {
                    let block = std::mem::take(&mut buf).freeze();
                    let (_, tx) = senders.pop_front().expect("one sender per block of the range");
                    writes.extend(self.complete(obj, index, block, &tx));
                    index += 1;
                    if senders.is_empty() {
                        return Ok(());
                    }
                    buf = BytesMut::with_capacity(self.block_len(obj, index) as usize);
                }
            }
        }
        Err(FsError::new(FsErrorKind::Unavailable, "read (short body)", &*obj.path))
    }

    fn block_len(&self, obj: &ObjectRef, index: u64) -> u64 {
        let start = index * self.block_size;
        (obj.size - start).min(self.block_size)
    }

    /// Hands a fetched block to its waiters and the memory tier, and starts its disk write,
    /// returned for the fetch to wait for before the block leaves the in-flight table: a
    /// block is always in flight, in memory or on disk.
    fn complete(
        &self,
        obj: &ObjectRef,
        index: u64,
        block: Bytes,
        tx: &watch::Sender<BlockResult>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let k = obj.block(index);
        self.memory.insert(k.clone(), block.clone());
        let _ = tx.send(Some(Ok(block.clone())));
        let disk = self.disk.clone()?;
        Some(tokio::task::spawn_blocking(move || disk.write(k, &block)))
    }
}
