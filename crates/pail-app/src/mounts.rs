//! Drives the app starts: each is a `pail mount <name> --events json` process (the same binary
//! and drives file as the command line), whose JSON lines on stdout tell its [`MountState`] —
//! mounted, uploading N files, session expired with the page to sign in again — and whose exit
//! ends it: stopped, or the one-line error `pail` printed. Stop runs `pail unmount <dir>`, which
//! lets the mount finish its uploads first.
//!
//! Each process has one thread reading its stdout (then waiting for it) and one reading its
//! stderr; the state is a `watch` channel the window reads and tests wait on.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Where a started drive stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountState {
    /// Signing in, checking the bucket, mounting.
    Mounting,
    /// Serving at `dir`.
    Mounted {
        /// The mount point.
        dir: String,
    },
    /// Serving, with files still to upload.
    Uploading {
        /// How many.
        files: u64,
    },
    /// The sign-in session ended: uploads wait until the user signs in at `url`.
    SessionExpired {
        /// The page.
        url: String,
        /// The code it shows (empty for a company IdP).
        code: String,
    },
    /// Unmounting, finishing uploads: how many files are left.
    Stopping {
        /// Files still to upload.
        files: u64,
    },
    /// Not running.
    Stopped,
    /// The mount ended with this error.
    Error(String),
}

impl MountState {
    /// The one-line state shown in the drive list.
    pub fn label(&self) -> String {
        match self {
            Self::Mounting => "Mounting".into(),
            Self::Mounted { .. } => "Mounted".into(),
            Self::Uploading { files } => format!("Uploading {files} files"),
            Self::SessionExpired { .. } => "Session expired — Sign in again".into(),
            Self::Stopping { files: 0 } => "Stopping".into(),
            Self::Stopping { files } => format!("Stopping: uploading {files} files"),
            Self::Stopped => "Stopped".into(),
            Self::Error(why) => format!("Error: {why}"),
        }
    }

    /// Whether Stop applies: serving (also while the session has ended; the uploads then wait
    /// for the sign-in, or Quit now leaves them journaled).
    pub fn can_stop(&self) -> bool {
        matches!(
            self,
            Self::Mounted { .. } | Self::Uploading { .. } | Self::SessionExpired { .. }
        )
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        !matches!(self, Self::Stopped | Self::Error(_))
    }
}

/// One started drive.
#[derive(Debug)]
pub struct DriveProcess {
    state: watch::Sender<MountState>,
    dir: Mutex<Option<String>>,
    pail: PathBuf,
    env: Vec<(String, String)>,
}

/// What one JSON line from `pail mount --events json` means, given the state before it.
fn next_state(line: &str, before: &MountState) -> Option<MountState> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    match v.get("event")?.as_str()? {
        "mounted" => Some(MountState::Mounted {
            dir: text("dir").unwrap_or_default(),
        }),
        "status" if matches!(before, MountState::Stopping { .. }) => None,
        "stopping" => Some(MountState::Stopping {
            files: v.get("pending_files").and_then(|n| n.as_u64()).unwrap_or(0),
        }),
        "status" => Some(
            match (text("sign_in_url"), v.get("pending_files").and_then(|n| n.as_u64())) {
                (Some(url), _) => MountState::SessionExpired {
                    url,
                    code: text("user_code").unwrap_or_default(),
                },
                (None, Some(files)) if files > 0 => MountState::Uploading { files },
                _ => MountState::Mounted { dir: String::new() },
            },
        ),
        "stopped" => Some(MountState::Stopped),
        _ => None,
    }
}

