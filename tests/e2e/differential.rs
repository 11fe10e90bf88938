//! A randomized differential test: thousands of random file operations applied both to the
//! mounted drive and to a local reference directory, each result (success or errno) compared,
//! then both trees compared byte for byte — before and after a remount with an empty cache.
//!
//! Seeded and reproducible: `PAIL_SEED=<n>` replays a run, `PAIL_OPS=<n>` changes its length.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use pail_tests::{DriveOptions, TestDrive};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

const DIRS: [&str; 4] = ["d0", "d1", "d0/e0", "d1/e1"];
const FILES: usize = 8;

/// An open file on both sides.
struct OpenPair {
    rel: String,
    mount: File,
    reference: File,
}

struct Run {
    rng: SmallRng,
    mount: PathBuf,
    reference: PathBuf,
    open: Vec<OpenPair>,
    log: Vec<String>,
}

fn errno<T>(r: &std::io::Result<T>) -> Option<i32> {
    match r {
        Ok(_) => None,
        Err(e) => Some(e.raw_os_error().unwrap_or(-1)),
    }
}

impl Run {
    fn dir(&mut self) -> String {
        if self.rng.random_bool(0.3) {
            String::new()
        } else {
            DIRS[self.rng.random_range(0..DIRS.len())].to_owned()
        }
    }

    /// A folder other than the root (the mount's root cannot be created, removed or replaced).
    fn named_dir(&mut self) -> String {
        DIRS[self.rng.random_range(0..DIRS.len())].to_owned()
    }

    fn file(&mut self) -> String {
        let dir = self.dir();
        let name = format!("f{}", self.rng.random_range(0..FILES));
        if dir.is_empty() { name } else { format!("{dir}/{name}") }
    }

    fn any_path(&mut self) -> String {
        if self.rng.random_bool(0.5) {
            self.file()
        } else {
            self.named_dir()
        }
    }

    fn data(&mut self) -> Vec<u8> {
        let len = match self.rng.random_range(0..10) {
            0 => 0,
            1 => self.rng.random_range(1 << 20..3 << 20),
            _ => self.rng.random_range(1..64 << 10),
        };
        let mut d = vec![0; len];
        self.rng.fill_bytes(&mut d);
        d
    }

