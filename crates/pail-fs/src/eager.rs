//! Eager parts: a large file written from its start onwards begins its multipart upload while
//! it is still being written, so writing it and sending it overlap instead of adding up.
//!
//! A part is sent once the bytes written contiguously from offset 0 (the *frontier*) have
//! passed its end, so a program writing front to back (a copy, an export, a download) has all
//! but its last part on S3 when it closes the file. A later write into a part already sent (a
//! header patched at the end, a truncate) only marks that part stale: the upload after close
//! re-sends stale and missing parts and completes with the file's condition (`If-None-Match`
//! or `If-Match`), so what S3 ends up with is always exactly the closed file. Only files with
//! no remote base take part (new files, files emptied on open); editing an existing object
//! keeps the copy-untouched-parts path of `upload`.
//!
//! Durability does not change: the file is journaled at close as any other, and resuming after
//! a crash uploads it from its staging file. The multipart upload's id is journaled (a
//! [`Record::Parts`](crate::journal::Record::Parts), through `multipart`) before its first part
//! is sent, so parts a crash leaves behind are aborted by the next mount instead of lingering
//! unseen on S3.
//!
//! S3 fixes an object's metadata when its multipart upload is created, so the stored
//! `x-amz-meta-mtime` is the time the first part was sent. When the user set the time
//! explicitly (`touch -d`, `cp -p`, Explorer's copy), the completed object is copied onto itself
//! with that time, server-side.
//!
//! While such a file is written, its staging file is also made durable ahead of the close,
//! in the background: one `fdatasync` at a time per file, started when a part becomes due and
//! repeated while more became due meanwhile. The flush at close then waits only for the tail
//! instead of the whole file: closing a 1 GiB file went from 0.43-0.50 s to under 10 ms.
//!
//! Lock order: the `eager` lock is taken alone (never with the file's `state` or `base`) and is
//! not held across an `.await`.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use pail_store::{ETag, StoreError, WriteCondition, copy_object};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use crate::dirty::Dirty;
use crate::journal::Journal;
use crate::multipart::{self, Layout, MAX_PARTS};
use crate::upload::fs_to_store;
use crate::writeback::Writeback;

/// The eager-parts state of one file.
#[derive(Debug)]
pub(crate) struct Eager {
    state: std::sync::Mutex<EagerState>,
    upload: OnceCell<Started>,
    /// A background flush of the staging file is running.
    syncing: AtomicBool,
    /// More bytes became due while it ran: it flushes once more.
    sync_again: AtomicBool,
}

/// A multipart upload begun for a file's eager parts.
#[derive(Debug, Clone)]
struct Started {
    upload: multipart::Started,
    /// The token recorded with the object (S3 fixes metadata when the upload is created), by
    /// which a completion whose answer was lost is recognised.
    token: u64,
}

