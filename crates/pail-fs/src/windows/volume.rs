//! [`WinVolume`]: the drive as WinFsp's callbacks see it, one method per callback, so the
//! adapter translates structures and nothing else, and every Windows call sequence (Explorer
//! copy and delete, Office save, Notepad save, `move`, directory listing with a marker) is
//! replayed on Linux against the real store.
//!
//! Names are resolved case-insensitively and case-preservingly ([`Vfs::resolve`]); a new name is
//! created inside its folder as stored, keeping the case the user typed. Each open is a
//! [`WinFile`], whose state (path, attributes, handle) sits behind one mutex because WinFsp
//! calls a handle from any thread. Lock order: a `WinFile`'s mutex is never held across a `Vfs`
//! call.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::open::{BasicInfo, CleanupFlags, WinFile};
use super::{WinInfo, from_filetime, write_span};
use crate::error::{FsError, FsErrorKind, FsResult};
use crate::meta::Attr;
use crate::path::VfsPath;
use crate::vfs::{HandleId, Vfs};

mod dir;

pub use dir::WinDirEntry;

/// How long a call on a name a folder move holds waits for the move before it answers busy:
/// a small folder has moved by then; a large one must not hold a WinFsp thread.
const MOVE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The attribute bits a file keeps on S3 (read-only, hidden, system).
const KEPT: u32 = pail_store::attributes::KEPT;

/// Access rights that mean the handle writes: FILE_WRITE_DATA, FILE_APPEND_DATA.
pub const WRITE_ACCESS: u32 = 0x0002 | 0x0004;
/// CreateOptions bit: the new object is a directory.
pub const FILE_DIRECTORY_FILE: u32 = 0x0000_0001;
/// The longest volume label Windows keeps, in UTF-16 units.
const MAX_LABEL_UNITS: usize = 32;

/// One mounted drive, as WinFsp calls it.
#[derive(Debug)]
pub struct WinVolume {
    vfs: Arc<Vfs>,
    label: Mutex<String>,
}

/// What GetVolumeInfo reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinVolumeInfo {
    /// Total bytes.
    pub total_size: u64,
    /// Free bytes.
    pub free_size: u64,
    /// The volume label.
    pub label: String,
}

impl WinVolume {
    /// The Windows view of `vfs`, labelled `label` (the drive's name).
    pub fn new(vfs: Arc<Vfs>, label: &str) -> Self {
        let volume = Self {
            vfs,
            label: Mutex::new(String::new()),
        };
        volume.set_volume_label(label);
        volume
    }

    /// The drive underneath.
    pub fn vfs(&self) -> &Arc<Vfs> {
        &self.vfs
    }

    fn read_only(&self) -> bool {
        self.vfs.config().read_only
    }

    fn info(&self, path: &VfsPath, attr: &Attr) -> WinInfo {
        WinInfo::of(path, attr, self.read_only())
    }

