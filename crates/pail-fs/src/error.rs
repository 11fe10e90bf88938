//! The file system core's one error type. Adapters map [`FsErrorKind`] with exactly one
//! function each (`to_errno` in pail-fuse, `to_ntstatus` in pail-winfsp).

use pail_store::{StoreError, StoreErrorKind};

/// What went wrong, in terms every platform can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsErrorKind {
    /// No such file or directory.
    NotFound,
    /// A folder on the way to the name does not exist (Windows tells this from `NotFound`).
    PathNotFound,
    /// A path component is a file, not a directory.
    NotADirectory,
    /// A directory where a file was expected.
    IsADirectory,
    /// The policy refuses access.
    AccessDenied,
    /// The drive is mounted read-only.
    ReadOnly,
    /// A name too long for the platform or a key too long for S3.
    NameTooLong,
    /// A name that cannot be stored.
    InvalidName,
    /// The handle is unknown or closed.
    BadHandle,
    /// The file changed on the server while it was open.
    Stale,
    /// Credentials are missing, wrong or expired.
    Unauthenticated,
    /// The service is unreachable or throttling; retry later.
    Unavailable,
    /// The name is taken (exclusive create, mkdir, rename without replace).
    Exists,
    /// The directory is not empty.
    NotEmpty,
    /// The staging area (cache directory) is full.
    NoSpace,
    /// S3 cannot hold this (links, device nodes, permission bits).
    NotSupported,
    /// Past the largest object S3 holds (5 TiB).
    FileTooLarge,
    /// In use by work under way (a folder being moved): try again shortly.
    Busy,
    /// Anything else.
    Io,
}

/// An error from the file system core.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{op} {path:?}: {kind}")]
pub struct FsError {
    kind: FsErrorKind,
    op: &'static str,
    path: String,
    #[source]
    source: Option<std::sync::Arc<StoreError>>,
}

impl FsError {
    /// A new error for operation `op` on `path`.
    pub fn new(kind: FsErrorKind, op: &'static str, path: impl Into<String>) -> Self {
        Self {
            kind,
            op,
            path: path.into(),
            source: None,
        }
    }

    /// An error caused by a store call.
    pub fn from_store(op: &'static str, path: impl Into<String>, err: impl Into<std::sync::Arc<StoreError>>) -> Self {
        let err = err.into();
        let kind = match err.kind() {
            StoreErrorKind::NotFound => FsErrorKind::NotFound,
            StoreErrorKind::AccessDenied => FsErrorKind::AccessDenied,
            StoreErrorKind::InvalidCredentials | StoreErrorKind::ExpiredCredentials | StoreErrorKind::NoCredentials => {
                FsErrorKind::Unauthenticated
            }
            StoreErrorKind::Conflict => FsErrorKind::Stale,
            StoreErrorKind::Throttled | StoreErrorKind::Network => FsErrorKind::Unavailable,
            _ => FsErrorKind::Io,
        };
        Self {
            kind,
            op,
            path: path.into(),
            source: Some(err),
        }
    }

    /// An error of the local staging area; a full disk is [`FsErrorKind::NoSpace`].
    pub fn local(op: &'static str, path: impl Into<String>, err: &std::io::Error) -> Self {
        let kind = if err.kind() == std::io::ErrorKind::StorageFull {
            FsErrorKind::NoSpace
        } else {
            FsErrorKind::Io
        };
        let path = path.into();
        tracing::warn!(op, path, error = %err, "staging area error");
        Self::new(kind, op, path)
    }

    /// The kind, for the adapters' mapping.
    pub fn kind(&self) -> FsErrorKind {
        self.kind
    }

    /// The error with its causes, for logs: `upload "a": input/output error: PutObject "a"
    /// failed: …`.
    pub fn detail(&self) -> String {
        let mut out = self.to_string();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }

    /// The store error behind this one, if any.
    pub fn store_error(&self) -> Option<&StoreError> {
        self.source.as_deref()
    }
}

impl std::fmt::Display for FsErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FsErrorKind::NotFound => "not found",
            FsErrorKind::PathNotFound => "a folder on the way does not exist",
            FsErrorKind::NotADirectory => "not a directory",
            FsErrorKind::IsADirectory => "is a directory",
            FsErrorKind::AccessDenied => "access denied by the bucket's policy",
            FsErrorKind::ReadOnly => "the drive is read-only",
            FsErrorKind::NameTooLong => "name too long",
            FsErrorKind::InvalidName => "name cannot be stored",
            FsErrorKind::BadHandle => "unknown file handle",
            FsErrorKind::Stale => "the file changed on the server while open; open it again",
            FsErrorKind::Unauthenticated => "credentials are missing, wrong or expired",
            FsErrorKind::Unavailable => "the S3 endpoint is unreachable or busy",
            FsErrorKind::Exists => "already exists",
            FsErrorKind::NotEmpty => "the folder is not empty",
            FsErrorKind::NoSpace => "the cache directory is full",
            FsErrorKind::NotSupported => "S3 cannot store this (links, device files, permission bits)",
            FsErrorKind::FileTooLarge => "larger than S3's largest object (5 TiB)",
            FsErrorKind::Busy => "busy: a folder move is under way; try again shortly",
            FsErrorKind::Io => "input/output error",
        })
    }
}

/// Result alias for the core.
pub type FsResult<T> = Result<T, FsError>;
