//! The write calls of [`S3Store`]: PutObject, the multipart calls, CopyObject, DeleteObject(s).
//!
//! Every call that creates an object (PUT, CreateMultipartUpload, CopyObject) carries the
//! drive's SSE settings; S3 does not carry encryption over on a copy, so CopyObject restates
//! them. Conditions become `If-Match` / `If-None-Match: *`.

use std::ops::Range;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, MetadataDirective, ObjectIdentifier, ServerSideEncryption,
};
use bytes::Bytes;

use crate::s3::map_err;
use crate::{ETag, S3Store, Sse, Stamp, StoreError, StoreErrorKind, WriteCondition};

/// The `If-Match` and `If-None-Match` header values of a condition.
fn condition_headers(cond: &WriteCondition) -> (Option<String>, Option<String>) {
    match cond {
        WriteCondition::None => (None, None),
        WriteCondition::IfMatch(e) => (Some(e.quoted()), None),
        WriteCondition::IfAbsent => (None, Some("*".to_owned())),
    }
}

/// `x-amz-copy-source`: the bucket and the URL-encoded key.
fn copy_source(bucket: &str, key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    format!("{bucket}/{}", percent_encoding::utf8_percent_encode(key, KEEP))
}

impl S3Store {
    /// The SSE headers (algorithm, KMS key id) of this drive.
    fn sse_headers(&self) -> (Option<ServerSideEncryption>, Option<String>) {
        match &self.sse {
            None => (None, None),
            Some(Sse::Aes256) => (Some(ServerSideEncryption::Aes256), None),
            Some(Sse::Kms { key_id }) => (Some(ServerSideEncryption::AwsKms), key_id.clone()),
        }
    }

    #[tracing::instrument(level = "debug", skip(self, body), fields(len = body.len()))]
    pub(crate) async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        cond: &WriteCondition,
        stamp: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        let (if_match, if_none_match) = condition_headers(cond);
        let (sse, kms_key) = self.sse_headers();
        let len = body.len() as u64;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .set_if_match(if_match)
            .set_if_none_match(if_none_match)
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key);
        for (k, v) in stamp.unwrap_or_default().metadata() {
            req = req.metadata(k, v);
        }
        // The body is not hashed into the signature (see `upload_one_part`).
        let out = req
            .customize()
            .config_override(self.answer_within(Some(len)))
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| map_err("PutObject", key, e))?;
        Ok(ETag::new(out.e_tag().unwrap_or_default()))
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub(crate) async fn create_multipart_upload(&self, key: &str, stamp: Option<Stamp>) -> Result<String, StoreError> {
        let (sse, kms_key) = self.sse_headers();
        let mut req = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key);
        for (k, v) in stamp.unwrap_or_default().metadata() {
            req = req.metadata(k, v);
        }
        let out = req.send().await.map_err(|e| map_err("CreateMultipartUpload", key, e))?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::new(StoreErrorKind::Other, "CreateMultipartUpload", key, None))
    }

    #[tracing::instrument(level = "debug", skip(self, body), fields(len = body.len()))]
    pub(crate) async fn upload_one_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        body: Bytes,
    ) -> Result<ETag, StoreError> {
        let len = body.len() as u64;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part as i32)
            .body(ByteStream::from(body))
            // A SHA-256 of every byte sent, for the signature, was over a third of the mount's
            // CPU while writing a large file. The body's CRC32 checksum, which S3 verifies,
            // still guards it end to end (and TLS on the way).
            .customize()
            .config_override(self.answer_within(Some(len)))
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| map_err("UploadPart", key, e))?;
        Ok(ETag::new(out.e_tag().unwrap_or_default()))
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub(crate) async fn copy_one_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        src: &str,
        range: Range<u64>,
        src_etag: Option<&ETag>,
    ) -> Result<ETag, StoreError> {
        let out = self
            .client
            .upload_part_copy()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part as i32)
            .copy_source(copy_source(&self.bucket, src))
            .copy_source_range(format!("bytes={}-{}", range.start, range.end.saturating_sub(1)))
            .set_copy_source_if_match(src_etag.map(ETag::quoted))
            .customize()
            .config_override(self.answer_within(None))
            .send()
            .await
            .map_err(|e| map_err("UploadPartCopy", key, e))?;
        let etag = out.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default();
        Ok(ETag::new(etag))
    }

    #[tracing::instrument(level = "debug", skip(self, parts), fields(parts = parts.len()))]
    pub(crate) async fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, ETag)],
        cond: &WriteCondition,
    ) -> Result<ETag, StoreError> {
        let (if_match, if_none_match) = condition_headers(cond);
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|(n, e)| {
                        CompletedPart::builder()
                            .part_number(*n as i32)
                            .e_tag(e.quoted())
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .set_if_match(if_match)
            .set_if_none_match(if_none_match)
            // Bounded by the transfer's `complete_timeout` instead.
            .customize()
            .config_override(self.answer_within(None))
            .send()
            .await
            .map_err(|e| map_err("CompleteMultipartUpload", key, e))?;
        Ok(ETag::new(out.e_tag().unwrap_or_default()))
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub(crate) async fn abort_multipart_upload(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| map_err("AbortMultipartUpload", key, e))?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub(crate) async fn copy_whole(
        &self,
        src: &str,
        dst: &str,
        src_etag: Option<&ETag>,
        replace: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        let (sse, kms_key) = self.sse_headers();
        let mut req = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(dst)
            .copy_source(copy_source(&self.bucket, src));
        req = match replace {
            Some(stamp) => {
                req = req.metadata_directive(MetadataDirective::Replace);
                for (k, v) in stamp.metadata() {
                    req = req.metadata(k, v);
                }
                req
            }
            None => req.metadata_directive(MetadataDirective::Copy),
        };
        let out = req
            .set_copy_source_if_match(src_etag.map(ETag::quoted))
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .customize()
            .config_override(self.answer_within(None))
            .send()
            .await
            .map_err(|e| map_err("CopyObject", src, e))?;
        let etag = out.copy_object_result().and_then(|r| r.e_tag()).unwrap_or_default();
        Ok(ETag::new(etag))
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub(crate) async fn delete_one(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| map_err("DeleteObject", key, e))?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self, keys), fields(keys = keys.len()))]
    pub(crate) async fn delete_batch(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let first = keys[0].as_str();
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::new(StoreErrorKind::Other, "DeleteObjects", first, Some(e.into())))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| StoreError::new(StoreErrorKind::Other, "DeleteObjects", first, Some(e.into())))?;
        let out = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| map_err("DeleteObjects", first, e))?;
        if let Some(err) = out.errors().first() {
            let kind = crate::error::kind_from_code(err.code(), None);
            let key = err.key().unwrap_or(first).to_owned();
            return Err(StoreError::new(kind, "DeleteObjects", key, None));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_encodes_the_key_but_not_slashes() {
        assert_eq!(copy_source("b", "a b/c+d"), "b/a%20b/c%2Bd");
    }

    #[test]
    fn conditions_become_headers() {
        assert_eq!(condition_headers(&WriteCondition::None), (None, None));
        assert_eq!(
            condition_headers(&WriteCondition::IfMatch(ETag::new("x"))),
            (Some("\"x\"".into()), None)
        );
        assert_eq!(condition_headers(&WriteCondition::IfAbsent), (None, Some("*".into())));
    }
}
