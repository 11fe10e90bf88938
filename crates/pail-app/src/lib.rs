//! pail-app: what an employee sees — the list of their drives and the Add/Edit drive dialog
//! ("Use AWS Profile", Browse… to the config file, pick the profile, "My folder"), saved to the
//! drives file `pail` reads too. The UI is plain functions over state structs, so egui_kittest
//! drives it headless; `main.rs` only opens the window.
//!
//! Still to come (issue "Settings app"): Start/Stop in-process with the sign-in panel and
//! re-consent notification, Test connection, the tray.
//!
//! # Layout
//! - `editor` — [`DriveEditor`], the Add/Edit drive dialog.
//! - this file — [`App`], the drive list.

mod editor;

use std::path::PathBuf;

use eframe::egui;
use pail_drives::{DriveAuth, DrivesFile};

pub use editor::{DriveEditor, EditorAction, MY_FOLDER};

/// The window's state.
#[derive(Debug)]
pub struct App {
    /// The drives file.
    pub drives_path: PathBuf,
    /// Its drives.
    pub drives: DrivesFile,
    /// The open dialog, if any.
    pub editor: Option<DriveEditor>,
    /// The last problem, shown at the top.
    pub message: Option<String>,
}

impl App {
    /// Reads the drives file at `path` (a bad file is reported, and not overwritten until the
    /// user saves).
    pub fn load(path: PathBuf) -> Self {
        let (drives, message) = match DrivesFile::load(&path) {
            Ok(d) => (d, None),
            Err(e) => (DrivesFile::default(), Some(e.to_string())),
        };
        Self {
            drives_path: path,
            drives,
            editor: None,
            message,
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
        self.drives.save(&self.drives_path).map_err(|e| e.to_string())
    }

    /// Draws the window.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        if let Some(editor) = &mut self.editor {
            match editor.ui(ui) {
                Some(EditorAction::Save) => match self.save() {
                    Ok(()) => self.editor = None,
                    Err(e) => {
                        if let Some(ed) = &mut self.editor {
                            ed.error = Some(e);
                        }
                    }
                },
                Some(EditorAction::Cancel) => self.editor = None,
                None => {}
            }
            return;
        }
        ui.heading("Drives");
        if let Some(m) = &self.message {
            ui.colored_label(egui::Color32::RED, m);
        }
        let mut edit = None;
        let mut remove = None;
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
                ui.label("Stopped");
                ui.horizontal(|ui| {
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
        if let Some(name) = remove {
            self.drives.remove(&name);
            pail_drives::remove_secret(&self.drives_path, &name);
            self.message = self.drives.save(&self.drives_path).err().map(|e| e.to_string());
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| App::ui(self, ui));
    }
}
