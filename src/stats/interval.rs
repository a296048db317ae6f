//! Per-second measurements out of the workers, with no lock and no allocation on
//! their path.
//!
//! A worker owns its [`Recorder`] and never shares it. Once a period (a second by
//! default) its [`IntervalTap`] takes an empty [`Snapshot`] buffer from its own
//! bounded pool, copies the recorder's *cumulative* bucket counts and counters into
//! it (only the used prefix of each phase's buckets), and sends it to the
//! collector through a bounded crossbeam channel. The collector — a thread of its
//! own — subtracts the worker's previous snapshot from the new one (that is the
//! worker's interval), hands the previous buffer back to the worker's pool, adds
//! the workers' intervals together and, once every worker has reported past an
//! interval, emits it as an [`Interval`] to the [`IntervalSink`]s (live progress,
//! CSV, HdrHistogram log) and keeps an [`IntervalRow`] of it for the report.
//!
//! Because snapshots are cumulative, nothing is lost when a worker finds its pool
//! empty (the collector fell behind): it tries again on its next loop and the
//! interval it then closes simply holds more. The buffers are allocated when the
//! taps are made, before the run; a tick is a compare when it is not due.

use std::collections::BTreeMap;
use std::io;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam::channel::{self, Receiver, Sender, TryRecvError};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{Counters, FailCause, LatencySummary, Phase, Recorder, encode};
use crate::time::Instant;

/// The period of the interval data unless told otherwise.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(1);

/// Snapshot buffers per worker: one the collector keeps as the previous
/// snapshot, the others in flight or waiting in the worker's pool.
const POOL: usize = 3;

/// One worker's cumulative measurements at one moment.
pub struct Snapshot {
    worker: u32,
    /// The worker's clock when the copy was made.
    at: Instant,
    /// The worker's last snapshot (end of its run).
    last: bool,
    counters: Counters,
    counts: [Box<[u64]>; Phase::COUNT],
    /// Leading entries of each `counts` that may be nonzero.
    used: [usize; Phase::COUNT],
}

impl Snapshot {
    fn new(worker: u32) -> Box<Snapshot> {
        let n = Recorder::bucket_count();
        Box::new(Snapshot {
            worker,
            at: Instant::ZERO,
            last: false,
            counters: Counters::default(),
            counts: std::array::from_fn(|_| vec![0u64; n].into_boxed_slice()),
            used: [0; Phase::COUNT],
        })
    }

    fn fill(&mut self, at: Instant, rec: &Recorder, last: bool) {
        self.at = at;
        self.last = last;
        self.counters.clone_from(&rec.counters);
        for p in Phase::ALL {
            let i = p.index();
            self.used[i] = rec.copy_counts(p, &mut self.counts[i], self.used[i]);
        }
    }
}

/// A worker's end of the interval machinery: call [`IntervalTap::tick`] with the
/// clock reading of every loop, and [`IntervalTap::finish`] once at the end.
pub struct IntervalTap {
    period_ns: u64,
    next: Instant,
    free: Receiver<Box<Snapshot>>,
    full: Sender<Box<Snapshot>>,
    /// Periods whose end found the pool empty (the next interval holds them too).
    pub deferred: u64,
    waiting: bool,
}

impl IntervalTap {
    /// Ships a snapshot when a period has ended. A compare when it has not.
    #[inline(always)]
    pub fn tick(&mut self, now: Instant, rec: &Recorder) {
        if now >= self.next {
            self.ship(now, rec);
        }
    }

    /// When the next snapshot is due (for a loop that sleeps or jumps in time).
    pub fn next_due(&self) -> Instant {
        self.next
    }

    #[cold]
    #[inline(never)]
    fn ship(&mut self, now: Instant, rec: &Recorder) {
        match self.free.try_recv() {
            Ok(mut s) => {
                s.fill(now, rec, false);
                // The channel holds every buffer there is, so it has room.
                let _ = self.full.try_send(s);
                self.next = Instant((now.0 / self.period_ns + 1).saturating_mul(self.period_ns));
                self.waiting = false;
            }
            Err(TryRecvError::Empty) => {
                if !self.waiting {
                    self.deferred += 1;
                    self.waiting = true;
                }
            }
            // The collector is gone: nothing more to send.
            Err(TryRecvError::Disconnected) => self.next = Instant::NEVER,
        }
    }

