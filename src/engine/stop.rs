//! The graceful stop of a client worker, at the end of a run or on the first
//! Ctrl-C: stop opening; let open connections end their lifecycle for up to the
//! drain time; close those still open with FIN and give the close handshakes a
//! bounded time; reset only what is left then. So a normal stop leaves the DUT no
//! half-open connection, and RST is the last resort, not the way out.
//!
//! Outcomes decided after the drain ran out are not the DUT's normal behaviour: the
//! connections closed with FIN are counted in flight (as the reset ones always
//! were), whatever their close handshake did. Latency samples they recorded while
//! closing stay in the histograms: they are real measurements.

use std::time::Duration;

use super::client::ClientWorker;
use crate::io::Port;
use crate::stats::FailCause;
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopPhase {
    /// Opening connections.
    Running,
    /// Not opening; open connections end on their own until the instant.
    Draining(Instant),
    /// The open connections were closed with FIN; what is open at the instant is
    /// reset.
    Closing(Instant),
    /// Nothing open (or what was left was reset).
    Finished,
}

/// The stop sequence of one client worker. Call [`poll`](Self::poll) after each
/// step of the worker.
#[derive(Clone, Debug)]
pub struct GracefulStop {
    drain: Duration,
    close: Duration,
    phase: StopPhase,
    /// Connections closed with FIN when the drain time ran out.
    pub closed_with_fin: u64,
    /// Connections reset when the close time ran out too.
    pub reset: u64,
    /// Completed and failed counts when the drain ran out (restored at the end).
    at_close: Option<(u64, [u64; FailCause::COUNT])>,
}

impl GracefulStop {
    /// A stop that drains for `drain`, then closes with FIN and waits `close`.
    pub fn new(drain: Duration, close: Duration) -> GracefulStop {
        GracefulStop {
            drain,
            close,
            phase: StopPhase::Running,
            closed_with_fin: 0,
            reset: 0,
            at_close: None,
        }
    }

    /// Advance the stop after a step of `client` at `now`. `end_opening`: the
    /// run's time or count is spent, or a stop was asked for. Returns true once the
    /// worker has finished: nothing is open, or what was left has been reset.
    pub fn poll<P: Port>(
        &mut self,
        client: &mut ClientWorker,
        port: &mut P,
        now: Instant,
        end_opening: bool,
    ) -> bool {
        loop {
            match self.phase {
                StopPhase::Running => {
                    if !(end_opening || client.done()) {
                        return false;
                    }
                    client.stopping = true;
                    self.phase = StopPhase::Draining(now + self.drain);
                }
                StopPhase::Draining(until) => {
                    if client.core.open() == 0 {
                        self.phase = StopPhase::Finished;
                    } else if now >= until {
                        let c = &client.recorder().counters;
                        self.at_close = Some((c.completed, c.failed));
                        self.closed_with_fin = client.close_open(port, now);
                        self.phase = StopPhase::Closing(now + self.close);
                    } else {
                        return false;
                    }
                }
                StopPhase::Closing(until) => {
                    if client.core.open() == 0 {
                        self.finish(client);
                    } else if now >= until {
                        self.reset = client.abort_open(port, now);
                        self.finish(client);
                    } else {
                        return false;
                    }
                }
                StopPhase::Finished => return true,
            }
        }
    }

    /// Count every connection closed after the drain as in flight.
    fn finish(&mut self, client: &mut ClientWorker) {
        if let Some((completed, failed)) = self.at_close.take() {
            let c = &mut client.out.rec.counters;
            c.completed = completed;
            c.failed = failed;
        }
        self.phase = StopPhase::Finished;
    }

    /// When the stop next needs a poll (end of the drain or of the close time),
    /// for a virtual clock.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            StopPhase::Draining(t) | StopPhase::Closing(t) => Some(t),
            StopPhase::Running | StopPhase::Finished => None,
        }
    }

    /// Opening has stopped.
    pub fn stopping(&self) -> bool {
        self.phase != StopPhase::Running
    }

    /// The stop is over.
    pub fn finished(&self) -> bool {
        self.phase == StopPhase::Finished
    }
}
