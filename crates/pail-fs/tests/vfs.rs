//! The core without FUSE: `Vfs` over pail-store against pail-emulator, with a store wrapper that
//! counts the S3 calls the core makes.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use pail_emulator::Emulator;
use pail_fs::{DiskCacheConfig, Vfs, VfsConfig, VfsPath};
use pail_store::{
    ETag, GetObject, ListPage, ObjectMeta, ObjectStore, S3Store, S3StoreConfig, Stamp, StoreError, WriteCondition,
};

const BUCKET: &str = "vfs-test";
const MIB: u64 = 1 << 20;

#[derive(Debug)]
struct Counting {
    inner: S3Store,
    heads: AtomicUsize,
    gets: AtomicUsize,
    /// Bytes asked for by ranged GETs.
    got: AtomicUsize,
    lists: AtomicUsize,
    copies: AtomicUsize,
}

#[async_trait::async_trait]
impl ObjectStore for Counting {
    async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        self.inner.head(key).await
    }
    async fn get_range(&self, key: &str, range: Range<u64>, if_match: Option<&ETag>) -> Result<GetObject, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.got.fetch_add((range.end - range.start) as usize, Ordering::SeqCst);
        self.inner.get_range(key, range, if_match).await
    }
    async fn list_page(
        &self,
        p: &str,
        d: Option<&str>,
        c: Option<&str>,
        m: Option<u32>,
    ) -> Result<ListPage, StoreError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_page(p, d, c, m).await
    }
    async fn put(&self, k: &str, b: Bytes, c: &WriteCondition, t: Option<Stamp>) -> Result<ETag, StoreError> {
        self.inner.put(k, b, c, t).await
    }
    async fn create_multipart(&self, k: &str, t: Option<Stamp>) -> Result<String, StoreError> {
        self.inner.create_multipart(k, t).await
    }
    async fn upload_part(&self, k: &str, u: &str, n: u32, b: Bytes) -> Result<ETag, StoreError> {
        self.inner.upload_part(k, u, n, b).await
    }
    async fn upload_part_copy(
        &self,
        k: &str,
        u: &str,
        n: u32,
        src: &str,
        r: Range<u64>,
        e: Option<&ETag>,
    ) -> Result<ETag, StoreError> {
        self.copies.fetch_add(1, Ordering::SeqCst);
        self.inner.upload_part_copy(k, u, n, src, r, e).await
    }
    async fn complete_multipart(
        &self,
        k: &str,
        u: &str,
        parts: &[(u32, ETag)],
        c: &WriteCondition,
    ) -> Result<ETag, StoreError> {
        self.inner.complete_multipart(k, u, parts, c).await
    }
    async fn abort_multipart(&self, k: &str, u: &str) -> Result<(), StoreError> {
        self.inner.abort_multipart(k, u).await
    }
    async fn copy(&self, src: &str, dst: &str, e: Option<&ETag>, mtime: Option<Stamp>) -> Result<ETag, StoreError> {
        self.copies.fetch_add(1, Ordering::SeqCst);
        self.inner.copy(src, dst, e, mtime).await
    }
    async fn delete(&self, k: &str) -> Result<(), StoreError> {
        self.inner.delete(k).await
    }
    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        self.inner.delete_many(keys).await
    }
}

async fn counting_store(emu: &Emulator) -> Arc<Counting> {
    let (ak, sk) = emu.credentials();
    let cfg = S3StoreConfig::for_endpoint(BUCKET, &emu.endpoint(), pail_emulator::REGION, ak, sk);
    let inner = S3Store::new(cfg).await.expect("store");
    Arc::new(Counting {
        inner,
        heads: AtomicUsize::new(0),
        gets: AtomicUsize::new(0),
        got: AtomicUsize::new(0),
        lists: AtomicUsize::new(0),
        copies: AtomicUsize::new(0),
    })
}

