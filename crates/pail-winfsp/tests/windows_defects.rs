//! Issue 19's defects in the WinFsp adapter's core, each replayed through the WinFsp driver
//! model with the calls Windows makes, over HTTP against pail-emulator.

#[path = "winfsp_tests/mod.rs"]
#[allow(dead_code)] // shared by the three test binaries, which use different parts
mod kit;

use kit::driver::*;
use kit::win32::*;
use pail_fs::BasicInfo;

/// Defect 3: Explorer opens for MAXIMUM_ALLOWED, which WinFsp grants in full (write included);
/// such an open that only reads must not stage the file (a HEAD and a local copy per open).
#[tokio::test]
async fn an_open_for_maximum_allowed_stages_on_its_first_write_not_on_the_open() {
    let t = Drive::new().await;
    let d = &t.d;
    t.emu.put(BUCKET, "report.docx", &b"draft"[..]).expect("seed");
    let h = d
        .nt_create("\\report.docx", MAXIMUM_ALLOWED, SHARE_ALL, FILE_OPEN, 0, 0)
        .await
        .expect("open");
    assert_eq!(d.read(h, 0, 64).await.expect("read"), b"draft");
    assert!(!d.is_staged(h), "reading does not stage");
    assert_eq!(d.vol.vfs().writeback_status().staged_bytes, 0);
    d.write(h, 5, b" two").await.expect("the granted write works");
    assert!(d.is_staged(h), "the first write stages");
    d.close(h).await.expect("close");
    t.settle().await;
    assert_eq!(t.emu.head(BUCKET, "report.docx").expect("on S3").size, 9);
    // A read-only file: MAXIMUM_ALLOWED grants no write, and a write is refused.
    touch(d, "\\locked.txt", CREATE_NEW, FILE_ATTRIBUTE_READONLY)
        .await
        .expect("create");
    let h = d
        .nt_create("\\locked.txt", MAXIMUM_ALLOWED, SHARE_ALL, FILE_OPEN, 0, 0)
        .await
        .expect("open");
    assert_eq!(d.write(h, 0, b"x").await, Err(ACCESS_DENIED));
    d.close(h).await.expect("close");
}

/// Defect 4: every file had IndexNumber 0, so tools comparing file IDs saw one file.
#[tokio::test]
async fn files_have_distinct_index_numbers_that_stay_across_mounts() {
    let t = Drive::new().await;
    let d = &t.d;
    let mut ids = Vec::new();
    for name in ["\\a.txt", "\\b.txt", "\\A folder"] {
        if name.contains("folder") {
            create_directory(d, name).await.expect("mkdir");
        } else {
            touch(d, name, CREATE_NEW, 0).await.expect("create");
        }
        let h = d
            .nt_create(name, FILE_READ_ATTRIBUTES, SHARE_ALL, FILE_OPEN, 0, 0)
            .await
            .expect("open");
        ids.push(d.info(h).await.expect("info").index_number);
        d.close(h).await.expect("close");
    }
    assert!(ids.iter().all(|&id| id != 0), "{ids:?}");
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");
    t.settle().await;
    let (other, _cache) = t.remount().await;
    let h = other
        .nt_create("\\A.TXT", FILE_READ_ATTRIBUTES, SHARE_ALL, FILE_OPEN, 0, 0)
        .await
        .expect("open elsewhere, in another case");
    assert_eq!(other.info(h).await.expect("info").index_number, ids[0]);
    other.close(h).await.expect("close");
    // Directory entries carry the same number as the open file.
    let h = d
        .nt_create("\\", FILE_READ_DATA, SHARE_ALL, FILE_OPEN, FILE_DIRECTORY_FILE, 0)
        .await
        .expect("root");
    let listed = d.query_directory(h, "a.txt").await.expect("list");
    assert_eq!(listed[0].1.index_number, ids[0]);
    d.close(h).await.expect("close");
}

/// Defect 2: attributes and the creation time are kept (for this user and others, through a
/// rename), and a last-write time set through a handle is not overwritten by its later writes.
#[tokio::test]
async fn hidden_and_read_only_files_and_set_times_stay_so() {
    let t = Drive::new().await;
    let d = &t.d;
    touch(d, "\\notes.txt", CREATE_NEW, FILE_ATTRIBUTE_HIDDEN)
        .await
        .expect("hidden file");
    touch(d, "\\~$Report.docx", CREATE_NEW, FILE_ATTRIBUTE_HIDDEN)
        .await
        .expect("owner file");
    touch(d, "\\final.pdf", CREATE_NEW, FILE_ATTRIBUTE_READONLY)
        .await
        .expect("read-only file");
    move_file(d, "\\notes.txt", "\\kept notes.txt", false)
        .await
        .expect("rename");
    // SetFileTime, then more writes through the same handle (a copy tool's order).
    let when = pail_fs::to_filetime(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000));
    let h = create_file(d, "\\copied.bin", GENERIC_WRITE, 0, CREATE_NEW, 0)
        .await
        .expect("create");
    d.write(h, 0, b"first").await.expect("write");
    d.set_basic_info(h, BasicInfo::write_time(when))
        .await
        .expect("set time");
    d.write(h, 5, b" second").await.expect("write after");
    assert_eq!(d.info(h).await.expect("info").time, when, "kept through the write");
    d.close(h).await.expect("close");
    t.settle().await;

    let (other, _cache) = t.remount().await;
    let hidden = FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_HIDDEN;
    assert_eq!(
        get_file_attributes(&other, "\\kept notes.txt").await,
        Ok(hidden),
        "renamed, still hidden"
    );
    assert_eq!(
        get_file_attributes(&other, "\\final.pdf").await,
        Ok(FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_READONLY)
    );
    assert_eq!(delete_file(&other, "\\final.pdf").await, Err(CANNOT_DELETE));
    let h = other
        .nt_create("\\copied.bin", FILE_READ_ATTRIBUTES, SHARE_ALL, FILE_OPEN, 0, 0)
        .await
        .expect("open");
    assert_eq!(other.info(h).await.expect("info").time, when);
    other.close(h).await.expect("close");
    // A listing carries no metadata; Office's owner files still show hidden in it.
    let root = other
        .nt_create("\\", FILE_READ_DATA, SHARE_ALL, FILE_OPEN, FILE_DIRECTORY_FILE, 0)
        .await
        .expect("root");
    let listed = other.query_directory(root, "~$*").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1.attributes & FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_HIDDEN);
    other.close(root).await.expect("close");
}

