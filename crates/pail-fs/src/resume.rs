//! Resuming after a restart: the journal an earlier mount left is loaded into write-back, and
//! staging files of files that were never closed are removed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::content::Content;
use crate::dirty::{Base, Dirty};
use crate::journal::Record;
use crate::lifecycle::{Expect, FileState, Resumed};
use crate::multipart::{self, Started};
use crate::path::VfsPath;
use crate::writeback::Writeback;

impl Writeback {
    /// Loads the journal left by an earlier mount: every pending upload is registered at its
    /// path at once (so it is visible before the mount answers anything), then folder moves are
    /// finished and the uploads started, in the background. Returns the number of uploads.
    pub(crate) fn resume(self: &Arc<Self>) -> std::io::Result<usize> {
        let up = &self.up;
        let (records, unreadable) = up.journal.load(up.staging.dir())?;
        self.status().unreadable.extend(unreadable);
        let mut known = HashSet::new();
        let mut moves = Vec::new();
        let mut parts = Vec::new();
        let mut uploads = 0;
        for (id, record) in records {
            known.insert(id);
            let upload = match record {
                Record::RenameDir { from, to } => {
                    moves.push((id, from, to));
                    continue;
                }
                Record::Parts { key, upload_id } => {
                    parts.push(Started {
                        key,
                        upload_id,
                        record: id,
                    });
                    continue;
                }
                Record::Upload(u) => *u,
            };
            // A small file's bytes are in its record: its staging file is written anew from
            // them (it was never fsync'ed, so it may be short or gone).
            let mut upload = upload;
            let opened = match upload.data.take() {
                Some(data) => up.staging.file(id, true).and_then(|f| {
                    f.write_at(&data, 0)?;
                    upload.size = data.len() as u64;
                    Ok(f)
                }),
                None => up.staging.file(id, false),
            };
            let file = match opened {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(path = upload.path, error = %e, "a pending upload's data is missing; its record is kept aside");
                    self.status().unreadable.push(format!("{id:016x}.json"));
                    continue;
                }
            };
            let expect = Expect::from_record(&upload.expect);
            tracing::debug!(
                id,
                path = upload.path,
                size = upload.size,
                ?expect,
                "resuming an upload"
            );
            let state = FileState::resumed(Resumed {
                path: VfsPath::new(&upload.path),
                key: upload.key,
                size: upload.size,
                mtime: SystemTime::UNIX_EPOCH + Duration::new(upload.mtime_secs, upload.mtime_nanos),
                expect,
                token: upload.token.unwrap_or_default(),
                conflict_copy: upload.conflict_copy.as_deref().map(VfsPath::new),
                attributes: upload.attributes,
                created: upload.created.map(|t| t.time()),
            });
            up.staging.add_used(upload.size);
            let base = upload
                .base
                .as_ref()
                .map(|b| Base::from_record(b, self.blocks.block_size()));
            let path = state.path().clone();
            let content = Content::staged(id, file, &up.staging);
            let d = Arc::new(Dirty::new(id, content, state, base, self.blocks.clone()));
            // Records are in id order: a later record of the same path supersedes an earlier one.
            let superseded = self.files().insert(path, d);
            if let Some(old) = superseded {
                old.state().superseded();
                self.finish_if_clean(&old);
            }
            uploads += 1;
        }
        self.remove_orphans(&known);
        up.aborting
            .fetch_add(parts.len() as u64, std::sync::atomic::Ordering::AcqRel);
        // Folder moves an earlier mount journaled go on in the background, shown as moved at
        // once (`moves`); a record whose prefixes are not this drive's is moved unseen.
        let path = |prefix: &str| self.path_of_prefix(prefix).unwrap_or_else(|| VfsPath::new(prefix));
        let moving: Vec<_> = moves
            .into_iter()
            .map(|(id, from, to)| self.start_move((path(&from), path(&to)), (from, to), id, Vec::new()))
            .collect();
        let wb = self.clone();
        up.rt.spawn(async move {
            // Parts an earlier mount sent for files it never completed: the files themselves
            // are re-sent whole from their journal records.
            // One attempt each: a failure keeps the record for the next mount.
            for started in &parts {
                multipart::abort(wb.up.store.as_ref(), &wb.up.journal, started).await;
                wb.up.aborting.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                wb.up.changed.notify_waiters();
            }
            // Uploads wait for the moves: a move must not copy an old version over a new one.
            for m in &moving {
                m.wait().await;
            }
            wb.meta.invalidate_all();
            let pending: Vec<Arc<Dirty>> = wb.files().values().cloned().collect();
            for d in &pending {
                wb.schedule(d);
            }
        });
        if uploads > 0 {
            tracing::info!(uploads, "resuming uploads left pending by an earlier mount");
        }
        Ok(uploads)
    }

    /// Staging files without a journal record belong to files that were never closed; nothing
    /// was promised for them.
    fn remove_orphans(&self, known: &HashSet<u64>) {
        let Ok(entries) = std::fs::read_dir(self.up.staging.dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let id = path
                .file_stem()
                .and_then(|s| u64::from_str_radix(&s.to_string_lossy(), 16).ok());
            if id.is_some_and(|id| !known.contains(&id)) {
                tracing::debug!(file = %path.display(), "removing the staging file of a file never closed");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}
