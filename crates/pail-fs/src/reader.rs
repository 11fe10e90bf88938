//! Per-handle read state: sequential-read detection and the prefetch window.
//!
//! A reader is sequential while each read starts where the previous one ended (with slack for
//! the kernel's parallel read-ahead, whose requests may arrive slightly out of order). While it
//! stays sequential the window of blocks fetched ahead doubles from `initial` up to `max`, and
//! it is topped up as soon as the reader has consumed one GET's worth (`step`), so about a
//! whole window is always in flight: over a network each GET waits a round trip, and
//! throughput is what is in flight divided by it. A random read resets the window, and random
//! readers fetch only the blocks they touch.

/// Prefetch window bounds, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowConfig {
    pub initial: u64,
    pub max: u64,
    pub block_size: u64,
    /// Bytes of one ranged GET ahead: the window is topped up once this much is missing.
    pub step: u64,
}

/// What a read should prefetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Blocks to start fetching ahead of the reader (may be empty).
    pub prefetch: std::ops::Range<u64>,
    /// The read is not where the previous one ended: a random reader, for which a whole block
    /// would mostly be bytes nobody reads (`Vfs::read` then fetches only what it needs).
    pub random: bool,
}

/// Read-pattern tracking for one open file.
#[derive(Debug)]
pub(crate) struct ReadState {
    cfg: WindowConfig,
    next_offset: u64,
    window: u64,
    /// Blocks below this index were already requested ahead.
    prefetched_to: u64,
}

impl ReadState {
    pub(crate) fn new(cfg: WindowConfig) -> Self {
        Self {
            cfg,
            next_offset: 0,
            window: cfg.initial,
            prefetched_to: 0,
        }
    }

    fn is_sequential(&self, offset: u64) -> bool {
        let slack = self.window.max(self.cfg.block_size);
        offset <= self.next_offset + self.cfg.block_size && offset + slack >= self.next_offset
    }

    /// Records a read of `len` bytes at `offset` and says what to fetch ahead.
    pub(crate) fn on_read(&mut self, offset: u64, len: u64) -> Plan {
        let bs = self.cfg.block_size;
        let end = offset + len;
        let sequential = self.is_sequential(offset);
        self.next_offset = self.next_offset.max(end);
        if !sequential {
            self.window = self.cfg.initial;
            self.next_offset = end;
            self.prefetched_to = 0;
            return Plan {
                prefetch: 0..0,
                random: true,
            };
        }
        let current = offset / bs;
        let window_blocks = self.window.div_ceil(bs).max(1);
        // Top up once the reader has consumed a GET's worth of what was requested ahead (or,
        // while the window is smaller than that, half of it).
        let step = self.cfg.step.div_ceil(bs).clamp(1, window_blocks.div_ceil(2).max(1));
        if self.prefetched_to + step <= current + window_blocks {
            let from = self.prefetched_to.max(current);
            let to = current + window_blocks;
            self.prefetched_to = to;
            self.window = (self.window * 2).min(self.cfg.max);
            return Plan {
                prefetch: from..to,
                random: false,
            };
        }
        Plan {
            prefetch: 0..0,
            random: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn cfg() -> WindowConfig {
        WindowConfig {
            initial: 8 * MIB,
            max: 64 * MIB,
            block_size: MIB,
            step: 8 * MIB,
        }
    }

    #[test]
    fn sequential_reader_gets_a_growing_window() {
        let mut s = ReadState::new(cfg());
        let first = s.on_read(0, 128 * 1024);
        assert_eq!(first.prefetch, 0..8);
        let mut widest = 0;
        let mut offset = 128 * 1024;
        while offset < 512 * MIB {
            let p = s.on_read(offset, 128 * 1024);
            widest = widest.max(p.prefetch.end.saturating_sub(offset / MIB));
            offset += 128 * 1024;
        }
        assert_eq!(widest, 64, "window grows to the maximum");
    }

    #[test]
    fn a_full_window_stays_in_flight_topped_up_a_get_at_a_time() {
        let mut s = ReadState::new(cfg());
        let mut offset = 0;
        let mut requested_to = 0;
        while offset < 512 * MIB {
            let p = s.on_read(offset, 128 * 1024);
            if !p.prefetch.is_empty() {
                assert_eq!(p.prefetch.start, requested_to, "contiguous");
                requested_to = p.prefetch.end;
            }
            if offset >= 128 * MIB {
                let ahead = requested_to - offset / MIB;
                assert!(ahead > 64 - 8, "at {offset}: only {ahead} MiB ahead");
                if !p.prefetch.is_empty() {
                    assert!(p.prefetch.end - p.prefetch.start >= 8, "a GET's worth at a time");
                }
            }
            offset += 128 * 1024;
        }
    }

    #[test]
    fn random_reader_prefetches_nothing() {
        let mut s = ReadState::new(cfg());
        s.on_read(0, 4096);
        assert!(!s.on_read(4096, 4096).random, "a read where the last one ended");
        for off in [900 * MIB, 3 * MIB, 500 * MIB, 70 * MIB] {
            let plan = s.on_read(off, 4096);
            assert_eq!(plan.prefetch, 0..0);
            assert!(plan.random);
        }
    }

    #[test]
    fn slightly_out_of_order_reads_stay_sequential() {
        let mut s = ReadState::new(cfg());
        s.on_read(0, 128 * 1024);
        s.on_read(256 * 1024, 128 * 1024);
        assert!(s.is_sequential(128 * 1024));
    }
}
