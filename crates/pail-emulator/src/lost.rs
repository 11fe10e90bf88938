//! Answers lost after the request was applied: the request reaches the store and changes it,
//! then the client gets a reset connection or a body it cannot read, as after a timeout once the
//! request went out, a proxy dropping the body, or a server answering in another dialect (moto
//! answers CompleteMultipartUpload with a `CompleteMultipartUploadResponse` root element).
//!
//! A client must then treat the outcome as unknown, not as a failure: the object is there.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::tally::Tally;

/// The kinds of S3 request the emulator tells apart for lost answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum S3Op {
    /// PutObject.
    PutObject,
    /// CreateMultipartUpload.
    CreateMultipartUpload,
    /// UploadPart.
    UploadPart,
    /// UploadPartCopy.
    UploadPartCopy,
    /// CompleteMultipartUpload.
    CompleteMultipartUpload,
    /// AbortMultipartUpload.
    AbortMultipartUpload,
    /// CopyObject.
    CopyObject,
    /// DeleteObject.
    DeleteObject,
    /// DeleteObjects.
    DeleteObjects,
    /// Anything else (reads, listings, bucket calls).
    Other,
}

impl S3Op {
    /// What a request is, from its method, query and headers (path-style or virtual-hosted).
    pub fn of<B>(req: &http::Request<B>) -> Self {
        let query = req.uri().query().unwrap_or("");
        let has = |name: &str| {
            query
                .split('&')
                .any(|p| p == name || p.starts_with(&format!("{name}=")))
        };
        let copy = req.headers().contains_key("x-amz-copy-source");
        match *req.method() {
            http::Method::PUT if has("partNumber") && copy => S3Op::UploadPartCopy,
            http::Method::PUT if has("partNumber") => S3Op::UploadPart,
            http::Method::PUT if copy => S3Op::CopyObject,
            http::Method::PUT if names_a_key(req.uri().path()) => S3Op::PutObject,
            http::Method::POST if has("uploads") => S3Op::CreateMultipartUpload,
            http::Method::POST if has("uploadId") => S3Op::CompleteMultipartUpload,
            http::Method::POST if has("delete") => S3Op::DeleteObjects,
            http::Method::DELETE if has("uploadId") => S3Op::AbortMultipartUpload,
            http::Method::DELETE if names_a_key(req.uri().path()) => S3Op::DeleteObject,
            _ => S3Op::Other,
        }
    }
}

/// Whether a path-style path is `/<bucket>/<key>` rather than `/<bucket>`.
pub(crate) fn names_a_key(path: &str) -> bool {
    path.trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty())
}

/// How an applied request's answer is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostAs {
    /// The connection is reset instead of the answer.
    Reset,
    /// The status and headers arrive, the body is XML with a root element the SDK does not
    /// expect (`<{Op}Response>`, as moto answers).
    Garbled,
    /// No answer ever comes (the connection stays open).
    Stall,
}

/// Lose the answers of the next `count` requests of kind `op`, each after applying it.
/// Clones share the count.
#[derive(Debug, Clone)]
pub struct LostAnswers {
    op: S3Op,
    how: LostAs,
    remaining: Arc<AtomicU32>,
    /// Requests applied whose answers were lost.
    applied: Tally,
}

impl LostAnswers {
    /// The next `count` answers to `op` are lost `how`.
    pub fn new(op: S3Op, how: LostAs, count: u32) -> Self {
        Self {
            op,
            how,
            remaining: Arc::new(AtomicU32::new(count)),
            applied: Tally::default(),
        }
    }

    /// Waits until `n` requests were applied and their answers lost, for at most `limit`;
    /// whether they were.
    pub fn wait_applied(&self, n: u32, limit: Duration) -> bool {
        self.applied.wait_for(n, limit)
    }

    fn note_applied(&self) {
        self.applied.note();
    }

    /// How many answers are still to be lost.
    pub fn remaining(&self) -> u32 {
        self.remaining.load(Ordering::Acquire)
    }

