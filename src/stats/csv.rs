//! `--csv FILE`: one row per second (per interval) of the run.
//!
//! Columns, in order: `t_s` (start of the period, seconds from the run's start),
//! `duration_s`, `attempted`, `completed`, `failed` (all in the period),
//! `in_flight` and `time_wait` (at its end), `cps`, `tx_packets`, `rx_packets`,
//! `retransmitted`, one `failed_<cause>` column per failure cause, then for each
//! phase (`connect`, `ttfb`, `close`, `lifecycle`) `<phase>_count` and
//! `<phase>_{p50,p90,p99,p999,max,mean}_us`. Latencies are microseconds with 3
//! decimals; a phase without samples in a period has count 0 and empty latencies.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::interval::{Interval, IntervalRow, IntervalSink};
use super::{FailCause, Phase};

/// The header line (without its newline).
pub fn header() -> String {
    let mut h = String::from(
        "t_s,duration_s,attempted,completed,failed,in_flight,time_wait,cps,tx_packets,rx_packets,retransmitted",
    );
    for c in FailCause::ALL {
        let _ = write!(h, ",failed_{}", c.as_str());
    }
    for p in Phase::ALL {
        let _ = write!(h, ",{p}_count");
        for q in ["p50", "p90", "p99", "p999", "max", "mean"] {
            let _ = write!(h, ",{p}_{q}_us");
        }
    }
    h
}

/// One interval's row (without its newline).
pub fn row(iv: &Interval) -> String {
    row_of(&iv.row())
}

/// The row of a saved period (without its newline): what `synfin report --csv`
/// writes for saved or merged runs.
pub fn row_of(r: &IntervalRow) -> String {
    let mut out = format!(
        "{:.3},{:.3},{},{},{},{},{},{:.1},{},{},{}",
        r.t_s,
        r.duration_s,
        r.attempted,
        r.completed,
        r.failed,
        r.in_flight,
        r.time_wait,
        r.cps,
        r.tx_packets,
        r.rx_packets,
        r.retransmitted
    );
    for c in FailCause::ALL {
        let _ = write!(
            out,
            ",{}",
            r.failed_by.get(c.as_str()).copied().unwrap_or(0)
        );
    }
    for p in Phase::ALL {
        let l = r.latency_us.get(p.as_str()).copied().unwrap_or_default();
        let _ = write!(out, ",{}", l.count);
        for v in [l.p50, l.p90, l.p99, l.p999, l.max, l.mean] {
            if l.count == 0 {
                out.push(',');
            } else {
                let _ = write!(out, ",{v:.3}");
            }
        }
    }
    out
}

/// The whole CSV of saved periods, header first.
pub fn table(rows: &[IntervalRow]) -> String {
    let mut out = header();
    out.push('\n');
    for r in rows {
        out.push_str(&row_of(r));
        out.push('\n');
    }
    out
}

/// Writes the CSV to any writer (a file, usually), header first.
pub struct CsvSink<W: Write + Send> {
    out: W,
    started: bool,
}

impl<W: Write + Send> CsvSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        CsvSink {
            out,
            started: false,
        }
    }
}

impl<W: Write + Send> IntervalSink for CsvSink<W> {
    fn interval(&mut self, iv: &Interval) -> io::Result<()> {
        if !self.started {
            self.started = true;
            writeln!(self.out, "{}", header())?;
        }
        writeln!(self.out, "{}", row(iv))
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            writeln!(self.out, "{}", header())?;
        }
        self.out.flush()
    }
}
