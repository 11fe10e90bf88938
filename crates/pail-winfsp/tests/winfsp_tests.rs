//! WinFsp's own test cases (`tst/winfsp-tests/create-test.c` and `info-test.c` in the WinFsp
//! repository; the directory ones are in `winfsp_dirctl_tests.rs`), ported by name
//! and replayed through a model of the WinFsp driver ([`driver`]) onto pail's `WinVolume`, the
//! layer the adapter calls one-to-one, over HTTP against pail-emulator. Each test follows its
//! namesake's steps with the Win32 calls it makes ([`win32`]); where pail must answer
//! differently from NTFS or memfs (S3 keeps no folder attributes, pail has no POSIX rename
//! semantics), the test asserts pail's answer and says why.
//! Statuses are NTSTATUS; the Win32 error the original checks is in a comment.

#[path = "winfsp_tests/mod.rs"]
#[allow(dead_code)] // shared by the three test binaries, which use different parts
mod kit;

use kit::driver::*;
use kit::win32::*;

#[tokio::test]
async fn create_test() {
    let t = Drive::new().await;
    let d = &t.d;
    touch(d, "\\file0", CREATE_NEW, 0).await.expect("create new");
    assert_eq!(touch(d, "\\file0", CREATE_NEW, 0).await, Err(OBJECT_NAME_COLLISION)); // ERROR_FILE_EXISTS
    touch(d, "\\file0", OPEN_EXISTING, 0).await.expect("open existing");
    touch(d, "\\file0", CREATE_ALWAYS, FILE_ATTRIBUTE_HIDDEN)
        .await
        .expect("create always");
    touch(d, "\\file0", OPEN_EXISTING, FILE_FLAG_DELETE_ON_CLOSE)
        .await
        .expect("delete on close");
    assert_eq!(
        touch(d, "\\file0", OPEN_EXISTING, FILE_FLAG_DELETE_ON_CLOSE).await,
        Err(OBJECT_NAME_NOT_FOUND) // ERROR_FILE_NOT_FOUND
    );
    // Invalid names: an empty component, wildcards, a stream name not last.
    assert_eq!(touch(d, "\\\\\\file0", CREATE_NEW, 0).await, Err(OBJECT_NAME_INVALID));
    assert_eq!(touch(d, "\\file0*", CREATE_NEW, 0).await, Err(OBJECT_NAME_INVALID));
    assert_eq!(
        touch(d, "\\DOESNOTEXIST:foo\\file0*", CREATE_NEW, 0).await,
        Err(OBJECT_NAME_INVALID)
    );
    create_directory(d, "\\dir1").await.expect("mkdir");
    assert_eq!(create_directory(d, "\\dir1").await, Err(OBJECT_NAME_COLLISION));
    touch(d, "\\dir1\\file2", CREATE_NEW, 0).await.expect("file in folder");
    // DELETE_ON_CLOSE of a folder that is not empty: the open succeeds, the delete does not.
    let h = create_file(
        d,
        "\\dir1",
        GENERIC_READ | GENERIC_WRITE,
        SHARE_RW,
        OPEN_EXISTING,
        FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_DELETE_ON_CLOSE,
    )
    .await
    .expect("open folder delete-on-close");
    assert_eq!(d.close(h).await, Err(pail_fs::FsErrorKind::NotEmpty));
    touch(d, "\\dir1\\file2", OPEN_EXISTING, FILE_FLAG_DELETE_ON_CLOSE)
        .await
        .expect("delete file2");
    let h = create_file(
        d,
        "\\dir1",
        GENERIC_READ | GENERIC_WRITE,
        SHARE_RW,
        OPEN_EXISTING,
        FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_DELETE_ON_CLOSE,
    )
    .await
    .expect("open empty folder delete-on-close");
    d.close(h).await.expect("folder deleted");
    assert_eq!(
        touch(
            d,
            "\\dir1",
            OPEN_EXISTING,
            FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_DELETE_ON_CLOSE
        )
        .await,
        Err(OBJECT_NAME_NOT_FOUND)
    );
    // A trailing backslash names a folder only.
    assert_eq!(touch(d, "\\file0\\", CREATE_NEW, 0).await, Err(OBJECT_NAME_INVALID)); // ERROR_INVALID_NAME
    assert_eq!(create_directory(d, "\\dir1\\\\").await, Err(OBJECT_NAME_INVALID));
    create_directory(d, "\\dir1\\")
        .await
        .expect("mkdir with a trailing backslash");
    remove_directory(d, "\\dir1").await.expect("rmdir");
    touch(
        d,
        "\\file0",
        CREATE_NEW,
        0x100 /* TEMPORARY */ | FILE_FLAG_DELETE_ON_CLOSE,
    )
    .await
    .expect("temporary file");
    t.settle().await;
    assert_eq!(t.keys(), Vec::<String>::new(), "everything made was deleted");
}

