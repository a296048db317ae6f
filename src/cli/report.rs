//! `synfin report FILE...`: re-render saved runs and merge runs of several hosts.
//!
//! Each FILE is a JSON report (`synfin run --format json > FILE`) or an
//! HdrHistogram interval log (`--hlog FILE`). Several JSON reports are merged into
//! one (counts add, histograms add exactly, the duration is the longest), as are
//! several logs; JSON reports and logs are not mixed (a run's log and its report
//! hold the same samples, and adding both would count them twice).
//!
//! A capacity sweep's JSON given alone is printed again as the sweep (its table, or
//! its JSON), and `--csv`, `--hlog`, `--plot` write the sweep's files again; a
//! sweep is not merged with other files. `--step RATE` takes one step of a sweep's
//! JSON or log as a run, which then goes on as any run's file does (several hosts'
//! same step merge). A sweep's log of one step is read as that step without it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::outputs::{OutputArgs, ProgressArg, plot_dir, render};
use super::sweep::{Sweep, step_label};
use super::{CliError, Format, Rate, parse_rate};
use crate::stats::Report;
use crate::stats::{hlog, saved};

/// Options of `synfin report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Saved runs: JSON reports or HdrHistogram interval logs (not both); or one
    /// capacity sweep's JSON, printed (and its files written) again.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write SVG charts (latency spectrum, CPS, failures and latency over time)
    /// into DIR.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Add the detailed percentile spectrum of every phase to the text report.
    #[arg(long)]
    pub spectrum: bool,
    /// Write the (merged) runs' per-second rows to FILE as CSV (the columns of
    /// `run --csv`).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write the (merged) runs' per-second histograms to FILE as an HdrHistogram
    /// interval log (as `run --hlog` does).
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,
    /// Of a capacity sweep's files (its JSON or its HdrHistogram log), take the
    /// step at RATE (e.g. 50k) as a run.
    #[arg(long, value_name = "RATE", value_parser = parse_step)]
    pub step: Option<f64>,
}

fn parse_step(s: &str) -> Result<f64, String> {
    match parse_rate(s)? {
        Rate::PerSecond(r) => Ok(r),
        Rate::Max => Err("a sweep's steps are rates, not 'max'".into()),
    }
}

/// What a file turned out to be.
enum Kind {
    Json(Report),
    Hlog(Report),
    Sweep(Sweep),
}

/// Reads one file; `step`: the step of a sweep to take (`--step`).
fn load(path: &PathBuf, step: Option<f64>) -> Result<Kind, CliError> {
    let name = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read {name}: {e}")))?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let not_a_sweep = |what: &str| {
        CliError::Usage(format!(
            "{name} is {what}, not a capacity sweep's: --step picks a step of a sweep (run with --steps)"
        ))
    };
    if first == Some(&b'{') {
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Usage(format!("{name} is not JSON: {e}")))?;
        if v.get("sweep").is_some() && v.get("histograms").is_none() {
            let sweep = Sweep::from_json(&v)
                .map_err(|e| CliError::Usage(format!("{name} is not a synfin sweep: {e}")))?;
            return match step {
                Some(rate) => sweep
                    .into_step(rate)
                    .map(Kind::Json)
                    .map_err(|e| CliError::Usage(format!("{name}: {e}"))),
                None => Ok(Kind::Sweep(sweep)),
            };
        }
        if step.is_some() {
            return Err(not_a_sweep("a run's report"));
        }
        let r = saved::report_from_json(&v)
            .map_err(|e| CliError::Usage(format!("{name} is not a synfin report: {e}")))?;
        Ok(Kind::Json(r))
    } else {
        let mut log = hlog::read(&bytes).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
        // Times out of any run's range (starts may be Unix times, in a log without
        // BaseTime) are a damaged log; they would overflow the clocks.
        let (latest, longest) = (
            Duration::from_secs(100_000_000_000),
            Duration::from_secs_f64(saved::MAX_SECONDS),
        );
        if let Some(iv) = log
            .intervals
            .iter()
            .find(|iv| iv.start > latest || iv.duration > longest)
        {
            return Err(CliError::Usage(format!(
                "{name}: an interval at {:.3} s lasting {:.3} s is out of range (start up to 10^11 s, length up to 10^9 s): a damaged log",
                iv.start.as_secs_f64(),
                iv.duration.as_secs_f64()
            )));
        }
        if log.start_time.is_some_and(|t| t > latest) {
            log.start_time = None;
        }
        let phase_tag = |t: &Option<String>| {
            crate::stats::Phase::ALL
                .iter()
                .any(|p| t.as_deref() == Some(p.as_str()))
        };
        // A run's log (tags: the phases) is read as it is, unless --step asks for a step.
        let steps = match step {
            None if log.intervals.iter().any(|iv| phase_tag(&iv.tag)) => Vec::new(),
            _ => saved::hlog_steps(&log),
        };
        let rates = || {
            let r: Vec<&str> = steps.iter().map(|s| &s["step-".len()..]).collect();
            r.join(", ")
        };
        if let Some(rate) = step {
            let label = step_label(rate);
            if steps.is_empty() {
                return Err(not_a_sweep(
                    "a run's log (no interval is tagged step-<rate>/<phase>)",
                ));
            }
            if !steps.contains(&label) {
                return Err(CliError::Usage(format!(
                    "{name}: the sweep has no step at {} connections/s (its steps: {})",
                    &label["step-".len()..],
                    rates()
                )));
            }
            log = saved::hlog_step(log, &label);
        } else if steps.len() == 1 {
            log = saved::hlog_step(log, &steps[0]);
        } else if steps.len() > 1 {
            return Err(CliError::Usage(format!(
                "{name} is a capacity sweep's log of {} steps ({}): pick one with --step RATE",
                steps.len(),
                rates()
            )));
        }
        if log.intervals.is_empty() {
            return Err(CliError::Usage(format!(
                "{name} is neither a JSON report nor an HdrHistogram log with intervals"
            )));
        }
        if !log.intervals.iter().any(|iv| phase_tag(&iv.tag)) {
            let mut tags: Vec<String> = log
                .intervals
                .iter()
                .map(|iv| iv.tag.clone().unwrap_or_else(|| "(none)".into()))
                .collect();
            tags.sort();
            tags.dedup();
            return Err(CliError::Usage(format!(
                "{name}: no interval is tagged connect, ttfb, close or lifecycle (tags: {})",
                tags.join(", ")
            )));
        }
        Ok(Kind::Hlog(saved::report_from_hlog(&log)))
    }
}

