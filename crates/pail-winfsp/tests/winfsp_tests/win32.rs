//! The Win32 calls winfsp-tests makes, as kernel32 turns them into NT calls on the
//! [`Driver`], and a drive to make them on: pail-fs over pail-store and HTTP against
//! pail-emulator, with Windows name encoding, as `pail mount` sets it up on Windows.

use std::sync::Arc;
use std::time::Duration;

use pail_emulator::Emulator;
use pail_fs::{BasicInfo, NameEncoding, Vfs, VfsConfig, WinVolume, WritebackConfig};
use pail_store::{S3Store, S3StoreConfig};

use super::driver::*;

pub const BUCKET: &str = "winfsp";

/// CreateFileW flags.
pub const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
pub const FILE_FLAG_DELETE_ON_CLOSE: u32 = 0x0400_0000;
/// CreateFileW dispositions.
pub const CREATE_NEW: u32 = 1;
pub const CREATE_ALWAYS: u32 = 2;
pub const OPEN_EXISTING: u32 = 3;
pub const OPEN_ALWAYS: u32 = 4;
pub const TRUNCATE_EXISTING: u32 = 5;
pub const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
pub const SHARE_RW: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE;

/// One mounted drive under the driver model.
pub struct Drive {
    pub emu: Emulator,
    pub d: Driver,
    _cache: tempfile::TempDir,
}

async fn volume(emu: &Emulator, cache: &std::path::Path, metadata_ttl: Duration) -> WinVolume {
    let (ak, sk) = emu.credentials();
    let cfg = S3StoreConfig::for_endpoint(BUCKET, &emu.endpoint(), pail_emulator::REGION, ak, sk);
    let store = Arc::new(S3Store::new(cfg).await.expect("store"));
    let mut wb = WritebackConfig::new(cache);
    wb.delay = Duration::ZERO;
    let cfg = VfsConfig {
        names: NameEncoding::Windows,
        writeback: Some(wb),
        metadata_ttl,
        ..VfsConfig::default()
    };
    WinVolume::new(Vfs::new(store, cfg).expect("vfs"), "winfsp")
}

impl Drive {
    pub async fn new() -> Self {
        Self::with_ttl(VfsConfig::default().metadata_ttl).await
    }

    /// A drive whose metadata and listings are cached for `metadata_ttl`.
    pub async fn with_ttl(metadata_ttl: Duration) -> Self {
        let emu = Emulator::start_with_buckets(&[BUCKET]).await.expect("emulator");
        let cache = tempfile::tempdir().expect("cache");
        let d = Driver::new(volume(&emu, cache.path(), metadata_ttl).await);
        Self { emu, d, _cache: cache }
    }

    /// A second mount of the same bucket with an empty cache: what S3 holds, as another
    /// user's drive sees it.
    pub async fn remount(&self) -> (Driver, tempfile::TempDir) {
        let cache = tempfile::tempdir().expect("cache");
        let ttl = VfsConfig::default().metadata_ttl;
        (Driver::new(volume(&self.emu, cache.path(), ttl).await), cache)
    }

    /// Waits until every closed file is on S3.
    pub async fn settle(&self) {
        self.d.vol.vfs().drain(&|_| {}).await;
    }

    pub fn keys(&self) -> Vec<String> {
        self.emu.keys(BUCKET, "")
    }
}

/// CreateFileW: generic rights plus SYNCHRONIZE and FILE_READ_ATTRIBUTES, FILE_NON_DIRECTORY_FILE
/// unless FILE_FLAG_BACKUP_SEMANTICS, DELETE with FILE_FLAG_DELETE_ON_CLOSE.
pub async fn create_file(d: &Driver, name: &str, access: u32, share: u32, how: u32, flags: u32) -> NtResult<Handle> {
    let disposition = match how {
        CREATE_NEW => FILE_CREATE,
        CREATE_ALWAYS => FILE_OVERWRITE_IF,
        OPEN_EXISTING => FILE_OPEN,
        OPEN_ALWAYS => FILE_OPEN_IF,
        TRUNCATE_EXISTING => FILE_OVERWRITE,
        _ => panic!("not a disposition: {how}"),
    };
    let mut options = 0;
    let mut access = access | SYNCHRONIZE | FILE_READ_ATTRIBUTES;
    if flags & FILE_FLAG_BACKUP_SEMANTICS == 0 {
        options |= FILE_NON_DIRECTORY_FILE;
    }
    if flags & FILE_FLAG_DELETE_ON_CLOSE != 0 {
        options |= FILE_DELETE_ON_CLOSE;
        access |= DELETE;
    }
    let attributes = flags & 0xFFFF & !FILE_ATTRIBUTE_NORMAL;
    d.nt_create(name, access, share, disposition, options, attributes).await
}

