//! Where a drive is mounted (`P:` or the next free letter) and why mounting failed, as plain
//! values so the messages a user reads are tested on Linux.

use crate::ntstatus::status;

/// Where to mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveLetter {
    /// This letter, `A`–`Z`.
    Letter(char),
    /// The next free letter (`*`).
    NextFree,
}

impl DriveLetter {
    /// Parses `P:`, `p:`, `P:\` or `*`.
    pub fn parse(s: &str) -> Result<Self, MountError> {
        let t = s.trim();
        if t == "*" {
            return Ok(Self::NextFree);
        }
        let t = t.strip_suffix('\\').unwrap_or(t);
        let mut chars = t.chars();
        match (chars.next(), chars.next(), chars.next()) {
            (Some(c), Some(':'), None) if c.is_ascii_alphabetic() => Ok(Self::Letter(c.to_ascii_uppercase())),
            _ => Err(MountError::InvalidLetter(s.to_owned())),
        }
    }

    /// Whether `s` names a drive letter rather than a folder (for the CLI's mount target).
    pub fn is_letter(s: &str) -> bool {
        Self::parse(s).is_ok()
    }

    /// `P:` as WinFsp takes it; `None` for the next free letter.
    pub fn mount_point(&self) -> Option<String> {
        match self {
            Self::Letter(c) => Some(format!("{c}:")),
            Self::NextFree => None,
        }
    }
}

/// `name` as a volume label and network share name (`\\pail\<name>`): characters a share
/// name cannot hold (`\/:*?"<>|`, control characters) become `_`, as in a user id like
/// `AROA…:alice` from a per-user prefix; never empty.
pub fn share_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_control() || "\\/:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches([' ', '.']);
    if trimmed.is_empty() {
        "pail".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The network prefix of a drive (`\pail\<share>-<serial>`): WinFsp refuses a second
/// volume with a prefix already in use, and two drives may share their last folder's name
/// (`alice/Documents` and `team/Documents`), so the volume serial of the drive's location,
/// unique per bucket and prefix, is part of it.
pub fn network_prefix(share: &str, location: &str) -> String {
    format!("\\pail\\{share}-{:08x}", pail_fs::volume_serial(location))
}

/// A failure code from WinFsp or Windows, as the host reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// An NTSTATUS.
    NtStatus(i32),
    /// A Win32 error code.
    Win32(u32),
}

impl FailureCode {
    /// The code inside an HRESULT as windows-rs reports it: an NTSTATUS carried with
    /// `FACILITY_NT_BIT` (`HRESULT_FROM_NT`), or a Win32 error (`HRESULT_FROM_WIN32`).
    pub fn from_hresult(h: i32) -> Self {
        const FACILITY_NT_BIT: u32 = 0x1000_0000;
        let u = h as u32;
        if u & FACILITY_NT_BIT != 0 {
            Self::NtStatus((u & !FACILITY_NT_BIT) as i32)
        } else if u & 0xFFFF_0000 == 0x8007_0000 {
            Self::Win32(u & 0xFFFF)
        } else {
            Self::NtStatus(h)
        }
    }
}

/// `ERROR_DELAY_LOAD_FAILED`: winfsp-x64.dll could not be loaded.
const ERROR_DELAY_LOAD_FAILED: u32 = 1285;
/// `STATUS_DLL_NOT_FOUND`.
const DLL_NOT_FOUND: i32 = 0xC000_0135_u32 as i32;

/// Why a drive could not be mounted, in words that say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MountError {
    /// WinFsp's DLL or driver is missing.
    #[error("WinFsp is not installed: install it from https://winfsp.dev/rel/ (version 2.0 or later), then try again")]
    WinFspMissing,
    /// The letter is taken by another drive.
    #[error("drive letter {0}: is already in use: pick another letter, or * for the next free one")]
    LetterInUse(char),
    /// Every letter is taken.
    #[error("no drive letter is free: unmount a drive, or give a letter that is free")]
    NoFreeLetter,
    /// Not a drive letter.
    #[error("{0:?} is not a drive letter: give a letter and a colon, like P:, or * for the next free one")]
    InvalidLetter(String),
    /// Anything else WinFsp refused.
    #[error("WinFsp could not {op} the drive ({code:?}); see the WinFsp log in the Event Viewer")]
    Host {
        /// What was being done: "start", "mount", "serve".
        op: &'static str,
        /// The code it answered.
        code: FailureCode,
    },
}

impl MountError {
    /// The error for `code`, answered while doing `op` for `letter`.
    pub fn from_code(op: &'static str, letter: DriveLetter, code: FailureCode) -> Self {
        match (code, letter) {
            (FailureCode::Win32(ERROR_DELAY_LOAD_FAILED), _) | (FailureCode::NtStatus(DLL_NOT_FOUND), _) => {
                Self::WinFspMissing
            }
            (FailureCode::NtStatus(status::OBJECT_NAME_COLLISION | status::ACCESS_DENIED), DriveLetter::Letter(c))
                if op == "mount" =>
            {
                Self::LetterInUse(c)
            }
            (
                FailureCode::NtStatus(status::OBJECT_NAME_COLLISION | status::OBJECT_NAME_NOT_FOUND),
                DriveLetter::NextFree,
            ) if op == "mount" => Self::NoFreeLetter,
            _ => Self::Host { op, code },
        }
    }
}

/// The letters a drive may take given GetLogicalDrives' bitmask (bit 0 is `A:`): those not in
/// use, from `D:` on — `A:` and `B:` stay with floppy drives and `C:` is the system's.
pub fn free_letters_in(in_use: u32) -> Vec<char> {
    ('D'..='Z')
        .filter(|l| in_use & (1 << (*l as u32 - 'A' as u32)) == 0)
        .collect()
}

