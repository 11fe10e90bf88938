//! pail-fs: the platform-neutral file system core of pail.
//!
//! One [`Vfs`] per mounted drive turns path operations into S3 calls through an
//! `Arc<dyn ObjectStore>`. Adapters (pail-fuse, pail-winfsp) translate their platform's calls
//! into `Vfs` calls and map [`FsErrorKind`] to errno or NTSTATUS; they know nothing of S3, and
//! this crate knows nothing of FUSE, WinFsp, libc or the AWS SDK.
//!
//! Design in brief: directories are key prefixes (merged with `dir/` markers); names map to keys
//! through [`NameEncoding`]; metadata and listings are cached for a TTL with negative entries;
//! file content is read through a block cache keyed by (key, ETag, block) with a growing
//! prefetch window for sequential readers and parallel ranged GETs. Writes are staged in the
//! cache directory, journaled durably on close, and uploaded in the background with `If-Match`.
//!
//! # Layout
//! - `vfs` — [`Vfs`] and [`VfsConfig`]: handles and reads.
//! - `lookup`, `write`, `namespace` — the rest of `Vfs`: what a path is (lookups, listings),
//!   writing files, and mkdir/rmdir/unlink/rename.
//! - The write path, in layers, each using only those below it:
//!   - `lifecycle` — the state machine of a file being written: its phases (open, closed,
//!     uploading, uploaded, conflicted, deleted) and every transition, private to it;
//!   - `content`, `staging`, `staged`, `positional`, `journal`, `records`, `slots`, `recycle` —
//!     a file's bytes (in memory while new and small, else in a staging file, sealed when the
//!     cache is encrypted) and the durable journal of pending work; `recycle` keeps finished
//!     files for reuse, since creating files is dear, and `slots` holds small files' records
//!     written in place in one file (one device flush per close);
//!   - `base`, `eager`, `parts` — the remote version a file starts from, which of its eager
//!     parts are due or stale, and where parts lie (one layout for every upload);
//!   - `dirty` — a file being written: its state, bytes, base and eager parts;
//!   - `uploader`, `multipart`, `upload`, `eager_send` — sending: the budget and counters all
//!     uploads share, the one multipart loop (journaled before its first part, completed or
//!     aborted), an upload after close (copying untouched parts server-side, or a conflict
//!     copy), and parts sent while a file is written;
//!   - `writeback`, `writeback_config`, `moving` — when to upload, retries, the table of
//!     files being written, folder moves under way, draining;
//!   - `resume`, `moves` — resuming after a restart, and moving a folder's keys.
//! - `outcome` — writes whose answer was lost: S3 is asked whether an upload, copy or delete
//!   landed before it is retried or turned into a conflict copy.
//! - `windows` — what Windows calls mean (names, write-to-end, constrained I/O, FILETIME,
//!   attributes, delete-on-close) and [`WinVolume`], one method per WinFsp callback, which the
//!   WinFsp adapter calls one-to-one.
//! - `meta` — [`Attr`], [`Listing`] and the metadata caches; `changes` — the drive's own recent
//!   changes to folders, overlaid on every listing loaded across them; `watch` — what others
//!   changed, found when a folder is listed again, for the adapters to tell the system.
//! - `blocks` — the block cache (memory + disk tiers, in-flight fetches).
//! - `reader` — sequential detection and the prefetch window.
//! - `peek` — lookups that read a small file's content, and read-ahead of small siblings.
//! - `names`, `path` — name encoding and path ↔ key mapping.
//! - `private` — cache folders 0700 and files 0600: what pail keeps is the user's alone.
//! - `error` — [`FsError`] and [`FsErrorKind`].

mod attr;
mod base;
mod blocks;
mod changes;
mod content;
mod dirty;
mod eager;
mod eager_send;
mod error;
mod journal;
mod lifecycle;
mod listing;
mod lookup;
mod meta;
mod moves;
mod moving;
mod multipart;
mod names;
mod namespace;
mod outcome;
mod parts;
mod path;
mod peek;
mod positional;
mod private;
mod reader;
mod records;
mod recycle;
mod resume;
mod seal;
mod slots;
mod staged;
mod staging;
mod status;
mod times;
mod upload;
mod uploader;
mod vfs;
mod vfs_config;
mod watch;
mod windows;
mod write;
mod writeback;
mod writeback_config;

pub use blocks::DiskCacheConfig;
pub use error::{FsError, FsErrorKind, FsResult};
pub use journal::pending_records;
pub use meta::{Attr, DirEntry, FileKind, Listing};
pub use names::{NameEncoding, is_showable};
pub use pail_store::TransferConfig;
pub use path::VfsPath;
pub use seal::{CacheKey, cache_key_id};
pub use status::{LARGE_FILE, UploadProgress, WritebackStatus};
pub use vfs::{HandleId, MAX_KEY_LEN, Vfs, VfsConfig, VolumeStats, probe};
pub use watch::{ChangeKind, RemoteChange};
pub use windows::{
    BasicInfo, CleanupFlags, FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_HIDDEN,
    FILE_ATTRIBUTE_READONLY, FILE_ATTRIBUTE_SYSTEM, FILE_DIRECTORY_FILE, MAX_PATH_UNITS, WRITE_ACCESS, WinDirEntry,
    WinFile, WinInfo, WinNotify, WinVolume, WinVolumeInfo, file_id, from_filetime, is_reserved_name, path_from_wide,
    same_ignoring_case, to_filetime, upcase, upcase_unit, volume_serial, wide_name, write_span,
};
pub use writeback::{WritebackConfig, host_name};
