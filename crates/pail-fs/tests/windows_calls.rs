//! The call sequences Windows sends through WinFsp, replayed on [`WinVolume`] (the layer the
//! WinFsp adapter calls one-to-one) over pail-store and HTTP against pail-emulator, then checked
//! in S3 and through a fresh mount. Names are given as WinFsp passes them: UTF-16 with `\`.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use pail_emulator::Emulator;
use pail_fs::{
    BasicInfo, CleanupFlags, FILE_ATTRIBUTE_DIRECTORY, FILE_DIRECTORY_FILE, FsErrorKind, NameEncoding, Vfs, VfsConfig,
    VfsPath, WRITE_ACCESS, WinFile, WinVolume, WritebackConfig, path_from_wide, to_filetime,
};
use pail_store::{S3Store, S3StoreConfig};

const BUCKET: &str = "windows";
/// DELETE access: what Explorer asks for to delete or rename.
const DELETE_ACCESS: u32 = 0x0001_0000;
const READ_ACCESS: u32 = 0x0001;

struct Drive {
    emu: Emulator,
    vol: WinVolume,
    _cache: tempfile::TempDir,
}

async fn store(emu: &Emulator) -> Arc<S3Store> {
    let (ak, sk) = emu.credentials();
    let cfg = S3StoreConfig::for_endpoint(BUCKET, &emu.endpoint(), pail_emulator::REGION, ak, sk);
    Arc::new(S3Store::new(cfg).await.expect("store"))
}

async fn volume(emu: &Emulator, cache: &std::path::Path) -> WinVolume {
    let mut wb = WritebackConfig::new(cache);
    wb.delay = Duration::ZERO;
    let cfg = VfsConfig {
        names: NameEncoding::Windows,
        writeback: Some(wb),
        ..VfsConfig::default()
    };
    WinVolume::new(Vfs::new(store(emu).await, cfg).expect("vfs"), "Documents")
}

async fn drive() -> Drive {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    let cache = tempfile::tempdir().expect("cache");
    let vol = volume(&emu, cache.path()).await;
    Drive {
        emu,
        vol,
        _cache: cache,
    }
}

impl Drive {
    /// A second mount with an empty cache: what S3 holds.
    async fn remount(&self) -> (WinVolume, tempfile::TempDir) {
        let cache = tempfile::tempdir().expect("cache");
        (volume(&self.emu, cache.path()).await, cache)
    }

    async fn settle(&self) {
        self.vol.vfs().drain(&|_| {}).await;
    }

    fn keys(&self) -> Vec<String> {
        self.emu.keys(BUCKET, "")
    }
}

/// `\Docs\a.txt` as WinFsp passes it.
fn win(name: &str) -> VfsPath {
    let wide: Vec<u16> = name.encode_utf16().collect();
    path_from_wide(&wide).expect("a valid Windows name")
}

/// CreateFile(CREATE_NEW) + WriteFile in chunks + CloseHandle, as most programs write.
async fn write_new(vol: &WinVolume, name: &str, data: &[u8]) {
    let (f, _) = vol.create(&win(name), 0, 0).await.expect("create");
    for (i, chunk) in data.chunks(64 * 1024).enumerate() {
        let (n, _) = vol
            .write(&f, chunk, (i * 64 * 1024) as u64, false, false)
            .await
            .expect("write");
        assert_eq!(n as usize, chunk.len());
    }
    close(vol, f, false).await;
}

async fn close(vol: &WinVolume, f: WinFile, delete: bool) {
    vol.cleanup(&f, CleanupFlags { delete }).await.expect("cleanup");
    vol.close(f);
}

async fn read_whole(vol: &WinVolume, name: &str) -> Vec<u8> {
    let (f, info) = vol.open(&win(name), READ_ACCESS).await.expect("open");
    let mut out = Vec::new();
    loop {
        let chunk = vol.read(&f, out.len() as u64, 64 * 1024).await.expect("read");
        if chunk.is_empty() {
            break;
        }
        out.extend_from_slice(&chunk);
    }
    assert_eq!(out.len() as u64, info.file_size, "{name}: size as reported");
    close(vol, f, false).await;
    out
}

