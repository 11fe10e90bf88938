//! The activity panel under the drive list: per started drive, what is still to upload (a
//! progress bar for the whole and one for each large file, with its bytes sent), uploads
//! waiting for a sign-in, the last error and how long ago it came, and the conflict copies
//! made, each with "Show in folder". The tray says the same in one line
//! ([`App::uploading_summary`]). Everything comes from the mounts' `status` events
//! ([`Activity`]).

use std::time::SystemTime;

use eframe::egui;
use pail_drives::format_size as human;

use crate::App;
use crate::list::labelled_button;
use crate::mounts::{Activity, ago};

/// `n file` or `n files`.
pub fn files(n: u64) -> String {
    if n == 1 { "1 file".into() } else { format!("{n} files") }
}

/// The folder holding `path` (a path on the drive, `/`-separated) under the mount point
/// `dir` (a folder, or a drive letter such as `P:`), in the platform's separators.
fn folder_of(dir: &str, path: &str) -> String {
    let sep = std::path::MAIN_SEPARATOR;
    let root = dir.trim_end_matches(['/', '\\']);
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    if parent.is_empty() {
        return format!("{root}{sep}");
    }
    format!("{root}{sep}{}", parent.replace('/', &sep.to_string()))
}

impl App {
    /// What every started drive is doing.
    fn activities(&self) -> Vec<(String, Activity, Option<String>)> {
        self.drives
            .drives
            .iter()
            .filter_map(|d| {
                let m = self.mounts.get(&d.name)?;
                m.state().is_running().then(|| (d.name.clone(), m.activity(), m.dir()))
            })
            .collect()
    }

    /// "Uploading 3 files (45 %)" while any drive has uploads pending, for the tray.
    pub fn uploading_summary(&self) -> Option<String> {
        let all = self.activities();
        let count: u64 = all.iter().map(|(_, a, _)| a.pending_files).sum();
        if count == 0 {
            return None;
        }
        let sent = all.iter().map(|(_, a, _)| a.sent_bytes).sum();
        let pending = all.iter().map(|(_, a, _)| a.pending_bytes).sum();
        Some(format!(
            "Uploading {} ({} %)",
            files(count),
            pail_drives::percent(sent, pending)
        ))
    }

    /// The activity panel.
    pub(crate) fn activity_panel(&mut self, ui: &mut egui::Ui) {
        let all = self.activities();
        if all.is_empty() {
            return;
        }
        ui.separator();
        ui.heading("Activity");
        let now = SystemTime::now();
        let mut show = None;
        for (name, a, dir) in &all {
            ui.add_space(4.0);
            ui.strong(name);
            if a.pending_files == 0 && a.conflicts.is_empty() && a.last_error.is_none() {
                ui.label("All changes are on S3.");
                continue;
            }
            if a.pending_files > 0 {
                let what = if a.waiting_for_sign_in {
                    let verb = if a.pending_files == 1 { "waits" } else { "wait" };
                    format!("{} {verb} for you to sign in again", files(a.pending_files))
                } else {
                    format!(
                        "Uploading {}: {} of {}",
                        files(a.pending_files),
                        human(a.sent_bytes),
                        human(a.pending_bytes)
                    )
                };
                let bar = egui::ProgressBar::new(a.percent() as f32 / 100.0).text(format!("{} %", a.percent()));
                let l = ui.label(&what);
                ui.add(bar).labelled_by(l.id);
            }
            for f in &a.large {
                let state = if f.uploading { "uploading" } else { "waiting" };
                let l = ui.label(format!("{}: {} of {} ({state})", f.path, human(f.sent), human(f.size)));
                let share = if f.size == 0 {
                    1.0
                } else {
                    f.sent as f32 / f.size as f32
                };
                ui.add(egui::ProgressBar::new(share).show_percentage())
                    .labelled_by(l.id);
            }
            if let Some((e, at)) = &a.last_error {
                ui.colored_label(
                    egui::Color32::from_rgb(0xdc, 0x35, 0x45),
                    format!("Last error ({}): {e}", ago(*at, now)),
                );
            }
            for c in &a.conflicts {
                ui.horizontal(|ui| {
                    ui.label(format!("Conflict: your version was kept as {c}"));
                    if labelled_button(ui, "Show in folder", &format!("Show {c} in folder"))
                        && let Some(dir) = dir
                    {
                        show = Some(folder_of(dir, c));
                    }
                });
            }
        }
        if let Some(folder) = show {
            (self.open_folder)(&folder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_conflict_copies_are_where_they_lie() {
        assert_eq!(folder_of("/home/a/P", "r (conflict).docx"), "/home/a/P/");
        assert_eq!(
            folder_of("/home/a/P/", "docs/q3/r (conflict).docx"),
            "/home/a/P/docs/q3"
        );
        assert_eq!(folder_of("P:", "docs/r.docx"), "P:/docs");
    }
}
