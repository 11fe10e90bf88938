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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use pail_store::{ObjectStore, TransferConfig};
use tokio::sync::{Notify, Semaphore, watch};

use crate::content::Content;
use crate::dirty::{Base, Dirty, DirtyState, Expect};
use crate::error::{FsError, FsResult};
use crate::journal::{Journal, Record};
use crate::meta::MetaCache;
use crate::names::NameEncoding;
use crate::path::VfsPath;
use crate::recycle::Recycler;
use crate::seal::{CacheKey, Cipher, KeyCheck};
use crate::staging::Staging;
use crate::status::{StatusInner, WritebackStatus};

/// Settings of write-back.
#[derive(Debug, Clone)]
pub struct WritebackConfig {
    /// The cache directory holding `staging/` and `journal/`.
    pub cache_dir: std::path::PathBuf,
    /// Bound of the staging area in bytes.
    pub staging_bytes: u64,
    /// How long after the last close a file waits before it is uploaded.
    pub delay: Duration,
    /// Files being uploaded at once. Small files cost one round trip each, so many are in
    /// flight; what they hold in memory is bounded by `transfer_memory`, not by this count.
    pub concurrent_uploads: usize,
    /// Bound of the file content all uploads hold in memory at once (PUT bodies and parts,
    /// eager or not): one budget for the drive, which the uploads wait for.
    pub transfer_memory: u64,
    /// Multipart sizes and parallelism.
    pub transfer: TransferConfig,
    /// Longest wait between retries of a failing upload.
    pub max_backoff: Duration,
    /// The machine's name, used in conflict copies.
    pub host_name: String,
    /// How long a folder rename waits for its keys to move before it answers and lets the
    /// move go on in the background (`moves`): a small folder is moved when the rename
    /// returns, a large one does not hold the caller for minutes.
    pub move_grace: Duration,
}

impl WritebackConfig {
    /// Defaults for a drive caching under `cache_dir`.
    pub fn new(cache_dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            staging_bytes: 10 << 30,
            delay: Duration::from_secs(1),
            concurrent_uploads: 32,
            transfer_memory: 64 << 20,
            transfer: TransferConfig::default(),
            max_backoff: Duration::from_secs(30),
            host_name: host_name(),
            move_grace: Duration::from_secs(2),
        }
    }
}

/// This machine's name (for conflict copies).
pub fn host_name() -> String {
    std::env::var("COMPUTERNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "pail".to_owned())
}

/// Write-back of one drive.
#[derive(Debug)]
pub(crate) struct Writeback {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) meta: Arc<MetaCache>,
    pub(crate) staging: Arc<Staging>,
    pub(crate) journal: Journal,
    pub(crate) cfg: WritebackConfig,
    pub(crate) block_size: u64,
    pub(crate) prefix: String,
    pub(crate) names: NameEncoding,
    pub(crate) files: Mutex<HashMap<VfsPath, Arc<Dirty>>>,
    pub(crate) next_id: AtomicU64,
    pub(crate) uploads: Semaphore,
    /// What upload bodies in memory may take, in units of `upload::BODY_UNIT`.
    pub(crate) bodies: Semaphore,
    /// Eager parts in flight, drive-wide (bounds the memory they hold).
    pub(crate) eager_slots: Semaphore,
    /// Multipart uploads being aborted: left by an earlier mount, or eager parts no longer
    /// wanted (`drain` waits for them).
    pub(crate) aborting: Arc<AtomicU64>,
    pub(crate) uploaded: AtomicU64,
    pub(crate) changed: Arc<Notify>,
    pub(crate) urgent: watch::Sender<u64>,
    /// Folder moves whose keys are still moving (`moves`).
    pub(crate) moves: Mutex<Vec<Arc<crate::moves::FolderMove>>>,
    pub(crate) status: Mutex<StatusInner>,
    pub(crate) rt: tokio::runtime::Handle,
}

/// How one upload attempt ended.
pub(crate) enum Outcome {
    /// S3 has it (or nothing was to be sent).
    Done,
    /// A writer has the file open; its last close schedules the upload.
    Busy,
    /// Failed; try again later.
    Retry(FsError),
}