    /// The rule that loses this request's answer (counting it), if any.
    pub(crate) fn take(rules: &[LostAnswers], op: S3Op) -> Option<&LostAnswers> {
        rules.iter().find(|r| {
            r.op == op
                && r.remaining
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
        })
    }

    /// How the answer is lost.
    pub fn how(&self) -> LostAs {
        self.how
    }

    /// Serves `req` with `service`, then loses the answer.
    pub(crate) async fn apply_and_lose<F>(&self, op: S3Op, served: F) -> Result<s3s::HttpResponse, s3s::HttpError>
    where
        F: std::future::Future<Output = Result<s3s::HttpResponse, s3s::HttpError>>,
    {
        let resp = served.await;
        self.note_applied();
        tracing::debug!(?op, how = ?self.how, "answer lost after the request was applied");
        match self.how {
            LostAs::Stall => std::future::pending().await,
            how => lose(op, how, resp?),
        }
    }
}

/// The answer a client gets for `resp` lost `how`.
fn lose(op: S3Op, how: LostAs, resp: s3s::HttpResponse) -> Result<s3s::HttpResponse, s3s::HttpError> {
    match how {
        // A stall never gets here: it waits forever instead.
        LostAs::Reset | LostAs::Stall => Err(s3s::HttpError::new(
            "injected: answer lost after the request was applied".into(),
        )),
        LostAs::Garbled => {
            let (mut parts, _) = resp.into_parts();
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{op:?}Response xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Garbled/></{op:?}Response>"
            );
            parts.headers.remove(http::header::CONTENT_LENGTH);
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/xml"),
            );
            Ok(http::Response::from_parts(parts, s3s::Body::from(body)))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A request of `method` to `uri` (path-style), a copy when `copy`.
    pub(crate) fn req(method: &str, uri: &str, copy: bool) -> http::Request<()> {
        let mut b = http::Request::builder().method(method).uri(uri);
        if copy {
            b = b.header("x-amz-copy-source", "b/src");
        }
        b.body(()).expect("request")
    }

    #[test]
    fn requests_are_told_apart() {
        assert_eq!(S3Op::of(&req("PUT", "/b/k", false)), S3Op::PutObject);
        assert_eq!(S3Op::of(&req("PUT", "/b", false)), S3Op::Other);
        assert_eq!(S3Op::of(&req("PUT", "/b/k", true)), S3Op::CopyObject);
        assert_eq!(
            S3Op::of(&req("PUT", "/b/k?partNumber=1&uploadId=x", false)),
            S3Op::UploadPart
        );
        assert_eq!(
            S3Op::of(&req("PUT", "/b/k?partNumber=1&uploadId=x", true)),
            S3Op::UploadPartCopy
        );
        assert_eq!(
            S3Op::of(&req("POST", "/b/k?uploads", false)),
            S3Op::CreateMultipartUpload
        );
        assert_eq!(
            S3Op::of(&req("POST", "/b/k?uploadId=x", false)),
            S3Op::CompleteMultipartUpload
        );
        assert_eq!(S3Op::of(&req("POST", "/b?delete", false)), S3Op::DeleteObjects);
        assert_eq!(S3Op::of(&req("DELETE", "/b/k", false)), S3Op::DeleteObject);
        assert_eq!(
            S3Op::of(&req("DELETE", "/b/k?uploadId=x", false)),
            S3Op::AbortMultipartUpload
        );
        assert_eq!(S3Op::of(&req("GET", "/b/k", false)), S3Op::Other);
    }

    #[test]
    fn a_rule_loses_exactly_its_count() {
        let rules = [LostAnswers::new(S3Op::DeleteObject, LostAs::Reset, 2)];
        let how = |rules: &[LostAnswers], op| LostAnswers::take(rules, op).map(LostAnswers::how);
        assert_eq!(how(&rules, S3Op::PutObject), None);
        assert_eq!(how(&rules, S3Op::DeleteObject), Some(LostAs::Reset));
        let clone = rules.clone();
        assert_eq!(how(&clone, S3Op::DeleteObject), Some(LostAs::Reset));
        assert_eq!(how(&rules, S3Op::DeleteObject), None);
        assert_eq!(rules[0].remaining(), 0);
    }
}
