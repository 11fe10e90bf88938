//! Writes whose outcome is unknown: S3 may have applied a request whose answer never arrived
//! (a timeout after the request went out, a reset connection, a proxy that dropped the body, an
//! answer the SDK cannot read), and the SDK's own retries turn such a success into an error of
//! some other kind (`Conflict` for a retried `If-None-Match`, `NotFound` for a retried
//! completion). So a failed write is never taken as "not done" on its word: before it is
//! retried, or turned into a conflict copy, S3 is asked what happened.
//!
//! - An upload carries a token unique to the version being sent (`x-amz-meta-pail-write`,
//!   [`pail_store::Stamp`]); a HEAD that finds the token proves the upload landed.
//! - A copy landed when the destination holds the source's version (same size, and the same
//!   ETag or the same upload token).
//! - A delete landed when the key is gone.

use pail_store::{ETag, ObjectStore, Stamp, StoreError, StoreErrorKind, TransferConfig, copy_object};

use crate::uploader::SendError;

/// `result` of an upload that carried `token` to `key`, with a failure whose answer may have
/// been lost checked against S3: `Ok` with the object's ETag when the upload landed. When S3
/// cannot be asked, the failure is answered as the HEAD's (a network error, retried), never
/// as the upload's own: a `Conflict` that may be the upload's own retry refused is not proof
/// that someone else wrote the key, and would make a needless conflict copy.
///
/// Any failure S3 answered may hide a landing: even a `Throttled` or an `AccessDenied` can be
/// the last of several attempts, the first of which landed. A failure to read the bytes here
/// stopped the request before it was sent.
pub(crate) async fn checked_upload(
    store: &dyn ObjectStore,
    key: &str,
    token: u64,
    result: Result<ETag, SendError>,
) -> Result<ETag, SendError> {
    let e = match result {
        Err(SendError::Store(e)) => e,
        r => return r,
    };
    match store.head(key).await {
        Ok(meta) if meta.token == Some(token) => {
            tracing::debug!(key, "the upload had landed; its answer was lost");
            Ok(meta.etag)
        }
        // Another version, or none: the upload did not land, and its error stands.
        Ok(_) => Err(e.into()),
        Err(h) if h.kind() == StoreErrorKind::NotFound => Err(e.into()),
        Err(h) => Err(h.into()),
    }
}

/// DeleteObject of `key`; when it fails, a key that is gone was deleted.
pub(crate) async fn delete(store: &dyn ObjectStore, key: &str) -> Result<(), StoreError> {
    let Err(e) = store.delete(key).await else {
        return Ok(());
    };
    match store.head(key).await {
        Err(h) if h.kind() == StoreErrorKind::NotFound => {
            tracing::debug!(key, "the delete had landed; its answer was lost");
            Ok(())
        }
        _ => Err(e),
    }
}

/// Deletes `key` if it holds the object an upload carrying `token` wrote (an upload whose
/// outcome was unknown when its file was deleted or moved); another's object there is kept.
pub(crate) async fn delete_if_ours(store: &dyn ObjectStore, key: &str, token: u64) -> Result<(), StoreError> {
    match store.head(key).await {
        Ok(meta) if meta.token == Some(token) => {
            tracing::debug!(key, "an upload whose answer was lost had landed; deleting it");
            delete(store, key).await
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == StoreErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Tries a copy gets: repeating a copy of one source version is harmless, so a copy whose
/// answer was lost and whose destination cannot prove it landed is simply sent again.
const COPY_TRIES: u32 = 3;

/// [`copy_object`] of `src` (at `src_etag` when given) to `dst`. When it fails, the copy landed
/// if `dst` holds the version of `src` (same size, and the same ETag or upload token); a copy
/// of an object encrypted with SSE-KMS gets a new ETag, so without a token it is sent again.
pub(crate) async fn copy(
    store: &dyn ObjectStore,
    (src, dst): (&str, &str),
    size: u64,
    src_etag: Option<&ETag>,
    transfer: &TransferConfig,
    replace: Option<Stamp>,
) -> Result<ETag, StoreError> {
    let mut tries = 1;
    loop {
        let e = match copy_object(store, src, dst, size, src_etag, transfer, replace).await {
            Ok(etag) => return Ok(etag),
            Err(e) => e,
        };
        if let Some(etag) = copied(store, (src, dst), src_etag, replace).await {
            tracing::debug!(src, dst, "the copy had landed; its answer was lost");
            return Ok(etag);
        }
        if tries == COPY_TRIES {
            return Err(e);
        }
        tracing::debug!(src, dst, error = %e, "copy failed; sending it again");
        tries += 1;
    }
}

/// The ETag of `dst` when it provably holds the version of `src` a copy was to make.
async fn copied(
    store: &dyn ObjectStore,
    (src, dst): (&str, &str),
    src_etag: Option<&ETag>,
    replace: Option<Stamp>,
) -> Option<ETag> {
    let (Ok(from), Ok(to)) = (store.head(src).await, store.head(dst).await) else {
        return None;
    };
    let same_version = src_etag.is_none_or(|t| *t == from.etag);
    let same_bytes = to.size == from.size
        && match replace {
            // A copy that replaced the metadata carries the new stamp's token.
            Some(Stamp { token: Some(t), .. }) => to.token == Some(t),
            // Nothing tells a copy with a new time from the object before it.
            Some(_) => false,
            None => to.etag == from.etag || (from.token.is_some() && to.token == from.token),
        };
    (same_version && same_bytes).then_some(to.etag)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use pail_store::{FaultPlan, Faulty, MemStore, WriteCondition};

    use super::*;

    fn refused(key: &str) -> Result<ETag, SendError> {
        Err(StoreError::new(StoreErrorKind::Conflict, "PutObject", key, None).into())
    }

    fn kind(e: SendError) -> StoreErrorKind {
        match e {
            SendError::Store(e) => e.kind(),
            SendError::Local(e) => panic!("not S3's answer: {}", e.detail()),
        }
    }

    /// Found by the reference model (tests/model.rs): a PUT that landed with its answer lost,
    /// its retry refused by its own condition, and the HEAD that would tell failing too. The
    /// refusal is no proof of another client's version: it must be retried, not copied aside.
    #[tokio::test]
    async fn a_refusal_that_cannot_be_checked_is_retried_not_taken_for_a_conflict() {
        let mem = MemStore::new();
        let stamp = Stamp::at(SystemTime::now()).with_token(7);
        mem.put("k", "mine".into(), &WriteCondition::IfAbsent, Some(stamp))
            .await
            .expect("put");

        let unreachable = Faulty::new(
            mem.clone(),
            FaultPlan {
                fail: 1000,
                ..FaultPlan::default()
            },
            1,
        );
        let e = checked_upload(&unreachable, "k", 7, refused("k"))
            .await
            .expect_err("unknown");
        assert_ne!(kind(e), StoreErrorKind::Conflict);

        let etag = checked_upload(&mem, "k", 7, refused("k")).await.expect("it landed");
        assert_eq!(etag, mem.head("k").await.expect("head").etag);
        let other = checked_upload(&mem, "k", 8, refused("k")).await.expect_err("another's");
        assert_eq!(kind(other), StoreErrorKind::Conflict);
    }
}
