//! The write side of [`Vfs`]: create, open for writing, write, truncate, set times, flush
//! (journal), fsync (upload and wait), and waiting for pending uploads.
//!
//! Writes go to the file's staging file ([`crate::dirty`]); closing the last writer journals the
//! file and schedules its upload ([`crate::writeback`]).

use std::sync::Arc;
use std::time::SystemTime;

use crate::dirty::{Base, Dirty};
use crate::error::{FsError, FsErrorKind, FsResult};
use crate::lifecycle::Expect;
use crate::meta::Attr;
use crate::path::VfsPath;
use crate::status::WritebackStatus;
use crate::vfs::{Handle, HandleId, HandleKind, Vfs, staged_attr};
use crate::writeback::Writeback;

impl Vfs {
    pub(crate) fn writeback(&self, op: &'static str, path: &VfsPath) -> FsResult<&Arc<Writeback>> {
        self.wb
            .as_ref()
            .ok_or_else(|| FsError::new(FsErrorKind::ReadOnly, op, path.as_str()))
    }

    /// A writer handle on `d`, which the caller already holds as a writer.
    fn writer_handle(&self, d: Arc<Dirty>, path: &VfsPath) -> (HandleId, Attr) {
        let attr = staged_attr(&d);
        let id = self.add_handle(Handle {
            path: path.clone(),
            kind: HandleKind::Staged { file: d, writer: true },
        });
        (id, attr)
    }

    /// The staging file of `path`, started from its S3 version (fetched lazily) if needed,
    /// held as a writer (the caller makes a handle of it or calls `unhold`).
    async fn staged(&self, path: &VfsPath, truncate: bool) -> FsResult<Arc<Dirty>> {
        let wb = self.writeback("open for writing", path)?;
        self.after_moves(path).await;
        if let Some(d) = wb.hold(path, true) {
            let size = d.state().size();
            if truncate
                && size > 0
                && let Err(e) = d.set_len(0).await
            {
                wb.unhold(&d, true);
                return Err(e);
            }
            return Ok(d);
        }
        if self.lookup(path).await?.is_dir() {
            return Err(FsError::new(
                FsErrorKind::IsADirectory,
                "open for writing",
                path.as_str(),
            ));
        }
        let key = self.key_of(path)?;
        // The version the upload must replace comes from S3 itself, not from a cache that a
        // listing may have filled before our own last upload finished.
        let meta = self
            .store
            .head(&key)
            .await
            .map_err(|e| FsError::from_store("open for writing", path.as_str(), e))?;
        let attr = Attr::file(&meta);
        self.meta.put_entry(path.clone(), Some(attr.clone()));
        let etag = meta.etag;
        let (base, size) = if truncate || attr.size == 0 {
            (None, 0)
        } else {
            let base = Base::new(key.clone(), etag.clone(), attr.size, self.cfg.block_size);
            (Some(base), attr.size)
        };
        let mtime = if truncate { SystemTime::now() } else { attr.mtime };
        let d = wb.start(path, key, base, size, mtime, Expect::Match(etag), true)?;
        d.state().opened_with(meta.attributes, meta.created);
        if truncate {
            d.state().changed();
        }
        Ok(d)
    }

