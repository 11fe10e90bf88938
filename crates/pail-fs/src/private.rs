//! What pail keeps on disk is the user's alone. The cache holds documents that S3 protects
//! with KMS and a per-user policy (staging files, journal records with small files' bytes,
//! recycled files, cached blocks), so on Unix every folder pail creates there is 0700 and every
//! file 0600, whatever the process's umask; a cache folder an older version left open is closed
//! when the drive starts. (On Windows the cache lives in the user's profile, whose ACL admits
//! only the user.)

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

/// Creates `dir` and its missing parents as private folders, and makes `dir` itself private if
/// it existed with a wider mode.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// `OpenOptions` whose new files are private.
pub(crate) fn options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Writes `data` to a private file at `path` (created or truncated).
pub(crate) fn write(path: &Path, data: &[u8]) -> io::Result<()> {
    options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?
        .write_all(data)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_private_whatever_the_umask() {
        let root = tempfile::tempdir().expect("tempdir");
        let open = root.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        create_dir_all(&open).expect("closed");
        assert_eq!(mode(&open), 0o700, "an existing folder is closed");
        let deep = root.path().join("a/b/c");
        create_dir_all(&deep).expect("created");
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&root.path().join(d)), 0o700, "{d}");
        }
        let f = deep.join("f");
        write(&f, b"secret").expect("write");
        assert_eq!(mode(&f), 0o600);
    }
}
