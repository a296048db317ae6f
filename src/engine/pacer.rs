//! The pacer: when a worker may open its next connection.
//!
//! Two modes ([`PacerMode`]):
//!
//! - **Open loop** (`Rate { cps }`): connection `i` (0-based) is scheduled at
//!   `start + i / cps`, computed from `i` each time in integer arithmetic (no
//!   accumulated error). A connection that starts late keeps its scheduled time:
//!   the caller measures latency from it, so a stalled server shows up as latency
//!   instead of hiding behind a generator that slowed down with it (coordinated
//!   omission, corrected as wrk2 does). Catching up after a stall is bounded by the
//!   caller: each [`Pacer::next_due`] / [`Pacer::started`] pair releases one
//!   connection, and the worker decides how many to take per burst.
//! - **Closed loop** (`Max`): a connection may start whenever the concurrency cap
//!   allows; its scheduled time is `now`.
//!
//! In both modes a concurrency cap bounds the connections open at once and an
//! optional limit bounds how many are started in total.
//!
//! Several workers share one schedule by sharding it ([`Pacer::sharded`]): shard `s`
//! of `n` takes the global connections `s, s + n, s + 2n, ...`, so the merged
//! schedule of all workers is exactly `start + i / cps`.
//!
//! The worker's loop, per burst:
//!
//! ```
//! use synfin::engine::pacer::{Pacer, PacerMode};
//! use synfin::time::Instant;
//!
//! let mut pacer = Pacer::new(PacerMode::Rate { cps: 1000.0 }, Instant::ZERO, Some(100), 16);
//! let (now, mut open, budget) = (Instant::from_millis(5), 0u32, 4);
//! let mut opened = Vec::new();
//! for _ in 0..budget {
//!     let Some(scheduled) = pacer.next_due(now, open) else { break };
//!     // ... allocate a port, Conn::connect(scheduled, ...) ...
//!     pacer.started();
//!     open += 1;
//!     opened.push(scheduled);
//! }
//! // Six connections were due (at 0, 1, ..., 5 ms); the budget released four.
//! assert_eq!(opened, [0, 1, 2, 3].map(Instant::from_millis));
//! assert_eq!(pacer.backlog(now), 2);
//! ```

use crate::time::Instant;

/// Nanoseconds per second times the resolution of `cps` (a millionth): connection
/// `k` is at `k * SCALE / rate_micro` nanoseconds.
const SCALE: u128 = 1_000_000_000 * 1_000_000;

/// How connections are scheduled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PacerMode {
    /// Open loop: `cps` connections per second (summed over all shards), each at its
    /// scheduled time. `cps` is taken to a millionth of a connection per second.
    Rate {
        /// Connections per second, from 0.000001 to 10^12.
        cps: f64,
    },
    /// Closed loop: as fast as the concurrency cap allows.
    Max,
    /// Open loop whose rate ramps linearly from `from` to `to` connections per
    /// second over `over`, then stays at `to`. Connection `k` is scheduled where the
    /// integral of the rate reaches `k` (`from·t + (to−from)·t²/(2·over) = k`).
    Ramp {
        /// Rate at the start, connections per second (0 allowed).
        from: f64,
        /// Rate at the end of the ramp and after it (0 allowed: nothing after).
        to: f64,
        /// Length of the ramp.
        over: std::time::Duration,
    },
}

/// A linear ramp's parameters, in seconds and connections per second.
#[derive(Clone, Copy, Debug, PartialEq)]
struct RampShape {
    from: f64,
    /// Rate change per second.
    slope: f64,
    to: f64,
    secs: f64,
    /// Connections scheduled within the ramp.
    count: f64,
}

impl RampShape {
    /// Seconds from the start at which global connection `k` is scheduled
    /// (infinite when never).
    fn time_of(&self, k: u128) -> f64 {
        if k == 0 {
            return 0.0;
        }
        let k = k as f64;
        if k < self.count {
            // from·t + slope·t²/2 = k, in the form that stays exact as slope → 0.
            let disc = (self.from * self.from + 2.0 * self.slope * k).max(0.0);
            2.0 * k / (self.from + disc.sqrt())
        } else if self.to > 0.0 {
            self.secs + (k - self.count) / self.to
        } else {
            f64::INFINITY
        }
    }
}

