//! The read path end to end: a real FUSE mount, through aws-sdk-s3 over HTTP, against
//! pail-emulator. Each test seeds the bucket, then reads the mount with `std::fs`.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::time::{Duration, UNIX_EPOCH};

use pail_emulator::PutOptions;
use pail_fs::VfsConfig;
use pail_tests::{BUCKET, DriveOptions, TestDrive, random_bytes, sha256_hex};
use rand::{Rng, SeedableRng};

fn names_in(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8 name"))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn nested_folders_list_prefixes_markers_and_files() {
    let drive = TestDrive::start(|emu| {
        for key in [
            "top.txt",
            "a/one.txt",
            "a/b/two.txt",
            "a/b/c/three.txt",
            "empty/",
            "marker-and-file/",
            "marker-and-file/x",
        ] {
            emu.put(BUCKET, key, format!("content of {key}")).expect("seed");
        }
    });
    assert_eq!(
        names_in(drive.root()),
        set(&["a", "empty", "marker-and-file", "top.txt"])
    );
    assert_eq!(names_in(&drive.path("a")), set(&["b", "one.txt"]));
    assert_eq!(names_in(&drive.path("a/b")), set(&["c", "two.txt"]));
    assert_eq!(names_in(&drive.path("a/b/c")), set(&["three.txt"]));
    assert!(
        names_in(&drive.path("empty")).is_empty(),
        "a dir/ marker is an empty folder, not a file"
    );
    assert!(drive.path("a/b").is_dir());
    assert!(drive.path("a/b/two.txt").is_file());
    assert_eq!(
        std::fs::read_to_string(drive.path("a/b/c/three.txt")).expect("read"),
        "content of a/b/c/three.txt"
    );
}

#[test]
fn folder_of_ten_thousand_keys_lists_completely() {
    let drive = TestDrive::start(|emu| {
        for i in 0..10_000 {
            emu.put(BUCKET, &format!("big/file-{i:05}.txt"), &b"x"[..])
                .expect("seed");
        }
        emu.put(BUCKET, "big/sub/inner", &b"y"[..]).expect("seed");
    });
    let names = names_in(&drive.path("big"));
    assert_eq!(names.len(), 10_001);
    assert!(names.contains("file-00000.txt") && names.contains("file-09999.txt") && names.contains("sub"));
    // Every entry came with its attributes (readdirplus): stat needs no further S3 call to be right.
    let meta = std::fs::metadata(drive.path("big/file-04321.txt")).expect("stat");
    assert_eq!(meta.len(), 1);
}

#[test]
fn listing_pages_that_end_on_a_subfolder_continue_after_it() {
    // 1,500 entries, half of them sub-folders with several keys: page boundaries fall on
    // common prefixes, which must not repeat or swallow entries.
    let drive = TestDrive::start(|emu| {
        // With this first entry the first page of 1,000 ends on "e0499-dir/".
        emu.put(BUCKET, "mix/a-first", &b"f"[..]).expect("seed");
        for i in 0..750 {
            emu.put(BUCKET, &format!("mix/e{i:04}-file"), &b"f"[..]).expect("seed");
            for j in 0..3 {
                emu.put(BUCKET, &format!("mix/e{i:04}-dir/k{j}"), &b"d"[..])
                    .expect("seed");
            }
        }
    });
    let names = names_in(&drive.path("mix"));
    assert_eq!(names.len(), 1501);
    assert!(names.contains("e0499-dir") && names.contains("e0500-file") && names.contains("e0749-dir"));
}

