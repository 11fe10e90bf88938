//! What write-back reports: [`WritebackStatus`] for `pail status` and the app, and the
//! part of it the uploads update as they go.

/// What write-back has pending, for `pail status` and the app (serializable, so another
/// process can read it from a status file).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WritebackStatus {
    /// Files waiting for (or in) upload.
    pub pending_files: usize,
    /// Of those, the ones being uploaded now.
    #[serde(default)]
    pub uploading_files: usize,
    /// Their total size.
    pub pending_bytes: u64,
    /// Bytes sent by uploads so far (a running counter).
    pub uploaded_bytes: u64,
    /// Bytes the staging area holds now.
    pub staged_bytes: u64,
    /// Paths of pending files (up to 100).
    pub pending_paths: Vec<String>,
    /// Bytes of the pending files already sent (parts of large files on their way), for a
    /// progress of `pending_sent_bytes` of `pending_bytes`.
    #[serde(default)]
    pub pending_sent_bytes: u64,
    /// The largest pending files (from [`LARGE_FILE`] on, up to 20, largest first), with
    /// their progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub large_uploads: Vec<UploadProgress>,
    /// The last upload error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Conflict copies made, as paths.
    pub conflicts: Vec<String>,
    /// Folder moves still under way, with their progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moving_folders: Vec<String>,
    /// Journal records that could not be read (kept under `<cache>/corrupt/`).
    pub unreadable_journal: Vec<String>,
}

/// A pending file from this size on has its own progress in [`WritebackStatus::large_uploads`].
pub const LARGE_FILE: u64 = 4 << 20;

/// One large file's upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadProgress {
    /// Its path on the drive.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Bytes sent so far.
    pub sent: u64,
    /// Being uploaded now (else waiting: still open, the write-back delay, or a retry).
    pub uploading: bool,
}

#[derive(Debug, Default)]
pub(crate) struct StatusInner {
    pub(crate) last_error: Option<String>,
    pub(crate) conflicts: Vec<String>,
    pub(crate) unreadable: Vec<String>,
}
