//! A second S3 server that nobody here wrote: moto (`moto[server]` from PyPI), run as
//! `moto_server` on 127.0.0.1 with a free port, and a [`MotoDrive`] mounting it through the
//! same path as a [`crate::TestDrive`]: pail-store (aws-sdk-s3 over HTTP), pail-fs, pail-fuse.
//!
//! `./dev test` installs moto into a virtual environment and names its `moto_server` in
//! `PAIL_MOTO_SERVER`. Without it these tests fail with that instruction; they never skip.
//!
//! moto differs from S3 where it matters to pail: it answers CompleteMultipartUpload with a
//! `CompleteMultipartUploadResponse` root element that aws-sdk-s3 cannot parse, although the
//! upload is complete. pail must take that answer as unknown and find its object by its token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pail_fs::Vfs;
use pail_store::{ObjectStore, S3Store, S3StoreConfig, WriteCondition};

use crate::{
    BUCKET, DriveOptions, drain_within, init_logging, mount_and_cache_dirs, mount_store, require_fuse, runtime,
};

/// The `moto_server` to run: `PAIL_MOTO_SERVER`, else the virtual environment `./dev test`
/// makes, else one on `PATH`.
fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("PAIL_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cache/pail/test-venv/bin/moto_server"))
        .filter(|p| p.exists());
    venv.unwrap_or_else(|| PathBuf::from("moto_server"))
}

/// A running `moto_server`; killed when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto on a free port of 127.0.0.1 and waits until it says it is serving.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = moto_server();
        let mut child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): these tests need moto; `./dev test` installs it (moto[server] from PyPI, in a virtual environment)",
                    server.display()
                )
            });
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut said = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.contains("Running on");
                    said.push(line);
                    if ready {
                        break;
                    }
                }
                _ => panic!("moto_server exited before serving: {}", said.join("\n")),
            }
        }
        // Keep reading its log, so a full pipe never stalls it.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, port }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (moto checks no signature, so a bare PUT does).
    pub fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "create bucket: {answer}");
    }

    /// A store config for `bucket` on this server (moto takes any keys).
    pub fn store_config(&self, bucket: &str) -> S3StoreConfig {
        S3StoreConfig::for_endpoint(bucket, &self.endpoint(), "us-east-1", "testing", "testing")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto plus a mounted drive of it, and a second client of the same bucket.
#[derive(Debug)]
pub struct MotoDrive {
    /// The drive's core.
    pub vfs: Arc<Vfs>,
    /// Another client of the bucket, for checks and for changes made behind the drive's back.
    pub other: S3Store,
    mount: Option<pail_fuse::Mount>,
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    opts: DriveOptions,
    rt: tokio::runtime::Runtime,
    moto: Moto,
}

impl MotoDrive {
    /// Starts moto with bucket [`BUCKET`] and mounts it as `opts` say.
    pub fn start(opts: DriveOptions) -> Self {
        require_fuse();
        init_logging();
        let moto = Moto::start();
        moto.create_bucket(BUCKET);
        let rt = runtime();
        let other = rt.block_on(S3Store::new(moto.store_config(BUCKET))).expect("store");
        let (dir, cache) = mount_and_cache_dirs("pail-moto-");
        let (vfs, mount) = mount_store(&rt, moto.store_config(BUCKET), &opts, dir.path(), cache.path());
        Self {
            vfs,
            other,
            mount: Some(mount),
            dir,
            cache,
            opts,
            rt,
            moto,
        }
    }

    /// A path inside the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Waits until every closed file is on S3; fails the test when that takes over `limit`.
    pub fn drain_within(&self, limit: Duration) {
        drain_within(&self.rt, &self.vfs, limit);
    }

    /// Mounts again with the same cache directory; the old core is dropped undrained, as by a
    /// crash, so what it had pending is resumed from its journal.
    pub fn remount(&mut self) {
        if let Some(m) = self.mount.take() {
            m.unmount();
        }
        let (vfs, mount) = mount_store(
            &self.rt,
            self.moto.store_config(BUCKET),
            &self.opts,
            self.dir.path(),
            self.cache.path(),
        );
        self.vfs = vfs;
        self.mount = Some(mount);
    }

    /// Every key in the bucket under `prefix`, in order.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.rt.block_on(async {
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let page = self
                    .other
                    .list_page(prefix, None, token.as_deref(), None)
                    .await
                    .expect("list");
                keys.extend(page.objects.into_iter().map(|o| o.key));
                token = page.next;
                if token.is_none() {
                    return keys;
                }
            }
        })
    }

    /// The bytes of the object at `key`, if there is one.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.rt.block_on(async {
            let size = self.other.head(key).await.ok()?.size;
            if size == 0 {
                return Some(Vec::new());
            }
            let got = self.other.get_range(key, 0..size, None).await.ok()?;
            let chunks: Vec<bytes::Bytes> = futures::TryStreamExt::try_collect(got.body).await.ok()?;
            Some(chunks.concat())
        })
    }

    /// Writes `data` at `key` as another client would.
    pub fn put(&self, key: &str, data: &[u8]) {
        self.rt
            .block_on(self.other.put(key, data.to_vec().into(), &WriteCondition::None, None))
            .expect("put as another client");
    }
}

impl Drop for MotoDrive {
    fn drop(&mut self) {
        if let Some(m) = self.mount.take() {
            m.unmount();
        }
    }
}