/// CreateFileW and CloseHandle.
pub async fn touch(d: &Driver, name: &str, how: u32, flags: u32) -> NtResult<()> {
    let h = create_file(d, name, GENERIC_READ | GENERIC_WRITE, SHARE_RW, how, flags).await?;
    let _ = d.close(h).await;
    Ok(())
}

/// CreateDirectoryW.
pub async fn create_directory(d: &Driver, name: &str) -> NtResult<()> {
    let h = d
        .nt_create(
            name,
            FILE_READ_DATA | SYNCHRONIZE,
            SHARE_RW,
            FILE_CREATE,
            FILE_DIRECTORY_FILE,
            0,
        )
        .await?;
    let _ = d.close(h).await;
    Ok(())
}

async fn delete_as(d: &Driver, name: &str, options: u32) -> NtResult<()> {
    let h = d
        .nt_create(
            name,
            DELETE | SYNCHRONIZE | FILE_READ_ATTRIBUTES,
            SHARE_ALL,
            FILE_OPEN,
            options,
            0,
        )
        .await?;
    let marked = d.set_disposition(h, true).await;
    let _ = d.close(h).await;
    marked
}

/// DeleteFileW: open for DELETE (not a folder), mark, close.
pub async fn delete_file(d: &Driver, name: &str) -> NtResult<()> {
    delete_as(d, name, FILE_NON_DIRECTORY_FILE).await
}

/// RemoveDirectoryW.
pub async fn remove_directory(d: &Driver, name: &str) -> NtResult<()> {
    delete_as(d, name, FILE_DIRECTORY_FILE).await
}

/// MoveFileExW: open the source for DELETE, rename.
pub async fn move_file(d: &Driver, from: &str, to: &str, replace: bool) -> NtResult<()> {
    let h = d
        .nt_create(from, DELETE | SYNCHRONIZE, SHARE_ALL, FILE_OPEN, 0, 0)
        .await?;
    let moved = d.rename(h, to, replace).await;
    let _ = d.close(h).await;
    moved
}

/// GetFileAttributesW.
pub async fn get_file_attributes(d: &Driver, name: &str) -> NtResult<u32> {
    let h = d
        .nt_create(name, FILE_READ_ATTRIBUTES | SYNCHRONIZE, SHARE_ALL, FILE_OPEN, 0, 0)
        .await?;
    let info = d.info(h).await;
    let _ = d.close(h).await;
    Ok(info?.attributes)
}

/// SetFileAttributesW.
pub async fn set_file_attributes(d: &Driver, name: &str, attributes: u32) -> NtResult<()> {
    let h = d
        .nt_create(name, FILE_WRITE_ATTRIBUTES | SYNCHRONIZE, SHARE_ALL, FILE_OPEN, 0, 0)
        .await?;
    let basic = BasicInfo {
        attributes,
        creation_time: 0,
        last_access_time: 0,
        last_write_time: 0,
        change_time: 0,
    };
    let set = d.set_basic_info(h, basic).await.map(|_| ());
    let _ = d.close(h).await;
    set
}

/// Writes `data` at 0 through a new handle and closes it.
pub async fn write_file(d: &Driver, name: &str, data: &[u8]) -> NtResult<()> {
    let h = create_file(d, name, GENERIC_WRITE, 0, CREATE_ALWAYS, 0).await?;
    d.write(h, 0, data).await?;
    let _ = d.close(h).await;
    Ok(())
}

/// The names FindFirstFileW/FindNextFileW return for `dir\pattern`.
pub async fn find_names(d: &Driver, dir: &str, pattern: &str) -> NtResult<Vec<String>> {
    let h = d
        .nt_create(
            dir,
            FILE_READ_DATA | SYNCHRONIZE,
            SHARE_ALL,
            FILE_OPEN,
            FILE_DIRECTORY_FILE,
            0,
        )
        .await?;
    let found = d.query_directory(h, pattern).await;
    let _ = d.close(h).await;
    Ok(found?.into_iter().map(|(n, _)| n).collect())
}
