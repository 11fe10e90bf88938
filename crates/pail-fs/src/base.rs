//! [`Base`]: the remote version a file being written starts from, and which of its blocks
//! the staging file holds already (the rest is fetched only when touched or uploaded).

use std::ops::Range;

use pail_store::ETag;

use crate::journal::BaseRecord;

/// The remote version whose bytes the staging file starts from.
#[derive(Debug)]
pub(crate) struct Base {
    pub(crate) key: String,
    pub(crate) etag: ETag,
    /// The object's size, when known (see `BaseRecord::size`).
    pub(crate) size: Option<u64>,
    /// Bytes `0..limit` of the file come from the base unless overwritten.
    pub(crate) limit: u64,
    /// Per block of `0..limit`: copied into the staging file (or overwritten) already.
    pub(crate) present: Vec<bool>,
}

impl Base {
    pub(crate) fn new(key: String, etag: ETag, size: u64, block_size: u64) -> Self {
        Self {
            key,
            etag,
            size: Some(size),
            limit: size,
            present: vec![false; size.div_ceil(block_size) as usize],
        }
    }

    /// Runs of missing blocks within `blocks`.
    pub(crate) fn missing(&self, blocks: Range<u64>) -> Vec<Range<u64>> {
        let mut runs: Vec<Range<u64>> = Vec::new();
        let end = blocks.end.min(self.present.len() as u64);
        for b in blocks.start..end {
            if self.present[b as usize] {
                continue;
            }
            match runs.last_mut() {
                Some(r) if r.end == b => r.end = b + 1,
                _ => runs.push(b..b + 1),
            }
        }
        runs
    }

    pub(crate) fn record(&self) -> BaseRecord {
        BaseRecord {
            key: self.key.clone(),
            etag: self.etag.as_str().to_owned(),
            limit: self.limit,
            size: self.size,
            missing: self
                .missing(0..self.present.len() as u64)
                .into_iter()
                .map(|r| (r.start, r.end))
                .collect(),
        }
    }

    pub(crate) fn from_record(r: &BaseRecord, block_size: u64) -> Self {
        let mut base = Self::new(r.key.clone(), ETag::new(&r.etag), r.limit, block_size);
        base.size = r.size;
        base.present.iter_mut().for_each(|p| *p = true);
        for &(a, b) in &r.missing {
            for i in a..b.min(base.present.len() as u64) {
                base.present[i as usize] = false;
            }
        }
        base
    }
}
