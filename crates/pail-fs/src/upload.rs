//! One upload of a file being written: the PUT or multipart upload (copying untouched parts of
//! a large file server-side), and what a failed condition turns into — a conflict copy. What
//! the file becomes after each is its state machine's (`lifecycle`); when to upload, and
//! retrying, is `writeback`'s.
//!
//! Appending to a large object therefore costs UploadPartCopy calls for the parts it left
//! alone and one ranged GET for its last block, not a download of the whole object.

use std::sync::Arc;
use std::time::SystemTime;

use pail_store::{ETag, Stamp, StoreErrorKind, WriteCondition};

use crate::dirty::Dirty;
use crate::error::FsError;
use crate::lifecycle::{Attempt, Expect, NoUpload};
use crate::multipart::{Fill, PartSource};
use crate::outcome;
use crate::parts::Layout;
use crate::path::VfsPath;
use crate::uploader::{SendError, Uploader};

/// How one upload attempt ended.
pub(crate) enum Outcome {
    /// Nothing was to be sent.
    Done,
    /// A writer has the file open; its last close schedules the upload.
    Busy,
    /// S3 has the version at `path`.
    Landed(Landed),
    /// S3 holds another client's version at `path`: the local one was saved as `copy`.
    Conflict { path: VfsPath, copy: VfsPath },
    /// Failed; try again later.
    Retry(FsError),
}

/// What a landed upload put on S3.
pub(crate) struct Landed {
    pub(crate) path: VfsPath,
    pub(crate) etag: ETag,
    pub(crate) size: u64,
    pub(crate) mtime: SystemTime,
    pub(crate) attributes: u32,
    pub(crate) created: Option<SystemTime>,
}

impl Uploader {
    /// One attempt at bringing S3 up to date with `d` (`force`: even while a writer has it
    /// open, for fsync).
    pub(crate) async fn upload_once(&self, d: &Arc<Dirty>, force: bool) -> Outcome {
        let _upload = d.upload.lock().await;
        let attempt = match d.state().begin_upload(force) {
            Ok(a) => a,
            Err(NoUpload::Nothing) => return Outcome::Done,
            Err(NoUpload::Busy) => return Outcome::Busy,
        };
        let outcome = self.attempt(d, &attempt).await;
        d.state().end_upload();
        outcome
    }

    async fn attempt(&self, d: &Arc<Dirty>, a: &Attempt) -> Outcome {
        if a.in_conflict {
            // S3 refused this version before (in this mount or an earlier one): finish its
            // conflict copy under the name chosen then.
            return self.save_conflict(d, a).await;
        }
        self.staging.uploading(true);
        d.restart_sent();
        // A file with a base holds its byte lock through the upload, so no read or write fetches
        // from the old version between the commit and the rebase below.
        let io = if d.has_base() { Some(d.io.lock().await) } else { None };
        let cond = a.expect.condition();
        // Through the parts sent while the file was written, if any; else the whole file.
        let result = match self
            .finish_eager(d, (&a.key, a.generation), a.size, &cond, a.mtime)
            .await
        {
            Some(sent) => sent,
            None => {
                let sent = self.send(d, a, &cond, io.is_some()).await;
                // A failure may hide an attempt that landed (its answer lost, then the SDK's
                // retry refused by the condition): S3 has this version if it has the token.
                outcome::checked_upload(self.store.as_ref(), &a.key, a.token, sent)
                    .await
                    .map(|etag| (etag, a.mtime))
            }
        };
        let outcome = match result {
            Ok((etag, mtime)) => {
                tracing::debug!(path = %a.path, size = a.size, "uploaded");
                let (stale, attributes, created) = {
                    let mut st = d.state();
                    let stale = st.landed(a, &etag, mtime);
                    // The old version is gone: blocks not copied in locally are in the new one.
                    d.rebase(&a.key, &etag, a.size);
                    (stale, st.attributes(), st.created())
                };
                drop(io);
                if let Some(key) = stale
                    && let Err(e) = outcome::delete_if_ours(self.store.as_ref(), &key, a.token).await
                {
                    tracing::warn!(key, error = %e, "an upload landed under a name its file no longer has, and could not be deleted");
                }
                Outcome::Landed(Landed {
                    path: a.path.clone(),
                    etag,
                    size: a.size,
                    mtime,
                    attributes,
                    created,
                })
            }
            Err(e) if refused(&e, &a.expect) => {
                drop(io);
                self.save_conflict(d, a).await
            }
            Err(SendError::Local(e)) if d.state().generation() != a.generation => {
                // Written (or truncated) while being read for the upload: the next upload sends
                // the new contents.
                tracing::debug!(path = %a.path, error = e.detail(), "changed during upload; uploading again");
                Outcome::Done
            }
            Err(e) => {
                if matches!(e, SendError::Store(_)) {
                    d.state().outcome_unknown();
                }
                Outcome::Retry(e.into_fs("upload", a.path.as_str()))
            }
        };
        self.staging.uploading(false);
        outcome
    }

    /// Sends the staging file of `d` as `a` saw it. `io_held`: the caller holds `d.io`.
    async fn send(&self, d: &Arc<Dirty>, a: &Attempt, cond: &WriteCondition, io_held: bool) -> Result<ETag, SendError> {
        let (key, size) = (a.key.as_str(), a.size);
        let stamp = d.state().stamp(a.mtime, a.token);
        let fill = if io_held { Fill::Held } else { Fill::Take };
        let layout = Layout::for_size(&self.cfg.transfer, size);
        let plan = if size > self.cfg.transfer.single_put_max {
            d.untouched_parts(&layout, size)
        } else {
            None
        };
        let Some((base_key, base_etag, untouched)) = plan.filter(|p| p.2.iter().any(|&u| u)) else {
            fill.apply(d, 0..size).await?;
            return self.send_whole(d, key, size, cond, stamp).await;
        };
        let started = self.start_multipart(key, stamp).await?;
        let source = |i: u64| match untouched.get(i as usize) {
            Some(true) => PartSource::Copy {
                key: &base_key,
                etag: &base_etag,
            },
            _ => PartSource::Local,
        };
        let parts = self.send_parts(d, &started, (layout, size), 0..layout.count(size), source, fill);
        self.complete_or_abort(&started, parts, cond).await
    }

