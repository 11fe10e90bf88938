//! A count tests wait on without sleeping: requests a fault rule applied or held, each
//! signalled as it comes.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A shared count with a signal per increment; clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally(Arc<(Mutex<u32>, Condvar)>);

impl Tally {
    /// Counts one more.
    pub(crate) fn note(&self) {
        let (count, signal) = &*self.0;
        *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        signal.notify_all();
    }

    /// Waits until the count is at least `n`, for at most `limit`; whether it is.
    pub(crate) fn wait_for(&self, n: u32, limit: Duration) -> bool {
        let (count, signal) = &*self.0;
        let count = count.lock().unwrap_or_else(|e| e.into_inner());
        let (count, _) = signal
            .wait_timeout_while(count, limit, |c| *c < n)
            .unwrap_or_else(|e| e.into_inner());
        *count >= n
    }
}
