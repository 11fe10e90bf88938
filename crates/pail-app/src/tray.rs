//! The tray: pail's icon beside the clock with a menu to open the window, start or stop each
//! drive, sign in again when a session has ended, and quit (which waits for uploads).
//!
//! The menu is plain data ([`App::tray_entries`], [`TrayCommand`]) that tests check and
//! [`App::apply`] carries out; [`Tray`] is the thin tray-icon adapter that shows it. On Windows
//! tray-icon uses the window's Win32 message loop; on Linux it speaks StatusNotifierItem over
//! D-Bus (tray-icon's `ksni` backend, no GTK), and where there is no session bus or tray host
//! the app runs without an icon and closing the window quits instead.

use std::sync::mpsc;

use eframe::egui;
use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

use crate::App;

/// What a tray menu item asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayCommand {
    /// Show the window.
    Open,
    /// Start a drive.
    Start(String),
    /// Stop a drive (its uploads finish first).
    Stop(String),
    /// Open the sign-in page of a drive whose session ended.
    SignInAgain(String),
    /// Quit, waiting for uploads.
    Quit,
}

impl TrayCommand {
    /// The menu item's id.
    pub fn id(&self) -> String {
        match self {
            Self::Open => "open".into(),
            Self::Start(d) => format!("start:{d}"),
            Self::Stop(d) => format!("stop:{d}"),
            Self::SignInAgain(d) => format!("sign-in:{d}"),
            Self::Quit => "quit".into(),
        }
    }

    /// The command of a menu item's id.
    pub fn from_id(id: &str) -> Option<Self> {
        match id.split_once(':') {
            None if id == "open" => Some(Self::Open),
            None if id == "quit" => Some(Self::Quit),
            Some(("start", d)) => Some(Self::Start(d.into())),
            Some(("stop", d)) => Some(Self::Stop(d.into())),
            Some(("sign-in", d)) => Some(Self::SignInAgain(d.into())),
            _ => None,
        }
    }
}

/// One item of the tray menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayEntry {
    /// What it does.
    pub command: TrayCommand,
    /// What it says.
    pub label: String,
}

impl App {
    /// The tray menu for the drives as they stand now.
    pub fn tray_entries(&self) -> Vec<TrayEntry> {
        let entry = |command, label: String| TrayEntry { command, label };
        let open = match self.uploading_summary() {
            Some(s) => format!("Open pail — {s}"),
            None => "Open pail".into(),
        };
        let mut out = vec![entry(TrayCommand::Open, open)];
        for d in &self.drives.drives {
            let name = d.name.clone();
            let state = self.mounts.get(&name).map(|m| m.state());
            if self.expired(&name).is_some() {
                out.push(entry(
                    TrayCommand::SignInAgain(name.clone()),
                    format!("Sign in again to {name}"),
                ));
            }
            match state {
                Some(s) if s.can_stop() => {
                    out.push(entry(
                        TrayCommand::Stop(name.clone()),
                        format!("Stop {name} ({})", s.label()),
                    ));
                }
                Some(s) if s.is_running() => {}
                _ if self.start_after_sign_in.contains(&name) => {}
                _ => out.push(entry(TrayCommand::Start(name.clone()), format!("Start {name}"))),
            }
        }
        out.push(entry(TrayCommand::Quit, "Quit (waits for uploads)".into()));
        out
    }

    /// The tray icon's tooltip: "pail", or what is uploading ("pail — Uploading 3 files
    /// (45 %)").
    pub fn tray_tooltip(&self) -> String {
        match self.uploading_summary() {
            Some(s) => format!("pail — {s}"),
            None => "pail".into(),
        }
    }

    /// Carries out a tray command. `Open` is the window's business ([`Tray`] raises it).
    pub fn apply(&mut self, command: TrayCommand) {
        match command {
            TrayCommand::Open => {}
            TrayCommand::Start(d) => self.start(&d),
            TrayCommand::Stop(d) => self.stop(&d),
            TrayCommand::SignInAgain(d) => {
                if let Some((url, _)) = self.expired(&d) {
                    (self.open_url)(&url);
                }
            }
            TrayCommand::Quit => self.quit(),
        }
    }
}

/// The tray icon and its menu, rebuilt when the entries change.
pub struct Tray {
    icon: TrayIcon,
    shown: Vec<TrayEntry>,
    tooltip: String,
    commands: mpsc::Receiver<TrayCommand>,
}

impl std::fmt::Debug for Tray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tray")
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