/// Deletes as Explorer does: open with DELETE access, SetDelete, Cleanup with the delete flag.
async fn explorer_delete(vol: &WinVolume, name: &str) -> Result<(), FsErrorKind> {
    let (f, _) = vol.open(&win(name), DELETE_ACCESS).await.map_err(|e| e.kind())?;
    let marked = vol.set_delete(&f, true).await.map_err(|e| e.kind());
    close(vol, f, marked.is_ok()).await;
    marked
}

async fn rename(vol: &WinVolume, from: &str, to: &str, replace: bool) -> Result<(), FsErrorKind> {
    let (f, _) = vol.open(&win(from), DELETE_ACCESS).await.map_err(|e| e.kind())?;
    let renamed = vol.rename(&f, &win(to), replace).await.map_err(|e| e.kind());
    close(vol, f, false).await;
    renamed
}

async fn names_in(vol: &WinVolume, dir: &str, marker: Option<&str>) -> Vec<String> {
    let (d, _) = vol.open(&win(dir), READ_ACCESS).await.expect("open folder");
    let names = vol
        .read_directory(&d, marker)
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    vol.close(d);
    names
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn explorer_copy_in_of_a_folder_keeps_contents_and_times() {
    let d = drive().await;
    let mtime = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
    let (top, info) = d
        .vol
        .create(&win("\\Photos 2026"), FILE_DIRECTORY_FILE, 0)
        .await
        .expect("mkdir");
    assert_eq!(info.attributes & FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_DIRECTORY);
    close(&d.vol, top, false).await;
    let (sub, _) = d
        .vol
        .create(&win("\\Photos 2026\\Trip"), FILE_DIRECTORY_FILE, 0)
        .await
        .expect("mkdir");
    close(&d.vol, sub, false).await;
    let files = [
        ("\\Photos 2026\\cover.jpg", pattern(300_000, 1)),
        ("\\Photos 2026\\Trip\\day 1.jpg", pattern(1_000_000, 2)),
        ("\\Photos 2026\\Trip\\empty.txt", Vec::new()),
    ];
    for (name, data) in &files {
        // Explorer: create, reserve the size, write, stamp the source's time, close.
        let (f, _) = d.vol.create(&win(name), 0, 0).await.expect("create");
        let reserved = d
            .vol
            .set_file_size(&f, data.len() as u64, true)
            .await
            .expect("allocation size");
        assert_eq!(reserved.file_size, 0, "allocation does not change the end of file");
        for (i, chunk) in data.chunks(1 << 20).enumerate() {
            d.vol
                .write(&f, chunk, (i << 20) as u64, false, false)
                .await
                .expect("write");
        }
        let stamped = d
            .vol
            .set_basic_info(&f, &BasicInfo::write_time(to_filetime(mtime)))
            .await
            .expect("set times");
        assert_eq!(stamped.file_size, data.len() as u64);
        close(&d.vol, f, false).await;
    }
    d.settle().await;
    let keys = d.keys();
    for key in [
        "Photos 2026/",
        "Photos 2026/Trip/",
        "Photos 2026/cover.jpg",
        "Photos 2026/Trip/day 1.jpg",
        "Photos 2026/Trip/empty.txt",
    ] {
        assert!(keys.contains(&key.to_owned()), "{key} in {keys:?}");
    }
    let (fresh, _cache) = d.remount().await;
    for (name, data) in &files {
        assert_eq!(&read_whole(&fresh, name).await, data, "{name}");
        let (f, info) = fresh.open(&win(name), READ_ACCESS).await.expect("open");
        assert_eq!(info.time, to_filetime(mtime), "{name}: the source's time was kept");
        fresh.close(f);
    }
}

#[tokio::test]
async fn explorer_delete_removes_files_and_refuses_a_folder_that_is_not_empty() {
    let d = drive().await;
    d.emu.put(BUCKET, "old/a.txt", &b"a"[..]).expect("seed");
    d.emu.put(BUCKET, "old/b.txt", &b"b"[..]).expect("seed");
    assert_eq!(explorer_delete(&d.vol, "\\old").await, Err(FsErrorKind::NotEmpty));
    assert_eq!(explorer_delete(&d.vol, "\\OLD\\A.TXT").await, Ok(()), "any case");
    assert_eq!(explorer_delete(&d.vol, "\\old\\b.txt").await, Ok(()));
    assert_eq!(explorer_delete(&d.vol, "\\old").await, Ok(()));
    assert_eq!(explorer_delete(&d.vol, "\\").await, Err(FsErrorKind::AccessDenied));
    d.settle().await;
    assert!(d.keys().is_empty(), "{:?}", d.keys());
    // A file created with FILE_DELETE_ON_CLOSE (a program's scratch file) never reaches S3.
    let (f, _) = d.vol.create(&win("\\scratch.tmp"), 0, 0).await.expect("create");
    d.vol.write(&f, b"scratch", 0, false, false).await.expect("write");
    close(&d.vol, f, true).await;
    d.settle().await;
    assert!(d.keys().is_empty(), "{:?}", d.keys());
}

#[tokio::test]
async fn office_save_through_temp_files_leaves_only_the_new_document() {
    let d = drive().await;
    d.emu.put(BUCKET, "Reports/Q3.docx", pattern(50_000, 7)).expect("seed");
    let saved = pattern(80_000, 9);
    // Word: write the new version to a temp file, move the original aside, move the temp file
    // to the original name, delete the original.
    write_new(&d.vol, "\\Reports\\~WRD0001.tmp", &saved).await;
    rename(&d.vol, "\\Reports\\Q3.docx", "\\Reports\\~WRL0001.tmp", false)
        .await
        .expect("original aside");
    rename(&d.vol, "\\Reports\\~WRD0001.tmp", "\\Reports\\Q3.docx", false)
        .await
        .expect("temp to original");
    explorer_delete(&d.vol, "\\Reports\\~WRL0001.tmp")
        .await
        .expect("delete backup");
    // Excel: write a temp file and move it over the workbook (MOVEFILE_REPLACE_EXISTING).
    d.emu
        .put(BUCKET, "Reports/Budget.xlsx", pattern(10_000, 3))
        .expect("seed");
    let book = pattern(12_345, 4);
    write_new(&d.vol, "\\Reports\\5C3E1A20", &book).await;
    assert_eq!(
        rename(&d.vol, "\\Reports\\5C3E1A20", "\\Reports\\budget.XLSX", false).await,
        Err(FsErrorKind::Exists),
        "without replace, an existing name (in any case) is a collision"
    );
    rename(&d.vol, "\\Reports\\5C3E1A20", "\\Reports\\budget.XLSX", true)
        .await
        .expect("replace");
    d.settle().await;
    assert_eq!(d.keys(), ["Reports/Budget.xlsx", "Reports/Q3.docx"], "stored case kept");
    assert_eq!(d.emu.get(BUCKET, "Reports/Q3.docx").await.expect("doc"), saved);
    assert_eq!(d.emu.get(BUCKET, "Reports/Budget.xlsx").await.expect("book"), book);
    assert_eq!(
        names_in(&d.vol, "\\reports", None).await,
        [".", "..", "Budget.xlsx", "Q3.docx"]
    );
}

#[tokio::test]
async fn notepad_save_over_a_longer_file_leaves_exactly_the_new_text() {
    let d = drive().await;
    d.emu
        .put(BUCKET, "notes.txt", &b"a long first version of the notes\r\n"[..])
        .expect("seed");
    // Notepad: CreateFile(CREATE_ALWAYS) on the existing file → Open + Overwrite, then write.
    let (f, _) = d
        .vol
        .open(&win("\\Notes.TXT"), READ_ACCESS | WRITE_ACCESS)
        .await
        .expect("open");
    assert_eq!(
        f.path(),
        VfsPath::new("notes.txt"),
        "the stored name is the normalized name"
    );
    assert_eq!(d.vol.overwrite(&f, 0, false).await.expect("overwrite").file_size, 0);
    d.vol.write(&f, b"short\r\n", 0, false, false).await.expect("write");
    // Write-to-end-of-file (FILE_APPEND_DATA) lands at the end; paging I/O never extends.
    let (_, info) = d.vol.write(&f, b"more", 0, true, false).await.expect("append");
    assert_eq!(info.file_size, 11);
    let (n, info) = d.vol.write(&f, b"paging", 11, false, true).await.expect("constrained");
    assert_eq!((n, info.file_size), (0, 11), "constrained I/O does not extend");
    // FlushFileBuffers returns once S3 has the data.
    d.vol.flush(&f).await.expect("flush");
    assert_eq!(
        d.emu.get(BUCKET, "notes.txt").await.expect("object"),
        &b"short\r\nmore"[..]
    );
    close(&d.vol, f, false).await;
    // A read-only open that is then overwritten (TRUNCATE_EXISTING) writes too.
    let (f, _) = d.vol.open(&win("\\notes.txt"), READ_ACCESS).await.expect("open");
    d.vol.overwrite(&f, 0, false).await.expect("overwrite");
    d.vol.write(&f, b"v3", 0, false, false).await.expect("write");
    close(&d.vol, f, false).await;
    d.settle().await;
    assert_eq!(d.emu.get(BUCKET, "notes.txt").await.expect("object"), &b"v3"[..]);
}

#[tokio::test]
async fn move_across_folders_and_a_change_of_case() {
    let d = drive().await;
    d.emu.put(BUCKET, "In/x.txt", &b"x"[..]).expect("seed");
    d.emu.put(BUCKET, "In/sub/y.txt", &b"y"[..]).expect("seed");
    d.emu.put(BUCKET, "Out/x.txt", &b"old x"[..]).expect("seed");
    assert_eq!(
        rename(&d.vol, "\\in\\x.txt", "\\out\\x.txt", false).await,
        Err(FsErrorKind::Exists)
    );
    rename(&d.vol, "\\in\\x.txt", "\\out\\X.TXT", true)
        .await
        .expect("move over");
    rename(&d.vol, "\\in\\sub", "\\out\\Sub", false)
        .await
        .expect("move a folder");
    rename(&d.vol, "\\out\\x.txt", "\\out\\Final.txt", false)
        .await
        .expect("rename");
    rename(&d.vol, "\\out\\final.txt", "\\out\\FINAL.txt", false)
        .await
        .expect("change of case only");
    assert_eq!(
        rename(&d.vol, "\\out\\FINAL.txt", "\\nowhere\\f.txt", false).await,
        Err(FsErrorKind::PathNotFound)
    );
    d.emu.put(BUCKET, "Out/folder/keep", &b"k"[..]).expect("seed");
    assert_eq!(
        rename(&d.vol, "\\out\\FINAL.txt", "\\out\\folder", true).await,
        Err(FsErrorKind::AccessDenied),
        "a folder is never replaced by a file"
    );
    d.settle().await;
    assert_eq!(d.keys(), ["Out/FINAL.txt", "Out/Sub/y.txt", "Out/folder/keep"]);
    assert_eq!(d.emu.get(BUCKET, "Out/FINAL.txt").await.expect("moved"), &b"x"[..]);
}

#[tokio::test]
async fn a_listing_resumes_after_its_marker_in_a_folder_of_5000() {
    let d = drive().await;
    let mut expected: Vec<String> = (0..5000).map(|i| format!("file {i:05}.txt")).collect();
    for name in &expected {
        d.emu.put(BUCKET, &format!("big/{name}"), &b"."[..]).expect("seed");
    }
    let all = names_in(&d.vol, "\\Big", None).await;
    assert_eq!(&all[..2], [".", ".."]);
    assert_eq!(&all[2..], &expected[..]);
    // WinFsp's loop: fill a buffer, then ask again after the last name returned.
    let mut seen: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let batch = names_in(&d.vol, "\\big", marker.as_deref()).await;
        let fits = batch.len().min(700);
        if fits == 0 {
            break;
        }
        marker = Some(batch[fits - 1].clone());
        seen.extend(batch.into_iter().take(fits));
    }
    assert_eq!(seen, all, "every entry once, in order");
    // Resuming in the middle, with the marker's own entry deleted meanwhile.
    let middle = expected[2500].clone();
    explorer_delete(&d.vol, &format!("\\big\\{middle}"))
        .await
        .expect("delete");
    expected.remove(2500);
    let rest = names_in(&d.vol, "\\big", Some(&middle)).await;
    assert_eq!(rest, &expected[2500..]);
    assert_eq!(names_in(&d.vol, "\\big", Some(".")).await[0], "..");
    assert!(
        names_in(&d.vol, "\\", None).await.iter().all(|n| n != "."),
        "no dots at the root"
    );
}