/// The drive letters free right now (local disks, other mounts and mapped network shares all
/// hold theirs), for the app's letter list.
#[cfg(any(windows, winfsp_typecheck))]
#[allow(unsafe_code)]
pub fn free_drive_letters() -> Vec<char> {
    // SAFETY: GetLogicalDrives takes no arguments and only returns a bitmask (0 on failure,
    // which lists every letter as free; the mount then reports a taken one).
    let in_use = unsafe { windows::Win32::Storage::FileSystem::GetLogicalDrives() };
    free_letters_in(in_use)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_drives_with_the_same_last_folder_get_different_network_prefixes() {
        let alice = network_prefix("Documents", "s3://corp/alice/Documents/");
        let team = network_prefix("Documents", "s3://corp/team/Documents/");
        assert_ne!(alice, team);
        assert!(alice.starts_with("\\pail\\Documents-"), "{alice}");
        // The same drive keeps its prefix across mounts (Explorer remembers it).
        assert_eq!(alice, network_prefix("Documents", "s3://corp/alice/Documents/"));
        // WinFsp's prefix is `\server\share`: one backslash between, none in the share.
        assert_eq!(alice.matches('\\').count(), 2);
    }

    #[test]
    fn free_letters_skip_those_in_use_and_the_floppy_and_system_ones() {
        // A:, C:, D: and Z: in use.
        let in_use = 1 | 1 << 2 | 1 << 3 | 1 << 25;
        let free = free_letters_in(in_use);
        assert_eq!(free.first(), Some(&'E'));
        assert_eq!(free.last(), Some(&'Y'));
        assert_eq!(free.len(), 21);
        assert_eq!(free_letters_in(u32::MAX), Vec::<char>::new());
    }

    #[test]
    fn letters_parse_in_the_forms_people_type() {
        assert_eq!(DriveLetter::parse("P:"), Ok(DriveLetter::Letter('P')));
        assert_eq!(DriveLetter::parse("p:"), Ok(DriveLetter::Letter('P')));
        assert_eq!(DriveLetter::parse("P:\\"), Ok(DriveLetter::Letter('P')));
        assert_eq!(DriveLetter::parse("*"), Ok(DriveLetter::NextFree));
        assert_eq!(DriveLetter::Letter('P').mount_point().as_deref(), Some("P:"));
        assert_eq!(DriveLetter::NextFree.mount_point(), None);
        for bad in ["P", "PP:", "1:", "", "/mnt/p", "Ä:"] {
            let err = DriveLetter::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("like P:"), "{err}");
            assert!(!DriveLetter::is_letter(bad));
        }
    }

    #[test]
    fn share_names_hold_only_what_a_share_can() {
        assert_eq!(
            share_name("AROAEXAMPLE:alice@corp.example"),
            "AROAEXAMPLE_alice@corp.example"
        );
        assert_eq!(share_name("a/b\\c*?"), "a_b_c__");
        assert_eq!(share_name(" . "), "pail");
        assert_eq!(share_name("Documents"), "Documents");
    }

    #[test]
    fn mount_failures_say_what_to_do() {
        let p = DriveLetter::Letter('P');
        assert_eq!(
            MountError::from_code("start", p, FailureCode::Win32(ERROR_DELAY_LOAD_FAILED)),
            MountError::WinFspMissing
        );
        assert!(
            MountError::WinFspMissing
                .to_string()
                .contains("https://winfsp.dev/rel/")
        );
        let in_use = MountError::from_code("mount", p, FailureCode::NtStatus(status::OBJECT_NAME_COLLISION));
        assert_eq!(in_use, MountError::LetterInUse('P'));
        assert_eq!(
            in_use.to_string(),
            "drive letter P: is already in use: pick another letter, or * for the next free one"
        );
        assert_eq!(
            MountError::from_code(
                "mount",
                DriveLetter::NextFree,
                FailureCode::NtStatus(status::OBJECT_NAME_COLLISION)
            ),
            MountError::NoFreeLetter
        );
        assert_eq!(
            FailureCode::from_hresult((status::OBJECT_NAME_COLLISION as u32 | 0x1000_0000) as i32),
            FailureCode::NtStatus(status::OBJECT_NAME_COLLISION),
            "HRESULT_FROM_NT"
        );
        assert_eq!(
            FailureCode::from_hresult(0x8007_0505_u32 as i32),
            FailureCode::Win32(ERROR_DELAY_LOAD_FAILED),
            "HRESULT_FROM_WIN32"
        );
        let other = MountError::from_code("serve", p, FailureCode::NtStatus(status::UNEXPECTED_IO_ERROR));
        assert!(matches!(other, MountError::Host { op: "serve", .. }));
    }

    #[test]
    fn the_windows_guide_quotes_these_messages() {
        // The directory is read when the test runs: a build cache shared by two clones must not
        // send the test to the other clone's docs.
        let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"));
        let guide = std::fs::read_to_string(dir.join("../../docs/windows.md")).expect("docs/windows.md");
        let quoted = |e: MountError| e.to_string().chars().take(40).collect::<String>();
        for e in [
            MountError::WinFspMissing,
            MountError::LetterInUse('P'),
            MountError::NoFreeLetter,
        ] {
            let start = quoted(e);
            assert!(guide.contains(&start), "docs/windows.md should quote {start:?}");
        }
        assert!(guide.contains("is not a drive letter: give a letter and a colon, like P:"));
    }
}
