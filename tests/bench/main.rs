//! pail's read benchmark. Not part of the test run: `./dev bench` (release build).
//!
//! One run starts pail-emulator on 127.0.0.1 with a 1 GiB object, a 10,000-key folder and 1,000
//! 4 KiB files, then measures side by side:
//! (a) the raw ceiling: parallel ranged GETs of the 1 GiB object straight through pail-store,
//! the best of three runs (a busy machine only ever makes a run slower, so the best is the
//! ceiling, and one slow run no longer flatters every ratio);
//! (b) a cold sequential read of it through a mount; (c) 4 KiB random reads, by one reader and
//! by four at once; (d) a cold `ls -l`
//! of the 10,000-key folder; (e) reading the 1,000 small files — for `pail mount` and, when
//! installed, `rclone mount` (`--vfs-cache-mode full` and `off`) and `s3fs`, each a separate
//! process whose peak RSS (VmHWM) is read, per workload, before it is unmounted. Prints a markdown table.
//! Then the writes (`writes`): a large file, 1,000 small files and a 2,000-file `cp -r`, each
//! until it is in S3, against the raw multipart-upload ceiling. `--writes-only` skips the reads,
//! `--no-writes` the writes; `--write-size-mib N` sets the large file (default 1024);
//! `--network wan` measures through pail-emulator's WAN profile (`pail_emulator::Network`);
//! `--server s3s-fs` against s3s-fs, a disk-backed S3 server nobody here wrote (`server.rs`),
//! `--server dir` against pail-emulator keeping objects in files; `--stall-one-in N` leaves one
//! request in N unanswered.

#![allow(clippy::print_stdout)]

mod cpu;
mod peers;
mod server;
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
use pail_tests::random_bytes;
use rand::{Rng, SeedableRng};

use peers::{Tool, mounted_tools};
use server::Server;

pub(crate) const BUCKET: &str = "pail-bench";
pub(crate) const MIB: u64 = 1 << 20;

