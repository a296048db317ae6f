//! Load shapes beyond a fixed rate: `--ramp` (an open-loop rate that grows or
//! falls linearly) and step sweeps (`--steps` with `--slo`) that find the highest
//! rate at which the DUT still completes every connection within a latency bound —
//! its connection-setup capacity.
//!
//! A sweep is a series of ordinary open-loop runs, one per step, each with its own
//! report, so each step's accounting and histograms stand on their own. A step
//! passes when every connection it scheduled completed (none failed, none left in
//! flight, none left unstarted) and the SLO's percentile of the SLO's phase is
//! within the bound. The sweep stops after the first failing step; the capacity is
//! the rate of the last step that passed before it.
//!
//! Its outputs are those of a run, for every step: `--csv` is one file, each
//! step's per-second rows after the previous step's, behind a leading `step_rate`
//! column; `--hlog` is one interval log, each histogram tagged
//! `step-<rate>/<phase>`, timestamps from the sweep's start; `--plot DIR` gets a
//! run's charts per step in `DIR/step-<rate>/` and `DIR/sweep.svg`, the SLO
//! phase's percentile against the offered rate. The JSON is described by
//! results/sweep-schema.json.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::outputs::{self, OutputArgs};
use super::{CliError, Rate, RunArgs, parse_duration, parse_rate};
use crate::engine::pacer::PacerMode;
use crate::stats::hlog::HlogSink;
use crate::stats::{Phase, Report, saved};
use crate::stats::{csv, human_nanos};

/// `--ramp FROM..TO/DURATION`: the open-loop rate goes linearly from FROM to TO
/// connections per second over DURATION, which is the run's length.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RampArg {
    /// Rate at the start (may be 0).
    pub from: f64,
    /// Rate at the end (may be 0, not both).
    pub to: f64,
    /// Length of the ramp, and of the run.
    pub over: Duration,
}

impl RampArg {
    /// Connections the ramp schedules: those before its end.
    pub fn connections(&self) -> u64 {
        let n = (self.from + self.to) / 2.0 * self.over.as_secs_f64();
        (n.ceil() as u64).max(1)
    }
}

/// Parse `FROM..TO/DURATION`, e.g. `10k..200k/30s`.
pub fn parse_ramp(s: &str) -> Result<RampArg, String> {
    let bad = || format!("'{s}' is not a ramp (FROM..TO/DURATION, e.g. 10k..200k/30s)");
    let (rates, over) = s.trim().split_once('/').ok_or_else(bad)?;
    let (from, to) = rates.split_once("..").ok_or_else(bad)?;
    let rate = |r: &str| -> Result<f64, String> {
        if r.trim() == "0" {
            return Ok(0.0);
        }
        match parse_rate(r)? {
            Rate::PerSecond(v) => Ok(v),
            Rate::Max => Err(format!(
                "a ramp goes between rates, not to 'max' (in '{s}')"
            )),
        }
    };
    let (from, to) = (rate(from)?, rate(to)?);
    if from + to <= 0.0 {
        return Err(format!("the ramp '{s}' never opens a connection"));
    }
    let over = parse_duration(over)?;
    if over.is_zero() {
        return Err(format!("the ramp '{s}' lasts no time"));
    }
    Ok(RampArg { from, to, over })
}

/// `--steps 50k,100k,200k`: the open-loop rates of a sweep, increasing.
#[derive(Clone, Debug, PartialEq)]
pub struct StepsArg(pub Vec<f64>);

/// Parse a comma-separated list of increasing rates.
pub fn parse_steps(s: &str) -> Result<StepsArg, String> {
    let mut v = Vec::new();
    for part in s.split(',') {
        match parse_rate(part)? {
            Rate::PerSecond(r) => v.push(r),
            Rate::Max => {
                return Err(format!(
                    "the steps '{s}' must be rates (a closed loop has no rate to step)"
                ));
            }
        }
    }
    if v.windows(2).any(|w| w[1] <= w[0]) {
        return Err(format!("the steps '{s}' must increase"));
    }
    if v.len() > 1000 {
        return Err(format!("'{s}' has more than 1000 steps"));
    }
    Ok(StepsArg(v))
}

