//! Encryption at rest: everything pail keeps of a file's content in the cache (staging files,
//! journal records with small files' bytes, freed slots, recycled files, cached blocks) is
//! AES-256-GCM ciphertext under a random key of the cache directory, which the binaries keep in
//! the OS secret store. Without the key, what is left on disk is unreadable.
//!
//! Two forms, both authenticated with the place the bytes belong to as associated data (a
//! record id, a staging file's id and block index, a block's key), so bytes moved from one
//! place to another fail to open instead of reading as another file's:
//! - a *record* (journal record, slot payload, cached block): [`MAGIC`], nonce, ciphertext, tag;
//! - a *block* of a staging file (see `staged`): nonce, length, tag, ciphertext, in a
//!   fixed-size slot.
//!
//! Nonces are random (96 bits) from the thread's CSPRNG (rand's `ThreadRng`, ChaCha12 seeded
//! and reseeded from the OS; aws-lc's own per-call generator costs more than the sealing at
//! 16 KiB, 1.3 GB/s against 3.6 GB/s here). NIST SP 800-38D bounds one key to 2^32 messages
//! with random nonces: 64 TiB of 16 KiB staging blocks written through one cache directory.
//!
//! A cache directory records the id of its key (`key.id`, a hash, not the key): a mount with
//! no key, or another one, is refused before anything is read, and a cache written by a
//! version without encryption is migrated when the drive starts (see `resume`).

use std::fmt;
use std::io;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// How a sealed record starts.
pub(crate) const MAGIC: &[u8; 8] = b"pailenc1";
pub(crate) const TAG_LEN: usize = 16;
/// Bytes a sealed record adds to its plaintext.
pub(crate) const RECORD_OVERHEAD: usize = MAGIC.len() + NONCE_LEN + TAG_LEN;

/// A cache directory's key: 32 random bytes, wiped from memory when dropped.
#[derive(Clone)]
pub struct CacheKey(Zeroizing<[u8; 32]>);

impl CacheKey {
    /// A new random key.
    pub fn generate() -> io::Result<Self> {
        let mut k = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(&mut k[..]).map_err(|_| io::Error::other("the system's random generator failed"))?;
        Ok(Self(k))
    }

    /// The key as 64 hex digits, as the secret store keeps it.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(&self.0[..]))
    }

    /// A key from its 64 hex digits; `None` for anything else.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = Zeroizing::new(hex::decode(s.trim()).ok()?);
        let arr: [u8; 32] = bytes.as_slice().try_into().ok()?;
        Some(Self(Zeroizing::new(arr)))
    }

    /// A public name of the key (a hash of it): what `key.id` holds, and log lines show.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"pail cache key id\0");
        h.update(&self.0[..]);
        hex::encode(&h.finalize()[..8])
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.id())
    }
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} does not decrypt with this cache's key (damaged, or moved from elsewhere)"),
    )
}

/// Seals and opens with one cache key.
pub(crate) struct Sealer {
    key: LessSafeKey,
    id: String,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer({})", self.id)
    }
}

impl Sealer {
    pub(crate) fn new(key: &CacheKey) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, &key.0[..]).expect("a 32-byte key is an AES-256 key");
        Self {
            id: key.id(),
            key: LessSafeKey::new(unbound),
        }
    }

    /// Encrypts `buf` in place; returns the nonce and tag.
    pub(crate) fn seal_in_place(&self, aad: &[u8], buf: &mut [u8]) -> ([u8; NONCE_LEN], [u8; TAG_LEN]) {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
            .expect("AES-GCM sealing does not fail on a valid key");
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag.as_ref());
        (nonce, t)
    }

    /// Decrypts `ct_tag` (ciphertext then tag) in place, checking the tag; the plaintext is
    /// the first `ct_tag.len() - 16` bytes.
    pub(crate) fn open_in_place(
        &self,
        aad: &[u8],
        nonce: &[u8; NONCE_LEN],
        ct_tag: &mut [u8],
        what: &str,
    ) -> io::Result<usize> {
        self.key
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), ct_tag)
            .map(|p| p.len())
            .map_err(|_| damaged(what))
    }

    /// `plain` as a sealed record.
    pub(crate) fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + RECORD_OVERHEAD);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[0u8; NONCE_LEN]);
        out.extend_from_slice(plain);
        let (nonce, tag) = self.seal_in_place(aad, &mut out[MAGIC.len() + NONCE_LEN..]);
        out[MAGIC.len()..MAGIC.len() + NONCE_LEN].copy_from_slice(&nonce);
        out.extend_from_slice(&tag);
        out
    }

    /// The plaintext of a sealed record.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8], what: &str) -> io::Result<Vec<u8>> {
        if !is_sealed(sealed) || sealed.len() < RECORD_OVERHEAD {
            return Err(damaged(what));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[MAGIC.len()..MAGIC.len() + NONCE_LEN]);
        let mut buf = sealed[MAGIC.len() + NONCE_LEN..].to_vec();
        let n = self.open_in_place(aad, &nonce, &mut buf, what)?;
        buf.truncate(n);
        Ok(buf)
    }
}

