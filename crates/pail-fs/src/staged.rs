//! A staging file's bytes on disk: positional reads and writes of a plain file, or, with a
//! cache key, of blocks sealed one by one (see `seal`).
//!
//! Sealed layout: a [`HEADER`]-byte header ([`MAGIC`], then zeros), then one [`SLOT`]-byte slot
//! per [`BLOCK`] bytes of the file: nonce (12), plaintext length (u32 LE), ciphertext, tag (16),
//! so a slot read from disk opens where it lies, without a copy. A slot of zeros is a hole and reads as zeros, so a file extended with `set_len` stays sparse
//! as a plain one does. A block's plaintext may be shorter than [`BLOCK`]; the rest reads as
//! zeros. The associated data of a block is the staging file's id and the block's index.
//!
//! Invariant: `len` is the file's length as the layer above sees it. A write of part of a block
//! reads, changes and seals the whole block again, under `len`'s write lock. Reads do not hold
//! it while they read and open slots, so a writer appending to the file is never held by an
//! upload reading earlier parts: a slot a concurrent write tore fails to open (its tag does not
//! match), and the read is then made again under the lock. A slot read whole is its bytes before
//! or after a write, as a plain file's `pread` beside a `pwrite` is. After a restart a file's
//! length is read from its last slot; the journal record's size is what counts.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use aws_lc_rs::aead::NONCE_LEN;
use bytes::Bytes;

use crate::positional::{read_vec_at, write_at};
use crate::seal::{Sealer, TAG_LEN};

/// How a sealed staging file starts.
pub(crate) const MAGIC: &[u8; 8] = b"pailstg1";
pub(crate) const HEADER: u64 = 32;
/// Plaintext bytes per sealed block.
pub(crate) const BLOCK: u64 = 16 << 10;
const SLOT_HEAD: usize = NONCE_LEN + 4;
/// Bytes per sealed block on disk.
pub(crate) const SLOT: u64 = BLOCK + (SLOT_HEAD + TAG_LEN) as u64;

#[derive(Debug)]
struct Sealed {
    sealer: Arc<Sealer>,
    id: u64,
    len: RwLock<u64>,
    /// What the latest appends wrote, in the clear, changed only under `len`'s write lock.
    recent: Mutex<Recent>,
}

/// Plaintext of the last [`RECENT_MAX`] bytes a sequential writer appended in whole blocks: an
/// upload sends a large file's parts as soon as they are written (`eager`), and finds them here
/// instead of reading and opening them again (which cost a fifth of a large write's speed).
/// Any other change to the file empties it.
#[derive(Debug, Default)]
struct Recent {
    /// Each append's bytes, shared with readers copying out of them after the lock.
    chunks: VecDeque<(u64, Bytes)>,
    bytes: usize,
}

/// Bound of [`Recent`] per file: two parts of the default size.
const RECENT_MAX: usize = 16 << 20;
/// Bound of all files' [`Recent`] copies in the process: files closed and waiting for their
/// upload keep theirs, so without it a hundred pending large files would hold 1.6 GB.
const RECENT_TOTAL: usize = 64 << 20;
static RECENT_USED: AtomicUsize = AtomicUsize::new(0);

impl Recent {
    fn clear(&mut self) {
        RECENT_USED.fetch_sub(self.bytes, Ordering::AcqRel);
        self.chunks.clear();
        self.bytes = 0;
    }

