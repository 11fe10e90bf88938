//! Drawing the drive list — each drive's state as a coloured badge, its name, where it mounts,
//! bucket and folder, and sign-in; one primary action per row (Start or Stop) and the rest
//! (Open, Sign in, Edit, Remove) in the row's menu — with start at sign-in and Quit under it,
//! and, once Quit was asked, the uploads each drive still has to finish.
//!
//! Buttons show an icon and a short word ("▶ Start", "✏ Edit…", drawn from egui's own emoji
//! font, nothing downloaded); their accessible labels name the drive ("Start Home", "Edit
//! Home"), so a screen reader, and the tests, tell the rows apart.

use eframe::egui;
use pail_drives::DriveAuth;

use crate::{App, DriveEditor, MountState, SignInState};

/// The widest a drive's state may show in the list before it is cut short.
const STATE_WIDTH: f32 = 240.0;

/// What a click in the list asks for.
enum Click {
    Edit(String),
    Remove(String),
    SignIn(String),
    Start(String),
    Stop(String),
    Reopen(String),
    Open(String),
    Details(String),
}

/// What a drive's badge says at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Badge {
    /// Not running.
    Stopped,
    /// Signing in or mounting.
    Busy,
    /// Serving, nothing pending.
    Mounted,
    /// Serving, uploads under way.
    Uploading,
    /// The user must act (sign in again).
    NeedsYou,
    /// Failed.
    Error,
}

impl Badge {
    /// Its colour, readable on the light and the dark theme.
    pub fn colour(self) -> egui::Color32 {
        match self {
            Badge::Stopped => egui::Color32::from_rgb(0x8a, 0x8a, 0x8a),
            Badge::Busy => egui::Color32::from_rgb(0x3b, 0x82, 0xf6),
            Badge::Mounted => egui::Color32::from_rgb(0x22, 0xa0, 0x4b),
            Badge::Uploading => egui::Color32::from_rgb(0x0e, 0x9f, 0xc4),
            Badge::NeedsYou => egui::Color32::from_rgb(0xe0, 0x8e, 0x0b),
            Badge::Error => egui::Color32::from_rgb(0xdc, 0x35, 0x45),
        }
    }
}

/// The one-line state shown for a drive whose mount and sign-in stand so.
fn label_of(mount: Option<&MountState>, session: Option<&SignInState>) -> String {
    match (mount, session) {
        (Some(m), _) if *m != MountState::Stopped => m.label(),
        (_, Some(s)) if *s != SignInState::NotSignedIn => s.label(),
        _ => "Stopped".to_owned(),
    }
}

/// The badge of a drive whose mount and sign-in stand so.
fn badge_of(mount: Option<&MountState>, session: Option<&SignInState>) -> Badge {
    match (mount, session) {
        (Some(MountState::Mounted { .. }), _) => Badge::Mounted,
        (Some(MountState::Uploading { .. } | MountState::Stopping { .. }), _) => Badge::Uploading,
        (Some(MountState::SessionExpired { .. }), _) => Badge::NeedsYou,
        (Some(MountState::Mounting), _) => Badge::Busy,
        (Some(MountState::Error(_)), _) => Badge::Error,
        (_, Some(SignInState::SessionExpired { .. } | SignInState::Waiting { .. })) => Badge::NeedsYou,
        (_, Some(SignInState::Starting)) => Badge::Busy,
        (_, Some(SignInState::Failed(_))) => Badge::Error,
        _ => Badge::Stopped,
    }
}

/// A button showing `text` whose accessible label is `label`; whether it was clicked.
pub(crate) fn labelled_button(ui: &mut egui::Ui, text: &str, label: &str) -> bool {
    let response = ui.button(text);
    let label = label.to_owned();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
    response.clicked()
}

impl App {
    /// Where drive `name` stands: its mount, if started, and its sign-in, if any.
    fn states(&self, name: &str) -> (Option<MountState>, Option<SignInState>) {
        (
            self.mounts.get(name).map(|m| m.state()),
            self.sessions.get(name).map(|s| s.state()),
        )
    }

    /// The one-line state of drive `name` in the list.
    pub fn state_label(&self, name: &str) -> String {
        let (mount, session) = self.states(name);
        label_of(mount.as_ref(), session.as_ref())
    }

