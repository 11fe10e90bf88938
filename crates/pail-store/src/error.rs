//! The store's error: what failed (operation and key) plus a kind the file system maps.

/// What kind of failure, independent of the SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The key does not exist (404 NoSuchKey).
    NotFound,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The policy refuses this request (403).
    AccessDenied,
    /// The access key is unknown or the signature does not match.
    InvalidCredentials,
    /// A precondition failed (412): the object changed.
    Conflict,
    /// The credentials have expired.
    ExpiredCredentials,
    /// No credentials were found (no keys, no profile, nothing in the environment).
    NoCredentials,
    /// The service asked us to slow down (503 SlowDown, 429).
    Throttled,
    /// The endpoint could not be reached or the connection broke.
    Network,
    /// Anything else.
    Other,
}

/// An S3 call that failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {key:?} failed: {kind}")]
pub struct StoreError {
    kind: StoreErrorKind,
    op: &'static str,
    key: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A new error for operation `op` on `key`.
    pub fn new(
        kind: StoreErrorKind,
        op: &'static str,
        key: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            op,
            key: key.into(),
            source,
        }
    }

    /// The kind, for mapping.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, StoreErrorKind::Throttled | StoreErrorKind::Network)
    }
}

impl std::fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreErrorKind::NotFound => "no such key",
            StoreErrorKind::NoSuchBucket => "no such bucket",
            StoreErrorKind::AccessDenied => "access denied",
            StoreErrorKind::InvalidCredentials => "the access key or secret is not valid",
            StoreErrorKind::Conflict => "the object changed on the server",
            StoreErrorKind::ExpiredCredentials => "the credentials have expired",
            StoreErrorKind::NoCredentials => "no credentials were found",
            StoreErrorKind::Throttled => "the service is throttling requests",
            StoreErrorKind::Network => "the endpoint could not be reached",
            StoreErrorKind::Other => "unexpected error",
        })
    }
}

/// Maps an S3 error code (from the XML body or `x-amz-error-code`) and HTTP status to a kind.
pub(crate) fn kind_from_code(code: Option<&str>, status: Option<u16>) -> StoreErrorKind {
    match code {
        Some("NoSuchKey" | "NotFound") => StoreErrorKind::NotFound,
        Some("NoSuchBucket") => StoreErrorKind::NoSuchBucket,
        Some("AccessDenied" | "AllAccessDisabled" | "AccountProblem") => StoreErrorKind::AccessDenied,
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "NotSignedUp" | "InvalidToken") => {
            StoreErrorKind::InvalidCredentials
        }
        Some("ExpiredToken" | "TokenRefreshRequired" | "RequestExpired") => StoreErrorKind::ExpiredCredentials,
        Some("PreconditionFailed" | "ConditionalRequestConflict") => StoreErrorKind::Conflict,
        Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded") => StoreErrorKind::Throttled,
        _ => match status {
            Some(404) => StoreErrorKind::NotFound,
            Some(403) => StoreErrorKind::AccessDenied,
            Some(412) => StoreErrorKind::Conflict,
            Some(429 | 503) => StoreErrorKind::Throttled,
            Some(500..=599) => StoreErrorKind::Network,
            _ => StoreErrorKind::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        assert_eq!(kind_from_code(Some("NoSuchKey"), Some(404)), StoreErrorKind::NotFound);
        assert_eq!(kind_from_code(None, Some(404)), StoreErrorKind::NotFound);
        assert_eq!(
            kind_from_code(Some("AccessDenied"), Some(403)),
            StoreErrorKind::AccessDenied
        );
        assert_eq!(
            kind_from_code(Some("ExpiredToken"), Some(400)),
            StoreErrorKind::ExpiredCredentials
        );
        assert_eq!(kind_from_code(Some("SlowDown"), Some(503)), StoreErrorKind::Throttled);
        assert_eq!(kind_from_code(None, Some(412)), StoreErrorKind::Conflict);
    }

    #[test]
    fn message_names_operation_and_key() {
        let e = StoreError::new(StoreErrorKind::AccessDenied, "GetObject", "a/b", None);
        assert_eq!(e.to_string(), "GetObject \"a/b\" failed: access denied");
    }
}
