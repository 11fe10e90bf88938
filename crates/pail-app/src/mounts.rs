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
use std::time::SystemTime;

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
            Self::Uploading { files: 1 } => "Uploading 1 file".into(),
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

/// One large file's upload, as a drive reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct LargeUpload {
    /// Its path on the drive.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Bytes sent so far.
    pub sent: u64,
    /// Being uploaded now (else waiting).
    pub uploading: bool,
}

/// What a running drive is doing, from its latest `status` event: the activity panel and
/// the tray show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// Files still to upload, their bytes, and how many of those bytes are on their way.
    pub pending_files: u64,
    pub pending_bytes: u64,
    pub sent_bytes: u64,
    /// Files being uploaded now.
    pub uploading_files: u64,
    /// The largest pending files, each with its progress.
    pub large: Vec<LargeUpload>,
    /// Some pending paths (up to 20).
    pub pending_paths: Vec<String>,
    /// Conflict copies made since the drive started, as paths on the drive.
    pub conflicts: Vec<String>,
    /// The last upload error, and when the app first saw it.
    pub last_error: Option<(String, SystemTime)>,
    /// The session ended: the uploads wait for the user to sign in again.
    pub waiting_for_sign_in: bool,
}

impl Activity {
    /// The share of the pending bytes on their way, in whole percent.
    pub fn percent(&self) -> u64 {
        pail_drives::percent(self.sent_bytes, self.pending_bytes)
    }

    /// What a `status` event line says, given the activity before it (an error keeps the
    /// time it was first seen). `None` for any other line.
    fn next(line: &str, before: &Activity, now: impl Fn() -> SystemTime) -> Option<Activity> {
        let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
        if v.get("event")?.as_str()? != "status" {
            return None;
        }
        let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        let list = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(|x| serde_json::from_value(x.clone()).ok())
                .unwrap_or_default()
        };
        let last_error = v.get("last_error").and_then(|e| e.as_str()).map(|e| {
            let at = match &before.last_error {
                Some((same, at)) if same == e => *at,
                _ => now(),
            };
            (e.to_owned(), at)
        });
        Some(Activity {
            pending_files: n("pending_files"),
            pending_bytes: n("pending_bytes"),
            sent_bytes: n("pending_sent_bytes"),
            uploading_files: n("uploading_files"),
            large: v
                .get("large_uploads")
                .and_then(|x| serde_json::from_value(x.clone()).ok())
                .unwrap_or_default(),
            pending_paths: list("pending_paths"),
            conflicts: list("conflicts"),
            last_error,
            waiting_for_sign_in: v.get("sign_in_url").is_some_and(|u| u.is_string()),
        })
    }
}

/// How long ago `at` was, as people say it: "just now", "40 s ago", "3 min ago", "2 h ago".
pub fn ago(at: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(at).unwrap_or_default().as_secs();
    match secs {
        0..5 => "just now".into(),
        5..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

/// Lines of a mount's log kept for an error's details.
const DETAIL_LINES: usize = 20;

/// One started drive.
#[derive(Debug)]
pub struct DriveProcess {
    state: watch::Sender<MountState>,
    activity: watch::Sender<Activity>,
    dir: Mutex<Option<String>>,
    /// The last lines the process wrote to stderr (its log), for an error's details.
    details: Mutex<Vec<String>>,
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
            activity: watch::channel(Activity::default()).0,
            dir: Mutex::new(None),
            details: Mutex::default(),
            pail: pail.to_owned(),
            env: env.to_vec(),
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let last_error = std::thread::spawn(move || {
            let (mut last, mut tail) = (None, std::collections::VecDeque::new());
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(e) = line.strip_prefix("pail: error: ") {
                    last = Some(e.to_owned());
                }
                if tail.len() == DETAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            (last, Vec::from(tail))
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let watcher = this.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let activity = Activity::next(&line, &watcher.activity.borrow(), SystemTime::now);
                if let Some(a) = activity {
                    watcher.activity.send_replace(a);
                }
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
            let (error, tail) = last_error.join().unwrap_or_default();
            *watcher.details.lock().unwrap_or_else(|e| e.into_inner()) = tail;
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

    /// The last lines its log had when it ended: the details behind an error's one line.
    pub fn details(&self) -> Vec<String> {
        self.details.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What it is doing now.
    pub fn activity(&self) -> Activity {
        self.activity.borrow().clone()
    }

    /// Changes of what it is doing.
    pub fn watch_activity(&self) -> watch::Receiver<Activity> {
        self.activity.subscribe()
    }

    /// Where it is mounted, once it said.
    pub fn dir(&self) -> Option<String> {
        self.dir.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn status_lines_become_activity_and_an_error_keeps_when_it_was_first_seen() {
        let line = r#"{"event":"status","pending_files":2,"pending_bytes":100,"uploading_files":1,
            "pending_sent_bytes":45,"large_uploads":[{"path":"v.mp4","size":90,"sent":45,"uploading":true}],
            "pending_paths":["a.txt","v.mp4"],"conflicts":["r (conflict h 2026-12-03 1200).docx"],
            "last_error":"upload a.txt: the endpoint could not be reached","sign_in_url":null}"#
            .replace('\n', " ");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = Activity::next(&line, &Activity::default(), || t0).expect("a status line");
        assert_eq!(
            (a.pending_files, a.pending_bytes, a.sent_bytes, a.uploading_files),
            (2, 100, 45, 1)
        );
        assert_eq!(a.percent(), 45);
        assert_eq!(
            a.large,
            [LargeUpload {
                path: "v.mp4".into(),
                size: 90,
                sent: 45,
                uploading: true
            }]
        );
        assert_eq!(a.conflicts, ["r (conflict h 2026-12-03 1200).docx"]);
        assert_eq!(
            a.last_error,
            Some(("upload a.txt: the endpoint could not be reached".into(), t0))
        );
        assert!(!a.waiting_for_sign_in);
        let later = t0 + Duration::from_secs(200);
        let again = Activity::next(&line, &a, || later).expect("a status line");
        assert_eq!(again.last_error.expect("error").1, t0, "the same error keeps its time");
        assert_eq!(ago(t0, later), "3 min ago");
        assert_eq!(ago(t0, t0 + Duration::from_secs(2)), "just now");
        assert_eq!(ago(t0, t0 + Duration::from_secs(40)), "40 s ago");
        assert_eq!(ago(later, t0), "just now", "a clock that went back is not the future");
        let expired = Activity::next(
            r#"{"event":"status","pending_files":1,"sign_in_url":"http://x/device","user_code":"AB"}"#,
            &a,
            || later,
        )
        .expect("a status line");
        assert!(expired.waiting_for_sign_in);
        assert_eq!(expired.last_error, None);
        assert_eq!(Activity::next(r#"{"event":"mounted","dir":"/x"}"#, &a, || t0), None);
        assert_eq!(Activity::default().percent(), 100, "nothing pending is all done");
    }

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
        assert_eq!(MountState::Uploading { files: 1 }.label(), "Uploading 1 file");
        let expired = MountState::SessionExpired {
            url: "u".into(),
            code: String::new(),
        };
        assert!(expired.can_stop(), "a drive whose session ended can still be stopped");
        assert!(!MountState::Mounting.can_stop() && !MountState::Stopping { files: 1 }.can_stop());
    }
}
