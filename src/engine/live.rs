//! Counters a run publishes while it runs, for an observer on another thread (the
//! TIME-WAIT matrix samples them each second to draw rate and TIME-WAIT over time).
//!
//! Each worker owns one [`LiveSlot`] and stores its running totals into it from
//! time to time (relaxed stores, no lock); a reader sums the slots. Nothing here is
//! on the per-packet path: a worker publishes at most every few milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::stats::Counters;

/// One worker's published totals.
#[derive(Debug, Default)]
pub struct LiveSlot {
    attempted: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    tw_current: AtomicU64,
    tw_hazard_reuses: AtomicU64,
    tw_reused: AtomicU64,
}

/// The sum of every slot at one moment (each slot read separately: a reader may see
/// one worker a little older than another).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveSnapshot {
    /// Attempts started.
    pub attempted: u64,
    /// Connections completed.
    pub completed: u64,
    /// Connections failed, all causes.
    pub failed: u64,
    /// TIME-WAIT records held now.
    pub tw_current: u64,
    /// Premature reuses (policy `none`).
    pub tw_hazard_reuses: u64,
    /// Legal early reuses (policy `reuse`).
    pub tw_reused: u64,
}

/// Running totals of a run's workers, published while it runs.
#[derive(Debug)]
pub struct LiveCounters {
    slots: Box<[LiveSlot]>,
}

impl LiveCounters {
    /// Room for `workers` workers (at least one).
    pub fn new(workers: usize) -> Arc<LiveCounters> {
        Arc::new(LiveCounters {
            slots: (0..workers.max(1)).map(|_| LiveSlot::default()).collect(),
        })
    }

    /// Worker `w` publishes its totals (a worker beyond the slots is ignored).
    pub fn publish(&self, w: usize, c: &Counters) {
        let Some(s) = self.slots.get(w) else { return };
        s.attempted.store(c.attempted, Ordering::Relaxed);
        s.completed.store(c.completed, Ordering::Relaxed);
        s.failed.store(c.failed_total(), Ordering::Relaxed);
        s.tw_current.store(c.tw_current, Ordering::Relaxed);
        s.tw_hazard_reuses
            .store(c.tw_hazard_reuses, Ordering::Relaxed);
        s.tw_reused.store(c.tw_reused, Ordering::Relaxed);
    }

    /// The totals of all workers now.
    pub fn read(&self) -> LiveSnapshot {
        let mut t = LiveSnapshot::default();
        for s in self.slots.iter() {
            t.attempted += s.attempted.load(Ordering::Relaxed);
            t.completed += s.completed.load(Ordering::Relaxed);
            t.failed += s.failed.load(Ordering::Relaxed);
            t.tw_current += s.tw_current.load(Ordering::Relaxed);
            t.tw_hazard_reuses += s.tw_hazard_reuses.load(Ordering::Relaxed);
            t.tw_reused += s.tw_reused.load(Ordering::Relaxed);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_summed_and_extra_workers_ignored() {
        let live = LiveCounters::new(2);
        let mut c = Counters {
            attempted: 10,
            completed: 7,
            tw_current: 5,
            ..Counters::default()
        };
        c.fail(crate::stats::FailCause::SynTimeout);
        live.publish(0, &c);
        live.publish(1, &c);
        live.publish(2, &c);
        let s = live.read();
        assert_eq!(
            (s.attempted, s.completed, s.failed, s.tw_current),
            (20, 14, 2, 10)
        );
    }
}
