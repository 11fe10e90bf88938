//! WinFsp's directory test cases (`tst/winfsp-tests/dirctl-test.c` and `notify-test.c`),
//! ported by name and replayed through the WinFsp driver model onto pail's `WinVolume`, as
//! `winfsp_tests.rs` does for the create and info cases.

#[path = "winfsp_tests/mod.rs"]
#[allow(dead_code)] // shared by the three test binaries, which use different parts
mod kit;

use kit::win32::*;

#[tokio::test]
async fn querydir_test() {
    let t = Drive::new().await;
    let d = &t.d;
    create_directory(d, "\\dir1").await.expect("mkdir");
    for i in 0..10 {
        touch(d, &format!("\\dir1\\file{i}"), CREATE_NEW, 0)
            .await
            .expect("create");
    }
    create_directory(d, "\\dir1\\sub").await.expect("mkdir");
    let mut all = vec![".".to_owned(), "..".to_owned()];
    all.extend((0..10).map(|i| format!("file{i}")));
    all.push("sub".to_owned());
    assert_eq!(
        find_names(d, "\\dir1", "*").await,
        Ok(all),
        "resumed after markers, 3 a time"
    );
    assert_eq!(find_names(d, "\\dir1", "FILE1").await, Ok(vec!["file1".to_owned()]));
    assert_eq!(find_names(d, "\\dir1", "file?").await.map(|v| v.len()), Ok(10));
    assert_eq!(
        find_names(d, "\\", "*").await,
        Ok(vec!["dir1".to_owned()]),
        "no dots at the root"
    );
}

/// Once the listing cache expires (here at once: a TTL of zero, as WinFsp's DirInfoTimeout of
/// 0 in the original), a listing shows what another client changed, and still our own.
#[tokio::test]
async fn querydir_expire_cache_test() {
    let t = Drive::with_ttl(std::time::Duration::ZERO).await;
    let d = &t.d;
    touch(d, "\\mine", CREATE_NEW, 0).await.expect("create");
    assert_eq!(find_names(d, "\\", "*").await, Ok(vec!["mine".to_owned()]));
    t.emu.put(BUCKET, "theirs", &b"x"[..]).expect("another client");
    assert_eq!(
        find_names(d, "\\", "*").await,
        Ok(vec!["mine".to_owned(), "theirs".to_owned()])
    );
}

#[tokio::test]
async fn querydir_namelen_test() {
    let t = Drive::new().await;
    let d = &t.d;
    let names = ["n".repeat(255), "報".repeat(255), "😀".repeat(127)];
    for n in &names {
        touch(d, &format!("\\{n}"), CREATE_NEW, 0).await.expect("create");
    }
    t.settle().await;
    let (other, _cache) = t.remount().await;
    let mut listed = find_names(&other, "\\", "*").await.expect("list");
    listed.sort();
    let mut want = names.to_vec();
    want.sort();
    assert_eq!(listed, want, "long names listed whole, by another mount too");
}

/// dirnotify_test watches a folder (ReadDirectoryChangesW) while another process changes it.
/// On pail the changes come from another client of the bucket and are found when the folder
/// is listed again (here at once: a TTL of zero); they reach Windows as these notifications,
/// which the adapter's notify timer sends with `FspFileSystemNotify`.
#[tokio::test]
async fn dirnotify_test() {
    let t = Drive::with_ttl(std::time::Duration::ZERO).await;
    let d = &t.d;
    create_directory(d, "\\dir1").await.expect("mkdir");
    write_file(d, "\\dir1\\file0", b"zero").await.expect("write");
    write_file(d, "\\dir1\\file1", b"one").await.expect("write");
    t.settle().await;
    find_names(d, "\\dir1", "*").await.expect("list");
    let _ = d.vol.notifications(); // the drive's own changes before the first listing
    t.emu.put(BUCKET, "dir1/new.txt", &b"new"[..]).expect("added elsewhere");
    t.emu.delete(BUCKET, "dir1/file0").expect("removed elsewhere");
    t.emu
        .put(BUCKET, "dir1/file1", &b"one, longer"[..])
        .expect("changed elsewhere");
    t.emu
        .put(BUCKET, "dir1/sub/x", &b"x"[..])
        .expect("a folder added elsewhere");
    find_names(d, "\\dir1", "*").await.expect("list again");
    let got: Vec<(String, u32, u32)> = d
        .vol
        .notifications()
        .into_iter()
        .map(|n| (String::from_utf16_lossy(&n.name), n.action, n.filter))
        .collect();
    use pail_fs::WinNotify as N;
    assert_eq!(
        got,
        [
            ("\\dir1\\file0".to_owned(), N::REMOVED, N::CHANGE_FILE_NAME),
            (
                "\\dir1\\file1".to_owned(),
                N::MODIFIED,
                N::CHANGE_SIZE | N::CHANGE_LAST_WRITE
            ),
            ("\\dir1\\new.txt".to_owned(), N::ADDED, N::CHANGE_FILE_NAME),
            ("\\dir1\\sub".to_owned(), N::ADDED, N::CHANGE_DIR_NAME),
        ]
    );
    assert!(d.vol.notifications().is_empty(), "sent once");
}
