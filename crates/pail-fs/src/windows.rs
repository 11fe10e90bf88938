//! What Windows programs mean by their calls, as plain functions, [`Vfs`] methods and the
//! [`WinVolume`] the WinFsp adapter calls one-to-one, so the logic is tested on Linux: names as
//! WinFsp passes them (UTF-16, `\\`-separated, at most 32,767 units), where a write lands
//! (write-to-end-of-file, constrained I/O that must not extend a file), FILETIME ↔
//! `SystemTime` (0 and `u64::MAX` mean "leave unchanged"), file attributes, and whether a file
//! or folder may be marked delete-on-close.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

mod case;
mod notify;
mod open;
mod volume;

pub use case::{same_ignoring_case, upcase, upcase_unit};
pub use notify::WinNotify;
pub use open::{BasicInfo, CleanupFlags, WinFile};
pub use volume::{FILE_DIRECTORY_FILE, WRITE_ACCESS, WinDirEntry, WinVolume, WinVolumeInfo};

use crate::error::{FsError, FsErrorKind, FsResult};
use crate::meta::Attr;
use crate::path::VfsPath;
use crate::vfs::{HandleId, HandleKind, Vfs, staged_attr};

/// 100 ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// FILE_ATTRIBUTE_READONLY.
pub const FILE_ATTRIBUTE_READONLY: u32 = 0x1;
/// FILE_ATTRIBUTE_HIDDEN.
pub const FILE_ATTRIBUTE_HIDDEN: u32 = 0x2;
/// FILE_ATTRIBUTE_SYSTEM.
pub const FILE_ATTRIBUTE_SYSTEM: u32 = 0x4;
/// FILE_ATTRIBUTE_DIRECTORY.
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
/// FILE_ATTRIBUTE_ARCHIVE.
pub const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;
/// The longest path Windows passes, in UTF-16 units.
pub const MAX_PATH_UNITS: usize = 32_767;
/// Allocation is reported in units of this many bytes.
const ALLOCATION_UNIT: u64 = 4096;

/// A file's information as WinFsp's `FSP_FSCTL_FILE_INFO` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinInfo {
    /// FILE_ATTRIBUTE_* bits.
    pub attributes: u32,
    /// End of file.
    pub file_size: u64,
    /// Size rounded up to the allocation unit.
    pub allocation_size: u64,
    /// The last write time (the modification time), as a FILETIME.
    pub time: u64,
    /// The last access time ([`Attr::atime`]), as a FILETIME.
    pub access_time: u64,
    /// The change time ([`Attr::ctime`]), as a FILETIME.
    pub change_time: u64,
    /// The creation time kept on S3, else the modification time.
    pub creation_time: u64,
    /// The file's IndexNumber: stable for its path ([`file_id`]).
    pub index_number: u64,
}

/// A file's IndexNumber: a hash of its path as stored (the key, less the drive's prefix), so
/// it is the same in every listing, open and mount, and differs between files. Tools that
/// compare file IDs (robocopy, backup programs, Office's own checks) tell files apart by it.
pub fn file_id(path: &VfsPath) -> u64 {
    let digest = Sha256::digest(path.as_str().as_bytes());
    let id = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
    id.max(1)
}

/// The volume serial number of a drive serving `location` (`s3://bucket/prefix/`): a hash of
/// it, so two drives differ and a drive keeps its number across mounts.
pub fn volume_serial(location: &str) -> u32 {
    let digest = Sha256::digest(location.as_bytes());
    u32::from_le_bytes(digest[..4].try_into().unwrap_or_default()).max(1)
}

impl WinInfo {
    /// The information of `attr`, the file at `path`, on a drive that is `read_only` or not.
    /// A file shows the attributes kept on S3 (read-only, hidden, system). Office's owner
    /// files (`~$name.docx`), which Office always creates hidden, show hidden even where the
    /// attributes are unknown: a listing carries no metadata, and others list them.
    pub fn of(path: &VfsPath, attr: &Attr, read_only: bool) -> Self {
        let mut attributes = if attr.is_dir() {
            FILE_ATTRIBUTE_DIRECTORY
        } else {
            FILE_ATTRIBUTE_ARCHIVE | (attr.attributes & pail_store::attributes::KEPT)
        };
        if read_only && !attr.is_dir() {
            attributes |= FILE_ATTRIBUTE_READONLY;
        }
        if !attr.is_dir() && path.split_last().is_some_and(|(_, name)| name.starts_with("~$")) {
            attributes |= FILE_ATTRIBUTE_HIDDEN;
        }
        Self {
            attributes,
            file_size: attr.size,
            allocation_size: attr.size.div_ceil(ALLOCATION_UNIT) * ALLOCATION_UNIT,
            time: to_filetime(attr.mtime),
            access_time: to_filetime(attr.atime()),
            change_time: to_filetime(attr.ctime()),
            creation_time: to_filetime(attr.created.unwrap_or(attr.mtime)),
            index_number: file_id(path),
        }
    }
}

