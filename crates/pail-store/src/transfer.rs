//! Whole-object operations built on [`ObjectStore`] that need no bytes from the caller: the
//! completion of a multipart upload under a condition, and the copy of an object of any size
//! (CopyObject up to 5 GiB, multipart copy beyond). Uploads of a file's bytes are the write
//! path's (pail-fs `multipart`), which knows where they lie; this crate only takes bytes.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

use crate::{ETag, ObjectStore, Stamp, StoreError, StoreErrorKind, WriteCondition};

/// The largest object one CopyObject may copy.
pub const MAX_COPY_OBJECT: u64 = 5 << 30;

/// S3's part-count limit.
const MAX_PARTS: u64 = 10_000;
/// S3's smallest part (except the last).
const MIN_PART: u64 = 5 << 20;

/// Sizes and parallelism of transfers.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// Multipart part size of uploads (the write path lays parts out from it).
    pub part_size: u64,
    /// Parts in flight at once.
    pub concurrency: usize,
    /// Files up to this size go in one PutObject.
    pub single_put_max: u64,
    /// Objects larger than this are copied part by part.
    pub max_copy_object: u64,
    /// Part size of a multipart copy.
    pub copy_part_size: u64,
    /// How long a CompleteMultipartUpload may go unanswered before its outcome is taken as
    /// unknown (and checked, then retried). S3 may take minutes to complete a large upload.
    pub complete_timeout: Duration,
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            part_size: 8 << 20,
            concurrency: 8,
            single_put_max: 8 << 20,
            max_copy_object: MAX_COPY_OBJECT,
            copy_part_size: 512 << 20,
            complete_timeout: Duration::from_secs(600),
        }
    }
}

/// `part` raised to S3's smallest part and as needed to stay within 10,000 parts of `size`.
fn within_part_limits(part: u64, size: u64) -> u64 {
    part.max(MIN_PART).max(size.div_ceil(MAX_PARTS))
}

/// Ends a multipart upload: completes it with the parts sent (in any order) under `cond`, or,
/// when sending failed or completing fails, aborts it so its parts are not left behind. A
/// completion unanswered after `cfg.complete_timeout` fails as `Network`: its outcome is
/// unknown, and the caller checks what S3 holds.
async fn finish_multipart(
    store: &dyn ObjectStore,
    key: &str,
    upload_id: &str,
    sent: Result<Vec<(u32, ETag)>, StoreError>,
    cond: &WriteCondition,
    cfg: &TransferConfig,
) -> Result<ETag, StoreError> {
    let result = match sent {
        Ok(parts) => complete_multipart(store, key, upload_id, parts, cond, cfg).await,
        Err(e) => Err(e),
    };
    if result.is_err()
        && let Err(abort) = store.abort_multipart(key, upload_id).await
    {
        tracing::warn!(key, error = %abort, "could not abort a failed multipart upload; a lifecycle rule will remove its parts");
    }
    result
}

/// Completes a multipart upload with `parts` (in any order) under `cond`, checked first where
/// servers ignore it ([`check_condition`]); unanswered after `cfg.complete_timeout`, it fails as
/// `Network`. A failure leaves the upload open: the caller aborts it.
pub async fn complete_multipart(
    store: &dyn ObjectStore,
    key: &str,
    upload_id: &str,
    parts: Vec<(u32, ETag)>,
    cond: &WriteCondition,
    cfg: &TransferConfig,
) -> Result<ETag, StoreError> {
    check_condition(store, key, cond).await?;
    complete_checked(store, key, upload_id, parts, cond, cfg).await
}

/// [`complete_multipart`] for a caller that ran [`check_condition`] itself (alongside its last
/// parts, so the check's round trip adds no time).
pub async fn complete_checked(
    store: &dyn ObjectStore,
    key: &str,
    upload_id: &str,
    mut parts: Vec<(u32, ETag)>,
    cond: &WriteCondition,
    cfg: &TransferConfig,
) -> Result<ETag, StoreError> {
    parts.sort_by_key(|(n, _)| *n);
    let completing = store.complete_multipart(key, upload_id, &parts, cond);
    match tokio::time::timeout(cfg.complete_timeout, completing).await {
        Ok(answer) => answer,
        Err(_) => Err(StoreError::new(
            StoreErrorKind::Network,
            "CompleteMultipartUpload (no answer)",
            key,
            None,
        )),
    }
}

/// Checks `cond` with a HEAD before a multipart upload is completed under it. S3 checks the
/// condition itself, atomically; servers that ignore conditions on CompleteMultipartUpload
/// (moto 5.2) would otherwise overwrite a version another client wrote meanwhile. A failed
/// condition answers as S3 would: `Conflict`, or `NotFound` for `If-Match` on a missing key.
pub async fn check_condition(store: &dyn ObjectStore, key: &str, cond: &WriteCondition) -> Result<(), StoreError> {
    let head = match cond {
        WriteCondition::None => return Ok(()),
        _ => store.head(key).await,
    };
    let failed = |kind| Err(StoreError::new(kind, "CompleteMultipartUpload", key, None));
    match (cond, head) {
        (WriteCondition::IfMatch(want), Ok(meta)) if meta.etag != *want => failed(StoreErrorKind::Conflict),
        (WriteCondition::IfAbsent, Ok(_)) => failed(StoreErrorKind::Conflict),
        (WriteCondition::IfAbsent, Err(e)) if e.kind() == StoreErrorKind::NotFound => Ok(()),
        (_, Err(e)) => Err(e),
        _ => Ok(()),
    }
}

/// Copies object `src` (of `size` bytes, at version `src_etag` when given) to `dst`, keeping its
/// metadata, or recording `replace` instead when given (`src` may then be `dst`: the object's
/// time is replaced). One CopyObject up to `cfg.max_copy_object`, a parallel multipart copy
/// beyond.
#[tracing::instrument(level = "debug", skip(store, cfg))]
pub async fn copy_object(
    store: &dyn ObjectStore,
    src: &str,
    dst: &str,
    size: u64,
    src_etag: Option<&ETag>,
    cfg: &TransferConfig,
    replace: Option<Stamp>,
) -> Result<ETag, StoreError> {
    if size <= cfg.max_copy_object {
        return store.copy(src, dst, src_etag, replace).await;
    }
    let stamp = match replace {
        Some(s) => s,
        None => {
            let src = store.head(src).await?;
            Stamp {
                mtime: src.mtime,
                token: src.token,
                attributes: src.attributes,
                created: src.created,
            }
        }
    };
    let part_size = within_part_limits(cfg.copy_part_size, size);
    let upload_id = store.create_multipart(dst, Some(stamp)).await?;
    let parts = size.div_ceil(part_size);
    let copied = futures::stream::iter(0..parts)
        .map(|i| {
            let upload_id = &upload_id;
            async move {
                let start = i * part_size;
                let end = (start + part_size).min(size);
                let etag = store
                    .upload_part_copy(dst, upload_id, i as u32 + 1, src, start..end, src_etag)
                    .await?;
                Ok::<_, StoreError>((i as u32 + 1, etag))
            }
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await;
    finish_multipart(store, dst, &upload_id, copied, &WriteCondition::None, cfg).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_parts_grow_to_stay_within_ten_thousand_parts() {
        assert_eq!(within_part_limits(512 << 20, 1 << 40), 512 << 20);
        let huge = 5u64 << 40; // 5 TiB
        let p = within_part_limits(5 << 20, huge);
        assert!(huge.div_ceil(p) <= MAX_PARTS);
    }
}
