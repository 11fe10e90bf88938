//! Upload progress (issue 21 part 2): a large pending file reports the bytes its upload has
//! sent, and the drive the share of its pending bytes on their way, while the upload runs.
//! The store holds CompleteMultipartUpload back (`Faulty::hold`), so the upload waits at the
//! point where every part has been sent and the test looks at it there without timing.

use std::sync::Arc;

use pail_fs::{Vfs, VfsConfig, VfsPath, WritebackConfig};
use pail_store::{FaultPlan, Faulty, MemStore, ObjectStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_reports_the_bytes_it_has_sent() {
    let store = Arc::new(Faulty::new(MemStore::new(), FaultPlan::default(), 1));
    let held = store.hold("CompleteMultipartUpload");
    let cache = tempfile::tempdir().expect("cache");
    let mut wb = WritebackConfig::new(cache.path());
    wb.delay = std::time::Duration::ZERO;
    let cfg = VfsConfig {
        writeback: Some(wb),
        ..VfsConfig::default()
    };
    let vfs: Arc<Vfs> = Vfs::new(store.clone(), cfg).expect("vfs");
    let size = 20u64 << 20;
    let path = VfsPath::new("video.mp4");
    let (h, _) = vfs.create(&path, true, false).await.expect("create");
    let chunk = vec![7u8; 1 << 20];
    for i in 0..20u64 {
        vfs.write(h, i << 20, &chunk).await.expect("write");
    }
    vfs.flush(h).expect("flush");
    vfs.release(h);
    held.arrived(1).await;

    // Every part is sent; the completion is held.
    let s = vfs.writeback_status();
    assert_eq!((s.pending_files, s.uploading_files), (1, 1));
    assert_eq!(s.pending_sent_bytes, size, "all of it is on its way");
    assert_eq!(s.large_uploads.len(), 1);
    let up = &s.large_uploads[0];
    assert_eq!(
        (up.path.as_str(), up.size, up.sent, up.uploading),
        ("video.mp4", size, size, true)
    );

    held.release();
    vfs.drain(&|_| {}).await;
    let s = vfs.writeback_status();
    assert_eq!((s.pending_files, s.uploading_files, s.pending_sent_bytes), (0, 0, 0));
    assert!(s.large_uploads.is_empty());
    assert_eq!(store.head("video.mp4").await.expect("uploaded").size, size);
}
