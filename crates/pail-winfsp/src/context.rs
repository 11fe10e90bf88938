//! The `FileSystemContext` over [`Vfs`]: each WinFsp callback resolves the name, makes one
//! `Vfs` call on the tokio runtime and fills WinFsp's structures. No logic lives here: what
//! Windows' calls mean (write-to-end-of-file, constrained I/O, FILETIMEs, delete-on-close) is
//! in `pail_fs::windows`, tested on Linux.
//!
//! Callbacks arrive on WinFsp dispatcher threads (not tokio threads), so `Handle::block_on` is
//! the bridge. Per-open state ([`OpenFile`]) uses interior mutability since callbacks for one
//! handle may come on any thread.

use pail_fs::{Attr, FsError, HandleId, Vfs, VfsPath, from_filetime, to_filetime, write_span};
use std::ffi::c_void;
use std::sync::{Arc, Mutex};
use winfsp::filesystem::{
    DirBuffer, DirInfo, DirMarker, FileInfo, FileSecurity, FileSystemContext, OpenFileInfo, VolumeInfo, WideNameInfo,
};
use winfsp::{FspError, U16CStr};
use winfsp_sys::{FILE_ACCESS_RIGHTS, FILE_FLAGS_AND_ATTRIBUTES};

use crate::ntstatus::{status, to_ntstatus};

const FILE_ATTRIBUTE_READONLY: u32 = 0x1;
const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;
const STATUS_END_OF_FILE: i32 = 0xC000_0011_u32 as i32;
/// CreateOptions bit: create a directory.
const FILE_DIRECTORY_FILE: u32 = 0x0000_0001;

/// Access rights that mean the handle writes: FILE_WRITE_DATA, FILE_APPEND_DATA.
const WRITE_ACCESS: u32 = 0x0002 | 0x0004;
/// `FspCleanupDelete`: the handle was marked delete-on-close (or opened with
/// FILE_DELETE_ON_CLOSE) and is the last one.
const CLEANUP_DELETE: u32 = 0x01;

/// One open file or directory.
#[derive(Debug)]
pub struct OpenFile {
    path: Mutex<VfsPath>,
    attr: Mutex<Attr>,
    handle: Option<HandleId>,
    dir: DirBuffer,
}

impl OpenFile {
    fn path(&self) -> VfsPath {
        self.path.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_attr(&self, attr: Attr) {
        *self.attr.lock().unwrap_or_else(|e| e.into_inner()) = attr;
    }
}

/// The WinFsp side of one mounted drive.
#[derive(Debug)]
pub struct PailContext {
    vfs: Arc<Vfs>,
    rt: tokio::runtime::Handle,
    label: String,
}

impl PailContext {
    /// A context serving `vfs` with calls run on `rt`; `label` is the volume label.
    pub fn new(vfs: Arc<Vfs>, rt: tokio::runtime::Handle, label: &str) -> Self {
        Self {
            vfs,
            rt,
            label: label.to_owned(),
        }
    }
}

impl PailContext {
    /// The context of a file just opened or created, with WinFsp's info filled in and the
    /// name normalized to its stored case.
    fn opened(&self, path: VfsPath, attr: Attr, handle: Option<HandleId>, file_info: &mut OpenFileInfo) -> OpenFile {
        fill(file_info.as_mut(), &attr, self.vfs.config().read_only);
        file_info.set_normalized_name(&normalized(&path), None);
        OpenFile {
            path: Mutex::new(path),
            attr: Mutex::new(attr),
            handle,
            dir: DirBuffer::new(),
        }
    }
}

/// `\dir\file.txt` → `dir/file.txt`.
fn vfs_path(name: &U16CStr) -> VfsPath {
    VfsPath::new(&name.to_string_lossy().replace('\\', "/"))
}

fn fs_err(e: &FsError, path: &VfsPath) -> FspError {
    tracing::debug!(error = %e, %path, "winfsp call failed");
    FspError::NTSTATUS(to_ntstatus(e.kind(), false))
}

fn normalized(path: &VfsPath) -> Vec<u16> {
    format!("\\{}", path.as_str().replace('/', "\\"))
        .encode_utf16()
        .collect()
}

fn fill(info: &mut FileInfo, attr: &Attr, read_only: bool) {
    let mut attributes = if attr.is_dir() {
        FILE_ATTRIBUTE_DIRECTORY
    } else {
        FILE_ATTRIBUTE_ARCHIVE
    };
    if read_only && !attr.is_dir() {
        attributes |= FILE_ATTRIBUTE_READONLY;
    }
    let t = to_filetime(attr.mtime);
    info.file_attributes = attributes;
    info.reparse_tag = 0;
    info.file_size = attr.size;
    info.allocation_size = attr.size.div_ceil(4096) * 4096;
    info.creation_time = t;
    info.last_access_time = t;
    info.last_write_time = t;
    info.change_time = t;
    info.index_number = 0;
    info.hard_links = 0;
    info.ea_size = 0;
}

impl FileSystemContext for PailContext {
    type FileContext = OpenFile;

