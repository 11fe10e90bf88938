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
//! Test connection (in the dialog) signs in when needed and reports what works.
//!
//! Still to come (issue "Settings app"): Browse buckets, the tray and its notification, start
//! at sign-in.
//!
//! # Layout
//! - `editor` — [`DriveEditor`], the Add/Edit drive dialog.
//! - `signin` — [`DriveSession`], one drive's sign-in and its [`SignInState`].
//! - `mounts` — [`DriveProcess`], a started drive and its [`MountState`].
//! - `check` — Test connection: sign-in, list, read, write, line by line.
//! - `panel` — drawing the sign-in panel.
//! - this file — [`App`], the drive list.

mod check;
mod editor;
mod mounts;
mod panel;
mod signin;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;
use pail_drives::{DriveAuth, DrivesFile};

pub use check::{CheckLine, test_connection};
pub use editor::{DriveEditor, EditorAction, MY_FOLDER};
pub use mounts::{DriveProcess, MountState};
pub use signin::{DriveSession, SignInState};

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

/// The window's size; the tests drive the UI at this size too, so what they click fits.
pub const WINDOW_SIZE: [f32; 2] = [920.0, 520.0];

/// How the app opens a page in the user's browser (tests record the pages instead).
pub type OpenUrl = Arc<dyn Fn(&str) + Send + Sync>;

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
    /// The dialog's connection test: `None` before one, an empty list while it runs.
    pub check: Arc<tokio::sync::watch::Sender<Option<Vec<CheckLine>>>>,
    /// Started drives by name.
    pub mounts: BTreeMap<String, Arc<DriveProcess>>,
    /// The `pail` binary that mounts (next to this one by default).
    pub pail_binary: PathBuf,
    /// Extra environment for the mounts (tests isolate HOME and point endpoints here).
    pub mount_env: Vec<(String, String)>,
    /// Pages already opened, so each sign-in opens the browser once.
    opened: HashSet<String>,
    rt: tokio::runtime::Runtime,
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
        Self {
            drives_path: path,
            drives,
            editor: None,
            message,
            unreadable,
            sessions: BTreeMap::new(),
            endpoints: pail_auth::Endpoints::default(),
            token_cache_dir: None,
            open_url: Arc::new(|url| {
                if let Err(e) = webbrowser::open(url) {
                    tracing::warn!(error = %e, "could not open a browser");
                }
            }),
            check: Arc::new(tokio::sync::watch::channel(None).0),
            mounts: BTreeMap::new(),
            pail_binary: default_pail_binary(),
            mount_env: Vec::new(),
            opened: HashSet::new(),
            rt,
        }
    }

    /// Starts drive `name` (`pail mount <name>`); its sign-in, if any, comes from the shared
    /// token cache, so sign in first.
    pub fn start(&mut self, name: &str) {
        let mut env = self.mount_env.clone();
        for (var, ep) in [
            ("AWS_ENDPOINT_URL_SSO_OIDC", &self.endpoints.sso_oidc),
            ("AWS_ENDPOINT_URL_SSO", &self.endpoints.sso),
            ("AWS_ENDPOINT_URL_STS", &self.endpoints.sts),
        ] {
            if let Some(ep) = ep {
                env.push((var.to_owned(), ep.clone()));
            }
        }
        match DriveProcess::start(&self.pail_binary, &self.drives_path, name, &env) {
            Ok(p) => {
                self.mounts.insert(name.to_owned(), p);
            }
            Err(e) => self.message = Some(format!("{name}: {e}")),
        }
    }

    /// Test connection for the drive in the dialog: signs in first when its profile needs it
    /// (the sign-in panel shows the page and code), then runs the checks in the background.
    pub fn test_connection(&mut self) {
        let Some(editor) = &self.editor else { return };
        let (drive, secret) = match editor.to_drive() {
            Ok(d) => d,
            Err(e) => {
                if let Some(ed) = &mut self.editor {
                    ed.error = Some(e);
                }
                return;
            }
        };
        let secret = secret.or_else(|| pail_drives::load_secret(&self.drives_path, &drive.name).ok());
        let session = match &drive.auth {
            // The dialog's settings may differ from the saved drive's: a session of its own.
            DriveAuth::Profile { .. } => match self.open_session(&drive) {
                Ok(s) => {
                    s.sign_in();
                    Some(s)
                }
                Err(e) => {
                    self.check.send_replace(Some(vec![CheckLine::failed_sign_in(e)]));
                    return;
                }
            },
            _ => None,
        };
        let check = self.check.clone();
        check.send_replace(Some(Vec::new()));
        self.rt.spawn(async move {
            let lines = match &session {
                Some(s) => {
                    let mut rx = s.watch();
                    let state = rx
                        .wait_for(|st| matches!(st, SignInState::SignedIn | SignInState::Failed(_)))
                        .await
                        .map(|st| st.clone());
                    match state {
                        Ok(SignInState::SignedIn) => test_connection(&drive, Some(s.auth()), None).await,
                        Ok(SignInState::Failed(why)) => vec![CheckLine::failed_sign_in(why)],
                        _ => vec![CheckLine::failed_sign_in("the sign-in stopped".into())],
                    }
                }
                None => test_connection(&drive, None, secret).await,
            };
            check.send_replace(Some(lines));
        });
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
        let session = match self.sessions.get(name) {
            Some(s) => s.clone(),
            None => {
                let Ok(drive) = self.drives.get(name).cloned() else {
                    return;
                };
                match self.open_session(&drive) {
                    Ok(s) => s,
                    Err(e) => {
                        self.message = Some(format!("{name}: {e}"));
                        return;
                    }
                }
            }
        };
        session.sign_in();
    }

    /// A new sign-in session for `drive`, kept under its name (replacing an older one).
    fn open_session(&mut self, drive: &pail_drives::Drive) -> Result<Arc<DriveSession>, String> {
        let s = DriveSession::open(
            self.rt.handle(),
            drive,
            self.endpoints.clone(),
            self.token_cache_dir.clone(),
        )?;
        self.sessions.insert(drive.name.clone(), s.clone());
        Ok(s)
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

    fn save(&mut self) -> Result<(), String> {
        let editor = self.editor.as_ref().ok_or("no dialog")?;
        let (drive, secret) = editor.to_drive()?;
        if let Some(s) = secret {
            pail_drives::store_secret(&self.drives_path, &drive.name, &s).map_err(|e| e.to_string())?;
        }
        if let Some(old) = editor.editing.clone().filter(|o| *o != drive.name) {
            self.drives.remove(&old);
        }
        self.drives.upsert(drive);
        self.keep_unreadable_file()?;
        self.drives.save(&self.drives_path).map_err(|e| e.to_string())
    }

    /// Moves a drives file that could not be read (edited by hand into invalid TOML, say) to
    /// its backup name before the first save replaces it.
    fn keep_unreadable_file(&mut self) -> Result<(), String> {
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

    /// Draws the window.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if self.editor.is_some() {
            self.sign_in_panels(ui);
        }
        if let Some(editor) = &mut self.editor {
            let action = editor.ui(ui);
            self.check_lines(ui);
            match action {
                Some(EditorAction::Save) => match self.save() {
                    Ok(()) => self.editor = None,
                    Err(e) => {
                        if let Some(ed) = &mut self.editor {
                            ed.error = Some(e);
                        }
                    }
                },
                Some(EditorAction::Cancel) => {
                    self.editor = None;
                    self.check.send_replace(None);
                }
                Some(EditorAction::Test) => self.test_connection(),
                None => {}
            }
            return;
        }
        ui.heading("Drives");
        if let Some(m) = &self.message {
            ui.colored_label(egui::Color32::RED, m);
        }
        self.sign_in_panels(ui);
        let mut edit = None;
        let mut remove = None;
        let mut sign_in = None;
        let (mut start, mut stop, mut reopen) = (None, None, None);
        egui::Grid::new("drives").striped(true).show(ui, |ui| {
            for h in ["Name", "Where", "Bucket / folder", "Sign-in", "State", ""] {
                ui.strong(h);
            }
            ui.end_row();
            for d in &self.drives.drives {
                ui.label(&d.name);
                ui.label(d.mount_point.as_deref().unwrap_or("next free letter"));
                ui.label(d.target());
                ui.label(match &d.auth {
                    DriveAuth::Profile { profile, .. } => format!("profile {profile}"),
                    DriveAuth::Keys { access_key_id } => format!("keys {access_key_id}"),
                    DriveAuth::Default => "default".to_owned(),
                });
                let state = self.sessions.get(&d.name).map(|s| s.state());
                let mount = self.mounts.get(&d.name).map(|m| m.state());
                let shown = match (&mount, &state) {
                    (Some(m), _) if *m != MountState::Stopped => m.label(),
                    (_, Some(s)) if *s != SignInState::NotSignedIn => s.label(),
                    _ => "Stopped".to_owned(),
                };
                ui.label(shown);
                ui.horizontal(|ui| {
                    let running = mount.as_ref().is_some_and(MountState::is_running);
                    let can_sign_in = matches!(d.auth, DriveAuth::Profile { .. })
                        && !running
                        && matches!(state, None | Some(SignInState::NotSignedIn | SignInState::Failed(_)));
                    if can_sign_in && ui.button(format!("Sign in {}", d.name)).clicked() {
                        sign_in = Some(d.name.clone());
                    }
                    if !running && ui.button(format!("Start {}", d.name)).clicked() {
                        start = Some(d.name.clone());
                    }
                    if running
                        && !matches!(mount, Some(MountState::Stopping | MountState::Mounting))
                        && ui.button(format!("Stop {}", d.name)).clicked()
                    {
                        stop = Some(d.name.clone());
                    }
                    if let Some(MountState::SessionExpired { url, .. }) = &mount
                        && ui.button(format!("Sign in again {}", d.name)).clicked()
                    {
                        reopen = Some(url.clone());
                    }
                    if ui.button(format!("Edit {}", d.name)).clicked() {
                        edit = Some(d.name.clone());
                    }
                    if ui.button(format!("Remove {}", d.name)).clicked() {
                        remove = Some(d.name.clone());
                    }
                });
                ui.end_row();
            }
        });
        if ui.button("Add drive…").clicked() {
            self.editor = Some(DriveEditor::new());
        }
        if let Some(name) = edit
            && let Ok(d) = self.drives.get(&name)
        {
            self.editor = Some(DriveEditor::edit(d));
        }
        if let Some(name) = sign_in {
            self.sign_in(&name);
        }
        if let Some(name) = start {
            self.start(&name);
        }
        if let Some(name) = stop {
            self.stop(&name);
        }
        if let Some(url) = reopen {
            (self.open_url)(&url);
        }
        if let Some(name) = remove {
            self.sessions.remove(&name);
            self.drives.remove(&name);
            pail_drives::remove_secret(&self.drives_path, &name);
            self.message = self
                .keep_unreadable_file()
                .and_then(|()| self.drives.save(&self.drives_path).map_err(|e| e.to_string()))
                .err();
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| App::ui(self, ui));
        // Sign-ins change state in the background: look again now and then.
        if !self.sessions.is_empty() || !self.mounts.is_empty() {
            ui.ctx().request_repaint_after(std::time::Duration::from_millis(250));
        }
    }
}
