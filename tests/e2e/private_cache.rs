//! What pail keeps on disk is the user's alone (issue 20): after writes, a resume and a
//! conflict, every folder in the drive's cache and block cache is 0700 and every file 0600,
//! whatever the test process's umask, and no file there holds a byte of the files' content in
//! the clear (staging files, journal records and slots, recycled files, cached blocks), before
//! or after the uploads freed them. A cache an older version wrote in the clear is sealed when
//! the drive starts with a key, and its uploads still land.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pail_fs::DiskCacheConfig;
use pail_tests::{BUCKET, DriveOptions, TestDrive, random_bytes, save_while_changed_elsewhere};

/// Everything below `root` (not `root` itself), with its metadata, links not followed.
fn entries_below(root: &Path) -> Vec<(std::path::PathBuf, fs::Metadata)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("read_dir").flatten() {
            let meta = fs::symlink_metadata(e.path()).expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), meta));
        }
    }
    out
}

/// Every folder below `root` 0700 and every file 0600 (`root` itself is the test's).
fn assert_private(root: &Path, when: &str) {
    let entries = entries_below(root);
    for (path, meta) in &entries {
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{when}: folder {}", path.display());
        } else {
            assert_eq!(mode, 0o600, "{when}: file {}", path.display());
        }
    }
    assert!(!entries.is_empty(), "{when}: {} holds something", root.display());
}

/// Every form in which `content` could sit on disk in the clear: runs of its bytes, and of
/// its base64 (a journal record's inline bytes).
fn needles(content: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(content).into_bytes();
    let mut out = Vec::new();
    for source in [content, &b64[..]] {
        for at in [0, source.len() / 2, source.len().saturating_sub(24)] {
            out.push(source[at..(at + 24).min(source.len())].to_vec());
        }
    }
    out
}

/// No file below `root` holds any of `contents` in the clear.
fn assert_sealed(root: &Path, contents: &[&[u8]], when: &str) {
    let all: Vec<Vec<u8>> = contents.iter().flat_map(|c| needles(c)).collect();
    for (path, meta) in entries_below(root) {
        if meta.is_dir() {
            continue;
        }
        let bytes = fs::read(&path).expect("read");
        for n in &all {
            assert!(
                !bytes.windows(n.len()).any(|w| w == &n[..]),
                "{when}: {} holds file content in the clear",
                path.display()
            );
        }
    }
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
    let small = b"a small file's bytes live in its journal record".to_vec();
    let big = random_bytes(6 << 20, 2);
    let read = random_bytes(3 << 20, 1);
    let mine = b"my edit of the plan, which became a conflict copy".to_vec();
    fs::write(drive.path("small.txt"), &small).expect("write");
    fs::write(drive.path("big.bin"), &big).expect("write");
    assert_eq!(
        fs::read(drive.path("read.bin")).expect("read through the block cache"),
        read
    );
    assert_private(drive.cache_dir(), "pending writes");
    assert_private(blocks.path(), "blocks read");
    assert_sealed(drive.cache_dir(), &[&small, &big], "pending writes");
    assert_sealed(blocks.path(), &[&read], "blocks read");

    drive.remount_with(true, with_disk_cache(DriveOptions::writable(), blocks.path()));
    drive.drain();
    assert_eq!(drive.object("big.bin").map(|b| b.len()), Some(6 << 20), "resumed");
    assert_private(drive.cache_dir(), "after a resume");
    assert_sealed(drive.cache_dir(), &[&small, &big], "freed slots and recycled files");

    save_while_changed_elsewhere(
        &drive.path("shared/plan.txt"),
        || {
            drive
                .emu
                .put(BUCKET, "shared/plan.txt", &b"theirs"[..])
                .expect("change");
        },
        &mine,
    );
    drive.drain();
    assert_eq!(drive.vfs.writeback_status().conflicts.len(), 1);
    assert_private(drive.cache_dir(), "after a conflict");
    assert_sealed(drive.cache_dir(), &[&small, &big, &mine], "after a conflict");
}

#[test]
fn a_cache_written_in_the_clear_is_sealed_when_the_drive_starts_with_a_key() {
    let mut clear = DriveOptions::holding_uploads();
    clear.vfs.cache_key = None;
    let mut drive = TestDrive::start_with(clear, |_| {});
    let small = b"written by a version that did not encrypt its cache".to_vec();
    let big = random_bytes(3 << 20, 7);
    fs::write(drive.path("small.txt"), &small).expect("write");
    fs::write(drive.path("big.bin"), &big).expect("write");
    let staged = || {
        fs::read_dir(drive.cache_dir().join("staging"))
            .expect("staging")
            .count()
    };
    assert!(staged() > 0, "the large file is staged");

    // The next version starts with a key: what is pending is sealed before anything else.
    drive.remount_with(true, DriveOptions::holding_uploads());
    assert_sealed(drive.cache_dir(), &[&small, &big], "migrated");
    assert_eq!(
        fs::read(drive.path("big.bin")).expect("read"),
        big,
        "readable through the drive"
    );
    drive.remount_with(true, DriveOptions::writable());
    drive.drain();
    assert_eq!(drive.object("small.txt").as_deref(), Some(&small[..]));
    assert_eq!(
        drive.object("big.bin").as_deref(),
        Some(&big[..]),
        "nothing pending was lost"
    );
}
