//! pail's read benchmark. Not part of the test run: `./dev bench` (release build).
//!
//! One run starts pail-emulator on 127.0.0.1 with a 1 GiB object, a 10,000-key folder and 1,000
//! 4 KiB files, then measures side by side:
//! (a) the raw ceiling: parallel ranged GETs of the 1 GiB object straight through pail-store,
//! the best of three runs (a busy machine only ever makes a run slower, so the best is the
//! ceiling, and one slow run no longer flatters every ratio);
//! (b) a cold sequential read of it through a mount; (c) 4 KiB random reads; (d) a cold `ls -l`
//! of the 10,000-key folder; (e) reading the 1,000 small files — for `pail mount` and, when
//! installed, `rclone mount` (`--vfs-cache-mode full` and `off`) and `s3fs`, each a separate
//! process whose peak RSS (VmHWM) is read before it is unmounted. Prints a markdown table.
//! Then the writes (`writes`): a large file, 1,000 small files and a 2,000-file `cp -r`, each
//! until it is in S3, against the raw multipart-upload ceiling. `--writes-only` skips the reads,
//! `--no-writes` the writes; `--write-size-mib N` sets the large file (default 1024);
//! `--network wan` measures through pail-emulator's WAN profile (`pail_emulator::Network`).

#![allow(clippy::print_stdout)]

mod peers;
mod writes;

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use pail_emulator::Emulator;
use pail_store::{ObjectStore, S3Store};
use pail_tests::{random_bytes, store_config};
use rand::{Rng, SeedableRng};

use peers::{Tool, mounted_tools};

pub(crate) const BUCKET: &str = "pail-bench";
pub(crate) const MIB: u64 = 1 << 20;

#[derive(Debug, Default, Clone)]
struct Row {
    tool: String,
    seq_mb_s: f64,
    random_ops: f64,
    ls_entries_s: f64,
    small_files_s: f64,
    peak_rss_mib: f64,
    note: String,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let big = args
        .iter()
        .position(|a| a == "--size-mib")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<u64>().ok());
    let big_bytes = big.unwrap_or(1024) * MIB;
    let only: Option<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();

    // `--server dir` keeps object bytes in files (read per request, like s3s-fs) instead of in
    // memory: a slower server, closer to the reference setup the peer figures came from.
    let on_disk = args
        .iter()
        .position(|a| a == "--server")
        .and_then(|i| args.get(i + 1))
        .is_some_and(|s| s == "dir");
    let data_dir = tempfile::Builder::new().prefix("pail-bench-s3-").tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let config = pail_emulator::EmulatorConfig {
        buckets: vec![BUCKET.to_owned()],
        data_dir: on_disk.then(|| data_dir.path().to_path_buf()),
        ..Default::default()
    };
    let emu = rt.block_on(Emulator::start(config))?;
    println!("Seeding the emulator at {} …", emu.endpoint());
    emu.put(BUCKET, "big/object.bin", random_bytes(big_bytes as usize, 1))?;
    for i in 0..10_000 {
        emu.put(BUCKET, &format!("many/f-{i:05}.txt"), &b"0123456789"[..])?;
    }
    for i in 0..1_000 {
        emu.put(BUCKET, &format!("small/s-{i:04}.bin"), random_bytes(4096, 100 + i))?;
    }

    // `--network wan` puts a client outside AWS between the mounts and the emulator (latency
    // per kind of request, jitter, 85 MB/s per connection); seeding above went around it.
    let network = match args.iter().position(|a| a == "--network").and_then(|i| args.get(i + 1)) {
        Some(name) => {
            pail_emulator::Network::named(name).with_context(|| format!("no network profile {name:?}: none, wan"))?
        }
        None => pail_emulator::Network::NONE,
    };
    if !network.is_none() {
        println!("network profile: {network:?}");
        emu.set_faults(pail_emulator::Faults {
            network,
            ..Default::default()
        });
    }

    let write_mib = args
        .iter()
        .position(|a| a == "--write-size-mib")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1024);
    if args.iter().any(|a| a == "--writes-only") {
        return write_report(&rt, &emu, write_mib * MIB, only.as_deref());
    }

    let ceiling = best_of(CEILING_RUNS, || rt.block_on(raw_ceiling(&emu, big_bytes)))?;
    println!("raw ceiling (parallel ranged GET through pail-store, best of {CEILING_RUNS}): {ceiling:.0} MB/s");

    let mut rows = Vec::new();
    for tool in mounted_tools() {
        if only.as_deref().is_some_and(|o| !tool.name().contains(o)) {
            continue;
        }
        println!("measuring {} …", tool.name());
        match measure(&tool, &emu, big_bytes) {
            Ok(row) => rows.push(row),
            Err(e) => rows.push(Row {
                tool: tool.name(),
                note: format!("failed: {e:#}"),
                ..Row::default()
            }),
        }
    }

    println!();
    println!(
        "Object {} MiB; server {}; ceiling {:.0} MB/s; machine: {} cores.",
        big_bytes / MIB,
        if on_disk {
            "emulator with objects in files"
        } else {
            "emulator with objects in memory"
        },
        ceiling,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!();
    println!(
        "| mount | cold seq read MB/s | ratio to ceiling | 4 KiB random reads/s | cold `ls -l` 10k entries/s | 1,000 × 4 KiB files/s | peak RSS MiB | note |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
            r.tool,
            r.seq_mb_s,
            r.seq_mb_s / ceiling,
            r.random_ops,
            r.ls_entries_s,
            r.small_files_s,
            r.peak_rss_mib,
            r.note
        );
    }
    if args.iter().any(|a| a == "--no-writes") {
        return Ok(());
    }
    write_report(&rt, &emu, write_mib * MIB, only.as_deref())
}

