//! One upload of a file being written: the PUT or multipart upload (copying untouched parts of
//! a large file server-side), and what a failed condition turns into — a conflict copy.
//!
//! Appending to a large object therefore costs UploadPartCopy calls for the parts it left
//! alone and one ranged GET for its last block, not a download of the whole object.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use pail_store::{ETag, FileUpload, PartSource, StoreError, StoreErrorKind, WriteCondition};

use crate::dirty::{Dirty, Expect};
use crate::error::FsError;
use crate::meta::Attr;
use crate::multipart::part_range;
use crate::outcome;
use crate::path::VfsPath;
use crate::writeback::{Outcome, Writeback};

pub(crate) fn fs_to_store(key: &str, e: FsError) -> StoreError {
    let kind = match e.kind() {
        crate::FsErrorKind::Stale => StoreErrorKind::Conflict,
        crate::FsErrorKind::Unavailable => StoreErrorKind::Network,
        _ => StoreErrorKind::LocalIo,
    };
    StoreError::new(kind, "preparing upload", key, Some(Box::new(e)))
}

impl Writeback {
    pub(crate) async fn upload_once(&self, d: &Arc<Dirty>, force: bool) -> Outcome {
        let _upload = d.upload.lock().await;
        let (generation, key, size, mtime, expect, path, token, in_conflict) = {
            let mut st = d.state();
            if !st.needs_upload() {
                return Outcome::Done;
            }
            if st.writers > 0 && !force {
                return Outcome::Busy;
            }
            (
                st.generation,
                st.key.clone(),
                st.size,
                st.mtime,
                st.expect.clone(),
                st.path.clone(),
                st.token(),
                st.conflict_copy.is_some(),
            )
        };
        if in_conflict {
            // S3 refused this version before (in this mount or an earlier one): finish its
            // conflict copy under the name chosen then.
            return self.save_conflict(d, &path, size, mtime, generation).await;
        }
        self.staging.uploading(true);
        // A file with a base holds its byte lock through the upload, so no read or write fetches
        // from the old version between the commit and the rebase below.
        let io = if d.has_base() { Some(d.io.lock().await) } else { None };
        let cond = expect.condition();
        // Through the parts sent while the file was written, if any; else the whole file.
        let result = match self.finish_eager(d, (&key, generation), size, &cond, mtime).await {
            Some(sent) => sent,
            None => {
                let sent = self.send(d, &key, size, &cond, mtime, token, io.is_some()).await;
                // A failure may hide an attempt that landed (its answer lost, then the SDK's
                // retry refused by the condition): S3 has this version if it has the token.
                outcome::checked_upload(self.store.as_ref(), &key, token, sent)
                    .await
                    .map(|etag| (etag, mtime))
            }
        };
        let outcome = match result {
            Ok((etag, mtime)) => {
                tracing::debug!(path = %path, size, "uploaded");
                {
                    let mut st = d.state();
                    if st.generation == generation {
                        // What S3 records (the time an eager upload began, unless set).
                        st.mtime = mtime;
                    }
                    st.synced = generation;
                    st.expect = Expect::Match(etag.clone());
                    st.remote_key = Some(key.clone());
                    // The old version is gone: blocks not copied in locally are in the new one.
                    d.rebase(&key, &etag);
                }
                drop(io);
                self.status().last_error = None;
                let (attributes, created) = {
                    let st = d.state();
                    (st.attributes, st.created)
                };
                let attr = Attr {
                    etag: Some(etag),
                    attributes,
                    created,
                    ..Attr::sized_file(size, mtime)
                };
                self.meta.put_entry(path.clone(), Some(attr.clone()));
                self.meta.update_listing_of(&path, Some(attr)).await;
                self.finish_if_clean(d);
                Outcome::Done
            }
            Err(e)
                if matches!(e.kind(), StoreErrorKind::Conflict)
                    || (e.kind() == StoreErrorKind::NotFound && matches!(expect, Expect::Match(_))) =>
            {
                self.save_conflict(d, &path, size, mtime, generation).await
            }
            Err(e) if e.kind() == StoreErrorKind::LocalIo && d.state().generation != generation => {
                // Written (or truncated) while being read for the upload: the next upload sends
                // the new contents.
                tracing::debug!(path = %path, "changed during upload; uploading again");
                Outcome::Done
            }
            Err(e) => {
                if outcome::may_have_landed(&e) {
                    d.state().maybe_landed = true;
                }
                Outcome::Retry(FsError::from_store("upload", path.as_str(), e))
            }
        };
        self.staging.uploading(false);
        outcome
    }

