//! What the core knows about one path ([`Attr`]): kind, size, times, version, the Windows
//! attributes kept on S3, and what this mount adds (kept times, link counts).

use std::time::SystemTime;

use pail_store::{ETag, ObjectMeta};

/// File or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file (an object).
    File,
    /// A directory (a prefix, or a `dir/` marker).
    Directory,
}

/// What the core knows about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// File or directory.
    pub kind: FileKind,
    /// Exact size in bytes (0 for directories).
    pub size: u64,
    /// Modification time: `x-amz-meta-mtime` when known, else LastModified.
    pub mtime: SystemTime,
    /// The object version, for files.
    pub etag: Option<ETag>,
    /// Windows file attributes kept on S3 (`pail_store::attributes`: read-only, hidden,
    /// system); 0 when none or unknown (a listing carries no metadata).
    pub attributes: u32,
    /// The creation time, when one was set and kept on S3.
    pub created: Option<SystemTime>,
    /// The access time, when this mount keeps one (see [`atime`](Self::atime)).
    pub accessed: Option<SystemTime>,
    /// The last change of metadata or name through this mount (see [`ctime`](Self::ctime)).
    pub changed: Option<SystemTime>,
    /// Hard links, when known otherwise than by kind (see [`nlink`](Self::nlink)).
    pub links: Option<u32>,
}

impl Attr {
    /// A directory; S3 prefixes have no time of their own, so the caller picks one.
    pub fn directory(mtime: SystemTime) -> Self {
        Self {
            kind: FileKind::Directory,
            size: 0,
            mtime,
            etag: None,
            attributes: 0,
            created: None,
            accessed: None,
            changed: None,
            links: None,
        }
    }

    /// A file of `size` bytes modified at `mtime`, nothing else known.
    pub fn sized_file(size: u64, mtime: SystemTime) -> Self {
        Self {
            kind: FileKind::File,
            size,
            ..Self::directory(mtime)
        }
    }

    /// A file from its object metadata.
    pub fn file(meta: &ObjectMeta) -> Self {
        Self {
            kind: FileKind::File,
            size: meta.size,
            mtime: meta.modified(),
            etag: Some(meta.etag.clone()),
            attributes: meta.attributes,
            created: meta.created,
            accessed: None,
            changed: None,
            links: None,
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Directory
    }

    /// The access time: the one set through this mount, else the modification time.
    pub fn atime(&self) -> SystemTime {
        self.accessed.unwrap_or(self.mtime)
    }

    /// The change time: the later of the modification time and the last change of metadata or
    /// name this mount made.
    pub fn ctime(&self) -> SystemTime {
        self.changed.map_or(self.mtime, |c| c.max(self.mtime))
    }

    /// Hard links: 0 for a file open after its name was removed, 1 for other files; a folder
    /// has 2 plus its sub-folders when its listing is known, else 2.
    pub fn nlink(&self) -> u32 {
        self.links.unwrap_or(if self.is_dir() { 2 } else { 1 })
    }
}
