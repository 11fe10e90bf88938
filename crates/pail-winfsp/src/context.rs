//! The `FileSystemContext` over [`WinVolume`]: each WinFsp callback converts the name, makes
//! the one `WinVolume` call of the same name and fills WinFsp's structures. No logic lives here:
//! what Windows' calls mean is in `pail_fs::windows`, tested on Linux with Windows' call
//! sequences.
//!
//! Reads, writes and directory listings, the calls that may wait on S3, are served through
//! WinFsp's async interface (`AsyncFileSystemContext`): their futures run on the tokio runtime
//! and answer WinFsp when done, so a slow GET never holds a dispatcher thread. The other
//! callbacks are short or must finish before WinFsp continues (open, create, cleanup) and bridge
//! with `Handle::block_on`; dispatcher threads are not tokio threads, so that is allowed.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use pail_fs::{
    BasicInfo, CleanupFlags, FsError, Vfs, VfsPath, WinFile, WinInfo, WinNotify, WinVolume, path_from_wide, wide_name,
};
use winfsp::filesystem::{
    AsyncFileSystemContext, DirInfo, DirMarker, FileInfo, FileSecurity, FileSystemContext, ModificationDescriptor,
    OpenFileInfo, VolumeInfo, WideNameInfo,
};
use winfsp::notify::{Notifier, NotifyInfo, NotifyingFileSystemContext};
use winfsp::{FspError, U16CStr};
use winfsp_sys::{FILE_ACCESS_RIGHTS, FILE_FLAGS_AND_ATTRIBUTES};

use crate::ntstatus::{status, to_ntstatus};

/// The WinFsp side of one mounted drive.
#[derive(Debug)]
pub struct PailContext {
    vol: WinVolume,
    rt: tokio::runtime::Handle,
    /// The self-relative security descriptor every file shows.
    security: Vec<u8>,
    /// Set when WinFsp's dispatcher stopped.
    stopped: Arc<AtomicBool>,
}

impl PailContext {
    /// A context serving `vfs` with calls run on `rt`; `label` is the volume label and
    /// `security` the descriptor every file carries (`security::drive_descriptor`).
    pub fn new(vfs: Arc<Vfs>, rt: tokio::runtime::Handle, label: &str, security: Vec<u8>) -> Self {
        Self {
            vol: WinVolume::new(vfs, label),
            rt,
            security,
            stopped: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether WinFsp's dispatcher has stopped, shared with the host.
    pub fn stopped(&self) -> Arc<AtomicBool> {
        self.stopped.clone()
    }

    /// Copies the security descriptor into WinFsp's buffer; its size either way.
    fn copy_security(&self, buffer: Option<&mut [c_void]>) -> winfsp::Result<u64> {
        if let Some(buffer) = buffer {
            if buffer.len() < self.security.len() {
                return Err(FspError::NTSTATUS(status::BUFFER_OVERFLOW));
            }
            // SAFETY: `buffer` is writable for `buffer.len()` bytes, at least the descriptor's
            // length, and does not overlap `self.security`.
            #[allow(unsafe_code)]
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.security.as_ptr(),
                    buffer.as_mut_ptr().cast::<u8>(),
                    self.security.len(),
                );
            }
        }
        Ok(self.security.len() as u64)
    }
}

/// A WinFsp name as a path; a name Windows cannot give a file system (too long, not UTF-16, a
/// stream) is OBJECT_NAME_INVALID.
fn path_of(name: &U16CStr) -> winfsp::Result<VfsPath> {
    path_from_wide(name.as_slice()).map_err(|e| fs_err(&e))
}

/// The adapter's one place that turns an error into NTSTATUS (and logs it, once).
fn fs_err(e: &FsError) -> FspError {
    tracing::debug!(error = %e, "winfsp call failed");
    FspError::NTSTATUS(to_ntstatus(e.kind()))
}