#[test]
fn stat_shows_exact_sizes_and_mtimes() {
    let drive = TestDrive::start(|emu| {
        let mut opts = PutOptions::default();
        opts.metadata.insert("mtime".into(), "1600000000.5".into());
        emu.put_with(BUCKET, "with-mtime.bin", random_bytes(12_345, 1), opts)
            .expect("seed");
        emu.put(BUCKET, "plain.bin", random_bytes(7, 2)).expect("seed");
        emu.put(BUCKET, "empty.bin", Vec::new()).expect("seed");
    });
    let with = std::fs::metadata(drive.path("with-mtime.bin")).expect("stat");
    assert_eq!(with.len(), 12_345);
    assert_eq!(
        with.modified().expect("mtime"),
        UNIX_EPOCH + Duration::from_millis(1_600_000_000_500)
    );
    let plain = std::fs::metadata(drive.path("plain.bin")).expect("stat");
    assert_eq!(plain.len(), 7);
    let last_modified = drive.emu.head(BUCKET, "plain.bin").expect("exists").last_modified;
    // HTTP dates have whole seconds, as S3's HEAD answers do.
    let whole_seconds = last_modified.duration_since(UNIX_EPOCH).expect("after epoch").as_secs();
    let shown = plain.modified().expect("mtime");
    assert_eq!(
        shown,
        UNIX_EPOCH + Duration::from_secs(whole_seconds),
        "LastModified is shown when no x-amz-meta-mtime"
    );
    assert_eq!(std::fs::metadata(drive.path("empty.bin")).expect("stat").len(), 0);
    assert!(std::fs::read(drive.path("empty.bin")).expect("read").is_empty());
}

#[test]
fn large_file_reads_back_with_the_same_sha256() {
    let data = random_bytes(100 << 20, 3);
    let expected = sha256_hex(&data);
    let drive = TestDrive::start(|emu| {
        emu.put(BUCKET, "large/100MiB.bin", data).expect("seed");
    });
    let mut f = std::fs::File::open(drive.path("large/100MiB.bin")).expect("open");
    let mut got = Vec::new();
    f.read_to_end(&mut got).expect("read");
    assert_eq!(got.len(), 100 << 20);
    assert_eq!(sha256_hex(&got), expected);
    let cached = drive.vfs.memory_cache_bytes();
    assert!(
        cached <= drive.vfs.config().memory_cache_bytes,
        "memory cache {cached} over its bound"
    );
}

#[test]
fn random_offset_reads_match_the_source() {
    let data = random_bytes(24 << 20, 4);
    let drive = TestDrive::start(|emu| {
        emu.put(BUCKET, "random.bin", data.clone()).expect("seed");
    });
    let f = std::fs::File::open(drive.path("random.bin")).expect("open");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(99);
    for _ in 0..300 {
        let len = rng.random_range(1..200_000usize);
        let off = rng.random_range(0..data.len() - 1);
        let mut buf = vec![0u8; len];
        let n = f.read_at(&mut buf, off as u64).expect("pread");
        let want = len.min(data.len() - off);
        assert_eq!(n, want, "short read at {off}+{len}");
        assert_eq!(&buf[..n], &data[off..off + n], "bytes at {off}+{len}");
    }
    // Reading past the end gives nothing, as on a disk.
    let mut f = f;
    f.seek(SeekFrom::Start(data.len() as u64 + 10)).expect("seek");
    let mut tail = Vec::new();
    assert_eq!(f.read_to_end(&mut tail).expect("read"), 0);
}

#[test]
fn awkward_names_show_up_as_they_are_on_linux() {
    // Plus and percent signs and control characters too: they only survive a listing with
    // `encoding-type=url`, since XML 1.0 cannot carry control characters.
    let names = [
        "what?.txt",
        "a<b>c",
        "colon:quote\"pipe|star*",
        "trailing dot.",
        "trailing space ",
        "ünïcødé 文件 🎉",
        "1+1=2 100%",
        "bell\u{7}tab\t",
    ];
    let drive = TestDrive::start(|emu| {
        for n in names {
            emu.put(BUCKET, &format!("odd/{n}"), n.as_bytes().to_vec())
                .expect("seed");
        }
    });
    assert_eq!(names_in(&drive.path("odd")), set(&names));
    for n in names {
        assert_eq!(
            std::fs::read(drive.path(&format!("odd/{n}"))).expect("read"),
            n.as_bytes()
        );
    }
}

#[test]
fn a_900_byte_key_over_several_folders_is_reachable() {
    let segments: Vec<String> = (0..6).map(|i| format!("{i}{}", "d".repeat(148))).collect();
    let key = format!("{}/leaf.txt", segments.join("/"));
    assert!(key.len() >= 900, "key is {} bytes", key.len());
    let drive = TestDrive::start(|emu| {
        emu.put(BUCKET, &key, &b"deep"[..]).expect("seed");
    });
    assert_eq!(std::fs::read(drive.path(&key)).expect("read"), b"deep");
    assert_eq!(
        names_in(&drive.path(&segments[..5].join("/"))),
        set(&[segments[5].as_str()])
    );
}

