//! The run report: merged measurements plus what the run was made with, as JSON
//! (a stable schema) or as text for people.
//!
//! # JSON schema
//!
//! [`Report::to_json`] returns one object; tools downstream rely on these names.
//! Latencies are microseconds as numbers with 3 decimals (ns resolution).
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `synfin_version` | string | crate version that produced the report |
//! | `io` | string | I/O backend (`xdp`, `mem`, `kernel`, …) |
//! | `config` | any | the options of the run, as the caller gave them |
//! | `duration_s` | number | measured run time, seconds |
//! | `connections.attempted` | integer | attempts started |
//! | `connections.completed` | integer | attempts that finished their lifecycle |
//! | `connections.failed.<cause>` | integer | failures per [`FailCause`] name; every cause present |
//! | `connections.in_flight` | integer | attempted − completed − failed (saturating) |
//! | `connections.deferred_by_cap` | integer | open loop: scheduled connections that waited for the concurrency cap (started late; not an outcome) |
//! | `cps` | number | completed / duration_s (0 when the duration is 0) |
//! | `latency_us.<phase>.count` | integer | samples of the [`Phase`] |
//! | `latency_us.<phase>.{p50,p90,p99,p999,max,mean}` | number | µs; all 0 when count is 0 |
//! | `packets.{tx,rx}` | integer | frames sent / received |
//! | `packets.{retransmitted,tx_dropped,rx_invalid,rx_no_conn}` | integer | see [`Counters`] |
//! | `packets.{rst_sent,rst_received,challenge_acks,paws_rejected}` | integer | see [`Counters`] |
//! | `time_wait.{entered,peak,current,hazard_reuses,reused,overflow,fin_reacked}` | integer | the `tw_*` [`Counters`]; `peak` is the sum of per-worker peaks |
//! | `server` | object or null | the server's own [`Counters`] (the built-in server, or the kernel-socket DUT of a demo) (their field names, `failed` keyed by cause) |
//! | `notes` | array of strings | remarks about the run |
//! | `packets.{tx_bytes,rx_bytes}` | integer | whole frames' bytes sent / received |
//! | `histograms.{encoding,unit}` | string | `hdrhistogram-v2-deflate-base64`, `ns` |
//! | `histograms.phases.<phase>` | string | the phase's whole histogram, encoded (exact merges) |
//! | `intervals.period_s` | number | length of a period (1 s) |
//! | `intervals.rows[]` | array | one [`IntervalRow`] per period: counts of the period, gauges at its end, latency summaries and encoded histograms |
//! | `started_unix_s` | number or null | wall-clock start of the run |
//!
//! results/schema.json is the JSON Schema (draft 2020-12) of this object.
//!
//! Phases are `connect`, `ttfb`, `close`, `lifecycle`. Percentiles are
//! HdrHistogram values (the highest value equivalent to the sample at that rank,
//! within 0.1 %); `max` likewise.

use std::fmt::{self, Write as _};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use super::interval::IntervalRow;
use super::{Counters, FailCause, Phase, Recorder, encode};

/// Summary of one phase's histogram, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median, ns.
    pub p50: u64,
    /// 90th percentile, ns.
    pub p90: u64,
    /// 99th percentile, ns.
    pub p99: u64,
    /// 99.9th percentile, ns.
    pub p999: u64,
    /// Largest sample (its highest equivalent value), ns.
    pub max: u64,
    /// Mean, ns.
    pub mean: f64,
}

impl LatencySummary {
    /// Summarizes a histogram of nanoseconds; all zero when it is empty.
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// A finished run: the merged [`Recorder`] of all workers and what the run was.
///
/// Build it with [`Report::new`] and fill the public fields the caller knows.
#[derive(Clone, Debug)]
pub struct Report {
    /// All workers' recorders merged (see [`Recorder::merged`]).
    pub recorder: Recorder,
    /// Name of the I/O backend the run used.
    pub io: String,
    /// Measured duration of the run.
    pub duration: Duration,
    /// The options the run was made with, as the caller wants them reported.
    pub config: Value,
    /// The server's own counters, when synfin ran it (built-in or kernel-socket DUT).
    pub server: Option<Counters>,
    /// Remarks shown at the end of the report (warnings, DUT settings read, …).
    pub notes: Vec<String>,
    /// One row per period of the run (see [`super::interval`]); empty when none
    /// were collected.
    pub intervals: Vec<IntervalRow>,
    /// The length of a period of `intervals`.
    pub interval: Duration,
    /// Wall-clock start of the run, when known.
    pub started: Option<std::time::SystemTime>,
}

impl Report {
    /// A report of `recorder` over `duration`, with an empty `config` object,
    /// no server and no notes.
    pub fn new(recorder: Recorder, io: impl Into<String>, duration: Duration) -> Report {
        Report {
            recorder,
            io: io.into(),
            duration,
            config: Value::Object(Map::new()),
            server: None,
            notes: Vec::new(),
            intervals: Vec::new(),
            interval: super::interval::DEFAULT_PERIOD,
            started: None,
        }
    }

