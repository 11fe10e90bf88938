//! The sign-in panel: for each drive signing in, the page and the code to check (the browser
//! is opened once, and "Open browser" opens it again), a spinner while the sign-in waits for
//! the user; after a denial or a timeout, what happened and a Retry; when a session has ended,
//! "Session expired — Sign in again", which opens the page, and a word that uploads wait. The
//! panel closes itself once the drive is signed in.

use eframe::egui;

use crate::{App, SignInState};

impl App {
    /// Draws a panel for every drive whose sign-in needs the user.
    pub(crate) fn sign_in_panels(&mut self, ui: &mut egui::Ui) {
        let waiting: Vec<(String, SignInState)> = self
            .sessions
            .iter()
            .map(|(name, s)| (name.clone(), s.state()))
            .filter(|(_, st)| !matches!(st, SignInState::SignedIn | SignInState::NotSignedIn))
            .collect();
        for (name, state) in waiting {
            ui.group(|ui| {
                ui.strong(format!("Sign in to {name}"));
                match &state {
                    SignInState::Starting => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Contacting the sign-in service…");
                        });
                    }
                    SignInState::Waiting { url, code } => {
                        self.open_once(url);
                        if code.is_empty() {
                            ui.label("Sign in with your company account in the browser window that opened.");
                        } else {
                            ui.label("Sign in in the browser window that opened, and check that it shows this code:");
                            ui.heading(code);
                        }
                        ui.label(url);
                        if ui.button("Open browser").clicked() {
                            (self.open_url)(url);
                        }
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Waiting for you to approve in the browser…");
                        });
                    }
                    SignInState::SessionExpired { url, code } => {
                        ui.label("Your sign-in session has ended. Files you saved wait on this computer and upload after you sign in again; nothing is lost.");
                        if !code.is_empty() {
                            ui.label("The page will show this code:");
                            ui.heading(code);
                        }
                        if ui.button("Session expired — Sign in again").clicked() {
                            (self.open_url)(url);
                        }
                    }
                    SignInState::Failed(why) => {
                        ui.colored_label(egui::Color32::RED, format!("The sign-in did not complete: {why}"));
                        if ui.button("Retry").clicked() {
                            self.sign_in(&name);
                        }
                    }
                    SignInState::SignedIn | SignInState::NotSignedIn => {}
                }
            });
        }
    }
}
