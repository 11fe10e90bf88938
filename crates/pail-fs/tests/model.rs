//! The write path against a reference model (issue 17), as Mountpoint for S3's `reftests`:
//! random sequences of create, writes at offsets, truncate, fsync, close, reopen, renames of
//! files and folders, unlink, mkdir, rmdir; another client's puts and deletes of the same keys;
//! crashes (the drive dropped without draining, its store cut off) followed by a resume from the
//! same cache; and injected faults (errors, lost answers, slow answers) on write-back. After
//! every drain S3 must equal the model: no deleted key comes back, no closed byte is lost, no
//! folder reappears, and nothing is left pending or in conflict.
//!
//! The core runs over `MemStore` (no HTTP) through `Faulty`. Faults are held back while a
//! foreground call runs (the model cannot know whether a user's failed unlink reached S3) and
//! let loose while write-back works on its own and drains. Another client only touches keys
//! with no handle open, after a drain; a file changed elsewhere while open is the conflict
//! tests' subject (`tests/e2e/write_path.rs`).
//!
//! CI runs `PAIL_MODEL_CASES` sequences (default 256, some 7,500 operations in seconds);
//! `PAIL_MODEL_REPORT=1` prints running totals. Failures are shrunk by proptest and kept as
//! named tests at the end of this file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pail_fs::{HandleId, Vfs, VfsConfig, VfsPath, WritebackConfig};
use pail_store::{FaultPlan, Faulty, MemStore};
use proptest::prelude::*;

const DIRS: [&str; 3] = ["", "d", "e"];
const NAMES: [&str; 3] = ["a", "b", "c"];
const SLOTS: usize = 4;
/// A hang guard for one call or one drain, not a measure of speed.
const HANG: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
enum Op {
    Open {
        slot: usize,
        file: usize,
        truncate: bool,
    },
    Write {
        slot: usize,
        offset: u64,
        len: usize,
        byte: u8,
    },
    WriteBig {
        slot: usize,
        byte: u8,
    },
    Truncate {
        slot: usize,
        size: u64,
    },
    Fsync {
        slot: usize,
    },
    Close {
        slot: usize,
    },
    Rename {
        from: usize,
        to: usize,
    },
    RenameDir {
        from: usize,
        to: usize,
    },
    Unlink {
        file: usize,
    },
    Mkdir {
        dir: usize,
    },
    Rmdir {
        dir: usize,
    },
    RemotePut {
        file: usize,
        len: usize,
        byte: u8,
    },
    RemoteDelete {
        file: usize,
    },
    Drain,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..SLOTS;
    let file = 0..DIRS.len() * NAMES.len();
    let dir = 1..DIRS.len();
    prop_oneof![
        6 => (slot.clone(), file.clone(), any::<bool>()).prop_map(|(slot, file, truncate)| Op::Open { slot, file, truncate }),
        8 => (slot.clone(), 0..40_000u64, 1..5_000usize, any::<u8>())
            .prop_map(|(slot, offset, len, byte)| Op::Write { slot, offset, len, byte }),
        1 => (slot.clone(), any::<u8>()).prop_map(|(slot, byte)| Op::WriteBig { slot, byte }),
        2 => (slot.clone(), 0..30_000u64).prop_map(|(slot, size)| Op::Truncate { slot, size }),
        2 => slot.clone().prop_map(|slot| Op::Fsync { slot }),
        6 => slot.prop_map(|slot| Op::Close { slot }),
        3 => (file.clone(), file.clone()).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => (dir.clone(), dir.clone()).prop_map(|(from, to)| Op::RenameDir { from, to }),
        3 => file.clone().prop_map(|file| Op::Unlink { file }),
        2 => dir.clone().prop_map(|dir| Op::Mkdir { dir }),
        1 => dir.prop_map(|dir| Op::Rmdir { dir }),
        2 => (file.clone(), 0..3_000usize, any::<u8>()).prop_map(|(file, len, byte)| Op::RemotePut { file, len, byte }),
        1 => file.prop_map(|file| Op::RemoteDelete { file }),
        2 => Just(Op::Drain),
        1 => Just(Op::Crash),
    ]
}

