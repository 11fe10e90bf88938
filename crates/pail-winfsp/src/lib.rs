//! pail-winfsp: the Windows adapter — a thin WinFsp file system over [`pail_fs::Vfs`].
//!
//! Everything with logic lives in pail-fs and is tested on Linux; this crate translates WinFsp
//! callbacks into `Vfs` calls and errors into NTSTATUS with [`to_ntstatus`]. The Windows-only
//! parts are compiled on Windows and, on Linux, by `shared/tools/winfsp-typecheck.sh` (cfg
//! `winfsp_typecheck`); a plain Linux build compiles only the status mapping.
//!
//! This first piece serves a drive read-only: open, read, file info, directory listing with
//! marker continuation, volume info. Writing, delete-on-close, rename, security descriptors and
//! async dispatch follow the write path.
//!
//! # Layout
//! - `ntstatus` — the error mapping, as plain numbers (tested everywhere).
//! - `context` — the `FileSystemContext` implementation.
//! - `host` — volume parameters and mounting on a drive letter.

mod ntstatus;

#[cfg(any(windows, winfsp_typecheck))]
mod context;
#[cfg(any(windows, winfsp_typecheck))]
mod host;

pub use ntstatus::{status, to_ntstatus};

#[cfg(any(windows, winfsp_typecheck))]
pub use context::{OpenFile, PailContext};
#[cfg(any(windows, winfsp_typecheck))]
pub use host::{DriveHost, HostConfig, mount};