/// `--slo [PHASE.]pNN<DURATION`: a latency bound on one phase's percentile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slo {
    /// The phase (default `connect`: the connection-setup latency).
    pub phase: Phase,
    /// The percentile, 0 < p ≤ 100.
    pub percentile: f64,
    /// The bound (inclusive).
    pub bound: Duration,
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} p{} < {}",
            self.phase,
            self.percentile,
            human_nanos(self.bound.as_nanos() as f64)
        )
    }
}

impl Slo {
    /// The percentile's value in `report`, ns; `None` without samples.
    pub fn value(&self, report: &Report) -> Option<u64> {
        let h = report.recorder.histogram(self.phase);
        (!h.is_empty()).then(|| h.value_at_quantile(self.percentile / 100.0))
    }
}

/// Parse `p99<5ms`, `connect.p99.9<2ms`, `lifecycle.p50<1ms`.
pub fn parse_slo(s: &str) -> Result<Slo, String> {
    let bad = || {
        format!(
            "'{s}' is not a latency bound ([PHASE.]pNN<DURATION, e.g. p99<5ms or lifecycle.p99.9<20ms)"
        )
    };
    let (left, bound) = s.trim().split_once('<').ok_or_else(bad)?;
    let left = left.trim();
    let (phase, pct) = match left.split_once(".p") {
        Some((name, pct)) => {
            let phase = Phase::ALL
                .into_iter()
                .find(|p| p.as_str() == name)
                .ok_or_else(|| {
                    format!("'{name}' is not a phase (connect, ttfb, close, lifecycle)")
                })?;
            (phase, pct)
        }
        None => (Phase::Connect, left.strip_prefix('p').ok_or_else(bad)?),
    };
    let percentile: f64 = pct.parse().map_err(|_| bad())?;
    if !(percentile > 0.0 && percentile <= 100.0) {
        return Err(format!(
            "the percentile in '{s}' must be above 0 and at most 100"
        ));
    }
    let bound = parse_duration(bound)?;
    if bound.is_zero() {
        return Err(format!("the bound in '{s}' is zero: nothing can meet it"));
    }
    Ok(Slo {
        phase,
        percentile,
        bound,
    })
}

/// The pacer mode a run's options ask for: the ramp, the rate, or a closed loop.
pub fn pacer_mode(a: &RunArgs) -> PacerMode {
    if let Some(r) = a.ramp {
        return PacerMode::Ramp {
            from: r.from,
            to: r.to,
            over: r.over,
        };
    }
    match a.rate {
        Rate::Max => PacerMode::Max,
        Rate::PerSecond(cps) => PacerMode::Rate { cps },
    }
}

/// Options of a run with a ramp: its count and length are the ramp's.
pub fn shaped(a: &RunArgs) -> RunArgs {
    let mut a = a.clone();
    if let Some(r) = a.ramp {
        a.connections = r.connections();
        a.duration = r.over;
    }
    a
}

/// The ramp, for the report's config.
pub fn ramp_json(r: &RampArg) -> Value {
    json!({ "from": r.from, "to": r.to, "over_s": r.over.as_secs_f64() })
}

/// What a report says about how the run stopped.
pub fn stop_notes(interrupted: bool, closed_with_fin: u64, reset: u64) -> Vec<String> {
    let mut notes = Vec::new();
    if interrupted {
        notes.push("stopped by a signal: opening stopped, open connections were drained".into());
    }
    if closed_with_fin > 0 {
        notes.push(format!(
            "{closed_with_fin} connections were still open when the drain time ran out: they were closed with FIN and are counted in flight{}",
            if reset > 0 {
                format!("; {reset} of them were still open after --close-timeout and were reset")
            } else {
                String::new()
            }
        ));
    }
    notes
}

/// One step of a sweep, run.
struct StepResult {
    rate: f64,
    scheduled: u64,
    report: Report,
    slo_value: Option<u64>,
    /// Why it failed; `None` when it passed.
    failure: Option<String>,
}

