//! The write path end to end: programs write through a real FUSE mount, pail-fs stages and
//! uploads through pail-store over HTTP, and the test checks what pail-emulator holds.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use pail_tests::{BUCKET, DriveOptions, TestDrive, random_bytes, sha256_hex};

fn writable() -> TestDrive {
    TestDrive::start_with(DriveOptions::writable(), |_| {})
}

#[test]
fn a_written_file_lands_in_s3_and_reads_back_before_and_after() {
    let drive = writable();
    let data = random_bytes(3 << 20, 1);
    fs::write(drive.path("new.bin"), &data).expect("write");
    assert_eq!(
        fs::read(drive.path("new.bin")).expect("read back"),
        data,
        "local content visible"
    );
    drive.drain();
    assert_eq!(drive.object("new.bin").expect("uploaded"), data);
    let info = drive.emu.head(BUCKET, "new.bin").expect("head");
    assert!(info.metadata.contains_key("mtime"), "x-amz-meta-mtime kept: {info:?}");
    let names: Vec<_> = fs::read_dir(drive.root())
        .expect("list")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    assert_eq!(names, ["new.bin"]);
}

#[test]
fn random_writes_append_and_truncate_an_existing_object_without_downloading_it_first() {
    let original = random_bytes(5 << 20, 2);
    let seeded = original.clone();
    let drive = TestDrive::start_with(DriveOptions::writable(), move |emu| {
        emu.put(BUCKET, "doc.bin", seeded).expect("seed");
    });
    let mut expected = original.clone();
    {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(drive.path("doc.bin"))
            .expect("open for write");
        f.write_all_at(b"HELLO", 1_000_000).expect("pwrite");
        expected[1_000_000..1_000_005].copy_from_slice(b"HELLO");
    }
    {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(drive.path("doc.bin"))
            .expect("open for append");
        f.write_all(b"tail").expect("append");
        expected.extend_from_slice(b"tail");
    }
    drive.drain();
    assert_eq!(
        sha256_hex(&drive.object("doc.bin").expect("object")),
        sha256_hex(&expected)
    );

    let f = fs::OpenOptions::new()
        .write(true)
        .open(drive.path("doc.bin"))
        .expect("open");
    f.set_len(10).expect("truncate");
    f.set_len(20).expect("extend");
    drop(f);
    expected.truncate(10);
    expected.resize(20, 0);
    assert_eq!(fs::read(drive.path("doc.bin")).expect("read"), expected);
    drive.drain();
    assert_eq!(drive.object("doc.bin").expect("object"), expected);
}

#[test]
fn folders_files_and_renames_behave_like_a_disk() {
    let drive = writable();
    fs::create_dir(drive.path("a")).expect("mkdir");
    fs::create_dir(drive.path("a/empty")).expect("mkdir");
    fs::write(drive.path("a/one.txt"), b"one").expect("write");
    assert_eq!(
        fs::create_dir(drive.path("a")).expect_err("exists").kind(),
        std::io::ErrorKind::AlreadyExists
    );
    assert_eq!(
        fs::remove_dir(drive.path("a")).expect_err("not empty").raw_os_error(),
        Some(libc::ENOTEMPTY)
    );
    fs::rename(drive.path("a/one.txt"), drive.path("a/two.txt")).expect("rename pending file");
    drive.drain();
    assert_eq!(drive.object("a/two.txt").expect("uploaded at new name"), b"one");
    assert!(drive.object("a/one.txt").is_none());
    fs::rename(drive.path("a/two.txt"), drive.path("three.txt")).expect("rename uploaded file");
    assert_eq!(drive.object("three.txt").expect("copied"), b"one");
    assert!(drive.object("a/two.txt").is_none());

    fs::rename(drive.path("a"), drive.path("b")).expect("rename folder");
    drive.drain();
    assert!(drive.emu.head(BUCKET, "b/empty/").is_some(), "markers move too");
    assert!(drive.emu.keys(BUCKET, "a/").is_empty());
    fs::remove_dir(drive.path("b/empty")).expect("rmdir");
    fs::remove_file(drive.path("three.txt")).expect("unlink");
    assert!(drive.object("three.txt").is_none());

    let mut f = fs::File::create(drive.path("b/x")).expect("create");
    f.write_all(b"0123456789").expect("write");
    f.seek(SeekFrom::Start(2)).expect("seek");
    let mut two = [0u8; 2];
    let mut r = fs::File::open(drive.path("b/x")).expect("open while writing");
    r.seek(SeekFrom::Start(2)).expect("seek");
    r.read_exact(&mut two).expect("read while writing");
    assert_eq!(&two, b"23", "a file being written reads its local content");
    drop(f);
    drive.drain();
    assert_eq!(drive.object("b/x").expect("uploaded"), b"0123456789");
}

