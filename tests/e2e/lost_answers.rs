//! Writes that S3 applied but whose answer was lost (issue 22): a reset after the request went
//! out, or a body the SDK cannot read (moto answers CompleteMultipartUpload with a
//! `CompleteMultipartUploadResponse` root). Each test loses the answers of one kind of request
//! in pail-emulator and checks, through the mount, that exactly one object results, with the
//! right bytes, and no conflict copy unless the file really changed on the server — then at
//! most one.
//!
//! The drives encrypt with SSE-KMS, whose ETags are not MD5s of the bytes, so only the upload's
//! token (`x-amz-meta-pail-write`) can tell pail that an object is its own.

use std::fs;
use std::time::Duration;

use pail_emulator::{LostAs, PutOptions, S3Op};
use pail_store::Sse;
use pail_tests::{BUCKET, DriveOptions, TestDrive, random_bytes, save_while_changed_elsewhere, store_config};

/// A hang guard for draining: these drives settle in seconds.
const SETTLE: Duration = Duration::from_secs(120);

fn kms(mut opts: DriveOptions) -> DriveOptions {
    opts.sse = Some(Sse::Kms {
        key_id: Some("alias/corp-docs".into()),
    });
    opts
}

fn drive_with(seed: &[(&str, &[u8])]) -> TestDrive {
    TestDrive::start_with(kms(DriveOptions::writable()), |emu| {
        for (key, data) in seed {
            emu.put(BUCKET, key, data.to_vec()).expect("seed");
        }
    })
}

/// How many attempts the SDK makes at one request (each of them loses its answer here).
fn sdk_attempts(drive: &TestDrive) -> u32 {
    store_config(&drive.emu, BUCKET).max_attempts
}

fn assert_no_conflict(drive: &TestDrive) {
    let status = drive.vfs.writeback_status();
    assert!(status.conflicts.is_empty(), "{status:?}");
}

#[test]
fn a_small_overwrite_whose_answers_are_all_lost_lands_once() {
    let drive = drive_with(&[("notes.txt", b"version 1")]);
    let rule = drive
        .emu
        .lose_answers(S3Op::PutObject, LostAs::Reset, sdk_attempts(&drive));
    fs::write(drive.path("notes.txt"), b"version 2").expect("write");
    drive.drain_within(SETTLE);
    assert_eq!(rule.remaining(), 0, "every attempt of the first upload lost its answer");
    assert_eq!(drive.emu.keys(BUCKET, ""), ["notes.txt"]);
    assert_eq!(drive.object("notes.txt").expect("uploaded"), b"version 2");
    assert_no_conflict(&drive);
}

/// A new large file written on `drive` while the next completion's answer is lost `how`:
/// exactly that one object lands, with its bytes, and no conflict copy.
fn a_new_large_file_lands_once(drive: &TestDrive, how: LostAs, len: usize) {
    let rule = drive.emu.lose_answers(S3Op::CompleteMultipartUpload, how, 1);
    let data = random_bytes(len, len as u64);
    fs::write(drive.path("big.bin"), &data).expect("write");
    drive.drain_within(SETTLE);
    assert_eq!(rule.remaining(), 0, "the completion's answer was lost");
    assert_eq!(drive.emu.keys(BUCKET, ""), ["big.bin"]);
    assert_eq!(drive.object("big.bin").expect("uploaded"), data);
    assert_eq!(drive.emu.open_multipart_uploads(), 0);
    assert_no_conflict(drive);
}

#[test]
fn a_completion_whose_answer_is_garbled_lands_once() {
    a_new_large_file_lands_once(&drive_with(&[]), LostAs::Garbled, 12 << 20);
}

#[test]
fn a_completion_whose_answers_are_reset_lands_once() {
    // The SDK retries a reset completion, which S3 then answers NoSuchUpload.
    a_new_large_file_lands_once(&drive_with(&[]), LostAs::Reset, 7 << 20);
}

#[test]
fn a_completion_that_never_answers_times_out_and_lands_once() {
    let mut opts = kms(DriveOptions::writable());
    let wb = opts.vfs.writeback.as_mut().expect("writable");
    wb.transfer.complete_timeout = Duration::from_secs(1);
    a_new_large_file_lands_once(&TestDrive::start_with(opts, |_| {}), LostAs::Stall, 7 << 20);
}

