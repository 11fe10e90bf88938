//! The end-to-end test kit: a [`TestDrive`] is pail-emulator on 127.0.0.1 plus a real FUSE mount
//! of it through pail-store (aws-sdk-s3 over HTTP), pail-fs and pail-fuse, in a fresh temporary
//! directory. Tests then use plain `std::fs` on the mount, as any program would.
//!
//! A machine without `/dev/fuse` or `fusermount3` fails these tests loudly; they never skip.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pail_emulator::Emulator;
use pail_fs::{Vfs, VfsConfig, WritebackConfig};
use pail_store::{S3Store, S3StoreConfig};
use rand::{RngCore, SeedableRng};

pub mod moto;

/// The bucket every test drive uses unless told otherwise.
pub const BUCKET: &str = "pail-test";

/// Panics with a clear message when FUSE is not usable here.
pub fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: end-to-end tests need FUSE (load the fuse module, or run the container with --device /dev/fuse)"
    );
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").exists()))
        .unwrap_or(false);
    assert!(
        found,
        "fusermount3 is missing: install the fuse3 package (the test command's setup does this)"
    );
}

/// Logs to stderr when `PAIL_LOG` is set (e.g. `PAIL_LOG=debug`).
pub fn init_logging() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("PAIL_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// Deterministic pseudo-random bytes.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rngs::SmallRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

/// Saves `data` over the file at `path` as an editor holding it open does, while `meanwhile`
/// changes it on the server as a colleague would: opened (emptied), changed elsewhere,
/// written, closed.
pub fn save_while_changed_elsewhere(path: &Path, meanwhile: impl FnOnce(), data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open");
    meanwhile();
    std::io::Write::write_all(&mut f, data).expect("write");
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// An S3 store config pointing at `emu` with its keys.
pub fn store_config(emu: &Emulator, bucket: &str) -> S3StoreConfig {
    let (ak, sk) = emu.credentials();
    S3StoreConfig::for_endpoint(bucket, &emu.endpoint(), pail_emulator::REGION, ak, sk)
}

/// Builds the drive's core over the emulator and mounts it at `dir`.
fn mount_drive(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    opts: &DriveOptions,
    dir: &Path,
    cache: &Path,
) -> (Arc<Vfs>, pail_fuse::Mount) {
    mount_store(rt, store_config(emu, BUCKET), opts, dir, cache)
}

/// Builds a drive's core over the S3 endpoint of `store_cfg` and mounts it at `dir`.
pub(crate) fn mount_store(
    rt: &tokio::runtime::Runtime,
    mut store_cfg: S3StoreConfig,
    opts: &DriveOptions,
    dir: &Path,
    cache: &Path,
) -> (Arc<Vfs>, pail_fuse::Mount) {
    store_cfg.sse = opts.sse.clone();
    if let Some(t) = opts.answer_timeout {
        store_cfg.answer_timeout = t;
        store_cfg.slowest_uplink = u64::MAX;
    }
    if let Some(n) = opts.max_attempts {
        store_cfg.max_attempts = n;
    }
    if let Some((creds, wait)) = &opts.credentials {
        store_cfg.credentials = creds.clone();
        store_cfg.credentials_wait = *wait;
    }
    let store = rt.block_on(S3Store::new(store_cfg)).expect("store");
    let mut cfg = opts.vfs.clone();
    if let Some(wb) = cfg.writeback.as_mut() {
        wb.cache_dir = cache.to_path_buf();
    }
    let vfs = {
        let _rt = rt.enter();
        Vfs::new(Arc::new(store), cfg.clone()).expect("vfs")
    };
    if opts.probe {
        rt.block_on(vfs.probe()).expect("the drive's root can be listed");
    }
    let mut fuse = pail_fuse::FuseConfig::for_drive(&cfg);
    if let Some(ttl) = opts.kernel_ttl {
        fuse.ttl = ttl;
    }
    let mount = pail_fuse::mount(vfs.clone(), rt.handle().clone(), dir, "pail:test", fuse)
        .expect("FUSE mount (needs /dev/fuse and fusermount3)");
    (vfs, mount)
}

/// A fresh mount folder (named `prefix…`) and cache folder.
pub(crate) fn mount_and_cache_dirs(prefix: &str) -> (tempfile::TempDir, tempfile::TempDir) {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().expect("mount dir");
    let cache = tempfile::Builder::new()
        .prefix("pail-cache-")
        .tempdir()
        .expect("cache dir");
    (dir, cache)
}

/// Waits until every file `vfs` closed is on S3; fails the test when that takes over `limit`
/// (a guard against a drive that never settles, not a measure of speed).
pub(crate) fn drain_within(rt: &tokio::runtime::Runtime, vfs: &Vfs, limit: Duration) {
    let drained = rt.block_on(async { tokio::time::timeout(limit, vfs.drain(&|_| {})).await });
    assert!(
        drained.is_ok(),
        "uploads still pending after {limit:?}: {:?}",
        vfs.writeback_status()
    );
}

/// The runtime test drives run on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The emulator plus a mounted drive of it.
#[derive(Debug)]
pub struct TestDrive {
    /// The S3 emulator; tests change the bucket through it as another client would.
    pub emu: Emulator,
    /// The drive's core, for assertions on its state.
    pub vfs: Arc<Vfs>,
    mount: Option<pail_fuse::Mount>,
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    opts: DriveOptions,
    rt: tokio::runtime::Runtime,
}

/// How to build a [`TestDrive`].
#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// Drive settings (prefix, TTL, caches…).
    pub vfs: VfsConfig,
    /// Server-side encryption the store sends.
    pub sse: Option<pail_store::Sse>,
    /// Credentials other than the emulator's static keys, and how long a request may wait
    /// for them.
    pub credentials: Option<(pail_store::Credentials, Duration)>,
    /// List the root before mounting, as `pail mount` does.
    pub probe: bool,
    /// How long the kernel may cache names and attributes, when not the drive's metadata TTL.
    pub kernel_ttl: Option<Duration>,
    /// How long a request may wait for its answer, bodies included (the emulator is local),
    /// when not the store's default.
    pub answer_timeout: Option<Duration>,
    /// Attempts per request when not the store's default (1: a failure is final at once).
    pub max_attempts: Option<u32>,
}

impl Default for DriveOptions {
    fn default() -> Self {
        Self {
            vfs: VfsConfig {
                read_only: true,
                ..VfsConfig::default()
            },
            sse: None,
            credentials: None,
            probe: true,
            kernel_ttl: None,
            answer_timeout: None,
            max_attempts: None,
        }
    }
}

impl DriveOptions {
    /// A writable drive: write-back staged in the test's cache directory, uploads as soon as
    /// files are closed (no write-back delay).
    pub fn writable() -> Self {
        let mut wb = WritebackConfig::new(PathBuf::new());
        wb.delay = Duration::ZERO;
        wb.max_backoff = Duration::from_millis(200);
        // Files over 1 MiB go multipart, so tests exercise both upload paths.
        wb.transfer.single_put_max = 1 << 20;
        wb.transfer.part_size = 5 << 20;
        Self {
            vfs: VfsConfig {
                read_only: false,
                writeback: Some(wb),
                // Encrypted at rest, as `pail mount` is: every write-path test runs sealed.
                cache_key: Some(pail_fs::CacheKey::generate().expect("a cache key")),
                ..VfsConfig::default()
            },
            ..Self::default()
        }
    }
}

impl DriveOptions {
    /// [`writable`](Self::writable), but uploads wait an hour: what is closed stays pending, in
    /// the journal, until the drive stops (as a crash would find it).
    pub fn holding_uploads() -> Self {
        let mut opts = Self::writable();
        opts.vfs.writeback.as_mut().expect("writable").delay = Duration::from_secs(3600);
        opts
    }
}

impl TestDrive {
    /// Starts the emulator, lets `seed` fill it, and mounts the bucket with default settings.
    pub fn start(seed: impl FnOnce(&Emulator)) -> Self {
        Self::start_with(DriveOptions::default(), seed)
    }

    /// Starts the emulator, lets `seed` fill it, and mounts it as `opts` say.
    pub fn start_with(opts: DriveOptions, seed: impl FnOnce(&Emulator)) -> Self {
        let rt = runtime();
        let emu = rt
            .block_on(Emulator::start_with_buckets(&[BUCKET]))
            .expect("emulator starts");
        seed(&emu);
        Self::mount_on(rt, emu, opts)
    }

    /// Mounts a running emulator (started on `rt`, e.g. after signing in to it).
    pub fn mount_on(rt: tokio::runtime::Runtime, emu: Emulator, opts: DriveOptions) -> Self {
        require_fuse();
        init_logging();
        let (dir, cache) = mount_and_cache_dirs("pail-e2e-");
        let (vfs, mount) = mount_drive(&rt, &emu, &opts, dir.path(), cache.path());
        Self {
            emu,
            vfs,
            mount: Some(mount),
            dir,
            cache,
            opts,
            rt,
        }
    }

    /// Waits until every closed file is on S3.
    pub fn drain(&self) {
        self.rt.block_on(self.vfs.drain(&|_| {}));
    }

    /// [`drain`](Self::drain), failing the test when uploads are still pending after `limit`
    /// (a guard against a drive that never settles, not a measure of speed).
    pub fn drain_within(&self, limit: Duration) {
        drain_within(&self.rt, &self.vfs, limit);
    }

    /// Unmounts and mounts the drive again at the same place: with the same cache directory
    /// (as after a restart), or a new, empty one.
    pub fn remount(&mut self, keep_cache: bool) {
        let opts = self.opts.clone();
        self.remount_with(keep_cache, opts);
    }

    /// [`remount`](Self::remount) with other settings. The old drive core is dropped by the
    /// mount, not drained: what it had pending stays in its journal.
    /// A kept cache keeps its key, as the drive's key in the secret store outlives a restart.
    pub fn remount_with(&mut self, keep_cache: bool, mut opts: DriveOptions) {
        if keep_cache && opts.vfs.cache_key.is_some() && self.opts.vfs.cache_key.is_some() {
            opts.vfs.cache_key = self.opts.vfs.cache_key.clone();
        }
        self.opts = opts;
        if let Some(m) = self.mount.take() {
            m.unmount();
        }
        if !keep_cache {
            self.cache = tempfile::Builder::new()
                .prefix("pail-cache-")
                .tempdir()
                .expect("cache dir");
        }
        let (vfs, mount) = mount_drive(&self.rt, &self.emu, &self.opts, self.dir.path(), self.cache.path());
        self.vfs = vfs;
        self.mount = Some(mount);
    }

    /// Waits until the mount passed at least `n` changes others made to the kernel (see
    /// `pail_fuse::Mount::wait_invalidations`); fails the test after `limit`.
    pub fn wait_invalidations(&self, n: u64, limit: Duration) {
        let mount = self.mount.as_ref().expect("mounted");
        assert!(
            mount.wait_invalidations(n, limit),
            "{n} changes were not passed to the kernel within {limit:?}"
        );
    }

    /// The drive's cache directory (staging and journal).
    pub fn cache_dir(&self) -> &Path {
        self.cache.path()
    }

    /// The bytes of the object at `key` in the test bucket.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.rt.block_on(self.emu.get(BUCKET, key)).map(|b| b.to_vec())
    }

    /// The mount point.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The runtime the drive runs on.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// The metadata TTL in effect.
    pub fn ttl(&self) -> Duration {
        self.vfs.config().metadata_ttl
    }
}

impl Drop for TestDrive {
    fn drop(&mut self) {
        if let Some(m) = self.mount.take() {
            m.unmount();
        }
    }
}