#[derive(Debug, Default)]
struct EagerState {
    /// No (more) eager parts: the file has a base, or its parts were handed to an upload or
    /// dropped.
    off: bool,
    /// Bytes `0..frontier` were written, contiguously from the start.
    frontier: u64,
    /// Set when the first part is launched.
    plan: Option<Plan>,
    /// Parts `0..launched` have been launched.
    launched: u64,
    /// Per launched part: how often it changed since launch, and what was sent (ETag, and the
    /// change count its bytes were read at).
    changes: Vec<u64>,
    sent: Vec<Option<(ETag, u64)>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Where and how the parts go.
#[derive(Debug, Clone)]
struct Plan {
    key: String,
    layout: Layout,
    /// The modification time the upload was created with.
    mtime: SystemTime,
}

/// What the upload after close takes over.
#[derive(Debug)]
pub(crate) struct Handover {
    key: String,
    layout: Layout,
    mtime: SystemTime,
    started: Option<Started>,
    /// Per part: the ETag when what was sent is still the file's content.
    fresh: Vec<Option<ETag>>,
}

impl Eager {
    /// No eager parts for a file that starts from a remote version.
    pub(crate) fn new(off: bool) -> Self {
        Self {
            state: std::sync::Mutex::new(EagerState {
                off,
                ..EagerState::default()
            }),
            upload: OnceCell::new(),
            syncing: AtomicBool::new(false),
            sync_again: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EagerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a write of `range`: advances the frontier and marks launched parts it touches.
    pub(crate) fn wrote(&self, range: Range<u64>) {
        let mut s = self.lock();
        if s.off {
            return;
        }
        if range.start <= s.frontier {
            s.frontier = s.frontier.max(range.end);
        }
        s.touch(range);
    }

    /// Notes a change of length from `old` to `new`.
    pub(crate) fn resized(&self, old: u64, new: u64) {
        let mut s = self.lock();
        if s.off {
            return;
        }
        s.frontier = s.frontier.min(new);
        s.touch(old.min(new)..old.max(new).max(old.min(new) + 1));
    }

    /// Parts to launch now for `key`: those the frontier has passed. Sets the plan on the
    /// first call; a file whose key changed (renamed) stops here.
    fn due(&self, key: &str, mtime: SystemTime, part_size: u64) -> Option<(Plan, Range<u64>)> {
        let mut s = self.lock();
        if s.off {
            return None;
        }
        if s.plan.as_ref().is_some_and(|p| p.key != key) {
            s.off = true;
            return None;
        }
        // A part is due once the frontier is past its end, so the file is known to be larger
        // than one part (and will be a multipart upload).
        let layout = s.plan.as_ref().map_or(Layout { base: part_size }, |p| p.layout);
        let due = if s.frontier == 0 {
            0
        } else {
            layout.part_of(s.frontier - 1)
        }
        .min(MAX_PARTS);
        if due <= s.launched {
            return None;
        }
        let plan = s
            .plan
            .get_or_insert_with(|| Plan {
                key: key.to_owned(),
                layout,
                mtime,
            })
            .clone();
        let parts = s.launched..due;
        s.launched = due;
        s.changes.resize(due as usize, 0);
        s.sent.resize(due as usize, None);
        Some((plan, parts))
    }

    /// Whether parts were launched and not yet handed over.
    fn launched_any(&self) -> bool {
        self.lock().plan.is_some()
    }

    fn change_count(&self, part: u64) -> u64 {
        self.lock().changes.get(part as usize).copied().unwrap_or(0)
    }

    fn sent(&self, part: u64, etag: ETag, at: u64) {
        if let Some(slot) = self.lock().sent.get_mut(part as usize) {
            *slot = Some((etag, at));
        }
    }

    /// Stops launching and waits for the parts in flight; `None` when nothing was launched (or
    /// it was handed over already).
    pub(crate) async fn hand_over(&self) -> Option<Handover> {
        let tasks = {
            let mut s = self.lock();
            s.off = true;
            std::mem::take(&mut s.tasks)
        };
        for t in tasks {
            let _ = t.await;
        }
        let mut s = self.lock();
        let plan = s.plan.take()?;
        let fresh = s
            .sent
            .iter()
            .zip(&s.changes)
            .map(|(sent, &now)| sent.as_ref().filter(|(_, at)| *at == now).map(|(e, _)| e.clone()))
            .collect();
        Some(Handover {
            key: plan.key.clone(),
            layout: plan.layout,
            mtime: plan.mtime,
            started: self.upload.get().cloned(),
            fresh,
        })
    }
}

impl EagerState {
    fn touch(&mut self, range: Range<u64>) {
        let Some(plan) = &self.plan else { return };
        let (first, last) = (
            plan.layout.part_of(range.start),
            plan.layout.part_of(range.end.saturating_sub(1)),
        );
        for p in first..=last.min(self.launched.saturating_sub(1)) {
            if let Some(c) = self.changes.get_mut(p as usize) {
                *c += 1;
            }
        }
    }
}

impl Writeback {
    /// Launches the parts of `d` that became due, if it takes eager parts.
    pub(crate) fn send_due_parts(self: &Arc<Self>, d: &Arc<Dirty>) {
        let (key, mtime) = {
            let st = d.state();
            if st.deleted {
                return;
            }
            (st.key.clone(), st.mtime)
        };
        let transfer = &self.cfg.transfer;
        let part_size = transfer.part_size.max(transfer.single_put_max).max(5 << 20);
        let Some((plan, parts)) = d.eager.due(&key, mtime, part_size) else {
            return;
        };
        let mut tasks = Vec::new();
        for part in parts {
            let (wb, d, plan) = (self.clone(), d.clone(), plan.clone());
            let span = tracing::debug_span!("eager part", id = d.id, part);
            tasks.push(self.rt.spawn(tracing::Instrument::instrument(
                async move { wb.send_part(&d, &plan, part).await },
                span,
            )));
        }
        d.eager.lock().tasks.extend(tasks);
        self.sync_ahead(d);
    }

    /// Flushes `d`'s staging file in the background, so the flush at close finds little left
    /// to write. At most one runs per file; a call while it runs makes it run once more.
    fn sync_ahead(&self, d: &Arc<Dirty>) {
        if d.eager.syncing.swap(true, Ordering::AcqRel) {
            d.eager.sync_again.store(true, Ordering::Release);
            return;
        }
        let d = d.clone();
        let span = tracing::debug_span!("sync ahead", id = d.id);
        self.rt.spawn_blocking(move || {
            let _entered = span.enter();
            loop {
                d.eager.sync_again.store(false, Ordering::Release);
                if let Err(e) = d.content.sync_staged() {
                    // Only an early start: the flush at close reports what still fails.
                    tracing::debug!(error = %e, "staging file not flushed ahead of close");
                }
                d.eager.syncing.store(false, Ordering::Release);
                let again = d.eager.sync_again.load(Ordering::Acquire) && !d.state().deleted;
                if !again || d.eager.syncing.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        });
    }

    /// Sends part `part` of `d` (a failure leaves it for the upload after close).
    async fn send_part(&self, d: &Dirty, plan: &Plan, part: u64) {
        // One budget of parts in flight for the whole drive bounds the memory they take.
        let Ok(_slot) = self.eager_slots.acquire().await else {
            return;
        };
        let started = d
            .eager
            .upload
            .get_or_try_init(|| self.start_upload(&plan.key, plan.mtime))
            .await;
        let started = match started {
            Ok(s) => s,
            Err(e) => return tracing::debug!(error = %e, "eager part not sent; the upload will send it"),
        };
        let at = d.eager.change_count(part);
        let range = plan.layout.range(part);
        let sent = match self.read_staged(d, &range).await {
            Ok((body, _held)) => {
                self.store
                    .upload_part(&plan.key, &started.upload.upload_id, part as u32 + 1, body)
                    .await
            }
            Err(e) => return tracing::debug!(error = %e, "eager part not read; the upload will send it"),
        };
        match sent {
            Ok(etag) => {
                self.uploaded.fetch_add(range.end - range.start, Ordering::Relaxed);
                d.eager.sent(part, etag, at);
            }
            Err(e) => tracing::debug!(error = %e, "eager part not sent; the upload will send it"),
        }
    }

    /// Creates the multipart upload, journaled, with a token of its own.
    async fn start_upload(&self, key: &str, mtime: SystemTime) -> Result<Started, StoreError> {
        let token = crate::dirty::fresh_token();
        let stamp = pail_store::Stamp::at(mtime).with_token(token);
        let upload = self.start_multipart(key, stamp).await?;
        Ok(Started { upload, token })
    }

    /// The upload of `d` through the parts already sent, when it has some and they fit:
    /// stale and missing parts are sent, the upload completed under `cond`, and an explicitly
    /// set time recorded. `None`: send the file the ordinary way (any eager upload is dropped).
    pub(crate) async fn finish_eager(
        &self,
        d: &Dirty,
        (key, generation): (&str, u64),
        size: u64,
        cond: &WriteCondition,
        mtime: SystemTime,
    ) -> Option<Result<(ETag, SystemTime), StoreError>> {
        let h = d.eager.hand_over().await?;
        let parts = h.layout.count(size);
        let usable = h.key == key && size > self.cfg.transfer.single_put_max && parts <= MAX_PARTS;
        let Some(started) = h.started.clone().filter(|_| usable) else {
            abort_eager(self.store.as_ref(), &self.journal, h).await;
            return None;
        };
        let store = self.store.as_ref();
        let sent = self
            .send_parts(parts, |n| {
                let (h, upload_id) = (&h, &started.upload.upload_id);
                async move {
                    let i = u64::from(n - 1);
                    if let Some(Some(etag)) = h.fresh.get(i as usize) {
                        return Ok(etag.clone());
                    }
                    let range = h.layout.range(i);
                    let range = range.start..range.end.min(size);
                    let (body, _held) = self.read_staged(d, &range).await.map_err(|e| fs_to_store(key, e))?;
                    let etag = store.upload_part(key, upload_id, n, body).await?;
                    self.uploaded.fetch_add(range.end - range.start, Ordering::Relaxed);
                    Ok(etag)
                }
            })
            .await;
        // S3 records the upload's own token, fixed when it was created: journal it as this
        // version's, so a mount resuming after a crash past the completion knows the object.
        let sent = match sent {
            Ok(parts) => self
                .adopt_token(d, generation, started.token)
                .map(|()| parts)
                .map_err(|e| fs_to_store(key, e)),
            Err(e) => Err(e),
        };
        let done = self.complete_or_abort(&started.upload, sent, cond).await;
        let done = crate::outcome::checked_upload(store, key, started.token, done).await;
        let etag = match done {
            Ok(etag) => etag,
            Err(e) => return Some(Err(e)),
        };
        let (mtime_set, kept) = {
            let st = d.state();
            (st.mtime_set, st.attributes != 0 || st.created.is_some())
        };
        if (!mtime_set || mtime == h.mtime) && !kept {
            return Some(Ok((etag, h.mtime)));
        }
        // The time was set by the user, or attributes kept: record them (S3 took the upload's
        // time at its creation, and no attributes).
        let mtime = if mtime_set { mtime } else { h.mtime };
        let stamp = d.state().stamp(mtime, started.token);
        let copied = copy_object(store, key, key, size, Some(&etag), &self.cfg.transfer, Some(stamp)).await;
        Some(match copied {
            Ok(etag) => Ok((etag, mtime)),
            Err(e) => {
                tracing::warn!(key, error = %e, "could not record the file's modification time on S3");
                Ok((etag, h.mtime))
            }
        })
    }

    /// Drops the eager parts of a file forgotten without them (deleted, or renamed and sent
    /// whole), in the background.
    pub(crate) fn drop_eager_of(&self, d: &Arc<Dirty>) {
        if !d.eager.launched_any() {
            return;
        }
        let (store, journal, d) = (self.store.clone(), self.journal.clone(), d.clone());
        // Counted, so a drain (an unmount) waits for the abort instead of cutting it off.
        let (aborting, changed) = (self.aborting.clone(), self.changed.clone());
        aborting.fetch_add(1, Ordering::AcqRel);
        self.rt.spawn(async move {
            if let Some(h) = d.eager.hand_over().await {
                abort_eager(store.as_ref(), &journal, h).await;
            }
            aborting.fetch_sub(1, Ordering::AcqRel);
            changed.notify_waiters();
        });
    }
}

/// Aborts the multipart upload of unused eager parts, then forgets its record.
async fn abort_eager(store: &dyn pail_store::ObjectStore, journal: &Journal, h: Handover) {
    if let Some(started) = h.started {
        multipart::abort(store, journal, &started.upload).await;
    }
}