/// pail's icon: a blue pail with a lighter rim, drawn here so no image file ships.
fn icon() -> Result<Icon, String> {
    const N: u32 = 32;
    let mut rgba = Vec::with_capacity((N * N * 4) as usize);
    for y in 0..N {
        for x in 0..N {
            // A trapezoid: wider at the top (y = 6) than at the bottom (y = 28).
            let half = 13.0 - (y as f32 - 6.0) * 0.2;
            let inside = (6..=28).contains(&y) && (x as f32 - 15.5).abs() <= half;
            let rim = inside && y <= 9;
            rgba.extend_from_slice(match (inside, rim) {
                (true, true) => &[0x7f, 0xb8, 0xf0, 0xff],
                (true, false) => &[0x1f, 0x6f, 0xc8, 0xff],
                _ => &[0, 0, 0, 0],
            });
        }
    }
    Icon::from_rgba(rgba, N, N).map_err(|e| e.to_string())
}

fn menu(entries: &[TrayEntry]) -> Result<Menu, String> {
    let menu = Menu::new();
    let last = entries.len().saturating_sub(1);
    for (i, e) in entries.iter().enumerate() {
        if i == last {
            menu.append(&PredefinedMenuItem::separator())
                .map_err(|e| e.to_string())?;
        }
        menu.append(&MenuItem::with_id(e.command.id(), &e.label, true, None))
            .map_err(|e| e.to_string())?;
        if i == 0 {
            menu.append(&PredefinedMenuItem::separator())
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(menu)
}

impl Tray {
    /// Shows the icon. Menu clicks wake the window (`ctx`) so [`Tray::commands`] sees them;
    /// Open and a left click on the icon raise the window straight away. One per process:
    /// tray-icon's event handlers are process-wide and set once.
    pub fn new(ctx: &egui::Context, entries: Vec<TrayEntry>) -> Result<Self, String> {
        let (tx, rx) = mpsc::channel();
        let menu_ctx = ctx.clone();
        MenuEvent::set_event_handler(Some(move |e: MenuEvent| {
            if let Some(c) = TrayCommand::from_id(e.id.as_ref()) {
                if c == TrayCommand::Open {
                    raise(&menu_ctx);
                }
                let _ = tx.send(c);
                menu_ctx.request_repaint();
            }
        }));
        let click_ctx = ctx.clone();
        TrayIconEvent::set_event_handler(Some(move |e: TrayIconEvent| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = e
            {
                raise(&click_ctx);
            }
        }));
        let icon = TrayIconBuilder::new()
            .with_icon(icon()?)
            .with_tooltip("pail")
            .with_menu(Box::new(menu(&entries)?))
            .with_menu_on_left_click(false)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            icon,
            shown: entries,
            tooltip: "pail".into(),
            commands: rx,
        })
    }

    /// Shows `entries` if they differ from the menu on screen, and `tooltip`.
    pub fn sync(&mut self, entries: Vec<TrayEntry>, tooltip: &str) {
        if tooltip != self.tooltip {
            if let Err(e) = self.icon.set_tooltip(Some(tooltip)) {
                tracing::warn!(error = %e, "cannot update the tray tooltip");
            }
            tooltip.clone_into(&mut self.tooltip);
        }
        if entries == self.shown {
            return;
        }
        match menu(&entries) {
            Ok(m) => {
                self.icon.set_menu(Some(Box::new(m)));
                self.shown = entries;
            }
            Err(e) => tracing::warn!(error = %e, "cannot update the tray menu"),
        }
    }

    /// What the icon's tooltip says now.
    pub fn tooltip(&self) -> &str {
        &self.tooltip
    }

    /// The menu commands chosen since the last call.
    pub fn commands(&self) -> Vec<TrayCommand> {
        self.commands.try_iter().collect()
    }

    /// Waits up to `timeout` for the next menu command.
    pub fn next_command(&self, timeout: std::time::Duration) -> Option<TrayCommand> {
        self.commands.recv_timeout(timeout).ok()
    }
}

/// Brings the window back: un-minimized, shown, focused.
pub fn raise(ctx: &egui::Context) {
    ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
    ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
    ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
    ctx.request_repaint();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_survive_their_menu_ids() {
        for c in [
            TrayCommand::Open,
            TrayCommand::Start("Home: Q3".into()),
            TrayCommand::Stop("Team".into()),
            TrayCommand::SignInAgain("Home".into()),
            TrayCommand::Quit,
        ] {
            assert_eq!(TrayCommand::from_id(&c.id()), Some(c));
        }
        assert_eq!(TrayCommand::from_id("nonsense"), None);
    }

    #[test]
    fn the_icon_is_a_valid_image() {
        assert!(icon().is_ok());
    }
}