/// Issue 19, defect 1: the volume is case-insensitive, so CREATE_NEW of `docs` beside `Docs`
/// (and CreateDirectory of `DIR` beside `dir`) collides instead of making a second key.
#[tokio::test]
async fn create_new_of_a_name_differing_only_in_case_collides() {
    let t = Drive::new().await;
    let d = &t.d;
    touch(d, "\\Docs", CREATE_NEW, 0).await.expect("create");
    create_directory(d, "\\Photos").await.expect("mkdir");
    assert_eq!(touch(d, "\\docs", CREATE_NEW, 0).await, Err(OBJECT_NAME_COLLISION));
    assert_eq!(touch(d, "\\PHOTOS", CREATE_NEW, 0).await, Err(OBJECT_NAME_COLLISION));
    assert_eq!(create_directory(d, "\\DOCS").await, Err(OBJECT_NAME_COLLISION));
    assert_eq!(create_directory(d, "\\photos").await, Err(OBJECT_NAME_COLLISION));
    // Unit-by-unit folding, as WinFsp compares: `STRAßE` is `straße`, not `STRASSE`.
    touch(d, "\\straße.txt", CREATE_NEW, 0).await.expect("create");
    assert_eq!(
        touch(d, "\\STRAßE.TXT", CREATE_NEW, 0).await,
        Err(OBJECT_NAME_COLLISION)
    );
    touch(d, "\\STRASSE.TXT", CREATE_NEW, 0)
        .await
        .expect("a different name");
    t.settle().await;
    assert_eq!(t.keys(), ["Docs", "Photos/", "STRASSE.TXT", "straße.txt"]);
}

#[tokio::test]
async fn create_fileattr_test() {
    let t = Drive::new().await;
    let d = &t.d;
    let cases = [
        (FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_ARCHIVE),
        (
            FILE_ATTRIBUTE_READONLY,
            FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_READONLY,
        ),
        (FILE_ATTRIBUTE_SYSTEM, FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_SYSTEM),
        (FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_HIDDEN),
    ];
    for (given, shown) in cases {
        touch(d, "\\file0", CREATE_NEW, given).await.expect("create new");
        assert_eq!(get_file_attributes(d, "\\file0").await, Ok(shown), "{given:#x}");
        set_file_attributes(d, "\\file0", FILE_ATTRIBUTE_NORMAL)
            .await
            .expect("normal");
        delete_file(d, "\\file0").await.expect("delete");
    }
    for (given, shown) in cases {
        touch(d, "\\file0", CREATE_ALWAYS, given).await.expect("create always");
        assert_eq!(get_file_attributes(d, "\\file0").await, Ok(shown), "{given:#x}");
        set_file_attributes(d, "\\file0", FILE_ATTRIBUTE_NORMAL)
            .await
            .expect("normal");
    }
    delete_file(d, "\\file0").await.expect("delete");
}