/// A writable drive over `store` that uploads as soon as a file is closed.
fn writable_vfs(store: Arc<Counting>, cache: &std::path::Path) -> Arc<Vfs> {
    let mut wb = pail_fs::WritebackConfig::new(cache);
    wb.delay = std::time::Duration::ZERO;
    let cfg = VfsConfig {
        writeback: Some(wb),
        ..VfsConfig::default()
    };
    Vfs::new(store, cfg).expect("vfs")
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn read_all(vfs: &Vfs, path: &str) -> Vec<u8> {
    let (h, attr) = vfs.open(&VfsPath::new(path)).await.expect("open");
    let mut out = Vec::new();
    while (out.len() as u64) < attr.size {
        let chunk = vfs.read(h, out.len() as u64, 128 * 1024).await.expect("read");
        assert!(!chunk.is_empty());
        out.extend_from_slice(&chunk);
    }
    vfs.release(h);
    out
}

#[tokio::test]
async fn lookups_answered_by_a_listing_need_no_head() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    for i in 0..50 {
        emu.put(BUCKET, &format!("d/f{i}"), &b"x"[..]).expect("seed");
    }
    let store = counting_store(&emu).await;
    let vfs = Vfs::new(store.clone(), VfsConfig::default()).expect("vfs");
    let listing = vfs.read_dir(&VfsPath::new("d")).await.expect("list");
    assert_eq!(listing.entries.len(), 50);
    let heads_before = store.heads.load(Ordering::SeqCst);
    for i in 0..50 {
        vfs.lookup(&VfsPath::new(&format!("d/f{i}"))).await.expect("lookup");
    }
    assert!(vfs.lookup(&VfsPath::new("d/missing")).await.is_err());
    assert_eq!(
        store.heads.load(Ordering::SeqCst),
        heads_before,
        "no HEAD when the listing answered"
    );
}

#[tokio::test]
async fn memory_cache_stays_within_its_bound_and_disk_tier_serves_rereads() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    let data = pattern((24 * MIB) as usize);
    emu.put(BUCKET, "big.bin", data.clone()).expect("seed");
    let store = counting_store(&emu).await;
    let cache_dir = tempfile::tempdir().expect("cache dir");
    let cfg = VfsConfig {
        memory_cache_bytes: 8 * MIB,
        disk_cache: Some(DiskCacheConfig {
            dir: cache_dir.path().to_path_buf(),
            max_bytes: 64 * MIB,
        }),
        ..VfsConfig::default()
    };
    let vfs = Vfs::new(store.clone(), cfg).expect("vfs");
    assert_eq!(read_all(&vfs, "big.bin").await, data);
    assert!(
        vfs.memory_cache_bytes() <= 8 * MIB,
        "memory tier holds {} bytes",
        vfs.memory_cache_bytes()
    );
    let gets_after_first = store.gets.load(Ordering::SeqCst);
    assert!(gets_after_first >= 3, "large parts, several GETs: {gets_after_first}");
    // Every block is in memory or on disk now: a second full read needs no GET.
    let mut reread = read_all(&vfs, "big.bin").await;
    let extra = store.gets.load(Ordering::SeqCst) - gets_after_first;
    assert_eq!(reread.len(), data.len());
    assert!(reread == data);
    reread.clear();
    assert_eq!(extra, 0, "rereads are served from the tiers");
}

