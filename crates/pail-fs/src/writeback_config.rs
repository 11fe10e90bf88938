//! [`WritebackConfig`]: the settings of a drive's write-back.

use std::time::Duration;

use pail_store::TransferConfig;

/// Settings of write-back.
#[derive(Debug, Clone)]
pub struct WritebackConfig {
    /// The cache directory holding `staging/` and `journal/`.
    pub cache_dir: std::path::PathBuf,
    /// Bound of the staging area in bytes.
    pub staging_bytes: u64,
    /// How long after the last close a file waits before it is uploaded.
    pub delay: Duration,
    /// Files being uploaded at once. Small files cost one round trip each, so many are in
    /// flight; what they hold in memory is bounded by `transfer_memory`, not by this count.
    pub concurrent_uploads: usize,
    /// Bound of the file content all uploads hold in memory at once (PUT bodies and parts,
    /// eager or not): one budget for the drive, which the uploads wait for.
    pub transfer_memory: u64,
    /// Multipart sizes and parallelism.
    pub transfer: TransferConfig,
    /// Longest wait between retries of a failing upload.
    pub max_backoff: Duration,
    /// The machine's name, used in conflict copies.
    pub host_name: String,
    /// How long a folder rename waits for its keys to move before it answers and lets the
    /// move go on in the background (`moves`): a small folder is moved when the rename
    /// returns, a large one does not hold the caller for minutes.
    pub move_grace: Duration,
}

impl WritebackConfig {
    /// Defaults for a drive caching under `cache_dir`.
    pub fn new(cache_dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            staging_bytes: 10 << 30,
            delay: Duration::from_secs(1),
            concurrent_uploads: 32,
            transfer_memory: 64 << 20,
            transfer: TransferConfig::default(),
            max_backoff: Duration::from_secs(30),
            host_name: host_name(),
            move_grace: Duration::from_secs(2),
        }
    }
}

/// This machine's name (for conflict copies).
pub fn host_name() -> String {
    std::env::var("COMPUTERNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "pail".to_owned())
}
