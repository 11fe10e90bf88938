//! The write half of the benchmark: (f) the raw ceiling — a parallel multipart upload of a
//! local file straight through pail-store, best of three runs; (g) one large file written through each mount until
//! S3 has all of it; (h) 1,000 4 KiB files created until all are listed in S3; (i) `cp -r` of a
//! 2,000-file tree until all of it is in S3. "Until in S3" is measured by polling the
//! server (the emulator's own table, or a LIST or HEAD of s3s-fs), so a mount that acknowledges writes early is not credited for it.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use pail_store::{ObjectStore, S3Store, TransferConfig, WriteCondition, complete_multipart};

use crate::peers::Tool;
use crate::server::Server;
use crate::{BUCKET, MIB};

/// Results of one mount's write runs.
#[derive(Debug, Default, Clone)]
pub struct WriteRow {
    pub tool: String,
    pub big_mb_s: f64,
    /// Seconds until the large file's `close()` returned (the rest is the upload after it).
    pub big_closed_s: f64,
    pub small_files_s: f64,
    pub tree_files_s: f64,
    pub peak_rss_mib: f64,
    pub note: String,
}

/// (f) A multipart upload of a local file of `size` bytes through pail-store, with the
/// transfer settings a pail drive uses: parts of `part_size`, `concurrency` in flight, each
/// read from the file just before it is sent. With `list_first`, one LIST page of a folder
/// comes first, inside the time: what any client pays to learn that a new name in a folder
/// it has not listed is free (a file cannot be created before its name is looked up), so
/// that is the bound for the large write, which creates a new name in the mount's root.
pub async fn raw_ceiling(server: &Server, size: u64, list_first: bool) -> Result<f64> {
    let store = S3Store::new(server.store_config()).await?;
    let dir = tempfile::Builder::new().prefix("pail-bench-src-").tempdir()?;
    let path = dir.path().join("big.bin");
    write_file(&path, size)?;
    let cfg = TransferConfig::default();
    let key = "ceiling/big.bin";
    let cpu = crate::cpu::Span::start(None, server.pid());
    let start = Instant::now();
    if list_first {
        store.list_page("", Some("/"), None, None).await?;
    }
    let upload_id = store.create_multipart(key, None).await?;
    let file = std::fs::File::open(&path)?;
    let parts: Vec<(u32, pail_store::ETag)> = futures::stream::iter(0..size.div_ceil(cfg.part_size))
        .map(|i| {
            let (store, file, upload_id) = (&store, &file, &upload_id);
            async move {
                let offset = i * cfg.part_size;
                let mut buf = vec![0; cfg.part_size.min(size - offset) as usize];
                std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, offset)?;
                let etag = store.upload_part(key, upload_id, i as u32 + 1, buf.into()).await?;
                Ok::<_, anyhow::Error>((i as u32 + 1, etag))
            }
        })
        .buffer_unordered(cfg.concurrency)
        .try_collect()
        .await?;
    complete_multipart(&store, key, &upload_id, parts, &WriteCondition::None, &cfg).await?;
    let secs = start.elapsed().as_secs_f64();
    println!("  {}", cpu.report("multipart upload", size));
    Ok(size as f64 / 1e6 / secs)
}

/// Writes `size` bytes of a repeating pattern in 1 MiB writes, as `dd bs=1M` would.
fn write_file(path: &Path, size: u64) -> Result<()> {
    let chunk: Vec<u8> = (0..MIB).map(|i| (i * 7 % 251) as u8).collect();
    let mut f = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB);
        f.write_all(&chunk[..n as usize])?;
        left -= n;
    }
    Ok(())
}

/// Flushes every file system's dirty pages (`sync`), so the disk writing back what an earlier
/// measurement left (the ceiling's 1 GiB source file, another mount's staging files) does not
/// compete with the next one.
pub fn settle_disk() -> Result<()> {
    let status = std::process::Command::new("sync").status().context("run sync")?;
    anyhow::ensure!(status.success(), "sync failed: {status}");
    Ok(())
}

