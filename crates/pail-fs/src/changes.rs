//! Our own changes to folders, kept for a while so that every listing shows them, whenever it
//! was loaded.
//!
//! A listing takes time to load (one LIST per 1,000 keys), and the drive goes on changing the
//! folder meanwhile: uploads land, files are deleted. A listing whose load began before such a
//! change may or may not reflect it, and a caller that joins a load already under way cannot
//! tell. So each change gets a sequence number, every listing records the number current when
//! its load began ([`Listing::since`]), and [`Changes::overlay`] applies to a listing every
//! change numbered after that. A change numbered before it was confirmed by S3 before the load
//! began, so S3's answer reflects it, and another client's later change is not hidden.
//!
//! Without this, a folder emptied while its files were still uploading kept some of them in
//! the listing a deleting program read, so they were never deleted (issue 17).
//!
//! Changes are kept for the metadata TTL plus a margin for slow loads; a listing is cached for
//! at most the TTL after its load ended.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::attr::Attr;
use crate::listing::{DirEntry, Listing};
use crate::path::VfsPath;

/// How much longer than the TTL a change is kept: a listing load may take this long.
const SLOW_LOAD: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
struct Change {
    seq: u64,
    at: Instant,
    /// What the entry now is; `None`: gone.
    attr: Option<Attr>,
}

/// One folder's changes by name, the newest number among them, and when old ones were last
/// dropped (at most every `keep / 4`, so a burst of changes does not rescan them each time).
#[derive(Debug)]
struct DirLog {
    by_name: BTreeMap<String, Change>,
    newest: u64,
    pruned: Instant,
}

impl Default for DirLog {
    fn default() -> Self {
        Self {
            by_name: BTreeMap::new(),
            newest: 0,
            pruned: Instant::now(),
        }
    }
}

type DirChanges = Arc<Mutex<DirLog>>;

/// The drive's own recent changes, by folder.
#[derive(Debug)]
pub(crate) struct Changes {
    seq: AtomicU64,
    by_dir: moka::sync::Cache<VfsPath, DirChanges>,
    keep: Duration,
}

impl Changes {
    pub(crate) fn new(ttl: Duration) -> Self {
        let keep = ttl + SLOW_LOAD;
        Self {
            seq: AtomicU64::new(0),
            by_dir: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(keep)
                .build(),
            keep,
        }
    }

    /// The number of the last change: a listing whose load begins now reflects every change up
    /// to it.
    pub(crate) fn now(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Records that `name` in `dir` now is `attr` (or is gone), as S3 confirmed.
    pub(crate) fn record(&self, dir: &VfsPath, name: &str, attr: Option<Attr>) {
        let seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
        let at = Instant::now();
        let changes = self.by_dir.get_with(dir.clone(), DirChanges::default);
        let mut changes = changes.lock().unwrap_or_else(|e| e.into_inner());
        if at.duration_since(changes.pruned) > self.keep / 4 {
            changes.by_name.retain(|_, c| at.duration_since(c.at) < self.keep);
            changes.pruned = at;
        }
        changes.newest = changes.newest.max(seq);
        changes.by_name.insert(name.to_owned(), Change { seq, at, attr });
    }

    /// `listing` of `dir` with every change made after its load began.
    pub(crate) fn overlay(&self, dir: &VfsPath, listing: Arc<Listing>) -> Arc<Listing> {
        let Some(changes) = self.by_dir.get(dir) else {
            return listing;
        };
        let changes = changes.lock().unwrap_or_else(|e| e.into_inner());
        if changes.newest <= listing.since {
            return listing;
        }
        let newer: Vec<(&String, &Option<Attr>)> = changes
            .by_name
            .iter()
            .filter(|(_, c)| c.seq > listing.since)
            .map(|(name, c)| (name, &c.attr))
            .collect();
        let already = newer.iter().all(|(name, attr)| match (listing.get(name), attr) {
            (Some(e), Some(a)) => e.attr == *a,
            (None, None) => true,
            _ => false,
        });
        if already {
            return listing;
        }
        let mut map: BTreeMap<String, Attr> = listing
            .entries
            .iter()
            .map(|e| (e.name.clone(), e.attr.clone()))
            .collect();
        for (name, attr) in newer {
            match attr {
                Some(a) => map.insert(name.clone(), a.clone()),
                None => map.remove(name),
            };
        }
        Arc::new(Listing {
            entries: map.into_iter().map(|(name, attr)| DirEntry { name, attr }).collect(),
            since: listing.since,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn file(size: u64) -> Attr {
        Attr::sized_file(size, SystemTime::UNIX_EPOCH)
    }

    fn names(l: &Listing) -> Vec<&str> {
        l.entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn changes_after_a_load_began_are_shown_and_earlier_ones_left_to_s3() {
        let changes = Changes::new(Duration::from_secs(5));
        let dir = VfsPath::new("d");
        changes.record(&dir, "old", None);
        // A load begins: S3 already reflects the change above.
        let mut map = BTreeMap::new();
        map.insert("a".to_owned(), file(1));
        map.insert("b".to_owned(), file(1));
        // Another client recreated `old` since: the listing shows it, and it stays shown.
        map.insert("old".to_owned(), file(9));
        let since = changes.now();
        let loaded = Arc::new(Listing {
            since,
            ..Listing::from_map(map)
        });
        changes.record(&dir, "a", None);
        changes.record(&dir, "c", Some(file(3)));
        let shown = changes.overlay(&dir, loaded.clone());
        assert_eq!(names(&shown), ["b", "c", "old"]);
        assert_eq!(shown.since, since);
        // Applying again changes nothing; another folder is untouched.
        assert!(Arc::ptr_eq(&changes.overlay(&dir, shown.clone()), &shown));
        assert!(Arc::ptr_eq(
            &changes.overlay(&VfsPath::new("e"), loaded.clone()),
            &loaded
        ));
    }
}