    /// Sends the worker's final snapshot (waiting up to a few seconds for a buffer
    /// the collector is handing back).
    pub fn finish(self, now: Instant, rec: &Recorder) {
        // Polled rather than a blocking receive, which would allocate its waiter
        // on first use (the no-allocation tests count this thread's allocations).
        let give_up = std::time::Instant::now() + Duration::from_secs(5);
        let mut s = loop {
            match self.free.try_recv() {
                Ok(s) => break s,
                Err(TryRecvError::Empty) if std::time::Instant::now() < give_up => {
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(_) => return,
            }
        };
        s.fill(now, rec, true);
        let _ = self.full.try_send(s);
    }
}

/// What the collector does with each interval, as it is emitted.
pub trait IntervalSink: Send {
    /// One interval, in order; every worker has reported past it.
    fn interval(&mut self, iv: &Interval) -> io::Result<()>;
    /// The run is over (flush files).
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One period of the whole run: every worker's data merged.
#[derive(Debug)]
pub struct Interval {
    /// Position of the period (0: the first).
    pub index: u64,
    /// Start, from the run's start.
    pub start: Duration,
    /// Length (a full period, except the last one).
    pub duration: Duration,
    /// What the counters counted during the period (see [`counter_delta`]).
    pub delta: Counters,
    /// The workers' counters (cumulative) at the end of the period.
    pub total: Counters,
    /// Latency samples of the period, per phase, in nanoseconds.
    pub histograms: [Histogram<u64>; Phase::COUNT],
}

impl Interval {
    /// Completed connections per second over the period.
    pub fn cps(&self) -> f64 {
        let s = self.duration.as_secs_f64();
        if s > 0.0 {
            self.delta.completed as f64 / s
        } else {
            0.0
        }
    }

