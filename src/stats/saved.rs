//! Saved runs read back, and runs merged: what `synfin report` works on.
//!
//! A JSON report carries its whole histograms (and each period's) in the
//! HdrHistogram V2 compressed encoding, so a report read back has exactly the
//! histograms of the run, and the merge of several runs — one per generator
//! host, say — is exact: counts add, histograms add bucket by bucket, and the
//! percentiles are those of the merged histograms. An HdrHistogram interval log
//! carries latencies only (no connection counts).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::hlog::Hlog;
use super::interval::{IntervalRow, PhaseLatency};
use super::{Counters, FailCause, LatencySummary, Phase, Recorder, Report, encode};

/// The longest time a saved file may give (a run, a period, an offset in it):
/// 10^9 s, some 31 years. More is a damaged file, and would overflow the clocks.
pub const MAX_SECONDS: f64 = 1e9;

/// `x` seconds (`what` names the field) as a duration, or why it is not one.
pub fn seconds(x: f64, what: &str) -> Result<Duration, String> {
    if x.is_finite() && (0.0..=MAX_SECONDS).contains(&x) {
        Ok(Duration::from_secs_f64(x))
    } else {
        Err(format!(
            "`{what}` ({x}) is not a time between 0 and 10^9 seconds"
        ))
    }
}

fn u64_at(v: &Value, path: &[&str]) -> Result<u64, String> {
    let mut x = v;
    for k in path {
        x = x.get(k).ok_or_else(|| format!("no `{}`", path.join(".")))?;
    }
    x.as_u64()
        .ok_or_else(|| format!("`{}` is not a count", path.join(".")))
}

/// Counters as the report's `connections`, `packets` and `time_wait` objects hold them.
fn counters_from_report(v: &Value) -> Result<Counters, String> {
    let opt = |path: &[&str]| u64_at(v, path).unwrap_or(0);
    let mut c = Counters {
        attempted: u64_at(v, &["connections", "attempted"])?,
        completed: u64_at(v, &["connections", "completed"])?,
        tx_packets: opt(&["packets", "tx"]),
        rx_packets: opt(&["packets", "rx"]),
        tx_bytes: opt(&["packets", "tx_bytes"]),
        rx_bytes: opt(&["packets", "rx_bytes"]),
        retransmitted: opt(&["packets", "retransmitted"]),
        tx_dropped: opt(&["packets", "tx_dropped"]),
        rx_invalid: opt(&["packets", "rx_invalid"]),
        rx_no_conn: opt(&["packets", "rx_no_conn"]),
        rst_sent: opt(&["packets", "rst_sent"]),
        rst_received: opt(&["packets", "rst_received"]),
        challenge_acks: opt(&["packets", "challenge_acks"]),
        paws_rejected: opt(&["packets", "paws_rejected"]),
        tw_entered: opt(&["time_wait", "entered"]),
        tw_peak: opt(&["time_wait", "peak"]),
        tw_current: opt(&["time_wait", "current"]),
        tw_hazard_reuses: opt(&["time_wait", "hazard_reuses"]),
        tw_reused: opt(&["time_wait", "reused"]),
        tw_overflow: opt(&["time_wait", "overflow"]),
        tw_fin_reacked: opt(&["time_wait", "fin_reacked"]),
        deferred_by_cap: opt(&["connections", "deferred_by_cap"]),
        ..Counters::default()
    };
    for cause in FailCause::ALL {
        c.failed[cause.index()] = opt(&["connections", "failed", cause.as_str()]);
    }
    Ok(c)
}

