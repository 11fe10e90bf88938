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
use crate::mount::{DriveSpec, open_drive, serve};

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
    /// Sign in as an employee would: the emulator's IAM Identity Center asks you to approve a
    /// code in the browser, then your own folder (`${aws:userid}`) is mounted with renewed
    /// credentials, under a per-user policy.
    #[arg(long)]
    pub sso: bool,
    /// With --sso: print the sign-in page instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
}

/// Signs in to the emulator's Identity Center; returns the drive's credentials and the folder
/// (`<userid>/`) to mount.
fn sso_sign_in(
    rt: &tokio::runtime::Runtime,
    emulator: &Emulator,
    home: &std::path::Path,
    no_browser: bool,
) -> Result<(pail_auth::Auth, String)> {
    let config = home.join("config");
    std::fs::write(&config, pail_emulator::sso_config("demo")).context("writing the demo's AWS config file")?;
    say!(
        "Demo AWS config file with an IAM Identity Center profile: {}",
        config.display()
    );
    let identity = emulator.identity_endpoint();
    let auth_config = pail_auth::AuthConfig {
        endpoints: pail_auth::Endpoints::all_at(identity),
        token_cache_dir: Some(home.join("sso-cache")),
        ..pail_auth::AuthConfig::new(pail_auth::Source::Profile {
            name: "demo".into(),
            config_file: Some(config),
            credentials_file: None,
        })
    };
    rt.block_on(async {
        let auth = pail_auth::Auth::new(auth_config).await?;
        let _prompter = crate::signin::spawn_prompter(&auth, no_browser);
        crate::signin::ensure_signed_in(&auth, false).await?;
        let folder = auth.resolve_prefix("${aws:userid}/").await?;
        anyhow::Ok((auth, folder))
    })
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
    crate::mounted::check_target(&dir)?;
    let emulator = rt
        .block_on(Emulator::start_with_buckets(&[BUCKET]))
        .context("starting the S3 emulator")?;
    let home = tempfile::Builder::new()
        .prefix("pail-demo-home-")
        .tempdir()
        .context("creating the demo's sign-in directory")?;
    let signed_in = if args.sso {
        emulator.set_per_user_policy(true);
        Some(sso_sign_in(rt, &emulator, home.path(), args.no_browser)?)
    } else {
        None
    };
    let folder = signed_in.as_ref().map(|(_, f)| f.clone()).unwrap_or_default();
    say!("Preparing sample files…");
    for (key, data, mtime) in samples(args.big_file_size) {
        let key = format!("{folder}{key}");
        let mut opts = PutOptions::default();
        if let Some(m) = mtime {
            opts.metadata.insert(pail_store::MTIME_METADATA_KEY.into(), m.into());
        }
        emulator
            .put_with(BUCKET, &key, data, opts)
            .context("storing a sample file")?;
    }
    let (ak, sk) = emulator.credentials();
    let mut store = S3StoreConfig::for_endpoint(BUCKET, &emulator.endpoint(), pail_emulator::REGION, ak, sk);
    if let Some((auth, _)) = &signed_in {
        store.credentials = pail_store::Credentials::Provider(auth.credentials_provider());
        store.credentials_wait = auth.credentials_wait();
    }
    // The emulator keeps the bucket in memory, so the drive's cache is temporary too.
    let cache = tempfile::Builder::new()
        .prefix("pail-demo-cache-")
        .tempdir()
        .context("creating the demo's cache directory")?;
    let spec = DriveSpec {
        store,
        vfs: VfsConfig {
            prefix: folder.clone(),
            writeback: Some(WritebackConfig::new(cache.path())),
            // Encrypted like any drive's; the cache goes with the demo, so its key does too.
            cache_key: Some(pail_fs::CacheKey::generate().context("making the demo's cache key")?),
            ..VfsConfig::default()
        },
        dir: dir.clone(),
        cache_dir: cache.path().to_path_buf(),
        sso: signed_in.as_ref().and_then(|(a, _)| a.sso().cloned()),
        events: false,
        local_disk: false,
    };
    if signed_in.is_some() {
        say!(
            "S3 emulator at {} (bucket {BUCKET}, your folder {folder})",
            emulator.endpoint()
        );
    } else {
        say!("S3 emulator at {} (bucket {BUCKET}, key {ak})", emulator.endpoint());
    }
    let key = spec.vfs.cache_key.clone();
    let vfs = rt.block_on(open_drive(&spec, || Ok(key)))?;
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