/// The connection scheduler of one worker. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Pacer {
    mode: PacerMode,
    start: Instant,
    /// Rate in millionths of a connection per second (0 in `Max` and `Ramp` mode).
    rate_micro: u128,
    /// The ramp (`Ramp` mode).
    ramp: Option<RampShape>,
    /// Global index of this shard's connection `j` is `j * stride + offset`.
    stride: u64,
    offset: u64,
    /// This shard's share of the limit.
    limit: Option<u64>,
    concurrency: u32,
    started: u64,
    /// Scheduled time of the next connection (`Rate` mode; cached at each start).
    next_at: Instant,
    deferred_by_cap: u64,
    /// The last instant a due connection found the cap full (`Rate` mode): a
    /// connection scheduled at or before it waited for the cap.
    cap_full_at: Option<Instant>,
}

impl Pacer {
    /// A pacer for a single worker: connections from `start` on, at most `limit` in
    /// total (`None`: no limit), at most `concurrency` open at once.
    ///
    /// # Panics
    ///
    /// If `concurrency` is 0, or in `Rate` mode if `cps` is not within
    /// 0.000001..=10^12 (or is NaN).
    pub fn new(mode: PacerMode, start: Instant, limit: Option<u64>, concurrency: u32) -> Pacer {
        Pacer::sharded(mode, start, limit, concurrency, 0, 1)
    }

