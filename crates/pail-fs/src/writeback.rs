//! Write-back: the files being written ([`Dirty`]), their journal records, and the uploads that
//! bring S3 up to date — after a short delay, with `If-Match`/`If-None-Match`, retried with
//! backoff on network faults and expired credentials, and turned into a conflict copy when the
//! object changed on the server.
//!
//! Invariants: a file in `files` is visible at its path whatever S3 says; a file whose closed
//! contents are not yet on S3 has a journal record; a journal record and its staging file are
//! removed only after S3 confirmed the upload (or the file was deleted by the user).
//!
//! Lock order: `files`, then a file's locks (see `dirty`), then `status`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use pail_store::ObjectStore;
use tokio::sync::{Semaphore, watch};

use crate::blocks::BlockCache;
use crate::content::Content;
use crate::dirty::{Base, Dirty};
use crate::error::{FsError, FsResult};
use crate::journal::Journal;
use crate::lifecycle::{Expect, FileState, Phase};
use crate::meta::{Attr, MetaCache};
use crate::moving::FolderMove;
use crate::names::NameEncoding;
use crate::path::VfsPath;
use crate::recycle::Recycler;
use crate::seal::{CacheKey, Cipher, KeyCheck};
use crate::staging::Staging;
use crate::status::{LARGE_FILE, StatusInner, UploadProgress, WritebackStatus};
use crate::upload::{Landed, Outcome};
use crate::uploader::Uploader;
pub use crate::writeback_config::{WritebackConfig, host_name};

/// Write-back of one drive.
///
/// It decides when files are uploaded (after the write-back delay, at once for fsync or a
/// drain), retries with backoff, and keeps the table of files being written; the uploads
/// themselves are [`Uploader`]'s, and what a file becomes is its state machine's
/// (`lifecycle`).
#[derive(Debug)]
pub(crate) struct Writeback {
    pub(crate) up: Arc<Uploader>,
    pub(crate) meta: Arc<MetaCache>,
    /// The drive's block cache, through which files being written read their base.
    pub(crate) blocks: Arc<BlockCache>,
    files: Mutex<HashMap<VfsPath, Arc<Dirty>>>,
    /// Upload attempts at once.
    uploads: Semaphore,
    urgent: watch::Sender<u64>,
    /// Folder moves whose keys are still moving (`moves`).
    pub(crate) moves: Mutex<Vec<Arc<FolderMove>>>,
    status: Mutex<StatusInner>,
}

impl Writeback {
    pub(crate) fn open(
        store: Arc<dyn ObjectStore>,
        meta: Arc<MetaCache>,
        cfg: WritebackConfig,
        blocks: Arc<BlockCache>,
        (prefix, names): (String, NameEncoding),
        key: Option<&CacheKey>,
        rt: tokio::runtime::Handle,
    ) -> std::io::Result<Arc<Self>> {
        crate::private::create_dir_all(&cfg.cache_dir)?;
        // A cache written under another key, or encrypted while this mount has no key, is
        // refused before anything in it is read. Files an older version left in the clear are
        // sealed as they are loaded (`journal`, `staging`), so the key is recorded at once.
        if crate::seal::check_key(&cfg.cache_dir, key)? == KeyCheck::Adopt
            && let Some(k) = key
        {
            crate::seal::record_key(&cfg.cache_dir, k)?;
        }
        let cipher = Cipher::new(key);
        let recycle = Arc::new(Recycler::open(&cfg.cache_dir.join("recycle"))?);
        let staging = Arc::new(Staging::open(
            &cfg.cache_dir.join("staging"),
            cfg.staging_bytes,
            recycle.clone(),
            cipher.clone(),
        )?);
        let journal = Journal::open(&cfg.cache_dir, recycle, cipher)?;
        Ok(Arc::new(Self {
            uploads: Semaphore::new(cfg.concurrent_uploads.max(1)),
            up: Arc::new(Uploader::new(store, journal, staging, cfg, (prefix, names), rt)),
            meta,
            blocks,
            files: Mutex::default(),
            moves: Mutex::default(),
            urgent: watch::channel(0).0,
            status: Mutex::default(),
        }))
    }

