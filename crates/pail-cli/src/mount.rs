//! `pail mount`: turn options into store and drive settings, check
//! everything that can be checked before mounting (so a failure leaves nothing mounted), mount,
//! serve in the foreground until Ctrl-C, SIGTERM or an external unmount, and finish pending
//! uploads before exiting.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use pail_fs::{CacheKey, DiskCacheConfig, FsErrorKind, NameEncoding, Vfs, VfsConfig, WritebackConfig};
use pail_store::{Credentials, S3Store, S3StoreConfig, Sse, StoreErrorKind};

use crate::UsageError;
use crate::mounted::{self, Mounted};
use crate::signin;
use crate::status::{self, MountRecord, StatusFile};

/// Options of `pail mount`.
#[derive(Debug, Clone, clap::Args)]
pub struct MountArgs {
    /// What to mount: `bucket` or `bucket/prefix` (e.g. `corp-docs/home/alice`). The prefix may
    /// use `${aws:userid}` and `${aws:accountid}` (quote it in the shell): your own folder.
    pub target: String,
    /// An existing, empty directory to mount at; on Windows a drive letter (`P:`, or `*` for the
    /// next free one). Without it, TARGET names a drive of the drives file (`pail drives add`),
    /// mounted with its settings.
    pub dir: Option<PathBuf>,
    /// S3 endpoint for S3-compatible stores or a local emulator, e.g. `http://127.0.0.1:9000`.
    /// Plain http is accepted for this machine only, unless `--allow-http`.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Accept a plain-http endpoint on another host (a network you trust): documents and
    /// credentials then cross it unencrypted.
    #[arg(long)]
    pub allow_http: bool,
    /// AWS region of the bucket (default: from the profile or environment, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    #[command(flatten)]
    pub auth: crate::signin::AuthArgs,
    /// Mount read-only: every change fails with "read-only file system".
    #[arg(long)]
    pub read_only: bool,
    /// Cache directory: files being written, the journal of pending uploads, and (when given
    /// explicitly) an on-disk block cache. Default: ~/.cache/pail/<bucket>/<prefix>. A new
    /// mount with the same cache directory resumes what an earlier one left pending.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Bound of the on-disk block cache, e.g. `10GiB`; without it the drive's `cache_size`,
    /// else 4GiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub cache_size: Option<u64>,
    /// Bound of the staging area for files being written; writers wait (not fail) when it is
    /// full until uploads free space, e.g. `20GiB`.
    #[arg(long, value_name = "SIZE", default_value = "10GiB", value_parser = parse_size)]
    pub staging_size: u64,
    /// Seconds a closed file waits before it is uploaded (saves that write a temporary file
    /// and rename it then upload once).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub write_back_delay: f64,
    /// Server-side encryption sent with every write and copy: `AES256` or `aws:kms`.
    #[arg(long, value_name = "ALGORITHM", value_parser = ["AES256", "aws:kms"])]
    pub sse: Option<String>,
    /// KMS key for `--sse aws:kms` (key id, alias or ARN); default: the account's S3 key.
    #[arg(long, value_name = "KEY")]
    pub sse_kms_key_id: Option<String>,
    /// Bound of the in-memory block cache, e.g. `128MiB`.
    #[arg(long, value_name = "SIZE", default_value = "144MiB", value_parser = parse_size)]
    pub memory_cache_size: u64,
    /// Largest read-ahead of a sequential reader (at most half the memory cache), e.g. `72MiB`.
    #[arg(long, value_name = "SIZE", default_value = "72MiB", value_parser = parse_size)]
    pub max_prefetch: u64,
    /// Size of each ranged GET while reading ahead, e.g. `8MiB`.
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Seconds that metadata and listings are trusted before asking S3 again.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub metadata_ttl: f64,
    /// Virtual-hosted-style addressing even with --endpoint-url (path-style is used otherwise).
    #[arg(long)]
    pub virtual_host_style: bool,
    /// Keep the cache's copies of files in the clear instead of encrypted with the drive's key
    /// (for measurements; a cache already encrypted is then refused).
    #[arg(long)]
    pub no_cache_encryption: bool,
    /// Windows: present the drive as a local disk instead of a network location (Explorer then
    /// reads whole files for thumbnails and previews).
    #[arg(long)]
    pub local_disk: bool,
    /// Also print the drive's state changes on stdout as JSON lines (`mounted`, `status` with
    /// pending uploads and a sign-in page while the session has ended, `stopped`), for the
    /// settings app.
    #[arg(long, value_name = "FORMAT", value_parser = ["json"])]
    pub events: Option<String>,
}

