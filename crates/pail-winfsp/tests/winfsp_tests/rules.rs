//! The rules the WinFsp driver and its dispatcher apply before and after a file system's
//! callbacks, as plain functions with their unit tests: share access (`IoCheckShareAccess`),
//! generic rights, name validity (`FspFileNameIsValid`), directory patterns, the access check
//! (`FspAccessCheckEx`), and the Win32 errors the statuses become. Each cites the WinFsp source
//! it follows (winfsp 2.x: `src/sys` is the kernel driver, `src/dll` the user-mode side).

pub use pail_winfsp::status::*;

/// NTSTATUS values the driver itself answers with (ntstatus.h).
pub const SHARING_VIOLATION: i32 = 0xC000_0043_u32 as i32;
pub const DELETE_PENDING: i32 = 0xC000_0056_u32 as i32;
pub const CANNOT_DELETE: i32 = 0xC000_0121_u32 as i32;
pub const INVALID_PARAMETER: i32 = 0xC000_000D_u32 as i32;

/// Access rights (winnt.h). For a folder, WRITE_DATA is ADD_FILE and APPEND_DATA ADD_SUBDIRECTORY.
pub const FILE_READ_DATA: u32 = 0x0001;
pub const FILE_WRITE_DATA: u32 = 0x0002;
pub const FILE_APPEND_DATA: u32 = 0x0004;
pub const FILE_EXECUTE: u32 = 0x0020;
pub const FILE_DELETE_CHILD: u32 = 0x0040;
pub const FILE_READ_ATTRIBUTES: u32 = 0x0080;
pub const FILE_WRITE_ATTRIBUTES: u32 = 0x0100;
pub const DELETE: u32 = 0x0001_0000;
pub const SYNCHRONIZE: u32 = 0x0010_0000;
pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
pub const GENERIC_ALL: u32 = 0x1000_0000;
pub const GENERIC_WRITE: u32 = 0x4000_0000;
pub const GENERIC_READ: u32 = 0x8000_0000;
const FILE_GENERIC_READ: u32 = 0x0012_0089;
const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
const FILE_ALL_ACCESS: u32 = 0x001F_01FF;

/// Share modes.
pub const FILE_SHARE_READ: u32 = 1;
pub const FILE_SHARE_WRITE: u32 = 2;
pub const FILE_SHARE_DELETE: u32 = 4;

/// Create options.
pub const FILE_DIRECTORY_FILE: u32 = 0x0000_0001;
pub const FILE_NON_DIRECTORY_FILE: u32 = 0x0000_0040;
pub const FILE_DELETE_ON_CLOSE: u32 = 0x0000_1000;

/// NT create dispositions.
pub const FILE_SUPERSEDE: u32 = 0;
pub const FILE_OPEN: u32 = 1;
pub const FILE_CREATE: u32 = 2;
pub const FILE_OPEN_IF: u32 = 3;
pub const FILE_OVERWRITE: u32 = 4;
pub const FILE_OVERWRITE_IF: u32 = 5;

/// File attributes.
pub const FILE_ATTRIBUTE_READONLY: u32 = 0x01;
pub const FILE_ATTRIBUTE_HIDDEN: u32 = 0x02;
pub const FILE_ATTRIBUTE_SYSTEM: u32 = 0x04;
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
pub const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;
pub const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;

/// WinFsp's `MaxComponentLength` for pail's volume (`host.rs`).
pub const MAX_COMPONENT_LENGTH: usize = 255;
/// `FSP_FSCTL_TRANSACT_PATH_SIZEMAX` (inc/winfsp/fsctl.h): 1,024 UTF-16 units.
pub const PATH_SIZE_MAX: usize = 1024;

pub type NtResult<T> = Result<T, i32>;

/// `SHARE_ACCESS` as `IoCheckShareAccess` keeps it (WinFsp calls it in `src/sys/create.c`,
/// `FspFsvolCreateSharingViolationOplock` and the share check after the file system opened
/// the file).
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareAccess {
    pub open_count: u32,
    pub readers: u32,
    pub writers: u32,
    pub deleters: u32,
    pub shared_read: u32,
    pub shared_write: u32,
    pub shared_delete: u32,
}

