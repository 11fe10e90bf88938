//! The emulator's write calls: PutObject, the multipart calls, CopyObject (and UploadPartCopy),
//! DeleteObject(s). Conditions (`If-Match`, `If-None-Match: *`) are checked atomically with the
//! write and answer 412 PreconditionFailed; every call that creates an object records the SSE
//! headers it carried in the [`WriteRecord`] log, so tests can check that a drive sent them.
//!
//! Multipart ETags follow S3: the hex MD5 of the concatenated binary part MD5s, `-<parts>`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use md5::{Digest, Md5};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::objects::{Precondition, PutError, PutOptions};
use crate::s3::{EmulatedS3, read_payload};

/// One call that created an object, as the emulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRecord {
    /// `PutObject`, `CreateMultipartUpload` or `CopyObject`.
    pub op: &'static str,
    /// The key written.
    pub key: String,
    /// `x-amz-server-side-encryption`, if sent.
    pub sse: Option<String>,
    /// `x-amz-server-side-encryption-aws-kms-key-id`, if sent.
    pub sse_kms_key_id: Option<String>,
}

/// An upload in progress.
#[derive(Debug)]
pub(crate) struct Upload {
    bucket: String,
    key: String,
    opts: PutOptions,
    parts: BTreeMap<i32, (Bytes, [u8; 16])>,
}

/// Multipart uploads and the write log.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteState {
    uploads: Arc<Mutex<HashMap<String, Upload>>>,
    /// Signalled whenever a part is added to an upload (with `uploads`).
    part_added: Arc<Condvar>,
    /// UploadPart and UploadPartCopy calls answered.
    part_calls: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<WriteRecord>>>,
    next_upload: Arc<AtomicU64>,
}

impl WriteState {
    /// Waits up to `limit` until an upload in progress to `key` holds at least `parts` parts.
    pub(crate) fn wait_for_parts(&self, key: &str, parts: usize, limit: Duration) -> bool {
        let uploads = self.uploads();
        let (_uploads, timeout) = self
            .part_added
            .wait_timeout_while(uploads, limit, |u| {
                !u.values().any(|up| up.key == key && up.parts.len() >= parts)
            })
            .unwrap_or_else(|e| e.into_inner());
        !timeout.timed_out()
    }

    pub(crate) fn part_calls(&self) -> u64 {
        self.part_calls.load(Ordering::SeqCst)
    }

    pub(crate) fn log(&self) -> Vec<WriteRecord> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, op: &'static str, key: &str, opts: &PutOptions) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(WriteRecord {
            op,
            key: key.to_owned(),
            sse: opts.sse.clone(),
            sse_kms_key_id: opts.sse_kms_key_id.clone(),
        });
    }

    fn uploads(&self) -> std::sync::MutexGuard<'_, HashMap<String, Upload>> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn precondition(if_match: Option<&ETagCondition>, if_none_match: Option<&ETagCondition>) -> Precondition {
    match (if_match, if_none_match) {
        (Some(ETagCondition::ETag(e)), _) => Precondition::IfMatch(e.value().to_owned()),
        (_, Some(_)) => Precondition::IfAbsent,
        _ => Precondition::None,
    }
}

fn put_error(e: PutError) -> s3s::S3Error {
    match e {
        PutError::Failed => s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ),
        PutError::Missing => s3_error!(NoSuchKey, "The specified key does not exist."),
        PutError::Io(e) => s3_error!(e, InternalError),
    }
}

async fn collect(body: Option<StreamingBlob>) -> S3Result<Bytes> {
    match body {
        Some(body) => {
            let chunks: Vec<Bytes> = body.try_collect().await.map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
            Ok(chunks.concat().into())
        }
        None => Ok(Bytes::new()),
    }
}

fn options(metadata: Option<Metadata>, sse: Option<ServerSideEncryption>, kms_key: Option<String>) -> PutOptions {
    PutOptions {
        metadata: metadata.unwrap_or_default().into_iter().collect(),
        sse: sse.map(|s| s.as_str().to_owned()),
        sse_kms_key_id: kms_key,
        etag: None,
    }
}

fn copy_source_key(src: &CopySource) -> S3Result<(String, String)> {
    match src {
        CopySource::Bucket { bucket, key, .. } => Ok((bucket.to_string(), key.to_string())),
        _ => Err(s3_error!(NotImplemented, "only bucket copy sources are emulated")),
    }
}

