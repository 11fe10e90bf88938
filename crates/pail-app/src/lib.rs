//! pail-app: what an employee sees — the list of their drives, the Add/Edit drive dialog
//! ("Use AWS Profile", Browse… to the config file, pick the profile, "My folder"), saved to the
//! drives file `pail` reads too, and the sign-in panel: the page and code of an IAM Identity
//! Center (or company IdP) sign-in, the browser opened, progress, Retry after a denial, and
//! "Session expired — Sign in again" when a session ends. The UI is plain functions over state
//! structs, so egui_kittest drives it headless; `main.rs` only opens the window.
//!
//! Start runs `pail mount <drive> --events json` and follows its state (Mounting, Mounted,
//! Uploading N files, Session expired, Error); Stop unmounts, letting uploads finish.
//!
//! Test connection and Browse buckets (in the dialog) sign in when needed. The tray starts and
//! stops drives; a desktop notification says when a session has ended; Quit waits for uploads;
//! pail can start at sign-in and mount the drives marked "mount at start".
//!
//! # Layout
//! - `editor` — [`DriveEditor`], the Add/Edit drive dialog.
//! - `signin` — [`DriveSession`], one drive's sign-in and its [`SignInState`].
//! - `mounts` — [`DriveProcess`], a started drive and its [`MountState`].
//! - `running` — Start (signing in first), mount at start, Quit, [`App::poll`].
//! - `check` — Test connection: sign-in, list, read, write, line by line.
//! - `buckets` — Browse buckets.
//! - `jobs` — running those two with the dialog's credentials.
//! - `panel` — drawing the sign-in panel.
//! - `list` — drawing the drive list and the Quit progress.
//! - `activity` — the activity panel: uploads and their progress, errors, conflict copies.
//! - `tray` — the tray menu ([`TrayCommand`]) and its tray-icon adapter.
//! - `notice` — the notification of an ended session.
//! - `autostart` — start at sign-in.
//! - `window` — where the window was, kept for the next start.
//! - this file — [`App`] and the window.

mod activity;
mod autostart;
mod buckets;
mod check;
mod editor;
mod jobs;
mod list;
mod mounts;
mod notice;
mod panel;
mod running;
mod signin;
mod tray;
mod window;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;
use pail_drives::DrivesFile;

pub use autostart::{Autostart, BACKGROUND_ARG};
pub use buckets::{BucketList, list_buckets};
pub use check::{CheckLine, test_connection};
pub use editor::{DriveEditor, EditorAction, MY_FOLDER};
pub use jobs::JobResult;
pub use list::Badge;
pub use mounts::{Activity, DriveProcess, LargeUpload, MountState, ago};
pub use notice::{Notice, Notify};
pub use signin::{DriveSession, SignInState};
pub use tray::{Tray, TrayCommand, TrayEntry};
pub use window::{MIN_SIZE, Placement, placement_file};

/// `pail` beside this program (how the installer lays them out), else from `PATH`.
fn default_pail_binary() -> PathBuf {
    let name = if cfg!(windows) { "pail.exe" } else { "pail" };
    std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Where an unreadable drives file is kept: `drives.toml.unreadable`.
fn backup_of(path: &std::path::Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".unreadable");
    path.with_file_name(name)
}

/// The drive letters free now, on Windows.
fn platform_free_letters() -> Option<Vec<String>> {
    #[cfg(windows)]
    return Some(
        pail_winfsp::free_drive_letters()
            .iter()
            .map(|l| format!("{l}:"))
            .collect(),
    );
    #[cfg(not(windows))]
    None
}

/// The window's size; the tests drive the UI at this size too, so what they click fits.
pub const WINDOW_SIZE: [f32; 2] = [920.0, 520.0];

/// How the app opens a page in the user's browser (tests record the pages instead).
pub type OpenUrl = Arc<dyn Fn(&str) + Send + Sync>;

