//! The security descriptor every file of a drive shows: owned by the mounting user, with a
//! protected DACL granting full access to that user and to SYSTEM only, so other accounts on
//! the machine cannot open the drive's files. S3 holds no ACLs, so the descriptor is built once
//! per mount, in the self-relative binary form WinFsp copies to Windows, by plain code tested
//! on Linux (the user's SID comes from the process token, in `user.rs`).

use std::fmt;

/// SYSTEM: `S-1-5-18`.
const SYSTEM: &str = "S-1-5-18";
/// FILE_ALL_ACCESS.
const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
/// OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE: new files and folders inherit the grant.
const INHERIT: u8 = 0x01 | 0x02;
/// SE_DACL_PRESENT | SE_DACL_PROTECTED | SE_SELF_RELATIVE.
const CONTROL: u16 = 0x0004 | 0x1000 | 0x8000;
const HEADER_LEN: usize = 20;
const ACL_HEADER_LEN: usize = 8;
const ACE_HEADER_LEN: usize = 8;

/// A security identifier in its binary form.
#[derive(Clone, PartialEq, Eq)]
pub struct Sid(Vec<u8>);

/// A SID that is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a security identifier: {0}")]
pub struct SidError(String);

impl Sid {
    /// From its binary form (as `GetTokenInformation` returns it), checked.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SidError> {
        let bad = || SidError(format!("{} bytes", bytes.len()));
        let (&revision, &count) = (bytes.first().ok_or_else(bad)?, bytes.get(1).ok_or_else(bad)?);
        if revision != 1 || count > 15 || bytes.len() != 8 + 4 * usize::from(count) {
            return Err(bad());
        }
        Ok(Self(bytes.to_vec()))
    }

    /// From `S-1-5-21-…`.
    pub fn parse(s: &str) -> Result<Self, SidError> {
        let bad = || SidError(s.to_owned());
        let mut parts = s.strip_prefix("S-1-").ok_or_else(bad)?.split('-');
        let authority: u64 = parts.next().and_then(|a| a.parse().ok()).ok_or_else(bad)?;
        if authority >= 1 << 48 {
            return Err(bad());
        }
        let subs: Vec<u32> = parts.map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
        if subs.is_empty() || subs.len() > 15 {
            return Err(bad());
        }
        let mut out = vec![1, subs.len() as u8];
        out.extend_from_slice(&authority.to_be_bytes()[2..]);
        for sub in subs {
            out.extend_from_slice(&sub.to_le_bytes());
        }
        Ok(Self(out))
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut authority = [0u8; 8];
        authority[2..].copy_from_slice(&self.0[2..8]);
        write!(f, "S-1-{}", u64::from_be_bytes(authority))?;
        for sub in self.0[8..].chunks_exact(4) {
            write!(f, "-{}", u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]]))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

/// The self-relative security descriptor `O:<user>G:<user>D:P(A;OICI;FA;;;<user>)(A;OICI;FA;;;SY)`.
pub fn drive_descriptor(user: &Sid) -> Vec<u8> {
    let system = Sid::parse(SYSTEM).expect("SYSTEM's SID is well formed");
    let aces = [user, &system];
    let acl_len = ACL_HEADER_LEN + aces.iter().map(|s| ACE_HEADER_LEN + s.0.len()).sum::<usize>();
    let owner_at = HEADER_LEN + acl_len;
    let group_at = owner_at + user.0.len();
    let mut sd = Vec::with_capacity(group_at + user.0.len());
    // SECURITY_DESCRIPTOR_RELATIVE: revision, Sbz1, control, owner, group, SACL, DACL offsets.
    sd.extend_from_slice(&[1, 0]);
    sd.extend_from_slice(&CONTROL.to_le_bytes());
    sd.extend_from_slice(&(owner_at as u32).to_le_bytes());
    sd.extend_from_slice(&(group_at as u32).to_le_bytes());
    sd.extend_from_slice(&0u32.to_le_bytes());
    sd.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    // ACL: revision 2, Sbz1, size, ACE count, Sbz2.
    sd.extend_from_slice(&[2, 0]);
    sd.extend_from_slice(&(acl_len as u16).to_le_bytes());
    sd.extend_from_slice(&(aces.len() as u16).to_le_bytes());
    sd.extend_from_slice(&[0, 0]);
    for sid in aces {
        // ACCESS_ALLOWED_ACE: type 0, flags, size, mask, SID.
        sd.extend_from_slice(&[0, INHERIT]);
        sd.extend_from_slice(&((ACE_HEADER_LEN + sid.0.len()) as u16).to_le_bytes());
        sd.extend_from_slice(&FILE_ALL_ACCESS.to_le_bytes());
        sd.extend_from_slice(&sid.0);
    }
    sd.extend_from_slice(&user.0);
    sd.extend_from_slice(&user.0);
    sd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_parse_print_and_check_their_binary_form() {
        let s = "S-1-5-21-3623811015-3361044348-30300820-1013";
        let sid = Sid::parse(s).expect("sid");
        assert_eq!(sid.to_string(), s);
        assert_eq!(sid.as_bytes().len(), 8 + 4 * 5);
        assert_eq!(&sid.as_bytes()[..8], [1, 5, 0, 0, 0, 0, 0, 5]);
        assert_eq!(Sid::from_bytes(sid.as_bytes()), Ok(sid.clone()));
        assert_eq!(
            Sid::parse(SYSTEM).expect("system").as_bytes(),
            [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]
        );
        for bad in ["S-1-5", "S-2-5-18", "S-1-x-18", "1-5-18", "S-1-5-18-"] {
            assert!(Sid::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Sid::from_bytes(&[1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]).is_err(),
            "short"
        );
    }

    #[test]
    fn the_descriptor_grants_only_the_user_and_system() {
        let user = Sid::parse("S-1-5-21-1-2-3-1001").expect("sid");
        let sd = drive_descriptor(&user);
        let u32_at = |i: usize| u32::from_le_bytes([sd[i], sd[i + 1], sd[i + 2], sd[i + 3]]) as usize;
        let u16_at = |i: usize| u16::from_le_bytes([sd[i], sd[i + 1]]) as usize;
        assert_eq!(sd[0], 1, "revision");
        assert_eq!(u16_at(2), 0x9004, "self-relative, DACL present and protected");
        let (owner, group, sacl, dacl) = (u32_at(4), u32_at(8), u32_at(12), u32_at(16));
        assert_eq!(sacl, 0, "no SACL");
        assert_eq!(&sd[owner..owner + 28], user.as_bytes(), "owner");
        assert_eq!(&sd[group..group + 28], user.as_bytes(), "group");
        assert_eq!(sd.len(), group + 28);
        // DACL with two ACEs: the user's, then SYSTEM's, both full access and inherited.
        assert_eq!((sd[dacl], u16_at(dacl + 2), u16_at(dacl + 4)), (2, owner - dacl, 2));
        let first = dacl + 8;
        assert_eq!((sd[first], sd[first + 1]), (0, 3), "allow, OI|CI");
        assert_eq!(u32_at(first + 4), 0x001F_01FF);
        assert_eq!(&sd[first + 8..first + 8 + 28], user.as_bytes());
        let second = first + u16_at(first + 2);
        assert_eq!(
            Sid::from_bytes(&sd[second + 8..second + 8 + 12])
                .expect("sid")
                .to_string(),
            "S-1-5-18"
        );
        assert_eq!(
            second + u16_at(second + 2),
            owner,
            "the ACL ends where the owner begins"
        );
    }
}
