//! [`VfsPath`]: a path inside the drive as the platform shows it, and its mapping to keys.
//!
//! A path is a list of displayed names joined by `/`, without a leading slash; the root is
//! the empty path. The key of a path is the drive's prefix followed by every name encoded back
//! to its key segment; a directory's key prefix adds a trailing `/`.

use std::fmt;

use crate::names::NameEncoding;

/// A path relative to the drive's root.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct VfsPath(String);

impl VfsPath {
    /// The root of the drive.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Builds a path from `a/b/c` (leading and trailing slashes ignored).
    pub fn new(path: &str) -> Self {
        Self(path.trim_matches('/').to_owned())
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as `a/b/c`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The child `name` of this directory.
    pub fn join(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}/{name}", self.0))
        }
    }

    /// The parent directory and the last name; `None` for the root.
    pub fn split_last(&self) -> Option<(VfsPath, &str)> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.rsplit_once('/') {
            Some((parent, name)) => (VfsPath(parent.to_owned()), name),
            None => (VfsPath::root(), self.0.as_str()),
        })
    }

    /// The names from the root down.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// The object key of this path under `prefix` (which is empty or ends with `/`).
    pub fn to_key(&self, prefix: &str, names: NameEncoding) -> String {
        let mut key = prefix.to_owned();
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                key.push('/');
            }
            key.push_str(&names.encode(n));
        }
        key
    }

    /// The key prefix of this path as a directory: its key plus `/` (or `prefix` for the root).
    pub fn to_dir_prefix(&self, prefix: &str, names: NameEncoding) -> String {
        if self.is_root() {
            return prefix.to_owned();
        }
        let mut key = self.to_key(prefix, names);
        key.push('/');
        key
    }
}

impl fmt::Debug for VfsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

impl fmt::Display for VfsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_prefixes() {
        let p = VfsPath::new("a/b.txt");
        assert_eq!(p.to_key("home/u/", NameEncoding::Identity), "home/u/a/b.txt");
        assert_eq!(VfsPath::new("a").to_dir_prefix("", NameEncoding::Identity), "a/");
        assert_eq!(
            VfsPath::root().to_dir_prefix("home/u/", NameEncoding::Identity),
            "home/u/"
        );
        let (parent, name) = p.split_last().expect("not root");
        assert_eq!(parent, VfsPath::new("a"));
        assert_eq!(name, "b.txt");
        assert!(VfsPath::root().split_last().is_none());
    }

    #[test]
    fn windows_names_map_to_original_keys() {
        let p = VfsPath::new("what\u{FF1F}/file\u{FF0E}");
        assert_eq!(p.to_key("", NameEncoding::Windows), "what?/file.");
    }
}
