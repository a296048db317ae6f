//! `synfin tw-matrix`: the TIME-WAIT avoidance settings side by side on the test
//! bed (see [`crate::tw::matrix`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CliError, Format, parse_concurrency, parse_duration};
use crate::tw::matrix::{self, MatrixConfig};

/// Options of `synfin tw-matrix`.
#[derive(Debug, Args)]
pub struct TwMatrixArgs {
    /// The reduced grid (7 cells of 4 s: well under two minutes).
    #[arg(long)]
    pub quick: bool,
    /// How long each cell opens connections (default 4s with --quick, 15s otherwise:
    /// long enough for one address to run through its 28,232 default ports on a slow
    /// machine).
    #[arg(long, value_parser = parse_duration)]
    pub cell_duration: Option<Duration>,
    /// Then how long open connections get to finish.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub drain: Duration,
    /// Most connections open at once, both clients.
    #[arg(long, value_parser = parse_concurrency, default_value = "50")]
    pub concurrency: u32,
    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write tw-matrix.json, tw-matrix.txt and the SVG charts into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs the grid; the table (or JSON) on success.
pub fn run(a: &TwMatrixArgs) -> Result<String, CliError> {
    super::require_root("synfin tw-matrix")?;
    if a.cell_duration
        .is_some_and(|d| d.is_zero() || d > Duration::from_secs(600))
    {
        return Err(CliError::Usage(
            "--cell-duration must be above 0 and at most 600s".into(),
        ));
    }
    if a.drain > Duration::from_secs(60) {
        return Err(CliError::Usage("--drain must be at most 60s".into()));
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Usage(format!("cannot create --out {}: {e}", dir.display())))?;
    }
    let stop = super::install_stop_flag()?;
    let (cells, grid) = if a.quick {
        (matrix::quick_grid(), "quick")
    } else {
        (matrix::full_grid(), "full")
    };
    let default_duration = Duration::from_secs(if a.quick { 4 } else { 15 });
    let cfg = MatrixConfig {
        cells,
        cell_duration: a.cell_duration.unwrap_or(default_duration),
        drain: a.drain,
        concurrency: a.concurrency,
        max_connections: 5_000_000,
        name_prefix: format!("tw{}", std::process::id() % 100_000),
    };
    let n = cfg.cells.len();
    eprintln!(
        "tw-matrix: {n} cells ({grid} grid), {:?} each plus up to {:?} of drain; at most {:.0} s in all",
        cfg.cell_duration,
        cfg.drain,
        cfg.bound().as_secs_f64()
    );
    let result = matrix::run_matrix(&cfg, grid, &stop, |i, row| match &row.error {
        None => eprintln!(
            "tw-matrix: [{}/{n}] {}: {:.0} CPS, {} completed, failed {}, TIME-WAIT peak gen {} / DUT {}",
            i + 1,
            row.label(),
            row.cps,
            row.completed,
            row.failure_summary(),
            row.tw_gen_peak,
            row.tw_dut_peak
        ),
        Some(e) => eprintln!("tw-matrix: [{}/{n}] {}: error: {e}", i + 1, row.label()),
    });
    if !matrix::all_restored(&result) {
        eprintln!("tw-matrix: warning: a sysctl could not be put back (see the JSON's sysctls)");
    }
    let text = matrix::to_text(&result);
    let json = serde_json::to_string_pretty(&result).unwrap_or_default() + "\n";
    if let Some(dir) = &a.out {
        let write = |name: &str, body: &str| {
            std::fs::write(dir.join(name), body).map_err(|e| {
                CliError::Runtime(format!("writing {}: {e}", dir.join(name).display()))
            })
        };
        write("tw-matrix.json", &json)?;
        write("tw-matrix.txt", &text)?;
        for (name, svg) in matrix::charts(&result) {
            write(&name, &svg)?;
        }
    }
    if result.rows.iter().all(|r| r.error.is_some()) {
        return Err(CliError::Runtime(format!(
            "no cell could run: {}",
            result
                .rows
                .first()
                .and_then(|r| r.error.clone())
                .unwrap_or_default()
        )));
    }
    Ok(match a.format {
        Format::Text => text,
        Format::Json => json,
    })
}
