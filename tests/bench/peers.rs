//! The mounts the benchmark compares: pail and, when installed, rclone and s3fs, each started
//! as its own process against the same server and unmounted when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::server::Server;

/// A mount program under test.
#[derive(Debug, Clone, Copy)]
pub enum Tool {
    Pail,
    /// pail with its cache in the clear (`--no-cache-encryption`): the cost of encryption.
    PailClear,
    RcloneFull,
    RcloneOff,
    S3fs,
    /// Mountpoint for S3, when a `mount-s3` binary is on PATH (it has no Debian package).
    Mountpoint,
}

fn installed(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).exists()))
}

/// pail first, then every peer found on this machine.
pub fn mounted_tools() -> Vec<Tool> {
    let mut tools = vec![Tool::Pail, Tool::PailClear];
    if installed("rclone") {
        tools.extend([Tool::RcloneFull, Tool::RcloneOff]);
    }
    if installed("s3fs") {
        tools.push(Tool::S3fs);
    }
    if installed("mount-s3") {
        tools.push(Tool::Mountpoint);
    }
    tools
}

/// A running mount; dropping it unmounts and reaps the process.
#[derive(Debug)]
pub struct Mounted {
    child: Child,
    dir: tempfile::TempDir,
    _scratch: tempfile::TempDir,
}

impl Tool {
    pub fn name(self) -> String {
        match self {
            Tool::Pail => "pail".into(),
            Tool::PailClear => "pail, cache in the clear".into(),
            Tool::RcloneFull => "rclone (vfs-cache-mode full)".into(),
            Tool::RcloneOff => "rclone (vfs-cache-mode off)".into(),
            Tool::S3fs => "s3fs".into(),
            Tool::Mountpoint => "Mountpoint for S3".into(),
        }
    }

    pub fn mount(self, emu: &Server, bucket: &str) -> Result<Mounted> {
        self.start(emu, bucket, false)
    }

    /// A mount set up to upload as soon as files are closed (no write-back delay).
    pub fn mount_for_writing(self, emu: &Server, bucket: &str) -> Result<Mounted> {
        self.start(emu, bucket, true)
    }

