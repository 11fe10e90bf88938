//! The write path against moto, an S3 server nobody here wrote (issue 22): create, overwrite,
//! a large multipart file, renames of a file and a folder, delete, SSE-KMS and a conflict, each
//! through a real mount. moto answers every CompleteMultipartUpload in a dialect aws-sdk-s3
//! cannot parse (the upload is complete all the same), so every large file here also proves
//! that pail recognises its own upload instead of sending it again or writing conflict copies.

use std::fs;
use std::time::Duration;

use pail_store::Sse;
use pail_tests::moto::MotoDrive;
use pail_tests::{DriveOptions, random_bytes, save_while_changed_elsewhere};

/// A hang guard for draining, not a measure of speed.
const SETTLE: Duration = Duration::from_secs(120);

fn kms_drive() -> MotoDrive {
    let mut opts = DriveOptions::writable();
    opts.sse = Some(Sse::Kms {
        key_id: Some("alias/corp-docs".into()),
    });
    MotoDrive::start(opts)
}

#[test]
fn a_20_mb_copy_with_kms_leaves_exactly_one_object_also_after_a_resume() {
    let mut drive = kms_drive();
    let data = random_bytes(20_000_000, 1);
    fs::write(drive.path("big.bin"), &data).expect("copy onto the drive");
    drive.drain_within(SETTLE);
    assert_eq!(drive.keys(""), ["big.bin"]);
    assert_eq!(drive.object("big.bin").expect("uploaded"), data);
    let status = drive.vfs.writeback_status();
    assert!(status.conflicts.is_empty() && status.pending_files == 0, "{status:?}");
    // A new mount of the same cache resumes nothing and adds nothing.
    drive.remount();
    drive.drain_within(SETTLE);
    assert_eq!(drive.keys(""), ["big.bin"]);
}

#[test]
fn files_and_folders_are_written_renamed_and_deleted_on_moto() {
    let drive = kms_drive();
    fs::create_dir(drive.path("docs")).expect("mkdir");
    fs::write(drive.path("docs/a.txt"), b"first").expect("create");
    let big = random_bytes(7 << 20, 2);
    fs::write(drive.path("docs/big.bin"), &big).expect("large file");
    drive.drain_within(SETTLE);
    fs::write(drive.path("docs/a.txt"), b"second version").expect("overwrite");
    fs::rename(drive.path("docs/a.txt"), drive.path("docs/b.txt")).expect("rename a file");
    drive.drain_within(SETTLE);
    fs::rename(drive.path("docs"), drive.path("archive")).expect("rename a folder");
    fs::write(drive.path("archive/gone.txt"), b"short-lived").expect("create");
    drive.drain_within(SETTLE);
    fs::remove_file(drive.path("archive/gone.txt")).expect("delete");
    drive.drain_within(SETTLE);
    assert_eq!(
        drive.keys(""),
        ["archive/", "archive/b.txt", "archive/big.bin"],
        "the folder marker moves with the folder"
    );
    assert_eq!(drive.object("archive/b.txt").expect("renamed"), b"second version");
    assert_eq!(drive.object("archive/big.bin").expect("moved"), big);
    assert!(drive.vfs.writeback_status().conflicts.is_empty());
}

#[test]
fn a_small_file_changed_on_moto_while_open_becomes_a_conflict_copy() {
    let drive = kms_drive();
    drive.put("notes.txt", b"version 1");
    save_while_changed_elsewhere(
        &drive.path("notes.txt"),
        || {
            drive.put("notes.txt", b"a colleague's version");
        },
        b"my version",
    );
    drive.drain_within(SETTLE);
    let keys = drive.keys("");
    assert_eq!(keys.len(), 2, "the file and one conflict copy: {keys:?}");
    let copy = keys.iter().find(|k| k.contains("(conflict ")).expect("a conflict copy");
    assert_eq!(drive.object(copy).expect("copy"), b"my version");
    assert_eq!(drive.object("notes.txt").expect("theirs"), b"a colleague's version");
}

#[test]
fn a_file_changed_on_moto_while_open_becomes_one_conflict_copy() {
    // moto ignores If-Match on CompleteMultipartUpload; pail checks the condition before it
    // completes, so the colleague's version survives here too.
    let drive = kms_drive();
    let old = random_bytes(6 << 20, 3);
    drive.put("plan.bin", &old);
    let mine = random_bytes(9 << 20, 4);
    save_while_changed_elsewhere(
        &drive.path("plan.bin"),
        || {
            drive.put("plan.bin", b"a colleague's version");
        },
        &mine,
    );
    drive.drain_within(SETTLE);
    let keys = drive.keys("");
    assert_eq!(keys.len(), 2, "the file and one conflict copy: {keys:?}");
    let copy = keys.iter().find(|k| k.contains("(conflict ")).expect("a conflict copy");
    assert_eq!(drive.object(copy).expect("copy"), mine);
    assert_eq!(drive.object("plan.bin").expect("theirs"), b"a colleague's version");
    assert_eq!(drive.vfs.writeback_status().conflicts.len(), 1);
}
