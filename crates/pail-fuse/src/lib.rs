//! pail-fuse: the Linux adapter — a thin wrapper that serves a [`pail_fs::Vfs`] through FUSE
//! (the `fuser` crate, mounting with `fusermount3`, no libfuse).
//!
//! All behaviour lives in pail-fs; this crate only keeps the inode table, turns FUSE calls into
//! `Vfs` calls on the tokio runtime, and maps errors with [`to_errno`].
//!
//! # Layout
//! - `fs` — the `fuser::Filesystem` implementation: lookups, reads, listings.
//! - `write` — the calls that change the drive, and what S3 cannot hold.
//! - `inodes` — inode numbers ↔ paths with lookup counts.
//! - `invalidate` — changes others made, passed to the kernel's caches.
//! - `errno` — the error mapping.

mod errno;
mod fs;
mod inodes;
mod invalidate;
mod write;

use std::path::Path;
use std::sync::Arc;

pub use errno::to_errno;
pub use fs::{FuseConfig, PailFuse};
pub use inodes::InodeTable;

use fuser::MountOption;
use pail_fs::Vfs;

/// A mounted drive; dropping it unmounts.
#[derive(Debug)]
pub struct Mount {
    session: Option<fuser::BackgroundSession>,
    mountpoint: std::path::PathBuf,
    invalidator: Option<invalidate::Invalidator>,
}

impl Mount {
    /// Unmounts and waits for the session thread to end. A mount that stays busy (a process
    /// has a file open or its working directory inside) for about ten seconds is left to the
    /// kernel to detach once it is free, and the session is not waited for.
    pub fn unmount(mut self) {
        self.end();
    }

    fn end(&mut self) {
        self.invalidator.take();
        let Some(s) = self.session.take() else { return };
        if s.guard.is_finished() || self.try_unmount() {
            s.join();
        } else {
            tracing::error!(mountpoint = %self.mountpoint.display(), "the drive is busy; it will be detached when no longer in use");
            let _ = std::process::Command::new("fusermount3")
                .arg("-u")
                .arg("-z")
                .arg(&self.mountpoint)
                .status();
        }
    }

    /// `fusermount3 -u`, retried while the mount is busy: a process that just closed its last
    /// file there may still be on its way out.
    fn try_unmount(&self) -> bool {
        for attempt in 0..100 {
            let out = std::process::Command::new("fusermount3")
                .arg("-u")
                .arg(&self.mountpoint)
                .stderr(std::process::Stdio::piped())
                .output();
            match out {
                Ok(o) if o.status.success() => return true,
                Ok(o) if String::from_utf8_lossy(&o.stderr).contains("busy") => {
                    tracing::debug!(attempt, "the drive is busy; retrying the unmount");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                // Not mounted any more, or no fusermount3: fuser's own unmount runs at join.
                _ => return true,
            }
        }
        false
    }

    /// Waits until at least `n` changes others made (found by listings) were passed to the
    /// kernel, or `limit` passed; whether they were. For tests, which must not sleep.
    pub fn wait_invalidations(&self, n: u64, limit: std::time::Duration) -> bool {
        self.invalidator.as_ref().is_some_and(|i| i.wait_sent(n, limit))
    }

    /// Whether the session has ended (for example after `fusermount3 -u`).
    pub fn is_finished(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        self.end();
    }
}

/// Mounts `vfs` at `mountpoint`. `fsname` is shown in `mount` and `df` (e.g. `pail:bucket/prefix`).
pub fn mount(
    vfs: Arc<Vfs>,
    rt: tokio::runtime::Handle,
    mountpoint: &Path,
    fsname: &str,
    cfg: FuseConfig,
) -> std::io::Result<Mount> {
    let mut options = vec![
        MountOption::FSName(fsname.to_owned()),
        MountOption::Subtype("pail".to_owned()),
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::NoAtime,
    ];
    options.push(if cfg.read_only {
        MountOption::RO
    } else {
        MountOption::RW
    });
    let fs = PailFuse::new(vfs.clone(), rt.clone(), cfg);
    let inodes = fs.inodes.clone();
    let session = fuser::spawn_mount2(fs, mountpoint, &options)?;
    let invalidator = invalidate::Invalidator::start(vfs, &rt, inodes, session.notifier());
    Ok(Mount {
        session: Some(session),
        mountpoint: mountpoint.to_path_buf(),
        invalidator: Some(invalidator),
    })
}

/// The owner (uid, gid) of the running process, read from `/proc/self`.
pub fn process_owner() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| (m.uid(), m.gid()))
        .unwrap_or((0, 0))
}
