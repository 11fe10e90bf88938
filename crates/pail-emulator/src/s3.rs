//! The `s3s::S3` implementation over [`ObjectTable`]: the subset of S3 pail speaks, with the
//! answers real S3 gives (404 `NoSuchKey` for a key that exists only as a prefix, ETags in
//! listings, `AccessDenied` for a prefix the policy forbids). Write calls live in `writes`.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::objects::{ObjectInfo, ObjectTable, Payload};

/// Which keys the emulator refuses, as an IAM policy would.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Key prefixes (per bucket) that every request is denied.
    pub denied_prefixes: Vec<(String, String)>,
}

impl Policy {
    fn allows(&self, bucket: &str, key_or_prefix: &str) -> bool {
        !self
            .denied_prefixes
            .iter()
            .any(|(b, p)| b == bucket && key_or_prefix.starts_with(p.as_str()))
    }
}

/// The emulated S3 service.
#[derive(Debug, Clone)]
pub struct EmulatedS3 {
    pub(crate) table: ObjectTable,
    pub(crate) policy: Arc<RwLock<Policy>>,
    pub(crate) writes: crate::writes::WriteState,
}

impl EmulatedS3 {
    /// 404 NoSuchBucket unless the bucket exists.
    pub(crate) fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        if self.table.has_bucket(bucket) {
            Ok(())
        } else {
            Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"))
        }
    }

    pub(crate) fn check(&self, bucket: &str, key: &str) -> S3Result<()> {
        let policy = self.policy.read().unwrap_or_else(|e| e.into_inner());
        if policy.allows(bucket, key) {
            Ok(())
        } else {
            Err(s3_error!(AccessDenied, "Access Denied"))
        }
    }

    pub(crate) fn object(&self, bucket: &str, key: &str) -> S3Result<crate::objects::StoredObject> {
        self.require_bucket(bucket)?;
        self.check(bucket, key)?;
        self.table
            .get(bucket, key)
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }
}

fn user_metadata(info: &ObjectInfo) -> Option<Metadata> {
    (!info.metadata.is_empty()).then(|| info.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn etag_matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

pub(crate) async fn read_payload(payload: &Payload, range: std::ops::Range<u64>) -> S3Result<Bytes> {
    match payload {
        Payload::Memory(b) => Ok(b.slice(range.start as usize..range.end as usize)),
        Payload::Parts(parts) => Ok(slice_parts(parts, range)),
        Payload::File(path) => {
            let mut f = tokio::fs::File::open(path)
                .await
                .map_err(|e| s3_error!(e, InternalError))?;
            f.seek(std::io::SeekFrom::Start(range.start))
                .await
                .map_err(|e| s3_error!(e, InternalError))?;
            let mut buf = vec![0; (range.end - range.start) as usize];
            f.read_exact(&mut buf).await.map_err(|e| s3_error!(e, InternalError))?;
            Ok(buf.into())
        }
    }
}

/// Bytes `range` of the concatenation of `parts`: a slice of one part when the range lies in
/// it (no copy), else the pieces of each part it spans, joined.
fn slice_parts(parts: &[Bytes], range: std::ops::Range<u64>) -> Bytes {
    let mut pieces = Vec::new();
    let mut start = 0u64;
    for part in parts {
        let end = start + part.len() as u64;
        if end > range.start && start < range.end {
            let from = range.start.max(start) - start;
            let to = range.end.min(end) - start;
            pieces.push(part.slice(from as usize..to as usize));
        }
        start = end;
    }
    match pieces.len() {
        1 => pieces.pop().unwrap_or_default(),
        _ => pieces.concat().into(),
    }
}

/// `encoding-type=url`: keys as S3 sends them, every byte outside `A-Za-z0-9-_.~/` as `%XX`,
/// so keys holding characters XML cannot carry (control characters) survive a listing.
fn url_encode(key: &str, encode: bool) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    if encode {
        percent_encoding::utf8_percent_encode(key, KEEP).to_string()
    } else {
        key.to_owned()
    }
}

/// One page of a listing in S3's terms.
struct Page {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    truncated: bool,
    last: String,
    max: i32,
}

impl EmulatedS3 {
    /// One page of a listing; `last` (the continuation point) stays raw: tokens are opaque.
    fn page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max_keys: Option<i32>,
        encoding: Option<&EncodingType>,
    ) -> S3Result<Page> {
        let encode = encoding.is_some_and(|e| e.as_str() == EncodingType::URL);
        self.require_bucket(bucket)?;
        self.check(bucket, prefix)?;
        let max = max_keys.unwrap_or(1000).clamp(0, 1000);
        let page = self
            .table
            .list(bucket, prefix, delimiter, after, max as usize)
            .ok_or_else(|| s3_error!(NoSuchBucket))?;
        let contents = page
            .objects
            .iter()
            .map(|o| Object {
                key: Some(url_encode(&o.key, encode)),
                size: Some(o.size as i64),
                e_tag: Some(ETag::Strong(o.etag.clone())),
                last_modified: Some(Timestamp::from(o.last_modified)),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                ..Default::default()
            })
            .collect();
        let prefixes = page
            .prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(url_encode(p, encode)),
            })
            .collect();
        Ok(Page {
            contents,
            prefixes,
            truncated: page.truncated,
            last: page.last,
            max,
        })
    }
}

