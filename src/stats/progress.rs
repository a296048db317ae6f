//! Live progress: one line per period on stderr while a run goes.
//!
//! `[   3s] cps 12345 | in flight 1024 | failed 0 (+0) | connect p99 1.23ms | time-wait 45678`:
//! completed connections per second over the period, connections open at its end,
//! failures so far (and in the period), the period's connect p99, and the
//! TIME-WAIT records held (synfin's own; with kernel sockets the kernel holds
//! them, and the field is left out).

use std::io::{self, Write};

use super::interval::{Interval, IntervalSink};
use super::report::human_nanos;
use super::{Counters, Phase};

/// Writes one progress line per interval.
pub struct ProgressSink<W: Write + Send> {
    out: W,
    /// Whether the TIME-WAIT count means something (synfin's own TCP).
    time_wait: bool,
    failed: u64,
}

impl<W: Write + Send> ProgressSink<W> {
    /// A sink writing to `out` (stderr, usually).
    pub fn new(out: W, time_wait: bool) -> Self {
        ProgressSink {
            out,
            time_wait,
            failed: 0,
        }
    }
}

/// The progress line of `iv` (without its newline); `failed_before` is the
/// failures of the run before it.
pub fn line(iv: &Interval, failed_before: u64, time_wait: bool) -> String {
    let d: &Counters = &iv.delta;
    let h = &iv.histograms[Phase::Connect.index()];
    let p99 = if h.is_empty() {
        "-".to_owned()
    } else {
        human_nanos(h.value_at_quantile(0.99) as f64)
    };
    let end = (iv.start + iv.duration).as_secs_f64();
    let mut l = format!(
        "[{end:>7.1}s] cps {:.0} | in flight {} | failed {} (+{}) | connect p99 {p99}",
        iv.cps(),
        iv.total.in_flight(),
        failed_before + d.failed_total(),
        d.failed_total(),
    );
    if time_wait {
        l.push_str(&format!(" | time-wait {}", iv.total.tw_current));
    }
    l
}

impl<W: Write + Send> IntervalSink for ProgressSink<W> {
    fn interval(&mut self, iv: &Interval) -> io::Result<()> {
        let l = line(iv, self.failed, self.time_wait);
        self.failed += iv.delta.failed_total();
        writeln!(self.out, "{l}")
    }
}
