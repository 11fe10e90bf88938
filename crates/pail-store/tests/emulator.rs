//! pail-store against pail-emulator over real HTTP.

use futures::TryStreamExt;
use pail_emulator::{Emulator, PutOptions};
use pail_store::{ObjectStore, S3Store, S3StoreConfig, StoreErrorKind};

async fn store_for(emu: &Emulator, bucket: &str, secret: Option<&str>) -> S3Store {
    let (ak, sk) = emu.credentials();
    let cfg = S3StoreConfig::for_endpoint(bucket, &emu.endpoint(), pail_emulator::REGION, ak, secret.unwrap_or(sk));
    S3Store::new(cfg).await.expect("store")
}

#[tokio::test]
async fn head_get_range_and_list_round_trip() {
    let emu = Emulator::start_with_buckets(&["bkt"]).await.expect("emulator");
    let mut opts = PutOptions::default();
    opts.metadata.insert("mtime".into(), "1600000000.25".into());
    emu.put_with("bkt", "dir/file.txt", &b"hello world"[..], opts)
        .expect("put");
    emu.put("bkt", "dir/sub/x", &b"x"[..]).expect("put");
    let store = store_for(&emu, "bkt", None).await;

    let meta = store.head("dir/file.txt").await.expect("head");
    assert_eq!(meta.size, 11);
    assert_eq!(
        meta.mtime,
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_600_000_000_250))
    );

    let got = store
        .get_range("dir/file.txt", 6..11, Some(&meta.etag))
        .await
        .expect("get");
    assert_eq!(got.meta.size, 11);
    let chunks: Vec<bytes::Bytes> = got.body.try_collect().await.expect("body");
    assert_eq!(chunks.concat(), b"world");

    let page = store.list_page("dir/", Some("/"), None, None).await.expect("list");
    assert_eq!(page.objects.len(), 1);
    assert_eq!(page.objects[0].etag, meta.etag, "listing entries carry ETags");
    assert_eq!(page.prefixes, ["dir/sub/"]);
}

#[tokio::test]
async fn errors_have_kinds() {
    let emu = Emulator::start_with_buckets(&["bkt"]).await.expect("emulator");
    emu.put("bkt", "p/x", &b"x"[..]).expect("put");
    emu.deny_prefix("bkt", "secret/");
    let store = store_for(&emu, "bkt", None).await;
    assert_eq!(
        store.head("nope").await.expect_err("missing").kind(),
        StoreErrorKind::NotFound
    );
    assert_eq!(
        store.head("p").await.expect_err("prefix only").kind(),
        StoreErrorKind::NotFound
    );
    assert_eq!(
        store.head("secret/x").await.expect_err("denied").kind(),
        StoreErrorKind::AccessDenied
    );
    let stale = pail_store::ETag::new("0000");
    assert_eq!(
        store
            .get_range("p/x", 0..1, Some(&stale))
            .await
            .expect_err("changed")
            .kind(),
        StoreErrorKind::Conflict
    );
    let other = store_for(&emu, "nobucket", None).await;
    assert_eq!(
        other
            .list_page("", Some("/"), None, Some(1))
            .await
            .expect_err("bucket")
            .kind(),
        StoreErrorKind::NoSuchBucket
    );
    let wrong = store_for(&emu, "bkt", Some("wrong-secret")).await;
    // HEAD answers carry no body, so only a listing can tell a bad signature from a denial.
    let err = wrong
        .list_page("p/", Some("/"), None, Some(1))
        .await
        .expect_err("bad key");
    assert_eq!(err.kind(), StoreErrorKind::InvalidCredentials);
}
