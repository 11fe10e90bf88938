//! Changes to the tree: mkdir (a `dir/` marker), rmdir (only when empty), unlink, and rename
//! of files and folders, with or without replacing the target.
//!
//! Renaming a file being written only renames it locally (its upload goes to the new key, and
//! an earlier version at the old key is deleted); an uploaded file is copied server-side and
//! deleted; a folder is moved key by key with bounded parallelism under a journal record, so a
//! crash part-way resumes the move on the next mount.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use pail_store::{ObjectStore, StoreError, TransferConfig, WriteCondition};

use crate::dirty::Dirty;
use crate::error::{FsError, FsErrorKind, FsResult};
use crate::journal::Record;
use crate::meta::Attr;
use crate::moving::MoveProgress;
use crate::outcome;
use crate::path::VfsPath;
use crate::vfs::Vfs;

/// Keys copied at once by a folder move.
const MOVE_PARALLELISM: usize = 16;

/// Moves every key under `from` to the same name under `to` (both prefixes ending in `/`):
/// copies first, then deletes the sources. Safe to repeat after an interruption.
pub(crate) async fn move_prefix(
    store: &dyn ObjectStore,
    from: &str,
    to: &str,
    transfer: &TransferConfig,
    progress: &MoveProgress,
) -> Result<usize, StoreError> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = store.list_page(from, None, token.as_deref(), None).await?;
        keys.extend(page.objects);
        token = page.next;
        if token.is_none() {
            break;
        }
    }
    progress.total.store(keys.len() as u64, Ordering::Relaxed);
    progress.moved.store(0, Ordering::Relaxed);
    futures::stream::iter(keys.iter().cloned())
        .map(|o| async move {
            let dst = format!("{to}{}", &o.key[from.len()..]);
            let copied = outcome::copy(store, (&o.key, &dst), o.size, Some(&o.etag), transfer, None).await;
            progress.moved.fetch_add(1, Ordering::Relaxed);
            copied
        })
        .buffer_unordered(MOVE_PARALLELISM)
        .try_collect::<Vec<_>>()
        .await?;
    let names: Vec<String> = keys.iter().map(|o| o.key.clone()).collect();
    for batch in names.chunks(1000) {
        store.delete_many(batch).await?;
    }
    Ok(keys.len())
}

impl Vfs {
    /// `path`'s folder gained or lost an entry now (see `Times::touch_dir`).
    pub(crate) fn touch_parent(&self, path: &VfsPath) {
        if let Some((parent, _)) = path.split_last() {
            self.meta.times().touch_dir(&parent);
        }
    }

    fn parent_dir_of(&self, path: &VfsPath, op: &'static str) -> FsResult<VfsPath> {
        path.split_last()
            .map(|(p, _)| p)
            .ok_or_else(|| FsError::new(FsErrorKind::AccessDenied, op, "/"))
    }

    async fn require_dir(&self, dir: &VfsPath, op: &'static str) -> FsResult<()> {
        if self.lookup(dir).await?.is_dir() {
            Ok(())
        } else {
            Err(FsError::new(FsErrorKind::NotADirectory, op, dir.as_str()))
        }
    }