impl Writeback {
    pub(crate) fn open(
        store: Arc<dyn ObjectStore>,
        meta: Arc<MetaCache>,
        cfg: WritebackConfig,
        block_size: u64,
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
        let start = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        Ok(Arc::new(Self {
            store,
            meta,
            staging,
            journal,
            uploads: Semaphore::new(cfg.concurrent_uploads.max(1)),
            bodies: Semaphore::new(crate::upload::body_units(u64::MAX, cfg.transfer_memory) as usize),
            eager_slots: Semaphore::new(cfg.transfer.concurrency.max(1)),
            aborting: Arc::default(),
            cfg,
            block_size,
            prefix,
            names,
            files: Mutex::default(),
            next_id: AtomicU64::new(start),
            uploaded: AtomicU64::new(0),
            changed: Arc::default(),
            moves: Mutex::default(),
            urgent: watch::channel(0).0,
            status: Mutex::default(),
            rt,
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
            (st.path.clone(), st.deleted)
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
        let mut st = d.state();
        st.handles += 1;
        st.writers += u32::from(writer);
        drop(st);
        Some(d)
    }

    /// Drops a hold: the last writer's release schedules the upload; a file with nothing
    /// pending and no holder is forgotten.
    pub(crate) fn unhold(self: &Arc<Self>, d: &Arc<Dirty>, writer: bool) {
        {
            let mut st = d.state();
            st.handles = st.handles.saturating_sub(1);
            if writer {
                st.writers = st.writers.saturating_sub(1);
            }
        }
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
            let mut st = d.state();
            st.handles += 1;
            st.writers += u32::from(writer);
            drop(st);
            return Ok(d);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let staging_err = |e: std::io::Error| FsError::local("create staging file", path.as_str(), &e);
        // A new or emptied file starts in memory (`content`); one with a remote base is staged.
        let content = if base.is_none() && size == 0 {
            Content::empty(id, &self.staging).map_err(staging_err)?
        } else {
            let file = self.staging.file(id, true).map_err(staging_err)?;
            file.set_len(size).map_err(staging_err)?;
            Content::staged(id, file, &self.staging)
        };
        let remote_key = (!matches!(expect, Expect::Absent)).then(|| key.clone());
        let state = DirtyState {
            path: path.clone(),
            key,
            size,
            mtime,
            expect,
            remote_key,
            handles: 1,
            writers: u32::from(writer),
            generation: 0,
            synced: 0,
            journaled: 0,
            deleted: false,
            scheduled: false,
            reserved: 0,
            mtime_set: false,
            token: (0, 0),
            conflict_copy: None,
            maybe_landed: false,
            attributes: 0,
            created: None,
        };
        let d = Arc::new(Dirty::new(id, content, state, base, self.block_size));
        files.insert(path.clone(), d.clone());
        Ok(d)
    }

    /// Records the file's current contents durably (data and journal), so a crash after this
    /// returns loses nothing.
    pub(crate) fn persist(&self, d: &Dirty) -> FsResult<()> {
        let (generation, path) = {
            let st = d.state();
            if !st.needs_upload() || st.journaled == st.generation {
                return Ok(());
            }
            (st.generation, st.path.as_str().to_owned())
        };
        self.write_record(d, &path)?;
        let mut st = d.state();
        st.journaled = st.journaled.max(generation);
        Ok(())
    }

    /// Writes `d`'s journal record as it stands now (`what` names it in errors): a small
    /// file's bytes go into the record, one durable write; a larger one's staging file is
    /// flushed first, then recorded.
    pub(crate) fn write_record(&self, d: &Dirty, what: &str) -> FsResult<()> {
        let inline = d.inline_data().map_err(|e| FsError::local("read staging", what, &e))?;
        if inline.is_none() {
            d.content
                .sync_data()
                .map_err(|e| FsError::local("fsync staging", what, &e))?;
        }
        self.journal
            .write(d.id, &Record::Upload(Box::new(d.record(inline))))
            .map_err(|e| FsError::local("journal", what, &e))
    }

    /// Makes `token` the upload token of `d`'s `generation`, for an upload whose metadata was
    /// fixed before that generation was known (an eager multipart upload), and journals it when
    /// the generation is journaled. Nothing changes when the file changed since.
    pub(crate) fn adopt_token(&self, d: &Dirty, generation: u64, token: u64) -> FsResult<()> {
        let (journaled, path) = {
            let mut st = d.state();
            if st.generation != generation {
                return Ok(());
            }
            st.token = (generation, token);
            (st.journaled == generation, st.path.as_str().to_owned())
        };
        if journaled {
            self.write_record(d, &path)?;
        }
        Ok(())
    }

    /// Asks pending uploads to start now instead of after the write-back delay.
    pub(crate) fn hurry(&self) {
        self.urgent.send_modify(|n| *n += 1);
    }

    /// Schedules an upload of `d` unless one is scheduled.
    pub(crate) fn schedule(self: &Arc<Self>, d: &Arc<Dirty>) {
        {
            let mut st = d.state();
            if st.scheduled || !st.needs_upload() {
                return;
            }
            st.scheduled = true;
        }
        let (wb, d) = (self.clone(), d.clone());
        let span = tracing::debug_span!("upload", id = d.id);
        self.rt.spawn(tracing::Instrument::instrument(wb.run(d), span));
    }

    pub(crate) async fn wait_or_hurry(&self, wait: Duration) {
        let mut urgent = self.urgent.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = urgent.changed() => {}
        }
    }

    async fn run(self: Arc<Self>, d: Arc<Dirty>) {
        self.wait_or_hurry(self.cfg.delay).await;
        let mut backoff = Duration::from_millis(100);
        loop {
            let permit = self.uploads.acquire().await;
            let outcome = self.upload_once(&d, false).await;
            drop(permit);
            match outcome {
                Outcome::Done | Outcome::Busy => break,
                Outcome::Retry(e) => {
                    let detail = e.detail();
                    tracing::warn!(error = detail, retry_in = ?backoff, "upload failed; will retry");
                    self.status().last_error = Some(detail);
                    self.wait_or_hurry(backoff).await;
                    backoff = (backoff * 2).min(self.cfg.max_backoff);
                }
            }
        }
        let again = {
            let mut st = d.state();
            st.scheduled = false;
            st.needs_upload() && st.writers == 0
        };
        if again {
            self.schedule(&d);
        }
        self.changed.notify_waiters();
    }

    /// Uploads `d` now and waits for it (fsync); `Ok` once S3 has the current contents.
    pub(crate) async fn sync(self: &Arc<Self>, d: &Arc<Dirty>) -> FsResult<()> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.upload_once(d, true).await {
                Outcome::Done | Outcome::Busy => return Ok(()),
                Outcome::Retry(e) if e.kind() == crate::FsErrorKind::Unavailable => {
                    self.wait_or_hurry(backoff).await;
                    backoff = (backoff * 2).min(self.cfg.max_backoff);
                }
                Outcome::Retry(e) => return Err(e),
            }
        }
    }