/// Runs the write measurements for every mount and prints their table.
fn write_report(rt: &tokio::runtime::Runtime, emu: &Emulator, size: u64, only: Option<&str>) -> Result<()> {
    let ceiling = best_of(CEILING_RUNS, || rt.block_on(writes::raw_ceiling(emu, size)))?;
    println!("raw write ceiling (multipart upload through pail-store, best of {CEILING_RUNS}): {ceiling:.0} MB/s");
    let mut rows = Vec::new();
    for tool in mounted_tools() {
        if only.is_some_and(|o| !tool.name().contains(o)) {
            continue;
        }
        println!("measuring writes through {} …", tool.name());
        match writes::measure(&tool, emu, size) {
            Ok(row) => rows.push(row),
            Err(e) => rows.push(writes::WriteRow {
                tool: tool.name(),
                note: format!("failed: {e:#}"),
                ..Default::default()
            }),
        }
    }
    println!();
    println!("Writes: {} MiB file; ceiling {ceiling:.0} MB/s.", size / MIB);
    println!();
    println!(
        "| mount | {} MiB write until in S3, MB/s | ratio to ceiling | of which until closed, s | 1,000 × 4 KiB creates until listed, files/s | `cp -r` 2,000 files until in S3, files/s | peak RSS MiB (large write) | note |",
        size / MIB
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.1} of {:.1} | {:.0} | {:.0} | {:.0} | {} |",
            r.tool,
            r.big_mb_s,
            r.big_mb_s / ceiling,
            r.big_closed_s,
            size as f64 / 1e6 / r.big_mb_s.max(f64::MIN_POSITIVE),
            r.small_files_s,
            r.tree_files_s,
            r.peak_rss_mib,
            r.note
        );
    }
    Ok(())
}

/// How many times each raw ceiling is measured; the best run is the ceiling.
const CEILING_RUNS: usize = 3;

/// The best of `runs` measurements in MB/s, each printed as it is taken.
fn best_of(runs: usize, mut measure: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut best = 0f64;
    for run in 1..=runs {
        let mb_s = measure()?;
        println!("  ceiling run {run}: {mb_s:.0} MB/s");
        best = best.max(mb_s);
    }
    Ok(best)
}