/// The name of a step in file names and log tags: `step-50000`.
pub(crate) fn step_label(rate: f64) -> String {
    format!("step-{}", rate_text(rate))
}

/// The files of a whole sweep (`--csv`, `--hlog`, and the chart of `--plot`; each
/// step's plots are its run's, in `DIR/step-<rate>/`). Each step's rows are
/// appended when the step ends, from its report's per-second rows, by the writers
/// a run uses: a sweep stopped midway keeps the steps it finished.
struct SweepFiles {
    started: SystemTime,
    csv: Option<(PathBuf, BufWriter<File>)>,
    hlog: Option<(PathBuf, HlogSink<BufWriter<File>>)>,
    plot: Option<PathBuf>,
    /// Where the next step's histograms start in the log, from the sweep's start.
    next_offset: Duration,
}

impl SweepFiles {
    /// Creates the files (a usage error names one that cannot be written) and
    /// writes their headers; the log's timestamps count from `started`.
    fn open(o: &OutputArgs, started: SystemTime) -> Result<SweepFiles, CliError> {
        let csv = match &o.csv {
            Some(p) => {
                let mut f = outputs::create(p, "CSV file")?;
                writeln!(f, "step_rate,{}", csv::header())
                    .and_then(|()| f.flush())
                    .map_err(|e| {
                        CliError::Usage(format!("cannot write the CSV file {}: {e}", p.display()))
                    })?;
                Some((p.clone(), f))
            }
            None => None,
        };
        let hlog = match &o.hlog {
            Some(p) => {
                let mut log = HlogSink::for_sweep(outputs::create(p, "HdrHistogram log")?, started);
                log.append_rows(&[], Duration::ZERO, None).map_err(|e| {
                    CliError::Usage(format!(
                        "cannot write the HdrHistogram log {}: {e}",
                        p.display()
                    ))
                })?;
                Some((p.clone(), log))
            }
            None => None,
        };
        if let Some(d) = &o.plot {
            outputs::plot_dir(d)?;
        }
        Ok(SweepFiles {
            started,
            csv,
            hlog,
            plot: o.plot.clone(),
            next_offset: Duration::ZERO,
        })
    }

    /// Appends one step's per-second rows. A file that cannot be written is
    /// dropped with a note and a line on stderr; the sweep goes on.
    fn step(&mut self, rate: f64, report: &Report, notes: &mut Vec<String>) {
        let label = step_label(rate);
        if let Some((path, f)) = &mut self.csv {
            let mut write = || -> std::io::Result<()> {
                for r in &report.intervals {
                    writeln!(f, "{},{}", rate_text(rate), csv::row_of(r))?;
                }
                f.flush()
            };
            if let Err(e) = write() {
                output_error(notes, &format!("{}: {e}", path.display()));
                self.csv = None;
            }
        }
        // The log's timestamps go on from the previous step's end (virtual time
        // runs ahead of the wall clock) or from the wall clock, whichever is later.
        // (In whole milliseconds, as the JSON keeps the times, so that a sweep
        // re-rendered from its JSON writes the same log.)
        let wall = report
            .started
            .and_then(|t| whole_ms(t).duration_since(self.started).ok())
            .unwrap_or_default();
        let offset = wall.max(self.next_offset);
        let length = report
            .intervals
            .iter()
            .map(|r| r.t_s + r.duration_s)
            .fold(0.0, f64::max);
        self.next_offset = offset + Duration::from_secs_f64(length.max(0.0));
        if let Some((path, log)) = &mut self.hlog
            && let Err(e) = log.append_rows(&report.intervals, offset, Some(&label))
        {
            output_error(notes, &format!("{}: {e}", path.display()));
            self.hlog = None;
        }
    }