#[test]
fn unshowable_keys_are_skipped_without_breaking_the_listing() {
    let long = "L".repeat(300);
    let drive = TestDrive::start(|emu| {
        for key in ["dir/good.txt", "dir//double", "dir/./dot", "dir/../up", "./x"] {
            emu.put(BUCKET, key, &b"k"[..]).expect("seed");
        }
        emu.put(BUCKET, &format!("dir/{long}"), &b"k"[..]).expect("seed");
        emu.put(BUCKET, "ok.txt", &b"k"[..]).expect("seed");
    });
    assert_eq!(names_in(&drive.path("dir")), set(&["good.txt"]));
    assert_eq!(names_in(drive.root()), set(&["dir", "ok.txt"]));
    assert_eq!(std::fs::read(drive.path("dir/good.txt")).expect("read"), b"k");
}

#[test]
fn a_missing_object_is_enoent() {
    let drive = TestDrive::start(|emu| {
        emu.put(BUCKET, "here/present.txt", &b"p"[..]).expect("seed");
    });
    for missing in [
        "absent.txt",
        "here/absent.txt",
        "nowhere/at/all.txt",
        "here/present.txt/child",
    ] {
        let err = std::fs::metadata(drive.path(missing)).expect_err(missing);
        assert!(
            err.raw_os_error() == Some(libc::ENOENT) || err.raw_os_error() == Some(libc::ENOTDIR),
            "{missing}: {err}"
        );
    }
    let err = std::fs::File::open(drive.path("absent.txt")).expect_err("open");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn an_object_changed_on_the_server_is_seen_after_the_ttl() {
    // TTL 0: metadata is revalidated on every call, so "after the TTL" is "on the next call",
    // without any waiting in the test.
    let opts = DriveOptions {
        vfs: VfsConfig {
            read_only: true,
            metadata_ttl: Duration::ZERO,
            ..VfsConfig::default()
        },
        ..DriveOptions::default()
    };
    let v1 = random_bytes(3 << 20, 5);
    let v2 = random_bytes(5 << 20, 6);
    let drive = TestDrive::start_with(opts, |emu| {
        emu.put(BUCKET, "doc.bin", v1.clone()).expect("seed");
    });
    assert_eq!(std::fs::read(drive.path("doc.bin")).expect("read v1"), v1);
    drive
        .emu
        .put(BUCKET, "doc.bin", v2.clone())
        .expect("server-side change");
    assert_eq!(
        std::fs::metadata(drive.path("doc.bin")).expect("stat").len(),
        v2.len() as u64
    );
    let got = std::fs::read(drive.path("doc.bin")).expect("read v2");
    assert_eq!(got.len(), v2.len());
    assert!(got == v2, "new content, no block of the old version");
}

#[test]
fn a_handle_open_across_a_server_change_never_mixes_versions() {
    let v1 = random_bytes(4 << 20, 7);
    let v2 = random_bytes(4 << 20, 8);
    let opts = DriveOptions {
        vfs: VfsConfig {
            read_only: true,
            initial_window: 1 << 20,
            max_window: 1 << 20,
            ..VfsConfig::default()
        },
        ..DriveOptions::default()
    };
    let drive = TestDrive::start_with(opts, |emu| {
        emu.put(BUCKET, "f.bin", v1.clone()).expect("seed");
    });
    let f = std::fs::File::open(drive.path("f.bin")).expect("open");
    let mut head = vec![0u8; 4096];
    f.read_exact_at(&mut head, 0).expect("first block");
    assert_eq!(head, v1[..4096]);
    drive.emu.put(BUCKET, "f.bin", v2).expect("server-side change");
    // A block not read yet must come from v1 or fail; it must never be v2's bytes.
    let mut tail = vec![0u8; 4096];
    match f.read_exact_at(&mut tail, 3 << 20) {
        Ok(()) => assert_eq!(tail, v1[3 << 20..(3 << 20) + 4096]),
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ESTALE), "{e}"),
    }
}