impl EmulatedS3 {
    pub(crate) async fn do_put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        self.check(&input.bucket, &input.key)?;
        let data = collect(input.body).await?;
        let cond = precondition(input.if_match.as_ref(), input.if_none_match.as_ref());
        let opts = options(input.metadata, input.server_side_encryption, input.ssekms_key_id);
        self.writes.record("PutObject", &input.key, &opts);
        let info = self
            .table
            .put_if(&input.bucket, &input.key, data, opts, &cond)
            .map_err(put_error)?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(info.etag)),
            server_side_encryption: info.sse.map(ServerSideEncryption::from),
            ssekms_key_id: info.sse_kms_key_id,
            ..Default::default()
        }))
    }

    pub(crate) fn do_create_multipart(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        self.check(&input.bucket, &input.key)?;
        let opts = options(input.metadata, input.server_side_encryption, input.ssekms_key_id);
        self.writes.record("CreateMultipartUpload", &input.key, &opts);
        let n = self
            .writes
            .next_upload
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let upload_id = format!("upload-{n}-{:016x}", rand::random::<u64>());
        let out = CreateMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            upload_id: Some(upload_id.clone()),
            server_side_encryption: opts.sse.clone().map(ServerSideEncryption::from),
            ssekms_key_id: opts.sse_kms_key_id.clone(),
            ..Default::default()
        };
        self.writes.uploads().insert(
            upload_id,
            Upload {
                bucket: input.bucket,
                key: input.key,
                opts,
                parts: BTreeMap::new(),
            },
        );
        Ok(S3Response::new(out))
    }

    fn add_part(&self, upload_id: &str, bucket: &str, key: &str, part: i32, data: Bytes) -> S3Result<String> {
        if !(1..=10_000).contains(&part) {
            return Err(s3_error!(InvalidArgument, "part numbers are 1 to 10000"));
        }
        let md5: [u8; 16] = Md5::digest(&data).into();
        let mut uploads = self.writes.uploads();
        let upload = uploads
            .get_mut(upload_id)
            .filter(|u| u.bucket == bucket && u.key == key)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        upload.parts.insert(part, (data, md5));
        drop(uploads);
        self.writes.part_calls.fetch_add(1, Ordering::SeqCst);
        self.writes.part_added.notify_all();
        Ok(hex::encode(md5))
    }

    pub(crate) async fn do_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        self.check(&input.bucket, &input.key)?;
        let data = collect(input.body).await?;
        let etag = self.add_part(&input.upload_id, &input.bucket, &input.key, input.part_number, data)?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    pub(crate) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        self.check(&input.bucket, &input.key)?;
        let (src_bucket, src_key) = copy_source_key(&input.copy_source)?;
        let src = self.object(&src_bucket, &src_key)?;
        if let Some(ETagCondition::ETag(e)) = &input.copy_source_if_match
            && e.value() != src.info.etag
        {
            return Err(s3_error!(PreconditionFailed));
        }
        let size = src.info.size;
        let range = match input
            .copy_source_range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
        {
            None => 0..size,
            Some(r) => {
                let (a, b) = r
                    .split_once('-')
                    .ok_or_else(|| s3_error!(InvalidArgument, "bad range"))?;
                let a: u64 = a.parse().map_err(|_| s3_error!(InvalidArgument, "bad range"))?;
                let b: u64 = b.parse().map_err(|_| s3_error!(InvalidArgument, "bad range"))?;
                if a > b || b >= size {
                    return Err(s3_error!(InvalidRange));
                }
                a..b + 1
            }
        };
        let data = read_payload(&src.payload, range).await?;
        let etag = self.add_part(&input.upload_id, &input.bucket, &input.key, input.part_number, data)?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(crate) fn do_complete_multipart(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        self.check(&input.bucket, &input.key)?;
        let wanted: Vec<(i32, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let etag = p.e_tag.and_then(|e| e.into_strong()).unwrap_or_default();
                (p.part_number.unwrap_or(0), etag.trim_matches('"').to_owned())
            })
            .collect();
        if wanted.is_empty() || wanted.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(s3_error!(InvalidPartOrder));
        }
        // The parts are checked and taken (cheap `Bytes` handles) under the lock; the object
        // keeps them as they are, so completing a large upload copies nothing.
        let (parts, opts) = {
            let uploads = self.writes.uploads();
            let u = uploads
                .get(&input.upload_id)
                .filter(|u| u.bucket == input.bucket && u.key == input.key)
                .ok_or_else(|| s3_error!(NoSuchUpload))?;
            let mut parts = Vec::with_capacity(wanted.len());
            let mut md5s = Vec::with_capacity(wanted.len() * 16);
            for (i, (n, etag)) in wanted.iter().enumerate() {
                let (bytes, md5) = u.parts.get(n).ok_or_else(|| s3_error!(InvalidPart))?;
                if hex::encode(md5) != *etag {
                    return Err(s3_error!(InvalidPart));
                }
                if i + 1 < wanted.len() && bytes.len() < 5 << 20 {
                    return Err(s3_error!(EntityTooSmall));
                }
                parts.push(bytes.clone());
                md5s.extend_from_slice(md5);
            }
            let mut opts = u.opts.clone();
            opts.etag = Some(format!("{}-{}", hex::encode(Md5::digest(&md5s)), wanted.len()));
            (parts, opts)
        };
        let cond = precondition(input.if_match.as_ref(), input.if_none_match.as_ref());
        let info = self
            .table
            .put_parts_if(&input.bucket, &input.key, parts, opts, &cond)
            .map_err(put_error)?;
        self.writes.uploads().remove(&input.upload_id);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(info.etag)),
            server_side_encryption: info.sse.map(ServerSideEncryption::from),
            ssekms_key_id: info.sse_kms_key_id,
            ..Default::default()
        }))
    }

    pub(crate) fn do_abort_multipart(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.check(&input.bucket, &input.key)?;
        match self.writes.uploads().remove(&input.upload_id) {
            Some(_) => Ok(S3Response::new(AbortMultipartUploadOutput::default())),
            None => Err(s3_error!(NoSuchUpload)),
        }
    }

    /// The number of multipart uploads neither completed nor aborted.
    pub(crate) fn open_uploads(&self) -> usize {
        self.writes.uploads().len()
    }

    pub(crate) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        self.check(&input.bucket, &input.key)?;
        let (src_bucket, src_key) = copy_source_key(&input.copy_source)?;
        let src = self.object(&src_bucket, &src_key)?;
        if let Some(ETagCondition::ETag(e)) = &input.copy_source_if_match
            && e.value() != src.info.etag
        {
            return Err(s3_error!(PreconditionFailed));
        }
        if src.info.size > 5 << 30 {
            return Err(s3_error!(
                InvalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120"
            ));
        }
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let mut opts = options(input.metadata, input.server_side_encryption, input.ssekms_key_id);
        if !replace {
            opts.metadata = src.info.metadata.clone();
        }
        self.writes.record("CopyObject", &input.key, &opts);
        let data = read_payload(&src.payload, 0..src.info.size).await?;
        // A copy of a single-part object keeps its MD5 ETag; a multipart source keeps its own;
        // a copy encrypted with SSE-KMS gets a new one, as in S3.
        if opts.sse.as_deref() != Some("aws:kms") {
            opts.etag = Some(src.info.etag.clone());
        }
        let info = self
            .table
            .put_if(&input.bucket, &input.key, data, opts, &Precondition::None)
            .map_err(put_error)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(info.etag)),
                last_modified: Some(Timestamp::from(info.last_modified)),
                ..Default::default()
            }),
            server_side_encryption: info.sse.map(ServerSideEncryption::from),
            ssekms_key_id: info.sse_kms_key_id,
            ..Default::default()
        }))
    }

    pub(crate) fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        self.check(&input.bucket, &input.key)?;
        self.table
            .delete(&input.bucket, &input.key)
            .map_err(|e| s3_error!(e, InternalError))?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    pub(crate) fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let confined = req.extensions.get::<crate::access::UserPrefix>().cloned();
        let input = req.input;
        self.require_bucket(&input.bucket)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in input.delete.objects {
            let outside = confined.as_ref().is_some_and(|p| !obj.key.starts_with(p.0.as_str()));
            if outside || self.check(&input.bucket, &obj.key).is_err() {
                errors.push(Error {
                    code: Some("AccessDenied".into()),
                    key: Some(obj.key),
                    message: Some("Access Denied".into()),
                    ..Default::default()
                });
                continue;
            }
            self.table
                .delete(&input.bucket, &obj.key)
                .map_err(|e| s3_error!(e, InternalError))?;
            if !quiet {
                deleted.push(DeletedObject {
                    key: Some(obj.key),
                    ..Default::default()
                });
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }
}