#[async_trait::async_trait]
impl S3 for EmulatedS3 {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        match self.table.create_bucket(&req.input.bucket) {
            Ok(true) => Ok(S3Response::new(CreateBucketOutput::default())),
            Ok(false) => Err(s3_error!(BucketAlreadyOwnedByYou)),
            Err(e) => Err(s3_error!(e, InternalError)),
        }
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let obj = self.object(&input.bucket, &input.key)?;
        if let Some(c) = &input.if_match
            && !etag_matches(c, &obj.info.etag)
        {
            return Err(s3_error!(PreconditionFailed));
        }
        let info = obj.info;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(info.size as i64),
            e_tag: Some(ETag::Strong(info.etag.clone())),
            last_modified: Some(Timestamp::from(info.last_modified)),
            metadata: user_metadata(&info),
            server_side_encryption: info.sse.clone().map(ServerSideEncryption::from),
            ssekms_key_id: info.sse_kms_key_id.clone(),
            ..Default::default()
        }))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let obj = self.object(&input.bucket, &input.key)?;
        if let Some(c) = &input.if_match
            && !etag_matches(c, &obj.info.etag)
        {
            return Err(s3_error!(PreconditionFailed));
        }
        let size = obj.info.size;
        let (range, content_range) = match input.range {
            None => (0..size, None),
            Some(r) => {
                let r = r.check(size)?;
                let cr = format!("bytes {}-{}/{size}", r.start, r.end - 1);
                (r, Some(cr))
            }
        };
        let len = range.end - range.start;
        let body = read_payload(&obj.payload, range).await?;
        let info = obj.info;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::from(s3s::Body::from(body))),
            content_length: Some(len as i64),
            content_range,
            e_tag: Some(ETag::Strong(info.etag.clone())),
            last_modified: Some(Timestamp::from(info.last_modified)),
            metadata: user_metadata(&info),
            server_side_encryption: info.sse.clone().map(ServerSideEncryption::from),
            ssekms_key_id: info.sse_kms_key_id.clone(),
            accept_ranges: Some("bytes".into()),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input.continuation_token.clone().or(input.start_after.clone());
        let page = self.page(
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            after.as_deref(),
            input.max_keys,
            input.encoding_type.as_ref(),
        )?;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(prefix),
            delimiter: input.delimiter,
            max_keys: Some(page.max),
            key_count: Some((page.contents.len() + page.prefixes.len()) as i32),
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            is_truncated: Some(page.truncated),
            next_continuation_token: page.truncated.then_some(page.last),
            contents: Some(page.contents),
            common_prefixes: Some(page.prefixes),
            ..Default::default()
        }))
    }

    /// ListObjects (v1), which some peers (s3fs) use by default.
    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self.page(
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            input.marker.as_deref(),
            input.max_keys,
            input.encoding_type.as_ref(),
        )?;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            delimiter: input.delimiter,
            marker: input.marker,
            max_keys: Some(page.max),
            is_truncated: Some(page.truncated),
            next_marker: page.truncated.then_some(page.last),
            contents: Some(page.contents),
            common_prefixes: Some(page.prefixes),
            ..Default::default()
        }))
    }

    /// ListBuckets: the app's "Browse buckets" (denied to per-user sessions, like the policy).
    async fn list_buckets(&self, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self
            .table
            .bucket_names()
            .into_iter()
            .map(|name| Bucket {
                name: Some(name),
                bucket_region: Some(crate::REGION.into()),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    /// HeadBucket: pail never calls it, but peers in the benchmark do.
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(crate::REGION.into()),
            ..Default::default()
        }))
    }

    /// GetBucketLocation: pail never calls it, but peers in the benchmark do.
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.require_bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.do_put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.do_create_multipart(req)
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.do_upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.do_upload_part_copy(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.do_complete_multipart(req)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.do_abort_multipart(req)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.do_copy_object(req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.do_delete_object(req)
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.do_delete_objects(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_of_a_multipart_object_reads_across_its_parts() {
        let parts = [
            Bytes::from_static(b"abcd"),
            Bytes::from_static(b"efg"),
            Bytes::from_static(b"hijkl"),
        ];
        let whole: Vec<u8> = parts.concat();
        for start in 0..=whole.len() as u64 {
            for end in start..=whole.len() as u64 {
                assert_eq!(
                    slice_parts(&parts, start..end),
                    &whole[start as usize..end as usize],
                    "range {start}..{end}"
                );
            }
        }
    }
}