#[test]
fn an_edit_of_a_large_file_whose_completion_is_garbled_lands_once() {
    // Editing an existing object sends it without eager parts (untouched parts are copied).
    let old = random_bytes(11 << 20, 3);
    let drive = drive_with(&[("video.bin", &old)]);
    let rule = drive
        .emu
        .lose_answers(S3Op::CompleteMultipartUpload, LostAs::Garbled, 1);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(drive.path("video.bin"))
        .expect("open");
    std::os::unix::fs::FileExt::write_all_at(&f, b"patched", 6 << 20).expect("patch");
    drop(f);
    drive.drain_within(SETTLE);
    assert_eq!(rule.remaining(), 0);
    let mut want = old;
    want[6 << 20..(6 << 20) + 7].copy_from_slice(b"patched");
    assert_eq!(drive.emu.keys(BUCKET, ""), ["video.bin"]);
    assert_eq!(drive.object("video.bin").expect("uploaded"), want);
    assert_no_conflict(&drive);
}

#[test]
fn a_resumed_upload_recognises_the_object_it_wrote_before_the_crash() {
    // The test reads the token from the journal record, so this cache is kept in the clear.
    let mut clear = kms(DriveOptions::holding_uploads());
    clear.vfs.cache_key = None;
    let mut drive = TestDrive::start_with(clear, |_| {});
    let data = random_bytes(3 << 20, 4);
    fs::write(drive.path("report.bin"), &data).expect("write");
    // The upload landed, then the mount died before its journal said so: the object S3 holds
    // carries the token of the journaled version.
    let token = journaled_token(&drive);
    let mut opts = PutOptions::default();
    opts.metadata.insert(
        pail_store::TOKEN_METADATA_KEY.to_owned(),
        pail_store::format_token(token),
    );
    opts.sse = Some("aws:kms".into());
    drive
        .emu
        .put_with(BUCKET, "report.bin", data.clone(), opts)
        .expect("landed");
    let mut clear = kms(DriveOptions::writable());
    clear.vfs.cache_key = None;
    drive.remount_with(true, clear);
    drive.drain_within(SETTLE);
    assert_eq!(drive.emu.keys(BUCKET, ""), ["report.bin"]);
    assert_eq!(drive.object("report.bin").expect("there"), data);
    assert_no_conflict(&drive);
}

#[test]
fn a_crash_after_an_eager_completion_landed_resumes_without_a_copy() {
    let mut drive = TestDrive::start_with(kms(DriveOptions::writable()), |_| {});
    let rule = drive.emu.lose_answers(S3Op::CompleteMultipartUpload, LostAs::Stall, 1);
    let data = random_bytes(12 << 20, 8);
    fs::write(drive.path("movie.bin"), &data).expect("write");
    // The completion is applied; its answer never comes, and the mount dies waiting for it.
    assert!(rule.wait_applied(1, SETTLE), "the completion reached the server");
    drive.remount_with(true, kms(DriveOptions::writable()));
    drive.drain_within(SETTLE);
    assert_eq!(drive.emu.keys(BUCKET, ""), ["movie.bin"]);
    assert_eq!(drive.object("movie.bin").expect("there"), data);
    assert_no_conflict(&drive);
}

/// The token in the one journal record file of a large pending file.
fn journaled_token(drive: &TestDrive) -> u64 {
    let records: Vec<_> = fs::read_dir(drive.cache_dir().join("journal"))
        .expect("journal")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| serde_json::from_slice::<serde_json::Value>(&fs::read(p).ok()?).ok())
        .filter(|r| r["op"] == "upload")
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    records[0]["token"]
        .as_u64()
        .expect("the record names its upload's token")
}

