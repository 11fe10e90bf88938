//! The one mapping from [`FsErrorKind`] to errno.

use pail_fs::FsErrorKind;

/// The errno a FUSE reply carries for an error of this kind.
pub fn to_errno(kind: FsErrorKind) -> i32 {
    match kind {
        FsErrorKind::NotFound | FsErrorKind::PathNotFound => libc::ENOENT,
        FsErrorKind::NotADirectory => libc::ENOTDIR,
        FsErrorKind::IsADirectory => libc::EISDIR,
        FsErrorKind::AccessDenied => libc::EACCES,
        FsErrorKind::ReadOnly => libc::EROFS,
        FsErrorKind::NameTooLong => libc::ENAMETOOLONG,
        FsErrorKind::InvalidName => libc::EINVAL,
        FsErrorKind::BadHandle => libc::EBADF,
        FsErrorKind::Stale => libc::ESTALE,
        FsErrorKind::Unauthenticated => libc::EACCES,
        FsErrorKind::Unavailable => libc::EIO,
        FsErrorKind::Exists => libc::EEXIST,
        FsErrorKind::NotEmpty => libc::ENOTEMPTY,
        FsErrorKind::NoSpace => libc::ENOSPC,
        FsErrorKind::NotSupported => libc::EPERM,
        FsErrorKind::FileTooLarge => libc::EFBIG,
        FsErrorKind::Busy => libc::EBUSY,
        _ => libc::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_errno_programs_expect() {
        assert_eq!(to_errno(FsErrorKind::NotFound), libc::ENOENT);
        assert_eq!(to_errno(FsErrorKind::AccessDenied), libc::EACCES);
        assert_eq!(to_errno(FsErrorKind::ReadOnly), libc::EROFS);
        assert_eq!(to_errno(FsErrorKind::NameTooLong), libc::ENAMETOOLONG);
        assert_eq!(to_errno(FsErrorKind::IsADirectory), libc::EISDIR);
        assert_eq!(to_errno(FsErrorKind::Unavailable), libc::EIO);
        assert_eq!(to_errno(FsErrorKind::Exists), libc::EEXIST);
        assert_eq!(to_errno(FsErrorKind::NotEmpty), libc::ENOTEMPTY);
        assert_eq!(to_errno(FsErrorKind::FileTooLarge), libc::EFBIG);
        assert_eq!(to_errno(FsErrorKind::NoSpace), libc::ENOSPC);
    }
}