    /// Whether `path` exists (`NotFound` is `None`, other errors propagate).
    async fn existing(&self, path: &VfsPath) -> FsResult<Option<Attr>> {
        match self.lookup(path).await {
            Ok(a) => Ok(Some(a)),
            Err(e) if e.kind() == FsErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates folder `path` (writes its `dir/` marker so it persists while empty).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn mkdir(&self, path: &VfsPath) -> FsResult<Attr> {
        self.writeback("mkdir", path)?;
        self.after_moves(path).await;
        let parent = self.parent_dir_of(path, "mkdir")?;
        let key = self.key_of(path)?;
        self.require_dir(&parent, "mkdir").await?;
        if self.existing(path).await?.is_some() {
            return Err(FsError::new(FsErrorKind::Exists, "mkdir", path.as_str()));
        }
        self.store
            .put(&format!("{key}/"), Bytes::new(), &WriteCondition::None, None)
            .await
            .map_err(|e| FsError::from_store("mkdir", path.as_str(), e))?;
        let attr = self.meta.dir_attr();
        self.meta.put_entry(path.clone(), Some(attr.clone()));
        self.meta.update_listing_of(path, Some(attr.clone())).await;
        self.meta.made_dir(path).await;
        self.meta.times().touch_dir(&parent);
        Ok(self.meta.with_kept(path, attr))
    }

    /// Removes folder `path` if it is empty.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn rmdir(&self, path: &VfsPath) -> FsResult<()> {
        self.writeback("rmdir", path)?;
        self.after_moves(path).await;
        self.parent_dir_of(path, "rmdir")?;
        if !self.lookup(path).await?.is_dir() {
            return Err(FsError::new(FsErrorKind::NotADirectory, "rmdir", path.as_str()));
        }
        self.meta.invalidate_listing_of(&path.join("x")).await;
        if !self.read_dir(path).await?.entries.is_empty() {
            return Err(FsError::new(FsErrorKind::NotEmpty, "rmdir", path.as_str()));
        }
        let marker = path.to_dir_prefix(&self.cfg.prefix, self.cfg.names);
        outcome::delete(self.store.as_ref(), &marker)
            .await
            .map_err(|e| FsError::from_store("rmdir", path.as_str(), e))?;
        self.meta.put_entry(path.clone(), None);
        self.meta.update_listing_of(path, None).await;
        self.meta.times().removed(path);
        self.touch_parent(path);
        Ok(())
    }

    /// Stops the pending upload of the file being written at `path`, if there is one: it was
    /// deleted (`on_s3`: what S3 holds of it is deleted first) or replaced by a rename (S3's
    /// copy is overwritten by the renamed file). `false` when no file is being written there.
    ///
    /// S3 goes first: while it cannot be reached the unlink fails and the file stays as it was,
    /// pending upload included. Discarding it first would lose its last writes while S3 kept
    /// an older version, or an upload of it whose answer was lost, which would come back.
    async fn discard_staged(&self, path: &VfsPath, on_s3: bool) -> FsResult<bool> {
        let Some(wb) = self.wb.as_ref() else {
            return Ok(false);
        };
        let Some(d) = wb.hold(path, false) else {
            return Ok(false);
        };
        let discarded = self.discard_held(wb, &d, on_s3).await;
        wb.unhold(&d, false);
        discarded
            .map(|()| true)
            .map_err(|e| FsError::from_store("unlink", path.as_str(), e))
    }

    async fn discard_held(
        &self,
        wb: &Arc<crate::writeback::Writeback>,
        d: &Arc<Dirty>,
        on_s3: bool,
    ) -> Result<(), StoreError> {
        let _upload = d.upload.lock().await;
        if d.state().handles() > 1 {
            // Still open elsewhere: like a deleted file on a disk, it stays readable and writable
            // through those handles, so its bytes must not depend on the object we delete.
            if let Err(e) = d.fill().await {
                tracing::warn!(
                    error = e.detail(),
                    "could not keep a deleted file's contents for its open handles"
                );
            }
        }
        if !wb.is_current(d) {
            // Uploaded and forgotten meanwhile: an ordinary object now.
            let key = d.state().key().to_owned();
            return if on_s3 {
                outcome::delete(self.store.as_ref(), &key).await
            } else {
                Ok(())
            };
        }
        if on_s3 {
            self.delete_left_on_s3(d, None).await?;
        }
        d.state().unlink();
        let path = d.state().path().clone();
        let mut files = wb.files();
        if files.get(&path).is_some_and(|x| Arc::ptr_eq(x, d)) {
            files.remove(&path);
        }
        Ok(())
    }

    /// Deletes what S3 holds of `d` under its current name ([`FileState::left_on_s3`]): an
    /// earlier version, else an upload of unknown outcome if it is ours. Nothing at `keep`
    /// (where the file goes next, and overwrites).
    ///
    /// [`FileState::left_on_s3`]: crate::lifecycle::FileState::left_on_s3
    async fn delete_left_on_s3(&self, d: &Dirty, keep: Option<&str>) -> Result<(), StoreError> {
        let (remote, maybe_ours) = d.state().left_on_s3();
        let kept = |k: &String| Some(k.as_str()) == keep;
        if let Some(key) = remote.filter(|k| !kept(k)) {
            outcome::delete(self.store.as_ref(), &key).await
        } else if let Some((key, token)) = maybe_ours.filter(|(k, _)| !kept(k)) {
            outcome::delete_if_ours(self.store.as_ref(), &key, token).await
        } else {
            Ok(())
        }
    }

    /// Deletes file `path`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn unlink(&self, path: &VfsPath) -> FsResult<()> {
        self.writeback("unlink", path)?;
        self.after_moves(path).await;
        if !self.discard_staged(path, true).await? {
            if self.lookup(path).await?.is_dir() {
                return Err(FsError::new(FsErrorKind::IsADirectory, "unlink", path.as_str()));
            }
            outcome::delete(self.store.as_ref(), &self.key_of(path)?)
                .await
                .map_err(|e| FsError::from_store("unlink", path.as_str(), e))?;
        }
        self.meta.put_entry(path.clone(), None);
        self.meta.update_listing_of(path, None).await;
        self.meta.times().removed(path);
        self.touch_parent(path);
        Ok(())
    }

