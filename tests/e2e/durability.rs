//! Durability and safety through the mount: the journal resumes pending uploads in a new mount,
//! a corrupt journal record is set aside, a server-side change yields a conflict copy, SSE
//! headers go with every write, injected faults do not lose data, and bad input gets the right
//! errno.

use std::fs;
use std::time::Duration;

use pail_emulator::Faults;
use pail_store::Sse;
use pail_tests::{BUCKET, DriveOptions, TestDrive, random_bytes, save_while_changed_elsewhere, sha256_hex};

fn writable() -> TestDrive {
    TestDrive::start_with(DriveOptions::writable(), |_| {})
}

/// Mounts the drive again with the same cache (the old core dropped undrained, as by a crash),
/// lets it upload what it resumed, and checks that S3 holds exactly `files`.
fn remount_and_expect_in_s3(drive: &mut TestDrive, files: &[(String, Vec<u8>)]) {
    drive.remount_with(true, DriveOptions::writable());
    drive.drain();
    for (rel, data) in files {
        assert_eq!(drive.object(rel).as_deref(), Some(&data[..]), "{rel}");
    }
    assert!(drive.vfs.writeback_status().unreadable_journal.is_empty());
}

#[test]
fn a_new_mount_resumes_what_the_last_one_left_pending() {
    let mut drive = TestDrive::start_with(DriveOptions::holding_uploads(), |_| {});
    let files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("pending/f{i}"), random_bytes(1000 + i * 100_000, i as u64)))
        .collect();
    fs::create_dir(drive.path("pending")).expect("mkdir");
    for (rel, data) in &files {
        fs::write(drive.path(rel), data).expect("write");
    }
    let status = drive.vfs.writeback_status();
    assert_eq!(status.pending_files, 20, "{status:?}");
    assert!(drive.emu.keys(BUCKET, "pending/f").is_empty(), "nothing uploaded yet");
    // The old core is dropped without draining: as after a crash, only the journal remains.
    drive.remount_with(true, DriveOptions::writable());
    for (rel, data) in &files {
        assert_eq!(&fs::read(drive.path(rel)).expect("visible before upload"), data);
    }
    drive.drain();
    for (rel, data) in &files {
        assert_eq!(
            sha256_hex(&drive.object(rel).expect("resumed")),
            sha256_hex(data),
            "{rel}"
        );
    }
}

#[test]
fn small_files_are_held_in_memory_and_their_journal_record_alone_survives_a_crash() {
    let mut drive = TestDrive::start_with(DriveOptions::holding_uploads(), |_| {});
    let files: Vec<(String, Vec<u8>)> = [0usize, 1, 100, 4096, 65_536]
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("small/f{i}"), random_bytes(n, 40 + i as u64)))
        .collect();
    fs::create_dir(drive.path("small")).expect("mkdir");
    for (rel, data) in &files {
        fs::write(drive.path(rel), data).expect("write");
    }
    assert_eq!(drive.vfs.writeback_status().pending_files, files.len());
    // A small file has no staging file: its bytes are in memory and, from its close on, in
    // its journal record, which is all a new mount has to go on.
    let staged: Vec<_> = fs::read_dir(drive.cache_dir().join("staging"))
        .expect("staging")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(staged.is_empty(), "staging files for small files: {staged:?}");
    remount_and_expect_in_s3(&mut drive, &files);
}

#[test]
fn files_closed_into_reused_staging_files_and_records_survive_a_crash_intact() {
    let mut drive = writable();
    // A first batch lands; its staging files and journal records are kept for reuse. (Files
    // past 64 KiB: smaller ones are held in memory and have neither.)
    fs::create_dir(drive.path("first")).expect("mkdir");
    for i in 0..20 {
        fs::write(drive.path(&format!("first/f{i}")), random_bytes(300_000 + i, i as u64)).expect("write");
    }
    drive.drain();
    let recycle = drive.cache_dir().join("recycle");
    // Each file reuses what the one before it left, so a few are kept at the end.
    let kept = fs::read_dir(&recycle).expect("kept files").count();
    assert!(kept >= 2, "staging files and records kept: {kept}");
    drive.remount_with(true, DriveOptions::holding_uploads());
    // A second, smaller batch is closed into those files (their old, longer bytes must never
    // show through) and is still pending when the drive stops, as in a crash.
    let files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("second/f{i}"), random_bytes(70_000 + i, 500 + i as u64)))
        .collect();
    fs::create_dir(drive.path("second")).expect("mkdir");
    for (rel, data) in &files {
        fs::write(drive.path(rel), data).expect("write");
    }
    assert_eq!(
        fs::read_dir(&recycle).expect("kept files").count(),
        0,
        "every kept file reused"
    );
    remount_and_expect_in_s3(&mut drive, &files);
}

