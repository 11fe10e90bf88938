//! An S3 bucket in memory, for tests of the core without HTTP (feature `testing`): objects with
//! ETags and user metadata, conditional writes (`If-Match`, `If-None-Match: *`, copy-source
//! `If-Match`), delimited listings in pages, and multipart uploads. Each ETag is new per write,
//! as with SSE-KMS, so nothing may assume an ETag is the content's MD5.
//!
//! [`MemStore`] is what S3 answers; [`crate::Faulty`] wraps any store to make it fail. Other
//! clients change the bucket through [`MemStore::put_object`] and [`MemStore::delete_object`].

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use crate::{ETag, GetObject, ListPage, ObjectMeta, ObjectStore, Stamp, StoreError, StoreErrorKind, WriteCondition};

#[derive(Debug, Clone)]
struct Object {
    data: Bytes,
    etag: ETag,
    last_modified: SystemTime,
    stamp: Option<Stamp>,
}

#[derive(Debug)]
struct Upload {
    key: String,
    stamp: Option<Stamp>,
    parts: BTreeMap<u32, (ETag, Bytes)>,
}

#[derive(Debug, Default)]
struct Bucket {
    objects: BTreeMap<String, Object>,
    uploads: HashMap<String, Upload>,
}

/// A bucket in memory. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    bucket: Arc<Mutex<Bucket>>,
    versions: Arc<AtomicU64>,
}

fn err(kind: StoreErrorKind, op: &'static str, key: &str) -> StoreError {
    StoreError::new(kind, op, key, None)
}

impl MemStore {
    /// An empty bucket.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Bucket> {
        self.bucket.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_etag(&self) -> ETag {
        ETag::new(&format!("{:032x}", self.versions.fetch_add(1, Ordering::Relaxed) + 1))
    }

    /// Another client's PutObject: returns the new ETag.
    pub fn put_object(&self, key: &str, data: impl Into<Bytes>) -> ETag {
        let etag = self.next_etag();
        let obj = Object {
            data: data.into(),
            etag: etag.clone(),
            last_modified: SystemTime::now(),
            stamp: None,
        };
        self.lock().objects.insert(key.to_owned(), obj);
        etag
    }

    /// Another client's DeleteObject: whether the key existed.
    pub fn delete_object(&self, key: &str) -> bool {
        self.lock().objects.remove(key).is_some()
    }

    /// Every object, key → bytes.
    pub fn objects(&self) -> BTreeMap<String, Bytes> {
        self.lock()
            .objects
            .iter()
            .map(|(k, o)| (k.clone(), o.data.clone()))
            .collect()
    }

    /// The ids of multipart uploads neither completed nor aborted, sorted.
    pub fn open_uploads(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().uploads.keys().cloned().collect();
        ids.sort();
        ids
    }

    fn meta(key: &str, o: &Object) -> ObjectMeta {
        let stamp = o.stamp.unwrap_or_default();
        ObjectMeta {
            key: key.to_owned(),
            size: o.data.len() as u64,
            etag: o.etag.clone(),
            last_modified: o.last_modified,
            mtime: stamp.mtime,
            token: stamp.token,
            attributes: stamp.attributes,
            created: stamp.created,
        }
    }

    /// Stores `data` at `key` if `cond` holds (the one place writes land).
    fn store(
        &self,
        b: &mut Bucket,
        op: &'static str,
        key: &str,
        data: Bytes,
        cond: &WriteCondition,
        stamp: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        match (cond, b.objects.get(key)) {
            (WriteCondition::None, _) | (WriteCondition::IfAbsent, None) => {}
            (WriteCondition::IfMatch(e), Some(o)) if o.etag == *e => {}
            (WriteCondition::IfMatch(_), None) => return Err(err(StoreErrorKind::NotFound, op, key)),
            _ => return Err(err(StoreErrorKind::Conflict, op, key)),
        }
        let etag = self.next_etag();
        let obj = Object {
            data,
            etag: etag.clone(),
            last_modified: SystemTime::now(),
            stamp,
        };
        b.objects.insert(key.to_owned(), obj);
        Ok(etag)
    }

