//! Plain event counters of one worker (or of several, merged).

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::FailCause;

/// Event counters of one worker; the engine increments fields directly.
///
/// All fields are plain `u64` so that counting is an add on memory the worker
/// owns. [`Counters::merge`] combines workers at report time. Serialized (for
/// the report's `server` object) with `failed` as an object keyed by
/// [`FailCause::as_str`], every cause present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Connection attempts started (each ends completed, failed, or in flight).
    pub attempted: u64,
    /// Connections that went through their whole lifecycle.
    pub completed: u64,
    /// Failed connections, indexed by [`FailCause::index`]; see [`Counters::fail`].
    #[serde(serialize_with = "serialize_failed")]
    pub failed: [u64; FailCause::COUNT],
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes transmitted (whole frames).
    pub tx_bytes: u64,
    /// Bytes received (whole frames).
    pub rx_bytes: u64,
    /// Segments retransmitted (SYN, FIN, request data).
    pub retransmitted: u64,
    /// Frames not sent for want of a transmit buffer.
    pub tx_dropped: u64,
    /// Frames received that did not parse or failed a checksum.
    pub rx_invalid: u64,
    /// Segments received for no known connection (or TIME-WAIT record).
    pub rx_no_conn: u64,
    /// RST segments sent.
    pub rst_sent: u64,
    /// RST segments received.
    pub rst_received: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Segments dropped by PAWS (RFC 7323).
    pub paws_rejected: u64,
    /// Connections that entered TIME-WAIT.
    pub tw_entered: u64,
    /// Highest number of TIME-WAIT records held at once. After [`Counters::merge`]
    /// this is the *sum* of the per-worker peaks: each worker peaks at its own
    /// moment, so the sum is an upper bound of the true global peak.
    pub tw_peak: u64,
    /// TIME-WAIT records held when the counters were read (merged: summed).
    pub tw_current: u64,
    /// Tuples reused while still in TIME-WAIT with no policy allowing it (policy
    /// `none`): each is a hazard, a chance for an old segment to be accepted.
    pub tw_hazard_reuses: u64,
    /// Tuples reused early but legally, under policy `reuse` (tcp_tw_reuse rules).
    pub tw_reused: u64,
    /// Connections that should have entered TIME-WAIT but found the cap reached.
    pub tw_overflow: u64,
    /// Retransmitted FINs answered (re-ACKed) from a TIME-WAIT record.
    pub tw_fin_reacked: u64,
    /// Open loop: scheduled connections that found the concurrency cap reached and
    /// waited for a connection to end (each counted once; it then started late, its
    /// latency still measured from its scheduled start). Not an outcome: these are
    /// also counted in `attempted` once they start.
    pub deferred_by_cap: u64,
}

fn serialize_failed<S: Serializer>(
    failed: &[u64; FailCause::COUNT],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(FailCause::COUNT))?;
    for cause in FailCause::ALL {
        map.serialize_entry(cause.as_str(), &failed[cause.index()])?;
    }
    map.end()
}

impl Counters {
    /// Counts one failed connection with its cause.
    #[inline]
    pub fn fail(&mut self, cause: FailCause) {
        self.failed[cause.index()] += 1;
    }

    /// Failed connections with this cause.
    #[inline]
    pub fn failed_by(&self, cause: FailCause) -> u64 {
        self.failed[cause.index()]
    }

    /// Failed connections, all causes together.
    pub fn failed_total(&self) -> u64 {
        self.failed.iter().fold(0u64, |a, &n| a.saturating_add(n))
    }

    /// Attempts that have neither completed nor failed:
    /// `attempted - completed - failed_total()`, saturating at zero (counters
    /// read mid-run from different moments may not add up exactly).
    pub fn in_flight(&self) -> u64 {
        self.attempted
            .saturating_sub(self.completed)
            .saturating_sub(self.failed_total())
    }

