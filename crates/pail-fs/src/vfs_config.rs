//! [`VfsConfig`]: the settings of one drive.

use std::time::Duration;

use crate::blocks::DiskCacheConfig;
use crate::names::NameEncoding;
use crate::seal::CacheKey;
use crate::writeback_config::WritebackConfig;

const MIB: u64 = 1 << 20;

/// Settings of one drive.
#[derive(Debug, Clone)]
pub struct VfsConfig {
    /// Key prefix the drive shows as its root: empty, or ending with `/`.
    pub prefix: String,
    /// Refuse every change.
    pub read_only: bool,
    /// How long metadata and listings are trusted.
    pub metadata_ttl: Duration,
    /// Size of cached blocks.
    pub block_size: u64,
    /// Largest single ranged GET issued while prefetching.
    pub part_size: u64,
    /// First prefetch window of a sequential reader.
    pub initial_window: u64,
    /// Largest prefetch window.
    pub max_window: u64,
    /// Bound of the memory block cache.
    pub memory_cache_bytes: u64,
    /// Optional disk block cache.
    pub disk_cache: Option<DiskCacheConfig>,
    /// Bound of concurrent GETs.
    pub max_concurrent_gets: usize,
    /// How names are shown.
    pub names: NameEncoding,
    /// A lookup that asks S3 reads this many first bytes (0: a plain HEAD); objects no larger
    /// are then cached whole, so reading a small file right after costs no request.
    pub lookup_read_bytes: u64,
    /// Write-back (staging, journal, uploads); `None` makes every change fail with `ReadOnly`.
    pub writeback: Option<WritebackConfig>,
    /// The key that encrypts what the cache keeps of files' content (staging files, journal
    /// records, cached blocks); `None` keeps it in the clear (a cache encrypted earlier is then
    /// refused). The binaries keep one key per cache directory in the OS secret store.
    pub cache_key: Option<CacheKey>,
}

impl Default for VfsConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            read_only: false,
            metadata_ttl: Duration::from_secs(5),
            block_size: MIB,
            part_size: 8 * MIB,
            initial_window: 8 * MIB,
            max_window: 72 * MIB,
            memory_cache_bytes: 144 * MIB,
            disk_cache: None,
            max_concurrent_gets: 16,
            names: NameEncoding::Identity,
            lookup_read_bytes: 256 * 1024,
            writeback: None,
            cache_key: None,
        }
    }
}