/// Polls the emulator until `done` holds (a benchmark may poll; tests never do).
fn wait_for(what: &str, limit: Duration, done: impl Fn() -> bool) -> Result<()> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            bail!("{what}: not in S3 after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// (g)–(i) for one mount; a workload that fails shows "—" and its reason in the note.
pub fn measure(tool: &Tool, server: &Server, size: u64) -> Result<WriteRow> {
    let mut row = WriteRow {
        tool: tool.name(),
        ..WriteRow::default()
    };
    // A workload stuck in a mount is cut off by the watchdog before the wait gives up.
    let watch = crate::workload_limit();
    let limit = watch + Duration::from_secs(30);
    let big = (|| -> Result<(f64, f64, f64)> {
        settle_disk()?;
        let m = tool.mount_for_writing(server, BUCKET)?;
        let _watchdog = m.watchdog(watch);
        let cpu = crate::cpu::Span::start(Some(m.pid()), server.pid());
        let start = Instant::now();
        write_file(&m.dir().join("w-big.bin"), size)?;
        let closed = start.elapsed().as_secs_f64();
        wait_for("large file", limit, || server.size_of("w-big.bin") == Some(size))?;
        let mb_s = size as f64 / 1e6 / start.elapsed().as_secs_f64();
        println!("  {}", cpu.report("large write until in S3", size));
        Ok((mb_s, closed, m.peak_rss()? as f64 / MIB as f64))
    })();
    (row.big_mb_s, row.big_closed_s, row.peak_rss_mib) = big.unwrap_or_else(|e| {
        row.note.push_str(&format!("large file: {e:#}; "));
        (f64::NAN, f64::NAN, f64::NAN)
    });
    let small = (|| -> Result<f64> {
        let m = tool.mount_for_writing(server, BUCKET)?;
        let _watchdog = m.watchdog(watch);
        let dir = m.dir().join("w-small");
        std::fs::create_dir(&dir)?;
        let data = vec![0x42u8; 4096];
        let start = Instant::now();
        for i in 0..1_000 {
            std::fs::write(dir.join(format!("s-{i:04}.bin")), &data)?;
        }
        wait_for("1,000 small files", limit, || {
            server.keys("w-small/").is_ok_and(|k| k.len() >= 1_000)
        })?;
        Ok(1000.0 / start.elapsed().as_secs_f64())
    })();
    row.small_files_s = row.record("small files", small);
    let tree = (|| -> Result<f64> {
        let src = tempfile::Builder::new().prefix("pail-bench-tree-").tempdir()?;
        for i in 0..2_000 {
            let p = src.path().join(format!("d{:02}/f{i:04}.txt", i % 40));
            std::fs::create_dir_all(p.parent().context("parent")?)?;
            std::fs::write(&p, vec![b'x'; 1000 + i % 3000])?;
        }
        let m = tool.mount_for_writing(server, BUCKET)?;
        let _watchdog = m.watchdog(watch);
        let start = Instant::now();
        let out = std::process::Command::new("cp")
            .arg("-r")
            .arg(src.path())
            .arg(m.dir().join("w-tree"))
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "cp -r failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_for("2,000-file tree", limit, || {
            server
                .keys("w-tree/")
                .is_ok_and(|k| k.iter().filter(|k| !k.ends_with('/')).count() >= 2_000)
        })?;
        Ok(2000.0 / start.elapsed().as_secs_f64())
    })();
    row.tree_files_s = row.record("cp -r", tree);
    for prefix in ["w-big.bin", "w-small/", "w-tree/"] {
        server.delete_prefix(prefix)?;
    }
    Ok(row)
}

impl WriteRow {
    fn record(&mut self, what: &str, got: Result<f64>) -> f64 {
        got.unwrap_or_else(|e| {
            self.note.push_str(&format!("{what}: {e:#}; "));
            f64::NAN
        })
    }
}