#[tokio::test]
async fn a_small_file_is_one_get() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    emu.put(BUCKET, "s.bin", pattern(4096)).expect("seed");
    let store = counting_store(&emu).await;
    let vfs = Vfs::new(store.clone(), VfsConfig::default()).expect("vfs");
    assert_eq!(read_all(&vfs, "s.bin").await, pattern(4096));
    assert_eq!(store.gets.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_random_reader_fetches_the_pages_it_reads_not_whole_blocks() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    let data = pattern((32 * MIB) as usize);
    emu.put(BUCKET, "db.bin", data.clone()).expect("seed");
    let store = counting_store(&emu).await;
    let vfs = Vfs::new(store.clone(), VfsConfig::default()).expect("vfs");
    let (h, _) = vfs.open(&VfsPath::new("db.bin")).await.expect("open");
    let (gets, got) = (store.gets.load(Ordering::SeqCst), store.got.load(Ordering::SeqCst));
    // 4 KiB at scattered offsets, one crossing a block boundary, as a database or fio would
    // (each further than the read-ahead window from the last: nearer counts as sequential).
    let offsets = [
        20 * MIB + 123,
        3 * MIB - 2048,
        30 * MIB,
        10 * MIB + 700 * 1024,
        25 * MIB + 65_000,
    ];
    for &off in &offsets {
        let read = vfs.read(h, off, 4096).await.expect("read");
        assert_eq!(&read[..], &data[off as usize..off as usize + 4096], "at {off}");
    }
    let fetched = store.got.load(Ordering::SeqCst) - got;
    assert_eq!(store.gets.load(Ordering::SeqCst) - gets, offsets.len());
    assert!(
        fetched <= offsets.len() * 2 * 64 * 1024,
        "{fetched} bytes fetched for {} reads of 4 KiB",
        offsets.len()
    );
    // A reader that turns sequential gets whole blocks again, read ahead.
    let mut off = 0;
    while off < 4 * MIB {
        let read = vfs.read(h, off, 128 * 1024).await.expect("read");
        assert_eq!(&read[..], &data[off as usize..off as usize + read.len()]);
        off += read.len() as u64;
    }
    assert!(
        store.got.load(Ordering::SeqCst) - got >= 4 * MIB as usize,
        "blocks, read ahead"
    );
    vfs.release(h);
}

#[tokio::test]
async fn lookups_in_a_cold_folder_share_one_listing_and_keep_exact_metadata() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    for i in 0..20 {
        let mut opts = pail_emulator::PutOptions::default();
        opts.metadata.insert("mtime".into(), format!("{}", 1_600_000_000 + i));
        emu.put_with(BUCKET, &format!("cold/f{i}"), pattern(100), opts)
            .expect("seed");
    }
    emu.put(BUCKET, "cold/sub/x", &b"x"[..]).expect("seed");
    let store = counting_store(&emu).await;
    let vfs = Vfs::new(store.clone(), VfsConfig::default()).expect("vfs");
    // The first lookup lists the folder, peeks the file, and starts peeking the small files
    // after it; once that read-ahead settles, every other lookup is answered from the cache.
    vfs.lookup(&VfsPath::new("cold/f0")).await.expect("lookup");
    vfs.settle_read_ahead().await;
    let gets_after_read_ahead = store.gets.load(Ordering::SeqCst);
    assert_eq!(gets_after_read_ahead, 20, "one GET per small file, each exactly once");
    for i in 0..20 {
        let attr = vfs.lookup(&VfsPath::new(&format!("cold/f{i}"))).await.expect("lookup");
        let want = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000 + i);
        assert_eq!(attr.mtime, want, "x-amz-meta-mtime, not LastModified");
    }
    assert!(vfs.lookup(&VfsPath::new("cold/sub")).await.expect("dir").is_dir());
    assert!(vfs.lookup(&VfsPath::new("cold/missing")).await.is_err());
    // One listing of "cold" answered every lookup's "what is it"; no HEAD, no further GET.
    assert_eq!(store.lists.load(Ordering::SeqCst), 1);
    assert_eq!(store.gets.load(Ordering::SeqCst), 20);
    assert_eq!(store.heads.load(Ordering::SeqCst), 0);
    // Each small file arrived whole with its lookup: reading it costs nothing more.
    assert_eq!(read_all(&vfs, "cold/f7").await, pattern(100));
    assert_eq!(store.gets.load(Ordering::SeqCst), 20);
}

fn windows() -> VfsConfig {
    VfsConfig {
        names: pail_fs::NameEncoding::Windows,
        ..VfsConfig::default()
    }
}

#[tokio::test]
async fn windows_opens_readme_txt_case_insensitively() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    emu.put(BUCKET, "Docs/ReadMe.txt", &b"read me"[..]).expect("seed");
    let vfs = Vfs::new(counting_store(&emu).await, windows()).expect("vfs");
    let (path, attr) = vfs.resolve(&VfsPath::new("DOCS/README.TXT")).await.expect("resolve");
    assert_eq!(path, VfsPath::new("Docs/ReadMe.txt"), "case preserved as stored");
    assert_eq!(attr.size, 7);
    assert_eq!(read_all(&vfs, path.as_str()).await, b"read me");
    let missing = vfs
        .resolve(&VfsPath::new("docs/nothing.txt"))
        .await
        .expect_err("missing");
    assert_eq!(missing.kind(), pail_fs::FsErrorKind::NotFound);
}