    pub(crate) fn files(&self) -> std::sync::MutexGuard<'_, HashMap<VfsPath, Arc<Dirty>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn status(&self) -> std::sync::MutexGuard<'_, StatusInner> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `d` is still the file being written at its path (not uploaded and forgotten,
    /// deleted or replaced meanwhile).
    pub(crate) fn is_current(&self, d: &Arc<Dirty>) -> bool {
        let (path, deleted) = {
            let st = d.state();
            (st.path().clone(), st.is_deleted())
        };
        // `files` is locked after `state` is released: the lock order is files, then state.
        !deleted && self.files().get(&path).is_some_and(|x| Arc::ptr_eq(x, d))
    }

    /// The file being written at `path`, if any.
    pub(crate) fn get(&self, path: &VfsPath) -> Option<Arc<Dirty>> {
        self.files().get(path).cloned()
    }

    /// The file being written at `path`, held (counted as an open handle, and a writer if
    /// `writer`) so it is not forgotten until [`unhold`](Self::unhold).
    pub(crate) fn hold(&self, path: &VfsPath, writer: bool) -> Option<Arc<Dirty>> {
        let files = self.files();
        let d = files.get(path)?.clone();
        d.state().hold(writer);
        Some(d)
    }

    /// Drops a hold: the last writer's release schedules the upload; a file with nothing
    /// pending and no holder is forgotten.
    pub(crate) fn unhold(self: &Arc<Self>, d: &Arc<Dirty>, writer: bool) {
        d.state().unhold(writer);
        self.schedule(d);
        self.finish_if_clean(d);
    }

    /// Starts a new staging file for `path` (registered in `files`), or holds the one there.
    /// Either way the result is held as by [`hold`](Self::hold).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        &self,
        path: &VfsPath,
        key: String,
        base: Option<Base>,
        size: u64,
        mtime: SystemTime,
        expect: Expect,
        writer: bool,
    ) -> FsResult<Arc<Dirty>> {
        let mut files = self.files();
        if let Some(existing) = files.get(path) {
            let d = existing.clone();
            d.state().hold(writer);
            return Ok(d);
        }
        let id = self.up.next_record_id();
        let staging = &self.up.staging;
        let staging_err = |e: std::io::Error| FsError::local("create staging file", path.as_str(), &e);
        // A new or emptied file starts in memory (`content`); one with a remote base is staged.
        let content = if base.is_none() && size == 0 {
            Content::empty(id, staging).map_err(staging_err)?
        } else {
            let file = staging.file(id, true).map_err(staging_err)?;
            file.set_len(size).map_err(staging_err)?;
            Content::staged(id, file, staging)
        };
        let state = FileState::new(path.clone(), key, size, mtime, expect, writer);
        let d = Arc::new(Dirty::new(id, content, state, base, self.blocks.clone()));
        files.insert(path.clone(), d.clone());
        Ok(d)
    }

    /// Records the file's current contents durably (data and journal), so a crash after this
    /// returns loses nothing.
    pub(crate) fn persist(&self, d: &Dirty) -> FsResult<()> {
        d.persist(&self.up.journal)
    }

    /// Asks pending uploads to start now instead of after the write-back delay.
    pub(crate) fn hurry(&self) {
        self.urgent.send_modify(|n| *n += 1);
    }

    /// Schedules an upload of `d` unless one is scheduled.
    pub(crate) fn schedule(self: &Arc<Self>, d: &Arc<Dirty>) {
        if !d.state().claim_schedule() {
            return;
        }
        let (wb, d) = (self.clone(), d.clone());
        let span = tracing::debug_span!("upload", id = d.id);
        self.up.rt.spawn(tracing::Instrument::instrument(wb.run(d), span));
    }