fn fill(out: &mut FileInfo, info: &WinInfo) {
    out.file_attributes = info.attributes;
    out.reparse_tag = 0;
    out.file_size = info.file_size;
    out.allocation_size = info.allocation_size;
    out.creation_time = info.creation_time;
    out.last_access_time = info.access_time;
    out.last_write_time = info.time;
    out.change_time = info.change_time;
    out.index_number = info.index_number;
    out.hard_links = 0;
    out.ea_size = 0;
}

fn opened(file: WinFile, info: &WinInfo, out: &mut OpenFileInfo) -> WinFile {
    fill(out.as_mut(), info);
    // Case-insensitive and case-preserving: Windows shows the name as stored.
    out.set_normalized_name(&wide_name(&file.path()), None);
    file
}

impl FileSystemContext for PailContext {
    type FileContext = WinFile;

    #[tracing::instrument(level = "debug", skip_all, fields(op = "get_security_by_name"))]
    fn get_security_by_name(
        &self,
        file_name: &U16CStr,
        security_descriptor: Option<&mut [c_void]>,
        _reparse_point_resolver: impl FnOnce(&U16CStr) -> Option<FileSecurity>,
    ) -> winfsp::Result<FileSecurity> {
        let path = path_of(file_name)?;
        let attributes = self
            .rt
            .block_on(self.vol.attributes_of(&path))
            .map_err(|e| fs_err(&e))?;
        Ok(FileSecurity {
            reparse: false,
            sz_security_descriptor: self.copy_security(security_descriptor)?,
            attributes,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "open"))]
    fn open(
        &self,
        file_name: &U16CStr,
        _create_options: u32,
        granted_access: FILE_ACCESS_RIGHTS,
        file_info: &mut OpenFileInfo,
    ) -> winfsp::Result<Self::FileContext> {
        let path = path_of(file_name)?;
        let (file, info) = self
            .rt
            .block_on(self.vol.open(&path, granted_access))
            .map_err(|e| fs_err(&e))?;
        Ok(opened(file, &info, file_info))
    }

