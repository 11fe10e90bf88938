//! A staging file's bytes on disk: positional reads and writes of a plain file, or, with a
//! cache key, of blocks sealed one by one (see `seal`).
//!
//! Sealed layout: a [`HEADER`]-byte header ([`MAGIC`], then zeros), then one [`SLOT`]-byte slot
//! per [`BLOCK`] bytes of the file: nonce (12), plaintext length (u32 LE), tag (16), ciphertext.
//! A slot of zeros is a hole and reads as zeros, so a file extended with `set_len` stays sparse
//! as a plain one does. A block's plaintext may be shorter than [`BLOCK`]; the rest reads as
//! zeros. The associated data of a block is the staging file's id and the block's index.
//!
//! Invariant: `len` is the file's length as the layer above sees it. A write of part of a block
//! reads, changes and seals the whole block again, so writes and reads take `lock` (writes
//! exclusively: a read overlapping a half-written slot would fail to open). After a restart a
//! file's length is read from its last slot; the journal record's size is what counts.

use std::fs::File;
use std::io;
use std::sync::{Arc, RwLock};

use aws_lc_rs::aead::NONCE_LEN;

use crate::seal::Sealer;
use crate::staging::{read_vec_at, write_at};

/// How a sealed staging file starts.
pub(crate) const MAGIC: &[u8; 8] = b"pailstg1";
pub(crate) const HEADER: u64 = 32;
/// Plaintext bytes per sealed block.
pub(crate) const BLOCK: u64 = 16 << 10;
const TAG_LEN: usize = 16;
const SLOT_HEAD: usize = NONCE_LEN + 4 + TAG_LEN;
/// Bytes per sealed block on disk.
pub(crate) const SLOT: u64 = BLOCK + SLOT_HEAD as u64;

#[derive(Debug)]
struct Sealed {
    sealer: Arc<Sealer>,
    id: u64,
    len: RwLock<u64>,
}

