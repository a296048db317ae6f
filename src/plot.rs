//! SVG charts of a report (`--plot DIR`, `synfin report --plot DIR`), drawn with
//! plotters' SVG backend (no font or system library: the SVG names a sans-serif
//! font and the viewer draws the text).
//!
//! - `latency-spectrum.svg`: each phase's latency against the percentile, on the
//!   usual HdrHistogram axis where 90 %, 99 %, 99.9 % … are evenly spaced;
//! - `cps.svg`: completed connections per second (and attempts per second) over time;
//! - `failures.svg`: failed connections per second over time, and connections in flight;
//! - `latency.svg`: each phase's p50 and p99 per second over time;
//! - `sweep.svg` (a capacity sweep's, next to its steps' directories): the SLO
//!   phase's percentile against the offered rate.

use std::path::Path;

use plotters::prelude::*;

use crate::stats::{Phase, Report};

/// The files [`write_all`] writes.
pub const FILES: [&str; 4] = [
    "latency-spectrum.svg",
    "cps.svg",
    "failures.svg",
    "latency.svg",
];

const SIZE: (u32, u32) = (960, 540);
const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

type Series = (String, RGBColor, Vec<(f64, f64)>);

/// Writes every chart of `report` into `dir` (which must exist).
pub fn write_all(report: &Report, dir: &Path) -> Result<(), String> {
    spectrum(report, &dir.join(FILES[0]))?;
    let mid = |r: &crate::stats::interval::IntervalRow| r.t_s + r.duration_s / 2.0;
    let rows = &report.intervals;
    let per_s = |n: u64, d: f64| if d > 0.0 { n as f64 / d } else { 0.0 };
    over_time(
        &dir.join(FILES[1]),
        "connections per second",
        "per second",
        vec![
            (
                "completed/s".into(),
                COLORS[0],
                rows.iter().map(|r| (mid(r), r.cps)).collect(),
            ),
            (
                "attempted/s".into(),
                COLORS[1],
                rows.iter()
                    .map(|r| (mid(r), per_s(r.attempted, r.duration_s)))
                    .collect(),
            ),
        ],
    )?;
    over_time(
        &dir.join(FILES[2]),
        "failures and connections in flight",
        "connections",
        vec![
            (
                "failed/s".into(),
                COLORS[3],
                rows.iter()
                    .map(|r| (mid(r), per_s(r.failed, r.duration_s)))
                    .collect(),
            ),
            (
                "in flight (end of second)".into(),
                COLORS[0],
                rows.iter().map(|r| (mid(r), r.in_flight as f64)).collect(),
            ),
        ],
    )?;
    let mut lat = Vec::new();
    for (i, p) in Phase::ALL.iter().enumerate() {
        for (q, pick) in [("p50", 0usize), ("p99", 1)] {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| {
                    let l = r.latency_us.get(p.as_str())?;
                    (l.count > 0).then(|| (mid(r), if pick == 0 { l.p50 } else { l.p99 } / 1000.0))
                })
                .collect();
            if !pts.is_empty() {
                lat.push((format!("{p} {q}"), COLORS[i], pts));
            }
        }
    }
    over_time(
        &dir.join(FILES[3]),
        "latency per second",
        "milliseconds",
        lat,
    )
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Upper end of an axis holding `max` (never an empty range).
fn top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.05
    } else {
        1.0
    }
}