/// A request for a new frame.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The window's state.
pub struct App {
    /// The drives file.
    pub drives_path: PathBuf,
    /// Its drives.
    pub drives: DrivesFile,
    /// The open dialog, if any.
    pub editor: Option<DriveEditor>,
    /// The last problem, shown at the top.
    pub message: Option<String>,
    /// The drives file could not be read: the first save keeps it aside instead of losing it.
    unreadable: bool,
    /// Sign-ins by drive name.
    pub sessions: BTreeMap<String, Arc<DriveSession>>,
    /// Identity endpoints (`AWS_ENDPOINT_URL_*` otherwise; tests point them at the emulator).
    pub endpoints: pail_auth::Endpoints,
    /// The sign-in cache directory; `None` is the AWS CLI's.
    pub token_cache_dir: Option<PathBuf>,
    /// Opens a page in the browser.
    pub open_url: OpenUrl,
    /// Opens a mounted drive in the file manager (Explorer on Windows, `xdg-open` elsewhere).
    pub open_folder: OpenUrl,
    /// Asks for a new frame: called whenever a drive's state, activity or sign-in changes, so
    /// an idle window draws nothing (set from the window's context; a no-op headless).
    pub wake: Wake,
    /// The dialog's connection test: `None` before one, an empty list while it runs.
    pub check: JobResult<Vec<CheckLine>>,
    /// The dialog's Browse buckets list: `None` before one.
    pub buckets: JobResult<BucketList>,
    /// Started drives by name.
    pub mounts: BTreeMap<String, Arc<DriveProcess>>,
    /// The `pail` binary that mounts (next to this one by default).
    pub pail_binary: PathBuf,
    /// Extra environment for the mounts (tests isolate HOME and point endpoints here).
    pub mount_env: Vec<(String, String)>,
    /// Pages already opened, so each sign-in opens the browser once.
    opened: HashSet<String>,
    /// Drives that start once their sign-in completes.
    pub(crate) start_after_sign_in: BTreeSet<String>,
    /// Shows a notification (a desktop one by default).
    pub notify: Notify,
    /// Drives whose ended session was already notified.
    pub(crate) notified: HashSet<String>,
    /// The drive letters free now (`None` where drives mount at folders: not Windows).
    pub free_letters: fn() -> Option<Vec<String>>,
    /// Quit was asked: drives are stopping.
    pub quitting: bool,
    /// Start at sign-in, where the platform has it.
    pub autostart: Option<Autostart>,
    /// The tray icon, once the window has attached one.
    pub tray: Option<Tray>,
    rt: tokio::runtime::Runtime,
}