/// Counters as the report's `server` object holds them (the field names).
fn counters_from_fields(v: &Value) -> Counters {
    let f = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut c = Counters {
        attempted: f("attempted"),
        completed: f("completed"),
        tx_packets: f("tx_packets"),
        rx_packets: f("rx_packets"),
        tx_bytes: f("tx_bytes"),
        rx_bytes: f("rx_bytes"),
        retransmitted: f("retransmitted"),
        tx_dropped: f("tx_dropped"),
        rx_invalid: f("rx_invalid"),
        rx_no_conn: f("rx_no_conn"),
        rst_sent: f("rst_sent"),
        rst_received: f("rst_received"),
        challenge_acks: f("challenge_acks"),
        paws_rejected: f("paws_rejected"),
        tw_entered: f("tw_entered"),
        tw_peak: f("tw_peak"),
        tw_current: f("tw_current"),
        tw_hazard_reuses: f("tw_hazard_reuses"),
        tw_reused: f("tw_reused"),
        tw_overflow: f("tw_overflow"),
        tw_fin_reacked: f("tw_fin_reacked"),
        deferred_by_cap: f("deferred_by_cap"),
        ..Counters::default()
    };
    for cause in FailCause::ALL {
        c.failed[cause.index()] = v
            .get("failed")
            .and_then(|x| x.get(cause.as_str()))
            .and_then(Value::as_u64)
            .unwrap_or(0);
    }
    c
}

/// The `notes` of a saved report or sweep (strings; none when absent).
pub fn notes_of(v: &Value) -> Vec<String> {
    v.get("notes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A report read back from its JSON (what `synfin run --format json` printed).
pub fn report_from_json(v: &Value) -> Result<Report, String> {
    let hist = v
        .get("histograms")
        .ok_or("no `histograms`: the report was made by a synfin without them and cannot be merged exactly")?;
    if let Some(enc) = hist.get("encoding").and_then(Value::as_str)
        && enc != encode::ENCODING
    {
        return Err(format!("unknown histogram encoding `{enc}`"));
    }
    let mut rec = Recorder::new();
    for p in Phase::ALL {
        let text = hist
            .get("phases")
            .and_then(|x| x.get(p.as_str()))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no `histograms.phases.{p}`"))?;
        let h = encode::decode(text).map_err(|e| format!("histograms.phases.{p}: {e}"))?;
        rec.add_histogram(p, &h);
    }
    rec.counters = counters_from_report(v)?;
    let duration_s = v
        .get("duration_s")
        .and_then(Value::as_f64)
        .ok_or("no `duration_s`")?;
    let mut r = Report::new(
        rec,
        v.get("io").and_then(Value::as_str).unwrap_or("unknown"),
        seconds(duration_s, "duration_s")?,
    );
    r.config = v.get("config").cloned().unwrap_or(Value::Null);
    r.server = v
        .get("server")
        .filter(|s| !s.is_null())
        .map(counters_from_fields);
    r.notes = notes_of(v);
    if let Some(iv) = v.get("intervals") {
        if let Some(p) = iv.get("period_s").and_then(Value::as_f64)
            && p > 0.0
        {
            r.interval = seconds(p, "intervals.period_s")?;
        }
        if let Some(rows) = iv.get("rows") {
            r.intervals =
                serde_json::from_value(rows.clone()).map_err(|e| format!("intervals.rows: {e}"))?;
        }
        for (i, row) in r.intervals.iter().enumerate() {
            seconds(row.t_s, &format!("intervals.rows[{i}].t_s"))?;
            seconds(row.duration_s, &format!("intervals.rows[{i}].duration_s"))?;
        }
    }
    r.started = started_of(v);
    Ok(r)
}

/// The `started_unix_s` of a saved run or sweep. Unix time: up to the year 5000 or
/// so; a start out of range (or none) is None.
pub fn started_of(v: &Value) -> Option<SystemTime> {
    v.get("started_unix_s")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && (0.0..1e11).contains(t))
        .map(|t| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t))
}

