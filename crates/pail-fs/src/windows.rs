//! What Windows programs mean by their calls, as plain functions and [`Vfs`] methods the WinFsp
//! adapter uses, so the logic is tested on Linux: where a write lands (write-to-end-of-file,
//! constrained I/O that must not extend a file), FILETIME ↔ `SystemTime` (0 and `u64::MAX`
//! mean "leave unchanged"), and whether a file or folder may be marked delete-on-close.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{FsError, FsErrorKind, FsResult};
use crate::meta::Attr;
use crate::path::VfsPath;
use crate::vfs::{HandleId, HandleKind, Vfs, staged_attr};

/// 100 ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// A time as a Windows FILETIME.
pub fn to_filetime(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    FILETIME_UNIX_EPOCH + since.as_secs() * 10_000_000 + u64::from(since.subsec_nanos() / 100)
}

/// A FILETIME from SetBasicInfo as a time; `None` for 0 and `u64::MAX` ("do not change") and
/// for times before 1970, which S3 metadata cannot hold.
pub fn from_filetime(ft: u64) -> Option<SystemTime> {
    if ft == 0 || ft == u64::MAX || ft < FILETIME_UNIX_EPOCH {
        return None;
    }
    let since = ft - FILETIME_UNIX_EPOCH;
    Some(UNIX_EPOCH + Duration::new(since / 10_000_000, ((since % 10_000_000) * 100) as u32))
}

/// Where a Write lands, for a file of `size` bytes: at the end with `write_to_eof`; clipped to
/// the current size with `constrained_io` (paging I/O must not extend a file). `None` when
/// nothing is to be written.
pub fn write_span(
    offset: u64,
    len: usize,
    size: u64,
    write_to_eof: bool,
    constrained_io: bool,
) -> Option<(u64, usize)> {
    let offset = if write_to_eof { size } else { offset };
    let len = if constrained_io {
        if offset >= size {
            return None;
        }
        len.min((size - offset) as usize)
    } else {
        len
    };
    (len > 0).then_some((offset, len))
}

impl Vfs {
    /// The attributes of an open file as its handle sees them (a file being written shows its
    /// local size).
    pub fn handle_attr(&self, id: HandleId) -> FsResult<Attr> {
        let h = self.handle(id)?;
        match &h.kind {
            HandleKind::Staged { file, .. } => Ok(staged_attr(file)),
            HandleKind::Remote { .. } => self
                .lookup_cached(&h.path)
                .unwrap_or_else(|| Err(FsError::new(FsErrorKind::NotFound, "get file info", h.path.as_str()))),
        }
    }

    /// Whether `path` may be marked delete-on-close (Windows' SetDelete): the root never, a
    /// folder only when empty (`NotEmpty`, which Explorer shows as "the folder is not empty").
    pub async fn check_delete(&self, path: &VfsPath) -> FsResult<()> {
        self.writeback("delete", path)?;
        if path.is_root() {
            return Err(FsError::new(FsErrorKind::AccessDenied, "delete", "/"));
        }
        if self.lookup(path).await?.is_dir() && !self.read_dir(path).await?.entries.is_empty() {
            return Err(FsError::new(FsErrorKind::NotEmpty, "delete", path.as_str()));
        }
        Ok(())
    }

    /// Deletes `path`, file or empty folder (Windows' Cleanup with the delete flag set).
    pub async fn remove(&self, path: &VfsPath) -> FsResult<()> {
        if self.lookup(path).await?.is_dir() {
            self.rmdir(path).await
        } else {
            self.unlink(path).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetimes_round_trip_and_zero_means_unchanged() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_700);
        assert_eq!(from_filetime(to_filetime(t)), Some(t));
        assert_eq!(from_filetime(0), None);
        assert_eq!(from_filetime(u64::MAX), None);
        assert_eq!(from_filetime(1), None, "before 1970");
    }

    #[test]
    fn writes_land_where_windows_says() {
        assert_eq!(write_span(10, 5, 100, false, false), Some((10, 5)));
        assert_eq!(
            write_span(10, 5, 100, true, false),
            Some((100, 5)),
            "write to end of file"
        );
        assert_eq!(
            write_span(98, 5, 100, false, true),
            Some((98, 2)),
            "constrained: clipped"
        );
        assert_eq!(write_span(100, 5, 100, false, true), None, "constrained: never extends");
        assert_eq!(write_span(0, 0, 100, false, false), None);
    }
}
