//! `synfin report FILE...`: re-render saved runs and merge runs of several hosts.
//!
//! Each FILE is a JSON report (`synfin run --format json > FILE`) or an
//! HdrHistogram interval log (`--hlog FILE`). Several JSON reports are merged into
//! one (counts add, histograms add exactly, the duration is the longest), as are
//! several logs; JSON reports and logs are not mixed (a run's log and its report
//! hold the same samples, and adding both would count them twice).

use std::path::PathBuf;

use clap::Args;

use super::outputs::{plot_dir, render};
use super::{CliError, Format};
use crate::stats::Report;
use crate::stats::{hlog, saved};

/// Options of `synfin report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Saved runs: JSON reports or HdrHistogram interval logs (not both).
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
}

/// What a file turned out to be.
enum Kind {
    Json,
    Hlog,
}

fn load(path: &PathBuf) -> Result<(Kind, Report), CliError> {
    let name = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read {name}: {e}")))?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Usage(format!("{name} is not JSON: {e}")))?;
        let r = saved::report_from_json(&v)
            .map_err(|e| CliError::Usage(format!("{name} is not a synfin report: {e}")))?;
        Ok((Kind::Json, r))
    } else {
        let log = hlog::read(&bytes).map_err(|e| CliError::Usage(format!("{name}: {e}")))?;
        if log.intervals.is_empty() {
            return Err(CliError::Usage(format!(
                "{name} is neither a JSON report nor an HdrHistogram log with intervals"
            )));
        }
        Ok((Kind::Hlog, saved::report_from_hlog(&log)))
    }
}

/// Runs `synfin report`; returns what to print.
pub fn run(a: &ReportArgs) -> Result<String, CliError> {
    if let Some(d) = &a.plot {
        plot_dir(d)?;
    }
    let mut runs = Vec::new();
    let (mut json, mut logs) = (0, 0);
    for f in &a.files {
        let (kind, r) = load(f)?;
        match kind {
            Kind::Json => json += 1,
            Kind::Hlog => logs += 1,
        }
        runs.push((f.display().to_string(), r));
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
    if let Some(d) = &a.plot {
        crate::plot::write_all(&report, d)
            .map_err(|e| CliError::Runtime(format!("cannot write the plots: {e}")))?;
    }
    Ok(render(&report, a.format, a.spectrum))
}