fn file_path(file: usize) -> String {
    let (dir, name) = (DIRS[file / NAMES.len()], NAMES[file % NAMES.len()]);
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// What the drive should show, and so what S3 should hold once drained.
#[derive(Debug, Default)]
struct Model {
    dirs: BTreeSet<String>,
    files: BTreeMap<String, usize>,
    inodes: Vec<Vec<u8>>,
    /// Slot → (inode, the system's handle).
    handles: [Option<(usize, HandleId)>; SLOTS],
}

impl Model {
    fn dir_exists(&self, dir: &str) -> bool {
        dir.is_empty() || self.dirs.contains(dir)
    }

    fn path_of(&self, inode: usize) -> Option<String> {
        self.files.iter().find(|(_, i)| **i == inode).map(|(p, _)| p.clone())
    }

    fn write(&mut self, inode: usize, offset: u64, data: &[u8]) {
        let content = &mut self.inodes[inode];
        let end = offset as usize + data.len();
        if content.len() < end {
            content.resize(end, 0);
        }
        content[offset as usize..end].copy_from_slice(data);
    }

    fn expected_objects(&self) -> BTreeMap<String, Vec<u8>> {
        self.files
            .iter()
            .map(|(p, i)| (p.clone(), self.inodes[*i].clone()))
            .collect()
    }
}

/// One "process": a runtime, its drive, and the faulty view of S3 it talks through.
struct Drive {
    rt: Option<tokio::runtime::Runtime>,
    vfs: Option<Arc<Vfs>>,
    faulty: Arc<Faulty<MemStore>>,
}

impl Drive {
    fn start(mem: &MemStore, cache: &std::path::Path, key: &pail_fs::CacheKey, seed: u64) -> Self {
        let plan = FaultPlan {
            fail: 100,
            lose_answer: 80,
            slow: 50,
            delay: Duration::from_millis(2),
            ..FaultPlan::default()
        };
        Self::start_with(mem, (cache, key), plan, seed)
    }

    fn start_with(
        mem: &MemStore,
        (cache, key): (&std::path::Path, &pail_fs::CacheKey),
        plan: FaultPlan,
        seed: u64,
    ) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let faulty = Arc::new(Faulty::new(mem.clone(), plan, seed));
        faulty.pause(true);
        let mut wb = WritebackConfig::new(cache);
        wb.delay = Duration::ZERO;
        wb.max_backoff = Duration::from_millis(20);
        wb.transfer.single_put_max = 1 << 20;
        wb.transfer.part_size = 5 << 20;
        // Less memory for upload bodies than one part: every part waits for the whole budget,
        // so uploads, eager parts and their retries must never hold it while waiting for it.
        wb.transfer_memory = 4 << 20;
        let cfg = VfsConfig {
            // Another client's changes are seen at once (no metadata caching to go stale).
            metadata_ttl: Duration::ZERO,
            writeback: Some(wb),
            cache_key: Some(key.clone()),
            ..VfsConfig::default()
        };
        let vfs = {
            let _rt = rt.enter();
            Vfs::new(faulty.clone(), cfg).expect("vfs")
        };
        Self {
            rt: Some(rt),
            vfs: Some(vfs),
            faulty,
        }
    }

    /// Runs a foreground call with faults held back.
    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("a running drive")
    }

    fn vfs(&self) -> &Arc<Vfs> {
        self.vfs.as_ref().expect("a running drive")
    }

    fn call<T>(&self, what: &str, f: impl std::future::Future<Output = T>) -> T {
        self.faulty.pause(true);
        let out = self
            .rt()
            .block_on(async { tokio::time::timeout(HANG, f).await })
            .unwrap_or_else(|_| panic!("{what} hung"));
        self.faulty.pause(false);
        out
    }

    fn drain(&self) {
        self.faulty.pause(false);
        let drained = self
            .rt()
            .block_on(async { tokio::time::timeout(HANG, self.vfs().drain(&|_| {})).await });
        assert!(drained.is_ok(), "drain hung: {:?}", self.vfs().writeback_status());
    }

    /// The process dies: its store answers nothing any more and its tasks stop (file writes
    /// already handed to the blocking pool finish, as the kernel would finish them).
    fn crash(&mut self) {
        self.faulty.crash();
        self.vfs = None;
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(HANG);
        }
    }
}

fn check(mem: &MemStore, model: &Model, drive: &Drive, after: &str) {
    let status = drive.vfs().writeback_status();
    assert!(
        status.pending_files == 0 && status.conflicts.is_empty(),
        "after {after}: {status:?}"
    );
    let objects = mem.objects();
    let files: BTreeMap<String, Vec<u8>> = objects
        .iter()
        .filter(|(k, _)| !k.ends_with('/'))
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect();
    let expected = model.expected_objects();
    let keys = |m: &BTreeMap<String, Vec<u8>>| m.iter().map(|(k, v)| (k.clone(), v.len())).collect::<Vec<_>>();
    assert_eq!(
        keys(&files),
        keys(&expected),
        "after {after}: S3 keys (and sizes) differ from the model"
    );
    for (k, v) in &expected {
        assert!(files[k] == *v, "after {after}: {k} differs from the model");
    }
    for marker in objects.keys().filter(|k| k.ends_with('/')) {
        let dir = marker.trim_end_matches('/');
        assert!(model.dirs.contains(dir), "after {after}: folder {dir} is back in S3");
    }
    for dir in &model.dirs {
        let there = objects.keys().any(|k| k.starts_with(&format!("{dir}/")));
        assert!(there, "after {after}: folder {dir} is missing from S3");
    }
}

