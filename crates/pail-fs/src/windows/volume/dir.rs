//! Folder listings as WinFsp asks for them: ReadDirectory with a marker, GetDirInfoByName,
//! and the change notifications listings found.

use super::WinVolume;
use crate::error::{FsError, FsErrorKind, FsResult};
use crate::windows::WinInfo;
use crate::windows::notify::WinNotify;
use crate::windows::open::WinFile;

/// One directory entry for ReadDirectory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinDirEntry {
    /// The name as shown.
    pub name: String,
    /// Its file information.
    pub info: WinInfo,
}

impl WinVolume {
    /// ReadDirectory: the entries after `marker` (the last name WinFsp was given), with `.` and
    /// `..` first outside the root. Entries come in byte order of their names, the order the
    /// marker is searched in, so a listing resumes exactly after the marker even if entries
    /// were added or removed in between.
    pub async fn read_directory(&self, dir: &WinFile, marker: Option<&str>) -> FsResult<Vec<WinDirEntry>> {
        let path = dir.path();
        if !dir.is_dir() {
            return Err(FsError::new(FsErrorKind::NotADirectory, "list", path.as_str()));
        }
        let listing = self.vfs.read_dir(&path).await?;
        let own = self.file_info(dir)?;
        let dots: &[&str] = match (path.is_root(), marker) {
            (true, _) => &[],
            (false, None) => &[".", ".."],
            (false, Some(".")) => &[".."],
            (false, Some(_)) => &[],
        };
        let after = match marker {
            Some("." | "..") | None => None,
            Some(m) => Some(m),
        };
        let mut out: Vec<WinDirEntry> = dots
            .iter()
            .map(|d| WinDirEntry {
                name: (*d).to_owned(),
                info: own.clone(),
            })
            .collect();
        out.extend(listing.after(after).iter().map(|e| WinDirEntry {
            name: e.name.clone(),
            info: self.info(&path.join(&e.name), &e.attr),
        }));
        Ok(out)
    }

    /// What others changed, found by listings since the last call, as WinFsp notifications
    /// (the adapter's notify timer sends them).
    pub fn notifications(&self) -> Vec<WinNotify> {
        self.vfs.take_changes().iter().map(WinNotify::of).collect()
    }

    /// GetDirInfoByName: the entry `name` of folder `dir`, matched ignoring case, with its name
    /// as stored (WinFsp asks this instead of listing when a program looks one name up).
    pub async fn dir_entry(&self, dir: &WinFile, name: &str) -> FsResult<WinDirEntry> {
        let path = dir.path().join(name);
        let (stored, attr) = self.resolve(&path).await?;
        let shown = stored.split_last().map(|(_, n)| n.to_owned()).unwrap_or_default();
        Ok(WinDirEntry {
            name: shown,
            info: self.info(&stored, &attr),
        })
    }
}