    /// Forgets `d` once S3 has it (or it was deleted) and nothing holds it: journal record,
    /// staging file, entry. Decided under the `files` lock, so no new holder can appear.
    pub(crate) fn finish_if_clean(&self, d: &Arc<Dirty>) {
        let mut files = self.files();
        let (pending, done, reserved, path) = {
            let st = d.state();
            (st.needs_upload(), st.handles == 0, st.reserved, st.path.clone())
        };
        if !pending {
            self.journal.done(d.id);
        }
        if pending || !done {
            return;
        }
        if files.get(&path).is_some_and(|x| Arc::ptr_eq(x, d)) {
            files.remove(&path);
        }
        drop(files);
        self.drop_eager_of(d);
        d.state().reserved = 0;
        d.content.remove(reserved);
        self.changed.notify_waiters();
    }

    /// Waits until nothing is pending, hurrying delayed uploads; reports progress to `progress`.
    pub(crate) async fn drain(&self, progress: &(dyn Fn(&WritebackStatus) + Sync)) {
        loop {
            let changed = self.changed.notified();
            let status = self.status_now();
            progress(&status);
            if status.pending_files == 0
                && status.moving_folders.is_empty()
                && self.aborting.load(Ordering::Acquire) == 0
            {
                let journal = self.journal.clone();
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
            moving_folders: self.moves_described(),
            ..WritebackStatus::default()
        };
        for d in files {
            let st = d.state();
            if st.needs_upload() {
                s.pending_files += 1;
                s.pending_bytes += st.size;
                if s.pending_paths.len() < 100 {
                    s.pending_paths.push(st.path.as_str().to_owned());
                }
            }
        }
        s.pending_paths.sort();
        s.uploaded_bytes = self.uploaded.load(Ordering::Relaxed);
        s.staged_bytes = self.staging.used();
        let inner = self.status();
        s.last_error = inner.last_error.clone();
        s.conflicts = inner.conflicts.clone();
        s.unreadable_journal = inner.unreadable.clone();
        s
    }

    /// A fresh id for a journal record.
    pub(crate) fn next_record_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}