fn run(ops: &[Op], seed: u64) {
    if let Ok(filter) = std::env::var("PAIL_LOG") {
        // One case at a time, with the drive's own log (e.g. PAIL_LOG=pail_fs=debug).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let cache = tempfile::tempdir().expect("cache dir");
    let mem = MemStore::new();
    let key = pail_fs::CacheKey::generate().expect("a cache key");
    let mut drive = Drive::start(&mem, cache.path(), &key, seed);
    let mut m = Model::default();
    let mut unknown = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        if matches!(op, Op::Crash) {
            unknown.extend(drive.faulty.unknown_uploads());
            TOTALS[2].fetch_add(1, Ordering::Relaxed);
            TOTALS[3].fetch_add(drive.faulty.injected(), Ordering::Relaxed);
        }
        apply(
            &mut drive,
            &mut m,
            &mem,
            (cache.path(), &key),
            op,
            &what,
            seed + step as u64,
        );
    }
    for slot in 0..SLOTS {
        apply(
            &mut drive,
            &mut m,
            &mem,
            (cache.path(), &key),
            &Op::Close { slot },
            "closing",
            0,
        );
    }
    drive.drain();
    check(&mem, &m, &drive, "the end");
    unknown.extend(drive.faulty.unknown_uploads());
    let left = |unknown: &[String]| -> Vec<String> {
        mem.open_uploads()
            .into_iter()
            .filter(|id| !unknown.contains(id))
            .collect()
    };
    if !left(&unknown).is_empty() {
        // An abort that failed (one attempt, as the SDK's retries are spent) is left, journaled,
        // for the next mount: one without faults must clear it.
        drive.crash();
        drive = Drive::start_with(&mem, (cache.path(), &key), FaultPlan::default(), seed);
        drive.drain();
        check(&mem, &m, &drive, "a mount after the end");
    }
    // Uploads whose creation was never answered are a lifecycle rule's job (admin guide).
    assert_eq!(
        left(&unknown),
        Vec::<String>::new(),
        "multipart uploads left open after the next mount"
    );
    TOTALS[0].fetch_add(1, Ordering::Relaxed);
    TOTALS[1].fetch_add(ops.len() as u64, Ordering::Relaxed);
    TOTALS[3].fetch_add(drive.faulty.injected(), Ordering::Relaxed);
    if std::env::var_os("PAIL_MODEL_REPORT").is_some() {
        let [cases, ops, crashes, faults] = TOTALS.each_ref().map(|t| t.load(Ordering::Relaxed));
        eprintln!(
            "model: {cases} sequences, {ops} operations, {crashes} crashes, {faults} faults injected, no divergence"
        );
    }
}

/// Sequences, operations, crashes and injected faults so far (`PAIL_MODEL_REPORT` prints them).
static TOTALS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Asserts that the system's answer agrees with the model's on success.
fn agree<T: std::fmt::Debug, E: std::fmt::Debug>(what: &str, ok: bool, got: &Result<T, E>) {
    assert_eq!(
        got.is_ok(),
        ok,
        "{what}: the model says {}, the drive answered {got:?}",
        if ok { "ok" } else { "an error" }
    );
}

/// close(2) as the kernel makes it: a flush (the contents made durable), then a release.
fn close(drive: &Drive, vfs: &Vfs, h: HandleId, what: &str) {
    let flushed = drive.call(what, async { vfs.flush(h) });
    agree(what, true, &flushed);
    drive.call(what, async { vfs.release(h) });
}