    /// The row kept for the report.
    pub fn row(&self) -> IntervalRow {
        let mut latency_us = BTreeMap::new();
        let mut histograms = BTreeMap::new();
        for p in Phase::ALL {
            let h = &self.histograms[p.index()];
            latency_us.insert(
                p.as_str().to_owned(),
                PhaseLatency::of(&LatencySummary::of(h)),
            );
            if !h.is_empty() {
                histograms.insert(p.as_str().to_owned(), encode::encode(h));
            }
        }
        let mut failed_by = BTreeMap::new();
        for c in FailCause::ALL {
            let n = self.delta.failed_by(c);
            if n > 0 {
                failed_by.insert(c.as_str().to_owned(), n);
            }
        }
        IntervalRow {
            t_s: self.start.as_secs_f64(),
            duration_s: self.duration.as_secs_f64(),
            attempted: self.delta.attempted,
            completed: self.delta.completed,
            failed: self.delta.failed_total(),
            failed_by,
            in_flight: self.total.in_flight(),
            time_wait: self.total.tw_current,
            tx_packets: self.delta.tx_packets,
            rx_packets: self.delta.rx_packets,
            retransmitted: self.delta.retransmitted,
            cps: round3(self.cps()),
            latency_us,
            histograms,
        }
    }
}

/// A phase's summary in an interval row, microseconds with 3 decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseLatency {
    /// Samples.
    pub count: u64,
    /// Median, µs.
    pub p50: f64,
    /// 90th percentile, µs.
    pub p90: f64,
    /// 99th percentile, µs.
    pub p99: f64,
    /// 99.9th percentile, µs.
    pub p999: f64,
    /// Largest, µs.
    pub max: f64,
    /// Mean, µs.
    pub mean: f64,
}

impl PhaseLatency {
    /// From a summary in nanoseconds.
    pub fn of(s: &LatencySummary) -> PhaseLatency {
        let us = |ns: f64| round3(ns / 1000.0);
        PhaseLatency {
            count: s.count,
            p50: us(s.p50 as f64),
            p90: us(s.p90 as f64),
            p99: us(s.p99 as f64),
            p999: us(s.p999 as f64),
            max: us(s.max as f64),
            mean: us(s.mean),
        }
    }
}

/// One period as the JSON report keeps it (`intervals[]`): counts of the period,
/// gauges at its end, latency summaries, and the period's histograms (encoded, so
/// that runs merge exactly).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalRow {
    /// Start of the period, seconds from the run's start.
    pub t_s: f64,
    /// Length of the period, seconds.
    pub duration_s: f64,
    /// Attempts started in the period.
    pub attempted: u64,
    /// Connections completed in the period.
    pub completed: u64,
    /// Connections failed in the period.
    pub failed: u64,
    /// The period's failures by cause (causes with none left out).
    pub failed_by: BTreeMap<String, u64>,
    /// Connections open at the end of the period.
    pub in_flight: u64,
    /// TIME-WAIT records held at the end of the period (synfin's own, not the kernel's).
    pub time_wait: u64,
    /// Frames sent in the period.
    pub tx_packets: u64,
    /// Frames received in the period.
    pub rx_packets: u64,
    /// Segments retransmitted in the period.
    pub retransmitted: u64,
    /// Completed / duration_s.
    pub cps: f64,
    /// Per phase: the period's latency summary.
    pub latency_us: BTreeMap<String, PhaseLatency>,
    /// Per phase with samples: the period's histogram (nanoseconds), [`encode::ENCODING`].
    pub histograms: BTreeMap<String, String>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `cur - prev` for the counters an interval reports (the others stay zero):
/// attempts, completions, failures, packets, retransmissions, RSTs, TIME-WAIT
/// entries. Saturating.
pub fn counter_delta(cur: &Counters, prev: &Counters) -> Counters {
    let mut d = Counters {
        attempted: cur.attempted.saturating_sub(prev.attempted),
        completed: cur.completed.saturating_sub(prev.completed),
        tx_packets: cur.tx_packets.saturating_sub(prev.tx_packets),
        rx_packets: cur.rx_packets.saturating_sub(prev.rx_packets),
        tx_bytes: cur.tx_bytes.saturating_sub(prev.tx_bytes),
        rx_bytes: cur.rx_bytes.saturating_sub(prev.rx_bytes),
        retransmitted: cur.retransmitted.saturating_sub(prev.retransmitted),
        rst_sent: cur.rst_sent.saturating_sub(prev.rst_sent),
        rst_received: cur.rst_received.saturating_sub(prev.rst_received),
        tw_entered: cur.tw_entered.saturating_sub(prev.tw_entered),
        ..Counters::default()
    };
    for (i, f) in d.failed.iter_mut().enumerate() {
        *f = cur.failed[i].saturating_sub(prev.failed[i]);
    }
    d
}

/// Makes the taps of `workers` workers (worker `i` takes `taps[i]`) and starts
/// the collector thread that feeds `sinks` a period of `period` at a time (at
/// least 1 ms). Allocates every snapshot buffer now.
pub fn start(
    workers: u32,
    period: Duration,
    sinks: Vec<Box<dyn IntervalSink>>,
) -> io::Result<(Vec<IntervalTap>, Collector)> {
    let workers = workers.max(1);
    let period_ns = period.as_nanos().clamp(1_000_000, u64::MAX as u128) as u64;
    let (full_tx, full_rx) = channel::bounded(POOL * workers as usize);
    let mut taps = Vec::new();
    let mut pools = Vec::new();
    #[allow(clippy::vec_box)]
    let mut prev: Vec<Box<Snapshot>> = Vec::new();
    for w in 0..workers {
        let (free_tx, free_rx) = channel::bounded(POOL);
        for _ in 0..POOL - 1 {
            free_tx
                .send(Snapshot::new(w))
                .expect("the pool has room for its buffers");
        }
        prev.push(Snapshot::new(w));
        pools.push(free_tx);
        taps.push(IntervalTap {
            period_ns,
            next: Instant(period_ns),
            free: free_rx,
            full: full_tx.clone(),
            deferred: 0,
            waiting: false,
        });
    }
    drop(full_tx);
    let state = CollectorState {
        period_ns,
        prev,
        pools,
        reported: vec![0; workers as usize],
        done: vec![false; workers as usize],
        pending: BTreeMap::new(),
        next_emit: 0,
        sinks,
        errors: Vec::new(),
        rows: Vec::new(),
        totals: vec![Counters::default(); workers as usize],
    };
    let handle = std::thread::Builder::new()
        .name("synfin-intervals".into())
        .spawn(move || state.run(full_rx))?;
    Ok((
        taps,
        Collector {
            handle,
            started: SystemTime::now(),
            period,
        },
    ))
}

/// The collector thread; [`Collector::finish`] waits for it once every tap has
/// finished (or been dropped).
pub struct Collector {
    handle: JoinHandle<IntervalSeries>,
    started: SystemTime,
    period: Duration,
}

impl Collector {
    /// Waits for the last interval and returns the series.
    pub fn finish(self) -> IntervalSeries {
        let mut series = self.handle.join().unwrap_or_else(|_| IntervalSeries {
            errors: vec!["the interval collector panicked".into()],
            ..IntervalSeries::default()
        });
        series.started = Some(self.started);
        series.period = self.period;
        series
    }
}

/// Everything the collector produced.
#[derive(Debug, Default)]
pub struct IntervalSeries {
    /// One row per period, in order.
    pub rows: Vec<IntervalRow>,
    /// Errors of the sinks (each sink stops at its first).
    pub errors: Vec<String>,
    /// Wall-clock start of the collection.
    pub started: Option<SystemTime>,
    /// The period.
    pub period: Duration,
}

/// One period being assembled from the workers' snapshots.
struct Pending {
    counts: [Vec<u64>; Phase::COUNT],
    delta: Counters,
    /// Latest end among the snapshots that closed it (the last, partial period).
    end_ns: u64,
    partial: bool,
}

struct CollectorState {
    period_ns: u64,
    /// Boxed: snapshots travel between threads, and a box moves as a pointer.
    #[allow(clippy::vec_box)]
    prev: Vec<Box<Snapshot>>,
    pools: Vec<Sender<Box<Snapshot>>>,
    /// Per worker: periods `< reported[w]` hold all its data.
    reported: Vec<u64>,
    done: Vec<bool>,
    pending: BTreeMap<u64, Pending>,
    next_emit: u64,
    sinks: Vec<Box<dyn IntervalSink>>,
    errors: Vec<String>,
    rows: Vec<IntervalRow>,
    /// Per worker: cumulative counters at its latest snapshot.
    totals: Vec<Counters>,
}

impl CollectorState {
    fn run(mut self, full: Receiver<Box<Snapshot>>) -> IntervalSeries {
        while let Ok(s) = full.recv() {
            self.take(s);
            self.emit_ready(false);
        }
        self.emit_ready(true);
        for sink in &mut self.sinks {
            if let Err(e) = sink.finish() {
                self.errors.push(e.to_string());
            }
        }
        IntervalSeries {
            rows: self.rows,
            errors: self.errors,
            ..IntervalSeries::default()
        }
    }