/// NTFS keeps a folder's READONLY bit and then refuses RemoveDirectory (ACCESS_DENIED). A
/// folder on S3 is a key prefix with nothing to keep attributes on, so pail accepts the bit
/// without effect: the folder shows no READONLY and removing it succeeds.
#[tokio::test]
async fn create_readonlydir_test() {
    let t = Drive::new().await;
    let d = &t.d;
    create_directory(d, "\\dir0").await.expect("mkdir");
    set_file_attributes(d, "\\dir0", FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_READONLY)
        .await
        .expect("set attributes");
    assert_eq!(
        get_file_attributes(d, "\\dir0").await,
        Ok(FILE_ATTRIBUTE_DIRECTORY),
        "pail: no folder attributes"
    );
    touch(d, "\\dir0\\file0", CREATE_NEW, 0).await.expect("a file in it");
    delete_file(d, "\\dir0\\file0").await.expect("delete");
    remove_directory(d, "\\dir0")
        .await
        .expect("pail: removed (NTFS: ACCESS_DENIED)");
}

#[tokio::test]
async fn create_share_test() {
    let t = Drive::new().await;
    let d = &t.d;
    let rw = GENERIC_READ | GENERIC_WRITE;
    touch(d, "\\file0", CREATE_NEW, 0).await.expect("create");
    let h1 = create_file(d, "\\file0", rw, SHARE_RW, OPEN_EXISTING, 0)
        .await
        .expect("first");
    let h2 = create_file(d, "\\file0", rw, SHARE_RW, OPEN_EXISTING, 0)
        .await
        .expect("second, both sharing");
    d.close(h1).await.expect("close");
    d.close(h2).await.expect("close");
    let h1 = create_file(d, "\\file0", rw, FILE_SHARE_READ, OPEN_EXISTING, 0)
        .await
        .expect("first");
    assert_eq!(
        create_file(d, "\\file0", rw, SHARE_RW, OPEN_EXISTING, 0).await.err(),
        Some(SHARING_VIOLATION), // ERROR_SHARING_VIOLATION: the first does not share write
    );
    d.close(h1).await.expect("close");
    let h1 = create_file(d, "\\file0", rw, SHARE_RW, OPEN_EXISTING, 0)
        .await
        .expect("first");
    assert_eq!(
        create_file(d, "\\file0", rw, FILE_SHARE_READ, OPEN_EXISTING, 0)
            .await
            .err(),
        Some(SHARING_VIOLATION), // the second does not share write with the first's writer
    );
    d.close(h1).await.expect("close");
    // WinFsp issue #364: overwriting a file another handle reads without sharing write.
    let h1 = create_file(d, "\\file0", GENERIC_READ, FILE_SHARE_READ, OPEN_EXISTING, 0)
        .await
        .expect("reader");
    assert_eq!(
        create_file(d, "\\file0", GENERIC_READ, FILE_SHARE_READ, CREATE_ALWAYS, 0)
            .await
            .err(),
        Some(SHARING_VIOLATION)
    );
    d.close(h1).await.expect("close");
    touch(d, "\\file0", OPEN_EXISTING, FILE_FLAG_DELETE_ON_CLOSE)
        .await
        .expect("delete on close");
    t.settle().await;
    assert_eq!(t.keys(), Vec::<String>::new());
}

#[tokio::test]
async fn create_namelen_test() {
    let t = Drive::new().await;
    let d = &t.d;
    let longest = format!("\\{}", "n".repeat(MAX_COMPONENT_LENGTH));
    touch(d, &longest, CREATE_NEW, 0).await.expect("255 units");
    let too_long = format!("\\{}", "n".repeat(MAX_COMPONENT_LENGTH + 1));
    assert_eq!(touch(d, &too_long, CREATE_NEW, 0).await, Err(OBJECT_NAME_INVALID));
    // 255 UTF-16 units of Japanese is 765 bytes of key: a valid Windows name (NAME_MAX's 255
    // bytes is Linux's limit, not Windows').
    let japanese = format!("\\{}", "報".repeat(MAX_COMPONENT_LENGTH));
    touch(d, &japanese, CREATE_NEW, 0)
        .await
        .expect("255 Japanese characters");
    assert_eq!(find_names(d, "\\", "*").await.expect("list").len(), 2);
    // A path past WinFsp's 1,024-unit limit never reaches the file system.
    let deep = "\\dddddddddd".repeat(103);
    assert_eq!(touch(d, &deep, CREATE_NEW, 0).await, Err(OBJECT_NAME_INVALID));
}