    /// Sends the staging file of `d` to `key`, recording `mtime` and the upload's `token`.
    /// `io_held`: the caller holds `d.io`.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        d: &Arc<Dirty>,
        key: &str,
        size: u64,
        cond: &WriteCondition,
        mtime: SystemTime,
        token: u64,
        io_held: bool,
    ) -> Result<ETag, StoreError> {
        let stamp = d.state().stamp(mtime, token);
        let transfer = &self.cfg.transfer;
        let part_size = transfer.part_size_for(size);
        let plan = if size > transfer.single_put_max {
            d.untouched_parts(part_size, size)
        } else {
            None
        };
        let Some((base_key, base_etag, untouched)) = plan.filter(|p| p.2.iter().any(|&u| u)) else {
            let filled = if io_held {
                d.fetch(self.store.as_ref(), 0..u64::MAX).await
            } else {
                d.fill(self.store.as_ref()).await
            };
            filled.map_err(|e| fs_to_store(key, e))?;
            let staged = StagedBytes(d);
            let up = FileUpload {
                key,
                source: &staged,
                size,
                cond,
                stamp: Some(stamp),
            };
            return self.upload_content(d, &up, Some(&self.uploaded)).await;
        };
        let store = self.store.as_ref();
        let started = self.start_multipart(key, stamp).await?;
        let sent = self
            .send_parts(size.div_ceil(part_size), |n| {
                let (upload_id, base_key, base_etag, untouched) =
                    (&started.upload_id, &base_key, &base_etag, &untouched);
                async move {
                    let range = part_range(n, part_size, size);
                    let etag = if untouched[n as usize - 1] {
                        store
                            .upload_part_copy(key, upload_id, n, base_key, range.clone(), Some(base_etag))
                            .await?
                    } else {
                        let bs = d.block_size;
                        let blocks = range.start / bs..range.end.div_ceil(bs);
                        let filled = if io_held {
                            d.fetch(store, blocks).await
                        } else {
                            d.fill_range(store, range.clone()).await
                        };
                        filled.map_err(|e| fs_to_store(key, e))?;
                        let (body, _held) = self.read_staged(d, &range).await.map_err(|e| fs_to_store(key, e))?;
                        store.upload_part(key, upload_id, n, body).await?
                    };
                    self.uploaded.fetch_add(range.end - range.start, Ordering::Relaxed);
                    Ok(etag)
                }
            })
            .await;
        self.complete_or_abort(&started, sent, cond).await
    }

    /// Uploads `up.size` bytes of `d`: one PUT up to `single_put_max`, else a multipart
    /// upload (journaled, so a crash between its parts leaves nothing behind on S3).
    async fn upload_content(
        &self,
        d: &Dirty,
        up: &FileUpload<'_>,
        progress: Option<&std::sync::atomic::AtomicU64>,
    ) -> Result<ETag, StoreError> {
        let count = |len: u64| {
            if let Some(p) = progress {
                p.fetch_add(len, Ordering::Relaxed);
            }
        };
        let key = up.key;
        if up.size <= self.cfg.transfer.single_put_max.max(1) {
            let (body, _held) = self
                .read_staged(d, &(0..up.size))
                .await
                .map_err(|e| fs_to_store(key, e))?;
            let etag = self.store.put(key, body, up.cond, up.stamp).await?;
            count(up.size);
            return Ok(etag);
        }
        let part_size = self.cfg.transfer.part_size_for(up.size);
        let started = self.start_multipart(key, up.stamp.unwrap_or_default()).await?;
        let sent = self
            .send_parts(up.size.div_ceil(part_size), |n| {
                let upload_id = &started.upload_id;
                async move {
                    let range = part_range(n, part_size, up.size);
                    let (body, _held) = self.read_staged(d, &range).await.map_err(|e| fs_to_store(key, e))?;
                    let etag = self.store.upload_part(key, upload_id, n, body).await?;
                    count(range.end - range.start);
                    Ok(etag)
                }
            })
            .await;
        self.complete_or_abort(&started, sent, up.cond).await
    }

    /// Reads `range` of `d` to send it, once the drive's budget of bytes held by uploads has
    /// room for it; the body counts against the budget until the returned permit is dropped.
    pub(crate) async fn read_staged(
        &self,
        d: &Dirty,
        range: &Range<u64>,
    ) -> Result<(Bytes, tokio::sync::SemaphorePermit<'_>), FsError> {
        let permit = self
            .bodies
            .acquire_many(body_units(range.end - range.start, self.cfg.transfer_memory))
            .await
            .map_err(|_| FsError::new(crate::FsErrorKind::Io, "read staging", ""))?;
        let body = StagedBytes(d)
            .read_part(range.start, range.end - range.start)
            .map_err(|e| FsError::local("read staging", "", &e))?;
        Ok((body, permit))
    }
}

/// The budget of bytes held by uploads is counted in units of this size.
pub(crate) const BODY_UNIT: u64 = 64 << 10;

