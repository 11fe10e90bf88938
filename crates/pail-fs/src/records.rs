//! What a journal record says (JSON): a pending upload and where its bytes come from, a
//! folder move, or a multipart upload to finish or abort. The journal (`journal`) keeps them.

use serde::{Deserialize, Serialize};

/// A small file's bytes in a record, as base64.
mod inline {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(data: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match data {
            Some(d) => s.serialize_some(&STANDARD.encode(d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The version an upload must find on S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ExpectRecord {
    /// No object at the key.
    Absent,
    /// The object with this ETag.
    Match(String),
    /// Anything (the user replaced it knowingly).
    Any,
}

/// The remote version a partly fetched staging file still needs bytes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BaseRecord {
    pub(crate) key: String,
    pub(crate) etag: String,
    /// Bytes of the base that are part of the file.
    pub(crate) limit: u64,
    /// Blocks (half-open index ranges) not yet copied into the staging file.
    pub(crate) missing: Vec<(u64, u64)>,
    /// The size of the object itself (at least `limit`); absent in records of versions
    /// before 0.2, whose size is asked of S3 when a block is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<u64>,
}

/// A pending upload of a staging file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadRecord {
    pub(crate) path: String,
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) mtime_secs: u64,
    pub(crate) mtime_nanos: u32,
    pub(crate) expect: ExpectRecord,
    pub(crate) base: Option<BaseRecord>,
    /// The whole file, for a small one: the staging file is rebuilt from it on resume.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "inline")]
    pub(crate) data: Option<Vec<u8>>,
    /// The token the upload records on S3 (`x-amz-meta-pail-write`), so a resumed upload
    /// recognises its own object when the first attempt landed before the crash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<u64>,
    /// The conflict copy's path, once S3 refused the upload: a resumed upload writes the copy
    /// under this name, never under a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) conflict_copy: Option<String>,
    /// Windows file attributes (`pail_store::attributes`) the upload records.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) attributes: u32,
    /// The creation time the upload records, when one was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<TimeRecord>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A time as a journal keeps it: seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TimeRecord {
    secs: u64,
    nanos: u32,
}

impl TimeRecord {
    pub(crate) fn of(t: std::time::SystemTime) -> Self {
        let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Self {
            secs: since.as_secs(),
            nanos: since.subsec_nanos(),
        }
    }

    pub(crate) fn time(self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::new(self.secs, self.nanos)
    }
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Record {
    /// Upload a staging file.
    Upload(Box<UploadRecord>),
    /// Move every key under `from` to `to` (both key prefixes ending with `/`).
    RenameDir {
        /// Source prefix.
        from: String,
        /// Destination prefix.
        to: String,
    },
    /// A multipart upload begun (`multipart`): forgotten once completed or aborted, aborted on
    /// resume.
    Parts {
        /// The key it uploads to.
        key: String,
        /// Its upload id.
        upload_id: String,
    },
}