#[tokio::test]
async fn getfileinfo_name_test() {
    let t = Drive::new().await;
    let d = &t.d;
    create_directory(d, "\\Dir1").await.expect("mkdir");
    touch(d, "\\Dir1\\File0.TXT", CREATE_NEW, 0).await.expect("create");
    let h = create_file(d, "\\DIR1\\file0.txt", GENERIC_READ, SHARE_ALL, OPEN_EXISTING, 0)
        .await
        .expect("open in another case");
    assert_eq!(d.name(h), "\\Dir1\\File0.TXT", "the normalized name is the stored one");
    d.close(h).await.expect("close");
}

#[tokio::test]
async fn setfileinfo_test() {
    let t = Drive::new().await;
    let d = &t.d;
    let h = create_file(d, "\\file0", GENERIC_READ | GENERIC_WRITE, SHARE_RW, CREATE_NEW, 0)
        .await
        .expect("create");
    let attrs = pail_fs::BasicInfo {
        attributes: FILE_ATTRIBUTE_HIDDEN,
        ..pail_fs::BasicInfo::write_time(0)
    };
    let info = d.set_basic_info(h, attrs).await.expect("set attributes");
    assert_eq!(info.attributes, FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_HIDDEN);
    // 116444736000000000 + 0x4200000042: the original's times.
    let when = 116_444_736_000_000_000 + 0x42_0000_0042;
    let times = pail_fs::BasicInfo {
        creation_time: when,
        last_write_time: when,
        ..pail_fs::BasicInfo::write_time(0)
    };
    let info = d.set_basic_info(h, times).await.expect("set times");
    assert_eq!((info.creation_time, info.time), (when, when));
    let info = d.set_end_of_file(h, 42).await.expect("set end of file");
    assert_eq!(info.file_size, 42);
    d.close(h).await.expect("close");
    t.settle().await;
    // Another mount reads them from S3.
    let (other, _cache) = t.remount().await;
    let h = create_file(&other, "\\file0", GENERIC_READ, SHARE_ALL, OPEN_EXISTING, 0)
        .await
        .expect("open elsewhere");
    let info = other.info(h).await.expect("info");
    assert_eq!(info.attributes, FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_HIDDEN);
    assert_eq!((info.creation_time, info.time, info.file_size), (when, when, 42));
    other.close(h).await.expect("close");
}

#[tokio::test]
async fn delete_test() {
    let t = Drive::new().await;
    let d = &t.d;
    create_directory(d, "\\dir1").await.expect("mkdir");
    touch(d, "\\dir1\\file0", CREATE_NEW, 0).await.expect("create");
    assert_eq!(remove_directory(d, "\\dir1").await, Err(DIRECTORY_NOT_EMPTY)); // ERROR_DIR_NOT_EMPTY
    delete_file(d, "\\dir1\\file0").await.expect("delete");
    assert_eq!(delete_file(d, "\\dir1\\file0").await, Err(OBJECT_NAME_NOT_FOUND));
    remove_directory(d, "\\dir1").await.expect("rmdir");
    assert_eq!(remove_directory(d, "\\dir1").await, Err(OBJECT_NAME_NOT_FOUND));
    // delete_access_test: a read-only file cannot be deleted until it is made normal.
    touch(d, "\\file0", CREATE_NEW, FILE_ATTRIBUTE_READONLY)
        .await
        .expect("read-only file");
    assert_eq!(delete_file(d, "\\file0").await.map_err(win32_error), Err(5)); // ERROR_ACCESS_DENIED
    set_file_attributes(d, "\\file0", FILE_ATTRIBUTE_NORMAL)
        .await
        .expect("normal");
    delete_file(d, "\\file0").await.expect("delete");
    t.settle().await;
    assert_eq!(t.keys(), Vec::<String>::new());
}