    /// Shard `shard` of `shards` of one schedule: this pacer takes the global
    /// connections `shard, shard + shards, ...` of the schedule `start + i / cps`,
    /// and its share of the global `limit`. `concurrency` is this shard's own cap.
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new), and if `shards` is 0 or `shard >= shards`.
    pub fn sharded(
        mode: PacerMode,
        start: Instant,
        limit: Option<u64>,
        concurrency: u32,
        shard: u32,
        shards: u32,
    ) -> Pacer {
        assert!(
            concurrency > 0,
            "Pacer: a concurrency cap of 0 never starts anything"
        );
        assert!(
            shard < shards,
            "Pacer: shard {shard} of {shards} does not exist"
        );
        let rate_micro = match mode {
            PacerMode::Rate { cps } => {
                assert!(
                    (1e-6..=1e12).contains(&cps),
                    "Pacer: invalid rate {cps} cps"
                );
                (cps * 1e6).round() as u128
            }
            PacerMode::Max | PacerMode::Ramp { .. } => 0,
        };
        let ramp = match mode {
            PacerMode::Ramp { from, to, over } => {
                let ok = |r: f64| (0.0..=1e12).contains(&r);
                assert!(
                    ok(from) && ok(to) && from + to > 0.0 && !over.is_zero(),
                    "Pacer: invalid ramp {from}..{to} cps over {over:?}"
                );
                let secs = over.as_secs_f64();
                Some(RampShape {
                    from,
                    slope: (to - from) / secs,
                    to,
                    secs,
                    count: (from + to) / 2.0 * secs,
                })
            }
            _ => None,
        };
        let (stride, offset) = (u64::from(shards), u64::from(shard));
        // Global indices below `l` congruent to `offset` modulo `stride`.
        let limit = limit.map(|l| {
            if l > offset {
                (l - offset - 1) / stride + 1
            } else {
                0
            }
        });
        let mut pacer = Pacer {
            mode,
            start,
            rate_micro,
            ramp,
            stride,
            offset,
            limit,
            concurrency,
            started: 0,
            next_at: start,
            deferred_by_cap: 0,
            cap_full_at: None,
        };
        pacer.next_at = pacer.scheduled(0);
        pacer
    }

    /// The scheduled start of this pacer's connection `j` (0-based): in `Rate` mode
    /// `start + (j * shards + shard) / cps`, rounded down to the nanosecond; in `Max`
    /// mode `start`.
    pub fn scheduled(&self, j: u64) -> Instant {
        let k = u128::from(j) * u128::from(self.stride) + u128::from(self.offset);
        if let Some(r) = &self.ramp {
            let ns = r.time_of(k) * 1e9;
            // `as` saturates: infinity (never) becomes u64::MAX.
            return Instant(self.start.as_nanos().saturating_add(ns as u64));
        }
        if self.rate_micro == 0 {
            return self.start;
        }
        // Saturates to "never" far beyond any real run (k above ~2^78).
        let ns = k.checked_mul(SCALE).map_or(u64::MAX, |x| {
            u64::try_from(x / self.rate_micro).unwrap_or(u64::MAX)
        });
        Instant(self.start.as_nanos().saturating_add(ns))
    }

    /// If the next connection may start at `now` with `open` connections open, its
    /// scheduled start (the instant to measure its latency from; `now` in `Max`
    /// mode); otherwise `None`. Call [`started`](Self::started) once the connection
    /// really starts; until then every call returns the same connection, so a
    /// caller that cannot start it (no free port, say) simply asks again later.
    ///
    /// Nothing is due before `start`, after the limit, or while `open` is at the
    /// cap. In `Rate` mode every connection that was due while the cap held it back
    /// is counted once, when it starts, in
    /// [`deferred_by_cap`](Self::deferred_by_cap).
    #[inline]
    pub fn next_due(&mut self, now: Instant, open: u32) -> Option<Instant> {
        if self.is_done() {
            return None;
        }
        let scheduled = match self.mode {
            PacerMode::Rate { .. } | PacerMode::Ramp { .. } if self.next_at > now => return None,
            PacerMode::Rate { .. } | PacerMode::Ramp { .. } => self.next_at,
            PacerMode::Max if self.start > now => return None,
            PacerMode::Max => now,
        };
        if open >= self.concurrency {
            if self.mode != PacerMode::Max {
                self.cap_full_at = Some(now);
            }
            return None;
        }
        Some(scheduled)
    }

    /// In closed loop ([`PacerMode::Max`]), how many connections may start at
    /// `now` with `open` open, at most `max`: as many as [`next_due`](Self::next_due)
    /// would give in a row, each followed by [`started`](Self::started) and one
    /// more connection open. `None` in the other modes, where each connection
    /// has its own time.
    #[inline]
    pub fn closed_loop_budget(&self, now: Instant, open: u32, max: u64) -> Option<u64> {
        if self.mode != PacerMode::Max {
            return None;
        }
        if self.start > now {
            return Some(0);
        }
        let left = self
            .limit
            .map_or(u64::MAX, |l| l.saturating_sub(self.started));
        let room = u64::from(self.concurrency.saturating_sub(open));
        Some(max.min(left).min(room))
    }

    /// Consume `n` connections of a [`closed_loop_budget`](Self::closed_loop_budget)
    /// (what `n` calls of [`started`](Self::started) do in closed loop).
    #[inline]
    pub fn started_closed_loop(&mut self, n: u64) {
        debug_assert!(self.mode == PacerMode::Max);
        debug_assert!(self.limit.is_none_or(|l| self.started + n <= l));
        self.started += n;
    }

    /// Consume the connection [`next_due`](Self::next_due) returned: the next call
    /// considers the one after it.
    #[inline]
    pub fn started(&mut self) {
        debug_assert!(!self.is_done(), "Pacer::started beyond the limit");
        self.started += 1;
        if self.mode != PacerMode::Max {
            // Due at `next_at`, and the cap was full at some instant after that:
            // this connection (and every one behind it in the backlog) waited.
            if self.cap_full_at.is_some_and(|t| self.next_at <= t) {
                self.deferred_by_cap += 1;
            }
            self.next_at = self.scheduled(self.started);
        }
    }

    /// When the next connection becomes due, for a virtual clock to jump to (it may
    /// be in the past: the pacer is behind). `None` when the limit is reached or
    /// `open` is at the cap: then the wake-up comes from a connection closing, not
    /// from time.
    pub fn next_wakeup(&self, open: u32) -> Option<Instant> {
        if self.is_done() || open >= self.concurrency {
            return None;
        }
        Some(match self.mode {
            PacerMode::Rate { .. } | PacerMode::Ramp { .. } => self.next_at,
            PacerMode::Max => self.start,
        })
    }

    /// Connections scheduled at or before `now` but not yet started: how far behind
    /// schedule the worker is (`Rate` mode; always 0 in `Max` mode).
    pub fn backlog(&self, now: Instant) -> u64 {
        if self.ramp.is_some() {
            return self.due_by_search(now).saturating_sub(self.started);
        }
        if self.rate_micro == 0 || now < self.start {
            return 0;
        }
        // Global k is due iff floor(k * SCALE / rate) <= t, i.e. k * SCALE < (t+1) * rate.
        let t = u128::from(now.nanos_since(self.start));
        let due_global = ((t + 1) * self.rate_micro - 1) / SCALE + 1;
        let offset = u128::from(self.offset);
        let mut due = if due_global > offset {
            (due_global - offset - 1) / u128::from(self.stride) + 1
        } else {
            0
        };
        if let Some(l) = self.limit {
            due = due.min(u128::from(l));
        }
        u64::try_from(due)
            .unwrap_or(u64::MAX)
            .saturating_sub(self.started)
    }

    /// This shard's connections scheduled at or before `now` (within its limit),
    /// found by searching the schedule: it is monotonic in `j`.
    fn due_by_search(&self, now: Instant) -> u64 {
        let cap = self.limit.unwrap_or(u64::MAX);
        if cap == 0 || self.scheduled(0) > now {
            return 0;
        }
        // The smallest j with scheduled(j) > now lies in (lo, hi].
        let (mut lo, mut hi) = (0u64, 1u64);
        while hi < cap && self.scheduled(hi) <= now {
            lo = hi;
            hi = hi.saturating_mul(2);
        }
        let hi_cap = hi.min(cap);
        if hi_cap == cap && self.scheduled(cap - 1) <= now {
            return cap;
        }
        let mut hi = hi_cap;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.scheduled(mid) <= now {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }

    /// The limit is reached: no connection will be due again.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.limit.is_some_and(|l| self.started >= l)
    }

    /// Connections started so far.
    pub fn started_count(&self) -> u64 {
        self.started
    }

    /// Connections started (`Rate` mode) that had been due while the concurrency
    /// cap was reached, so started late because of it; each counted once however
    /// long it waited.
    pub fn deferred_by_cap(&self) -> u64 {
        self.deferred_by_cap
    }

    /// This pacer's limit (its share, when sharded); `None` when unlimited.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// The concurrency cap.
    pub fn concurrency(&self) -> u32 {
        self.concurrency
    }

    /// The mode.
    pub fn mode(&self) -> PacerMode {
        self.mode
    }

    /// The instant the schedule starts at.
    pub fn start(&self) -> Instant {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Instant {
        Instant::from_millis(x)
    }

    /// The closed-loop budget is what next_due and started, called in a row
    /// with one more connection open each time, would give.
    #[test]
    fn closed_loop_budget_is_what_next_due_gives_in_a_row() {
        assert_eq!(
            Pacer::new(PacerMode::Rate { cps: 10.0 }, ms(0), None, 8).closed_loop_budget(
                ms(5),
                0,
                64
            ),
            None
        );
        for limit in [None, Some(0), Some(3), Some(100)] {
            for (start, now) in [(ms(10), ms(5)), (ms(10), ms(10)), (ms(0), ms(7))] {
                for open in [0u32, 5, 7, 8, 9] {
                    for max in [0u64, 1, 2, 64] {
                        let mut a = Pacer::new(PacerMode::Max, start, limit, 8);
                        let mut b = a.clone();
                        // Some already started.
                        for _ in 0..limit.map_or(1, |l| l.min(1)) {
                            a.started();
                            b.started();
                        }
                        let mut n = 0u64;
                        let mut o = open;
                        while n < max && a.next_due(now, o).is_some() {
                            a.started();
                            o += 1;
                            n += 1;
                        }
                        let budget = b.closed_loop_budget(now, open, max).unwrap();
                        assert_eq!(budget, n, "{limit:?} {start:?} {now:?} {open} {max}");
                        b.started_closed_loop(budget);
                        assert_eq!(a.started_count(), b.started_count());
                        assert_eq!(a.is_done(), b.is_done());
                    }
                }
            }
        }
    }

    #[test]
    fn exact_schedule_at_1000_cps() {
        let start = Instant(123_456_789);
        let mut p = Pacer::new(PacerMode::Rate { cps: 1000.0 }, start, None, u32::MAX);
        let mut now = start;
        for i in 0..10_000u64 {
            let want = Instant(start.0 + i * 1_000_000);
            assert_eq!(p.next_wakeup(0), Some(want));
            // Not a nanosecond early.
            if i > 0 {
                assert_eq!(p.next_due(Instant(want.0 - 1), 0), None);
            }
            now = now.max(want);
            assert_eq!(p.next_due(now, 0), Some(want), "connection {i}");
            p.started();
        }
        assert_eq!(p.started_count(), 10_000);
        assert_eq!(p.scheduled(10_000), Instant(start.0 + 10_000_000_000));
    }

    #[test]
    fn schedule_is_computed_not_accumulated() {
        // 3 cps: 1/3 s is not a whole number of nanoseconds; the millionth connection
        // is still exactly where it belongs.
        let p = Pacer::new(PacerMode::Rate { cps: 3.0 }, Instant::ZERO, None, 1);
        assert_eq!(p.scheduled(1), Instant(333_333_333));
        assert_eq!(p.scheduled(2), Instant(666_666_666));
        assert_eq!(p.scheduled(3), Instant(1_000_000_000));
        assert_eq!(p.scheduled(3_000_000), Instant(1_000_000 * 1_000_000_000));
        // Fractional rates.
        let p = Pacer::new(PacerMode::Rate { cps: 0.5 }, Instant::ZERO, None, 1);
        assert_eq!(p.scheduled(7), Instant(14_000_000_000));
        let p = Pacer::new(PacerMode::Rate { cps: 2.5e6 }, Instant::ZERO, None, 1);
        assert_eq!(p.scheduled(5), Instant(2_000));
    }

    #[test]
    fn late_connections_keep_their_schedule_and_catch_up_one_per_call() {
        let mut p = Pacer::new(PacerMode::Rate { cps: 1000.0 }, Instant::ZERO, None, 100);
        // The worker stalls for 10 ms: eleven connections are due.
        let now = ms(10);
        assert_eq!(p.backlog(now), 11);
        for i in 0..3 {
            assert_eq!(p.next_due(now, i), Some(ms(u64::from(i))));
            // Asking again without starting returns the same connection.
            assert_eq!(p.next_due(now, i), Some(ms(u64::from(i))));
            p.started();
        }
        assert_eq!(p.backlog(now), 8);
        for i in 3..11 {
            assert_eq!(p.next_due(now, 0), Some(ms(i)));
            p.started();
        }
        assert_eq!(p.next_due(now, 0), None);
        assert_eq!(p.backlog(now), 0);
        assert_eq!(p.next_wakeup(0), Some(ms(11)));
    }

    #[test]
    fn limit_stops_the_schedule() {
        let mut p = Pacer::new(PacerMode::Rate { cps: 100.0 }, Instant::ZERO, Some(5), 10);
        let mut got = Vec::new();
        while let Some(t) = p.next_due(Instant::NEVER, 0) {
            got.push(t);
            p.started();
        }
        assert_eq!(got, [0, 10, 20, 30, 40].map(ms));
        assert!(p.is_done());
        assert_eq!(p.next_wakeup(0), None);
        assert_eq!(p.backlog(Instant::NEVER), 0);

        let mut p = Pacer::new(PacerMode::Max, Instant::ZERO, Some(3), 10);
        for _ in 0..3 {
            assert!(p.next_due(ms(1), 0).is_some());
            p.started();
        }
        assert!(p.is_done());
        assert_eq!(p.next_due(ms(1), 0), None);

        let p = Pacer::new(PacerMode::Max, Instant::ZERO, Some(0), 10);
        assert!(p.is_done());
    }

    #[test]
    fn cap_defers_due_connections_and_counts_each_once() {
        let mut p = Pacer::new(PacerMode::Rate { cps: 1000.0 }, Instant::ZERO, None, 2);
        assert_eq!(p.next_due(ms(0), 0), Some(ms(0)));
        p.started();
        assert_eq!(p.next_due(ms(1), 1), Some(ms(1)));
        p.started();
        // Two open: connection 2 is due at 2 ms but waits.
        assert_eq!(p.next_due(ms(2), 2), None);
        assert_eq!(p.next_due(ms(3), 2), None);
        // Counted when it starts.
        assert_eq!(p.deferred_by_cap(), 0);
        assert_eq!(p.next_wakeup(2), None);
        // Not due yet: not deferred by the cap.
        let mut q = p.clone();
        q.started();
        assert_eq!(q.next_due(ms(2), 2), None);
        assert_eq!(q.deferred_by_cap(), 1);
        // One closes: it starts, late, with its scheduled time.
        assert_eq!(p.next_due(ms(4), 1), Some(ms(2)));
        p.started();
        assert_eq!(p.deferred_by_cap(), 1);
        assert_eq!(p.next_due(ms(4), 2), None);
        assert_eq!(p.next_due(ms(4), 1), Some(ms(3)));
        p.started();
        assert_eq!(p.deferred_by_cap(), 2);
        // Connection 5 falls due at 5 ms with room under the cap: not counted.
        assert_eq!(p.next_due(ms(5), 1), Some(ms(4)));
        p.started();
        assert_eq!(p.next_due(ms(5), 1), Some(ms(5)));
        p.started();
        assert_eq!(p.deferred_by_cap(), 3);
    }

    #[test]
    fn every_connection_of_a_backlog_held_by_the_cap_is_counted() {
        let mut p = Pacer::new(PacerMode::Rate { cps: 1000.0 }, Instant::ZERO, None, 1);
        assert_eq!(p.next_due(ms(0), 0), Some(ms(0)));
        p.started();
        // The one open connection lasts 10 ms: connections 1..=10 fall due behind
        // the cap, which is seen full only by the first of them.
        for t in 1..10 {
            assert_eq!(p.next_due(ms(t), 1), None);
        }
        let mut open = 0;
        while let Some(_t) = p.next_due(ms(10), open) {
            p.started();
            open = 0;
        }
        assert_eq!(p.started_count(), 11);
        // Connection 10 was due at 10 ms, after the cap was last seen full (9 ms).
        assert_eq!(p.deferred_by_cap(), 9);
    }

    #[test]
    fn max_mode_fills_the_cap() {
        let start = ms(10);
        let mut p = Pacer::new(PacerMode::Max, start, None, 3);
        assert_eq!(p.next_due(ms(9), 0), None);
        assert_eq!(p.next_wakeup(0), Some(start));
        let mut open = 0;
        while let Some(t) = p.next_due(ms(12), open) {
            assert_eq!(t, ms(12));
            p.started();
            open += 1;
        }
        assert_eq!(open, 3);
        assert_eq!(p.next_wakeup(open), None);
        assert_eq!(p.next_due(ms(13), 2), Some(ms(13)));
        assert_eq!(p.deferred_by_cap(), 0);
        assert_eq!(p.backlog(ms(100)), 0);
        assert!(!p.is_done());
    }

    #[test]
    fn shards_merge_into_the_exact_schedule() {
        let (shards, limit, cps) = (3u32, 1000u64, 700.0);
        let whole = Pacer::new(PacerMode::Rate { cps }, ms(1), Some(limit), 10);
        let mut merged = Vec::new();
        let mut total = 0;
        for s in 0..shards {
            let mut p = Pacer::sharded(PacerMode::Rate { cps }, ms(1), Some(limit), 10, s, shards);
            total += p.limit().unwrap();
            while let Some(t) = p.next_due(Instant::NEVER, 0) {
                merged.push(t);
                p.started();
            }
        }
        assert_eq!(total, limit);
        merged.sort_unstable();
        let want: Vec<Instant> = (0..limit).map(|i| whole.scheduled(i)).collect();
        assert_eq!(merged, want);
        // More shards than connections.
        let p = Pacer::sharded(PacerMode::Max, Instant::ZERO, Some(2), 1, 3, 4);
        assert!(p.is_done());
    }

    #[test]
    fn backlog_matches_the_schedule() {
        for (cps, shard, shards) in [(1000.0, 0, 1), (3.0, 0, 1), (777.7, 2, 5), (1e6, 1, 2)] {
            let mut p = Pacer::sharded(PacerMode::Rate { cps }, ms(2), None, 1, shard, shards);
            let mut t = ms(2);
            for step in 0..500u64 {
                let want = (0..10_000).take_while(|&j| p.scheduled(j) <= t).count() as u64;
                assert_eq!(p.backlog(t) + p.started_count(), want, "cps {cps} t {t:?}");
                if step % 3 == 0 && p.next_due(t, 0).is_some() {
                    p.started();
                }
                // About 1.37 global connections fall due per step.
                t = Instant(t.0 + (1.37e9 / cps) as u64);
            }
        }
        let p = Pacer::new(PacerMode::Rate { cps: 10.0 }, ms(5), None, 1);
        assert_eq!(p.backlog(ms(4)), 0);
        assert_eq!(p.backlog(ms(5)), 1);
    }

    #[test]
    fn far_future_saturates() {
        let p = Pacer::sharded(
            PacerMode::Rate { cps: 1e-6 },
            Instant(5),
            None,
            1,
            7,
            1 << 31,
        );
        assert_eq!(p.scheduled(u64::MAX), Instant::NEVER);
        assert_eq!(p.scheduled(0), Instant(7_000_000_000_000_005));
        let p = Pacer::new(PacerMode::Rate { cps: 1e12 }, Instant::ZERO, None, 1);
        assert_eq!(p.scheduled(1_000_000_000_000), Instant(1_000_000_000));
        assert_eq!(p.backlog(Instant::NEVER), u64::MAX);
    }

    fn ramp(from: f64, to: f64, secs: u64) -> PacerMode {
        PacerMode::Ramp {
            from,
            to,
            over: std::time::Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_ramp_schedules_the_integral_of_its_rate() {
        // 0 → 1000 cps over 10 s: 5,000 connections in the ramp, k at sqrt(k/50) s,
        // then 1000 cps.
        let p = Pacer::new(ramp(0.0, 1000.0, 10), Instant::ZERO, None, 1);
        let s = |j| p.scheduled(j).as_nanos() as f64 / 1e9;
        assert_eq!(s(0), 0.0);
        assert!((s(50) - 1.0).abs() < 1e-9);
        assert!((s(1250) - 5.0).abs() < 1e-9);
        assert!((s(5000) - 10.0).abs() < 1e-9);
        assert!((s(6000) - 11.0).abs() < 1e-9);
        // Connections per second grow linearly: ~100 in the first second's
        // neighbour, ~1,900 in the tenth.
        let within = |a: f64, b: f64| (0..6000).filter(|&j| s(j) >= a && s(j) < b).count();
        assert_eq!(within(0.0, 1.0), 50);
        assert_eq!(within(9.0, 10.0), 950);
        assert_eq!(within(10.0, 11.0), 1000);
        // A flat ramp is a constant rate.
        let flat = Pacer::new(ramp(1000.0, 1000.0, 5), Instant::ZERO, None, 1);
        let rate = Pacer::new(PacerMode::Rate { cps: 1000.0 }, Instant::ZERO, None, 1);
        for j in [0, 1, 999, 4999, 5000, 7777] {
            let (a, b) = (flat.scheduled(j).as_nanos(), rate.scheduled(j).as_nanos());
            assert!(a.abs_diff(b) <= 1, "{j}: {a} vs {b}");
        }
        // Down to zero: nothing after the ramp's 500 connections.
        let down = Pacer::new(ramp(100.0, 0.0, 10), Instant::ZERO, None, 1);
        assert!(down.scheduled(499) < Instant::from_millis(10_000));
        assert_eq!(down.scheduled(500), Instant::NEVER);
    }

    #[test]
    fn a_ramp_is_monotonic_and_its_backlog_matches_it() {
        for (from, to) in [(0.0, 2000.0), (3000.0, 10.0), (7.0, 7.0)] {
            let mut p = Pacer::sharded(ramp(from, to, 2), ms(1), Some(3000), 8, 1, 3);
            let mut prev = Instant::ZERO;
            for j in 0..1000 {
                let t = p.scheduled(j);
                assert!(t >= prev, "{from}..{to}: {j}");
                prev = t;
            }
            let mut t = ms(1);
            for _ in 0..300 {
                let want = (0..1000).take_while(|&j| p.scheduled(j) <= t).count() as u64;
                assert_eq!(p.backlog(t) + p.started_count(), want.min(1000), "{t:?}");
                if let Some(s) = p.next_due(t, 0) {
                    assert!(s <= t);
                    p.started();
                }
                t = Instant(t.0 + 7_000_000);
            }
        }
    }

    #[test]
    #[should_panic(expected = "invalid ramp")]
    fn a_ramp_from_zero_to_zero_panics() {
        Pacer::new(ramp(0.0, 0.0, 1), Instant::ZERO, None, 1);
    }

    #[test]
    #[should_panic(expected = "invalid rate")]
    fn nan_rate_panics() {
        Pacer::new(PacerMode::Rate { cps: f64::NAN }, Instant::ZERO, None, 1);
    }

    #[test]
    #[should_panic(expected = "invalid rate")]
    fn zero_rate_panics() {
        Pacer::new(PacerMode::Rate { cps: 0.0 }, Instant::ZERO, None, 1);
    }

    #[test]
    #[should_panic(expected = "concurrency cap of 0")]
    fn zero_cap_panics() {
        Pacer::new(PacerMode::Max, Instant::ZERO, None, 0);
    }
}