    fn push(&mut self, offset: u64, data: &[u8]) {
        if self.chunks.back().map(|(o, d)| o + d.len() as u64) != Some(offset) {
            self.clear();
        }
        let charged = RECENT_USED.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
            (u + data.len() <= RECENT_TOTAL).then_some(u + data.len())
        });
        if charged.is_err() {
            // The process's allowance is spent: this file's parts are read from disk.
            self.clear();
            return;
        }
        self.chunks.push_back((offset, Bytes::copy_from_slice(data)));
        self.bytes += data.len();
        while self.bytes > RECENT_MAX {
            let Some((_, d)) = self.chunks.pop_front() else { break };
            self.bytes -= d.len();
            RECENT_USED.fetch_sub(d.len(), Ordering::AcqRel);
        }
    }

    /// The pieces of bytes `offset..end`, if all of them are here: cheap to take under the
    /// lock, copied out after it ([`gather`]).
    fn pieces(&self, offset: u64, end: u64) -> Option<Vec<Bytes>> {
        let (first, _) = self.chunks.front()?;
        let (last, d) = self.chunks.back()?;
        if offset < *first || end > last + d.len() as u64 {
            return None;
        }
        let mut out = Vec::new();
        for (o, d) in &self.chunks {
            let (from, to) = (offset.max(*o), end.min(o + d.len() as u64));
            if from < to {
                out.push(d.slice((from - o) as usize..(to - o) as usize));
            }
        }
        Some(out)
    }

    /// Bytes `offset..end`, if all of them are here.
    #[cfg(test)]
    fn read(&self, offset: u64, end: u64) -> Option<Vec<u8>> {
        self.pieces(offset, end).map(|p| gather(&p))
    }
}

/// The pieces one after another.
fn gather(pieces: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pieces.iter().map(Bytes::len).sum());
    for p in pieces {
        out.extend_from_slice(p);
    }
    out
}

impl Drop for Recent {
    fn drop(&mut self) {
        self.clear();
    }
}

/// One staging file, plain or sealed.
#[derive(Debug)]
pub(crate) struct StagedFile {
    file: File,
    sealed: Option<Sealed>,
}

impl Sealed {
    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn aad(id: u64, block: u64) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&id.to_le_bytes());
    a[8..].copy_from_slice(&block.to_le_bytes());
    a
}

fn slot_at(block: u64) -> u64 {
    HEADER + block * SLOT
}

fn blocks_for(len: u64) -> u64 {
    len.div_ceil(BLOCK)
}

/// Whether the file's bytes start as a sealed staging file's.
pub(crate) fn is_sealed_file(file: &File) -> io::Result<bool> {
    let head = read_vec_at(file, MAGIC.len(), 0)?;
    Ok(head == MAGIC)
}

impl StagedFile {
    /// A plain staging file.
    pub(crate) fn plain(file: File) -> Self {
        Self { file, sealed: None }
    }