    fn get_security_by_name(
        &self,
        file_name: &U16CStr,
        _security_descriptor: Option<&mut [c_void]>,
        _reparse_point_resolver: impl FnOnce(&U16CStr) -> Option<FileSecurity>,
    ) -> winfsp::Result<FileSecurity> {
        let path = vfs_path(file_name);
        let (_, attr) = self
            .rt
            .block_on(self.vfs.resolve(&path))
            .map_err(|e| fs_err(&e, &path))?;
        let mut info = FileInfo::default();
        fill(&mut info, &attr, self.vfs.config().read_only);
        Ok(FileSecurity {
            reparse: false,
            sz_security_descriptor: 0,
            attributes: info.file_attributes,
        })
    }

    fn open(
        &self,
        file_name: &U16CStr,
        _create_options: u32,
        granted_access: FILE_ACCESS_RIGHTS,
        file_info: &mut OpenFileInfo,
    ) -> winfsp::Result<Self::FileContext> {
        let typed = vfs_path(file_name);
        // Case-insensitive and case-preserving: carry on with the name as stored.
        let (path, attr) = self
            .rt
            .block_on(self.vfs.resolve(&typed))
            .map_err(|e| fs_err(&e, &typed))?;
        let writes = granted_access & WRITE_ACCESS != 0 && !self.vfs.config().read_only;
        let (handle, attr) = match (attr.is_dir(), writes) {
            (true, _) => (None, attr),
            (false, false) => {
                let (h, a) = self.rt.block_on(self.vfs.open(&path)).map_err(|e| fs_err(&e, &path))?;
                (Some(h), a)
            }
            (false, true) => {
                let (h, a) = self
                    .rt
                    .block_on(self.vfs.open_write(&path, false))
                    .map_err(|e| fs_err(&e, &path))?;
                (Some(h), a)
            }
        };
        Ok(self.opened(path, attr, handle, file_info))
    }

    fn close(&self, context: Self::FileContext) {
        if let Some(h) = context.handle {
            self.vfs.release(h);
        }
    }

    fn create(
        &self,
        file_name: &U16CStr,
        create_options: u32,
        _granted_access: FILE_ACCESS_RIGHTS,
        _file_attributes: FILE_FLAGS_AND_ATTRIBUTES,
        _security_descriptor: Option<&[c_void]>,
        _allocation_size: u64,
        extra_buffer: Option<&[u8]>,
        extra_buffer_is_reparse_point: bool,
        file_info: &mut OpenFileInfo,
    ) -> winfsp::Result<Self::FileContext> {
        if extra_buffer.is_some() {
            // Extended attributes and reparse points cannot be stored in S3.
            let _ = extra_buffer_is_reparse_point;
            return Err(FspError::NTSTATUS(status::NOT_SUPPORTED));
        }
        let typed = vfs_path(file_name);
        // Create in the folder as stored (case-insensitive parent), with the name as typed.
        let path = match typed.split_last() {
            Some((parent, name)) if !parent.is_root() => {
                let (parent, _) = self
                    .rt
                    .block_on(self.vfs.resolve(&parent))
                    .map_err(|e| FspError::NTSTATUS(to_ntstatus(e.kind(), true)))?;
                parent.join(name)
            }
            _ => typed.clone(),
        };
        let (handle, attr) = if create_options & FILE_DIRECTORY_FILE != 0 {
            let attr = self.rt.block_on(self.vfs.mkdir(&path)).map_err(|e| fs_err(&e, &path))?;
            (None, attr)
        } else {
            let (h, attr) = self
                .rt
                .block_on(self.vfs.create(&path, true, false))
                .map_err(|e| fs_err(&e, &path))?;
            (Some(h), attr)
        };
        Ok(self.opened(path, attr, handle, file_info))
    }

