//! The per-worker recorder: one latency histogram per phase plus counters.

use hdrhistogram::Histogram;

use super::{Counters, Phase};
use crate::time::Instant;

/// What one worker measures: a latency histogram per [`Phase`] and [`Counters`].
///
/// Each histogram records nanoseconds with 3 significant figures over
/// [`Recorder::LOWEST_NANOS`] ..= [`Recorder::HIGHEST_NANOS`] (1 ns .. 1 hour),
/// and is read as an HdrHistogram ([`Recorder::histogram`], built on each call). All the memory
/// recording needs (about 270 KiB per phase) is allocated by [`Recorder::new`], and
/// [`Recorder::record`] never allocates and never fails. Create one per worker
/// before the run, merge them at report time with [`Recorder::merge`] or
/// [`Recorder::merged`].
///
/// Recording is on the per-connection path (four samples a connection), so it does
/// not go through HdrHistogram's general `record` (bucket geometry read from the
/// histogram, auto-resize checks): samples are counted in `Buckets`, an array laid
/// out exactly as the HdrHistogram's counts are for these bounds, and the
/// HdrHistogram is built from it when read. No view is cached: a cache would have
/// to be invalidated by every sample (a test on each record, the hot path), and
/// reading is rare (reports, at the end or once a sweep step). Counts, totals, minimum and maximum are those the HdrHistogram
/// would have had; the tests check that the two agree value for value.
#[derive(Clone, Debug)]
pub struct Recorder {
    buckets: [Buckets; Phase::COUNT],
    /// The worker's event counters; the engine increments fields directly.
    pub counters: Counters,
}

/// Sub-buckets per power of two above the linear range: 3 significant decimal figures
/// need 2 × 10³ distinguishable values per doubling, rounded up to a power of two
/// (2048), half of which are new in each doubling.
const SUB_BUCKETS_LOG2: u32 = 10;
/// Values below this are counted exactly (one bucket per nanosecond).
const LINEAR: u64 = 2 << SUB_BUCKETS_LOG2;

/// One phase's sample counts, in HdrHistogram's layout for 1 ns ..= 1 h at 3
/// significant figures: value `v < 2048` in bucket `v`; above, `v` in
/// `[2^k, 2^(k+1))` (k ≥ 11) is counted with a resolution of `2^(k-10)` in bucket
/// `(k-10) · 1024 + (v >> (k-10))`. Every bucket holds the values one HdrHistogram
/// count stands for.
#[derive(Clone, Debug)]
struct Buckets {
    counts: Vec<u64>,
    total: u64,
    /// Smallest non-zero value recorded (`u64::MAX` when none).
    min_nz: u64,
    /// Largest value recorded (0 when none).
    max: u64,
}

impl Buckets {
    fn new() -> Buckets {
        Buckets {
            counts: vec![0; Self::index(Recorder::HIGHEST_NANOS) + 1],
            total: 0,
            min_nz: u64::MAX,
            max: 0,
        }
    }

    /// The bucket of `v`.
    #[inline(always)]
    fn index(v: u64) -> usize {
        if v < LINEAR {
            return v as usize;
        }
        // v >= 2048: k = floor(log2 v) >= 11.
        let shift = (63 - v.leading_zeros()) - SUB_BUCKETS_LOG2;
        ((shift as u64) << SUB_BUCKETS_LOG2) as usize + (v >> shift) as usize
    }

    /// The lowest value counted in bucket `i`.
    fn lowest_of(i: usize) -> u64 {
        let i = i as u64;
        if i < LINEAR {
            return i;
        }
        let shift = (i >> SUB_BUCKETS_LOG2) - 1;
        (i - (shift << SUB_BUCKETS_LOG2)) << shift
    }

    /// Count one sample `v`, which is within the bounds (so at least 1).
    #[inline(always)]
    fn record(&mut self, v: u64) {
        debug_assert!(v >= Recorder::LOWEST_NANOS);
        // `v` is within the bounds, so the index is within the array (the check
        // stays: it is one compare, and safety does not rest on the clamp).
        // One at a time, a u64 count cannot reach 2^64 (centuries at 10^9/s), so
        // the increments need not saturate as `record_n`'s do.
        let c = &mut self.counts[Self::index(v)];
        *c = c.wrapping_add(1);
        self.total = self.total.wrapping_add(1);
        // Stored only when they move (a compare each, where max()/min() stored
        // both every time).
        if v > self.max {
            self.max = v;
        }
        if v < self.min_nz {
            self.min_nz = v;
        }
    }

