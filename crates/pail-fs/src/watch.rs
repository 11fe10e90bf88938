//! Changes found when a folder is listed again: what S3 lists now against what the previous
//! listing of the folder held. Someone else added, changed or removed a key, and the drive
//! learns it at the refresh; the adapters tell the system (`Vfs::take_changes`), so an open
//! Explorer window follows without F5 (WinFsp's notify API).
//!
//! Only loads are compared (not every answer from the cache), so the cost is one walk of two
//! sorted lists per listing fetched from S3. The drive's own changes since the previous load
//! show up too; telling the system about them again is harmless. Pending changes are capped:
//! past [`MAX_PENDING`], a folder's changes become one "folder changed" entry.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::listing::{DirEntry, Listing};
use crate::path::VfsPath;

/// Changes kept for the adapters at most; more collapse into one per folder.
const MAX_PENDING: usize = 10_000;

/// What happened to a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// It appeared.
    Added,
    /// It disappeared.
    Removed,
    /// Its content or size changed (a new version).
    Modified,
    /// Too many changes to list: the whole folder (`path`) should be read again.
    Folder,
}

/// A change someone else made, found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteChange {
    /// The file or folder (for [`ChangeKind::Folder`], the folder).
    pub path: VfsPath,
    /// What happened.
    pub kind: ChangeKind,
    /// Whether `path` is (or was) a folder.
    pub is_dir: bool,
}

/// The last listing loaded per folder, and the changes found and not yet taken.
#[derive(Debug)]
pub(crate) struct Watch {
    seen: moka::sync::Cache<VfsPath, Arc<Listing>>,
    pending: Mutex<VecDeque<RemoteChange>>,
    /// Signalled when changes are queued.
    ready: tokio::sync::Notify,
}

impl Watch {
    pub(crate) fn new() -> Self {
        Self {
            seen: moka::sync::Cache::builder()
                .weigher(|_k, v: &Arc<Listing>| v.entries.len().min(u32::MAX as usize) as u32 + 1)
                // Entries, not folders: about 100 bytes each, so at most ~10 MB kept for
                // folders whose listings the metadata cache already dropped.
                .max_capacity(100_000)
                .build(),
            pending: Mutex::default(),
            ready: tokio::sync::Notify::new(),
        }
    }

    /// Records `listing` as what `dir` holds now, queueing the differences from the previous
    /// load. The first load of a folder queues nothing.
    pub(crate) fn loaded(&self, dir: &VfsPath, listing: &Arc<Listing>) {
        let before = self.seen.get(dir);
        self.seen.insert(dir.clone(), listing.clone());
        let Some(before) = before else { return };
        let found = diff(dir, &before.entries, &listing.entries);
        if found.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() + found.len() > MAX_PENDING {
            pending.retain(|c| c.path.split_last().is_none_or(|(p, _)| p != *dir));
            pending.push_back(RemoteChange {
                path: dir.clone(),
                kind: ChangeKind::Folder,
                is_dir: true,
            });
        } else {
            pending.extend(found);
        }
        drop(pending);
        self.ready.notify_one();
    }

    /// Returns once changes are queued (at once if some were queued since the last wait).
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }

    /// The changes queued, oldest first.
    pub(crate) fn take(&self) -> Vec<RemoteChange> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect()
    }
}

/// The changes from `before` to `after`, both sorted by name.
fn diff(dir: &VfsPath, before: &[DirEntry], after: &[DirEntry]) -> Vec<RemoteChange> {
    let mut out = Vec::new();
    let change = |e: &DirEntry, kind| RemoteChange {
        path: dir.join(&e.name),
        kind,
        is_dir: e.attr.is_dir(),
    };
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(b), Some(a)) if b.name == a.name => {
                if b.attr.kind != a.attr.kind {
                    out.push(change(b, ChangeKind::Removed));
                    out.push(change(a, ChangeKind::Added));
                } else if b.attr.etag != a.attr.etag || b.attr.size != a.attr.size {
                    out.push(change(a, ChangeKind::Modified));
                }
                i += 1;
                j += 1;
            }
            (Some(b), Some(a)) if b.name < a.name => {
                out.push(change(b, ChangeKind::Removed));
                i += 1;
            }
            (Some(b), None) => {
                out.push(change(b, ChangeKind::Removed));
                i += 1;
            }
            (_, Some(a)) => {
                out.push(change(a, ChangeKind::Added));
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::meta::Attr;

    fn file(name: &str, etag: &str) -> DirEntry {
        DirEntry {
            name: name.to_owned(),
            attr: Attr {
                etag: Some(pail_store::ETag::new(etag)),
                ..Attr::sized_file(1, SystemTime::UNIX_EPOCH)
            },
        }
    }

    fn listing(entries: Vec<DirEntry>) -> Arc<Listing> {
        Arc::new(Listing {
            entries,
            ..Listing::default()
        })
    }

    #[test]
    fn a_second_load_reports_what_was_added_changed_and_removed() {
        let w = Watch::new();
        let dir = VfsPath::new("docs");
        w.loaded(&dir, &listing(vec![file("a", "1"), file("b", "1"), file("c", "1")]));
        assert!(w.take().is_empty(), "the first load only records");
        w.loaded(&dir, &listing(vec![file("b", "2"), file("c", "1"), file("d", "1")]));
        let got: Vec<_> = w
            .take()
            .into_iter()
            .map(|c| (c.path.as_str().to_owned(), c.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("docs/a".to_owned(), ChangeKind::Removed),
                ("docs/b".to_owned(), ChangeKind::Modified),
                ("docs/d".to_owned(), ChangeKind::Added),
            ]
        );
        assert!(w.take().is_empty(), "taken once");
    }

    #[test]
    fn a_flood_of_changes_becomes_one_folder_change() {
        let w = Watch::new();
        let dir = VfsPath::new("big");
        w.loaded(&dir, &listing(Vec::new()));
        let many = (0..MAX_PENDING + 1).map(|i| file(&format!("{i:06}"), "1")).collect();
        w.loaded(&dir, &listing(many));
        let got = w.take();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].path.as_str(), got[0].kind), ("big", ChangeKind::Folder));
    }
}