    /// Adds `other` into `self`, field by field (saturating).
    ///
    /// Every field is summed, `tw_peak` included: the merged peak is the sum of
    /// the per-worker peaks, an upper bound of the global peak (the workers did
    /// not peak at the same moment), and `tw_current` is the total held.
    pub fn merge(&mut self, other: &Counters) {
        // Destructure so that a field added later cannot be forgotten here.
        let Counters {
            attempted,
            completed,
            failed,
            tx_packets,
            rx_packets,
            tx_bytes,
            rx_bytes,
            retransmitted,
            tx_dropped,
            rx_invalid,
            rx_no_conn,
            rst_sent,
            rst_received,
            challenge_acks,
            paws_rejected,
            tw_entered,
            tw_peak,
            tw_current,
            tw_hazard_reuses,
            tw_reused,
            tw_overflow,
            tw_fin_reacked,
            deferred_by_cap,
        } = other;
        fn add(a: &mut u64, b: u64) {
            *a = a.saturating_add(b);
        }
        add(&mut self.attempted, *attempted);
        add(&mut self.completed, *completed);
        for (a, b) in self.failed.iter_mut().zip(failed) {
            add(a, *b);
        }
        add(&mut self.tx_packets, *tx_packets);
        add(&mut self.rx_packets, *rx_packets);
        add(&mut self.tx_bytes, *tx_bytes);
        add(&mut self.rx_bytes, *rx_bytes);
        add(&mut self.retransmitted, *retransmitted);
        add(&mut self.tx_dropped, *tx_dropped);
        add(&mut self.rx_invalid, *rx_invalid);
        add(&mut self.rx_no_conn, *rx_no_conn);
        add(&mut self.rst_sent, *rst_sent);
        add(&mut self.rst_received, *rst_received);
        add(&mut self.challenge_acks, *challenge_acks);
        add(&mut self.paws_rejected, *paws_rejected);
        add(&mut self.tw_entered, *tw_entered);
        add(&mut self.tw_peak, *tw_peak);
        add(&mut self.tw_current, *tw_current);
        add(&mut self.tw_hazard_reuses, *tw_hazard_reuses);
        add(&mut self.tw_reused, *tw_reused);
        add(&mut self.tw_overflow, *tw_overflow);
        add(&mut self.tw_fin_reacked, *tw_fin_reacked);
        add(&mut self.deferred_by_cap, *deferred_by_cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters with every field distinct and nonzero, derived from `base`.
    fn sample(base: u64) -> Counters {
        let mut c = Counters {
            attempted: base + 1000,
            completed: base + 100,
            failed: [0; FailCause::COUNT],
            tx_packets: base + 3,
            rx_packets: base + 4,
            tx_bytes: base + 5,
            rx_bytes: base + 6,
            retransmitted: base + 7,
            tx_dropped: base + 8,
            rx_invalid: base + 9,
            rx_no_conn: base + 10,
            rst_sent: base + 11,
            rst_received: base + 12,
            challenge_acks: base + 13,
            paws_rejected: base + 14,
            tw_entered: base + 15,
            tw_peak: base + 16,
            tw_current: base + 17,
            tw_hazard_reuses: base + 18,
            tw_reused: base + 19,
            tw_overflow: base + 20,
            tw_fin_reacked: base + 21,
            deferred_by_cap: base + 22,
        };
        for (i, f) in c.failed.iter_mut().enumerate() {
            *f = base + 30 + i as u64;
        }
        c
    }

    #[test]
    fn in_flight_is_what_is_left() {
        let mut c = Counters {
            attempted: 10,
            completed: 5,
            ..Counters::default()
        };
        c.fail(FailCause::Refused);
        c.fail(FailCause::SynTimeout);
        assert_eq!(c.failed_total(), 2);
        assert_eq!(c.failed_by(FailCause::Refused), 1);
        assert_eq!(c.in_flight(), 3);
        c.completed = 8;
        assert_eq!(c.in_flight(), 0);
        c.completed = 20; // inconsistent snapshot: saturates, never wraps
        assert_eq!(c.in_flight(), 0);
        assert_eq!(Counters::default().in_flight(), 0);
    }

    #[test]
    fn merge_sums_every_field_peak_included() {
        let (a, b) = (sample(0), sample(1_000_000));
        let mut m = a.clone();
        m.merge(&b);
        // Serialize to compare field by field without naming them again.
        let (ja, jb, jm) = (
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap(),
            serde_json::to_value(&m).unwrap(),
        );
        let obj = jm.as_object().unwrap();
        assert_eq!(obj.len(), 23);
        for (k, v) in obj {
            if k == "failed" {
                for cause in FailCause::ALL {
                    let n = cause.as_str();
                    let sum = ja[k][n].as_u64().unwrap() + jb[k][n].as_u64().unwrap();
                    assert_eq!(v[n].as_u64(), Some(sum), "failed.{n}");
                }
            } else {
                let sum = ja[k].as_u64().unwrap() + jb[k].as_u64().unwrap();
                assert_eq!(v.as_u64(), Some(sum), "{k}");
            }
        }
        assert_eq!(m.tw_peak, a.tw_peak + b.tw_peak);
    }

    #[test]
    fn merge_saturates() {
        let mut a = Counters {
            attempted: u64::MAX - 1,
            ..Counters::default()
        };
        a.merge(&Counters {
            attempted: 5,
            ..Counters::default()
        });
        assert_eq!(a.attempted, u64::MAX);
    }

    #[test]
    fn failed_serializes_as_object_of_every_cause() {
        let mut c = Counters::default();
        c.fail(FailCause::TxFailed);
        let j = serde_json::to_value(&c).unwrap();
        let failed = j["failed"].as_object().unwrap();
        assert_eq!(failed.len(), FailCause::COUNT);
        for cause in FailCause::ALL {
            let want = u64::from(cause == FailCause::TxFailed);
            assert_eq!(failed[cause.as_str()].as_u64(), Some(want));
        }
    }
}
