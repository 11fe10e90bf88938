//! "Start pail when I sign in": the app registered to start with the user's session, in the
//! background (drives marked "mount at start" mount, the window stays minimized). On Windows
//! that is the current user's `Run` registry key, on Linux an XDG autostart entry in
//! `~/.config/autostart/`; the auto-launch crate writes both.

use auto_launch::{AutoLaunch, AutoLaunchBuilder, WindowsEnableMode};

/// The argument the session start passes: start minimized.
pub const BACKGROUND_ARG: &str = "--background";

/// Start-at-sign-in for this program.
#[derive(Debug)]
pub struct Autostart {
    launch: AutoLaunch,
    /// As last read or set: the window asks every frame, the registry need not answer each time.
    enabled: bool,
}

impl Autostart {
    /// For the running executable; `None` when its path is unknown.
    pub fn for_this_app() -> Option<Self> {
        let exe = std::env::current_exe().ok()?;
        // Quoted: the Run value and the desktop entry's Exec are command lines, and the
        // install folder is usually `C:\Program Files\pail`.
        let path = format!("\"{}\"", exe.display());
        let launch = AutoLaunchBuilder::new()
            .set_app_name("pail")
            .set_app_path(&path)
            .set_args(&[BACKGROUND_ARG])
            // Never the machine-wide key, even when run as an administrator.
            .set_windows_enable_mode(WindowsEnableMode::CurrentUser)
            .build()
            .map_err(|e| tracing::warn!(error = %e, "start at sign-in is not available"))
            .ok()?;
        let enabled = launch.is_enabled().unwrap_or(false);
        Some(Self { launch, enabled })
    }

    /// Whether pail starts at sign-in now.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Turns it on or off; `Err` with what to tell the user.
    pub fn set(&mut self, on: bool) -> Result<(), String> {
        let done = if on {
            self.launch.enable()
        } else {
            self.launch.disable()
        };
        done.map_err(|e| format!("cannot change start at sign-in: {e}"))?;
        self.enabled = on;
        Ok(())
    }
}