/// Parallel ranged GETs of the whole object through pail-store: 8 MiB parts, 16 at a time.
async fn raw_ceiling(emu: &Emulator, size: u64) -> Result<f64> {
    let store = Arc::new(S3Store::new(store_config(emu, BUCKET)).await?);
    let part = 8 * MIB;
    let start = Instant::now();
    let parts: Vec<u64> = (0..size.div_ceil(part)).collect();
    let total: u64 = futures::stream::iter(parts)
        .map(|i| {
            let store = store.clone();
            async move {
                let range = i * part..((i + 1) * part).min(size);
                let got = store.get_range("big/object.bin", range, None).await?;
                let mut n = 0u64;
                let mut body = got.body;
                while let Some(chunk) = body.try_next().await? {
                    n += chunk.len() as u64;
                }
                Ok::<_, pail_store::StoreError>(n)
            }
        })
        .buffer_unordered(16)
        .try_fold(0u64, |acc, n| async move { Ok(acc + n) })
        .await?;
    anyhow::ensure!(total == size, "ceiling read {total} of {size} bytes");
    Ok(size as f64 / 1e6 / start.elapsed().as_secs_f64())
}

fn measure(tool: &Tool, emu: &Emulator, size: u64) -> Result<Row> {
    let mut row = Row {
        tool: tool.name(),
        ..Row::default()
    };
    let mut peak = 0u64;

    // (b) cold sequential read, 1 MiB reads as `cat` or `cp` would issue.
    {
        let m = tool.mount(emu, BUCKET)?;
        let path = m.dir().join("big/object.bin");
        let start = Instant::now();
        let mut f = std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
        let mut buf = vec![0u8; MIB as usize];
        let mut total = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        anyhow::ensure!(total == size, "read {total} of {size} bytes");
        row.seq_mb_s = size as f64 / 1e6 / start.elapsed().as_secs_f64();
        peak = peak.max(m.peak_rss()?);
    }
    // (c) 4 KiB random reads over the whole object, cold mount.
    {
        let m = tool.mount(emu, BUCKET)?;
        let f = std::fs::File::open(m.dir().join("big/object.bin"))?;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(42);
        let mut buf = vec![0u8; 4096];
        let n = 500;
        let start = Instant::now();
        for _ in 0..n {
            let off = rng.random_range(0..size - 4096);
            f.read_exact_at(&mut buf, off)?;
        }
        row.random_ops = f64::from(n) / start.elapsed().as_secs_f64();
        peak = peak.max(m.peak_rss()?);
    }
    // (d) cold `ls -l` of the 10,000-key folder.
    {
        let m = tool.mount(emu, BUCKET)?;
        let start = Instant::now();
        let out = std::process::Command::new("ls")
            .arg("-l")
            .arg(m.dir().join("many"))
            .output()?;
        anyhow::ensure!(out.status.success(), "ls failed");
        let lines = out.stdout.iter().filter(|&&b| b == b'\n').count().saturating_sub(1);
        anyhow::ensure!(lines == 10_000, "ls -l showed {lines} entries");
        row.ls_entries_s = lines as f64 / start.elapsed().as_secs_f64();
        peak = peak.max(m.peak_rss()?);
    }
    // (e) read 1,000 4 KiB files one after the other, cold mount.
    {
        let m = tool.mount(emu, BUCKET)?;
        let dir = m.dir().join("small");
        let start = Instant::now();
        for i in 0..1_000 {
            let data = std::fs::read(dir.join(format!("s-{i:04}.bin")))?;
            anyhow::ensure!(data.len() == 4096, "short small file");
        }
        row.small_files_s = 1000.0 / start.elapsed().as_secs_f64();
        peak = peak.max(m.peak_rss()?);
    }
    row.peak_rss_mib = peak as f64 / MIB as f64;
    Ok(row)
}

/// The directory the running binary lives in (the `pail` binary is built beside it).
fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}
