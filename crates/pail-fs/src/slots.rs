//! Journal slots: small records written in place into files that are kept, so making a small
//! file's close durable costs one `sync_data` and no directory change (a record file of its own
//! costs a file fsync and a directory fsync: two device flushes).
//!
//! `<cache>/slots/<n>` each holds at most one record: a header ([`HEADER`] bytes: magic, record
//! id, sequence number, payload length, MD5 of the payload) followed by the payload. A record is
//! one positional write from offset 0, then `sync_data`; a slot is freed by writing a header of
//! length 0, also synced, and only then handed to another record.
//!
//! Why a torn write cannot lose or revive anything: a header whose MD5 does not match its
//! payload reads as free, and only a write whose call had not returned can be torn, so nothing
//! it carried was promised; a slot's earlier record was freed durably before the slot was
//! reused. Two valid slots of one id (a crash between a rewrite into a new slot and the free of
//! the old one) resolve to the higher sequence number.
//!
//! Lock order: one slot's file lock, then `table`; the table lock is never held while waiting
//! for a slot, and device flushes happen under the slot's lock only.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};

use crate::staging::{read_at, write_at};

const MAGIC: &[u8; 8] = b"pailslt1";
/// Magic, id, sequence, length (u64 each), payload MD5.
pub(crate) const HEADER: usize = 8 + 8 + 8 + 8 + 16;
/// Free slots kept at most; beyond, a freed slot's file is deleted (a burst of pending small
/// files grows the slots, and this bounds what they hold on disk afterwards).
const KEEP_FREE: usize = 256;

type Slot = Arc<Mutex<File>>;

#[derive(Debug, Default)]
struct Table {
    files: HashMap<u64, Slot>,
    free: Vec<u64>,
    /// Which slot holds each record id.
    of: HashMap<u64, u64>,
    next: u64,
}

/// The slot files of a cache directory.
#[derive(Debug)]
pub(crate) struct Slots {
    dir: PathBuf,
    table: Mutex<Table>,
    seq: AtomicU64,
}

/// A slot's header, parsed.
struct Header {
    id: u64,
    seq: u64,
    len: usize,
    md5: [u8; 16],
}

fn parse(head: &[u8]) -> Option<Header> {
    let word = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().expect("8 bytes"));
    (head.len() == HEADER && &head[..8] == MAGIC).then(|| Header {
        id: word(8),
        seq: word(16),
        len: word(24) as usize,
        md5: head[32..48].try_into().expect("16 bytes"),
    })
}

fn header(id: u64, seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER + payload.len());
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&id.to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    buf.extend_from_slice(&Md5::digest(payload));
    buf
}

/// The valid record in `f`: its id, sequence number and payload.
fn read_slot(f: &File) -> io::Result<Option<(u64, u64, Vec<u8>)>> {
    let mut head = [0u8; HEADER];
    if read_at(f, &mut head, 0)? < HEADER {
        return Ok(None);
    }
    let Some(h) = parse(&head).filter(|h| h.len > 0) else {
        return Ok(None);
    };
    let mut payload = vec![0; h.len];
    if read_at(f, &mut payload, HEADER as u64)? < h.len || Md5::digest(&payload)[..] != h.md5 {
        return Ok(None);
    }
    Ok(Some((h.id, h.seq, payload)))
}