/// The on-disk block cache's bound when neither `--cache-size` nor the drive sets one.
pub const DEFAULT_CACHE_SIZE: u64 = 4 << 30;

pub use pail_drives::parse_size;

/// Checks a bucket name against S3's rules.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
    if (3..=63).contains(&name.len()) && ok_chars && ends_ok && !name.contains("..") {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid bucket name: use 3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"
        ))
    }
}

/// Splits `bucket/prefix` and validates the bucket.
pub fn split_target(target: &str) -> Result<(String, String), UsageError> {
    let target = target.trim_start_matches("s3://");
    let (bucket, prefix) = target.split_once('/').unwrap_or((target, ""));
    check_bucket_name(bucket).map_err(UsageError)?;
    let prefix = prefix.trim_matches('/');
    // A `.` or `..` folder would also climb out of the cache directory named after the prefix.
    if let Some(bad) = prefix.split('/').find(|s| matches!(*s, "." | "..")) {
        return Err(UsageError(format!(
            "{target:?}: a folder in the prefix cannot be {bad:?}; give the folder's real path, e.g. {bucket}/home/alice"
        )));
    }
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    Ok((bucket.to_owned(), prefix))
}

/// Checks the mount directory exists and is empty.
pub fn check_mount_dir(dir: &Path) -> Result<(), UsageError> {
    let meta = std::fs::metadata(dir).map_err(|_| {
        UsageError(format!(
            "mount directory {} does not exist: create it first (mkdir -p {0})",
            dir.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(UsageError(format!(
            "{} is not a directory: give an empty directory to mount at",
            dir.display()
        )));
    }
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| UsageError(format!("cannot read mount directory {}: {e}", dir.display())))?;
    if entries.next().is_some() {
        return Err(UsageError(format!(
            "mount directory {} is not empty (or already mounted): use an empty directory",
            dir.display()
        )));
    }
    Ok(())
}

/// Everything needed to serve one drive.
#[derive(Debug, Clone)]
pub struct DriveSpec {
    pub store: S3StoreConfig,
    pub vfs: VfsConfig,
    pub dir: PathBuf,
    pub cache_dir: PathBuf,
    /// The IAM Identity Center sign-in, for `pail status`.
    pub sso: Option<pail_auth::SsoProvider>,
    /// Print state changes as JSON lines (`--events json`).
    pub events: bool,
    /// Windows: a local disk rather than a network drive (`--local-disk`); FUSE has no such
    /// distinction.
    #[cfg_attr(not(any(windows, winfsp_typecheck)), allow(dead_code))]
    pub local_disk: bool,
}

/// `~/.cache/pail/<bucket>/<prefix>` (the XDG cache directory when set; `%LOCALAPPDATA%` on
/// Windows).
pub(crate) fn default_cache_dir(bucket: &str, prefix: &str) -> Result<PathBuf, UsageError> {
    // XDG_CACHE_HOME or ~/.cache on Linux, %LOCALAPPDATA% on Windows.
    let base = dirs::cache_dir()
        .ok_or_else(|| UsageError("no cache directory is known (HOME is not set): give --cache-dir".into()))?;
    let mut dir = base.join("pail").join(bucket);
    for part in prefix.split('/').filter(|p| !p.is_empty()) {
        dir.push(part.replace(['\\', ':'], "_"));
    }
    Ok(dir)
}

/// Takes the cache directory for this process: two mounts must not share staging files.
pub(crate) fn lock_cache_dir(dir: &Path) -> Result<std::fs::File, UsageError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("cannot create the cache directory {}: {e}", dir.display())))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(status::cache_lock(dir))
        .map_err(|e| UsageError(format!("cannot use the cache directory {}: {e}", dir.display())))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(_) => Err(UsageError(format!(
            "the cache directory {} is in use by another pail mount: unmount it, or give another --cache-dir",
            dir.display()
        ))),
    }
}

