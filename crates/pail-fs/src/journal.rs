//! The journal: what a drive still owes S3, kept durably in `<cache>/journal/` so a new mount
//! resumes it after a crash, `kill -9` or power loss.
//!
//! One JSON file per pending item, named by the item's id (the same id names its staging file).
//! A record that replaces an earlier one, or that reuses a kept file (`recycle`), is written to
//! a temporary file, fsync'ed, renamed into place, and the directory is fsync'ed; otherwise a new
//! record is written in place and fsync'ed with its directory (nothing older can be lost to a
//! torn write). A finished record's file is kept for reuse rather than deleted. Either way this happens before the
//! file system call that created it returns. A small file's bytes travel inside its record
//! ([`INLINE_MAX`]), so closing it costs one durable write instead of two. A record that cannot
//! be parsed is moved with its data file to `<cache>/corrupt/`, reported, and never deleted.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub(crate) use crate::records::{BaseRecord, ExpectRecord, Record, TimeRecord, UploadRecord};
use crate::recycle::Recycler;
use crate::seal::{Cipher, is_sealed};
use crate::slots::Slots;

/// Files up to this size carry their bytes in the journal record, so their staging file needs
/// no fsync of its own.
pub(crate) const INLINE_MAX: u64 = 64 << 10;

/// What [`Journal::load`] found: readable records in id order, and the names of those set aside.
pub(crate) type Loaded = (Vec<(u64, Record)>, Vec<String>);

/// The journal directory.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    dir: PathBuf,
    corrupt: PathBuf,
    recycle: Arc<Recycler>,
    /// Records that carry a small file's bytes, written in place (`slots`).
    slots: Arc<Slots>,
    /// Ids with a record file: they never go back to a slot, so after a crash a record file
    /// beside a slot of the same id is always the newer.
    in_files: Arc<Mutex<HashSet<u64>>>,
    /// Records are sealed under the cache's key (`seal`) when it has one.
    cipher: Cipher,
}

/// The associated data of record `id`: a record opens only as itself.
fn aad(id: u64) -> [u8; 15] {
    let mut a = *b"journal\0\0\0\0\0\0\0\0";
    a[7..].copy_from_slice(&id.to_le_bytes());
    a
}

/// How many items the write-back cache at `cache` still owes S3 (record files and slots),
/// without reading them: `pail forget` refuses a cache that has any.
pub fn pending_records(cache: &Path) -> io::Result<usize> {
    let files = match std::fs::read_dir(cache.join("journal")) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let slots = if cache.join("slots.bin").exists() {
        Slots::open(&cache.join("slots.bin"), &cache.join("slots"))?
            .records()?
            .len()
    } else {
        0
    };
    Ok(files + slots)
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // NTFS makes the rename durable with the file's own flush.
        let _ = dir;
        Ok(())
    }
}