/// Names only WinFsp can send (through `\\?\` paths or the NT API) get the statuses Windows
/// programs expect, and nothing reaches S3.
#[tokio::test]
async fn names_only_winfsp_can_send_are_refused_as_windows_expects() {
    let t = Drive::new().await;
    let d = &t.d;
    t.emu.put(BUCKET, "CON", &b"made by another tool"[..]).expect("seed");
    let refused = [
        "\\trailing dot.",
        "\\trailing space ",
        "\\dir.\\file",
        "\\CON.txt",
        "\\nul",
        "\\LPT1",
        "\\download.zip:Zone.Identifier",
        "\\download.zip:Zone.Identifier:$DATA",
    ];
    for name in refused {
        assert_eq!(touch(d, name, CREATE_NEW, 0).await, Err(OBJECT_NAME_INVALID), "{name}");
    }
    assert_eq!(create_directory(d, "\\com3").await, Err(OBJECT_NAME_INVALID));
    touch(d, "\\fine.txt", CREATE_NEW, 0).await.expect("create");
    assert_eq!(
        move_file(d, "\\fine.txt", "\\aux.txt", false).await,
        Err(OBJECT_NAME_INVALID)
    );
    let long = format!("\\{}", "x".repeat(256));
    assert_eq!(
        touch(d, &long, CREATE_NEW, 0).await,
        Err(OBJECT_NAME_INVALID),
        "256 units"
    );
    let deep = format!("{}\\f", "\\0123456789".repeat(93));
    assert_eq!(
        touch(d, &deep, CREATE_NEW, 0).await,
        Err(OBJECT_NAME_INVALID),
        "past 1,024 units"
    );
    // An existing key with a reserved name still opens (another tool made it).
    let h = create_file(d, "\\CON", GENERIC_READ, SHARE_ALL, OPEN_EXISTING, 0)
        .await
        .expect("existing CON opens");
    assert_eq!(d.read(h, 0, 64).await.expect("read"), b"made by another tool");
    d.close(h).await.expect("close");
    t.settle().await;
    assert_eq!(t.keys(), ["CON", "fine.txt"]);
}

/// A folder rename copies every key inside; WinFsp fails a callback after its request
/// timeout, so the rename answers once the move is journaled and the keys move in the
/// background. Meanwhile the folder shows under its new name, names inside answer "busy"
/// (Explorer offers to try again) instead of holding a WinFsp thread, and `pail status` shows
/// the move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_rename_answers_at_once_and_its_keys_move_in_the_background() {
    use std::time::Duration;
    let t = Drive::new().await;
    let d = &t.d;
    for i in 0..40 {
        t.emu
            .put(
                BUCKET,
                &format!("Projects/plan {i:02}.txt"),
                format!("plan {i}").into_bytes(),
            )
            .expect("seed");
    }
    let held = t.emu.hold(pail_emulator::S3Op::CopyObject);
    let renamed = tokio::time::timeout(Duration::from_secs(60), move_file(d, "\\Projects", "\\Archive", false))
        .await
        .expect("the rename answered while every copy was held back");
    renamed.expect("renamed");
    let started = held.clone();
    let started = tokio::task::spawn_blocking(move || started.wait_arrived(1, Duration::from_secs(30)));
    assert!(started.await.expect("wait"), "the move started");
    assert_eq!(find_names(d, "\\", "*").await, Ok(vec!["Archive".to_owned()]));
    assert_eq!(
        get_file_attributes(d, "\\Archive").await,
        Ok(FILE_ATTRIBUTE_DIRECTORY),
        "the folder itself answers at once"
    );
    assert_eq!(
        touch(d, "\\Archive\\plan 07.txt", OPEN_EXISTING, 0).await,
        Err(SHARING_VIOLATION)
    );
    assert_eq!(
        touch(d, "\\Projects\\plan 07.txt", OPEN_EXISTING, 0).await,
        Err(SHARING_VIOLATION)
    );
    assert_eq!(
        move_file(d, "\\Archive", "\\Other", false).await,
        Err(SHARING_VIOLATION)
    );
    let status = d.vol.vfs().writeback_status();
    assert_eq!(status.moving_folders.len(), 1, "{status:?}");
    assert!(status.moving_folders[0].contains("Projects") && status.moving_folders[0].contains("Archive"));
    held.release();
    t.settle().await;
    let keys = t.keys();
    assert_eq!(keys.len(), 40);
    assert!(keys.iter().all(|k| k.starts_with("Archive/")), "{keys:?}");
    let h = create_file(d, "\\Archive\\plan 07.txt", GENERIC_READ, SHARE_ALL, OPEN_EXISTING, 0)
        .await
        .expect("open after the move");
    assert_eq!(d.read(h, 0, 64).await.expect("read"), b"plan 7");
    d.close(h).await.expect("close");
    assert!(d.vol.vfs().writeback_status().moving_folders.is_empty());
}