/// A report of an HdrHistogram interval log: the phases' latencies (tags `connect`,
/// `ttfb`, `close`, `lifecycle`; others are ignored), one row per period, and no
/// connection counts.
pub fn report_from_hlog(log: &Hlog) -> Report {
    let mut rec = Recorder::new();
    let mut end = Duration::ZERO;
    let mut rows: BTreeMap<u64, [Option<hdrhistogram::Histogram<u64>>; Phase::COUNT]> =
        BTreeMap::new();
    let mut durations: BTreeMap<u64, Duration> = BTreeMap::new();
    for iv in &log.intervals {
        let Some(p) = Phase::ALL
            .into_iter()
            .find(|p| iv.tag.as_deref() == Some(p.as_str()))
        else {
            continue;
        };
        rec.add_histogram(p, &iv.histogram);
        end = end.max(iv.start + iv.duration);
        let index = (iv.start.as_secs_f64() + 1e-6).floor() as u64;
        let slot = &mut rows.entry(index).or_default()[p.index()];
        match slot {
            Some(h) => encode::add_clamped(h, &iv.histogram),
            None => *slot = Some(iv.histogram.clone()),
        }
        let d = durations.entry(index).or_default();
        *d = (*d).max(iv.duration);
    }
    let mut r = Report::new(rec, "hlog", end);
    r.intervals = rows
        .into_iter()
        .map(|(index, hs)| {
            let mut row = IntervalRow {
                t_s: index as f64,
                duration_s: durations[&index].as_secs_f64(),
                ..IntervalRow::default()
            };
            for p in Phase::ALL {
                let h = hs[p.index()]
                    .clone()
                    .unwrap_or_else(Recorder::empty_histogram);
                set_latency(&mut row, p, &h);
            }
            row
        })
        .collect();
    r.started = log.start_time.map(|t| SystemTime::UNIX_EPOCH + t);
    r.notes.push(
        "read from an HdrHistogram interval log: latencies only (the log holds no connection counts)"
            .into(),
    );
    r
}

/// The steps of a capacity sweep's log: the `step-<rate>` of its tags
/// `step-<rate>/<phase>`, in the order they first appear (none: not a sweep's log).
pub fn hlog_steps(log: &Hlog) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    for iv in &log.intervals {
        if let Some((step, _)) = split_step_tag(iv.tag.as_deref())
            && !steps.iter().any(|s| s == step)
        {
            steps.push(step.to_owned());
        }
    }
    steps
}

/// `step-<rate>/<phase>` split in its step and its phase.
fn split_step_tag(tag: Option<&str>) -> Option<(&str, Phase)> {
    let (step, phase) = tag?.split_once('/')?;
    let phase = Phase::ALL.into_iter().find(|p| p.as_str() == phase)?;
    step.starts_with("step-").then_some((step, phase))
}

/// One step (`step-<rate>`) of a capacity sweep's log as the log of a run: its
/// intervals tagged by phase, timestamps from the step's first interval (the
/// log's start time moved there too).
pub fn hlog_step(log: Hlog, step: &str) -> Hlog {
    let mut intervals: Vec<_> = log
        .intervals
        .into_iter()
        .filter_map(|mut iv| {
            let (s, phase) = split_step_tag(iv.tag.as_deref())?;
            (s == step).then(|| {
                iv.tag = Some(phase.as_str().to_owned());
                iv
            })
        })
        .collect();
    let first = intervals
        .iter()
        .map(|iv| iv.start)
        .min()
        .unwrap_or_default();
    for iv in &mut intervals {
        iv.start -= first;
    }
    Hlog {
        start_time: log.start_time.map(|t| t + first),
        intervals,
    }
}

fn set_latency(row: &mut IntervalRow, p: Phase, h: &hdrhistogram::Histogram<u64>) {
    row.latency_us.insert(
        p.as_str().to_owned(),
        PhaseLatency::of(&LatencySummary::of(h)),
    );
    if h.is_empty() {
        row.histograms.remove(p.as_str());
    } else {
        row.histograms
            .insert(p.as_str().to_owned(), encode::encode(h));
    }
}