    fn overwrite(
        &self,
        context: &Self::FileContext,
        _file_attributes: FILE_FLAGS_AND_ATTRIBUTES,
        _replace_file_attributes: bool,
        _allocation_size: u64,
        extra_buffer: Option<&[u8]>,
        file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        if extra_buffer.is_some() {
            return Err(FspError::NTSTATUS(status::NOT_SUPPORTED));
        }
        let path = context.path();
        let attr = self
            .rt
            .block_on(self.vfs.set_len(&path, 0))
            .map_err(|e| fs_err(&e, &path))?;
        fill(file_info, &attr, false);
        context.set_attr(attr);
        Ok(())
    }

    fn cleanup(&self, context: &Self::FileContext, _file_name: Option<&U16CStr>, flags: u32) {
        let path = context.path();
        if let Some(h) = context.handle
            && let Err(e) = self.vfs.flush(h)
        {
            tracing::error!(error = %e, %path, "could not record the file's contents durably");
        }
        if flags & CLEANUP_DELETE != 0
            && let Err(e) = self.rt.block_on(self.vfs.remove(&path))
        {
            tracing::warn!(error = %e, %path, "delete on close failed");
        }
    }

    fn flush(&self, context: Option<&Self::FileContext>, file_info: &mut FileInfo) -> winfsp::Result<()> {
        // FlushFileBuffers: return once S3 has the data. A volume flush (no context) has
        // nothing to wait for per file.
        let Some(context) = context else { return Ok(()) };
        if let Some(h) = context.handle {
            let path = context.path();
            self.rt.block_on(self.vfs.fsync(h)).map_err(|e| fs_err(&e, &path))?;
        }
        self.get_file_info(context, file_info)
    }

    fn get_file_info(&self, context: &Self::FileContext, file_info: &mut FileInfo) -> winfsp::Result<()> {
        let attr = match context.handle.map(|h| self.vfs.handle_attr(h)) {
            Some(Ok(a)) => a,
            _ => context.attr.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        };
        fill(file_info, &attr, self.vfs.config().read_only);
        Ok(())
    }

    fn write(
        &self,
        context: &Self::FileContext,
        buffer: &[u8],
        offset: u64,
        write_to_eof: bool,
        constrained_io: bool,
        file_info: &mut FileInfo,
    ) -> winfsp::Result<u32> {
        let Some(h) = context.handle else {
            return Err(FspError::NTSTATUS(status::FILE_IS_A_DIRECTORY));
        };
        let path = context.path();
        let size = self.vfs.handle_attr(h).map_err(|e| fs_err(&e, &path))?.size;
        let written = match write_span(offset, buffer.len(), size, write_to_eof, constrained_io) {
            None => 0,
            Some((at, len)) => self
                .rt
                .block_on(self.vfs.write(h, at, &buffer[..len]))
                .map_err(|e| fs_err(&e, &path))?,
        };
        self.get_file_info(context, file_info)?;
        Ok(written)
    }

    fn set_basic_info(
        &self,
        context: &Self::FileContext,
        _file_attributes: u32,
        _creation_time: u64,
        _last_access_time: u64,
        last_write_time: u64,
        _last_change_time: u64,
        file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        // Only the modification time is kept (as x-amz-meta-mtime); attributes and the other
        // times have nowhere to live in S3 and are accepted without effect.
        if let Some(t) = from_filetime(last_write_time) {
            let path = context.path();
            let attr = match context.handle {
                Some(h) => self.vfs.set_mtime_of(h, t),
                None => self.rt.block_on(self.vfs.set_mtime(&path, t)),
            }
            .map_err(|e| fs_err(&e, &path))?;
            context.set_attr(attr);
        }
        self.get_file_info(context, file_info)
    }

