//! Tests of sealed staging files.

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
    put(&f, b"aligned, short of the end", BLOCK);
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
fn appends_read_back_from_the_recent_copy_and_any_other_change_empties_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = sealed_file(dir.path(), &CacheKey::generate().expect("key"));
    let a = vec![1u8; 2 * BLOCK as usize];
    let b = vec![2u8; BLOCK as usize + 100];
    f.write_at(&a, 0).expect("append");
    f.write_at(&b, 2 * BLOCK).expect("append");
    let s = f.sealed.as_ref().expect("sealed");
    assert_eq!(
        s.recent().read(BLOCK, 3 * BLOCK + 50).expect("cached").len(),
        2 * BLOCK as usize + 50
    );
    assert_eq!(f.read_vec(10, 3 * BLOCK + 95).expect("read"), [2, 2, 2, 2, 2]);
    f.write_at(b"x", 5).expect("an edit");
    assert!(s.recent().read(0, 10).is_none(), "emptied");
    let back = f.read_vec(8, 0).expect("read");
    assert_eq!(back, [1, 1, 1, 1, 1, b'x', 1, 1]);
}

#[test]
fn a_read_beside_writes_into_the_same_blocks_sees_each_block_before_or_after_a_write() {
    // Reads take no lock while they read slots, so some meet a slot half rewritten: those
    // must be read again, never fail or mix two versions within a block.
    let dir = tempfile::tempdir().expect("tempdir");
    let f = Arc::new(sealed_file(dir.path(), &CacheKey::generate().expect("key")));
    let blocks = 64usize;
    let size = blocks * BLOCK as usize;
    f.write_at(&vec![1u8; size], 0).expect("write");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (f, stop) = (f.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut v = 1u8;
            while !stop.load(Ordering::Acquire) {
                v = 3 - v;
                // Not on block boundaries, so every block is rewritten from disk and the
                // appends' copy in memory is not used.
                f.write_at(&vec![v; size - 2], 1).expect("rewrite");
            }
        })
    };
    for _ in 0..200 {
        let got = f.read_vec(size, 0).expect("a read beside a write");
        assert_eq!(got.len(), size);
        for (i, block) in got.chunks(BLOCK as usize).enumerate() {
            let inner = match i {
                0 => &block[1..],
                _ if i == blocks - 1 => &block[..block.len() - 1],
                _ => block,
            };
            assert!(
                inner.iter().all(|&b| b == inner[0]) && matches!(inner[0], 1 | 2),
                "block {i} mixes two versions"
            );
        }
    }
    stop.store(true, Ordering::Release);
    writer.join().expect("writer");
}

#[test]
fn slots_missing_at_the_end_read_as_zeros() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = sealed_file(dir.path(), &CacheKey::generate().expect("key"));
    f.write_at(&vec![7u8; 3 * BLOCK as usize], 0).expect("write");
    f.sealed.as_ref().expect("sealed").recent().clear();
    // A crash kept the first two slots only; the journal's size says three blocks.
    f.file.set_len(slot_at(2)).expect("cut");
    let back = f.read_vec(2 * BLOCK as usize, BLOCK + 10).expect("read");
    assert_eq!(back.len(), 2 * BLOCK as usize - 10, "up to the end of the file");
    assert!(back[..BLOCK as usize - 10].iter().all(|&b| b == 7));
    assert!(back[BLOCK as usize - 10..].iter().all(|&b| b == 0));
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
    // Read from disk, not from the appends' copy in memory.
    f.sealed.as_ref().expect("sealed").recent().clear();
    assert!(f.read_vec(10, BLOCK).is_err());
}
