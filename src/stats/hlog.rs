//! `--hlog FILE`: the standard HdrHistogram interval log, one tagged interval
//! histogram per phase per period, written with the `hdrhistogram` crate's
//! interval-log writer (V2 compressed histograms, base64), so that the tools of the
//! HdrHistogram family (HistogramLogProcessor, HdrHistogram plotters, the crate's
//! own reader) read it. Values are nanoseconds; tags are the phase names
//! (`connect`, `ttfb`, `close`, `lifecycle`); timestamps are seconds from the
//! run's start, which `#[StartTime]` and `#[BaseTime]` give in Unix time.
//!
//! A sweep writes one log for all its steps ([`HlogSink::append_rows`]): each
//! histogram is tagged `step-<rate>/<phase>` and its timestamp counts from the
//! sweep's start.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use super::Phase;
use super::interval::{Interval, IntervalSink};

/// Writes an interval log to `out` (a file, usually).
pub struct HlogSink<W: Write + Send> {
    out: W,
    serializer: V2DeflateSerializer,
    started: SystemTime,
    header_written: bool,
    /// What the header's first comment says the tags are.
    tags: &'static str,
}

impl<W: Write + Send> HlogSink<W> {
    /// A log whose timestamps count from `started` (the run's start).
    pub fn new(out: W, started: SystemTime) -> Self {
        HlogSink {
            out,
            serializer: V2DeflateSerializer::new(),
            started,
            header_written: false,
            tags: "tagged by phase",
        }
    }

    /// A log of a sweep's steps, whose timestamps count from `started` (the sweep's
    /// start) and whose tags are `step-<rate>/<phase>` (see [`Self::append_rows`]).
    pub fn for_sweep(out: W, started: SystemTime) -> Self {
        HlogSink {
            tags: "tagged step-<rate>/<phase>",
            ..HlogSink::new(out, started)
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if self.header_written {
            return Ok(());
        }
        self.header_written = true;
        IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "synfin {}: one interval histogram per phase per period, values in nanoseconds, {}",
                env!("CARGO_PKG_VERSION"),
                self.tags
            ))
            .add_comment("[Histogram log format version 1.3]")
            .with_start_time(self.started)
            .with_base_time(self.started)
            .begin_log_with(&mut self.out, &mut self.serializer)?;
        writeln!(
            self.out,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        )
    }
}

impl<W: Write + Send> IntervalSink for HlogSink<W> {
    fn interval(&mut self, iv: &Interval) -> io::Result<()> {
        self.header()?;
        // A builder without headers writes nothing: it only lends the writer.
        let mut log =
            IntervalLogWriterBuilder::new().begin_log_with(&mut self.out, &mut self.serializer)?;
        for p in Phase::ALL {
            log.write_histogram(
                &iv.histograms[p.index()],
                iv.start,
                iv.duration,
                Tag::new(p.as_str()),
            )
            .map_err(|e| io::Error::other(e.to_string()))?;
        }
        // Whole intervals only, even if the run is killed.
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.header()?;
        self.out.flush()
    }
}

impl<W: Write + Send> HlogSink<W> {
    /// Writes saved periods (the header first, if not yet written): for each row,
    /// one histogram per phase (an empty one where the row has none), its start
    /// `offset` later than the row's, tagged `<step>/<phase>` when `step` is given
    /// and `<phase>` otherwise. Flushes at the end.
    pub fn append_rows(
        &mut self,
        rows: &[super::interval::IntervalRow],
        offset: Duration,
        step: Option<&str>,
    ) -> io::Result<()> {
        self.header()?;
        let mut tag = String::new();
        for r in rows {
            let start = offset + Duration::from_secs_f64(r.t_s.max(0.0));
            let duration = Duration::from_secs_f64(r.duration_s.max(0.0));
            let mut log = IntervalLogWriterBuilder::new()
                .begin_log_with(&mut self.out, &mut self.serializer)?;
            for p in Phase::ALL {
                let h = match r.histograms.get(p.as_str()) {
                    Some(text) => super::encode::decode(text).map_err(io::Error::other)?,
                    None => super::Recorder::empty_histogram(),
                };
                tag.clear();
                if let Some(step) = step {
                    tag.push_str(step);
                    tag.push('/');
                }
                tag.push_str(p.as_str());
                let t = Tag::new(&tag).ok_or_else(|| {
                    io::Error::other(format!("'{tag}' cannot be an interval log tag"))
                })?;
                log.write_histogram(&h, start, duration, Some(t))
                    .map_err(|e| io::Error::other(e.to_string()))?;
            }
        }
        self.out.flush()
    }
}

/// Writes saved periods (e.g. merged runs') as an interval log: for each row, one
/// histogram per phase (an empty one where the row has none).
pub fn write_rows<W: Write + Send>(
    out: W,
    started: SystemTime,
    rows: &[super::interval::IntervalRow],
) -> io::Result<()> {
    HlogSink::new(out, started).append_rows(rows, Duration::ZERO, None)
}

/// One interval histogram read back from a log.
#[derive(Debug)]
pub struct HlogInterval {
    /// The histogram's tag (`None` when untagged).
    pub tag: Option<String>,
    /// Start, relative to the log's BaseTime (or Unix time when it has none).
    pub start: Duration,
    /// Length.
    pub duration: Duration,
    /// The decoded histogram.
    pub histogram: Histogram<u64>,
}

/// An interval log read back.
#[derive(Debug, Default)]
pub struct Hlog {
    /// `#[StartTime]`, Unix seconds, when present.
    pub start_time: Option<Duration>,
    /// Every interval histogram, in file order.
    pub intervals: Vec<HlogInterval>,
}

impl Hlog {
    /// The sum of the intervals tagged `tag` (untagged ones count for no phase).
    pub fn total(&self, tag: &str) -> Histogram<u64> {
        let mut h = super::Recorder::empty_histogram();
        for iv in self
            .intervals
            .iter()
            .filter(|i| i.tag.as_deref() == Some(tag))
        {
            super::encode::add_clamped(&mut h, &iv.histogram);
        }
        h
    }
}

/// Reads an interval log (any HdrHistogram implementation's, synfin's included).
pub fn read(text: &[u8]) -> Result<Hlog, String> {
    let mut log = Hlog::default();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(text) {
        match entry.map_err(|e| format!("not an HdrHistogram interval log: {e:?}"))? {
            LogEntry::StartTime(t) => log.start_time = Some(t),
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(iv) => {
                let bytes = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    iv.encoded_histogram(),
                )
                .map_err(|e| format!("an interval's histogram is not base64: {e}"))?;
                let histogram: Histogram<u64> = deserializer
                    .deserialize(&mut bytes.as_slice())
                    .map_err(|e| format!("an interval's histogram does not decode: {e:?}"))?;
                log.intervals.push(HlogInterval {
                    tag: iv.tag().map(|t| t.as_str().to_owned()),
                    start: iv.start_timestamp(),
                    duration: iv.duration(),
                    histogram,
                });
            }
        }
    }
    Ok(log)
}