    fn record_n(&mut self, v: u64, n: u64) {
        let c = &mut self.counts[Self::index(v)];
        *c = c.saturating_add(n);
        self.total = self.total.saturating_add(n);
        self.max = self.max.max(v);
        if v != 0 {
            self.min_nz = self.min_nz.min(v);
        }
    }

    fn merge(&mut self, other: &Buckets) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
        self.total = self.total.saturating_add(other.total);
        self.max = self.max.max(other.max);
        self.min_nz = self.min_nz.min(other.min_nz);
    }

    /// The HdrHistogram of these counts. Each bucket is recorded at its lowest
    /// value, except that the extreme samples are recorded as themselves, so that
    /// the histogram's own minimum and maximum are exactly those recorded.
    fn to_histogram(&self) -> Histogram<u64> {
        let mut h = Recorder::new_histogram();
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let mut n = n;
            let low = Self::lowest_of(i);
            let mut exact = |v: u64, h: &mut Histogram<u64>| {
                if n > 0 && Self::index(v) == i {
                    h.saturating_record(v);
                    n -= 1;
                }
            };
            if self.min_nz != self.max {
                exact(self.min_nz, &mut h);
            }
            exact(self.max, &mut h);
            if n > 0 {
                h.saturating_record_n(low, n);
            }
        }
        h
    }
}

impl Recorder {
    /// Lowest recordable latency, ns; smaller values are recorded as this.
    pub const LOWEST_NANOS: u64 = 1;
    /// Highest recordable latency, ns (one hour); larger values are recorded as this.
    pub const HIGHEST_NANOS: u64 = 3_600 * 1_000_000_000;
    /// Significant decimal figures kept by every histogram.
    pub const SIGFIG: u8 = 3;

    /// A recorder with empty histograms and zero counters. Allocates all the
    /// memory recording will ever use.
    pub fn new() -> Recorder {
        Recorder {
            buckets: std::array::from_fn(|_| Buckets::new()),
            counters: Counters::default(),
        }
    }

    fn new_histogram() -> Histogram<u64> {
        let mut h =
            Histogram::new_with_bounds(Self::LOWEST_NANOS, Self::HIGHEST_NANOS, Self::SIGFIG)
                .expect("constant histogram bounds are valid");
        // Already off for new_with_bounds; the view is built for exactly these bounds.
        h.auto(false);
        h
    }

    /// Records one latency sample of `phase`, in nanoseconds. Values outside
    /// 1 ns ..= 1 h are clamped into it. Never allocates, never fails.
    #[inline(always)]
    pub fn record(&mut self, phase: Phase, nanos: u64) {
        // Within the bounds, one unsigned comparison (LOWEST_NANOS is 1);
        // outside, the clamp.
        let v = if nanos.wrapping_sub(Self::LOWEST_NANOS) < Self::HIGHEST_NANOS {
            nanos
        } else {
            nanos.clamp(Self::LOWEST_NANOS, Self::HIGHEST_NANOS)
        };
        self.buckets[phase.index()].record(v);
    }

    /// Records `end - start` for `phase` (zero, hence 1 ns, if `end` is earlier).
    #[inline]
    pub fn record_between(&mut self, phase: Phase, start: Instant, end: Instant) {
        self.record(phase, end.nanos_since(start));
    }

    /// The histogram of `phase` (values in nanoseconds), built from the counts at
    /// each call (it allocates: read it outside the hot path).
    pub fn histogram(&self, phase: Phase) -> Histogram<u64> {
        self.buckets[phase.index()].to_histogram()
    }