    fn take(&mut self, s: Box<Snapshot>) {
        let w = s.worker as usize;
        let at = s.at.as_nanos();
        let index = if s.last {
            at / self.period_ns
        } else {
            (at / self.period_ns).saturating_sub(1)
        };
        let n = Recorder::bucket_count();
        let p = self.pending.entry(index).or_insert_with(|| Pending {
            counts: std::array::from_fn(|_| vec![0; n]),
            delta: Counters::default(),
            end_ns: 0,
            partial: false,
        });
        let prev = &self.prev[w];
        for i in 0..Phase::COUNT {
            let (cur, old) = (&s.counts[i], &prev.counts[i]);
            for (j, dst) in p.counts[i][..s.used[i]].iter_mut().enumerate() {
                *dst += cur[j].saturating_sub(old[j]);
            }
        }
        p.delta.merge(&counter_delta(&s.counters, &prev.counters));
        if s.last {
            p.partial = true;
            p.end_ns = p.end_ns.max(at);
            self.done[w] = true;
        }
        self.totals[w].clone_from(&s.counters);
        self.reported[w] = self.reported[w].max(index + u64::from(!s.last));
        // The new snapshot is the worker's previous from now on; the old one goes
        // back to its pool (a worker that has finished no longer needs it).
        let old = std::mem::replace(&mut self.prev[w], s);
        let _ = self.pools[w].try_send(old);
    }

