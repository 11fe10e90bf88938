//! Large files are sent while they are still being written: parts go to S3 as the writer moves
//! past them, parts changed afterwards are sent again, an explicitly set time survives, and
//! parts of a file never closed are aborted by the next mount. Through a real FUSE mount,
//! pail-store over HTTP, and pail-emulator; parts are 5 MiB here (`DriveOptions::writable`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime};

use pail_tests::{BUCKET, DriveOptions, TestDrive, random_bytes, sha256_hex};

const PART: usize = 5 << 20;
/// How long a test waits for parts it expects (the emulator signals each part as it lands).
const PATIENCE: Duration = Duration::from_secs(60);

fn writable() -> TestDrive {
    TestDrive::start_with(DriveOptions::writable(), |_| {})
}

/// Once every upload has ended: `name` in S3 is `data`, `parts` UploadPart calls were made in
/// all (`why` says which), and no multipart upload is left open.
fn lands_in_parts(drive: &TestDrive, name: &str, data: &[u8], parts: u64, why: &str) {
    drive.drain();
    assert_eq!(sha256_hex(&drive.object(name).expect("uploaded")), sha256_hex(data));
    assert_eq!(drive.emu.part_calls(), parts, "{why}");
    assert_eq!(drive.emu.open_multipart_uploads(), 0);
}

#[test]
fn a_large_file_is_on_s3_but_for_its_last_part_before_it_is_closed() {
    let drive = writable();
    let data = random_bytes(4 * PART + 123_456, 70);
    let mut f = fs::File::create(drive.path("export.bin")).expect("create");
    f.write_all(&data[..3 * PART + 1]).expect("first three parts");
    assert!(
        drive.emu.wait_for_pending_parts("export.bin", 3, PATIENCE),
        "parts are sent while the file is open"
    );
    assert!(
        drive.emu.head(BUCKET, "export.bin").is_none(),
        "nothing visible before close"
    );
    f.write_all(&data[3 * PART + 1..]).expect("the rest");
    drop(f);
    lands_in_parts(&drive, "export.bin", &data, 5, "every part sent exactly once");
    let info = drive.emu.head(BUCKET, "export.bin").expect("head");
    assert!(info.metadata.contains_key("mtime"), "{info:?}");
    assert_eq!(
        fs::read_dir(drive.cache_dir().join("journal"))
            .expect("journal")
            .count(),
        0,
        "the upload's record is gone once it completed"
    );
}

#[test]
fn a_file_ending_on_a_part_boundary_is_all_on_s3_before_it_is_closed() {
    let drive = writable();
    let data = random_bytes(3 * PART, 71);
    let mut f = fs::File::create(drive.path("three.bin")).expect("create");
    f.write_all(&data).expect("write");
    assert!(
        drive.emu.wait_for_pending_parts("three.bin", 3, PATIENCE),
        "a part is sent once the writer reaches its end: its bytes are final whatever comes after"
    );
    drop(f);
    lands_in_parts(&drive, "three.bin", &data, 3, "no part sent twice");
}

#[test]
fn the_tail_goes_out_at_close_beside_the_parts_still_in_flight() {
    let drive = writable();
    let held = drive.emu.hold(pail_emulator::S3Op::UploadPart);
    let data = random_bytes(2 * PART + 4321, 72);
    let mut f = fs::File::create(drive.path("tail.bin")).expect("create");
    f.write_all(&data).expect("write");
    assert!(
        held.wait_arrived(2, PATIENCE),
        "the two full parts went out while it was written"
    );
    drop(f);
    assert!(
        held.wait_arrived(3, PATIENCE),
        "closing sends the tail at once, not after the parts in flight are answered"
    );
    held.release();
    lands_in_parts(&drive, "tail.bin", &data, 3, "no part sent twice");
}

