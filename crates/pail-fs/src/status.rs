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

#[derive(Debug, Default)]
pub(crate) struct StatusInner {
    pub(crate) last_error: Option<String>,
    pub(crate) conflicts: Vec<String>,
    pub(crate) unreadable: Vec<String>,
}
