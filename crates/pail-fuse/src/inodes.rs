//! The inode table: FUSE inode numbers ↔ drive paths, with the kernel's lookup counts.
//!
//! Invariants: the root is inode 1 and is never forgotten; every other inode lives while the
//! kernel holds lookups on it (each `lookup`/`readdirplus` entry adds one, `forget` removes
//! them). A path has at most one inode at a time.

use std::collections::HashMap;

use pail_fs::VfsPath;

/// The root inode number.
pub const ROOT_INO: u64 = fuser::FUSE_ROOT_ID;

#[derive(Debug)]
struct Node {
    path: VfsPath,
    lookups: u64,
}

/// Inode numbers for paths.
#[derive(Debug)]
pub struct InodeTable {
    by_ino: HashMap<u64, Node>,
    by_path: HashMap<VfsPath, u64>,
    next: u64,
}

impl Default for InodeTable {
    fn default() -> Self {
        let mut t = Self {
            by_ino: HashMap::new(),
            by_path: HashMap::new(),
            next: ROOT_INO + 1,
        };
        t.by_ino.insert(
            ROOT_INO,
            Node {
                path: VfsPath::root(),
                lookups: 1,
            },
        );
        t.by_path.insert(VfsPath::root(), ROOT_INO);
        t
    }
}

impl InodeTable {
    /// The path of `ino`.
    pub fn path(&self, ino: u64) -> Option<VfsPath> {
        self.by_ino.get(&ino).map(|n| n.path.clone())
    }

    /// The inode of `path`, created if needed, with one more kernel lookup.
    pub fn lookup(&mut self, path: &VfsPath) -> u64 {
        if let Some(&ino) = self.by_path.get(path) {
            if let Some(n) = self.by_ino.get_mut(&ino) {
                n.lookups += 1;
            }
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.by_ino.insert(
            ino,
            Node {
                path: path.clone(),
                lookups: 1,
            },
        );
        self.by_path.insert(path.clone(), ino);
        ino
    }

    /// The inode of `path` if it has one, without counting a lookup.
    pub fn peek(&self, path: &VfsPath) -> Option<u64> {
        self.by_path.get(path).copied()
    }

    /// Drops `n` kernel lookups of `ino`; the inode goes when none remain.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        let Some(node) = self.by_ino.get_mut(&ino) else { return };
        node.lookups = node.lookups.saturating_sub(n);
        if node.lookups == 0 {
            let path = node.path.clone();
            self.by_ino.remove(&ino);
            if self.by_path.get(&path) == Some(&ino) {
                self.by_path.remove(&path);
            }
        }
    }

    /// Moves `from` (and, for a folder, everything under it) to `to`; an inode `to` had is
    /// detached (the kernel forgets it in time).
    pub fn rename(&mut self, from: &VfsPath, to: &VfsPath) {
        self.by_path.remove(to);
        let inside = format!("{}/", from.as_str());
        let moved: Vec<(VfsPath, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| *p == from || p.as_str().starts_with(&inside))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (old, ino) in moved {
            let new = if old == *from {
                to.clone()
            } else {
                VfsPath::new(&format!("{}/{}", to.as_str(), &old.as_str()[inside.len()..]))
            };
            self.by_path.remove(&old);
            self.by_path.insert(new.clone(), ino);
            if let Some(n) = self.by_ino.get_mut(&ino) {
                n.path = new;
            }
        }
    }

    /// Number of live inodes (root included).
    pub fn len(&self) -> usize {
        self.by_ino.len()
    }

    /// Whether only the root is live.
    pub fn is_empty(&self) -> bool {
        self.by_ino.len() <= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_lives_until_every_lookup_is_forgotten() {
        let mut t = InodeTable::default();
        let p = VfsPath::new("a/b");
        let ino = t.lookup(&p);
        assert_eq!(t.lookup(&p), ino);
        t.forget(ino, 1);
        assert_eq!(t.path(ino), Some(p.clone()));
        t.forget(ino, 1);
        assert_eq!(t.path(ino), None);
        assert_ne!(t.lookup(&p), ino, "a forgotten inode number is not reused");
    }

    #[test]
    fn rename_moves_a_folder_and_everything_under_it() {
        let mut t = InodeTable::default();
        let dir = t.lookup(&VfsPath::new("a"));
        let file = t.lookup(&VfsPath::new("a/x/y"));
        let other = t.lookup(&VfsPath::new("ab"));
        t.rename(&VfsPath::new("a"), &VfsPath::new("b/c"));
        assert_eq!(t.path(dir), Some(VfsPath::new("b/c")));
        assert_eq!(t.path(file), Some(VfsPath::new("b/c/x/y")));
        assert_eq!(t.path(other), Some(VfsPath::new("ab")));
        assert_eq!(t.peek(&VfsPath::new("b/c/x/y")), Some(file));
        assert_eq!(t.peek(&VfsPath::new("a")), None);
    }

    #[test]
    fn root_is_never_forgotten() {
        let mut t = InodeTable::default();
        t.forget(ROOT_INO, 100);
        assert_eq!(t.path(ROOT_INO), Some(VfsPath::root()));
    }
}