    /// Applies `op` to both trees and checks they agree.
    fn both<T: std::fmt::Debug>(&mut self, what: String, op: impl Fn(&Path) -> std::io::Result<T>) {
        let m = op(&self.mount);
        let r = op(&self.reference);
        self.log.push(format!("{what} -> {:?}", errno(&r)));
        assert_eq!(
            errno(&m),
            errno(&r),
            "step {}: {what}: mount {m:?} vs reference {r:?}\nlast steps:\n{}",
            self.log.len(),
            self.log
                .iter()
                .rev()
                .take(15)
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    fn step(&mut self) {
        match self.rng.random_range(0..100) {
            0..20 => {
                let (p, data) = (self.file(), self.data());
                self.both(format!("write {p} ({} bytes)", data.len()), |root| {
                    fs::write(root.join(&p), &data)
                });
            }
            20..32 => {
                let (p, data) = (self.file(), self.data());
                let off = self.rng.random_range(0..4 << 20);
                self.both(format!("pwrite {p} @{off} ({} bytes)", data.len()), |root| {
                    OpenOptions::new()
                        .write(true)
                        .open(root.join(&p))?
                        .write_all_at(&data, off)
                });
            }
            32..40 => {
                let (p, data) = (self.file(), self.data());
                self.both(format!("append {p}"), |root| {
                    OpenOptions::new().append(true).open(root.join(&p))?.write_all(&data)
                });
            }
            40..47 => {
                let p = self.file();
                let len = self.rng.random_range(0..3 << 20);
                self.both(format!("truncate {p} to {len}"), |root| {
                    OpenOptions::new().write(true).open(root.join(&p))?.set_len(len)
                });
            }
            47..57 => {
                let (a, b) = (self.file(), self.file());
                self.both(format!("rename {a} -> {b}"), |root| {
                    fs::rename(root.join(&a), root.join(&b))
                });
            }
            57..64 => {
                let p = self.file();
                self.both(format!("unlink {p}"), |root| fs::remove_file(root.join(&p)));
            }
            64..70 => {
                let p = self.named_dir();
                self.both(format!("mkdir {p}"), |root| fs::create_dir(root.join(&p)));
            }
            70..74 => {
                let p = self.named_dir();
                self.both(format!("rmdir {p}"), |root| fs::remove_dir(root.join(&p)));
            }
            74..78 => {
                let (a, b) = (self.any_path(), self.named_dir());
                self.both(format!("rename dir {a} -> {b}"), |root| {
                    fs::rename(root.join(&a), root.join(&b))
                });
            }
            78..86 => self.open_one(),
            86..94 => self.write_open(),
            _ => {
                if !self.open.is_empty() {
                    let i = self.rng.random_range(0..self.open.len());
                    let pair = self.open.swap_remove(i);
                    self.log.push(format!("close {}", pair.rel));
                }
            }
        }
    }

    fn open_one(&mut self) {
        if self.open.len() >= 3 {
            return;
        }
        let p = self.file();
        let open = |root: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(root.join(&p))
        };
        let (m, r) = (open(&self.mount), open(&self.reference));
        self.log.push(format!("open {p} -> {:?}", errno(&r)));
        assert_eq!(errno(&m), errno(&r), "open {p}: {m:?} vs {r:?}");
        if let (Ok(mount), Ok(reference)) = (m, r) {
            self.open.push(OpenPair {
                rel: p,
                mount,
                reference,
            });
        }
    }

    fn write_open(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..self.open.len());
        let data = self.data();
        let off = self.rng.random_range(0..2 << 20);
        let pair = &self.open[i];
        let m = pair.mount.write_all_at(&data, off);
        let r = pair.reference.write_all_at(&data, off);
        self.log.push(format!("write open {} @{off}", pair.rel));
        assert_eq!(
            errno(&m),
            errno(&r),
            "write to open {}; last steps:\n{}",
            self.open[i].rel,
            self.log
                .iter()
                .rev()
                .take(25)
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Every path under `root` with its content (`None` for folders).
fn snapshot(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            let rel = path.strip_prefix(root).expect("inside").to_string_lossy().into_owned();
            if entry.file_type().expect("type").is_dir() {
                out.insert(rel, None);
                stack.push(path);
            } else {
                out.insert(rel, Some(fs::read(&path).expect("read")));
            }
        }
    }
    out
}

fn assert_same(mount: &Path, reference: &Path, when: &str) {
    let (m, r) = (snapshot(mount), snapshot(reference));
    let names = |s: &BTreeMap<String, Option<Vec<u8>>>| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&m), names(&r), "{when}: the trees differ");
    for (k, v) in &r {
        assert!(
            m[k] == *v,
            "{when}: {k} differs ({:?} vs {:?} bytes)",
            m[k].as_ref().map(Vec::len),
            v.as_ref().map(Vec::len)
        );
    }
}

#[test]
fn random_operations_match_a_local_directory_before_and_after_remount() {
    let seed: u64 = std::env::var("PAIL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    let ops: usize = std::env::var("PAIL_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut drive = TestDrive::start_with(DriveOptions::writable(), |_| {});
    let reference = tempfile::tempdir().expect("reference dir");
    let mut run = Run {
        rng: SmallRng::seed_from_u64(seed),
        mount: drive.root().to_path_buf(),
        reference: reference.path().to_path_buf(),
        open: Vec::new(),
        log: Vec::new(),
    };
    for _ in 0..ops {
        run.step();
    }
    if let Some(out) = std::env::var_os("PAIL_DIFF_LOG") {
        std::fs::write(out, run.log.join("\n")).expect("write the operation log");
    }
    run.open.clear();
    assert_same(
        drive.root(),
        reference.path(),
        &format!("seed {seed}, after {ops} operations"),
    );
    drive.drain();
    drive.remount(false);
    assert_same(
        drive.root(),
        reference.path(),
        &format!("seed {seed}, after a remount with an empty cache"),
    );
}