/// Adds row `b` (of another run, same period) into `a`.
fn merge_row(a: &mut IntervalRow, b: &IntervalRow) -> Result<(), String> {
    a.duration_s = a.duration_s.max(b.duration_s);
    a.attempted += b.attempted;
    a.completed += b.completed;
    a.failed += b.failed;
    for (k, n) in &b.failed_by {
        *a.failed_by.entry(k.clone()).or_default() += n;
    }
    a.in_flight += b.in_flight;
    a.time_wait += b.time_wait;
    a.tx_packets += b.tx_packets;
    a.rx_packets += b.rx_packets;
    a.retransmitted += b.retransmitted;
    a.cps = if a.duration_s > 0.0 {
        (a.completed as f64 / a.duration_s * 1000.0).round() / 1000.0
    } else {
        0.0
    };
    for p in Phase::ALL {
        let mut h = Recorder::empty_histogram();
        for row in [&*a, b] {
            if let Some(text) = row.histograms.get(p.as_str()) {
                let x = encode::decode(text).map_err(|e| format!("an interval's {p}: {e}"))?;
                encode::add_clamped(&mut h, &x);
            }
        }
        set_latency(a, p, &h);
    }
    Ok(())
}

/// The merge of several runs (`(name, report)`, e.g. one per generator host that
/// ran at the same time): counters and histograms add, exactly; the duration is
/// the longest; periods are matched by their position from each run's start.
pub fn merge(runs: Vec<(String, Report)>) -> Result<Report, String> {
    if runs.len() == 1 {
        return Ok(runs.into_iter().next().expect("one run").1);
    }
    let mut runs = runs.into_iter();
    let (first_name, first) = runs.next().ok_or("nothing to merge")?;
    let mut sources = vec![source(&first_name, &first)];
    let mut out = first;
    out.notes = out
        .notes
        .iter()
        .map(|n| format!("[{first_name}] {n}"))
        .collect();
    for (name, r) in runs {
        sources.push(source(&name, &r));
        if out.interval != r.interval && !r.intervals.is_empty() && !out.intervals.is_empty() {
            return Err(format!(
                "{name}: its period ({:?}) is not the others' ({:?})",
                r.interval, out.interval
            ));
        }
        out.recorder.merge(&r.recorder);
        out.duration = out.duration.max(r.duration);
        if out.io != r.io {
            out.io = format!("{}+{}", out.io, r.io);
        }
        out.server = match (out.server.take(), &r.server) {
            (Some(mut a), Some(b)) => {
                a.merge(b);
                Some(a)
            }
            (a, b) => a.or_else(|| b.clone()),
        };
        out.notes
            .extend(r.notes.iter().map(|n| format!("[{name}] {n}")));
        out.started = match (out.started, r.started) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let period = out.interval.as_secs_f64().max(1e-9);
        let mut by_index: BTreeMap<u64, IntervalRow> = out
            .intervals
            .drain(..)
            .map(|row| ((row.t_s / period).round() as u64, row))
            .collect();
        for row in &r.intervals {
            let i = (row.t_s / period).round() as u64;
            match by_index.get_mut(&i) {
                Some(a) => merge_row(a, row)?,
                None => {
                    by_index.insert(i, row.clone());
                }
            }
        }
        out.intervals = by_index.into_values().collect();
    }
    let n = sources.len();
    let mut head = vec![format!(
        "the merge of {n} runs: counts and histograms added, duration the longest"
    )];
    head.extend(sources.iter().map(|s| {
        format!(
            "[{}] io {}, {:.3} s, {} completed",
            s["file"].as_str().unwrap_or("?"),
            s["io"].as_str().unwrap_or("?"),
            s["duration_s"].as_f64().unwrap_or(0.0),
            s["completed"]
        )
    }));
    out.notes.splice(0..0, head);
    out.config = json!({ "merged_from": sources });
    Ok(out)
}