    pub(crate) async fn wait_or_hurry(&self, wait: Duration) {
        let mut urgent = self.urgent.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = urgent.changed() => {}
        }
    }

    async fn run(self: Arc<Self>, d: Arc<Dirty>) {
        self.wait_or_hurry(self.up.cfg.delay).await;
        let mut backoff = Duration::from_millis(100);
        loop {
            let permit = self.uploads.acquire().await;
            let outcome = self.upload_once(&d, false).await;
            drop(permit);
            match outcome {
                Ok(()) => break,
                Err(e) => {
                    let detail = e.detail();
                    tracing::warn!(error = detail, retry_in = ?backoff, "upload failed; will retry");
                    self.status().last_error = Some(detail);
                    self.wait_or_hurry(backoff).await;
                    backoff = (backoff * 2).min(self.up.cfg.max_backoff);
                }
            }
        }
        if d.state().schedule_ended() {
            self.schedule(&d);
        }
        self.up.changed.notify_waiters();
    }

    /// One upload attempt of `d`, and what it changes beyond the file: what the drive shows,
    /// the status, and the file forgotten once done. `Err`: retry later.
    async fn upload_once(&self, d: &Arc<Dirty>, force: bool) -> FsResult<()> {
        match self.up.upload_once(d, force).await {
            Outcome::Done | Outcome::Busy => Ok(()),
            Outcome::Retry(e) => Err(e),
            Outcome::Landed(l) => {
                self.status().last_error = None;
                let Landed {
                    path,
                    etag,
                    size,
                    mtime,
                    attributes,
                    created,
                } = l;
                let attr = Attr {
                    etag: Some(etag),
                    attributes,
                    created,
                    ..Attr::sized_file(size, mtime)
                };
                self.meta.put_entry(path.clone(), Some(attr.clone()));
                self.meta.update_listing_of(&path, Some(attr)).await;
                self.finish_if_clean(d);
                Ok(())
            }
            Outcome::Conflict { path, copy } => {
                self.status().conflicts.push(copy.as_str().to_owned());
                self.meta.invalidate(&path).await;
                self.meta.invalidate(&copy).await;
                self.finish_if_clean(d);
                Ok(())
            }
        }
    }

    /// Uploads `d` now and waits for it (fsync); `Ok` once S3 has the current contents.
    pub(crate) async fn sync(self: &Arc<Self>, d: &Arc<Dirty>) -> FsResult<()> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.upload_once(d, true).await {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == crate::FsErrorKind::Unavailable => {
                    self.wait_or_hurry(backoff).await;
                    backoff = (backoff * 2).min(self.up.cfg.max_backoff);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Forgets `d` once S3 has it (or it was deleted) and nothing holds it: journal record,
    /// staging file, entry. Decided under the `files` lock, so no new holder can appear.
    pub(crate) fn finish_if_clean(&self, d: &Arc<Dirty>) {
        let mut files = self.files();
        let (pending, done, path) = {
            let st = d.state();
            (st.needs_upload(), st.handles() == 0, st.path().clone())
        };
        if !pending {
            self.up.journal.done(d.id);
        }
        if pending || !done {
            return;
        }
        if files.get(&path).is_some_and(|x| Arc::ptr_eq(x, d)) {
            files.remove(&path);
        }
        drop(files);
        self.up.drop_eager_of(d);
        let reserved = d.state().release_reserved();
        d.content.remove(reserved);
        self.up.changed.notify_waiters();
    }

    /// Waits until nothing is pending, hurrying delayed uploads; reports progress to `progress`.
    pub(crate) async fn drain(&self, progress: &(dyn Fn(&WritebackStatus) + Sync)) {
        loop {
            let changed = self.up.changed.notified();
            let status = self.status_now();
            progress(&status);
            if status.pending_files == 0
                && status.moving_folders.is_empty()
                && self.up.aborting.load(Ordering::Acquire) == 0
            {
                let journal = self.up.journal.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || journal.sync()).await {
                    tracing::warn!(error = %e, "could not flush the journal's finished records");
                }
                return;
            }
            self.hurry();
            changed.await;
        }
    }

    /// The current status.
    pub(crate) fn status_now(&self) -> WritebackStatus {
        let files: Vec<Arc<Dirty>> = self.files().values().cloned().collect();
        let mut s = WritebackStatus {
            moving_folders: self.moves_now().iter().map(|m| m.describe()).collect(),
            ..WritebackStatus::default()
        };
        for d in files {
            let st = d.state();
            let uploading = st.phase() == Phase::Uploading;
            s.uploading_files += usize::from(uploading);
            if st.needs_upload() {
                let sent = d.sent().min(st.size());
                s.pending_files += 1;
                s.pending_bytes += st.size();
                s.pending_sent_bytes += sent;
                if s.pending_paths.len() < 100 {
                    s.pending_paths.push(st.path().as_str().to_owned());
                }
                if st.size() >= LARGE_FILE {
                    s.large_uploads.push(UploadProgress {
                        path: st.path().as_str().to_owned(),
                        size: st.size(),
                        sent,
                        uploading,
                    });
                }
            }
        }
        s.pending_paths.sort();
        s.large_uploads
            .sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
        s.large_uploads.truncate(20);
        s.uploaded_bytes = self.up.uploaded.load(Ordering::Relaxed);
        s.staged_bytes = self.up.staging.used();
        let inner = self.status();
        s.last_error = inner.last_error.clone();
        s.conflicts = inner.conflicts.clone();
        s.unreadable_journal = inner.unreadable.clone();
        s
    }

    /// The folder moves under way.
    pub(crate) fn moves_now(&self) -> Vec<Arc<FolderMove>> {
        self.moves.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