impl DriveProcess {
    /// Starts `pail mount <name>` over `drives_file` with `env` added to its environment.
    pub fn start(pail: &Path, drives_file: &Path, name: &str, env: &[(String, String)]) -> Result<Arc<Self>, String> {
        let mut child = Command::new(pail)
            .args(["mount", name, "--events", "json", "--no-browser"])
            .env("PAIL_DRIVES_FILE", drives_file)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", pail.display()))?;
        let (state, _) = watch::channel(MountState::Mounting);
        let this = Arc::new(Self {
            state,
            dir: Mutex::new(None),
            pail: pail.to_owned(),
            env: env.to_vec(),
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let last_error = std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(e) = line.strip_prefix("pail: error: ") {
                    last = Some(e.to_owned());
                }
            }
            last
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let watcher = this.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let before = watcher.state.borrow().clone();
                let Some(mut next) = next_state(&line, &before) else {
                    continue;
                };
                if let MountState::Mounted { dir } = &mut next {
                    let mut known = watcher.dir.lock().unwrap_or_else(|e| e.into_inner());
                    if dir.is_empty() {
                        dir.clone_from(known.as_ref().unwrap_or(&String::new()));
                    } else {
                        *known = Some(dir.clone());
                    }
                }
                watcher.state.send_replace(next);
            }
            let status = child.wait();
            let error = last_error.join().ok().flatten();
            let end = match (status, error) {
                (Ok(s), _) if s.success() => MountState::Stopped,
                (_, Some(e)) => MountState::Error(e),
                (Ok(s), None) => MountState::Error(format!("pail mount ended ({s})")),
                (Err(e), None) => MountState::Error(e.to_string()),
            };
            watcher.state.send_replace(end);
        });
        Ok(this)
    }

    /// Unmounts (in the background): the mount finishes its uploads, then ends.
    pub fn stop(&self) {
        self.unmount(false);
    }

    /// Unmounts at once, leaving pending uploads journaled for the drive's next start.
    pub fn stop_now(&self) {
        self.unmount(true);
    }

    fn unmount(&self, force: bool) {
        let Some(dir) = self.dir.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        if !matches!(*self.state.borrow(), MountState::Stopping { .. }) {
            self.state.send_replace(MountState::Stopping { files: 0 });
        }
        let (pail, env) = (self.pail.clone(), self.env.clone());
        std::thread::spawn(move || {
            let mut cmd = Command::new(&pail);
            cmd.arg("unmount");
            if force {
                cmd.arg("--force");
            }
            let result = cmd
                .arg(&dir)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Err(e) = result {
                tracing::warn!(error = %e, %dir, "could not run pail unmount");
            }
        });
    }

    /// The current state.
    pub fn state(&self) -> MountState {
        self.state.borrow().clone()
    }

    /// Changes of the state.
    pub fn watch(&self) -> watch::Receiver<MountState> {
        self.state.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_become_states() {
        let m = MountState::Mounting;
        assert_eq!(
            next_state(r#"{"event":"mounted","dir":"/home/a/P"}"#, &m),
            Some(MountState::Mounted {
                dir: "/home/a/P".into()
            })
        );
        assert_eq!(
            next_state(r#"{"event":"status","pending_files":3,"sign_in_url":null}"#, &m),
            Some(MountState::Uploading { files: 3 })
        );
        assert_eq!(
            next_state(
                r#"{"event":"status","pending_files":3,"sign_in_url":"http://x/device","user_code":"AB-CD"}"#,
                &m
            ),
            Some(MountState::SessionExpired {
                url: "http://x/device".into(),
                code: "AB-CD".into()
            })
        );
        let stopping = MountState::Stopping { files: 0 };
        assert_eq!(next_state(r#"{"event":"status","pending_files":1}"#, &stopping), None);
        assert_eq!(
            next_state(r#"{"event":"stopping","pending_files":4}"#, &stopping),
            Some(MountState::Stopping { files: 4 })
        );
        assert_eq!(MountState::Stopping { files: 4 }.label(), "Stopping: uploading 4 files");
        assert_eq!(next_state("Mounted s3://b/ at /x", &m), None, "human lines are skipped");
        assert_eq!(MountState::Uploading { files: 2 }.label(), "Uploading 2 files");
        let expired = MountState::SessionExpired {
            url: "u".into(),
            code: String::new(),
        };
        assert!(expired.can_stop(), "a drive whose session ended can still be stopped");
        assert!(!MountState::Mounting.can_stop() && !MountState::Stopping { files: 1 }.can_stop());
    }
}