    /// Renames `from` to `to`. An existing target is replaced (a file by a file, an empty folder
    /// by a folder) unless `no_replace`, which makes it `Exists`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn rename(&self, from: &VfsPath, to: &VfsPath, no_replace: bool) -> FsResult<()> {
        let wb = self.writeback("rename", from)?.clone();
        if from == to {
            // Nothing moves, but a name that is not there is still not there (rename(2)).
            return self.lookup(from).await.map(|_| ());
        }
        self.after_moves(from).await;
        self.after_moves(to).await;
        self.parent_dir_of(from, "rename")?;
        let to_parent = self.parent_dir_of(to, "rename")?;
        let to_key = self.key_of(to)?;
        let src = self.lookup(from).await?;
        self.require_dir(&to_parent, "rename").await?;
        if src.is_dir() && to.as_str().starts_with(&format!("{}/", from.as_str())) {
            return Err(FsError::new(
                FsErrorKind::InvalidName,
                "rename into itself",
                to.as_str(),
            ));
        }
        let mut replacing = false;
        if let Some(dst) = self.existing(to).await? {
            if no_replace {
                return Err(FsError::new(FsErrorKind::Exists, "rename", to.as_str()));
            }
            match (src.is_dir(), dst.is_dir()) {
                (true, false) => return Err(FsError::new(FsErrorKind::NotADirectory, "rename", to.as_str())),
                (false, true) => return Err(FsError::new(FsErrorKind::IsADirectory, "rename", to.as_str())),
                (true, true) => self.rmdir(to).await?,
                (false, false) => {
                    self.discard_staged(to, false).await?;
                    replacing = true;
                }
            }
        }
        if src.is_dir() {
            let known = self.meta.cached_listing_now(&to_parent).is_some();
            self.rename_dir(from, to).await?;
            if known {
                // A moved folder drops every cached listing; the one the user was looking at
                // is loaded again (one request), so its link count stays known.
                self.meta.invalidate_listing_of(to).await;
                let _ = self.read_dir(&to_parent).await;
            }
        } else if let Some(d) = wb.hold(from, false) {
            let renamed = self.rename_staged(&d, from, to, to_key.clone(), replacing).await;
            wb.unhold(&d, false);
            if !renamed? {
                self.rename_object(from, to, &to_key).await?;
            }
        } else {
            self.rename_object(from, to, &to_key).await?;
        }
        self.meta.put_entry(from.clone(), None);
        self.meta.update_listing_of(from, None).await;
        if src.is_dir() {
            self.meta.update_listing_of(to, Some(self.meta.dir_attr())).await;
        } else {
            self.meta.invalidate_listing_of(to).await;
        }
        self.meta.times().moved(from, to);
        self.touch_parent(from);
        self.touch_parent(to);
        Ok(())
    }

    /// Renames an uploaded file: CopyObject (multipart beyond 5 GiB), then DeleteObject.
    async fn rename_object(&self, from: &VfsPath, to: &VfsPath, to_key: &str) -> FsResult<()> {
        let wb = self.writeback("rename", from)?;
        {
            let src = self.lookup(from).await?;
            let from_key = self.key_of(from)?;
            let etag = src.etag.clone();
            let new_etag = outcome::copy(
                self.store.as_ref(),
                (&from_key, to_key),
                src.size,
                etag.as_ref(),
                &wb.up.cfg.transfer,
                None,
            )
            .await
            .map_err(|e| FsError::from_store("rename", from.as_str(), e))?;
            outcome::delete(self.store.as_ref(), &from_key)
                .await
                .map_err(|e| FsError::from_store("rename", from.as_str(), e))?;
            let attr = Attr {
                etag: Some(new_etag),
                ..src
            };
            self.meta.put_entry(to.clone(), Some(attr));
        }
        Ok(())
    }

    /// Renames a file being written: locally, then its upload goes to the new key. `false` when
    /// its upload finished meanwhile (it is an ordinary object now).
    async fn rename_staged(
        &self,
        d: &Arc<Dirty>,
        from: &VfsPath,
        to: &VfsPath,
        to_key: String,
        replacing: bool,
    ) -> FsResult<bool> {
        let wb = self.writeback("rename", from)?;
        let _upload = d.upload.lock().await;
        if !wb.is_current(d) {
            return Ok(false);
        }
        d.fill().await?;
        // What S3 holds under the old name goes first, as in `discard_held`: while S3 cannot
        // be reached the rename fails and nothing moved, instead of the old name coming back.
        self.delete_left_on_s3(d, Some(&to_key))
            .await
            .map_err(|e| FsError::from_store("rename", from.as_str(), e))?;
        d.state().renamed(to.clone(), to_key.clone(), replacing);
        {
            let mut files = wb.files();
            files.remove(from);
            files.insert(to.clone(), d.clone());
        }
        if d.state().writers() == 0 {
            wb.persist(d)?;
        }
        drop(_upload);
        if d.state().writers() == 0 {
            wb.schedule(d);
        }
        Ok(true)
    }

    /// Moves a folder: files being written under it move locally, the move is journaled, and
    /// every key under its prefix moves server-side in the background (`moves`); this returns
    /// once the journal holds the move.
    async fn rename_dir(&self, from: &VfsPath, to: &VfsPath) -> FsResult<()> {
        let wb = self.writeback("rename", from)?;
        let inside = format!("{}/", from.as_str());
        let paths: Vec<VfsPath> = wb
            .files()
            .keys()
            .filter(|p| p.as_str().starts_with(&inside))
            .cloned()
            .collect();
        let staged: Vec<Arc<Dirty>> = paths.iter().filter_map(|p| wb.hold(p, false)).collect();
        let mut held = Vec::with_capacity(staged.len());
        for d in &staged {
            held.push((d.clone(), d.upload.clone().lock_owned().await));
        }
        match self.move_dir(wb, &staged, from, to).await {
            Ok((record, prefixes)) => {
                let moving = wb.start_move((from.clone(), to.clone()), prefixes, record, held);
                // A small folder is moved by the time the rename answers; a large one moves on.
                let _ = tokio::time::timeout(wb.up.cfg.move_grace, moving.wait()).await;
                Ok(())
            }
            Err(e) => {
                for (d, guard) in held {
                    drop(guard);
                    wb.unhold(&d, false);
                }
                Err(e)
            }
        }
    }

    /// The local half of a folder move: files being written under `from` take their new
    /// paths, and the move is journaled. Returns the record and the (from, to) key prefixes.
    async fn move_dir(
        &self,
        wb: &Arc<crate::writeback::Writeback>,
        staged: &[Arc<Dirty>],
        from: &VfsPath,
        to: &VfsPath,
    ) -> FsResult<(u64, (String, String))> {
        let from_prefix = from.to_dir_prefix(&self.cfg.prefix, self.cfg.names);
        let to_prefix = to.to_dir_prefix(&self.cfg.prefix, self.cfg.names);
        for d in staged {
            d.fill().await?;
        }
        // Files whose upload finished meanwhile are ordinary objects: the server-side move
        // takes them.
        let staged: Vec<&Arc<Dirty>> = staged.iter().filter(|d| wb.is_current(d)).collect();
        for d in staged.iter().copied() {
            let old = d.state().path().clone();
            let new = VfsPath::new(&format!("{}{}", to.as_str(), &old.as_str()[from.as_str().len()..]));
            let new_key = self.key_of(&new)?;
            d.state().moved_with_folder(new.clone(), new_key);
            {
                let mut files = wb.files();
                files.remove(&old);
                files.insert(new, d.clone());
            }
            if d.state().writers() == 0 {
                wb.persist(d)?;
            }
        }
        let id = wb.up.next_record_id();
        let record = Record::RenameDir {
            from: from_prefix.clone(),
            to: to_prefix.clone(),
        };
        wb.up
            .journal
            .write(id, &record)
            .map_err(|e| FsError::local("journal", from.as_str(), &e))?;
        Ok((id, (from_prefix, to_prefix)))
    }
}
