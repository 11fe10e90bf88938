//! Running drives: Start (signing in first when the drive's profile needs the browser), drives
//! marked "mount at start", the notification when a session ends, and Quit, which unmounts
//! every drive and waits for its uploads, showing what is left.
//!
//! [`App::poll`] moves these along; the window calls it every frame, and while the window is
//! hidden eframe still calls it when a repaint is requested.

use pail_drives::DriveAuth;

use crate::notice::Notice;
use crate::{App, DriveProcess, MountState, SignInState};

impl App {
    /// Starts drive `name`. A profile that signs in in the browser signs in first (the panel
    /// shows the page and code) and the drive mounts once that is done; the mount then uses
    /// the shared sign-in cache.
    pub fn start(&mut self, name: &str) {
        let Ok(drive) = self.drives.get(name).cloned() else {
            return;
        };
        if let Some(taken) = self.letter_taken(drive.mount_point.as_deref()) {
            self.message = Some(format!("{name}: {taken}"));
            return;
        }
        if matches!(drive.auth, DriveAuth::Profile { .. }) {
            // Err: a profile with keys or a role needs no browser; the mount signs in itself.
            if let Ok(s) = self.session_of(&drive)
                && s.state() != SignInState::SignedIn
            {
                s.sign_in();
                self.start_after_sign_in.insert(name.to_owned());
                return;
            }
        }
        self.spawn_mount(name);
    }

    /// Starts every drive marked "mount at start" (signing in first where needed).
    pub fn start_marked(&mut self) {
        let marked: Vec<String> = self
            .drives
            .drives
            .iter()
            .filter(|d| d.mount_at_start)
            .map(|d| d.name.clone())
            .collect();
        for name in marked {
            self.start(&name);
        }
    }

    fn spawn_mount(&mut self, name: &str) {
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
                self.wake_on_change(p.watch());
                self.wake_on_change(p.watch_activity());
                self.mounts.insert(name.to_owned(), p);
            }
            Err(e) => self.message = Some(format!("{name}: {e}")),
        }
    }

    /// Why the drive letter `at` cannot be used now, when the platform lists free letters
    /// (Windows) and another drive or share took it since the drive was set up.
    fn letter_taken(&self, at: Option<&str>) -> Option<String> {
        let letter = at.filter(|a| a.len() == 2 && a.ends_with(':'))?;
        let free = (self.free_letters)()?;
        (!free.iter().any(|f| f.eq_ignore_ascii_case(letter))).then(|| {
            format!("{letter} is in use now (another drive or a network share took it): Edit the drive and pick a free letter")
        })
    }

    /// Unmounts every drive, letting each finish its uploads; the window shows what is left
    /// and closes once all have stopped ([`App::quit_ready`]).
    pub fn quit(&mut self) {
        self.quitting = true;
        self.start_after_sign_in.clear();
        for m in self.mounts.values() {
            if m.state().is_running() {
                m.stop();
            }
        }
    }

    /// Quit without waiting: pending uploads stay journaled and continue at the next start.
    pub fn quit_now(&mut self) {
        self.quitting = true;
        for m in self.mounts.values() {
            if m.state().is_running() {
                m.stop_now();
            }
        }
    }

    /// Quit was asked and every drive has stopped.
    pub fn quit_ready(&self) -> bool {
        self.quitting && self.mounts.values().all(|m| !m.state().is_running())
    }

    /// Moves things along: starts drives whose sign-in completed, drops starts whose sign-in
    /// failed, and notifies once per ended session.
    pub fn poll(&mut self) {
        let waiting: Vec<String> = self.start_after_sign_in.iter().cloned().collect();
        for name in waiting {
            match self.sessions.get(&name).map(|s| s.state()) {
                Some(SignInState::SignedIn) => {
                    self.start_after_sign_in.remove(&name);
                    self.spawn_mount(&name);
                }
                Some(SignInState::Failed(why)) => {
                    self.start_after_sign_in.remove(&name);
                    self.message = Some(format!("{name} was not started: {why}"));
                }
                None => {
                    self.start_after_sign_in.remove(&name);
                }
                _ => {}
            }
        }
        for d in &self.drives.drives {
            match self.expired(&d.name) {
                Some((url, code)) if !self.notified.contains(&d.name) => {
                    self.notified.insert(d.name.clone());
                    (self.notify)(&Notice {
                        drive: d.name.clone(),
                        url,
                        code,
                    });
                }
                Some(_) => {}
                None => {
                    self.notified.remove(&d.name);
                }
            }
        }
    }

    /// The page and code to sign in again at, while drive `name`'s session has ended (as its
    /// mount or the app's own sign-in reports it).
    pub fn expired(&self, name: &str) -> Option<(String, String)> {
        if let Some(MountState::SessionExpired { url, code }) = self.mounts.get(name).map(|m| m.state()) {
            return Some((url, code));
        }
        match self.sessions.get(name).map(|s| s.state()) {
            Some(SignInState::SessionExpired { url, code }) => Some((url, code)),
            _ => None,
        }
    }
}
