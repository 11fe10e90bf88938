//! A network between the client and S3, as the emulator imitates it (`Faults::network`): the
//! time each kind of request waits for its first byte, a random jitter on top, and a bandwidth
//! cap per connection, each way.
//!
//! The cap is applied as a wait of `bytes / bandwidth` before a request is served (its body,
//! by its `Content-Length`) and before an answer is returned (its body): a connection carries
//! one request at a time, so that bounds each connection's throughput as a slow link does,
//! and throughput grows only with requests in flight, as against S3.
//!
//! [`Network::wan`] is the profile of a client outside AWS (`docs/performance.md` gives its
//! sources); [`Network::NONE`] keeps the emulator as fast as it is, for the test suite.

use std::time::Duration;

use crate::lost::{S3Op, names_a_key};

/// What a request is, as far as its latency goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// GetObject, HeadObject (and bucket calls other than listing).
    Read,
    /// PutObject, UploadPart, and creating, completing or aborting a multipart upload.
    Write,
    /// One ListObjects(V2) page.
    List,
    /// CopyObject, UploadPartCopy.
    Copy,
    /// DeleteObject, DeleteObjects.
    Delete,
}

impl RequestKind {
    /// The kind of `req`.
    pub fn of<B>(req: &http::Request<B>) -> Self {
        match S3Op::of(req) {
            S3Op::PutObject
            | S3Op::UploadPart
            | S3Op::CreateMultipartUpload
            | S3Op::CompleteMultipartUpload
            | S3Op::AbortMultipartUpload => Self::Write,
            S3Op::CopyObject | S3Op::UploadPartCopy => Self::Copy,
            S3Op::DeleteObject | S3Op::DeleteObjects => Self::Delete,
            S3Op::Other if req.method() == http::Method::GET && !names_a_key(req.uri().path()) => Self::List,
            S3Op::Other => Self::Read,
        }
    }
}

/// A network profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Network {
    /// First-byte latency of a GET or HEAD.
    pub read: Duration,
    /// Of a PUT, a part, or a multipart create, completion or abort.
    pub write: Duration,
    /// Of a LIST page.
    pub list: Duration,
    /// Of a copy.
    pub copy: Duration,
    /// Of a delete.
    pub delete: Duration,
    /// Up to this much more, uniformly at random, per request.
    pub jitter: Duration,
    /// Bytes per second per connection, each way; 0 for no cap.
    pub bytes_per_sec: u64,
}

impl Network {
    /// No added latency: the emulator as fast as it is.
    pub const NONE: Self = Self {
        read: Duration::ZERO,
        write: Duration::ZERO,
        list: Duration::ZERO,
        copy: Duration::ZERO,
        delete: Duration::ZERO,
        jitter: Duration::ZERO,
        bytes_per_sec: 0,
    };

    /// A client outside AWS reaching S3 over the internet: tens of milliseconds to the first
    /// byte of a small request, a LIST page several times that, copies and completions in
    /// between, and about 85 MB/s per connection.
    pub fn wan() -> Self {
        Self {
            read: Duration::from_millis(30),
            write: Duration::from_millis(40),
            list: Duration::from_millis(150),
            copy: Duration::from_millis(60),
            delete: Duration::from_millis(30),
            jitter: Duration::from_millis(10),
            bytes_per_sec: 85_000_000,
        }
    }

    /// A profile by name: `none` or `wan`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::NONE),
            "wan" => Some(Self::wan()),
            _ => None,
        }
    }

    /// Whether it adds nothing.
    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }

    /// The first-byte latency of a request of `kind`, without jitter.
    pub fn first_byte(&self, kind: RequestKind) -> Duration {
        match kind {
            RequestKind::Read => self.read,
            RequestKind::Write => self.write,
            RequestKind::List => self.list,
            RequestKind::Copy => self.copy,
            RequestKind::Delete => self.delete,
        }
    }

    /// How long `bytes` take on one connection.
    pub fn transfer(&self, bytes: u64) -> Duration {
        if self.bytes_per_sec == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64)
        }
    }

    /// The wait before `req` (with a body of `body_bytes`) is served: first byte, jitter
    /// (`jitter_share` of it, 0.0–1.0) and the body's transfer.
    pub fn before_serving(&self, kind: RequestKind, body_bytes: u64, jitter_share: f64) -> Duration {
        self.first_byte(kind) + self.jitter.mul_f64(jitter_share.clamp(0.0, 1.0)) + self.transfer(body_bytes)
    }
}

/// The `Content-Length` of a request or answer, 0 when it has none.
pub(crate) fn content_length(headers: &http::HeaderMap) -> u64 {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lost::tests::req;

    #[test]
    fn requests_are_told_apart_as_their_latency_needs() {
        assert_eq!(RequestKind::of(&req("GET", "/b/k", false)), RequestKind::Read);
        assert_eq!(RequestKind::of(&req("HEAD", "/b/k", false)), RequestKind::Read);
        assert_eq!(
            RequestKind::of(&req("GET", "/b?list-type=2&prefix=a/", false)),
            RequestKind::List
        );
        assert_eq!(RequestKind::of(&req("GET", "/b/", false)), RequestKind::List);
        assert_eq!(RequestKind::of(&req("PUT", "/b/k", false)), RequestKind::Write);
        assert_eq!(
            RequestKind::of(&req("PUT", "/b/k?partNumber=1&uploadId=u", false)),
            RequestKind::Write
        );
        assert_eq!(RequestKind::of(&req("PUT", "/b/k", true)), RequestKind::Copy);
        assert_eq!(RequestKind::of(&req("DELETE", "/b/k", false)), RequestKind::Delete);
        assert_eq!(RequestKind::of(&req("POST", "/b?delete", false)), RequestKind::Delete);
    }

    #[test]
    fn the_wan_profile_costs_what_it_says_and_none_costs_nothing() {
        let wan = Network::named("wan").expect("wan");
        assert_eq!(
            wan.before_serving(RequestKind::List, 0, 0.0),
            Duration::from_millis(150)
        );
        // An 8 MiB part: 40 ms to the first byte, then 8,388,608 / 85,000,000 s on the wire.
        let part = wan.before_serving(RequestKind::Write, 8 << 20, 1.0);
        assert_eq!(
            part,
            Duration::from_millis(50) + Duration::from_secs_f64(8_388_608.0 / 85e6)
        );
        let none = Network::named("none").expect("none");
        assert!(none.is_none());
        assert_eq!(none.before_serving(RequestKind::Copy, 1 << 30, 1.0), Duration::ZERO);
        assert!(Network::named("moon").is_none());
    }
}
