//! pail-store: the only code in pail that speaks S3.
//!
//! [`ObjectStore`] is a narrow trait with one method per S3 call pail makes, over the keys of a
//! single bucket. [`S3Store`] implements it with `aws-sdk-s3`. The file system core holds an
//! `Arc<dyn ObjectStore>` and never sees SDK types; errors arrive as [`StoreError`] with a small
//! [`StoreErrorKind`] it can map.
//!
//! A user whose IAM policy allows only `<bucket>/<userid>/*` must be able to mount, so nothing
//! here calls ListBuckets, HeadBucket or GetBucketLocation. Credentials come from the caller as
//! an `aws-credential-types` provider; this crate does not depend on `pail-auth`.
//!
//! # Layout
//! - `object` — the value types: [`ObjectMeta`], [`ListPage`], [`ETag`].
//! - `error` — [`StoreError`] and its kind.
//! - `s3` — [`S3Store`] and [`S3StoreConfig`].

mod error;
mod object;
mod s3;

use std::ops::Range;

pub use error::{StoreError, StoreErrorKind};
pub use object::{ByteStream, ETag, GetObject, ListPage, MTIME_METADATA_KEY, ObjectMeta};
pub use s3::{Credentials, S3Store, S3StoreConfig};

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
}