    /// Adds everything `other` recorded into `self`: histograms exactly (same
    /// buckets, counts add), counters by [`Counters::merge`]. Does not allocate.
    pub fn merge(&mut self, other: &Recorder) {
        for i in 0..Phase::COUNT {
            self.buckets[i].merge(&other.buckets[i]);
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

/// Raw bucket access for interval snapshots ([`super::interval`]): a worker copies
/// its cumulative counts once a period and the collector subtracts consecutive
/// copies. Kept here because the bucket layout is this module's.
impl Recorder {
    /// Buckets per phase: the length of a counts buffer.
    pub(crate) fn bucket_count() -> usize {
        Buckets::index(Self::HIGHEST_NANOS) + 1
    }

    /// Copies the counts of `phase` into `dst` (of [`Recorder::bucket_count`]
    /// entries) and returns how many leading entries may be nonzero. `dst_used` is
    /// what the previous copy into `dst` returned: entries past the new length are
    /// zeroed up to it, so only the used prefix is ever touched. Never allocates.
    pub(crate) fn copy_counts(&self, phase: Phase, dst: &mut [u64], dst_used: usize) -> usize {
        let b = &self.buckets[phase.index()];
        let used = if b.total == 0 {
            0
        } else {
            Buckets::index(b.max) + 1
        };
        dst[..used].copy_from_slice(&b.counts[..used]);
        if dst_used > used {
            dst[used..dst_used].fill(0);
        }
        used
    }

    /// The lowest value counted in bucket `i` (what the bucket is recorded as).
    pub(crate) fn bucket_lowest(i: usize) -> u64 {
        Buckets::lowest_of(i)
    }

    /// Adds every sample of `h` (nanoseconds; e.g. a histogram decoded from a saved
    /// report) to `phase`. Exact when `h` has the recorder's precision: each of its
    /// buckets lands in the same bucket here. Values outside the bounds are clamped.
    pub fn add_histogram(&mut self, phase: Phase, h: &Histogram<u64>) {
        let i = phase.index();
        for v in h.iter_recorded() {
            let value = h
                .lowest_equivalent(v.value_iterated_to())
                .clamp(Self::LOWEST_NANOS, Self::HIGHEST_NANOS);
            self.buckets[i].record_n(value, v.count_at_value());
        }
        if !h.is_empty() {
            // The extremes as the histogram knows them (within its precision).
            let b = &mut self.buckets[i];
            b.max = b.max.max(h.max().min(Self::HIGHEST_NANOS));
        }
    }

    /// An empty histogram with the recorder's bounds (1 ns ..= 1 h, 3 figures).
    pub fn empty_histogram() -> Histogram<u64> {
        Self::new_histogram()
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

    /// Record the same values straight into an HdrHistogram and into a recorder.
    fn both(values: impl IntoIterator<Item = u64>) -> (Histogram<u64>, Recorder) {
        let mut h = Recorder::new_histogram();
        let mut r = Recorder::new();
        for v in values {
            h.saturating_record(v.clamp(Recorder::LOWEST_NANOS, Recorder::HIGHEST_NANOS));
            r.record(Phase::Ttfb, v);
        }
        (h, r)
    }

    fn same(h: &Histogram<u64>, v: &Histogram<u64>) {
        assert_eq!(h, v);
        assert_eq!(
            (h.len(), h.min(), h.max(), h.min_nz()),
            (v.len(), v.min(), v.max(), v.min_nz())
        );
        assert_eq!(h.mean(), v.mean());
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(h.value_at_quantile(q), v.value_at_quantile(q), "q {q}");
        }
        for (a, b) in h.iter_recorded().zip(v.iter_recorded()) {
            assert_eq!(
                (a.value_iterated_to(), a.count_at_value()),
                (b.value_iterated_to(), b.count_at_value())
            );
        }
    }

    #[test]
    fn buckets_are_hdrhistogram_counts() {
        // Every bucket boundary region up to the highest value, edges included.
        let mut values = vec![0, 1, 2, 2047, 2048, 2049, 4095, 4096, 4097, u64::MAX];
        for k in 11..42 {
            let p = 1u64 << k;
            values.extend([
                p - 1,
                p,
                p + 1,
                p + (p >> 11),
                p + (p >> 10) - 1,
                p + (p >> 10),
            ]);
        }
        values.push(Recorder::HIGHEST_NANOS);
        values.push(Recorder::HIGHEST_NANOS - 1);
        let (h, r) = both(values.iter().copied());
        same(&h, &r.histogram(Phase::Ttfb));
        for &v in &values {
            let v = v.clamp(Recorder::LOWEST_NANOS, Recorder::HIGHEST_NANOS);
            assert_eq!(
                r.histogram(Phase::Ttfb).count_at(v),
                h.count_at(v),
                "count at {v}"
            );
            let i = Buckets::index(v);
            assert!(h.equivalent(Buckets::lowest_of(i), v), "bucket {i} of {v}");
        }
    }

    #[test]
    fn random_values_give_the_same_histogram() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let values: Vec<u64> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x >> (x % 64)
            })
            .collect();
        let (h, r) = both(values.iter().copied());
        same(&h, &r.histogram(Phase::Ttfb));
        // One value, and none.
        let (h, r) = both([123_456_789]);
        same(&h, &r.histogram(Phase::Ttfb));
        let (h, r) = both([]);
        same(&h, &r.histogram(Phase::Ttfb));
    }

    #[test]
    fn a_view_is_rebuilt_after_more_records() {
        let mut r = Recorder::new();
        r.record(Phase::Connect, 5_000);
        assert_eq!(r.histogram(Phase::Connect).len(), 1);
        r.record(Phase::Connect, 7_000);
        assert_eq!(r.histogram(Phase::Connect).len(), 2);
        let other = r.clone();
        r.merge(&other);
        assert_eq!(r.histogram(Phase::Connect).len(), 4);
    }
}
