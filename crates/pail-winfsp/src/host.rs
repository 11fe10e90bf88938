//! Mounting: the volume parameters a drive is presented with, and the host that serves it.
//!
//! Names are case-insensitive and case-preserving with Unicode on disk, as Explorer expects;
//! ACLs are not persisted; the file-info timeout follows the metadata TTL. By default the drive
//! is presented as a network location (`\\pail\<drive>` volume prefix) so Explorer does not read
//! whole files for thumbnails and previews.

use std::sync::Arc;

use pail_fs::Vfs;
use winfsp::host::{FileSystemHost, MountPoint, VolumeParams};

use crate::context::PailContext;

/// How to present a drive.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The drive's name: the volume label and the network share name.
    pub drive_name: String,
    /// `Some("P:")` for a given letter, `None` for the next free one.
    pub letter: Option<String>,
    /// Present as a local disk instead of a network drive.
    pub local_disk: bool,
}

/// A mounted drive; dropping it unmounts.
pub struct DriveHost {
    host: FileSystemHost<PailContext>,
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

/// Mounts `vfs` as a drive letter and starts serving it.
pub fn mount(vfs: Arc<Vfs>, rt: tokio::runtime::Handle, cfg: &HostConfig) -> winfsp::Result<DriveHost> {
    if vfs.config().names != pail_fs::NameEncoding::Windows {
        tracing::warn!("the drive does not use Windows name encoding: names with <>:\"|?* cannot be shown");
    }
    winfsp::winfsp_init()?;
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
        .volume_info_timeout(ttl_ms);
    if !cfg.local_disk {
        params.prefix(format!("\\pail\\{}", cfg.drive_name));
    }
    let context = PailContext::new(vfs, rt, &cfg.drive_name);
    let mut host: FileSystemHost<PailContext> = FileSystemHost::new(params, context)?;
    match &cfg.letter {
        Some(letter) => host.mount(letter.as_str())?,
        None => host.mount(MountPoint::NextFreeDrive)?,
    }
    host.start()?;
    Ok(DriveHost { host })
}
