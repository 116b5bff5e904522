//! A doorbell in shared memory: one process sleeps until another rings
//! (or a timeout), without a lock — how the timer process idles until a
//! worker arms the first timer.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::futex;

/// A counter that sleepers wait on and ringers bump. All-zero bytes are a
/// valid doorbell, so zeroed shm needs no initialisation.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Doorbell {
    word: AtomicU32,
}

impl Doorbell {
    /// A doorbell nobody rang yet.
    pub const fn new() -> Self {
        Doorbell { word: AtomicU32::new(0) }
    }

    /// What a sleeper passes to [`Doorbell::wait`]: take it *before*
    /// checking whether there is work, so that a ring in between is not
    /// missed.
    pub fn ticket(&self) -> u32 {
        self.word.load(Ordering::Acquire)
    }

    /// Sleeps until the bell rings after `ticket` was taken, at most
    /// `timeout` (returns at once when it already has).
    pub fn wait(&self, ticket: u32, timeout: Duration) {
        if self.word.load(Ordering::Acquire) == ticket {
            let _ = futex::wait(&self.word, ticket, timeout);
        }
    }

    /// Wakes every sleeper.
    pub fn ring(&self) {
        self.word.fetch_add(1, Ordering::Release);
        futex::wake(&self.word, i32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_ring_after_the_ticket_is_not_missed() {
        let b = Doorbell::new();
        let t = b.ticket();
        b.ring();
        let start = Instant::now();
        b.wait(t, Duration::from_secs(5));
        assert!(start.elapsed() < Duration::from_secs(1));
        // no ring: the timeout
        let t = b.ticket();
        let start = Instant::now();
        b.wait(t, Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(25));
    }
}