#[tokio::test]
async fn names_resolve_ignoring_case_and_keep_what_was_typed_for_new_files() {
    let d = drive().await;
    d.emu.put(BUCKET, "Docs/ReadMe.txt", &b"read me"[..]).expect("seed");
    assert_eq!(read_whole(&d.vol, "\\DOCS\\README.TXT").await, b"read me");
    write_new(&d.vol, "\\docs\\New Plan.txt", b"plan").await;
    // A name with characters Windows forbids, shown as fullwidth look-alikes, is stored with
    // the original ASCII, as rclone stores it.
    write_new(&d.vol, "\\docs\\why\u{FF1F} \u{FF1C}draft\u{FF1E}.txt", b"odd").await;
    d.settle().await;
    let keys = d.keys();
    assert!(keys.contains(&"Docs/New Plan.txt".to_owned()), "{keys:?}");
    assert!(keys.contains(&"Docs/why? <draft>.txt".to_owned()), "{keys:?}");
    let (fresh, _cache) = d.remount().await;
    assert_eq!(
        read_whole(&fresh, "\\docs\\WHY\u{FF1F} \u{FF1C}DRAFT\u{FF1E}.TXT").await,
        b"odd"
    );
}

#[tokio::test]
async fn missing_paths_and_bad_names_get_the_errors_windows_expects() {
    let d = drive().await;
    d.emu.put(BUCKET, "file.txt", &b"f"[..]).expect("seed");
    let kind = |r: pail_fs::FsResult<(WinFile, pail_fs::WinInfo)>| r.map(|_| ()).map_err(|e| e.kind());
    assert_eq!(
        kind(d.vol.open(&win("\\nothing.txt"), READ_ACCESS).await),
        Err(FsErrorKind::NotFound)
    );
    assert_eq!(
        kind(d.vol.open(&win("\\no folder\\x.txt"), READ_ACCESS).await),
        Err(FsErrorKind::PathNotFound)
    );
    assert_eq!(
        kind(d.vol.open(&win("\\file.txt\\x.txt"), READ_ACCESS).await),
        Err(FsErrorKind::PathNotFound),
        "a file on the way is not a folder"
    );
    assert_eq!(
        kind(d.vol.create(&win("\\no folder\\x.txt"), 0, 0).await),
        Err(FsErrorKind::PathNotFound)
    );
    // Four folders of 250 characters, then a name that takes the key past S3's 1,024 bytes.
    let mut deep = String::new();
    for c in ['a', 'b', 'c', 'd'] {
        deep = format!("{deep}\\{}", c.to_string().repeat(250));
        let (f, _) = d.vol.create(&win(&deep), FILE_DIRECTORY_FILE, 0).await.expect("mkdir");
        d.vol.close(f);
    }
    assert_eq!(
        kind(
            d.vol
                .create(&win(&format!("{deep}\\{}.txt", "n".repeat(30))), 0, 0)
                .await
        ),
        Err(FsErrorKind::NameTooLong),
        "longer than an S3 key"
    );
    let (dir, _) = d.vol.open(&win("\\"), READ_ACCESS).await.expect("root");
    assert_eq!(
        d.vol.read(&dir, 0, 10).await.expect_err("read a folder").kind(),
        FsErrorKind::IsADirectory
    );
    d.vol.close(dir);
    let (f, _) = d.vol.open(&win("\\file.txt"), READ_ACCESS).await.expect("open");
    assert!(
        d.vol.read(&f, 1, 10).await.expect("at the end").is_empty(),
        "end of file"
    );
    d.vol.close(f);
}