    /// Emits the periods every worker has reported past (all of them at the end).
    fn emit_ready(&mut self, all: bool) {
        let frontier = if all {
            u64::MAX
        } else {
            (0..self.reported.len())
                .map(|w| {
                    if self.done[w] {
                        u64::MAX
                    } else {
                        self.reported[w]
                    }
                })
                .min()
                .unwrap_or(u64::MAX)
        };
        let last = match self.pending.last_key_value() {
            Some((&k, _)) => k,
            None => return,
        };
        let end = frontier.min(last + 1);
        while self.next_emit < end {
            let index = self.next_emit;
            self.next_emit += 1;
            let pending = self.pending.remove(&index);
            self.emit(index, pending);
        }
    }

    fn emit(&mut self, index: u64, pending: Option<Pending>) {
        let start = index * self.period_ns;
        let mut histograms: [Histogram<u64>; Phase::COUNT] =
            std::array::from_fn(|_| Recorder::empty_histogram());
        let (delta, duration) = match pending {
            Some(p) => {
                for (h, counts) in histograms.iter_mut().zip(&p.counts) {
                    for (i, &n) in counts.iter().enumerate() {
                        if n > 0 {
                            h.saturating_record_n(Recorder::bucket_lowest(i), n);
                        }
                    }
                }
                let d = if p.partial {
                    p.end_ns.saturating_sub(start)
                } else {
                    self.period_ns
                };
                (p.delta, d)
            }
            None => (Counters::default(), self.period_ns),
        };
        let mut total = Counters::default();
        for t in &self.totals {
            total.merge(t);
        }
        let iv = Interval {
            index,
            start: Duration::from_nanos(start),
            duration: Duration::from_nanos(duration),
            delta,
            total,
            histograms,
        };
        self.rows.push(iv.row());
        let mut failed = Vec::new();
        for (k, sink) in self.sinks.iter_mut().enumerate() {
            if let Err(e) = sink.interval(&iv) {
                failed.push(k);
                self.errors.push(e.to_string());
            }
        }
        for k in failed.into_iter().rev() {
            self.sinks.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A sink that keeps what it sees.
    struct Keep(Arc<Mutex<Vec<(u64, u64, u64)>>>);
    impl IntervalSink for Keep {
        fn interval(&mut self, iv: &Interval) -> io::Result<()> {
            self.0.lock().unwrap().push((
                iv.index,
                iv.delta.completed,
                iv.histograms[Phase::Connect.index()].len(),
            ));
            Ok(())
        }
    }

    const S: u64 = 1_000_000_000;

    /// Waits until the collector has handed a buffer back (so that the next tick
    /// ships, however the threads are scheduled).
    fn ready(t: &IntervalTap) {
        while t.free.is_empty() {
            std::thread::yield_now();
        }
    }

    #[test]
    fn intervals_add_up_to_the_run_and_come_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut taps, collector) =
            start(2, DEFAULT_PERIOD, vec![Box::new(Keep(Arc::clone(&seen)))]).unwrap();
        let (mut t1, mut t0) = (taps.pop().unwrap(), taps.pop().unwrap());
        let (mut r0, mut r1) = (Recorder::new(), Recorder::new());
        // Worker 0 completes 10 connections a second for 3.5 s; worker 1, 5 a
        // second, and skips the second tick (a worker too busy to tick on time).
        for tenth in 1..=35u64 {
            let now = Instant(tenth * S / 10);
            r0.counters.attempted += 1;
            r0.counters.completed += 1;
            r0.record(Phase::Connect, 1_000 * tenth);
            if tenth % 2 == 0 {
                r1.counters.attempted += 1;
                r1.counters.completed += 1;
                r1.record(Phase::Connect, 2_000_000);
            }
            ready(&t0);
            t0.tick(now, &r0);
            if !(20..30).contains(&tenth) {
                ready(&t1);
                t1.tick(now, &r1);
            }
        }
        t0.finish(Instant(35 * S / 10), &r0);
        t1.finish(Instant(35 * S / 10), &r1);
        let series = collector.finish();
        assert!(series.errors.is_empty());
        let rows = &series.rows;
        assert_eq!(rows.len(), 4, "{rows:?}");
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.t_s, i as f64);
        }
        assert_eq!(rows[3].duration_s, 0.5);
        let completed: u64 = rows.iter().map(|r| r.completed).sum();
        assert_eq!(completed, r0.counters.completed + r1.counters.completed);
        let samples: u64 = rows.iter().map(|r| r.latency_us["connect"].count).sum();
        assert_eq!(
            samples,
            r0.histogram(Phase::Connect).len() + r1.histogram(Phase::Connect).len()
        );
        // The first second: worker 0's 10 (ticks at 0.1..=1.0 s; the tick at
        // 1.0 s closes it) and worker 1's 5.
        assert_eq!(rows[0].completed, 15);
        // Worker 1 missed the tick of 2 s: its second and third seconds land in the third.
        assert_eq!(rows[1].completed, 10);
        assert_eq!(rows[2].completed, 20);
        let seen = seen.lock().unwrap();
        let order: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(order, vec![0, 1, 2, 3]);
        // Merged histograms of the periods are the run's histogram.
        let mut all = Recorder::empty_histogram();
        for r in rows {
            if let Some(e) = r.histograms.get("connect") {
                all.add(encode::decode(e).unwrap()).unwrap();
            }
        }
        let run = Recorder::merged([&r0, &r1]);
        let h = run.histogram(Phase::Connect);
        assert_eq!(all.len(), h.len());
        for q in [0.5, 0.9, 0.99, 1.0] {
            assert_eq!(all.value_at_quantile(q), h.value_at_quantile(q));
        }
    }

    #[test]
    fn a_time_jump_leaves_empty_periods() {
        let (mut taps, collector) = start(1, DEFAULT_PERIOD, Vec::new()).unwrap();
        let mut t = taps.pop().unwrap();
        let mut r = Recorder::new();
        r.counters.attempted = 3;
        r.counters.completed = 3;
        t.tick(Instant(5 * S + 1), &r);
        t.finish(Instant(5 * S + S / 4), &r);
        let series = collector.finish();
        let c: Vec<u64> = series.rows.iter().map(|r| r.completed).collect();
        assert_eq!(c, vec![0, 0, 0, 0, 3, 0]);
    }

    #[test]
    fn a_tap_without_a_buffer_defers_and_loses_nothing() {
        let (mut taps, collector) = start(1, DEFAULT_PERIOD, Vec::new()).unwrap();
        let mut t = taps.pop().unwrap();
        // Steal the pool so that the tick finds none.
        let stolen: Vec<_> = std::iter::from_fn(|| t.free.try_recv().ok()).collect();
        let mut r = Recorder::new();
        r.counters.completed = 7;
        t.tick(Instant(S), &r);
        t.tick(Instant(S + 1), &r);
        assert_eq!(t.deferred, 1);
        for s in stolen {
            t.full.send(s).unwrap();
        }
        r.counters.completed = 9;
        t.finish(Instant(2 * S), &r);
        let series = collector.finish();
        let total: u64 = series.rows.iter().map(|r| r.completed).sum();
        assert_eq!(total, 9);
    }
}
