//! Requests held back: those of one kind wait, before they are applied, until the test lets
//! them go. A test uses it to look at a client while its requests are in flight (a folder
//! move half done, an upload not yet answered) without sleeping.

use std::sync::Arc;
use std::time::Duration;

use crate::S3Op;
use crate::tally::Tally;

/// A hold on the requests of one kind; [`release`](Held::release) lets them (and all later
/// ones) through.
#[derive(Debug, Clone)]
pub struct Held {
    op: S3Op,
    open: Arc<tokio::sync::watch::Sender<bool>>,
    /// Requests that arrived at the hold.
    arrived: Tally,
}

impl Held {
    pub(crate) fn new(op: S3Op) -> Self {
        Self {
            op,
            open: Arc::new(tokio::sync::watch::channel(false).0),
            arrived: Tally::default(),
        }
    }

    /// Lets every held request, and every later one, through.
    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Waits until `n` requests arrived at the hold, for at most `limit`; whether they did.
    pub fn wait_arrived(&self, n: u32, limit: Duration) -> bool {
        self.arrived.wait_for(n, limit)
    }

    /// Waits, if `op` is held, until released.
    pub(crate) async fn pass(holds: &[Held], op: S3Op) {
        for h in holds.iter().filter(|h| h.op == op) {
            h.arrived.note();
            let mut open = h.open.subscribe();
            let _ = open.wait_for(|o| *o).await;
        }
    }
}
