//! `pail`: mount an S3 bucket, or one folder of it, as a drive.
//!
//! Exit codes: 0 success, 1 runtime failure (mount lost, S3 unreachable after start),
//! 2 bad usage or configuration (what to fix is printed on one line).
//!
//! # Layout
//! - `mount` — `pail mount`: options, checks, the foreground mount loop.
//! - `mounted` — the platform's mount under it: FUSE at a directory, WinFsp on a drive letter.
//! - `unmount` — `pail unmount`: a directory or a drive letter, waiting for uploads.
//! - `drives` — `pail drives list|add|remove` and `pail mount <drive-name>` (the drives file).
//! - `demo` — `pail demo`: the emulator with sample files, mounted.
//! - `signin` — credentials from options and environment, SSO sign-in prompts, `pail login`.
//! - `cache` — a cache directory's encryption key in the secret store, and `pail forget`.
//! - `status` — `pail status`, the mount registry and status files it reads, and the
//!   `--events json` lines the settings app follows.

/// Prints a status line on stdout. A closed stdout (the reader went away) is not a reason for
/// a serving mount to fail, so write errors are ignored rather than panicking like `println!`.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod cache;
mod demo;
mod drives;
mod mount;
mod mounted;
mod signin;
mod status;
mod unmount;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pail",
    version,
    about = "Mount an S3 bucket, or your own folder in it, as a drive"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mount `bucket[/prefix]` at a directory and serve it until Ctrl-C, SIGTERM or `pail unmount`.
    Mount(Box<mount::MountArgs>),
    /// Unmount a pail drive, waiting while it finishes uploading what was written.
    Unmount {
        /// The directory the drive is mounted at (on Windows its letter, like `P:`).
        #[arg(required_unless_present = "all")]
        dir: Option<std::path::PathBuf>,
        /// Every drive this user has mounted, one after the other (the installer runs this
        /// before an upgrade replaces pail).
        #[arg(long, conflicts_with = "dir")]
        all: bool,
        /// Do not wait for uploads: they stay in the drive's journal and upload at its next mount.
        #[arg(long)]
        force: bool,
    },
    /// Show mounted drives, their pending uploads, last error, conflicts and sign-in state.
    Status,
    /// Sign in to IAM Identity Center ahead of mounting (the sign-in is shared with `aws sso login`).
    Login(signin::LoginArgs),
    /// The drives file shared with the settings app: list, add or remove drives.
    #[command(subcommand)]
    Drives(drives::DrivesCommand),
    /// Start a local S3 emulator with sample files and mount it.
    Demo(demo::DemoArgs),
    /// Delete a drive's cache folder and its encryption key, once its uploads are done, so
    /// nothing readable of it is left on this machine.
    Forget {
        /// A drive of the drives file, or `bucket[/prefix]` as mounted.
        #[arg(required_unless_present = "cache_dir")]
        target: Option<String>,
        /// The cache folder itself, as pail status names it or as pail mount was given it.
        #[arg(long, value_name = "DIR", conflicts_with = "target")]
        cache_dir: Option<std::path::PathBuf>,
        /// Also drop uploads still pending in it (they are lost).
        #[arg(long)]
        discard: bool,
    },
}

/// An error whose message already says what to do; exits with code 2.
#[derive(Debug)]
pub(crate) struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn run_forget(target: Option<&str>, cache_dir: Option<std::path::PathBuf>, discard: bool) -> anyhow::Result<()> {
    let dirs = match cache_dir {
        Some(d) => vec![d],
        None => cache::resolve(target.unwrap_or_default())?,
    };
    if dirs.is_empty() || !dirs.iter().any(|d| d.exists()) {
        return Err(UsageError(format!(
            "no cache of {} is on this machine",
            dirs.first()
                .map_or_else(|| target.unwrap_or_default().to_owned(), |d| d.display().to_string())
        ))
        .into());
    }
    for dir in dirs.iter().filter(|d| d.exists()) {
        cache::forget(dir, discard)?;
        say!("Forgot the cache {} and its key", dir.display());
    }
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,pail=info,fuser::mnt::fuse_pure=off"));
    // PAIL_LOG_SPANS=1 also prints each operation's span as it closes, with its busy and idle
    // time: where a slow create or read spends its time, without a profiler.
    let spans = if std::env::var_os("PAIL_LOG_SPANS").is_some() {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    use tracing_subscriber::prelude::*;
    // Whatever PAIL_LOG asks, the SDK and the HTTP stack never log at TRACE: they would log
    // request and response bodies with tokens and secrets in them.
    tracing_subscriber::registry()
        .with(filter)
        .with(pail_auth::log_caps())
        .with(
            tracing_subscriber::fmt::layer()
                .with_span_events(spans)
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message, without its tips and usage block: one line that says what to fix.
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("pail: error: {first}; see pail --help");
            return ExitCode::from(2);
        }
    };
    init_logging();
    // Everything pail creates (cache, journal, status files, the mount registry) is the user's
    // alone, whatever the umask it was started with; the core also sets explicit modes.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pail-io")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pail: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Mount(args) => mount::run_mount(&rt, *args),
        Command::Unmount {
            dir: Some(dir), force, ..
        } => unmount::run_unmount(&dir, force),
        Command::Unmount { dir: None, force, .. } => unmount::run_unmount_all(force),
        Command::Status => status::run_status(),
        Command::Login(args) => signin::run_login(&rt, args),
        Command::Drives(cmd) => drives::run_drives(cmd),
        Command::Demo(args) => demo::run_demo(&rt, args),
        Command::Forget {
            target,
            cache_dir,
            discard,
        } => run_forget(target.as_deref(), cache_dir, discard),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some();
            eprintln!("pail: error: {e:#}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