#[test]
fn a_conflict_makes_one_copy_when_every_completion_is_garbled() {
    // moto's dialect: no completion answer can be read, ever.
    let old = random_bytes(6 << 20, 5);
    let mut drive = drive_with(&[("big.bin", &old)]);
    let rule = drive
        .emu
        .lose_answers(S3Op::CompleteMultipartUpload, LostAs::Garbled, u32::MAX);
    let mine = random_bytes(9 << 20, 6);
    save_while_changed_elsewhere(
        &drive.path("big.bin"),
        || {
            drive
                .emu
                .put(BUCKET, "big.bin", &b"a colleague's version"[..])
                .expect("server-side change");
        },
        &mine,
    );
    drive.drain_within(SETTLE);
    assert!(rule.remaining() < u32::MAX, "completions were garbled");
    let check = |drive: &TestDrive| {
        let keys = drive.emu.keys(BUCKET, "");
        assert_eq!(keys.len(), 2, "the file and one conflict copy: {keys:?}");
        let copy = keys.iter().find(|k| k.contains("(conflict ")).expect("a conflict copy");
        assert!(copy.starts_with("big (conflict ") && copy.ends_with(").bin"), "{copy}");
        assert_eq!(drive.object(copy).expect("copy"), mine);
        assert_eq!(drive.object("big.bin").expect("theirs"), b"a colleague's version");
    };
    check(&drive);
    assert_eq!(drive.vfs.writeback_status().conflicts.len(), 1);
    // A new mount of the same cache has nothing left to send, and sends nothing.
    drive.remount_with(true, kms(DriveOptions::writable()));
    drive.drain_within(SETTLE);
    check(&drive);
}

#[test]
fn a_rename_whose_copy_answer_is_garbled_moves_the_file_once() {
    let drive = drive_with(&[("draft.txt", b"text")]);
    let rule = drive.emu.lose_answers(S3Op::CopyObject, LostAs::Garbled, 1);
    fs::rename(drive.path("draft.txt"), drive.path("final.txt")).expect("rename succeeds");
    assert_eq!(rule.remaining(), 0);
    assert_eq!(drive.emu.keys(BUCKET, ""), ["final.txt"]);
    assert_eq!(drive.object("final.txt").expect("moved"), b"text");
}

#[test]
fn a_delete_whose_answers_are_all_lost_still_deletes() {
    let drive = drive_with(&[("old.txt", b"bye")]);
    let rule = drive
        .emu
        .lose_answers(S3Op::DeleteObject, LostAs::Reset, sdk_attempts(&drive));
    fs::remove_file(drive.path("old.txt")).expect("delete succeeds");
    assert_eq!(rule.remaining(), 0);
    assert!(drive.emu.keys(BUCKET, "").is_empty());
    assert!(!drive.path("old.txt").exists());
}

/// Runs `f` on a thread of its own and returns its result, or fails when it has not returned
/// within `limit` (a hang guard: a stalled call must fail the test, not hang it).
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        panic!("{what} still hangs after {limit:?}: a request that is never answered stalls the drive")
    })
}

/// A server that never answers a request (issue 18, bad input): the request times out and is
/// sent again, and the drive goes on. Here a read of a file and a part of a large upload each
/// meet one request that is applied but never answered.
#[test]
fn a_request_that_is_never_answered_is_sent_again_and_the_drive_goes_on() {
    let mut opts = kms(DriveOptions::writable());
    opts.answer_timeout = Some(Duration::from_secs(1));
    let drive = TestDrive::start_with(opts, |emu| {
        emu.put(BUCKET, "notes.txt", b"kept notes".to_vec()).expect("seed");
    });

    let read = drive.emu.lose_answers(S3Op::Other, LostAs::Stall, 1);
    let path = drive.path("notes.txt");
    let got = within(SETTLE, "a read", move || fs::read(path));
    assert_eq!(got.expect("read"), b"kept notes");
    assert_eq!(read.remaining(), 0, "a read request was stalled");

    let part = drive.emu.lose_answers(S3Op::UploadPart, LostAs::Stall, 1);
    let data = random_bytes(12 << 20, 21);
    let (path, sent) = (drive.path("big.bin"), data.clone());
    within(SETTLE, "a large write", move || fs::write(path, sent)).expect("write");
    drive.drain_within(SETTLE);
    assert!(part.wait_applied(1, SETTLE), "a part was stalled");
    assert_eq!(drive.object("big.bin").expect("uploaded"), data);
    assert_no_conflict(&drive);
}