/// A sweep's JSON given alone: the sweep again, and its files.
fn sweep_again(a: &ReportArgs, sweep: &Sweep) -> Result<String, CliError> {
    if a.spectrum {
        return Err(CliError::Usage(format!(
            "--spectrum shows one run's percentiles: pick a step of the sweep with --step RATE (one of {})",
            sweep.rates()
        )));
    }
    sweep.write_files(&OutputArgs {
        progress: ProgressArg::Off,
        csv: a.csv.clone(),
        hlog: a.hlog.clone(),
        plot: a.plot.clone(),
        spectrum: false,
    })?;
    Ok(sweep.render(a.format))
}

/// Runs `synfin report`; returns what to print.
pub fn run(a: &ReportArgs) -> Result<String, CliError> {
    if let Some(d) = &a.plot {
        plot_dir(d)?;
    }
    let mut runs = Vec::new();
    let (mut json, mut logs) = (0, 0);
    for f in &a.files {
        let r = match load(f, a.step)? {
            Kind::Json(r) => {
                json += 1;
                r
            }
            Kind::Hlog(r) => {
                logs += 1;
                r
            }
            Kind::Sweep(sweep) if a.files.len() == 1 => return sweep_again(a, &sweep),
            Kind::Sweep(sweep) => {
                return Err(CliError::Usage(format!(
                    "{} is a capacity sweep (steps {}), which is not merged with other files: give it alone, or pick a step with --step RATE",
                    f.display(),
                    sweep.rates()
                )));
            }
        };
        let name = match a.step {
            Some(rate) => format!("{} ({})", f.display(), step_label(rate)),
            None => f.display().to_string(),
        };
        runs.push((name, r));
    }
    if json > 0 && logs > 0 {
        return Err(CliError::Usage(
            "give JSON reports or HdrHistogram logs, not both (a run's log and its report hold the same samples)".into(),
        ));
    }
    let report = saved::merge(runs).map_err(CliError::Usage)?;
    if let Some(path) = &a.csv {
        use std::io::Write as _;
        let mut f = super::outputs::create(path, "CSV file")?;
        f.write_all(crate::stats::csv::table(&report.intervals).as_bytes())
            .and_then(|()| f.flush())
            .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(path) = &a.hlog {
        let f = super::outputs::create(path, "HdrHistogram log")?;
        let started = report.started.unwrap_or(std::time::UNIX_EPOCH);
        hlog::write_rows(f, started, &report.intervals)
            .map_err(|e| CliError::Runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(d) = &a.plot {
        crate::plot::write_all(&report, d)
            .map_err(|e| CliError::Runtime(format!("cannot write the plots: {e}")))?;
    }
    Ok(render(&report, a.format, a.spectrum))
}