#[tokio::test]
async fn delete_pending_test() {
    let t = Drive::new().await;
    let d = &t.d;
    touch(d, "\\file0", CREATE_NEW, 0).await.expect("create");
    let h = d
        .nt_create("\\file0", DELETE, FILE_SHARE_DELETE, FILE_OPEN, 0, 0)
        .await
        .expect("open for delete");
    d.set_disposition(h, true).await.expect("mark");
    let again = d.nt_create("\\file0", FILE_READ_ATTRIBUTES, 0, FILE_OPEN, 0, 0).await;
    assert_eq!(again.map_err(win32_error), Err(5)); // STATUS_DELETE_PENDING: ERROR_ACCESS_DENIED
    d.close(h).await.expect("close deletes");
    assert_eq!(delete_file(d, "\\file0").await, Err(OBJECT_NAME_NOT_FOUND));
}

/// delete_ex_test runs only where the volume reports FILE_SUPPORTS_POSIX_UNLINK_RENAME. pail's
/// does not (an S3 key cannot outlive its name while a handle reads it), so a file marked for
/// delete keeps its name until its last handle closes, as classic Windows deletes do.
#[tokio::test]
async fn delete_ex_test() {
    let t = Drive::new().await;
    let d = &t.d;
    write_file(d, "\\file", b"still readable").await.expect("write");
    let reader = create_file(d, "\\file", GENERIC_READ, SHARE_ALL, OPEN_EXISTING, 0)
        .await
        .expect("reader");
    delete_file(d, "\\file").await.expect("marked for delete");
    assert_eq!(
        find_names(d, "\\", "file").await,
        Ok(vec!["file".to_owned()]),
        "still listed"
    );
    assert_eq!(d.read(reader, 0, 64).await.expect("read"), b"still readable");
    assert_eq!(
        touch(d, "\\file", CREATE_NEW, 0).await,
        Err(DELETE_PENDING),
        "the name is taken until then"
    );
    d.close(reader).await.expect("last close deletes");
    assert_eq!(find_names(d, "\\", "*").await, Ok(vec![]));
}

#[tokio::test]
async fn rename_test() {
    let t = Drive::new().await;
    let d = &t.d;
    create_directory(d, "\\dir1").await.expect("mkdir");
    create_directory(d, "\\dir2").await.expect("mkdir");
    touch(d, "\\dir1\\file0", CREATE_NEW, 0).await.expect("create");
    move_file(d, "\\dir1\\file0", "\\dir1\\file1", false)
        .await
        .expect("rename");
    touch(d, "\\dir1\\file0", CREATE_NEW, 0).await.expect("create again");
    assert_eq!(
        move_file(d, "\\dir1\\file0", "\\dir1\\file1", false).await,
        Err(OBJECT_NAME_COLLISION) // ERROR_ALREADY_EXISTS
    );
    move_file(d, "\\dir1\\file0", "\\dir1\\file1", true)
        .await
        .expect("replace");
    move_file(d, "\\dir1\\file1", "\\dir2\\file2", false)
        .await
        .expect("move");
    assert_eq!(
        move_file(d, "\\dir2", "\\dir1", true).await,
        Err(ACCESS_DENIED),
        "never replaces a folder"
    );
    remove_directory(d, "\\dir1").await.expect("rmdir");
    move_file(d, "\\dir2", "\\dir1", false).await.expect("rename folder");
    move_file(d, "\\dir1", "\\dir2", false).await.expect("and back");
    let open = create_file(
        d,
        "\\dir2\\file2",
        GENERIC_READ | GENERIC_WRITE,
        SHARE_RW,
        OPEN_EXISTING,
        0,
    )
    .await
    .expect("open a file inside");
    assert_eq!(
        move_file(d, "\\dir2", "\\dir1", false).await,
        Err(ACCESS_DENIED),
        "a file inside is open"
    );
    d.close(open).await.expect("close");
    create_directory(d, "\\dir1").await.expect("mkdir");
    let open = create_file(
        d,
        "\\dir2\\file2",
        GENERIC_READ | GENERIC_WRITE,
        SHARE_RW,
        OPEN_EXISTING,
        0,
    )
    .await
    .expect("open a file inside the target");
    assert_eq!(move_file(d, "\\dir1", "\\dir2", true).await, Err(ACCESS_DENIED));
    d.close(open).await.expect("close");
    remove_directory(d, "\\dir1").await.expect("rmdir");
    delete_file(d, "\\dir2\\file2").await.expect("delete");
    remove_directory(d, "\\dir2").await.expect("rmdir");
    t.settle().await;
    assert_eq!(t.keys(), Vec::<String>::new());
}