    fn close(&self, context: Self::FileContext) {
        self.vol.close(context);
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "create"))]
    fn create(
        &self,
        file_name: &U16CStr,
        create_options: u32,
        _granted_access: FILE_ACCESS_RIGHTS,
        file_attributes: FILE_FLAGS_AND_ATTRIBUTES,
        _security_descriptor: Option<&[c_void]>,
        _allocation_size: u64,
        extra_buffer: Option<&[u8]>,
        extra_buffer_is_reparse_point: bool,
        file_info: &mut OpenFileInfo,
    ) -> winfsp::Result<Self::FileContext> {
        // Extended attributes and reparse points have nowhere to live in S3.
        match (extra_buffer, extra_buffer_is_reparse_point) {
            (Some(_), true) => return Err(FspError::NTSTATUS(status::NOT_SUPPORTED)),
            (Some(_), false) => return Err(FspError::NTSTATUS(status::EAS_NOT_SUPPORTED)),
            (None, _) => {}
        }
        let path = path_of(file_name)?;
        let (file, info) = self
            .rt
            .block_on(self.vol.create(&path, create_options, file_attributes))
            .map_err(|e| fs_err(&e))?;
        Ok(opened(file, &info, file_info))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "overwrite"))]
    fn overwrite(
        &self,
        context: &Self::FileContext,
        file_attributes: FILE_FLAGS_AND_ATTRIBUTES,
        replace_file_attributes: bool,
        _allocation_size: u64,
        extra_buffer: Option<&[u8]>,
        file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        if extra_buffer.is_some() {
            return Err(FspError::NTSTATUS(status::EAS_NOT_SUPPORTED));
        }
        let info = self
            .rt
            .block_on(self.vol.overwrite(context, file_attributes, replace_file_attributes))
            .map_err(|e| fs_err(&e))?;
        fill(file_info, &info);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "cleanup"))]
    fn cleanup(&self, context: &Self::FileContext, _file_name: Option<&U16CStr>, flags: u32) {
        // Cleanup cannot fail towards Windows; what went wrong is logged (and, for a write,
        // stays staged and is reported by `pail status`).
        if let Err(e) = self
            .rt
            .block_on(self.vol.cleanup(context, CleanupFlags::from_bits(flags)))
        {
            tracing::error!(error = %e, path = %context.path(), "closing the file failed");
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "flush"))]
    fn flush(&self, context: Option<&Self::FileContext>, file_info: &mut FileInfo) -> winfsp::Result<()> {
        // A volume flush (no context) has nothing to wait for per file.
        let Some(context) = context else { return Ok(()) };
        let info = self.rt.block_on(self.vol.flush(context)).map_err(|e| fs_err(&e))?;
        fill(file_info, &info);
        Ok(())
    }

    fn get_file_info(&self, context: &Self::FileContext, file_info: &mut FileInfo) -> winfsp::Result<()> {
        let info = self.vol.file_info(context).map_err(|e| fs_err(&e))?;
        fill(file_info, &info);
        Ok(())
    }

    fn get_security(
        &self,
        _context: &Self::FileContext,
        security_descriptor: Option<&mut [c_void]>,
    ) -> winfsp::Result<u64> {
        self.copy_security(security_descriptor)
    }

    fn set_security(
        &self,
        context: &Self::FileContext,
        _security_information: u32,
        _modification_descriptor: ModificationDescriptor,
    ) -> winfsp::Result<()> {
        // S3 keeps no ACLs; like chmod on Linux, a change is accepted without effect.
        tracing::debug!(path = %context.path(), "security change ignored: S3 keeps no ACLs");
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "set_basic_info"))]
    fn set_basic_info(
        &self,
        context: &Self::FileContext,
        file_attributes: u32,
        creation_time: u64,
        last_access_time: u64,
        last_write_time: u64,
        last_change_time: u64,
        file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        let basic = BasicInfo {
            attributes: file_attributes,
            creation_time,
            last_access_time,
            last_write_time,
            change_time: last_change_time,
        };
        let info = self
            .rt
            .block_on(self.vol.set_basic_info(context, &basic))
            .map_err(|e| fs_err(&e))?;
        fill(file_info, &info);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "set_file_size"))]
    fn set_file_size(
        &self,
        context: &Self::FileContext,
        new_size: u64,
        set_allocation_size: bool,
        file_info: &mut FileInfo,
    ) -> winfsp::Result<()> {
        let info = self
            .rt
            .block_on(self.vol.set_file_size(context, new_size, set_allocation_size))
            .map_err(|e| fs_err(&e))?;
        fill(file_info, &info);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "rename"))]
    fn rename(
        &self,
        context: &Self::FileContext,
        _file_name: &U16CStr,
        new_file_name: &U16CStr,
        replace_if_exists: bool,
    ) -> winfsp::Result<()> {
        let to = path_of(new_file_name)?;
        self.rt
            .block_on(self.vol.rename(context, &to, replace_if_exists))
            .map_err(|e| fs_err(&e))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "set_delete"))]
    fn set_delete(&self, context: &Self::FileContext, _file_name: &U16CStr, delete_file: bool) -> winfsp::Result<()> {
        self.rt
            .block_on(self.vol.set_delete(context, delete_file))
            .map_err(|e| fs_err(&e))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(op = "get_dir_info_by_name"))]
    fn get_dir_info_by_name(
        &self,
        context: &Self::FileContext,
        file_name: &U16CStr,
        out_dir_info: &mut DirInfo,
    ) -> winfsp::Result<()> {
        let name =
            String::from_utf16(file_name.as_slice()).map_err(|_| FspError::NTSTATUS(status::OBJECT_NAME_INVALID))?;
        let entry = self
            .rt
            .block_on(self.vol.dir_entry(context, &name))
            .map_err(|e| fs_err(&e))?;
        fill(out_dir_info.file_info_mut(), &entry.info);
        out_dir_info
            .set_name(&entry.name)
            .map_err(|_| FspError::NTSTATUS(status::OBJECT_NAME_INVALID))
    }

    fn dispatcher_stopped(&self, normally: bool) {
        // WinFsp stopped serving the volume (unmounted, or the driver gave up on it): the CLI
        // sees it through `DriveHost::has_stopped` and ends the mount.
        if !normally {
            tracing::error!("WinFsp stopped serving the drive");
        }
        self.stopped.store(true, std::sync::atomic::Ordering::Release);
    }

    fn get_volume_info(&self, out_volume_info: &mut VolumeInfo) -> winfsp::Result<()> {
        let v = self.vol.volume_info();
        out_volume_info.total_size = v.total_size;
        out_volume_info.free_size = v.free_size;
        out_volume_info.set_volume_label(&v.label);
        Ok(())
    }

    fn set_volume_label(&self, volume_label: &U16CStr, volume_info: &mut VolumeInfo) -> winfsp::Result<()> {
        let v = self.vol.set_volume_label(&volume_label.to_string_lossy());
        volume_info.total_size = v.total_size;
        volume_info.free_size = v.free_size;
        volume_info.set_volume_label(&v.label);
        Ok(())
    }

    // read, write and read_directory are served by the async interface below; the host is
    // built with `FileSystemHost::new_async`, which never calls the synchronous ones.
}

