//! The transitions of a file being written that concern its journal record: which generation
//! the journal holds, the upload token it records, and the record itself. A child of
//! `lifecycle`, so the state stays private to that one module.

use std::time::SystemTime;

use super::FileState;
use crate::journal::{BaseRecord, TimeRecord, UploadRecord};

impl FileState {
    // The journal.

    /// The generation to journal, when it holds an older one and S3 lacks it.
    pub(crate) fn to_journal(&self) -> Option<u64> {
        (self.needs_upload() && self.journaled != self.generation).then_some(self.generation)
    }

    pub(crate) fn journaled_at(&mut self, generation: u64) {
        self.journaled = self.journaled.max(generation);
    }

    /// Makes `token` the upload token of `generation`, for an upload whose metadata was fixed
    /// before that generation was known (an eager multipart upload). `None` when the file
    /// changed since; else whether the journal holds that generation (and must be rewritten).
    pub(crate) fn adopt_token(&mut self, generation: u64, token: u64) -> Option<bool> {
        if self.generation != generation {
            return None;
        }
        self.token = (generation, token);
        Some(self.journaled == generation)
    }

    /// The journal record of the file as it stands; `data` is its whole content when small.
    pub(crate) fn record(&mut self, base: Option<BaseRecord>, data: Option<Vec<u8>>) -> UploadRecord {
        let since = self.mtime.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        UploadRecord {
            path: self.path.as_str().to_owned(),
            key: self.key.clone(),
            size: self.size,
            mtime_secs: since.as_secs(),
            mtime_nanos: since.subsec_nanos(),
            expect: self.expect.record(),
            base,
            data,
            token: Some(self.token()),
            conflict_copy: self.conflict_copy.as_ref().map(|p| p.as_str().to_owned()),
            attributes: self.attributes,
            created: self.created.map(TimeRecord::of),
        }
    }
}
