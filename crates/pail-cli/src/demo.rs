//! `pail demo`: starts pail-emulator on 127.0.0.1 with sample files and mounts it, so a new
//! user sees a working drive with one command and no AWS account.

use std::path::PathBuf;

use anyhow::{Context, Result};
use bytes::Bytes;
use pail_emulator::{Emulator, PutOptions};
use pail_fs::{VfsConfig, WritebackConfig};
use pail_store::S3StoreConfig;
use rand::{RngCore, SeedableRng};

use crate::UsageError;
use crate::mount::{DriveSpec, check_mount_dir, open_drive, serve};

const BUCKET: &str = "pail-demo";

/// Options of `pail demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where to mount (an empty directory; created if missing). Default: a new folder in /tmp.
    #[arg(long, value_name = "DIR")]
    pub mountpoint: Option<PathBuf>,
    /// Size of the large sample file, e.g. `256MiB` (0 leaves it out).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = crate::mount::parse_size)]
    pub big_file_size: u64,
}

fn samples(big: u64) -> Vec<(String, Bytes, Option<&'static str>)> {
    let text = |s: &str| Bytes::from(s.to_owned());
    let mut files = vec![
        (
            "README.txt".into(),
            text(
                "This drive is an S3 bucket served by pail's built-in emulator.\nOpen, copy and read files as on any disk.\n",
            ),
            None,
        ),
        (
            "Documents/Quarterly report.txt".into(),
            text("Revenue up, costs down.\n"),
            Some("1700000000"),
        ),
        (
            "Documents/Minutes/2026-11-02.txt".into(),
            text("Attendees: everyone.\n"),
            None,
        ),
        (
            "Documents/Minutes/2026-11-09.txt".into(),
            text("Decisions: ship pail.\n"),
            None,
        ),
        (
            "Projects/pail/notes.md".into(),
            text("# Notes\n\n- mount\n- read\n"),
            None,
        ),
        (
            "Projects/pail/src/main.rs".into(),
            text("fn main() {\n    println!(\"hello from S3\");\n}\n"),
            None,
        ),
        ("Photos/2026/.keep".into(), Bytes::new(), None),
        ("Empty folder/".into(), Bytes::new(), None),
        (
            "Names/what? <yes> \"quoted\" | star*.txt".into(),
            text("Windows shows these with look-alike characters.\n"),
            None,
        ),
        ("Names/ünïcødé 文件.txt".into(), text("UTF-8 names work.\n"), None),
    ];
    if big > 0 {
        let mut data = vec![0u8; big as usize];
        rand::rngs::SmallRng::seed_from_u64(7).fill_bytes(&mut data);
        files.push((format!("Large/random-{}MiB.bin", big >> 20), data.into(), None));
    }
    files
}

/// `pail demo`.
pub fn run_demo(rt: &tokio::runtime::Runtime, args: DemoArgs) -> Result<()> {
    let dir = match args.mountpoint {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("pail-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display())))?;
    check_mount_dir(&dir)?;
    let emulator = rt
        .block_on(Emulator::start_with_buckets(&[BUCKET]))
        .context("starting the S3 emulator")?;
    say!("Preparing sample files…");
    for (key, data, mtime) in samples(args.big_file_size) {
        let mut opts = PutOptions::default();
        if let Some(m) = mtime {
            opts.metadata.insert(pail_store::MTIME_METADATA_KEY.into(), m.into());
        }
        emulator
            .put_with(BUCKET, &key, data, opts)
            .context("storing a sample file")?;
    }
    let (ak, sk) = emulator.credentials();
    let store = S3StoreConfig::for_endpoint(BUCKET, &emulator.endpoint(), pail_emulator::REGION, ak, sk);
    // The emulator keeps the bucket in memory, so the drive's cache is temporary too.
    let cache = tempfile::Builder::new()
        .prefix("pail-demo-cache-")
        .tempdir()
        .context("creating the demo's cache directory")?;
    let spec = DriveSpec {
        store,
        vfs: VfsConfig {
            writeback: Some(WritebackConfig::new(cache.path())),
            ..VfsConfig::default()
        },
        dir: dir.clone(),
        cache_dir: cache.path().to_path_buf(),
        sso: None,
    };
    say!("S3 emulator at {} (bucket {BUCKET}, key {ak})", emulator.endpoint());
    let vfs = rt.block_on(open_drive(&spec))?;
    say!(
        "Try: ls -la {0}  ·  cat {0}/README.txt  ·  echo hi > {0}/new.txt  ·  sha256sum {0}/Large/*",
        dir.display()
    );
    serve(rt, &spec, vfs)?;
    drop(emulator);
    if args_was_default_tmp(&dir) {
        let _ = std::fs::remove_dir(&dir);
    }
    Ok(())
}

fn args_was_default_tmp(dir: &std::path::Path) -> bool {
    dir.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("pail-demo-"))
        && dir.starts_with(std::env::temp_dir())
}
