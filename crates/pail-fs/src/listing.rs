//! [`Listing`]: a whole directory as the drive shows it, and its [`DirEntry`]s.

use std::collections::BTreeMap;

use crate::attr::Attr;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The displayed name.
    pub name: String,
    /// Its attributes.
    pub attr: Attr,
}

/// A whole directory, sorted by name.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Entries in name order (byte order of the displayed names).
    pub entries: Vec<DirEntry>,
    /// The drive's last own change when this listing's load began (`changes`): later ones
    /// may be missing from what S3 answered, and are overlaid.
    pub(crate) since: u64,
}

impl Listing {
    pub(crate) fn from_map(map: BTreeMap<String, Attr>) -> Self {
        Self {
            entries: map.into_iter().map(|(name, attr)| DirEntry { name, attr }).collect(),
            since: 0,
        }
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&DirEntry> {
        self.entries
            .binary_search_by(|e| e.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Entries strictly after `marker` (WinFsp's continuation); all when `None`.
    pub fn after(&self, marker: Option<&str>) -> &[DirEntry] {
        match marker {
            None => &self.entries,
            Some(m) => {
                let i = self.entries.partition_point(|e| e.name.as_str() <= m);
                &self.entries[i..]
            }
        }
    }
}
