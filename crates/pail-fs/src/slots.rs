//! Journal slots: small records written in place into one kept file, so making a small file's
//! close durable costs one `sync_data` and no directory change (a record file of its own costs
//! a file fsync and a directory fsync: two device flushes).
//!
//! `<cache>/slots.bin` is an array of [`STRIDE`]-byte slots. Each holds at most one record: a
//! header ([`HEADER`] bytes: magic, record id, sequence number, payload length, MD5 of the
//! payload) followed by the payload. A record is one positional write, then `sync_data` of the
//! file. A slot is freed by overwriting its header with zeros *without* a flush of its own: the
//! next record's `sync_data` (same file) carries it to the device, or a flush a moment later
//! when no record follows ([`FLUSH_FREES_AFTER`]), or the next record file ([`Slots::sync_frees`]
//! runs before one is written). So a small file costs one device flush, not two; the second,
//! in the background, used to queue ahead of the next close's.
//!
//! Why a torn write cannot lose or revive anything that matters: a header whose MD5 does not
//! match its payload reads as free, and only a write whose call had not returned can be torn, so
//! nothing it carried was promised. A free not yet flushed when the machine stops revives a
//! record whose upload had finished; the next mount then sends it again under its original
//! condition (`If-None-Match`/`If-Match`), which finds its own bytes already there and drops it
//! (had someone else changed the file on S3 in that moment, both versions are kept as a
//! conflict copy: neither is lost). Every later journal write flushes pending frees first, so a revived record never
//! overtakes a later change recorded by this drive. Two valid slots of one id (a crash between
//! a rewrite into a new slot and the free of the old one) resolve to the higher sequence number.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::{Digest, Md5};

use crate::positional::{read_at, write_at};

const MAGIC: &[u8; 8] = b"pailslt1";
/// Magic, id, sequence, length (u64 each), payload MD5.
pub(crate) const HEADER: usize = 8 + 8 + 8 + 8 + 16;
/// Bytes per slot: room for a 64 KiB file's record (base64 and its names). A record that does
/// not fit is written to a record file instead.
pub(crate) const STRIDE: u64 = 128 << 10;
/// Free slots kept at most at the end of the file; beyond, the file is cut back (a burst of
/// pending small files grows it, and this bounds what it holds on disk afterwards).
const KEEP_FREE: usize = 256;
/// How long frees wait for a record's flush to carry them before being flushed on their own.
const FLUSH_FREES_AFTER: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct Table {
    /// Free slots below `next`; the lowest is used first, so the file stays compact.
    free: BTreeSet<u64>,
    /// Which slot holds each record id.
    of: HashMap<u64, u64>,
    /// Slots in the file.
    next: u64,
}

/// The slot file of a cache directory.
#[derive(Debug)]
pub(crate) struct Slots {
    file: File,
    table: Mutex<Table>,
    seq: AtomicU64,
    /// Frees written since the file's last flush.
    unflushed: AtomicU64,
    /// A delayed flush of frees is scheduled.
    flush_scheduled: AtomicBool,
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

/// Whether a record's payload fits in a slot.
pub(crate) fn fits(payload: &[u8]) -> bool {
    (HEADER + payload.len()) as u64 <= STRIDE
}

/// The valid record at `offset` of `f`: its id, sequence number and payload.
fn read_slot(f: &File, offset: u64) -> io::Result<Option<(u64, u64, Vec<u8>)>> {
    let mut head = [0u8; HEADER];
    if read_at(f, &mut head, offset)? < HEADER {
        return Ok(None);
    }
    let Some(h) = parse(&head).filter(|h| h.len > 0) else {
        return Ok(None);
    };
    let mut payload = vec![0; h.len];
    if read_at(f, &mut payload, offset + HEADER as u64)? < h.len || Md5::digest(&payload)[..] != h.md5 {
        return Ok(None);
    }
    Ok(Some((h.id, h.seq, payload)))
}

impl Slots {
    /// Opens (creating) the slot file `path`. This mount's sequence numbers continue after the
    /// highest one a valid slot holds (only valid slots are ever compared). Records in a
    /// `legacy` directory of one file per slot (pail before 2026-12) are moved into the file.
    pub(crate) fn open(path: &Path, legacy: &Path) -> io::Result<Self> {
        let file = crate::private::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut table = Table {
            next: file.metadata()?.len().div_ceil(STRIDE),
            ..Table::default()
        };
        let mut best: HashMap<u64, (u64, u64)> = HashMap::new();
        let mut superseded = Vec::new();
        let mut seq = 0;
        for n in 0..table.next {
            match read_slot(&file, n * STRIDE)? {
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
                None => {
                    table.free.insert(n);
                }
            }
        }
        table.of = best.into_iter().map(|(id, (n, _))| (id, n)).collect();
        // A superseded duplicate reads as free before its slot is reused.
        for &n in &superseded {
            write_at(&file, &[0u8; HEADER], n * STRIDE)?;
            table.free.insert(n);
        }
        if !superseded.is_empty() {
            file.sync_data()?;
        }
        let slots = Self {
            file,
            table: Mutex::new(table),
            seq: AtomicU64::new(seq),
            unflushed: AtomicU64::new(0),
            flush_scheduled: AtomicBool::new(false),
        };
        slots.take_legacy(legacy)?;
        Ok(slots)
    }