impl Journal {
    pub(crate) fn open(cache: &Path, recycle: Arc<Recycler>, cipher: Cipher) -> io::Result<Self> {
        let dir = cache.join("journal");
        crate::private::create_dir_all(cache)?;
        crate::private::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            corrupt: cache.join("corrupt"),
            recycle,
            slots: Arc::new(Slots::open(&cache.join("slots.bin"), &cache.join("slots"))?),
            in_files: Arc::default(),
            cipher,
        })
    }

    fn in_files(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.in_files.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}.json"))
    }

    /// Writes record `id` durably, replacing any earlier version.
    pub(crate) fn write(&self, id: u64, record: &Record) -> io::Result<()> {
        let json = self
            .cipher
            .wrap(&aad(id), serde_json::to_vec(record).map_err(io::Error::other)?);
        let inline = matches!(record, Record::Upload(u) if u.data.is_some());
        if inline && crate::slots::fits(&json) && !self.in_files().contains(&id) {
            return self.slots.write(id, &json);
        }
        // A record revived by a free still unflushed must not overtake this one (slots.rs).
        self.slots.sync_frees()?;
        self.write_file(id, &json)?;
        self.in_files().insert(id);
        // The record file supersedes a slot of the same id (and wins over it after a crash).
        self.slots.free(id)?;
        Ok(())
    }

    fn write_file(&self, id: u64, json: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{id:016x}.tmp"));
        // A kept file becomes the temporary below (no file is created). Otherwise a record
        // with no earlier version is written in place, one fsync of the file and one of the
        // directory (on ext4 with a journal the second finds nothing left to commit).
        if !self.recycle.take(&tmp) {
            match crate::private::options()
                .write(true)
                .create_new(true)
                .open(self.path(id))
            {
                Ok(mut f) => {
                    f.write_all(json)?;
                    f.sync_all()?;
                    return sync_dir(&self.dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        // Written aside, flushed, then renamed into place: a torn write never shows.
        let mut f = crate::private::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(json)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, self.path(id))?;
        sync_dir(&self.dir)
    }

    /// Removes record `id`, whose work is done; a failure is logged (the record is then
    /// redone, harmlessly, by the next mount).
    pub(crate) fn done(&self, id: u64) {
        if let Err(e) = self.remove(id) {
            tracing::warn!(error = %e, "could not remove a finished journal record");
        }
    }

    /// Makes finished records' removal durable (when the drive has drained).
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.slots.sync_frees()
    }

    /// Removes record `id` (done); its slot or file is kept for a later record.
    pub(crate) fn remove(&self, id: u64) -> io::Result<()> {
        if self.slots.free(id)? {
            return Ok(());
        }
        self.in_files().remove(&id);
        if self.recycle.keep(&self.path(id), 0)? {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Every readable record, in id order, and the names of records that could not be read
    /// (moved, with their data files from `staging`, to `<cache>/corrupt/`).
    pub(crate) fn load(&self, staging: &Path) -> io::Result<Loaded> {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        // Records an older version wrote in the clear, sealed again below when there is a key.
        let mut legacy = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.extension().is_some_and(|e| e == "tmp") {
                // Never renamed into place: the call that wrote it did not return.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let id = path
                .file_stem()
                .and_then(|s| u64::from_str_radix(&s.to_string_lossy(), 16).ok());
            let parsed = id.and_then(|id| {
                let bytes = std::fs::read(&path).ok()?;
                let clear = !is_sealed(&bytes);
                let json = self.cipher.unwrap(&aad(id), bytes, "a journal record").ok()?;
                Some((clear, serde_json::from_slice::<Record>(&json).ok()?))
            });
            match (id, parsed) {
                (Some(id), Some((clear, record))) => {
                    if clear {
                        legacy.push(id);
                    }
                    good.push((id, record));
                }
                _ => {
                    crate::private::create_dir_all(&self.corrupt)?;
                    std::fs::rename(&path, self.corrupt.join(&name))?;
                    if let Some(stem) = path.file_stem() {
                        let data = staging.join(format!("{}.data", stem.to_string_lossy()));
                        if data.exists() {
                            std::fs::rename(&data, self.corrupt.join(data.file_name().unwrap_or_default()))?;
                        }
                    }
                    tracing::error!(
                        record = name,
                        kept_in = %self.corrupt.display(),
                        "a journal record could not be read; it and its data were set aside, not deleted"
                    );
                    bad.push(name);
                }
            }
        }
        let files: HashSet<u64> = good.iter().map(|(id, _)| *id).collect();
        for (id, payload) in self.slots.records()? {
            if files.contains(&id) {
                // A record file is written only after its id's slot: the slot is older.
                self.slots.free(id)?;
                continue;
            }
            let clear = !is_sealed(&payload);
            let parsed = self
                .cipher
                .unwrap(&aad(id), payload.clone(), "a journal record")
                .and_then(|json| serde_json::from_slice::<Record>(&json).map_err(io::Error::other));
            match parsed {
                Ok(record) => {
                    if clear {
                        legacy.push(id);
                    }
                    good.push((id, record));
                }
                Err(e) => {
                    let name = format!("{id:016x}.json");
                    crate::private::create_dir_all(&self.corrupt)?;
                    crate::private::write(&self.corrupt.join(&name), &payload)?;
                    self.slots.free(id)?;
                    tracing::error!(record = name, error = %e, kept_in = %self.corrupt.display(), "a journal record could not be read; it was set aside, not deleted");
                    bad.push(name);
                }
            }
        }
        *self.in_files() = files;
        good.sort_by_key(|(id, _)| *id);
        if self.cipher.sealer().is_some() {
            for (id, record) in good.iter().filter(|(id, _)| legacy.contains(id)) {
                self.write(*id, record)?;
            }
        }
        Ok((good, bad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recycler(cache: &Path) -> Arc<Recycler> {
        Arc::new(Recycler::open(&cache.join("recycle")).expect("recycler"))
    }

    /// A cache directory with its staging folder, and a journal opened on it.
    fn journal() -> (tempfile::TempDir, PathBuf, Journal) {
        let cache = tempfile::tempdir().expect("tempdir");
        let staging = cache.path().join("staging");
        std::fs::create_dir_all(&staging).expect("staging");
        let j = Journal::open(cache.path(), recycler(cache.path()), Cipher::default()).expect("open");
        (cache, staging, j)
    }

    /// The upload of a new `a.bin` of `size` bytes, carrying `data` when given.
    fn upload(data: Option<&[u8]>, size: u64) -> Record {
        Record::Upload(Box::new(UploadRecord {
            path: "a.bin".into(),
            key: "a.bin".into(),
            size,
            mtime_secs: 1,
            mtime_nanos: 0,
            expect: ExpectRecord::Absent,
            base: None,
            data: data.map(<[u8]>::to_vec),
            token: Some(7),
            conflict_copy: None,
            attributes: 0,
            created: None,
        }))
    }

    #[test]
    fn records_survive_reopen_and_corrupt_ones_are_set_aside() {
        let (cache, staging, j) = journal();
        let rec = Record::Upload(Box::new(UploadRecord {
            path: "a/b.txt".into(),
            key: "p/a/b.txt".into(),
            size: 3,
            mtime_secs: 1,
            mtime_nanos: 2,
            expect: ExpectRecord::Absent,
            base: None,
            data: None,
            token: None,
            conflict_copy: Some("a/b (conflict h 2026-12-02 1900).txt".into()),
            attributes: 2,
            created: Some(TimeRecord::of(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(5),
            )),
        }));
        j.write(1, &rec).expect("write");
        j.write(
            2,
            &Record::RenameDir {
                from: "a/".into(),
                to: "b/".into(),
            },
        )
        .expect("write");
        j.remove(2).expect("remove");
        std::fs::write(cache.path().join("journal/0000000000000003.json"), b"{not json").expect("corrupt");
        std::fs::write(staging.join("0000000000000003.data"), b"precious").expect("data");

        let again = Journal::open(cache.path(), recycler(cache.path()), Cipher::default()).expect("reopen");
        let (good, bad) = again.load(&staging).expect("load");
        assert_eq!(good, vec![(1, rec)]);
        assert_eq!(bad, ["0000000000000003.json"]);
        let kept = std::fs::read(cache.path().join("corrupt/0000000000000003.data")).expect("kept");
        assert_eq!(kept, b"precious");
    }

    #[test]
    fn a_small_file_travels_in_its_record_and_a_rewrite_replaces_it() {
        let (cache, staging, j) = journal();
        let small = |data: &[u8]| upload(Some(data), data.len() as u64);
        let bytes: Vec<u8> = (0..=255).collect();
        j.write(7, &small(&bytes)).expect("new record");
        let slot = std::fs::read(cache.path().join("slots.bin")).expect("the record went to a slot");
        assert!(
            String::from_utf8_lossy(&slot).contains("\"data\":\""),
            "base64 text in the slot"
        );
        j.write(7, &small(b"second")).expect("replacing record");
        let again = Journal::open(cache.path(), recycler(cache.path()), Cipher::default()).expect("reopen");
        let (good, bad) = again.load(&staging).expect("load");
        assert!(bad.is_empty());
        assert_eq!(good, vec![(7, small(b"second"))]);
        assert_eq!(
            std::fs::read_dir(cache.path().join("journal")).expect("dir").count(),
            0,
            "no record file, no temporary file"
        );
    }

    #[test]
    fn a_record_that_outgrows_its_slot_moves_to_a_file_and_stays_there() {
        let (cache, staging, j) = journal();
        j.write(3, &upload(Some(b"small"), 5)).expect("slot");
        j.write(3, &upload(None, 1 << 20)).expect("file");
        j.write(3, &upload(Some(b"small again"), 11)).expect("still the file");
        let (good, _) = Journal::open(cache.path(), recycler(cache.path()), Cipher::default())
            .expect("reopen")
            .load(&staging)
            .expect("load");
        assert_eq!(good, vec![(3, upload(Some(b"small again"), 11))]);
        j.remove(3).expect("remove");
        let (good, _) = Journal::open(cache.path(), recycler(cache.path()), Cipher::default())
            .expect("reopen")
            .load(&staging)
            .expect("load");
        assert!(good.is_empty());
    }
}
