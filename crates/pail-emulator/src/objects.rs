//! The emulator's object table: every bucket's objects with their metadata, held in memory,
//! with the bytes either in memory or in files under a data directory.
//!
//! Invariants: keys are stored exactly as sent (no normalisation), so keys such as `a//b` or
//! `./x` exist here just as they can in S3. The ETag is the hex MD5 of the content for single
//! PUTs. A directory-backed table writes `<sha256(key)>.data` and `.meta` files so that any key,
//! however odd, maps to a safe file name; the table is rebuilt from the `.meta` files on start.
//!
//! Lock order: the single `RwLock` around the table; never held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// Where object bytes live.
#[derive(Debug, Clone)]
pub enum Payload {
    /// In memory; cloning is cheap (reference counted).
    Memory(Bytes),
    /// In memory as the parts of a completed multipart upload, in order and not joined: joining
    /// would copy the whole object (a gigabyte for a large upload) in CompleteMultipartUpload.
    Parts(Arc<[Bytes]>),
    /// In a file of the data directory.
    File(PathBuf),
}

/// Metadata kept for every object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// The full key.
    pub key: String,
    /// Length in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// When the object was written.
    pub last_modified: SystemTime,
    /// User metadata (`x-amz-meta-*`), lower-case names without the prefix.
    pub metadata: BTreeMap<String, String>,
    /// The `x-amz-server-side-encryption` header sent with the write, if any.
    pub sse: Option<String>,
    /// The `x-amz-server-side-encryption-aws-kms-key-id` header sent with the write, if any.
    pub sse_kms_key_id: Option<String>,
}

/// One stored object.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Its metadata.
    pub info: ObjectInfo,
    /// Its bytes.
    pub payload: Payload,
}

/// What a write sets besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Server-side encryption header.
    pub sse: Option<String>,
    /// KMS key id header.
    pub sse_kms_key_id: Option<String>,
    /// The ETag to store instead of the content's MD5 (multipart objects).
    pub etag: Option<String>,
}

/// The precondition of a write, checked atomically with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    /// None.
    #[default]
    None,
    /// The object exists with this ETag.
    IfMatch(String),
    /// No object exists at the key.
    IfAbsent,
}

/// Why a conditional write was refused.
#[derive(Debug)]
pub enum PutError {
    /// The precondition failed (412).
    Failed,
    /// `IfMatch` on a missing key (404).
    Missing,
    /// The data directory failed.
    Io(io::Error),
}

/// All buckets and objects.
#[derive(Debug, Clone)]
pub struct ObjectTable {
    inner: Arc<RwLock<HashMap<String, BTreeMap<String, StoredObject>>>>,
    data_dir: Option<PathBuf>,
}

impl ObjectTable {
    /// A table that keeps everything in memory.
    pub fn in_memory() -> Self {
        Self {
            inner: Arc::default(),
            data_dir: None,
        }
    }

