//! `pail drives list|add|remove` over the drives file shared with the settings app, and
//! `pail mount <drive-name>`, which mounts a drive with the settings stored there.

use std::path::PathBuf;

use anyhow::Result;
use pail_drives::{Drive, DriveAuth, DrivesFile, default_path, load_secret, remove_secret, store_secret};

use crate::UsageError;
use crate::mount::{MountArgs, split_target};
use crate::signin::KeyPair;

/// `pail drives …`.
#[derive(Debug, clap::Subcommand)]
pub enum DrivesCommand {
    /// List the drives of the drives file.
    List,
    /// Add a drive, or replace the one of the same name.
    Add(Box<AddArgs>),
    /// Remove a drive (and its stored secret). Files in S3 are not touched.
    Remove {
        /// The drive's name.
        name: String,
    },
}

/// Options of `pail drives add`.
#[derive(Debug, Clone, clap::Args)]
pub struct AddArgs {
    /// The drive's name (the volume label on Windows).
    pub name: String,
    /// `bucket` or `bucket/prefix`; the prefix may use `${aws:userid}` (quote it).
    pub target: String,
    /// Where it mounts: a folder (Linux) or a drive letter such as `P:` (Windows).
    #[arg(long, value_name = "DIR")]
    pub mount_point: Option<String>,
    /// Sign in with this profile ("Use AWS Profile").
    #[arg(long, conflicts_with = "access_key_id")]
    pub profile: Option<String>,
    /// The config file of --profile (default: `AWS_CONFIG_FILE` or ~/.aws/config).
    #[arg(long, value_name = "FILE", requires = "profile")]
    pub config_file: Option<PathBuf>,
    /// Sign in with access keys; the secret is read from `PAIL_SECRET_ACCESS_KEY` or the first
    /// line of standard input, and kept in the secret store, never in the drives file.
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// Region of the bucket.
    #[arg(long)]
    pub region: Option<String>,
    /// S3-compatible endpoint.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Accept a plain-http endpoint on another host (a network you trust).
    #[arg(long)]
    pub allow_http: bool,
    /// Mount read-only.
    #[arg(long)]
    pub read_only: bool,
    /// SSE-KMS key sent with every write.
    #[arg(long, value_name = "KEY")]
    pub sse_kms_key_id: Option<String>,
    /// Bound of the on-disk block cache, e.g. `10GiB`.
    #[arg(long, value_name = "SIZE", value_parser = check_size)]
    pub cache_size: Option<String>,
    /// Mount when the settings app starts.
    #[arg(long)]
    pub mount_at_start: bool,
}

/// A size as written in the drives file, checked now rather than at the first mount.
fn check_size(s: &str) -> Result<String, String> {
    crate::mount::parse_size(s).map(|_| s.trim().to_owned())
}

pub(crate) fn load() -> Result<(PathBuf, DrivesFile)> {
    let path = default_path();
    let file = DrivesFile::load(&path).map_err(|e| UsageError(e.to_string()))?;
    Ok((path, file))
}

