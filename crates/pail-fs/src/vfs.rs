//! [`Vfs`]: one mounted drive — open handles and reads here; lookups and listings in `lookup`,
//! writes in `write` and `namespace` — over an [`ObjectStore`]. Both adapters call it; it knows
//! nothing of FUSE or WinFsp.
//!
//! Lock order: `handles`, then a handle's `state`; neither is held across an `.await`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use pail_store::{ETag, ObjectStore};

use crate::blocks::{BlockCache, BlockCacheConfig, ObjectRef};
use crate::dirty::Dirty;
use crate::error::{FsError, FsErrorKind, FsResult};
use crate::meta::{Attr, MetaCache};
use crate::names::is_showable;
use crate::path::VfsPath;
use crate::peek::SiblingPeeks;
use crate::reader::{ReadState, WindowConfig};
use crate::seal::Cipher;
use crate::writeback::Writeback;

/// What a file being written looks like.
pub(crate) fn staged_attr(d: &Dirty) -> Attr {
    let st = d.state();
    Attr {
        attributes: st.attributes(),
        created: st.created(),
        ..Attr::sized_file(st.size(), st.mtime())
    }
}

/// The longest key S3 accepts, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

pub use crate::vfs_config::VfsConfig;

/// Checks with one listing of `prefix` that `store` can serve a drive (the bucket exists, the
/// credentials are good): what [`Vfs::probe`] does, before a drive core exists.
pub async fn probe(store: &dyn ObjectStore, prefix: &str) -> FsResult<()> {
    store
        .list_page(prefix, Some("/"), None, Some(1))
        .await
        .map(|_| ())
        .map_err(|e| FsError::from_store("probe", "/", e))
}

/// An open file handle's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandleId(pub u64);

#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) path: VfsPath,
    pub(crate) kind: HandleKind,
}

#[derive(Debug)]
pub(crate) enum HandleKind {
    /// Reads of an object on S3 through the block cache.
    Remote {
        obj: ObjectRef,
        state: Mutex<ReadState>,
        /// What the file was when opened: its attributes once its name is gone.
        opened: Box<Attr>,
    },
    /// Reads (and, if `writer`, writes) of a file in the staging area.
    Staged { file: Arc<Dirty>, writer: bool },
}

/// What a random reader's read fetches at least (aligned): a few pages, as the kernel would
/// read around them, not a whole block.
const NARROW_READ: u64 = 64 << 10;

/// The byte range of one read, clipped to the file, and the blocks it covers.
#[derive(Debug, Clone, Copy)]
struct ReadSpan {
    offset: u64,
    end: u64,
    block_size: u64,
}

impl ReadSpan {
    fn new(offset: u64, len: u32, size: u64, block_size: u64) -> Option<Self> {
        if offset >= size || len == 0 {
            return None;
        }
        Some(Self {
            offset,
            end: (offset + u64::from(len)).min(size),
            block_size,
        })
    }

    fn blocks(&self) -> std::ops::RangeInclusive<u64> {
        self.offset / self.block_size..=(self.end - 1) / self.block_size
    }

    /// The requested bytes from the covering blocks: a zero-copy slice within one block.
    fn assemble(&self, blocks: &[Bytes]) -> Bytes {
        let first = *self.blocks().start();
        if let [only] = blocks {
            let start = (self.offset - first * self.block_size) as usize;
            return only.slice(start..start + (self.end - self.offset) as usize);
        }
        let mut out = BytesMut::with_capacity((self.end - self.offset) as usize);
        for (i, b) in self.blocks().zip(blocks) {
            let block_start = i * self.block_size;
            let from = self.offset.saturating_sub(block_start) as usize;
            let to = ((self.end - block_start) as usize).min(b.len());
            out.extend_from_slice(&b[from..to]);
        }
        out.freeze()
    }
}

/// Numbers for `statfs` / GetVolumeInfo. S3 has no capacity, so these are large and constant.
#[derive(Debug, Clone, Copy)]
pub struct VolumeStats {
    /// Block size reported.
    pub block_size: u32,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub free_files: u64,
    /// Longest name.
    pub max_name_len: u32,
}