    /// Draws the sweep's chart when `--plot` asks for charts.
    fn finish(&mut self, results: &[StepResult], slo: &Slo, notes: &mut Vec<String>) {
        let Some(dir) = &self.plot else { return };
        let points = results
            .iter()
            .filter_map(|r| Some((r.rate, r.slo_value? as f64 / 1e6)))
            .collect();
        let name = format!("{} p{}", slo.phase, slo.percentile);
        let bound = slo.bound.as_nanos() as f64 / 1e6;
        if let Err(e) = crate::plot::sweep(&dir.join(SWEEP_PLOT), &name, points, bound) {
            output_error(notes, &format!("plots: {e}"));
        }
    }
}

/// The sweep's own chart in `--plot DIR`.
pub const SWEEP_PLOT: &str = "sweep.svg";

fn output_error(notes: &mut Vec<String>, e: &str) {
    eprintln!("synfin: warning: an output could not be written: {e}");
    notes.push(format!("output error: {e}"));
}

/// Run a step sweep and render it (text or JSON, as `--format` says).
pub fn run_sweep(a: &RunArgs) -> Result<String, CliError> {
    let Some(steps) = a.steps.clone() else {
        return Err(CliError::Usage("a sweep needs --steps".into()));
    };
    if a.step_duration.is_zero() {
        return Err(CliError::Usage("--step-duration must be above 0".into()));
    }
    // The sweep's files are opened before the first step, so a bad path costs no run.
    let started = whole_ms(SystemTime::now());
    let mut files = SweepFiles::open(&a.outputs, started)?;
    let stop = super::install_stop_flag()?;
    let mut results: Vec<StepResult> = Vec::new();
    let mut notes = Vec::new();
    for &rate in &steps.0 {
        if stop.load(Ordering::Relaxed) {
            notes.push("stopped by a signal: the remaining steps were not run".to_owned());
            break;
        }
        let mut s = a.clone();
        s.steps = None;
        s.rate = Rate::PerSecond(rate);
        let scheduled = ((rate * a.step_duration.as_secs_f64()).ceil() as u64).max(1);
        s.connections = scheduled;
        // Opening stops half a step after the last scheduled start: a generator
        // that fell behind still starts what it owes, and its lateness shows in the
        // latencies (each measured from its scheduled start).
        s.duration = a.step_duration + a.step_duration / 2;
        s.outputs = super::outputs::for_step(&a.outputs, &step_label(rate));
        let report = super::run_once(&s, &stop)?;
        files.step(rate, &report, &mut notes);
        let r = judge(rate, scheduled, report, &a.slo);
        let failed = r.failure.is_some();
        results.push(r);
        if failed {
            if stop.load(Ordering::Relaxed) {
                notes.push(
                    "stopped by a signal: the step under way ended early (its result says how), the remaining steps were not run"
                        .to_owned(),
                );
            } else if results.len() < steps.0.len() {
                notes.push(format!(
                    "the sweep stopped at the first failing step; {} higher step(s) were not run",
                    steps.0.len() - results.len()
                ));
            }
            break;
        }
    }
    files.finish(&results, &a.slo, &mut notes);
    let sweep = Sweep {
        started: Some(started),
        slo: a.slo,
        step_duration: a.step_duration,
        steps: results,
        notes,
    };
    Ok(sweep.render(a.format))
}

/// A sweep that ran: its SLO, its step length, its steps and its notes. What the
/// sweep prints, and what `synfin report` reads back from the sweep's JSON to print
/// it (and write its files) again.
pub struct Sweep {
    /// When the sweep began: what its `--hlog` timestamps count from. None in a
    /// sweep's JSON written before it said so.
    started: Option<SystemTime>,
    slo: Slo,
    step_duration: Duration,
    steps: Vec<StepResult>,
    notes: Vec<String>,
}

impl Sweep {
    /// The rate of the last step that passed before the first failing one.
    fn capacity(&self) -> Option<f64> {
        self.steps
            .iter()
            .take_while(|r| r.failure.is_none())
            .last()
            .map(|r| r.rate)
    }

    /// The sweep's table (text) or its JSON (results/sweep-schema.json).
    pub fn render(&self, format: super::Format) -> String {
        match format {
            super::Format::Json => {
                serde_json::to_string_pretty(&sweep_json(self)).unwrap_or_default() + "\n"
            }
            super::Format::Text => sweep_text(self),
        }
    }