#[test]
fn a_part_patched_after_it_was_sent_is_sent_again() {
    let drive = writable();
    let mut expected = random_bytes(3 * PART + 10, 71);
    let f = fs::File::create(drive.path("movie.mp4")).expect("create");
    f.write_all_at(&expected[..2 * PART + 1], 0).expect("two parts");
    assert!(drive.emu.wait_for_pending_parts("movie.mp4", 2, PATIENCE));
    f.write_all_at(&expected[2 * PART + 1..], (2 * PART + 1) as u64)
        .expect("the rest");
    // A muxer patches its header once it knows the sizes.
    f.write_all_at(b"moov-header", 4).expect("patch");
    expected[4..15].copy_from_slice(b"moov-header");
    drop(f);
    lands_in_parts(
        &drive,
        "movie.mp4",
        &expected,
        4 + 1,
        "four parts, the first sent twice",
    );
}

#[test]
fn a_truncated_or_renamed_file_still_lands_exactly_as_closed() {
    let drive = writable();
    let data = random_bytes(3 * PART, 72);
    {
        let mut f = fs::File::create(drive.path("cut.bin")).expect("create");
        f.write_all(&data).expect("three parts");
        assert!(drive.emu.wait_for_pending_parts("cut.bin", 2, PATIENCE));
        f.set_len(PART as u64 / 2).expect("truncate below the parts sent");
    }
    {
        let mut f = fs::File::create(drive.path("draft.bin")).expect("create");
        f.write_all(&data).expect("three parts");
        assert!(drive.emu.wait_for_pending_parts("draft.bin", 2, PATIENCE));
        fs::rename(drive.path("draft.bin"), drive.path("final.bin")).expect("rename while open");
        f.write_all(b"!").expect("one more byte");
    }
    drive.drain();
    assert_eq!(drive.object("cut.bin").expect("cut"), &data[..PART / 2]);
    let mut last = data.clone();
    last.push(b'!');
    assert_eq!(
        sha256_hex(&drive.object("final.bin").expect("renamed")),
        sha256_hex(&last)
    );
    assert!(drive.object("draft.bin").is_none());
    assert_eq!(drive.emu.open_multipart_uploads(), 0, "unused parts were aborted");
}

#[test]
fn a_time_set_by_the_user_is_what_s3_records() {
    let mut drive = writable();
    let data = random_bytes(2 * PART + 7, 73);
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(978_307_200); // 2001-01-01
    {
        let mut f = fs::File::create(drive.path("copied.bin")).expect("create");
        f.write_all(&data).expect("write");
        assert!(drive.emu.wait_for_pending_parts("copied.bin", 2, PATIENCE));
        // `cp -p` and Explorer set the source's time after the data.
        f.set_modified(when).expect("set mtime");
    }
    drive.drain();
    assert_eq!(
        sha256_hex(&drive.object("copied.bin").expect("uploaded")),
        sha256_hex(&data)
    );
    let info = drive.emu.head(BUCKET, "copied.bin").expect("head");
    assert_eq!(
        info.metadata.get("mtime").map(String::as_str),
        Some("978307200.000000000")
    );
    drive.remount(false);
    let seen = fs::metadata(drive.path("copied.bin"))
        .expect("stat")
        .modified()
        .expect("mtime");
    assert_eq!(seen, when);
}

#[test]
fn after_a_crash_the_next_mount_aborts_the_parts_and_sends_the_closed_file_whole() {
    let mut drive = TestDrive::start_with(DriveOptions::holding_uploads(), |_| {});
    let data = random_bytes(2 * PART + 1, 74);
    {
        let mut f = fs::File::create(drive.path("interrupted.bin")).expect("create");
        f.write_all(&data).expect("write");
        assert!(drive.emu.wait_for_pending_parts("interrupted.bin", 2, PATIENCE));
    }
    // Closed, so journaled, but not uploaded (an hour's write-back delay) when the drive stops:
    // its core is dropped without draining, as in a crash.
    drive.remount_with(true, DriveOptions::writable());
    drive.drain();
    assert_eq!(
        sha256_hex(&drive.object("interrupted.bin").expect("resent")),
        sha256_hex(&data)
    );
    assert_eq!(drive.emu.open_multipart_uploads(), 0, "the old parts were aborted");
    assert_eq!(
        fs::read_dir(drive.cache_dir().join("journal"))
            .expect("journal")
            .count(),
        0
    );
}