    fn start(self, emu: &Server, bucket: &str, writing: bool) -> Result<Mounted> {
        let dir = tempfile::Builder::new().prefix("pail-bench-mnt-").tempdir()?;
        let scratch = tempfile::Builder::new().prefix("pail-bench-scratch-").tempdir()?;
        let (ak, sk) = emu.credentials();
        let ep = emu.endpoint();
        let mountpoint = dir.path().to_str().context("utf-8 path")?.to_owned();
        let mut cmd = match self {
            Tool::Pail | Tool::PailClear => {
                let mut c = Command::new(super::bin_dir().join("pail"));
                c.args(["mount", bucket, &mountpoint, "--endpoint-url", &ep]);
                if matches!(self, Tool::PailClear) {
                    c.arg("--no-cache-encryption");
                }
                // The cache directory defaults to ~/.cache/pail/… under this scratch HOME; an
                // explicit --cache-dir would also turn on the on-disk block cache.
                if writing {
                    c.args(["--write-back-delay", "0"]);
                }
                // Extra options for tuning runs, e.g. PAIL_BENCH_ARGS="--part-size 16MiB".
                if let Ok(extra) = std::env::var("PAIL_BENCH_ARGS") {
                    c.args(extra.split_whitespace());
                }
                c.env("AWS_ACCESS_KEY_ID", ak)
                    .env("AWS_SECRET_ACCESS_KEY", sk)
                    .env("AWS_REGION", "us-east-1");
                c.env("AWS_EC2_METADATA_DISABLED", "true").env("HOME", scratch.path());
                c
            }
            Tool::RcloneFull | Tool::RcloneOff => {
                let mode = if matches!(self, Tool::RcloneFull) {
                    "full"
                } else {
                    "off"
                };
                let mut c = Command::new("rclone");
                c.args([
                    "mount",
                    &format!("bench:{bucket}"),
                    &mountpoint,
                    "--vfs-cache-mode",
                    mode,
                ]);
                // rclone's default --dir-cache-time (5 minutes): with a shorter one, a listing
                // that takes longer than it (10,000 keys through the WAN profile) is listed
                // again for every entry `ls -l` stats, which measures the setting, not rclone.
                c.args(["--cache-dir", scratch.path().to_str().context("utf-8")?]);
                if writing {
                    c.args(["--vfs-write-back", "0s"]);
                }
                c.env("RCLONE_CONFIG", scratch.path().join("rclone.conf"));
                c.env("RCLONE_CONFIG_BENCH_TYPE", "s3")
                    .env("RCLONE_CONFIG_BENCH_PROVIDER", "Other")
                    .env("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", ak)
                    .env("RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY", sk)
                    .env("RCLONE_CONFIG_BENCH_ENDPOINT", &ep)
                    .env("RCLONE_CONFIG_BENCH_REGION", "us-east-1")
                    .env("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true");
                c
            }
            Tool::S3fs => {
                let passwd = scratch.path().join("passwd");
                std::fs::write(&passwd, format!("{ak}:{sk}\n"))?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o600))?;
                let mut c = Command::new("s3fs");
                c.args([bucket, &mountpoint, "-f"]);
                c.args([
                    "-o",
                    &format!("url={ep}"),
                    "-o",
                    "use_path_request_style",
                    "-o",
                    "endpoint=us-east-1",
                ]);
                c.args(["-o", &format!("passwd_file={}", passwd.display())]);
                c
            }
            Tool::Mountpoint => {
                let mut c = Command::new("mount-s3");
                c.args([
                    bucket,
                    &mountpoint,
                    "--foreground",
                    "--endpoint-url",
                    &ep,
                    "--force-path-style",
                ]);
                c.args(["--region", "us-east-1", "--allow-delete", "--allow-overwrite"]);
                c.env("AWS_ACCESS_KEY_ID", ak)
                    .env("AWS_SECRET_ACCESS_KEY", sk)
                    .env("AWS_EC2_METADATA_DISABLED", "true");
                c
            }
        };
        // Peers reject an AWS_CA_BUNDLE they cannot apply to plain HTTP; the emulator needs none.
        cmd.env_remove("AWS_CA_BUNDLE");
        // PAIL_BENCH_LOG=file keeps the mounts' stderr (with e.g. PAIL_LOG and PAIL_LOG_SPANS set,
        // each operation's timing) for tuning runs; otherwise it is dropped.
        let stderr = match std::env::var_os("PAIL_BENCH_LOG") {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("open {}", Path::new(&path).display()))?,
            ),
            None => Stdio::null(),
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", self.name()))?;
        let mounted = Mounted {
            child,
            dir,
            _scratch: scratch,
        };
        mounted.wait_until_mounted(Duration::from_secs(30))?;
        Ok(mounted)
    }
}

/// Dropping it stops its [`Mounted::watchdog`].
#[derive(Debug)]
pub struct Watchdog(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

fn is_mounted(dir: &Path) -> bool {
    let dir = dir.to_string_lossy();
    std::fs::read_to_string("/proc/self/mounts")
        .map(|m| m.lines().any(|l| l.split(' ').nth(1) == Some(&*dir)))
        .unwrap_or(false)
}

impl Mounted {
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn wait_until_mounted(&self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        // A benchmark may poll; tests never do.
        while !is_mounted(self.dir.path()) {
            if start.elapsed() > limit {
                bail!("not mounted after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kills the mount process if the returned guard is still held after `limit`: its
    /// connection is then aborted and a workload stuck in it fails instead of hanging the run
    /// (s3fs 1.90 was seen waiting forever in an `ls -l` against s3s-fs).
    pub fn watchdog(&self, limit: Duration) -> Watchdog {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let pid = self.child.id();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("  workload still running after {limit:?}: killing the mount");
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        });
        Watchdog(tx)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size of the mount process so far, in bytes.
    pub fn peak_rss(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("VmHWM")?;
        Ok(kb * 1024)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3").arg("-u").arg(self.dir.path()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
