//! The S3 server a benchmark run measures against: pail-emulator (in memory or with objects in
//! files, with or without a network profile), or s3s-fs, a disk-backed S3 server from the s3s
//! project that nobody here wrote, started as its own process on 127.0.0.1 with a free port.
//! The benchmark seeds and checks either through the same few calls.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use futures::StreamExt;
use pail_emulator::Emulator;
use pail_store::{ObjectStore, S3Store, S3StoreConfig, StoreError, WriteCondition};

use crate::BUCKET;

/// Keys s3s-fs accepts (it checks signatures against these).
const S3S_ACCESS_KEY: &str = "pail-bench";
const S3S_SECRET_KEY: &str = "pail-bench-secret";

/// A running S3 server holding [`BUCKET`].
#[derive(Debug)]
pub enum Server {
    Emulator(Emulator),
    S3sFs(S3sFs),
}

/// s3s-fs as a child process over a temporary root; killed when dropped.
#[derive(Debug)]
pub struct S3sFs {
    child: Child,
    endpoint: String,
    store: Arc<S3Store>,
    rt: tokio::runtime::Runtime,
    _root: tempfile::TempDir,
}

impl Server {
    pub fn endpoint(&self) -> String {
        match self {
            Server::Emulator(e) => e.endpoint(),
            Server::S3sFs(s) => s.endpoint.clone(),
        }
    }

    pub fn credentials(&self) -> (&str, &str) {
        match self {
            Server::Emulator(e) => e.credentials(),
            Server::S3sFs(_) => (S3S_ACCESS_KEY, S3S_SECRET_KEY),
        }
    }

    pub fn store_config(&self) -> S3StoreConfig {
        let (ak, sk) = self.credentials();
        S3StoreConfig::for_endpoint(BUCKET, &self.endpoint(), pail_emulator::REGION, ak, sk)
    }

    /// Puts many objects, 32 at a time on s3s-fs (each is a request there).
    pub fn put_all(&self, objects: Vec<(String, Bytes)>) -> Result<()> {
        match self {
            Server::Emulator(e) => {
                for (key, data) in objects {
                    e.put(BUCKET, &key, data)?;
                }
                Ok(())
            }
            Server::S3sFs(s) => s.rt.block_on(async {
                let results: Vec<Result<(), StoreError>> = futures::stream::iter(objects)
                    .map(|(key, data)| {
                        let store = s.store.clone();
                        async move { store.put(&key, data, &WriteCondition::None, None).await.map(|_| ()) }
                    })
                    .buffer_unordered(32)
                    .collect()
                    .await;
                results.into_iter().collect::<Result<(), _>>().context("seeding s3s-fs")
            }),
        }
    }

    /// The object's size, if the server holds it.
    pub fn size_of(&self, key: &str) -> Option<u64> {
        match self {
            Server::Emulator(e) => e.head(BUCKET, key).map(|o| o.size),
            Server::S3sFs(s) => s.rt.block_on(s.store.head(key)).ok().map(|m| m.size),
        }
    }

    /// Every key under `prefix`, at any depth.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        match self {
            Server::Emulator(e) => Ok(e.keys(BUCKET, prefix)),
            Server::S3sFs(s) => s.rt.block_on(async {
                let mut keys = Vec::new();
                let mut next = None;
                loop {
                    let page = s.store.list_page(prefix, None, next.as_deref(), None).await?;
                    keys.extend(page.objects.into_iter().map(|o| o.key));
                    match page.next {
                        Some(n) => next = Some(n),
                        None => return Ok(keys),
                    }
                }
            }),
        }
    }

    pub fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let keys = self.keys(prefix)?;
        match self {
            Server::Emulator(e) => {
                for k in keys {
                    e.delete(BUCKET, &k)?;
                }
                Ok(())
            }
            Server::S3sFs(s) => s.rt.block_on(async {
                for chunk in keys.chunks(1000) {
                    s.store.delete_many(chunk).await?;
                }
                Ok(())
            }),
        }
    }

    /// The server's process, when it is not this one.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Server::Emulator(_) => None,
            Server::S3sFs(s) => Some(s.child.id()),
        }
    }

    pub fn describe(&self, on_disk: bool) -> String {
        match self {
            Server::Emulator(_) if on_disk => "pail-emulator, objects in files".into(),
            Server::Emulator(_) => "pail-emulator, objects in memory".into(),
            Server::S3sFs(_) => "s3s-fs 0.14.1 (disk)".into(),
        }
    }
}

impl S3sFs {
    /// Starts `program` (an s3s-fs binary) over a fresh root holding an empty [`BUCKET`].
    pub fn start(program: &std::path::Path) -> Result<Self> {
        let root = tempfile::Builder::new().prefix("pail-bench-s3s-").tempdir()?;
        // s3s-fs keeps a bucket as a folder of its root.
        std::fs::create_dir(root.path().join(BUCKET))?;
        let port = free_port()?;
        let child = Command::new(program)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3S_ACCESS_KEY, "--secret-key", S3S_SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let config =
            S3StoreConfig::for_endpoint(BUCKET, &endpoint, pail_emulator::REGION, S3S_ACCESS_KEY, S3S_SECRET_KEY);
        let store = Arc::new(rt.block_on(S3Store::new(config))?);
        let server = S3sFs {
            child,
            endpoint,
            store,
            rt,
            _root: root,
        };
        server.wait_until_listing()?;
        Ok(server)
    }

    fn wait_until_listing(&self) -> Result<()> {
        let start = Instant::now();
        // A benchmark may poll; tests never do.
        loop {
            match self.rt.block_on(self.store.list_page("", Some("/"), None, Some(1))) {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > Duration::from_secs(20) => bail!("s3s-fs did not answer: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The s3s-fs binary: `PAIL_S3S_FS`, else `s3s-fs` on PATH.
pub fn s3s_fs_program() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PAIL_S3S_FS") {
        return Ok(PathBuf::from(p));
    }
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("s3s-fs")).find(|p| p.exists()))
        .context("s3s-fs is not installed: `./dev bench --server s3s-fs` installs it (or set PAIL_S3S_FS)")
}