    /// The rates of the steps that ran, as the log's tags and the CSV write them
    /// (`5000, 10000`).
    pub fn rates(&self) -> String {
        if self.steps.is_empty() {
            return "none ran".into();
        }
        let rates: Vec<String> = self.steps.iter().map(|s| rate_text(s.rate)).collect();
        rates.join(", ")
    }

    /// The report of the step at `rate`, or why there is none.
    pub fn into_step(self, rate: f64) -> Result<Report, String> {
        let rates = self.rates();
        self.steps
            .into_iter()
            .find(|s| rate_text(s.rate) == rate_text(rate))
            .map(|s| s.report)
            .ok_or_else(|| {
                format!(
                    "the sweep has no step at {} connections/s (its steps: {rates})",
                    rate_text(rate)
                )
            })
    }

    /// A sweep read back from its JSON (what `synfin run --steps ... --format json`
    /// printed); each step's report is read as `synfin report` reads a run's.
    pub fn from_json(v: &Value) -> Result<Sweep, String> {
        let sw = v.get("sweep").ok_or("no `sweep`")?;
        let num = |x: &Value, k: &str| {
            x.get(k)
                .and_then(Value::as_f64)
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| format!("no valid `{k}`"))
        };
        let slo = sw.get("slo").ok_or("no `sweep.slo`")?;
        let phase = slo.get("phase").and_then(Value::as_str).unwrap_or("");
        let phase = Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == phase)
            .ok_or_else(|| format!("`sweep.slo.phase` '{phase}' is not a phase"))?;
        let percentile = num(slo, "percentile")?;
        if !(percentile > 0.0 && percentile <= 100.0) {
            return Err(format!(
                "`sweep.slo.percentile` ({percentile}) is not above 0 and at most 100"
            ));
        }
        let slo = Slo {
            phase,
            percentile,
            bound: exact(num(slo, "bound_us")? / 1e6, "sweep.slo.bound_us")?,
        };
        let step_duration = exact(num(sw, "step_duration_s")?, "step_duration_s")?;
        let mut steps = Vec::new();
        for (i, s) in sw
            .get("steps")
            .and_then(Value::as_array)
            .ok_or("no `sweep.steps`")?
            .iter()
            .enumerate()
        {
            let at = |e: String| format!("sweep.steps[{i}]: {e}");
            let report =
                saved::report_from_json(s.get("report").ok_or_else(|| at("no `report`".into()))?)
                    .map_err(|e| at(format!("report: {e}")))?;
            let pass = s.get("pass").and_then(Value::as_bool);
            let why = s.get("why").and_then(Value::as_str);
            steps.push(StepResult {
                rate: num(s, "rate").map_err(at)?,
                scheduled: s
                    .get("scheduled")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| at("no valid `scheduled`".into()))?,
                report,
                slo_value: s
                    .get("slo_value_us")
                    .and_then(Value::as_f64)
                    .map(|us| (us * 1000.0).round() as u64),
                failure: match pass {
                    Some(true) => None,
                    Some(false) => Some(why.unwrap_or("failed").to_owned()),
                    None => return Err(at("no valid `pass`".into())),
                },
            });
        }
        let notes = saved::notes_of(v);
        Ok(Sweep {
            started: saved::started_of(v),
            slo,
            step_duration,
            steps,
            notes,
        })
    }

    /// Writes the sweep's `--csv`, `--hlog` and `--plot` files again, as the sweep
    /// wrote them (the log's timestamps from the sweep's start, or, in a sweep's
    /// JSON that does not give it, from the first step's).
    pub fn write_files(&self, o: &OutputArgs) -> Result<(), CliError> {
        let started = self
            .started
            .or_else(|| self.steps.iter().filter_map(|s| s.report.started).min())
            .map_or(SystemTime::UNIX_EPOCH, whole_ms);
        let mut files = SweepFiles::open(o, started)?;
        let mut errors = Vec::new();
        for s in &self.steps {
            files.step(s.rate, &s.report, &mut errors);
            if let Some(d) = &o.plot {
                let dir = d.join(step_label(s.rate));
                outputs::plot_dir(&dir)?;
                crate::plot::write_all(&s.report, &dir)
                    .map_err(|e| CliError::Runtime(format!("cannot write the plots: {e}")))?;
            }
        }
        files.finish(&self.steps, &self.slo, &mut errors);
        match errors.into_iter().next() {
            Some(e) => Err(CliError::Runtime(e)),
            None => Ok(()),
        }
    }
}