    /// A table whose bytes live under `dir`; objects already there are loaded.
    pub fn in_dir(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let table = Self {
            inner: Arc::default(),
            data_dir: Some(dir.to_path_buf()),
        };
        for bucket in std::fs::read_dir(dir)? {
            let bucket = bucket?;
            if !bucket.file_type()?.is_dir() {
                continue;
            }
            let name = bucket.file_name().to_string_lossy().into_owned();
            let mut objects = BTreeMap::new();
            for entry in std::fs::read_dir(bucket.path())? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "meta") {
                    let info: ObjectInfo = serde_json::from_slice(&std::fs::read(&path)?).map_err(io::Error::other)?;
                    let payload = Payload::File(path.with_extension("data"));
                    objects.insert(info.key.clone(), StoredObject { info, payload });
                }
            }
            table.write().insert(name, objects);
        }
        Ok(table)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, BTreeMap<String, StoredObject>>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, BTreeMap<String, StoredObject>>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a bucket; returns false when it existed.
    pub fn create_bucket(&self, bucket: &str) -> io::Result<bool> {
        if let Some(dir) = &self.data_dir {
            std::fs::create_dir_all(dir.join(bucket))?;
        }
        let mut t = self.write();
        if t.contains_key(bucket) {
            return Ok(false);
        }
        t.insert(bucket.to_owned(), BTreeMap::new());
        Ok(true)
    }

    /// Whether the bucket exists.
    pub fn has_bucket(&self, bucket: &str) -> bool {
        self.read().contains_key(bucket)
    }

    /// Every bucket's name, sorted.
    pub fn bucket_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// The object at `key`, if any. `None` for a missing bucket too.
    pub fn get(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.read().get(bucket)?.get(key).cloned()
    }

    /// Stores `data` at `key`, replacing what was there, and returns its metadata.
    pub fn put(&self, bucket: &str, key: &str, data: Bytes, opts: PutOptions) -> io::Result<ObjectInfo> {
        self.put_if(bucket, key, data, opts, &Precondition::None)
            .map_err(|e| match e {
                PutError::Io(e) => e,
                _ => io::Error::other("unconditional write refused"),
            })
    }

    /// Stores `data` at `key` if `cond` holds, checked and applied under one lock.
    pub fn put_if(
        &self,
        bucket: &str,
        key: &str,
        data: Bytes,
        opts: PutOptions,
        cond: &Precondition,
    ) -> Result<ObjectInfo, PutError> {
        self.put_parts_if(bucket, key, vec![data], opts, cond)
    }

    /// Stores the concatenation of `parts` at `key` if `cond` holds (CompleteMultipartUpload),
    /// keeping the parts as they are in memory.
    pub fn put_parts_if(
        &self,
        bucket: &str,
        key: &str,
        mut parts: Vec<Bytes>,
        opts: PutOptions,
        cond: &Precondition,
    ) -> Result<ObjectInfo, PutError> {
        // The content's MD5 is computed before the lock is taken: listings and reads of other
        // keys go on while a large object is hashed. As in S3, an object encrypted with SSE-KMS
        // has an ETag that is not the MD5 of its bytes (so clients cannot rely on it).
        let kms = opts.sse.as_deref() == Some("aws:kms");
        let etag = opts.etag.unwrap_or_else(|| {
            if kms {
                return format!("{:032x}", rand::random::<u128>());
            }
            let mut md5 = Md5::new();
            for part in &parts {
                md5.update(part);
            }
            hex::encode(md5.finalize())
        });
        let size = parts.iter().map(|p| p.len() as u64).sum();
        let mut t = self.write();
        let existing = t.get(bucket).and_then(|o| o.get(key));
        match (cond, existing) {
            (Precondition::None, _) => {}
            (Precondition::IfMatch(e), Some(o)) if &o.info.etag == e => {}
            (Precondition::IfMatch(_), None) => return Err(PutError::Missing),
            (Precondition::IfAbsent, None) => {}
            _ => return Err(PutError::Failed),
        }
        let info = ObjectInfo {
            key: key.to_owned(),
            size,
            etag,
            last_modified: SystemTime::now(),
            metadata: opts.metadata,
            sse: opts.sse,
            sse_kms_key_id: opts.sse_kms_key_id,
        };
        let payload = match &self.data_dir {
            None if parts.len() == 1 => Payload::Memory(parts.pop().unwrap_or_default()),
            None => Payload::Parts(parts.into()),
            Some(dir) => {
                let stem = dir.join(bucket).join(hex::encode(sha256(key.as_bytes())));
                let data_path = stem.with_extension("data");
                let meta_path = stem.with_extension("meta");
                let meta = serde_json::to_vec(&info).map_err(|e| PutError::Io(io::Error::other(e)))?;
                write_atomically(&data_path, &parts).map_err(PutError::Io)?;
                write_atomically(&meta_path, &[Bytes::from(meta)]).map_err(PutError::Io)?;
                Payload::File(data_path)
            }
        };
        let objects = t.entry(bucket.to_owned()).or_default();
        objects.insert(
            key.to_owned(),
            StoredObject {
                info: info.clone(),
                payload,
            },
        );
        Ok(info)
    }

    /// Removes `key`; returns whether it existed.
    pub fn delete(&self, bucket: &str, key: &str) -> io::Result<bool> {
        let removed = self.write().get_mut(bucket).and_then(|o| o.remove(key));
        if let (Some(obj), Some(_)) = (&removed, &self.data_dir)
            && let Payload::File(path) = &obj.payload
        {
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_file(path.with_extension("meta"));
        }
        Ok(removed.is_some())
    }

    /// Up to `max` objects and common prefixes after `start_after` (exclusive), in key order,
    /// grouped by `delimiter`. Returns the entries and whether more follow.
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        start_after: Option<&str>,
        max: usize,
    ) -> Option<ListResult> {
        let t = self.read();
        let objects = t.get(bucket)?;
        let mut out = ListResult::default();
        // A page of no keys (max-keys=0, which Mountpoint for S3 sends to check a bucket) is
        // answered as S3 and MinIO answer it: empty and not truncated, so there is no
        // continuation token to give (an empty one is not valid XML to strict clients).
        if max == 0 {
            return Some(out);
        }
        let lower = match start_after {
            Some(s) if s >= prefix => {
                // A page that ended on a common prefix continues after every key under it.
                let rolled_up =
                    delimiter.is_some_and(|d| !d.is_empty() && s.get(prefix.len()..).is_some_and(|r| r.contains(d)));
                let mut after = s.to_owned();
                if rolled_up {
                    after.push(char::MAX);
                }
                std::ops::Bound::Excluded(after)
            }
            _ => std::ops::Bound::Included(prefix.to_owned()),
        };
        let mut iter = objects.range((lower, std::ops::Bound::Unbounded));
        while let Some((key, obj)) = iter.next() {
            if !key.starts_with(prefix) {
                break;
            }
            if out.objects.len() + out.prefixes.len() >= max {
                out.truncated = true;
                break;
            }
            let rest = &key[prefix.len()..];
            match delimiter
                .filter(|d| !d.is_empty())
                .and_then(|d| rest.find(d).map(|i| (i, d)))
            {
                Some((i, d)) => {
                    let common = format!("{prefix}{}{d}", &rest[..i]);
                    out.last = common.clone();
                    // Skip every key under this common prefix: jump past it.
                    let mut skip_to = common.clone();
                    skip_to.push(char::MAX);
                    out.prefixes.push(common);
                    iter = objects.range((std::ops::Bound::Excluded(skip_to), std::ops::Bound::Unbounded));
                }
                None => {
                    out.last = key.clone();
                    out.objects.push(obj.info.clone());
                }
            }
        }
        Some(out)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListResult {
    /// Objects directly under the prefix (or all, without a delimiter).
    pub objects: Vec<ObjectInfo>,
    /// Common prefixes, each ending with the delimiter.
    pub prefixes: Vec<String>,
    /// Whether more entries follow.
    pub truncated: bool,
    /// The last key or prefix returned, from which the next page continues.
    pub last: String,
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

fn write_atomically(path: &Path, parts: &[Bytes]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    for part in parts {
        f.write_all(part)?;
    }
    drop(f);
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ObjectTable {
        let t = ObjectTable::in_memory();
        t.create_bucket("b").expect("create");
        for k in ["a/1", "a/2", "a/b/3", "a/b/4", "a/c/5", "z"] {
            t.put("b", k, Bytes::from_static(b"x"), PutOptions::default())
                .expect("put");
        }
        t
    }

    #[test]
    fn list_groups_common_prefixes_once() {
        let r = table().list("b", "a/", Some("/"), None, 1000).expect("bucket");
        let keys: Vec<_> = r.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a/1", "a/2"]);
        assert_eq!(r.prefixes, ["a/b/", "a/c/"]);
        assert!(!r.truncated);
    }

    #[test]
    fn list_pages_continue_after_a_prefix() {
        let t = table();
        let p1 = t.list("b", "a/", Some("/"), None, 3).expect("bucket");
        assert!(p1.truncated);
        assert_eq!(p1.last, "a/b/");
        let p2 = t.list("b", "a/", Some("/"), Some(&p1.last), 3).expect("bucket");
        assert_eq!(p2.prefixes, ["a/c/"]);
        assert!(p2.objects.is_empty());
        assert!(!p2.truncated);
    }

    #[test]
    fn a_page_of_no_keys_is_empty_and_not_truncated() {
        let r = table().list("b", "", None, None, 0).expect("bucket");
        assert!(r.objects.is_empty() && r.prefixes.is_empty());
        assert!(
            !r.truncated,
            "a truncated page would need a continuation token it cannot have"
        );
    }

    #[test]
    fn dir_table_survives_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = ObjectTable::in_dir(dir.path()).expect("open");
        t.create_bucket("b").expect("create");
        t.put("b", "x//y", Bytes::from_static(b"hello"), PutOptions::default())
            .expect("put");
        let again = ObjectTable::in_dir(dir.path()).expect("reopen");
        let obj = again.get("b", "x//y").expect("present");
        assert_eq!(obj.info.size, 5);
    }
}