#[test]
fn a_corrupt_journal_record_is_set_aside_not_deleted() {
    let mut drive = writable();
    let journal = drive.cache_dir().join("journal");
    let staging = drive.cache_dir().join("staging");
    fs::write(journal.join("00000000000000aa.json"), b"{\"op\":\"upload\",\"path\":").expect("corrupt record");
    fs::write(staging.join("00000000000000aa.data"), b"someone's work").expect("its data");
    drive.remount(true);
    let status = drive.vfs.writeback_status();
    assert_eq!(status.unreadable_journal, ["00000000000000aa.json"]);
    let kept = fs::read(drive.cache_dir().join("corrupt/00000000000000aa.data")).expect("data kept aside");
    assert_eq!(kept, b"someone's work");
    fs::write(drive.path("still-works.txt"), b"yes").expect("the drive works");
    drive.drain();
    assert_eq!(drive.object("still-works.txt").expect("uploaded"), b"yes");
}

#[test]
fn a_file_changed_on_the_server_while_open_becomes_a_conflict_copy() {
    let drive = TestDrive::start_with(DriveOptions::writable(), |emu| {
        emu.put(BUCKET, "shared/plan.txt", &b"version 1"[..]).expect("seed");
    });
    save_while_changed_elsewhere(
        &drive.path("shared/plan.txt"),
        || {
            // A colleague saves their version while ours is open.
            drive
                .emu
                .put(BUCKET, "shared/plan.txt", &b"colleague's version"[..])
                .expect("server-side change");
        },
        b"my version",
    );
    drive.drain();
    assert_eq!(drive.object("shared/plan.txt").expect("kept"), b"colleague's version");
    let keys = drive.emu.keys(BUCKET, "shared/");
    assert_eq!(keys.len(), 2, "{keys:?}");
    let copy = keys.iter().find(|k| k.contains("(conflict ")).expect("a conflict copy");
    assert!(
        copy.starts_with("shared/plan (conflict ") && copy.ends_with(").txt"),
        "{copy}"
    );
    assert_eq!(drive.object(copy).expect("copy"), b"my version");
    assert_eq!(drive.vfs.writeback_status().conflicts.len(), 1);
}

#[test]
fn kms_headers_go_with_every_put_multipart_upload_and_copy() {
    let mut opts = DriveOptions::writable();
    let key_id = "arn:aws:kms:us-east-1:111122223333:key/1234abcd";
    opts.sse = Some(Sse::Kms {
        key_id: Some(key_id.into()),
    });
    let drive = TestDrive::start_with(opts, |_| {});
    fs::write(drive.path("small.txt"), b"small").expect("put");
    fs::write(drive.path("big.bin"), random_bytes(6 << 20, 3)).expect("multipart");
    fs::create_dir(drive.path("folder")).expect("marker");
    drive.drain();
    fs::rename(drive.path("small.txt"), drive.path("folder/renamed.txt")).expect("copy");
    fs::rename(drive.path("folder"), drive.path("moved")).expect("folder copy");
    let log = drive.emu.write_log();
    let ops: std::collections::BTreeSet<_> = log.iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        ["CopyObject", "CreateMultipartUpload", "PutObject"]
            .into_iter()
            .collect()
    );
    for r in &log {
        assert_eq!(r.sse.as_deref(), Some("aws:kms"), "{r:?}");
        assert_eq!(r.sse_kms_key_id.as_deref(), Some(key_id), "{r:?}");
    }
}

#[test]
fn writes_land_intact_through_errors_resets_and_latency() {
    let drive = writable();
    fs::create_dir(drive.path("flaky")).expect("mkdir");
    drive.emu.set_faults(Faults {
        error_rate: 0.1,
        latency: Duration::from_millis(200),
        ..Faults::default()
    });
    let files: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| {
            let len = if i % 4 == 0 { 6 << 20 } else { 20_000 + i * 1000 };
            (format!("flaky/f{i}"), random_bytes(len, 100 + i as u64))
        })
        .collect();
    for (rel, data) in &files {
        fs::write(drive.path(rel), data).expect("write");
    }
    drive.drain();
    drive.emu.set_faults(Faults::default());
    for (rel, data) in &files {
        assert_eq!(
            sha256_hex(&drive.object(rel).expect("landed")),
            sha256_hex(data),
            "{rel}"
        );
    }
    assert_eq!(
        drive.emu.open_multipart_uploads(),
        0,
        "failed multipart uploads were aborted"
    );
}

