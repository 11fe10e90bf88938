//! What a path is: lookups (from the caches, a folder listing, or S3) and folder listings with
//! the files being written merged in.

use std::sync::Arc;

use pail_store::StoreErrorKind;

use crate::error::{FsError, FsErrorKind, FsResult};
use crate::meta::{Attr, Listing};
use crate::moving::Touch;
use crate::names::NameEncoding;
use crate::path::VfsPath;
use crate::peek::head_and_peek;
use crate::vfs::{Vfs, staged_attr};

impl Vfs {
    /// [`lookup`](Self::lookup) without waiting, when the answer is cached; `None` otherwise.
    pub fn lookup_cached(&self, path: &VfsPath) -> Option<FsResult<Attr>> {
        self.lookup_cached_as_listed(path)
            .map(|r| r.map(|a| self.meta.with_kept(path, a)))
    }

    fn lookup_cached_as_listed(&self, path: &VfsPath) -> Option<FsResult<Attr>> {
        if path.is_root() {
            return Some(Ok(self.meta.dir_attr()));
        }
        if let Some((_, touch)) = self.wb.as_ref().and_then(|wb| wb.moving(path)) {
            // A folder being moved: its new name is a folder; inside, wait for the move.
            return (touch == Touch::NewName).then(|| Ok(self.meta.dir_attr()));
        }
        if path.split_last().is_some_and(|(_, name)| !self.cfg.names.fits(name)) {
            // No such name can exist: answered as every other call on it is.
            return Some(Err(FsError::new(FsErrorKind::NameTooLong, "lookup", path.as_str())));
        }
        if let Some(d) = self.wb.as_ref().and_then(|wb| wb.get(path)) {
            return Some(Ok(staged_attr(&d)));
        }
        let not_found = || FsError::new(FsErrorKind::NotFound, "lookup", path.as_str());
        if let Some(entry) = self.meta.entry(path) {
            return Some(entry.ok_or_else(not_found));
        }
        // A cached listing of the folder answers as `lookup` would from it: a file about to be
        // created is looked up first, and saying "absent" here spares it a hop to the runtime.
        let (parent, name) = path.split_last()?;
        if let Some(listing) = self.meta.cached_listing_now(&parent) {
            let found = listing.get(name).map(|e| e.attr.clone());
            self.meta.put_entry(path.clone(), found.clone());
            return Some(found.ok_or_else(not_found));
        }
        let small = self.meta.cached_small_listing_now(&parent)?;
        match small.get(name) {
            None => {
                self.meta.put_entry(path.clone(), None);
                Some(Err(not_found()))
            }
            Some(e) if e.attr.is_dir() => {
                let attr = self.meta.dir_attr();
                self.meta.put_entry(path.clone(), Some(attr.clone()));
                Some(Ok(attr))
            }
            // A file's attributes come from S3 (see `lookup`).
            Some(_) => None,
        }
    }

