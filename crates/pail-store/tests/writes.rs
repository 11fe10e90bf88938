//! pail-store's write calls against pail-emulator over real HTTP: conditions, multipart upload
//! and copy, SSE on every write, delete, and uploads that survive injected faults.

use std::time::{Duration, UNIX_EPOCH};

use pail_emulator::{Emulator, Faults};
use pail_store::{
    ObjectStore, S3Store, S3StoreConfig, Sse, Stamp, StoreErrorKind, TransferConfig, WriteCondition,
    complete_multipart, copy_object,
};

async fn store_with(emu: &Emulator, sse: Option<Sse>) -> S3Store {
    let (ak, sk) = emu.credentials();
    let mut cfg = S3StoreConfig::for_endpoint("bkt", &emu.endpoint(), pail_emulator::REGION, ak, sk);
    cfg.sse = sse;
    S3Store::new(cfg).await.expect("store")
}

fn small_parts() -> TransferConfig {
    TransferConfig {
        part_size: 5 << 20,
        concurrency: 4,
        single_put_max: 1 << 20,
        max_copy_object: 6 << 20,
        copy_part_size: 5 << 20,
        ..TransferConfig::default()
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn conditional_puts_answer_conflict() {
    let emu = Emulator::start_with_buckets(&["bkt"]).await.expect("emulator");
    let store = store_with(&emu, None).await;
    let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
    let e1 = store
        .put(
            "k",
            "one".into(),
            &WriteCondition::IfAbsent,
            Some(Stamp::at(t).with_token(0xfeed)),
        )
        .await
        .expect("create");
    let head = store.head("k").await.expect("head");
    assert_eq!(head.mtime, Some(t), "mtime kept");
    assert_eq!(head.token, Some(0xfeed), "the upload's token is read back");
    let err = store
        .put("k", "two".into(), &WriteCondition::IfAbsent, None)
        .await
        .expect_err("exists");
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    let e2 = store
        .put("k", "two".into(), &WriteCondition::IfMatch(e1.clone()), None)
        .await
        .expect("matching etag");
    let err = store
        .put("k", "three".into(), &WriteCondition::IfMatch(e1), None)
        .await
        .expect_err("stale etag");
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    assert_eq!(store.head("k").await.expect("head").etag, e2);
}

#[tokio::test]
async fn multipart_upload_and_copy_round_trip_with_kms_on_every_write() {
    let emu = Emulator::start_with_buckets(&["bkt"]).await.expect("emulator");
    let sse = Sse::Kms {
        key_id: Some("arn:aws:kms:us-east-1:111122223333:key/test".into()),
    };
    let store = store_with(&emu, Some(sse)).await;
    let data = pattern(12 << 20);
    let cfg = small_parts();
    let upload_id = store.create_multipart("big", None).await.expect("create");
    let mut parts = Vec::new();
    // Sent out of order, as parallel parts finish.
    for (n, range) in [(3, 10 << 20..12 << 20), (1, 0..5 << 20), (2, 5 << 20..10 << 20)] {
        let body = bytes::Bytes::copy_from_slice(&data[range]);
        parts.push((n, store.upload_part("big", &upload_id, n, body).await.expect("part")));
    }
    let etag = complete_multipart(&store, "big", &upload_id, parts, &WriteCondition::IfAbsent, &cfg)
        .await
        .expect("complete");
    assert!(etag.as_str().ends_with("-3"), "three parts: {etag}");
    assert_eq!(emu.get("bkt", "big").await.expect("stored"), data);

    copy_object(&store, "big", "copy", data.len() as u64, Some(&etag), &cfg, None)
        .await
        .expect("multipart copy");
    assert_eq!(emu.get("bkt", "copy").await.expect("copied"), data);
    store
        .put("small", "x".into(), &WriteCondition::None, None)
        .await
        .expect("put");
    copy_object(&store, "small", "small2", 1, None, &cfg, None)
        .await
        .expect("copy");

    let log = emu.write_log();
    let ops: Vec<_> = log.iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        [
            "CreateMultipartUpload",
            "CreateMultipartUpload",
            "PutObject",
            "CopyObject"
        ]
    );
    for r in &log {
        assert_eq!(r.sse.as_deref(), Some("aws:kms"), "{r:?}");
        assert_eq!(
            r.sse_kms_key_id.as_deref(),
            Some("arn:aws:kms:us-east-1:111122223333:key/test")
        );
    }
    assert_eq!(emu.open_multipart_uploads(), 0);

    store
        .delete_many(&["big".into(), "copy".into(), "missing".into()])
        .await
        .expect("delete many");
    store.delete("small").await.expect("delete");
    assert_eq!(emu.keys("bkt", ""), ["small2"]);
}

#[tokio::test]
async fn an_aborted_multipart_upload_leaves_nothing_and_cannot_complete() {
    let emu = Emulator::start_with_buckets(&["bkt"]).await.expect("emulator");
    let store = store_with(&emu, None).await;
    let upload_id = store.create_multipart("k", None).await.expect("create");
    let part = store
        .upload_part("k", &upload_id, 1, pattern(6 << 20).into())
        .await
        .expect("part");
    store.abort_multipart("k", &upload_id).await.expect("abort");
    assert_eq!(emu.open_multipart_uploads(), 0, "the upload was aborted");
    let err = complete_multipart(
        &store,
        "k",
        &upload_id,
        vec![(1, part)],
        &WriteCondition::None,
        &small_parts(),
    )
    .await
    .expect_err("aborted");
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert!(emu.head("bkt", "k").is_none());
}

#[tokio::test]
async fn requests_the_server_never_answers_time_out_and_are_sent_again() {
    let emu = Emulator::start_with_buckets(&["bkt"]).await.expect("emulator");
    let (ak, sk) = emu.credentials();
    let mut cfg = S3StoreConfig::for_endpoint("bkt", &emu.endpoint(), pail_emulator::REGION, ak, sk);
    cfg.answer_timeout = Duration::from_millis(300);
    let store = S3Store::new(cfg).await.expect("store");
    // One request in ten is never answered; each is cut off and retried by the client, so every
    // call still succeeds (without the answer timeout, the first stall would hang forever).
    emu.set_faults(Faults {
        stall_rate: 0.1,
        ..Faults::default()
    });
    for i in 0..30u32 {
        let body = pattern(1000 + i as usize);
        let key = format!("s{i}");
        store
            .put(&key, body.clone().into(), &WriteCondition::None, None)
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
        let got = store.get_range(&key, 0..body.len() as u64, None).await.expect("get");
        let bytes: Vec<bytes::Bytes> = futures::TryStreamExt::try_collect(got.body).await.expect("body");
        assert_eq!(bytes.concat(), body, "{key}");
    }
}

#[tokio::test]
async fn uploads_land_intact_through_injected_faults() {
    let emu = Emulator::start_with_buckets(&["bkt"]).await.expect("emulator");
    let store = store_with(&emu, None).await;
    emu.set_faults(Faults {
        error_rate: 0.1,
        latency: Duration::from_millis(5),
        ..Faults::default()
    });
    for i in 0..40u32 {
        let body = pattern(1000 + i as usize);
        let key = format!("f{i}");
        let mut attempts = 0;
        loop {
            attempts += 1;
            match store.put(&key, body.clone().into(), &WriteCondition::None, None).await {
                Ok(_) => break,
                Err(e) if e.is_transient() && attempts < 5 => continue,
                Err(e) => panic!("{key}: {e}"),
            }
        }
        assert_eq!(emu.get("bkt", &key).await.expect("stored"), body);
    }
}
