//! The life of a file being written: one state machine, and the only code that changes it.
//!
//! ```text
//!                 last writer closes            upload begins
//!   ┌──► Open ─────────────────────► Closed ─────────────────► Uploading ──┐
//!   │     ▲  ◄── a writer opens it ───┘  ▲    fails: retried      │        │ landed
//!   │     │                              └────────────────────────┘        ▼
//!   │     └──────────────── written again, or opened ───────────────── Uploaded
//!   │
//!   │  Uploading ── S3 holds another client's version ──► Conflicted
//!   │  Conflicted ── the copy is saved ──► Deleted (the server's version is shown), or
//!   │                                      Open/Closed when written meanwhile (it replaces it)
//!   │  any phase ── unlinked or replaced ──► Deleted: never uploaded again
//!   │  any phase ── renamed ──► the same phase under the new name and key
//!   └─ created, opened for writing, or resumed from the journal (Closed, maybe landed)
//! ```
//!
//! Phases are derived from a few counters rather than stored, so no transition can leave
//! two of them true at once: `generation` counts changes, `synced` is the generation S3 has,
//! `journaled` the one the journal holds. The rules a delete, a rename or a new write during
//! an upload follow are here and nowhere else:
//! - a write during an upload makes a new generation; the upload's success records only the
//!   generation it read ([`FileState::landed`]), so the file stays pending;
//! - a delete or a rename during an upload: the upload ends first (callers hold the file's
//!   upload lock to change where it lives) and if it landed anyway, [`FileState::landed`]
//!   answers the key to delete, so nothing lands under a name the file no longer has;
//! - a deleted file never begins an upload again.

use std::time::SystemTime;

use pail_store::{ETag, Stamp, WriteCondition};

use crate::journal::ExpectRecord;
use crate::path::VfsPath;

/// The version of the key an upload must find on S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Nothing: the file is new.
    Absent,
    /// The version the file was opened at (or last uploaded as).
    Match(ETag),
    /// Anything: the user replaced the file knowingly.
    Any,
}

impl Expect {
    pub(crate) fn condition(&self) -> WriteCondition {
        match self {
            Expect::Absent => WriteCondition::IfAbsent,
            Expect::Match(e) => WriteCondition::IfMatch(e.clone()),
            Expect::Any => WriteCondition::None,
        }
    }

    pub(super) fn record(&self) -> ExpectRecord {
        match self {
            Expect::Absent => ExpectRecord::Absent,
            Expect::Match(e) => ExpectRecord::Match(e.as_str().to_owned()),
            Expect::Any => ExpectRecord::Any,
        }
    }

    pub(crate) fn from_record(r: &ExpectRecord) -> Self {
        match r {
            ExpectRecord::Absent => Expect::Absent,
            ExpectRecord::Match(e) => Expect::Match(ETag::new(e)),
            ExpectRecord::Any => Expect::Any,
        }
    }
}

/// Where a file being written stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A writer has it open, with changes S3 lacks.
    Open,
    /// Closed with changes S3 lacks: its upload waits (the write-back delay, or a retry).
    Closed,
    /// An upload of it is running.
    Uploading,
    /// S3 has its last version; it is kept while a handle holds it.
    Uploaded,
    /// S3 holds another client's version: the local one goes to a conflict copy.
    Conflicted,
    /// Unlinked or replaced: never uploaded again.
    Deleted,
}

/// One upload attempt, as [`FileState::begin_upload`] saw the file.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) generation: u64,
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) mtime: SystemTime,
    pub(crate) expect: Expect,
    pub(crate) path: VfsPath,
    pub(crate) token: u64,
    /// S3 refused this version before: finish its conflict copy.
    pub(crate) in_conflict: bool,
}

/// Why no upload begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoUpload {
    /// S3 has it, or it was deleted.
    Nothing,
    /// A writer has it open; its last close schedules the upload.
    Busy,
}

/// The state of a file being written. Its fields are private: every change is a transition
/// below.
#[derive(Debug)]
pub(crate) struct FileState {
    path: VfsPath,
    key: String,
    size: u64,
    mtime: SystemTime,
    expect: Expect,
    /// A key where an earlier version of this file is on S3 (deleted when the file moves).
    remote_key: Option<String>,
    /// Open handles, and how many of them write.
    handles: u32,
    writers: u32,
    /// Bumped by every change; S3 has `synced` once an upload of that generation landed.
    generation: u64,
    synced: u64,
    /// The generation whose contents the journal holds.
    journaled: u64,
    deleted: bool,
    /// An upload task exists for this file.
    scheduled: bool,
    /// An upload attempt is running.
    uploading: bool,
    /// Staging bytes counted against the budget.
    reserved: u64,
    /// `mtime` was set by the user (not by a write), so S3 must record exactly it.
    mtime_set: bool,
    /// The upload token of one generation (generation, token); see [`FileState::token`].
    token: (u64, u64),
    /// An upload of this token may have landed at `key` unknown to us (an attempt failed with
    /// its outcome unknown, or an earlier mount's was cut off).
    maybe_landed: bool,
    /// Where the local version goes as a conflict copy once S3 refused it: chosen (and
    /// journaled) before the copy is written, so a retry or a resumed mount reuses it.
    conflict_copy: Option<VfsPath>,
    /// Windows file attributes and creation time, kept on S3 beside the bytes.
    attributes: u32,
    created: Option<SystemTime>,
}

