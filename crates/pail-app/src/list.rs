//! Drawing the drive list — each drive's name, where it mounts, bucket and folder, sign-in,
//! state and buttons — with start at sign-in and Quit under it, and, once Quit was asked, the
//! uploads each drive still has to finish.

use eframe::egui;
use pail_drives::DriveAuth;

use crate::{App, DriveEditor, MountState, SignInState};

/// What a click in the list asks for.
enum Click {
    Edit(String),
    Remove(String),
    SignIn(String),
    Start(String),
    Stop(String),
    Reopen(String),
}

impl App {
    /// The one-line state of drive `name` in the list.
    pub fn state_label(&self, name: &str) -> String {
        let session = self.sessions.get(name).map(|s| s.state());
        let mount = self.mounts.get(name).map(|m| m.state());
        match (&mount, &session) {
            (Some(m), _) if *m != MountState::Stopped => m.label(),
            (_, Some(s)) if *s != SignInState::NotSignedIn => s.label(),
            _ => "Stopped".to_owned(),
        }
    }

    /// The drive list.
    pub(crate) fn drive_list(&mut self, ui: &mut egui::Ui) {
        ui.heading("Drives");
        if let Some(m) = &self.message {
            ui.colored_label(egui::Color32::RED, m);
        }
        self.sign_in_panels(ui);
        let mut click = None;
        egui::Grid::new("drives").striped(true).show(ui, |ui| {
            for h in ["Name", "Where", "Bucket / folder", "Sign-in", "State", ""] {
                ui.strong(h);
            }
            ui.end_row();
            for d in &self.drives.drives {
                let name = &d.name;
                ui.label(name);
                ui.label(d.mount_point.as_deref().unwrap_or("next free letter"));
                ui.label(d.target());
                ui.label(match &d.auth {
                    DriveAuth::Profile { profile, .. } => format!("profile {profile}"),
                    DriveAuth::Keys { access_key_id } => format!("keys {access_key_id}"),
                    DriveAuth::Default => "default".to_owned(),
                });
                ui.label(self.state_label(name));
                let session = self.sessions.get(name).map(|s| s.state());
                let mount = self.mounts.get(name).map(|m| m.state());
                ui.horizontal(|ui| {
                    let running = mount.as_ref().is_some_and(MountState::is_running);
                    let starting = self.start_after_sign_in.contains(name);
                    let can_sign_in = matches!(d.auth, DriveAuth::Profile { .. })
                        && !running
                        && !starting
                        && matches!(session, None | Some(SignInState::NotSignedIn | SignInState::Failed(_)));
                    let mut button = |ui: &mut egui::Ui, label: String, c: Click| {
                        if ui.button(label).clicked() {
                            click = Some(c);
                        }
                    };
                    if can_sign_in {
                        button(ui, format!("Sign in {name}"), Click::SignIn(name.clone()));
                    }
                    if !running && !starting {
                        button(ui, format!("Start {name}"), Click::Start(name.clone()));
                    }
                    if mount.as_ref().is_some_and(MountState::can_stop) {
                        button(ui, format!("Stop {name}"), Click::Stop(name.clone()));
                    }
                    if let Some(MountState::SessionExpired { url, .. }) = &mount {
                        button(ui, format!("Sign in again {name}"), Click::Reopen(url.clone()));
                    }
                    button(ui, format!("Edit {name}"), Click::Edit(name.clone()));
                    button(ui, format!("Remove {name}"), Click::Remove(name.clone()));
                });
                ui.end_row();
            }
        });
        ui.horizontal(|ui| {
            if ui.button("Add drive…").clicked() {
                self.editor = Some(DriveEditor {
                    letters: (self.free_letters)(),
                    ..DriveEditor::new()
                });
            }
            if ui.button("Quit (waits for uploads)").clicked() {
                self.quit();
            }
        });
        self.autostart_box(ui);
        match click {
            None => {}
            Some(Click::Edit(name)) => {
                if let Ok(d) = self.drives.get(&name) {
                    self.editor = Some(DriveEditor {
                        letters: (self.free_letters)(),
                        ..DriveEditor::edit(d)
                    });
                }
            }
            Some(Click::SignIn(name)) => self.sign_in(&name),
            Some(Click::Start(name)) => self.start(&name),
            Some(Click::Stop(name)) => self.stop(&name),
            Some(Click::Reopen(url)) => (self.open_url)(&url),
            Some(Click::Remove(name)) => {
                self.sessions.remove(&name);
                let target = self.drives.get(&name).ok().map(|d| d.target());
                self.drives.remove(&name);
                pail_drives::remove_secret(&self.drives_path, &name);
                self.message = self
                    .keep_unreadable_file()
                    .and_then(|()| self.drives.save(&self.drives_path).map_err(|e| e.to_string()))
                    .err();
                if let Some(t) = target
                    && self.message.is_none()
                {
                    self.message = self.forget_caches(&t);
                }
            }
        }
    }

    /// Deletes the caches of a removed drive and their keys (`pail forget`), so nothing
    /// readable of it stays on this machine; a cache with uploads still pending is kept, and
    /// the returned message says so.
    fn forget_caches(&self, target: &str) -> Option<String> {
        let out = std::process::Command::new(&self.pail_binary)
            .args(["forget", target])
            .env("PAIL_DRIVES_FILE", &self.drives_path)
            .output();
        match out {
            Ok(o) if o.status.success() => None,
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                err.contains("pending")
                    .then(|| err.trim().trim_start_matches("pail: error: ").to_owned())
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not run pail forget");
                None
            }
        }
    }

    /// "Start pail when I sign in", where the platform has it.
    fn autostart_box(&mut self, ui: &mut egui::Ui) {
        let Some(auto) = &mut self.autostart else { return };
        let mut on = auto.is_enabled();
        if ui.checkbox(&mut on, "Start pail when I sign in").changed()
            && let Err(e) = auto.set(on)
        {
            self.message = Some(e);
        }
    }

    /// After Quit: what each drive still has to upload; the window closes when all stopped.
    pub(crate) fn quit_progress(&mut self, ui: &mut egui::Ui) {
        ui.heading("Quitting pail");
        ui.label("Each drive finishes its uploads first, so nothing written is left behind.");
        let mut left = 0;
        for (name, m) in &self.mounts {
            let state = m.state();
            if state.is_running() {
                left += 1;
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("{name}: {}", state.label()));
                });
            }
        }
        if left == 0 {
            ui.label("All drives have stopped.");
        } else if ui.button("Quit now (uploads continue at the next start)").clicked() {
            self.quit_now();
        }
    }
}
