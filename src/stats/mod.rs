//! Measurement: per-worker recorders, their merge, and the run report.
//!
//! Each worker owns one [`Recorder`]: four HdrHistograms (one per [`Phase`],
//! nanoseconds, 3 significant figures, 1 ns ..= 1 h, allocated once at creation)
//! and a plain [`Counters`] block. Nothing here is shared or locked on the hot
//! path; recording is an index computation and an increment. At report time the
//! workers' recorders are merged (the HdrHistogram merge is exact) and wrapped in
//! a [`Report`], which renders as JSON (a stable schema) or as text.

mod counters;
pub mod csv;
pub mod encode;
pub mod hlog;
pub mod interval;
mod kinds;
pub mod progress;
mod recorder;
mod report;
pub mod saved;
pub mod spectrum;
#[cfg(test)]
mod tests;

pub use counters::Counters;
pub use kinds::{FailCause, Phase};
pub use recorder::Recorder;
pub(crate) use report::human_nanos;
pub use report::{LatencySummary, Report};