/// One staging file, plain or sealed.
#[derive(Debug)]
pub(crate) struct StagedFile {
    file: File,
    sealed: Option<Sealed>,
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
        let raw = read_vec_at(&self.file, SLOT as usize, slot_at(b))?;
        open_slot(s, b, raw)
    }

    /// Reads up to `len` bytes at `offset`; fewer only at the end.
    pub(crate) fn read_vec(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        let Some(s) = &self.sealed else {
            return read_vec_at(&self.file, len, offset);
        };
        let size = s.len.read().unwrap_or_else(|e| e.into_inner());
        let end = (offset + len as u64).min(*size);
        if offset >= end {
            return Ok(Vec::new());
        }
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        let raw = read_vec_at(&self.file, ((last - first + 1) * SLOT) as usize, slot_at(first))?;
        let mut out = Vec::with_capacity((end - offset) as usize);
        for (i, chunk) in raw.chunks(SLOT as usize).enumerate() {
            let b = first + i as u64;
            let from = offset.max(b * BLOCK) - b * BLOCK;
            let to = end.min((b + 1) * BLOCK) - b * BLOCK;
            let start = out.len();
            out.resize(start + (to - from) as usize, 0);
            if let Some(plain) = open_slot(s, b, chunk.to_vec())? {
                let have = (plain.len() as u64).min(to);
                if have > from {
                    out[start..start + (have - from) as usize].copy_from_slice(&plain[from as usize..have as usize]);
                }
            }
        }
        // Slots missing at the end of the file (a crash shortened it) read as zeros.
        out.resize((end - offset) as usize, 0);
        Ok(out)
    }

    /// Writes all of `data` at `offset`.
    pub(crate) fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let Some(s) = &self.sealed else {
            return write_at(&self.file, data, offset);
        };
        if data.is_empty() {
            return Ok(());
        }
        let mut size = s.len.write().unwrap_or_else(|e| e.into_inner());
        let end = offset + data.len() as u64;
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        let mut out = Vec::with_capacity(((last - first + 1) * SLOT) as usize);
        for b in first..=last {
            let (bstart, bend) = (b * BLOCK, (b + 1) * BLOCK);
            let from = offset.max(bstart);
            let to = end.min(bend);
            let mut plain = if from == bstart && to == bend {
                Vec::with_capacity(BLOCK as usize)
            } else if bstart < *size {
                self.read_block(b)?.unwrap_or_default()
            } else {
                Vec::new()
            };
            let need = (to - bstart) as usize;
            if plain.len() < need {
                plain.resize(need, 0);
            }
            plain[(from - bstart) as usize..need]
                .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
            seal_slot(s, b, plain, &mut out);
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
        if len < *size && !len.is_multiple_of(BLOCK) {
            let b = len / BLOCK;
            if let Some(mut plain) = self.read_block(b)? {
                plain.truncate((len - b * BLOCK) as usize);
                let mut out = Vec::with_capacity(SLOT as usize);
                seal_slot(s, b, plain, &mut out);
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

fn open_slot(s: &Sealed, b: u64, mut raw: Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    if raw.len() < SLOT_HEAD || raw[..SLOT_HEAD].iter().all(|&x| x == 0) {
        return Ok(None);
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&raw[..NONCE_LEN]);
    let n = u32::from_le_bytes(raw[NONCE_LEN..NONCE_LEN + 4].try_into().expect("4 bytes")) as usize;
    let tag: [u8; TAG_LEN] = raw[NONCE_LEN + 4..SLOT_HEAD].try_into().expect("16 bytes");
    if n as u64 > BLOCK || raw.len() < SLOT_HEAD + n {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "a staging block is damaged"));
    }
    raw.truncate(SLOT_HEAD + n);
    raw.drain(..SLOT_HEAD);
    s.sealer
        .open_in_place(&aad(s.id, b), &nonce, &tag, &mut raw, "a staging block")?;
    Ok(Some(raw))
}

/// Appends block `b` sealed, as a whole slot, to `out`.
fn seal_slot(s: &Sealed, b: u64, mut plain: Vec<u8>, out: &mut Vec<u8>) {
    let n = plain.len();
    let (nonce, tag) = s.sealer.seal_in_place(&aad(s.id, b), &mut plain);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&tag);
    out.extend_from_slice(&plain);
    // Every slot but the file's last is written whole, so the next one starts at its place.
    out.resize(out.len() + (BLOCK as usize - n), 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::CacheKey;

    fn sealed_file(dir: &std::path::Path, key: &CacheKey) -> StagedFile {
        let f = crate::private::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("f"))
            .expect("open");
        StagedFile::sealed(f, Arc::new(Sealer::new(key)), 9).expect("sealed")
    }

    #[test]
    fn sealed_writes_read_back_like_a_plain_file_and_leave_no_plaintext() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = CacheKey::generate().expect("key");
        let f = sealed_file(dir.path(), &key);
        let mut model = Vec::new();
        let mut put = |f: &StagedFile, data: &[u8], at: u64| {
            f.write_at(data, at).expect("write");
            let end = at as usize + data.len();
            if model.len() < end {
                model.resize(end, 0);
            }
            model[at as usize..end].copy_from_slice(data);
            model.clone()
        };
        let secret: Vec<u8> = b"SECRET-PAYLOAD-".iter().cycle().take(40_000).copied().collect();
        put(&f, &secret, 0);
        put(&f, b"edit in the middle", 16_380);
        let m = put(&f, b"after a gap", 70_000);
        assert_eq!(f.read_vec(200_000, 0).expect("read"), m);
        assert_eq!(f.read_vec(10, 16_384).expect("read"), m[16_384..16_394].to_vec());
        assert_eq!(f.read_vec(5, 50_000).expect("hole"), vec![0; 5]);
        let disk = std::fs::read(dir.path().join("f")).expect("disk");
        assert!(
            !disk.windows(14).any(|w| w == b"SECRET-PAYLOAD"),
            "no plaintext on disk"
        );

        f.set_len(16_390).expect("shrink");
        f.set_len(20_000).expect("grow");
        let back = f.read_vec(30_000, 0).expect("read");
        assert_eq!(back.len(), 20_000);
        assert_eq!(&back[..16_390], &m[..16_390]);
        assert!(back[16_390..].iter().all(|&b| b == 0), "bytes cut off do not come back");
        drop(f);
        let again = sealed_file(dir.path(), &key);
        assert_eq!(&again.read_vec(16_390, 0).expect("reopened")[..], &m[..16_390]);
        let f = std::fs::File::open(dir.path().join("f")).expect("open");
        let other = Arc::new(Sealer::new(&CacheKey::generate().expect("key")));
        assert!(StagedFile::sealed(f, other, 9).is_err(), "another key cannot read it");
    }

    #[test]
    fn a_block_moved_to_another_place_does_not_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = CacheKey::generate().expect("key");
        let f = sealed_file(dir.path(), &key);
        f.write_at(&vec![1u8; 2 * BLOCK as usize], 0).expect("write");
        let disk = std::fs::read(dir.path().join("f")).expect("disk");
        let slot0 = disk[HEADER as usize..(HEADER + SLOT) as usize].to_vec();
        write_at(&f.file, &slot0, slot_at(1)).expect("swap");
        assert!(f.read_vec(10, BLOCK).is_err());
    }
}