    fn source(b: &Bucket, op: &'static str, src: &str, src_etag: Option<&ETag>) -> Result<Object, StoreError> {
        let o = b
            .objects
            .get(src)
            .ok_or_else(|| err(StoreErrorKind::NotFound, op, src))?;
        if src_etag.is_some_and(|e| *e != o.etag) {
            return Err(err(StoreErrorKind::Conflict, op, src));
        }
        Ok(o.clone())
    }
}

fn clip(range: Range<u64>, size: u64) -> Range<usize> {
    let end = range.end.min(size);
    range.start.min(end) as usize..end as usize
}

#[async_trait::async_trait]
impl ObjectStore for MemStore {
    async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError> {
        let b = self.lock();
        let o = b
            .objects
            .get(key)
            .ok_or_else(|| err(StoreErrorKind::NotFound, "HeadObject", key))?;
        Ok(Self::meta(key, o))
    }

    async fn get_range(&self, key: &str, range: Range<u64>, if_match: Option<&ETag>) -> Result<GetObject, StoreError> {
        let o = Self::source(&self.lock(), "GetObject", key, if_match)?;
        let body = o.data.slice(clip(range, o.data.len() as u64));
        Ok(GetObject {
            meta: Self::meta(key, &o),
            body: Box::pin(futures::stream::iter([Ok(body)])),
        })
    }

    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        continuation: Option<&str>,
        max_keys: Option<u32>,
    ) -> Result<ListPage, StoreError> {
        let max = max_keys.unwrap_or(1000).clamp(1, 1000) as usize;
        let b = self.lock();
        let mut page = ListPage::default();
        let mut last: Option<String> = None;
        let delimiter = delimiter.filter(|d| !d.is_empty());
        // The token is the last entry returned: `K<key>` or `P<common prefix>` (skipped whole).
        let (after_key, after_prefix) = match continuation.map(|c| c.split_at(1.min(c.len()))) {
            Some(("K", k)) => (Some(k), None),
            Some(("P", p)) => (Some(p), Some(p)),
            _ => (None, None),
        };
        for (key, o) in b.objects.range(prefix.to_owned()..) {
            if !key.starts_with(prefix) {
                break;
            }
            if after_key.is_some_and(|c| key.as_str() <= c) || after_prefix.is_some_and(|p| key.starts_with(p)) {
                continue;
            }
            let rest = &key[prefix.len()..];
            let entry = match delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
                Some((i, d)) => {
                    let common = format!("{prefix}{}{d}", &rest[..i]);
                    if page.prefixes.last() == Some(&common) {
                        continue;
                    }
                    Err(common)
                }
                None => Ok(Self::meta(key, o)),
            };
            if page.objects.len() + page.prefixes.len() == max {
                page.next = last;
                return Ok(page);
            }
            match entry {
                Ok(meta) => {
                    last = Some(format!("K{}", meta.key));
                    page.objects.push(meta);
                }
                Err(common) => {
                    last = Some(format!("P{common}"));
                    page.prefixes.push(common);
                }
            }
        }
        Ok(page)
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        cond: &WriteCondition,
        stamp: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        self.store(&mut self.lock(), "PutObject", key, body, cond, stamp)
    }

    async fn create_multipart(&self, key: &str, stamp: Option<Stamp>) -> Result<String, StoreError> {
        let id = format!("upload-{}", self.versions.fetch_add(1, Ordering::Relaxed) + 1);
        let upload = Upload {
            key: key.to_owned(),
            stamp,
            parts: BTreeMap::new(),
        };
        self.lock().uploads.insert(id.clone(), upload);
        Ok(id)
    }

    async fn upload_part(&self, key: &str, upload_id: &str, part: u32, body: Bytes) -> Result<ETag, StoreError> {
        let etag = self.next_etag();
        let mut b = self.lock();
        let u = b
            .uploads
            .get_mut(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| err(StoreErrorKind::NotFound, "UploadPart", key))?;
        u.parts.insert(part, (etag.clone(), body));
        Ok(etag)
    }

    async fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        src: &str,
        range: Range<u64>,
        src_etag: Option<&ETag>,
    ) -> Result<ETag, StoreError> {
        let etag = self.next_etag();
        let mut b = self.lock();
        let o = Self::source(&b, "UploadPartCopy", src, src_etag)?;
        if range.end > o.data.len() as u64 || range.start >= range.end {
            return Err(err(StoreErrorKind::Other, "UploadPartCopy", src));
        }
        let u = b
            .uploads
            .get_mut(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| err(StoreErrorKind::NotFound, "UploadPartCopy", key))?;
        u.parts
            .insert(part, (etag.clone(), o.data.slice(clip(range, o.data.len() as u64))));
        Ok(etag)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, ETag)],
        cond: &WriteCondition,
    ) -> Result<ETag, StoreError> {
        const OP: &str = "CompleteMultipartUpload";
        let mut b = self.lock();
        let u = b
            .uploads
            .get(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| err(StoreErrorKind::NotFound, OP, key))?;
        let mut data = BytesMut::new();
        let mut previous = 0;
        for (n, etag) in parts {
            match u.parts.get(n) {
                Some((e, bytes)) if e == etag && *n > previous => data.extend_from_slice(bytes),
                _ => return Err(err(StoreErrorKind::Other, OP, key)),
            }
            previous = *n;
        }
        let stamp = u.stamp;
        let etag = self.store(&mut b, OP, key, data.freeze(), cond, stamp)?;
        b.uploads.remove(upload_id);
        Ok(etag)
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        let mut b = self.lock();
        match b.uploads.get(upload_id) {
            Some(u) if u.key == key => {
                b.uploads.remove(upload_id);
                Ok(())
            }
            _ => Err(err(StoreErrorKind::NotFound, "AbortMultipartUpload", key)),
        }
    }

    async fn copy(
        &self,
        src: &str,
        dst: &str,
        src_etag: Option<&ETag>,
        replace: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        let mut b = self.lock();
        let o = Self::source(&b, "CopyObject", src, src_etag)?;
        let stamp = replace.or(o.stamp);
        self.store(&mut b, "CopyObject", dst, o.data, &WriteCondition::None, stamp)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().objects.remove(key);
        Ok(())
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut b = self.lock();
        for k in keys {
            b.objects.remove(k);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listings_page_through_keys_and_common_prefixes() {
        let s = MemStore::new();
        for k in ["a/", "a/1", "a/2", "a/b/x", "a/b/y", "a/c/", "a/c/z", "a/d", "b"] {
            s.put_object(k, "x");
        }
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = s
                .list_page("a/", Some("/"), token.as_deref(), Some(2))
                .await
                .expect("list");
            seen.extend(page.objects.iter().map(|o| o.key.clone()));
            seen.extend(page.prefixes.iter().cloned());
            token = page.next;
            if token.is_none() {
                break;
            }
        }
        seen.sort();
        assert_eq!(seen, ["a/", "a/1", "a/2", "a/b/", "a/c/", "a/d"]);
    }

    #[tokio::test]
    async fn conditional_writes_and_multipart_behave_as_s3() {
        let s = MemStore::new();
        let e1 = s
            .put("k", Bytes::from("one"), &WriteCondition::IfAbsent, None)
            .await
            .expect("new");
        let again = s.put("k", Bytes::from("two"), &WriteCondition::IfAbsent, None).await;
        assert_eq!(again.expect_err("exists").kind(), StoreErrorKind::Conflict);
        let missing = s
            .put("m", Bytes::new(), &WriteCondition::IfMatch(e1.clone()), None)
            .await;
        assert_eq!(missing.expect_err("absent").kind(), StoreErrorKind::NotFound);
        let id = s.create_multipart("k", None).await.expect("create");
        let p1 = s.upload_part("k", &id, 1, Bytes::from("ab")).await.expect("part");
        let p2 = s
            .upload_part_copy("k", &id, 2, "k", 0..3, Some(&e1))
            .await
            .expect("copy");
        let done = s
            .complete_multipart("k", &id, &[(1, p1), (2, p2)], &WriteCondition::IfMatch(e1.clone()))
            .await
            .expect("complete");
        assert_ne!(done, e1);
        assert_eq!(s.objects()["k"], Bytes::from("abone"));
        assert!(s.open_uploads().is_empty());
    }
}
