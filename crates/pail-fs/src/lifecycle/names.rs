//! The transitions of a file being written that change where its version goes: a conflict
//! copy, an unlink, a rename, a folder move. A child of `lifecycle`, so the state stays private
//! to that one module.

use super::{Expect, FileState};
use crate::path::VfsPath;

impl FileState {
    // Conflicts.

    pub(crate) fn conflict_copy(&self) -> Option<&VfsPath> {
        self.conflict_copy.as_ref()
    }

    /// The conflict copy goes to `path` (journaled next, so a retry reuses it).
    pub(crate) fn conflict_named(&mut self, path: VfsPath) {
        self.conflict_copy = Some(path);
    }

    /// The chosen name is another object's: the copy takes the next one.
    pub(crate) fn conflict_name_taken(&mut self) {
        self.conflict_copy = None;
    }

    /// The conflict copy of `generation` is saved. Unchanged since, the file is done (the
    /// server's version shows at its path); written meanwhile, its newest version replaces
    /// the server's.
    pub(crate) fn conflict_saved(&mut self, generation: u64) {
        self.conflict_copy = None;
        if self.generation == generation && self.writers == 0 {
            self.synced = generation;
            self.deleted = true;
        } else {
            self.expect = Expect::Any;
        }
    }

    // Where the file lives.

    /// What S3 may hold of this file under its current name, for an unlink or a rename to
    /// delete before it happens: the key of an earlier version, and else where an upload may
    /// have landed unknown to us (with its token).
    pub(crate) fn left_on_s3(&self) -> (Option<String>, Option<(String, u64)>) {
        (self.remote_key.clone(), self.maybe_ours())
    }

    /// Unlinked: never uploaded again (what S3 held of it was deleted, see
    /// [`left_on_s3`](Self::left_on_s3)).
    pub(crate) fn unlink(&mut self) {
        self.deleted = true;
        self.remote_key = None;
        self.maybe_landed = false;
    }

    /// Replaced by a newer record of the same path (resume): never uploaded again.
    pub(crate) fn superseded(&mut self) {
        self.deleted = true;
    }

    /// Renamed to `to` (key `to_key`), over an existing object when `replacing`. The next
    /// upload goes to the new key only (what S3 held under the old one was deleted, see
    /// [`left_on_s3`](Self::left_on_s3)).
    pub(crate) fn renamed(&mut self, to: VfsPath, to_key: String, replacing: bool) {
        self.maybe_landed = false;
        self.path = to;
        self.expect = if replacing { Expect::Any } else { Expect::Absent };
        self.generation += 1;
        self.journaled = 0;
        self.remote_key = replacing.then(|| to_key.clone());
        self.key = to_key;
    }

    /// Moved with its folder to `to` (key `to_key`): the folder's keys move server-side, an
    /// earlier version included, and this version is uploaded over whatever arrives there.
    pub(crate) fn moved_with_folder(&mut self, to: VfsPath, to_key: String) {
        self.path = to;
        self.expect = Expect::Any;
        self.generation += 1;
        self.journaled = 0;
        self.remote_key = self.remote_key.take().map(|_| to_key.clone());
        self.key = to_key;
    }
}