    /// What `path` is.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn lookup(&self, path: &VfsPath) -> FsResult<Attr> {
        self.lookup_as_listed(path).await.map(|a| self.meta.with_kept(path, a))
    }

    async fn lookup_as_listed(&self, path: &VfsPath) -> FsResult<Attr> {
        if let Some(answer) = self.lookup_cached_as_listed(path) {
            return answer;
        }
        self.after_moves(path).await;
        let (parent, name) = path.split_last().expect("the root is answered by lookup_cached");
        if let Some(listing) = self.meta.cached_listing(&parent).await {
            let found = listing.get(name).map(|e| e.attr.clone());
            self.meta.put_entry(path.clone(), found.clone());
            return found.ok_or_else(|| FsError::new(FsErrorKind::NotFound, "lookup", path.as_str()));
        }
        let key = match self.key_of(path) {
            Ok(k) => k,
            Err(e) if e.kind() == FsErrorKind::InvalidName => {
                return Err(FsError::new(FsErrorKind::NotFound, "lookup", path.as_str()));
            }
            Err(e) => return Err(e),
        };
        if let Some(small) = self
            .meta
            .small_listing(self.store.as_ref(), &parent, &self.cfg.prefix, self.cfg.names)
            .await
        {
            let found = match small.get(name) {
                None => None,
                Some(e) if e.attr.is_dir() => Some(self.meta.dir_attr()),
                Some(_) => match self.head_and_peek(&key).await {
                    Ok(meta) => {
                        self.siblings.after(&parent, &small, name);
                        Some(Attr::file(&meta))
                    }
                    Err(e) if e.kind() == StoreErrorKind::NotFound => None,
                    Err(e) => return Err(FsError::from_store("lookup", path.as_str(), e)),
                },
            };
            self.meta.put_entry(path.clone(), found.clone());
            return found.ok_or_else(|| FsError::new(FsErrorKind::NotFound, "lookup", path.as_str()));
        }
        let dir_prefix = format!("{key}/");
        let (head, list) = tokio::join!(
            self.head_and_peek(&key),
            self.store.list_page(&dir_prefix, Some("/"), None, Some(1))
        );
        let found = match (head, list) {
            (_, Ok(page)) if !page.objects.is_empty() || !page.prefixes.is_empty() => Some(self.meta.dir_attr()),
            (Ok(meta), _) => Some(Attr::file(&meta)),
            (Err(h), Ok(_)) if h.kind() == StoreErrorKind::NotFound => None,
            (Err(h), Ok(_)) => return Err(FsError::from_store("lookup", path.as_str(), h)),
            (_, Err(l)) => return Err(FsError::from_store("lookup", path.as_str(), l)),
        };
        self.meta.put_entry(path.clone(), found.clone());
        found.ok_or_else(|| FsError::new(FsErrorKind::NotFound, "lookup", path.as_str()))
    }

    async fn head_and_peek(&self, key: &str) -> Result<pail_store::ObjectMeta, pail_store::StoreError> {
        head_and_peek(self.store.as_ref(), &self.blocks, key, self.cfg.lookup_read_bytes).await
    }

    /// Resolves a path the way the drive's platform names files. With
    /// [`NameEncoding::Windows`] names match case-insensitively and case-preservingly: each name
    /// is first matched exactly; failing that, among the folder's entries equal to it ignoring
    /// case (unit by unit, as WinFsp compares), the first in byte order wins (so with both
    /// `README.txt` and `readme.txt`, `Readme.TXT` opens `README.txt`, every time). Returns the path as stored, and what it is. On Linux this
    /// is [`lookup`](Self::lookup).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn resolve(&self, path: &VfsPath) -> FsResult<(VfsPath, Attr)> {
        if self.cfg.names != NameEncoding::Windows {
            return self.lookup(path).await.map(|a| (path.clone(), a));
        }
        let mut resolved = VfsPath::root();
        let mut attr = self.meta.dir_attr();
        for name in path.names() {
            let exact = resolved.join(name);
            match self.lookup(&exact).await {
                Ok(a) => {
                    (resolved, attr) = (exact, a);
                    continue;
                }
                Err(e) if e.kind() != FsErrorKind::NotFound => return Err(e),
                Err(_) => {}
            }
            let listing = self.read_dir(&resolved).await?;
            let Some(entry) = listing
                .entries
                .iter()
                .find(|e| crate::windows::same_ignoring_case(&e.name, name))
            else {
                return Err(FsError::new(FsErrorKind::NotFound, "lookup", path.as_str()));
            };
            (resolved, attr) = (resolved.join(&entry.name), entry.attr.clone());
        }
        Ok((resolved, attr))
    }

    /// Every entry of directory `path`, sorted by name, files being written included.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn read_dir(&self, path: &VfsPath) -> FsResult<Arc<Listing>> {
        self.after_moves(path).await;
        if !self.lookup(path).await?.is_dir() {
            return Err(FsError::new(FsErrorKind::NotADirectory, "read_dir", path.as_str()));
        }
        // Files being written before the listing starts: one whose upload lands while the
        // listing is loading is in the listing or in this snapshot, never in neither.
        let before = self.staged_in(path);
        let listing = self
            .meta
            .listing(self.store.as_ref(), path, &self.cfg.prefix, self.cfg.names)
            .await?;
        let mut staged = before;
        staged.extend(self.staged_in(path));
        let listing = self.with_moves(path, Self::with_staged(listing, staged));
        Ok(self.meta.with_kept_times(path, listing))
    }

    /// The files being written in `dir`, as directory entries.
    fn staged_in(&self, dir: &VfsPath) -> Vec<(String, Attr)> {
        let Some(wb) = &self.wb else { return Vec::new() };
        wb.files()
            .iter()
            .filter_map(|(p, d)| {
                let (parent, name) = p.split_last()?;
                (parent == *dir).then(|| (name.to_owned(), staged_attr(d)))
            })
            .collect()
    }

    /// `listing` with the files being written added or updated.
    fn with_staged(listing: Arc<Listing>, staged: Vec<(String, Attr)>) -> Arc<Listing> {
        if staged.is_empty() {
            return listing;
        }
        let mut map: std::collections::BTreeMap<String, Attr> = listing
            .entries
            .iter()
            .map(|e| (e.name.clone(), e.attr.clone()))
            .collect();
        map.extend(staged);
        Arc::new(Listing::from_map(map))
    }
}

impl Vfs {
    /// The changes others made that listings found since the last call, oldest first. The
    /// adapters pass them to the system (WinFsp's `FspFileSystemNotify`).
    pub fn take_changes(&self) -> Vec<crate::watch::RemoteChange> {
        self.meta.watch().take()
    }

    /// Returns once changes are queued for [`take_changes`](Self::take_changes) (at once if
    /// some were queued since the last wait).
    pub async fn changes_ready(&self) {
        self.meta.watch().ready().await;
    }
}