    /// The merged counters of the tester's workers.
    pub fn counters(&self) -> &Counters {
        &self.recorder.counters
    }

    /// The measured duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.duration.as_secs_f64()
    }

    /// Completed connections per second; 0 when the duration is 0.
    pub fn cps(&self) -> f64 {
        let secs = self.duration_s();
        if secs > 0.0 {
            self.counters().completed as f64 / secs
        } else {
            0.0
        }
    }

    /// The latency summary of `phase`.
    pub fn latency(&self, phase: Phase) -> LatencySummary {
        LatencySummary::of(&self.recorder.histogram(phase))
    }

    /// The machine-readable report; see the module documentation for the schema.
    pub fn to_json(&self) -> Value {
        let c = self.counters();
        let mut latency = Map::new();
        for phase in Phase::ALL {
            let s = self.latency(phase);
            latency.insert(
                phase.as_str().to_owned(),
                json!({
                    "count": s.count,
                    "p50": micros(s.p50 as f64),
                    "p90": micros(s.p90 as f64),
                    "p99": micros(s.p99 as f64),
                    "p999": micros(s.p999 as f64),
                    "max": micros(s.max as f64),
                    "mean": micros(s.mean),
                }),
            );
        }
        json!({
            "synfin_version": env!("CARGO_PKG_VERSION"),
            "io": self.io,
            "config": self.config,
            "duration_s": self.duration_s(),
            "connections": {
                "attempted": c.attempted,
                "completed": c.completed,
                "failed": failed_object(c),
                "in_flight": c.in_flight(),
                "deferred_by_cap": c.deferred_by_cap,
            },
            "cps": self.cps(),
            "latency_us": latency,
            "packets": {
                "tx": c.tx_packets,
                "rx": c.rx_packets,
                "retransmitted": c.retransmitted,
                "tx_dropped": c.tx_dropped,
                "rx_invalid": c.rx_invalid,
                "rx_no_conn": c.rx_no_conn,
                "rst_sent": c.rst_sent,
                "rst_received": c.rst_received,
                "challenge_acks": c.challenge_acks,
                "paws_rejected": c.paws_rejected,
                "tx_bytes": c.tx_bytes,
                "rx_bytes": c.rx_bytes,
            },
            "time_wait": {
                "entered": c.tw_entered,
                "peak": c.tw_peak,
                "current": c.tw_current,
                "hazard_reuses": c.tw_hazard_reuses,
                "reused": c.tw_reused,
                "overflow": c.tw_overflow,
                "fin_reacked": c.tw_fin_reacked,
            },
            "server": self.server.as_ref().map(|s| {
                serde_json::to_value(s).expect("Counters serialize to JSON")
            }),
            "notes": self.notes,
            "histograms": self.histograms_json(),
            "intervals": {
                "period_s": self.interval.as_secs_f64(),
                "rows": self.intervals,
            },
            "started_unix_s": self.started.and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| round3(d.as_secs_f64()))
            }),
        })
    }

    /// The whole histograms, so that saved reports merge exactly (`synfin report`).
    fn histograms_json(&self) -> Value {
        let mut phases = Map::new();
        for phase in Phase::ALL {
            phases.insert(
                phase.as_str().to_owned(),
                encode::encode(&self.recorder.histogram(phase)).into(),
            );
        }
        json!({ "encoding": encode::ENCODING, "unit": "ns", "phases": phases })
    }

    /// The report for people: aligned sections, latencies in human units.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let c = self.counters();
        line(
            &mut out,
            format_args!(
                "synfin {}  |  io: {}  |  duration: {:.3} s  |  cps: {:.1}",
                env!("CARGO_PKG_VERSION"),
                self.io,
                self.duration_s(),
                self.cps()
            ),
        );
        out.push('\n');
        text_connections(&mut out, c, "");
        out.push('\n');
        text_latency(&mut out, &self.recorder);
        out.push('\n');
        text_packets(&mut out, c, "");
        out.push('\n');
        text_time_wait(&mut out, c, "");
        if let Some(s) = &self.server {
            out.push('\n');
            line(&mut out, "server (its own counters)");
            text_connections(&mut out, s, "  ");
            if counts_bytes_only(s) {
                text_socket_bytes(&mut out, s, "  ");
            } else {
                text_packets(&mut out, s, "  ");
                text_time_wait(&mut out, s, "  ");
            }
        }
        if !self.notes.is_empty() {
            out.push('\n');
            line(&mut out, "notes");
            for n in &self.notes {
                line(&mut out, format_args!("  - {n}"));
            }
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Every cause name → count (zeros included, so tools never miss a key).
fn failed_object(c: &Counters) -> Value {
    let mut m = Map::new();
    for cause in FailCause::ALL {
        m.insert(cause.as_str().to_owned(), c.failed_by(cause).into());
    }
    Value::Object(m)
}

/// Rounds to 3 decimals.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Nanoseconds → microseconds with 3 decimals.
fn micros(nanos: f64) -> f64 {
    round3(nanos / 1000.0)
}

fn line(out: &mut String, s: impl fmt::Display) {
    // Writing into a String cannot fail.
    let _ = writeln!(out, "{s}");
}

/// Width of a label in the key/value sections.
const LABEL: usize = 16;
/// Width of a value in the key/value sections.
const VALUE: usize = 12;

/// `part` of `whole` as a percentage column, blank when `whole` is 0.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        String::new()
    } else {
        format!("  {:>7.3}%", part as f64 * 100.0 / whole as f64)
    }
}

