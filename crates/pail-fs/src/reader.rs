//! Per-handle read state: sequential-read detection and the prefetch window.
//!
//! A reader is sequential while each read starts where the previous one ended (with slack for
//! the kernel's parallel read-ahead, whose requests may arrive slightly out of order). While it
//! stays sequential the window of blocks fetched ahead doubles from `initial` up to `max`; a
//! random read resets it, and random readers fetch only the blocks they touch.

/// Prefetch window bounds, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowConfig {
    pub initial: u64,
    pub max: u64,
    pub block_size: u64,
}

/// What a read should prefetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Blocks to start fetching ahead of the reader (may be empty).
    pub prefetch: std::ops::Range<u64>,
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
            return Plan { prefetch: 0..0 };
        }
        let current = offset / bs;
        let window_blocks = self.window.div_ceil(bs).max(1);
        // Refill once the reader has consumed half of what was requested ahead.
        if self.prefetched_to <= current + window_blocks / 2 {
            let from = self.prefetched_to.max(current);
            let to = current + window_blocks;
            self.prefetched_to = to;
            self.window = (self.window * 2).min(self.cfg.max);
            return Plan { prefetch: from..to };
        }
        Plan { prefetch: 0..0 }
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
    fn random_reader_prefetches_nothing() {
        let mut s = ReadState::new(cfg());
        s.on_read(0, 4096);
        for off in [900 * MIB, 3 * MIB, 500 * MIB, 70 * MIB] {
            assert_eq!(s.on_read(off, 4096).prefetch, 0..0);
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