/// Changes others made reach Windows through WinFsp's notify timer: each tick takes what
/// listings found since the last one and sends it with `FspFileSystemNotify`.
impl NotifyingFileSystemContext<Vec<WinNotify>> for PailContext {
    fn should_notify(&self) -> Option<Vec<WinNotify>> {
        let pending = self.vol.notifications();
        (!pending.is_empty()).then_some(pending)
    }

    fn notify(&self, changes: Vec<WinNotify>, notifier: &Notifier) {
        for change in changes {
            let mut info: NotifyInfo<1024> = NotifyInfo::new();
            info.filter = change.filter;
            info.action = change.action;
            if info.set_name_raw(change.name.as_slice()).is_err() {
                continue; // longer than WinFsp's names; never made by this drive
            }
            notifier.notify(&info);
        }
    }
}

impl AsyncFileSystemContext for PailContext {
    async fn read_async(&self, context: &Self::FileContext, buffer: &mut [u8], offset: u64) -> winfsp::Result<u32> {
        let len = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        let data = self.vol.read(context, offset, len).await.map_err(|e| fs_err(&e))?;
        if data.is_empty() && len > 0 {
            return Err(FspError::NTSTATUS(status::END_OF_FILE));
        }
        buffer[..data.len()].copy_from_slice(&data);
        Ok(data.len() as u32)
    }

    async fn write_async(
        &self,
        context: &Self::FileContext,
        buffer: &[u8],
        offset: u64,
        write_to_eof: bool,
        constrained_io: bool,
        file_info: &mut FileInfo,
    ) -> winfsp::Result<u32> {
        let (written, info) = self
            .vol
            .write(context, buffer, offset, write_to_eof, constrained_io)
            .await
            .map_err(|e| fs_err(&e))?;
        fill(file_info, &info);
        Ok(written)
    }

    async fn read_directory_async(
        &self,
        context: &Self::FileContext,
        _pattern: Option<&U16CStr>,
        marker: DirMarker<'_>,
        buffer: &mut [u8],
    ) -> winfsp::Result<u32> {
        let marker = marker.inner().map(String::from_utf16_lossy);
        let entries = self
            .vol
            .read_directory(context, marker.as_deref())
            .await
            .map_err(|e| fs_err(&e))?;
        let mut cursor = 0u32;
        for entry in &entries {
            let mut info: DirInfo = DirInfo::new();
            fill(info.file_info_mut(), &entry.info);
            if info.set_name(&entry.name).is_err() {
                tracing::warn!(name = %entry.name, "name too long for a Windows directory entry; skipped");
                continue;
            }
            if !info.append_to_buffer(buffer, &mut cursor) {
                // Full: WinFsp asks again with the last name that fit as the marker.
                return Ok(cursor);
            }
        }
        DirInfo::<255>::finalize_buffer(buffer, &mut cursor);
        Ok(cursor)
    }

    fn spawn_task(&self, future: impl std::future::Future<Output = ()> + Send + 'static) {
        self.rt.spawn(future);
    }
}