fn read_secret() -> Result<String> {
    if let Ok(s) = std::env::var("PAIL_SECRET_ACCESS_KEY")
        && !s.is_empty()
    {
        return Ok(s);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let s = line.trim().to_owned();
    if s.is_empty() {
        return Err(
            UsageError("no secret access key: set PAIL_SECRET_ACCESS_KEY or type it on standard input".into()).into(),
        );
    }
    Ok(s)
}

/// `pail drives …`.
pub fn run_drives(cmd: DrivesCommand) -> Result<()> {
    let (path, mut file) = load()?;
    match cmd {
        DrivesCommand::List => {
            if file.drives.is_empty() {
                say!(
                    "No drives in {}. Add one with: pail drives add <name> <bucket[/prefix]> …",
                    path.display()
                );
            }
            for d in &file.drives {
                let auth = match &d.auth {
                    DriveAuth::Profile { profile, .. } => format!("profile {profile}"),
                    DriveAuth::Keys { access_key_id } => format!("keys {access_key_id}"),
                    DriveAuth::Default => "default credentials".to_owned(),
                };
                let at = d.mount_point.as_deref().unwrap_or("(next free letter)");
                let mounted = d
                    .mount_point
                    .as_deref()
                    .and_then(|m| crate::status::find(std::path::Path::new(m)))
                    .is_some();
                let state = if mounted { "mounted" } else { "stopped" };
                say!("{}\ts3://{}\t{at}\t{auth}\t{state}", d.name, d.target());
            }
            for u in &file.unreadable {
                eprintln!("pail: warning: {}", u.message(&path));
            }
        }
        DrivesCommand::Add(a) => {
            let (bucket, prefix) = split_target(&a.target)?;
            let auth = match (&a.profile, &a.access_key_id) {
                (Some(profile), _) => DriveAuth::Profile {
                    profile: profile.clone(),
                    config_file: a.config_file.clone(),
                },
                (None, Some(id)) => {
                    store_secret(&path, &a.name, &read_secret()?).map_err(|e| UsageError(e.to_string()))?;
                    DriveAuth::Keys {
                        access_key_id: id.clone(),
                    }
                }
                (None, None) => DriveAuth::Default,
            };
            file.upsert(Drive {
                name: a.name.clone(),
                bucket,
                prefix: prefix.trim_end_matches('/').to_owned(),
                mount_point: a.mount_point,
                region: a.region,
                endpoint_url: a.endpoint_url,
                allow_http: a.allow_http,
                auth,
                read_only: a.read_only,
                sse_kms_key_id: a.sse_kms_key_id,
                cache_size: a.cache_size,
                mount_at_start: a.mount_at_start,
            });
            file.save(&path).map_err(|e| UsageError(e.to_string()))?;
            say!(
                "Drive {:?} saved in {}; mount it with: pail mount {0}",
                a.name,
                path.display()
            );
        }
        DrivesCommand::Remove { name } => {
            let caches = file.get(&name).ok().map(|d| d.target());
            if !file.remove(&name) {
                return Err(UsageError(file.get(&name).err().map(|e| e.to_string()).unwrap_or_default()).into());
            }
            file.save(&path).map_err(|e| UsageError(e.to_string()))?;
            remove_secret(&path, &name);
            say!("Drive {name:?} removed (its files in S3 are untouched)");
            // Its caches and their keys go too, unless uploads are still pending in one.
            let dirs = caches
                .map(|t| crate::cache::resolve(&t))
                .transpose()?
                .unwrap_or_default();
            for dir in dirs.iter().filter(|d| d.exists()) {
                match crate::cache::forget(dir, false) {
                    Ok(()) => say!("Its cache {} and the cache's key are deleted", dir.display()),
                    Err(e) => say!("Its cache is kept: {e}"),
                }
            }
        }
    }
    Ok(())
}

/// `pail mount <drive-name>`: fills `args` from the drive's settings; options given on the
/// command line win.
pub fn apply_drive(args: &mut MountArgs) -> Result<()> {
    let (path, file) = load()?;
    let d = file.get(&args.target).map_err(|e| {
        UsageError(format!(
            "{e}; give a mount directory to mount a bucket directly (pail mount <bucket[/prefix]> <dir>)"
        ))
    })?;
    // On Windows a drive without a mount point takes the next free letter.
    let at = match (&d.mount_point, cfg!(windows)) {
        (Some(at), _) => at.clone(),
        (None, true) => "*".to_owned(),
        (None, false) => {
            return Err(UsageError(format!(
                "drive {:?} has no mount point: set one with pail drives add … --mount-point DIR",
                d.name
            ))
            .into());
        }
    };
    args.dir = Some(PathBuf::from(at));
    if args.cache_size.is_none()
        && let Some(size) = &d.cache_size
    {
        let bytes =
            crate::mount::parse_size(size).map_err(|e| UsageError(format!("drive {:?}: cache_size {e}", d.name)))?;
        args.cache_size = Some(bytes);
    }
    args.target = d.target();
    args.region = args.region.take().or_else(|| d.region.clone());
    args.endpoint_url = args.endpoint_url.take().or_else(|| d.endpoint_url.clone());
    args.allow_http |= d.allow_http;
    args.read_only |= d.read_only;
    if let Some(key) = &d.sse_kms_key_id
        && args.sse.is_none()
    {
        args.sse = Some("aws:kms".into());
        args.sse_kms_key_id = Some(key.clone());
    }
    match &d.auth {
        DriveAuth::Profile { profile, config_file } if args.auth.profile.is_none() => {
            args.auth.profile = Some(profile.clone());
            args.auth.config_file = args.auth.config_file.take().or_else(|| config_file.clone());
        }
        DriveAuth::Keys { access_key_id } => {
            let secret = load_secret(&path, &d.name)
                .map_err(|e| UsageError(format!("{e}: add the drive again with its secret (pail drives add …)")))?;
            args.auth.keys = Some(KeyPair {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret,
            });
        }
        _ => {}
    }
    Ok(())
}
