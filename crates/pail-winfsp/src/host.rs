//! Mounting: the volume parameters a drive is presented with, and the host that serves it.
//!
//! Names are case-insensitive and case-preserving with Unicode on disk, as Explorer expects;
//! ACLs are not persisted; the file-info timeout follows the metadata TTL. By default the drive
//! is presented as a network location (`\\pail\<drive>` volume prefix) so Explorer does not read
//! whole files for thumbnails and previews. Every file carries a security descriptor that
//! grants only the mounting user (and SYSTEM). Reads, writes and listings go through WinFsp's
//! async interface. A failure at any step leaves nothing mounted and says what to do
//! ([`MountError`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pail_fs::Vfs;
use pail_fs::WinNotify;
use winfsp::FspError;
use winfsp::host::{DebugMode, FileSystemHost, FileSystemParams, MountPoint, VolumeParams};

/// How long WinFsp waits for a callback before failing it: its maximum, 10 minutes (the
/// default is 5). A folder rename answers within `move_grace` (its keys move in the
/// background), but a callback that waits on S3 under throttling retries, with backoff up to
/// 30 s between attempts, must not be failed while it can still succeed.
const IRP_TIMEOUT_MS: u32 = 600_000;

/// How often changes others made are sent to Windows, in milliseconds.
const NOTIFY_INTERVAL_MS: u32 = 1000;

use crate::context::PailContext;
use crate::letter::{DriveLetter, FailureCode, MountError};
use crate::security::drive_descriptor;

/// How to present a drive.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The drive's name: the volume label and the network share name (cleaned with
    /// [`share_name`](crate::share_name)).
    pub drive_name: String,
    /// The letter, or the next free one.
    pub letter: DriveLetter,
    /// Present as a local disk instead of a network drive.
    pub local_disk: bool,
    /// What the drive serves (`s3://bucket/prefix/`): its volume serial number and network
    /// prefix are derived from it, so two drives never share them.
    pub location: String,
}

/// A mounted drive; dropping it unmounts.
pub struct DriveHost {
    host: FileSystemHost<PailContext>,
    stopped: Arc<AtomicBool>,
}

impl DriveHost {
    /// Whether WinFsp stopped serving the drive (its dispatcher ended).
    pub fn has_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for DriveHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriveHost").finish_non_exhaustive()
    }
}

impl Drop for DriveHost {
    fn drop(&mut self) {
        self.host.stop();
        self.host.unmount();
    }
}

fn fsp_code(e: &FspError) -> FailureCode {
    match e {
        FspError::NTSTATUS(s) => FailureCode::NtStatus(*s),
        FspError::WIN32(c) => FailureCode::Win32(*c),
        FspError::HRESULT(h) => FailureCode::from_hresult(*h),
        // Rust I/O errors only come from name conversions, which mounting does not make.
        _ => FailureCode::NtStatus(crate::ntstatus::status::UNEXPECTED_IO_ERROR),
    }
}

/// Mounts `vfs` as a drive letter and starts serving it.
pub fn mount(vfs: Arc<Vfs>, rt: tokio::runtime::Handle, cfg: &HostConfig) -> Result<DriveHost, MountError> {
    let fail = |op: &'static str| {
        move |e: windows::core::Error| MountError::from_code(op, cfg.letter, FailureCode::from_hresult(e.code().0))
    };
    if vfs.config().names != pail_fs::NameEncoding::Windows {
        tracing::warn!("the drive does not use Windows name encoding: names with <>:\"|?* cannot be shown");
    }
    winfsp::winfsp_init().map_err(|e| MountError::from_code("start", cfg.letter, fsp_code(&e)))?;
    let user = crate::user::current_user().map_err(fail("start"))?;
    tracing::debug!(%user, "files grant access to the mounting user and SYSTEM only");
    let ttl_ms = u32::try_from(vfs.config().metadata_ttl.as_millis()).unwrap_or(u32::MAX);
    let mut params = VolumeParams::new();
    params
        .filesystem_name("pail")
        .sector_size(4096)
        .sectors_per_allocation_unit(1)
        .max_component_length(255)
        .case_sensitive_search(false)
        .case_preserved_names(true)
        .unicode_on_disk(true)
        .persistent_acls(false)
        .named_streams(false)
        .extended_attributes(false)
        .reparse_points(false)
        .read_only_volume(vfs.config().read_only)
        .file_info_timeout(ttl_ms)
        .volume_info_timeout(ttl_ms)
        .volume_serial_number(pail_fs::volume_serial(&cfg.location))
        .irp_timeout(IRP_TIMEOUT_MS)
        // As WinFsp's memfs: Cleanup only for handles that changed or delete something, and
        // SetDelete only where it can be refused (folders, read-only files).
        .post_cleanup_when_modified_only(true)
        .post_disposition_only_when_necessary(true)
        // Exact-name lookups in a folder come to `get_dir_info_by_name`, not a listing.
        .pass_query_directory_filename(true);
    let name = crate::letter::share_name(&cfg.drive_name);
    if !cfg.local_disk {
        params.prefix(crate::letter::network_prefix(&name, &cfg.location));
    }
    let context = PailContext::new(vfs, rt, &name, drive_descriptor(&user));
    let stopped = context.stopped();
    let options = FileSystemParams {
        use_dir_info_by_name: true,
        volume_params: params,
        debug_mode: DebugMode::none(),
    };
    let mut host: FileSystemHost<PailContext> =
        FileSystemHost::new_with_timer_async::<Vec<WinNotify>, NOTIFY_INTERVAL_MS>(options, context)
            .map_err(fail("create"))?;
    match cfg.letter.mount_point() {
        Some(letter) => host.mount(letter.as_str()),
        None => host.mount(MountPoint::NextFreeDrive),
    }
    .map_err(fail("mount"))?;
    // Dropping `host` on failure unmounts what was mounted: never a half-mounted drive.
    host.start().map_err(fail("serve"))?;
    Ok(DriveHost { host, stopped })
}
