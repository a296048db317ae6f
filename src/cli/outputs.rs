//! The outputs of `synfin run` beyond the report: live progress on stderr, the CSV
//! of one row per second, the HdrHistogram interval log, SVG plots and the
//! detailed percentile spectrum — and the per-second collection that feeds them
//! (see [`crate::stats::interval`]).

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, ValueEnum};

use super::{CliError, Format};
use crate::stats::Report;
use crate::stats::csv::CsvSink;
use crate::stats::hlog::HlogSink;
use crate::stats::interval::{self, Collector, IntervalSink, IntervalTap};
use crate::stats::progress::{ProgressSink, TimeWaitSource};

/// When to print live progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// When stderr is a terminal.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// Output options of `synfin run` (live progress, CSV, hlog, plots, spectrum).
#[derive(Clone, Debug, Args)]
pub struct OutputArgs {
    /// Live progress, one line a second on stderr: `auto` prints it when stderr is
    /// a terminal.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Write one CSV row per second of the run to FILE (a sweep: every step's rows,
    /// behind a leading step_rate column).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write the HdrHistogram interval log (one tagged histogram per phase per
    /// second) to FILE (a sweep: every step's, tagged step-RATE/PHASE).
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,
    /// Write SVG charts (latency spectrum, CPS, failures and latency over time) into
    /// DIR (a sweep: each step's in DIR/step-RATE/, and sweep.svg).
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Add the detailed percentile spectrum of every phase to the text report.
    #[arg(long)]
    pub spectrum: bool,
}

/// The outputs of one step of a sweep (`label`, e.g. `step-50000`): its plots go
/// into a subdirectory of that name; the CSV and the HdrHistogram log are the
/// sweep's, one file each for every step (see [`super::sweep`]), so the step's run
/// writes none.
pub fn for_step(o: &OutputArgs, label: &str) -> OutputArgs {
    OutputArgs {
        csv: None,
        hlog: None,
        plot: o.plot.as_ref().map(|d| d.join(label)),
        ..o.clone()
    }
}

/// Creates `path` for writing, or a usage error naming it.
pub(crate) fn create(path: &PathBuf, what: &str) -> Result<BufWriter<File>, CliError> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| CliError::Usage(format!("cannot write the {what} {}: {e}", path.display())))
}

/// Creates the directory of `--plot`, or a usage error naming it.
pub(crate) fn plot_dir(dir: &PathBuf) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::Usage(format!(
            "cannot make the plot directory {}: {e}",
            dir.display()
        ))
    })
}

/// The per-second collection of one run: the taps to hand to the workers, and
/// the collector that feeds the sinks.
pub struct Session {
    taps: Vec<IntervalTap>,
    collector: Collector,
    started: SystemTime,
    plot: Option<PathBuf>,
}

impl Session {
    /// Opens the files asked for (before the run, so that a bad path costs no run)
    /// and starts the collection for `workers` workers. `time_wait`: where the
    /// progress line's TIME-WAIT count comes from.
    pub fn start(
        o: &OutputArgs,
        workers: u32,
        time_wait: TimeWaitSource,
    ) -> Result<Session, CliError> {
        let started = SystemTime::now();
        let mut sinks: Vec<Box<dyn IntervalSink>> = Vec::new();
        let progress = match o.progress {
            ProgressArg::On => true,
            ProgressArg::Off => false,
            ProgressArg::Auto => std::io::stderr().is_terminal(),
        };
        if progress {
            sinks.push(Box::new(ProgressSink::new(std::io::stderr(), time_wait)));
        }
        if let Some(p) = &o.csv {
            sinks.push(Box::new(CsvSink::new(create(p, "CSV file")?)));
        }
        if let Some(p) = &o.hlog {
            sinks.push(Box::new(HlogSink::new(
                create(p, "HdrHistogram log")?,
                started,
            )));
        }
        if let Some(d) = &o.plot {
            plot_dir(d)?;
        }
        let (taps, collector) = interval::start(workers, interval::DEFAULT_PERIOD, sinks)
            .map_err(|e| CliError::Runtime(format!("cannot start the interval collector: {e}")))?;
        Ok(Session {
            taps,
            collector,
            started,
            plot: o.plot.clone(),
        })
    }

    /// The workers' taps (worker `i` takes the `i`-th).
    pub fn take_taps(&mut self) -> Vec<IntervalTap> {
        std::mem::take(&mut self.taps)
    }

    /// Waits for the last interval, puts the series into `report`, writes the
    /// plots. Errors of the outputs become notes and a line on stderr each (the
    /// run itself is reported all the same).
    pub fn finish(mut self, report: &mut Report) {
        self.taps.clear();
        let series = self.collector.finish();
        report.intervals = series.rows;
        report.interval = series.period;
        report.started = Some(self.started);
        let mut errors = series.errors;
        if let Some(dir) = &self.plot
            && let Err(e) = crate::plot::write_all(report, dir)
        {
            errors.push(format!("plots: {e}"));
        }
        for e in &errors {
            eprintln!("synfin: warning: an output could not be written: {e}");
            report.notes.push(format!("output error: {e}"));
        }
    }
}

/// The kernel's TIME-WAIT sockets in namespace `ns` (the current one when `None`),
/// from its /proc/net/sockstat.
#[cfg(target_os = "linux")]
pub fn kernel_time_wait(ns: Option<String>) -> TimeWaitSource {
    TimeWaitSource::Kernel(Box::new(move || match &ns {
        Some(ns) => crate::testbed::netns::time_wait_sockets(ns),
        None => {
            let text = std::fs::read_to_string("/proc/net/sockstat").ok()?;
            let tcp = text.lines().find(|l| l.starts_with("TCP:"))?;
            let mut words = tcp.split_whitespace();
            words.find(|w| *w == "tw")?;
            words.next()?.parse().ok()
        }
    }))
}

/// The report as the chosen format, plus the spectrum when asked for.
pub fn render(report: &Report, format: Format, spectrum: bool) -> String {
    match format {
        Format::Text => {
            let mut t = report.to_text();
            if spectrum {
                t.push_str(&crate::stats::spectrum::all_phases(&report.recorder));
            }
            t
        }
        Format::Json => serde_json::to_string_pretty(&report.to_json()).unwrap_or_default() + "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_of_a_sweep_gets_its_own_plots_and_no_files() {
        let o = OutputArgs {
            progress: ProgressArg::Off,
            csv: Some("out/run.csv".into()),
            hlog: Some("run".into()),
            plot: Some("plots".into()),
            spectrum: true,
        };
        let s = for_step(&o, "step-50000");
        assert_eq!((s.csv, s.hlog), (None, None));
        assert_eq!(s.plot, Some("plots/step-50000".into()));
        assert!(s.spectrum);
    }
}