#[derive(Debug, Default, Clone)]
struct Row {
    tool: String,
    seq_mb_s: f64,
    random_ops: f64,
    ls_entries_s: f64,
    small_files_s: f64,
    /// 4 KiB random reads per second of four readers at once (as `fio --numjobs=4`).
    parallel_random_ops: f64,
    /// Peak RSS of the mount in each workload, MiB, in the table's order.
    rss_mib: [f64; 5],
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
    // memory; `--server s3s-fs` is s3s-fs itself, a server nobody here wrote.
    let server_kind = args
        .iter()
        .position(|a| a == "--server")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let on_disk = server_kind == "dir";
    let data_dir = tempfile::Builder::new().prefix("pail-bench-s3-").tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // `--network wan` puts a client outside AWS between the mounts and the emulator (latency
    // per kind of request, jitter, 85 MB/s per connection); seeding goes around it.
    let network = match args.iter().position(|a| a == "--network").and_then(|i| args.get(i + 1)) {
        Some(name) => {
            pail_emulator::Network::named(name).with_context(|| format!("no network profile {name:?}: none, wan"))?
        }
        None => pail_emulator::Network::NONE,
    };
    let server = match server_kind.as_str() {
        "s3s-fs" => {
            anyhow::ensure!(network.is_none(), "--network applies to pail-emulator only");
            Server::S3sFs(server::S3sFs::start(&server::s3s_fs_program()?)?)
        }
        "" | "dir" | "memory" => {
            let config = pail_emulator::EmulatorConfig {
                buckets: vec![BUCKET.to_owned()],
                data_dir: on_disk.then(|| data_dir.path().to_path_buf()),
                ..Default::default()
            };
            Server::Emulator(rt.block_on(Emulator::start(config))?)
        }
        other => anyhow::bail!("no server {other:?}: memory, dir, s3s-fs"),
    };
    println!("Seeding {} at {} …", server.describe(on_disk), server.endpoint());
    let mut seed = vec![("big/object.bin".to_owned(), random_bytes(big_bytes as usize, 1).into())];
    seed.extend((0..10_000).map(|i| (format!("many/f-{i:05}.txt"), bytes::Bytes::from_static(b"0123456789"))));
    seed.extend((0..1_000).map(|i| (format!("small/s-{i:04}.bin"), random_bytes(4096, 100 + i).into())));
    server.put_all(seed)?;
    // `--stall-one-in N`: one request in N is never answered (the mounts must time out and
    // retry it; issue 18's bad input).
    let stall_rate = args
        .iter()
        .position(|a| a == "--stall-one-in")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(0.0, |n| 1.0 / n.max(1.0));
    if let Server::Emulator(emu) = &server
        && (!network.is_none() || stall_rate > 0.0)
    {
        println!("network profile: {network:?}; share of requests never answered: {stall_rate}");
        emu.set_faults(pail_emulator::Faults {
            network,
            stall_rate,
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
        return write_report(&rt, &server, write_mib * MIB, only.as_deref());
    }

    // The reference is 8 GETs in flight; 16 shows what more concurrency would reach.
    let wide = best_of(CEILING_RUNS, || rt.block_on(raw_ceiling(&server, big_bytes, 16)))?;
    println!("raw ceiling, 16 ranged GETs in flight (best of {CEILING_RUNS}): {wide:.0} MB/s");
    let ceiling = best_of(CEILING_RUNS, || rt.block_on(raw_ceiling(&server, big_bytes, 8)))?;
    println!("raw ceiling, 8 ranged GETs in flight (best of {CEILING_RUNS}): {ceiling:.0} MB/s");

    let tools = tools_measured(only.as_deref());
    if let Some(first) = tools.first() {
        // The first mount to read after the ceilings read at half the speed of the next ones,
        // whichever tool it was (pail in the clear: 616 MB/s first, 1,045-1,176 second): one
        // read through a mount nobody measures takes that cost instead of the first tool.
        println!("warming up with {} (not measured) …", first.name());
        if let Err(e) = warm_up(first, &server, big_bytes) {
            println!("  warm-up failed: {e:#}");
        }
    }
    let mut rows = Vec::new();
    for tool in tools {
        println!("measuring {} …", tool.name());
        match measure(&tool, &server, big_bytes) {
            Ok(row) => {
                println!("  {row:?}");
                rows.push(row)
            }
            Err(e) => rows.push(Row {
                tool: tool.name(),
                note: format!("failed: {e:#}"),
                ..Row::default()
            }),
        }
    }

    println!();
    println!(
        "Object {} MiB; server {}{}; ceiling {:.0} MB/s with 8 ranged GETs in flight ({:.0} with 16); machine: {} cores.",
        big_bytes / MIB,
        server.describe(on_disk),
        if network.is_none() { "" } else { ", WAN profile" },
        ceiling,
        wide,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!();
    println!(
        "| mount | cold seq read MB/s | ratio to 8-way ceiling | 4 KiB random reads/s | 4 readers' random reads/s | cold `ls -l` 10k entries/s | 1,000 × 4 KiB files/s | peak RSS MiB (seq / random / 4 readers / ls / small) | note |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let rss: Vec<String> = r.rss_mib.iter().map(|&m| fig(m, 0)).collect();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.tool,
            fig(r.seq_mb_s, 0),
            fig(r.seq_mb_s / ceiling, 2),
            fig(r.random_ops, 0),
            fig(r.parallel_random_ops, 0),
            fig(r.ls_entries_s, 0),
            fig(r.small_files_s, 0),
            rss.join(" / "),
            r.note
        );
    }
    if args.iter().any(|a| a == "--no-writes") {
        return Ok(());
    }
    write_report(&rt, &server, write_mib * MIB, only.as_deref())
}

/// The installed mounts, those whose name contains `only` when given (`--only`).
fn tools_measured(only: Option<&str>) -> Vec<Tool> {
    mounted_tools()
        .into_iter()
        .filter(|t| only.is_none_or(|o| t.name().contains(o)))
        .collect()
}

/// Runs the write measurements for every mount and prints their table.
fn write_report(rt: &tokio::runtime::Runtime, server: &Server, size: u64, only: Option<&str>) -> Result<()> {
    let ceiling_of = |list_first| {
        best_of(CEILING_RUNS, || {
            let mb_s = rt.block_on(writes::raw_ceiling(server, size, list_first))?;
            server.delete_prefix("ceiling/")?;
            Ok(mb_s)
        })
    };
    let ceiling = ceiling_of(false)?;
    println!("raw write ceiling (multipart upload through pail-store, best of {CEILING_RUNS}): {ceiling:.0} MB/s");
    let bound = ceiling_of(true)?;
    println!(
        "the same after one LIST page (a new name in a folder not yet listed; best of {CEILING_RUNS}): {bound:.0} MB/s"
    );
    let mut rows = Vec::new();
    for tool in tools_measured(only) {
        println!("measuring writes through {} …", tool.name());
        match writes::measure(&tool, server, size) {
            Ok(row) => {
                println!("  {row:?}");
                rows.push(row)
            }
            Err(e) => rows.push(writes::WriteRow {
                tool: tool.name(),
                note: format!("failed: {e:#}"),
                ..Default::default()
            }),
        }
    }
    println!();
    println!(
        "Writes: {} MiB file; ceiling {ceiling:.0} MB/s; {bound:.0} MB/s with the LIST that a new name costs.",
        size / MIB
    );
    println!();
    println!(
        "| mount | {} MiB write until in S3, MB/s | ratio to ceiling | ratio to ceiling + LIST | of which until closed, s | 1,000 × 4 KiB creates until listed, files/s | `cp -r` 2,000 files until in S3, files/s | peak RSS MiB (large write) | note |",
        size / MIB
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} of {} | {} | {} | {} | {} |",
            r.tool,
            fig(r.big_mb_s, 0),
            fig(r.big_mb_s / ceiling, 2),
            fig(r.big_mb_s / bound, 2),
            fig(r.big_closed_s, 1),
            fig(size as f64 / 1e6 / r.big_mb_s, 1),
            fig(r.small_files_s, 0),
            fig(r.tree_files_s, 0),
            fig(r.peak_rss_mib, 0),
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

/// Parallel ranged GETs of the whole object through pail-store: 8 MiB parts, `at_once` at a time.
async fn raw_ceiling(server: &Server, size: u64, at_once: usize) -> Result<f64> {
    let store = Arc::new(S3Store::new(server.store_config()).await?);
    let part = 8 * MIB;
    let cpu = cpu::Span::start(None, server.pid());
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
        .buffer_unordered(at_once)
        .try_fold(0u64, |acc, n| async move { Ok(acc + n) })
        .await?;
    anyhow::ensure!(total == size, "ceiling read {total} of {size} bytes");
    println!("  {}", cpu.report(&format!("{at_once}-way GETs"), size));
    Ok(size as f64 / 1e6 / start.elapsed().as_secs_f64())
}

/// Reads the large object once through a mount of `tool`, measuring nothing.
fn warm_up(tool: &Tool, server: &Server, size: u64) -> Result<()> {
    let m = tool.mount(server, BUCKET)?;
    let _watchdog = m.watchdog(workload_limit());
    let mut f = std::fs::File::open(m.dir().join("big/object.bin"))?;
    let copied = std::io::copy(&mut f, &mut std::io::sink())?;
    anyhow::ensure!(copied == size, "read {copied} of {size} bytes");
    Ok(())
}

fn measure(tool: &Tool, server: &Server, size: u64) -> Result<Row> {
    let mut row = Row {
        tool: tool.name(),
        seq_mb_s: f64::NAN,
        random_ops: f64::NAN,
        ls_entries_s: f64::NAN,
        small_files_s: f64::NAN,
        parallel_random_ops: f64::NAN,
        rss_mib: [f64::NAN; 5],
        note: String::new(),
    };

    // (b) cold sequential read, 1 MiB reads as `cat` or `cp` would issue.
    let got = (|| -> Result<(f64, f64)> {
        let m = tool.mount(server, BUCKET)?;
        let _watchdog = m.watchdog(workload_limit());
        let path = m.dir().join("big/object.bin");
        let cpu = cpu::Span::start(Some(m.pid()), server.pid());
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
        let mb_s = size as f64 / 1e6 / start.elapsed().as_secs_f64();
        println!("  {}", cpu.report("sequential read", size));
        Ok((mb_s, m.peak_rss()? as f64 / MIB as f64))
    })();
    (row.seq_mb_s, row.rss_mib[0]) = row.record("sequential read", got);
    // (c) 4 KiB random reads over the whole object, cold mount.
    let got = (|| -> Result<(f64, f64)> {
        let m = tool.mount(server, BUCKET)?;
        let _watchdog = m.watchdog(workload_limit());
        let f = std::fs::File::open(m.dir().join("big/object.bin"))?;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(42);
        let mut buf = vec![0u8; 4096];
        let n = 500;
        let start = Instant::now();
        for _ in 0..n {
            let off = rng.random_range(0..size - 4096);
            f.read_exact_at(&mut buf, off)?;
        }
        Ok((
            f64::from(n) / start.elapsed().as_secs_f64(),
            m.peak_rss()? as f64 / MIB as f64,
        ))
    })();
    (row.random_ops, row.rss_mib[1]) = row.record("random reads", got);
    // (c') four readers at once, each 500 4 KiB random reads (as fio's 4 jobs), cold mount:
    // what pushes a mount's memory furthest.
    let got = (|| -> Result<(f64, f64)> {
        let m = tool.mount(server, BUCKET)?;
        let _watchdog = m.watchdog(workload_limit());
        let path = m.dir().join("big/object.bin");
        let start = Instant::now();
        let n: u32 = 500;
        std::thread::scope(|s| {
            let readers: Vec<_> = (0..4u64)
                .map(|j| {
                    let path = &path;
                    s.spawn(move || -> Result<()> {
                        let f = std::fs::File::open(path)?;
                        let mut rng = rand::rngs::SmallRng::seed_from_u64(7 + j);
                        let mut buf = vec![0u8; 4096];
                        for _ in 0..n {
                            f.read_exact_at(&mut buf, rng.random_range(0..size - 4096))?;
                        }
                        Ok(())
                    })
                })
                .collect();
            readers
                .into_iter()
                .try_for_each(|r| r.join().map_err(|_| anyhow::anyhow!("reader panicked"))?)
        })?;
        Ok((
            f64::from(4 * n) / start.elapsed().as_secs_f64(),
            m.peak_rss()? as f64 / MIB as f64,
        ))
    })();
    (row.parallel_random_ops, row.rss_mib[2]) = row.record("four readers", got);
    // (d) cold `ls -l` of the 10,000-key folder.
    let got = (|| -> Result<(f64, f64)> {
        let m = tool.mount(server, BUCKET)?;
        let _watchdog = m.watchdog(workload_limit());
        let start = Instant::now();
        let out = std::process::Command::new("ls")
            .arg("-l")
            .arg(m.dir().join("many"))
            .output()?;
        anyhow::ensure!(out.status.success(), "ls failed");
        let lines = out.stdout.iter().filter(|&&b| b == b'\n').count().saturating_sub(1);
        anyhow::ensure!(lines == 10_000, "ls -l showed {lines} entries");
        Ok((
            lines as f64 / start.elapsed().as_secs_f64(),
            m.peak_rss()? as f64 / MIB as f64,
        ))
    })();
    (row.ls_entries_s, row.rss_mib[3]) = row.record("ls -l", got);
    // (e) read 1,000 4 KiB files one after the other, cold mount.
    let got = (|| -> Result<(f64, f64)> {
        let m = tool.mount(server, BUCKET)?;
        let _watchdog = m.watchdog(workload_limit());
        let dir = m.dir().join("small");
        let start = Instant::now();
        for i in 0..1_000 {
            let data = std::fs::read(dir.join(format!("s-{i:04}.bin")))?;
            anyhow::ensure!(data.len() == 4096, "short small file");
        }
        Ok((
            1000.0 / start.elapsed().as_secs_f64(),
            m.peak_rss()? as f64 / MIB as f64,
        ))
    })();
    (row.small_files_s, row.rss_mib[4]) = row.record("small files", got);
    Ok(row)
}

impl Row {
    /// A workload's figure and peak RSS, or "—" for both and the reason in the note.
    fn record(&mut self, what: &str, got: Result<(f64, f64)>) -> (f64, f64) {
        got.unwrap_or_else(|e| {
            self.note.push_str(&format!("{what}: {e:#}; "));
            (f64::NAN, f64::NAN)
        })
    }
}

/// A figure for the table: "—" when its workload failed.
pub(crate) fn fig(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        "—".into()
    } else {
        format!("{v:.decimals$}")
    }
}

/// How long one workload may take before its mount is killed (and the workload fails):
/// `PAIL_BENCH_LIMIT` seconds, else 300.
pub(crate) fn workload_limit() -> std::time::Duration {
    let secs = std::env::var("PAIL_BENCH_LIMIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    std::time::Duration::from_secs(secs)
}

/// The directory the running binary lives in (the `pail` binary is built beside it).
fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}