fn source(name: &str, r: &Report) -> Value {
    json!({
        "file": name,
        "io": r.io,
        "duration_s": r.duration_s(),
        "completed": r.counters().completed,
        "config": r.config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(completed: u64, latency_ns: u64, rows: usize) -> Report {
        let mut rec = Recorder::new();
        rec.counters.attempted = completed;
        rec.counters.completed = completed;
        for _ in 0..completed {
            rec.record(Phase::Connect, latency_ns);
        }
        let mut r = Report::new(rec, "mem", Duration::from_secs(rows as u64));
        let mut h = Recorder::empty_histogram();
        h.record_n(latency_ns, completed / rows as u64).unwrap();
        r.intervals = (0..rows)
            .map(|i| {
                let mut row = IntervalRow {
                    t_s: i as f64,
                    duration_s: 1.0,
                    completed: completed / rows as u64,
                    ..IntervalRow::default()
                };
                set_latency(&mut row, Phase::Connect, &h);
                row
            })
            .collect();
        r
    }

    #[test]
    fn merged_rows_add_and_take_the_merged_percentiles() {
        let m = merge(vec![
            ("a".into(), run(100, 1_000_000, 2)),
            ("b".into(), run(300, 9_000_000, 3)),
        ])
        .unwrap();
        assert_eq!(m.counters().completed, 400);
        assert_eq!(m.duration, Duration::from_secs(3));
        let c: Vec<u64> = m.intervals.iter().map(|r| r.completed).collect();
        assert_eq!(c, vec![150, 150, 100]);
        // Second 0: 50 samples at 1 ms and 100 at 9 ms: the median is 9 ms.
        let l = m.intervals[0].latency_us["connect"];
        assert_eq!(l.count, 150);
        assert!((l.p50 - 9_000.0).abs() < 10.0, "{l:?}");
        assert_eq!(m.intervals[0].cps, 150.0);
        assert_eq!(m.config["merged_from"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn runs_of_different_periods_do_not_merge() {
        let mut b = run(10, 1_000, 1);
        b.interval = Duration::from_secs(10);
        assert!(merge(vec![("a".into(), run(10, 1_000, 1)), ("b".into(), b)]).is_err());
    }

    #[test]
    fn one_step_of_a_sweeps_log_is_a_run_from_zero() {
        use super::super::hlog::HlogInterval;
        let iv = |tag: &str, start: u64| HlogInterval {
            tag: Some(tag.into()),
            start: Duration::from_millis(start),
            duration: Duration::from_secs(1),
            histogram: Recorder::empty_histogram(),
        };
        let log = Hlog {
            start_time: Some(Duration::from_secs(100)),
            intervals: vec![
                iv("step-500/connect", 0),
                iv("step-500/ttfb", 0),
                iv("step-1000/connect", 1_500),
                iv("step-1000/bogus", 1_500),
                iv("other-7/connect", 1_500),
                iv("step-1000/connect", 2_500),
            ],
        };
        assert_eq!(hlog_steps(&log), ["step-500", "step-1000"]);
        let one = hlog_step(log, "step-1000");
        assert_eq!(one.start_time, Some(Duration::from_millis(101_500)));
        let got: Vec<(Option<&str>, u64)> = one
            .intervals
            .iter()
            .map(|i| (i.tag.as_deref(), i.start.as_millis() as u64))
            .collect();
        assert_eq!(got, [(Some("connect"), 0), (Some("connect"), 1_000)]);
    }

    #[test]
    fn a_report_without_histograms_is_refused() {
        let mut v = Report::new(Recorder::new(), "mem", Duration::from_secs(1)).to_json();
        v.as_object_mut().unwrap().remove("histograms");
        assert!(report_from_json(&v).unwrap_err().contains("histograms"));
    }

    #[test]
    fn plots_of_an_empty_run_are_written() {
        let dir = std::env::temp_dir().join(format!("synfin-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = Report::new(Recorder::new(), "mem", Duration::ZERO);
        crate::plot::write_all(&r, &dir).unwrap();
        for f in crate::plot::FILES {
            assert!(dir.join(f).exists(), "{f}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