/// One mounted drive.
#[derive(Debug)]
pub struct Vfs {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) cfg: VfsConfig,
    pub(crate) meta: Arc<MetaCache>,
    pub(crate) blocks: Arc<BlockCache>,
    pub(crate) siblings: Arc<SiblingPeeks>,
    pub(crate) wb: Option<Arc<Writeback>>,
    handles: Mutex<HashMap<HandleId, Arc<Handle>>>,
    next_handle: AtomicU64,
}

impl Vfs {
    /// A drive over `store`. Does not contact the store; see [`Vfs::probe`].
    pub fn new(store: Arc<dyn ObjectStore>, mut cfg: VfsConfig) -> FsResult<Arc<Self>> {
        if !cfg.prefix.is_empty() && !cfg.prefix.ends_with('/') {
            cfg.prefix.push('/');
        }
        cfg.block_size = cfg.block_size.max(64 * 1024);
        cfg.part_size = cfg.part_size.max(cfg.block_size);
        cfg.lookup_read_bytes = cfg.lookup_read_bytes.min(cfg.block_size);
        // A window larger than half the memory cache would evict its own blocks before use:
        // the blocks the reader just consumed are more recently used than those fetched
        // ahead of it, so once the window is over half the cache, the least recently used
        // block is the next one to read (seen at zero latency: 5/8 halved the read).
        cfg.max_window = cfg.max_window.min(cfg.memory_cache_bytes / 2).max(cfg.block_size);
        cfg.initial_window = cfg.initial_window.min(cfg.max_window);
        let blocks = BlockCache::new(
            store.clone(),
            BlockCacheConfig {
                block_size: cfg.block_size,
                memory_bytes: cfg.memory_cache_bytes,
                disk: cfg.disk_cache.clone(),
                cipher: Cipher::new(cfg.cache_key.as_ref()),
                max_concurrent_gets: cfg.max_concurrent_gets,
            },
        )
        .map_err(|e| {
            tracing::error!(error = %e, "cannot prepare the disk cache");
            FsError::new(FsErrorKind::Io, "opening the disk cache", "")
        })?;
        let meta = Arc::new(MetaCache::new(cfg.metadata_ttl));
        let wb = match (&cfg.writeback, cfg.read_only) {
            (Some(wcfg), false) => {
                let rt = tokio::runtime::Handle::try_current()
                    .map_err(|_| FsError::new(FsErrorKind::Io, "Vfs::new needs a tokio runtime", ""))?;
                let wb = Writeback::open(
                    store.clone(),
                    meta.clone(),
                    wcfg.clone(),
                    blocks.clone(),
                    (cfg.prefix.clone(), cfg.names),
                    cfg.cache_key.as_ref(),
                    rt,
                )
                .map_err(|e| FsError::local("opening the cache directory", wcfg.cache_dir.to_string_lossy(), &e))?;
                wb.resume()
                    .map_err(|e| FsError::local("reading the journal", wcfg.cache_dir.to_string_lossy(), &e))?;
                Some(wb)
            }
            _ => None,
        };
        Ok(Arc::new(Self {
            wb,
            siblings: Arc::new(SiblingPeeks::new(
                store.clone(),
                blocks.clone(),
                meta.clone(),
                cfg.prefix.clone(),
                cfg.names,
                cfg.lookup_read_bytes,
            )),
            meta,
            store,
            blocks,
            cfg,
            handles: Mutex::default(),
            next_handle: AtomicU64::new(1),
        }))
    }

    /// The drive's settings.
    pub fn config(&self) -> &VfsConfig {
        &self.cfg
    }

    /// Checks, with one small listing, that the bucket exists and the credentials may list the
    /// drive's root. Meant for mount time, so a wrong bucket, endpoint or key fails at once.
    pub async fn probe(&self) -> FsResult<()> {
        probe(self.store.as_ref(), &self.cfg.prefix).await
    }

    pub(crate) fn key_of(&self, path: &VfsPath) -> FsResult<String> {
        for n in path.names() {
            if !self.cfg.names.fits(n) {
                return Err(FsError::new(FsErrorKind::NameTooLong, "lookup", path.as_str()));
            }
            // The key segment counts, not only the name shown: on Windows `．` and `.．` (full
            // width) are the keys `.` and `..`, which no listing can show.
            if matches!(n, "." | "..") || !is_showable(&self.cfg.names.encode(n), self.cfg.names) {
                return Err(FsError::new(FsErrorKind::InvalidName, "lookup", path.as_str()));
            }
        }
        let key = path.to_key(&self.cfg.prefix, self.cfg.names);
        // One byte is kept for the `/` a folder's marker or children add.
        if key.len() + 1 > MAX_KEY_LEN {
            return Err(FsError::new(FsErrorKind::NameTooLong, "lookup", path.as_str()));
        }
        Ok(key)
    }