#[tokio::test]
async fn windows_picks_the_same_of_two_names_differing_only_in_case() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    emu.put(BUCKET, "a/x.txt", &b"lower"[..]).expect("seed");
    emu.put(BUCKET, "a/X.txt", &b"upper"[..]).expect("seed");
    let vfs = Vfs::new(counting_store(&emu).await, windows()).expect("vfs");
    let names: Vec<String> = vfs
        .read_dir(&VfsPath::new("a"))
        .await
        .expect("list")
        .entries
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(names, ["X.txt", "x.txt"], "both are listed");
    // An exact name opens that file; any other casing opens the first in byte order.
    assert_eq!(
        vfs.resolve(&VfsPath::new("a/x.txt")).await.expect("exact").0,
        VfsPath::new("a/x.txt")
    );
    assert_eq!(
        vfs.resolve(&VfsPath::new("a/X.txt")).await.expect("exact").0,
        VfsPath::new("a/X.txt")
    );
    for casing in ["A/X.TXT", "a/x.TXT", "A/x.Txt"] {
        assert_eq!(
            vfs.resolve(&VfsPath::new(casing)).await.expect("folded").0,
            VfsPath::new("a/X.txt"),
            "{casing}"
        );
    }
}

#[tokio::test]
async fn windows_shows_forbidden_characters_as_lookalikes_and_reads_the_original_key() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    emu.put(BUCKET, "q/what? <yes>.txt", &b"original"[..]).expect("seed");
    let vfs = Vfs::new(counting_store(&emu).await, windows()).expect("vfs");
    let listing = vfs.read_dir(&VfsPath::new("q")).await.expect("list");
    let shown = &listing.entries[0].name;
    assert_eq!(shown, "what\u{FF1F} \u{FF1C}yes\u{FF1E}.txt");
    let (path, _) = vfs
        .resolve(&VfsPath::new(&format!("Q/{}", shown.to_uppercase())))
        .await
        .expect("resolve");
    assert_eq!(read_all(&vfs, path.as_str()).await, b"original");
}

#[tokio::test]
async fn appending_to_a_large_object_copies_its_untouched_parts_server_side() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    let size = 40 * MIB as usize + 100 * 1024;
    let original = pattern(size);
    emu.put(BUCKET, "big.bin", original.clone()).expect("seed");
    let store = counting_store(&emu).await;
    let cache = tempfile::tempdir().expect("cache");
    let vfs = writable_vfs(store.clone(), cache.path());
    let path = VfsPath::new("big.bin");
    let (h, attr) = vfs.open_write(&path, false).await.expect("open for write");
    assert_eq!(attr.size, size as u64);
    let opened = store.gets.load(Ordering::SeqCst);
    vfs.write(h, size as u64, b"appended").await.expect("append");
    assert_eq!(
        store.gets.load(Ordering::SeqCst),
        opened + 1,
        "only the partial last block is fetched"
    );
    vfs.flush(h).expect("flush");
    vfs.fsync(h).await.expect("fsync uploads");
    vfs.release(h);
    assert_eq!(
        store.gets.load(Ordering::SeqCst),
        opened + 1,
        "nothing else was downloaded"
    );
    assert_eq!(
        store.copies.load(Ordering::SeqCst),
        5,
        "five 8 MiB parts copied server-side"
    );
    let mut expected = original;
    expected.extend_from_slice(b"appended");
    let stored = emu.get(BUCKET, "big.bin").await.expect("object");
    assert_eq!(stored.len(), expected.len());
    assert!(stored == expected, "content intact");
}

