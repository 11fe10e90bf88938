//! Where the parts of a multipart upload lie: one formula for every upload the write path
//! makes (a file sent whole after close, a large edited file whose untouched parts are copied
//! server-side, a file's eager parts sent while it is written), so a part sent eagerly is the
//! same part the upload after close would send, and a part copied server-side covers whole
//! blocks of the file.

use std::ops::Range;

use pail_store::TransferConfig;

/// S3's smallest part (except the last).
const MIN_PART: u64 = 5 << 20;

/// A multipart upload begun and journaled.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    pub(crate) key: String,
    pub(crate) upload_id: String,
    /// Journal id of its `Parts` record.
    pub(crate) record: u64,
}

/// Parts per size tier of a [`Layout`].
const TIER: u64 = 1_000;
/// S3's part-count limit.
pub(crate) const MAX_PARTS: u64 = 10_000;

/// Where the parts of an eager upload lie. Its size is not known while it is written, so the
/// parts grow: 1,000 parts of `base` bytes, then 1,000 of twice that, and so on. A file of up
/// to 1,000 parts keeps the drive's part size, and 10,000 parts of the default 8 MiB base reach
/// past S3's 5 TiB object limit with no part over its 5 GiB limit (S3 takes parts of different
/// sizes; only the last may be under 5 MiB). A file past 10,000 parts is sent whole instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    base: u64,
}

impl Layout {
    /// The layout of a file whose size is not known yet: parts of the drive's part size (at
    /// least one PUT's worth, so a file with a part sent is a multipart upload, and at least
    /// S3's 5 MiB).
    pub(crate) fn growing(transfer: &TransferConfig) -> Self {
        Self {
            base: transfer.part_size.max(transfer.single_put_max).max(MIN_PART),
        }
    }

    /// The layout of a file of `size` bytes: [`growing`](Self::growing), its base doubled
    /// while `size` would take more than S3's 10,000 parts (only files of terabytes).
    pub(crate) fn for_size(transfer: &TransferConfig, size: u64) -> Self {
        let mut l = Self::growing(transfer);
        while l.count(size) > MAX_PARTS && l.base < (5 << 30) {
            l.base *= 2;
        }
        l
    }

    /// Whether every part starts and ends on a multiple of `block` (but the last).
    pub(crate) fn aligned_to(&self, block: u64) -> bool {
        block > 0 && self.base.is_multiple_of(block)
    }

    /// The bytes of part `i` (0-based) of a file of `size` bytes.
    pub(crate) fn range_in(&self, i: u64, size: u64) -> Range<u64> {
        let r = self.range(i);
        r.start.min(size)..r.end.min(size)
    }

    fn tier_start(&self, tier: u64) -> u64 {
        let parts_before = TIER.saturating_mul(1u64.checked_shl(tier as u32).unwrap_or(u64::MAX).saturating_sub(1));
        self.base.saturating_mul(parts_before)
    }

    /// The bytes of part `i` (0-based).
    pub(crate) fn range(&self, i: u64) -> Range<u64> {
        let tier = i / TIER;
        let size = self.base.saturating_mul(1 << tier.min(40));
        let start = self.tier_start(tier).saturating_add((i % TIER).saturating_mul(size));
        start..start.saturating_add(size)
    }

    /// The part holding byte `offset`.
    pub(crate) fn part_of(&self, offset: u64) -> u64 {
        let mut tier = 0;
        while tier < 40 && offset >= self.tier_start(tier + 1) {
            tier += 1;
        }
        tier * TIER + (offset - self.tier_start(tier)) / self.base.saturating_mul(1 << tier)
    }

    /// How many parts a file of `size` bytes has.
    pub(crate) fn count(&self, size: u64) -> u64 {
        if size == 0 { 0 } else { self.part_of(size - 1) + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_by_tiers_and_reach_s3s_object_limit_within_its_part_limits() {
        let l = Layout { base: 5 << 20 };
        assert_eq!(l.range(0), 0..5 << 20);
        assert_eq!(l.range(999).end, 1000 * (5 << 20));
        assert_eq!(l.range(1000), 1000 * (5 << 20)..1000 * (5 << 20) + (10 << 20));
        for i in [0, 1, 998, 999, 1000, 1001, 4321, 9_999] {
            let r = l.range(i);
            assert_eq!(
                r.start,
                if i == 0 { 0 } else { l.range(i - 1).end },
                "contiguous at {i}"
            );
            assert_eq!((l.part_of(r.start), l.part_of(r.end - 1)), (i, i), "part {i}");
            assert!(r.end - r.start <= 5 << 30, "part {i} within S3's 5 GiB");
        }
        let default = Layout { base: 8 << 20 };
        assert!(default.range(MAX_PARTS - 1).end >= 5 << 40, "10,000 parts hold 5 TiB");
        assert!(default.range(MAX_PARTS - 1).end - default.range(MAX_PARTS - 1).start <= 5 << 30);
        assert_eq!(l.count(0), 0);
        assert_eq!(l.count(1), 1);
        assert_eq!(l.count(5 << 20), 1);
        assert_eq!(l.count((5 << 20) + 1), 2);
        assert!(l.part_of(u64::MAX) >= MAX_PARTS, "no overflow at the end of the range");
    }
}

#[cfg(test)]
mod sizes {
    use super::*;

    #[test]
    fn every_size_s3_holds_fits_in_its_parts_and_small_ones_keep_the_drive_part_size() {
        let t = TransferConfig::default();
        assert_eq!(Layout::for_size(&t, 1 << 30), Layout::growing(&t));
        assert_eq!(Layout::for_size(&t, 1 << 30).range(0), 0..8 << 20);
        let small = TransferConfig {
            part_size: 5 << 20,
            single_put_max: 5 << 20,
            ..TransferConfig::default()
        };
        for size in [5u64 << 40, (5u64 << 40) - 1, 4 << 40] {
            let l = Layout::for_size(&small, size);
            assert!(l.count(size) <= MAX_PARTS, "{size} in {} parts", l.count(size));
            assert!(l.aligned_to(1 << 20));
        }
        assert_eq!(Layout::growing(&t).range_in(1, 10 << 20), 8 << 20..10 << 20);
    }
}
