//! Upload progress (issue 21 part 2): a large pending file reports the bytes its upload has
//! sent, and the drive the share of its pending bytes on their way, while the upload runs.
//! A store whose CompleteMultipartUpload waits at a gate holds the upload at the point where
//! every part has been sent, so the test looks at it there without timing.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use pail_fs::{Vfs, VfsConfig, VfsPath, WritebackConfig};
use pail_store::{ETag, GetObject, ListPage, MemStore, ObjectMeta, ObjectStore, Stamp, StoreError, WriteCondition};
use tokio::sync::Notify;

/// `MemStore` whose completions wait until [`Gate::open`]; [`Gate::reached`] fires when one waits.
#[derive(Debug)]
struct Gate {
    inner: MemStore,
    reached: Notify,
    open: Notify,
}

#[async_trait::async_trait]
impl ObjectStore for Gate {
    async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError> {
        self.inner.head(key).await
    }
    async fn get_range(&self, key: &str, range: Range<u64>, if_match: Option<&ETag>) -> Result<GetObject, StoreError> {
        self.inner.get_range(key, range, if_match).await
    }
    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        continuation: Option<&str>,
        max_keys: Option<u32>,
    ) -> Result<ListPage, StoreError> {
        self.inner.list_page(prefix, delimiter, continuation, max_keys).await
    }
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        cond: &WriteCondition,
        stamp: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        self.inner.put(key, body, cond, stamp).await
    }
    async fn create_multipart(&self, key: &str, stamp: Option<Stamp>) -> Result<String, StoreError> {
        self.inner.create_multipart(key, stamp).await
    }
    async fn upload_part(&self, key: &str, upload_id: &str, part: u32, body: Bytes) -> Result<ETag, StoreError> {
        self.inner.upload_part(key, upload_id, part, body).await
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
        self.inner
            .upload_part_copy(key, upload_id, part, src, range, src_etag)
            .await
    }
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, ETag)],
        cond: &WriteCondition,
    ) -> Result<ETag, StoreError> {
        let open = self.open.notified();
        self.reached.notify_one();
        open.await;
        self.inner.complete_multipart(key, upload_id, parts, cond).await
    }
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.inner.abort_multipart(key, upload_id).await
    }
    async fn copy(
        &self,
        src: &str,
        dst: &str,
        src_etag: Option<&ETag>,
        replace: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        self.inner.copy(src, dst, src_etag, replace).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        self.inner.delete_many(keys).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_reports_the_bytes_it_has_sent() {
    let gate = Arc::new(Gate {
        inner: MemStore::new(),
        reached: Notify::new(),
        open: Notify::new(),
    });
    let cache = tempfile::tempdir().expect("cache");
    let mut wb = WritebackConfig::new(cache.path());
    wb.delay = std::time::Duration::ZERO;
    let cfg = VfsConfig {
        writeback: Some(wb),
        ..VfsConfig::default()
    };
    let vfs: Arc<Vfs> = Vfs::new(gate.clone(), cfg).expect("vfs");
    let size = 20u64 << 20;
    let path = VfsPath::new("video.mp4");
    let reached = gate.reached.notified();
    let (h, _) = vfs.create(&path, true, false).await.expect("create");
    let chunk = vec![7u8; 1 << 20];
    for i in 0..20u64 {
        vfs.write(h, i << 20, &chunk).await.expect("write");
    }
    vfs.flush(h).expect("flush");
    vfs.release(h);
    reached.await;

    // Every part is sent; the completion waits at the gate.
    let s = vfs.writeback_status();
    assert_eq!((s.pending_files, s.uploading_files), (1, 1));
    assert_eq!(s.pending_sent_bytes, size, "all of it is on its way");
    assert_eq!(s.large_uploads.len(), 1);
    let up = &s.large_uploads[0];
    assert_eq!(
        (up.path.as_str(), up.size, up.sent, up.uploading),
        ("video.mp4", size, size, true)
    );

    gate.open.notify_one();
    vfs.drain(&|_| {}).await;
    let s = vfs.writeback_status();
    assert_eq!((s.pending_files, s.uploading_files, s.pending_sent_bytes), (0, 0, 0));
    assert!(s.large_uploads.is_empty());
    assert_eq!(gate.inner.head("video.mp4").await.expect("uploaded").size, size);
}
