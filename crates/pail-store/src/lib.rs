//! pail-store: the only code in pail that speaks S3.
//!
//! [`ObjectStore`] is a narrow trait with one method per S3 call pail makes, over the keys of a
//! single bucket. [`S3Store`] implements it with `aws-sdk-s3`. The file system core holds an
//! `Arc<dyn ObjectStore>` and never sees SDK types; errors arrive as [`StoreError`] with a small
//! [`StoreErrorKind`] it can map.
//!
//! A user whose IAM policy allows only `<bucket>/<userid>/*` must be able to mount, so nothing
//! the mount calls is ListBuckets, HeadBucket or GetBucketLocation ([`S3Store::list_buckets`]
//! serves only the app's "Browse buckets", which falls back to typing the name). Credentials
//! come from the caller as an `aws-credential-types` provider; this crate does not depend on
//! `pail-auth`.
//!
//! # Layout
//! - `object` — the value types: [`ObjectMeta`], [`ListPage`], [`ETag`].
//! - `error` — [`StoreError`] and its kind.
//! - `endpoint` — endpoints are https unless loopback or allowed ([`check_endpoint`]).
//! - `s3` — [`S3Store`] and [`S3StoreConfig`]: reads.
//! - `s3_write` — the write calls of [`S3Store`]: PUT, multipart, copy, delete.
//! - `transfer` — whole-object operations built on the trait that take no bytes:
//!   [`complete_multipart`] under a condition, and [`copy_object`] (CopyObject or multipart
//!   copy). pail-store takes bytes, never a local path: where a file's bytes lie is pail-fs's.
//! - `mem`, `faults` (feature `testing`) — `MemStore`, a bucket in memory, and `Faulty`, a
//!   wrapper that injects errors, lost answers, delays and crashes: the core's tests without HTTP.

mod endpoint;
mod error;
#[cfg(any(test, feature = "testing"))]
mod faults;
#[cfg(any(test, feature = "testing"))]
mod mem;
mod object;
mod s3;
mod s3_write;
mod transfer;

use std::ops::Range;

use bytes::Bytes;

pub use endpoint::{ENDPOINT_VARIABLES, InsecureEndpoint, check_endpoint, check_endpoint_variables};
pub use error::{StoreError, StoreErrorKind};
#[cfg(any(test, feature = "testing"))]
pub use faults::{FaultPlan, Faulty, Hold};
#[cfg(any(test, feature = "testing"))]
pub use mem::MemStore;
pub use object::{
    ATTRIBUTES_METADATA_KEY, ByteStream, CREATED_METADATA_KEY, ETag, GetObject, ListPage, MTIME_METADATA_KEY,
    ObjectMeta, Sse, Stamp, TOKEN_METADATA_KEY, WriteCondition, attributes, format_attributes, format_mtime,
    format_token, parse_attributes, parse_mtime, parse_token,
};
pub use s3::{Credentials, S3Store, S3StoreConfig, SLOW_ANSWER, SLOWEST_UPLINK, ca_bundle_client};
pub use transfer::{
    MAX_COPY_OBJECT, TransferConfig, check_condition, complete_checked, complete_multipart, copy_object,
};

/// The S3 calls pail makes, against one bucket. Keys are full keys (prefix included).
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// HeadObject: the object's metadata, or `NotFound`.
    async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError>;

    /// GetObject with `Range: bytes=start-(end-1)`, streaming. With `if_match`, answers
    /// `Conflict` when the object's ETag differs, so blocks of two versions are never mixed.
    async fn get_range(&self, key: &str, range: Range<u64>, if_match: Option<&ETag>) -> Result<GetObject, StoreError>;

    /// ListObjectsV2: one page of keys under `prefix`, grouped by `delimiter`, continuing from
    /// `continuation` (the previous page's `next`).
    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        continuation: Option<&str>,
        max_keys: Option<u32>,
    ) -> Result<ListPage, StoreError>;

    /// PutObject of a whole body under `cond`, with `stamp` as user metadata. Returns the
    /// new ETag. A failed condition is `Conflict`.
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        cond: &WriteCondition,
        stamp: Option<Stamp>,
    ) -> Result<ETag, StoreError>;

    /// CreateMultipartUpload with `stamp` as the object's user metadata; returns the upload id.
    async fn create_multipart(&self, key: &str, stamp: Option<Stamp>) -> Result<String, StoreError>;

    /// UploadPart `part` (1-based) of an upload; returns the part's ETag.
    async fn upload_part(&self, key: &str, upload_id: &str, part: u32, body: Bytes) -> Result<ETag, StoreError>;

    /// UploadPartCopy: part `part` of an upload is `range` of object `src` (at version
    /// `src_etag` when given).
    async fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        src: &str,
        range: Range<u64>,
        src_etag: Option<&ETag>,
    ) -> Result<ETag, StoreError>;

    /// CompleteMultipartUpload under `cond`; returns the object's ETag.
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, ETag)],
        cond: &WriteCondition,
    ) -> Result<ETag, StoreError>;

    /// AbortMultipartUpload, freeing the parts uploaded so far.
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError>;

    /// CopyObject of an object up to 5 GiB (at version `src_etag` when given), keeping its
    /// metadata, or replacing it with `replace` when given (which also lets an object be copied
    /// onto itself); returns the copy's ETag. Larger objects: [`copy_object`].
    async fn copy(
        &self,
        src: &str,
        dst: &str,
        src_etag: Option<&ETag>,
        replace: Option<Stamp>,
    ) -> Result<ETag, StoreError>;

    /// DeleteObject. Deleting a missing key succeeds, as in S3.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// DeleteObjects for up to 1,000 keys; fails if any key could not be deleted.
    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError>;
}