fn apply(
    drive: &mut Drive,
    m: &mut Model,
    mem: &MemStore,
    (cache, key): (&std::path::Path, &pail_fs::CacheKey),
    op: &Op,
    what: &str,
    seed: u64,
) {
    let vfs = drive.vfs().clone();
    match *op {
        Op::Open { slot, file, truncate } => {
            if m.handles[slot].is_some() {
                return;
            }
            let path = file_path(file);
            let ok = m.dir_exists(parent(&path));
            let got = drive.call(what, vfs.create(&VfsPath::new(&path), false, truncate));
            agree(what, ok, &got);
            if let Ok((h, _)) = got {
                let inode = *m.files.entry(path).or_insert_with(|| {
                    m.inodes.push(Vec::new());
                    m.inodes.len() - 1
                });
                if truncate {
                    m.inodes[inode].clear();
                }
                m.handles[slot] = Some((inode, h));
            }
        }
        Op::Write {
            slot,
            offset,
            len,
            byte,
        } => {
            let Some((inode, h)) = m.handles[slot] else { return };
            let data = vec![byte; len];
            let got = drive.call(what, vfs.write(h, offset, &data));
            assert_eq!(got.ok(), Some(len as u32), "{what}");
            m.write(inode, offset, &data);
        }
        Op::WriteBig { slot, byte } => {
            let Some((inode, h)) = m.handles[slot] else { return };
            let data: Vec<u8> = (0..(5 << 20) + 300_000).map(|i| byte ^ (i % 251) as u8).collect();
            let got = drive.call(what, vfs.write(h, 0, &data));
            assert_eq!(got.ok(), Some(data.len() as u32), "{what}");
            m.write(inode, 0, &data);
        }
        Op::Truncate { slot, size } => {
            let Some((inode, _)) = m.handles[slot] else { return };
            let Some(path) = m.path_of(inode) else { return };
            let got = drive.call(what, vfs.set_len(&VfsPath::new(&path), size));
            agree(what, true, &got);
            m.inodes[inode].resize(size as usize, 0);
        }
        Op::Fsync { slot } => {
            let Some((_, h)) = m.handles[slot] else { return };
            let got = drive.call(what, vfs.fsync(h));
            agree(what, true, &got);
        }
        Op::Close { slot } => {
            if let Some((_, h)) = m.handles[slot].take() {
                close(drive, &vfs, h, what);
            }
        }
        Op::Rename { from, to } => {
            let (from, to) = (file_path(from), file_path(to));
            let ok = m.files.contains_key(&from) && m.dir_exists(parent(&to));
            let got = drive.call(what, vfs.rename(&VfsPath::new(&from), &VfsPath::new(&to), false));
            agree(what, ok, &got);
            if ok && from != to {
                let inode = m.files.remove(&from).expect("checked");
                m.files.insert(to, inode);
            }
        }
        Op::RenameDir { from, to } => {
            let (from, to) = (DIRS[from], DIRS[to]);
            let to_empty = !m.files.keys().any(|p| parent(p) == to);
            let ok = m.dirs.contains(from) && (!m.dirs.contains(to) || to_empty || from == to);
            let got = drive.call(what, vfs.rename(&VfsPath::new(from), &VfsPath::new(to), false));
            agree(what, ok, &got);
            if ok && from != to {
                m.dirs.remove(from);
                m.dirs.insert(to.to_owned());
                let moved: Vec<String> = m.files.keys().filter(|p| parent(p) == from).cloned().collect();
                for p in moved {
                    let inode = m.files.remove(&p).expect("listed");
                    m.files.insert(format!("{to}/{}", &p[from.len() + 1..]), inode);
                }
            }
        }
        Op::Unlink { file } => {
            let path = file_path(file);
            let ok = m.files.contains_key(&path);
            let got = drive.call(what, vfs.unlink(&VfsPath::new(&path)));
            agree(what, ok, &got);
            m.files.remove(&path);
        }
        Op::Mkdir { dir } => {
            let dir = DIRS[dir];
            let ok = !m.dirs.contains(dir);
            let got = drive.call(what, vfs.mkdir(&VfsPath::new(dir)));
            agree(what, ok, &got);
            m.dirs.insert(dir.to_owned());
        }
        Op::Rmdir { dir } => {
            let dir = DIRS[dir];
            let ok = m.dirs.contains(dir) && !m.files.keys().any(|p| parent(p) == dir);
            let got = drive.call(what, vfs.rmdir(&VfsPath::new(dir)));
            agree(what, ok, &got);
            if ok {
                m.dirs.remove(dir);
            }
        }
        Op::RemotePut { file, len, byte } => {
            let path = file_path(file);
            if m.handles.iter().any(Option::is_some) || !m.dir_exists(parent(&path)) {
                return;
            }
            drive.drain();
            let data = vec![byte; len];
            mem.put_object(&path, data.clone());
            m.inodes.push(data);
            m.files.insert(path, m.inodes.len() - 1);
        }
        Op::RemoteDelete { file } => {
            let path = file_path(file);
            if m.handles.iter().any(Option::is_some) {
                return;
            }
            drive.drain();
            mem.delete_object(&path);
            m.files.remove(&path);
        }
        Op::Drain => {
            // Write-back leaves a file alone while it is open for writing; an fsync sends it.
            for (_, h) in m.handles.iter().flatten() {
                let got = drive.call(what, vfs.fsync(*h));
                agree(what, true, &got);
            }
            drive.drain();
            check(mem, m, drive, what);
        }
        Op::Crash => {
            for slot in 0..SLOTS {
                if let Some((_, h)) = m.handles[slot].take() {
                    close(drive, &vfs, h, what);
                }
            }
            drop(vfs);
            drive.crash();
            *drive = Drive::start(mem, cache, key, seed);
        }
    }
}

fn cases() -> u32 {
    std::env::var("PAIL_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_drive_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..60), seed in any::<u64>()) {
        run(&ops, seed);
    }
}

// Failures proptest found, shrunk, kept by name.
#[path = "model/regressions.rs"]
mod regressions;