    /// A sealed staging file: `file` is empty (a new one) or already sealed (reopened after a
    /// restart).
    pub(crate) fn sealed(file: File, sealer: Arc<Sealer>, id: u64) -> io::Result<Self> {
        let physical = file.metadata()?.len();
        let me = Self {
            file,
            sealed: Some(Sealed {
                sealer,
                id,
                len: RwLock::new(0),
                recent: Mutex::default(),
            }),
        };
        if physical == 0 {
            let mut head = [0u8; HEADER as usize];
            head[..MAGIC.len()].copy_from_slice(MAGIC);
            write_at(&me.file, &head, 0)?;
        } else if !is_sealed_file(&me.file)? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a staging file is not encrypted where the cache is",
            ));
        } else if physical > HEADER {
            let n = (physical - HEADER).div_ceil(SLOT);
            let tail = me.read_block(n - 1)?.map_or(BLOCK, |b| b.len() as u64);
            *me.sealed
                .as_ref()
                .expect("sealed")
                .len
                .write()
                .unwrap_or_else(|e| e.into_inner()) = (n - 1) * BLOCK + tail;
        }
        Ok(me)
    }

    /// The plaintext of block `b`; `None` for a hole (zeros), empty past the end of the file.
    fn read_block(&self, b: u64) -> io::Result<Option<Vec<u8>>> {
        let s = self.sealed.as_ref().expect("sealed");
        let mut raw = read_vec_at(&self.file, SLOT as usize, slot_at(b))?;
        Ok(open_slot(s, b, &mut raw)?.map(|plain| {
            raw.truncate(plain.end);
            raw.drain(..plain.start);
            raw
        }))
    }

    /// Reads up to `len` bytes at `offset`; fewer only at the end.
    pub(crate) fn read_vec(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        let Some(s) = &self.sealed else {
            return read_vec_at(&self.file, len, offset);
        };
        let end = {
            let size = s.len.read().unwrap_or_else(|e| e.into_inner());
            let end = (offset + len as u64).min(*size);
            if offset >= end {
                return Ok(Vec::new());
            }
            if let Some(pieces) = s.recent().pieces(offset, end) {
                drop(size);
                return Ok(gather(&pieces));
            }
            end
        };
        match self.open_range(s, offset, end) {
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                // A write tore a slot while it was read, or the slot is damaged: read it again
                // while no write runs, which tells the two apart.
                let size = s.len.read().unwrap_or_else(|e| e.into_inner());
                tracing::trace!(
                    offset,
                    end,
                    "a staging block did not open; reading it again under the lock"
                );
                self.open_range(s, offset, end.min(*size))
            }
            r => r,
        }
    }

    /// The plaintext of bytes `offset..end` from the slots on disk, opened and moved together
    /// in the buffer they were read into (a part's worth of fresh memory less per read).
    fn open_range(&self, s: &Sealed, offset: u64, end: u64) -> io::Result<Vec<u8>> {
        if offset >= end {
            return Ok(Vec::new());
        }
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        let mut raw = read_vec_at(&self.file, ((last - first + 1) * SLOT) as usize, slot_at(first))?;
        let read = raw.len();
        // Room for all of it even when slots are missing at the end.
        raw.resize(read.max((end - offset) as usize), 0);
        // `out` bytes of plaintext are in place at the start of `raw`; each slot's lands at or
        // before where the slot starts, so moving it forward never overwrites one not yet opened.
        let mut out = 0usize;
        for b in first..=last {
            let at = ((b - first) * SLOT) as usize;
            let from = (offset.max(b * BLOCK) - b * BLOCK) as usize;
            let to = (end.min((b + 1) * BLOCK) - b * BLOCK) as usize;
            let have = if at < read {
                let slot_end = (at + SLOT as usize).min(read);
                match open_slot(s, b, &mut raw[at..slot_end])? {
                    Some(plain) => {
                        let have = plain.len().min(to);
                        if have > from {
                            raw.copy_within(at + plain.start + from..at + plain.start + have, out);
                            out += have - from;
                        }
                        have.max(from)
                    }
                    None => from,
                }
            } else {
                // A slot missing at the end of the file (a crash shortened it).
                from
            };
            // A hole, or bytes past a block's plaintext, read as zeros.
            raw[out..out + (to - have)].fill(0);
            out += to - have;
        }
        raw.truncate(out);
        Ok(raw)
    }

    /// Writes all of `data` at `offset`.
    pub(crate) fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let Some(s) = &self.sealed else {
            return write_at(&self.file, data, offset);
        };
        if data.is_empty() {
            return Ok(());
        }
        let end = offset + data.len() as u64;
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        // A write of whole blocks (a sequential writer's) is sealed before the lock is taken,
        // so readers (an upload sending earlier parts) are held only while it is written. It
        // keeps nothing of the blocks it covers, unless its last block is partial and the file
        // has grown past it meanwhile: then it is sealed again below, under the lock.
        let whole = offset.is_multiple_of(BLOCK).then(|| {
            let mut out = Vec::with_capacity(((last - first + 1) * SLOT) as usize);
            for (i, part) in data.chunks(BLOCK as usize).enumerate() {
                seal_slot(s, first + i as u64, part, &mut out);
            }
            out
        });
        let mut size = s.len.write().unwrap_or_else(|e| e.into_inner());
        if let Some(out) = whole.filter(|_| end.is_multiple_of(BLOCK) || end >= *size) {
            write_at(&self.file, &out, slot_at(first))?;
            *size = (*size).max(end);
            s.recent().push(offset, data);
            return Ok(());
        }
        s.recent().clear();
        let mut out = Vec::with_capacity(((last - first + 1) * SLOT) as usize);
        for b in first..=last {
            let (bstart, bend) = (b * BLOCK, (b + 1) * BLOCK);
            let from = offset.max(bstart);
            let to = end.min(bend);
            let part = &data[(from - offset) as usize..(to - offset) as usize];
            if from == bstart && (to == bend || bstart >= *size) {
                // A whole block, or the start of a new last one: nothing of it to keep.
                seal_slot(s, b, part, &mut out);
                continue;
            }
            let mut plain = if bstart < *size {
                self.read_block(b)?.unwrap_or_default()
            } else {
                Vec::new()
            };
            let need = (to - bstart) as usize;
            if plain.len() < need {
                plain.resize(need, 0);
            }
            plain[(from - bstart) as usize..need].copy_from_slice(part);
            seal_slot(s, b, &plain, &mut out);
        }
        write_at(&self.file, &out, slot_at(first))?;
        *size = (*size).max(end);
        Ok(())
    }

    /// Sets the length; bytes past the old end read as zeros.
    pub(crate) fn set_len(&self, len: u64) -> io::Result<()> {
        let Some(s) = &self.sealed else {
            return self.file.set_len(len);
        };
        let mut size = s.len.write().unwrap_or_else(|e| e.into_inner());
        s.recent().clear();
        if len < *size && !len.is_multiple_of(BLOCK) {
            let b = len / BLOCK;
            if let Some(mut plain) = self.read_block(b)? {
                plain.truncate((len - b * BLOCK) as usize);
                let mut out = Vec::with_capacity(SLOT as usize);
                seal_slot(s, b, &plain, &mut out);
                write_at(&self.file, &out, slot_at(b))?;
            }
        }
        self.file.set_len(slot_at(blocks_for(len)))?;
        *size = len;
        Ok(())
    }

    /// Makes the bytes durable.
    pub(crate) fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Opens the slot at the start of `raw` in place: where its plaintext lies in `raw`, or `None`