impl DriveSpec {
    /// Builds the spec from command-line options, the target with its variables resolved, and
    /// the drive's credentials.
    pub fn from_args(args: &MountArgs, target: &str, auth: &pail_auth::Auth) -> Result<Self, UsageError> {
        let (bucket, prefix) = split_target(target)?;
        if !args.metadata_ttl.is_finite() || args.metadata_ttl < 0.0 {
            return Err(UsageError(
                "--metadata-ttl must be a number of seconds, 0 or more".into(),
            ));
        }
        if !args.write_back_delay.is_finite() || args.write_back_delay < 0.0 {
            return Err(UsageError(
                "--write-back-delay must be a number of seconds, 0 or more".into(),
            ));
        }
        let sse = match (args.sse.as_deref(), &args.sse_kms_key_id) {
            (None, None) => None,
            (Some("AES256"), None) => Some(Sse::Aes256),
            (Some("AES256"), Some(_)) => {
                return Err(UsageError("--sse-kms-key-id needs --sse aws:kms, not AES256".into()));
            }
            (Some(_) | None, key) => Some(Sse::Kms { key_id: key.clone() }),
        };
        let cache_dir = match &args.cache_dir {
            Some(d) => d.clone(),
            None => default_cache_dir(&bucket, &prefix)?,
        };
        let mut store = S3StoreConfig::new(bucket);
        store.sse = sse;
        store.endpoint_url = args.endpoint_url.clone();
        store.allow_http = args.allow_http;
        store.region = args.region.clone().or_else(|| auth.region().map(str::to_owned));
        store.force_path_style = args.endpoint_url.is_some() && !args.virtual_host_style;
        store.credentials = Credentials::Provider(auth.credentials_provider());
        store.credentials_wait = auth.credentials_wait();
        let mut writeback = WritebackConfig::new(cache_dir.join("write"));
        writeback.staging_bytes = args.staging_size;
        writeback.delay = Duration::from_secs_f64(args.write_back_delay);
        writeback.transfer.part_size = args.part_size.max(5 << 20);
        let vfs = VfsConfig {
            prefix,
            read_only: args.read_only,
            writeback: Some(writeback),
            metadata_ttl: Duration::from_secs_f64(args.metadata_ttl),
            memory_cache_bytes: args.memory_cache_size.max(4 << 20),
            max_window: args.max_prefetch,
            part_size: args.part_size,
            disk_cache: args.cache_dir.as_ref().map(|d| DiskCacheConfig {
                dir: d.join("blocks"),
                max_bytes: args.cache_size.unwrap_or(DEFAULT_CACHE_SIZE),
            }),
            // Windows cannot show <>:"|?* and friends: fullwidth look-alikes, as rclone does.
            names: if cfg!(windows) {
                NameEncoding::Windows
            } else {
                NameEncoding::Identity
            },
            ..VfsConfig::default()
        };
        Ok(Self {
            store,
            vfs,
            dir: args.dir.clone().unwrap_or_default(),
            cache_dir,
            sso: auth.sso().cloned(),
            events: args.events.is_some(),
            local_disk: args.local_disk,
        })
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.store.bucket, self.vfs.prefix)
    }

    fn endpoint(&self) -> String {
        self.store.endpoint_url.clone().unwrap_or_else(|| "AWS S3".to_owned())
    }
}

/// What to check, given why the first listing failed.
fn probe_hint(spec: &DriveSpec, kind: Option<StoreErrorKind>) -> String {
    let what = spec.describe();
    match kind {
        Some(StoreErrorKind::NoSuchBucket) => format!(
            "bucket {:?} does not exist at {}: check the bucket name, --region and --endpoint-url",
            spec.store.bucket,
            spec.endpoint()
        ),
        Some(StoreErrorKind::InvalidCredentials) => format!(
            "{} refused the access key: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the --profile you chose",
            spec.endpoint()
        ),
        Some(StoreErrorKind::NoCredentials) => "no credentials were found: give --profile (a profile of ~/.aws/config), sign in with pail login --profile …, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_owned(),
        Some(StoreErrorKind::ExpiredCredentials) => {
            "the credentials have expired: sign in again (pail login --profile …, or renew the keys)".to_owned()
        }
        Some(StoreErrorKind::AccessDenied) => format!(
            "access denied listing {what}: check that the IAM policy allows s3:ListBucket on this prefix, or mount your own folder"
        ),
        Some(StoreErrorKind::Network | StoreErrorKind::Throttled) => {
            format!(
                "cannot reach {}: check --endpoint-url, --region and the network or proxy",
                spec.endpoint()
            )
        }
        _ => format!(
            "cannot list {what} at {}: check the bucket, region and credentials",
            spec.endpoint()
        ),
    }
}