/// What a journal record brings back (see [`FileState::resumed`]).
#[derive(Debug)]
pub(crate) struct Resumed {
    pub(crate) path: VfsPath,
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) mtime: SystemTime,
    pub(crate) expect: Expect,
    pub(crate) token: u64,
    pub(crate) conflict_copy: Option<VfsPath>,
    pub(crate) attributes: u32,
    pub(crate) created: Option<SystemTime>,
}

impl FileState {
    /// A file opened or created for writing, with one handle. `expect` says what S3 holds at
    /// `key` now: anything but `Absent` is an earlier version there.
    pub(crate) fn new(path: VfsPath, key: String, size: u64, mtime: SystemTime, expect: Expect, writer: bool) -> Self {
        Self {
            remote_key: (!matches!(expect, Expect::Absent)).then(|| key.clone()),
            path,
            key,
            size,
            mtime,
            expect,
            handles: 1,
            writers: u32::from(writer),
            generation: 0,
            synced: 0,
            journaled: 0,
            deleted: false,
            scheduled: false,
            uploading: false,
            reserved: 0,
            mtime_set: false,
            token: (0, 0),
            maybe_landed: false,
            conflict_copy: None,
            attributes: 0,
            created: None,
        }
    }

    /// A file an earlier mount journaled and did not upload: Closed, with no handle; its
    /// upload may have landed before that mount stopped.
    pub(crate) fn resumed(r: Resumed) -> Self {
        Self {
            // `Any` replaced an object (a rename over it): that key, too, holds an earlier version.
            remote_key: (!matches!(r.expect, Expect::Absent)).then(|| r.key.clone()),
            path: r.path,
            key: r.key,
            size: r.size,
            mtime: r.mtime,
            expect: r.expect,
            handles: 0,
            writers: 0,
            generation: 1,
            synced: 0,
            journaled: 1,
            deleted: false,
            scheduled: false,
            uploading: false,
            reserved: r.size,
            mtime_set: false,
            token: (1, r.token),
            maybe_landed: true,
            conflict_copy: r.conflict_copy,
            attributes: r.attributes,
            created: r.created,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        if self.deleted {
            Phase::Deleted
        } else if self.conflict_copy.is_some() {
            Phase::Conflicted
        } else if self.uploading {
            Phase::Uploading
        } else if self.generation == self.synced {
            Phase::Uploaded
        } else if self.writers > 0 {
            Phase::Open
        } else {
            Phase::Closed
        }
    }

    pub(crate) fn path(&self) -> &VfsPath {
        &self.path
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn mtime(&self) -> SystemTime {
        self.mtime
    }

    pub(crate) fn mtime_set(&self) -> bool {
        self.mtime_set
    }

    pub(crate) fn attributes(&self) -> u32 {
        self.attributes
    }

    pub(crate) fn created(&self) -> Option<SystemTime> {
        self.created
    }

    pub(crate) fn handles(&self) -> u32 {
        self.handles
    }

    pub(crate) fn writers(&self) -> u32 {
        self.writers
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// Changes S3 lacks, and the file was not deleted.
    pub(crate) fn needs_upload(&self) -> bool {
        !self.deleted && self.generation != self.synced
    }

    /// What an upload of this version records beside its bytes.
    pub(crate) fn stamp(&self, mtime: SystemTime, token: u64) -> Stamp {
        Stamp::at(mtime)
            .with_token(token)
            .with_attributes(self.attributes, self.created)
    }

    /// Where an upload of this file may have landed unknown to us, with its token.
    pub(crate) fn maybe_ours(&self) -> Option<(String, u64)> {
        self.maybe_landed.then(|| (self.key.clone(), self.token.1))
    }

    /// The token an upload of the current generation records on S3 (`x-amz-meta-pail-write`):
    /// the same for every attempt at this generation, in this mount and after a resume (it is
    /// journaled), and new for the next one. A HEAD that finds it proves the upload landed.
    pub(crate) fn token(&mut self) -> u64 {
        if self.token.0 != self.generation || self.token.1 == 0 {
            self.token = (self.generation, fresh_token());
        }
        self.token.1
    }

    // Handles.

    pub(crate) fn hold(&mut self, writer: bool) {
        self.handles += 1;
        self.writers += u32::from(writer);
    }

    pub(crate) fn unhold(&mut self, writer: bool) {
        self.handles = self.handles.saturating_sub(1);
        if writer {
            self.writers = self.writers.saturating_sub(1);
        }
    }

    // Changes: each is a new generation to upload.

    /// A change with no other effect on the state (a file created, or emptied on open).
    pub(crate) fn changed(&mut self) {
        self.generation += 1;
    }

    /// Bytes written up to `end`.
    pub(crate) fn wrote(&mut self, end: u64) {
        self.size = self.size.max(end);
        self.by_write();
    }

    /// The length set to `size`.
    pub(crate) fn resized(&mut self, size: u64) {
        self.size = size;
        self.by_write();
    }

    fn by_write(&mut self) {
        self.mtime = SystemTime::now();
        self.mtime_set = false;
        self.generation += 1;
    }

    /// The modification time set by the user: S3 must record exactly it.
    pub(crate) fn touched(&mut self, mtime: SystemTime) {
        self.mtime = mtime;
        self.mtime_set = true;
        self.generation += 1;
    }

    /// The attributes and creation time kept on S3 set, each when given; a change is a new
    /// generation.
    pub(crate) fn keep(&mut self, attributes: Option<u32>, created: Option<SystemTime>) {
        let (a, c) = (attributes.unwrap_or(self.attributes), created.or(self.created));
        if (a, c) != (self.attributes, self.created) {
            self.attributes = a;
            self.created = c;
            self.generation += 1;
        }
    }

    /// The attributes and creation time S3 holds for the version the file was opened at (no
    /// change to upload).
    pub(crate) fn opened_with(&mut self, attributes: u32, created: Option<SystemTime>) {
        self.attributes = attributes;
        self.created = created;
    }

    // Staging budget.

    /// Bytes to reserve before writing up to `end`.
    pub(crate) fn to_reserve(&self, end: u64) -> u64 {
        end.saturating_sub(self.reserved)
    }

    pub(crate) fn reserved_more(&mut self, grow: u64) {
        self.reserved += grow;
    }

    /// Gives the reservation back (the staging file goes); returns it.
    pub(crate) fn release_reserved(&mut self) -> u64 {
        std::mem::take(&mut self.reserved)
    }

    // Scheduling.

    /// Claims the one upload task of the file: `false` when one exists or nothing is pending.
    pub(crate) fn claim_schedule(&mut self) -> bool {
        if self.scheduled || !self.needs_upload() {
            return false;
        }
        self.scheduled = true;
        true
    }

    /// The upload task ends; whether another must be scheduled (changed meanwhile and closed).
    pub(crate) fn schedule_ended(&mut self) -> bool {
        self.scheduled = false;
        self.needs_upload() && self.writers == 0
    }

    // Uploads.

    /// Begins an upload attempt (`force`: even while a writer has the file open, for fsync).
    pub(crate) fn begin_upload(&mut self, force: bool) -> Result<Attempt, NoUpload> {
        if !self.needs_upload() {
            return Err(NoUpload::Nothing);
        }
        if self.writers > 0 && !force {
            return Err(NoUpload::Busy);
        }
        self.uploading = true;
        Ok(Attempt {
            generation: self.generation,
            key: self.key.clone(),
            size: self.size,
            mtime: self.mtime,
            expect: self.expect.clone(),
            path: self.path.clone(),
            token: self.token(),
            in_conflict: self.conflict_copy.is_some(),
        })
    }

    /// The attempt ended, however.
    pub(crate) fn end_upload(&mut self) {
        self.uploading = false;
    }

    /// `attempt` landed as `etag`, recording `mtime`. S3 now has its generation; later writes
    /// stay pending. Returns a key to delete: the attempt's, when the file was deleted or moved
    /// away from it meanwhile (what it sent must not stay under a name it no longer has).
    pub(crate) fn landed(&mut self, attempt: &Attempt, etag: &ETag, mtime: SystemTime) -> Option<String> {
        if self.deleted || self.key != attempt.key {
            return Some(attempt.key.clone());
        }
        if self.generation == attempt.generation {
            self.mtime = mtime;
        }
        self.synced = attempt.generation;
        self.expect = Expect::Match(etag.clone());
        self.remote_key = Some(attempt.key.clone());
        self.maybe_landed = false;
        None
    }

    /// An attempt failed in a way that may hide its landing (its answer lost).
    pub(crate) fn outcome_unknown(&mut self) {
        self.maybe_landed = true;
    }
}

/// A random, non-zero upload token.
pub(crate) fn fresh_token() -> u64 {
    use std::hash::BuildHasher;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    // `RandomState` is seeded from the OS's randomness; hashing the time keeps two tokens of
    // one thread apart.
    std::collections::hash_map::RandomState::new().hash_one(nanos).max(1)
}

mod journaling;
mod names;
#[cfg(test)]
mod tests;
