//! `pail unmount`: a FUSE directory through `fusermount3 -u`; a Windows drive letter by asking
//! the process serving it (through its cache directory: Windows has no signal to send); then
//! waiting, with progress, while the mount finishes its uploads.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::UsageError;
use crate::mounted;
use crate::status::{self, MountRecord};

/// `pail unmount`: unmounts, then waits (with progress) while the mount process finishes its
/// uploads; `force` makes it stop at once and leave them journaled for the next mount.
pub fn run_unmount(dir: &Path, force: bool) -> Result<()> {
    let record = status::find(dir);
    if let (Some(rec), true) = (&record, force) {
        // Raised before the unmount, so the mount sees it before it starts uploading.
        let _ = std::fs::write(status::stop_now_flag(&rec.cache_dir), b"");
    }
    if let Err(e) = unmount_dir(dir, record.as_ref()) {
        if let (Some(rec), true) = (&record, force) {
            let _ = std::fs::remove_file(status::stop_now_flag(&rec.cache_dir));
        }
        return Err(e);
    }
    let Some(rec) = record else { return Ok(()) };
    let mut shown = false;
    while status::alive(&rec) {
        if let Some(s) = status::read_status(&rec.cache_dir).filter(|s| s.state == "uploading") {
            eprint!(
                "\rWaiting for uploads: {} files, {} left   ",
                s.writeback.pending_files,
                status::human(s.writeback.pending_bytes)
            );
            shown = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if shown {
        eprintln!();
    }
    match status::read_status(&rec.cache_dir).map(|s| s.writeback) {
        Some(s) if s.pending_files > 0 => say!(
            "{} files ({}) are kept in {} and upload at the next mount of this drive",
            s.pending_files,
            status::human(s.pending_bytes),
            rec.cache_dir.display()
        ),
        _ => say!("All changes are on S3."),
    }
    Ok(())
}

/// `pail unmount --all`: every drive of this user, each waited for as `pail unmount` waits.
/// A drive that fails to unmount is reported and the others still are.
pub fn run_unmount_all(force: bool) -> Result<()> {
    let mounts = status::all();
    if mounts.is_empty() {
        say!("No pail drive is mounted.");
        return Ok(());
    }
    let mut failed = Vec::new();
    for rec in &mounts {
        say!("Unmounting {}", rec.dir.display());
        if let Err(e) = run_unmount(&rec.dir, force) {
            eprintln!("pail: error: {e:#}");
            failed.push(rec.dir.display().to_string());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(UsageError(format!(
            "could not unmount {}: see the messages above",
            failed.join(", ")
        ))
        .into())
    }
}

fn unmount_dir(dir: &Path, record: Option<&MountRecord>) -> Result<()> {
    if mounted::is_drive_letter(dir) {
        // A drive letter is removed by the process serving it; ask it through its cache dir.
        let rec = record.ok_or_else(|| UsageError(format!("{} is not a pail drive", dir.display())))?;
        std::fs::write(status::unmount_flag(&rec.cache_dir), b"")
            .with_context(|| format!("asking the mount of {} to stop", dir.display()))?;
        say!("Unmounting {}", dir.display());
        return Ok(());
    }
    let status = std::process::Command::new("fusermount3")
        .arg("-u")
        .arg(dir)
        .status()
        .map_err(|e| UsageError(format!("cannot run fusermount3 ({e}): install the fuse3 package")))?;
    if !status.success() {
        return Err(UsageError(format!(
            "{} is not mounted, or is busy: close programs using it and retry",
            dir.display()
        ))
        .into());
    }
    say!("Unmounted {}", dir.display());
    Ok(())
}