/// Builds the store and drive, and checks with one listing that the drive can be served.
pub async fn open_drive(
    spec: &DriveSpec,
    cache_key: impl FnOnce() -> Result<Option<CacheKey>, UsageError>,
) -> Result<Arc<Vfs>> {
    let store: Arc<S3Store> = Arc::new(
        S3Store::new(spec.store.clone())
            .await
            .map_err(|e| UsageError(format!("cannot configure S3: {e}")))?,
    );
    // The bucket and credentials are checked before the drive core exists, so before the
    // cache's key is made or its journal read: a mistyped bucket leaves nothing behind.
    if let Err(e) = pail_fs::probe(store.as_ref(), &spec.vfs.prefix).await {
        let kind = e.store_error().map(|s| s.kind());
        tracing::debug!(error = ?e, "probe failed");
        let hint = match (kind, e.kind()) {
            (None, FsErrorKind::Unauthenticated) => probe_hint(spec, Some(StoreErrorKind::InvalidCredentials)),
            _ => probe_hint(spec, kind),
        };
        return Err(UsageError(hint).into());
    }
    let mut cfg = spec.vfs.clone();
    cfg.cache_key = cache_key()?;
    Vfs::new(store, cfg).context("preparing the drive")
}

/// Mounts the drive and serves it until Ctrl-C, SIGTERM or an external unmount, then waits
/// for pending uploads (a second Ctrl-C or `pail unmount --force` leaves them journaled).
pub fn serve(rt: &tokio::runtime::Runtime, spec: &DriveSpec, vfs: Arc<Vfs>) -> Result<()> {
    let mount = mounted::mount(rt, spec, vfs.clone())?;
    say!("Mounted {} at {}", spec.describe(), spec.dir.display());
    status::emit(
        spec.events,
        &serde_json::json!({"event": "mounted", "dir": spec.dir, "target": spec.describe()}),
    );
    say!("Stop with Ctrl-C, or run: pail unmount {}", spec.dir.display());
    let record = status::register(&MountRecord {
        pid: std::process::id(),
        dir: spec.dir.canonicalize().unwrap_or_else(|_| spec.dir.clone()),
        cache_dir: spec.cache_dir.clone(),
        target: spec.describe(),
    })
    .map_err(|e| tracing::warn!(error = %e, "cannot register the mount for pail status"))
    .ok();
    let reporter = {
        let (vfs, cache, sso, events) = (vfs.clone(), spec.cache_dir.clone(), spec.sso.clone(), spec.events);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut last = None;
            loop {
                tick.tick().await;
                let file = StatusFile {
                    auth: sso.as_ref().map(|s| s.status()),
                    ..StatusFile::new("mounted", &vfs.writeback_status())
                };
                status::write_status(&cache, &file);
                let now = status::status_event(&file);
                if last.as_ref() != Some(&now) {
                    status::emit(events, &now);
                    last = Some(now);
                }
            }
        })
    };
    rt.block_on(wait_for_stop(mount.as_ref(), &spec.cache_dir));
    tracing::info!(dir = %spec.dir.display(), "unmounting");
    mount.unmount();
    reporter.abort();
    let drained = rt.block_on(finish_uploads(&vfs, &spec.cache_dir, spec.events));
    let left = vfs.writeback_status();
    status::write_status(&spec.cache_dir, &StatusFile::new("stopped", &left));
    status::emit(
        spec.events,
        &serde_json::json!({"event": "stopped", "pending_files": left.pending_files}),
    );
    if let Some(r) = record {
        status::unregister(&r);
    }
    if !drained {
        say!(
            "Stopped with {} files ({}) still to upload; they are kept in {} and upload at the next mount",
            left.pending_files,
            status::human(left.pending_bytes),
            spec.cache_dir.display()
        );
    }
    Ok(())
}

/// Waits for pending uploads, showing progress (and, with `events`, `stopping` lines with
/// what is left); `false` when told to stop first.
async fn finish_uploads(vfs: &Vfs, cache: &Path, events: bool) -> bool {
    let first = vfs.writeback_status();
    if first.pending_files == 0 {
        return true;
    }
    say!(
        "Uploading {} files ({}) before exiting; press Ctrl-C again to leave them for the next mount",
        first.pending_files,
        status::human(first.pending_bytes)
    );
    let flag = status::stop_now_flag(cache);
    if flag.exists() {
        let _ = std::fs::remove_file(&flag);
        return false;
    }
    let last = std::sync::Mutex::new(None);
    let progress = |s: &pail_fs::WritebackStatus| {
        status::write_status(cache, &StatusFile::new("uploading", s));
        let event = serde_json::json!({
            "event": "stopping",
            "pending_files": s.pending_files,
            "pending_bytes": s.pending_bytes,
            "last_error": s.last_error,
        });
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref() != Some(&event) {
            status::emit(events, &event);
            *last = Some(event);
        }
        eprint!(
            "\r  {} files, {} left{}   ",
            s.pending_files,
            status::human(s.pending_bytes),
            s.last_error
                .as_deref()
                .map(|e| format!(" (retrying: {e})"))
                .unwrap_or_default()
        );
    };
    let forced = async {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = tick.tick() => if flag.exists() { return },
            }
        }
    };
    let done = tokio::select! {
        _ = vfs.drain(&progress) => true,
        _ = forced => false,
    };
    eprintln!();
    let _ = std::fs::remove_file(&flag);
    done
}

