//! Metadata: what a path is ([`Attr`]), directory listings ([`Listing`]), and the caches that
//! keep both for the metadata TTL.
//!
//! Invariants: a cached listing is the whole directory (every page merged), sorted by displayed
//! name, with each name once — a directory wins over a file of the same name, since both
//! `a` and `a/x` can exist as keys. Lookups answered by a fresh listing never call HeadObject.
//! Negative entries (the path does not exist) are cached for the same TTL.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use pail_store::{ListPage, ObjectStore};

use crate::changes::Changes;
use crate::error::{FsError, FsResult};
use crate::names::{NameEncoding, is_showable};
use crate::path::VfsPath;
use crate::times::Times;

pub use crate::attr::{Attr, FileKind};
pub use crate::listing::{DirEntry, Listing};
use crate::watch::Watch;

/// The metadata caches of one drive.
#[derive(Debug)]
pub(crate) struct MetaCache {
    /// Whether anything is cached at all (a TTL of zero turns caching off).
    enabled: bool,
    /// The time shown for directories: when the drive was mounted.
    dir_mtime: SystemTime,
    entries: moka::sync::Cache<VfsPath, Option<Attr>>,
    listings: moka::future::Cache<VfsPath, Arc<Listing>>,
    /// First-page listings loaded by lookups (see [`MetaCache::small_listing`]).
    small_listings: moka::future::Cache<VfsPath, Arc<Listing>>,
    /// Folders known to need more than one listing page.
    large_dirs: moka::sync::Cache<VfsPath, ()>,
    skipped_logged: Mutex<HashSet<String>>,
    /// Bumped when a folder's cached listings are dropped; a listing loaded across a bump may
    /// predate the change and is loaded again.
    epoch: AtomicU64,
    /// The drive's own changes to folders, shown in every listing loaded across them.
    changes: Changes,
    /// The last listing loaded per folder, to find what others changed.
    watch: Watch,
    /// The times S3 does not keep.
    times: Times,
}