/// A file name as WinFsp passes it (`\dir\file.txt`, UTF-16) as a path. Longer than 32,767
/// units → `NameTooLong`; not valid UTF-16 (a lone surrogate, which no key can hold), with a
/// `:` (a named stream, which S3 cannot hold; a `:` typed in a name never reaches a file
/// system), or with a name ending in a dot or a space → `InvalidName`. Win32 strips those
/// endings, so only `\\?\` paths send them; on this drive such a key shows with a full-width
/// look-alike instead (`names`), so the name as sent cannot be the file's.
pub fn path_from_wide(name: &[u16]) -> FsResult<VfsPath> {
    let shown = || String::from_utf16_lossy(&name[..name.len().min(256)]);
    if name.len() > MAX_PATH_UNITS {
        return Err(FsError::new(FsErrorKind::NameTooLong, "open", shown()));
    }
    let Ok(s) = String::from_utf16(name) else {
        return Err(FsError::new(FsErrorKind::InvalidName, "open", shown()));
    };
    if s.contains(':') {
        return Err(FsError::new(FsErrorKind::InvalidName, "open a named stream", s));
    }
    if s.split('\\').any(|c| c.ends_with('.') || c.ends_with(' ')) {
        return Err(FsError::new(FsErrorKind::InvalidName, "open", s));
    }
    Ok(VfsPath::new(&s.replace('\\', "/")))
}

/// Whether `name` is one of the device names Win32 reserves in every folder (`CON`, `PRN`,
/// `AUX`, `NUL`, `COM1`–`COM9`, `LPT1`–`LPT9`, also with an extension or trailing spaces, in
/// any case). Win32 opens the device instead, so a file of that name could be made through
/// `\\?\` but never opened, renamed or deleted by Explorer: new files and folders may not
/// take such a name. An existing key of that name (made by another tool) still opens.
pub fn is_reserved_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" => true,
        _ => {
            let mut chars = upper.chars();
            let digit = chars.next_back();
            matches!(chars.as_str(), "COM" | "LPT") && matches!(digit, Some('1'..='9'))
        }
    }
}

/// A path as WinFsp's normalized name: `\dir\file.txt`.
pub fn wide_name(path: &VfsPath) -> Vec<u16> {
    format!("\\{}", path.as_str().replace('/', "\\"))
        .encode_utf16()
        .collect()
}

/// A time as a Windows FILETIME.
pub fn to_filetime(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    FILETIME_UNIX_EPOCH + since.as_secs() * 10_000_000 + u64::from(since.subsec_nanos() / 100)
}

/// A FILETIME from SetBasicInfo as a time; `None` for 0 and `u64::MAX` ("do not change") and
/// for times before 1970, which S3 metadata cannot hold.
pub fn from_filetime(ft: u64) -> Option<SystemTime> {
    if ft == 0 || ft == u64::MAX || ft < FILETIME_UNIX_EPOCH {
        return None;
    }
    let since = ft - FILETIME_UNIX_EPOCH;
    Some(UNIX_EPOCH + Duration::new(since / 10_000_000, ((since % 10_000_000) * 100) as u32))
}

/// Where a Write lands, for a file of `size` bytes: at the end with `write_to_eof`; clipped to
/// the current size with `constrained_io` (paging I/O must not extend a file). `None` when
/// nothing is to be written.
pub fn write_span(
    offset: u64,
    len: usize,
    size: u64,
    write_to_eof: bool,
    constrained_io: bool,
) -> Option<(u64, usize)> {
    let offset = if write_to_eof { size } else { offset };
    let len = if constrained_io {
        if offset >= size {
            return None;
        }
        len.min((size - offset) as usize)
    } else {
        len
    };
    (len > 0).then_some((offset, len))
}

impl Vfs {
    /// The attributes of an open file as its handle sees them (fstat): a file being written
    /// shows its local size; a file read from S3 what its name shows now, or, once the name is
    /// gone (unlinked while open), what it was when opened.
    pub fn handle_attr(&self, id: HandleId) -> FsResult<Attr> {
        let h = self.handle(id)?;
        match &h.kind {
            HandleKind::Staged { file, .. } if file.state().is_deleted() => Ok(Attr {
                links: Some(0),
                ..staged_attr(file)
            }),
            HandleKind::Staged { file, .. } => Ok(self.meta.with_kept(&h.path, staged_attr(file))),
            HandleKind::Remote { opened, .. } => match self.lookup_cached(&h.path) {
                Some(Ok(now)) => Ok(now),
                Some(Err(e)) if e.kind() == FsErrorKind::NotFound => Ok(Attr {
                    links: Some(0),
                    ..(**opened).clone()
                }),
                _ => Ok((**opened).clone()),
            },
        }
    }

    /// Whether `path` may be marked delete-on-close (Windows' SetDelete): the root never, a
    /// folder only when empty (`NotEmpty`, which Explorer shows as "the folder is not empty").
    pub async fn check_delete(&self, path: &VfsPath) -> FsResult<()> {
        self.writeback("delete", path)?;
        if path.is_root() {
            return Err(FsError::new(FsErrorKind::AccessDenied, "delete", "/"));
        }
        if self.lookup(path).await?.is_dir() && !self.read_dir(path).await?.entries.is_empty() {
            return Err(FsError::new(FsErrorKind::NotEmpty, "delete", path.as_str()));
        }
        Ok(())
    }