/// Opens `dir` in the platform's file manager; a failure is logged (the drive still works).
fn open_in_file_manager(dir: &str) {
    let program = if cfg!(windows) {
        "explorer"
    } else if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(program).arg(dir).spawn() {
        tracing::warn!(error = %e, program, "could not open the drive in the file manager");
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("drives_path", &self.drives_path)
            .field("drives", &self.drives)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Reads the drives file at `path` (a bad file is reported, and not overwritten until the
    /// user saves).
    pub fn load(path: PathBuf) -> Self {
        let (drives, message, unreadable) = match DrivesFile::load(&path) {
            // A drive this version cannot read is named; the others work, and saving keeps it.
            Ok(d) if !d.unreadable.is_empty() => {
                let lines: Vec<String> = d.unreadable.iter().map(|u| u.message(&path)).collect();
                (d, Some(lines.join("\n")), false)
            }
            Ok(d) => (d, None, false),
            Err(e) => (
                DrivesFile::default(),
                Some(format!(
                    "{e}. Saving a drive keeps that file aside as {}.",
                    backup_of(&path).display()
                )),
                true,
            ),
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime for sign-ins");
        let open_url: OpenUrl = Arc::new(|url| {
            if let Err(e) = webbrowser::open(url) {
                tracing::warn!(error = %e, "could not open a browser");
            }
        });
        Self {
            drives_path: path,
            drives,
            editor: None,
            message,
            unreadable,
            sessions: BTreeMap::new(),
            endpoints: pail_auth::Endpoints::default(),
            token_cache_dir: None,
            notify: notice::desktop(open_url.clone()),
            open_url,
            open_folder: Arc::new(open_in_file_manager),
            wake: Arc::new(|| {}),
            check: Arc::new(tokio::sync::watch::channel(None).0),
            buckets: Arc::new(tokio::sync::watch::channel(None).0),
            mounts: BTreeMap::new(),
            pail_binary: default_pail_binary(),
            mount_env: Vec::new(),
            opened: HashSet::new(),
            start_after_sign_in: BTreeSet::new(),
            notified: HashSet::new(),
            free_letters: platform_free_letters,
            quitting: false,
            autostart: None,
            tray: None,
            rt,
        }
    }

    /// Stops drive `name`, letting its uploads finish.
    pub fn stop(&mut self, name: &str) {
        if let Some(p) = self.mounts.get(name) {
            p.stop();
        }
    }

    /// The runtime sign-ins run on.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.rt.handle().clone()
    }

    /// Starts signing in to drive `name`.
    pub fn sign_in(&mut self, name: &str) {
        let Ok(drive) = self.drives.get(name).cloned() else {
            return;
        };
        match self.session_of(&drive) {
            Ok(s) => s.sign_in(),
            Err(e) => self.message = Some(format!("{name}: {e}")),
        }
    }

    /// Drive `drive`'s sign-in session: the one it has, or a new one.
    pub(crate) fn session_of(&mut self, drive: &pail_drives::Drive) -> Result<Arc<DriveSession>, String> {
        match self.sessions.get(&drive.name) {
            Some(s) => Ok(s.clone()),
            None => self.open_session(drive),
        }
    }

    /// A new sign-in session for `drive`, kept under its name (replacing an older one).
    pub(crate) fn open_session(&mut self, drive: &pail_drives::Drive) -> Result<Arc<DriveSession>, String> {
        let s = DriveSession::open(
            self.rt.handle(),
            drive,
            self.endpoints.clone(),
            self.token_cache_dir.clone(),
        )?;
        self.sessions.insert(drive.name.clone(), s.clone());
        self.wake_on_change(s.watch());
        Ok(s)
    }

    /// Wakes the window whenever `rx` changes, for as long as its sender lives.
    pub(crate) fn wake_on_change<T: Send + Sync + 'static>(&self, mut rx: tokio::sync::watch::Receiver<T>) {
        let wake = self.wake.clone();
        self.rt.spawn(async move {
            while rx.changed().await.is_ok() {
                wake();
            }
        });
    }

    /// The connection test's lines under the dialog, or a spinner while it runs.
    fn check_lines(&self, ui: &mut egui::Ui) {
        let lines = self.check.borrow().clone();
        match lines {
            None => {}
            Some(l) if l.is_empty() => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Testing the connection…");
                });
            }
            Some(l) => {
                for line in l {
                    let color = if line.ok {
                        egui::Color32::GREEN
                    } else {
                        egui::Color32::RED
                    };
                    ui.colored_label(color, line.text());
                }
            }
        }
    }

    /// Opens `url` in the browser unless this sign-in already did.
    fn open_once(&mut self, url: &str) {
        if self.opened.insert(url.to_owned()) {
            (self.open_url)(url);
        }
    }

    /// Saves the dialog's drive and closes the dialog, or shows why it cannot be saved.
    fn save_and_close(&mut self) {
        match self.save() {
            Ok(()) => {
                self.editor = None;
                self.check.send_replace(None);
                self.buckets.send_replace(None);
            }
            Err(e) => {
                if let Some(ed) = &mut self.editor {
                    ed.finishing = false;
                    ed.error = Some(e);
                }
            }
        }
    }

    /// Whether OK must sign in before it saves: the profile signs in in the browser and no
    /// bucket is chosen yet, so the buckets the sign-in may see are offered first (the seed's
    /// flow). With a bucket typed, OK saves at once and Start signs in when it must.
    fn must_sign_in_first(&self) -> bool {
        self.editor
            .as_ref()
            .is_some_and(|ed| ed.signs_in_in_browser() && ed.bucket.trim().is_empty())
    }

    /// After OK signed in: the sign-in is done, the bucket list has come (or could not be
    /// had), and a bucket is chosen — picked from the list or typed.
    fn finished_signing_in(&self) -> bool {
        let Some(ed) = self.editor.as_ref().filter(|e| e.finishing) else {
            return false;
        };
        let signed_in = self
            .sessions
            .get(ed.name.trim())
            .is_some_and(|s| s.state() == SignInState::SignedIn);
        let listed = !matches!(*self.buckets.borrow(), Some(BucketList::Listing));
        signed_in && listed && !ed.bucket.trim().is_empty()
    }

    fn save(&mut self) -> Result<(), String> {
        let editor = self.editor.as_ref().ok_or("no dialog")?;
        let (drive, secret) = editor.to_drive()?;
        let renamed = editor.editing.clone().filter(|o| *o != drive.name);
        // A renamed drive takes its secret along: a secret is kept per name, and the old name's
        // must not outlive it.
        let secret = match (secret, &renamed, &drive.auth) {
            (Some(s), _, _) => Some(s),
            (None, Some(old), pail_drives::DriveAuth::Keys { .. }) => {
                Some(pail_drives::load_secret(&self.drives_path, old).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        if let Some(s) = secret {
            pail_drives::store_secret(&self.drives_path, &drive.name, &s).map_err(|e| e.to_string())?;
        }
        if let Some(old) = renamed {
            self.drives.remove(&old);
            pail_drives::remove_secret(&self.drives_path, &old);
        }
        self.drives.upsert(drive);
        self.keep_unreadable_file()?;
        self.drives.save(&self.drives_path).map_err(|e| e.to_string())
    }

    /// Moves a drives file that could not be read (edited by hand into invalid TOML, say) to
    /// its backup name before the first save replaces it.
    pub(crate) fn keep_unreadable_file(&mut self) -> Result<(), String> {
        if self.unreadable && self.drives_path.exists() {
            let backup = backup_of(&self.drives_path);
            std::fs::rename(&self.drives_path, &backup)
                .map_err(|e| format!("cannot keep the unreadable {} aside: {e}", self.drives_path.display()))?;
            self.message = Some(format!(
                "The drives file could not be read; it is kept as {}.",
                backup.display()
            ));
        }
        self.unreadable = false;
        Ok(())
    }

    /// One frame without a native window (what the tests drive): moves things along, as
    /// `eframe::App::logic` does, then draws.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.poll();
        self.draw(ui);
    }

    /// Draws the window.
    fn draw(&mut self, ui: &mut egui::Ui) {
        if self.quitting {
            self.quit_progress(ui);
            return;
        }
        if self.editor.is_some() {
            self.sign_in_panels(ui);
        }
        if let Some(editor) = &mut self.editor {
            let buckets = self.buckets.borrow().clone();
            // Read before the dialog draws: a widget that takes the key (an open drop-down)
            // has not consumed it yet, so an open popup is left to close itself.
            let popup = egui::Popup::is_any_open(ui.ctx());
            let (escape, enter) = ui.input(|i| (i.key_pressed(egui::Key::Escape), i.key_pressed(egui::Key::Enter)));
            let action = editor.ui(ui, buckets.as_ref()).or(match (popup, escape, enter) {
                // Esc closes the dialog, Enter is its primary action (OK), as in any dialog.
                (false, true, _) => Some(EditorAction::Cancel),
                (false, false, true) if editor.missing().is_empty() => Some(EditorAction::Save),
                _ => None,
            });
            self.check_lines(ui);
            match action {
                Some(EditorAction::Save) if self.must_sign_in_first() => {
                    // The seed's flow: OK signs in (the panel shows the page and code), then
                    // the buckets are offered; the drive is saved once one is chosen.
                    if let Some(ed) = &mut self.editor {
                        ed.finishing = true;
                        ed.error = None;
                    }
                    self.browse_buckets();
                }
                Some(EditorAction::Save) => self.save_and_close(),
                Some(EditorAction::Cancel) => {
                    self.editor = None;
                    self.check.send_replace(None);
                    self.buckets.send_replace(None);
                }
                Some(EditorAction::Test) => self.test_connection(),
                Some(EditorAction::BrowseBuckets) => self.browse_buckets(),
                Some(EditorAction::BucketPicked) => {
                    self.buckets.send_replace(None);
                }
                None => {}
            }
            if self.finished_signing_in() {
                self.save_and_close();
            }
            return;
        }
        self.drive_list(ui);
    }
}

impl App {
    /// Keeps where the window is, for the next start ([`Placement`]).
    fn keep_placement(&self, ctx: &egui::Context) {
        if let Some(p) = Placement::of(ctx)
            && let Err(e) = p.save(&placement_file(&self.drives_path))
        {
            tracing::warn!(error = %e, "could not keep the window's place");
        }
    }

    /// Shows the tray icon (and keeps running there when the window closes); without a tray
    /// host the app runs without one.
    pub fn attach_tray(&mut self, ctx: &egui::Context) {
        match Tray::new(ctx, self.tray_entries()) {
            Ok(t) => self.tray = Some(t),
            Err(e) => tracing::warn!(error = %e, "no tray icon: closing the window quits pail"),
        }
    }
}

impl eframe::App for App {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll();
        let commands = self.tray.as_ref().map(Tray::commands).unwrap_or_default();
        for c in commands {
            self.apply(c);
        }
        if self.tray.is_some() {
            let (entries, tooltip) = (self.tray_entries(), self.tray_tooltip());
            if let Some(t) = &mut self.tray {
                t.sync(entries, &tooltip);
            }
        }
        if ctx.input(|i| i.viewport().close_requested()) || self.quit_ready() {
            self.keep_placement(ctx);
        }
        if ctx.input(|i| i.viewport().close_requested()) && !self.quit_ready() {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            if self.tray.is_some() && !self.quitting {
                // Closing the window keeps pail in the tray. Minimized, not hidden: eframe
                // cannot show a hidden window again on Windows (egui issue 5229).
                ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(true));
            } else {
                self.quit();
            }
        }
        if self.quit_ready() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        // Sign-ins and mounts wake the window when they change (`wake_on_change`), so an idle
        // window draws nothing. Only what moves with the clock asks for frames: an error's
        // "12 s ago", and Quit's wait.
        if self.quitting {
            ctx.request_repaint_after(std::time::Duration::from_millis(250));
        } else if self.mounts.values().any(|m| m.activity().last_error.is_some()) {
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        // `logic` already polled this frame.
        egui::CentralPanel::default().show(ui, |ui| self.draw(ui));
    }
}