/// Issue 17 (POSIX answers): a file unlinked while open for writing stays readable and
/// writable through that descriptor, as on a disk (fstat too), and nothing of it reaches S3
/// again; the name is free at once.
#[test]
fn an_unlinked_file_stays_usable_through_its_open_descriptor() {
    use std::io::{Read, Seek, SeekFrom, Write};
    let drive = TestDrive::start_with(DriveOptions::writable(), |emu| {
        emu.put(BUCKET, "uploaded.txt", &b"on S3 already"[..]).expect("seed");
    });
    fs::write(drive.path("written.txt"), b"just written").expect("write");
    let mut old = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(drive.path("uploaded.txt"))
        .expect("open for writing");
    let mut new = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(drive.path("written.txt"))
        .expect("open for writing");
    for (name, file, content) in [
        ("uploaded.txt", &mut old, &b"on S3 already"[..]),
        ("written.txt", &mut new, &b"just written"[..]),
    ] {
        fs::remove_file(drive.path(name)).expect("unlink");
        assert!(!drive.path(name).exists(), "{name}: the name is gone");
        assert_eq!(file.metadata().expect("fstat").len(), content.len() as u64, "{name}");
        file.seek(SeekFrom::End(0)).expect("seek");
        file.write_all(b", and more").expect("write after unlink");
        file.seek(SeekFrom::Start(0)).expect("seek");
        let mut got = Vec::new();
        file.read_to_end(&mut got).expect("read after unlink");
        assert_eq!(got, [content, b", and more"].concat(), "{name}");
    }
    drop((old, new));
    drive.drain();
    assert_eq!(drive.emu.keys(BUCKET, ""), Vec::<String>::new(), "nothing comes back");
}

/// Issue 17 (POSIX answers): a folder's modification time moves on when an entry is created,
/// removed or renamed in it through the drive (S3 keeps no time for a prefix: for this mount),
/// as `make`, rsync and pjdfstest's parent-time checks expect.
#[test]
fn a_folders_time_moves_on_when_its_entries_change() {
    let drive = TestDrive::start_with(DriveOptions::writable(), |_| {});
    fs::create_dir(drive.path("d")).expect("mkdir");
    fs::create_dir(drive.path("e")).expect("mkdir");
    let mtime = |p: &str| fs::metadata(drive.path(p)).expect("stat").modified().expect("mtime");
    let (d0, e0) = (mtime("d"), mtime("e"));
    fs::write(drive.path("d/f.txt"), b"x").expect("create");
    let d1 = mtime("d");
    assert!(d1 > d0, "create: {d0:?} → {d1:?}");
    fs::rename(drive.path("d/f.txt"), drive.path("e/f.txt")).expect("rename");
    let (d2, e2) = (mtime("d"), mtime("e"));
    assert!(d2 >= d1 && e2 > e0, "rename: d {d1:?} → {d2:?}, e {e0:?} → {e2:?}");
    fs::remove_file(drive.path("e/f.txt")).expect("unlink");
    assert!(mtime("e") >= e2, "unlink");
    let listed = fs::read_dir(drive.path(""))
        .expect("list")
        .map(|e| e.expect("entry"))
        .find(|e| e.file_name() == "e")
        .expect("e listed");
    assert_eq!(
        listed.metadata().expect("stat").modified().expect("mtime"),
        mtime("e"),
        "listings agree"
    );
}
