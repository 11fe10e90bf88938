//! Sending a file's eager parts (`eager` says which are due and which are stale): launched
//! as the frontier passes them, one budget of parts in flight for the drive; handed to the
//! upload after close, which sends the stale and missing ones and completes; or aborted when
//! the file goes another way. The staging file is flushed ahead of the close meanwhile.

use std::sync::Arc;
use std::time::SystemTime;

use pail_store::{ETag, WriteCondition, copy_object};

use crate::dirty::Dirty;
use crate::eager::{EagerUpload, Handover, Plan};
use crate::journal::Journal;
use crate::multipart::{self, Fill, PartSource};
use crate::parts::{Layout, MAX_PARTS};
use crate::uploader::{SendError, Uploader};

impl Uploader {
    /// Launches the parts of `d` that became due, if it takes eager parts.
    pub(crate) fn send_due_parts(self: &Arc<Self>, d: &Arc<Dirty>) {
        let (key, mtime) = {
            let st = d.state();
            if st.is_deleted() {
                return;
            }
            (st.key().to_owned(), st.mtime())
        };
        let Some((plan, parts)) = d.eager.due(&key, mtime, Layout::growing(&self.cfg.transfer)) else {
            return;
        };
        let mut tasks = Vec::new();
        for part in parts {
            let (wb, d, plan) = (self.clone(), d.clone(), plan.clone());
            let span = tracing::debug_span!("eager part", id = d.id, part);
            tasks.push(self.rt.spawn(tracing::Instrument::instrument(
                async move { wb.send_eager_part(&d, &plan, part).await },
                span,
            )));
        }
        d.eager.track(tasks);
        self.sync_ahead(d);
    }

    /// Flushes `d`'s staging file in the background, so the flush at close finds little left
    /// to write. At most one runs per file; a call while it runs makes it run once more.
    fn sync_ahead(&self, d: &Arc<Dirty>) {
        if !d.eager.want_sync() {
            return;
        }
        let d = d.clone();
        let span = tracing::debug_span!("sync ahead", id = d.id);
        self.rt.spawn_blocking(move || {
            let _entered = span.enter();
            loop {
                d.eager.sync_round();
                if let Err(e) = d.content.sync_staged() {
                    // Only an early start: the flush at close reports what still fails.
                    tracing::debug!(error = %e, "staging file not flushed ahead of close");
                }
                let wanted = !d.state().is_deleted();
                if !d.eager.sync_round_ended(wanted) {
                    return;
                }
            }
        });
    }

    /// Sends part `part` of `d` (a failure leaves it for the upload after close).
    async fn send_eager_part(&self, d: &Dirty, plan: &Plan, part: u64) {
        // One budget of parts in flight for the whole drive bounds the memory they take.
        let Ok(_slot) = self.eager_slots.acquire().await else {
            return;
        };
        let started = d.eager.upload(|| self.start_upload(&plan.key, plan.mtime)).await;
        let started = match started {
            Ok(s) => s,
            Err(e) => return tracing::debug!(error = %e, "eager part not sent; the upload will send it"),
        };
        let at = d.eager.change_count(part);
        let range = plan.layout.range(part);
        let n = part as u32 + 1;
        match self
            .send_part(d, &started.upload, range, n, PartSource::Local, Fill::AsIs)
            .await
        {
            Ok(etag) => d.eager.sent(part, etag, at),
            Err(e) => tracing::debug!(error = %e, "eager part not sent; the upload will send it"),
        }
    }

    /// Creates the multipart upload, journaled, with a token of its own.
    async fn start_upload(&self, key: &str, mtime: SystemTime) -> Result<EagerUpload, SendError> {
        let token = crate::lifecycle::fresh_token();
        let stamp = pail_store::Stamp::at(mtime).with_token(token);
        let upload = self.start_multipart(key, stamp).await?;
        Ok(EagerUpload { upload, token })
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
    ) -> Option<Result<(ETag, SystemTime), SendError>> {
        let stopped = d.eager.stop()?;
        let layout = stopped.plan.layout;
        let parts = layout.count(size);
        let usable = stopped.plan.key == key && size > self.cfg.transfer.single_put_max && parts <= MAX_PARTS;
        let plan = &stopped.plan;
        let started = if usable {
            let upload = d.eager.upload(|| self.start_upload(&plan.key, plan.mtime)).await;
            upload.ok().cloned()
        } else {
            None
        };
        let Some(started) = started else {
            abort_eager(self.store.as_ref(), &self.journal, d.eager.handed(stopped).await).await;
            return None;
        };
        // The parts never launched (the tail written since the last one was) go out now,
        // beside those still in flight; then the launched parts that failed, or changed since,
        // are sent again.
        let (planned_mtime, launched) = (stopped.plan.mtime, stopped.launched.min(parts));
        let sending = async {
            let late = self.send_parts(
                d,
                &started.upload,
                (layout, size),
                launched..parts,
                |_| PartSource::Local,
                Fill::AsIs,
            );
            let (h, late) = tokio::join!(d.eager.handed(stopped), late);
            let late = late?;
            let source = |i: u64| match h.fresh.get(i as usize) {
                Some(Some(etag)) => PartSource::Sent(etag.clone()),
                _ => PartSource::Local,
            };
            let sent = self
                .send_parts(d, &started.upload, (layout, size), 0..launched, source, Fill::AsIs)
                .await?;
            // S3 records the upload's own token, fixed when it was created: journal it as this
            // version's, so a mount resuming after a crash past the completion knows the object.
            d.adopt_token(&self.journal, generation, started.token)?;
            Ok(sent.into_iter().chain(late).collect())
        };
        let done = self.complete_or_abort(&started.upload, sending, cond).await;
        let store = self.store.as_ref();
        let done = crate::outcome::checked_upload(store, key, started.token, done).await;
        let etag = match done {
            Ok(etag) => etag,
            Err(e) => return Some(Err(e)),
        };
        let (mtime_set, kept) = {
            let st = d.state();
            (st.mtime_set(), st.attributes() != 0 || st.created().is_some())
        };
        if (!mtime_set || mtime == planned_mtime) && !kept {
            return Some(Ok((etag, planned_mtime)));
        }
        // The time was set by the user, or attributes kept: record them (S3 took the upload's
        // time at its creation, and no attributes).
        let mtime = if mtime_set { mtime } else { planned_mtime };
        let stamp = d.state().stamp(mtime, started.token);
        let copied = copy_object(store, key, key, size, Some(&etag), &self.cfg.transfer, Some(stamp)).await;
        Some(match copied {
            Ok(etag) => Ok((etag, mtime)),
            Err(e) => {
                tracing::warn!(key, error = %e, "could not record the file's modification time on S3");
                Ok((etag, planned_mtime))
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
        aborting.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.rt.spawn(async move {
            if let Some(h) = d.eager.hand_over().await {
                abort_eager(store.as_ref(), &journal, h).await;
            }
            aborting.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
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