impl ShareAccess {
    /// `IoCheckShareAccess` with update: `Err(SHARING_VIOLATION)` when an existing open's share
    /// mode excludes the access asked for, or this one's share mode excludes an existing open.
    /// Opens asking only for attributes or synchronization take no part.
    pub fn check_and_add(&mut self, access: u32, share: u32) -> NtResult<()> {
        let read = access & (FILE_READ_DATA | FILE_EXECUTE) != 0;
        let write = access & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0;
        let delete = access & DELETE != 0;
        if !(read || write || delete) {
            return Ok(());
        }
        let (sr, sw, sd) = (
            share & FILE_SHARE_READ != 0,
            share & FILE_SHARE_WRITE != 0,
            share & FILE_SHARE_DELETE != 0,
        );
        if (read && self.shared_read < self.open_count)
            || (write && self.shared_write < self.open_count)
            || (delete && self.shared_delete < self.open_count)
            || (self.readers != 0 && !sr)
            || (self.writers != 0 && !sw)
            || (self.deleters != 0 && !sd)
        {
            return Err(SHARING_VIOLATION);
        }
        self.open_count += 1;
        self.readers += u32::from(read);
        self.writers += u32::from(write);
        self.deleters += u32::from(delete);
        self.shared_read += u32::from(sr);
        self.shared_write += u32::from(sw);
        self.shared_delete += u32::from(sd);
        Ok(())
    }

    /// `IoRemoveShareAccess`.
    pub fn remove(&mut self, access: u32, share: u32) {
        let read = access & (FILE_READ_DATA | FILE_EXECUTE) != 0;
        let write = access & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0;
        let delete = access & DELETE != 0;
        if !(read || write || delete) {
            return;
        }
        self.open_count -= 1;
        self.readers -= u32::from(read);
        self.writers -= u32::from(write);
        self.deleters -= u32::from(delete);
        self.shared_read -= u32::from(share & FILE_SHARE_READ != 0);
        self.shared_write -= u32::from(share & FILE_SHARE_WRITE != 0);
        self.shared_delete -= u32::from(share & FILE_SHARE_DELETE != 0);
    }
}

/// Generic rights as file rights (`FspFileSystemOpCreate` maps them with the file generic
/// mapping before the access check: `src/dll/fsop.c`).
pub fn map_generic(access: u32) -> u32 {
    let mut a = access & !(GENERIC_READ | GENERIC_WRITE | GENERIC_ALL);
    if access & GENERIC_READ != 0 {
        a |= FILE_GENERIC_READ;
    }
    if access & GENERIC_WRITE != 0 {
        a |= FILE_GENERIC_WRITE;
    }
    if access & GENERIC_ALL != 0 {
        a |= FILE_ALL_ACCESS;
    }
    a
}

/// `FspFileNameIsValid` (`src/sys/name.c`) on a volume without named streams: a leading
/// `\`, no empty component (`\\`), no component longer than `MaxComponentLength`, no `:` and
/// none of the characters NTFS forbids below 0x80 (`"*/<>?|` and controls).
pub fn name_is_valid(name: &[u16]) -> bool {
    if name.first() != Some(&u16::from(b'\\')) {
        return false;
    }
    let mut component = 0usize;
    for (i, &u) in name.iter().enumerate() {
        if u == u16::from(b'\\') {
            if component > MAX_COMPONENT_LENGTH || (i > 0 && name[i - 1] == u16::from(b'\\')) {
                return false;
            }
            component = 0;
            continue;
        }
        let illegal = u < 0x20 || (u < 0x80 && b"\"*/:<>?|".contains(&(u as u8)));
        if illegal {
            return false;
        }
        component += 1;
    }
    component <= MAX_COMPONENT_LENGTH
}

/// `FsRtlIsNameInExpression` ignoring case, for `*` and `?` (the DOS wildcards `<>"` are not
/// modelled): the driver filters directory entries by the pattern itself
/// (`FspFileNameInExpression`, `src/sys/name.c`, called from `src/sys/dirctl.c`).
pub fn name_in_expression(pattern: &[u16], name: &[u16]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(&p), _) if p == u16::from(b'*') => {
            (0..=name.len()).any(|i| name_in_expression(&pattern[1..], &name[i..]))
        }
        (Some(&p), Some(_)) if p == u16::from(b'?') => name_in_expression(&pattern[1..], &name[1..]),
        (Some(&p), Some(&n)) => {
            pail_fs::upcase_unit(p) == pail_fs::upcase_unit(n) && name_in_expression(&pattern[1..], &name[1..])
        }
        _ => false,
    }
}

/// What a status means in Win32 terms, for the few the ported tests compare against
/// (`RtlNtStatusToDosError`).
pub fn win32_error(status: i32) -> u32 {
    match status {
        OBJECT_NAME_NOT_FOUND => 2, // ERROR_FILE_NOT_FOUND
        OBJECT_PATH_NOT_FOUND => 3, // ERROR_PATH_NOT_FOUND
        ACCESS_DENIED | CANNOT_DELETE | DELETE_PENDING | FILE_IS_A_DIRECTORY => 5, // ERROR_ACCESS_DENIED
        SHARING_VIOLATION => 32,    // ERROR_SHARING_VIOLATION
        OBJECT_NAME_INVALID => 123, // ERROR_INVALID_NAME
        DIRECTORY_NOT_EMPTY => 145, // ERROR_DIR_NOT_EMPTY
        OBJECT_NAME_COLLISION => 183, // ERROR_ALREADY_EXISTS
        NOT_A_DIRECTORY => 267,     // ERROR_DIRECTORY
        _ => 1117,                  // ERROR_IO_DEVICE
    }
}

