//! Times S3 does not keep, kept by this mount for its life: a folder's modification time (a
//! prefix has none), and every path's access time (set with `utimensat`) and change time (the
//! last change of its metadata or of its name through this drive).
//!
//! A file's modification time is not here: it is written to S3 with the file. What is here is
//! lost when the drive is unmounted, as on any file system mounted `noatime` after a restart.

use std::time::SystemTime;

use crate::attr::Attr;
use crate::path::VfsPath;

/// What this mount knows of one path's times.
#[derive(Debug, Clone, Copy, Default)]
struct Kept {
    /// A folder's modification time (ignored for files).
    modified: Option<SystemTime>,
    accessed: Option<SystemTime>,
    changed: Option<SystemTime>,
}

/// The times this mount keeps, per path.
pub(crate) struct Times {
    kept: moka::sync::Cache<VfsPath, Kept>,
}

impl std::fmt::Debug for Times {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Times")
            .field("paths", &self.kept.entry_count())
            .finish()
    }
}

impl Times {
    pub(crate) fn new() -> Self {
        Self {
            kept: moka::sync::Cache::builder().max_capacity(100_000).build(),
        }
    }

    fn update(&self, path: &VfsPath, change: impl FnOnce(&mut Kept)) {
        self.kept.entry(path.clone()).and_upsert_with(|old| {
            let mut k = old.map(|e| e.into_value()).unwrap_or_default();
            change(&mut k);
            k
        });
    }

    /// Folder `dir` gained, lost or renamed an entry now: its modification and change times
    /// move on.
    pub(crate) fn touch_dir(&self, dir: &VfsPath) {
        let now = SystemTime::now();
        self.update(dir, |k| {
            k.modified = Some(now);
            k.changed = Some(now);
        });
    }

    /// `path` was created now: what an earlier file or folder of that name had is forgotten.
    pub(crate) fn created(&self, path: &VfsPath, is_dir: bool) {
        self.kept.invalidate(path);
        if is_dir {
            self.touch_dir(path);
        }
    }

    /// `path`'s metadata changed now (`chmod`, `utimensat`, a rename): its change time, and
    /// its access time and a folder's modification time when given.
    pub(crate) fn changed(&self, path: &VfsPath, accessed: Option<SystemTime>, dir_modified: Option<SystemTime>) {
        let now = SystemTime::now();
        self.update(path, |k| {
            k.changed = Some(now);
            k.accessed = accessed.or(k.accessed);
            k.modified = dir_modified.or(k.modified);
        });
    }

    /// `from` is now called `to`; its times go with it, and its change time moves on.
    pub(crate) fn moved(&self, from: &VfsPath, to: &VfsPath) {
        let old = self.kept.remove(from).unwrap_or_default();
        self.kept.insert(
            to.clone(),
            Kept {
                changed: Some(SystemTime::now()),
                ..old
            },
        );
    }

    /// `path` is gone.
    pub(crate) fn removed(&self, path: &VfsPath) {
        self.kept.invalidate(path);
    }

    /// Whether any time is kept at all (listings skip the work otherwise).
    pub(crate) fn is_empty(&self) -> bool {
        self.kept.entry_count() == 0 && self.kept.iter().next().is_none()
    }

    pub(crate) fn contains(&self, path: &VfsPath) -> bool {
        self.kept.contains_key(path)
    }

    /// `attr` with the times this mount keeps for `path`.
    pub(crate) fn apply(&self, path: &VfsPath, mut attr: Attr) -> Attr {
        let Some(k) = self.kept.get(path) else { return attr };
        if attr.is_dir()
            && let Some(m) = k.modified
        {
            attr.mtime = m;
        }
        attr.accessed = k.accessed.or(attr.accessed);
        attr.changed = k.changed.or(attr.changed);
        attr
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn p(s: &str) -> VfsPath {
        VfsPath::new(s)
    }

    #[test]
    fn access_time_is_kept_and_change_time_follows_the_name() {
        let times = Times::new();
        let t = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let file = Attr::directory(UNIX_EPOCH);
        times.changed(&p("a"), Some(t), None);
        let a = times.apply(&p("a"), file.clone());
        assert_eq!(a.atime(), t);
        assert!(a.ctime() > UNIX_EPOCH);
        times.moved(&p("a"), &p("b"));
        assert_eq!(times.apply(&p("a"), file.clone()).atime(), UNIX_EPOCH);
        assert_eq!(times.apply(&p("b"), file.clone()).atime(), t);
        times.removed(&p("b"));
        times.created(&p("b"), false);
        assert_eq!(times.apply(&p("b"), file).atime(), UNIX_EPOCH);
    }

    #[test]
    fn a_folder_keeps_the_time_it_was_set_to() {
        let times = Times::new();
        let t = UNIX_EPOCH + Duration::from_secs(200_000_000);
        times.created(&p("d"), true);
        assert!(times.apply(&p("d"), Attr::directory(UNIX_EPOCH)).mtime > UNIX_EPOCH);
        times.changed(&p("d"), None, Some(t));
        assert_eq!(times.apply(&p("d"), Attr::directory(UNIX_EPOCH)).mtime, t);
    }
}
