//! Folder moves in progress. A folder rename answers once its journal record is written and
//! its keys moved, or after `WritebackConfig::move_grace` (2 s) if they have not: the rest
//! move server-side in the background, retried with backoff until done (a crash resumes the
//! move at the next mount, from the record). A folder of 100,000 keys takes minutes, and
//! WinFsp fails a callback after its request timeout, so the rename must not wait for it.
//!
//! Until the keys have moved:
//! - the parent folders list the folder under its new name only;
//! - the folder answers a lookup at its new name at once (a folder), but listing it, and any
//!   call on its old name or on a name inside it, waits for the move (on Windows, the calls
//!   that must not hold a WinFsp thread answer "busy" instead; see [`Vfs::is_moving`]);
//! - files being written inside it were moved locally before the answer; their uploads wait for
//!   the move, so it never copies an older version over a newer upload.

use std::sync::Arc;
use std::time::Duration;

use crate::meta::Listing;
use crate::moving::{FolderMove, HeldFiles, Touch};
use crate::namespace::move_prefix;
use crate::path::VfsPath;
use crate::vfs::Vfs;
use crate::writeback::Writeback;

impl Writeback {
    /// The move `path` touches, if any, and how.
    pub(crate) fn moving(&self, path: &VfsPath) -> Option<(Arc<FolderMove>, Touch)> {
        let moves = self.moves.lock().unwrap_or_else(|e| e.into_inner());
        moves.iter().find_map(|m| m.touch(path).map(|t| (m.clone(), t)))
    }

    /// The folder a key prefix (`prefix/a/b/`) names on this drive, if it is under the
    /// drive's prefix.
    pub(crate) fn path_of_prefix(&self, key_prefix: &str) -> Option<VfsPath> {
        let rel = key_prefix.strip_prefix(self.up.prefix.as_str())?.strip_suffix('/')?;
        let shown: Vec<String> = rel.split('/').map(|seg| self.up.names.decode(seg)).collect();
        Some(VfsPath::new(&shown.join("/")))
    }

    /// Registers the move of folder `from` (keys under `prefixes.0`) to `to` (`prefixes.1`),
    /// journaled as record `record`, and moves its keys in the background. `held` are released
    /// when it is done.
    pub(crate) fn start_move(
        self: &Arc<Self>,
        (from, to): (VfsPath, VfsPath),
        prefixes: (String, String),
        record: u64,
        held: HeldFiles,
    ) -> Arc<FolderMove> {
        let m = Arc::new(FolderMove::new(from, to));
        self.moves.lock().unwrap_or_else(|e| e.into_inner()).push(m.clone());
        let (wb, moving) = (self.clone(), m.clone());
        self.up.rt.spawn(async move {
            let (from_prefix, to_prefix) = prefixes;
            let mut backoff = Duration::from_millis(100);
            loop {
                match move_prefix(
                    wb.up.store.as_ref(),
                    &from_prefix,
                    &to_prefix,
                    &wb.up.cfg.transfer,
                    &m.progress,
                )
                .await
                {
                    Ok(n) => {
                        tracing::debug!(from = %m.from, to = %m.to, keys = n, "folder moved");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(from = %m.from, to = %m.to, error = %e, "moving a folder failed; will retry");
                        wb.status().last_error = Some(format!("moving folder {} to {}: {e}", m.from, m.to));
                        wb.wait_or_hurry(backoff).await;
                        backoff = (backoff * 2).min(wb.up.cfg.max_backoff);
                    }
                }
            }
            wb.up.journal.done(record);
            wb.meta.invalidate_all();
            wb.moves
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|other| !Arc::ptr_eq(other, &m));
            m.finished();
            for (d, guard) in held {
                drop(guard);
                wb.unhold(&d, false);
            }
            wb.up.changed.notify_waiters();
        });
        moving
    }
}

impl Vfs {
    /// [`after_moves`](Self::after_moves) for at most `limit`; whether no move touches `path`
    /// any more. The Windows layer waits this long before answering "busy".
    pub async fn moves_done_within(&self, path: &VfsPath, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.after_moves(path)).await.is_ok()
    }

    /// Waits for every folder move `path` touches (its old or new name, or a name inside).
    pub(crate) async fn after_moves(&self, path: &VfsPath) {
        let Some(wb) = &self.wb else { return };
        while let Some((m, _)) = wb.moving(path) {
            m.wait().await;
        }
    }

    /// Whether a call on `path` would wait for a folder move: a name inside a moving folder,
    /// or its old name (its new name itself answers at once, unless `itself` asks about the
    /// folder being renamed or deleted, which waits too). The Windows layer answers such calls
    /// "busy" rather than hold a WinFsp thread.
    pub fn is_moving(&self, path: &VfsPath, itself: bool) -> bool {
        let Some(wb) = &self.wb else { return false };
        match wb.moving(path) {
            Some((_, Touch::Inside)) => true,
            Some((_, Touch::NewName)) => itself,
            None => false,
        }
    }

    /// `listing` of `dir` with moving folders under their new names only (S3 lists both names
    /// while the keys move).
    pub(crate) fn with_moves(&self, dir: &VfsPath, listing: Arc<Listing>) -> Arc<Listing> {
        let Some(wb) = &self.wb else { return listing };
        let moves = wb.moves_now();
        let touched = |p: &VfsPath| p.split_last().is_some_and(|(parent, _)| parent == *dir);
        if !moves.iter().any(|m| touched(&m.from) || touched(&m.to)) {
            return listing;
        }
        let mut map: std::collections::BTreeMap<String, crate::meta::Attr> = listing
            .entries
            .iter()
            .map(|e| (e.name.clone(), e.attr.clone()))
            .collect();
        for m in &moves {
            if let Some((parent, name)) = m.from.split_last()
                && parent == *dir
            {
                map.remove(name);
            }
            if let Some((parent, name)) = m.to.split_last()
                && parent == *dir
            {
                map.insert(name.to_owned(), self.meta.dir_attr());
            }
        }
        Arc::new(Listing::from_map(map))
    }
}