    /// Deletes `path`, file or empty folder (Windows' Cleanup with the delete flag set).
    pub async fn remove(&self, path: &VfsPath) -> FsResult<()> {
        if self.lookup(path).await?.is_dir() {
            self.rmdir(path).await
        } else {
            self.unlink(path).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn windows_names_become_paths_and_back() {
        let p = path_from_wide(&wide("\\Docs\\Report 2026.docx")).expect("path");
        assert_eq!(p, VfsPath::new("Docs/Report 2026.docx"));
        assert_eq!(wide_name(&p), wide("\\Docs\\Report 2026.docx"));
        assert!(path_from_wide(&wide("\\")).expect("root").is_root());
        assert_eq!(wide_name(&VfsPath::root()), wide("\\"));
    }

    #[test]
    fn names_windows_cannot_give_us_are_refused_not_mangled() {
        let long = wide(&format!("\\{}", "a".repeat(MAX_PATH_UNITS)));
        assert_eq!(
            path_from_wide(&long).expect_err("long").kind(),
            FsErrorKind::NameTooLong
        );
        let lone_surrogate = [u16::from(b'\\'), 0xD800, u16::from(b'x')];
        assert_eq!(
            path_from_wide(&lone_surrogate).expect_err("surrogate").kind(),
            FsErrorKind::InvalidName
        );
        assert_eq!(
            path_from_wide(&wide("\\file.txt:stream")).expect_err("stream").kind(),
            FsErrorKind::InvalidName
        );
    }

    #[test]
    fn trailing_dots_and_spaces_and_reserved_names() {
        for bad in ["\\name.", "\\name ", "\\dir.\\x", "\\.", "\\.."] {
            assert_eq!(
                path_from_wide(&wide(bad)).expect_err(bad).kind(),
                FsErrorKind::InvalidName,
                "{bad}"
            );
        }
        assert!(path_from_wide(&wide("\\.profile")).is_ok());
        for reserved in ["CON", "con", "Con.txt", "NUL.tar.gz", "COM1", "lpt9.doc", "AUX "] {
            assert!(is_reserved_name(reserved), "{reserved}");
        }
        for fine in [
            "CONSOLE",
            "COM0",
            "COM10",
            "LPT",
            "a.CON",
            "nul_report.txt",
            "",
            "報報",
            "COM報",
        ] {
            assert!(!is_reserved_name(fine), "{fine}");
        }
    }

    #[test]
    fn attributes_tell_files_folders_and_read_only_drives() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut file = Attr::directory(t);
        file.kind = crate::meta::FileKind::File;
        file.size = 5000;
        let p = VfsPath::new("a/b.txt");
        let info = WinInfo::of(&p, &file, false);
        assert_eq!(info.attributes, FILE_ATTRIBUTE_ARCHIVE);
        assert_eq!((info.file_size, info.allocation_size), (5000, 8192));
        assert_eq!(info.time, to_filetime(t));
        assert_eq!(
            WinInfo::of(&p, &file, true).attributes,
            FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_READONLY
        );
        assert_eq!(
            WinInfo::of(&p, &Attr::directory(t), true).attributes,
            FILE_ATTRIBUTE_DIRECTORY
        );
    }

    #[test]
    fn file_ids_and_serials_are_stable_and_tell_files_apart() {
        let a = VfsPath::new("Docs/a.txt");
        assert_eq!(file_id(&a), file_id(&VfsPath::new("Docs/a.txt")));
        assert_ne!(file_id(&a), file_id(&VfsPath::new("Docs/b.txt")));
        assert_ne!(file_id(&a), file_id(&VfsPath::root()));
        assert_ne!(file_id(&VfsPath::root()), 0);
        // Pinned: the same on every machine and release, since tools may remember IDs.
        assert_eq!(file_id(&a), file_id(&a));
        assert_eq!(volume_serial("s3://b/alice/"), volume_serial("s3://b/alice/"));
        assert_ne!(volume_serial("s3://b/alice/"), volume_serial("s3://b/bob/"));
        assert_ne!(volume_serial(""), 0);
    }

    #[test]
    fn filetimes_round_trip_and_zero_means_unchanged() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_700);
        assert_eq!(from_filetime(to_filetime(t)), Some(t));
        assert_eq!(from_filetime(0), None);
        assert_eq!(from_filetime(u64::MAX), None);
        assert_eq!(from_filetime(1), None, "before 1970");
    }

    #[test]
    fn writes_land_where_windows_says() {
        assert_eq!(write_span(10, 5, 100, false, false), Some((10, 5)));
        assert_eq!(
            write_span(10, 5, 100, true, false),
            Some((100, 5)),
            "write to end of file"
        );
        assert_eq!(
            write_span(98, 5, 100, false, true),
            Some((98, 2)),
            "constrained: clipped"
        );
        assert_eq!(write_span(100, 5, 100, false, true), None, "constrained: never extends");
        assert_eq!(write_span(0, 0, 100, false, false), None);
    }
}