    /// Moves the records of an older cache's one-file-per-slot directory into the file.
    fn take_legacy(&self, dir: &Path) -> io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut best: HashMap<u64, (u64, Vec<u8>)> = HashMap::new();
        for entry in entries {
            let f = File::open(entry?.path())?;
            if let Some((id, s, payload)) = read_slot(&f, 0)?
                && best.get(&id).is_none_or(|(other, _)| *other < s)
            {
                best.insert(id, (s, payload));
            }
        }
        for (id, (_, payload)) in best {
            self.write(id, &payload)?;
        }
        std::fs::remove_dir_all(dir)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every record in a slot: its id and payload.
    pub(crate) fn records(&self) -> io::Result<Vec<(u64, Vec<u8>)>> {
        let held: Vec<(u64, u64)> = self.table().of.iter().map(|(&id, &n)| (id, n)).collect();
        let mut out = Vec::new();
        for (id, n) in held {
            if let Some((_, _, payload)) = read_slot(&self.file, n * STRIDE)? {
                out.push((id, payload));
            }
        }
        Ok(out)
    }

    /// Writes record `id` durably into its slot (a free one, or a new one at the end, for a
    /// new id). The payload must [fit](fits).
    pub(crate) fn write(&self, id: u64, payload: &[u8]) -> io::Result<()> {
        debug_assert!(fits(payload));
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut buf = header(id, seq, payload);
        buf.extend_from_slice(payload);
        {
            // Under the table lock, so a free of the same slot cannot interleave.
            let mut t = self.table();
            let n = match t.of.get(&id) {
                Some(&n) => n,
                None => {
                    let n = t.free.pop_first().unwrap_or(t.next);
                    t.next = t.next.max(n + 1);
                    t.of.insert(id, n);
                    n
                }
            };
            write_at(&self.file, &buf, n * STRIDE)?;
        }
        // Carries any frees written before it too.
        self.unflushed.store(0, Ordering::Release);
        self.file.sync_data()
    }

    /// Frees the slot of record `id`; `false` when `id` has no slot. The free reaches the
    /// device with the next record, or on its own shortly after (see the module notes).
    pub(crate) fn free(self: &Arc<Self>, id: u64) -> io::Result<bool> {
        {
            let mut t = self.table();
            let Some(n) = t.of.remove(&id) else { return Ok(false) };
            write_at(&self.file, &[0u8; HEADER], n * STRIDE)?;
            t.free.insert(n);
            // Cut back trailing free slots beyond those kept.
            let next = t.next;
            while t.free.len() > KEEP_FREE && t.free.last() == Some(&(t.next - 1)) {
                t.free.pop_last();
                t.next -= 1;
            }
            if t.next < next {
                self.file.set_len(t.next * STRIDE)?;
            }
        }
        self.unflushed.fetch_add(1, Ordering::AcqRel);
        self.schedule_flush();
        Ok(true)
    }

    /// Makes every free written so far durable (before a record that must not be overtaken
    /// by a revived one, and when a drive drains).
    pub(crate) fn sync_frees(&self) -> io::Result<()> {
        if self.unflushed.swap(0, Ordering::AcqRel) == 0 {
            return Ok(());
        }
        self.file.sync_data()
    }

