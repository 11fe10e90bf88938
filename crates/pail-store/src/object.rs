//! Value types the store hands to the file system core.

use std::fmt;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::StoreError;

/// The user-metadata key (after `x-amz-meta-`) that carries a file's modification time, as
/// seconds since the epoch with an optional fraction; rclone uses the same key.
pub const MTIME_METADATA_KEY: &str = "mtime";

/// The user-metadata key (after `x-amz-meta-`) that names the upload which wrote an object: a
/// value pail makes unique per version of a file it sends. When a write's answer is lost (a
/// timeout after the request went out, a reset, a body the SDK cannot read), a HEAD that finds
/// this token proves the write was applied, so it is not repeated or turned into a conflict.
pub const TOKEN_METADATA_KEY: &str = "pail-write";

/// The user-metadata key (after `x-amz-meta-`) with the file attributes Windows users set and
/// S3 has no field for: `readonly`, `hidden`, `system`, comma-separated. Absent means none.
pub const ATTRIBUTES_METADATA_KEY: &str = "pail-attributes";

/// The user-metadata key (after `x-amz-meta-`) with a file's creation time, in the format of
/// `x-amz-meta-mtime`. Absent means unknown (the file shows its modification time).
pub const CREATED_METADATA_KEY: &str = "pail-created";

/// The file attributes kept in [`ATTRIBUTES_METADATA_KEY`], as the bits Windows gives them
/// (FILE_ATTRIBUTE_READONLY, _HIDDEN, _SYSTEM).
pub mod attributes {
    /// Read-only.
    pub const READONLY: u32 = 0x1;
    /// Hidden.
    pub const HIDDEN: u32 = 0x2;
    /// System.
    pub const SYSTEM: u32 = 0x4;
    /// Every bit kept; others are dropped.
    pub const KEPT: u32 = READONLY | HIDDEN | SYSTEM;
    pub(crate) const NAMES: [(u32, &str); 3] = [(READONLY, "readonly"), (HIDDEN, "hidden"), (SYSTEM, "system")];
}

/// Attributes as sent in `x-amz-meta-pail-attributes` (`hidden,system`); `None` for none.
pub fn format_attributes(bits: u32) -> Option<String> {
    let words: Vec<&str> = attributes::NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, w)| *w)
        .collect();
    (!words.is_empty()).then(|| words.join(","))
}

/// Parses `x-amz-meta-pail-attributes`; unknown words (a later version's) are ignored.
pub fn parse_attributes(value: &str) -> u32 {
    value
        .split(',')
        .filter_map(|w| attributes::NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(w.trim())))
        .fold(0, |bits, (b, _)| bits | b)
}

/// What a write records beside the bytes, as user metadata pail reads back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    /// The modification time (`x-amz-meta-mtime`).
    pub mtime: Option<SystemTime>,
    /// The upload's token (`x-amz-meta-pail-write`).
    pub token: Option<u64>,
    /// File attributes ([`attributes`]; `x-amz-meta-pail-attributes`).
    pub attributes: u32,
    /// The creation time (`x-amz-meta-pail-created`).
    pub created: Option<SystemTime>,
}

impl Stamp {
    /// A stamp recording only a modification time.
    pub fn at(mtime: SystemTime) -> Self {
        Self {
            mtime: Some(mtime),
            ..Self::default()
        }
    }

    /// This stamp with file attributes and a creation time.
    pub fn with_attributes(self, attributes: u32, created: Option<SystemTime>) -> Self {
        Self {
            attributes: attributes & attributes::KEPT,
            created,
            ..self
        }
    }

    /// This stamp with `token`.
    pub fn with_token(self, token: u64) -> Self {
        Self {
            token: Some(token),
            ..self
        }
    }

    /// The user metadata to send: key (after `x-amz-meta-`) and value.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        let mut m = Vec::with_capacity(2);
        if let Some(t) = self.mtime {
            m.push((MTIME_METADATA_KEY, format_mtime(t)));
        }
        if let Some(t) = self.token {
            m.push((TOKEN_METADATA_KEY, format_token(t)));
        }
        if let Some(a) = format_attributes(self.attributes) {
            m.push((ATTRIBUTES_METADATA_KEY, a));
        }
        if let Some(t) = self.created {
            m.push((CREATED_METADATA_KEY, format_mtime(t)));
        }
        m
    }
}

/// A token as sent in `x-amz-meta-pail-write`: 16 hex digits.
pub fn format_token(token: u64) -> String {
    format!("{token:016x}")
}

/// Parses `x-amz-meta-pail-write`.
pub fn parse_token(value: &str) -> Option<u64> {
    let value = value.trim();
    (value.len() == 16).then(|| u64::from_str_radix(value, 16).ok())?
}

/// An entity tag as S3 returns it, without surrounding quotes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ETag(String);

impl ETag {
    /// Builds an ETag from a header or XML value, stripping quotes.
    pub fn new(raw: &str) -> Self {
        Self(raw.trim_matches('"').to_owned())
    }

