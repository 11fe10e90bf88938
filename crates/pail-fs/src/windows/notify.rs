//! Change notifications for WinFsp: what listings found others changed
//! ([`crate::RemoteChange`]), as `FSP_FSCTL_NOTIFY_INFO` records.

use crate::watch::{ChangeKind, RemoteChange};

/// One change notification for WinFsp (`FSP_FSCTL_NOTIFY_INFO`): `FspFileSystemNotify` tells
/// Windows, and open Explorer windows update; WinFsp also drops its cached information of the
/// name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinNotify {
    /// The full name, as WinFsp names files (`\dir\file.txt`).
    pub name: Vec<u16>,
    /// FILE_NOTIFY_CHANGE_* bits.
    pub filter: u32,
    /// FILE_ACTION_*.
    pub action: u32,
}

impl WinNotify {
    /// FILE_NOTIFY_CHANGE_FILE_NAME.
    pub const CHANGE_FILE_NAME: u32 = 0x01;
    /// FILE_NOTIFY_CHANGE_DIR_NAME.
    pub const CHANGE_DIR_NAME: u32 = 0x02;
    /// FILE_NOTIFY_CHANGE_SIZE.
    pub const CHANGE_SIZE: u32 = 0x08;
    /// FILE_NOTIFY_CHANGE_LAST_WRITE.
    pub const CHANGE_LAST_WRITE: u32 = 0x10;
    /// FILE_ACTION_ADDED.
    pub const ADDED: u32 = 1;
    /// FILE_ACTION_REMOVED.
    pub const REMOVED: u32 = 2;
    /// FILE_ACTION_MODIFIED.
    pub const MODIFIED: u32 = 3;

    pub(super) fn of(change: &RemoteChange) -> Self {
        let name_filter = if change.is_dir {
            Self::CHANGE_DIR_NAME
        } else {
            Self::CHANGE_FILE_NAME
        };
        let (filter, action) = match change.kind {
            ChangeKind::Added => (name_filter, Self::ADDED),
            ChangeKind::Removed => (name_filter, Self::REMOVED),
            ChangeKind::Modified => (Self::CHANGE_SIZE | Self::CHANGE_LAST_WRITE, Self::MODIFIED),
            // The whole folder: its entries changed in ways too many to list.
            _ => (
                Self::CHANGE_FILE_NAME | Self::CHANGE_DIR_NAME | Self::CHANGE_LAST_WRITE,
                Self::MODIFIED,
            ),
        };
        Self {
            name: super::wide_name(&change.path),
            filter,
            action,
        }
    }
}