#[test]
fn an_unlink_or_rename_while_s3_is_unreachable_fails_and_loses_nothing() {
    // The unlink (or rename) of a file still waiting for its upload deletes S3's older version
    // before it drops the upload. S3 unreachable, it fails and leaves the file as it was: the
    // last writes are not lost, and the older version does not come back in their place.
    let opts = DriveOptions {
        // Each request fails at once instead of after the SDK's retries (seconds each).
        max_attempts: Some(1),
        ..DriveOptions::holding_uploads()
    };
    let drive = TestDrive::start_with(opts, |emu| {
        emu.put(BUCKET, "doc.txt", b"version 1".to_vec()).expect("seed");
    });
    fs::write(drive.path("doc.txt"), b"version 2").expect("edit");
    drive.emu.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let unlink = fs::remove_file(drive.path("doc.txt")).expect_err("S3 cannot be reached");
    let rename = fs::rename(drive.path("doc.txt"), drive.path("moved.txt")).expect_err("S3 cannot be reached");
    for e in [&unlink, &rename] {
        assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    }
    assert_eq!(fs::read(drive.path("doc.txt")).expect("still there"), b"version 2");
    drive.emu.set_faults(Faults::default());
    drive.drain();
    assert_eq!(drive.emu.keys(BUCKET, ""), ["doc.txt"]);
    assert_eq!(
        drive.object("doc.txt").as_deref(),
        Some(&b"version 2"[..]),
        "the last writes landed"
    );

    fs::write(drive.path("doc.txt"), b"version 3").expect("edit");
    fs::remove_file(drive.path("doc.txt")).expect("S3 is back");
    drive.drain();
    assert!(drive.emu.keys(BUCKET, "").is_empty(), "deleted, and it stays deleted");
}

#[test]
fn bad_input_gets_the_errno_programs_expect() {
    let drive = writable();
    // A key over 1,024 bytes: each name is legal, the path is not storable.
    let long = "n".repeat(250);
    let mut dir = drive.root().to_path_buf();
    let mut refused = None;
    for _ in 0..5 {
        dir.push(&long);
        if let Err(e) = fs::create_dir(&dir) {
            refused = Some(e);
            break;
        }
    }
    assert_eq!(refused.expect("refused").raw_os_error(), Some(libc::ENAMETOOLONG));
    // Issue 17: one name over 255 bytes is ENAMETOOLONG on every call, not EINVAL or ENOENT.
    fs::write(drive.path("short"), b"s").expect("write");
    let too_long = drive.path(&"x".repeat(256));
    let errno = |r: std::io::Result<()>| r.expect_err("refused").raw_os_error();
    let enametoolong = Some(libc::ENAMETOOLONG);
    assert_eq!(errno(fs::metadata(&too_long).map(drop)), enametoolong, "lookup");
    assert_eq!(errno(fs::write(&too_long, b"x")), enametoolong, "create");
    assert_eq!(errno(fs::create_dir(&too_long)), enametoolong, "mkdir");
    assert_eq!(
        errno(fs::rename(drive.path("short"), &too_long)),
        enametoolong,
        "rename"
    );
    assert_eq!(errno(fs::remove_file(&too_long)), enametoolong, "unlink");
    assert_eq!(errno(fs::remove_dir(&too_long)), enametoolong, "rmdir");
    assert_eq!(
        errno(fs::OpenOptions::new().write(true).open(&too_long).map(drop)),
        enametoolong,
        "open for truncate"
    );
    // Issue 17: past S3's 5 TiB object limit is EFBIG, for a truncate and for a write.
    let f = fs::OpenOptions::new()
        .write(true)
        .open(drive.path("short"))
        .expect("open");
    let efbig = Some(libc::EFBIG);
    assert_eq!(errno(f.set_len((5 << 40) + 1)), efbig, "truncate");
    assert_eq!(
        errno(std::os::unix::fs::FileExt::write_all_at(&f, b"x", 5 << 40)),
        efbig,
        "write"
    );
    f.set_len(1 << 20).expect("a size S3 holds");
    drop(f);
    assert_eq!(
        std::os::unix::fs::symlink("x", drive.path("link"))
            .expect_err("no symlinks")
            .raw_os_error(),
        Some(libc::EPERM)
    );
    fs::write(drive.path("a"), b"a").expect("write");
    fs::write(drive.path("b"), b"b").expect("write");
    assert_eq!(
        fs::hard_link(drive.path("a"), drive.path("c"))
            .expect_err("no hard links")
            .raw_os_error(),
        Some(libc::EPERM)
    );
    let (from, to) = (c_path(&drive.path("a")), c_path(&drive.path("b")));
    let name = std::ffi::CString::new("user.tag").expect("name");
    #[allow(unsafe_code)]
    // SAFETY: valid NUL-terminated strings and a 1-byte value, for the duration of the call.
    let rc = unsafe { libc::setxattr(from.as_ptr(), name.as_ptr(), b"x".as_ptr().cast(), 1, 0) };
    assert_eq!(rc, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EOPNOTSUPP));
    #[allow(unsafe_code)]
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    assert_eq!(rc, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EEXIST));

    let ro = TestDrive::start(|emu| {
        emu.put(BUCKET, "r.txt", &b"r"[..]).expect("seed");
    });
    let err = fs::write(ro.path("r.txt"), b"x").expect_err("read-only");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    assert_eq!(
        fs::create_dir(ro.path("d")).expect_err("read-only").raw_os_error(),
        Some(libc::EROFS)
    );
}

fn c_path(p: &std::path::Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("no NUL")
}