    /// The bare value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The quoted form used in `If-Match`.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What pail knows of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The full key.
    pub key: String,
    /// Exact size in bytes.
    pub size: u64,
    /// The ETag of this version.
    pub etag: ETag,
    /// S3's LastModified.
    pub last_modified: SystemTime,
    /// The `x-amz-meta-mtime` value, when the response carried user metadata and it was valid.
    /// Listings never carry it.
    pub mtime: Option<SystemTime>,
    /// The `x-amz-meta-pail-write` token of the upload that wrote this version, when the
    /// response carried user metadata (HEAD and GET; never listings).
    pub token: Option<u64>,
    /// File attributes (`x-amz-meta-pail-attributes`; HEAD and GET, never listings).
    pub attributes: u32,
    /// The creation time (`x-amz-meta-pail-created`; HEAD and GET, never listings).
    pub created: Option<SystemTime>,
}

impl ObjectMeta {
    /// The modification time a file shows: `x-amz-meta-mtime` when known, else LastModified.
    pub fn modified(&self) -> SystemTime {
        self.mtime.unwrap_or(self.last_modified)
    }
}

/// Parses rclone's `x-amz-meta-mtime` format: seconds since the epoch, optionally fractional.
pub fn parse_mtime(value: &str) -> Option<SystemTime> {
    let value = value.trim();
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: u64 = secs.parse().ok()?;
    let mut nanos = 0u32;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        nanos = format!("{digits:0<9}").parse().ok()?;
    }
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Formats a time as `x-amz-meta-mtime`: seconds since the epoch with nanoseconds, as rclone
/// writes it.
pub fn format_mtime(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Server-side encryption requested on every write and copy of a drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// `x-amz-server-side-encryption: AES256` (SSE-S3).
    Aes256,
    /// `x-amz-server-side-encryption: aws:kms`, with the key id (or the account's default key).
    Kms {
        /// `x-amz-server-side-encryption-aws-kms-key-id`.
        key_id: Option<String>,
    },
}

/// The precondition of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Write whatever is there.
    None,
    /// Only if the object is still at this version (`If-Match`).
    IfMatch(ETag),
    /// Only if no object exists at the key (`If-None-Match: *`).
    IfAbsent,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// Objects in this page.
    pub objects: Vec<ObjectMeta>,
    /// Common prefixes (sub-"directories"), each ending with the delimiter.
    pub prefixes: Vec<String>,
    /// Continuation token for the next page, if the listing is truncated.
    pub next: Option<String>,
}

/// A streaming body of byte chunks.
pub type ByteStream = Pin<Box<dyn futures::Stream<Item = Result<Bytes, StoreError>> + Send>>;

/// The answer to a ranged GET.
pub struct GetObject {
    /// Metadata of the version served.
    pub meta: ObjectMeta,
    /// The requested bytes, in order.
    pub body: ByteStream,
}

impl fmt::Debug for GetObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetObject")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtime_parses_rclone_format() {
        let t = parse_mtime("1700000000.5").expect("valid");
        assert_eq!(t, UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000));
        assert_eq!(
            parse_mtime("1700000000"),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(parse_mtime("yesterday"), None);
        assert_eq!(parse_mtime("1.x"), None);
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(parse_mtime(&format_mtime(t)), Some(t));
    }

    #[test]
    fn attributes_round_trip_as_words() {
        use super::attributes::{HIDDEN, READONLY, SYSTEM};
        assert_eq!(format_attributes(0), None);
        assert_eq!(format_attributes(HIDDEN | SYSTEM).as_deref(), Some("hidden,system"));
        for bits in 0..8 {
            assert_eq!(parse_attributes(&format_attributes(bits).unwrap_or_default()), bits);
        }
        assert_eq!(
            parse_attributes("Hidden, archive,readonly"),
            HIDDEN | READONLY,
            "unknown words ignored"
        );
        let s = Stamp::at(UNIX_EPOCH).with_attributes(HIDDEN | 0x20, Some(UNIX_EPOCH));
        assert_eq!(s.attributes, HIDDEN, "only the kept bits");
        let m = s.metadata();
        assert!(m.contains(&(ATTRIBUTES_METADATA_KEY, "hidden".to_owned())), "{m:?}");
        assert!(m.iter().any(|(k, _)| *k == CREATED_METADATA_KEY), "{m:?}");
    }

    #[test]
    fn tokens_round_trip_and_reject_other_values() {
        for t in [0, 1, 0xdead_beef, u64::MAX] {
            assert_eq!(parse_token(&format_token(t)), Some(t));
        }
        assert_eq!(parse_token("12"), None);
        assert_eq!(parse_token("zzzzzzzzzzzzzzzz"), None);
        let s = Stamp::at(UNIX_EPOCH).with_token(7);
        assert_eq!(
            s.metadata(),
            vec![
                (MTIME_METADATA_KEY, "0.000000000".to_owned()),
                (TOKEN_METADATA_KEY, "0000000000000007".to_owned())
            ]
        );
    }

    #[test]
    fn etag_strips_quotes() {
        let e = ETag::new("\"abc\"");
        assert_eq!(e.as_str(), "abc");
        assert_eq!(e.quoted(), "\"abc\"");
    }
}