pub(crate) fn units(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// `FspAccessCheckEx` (src/dll/security.c) for an existing file, after the security
/// descriptor granted the user everything (pail's descriptor grants the owner full control):
/// MAXIMUM_ALLOWED is granted in full, less the write rights of a read-only file; a read-only
/// file refuses write access and delete-on-close.
pub fn access_check(access: u32, attributes: u32, options: u32) -> NtResult<u32> {
    let read_only_file = attributes & FILE_ATTRIBUTE_READONLY != 0 && attributes & FILE_ATTRIBUTE_DIRECTORY == 0;
    let write_rights = FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_DELETE_CHILD;
    let mut granted = access & !MAXIMUM_ALLOWED;
    if access & MAXIMUM_ALLOWED != 0 {
        granted |= FILE_ALL_ACCESS;
        if read_only_file {
            granted &= !write_rights;
        }
    } else if read_only_file && access & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0 {
        return Err(ACCESS_DENIED);
    }
    if attributes & FILE_ATTRIBUTE_READONLY != 0 && options & FILE_DELETE_ON_CLOSE != 0 {
        return Err(CANNOT_DELETE);
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_access_follows_io_check_share_access() {
        let mut s = ShareAccess::default();
        s.check_and_add(FILE_READ_DATA, FILE_SHARE_READ).expect("first reader");
        s.check_and_add(FILE_READ_DATA, FILE_SHARE_READ)
            .expect("a reader sharing read");
        assert_eq!(
            s.check_and_add(FILE_WRITE_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE),
            Err(SHARING_VIOLATION)
        );
        assert_eq!(
            s.check_and_add(FILE_READ_DATA, 0),
            Err(SHARING_VIOLATION),
            "excludes the readers"
        );
        s.check_and_add(FILE_READ_ATTRIBUTES, 0)
            .expect("attributes only: no share check");
        s.remove(FILE_READ_DATA, FILE_SHARE_READ);
        s.remove(FILE_READ_DATA, FILE_SHARE_READ);
        assert_eq!(s, ShareAccess::default());
        s.check_and_add(DELETE, 0).expect("exclusive delete");
        assert_eq!(
            s.check_and_add(FILE_READ_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE),
            Err(SHARING_VIOLATION)
        );
    }

    #[test]
    fn names_follow_fsp_file_name_is_valid() {
        assert!(name_is_valid(&units("\\dir\\file.txt")));
        assert!(name_is_valid(&units("\\")));
        assert!(!name_is_valid(&units("\\dir\\\\file")), "double backslash");
        assert!(!name_is_valid(&units("\\file0*")), "wildcard");
        assert!(!name_is_valid(&units("\\DOESNOTEXIST:foo\\file0")), "stream");
        assert!(!name_is_valid(&units("\\a\u{1}b")), "control character");
        assert!(name_is_valid(&units(&format!("\\{}", "n".repeat(255)))));
        assert!(!name_is_valid(&units(&format!("\\{}", "n".repeat(256)))));
        assert!(name_is_valid(&units("\\trailing dot.")), "the driver passes these on");
    }

    #[test]
    fn generic_rights_and_maximum_allowed() {
        assert_eq!(map_generic(GENERIC_READ) & FILE_READ_DATA, FILE_READ_DATA);
        assert_eq!(map_generic(GENERIC_WRITE) & FILE_WRITE_DATA, FILE_WRITE_DATA);
        let granted = access_check(MAXIMUM_ALLOWED, FILE_ATTRIBUTE_ARCHIVE, 0).expect("granted");
        assert_eq!(granted & FILE_WRITE_DATA, FILE_WRITE_DATA, "WinFsp grants everything");
        let granted = access_check(MAXIMUM_ALLOWED, FILE_ATTRIBUTE_READONLY, 0).expect("granted");
        assert_eq!(granted & FILE_WRITE_DATA, 0, "but not writing a read-only file");
        assert_eq!(
            access_check(FILE_WRITE_DATA, FILE_ATTRIBUTE_READONLY, 0),
            Err(ACCESS_DENIED)
        );
        assert_eq!(
            access_check(DELETE, FILE_ATTRIBUTE_READONLY, FILE_DELETE_ON_CLOSE),
            Err(CANNOT_DELETE)
        );
        let dir = FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_READONLY;
        access_check(FILE_WRITE_DATA, dir, 0).expect("adding to a read-only folder");
    }

    #[test]
    fn patterns_match_ignoring_case() {
        assert!(name_in_expression(&units("*"), &units("anything")));
        assert!(name_in_expression(&units("*.TXT"), &units("a.txt")));
        assert!(name_in_expression(&units("file?"), &units("FILE1")));
        assert!(!name_in_expression(&units("file?"), &units("file10")));
    }
}