/// Issue 20: full-width dots are how Windows names show the keys `.` and `..`, so creating
/// them would make keys no listing can show (or that walk out of a folder).
#[tokio::test]
async fn names_that_would_become_dot_keys_are_refused() {
    let d = drive().await;
    let (dir, _) = d
        .vol
        .create(&win("\\docs"), FILE_DIRECTORY_FILE, 0)
        .await
        .expect("mkdir");
    d.vol.close(dir);
    for name in ["\\\u{ff0e}", "\\.\u{ff0e}", "\\docs\\.\u{ff0e}"] {
        for attrs in [0, FILE_DIRECTORY_FILE] {
            let made = d.vol.create(&win(name), attrs, 0).await.map(|_| ());
            assert_eq!(made.map_err(|e| e.kind()), Err(FsErrorKind::InvalidName), "{name}");
        }
    }
    d.settle().await;
    assert_eq!(d.keys(), ["docs/"]);
}

#[tokio::test]
async fn the_volume_shows_the_drive_name_and_takes_a_new_label() {
    let d = drive().await;
    assert_eq!(d.vol.volume_info().label, "Documents");
    let info = d
        .vol
        .set_volume_label("A label far longer than Windows keeps for a volume");
    assert_eq!(info.label, "A label far longer than Windows ");
    assert_eq!(info.label.encode_utf16().count(), 32);
    assert!(info.total_size >= info.free_size && info.free_size > 0);
}