/// Seconds read back as the nanoseconds they were written from (a sweep's
/// durations are whole nanoseconds), so that the sweep prints the same again.
fn exact(x: f64, what: &str) -> Result<Duration, String> {
    saved::seconds(x, what)?;
    Ok(Duration::from_nanos((x * 1e9).round() as u64))
}

fn judge(rate: f64, scheduled: u64, report: Report, slo: &Slo) -> StepResult {
    let c = report.counters();
    let slo_value = slo.value(&report);
    let mut why = Vec::new();
    if c.attempted < scheduled {
        why.push(format!(
            "{} of {scheduled} never started",
            scheduled - c.attempted
        ));
    }
    if c.failed_total() > 0 {
        why.push(format!("{} failed", c.failed_total()));
    }
    if c.in_flight() > 0 {
        why.push(format!("{} still open at the end", c.in_flight()));
    }
    match slo_value {
        None => why.push(format!("no {} sample", slo.phase)),
        Some(v) if v > slo.bound.as_nanos() as u64 => why.push(format!(
            "{} p{} {} > {}",
            slo.phase,
            slo.percentile,
            human_nanos(v as f64),
            human_nanos(slo.bound.as_nanos() as f64)
        )),
        Some(_) => {}
    }
    let failure = (!why.is_empty()).then(|| why.join("; "));
    StepResult {
        rate,
        scheduled,
        report,
        slo_value,
        failure,
    }
}

fn rate_text(r: f64) -> String {
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.3}")
    }
}

fn sweep_text(sweep: &Sweep) -> String {
    use std::fmt::Write as _;
    let (slo, results, notes) = (&sweep.slo, &sweep.steps, &sweep.notes);
    let capacity = sweep.capacity();
    let io = results.first().map_or("?", |r| r.report.io.as_str());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "synfin {}  |  capacity sweep  |  io: {io}  |  {} per step  |  SLO: {slo}, every connection completed",
        env!("CARGO_PKG_VERSION"),
        humantime::format_duration(sweep.step_duration)
    );
    out.push('\n');
    let pct = format!("p{}", slo.percentile);
    let _ = writeln!(
        out,
        "  {:>10}  {:>10}  {:>10}  {:>8}  {:>9}  {:>11}  {:>10}  {:>10}  {:>13}  result",
        "rate",
        "scheduled",
        "completed",
        "failed",
        "in flight",
        "cps",
        format!("{} p50", short(slo.phase)),
        format!("{} {pct}", short(slo.phase)),
        "lifecycle p99"
    );
    for r in results {
        let c = r.report.counters();
        let p50 = r.report.latency(slo.phase);
        let life = r.report.latency(Phase::Lifecycle);
        let show = |v: u64, n: u64| {
            if n == 0 {
                "-".to_owned()
            } else {
                human_nanos(v as f64)
            }
        };
        let _ = writeln!(
            out,
            "  {:>10}  {:>10}  {:>10}  {:>8}  {:>9}  {:>11.1}  {:>10}  {:>10}  {:>13}  {}",
            rate_text(r.rate),
            r.scheduled,
            c.completed,
            c.failed_total(),
            c.in_flight(),
            r.report.cps(),
            show(p50.p50, p50.count),
            r.slo_value
                .map_or("-".to_owned(), |v| human_nanos(v as f64)),
            show(life.p99, life.count),
            match &r.failure {
                None => "pass".to_owned(),
                Some(why) => format!("FAIL ({why})"),
            }
        );
    }
    out.push('\n');
    match capacity {
        Some(c) => {
            let _ = writeln!(
                out,
                "capacity: {} connections/s  (the highest step whose every connection completed with {slo})",
                rate_text(c)
            );
        }
        None => match results.first() {
            Some(first) => {
                let _ = writeln!(
                    out,
                    "capacity: below the first step ({} connections/s did not meet the SLO)",
                    rate_text(first.rate)
                );
            }
            None => {
                let _ = writeln!(out, "capacity: unknown (no step ran)");
            }
        },
    }
    if !notes.is_empty() {
        out.push('\n');
        let _ = writeln!(out, "notes");
        for n in notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}

