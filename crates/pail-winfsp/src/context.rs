//! The `FileSystemContext` over [`Vfs`]: each WinFsp callback resolves the name, makes one
//! `Vfs` call on the tokio runtime and fills WinFsp's structures. No logic lives here.
//!
//! Callbacks arrive on WinFsp dispatcher threads (not tokio threads), so `Handle::block_on` is
//! the bridge. Per-open state ([`OpenFile`]) uses interior mutability since callbacks for one
//! handle may come on any thread.

use std::ffi::c_void;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use pail_fs::{Attr, FsError, HandleId, Vfs, VfsPath};
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
/// 100 ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// One open file or directory.
#[derive(Debug)]
pub struct OpenFile {
    path: VfsPath,
    attr: Mutex<Attr>,
    handle: Option<HandleId>,
    dir: DirBuffer,
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

/// `\dir\file.txt` → `dir/file.txt`.
fn vfs_path(name: &U16CStr) -> VfsPath {
    VfsPath::new(&name.to_string_lossy().replace('\\', "/"))
}

fn fs_err(e: &FsError, path: &VfsPath) -> FspError {
    tracing::debug!(error = %e, %path, "winfsp call failed");
    FspError::NTSTATUS(to_ntstatus(e.kind(), false))
}

fn filetime(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    FILETIME_UNIX_EPOCH + since.as_secs() * 10_000_000 + u64::from(since.subsec_nanos() / 100)
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
    let t = filetime(attr.mtime);
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
        _granted_access: FILE_ACCESS_RIGHTS,
        file_info: &mut OpenFileInfo,
    ) -> winfsp::Result<Self::FileContext> {
        let typed = vfs_path(file_name);
        // Case-insensitive and case-preserving: carry on with the name as stored.
        let (path, attr) = self
            .rt
            .block_on(self.vfs.resolve(&typed))
            .map_err(|e| fs_err(&e, &typed))?;
        let handle = if attr.is_dir() {
            None
        } else {
            let (h, _) = self.rt.block_on(self.vfs.open(&path)).map_err(|e| fs_err(&e, &path))?;
            Some(h)
        };
        fill(file_info.as_mut(), &attr, self.vfs.config().read_only);
        let normalized: Vec<u16> = format!("\\{}", path.as_str().replace('/', "\\"))
            .encode_utf16()
            .collect();
        file_info.set_normalized_name(&normalized, None);
        Ok(OpenFile {
            path,
            attr: Mutex::new(attr),
            handle,
            dir: DirBuffer::new(),
        })
    }

    fn close(&self, context: Self::FileContext) {
        if let Some(h) = context.handle {
            self.vfs.release(h);
        }
    }

    fn create(
        &self,
        _file_name: &U16CStr,
        _create_options: u32,
        _granted_access: FILE_ACCESS_RIGHTS,
        _file_attributes: FILE_FLAGS_AND_ATTRIBUTES,
        _security_descriptor: Option<&[c_void]>,
        _allocation_size: u64,
        _extra_buffer: Option<&[u8]>,
        _extra_buffer_is_reparse_point: bool,
        _file_info: &mut OpenFileInfo,
    ) -> winfsp::Result<Self::FileContext> {
        Err(FspError::NTSTATUS(status::MEDIA_WRITE_PROTECTED))
    }

    fn get_file_info(&self, context: &Self::FileContext, file_info: &mut FileInfo) -> winfsp::Result<()> {
        let attr = context.attr.lock().unwrap_or_else(|e| e.into_inner()).clone();
        fill(file_info, &attr, self.vfs.config().read_only);
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
            .map_err(|e| fs_err(&e, &context.path))?;
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
            let listing = self
                .rt
                .block_on(self.vfs.read_dir(&context.path))
                .map_err(|e| fs_err(&e, &context.path))?;
            let read_only = self.vfs.config().read_only;
            let dir_attr = context.attr.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let dots: &[&str] = if context.path.is_root() { &[] } else { &[".", ".."] };
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