/// The chart of a capacity sweep (`sweep.svg` in the sweep's `--plot DIR`): the
/// SLO phase's percentile of each step against the step's offered rate, with the
/// bound as a flat line, on a logarithmic latency axis (a failing step can be a
/// thousand times the passing ones). `points`: (offered rate, value in ms) of the
/// steps that have one; `slo`: the series' name (e.g. `connect p99`); `bound_ms`:
/// the bound.
pub fn sweep(path: &Path, slo: &str, points: Vec<(f64, f64)>, bound_ms: f64) -> Result<(), String> {
    let points: Vec<(f64, f64)> = points.into_iter().filter(|p| p.1 > 0.0).collect();
    let xmax = points.iter().map(|p| p.0).fold(0.0, f64::max);
    let ys = || points.iter().map(|p| p.1).chain([bound_ms]);
    let ymin = ys().fold(f64::INFINITY, f64::min);
    let ymax = ys().fold(0.0, f64::max);
    let (ymin, ymax) = if ymin.is_finite() && ymin > 0.0 {
        // From the power of ten below, so the axis has a label under the lowest.
        (10f64.powf(ymin.log10().floor()), ymax * 2.0)
    } else {
        (0.001, 1.0)
    };
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{slo} by offered rate"), ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..top(xmax), (ymin..ymax).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("offered rate (connections per second)")
        .y_desc("milliseconds (log scale)")
        .draw()
        .map_err(err)?;
    let series = [
        (slo.to_owned(), COLORS[0], points),
        (
            "bound".to_owned(),
            COLORS[3],
            vec![(0.0, bound_ms), (top(xmax), bound_ms)],
        ),
    ];
    let lines = series
        .into_iter()
        .map(|(name, color, pts)| (name, color.stroke_width(2), pts));
    draw_lines(&mut chart, lines, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(err)
}

/// Draw each `(name, style, points)` as a line, and the legend naming them at
/// `legend`.
fn draw_lines<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    lines: impl IntoIterator<Item = (String, ShapeStyle, Vec<(f64, f64)>)>,
    legend: SeriesLabelPosition,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate<From = (f64, f64)>,
{
    for (name, style, pts) in lines {
        chart
            .draw_series(LineSeries::new(pts, style))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

fn over_time(path: &Path, title: &str, y: &str, series: Vec<Series>) -> Result<(), String> {
    let xmax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..top(xmax), 0.0..top(ymax))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds from the start")
        .y_desc(y)
        .draw()
        .map_err(err)?;
    let dashed = |name: &str| name.ends_with("p50");
    let lines = series.into_iter().map(|(name, color, pts)| {
        let style = if dashed(&name) {
            color.mix(0.6).stroke_width(1)
        } else {
            color.stroke_width(2)
        };
        (name, style, pts)
    });
    draw_lines(&mut chart, lines, SeriesLabelPosition::MiddleRight)?;
    root.present().map_err(err)
}

/// `q` as the spectrum's x: log10(1 / (1 - q)) (0 at 0 %, 1 at 90 %, 2 at 99 %).
fn spectrum_x(q: f64) -> f64 {
    (1.0 / (1.0 - q).max(1e-9)).log10()
}

fn spectrum(report: &Report, path: &Path) -> Result<(), String> {
    let mut series: Vec<Series> = Vec::new();
    for (i, p) in Phase::ALL.iter().enumerate() {
        let h = report.recorder.histogram(*p);
        if h.is_empty() {
            continue;
        }
        let pts: Vec<(f64, f64)> = h
            .iter_quantiles(5)
            .filter(|v| v.quantile_iterated_to() < 1.0)
            .map(|v| {
                (
                    spectrum_x(v.quantile_iterated_to()),
                    h.highest_equivalent(v.value_iterated_to()) as f64 / 1e6,
                )
            })
            .collect();
        series.push((p.as_str().to_owned(), COLORS[i], pts));
    }
    let xmax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
        .fold(1.0, f64::max)
        .ceil();
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("latency by percentile", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..xmax, 0.0..top(ymax))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(xmax as usize + 1)
        .x_label_formatter(&|x| {
            let q = 100.0 * (1.0 - 10f64.powf(-x));
            let digits = (x.round() as usize).saturating_sub(2);
            format!("{q:.digits$}%")
        })
        .x_desc("percentile")
        .y_desc("milliseconds")
        .draw()
        .map_err(err)?;
    let lines = series
        .into_iter()
        .map(|(name, color, pts)| (name, color.stroke_width(2), pts));
    draw_lines(&mut chart, lines, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(err)
}
