//! The window remembers where it was: its size and position are kept beside the drives file
//! (`window.json`) whenever they change, and the next start opens it there. eframe's own
//! persistence would bring a serializer and a storage backend of its own for four numbers.

use std::path::{Path, PathBuf};

use eframe::egui;

/// Where the window was: its outer position and inner size, in points.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Placement {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// The smallest window pail opens (the list's columns and the dialog fit).
pub const MIN_SIZE: [f32; 2] = [640.0, 400.0];

/// Where the placement of the window over `drives_file` is kept.
pub fn placement_file(drives_file: &Path) -> PathBuf {
    drives_file.with_file_name("window.json")
}

impl Placement {
    /// The placement kept at `path`, if any and sane: a size no smaller than [`MIN_SIZE`], and
    /// no position far off every screen (a monitor unplugged since gets the system's choice).
    pub fn load(path: &Path) -> Option<Self> {
        let p: Placement = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        let finite = [p.x, p.y, p.width, p.height].iter().all(|v| v.is_finite());
        (finite && p.width >= MIN_SIZE[0] && p.height >= MIN_SIZE[1]).then_some(p)
    }

    /// Keeps it at `path` (the folder is the drives file's, made if missing).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }

    /// The window as the viewport reports it now, if it does.
    pub fn of(ctx: &egui::Context) -> Option<Self> {
        ctx.input(|i| {
            let v = i.viewport();
            let (outer, inner) = (v.outer_rect?, v.inner_rect?);
            Some(Self {
                x: outer.min.x,
                y: outer.min.y,
                width: inner.width(),
                height: inner.height(),
            })
        })
    }

    /// A viewport opened where this was (its position only when it is on a screen that
    /// shows at least a corner of it: not negative beyond a window's width).
    pub fn apply(&self, v: egui::ViewportBuilder) -> egui::ViewportBuilder {
        let v = v.with_inner_size([self.width, self.height]);
        if self.x > -self.width / 2.0 && self.y >= 0.0 {
            v.with_position([self.x, self.y])
        } else {
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placement_survives_a_restart_and_a_broken_or_tiny_one_is_ignored() {
        let dir = tempfile::tempdir().expect("dir");
        let path = placement_file(&dir.path().join("pail/drives.toml"));
        assert_eq!(path, dir.path().join("pail/window.json"));
        assert_eq!(Placement::load(&path), None, "nothing kept yet");
        let p = Placement {
            x: 120.0,
            y: 80.0,
            width: 1000.0,
            height: 640.0,
        };
        p.save(&path).expect("save");
        assert_eq!(Placement::load(&path), Some(p));
        std::fs::write(&path, "{not json").expect("write");
        assert_eq!(Placement::load(&path), None, "a broken file is ignored, not fatal");
        Placement { width: 10.0, ..p }.save(&path).expect("save");
        assert_eq!(
            Placement::load(&path),
            None,
            "a window too small to use is not restored"
        );
    }
}