fn text_connections(out: &mut String, c: &Counters, indent: &str) {
    line(out, format_args!("{indent}connections"));
    let total = c.attempted;
    let row = |out: &mut String, label: &str, n: u64, pct: bool| {
        let p = if pct {
            percent(n, total)
        } else {
            String::new()
        };
        line(out, format_args!("{indent}  {label:<LABEL$}{n:>VALUE$}{p}"));
    };
    row(out, "attempted", c.attempted, false);
    row(out, "completed", c.completed, true);
    row(out, "failed", c.failed_total(), true);
    for cause in FailCause::ALL {
        let n = c.failed_by(cause);
        if n > 0 {
            let label = format!("  {cause}");
            row(out, &label, n, true);
        }
    }
    row(out, "in flight", c.in_flight(), true);
    if c.deferred_by_cap > 0 {
        // Not an outcome: these started late, once the cap let them.
        row(out, "waited for cap", c.deferred_by_cap, true);
    }
}

fn text_latency(out: &mut String, rec: &Recorder) {
    const W: usize = 10;
    line(
        out,
        format_args!(
            "{:<14}{:>12}{:>W$}{:>W$}{:>W$}{:>W$}{:>W$}{:>W$}",
            "latency", "count", "p50", "p90", "p99", "p99.9", "max", "mean"
        ),
    );
    for phase in Phase::ALL {
        let s = LatencySummary::of(&rec.histogram(phase));
        let cols: [String; 6] = if s.count == 0 {
            std::array::from_fn(|_| "-".to_owned())
        } else {
            [
                human_nanos(s.p50 as f64),
                human_nanos(s.p90 as f64),
                human_nanos(s.p99 as f64),
                human_nanos(s.p999 as f64),
                human_nanos(s.max as f64),
                human_nanos(s.mean),
            ]
        };
        let [p50, p90, p99, p999, max, mean] = &cols;
        line(
            out,
            format_args!(
                "  {:<12}{:>12}{p50:>W$}{p90:>W$}{p99:>W$}{p999:>W$}{max:>W$}{mean:>W$}",
                phase, s.count
            ),
        );
    }
}

/// Key/value cells, two per line, aligned.
fn grid(out: &mut String, indent: &str, cells: &[(&str, String)]) {
    for pair in cells.chunks(2) {
        let mut l = String::from(indent);
        for (i, (label, value)) in pair.iter().enumerate() {
            if i > 0 {
                l.push_str("    ");
            }
            let _ = write!(l, "  {label:<LABEL$}{value:>VALUE$}");
        }
        line(out, l);
    }
}

