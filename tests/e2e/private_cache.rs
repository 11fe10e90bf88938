//! What pail keeps on disk is the user's alone (issue 20): after writes, a resume and a
//! conflict, every folder in the drive's cache and block cache is 0700 and every file 0600,
//! whatever the test process's umask.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pail_fs::DiskCacheConfig;
use pail_tests::{BUCKET, DriveOptions, TestDrive, random_bytes, save_while_changed_elsewhere};

/// Every folder below `root` 0700 and every file 0600 (`root` itself is the test's).
fn assert_private(root: &Path, when: &str) {
    let mut seen = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("read_dir").flatten() {
            let meta = fs::symlink_metadata(e.path()).expect("metadata");
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(mode, 0o700, "{when}: folder {}", e.path().display());
                stack.push(e.path());
            } else {
                assert_eq!(mode, 0o600, "{when}: file {}", e.path().display());
            }
            seen += 1;
        }
    }
    assert!(seen > 0, "{when}: {} holds something", root.display());
}

fn with_disk_cache(mut opts: DriveOptions, dir: &Path) -> DriveOptions {
    opts.vfs.disk_cache = Some(DiskCacheConfig {
        dir: dir.to_path_buf(),
        max_bytes: 64 << 20,
    });
    opts
}

#[test]
fn the_cache_is_private_after_writes_a_resume_and_a_conflict() {
    let blocks = tempfile::tempdir().expect("block cache");
    let held = with_disk_cache(DriveOptions::holding_uploads(), blocks.path());
    let mut drive = TestDrive::start_with(held, |emu| {
        emu.put(BUCKET, "shared/plan.txt", &b"version 1"[..]).expect("seed");
        emu.put(BUCKET, "read.bin", random_bytes(3 << 20, 1)).expect("seed");
    });
    fs::write(
        drive.path("small.txt"),
        b"a small file's bytes live in its journal record",
    )
    .expect("write");
    fs::write(drive.path("big.bin"), random_bytes(6 << 20, 2)).expect("write");
    fs::read(drive.path("read.bin")).expect("read through the block cache");
    assert_private(drive.cache_dir(), "pending writes");
    assert_private(blocks.path(), "blocks read");

    drive.remount_with(true, with_disk_cache(DriveOptions::writable(), blocks.path()));
    drive.drain();
    assert_eq!(drive.object("big.bin").map(|b| b.len()), Some(6 << 20), "resumed");
    assert_private(drive.cache_dir(), "after a resume");

    save_while_changed_elsewhere(
        &drive.path("shared/plan.txt"),
        || {
            drive
                .emu
                .put(BUCKET, "shared/plan.txt", &b"theirs"[..])
                .expect("change");
        },
        b"mine",
    );
    drive.drain();
    assert_eq!(drive.vfs.writeback_status().conflicts.len(), 1);
    assert_private(drive.cache_dir(), "after a conflict");
}