    /// Opens file `path` for reading.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn open(&self, path: &VfsPath) -> FsResult<(HandleId, Attr)> {
        for _ in 0..3 {
            let attr = self.lookup(path).await?;
            if let Some(opened) = self.open_with(path, attr) {
                return opened;
            }
        }
        Err(FsError::new(FsErrorKind::Stale, "open", path.as_str()))
    }

    /// [`open`](Self::open) without waiting, when the path's metadata is cached; `None`
    /// otherwise. Lets an adapter answer on its own thread instead of hopping to the runtime.
    pub fn open_cached(&self, path: &VfsPath) -> Option<FsResult<(HandleId, Attr)>> {
        if path.is_root() {
            return Some(Err(FsError::new(FsErrorKind::IsADirectory, "open", path.as_str())));
        }
        match self.lookup_cached(path)? {
            Ok(attr) => self.open_with(path, attr),
            Err(e) => Some(Err(e)),
        }
    }

    /// Opens `path`, which `attr` describes. `None` when `attr` is of a file being written
    /// that has been uploaded and left the write-back since: look it up again (its entry now
    /// holds the version uploaded).
    fn open_with(&self, path: &VfsPath, attr: Attr) -> Option<FsResult<(HandleId, Attr)>> {
        if let Some(d) = self.wb.as_ref().and_then(|wb| wb.hold(path, false)) {
            let attr = staged_attr(&d);
            let id = self.add_handle(Handle {
                path: path.clone(),
                kind: HandleKind::Staged { file: d, writer: false },
            });
            return Some(Ok((id, attr)));
        }
        if attr.is_dir() {
            return Some(Err(FsError::new(FsErrorKind::IsADirectory, "open", path.as_str())));
        }
        let etag = attr.etag.clone()?;
        Some(self.open_remote(path, attr, etag))
    }

    fn open_remote(&self, path: &VfsPath, attr: Attr, etag: ETag) -> FsResult<(HandleId, Attr)> {
        let obj = ObjectRef {
            key: self.key_of(path)?.into(),
            etag,
            size: attr.size,
            path: path.as_str().into(),
        };
        let state = ReadState::new(WindowConfig {
            initial: self.cfg.initial_window,
            max: self.cfg.max_window,
            block_size: self.cfg.block_size,
            step: self.cfg.part_size,
        });
        let id = self.add_handle(Handle {
            path: path.clone(),
            kind: HandleKind::Remote {
                obj,
                state: Mutex::new(state),
                opened: Box::new(attr.clone()),
            },
        });
        Ok((id, attr))
    }

    pub(crate) fn add_handle(&self, handle: Handle) -> HandleId {
        let id = HandleId(self.next_handle.fetch_add(1, Ordering::Relaxed));
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::new(handle));
        id
    }

    /// The attributes of a file open at `path`, through any handle: what `fstat` answers for a
    /// file whose name is gone (unlinked while open). `None` when nothing is open there.
    pub fn open_file_attr(&self, path: &VfsPath) -> Option<Attr> {
        let ids: Vec<HandleId> = self
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, h)| h.path == *path)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().find_map(|id| self.handle_attr(id).ok())
    }

    pub(crate) fn handle(&self, id: HandleId) -> FsResult<Arc<Handle>> {
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
            .ok_or_else(|| FsError::new(FsErrorKind::BadHandle, "read", ""))
    }

    /// Up to `len` bytes at `offset` of an open file; fewer only at the end of the file.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn read(&self, id: HandleId, offset: u64, len: u32) -> FsResult<Bytes> {
        let h = self.handle(id)?;
        let (obj, state) = match &h.kind {
            HandleKind::Remote { obj, state, .. } => (obj, state),
            HandleKind::Staged { file, .. } => return file.read(offset, len).await,
        };
        let Some((span, random)) = self.start_read(obj, state, offset, len) else {
            return Ok(Bytes::new());
        };
        // A random reader gets the pages it asked for, not whole blocks (unless they are
        // cached): over a network a 1 MiB block costs a 4 KiB read several times its round
        // trip, and its memory.
        let cached = random
            .then(|| {
                span.blocks()
                    .map(|i| self.blocks.cached(obj, i))
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        let read = match cached {
            Some(blocks) => Ok(span.assemble(&blocks)),
            None if random => self.read_narrow(obj, &span).await,
            None => futures::future::try_join_all(span.blocks().map(|i| self.blocks.block(obj, i)))
                .await
                .map(|blocks| span.assemble(&blocks)),
        };
        if let Err(e) = &read
            && e.kind() == FsErrorKind::Stale
        {
            // The object changed: the next open must see the new version.
            self.meta.invalidate(&h.path).await;
        }
        read
    }

    /// [`read`](Self::read) without waiting, when every block it needs is in memory; `None`
    /// otherwise. Prefetching it starts needs a tokio runtime context (`Handle::enter`).
    pub fn read_cached(&self, id: HandleId, offset: u64, len: u32) -> Option<FsResult<Bytes>> {
        let h = match self.handle(id) {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        let HandleKind::Remote { obj, state, .. } = &h.kind else {
            return None;
        };
        let span = ReadSpan::new(offset, len, obj.size, self.blocks.block_size());
        let Some(span) = span else {
            return Some(Ok(Bytes::new()));
        };
        let blocks: Vec<Bytes> = span
            .blocks()
            .map(|i| self.blocks.cached(obj, i))
            .collect::<Option<_>>()?;
        self.start_read(obj, state, offset, len);
        Some(Ok(span.assemble(&blocks)))
    }

    /// The bytes of `span` straight from S3 (rounded out to `NARROW_READ` bytes, not cached),
    /// for a random reader.
    async fn read_narrow(&self, obj: &ObjectRef, span: &ReadSpan) -> FsResult<Bytes> {
        let start = span.offset / NARROW_READ * NARROW_READ;
        let end = span.end.div_ceil(NARROW_READ).saturating_mul(NARROW_READ).min(obj.size);
        let failed = |e| FsError::from_store("read", &*obj.path, e);
        let got = self
            .store
            .get_range(&obj.key, start..end, Some(&obj.etag))
            .await
            .map_err(failed)?;
        let chunks: Vec<Bytes> = futures::TryStreamExt::try_collect(got.body).await.map_err(failed)?;
        let body = Bytes::from(chunks.concat());
        let from = (span.offset - start) as usize;
        let to = ((span.end - start) as usize).min(body.len());
        if from > to {
            return Err(FsError::new(FsErrorKind::Io, "read", &*obj.path));
        }
        Ok(body.slice(from..to))
    }

    /// Records the read in the handle's pattern, starts any prefetch it calls for, and says
    /// which blocks it covers (`None` at or past the end of the file) and whether the reader
    /// reads at random.
    fn start_read(&self, obj: &ObjectRef, state: &Mutex<ReadState>, offset: u64, len: u32) -> Option<(ReadSpan, bool)> {
        let bs = self.blocks.block_size();
        let span = ReadSpan::new(offset, len, obj.size, bs)?;
        let plan = state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_read(offset, span.end - offset);
        if !plan.prefetch.is_empty() {
            self.blocks.prefetch(obj, plan.prefetch, self.cfg.part_size / bs);
        }
        Some((span, plan.random))
    }

    /// Returns once the background read-ahead of small files has finished (for tests, and for
    /// an orderly unmount).
    pub async fn settle_read_ahead(&self) {
        self.siblings.settled().await;
    }

    /// Closes a handle. The last writer's close schedules the upload.
    pub fn release(&self, id: HandleId) {
        let removed = self.handles.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        if let (Some(h), Some(wb)) = (removed, &self.wb)
            && let HandleKind::Staged { file, writer } = &h.kind
        {
            wb.unhold(file, *writer);
        }
    }

    /// Volume numbers for statfs.
    pub fn volume_stats(&self) -> VolumeStats {
        const PIB_IN_4K: u64 = (1 << 50) / 4096;
        VolumeStats {
            block_size: 4096,
            blocks: PIB_IN_4K,
            free_blocks: if self.wb.is_none() { 0 } else { PIB_IN_4K },
            files: 1 << 40,
            free_files: 1 << 40,
            max_name_len: 255,
        }
    }

    /// Bytes held by the memory block cache now.
    pub fn memory_cache_bytes(&self) -> u64 {
        self.blocks.memory_bytes()
    }
}
