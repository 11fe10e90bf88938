//! The one mapping from [`FsErrorKind`] to NTSTATUS, as plain numbers so it is tested on Linux.

use pail_fs::FsErrorKind;

/// NTSTATUS values used by the adapter (from ntstatus.h).
pub mod status {
    /// The object name is not found.
    pub const OBJECT_NAME_NOT_FOUND: i32 = 0xC000_0034_u32 as i32;
    /// The path does not exist.
    pub const OBJECT_PATH_NOT_FOUND: i32 = 0xC000_003A_u32 as i32;
    /// The object name already exists.
    pub const OBJECT_NAME_COLLISION: i32 = 0xC000_0035_u32 as i32;
    /// Access denied.
    pub const ACCESS_DENIED: i32 = 0xC000_0022_u32 as i32;
    /// The directory is not empty.
    pub const DIRECTORY_NOT_EMPTY: i32 = 0xC000_0101_u32 as i32;
    /// The media is write protected.
    pub const MEDIA_WRITE_PROTECTED: i32 = 0xC000_00A2_u32 as i32;
    /// The disk is full.
    pub const DISK_FULL: i32 = 0xC000_007F_u32 as i32;
    /// The file is larger than the volume allows.
    pub const FILE_TOO_LARGE: i32 = 0xC000_0904_u32 as i32;
    /// The object name is invalid.
    pub const OBJECT_NAME_INVALID: i32 = 0xC000_0033_u32 as i32;
    /// A file was given where a directory was expected.
    pub const NOT_A_DIRECTORY: i32 = 0xC000_0103_u32 as i32;
    /// A directory was given where a file was expected.
    pub const FILE_IS_A_DIRECTORY: i32 = 0xC000_00BA_u32 as i32;
    /// The handle is invalid.
    pub const INVALID_HANDLE: i32 = 0xC000_0008_u32 as i32;
    /// The file was changed underneath an open handle.
    pub const FILE_INVALID: i32 = 0xC000_0098_u32 as i32;
    /// Logon failure: credentials missing, wrong or expired.
    pub const LOGON_FAILURE: i32 = 0xC000_006D_u32 as i32;
    /// The network location cannot be reached.
    pub const NETWORK_UNREACHABLE: i32 = 0xC000_023C_u32 as i32;
    /// An I/O error.
    pub const UNEXPECTED_IO_ERROR: i32 = 0xC000_00E9_u32 as i32;
    /// The file is in use (another process, or a folder move under way).
    pub const SHARING_VIOLATION: i32 = 0xC000_0043_u32 as i32;
    /// The operation is not supported (named streams, hard links, reparse points).
    pub const NOT_SUPPORTED: i32 = 0xC000_00BB_u32 as i32;
    /// Extended attributes are not supported.
    pub const EAS_NOT_SUPPORTED: i32 = 0xC000_004F_u32 as i32;
    /// A read at or past the end of the file.
    pub const END_OF_FILE: i32 = 0xC000_0011_u32 as i32;
    /// The buffer is too small for the data.
    pub const BUFFER_OVERFLOW: i32 = 0x8000_0005_u32 as i32;
}

/// The NTSTATUS a WinFsp callback returns for an error of this kind.
pub fn to_ntstatus(kind: FsErrorKind) -> i32 {
    match kind {
        FsErrorKind::PathNotFound => status::OBJECT_PATH_NOT_FOUND,
        FsErrorKind::NotFound => status::OBJECT_NAME_NOT_FOUND,
        FsErrorKind::NotADirectory => status::NOT_A_DIRECTORY,
        FsErrorKind::IsADirectory => status::FILE_IS_A_DIRECTORY,
        FsErrorKind::AccessDenied => status::ACCESS_DENIED,
        FsErrorKind::ReadOnly => status::MEDIA_WRITE_PROTECTED,
        FsErrorKind::NameTooLong | FsErrorKind::InvalidName => status::OBJECT_NAME_INVALID,
        FsErrorKind::BadHandle => status::INVALID_HANDLE,
        FsErrorKind::Stale => status::FILE_INVALID,
        FsErrorKind::Unauthenticated => status::LOGON_FAILURE,
        FsErrorKind::Unavailable => status::NETWORK_UNREACHABLE,
        FsErrorKind::Exists => status::OBJECT_NAME_COLLISION,
        FsErrorKind::NotEmpty => status::DIRECTORY_NOT_EMPTY,
        FsErrorKind::NoSpace => status::DISK_FULL,
        FsErrorKind::FileTooLarge => status::FILE_TOO_LARGE,
        FsErrorKind::NotSupported => status::NOT_SUPPORTED,
        // "being used by another process": Explorer offers to try again.
        FsErrorKind::Busy => status::SHARING_VIOLATION,
        _ => status::UNEXPECTED_IO_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_ntstatus_explorer_expects() {
        assert_eq!(to_ntstatus(FsErrorKind::NotFound) as u32, 0xC000_0034);
        assert_eq!(to_ntstatus(FsErrorKind::PathNotFound) as u32, 0xC000_003A);
        assert_eq!(to_ntstatus(FsErrorKind::AccessDenied) as u32, 0xC000_0022);
        assert_eq!(to_ntstatus(FsErrorKind::ReadOnly) as u32, 0xC000_00A2);
        assert_eq!(to_ntstatus(FsErrorKind::InvalidName) as u32, 0xC000_0033);
        assert_eq!(to_ntstatus(FsErrorKind::Exists) as u32, 0xC000_0035);
        assert_eq!(to_ntstatus(FsErrorKind::NotEmpty) as u32, 0xC000_0101);
        assert_eq!(to_ntstatus(FsErrorKind::NoSpace) as u32, 0xC000_007F);
        assert_eq!(to_ntstatus(FsErrorKind::FileTooLarge) as u32, 0xC000_0904);
        assert_eq!(to_ntstatus(FsErrorKind::IsADirectory) as u32, 0xC000_00BA);
        assert_eq!(to_ntstatus(FsErrorKind::Busy) as u32, 0xC000_0043);
        assert_eq!(to_ntstatus(FsErrorKind::Io) as u32, 0xC000_00E9);
    }

    #[test]
    fn every_status_is_an_error_status() {
        for kind in [
            FsErrorKind::NotFound,
            FsErrorKind::PathNotFound,
            FsErrorKind::Exists,
            FsErrorKind::NotEmpty,
            FsErrorKind::NoSpace,
            FsErrorKind::NotSupported,
            FsErrorKind::NotADirectory,
            FsErrorKind::IsADirectory,
            FsErrorKind::AccessDenied,
            FsErrorKind::ReadOnly,
            FsErrorKind::NameTooLong,
            FsErrorKind::InvalidName,
            FsErrorKind::BadHandle,
            FsErrorKind::Stale,
            FsErrorKind::Unauthenticated,
            FsErrorKind::Unavailable,
            FsErrorKind::Io,
            FsErrorKind::Busy,
        ] {
            assert_eq!(
                (to_ntstatus(kind) as u32) >> 30,
                0b11,
                "{kind:?} is a severity-error status"
            );
        }
    }
}