    /// Flushes frees shortly, unless a record's flush carries them first. Without a runtime
    /// (tools, tests) they are flushed at once.
    fn schedule_flush(self: &Arc<Self>) {
        if self.flush_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.flush_scheduled.store(false, Ordering::Release);
            if let Err(e) = self.sync_frees() {
                tracing::warn!(error = %e, "could not flush freed journal slots");
            }
            return;
        };
        let this = Arc::downgrade(self);
        rt.spawn(async move {
            tokio::time::sleep(FLUSH_FREES_AFTER).await;
            let Some(this) = this.upgrade() else { return };
            this.flush_scheduled.store(false, Ordering::Release);
            let flushed = tokio::task::spawn_blocking(move || this.sync_frees()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "could not flush freed journal slots");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Arc<Slots> {
        Arc::new(Slots::open(&dir.join("slots.bin"), &dir.join("slots")).expect("open"))
    }

    fn len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join("slots.bin")).expect("slot file").len()
    }

    #[test]
    fn records_survive_reopen_and_freed_slots_are_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = open(dir.path());
        s.write(7, b"seven").expect("write");
        s.write(8, b"eight").expect("write");
        s.write(7, b"seven, again").expect("rewrite in place");
        assert!(s.free(8).expect("free"));
        assert!(!s.free(8).expect("already free"));
        s.write(9, b"nine").expect("reuses 8's slot");
        assert!(len(dir.path()) <= 2 * STRIDE);

        let again = open(dir.path());
        let mut got = again.records().expect("records");
        got.sort();
        assert_eq!(got, vec![(7, b"seven, again".to_vec()), (9, b"nine".to_vec())]);
    }

    #[test]
    fn after_a_burst_only_a_bounded_number_of_free_slots_stay_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = open(dir.path());
        let n = KEEP_FREE as u64 + 10;
        for id in 0..n {
            s.write(id, b"pending").expect("write");
        }
        assert_eq!(len(dir.path()).div_ceil(STRIDE), n);
        for id in 0..n {
            assert!(s.free(id).expect("free"));
        }
        assert_eq!(len(dir.path()), KEEP_FREE as u64 * STRIDE);
        s.write(1_000, b"reuses a kept slot").expect("write");
        assert_eq!(len(dir.path()), KEEP_FREE as u64 * STRIDE);
        assert_eq!(
            open(dir.path()).records().expect("records"),
            vec![(1_000, b"reuses a kept slot".to_vec())]
        );
    }

    #[test]
    fn a_torn_write_reads_as_free_and_the_newer_duplicate_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = open(dir.path());
        s.write(1, b"first record").expect("write");
        s.write(2, b"second record").expect("write");
        drop(s);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("slots.bin"))
            .expect("slot file");
        // Slot 1 (record 2) torn: its payload no longer matches the header's MD5.
        write_at(&f, b"XX", STRIDE + HEADER as u64).expect("tear");
        // Record 1 also written, later, into slot 2 (a crash before its old slot was freed).
        let mut buf = header(1, 99, b"newer");
        buf.extend_from_slice(b"newer");
        write_at(&f, &buf, 2 * STRIDE).expect("write");

        let again = open(dir.path());
        assert_eq!(again.records().expect("records"), vec![(1, b"newer".to_vec())]);
        // Both losers are free and reusable: the file does not grow.
        again.write(5, b"a").expect("write");
        again.write(6, b"b").expect("write");
        assert_eq!(len(dir.path()).div_ceil(STRIDE), 3);
        let mut got = open(dir.path()).records().expect("records");
        got.sort();
        assert_eq!(
            got,
            vec![(1, b"newer".to_vec()), (5, b"a".to_vec()), (6, b"b".to_vec())]
        );
    }

    #[test]
    fn records_of_the_older_one_file_per_slot_layout_move_into_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let legacy = dir.path().join("slots");
        std::fs::create_dir(&legacy).expect("legacy dir");
        for (name, id, seq, payload) in [("0", 3, 1, &b"older"[..]), ("1", 3, 2, b"newest"), ("2", 4, 0, b"four")] {
            let mut buf = header(id, seq, payload);
            buf.extend_from_slice(payload);
            std::fs::write(legacy.join(name), buf).expect("legacy slot");
        }
        std::fs::write(legacy.join("3"), [0u8; HEADER]).expect("a free legacy slot");
        let s = open(dir.path());
        let mut got = s.records().expect("records");
        got.sort();
        assert_eq!(got, vec![(3, b"newest".to_vec()), (4, b"four".to_vec())]);
        assert!(
            !legacy.exists(),
            "the old directory is gone once its records are in the file"
        );
    }

    #[test]
    fn a_record_too_large_for_a_slot_is_told_apart() {
        assert!(fits(&vec![0u8; STRIDE as usize - HEADER]));
        assert!(!fits(&vec![0u8; STRIDE as usize - HEADER + 1]));
    }
}