    /// Sends the first `size` bytes of `d` to `key`: one PUT up to `single_put_max`, else a
    /// multipart upload (journaled, so a crash between its parts leaves nothing behind on S3).
    async fn send_whole(
        &self,
        d: &Dirty,
        key: &str,
        size: u64,
        cond: &WriteCondition,
        stamp: Stamp,
    ) -> Result<ETag, SendError> {
        if size <= self.cfg.transfer.single_put_max.max(1) {
            let (body, _held) = self.read_staged(d, &(0..size)).await?;
            let etag = self.store.put(key, body, cond, Some(stamp)).await?;
            self.sent(d, size);
            return Ok(etag);
        }
        let layout = Layout::for_size(&self.cfg.transfer, size);
        let started = self.start_multipart(key, stamp).await?;
        let all = 0..layout.count(size);
        let parts = self.send_parts(d, &started, (layout, size), all, |_| PartSource::Local, Fill::AsIs);
        self.complete_or_abort(&started, parts, cond).await
    }

    /// The object changed on the server: keep the local version beside it as
    /// `name (conflict <host> <date time>).ext`; the server's version shows at the path.
    ///
    /// The copy's name is chosen and journaled before the copy is written, so a retry, or a
    /// mount resuming after a crash, writes the same copy again instead of a second one; a
    /// failure whose answer was lost is checked against S3 by the upload's token. Only a name
    /// taken by another object moves the copy to the next name (` 2`, ` 3`…).
    async fn save_conflict(&self, d: &Arc<Dirty>, a: &Attempt) -> Outcome {
        let Some((parent, name)) = a.path.split_last() else {
            return Outcome::Done;
        };
        let mut attempt = 0;
        let copy = loop {
            let copy = match self.conflict_copy_path(d, &parent, name, attempt) {
                Ok(p) => p,
                Err(e) => return Outcome::Retry(e),
            };
            let copy_key = copy.to_key(&self.prefix, self.names);
            let stamp = d.state().stamp(a.mtime, a.token);
            let sent = self
                .send_whole(d, &copy_key, a.size, &WriteCondition::IfAbsent, stamp)
                .await;
            match outcome::checked_upload(self.store.as_ref(), &copy_key, a.token, sent).await {
                Ok(_) => break copy,
                Err(SendError::Store(e)) if e.kind() == StoreErrorKind::Conflict && attempt < 100 => {
                    // Another object has this name: the copy takes the next one.
                    d.state().conflict_name_taken();
                    attempt += 1;
                }
                Err(e) => return Outcome::Retry(e.into_fs("save conflict copy", a.path.as_str())),
            }
        };
        tracing::warn!(
            path = %a.path,
            saved_as = %copy,
            "the file changed on the server while it was being edited; the local version was saved as a conflict copy"
        );
        d.state().conflict_saved(a.generation);
        Outcome::Conflict {
            path: a.path.clone(),
            copy,
        }
    }

    /// The path of `d`'s conflict copy: the one journaled already, else a new name (the
    /// `attempt`-th), journaled before it is returned.
    fn conflict_copy_path(&self, d: &Dirty, parent: &VfsPath, name: &str, attempt: u32) -> Result<VfsPath, FsError> {
        if let Some(p) = d.state().conflict_copy().cloned() {
            return Ok(p);
        }
        let copy = parent.join(&conflict_name(name, &self.cfg.host_name, SystemTime::now(), attempt));
        d.state().conflict_named(copy.clone());
        d.write_record(&self.journal, copy.as_str())?;
        Ok(copy)
    }
}

/// Whether S3 refused the version for another client's: its condition failed, the version it
/// replaces is gone, or the base it was edited from changed before its blocks were fetched.
fn refused(e: &SendError, expect: &Expect) -> bool {
    match e {
        SendError::Store(e) => {
            e.kind() == StoreErrorKind::Conflict
                || (e.kind() == StoreErrorKind::NotFound && matches!(expect, Expect::Match(_)))
        }
        SendError::Local(e) => e.kind() == crate::FsErrorKind::Stale,
    }
}

/// `report (conflict host 2026-11-23 1804).docx`; `attempt` > 0 adds ` 2`, ` 3`… before `)`.
pub(crate) fn conflict_name(name: &str, host: &str, now: SystemTime, attempt: u32) -> String {
    let t = time::OffsetDateTime::from(now);
    let stamp = format!(
        "{:04}-{:02}-{:02} {:02}{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute()
    );
    let suffix = if attempt > 0 {
        format!(" {}", attempt + 1)
    } else {
        String::new()
    };
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    format!("{stem} (conflict {host} {stamp}{suffix}){ext}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn conflict_names_keep_the_extension() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_456_440); // 2026-11-23 18:34 UTC
        assert_eq!(
            conflict_name("report.docx", "laptop", t, 0),
            "report (conflict laptop 2026-11-23 1754).docx"
        );
        assert_eq!(
            conflict_name("Makefile", "h", t, 1),
            "Makefile (conflict h 2026-11-23 1754 2)"
        );
        assert_eq!(
            conflict_name(".bashrc", "h", t, 0),
            ".bashrc (conflict h 2026-11-23 1754)"
        );
    }
}