impl Slots {
    /// Opens (creating) the slot directory. This mount's sequence numbers continue after the
    /// highest one a valid slot holds (only valid slots are ever compared).
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut table = Table::default();
        let mut best: HashMap<u64, (u64, u64)> = HashMap::new();
        let mut superseded = Vec::new();
        let mut seq = 0;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(n) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let f = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
            match read_slot(&f)? {
                Some((id, s, _)) => {
                    seq = seq.max(s + 1);
                    match best.get(&id) {
                        Some(&(_, other_seq)) if other_seq > s => superseded.push(n),
                        Some(&(other, _)) => {
                            superseded.push(other);
                            best.insert(id, (n, s));
                        }
                        None => {
                            best.insert(id, (n, s));
                        }
                    }
                }
                None => table.free.push(n),
            }
            table.next = table.next.max(n + 1);
            table.files.insert(n, Arc::new(Mutex::new(f)));
        }
        table.of = best.into_iter().map(|(id, (n, _))| (id, n)).collect();
        // A superseded duplicate must read as free before its slot is reused.
        for n in superseded {
            if let Some(f) = table.files.get(&n) {
                clear(&f.lock().unwrap_or_else(|e| e.into_inner()))?;
            }
            table.free.push(n);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            table: Mutex::new(table),
            seq: AtomicU64::new(seq),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every record in a slot: its id and payload.
    pub(crate) fn records(&self) -> io::Result<Vec<(u64, Vec<u8>)>> {
        let held: Vec<(u64, Slot)> = {
            let t = self.table();
            t.of.iter()
                .filter_map(|(&id, n)| Some((id, t.files.get(n)?.clone())))
                .collect()
        };
        let mut out = Vec::new();
        for (id, slot) in held {
            if let Some((_, _, payload)) = read_slot(&slot.lock().unwrap_or_else(|e| e.into_inner()))? {
                out.push((id, payload));
            }
        }
        Ok(out)
    }

    /// Writes record `id` durably into its slot (a free one, or a new one, for a new id).
    pub(crate) fn write(&self, id: u64, payload: &[u8]) -> io::Result<()> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut buf = header(id, seq, payload);
        buf.extend_from_slice(payload);
        loop {
            let (n, slot, created) = self.slot_for(id)?;
            let f = slot.lock().unwrap_or_else(|e| e.into_inner());
            // Freed (and perhaps handed to another record) between the lookup and the lock:
            // never write into a slot that is no longer this record's.
            if self.table().of.get(&id) != Some(&n) {
                continue;
            }
            write_at(&f, &buf, 0)?;
            return if created {
                // A new file: its directory entry must be durable too.
                f.sync_all().and_then(|()| crate::journal::sync_dir(&self.dir))
            } else {
                f.sync_data()
            };
        }
    }

    /// The slot of record `id`: its own, a free one, or a new file (`true`).
    fn slot_for(&self, id: u64) -> io::Result<(u64, Slot, bool)> {
        let mut t = self.table();
        if let Some(n) = t.of.get(&id).copied().or_else(|| t.free.pop()) {
            t.of.insert(id, n);
            let slot = t.files.get(&n).cloned().ok_or_else(|| io::Error::other("slot table"))?;
            return Ok((n, slot, false));
        }
        let n = t.next;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.dir.join(n.to_string()))?;
        t.next += 1;
        let slot = Arc::new(Mutex::new(f));
        t.files.insert(n, slot.clone());
        t.of.insert(id, n);
        Ok((n, slot, true))
    }

    /// Frees the slot of record `id` (durably, before another record may use it); `false`
    /// when `id` has no slot.
    pub(crate) fn free(&self, id: u64) -> io::Result<bool> {
        let (n, slot) = {
            let mut t = self.table();
            let Some(n) = t.of.remove(&id) else { return Ok(false) };
            (
                n,
                t.files.get(&n).cloned().ok_or_else(|| io::Error::other("slot table"))?,
            )
        };
        clear(&slot.lock().unwrap_or_else(|e| e.into_inner()))?;
        let mut t = self.table();
        if t.free.len() < KEEP_FREE {
            t.free.push(n);
        } else {
            // Reads as free even if this deletion is lost to a crash.
            t.files.remove(&n);
            drop(t);
            std::fs::remove_file(self.dir.join(n.to_string()))?;
        }
        Ok(true)
    }
}

/// Marks a slot free, durably.
fn clear(f: &File) -> io::Result<()> {
    write_at(f, &[0u8; HEADER], 0)?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_freed_slots_are_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Slots::open(dir.path()).expect("open");
        s.write(7, b"seven").expect("write");
        s.write(8, b"eight").expect("write");
        s.write(7, b"seven, again").expect("rewrite in place");
        assert!(s.free(8).expect("free"));
        assert!(!s.free(8).expect("already free"));
        s.write(9, b"nine").expect("reuses 8's slot");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2);

        let again = Slots::open(dir.path()).expect("reopen");
        let mut got = again.records().expect("records");
        got.sort();
        assert_eq!(got, vec![(7, b"seven, again".to_vec()), (9, b"nine".to_vec())]);
    }

    #[test]
    fn after_a_burst_only_a_bounded_number_of_free_slots_stay_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Slots::open(dir.path()).expect("open");
        let n = KEEP_FREE as u64 + 10;
        for id in 0..n {
            s.write(id, b"pending").expect("write");
        }
        for id in 0..n {
            assert!(s.free(id).expect("free"));
        }
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), KEEP_FREE);
        s.write(1_000, b"reuses a kept slot").expect("write");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), KEEP_FREE);
    }

    #[test]
    fn a_torn_write_reads_as_free_and_the_newer_duplicate_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Slots::open(dir.path()).expect("open");
        s.write(1, b"first record").expect("write");
        s.write(2, b"second record").expect("write");
        // Slot 1 (record 2) torn: its payload no longer matches the header's MD5.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("1"))
            .expect("slot");
        write_at(&f, b"XX", HEADER as u64).expect("tear");
        // Record 1 also written, later, into a third slot (a crash before its old slot was freed).
        let third = std::fs::File::create(dir.path().join("2")).expect("third");
        let mut buf = header(1, 99, b"newer");
        buf.extend_from_slice(b"newer");
        write_at(&third, &buf, 0).expect("write");

        let again = Slots::open(dir.path()).expect("reopen");
        assert_eq!(again.records().expect("records"), vec![(1, b"newer".to_vec())]);
        // Both losers are free and reusable.
        again.write(5, b"a").expect("write");
        again.write(6, b"b").expect("write");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 3);
    }
}
