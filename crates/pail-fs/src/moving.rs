//! [`FolderMove`]: one folder move in progress, as write-back keeps it (the move itself is
//! `moves`'): its names, its progress, and a way to wait for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::OwnedMutexGuard;

use crate::dirty::Dirty;
use crate::path::VfsPath;

/// Keys of a folder move: listed, and moved so far.
#[derive(Debug, Default)]
pub(crate) struct MoveProgress {
    pub(crate) total: AtomicU64,
    pub(crate) moved: AtomicU64,
}

/// One folder move in progress.
#[derive(Debug)]
pub(crate) struct FolderMove {
    pub(crate) from: VfsPath,
    pub(crate) to: VfsPath,
    pub(crate) progress: MoveProgress,
    done: tokio::sync::watch::Sender<bool>,
}

impl FolderMove {
    /// A move of `from` to `to`, not done yet.
    pub(crate) fn new(from: VfsPath, to: VfsPath) -> Self {
        Self {
            from,
            to,
            progress: MoveProgress::default(),
            done: tokio::sync::watch::channel(false).0,
        }
    }

    /// Marks it done (its waiters return).
    pub(crate) fn finished(&self) {
        self.done.send_replace(true);
    }
}

/// How a path relates to a folder move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch {
    /// The folder's new name itself.
    NewName,
    /// Its old name, or a name inside the folder (under either name).
    Inside,
}

impl FolderMove {
    pub(crate) fn touch(&self, path: &VfsPath) -> Option<Touch> {
        let inside = |dir: &VfsPath| path.as_str().starts_with(&format!("{}/", dir.as_str()));
        if *path == self.to {
            Some(Touch::NewName)
        } else if *path == self.from || inside(&self.from) || inside(&self.to) {
            Some(Touch::Inside)
        } else {
            None
        }
    }

    /// Returns once the move is done.
    pub(crate) async fn wait(&self) {
        let mut done = self.done.subscribe();
        let _ = done.wait_for(|d| *d).await;
    }

    /// What `pail status` shows.
    pub(crate) fn describe(&self) -> String {
        format!(
            "moving folder {} to {}: {} of {} items",
            self.from,
            self.to,
            self.progress.moved.load(Ordering::Relaxed),
            self.progress.total.load(Ordering::Relaxed)
        )
    }
}

/// Files being written inside a moving folder, held with their uploads locked until it moved.
pub(crate) type HeldFiles = Vec<(Arc<Dirty>, OwnedMutexGuard<()>)>;
