//! The two vocabularies of a report: latency phases and failure causes.
//!
//! Their names ([`Phase::as_str`], [`FailCause::as_str`]) are JSON keys of the
//! machine-readable report; tools downstream rely on them, so they never change.

use std::fmt;

use serde::Serialize;

/// A latency phase of one connection; each has its own histogram per worker.
///
/// Every phase is measured in nanoseconds of the worker's clock. In open-loop mode
/// the start of [`Phase::Connect`] and [`Phase::Lifecycle`] is the connection's
/// *scheduled* start, not the moment the SYN left, so that a stalled DUT cannot
/// hide behind a generator that fell behind (coordinated omission).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// `connect`: SYN sent (or the scheduled start, open loop) → SYN-ACK received.
    Connect,
    /// `ttfb`: request sent → first response byte received.
    Ttfb,
    /// `close`: first FIN (ours or the peer's) → close handshake done.
    Close,
    /// `lifecycle`: start (as for `connect`) → connection finished.
    Lifecycle,
}

impl Phase {
    /// Number of phases.
    pub const COUNT: usize = 4;

    /// Every phase, in report order; `Phase::ALL[p.index()] == p`.
    pub const ALL: [Phase; Phase::COUNT] =
        [Phase::Connect, Phase::Ttfb, Phase::Close, Phase::Lifecycle];

    /// The stable name, used as a JSON key (`latency_us.<name>`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Ttfb => "ttfb",
            Phase::Close => "close",
            Phase::Lifecycle => "lifecycle",
        }
    }

    /// Position in [`Phase::ALL`] (and in per-phase arrays).
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a connection attempt failed. Every attempt ends completed, failed with
/// exactly one cause, or in flight when the run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailCause {
    /// `syn_timeout`: SYN retransmissions exhausted without a SYN-ACK.
    SynTimeout,
    /// `refused`: an RST answered our SYN.
    Refused,
    /// `reset_established`: RST after the handshake, before we started closing.
    ResetEstablished,
    /// `reset_closing`: RST during the close handshake.
    ResetClosing,
    /// `data_timeout`: request/response retransmissions exhausted.
    DataTimeout,
    /// `fin_timeout`: FIN retransmissions exhausted.
    FinTimeout,
    /// `short_response`: the peer closed before the expected response bytes arrived.
    ShortResponse,
    /// `no_tuple`: no source address/port tuple could be allocated.
    NoTuple,
    /// `table_full`: the connection table had no free slot.
    TableFull,
    /// `tx_failed`: no frame buffer to send the SYN.
    TxFailed,
}

impl FailCause {
    /// Number of causes.
    pub const COUNT: usize = 10;

    /// Every cause, in report order; `FailCause::ALL[c.index()] == c`.
    pub const ALL: [FailCause; FailCause::COUNT] = [
        FailCause::SynTimeout,
        FailCause::Refused,
        FailCause::ResetEstablished,
        FailCause::ResetClosing,
        FailCause::DataTimeout,
        FailCause::FinTimeout,
        FailCause::ShortResponse,
        FailCause::NoTuple,
        FailCause::TableFull,
        FailCause::TxFailed,
    ];

    /// The stable snake_case name, used as a JSON key (`connections.failed.<name>`).
    pub const fn as_str(self) -> &'static str {
        match self {
            FailCause::SynTimeout => "syn_timeout",
            FailCause::Refused => "refused",
            FailCause::ResetEstablished => "reset_established",
            FailCause::ResetClosing => "reset_closing",
            FailCause::DataTimeout => "data_timeout",
            FailCause::FinTimeout => "fin_timeout",
            FailCause::ShortResponse => "short_response",
            FailCause::NoTuple => "no_tuple",
            FailCause::TableFull => "table_full",
            FailCause::TxFailed => "tx_failed",
        }
    }

    /// Position in [`FailCause::ALL`] and in [`Counters::failed`](super::Counters::failed).
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for FailCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_all_is_indexed_and_named() {
        for (i, p) in Phase::ALL.iter().enumerate() {
            assert_eq!(p.index(), i);
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
            assert_eq!(p.to_string(), p.as_str());
        }
    }

    #[test]
    fn cause_all_is_indexed_and_named() {
        let mut names: Vec<&str> = FailCause::ALL.iter().map(|c| c.as_str()).collect();
        for (i, c) in FailCause::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FailCause::COUNT, "names are unique");
    }
}
