//! pail-winfsp: the Windows adapter — a thin WinFsp file system over [`pail_fs::Vfs`].
//!
//! Everything with logic lives in pail-fs and is tested on Linux; this crate translates WinFsp
//! callbacks into `Vfs` calls and errors into NTSTATUS with [`to_ntstatus`]. The Windows-only
//! parts are compiled on Windows and, on Linux, by `shared/tools/winfsp-typecheck.sh` (cfg
//! `winfsp_typecheck`); a plain Linux build compiles only the status mapping.
//!
//! Each WinFsp callback is one call of [`pail_fs::WinVolume`]; reads, writes and listings run
//! through WinFsp's async interface on the tokio runtime. Files carry a security descriptor
//! granting only the mounting user and SYSTEM.
//!
//! # Layout
//! - `ntstatus` — the error mapping, as plain numbers (tested everywhere).
//! - `letter` — drive letters and the mount errors a user reads (tested everywhere).
//! - `security` — SIDs and the drive's security descriptor, built in plain code (tested
//!   everywhere).
//! - `context` — the `FileSystemContext` / `AsyncFileSystemContext` implementation.
//! - `host` — volume parameters and mounting on a drive letter.
//! - `user` — the mounting user's SID from the process token.

mod letter;
mod ntstatus;
mod security;

#[cfg(any(windows, winfsp_typecheck))]
mod context;
#[cfg(any(windows, winfsp_typecheck))]
mod host;
#[cfg(any(windows, winfsp_typecheck))]
mod user;

#[cfg(any(windows, winfsp_typecheck))]
pub use letter::free_drive_letters;
pub use letter::{DriveLetter, FailureCode, MountError, free_letters_in, network_prefix, share_name};
pub use ntstatus::{status, to_ntstatus};
pub use security::{Sid, SidError, drive_descriptor};

#[cfg(any(windows, winfsp_typecheck))]
pub use context::PailContext;
#[cfg(any(windows, winfsp_typecheck))]
pub use host::{DriveHost, HostConfig, mount};