    /// The badge of drive `name`.
    pub fn badge(&self, name: &str) -> Badge {
        let (mount, session) = self.states(name);
        badge_of(mount.as_ref(), session.as_ref())
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
            for h in ["State", "Name", "Where", "Bucket / folder", "Sign-in", ""] {
                ui.strong(h);
            }
            ui.end_row();
            for d in &self.drives.drives {
                let name = &d.name;
                // Read once per row: the badge, the label and the actions agree on one state.
                let (mount, session) = self.states(name);
                let badge = badge_of(mount.as_ref(), session.as_ref());
                // A failed start shows its one-line reason; the log's last lines on hover, and
                // under Details in the row's menu.
                let details = match &mount {
                    Some(MountState::Error(_)) => self.mounts.get(name).map(|m| m.details()).unwrap_or_default(),
                    _ => Vec::new(),
                };
                ui.horizontal(|ui| {
                    // One line, cut short with "…" (a long error would push the row's actions
                    // out of the window); the whole of it on hover and to screen readers.
                    ui.set_max_width(STATE_WIDTH);
                    let (dot, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                    ui.painter().circle_filled(dot.center(), 5.0, badge.colour());
                    let text = label_of(mount.as_ref(), session.as_ref());
                    let state = ui.add(egui::Label::new(egui::RichText::new(&text).color(badge.colour())).truncate());
                    state.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &text));
                    let hover = if details.is_empty() {
                        text.clone()
                    } else {
                        details.join("\n")
                    };
                    state.on_hover_text(hover);
                });
                let open = match &mount {
                    Some(MountState::Mounted { dir }) => Some(dir.clone()),
                    Some(m) if m.can_stop() => d.mount_point.clone(),
                    _ => None,
                };
                // A double-click on a serving drive's name opens it, as on a disk in Explorer.
                let title = ui.add(egui::Label::new(name).sense(egui::Sense::click()));
                if title.double_clicked()
                    && let Some(dir) = &open
                {
                    click = Some(Click::Open(dir.clone()));
                }
                if open.is_some() {
                    title.on_hover_text("Double-click to open");
                }
                ui.label(d.mount_point.as_deref().unwrap_or("next free letter"));
                ui.label(d.target());
                ui.label(match &d.auth {
                    DriveAuth::Profile { profile, .. } => format!("profile {profile}"),
                    DriveAuth::Keys { access_key_id } => format!("keys {access_key_id}"),
                    DriveAuth::Default => "default".to_owned(),
                });
                ui.horizontal(|ui| {
                    let running = mount.as_ref().is_some_and(MountState::is_running);
                    let starting = self.start_after_sign_in.contains(name);
                    let can_sign_in = matches!(d.auth, DriveAuth::Profile { .. })
                        && !running
                        && !starting
                        && matches!(session, None | Some(SignInState::NotSignedIn | SignInState::Failed(_)));
                    // The one primary action: Start (it signs in first when it must) or Stop.
                    if mount.as_ref().is_some_and(MountState::can_stop) {
                        if labelled_button(ui, "⏹ Stop", &format!("Stop {name}")) {
                            click = Some(Click::Stop(name.clone()));
                        }
                    } else if !running && !starting && labelled_button(ui, "▶ Start", &format!("Start {name}")) {
                        click = Some(Click::Start(name.clone()));
                    }
                    let menu = ui.menu_button("…", |ui| {
                        let mut item = |ui: &mut egui::Ui, text: &str, label: String, c: Click| {
                            if labelled_button(ui, text, &label) {
                                click = Some(c);
                                ui.close();
                            }
                        };
                        if let Some(dir) = &open {
                            item(ui, "📂 Open", format!("Open {name}"), Click::Open(dir.clone()));
                        }
                        if let Some(MountState::SessionExpired { url, .. }) = &mount {
                            item(
                                ui,
                                "🔑 Sign in again",
                                format!("Sign in again {name}"),
                                Click::Reopen(url.clone()),
                            );
                        }
                        if can_sign_in {
                            item(ui, "🔑 Sign in", format!("Sign in {name}"), Click::SignIn(name.clone()));
                        }
                        if !details.is_empty() {
                            item(
                                ui,
                                "📋 Details",
                                format!("Details {name}"),
                                Click::Details(details.join("\n")),
                            );
                        }
                        item(ui, "✏ Edit…", format!("Edit {name}"), Click::Edit(name.clone()));
                        item(ui, "🗑 Remove", format!("Remove {name}"), Click::Remove(name.clone()));
                    });
                    let more = format!("More for {name}");
                    menu.response
                        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &more));
                    menu.response.on_hover_text("Open, sign in, edit or remove");
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
        self.activity_panel(ui);
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
            Some(Click::Open(dir)) => (self.open_folder)(&dir),
            Some(Click::Details(text)) => self.message = Some(text),
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