/// Issue 17 part 2: a file being written reads its unchanged ranges through the drive's block
/// cache, not a fetcher of its own, so what a reader fetched serves the writer and back.
#[tokio::test]
async fn a_file_being_written_reads_its_unchanged_bytes_through_the_block_cache() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    let data = pattern(3 * MIB as usize + 5);
    emu.put(BUCKET, "doc.bin", data.clone()).expect("seed");
    emu.put(BUCKET, "other.bin", data.clone()).expect("seed");
    let store = counting_store(&emu).await;
    let cache = tempfile::tempdir().expect("cache");
    let vfs = writable_vfs(store.clone(), cache.path());

    // An editor reads the document, then saves a change into its middle in place.
    assert_eq!(read_all(&vfs, "doc.bin").await, data);
    let got = store.got.load(Ordering::SeqCst);
    let (h, _) = vfs
        .open_write(&VfsPath::new("doc.bin"), false)
        .await
        .expect("open for write");
    vfs.write(h, MIB + 10, b"edited").await.expect("write");
    let read = vfs
        .read(h, 0, 3 * MIB as u32 + 5)
        .await
        .expect("read through the writer");
    let mut expected = data.clone();
    expected[MIB as usize + 10..MIB as usize + 16].copy_from_slice(b"edited");
    assert!(read[..] == expected[..], "the writer sees the file with its edit");
    assert_eq!(
        store.got.load(Ordering::SeqCst),
        got,
        "the blocks the reader fetched were not fetched again"
    );
    vfs.release(h);

    // The other way: blocks a writer fetched serve a reader of the same version.
    let (h, _) = vfs
        .open_write(&VfsPath::new("other.bin"), false)
        .await
        .expect("open for write");
    let opened = store.got.load(Ordering::SeqCst);
    vfs.write(h, 100, b"x").await.expect("write");
    let fetched = store.got.load(Ordering::SeqCst) - opened;
    assert_eq!(fetched, MIB as usize, "the edited block, fetched for the edit");
    let before = store.got.load(Ordering::SeqCst);
    let (r, _) = vfs.open(&VfsPath::new("other.bin")).await.expect("open");
    vfs.read(r, 0, 4096).await.expect("read");
    vfs.release(r);
    assert_eq!(
        store.got.load(Ordering::SeqCst),
        before,
        "the reader was served the block the writer fetched"
    );
    vfs.release(h);
}

#[tokio::test]
async fn a_new_name_in_a_listed_folder_is_looked_up_and_created_without_asking_s3() {
    let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
    emu.put(BUCKET, "d/old.txt", &b"old"[..]).expect("seed");
    emu.put(BUCKET, "cold/other.txt", &b"other"[..]).expect("seed");
    let store = counting_store(&emu).await;
    let cache = tempfile::tempdir().expect("cache");
    let vfs = writable_vfs(store.clone(), cache.path());
    vfs.read_dir(&VfsPath::new("d")).await.expect("list");
    let calls =
        || store.heads.load(Ordering::SeqCst) + store.gets.load(Ordering::SeqCst) + store.lists.load(Ordering::SeqCst);
    let before = calls();

    let new = VfsPath::new("d/new.txt");
    let looked_up = vfs.lookup_cached(&new).expect("the listing answers");
    assert_eq!(looked_up.expect_err("absent").kind(), pail_fs::FsErrorKind::NotFound);
    let (h, _) = vfs
        .create_now(&new, true)
        .expect("created without waiting")
        .expect("created");
    vfs.write(h, 0, b"fresh").await.expect("write");
    vfs.flush(h).expect("flush");
    vfs.release(h);
    let existing = vfs
        .create_now(&VfsPath::new("d/old.txt"), true)
        .expect("the listing answers");
    assert_eq!(existing.expect_err("exists").kind(), pail_fs::FsErrorKind::Exists);
    assert_eq!(calls(), before, "no S3 request to look up or create");
    assert!(
        vfs.create_now(&VfsPath::new("cold/new.txt"), false).is_none(),
        "a folder never listed needs S3"
    );

    vfs.drain(&|_| {}).await;
    let landed = emu.get(BUCKET, "d/new.txt").await.map(|b| b.to_vec());
    assert_eq!(landed, Some(b"fresh".to_vec()));
}
