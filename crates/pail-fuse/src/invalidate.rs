//! Changes others made, found when a folder is listed again ([`Vfs::take_changes`]), passed on
//! to the kernel with FUSE's notify calls, so its cache of names and attributes does not
//! outlive them: a file removed elsewhere stops answering `stat` as soon as the refresh saw it
//! gone, not when the kernel's entry times out.
//!
//! The calls are made from a task of their own, never from a request handler: an entry
//! invalidation takes the directory's lock in the kernel, which a handler may be holding.

use std::ffi::OsStr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pail_fs::{ChangeKind, Vfs};

use crate::inodes::InodeTable;

/// The running invalidation task of a mount.
#[derive(Debug)]
pub(crate) struct Invalidator {
    /// Changes passed to the kernel so far.
    sent: Arc<(Mutex<u64>, Condvar)>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Invalidator {
    pub(crate) fn start(
        vfs: Arc<Vfs>,
        rt: &tokio::runtime::Handle,
        inodes: Arc<Mutex<InodeTable>>,
        notifier: fuser::Notifier,
    ) -> Self {
        let sent: Arc<(Mutex<u64>, Condvar)> = Arc::default();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let counter = sent.clone();
        rt.spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    () = vfs.changes_ready() => {}
                }
                let changes = vfs.take_changes();
                for change in &changes {
                    let Some((parent, name)) = change.path.split_last() else {
                        continue;
                    };
                    let (parent_ino, ino) = {
                        let t = inodes.lock().unwrap_or_else(|e| e.into_inner());
                        (t.peek(&parent), t.peek(&change.path))
                    };
                    // ENOENT: the kernel had nothing cached under that name; nothing to do.
                    if change.kind != ChangeKind::Folder
                        && let Some(p) = parent_ino
                    {
                        let _ = notifier.inval_entry(p, OsStr::new(name));
                    }
                    if let Some(i) = ino {
                        let _ = notifier.inval_inode(i, 0, 0);
                    }
                }
                let (count, cv) = &*counter;
                *count.lock().unwrap_or_else(|e| e.into_inner()) += changes.len() as u64;
                cv.notify_all();
            }
        });
        Self { sent, stop: Some(stop) }
    }

    /// Waits until at least `n` changes were passed to the kernel, or `limit` passed; whether
    /// they were.
    pub(crate) fn wait_sent(&self, n: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let (count, cv) = &*self.sent;
        let mut sent = count.lock().unwrap_or_else(|e| e.into_inner());
        while *sent < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            sent = cv.wait_timeout(sent, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

impl Drop for Invalidator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