/// Until Ctrl-C, SIGTERM, an external unmount, or `pail unmount` asking through the cache
/// directory (the only way on Windows, which has no signals to send).
async fn wait_for_stop(mount: &dyn Mounted, cache: &Path) {
    let asked = status::unmount_flag(cache);
    let _ = std::fs::remove_file(&asked);
    let term = terminated();
    tokio::pin!(term);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut term => break,
            _ = tick.tick() => if mount.is_finished() || asked.exists() { break },
        }
    }
    let _ = std::fs::remove_file(&asked);
}

/// SIGTERM; never on Windows.
async fn terminated() {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
            return;
        }
        Err(e) => tracing::warn!(error = %e, "cannot watch SIGTERM"),
    }
    std::future::pending::<()>().await
}

/// `pail mount`.
pub fn run_mount(rt: &tokio::runtime::Runtime, mut args: MountArgs) -> Result<()> {
    if args.dir.is_none() {
        crate::drives::apply_drive(&mut args)?;
    }
    // Endpoints are https (or this machine), checked before anything is sent to them.
    let insecure = |e: pail_store::InsecureEndpoint| UsageError(e.to_string());
    if let Some(url) = &args.endpoint_url {
        pail_store::check_endpoint(url, args.allow_http).map_err(insecure)?;
    }
    pail_store::check_endpoint_variables(args.allow_http).map_err(insecure)?;
    // What can be checked without the network is checked first: the bucket's name, the
    // prefix's folders and the mount folder.
    split_target(&args.target)?;
    mounted::check_target(args.dir.as_deref().unwrap_or(Path::new("")))?;
    // Sign in first (an SSO profile may need the browser), then find out whose folder it is.
    let (auth, _prompter, target) = rt.block_on(async {
        let auth = signin::connect(&args.auth).await?;
        let prompter = signin::spawn_prompter(&auth, args.auth.no_browser);
        signin::ensure_signed_in(&auth, false).await?;
        let target = auth.resolve_prefix(&args.target).await.map_err(|e| {
            UsageError(format!(
                "cannot resolve {:?}: finding out who you are signed in as failed: {e}",
                args.target
            ))
        })?;
        anyhow::Ok((auth, prompter, target))
    })?;
    let spec = DriveSpec::from_args(&args, &target, &auth)?;
    mounted::check_target(&spec.dir)?;
    let _lock = lock_cache_dir(&spec.cache_dir)?;
    // A stop request left by an earlier, forced unmount is not for this mount.
    let _ = std::fs::remove_file(status::stop_now_flag(&spec.cache_dir));
    let vfs = rt.block_on(open_drive(&spec, || {
        (!args.no_cache_encryption)
            .then(|| crate::cache::cache_key(&spec.cache_dir, args.read_only))
            .transpose()
    }))?;
    serve(rt, &spec, vfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(check_bucket_name("corp-docs.eu").is_ok());
        for bad in ["ab", "Upper", "-start", "end-", "a..b", "under_score"] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dot_folders_in_the_prefix_are_refused() {
        for t in ["corp/../etc", "corp/a/./b", "corp/a/..", "s3://corp/.."] {
            assert!(split_target(t).is_err(), "{t}");
        }
        assert!(split_target("corp/a..b/.c").is_ok(), "dots inside names are fine");
    }

    #[test]
    fn target_splits_into_bucket_and_prefix() {
        assert_eq!(split_target("docs").expect("ok"), ("docs".into(), String::new()));
        assert_eq!(
            split_target("s3://docs/home/alice/").expect("ok"),
            ("docs".into(), "home/alice/".into())
        );
        assert!(split_target("No_Such").is_err());
    }
}