/// for a hole.
fn open_slot(s: &Sealed, b: u64, raw: &mut [u8]) -> io::Result<Option<std::ops::Range<usize>>> {
    if raw.len() < SLOT_HEAD || raw[..SLOT_HEAD].iter().all(|&x| x == 0) {
        return Ok(None);
    }
    let nonce: [u8; NONCE_LEN] = raw[..NONCE_LEN].try_into().expect("12 bytes");
    let n = u32::from_le_bytes(raw[NONCE_LEN..SLOT_HEAD].try_into().expect("4 bytes")) as usize;
    if n as u64 > BLOCK || raw.len() < SLOT_HEAD + n + TAG_LEN {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "a staging block is damaged"));
    }
    let opened = s.sealer.open_in_place(
        &aad(s.id, b),
        &nonce,
        &mut raw[SLOT_HEAD..SLOT_HEAD + n + TAG_LEN],
        "a staging block",
    )?;
    Ok(Some(SLOT_HEAD..SLOT_HEAD + opened))
}

/// Appends block `b` (`plain`) sealed, as a whole slot, to `out`: one copy, sealed in place.
fn seal_slot(s: &Sealed, b: u64, plain: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + SLOT_HEAD, 0);
    out.extend_from_slice(plain);
    let (nonce, tag) = s.sealer.seal_in_place(&aad(s.id, b), &mut out[start + SLOT_HEAD..]);
    out[start..start + NONCE_LEN].copy_from_slice(&nonce);
    out[start + NONCE_LEN..start + SLOT_HEAD].copy_from_slice(&(plain.len() as u32).to_le_bytes());
    out.extend_from_slice(&tag);
    // Every slot is written whole, so the next one starts at its place.
    out.resize(start + SLOT as usize, 0);
}

#[cfg(test)]
mod tests;