    fn set_file_size(
        &self,
        context: &Self::FileContext,
        new_size: u64,
        set_allocation_size: bool,
        file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        let path = context.path();
        let size = self
            .vfs
            .handle_attr(context.handle.ok_or(FspError::NTSTATUS(status::FILE_IS_A_DIRECTORY))?);
        let size = size.map_err(|e| fs_err(&e, &path))?.size;
        // Allocation size is a reservation: it only truncates when set below the file's size.
        if !set_allocation_size || new_size < size {
            let attr = self
                .rt
                .block_on(self.vfs.set_len(&path, new_size))
                .map_err(|e| fs_err(&e, &path))?;
            context.set_attr(attr);
        }
        self.get_file_info(context, file_info)
    }

    fn rename(
        &self,
        context: &Self::FileContext,
        _file_name: &U16CStr,
        new_file_name: &U16CStr,
        replace_if_exists: bool,
    ) -> winfsp::Result<()> {
        let from = context.path();
        let to = vfs_path(new_file_name);
        self.rt
            .block_on(self.vfs.rename(&from, &to, !replace_if_exists))
            .map_err(|e| fs_err(&e, &from))?;
        *context.path.lock().unwrap_or_else(|e| e.into_inner()) = to;
        Ok(())
    }

    fn set_delete(&self, context: &Self::FileContext, _file_name: &U16CStr, delete_file: bool) -> winfsp::Result<()> {
        // Only marks the file: WinFsp deletes it at the last Cleanup (CLEANUP_DELETE).
        if delete_file {
            let path = context.path();
            self.rt
                .block_on(self.vfs.check_delete(&path))
                .map_err(|e| fs_err(&e, &path))?;
        }
        Ok(())
    }

    fn read(&self, context: &Self::FileContext, buffer: &mut [u8], offset: u64) -> winfsp::Result<u32> {
        let Some(h) = context.handle else {
            return Err(FspError::NTSTATUS(status::FILE_IS_A_DIRECTORY));
        };
        let len = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        let data = self
            .rt
            .block_on(self.vfs.read(h, offset, len))
            .map_err(|e| fs_err(&e, &context.path()))?;
        if data.is_empty() && len > 0 {
            return Err(FspError::NTSTATUS(STATUS_END_OF_FILE));
        }
        buffer[..data.len()].copy_from_slice(&data);
        Ok(data.len() as u32)
    }

    fn read_directory(
        &self,
        context: &Self::FileContext,
        _pattern: Option<&U16CStr>,
        marker: DirMarker,
        buffer: &mut [u8],
    ) -> winfsp::Result<u32> {
        if let Ok(lock) = context.dir.acquire(marker.is_none(), None) {
            let path = context.path();
            let listing = self
                .rt
                .block_on(self.vfs.read_dir(&path))
                .map_err(|e| fs_err(&e, &path))?;
            let read_only = self.vfs.config().read_only;
            let dir_attr = context.attr.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let dots: &[&str] = if path.is_root() { &[] } else { &[".", ".."] };
            for name in dots {
                let mut info: DirInfo = DirInfo::new();
                fill(info.file_info_mut(), &dir_attr, read_only);
                info.set_name(name)?;
                lock.write(&mut info)?;
            }
            for entry in &listing.entries {
                let mut info: DirInfo = DirInfo::new();
                fill(info.file_info_mut(), &entry.attr, read_only);
                if info.set_name(&entry.name).is_err() {
                    tracing::warn!(name = %entry.name, "name too long for a Windows directory entry; skipped");
                    continue;
                }
                lock.write(&mut info)?;
            }
        }
        Ok(context.dir.read(marker, buffer))
    }

    fn get_volume_info(&self, out_volume_info: &mut VolumeInfo) -> winfsp::Result<()> {
        let s = self.vfs.volume_stats();
        out_volume_info.total_size = s.blocks * u64::from(s.block_size);
        out_volume_info.free_size = s.free_blocks * u64::from(s.block_size);
        out_volume_info.set_volume_label(&self.label);
        Ok(())
    }
}