impl MetaCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        let enabled = !ttl.is_zero();
        let ttl = ttl.max(Duration::from_millis(1));
        Self {
            enabled,
            dir_mtime: SystemTime::now(),
            entries: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(ttl)
                .build(),
            listings: moka::future::Cache::builder()
                .weigher(|_k, v: &Arc<Listing>| v.entries.len().min(u32::MAX as usize) as u32 + 1)
                .max_capacity(1_000_000)
                .time_to_live(ttl)
                .build(),
            small_listings: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            large_dirs: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            skipped_logged: Mutex::default(),
            epoch: AtomicU64::new(0),
            changes: Changes::new(ttl),
            watch: Watch::new(),
            times: Times::new(),
        }
    }

    pub(crate) fn watch(&self) -> &Watch {
        &self.watch
    }

    pub(crate) fn dir_attr(&self) -> Attr {
        Attr::directory(self.dir_mtime)
    }

    pub(crate) fn times(&self) -> &Times {
        &self.times
    }

    /// `attr` with what this mount knows beyond S3: kept times (see [`Times`]), and a
    /// folder's link count when its listing is cached.
    pub(crate) fn with_kept(&self, path: &VfsPath, attr: Attr) -> Attr {
        let mut attr = self.times.apply(path, attr);
        if attr.is_dir() && attr.links.is_none() {
            attr.links = self.cached_listing_now(path).map(|l| {
                let subdirs = l.entries.iter().filter(|e| e.attr.is_dir()).count();
                2 + u32::try_from(subdirs).unwrap_or(u32::MAX - 2)
            });
        }
        attr
    }

    /// `listing` of `dir` with its entries' times as this mount knows them.
    pub(crate) fn with_kept_times(&self, dir: &VfsPath, listing: Arc<Listing>) -> Arc<Listing> {
        if self.times.is_empty() || !listing.entries.iter().any(|e| self.times.contains(&dir.join(&e.name))) {
            return listing;
        }
        let map = listing
            .entries
            .iter()
            .map(|e| (e.name.clone(), self.times.apply(&dir.join(&e.name), e.attr.clone())))
            .collect();
        Arc::new(Listing {
            since: listing.since,
            ..Listing::from_map(map)
        })
    }

    /// Folder `dir` was just made by this drive: it is known to be empty, so lookups inside it
    /// need no request until the metadata TTL ends.
    pub(crate) async fn made_dir(&self, dir: &VfsPath) {
        self.times.created(dir, true);
        if self.enabled {
            let empty = Listing {
                since: self.changes.now(),
                ..Listing::default()
            };
            self.listings.insert(dir.clone(), Arc::new(empty)).await;
        }
    }

    pub(crate) fn entry(&self, path: &VfsPath) -> Option<Option<Attr>> {
        self.entries.get(path)
    }

    pub(crate) fn put_entry(&self, path: VfsPath, attr: Option<Attr>) {
        if self.enabled {
            self.entries.insert(path, attr);
        }
    }

    pub(crate) async fn cached_listing(&self, dir: &VfsPath) -> Option<Arc<Listing>> {
        let l = self.listings.get(dir).await?;
        Some(self.changes.overlay(dir, l))
    }

    /// The cached listing of `dir` if the cache can answer without waiting (for the adapters'
    /// session thread).
    pub(crate) fn cached_listing_now(&self, dir: &VfsPath) -> Option<Arc<Listing>> {
        let l = self.listings.get(dir).now_or_never().flatten()?;
        Some(self.changes.overlay(dir, l))
    }

    /// The cached one-page listing of `dir` (see [`small_listing`](Self::small_listing)) if
    /// the cache can answer without waiting.
    pub(crate) fn cached_small_listing_now(&self, dir: &VfsPath) -> Option<Arc<Listing>> {
        if !self.enabled || self.large_dirs.contains_key(dir) {
            return None;
        }
        let l = self.small_listings.get(dir).now_or_never().flatten()?;
        Some(self.changes.overlay(dir, l))
    }

    /// The listing of `dir`, from the cache or from S3 (one load at a time per directory).
    pub(crate) async fn listing(
        &self,
        store: &dyn ObjectStore,
        dir: &VfsPath,
        prefix: &str,
        names: NameEncoding,
    ) -> FsResult<Arc<Listing>> {
        let dir_prefix = dir.to_dir_prefix(prefix, names);
        if !self.enabled {
            let listing = Arc::new(self.load_listing(store, dir, &dir_prefix, names).await?);
            self.watch.loaded(dir, &listing);
            return Ok(self.changes.overlay(dir, listing));
        }
        let mut attempt = 0;
        let loaded = loop {
            let epoch = self.epoch.load(Ordering::Acquire);
            let loaded = self
                .listings
                .try_get_with(dir.clone(), async {
                    let listing = Arc::new(self.load_listing(store, dir, &dir_prefix, names).await?);
                    self.watch.loaded(dir, &listing);
                    Ok::<_, FsError>(listing)
                })
                .await
                .map_err(|e| (*e).clone())?;
            attempt += 1;
            if self.epoch.load(Ordering::Acquire) == epoch || attempt == 3 {
                break self.changes.overlay(dir, loaded);
            }
            // The folder's listings were dropped while this was loading: it may predate that.
            self.listings.invalidate(dir).await;
        };
        for e in &loaded.entries {
            // Fill gaps only: an entry our own write put there is newer than any listing.
            self.entries
                .entry(dir.join(&e.name))
                .or_insert_with(|| Some(e.attr.clone()));
        }
        Ok(loaded)
    }

    async fn load_listing(
        &self,
        store: &dyn ObjectStore,
        dir: &VfsPath,
        dir_prefix: &str,
        names: NameEncoding,
    ) -> FsResult<Listing> {
        let since = self.changes.now();
        let mut map: BTreeMap<String, Attr> = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = store
                .list_page(dir_prefix, Some("/"), token.as_deref(), None)
                .await
                .map_err(|e| FsError::from_store("list", dir.as_str(), e))?;
            self.add_page(&mut map, &page, dir_prefix, names);
            token = page.next;
            if token.is_none() {
                break;
            }
        }
        Ok(Listing {
            since,
            ..Listing::from_map(map)
        })
    }

    /// Merges one page into `map`: sub-folders first, so a folder wins over a same-named file.
    fn add_page(&self, map: &mut BTreeMap<String, Attr>, page: &ListPage, dir_prefix: &str, names: NameEncoding) {
        for p in &page.prefixes {
            let seg = p[dir_prefix.len()..].trim_end_matches('/');
            if self.showable(p, seg, names) {
                map.insert(names.decode(seg), self.dir_attr());
            }
        }
        for o in &page.objects {
            let seg = &o.key[dir_prefix.len()..];
            if seg.is_empty() {
                continue; // the directory's own `dir/` marker
            }
            if self.showable(&o.key, seg, names) {
                map.entry(names.decode(seg)).or_insert_with(|| Attr::file(o));
            }
        }
    }

    /// What exists in `dir`, when it fits in one listing page: loaded once (shared by
    /// concurrent lookups) so lookups in a cold folder need no `LIST name/` each. Only names
    /// and kinds are used from it; a file's attributes still come from S3. `None` for a larger
    /// folder (remembered for the TTL) or when listing failed.
    pub(crate) async fn small_listing(
        &self,
        store: &dyn ObjectStore,
        dir: &VfsPath,
        prefix: &str,
        names: NameEncoding,
    ) -> Option<Arc<Listing>> {
        if !self.enabled || self.large_dirs.contains_key(dir) {
            return None;
        }
        let dir_prefix = dir.to_dir_prefix(prefix, names);
        let epoch = self.epoch.load(Ordering::Acquire);
        let loaded = self
            .small_listings
            .try_get_with(dir.clone(), async {
                let since = self.changes.now();
                let page = store
                    .list_page(&dir_prefix, Some("/"), None, None)
                    .await
                    .map_err(Some)?;
                if page.next.is_some() {
                    return Err(None::<pail_store::StoreError>);
                }
                let mut map = BTreeMap::new();
                self.add_page(&mut map, &page, &dir_prefix, names);
                Ok(Arc::new(Listing {
                    since,
                    ..Listing::from_map(map)
                }))
            })
            .await;
        if self.epoch.load(Ordering::Acquire) != epoch {
            // Loaded across one of our own changes: do not trust it.
            self.small_listings.invalidate(dir).await;
            return None;
        }
        match loaded {
            Ok(listing) => Some(self.changes.overlay(dir, listing)),
            Err(e) => {
                if e.is_none() {
                    self.large_dirs.insert(dir.clone(), ());
                }
                None
            }
        }
    }

    fn showable(&self, key: &str, segment: &str, names: NameEncoding) -> bool {
        if is_showable(segment, names) {
            return true;
        }
        let mut logged = self.skipped_logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.len() < 10_000 && logged.insert(key.to_owned()) {
            tracing::warn!(
                key,
                "skipping a key that cannot be shown as a file name (empty, '.', '..' or longer than 255 bytes on Linux, 255 UTF-16 units on Windows)"
            );
        }
        false
    }

    /// Records in the cached listings of `path`'s parent that `path` now is `attr` (or is gone),
    /// without listing again: our own change, known exactly.
    pub(crate) async fn update_listing_of(&self, path: &VfsPath, attr: Option<Attr>) {
        let Some((parent, name)) = path.split_last() else {
            return;
        };
        // Listings loading now, or cached from a load that began before this, get it by overlay.
        self.changes.record(&parent, name, attr.clone());
        let update = |l: &Listing| {
            let mut map: BTreeMap<String, Attr> = l.entries.iter().map(|e| (e.name.clone(), e.attr.clone())).collect();
            match &attr {
                Some(a) => map.insert(name.to_owned(), a.clone()),
                None => map.remove(name),
            };
            Arc::new(Listing {
                since: l.since,
                ..Listing::from_map(map)
            })
        };
        if let Some(l) = self.listings.get(&parent).await {
            self.listings.insert(parent.clone(), update(&l)).await;
        }
        if let Some(l) = self.small_listings.get(&parent).await {
            self.small_listings.insert(parent.clone(), update(&l)).await;
        }
    }

    /// Forgets the listings of `path`'s parent (an entry appeared, vanished or changed).
    pub(crate) async fn invalidate_listing_of(&self, path: &VfsPath) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some((parent, _)) = path.split_last() {
            self.listings.invalidate(&parent).await;
            self.small_listings.invalidate(&parent).await;
        }
    }

    /// Forgets every cached entry and listing (after a folder moved).
    pub(crate) fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
        self.listings.invalidate_all();
        self.small_listings.invalidate_all();
        self.large_dirs.invalidate_all();
    }

    /// Forgets what is known about `path` and its parent's listings.
    pub(crate) async fn invalidate(&self, path: &VfsPath) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(path);
        if let Some((parent, _)) = path.split_last() {
            self.listings.invalidate(&parent).await;
            self.small_listings.invalidate(&parent).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(names: &[&str]) -> Listing {
        Listing {
            entries: names
                .iter()
                .map(|n| DirEntry {
                    name: (*n).into(),
                    attr: Attr::directory(SystemTime::UNIX_EPOCH),
                })
                .collect(),
            since: 0,
        }
    }

    #[test]
    fn marker_continues_after_the_named_entry() {
        let l = listing(&["a", "b", "c"]);
        assert_eq!(l.after(Some("a")).len(), 2);
        assert_eq!(l.after(Some("bb")).len(), 1);
        assert_eq!(l.after(None).len(), 3);
        assert!(l.get("b").is_some());
        assert!(l.get("d").is_none());
    }
}