#[test]
fn a_denied_prefix_is_eacces() {
    let drive = TestDrive::start(|emu| {
        emu.put(BUCKET, "public/a.txt", &b"a"[..]).expect("seed");
        emu.put(BUCKET, "private/b.txt", &b"b"[..]).expect("seed");
        emu.deny_prefix(BUCKET, "private/");
    });
    assert_eq!(std::fs::read(drive.path("public/a.txt")).expect("allowed"), b"a");
    let err = std::fs::read_dir(drive.path("private"))
        .map(|_| ())
        .expect_err("denied listing");
    assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
    let err = std::fs::read(drive.path("private/b.txt")).expect_err("denied read");
    assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
}

#[test]
fn a_prefix_mount_shows_only_that_folder() {
    let opts = DriveOptions {
        vfs: VfsConfig {
            read_only: true,
            prefix: "home/alice".into(),
            ..VfsConfig::default()
        },
        ..DriveOptions::default()
    };
    let drive = TestDrive::start_with(opts, |emu| {
        emu.put(BUCKET, "home/alice/notes.txt", &b"mine"[..]).expect("seed");
        emu.put(BUCKET, "home/alice/docs/cv.txt", &b"cv"[..]).expect("seed");
        emu.put(BUCKET, "home/bob/secret.txt", &b"bob"[..]).expect("seed");
        emu.put(BUCKET, "home/alice-other/x", &b"x"[..]).expect("seed");
    });
    assert_eq!(names_in(drive.root()), set(&["docs", "notes.txt"]));
    assert_eq!(std::fs::read(drive.path("docs/cv.txt")).expect("read"), b"cv");
    assert!(std::fs::metadata(drive.path("bob")).is_err());
}

#[test]
fn the_mount_is_read_only() {
    let drive = TestDrive::start(|emu| {
        emu.put(BUCKET, "f.txt", &b"f"[..]).expect("seed");
    });
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open(drive.path("f.txt"))
        .expect_err("write open");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    let err = std::fs::write(drive.path("new.txt"), b"n").expect_err("create");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
}

/// Issue 19: when a listing finds what someone else changed, the kernel's cached names and
/// attributes are dropped at once (FUSE notify), not when they time out. The kernel here
/// caches for an hour and the drive lists S3 on every call, so without the invalidation `stat`
/// would answer from the kernel's cache for an hour.
#[test]
fn a_listing_that_finds_changes_made_elsewhere_updates_the_kernels_cache_at_once() {
    let opts = DriveOptions {
        vfs: VfsConfig {
            read_only: true,
            metadata_ttl: Duration::ZERO,
            ..VfsConfig::default()
        },
        kernel_ttl: Some(Duration::from_secs(3600)),
        ..DriveOptions::default()
    };
    let drive = TestDrive::start_with(opts, |emu| {
        emu.put(BUCKET, "docs/gone.txt", &b"soon deleted"[..]).expect("seed");
        emu.put(BUCKET, "docs/grows.txt", &b"short"[..]).expect("seed");
    });
    assert_eq!(names_in(&drive.path("docs")), set(&["gone.txt", "grows.txt"]));
    assert!(drive.path("docs/gone.txt").exists());
    assert_eq!(std::fs::metadata(drive.path("docs/grows.txt")).expect("stat").len(), 5);
    drive.emu.delete(BUCKET, "docs/gone.txt").expect("deleted elsewhere");
    drive
        .emu
        .put(BUCKET, "docs/grows.txt", &b"much longer now"[..])
        .expect("changed elsewhere");
    // The refresh: the folder is listed again and both changes are found.
    assert_eq!(names_in(&drive.path("docs")), set(&["grows.txt"]));
    drive.wait_invalidations(2, Duration::from_secs(30));
    assert!(!drive.path("docs/gone.txt").exists(), "the kernel's entry was dropped");
    assert_eq!(
        std::fs::metadata(drive.path("docs/grows.txt")).expect("stat").len(),
        15,
        "the kernel's attributes were dropped"
    );
}