#[tokio::test]
async fn rename_open_test() {
    let t = Drive::new().await;
    let d = &t.d;
    touch(d, "\\file0", CREATE_NEW, 0).await.expect("create");
    let h0 = d
        .nt_create("\\file0", DELETE, 0, FILE_OPEN, 0, 0)
        .await
        .expect("open for delete");
    let h1 = d
        .nt_create("\\file0", FILE_READ_ATTRIBUTES, 0, FILE_OPEN, 0, 0)
        .await
        .expect("attributes only: no share check");
    d.rename(h0, "\\file2", false)
        .await
        .expect("rename with another handle open");
    let h2 = d
        .nt_create("\\file2", FILE_READ_ATTRIBUTES, 0, FILE_OPEN, 0, 0)
        .await
        .expect("the new name opens");
    d.close(h2).await.expect("close");
    d.close(h1).await.expect("close");
    d.close(h0).await.expect("close");
    delete_file(d, "\\file2").await.expect("delete");
}

#[tokio::test]
async fn rename_caseins_test() {
    let t = Drive::new().await;
    let d = &t.d;
    create_directory(d, "\\dir1").await.expect("mkdir");
    move_file(d, "\\dir1", "\\dir1", false).await.expect("onto itself");
    move_file(d, "\\dir1", "\\DIR1", false).await.expect("a change of case");
    assert_eq!(find_names(d, "\\", "*").await, Ok(vec!["DIR1".to_owned()]));
    remove_directory(d, "\\DIR1").await.expect("rmdir");
    touch(d, "\\file1", CREATE_NEW, 0).await.expect("create");
    move_file(d, "\\file1", "\\file1", false).await.expect("onto itself");
    move_file(d, "\\file1", "\\FILE1", false)
        .await
        .expect("a change of case");
    t.settle().await;
    assert_eq!(t.keys(), ["FILE1"]);
    delete_file(d, "\\FILE1").await.expect("delete");
}

/// rename_ex_test exercises FileRenameInformationEx with POSIX semantics, which pail's volume
/// does not offer: replacing a target another handle holds open is refused (ACCESS_DENIED),
/// and the target keeps its content.
#[tokio::test]
async fn rename_ex_test() {
    let t = Drive::new().await;
    let d = &t.d;
    write_file(d, "\\file0", b"new").await.expect("write");
    write_file(d, "\\file1", b"old").await.expect("write");
    let open = create_file(d, "\\file1", GENERIC_READ, SHARE_ALL, OPEN_EXISTING, 0)
        .await
        .expect("target open");
    assert_eq!(move_file(d, "\\file0", "\\file1", true).await, Err(ACCESS_DENIED));
    assert_eq!(d.read(open, 0, 10).await.expect("read"), b"old");
    d.close(open).await.expect("close");
    move_file(d, "\\file0", "\\file1", true)
        .await
        .expect("replace once closed");
    t.settle().await;
    assert_eq!(t.keys(), ["file1"]);
}