fn text_packets(out: &mut String, c: &Counters, indent: &str) {
    line(out, format_args!("{indent}packets"));
    grid(
        out,
        indent,
        &[
            ("tx", c.tx_packets.to_string()),
            ("rx", c.rx_packets.to_string()),
            ("tx bytes", human_bytes(c.tx_bytes)),
            ("rx bytes", human_bytes(c.rx_bytes)),
            ("retransmitted", c.retransmitted.to_string()),
            ("tx dropped", c.tx_dropped.to_string()),
            ("rx invalid", c.rx_invalid.to_string()),
            ("rx no conn", c.rx_no_conn.to_string()),
            ("rst sent", c.rst_sent.to_string()),
            ("rst received", c.rst_received.to_string()),
            ("challenge acks", c.challenge_acks.to_string()),
            ("paws rejected", c.paws_rejected.to_string()),
        ],
    );
}

/// Whether `c` is a kernel-socket server's: it moved payload but counted no packet
/// (a socket sees bytes; its segments, retransmissions, RSTs and TIME-WAIT are the
/// kernel's, which a demo's notes give from the DUT's own counters). A server that
/// counts segments counts one with every byte.
fn counts_bytes_only(c: &Counters) -> bool {
    c.tx_packets == 0 && c.rx_packets == 0 && (c.tx_bytes > 0 || c.rx_bytes > 0)
}

/// What a kernel-socket server counts besides connections: the payload it moved.
fn text_socket_bytes(out: &mut String, c: &Counters, indent: &str) {
    line(
        out,
        format_args!("{indent}payload (packets and TIME-WAIT are the kernel's: see the notes)"),
    );
    grid(
        out,
        indent,
        &[
            ("tx bytes", human_bytes(c.tx_bytes)),
            ("rx bytes", human_bytes(c.rx_bytes)),
        ],
    );
}

fn text_time_wait(out: &mut String, c: &Counters, indent: &str) {
    line(out, format_args!("{indent}time-wait"));
    grid(
        out,
        indent,
        &[
            ("entered", c.tw_entered.to_string()),
            ("peak (summed)", c.tw_peak.to_string()),
            ("current", c.tw_current.to_string()),
            ("overflow", c.tw_overflow.to_string()),
            ("reused (legal)", c.tw_reused.to_string()),
            ("hazard reuses", c.tw_hazard_reuses.to_string()),
            ("fin re-acked", c.tw_fin_reacked.to_string()),
        ],
    );
}

/// Rounds a positive number to 3 significant figures.
fn round_sig3(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(2 - x.log10().floor() as i32);
    (x * scale).round() / scale
}

/// A latency in nanoseconds with 3 significant figures in the unit that keeps
/// it under 1000: `850ns`→`0.850us`, `12.3us`, `4.56ms`, `1.20s`.
pub(crate) fn human_nanos(nanos: f64) -> String {
    if nanos.is_nan() || nanos <= 0.0 {
        return "0us".to_owned();
    }
    const UNITS: [(&str, f64); 3] = [("us", 1e3), ("ms", 1e6), ("s", 1e9)];
    let mut chosen = (UNITS[2].0, round_sig3(nanos / UNITS[2].1));
    for (unit, scale) in UNITS {
        let v = round_sig3(nanos / scale);
        if v < 1000.0 {
            chosen = (unit, v);
            break;
        }
    }
    let (unit, v) = chosen;
    let decimals = if v < 1.0 {
        3
    } else if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.decimals$}{unit}")
}

/// A byte count in decimal units: `512 B`, `1.50 kB`, `148.1 MB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    if v < 10.0 {
        format!("{v:.2} {unit}")
    } else if v < 100.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_nanos_picks_the_unit_per_value() {
        assert_eq!(human_nanos(12_300.0), "12.3us");
        assert_eq!(human_nanos(4_560_000.0), "4.56ms");
        assert_eq!(human_nanos(850.0), "0.850us");
        assert_eq!(human_nanos(1.0), "0.001us");
        assert_eq!(human_nanos(123_456.0), "123us");
        assert_eq!(human_nanos(999_600.0), "1.00ms", "rounding moves up a unit");
        assert_eq!(human_nanos(1_200_000_000.0), "1.20s");
        assert_eq!(human_nanos(3_600e9), "3600s");
        assert_eq!(human_nanos(0.0), "0us");
    }

    #[test]
    fn human_bytes_uses_decimal_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.50 kB");
        assert_eq!(human_bytes(148_100_000), "148 MB");
        assert_eq!(human_bytes(14_810_000), "14.8 MB");
    }

    #[test]
    fn cps_is_zero_for_a_zero_duration() {
        let mut r = Recorder::new();
        r.counters.completed = 10;
        let rep = Report::new(r, "mem", Duration::ZERO);
        assert_eq!(rep.cps(), 0.0);
        assert_eq!(rep.to_json()["cps"], 0.0);
    }
}
