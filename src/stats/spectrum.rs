//! The detailed percentile spectrum of a histogram, in the layout of HdrHistogram's
//! `outputPercentileDistribution` (and wrk2's `--latency`): value, percentile,
//! total count, 1/(1-percentile), then mean, standard deviation, max and count.
//! Values are milliseconds; the steps halve the distance to 100 % five ticks at a
//! time, as HdrHistogram's default.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::{Phase, Recorder};

/// Ticks per half distance to 100 % (HdrHistogram's default).
const TICKS: u32 = 5;

/// The spectrum of `h` (nanoseconds), values in milliseconds.
pub fn spectrum(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    let ms = |ns: f64| ns / 1e6;
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if h.is_empty() {
        let _ = writeln!(out, "(no samples)");
        return out;
    }
    let mut total = 0u64;
    for v in h.iter_quantiles(TICKS) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = ms(h.highest_equivalent(v.value_iterated_to()) as f64);
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{value:>12.3} {q:>14.12} {total:>10} {:>14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:>12.3} {q:>14.12} {total:>10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        ms(h.mean()),
        ms(h.stdev())
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        ms(h.max() as f64),
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values() / h.buckets().max(1) as usize
    );
    out
}

/// The spectrum of every phase of `rec`, each under a title.
pub fn all_phases(rec: &Recorder) -> String {
    let mut out = String::new();
    for p in Phase::ALL {
        let _ = writeln!(
            out,
            "\nlatency spectrum: {p} (milliseconds; HdrHistogram percentile distribution)"
        );
        out.push_str(&spectrum(&rec.histogram(p)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectrum_has_the_hdrhistogram_layout_and_ends_at_the_max() {
        let mut r = Recorder::new();
        for v in 1..=1000u64 {
            r.record(Phase::Connect, v * 1_000);
        }
        let s = spectrum(&r.histogram(Phase::Connect));
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[0].contains("Value") && lines[0].contains("1/(1-Percentile)"));
        let last = lines.iter().rev().find(|l| !l.starts_with("#[")).unwrap();
        let cols: Vec<&str> = last.split_whitespace().collect();
        assert_eq!(cols.len(), 3, "the 100% line has no 1/(1-p): {last}");
        assert_eq!(cols[2], "1000");
        assert!(cols[1].starts_with("1.0000"));
        assert!(
            s.contains("#[Max     =        1.000, Total count    =         1000]"),
            "{s}"
        );
        // Percentiles grow along the lines.
        let qs: Vec<f64> = lines[2..]
            .iter()
            .take_while(|l| !l.starts_with("#["))
            .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(qs.windows(2).all(|w| w[0] <= w[1]));
        assert!(spectrum(&Recorder::empty_histogram()).contains("no samples"));
    }
}