/// `t` to the nearest whole millisecond of Unix time, as saved reports keep it
/// (`started_unix_s` with three decimals).
fn whole_ms(t: SystemTime) -> SystemTime {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::from_millis((d.as_nanos() as f64 / 1e6).round() as u64)
}

/// A phase name short enough for a column head.
fn short(p: Phase) -> &'static str {
    match p {
        Phase::Connect => "connect",
        Phase::Ttfb => "ttfb",
        Phase::Close => "close",
        Phase::Lifecycle => "life",
    }
}

fn sweep_json(sweep: &Sweep) -> Value {
    let steps: Vec<Value> = sweep
        .steps
        .iter()
        .map(|r| {
            let c = r.report.counters();
            json!({
                "rate": r.rate,
                "scheduled": r.scheduled,
                "attempted": c.attempted,
                "completed": c.completed,
                "failed": c.failed_total(),
                "in_flight": c.in_flight(),
                "cps": r.report.cps(),
                "slo_value_us": r.slo_value.map(|v| v as f64 / 1000.0),
                "pass": r.failure.is_none(),
                "why": r.failure,
                "report": r.report.to_json(),
            })
        })
        .collect();
    let started = sweep
        .started
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64());
    json!({
        "synfin_version": env!("CARGO_PKG_VERSION"),
        "started_unix_s": started,
        "io": sweep.steps.first().map(|r| r.report.io.clone()),
        "sweep": {
            "slo": {
                "phase": sweep.slo.phase.as_str(),
                "percentile": sweep.slo.percentile,
                "bound_us": sweep.slo.bound.as_nanos() as f64 / 1000.0,
            },
            "step_duration_s": sweep.step_duration.as_secs_f64(),
            "steps": steps,
            "capacity_cps": sweep.capacity(),
        },
        "notes": sweep.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_parse_and_count_their_connections() {
        let r = parse_ramp("10k..200k/30s").unwrap();
        assert_eq!((r.from, r.to, r.over), (1e4, 2e5, Duration::from_secs(30)));
        assert_eq!(r.connections(), 3_150_000);
        let r = parse_ramp("0..1000/10s").unwrap();
        assert_eq!(r.connections(), 5000);
        for bad in [
            "10k-20k/1s",
            "10k..20k",
            "0..0/1s",
            "1..max/1s",
            "1..2/0s",
            "x..2/1s",
        ] {
            assert!(parse_ramp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn steps_must_be_increasing_rates() {
        assert_eq!(
            parse_steps("50k,100k,200k").unwrap(),
            StepsArg(vec![5e4, 1e5, 2e5])
        );
        for bad in ["100k,50k", "1k,1k", "1k,max", "", "1k,,2k"] {
            assert!(parse_steps(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slos_name_a_phase_and_a_percentile() {
        let s = parse_slo("p99<5ms").unwrap();
        assert_eq!(
            s,
            Slo {
                phase: Phase::Connect,
                percentile: 99.0,
                bound: Duration::from_millis(5)
            }
        );
        assert_eq!(s.to_string(), "connect p99 < 5.00ms");
        let s = parse_slo("lifecycle.p99.9<20ms").unwrap();
        assert_eq!((s.phase, s.percentile), (Phase::Lifecycle, 99.9));
        for bad in [
            "p99",
            "q99<1ms",
            "p0<1ms",
            "p101<1ms",
            "foo.p99<1ms",
            "p99<0s",
            "p99<x",
        ] {
            assert!(parse_slo(bad).is_err(), "{bad}");
        }
    }
}
