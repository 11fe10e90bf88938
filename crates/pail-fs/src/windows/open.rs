//! One open of a file or folder as WinFsp holds it ([`WinFile`]), and the arguments of the
//! callbacks that change it (SetBasicInfo's [`BasicInfo`], Cleanup's [`CleanupFlags`]). The
//! state sits behind one mutex because WinFsp calls a handle from any thread; it is never held
//! across a `Vfs` call.

use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use crate::error::{FsError, FsErrorKind, FsResult};
use crate::meta::Attr;
use crate::path::VfsPath;
use crate::vfs::HandleId;

/// One open file or folder.
#[derive(Debug)]
pub struct WinFile {
    state: Mutex<OpenState>,
}

#[derive(Debug)]
pub(super) struct OpenState {
    /// The path as stored (its case may differ from what was typed).
    pub(super) path: VfsPath,
    /// What the file was when opened or last changed through this handle.
    pub(super) attr: Attr,
    /// `None` for a folder.
    pub(super) handle: Option<HandleId>,
    /// The open was granted write access (explicitly, or through MAXIMUM_ALLOWED, which WinFsp
    /// grants in full): the file is staged on its first change, not on the open.
    pub(super) may_write: bool,
    /// `handle` is a writer's (the file is staged).
    pub(super) staged: bool,
    /// A last-write time set explicitly through this handle, which later writes through it
    /// keep (WinFsp's cleanup rule: no SetLastWriteTime once the handle set the time).
    pub(super) write_time: Option<SystemTime>,
}

/// SetBasicInfo's arguments as WinFsp passes them: FILE_ATTRIBUTE_* bits
/// (`INVALID_FILE_ATTRIBUTES` leaves them unchanged) and FILETIMEs (0 leaves a time unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicInfo {
    /// FILE_ATTRIBUTE_* bits, or [`BasicInfo::UNCHANGED_ATTRIBUTES`].
    pub attributes: u32,
    /// Creation time.
    pub creation_time: u64,
    /// Last access time.
    pub last_access_time: u64,
    /// Last write time.
    pub last_write_time: u64,
    /// Change time.
    pub change_time: u64,
}

impl BasicInfo {
    /// `INVALID_FILE_ATTRIBUTES`: the attributes are not changed.
    pub const UNCHANGED_ATTRIBUTES: u32 = u32::MAX;

    /// Only the last-write time.
    pub fn write_time(last_write_time: u64) -> Self {
        Self {
            attributes: Self::UNCHANGED_ATTRIBUTES,
            creation_time: 0,
            last_access_time: 0,
            last_write_time,
            change_time: 0,
        }
    }
}

/// What WinFsp's Cleanup asks for (`FspCleanup*` flags of the last handle's cleanup).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupFlags {
    /// `FspCleanupDelete`: the file was marked delete-on-close (or opened with
    /// FILE_DELETE_ON_CLOSE) and this is its last handle.
    pub delete: bool,
}

impl CleanupFlags {
    /// `FspCleanupDelete`.
    pub const DELETE: u32 = 0x01;

    /// The flags of WinFsp's `Flags` argument.
    pub fn from_bits(bits: u32) -> Self {
        Self {
            delete: bits & Self::DELETE != 0,
        }
    }
}

impl WinFile {
    pub(super) fn new(path: VfsPath, attr: Attr, handle: Option<HandleId>, may_write: bool, staged: bool) -> Self {
        Self {
            state: Mutex::new(OpenState {
                path,
                attr,
                handle,
                may_write,
                staged,
                write_time: None,
            }),
        }
    }

    pub(super) fn state(&self) -> MutexGuard<'_, OpenState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The path as stored: WinFsp's normalized name.
    pub fn path(&self) -> VfsPath {
        self.state().path.clone()
    }

    /// Whether this is a folder.
    pub fn is_dir(&self) -> bool {
        self.state().attr.is_dir()
    }

    /// The handle and whether it is a writer's (the file is staged).
    pub(super) fn handle(&self) -> Option<(HandleId, bool)> {
        let st = self.state();
        st.handle.map(|h| (h, st.staged))
    }

    pub(super) fn file_handle(&self, op: &'static str) -> FsResult<(HandleId, bool, VfsPath)> {
        let st = self.state();
        match st.handle {
            Some(h) => Ok((h, st.staged, st.path.clone())),
            None => Err(FsError::new(FsErrorKind::IsADirectory, op, st.path.as_str())),
        }
    }

    /// Whether this open is a staged writer, or may become one.
    pub fn may_write(&self) -> bool {
        let st = self.state();
        st.may_write || st.staged
    }

    /// Whether the file was staged through this open (its first change came).
    pub fn is_staged(&self) -> bool {
        self.state().staged
    }

    pub(super) fn set_attr(&self, attr: Attr) {
        self.state().attr = attr;
    }
}
