//! Eager parts: a large file written from its start onwards begins its multipart upload while
//! it is still being written, so writing it and sending it overlap instead of adding up.
//!
//! A part is sent once the bytes written contiguously from offset 0 (the *frontier*) have
//! reached its end (the first part once they passed it, so the file is known to need more than
//! one PUT), so a program writing front to back (a copy, an export, a download) has all but its
//! tail on S3 when it closes the file. A later write into a part already sent (a header patched
//! at the end, a truncate) only marks that part stale: the upload after close sends the parts
//! never launched at once, beside those still in flight, then re-sends stale and failed ones,
//! and completes with the file's condition (`If-None-Match` or `If-Match`), so what S3 ends up
//! with is always exactly the closed file. Only files with
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

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use pail_store::ETag;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use crate::parts::{Layout, MAX_PARTS, Started};

/// The eager-parts state of one file.
#[derive(Debug)]
pub(crate) struct Eager {
    state: std::sync::Mutex<EagerState>,
    upload: OnceCell<EagerUpload>,
    /// A background flush of the staging file is running.
    syncing: AtomicBool,
    /// More bytes became due while it ran: it flushes once more.
    sync_again: AtomicBool,
}

/// A multipart upload begun for a file's eager parts.
#[derive(Debug, Clone)]
pub(crate) struct EagerUpload {
    pub(crate) upload: Started,
    /// The token recorded with the object (S3 fixes metadata when the upload is created), by
    /// which a completion whose answer was lost is recognised.
    pub(crate) token: u64,
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
pub(crate) struct Plan {
    pub(crate) key: String,
    pub(crate) layout: Layout,
    /// The modification time the upload was created with.
    pub(crate) mtime: SystemTime,
}

/// What the upload after close takes over.
#[derive(Debug)]
pub(crate) struct Handover {
    pub(crate) started: Option<EagerUpload>,
    /// Per part: the ETag when what was sent is still the file's content.
    pub(crate) fresh: Vec<Option<ETag>>,
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
    pub(crate) fn due(&self, key: &str, mtime: SystemTime, layout: Layout) -> Option<(Plan, Range<u64>)> {
        let mut s = self.lock();
        if s.off {
            return None;
        }
        if s.plan.as_ref().is_some_and(|p| p.key != key) {
            s.off = true;
            return None;
        }
        // A part is due once the frontier reaches its end: later bytes only add parts after
        // it. The first waits until the frontier is past its end, so the file is known to be
        // larger than one part (and will be a multipart upload, not one PUT).
        let layout = s.plan.as_ref().map_or(layout, |p| p.layout);
        let due = if s.frontier <= layout.range(0).end {
            0
        } else {
            layout.part_of(s.frontier)
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
    pub(crate) fn launched_any(&self) -> bool {
        self.lock().plan.is_some()
    }

    /// Keeps the tasks sending launched parts (a hand-over waits for them).
    pub(crate) fn track(&self, tasks: Vec<JoinHandle<()>>) {
        self.lock().tasks.extend(tasks);
    }

    /// The multipart upload of the parts, begun by `start` on first use.
    pub(crate) async fn upload<E, F, Fut>(&self, start: F) -> Result<&EagerUpload, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<EagerUpload, E>>,
    {
        self.upload.get_or_try_init(start).await
    }

    /// How often `part` changed since it was launched.
    pub(crate) fn change_count(&self, part: u64) -> u64 {
        self.lock().changes.get(part as usize).copied().unwrap_or(0)
    }

    /// `part` was sent as `etag`, read when its change count was `at`.
    pub(crate) fn sent(&self, part: u64, etag: ETag, at: u64) {
        if let Some(slot) = self.lock().sent.get_mut(part as usize) {
            *slot = Some((etag, at));
        }
    }

    /// Stops launching and waits for the parts in flight; `None` when nothing was launched (or
    /// it was handed over already).
    pub(crate) async fn hand_over(&self) -> Option<Handover> {
        let stopped = self.stop()?;
        Some(self.handed(stopped).await)
    }

    /// Stops launching, at once: what was launched, to be [`handed`](Self::handed) over once
    /// in flight no more; `None` when nothing was launched (or it was handed over already).
    pub(crate) fn stop(&self) -> Option<Stopped> {
        let mut s = self.lock();
        s.off = true;
        let plan = s.plan.take()?;
        Some(Stopped {
            plan,
            launched: s.launched,
            tasks: std::mem::take(&mut s.tasks),
        })
    }

    /// Waits for the parts of `stopped` in flight and answers what they left.
    pub(crate) async fn handed(&self, stopped: Stopped) -> Handover {
        for t in stopped.tasks {
            let _ = t.await;
        }
        let s = self.lock();
        let fresh = s
            .sent
            .iter()
            .zip(&s.changes)
            .map(|(sent, &now)| sent.as_ref().filter(|(_, at)| *at == now).map(|(e, _)| e.clone()))
            .collect();
        Handover {
            started: self.upload.get().cloned(),
            fresh,
        }
    }
}

/// Eager parts stopped from launching, some perhaps still in flight.
#[derive(Debug)]
pub(crate) struct Stopped {
    pub(crate) plan: Plan,
    /// Parts `0..launched` were launched; the rest never were.
    pub(crate) launched: u64,
    tasks: Vec<JoinHandle<()>>,
}

impl Eager {
    /// Asks for a background flush of the staging file: `true` when the caller must start
    /// one, `false` when one runs (it then flushes once more).
    pub(crate) fn want_sync(&self) -> bool {
        if self.syncing.swap(true, Ordering::AcqRel) {
            self.sync_again.store(true, Ordering::Release);
            return false;
        }
        true
    }

    /// A flush round begins: what becomes due from now on asks for another.
    pub(crate) fn sync_round(&self) {
        self.sync_again.store(false, Ordering::Release);
    }

    /// A flush round ended; whether to run one more (asked for meanwhile, and `wanted`).
    pub(crate) fn sync_round_ended(&self, wanted: bool) -> bool {
        self.syncing.store(false, Ordering::Release);
        let again = self.sync_again.load(Ordering::Acquire) && wanted;
        again && !self.syncing.swap(true, Ordering::AcqRel)
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
