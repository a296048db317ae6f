//! The per-worker recorder: one latency histogram per phase plus counters.

use hdrhistogram::Histogram;

use super::{Counters, Phase};
use crate::time::Instant;

/// What one worker measures: a latency histogram per [`Phase`] and [`Counters`].
///
/// Each histogram records nanoseconds with 3 significant figures over
/// [`Recorder::LOWEST_NANOS`] ..= [`Recorder::HIGHEST_NANOS`] (1 ns .. 1 hour),
/// with auto-resize off: all memory (about 270 KiB per histogram, about 1.1 MiB
/// per recorder) is allocated by [`Recorder::new`], and [`Recorder::record`]
/// never allocates and never fails. Create one per worker before the run, merge
/// them at report time with [`Recorder::merge`] or [`Recorder::merged`].
#[derive(Clone, Debug)]
pub struct Recorder {
    hists: [Histogram<u64>; Phase::COUNT],
    /// The worker's event counters; the engine increments fields directly.
    pub counters: Counters,
}

impl Recorder {
    /// Lowest recordable latency, ns; smaller values are recorded as this.
    pub const LOWEST_NANOS: u64 = 1;
    /// Highest recordable latency, ns (one hour); larger values are recorded as this.
    pub const HIGHEST_NANOS: u64 = 3_600 * 1_000_000_000;
    /// Significant decimal figures kept by every histogram.
    pub const SIGFIG: u8 = 3;

    /// A recorder with empty histograms and zero counters. Allocates all the
    /// histogram memory it will ever use.
    pub fn new() -> Recorder {
        Recorder {
            hists: std::array::from_fn(|_| Self::new_histogram()),
            counters: Counters::default(),
        }
    }

    fn new_histogram() -> Histogram<u64> {
        let mut h =
            Histogram::new_with_bounds(Self::LOWEST_NANOS, Self::HIGHEST_NANOS, Self::SIGFIG)
                .expect("constant histogram bounds are valid");
        // Already off for new_with_bounds; said again because record() relies on it.
        h.auto(false);
        h
    }

    /// Records one latency sample of `phase`, in nanoseconds. Values outside
    /// 1 ns ..= 1 h are clamped into it. Never allocates, never fails.
    #[inline]
    pub fn record(&mut self, phase: Phase, nanos: u64) {
        let v = nanos.clamp(Self::LOWEST_NANOS, Self::HIGHEST_NANOS);
        self.hists[phase.index()].saturating_record(v);
    }

    /// Records `end - start` for `phase` (zero, hence 1 ns, if `end` is earlier).
    #[inline]
    pub fn record_between(&mut self, phase: Phase, start: Instant, end: Instant) {
        self.record(phase, end.nanos_since(start));
    }

    /// The histogram of `phase` (values in nanoseconds).
    pub fn histogram(&self, phase: Phase) -> &Histogram<u64> {
        &self.hists[phase.index()]
    }

    /// Adds everything `other` recorded into `self`: histograms exactly (same
    /// bucket layout, counts add), counters by [`Counters::merge`]. Does not
    /// allocate when `other` was made by [`Recorder::new`].
    pub fn merge(&mut self, other: &Recorder) {
        for (mine, theirs) in self.hists.iter_mut().zip(&other.hists) {
            if mine.add(theirs).is_err() {
                // Only reachable for a histogram of another layout (not one made
                // here): fall back to adding value by value, clamped into range.
                for v in theirs.iter_recorded() {
                    let value = v
                        .value_iterated_to()
                        .clamp(Self::LOWEST_NANOS, Self::HIGHEST_NANOS);
                    mine.saturating_record_n(value, v.count_at_value());
                }
            }
        }
        self.counters.merge(&other.counters);
    }

    /// A new recorder holding the merge of all `recorders` (e.g. every worker's).
    pub fn merged<'a>(recorders: impl IntoIterator<Item = &'a Recorder>) -> Recorder {
        let mut all = Recorder::new();
        for r in recorders {
            all.merge(r);
        }
        all
    }
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_have_the_promised_shape() {
        let r = Recorder::new();
        for p in Phase::ALL {
            let h = r.histogram(p);
            assert!(!h.is_auto_resize());
            assert_eq!(h.sigfig(), 3);
            assert_eq!(h.low(), 1);
            assert!(h.high() >= Recorder::HIGHEST_NANOS);
            assert!(h.is_empty());
        }
    }

    #[test]
    fn record_clamps_out_of_range_values() {
        let mut r = Recorder::new();
        r.record(Phase::Close, 0);
        r.record(Phase::Close, u64::MAX);
        let h = r.histogram(Phase::Close);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.equivalent(h.max(), Recorder::HIGHEST_NANOS));
        // other phases untouched
        assert!(r.histogram(Phase::Connect).is_empty());
    }

    #[test]
    fn record_between_uses_the_difference() {
        let mut r = Recorder::new();
        r.record_between(Phase::Ttfb, Instant(1_000), Instant(251_000));
        r.record_between(Phase::Ttfb, Instant(5), Instant(1)); // backwards: 1 ns
        let h = r.histogram(Phase::Ttfb);
        assert!(h.equivalent(h.max(), 250_000));
        assert_eq!(h.min(), 1);
    }

    #[test]
    fn merged_of_nothing_is_empty() {
        let r = Recorder::merged([]);
        assert!(Phase::ALL.iter().all(|&p| r.histogram(p).is_empty()));
        assert_eq!(r.counters, Counters::default());
    }
}