    /// `name` as stored, telling a missing folder on the way (`PathNotFound`, which Windows
    /// reports as "path not found") from a missing last name.
    async fn resolve(&self, name: &VfsPath) -> FsResult<(VfsPath, Attr)> {
        self.not_moving(name, false).await?;
        match self.vfs.resolve(name).await {
            Err(e) if matches!(e.kind(), FsErrorKind::NotFound | FsErrorKind::NotADirectory) => {
                match name.split_last() {
                    Some((parent, _)) if !parent.is_root() => {
                        self.stored_folder(&parent).await?;
                        Err(FsError::new(FsErrorKind::NotFound, "open", name.as_str()))
                    }
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// `Busy` (SHARING_VIOLATION) for a name a folder move under way holds (`itself`: the
    /// moving folder is to be renamed or deleted): a synchronous WinFsp callback must not wait
    /// minutes for the move, so Windows is told to try again.
    async fn not_moving(&self, name: &VfsPath, itself: bool) -> FsResult<()> {
        if self.vfs.is_moving(name, itself) && !self.vfs.moves_done_within(name, MOVE_WAIT).await {
            return Err(FsError::new(FsErrorKind::Busy, "open", name.as_str()));
        }
        Ok(())
    }

    /// The folder `dir` as stored; `PathNotFound` when it is missing or a file.
    async fn stored_folder(&self, dir: &VfsPath) -> FsResult<VfsPath> {
        if dir.is_root() {
            return Ok(VfsPath::root());
        }
        match self.vfs.resolve(dir).await {
            Ok((stored, attr)) if attr.is_dir() => Ok(stored),
            Ok(_) => Err(FsError::new(FsErrorKind::PathNotFound, "open", dir.as_str())),
            Err(e) if matches!(e.kind(), FsErrorKind::NotFound | FsErrorKind::NotADirectory) => {
                Err(FsError::new(FsErrorKind::PathNotFound, "open", dir.as_str()))
            }
            Err(e) => Err(e),
        }
    }

    /// A new name inside its folder as stored, with the last name as typed; a device name
    /// Win32 reserves (`CON`, `NUL.txt`) is `InvalidName`.
    async fn new_name(&self, name: &VfsPath) -> FsResult<VfsPath> {
        match name.split_last() {
            Some((_, last)) if super::is_reserved_name(last) => {
                Err(FsError::new(FsErrorKind::InvalidName, "create", name.as_str()))
            }
            Some((parent, last)) => Ok(self.stored_folder(&parent).await?.join(last)),
            None => Err(FsError::new(FsErrorKind::AccessDenied, "create", "/")),
        }
    }

    /// GetSecurityByName: the file attributes of `name` (the security descriptor is the
    /// adapter's, the same for every file).
    pub async fn attributes_of(&self, name: &VfsPath) -> FsResult<u32> {
        let (stored, attr) = self.resolve(name).await?;
        Ok(self.info(&stored, &attr).attributes)
    }

    /// Open: an existing file or folder. A handle granted write access is staged on its first
    /// change, not here: Explorer and many programs open for MAXIMUM_ALLOWED, which WinFsp's
    /// access check grants in full, and most such opens only read. On a read-only drive such
    /// an open succeeds and its first change is refused.
    pub async fn open(&self, name: &VfsPath, granted_access: u32) -> FsResult<(WinFile, WinInfo)> {
        let (path, attr) = self.resolve(name).await?;
        let writes = granted_access & WRITE_ACCESS != 0;
        if attr.is_dir() {
            let info = self.info(&path, &attr);
            return Ok((WinFile::new(path, attr, None, false, false), info));
        }
        let (h, attr) = self.vfs.open(&path).await?;
        let info = self.info(&path, &attr);
        Ok((WinFile::new(path, attr, Some(h), writes, false), info))
    }

    /// The writer's handle of `file`, staging it on its first change. An open without write
    /// access is `AccessDenied` (WinFsp checks this before calling, so only a bug gets here).
    async fn writer(&self, file: &WinFile, op: &'static str) -> FsResult<(HandleId, VfsPath)> {
        let (h, staged, path) = file.file_handle(op)?;
        if staged {
            return Ok((h, path));
        }
        if !file.may_write() {
            return Err(FsError::new(FsErrorKind::AccessDenied, op, path.as_str()));
        }
        if self.read_only() {
            return Err(FsError::new(FsErrorKind::ReadOnly, op, path.as_str()));
        }
        let (new, attr) = self.vfs.open_write(&path, false).await?;
        {
            let mut st = file.state();
            st.handle = Some(new);
            st.staged = true;
            st.attr = attr;
        }
        self.vfs.release(h);
        Ok((new, path))
    }

    /// Create: a new file, or a folder when `create_options` has FILE_DIRECTORY_FILE.
    /// A name taken ignoring case (`docs` beside `Docs`) is `Exists` (OBJECT_NAME_COLLISION):
    /// the volume is case-insensitive, so it must not become a second key. A file keeps the
    /// read-only, hidden and system bits of `file_attributes`; a folder keeps none.
    pub async fn create(
        &self,
        name: &VfsPath,
        create_options: u32,
        file_attributes: u32,
    ) -> FsResult<(WinFile, WinInfo)> {
        let path = self.new_name(name).await?;
        match self.vfs.resolve(&path).await {
            Ok((stored, _)) => return Err(FsError::new(FsErrorKind::Exists, "create", stored.as_str())),
            Err(e) if e.kind() == FsErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = if create_options & FILE_DIRECTORY_FILE != 0 {
            let attr = self.vfs.mkdir(&path).await?;
            WinFile::new(path, attr, None, false, false)
        } else {
            let (h, mut attr) = self.vfs.create(&path, true, false).await?;
            if file_attributes & KEPT != 0 {
                attr = self.vfs.set_file_attributes_of(h, Some(file_attributes), None)?;
            }
            WinFile::new(path, attr, Some(h), true, true)
        };
        let info = self.file_info(&file)?;
        Ok((file, info))
    }

    /// Overwrite (CREATE_ALWAYS / TRUNCATE_EXISTING on an existing file): empties it. A handle
    /// opened for reading only becomes a writing one. The kept attributes become
    /// `file_attributes` with `replace` (FILE_SUPERSEDE), else gain them (as WinFsp's memfs).
    pub async fn overwrite(&self, file: &WinFile, file_attributes: u32, replace: bool) -> FsResult<WinInfo> {
        let (h, staged, path) = file.file_handle("overwrite")?;
        if !staged {
            if self.read_only() {
                return Err(FsError::new(FsErrorKind::ReadOnly, "overwrite", path.as_str()));
            }
            let (new, attr) = self.vfs.open_write(&path, true).await?;
            let mut st = file.state();
            st.handle = Some(new);
            st.staged = true;
            st.may_write = true;
            st.attr = attr;
            drop(st);
            self.vfs.release(h);
        }
        let mut attr = self.vfs.set_len(&path, 0).await?;
        let kept = if replace {
            file_attributes & KEPT
        } else {
            attr.attributes | (file_attributes & KEPT)
        };
        if kept != attr.attributes {
            let (h, _, _) = file.file_handle("overwrite")?;
            attr = self.vfs.set_file_attributes_of(h, Some(kept), None)?;
        }
        file.set_attr(attr);
        self.file_info(file)
    }

    /// Cleanup (the last handle of an open was closed): a written file is recorded durably in
    /// the journal before this returns; with `delete` (delete-on-close, or a disposition set by
    /// SetDelete) the file or empty folder is removed instead.
    pub async fn cleanup(&self, file: &WinFile, flags: CleanupFlags) -> FsResult<()> {
        let path = file.path();
        if flags.delete {
            return self.vfs.remove(&path).await;
        }
        match file.handle() {
            Some((h, true)) => self.vfs.flush(h),
            _ => Ok(()),
        }
    }

    /// Close: forgets the open. A file staged through it is journaled first, in case WinFsp
    /// sent no Cleanup (with PostCleanupWhenModifiedOnly it sends none for a handle whose
    /// changes it did not see, such as a new file never written).
    pub fn close(&self, file: WinFile) {
        if let Some((h, staged)) = file.handle() {
            if staged && let Err(e) = self.vfs.flush(h) {
                tracing::error!(path = %file.path(), error = %e, "recording the file failed; it stays staged");
            }
            self.vfs.release(h);
        }
    }

    /// Read: up to `len` bytes at `offset`; empty at or past the end.
    pub async fn read(&self, file: &WinFile, offset: u64, len: u32) -> FsResult<Bytes> {
        let (h, _, _) = file.file_handle("read")?;
        self.vfs.read(h, offset, len).await
    }

    /// Write, with write-to-end-of-file and constrained (paging) I/O that never extends the
    /// file. Returns the bytes written and the file's new information.
    pub async fn write(
        &self,
        file: &WinFile,
        data: &[u8],
        offset: u64,
        write_to_eof: bool,
        constrained_io: bool,
    ) -> FsResult<(u32, WinInfo)> {
        let (h, _, _) = file.file_handle("write")?;
        let size = self.vfs.handle_attr(h)?.size;
        let written = match write_span(offset, data.len(), size, write_to_eof, constrained_io) {
            None => 0,
            Some((at, len)) => {
                let (h, _) = self.writer(file, "write").await?;
                let n = self.vfs.write(h, at, &data[..len]).await?;
                self.keep_write_time(file, h)?;
                n
            }
        };
        Ok((written, self.file_info(file)?))
    }

    /// A last-write time set explicitly through `file` survives the changes made after it.
    fn keep_write_time(&self, file: &WinFile, h: HandleId) -> FsResult<()> {
        let kept = file.state().write_time;
        if let Some(t) = kept {
            file.set_attr(self.vfs.set_mtime_of(h, t)?);
        }
        Ok(())
    }

    /// Flush (FlushFileBuffers): returns once S3 has the file's data.
    pub async fn flush(&self, file: &WinFile) -> FsResult<WinInfo> {
        if let Some((h, true)) = file.handle() {
            self.vfs.fsync(h).await?;
        }
        self.file_info(file)
    }

    /// GetFileInfo: a file being written shows its local size.
    pub fn file_info(&self, file: &WinFile) -> FsResult<WinInfo> {
        let attr = match file.handle() {
            Some((h, _)) => match self.vfs.handle_attr(h) {
                Ok(a) => a,
                Err(e) if e.kind() == FsErrorKind::NotFound => file.state().attr.clone(),
                Err(e) => return Err(e),
            },
            None => file.state().attr.clone(),
        };
        Ok(self.info(&file.path(), &attr))
    }

    /// SetBasicInfo: the modification time is kept (as `x-amz-meta-mtime`) and, set through a
    /// handle, survives that handle's later writes; a file's read-only, hidden and system
    /// attributes and its creation time are kept as metadata, carried through renames and
    /// copies. The last-access time, and a folder's last-write time, have nowhere to live in
    /// S3: this mount keeps them while it runs ([`Vfs::set_times`]). A folder's attributes (a
    /// folder is a prefix) and a change time set explicitly are accepted without effect. A
    /// FILETIME of 0 or `u64::MAX`, and attributes of 0 or `INVALID_FILE_ATTRIBUTES`, leave
    /// them unchanged.
    pub async fn set_basic_info(&self, file: &WinFile, basic: &BasicInfo) -> FsResult<WinInfo> {
        let attributes = (basic.attributes != 0 && basic.attributes != BasicInfo::UNCHANGED_ATTRIBUTES)
            .then_some(basic.attributes & KEPT);
        let created = from_filetime(basic.creation_time);
        if !file.is_dir() && (attributes.is_some() || created.is_some()) {
            let attr = match file.handle() {
                Some((h, true)) => self.vfs.set_file_attributes_of(h, attributes, created)?,
                _ => self.vfs.set_file_attributes(&file.path(), attributes, created).await?,
            };
            file.set_attr(attr);
        }
        if let Some(t) = from_filetime(basic.last_write_time) {
            let attr = match file.handle() {
                Some((h, true)) => self.vfs.set_mtime_of(h, t)?,
                _ => self.vfs.set_mtime(&file.path(), t).await?,
            };
            let mut st = file.state();
            st.attr = attr;
            st.write_time = Some(t);
        }
        if let Some(t) = from_filetime(basic.last_access_time) {
            let attr = self.vfs.set_times(&file.path(), Some(t), None).await?;
            file.set_attr(attr);
        }
        self.file_info(file)
    }

    /// SetFileSize: the end of file, or with `allocation` a reservation, which only truncates
    /// when set below the file's size.
    pub async fn set_file_size(&self, file: &WinFile, new_size: u64, allocation: bool) -> FsResult<WinInfo> {
        let (h, _, _) = file.file_handle("set file size")?;
        let size = self.vfs.handle_attr(h)?.size;
        if (!allocation && new_size != size) || new_size < size {
            let (h, path) = self.writer(file, "set file size").await?;
            let attr = self.vfs.set_len(&path, new_size).await?;
            file.set_attr(attr);
            self.keep_write_time(file, h)?;
        }
        self.file_info(file)
    }

    /// Rename (MoveFileEx): into the target folder as stored. An existing target (matched
    /// ignoring case) is replaced only with `replace_if_exists`, and never when it is a folder
    /// (ACCESS_DENIED, as NTFS answers); a change of case only renames the file itself.
    pub async fn rename(&self, file: &WinFile, new_name: &VfsPath, replace_if_exists: bool) -> FsResult<()> {
        let from = file.path();
        self.not_moving(&from, true).await?;
        self.not_moving(new_name, true).await?;
        let typed = self.new_name(new_name).await?;
        let to = match self.vfs.resolve(&typed).await {
            Ok((stored, _)) if stored == from => typed,
            Ok((stored, attr)) => {
                if !replace_if_exists {
                    return Err(FsError::new(FsErrorKind::Exists, "rename", typed.as_str()));
                }
                if attr.is_dir() {
                    return Err(FsError::new(
                        FsErrorKind::AccessDenied,
                        "replace a folder",
                        typed.as_str(),
                    ));
                }
                stored
            }
            Err(e) if e.kind() == FsErrorKind::NotFound => typed,
            Err(e) => return Err(e),
        };
        self.vfs.rename(&from, &to, !replace_if_exists).await?;
        file.state().path = to;
        Ok(())
    }

    /// SetDelete: only checks and marks; Cleanup deletes. A folder that is not empty is
    /// refused (DIRECTORY_NOT_EMPTY), as is the root.
    pub async fn set_delete(&self, file: &WinFile, delete: bool) -> FsResult<()> {
        if delete {
            self.not_moving(&file.path(), true).await?;
            self.vfs.check_delete(&file.path()).await?;
        }
        Ok(())
    }

    /// GetVolumeInfo.
    pub fn volume_info(&self) -> WinVolumeInfo {
        let s = self.vfs.volume_stats();
        WinVolumeInfo {
            total_size: s.blocks * u64::from(s.block_size),
            free_size: s.free_blocks * u64::from(s.block_size),
            label: self.label.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// SetVolumeLabel: kept for this mount (S3 has nowhere to store it; the next mount shows
    /// the drive's name again), cut to the 32 UTF-16 units Windows allows.
    pub fn set_volume_label(&self, label: &str) -> WinVolumeInfo {
        let mut units = 0;
        let cut: String = label
            .chars()
            .take_while(|c| {
                units += c.len_utf16();
                units <= MAX_LABEL_UNITS
            })
            .collect();
        *self.label.lock().unwrap_or_else(|e| e.into_inner()) = cut;
        self.volume_info()
    }
}