    /// Opens the existing file `path` for writing (and reading); `truncate` empties it.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn open_write(&self, path: &VfsPath, truncate: bool) -> FsResult<(HandleId, Attr)> {
        let d = self.staged(path, truncate).await?;
        Ok(self.writer_handle(d, path))
    }

    /// Creates file `path` and opens it for writing. An existing file is opened (and emptied
    /// when `truncate`), unless `exclusive`, which makes it `Exists`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn create(&self, path: &VfsPath, exclusive: bool, truncate: bool) -> FsResult<(HandleId, Attr)> {
        let wb = self.writeback("create", path)?;
        self.after_moves(path).await;
        let (parent, _) = path
            .split_last()
            .ok_or_else(|| FsError::new(FsErrorKind::Exists, "create", path.as_str()))?;
        let key = self.key_of(path)?;
        if !self.lookup(&parent).await?.is_dir() {
            return Err(FsError::new(FsErrorKind::NotADirectory, "create", path.as_str()));
        }
        match self.lookup(path).await {
            Ok(_) if exclusive => Err(FsError::new(FsErrorKind::Exists, "create", path.as_str())),
            Ok(_) => self.open_write(path, truncate).await,
            Err(e) if e.kind() == FsErrorKind::NotFound => self.create_new(wb, path, key),
            Err(e) => Err(e),
        }
    }

    /// [`create`](Self::create) without waiting, when the cache knows the folder and that the
    /// name is new (the common case: a file created in a folder just listed or just made);
    /// `None` when S3 must be asked or an existing file is opened.
    pub fn create_now(&self, path: &VfsPath, exclusive: bool) -> Option<FsResult<(HandleId, Attr)>> {
        let wb = match self.writeback("create", path) {
            Ok(wb) => wb,
            Err(e) => return Some(Err(e)),
        };
        let (parent, _) = path.split_last()?;
        let key = match self.key_of(path) {
            Ok(k) => k,
            Err(e) => return Some(Err(e)),
        };
        match self.lookup_cached(&parent)? {
            Ok(a) if a.is_dir() => {}
            Ok(_) => return Some(Err(FsError::new(FsErrorKind::NotADirectory, "create", path.as_str()))),
            Err(e) => return Some(Err(e)),
        }
        match self.lookup_cached(path)? {
            Ok(_) if exclusive => Some(Err(FsError::new(FsErrorKind::Exists, "create", path.as_str()))),
            Ok(_) => None,
            Err(e) if e.kind() == FsErrorKind::NotFound => Some(self.create_new(wb, path, key)),
            Err(e) => Some(Err(e)),
        }
    }

    fn create_new(&self, wb: &Writeback, path: &VfsPath, key: String) -> FsResult<(HandleId, Attr)> {
        let d = wb.start(path, key, None, 0, SystemTime::now(), Expect::Absent, true)?;
        d.state().changed();
        self.touch_parent(path);
        // Listings show it through the write-back overlay; the upload records it.
        Ok(self.writer_handle(d, path))
    }

    fn staged_handle(&self, id: HandleId, op: &'static str) -> FsResult<(Arc<Dirty>, bool)> {
        let h = self.handle(id)?;
        match &h.kind {
            HandleKind::Staged { file, writer } => Ok((file.clone(), *writer)),
            HandleKind::Remote { .. } => Err(FsError::new(FsErrorKind::BadHandle, op, h.path.as_str())),
        }
    }

    fn writer(&self, id: HandleId) -> FsResult<Arc<Dirty>> {
        match self.staged_handle(id, "write")? {
            (d, true) => Ok(d),
            (d, false) => Err(FsError::new(FsErrorKind::BadHandle, "write", d.state().path().as_str())),
        }
    }

    /// Writes `data` at `offset` of an open file; returns the bytes written (all of them).
    #[tracing::instrument(level = "trace", skip(self, data), fields(len = data.len()))]
    pub async fn write(&self, id: HandleId, offset: u64, data: &[u8]) -> FsResult<u32> {
        let d = self.writer(id)?;
        let wb = self.writeback("write", &VfsPath::root())?;
        let grow = d.state().to_reserve(offset + data.len() as u64);
        wb.up.staging.reserve(grow).await;
        d.state().reserved_more(grow);
        d.write(offset, data).await?;
        wb.up.send_due_parts(&d);
        Ok(data.len() as u32)
    }

    /// [`write`](Self::write) without waiting, when it needs neither S3 nor staging space;
    /// `None` otherwise.
    pub fn write_now(&self, id: HandleId, offset: u64, data: &[u8]) -> Option<FsResult<u32>> {
        let d = match self.writer(id) {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        let wb = self.wb.as_ref()?;
        let grow = d.state().to_reserve(offset + data.len() as u64);
        if grow > 0 && !wb.up.staging.try_reserve(grow) {
            return None;
        }
        d.state().reserved_more(grow);
        let written = d.try_write_now(offset, data)?;
        if written.is_ok() {
            wb.up.send_due_parts(&d);
        }
        Some(written.map(|()| data.len() as u32))
    }

    /// Close-time flush of a handle: the file's contents are made durable in the journal, so
    /// they survive a crash from now on. Blocks for an fsync.
    pub fn flush(&self, id: HandleId) -> FsResult<()> {
        let Ok((d, true)) = self.staged_handle(id, "flush") else {
            // Nothing was written through this handle.
            return Ok(());
        };
        self.writeback("flush", &VfsPath::root())?.persist(&d)
    }

    /// Returns once S3 holds the file's current contents.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn fsync(&self, id: HandleId) -> FsResult<()> {
        let Ok((d, _)) = self.staged_handle(id, "fsync") else {
            // A file only read has nothing to send.
            return Ok(());
        };
        let wb = self.writeback("fsync", &VfsPath::root())?;
        wb.persist(&d)?;
        wb.sync(&d).await
    }

    /// Sets the length of `path` (truncate or extend with zeros).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn set_len(&self, path: &VfsPath, size: u64) -> FsResult<Attr> {
        let d = self.staged(path, size == 0).await?;
        let changed = if d.state().size() != size {
            d.set_len(size).await
        } else {
            Ok(())
        };
        self.settle(&d, changed)
    }

    /// Sets the access and modification times of `path`, each when given (`utimensat`,
    /// `chmod`); either way its change time moves on. A file's modification time is kept on
    /// S3; the others, and a folder's (a prefix has none), for the life of the mount.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn set_times(
        &self,
        path: &VfsPath,
        accessed: Option<SystemTime>,
        modified: Option<SystemTime>,
    ) -> FsResult<Attr> {
        // `set_mtime` looks `path` up itself, and keeps a folder's time.
        let attr = match modified {
            Some(t) => self.set_mtime(path, t).await?,
            None => self.lookup(path).await?,
        };
        self.meta.times().changed(path, accessed, None);
        Ok(self.meta.with_kept(path, attr))
    }

    /// Sets the modification time of `path`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn set_mtime(&self, path: &VfsPath, mtime: SystemTime) -> FsResult<Attr> {
        let attr = self.lookup(path).await?;
        if attr.is_dir() {
            // Folders are prefixes: this mount keeps their time.
            self.meta.times().changed(path, None, Some(mtime));
            return Ok(self.meta.with_kept(path, attr));
        }
        if attr.mtime == mtime {
            return Ok(attr);
        }
        let d = self.staged(path, false).await?;
        d.state().touched(mtime);
        self.settle(&d, Ok(()))
    }

    /// Sets the Windows attributes (`pail_store::attributes`) and the creation time of file
    /// `path`, each when given, kept on S3 as metadata. Folders are prefixes and keep none.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn set_file_attributes(
        &self,
        path: &VfsPath,
        attributes: Option<u32>,
        created: Option<SystemTime>,
    ) -> FsResult<Attr> {
        let attr = self.lookup(path).await?;
        let attributes = attributes.map(|a| a & pail_store::attributes::KEPT);
        if attr.is_dir()
            || (attributes.is_none_or(|a| a == attr.attributes) && created.is_none_or(|c| Some(c) == attr.created))
        {
            return Ok(attr);
        }
        let d = self.staged(path, false).await?;
        d.set_kept(attributes, created);
        self.settle(&d, Ok(()))
    }

    /// [`set_file_attributes`](Self::set_file_attributes) through a writer's handle.
    pub fn set_file_attributes_of(
        &self,
        id: HandleId,
        attributes: Option<u32>,
        created: Option<SystemTime>,
    ) -> FsResult<Attr> {
        let (d, _) = self.staged_handle(id, "set attributes")?;
        d.set_kept(attributes.map(|a| a & pail_store::attributes::KEPT), created);
        Ok(staged_attr(&d))
    }

    /// After a change made without a handle: journal it unless a writer still has the file
    /// open, and drop the hold taken by `staged` (which schedules the upload).
    fn settle(&self, d: &Arc<Dirty>, changed: FsResult<()>) -> FsResult<Attr> {
        let wb = self.writeback("setattr", &VfsPath::root())?;
        let only_us = d.state().writers() == 1;
        let persisted = match changed {
            Ok(()) if only_us => wb.persist(d),
            other => other,
        };
        let attr = staged_attr(d);
        wb.unhold(d, true);
        persisted.map(|()| attr)
    }

    /// Sets the modification time through an open handle (Windows' SetBasicInfo).
    pub fn set_mtime_of(&self, id: HandleId, mtime: SystemTime) -> FsResult<Attr> {
        let (d, _) = self.staged_handle(id, "set times")?;
        d.state().touched(mtime);
        Ok(staged_attr(&d))
    }

    /// What write-back has pending.
    pub fn writeback_status(&self) -> WritebackStatus {
        self.wb.as_ref().map(|wb| wb.status_now()).unwrap_or_default()
    }

    /// Waits until every closed file is on S3, calling `progress` as uploads advance.
    pub async fn drain(&self, progress: &(dyn Fn(&WritebackStatus) + Sync)) {
        if let Some(wb) = &self.wb {
            wb.drain(progress).await;
        }
    }
}