/// Whether `data` is a sealed record.
pub(crate) fn is_sealed(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

/// How a cache directory's bytes are kept: in the clear (encryption off, as the benchmark's
/// comparison runs) or sealed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cipher(Option<std::sync::Arc<Sealer>>);

impl Cipher {
    pub(crate) fn new(key: Option<&CacheKey>) -> Self {
        Self(key.map(|k| std::sync::Arc::new(Sealer::new(k))))
    }

    pub(crate) fn sealer(&self) -> Option<&std::sync::Arc<Sealer>> {
        self.0.as_ref()
    }

    /// A record's bytes as they go to disk.
    pub(crate) fn wrap(&self, aad: &[u8], plain: Vec<u8>) -> Vec<u8> {
        match &self.0 {
            Some(s) => s.seal(aad, &plain),
            None => plain,
        }
    }

    /// A record's plaintext from what is on disk. Plaintext written before encryption was on is
    /// taken as it is (the caller rewrites it sealed); a sealed record without the key fails.
    pub(crate) fn unwrap(&self, aad: &[u8], data: Vec<u8>, what: &str) -> io::Result<Vec<u8>> {
        match (&self.0, is_sealed(&data)) {
            (Some(s), true) => s.open(aad, &data, what),
            (None, true) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{what} is encrypted, and this mount has no cache key"),
            )),
            (_, false) => Ok(data),
        }
    }
}

/// The file in a cache directory that names its key.
pub(crate) const KEY_ID_FILE: &str = "key.id";

/// What a cache directory says of its key, checked against the key this mount has.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// The cache is new, or was written in the clear: it is (re)written under this key.
    Adopt,
    /// The cache's key is this one.
    Same,
}

/// Checks the cache at `dir` against `key`, refusing a mount that cannot read it. `None` runs
/// without encryption, which an encrypted cache refuses.
pub(crate) fn check_key(dir: &Path, key: Option<&CacheKey>) -> io::Result<KeyCheck> {
    match (cache_key_id(dir)?, key) {
        (None, _) => Ok(KeyCheck::Adopt),
        (Some(id), Some(k)) if id == k.id() => Ok(KeyCheck::Same),
        (Some(id), Some(k)) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the cache {} is encrypted with key {id}, not with the key {} this drive has in the secret store: \
                 its pending uploads cannot be read; restore that key, or move the folder aside to start afresh",
                dir.display(),
                k.id()
            ),
        )),
        (Some(id), None) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the cache {} is encrypted (key {id}) and this mount has no key for it: mount with encryption on",
                dir.display()
            ),
        )),
    }
}

/// The id of the key a write-back cache directory is encrypted with, if it is.
pub fn cache_key_id(dir: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(dir.join(KEY_ID_FILE)) {
        Ok(s) => Ok(Some(s.trim().to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Records `key` as the cache's key (after its content was migrated to it).
pub(crate) fn record_key(dir: &Path, key: &CacheKey) -> io::Result<()> {
    crate::private::write(&dir.join(KEY_ID_FILE), format!("{}\n", key.id()).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_opens_only_with_its_key_and_its_place() {
        let key = CacheKey::generate().expect("key");
        let s = Sealer::new(&key);
        let sealed = s.seal(b"record 7", b"the quarterly figures");
        assert!(is_sealed(&sealed));
        assert!(
            !sealed.windows(9).any(|w| w == b"quarterly"),
            "no plaintext in the sealed form"
        );
        assert_eq!(
            s.open(b"record 7", &sealed, "record").expect("opens"),
            b"the quarterly figures"
        );
        assert!(
            s.open(b"record 8", &sealed, "record").is_err(),
            "moved to another record"
        );
        let other = Sealer::new(&CacheKey::generate().expect("key"));
        assert!(other.open(b"record 7", &sealed, "record").is_err(), "another key");
        let mut flipped = sealed.clone();
        let last = flipped.len() - 20;
        flipped[last] ^= 1;
        assert!(s.open(b"record 7", &flipped, "record").is_err(), "a changed byte");
    }

    #[test]
    fn the_key_round_trips_as_hex_and_its_id_is_not_the_key() {
        let key = CacheKey::generate().expect("key");
        let back = CacheKey::from_hex(&key.to_hex()).expect("hex");
        assert_eq!(back.id(), key.id());
        assert!(!key.to_hex().contains(&key.id()));
        assert!(CacheKey::from_hex("not hex").is_none());
        assert!(CacheKey::from_hex("abcd").is_none(), "too short");
        assert!(
            !format!("{key:?}").contains(key.to_hex().as_str()),
            "Debug never shows the key"
        );
    }

    #[test]
    fn a_cache_refuses_a_mount_without_its_key_or_with_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = CacheKey::generate().expect("key");
        assert_eq!(check_key(dir.path(), Some(&key)).expect("new"), KeyCheck::Adopt);
        assert_eq!(check_key(dir.path(), None).expect("clear"), KeyCheck::Adopt);
        record_key(dir.path(), &key).expect("record");
        assert_eq!(check_key(dir.path(), Some(&key)).expect("same"), KeyCheck::Same);
        let other = CacheKey::generate().expect("key");
        let e = check_key(dir.path(), Some(&other)).expect_err("another key");
        assert!(e.to_string().contains(&key.id()), "{e}");
        let e = check_key(dir.path(), None).expect_err("no key");
        assert!(e.to_string().contains("encrypted"), "{e}");
    }

    #[test]
    fn cipher_off_keeps_records_clear_and_refuses_sealed_ones() {
        let on = Cipher::new(Some(&CacheKey::generate().expect("key")));
        let off = Cipher::default();
        let sealed = on.wrap(b"a", b"{\"x\":1}".to_vec());
        assert!(off.unwrap(b"a", sealed.clone(), "record").is_err());
        assert_eq!(on.unwrap(b"a", sealed, "record").expect("open"), b"{\"x\":1}");
        assert_eq!(off.wrap(b"a", b"{}".to_vec()), b"{}");
        assert_eq!(on.unwrap(b"a", b"{}".to_vec(), "legacy").expect("legacy"), b"{}");
    }
}
