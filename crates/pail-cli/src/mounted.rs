//! The platform's mount under `pail mount`: FUSE at an empty directory on Linux, WinFsp on a
//! drive letter (`P:`, or `*` for the next free one) on Windows. [`mount`] either mounts or
//! fails with one line saying what to do, leaving nothing mounted; [`Mounted`] is what serving
//! needs of either.
//!
//! The Windows half compiles on Windows and, on Linux, under the winfsp type-check
//! (`--cfg winfsp_typecheck`), so its calls into pail-winfsp are checked in CI.

use std::path::Path;
use std::sync::Arc;

use pail_fs::Vfs;
use pail_winfsp::DriveLetter;

use crate::UsageError;
use crate::mount::DriveSpec;

/// A mounted drive, whichever adapter serves it.
pub trait Mounted {
    /// Whether the mount ended from outside (`fusermount3 -u`).
    fn is_finished(&self) -> bool;
    /// Unmounts; returns once the adapter has stopped serving.
    fn unmount(self: Box<Self>);
}

/// Whether `target` is a drive letter (`P:`, `*`) rather than a directory.
pub fn is_drive_letter(target: &Path) -> bool {
    target.to_str().is_some_and(DriveLetter::is_letter)
}

/// Checks where the drive goes before anything is mounted.
pub fn check_target(target: &Path) -> Result<(), UsageError> {
    match (is_drive_letter(target), cfg!(windows)) {
        (true, true) => DriveLetter::parse(&target.to_string_lossy())
            .map(|_| ())
            .map_err(|e| UsageError(e.to_string())),
        (true, false) => Err(UsageError(format!(
            "{} is a Windows drive letter: on this system give an empty directory to mount at",
            target.display()
        ))),
        (false, true) => Err(UsageError(format!(
            "{} is not a drive letter: on Windows give one like P:, or * for the next free letter",
            target.display()
        ))),
        (false, false) => crate::mount::check_mount_dir(target),
    }
}

/// Mounts `vfs` where `spec` says.
#[cfg(not(windows))]
pub fn mount(rt: &tokio::runtime::Runtime, spec: &DriveSpec, vfs: Arc<Vfs>) -> Result<Box<dyn Mounted>, UsageError> {
    fuse::mount(rt, spec, vfs)
}

/// Mounts `vfs` where `spec` says.
#[cfg(windows)]
pub fn mount(rt: &tokio::runtime::Runtime, spec: &DriveSpec, vfs: Arc<Vfs>) -> Result<Box<dyn Mounted>, UsageError> {
    letter::mount(rt, spec, vfs)
}

#[cfg(not(windows))]
mod fuse {
    use super::*;

    impl Mounted for pail_fuse::Mount {
        fn is_finished(&self) -> bool {
            pail_fuse::Mount::is_finished(self)
        }

        fn unmount(self: Box<Self>) {
            pail_fuse::Mount::unmount(*self);
        }
    }

    pub fn mount(
        rt: &tokio::runtime::Runtime,
        spec: &DriveSpec,
        vfs: Arc<Vfs>,
    ) -> Result<Box<dyn Mounted>, UsageError> {
        let cfg = pail_fuse::FuseConfig::for_drive(&spec.vfs);
        let fsname = format!("pail:{}/{}", spec.store.bucket, spec.vfs.prefix.trim_end_matches('/'));
        let mount = pail_fuse::mount(vfs, rt.handle().clone(), &spec.dir, &fsname, cfg).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "fusermount3 was not found: install the fuse3 package (apt-get install fuse3)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "no permission to mount: check that /dev/fuse is accessible to you"
                }
                _ => "the FUSE mount failed: check that /dev/fuse exists and fuse3 is installed",
            };
            UsageError(format!("cannot mount at {}: {e}; {hint}", spec.dir.display()))
        })?;
        Ok(Box::new(mount))
    }
}

#[cfg(any(windows, winfsp_typecheck))]
#[cfg_attr(not(windows), allow(dead_code))]
mod letter {
    use super::*;
    use pail_winfsp::{DriveHost, HostConfig};

    struct LetterMount(DriveHost);

    impl Mounted for LetterMount {
        fn is_finished(&self) -> bool {
            // A drive letter is only removed by this process (`pail unmount P:` asks it to),
            // unless WinFsp stops serving it.
            self.0.has_stopped()
        }

        fn unmount(self: Box<Self>) {
            drop(self.0);
        }
    }

    /// The volume label and network share name: the last folder of the prefix, else the bucket.
    fn drive_name(spec: &DriveSpec) -> String {
        spec.vfs
            .prefix
            .trim_end_matches('/')
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or(&spec.store.bucket)
            .to_owned()
    }

    pub fn mount(
        rt: &tokio::runtime::Runtime,
        spec: &DriveSpec,
        vfs: Arc<Vfs>,
    ) -> Result<Box<dyn Mounted>, UsageError> {
        let letter = DriveLetter::parse(&spec.dir.to_string_lossy()).map_err(|e| UsageError(e.to_string()))?;
        let cfg = HostConfig {
            drive_name: drive_name(spec),
            letter,
            local_disk: spec.local_disk,
            location: format!("s3://{}/{}", spec.store.bucket, spec.vfs.prefix),
        };
        let host = pail_winfsp::mount(vfs, rt.handle().clone(), &cfg)
            .map_err(|e| UsageError(format!("cannot mount {}: {e}", spec.dir.display())))?;
        Ok(Box::new(LetterMount(host)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drive_letter_is_refused_off_windows_and_a_folder_is_checked() {
        let err = check_target(Path::new("P:")).expect_err("letter on Linux");
        assert!(err.0.contains("Windows drive letter"), "{}", err.0);
        assert!(is_drive_letter(Path::new("*")));
        assert!(!is_drive_letter(Path::new("/mnt/p")));
        let empty = tempfile::tempdir().expect("dir");
        check_target(empty.path()).expect("an empty directory");
        let err = check_target(&empty.path().join("missing")).expect_err("missing");
        assert!(err.0.contains("does not exist"), "{}", err.0);
    }
}