#[tokio::test]
async fn explorer_delete_while_s3_is_unreachable_keeps_the_file_and_its_last_writes() {
    // Cleanup cannot fail towards Windows, so a delete S3 cannot take must leave the file as it
    // was: the edit still pending, not dropped while S3 keeps the older version.
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    emu.put(BUCKET, "doc.txt", &b"version 1"[..]).expect("seed");
    let cache = tempfile::tempdir().expect("cache");
    let (ak, sk) = emu.credentials();
    let mut store_cfg = S3StoreConfig::for_endpoint(BUCKET, &emu.endpoint(), pail_emulator::REGION, ak, sk);
    // Each request fails at once instead of after the SDK's retries.
    store_cfg.max_attempts = 1;
    let mut wb = WritebackConfig::new(cache.path());
    // The edit stays pending until the drive is drained.
    wb.delay = Duration::from_secs(3600);
    let cfg = VfsConfig {
        names: NameEncoding::Windows,
        writeback: Some(wb),
        ..VfsConfig::default()
    };
    let store = Arc::new(S3Store::new(store_cfg).await.expect("store"));
    let vol = WinVolume::new(Vfs::new(store, cfg).expect("vfs"), "Documents");

    let (f, _) = vol.open(&win("\\doc.txt"), WRITE_ACCESS).await.expect("open");
    vol.write(&f, b"version 2", 0, false, false).await.expect("write");
    close(&vol, f, false).await;
    emu.set_faults(pail_emulator::Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    let (f, _) = vol.open(&win("\\doc.txt"), DELETE_ACCESS).await.expect("open");
    vol.set_delete(&f, true).await.expect("marked");
    let deleted = vol.cleanup(&f, CleanupFlags { delete: true }).await;
    vol.close(f);
    assert!(deleted.is_err(), "the adapter logs it: {deleted:?}");
    assert_eq!(read_whole(&vol, "\\doc.txt").await, b"version 2");

    emu.set_faults(pail_emulator::Faults::default());
    vol.vfs().drain(&|_| {}).await;
    assert_eq!(emu.keys(BUCKET, ""), ["doc.txt"]);
    assert_eq!(emu.get(BUCKET, "doc.txt").await.as_deref(), Some(&b"version 2"[..]));
}