/// Units of the budget `total` that a body of `len` bytes takes (a body larger than the whole
/// budget takes all of it, and waits for it to be free).
pub(crate) fn body_units(len: u64, total: u64) -> u32 {
    len.div_ceil(BODY_UNIT)
        .clamp(1, total.div_ceil(BODY_UNIT).max(1))
        .min(u64::from(u32::MAX)) as u32
}

/// A pending file's bytes as an upload reads them (from memory, or its staging file, sealed or
/// not). Past the end of the staging file the file reads as zeros (it was extended).
struct StagedBytes<'a>(&'a Dirty);

impl PartSource for StagedBytes<'_> {
    fn read_part(&self, offset: u64, len: u64) -> std::io::Result<Bytes> {
        let mut buf = self.0.content.read_vec(len as usize, offset)?;
        buf.resize(len as usize, 0);
        Ok(buf.into())
    }

    fn describe(&self) -> String {
        self.0.state().path.as_str().to_owned()
    }
}

impl Writeback {
    /// The object changed on the server: keep the local version beside it as
    /// `name (conflict <host> <date time>).ext`, and show the server's version at the path.
    ///
    /// The copy's name is chosen and journaled before the copy is written, so a retry, or a
    /// mount resuming after a crash, writes the same copy again instead of a second one; a
    /// failure whose answer was lost is checked against S3 by the upload's token. Only a name
    /// taken by another object moves the copy to the next name (` 2`, ` 3`…).
    pub(crate) async fn save_conflict(
        &self,
        d: &Arc<Dirty>,
        path: &VfsPath,
        size: u64,
        mtime: SystemTime,
        generation: u64,
    ) -> Outcome {
        let Some((parent, name)) = path.split_last() else {
            return Outcome::Done;
        };
        let token = d.state().token();
        let mut attempt = 0;
        let copy_path = loop {
            let copy_path = match self.conflict_copy_path(d, &parent, name, attempt) {
                Ok(p) => p,
                Err(e) => return Outcome::Retry(e),
            };
            let copy_key = copy_path.to_key(&self.prefix, self.names);
            let staged = StagedBytes(d);
            let up = FileUpload {
                key: &copy_key,
                source: &staged,
                size,
                cond: &WriteCondition::IfAbsent,
                stamp: Some(d.state().stamp(mtime, token)),
            };
            let sent = self.upload_content(d, &up, None).await;
            match outcome::checked_upload(self.store.as_ref(), &copy_key, token, sent).await {
                Ok(_) => break copy_path,
                Err(e) if e.kind() == StoreErrorKind::Conflict && attempt < 100 => {
                    // Another object has this name: the copy takes the next one.
                    d.state().conflict_copy = None;
                    attempt += 1;
                }
                Err(e) => return Outcome::Retry(FsError::from_store("save conflict copy", path.as_str(), e)),
            }
        };
        tracing::warn!(
            path = %path,
            saved_as = %copy_path,
            "the file changed on the server while it was being edited; the local version was saved as a conflict copy"
        );
        self.status().conflicts.push(copy_path.as_str().to_owned());
        self.meta.invalidate(path).await;
        self.meta.invalidate(&copy_path).await;
        {
            let mut st = d.state();
            st.conflict_copy = None;
            if st.generation == generation && st.writers == 0 {
                st.synced = generation;
                st.deleted = true;
            } else {
                // Still being written: the newest local version will replace the server's.
                st.expect = Expect::Any;
            }
        }
        self.finish_if_clean(d);
        Outcome::Done
    }

    /// The path of `d`'s conflict copy: the one journaled already, else a new name (the
    /// `attempt`-th), journaled before it is returned.
    fn conflict_copy_path(&self, d: &Dirty, parent: &VfsPath, name: &str, attempt: u32) -> Result<VfsPath, FsError> {
        if let Some(p) = d.state().conflict_copy.clone() {
            return Ok(p);
        }
        let copy_path = parent.join(&conflict_name(name, &self.cfg.host_name, SystemTime::now(), attempt));
        d.state().conflict_copy = Some(copy_path.clone());
        self.write_record(d, copy_path.as_str())?;
        Ok(copy_path)
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
    fn upload_bodies_take_their_size_from_the_budget_and_never_more_than_all_of_it() {
        let budget = 64 << 20;
        assert_eq!(body_units(0, budget), 1, "an empty body still takes a unit");
        assert_eq!(body_units(4096, budget), 1);
        assert_eq!(body_units(BODY_UNIT + 1, budget), 2);
        assert_eq!(body_units(8 << 20, budget), 128);
        assert_eq!(
            body_units(5 << 30, budget),
            body_units(u64::MAX, budget),
            "clamped to the budget"
        );
        assert_eq!(body_units(u64::MAX, budget), 1024);
        assert_eq!(
            body_units(u64::MAX, 0),
            1,
            "a budget of nothing still lets one body through"
        );
    }

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
